//! `palisade eval identify` and `palisade kb train-identify`: the behavioural identification
//! model, trained and evaluated on labelled captures (IoT SENTINEL layout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use palisade_classify::metrics::{Confusion, grouped_folds};
use palisade_classify::{Forest, LabelInfo, TrainConfig};
use palisade_kb::OuiTable;
use palisade_sensor::AnalyzeOptions;

/// Category and brand of the IoT SENTINEL device types (project-owned labelling). Devices
/// whose captures carry another device's MAC are labelled by what is on the wire: the door
/// sensor talks through the D-Link hub and the Hue switch through the Hue bridge.
const TYPE_INFO: &[(&str, &str, &str)] = &[
    ("Aria", "appliance", "Fitbit"),
    ("D-LinkCam", "camera", "D-Link"),
    ("D-LinkDayCam", "camera", "D-Link"),
    ("D-LinkDoorSensor", "hub", "D-Link"),
    ("D-LinkHomeHub", "hub", "D-Link"),
    ("D-LinkSensor", "sensor", "D-Link"),
    ("D-LinkSiren", "sensor", "D-Link"),
    ("D-LinkSwitch", "smart_plug", "D-Link"),
    ("D-LinkWaterSensor", "sensor", "D-Link"),
    ("EdimaxCam", "camera", "Edimax"),
    ("EdimaxPlug1101W", "smart_plug", "Edimax"),
    ("EdimaxPlug2101W", "smart_plug", "Edimax"),
    ("EdnetCam", "camera", "Ednet"),
    ("EdnetGateway", "hub", "Ednet"),
    ("HomeMaticPlug", "smart_plug", "eQ-3"),
    ("HueBridge", "hub", "Philips"),
    ("HueSwitch", "hub", "Philips"),
    ("Lightify", "hub", "Osram"),
    ("MAXGateway", "hub", "eQ-3"),
    ("SmarterCoffee", "appliance", "Smarter"),
    ("TP-LinkPlugHS100", "smart_plug", "TP-Link"),
    ("TP-LinkPlugHS110", "smart_plug", "TP-Link"),
    ("WeMoInsightSwitch", "smart_plug", "Belkin"),
    ("WeMoLink", "hub", "Belkin"),
    ("WeMoSwitch", "smart_plug", "Belkin"),
    ("Withings", "appliance", "Withings"),
    ("iKettle2", "appliance", "Smarter"),
];

fn type_info(t: &str) -> (&'static str, &'static str) {
    TYPE_INFO
        .iter()
        .find(|(n, _, _)| *n == t)
        .map(|(_, c, b)| (*c, *b))
        .unwrap_or(("unknown", ""))
}

struct Sample {
    group: String,
    label: usize,
    features: Vec<f32>,
    oui_vendor: Option<String>,
}

struct Dataset {
    classes: Vec<String>,
    models: Vec<String>,
    samples: Vec<Sample>,
    missing: usize,
}

/// Splits one CSV line, honouring double quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Loads an IoT SENTINEL-style dataset: `captures/<device>/*.pcap` with `_iotdevice-mac.txt`,
/// and `devices.csv` (device_dir, device_type, model, ...) naming each device's type.
fn load(dir: &Path) -> Result<Dataset> {
    let caps = dir.join("captures");
    if !caps.is_dir() {
        bail!(
            "{}: no captures/ folder (expected the IoT SENTINEL layout)",
            dir.display()
        );
    }
    let mut types: BTreeMap<String, (String, String)> = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("devices.csv")) {
        for line in text.lines().skip(1) {
            let f = csv_fields(line);
            if f.len() >= 3 {
                types.insert(f[0].clone(), (f[1].clone(), f[2].clone()));
            }
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&caps)
        .with_context(|| format!("reading {}", caps.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut classes: Vec<String> = Vec::new();
    let mut models: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let mut missing = 0;
    let opts = AnalyzeOptions::default();
    for d in dirs {
        let name = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let Ok(mac_text) = std::fs::read_to_string(d.join("_iotdevice-mac.txt")) else {
            continue;
        };
        let Some(mac) = palisade_kb::parse_mac(mac_text.trim()) else {
            continue;
        };
        let (ty, model) = types
            .get(&name)
            .cloned()
            .unwrap_or_else(|| (name.clone(), name.clone()));
        let label = match classes.iter().position(|c| *c == ty) {
            Some(i) => i,
            None => {
                classes.push(ty.clone());
                models.push(model.clone());
                classes.len() - 1
            }
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        files.sort();
        for f in files {
            let states = palisade_sensor::device_states(std::slice::from_ref(&f), &opts);
            let Some(st) = states.iter().find(|s| s.mac == mac) else {
                missing += 1;
                continue;
            };
            samples.push(Sample {
                group: f.display().to_string(),
                label,
                features: palisade_inventory::feature_vector(st),
                oui_vendor: OuiTable::embedded().lookup(mac).map(str::to_string),
            });
        }
    }
    if samples.is_empty() {
        bail!("{}: no labelled device found in any capture", dir.display());
    }
    Ok(Dataset {
        classes,
        models,
        samples,
        missing,
    })
}

fn train(ds: &Dataset, idx: &[usize], cfg: TrainConfig, trained_on: &str) -> Forest {
    let x: Vec<Vec<f32>> = idx
        .iter()
        .map(|&i| ds.samples[i].features.clone())
        .collect();
    let y: Vec<usize> = idx.iter().map(|&i| ds.samples[i].label).collect();
    let mut f = Forest::train(&x, &y, ds.classes.clone(), cfg, trained_on);
    f.labels = ds
        .classes
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let (category, vendor) = type_info(name);
            let mut ouis: Vec<String> = idx
                .iter()
                .filter(|&&i| ds.samples[i].label == c)
                .filter_map(|&i| ds.samples[i].oui_vendor.clone())
                .collect();
            ouis.sort();
            ouis.dedup();
            LabelInfo {
                category: category.to_string(),
                vendor: vendor.to_string(),
                model: ds.models[c].clone(),
                oui_vendors: ouis,
            }
        })
        .collect();
    f
}

/// `palisade kb train-identify`: trains the shipped model on the whole dataset.
pub fn train_model(dataset: &Path, out: &Path, trees: usize) -> Result<()> {
    let ds = load(dataset)?;
    let idx: Vec<usize> = (0..ds.samples.len()).collect();
    let cfg = TrainConfig {
        trees,
        ..TrainConfig::default()
    };
    let trained_on = format!(
        "IoT SENTINEL device-setup captures (Miettinen et al., ICDCS 2017; shared/datasets/iot-sentinel): {} captures, {} device types",
        ds.samples.len(),
        ds.classes.len()
    );
    let f = train(&ds, &idx, cfg, &trained_on);
    std::fs::write(out, f.to_json() + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "trained {} trees on {} captures ({} types); {} captures without the labelled MAC skipped; model written to {}",
        f.trees.len(),
        ds.samples.len(),
        ds.classes.len(),
        ds.missing,
        out.display()
    );
    Ok(())
}

fn brand_matches(predicted: &str, truth: &str) -> bool {
    let p = predicted.to_ascii_lowercase();
    let t = truth.to_ascii_lowercase();
    !t.is_empty() && (p.contains(&t) || t.contains(&p) && !p.is_empty())
}

/// `palisade eval identify`: grouped k-fold cross-validation (folds by capture file).
pub fn eval(
    dataset: &Path,
    folds: usize,
    threshold: f32,
    csv: Option<&Path>,
    trees: usize,
) -> Result<()> {
    let started = std::time::Instant::now();
    let ds = load(dataset)?;
    let groups: Vec<String> = ds.samples.iter().map(|s| s.group.clone()).collect();
    let labels: Vec<usize> = ds.samples.iter().map(|s| s.label).collect();
    let fold_of = grouped_folds(&groups, &labels, folds);
    let k = fold_of.iter().max().map_or(1, |m| m + 1);
    let mut types = Confusion::new(ds.classes.clone());
    let cats: Vec<String> = {
        let mut c: Vec<String> = ds
            .classes
            .iter()
            .map(|t| type_info(t).0.to_string())
            .collect();
        c.sort();
        c.dedup();
        c
    };
    let mut categories = Confusion::new(cats.clone());
    let (mut vendor_ok, mut vendor_n) = (0u64, 0u64);
    // (top class probability, was it right) for every held-out capture: the calibration check.
    let mut reliability: Vec<(f32, bool)> = Vec::new();
    let cfg = TrainConfig {
        trees,
        ..TrainConfig::default()
    };
    for fold in 0..k {
        let train_idx: Vec<usize> = (0..ds.samples.len())
            .filter(|&i| fold_of[i] != fold)
            .collect();
        let test_idx: Vec<usize> = (0..ds.samples.len())
            .filter(|&i| fold_of[i] == fold)
            .collect();
        let f = train(&ds, &train_idx, cfg, "cv");
        for &i in &test_idx {
            let s = &ds.samples[i];
            let raw = f.predict(&s.features);
            if let Some((c, p)) = raw {
                reliability.push((p, c == s.label));
            }
            let pred = raw.filter(|(_, p)| *p >= threshold).map(|(c, _)| c);
            types.add(s.label, pred);
            let truth_cat = type_info(&ds.classes[s.label]).0;
            let pred_cat = pred.map(|c| type_info(&ds.classes[c]).0);
            let ti = cats.iter().position(|c| c == truth_cat).unwrap_or(0);
            categories.add(
                ti,
                pred_cat.and_then(|pc| cats.iter().position(|c| c == pc)),
            );
            // Vendor: the predicted type's brand when answered, else the IEEE registry.
            let truth_brand = type_info(&ds.classes[s.label]).1;
            let predicted_brand = match pred {
                Some(c) => type_info(&ds.classes[c]).1.to_string(),
                None => s.oui_vendor.clone().unwrap_or_default(),
            };
            vendor_n += 1;
            vendor_ok += brand_matches(&predicted_brand, truth_brand) as u64;
        }
    }
    println!(
        "palisade eval identify: {} captures of {} device types from {} ({} folds grouped by capture file, abstain below p={threshold})",
        ds.samples.len(),
        ds.classes.len(),
        dataset.display(),
        k
    );
    if ds.missing > 0 {
        println!(
            "  {} captures did not contain the labelled MAC and were skipped",
            ds.missing
        );
    }
    println!();
    println!(
        "{:<20} {:>5} {:>9} {:>7}",
        "type", "n", "precision", "recall"
    );
    for (i, c) in ds.classes.iter().enumerate() {
        let n: u64 = types.m[i].iter().sum();
        let fmt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "{:<20} {:>5} {:>9} {:>7}",
            c,
            n,
            fmt(types.precision(i)),
            fmt(types.recall(i))
        );
    }
    println!();
    println!(
        "device type: accuracy {:.3} (micro, abstentions count as errors), {:.3} on answered, macro recall {:.3}, abstained {:.1}%",
        types.accuracy(),
        types.accuracy_answered(),
        types.macro_recall(),
        100.0 * types.abstained() as f64 / types.total().max(1) as f64
    );
    println!(
        "category:    accuracy {:.3} ({} categories), {:.3} on answered",
        categories.accuracy(),
        cats.len(),
        categories.accuracy_answered()
    );
    println!(
        "vendor:      accuracy {:.3} (brand of the predicted type, IEEE OUI organisation when abstaining)",
        vendor_ok as f64 / vendor_n.max(1) as f64
    );
    let pairs = types.confused_pairs(0.2);
    if !pairs.is_empty() {
        println!();
        println!(
            "types confused with each other in ≥ 20% of either's captures (not separable by their traffic):"
        );
        for (a, b, ab, ba) in pairs {
            println!(
                "  {} ↔ {}: {ab} of {} as {}, {ba} of {} as {}",
                ds.classes[a],
                ds.classes[b],
                ds.classes[a],
                ds.classes[b],
                ds.classes[b],
                ds.classes[a]
            );
        }
    }
    println!();
    print_reliability(&reliability);
    println!();
    println!("confusion matrix (rows = truth, columns = predicted type index, last = abstained):");
    print!("{:>4} ", "");
    for i in 0..ds.classes.len() {
        print!("{i:>3}");
    }
    println!("  ab");
    for (i, row) in types.m.iter().enumerate() {
        print!("{i:>3} ");
        for v in row.iter().take(ds.classes.len()) {
            if *v == 0 {
                print!("  .");
            } else {
                print!("{v:>3}");
            }
        }
        println!("{:>4}  {}", row[ds.classes.len()], ds.classes[i]);
    }
    if let Some(p) = csv {
        std::fs::write(p, types.to_csv()).with_context(|| format!("writing {}", p.display()))?;
        println!("confusion matrix CSV written to {}", p.display());
    }
    println!("elapsed {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Reliability table of the classifier's top-class probability on held-out captures: within
/// each probability bin, how often the answer was right, and the expected calibration error.
fn print_reliability(r: &[(f32, bool)]) {
    let n = r.len().max(1) as f64;
    println!("calibration (top-class probability on held-out captures, before abstention):");
    println!(
        "{:<11} {:>5} {:>10} {:>9}",
        "probability", "n", "mean prob", "accuracy"
    );
    let mut ece = 0.0;
    for b in 0..10 {
        let (lo, hi) = (b as f32 / 10.0, (b + 1) as f32 / 10.0);
        let in_bin: Vec<&(f32, bool)> = r
            .iter()
            .filter(|(p, _)| *p >= lo && (*p < hi || (b == 9 && *p <= 1.0)))
            .collect();
        if in_bin.is_empty() {
            continue;
        }
        let k = in_bin.len() as f64;
        let conf = in_bin.iter().map(|(p, _)| *p as f64).sum::<f64>() / k;
        let acc = in_bin.iter().filter(|(_, ok)| *ok).count() as f64 / k;
        ece += k / n * (acc - conf).abs();
        println!(
            "{:<11} {:>5} {:>10.3} {:>9.3}",
            format!("{lo:.1}-{hi:.1}"),
            in_bin.len(),
            conf,
            acc
        );
    }
    println!("expected calibration error: {ece:.3}");
}
