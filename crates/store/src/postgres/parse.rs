//! NDJSON line shapes for batch ingest: the same fields, checks and error texts as the SQLite
//! writer (crates/store/src/sqlite.rs), so both stores accept and reject the same lines.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::crypto::{hex, sha256};

/// Longest accepted NDJSON line (as SQLite's).
pub(crate) const MAX_LINE: usize = 1 << 20;

/// A string field that may be any JSON value: only a string counts (the partition month is
/// read from `last_seen`, which must not make an otherwise valid line invalid).
#[derive(Default)]
pub(crate) struct LenientStr<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LenientStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any<'a> {
            Str(#[serde(borrow)] Cow<'a, str>),
            Other(serde::de::IgnoredAny),
        }
        Ok(LenientStr(match Any::deserialize(d)? {
            Any::Str(s) => Some(s),
            Any::Other(_) => None,
        }))
    }
}

/// The head of a line: type, id and the time that picks the partition.
#[derive(Deserialize)]
pub(crate) struct EventHead<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub last_seen: LenientStr<'a>,
}

mod compat {
    use super::*;

    /// SQLite's line head, same name and fields (its name shows in rejection reasons).
    #[derive(Deserialize)]
    pub(crate) struct EventType<'a> {
        #[serde(rename = "type", borrow)]
        pub ty: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub event_id: Option<Cow<'a, str>>,
    }
}

#[derive(Deserialize)]
pub(crate) struct DeviceLine<'a> {
    #[serde(borrow)]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub mac: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub ips: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    pub vendor: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub category: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub os: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub hostnames: Option<Vec<Cow<'a, str>>>,
    pub confidence: Option<f64>,
    pub risk: Option<RiskField>,
    #[serde(borrow)]
    pub first_seen: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub last_seen: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct RiskField {
    pub score: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct AlertLine<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub device: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub src: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub dst: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub first_seen: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub last_seen: Option<Cow<'a, str>>,
    pub count: Option<i64>,
    #[serde(borrow)]
    pub summary: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub mitre: Option<Vec<Cow<'a, str>>>,
    pub evidence: Option<Value>,
}

/// What a valid line asks the store to do.
pub(crate) enum Body<'a> {
    Device {
        mac: String,
        d: Box<DeviceLine<'a>>,
        line: &'a str,
    },
    Alert(Box<AlertLine<'a>>),
    /// Flow and stats lines: the event id is recorded, nothing else.
    Counted,
}

pub(crate) struct Parsed<'a> {
    pub event_id: String,
    pub kind: &'static str,
    pub subject: Option<String>,
    /// Partition month of the event (see `schema::month_key`).
    pub month: i32,
    pub body: Body<'a>,
}

/// Parses one trimmed, non-empty line; `Err` is the rejection reason.
pub(crate) fn parse_line(line: &str) -> Result<Parsed<'_>, String> {
    if line.len() > MAX_LINE {
        return Err("line too long".into());
    }
    let device_line = |line| {
        serde_json::from_str::<DeviceLine<'_>>(line).map_err(|e| format!("device event: {e}"))
    };
    let mut device = None;
    let mut last_seen: Option<Cow<'_, str>> = None;
    let (kind, explicit_id) = if line.starts_with(r#"{"type":"device","#) {
        let d = device_line(line)?;
        let id = d.event_id.clone();
        last_seen = d.last_seen.clone();
        device = Some(d);
        (Cow::Borrowed("device"), id)
    } else {
        match serde_json::from_str::<EventHead<'_>>(line) {
            Ok(head) => {
                last_seen = head.last_seen.0;
                (head.ty.unwrap_or(Cow::Borrowed("")), head.event_id)
            }
            // SQLite's exact verdict and message (its head has no `last_seen`).
            Err(_) => {
                let head: compat::EventType<'_> =
                    serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
                (head.ty.unwrap_or(Cow::Borrowed("")), head.event_id)
            }
        }
    };
    // The event id: explicit, else the content hash of the line (same line, same id).
    let event_id = match explicit_id.as_deref() {
        Some(id) if !id.is_empty() && id.len() <= 128 => id.to_owned(),
        _ => hex(&sha256(line.as_bytes())[..16]),
    };
    let month = super::schema::month_key(last_seen.as_deref());
    let (kind, subject, body) = match kind.as_ref() {
        "device" => {
            let d = match device {
                Some(d) => d,
                None => device_line(line)?,
            };
            let mac = d.mac.as_deref().filter(|m| !m.is_empty() && m.len() <= 64);
            let Some(mac) = mac else {
                return Err("device event without mac".into());
            };
            let mac = mac.to_owned();
            (
                "device",
                Some(mac.clone()),
                Body::Device {
                    mac,
                    d: Box::new(d),
                    line,
                },
            )
        }
        "alert" => {
            let a: AlertLine<'_> =
                serde_json::from_str(line).map_err(|e| format!("alert event: {e}"))?;
            let id = a.id.as_deref().filter(|m| !m.is_empty() && m.len() <= 256);
            let Some(id) = id else {
                return Err("alert event without id".into());
            };
            ("alert", Some(id.to_owned()), Body::Alert(Box::new(a)))
        }
        "flow" => ("flow", None, Body::Counted),
        "stats" => ("stats", None, Body::Counted),
        other => return Err(format!("unknown event type {other:?}")),
    };
    Ok(Parsed {
        event_id,
        kind,
        subject,
        month,
        body,
    })
}
