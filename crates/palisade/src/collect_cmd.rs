//! `palisade collect`: a NetFlow v5/v9 and IPFIX collector over UDP. Flows stream out as
//! NDJSON as they arrive and feed the flow-level analyzers (palisade_sensor::flowinput);
//! the devices, alerts and stats follow when the collector stops.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use palisade_collect::{Decoder, DecoderConfig, FlowRecord};
use palisade_sensor::flowinput::FlowInput;
use palisade_sensor::{AnalyzeOptions, InputReport, Warning, rfc3339};

use crate::{Format, open_output, write_report};

#[derive(clap::Args)]
pub struct CollectArgs {
    /// UDP address for NetFlow v5/v9 exporters (repeatable). Every port accepts all versions.
    #[arg(long)]
    netflow: Vec<SocketAddr>,
    /// UDP address for IPFIX exporters (repeatable).
    #[arg(long)]
    ipfix: Vec<SocketAddr>,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop once no datagram arrived for this many seconds (after the first one).
    #[arg(long)]
    idle_exit: Option<f64>,
    /// ndjson (default: flows as they arrive, then devices, alerts and stats) or json (the report at the end).
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Templates cached over all exporters (least recently used evicted beyond it).
    #[arg(long, default_value_t = 4096)]
    max_templates: usize,
    /// Socket receive buffer in bytes (exporters send bursts; the kernel drops what does not fit).
    #[arg(long, default_value_t = 8 << 20)]
    recv_buffer: usize,
    /// Run no threat detectors.
    #[arg(long)]
    no_detect: bool,
    #[command(flatten)]
    export: crate::export_cmd::OutputArgs,
    /// Serve Prometheus metrics (GET /metrics) on this TCP address: datagrams, records,
    /// templates, decode errors, alerts by kind.
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

/// At most this many decode errors are kept as warnings per listener.
const MAX_WARNINGS: usize = 100;

struct Listener {
    label: String,
    datagrams: u64,
    bytes: u64,
    warnings: Vec<Warning>,
    errors: u64,
}

fn bind(addr: SocketAddr, recv_buffer: usize) -> Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .context("creating a UDP socket")?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(recv_buffer);
    s.bind(&addr.into())
        .with_context(|| format!("binding UDP {addr}"))?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(s)
}

/// One flow as an NDJSON line (the `"type": "flow"` shape of `analyze --format ndjson`).
pub fn flow_json(f: &FlowRecord, app: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "type": "flow",
        "proto": f.proto,
        "vlan": 0,
        "src": f.src.to_string(),
        "src_port": f.src_port,
        "dst": f.dst.to_string(),
        "dst_port": f.dst_port,
        "first_seen": rfc3339(f.start_ns),
        "last_seen": rfc3339(f.end_ns),
        "packets_to_server": f.packets,
        "packets_to_client": f.rev_packets,
        "bytes_to_server": f.bytes,
        "bytes_to_client": f.rev_bytes,
        "tcp_flags": f.tcp_flags,
        "tcp_state": null,
        "end": "exported",
        "app": app,
    })
}

pub fn run(a: CollectArgs) -> Result<ExitCode> {
    if a.netflow.is_empty() && a.ipfix.is_empty() {
        bail!("nothing to listen on: give --netflow ADDR and/or --ipfix ADDR");
    }
    let format = a.format.unwrap_or(Format::Ndjson);
    if format == Format::Table {
        bail!("collect writes ndjson or json");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = sync_channel::<(usize, SocketAddr, Vec<u8>)>(4096);
    let mut listeners = Vec::new();
    let mut handles = Vec::new();
    let addrs = a
        .netflow
        .iter()
        .map(|x| (x, "netflow"))
        .chain(a.ipfix.iter().map(|x| (x, "ipfix")));
    for (i, (addr, kind)) in addrs.enumerate() {
        let sock = bind(*addr, a.recv_buffer)?;
        let local = sock.local_addr()?;
        // Tests and scripts read the bound port (useful with port 0).
        eprintln!("palisade collect: listening for {kind} on udp://{local}");
        listeners.push(Listener {
            label: format!("udp://{local} ({kind})"),
            datagrams: 0,
            bytes: 0,
            warnings: Vec::new(),
            errors: 0,
        });
        let tx = tx.clone();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while !stop.load(Ordering::Relaxed) {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if tx.send((i, from, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => {
                        tracing::warn!("udp receive: {e}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }));
    }
    drop(tx);
    let mut opts = AnalyzeOptions::default();
    opts.engine.detect.enabled = !a.no_detect;
    let mut input = FlowInput::new(&opts);
    let mut decoder = Decoder::new(DecoderConfig {
        max_templates: a.max_templates,
        ..DecoderConfig::default()
    });
    let mut out = open_output(a.output.as_deref())?;
    let mut metrics = crate::metrics::CollectHook::start(a.metrics)?;
    let result = receive_loop(
        &a,
        &rx,
        format,
        &mut decoder,
        &mut input,
        &mut listeners,
        &mut out,
        &mut metrics,
    );
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    result?;
    let inputs = listeners
        .into_iter()
        .map(|l| InputReport {
            path: l.label,
            packets: l.datagrams,
            bytes: l.bytes,
            first_ts: None,
            last_ts: None,
            warnings: l.warnings,
            usable: l.errors < l.datagrams || l.datagrams == 0,
        })
        .collect();
    let report = input.finish(inputs);
    let stats = serde_json::json!({ "type": "collector", "decoder": decoder.stats });
    eprintln!("palisade collect: {}", serde_json::to_string(&stats)?);
    if format == Format::Ndjson {
        writeln!(out, "{}", serde_json::to_string(&stats)?)?;
    }
    write_report(&mut *out, &report, format)?;
    out.flush().context("writing the output")?;
    crate::export_cmd::deliver(&a.export, &report)?;
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)] // the collector's state, passed whole
fn receive_loop(
    a: &CollectArgs,
    rx: &Receiver<(usize, SocketAddr, Vec<u8>)>,
    format: Format,
    decoder: &mut Decoder,
    input: &mut FlowInput,
    listeners: &mut [Listener],
    out: &mut Box<dyn Write + Send>,
    metrics: &mut Option<crate::metrics::CollectHook>,
) -> Result<()> {
    let started = Instant::now();
    let mut tick = |listeners: &[Listener], decoder: &Decoder, input: &FlowInput, force| {
        if let Some(m) = metrics.as_mut() {
            let figures: Vec<_> = listeners
                .iter()
                .map(|l| crate::metrics::ListenerFigures {
                    label: &l.label,
                    datagrams: l.datagrams,
                    bytes: l.bytes,
                    errors: l.errors,
                })
                .collect();
            m.tick(&figures, decoder, input, force);
        }
    };
    tick(listeners, decoder, input, true);
    let mut last_datagram: Option<Instant> = None;
    let mut batch: Vec<FlowRecord> = Vec::new();
    loop {
        if a.duration
            .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
        {
            break;
        }
        if let (Some(idle), Some(last)) = (a.idle_exit, last_datagram)
            && last.elapsed().as_secs_f64() >= idle
        {
            break;
        }
        tick(listeners, decoder, input, false);
        let (i, from, dg) = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(x) => x,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        last_datagram = Some(Instant::now());
        let l = &mut listeners[i];
        l.datagrams += 1;
        l.bytes += dg.len() as u64;
        batch.clear();
        if let Err(e) = decoder.decode(from.ip(), &dg, &mut |f| batch.push(*f)) {
            l.errors += 1;
            tracing::debug!("{from}: {e}");
            if l.warnings.len() < MAX_WARNINGS {
                l.warnings.push(Warning {
                    offset: e.offset as u64,
                    message: format!("datagram {} from {from}: {}", l.datagrams, e.message),
                });
            }
        }
        for f in &batch {
            input.flow(f);
            if format == Format::Ndjson {
                writeln!(out, "{}", serde_json::to_string(&flow_json(f, None))?)?;
            }
        }
    }
    tick(listeners, decoder, input, true);
    Ok(())
}
