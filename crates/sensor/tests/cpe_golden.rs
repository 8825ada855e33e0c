//! Golden CPE candidates on real captures: every device whose own banners name a product
//! gets the CPE written in `crates/risk/golden/cpe-candidates.tsv` (expected values written
//! by hand after reading each banner with tshark; the file records the banner). Rows marked
//! `miss` are banners that name a product without a CPE we can state; they are counted and
//! their reason printed. Skips when `../shared` is absent.
//!
//! `PALISADE_GOLDEN_PRINT=1 cargo test -p palisade-sensor --test cpe_golden -- --nocapture`
//! prints every candidate of every golden device (for writing new rows).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use palisade_sensor::{AnalyzeOptions, NullSink, analyze};

struct Row {
    capture: String,
    mac: String,
    expected: String,
    banner: String,
}

fn rows() -> Vec<Row> {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../risk/golden/cpe-candidates.tsv");
    let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let c: Vec<&str> = l.split('\t').collect();
            assert!(
                c.len() == 4,
                "{}:{}: want 4 tab-separated columns",
                f.display(),
                i + 1
            );
            Row {
                capture: c[0].to_string(),
                mac: c[1].to_string(),
                expected: c[2].to_string(),
                banner: c[3].to_string(),
            }
        })
        .collect()
}

/// `dir/*.pcap` or one file, relative to `../shared/datasets`.
fn expand(datasets: &Path, pattern: &str) -> Vec<PathBuf> {
    if let Some(dir) = pattern.strip_suffix("/*.pcap") {
        let mut v: Vec<PathBuf> = std::fs::read_dir(datasets.join(dir))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    } else {
        vec![datasets.join(pattern)]
    }
}

#[test]
fn golden_cpe_candidates_on_real_captures() {
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if !datasets.is_dir() {
        eprintln!("skipping: {} not found", datasets.display());
        return;
    }
    let print = std::env::var_os("PALISADE_GOLDEN_PRINT").is_some();
    let rows = rows();
    let mut by_capture: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        by_capture.entry(r.capture.as_str()).or_default().push(r);
    }
    let (mut expected, mut correct, mut misses) = (0usize, 0usize, Vec::new());
    // Per device (capture, MAC): every expected candidate found, and at least one expected.
    let mut devices: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (capture, rows) in by_capture {
        let files = expand(&datasets, capture);
        assert!(
            !files.is_empty() && files.iter().all(|f| f.exists()),
            "{capture}: no capture found"
        );
        let report = analyze(&files, &AnalyzeOptions::default(), Box::new(NullSink), None).report;
        for r in rows {
            let dev = report.devices.iter().find(|d| d.mac == r.mac);
            let got: Vec<&str> = dev
                .map(|d| d.cpes.iter().map(|c| c.cpe.as_str()).collect())
                .unwrap_or_default();
            if print {
                eprintln!("{capture} {}:", r.mac);
                for c in dev.map(|d| d.cpes.as_slice()).unwrap_or_default() {
                    eprintln!("    {} {:.3} {}", c.cpe, c.confidence, c.evidence);
                }
            }
            let dev_count = devices
                .entry((capture.to_string(), r.mac.clone()))
                .or_default();
            if let Some(why) = r.expected.strip_prefix("miss:") {
                misses.push(format!("{capture} {}: {why} [{}]", r.mac, r.banner));
                continue;
            }
            expected += 1;
            dev_count.0 += 1;
            if got.contains(&r.expected.as_str()) {
                correct += 1;
                dev_count.1 += 1;
            } else {
                failures.push(format!(
                    "{capture} {}: {} not in {got:?} (banner {})",
                    r.mac, r.expected, r.banner
                ));
            }
        }
    }
    let banners = expected + misses.len();
    eprintln!(
        "CPE golden: {correct}/{expected} expected candidates found; product-naming banners \
         with a correct candidate {correct}/{banners} ({:.1}%); {} explained misses:",
        100.0 * correct as f64 / banners.max(1) as f64,
        misses.len()
    );
    let covered = devices.values().filter(|(e, c)| *e > 0 && e == c).count();
    eprintln!(
        "CPE golden per device: {covered}/{} devices with product-naming banners have every \
         expected candidate ({} have only explained misses)",
        devices.len(),
        devices.values().filter(|(e, _)| *e == 0).count()
    );
    for m in &misses {
        eprintln!("  miss {m}");
    }
    assert!(expected >= 30, "golden file too small: {expected} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
