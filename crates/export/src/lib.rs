//! Palisade's findings for the tools security teams already run: CEF and LEEF payloads,
//! RFC 5424 syslog framing, OCSF 1.x (Detection Finding 2004, Device Inventory Info 5001),
//! ECS field names, STIX 2.1 bundles of observed C2 indicators, CSV, a self-contained HTML
//! report and signed webhook bodies.
//!
//! Pure formatting: input is the analysis report (`--format json`) or its NDJSON events;
//! transports (syslog UDP/TCP/TLS, HTTP) live in the binary.
#![forbid(unsafe_code)]

use serde::Deserialize;
use serde_json::Value;

pub mod formats;
pub mod html;
pub mod ocsf;
pub mod stix;
pub mod syslog;
pub mod webhook;

/// Input that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("not a Palisade report or NDJSON event stream: {0}")]
    Format(String),
}

/// An alert as the report carries it (DESIGN.md §5).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AlertIn {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub device: Option<String>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u64,
    pub summary: String,
    pub evidence: Value,
    pub mitre: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RiskIn {
    pub score: u32,
    pub reasons: Vec<String>,
}

/// A device as the report carries it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DeviceIn {
    pub mac: String,
    pub ips: Vec<String>,
    pub vendor: Option<String>,
    pub hostnames: Vec<String>,
    pub category: Option<String>,
    pub model: Option<String>,
    pub os: Option<String>,
    pub confidence: f64,
    pub services: Vec<String>,
    pub protocols: Vec<String>,
    pub risk: RiskIn,
    pub first_seen: String,
    pub last_seen: String,
    pub packets: u64,
    pub bytes: u64,
}

/// Everything an export needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub palisade_version: String,
    pub alerts: Vec<AlertIn>,
    pub devices: Vec<DeviceIn>,
    /// Report summary (as given), for the HTML report.
    pub summary: Value,
}

/// Reads a report (one JSON object with `alerts`/`devices`) or NDJSON events (`"type":
/// "alert" | "device" | "stats"`; other types are skipped).
pub fn load(text: &str) -> Result<Findings, ExportError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(trimmed)
        && (v.get("alerts").is_some() || v.get("devices").is_some())
    {
        let alerts =
            serde_json::from_value(v.get("alerts").cloned().unwrap_or(Value::Array(vec![])))
                .map_err(|e| ExportError::Format(format!("alerts: {e}")))?;
        let devices =
            serde_json::from_value(v.get("devices").cloned().unwrap_or(Value::Array(vec![])))
                .map_err(|e| ExportError::Format(format!("devices: {e}")))?;
        return Ok(Findings {
            palisade_version: v["palisade_version"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            alerts,
            devices,
            summary: v.get("summary").cloned().unwrap_or(Value::Null),
        });
    }
    let mut f = Findings::default();
    let mut typed = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| ExportError::Line {
            line: i + 1,
            message: m,
        };
        let v: Value = serde_json::from_str(line).map_err(|e| err(format!("JSON: {e}")))?;
        match v.get("type").and_then(Value::as_str) {
            Some("alert") => {
                typed += 1;
                f.alerts
                    .push(serde_json::from_value(v).map_err(|e| err(format!("alert: {e}")))?);
            }
            Some("device") => {
                typed += 1;
                f.devices
                    .push(serde_json::from_value(v).map_err(|e| err(format!("device: {e}")))?);
            }
            Some("stats") => {
                typed += 1;
                f.summary = v.get("summary").cloned().unwrap_or(Value::Null);
                f.palisade_version = v["palisade_version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
            Some(_) => typed += 1,
            None => return Err(err("an NDJSON event needs a \"type\"".into())),
        }
    }
    if typed == 0 {
        return Err(ExportError::Format("no events found".into()));
    }
    Ok(f)
}

/// RFC 3339 to milliseconds since the epoch (0 when unreadable).
pub fn epoch_ms(ts: &str) -> i64 {
    palisade_collect::record::parse_iso8601(ts).map_or(0, |ns| ns.div_euclid(1_000_000))
}

/// Alert severity on the 0–10 scale of CEF and LEEF.
pub fn severity_0_10(s: &str) -> u8 {
    match s {
        "critical" => 10,
        "high" => 8,
        "medium" => 5,
        "low" => 3,
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
