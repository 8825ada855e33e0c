//! `mud learn` / `mud check` on IoT Sentinel captures of the models UNSW published MUD profiles for
//! (mapping in ../shared/datasets/mud-unsw/PROVENANCE.md). Other units, firmware and years: violations
//! are expected and reported (MUD drift), while a profile learned from a capture must permit it fully.

use std::path::PathBuf;

use palisade_policy::check::{Violation, check, check_observation};
use palisade_policy::learn::{LearnOptions, learn};
use palisade_policy::{load, parse_mac, to_json, validate};

use crate::common::datasets;

fn pcaps(dev: &str) -> Vec<PathBuf> {
    let d = datasets().join("iot-sentinel/captures").join(dev);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

fn profile(name: &str) -> palisade_policy::MudFile {
    let p = datasets().join("mud-unsw/profiles").join(name);
    load(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Checks the UNSW profile and learns + re-checks; returns the UNSW violations.
fn run(dev: &str, mac: &str, prof: &str) -> Vec<Violation> {
    let mac = parse_mac(mac).unwrap();
    let files = pcaps(dev);
    let unsw = profile(prof);
    let r = check(&unsw, &files, mac).unwrap();
    eprintln!(
        "{dev} vs {prof}: {} flows, {}/{} directions permitted, {} violations",
        r.flows_checked,
        r.directions_permitted,
        r.directions_checked,
        r.violations.len()
    );
    for v in r.violations.iter().take(5) {
        eprintln!("  policy.violation {}", v.describe());
    }
    assert!(
        r.directions_permitted > 0,
        "{dev}: the UNSW profile permits none of the traffic"
    );

    let l = learn(
        &files,
        mac,
        &LearnOptions {
            mud_url: None,
            systeminfo: Some(dev.into()),
            ..Default::default()
        },
    )
    .unwrap();
    let issues = validate(&l.mud);
    assert!(
        issues.is_empty(),
        "{dev}: learned profile invalid: {issues:?}"
    );
    let again = load(&to_json(&l.mud)).unwrap();
    assert_eq!(again, l.mud);
    let self_check = check_observation(&l.mud, &l.observation);
    assert!(
        self_check.violations.is_empty(),
        "{dev}: learned profile does not permit its own traffic: {:?}",
        self_check.violations.first()
    );
    // Domains, not cloud IPs: every public address a DNS answer named is matched by name.
    let json = to_json(&l.mud);
    for (ip, _) in l
        .observation
        .dns
        .iter()
        .filter(|(ip, _)| !palisade_policy_is_local(**ip))
    {
        assert!(
            !json.contains(&format!("\"{ip}/")),
            "{dev}: {ip} was named by DNS but kept as an address"
        );
    }
    assert!(
        json.contains("ietf-acldns:dst-dnsname"),
        "{dev}: no DNS names learned"
    );
    r.violations
}

fn palisade_policy_is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(a) => {
            a.is_private() || a.is_link_local() || a.is_multicast() || a.is_broadcast()
        }
        std::net::IpAddr::V6(a) => {
            a.is_multicast()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[test]
fn hue_bridge_vs_unsw_huebulb() {
    let v = run("HueBridge", "00:17:88:24:76:ff", "HueBulbMud.json");
    assert!(!v.is_empty());
}

#[test]
fn tplink_plugs_vs_unsw_tplinkplug() {
    for (dev, mac) in [
        ("TP-LinkPlugHS100", "50:c7:bf:00:fc:a3"),
        ("TP-LinkPlugHS110", "50:c7:bf:00:c7:03"),
    ] {
        let v = run(dev, mac, "tplinkplugMud.json");
        // NTP servers the 2018 profile does not list (time-a.nist.gov, s1a.time.edu.cn, ...).
        assert!(
            v.iter().any(|v| v.protocol == 17 && v.remote_port == 123),
            "{dev}: {v:?}"
        );
        // The TP-Link cloud (devs.tplinkcloud.com:50443) is permitted.
        assert!(
            !v.iter()
                .any(|v| v.remote_names.iter().any(|n| n == "devs.tplinkcloud.com")),
            "{dev}"
        );
    }
}

#[test]
fn wemo_switches_vs_unsw_wemoswitch() {
    for (dev, mac) in [
        ("WeMoSwitch", "94:10:3e:35:01:c1"),
        ("WeMoSwitch2", "94:10:3e:34:0c:b5"),
    ] {
        let v = run(dev, mac, "wemoswitchMud.json");
        assert!(!v.is_empty(), "{dev}");
    }
}

#[test]
fn withings_vs_unsw_withingscardio() {
    let v = run("Withings", "00:24:e4:24:80:2a", "withingscardioMud.json");
    // The 2016 scale talks plain HTTP to scalews.withings.net, which the 2018 profile does not allow.
    assert!(
        v.iter().any(|v| v.protocol == 6
            && v.remote_port == 80
            && v.remote_names.iter().any(|n| n == "scalews.withings.net")),
        "{v:?}"
    );
}
