//! Passive TCP fingerprints in the p0f 3 model: what a SYN (or SYN+ACK) reveals about the
//! sender's TCP/IP stack — initial TTL, IP options, MSS, window size and scale, TCP option
//! layout and quirks — and matching of those against p0f's `[tcp:request]`/`[tcp:response]`
//! signatures.
//!
//! p0f's database is LGPL-2.1, so it is never compiled in: `palisade kb import-runtime`
//! converts it into the `tcp-signatures` run-time pack, read with `--kb DIR`. The signature
//! grammar and matching rules follow the p0f 3 README (section 5) and p0f's matcher, checked
//! against p0f itself (crates/sensor/tests/p0f_oracle.rs): option layout, IP option length,
//! MSS, window and scale must agree. A match whose quirks differ only by `df`/`id+` missing or
//! `id-`/`ecn` added (what NAT boxes do), or whose TTL is above the initial TTL or more than 35
//! hops below it, is "fuzzy". Specific (`s:`) labels win over generic (`g:`) ones, exact over
//! fuzzy.

use std::fmt;

/// TCP option kinds as they appear in p0f's `olayout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpOpt {
    /// End of options, followed by this many padding bytes.
    Eol(u8),
    Nop,
    Mss,
    WindowScale,
    SackOk,
    Sack,
    Timestamp,
    /// Any other option kind.
    Unknown(u8),
}

impl fmt::Display for TcpOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOpt::Eol(n) => write!(f, "eol+{n}"),
            TcpOpt::Nop => f.write_str("nop"),
            TcpOpt::Mss => f.write_str("mss"),
            TcpOpt::WindowScale => f.write_str("ws"),
            TcpOpt::SackOk => f.write_str("sok"),
            TcpOpt::Sack => f.write_str("sack"),
            TcpOpt::Timestamp => f.write_str("ts"),
            TcpOpt::Unknown(k) => write!(f, "?{k}"),
        }
    }
}

/// Quirk bits (p0f names in [`QUIRK_NAMES`] order).
pub mod quirk {
    pub const DF: u32 = 1 << 0;
    pub const NZ_ID: u32 = 1 << 1;
    pub const ZERO_ID: u32 = 1 << 2;
    pub const ECN: u32 = 1 << 3;
    pub const NZ_MBZ: u32 = 1 << 4;
    pub const FLOW: u32 = 1 << 5;
    pub const ZERO_SEQ: u32 = 1 << 6;
    pub const NZ_ACK: u32 = 1 << 7;
    pub const ZERO_ACK: u32 = 1 << 8;
    pub const NZ_URG: u32 = 1 << 9;
    pub const URG: u32 = 1 << 10;
    pub const PUSH: u32 = 1 << 11;
    pub const OPT_ZERO_TS1: u32 = 1 << 12;
    pub const OPT_NZ_TS2: u32 = 1 << 13;
    pub const OPT_EOL_NZ: u32 = 1 << 14;
    pub const OPT_EXWS: u32 = 1 << 15;
    pub const OPT_BAD: u32 = 1 << 16;
}

/// p0f quirk names, index = bit position in [`quirk`].
pub const QUIRK_NAMES: [&str; 17] = [
    "df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-", "uptr+", "urgf+", "pushf+",
    "ts1-", "ts2+", "opt+", "exws", "bad",
];

fn quirks_to_string(q: u32) -> String {
    QUIRK_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| q & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// IP-layer facts the TCP fingerprint needs (from the decoded IPv4/IPv6 header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpFacts {
    /// 4 or 6.
    pub version: u8,
    pub ttl: u8,
    /// Length of IPv4 options (header length − 20); 0 for IPv6.
    pub options_len: u8,
    pub dont_fragment: bool,
    pub id: u16,
    /// The IPv4 TOS / IPv6 traffic class byte (ECN in the low two bits).
    pub tos: u8,
    /// The reserved "must be zero" IPv4 flag bit.
    pub reserved_flag: bool,
    pub flow_label: u32,
}

/// What one SYN or SYN+ACK says about its sender, in p0f terms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SynSignature {
    /// SYN+ACK (a server's answer) rather than SYN.
    pub response: bool,
    pub version: u8,
    /// Observed TTL (the initial TTL minus the hops travelled).
    pub ttl: u8,
    pub ip_options_len: u8,
    pub mss: Option<u16>,
    pub window: u16,
    /// Window scale option value; `None` when the option is absent.
    pub scale: Option<u8>,
    pub layout: Vec<TcpOpt>,
    pub quirks: u32,
    /// The segment carries payload.
    pub payload: bool,
    /// A timestamp option with a non-zero own timestamp is present.
    pub timestamp: bool,
    /// IP + TCP header bytes (for p0f's "MTU (actual size)" window rule).
    pub header_len: u16,
}

/// Most options a SYN can carry (40 bytes of options, one byte each at worst).
const MAX_LAYOUT: usize = 40;

impl SynSignature {
    /// Reads the fingerprint from the TCP segment (header and payload, as after the IP header).
    /// `None` unless the segment is a SYN or SYN+ACK with a sane header; malformed options
    /// give the `bad` quirk, never an error.
    pub fn from_segment(ip: IpFacts, segment: &[u8]) -> Option<SynSignature> {
        let hdr = segment.get(..20)?;
        let flags = hdr[13];
        let (syn, ack, rst) = (flags & 0x02 != 0, flags & 0x10 != 0, flags & 0x04 != 0);
        if !syn || rst {
            return None;
        }
        let data_off = (hdr[12] >> 4) as usize * 4;
        if data_off < 20 {
            return None;
        }
        let header = segment.get(..data_off).unwrap_or(segment);
        let options = header.get(20..).unwrap_or(&[]);
        let payload = segment.len() > data_off;
        let seq = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let ack_no = u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
        let window = u16::from_be_bytes([hdr[14], hdr[15]]);
        let urg_ptr = u16::from_be_bytes([hdr[18], hdr[19]]);

        let mut q = 0u32;
        if ip.version == 4 {
            if ip.dont_fragment {
                q |= quirk::DF;
                if ip.id != 0 {
                    q |= quirk::NZ_ID;
                }
            } else if ip.id == 0 {
                q |= quirk::ZERO_ID;
            }
            if ip.reserved_flag {
                q |= quirk::NZ_MBZ;
            }
        } else if ip.flow_label != 0 {
            q |= quirk::FLOW;
        }
        if ip.tos & 0x03 != 0 || flags & 0xc0 != 0 {
            q |= quirk::ECN;
        }
        if seq == 0 {
            q |= quirk::ZERO_SEQ;
        }
        if ack {
            if ack_no == 0 {
                q |= quirk::ZERO_ACK;
            }
        } else if ack_no != 0 {
            q |= quirk::NZ_ACK;
        }
        if flags & 0x20 != 0 {
            q |= quirk::URG;
        } else if urg_ptr != 0 {
            q |= quirk::NZ_URG;
        }
        if flags & 0x08 != 0 {
            q |= quirk::PUSH;
        }

        let mut sig = SynSignature {
            response: ack,
            version: ip.version,
            ttl: ip.ttl,
            ip_options_len: ip.options_len,
            mss: None,
            window,
            scale: None,
            layout: Vec::new(),
            quirks: q,
            payload,
            timestamp: false,
            header_len: (if ip.version == 6 {
                40
            } else {
                20 + ip.options_len as usize
            } + data_off)
                .min(u16::MAX as usize) as u16,
        };
        sig.read_options(options, ack);
        Some(sig)
    }

    fn read_options(&mut self, opts: &[u8], response: bool) {
        let mut i = 0usize;
        while i < opts.len() && self.layout.len() < MAX_LAYOUT {
            let kind = opts[i];
            match kind {
                0 => {
                    let rest = &opts[i + 1..];
                    self.layout
                        .push(TcpOpt::Eol(rest.len().min(u8::MAX as usize) as u8));
                    if rest.iter().any(|b| *b != 0) {
                        self.quirks |= quirk::OPT_EOL_NZ;
                    }
                    return;
                }
                1 => {
                    self.layout.push(TcpOpt::Nop);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let Some(&len) = opts.get(i + 1) else {
                self.quirks |= quirk::OPT_BAD;
                return;
            };
            let len = len as usize;
            let body = if len >= 2 {
                opts.get(i + 2..i + len)
            } else {
                None
            };
            let Some(body) = body else {
                self.quirks |= quirk::OPT_BAD;
                // Still record the kind, as p0f does, so the layout shows where it broke.
                self.layout.push(known_opt(kind));
                return;
            };
            match kind {
                2 => {
                    self.layout.push(TcpOpt::Mss);
                    if body.len() == 2 {
                        self.mss = Some(u16::from_be_bytes([body[0], body[1]]));
                    } else {
                        self.quirks |= quirk::OPT_BAD;
                    }
                }
                3 => {
                    self.layout.push(TcpOpt::WindowScale);
                    if let [s] = body {
                        self.scale = Some(*s);
                        if *s > 14 {
                            self.quirks |= quirk::OPT_EXWS;
                        }
                    } else {
                        self.quirks |= quirk::OPT_BAD;
                    }
                }
                4 => {
                    self.layout.push(TcpOpt::SackOk);
                    if !body.is_empty() {
                        self.quirks |= quirk::OPT_BAD;
                    }
                }
                5 => self.layout.push(TcpOpt::Sack),
                8 => {
                    self.layout.push(TcpOpt::Timestamp);
                    if body.len() == 8 {
                        let ts1 = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                        let ts2 = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                        if ts1 == 0 {
                            self.quirks |= quirk::OPT_ZERO_TS1;
                        } else {
                            self.timestamp = true;
                        }
                        // A peer timestamp on a first SYN is odd; on a SYN+ACK it echoes.
                        if ts2 != 0 && !response {
                            self.quirks |= quirk::OPT_NZ_TS2;
                        }
                    } else {
                        self.quirks |= quirk::OPT_BAD;
                    }
                }
                k => self.layout.push(TcpOpt::Unknown(k)),
            }
            i += len;
        }
    }

    /// The window as a multiple of something, the way p0f reads it: of the MSS, of the MSS less
    /// the 12 timestamp bytes, of the MSS of a 1500-byte MTU, or of an MTU (`true`).
    pub fn window_multiple(&self) -> Option<(u16, bool)> {
        let mss = self.mss? as u32;
        let win = self.window as u32;
        if win == 0 || mss < 100 {
            return None;
        }
        let v6 = self.version == 6;
        // p0f's order of divisors; `None` where a rule does not apply to this segment.
        let candidates = [
            Some((mss, false)),
            self.timestamp.then(|| (mss - 12, false)),
            Some((1460, false)),
            Some((1448, false)),
            v6.then_some((1440, false)),
            v6.then_some((1428, false)),
            Some((mss + 40, true)),
            Some((mss + self.header_len as u32, true)),
            v6.then_some((mss + 60, true)),
            Some((1500, true)),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|(div, _)| win.is_multiple_of(*div))
            .map(|(div, mtu)| ((win / div) as u16, mtu))
    }

    /// The initial TTL the sender most likely used (the next of 32, 64, 128, 255).
    pub fn initial_ttl(&self) -> u8 {
        match self.ttl {
            0..=32 => 32,
            33..=64 => 64,
            65..=128 => 128,
            _ => 255,
        }
    }
}

fn known_opt(kind: u8) -> TcpOpt {
    match kind {
        2 => TcpOpt::Mss,
        3 => TcpOpt::WindowScale,
        4 => TcpOpt::SackOk,
        5 => TcpOpt::Sack,
        8 => TcpOpt::Timestamp,
        k => TcpOpt::Unknown(k),
    }
}

impl fmt::Display for SynSignature {
    /// p0f's `raw_sig` form: `4:55+9:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0` (TTL as
    /// observed+distance to the initial TTL; window as a multiple of MSS or MTU where it is one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ittl = self.initial_ttl();
        let win = match self.window_multiple() {
            Some((n, false)) => format!("mss*{n}"),
            Some((n, true)) => format!("mtu*{n}"),
            None => self.window.to_string(),
        };
        let layout: Vec<String> = self.layout.iter().map(ToString::to_string).collect();
        write!(
            f,
            "{}:{}+{}:{}:{}:{},{}:{}:{}:{}",
            self.version,
            self.ttl,
            ittl.saturating_sub(self.ttl),
            self.ip_options_len,
            self.mss.map_or("*".to_string(), |m| m.to_string()),
            win,
            self.scale.unwrap_or(0),
            layout.join(","),
            quirks_to_string(self.quirks),
            if self.payload { "+" } else { "0" }
        )
    }
}

/// How a signature's window size is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    Any,
    Exact(u16),
    MssMultiple(u16),
    MtuMultiple(u16),
    Modulo(u16),
}

/// A p0f label: `type:class:name:flavor` (type `s` specific, `g` generic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P0fLabel {
    pub generic: bool,
    /// `unix`, `win`, `!` (an application, not an OS)...
    pub class: String,
    pub name: String,
    pub flavor: String,
}

impl P0fLabel {
    /// "Linux 3.11 and newer".
    pub fn os(&self) -> String {
        if self.flavor.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.name, self.flavor)
        }
    }
}

impl fmt::Display for P0fLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            if self.generic { "g" } else { "s" },
            self.class,
            self.name,
            self.flavor
        )
    }
}

/// One `sig =` line of the `[tcp:request]` or `[tcp:response]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSignature {
    pub response: bool,
    /// `None` = any IP version.
    pub version: Option<u8>,
    pub ittl: u8,
    /// `64-`: the TTL is unreliable (any distance matches).
    pub bad_ttl: bool,
    pub ip_options_len: u8,
    pub mss: Option<u16>,
    pub window: WindowSpec,
    pub scale: Option<u8>,
    pub layout: Vec<TcpOpt>,
    pub quirks: u32,
    /// `None` = any; `Some(true)` = payload required.
    pub payload: Option<bool>,
    /// The signature text as written in the source.
    pub text: String,
}

/// Quality of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchQuality {
    Fuzzy,
    Generic,
    Exact,
}

/// p0f's limit on plausible hop distance.
const MAX_DIST: u8 = 35;

impl TcpSignature {
    /// Parses `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`.
    pub fn parse(text: &str, response: bool) -> Result<TcpSignature, String> {
        let f: Vec<&str> = text.trim().split(':').collect();
        if f.len() != 8 {
            return Err(format!(
                "expected 8 ':'-separated fields, found {}",
                f.len()
            ));
        }
        let version = match f[0] {
            "*" => None,
            "4" => Some(4),
            "6" => Some(6),
            v => return Err(format!("bad IP version {v:?}")),
        };
        let (ttl_text, bad_ttl) = match f[1].strip_suffix('-') {
            Some(t) => (t, true),
            None => (f[1], false),
        };
        // p0f's raw form "55+9" (observed TTL + distance) also parses, as their sum.
        let bad = || format!("bad initial TTL {:?}", f[1]);
        let ittl: u8 = match ttl_text.split_once('+') {
            Some((t, d)) => {
                let (t, d): (u8, u8) =
                    (t.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
                t.checked_add(d).ok_or_else(bad)?
            }
            None => ttl_text.parse().map_err(|_| bad())?,
        };
        let ip_options_len: u8 = f[2]
            .parse()
            .map_err(|_| format!("bad IP option length {:?}", f[2]))?;
        let mss = match f[3] {
            "*" => None,
            m => Some(m.parse().map_err(|_| format!("bad MSS {m:?}"))?),
        };
        let (win, scale) = f[4]
            .split_once(',')
            .ok_or_else(|| format!("window field {:?} lacks ',scale'", f[4]))?;
        let num = |s: &str| s.parse::<u16>().map_err(|_| format!("bad window {win:?}"));
        let window = if win == "*" {
            WindowSpec::Any
        } else if let Some(n) = win.strip_prefix("mss*") {
            WindowSpec::MssMultiple(num(n)?)
        } else if let Some(n) = win.strip_prefix("mtu*") {
            WindowSpec::MtuMultiple(num(n)?)
        } else if let Some(n) = win.strip_prefix('%') {
            let n = num(n)?;
            if n == 0 {
                return Err("window modulo 0".into());
            }
            WindowSpec::Modulo(n)
        } else {
            WindowSpec::Exact(num(win)?)
        };
        let scale = match scale {
            "*" => None,
            s => Some(s.parse().map_err(|_| format!("bad window scale {s:?}"))?),
        };
        let mut layout = Vec::new();
        for o in f[5].split(',').filter(|s| !s.is_empty()) {
            layout.push(match o {
                "nop" => TcpOpt::Nop,
                "mss" => TcpOpt::Mss,
                "ws" => TcpOpt::WindowScale,
                "sok" => TcpOpt::SackOk,
                "sack" => TcpOpt::Sack,
                "ts" => TcpOpt::Timestamp,
                o => {
                    if let Some(n) = o.strip_prefix("eol+") {
                        TcpOpt::Eol(n.parse().map_err(|_| format!("bad option {o:?}"))?)
                    } else if let Some(n) = o.strip_prefix('?') {
                        TcpOpt::Unknown(n.parse().map_err(|_| format!("bad option {o:?}"))?)
                    } else {
                        return Err(format!("unknown TCP option {o:?}"));
                    }
                }
            });
        }
        let mut quirks = 0u32;
        for q in f[6].split(',').filter(|s| !s.is_empty()) {
            let i = QUIRK_NAMES
                .iter()
                .position(|n| *n == q)
                .ok_or_else(|| format!("unknown quirk {q:?}"))?;
            quirks |= 1 << i;
        }
        let payload = match f[7] {
            "*" => None,
            "0" => Some(false),
            "+" => Some(true),
            p => return Err(format!("bad payload class {p:?}")),
        };
        Ok(TcpSignature {
            response,
            version,
            ittl,
            bad_ttl,
            ip_options_len,
            mss,
            window,
            scale,
            layout,
            quirks,
            payload,
            text: text.trim().to_string(),
        })
    }

    /// Whether `obs` matches, and whether exactly or fuzzily (generic-ness is the label's).
    pub fn matches(&self, obs: &SynSignature) -> Option<bool> {
        if self.response != obs.response
            || self.version.is_some_and(|v| v != obs.version)
            || self.ip_options_len != obs.ip_options_len
            || self.layout != obs.layout
            || self.payload.is_some_and(|p| p != obs.payload)
            || self.mss.is_some_and(|m| Some(m) != obs.mss)
            || self.scale.is_some_and(|s| s != obs.scale.unwrap_or(0))
        {
            return None;
        }
        let window_ok = match self.window {
            WindowSpec::Any => true,
            WindowSpec::Exact(w) => w == obs.window,
            WindowSpec::Modulo(m) => obs.window.is_multiple_of(m),
            WindowSpec::MssMultiple(n) => obs.window_multiple() == Some((n, false)),
            WindowSpec::MtuMultiple(n) => obs.window_multiple() == Some((n, true)),
        };
        if !window_ok {
            return None;
        }
        let mut fuzzy = false;
        if self.quirks != obs.quirks {
            // p0f's rule: 'df' or 'id+' disappearing, or 'id-' or 'ecn' appearing (what NAT
            // and middleboxes do to a packet) still matches, fuzzily.
            let missing = self.quirks & !obs.quirks;
            let extra = obs.quirks & !self.quirks;
            if missing & !(quirk::DF | quirk::NZ_ID) != 0
                || extra & !(quirk::ZERO_ID | quirk::ECN) != 0
            {
                return None;
            }
            fuzzy = true;
        }
        if self.bad_ttl {
            if self.ittl < obs.ttl {
                return None;
            }
        } else if self.ittl < obs.ttl
            || u16::from(obs.ttl) + u16::from(MAX_DIST) < u16::from(self.ittl)
        {
            // A TTL above the initial one or too far below it: still a fuzzy match in p0f.
            fuzzy = true;
        }
        Some(!fuzzy)
    }
}

/// Signatures of one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpFingerprint {
    pub label: P0fLabel,
    pub signatures: Vec<TcpSignature>,
}

/// The TCP part of a p0f database, in file order (p0f's first-match order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpDatabase {
    pub fingerprints: Vec<TcpFingerprint>,
}

impl TcpDatabase {
    /// Parses the `[tcp:request]` and `[tcp:response]` sections of a `p0f.fp` file; other
    /// sections (MTU, HTTP) are skipped. Errors name the 1-based line.
    pub fn parse_p0f_fp(text: &str) -> Result<TcpDatabase, (usize, String)> {
        let mut db = TcpDatabase::default();
        let mut section: Option<bool> = None; // Some(response?) inside a TCP section
        let mut current: Option<TcpFingerprint> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                db.fingerprints.extend(current.take());
                section = match line {
                    "[tcp:request]" => Some(false),
                    "[tcp:response]" => Some(true),
                    _ => None,
                };
                continue;
            }
            let Some(response) = section else { continue };
            let Some((key, value)) = line.split_once('=') else {
                return Err((n + 1, format!("expected 'key = value', found {line:?}")));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "label" => {
                    db.fingerprints.extend(current.take());
                    current = Some(TcpFingerprint {
                        label: parse_label(value).map_err(|e| (n + 1, e))?,
                        signatures: Vec::new(),
                    });
                }
                "sig" => {
                    let sig = TcpSignature::parse(value, response).map_err(|e| (n + 1, e))?;
                    match current.as_mut() {
                        Some(c) => c.signatures.push(sig),
                        None => return Err((n + 1, "sig before any label".into())),
                    }
                }
                // `sys = ...` lists systems an application label applies to.
                _ => {}
            }
        }
        db.fingerprints.extend(current);
        Ok(db)
    }

    /// Number of signatures.
    pub fn len(&self) -> usize {
        self.fingerprints.iter().map(|f| f.signatures.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The best match: the first exact specific one, else the first exact generic one, else
    /// the first fuzzy one (p0f's order of preference).
    pub fn best_match(
        &self,
        obs: &SynSignature,
    ) -> Option<(&TcpFingerprint, &TcpSignature, MatchQuality)> {
        let mut generic = None;
        let mut fuzzy = None;
        for fp in &self.fingerprints {
            for sig in &fp.signatures {
                match sig.matches(obs) {
                    Some(true) if !fp.label.generic => return Some((fp, sig, MatchQuality::Exact)),
                    Some(true) => {
                        generic.get_or_insert((fp, sig, MatchQuality::Generic));
                    }
                    Some(false) => {
                        fuzzy.get_or_insert((fp, sig, MatchQuality::Fuzzy));
                    }
                    None => {}
                }
            }
        }
        generic.or(fuzzy)
    }
}

fn parse_label(s: &str) -> Result<P0fLabel, String> {
    let mut parts = s.splitn(4, ':');
    let (Some(t), Some(class), Some(name), Some(flavor)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("label {s:?} is not type:class:name:flavor"));
    };
    let generic = match t {
        "s" => false,
        "g" => true,
        _ => return Err(format!("label type {t:?} is neither s nor g")),
    };
    Ok(P0fLabel {
        generic,
        class: class.to_string(),
        name: name.to_string(),
        flavor: flavor.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Linux 3.x-style SYN: MSS 1460, window 29200 (mss*20), scale 7, DF, non-zero IP id.
    fn linux_syn() -> (IpFacts, Vec<u8>) {
        let ip = IpFacts {
            version: 4,
            ttl: 61,
            dont_fragment: true,
            id: 0x1234,
            ..Default::default()
        };
        let mut seg = vec![
            0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0x72, 0x10, 0, 0, 0, 0,
        ];
        seg.extend([
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        (ip, seg)
    }

    const LINUX: &str = "label = s:unix:Linux:3.11 and newer\nsig = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\nsig = *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0\n";

    fn db(body: &str) -> TcpDatabase {
        TcpDatabase::parse_p0f_fp(&format!("[tcp:request]\n{body}")).unwrap()
    }

    #[test]
    fn reads_a_linux_syn() {
        let (ip, seg) = linux_syn();
        let s = SynSignature::from_segment(ip, &seg).unwrap();
        assert_eq!(
            s.to_string(),
            "4:61+3:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"
        );
        assert_eq!(s.mss, Some(1460));
        assert_eq!(s.scale, Some(7));
        assert!(!s.response);
    }

    #[test]
    fn exact_specific_match_and_fuzzy_when_nat_clears_df() {
        let d = db(LINUX);
        let (mut ip, seg) = linux_syn();
        let s = SynSignature::from_segment(ip, &seg).unwrap();
        let (fp, sig, q) = d.best_match(&s).unwrap();
        assert_eq!(fp.label.os(), "Linux 3.11 and newer");
        assert_eq!(sig.text, "*:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0");
        assert_eq!(q, MatchQuality::Exact);
        ip.dont_fragment = false;
        let s = SynSignature::from_segment(ip, &seg).unwrap();
        assert_eq!(d.best_match(&s).unwrap().2, MatchQuality::Fuzzy);
    }

    #[test]
    fn no_match_on_other_layout_window_or_higher_ttl() {
        let d = db(LINUX);
        let (ip, mut seg) = linux_syn();
        seg[14..16].copy_from_slice(&8192u16.to_be_bytes());
        assert!(
            d.best_match(&SynSignature::from_segment(ip, &seg).unwrap())
                .is_none()
        );
        let (mut ip, seg) = linux_syn();
        ip.ttl = 100; // above the signature's initial TTL of 64: fuzzy, as in p0f
        let s = SynSignature::from_segment(ip, &seg).unwrap();
        assert_eq!(d.best_match(&s).unwrap().2, MatchQuality::Fuzzy);
        let (ip, mut seg) = linux_syn();
        seg[13] = 0x22; // SYN+URG: urgf+ is not a quirk NAT adds, so no match at all
        assert!(
            d.best_match(&SynSignature::from_segment(ip, &seg).unwrap())
                .is_none()
        );
        let (ip, mut seg) = linux_syn();
        seg[13] = 0x12; // SYN+ACK: request signatures do not apply
        assert!(
            d.best_match(&SynSignature::from_segment(ip, &seg).unwrap())
                .is_none()
        );
    }

    #[test]
    fn specific_beats_generic_even_when_listed_later() {
        let d = db(&format!(
            "label = g:unix:Linux:2.2.x-3.x\nsig = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0\n{LINUX}"
        ));
        let (ip, seg) = linux_syn();
        let (fp, _, q) = d
            .best_match(&SynSignature::from_segment(ip, &seg).unwrap())
            .unwrap();
        assert!(!fp.label.generic);
        assert_eq!(q, MatchQuality::Exact);
    }

    #[test]
    fn malformed_options_are_a_quirk_not_an_error() {
        let (ip, mut seg) = linux_syn();
        seg.truncate(20 + 7); // timestamp option cut short
        let s = SynSignature::from_segment(ip, &seg).unwrap();
        assert!(s.quirks & quirk::OPT_BAD != 0);
        assert!(SynSignature::from_segment(ip, &seg[..19]).is_none());
    }

    #[test]
    fn bad_signature_lines_name_the_line() {
        let e = TcpDatabase::parse_p0f_fp("[tcp:request]\nlabel = s:unix:X:1\nsig = 4:64:0\n")
            .unwrap_err();
        assert_eq!(e.0, 3);
        let e = TcpDatabase::parse_p0f_fp(
            "[tcp:request]\nlabel = s:unix:X:1\nsig = *:64:0:*:mss*4,7:mss,zzz:df:0\n",
        )
        .unwrap_err();
        assert!(e.1.contains("zzz"), "{}", e.1);
    }

    #[test]
    fn parses_the_real_p0f_database() {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kb/p0f/p0f.fp");
        let Ok(text) = std::fs::read_to_string(&p) else {
            eprintln!("skipping: {} not found", p.display());
            return;
        };
        let d = TcpDatabase::parse_p0f_fp(&text).unwrap();
        // PROVENANCE.md: 91 [tcp:request] and 101 [tcp:response] signatures.
        let req = d
            .fingerprints
            .iter()
            .flat_map(|f| &f.signatures)
            .filter(|s| !s.response)
            .count();
        let resp = d.len() - req;
        assert_eq!((req, resp), (91, 101));
        let (ip, seg) = linux_syn();
        let (fp, _, q) = d
            .best_match(&SynSignature::from_segment(ip, &seg).unwrap())
            .unwrap();
        assert_eq!(fp.label.to_string(), "s:unix:Linux:3.11 and newer");
        assert_eq!(q, MatchQuality::Exact);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_segment(seg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
                                       ttl in 0u8.., v6 in proptest::prelude::any::<bool>()) {
            let ip = IpFacts { version: if v6 { 6 } else { 4 }, ttl, ..Default::default() };
            if let Some(s) = SynSignature::from_segment(ip, &seg) {
                // The observed form parses back as a signature with the same layout and quirks.
                let back = TcpSignature::parse(&s.to_string(), s.response).unwrap();
                proptest::prop_assert_eq!(&back.layout, &s.layout);
                proptest::prop_assert_eq!(back.quirks, s.quirks);
            }
        }

        #[test]
        fn signature_parser_never_panics(text in ".{0,60}") {
            let _ = TcpSignature::parse(&text, false);
        }
    }
}
