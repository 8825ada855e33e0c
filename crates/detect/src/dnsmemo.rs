//! Which name an address was resolved from (DNS A/AAAA answers), bounded, so a C2 alert
//! can say "cnc.example resolved to 203.0.113.66, then contacted".

use std::collections::HashMap;

use palisade_proto::dns::{self, RData};

use crate::net::{Addr, addr_from_v4};

/// Address → (first answer time, query name). At the cap the oldest half is dropped.
#[derive(Debug, Clone, Default)]
pub struct DnsMemo {
    map: HashMap<Addr, (i64, String)>,
    cap: usize,
}

impl DnsMemo {
    pub fn new(cap: usize) -> Self {
        DnsMemo {
            map: HashMap::new(),
            cap: cap.max(2),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Records the A/AAAA answers of a DNS response payload (malformed input ignored).
    pub fn response(&mut self, ts: i64, payload: &[u8]) {
        if let Ok(m) = dns::parse(payload) {
            self.answers(ts, &m);
        }
    }

    /// Union with another memo: per address the earliest answer wins (ties: smaller
    /// name), so merging worker memos does not depend on the sharding.
    pub fn merge(&mut self, other: DnsMemo) {
        for (a, (t, n)) in other.map {
            match self.map.get_mut(&a) {
                Some(e) => {
                    if (t, &n) < (e.0, &e.1) {
                        *e = (t, n);
                    }
                }
                None => {
                    self.map.insert(a, (t, n));
                }
            }
        }
    }

    /// Records the A/AAAA answers of a parsed DNS message.
    pub fn answers(&mut self, ts: i64, m: &dns::DnsMessage<'_>) {
        if !m.is_response || m.rcode != 0 {
            return;
        }
        for r in m.answers.iter().take(16) {
            let a = match r.data {
                RData::A(v4) => addr_from_v4(v4),
                RData::Aaaa(v6) => v6,
                _ => continue,
            };
            let name = m
                .questions
                .first()
                .map(|q| q.name.as_str())
                .unwrap_or(r.name.as_str());
            if self.map.contains_key(&a) {
                continue;
            }
            if self.map.len() >= self.cap {
                let mut v: Vec<(i64, Addr)> = self.map.iter().map(|(k, e)| (e.0, *k)).collect();
                v.sort_unstable();
                for (_, k) in v.iter().take(self.cap / 2) {
                    self.map.remove(k);
                }
            }
            let name: String = name.trim_end_matches('.').chars().take(253).collect();
            self.map.insert(a, (ts, name));
        }
    }

    pub fn lookup(&self, a: &Addr) -> Option<(i64, &str)> {
        self.map.get(a).map(|(t, n)| (*t, n.as_str()))
    }
}
