//! KitNET: an ensemble of small autoencoders over correlated feature groups, and an
//! output autoencoder over the ensemble's reconstruction errors. Hand-written f32 kernels.

use serde::{Deserialize, Serialize};

/// Deterministic PRNG (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-a, a).
    pub fn uniform(&mut self, a: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (u * 2.0 - 1.0) * a
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A denoising autoencoder with tied weights (KitNET's dA), min-max normalised input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Autoencoder {
    pub nv: usize,
    pub nh: usize,
    /// Row-major `nh × nv`.
    pub w: Vec<f32>,
    pub hb: Vec<f32>,
    pub vb: Vec<f32>,
    pub min: Vec<f32>,
    pub max: Vec<f32>,
    pub lr: f32,
}

/// Scratch buffers for one autoencoder pass.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    z: Vec<f32>,
    dh: Vec<f32>,
}

impl Autoencoder {
    pub fn new(nv: usize, hidden_ratio: f32, lr: f32, rng: &mut Rng) -> Self {
        let nv = nv.max(1);
        let nh = ((nv as f32 * hidden_ratio).ceil() as usize).max(1);
        let a = 1.0 / nv as f32;
        Autoencoder {
            nv,
            nh,
            w: (0..nh * nv).map(|_| rng.uniform(a)).collect(),
            hb: vec![0.0; nh],
            vb: vec![0.0; nv],
            min: vec![f32::INFINITY; nv],
            max: vec![f32::NEG_INFINITY; nv],
            lr,
        }
    }

    fn normalise(&self, input: &[f32], s: &mut Scratch) {
        s.x.clear();
        s.x.extend(
            input
                .iter()
                .zip(self.min.iter().zip(&self.max))
                .map(|(&v, (&lo, &hi))| {
                    let r = (v - lo) / (hi - lo + 1e-10);
                    if r.is_nan() { 0.0 } else { r.clamp(-1e6, 1e6) }
                }),
        );
    }

    fn forward(&self, s: &mut Scratch) {
        s.h.clear();
        for j in 0..self.nh {
            let row = &self.w[j * self.nv..(j + 1) * self.nv];
            let mut acc = self.hb[j];
            for (a, b) in row.iter().zip(&s.x) {
                acc += a * b;
            }
            s.h.push(sigmoid(acc));
        }
        s.z.clear();
        s.z.extend_from_slice(&self.vb);
        for j in 0..self.nh {
            let hj = s.h[j];
            let row = &self.w[j * self.nv..(j + 1) * self.nv];
            for (z, a) in s.z.iter_mut().zip(row) {
                *z += a * hj;
            }
        }
        for z in s.z.iter_mut() {
            *z = sigmoid(*z);
        }
    }

    /// One SGD step on `input`; returns the reconstruction RMSE before the step.
    pub fn train(&mut self, input: &[f32], s: &mut Scratch) -> f32 {
        for ((v, lo), hi) in input
            .iter()
            .zip(self.min.iter_mut())
            .zip(self.max.iter_mut())
        {
            if v.is_finite() {
                *lo = lo.min(*v);
                *hi = hi.max(*v);
            }
        }
        self.normalise(input, s);
        self.forward(s);
        // dz = x - z (output error); dh = (W dz) * h * (1 - h)
        let nv = self.nv;
        let mut se = 0.0f32;
        for (z, x) in s.z.iter_mut().zip(&s.x) {
            let e = x - *z;
            se += e * e;
            *z = e; // reuse z as the output error
        }
        s.dh.clear();
        for j in 0..self.nh {
            let row = &self.w[j * nv..(j + 1) * nv];
            let mut acc = 0.0;
            for (a, e) in row.iter().zip(&s.z) {
                acc += a * e;
            }
            let h = s.h[j];
            s.dh.push(acc * h * (1.0 - h));
        }
        let lr = self.lr;
        for j in 0..self.nh {
            let (dh, h) = (s.dh[j], s.h[j]);
            let row = &mut self.w[j * nv..(j + 1) * nv];
            for ((a, x), e) in row.iter_mut().zip(&s.x).zip(&s.z) {
                *a += lr * (x * dh + e * h);
            }
        }
        let mdh = s.dh.iter().sum::<f32>() / self.nh as f32;
        for b in self.hb.iter_mut() {
            *b += lr * mdh;
        }
        let mdz = s.z.iter().sum::<f32>() / nv as f32;
        for b in self.vb.iter_mut() {
            *b += lr * mdz;
        }
        (se / nv as f32).sqrt()
    }

    /// Reconstruction RMSE of `input`; the per-feature squared errors go to `err`.
    pub fn execute(&self, input: &[f32], s: &mut Scratch, err: &mut [f32]) -> f32 {
        self.normalise(input, s);
        self.forward(s);
        let mut se = 0.0f32;
        for ((e, x), z) in err.iter_mut().zip(&s.x).zip(&s.z) {
            let d = x - z;
            *e = d * d;
            se += d * d;
        }
        (se / self.nv as f32).sqrt()
    }
}

/// Incremental correlation statistics for the feature-mapping phase (KitNET's corClust).
#[derive(Debug, Clone)]
pub struct CorrClust {
    n: usize,
    count: f64,
    sum: Vec<f64>,
    /// Residual outer products, `n × n`.
    c: Vec<f64>,
    sq: Vec<f64>,
}

impl CorrClust {
    pub fn new(n: usize) -> Self {
        CorrClust {
            n,
            count: 0.0,
            sum: vec![0.0; n],
            c: vec![0.0; n * n],
            sq: vec![0.0; n],
        }
    }

    pub fn update(&mut self, x: &[f32]) {
        self.count += 1.0;
        let n = self.n;
        let mut r = vec![0.0f64; n];
        for i in 0..n {
            let v = f64::from(*x.get(i).unwrap_or(&0.0));
            let v = if v.is_finite() { v } else { 0.0 };
            self.sum[i] += v;
            r[i] = v - self.sum[i] / self.count;
            self.sq[i] += r[i] * r[i];
        }
        for i in 0..n {
            let ri = r[i];
            if ri == 0.0 {
                continue;
            }
            let row = &mut self.c[i * n..(i + 1) * n];
            for (c, rj) in row.iter_mut().zip(&r) {
                *c += ri * rj;
            }
        }
    }

    /// Groups of at most `m` features: single-linkage clustering on `1 - correlation`, the
    /// dendrogram split top-down until every group fits (KitNET's feature map).
    pub fn cluster(&self, m: usize) -> Vec<Vec<usize>> {
        let n = self.n;
        let m = m.max(1);
        if n == 0 {
            return Vec::new();
        }
        let sd: Vec<f64> = self.sq.iter().map(|s| s.sqrt()).collect();
        let dist = |i: usize, j: usize| -> f64 {
            let den = sd[i] * sd[j];
            let d = if den > 1e-100 {
                1.0 - self.c[i * n + j] / den
            } else {
                1.0
            };
            d.clamp(0.0, 2.0)
        };
        // Prim's MST.
        let mut in_tree = vec![false; n];
        let mut best = vec![f64::INFINITY; n];
        let mut from = vec![0usize; n];
        let mut edges: Vec<(f64, usize, usize)> = Vec::with_capacity(n);
        best[0] = 0.0;
        for _ in 0..n {
            let mut u = usize::MAX;
            for v in 0..n {
                if !in_tree[v] && (u == usize::MAX || best[v] < best[u]) {
                    u = v;
                }
            }
            in_tree[u] = true;
            if u != 0 {
                edges.push((best[u], from[u], u));
            }
            for v in 0..n {
                if !in_tree[v] {
                    let d = dist(u, v);
                    if d < best[v] {
                        best[v] = d;
                        from[v] = u;
                    }
                }
            }
        }
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        // Kruskal order builds the dendrogram: leaves 0..n, internal nodes n.. .
        let mut parent: Vec<usize> = (0..n).collect();
        let mut node_of: Vec<usize> = (0..n).collect();
        let mut children: Vec<(usize, usize)> = Vec::new();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for &(_, a, b) in &edges {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra == rb {
                continue;
            }
            children.push((node_of[ra], node_of[rb]));
            parent[rb] = ra;
            node_of[ra] = n + children.len() - 1;
        }
        let root = if children.is_empty() {
            0
        } else {
            n + children.len() - 1
        };
        let mut leaves_memo: Vec<Vec<usize>> = Vec::new();
        for k in 0..children.len() {
            let (a, b) = children[k];
            let mut v = if a < n {
                vec![a]
            } else {
                leaves_memo[a - n].clone()
            };
            if b < n {
                v.push(b);
            } else {
                v.extend_from_slice(&leaves_memo[b - n]);
            }
            leaves_memo.push(v);
        }
        let leaves = |x: usize| -> Vec<usize> {
            if x < n {
                vec![x]
            } else {
                leaves_memo[x - n].clone()
            }
        };
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(x) = stack.pop() {
            let l = leaves(x);
            if l.len() <= m || x < n {
                let mut l = l;
                l.sort_unstable();
                out.push(l);
            } else {
                let (a, b) = children[x - n];
                stack.push(b);
                stack.push(a);
            }
        }
        // Components never joined (only when n > 1 and no edges) are covered by the root walk.
        out.sort();
        out
    }
}

/// The ensemble and its output layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KitNet {
    pub groups: Vec<Vec<usize>>,
    pub ensemble: Vec<Autoencoder>,
    pub output: Autoencoder,
}

/// Reusable buffers for [`KitNet`].
#[derive(Debug, Default, Clone)]
pub struct NetScratch {
    pub ae: Scratch,
    pub sub: Vec<f32>,
    pub l1: Vec<f32>,
    pub err_sub: Vec<f32>,
    pub l1_err: Vec<f32>,
}

impl KitNet {
    pub fn new(groups: Vec<Vec<usize>>, hidden_ratio: f32, lr: f32, rng: &mut Rng) -> Self {
        let ensemble: Vec<Autoencoder> = groups
            .iter()
            .map(|g| Autoencoder::new(g.len(), hidden_ratio, lr, rng))
            .collect();
        let output = Autoencoder::new(groups.len().max(1), hidden_ratio, lr, rng);
        KitNet {
            groups,
            ensemble,
            output,
        }
    }

    fn gather(g: &[usize], x: &[f32], sub: &mut Vec<f32>) {
        sub.clear();
        sub.extend(g.iter().map(|&i| *x.get(i).unwrap_or(&0.0)));
    }

    pub fn train(&mut self, x: &[f32], s: &mut NetScratch) -> f32 {
        s.l1.clear();
        for (g, ae) in self.groups.iter().zip(self.ensemble.iter_mut()) {
            Self::gather(g, x, &mut s.sub);
            let r = ae.train(&s.sub, &mut s.ae);
            s.l1.push(r);
        }
        if s.l1.is_empty() {
            s.l1.push(0.0);
        }
        let l1 = std::mem::take(&mut s.l1);
        let r = self.output.train(&l1, &mut s.ae);
        s.l1 = l1;
        r
    }

    /// Scores `x`; `feat_err` receives each feature's squared reconstruction error.
    pub fn execute(&self, x: &[f32], s: &mut NetScratch, feat_err: &mut [f32]) -> f32 {
        s.l1.clear();
        for (g, ae) in self.groups.iter().zip(&self.ensemble) {
            Self::gather(g, x, &mut s.sub);
            s.err_sub.resize(g.len(), 0.0);
            let r = ae.execute(&s.sub, &mut s.ae, &mut s.err_sub);
            for (&i, &e) in g.iter().zip(&s.err_sub) {
                if let Some(f) = feat_err.get_mut(i) {
                    *f = e;
                }
            }
            s.l1.push(r);
        }
        if s.l1.is_empty() {
            s.l1.push(0.0);
        }
        s.l1_err.resize(s.l1.len(), 0.0);
        let l1 = std::mem::take(&mut s.l1);
        let mut e = std::mem::take(&mut s.l1_err);
        let r = self.output.execute(&l1, &mut s.ae, &mut e);
        s.l1 = l1;
        s.l1_err = e;
        r
    }
}
