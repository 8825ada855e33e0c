//! Bidirectional flow table with TCP state, packet-time timeouts and a hard cap.
//!
//! Flows live in a slab with an intrusive LRU list, so finding the oldest-idle flow for
//! eviction and expiring idle flows are O(1) per flow. Each flow carries caller state `T`
//! (the sensor keeps per-flow parser state there).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use rustc_hash::FxHasher;

/// An IP address in 16 bytes (IPv4 as IPv4-mapped IPv6), cheap to hash and compare.
pub type Addr = [u8; 16];

pub fn addr_from_v4(a: [u8; 4]) -> Addr {
    let mut x = [0u8; 16];
    x[10] = 0xff;
    x[11] = 0xff;
    x[12..].copy_from_slice(&a);
    x
}

pub fn addr_to_ip(a: &Addr) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(*a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Canonical (direction-free) flow key: the lower endpoint first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo_addr: Addr,
    pub hi_addr: Addr,
    pub lo_port: u16,
    pub hi_port: u16,
    pub proto: u8,
    pub vlan: u16,
}

/// What the flow table needs to know about one packet.
#[derive(Debug, Clone, Copy)]
pub struct PacketMeta {
    pub ts_ns: i64,
    pub src: Addr,
    pub dst: Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub vlan: u16,
    pub tcp_flags: u8,
    pub wire_len: u32,
    pub payload_len: u32,
}

impl PacketMeta {
    pub fn key(&self) -> (FlowKey, bool) {
        let fwd = (self.src, self.src_port) <= (self.dst, self.dst_port);
        let (lo, hi) = if fwd {
            ((self.src, self.src_port), (self.dst, self.dst_port))
        } else {
            ((self.dst, self.dst_port), (self.src, self.src_port))
        };
        (
            FlowKey {
                lo_addr: lo.0,
                hi_addr: hi.0,
                lo_port: lo.1,
                hi_port: hi.1,
                proto: self.proto,
                vlan: self.vlan,
            },
            fwd,
        )
    }
}

/// Direction of a packet relative to the flow's initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the initiator (client) to the responder.
    ToResponder,
    ToInitiator,
}

impl Direction {
    pub fn index(self) -> usize {
        match self {
            Direction::ToResponder => 0,
            Direction::ToInitiator => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpState {
    /// Not TCP.
    None,
    SynSent,
    SynReceived,
    Established,
    /// First packet seen was mid-connection.
    Midstream,
    FinWait,
    Closed,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Fin,
    Rst,
    IdleTimeout,
    ActiveTimeout,
    Evicted,
    EndOfCapture,
}

/// Counters and endpoints of a flow (everything but the caller state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStats {
    pub key: FlowKey,
    pub initiator: Addr,
    pub initiator_port: u16,
    pub responder: Addr,
    pub responder_port: u16,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Index 0: initiator → responder, 1: responder → initiator.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub payload_bytes: [u64; 2],
    pub tcp_flags: [u8; 2],
    pub state: TcpState,
}

/// A flow that ended (or was cut by the active timeout).
#[derive(Debug, Clone)]
pub struct FlowRecord {
    pub stats: FlowStats,
    pub reason: EndReason,
}

#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    pub max_flows: usize,
    pub idle_timeout_ns: i64,
    pub active_timeout_ns: i64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 131_072,
            idle_timeout_ns: 120_000_000_000,
            active_timeout_ns: 1_800_000_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounters {
    pub created: u64,
    pub evicted: u64,
    pub idle_expired: u64,
    pub active_cut: u64,
    pub closed: u64,
    pub peak: u64,
}

const NIL: u32 = u32::MAX;

struct Slot<T> {
    stats: FlowStats,
    state: T,
    prev: u32,
    next: u32,
    live: bool,
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The flow table. `T` is per-flow caller state, handed back when the flow ends.
pub struct FlowTable<T> {
    cfg: FlowConfig,
    map: FxMap<FlowKey, u32>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used (oldest idle).
    tail: u32,
    finished: Vec<(FlowRecord, Option<T>)>,
    pub counters: TableCounters,
}

/// Result of [`FlowTable::update`].
pub struct Update<'a, T> {
    pub stats: &'a FlowStats,
    pub state: &'a mut T,
    pub direction: Direction,
    pub is_new: bool,
}

impl<T: Default> FlowTable<T> {
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTable {
            cfg: FlowConfig {
                max_flows: cfg.max_flows.max(1),
                ..cfg
            },
            map: FxMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            finished: Vec::new(),
            counters: TableCounters::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// Flows that ended since the last call, with their caller state (None for active-timeout cuts).
    pub fn take_finished(&mut self) -> Vec<(FlowRecord, Option<T>)> {
        std::mem::take(&mut self.finished)
    }

    pub fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Accounts one packet, creating the flow if needed.
    pub fn update(&mut self, m: &PacketMeta) -> Update<'_, T> {
        let (key, _) = m.key();
        let mut idx = self.map.get(&key).copied();
        // A flow idle past its timeout ends here even if `expire` has not run yet, so the
        // result does not depend on how often the caller expires (or on sharding).
        if let Some(i) = idx {
            let s = &self.slots[i as usize].stats;
            if m.ts_ns - s.last_ts > self.idle_timeout_for(s.state) {
                self.end_idle(i);
                idx = None;
            }
        }
        // A new SYN on a closed/reset connection starts a new flow (port reuse).
        if let Some(i) = idx {
            let s = &self.slots[i as usize].stats;
            if m.proto == 6
                && m.tcp_flags & 0x12 == 0x02
                && matches!(s.state, TcpState::Closed | TcpState::Reset)
            {
                let reason = if s.state == TcpState::Reset {
                    EndReason::Rst
                } else {
                    EndReason::Fin
                };
                self.counters.closed += 1;
                self.remove(i, reason);
                idx = None;
            }
        }
        let (i, is_new) = match idx {
            Some(i) => (i, false),
            None => (self.insert(key, m), true),
        };
        self.touch(i);
        let cfg = self.cfg;
        let slot = &mut self.slots[i as usize];
        if !is_new && m.ts_ns - slot.stats.first_ts > cfg.active_timeout_ns {
            // Long-lived flow: emit what we have and keep counting from zero.
            self.finished.push((
                FlowRecord {
                    stats: slot.stats.clone(),
                    reason: EndReason::ActiveTimeout,
                },
                None,
            ));
            self.counters.active_cut += 1;
            let st = &mut slot.stats;
            st.first_ts = m.ts_ns;
            st.packets = [0; 2];
            st.bytes = [0; 2];
            st.payload_bytes = [0; 2];
            st.tcp_flags = [0; 2];
        }
        let st = &mut slot.stats;
        let dir = if m.src == st.initiator && m.src_port == st.initiator_port {
            Direction::ToResponder
        } else {
            Direction::ToInitiator
        };
        let d = dir.index();
        st.last_ts = st.last_ts.max(m.ts_ns);
        st.packets[d] += 1;
        st.bytes[d] += m.wire_len as u64;
        st.payload_bytes[d] += m.payload_len as u64;
        if m.proto == 6 {
            st.tcp_flags[d] |= m.tcp_flags;
            st.state = next_tcp_state(st.state, m.tcp_flags, dir, st.tcp_flags);
        }
        Update {
            stats: &slot.stats,
            state: &mut slot.state,
            direction: dir,
            is_new,
        }
    }

    /// Caller state of a live flow.
    pub fn state_mut(&mut self, key: &FlowKey) -> Option<&mut T> {
        let i = *self.map.get(key)?;
        Some(&mut self.slots[i as usize].state)
    }

    fn insert(&mut self, key: FlowKey, m: &PacketMeta) -> u32 {
        while self.map.len() >= self.cfg.max_flows {
            let t = self.tail;
            if t == NIL {
                break;
            }
            self.counters.evicted += 1;
            self.remove(t, EndReason::Evicted);
        }
        // A SYN-ACK seen first means the receiver opened the connection.
        let reversed = m.proto == 6 && m.tcp_flags & 0x12 == 0x12;
        let (ia, ip, ra, rp) = if reversed {
            (m.dst, m.dst_port, m.src, m.src_port)
        } else {
            (m.src, m.src_port, m.dst, m.dst_port)
        };
        let state = if m.proto != 6 {
            TcpState::None
        } else if m.tcp_flags & 0x12 == 0x02 {
            TcpState::SynSent
        } else {
            TcpState::Midstream
        };
        let stats = FlowStats {
            key,
            initiator: ia,
            initiator_port: ip,
            responder: ra,
            responder_port: rp,
            first_ts: m.ts_ns,
            last_ts: m.ts_ns,
            packets: [0; 2],
            bytes: [0; 2],
            payload_bytes: [0; 2],
            tcp_flags: [0; 2],
            state,
        };
        let slot = Slot {
            stats,
            state: T::default(),
            prev: NIL,
            next: NIL,
            live: true,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, i);
        self.link_front(i);
        self.counters.created += 1;
        self.counters.peak = self.counters.peak.max(self.map.len() as u64);
        i
    }

    fn remove(&mut self, i: u32, reason: EndReason) {
        self.unlink(i);
        let slot = &mut self.slots[i as usize];
        slot.live = false;
        self.map.remove(&slot.stats.key);
        let state = std::mem::take(&mut slot.state);
        self.finished.push((
            FlowRecord {
                stats: slot.stats.clone(),
                reason,
            },
            Some(state),
        ));
        self.free.push(i);
    }

    fn link_front(&mut self, i: u32) {
        self.slots[i as usize].prev = NIL;
        self.slots[i as usize].next = self.head;
        if self.head != NIL {
            self.slots[self.head as usize].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = (self.slots[i as usize].prev, self.slots[i as usize].next);
        if p != NIL {
            self.slots[p as usize].next = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.slots[n as usize].prev = p;
        } else {
            self.tail = p;
        }
        self.slots[i as usize].prev = NIL;
        self.slots[i as usize].next = NIL;
    }

    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.link_front(i);
        }
    }

    /// Ends flows idle longer than the timeout at packet time `now_ns` (oldest first).
    pub fn expire(&mut self, now_ns: i64) {
        loop {
            let t = self.tail;
            if t == NIL {
                break;
            }
            let s = &self.slots[t as usize].stats;
            let timeout = self.idle_timeout_for(s.state);
            if now_ns - s.last_ts <= self.cfg.idle_timeout_ns && now_ns - s.last_ts <= timeout {
                break;
            }
            self.end_idle(t);
        }
    }

    /// Ends a flow that went quiet: closed/reset connections by FIN/RST, others by timeout.
    fn end_idle(&mut self, i: u32) {
        let reason = match self.slots[i as usize].stats.state {
            TcpState::Closed => EndReason::Fin,
            TcpState::Reset => EndReason::Rst,
            _ => EndReason::IdleTimeout,
        };
        if reason == EndReason::IdleTimeout {
            self.counters.idle_expired += 1;
        } else {
            self.counters.closed += 1;
        }
        self.remove(i, reason);
    }

    /// Closed TCP connections linger briefly for late packets, then go.
    fn idle_timeout_for(&self, state: TcpState) -> i64 {
        match state {
            TcpState::Closed | TcpState::Reset => self.cfg.idle_timeout_ns.min(10_000_000_000),
            _ => self.cfg.idle_timeout_ns,
        }
    }

    /// Ends every remaining flow (end of input), oldest first.
    pub fn drain(&mut self) {
        self.drain_some(usize::MAX);
    }

    /// Ends up to `n` of the oldest remaining flows; returns how many were ended. Draining in
    /// batches (and taking the records in between) keeps peak memory at the table's size.
    pub fn drain_some(&mut self, n: usize) -> usize {
        let mut done = 0;
        while self.tail != NIL && done < n {
            let t = self.tail;
            self.remove(t, EndReason::EndOfCapture);
            done += 1;
        }
        done
    }

    /// Bytes of table memory per tracked flow (slab slot + hash entry), for documentation.
    pub fn bytes_per_flow() -> usize {
        std::mem::size_of::<Slot<T>>() + std::mem::size_of::<(FlowKey, u32)>() + 8
    }
}

fn next_tcp_state(s: TcpState, flags: u8, dir: Direction, seen: [u8; 2]) -> TcpState {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    if flags & RST != 0 {
        return TcpState::Reset;
    }
    match s {
        TcpState::SynSent if flags & (SYN | ACK) == SYN | ACK && dir == Direction::ToInitiator => {
            TcpState::SynReceived
        }
        TcpState::SynReceived if flags & ACK != 0 && dir == Direction::ToResponder => {
            TcpState::Established
        }
        TcpState::Established | TcpState::Midstream | TcpState::FinWait if flags & FIN != 0 => {
            if seen[0] & FIN != 0 && seen[1] & FIN != 0 {
                TcpState::Closed
            } else {
                TcpState::FinWait
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
