//! Every UNSW profile compiles to a ruleset that `nft -c -f` accepts (checked in a private netns).

use palisade_policy::nft::{CompileOptions, compile};

use crate::common::{Netns, have_root_tool, mud_profiles};

fn opts() -> CompileOptions {
    CompileOptions {
        device_macs: vec![[0x02, 0, 0, 0, 0, 1]],
        device_ips: vec!["192.168.1.20".parse().unwrap(), "fd00::20".parse().unwrap()],
        quarantine: true,
        hub_ips: vec!["192.168.1.1".parse().unwrap()],
        ..Default::default()
    }
}

#[test]
fn compiled_rulesets_have_default_deny_and_dns_sets() {
    for f in mud_profiles() {
        let m = palisade_policy::load(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let (rs, idx) = compile(&m, &opts());
        assert_eq!(
            rs.matches("counter drop comment \"mud default deny\"")
                .count(),
            2,
            "{}",
            f.display()
        );
        for base in idx.dns.values() {
            assert!(
                rs.contains(&format!("set {base}_v4 {{ type ipv4_addr; flags timeout;")),
                "{}",
                f.display()
            );
        }
        assert!(!rs.contains("@dns_") || !idx.dns.is_empty());
    }
}

#[test]
fn all_unsw_profiles_compile_and_nft_accepts_them() {
    if !have_root_tool("nft + ip netns", &["nft", "--version"])
        || !have_root_tool("ip netns", &["ip", "netns", "list"])
    {
        return;
    }
    let Some(ns) = Netns::new("c") else {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "cannot create a netns"
        );
        eprintln!("SKIP: cannot create a network namespace");
        return;
    };
    let mut failed = Vec::new();
    let files = mud_profiles();
    for f in &files {
        let m = palisade_policy::load(&std::fs::read_to_string(f).unwrap()).unwrap();
        for o in [CompileOptions::default(), opts()] {
            let (rs, _) = compile(&m, &o);
            let out = ns.exec_stdin(&["nft", "-c", "-f", "-"], &rs);
            if !out.status.success() {
                failed.push(format!(
                    "{}: {}",
                    f.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} rulesets rejected:\n{}",
        failed.len(),
        files.len() * 2,
        failed.join("\n")
    );
}
