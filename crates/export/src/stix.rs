//! STIX 2.1 bundles of the indicators Palisade observed: the C2 addresses and domains named
//! by `botnet.c2` alerts, each with its observation (observed-data + sighting).

use std::collections::BTreeMap;

use ring::digest;
use serde_json::{Value, json};

use crate::Findings;

/// The STIX 2.1 namespace for deterministic SCO identifiers (spec §2.9).
const SCO_NAMESPACE: [u8; 16] = [
    0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c, 0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7,
];

fn uuid_text(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// UUIDv5 (SHA-1, RFC 4122 §4.3), as STIX requires for cyber observables.
fn uuid_v5(namespace: &[u8; 16], name: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(namespace);
    ctx.update(name.as_bytes());
    let d = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// A UUIDv4-shaped identifier derived from content (stable across exports of one report).
fn uuid_from(seed: &str) -> String {
    let d = digest::digest(&digest::SHA256, seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// Pattern string literal: `\` and `'` escaped.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// STIX timestamps: RFC 3339 UTC, `Z`, millisecond precision kept as given.
fn ts(s: &str) -> String {
    match palisade_collect::record::parse_iso8601(s) {
        Some(ns) => {
            let ms = ns.div_euclid(1_000_000);
            let secs = ms.div_euclid(1000);
            let frac = ms.rem_euclid(1000);
            let days = secs.div_euclid(86_400);
            let sod = secs.rem_euclid(86_400);
            let (y, m, d) = civil(days);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:03}Z",
                sod / 3600,
                (sod % 3600) / 60,
                sod % 60
            )
        }
        None => "1970-01-01T00:00:00.000Z".into(),
    }
}

fn civil(z: i64) -> (i64, u32, u32) {
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

struct Observed {
    sco_type: &'static str,
    first: String,
    last: String,
    count: u64,
    summaries: Vec<String>,
}

/// The C2 indicators of the findings as a STIX 2.1 bundle. `now` (RFC 3339) stamps
/// `created`/`modified`.
pub fn bundle(f: &Findings, now: &str) -> Value {
    let now = ts(now);
    let identity_id = format!("identity--{}", uuid_from("palisade-identity"));
    let mut seen: BTreeMap<String, Observed> = BTreeMap::new();
    for a in f.alerts.iter().filter(|a| a.kind == "botnet.c2") {
        let mut values: Vec<(String, &'static str)> = Vec::new();
        if let Some(dst) = a.dst.as_deref() {
            match dst.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => values.push((dst.to_string(), "ipv4-addr")),
                Ok(std::net::IpAddr::V6(_)) => values.push((dst.to_string(), "ipv6-addr")),
                Err(_) => {}
            }
        }
        if let Some(d) = a.evidence.get("resolved_from").and_then(Value::as_str) {
            values.push((d.to_ascii_lowercase(), "domain-name"));
        }
        for (v, t) in values {
            let e = seen.entry(v).or_insert_with(|| Observed {
                sco_type: t,
                first: a.first_seen.clone(),
                last: a.last_seen.clone(),
                count: 0,
                summaries: Vec::new(),
            });
            if ts(&a.first_seen) < ts(&e.first) {
                e.first = a.first_seen.clone();
            }
            if ts(&a.last_seen) > ts(&e.last) {
                e.last = a.last_seen.clone();
            }
            e.count = e.count.saturating_add(a.count.max(1));
            if e.summaries.len() < 4 {
                e.summaries.push(a.summary.clone());
            }
        }
    }
    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id,
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": "Palisade",
        "identity_class": "system",
    })];
    for (value, o) in &seen {
        let sco_id = format!(
            "{}--{}",
            o.sco_type,
            uuid_v5(&SCO_NAMESPACE, &json!({ "value": value }).to_string())
        );
        let ind_id = format!("indicator--{}", uuid_from(&format!("indicator {value}")));
        let od_id = format!(
            "observed-data--{}",
            uuid_from(&format!("observed {value} {}", o.first))
        );
        let sig_id = format!(
            "sighting--{}",
            uuid_from(&format!("sighting {value} {}", o.first))
        );
        let (first, last) = (ts(&o.first), ts(&o.last));
        objects.push(
            json!({ "type": o.sco_type, "spec_version": "2.1", "id": sco_id, "value": value }),
        );
        objects.push(json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": ind_id,
            "created": now,
            "modified": now,
            "created_by_ref": identity_id,
            "name": format!("Botnet C2 endpoint {value}"),
            "description": o.summaries.join("; "),
            "indicator_types": ["malicious-activity"],
            "pattern": format!("[{}:value = '{}']", o.sco_type, quote(value)),
            "pattern_type": "stix",
            "valid_from": first,
        }));
        objects.push(json!({
            "type": "observed-data",
            "spec_version": "2.1",
            "id": od_id,
            "created": now,
            "modified": now,
            "created_by_ref": identity_id,
            "first_observed": first,
            "last_observed": last,
            "number_observed": o.count.clamp(1, 999_999_999),
            "object_refs": [sco_id],
        }));
        objects.push(json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": sig_id,
            "created": now,
            "modified": now,
            "created_by_ref": identity_id,
            "first_seen": first,
            "last_seen": last,
            "count": o.count.clamp(1, 999_999_999),
            "sighting_of_ref": ind_id,
            "observed_data_refs": [od_id],
            "where_sighted_refs": [identity_id],
        }));
    }
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid_from(&format!("bundle {now} {}", seen.keys().cloned().collect::<Vec<_>>().join(",")))),
        "objects": objects,
    })
}
