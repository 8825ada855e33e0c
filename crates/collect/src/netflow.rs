//! NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) decoding.
//!
//! One [`Decoder`] serves every exporter: datagrams are decoded in place (records are read
//! straight from the borrowed datagram, nothing is copied but the fields of the emitted
//! [`FlowRecord`]), and templates are kept in a bounded cache keyed by exporter address,
//! version, source id / observation domain and template id. Malformed input yields a
//! [`DecodeError`] naming the byte offset; records decoded before the error are kept.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::record::FlowRecord;

/// Limits of the decoder's state (every table is capped; the least recently used entry goes).
#[derive(Debug, Clone, Copy)]
pub struct DecoderConfig {
    /// Templates over all exporters.
    pub max_templates: usize,
    /// Templates per exporter and source id / observation domain.
    pub max_templates_per_domain: usize,
    /// Fields per template (templates with more are refused).
    pub max_fields: usize,
    /// Exporter domains whose options data (sampling, system init time) is remembered.
    pub max_domains: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_templates: 4096,
            max_templates_per_domain: 512,
            max_fields: 256,
            max_domains: 1024,
        }
    }
}

/// What went wrong, and where in the datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct DecodeError {
    pub offset: usize,
    pub message: String,
}

fn err(offset: usize, message: impl Into<String>) -> DecodeError {
    DecodeError {
        offset,
        message: message.into(),
    }
}

/// Counters (monotonic) for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecoderStats {
    pub datagrams: u64,
    pub malformed: u64,
    pub flows: u64,
    pub options_records: u64,
    pub templates_added: u64,
    pub templates_withdrawn: u64,
    pub templates_evicted: u64,
    pub templates_refused: u64,
    /// Data sets skipped because their template was unknown.
    pub missing_template_sets: u64,
    /// Export datagrams (v5, v9) or data records (IPFIX) missing by sequence number: lost on
    /// the way (UDP) or dropped by the exporter.
    pub sequence_lost: u64,
}

/// A summary of one decoded datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub version: u16,
    /// Flow records emitted from it.
    pub flows: usize,
    /// v5 flow sequence, v9 packet sequence, IPFIX sequence number.
    pub sequence: u32,
    /// v9 source id, IPFIX observation domain id, v5 engine type/id.
    pub domain: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    id: u16,
    /// 0xffff: variable length (IPFIX only).
    len: u16,
    /// Private enterprise number; 0 for IANA elements.
    enterprise: u32,
}

const VARLEN: u16 = 0xffff;
/// RFC 5103 reverse information elements.
const REVERSE_PEN: u32 = 29305;

#[derive(Debug, Clone)]
struct Template {
    fields: Vec<Field>,
    /// Scope fields lead an options template; `None` for flow templates.
    scope_fields: Option<usize>,
    /// Smallest possible record length (a varlen field takes at least one byte).
    min_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct DomainKey {
    exporter: IpAddr,
    version: u16,
    domain: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TemplateKey {
    d: DomainKey,
    id: u16,
}

/// Bounded LRU template cache.
#[derive(Debug, Default)]
struct TemplateCache {
    map: HashMap<TemplateKey, (Template, u64)>,
    lru: BTreeMap<u64, TemplateKey>,
    per_domain: HashMap<DomainKey, usize>,
    tick: u64,
}

impl TemplateCache {
    fn get(&mut self, k: &TemplateKey) -> Option<&Template> {
        self.tick += 1;
        let tick = self.tick;
        let (t, used) = self.map.get_mut(k)?;
        self.lru.remove(used);
        *used = tick;
        self.lru.insert(tick, *k);
        Some(t)
    }

    fn remove(&mut self, k: &TemplateKey) -> bool {
        let Some((_, used)) = self.map.remove(k) else {
            return false;
        };
        self.lru.remove(&used);
        if let Some(n) = self.per_domain.get_mut(&k.d) {
            *n -= 1;
            if *n == 0 {
                self.per_domain.remove(&k.d);
            }
        }
        true
    }

    /// Inserts; returns how many entries were evicted to make room.
    fn insert(&mut self, k: TemplateKey, t: Template, cfg: &DecoderConfig) -> u64 {
        let mut evicted = 0;
        if self.map.contains_key(&k) {
            self.remove(&k);
        } else {
            if self.per_domain.get(&k.d).copied().unwrap_or(0) >= cfg.max_templates_per_domain {
                let victim = self.lru.values().find(|v| v.d == k.d).copied();
                if let Some(v) = victim {
                    self.remove(&v);
                    evicted += 1;
                }
            }
            while self.map.len() >= cfg.max_templates.max(1) {
                let Some((_, v)) = self.lru.iter().next().map(|(a, b)| (*a, *b)) else {
                    break;
                };
                self.remove(&v);
                evicted += 1;
            }
        }
        self.tick += 1;
        self.lru.insert(self.tick, k);
        self.map.insert(k, (t, self.tick));
        *self.per_domain.entry(k.d).or_default() += 1;
        evicted
    }
}

/// What options records told us about an exporter domain.
#[derive(Debug, Clone, Copy, Default)]
struct DomainInfo {
    /// IPFIX systemInitTimeMilliseconds (IE 160): the epoch of sysUpTime fields.
    sys_init_ms: Option<u64>,
    sampling: Option<u32>,
    /// The sequence number the next datagram should carry.
    next_sequence: Option<u32>,
    last_used: u64,
}

/// Per-datagram time context.
#[derive(Debug, Clone, Copy)]
struct TimeCtx {
    /// Unix ms of the export (header).
    export_ms: i64,
    /// v9: header sysUpTime in ms.
    uptime_ms: Option<i64>,
    /// IPFIX: system init time from options data.
    sys_init_ms: Option<i64>,
}

/// The stateful decoder for all three versions.
#[derive(Debug, Default)]
pub struct Decoder {
    cfg: DecoderConfig,
    templates: TemplateCache,
    domains: HashMap<DomainKey, DomainInfo>,
    domain_tick: u64,
    pub stats: DecoderStats,
}

#[inline]
fn be(b: &[u8], off: usize, n: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(n)?)?;
    Some(s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

#[inline]
fn be16(b: &[u8], off: usize) -> Option<u16> {
    be(b, off, 2).map(|v| v as u16)
}

#[inline]
fn be32(b: &[u8], off: usize) -> Option<u32> {
    be(b, off, 4).map(|v| v as u32)
}

/// Unsigned integer of any encoded width up to 8 bytes (RFC 7011 §6.2 reduced-size encoding).
#[inline]
fn uint(v: &[u8]) -> u64 {
    v.iter().take(8).fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

/// NTP timestamp (RFC 7011 dateTimeMicroseconds/Nanoseconds) to Unix ns.
fn ntp_to_unix_ns(v: u64) -> i64 {
    const NTP_UNIX_OFFSET: i64 = 2_208_988_800;
    let secs = (v >> 32) as i64 - NTP_UNIX_OFFSET;
    let frac = ((v & 0xffff_ffff) * 1_000_000_000) >> 32;
    secs.saturating_mul(1_000_000_000)
        .saturating_add(frac as i64)
}

/// Raw time fields of one record, resolved once the record is complete.
#[derive(Debug, Default, Clone, Copy)]
struct RawTimes {
    start_ns: Option<i64>,
    end_ns: Option<i64>,
    start_uptime_ms: Option<i64>,
    end_uptime_ms: Option<i64>,
    start_delta_us: Option<i64>,
    end_delta_us: Option<i64>,
    sys_init_ms: Option<i64>,
}

fn apply_field(r: &mut FlowRecord, t: &mut RawTimes, f: &Field, v: &[u8]) {
    if f.enterprise == REVERSE_PEN {
        match f.id {
            1 | 85 => r.rev_bytes = uint(v),
            2 | 86 => r.rev_packets = uint(v),
            6 => r.rev_tcp_flags = uint(v) as u8,
            _ => {}
        }
        return;
    }
    if f.enterprise != 0 {
        return; // other vendors' elements are skipped (their length is known)
    }
    match (f.id, v.len()) {
        (1 | 85 | 23, _) => r.bytes = uint(v),
        (2 | 86 | 24, _) => r.packets = uint(v),
        (4, _) => r.proto = uint(v) as u8,
        (5, _) => r.tos = uint(v) as u8,
        (6, _) => r.tcp_flags = uint(v) as u8,
        (7, _) => r.src_port = uint(v) as u16,
        (11, _) => r.dst_port = uint(v) as u16,
        (8, 4) => r.src = IpAddr::from([v[0], v[1], v[2], v[3]]),
        (12, 4) => r.dst = IpAddr::from([v[0], v[1], v[2], v[3]]),
        (27, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            r.src = IpAddr::from(a);
        }
        (28, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            r.dst = IpAddr::from(a);
        }
        (32 | 139, 2) => r.dst_port = uint(v) as u16,
        (10, _) => r.input_if = uint(v) as u32,
        (14, _) => r.output_if = uint(v) as u32,
        (56, 6) => r.src_mac = v.try_into().ok(),
        (80, 6) => r.dst_mac = v.try_into().ok(),
        (22, _) => t.start_uptime_ms = Some(uint(v) as i64),
        (21, _) => t.end_uptime_ms = Some(uint(v) as i64),
        (150, _) => t.start_ns = Some((uint(v) as i64).saturating_mul(1_000_000_000)),
        (151, _) => t.end_ns = Some((uint(v) as i64).saturating_mul(1_000_000_000)),
        (152, _) => t.start_ns = Some((uint(v) as i64).saturating_mul(1_000_000)),
        (153, _) => t.end_ns = Some((uint(v) as i64).saturating_mul(1_000_000)),
        (154 | 156, 8) => t.start_ns = Some(ntp_to_unix_ns(uint(v))),
        (155 | 157, 8) => t.end_ns = Some(ntp_to_unix_ns(uint(v))),
        (158, _) => t.start_delta_us = Some(uint(v) as i64),
        (159, _) => t.end_delta_us = Some(uint(v) as i64),
        (160, _) => t.sys_init_ms = Some(uint(v) as i64),
        _ => {}
    }
}

fn resolve_times(r: &mut FlowRecord, t: &RawTimes, ctx: &TimeCtx) {
    let export_ns = ctx.export_ms.saturating_mul(1_000_000);
    let uptime_to_ns = |ms: i64| -> Option<i64> {
        if let Some(init) = t.sys_init_ms.or(ctx.sys_init_ms) {
            return Some(init.saturating_add(ms).saturating_mul(1_000_000));
        }
        let up = ctx.uptime_ms?;
        Some(
            ctx.export_ms
                .saturating_sub(up)
                .saturating_add(ms)
                .saturating_mul(1_000_000),
        )
    };
    let start = t
        .start_ns
        .or_else(|| t.start_uptime_ms.and_then(uptime_to_ns))
        .or_else(|| {
            t.start_delta_us
                .map(|d| export_ns.saturating_sub(d.saturating_mul(1000)))
        });
    let end = t
        .end_ns
        .or_else(|| t.end_uptime_ms.and_then(uptime_to_ns))
        .or_else(|| {
            t.end_delta_us
                .map(|d| export_ns.saturating_sub(d.saturating_mul(1000)))
        });
    r.end_ns = end.or(start).unwrap_or(export_ns);
    r.start_ns = start.unwrap_or(r.end_ns);
}

impl Decoder {
    pub fn new(cfg: DecoderConfig) -> Self {
        Decoder {
            cfg,
            ..Default::default()
        }
    }

    /// Templates currently cached.
    pub fn templates(&self) -> usize {
        self.templates.map.len()
    }

    /// The sampling interval an exporter domain announced in options data, if any.
    pub fn sampling(&self, exporter: IpAddr, version: u16, domain: u32) -> Option<u32> {
        self.domains
            .get(&DomainKey {
                exporter,
                version,
                domain,
            })
            .and_then(|d| d.sampling)
    }

    /// Decodes one export datagram from `exporter`, calling `emit` for each flow record.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        emit: &mut dyn FnMut(&FlowRecord),
    ) -> Result<Datagram, DecodeError> {
        self.stats.datagrams += 1;
        let res = match be16(datagram, 0) {
            Some(5) => self.v5(datagram, emit),
            Some(9) => self.v9(exporter, datagram, emit),
            Some(10) => self.ipfix(exporter, datagram, emit),
            Some(v) => Err(err(0, format!("unsupported export version {v}"))),
            None => Err(err(0, "datagram shorter than a version field")),
        };
        match &res {
            Ok(d) => {
                self.stats.flows += d.flows as u64;
                self.track_sequence(exporter, d);
            }
            Err(_) => self.stats.malformed += 1,
        }
        res
    }

    /// Counts records lost between this datagram and the previous one of its domain
    /// (v5: flows, v9: export packets, IPFIX: data records; RFC 3954 §5.1, RFC 7011 §3.1).
    fn track_sequence(&mut self, exporter: IpAddr, d: &Datagram) {
        let key = DomainKey {
            exporter,
            version: d.version,
            domain: d.domain,
        };
        let advance = match d.version {
            9 => 1,
            _ => d.flows as u32,
        };
        let info = self.domain_info(key);
        let mut lost = 0;
        if let Some(expected) = info.next_sequence {
            let gap = d.sequence.wrapping_sub(expected);
            // A sequence behind the expected one is a reordering or an exporter restart.
            if gap != 0 && gap < 1 << 31 {
                lost = u64::from(gap);
            }
        }
        info.next_sequence = Some(d.sequence.wrapping_add(advance));
        self.stats.sequence_lost += lost;
    }

    fn v5(&mut self, b: &[u8], emit: &mut dyn FnMut(&FlowRecord)) -> Result<Datagram, DecodeError> {
        const HDR: usize = 24;
        const REC: usize = 48;
        if b.len() < HDR {
            return Err(err(
                b.len(),
                "NetFlow v5 header truncated (24 bytes needed)",
            ));
        }
        let count = be16(b, 2).unwrap_or(0) as usize;
        if count == 0 || count > 30 {
            return Err(err(2, format!("NetFlow v5 count {count} outside 1..=30")));
        }
        let need = HDR + count * REC;
        if b.len() < need {
            return Err(err(
                b.len(),
                format!(
                    "NetFlow v5 datagram of {} bytes holds fewer than its {count} records",
                    b.len()
                ),
            ));
        }
        let uptime = i64::from(be32(b, 4).unwrap_or(0));
        let secs = i64::from(be32(b, 8).unwrap_or(0));
        let nsecs = i64::from(be32(b, 12).unwrap_or(0));
        let seq = be32(b, 16).unwrap_or(0);
        let domain = u32::from(be16(b, 20).unwrap_or(0));
        let export_ns = secs * 1_000_000_000 + nsecs.min(999_999_999);
        let at = |sysuptime_ms: i64| export_ns - (uptime - sysuptime_ms) * 1_000_000;
        for i in 0..count {
            let o = HDR + i * REC;
            let r = &b[o..o + REC];
            let ip4 = |k: usize| IpAddr::from([r[k], r[k + 1], r[k + 2], r[k + 3]]);
            let rec = FlowRecord {
                src: ip4(0),
                dst: ip4(4),
                input_if: u32::from(be16(r, 12).unwrap_or(0)),
                output_if: u32::from(be16(r, 14).unwrap_or(0)),
                packets: u64::from(be32(r, 16).unwrap_or(0)),
                bytes: u64::from(be32(r, 20).unwrap_or(0)),
                start_ns: at(i64::from(be32(r, 24).unwrap_or(0))),
                end_ns: at(i64::from(be32(r, 28).unwrap_or(0))),
                src_port: be16(r, 32).unwrap_or(0),
                dst_port: be16(r, 34).unwrap_or(0),
                tcp_flags: r[37],
                proto: r[38],
                tos: r[39],
                ..FlowRecord::default()
            };
            emit(&rec);
        }
        Ok(Datagram {
            version: 5,
            flows: count,
            sequence: seq,
            domain,
        })
    }

    fn domain_info(&mut self, d: DomainKey) -> &mut DomainInfo {
        self.domain_tick += 1;
        if !self.domains.contains_key(&d)
            && self.domains.len() >= self.cfg.max_domains.max(1)
            && let Some(oldest) = self
                .domains
                .iter()
                .min_by_key(|(_, v)| v.last_used)
                .map(|(k, _)| *k)
        {
            self.domains.remove(&oldest);
        }
        let tick = self.domain_tick;
        let e = self.domains.entry(d).or_default();
        e.last_used = tick;
        e
    }

    fn v9(
        &mut self,
        exporter: IpAddr,
        b: &[u8],
        emit: &mut dyn FnMut(&FlowRecord),
    ) -> Result<Datagram, DecodeError> {
        const HDR: usize = 20;
        if b.len() < HDR {
            return Err(err(
                b.len(),
                "NetFlow v9 header truncated (20 bytes needed)",
            ));
        }
        let uptime = i64::from(be32(b, 4).unwrap_or(0));
        let secs = i64::from(be32(b, 8).unwrap_or(0));
        let seq = be32(b, 12).unwrap_or(0);
        let source_id = be32(b, 16).unwrap_or(0);
        let d = DomainKey {
            exporter,
            version: 9,
            domain: source_id,
        };
        let ctx = TimeCtx {
            export_ms: secs * 1000,
            uptime_ms: Some(uptime),
            sys_init_ms: None,
        };
        let flows = self.sets(b, HDR, b.len(), d, &ctx, emit, SetIds::V9)?;
        Ok(Datagram {
            version: 9,
            flows,
            sequence: seq,
            domain: source_id,
        })
    }

    fn ipfix(
        &mut self,
        exporter: IpAddr,
        b: &[u8],
        emit: &mut dyn FnMut(&FlowRecord),
    ) -> Result<Datagram, DecodeError> {
        const HDR: usize = 16;
        if b.len() < HDR {
            return Err(err(
                b.len(),
                "IPFIX message header truncated (16 bytes needed)",
            ));
        }
        let len = be16(b, 2).unwrap_or(0) as usize;
        if len < HDR || len > b.len() {
            return Err(err(
                2,
                format!(
                    "IPFIX message length {len} invalid for a {}-byte datagram",
                    b.len()
                ),
            ));
        }
        let export_s = i64::from(be32(b, 4).unwrap_or(0));
        let seq = be32(b, 8).unwrap_or(0);
        let odid = be32(b, 12).unwrap_or(0);
        let d = DomainKey {
            exporter,
            version: 10,
            domain: odid,
        };
        let sys_init = self
            .domains
            .get(&d)
            .and_then(|i| i.sys_init_ms)
            .map(|v| v as i64);
        let ctx = TimeCtx {
            export_ms: export_s * 1000,
            uptime_ms: None,
            sys_init_ms: sys_init,
        };
        let flows = self.sets(b, HDR, len, d, &ctx, emit, SetIds::Ipfix)?;
        Ok(Datagram {
            version: 10,
            flows,
            sequence: seq,
            domain: odid,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn sets(
        &mut self,
        b: &[u8],
        mut off: usize,
        end: usize,
        d: DomainKey,
        ctx: &TimeCtx,
        emit: &mut dyn FnMut(&FlowRecord),
        ids: SetIds,
    ) -> Result<usize, DecodeError> {
        let mut flows = 0;
        let mut ctx = *ctx;
        while off < end {
            if end.saturating_sub(off) < 4 {
                // v9 allows trailing padding after the last flowset.
                if ids == SetIds::V9 && b[off..end].iter().all(|&x| x == 0) {
                    break;
                }
                return Err(err(off, "set header truncated"));
            }
            let set_id = be16(b, off).unwrap_or(0);
            let set_len = be16(b, off + 2).unwrap_or(0) as usize;
            if set_len < 4 || off + set_len > end {
                return Err(err(
                    off + 2,
                    format!("set {set_id} length {set_len} runs outside the message"),
                ));
            }
            let body = off + 4..off + set_len;
            if set_id == ids.template() {
                self.templates_set(b, body, d, false, ids)?;
            } else if set_id == ids.options() {
                self.templates_set(b, body, d, true, ids)?;
            } else if set_id >= 256 {
                flows += self.data_set(b, body, d, set_id, &mut ctx, emit)?;
            } else {
                // Reserved set ids are skipped (RFC 7011 §3.3.2).
            }
            off += set_len;
        }
        Ok(flows)
    }

    fn templates_set(
        &mut self,
        b: &[u8],
        body: std::ops::Range<usize>,
        d: DomainKey,
        options: bool,
        ids: SetIds,
    ) -> Result<(), DecodeError> {
        let mut off = body.start;
        let end = body.end;
        // Each template record needs at least 4 bytes; anything shorter is padding.
        while end.saturating_sub(off) >= 4 {
            let id = be16(b, off).unwrap_or(0);
            let count = be16(b, off + 2).unwrap_or(0) as usize;
            if id == 0 && count == 0 {
                break; // padding
            }
            if id < 256 {
                return Err(err(off, format!("template id {id} below 256")));
            }
            let key = TemplateKey { d, id };
            off += 4;
            // Parse the header variants.
            let (field_count, scope_count) = match (ids, options) {
                (SetIds::Ipfix, false) => (count, None),
                (SetIds::Ipfix, true) => {
                    if count == 0 {
                        (0, None) // options template withdrawal
                    } else {
                        let sc = be16(b, off)
                            .ok_or_else(|| err(off, "options template scope count truncated"))?
                            as usize;
                        off += 2;
                        if sc == 0 || sc > count {
                            return Err(err(off - 2, format!("scope field count {sc} invalid")));
                        }
                        (count, Some(sc))
                    }
                }
                (SetIds::V9, false) => (count, None),
                (SetIds::V9, true) => {
                    // v9 options: scope length and option length in bytes (4 per field).
                    let scope_len = count;
                    let opt_len = be16(b, off)
                        .ok_or_else(|| err(off, "options template option length truncated"))?
                        as usize;
                    off += 2;
                    if !scope_len.is_multiple_of(4) || !opt_len.is_multiple_of(4) {
                        return Err(err(off - 4, "options template lengths not multiples of 4"));
                    }
                    (scope_len / 4 + opt_len / 4, Some(scope_len / 4))
                }
            };
            if field_count == 0 {
                if self.templates.remove(&key) {
                    self.stats.templates_withdrawn += 1;
                }
                continue;
            }
            if field_count > self.cfg.max_fields {
                self.stats.templates_refused += 1;
                return Err(err(
                    off - 4,
                    format!(
                        "template {id} has {field_count} fields (limit {})",
                        self.cfg.max_fields
                    ),
                ));
            }
            let mut fields = Vec::with_capacity(field_count);
            let mut min_len = 0usize;
            for _ in 0..field_count {
                let raw_id =
                    be16(b, off).ok_or_else(|| err(off, format!("template {id} truncated")))?;
                let len =
                    be16(b, off + 2).ok_or_else(|| err(off, format!("template {id} truncated")))?;
                off += 4;
                let (fid, enterprise) = if ids == SetIds::Ipfix && raw_id & 0x8000 != 0 {
                    let pen =
                        be32(b, off).ok_or_else(|| err(off, "enterprise number truncated"))?;
                    off += 4;
                    (raw_id & 0x7fff, pen)
                } else {
                    (raw_id, 0)
                };
                if len == VARLEN && ids == SetIds::V9 {
                    return Err(err(
                        off - 2,
                        "variable-length field in a NetFlow v9 template",
                    ));
                }
                min_len += if len == VARLEN { 1 } else { len as usize };
                fields.push(Field {
                    id: fid,
                    len,
                    enterprise,
                });
            }
            if off > end {
                return Err(err(end, format!("template {id} runs past its set")));
            }
            if min_len == 0 {
                return Err(err(off, format!("template {id} describes empty records")));
            }
            let t = Template {
                fields,
                scope_fields: scope_count,
                min_len,
            };
            self.stats.templates_evicted += self.templates.insert(key, t, &self.cfg);
            self.stats.templates_added += 1;
        }
        Ok(())
    }

    fn data_set(
        &mut self,
        b: &[u8],
        body: std::ops::Range<usize>,
        d: DomainKey,
        set_id: u16,
        ctx: &mut TimeCtx,
        emit: &mut dyn FnMut(&FlowRecord),
    ) -> Result<usize, DecodeError> {
        let key = TemplateKey { d, id: set_id };
        let Some(t) = self.templates.get(&key) else {
            // Without the template the record size is unknown: the set is counted and skipped.
            self.stats.missing_template_sets += 1;
            return Ok(0);
        };
        // The template borrow must end before options data updates domain state.
        let t = t.clone();
        let mut off = body.start;
        let end = body.end;
        let mut flows = 0;
        while end.saturating_sub(off) >= t.min_len {
            let start = off;
            let mut rec = FlowRecord::default();
            let mut times = RawTimes::default();
            let mut sampling = None;
            let mut ok = true;
            for f in &t.fields {
                let len = if f.len == VARLEN {
                    let Some(l) = b.get(off).copied().filter(|_| off < end) else {
                        ok = false;
                        break;
                    };
                    off += 1;
                    if l == 255 {
                        let Some(l2) = be16(b, off).filter(|_| off + 2 <= end) else {
                            ok = false;
                            break;
                        };
                        off += 2;
                        l2 as usize
                    } else {
                        l as usize
                    }
                } else {
                    f.len as usize
                };
                let Some(v) = b.get(off..off + len).filter(|_| off + len <= end) else {
                    ok = false;
                    break;
                };
                off += len;
                if t.scope_fields.is_some() {
                    if f.enterprise == 0 && matches!(f.id, 34 | 305) {
                        sampling = Some(uint(v) as u32);
                    }
                    if f.enterprise == 0 && f.id == 160 {
                        times.sys_init_ms = Some(uint(v) as i64);
                    }
                } else {
                    apply_field(&mut rec, &mut times, f, v);
                }
            }
            if !ok {
                // A partial record at the end is padding only if it is all zero.
                if b[start..end].iter().all(|&x| x == 0) {
                    break;
                }
                return Err(err(start, format!("record of template {set_id} truncated")));
            }
            if t.scope_fields.is_some() {
                self.stats.options_records += 1;
                let info = self.domain_info(d);
                if let Some(s) = sampling {
                    info.sampling = Some(s);
                }
                if let Some(init) = times.sys_init_ms {
                    info.sys_init_ms = Some(init as u64);
                    ctx.sys_init_ms = Some(init);
                }
                continue;
            }
            resolve_times(&mut rec, &times, ctx);
            emit(&rec);
            flows += 1;
        }
        Ok(flows)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetIds {
    V9,
    Ipfix,
}

impl SetIds {
    fn template(self) -> u16 {
        match self {
            SetIds::V9 => 0,
            SetIds::Ipfix => 2,
        }
    }
    fn options(self) -> u16 {
        match self {
            SetIds::V9 => 1,
            SetIds::Ipfix => 3,
        }
    }
}
