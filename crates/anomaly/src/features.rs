//! Per-packet feature extraction: damped statistics keyed per source MAC-IP, source IP,
//! host pair (channel), socket and local device, over several decay windows.
//!
//! Kitsune keys everything by source, so a spoofed flood (every packet from a new source)
//! looks like ordinary "first packet of a new host" traffic. The device-keyed statistics here
//! aggregate by the *local* endpoint (the private-address side of the packet, in either
//! direction): volume, sizes, the rate of contacts with new hosts, bare SYNs and new sockets.

use rustc_hash::FxHashMap;

use palisade_packet::{Decoded, Network, Transport, tcpflags};

use crate::stats::{IncStat, IncStat2, decay_factor};

/// Maximum number of decay windows.
pub const MAX_WINDOWS: usize = 5;
/// Features per decay window.
pub const PER_WINDOW: usize = 30;

/// The packet fields the extractor uses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PacketView {
    /// Seconds (any epoch; only differences matter).
    pub t: f64,
    pub src_mac: u64,
    pub src: u128,
    pub dst: u128,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    /// Frame length on the wire.
    pub size: f64,
    /// TCP flags (0 when not TCP).
    pub tcp_flags: u8,
    pub is_tcp: bool,
    /// Which endpoint is the local device: 0 = source, 1 = destination.
    pub local: u8,
}

/// Tag bit for addresses that are MACs (non-IP frames).
const MAC_TAG: u128 = 1 << 127;

fn mac_u64(m: Option<[u8; 6]>) -> u64 {
    m.map(|m| {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&m);
        u64::from_be_bytes(b)
    })
    .unwrap_or(0)
}

fn v4(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a)) | (0xffffu128 << 32)
}

/// Private, link-local, loopback, CGNAT, ULA and MAC-tagged addresses count as local.
pub fn is_local(a: u128) -> bool {
    if a & MAC_TAG != 0 {
        return true;
    }
    if a >> 32 == 0xffff {
        let b = (a as u32).to_be_bytes();
        return b[0] == 10
            || (b[0] == 172 && (16..32).contains(&b[1]))
            || (b[0] == 192 && b[1] == 168)
            || (b[0] == 169 && b[1] == 254)
            || (b[0] == 100 && (64..128).contains(&b[1]))
            || b[0] == 127;
    }
    let hi = (a >> 112) as u16;
    (hi & 0xfe00) == 0xfc00 || (hi & 0xffc0) == 0xfe80 || a == 1
}

impl PacketView {
    /// Builds the view of a decoded frame. `ts_ns` is the capture time in nanoseconds.
    pub fn from_decoded(ts_ns: i64, d: &Decoded<'_>, wire_len: u32) -> Self {
        let src_mac = mac_u64(d.src_mac);
        let dst_mac = mac_u64(d.dst_mac);
        let (src, dst, proto) = match d.network {
            Network::Ipv4(ip) => (v4(ip.src), v4(ip.dst), ip.proto),
            Network::Ipv6(ip) => (
                u128::from_be_bytes(ip.src),
                u128::from_be_bytes(ip.dst),
                ip.proto,
            ),
            Network::Arp(a) => (v4(a.sender_ip), v4(a.target_ip), 0),
            _ => (
                MAC_TAG | u128::from(src_mac),
                MAC_TAG | u128::from(dst_mac),
                0,
            ),
        };
        let (src_port, dst_port, tcp_flags, is_tcp) = match d.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port, t.flags, true),
            Transport::Udp(u) => (u.src_port, u.dst_port, 0, false),
            Transport::Icmp { icmp_type, code }
            | Transport::Icmpv6 {
                icmp_type, code, ..
            } => (u16::from(icmp_type), u16::from(code), 0, false),
            _ => (0, 0, 0, false),
        };
        let local = if !is_local(src) && is_local(dst) {
            1
        } else {
            0
        };
        PacketView {
            t: ts_ns as f64 * 1e-9,
            src_mac,
            src,
            dst,
            src_port,
            dst_port,
            proto,
            size: f64::from(wire_len),
            tcp_flags,
            is_tcp,
            local,
        }
    }

    /// The local device's address (see [`is_local`]).
    pub fn device(&self) -> u128 {
        if self.local == 1 { self.dst } else { self.src }
    }
}

/// A hash table with a size cap: when full, the least recently updated half is evicted.
#[derive(Debug)]
pub struct Table<K, V> {
    map: FxHashMap<K, (f64, V)>,
    cap: usize,
    pub evicted: u64,
}

impl<K: std::hash::Hash + Eq + Copy, V: Default> Table<K, V> {
    pub fn new(cap: usize) -> Self {
        Table {
            map: FxHashMap::default(),
            cap: cap.max(2),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entry for `k`, created if absent; returns (entry, last update time, was absent).
    /// The stored time moves to `now` unless time went backwards.
    #[inline]
    pub fn entry(&mut self, k: K, now: f64) -> (&mut V, f64, bool) {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            self.evict();
        }
        let mut fresh = false;
        let e = self.map.entry(k).or_insert_with(|| {
            fresh = true;
            (now, V::default())
        });
        let last = e.0;
        if now > e.0 {
            e.0 = now;
        }
        (&mut e.1, last, fresh)
    }

    fn evict(&mut self) {
        let mut times: Vec<f64> = self.map.values().map(|e| e.0).collect();
        let mid = times.len() / 2;
        times.select_nth_unstable_by(mid, f64::total_cmp);
        let cut = times[mid];
        let before = self.map.len();
        self.map.retain(|_, e| e.0 > cut);
        if self.map.len() > self.cap / 2 {
            // Many equal times: drop arbitrary entries down to half.
            let mut n = self.map.len() - self.cap / 2;
            self.map.retain(|_, _| {
                if n > 0 {
                    n -= 1;
                    false
                } else {
                    true
                }
            });
        }
        self.evicted += (before - self.map.len()) as u64;
    }
}

type W1 = [IncStat; MAX_WINDOWS];
type W2 = [IncStat2; MAX_WINDOWS];

#[derive(Debug, Default)]
struct Channel {
    s: W2,
    jit: [W1; 2],
    last: [f64; 2],
    seen: [bool; 2],
}

#[derive(Debug, Default)]
struct Device {
    size: W1,
    newpeer: W1,
    syn: W1,
    newsock: W1,
}

/// Table caps (entries per table).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Caps {
    pub hosts: usize,
    pub channels: usize,
    pub sockets: usize,
    pub devices: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            hosts: 32_768,
            channels: 32_768,
            sockets: 32_768,
            devices: 8_192,
        }
    }
}

/// The feature extractor.
#[derive(Debug)]
pub struct Extractor {
    lambdas: Vec<f64>,
    mi: Table<(u64, u128), W1>,
    h: Table<u128, W1>,
    hh: Table<(u128, u128), Channel>,
    hp: Table<(u128, u16, u128, u16, u8), W2>,
    dev: Table<u128, Device>,
    /// Slowest window's index (for "was this peer forgotten").
    slow: usize,
}

/// A peer or socket whose slowest-window weight fell below this counts as new again.
const FORGOTTEN: f64 = 1e-3;

impl Extractor {
    /// `lambdas`: decay rates (at most [`MAX_WINDOWS`]; non-positive or non-finite ones are
    /// replaced by a very slow window, 1e-6).
    pub fn new(lambdas: &[f64], caps: Caps) -> Self {
        let mut l: Vec<f64> = lambdas
            .iter()
            .take(MAX_WINDOWS)
            .map(|&x| if x > 0.0 && x.is_finite() { x } else { 1e-6 })
            .collect();
        if l.is_empty() {
            l.push(1.0);
        }
        let slow = l
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|x| x.0)
            .unwrap_or(0);
        Extractor {
            lambdas: l,
            mi: Table::new(caps.hosts),
            h: Table::new(caps.hosts),
            hh: Table::new(caps.channels),
            hp: Table::new(caps.sockets),
            dev: Table::new(caps.devices),
            slow,
        }
    }

    pub fn windows(&self) -> usize {
        self.lambdas.len()
    }

    pub fn dim(&self) -> usize {
        self.lambdas.len() * PER_WINDOW
    }

    /// Entries held over all tables.
    pub fn entries(&self) -> usize {
        self.mi.len() + self.h.len() + self.hh.len() + self.hp.len() + self.dev.len()
    }

    /// Updates the statistics with `p` and writes its features into `out` (length [`Self::dim`]).
    pub fn update(&mut self, p: &PacketView, out: &mut [f32]) {
        let nw = self.lambdas.len();
        if out.len() < nw * PER_WINDOW {
            return;
        }
        let t = if p.t.is_finite() { p.t } else { 0.0 };
        let x = if p.size.is_finite() { p.size } else { 0.0 };
        let mut f = [1.0f64; MAX_WINDOWS];
        let lam = &self.lambdas;
        let factors = |last: f64, f: &mut [f64; MAX_WINDOWS]| {
            for (fi, &l) in f.iter_mut().zip(lam.iter()) {
                *fi = decay_factor(l, last, t);
            }
        };

        // Source MAC-IP and source IP.
        let (e, last, _) = self.mi.entry((p.src_mac, p.src), t);
        factors(last, &mut f);
        for i in 0..nw {
            e[i].decay(f[i]);
            e[i].insert(x);
            let o = i * PER_WINDOW;
            out[o] = e[i].w as f32;
            out[o + 1] = e[i].mean() as f32;
            out[o + 2] = e[i].std() as f32;
        }
        let (e, last, _) = self.h.entry(p.src, t);
        factors(last, &mut f);
        for i in 0..nw {
            e[i].decay(f[i]);
            e[i].insert(x);
            let o = i * PER_WINDOW;
            out[o + 3] = e[i].w as f32;
            out[o + 4] = e[i].mean() as f32;
            out[o + 5] = e[i].std() as f32;
        }

        // Channel (host pair), both directions in one entry.
        let (key, d) = if p.src <= p.dst {
            ((p.src, p.dst), 0)
        } else {
            ((p.dst, p.src), 1)
        };
        let slow = self.slow;
        let (c, last, fresh) = self.hh.entry(key, t);
        let new_peer = fresh || c.s[slow].w3 * decay_factor(lam[slow], last, t) < FORGOTTEN;
        factors(last, &mut f);
        let jit = if c.seen[d] {
            (t - c.last[d]).max(0.0)
        } else {
            0.0
        };
        c.last[d] = if c.seen[d] { c.last[d].max(t) } else { t };
        c.seen[d] = true;
        for i in 0..nw {
            c.s[i].decay(f[i]);
            c.s[i].insert(d, x);
            let s = c.s[i].get(d);
            let o = i * PER_WINDOW;
            out[o + 6] = s.w as f32;
            out[o + 7] = s.mean as f32;
            out[o + 8] = s.std as f32;
            out[o + 9] = s.magnitude as f32;
            out[o + 10] = s.radius as f32;
            out[o + 11] = s.cov as f32;
            out[o + 12] = s.pcc as f32;
            c.jit[0][i].decay(f[i]);
            c.jit[1][i].decay(f[i]);
            c.jit[d][i].insert(jit);
            let j = &c.jit[d][i];
            out[o + 13] = j.w as f32;
            out[o + 14] = j.mean() as f32;
            out[o + 15] = j.std() as f32;
        }

        // Socket.
        let a = (p.src, p.src_port);
        let b = (p.dst, p.dst_port);
        let (key, d) = if a <= b {
            ((a.0, a.1, b.0, b.1, p.proto), 0)
        } else {
            ((b.0, b.1, a.0, a.1, p.proto), 1)
        };
        let (s2, last, fresh) = self.hp.entry(key, t);
        let new_sock = fresh || s2[slow].w3 * decay_factor(lam[slow], last, t) < FORGOTTEN;
        factors(last, &mut f);
        for i in 0..nw {
            s2[i].decay(f[i]);
            s2[i].insert(d, x);
            let s = s2[i].get(d);
            let o = i * PER_WINDOW;
            out[o + 16] = s.w as f32;
            out[o + 17] = s.mean as f32;
            out[o + 18] = s.std as f32;
            out[o + 19] = s.magnitude as f32;
            out[o + 20] = s.radius as f32;
            out[o + 21] = s.cov as f32;
            out[o + 22] = s.pcc as f32;
        }

        // Local device, both directions.
        let syn = p.is_tcp && p.tcp_flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN;
        let (dv, last, _) = self.dev.entry(p.device(), t);
        factors(last, &mut f);
        for i in 0..nw {
            dv.size[i].decay(f[i]);
            dv.size[i].insert(x);
            dv.newpeer[i].decay(f[i]);
            dv.newpeer[i].insert(if new_peer { 1.0 } else { 0.0 });
            dv.syn[i].decay(f[i]);
            dv.syn[i].insert(if syn { 1.0 } else { 0.0 });
            dv.newsock[i].decay(f[i]);
            dv.newsock[i].insert(if new_sock { 1.0 } else { 0.0 });
            let o = i * PER_WINDOW;
            out[o + 23] = dv.size[i].w as f32;
            out[o + 24] = dv.size[i].mean() as f32;
            out[o + 25] = dv.size[i].std() as f32;
            out[o + 26] = dv.newpeer[i].mean() as f32;
            out[o + 27] = dv.newpeer[i].ls as f32;
            out[o + 28] = dv.syn[i].mean() as f32;
            out[o + 29] = dv.newsock[i].mean() as f32;
        }
        // Absurd timestamps or sizes must not leave infinities for the ensemble.
        for v in out[..nw * PER_WINDOW].iter_mut() {
            *v = if v.is_nan() {
                0.0
            } else {
                v.clamp(-1e30, 1e30)
            };
        }
    }
}

/// Behaviour groups for explanations: (words, offsets within a window's block).
pub const GROUPS: &[(&str, &[usize])] = &[
    ("packet rate from the source host", &[0, 3]),
    ("packet sizes from the source host", &[1, 2, 4, 5]),
    ("packet rate between the host pair", &[6]),
    ("packet sizes between the host pair", &[7, 8, 9, 10, 11, 12]),
    ("inter-packet timing between the host pair", &[13, 14, 15]),
    ("packet rate on the connection (socket)", &[16]),
    (
        "packet sizes on the connection (socket)",
        &[17, 18, 19, 20, 21, 22],
    ),
    ("traffic volume at the device", &[23]),
    ("packet sizes at the device", &[24, 25]),
    ("contacts with new hosts", &[26, 27]),
    ("bare connection attempts (SYN without ACK)", &[28]),
    ("new connections (sockets) at the device", &[29]),
];

/// The offset within a window block that best shows a group's raw value ("×40 over baseline").
pub const GROUP_LEAD: &[usize] = &[0, 1, 6, 7, 13, 16, 17, 23, 24, 27, 28, 29];

/// The group of a feature index.
pub fn group_of(feature: usize) -> usize {
    let off = feature % PER_WINDOW;
    GROUPS.iter().position(|g| g.1.contains(&off)).unwrap_or(0)
}
