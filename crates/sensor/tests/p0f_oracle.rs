//! TCP fingerprints checked against p0f 3 itself (Debian `p0f`, installed by .ci/run): for every
//! SYN and SYN+ACK p0f reports in real captures, our signature must equal p0f's `raw_sig` and our
//! best match must name the same label with the same quality, using the same database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_inventory::SynSignature;
use palisade_kb::p0f::{MatchQuality, TcpDatabase};
use palisade_packet::{Transport, decode};

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.is_dir().then_some(p).or_else(|| {
        eprintln!("skipping: ../shared not found");
        None
    })
}

/// The p0f binary (Debian installs it in /usr/sbin, which a user's PATH may lack).
fn p0f_bin() -> Option<&'static str> {
    let found = ["p0f", "/usr/sbin/p0f"]
        .into_iter()
        .find(|b| Command::new(b).arg("-L").output().is_ok());
    if found.is_none() {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "p0f is required (PALISADE_REQUIRE_ORACLES=1) but not installed"
        );
        eprintln!("skipping: p0f not installed (apt-get install p0f)");
    }
    found
}

type Key = (String, String, bool);

/// p0f's log: (client, server, syn+ack?) → (raw_sig, os label, params).
fn run_p0f(bin: &str, pcap: &Path, fp: &Path) -> HashMap<Key, (String, String, String)> {
    let log = std::env::temp_dir().join(format!(
        "palisade-p0f-{}-{}.log",
        std::process::id(),
        pcap.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&log);
    let out = Command::new(bin)
        .arg("-r")
        .arg(pcap)
        .arg("-f")
        .arg(fp)
        .arg("-o")
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "p0f failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut m = HashMap::new();
    for line in text.lines() {
        let Some((_, body)) = line.split_once("] ") else {
            continue;
        };
        let f: HashMap<&str, &str> = body
            .split('|')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let response = match f.get("mod") {
            Some(&"syn") => false,
            Some(&"syn+ack") => true,
            _ => continue,
        };
        let (Some(cli), Some(srv), Some(raw), Some(os), Some(params)) = (
            f.get("cli"),
            f.get("srv"),
            f.get("raw_sig"),
            f.get("os"),
            f.get("params"),
        ) else {
            continue;
        };
        m.entry((cli.to_string(), srv.to_string(), response))
            .or_insert((raw.to_string(), os.to_string(), params.to_string()));
    }
    m
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    format!("{ip}/{port}")
}

#[test]
fn signatures_and_matches_agree_with_p0f() {
    let Some(shared) = shared() else { return };
    let Some(bin) = p0f_bin() else { return };
    let fp_file = shared.join("kb/p0f/p0f.fp");
    let db = TcpDatabase::parse_p0f_fp(&std::fs::read_to_string(&fp_file).unwrap()).unwrap();
    let is_capture = |p: &Path| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng");
    let list = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut pcaps: Vec<PathBuf> = Vec::new();
    for dir in [
        "datasets/iot23/CTU-Honeypot-Capture-4-1",
        "datasets/protocol-samples/ndpi",
        "datasets/iot-ondemand-cset21/pcaps",
    ] {
        pcaps.extend(
            list(&shared.join(dir))
                .into_iter()
                .filter(|p| is_capture(p)),
        );
    }
    // Two setup captures of each of the 31 IoT SENTINEL devices.
    for dev in list(&shared.join("datasets/iot-sentinel/captures")) {
        pcaps.extend(list(&dev).into_iter().filter(|p| is_capture(p)).take(2));
    }
    pcaps.sort();
    let (mut compared, mut same_sig, mut same_label) = (0usize, 0usize, 0usize);
    let mut mismatches = Vec::new();
    for pcap in &pcaps {
        let theirs = run_p0f(bin, pcap, &fp_file);
        if theirs.is_empty() {
            continue;
        }
        let mut reader = palisade_capture::open(pcap).unwrap();
        let mut seen = std::collections::HashSet::new();
        while let Ok(Some(pkt)) = reader.next_packet() {
            let d = decode(pkt.link_type.0, pkt.data);
            let Transport::Tcp(t) = d.transport else {
                continue;
            };
            let (Some(src), Some(dst)) = (d.src_ip(), d.dst_ip()) else {
                continue;
            };
            let Some(sig) = SynSignature::from_segment(
                palisade_sensor::engine::ip_facts(&d.network),
                d.l3_payload,
            ) else {
                continue;
            };
            // p0f names the client first in both directions.
            let key = if sig.response {
                (endpoint(dst, t.dst_port), endpoint(src, t.src_port), true)
            } else {
                (endpoint(src, t.src_port), endpoint(dst, t.dst_port), false)
            };
            let Some((raw, os, params)) = theirs.get(&key) else {
                continue;
            };
            if !seen.insert(key.clone()) {
                continue; // p0f logs the first segment of a connection
            }
            compared += 1;
            let ours = sig.to_string();
            if &ours == raw {
                same_sig += 1;
            } else if mismatches.len() < 10 {
                mismatches.push(format!("{}: ours {ours} p0f {raw}", pcap.display()));
            }
            let our_label = match db.best_match(&sig) {
                Some((fp, _, q)) => {
                    let how = match q {
                        MatchQuality::Exact => "none",
                        MatchQuality::Generic => "generic",
                        MatchQuality::Fuzzy => "fuzzy",
                    };
                    (fp.label.os(), how)
                }
                None => ("???".to_string(), "none"),
            };
            let their_how = if params.contains("fuzzy") {
                "fuzzy"
            } else if params.contains("generic") {
                "generic"
            } else {
                "none"
            };
            if our_label.0 == *os && (os == "???" || our_label.1 == their_how) {
                same_label += 1;
            } else if mismatches.len() < 10 {
                mismatches.push(format!(
                    "{}: {ours}: ours {our_label:?} p0f {os} ({params})",
                    pcap.display()
                ));
            }
        }
    }
    eprintln!("p0f oracle: {compared} segments, {same_sig} same raw_sig, {same_label} same label");
    assert!(
        compared >= 50,
        "only {compared} SYN/SYN+ACK segments compared"
    );
    assert_eq!(same_sig, compared, "signature mismatches: {mismatches:#?}");
    assert_eq!(same_label, compared, "label mismatches: {mismatches:#?}");
}
