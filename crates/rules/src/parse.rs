//! Suricata rule syntax → validated [`Rule`]s, or a reason why a rule is not supported.
//!
//! The parser never panics and never silently drops a keyword: anything it does not
//! implement makes the whole rule [`Unsupported`] with the keyword named.

use std::collections::BTreeMap;

use crate::vars::{AddrSet, PortSet, Vars};

/// Hard bounds against hostile rules.
pub const MAX_RULE_LEN: usize = 64 * 1024;
pub const MAX_CONTENT_LEN: usize = 4096;
pub const MAX_CONDS: usize = 64;
pub const MAX_FLOWBITS_PER_RULE: usize = 8;
pub const MAX_PCRE_LEN: usize = 4096;
/// Compiled-regex size limit (bytes of the NFA/DFA program).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a rule is not supported (stable short keys for the report, plus detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Report bucket, e.g. `keyword:byte_extract`, `pcre-flag:E`, `syntax`.
    pub key: String,
    pub detail: String,
}

impl Unsupported {
    fn new(key: impl Into<String>, detail: impl Into<String>) -> Self {
        Unsupported {
            key: key.into(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Alert,
    Drop,
    Reject,
    Pass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Ip,
    Tcp,
    Udp,
    Icmp,
    Http,
    Dns,
    Tls,
}

/// Inspection buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Buf {
    /// Packet payload / reassembled stream.
    Payload,
    HttpUri,
    HttpRawUri,
    HttpMethod,
    HttpRequestLine,
    HttpHeader,
    HttpRawHeader,
    HttpHeaderNames,
    HttpHost,
    HttpUserAgent,
    HttpReferer,
    HttpCookie,
    HttpRequestBody,
    HttpStart,
    HttpStatCode,
    HttpResponseBody,
    DnsQuery,
    TlsSni,
    Ja3Hash,
}

impl Buf {
    /// Buffers filled from HTTP responses (inspected to_client).
    pub fn is_http_response(self) -> bool {
        matches!(self, Buf::HttpStatCode | Buf::HttpResponseBody)
    }
    pub fn is_http(self) -> bool {
        !matches!(
            self,
            Buf::Payload | Buf::DnsQuery | Buf::TlsSni | Buf::Ja3Hash
        )
    }
    pub const ALL: [Buf; 19] = [
        Buf::Payload,
        Buf::HttpUri,
        Buf::HttpRawUri,
        Buf::HttpMethod,
        Buf::HttpRequestLine,
        Buf::HttpHeader,
        Buf::HttpRawHeader,
        Buf::HttpHeaderNames,
        Buf::HttpHost,
        Buf::HttpUserAgent,
        Buf::HttpReferer,
        Buf::HttpCookie,
        Buf::HttpRequestBody,
        Buf::HttpStart,
        Buf::HttpStatCode,
        Buf::HttpResponseBody,
        Buf::DnsQuery,
        Buf::TlsSni,
        Buf::Ja3Hash,
    ];
    /// Position in [`Buf::ALL`] (declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Numeric comparison (dsize, bsize, urilen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq(u64),
    Lt(u64),
    Gt(u64),
    Le(u64),
    Ge(u64),
    /// Exclusive range `a<>b`.
    Range(u64, u64),
}

impl Cmp {
    pub fn test(self, v: u64) -> bool {
        match self {
            Cmp::Eq(a) => v == a,
            Cmp::Lt(a) => v < a,
            Cmp::Gt(a) => v > a,
            Cmp::Le(a) => v <= a,
            Cmp::Ge(a) => v >= a,
            Cmp::Range(a, b) => v > a && v < b,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Content {
    pub pattern: Vec<u8>,
    pub nocase: bool,
    pub negated: bool,
    pub offset: Option<u32>,
    pub depth: Option<u32>,
    pub distance: Option<i32>,
    pub within: Option<u32>,
    pub startswith: bool,
    pub endswith: bool,
    pub fast_pattern: bool,
}

impl Content {
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Pcre {
    pub re: regex::bytes::Regex,
    pub negated: bool,
    pub relative: bool,
    /// Capture group standing for a final `$` (PCRE: end of subject or before a final
    /// newline, zero-width): a match that took the newline in it ends before it.
    pub eol_group: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOp {
    Lt,
    Gt,
    Eq,
    Le,
    Ge,
    And,
    Or,
}

#[derive(Debug, Clone, Copy)]
pub struct ByteTest {
    pub nbytes: u8,
    pub op: ByteOp,
    pub negated: bool,
    pub value: u64,
    pub offset: i32,
    pub relative: bool,
    pub little: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct ByteJump {
    pub nbytes: u8,
    pub offset: i32,
    pub relative: bool,
    pub little: bool,
    pub multiplier: u32,
    pub post_offset: i32,
    pub from_beginning: bool,
}

/// One inspection step on a buffer, in rule order.
#[derive(Debug, Clone)]
pub enum Cond {
    Content(Content),
    Pcre(Box<Pcre>),
    Bsize(Cmp),
    Isdataat {
        n: u32,
        relative: bool,
        negated: bool,
    },
    ByteTest(ByteTest),
    ByteJump(ByteJump),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowOpt {
    /// Some(true): to_server; Some(false): to_client.
    pub to_server: Option<bool>,
    /// Some(true): established; Some(false): not_established.
    pub established: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags {
    pub bits: u8,
    /// Bits ignored in the comparison.
    pub ignore: u8,
    /// `+`: at least these; `*`: any of these; `!`: none of these; default: exactly these.
    pub mode: u8,
}

impl TcpFlags {
    pub fn test(self, flags: u8) -> bool {
        let f = flags & !self.ignore;
        match self.mode {
            b'+' => f & self.bits == self.bits,
            b'*' => f & self.bits != 0,
            b'!' => f & self.bits == 0,
            _ => f == self.bits,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowbitOp {
    Set,
    Unset,
    Toggle,
    IsSet,
    IsNotSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    BySrc,
    ByDst,
    ByRule,
    ByBoth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdType {
    Limit,
    Threshold,
    Both,
    /// `detection_filter`: alert on every match after the first `count` within `seconds`.
    DetectionFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub kind: ThresholdType,
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
}

/// A parsed, supported rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: Action,
    pub proto: Proto,
    pub src: AddrSet,
    pub sport: PortSet,
    pub dst: AddrSet,
    pub dport: PortSet,
    pub bidirectional: bool,
    pub sid: u32,
    pub rev: u32,
    pub gid: u32,
    pub msg: String,
    pub classtype: Option<String>,
    pub flow: FlowOpt,
    pub dsize: Option<Cmp>,
    pub flags: Option<TcpFlags>,
    pub itype: Option<Cmp>,
    pub icode: Option<Cmp>,
    /// Inspection steps per buffer, in rule order.
    pub buffers: BTreeMap<Buf, Vec<Cond>>,
    /// `urilen` (normalized or raw URI length).
    pub urilen: Option<(Cmp, bool)>,
    pub flowbits: Vec<(FlowbitOp, String)>,
    pub noalert: bool,
    pub threshold: Option<Threshold>,
    pub metadata: Vec<String>,
    pub references: Vec<String>,
    /// The fast pattern: (buffer, index into that buffer's conds).
    pub fast_pattern: Option<(Buf, usize)>,
    /// `dotprefix` transform on `dns.query`.
    pub dotprefix: bool,
}

impl Rule {
    /// Whether the rule inspects HTTP buffers.
    pub fn is_http(&self) -> bool {
        self.buffers.keys().any(|b| b.is_http())
    }
}

/// Splits the option block on unescaped `;` outside quotes.
fn split_options(body: &str) -> Result<Vec<(String, Option<String>)>, Unsupported> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut esc = false;
    for ch in body.chars() {
        if esc {
            cur.push('\\');
            cur.push(ch);
            esc = false;
            continue;
        }
        match ch {
            '\\' => esc = true,
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            ';' if !quoted => {
                push_opt(&mut out, &cur);
                cur.clear();
            }
            _ => cur.push(ch),
        }
    }
    if quoted {
        return Err(Unsupported::new("syntax", "unterminated quoted string"));
    }
    if !cur.trim().is_empty() {
        return Err(Unsupported::new(
            "syntax",
            format!("option not terminated by ';': {}", cur.trim()),
        ));
    }
    Ok(out)
}

fn push_opt(out: &mut Vec<(String, Option<String>)>, raw: &str) {
    let raw = raw.trim();
    if raw.is_empty() {
        return;
    }
    match raw.split_once(':') {
        Some((k, v)) => out.push((k.trim().to_string(), Some(v.trim().to_string()))),
        None => out.push((raw.to_string(), None)),
    }
}

/// Strips surrounding quotes, keeping escapes for the caller.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Removes Suricata escapes (`\"`, `\;`, `\\`, `\:`) from a plain string.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Content string with `|hex|` blocks and escapes → bytes.
pub fn parse_content(v: &str) -> Result<Vec<u8>, Unsupported> {
    let s = unquote(v);
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut hex = false;
    let mut nib: Option<u8> = None;
    while let Some(&c) = b.get(i) {
        i += 1;
        if hex {
            match c {
                b'|' => {
                    if nib.is_some() {
                        return Err(Unsupported::new("syntax", "odd number of hex digits"));
                    }
                    hex = false;
                }
                b' ' => {}
                _ => {
                    let d = (c as char)
                        .to_digit(16)
                        .ok_or_else(|| Unsupported::new("syntax", "bad hex digit in content"))?
                        as u8;
                    match nib.take() {
                        Some(h) => out.push(h << 4 | d),
                        None => nib = Some(d),
                    }
                }
            }
        } else {
            match c {
                b'|' => hex = true,
                b'\\' => {
                    if let Some(&n) = b.get(i) {
                        out.push(n);
                        i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        if out.len() > MAX_CONTENT_LEN {
            return Err(Unsupported::new(
                "bound:content-length",
                format!("content longer than {MAX_CONTENT_LEN} bytes"),
            ));
        }
    }
    if hex {
        return Err(Unsupported::new("syntax", "unterminated hex block"));
    }
    if out.is_empty() {
        return Err(Unsupported::new("syntax", "empty content"));
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(kw: &str, v: &str) -> Result<T, Unsupported> {
    v.trim()
        .parse()
        .map_err(|_| Unsupported::new("syntax", format!("{kw}: bad number {v:?}")))
}

fn parse_num_any(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        v.parse().ok()
    }
}

/// `N`, `<N`, `>N`, `<=N`, `>=N`, `N<>M`.
pub fn parse_cmp(kw: &str, v: &str) -> Result<Cmp, Unsupported> {
    let v = v.trim();
    let bad = || Unsupported::new("syntax", format!("{kw}: bad value {v:?}"));
    if let Some((a, b)) = v.split_once("<>") {
        let (a, b) = (
            parse_num_any(a).ok_or_else(bad)?,
            parse_num_any(b).ok_or_else(bad)?,
        );
        return Ok(Cmp::Range(a, b));
    }
    let (ctor, rest): (fn(u64) -> Cmp, &str) = if let Some(r) = v.strip_prefix("<=") {
        (Cmp::Le, r)
    } else if let Some(r) = v.strip_prefix(">=") {
        (Cmp::Ge, r)
    } else if let Some(r) = v.strip_prefix('<') {
        (Cmp::Lt, r)
    } else if let Some(r) = v.strip_prefix('>') {
        (Cmp::Gt, r)
    } else if let Some(r) = v.strip_prefix('=') {
        (Cmp::Eq, r)
    } else {
        (Cmp::Eq, v)
    };
    Ok(ctor(parse_num_any(rest).ok_or_else(bad)?))
}

fn sticky_buffer(kw: &str) -> Option<Buf> {
    Some(match kw {
        "http.uri" => Buf::HttpUri,
        "http.uri.raw" => Buf::HttpRawUri,
        "http.method" => Buf::HttpMethod,
        "http.request_line" | "http_request_line" => Buf::HttpRequestLine,
        "http.header" => Buf::HttpHeader,
        "http.header.raw" => Buf::HttpRawHeader,
        "http.header_names" | "http_header_names" => Buf::HttpHeaderNames,
        "http.host" => Buf::HttpHost,
        "http.user_agent" => Buf::HttpUserAgent,
        "http.referer" => Buf::HttpReferer,
        "http.cookie" => Buf::HttpCookie,
        "http.request_body" => Buf::HttpRequestBody,
        "http.start" | "http_start" => Buf::HttpStart,
        "http.stat_code" => Buf::HttpStatCode,
        "http.response_body" | "file_data" | "file.data" => Buf::HttpResponseBody,
        "dns.query" | "dns_query" => Buf::DnsQuery,
        "tls.sni" | "tls_sni" => Buf::TlsSni,
        "ja3.hash" | "ja3_hash" => Buf::Ja3Hash,
        "pkt_data" => Buf::Payload,
        _ => return None,
    })
}

/// Content-modifier form (`content:..; http_uri;`).
fn modifier_buffer(kw: &str) -> Option<Buf> {
    Some(match kw {
        "http_uri" => Buf::HttpUri,
        "http_raw_uri" => Buf::HttpRawUri,
        "http_method" => Buf::HttpMethod,
        "http_header" => Buf::HttpHeader,
        "http_raw_header" => Buf::HttpRawHeader,
        "http_host" => Buf::HttpHost,
        "http_user_agent" => Buf::HttpUserAgent,
        "http_cookie" => Buf::HttpCookie,
        "http_client_body" => Buf::HttpRequestBody,
        "http_stat_code" => Buf::HttpStatCode,
        "http_server_body" => Buf::HttpResponseBody,
        _ => return None,
    })
}

fn pcre_flag_buffer(f: char) -> Option<Buf> {
    Some(match f {
        'U' => Buf::HttpUri,
        'I' => Buf::HttpRawUri,
        'M' => Buf::HttpMethod,
        'H' => Buf::HttpHeader,
        'D' => Buf::HttpRawHeader,
        'C' => Buf::HttpCookie,
        'P' => Buf::HttpRequestBody,
        'Q' => Buf::HttpResponseBody,
        'S' => Buf::HttpStatCode,
        'V' => Buf::HttpUserAgent,
        'W' => Buf::HttpHost,
        _ => return None,
    })
}

/// `"/re/flags"` → regex, relative flag, optional buffer override.
fn parse_pcre(v: &str) -> Result<(Pcre, Option<Buf>), Unsupported> {
    let s = unquote(v);
    let negated = s.starts_with('!');
    let s = unquote(s.trim_start_matches('!'));
    if s.len() > MAX_PCRE_LEN {
        return Err(Unsupported::new(
            "bound:pcre-length",
            format!("pcre longer than {MAX_PCRE_LEN} bytes"),
        ));
    }
    let body = s
        .strip_prefix('/')
        .ok_or_else(|| Unsupported::new("syntax", "pcre must start with '/'"))?;
    let end = body
        .rfind('/')
        .ok_or_else(|| Unsupported::new("syntax", "pcre without closing '/'"))?;
    let (pat, flags) = (&body[..end], &body[end + 1..]);
    // Flags go before the `-`: everything after it is switched off.
    let mut inline = String::from("(?");
    let mut relative = false;
    let mut buf = None;
    let mut anchored = false;
    for f in flags.chars() {
        match f {
            'i' | 's' | 'm' | 'x' => inline.push(f),
            'G' => inline.push('U'),
            'R' => relative = true,
            'A' => anchored = true,
            // No-ops for us: override match limits, rawbytes.
            'O' | 'B' => {}
            _ => match pcre_flag_buffer(f) {
                Some(b) => buf = Some(b),
                None => {
                    return Err(Unsupported::new(
                        format!("pcre-flag:{f}"),
                        format!("pcre flag '{f}' has no regex equivalent"),
                    ));
                }
            },
        }
    }
    inline.push_str("-u)");
    // Suricata escapes `;` and `"` inside the option; PCRE semantics otherwise.
    let pat = pat.replace("\\;", ";").replace("\\\"", "\"");
    let multiline = flags.contains('m') || pat.contains("(?m") || pat.contains("(?sm");
    let (pat, eol) = if multiline {
        (pat, false)
    } else {
        rewrite_dollar(&pat)?
    };
    let full = if anchored {
        format!("{inline}\\A(?:{pat})")
    } else {
        format!("{inline}{pat}")
    };
    let re = regex::bytes::RegexBuilder::new(&full)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            let key = if msg.contains("look-around") {
                "pcre:lookaround"
            } else if msg.contains("backreference") {
                "pcre:backreference"
            } else if msg.contains("size limit") {
                "bound:pcre-size"
            } else {
                "pcre:syntax"
            };
            let first = msg.lines().last().unwrap_or("").trim().to_string();
            Unsupported::new(
                key,
                format!("pcre not expressible with the regex crate: {first}"),
            )
        })?;
    // The rewritten `$` group is the last one opened (only `)` follow it).
    let eol_group = eol.then(|| re.captures_len().saturating_sub(1));
    Ok((
        Pcre {
            re,
            negated,
            relative,
            eol_group,
        },
        buf,
    ))
}

/// PCRE's `$` (without `/m`) matches at the end of the subject or before a final newline;
/// the regex crate's only at the very end. A `$` followed only by `)` becomes the group
/// `(\n?\z)` (the caller trims a newline it took from the match); any other unescaped `$`
/// outside a class has no zero-width equivalent without look-ahead and is rejected.
fn rewrite_dollar(pat: &str) -> Result<(String, bool), Unsupported> {
    let b = pat.as_bytes();
    let mut dollars = Vec::new();
    let mut i = 0;
    let mut in_class = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 1,
            b'[' if !in_class => {
                in_class = true;
                // `[^]…]` and `[]…]`: the first `]` is literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            // POSIX classes inside a class: `[:alpha:]`.
            b'[' if in_class && b.get(i + 1) == Some(&b':') => {
                if let Some(end) = pat.get(i + 2..).and_then(|r| r.find(":]")) {
                    i += end + 3;
                }
            }
            b']' if in_class => in_class = false,
            b'$' if !in_class => dollars.push(i),
            _ => {}
        }
        i += 1;
    }
    match dollars.as_slice() {
        [] => Ok((pat.to_string(), false)),
        [d] if b.get(d + 1..).is_some_and(|r| r.iter().all(|&c| c == b')')) => {
            let mut out = String::with_capacity(pat.len() + 8);
            out.push_str(pat.get(..*d).unwrap_or(""));
            out.push_str("(\\n?\\z)");
            out.push_str(pat.get(d + 1..).unwrap_or(""));
            Ok((out, true))
        }
        _ => Err(Unsupported::new(
            "pcre:dollar",
            "'$' before more pattern (PCRE: end or before a final newline) needs look-ahead",
        )),
    }
}

fn parse_flow(v: &str) -> Result<FlowOpt, Unsupported> {
    let mut f = FlowOpt::default();
    for p in v.split(',') {
        match p.trim() {
            "to_server" | "from_client" => f.to_server = Some(true),
            "to_client" | "from_server" => f.to_server = Some(false),
            "established" => f.established = Some(true),
            "not_established" => f.established = Some(false),
            "stateless" | "no_frag" => {}
            other => {
                return Err(Unsupported::new(
                    format!("flow:{other}"),
                    format!("flow option '{other}' is not supported"),
                ));
            }
        }
    }
    Ok(f)
}

fn parse_flags(v: &str) -> Result<TcpFlags, Unsupported> {
    let (main, ign) = match v.split_once(',') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (v.trim(), None),
    };
    let bit = |c: char| -> Result<u8, Unsupported> {
        Ok(match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' | '2' => 0x40,
            'C' | '1' => 0x80,
            '0' => 0,
            _ => {
                return Err(Unsupported::new(
                    "syntax",
                    format!("flags: unknown flag {c:?}"),
                ));
            }
        })
    };
    let mut t = TcpFlags {
        bits: 0,
        ignore: 0,
        mode: 0,
    };
    for c in main.chars() {
        match c {
            '+' | '*' | '!' => t.mode = c as u8,
            _ => t.bits |= bit(c)?,
        }
    }
    if let Some(i) = ign {
        for c in i.chars() {
            t.ignore |= bit(c)?;
        }
    }
    Ok(t)
}

fn parse_flowbits(v: &str) -> Result<Option<(FlowbitOp, String)>, Unsupported> {
    let (op, name) = match v.split_once(',') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (v.trim(), None),
    };
    if op == "noalert" {
        return Ok(None);
    }
    let op = match op {
        "set" => FlowbitOp::Set,
        "unset" => FlowbitOp::Unset,
        "toggle" => FlowbitOp::Toggle,
        "isset" => FlowbitOp::IsSet,
        "isnotset" => FlowbitOp::IsNotSet,
        other => {
            return Err(Unsupported::new(
                format!("flowbits:{other}"),
                format!("flowbits operation '{other}' is not supported"),
            ));
        }
    };
    let name = name.ok_or_else(|| Unsupported::new("syntax", "flowbits without a name"))?;
    if name.contains('|') || name.contains('&') {
        return Err(Unsupported::new(
            "flowbits:expression",
            "flowbits with '|'/'&' expressions are not supported",
        ));
    }
    if name.is_empty() || name.len() > 64 {
        return Err(Unsupported::new(
            "syntax",
            "flowbits name empty or too long",
        ));
    }
    Ok(Some((op, name.to_string())))
}

fn parse_threshold(v: &str, detection_filter: bool) -> Result<Threshold, Unsupported> {
    let mut kind = detection_filter.then_some(ThresholdType::DetectionFilter);
    let (mut track, mut count, mut seconds) = (None, None, None);
    for part in v.split(',') {
        let mut it = part.split_whitespace();
        let (Some(k), Some(val)) = (it.next(), it.next()) else {
            return Err(Unsupported::new(
                "syntax",
                format!("threshold: bad part {part:?}"),
            ));
        };
        match k {
            "type" => {
                kind = Some(match val {
                    "limit" => ThresholdType::Limit,
                    "threshold" => ThresholdType::Threshold,
                    "both" => ThresholdType::Both,
                    _ => return Err(Unsupported::new("syntax", "threshold: bad type")),
                })
            }
            "track" => {
                track = Some(match val {
                    "by_src" => Track::BySrc,
                    "by_dst" => Track::ByDst,
                    "by_rule" => Track::ByRule,
                    "by_both" => Track::ByBoth,
                    other => {
                        return Err(Unsupported::new(
                            format!("threshold:track {other}"),
                            format!("threshold track '{other}' is not supported"),
                        ));
                    }
                })
            }
            "count" => count = Some(num::<u32>("threshold count", val)?),
            "seconds" => seconds = Some(num::<u32>("threshold seconds", val)?),
            _ => {
                return Err(Unsupported::new(
                    "syntax",
                    format!("threshold: unknown {k}"),
                ));
            }
        }
    }
    match (kind, track, count, seconds) {
        (Some(kind), Some(track), Some(count), Some(seconds)) => Ok(Threshold {
            kind,
            track,
            count,
            seconds,
        }),
        _ => Err(Unsupported::new(
            "syntax",
            "threshold needs type, track, count and seconds",
        )),
    }
}

fn parse_byte_test(v: &str) -> Result<ByteTest, Unsupported> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 4 {
        return Err(Unsupported::new("syntax", "byte_test needs 4 arguments"));
    }
    let nbytes: u8 = num("byte_test bytes", parts[0])?;
    if !(1..=8).contains(&nbytes) {
        return Err(Unsupported::new("syntax", "byte_test: bytes must be 1..8"));
    }
    let (negated, op) = match parts[1].strip_prefix('!') {
        Some(o) => (true, o),
        None => (false, parts[1]),
    };
    let op = match op {
        "<" => ByteOp::Lt,
        ">" => ByteOp::Gt,
        "=" => ByteOp::Eq,
        "<=" => ByteOp::Le,
        ">=" => ByteOp::Ge,
        "&" => ByteOp::And,
        "^" => ByteOp::Or,
        _ => return Err(Unsupported::new("syntax", "byte_test: bad operator")),
    };
    let value = parse_num_any(parts[2]).ok_or_else(|| {
        Unsupported::new("byte_test:variable", "byte_test value must be a number")
    })?;
    let offset: i32 = num("byte_test offset", parts[3])?;
    let mut t = ByteTest {
        nbytes,
        op,
        negated,
        value,
        offset,
        relative: false,
        little: false,
    };
    for p in &parts[4..] {
        match *p {
            "relative" => t.relative = true,
            "little" => t.little = true,
            "big" => {}
            other => {
                return Err(Unsupported::new(
                    format!("byte_test:{other}"),
                    format!("byte_test option '{other}' is not supported"),
                ));
            }
        }
    }
    Ok(t)
}

fn parse_byte_jump(v: &str) -> Result<ByteJump, Unsupported> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 2 {
        return Err(Unsupported::new("syntax", "byte_jump needs 2 arguments"));
    }
    let nbytes: u8 = num("byte_jump bytes", parts[0])?;
    if !(1..=8).contains(&nbytes) {
        return Err(Unsupported::new("syntax", "byte_jump: bytes must be 1..8"));
    }
    let mut j = ByteJump {
        nbytes,
        offset: num("byte_jump offset", parts[1])?,
        relative: false,
        little: false,
        multiplier: 1,
        post_offset: 0,
        from_beginning: false,
    };
    for p in &parts[2..] {
        let mut it = p.split_whitespace();
        match (it.next(), it.next()) {
            (Some("relative"), None) => j.relative = true,
            (Some("little"), None) => j.little = true,
            (Some("big"), None) => {}
            (Some("from_beginning"), None) => j.from_beginning = true,
            (Some("multiplier"), Some(n)) => j.multiplier = num("byte_jump multiplier", n)?,
            (Some("post_offset"), Some(n)) => j.post_offset = num("byte_jump post_offset", n)?,
            _ => {
                return Err(Unsupported::new(
                    format!("byte_jump:{p}"),
                    format!("byte_jump option '{p}' is not supported"),
                ));
            }
        }
    }
    Ok(j)
}

fn parse_proto(p: &str) -> Result<Proto, Unsupported> {
    Ok(match p {
        "ip" | "pkthdr" => Proto::Ip,
        "tcp" | "tcp-pkt" | "tcp-stream" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        "http" | "http1" => Proto::Http,
        "dns" => Proto::Dns,
        "tls" => Proto::Tls,
        other => {
            return Err(Unsupported::new(
                format!("proto:{other}"),
                format!("protocol '{other}' is not supported"),
            ));
        }
    })
}

/// Splits the header on whitespace, keeping `[...]` groups whole.
fn header_tokens(h: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in h.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth <= 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c if c.is_whitespace() => {}
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parses one rule line (no leading `#`).
pub fn parse_rule(line: &str, vars: &Vars) -> Result<Rule, Unsupported> {
    if line.len() > MAX_RULE_LEN {
        return Err(Unsupported::new(
            "bound:rule-length",
            "rule longer than 64 KiB",
        ));
    }
    let line = line.trim();
    let open = line
        .find('(')
        .ok_or_else(|| Unsupported::new("syntax", "no option block"))?;
    let close = line
        .rfind(')')
        .filter(|&c| c > open)
        .ok_or_else(|| Unsupported::new("syntax", "option block not closed"))?;
    let toks = header_tokens(&line[..open]);
    if toks.len() != 7 {
        return Err(Unsupported::new(
            "syntax",
            format!("header has {} fields, expected 7", toks.len()),
        ));
    }
    let action = match toks[0].as_str() {
        "alert" => Action::Alert,
        "drop" => Action::Drop,
        "reject" | "rejectsrc" | "rejectdst" | "rejectboth" => Action::Reject,
        "pass" => Action::Pass,
        other => {
            return Err(Unsupported::new(
                format!("action:{other}"),
                format!("action '{other}' is not supported"),
            ));
        }
    };
    let proto = parse_proto(&toks[1])?;
    let src = vars.addr(&toks[2])?;
    let sport = vars.port(&toks[3])?;
    let bidirectional = match toks[4].as_str() {
        "->" => false,
        "<>" => true,
        other => {
            return Err(Unsupported::new(
                "syntax",
                format!("direction {other:?} is not -> or <>"),
            ));
        }
    };
    let dst = vars.addr(&toks[5])?;
    let dport = vars.port(&toks[6])?;
    let opts = split_options(&line[open + 1..close])?;

    let mut r = Rule {
        action,
        proto,
        src,
        sport,
        dst,
        dport,
        bidirectional,
        sid: 0,
        rev: 0,
        gid: 1,
        msg: String::new(),
        classtype: None,
        flow: FlowOpt::default(),
        dsize: None,
        flags: None,
        itype: None,
        icode: None,
        buffers: BTreeMap::new(),
        urilen: None,
        flowbits: Vec::new(),
        noalert: false,
        threshold: None,
        metadata: Vec::new(),
        references: Vec::new(),
        fast_pattern: None,
        dotprefix: false,
    };
    // The sticky buffer in effect, and the last condition (for modifiers).
    let mut sticky = Buf::Payload;
    let mut last: Option<(Buf, usize)> = None;
    // Relative keywords without a sticky buffer attach to the last content's buffer.
    let rel_buf = |sticky: Buf, last: Option<(Buf, usize)>| {
        if sticky == Buf::Payload {
            last.map_or(sticky, |(b, _)| b)
        } else {
            sticky
        }
    };
    let mut nconds = 0usize;
    for (k, v) in &opts {
        let val = v.as_deref().unwrap_or("");
        let need = |what: &str| -> Result<(), Unsupported> {
            if v.is_none() {
                Err(Unsupported::new("syntax", format!("{what} needs a value")))
            } else {
                Ok(())
            }
        };
        match k.as_str() {
            "msg" => r.msg = unescape(unquote(val)),
            "sid" => r.sid = num("sid", val)?,
            "rev" => r.rev = num("rev", val)?,
            "gid" => r.gid = num("gid", val)?,
            "classtype" => r.classtype = Some(val.trim().to_string()),
            "reference" => r.references.push(val.to_string()),
            "metadata" => r
                .metadata
                .extend(val.split(',').map(|s| s.trim().to_string())),
            "priority" | "target" | "rawbytes" | "tag" => {}
            "flow" => r.flow = parse_flow(val)?,
            "dsize" => r.dsize = Some(parse_cmp("dsize", val)?),
            "flags" => r.flags = Some(parse_flags(val)?),
            "itype" => r.itype = Some(parse_cmp("itype", val)?),
            "icode" => r.icode = Some(parse_cmp("icode", val)?),
            "urilen" => {
                let (c, raw) = match val.split_once(',') {
                    Some((c, m)) if m.trim() == "raw" => (c, true),
                    Some((c, m)) if m.trim() == "norm" => (c, false),
                    Some(_) => return Err(Unsupported::new("syntax", "urilen: bad modifier")),
                    None => (val, false),
                };
                r.urilen = Some((parse_cmp("urilen", c)?, raw));
            }
            "flowbits" => {
                need("flowbits")?;
                match parse_flowbits(val)? {
                    Some(fb) => r.flowbits.push(fb),
                    None => r.noalert = true,
                }
                if r.flowbits.len() > MAX_FLOWBITS_PER_RULE {
                    return Err(Unsupported::new(
                        "bound:flowbits",
                        format!("more than {MAX_FLOWBITS_PER_RULE} flowbits in one rule"),
                    ));
                }
            }
            "noalert" => r.noalert = true,
            "threshold" => r.threshold = Some(parse_threshold(val, false)?),
            "detection_filter" => r.threshold = Some(parse_threshold(val, true)?),
            "content" | "pcre" | "bsize" | "isdataat" | "byte_test" | "byte_jump" => {
                need(k)?;
                nconds += 1;
                if nconds > MAX_CONDS {
                    return Err(Unsupported::new(
                        "bound:conditions",
                        format!("more than {MAX_CONDS} inspection keywords"),
                    ));
                }
                let (buf, cond) = match k.as_str() {
                    "content" => {
                        let negated = val.trim_start().starts_with('!');
                        let pattern = parse_content(val.trim_start().trim_start_matches('!'))?;
                        (
                            sticky,
                            Cond::Content(Content {
                                pattern,
                                nocase: false,
                                negated,
                                offset: None,
                                depth: None,
                                distance: None,
                                within: None,
                                startswith: false,
                                endswith: false,
                                fast_pattern: false,
                            }),
                        )
                    }
                    "pcre" => {
                        let (p, b) = parse_pcre(val)?;
                        let dflt = if p.relative {
                            rel_buf(sticky, last)
                        } else {
                            sticky
                        };
                        (b.unwrap_or(dflt), Cond::Pcre(Box::new(p)))
                    }
                    "bsize" => (sticky, Cond::Bsize(parse_cmp("bsize", val)?)),
                    "isdataat" => {
                        let mut parts = val.split(',');
                        let n = parts.next().unwrap_or("").trim();
                        let negated = n.starts_with('!');
                        let n: u32 = num("isdataat", n.trim_start_matches('!'))?;
                        let mut relative = false;
                        for p in parts {
                            match p.trim() {
                                "relative" => relative = true,
                                "rawbytes" => {}
                                o => {
                                    return Err(Unsupported::new(
                                        format!("isdataat:{o}"),
                                        "unsupported isdataat option",
                                    ));
                                }
                            }
                        }
                        (
                            if relative {
                                rel_buf(sticky, last)
                            } else {
                                sticky
                            },
                            Cond::Isdataat {
                                n,
                                relative,
                                negated,
                            },
                        )
                    }
                    "byte_test" => {
                        let t = parse_byte_test(val)?;
                        let b = if t.relative {
                            rel_buf(sticky, last)
                        } else {
                            sticky
                        };
                        (b, Cond::ByteTest(t))
                    }
                    _ => {
                        let j = parse_byte_jump(val)?;
                        let b = if j.relative {
                            rel_buf(sticky, last)
                        } else {
                            sticky
                        };
                        (b, Cond::ByteJump(j))
                    }
                };
                let is_content = matches!(cond, Cond::Content(_));
                let list = r.buffers.entry(buf).or_default();
                list.push(cond);
                if is_content {
                    last = Some((buf, list.len() - 1));
                }
            }
            "nocase" | "offset" | "depth" | "distance" | "within" | "fast_pattern"
            | "startswith" | "endswith" => {
                let Some(c) = last_content(&mut r, last) else {
                    return Err(Unsupported::new(
                        "syntax",
                        format!("{k} without a preceding content"),
                    ));
                };
                match k.as_str() {
                    "nocase" => c.nocase = true,
                    "offset" => c.offset = Some(num("offset", val)?),
                    "depth" => c.depth = Some(num("depth", val)?),
                    "distance" => c.distance = Some(num("distance", val)?),
                    "within" => c.within = Some(num("within", val)?),
                    "startswith" => c.startswith = true,
                    "endswith" => c.endswith = true,
                    _ => {
                        if v.is_some() && val != "only" {
                            // fast_pattern:offset,length — the chop is a prefilter detail.
                        }
                        c.fast_pattern = true;
                    }
                }
            }
            "dotprefix" => {
                // dns.query transform: prepends '.'; realised by the matcher for this buffer.
                if sticky != Buf::DnsQuery {
                    return Err(Unsupported::new(
                        "transform:dotprefix",
                        "dotprefix outside dns.query",
                    ));
                }
                r.buffers.entry(Buf::DnsQuery).or_default();
                r.dotprefix = true;
            }
            other => {
                if let Some(b) = sticky_buffer(other) {
                    sticky = b;
                } else if let Some(b) = modifier_buffer(other) {
                    // Moves the last content to that buffer.
                    let Some((lb, li)) = last else {
                        return Err(Unsupported::new(
                            "syntax",
                            format!("{other} without a preceding content"),
                        ));
                    };
                    if lb != b {
                        let cond = r
                            .buffers
                            .get_mut(&lb)
                            .filter(|l| li < l.len())
                            .map(|l| l.remove(li));
                        if let Some(cond) = cond {
                            if r.buffers.get(&lb).is_some_and(|l| l.is_empty()) {
                                r.buffers.remove(&lb);
                            }
                            let list = r.buffers.entry(b).or_default();
                            list.push(cond);
                            last = Some((b, list.len() - 1));
                        }
                    }
                } else {
                    return Err(Unsupported::new(
                        format!("keyword:{other}"),
                        format!("keyword '{other}' is not supported"),
                    ));
                }
            }
        }
    }
    if r.sid == 0 {
        return Err(Unsupported::new("syntax", "rule without sid"));
    }
    // Protocol/buffer consistency.
    for b in r.buffers.keys() {
        let ok = match b {
            Buf::Payload => true,
            Buf::DnsQuery => matches!(r.proto, Proto::Dns | Proto::Udp),
            Buf::TlsSni | Buf::Ja3Hash => matches!(r.proto, Proto::Tls | Proto::Tcp),
            _ => matches!(r.proto, Proto::Http | Proto::Tcp),
        };
        if !ok {
            return Err(Unsupported::new(
                "proto-buffer",
                format!("buffer {b:?} cannot apply to protocol {:?}", r.proto),
            ));
        }
    }
    let http_req = r
        .buffers
        .keys()
        .any(|b| b.is_http() && !b.is_http_response());
    let http_resp = r.buffers.keys().any(|b| b.is_http_response());
    if http_req && http_resp {
        return Err(Unsupported::new(
            "http:mixed-directions",
            "request and response buffers in one rule",
        ));
    }
    if r.urilen.is_some() && http_resp {
        return Err(Unsupported::new(
            "http:mixed-directions",
            "urilen with response buffers",
        ));
    }
    if r.urilen.is_some() {
        r.buffers.entry(Buf::HttpUri).or_default();
    }
    r.fast_pattern = choose_fast_pattern(&r);
    Ok(r)
}

fn last_content(r: &mut Rule, last: Option<(Buf, usize)>) -> Option<&mut Content> {
    let (b, i) = last?;
    match r.buffers.get_mut(&b)?.get_mut(i)? {
        Cond::Content(c) => Some(c),
        _ => None,
    }
}

/// The explicit `fast_pattern`, else the longest positive content (Suricata picks the
/// longest of the buffer with the highest priority; any positive content is sound for a
/// prefilter since every positive content must match).
fn choose_fast_pattern(r: &Rule) -> Option<(Buf, usize)> {
    let mut best: Option<(Buf, usize, usize)> = None;
    for (b, conds) in &r.buffers {
        for (i, c) in conds.iter().enumerate() {
            if let Cond::Content(c) = c {
                if c.negated {
                    continue;
                }
                if c.fast_pattern {
                    return Some((*b, i));
                }
                if best.is_none_or(|(_, _, l)| c.pattern.len() > l) {
                    best = Some((*b, i, c.pattern.len()));
                }
            }
        }
    }
    best.map(|(b, i, _)| (b, i))
}
