//! The sensor pipeline: captures in, a device inventory and report out.
//!
//! With `threads > 1` the reading thread shards packets across workers by a symmetric
//! address hash (Suricata's "workers" model); each worker owns its flow table and partial
//! inventory, and the partial inventories merge into the same result whatever the count.
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use palisade_flow::{FlowRecord, TableCounters};
use palisade_inventory::{DeviceState, Inventory, identify};

mod anomaly;
pub mod engine;
pub mod flowinput;
pub mod live;
pub mod report;
mod risk;
pub mod rules;

pub use engine::{Engine, EngineConfig, FlowSink};
pub use report::{Alert, DeviceReport, FlowEvent, InputReport, Report, Summary, Warning, rfc3339};

#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub threads: usize,
    pub engine: EngineConfig,
    /// The NVD index for CVE matching (`palisade kb import nvd`); `None`: no CVE findings.
    pub vulns: Option<Arc<palisade_risk::VulnIndex>>,
    /// A KEV catalog newer than the embedded one (`palisade kb import kev`).
    pub kev: Option<Arc<palisade_kb::KevCatalog>>,
    /// Signature rules (`analyze --rules DIR`); `None`: no rule matching at all.
    pub rules: Option<Arc<palisade_rules::RuleSet>>,
    /// A trained behavioural anomaly model (`analyze --anomaly MODEL`); `None` (the default):
    /// the anomaly stage does not exist and costs nothing per packet.
    pub anomaly: Option<Arc<palisade_anomaly::Model>>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            threads: 1,
            engine: EngineConfig::default(),
            vulns: None,
            kev: None,
            rules: None,
            anomaly: None,
        }
    }
}

/// A flow sink that drops everything (JSON/table output only count flows).
pub struct NullSink;

impl FlowSink for NullSink {
    fn flow(&mut self, _: &FlowRecord, _: Option<&'static str>) {}
}

/// Shares one sink between workers.
struct SharedSink(Arc<Mutex<Box<dyn FlowSink>>>);

impl FlowSink for SharedSink {
    fn flow(&mut self, r: &FlowRecord, app: Option<&'static str>) {
        if let Ok(mut s) = self.0.lock() {
            s.flow(r, app);
        }
    }
}

/// Progress callback: bytes read so far over all inputs (decompressed for gzip input).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// What an analysis produced.
pub struct Outcome {
    pub report: Report,
    /// Inputs of which nothing could be read.
    pub unusable_inputs: usize,
}

struct Batch {
    buf: Vec<u8>,
    /// (ts, link type, start, len, wire length, input position)
    pkts: Vec<(i64, u32, u32, u32, u32, u64)>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            buf: Vec::with_capacity(BATCH_PACKETS * 256),
            pkts: Vec::with_capacity(BATCH_PACKETS),
        }
    }
}

const BATCH_PACKETS: usize = 512;

enum Workers {
    Inline(Box<Engine>, Box<dyn FlowSink>, Option<Box<anomaly::Stage>>),
    Pool {
        senders: Vec<SyncSender<Batch>>,
        pending: Vec<Batch>,
        handles: Vec<std::thread::JoinHandle<Engine>>,
        /// Host-level detectors see every packet in order on the reading thread.
        host: Option<Box<palisade_detect::HostDetector>>,
        anomaly: Option<Box<anomaly::Stage>>,
        /// Packets read so far (each packet's input position, for in-order rule thresholds).
        read: u64,
    },
}

/// What the detectors found, before the final merge.
struct DetectOutput {
    parts: Vec<palisade_detect::Aggregator>,
    dns: Option<palisade_detect::DnsMemo>,
    /// Signature-rule events of all workers (thresholds not yet applied).
    rule_events: Vec<palisade_rules::RuleEvent>,
}

impl DetectOutput {
    fn take(e: &mut Engine, out: &mut DetectOutput) {
        if let Some(d) = e.detector.take() {
            let (agg, dns) = d.into_parts();
            out.parts.push(agg);
            match out.dns.as_mut() {
                Some(m) => m.merge(dns),
                None => out.dns = Some(dns),
            }
        }
        if let Some(h) = e.host.take() {
            out.parts.push(h.finish());
        }
        if let Some(r) = e.rules.take() {
            out.rule_events.extend(r.events);
        }
    }
}

/// The anomaly stage, only when a model was given.
fn anomaly_stage(opts: &AnalyzeOptions) -> Option<Box<anomaly::Stage>> {
    let m = opts.anomaly.as_ref()?;
    Some(Box::new(anomaly::Stage::new(m, &opts.engine.detect)))
}

impl Workers {
    fn new(opts: &AnalyzeOptions, sink: Box<dyn FlowSink>) -> Self {
        if opts.threads <= 1 {
            let mut e = Engine::with_host_detector(opts.engine);
            e.rules = opts.rules.clone().map(palisade_rules::RuleEngine::new);
            return Workers::Inline(Box::new(e), sink, anomaly_stage(opts));
        }
        let n = opts.threads;
        let shared = Arc::new(Mutex::new(sink));
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        let mut cfg = opts.engine;
        // The caps are global: each worker gets its share.
        cfg.flow.max_flows = (cfg.flow.max_flows / n).max(1);
        for _ in 0..n {
            let (tx, rx): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(4);
            let mut sink = SharedSink(shared.clone());
            let rules = opts.rules.clone();
            let h = std::thread::spawn(move || {
                let mut e = Engine::new(cfg);
                e.rules = rules.map(palisade_rules::RuleEngine::new);
                while let Ok(b) = rx.recv() {
                    for &(ts, lt, s, l, w, ordinal) in &b.pkts {
                        let s = s as usize;
                        let frame = b.buf.get(s..s + l as usize).unwrap_or(&[]);
                        e.ordinal = ordinal;
                        e.process(ts, lt, frame, w, &mut sink);
                    }
                }
                e.finish(&mut sink);
                e
            });
            senders.push(tx);
            handles.push(h);
        }
        Workers::Pool {
            pending: (0..n).map(|_| Batch::new()).collect(),
            senders,
            handles,
            host: opts
                .engine
                .detect
                .enabled
                .then(|| Box::new(palisade_detect::HostDetector::new(opts.engine.detect))),
            anomaly: anomaly_stage(opts),
            read: 0,
        }
    }

    fn push(&mut self, ts: i64, lt: u32, frame: &[u8], wire: u32) {
        match self {
            Workers::Inline(e, sink, anomaly) => {
                if let Some(a) = anomaly.as_mut() {
                    a.packet(ts, &palisade_packet::decode(lt, frame), wire);
                }
                e.ordinal += 1;
                e.process(ts, lt, frame, wire, sink.as_mut())
            }
            Workers::Pool {
                senders,
                pending,
                host,
                anomaly,
                read,
                ..
            } => {
                *read += 1;
                let d = palisade_packet::decode(lt, frame);
                if let Some(h) = host.as_mut() {
                    h.packet(ts, &d, wire);
                }
                if let Some(a) = anomaly.as_mut() {
                    a.packet(ts, &d, wire);
                }
                let w = (palisade_packet::shard_hash(&d) % senders.len() as u64) as usize;
                let b = &mut pending[w];
                let start = b.buf.len() as u32;
                b.buf.extend_from_slice(frame);
                b.pkts
                    .push((ts, lt, start, frame.len() as u32, wire, *read));
                if b.pkts.len() >= BATCH_PACKETS {
                    let full = std::mem::replace(b, Batch::new());
                    let _ = senders[w].send(full);
                }
            }
        }
    }

    /// Finishes all workers and merges their state.
    fn finish(
        self,
    ) -> (
        Inventory,
        TableCounters,
        engine::EngineCounters,
        u64,
        DetectOutput,
    ) {
        let mut det = DetectOutput {
            parts: Vec::new(),
            dns: None,
            rule_events: Vec::new(),
        };
        match self {
            Workers::Inline(mut e, mut sink, anomaly) => {
                if let Some(a) = anomaly {
                    det.parts.push(a.finish());
                }
                e.finish(sink.as_mut());
                let reasm = e.reassembler.stats.reassembled;
                DetectOutput::take(&mut e, &mut det);
                (e.inventory, e.flows.counters, e.counters, reasm, det)
            }
            Workers::Pool {
                senders,
                pending,
                handles,
                host,
                anomaly,
                ..
            } => {
                if let Some(h) = host {
                    det.parts.push(h.finish());
                }
                if let Some(a) = anomaly {
                    det.parts.push(a.finish());
                }
                for (tx, b) in senders.iter().zip(pending) {
                    if !b.pkts.is_empty() {
                        let _ = tx.send(b);
                    }
                }
                drop(senders);
                let mut inv: Option<Inventory> = None;
                let mut fc = TableCounters::default();
                let mut ec = engine::EngineCounters::default();
                let mut reasm = 0;
                for h in handles {
                    // A worker panic is a bug; degrade to what the others found.
                    let Ok(mut e) = h.join() else { continue };
                    DetectOutput::take(&mut e, &mut det);
                    fc.created += e.flows.counters.created;
                    fc.evicted += e.flows.counters.evicted;
                    fc.idle_expired += e.flows.counters.idle_expired;
                    fc.closed += e.flows.counters.closed;
                    fc.active_cut += e.flows.counters.active_cut;
                    fc.peak += e.flows.counters.peak;
                    ec.packets += e.counters.packets;
                    ec.bytes += e.counters.bytes;
                    ec.malformed += e.counters.malformed;
                    ec.first_ts = min_opt(ec.first_ts, e.counters.first_ts);
                    ec.last_ts = max_opt(ec.last_ts, e.counters.last_ts);
                    reasm += e.reassembler.stats.reassembled;
                    match inv.as_mut() {
                        Some(i) => i.merge(e.inventory),
                        None => inv = Some(e.inventory),
                    }
                }
                (
                    inv.unwrap_or_else(|| Inventory::new(16)),
                    fc,
                    ec,
                    reasm,
                    det,
                )
            }
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Analyses captures in order and builds the report. Read errors never abort the run:
/// they become warnings on the input (with the byte offset), and everything read before
/// the error is kept.
pub fn analyze(
    inputs: &[PathBuf],
    opts: &AnalyzeOptions,
    sink: Box<dyn FlowSink>,
    progress: Option<Progress<'_>>,
) -> Outcome {
    let started = Instant::now();
    let mut workers = Workers::new(opts, sink);
    let mut input_reports = Vec::new();
    let mut unusable = 0;
    let mut done_bytes = 0u64;
    for path in inputs {
        let r = read_one(path, &mut workers, progress, done_bytes);
        done_bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if !r.usable {
            unusable += 1;
        }
        input_reports.push(r);
    }
    let (inventory, flow_counters, counters, reassembled, mut det) = workers.finish();
    if let Some(set) = &opts.rules {
        let events = palisade_rules::apply_thresholds(set, std::mem::take(&mut det.rule_events));
        let cfg = &opts.engine.detect;
        let mut agg = palisade_detect::Aggregator::new(cfg.max_alerts, cfg.evidence_list_max);
        rules::findings(set, &events, &mut agg);
        det.parts.push(agg);
    }
    let alerts =
        palisade_detect::finalize(&opts.engine.detect, det.parts, det.dns.as_ref(), rfc3339);
    let devices_evicted = inventory.evicted;
    let devices = build_devices(inventory.into_devices(), &alerts, opts);
    let elapsed = started.elapsed().as_secs_f64();
    let duration = match (counters.first_ts, counters.last_ts) {
        (Some(f), Some(l)) => (l - f) as f64 / 1e9,
        _ => 0.0,
    };
    let summary = Summary {
        packets: counters.packets,
        bytes: counters.bytes,
        flows: flow_counters.created,
        devices: devices.len() as u64,
        alerts: alerts.len() as u64,
        capture_duration_s: (duration * 1e6).round() / 1e6,
        elapsed_s: (elapsed * 1e6).round() / 1e6,
        flows_evicted: flow_counters.evicted,
        devices_evicted,
        malformed_packets: counters.malformed,
        fragments_reassembled: reassembled,
    };
    Outcome {
        report: Report {
            palisade_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs: input_reports,
            summary,
            devices,
            alerts,
        },
        unusable_inputs: unusable,
    }
}

/// Runs the pipeline and returns the raw per-device state (before identification), for
/// training and evaluating the identification model. Inputs that cannot be read are skipped.
pub fn device_states(inputs: &[PathBuf], opts: &AnalyzeOptions) -> Vec<DeviceState> {
    let mut workers = Workers::new(opts, Box::new(NullSink));
    for path in inputs {
        read_one(path, &mut workers, None, 0);
    }
    let finished = workers.finish();
    finished.0.into_devices()
}

/// Runs the pipeline with `opts.rules` and returns the signature events after thresholds,
/// in packet-time order (the agreement test with Suricata compares these per flow).
pub fn rule_events(inputs: &[PathBuf], opts: &AnalyzeOptions) -> Vec<palisade_rules::RuleEvent> {
    let mut workers = Workers::new(opts, Box::new(NullSink));
    for path in inputs {
        read_one(path, &mut workers, None, 0);
    }
    let det = workers.finish().4;
    match &opts.rules {
        Some(set) => palisade_rules::apply_thresholds(set, det.rule_events),
        None => Vec::new(),
    }
}

fn read_one(
    path: &Path,
    workers: &mut Workers,
    progress: Option<Progress<'_>>,
    done_before: u64,
) -> InputReport {
    let mut rep = InputReport {
        path: path.display().to_string(),
        packets: 0,
        bytes: 0,
        first_ts: None,
        last_ts: None,
        warnings: Vec::new(),
        usable: false,
    };
    let mut reader = match palisade_capture::open(path) {
        Ok(r) => r,
        Err(e) => {
            rep.warnings.push(Warning {
                offset: e.offset(),
                message: e.to_string(),
            });
            return rep;
        }
    };
    rep.usable = true;
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut n: u64 = 0;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                n += 1;
                rep.bytes += p.orig_len as u64;
                first = first.min(p.ts_ns);
                last = last.max(p.ts_ns);
                let (ts, lt, wire) = (p.ts_ns, p.link_type.0, p.orig_len);
                workers.push(ts, lt, p.data, wire);
                if n.is_multiple_of(65_536)
                    && let Some(cb) = progress
                {
                    cb(done_before + reader.offset());
                }
            }
            Ok(None) => break,
            Err(e) => {
                rep.warnings.push(Warning {
                    offset: e.offset(),
                    message: format!(
                        "{e}; {n} packets before it were analysed, the rest of the file was skipped"
                    ),
                });
                if n == 0 {
                    rep.usable = false;
                }
                break;
            }
        }
    }
    if reader.skipped_blocks > 0 {
        rep.warnings.push(Warning {
            offset: 0,
            message: format!(
                "{} pcapng blocks of unknown or unused types were skipped",
                reader.skipped_blocks
            ),
        });
    }
    if let Some(cb) = progress {
        cb(done_before + reader.offset());
    }
    rep.packets = n;
    if n > 0 {
        rep.first_ts = Some(rfc3339(first));
        rep.last_ts = Some(rfc3339(last));
    }
    rep
}

fn build_devices(
    states: Vec<DeviceState>,
    alerts: &[Alert],
    opts: &AnalyzeOptions,
) -> Vec<DeviceReport> {
    let mut out: Vec<(u32, Option<IpAddr>, DeviceReport)> = states
        .into_iter()
        .map(|d| {
            let id = identify(&d);
            let ips = d.reported_ips();
            let first_ip = ips.first().copied();
            let mut services: Vec<String> =
                d.services.iter().map(|(p, n)| format!("{p}/{n}")).collect();
            services.sort_by_key(|s| {
                let (p, n) = s.split_once('/').unwrap_or((s, "0"));
                (p.to_string(), n.parse::<u32>().unwrap_or(0))
            });
            let mac = palisade_inventory::format_mac(&d.mac);
            let assessment = risk::assess(&d, &id, &mac, alerts, opts);
            let risk = report::Risk {
                score: assessment.score,
                reasons: assessment.reasons,
            };
            let rep = DeviceReport {
                mac: palisade_inventory::format_mac(&d.mac),
                ips: ips.iter().map(|i| i.to_string()).collect(),
                vendor: id.vendor,
                hostnames: d.hostnames.iter().cloned().collect(),
                category: id.category,
                model: id.model,
                os: id.os,
                confidence: id.confidence,
                evidence: id
                    .evidence
                    .into_iter()
                    .map(|e| report::Evidence {
                        source: e.source,
                        detail: e.detail,
                        weight: e.weight,
                    })
                    .collect(),
                services,
                protocols: d.protocols.iter().map(|s| s.to_string()).collect(),
                risk: risk.clone(),
                cpes: assessment.cpes,
                vulnerabilities: assessment.vulnerabilities,
                checklist: assessment.checklist,
                first_seen: rfc3339(d.first_seen),
                last_seen: rfc3339(d.last_seen),
                packets: d.packets,
                bytes: d.bytes,
                mac_randomized: id.mac_randomized,
            };
            (risk.score, first_ip, rep)
        })
        .collect();
    // Riskiest first, then by address (devices without an IP last), then MAC.
    out.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| match (a.1, b.1) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.2.mac.cmp(&b.2.mac))
    });
    out.into_iter().map(|(_, _, d)| d).collect()
}

#[cfg(test)]
mod detect_tests;
#[cfg(test)]
mod tests;
