//! Zeek `conn.log`: the TSV format (with its `#separator` / `#fields` header) and JSON lines.
//!
//! IoT-23's `conn.log.labeled` files add `label` and `detailed-label` columns, and some of
//! them separate the last three columns (and their header names) by runs of spaces rather
//! than tabs; both layouts are read. The CSV form of the same columns (a header line
//! starting `ts,uid,`, `-` written as an empty cell, RFC 4180 quoting), as the IoT-23
//! `*-labeled.csv` exports use it, is read too.

use std::borrow::Cow;

use crate::record::{FlowRecord, parse_epoch, parse_iso8601, parse_mac, proto_number};

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeekConn<'a> {
    pub flow: FlowRecord,
    pub uid: Option<Cow<'a, str>>,
    pub service: Option<Cow<'a, str>>,
    pub conn_state: Option<Cow<'a, str>>,
    pub history: Option<Cow<'a, str>>,
    /// IoT-23 `label` (`Benign` / `Malicious`).
    pub label: Option<Cow<'a, str>>,
    /// IoT-23 `detailed-label` (`C&C`, `DDoS`, `PartOfAHorizontalPortScan`, ...).
    pub detailed_label: Option<Cow<'a, str>>,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ZeekError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
struct Columns {
    names: usize,
    ts: Option<usize>,
    uid: Option<usize>,
    orig_h: Option<usize>,
    orig_p: Option<usize>,
    resp_h: Option<usize>,
    resp_p: Option<usize>,
    proto: Option<usize>,
    service: Option<usize>,
    duration: Option<usize>,
    orig_bytes: Option<usize>,
    resp_bytes: Option<usize>,
    conn_state: Option<usize>,
    history: Option<usize>,
    orig_pkts: Option<usize>,
    orig_ip_bytes: Option<usize>,
    resp_pkts: Option<usize>,
    resp_ip_bytes: Option<usize>,
    orig_l2: Option<usize>,
    resp_l2: Option<usize>,
    label: Option<usize>,
    detailed_label: Option<usize>,
}

impl Columns {
    fn from_names(names: &[&str]) -> Self {
        let pos = |n: &str| names.iter().position(|x| *x == n);
        Columns {
            names: names.len(),
            ts: pos("ts"),
            uid: pos("uid"),
            orig_h: pos("id.orig_h"),
            orig_p: pos("id.orig_p"),
            resp_h: pos("id.resp_h"),
            resp_p: pos("id.resp_p"),
            proto: pos("proto"),
            service: pos("service"),
            duration: pos("duration"),
            orig_bytes: pos("orig_bytes"),
            resp_bytes: pos("resp_bytes"),
            conn_state: pos("conn_state"),
            history: pos("history"),
            orig_pkts: pos("orig_pkts"),
            orig_ip_bytes: pos("orig_ip_bytes"),
            resp_pkts: pos("resp_pkts"),
            resp_ip_bytes: pos("resp_ip_bytes"),
            orig_l2: pos("orig_l2_addr"),
            resp_l2: pos("resp_l2_addr"),
            label: pos("label"),
            detailed_label: pos("detailed-label")
                .or_else(|| pos("detailed_label"))
                .or_else(|| pos("det_label")),
        }
    }
}

#[derive(Debug, Clone, Default)]
enum Layout {
    /// Nothing seen yet: a `#` line starts TSV, a `{` line JSON.
    #[default]
    Unknown,
    Tsv {
        sep: String,
        unset: String,
        empty: String,
        cols: Option<Box<Columns>>,
    },
    Json,
    /// Comma-separated with a header line naming the Zeek columns.
    Csv(Box<Columns>),
}

/// A streaming reader: feed it lines in order.
#[derive(Debug, Clone, Default)]
pub struct ZeekReader {
    layout: Layout,
}

fn unescape_sep(s: &str) -> String {
    // `#separator \x09`
    if let Some(hex) = s.strip_prefix("\\x")
        && let Ok(v) = u8::from_str_radix(hex, 16)
    {
        return (v as char).to_string();
    }
    s.to_string()
}

impl ZeekReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one line (without its line terminator); `Ok(None)` for headers and blanks.
    pub fn line<'a>(
        &mut self,
        line: &'a str,
        line_no: usize,
    ) -> Result<Option<ZeekConn<'a>>, ZeekError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(None);
        }
        let e = |m: String| ZeekError {
            line: line_no,
            message: m,
        };
        if matches!(self.layout, Layout::Unknown) {
            self.layout = if line.starts_with('{') {
                Layout::Json
            } else if line.starts_with("ts,") {
                let names = split_csv(line).map_err(e)?;
                let cols = Columns::from_names(&names);
                if cols.orig_h.is_none() || cols.resp_h.is_none() {
                    return Err(e("CSV header without id.orig_h / id.resp_h columns".into()));
                }
                self.layout = Layout::Csv(Box::new(cols));
                return Ok(None);
            } else {
                Layout::Tsv {
                    sep: "\t".into(),
                    unset: "-".into(),
                    empty: "(empty)".into(),
                    cols: None,
                }
            };
        }
        match &mut self.layout {
            Layout::Json => json_line(line).map(Some).map_err(e),
            Layout::Tsv {
                sep,
                unset,
                empty,
                cols,
            } => {
                if let Some(h) = line.strip_prefix('#') {
                    if let Some(v) = h.strip_prefix("separator ") {
                        *sep = unescape_sep(v.trim());
                        if sep.is_empty() {
                            return Err(e("empty #separator".into()));
                        }
                    } else if let Some(rest) = h.strip_prefix("fields") {
                        let rest = rest.strip_prefix(sep.as_str()).unwrap_or(rest);
                        let names: Vec<&str> = rest
                            .split(sep.as_str())
                            .flat_map(|c| c.split_whitespace())
                            .collect();
                        *cols = Some(Box::new(Columns::from_names(&names)));
                    } else if let Some(v) = h.strip_prefix("unset_field") {
                        *unset = v.trim().to_string();
                    } else if let Some(v) = h.strip_prefix("empty_field") {
                        *empty = v.trim().to_string();
                    }
                    return Ok(None);
                }
                let Some(cols) = cols.as_ref() else {
                    return Err(e("data before the #fields header".into()));
                };
                tsv_line(line, sep, unset, empty, cols).map(Some).map_err(e)
            }
            Layout::Csv(cols) => {
                let cells = split_csv(line).map_err(e)?;
                conn_from_cells(&cells, "", "", cols).map(Some).map_err(e)
            }
            Layout::Unknown => Ok(None),
        }
    }
}

/// Splits one CSV line (RFC 4180 quoting; a doubled quote inside a quoted cell is refused
/// rather than copied, so every cell stays borrowed).
fn split_csv(line: &str) -> Result<Vec<&str>, String> {
    let mut cells = Vec::new();
    let mut rest = line;
    loop {
        if let Some(q) = rest.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or_else(|| format!("unterminated quote in cell {}", cells.len() + 1))?;
            cells.push(&q[..end]);
            let after = &q[end + 1..];
            if after.is_empty() {
                return Ok(cells);
            }
            rest = after.strip_prefix(',').ok_or_else(|| {
                format!(
                    "cell {}: a quoted cell must end at a comma (escaped quotes are not supported)",
                    cells.len()
                )
            })?;
        } else {
            match rest.find(',') {
                Some(i) => {
                    cells.push(&rest[..i]);
                    rest = &rest[i + 1..];
                }
                None => {
                    cells.push(rest);
                    return Ok(cells);
                }
            }
        }
    }
}

fn tsv_line<'a>(
    line: &'a str,
    sep: &str,
    unset: &str,
    empty: &str,
    c: &Columns,
) -> Result<ZeekConn<'a>, String> {
    let mut cells: Vec<&'a str> = line.split(sep).collect();
    if cells.len() < c.names {
        // IoT-23 quirk: trailing columns joined by runs of spaces.
        cells = cells
            .into_iter()
            .flat_map(|x| {
                let parts: Vec<&str> = if x.contains("  ") {
                    x.split_whitespace().collect()
                } else {
                    vec![x]
                };
                parts
            })
            .collect();
    }
    conn_from_cells(&cells, unset, empty, c)
}

fn conn_from_cells<'a>(
    cells: &[&'a str],
    unset: &str,
    empty: &str,
    c: &Columns,
) -> Result<ZeekConn<'a>, String> {
    if cells.len() != c.names {
        return Err(format!(
            "{} fields where the header names {}",
            cells.len(),
            c.names
        ));
    }
    let get = |i: Option<usize>| -> Option<&'a str> {
        let v = *cells.get(i?)?;
        (v != unset && v != empty && !v.is_empty()).then_some(v)
    };
    let num = |i: Option<usize>, what: &str| -> Result<u64, String> {
        match get(i) {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{what} {v:?} is not a count")),
        }
    };
    let ts = parse_epoch(get(c.ts).ok_or("missing ts")?).ok_or("bad ts")?;
    let dur = match get(c.duration) {
        Some(v) => parse_epoch(v).ok_or_else(|| format!("bad duration {v:?}"))?,
        None => 0,
    };
    let addr = |i: Option<usize>, what: &str| -> Result<std::net::IpAddr, String> {
        get(i)
            .ok_or_else(|| format!("missing {what}"))?
            .parse()
            .map_err(|_| format!("bad {what}"))
    };
    let port = |i: Option<usize>, what: &str| -> Result<u16, String> {
        match get(i) {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| format!("bad {what} {v:?}")),
        }
    };
    let orig_ip_bytes = num(c.orig_ip_bytes, "orig_ip_bytes")?;
    let resp_ip_bytes = num(c.resp_ip_bytes, "resp_ip_bytes")?;
    let flow = FlowRecord {
        src: addr(c.orig_h, "id.orig_h")?,
        dst: addr(c.resp_h, "id.resp_h")?,
        src_port: port(c.orig_p, "id.orig_p")?,
        dst_port: port(c.resp_p, "id.resp_p")?,
        proto: get(c.proto).map(proto_number).unwrap_or(0),
        tcp_flags: get(c.history).map(history_flags).unwrap_or(0),
        rev_tcp_flags: get(c.history).map(history_rev_flags).unwrap_or(0),
        packets: num(c.orig_pkts, "orig_pkts")?,
        bytes: if c.orig_ip_bytes.is_some() {
            orig_ip_bytes
        } else {
            num(c.orig_bytes, "orig_bytes")?
        },
        rev_packets: num(c.resp_pkts, "resp_pkts")?,
        rev_bytes: if c.resp_ip_bytes.is_some() {
            resp_ip_bytes
        } else {
            num(c.resp_bytes, "resp_bytes")?
        },
        start_ns: ts,
        end_ns: ts.saturating_add(dur),
        src_mac: get(c.orig_l2).and_then(parse_mac),
        dst_mac: get(c.resp_l2).and_then(parse_mac),
        ..FlowRecord::default()
    };
    let mut flow = flow;
    normalize_icmp(&mut flow);
    Ok(ZeekConn {
        flow,
        uid: get(c.uid).map(Cow::Borrowed),
        service: get(c.service).map(Cow::Borrowed),
        conn_state: get(c.conn_state).map(Cow::Borrowed),
        history: get(c.history).map(Cow::Borrowed),
        label: get(c.label).map(Cow::Borrowed),
        detailed_label: get(c.detailed_label).map(Cow::Borrowed),
    })
}

/// Zeek writes ICMP type and code as the ports; records carry `type * 256 + code` in
/// `dst_port` (the NetFlow convention).
fn normalize_icmp(f: &mut FlowRecord) {
    if matches!(f.proto, 1 | 58) {
        f.dst_port = (f.src_port & 0xff) << 8 | (f.dst_port & 0xff);
        f.src_port = 0;
    }
}

/// TCP flags the responder sent (lower-case history letters).
pub fn history_rev_flags(h: &str) -> u8 {
    history_flags(
        &h.chars()
            .filter(|c| c.is_ascii_lowercase())
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>(),
    )
}

/// TCP flags the originator sent, from Zeek's connection history (upper case = originator).
pub fn history_flags(h: &str) -> u8 {
    let mut f = 0;
    for ch in h.chars().filter(|c| !c.is_ascii_lowercase()) {
        f |= match ch {
            'S' => 0x02,
            'H' => 0x12,
            'F' => 0x01,
            'R' => 0x04,
            'A' => 0x10,
            'D' => 0x18,
            _ => 0,
        };
    }
    f
}

#[derive(serde::Deserialize)]
struct JsonConn<'a> {
    ts: serde_json::Value,
    #[serde(borrow)]
    uid: Option<Cow<'a, str>>,
    #[serde(rename = "id.orig_h", borrow)]
    orig_h: Cow<'a, str>,
    #[serde(rename = "id.orig_p", default)]
    orig_p: u16,
    #[serde(rename = "id.resp_h", borrow)]
    resp_h: Cow<'a, str>,
    #[serde(rename = "id.resp_p", default)]
    resp_p: u16,
    #[serde(borrow, default)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    orig_bytes: Option<u64>,
    #[serde(default)]
    resp_bytes: Option<u64>,
    #[serde(borrow, default)]
    conn_state: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    history: Option<Cow<'a, str>>,
    #[serde(default)]
    orig_pkts: Option<u64>,
    #[serde(default)]
    orig_ip_bytes: Option<u64>,
    #[serde(default)]
    resp_pkts: Option<u64>,
    #[serde(default)]
    resp_ip_bytes: Option<u64>,
    #[serde(borrow, default)]
    orig_l2_addr: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resp_l2_addr: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    label: Option<Cow<'a, str>>,
    #[serde(rename = "detailed-label", borrow, default)]
    detailed_label: Option<Cow<'a, str>>,
}

fn json_line(line: &str) -> Result<ZeekConn<'_>, String> {
    let j: JsonConn<'_> = serde_json::from_str(line).map_err(|e| format!("JSON: {e}"))?;
    let ts = match &j.ts {
        serde_json::Value::Number(n) => parse_epoch(&n.to_string()),
        serde_json::Value::String(s) => parse_iso8601(s).or_else(|| parse_epoch(s)),
        _ => None,
    }
    .ok_or("bad ts")?;
    let dur = j
        .duration
        .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
        .map(|d| (d * 1e9) as i64)
        .unwrap_or(0);
    let flow = FlowRecord {
        src: j.orig_h.parse().map_err(|_| "bad id.orig_h")?,
        dst: j.resp_h.parse().map_err(|_| "bad id.resp_h")?,
        src_port: j.orig_p,
        dst_port: j.resp_p,
        proto: j.proto.as_deref().map(proto_number).unwrap_or(0),
        tcp_flags: j.history.as_deref().map(history_flags).unwrap_or(0),
        rev_tcp_flags: j.history.as_deref().map(history_rev_flags).unwrap_or(0),
        packets: j.orig_pkts.unwrap_or(0),
        bytes: j.orig_ip_bytes.or(j.orig_bytes).unwrap_or(0),
        rev_packets: j.resp_pkts.unwrap_or(0),
        rev_bytes: j.resp_ip_bytes.or(j.resp_bytes).unwrap_or(0),
        start_ns: ts,
        end_ns: ts.saturating_add(dur),
        src_mac: j.orig_l2_addr.as_deref().and_then(parse_mac),
        dst_mac: j.resp_l2_addr.as_deref().and_then(parse_mac),
        ..FlowRecord::default()
    };
    let mut flow = flow;
    normalize_icmp(&mut flow);
    Ok(ZeekConn {
        flow,
        uid: j.uid,
        service: j.service,
        conn_state: j.conn_state,
        history: j.history,
        label: j.label,
        detailed_label: j.detailed_label,
    })
}

/// Reads a whole conn.log; bad lines are returned beside the good ones (never fatal).
pub fn parse_conn_log(text: &str) -> (Vec<ZeekConn<'_>>, Vec<ZeekError>) {
    let mut r = ZeekReader::new();
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match r.line(l, i + 1) {
            Ok(Some(c)) => ok.push(c),
            Ok(None) => {}
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}
