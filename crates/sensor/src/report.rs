//! The analysis report (DESIGN.md §5) and the NDJSON event shapes.

use serde::Serialize;

use palisade_flow::{EndReason, FlowRecord, TcpState, addr_to_ip};
use palisade_inventory::Category;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub palisade_version: String,
    pub inputs: Vec<InputReport>,
    pub summary: Summary,
    pub devices: Vec<DeviceReport>,
    pub alerts: Vec<Alert>,
}

impl Report {
    /// The device and alert events of `analyze --format ndjson`: one JSON object per line,
    /// each with `"type": "device"` or `"type": "alert"` (what the hub ingests).
    pub fn device_and_alert_ndjson(&self) -> serde_json::Result<String> {
        let mut out = String::new();
        let devices = self
            .devices
            .iter()
            .map(|d| (serde_json::to_value(d), "device"));
        let alerts = self
            .alerts
            .iter()
            .map(|a| (serde_json::to_value(a), "alert"));
        for (v, kind) in devices.chain(alerts) {
            let mut v = v?;
            if let Some(o) = v.as_object_mut() {
                o.insert("type".into(), kind.into());
            }
            out.push_str(&serde_json::to_string(&v)?);
            out.push('\n');
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Warning {
    pub offset: u64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputReport {
    pub path: String,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub warnings: Vec<Warning>,
    /// False when nothing in the file could be read (bad header, no complete record).
    pub usable: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    pub flows: u64,
    pub devices: u64,
    pub alerts: u64,
    pub capture_duration_s: f64,
    pub elapsed_s: f64,
    /// Flows dropped from the table at its cap (oldest idle first).
    pub flows_evicted: u64,
    /// Devices dropped from the device table at its cap.
    pub devices_evicted: u64,
    /// Packets with at least one decoding anomaly flag.
    pub malformed_packets: u64,
    pub fragments_reassembled: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub source: String,
    pub detail: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Risk {
    pub score: u32,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceReport {
    pub mac: String,
    pub ips: Vec<String>,
    pub vendor: Option<String>,
    pub hostnames: Vec<String>,
    pub category: Category,
    pub model: Option<String>,
    pub os: Option<String>,
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
    pub services: Vec<String>,
    pub protocols: Vec<String>,
    pub risk: Risk,
    /// Candidate CPE names from banners and identification, best first (palisade-risk).
    pub cpes: Vec<palisade_risk::CpeCandidate>,
    /// CVEs matched against the imported NVD index (empty without one).
    pub vulnerabilities: Vec<palisade_risk::VulnFinding>,
    /// Observable ETSI EN 303 645 provisions: pass / fail / unknown with evidence.
    pub checklist: Vec<palisade_risk::ChecklistItem>,
    pub first_seen: String,
    pub last_seen: String,
    pub packets: u64,
    pub bytes: u64,
    /// Locally administered (randomised or virtual) MAC: the OUI says nothing about the vendor.
    pub mac_randomized: bool,
}

/// An alert (DESIGN.md §6), produced by `palisade_detect`.
pub use palisade_detect::Alert;

/// One ended flow, as written to NDJSON (`"type": "flow"`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub proto: u8,
    pub vlan: u16,
    pub src: String,
    pub src_port: u16,
    pub dst: String,
    pub dst_port: u16,
    pub first_seen: String,
    pub last_seen: String,
    pub packets_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub tcp_state: TcpState,
    pub end: EndReason,
    pub app: Option<&'static str>,
}

impl FlowEvent {
    pub fn from_record(r: &FlowRecord, app: Option<&'static str>) -> Self {
        let s = &r.stats;
        FlowEvent {
            kind: "flow",
            proto: s.key.proto,
            vlan: s.key.vlan,
            src: addr_to_ip(&s.initiator).to_string(),
            src_port: s.initiator_port,
            dst: addr_to_ip(&s.responder).to_string(),
            dst_port: s.responder_port,
            first_seen: rfc3339(s.first_ts),
            last_seen: rfc3339(s.last_ts),
            packets_to_server: s.packets[0],
            packets_to_client: s.packets[1],
            bytes_to_server: s.bytes[0],
            bytes_to_client: s.bytes[1],
            tcp_state: s.state,
            end: r.reason,
            app,
        }
    }
}

/// RFC 3339 UTC with microseconds, from nanoseconds since the epoch.
pub fn rfc3339(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let micros = ts_ns.rem_euclid(1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_540_476_392_123_456_789),
            "2018-10-25T14:06:32.123456Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(rfc3339(-1_000_000_000), "1969-12-31T23:59:59.000000Z");
    }
}
