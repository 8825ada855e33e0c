//! Suricata EVE JSON (`eve.json`): alert, flow, dns, tls, http and dhcp events.

use std::net::IpAddr;

use serde_json::Value;

use crate::record::{FlowRecord, parse_iso8601, parse_mac, proto_number};

/// Common header of every EVE event.
#[derive(Debug, Clone, PartialEq)]
pub struct EveRecord {
    pub ts_ns: i64,
    pub flow_id: Option<u64>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub app_proto: Option<String>,
    pub event: EveEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsAnswer {
    pub rrname: String,
    pub rrtype: String,
    pub rdata: String,
}

/// The event-type specific part.
#[derive(Debug, Clone, PartialEq)]
pub enum EveEvent {
    Alert {
        signature_id: u64,
        rev: u64,
        signature: String,
        category: Option<String>,
        /// Suricata severity: 1 (high) .. 4 (low).
        severity: u8,
        action: Option<String>,
    },
    Flow {
        flow: FlowRecord,
        state: Option<String>,
        reason: Option<String>,
    },
    Dns {
        /// A query (`type: query` / `request`) rather than an answer.
        query: bool,
        rrname: Option<String>,
        rrtype: Option<String>,
        rcode: Option<String>,
        answers: Vec<DnsAnswer>,
    },
    Tls {
        sni: Option<String>,
        version: Option<String>,
        subject: Option<String>,
        issuer: Option<String>,
        ja3: Option<String>,
        ja4: Option<String>,
    },
    Http {
        hostname: Option<String>,
        url: Option<String>,
        method: Option<String>,
        user_agent: Option<String>,
        server: Option<String>,
        status: Option<u16>,
    },
    Dhcp {
        dhcp_type: Option<String>,
        client_mac: Option<[u8; 6]>,
        assigned_ip: Option<IpAddr>,
        client_ip: Option<IpAddr>,
        hostname: Option<String>,
        vendor_class: Option<String>,
        /// Option 55 parameter list (`params` in extended logging).
        params: Vec<String>,
    },
    /// Any other event type (stats, fileinfo, anomaly, ...), kept by name only.
    Other(String),
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EveError {
    pub line: usize,
    pub message: String,
}

fn s(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(x) => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k)?.as_u64()
}

fn ip(v: &Value, k: &str) -> Option<IpAddr> {
    v.get(k)?.as_str()?.parse().ok()
}

/// Parses one EVE line.
pub fn parse_line(line: &str, line_no: usize) -> Result<Option<EveRecord>, EveError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let e = |m: String| EveError {
        line: line_no,
        message: m,
    };
    let v: Value = serde_json::from_str(line).map_err(|x| e(format!("JSON: {x}")))?;
    if !v.is_object() {
        return Err(e("not a JSON object".into()));
    }
    let ts_ns = v
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_iso8601)
        .ok_or_else(|| e("missing or bad timestamp".into()))?;
    let event_type = v
        .get("event_type")
        .and_then(Value::as_str)
        .ok_or_else(|| e("missing event_type".into()))?;
    let port = |k: &str| u(&v, k).and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
    let ether = v.get("ether");
    let src = ip(&v, "src_ip");
    let dst = ip(&v, "dest_ip");
    let proto = v
        .get("proto")
        .and_then(|p| match p {
            Value::String(x) => Some(proto_number(x)),
            Value::Number(n) => n.as_u64().and_then(|x| u8::try_from(x).ok()),
            _ => None,
        })
        .unwrap_or(0);
    let mac = |k: &str| {
        ether
            .and_then(|x| x.get(k))
            .and_then(Value::as_str)
            .and_then(parse_mac)
    };
    let mut rec = EveRecord {
        ts_ns,
        flow_id: u(&v, "flow_id"),
        src,
        dst,
        src_port: port("src_port"),
        dst_port: port("dest_port"),
        proto,
        src_mac: mac("src_mac"),
        dst_mac: mac("dest_mac"),
        app_proto: s(&v, "app_proto"),
        event: EveEvent::Other(event_type.to_string()),
    };
    let sub = v.get(event_type).cloned().unwrap_or(Value::Null);
    rec.event = match event_type {
        "alert" => EveEvent::Alert {
            signature_id: u(&sub, "signature_id").unwrap_or(0),
            rev: u(&sub, "rev").unwrap_or(0),
            signature: s(&sub, "signature").unwrap_or_default(),
            category: s(&sub, "category"),
            severity: u(&sub, "severity")
                .and_then(|x| u8::try_from(x).ok())
                .unwrap_or(3),
            action: s(&sub, "action"),
        },
        "flow" | "netflow" => {
            let start = s(&sub, "start").and_then(|t| parse_iso8601(&t));
            let end = s(&sub, "end").and_then(|t| parse_iso8601(&t));
            let (Some(src), Some(dst)) = (src, dst) else {
                return Err(e("flow event without src_ip/dest_ip".into()));
            };
            let flags = v
                .get("tcp")
                .and_then(|t| t.get("tcp_flags_ts").or_else(|| t.get("tcp_flags")))
                .and_then(Value::as_str)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            let rev_flags = v
                .get("tcp")
                .and_then(|t| t.get("tcp_flags_tc"))
                .and_then(Value::as_str)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            let (p, b, rp, rb) = if event_type == "flow" {
                (
                    u(&sub, "pkts_toserver"),
                    u(&sub, "bytes_toserver"),
                    u(&sub, "pkts_toclient"),
                    u(&sub, "bytes_toclient"),
                )
            } else {
                (u(&sub, "pkts"), u(&sub, "bytes"), None, None)
            };
            EveEvent::Flow {
                flow: FlowRecord {
                    src,
                    dst,
                    src_port: rec.src_port,
                    dst_port: rec.dst_port,
                    proto,
                    tcp_flags: flags,
                    rev_tcp_flags: rev_flags,
                    packets: p.unwrap_or(0),
                    bytes: b.unwrap_or(0),
                    rev_packets: rp.unwrap_or(0),
                    rev_bytes: rb.unwrap_or(0),
                    start_ns: start.unwrap_or(ts_ns),
                    end_ns: end.or(start).unwrap_or(ts_ns),
                    src_mac: rec.src_mac,
                    dst_mac: rec.dst_mac,
                    ..FlowRecord::default()
                },
                state: s(&sub, "state"),
                reason: s(&sub, "reason"),
            }
        }
        "dns" => dns_event(&sub),
        "tls" => EveEvent::Tls {
            sni: s(&sub, "sni"),
            version: s(&sub, "version"),
            subject: s(&sub, "subject"),
            issuer: s(&sub, "issuerdn"),
            ja3: sub.get("ja3").and_then(|j| s(j, "hash")),
            ja4: s(&sub, "ja4"),
        },
        "http" => EveEvent::Http {
            hostname: s(&sub, "hostname"),
            url: s(&sub, "url"),
            method: s(&sub, "http_method"),
            user_agent: s(&sub, "http_user_agent"),
            server: sub
                .get("response_headers")
                .and_then(Value::as_array)
                .and_then(|hs| {
                    hs.iter()
                        .find(|h| {
                            h.get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.eq_ignore_ascii_case("server"))
                        })
                        .and_then(|h| s(h, "value"))
                }),
            status: u(&sub, "status").and_then(|x| u16::try_from(x).ok()),
        },
        "dhcp" => EveEvent::Dhcp {
            dhcp_type: s(&sub, "dhcp_type").or_else(|| s(&sub, "type")),
            client_mac: s(&sub, "client_mac").and_then(|m| parse_mac(&m)),
            assigned_ip: ip(&sub, "assigned_ip").filter(|a| !a.is_unspecified()),
            client_ip: ip(&sub, "client_ip").filter(|a| !a.is_unspecified()),
            hostname: s(&sub, "hostname"),
            vendor_class: s(&sub, "vendor_class_identifier"),
            params: sub
                .get("params")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        },
        other => EveEvent::Other(other.to_string()),
    };
    Ok(Some(rec))
}

fn dns_event(d: &Value) -> EveEvent {
    let ty = s(d, "type").unwrap_or_default();
    let query = ty == "query" || ty == "request";
    // Suricata 7 may put the query under `queries: [...]` (version 3 format).
    let q = d
        .get("queries")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .unwrap_or(d);
    let mut answers = Vec::new();
    if let Some(list) = d.get("answers").and_then(Value::as_array) {
        for a in list.iter().take(64) {
            answers.push(DnsAnswer {
                rrname: s(a, "rrname").unwrap_or_default(),
                rrtype: s(a, "rrtype").unwrap_or_default(),
                rdata: s(a, "rdata").unwrap_or_default(),
            });
        }
    }
    if let Some(Value::Object(g)) = d.get("grouped") {
        for (rrtype, vals) in g {
            for val in vals.as_array().into_iter().flatten().take(64) {
                if let Some(rdata) = val.as_str() {
                    answers.push(DnsAnswer {
                        rrname: s(q, "rrname").unwrap_or_default(),
                        rrtype: rrtype.clone(),
                        rdata: rdata.to_string(),
                    });
                }
            }
        }
    }
    EveEvent::Dns {
        query,
        rrname: s(q, "rrname"),
        rrtype: s(q, "rrtype"),
        rcode: s(d, "rcode"),
        answers,
    }
}

/// Reads a whole eve.json; bad lines are returned beside the good ones.
pub fn parse_eve(text: &str) -> (Vec<EveRecord>, Vec<EveError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match parse_line(l, i + 1) {
            Ok(Some(r)) => ok.push(r),
            Ok(None) => {}
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}
