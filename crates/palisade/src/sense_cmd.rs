//! `palisade sense --interface IF`: live capture into the sensor pipeline, NDJSON events as they
//! happen (same schema as `analyze --format ndjson`), optional hub push, and the responder
//! (`--respond`): high-severity alerts put their device into the nftables quarantine zone.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use palisade_hub::client::{self, Trust};
use palisade_policy::respond::{Responder, ResponsePolicy, Target};
use palisade_sensor::live::{CaptureOptions, LiveCapture, LiveSensor, parse_bpf, wall_clock_ns};
use palisade_sensor::{Alert, AnalyzeOptions, FlowEvent, FlowSink, InputReport, rfc3339};

#[derive(clap::Args)]
pub struct SenseArgs {
    /// Interface to capture on (in the current network namespace; needs CAP_NET_RAW).
    #[arg(short, long)]
    interface: String,
    /// Classic BPF program in `tcpdump -ddd EXPR` form (or @FILE holding it); packets it
    /// rejects never leave the kernel.
    #[arg(long)]
    bpf: Option<String>,
    /// NDJSON events go here (default stdout).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long)]
    count: Option<u64>,
    /// How often (ms) the detectors are consulted for new alerts while packets arrive.
    #[arg(long, default_value_t = 50)]
    alert_interval_ms: u64,
    /// How often (s) a `stats` event (capture counters, kernel drops) is written.
    #[arg(long, default_value_t = 10.0)]
    stats_interval: f64,
    /// Kernel receive buffer in MiB.
    #[arg(long, default_value_t = 64)]
    buffer_mib: usize,
    /// Signature rules (Suricata syntax): a directory of *.rules files or one file.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Do not write flow events (only alerts, responses, stats and the final devices).
    #[arg(long)]
    no_flows: bool,
    /// Quarantine the device of an alert that triggers (see --respond-severity/--respond-kind)
    /// in the nftables quarantine zone (loaded at start; needs CAP_NET_ADMIN and `nft`).
    #[arg(long)]
    respond: bool,
    /// Alerts at or above this severity trigger (victim-side kinds such as ddos.target only
    /// when named with --respond-kind). "none": kinds only.
    #[arg(long, default_value = "high")]
    respond_severity: String,
    /// Alert kinds that always trigger (repeatable), e.g. botnet.mirai.scan.
    #[arg(long = "respond-kind")]
    respond_kind: Vec<String>,
    /// Addresses that stay reachable from quarantine (the hub); never quarantined themselves.
    #[arg(long = "hub-ip")]
    hub_ip: Vec<IpAddr>,
    /// Quarantine auto-expiry in seconds (0: until released with `palisade mud release`).
    #[arg(long, default_value_t = 3600)]
    quarantine_ttl: u64,
    /// The nft program.
    #[arg(long, default_value = "nft")]
    nft: PathBuf,
    /// Also push alert and device events to this hub (e.g. https://127.0.0.1:8443).
    #[arg(long)]
    hub: Option<String>,
    /// Hub API token (role analyst or admin).
    #[arg(long, env = "PALISADE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Trust exactly this hub certificate (PEM).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Accept any hub certificate (encrypted but unauthenticated).
    #[arg(long)]
    insecure: bool,
}

type Out = Arc<Mutex<BufWriter<Box<dyn Write + Send>>>>;

/// Flow events as flows end.
struct NdjsonFlows(Out);

impl FlowSink for NdjsonFlows {
    fn flow(&mut self, r: &palisade_flow::FlowRecord, app: Option<&'static str>) {
        let ev = FlowEvent::from_record(r, app);
        if let (Ok(line), Ok(mut w)) = (serde_json::to_string(&ev), self.0.lock()) {
            let _ = writeln!(w, "{line}");
        }
    }
}

fn write_line(out: &Out, v: &serde_json::Value) -> Result<()> {
    let mut w = out
        .lock()
        .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
    writeln!(w, "{v}").context("writing events")?;
    Ok(())
}

fn flush(out: &Out) -> Result<()> {
    let mut w = out
        .lock()
        .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
    w.flush().context("writing events")
}

fn tagged(mut v: serde_json::Value, kind: &str) -> Result<serde_json::Value> {
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), kind.into());
    }
    Ok(v)
}

/// CPU time of the calling thread in seconds (Linux schedstat), for the capacity figure.
fn thread_cpu_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Parses the sensor's RFC 3339 form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) back to ns.
fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = s.get(19..)?.trim_end_matches('Z');
    let ns = match frac.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 => {
            f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32)
        }
        _ => 0,
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000 + ns)
}

/// Pushes event lines to the hub from a background thread (the capture never waits on it).
fn start_push(args: &SenseArgs) -> Result<Option<(Sender<String>, std::thread::JoinHandle<()>)>> {
    let Some(hub) = &args.hub else {
        return Ok(None);
    };
    let Some(token) = args.token.clone() else {
        bail!("--hub needs --token (or PALISADE_TOKEN)");
    };
    let trust = match (&args.cacert, args.insecure) {
        (Some(p), _) => client::pinned_from_pem(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .map_err(anyhow::Error::msg)?,
        (None, true) => Trust::Any,
        (None, false) if hub.starts_with("https://") => {
            bail!("an https hub needs --cacert FILE (its tls-cert.pem) or --insecure")
        }
        (None, false) => Trust::Any,
    };
    let url = format!("{}/api/v1/ingest", hub.trim_end_matches('/'));
    let (tx, rx): (Sender<String>, Receiver<String>) = channel();
    let h = std::thread::spawn(move || {
        let auth = format!("Bearer {token}");
        let mut open = true;
        while open {
            let mut batch = Vec::new();
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(l) => batch.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
            while let Ok(l) = rx.try_recv() {
                batch.push(l);
            }
            if batch.is_empty() {
                continue;
            }
            let body = batch.join("\n");
            let headers = [
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/x-ndjson"),
            ];
            match client::request("POST", &url, &headers, body.as_bytes(), &trust) {
                Ok(r) if r.status == 200 => {}
                Ok(r) => eprintln!("palisade: hub answered {}: {}", r.status, r.text().trim()),
                Err(e) => eprintln!("palisade: pushing to the hub: {e}"),
            }
        }
    });
    Ok(Some((tx, h)))
}

/// SIGINT/SIGTERM set the flag (a small runtime on its own thread waits for them).
fn stop_on_signal(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        stop.store(true, Ordering::SeqCst);
    });
}

struct Respond {
    responder: Responder,
    policy: ResponsePolicy,
    /// Devices already quarantined (MAC or IP text), so an alert updated later does not
    /// re-run nft.
    done: std::collections::HashSet<String>,
}

impl Respond {
    fn target(&self, a: &Alert) -> Option<Target> {
        let mac = a
            .device
            .as_deref()
            .and_then(|m| palisade_policy::parse_mac(m).ok());
        let ips: Vec<IpAddr> = a
            .src
            .as_deref()
            .and_then(|s| s.parse().ok())
            .filter(|ip| !self.responder.hub_ips.contains(ip))
            .into_iter()
            .collect();
        let t = Target { mac, ips };
        (t.mac.is_some() || !t.ips.is_empty()).then_some(t)
    }

    /// Quarantines the alert's device if the policy says so; returns the response event.
    fn handle(&mut self, a: &Alert) -> Option<serde_json::Value> {
        if !self.policy.triggers(&a.kind, &a.severity) {
            return None;
        }
        let t = self.target(a)?;
        let key = format!("{:?}", (t.mac, &t.ips));
        if !self.done.insert(key) {
            return None;
        }
        let detected_ns = wall_clock_ns();
        let result = self.responder.quarantine(&t);
        let enforced_ns = wall_clock_ns();
        let first_ns = parse_rfc3339_ns(&a.first_seen);
        let ms = |from: Option<i64>, to: i64| {
            from.map(|f| ((to - f) as f64 / 1e6 * 1000.0).round() / 1000.0)
        };
        let mut ev = serde_json::json!({
            "type": "response",
            "action": "quarantine",
            "alert_id": a.id,
            "kind": a.kind,
            "severity": a.severity,
            "device": t.mac.map(|m| palisade_policy::fmt_mac(&m)),
            "ips": t.ips.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "first_attack_packet": a.first_seen,
            "detected_at": rfc3339(detected_ns),
            "enforced_at": rfc3339(enforced_ns),
            "detect_latency_ms": ms(first_ns, detected_ns),
            "enforce_latency_ms": ms(first_ns, enforced_ns),
            "nft_ms": ms(Some(detected_ns), enforced_ns),
            "ttl_s": self.responder.ttl.map(|d| d.as_secs()),
        });
        if let Err(e) = result {
            tracing::error!("quarantine failed: {e}");
            ev["error"] = e.to_string().into();
        } else {
            tracing::warn!(
                "quarantined {:?} {:?} for {} ({})",
                t.mac.map(|m| palisade_policy::fmt_mac(&m)),
                t.ips,
                a.kind,
                a.id
            );
        }
        Some(ev)
    }
}

pub fn run(args: SenseArgs) -> Result<ExitCode> {
    let bpf = match &args.bpf {
        None => None,
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {p}"))?,
                None => text.clone(),
            };
            Some(parse_bpf(&text)?)
        }
    };
    let copts = CaptureOptions {
        rcvbuf: args.buffer_mib.max(1) << 20,
        poll: Duration::from_millis(args.alert_interval_ms.clamp(1, 1000)),
        bpf,
    };
    let mut respond = if args.respond {
        let min = (args.respond_severity != "none").then_some(args.respond_severity.as_str());
        let policy = ResponsePolicy::new(min, args.respond_kind.clone())?;
        let ttl = (args.quarantine_ttl > 0).then(|| Duration::from_secs(args.quarantine_ttl));
        let mut responder = Responder::new(args.hub_ip.clone(), ttl);
        responder.nft = args.nft.clone();
        responder
            .install()
            .context("loading the quarantine zone (--respond)")?;
        Some(Respond {
            responder,
            policy,
            done: Default::default(),
        })
    } else {
        None
    };
    let mut cap = LiveCapture::open(&args.interface, &copts)?;
    let writer: Box<dyn Write + Send> = match &args.output {
        Some(p) => Box::new(File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => Box::new(io::stdout()),
    };
    let out: Out = Arc::new(Mutex::new(BufWriter::new(writer)));
    let mut opts = AnalyzeOptions::default();
    if let Some(dir) = &args.rules {
        opts.rules = Some(crate::rules_cmd::load(dir)?);
    }
    let sink: Box<dyn FlowSink> = if args.no_flows {
        Box::new(palisade_sensor::NullSink)
    } else {
        Box::new(NdjsonFlows(out.clone()))
    };
    let mut sensor = LiveSensor::new(&opts, sink);
    let push = start_push(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone());
    eprintln!("palisade: sensing on {}", cap.interface());
    write_line(
        &out,
        &serde_json::json!({"type": "start", "interface": cap.interface(), "at": rfc3339(wall_clock_ns()), "respond": args.respond}),
    )?;
    flush(&out)?;

    let started = Instant::now();
    let alert_every = Duration::from_millis(args.alert_interval_ms.max(1));
    let stats_every = Duration::from_secs_f64(args.stats_interval.max(0.1));
    let (mut last_alerts, mut last_stats) = (Instant::now(), Instant::now());
    let (mut first_ts, mut last_ts) = (None::<i64>, None::<i64>);
    let stats_event = |cap: &LiveCapture, final_: bool| {
        serde_json::json!({
            "type": "stats",
            "interface": cap.interface(),
            "final": final_,
            "at": rfc3339(wall_clock_ns()),
            "elapsed_s": (started.elapsed().as_secs_f64() * 1e3).round() / 1e3,
            "capture": cap.stats,
        })
    };
    let emit_alerts = |sensor: &mut LiveSensor,
                       respond: &mut Option<Respond>,
                       push: &Option<(Sender<String>, std::thread::JoinHandle<()>)>|
     -> Result<()> {
        let alerts = sensor.new_alerts();
        for a in &alerts {
            let v = tagged(serde_json::to_value(a)?, "alert")?;
            write_line(&out, &v)?;
            if let Some((tx, _)) = push {
                let _ = tx.send(v.to_string());
            }
            if let Some(r) = respond.as_mut()
                && let Some(ev) = r.handle(a)
            {
                write_line(&out, &ev)?;
            }
        }
        if !alerts.is_empty() {
            flush(&out)?;
        }
        Ok(())
    };
    loop {
        if stop.load(Ordering::SeqCst)
            || args
                .duration
                .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
            || args.count.is_some_and(|c| cap.stats.packets >= c)
        {
            break;
        }
        if let Some(p) = cap.next_packet()? {
            first_ts.get_or_insert(p.ts_ns);
            last_ts = Some(p.ts_ns);
            sensor.push(p.ts_ns, p.link_type, p.data, p.wire_len);
        }
        if last_alerts.elapsed() >= alert_every {
            last_alerts = Instant::now();
            emit_alerts(&mut sensor, &mut respond, &push)?;
            flush(&out)?;
        }
        if last_stats.elapsed() >= stats_every {
            last_stats = Instant::now();
            write_line(&out, &stats_event(&cap, false))?;
            flush(&out)?;
        }
    }
    emit_alerts(&mut sensor, &mut respond, &push)?;
    let input = InputReport {
        path: format!("live:{}", cap.interface()),
        packets: cap.stats.packets,
        bytes: cap.stats.bytes,
        first_ts: first_ts.map(rfc3339),
        last_ts: last_ts.map(rfc3339),
        warnings: Vec::new(),
        usable: true,
    };
    let report = sensor.finish(input);
    for d in &report.devices {
        let v = tagged(serde_json::to_value(d)?, "device")?;
        write_line(&out, &v)?;
        if let Some((tx, _)) = &push {
            let _ = tx.send(v.to_string());
        }
    }
    let mut stats = stats_event(&cap, true);
    // The capture thread's CPU time: packets / cpu_s is what one core sustains.
    if let Some(cpu) = thread_cpu_s() {
        stats["cpu_s"] = ((cpu * 1e6).round() / 1e6).into();
    }
    stats["palisade_version"] = report.palisade_version.clone().into();
    stats["inputs"] = serde_json::to_value(&report.inputs)?;
    stats["summary"] = serde_json::to_value(&report.summary)?;
    write_line(&out, &stats)?;
    flush(&out)?;
    if let Some((tx, h)) = push {
        drop(tx);
        let _ = h.join();
    }
    if cap.stats.kernel_drops > 0 {
        eprintln!(
            "palisade: the kernel dropped {} packets (receive buffer full; raise --buffer-mib)",
            cap.stats.kernel_drops
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ns;

    #[test]
    fn rfc3339_round_trips_the_sensor_format() {
        for ns in [0i64, 1_700_000_000_123_456_000, 951_782_400_000_001_000] {
            assert_eq!(parse_rfc3339_ns(&palisade_sensor::rfc3339(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
    }
}
