//! Host-level detectors: Mirai and worm scanning, horizontal/vertical scans, floods sent
//! (`ddos.participation`) and received (`ddos.target`, including reflection and
//! amplification).
//!
//! One instance runs on the reading thread and sees every packet in capture order (the
//! workers shard by address pair, so per-source aggregation there would split a scan
//! across shards). It uses header facts only and costs O(1) per packet with no
//! allocation on the hot path:
//!
//! * only *local* addresses (RFC 1918, link-local, CGNAT, ULA) get state; a local address
//!   enters the bounded host table after [`DetectConfig::admit_packets`] packets in the
//!   current slot, counted in a count-min sketch, so spoofed sources cannot churn it;
//! * per host, fixed-size counters and HyperLogLog registers for two time slots of
//!   `window_s` each; rules run when a slot ends, over the last two slots (a span of up to
//!   `2 * window_s` that slides by `window_s`);
//! * the host table is capped at [`DetectConfig::max_hosts`]; beyond it the longest-idle
//!   hosts are evicted after their pending slots are evaluated.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use palisade_packet::{Decoded, Network, Transport, ipproto, tcpflags};
use rustc_hash::FxHasher;
use serde_json::json;

use crate::alert::{Aggregator, Finding, Kind, Mac};
use crate::config::DetectConfig;
use crate::net::{Addr, addr_from_v4, ip, is_local, local_device_and_group, v4_of};
use crate::sketch::{CountMin, Hll, hash_addr, mix64};

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// UDP source ports of reflection/amplification services and their names.
pub const AMP_PORTS: [(u16, &str); 14] = [
    (53, "dns"),
    (123, "ntp"),
    (1900, "ssdp"),
    (161, "snmp"),
    (389, "cldap"),
    (11211, "memcached"),
    (19, "chargen"),
    (17, "qotd"),
    (47808, "bacnet"),
    (3702, "ws-discovery"),
    (37810, "dvr-dhcpdiscover"),
    (10001, "ubiquiti-discovery"),
    (111, "portmap"),
    (5683, "coap"),
];

#[inline]
fn amp_index(port: u16) -> Option<usize> {
    AMP_PORTS.iter().position(|(p, _)| *p == port)
}

const TOP_K: usize = 4;
const SAMPLES: usize = 8;

/// Per-destination counters of one host's top destinations (space-saving sketch).
#[derive(Debug, Clone, Copy, Default)]
struct Top {
    addr: Addr,
    mac: Option<Mac>,
    n: u32,
    syn: u32,
    udp: u32,
    ack: u32,
    gre: u32,
    icmp: u32,
    dport: u16,
    ports: Hll,
    first: i64,
    last: i64,
    /// Bytes sent to this destination (exfiltration volume).
    bytes: u64,
}

/// Counters for one time slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    first_ts: i64,
    last_ts: i64,
    out_pkts: u32,
    out_bytes: u64,
    out_syn: u32,
    out_mirai: u32,
    out_mirai_2323: u32,
    out_worm: u32,
    out_amp_req: u32,
    in_pkts: u32,
    in_bytes: u64,
    in_syn: u32,
    in_syn_ecn: u32,
    in_synack: u32,
    in_ack_rst: u32,
    in_udp: u32,
    in_icmp: u32,
    in_gre: u32,
    in_amp: [u32; AMP_PORTS.len()],
    in_top_dport: (u16, u32),
    syn_dst: Hll,
    syn_port: Hll,
    worm_dst: Hll,
    mirai_dst: Hll,
    in_src: Hll,
    amp_src: Hll,
    top: [Top; TOP_K],
    mirai_samples: [[u8; 4]; SAMPLES],
    mirai_ports: (u16, u16, u8, u16),
    n_samples: u8,
    syn_port_samples: [u16; SAMPLES],
    n_port_samples: u8,
    /// Bytes sent to non-local destinations.
    out_remote_bytes: u64,
    /// SYNs to internal peers on admin/remote-access ports outside the baseline.
    lat_syns: u32,
    lat_dst: Hll,
    lat_samples: [(Addr, u16); LAT_SAMPLES],
    n_lat_samples: u8,
}

const LAT_SAMPLES: usize = 4;

impl Default for Slot {
    fn default() -> Self {
        Slot {
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            out_pkts: 0,
            out_bytes: 0,
            out_syn: 0,
            out_mirai: 0,
            out_mirai_2323: 0,
            out_worm: 0,
            out_amp_req: 0,
            in_pkts: 0,
            in_bytes: 0,
            in_syn: 0,
            in_syn_ecn: 0,
            in_synack: 0,
            in_ack_rst: 0,
            in_udp: 0,
            in_icmp: 0,
            in_gre: 0,
            in_amp: [0; AMP_PORTS.len()],
            in_top_dport: (0, 0),
            syn_dst: Hll::default(),
            syn_port: Hll::default(),
            worm_dst: Hll::default(),
            mirai_dst: Hll::default(),
            in_src: Hll::default(),
            amp_src: Hll::default(),
            top: [Top::default(); TOP_K],
            mirai_samples: [[0; 4]; SAMPLES],
            mirai_ports: (0, 0, 0, 0),
            n_samples: 0,
            syn_port_samples: [0; SAMPLES],
            n_port_samples: 0,
            out_remote_bytes: 0,
            lat_syns: 0,
            lat_dst: Hll::default(),
            lat_samples: [([0; 16], 0); LAT_SAMPLES],
            n_lat_samples: 0,
        }
    }
}

/// A rule that keeps firing over consecutive slots becomes one episode (one alert).
#[derive(Debug, Clone)]
struct Episode {
    kind: Kind,
    /// vector / target / variant
    key: String,
    first_ns: i64,
    last_ns: i64,
    last_slot: i64,
    count: u64,
    peak: u64,
    peer: Option<Addr>,
    summary: String,
    evidence: serde_json::Value,
    samples: Vec<String>,
}

#[derive(Debug, Clone)]
struct Host {
    addr: Addr,
    mac: Option<Mac>,
    slot_idx: i64,
    last_ts: i64,
    cur: Box<Slot>,
    prev: Box<Slot>,
    /// Matching counts of the previous slot were already added to an episode.
    prev_counted: u32,
    episodes: Vec<Episode>,
    /// First packet time of this host in the table (baseline learning starts here).
    born: i64,
    /// Learnt behaviour and beacon candidates; allocated on the first outbound SYN or remote datagram.
    learn: Option<Box<Learn>>,
}

/// Entries of the learnt peer / destination sets (fixed size: learning stops when full).
const BASELINE_SET: usize = 32;

/// What a host did while its baseline was being learnt, and its beacon candidates.
#[derive(Debug, Clone, Default)]
struct Learn {
    /// Hashes of (internal peer, port) pairs connected to during learning.
    peers: Vec<u32>,
    /// Hashes of remote destinations contacted during learning.
    remote: Vec<u32>,
    /// Moving average of bytes sent to remote destinations per active slot.
    remote_bytes_avg: f64,
    slots_seen: u32,
    beacons: Vec<Beacon>,
}

/// Connection starts from one host to one remote endpoint (beaconing candidate).
#[derive(Debug, Clone)]
struct Beacon {
    dst: Addr,
    port: u16,
    /// UDP datagram bursts rather than TCP connection starts.
    udp: bool,
    /// Last datagram time (UDP: a new burst starts after `UDP_BURST_GAP_NS` of silence).
    last_seen: i64,
    last_sport: u16,
    first_start: i64,
    last_start: i64,
    starts: u32,
    /// The last intervals between connection starts, in milliseconds (ring).
    intervals: [u32; BEACON_RING],
    n_intervals: u32,
    reported_at: u32,
}

const BEACON_RING: usize = 16;

/// Silence after which the next UDP datagram to an endpoint starts a new burst (a
/// beacon's check-in; datagrams closer together belong to one exchange).
const UDP_BURST_GAP_NS: i64 = 1_000_000_000;

/// UDP ports where periodic datagrams to one remote server are ordinary keep-alives:
/// STUN/TURN (P2P cameras), IKE / IPsec NAT-T, and the ports of `common_service_port`
/// (DNS, NTP, QUIC, …).
fn udp_keepalive_port(p: u16) -> bool {
    common_service_port(p) || matches!(p, 500 | 3478 | 3479 | 4500 | 5349 | 19302..=19309)
}

/// Ports where a periodic connection is a normal cloud keep-alive or poll (web, MQTT,
/// push, mail, NTP, DNS): never called a beacon on their own.
fn common_service_port(p: u16) -> bool {
    matches!(
        p,
        53 | 80
            | 123
            | 443
            | 465
            | 587
            | 853
            | 993
            | 995
            | 1883
            | 5222
            | 5223
            | 5228
            | 8080
            | 8443
            | 8883
    )
}

/// Admin / remote-access services whose use between LAN peers is lateral movement when
/// it is new for the device (telnet, SSH, FTP, SMB/RPC, RDP, VNC, WinRM, ADB, TR-069,
/// MikroTik API).
fn admin_port(p: u16) -> bool {
    matches!(
        p,
        21 | 22
            | 23
            | 135
            | 139
            | 445
            | 2323
            | 3389
            | 5555
            | 5900
            | 5901
            | 5985
            | 5986
            | 7547
            | 8291
    )
}

#[inline]
fn h32(x: u64) -> u32 {
    (x >> 32) as u32 ^ x as u32
}

/// Counters for documentation and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostCounters {
    pub packets: u64,
    pub admitted: u64,
    pub evicted: u64,
    pub peak_hosts: u64,
}

/// The host-level detector (one per analysis, on the reading thread).
pub struct HostDetector {
    cfg: DetectConfig,
    slot_ns: i64,
    cms: CountMin,
    cms_slot: i64,
    map: FxMap<Addr, u32>,
    hosts: Vec<Option<Host>>,
    free: Vec<u32>,
    agg: Aggregator,
    /// Remote address -> the local host that contacted it first, and whether others
    /// did too (rare-destination test of beaconing). Cleared when full.
    dest_fanin: FxMap<Addr, (Addr, bool)>,
    /// The two most recently looked-up hosts and their table index (a conversation's
    /// packets alternate between its two ends); emptied on eviction.
    recent: [Option<(Addr, u32)>; 2],
    pub counters: HostCounters,
}

// Bits for `prev_counted`, one per rule that accumulates packet counts.
const R_MIRAI: u32 = 1;
const R_WORM: u32 = 2;
const R_SCAN_H: u32 = 4;
const R_SCAN_V: u32 = 8;
const R_FLOOD_SYN: u32 = 16;
const R_FLOOD_UDP: u32 = 4096;
const R_FLOOD_ACK: u32 = 8192;
const R_FLOOD_GRE: u32 = 16384;
const R_FLOOD_ICMP: u32 = 32768;
const R_T_SYN: u32 = 32;
const R_T_SYNACK: u32 = 64;
const R_T_AMP: u32 = 128;
const R_T_UDP: u32 = 256;
const R_T_ICMP: u32 = 512;
const R_T_ACK: u32 = 1024;
const R_T_GRE: u32 = 2048;
const R_LATERAL: u32 = 65536;
const R_EXFIL: u32 = 131072;

impl HostDetector {
    pub fn new(cfg: DetectConfig) -> Self {
        HostDetector {
            slot_ns: cfg.window_ns(),
            cms: CountMin::new(cfg.cms_width),
            cms_slot: i64::MIN,
            map: FxMap::default(),
            hosts: Vec::new(),
            free: Vec::new(),
            agg: Aggregator::new(cfg.max_alerts, cfg.evidence_list_max),
            dest_fanin: FxMap::default(),
            recent: [None; 2],
            counters: HostCounters::default(),
            cfg,
        }
    }

    /// Hosts currently tracked (never above `max_hosts`).
    pub fn tracked_hosts(&self) -> usize {
        self.map.len()
    }

    /// Bytes of state per tracked host at most, for documentation: the slots plus the
    /// learnt baseline and beacon candidates (with the default 8 TCP and 8 UDP beacon slots).
    pub fn bytes_per_host() -> usize {
        std::mem::size_of::<Host>()
            + 2 * std::mem::size_of::<Slot>()
            + 32
            + std::mem::size_of::<Learn>()
            + 2 * BASELINE_SET * 4
            + 16 * std::mem::size_of::<Beacon>()
    }

    /// Remote destinations remembered for the rare-destination test (never above
    /// `beacon_max_destinations`).
    pub fn tracked_destinations(&self) -> usize {
        self.dest_fanin.len()
    }

    /// Accounts one decoded packet (before IPv4 reassembly; header facts only).
    #[inline]
    pub fn packet(&mut self, ts: i64, d: &Decoded<'_>, wire_len: u32) {
        let (src, dst, proto) = match d.network {
            Network::Ipv4(ip) => (addr_from_v4(ip.src), addr_from_v4(ip.dst), ip.proto),
            Network::Ipv6(ip) => (ip.src, ip.dst, ip.proto),
            _ => return,
        };
        self.counters.packets += 1;
        let (src_local, _) = local_device_and_group(&src);
        let (dst_local, dst_group) = local_device_and_group(&dst);
        if !src_local && !dst_local {
            return;
        }
        let pk = Pkt::classify(d, proto, dst_group, &dst, wire_len);
        let slot = ts.div_euclid(self.slot_ns);
        if slot != self.cms_slot {
            self.cms.clear();
            self.cms_slot = slot;
        }
        // Every local source counts for the rare-destination test, tracked or not.
        let remote_syn = src_local && pk.syn() && !dst_local && !pk.dst_group;
        let remote_udp =
            src_local && pk.udp && !dst_local && !pk.dst_group && !udp_keepalive_port(pk.dport);
        let rare = (remote_syn || remote_udp)
            && note_destination(&mut self.dest_fanin, &self.cfg, &dst, &src);
        if src_local
            && let Some(i) = self.host(src, ts, slot)
            && let Some(h) = self.hosts[i].as_mut()
        {
            if d.src_mac.is_some() {
                h.mac = d.src_mac;
            }
            outbound(&self.cfg, h, &pk, &dst, dst_local, d.dst_mac, ts);
            if (remote_syn || remote_udp)
                && let Some(f) = beacon(&self.cfg, h, &pk, &dst, rare, ts)
            {
                self.agg.add(f);
            }
        }
        if dst_local
            && let Some(i) = self.host(dst, ts, slot)
            && let Some(h) = self.hosts[i].as_mut()
        {
            if d.dst_mac.is_some_and(|m| m[0] & 1 == 0) {
                h.mac = d.dst_mac;
            }
            inbound(h, &pk, &src, ts);
        }
    }

    /// Finds (or admits) the host entry and rolls its slot.
    #[inline]
    fn host(&mut self, a: Addr, ts: i64, slot: i64) -> Option<usize> {
        let i = match self.recent {
            [Some((r, i)), _] if r == a => i as usize,
            [r0, Some((r, i))] if r == a => {
                self.recent = [Some((r, i)), r0];
                i as usize
            }
            _ => {
                let i = match self.map.get(&a) {
                    Some(&i) => i as usize,
                    None => {
                        let est = self.cms.add(hash_addr(&a));
                        if est < self.cfg.admit_packets {
                            return None;
                        }
                        self.admit(a, ts, slot)?
                    }
                };
                self.recent = [Some((a, i as u32)), self.recent[0]];
                i
            }
        };
        let needs_roll = self.hosts[i].as_ref().is_some_and(|h| slot > h.slot_idx);
        if needs_roll {
            let cfg = self.cfg;
            let slot_ns = self.slot_ns;
            if let Some(h) = self.hosts[i].as_mut() {
                evaluate(&cfg, slot_ns, h, &mut self.agg);
                let contiguous = slot == h.slot_idx + 1;
                std::mem::swap(&mut h.prev, &mut h.cur);
                *h.cur = Slot::default();
                if !contiguous {
                    *h.prev = Slot::default();
                    h.prev_counted = 0;
                }
                h.slot_idx = slot;
            }
        }
        if let Some(h) = self.hosts[i].as_mut() {
            h.last_ts = h.last_ts.max(ts);
            let c = &mut h.cur;
            c.first_ts = c.first_ts.min(ts);
            c.last_ts = c.last_ts.max(ts);
        }
        Some(i)
    }

    fn admit(&mut self, a: Addr, ts: i64, slot: i64) -> Option<usize> {
        if self.map.len() >= self.cfg.max_hosts.max(1) {
            self.evict(ts);
        }
        if self.map.len() >= self.cfg.max_hosts.max(1) {
            return None;
        }
        let h = Host {
            addr: a,
            mac: None,
            slot_idx: slot,
            last_ts: ts,
            cur: Box::default(),
            prev: Box::default(),
            prev_counted: 0,
            episodes: Vec::new(),
            born: ts,
            learn: None,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.hosts[i as usize] = Some(h);
                i as usize
            }
            None => {
                self.hosts.push(Some(h));
                self.hosts.len() - 1
            }
        };
        self.map.insert(a, i as u32);
        self.counters.admitted += 1;
        self.counters.peak_hosts = self.counters.peak_hosts.max(self.map.len() as u64);
        Some(i)
    }

    /// Evicts the longest-idle eighth of the table (at least one host), oldest first.
    fn evict(&mut self, _now: i64) {
        let mut idle: Vec<(i64, Addr, u32)> = self
            .map
            .iter()
            .filter_map(|(a, &i)| self.hosts[i as usize].as_ref().map(|h| (h.last_ts, *a, i)))
            .collect();
        idle.sort_unstable();
        let n = (idle.len() / 8).max(1);
        self.recent = [None; 2];
        for &(_, a, i) in idle.iter().take(n) {
            self.map.remove(&a);
            if let Some(mut h) = self.hosts[i as usize].take() {
                self.close_host(&mut h);
            }
            self.free.push(i);
            self.counters.evicted += 1;
        }
    }

    fn close_host(&mut self, h: &mut Host) {
        evaluate(&self.cfg, self.slot_ns, h, &mut self.agg);
        for e in std::mem::take(&mut h.episodes) {
            emit(&mut self.agg, h, e);
        }
        beacon_tail(&mut self.agg, h);
    }

    /// The findings so far without ending the analysis (live sensing): what [`finish`]
    /// would return now, computed on copies so the detector's state is untouched.
    /// Costs O(tracked hosts); the caller decides how often.
    ///
    /// [`finish`]: HostDetector::finish
    pub fn snapshot(&self) -> Aggregator {
        let mut agg = self.agg.clone();
        let mut order: Vec<(Addr, u32)> = self.map.iter().map(|(a, &i)| (*a, i)).collect();
        order.sort_unstable();
        for (_, i) in order {
            if let Some(mut h) = self.hosts[i as usize].clone() {
                evaluate(&self.cfg, self.slot_ns, &mut h, &mut agg);
                for e in std::mem::take(&mut h.episodes) {
                    emit(&mut agg, &h, e);
                }
                beacon_tail(&mut agg, &mut h);
            }
        }
        agg
    }

    /// Ends the analysis: evaluates pending slots and returns the findings.
    pub fn finish(mut self) -> Aggregator {
        let mut order: Vec<(Addr, u32)> = self.map.iter().map(|(a, &i)| (*a, i)).collect();
        order.sort_unstable();
        for (_, i) in order {
            if let Some(mut h) = self.hosts[i as usize].take() {
                self.close_host(&mut h);
            }
        }
        self.agg
    }
}

/// The header facts of one packet the rules need.
#[derive(Debug, Clone, Copy, Default)]
struct Pkt {
    wire: u32,
    tcp: bool,
    flags: u8,
    seq: u32,
    sport: u16,
    dport: u16,
    udp: bool,
    icmp_echo_req: bool,
    icmp: bool,
    gre: bool,
    payload: bool,
    mirai: bool,
    dst_group: bool,
}

impl Pkt {
    #[inline]
    fn classify(d: &Decoded<'_>, proto: u8, dst_group: bool, dst: &Addr, wire: u32) -> Pkt {
        let mut p = Pkt {
            wire,
            dst_group,
            payload: !d.payload.is_empty(),
            ..Pkt::default()
        };
        match d.transport {
            Transport::Tcp(t) => {
                p.tcp = true;
                p.flags = t.flags;
                p.seq = t.seq;
                p.sport = t.src_port;
                p.dport = t.dst_port;
                p.mirai = t.flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN
                    && v4_of(dst).is_some_and(|o| u32::from_be_bytes(o) == t.seq);
            }
            Transport::Udp(u) => {
                p.udp = true;
                p.sport = u.src_port;
                p.dport = u.dst_port;
            }
            Transport::Icmp { icmp_type, .. } => {
                p.icmp = true;
                p.icmp_echo_req = icmp_type == 8;
            }
            Transport::Icmpv6 { icmp_type, .. } => {
                p.icmp = true;
                p.icmp_echo_req = icmp_type == 128;
            }
            Transport::Other(x) => p.gre = x == ipproto::GRE,
            Transport::Fragment => p.gre = proto == ipproto::GRE,
            Transport::None => {}
        }
        p
    }

    #[inline]
    fn syn(&self) -> bool {
        self.tcp && self.flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN
    }
    #[inline]
    fn synack(&self) -> bool {
        self.tcp && self.flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN | tcpflags::ACK
    }
    /// ACK without SYN/FIN/RST (ACK floods, incl. Mirai's ACK with random payload).
    #[inline]
    fn ack_only(&self) -> bool {
        self.tcp
            && self.flags & tcpflags::ACK != 0
            && self.flags & (tcpflags::SYN | tcpflags::FIN | tcpflags::RST) == 0
    }
}

/// Records that local `src` contacted remote `dst`; true while `src` is the only local
/// host seen contacting it.
fn note_destination(
    table: &mut FxMap<Addr, (Addr, bool)>,
    cfg: &DetectConfig,
    dst: &Addr,
    src: &Addr,
) -> bool {
    if let Some(e) = table.get_mut(dst) {
        if e.0 != *src {
            e.1 = true;
        }
        return !e.1;
    }
    if table.len() >= cfg.beacon_max_destinations.max(1) {
        table.clear();
    }
    table.insert(*dst, (*src, false));
    true
}

/// Beaconing: updates the (host, remote endpoint) candidate with a connection start and
/// returns a `botnet.c2` finding the first time the starts are periodic enough.
fn beacon(
    cfg: &DetectConfig,
    h: &mut Host,
    p: &Pkt,
    dst: &Addr,
    rare: bool,
    ts: i64,
) -> Option<Finding> {
    let slots = cfg.beacon_slots.clamp(1, 64);
    let udp = p.udp;
    let learn = h.learn.get_or_insert_with(Box::default);
    let i = match learn
        .beacons
        .iter()
        .position(|b| b.dst == *dst && b.port == p.dport && b.udp == udp)
    {
        Some(i) => i,
        None => {
            let b = Beacon {
                dst: *dst,
                port: p.dport,
                udp,
                last_seen: ts,
                last_sport: p.sport,
                first_start: ts,
                last_start: ts,
                starts: 1,
                intervals: [0; BEACON_RING],
                n_intervals: 0,
                reported_at: 0,
            };
            // TCP and UDP candidates have `slots` entries each, so datagrams never
            // push out connection candidates.
            if learn.beacons.iter().filter(|b| b.udp == udp).count() < slots {
                learn.beacons.push(b);
            } else if let Some(old) = learn
                .beacons
                .iter_mut()
                .filter(|b| b.udp == udp)
                .min_by_key(|b| b.last_start)
            {
                *old = b; // least recently used
            }
            return None;
        }
    };
    let b = &mut learn.beacons[i];
    if udp {
        let quiet = ts - b.last_seen;
        b.last_seen = b.last_seen.max(ts);
        if quiet < UDP_BURST_GAP_NS {
            return None; // the same burst
        }
    } else if b.last_sport == p.sport {
        return None; // a retransmitted SYN, not a new connection
    }
    let gap_ms = ((ts - b.last_start).max(0) / 1_000_000).min(u32::MAX as i64) as u32;
    b.last_sport = p.sport;
    b.last_start = ts;
    b.starts = b.starts.saturating_add(1);
    b.intervals[b.n_intervals as usize % BEACON_RING] = gap_ms;
    b.n_intervals = b.n_intervals.saturating_add(1);
    if b.reported_at > 0 {
        return None;
    }
    if b.starts < cfg.beacon_min_connections.max(3) || !rare || common_service_port(b.port) {
        return None;
    }
    let n = (b.n_intervals as usize).min(BEACON_RING);
    let mut iv: Vec<u32> = b.intervals[..n].to_vec();
    iv.sort_unstable();
    let median = iv[n / 2] as f64 / 1000.0;
    let mut dev: Vec<f64> = iv
        .iter()
        .map(|&x| (x as f64 / 1000.0 - median).abs())
        .collect();
    dev.sort_by(f64::total_cmp);
    let mad = dev[n / 2];
    let jitter = mad / median.max(1e-3);
    if median < cfg.beacon_min_period_s as f64
        || median > cfg.beacon_max_period_s as f64
        || jitter > cfg.beacon_max_jitter
    {
        return None;
    }
    b.reported_at = b.starts;
    let device = h.mac.filter(|m| m[0] & 1 == 0);
    let server = crate::net::endpoint(dst, b.port);
    let mut f = Finding::new(Kind::C2, beacon_key(b.udp, &server), device, b.first_start);
    f.last_ns = ts;
    f.count = b.starts as u64;
    f.src = Some(ip(&h.addr));
    f.dst = Some(ip(dst));
    if b.udp {
        f.summary = format!(
            "{} beacons to {server}/udp: {} datagram bursts every {:.1} s (jitter {:.0}%), no other local device contacts it",
            ip(&h.addr),
            b.starts,
            median,
            jitter * 100.0
        );
        f.evidence = json!({
            "protocol": "beacon-udp",
            "c2_server": server,
            "transport": "udp",
            "client": ip(&h.addr).to_string(),
            "bursts": b.starts,
            "period_s": (median * 100.0).round() / 100.0,
            "jitter_mad_over_median": (jitter * 1000.0).round() / 1000.0,
            "intervals_s": iv.iter().map(|&x| (x as f64 / 100.0).round() / 10.0).collect::<Vec<_>>(),
            "rare_destination": "contacted by this device only",
            "rule": "periodic UDP datagram bursts (after >= 1 s of silence) with low jitter to a remote endpoint on a port other than DNS/NTP/QUIC/STUN/IPsec",
        });
        return Some(f);
    }
    f.summary = format!(
        "{} beacons to {server}: {} connections every {:.1} s (jitter {:.0}%), no other local device contacts it",
        ip(&h.addr),
        b.starts,
        median,
        jitter * 100.0
    );
    f.evidence = json!({
        "protocol": "beacon",
        "c2_server": server,
        "client": ip(&h.addr).to_string(),
        "connections": b.starts,
        "period_s": (median * 100.0).round() / 100.0,
        "jitter_mad_over_median": (jitter * 1000.0).round() / 1000.0,
        "intervals_s": iv.iter().map(|&x| (x as f64 / 100.0).round() / 10.0).collect::<Vec<_>>(),
        "rare_destination": "contacted by this device only",
        "rule": "periodic TCP connection starts (new source port each) with low jitter to a remote endpoint on a non-web/non-MQTT port",
    });
    Some(f)
}

#[inline]
fn outbound(
    cfg: &DetectConfig,
    h: &mut Host,
    p: &Pkt,
    dst: &Addr,
    dst_local: bool,
    dst_mac: Option<Mac>,
    ts: i64,
) {
    let learning = ts - h.born < (cfg.baseline_learn_s as i64).saturating_mul(1_000_000_000);
    let c = &mut *h.cur;
    c.out_pkts = c.out_pkts.saturating_add(1);
    c.out_bytes += p.wire as u64;
    let hd = hash_addr(dst);
    if !dst_local && !p.dst_group {
        c.out_remote_bytes += p.wire as u64;
        // Remote destinations of the learning period, whether or not their
        // connections started inside the capture.
        if learning {
            let l = h.learn.get_or_insert_with(Box::default);
            let hh = h32(hd);
            if l.remote.len() < BASELINE_SET && !l.remote.contains(&hh) {
                l.remote.push(hh);
            }
        }
    }
    if p.syn() && !p.dst_group && dst_local {
        // Baseline learning and lateral movement (internal peers on admin ports).
        let set_hash = h32(mix64(hd ^ p.dport as u64));
        if learning {
            let l = h.learn.get_or_insert_with(Box::default);
            if l.peers.len() < BASELINE_SET && !l.peers.contains(&set_hash) {
                l.peers.push(set_hash);
            }
        } else if admin_port(p.dport)
            && !h
                .learn
                .as_ref()
                .is_some_and(|l| l.peers.contains(&set_hash))
        {
            c.lat_syns = c.lat_syns.saturating_add(1);
            c.lat_dst.add(hd);
            let n = c.n_lat_samples as usize;
            if n < LAT_SAMPLES
                && !c.lat_samples[..n]
                    .iter()
                    .any(|s| s.0 == *dst && s.1 == p.dport)
            {
                c.lat_samples[n] = (*dst, p.dport);
                c.n_lat_samples += 1;
            }
        }
    }
    if p.syn() {
        c.out_syn = c.out_syn.saturating_add(1);
        c.syn_dst.add(hd);
        c.syn_port.add(mix64(p.dport as u64 ^ 0x5bd1_e995));
        if (c.n_port_samples as usize) < SAMPLES
            && !c.syn_port_samples[..c.n_port_samples as usize].contains(&p.dport)
        {
            c.syn_port_samples[c.n_port_samples as usize] = p.dport;
            c.n_port_samples += 1;
        }
        if matches!(p.dport, 22 | 23 | 2323) {
            c.out_worm = c.out_worm.saturating_add(1);
            c.worm_dst.add(hd);
        }
        if p.mirai {
            c.out_mirai = c.out_mirai.saturating_add(1);
            if p.dport == 2323 {
                c.out_mirai_2323 = c.out_mirai_2323.saturating_add(1);
            }
            c.mirai_dst.add(hd);
            if let Some(o) = v4_of(dst)
                && (c.n_samples as usize) < SAMPLES
            {
                c.mirai_samples[c.n_samples as usize] = o;
                c.n_samples += 1;
            }
            c.mirai_ports = (p.sport, p.dport, 0, 0);
        }
    }
    if p.udp && amp_index(p.dport).is_some() {
        c.out_amp_req = c.out_amp_req.saturating_add(1);
    }
    if p.dst_group {
        return;
    }
    // space-saving top destinations
    let mut slot = usize::MAX;
    let mut min_i = 0;
    for (i, t) in c.top.iter().enumerate() {
        if t.n > 0 && t.addr == *dst {
            slot = i;
            break;
        }
        if t.n < c.top[min_i].n {
            min_i = i;
        }
    }
    if slot == usize::MAX {
        let inherited = c.top[min_i].n;
        c.top[min_i] = Top {
            addr: *dst,
            mac: dst_mac,
            n: inherited,
            first: ts,
            last: ts,
            ..Top::default()
        };
        slot = min_i;
    }
    let t = &mut c.top[slot];
    t.n = t.n.saturating_add(1);
    t.bytes += p.wire as u64;
    t.last = t.last.max(ts);
    if p.syn() {
        t.syn = t.syn.saturating_add(1);
        t.dport = p.dport;
        t.ports.add(mix64(p.sport as u64 ^ 0x1234));
    } else if p.udp {
        t.udp = t.udp.saturating_add(1);
        t.ports.add(mix64(p.dport as u64 ^ 0x77));
    } else if p.ack_only() {
        t.ack = t.ack.saturating_add(1);
        t.ports.add(mix64(p.dport as u64 ^ 0x99));
    } else if p.gre {
        t.gre = t.gre.saturating_add(1);
    } else if p.icmp_echo_req {
        t.icmp = t.icmp.saturating_add(1);
    }
}

#[inline]
fn inbound(h: &mut Host, p: &Pkt, src: &Addr, _ts: i64) {
    let c = &mut *h.cur;
    c.in_pkts = c.in_pkts.saturating_add(1);
    c.in_bytes += p.wire as u64;
    let hs = hash_addr(src);
    if p.tcp {
        if p.syn() {
            c.in_syn = c.in_syn.saturating_add(1);
            if p.flags & (tcpflags::ECE | tcpflags::CWR) != 0 {
                c.in_syn_ecn = c.in_syn_ecn.saturating_add(1);
            }
            c.in_src.add(hs);
            if c.in_top_dport.0 == p.dport {
                c.in_top_dport.1 += 1;
            } else if c.in_top_dport.1 == 0 {
                c.in_top_dport = (p.dport, 1);
            } else {
                c.in_top_dport.1 -= 1;
            }
        } else if p.synack() {
            c.in_synack = c.in_synack.saturating_add(1);
            c.in_src.add(hs);
        } else if p.flags & tcpflags::RST != 0 || (p.ack_only() && !p.payload) {
            c.in_ack_rst = c.in_ack_rst.saturating_add(1);
        }
    } else if p.udp {
        c.in_udp = c.in_udp.saturating_add(1);
        c.in_src.add(hs);
        if let Some(k) = amp_index(p.sport) {
            c.in_amp[k] = c.in_amp[k].saturating_add(1);
            c.amp_src.add(hs);
        }
    } else if p.icmp {
        c.in_icmp = c.in_icmp.saturating_add(1);
        c.in_src.add(hs);
    } else if p.gre {
        c.in_gre = c.in_gre.saturating_add(1);
        c.in_src.add(hs);
    }
}

/// What a rule found in the span.
struct Hit {
    kind: Kind,
    bit: u32,
    key: String,
    cur: u64,
    prev: u64,
    peer: Option<Addr>,
    summary: String,
    evidence: serde_json::Value,
    samples: Vec<String>,
}

fn rate(n: u64, span_ns: i64) -> f64 {
    let s = (span_ns.max(1_000_000_000)) as f64 / 1e9;
    ((n as f64 / s) * 10.0).round() / 10.0
}

/// Runs the rules on the last two slots of `h` and folds hits into episodes.
fn evaluate(cfg: &DetectConfig, slot_ns: i64, h: &mut Host, agg: &mut Aggregator) {
    let (c, p) = (&*h.cur, &*h.prev);
    if c.first_ts == i64::MAX {
        return;
    }
    // Cheap gate: raw counters bound every distinct count, so most (quiet) hosts skip
    // the rules entirely.
    let two = |f: fn(&Slot) -> u32| f(c) as u64 + f(p) as u64;
    let min_scan = cfg
        .mirai_min_syns
        .min(cfg.worm_min_targets)
        .min(cfg.scan_h_min_hosts)
        .min(cfg.scan_v_min_ports) as u64;
    let min_flood = cfg
        .flood_out_syn
        .min(cfg.flood_out_udp)
        .min(cfg.flood_out_ack)
        .min(cfg.flood_out_gre)
        .min(cfg.flood_out_icmp) as u64;
    let candidate = two(|x| x.out_syn) >= min_scan
        || two(|x| x.out_pkts) >= min_flood
        || two(|x| x.in_syn) >= cfg.target_syn as u64
        || two(|x| x.in_synack) >= cfg.target_synack as u64
        || two(|x| x.in_amp.iter().sum::<u32>()) >= cfg.target_amp_udp as u64
        || two(|x| x.in_udp) >= cfg.target_udp as u64
        || two(|x| x.in_icmp) >= cfg.target_icmp as u64
        || two(|x| x.in_ack_rst) >= cfg.target_ack_rst as u64
        || two(|x| x.in_gre) >= cfg.target_icmp as u64
        || two(|x| x.lat_syns) >= cfg.lateral_min_peers as u64
        || c.out_remote_bytes + p.out_remote_bytes >= cfg.exfil_min_bytes;
    // The device's usual outbound volume per slot (moving average over active slots,
    // excluding the slot being judged).
    let remote_avg = h.learn.as_ref().map_or(0.0, |l| l.remote_bytes_avg);
    let learnt = c.last_ts - h.born >= (cfg.baseline_learn_s as i64).saturating_mul(1_000_000_000);
    let update_avg = |h: &mut Host, exfil: bool| {
        let bytes = h.cur.out_remote_bytes as f64;
        if exfil || bytes == 0.0 && h.learn.is_none() {
            return;
        }
        let l = h.learn.get_or_insert_with(Box::default);
        l.remote_bytes_avg = if l.slots_seen == 0 {
            bytes
        } else {
            0.9 * l.remote_bytes_avg + 0.1 * bytes
        };
        l.slots_seen = l.slots_seen.saturating_add(1);
    };
    if !candidate && h.episodes.is_empty() {
        h.prev_counted = 0;
        update_avg(h, false);
        return;
    }
    let first = if p.first_ts != i64::MAX {
        p.first_ts
    } else {
        c.first_ts
    };
    let span = (c.last_ts - first).max(0);
    let span_s = ((span.max(1_000_000_000)) as f64 / 1e9 * 10.0).round() / 10.0;
    let mut hits: Vec<Hit> = Vec::new();
    let s = |f: fn(&Slot) -> u32| (f(c) as u64, f(p) as u64);
    let ip_s = ip(&h.addr).to_string();

    // --- scanning --------------------------------------------------------------------
    let (syn_c, syn_p) = s(|x| x.out_syn);
    let synack_in = (c.in_synack + p.in_synack) as f64;
    let answered = synack_in / ((syn_c + syn_p).max(1) as f64);
    let (m_c, m_p) = s(|x| x.out_mirai);
    let mirai_dsts = c.mirai_dst.union(&p.mirai_dst).estimate();
    let mut scanning = false;
    if m_c + m_p >= cfg.mirai_min_syns as u64 && mirai_dsts >= 5 {
        scanning = true;
        let n2323 = (c.out_mirai_2323 + p.out_mirai_2323) as u64;
        let samples: Vec<String> = p.mirai_samples[..p.n_samples as usize]
            .iter()
            .chain(c.mirai_samples[..c.n_samples as usize].iter())
            .map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]))
            .collect();
        let (sport, _, _, _) = if c.out_mirai > 0 {
            c.mirai_ports
        } else {
            p.mirai_ports
        };
        hits.push(Hit {
            kind: Kind::MiraiScan,
            bit: R_MIRAI,
            key: "seq==dst".into(),
            cur: m_c,
            prev: m_p,
            peer: None,
            summary: format!(
                "{ip_s} scans telnet like Mirai: {} SYNs with TCP seq = destination address to ~{mirai_dsts} hosts",
                m_c + m_p
            ),
            evidence: json!({
                "fingerprint": "TCP SYN sequence number == destination IPv4 address (Mirai raw-socket scanner)",
                "syns_seq_eq_dst": m_c + m_p,
                "dst_port_23": m_c + m_p - n2323,
                "dst_port_2323": n2323,
                "distinct_targets_est": mirai_dsts,
                "src_port": sport,
                "rate_pps": rate(m_c + m_p, span),
                "span_s": span_s,
                "answered_ratio": (answered * 100.0).round() / 100.0,
            }),
            samples,
        });
    }
    let worm_dsts = c.worm_dst.union(&p.worm_dst).estimate();
    let (w_c, w_p) = s(|x| x.out_worm);
    if !scanning && worm_dsts >= cfg.worm_min_targets as u64 && answered < cfg.scan_max_answer_ratio
    {
        scanning = true;
        hits.push(Hit {
            kind: Kind::MiraiScan,
            bit: R_WORM,
            key: "telnet-ssh-worm".into(),
            cur: w_c,
            prev: w_p,
            peer: None,
            summary: format!(
                "{ip_s} probes telnet/SSH (22/23/2323) on ~{worm_dsts} hosts, {:.0}% answered (worm-style scanning)",
                answered * 100.0
            ),
            evidence: json!({
                "fingerprint": "SYN fan-out to 22/23/2323 with few answers (generic telnet/SSH worm scanning; seq != dst)",
                "syns": w_c + w_p,
                "distinct_targets_est": worm_dsts,
                "rate_pps": rate(w_c + w_p, span),
                "span_s": span_s,
                "answered_ratio": (answered * 100.0).round() / 100.0,
            }),
            samples: Vec::new(),
        });
    }
    let syn_dsts = c.syn_dst.union(&p.syn_dst).estimate();
    let syn_ports = c.syn_port.union(&p.syn_port).estimate();
    let ports_sample =
        |x: &Slot| -> Vec<u16> { x.syn_port_samples[..x.n_port_samples as usize].to_vec() };
    if !scanning && syn_dsts >= cfg.scan_h_min_hosts as u64 && answered < cfg.scan_max_answer_ratio
    {
        let mut ports = ports_sample(p);
        ports.extend(ports_sample(c));
        ports.sort_unstable();
        ports.dedup();
        hits.push(Hit {
            kind: Kind::ScanHorizontal,
            bit: R_SCAN_H,
            key: "syn".into(),
            cur: syn_c,
            prev: syn_p,
            peer: None,
            summary: format!(
                "{ip_s} sent SYNs to ~{syn_dsts} hosts in {span_s} s, {:.0}% answered",
                answered * 100.0
            ),
            evidence: json!({
                "syns": syn_c + syn_p,
                "distinct_hosts_est": syn_dsts,
                "distinct_ports_est": syn_ports,
                "ports_sample": ports,
                "rate_pps": rate(syn_c + syn_p, span),
                "span_s": span_s,
                "answered_ratio": (answered * 100.0).round() / 100.0,
            }),
            samples: Vec::new(),
        });
    } else if !scanning
        && syn_ports >= cfg.scan_v_min_ports as u64
        && syn_dsts <= 4
        && answered < cfg.scan_max_answer_ratio
    {
        let top = c
            .top
            .iter()
            .filter(|t| t.syn > 0)
            .max_by_key(|t| (t.syn, t.addr))
            .map(|t| t.addr);
        hits.push(Hit {
            kind: Kind::ScanVertical,
            bit: R_SCAN_V,
            key: top.map(|a| ip(&a).to_string()).unwrap_or_default(),
            cur: syn_c,
            prev: syn_p,
            peer: top,
            summary: format!(
                "{ip_s} probed ~{syn_ports} ports on {} host(s) in {span_s} s",
                syn_dsts.max(1)
            ),
            evidence: json!({
                "syns": syn_c + syn_p,
                "distinct_ports_est": syn_ports,
                "distinct_hosts_est": syn_dsts,
                "rate_pps": rate(syn_c + syn_p, span),
                "span_s": span_s,
                "answered_ratio": (answered * 100.0).round() / 100.0,
            }),
            samples: Vec::new(),
        });
    }

    // --- lateral movement ---------------------------------------------------------------
    let lat_peers = c.lat_dst.union(&p.lat_dst).estimate();
    let (l_c, l_p) = s(|x| x.lat_syns);
    if !scanning && lat_peers >= cfg.lateral_min_peers as u64 && l_c + l_p > 0 {
        let targets: Vec<String> = p.lat_samples[..p.n_lat_samples as usize]
            .iter()
            .chain(c.lat_samples[..c.n_lat_samples as usize].iter())
            .map(|(a, port)| crate::net::endpoint(a, *port))
            .collect();
        hits.push(Hit {
            kind: Kind::LateralMovement,
            bit: R_LATERAL,
            key: "admin-ports".into(),
            cur: l_c,
            prev: l_p,
            peer: None,
            summary: format!(
                "{ip_s} connects to admin/remote-access services of ~{lat_peers} internal peers it never used before ({} SYNs in {span_s} s)",
                l_c + l_p
            ),
            evidence: json!({
                "syns": l_c + l_p,
                "distinct_internal_peers_est": lat_peers,
                "ports_watched": "21 22 23 135 139 445 2323 3389 5555 5900 5901 5985 5986 7547 8291",
                "baseline": format!("internal peers/ports used in the device's first {} s are its baseline", cfg.baseline_learn_s),
                "span_s": span_s,
                "answered_ratio": (answered * 100.0).round() / 100.0,
            }),
            samples: targets,
        });
    }

    // --- floods sent --------------------------------------------------------------------
    // Merge the top destinations of both slots.
    let mut tops: Vec<Top> = Vec::with_capacity(2 * TOP_K);
    for t in p.top.iter().chain(c.top.iter()).filter(|t| t.n > 0) {
        match tops.iter_mut().find(|x| x.addr == t.addr) {
            Some(x) => {
                x.n += t.n;
                x.syn += t.syn;
                x.udp += t.udp;
                x.ack += t.ack;
                x.gre += t.gre;
                x.icmp += t.icmp;
                x.bytes += t.bytes;
                x.ports = x.ports.union(&t.ports);
                x.first = x.first.min(t.first);
                x.last = x.last.max(t.last);
                if t.syn > 0 {
                    x.dport = t.dport;
                }
                if t.mac.is_some() {
                    x.mac = t.mac;
                }
            }
            None => tops.push(*t),
        }
    }
    tops.sort_by(|a, b| b.n.cmp(&a.n).then(a.addr.cmp(&b.addr)));
    if let Some(t) = tops.first() {
        let spread = t.ports.estimate();
        let cur_top = c.top.iter().find(|x| x.n > 0 && x.addr == t.addr).copied();
        let cur_of = |f: fn(&Top) -> u32| cur_top.as_ref().map_or(0, f) as u64;
        let mut vectors: Vec<(&str, u32, u64, u32)> = Vec::new();
        if t.syn >= cfg.flood_out_syn {
            // Handshakes that complete to a web port are an HTTP (connection/request)
            // flood, as Mirai's "http" attack; unanswered ones a SYN flood.
            let web = matches!(t.dport, 80 | 443 | 8000 | 8080 | 8443);
            let vector = if web && answered >= 0.5 {
                "http"
            } else {
                "syn"
            };
            vectors.push((vector, t.syn, cur_of(|x| x.syn), R_FLOOD_SYN));
        }
        if t.udp >= cfg.flood_out_udp && spread >= cfg.flood_port_spread as u64 {
            vectors.push(("udp", t.udp, cur_of(|x| x.udp), R_FLOOD_UDP));
        } else if t.udp >= cfg.flood_out_udp_plain {
            vectors.push(("udp-plain", t.udp, cur_of(|x| x.udp), R_FLOOD_UDP));
        }
        if t.ack >= cfg.flood_out_ack && spread >= cfg.flood_port_spread as u64 {
            vectors.push(("ack", t.ack, cur_of(|x| x.ack), R_FLOOD_ACK));
        }
        if t.gre >= cfg.flood_out_gre {
            vectors.push(("gre", t.gre, cur_of(|x| x.gre), R_FLOOD_GRE));
        }
        if t.icmp >= cfg.flood_out_icmp {
            vectors.push(("icmp", t.icmp, cur_of(|x| x.icmp), R_FLOOD_ICMP));
        }
        let target = ip(&t.addr).to_string();
        let active = (t.last - t.first).max(0);
        let active_s = ((active.max(1_000_000_000)) as f64 / 1e9 * 10.0).round() / 10.0;
        for (vector, n, cur_n, bit) in vectors {
            let n = n as u64;
            let prev_n = n.saturating_sub(cur_n);
            hits.push(Hit {
                kind: Kind::DdosParticipation,
                bit,
                key: format!("{vector}->{target}"),
                cur: cur_n,
                prev: prev_n,
                peer: Some(t.addr),
                summary: format!(
                    "{ip_s} sends a {vector} flood to {target}: {n} packets, {} pps over {active_s} s",
                    rate(n, active)
                ),
                evidence: json!({
                    "vector": vector,
                    "target": target,
                    "target_port": if matches!(vector, "syn" | "http") { Some(t.dport) } else { None },
                    "handshakes_answered_ratio": (answered * 100.0).round() / 100.0,
                    "packets": n,
                    "packets_to_target_all": t.n,
                    "syn": t.syn, "udp": t.udp, "ack": t.ack, "gre": t.gre, "icmp_echo": t.icmp,
                    "distinct_ports_est": spread,
                    "rate_pps": rate(n, active),
                    "active_s": active_s,
                    "out_bytes_span": c.out_bytes + p.out_bytes,
                    "span_s": span_s,
                    "fan_out_syn_hosts_est": syn_dsts,
                }),
                samples: Vec::new(),
            });
        }
    }

    // --- exfiltration volume ------------------------------------------------------------
    let remote_bytes = c.out_remote_bytes + p.out_remote_bytes;
    let flooding = hits.iter().any(|x| x.kind == Kind::DdosParticipation);
    let mut exfil = false;
    if learnt
        && !flooding
        && remote_bytes >= cfg.exfil_min_bytes
        && remote_bytes as f64 >= cfg.exfil_factor * 2.0 * remote_avg
        && let Some(t) = tops
            .iter()
            .filter(|t| !is_local(&t.addr))
            .max_by_key(|t| (t.bytes, t.addr))
        && t.bytes >= cfg.exfil_min_bytes / 2
        && !h
            .learn
            .as_ref()
            .is_some_and(|l| l.remote.contains(&h32(hash_addr(&t.addr))))
    {
        exfil = true;
        let dest = ip(&t.addr).to_string();
        let (b_c, b_p) = (c.out_remote_bytes, p.out_remote_bytes);
        hits.push(Hit {
            kind: Kind::ExfilVolume,
            bit: R_EXFIL,
            key: dest.clone(),
            cur: b_c,
            prev: b_p,
            peer: Some(t.addr),
            summary: format!(
                "{ip_s} uploads {:.1} MB in {span_s} s ({:.1} MB to {dest}, a destination outside its baseline), {:.0}x its usual volume",
                remote_bytes as f64 / 1e6,
                t.bytes as f64 / 1e6,
                remote_bytes as f64 / (2.0 * remote_avg).max(1.0)
            ),
            evidence: json!({
                "bytes_out_remote_span": remote_bytes,
                "bytes_to_destination": t.bytes,
                "destination": dest,
                "baseline_bytes_per_span": (2.0 * remote_avg).round(),
                "factor": ((remote_bytes as f64 / (2.0 * remote_avg).max(1.0)) * 10.0).round() / 10.0,
                "rate_bytes_per_s": rate(remote_bytes, span),
                "span_s": span_s,
            }),
            samples: Vec::new(),
        });
    }

    // --- floods received ------------------------------------------------------------------
    let srcs = c.in_src.union(&p.in_src).estimate();
    let min_src = cfg.target_min_sources as u64;
    let in_bytes = c.in_bytes + p.in_bytes;
    let target_ev = |vector: &str, n: u64, extra: serde_json::Value| {
        let mut ev = json!({
            "vector": vector,
            "packets": n,
            "rate_pps": rate(n, span),
            "distinct_sources_est": srcs,
            "in_bytes_span": in_bytes,
            "span_s": span_s,
        });
        if let (serde_json::Value::Object(o), serde_json::Value::Object(x)) = (&mut ev, extra) {
            o.extend(x);
        }
        ev
    };
    let (is_c, is_p) = s(|x| x.in_syn);
    if is_c + is_p >= cfg.target_syn as u64 && srcs >= min_src {
        let ecn = (c.in_syn_ecn + p.in_syn_ecn) as u64;
        let vector = if ecn * 2 > is_c + is_p {
            "syn (ECE+CWR flags)"
        } else {
            "syn"
        };
        let port = if c.in_top_dport.1 > 0 {
            c.in_top_dport.0
        } else {
            p.in_top_dport.0
        };
        hits.push(Hit {
            kind: Kind::DdosTarget,
            bit: R_T_SYN,
            key: "syn".into(),
            cur: is_c,
            prev: is_p,
            peer: None,
            summary: format!(
                "{ip_s} receives a {vector} flood: {} SYNs from ~{srcs} sources ({} pps) to port {port}",
                is_c + is_p,
                rate(is_c + is_p, span)
            ),
            evidence: target_ev(vector, is_c + is_p, json!({"target_port": port, "syn_with_ece_cwr": ecn})),
            samples: Vec::new(),
        });
    }
    let (sa_c, sa_p) = s(|x| x.in_synack);
    let unsolicited = (sa_c + sa_p).saturating_sub(4 * (syn_c + syn_p));
    if unsolicited >= cfg.target_synack as u64 {
        hits.push(Hit {
            kind: Kind::DdosTarget,
            bit: R_T_SYNACK,
            key: "tcp-synack-reflection".into(),
            cur: sa_c,
            prev: sa_p,
            peer: None,
            summary: format!(
                "{ip_s} receives {} unsolicited SYN-ACKs from ~{srcs} hosts (TCP reflection, it sent {} SYNs)",
                sa_c + sa_p,
                syn_c + syn_p
            ),
            evidence: target_ev(
                "tcp-synack-reflection",
                sa_c + sa_p,
                json!({"syns_sent": syn_c + syn_p}),
            ),
            samples: Vec::new(),
        });
    }
    let amp_total = |x: &Slot| x.in_amp.iter().map(|&v| v as u64).sum::<u64>();
    let (a_c, a_p) = (amp_total(c), amp_total(p));
    let amp_srcs = c.amp_src.union(&p.amp_src).estimate();
    let reqs = (c.out_amp_req + p.out_amp_req) as u64;
    if (a_c + a_p).saturating_sub(10 * reqs) >= cfg.target_amp_udp as u64
        && amp_srcs >= cfg.target_amp_sources as u64
    {
        let (k, _) = (0..AMP_PORTS.len())
            .map(|k| (k, c.in_amp[k] as u64 + p.in_amp[k] as u64))
            .max_by_key(|&(k, n)| (n, std::cmp::Reverse(k)))
            .unwrap_or((0, 0));
        let (port, svc) = AMP_PORTS[k];
        let vector = format!("udp-amplification ({svc}, source port {port})");
        hits.push(Hit {
            kind: Kind::DdosTarget,
            bit: R_T_AMP,
            key: format!("amp-{svc}"),
            cur: a_c,
            prev: a_p,
            peer: None,
            summary: format!(
                "{ip_s} is the victim of {svc} amplification: {} responses from ~{amp_srcs} reflectors ({} requests sent)",
                a_c + a_p,
                reqs
            ),
            evidence: target_ev(
                &vector,
                a_c + a_p,
                json!({"reflector_port": port, "service": svc, "reflectors_est": amp_srcs, "requests_sent": reqs}),
            ),
            samples: Vec::new(),
        });
    }
    for (bit, vector, f, thr) in [
        (
            R_T_UDP,
            "udp",
            (|x: &Slot| x.in_udp) as fn(&Slot) -> u32,
            cfg.target_udp,
        ),
        (R_T_ICMP, "icmp", |x: &Slot| x.in_icmp, cfg.target_icmp),
        (
            R_T_ACK,
            "ack/rst",
            |x: &Slot| x.in_ack_rst,
            cfg.target_ack_rst,
        ),
        (R_T_GRE, "gre", |x: &Slot| x.in_gre, cfg.target_icmp),
    ] {
        let (n_c, n_p) = s(f);
        if n_c + n_p >= thr as u64 && srcs >= min_src && hits.iter().all(|h| h.bit != R_T_AMP) {
            hits.push(Hit {
                kind: Kind::DdosTarget,
                bit,
                key: vector.into(),
                cur: n_c,
                prev: n_p,
                peer: None,
                summary: format!(
                    "{ip_s} receives a {vector} flood: {} packets from ~{srcs} sources ({} pps)",
                    n_c + n_p,
                    rate(n_c + n_p, span)
                ),
                evidence: target_ev(vector, n_c + n_p, json!({})),
                samples: Vec::new(),
            });
        }
    }

    // --- fold into episodes ----------------------------------------------------------------
    let slot_idx = h.slot_idx;
    let gap_slots = (cfg.merge_gap_ns() / slot_ns.max(1)).max(1);
    let mut counted = 0u32;
    for hit in hits {
        let add = hit.cur
            + if h.prev_counted & hit.bit == 0 {
                hit.prev
            } else {
                0
            };
        counted |= hit.bit;
        let start = if h.prev_counted & hit.bit == 0 && hit.prev > 0 {
            first
        } else {
            c.first_ts
        };
        let pos = h
            .episodes
            .iter()
            .position(|e| e.kind == hit.kind && e.key == hit.key);
        if let Some(i) = pos
            && slot_idx - h.episodes[i].last_slot > gap_slots
        {
            let e = h.episodes.remove(i);
            emit(agg, h, e);
        }
        match h
            .episodes
            .iter_mut()
            .find(|e| e.kind == hit.kind && e.key == hit.key)
        {
            Some(e) => {
                e.last_ns = c.last_ts;
                e.last_slot = slot_idx;
                e.count += add;
                if hit.cur + hit.prev > e.peak {
                    e.peak = hit.cur + hit.prev;
                    e.summary = hit.summary;
                    e.evidence = hit.evidence;
                }
                for s in hit.samples {
                    if e.samples.len() < cfg.evidence_list_max && !e.samples.contains(&s) {
                        e.samples.push(s);
                    }
                }
            }
            None => {
                let mut samples = hit.samples;
                samples.truncate(cfg.evidence_list_max);
                h.episodes.push(Episode {
                    kind: hit.kind,
                    key: hit.key,
                    first_ns: start,
                    last_ns: c.last_ts,
                    last_slot: slot_idx,
                    count: add,
                    peak: hit.cur + hit.prev,
                    peer: hit.peer,
                    summary: hit.summary,
                    evidence: hit.evidence,
                    samples,
                });
            }
        }
    }
    h.prev_counted = counted;
    update_avg(h, exfil);
    // Episodes idle past the merge gap are done.
    let mut i = 0;
    while i < h.episodes.len() {
        if slot_idx - h.episodes[i].last_slot > gap_slots {
            let e = h.episodes.remove(i);
            emit(agg, h, e);
        } else {
            i += 1;
        }
    }
}

/// Adds the connections of reported beacons made since their report to the alert.
/// Aggregation key of a beaconing finding (TCP keys unchanged from before UDP).
fn beacon_key(udp: bool, server: &str) -> String {
    if udp {
        format!("beacon-udp|{server}")
    } else {
        format!("beacon|{server}")
    }
}

fn beacon_tail(agg: &mut Aggregator, h: &mut Host) {
    let device = h.mac.filter(|m| m[0] & 1 == 0);
    let Some(l) = h.learn.as_mut() else { return };
    for b in l.beacons.iter_mut().filter(|b| b.reported_at > 0) {
        if b.starts <= b.reported_at {
            continue;
        }
        let server = crate::net::endpoint(&b.dst, b.port);
        let mut f = Finding::new(Kind::C2, beacon_key(b.udp, &server), device, i64::MAX);
        f.last_ns = b.last_start;
        f.count = (b.starts - b.reported_at) as u64;
        f.evidence = serde_json::Value::Object(serde_json::Map::new());
        b.reported_at = b.starts;
        agg.add(f);
    }
}

fn emit(agg: &mut Aggregator, h: &Host, e: Episode) {
    let device = h.mac.filter(|m| m[0] & 1 == 0);
    let mut f = Finding::new(
        e.kind,
        format!("{}|{}", e.key, e.first_ns),
        device,
        e.first_ns,
    );
    f.last_ns = e.last_ns;
    f.count = e.count.max(1);
    f.summary = e.summary;
    let mut ev = e.evidence;
    if let serde_json::Value::Object(o) = &mut ev {
        o.insert("host".into(), ip(&h.addr).to_string().into());
        if !e.samples.is_empty() {
            o.insert("targets_sample".into(), e.samples.clone().into());
        }
    }
    f.evidence = ev;
    let me = Some(ip(&h.addr));
    match e.kind {
        Kind::DdosTarget => {
            f.dst = me;
        }
        _ => {
            f.src = me;
            f.dst = e.peer.map(|a| ip(&a));
        }
    }
    agg.add(f);
}
