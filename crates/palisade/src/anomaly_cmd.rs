//! `palisade eval anomaly`: per-packet anomaly scores on a stream (for `../shared/eval/metrics.py`)
//! or AUC / TPR at fixed FPR / ROC points on benign training captures and labelled test captures.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use palisade_anomaly::{Config, Detector, Model, PacketView, Phase, metrics};

#[derive(clap::Args)]
pub struct AnomalyArgs {
    /// One stream: learn from its first --train-packets packets, then score the rest.
    #[arg(long, conflicts_with_all = ["train", "test"], requires_all = ["train_packets", "scores"])]
    stream: Option<PathBuf>,
    /// Training packets at the start of --stream.
    #[arg(long)]
    train_packets: Option<u64>,
    /// Where --stream writes one score per packet ('nan' during feature mapping).
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Benign captures to learn from (all their packets, in the order given).
    #[arg(long, num_args = 1..)]
    train: Vec<PathBuf>,
    /// Test captures, each as PCAP:LABEL (0 benign, 1 attack).
    #[arg(long, num_args = 1..)]
    test: Vec<String>,
    /// Write the ROC points (threshold,fpr,tpr) as CSV.
    #[arg(long)]
    roc: Option<PathBuf>,
    /// Save the trained model.
    #[arg(long)]
    save_model: Option<PathBuf>,
    /// Seed of the autoencoder initialisation.
    #[arg(long, default_value_t = Config::default().seed)]
    seed: u64,
    /// Score added for devices without a baseline (0 = global model only).
    #[arg(long, default_value_t = Config::default().novelty)]
    novelty: f32,
}

pub fn run(a: AnomalyArgs) -> Result<()> {
    if let Some(stream) = &a.stream {
        let (Some(n), Some(out)) = (a.train_packets, &a.scores) else {
            bail!("--stream needs --train-packets and --scores");
        };
        return stream_scores(stream, n, out, a.seed, a.novelty, a.save_model.as_deref());
    }
    if a.train.is_empty() || a.test.is_empty() {
        bail!(
            "give --stream PCAP --train-packets N --scores FILE, or --train PCAP... --test PCAP:LABEL..."
        );
    }
    train_test(&a)
}

/// Calls `f` with every packet of `path`.
fn for_each_packet(path: &Path, mut f: impl FnMut(&PacketView)) -> Result<u64> {
    let mut r =
        palisade_capture::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut n = 0u64;
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                let d = palisade_packet::decode(p.link_type.0, p.data);
                f(&PacketView::from_decoded(p.ts_ns, &d, p.orig_len));
                n += 1;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("warning: {}: {e} (stopping there)", path.display());
                break;
            }
        }
    }
    Ok(n)
}

fn stream_scores(
    stream: &Path,
    train_packets: u64,
    out: &Path,
    seed: u64,
    novelty: f32,
    save: Option<&Path>,
) -> Result<()> {
    let cfg = Config {
        seed,
        novelty,
        ..Config::for_training_packets(train_packets)
    };
    let mut det = Detector::new(cfg);
    let mut train: Vec<(f32, u128)> = Vec::new();
    let mut lines: Vec<f32> = Vec::new();
    let t0 = Instant::now();
    let n = for_each_packet(stream, |p| match det.process(p) {
        None => lines.push(f32::NAN),
        Some(s) if s.phase == Phase::Training => {
            train.push((s.raw, s.device));
            lines.push(f32::NAN);
        }
        Some(s) => lines.push(s.score),
    })?;
    let secs = t0.elapsed().as_secs_f64();
    if n < train_packets {
        bail!(
            "{}: only {n} packets, fewer than --train-packets {train_packets}",
            stream.display()
        );
    }
    // Training scores, calibrated with the thresholds fixed at the end of training.
    let first = (n as usize).min(train_packets as usize) - train.len();
    for (i, (raw, dev)) in train.iter().enumerate() {
        lines[first + i] = det.calibrate(*raw, *dev);
    }
    let mut w = BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    for s in &lines {
        if s.is_nan() {
            writeln!(w, "nan")?;
        } else {
            writeln!(w, "{s}")?;
        }
    }
    w.flush()?;
    eprintln!(
        "palisade eval anomaly: {n} packets in {secs:.2} s ({:.0} packets/s), {} groups, global threshold {:.4}",
        n as f64 / secs.max(1e-9),
        det.groups().map(|g| g.len()).unwrap_or(0),
        det.global_threshold()
    );
    if let Some(p) = save {
        save_model(&det, p)?;
    }
    Ok(())
}

/// Loads a saved model for `analyze --anomaly`.
pub fn load_model(p: &Path) -> Result<std::sync::Arc<Model>> {
    let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let m = Model::load(std::io::BufReader::new(f))
        .with_context(|| format!("loading the anomaly model {}", p.display()))?;
    Ok(std::sync::Arc::new(m))
}

fn save_model(det: &Detector, p: &Path) -> Result<()> {
    let m: Model = det.model()?;
    let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
    m.save(BufWriter::new(f))?;
    Ok(())
}

fn train_test(a: &AnomalyArgs) -> Result<()> {
    // Count the training packets first so the phases fit them.
    let mut total = 0u64;
    for p in &a.train {
        total += for_each_packet(p, |_| {})?;
    }
    if total < 10 {
        bail!("too few training packets ({total})");
    }
    let mut det = Detector::new(Config {
        seed: a.seed,
        novelty: a.novelty,
        ..Config::for_training_packets(total)
    });
    for p in &a.train {
        for_each_packet(p, |v| {
            det.process(v);
        })?;
    }
    let (mut neg, mut pos) = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    let mut scored = 0u64;
    for spec in &a.test {
        let (path, label) = spec
            .rsplit_once(':')
            .with_context(|| format!("--test {spec}: expected PCAP:LABEL"))?;
        let attack = match label {
            "0" | "benign" => false,
            "1" | "attack" | "malicious" => true,
            _ => bail!("--test {spec}: label must be 0 or 1"),
        };
        let dst = if attack { &mut pos } else { &mut neg };
        scored += for_each_packet(Path::new(path), |v| {
            if let Some(s) = det.process(v) {
                dst.push(f64::from(s.score));
            }
        })?;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "palisade eval anomaly: trained on {total} packets; tested {scored} ({} benign, {} attack) at {:.0} packets/s",
        neg.len(),
        pos.len(),
        scored as f64 / secs.max(1e-9)
    );
    println!("AUC            {:.4}", metrics::auc(&neg, &pos));
    for fpr in [1e-3, 1e-2] {
        let (tpr, t) = metrics::tpr_at_fpr(&neg, &pos, fpr);
        println!("TPR @ FPR {fpr:<5} {tpr:.4} (threshold {t:.4})");
    }
    let fp = neg.iter().filter(|&&s| s > 1.0).count() as f64 / neg.len().max(1) as f64;
    let tp = pos.iter().filter(|&&s| s > 1.0).count() as f64 / pos.len().max(1) as f64;
    println!("calibrated threshold 1.0 (training-derived): FPR {fp:.4}, TPR {tp:.4}");
    if let Some(p) = &a.roc {
        let mut w = BufWriter::new(std::fs::File::create(p)?);
        writeln!(w, "threshold,fpr,tpr")?;
        for (t, f, tp) in metrics::roc(&neg, &pos) {
            writeln!(w, "{t},{f},{tp}")?;
        }
        w.flush()?;
    }
    if let Some(p) = &a.save_model {
        save_model(&det, p)?;
    }
    Ok(())
}
