//! The 29 UNSW MUD profiles parse, validate and round-trip; malformed input gives clear errors.

use palisade_policy::{AclKey, PolicyError, load, parse, to_json, validate};
use proptest::prelude::*;

use crate::common::mud_profiles;

#[test]
fn all_unsw_profiles_parse_validate_and_round_trip() {
    let files = mud_profiles();
    assert_eq!(files.len(), 29, "expected 28 UNSW profiles + 1 other");
    let mut access_lists = 0;
    let mut warnings = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let m = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let issues = validate(&m);
        assert!(
            !issues.iter().any(|i| i.is_error()),
            "{}: {issues:?}",
            f.display()
        );
        warnings.extend(
            issues
                .iter()
                .map(|i| format!("{}: {i}", f.file_name().unwrap().to_string_lossy())),
        );
        if m.acl_key == AclKey::AccessLists {
            access_lists += 1;
        }
        // Structure round trip ...
        let out = to_json(&m);
        let again = parse(&out).unwrap();
        assert_eq!(m, again, "{}", f.display());
        // ... and JSON-value equality with the original file (nothing dropped or invented).
        let a: serde_json::Value = serde_json::from_str(&text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            a,
            b,
            "{}: serialisation differs from the input",
            f.display()
        );
    }
    // Two MUDgee quirks are warnings, not errors: an IPv4 address in an IPv6 leaf, and "operator"
    // written next to a port range.
    let v6: Vec<_> = warnings
        .iter()
        .filter(|w| w.contains("IPv6 network leaf"))
        .collect();
    assert_eq!(v6.len(), 1, "{warnings:?}");
    assert!(v6[0].starts_with("augustdoorbellcamMud.json") && v6[0].contains("192.168.1.1"));
    assert!(
        warnings
            .iter()
            .all(|w| w.contains("IPv6 network leaf") || w.contains("read as the range")),
        "{warnings:?}"
    );
    eprintln!("{} warnings:\n{}", warnings.len(), warnings.join("\n"));
    assert_eq!(
        access_lists, 28,
        "the UNSW profiles use the draft access-lists key"
    );
}

const MINIMAL: &str = r#"{
  "ietf-mud:mud": {
    "mud-version": 1, "mud-url": "https://example.com/cam.json", "last-update": "2024-01-01T00:00:00Z",
    "cache-validity": 48, "is-supported": true, "systeminfo": "cam",
    "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}},
    "to-device-policy": {"access-lists": {"access-list": [{"name": "to"}]}}
  },
  "ietf-access-control-list:acls": {"acl": [
    {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "f0", "matches": {"ipv4": {"protocol": 6, "ietf-acldns:dst-dnsname": "cloud.example.com"},
        "tcp": {"destination-port": {"operator": "eq", "port": 443}, "ietf-mud:direction-initiated": "from-device"}},
       "actions": {"forwarding": "accept"}}]}},
    {"name": "to", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "t0", "matches": {"ipv4": {"protocol": 6, "ietf-acldns:src-dnsname": "cloud.example.com"},
        "tcp": {"source-port": {"operator": "eq", "port": 443}, "ietf-mud:direction-initiated": "from-device"}},
       "actions": {"forwarding": "accept"}}]}}
  ]}
}"#;

#[test]
fn rfc_acls_key_round_trips_with_the_same_key() {
    let m = load(MINIMAL).unwrap();
    assert_eq!(m.acl_key, AclKey::Acls);
    assert!(to_json(&m).contains("\"ietf-access-control-list:acls\""));
}

fn err(s: &str) -> String {
    match load(s) {
        Ok(_) => panic!("accepted: {s}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn syntax_errors_name_the_json_path() {
    let e = err(&MINIMAL.replace("\"mud-version\": 1", "\"mud-version\": \"one\""));
    assert!(e.contains("ietf-mud:mud.mud-version"), "{e}");
    let e = err(&MINIMAL.replace("\"port\": 443}, \"ietf-mud:direction-initiated\": \"from-device\"}},\n       \"actions\": {\"forwarding\": \"accept\"}}]}},\n    {\"name\": \"to\"", "\"port\": 70000}, \"ietf-mud:direction-initiated\": \"from-device\"}},\n       \"actions\": {\"forwarding\": \"accept\"}}]}},\n    {\"name\": \"to\""));
    assert!(
        e.contains("acl[0].aces.ace[0].matches.tcp.destination-port.port"),
        "{e}"
    );
    let e = err(&MINIMAL.replace(
        "\"protocol\": 6, \"ietf-acldns:dst",
        "\"protocl\": 6, \"ietf-acldns:dst",
    ));
    assert!(e.contains("matches.ipv4") && e.contains("protocl"), "{e}");
    let e = err("{ not json");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn semantic_errors_name_the_json_path() {
    let e = err(&MINIMAL.replace("[{\"name\": \"to\"}]", "[{\"name\": \"nope\"}]"));
    assert!(
        e.contains("to-device-policy.access-lists.access-list[0].name") && e.contains("nope"),
        "{e}"
    );
    let e = err(&MINIMAL.replacen("\"protocol\": 6", "\"protocol\": 17", 1));
    assert!(
        e.contains("acl[0].aces.ace[0].matches.tcp") && e.contains("protocol 6"),
        "{e}"
    );
    let e = err(&MINIMAL.replacen("cloud.example.com", "bad name!", 1));
    assert!(e.contains("ietf-acldns:dst-dnsname"), "{e}");
    let e = err(&MINIMAL.replace(
        "\"forwarding\": \"accept\"}}]}},\n    {\"name\": \"to\"",
        "\"forwarding\": \"allow\"}}]}},\n    {\"name\": \"to\"",
    ));
    assert!(e.contains("actions.forwarding"), "{e}");
    let e = err(&MINIMAL.replace("https://", "http://"));
    assert!(e.contains("mud-url"), "{e}");
    let both = MINIMAL.replacen(
        "\"ietf-access-control-list:acls\": {\"acl\": [",
        "\"ietf-access-control-list:access-lists\": {\"acl\": []}, \"ietf-access-control-list:acls\": {\"acl\": [",
        1,
    );
    assert!(matches!(parse(&both), Err(PolicyError::Syntax { .. })));
}

fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("[null]".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z:.\\-0-9/]{0,20}".prop_map(|s| format!("\"{s}\"")),
        prop::sample::select(vec![
            "\"eq\"",
            "\"accept\"",
            "\"from-device\"",
            "\"0x0800\"",
            "\"10.0.0.0/8\""
        ])
        .prop_map(str::to_string),
    ];
    let keys = prop::sample::select(vec![
        "ietf-mud:mud",
        "ietf-access-control-list:acls",
        "ietf-access-control-list:access-lists",
        "mud-version",
        "mud-url",
        "last-update",
        "is-supported",
        "from-device-policy",
        "to-device-policy",
        "access-lists",
        "access-list",
        "name",
        "acl",
        "aces",
        "ace",
        "matches",
        "actions",
        "forwarding",
        "ipv4",
        "ipv6",
        "tcp",
        "udp",
        "protocol",
        "destination-port",
        "operator",
        "port",
        "lower-port",
        "upper-port",
        "eth",
        "ethertype",
        "ietf-mud:mud",
        "local-networks",
        "controller",
        "ietf-acldns:dst-dnsname",
        "type",
    ]);
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|v| {
                let f: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", f.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_jsonish_input(s in jsonish()) {
        palisade_policy::fuzzing::mud(s.as_bytes());
    }

    #[test]
    fn parser_never_panics_on_mutated_profiles(cut in 0usize..4000, byte in any::<u8>()) {
        let mut b = MINIMAL.as_bytes().to_vec();
        let i = cut % b.len();
        b[i] = byte;
        palisade_policy::fuzzing::mud(&b);
        palisade_policy::fuzzing::mud(&b[..i]);
    }
}
