//! Prometheus metrics outside the hub: `sense --metrics ADDR` and `collect --metrics ADDR`
//! serve `GET /metrics` in the text exposition format 0.0.4 from a small std-only HTTP
//! listener thread. Values are set by the owning loop (cumulative counters, gauges);
//! Prometheus derives the per-second rates (`rate(palisade_sensor_packets_total[1m])`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MetricType {
    Counter,
    Gauge,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        }
    }
}

struct Family {
    help: String,
    kind: MetricType,
    /// Rendered label set (`{kind="scan.horizontal"}` or empty) -> value.
    samples: BTreeMap<String, f64>,
}

/// The metric registry; cheap to share (`Arc`).
#[derive(Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<String, Family>>,
}

/// Whether `name` is a valid metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`; no colon
/// in label names).
fn valid_name(name: &str, label: bool) -> bool {
    let mut chars = name.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (!label && c == ':');
    chars.next().is_some_and(ok_first)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (!label && c == ':'))
}

/// Label values escape backslash, double quote and line feed.
fn escape_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// Sets one sample. Invalid names are ignored (and logged) rather than served broken.
    pub fn set(&self, name: &str, kind: MetricType, help: &str, labels: &[(&str, &str)], v: f64) {
        if !valid_name(name, false) || labels.iter().any(|(k, _)| !valid_name(k, true)) {
            tracing::warn!("metric {name} not exposed: invalid name");
            return;
        }
        let rendered = if labels.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_value(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        };
        let Ok(mut f) = self.families.lock() else {
            return;
        };
        let fam = f.entry(name.to_string()).or_insert_with(|| Family {
            help: help.replace('\\', "\\\\").replace('\n', "\\n"),
            kind,
            samples: BTreeMap::new(),
        });
        fam.samples.insert(rendered, v);
    }

    /// Replaces every sample of a labelled family (e.g. alert counts by kind).
    pub fn set_all(
        &self,
        name: &str,
        kind: MetricType,
        help: &str,
        label: &str,
        values: &BTreeMap<String, f64>,
    ) {
        if let Ok(mut f) = self.families.lock()
            && let Some(fam) = f.get_mut(name)
        {
            fam.samples.clear();
        }
        for (k, v) in values {
            self.set(name, kind, help, &[(label, k)], *v);
        }
        // Keep HELP/TYPE visible even with no sample yet.
        if values.is_empty()
            && let Ok(mut f) = self.families.lock()
        {
            f.entry(name.to_string()).or_insert_with(|| Family {
                help: help.to_string(),
                kind,
                samples: BTreeMap::new(),
            });
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let Ok(f) = self.families.lock() else {
            return s;
        };
        for (name, fam) in f.iter() {
            let _ = writeln!(s, "# HELP {name} {}", fam.help);
            let _ = writeln!(s, "# TYPE {name} {}", fam.kind.as_str());
            for (labels, v) in &fam.samples {
                let _ = writeln!(s, "{name}{labels} {}", format_value(*v));
            }
        }
        s
    }

    /// Serves `GET /metrics` on `addr` from a background thread; returns the bound address.
    pub fn serve(self: &Arc<Self>, addr: SocketAddr) -> Result<SocketAddr> {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("binding metrics listener {addr}"))?;
        let local = listener.local_addr()?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(c) => {
                            if let Err(e) = me.answer(c) {
                                tracing::debug!("metrics request: {e:#}");
                            }
                        }
                        Err(e) => tracing::warn!("metrics accept: {e}"),
                    }
                }
            })
            .context("starting the metrics thread")?;
        Ok(local)
    }

    fn answer(&self, mut c: TcpStream) -> Result<()> {
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = c.read(&mut buf)?;
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
            if req.len() > 16 * 1024 {
                break;
            }
        }
        let line = String::from_utf8_lossy(&req);
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let (status, ctype, body) = match (method, path) {
            ("GET", "/metrics") => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                self.render(),
            ),
            ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
            _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
        };
        write!(
            c,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        c.flush()?;
        Ok(())
    }
}

/// Alerts by kind (aggregated alerts, and the events they count).
pub fn alert_kinds(
    alerts: &[palisade_detect::Alert],
) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (mut n, mut events) = (BTreeMap::new(), BTreeMap::new());
    for a in alerts {
        *n.entry(a.kind.clone()).or_insert(0.0) += 1.0;
        *events.entry(a.kind.clone()).or_insert(0.0) += a.count as f64;
    }
    (n, events)
}

/// Sets the detector families from the current alerts.
pub fn set_alerts(m: &Metrics, alerts: &[palisade_detect::Alert]) {
    let (n, events) = alert_kinds(alerts);
    m.set_all(
        "palisade_detector_alerts",
        MetricType::Gauge,
        "Aggregated alerts by kind (DESIGN.md section 6).",
        "kind",
        &n,
    );
    m.set_all(
        "palisade_detector_alert_events_total",
        MetricType::Counter,
        "Detections folded into the alerts, by kind.",
        "kind",
        &events,
    );
}

/// How often the loops refresh the registry.
const REFRESH: Duration = Duration::from_secs(1);

/// `sense --metrics ADDR`: capture, flow-table and detector figures.
pub struct SenseHook {
    metrics: Arc<Metrics>,
    last: Option<std::time::Instant>,
}

impl SenseHook {
    /// `None` when no address was given.
    pub fn start(addr: Option<SocketAddr>) -> Result<Option<Self>> {
        let Some(addr) = addr else { return Ok(None) };
        let metrics = Metrics::new();
        let local = metrics.serve(addr)?;
        eprintln!("palisade: metrics on http://{local}/metrics");
        Ok(Some(SenseHook {
            metrics,
            last: None,
        }))
    }

    /// Refreshes at most once a second (and always when `force`).
    pub fn tick(
        &mut self,
        cap: &palisade_sensor::live::CaptureStats,
        sensor: &palisade_sensor::live::LiveSensor,
        force: bool,
    ) {
        if !force && self.last.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let m = &self.metrics;
        let c = MetricType::Counter;
        m.set(
            "palisade_sensor_packets_total",
            c,
            "Packets captured.",
            &[],
            cap.packets as f64,
        );
        m.set(
            "palisade_sensor_bytes_total",
            c,
            "Bytes captured (on the wire).",
            &[],
            cap.bytes as f64,
        );
        m.set(
            "palisade_sensor_kernel_drops_total",
            c,
            "Packets the kernel dropped before the sensor read them.",
            &[],
            cap.kernel_drops as f64,
        );
        m.set(
            "palisade_sensor_truncated_total",
            c,
            "Frames longer than the read buffer (kept truncated).",
            &[],
            cap.truncated as f64,
        );
        if let Some((t, active)) = sensor.flow_counters() {
            m.set(
                "palisade_sensor_flows_total",
                c,
                "Flows created in the flow table.",
                &[],
                t.created as f64,
            );
            m.set(
                "palisade_sensor_flow_evictions_total",
                c,
                "Flows evicted because the flow table was full.",
                &[],
                t.evicted as f64,
            );
            m.set(
                "palisade_sensor_flows_idle_expired_total",
                c,
                "Flows ended by the idle timeout.",
                &[],
                t.idle_expired as f64,
            );
            m.set(
                "palisade_sensor_flows_active",
                MetricType::Gauge,
                "Flows in the flow table now.",
                &[],
                active as f64,
            );
        }
        set_alerts(m, &sensor.alerts_now());
    }
}

/// `collect --metrics ADDR`: collector, decoder and detector figures.
pub struct CollectHook {
    metrics: Arc<Metrics>,
    last: Option<std::time::Instant>,
}

/// Per-listener datagram figures.
pub struct ListenerFigures<'a> {
    pub label: &'a str,
    pub datagrams: u64,
    pub bytes: u64,
    pub errors: u64,
}

impl CollectHook {
    pub fn start(addr: Option<SocketAddr>) -> Result<Option<Self>> {
        let Some(addr) = addr else { return Ok(None) };
        let metrics = Metrics::new();
        let local = metrics.serve(addr)?;
        eprintln!("palisade collect: metrics on http://{local}/metrics");
        Ok(Some(CollectHook {
            metrics,
            last: None,
        }))
    }

    pub fn tick(
        &mut self,
        listeners: &[ListenerFigures<'_>],
        decoder: &palisade_collect::Decoder,
        input: &palisade_sensor::flowinput::FlowInput,
        force: bool,
    ) {
        if !force && self.last.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let m = &self.metrics;
        let c = MetricType::Counter;
        for l in listeners {
            let lb = [("listener", l.label)];
            m.set(
                "palisade_collector_datagrams_total",
                c,
                "Datagrams received.",
                &lb,
                l.datagrams as f64,
            );
            m.set(
                "palisade_collector_datagram_bytes_total",
                c,
                "Datagram bytes received.",
                &lb,
                l.bytes as f64,
            );
            m.set(
                "palisade_collector_datagram_errors_total",
                c,
                "Datagrams that failed to decode (wholly or partly).",
                &lb,
                l.errors as f64,
            );
        }
        let s = &decoder.stats;
        m.set(
            "palisade_collector_records_total",
            c,
            "Flow records decoded.",
            &[],
            s.flows as f64,
        );
        m.set(
            "palisade_collector_options_records_total",
            c,
            "Options records decoded.",
            &[],
            s.options_records as f64,
        );
        m.set(
            "palisade_collector_malformed_total",
            c,
            "Malformed datagrams or sets.",
            &[],
            s.malformed as f64,
        );
        m.set(
            "palisade_collector_templates",
            MetricType::Gauge,
            "Templates cached now.",
            &[],
            decoder.templates() as f64,
        );
        for (what, v) in [
            ("added", s.templates_added),
            ("withdrawn", s.templates_withdrawn),
            ("evicted", s.templates_evicted),
            ("refused", s.templates_refused),
        ] {
            m.set(
                "palisade_collector_template_events_total",
                c,
                "Template cache events.",
                &[("event", what)],
                v as f64,
            );
        }
        m.set(
            "palisade_collector_missing_template_sets_total",
            c,
            "Data sets skipped for an unknown template.",
            &[],
            s.missing_template_sets as f64,
        );
        m.set(
            "palisade_collector_sequence_lost_total",
            c,
            "Export datagrams/records missing by sequence number.",
            &[],
            s.sequence_lost as f64,
        );
        let k = &input.counters;
        m.set(
            "palisade_collector_flow_packets_total",
            c,
            "Packets the received flows describe.",
            &[],
            k.packets as f64,
        );
        m.set(
            "palisade_collector_flow_bytes_total",
            c,
            "Bytes the received flows describe.",
            &[],
            k.bytes as f64,
        );
        set_alerts(m, &input.alerts_now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_exposition() {
        let m = Metrics::new();
        m.set(
            "palisade_sensor_packets_total",
            MetricType::Counter,
            "Packets.",
            &[],
            42.0,
        );
        m.set(
            "x",
            MetricType::Gauge,
            "odd",
            &[("kind", "a\"b\\c\nd")],
            0.5,
        );
        m.set("1bad", MetricType::Gauge, "bad", &[], 1.0);
        m.set("ok", MetricType::Gauge, "bad label", &[("a:b", "v")], 1.0);
        let text = m.render();
        assert!(text.contains(
            "# TYPE palisade_sensor_packets_total counter\npalisade_sensor_packets_total 42\n"
        ));
        assert!(text.contains("x{kind=\"a\\\"b\\\\c\\nd\"} 0.5\n"), "{text}");
        assert!(!text.contains("1bad"));
        assert!(!text.contains("a:b"));
    }
}
