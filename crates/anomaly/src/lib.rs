//! Online behavioural anomaly detection (Kitsune-class) with per-device baselines and
//! explanations.
//!
//! * [`stats`]: damped incremental 1D/2D statistics over decay windows on packet time.
//! * [`features`]: per-packet features keyed per source MAC-IP, source IP, host pair, socket
//!   and local device, in bounded tables with eviction.
//! * [`kitnet`]: the autoencoder ensemble (feature mapping by correlation clustering, training,
//!   execution), hand-written f32 kernels, deterministic given a seed.
//! * [`Detector`]: the three phases, threshold calibration (log-normal fit of the training scores,
//!   globally and per device), explanations in words, and model save/load ([`Model`]).
//!
//! The model is frozen after training (it does not keep learning during execution); the
//! feature statistics keep updating, as they must.
#![forbid(unsafe_code)]
// The statistics and kernels walk parallel arrays by index; that reads better than zips.
#![allow(clippy::needless_range_loop)]

use std::io::{Read, Write};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub mod features;
pub mod kitnet;
pub mod metrics;
pub mod stats;

pub use features::{Caps, Extractor, PacketView};
use features::{GROUP_LEAD, GROUPS, PER_WINDOW, group_of};
use kitnet::{CorrClust, KitNet, NetScratch, Rng};

/// Detector configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Decay rates λ of the windows (weight `2^(-λ·Δt)`, Δt in seconds).
    pub lambdas: Vec<f64>,
    pub caps: Caps,
    /// Largest feature group (autoencoder input size) of the ensemble.
    pub max_group: usize,
    /// Packets used to learn the feature map.
    pub fm_grace: u64,
    /// Packets used to train the autoencoders after the feature map.
    pub ad_grace: u64,
    pub hidden_ratio: f32,
    pub learning_rate: f32,
    pub seed: u64,
    /// False-positive budget per packet for the threshold (quantile of the log-normal fit).
    pub fp_rate: f64,
    /// Added to the calibrated score of packets of a device that has no baseline.
    pub novelty: f32,
    /// Scored training packets a device needs for its own threshold.
    pub min_device_packets: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lambdas: vec![5.0, 3.0, 1.0, 0.1, 0.01],
            caps: Caps::default(),
            max_group: 10,
            fm_grace: 5_000,
            ad_grace: 46_636,
            hidden_ratio: 0.75,
            learning_rate: 0.1,
            seed: 0x5041_4c49,
            fp_rate: 1e-4,
            novelty: 1.0,
            min_device_packets: 200,
        }
    }
}

impl Config {
    /// Splits `train_packets` into feature mapping (about 10 %, at most 5,000) and training.
    pub fn for_training_packets(train_packets: u64) -> Self {
        let fm = (train_packets / 10).clamp(1, 5_000);
        Config {
            fm_grace: fm,
            ad_grace: train_packets.saturating_sub(fm).max(1),
            ..Config::default()
        }
    }
}

/// Which phase the detector is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Mapping,
    Training,
    Executing,
}

/// The verdict on one packet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Ensemble output RMSE.
    pub raw: f32,
    /// Calibrated score: above 1.0 is anomalous at the configured false-positive budget.
    /// NaN during training (the thresholds are fixed when training ends; see
    /// [`Detector::calibrate`]).
    pub score: f32,
    /// The local device the packet belongs to (see [`features::is_local`]).
    pub device: u128,
    pub known_device: bool,
    pub phase: Phase,
}

/// A log-normal fit `(μ, σ)` of scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LogNormal {
    pub n: u64,
    pub sum: f64,
    pub sq: f64,
}

impl LogNormal {
    fn add(&mut self, x: f32) {
        let l = f64::from(x.max(1e-12)).ln();
        self.n += 1;
        self.sum += l;
        self.sq += l * l;
    }

    pub fn mu_sigma(&self) -> (f64, f64) {
        if self.n == 0 {
            return (0.0, 1.0);
        }
        let n = self.n as f64;
        let mu = self.sum / n;
        (mu, (self.sq / n - mu * mu).max(0.0).sqrt())
    }

    /// `exp(μ + σ·Φ⁻¹(1-p))`.
    pub fn threshold(&self, p: f64) -> f64 {
        let (mu, s) = self.mu_sigma();
        (mu + s * probit(1.0 - p.clamp(1e-12, 0.5))).exp()
    }
}

/// Inverse standard normal CDF (Acklam's rational approximation; absolute error below 1e-4).
#[allow(clippy::excessive_precision)]
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549671324908186,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let pl = 0.02425;
    if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -probit(1.0 - p)
    }
}

/// What the model remembers about one device from training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceBaseline {
    /// Packets seen in training (all phases).
    pub packets: u64,
    /// Log-normal fit of its scores in the last half of training.
    pub scores: LogNormal,
    /// Sum of each behaviour group's lead feature per window (`groups × windows`), and count.
    pub lead_sum: Vec<f64>,
    pub lead_n: u64,
}

/// Everything needed to score after a restart, without relearning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub version: u32,
    pub config: Config,
    pub net: KitNet,
    pub global: LogNormal,
    /// Mean squared reconstruction error of each behaviour group in training.
    pub group_err: Vec<f64>,
    pub devices: Vec<(u128, DeviceBaseline)>,
}

/// Model file format name and version.
pub const MODEL_FORMAT: &str = "palisade-anomaly-model";
pub const MODEL_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed model file: {0}")]
    Format(#[from] serde_json::Error),
    #[error("not a {MODEL_FORMAT} file")]
    WrongFormat,
    #[error("unsupported model version {found} (this build reads {MODEL_VERSION})")]
    Version { found: u32 },
    #[error("inconsistent model: {0}")]
    Inconsistent(&'static str),
    #[error("the detector has not finished training")]
    NotTrained,
}

impl Model {
    pub fn save(&self, w: impl Write) -> Result<(), ModelError> {
        serde_json::to_writer(w, self)?;
        Ok(())
    }

    pub fn load(r: impl Read) -> Result<Model, ModelError> {
        let m: Model = serde_json::from_reader(r)?;
        if m.format != MODEL_FORMAT {
            return Err(ModelError::WrongFormat);
        }
        if m.version != MODEL_VERSION {
            return Err(ModelError::Version { found: m.version });
        }
        let dim = m.config.lambdas.len().clamp(1, features::MAX_WINDOWS) * PER_WINDOW;
        let ok_ae = |a: &kitnet::Autoencoder| {
            a.w.len() == a.nv * a.nh
                && a.hb.len() == a.nh
                && a.vb.len() == a.nv
                && a.min.len() == a.nv
                && a.max.len() == a.nv
        };
        if m.net.groups.len() != m.net.ensemble.len()
            || m.net.output.nv != m.net.groups.len().max(1)
            || !ok_ae(&m.net.output)
            || m.net
                .groups
                .iter()
                .zip(&m.net.ensemble)
                .any(|(g, a)| g.len() != a.nv || !ok_ae(a) || g.iter().any(|&i| i >= dim))
        {
            return Err(ModelError::Inconsistent("autoencoder shapes"));
        }
        if m.group_err.len() != GROUPS.len() {
            return Err(ModelError::Inconsistent("group baselines"));
        }
        Ok(m)
    }
}

/// One reason in an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub group: &'static str,
    /// Reconstruction error of the group relative to its training level.
    pub error_ratio: f32,
    /// The group's lead feature now, and the device's training mean of it.
    pub value: f32,
    pub baseline: f32,
    pub window_lambda: f64,
    pub text: String,
}

#[derive(Debug, Default)]
struct Training {
    corr: Option<CorrClust>,
    global: LogNormal,
    group_err: Vec<f64>,
    group_n: u64,
}

/// The online detector: feature extraction plus the ensemble, in three phases.
pub struct Detector {
    cfg: Config,
    fx: Extractor,
    n: u64,
    net: Option<KitNet>,
    tr: Training,
    global_t: f64,
    devices: FxHashMap<u128, DeviceBaseline>,
    dev_t: FxHashMap<u128, f32>,
    x: Vec<f32>,
    err: Vec<f32>,
    s: NetScratch,
    rng: Rng,
}

impl Detector {
    pub fn new(cfg: Config) -> Self {
        let fx = Extractor::new(&cfg.lambdas, cfg.caps);
        let dim = fx.dim();
        let mut d = Detector {
            fx,
            n: 0,
            net: None,
            tr: Training {
                corr: Some(CorrClust::new(dim)),
                group_err: vec![0.0; GROUPS.len()],
                ..Training::default()
            },
            global_t: 1.0,
            devices: FxHashMap::default(),
            dev_t: FxHashMap::default(),
            x: vec![0.0; dim],
            err: vec![0.0; dim],
            s: NetScratch::default(),
            rng: Rng::new(cfg.seed),
            cfg,
        };
        if d.cfg.fm_grace == 0 {
            d.start_training();
        }
        d
    }

    /// A trained detector from a saved model (fresh feature statistics).
    pub fn from_model(m: Model) -> Self {
        let mut d = Detector::new(Config {
            fm_grace: 0,
            ad_grace: 0,
            ..m.config.clone()
        });
        d.cfg = m.config;
        d.net = Some(m.net);
        d.tr.corr = None;
        d.tr.global = m.global;
        d.tr.group_err = m.group_err;
        d.devices = m.devices.into_iter().collect();
        d.n = d.cfg.fm_grace + d.cfg.ad_grace;
        d.finish_training();
        d
    }

    /// The trained model, for saving.
    pub fn model(&self) -> Result<Model, ModelError> {
        if self.phase() != Phase::Executing {
            return Err(ModelError::NotTrained);
        }
        let net = self.net.clone().ok_or(ModelError::NotTrained)?;
        let mut devices: Vec<(u128, DeviceBaseline)> =
            self.devices.iter().map(|(k, v)| (*k, v.clone())).collect();
        devices.sort_by_key(|d| d.0);
        Ok(Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            config: self.cfg.clone(),
            net,
            global: self.tr.global,
            group_err: self.tr.group_err.clone(),
            devices,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn phase(&self) -> Phase {
        if self.n < self.cfg.fm_grace {
            Phase::Mapping
        } else if self.n < self.cfg.fm_grace + self.cfg.ad_grace {
            Phase::Training
        } else {
            Phase::Executing
        }
    }

    /// The number of feature-table entries held (bounded by the caps).
    pub fn table_entries(&self) -> usize {
        self.fx.entries()
    }

    /// The feature groups of the ensemble (feature indices).
    pub fn groups(&self) -> Option<&[Vec<usize>]> {
        self.net.as_ref().map(|n| n.groups.as_slice())
    }

    fn start_training(&mut self) {
        let groups = match self.tr.corr.take() {
            Some(c) if self.cfg.fm_grace > 0 => c.cluster(self.cfg.max_group),
            _ => {
                let m = self.cfg.max_group.max(1);
                (0..self.x.len())
                    .collect::<Vec<_>>()
                    .chunks(m)
                    .map(|c| c.to_vec())
                    .collect()
            }
        };
        self.net = Some(KitNet::new(
            groups,
            self.cfg.hidden_ratio,
            self.cfg.learning_rate,
            &mut self.rng,
        ));
    }

    fn finish_training(&mut self) {
        if self.tr.group_n > 0 {
            let n = self.tr.group_n as f64;
            for g in self.tr.group_err.iter_mut() {
                *g /= n;
            }
            self.tr.group_n = 0;
        }
        let p = self.cfg.fp_rate;
        let global_t = self.tr.global.threshold(p).max(1e-9);
        // Stage 1: each device against its own training scores.
        let mut dev_t: FxHashMap<u128, f64> = FxHashMap::default();
        for (k, d) in &self.devices {
            let t = if d.scores.n >= self.cfg.min_device_packets {
                d.scores.threshold(p).max(1e-9)
            } else {
                global_t
            };
            dev_t.insert(*k, t);
        }
        // Stage 2: the same budget over all training scores after stage 1 (a device's own
        // threshold is fitted on few packets; this keeps the pooled false-positive rate at p).
        let mut pooled = LogNormal::default();
        for (k, d) in &self.devices {
            let lt = dev_t.get(k).copied().unwrap_or(global_t).ln();
            let n = d.scores.n as f64;
            pooled.n += d.scores.n;
            pooled.sum += d.scores.sum - n * lt;
            pooled.sq += d.scores.sq - 2.0 * lt * d.scores.sum + n * lt * lt;
        }
        let scale = if pooled.n > 0 {
            pooled.threshold(p).clamp(1e-3, 1e3)
        } else {
            1.0
        };
        self.global_t = global_t * scale;
        self.dev_t = dev_t
            .into_iter()
            .map(|(k, t)| (k, (t * scale) as f32))
            .collect();
    }

    /// The calibrated score of a raw score for `device` (valid once training has finished).
    pub fn calibrate(&self, raw: f32, device: u128) -> f32 {
        match self.dev_t.get(&device) {
            Some(t) => raw / t,
            None => raw / self.global_t as f32 + self.cfg.novelty,
        }
    }

    /// The global threshold on raw scores.
    pub fn global_threshold(&self) -> f64 {
        self.global_t
    }

    /// Processes one packet. `None` during feature mapping.
    pub fn process(&mut self, p: &PacketView) -> Option<Score> {
        self.fx.update(p, &mut self.x);
        let device = p.device();
        let phase = self.phase();
        match phase {
            Phase::Mapping => {
                if let Some(c) = self.tr.corr.as_mut() {
                    c.update(&self.x);
                }
                self.count_device(device);
                self.n += 1;
                if self.n >= self.cfg.fm_grace {
                    self.start_training();
                }
                None
            }
            Phase::Training => {
                let net = self.net.as_mut()?;
                let raw = net.train(&self.x, &mut self.s);
                if let Some(d) = self.devices.get_mut(&device) {
                    d.packets += 1;
                } else if self.devices.len() < self.cfg.caps.devices {
                    self.devices.insert(
                        device,
                        DeviceBaseline {
                            packets: 1,
                            ..DeviceBaseline::default()
                        },
                    );
                }
                let k = self.n - self.cfg.fm_grace;
                if k >= self.cfg.ad_grace / 2 {
                    self.tr.global.add(raw);
                    if let Some(d) = self.devices.get_mut(&device) {
                        d.scores.add(raw);
                    }
                    if k.is_multiple_of(4) {
                        net.execute(&self.x, &mut self.s, &mut self.err);
                        for (gi, (_, offs)) in GROUPS.iter().enumerate() {
                            self.tr.group_err[gi] += group_error(&self.err, offs);
                        }
                        self.tr.group_n += 1;
                        if let Some(d) = self.devices.get_mut(&device) {
                            let nw = self.x.len() / PER_WINDOW;
                            d.lead_sum.resize(GROUPS.len() * nw, 0.0);
                            for (gi, &lead) in GROUP_LEAD.iter().enumerate() {
                                for w in 0..nw {
                                    d.lead_sum[gi * nw + w] +=
                                        f64::from(self.x[w * PER_WINDOW + lead]);
                                }
                            }
                            d.lead_n += 1;
                        }
                    }
                }
                self.n += 1;
                if self.n >= self.cfg.fm_grace + self.cfg.ad_grace {
                    self.finish_training();
                }
                Some(Score {
                    raw,
                    score: f32::NAN,
                    device,
                    known_device: true,
                    phase,
                })
            }
            Phase::Executing => {
                let net = self.net.as_ref()?;
                let raw = net.execute(&self.x, &mut self.s, &mut self.err);
                let raw = if raw.is_finite() { raw } else { f32::MAX };
                Some(Score {
                    raw,
                    score: self.calibrate(raw, device),
                    device,
                    known_device: self.dev_t.contains_key(&device),
                    phase,
                })
            }
        }
    }

    fn count_device(&mut self, device: u128) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.packets += 1;
        } else if self.devices.len() < self.cfg.caps.devices {
            self.devices.insert(
                device,
                DeviceBaseline {
                    packets: 1,
                    ..DeviceBaseline::default()
                },
            );
        }
    }

    /// Explains the last executed packet: the `top` behaviour groups that deviate most from
    /// training, in words.
    pub fn explain(&self, device: u128, top: usize) -> Vec<Reason> {
        let nw = self.x.len() / PER_WINDOW;
        let base = self.devices.get(&device);
        let mut r: Vec<Reason> = GROUPS
            .iter()
            .enumerate()
            .map(|(gi, (name, offs))| {
                let e = group_error(&self.err, offs);
                let ratio =
                    (e / self.tr.group_err.get(gi).copied().unwrap_or(0.0).max(1e-9)) as f32;
                // The window where the lead feature moved most against the device's baseline.
                let lead = GROUP_LEAD[gi];
                let mut best = (0usize, 0.0f32, 0.0f32, 0.0f32);
                for w in 0..nw {
                    let v = self.x[w * PER_WINDOW + lead];
                    let b = base
                        .filter(|b| b.lead_n > 0 && b.lead_sum.len() == GROUPS.len() * nw)
                        .map(|b| (b.lead_sum[gi * nw + w] / b.lead_n as f64) as f32)
                        .unwrap_or(0.0);
                    let dev = (v - b).abs() / (b.abs() + 1e-3);
                    if w == 0 || dev > best.3 {
                        best = (w, v, b, dev);
                    }
                }
                let (w, v, b, _) = best;
                let lambda = self.cfg.lambdas.get(w).copied().unwrap_or(0.0);
                let text = if base.is_none() {
                    format!("{name}: {v:.3} (device has no baseline: first seen after training)")
                } else if b.abs() > 1e-6 && v / b >= 1.0 {
                    format!(
                        "{name} ×{:.1} over the device's baseline ({v:.3} vs {b:.3}, λ={lambda})",
                        v / b
                    )
                } else if b.abs() > 1e-6 {
                    format!(
                        "{name} down to ×{:.2} of the device's baseline ({v:.3} vs {b:.3}, λ={lambda})",
                        v / b
                    )
                } else {
                    format!("{name}: {v:.3}, never seen in the device's baseline (λ={lambda})")
                };
                Reason {
                    group: name,
                    error_ratio: ratio,
                    value: v,
                    baseline: b,
                    window_lambda: lambda,
                    text,
                }
            })
            .collect();
        r.sort_by(|a, b| b.error_ratio.total_cmp(&a.error_ratio));
        r.truncate(top);
        r
    }

    /// The feature group (behaviour) index of feature `i`, see [`features::GROUPS`].
    pub fn behaviour_of(i: usize) -> usize {
        group_of(i)
    }
}

fn group_error(err: &[f32], offs: &[usize]) -> f64 {
    let nw = err.len() / PER_WINDOW;
    let mut s = 0.0f64;
    let mut n = 0usize;
    for w in 0..nw {
        for &o in offs {
            if let Some(e) = err.get(w * PER_WINDOW + o) {
                s += f64::from(*e);
                n += 1;
            }
        }
    }
    if n > 0 { s / n as f64 } else { 0.0 }
}

#[cfg(test)]
mod tests;
