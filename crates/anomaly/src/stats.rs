//! Damped incremental statistics (AfterImage-style) over one decay window.
//!
//! A window with decay rate λ weighs an observation made `Δt` seconds ago by `2^(-λ·Δt)`.
//! All statistics of one table entry share one clock, so the caller computes the decay
//! factor once per entry and window ([`decay_factor`]) and applies it to every statistic.
//! Time that goes backwards is treated as "no time passed" (factor 1).

use serde::{Deserialize, Serialize};

/// `2^(-λ·Δt)` for `Δt = now - last`, clamped to `[0, 1]`; 1 when time went backwards or
/// λ is not a positive finite number.
#[inline]
pub fn decay_factor(lambda: f64, last: f64, now: f64) -> f64 {
    let dt = now - last;
    if dt > 0.0 && lambda > 0.0 && lambda.is_finite() {
        let f = (-lambda * dt).exp2();
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    } else {
        1.0
    }
}

/// One-dimensional damped statistic: weight, linear sum, squared sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IncStat {
    pub w: f64,
    pub ls: f64,
    pub ss: f64,
}

impl IncStat {
    #[inline]
    pub fn decay(&mut self, f: f64) {
        self.w *= f;
        self.ls *= f;
        self.ss *= f;
    }

    #[inline]
    pub fn insert(&mut self, x: f64) {
        self.w += 1.0;
        self.ls += x;
        self.ss += x * x;
    }

    #[inline]
    pub fn weight(&self) -> f64 {
        self.w
    }

    #[inline]
    pub fn mean(&self) -> f64 {
        if self.w > 1e-20 {
            self.ls / self.w
        } else {
            0.0
        }
    }

    #[inline]
    pub fn var(&self) -> f64 {
        if self.w > 1e-20 {
            let m = self.ls / self.w;
            (self.ss / self.w - m * m).max(0.0)
        } else {
            0.0
        }
    }

    #[inline]
    pub fn std(&self) -> f64 {
        self.var().sqrt()
    }
}

/// Two-dimensional damped statistic between the two directions `a` and `b` of a channel:
/// each direction's 1D statistic plus a damped sum of residual products (Kitsune's
/// approximate covariance: each new residual times the other direction's latest residual).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IncStat2 {
    pub dir: [IncStat; 2],
    /// Damped sum of residual products and its weight.
    pub sr: f64,
    pub w3: f64,
    /// Latest residual of each direction.
    pub res: [f64; 2],
}

/// What [`IncStat2`] reports for the direction that just got a value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stat2 {
    pub w: f64,
    pub mean: f64,
    pub std: f64,
    pub magnitude: f64,
    pub radius: f64,
    pub cov: f64,
    pub pcc: f64,
}

impl IncStat2 {
    #[inline]
    pub fn decay(&mut self, f: f64) {
        self.dir[0].decay(f);
        self.dir[1].decay(f);
        self.sr *= f;
        self.w3 *= f;
    }

    /// Inserts `x` for direction `d` (0 or 1; anything else counts as 1).
    #[inline]
    pub fn insert(&mut self, d: usize, x: f64) {
        let d = d.min(1);
        let o = 1 - d;
        self.dir[d].insert(x);
        let r = x - self.dir[d].mean();
        self.sr += r * self.res[o];
        self.w3 += 1.0;
        self.res[d] = r;
    }

    #[inline]
    pub fn get(&self, d: usize) -> Stat2 {
        let d = d.min(1);
        let (a, b) = (&self.dir[d], &self.dir[1 - d]);
        let (ma, mb) = (a.mean(), b.mean());
        let (va, vb) = (a.var(), b.var());
        let cov = if self.w3 > 1e-20 {
            self.sr / self.w3
        } else {
            0.0
        };
        let sd = (va * vb).sqrt();
        let pcc = if sd > 1e-12 {
            (cov / sd).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        Stat2 {
            w: a.w,
            mean: ma,
            std: va.sqrt(),
            magnitude: (ma * ma + mb * mb).sqrt(),
            radius: (va + vb).sqrt(),
            cov,
            pcc,
        }
    }
}
