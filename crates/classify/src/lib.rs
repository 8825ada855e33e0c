//! A small, deterministic random forest for behavioural device classification, with the
//! model format the project trains and ships, and grouped cross-validation metrics.
//!
//! Trees are CART with Gini impurity over `f32` features, bootstrap samples and a random
//! subset of features per split; everything is seeded, so training is reproducible.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

pub mod features;
pub mod metrics;

/// Errors loading or using a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("model JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("model is inconsistent: {0}")]
    Invalid(&'static str),
}

/// SplitMix64: tiny, seedable, good enough for bootstrap and feature sampling.
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
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub trees: usize,
    pub max_depth: usize,
    pub min_samples_split: usize,
    /// Features tried per split; 0 means sqrt(n_features).
    pub features_per_split: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            trees: 60,
            max_depth: 18,
            min_samples_split: 2,
            features_per_split: 0,
            seed: 20_261_125,
        }
    }
}

/// One tree node: either a split (`feature`, `threshold`, children) or a leaf with class counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Node {
    Split {
        f: u16,
        t: f32,
        l: u32,
        r: u32,
    },
    Leaf {
        /// (class index, count) pairs.
        c: Vec<(u16, u32)>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// A trained forest plus what it was trained on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Forest {
    pub format: u32,
    /// Version of the feature layout the model expects.
    pub feature_spec: u32,
    pub n_features: usize,
    pub classes: Vec<String>,
    pub trained_on: String,
    pub config: TrainConfig,
    /// What each class means (same order as `classes`); empty for bare models.
    #[serde(default)]
    pub labels: Vec<LabelInfo>,
    pub trees: Vec<Tree>,
}

/// Meaning of a class of the shipped identification model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LabelInfo {
    /// DESIGN.md §5 category name.
    pub category: String,
    /// Brand of the product.
    pub vendor: String,
    pub model: String,
    /// IEEE OUI organisations seen for this class in training. A prediction is only trusted
    /// for a device whose OUI organisation is one of these: the model knows nothing about
    /// products it never saw, and this keeps it from confidently naming them.
    pub oui_vendors: Vec<String>,
}

pub const MODEL_FORMAT: u32 = 1;

const EMBEDDED_MODEL: &str = include_str!("../data/identify-model.json");

/// The shipped identification model (see `data/identify-model.json` for what it was
/// trained on), or `None` if the embedded file is empty or does not load.
pub fn embedded_model() -> Option<&'static Forest> {
    static MODEL: std::sync::OnceLock<Option<Forest>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let m = Forest::from_json(EMBEDDED_MODEL).ok()?;
            (m.feature_spec == features::FEATURE_SPEC
                && m.n_features == features::N_FEATURES
                && m.labels.len() == m.classes.len())
            .then_some(m)
        })
        .as_ref()
}

impl Forest {
    /// Trains on `x` (rows of `n_features`) with labels `y` (indices into `classes`).
    pub fn train(
        x: &[Vec<f32>],
        y: &[usize],
        classes: Vec<String>,
        cfg: TrainConfig,
        trained_on: &str,
    ) -> Forest {
        let n_features = x.first().map_or(0, Vec::len);
        let mut rng = Rng::new(cfg.seed);
        let mut trees = Vec::with_capacity(cfg.trees);
        let k = if cfg.features_per_split == 0 {
            ((n_features as f64).sqrt().ceil() as usize).max(1)
        } else {
            cfg.features_per_split
        };
        for _ in 0..cfg.trees {
            let sample: Vec<usize> = (0..x.len()).map(|_| rng.below(x.len())).collect();
            let mut b = Builder {
                x,
                y,
                n_classes: classes.len(),
                k,
                cfg: &cfg,
                rng: &mut rng,
                nodes: Vec::new(),
            };
            b.build(sample, 0);
            trees.push(Tree { nodes: b.nodes });
        }
        Forest {
            format: MODEL_FORMAT,
            feature_spec: features::FEATURE_SPEC,
            n_features,
            classes,
            trained_on: trained_on.to_string(),
            config: cfg,
            labels: Vec::new(),
            trees,
        }
    }

    /// Class probabilities (mean of the trees' leaf distributions).
    pub fn predict_proba(&self, row: &[f32]) -> Vec<f32> {
        let mut p = vec![0f32; self.classes.len()];
        for t in &self.trees {
            let mut i = 0usize;
            // Bounded walk: a corrupt model cannot loop forever.
            for _ in 0..=t.nodes.len() {
                match t.nodes.get(i) {
                    Some(Node::Split { f, t: th, l, r }) => {
                        let v = row.get(*f as usize).copied().unwrap_or(0.0);
                        i = if v <= *th { *l as usize } else { *r as usize };
                    }
                    Some(Node::Leaf { c }) => {
                        let total: u32 = c.iter().map(|(_, n)| n).sum();
                        if total > 0 {
                            for (cls, n) in c {
                                if let Some(x) = p.get_mut(*cls as usize) {
                                    *x += *n as f32 / total as f32;
                                }
                            }
                        }
                        break;
                    }
                    None => break,
                }
            }
        }
        let n = self.trees.len().max(1) as f32;
        p.iter_mut().for_each(|x| *x /= n);
        p
    }

    /// Best class and its probability.
    pub fn predict(&self, row: &[f32]) -> Option<(usize, f32)> {
        let p = self.predict_proba(row);
        p.iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Forest, ModelError> {
        let f: Forest = serde_json::from_str(s)?;
        if f.format != MODEL_FORMAT {
            return Err(ModelError::Invalid("unsupported model format"));
        }
        for t in &f.trees {
            for n in &t.nodes {
                match n {
                    Node::Split { f: feat, l, r, .. } => {
                        if *feat as usize >= f.n_features
                            || *l as usize >= t.nodes.len()
                            || *r as usize >= t.nodes.len()
                        {
                            return Err(ModelError::Invalid("node index out of range"));
                        }
                    }
                    Node::Leaf { c } => {
                        if c.iter().any(|(cls, _)| *cls as usize >= f.classes.len()) {
                            return Err(ModelError::Invalid("leaf class out of range"));
                        }
                    }
                }
            }
        }
        Ok(f)
    }
}

struct Builder<'a> {
    x: &'a [Vec<f32>],
    y: &'a [usize],
    n_classes: usize,
    k: usize,
    cfg: &'a TrainConfig,
    rng: &'a mut Rng,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn leaf(&self, idx: &[usize]) -> Node {
        let mut counts = vec![0u32; self.n_classes];
        for &i in idx {
            counts[self.y[i]] += 1;
        }
        Node::Leaf {
            c: counts
                .into_iter()
                .enumerate()
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| (c as u16, n))
                .collect(),
        }
    }

    fn build(&mut self, idx: Vec<usize>, depth: usize) -> u32 {
        let me = self.nodes.len() as u32;
        let pure = idx.iter().all(|&i| self.y[i] == self.y[idx[0]]);
        if pure || depth >= self.cfg.max_depth || idx.len() < self.cfg.min_samples_split {
            let leaf = self.leaf(&idx);
            self.nodes.push(leaf);
            return me;
        }
        let n_features = self.x[0].len();
        let mut best: Option<(f64, usize, f32)> = None;
        let parent = gini(&self.class_counts(&idx), idx.len());
        for _ in 0..self.k {
            let f = self.rng.below(n_features);
            let mut vals: Vec<(f32, usize)> =
                idx.iter().map(|&i| (self.x[i][f], self.y[i])).collect();
            vals.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut left = vec![0usize; self.n_classes];
            let mut right = self.class_counts(&idx);
            let n = vals.len();
            for j in 0..n - 1 {
                left[vals[j].1] += 1;
                right[vals[j].1] -= 1;
                if vals[j].0 == vals[j + 1].0 {
                    continue;
                }
                let nl = j + 1;
                let nr = n - nl;
                let score = (nl as f64 * gini(&left, nl) + nr as f64 * gini(&right, nr)) / n as f64;
                if best.is_none_or(|(s, _, _)| score < s) {
                    best = Some((score, f, (vals[j].0 + vals[j + 1].0) / 2.0));
                }
            }
        }
        match best {
            Some((score, f, t)) if score < parent - 1e-12 => {
                let (l, r): (Vec<usize>, Vec<usize>) =
                    idx.into_iter().partition(|&i| self.x[i][f] <= t);
                self.nodes.push(Node::Leaf { c: Vec::new() }); // placeholder
                let li = self.build(l, depth + 1);
                let ri = self.build(r, depth + 1);
                self.nodes[me as usize] = Node::Split {
                    f: f as u16,
                    t,
                    l: li,
                    r: ri,
                };
                me
            }
            _ => {
                let leaf = self.leaf(&idx);
                self.nodes.push(leaf);
                me
            }
        }
    }

    fn class_counts(&self, idx: &[usize]) -> Vec<usize> {
        let mut c = vec![0usize; self.n_classes];
        for &i in idx {
            c[self.y[i]] += 1;
        }
        c
    }
}

fn gini(counts: &[usize], n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    1.0 - counts
        .iter()
        .map(|&c| {
            let p = c as f64 / n;
            p * p
        })
        .sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            let noise = |r: &mut Rng| (r.below(1000) as f32 / 1000.0) - 0.5;
            x.push(vec![
                c as f32 * 2.0 + noise(&mut rng),
                noise(&mut rng),
                (c == 2) as u8 as f32,
            ]);
            y.push(c);
        }
        (x, y)
    }

    #[test]
    fn learns_separable_classes_and_is_deterministic() {
        let (x, y) = blobs(150, 1);
        let classes = vec!["a".into(), "b".into(), "c".into()];
        let f = Forest::train(
            &x,
            &y,
            classes.clone(),
            TrainConfig {
                trees: 15,
                ..Default::default()
            },
            "test",
        );
        let (xt, yt) = blobs(60, 2);
        let correct = xt
            .iter()
            .zip(&yt)
            .filter(|(r, c)| f.predict(r).map(|p| p.0) == Some(**c))
            .count();
        assert!(correct >= 57, "{correct}/60");
        let g = Forest::train(
            &x,
            &y,
            classes,
            TrainConfig {
                trees: 15,
                ..Default::default()
            },
            "test",
        );
        assert_eq!(f, g);
        let p = f.predict_proba(&xt[0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn model_round_trips_and_rejects_corruption() {
        let (x, y) = blobs(30, 3);
        let f = Forest::train(
            &x,
            &y,
            vec!["a".into(), "b".into(), "c".into()],
            TrainConfig {
                trees: 3,
                ..Default::default()
            },
            "t",
        );
        let s = f.to_json();
        assert_eq!(Forest::from_json(&s).unwrap(), f);
        let bad = s.replacen("\"l\":", "\"l\":999999,\"x\":", 1);
        assert!(Forest::from_json(&bad).is_err());
        assert!(Forest::from_json("{\"format\": 1}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn predict_never_panics_on_short_or_odd_rows(row in proptest::collection::vec(proptest::num::f32::ANY, 0..6)) {
            let (x, y) = blobs(30, 4);
            let f = Forest::train(&x, &y, vec!["a".into(), "b".into(), "c".into()], TrainConfig { trees: 3, ..Default::default() }, "t");
            let _ = f.predict(&row);
        }
    }
}
