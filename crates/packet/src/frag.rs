//! Bounded IPv4 fragment reassembly.
//!
//! Each datagram in progress is capped at 64 KiB and the table at a fixed number of
//! datagrams; when full, the oldest datagram is dropped and counted. Timeouts use packet time.

use std::collections::HashMap;

use crate::Ipv4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub id: u16,
    pub proto: u8,
}

struct Pending {
    first_ts: i64,
    /// (offset, bytes) pieces as received.
    pieces: Vec<(u16, Vec<u8>)>,
    bytes: usize,
    total: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    pub reassembled: u64,
    pub evicted: u64,
    pub timed_out: u64,
    pub overlaps: u64,
    pub oversized: u64,
}

pub struct Reassembler {
    table: HashMap<FragmentKey, Pending>,
    max_datagrams: usize,
    max_bytes: usize,
    held_bytes: usize,
    timeout_ns: i64,
    pub stats: ReassemblyStats,
}

const MAX_DATAGRAM: usize = 65_535;
const MAX_PIECES: usize = 64;

impl Reassembler {
    /// `max_datagrams` in flight, `max_bytes` held in total.
    pub fn new(max_datagrams: usize, max_bytes: usize) -> Self {
        Reassembler {
            table: HashMap::new(),
            max_datagrams: max_datagrams.max(1),
            max_bytes,
            held_bytes: 0,
            timeout_ns: 30_000_000_000,
            stats: ReassemblyStats::default(),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.table.len()
    }

    /// Adds a fragment (its IP payload). Returns the whole IP payload once every byte is present.
    pub fn push(&mut self, ts_ns: i64, ip: &Ipv4, payload: &[u8]) -> Option<Vec<u8>> {
        self.expire(ts_ns);
        let key = FragmentKey {
            src: ip.src,
            dst: ip.dst,
            id: ip.id,
            proto: ip.proto,
        };
        let end = ip.frag_offset as usize + payload.len();
        if end > MAX_DATAGRAM {
            self.stats.oversized += 1;
            self.drop_key(&key);
            return None;
        }
        if !self.table.contains_key(&key) {
            while self.table.len() >= self.max_datagrams
                || (self.held_bytes + payload.len() > self.max_bytes && !self.table.is_empty())
            {
                self.evict_oldest();
            }
            self.table.insert(
                key,
                Pending {
                    first_ts: ts_ns,
                    pieces: Vec::new(),
                    bytes: 0,
                    total: None,
                },
            );
        }
        let p = self.table.get_mut(&key)?;
        if p.pieces.len() >= MAX_PIECES {
            self.stats.oversized += 1;
            self.drop_key(&key);
            return None;
        }
        if p.pieces.iter().any(|(o, b)| {
            let (s, e) = (*o as usize, *o as usize + b.len());
            s < end && (ip.frag_offset as usize) < e
        }) {
            self.stats.overlaps += 1;
        }
        p.pieces.push((ip.frag_offset, payload.to_vec()));
        p.bytes += payload.len();
        self.held_bytes += payload.len();
        if !ip.more_fragments {
            p.total = Some(end);
        }
        let total = p.total?;
        // Check coverage of [0, total).
        p.pieces.sort_by_key(|(o, _)| *o);
        let mut covered = 0usize;
        for (o, b) in &p.pieces {
            if *o as usize > covered {
                return None;
            }
            covered = covered.max(*o as usize + b.len());
        }
        if covered < total {
            return None;
        }
        let mut out = vec![0u8; total];
        for (o, b) in &p.pieces {
            let s = *o as usize;
            let e = (s + b.len()).min(total);
            if let (Some(dst), Some(src)) = (out.get_mut(s..e), b.get(..e - s)) {
                dst.copy_from_slice(src);
            }
        }
        self.drop_key(&key);
        self.stats.reassembled += 1;
        Some(out)
    }

    fn drop_key(&mut self, key: &FragmentKey) {
        if let Some(p) = self.table.remove(key) {
            self.held_bytes -= p.bytes;
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(k) = self
            .table
            .iter()
            .min_by_key(|(k, p)| (p.first_ts, k.id, k.src, k.dst))
            .map(|(k, _)| *k)
        {
            self.drop_key(&k);
            self.stats.evicted += 1;
        }
    }

    /// Drops datagrams older than the timeout (packet time).
    pub fn expire(&mut self, now_ns: i64) {
        if self.table.is_empty() {
            return;
        }
        let limit = now_ns - self.timeout_ns;
        let old: Vec<FragmentKey> = self
            .table
            .iter()
            .filter(|(_, p)| p.first_ts < limit)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.drop_key(&k);
            self.stats.timed_out += 1;
        }
    }
}
