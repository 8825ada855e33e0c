//! Palisade threat detectors and the alert model (DESIGN.md §6).
//!
//! Two kinds of detector run on the sensor pipeline:
//!
//! * [`HostDetector`] — one instance fed every packet in capture order from the reading
//!   thread, header facts only: `botnet.mirai.scan` (SYN seq == destination address,
//!   telnet/SSH worm fan-out), `scan.horizontal`, `scan.vertical`, `ddos.participation`
//!   (SYN/UDP/ACK/GRE/ICMP floods sent) and `ddos.target` (SYN, UDP, ICMP, ACK/RST floods
//!   received, TCP SYN-ACK reflection, UDP amplification by service). Bounded: a capped
//!   host table with count-min admission and HyperLogLog distinct counts.
//! * [`FlowDetector`] — one per worker, on the payload of the flows that worker owns:
//!   telnet/FTP/HTTP Basic/MQTT logins (`botnet.bruteforce`, `cred.default_login`,
//!   `cred.cleartext`), IRC and Mirai binary C2 (`botnet.c2`) and insecure services
//!   (`proto.insecure`: telnet, FTP, plain MQTT, SMBv1).
//!
//! Both emit [`Finding`]s into an [`Aggregator`]; [`finalize`] merges the aggregators of
//! all detectors, applies the thresholds that need the merged view (brute force), names
//! C2 servers from the DNS answers seen, and returns the alerts sorted deterministically,
//! so `--threads 1` and `--threads N` give identical alerts.
//!
//! All timing is packet time. Thresholds are in [`DetectConfig`]. Captured passwords are
//! never put in alerts or logs: only the username and a masked password
//! ([`creds::mask`]).
#![forbid(unsafe_code)]

pub mod alert;
pub mod config;
pub mod creds;
pub mod dns;
pub mod dnsmemo;
pub mod eval;
pub mod flow;
pub mod host;
pub mod net;
pub mod psl;
pub mod sketch;
pub mod tls;

pub use alert::{Aggregator, Alert, Finding, Kind, Mac, Severity, format_mac};
pub use config::DetectConfig;
pub use dnsmemo::DnsMemo;
pub use flow::{FlowCounters, FlowDet, FlowDetector, TcpPayload};
pub use host::{HostCounters, HostDetector};

/// Errors of this crate (label parsing for evaluation).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
}

/// Merges detector outputs into the final, sorted alert list.
///
/// `rfc3339` formats packet timestamps (the sensor's formatter).
pub fn finalize(
    cfg: &DetectConfig,
    parts: Vec<Aggregator>,
    dns: Option<&DnsMemo>,
    rfc3339: impl Fn(i64) -> String,
) -> Vec<Alert> {
    // Note: `dns` is the union of the workers' memos (see `DnsMemo::merge`).
    let mut all = Aggregator::new(cfg.max_alerts, cfg.evidence_list_max);
    for p in parts {
        all.merge(p);
    }
    // Thresholds on counts per packet-time window, applied to the merged view.
    all.retain_windowed(
        Kind::Bruteforce,
        cfg.bruteforce_min_failures as u64,
        "peak_failures_in_window",
    );
    all.retain_windowed(
        Kind::DnsDga,
        cfg.dga_min_nxdomain as u64,
        "peak_nxdomain_names_in_window",
    );
    all.retain_windowed(
        Kind::DnsTunnel,
        cfg.tunnel_min_queries as u64,
        "peak_queries_in_window",
    );
    let mut alerts = all.into_alerts(&rfc3339);
    if let Some(dns) = dns {
        for a in alerts.iter_mut().filter(|a| a.kind == Kind::C2.as_str()) {
            let Some(dst) = a
                .dst
                .as_deref()
                .and_then(|d| d.parse::<std::net::IpAddr>().ok())
            else {
                continue;
            };
            let addr = match dst {
                std::net::IpAddr::V4(v4) => net::addr_from_v4(v4.octets()),
                std::net::IpAddr::V6(v6) => v6.octets(),
            };
            if let Some((ts, name)) = dns.lookup(&addr)
                && let serde_json::Value::Object(o) = &mut a.evidence
            {
                o.insert("resolved_from".into(), name.into());
                o.insert("resolved_at".into(), rfc3339(ts).into());
                a.summary.push_str(&format!(" (resolved from {name})"));
            }
        }
    }
    alerts
}

#[cfg(test)]
mod detector_tests;
#[cfg(test)]
mod tests;
