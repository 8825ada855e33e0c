//! Matching: prefilter, per-flow state (bounded stream reassembly, HTTP transactions,
//! flowbits) and events; thresholds applied over all workers' events at the end.

use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::http::{self, Tx};
use crate::inspect::inspect;
use crate::parse::{Buf, Cond, FlowbitOp, Proto, ThresholdType, Track};
use crate::{LoadedRule, RuleSet};

/// Reassembled bytes kept per direction and flow (Suricata's stream depth, bounded).
pub const STREAM_DEPTH: usize = 32 * 1024;
/// Request/response body bytes inspected per transaction.
pub const BODY_MAX: usize = 16 * 1024;
/// Flowbits per flow.
pub const MAX_FLOWBITS_PER_FLOW: usize = 64;
/// Events kept per worker (the rest are counted in `dropped`).
pub const MAX_EVENTS: usize = 1 << 20;
/// Matches of one thresholded rule recorded per flow.
const MAX_THRESHOLD_EVENTS_PER_FLOW: u16 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Packet,
    Http,
    Dns,
    Tls,
}

/// Transport class of a packet, for the per-protocol prefilter groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp = 0,
    Udp = 1,
    Other = 2,
}

impl Transport {
    fn of(ip_proto: u8) -> Transport {
        match ip_proto {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            _ => Transport::Other,
        }
    }
}

const N_CTX: usize = 4;
const N_TRANSPORT: usize = 3;

/// Prefilter group index: one automaton per (context, buffer, transport), so a packet is
/// scanned only for the fast patterns of rules that could apply to it (Suricata's
/// per-protocol signature groups).
fn lane(ctx: Ctx, buf: Buf, t: Transport) -> usize {
    ((ctx as usize) * Buf::ALL.len() + buf.index()) * N_TRANSPORT + t as usize
}

/// Transports a rule's header admits.
fn transports(p: Proto) -> &'static [Transport] {
    match p {
        Proto::Ip => &[Transport::Tcp, Transport::Udp, Transport::Other],
        Proto::Tcp | Proto::Http | Proto::Tls => &[Transport::Tcp],
        Proto::Udp => &[Transport::Udp],
        Proto::Dns => &[Transport::Tcp, Transport::Udp],
        Proto::Icmp => &[Transport::Other],
    }
}

/// One prefilter automaton: fast patterns (de-duplicated, case-folded) → rules.
#[derive(Debug)]
struct Group {
    /// Built on first use: most groups never meet a packet on a given capture, and building
    /// them all is most of the start-up cost (shared by the workers once built).
    ac: std::sync::OnceLock<Option<AhoCorasick>>,
    pats: Vec<Vec<u8>>,
    kind: aho_corasick::AhoCorasickKind,
    /// Pattern id → rules that have it as fast pattern.
    rules: Vec<Vec<u32>>,
    /// Offset of this group's pattern ids in the engine-wide seen-marks.
    base: usize,
    /// Longest pattern: a stream rescan starts this many bytes (less one) before the new
    /// data, for matches that straddle packets.
    max_len: usize,
}

/// Builds one automaton from case-folded patterns → rules; numbers its patterns after
/// `n_patterns`.
fn build_group(
    m: BTreeMap<Vec<u8>, Vec<u32>>,
    n_patterns: &mut usize,
    kind: aho_corasick::AhoCorasickKind,
) -> Option<Group> {
    if m.is_empty() {
        return None;
    }
    let (pats, rules): (Vec<Vec<u8>>, Vec<Vec<u32>>) = m.into_iter().unzip();
    let base = *n_patterns;
    *n_patterns += pats.len();
    let max_len = pats.iter().map(Vec::len).max().unwrap_or(0);
    Some(Group {
        ac: std::sync::OnceLock::new(),
        pats,
        kind,
        rules,
        base,
        max_len,
    })
}

/// Most (sport, dport) interval combinations kept as separate groups (and a bound on the
/// work of grouping them); beyond, one group for all ports.
const MAX_PORT_COMBOS: usize = 1 << 16;

/// Packet-payload prefilter of one transport, split by ports like Suricata's port groups:
/// a packet is scanned only for the fast patterns of rules whose ports admit it (most
/// traffic, e.g. to port 80 or 443, then meets no packet rule at all).
#[derive(Debug)]
struct PortGroups {
    /// Starts of the elementary port intervals, per side.
    sport_starts: Vec<u16>,
    dport_starts: Vec<u16>,
    n_sport: usize,
    n_dport: usize,
    /// (address class, sport interval, dport interval) → group.
    combo: Vec<u16>,
    groups: Vec<Option<Group>>,
}

/// Address classes of a packet: (source in `$HOME_NET`) × (destination in `$HOME_NET`).
const N_ADDR_CLASS: usize = 4;

/// Which address classes a rule side admits: bit 1 = some home address, bit 0 = some
/// external one (conservative: set unless provably impossible).
fn side_mask(set: &crate::vars::AddrSet, home: Option<&crate::vars::AddrSet>) -> u8 {
    match home {
        None => 0b11,
        Some(h) => (u8::from(!set.disjoint(h)) << 1) | u8::from(!set.within(h)),
    }
}

fn side_ok(mask: u8, is_home: bool) -> bool {
    mask & (1 << u8::from(is_home)) != 0
}

/// Whether a rule may apply to a packet with these ports and address class (`sh`/`dh`:
/// source/destination in `$HOME_NET`); `masks` are the rule's source/destination masks.
fn header_may_match(
    r: &crate::Rule,
    masks: (u8, u8),
    sp: u16,
    dp: u16,
    sh: bool,
    dh: bool,
) -> bool {
    (r.sport.contains(sp) && r.dport.contains(dp) && side_ok(masks.0, sh) && side_ok(masks.1, dh))
        || (r.bidirectional
            && r.sport.contains(dp)
            && r.dport.contains(sp)
            && side_ok(masks.0, dh)
            && side_ok(masks.1, sh))
}

/// Starts of the elementary port intervals of the given sets (within one interval every
/// set's membership is constant).
fn intervals<'a>(sets: impl Iterator<Item = &'a crate::vars::PortSet>) -> Vec<u16> {
    let mut cuts = std::collections::BTreeSet::from([0u32]);
    for ps in sets {
        for &(a, b) in ps.pos.iter().chain(&ps.neg) {
            cuts.insert(u32::from(a));
            cuts.insert(u32::from(b) + 1);
        }
    }
    cuts.into_iter()
        .filter_map(|c| u16::try_from(c).ok())
        .collect()
}

/// Index of the interval holding `port` (`starts` begins with 0).
fn interval_of(starts: &[u16], port: u16) -> usize {
    starts.partition_point(|&s| s <= port).saturating_sub(1)
}

impl PortGroups {
    fn new(
        rules: &[LoadedRule],
        pats: &[(u32, Vec<u8>)],
        home: Option<&crate::vars::AddrSet>,
        n_patterns: &mut usize,
    ) -> PortGroups {
        let rule = |i: u32| rules.get(i as usize).map(|lr| &lr.rule);
        let masks: Vec<(u8, u8)> = pats
            .iter()
            .map(|&(i, _)| {
                rule(i).map_or((0b11, 0b11), |r| {
                    (side_mask(&r.src, home), side_mask(&r.dst, home))
                })
            })
            .collect();
        let sides = |dst: bool| {
            pats.iter()
                .filter_map(move |&(i, _)| rule(i))
                .flat_map(move |r| {
                    let (a, b) = if dst {
                        (&r.dport, &r.sport)
                    } else {
                        (&r.sport, &r.dport)
                    };
                    std::iter::once(a).chain(r.bidirectional.then_some(b))
                })
        };
        let s_starts = intervals(sides(false));
        let d_starts = intervals(sides(true));
        // Too many combinations (hostile port lists): one group for all ports.
        let combos = s_starts.len() * d_starts.len();
        let single =
            combos > MAX_PORT_COMBOS || combos.saturating_mul(pats.len() * N_ADDR_CLASS) > 1 << 24;
        let (s_reps, d_reps) = if single {
            (vec![0], vec![0])
        } else {
            (s_starts, d_starts)
        };
        let mut by_set: BTreeMap<Vec<usize>, u16> = BTreeMap::new();
        let mut combo = Vec::with_capacity(N_ADDR_CLASS * s_reps.len() * d_reps.len());
        let mut sets = Vec::new();
        for class in 0..N_ADDR_CLASS {
            let (sh, dh) = (class & 2 != 0, class & 1 != 0);
            for &sp in &s_reps {
                for &dp in &d_reps {
                    let members: Vec<usize> = (0..pats.len())
                        .filter(|&k| {
                            single
                                || pats.get(k).and_then(|&(i, _)| rule(i)).is_some_and(|r| {
                                    let m = masks.get(k).copied().unwrap_or((0b11, 0b11));
                                    header_may_match(r, m, sp, dp, sh, dh)
                                })
                        })
                        .collect();
                    let next = by_set.len() as u16;
                    let g = *by_set.entry(members.clone()).or_insert_with(|| {
                        sets.push(members);
                        next
                    });
                    combo.push(g);
                }
            }
        }
        let groups = sets
            .into_iter()
            .map(|members| {
                let mut m: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
                for (i, p) in members.iter().filter_map(|&k| pats.get(k)) {
                    m.entry(p.clone()).or_default().push(*i);
                }
                // A DFA (one table lookup per byte): these scan every packet's payload.
                build_group(m, n_patterns, aho_corasick::AhoCorasickKind::DFA)
            })
            .collect();
        PortGroups {
            n_sport: s_reps.len(),
            n_dport: d_reps.len(),
            sport_starts: s_reps,
            dport_starts: d_reps,
            combo,
            groups,
        }
    }

    fn get(&self, class: usize, sport: u16, dport: u16) -> Option<&Group> {
        let s = interval_of(&self.sport_starts, sport);
        let d = interval_of(&self.dport_starts, dport);
        let g = *self
            .combo
            .get((class * self.n_sport + s) * self.n_dport + d)?;
        self.groups.get(usize::from(g))?.as_ref()
    }
}

#[derive(Debug)]
pub(crate) struct Compiled {
    groups: Vec<Option<Group>>,
    /// Packet-context payload prefilter per transport, split by address class and ports.
    packet_groups: [PortGroups; N_TRANSPORT],
    /// `$HOME_NET`, for the packet's address class (None: one class).
    home: Option<crate::vars::AddrSet>,
    /// Total patterns over all groups (size of the seen-marks).
    n_patterns: usize,
    /// Some rule reads the reassembled TCP stream (payload or HTTP).
    needs_stream: bool,
    /// Some packet rule without a fast pattern reads a TCP payload (so may read the stream
    /// of any flow, whatever its port group).
    always_tcp_payload: bool,
    /// Contexts with at least one rule (parsers for the others are skipped).
    has_ctx: [bool; N_CTX],
    ctx: Vec<Ctx>,
    /// Rules without a fast pattern, per context.
    always: BTreeMap<u8, Vec<u32>>,
    /// Compiled flowbits per rule.
    bits: Vec<Vec<(FlowbitOp, u16)>>,
    /// Evaluation order: setters before readers (Suricata sorts by flowbit dependencies).
    rank: Vec<u8>,
}

fn ctx_of(r: &LoadedRule) -> Ctx {
    let r = &r.rule;
    if r.is_http() || r.proto == Proto::Http && r.buffers.is_empty() {
        Ctx::Http
    } else if r.buffers.contains_key(&Buf::DnsQuery) {
        Ctx::Dns
    } else if r.buffers.contains_key(&Buf::TlsSni) || r.buffers.contains_key(&Buf::Ja3Hash) {
        Ctx::Tls
    } else {
        Ctx::Packet
    }
}

impl Compiled {
    pub(crate) fn new(rules: &[LoadedRule], home: Option<crate::vars::AddrSet>) -> Compiled {
        // Per lane: case-folded pattern → rules.
        let mut lanes: Vec<BTreeMap<Vec<u8>, Vec<u32>>> =
            vec![BTreeMap::new(); N_CTX * Buf::ALL.len() * N_TRANSPORT];
        let mut always: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
        let mut names: BTreeMap<String, u16> = BTreeMap::new();
        let mut bits = Vec::new();
        let mut rank = Vec::new();
        let mut ctx = Vec::new();
        let mut packet_pats: [Vec<(u32, Vec<u8>)>; N_TRANSPORT] = Default::default();
        for (i, lr) in rules.iter().enumerate() {
            let c = ctx_of(lr);
            ctx.push(c);
            let fp = lr.rule.fast_pattern.and_then(|(b, k)| {
                match lr.rule.buffers.get(&b).and_then(|l| l.get(k)) {
                    Some(Cond::Content(c)) if !c.pattern.is_empty() => {
                        Some((b, c.pattern.to_ascii_lowercase()))
                    }
                    _ => None,
                }
            });
            match fp {
                Some((b, p)) => {
                    for &t in transports(lr.rule.proto) {
                        if c == Ctx::Packet && b == Buf::Payload {
                            if let Some(v) = packet_pats.get_mut(t as usize) {
                                v.push((i as u32, p.clone()));
                            }
                        } else if let Some(m) = lanes.get_mut(lane(c, b, t)) {
                            m.entry(p.clone()).or_default().push(i as u32);
                        }
                    }
                }
                None => always.entry(c as u8).or_default().push(i as u32),
            }
            let mut fb = Vec::new();
            for (op, name) in &lr.rule.flowbits {
                let n = names.len() as u16;
                let id = *names.entry(name.clone()).or_insert(n);
                fb.push((*op, id));
            }
            let reads = fb
                .iter()
                .any(|(o, _)| matches!(o, FlowbitOp::IsSet | FlowbitOp::IsNotSet));
            let writes = fb
                .iter()
                .any(|(o, _)| matches!(o, FlowbitOp::Set | FlowbitOp::Unset | FlowbitOp::Toggle));
            rank.push(match (writes, reads) {
                (true, false) => 0,
                (false, false) => 1,
                (true, true) => 2,
                (false, true) => 3,
            });
            bits.push(fb);
        }
        let mut n_patterns = 0;
        let groups = lanes
            .into_iter()
            // Application buffers are short and scanned once per transaction: a compact
            // NFA builds faster than a DFA (start-up time matters on small captures).
            .map(|m| {
                build_group(
                    m,
                    &mut n_patterns,
                    aho_corasick::AhoCorasickKind::ContiguousNFA,
                )
            })
            .collect();
        let packet_groups =
            packet_pats.map(|pats| PortGroups::new(rules, &pats, home.as_ref(), &mut n_patterns));
        let mut has_ctx = [false; N_CTX];
        for &c in &ctx {
            if let Some(h) = has_ctx.get_mut(c as usize) {
                *h = true;
            }
        }
        let needs_stream = rules.iter().zip(&ctx).any(|(lr, &c)| {
            c == Ctx::Http
                || (c == Ctx::Packet
                    && transports(lr.rule.proto).contains(&Transport::Tcp)
                    && lr.rule.buffers.contains_key(&Buf::Payload))
        });
        let always_tcp_payload = always
            .get(&(Ctx::Packet as u8))
            .into_iter()
            .flatten()
            .filter_map(|&i| rules.get(i as usize))
            .any(|lr| {
                transports(lr.rule.proto).contains(&Transport::Tcp)
                    && lr.rule.buffers.contains_key(&Buf::Payload)
            });
        Compiled {
            always_tcp_payload,
            groups,
            packet_groups,
            home,
            n_patterns,
            needs_stream,
            has_ctx,
            ctx,
            always,
            bits,
            rank,
        }
    }

    /// Adds the rules whose fast pattern (for `buf`, in context `ctx`) occurs in `hay`;
    /// each pattern once per call.
    fn scan(
        &self,
        hay: &[u8],
        buf: Buf,
        ctx: Ctx,
        t: Transport,
        seen: &mut Seen,
        out: &mut Vec<u32>,
    ) {
        if let Some(Some(g)) = self.groups.get(lane(ctx, buf, t)) {
            g.scan(hay, seen, out);
        }
    }

    /// The packet-context payload prefilter for a packet of transport `t`, these addresses
    /// and ports (Suricata's address and port signature groups).
    fn packet_group(&self, t: Transport, p: &PacketInfo<'_>) -> Option<&Group> {
        let class = match &self.home {
            Some(h) => (usize::from(h.contains(&p.src)) << 1) | usize::from(h.contains(&p.dst)),
            None => 0,
        };
        self.packet_groups
            .get(t as usize)?
            .get(class, p.sport, p.dport)
    }
}

impl Group {
    fn automaton(&self) -> Option<&AhoCorasick> {
        self.ac
            .get_or_init(|| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(self.kind))
                    .build(&self.pats)
                    // Too large for that kind: let the crate choose (it fails only past
                    // its state-id range; the group then finds nothing).
                    .or_else(|_| {
                        AhoCorasickBuilder::new()
                            .ascii_case_insensitive(true)
                            .build(&self.pats)
                    })
                    .ok()
            })
            .as_ref()
    }

    fn scan(&self, hay: &[u8], seen: &mut Seen, out: &mut Vec<u32>) {
        if hay.is_empty() {
            return;
        }
        let Some(ac) = self.automaton() else { return };
        // Most payloads hold none of the patterns: the leftmost-ending match is found with
        // the automaton's prefilter (SIMD/rare bytes), the byte-at-a-time overlapping walk
        // runs only from where the first occurrence can start.
        let from = match ac.try_find(hay) {
            Ok(None) => return,
            Ok(Some(m)) => m.end().saturating_sub(self.max_len),
            Err(_) => 0,
        };
        seen.next();
        for m in ac.find_overlapping_iter(aho_corasick::Input::new(hay).range(from..)) {
            let pid = m.pattern().as_usize();
            if seen.first(self.base + pid)
                && let Some(rs) = self.rules.get(pid)
            {
                out.extend_from_slice(rs);
            }
        }
    }
}

/// Generation-stamped marks: "already reported in this scan" without clearing.
#[derive(Debug, Default)]
struct Seen {
    marks: Vec<u32>,
    generation: u32,
}

impl Seen {
    fn next(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
    }
    fn first(&mut self, i: usize) -> bool {
        match self.marks.get_mut(i) {
            Some(m) if *m == self.generation => false,
            Some(m) => {
                *m = self.generation;
                true
            }
            None => true,
        }
    }
}

/// What the sensor tells the engine about one packet.
#[derive(Debug, Clone, Copy)]
pub struct PacketInfo<'a> {
    pub ts: i64,
    /// Position of the packet in the input (ties of `ts` are ordered by it; 0 = unknown).
    pub ordinal: u64,
    /// IP protocol number.
    pub proto: u8,
    /// Addresses as 16 bytes (IPv4 v4-mapped), packet direction.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    /// From the flow's initiator.
    pub to_server: bool,
    /// TCP handshake completed / UDP both directions seen.
    pub established: bool,
    pub tcp_flags: u8,
    pub tcp_seq: u32,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
    pub payload: &'a [u8],
    /// The local device the alert is about (sender MAC where it is local).
    pub device: Option<[u8; 6]>,
}

/// One rule match (before thresholds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleEvent {
    pub ts: i64,
    /// Input position of the packet (thresholds count packets in input order).
    pub ordinal: u64,
    pub sid: u32,
    pub rule: u32,
    pub proto: u8,
    pub src: [u8; 16],
    pub sport: u16,
    pub dst: [u8; 16],
    pub dport: u16,
    pub device: Option<[u8; 6]>,
    /// Inspected buffer of the evidence (e.g. `http.uri`, `payload`).
    pub buffer: &'static str,
    /// Matched bytes (bounded).
    pub matched: Vec<u8>,
}

/// Per-flow rule state; allocated only on flows that carry something to inspect.
#[derive(Debug, Default)]
pub struct FlowRules {
    stream: [Vec<u8>; 2],
    next_seq: [Option<u32>; 2],
    scanned: [usize; 2],
    pending: [Vec<u32>; 2],
    fired: Vec<u32>,
    /// Thresholded rules that already matched this flow's stream (counted once).
    stream_fired: Vec<u32>,
    threshold_hits: u16,
    bits: Vec<u16>,
    http: Option<bool>,
    http_off: [usize; 2],
}

/// One worker's matcher.
#[derive(Debug)]
pub struct RuleEngine {
    set: Arc<RuleSet>,
    pub events: Vec<RuleEvent>,
    pub dropped: u64,
    scratch: Vec<u32>,
    found: Vec<u32>,
    seen: Seen,
}

fn buf_name(b: Buf) -> &'static str {
    match b {
        Buf::Payload => "payload",
        Buf::HttpUri => "http.uri",
        Buf::HttpRawUri => "http.uri.raw",
        Buf::HttpMethod => "http.method",
        Buf::HttpRequestLine => "http.request_line",
        Buf::HttpHeader => "http.header",
        Buf::HttpRawHeader => "http.header.raw",
        Buf::HttpHeaderNames => "http.header_names",
        Buf::HttpHost => "http.host",
        Buf::HttpUserAgent => "http.user_agent",
        Buf::HttpReferer => "http.referer",
        Buf::HttpCookie => "http.cookie",
        Buf::HttpRequestBody => "http.request_body",
        Buf::HttpStart => "http.start",
        Buf::HttpStatCode => "http.stat_code",
        Buf::HttpResponseBody => "file.data",
        Buf::DnsQuery => "dns.query",
        Buf::TlsSni => "tls.sni",
        Buf::Ja3Hash => "ja3.hash",
    }
}

/// Buffers available for one evaluation.
struct Bufs<'a> {
    /// Packet payload and the reassembled stream of this direction.
    payload: [&'a [u8]; 2],
    tx: Option<&'a Tx>,
    dns: Option<&'a [u8]>,
    dns_dot: Option<&'a [u8]>,
    sni: Option<&'a [u8]>,
    ja3: Option<&'a [u8]>,
}

impl<'a> Bufs<'a> {
    fn get(&self, b: Buf, dot: bool) -> [Option<&'a [u8]>; 2] {
        match b {
            Buf::Payload => [Some(self.payload[0]), Some(self.payload[1])],
            Buf::DnsQuery => [if dot { self.dns_dot } else { self.dns }, None],
            Buf::TlsSni => [self.sni, None],
            Buf::Ja3Hash => [self.ja3, None],
            _ => [self.tx.and_then(|t| t.get(b)), None],
        }
    }
}

fn proto_ok(p: Proto, ip_proto: u8) -> bool {
    match p {
        Proto::Ip => true,
        Proto::Tcp | Proto::Http | Proto::Tls => ip_proto == 6,
        Proto::Udp => ip_proto == 17,
        Proto::Dns => ip_proto == 17 || ip_proto == 6,
        Proto::Icmp => ip_proto == 1 || ip_proto == 58,
    }
}

impl RuleEngine {
    pub fn new(set: Arc<RuleSet>) -> Self {
        RuleEngine {
            events: Vec::new(),
            dropped: 0,
            scratch: Vec::new(),
            found: Vec::new(),
            seen: Seen {
                marks: vec![0; set.compiled.n_patterns],
                generation: 0,
            },
            set,
        }
    }

    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Inspects one packet of a flow. `state` is the flow's slot (allocated on demand).
    pub fn packet(&mut self, state: &mut Option<Box<FlowRules>>, p: &PacketInfo<'_>) {
        let set = self.set.clone();
        let c = &set.compiled;
        let t = Transport::of(p.proto);
        let fs = state.get_or_insert_with(Box::default);
        let di = usize::from(!p.to_server);
        // Stream reassembly (in-order append, overlaps trimmed, gaps appended as they come),
        // only where a rule can read it.
        let mut grew = false;
        let mut whole_packet_in_stream = false;
        let pg = c.packet_group(t, p);
        // Nothing reads this direction's stream when no packet rule's group admits its
        // addresses and ports and the flow is known not to be HTTP: no reassembly.
        let stream_read = pg.is_some()
            || c.always_tcp_payload
            || (c.has_ctx[Ctx::Http as usize] && fs.http != Some(false));
        if p.proto == 6 && !p.payload.is_empty() && c.needs_stream && stream_read {
            let s = &mut fs.stream[di];
            let end = p.tcp_seq.wrapping_add(p.payload.len() as u32);
            let data = match fs.next_seq[di] {
                None => Some(p.payload),
                Some(next) => {
                    let behind = next.wrapping_sub(p.tcp_seq) as i32;
                    if behind <= 0 {
                        Some(p.payload)
                    } else if (behind as usize) < p.payload.len() {
                        p.payload.get(behind as usize..)
                    } else {
                        None
                    }
                }
            };
            if let Some(d) = data {
                let room = STREAM_DEPTH.saturating_sub(s.len());
                let take = d.len().min(room);
                s.extend_from_slice(d.get(..take).unwrap_or(&[]));
                grew = take > 0;
                whole_packet_in_stream = take == p.payload.len();
                let advance = fs.next_seq[di].is_none_or(|n| (end.wrapping_sub(n) as i32) > 0);
                if advance {
                    fs.next_seq[di] = Some(end);
                }
            }
        }
        // Packet context: prefilter on the new stream bytes (which hold the packet's own
        // bytes when it was appended whole), else on the packet payload.
        let mut cands = std::mem::take(&mut self.scratch);
        cands.clear();
        if let Some(a) = c.always.get(&(Ctx::Packet as u8)) {
            cands.extend_from_slice(a);
        }
        if !whole_packet_in_stream && let Some(g) = pg {
            g.scan(p.payload, &mut self.seen, &mut cands);
        }
        if grew && let Some(g) = pg {
            let s = &fs.stream[di];
            let from = fs.scanned[di].saturating_sub(g.max_len.saturating_sub(1));
            let mut found = std::mem::take(&mut self.found);
            found.clear();
            g.scan(s.get(from..).unwrap_or(&[]), &mut self.seen, &mut found);
            if !found.is_empty() {
                fs.pending[di].extend_from_slice(&found);
                fs.pending[di].sort_unstable();
                fs.pending[di].dedup();
            }
            self.found = found;
            fs.scanned[di] = s.len();
        }
        // Stream candidates are re-evaluated when the stream grows or ends (Suricata
        // inspects the stream at such flush points), so a flowbit set later still counts.
        if grew || (p.proto == 6 && p.tcp_flags & 0x05 != 0) {
            cands.extend_from_slice(&fs.pending[di]);
        }
        // Taken out for the evaluation (the rules mutate the rest of the flow state).
        let bufs_stream = std::mem::take(&mut fs.stream[di]);
        if !cands.is_empty() {
            let bufs = Bufs {
                payload: [p.payload, &bufs_stream],
                tx: None,
                dns: None,
                dns_dot: None,
                sni: None,
                ja3: None,
            };
            self.run(&set, fs, p, &mut cands, &bufs, Ctx::Packet);
            // Fired stream candidates are done.
            if !fs.pending[di].is_empty() {
                let fired = &fs.fired;
                fs.pending[di].retain(|r| fired.binary_search(r).is_err());
            }
        }

        // HTTP transactions.
        if grew && c.has_ctx[Ctx::Http as usize] {
            if fs.http.is_none() {
                if di == 0 {
                    fs.http = Some(palisade_proto::http::looks_like_request(&bufs_stream));
                } else if bufs_stream.starts_with(b"HTTP/") {
                    fs.http = Some(true);
                }
            }
            if fs.http == Some(true) {
                self.http(&set, fs, p, di, &bufs_stream, &mut cands);
            }
        }
        // DNS.
        if c.has_ctx[Ctx::Dns as usize]
            && (p.sport == 53 || p.dport == 53)
            && p.proto == 17
            && !p.payload.is_empty()
            && let Ok(m) = palisade_proto::dns::parse(p.payload)
        {
            for q in m.questions.iter().take(4) {
                let name = q.name.trim_end_matches('.').as_bytes().to_vec();
                let mut dot = b".".to_vec();
                dot.extend_from_slice(&name);
                cands.clear();
                if let Some(a) = c.always.get(&(Ctx::Dns as u8)) {
                    cands.extend_from_slice(a);
                }
                c.scan(&dot, Buf::DnsQuery, Ctx::Dns, t, &mut self.seen, &mut cands);
                let b = Bufs {
                    payload: [p.payload, &[]],
                    tx: None,
                    dns: Some(&name),
                    dns_dot: Some(&dot),
                    sni: None,
                    ja3: None,
                };
                self.run(&set, fs, p, &mut cands, &b, Ctx::Dns);
            }
        }
        // TLS ClientHello.
        if c.has_ctx[Ctx::Tls as usize]
            && p.proto == 6
            && p.to_server
            && p.payload.len() > 5
            && p.payload.first() == Some(&0x16)
            && let Ok(ch) = palisade_proto::tls::parse_client_hello(p.payload)
        {
            let ja3 = ch.ja3_hash().into_bytes();
            let sni = ch.sni.map(|s| s.as_bytes().to_vec());
            cands.clear();
            if let Some(a) = c.always.get(&(Ctx::Tls as u8)) {
                cands.extend_from_slice(a);
            }
            c.scan(&ja3, Buf::Ja3Hash, Ctx::Tls, t, &mut self.seen, &mut cands);
            if let Some(s) = &sni {
                c.scan(s, Buf::TlsSni, Ctx::Tls, t, &mut self.seen, &mut cands);
            }
            let b = Bufs {
                payload: [p.payload, &[]],
                tx: None,
                dns: None,
                dns_dot: None,
                sni: sni.as_deref(),
                ja3: Some(&ja3),
            };
            self.run(&set, fs, p, &mut cands, &b, Ctx::Tls);
        }
        fs.stream[di] = bufs_stream;
        self.scratch = cands;
    }

    fn http(
        &mut self,
        set: &RuleSet,
        fs: &mut FlowRules,
        p: &PacketInfo<'_>,
        di: usize,
        stream: &[u8],
        cands: &mut Vec<u32>,
    ) {
        let c = &set.compiled;
        // Up to a few transactions per packet.
        for _ in 0..8 {
            let off = fs.http_off[di];
            let Some(rest) = stream.get(off..) else {
                return;
            };
            if rest.is_empty() {
                return;
            }
            let tx = if di == 0 {
                http::request(rest, BODY_MAX)
            } else {
                http::response(rest, BODY_MAX)
            };
            let Some(tx) = tx else { return };
            cands.clear();
            if let Some(a) = c.always.get(&(Ctx::Http as u8)) {
                cands.extend_from_slice(a);
            }
            for b in Buf::ALL {
                if let Some(v) = tx.get(b) {
                    c.scan(v, b, Ctx::Http, Transport::Tcp, &mut self.seen, cands);
                }
            }
            // Payload conditions of HTTP rules see the stream.
            c.scan(
                stream,
                Buf::Payload,
                Ctx::Http,
                Transport::Tcp,
                &mut self.seen,
                cands,
            );
            let b = Bufs {
                payload: [p.payload, stream],
                tx: Some(&tx),
                dns: None,
                dns_dot: None,
                sni: None,
                ja3: None,
            };
            self.run(set, fs, p, cands, &b, Ctx::Http);
            match tx.consumed {
                Some(n) if n > 0 => fs.http_off[di] = off + n,
                _ => return,
            }
        }
    }

    fn run(
        &mut self,
        set: &RuleSet,
        fs: &mut FlowRules,
        p: &PacketInfo<'_>,
        cands: &mut Vec<u32>,
        bufs: &Bufs<'_>,
        ctx: Ctx,
    ) {
        let c = &set.compiled;
        cands.sort_unstable_by_key(|&r| (c.rank.get(r as usize).copied().unwrap_or(1), r));
        cands.dedup();
        for &ri in cands.iter() {
            let Some(lr) = set.rules.get(ri as usize) else {
                continue;
            };
            let r = &lr.rule;
            if c.ctx.get(ri as usize) != Some(&ctx) {
                continue;
            }
            let thresholded = r.threshold.is_some();
            if !thresholded && fs.fired.binary_search(&ri).is_ok() {
                continue;
            }
            if !header_ok(lr, p, fs) {
                continue;
            }
            let bits = c.bits.get(ri as usize).map(Vec::as_slice).unwrap_or(&[]);
            if !bits.iter().all(|&(op, id)| match op {
                FlowbitOp::IsSet => fs.bits.contains(&id),
                FlowbitOp::IsNotSet => !fs.bits.contains(&id),
                _ => true,
            }) {
                continue;
            }
            if let Some((cmp, raw)) = r.urilen {
                let u = bufs
                    .tx
                    .and_then(|t| t.get(if raw { Buf::HttpRawUri } else { Buf::HttpUri }));
                if !u.is_some_and(|u| cmp.test(u.len() as u64)) {
                    continue;
                }
            }
            // Thresholds count packets: a thresholded rule matches the packet's own payload,
            // or, once per flow, the reassembled stream (Suricata inspects the stream at
            // flush points; the flow is what the comparison keys on).
            let mut hit = match_buffers(lr, bufs, thresholded);
            if hit.is_none()
                && thresholded
                && ctx == Ctx::Packet
                && let Err(pos) = fs.stream_fired.binary_search(&ri)
            {
                hit = match_buffers(lr, bufs, false);
                if hit.is_some() {
                    fs.stream_fired.insert(pos, ri);
                }
            }
            let Some((ebuf, matched)) = hit else {
                continue;
            };
            for &(op, id) in bits {
                match op {
                    FlowbitOp::Set
                        if !fs.bits.contains(&id) && fs.bits.len() < MAX_FLOWBITS_PER_FLOW =>
                    {
                        fs.bits.push(id);
                    }
                    FlowbitOp::Unset => fs.bits.retain(|&b| b != id),
                    FlowbitOp::Toggle => {
                        if fs.bits.contains(&id) {
                            fs.bits.retain(|&b| b != id);
                        } else if fs.bits.len() < MAX_FLOWBITS_PER_FLOW {
                            fs.bits.push(id);
                        }
                    }
                    _ => {}
                }
            }
            if let Err(pos) = fs.fired.binary_search(&ri) {
                fs.fired.insert(pos, ri);
            } else if fs.threshold_hits >= MAX_THRESHOLD_EVENTS_PER_FLOW {
                continue;
            }
            if thresholded {
                fs.threshold_hits = fs.threshold_hits.saturating_add(1);
            }
            if r.noalert || r.action == crate::Action::Pass {
                continue;
            }
            if self.events.len() >= MAX_EVENTS {
                self.dropped += 1;
                continue;
            }
            self.events.push(RuleEvent {
                ts: p.ts,
                ordinal: p.ordinal,
                sid: r.sid,
                rule: ri,
                proto: p.proto,
                src: p.src,
                sport: p.sport,
                dst: p.dst,
                dport: p.dport,
                device: p.device,
                buffer: buf_name(ebuf),
                matched,
            });
        }
    }
}

fn header_ok(lr: &LoadedRule, p: &PacketInfo<'_>, fs: &FlowRules) -> bool {
    let r = &lr.rule;
    if !proto_ok(r.proto, p.proto) {
        return false;
    }
    match r.proto {
        Proto::Http if fs.http != Some(true) => return false,
        Proto::Dns if p.sport != 53 && p.dport != 53 => return false,
        _ => {}
    }
    let fwd = r.src.contains(&p.src)
        && r.dst.contains(&p.dst)
        && r.sport.contains(p.sport)
        && r.dport.contains(p.dport);
    let ok = fwd
        || (r.bidirectional
            && r.src.contains(&p.dst)
            && r.dst.contains(&p.src)
            && r.sport.contains(p.dport)
            && r.dport.contains(p.sport));
    if !ok {
        return false;
    }
    if r.flow.to_server.is_some_and(|t| t != p.to_server) {
        return false;
    }
    if r.flow.established.is_some_and(|e| e != p.established) {
        return false;
    }
    // HTTP request buffers are to_server, response buffers to_client.
    if r.is_http() {
        let resp = r.buffers.keys().any(|b| b.is_http_response());
        if resp == p.to_server {
            return false;
        }
    }
    if let Some(d) = r.dsize
        && !d.test(p.payload.len() as u64)
    {
        return false;
    }
    if let Some(f) = r.flags
        && (p.proto != 6 || !f.test(p.tcp_flags))
    {
        return false;
    }
    if r.itype.is_some() || r.icode.is_some() {
        let Some((t, c)) = p.icmp else { return false };
        if r.itype.is_some_and(|x| !x.test(t as u64)) || r.icode.is_some_and(|x| !x.test(c as u64))
        {
            return false;
        }
    }
    true
}

/// Every buffer's conditions must match; returns the evidence (fast-pattern buffer first).
fn match_buffers(lr: &LoadedRule, bufs: &Bufs<'_>, packet_only: bool) -> Option<(Buf, Vec<u8>)> {
    let r = &lr.rule;
    let mut evidence: Option<(Buf, Vec<u8>)> = None;
    let lead = r.fast_pattern.map(|(b, _)| b);
    for (b, conds) in &r.buffers {
        let alts = bufs.get(*b, r.dotprefix);
        let mut hit = None;
        for (k, data) in alts.iter().enumerate() {
            if packet_only && *b == Buf::Payload && k == 1 {
                break;
            }
            let Some(data) = data else { continue };
            if let Some(span) = inspect(conds, data) {
                hit = Some((span, *data));
                break;
            }
        }
        let ((s, e), data) = hit?;
        if evidence.is_none() || lead == Some(*b) {
            let (s, e) = if s == usize::MAX { (0, 0) } else { (s, e) };
            let e = e.min(s + 256);
            evidence = Some((*b, data.get(s..e).unwrap_or(&[]).to_vec()));
        }
    }
    Some(evidence.unwrap_or((Buf::Payload, Vec::new())))
}

/// (rule, tracked address, second address for by_both).
type TrackKey = (u32, [u8; 16], [u8; 16]);

/// Applies `threshold`/`detection_filter` over all workers' events in input order (packet
/// time, then input position, as Suricata counts them), so the result does not depend on
/// sharding. Windows use full timestamp precision: a window of `seconds` holds the matches
/// less than `seconds` after its first one.
pub fn apply_thresholds(set: &RuleSet, mut events: Vec<RuleEvent>) -> Vec<RuleEvent> {
    events.sort();
    // (rule, track key) → (window start, count in window, alerted in window)
    let mut state: BTreeMap<TrackKey, (i64, u32, bool)> = BTreeMap::new();
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let Some(th) = set
            .rules
            .get(ev.rule as usize)
            .and_then(|r| r.rule.threshold)
        else {
            out.push(ev);
            continue;
        };
        let key = match th.track {
            Track::BySrc => (ev.rule, ev.src, [0; 16]),
            Track::ByDst => (ev.rule, ev.dst, [0; 16]),
            Track::ByBoth => (ev.rule, ev.src, ev.dst),
            Track::ByRule => (ev.rule, [0; 16], [0; 16]),
        };
        let win = th.seconds as i64 * 1_000_000_000;
        let st = state.entry(key).or_insert((ev.ts, 0, false));
        if ev.ts - st.0 >= win {
            *st = (ev.ts, 0, false);
        }
        st.1 = st.1.saturating_add(1);
        let n = st.1;
        let emit = match th.kind {
            ThresholdType::Limit => n <= th.count,
            ThresholdType::Threshold => {
                if n >= th.count {
                    st.1 = 0;
                    true
                } else {
                    false
                }
            }
            ThresholdType::Both => {
                if n >= th.count && !st.2 {
                    st.2 = true;
                    true
                } else {
                    false
                }
            }
            ThresholdType::DetectionFilter => n > th.count,
        };
        if emit {
            out.push(ev);
        }
    }
    out
}
