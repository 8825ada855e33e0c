//! Threat detection on real captures under `../shared` (skipped when absent) and on the
//! simulated Mirai story.

use std::path::{Path, PathBuf};

use super::*;

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: real captures not found at {}", p.display());
        None
    }
}

fn run(files: &[PathBuf], threads: usize) -> Report {
    let opts = AnalyzeOptions {
        threads,
        ..AnalyzeOptions::default()
    };
    analyze(files, &opts, Box::new(NullSink), None).report
}

fn pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.to_string_lossy();
                    n.ends_with(".pcap") || n.ends_with(".pcapng")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn iot23_34_1_irc_c2_names_the_server() {
    let Some(d) = shared() else { return };
    let files = pcaps(&d.join("iot23/CTU-IoT-Malware-Capture-34-1"));
    if files.is_empty() {
        eprintln!("skipping: 34-1 capture missing");
        return;
    }
    let r = run(&files, 1);
    let c2: Vec<&Alert> = r.alerts.iter().filter(|a| a.kind == "botnet.c2").collect();
    // One alert from the IRC payload, one from the periodic reconnects (beaconing).
    assert_eq!(c2.len(), 2, "{:#?}", r.alerts);
    for a in &c2 {
        assert_eq!(a.device.as_deref(), Some("b8:27:eb:58:91:d2"));
        assert_eq!(a.dst.as_deref(), Some("185.244.25.235"));
        assert_eq!(a.evidence["c2_server"], "185.244.25.235:6667");
        assert_eq!(a.severity, "critical");
    }
    let protocols: Vec<&str> = c2
        .iter()
        .filter_map(|a| a.evidence["protocol"].as_str())
        .collect();
    assert!(
        protocols.contains(&"irc") && protocols.contains(&"beacon"),
        "{protocols:?}"
    );
    // threads do not change the alerts
    assert_eq!(run(&files, 3).alerts, r.alerts);
}

#[test]
fn stopddos_captures_name_the_vector() {
    let Some(d) = shared() else { return };
    let files = pcaps(&d.join("ddos-stopddos"));
    if files.is_empty() {
        eprintln!("skipping: StopDDoS captures missing");
        return;
    }
    let want = [
        ("amp.TCP.reflection.SYNACK", "tcp-synack-reflection"),
        ("amp.TCP.syn.optionallyACK", "tcp-synack-reflection"),
        ("amp.UDP.snmp.src161", "snmp"),
        ("pkt.TCP.DOMINATE", "syn (ECE+CWR flags)"),
        ("pkt.TCP.synflood.spoofed", "syn"),
    ];
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let Some((_, vector)) = want.iter().find(|(p, _)| name.starts_with(p)) else {
            continue;
        };
        let r = run(std::slice::from_ref(f), 1);
        let hit = r.alerts.iter().find(|a| a.kind == "ddos.target");
        let Some(a) = hit else {
            panic!("{name}: no ddos.target in {:#?}", r.alerts)
        };
        let v = a.evidence["vector"].as_str().unwrap_or_default();
        assert!(v.contains(vector), "{name}: vector {v:?}");
        assert_eq!(a.dst.as_deref(), Some("10.10.10.10"), "{name}");
        assert!(a.device.is_some(), "{name}");
    }
}

#[test]
fn benign_captures_raise_no_high_or_critical() {
    let Some(d) = shared() else { return };
    let mut files = pcaps(&d.join("iot23/CTU-Honeypot-Capture-4-1"));
    for dev in [
        "EdimaxPlug1101W",
        "EdimaxCam1",
        "HueBridge",
        "D-LinkCam",
        "TP-LinkPlugHS110",
    ] {
        files.extend(
            pcaps(&d.join("iot-sentinel/captures").join(dev))
                .into_iter()
                .take(2),
        );
    }
    if files.is_empty() {
        eprintln!("skipping: benign captures missing");
        return;
    }
    for f in &files {
        let r = run(std::slice::from_ref(f), 1);
        let bad: Vec<&Alert> = r
            .alerts
            .iter()
            .filter(|a| a.severity == "high" || a.severity == "critical")
            .collect();
        assert!(bad.is_empty(), "{}: {bad:#?}", f.display());
    }
}

#[test]
fn demo_capture_tells_the_mirai_story() {
    let dir = std::env::temp_dir().join(format!("palisade-detect-demo-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("demo.pcap");
    palisade_sim::write_pcap(&palisade_sim::SimConfig::default(), &path).unwrap();
    let r = run(std::slice::from_ref(&path), 1);
    let cam = r
        .alerts
        .iter()
        .find(|a| a.kind == "botnet.mirai.scan")
        .and_then(|a| a.device.clone())
        .expect("mirai scan");
    let on_cam = |k: &str| {
        r.alerts
            .iter()
            .any(|a| a.kind == k && a.device.as_deref() == Some(&cam))
    };
    for k in [
        "botnet.bruteforce",
        "cred.default_login",
        "botnet.c2",
        "ddos.participation",
        "proto.insecure",
    ] {
        assert!(on_cam(k), "{k} missing on the camera: {:#?}", r.alerts);
    }
    let dl = r
        .alerts
        .iter()
        .find(|a| a.kind == "cred.default_login")
        .unwrap();
    assert_eq!(dl.evidence["password_masked"], "x****1");
    let vectors: Vec<&str> = r
        .alerts
        .iter()
        .filter(|a| a.kind == "ddos.participation")
        .filter_map(|a| a.evidence["vector"].as_str())
        .collect();
    assert!(
        vectors.contains(&"udp") && vectors.contains(&"syn"),
        "{vectors:?}"
    );
    let text = serde_json::to_string(&r.alerts).unwrap();
    assert!(!text.contains("xc3511"), "password in clear");
    assert_eq!(r.summary.alerts, r.alerts.len() as u64);
    assert_eq!(run(std::slice::from_ref(&path), 2).alerts, r.alerts);
    let _ = std::fs::remove_dir_all(&dir);
}
