//! A bounded latency histogram: 1 ms buckets up to 120 s (larger values land in the last one).

const BUCKETS: usize = 120_001;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_ms: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max_ms: 0,
        }
    }
}

impl Histogram {
    pub fn record_ns(&mut self, ns: u64) {
        let ms = ns / 1_000_000;
        self.counts[(ms as usize).min(BUCKETS - 1)] += 1;
        self.total += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max_ms = self.max_ms.max(o.max_ms);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    /// The `q` quantile (0..=1) in milliseconds (bucket upper bound); `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(ms as u64 + 1);
            }
        }
        Some(self.max_ms + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for ms in 0..100u64 {
            h.record_ns(ms * 1_000_000 + 10);
        }
        assert_eq!(h.quantile_ms(0.5), Some(50));
        assert_eq!(h.quantile_ms(0.99), Some(99));
        assert_eq!(h.max_ms(), 99);
        let mut g = Histogram::default();
        g.record_ns(500_000_000_000);
        h.merge(&g);
        assert_eq!(h.count(), 101);
        assert_eq!(h.quantile_ms(1.0), Some(120_001));
    }
}
