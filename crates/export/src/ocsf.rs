//! OCSF 1.3 events: Detection Finding (class 2004) for alerts and Device Inventory Info
//! (class 5001) for devices.

use serde_json::{Value, json};

use crate::{AlertIn, DeviceIn, epoch_ms};

pub const OCSF_VERSION: &str = "1.3.0";

/// MITRE ATT&CK (Enterprise and ICS) names of the techniques Palisade alerts carry.
pub fn technique_name(id: &str) -> Option<&'static str> {
    Some(match id {
        "T0812" => "Default Credentials",
        "T0814" => "Denial of Service",
        "T0846" => "Remote System Discovery",
        "T0869" => "Standard Application Layer Protocol",
        "T0885" => "Commonly Used Port",
        "T0886" => "Remote Services",
        "T1021" => "Remote Services",
        "T1040" => "Network Sniffing",
        "T1041" => "Exfiltration Over C2 Channel",
        "T1046" => "Network Service Discovery",
        "T1048" => "Exfiltration Over Alternative Protocol",
        "T1071" => "Application Layer Protocol",
        "T1071.004" => "Application Layer Protocol: DNS",
        "T1078.001" => "Valid Accounts: Default Accounts",
        "T1110.001" => "Brute Force: Password Guessing",
        "T1110.003" => "Brute Force: Password Spraying",
        "T1498" => "Network Denial of Service",
        "T1499" => "Endpoint Denial of Service",
        "T1552" => "Unsecured Credentials",
        "T1557" => "Adversary-in-the-Middle",
        "T1568.002" => "Dynamic Resolution: Domain Generation Algorithms",
        "T1571" => "Non-Standard Port",
        "T1595.001" => "Active Scanning: Scanning IP Blocks",
        _ => return None,
    })
}

/// OCSF severity_id and its caption.
pub fn severity(s: &str) -> (u8, &'static str) {
    match s {
        "critical" => (5, "Critical"),
        "high" => (4, "High"),
        "medium" => (3, "Medium"),
        "low" => (2, "Low"),
        "info" => (1, "Informational"),
        _ => (0, "Unknown"),
    }
}

fn metadata(version: &str, log_name: &str, uid: &str) -> Value {
    json!({
        "version": OCSF_VERSION,
        "uid": uid,
        "log_name": log_name,
        "log_provider": "palisade",
        "product": { "name": "Palisade", "vendor_name": "Palisade", "version": version },
    })
}

fn endpoint(ip: Option<&str>, mac: Option<&str>) -> Value {
    let mut e = serde_json::Map::new();
    if let Some(ip) = ip {
        e.insert("ip".into(), ip.into());
    }
    if let Some(mac) = mac {
        e.insert("mac".into(), mac.into());
    }
    Value::Object(e)
}

/// An alert as an OCSF Detection Finding (activity Create).
pub fn detection_finding(a: &AlertIn, version: &str) -> Value {
    let (sev_id, sev) = severity(&a.severity);
    let (first, last) = (epoch_ms(&a.first_seen), epoch_ms(&a.last_seen));
    let attacks: Vec<Value> = a
        .mitre
        .iter()
        .map(|t| {
            // The technique's name where known; else its id stands for it.
            let name = technique_name(t).unwrap_or(t);
            json!({ "technique": { "uid": t, "name": name }, "version": "v15" })
        })
        .collect();
    let mut finding_info = json!({
        "uid": a.id,
        "title": a.summary,
        "desc": a.summary,
        "types": [a.kind],
        "first_seen_time": first,
        "last_seen_time": last,
        "data_sources": ["network traffic"],
        "analytic": { "name": a.kind, "uid": a.kind, "type_id": 1, "type": "Rule" },
    });
    if !attacks.is_empty() {
        finding_info["attacks"] = Value::Array(attacks);
    }
    json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": sev_id,
        "severity": sev,
        "status_id": 1,
        "status": "New",
        "time": last,
        "start_time": first,
        "end_time": last,
        "count": a.count,
        "message": a.summary,
        "finding_info": finding_info,
        "metadata": metadata(version, "alerts", &a.id),
        "evidences": [{
            "src_endpoint": endpoint(a.src.as_deref(), a.device.as_deref()),
            "dst_endpoint": endpoint(a.dst.as_deref(), None),
            "data": a.evidence,
        }],
        "unmapped": { "palisade_kind": a.kind },
    })
}

/// OCSF device type_id and caption for a Palisade category.
pub fn device_type(category: Option<&str>) -> (u8, &'static str) {
    match category.unwrap_or("unknown") {
        "server" | "nas" => (1, "Server"),
        "computer" => (2, "Desktop"),
        "phone" | "wearable" => (5, "Mobile"),
        "router" | "access_point" => (12, "Router"),
        "unknown" => (0, "Unknown"),
        _ => (7, "IOT"),
    }
}

/// A device as OCSF Device Inventory Info (activity Log).
pub fn device_inventory(d: &DeviceIn, version: &str) -> Value {
    let (type_id, type_name) = device_type(d.category.as_deref());
    let mut device = json!({
        "type_id": type_id,
        "type": type_name,
        "mac": d.mac,
        "uid": d.mac,
        "first_seen_time": epoch_ms(&d.first_seen),
        "last_seen_time": epoch_ms(&d.last_seen),
        "risk_score": d.risk.score,
        "network_interfaces": d.ips.iter().map(|ip| json!({ "ip": ip, "mac": d.mac, "type_id": 0 })).collect::<Vec<_>>(),
    });
    if let Some(ip) = d.ips.first() {
        device["ip"] = ip.clone().into();
    }
    if let Some(h) = d.hostnames.first() {
        device["hostname"] = h.clone().into();
        device["name"] = h.clone().into();
    }
    if let Some(v) = &d.vendor {
        device["vendor_name"] = v.clone().into();
    }
    if let Some(m) = &d.model {
        device["model"] = m.clone().into();
    }
    if let Some(os) = &d.os {
        device["os"] = json!({ "name": os, "type_id": 0, "type": "Unknown" });
    }
    json!({
        "activity_id": 1,
        "activity_name": "Log",
        "category_uid": 5,
        "category_name": "Discovery",
        "class_uid": 5001,
        "class_name": "Device Inventory Info",
        "type_uid": 500101,
        "type_name": "Device Inventory Info: Log",
        "severity_id": 1,
        "severity": "Informational",
        "time": epoch_ms(&d.last_seen),
        "device": device,
        "metadata": metadata(version, "devices", &d.mac),
        "unmapped": { "category": d.category, "confidence": d.confidence, "services": d.services },
    })
}

/// The fields OCSF 1.3 marks required for each class (checked by the tests).
pub fn required_fields(class_uid: u64) -> &'static [&'static str] {
    match class_uid {
        2004 => &[
            "activity_id",
            "category_uid",
            "class_uid",
            "finding_info",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ],
        5001 => &[
            "activity_id",
            "category_uid",
            "class_uid",
            "device",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ],
        _ => &[],
    }
}
