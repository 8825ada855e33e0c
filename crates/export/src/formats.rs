//! CEF (ArcSight Common Event Format 25), LEEF 2.0 (IBM QRadar), ECS (Elastic Common
//! Schema field names) and CSV (RFC 4180).

use serde_json::{Value, json};

use crate::{AlertIn, DeviceIn, epoch_ms, severity_0_10};

const VENDOR: &str = "Palisade";
const PRODUCT: &str = "Palisade";

/// CEF header fields escape `\` and `|`.
fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// CEF extension values escape `\`, `=` and line breaks.
fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn push_ext(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(&cef_value(v));
    }
}

/// One alert as a CEF record (`CEF:0|Palisade|Palisade|version|kind|summary|severity|ext`).
pub fn cef_alert(a: &AlertIn, version: &str) -> String {
    let mut ext = String::new();
    push_ext(&mut ext, "rt", Some(&epoch_ms(&a.last_seen).to_string()));
    push_ext(
        &mut ext,
        "start",
        Some(&epoch_ms(&a.first_seen).to_string()),
    );
    push_ext(&mut ext, "end", Some(&epoch_ms(&a.last_seen).to_string()));
    push_ext(&mut ext, "cnt", Some(&a.count.to_string()));
    push_ext(&mut ext, "src", a.src.as_deref());
    push_ext(&mut ext, "dst", a.dst.as_deref());
    push_ext(&mut ext, "smac", a.device.as_deref());
    push_ext(&mut ext, "cat", Some(&a.kind));
    push_ext(&mut ext, "externalId", Some(&a.id));
    push_ext(&mut ext, "msg", Some(&a.summary));
    if !a.mitre.is_empty() {
        push_ext(&mut ext, "cs1Label", Some("mitre"));
        push_ext(&mut ext, "cs1", Some(&a.mitre.join(",")));
    }
    format!(
        "CEF:0|{VENDOR}|{PRODUCT}|{}|{}|{}|{}|{ext}",
        cef_header(version),
        cef_header(&a.kind),
        cef_header(&a.summary),
        severity_0_10(&a.severity)
    )
}

/// One device as a CEF inventory record (event class `device.inventory`).
pub fn cef_device(d: &DeviceIn, version: &str) -> String {
    let mut ext = String::new();
    push_ext(&mut ext, "rt", Some(&epoch_ms(&d.last_seen).to_string()));
    push_ext(&mut ext, "smac", Some(&d.mac));
    push_ext(&mut ext, "src", d.ips.first().map(String::as_str));
    push_ext(&mut ext, "shost", d.hostnames.first().map(String::as_str));
    push_ext(&mut ext, "cs1Label", Some("vendor"));
    push_ext(&mut ext, "cs1", d.vendor.as_deref());
    push_ext(&mut ext, "cs2Label", Some("category"));
    push_ext(&mut ext, "cs2", d.category.as_deref());
    push_ext(&mut ext, "cs3Label", Some("model"));
    push_ext(&mut ext, "cs3", d.model.as_deref());
    push_ext(&mut ext, "cn1Label", Some("risk"));
    push_ext(&mut ext, "cn1", Some(&d.risk.score.to_string()));
    let name = format!(
        "device {} ({})",
        d.mac,
        d.category.as_deref().unwrap_or("unknown")
    );
    let sev = (d.risk.score / 10).min(10);
    format!(
        "CEF:0|{VENDOR}|{PRODUCT}|{}|device.inventory|{}|{sev}|{ext}",
        cef_header(version),
        cef_header(&name)
    )
}

/// LEEF 2.0 with `^` as the attribute delimiter (declared in the header); values have
/// delimiters and line breaks replaced.
fn leef(version: &str, event_id: &str, attrs: &[(&str, Option<String>)]) -> String {
    let clean = |s: &str| s.replace(['^', '\t', '\r', '\n'], " ");
    let hdr = |s: &str| clean(s).replace('|', "/");
    let body: Vec<String> = attrs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", clean(v)))
        })
        .collect();
    format!(
        "LEEF:2.0|{VENDOR}|{PRODUCT}|{}|{}|^|{}",
        hdr(version),
        hdr(event_id),
        body.join("^")
    )
}

pub fn leef_alert(a: &AlertIn, version: &str) -> String {
    leef(
        version,
        &a.kind,
        &[
            ("devTime", Some(epoch_ms(&a.last_seen).to_string())),
            ("devTimeFormat", Some("epoch_ms".into())),
            ("cat", Some(a.kind.clone())),
            ("sev", Some(severity_0_10(&a.severity).to_string())),
            ("src", a.src.clone()),
            ("dst", a.dst.clone()),
            ("srcMAC", a.device.clone()),
            ("eventCount", Some(a.count.to_string())),
            ("externalId", Some(a.id.clone())),
            ("msg", Some(a.summary.clone())),
        ],
    )
}

pub fn leef_device(d: &DeviceIn, version: &str) -> String {
    leef(
        version,
        "device.inventory",
        &[
            ("devTime", Some(epoch_ms(&d.last_seen).to_string())),
            ("devTimeFormat", Some("epoch_ms".into())),
            ("cat", Some("device.inventory".into())),
            ("sev", Some((d.risk.score / 10).min(10).to_string())),
            ("srcMAC", Some(d.mac.clone())),
            ("src", d.ips.first().cloned()),
            ("identHostName", d.hostnames.first().cloned()),
            ("vendor", d.vendor.clone()),
            ("deviceCategory", d.category.clone()),
            ("model", d.model.clone()),
            ("riskScore", Some(d.risk.score.to_string())),
        ],
    )
}

/// ECS 8.x field names for an alert (`event.kind: alert`).
pub fn ecs_alert(a: &AlertIn) -> Value {
    json!({
        "@timestamp": a.last_seen,
        "event": {
            "kind": "alert",
            "category": ["network", "intrusion_detection"],
            "type": ["indicator"],
            "id": a.id,
            "action": a.kind,
            "severity": severity_0_10(&a.severity),
            "start": a.first_seen,
            "end": a.last_seen,
            "dataset": "palisade.alert",
            "module": "palisade",
        },
        "rule": { "name": a.kind, "description": a.summary },
        "message": a.summary,
        "source": { "ip": a.src, "mac": a.device.as_deref().map(ecs_mac) },
        "destination": { "ip": a.dst },
        "threat": {
            "technique": { "id": a.mitre },
            "framework": "MITRE ATT&CK",
        },
        "observer": { "vendor": VENDOR, "product": PRODUCT, "type": "ids" },
        "palisade": { "count": a.count, "evidence": a.evidence },
    })
}

/// ECS wants MACs upper-case with dashes.
fn ecs_mac(m: &str) -> String {
    m.to_ascii_uppercase().replace(':', "-")
}

/// ECS field names for a device inventory record (`event.kind: asset`).
pub fn ecs_device(d: &DeviceIn) -> Value {
    json!({
        "@timestamp": d.last_seen,
        "event": { "kind": "asset", "category": ["host"], "type": ["info"], "dataset": "palisade.device", "module": "palisade" },
        "host": {
            "mac": [ecs_mac(&d.mac)],
            "ip": d.ips,
            "name": d.hostnames.first(),
            "hostname": d.hostnames.first(),
            "type": d.category,
            "os": { "name": d.os },
            "risk": { "static_score": d.risk.score },
        },
        "device": { "manufacturer": d.vendor, "model": { "name": d.model } },
        "observer": { "vendor": VENDOR, "product": PRODUCT },
    })
}

/// One CSV field (RFC 4180), with spreadsheet formula injection neutralised (OWASP).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_row(fields: &[String]) -> String {
    let mut r: String = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    r.push_str("\r\n");
    r
}

pub fn csv_alerts(alerts: &[AlertIn]) -> String {
    let mut out = csv_row(
        &[
            "id",
            "kind",
            "severity",
            "device",
            "src",
            "dst",
            "first_seen",
            "last_seen",
            "count",
            "summary",
            "mitre",
        ]
        .map(String::from),
    );
    for a in alerts {
        out.push_str(&csv_row(&[
            a.id.clone(),
            a.kind.clone(),
            a.severity.clone(),
            a.device.clone().unwrap_or_default(),
            a.src.clone().unwrap_or_default(),
            a.dst.clone().unwrap_or_default(),
            a.first_seen.clone(),
            a.last_seen.clone(),
            a.count.to_string(),
            a.summary.clone(),
            a.mitre.join(" "),
        ]));
    }
    out
}

pub fn csv_devices(devices: &[DeviceIn]) -> String {
    let mut out = csv_row(
        &[
            "mac",
            "ips",
            "vendor",
            "hostnames",
            "category",
            "model",
            "os",
            "confidence",
            "risk",
            "services",
            "first_seen",
            "last_seen",
            "packets",
            "bytes",
        ]
        .map(String::from),
    );
    for d in devices {
        out.push_str(&csv_row(&[
            d.mac.clone(),
            d.ips.join(" "),
            d.vendor.clone().unwrap_or_default(),
            d.hostnames.join(" "),
            d.category.clone().unwrap_or_default(),
            d.model.clone().unwrap_or_default(),
            d.os.clone().unwrap_or_default(),
            d.confidence.to_string(),
            d.risk.score.to_string(),
            d.services.join(" "),
            d.first_seen.clone(),
            d.last_seen.clone(),
            d.packets.to_string(),
            d.bytes.to_string(),
        ]));
    }
    out
}
