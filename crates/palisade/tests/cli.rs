//! End-to-end tests of the `palisade` binary: exit codes, error messages with byte offsets,
//! no panics on malformed captures, and the report contract.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn analyze(args: &[&str]) -> Output {
    bin().arg("analyze").args(args).output().unwrap()
}

fn no_panic(o: &Output) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "panic: {err}");
}

/// A small valid pcap made by the simulator (benign part only, to stay quick).
fn demo_pcap(dir: &Path) -> PathBuf {
    let p = dir.join("demo.pcap");
    let o = bin()
        .args(["demo", "--format", "json", "--write-pcap"])
        .arg(&p)
        .args(["-o"])
        .arg(dir.join("demo.json"))
        .output()
        .unwrap();
    no_panic(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p
}

#[test]
fn malformed_inputs_exit_2_with_file_and_offset() {
    let dir = tmpdir("malformed");
    let good = std::fs::read(demo_pcap(&dir)).unwrap();
    let mut random = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..5000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push(x as u8);
    }
    let mut absurd = good[..24].to_vec();
    absurd.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    absurd.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    absurd.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let mut ng = Vec::new();
    ng.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    ng.extend_from_slice(&13u32.to_le_bytes()); // not a multiple of 4
    ng.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    ng.extend_from_slice(&[0; 16]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        ("short-header", good[..10].to_vec(), "offset 0"),
        ("trunc-record", good[..100].to_vec(), "offset 24"),
        ("trunc-rechdr", good[..30].to_vec(), "offset 24"),
        ("absurd", absurd, "absurd"),
        (
            "magic",
            b"%PDF-1.4 not a capture at all, sorry".to_vec(),
            "magic",
        ),
        ("random", random, "offset 0"),
        ("ng-corrupt", ng, "offset"),
    ];
    for (name, bytes, needle) in cases {
        let p = dir.join(format!("{name}.pcap"));
        std::fs::write(&p, bytes).unwrap();
        let o = analyze(&["--format", "json", p.to_str().unwrap()]);
        no_panic(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(p.to_str().unwrap()),
            "{name}: file not named: {err}"
        );
        assert!(
            err.to_lowercase().contains(needle),
            "{name}: expected {needle:?} in {err}"
        );
    }
}

#[test]
fn truncated_tail_keeps_what_was_read_and_warns() {
    let dir = tmpdir("tail");
    let good = std::fs::read(demo_pcap(&dir)).unwrap();
    let p = dir.join("cut.pcap");
    std::fs::write(&p, &good[..good.len() - 7]).unwrap();
    let o = analyze(&["--format", "json", p.to_str().unwrap()]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let inp = &r["inputs"][0];
    assert!(inp["packets"].as_u64().unwrap() > 100);
    let w = inp["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0]["offset"].as_u64().unwrap() > 24);
    assert!(w[0]["message"].as_str().unwrap().contains("truncated"));
    assert!(!r["devices"].as_array().unwrap().is_empty());
}

#[test]
fn one_bad_file_among_good_ones_still_reports_the_good() {
    let dir = tmpdir("mixed");
    let good = demo_pcap(&dir);
    let bad = dir.join("bad.pcap");
    std::fs::write(&bad, b"nope").unwrap();
    let o = analyze(&[
        "--format",
        "json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["summary"]["devices"].as_u64().unwrap() >= 8);
    assert_eq!(r["inputs"][1]["usable"], false);
}

#[test]
fn gzip_and_threads_give_the_same_report() {
    use std::io::Write;
    let dir = tmpdir("gz");
    let p = demo_pcap(&dir);
    let gz = dir.join("demo.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&p).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let run = |path: &Path, threads: &str| {
        let o = analyze(&[
            "--format",
            "json",
            "--threads",
            threads,
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["summary"]["elapsed_s"] = 0.into();
        v["inputs"][0]["path"] = "".into();
        v
    };
    let one = run(&p, "1");
    assert_eq!(one, run(&p, "2"));
    assert_eq!(one, run(&p, "3"));
    assert_eq!(one, run(&gz, "1"));
}

#[test]
fn demo_table_fits_80_columns_and_has_8_categories() {
    let o = bin().args(["demo", "--format", "table"]).output().unwrap();
    no_panic(&o);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    for line in out.lines().skip(1) {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    let j = bin().args(["demo", "--format", "json"]).output().unwrap();
    let r: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    let cats: std::collections::BTreeSet<String> = r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["category"].as_str().unwrap().to_string())
        .filter(|c| c != "unknown")
        .collect();
    assert!(cats.len() >= 8, "categories: {cats:?}");
}

#[test]
fn ndjson_streams_flows_devices_and_stats() {
    let dir = tmpdir("ndjson");
    let p = demo_pcap(&dir);
    let o = analyze(&["--format", "ndjson", p.to_str().unwrap()]);
    assert!(o.status.success());
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *kinds
            .entry(v["type"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(kinds["flow"] > 10);
    assert!(kinds["device"] >= 8);
    assert_eq!(kinds["stats"], 1);
}

fn shared_dataset(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

fn figure(out: &str, prefix: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {out}"));
    line.split("accuracy ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad line {line}"))
}

/// The bars for identification on IoT SENTINEL (grouped 5-fold CV).
#[test]
fn eval_identify_meets_the_bars() {
    let Some(ds) = shared_dataset("datasets/iot-sentinel") else {
        return;
    };
    let dir = tmpdir("evalid");
    let csv = dir.join("confusion.csv");
    let o = bin()
        .args(["eval", "identify", "--dataset"])
        .arg(&ds)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(figure(&out, "device type:") >= 0.90, "{out}");
    assert!(figure(&out, "category:") >= 0.95, "{out}");
    assert!(figure(&out, "vendor:") >= 0.98, "{out}");
    let csv = std::fs::read_to_string(csv).unwrap();
    assert_eq!(csv.lines().count(), 28, "header + 27 types");
}

/// The shipped model is exactly what the training command produces.
#[test]
fn shipped_identification_model_is_reproducible() {
    let Some(ds) = shared_dataset("datasets/iot-sentinel") else {
        return;
    };
    let dir = tmpdir("train");
    let out = dir.join("model.json");
    let o = bin()
        .args(["kb", "train-identify", "--dataset"])
        .arg(&ds)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../classify/data/identify-model.json");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&shipped).unwrap(),
        "the shipped model differs from a fresh training run; retrain with \
         `cargo run --release -- kb train-identify` (features or parsers changed)"
    );
}

/// Copyleft fingerprint sources become run-time packs that `analyze --kb` reads.
#[test]
fn runtime_packs_feed_identification() {
    let Some(kb) = shared_dataset("kb") else {
        return;
    };
    let Some(pcap) =
        shared_dataset("kb/suricata-verify-subset/tests/dhcp-eve-extended-option-60/input.pcap")
    else {
        return;
    };
    let dir = tmpdir("rtkb");
    let o = bin()
        .args(["kb", "import-runtime", "--from"])
        .arg(&kb)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "dhcp-fingerbank.tsv",
        "dhcp-satori.tsv",
        "ja4-clients.tsv",
        "http-user-agents.tsv",
        "tcp-p0f.tsv",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let o = analyze(&[
        "--kb",
        dir.to_str().unwrap(),
        "--format",
        "json",
        pcap.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ev = r["devices"][0]["evidence"].as_array().unwrap();
    assert!(
        ev.iter().any(|e| e["source"] == "kb:dhcp-fingerprint"
            && e["detail"].as_str().unwrap().contains("Windows")),
        "{ev:?}"
    );
    // p0f's TCP signatures name the Hue bridge's stack from its SYNs (p0f says "Linux
    // 2.2.x-3.x (no timestamps)" for them, generic: crates/sensor/tests/p0f_oracle.rs).
    if let Some(hue) = shared_dataset(
        "datasets/iot23/CTU-Honeypot-Capture-4-1/2018-10-25-14-06-32-192.168.1.132.pcap",
    ) {
        let tcp_evidence = |kb: &Path| -> Vec<String> {
            let o = analyze(&[
                "--kb",
                kb.to_str().unwrap(),
                "--format",
                "json",
                hue.to_str().unwrap(),
            ]);
            assert!(o.status.success());
            let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            r["devices"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["mac"] == "00:17:88:75:b3:82")
                .flat_map(|d| d["evidence"].as_array().unwrap().clone())
                .filter(|e| e["source"].as_str().unwrap().ends_with("tcp"))
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["source"].as_str().unwrap(),
                        e["detail"].as_str().unwrap()
                    )
                })
                .collect()
        };
        let with = tcp_evidence(&dir);
        assert!(
            with.iter()
                .any(|e| e.starts_with("kb:tcp: SYN signature 4:64+0:")
                    && e.contains("is g:unix:Linux:2.2.x-3.x (no timestamps) (p0f generic match")),
            "{with:?}"
        );
        let without = tcp_evidence(&tmpdir("empty-kb-tcp"));
        assert!(
            without.iter().all(|e| e.starts_with("tcp: SYN signature")),
            "{without:?}"
        );
        assert!(!without.is_empty());
    }
    // Without the packs, no such evidence (they are not compiled in).
    let o = analyze(&[
        "--kb",
        tmpdir("empty-kb").to_str().unwrap(),
        "--format",
        "json",
        pcap.to_str().unwrap(),
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        !r["devices"][0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "kb:dhcp-fingerprint")
    );
}
