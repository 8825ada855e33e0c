//! Enforcement in network namespaces made by this test (dev -- gw -- lan, veth links): a compiled MUD
//! policy lets the profile's traffic through and drops the rest; the quarantine zone isolates the device
//! and releasing it restores traffic. Skips without root/ip/nft/ping unless PALISADE_REQUIRE_ORACLES=1.

use palisade_policy::nft::{CompileOptions, compile, quarantine_ruleset};

use crate::common::{Netns, have_root_tool};

const PROFILE: &str = r#"{
  "ietf-mud:mud": {
    "mud-version": 1, "mud-url": "https://example.com/testcam.json", "last-update": "2024-01-01T00:00:00Z",
    "is-supported": true, "systeminfo": "testcam",
    "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}},
    "to-device-policy": {"access-lists": {"access-list": [{"name": "to"}]}}
  },
  "ietf-access-control-list:acls": {"acl": [
    {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "ping-server", "matches": {"ipv4": {"protocol": 1, "destination-ipv4-network": "10.0.2.2/32"}},
       "actions": {"forwarding": "accept"}}]}},
    {"name": "to", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "server-replies", "matches": {"ipv4": {"protocol": 1, "source-ipv4-network": "10.0.2.2/32"}},
       "actions": {"forwarding": "accept"}}]}}
  ]}
}"#;

fn sh(ns: &Netns, cmd: &str) {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let o = ns.exec(&args);
    assert!(
        o.status.success(),
        "{}: {cmd}: {}",
        ns.0,
        String::from_utf8_lossy(&o.stderr)
    );
}

fn host(cmd: &str) {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let o = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ping(ns: &Netns, to: &str) -> bool {
    ns.exec(&["ping", "-c", "1", "-W", "1", to])
        .status
        .success()
}

fn nft_load(ns: &Netns, rs: &str) {
    let o = ns.exec_stdin(&["nft", "-f", "-"], rs);
    assert!(
        o.status.success(),
        "nft -f: {}\n{rs}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn compiled_policy_enforces_and_quarantine_isolates() {
    for (what, probe) in [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("nft", &["nft", "--version"][..]),
        ("ping", &["ping", "-V"][..]),
    ] {
        if !have_root_tool(what, probe) {
            return;
        }
    }
    let (Some(dev), Some(gw), Some(lan)) = (Netns::new("d"), Netns::new("g"), Netns::new("l"))
    else {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "cannot create namespaces"
        );
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return;
    };
    let id = std::process::id() % 100_000;
    let (a, b, c, d) = (
        format!("pd{id}"),
        format!("pg{id}"),
        format!("ph{id}"),
        format!("pl{id}"),
    );
    host(&format!(
        "ip link add {a} netns {} type veth peer name {b} netns {}",
        dev.0, gw.0
    ));
    host(&format!(
        "ip link add {c} netns {} type veth peer name {d} netns {}",
        gw.0, lan.0
    ));
    sh(&dev, &format!("ip addr add 10.0.1.2/24 dev {a}"));
    sh(&dev, &format!("ip link set {a} up"));
    sh(&dev, "ip link set lo up");
    sh(&dev, "ip route add default via 10.0.1.1");
    sh(&gw, &format!("ip addr add 10.0.1.1/24 dev {b}"));
    sh(&gw, &format!("ip addr add 10.0.2.1/24 dev {c}"));
    sh(&gw, &format!("ip link set {b} up"));
    sh(&gw, &format!("ip link set {c} up"));
    sh(&gw, "sysctl -q -w net.ipv4.ip_forward=1");
    sh(&lan, &format!("ip addr add 10.0.2.2/24 dev {d}"));
    sh(&lan, &format!("ip addr add 10.0.2.3/24 dev {d}"));
    sh(&lan, &format!("ip link set {d} up"));
    sh(&lan, "ip route add default via 10.0.2.1");

    // Baseline: no policy, both servers reachable.
    assert!(
        ping(&dev, "10.0.2.2") && ping(&dev, "10.0.2.3"),
        "baseline connectivity"
    );

    let mud = palisade_policy::load(PROFILE).unwrap();
    let opts = CompileOptions {
        device_ips: vec!["10.0.1.2".parse().unwrap()],
        quarantine: true,
        hub_ips: vec!["10.0.2.3".parse().unwrap()],
        ..Default::default()
    };
    let (rs, _) = compile(&mud, &opts);
    nft_load(&gw, &rs);
    assert!(ping(&dev, "10.0.2.2"), "the profile's traffic must pass");
    assert!(
        !ping(&dev, "10.0.2.3"),
        "traffic outside the profile must be dropped"
    );
    // Reloading replaces the table atomically (no duplicate rules, same behaviour).
    nft_load(&gw, &rs);
    assert!(ping(&dev, "10.0.2.2") && !ping(&dev, "10.0.2.3"));

    // Quarantine without the MUD table: only the hub (10.0.2.3) and DNS stay reachable.
    sh(&gw, "nft delete table inet palisade_mud_testcam");
    nft_load(&gw, &quarantine_ruleset(&["10.0.2.3".parse().unwrap()]));
    assert!(ping(&dev, "10.0.2.2"), "not yet quarantined");
    sh(
        &gw,
        "nft add element inet palisade_quarantine q_v4 { 10.0.1.2 timeout 1h }",
    );
    assert!(
        !ping(&dev, "10.0.2.2"),
        "quarantined device must be isolated"
    );
    assert!(
        ping(&dev, "10.0.2.3"),
        "the hub stays reachable from quarantine"
    );
    assert!(
        !ping(&lan, "10.0.1.2"),
        "the quarantined device is unreachable from the LAN"
    );
    // Reloading the zone keeps the quarantine (sets survive).
    nft_load(&gw, &quarantine_ruleset(&["10.0.2.3".parse().unwrap()]));
    assert!(!ping(&dev, "10.0.2.2"), "quarantine survives a reload");
    sh(
        &gw,
        "nft delete element inet palisade_quarantine q_v4 { 10.0.1.2 }",
    );
    assert!(ping(&dev, "10.0.2.2"), "release restores traffic");
}

/// A ruleset that nft rejects anywhere (here: its last line) changes nothing: the firewall keeps
/// exactly its previous state, and the responder reports the rejection instead of half-applying.
#[test]
fn rejected_rulesets_leave_the_firewall_unchanged() {
    for (what, probe) in [
        ("ip netns", &["ip", "netns", "list"][..]),
        ("nft", &["nft", "--version"][..]),
    ] {
        if !have_root_tool(what, probe) {
            return;
        }
    }
    let Some(gw) = Netns::new("a") else {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "cannot create namespaces"
        );
        eprintln!("SKIP: cannot create network namespaces (not root?)");
        return;
    };
    let list = |ns: &Netns| {
        let o = ns.exec(&["nft", "list", "ruleset"]);
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let mud = palisade_policy::load(PROFILE).unwrap();
    let opts = CompileOptions {
        device_ips: vec!["10.0.1.2".parse().unwrap()],
        quarantine: true,
        hub_ips: vec!["10.0.2.3".parse().unwrap()],
        ..Default::default()
    };
    let (rs, _) = compile(&mud, &opts);
    nft_load(&gw, &rs);
    let before = list(&gw);
    assert!(before.contains("palisade_mud_testcam"), "{before}");
    // The same ruleset with a changed device address and one bad rule at the very end.
    let changed = rs.replace("10.0.1.2", "10.0.1.9")
        + "add rule inet palisade_mud_testcam forward ip daddr 10.0.0.300 accept\n";
    let o = gw.exec_stdin(&["nft", "-f", "-"], &changed);
    assert!(!o.status.success(), "nft must reject the bad rule");
    assert_eq!(list(&gw), before, "a rejected ruleset must change nothing");

    // A responder transaction is all-or-nothing too: a valid address element followed by
    // an element the kernel refuses leaves the quarantine set empty.
    let before = list(&gw);
    let target = palisade_policy::respond::Target {
        mac: None,
        ips: vec!["10.0.1.2".parse().unwrap()],
    };
    let script = palisade_policy::respond::quarantine_script(&target, None)
        + "add element inet palisade_quarantine q_nosuchset { 10.0.1.3 }\n";
    let o = gw.exec_stdin(&["nft", "-f", "-"], &script);
    assert!(!o.status.success());
    assert_eq!(
        list(&gw),
        before,
        "no element of a rejected quarantine is applied"
    );
    let q_v4 = |ns: &Netns| {
        let o = ns.exec(&["nft", "list", "set", "inet", "palisade_quarantine", "q_v4"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(!q_v4(&gw).contains("10.0.1.2"), "{}", q_v4(&gw));
    let o = gw.exec_stdin(
        &["nft", "-f", "-"],
        &palisade_policy::respond::quarantine_script(&target, None),
    );
    assert!(o.status.success());
    assert!(
        q_v4(&gw).contains("10.0.1.2"),
        "the valid transaction applies"
    );
}
