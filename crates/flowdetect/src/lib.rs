//! Flow-only threat detection: DDoS, scans and C2 beaconing from flow records (NetFlow v5/v9,
//! IPFIX, Zeek `conn.log`, Suricata flow events), where no packet detail is available.
//!
//! Features each detector uses (all from [`FlowRecord`] fields; times are the flows' own
//! start/end, never the wall clock):
//!
//! * `ddos.participation` / `ddos.target`, three rules:
//!   - **one-way fat flow**: one flow with many packets at a high rate and (almost) nothing
//!     back — packets, duration (packets per second), reverse packets;
//!   - **many tiny flows to one target**: flows from one source to one destination per
//!     window, their mean bytes per flow, and how many went unanswered (SYN floods and HTTP
//!     connection floods show up as bursts of small or unanswered connections);
//!   - **fan-in** (target only): distinct sources sending small flows to one local address
//!     per window.
//!
//!   A local source (or a flood between two remote hosts, as a router's exporter sees it)
//!   is a participant; a local destination hit from outside is a target.
//! * `scan.horizontal`: distinct destination hosts one source tried on one port per window,
//!   with the share of attempts that went unanswered or were reset.
//! * `scan.vertical`: distinct destination ports one source tried on one host per window,
//!   same answer test.
//! * `botnet.c2` (beaconing): connection starts (distinct source ports; Zeek's
//!   retransmission fragments of one attempt count once) from a local device to one remote
//!   endpoint, their intervals' median and robust jitter (median absolute deviation over
//!   median), and the share of starts that went unanswered. DNS, NTP, mDNS, SSDP and DHCP
//!   are periodic by design and never called a beacon; on web, push and mail ports (where
//!   devices poll their clouds on a timer) a beacon also needs most of its starts
//!   unanswered (a bot retrying a dead C2), not answered check-ins.
//!
//! Windows are counted as two consecutive fixed windows of flow-start time (so a burst split
//! at a window edge still counts whole), tolerant of the out-of-order starts flow logs have
//! (Zeek writes a flow when it ends). Every table is capped ([`FlowDetectConfig`]); when one
//! is full, entries idle for more than two windows are swept (at most once per window of
//! flow time) and new keys are refused and counted while it stays full.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::IpAddr;

use palisade_collect::FlowRecord;
use palisade_detect::{Aggregator, Finding, Kind};
use serde_json::json;

/// Thresholds and table caps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowDetectConfig {
    /// Counting window in seconds of flow time (floods). Default 10.
    pub flood_window_s: u64,
    /// Flows from one source to one destination within two windows (many tiny flows).
    /// Default 100.
    pub flood_min_flows: u32,
    /// ... or this many unanswered ones (SYN flood, connection flood). Default 50.
    pub flood_min_unanswered: u32,
    /// Mean bytes per flow sent, at most, for the many-flows rule. Default 1200.
    pub flood_max_mean_bytes: u64,
    /// One-way fat TCP flow: packets and packets per second, at least. Defaults 1000, 200.
    pub fat_tcp_min_packets: u64,
    pub fat_tcp_min_pps: f64,
    /// One-way fat UDP/ICMP/GRE/other flow. Defaults 10_000, 1000.
    pub fat_other_min_packets: u64,
    pub fat_other_min_pps: f64,
    /// Reverse packets a one-way flow may have, as a share of its packets. Default 0.01.
    pub fat_max_reverse_share: f64,
    /// Distinct sources of small flows to one local destination within two windows
    /// (fan-in `ddos.target`). Default 100.
    pub target_min_sources: u32,
    /// Scan window in seconds of flow time. Default 60.
    pub scan_window_s: u64,
    /// Distinct hosts on one port (horizontal) / ports on one host (vertical) within two
    /// windows. Defaults 32 and 32.
    pub scan_h_min_hosts: u32,
    pub scan_v_min_ports: u32,
    /// Share of a scan's attempts that may have been answered. Default 0.5.
    pub scan_max_answer_ratio: f64,
    /// Beaconing: connection starts needed, jitter ceiling, period range in seconds.
    /// Defaults 8, 0.2, 5, 3600.
    pub beacon_min_starts: u32,
    pub beacon_max_jitter: f64,
    pub beacon_min_period_s: u64,
    pub beacon_max_period_s: u64,
    /// Entries per table (pairs, scan sources, targets, beacon candidates). Default 16_384.
    pub max_entries: usize,
    /// Aggregated alerts kept, and list entries per alert. Defaults 4096, 16.
    pub max_alerts: usize,
    pub evidence_list_max: usize,
}

impl Default for FlowDetectConfig {
    fn default() -> Self {
        FlowDetectConfig {
            flood_window_s: 10,
            flood_min_flows: 100,
            flood_min_unanswered: 50,
            flood_max_mean_bytes: 1200,
            fat_tcp_min_packets: 1000,
            fat_tcp_min_pps: 200.0,
            fat_other_min_packets: 10_000,
            fat_other_min_pps: 1000.0,
            fat_max_reverse_share: 0.01,
            target_min_sources: 100,
            scan_window_s: 60,
            scan_h_min_hosts: 32,
            scan_v_min_ports: 32,
            scan_max_answer_ratio: 0.5,
            beacon_min_starts: 8,
            beacon_max_jitter: 0.2,
            beacon_min_period_s: 5,
            beacon_max_period_s: 3600,
            max_entries: 16_384,
            max_alerts: 4096,
            evidence_list_max: 16,
        }
    }
}

/// What the detector did, for metrics and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowDetectCounters {
    pub flows: u64,
    pub findings: u64,
    /// Entries swept from full tables.
    pub evicted: u64,
    /// New keys refused because a table stayed full.
    pub refused: u64,
}

/// Counts over two consecutive windows, tolerant of starts one window out of order.
#[derive(Debug, Clone, Copy, Default)]
struct Win {
    idx: i64,
    cur: u32,
    prev: u32,
}

impl Win {
    /// Counts `n` in window `w`; false when `w` is too old to count.
    fn add(&mut self, w: i64, n: u32) -> bool {
        if self.cur == 0 && self.prev == 0 {
            self.idx = w;
        }
        if w > self.idx {
            self.prev = if w == self.idx + 1 { self.cur } else { 0 };
            self.cur = 0;
            self.idx = w;
        }
        if w == self.idx {
            self.cur = self.cur.saturating_add(n);
        } else if w == self.idx - 1 {
            self.prev = self.prev.saturating_add(n);
        } else {
            return false;
        }
        true
    }

    fn total(&self) -> u32 {
        self.cur.saturating_add(self.prev)
    }
}

/// Source -> destination flows (many-tiny-flows rule).
#[derive(Debug, Clone, Default)]
struct Pair {
    flows: Win,
    unanswered: Win,
    bytes: u64,
    first_ns: i64,
    last_ns: i64,
    last_window: i64,
    ports: Vec<u16>,
    fired_window: Option<i64>,
    /// Flows since the last finding of an ongoing flood, and the time it reached.
    pending: u64,
    reported_last: i64,
    /// The alert identity (kind, device, key) of the flood episode being extended.
    episode: Option<(Kind, Option<[u8; 6]>, String)>,
}

/// Distinct values seen within two windows, capped at the threshold (a set of at most N).
#[derive(Debug, Clone)]
struct Distinct<T> {
    window: i64,
    cur: Vec<T>,
    prev: Vec<T>,
    attempts: u32,
    answered: u32,
    first_ns: i64,
    last_ns: i64,
    fired_window: Option<i64>,
}

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct {
            window: 0,
            cur: Vec::new(),
            prev: Vec::new(),
            attempts: 0,
            answered: 0,
            first_ns: 0,
            last_ns: 0,
            fired_window: None,
        }
    }
}

impl<T: PartialEq + Copy> Distinct<T> {
    fn add(&mut self, w: i64, v: T, cap: usize, answered: bool, ts: i64) -> bool {
        if self.cur.is_empty() && self.prev.is_empty() {
            self.window = w;
            self.first_ns = ts;
            self.attempts = 0;
            self.answered = 0;
        }
        if w > self.window {
            self.prev = if w == self.window + 1 {
                std::mem::take(&mut self.cur)
            } else {
                Vec::new()
            };
            self.cur.clear();
            self.window = w;
            if self.prev.is_empty() {
                self.first_ns = ts;
                self.attempts = 0;
                self.answered = 0;
            }
        }
        if w < self.window - 1 {
            return false;
        }
        self.attempts = self.attempts.saturating_add(1);
        self.answered = self.answered.saturating_add(u32::from(answered));
        self.first_ns = self.first_ns.min(ts);
        self.last_ns = self.last_ns.max(ts);
        if self.len() < cap && !self.cur.contains(&v) && !self.prev.contains(&v) {
            self.cur.push(v);
        }
        true
    }

    fn len(&self) -> usize {
        self.cur.len() + self.prev.len()
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.prev.iter().chain(self.cur.iter())
    }
}

/// Connection starts to one remote endpoint (beacon candidate).
#[derive(Debug, Clone, Default)]
struct Beacon {
    /// The newest starts, sorted (at most [`BEACON_STARTS`]).
    starts: Vec<i64>,
    last_sport: u16,
    total: u64,
    unanswered: u64,
    first_ns: i64,
    last_ns: i64,
    reported: bool,
    last_window: i64,
}

/// Connection starts kept per beacon candidate.
const BEACON_STARTS: usize = 33;

/// Web, push and mail ports: devices poll their clouds there on a timer.
fn cloud_polling_port(port: u16) -> bool {
    matches!(
        port,
        80 | 443 | 465 | 587 | 853 | 993 | 995 | 1883 | 5222 | 5223 | 5228 | 8080 | 8443 | 8883
    )
}

/// Periodic-by-design infrastructure: DNS, NTP, DHCP, mDNS, SSDP, LLMNR, NetBIOS.
fn periodic_infrastructure(proto: u8, port: u16) -> bool {
    proto == 17 && matches!(port, 53 | 67 | 68 | 123 | 137 | 138 | 1900 | 5353 | 5355)
        || proto == 6 && port == 53
}

/// RFC 1918 / 6598 / link-local / loopback / unique-local addresses.
pub fn is_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

fn endpoint(ip: &IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        47 => "gre".into(),
        other => format!("ip-proto-{other}"),
    }
}

/// Whether the responder accepted: it sent something, and for TCP not just a reset.
fn answered(f: &FlowRecord) -> bool {
    if f.rev_packets == 0 {
        return false;
    }
    !(f.proto == 6 && f.rev_tcp_flags & 0x04 != 0 && f.rev_tcp_flags & 0x12 != 0x12)
}

/// Bounded insert: sweeps idle entries (at most once per window) and refuses when full.
fn admit<K: std::hash::Hash + Eq + Copy, V>(
    map: &mut HashMap<K, V>,
    key: K,
    cap: usize,
    w: i64,
    last_sweep: &mut i64,
    idle: impl Fn(&V) -> bool,
    counters: &mut FlowDetectCounters,
) -> bool {
    if map.contains_key(&key) || map.len() < cap {
        return true;
    }
    if *last_sweep != w {
        *last_sweep = w;
        let before = map.len();
        map.retain(|_, v| !idle(v));
        counters.evicted += (before - map.len()) as u64;
    }
    if map.len() < cap {
        return true;
    }
    counters.refused += 1;
    false
}

/// The flow-level detector: feed [`FlowDetector::flow`], then [`FlowDetector::finish`].
pub struct FlowDetector {
    cfg: FlowDetectConfig,
    pairs: HashMap<(IpAddr, IpAddr), Pair>,
    horizontal: HashMap<(IpAddr, u8, u16), Distinct<IpAddr>>,
    vertical: HashMap<(IpAddr, IpAddr, u8), Distinct<u16>>,
    fan_in: HashMap<IpAddr, Distinct<IpAddr>>,
    beacons: HashMap<(IpAddr, IpAddr, u16, u8), Beacon>,
    sweeps: [i64; 5],
    agg: Aggregator,
    pub counters: FlowDetectCounters,
}

impl FlowDetector {
    pub fn new(cfg: FlowDetectConfig) -> Self {
        FlowDetector {
            cfg,
            pairs: HashMap::new(),
            horizontal: HashMap::new(),
            vertical: HashMap::new(),
            fan_in: HashMap::new(),
            beacons: HashMap::new(),
            sweeps: [i64::MIN; 5],
            agg: Aggregator::new(cfg.max_alerts, cfg.evidence_list_max),
            counters: FlowDetectCounters::default(),
        }
    }

    /// Entries held in all tables (bounded by 5 x `max_entries`).
    pub fn tracked(&self) -> usize {
        self.pairs.len()
            + self.horizontal.len()
            + self.vertical.len()
            + self.fan_in.len()
            + self.beacons.len()
    }

    /// One flow record.
    pub fn flow(&mut self, f: &FlowRecord) {
        self.counters.flows += 1;
        // Clamped so that differences and window arithmetic cannot overflow (±73 years).
        const LIMIT: i64 = 1 << 61;
        let start = f.start_ns.clamp(-LIMIT, LIMIT);
        let end = f.end_ns.clamp(-LIMIT, LIMIT).max(start);
        self.fat_flow(f, start, end);
        self.many_flows(f, start, end);
        self.scans(f, start);
        self.fan_in(f, start);
        self.beacon(f, start);
    }

    fn add(&mut self, f: Finding) {
        self.counters.findings += 1;
        self.agg.add(f);
    }

    #[allow(clippy::too_many_arguments)] // one flood finding: its facts, named
    fn flood_finding(
        &mut self,
        f: &FlowRecord,
        vector: &str,
        rule: &str,
        first: i64,
        last: i64,
        count: u64,
        evidence: serde_json::Value,
        summary: String,
    ) -> (Kind, Option<[u8; 6]>, String) {
        let participant = is_local(&f.src) || !is_local(&f.dst);
        let (kind, device) = if participant {
            (Kind::DdosParticipation, f.src_mac)
        } else {
            (Kind::DdosTarget, f.dst_mac)
        };
        let window = (self.cfg.flood_window_s.max(1) * 1_000_000_000) as i64;
        let mut x = Finding::new(
            kind,
            format!("flow|{vector}|{}|{}", f.src, f.dst),
            device,
            first,
        );
        x.last_ns = last;
        x.count = count.max(1);
        x.src = Some(f.src);
        x.dst = Some(f.dst);
        x.summary = summary;
        let mut ev = evidence;
        if let serde_json::Value::Object(o) = &mut ev {
            o.insert("vector".into(), vector.into());
            o.insert("rule".into(), rule.into());
            o.insert("source".into(), "flow records".into());
            o.insert("window_s".into(), self.cfg.flood_window_s.into());
        }
        x.evidence = ev;
        x.window = Some(first / window);
        let id = (x.kind, x.device, x.key.clone());
        self.add(x);
        id
    }

    fn fat_flow(&mut self, f: &FlowRecord, start: i64, end: i64) {
        let c = self.cfg;
        let (min_pkts, min_pps) = if f.proto == 6 {
            (c.fat_tcp_min_packets, c.fat_tcp_min_pps)
        } else {
            (c.fat_other_min_packets, c.fat_other_min_pps)
        };
        if f.packets < min_pkts.max(1) {
            return;
        }
        let secs = ((end - start) as f64 / 1e9).max(1e-3);
        let pps = f.packets as f64 / secs;
        if pps < min_pps || f.rev_packets as f64 > f.packets as f64 * c.fat_max_reverse_share {
            return;
        }
        let vector = match f.proto {
            6 if f.tcp_flags & 0x12 == 0x02 => "syn",
            6 if f.tcp_flags & 0x10 != 0 => "ack",
            6 => "tcp",
            17 => "udp",
            1 | 58 => "icmp",
            47 => "gre",
            _ => "ip",
        };
        let mean = f.bytes / f.packets.max(1);
        let _ = self.flood_finding(
            f,
            vector,
            "one-way fat flow",
            start,
            end,
            f.packets,
            json!({
                "packets": f.packets,
                "bytes": f.bytes,
                "reverse_packets": f.rev_packets,
                "duration_s": (secs * 1000.0).round() / 1000.0,
                "pps": pps.round(),
                "mean_packet_bytes": mean,
                "dst_port": f.dst_port,
            }),
            format!(
                "{} -> {}: one-way {} flood, {} packets at {:.0} pps, {} answered",
                f.src,
                endpoint(&f.dst, f.dst_port),
                vector,
                f.packets,
                pps,
                f.rev_packets
            ),
        );
    }

    fn many_flows(&mut self, f: &FlowRecord, start: i64, end: i64) {
        let c = self.cfg;
        let wlen = (c.flood_window_s.max(1) * 1_000_000_000) as i64;
        let w = start.div_euclid(wlen);
        let key = (f.src, f.dst);
        let mut sweep = self.sweeps[0];
        let ok = admit(
            &mut self.pairs,
            key,
            c.max_entries.max(1),
            w,
            &mut sweep,
            |p: &Pair| p.last_window < w - 2,
            &mut self.counters,
        );
        self.sweeps[0] = sweep;
        if !ok {
            return;
        }
        let p = self.pairs.entry(key).or_default();
        if p.flows.total() == 0 || w > p.last_window + 1 {
            p.bytes = 0;
            p.first_ns = start;
            p.last_ns = end;
            p.ports.clear();
        }
        if !p.flows.add(w, 1) {
            return;
        }
        p.unanswered.add(w, u32::from(!answered(f)));
        p.last_window = p.last_window.max(w);
        p.bytes = p.bytes.saturating_add(f.bytes);
        p.first_ns = p.first_ns.min(start);
        p.last_ns = p.last_ns.max(end);
        if p.ports.len() < c.evidence_list_max && !p.ports.contains(&f.dst_port) {
            p.ports.push(f.dst_port);
        }
        let n = p.flows.total();
        let un = p.unanswered.total();
        let mean = p.bytes / u64::from(n.max(1));
        let hit = (n >= c.flood_min_flows || un >= c.flood_min_unanswered)
            && mean <= c.flood_max_mean_bytes;
        if p.fired_window.is_some_and(|fw| fw >= w - 1) {
            // An ongoing flood: extend its alert (at most one finding a second).
            p.pending += 1;
            if p.last_ns > p.reported_last + 1_000_000_000 {
                let (t, count) = (p.last_ns, p.pending);
                p.reported_last = t;
                p.pending = 0;
                if let Some((kind, device, key)) = p.episode.clone() {
                    self.extend(kind, device, key, t, count);
                }
            }
            return;
        }
        if !hit {
            return;
        }
        p.fired_window = Some(w);
        p.pending = 0;
        p.reported_last = p.last_ns;
        let (first, last, ports) = (p.first_ns, p.last_ns, p.ports.clone());
        let vector = match f.proto {
            6 if un * 2 >= n => "syn",
            6 if ports.iter().all(|p| matches!(p, 80 | 443 | 8080)) => "http",
            6 => "tcp-connections",
            17 => "udp",
            1 | 58 => "icmp",
            _ => "ip",
        };
        let id = self.flood_finding(
            f,
            vector,
            "many small flows to one target",
            first,
            last,
            u64::from(n),
            json!({
                "flows_in_window": n,
                "unanswered_in_window": un,
                "mean_bytes_per_flow": mean,
                "dst_ports": ports,
            }),
            format!(
                "{} -> {}: {} {} flows in {} s ({} unanswered, {} bytes each on average)",
                f.src,
                f.dst,
                n,
                proto_name(f.proto),
                2 * c.flood_window_s,
                un,
                mean
            ),
        );
        if let Some(p) = self.pairs.get_mut(&key) {
            p.episode = Some(id);
        }
    }

    fn scans(&mut self, f: &FlowRecord, start: i64) {
        if !matches!(f.proto, 6 | 17) {
            return;
        }
        let c = self.cfg;
        let wlen = (c.scan_window_s.max(1) * 1_000_000_000) as i64;
        let w = start.div_euclid(wlen);
        let ans = answered(f);
        // Horizontal: hosts per (source, port).
        let key = (f.src, f.proto, f.dst_port);
        let mut sweep = self.sweeps[1];
        if admit(
            &mut self.horizontal,
            key,
            c.max_entries.max(1),
            w,
            &mut sweep,
            |d: &Distinct<IpAddr>| d.window < w - 2,
            &mut self.counters,
        ) {
            let cap = c.scan_h_min_hosts.max(2) as usize;
            let d = self.horizontal.entry(key).or_default();
            if d.add(w, f.dst, cap, ans, start) && d.len() >= cap {
                let ratio = f64::from(d.answered) / f64::from(d.attempts.max(1));
                if ratio <= c.scan_max_answer_ratio && d.fired_window.is_none_or(|x| x < w - 1) {
                    d.fired_window = Some(w);
                    let sample: Vec<String> = d.values().map(|a| a.to_string()).collect();
                    let (first, last, attempts) = (d.first_ns, d.last_ns, d.attempts);
                    let mut x = Finding::new(
                        Kind::ScanHorizontal,
                        format!("flow|{}|{}/{}", f.src, proto_name(f.proto), f.dst_port),
                        f.src_mac,
                        first,
                    );
                    x.last_ns = last;
                    x.count = u64::from(attempts);
                    x.src = Some(f.src);
                    x.summary = format!(
                        "{} tried {}+ hosts on {}/{} in {} s ({:.0}% answered)",
                        f.src,
                        cap,
                        proto_name(f.proto),
                        f.dst_port,
                        2 * c.scan_window_s,
                        ratio * 100.0
                    );
                    x.evidence = json!({
                        "port": f.dst_port, "proto": proto_name(f.proto),
                        "hosts_in_window": cap, "attempts": attempts,
                        "answered_ratio": (ratio * 1000.0).round() / 1000.0,
                        "source": "flow records", "window_s": c.scan_window_s,
                    });
                    for s in sample {
                        x.lists.push(("targets_sample", s));
                    }
                    self.add(x);
                }
            }
        }
        self.sweeps[1] = sweep;
        // Vertical: ports per (source, host).
        let key = (f.src, f.dst, f.proto);
        let mut sweep = self.sweeps[2];
        if admit(
            &mut self.vertical,
            key,
            c.max_entries.max(1),
            w,
            &mut sweep,
            |d: &Distinct<u16>| d.window < w - 2,
            &mut self.counters,
        ) {
            let cap = c.scan_v_min_ports.max(2) as usize;
            let d = self.vertical.entry(key).or_default();
            if d.add(w, f.dst_port, cap, ans, start) && d.len() >= cap {
                let ratio = f64::from(d.answered) / f64::from(d.attempts.max(1));
                if ratio <= c.scan_max_answer_ratio && d.fired_window.is_none_or(|x| x < w - 1) {
                    d.fired_window = Some(w);
                    let mut ports: Vec<u16> = d.values().copied().collect();
                    ports.sort_unstable();
                    let (first, last, attempts) = (d.first_ns, d.last_ns, d.attempts);
                    let mut x = Finding::new(
                        Kind::ScanVertical,
                        format!("flow|{}|{}", f.src, f.dst),
                        f.src_mac,
                        first,
                    );
                    x.last_ns = last;
                    x.count = u64::from(attempts);
                    x.src = Some(f.src);
                    x.dst = Some(f.dst);
                    x.summary = format!(
                        "{} tried {}+ {} ports on {} in {} s ({:.0}% answered)",
                        f.src,
                        cap,
                        proto_name(f.proto),
                        f.dst,
                        2 * c.scan_window_s,
                        ratio * 100.0
                    );
                    x.evidence = json!({
                        "proto": proto_name(f.proto), "ports_in_window": cap,
                        "ports_sample": ports, "attempts": attempts,
                        "answered_ratio": (ratio * 1000.0).round() / 1000.0,
                        "source": "flow records", "window_s": c.scan_window_s,
                    });
                    self.add(x);
                }
            }
        }
        self.sweeps[2] = sweep;
    }

    fn fan_in(&mut self, f: &FlowRecord, start: i64) {
        if !is_local(&f.dst) || is_local(&f.src) {
            return;
        }
        let c = self.cfg;
        if f.bytes / f.packets.max(1) > c.flood_max_mean_bytes && answered(f) {
            return;
        }
        let wlen = (c.flood_window_s.max(1) * 1_000_000_000) as i64;
        let w = start.div_euclid(wlen);
        let mut sweep = self.sweeps[3];
        let ok = admit(
            &mut self.fan_in,
            f.dst,
            c.max_entries.max(1),
            w,
            &mut sweep,
            |d: &Distinct<IpAddr>| d.window < w - 2,
            &mut self.counters,
        );
        self.sweeps[3] = sweep;
        if !ok {
            return;
        }
        let cap = c.target_min_sources.max(2) as usize;
        let d = self.fan_in.entry(f.dst).or_default();
        if !(d.add(w, f.src, cap, answered(f), start) && d.len() >= cap)
            || d.fired_window.is_some_and(|x| x >= w - 1)
        {
            return;
        }
        d.fired_window = Some(w);
        let (first, last, attempts) = (d.first_ns, d.last_ns, d.attempts);
        let mut x = Finding::new(
            Kind::DdosTarget,
            format!("flow|fan-in|{}|{}", proto_name(f.proto), f.dst),
            f.dst_mac,
            first,
        );
        x.last_ns = last;
        x.count = u64::from(attempts);
        x.dst = Some(f.dst);
        x.summary = format!(
            "{} receives small flows from {}+ remote sources in {} s",
            f.dst,
            cap,
            2 * c.flood_window_s
        );
        x.evidence = json!({
            "vector": format!("{}-fan-in", proto_name(f.proto)), "rule": "fan-in",
            "sources_in_window": cap, "flows": attempts,
            "source": "flow records", "window_s": c.flood_window_s,
        });
        self.add(x);
    }

    fn beacon(&mut self, f: &FlowRecord, start: i64) {
        if !is_local(&f.src) || is_local(&f.dst) || periodic_infrastructure(f.proto, f.dst_port) {
            return;
        }
        if !matches!(f.proto, 6 | 17) {
            return;
        }
        let c = self.cfg;
        let hour = 3_600_000_000_000i64;
        let w = start.div_euclid(hour);
        let key = (f.src, f.dst, f.dst_port, f.proto);
        let max_period = (c.beacon_max_period_s.max(1) as i64) * 1_000_000_000;
        let mut sweep = self.sweeps[4];
        let ok = admit(
            &mut self.beacons,
            key,
            c.max_entries.max(1),
            w,
            &mut sweep,
            |b: &Beacon| b.last_window < w - (max_period / hour).max(1) - 1,
            &mut self.counters,
        );
        self.sweeps[4] = sweep;
        if !ok {
            return;
        }
        let b = self.beacons.entry(key).or_default();
        // A TCP attempt retransmitted from the same source port is one connection start.
        if f.proto == 6 && b.total > 0 && f.src_port == b.last_sport {
            b.last_ns = b.last_ns.max(start);
            return;
        }
        b.last_sport = f.src_port;
        if b.total == 0 {
            b.first_ns = start;
        }
        b.total += 1;
        b.unanswered += u64::from(!answered(f));
        b.first_ns = b.first_ns.min(start);
        b.last_ns = b.last_ns.max(start);
        b.last_window = b.last_window.max(w);
        let pos = b.starts.partition_point(|&t| t <= start);
        b.starts.insert(pos, start);
        if b.starts.len() > BEACON_STARTS {
            b.starts.remove(0);
        }
        if (b.starts.len() as u32) < c.beacon_min_starts.max(3) {
            return;
        }
        let mut iv: Vec<f64> = b
            .starts
            .windows(2)
            .map(|p| (p[1] - p[0]) as f64 / 1e9)
            .collect();
        iv.sort_by(|a, b| a.total_cmp(b));
        let median = iv[iv.len() / 2];
        let mut dev: Vec<f64> = iv.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        let jitter = if median > 0.0 {
            dev[dev.len() / 2] / median
        } else {
            f64::INFINITY
        };
        let polling_ok = !cloud_polling_port(f.dst_port) || b.unanswered * 2 > b.total;
        let periodic = median >= c.beacon_min_period_s as f64
            && median <= c.beacon_max_period_s as f64
            && jitter <= c.beacon_max_jitter
            && polling_ok;
        if !periodic {
            return;
        }
        // Report once, then keep the alert's span and count growing.
        let server = endpoint(&f.dst, f.dst_port);
        let lead_ts = if b.reported { start } else { b.first_ns };
        let mut x = Finding::new(Kind::C2, format!("beacon|{server}"), f.src_mac, lead_ts);
        x.last_ns = b.last_ns;
        x.src = Some(f.src);
        x.dst = Some(f.dst);
        if b.reported {
            // Later starts only extend the alert; the first finding keeps the evidence.
            x.count = 1;
            x.evidence = json!({ "c2_server": server });
        } else {
            b.reported = true;
            x.count = b.total;
            x.summary = format!(
                "{} beacons to {server} ({}): {} connection starts every {:.1} s (jitter {:.0}%)",
                f.src,
                proto_name(f.proto),
                b.total,
                median,
                jitter * 100.0
            );
            x.evidence = json!({
                "c2_server": server, "client": f.src.to_string(), "protocol": "beacon",
                "transport": proto_name(f.proto), "connections": b.total,
                "unanswered_starts": b.unanswered,
                "period_s": (median * 10.0).round() / 10.0,
                "jitter_mad_over_median": (jitter * 1000.0).round() / 1000.0,
                "rule": "periodic connection starts (new source port each) to one remote endpoint, DNS/NTP/DHCP/mDNS/SSDP excluded",
                "source": "flow records",
            });
        }
        self.add(x);
    }

    /// A finding that only extends an alert already raised (its span and count).
    fn extend(&mut self, kind: Kind, device: Option<[u8; 6]>, key: String, t: i64, count: u64) {
        let mut x = Finding::new(kind, key, device, t);
        x.count = count.max(1);
        x.evidence = json!({});
        // Never the lead: the first finding keeps summary and evidence.
        x.summary = String::new();
        self.agg.add(x);
    }

    /// The findings so far (for live collectors that report periodically).
    pub fn snapshot(&self) -> Aggregator {
        let mut agg = self.agg.clone();
        self.flush_into(&mut agg);
        agg
    }

    /// Open flood episodes: their last flows extend the alerts.
    fn flush_into(&self, agg: &mut Aggregator) {
        for p in self.pairs.values() {
            let Some((kind, device, key)) = p.episode.clone() else {
                continue;
            };
            if p.pending == 0 {
                continue;
            }
            let mut x = Finding::new(kind, key, device, p.last_ns);
            x.count = p.pending;
            x.evidence = json!({});
            agg.add(x);
        }
    }

    /// The findings, for `palisade_detect::finalize`.
    pub fn finish(self) -> Aggregator {
        let mut agg = self.agg.clone();
        self.flush_into(&mut agg);
        agg
    }
}

#[cfg(test)]
mod tests;
