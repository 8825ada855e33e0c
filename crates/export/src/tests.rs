use proptest::prelude::*;
use serde_json::json;

use crate::formats::*;
use crate::{AlertIn, load};

fn sample_report() -> serde_json::Value {
    json!({
        "palisade_version": "0.1.0",
        "inputs": [],
        "summary": { "packets": 10, "bytes": 1000, "flows": 3, "devices": 1, "alerts": 2 },
        "devices": [{
            "mac": "b8:27:eb:00:11:22", "ips": ["192.168.1.195"], "vendor": "Raspberry Pi Foundation",
            "hostnames": ["cam1"], "category": "camera", "model": null, "os": "Linux", "confidence": 0.8,
            "evidence": [], "services": ["tcp/23"], "protocols": ["telnet"], "risk": { "score": 87, "reasons": ["c2"] },
            "first_seen": "2018-12-21T15:50:16.962094Z", "last_seen": "2018-12-21T16:50:16.000000Z",
            "packets": 10, "bytes": 1000, "mac_randomized": false
        }],
        "alerts": [{
            "id": "a1", "kind": "botnet.c2", "severity": "critical", "device": "b8:27:eb:00:11:22",
            "src": "192.168.1.195", "dst": "185.244.25.235", "first_seen": "2018-12-21T15:50:16.962094Z",
            "last_seen": "2018-12-21T16:00:00.000000Z", "count": 12,
            "summary": "IRC C2 | to 185.244.25.235:6667 a=b\\c",
            "evidence": { "resolved_from": "CNC.Example.org", "port": 6667 }, "mitre": ["T1071"]
        }, {
            "id": "a2", "kind": "scan.horizontal", "severity": "medium", "device": null,
            "src": "192.168.1.195", "dst": null, "first_seen": "2018-12-21T15:00:00Z",
            "last_seen": "2018-12-21T15:01:00Z", "count": 1, "summary": "=cmd|' /C calc'!A0",
            "evidence": {}, "mitre": []
        }]
    })
}

#[test]
fn loads_report_and_ndjson() {
    let r = sample_report();
    let f = load(&r.to_string()).unwrap();
    assert_eq!((f.alerts.len(), f.devices.len()), (2, 1));
    assert_eq!(f.alerts[0].count, 12);
    let mut nd = String::new();
    for d in r["devices"].as_array().unwrap() {
        let mut d = d.clone();
        d["type"] = "device".into();
        nd.push_str(&format!("{d}\n"));
    }
    for a in r["alerts"].as_array().unwrap() {
        let mut a = a.clone();
        a["type"] = "alert".into();
        nd.push_str(&format!("{a}\n"));
    }
    nd.push_str("{\"type\":\"flow\",\"src\":\"1.2.3.4\"}\n");
    nd.push_str(&format!(
        "{}\n",
        json!({"type": "stats", "palisade_version": "0.1.0", "summary": r["summary"]})
    ));
    let g = load(&nd).unwrap();
    assert_eq!(g.alerts, f.alerts);
    assert_eq!(g.devices, f.devices);
    assert_eq!(g.summary["flows"], 3);
    let e = load("{\"type\":\"alert\"}\nnot json\n").unwrap_err();
    assert!(e.to_string().starts_with("line 2:"), "{e}");
    assert!(load("").is_err());
}

/// Splits a CEF record back into header fields and extension pairs (a reader per the spec).
fn parse_cef(s: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while fields.len() < 7 {
        match chars.next() {
            Some('\\') => cur.push(chars.next().unwrap()),
            Some('|') => fields.push(std::mem::take(&mut cur)),
            Some(c) => cur.push(c),
            None => break,
        }
    }
    let ext: String = chars.collect();
    // Extension: key=value pairs; a key starts after a space and ends at an unescaped '='.
    let mut pairs = Vec::new();
    let mut key = String::new();
    let mut val = String::new();
    let mut in_val = false;
    let b: Vec<char> = ext.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_val {
            if c == '\\' && i + 1 < b.len() {
                val.push(match b[i + 1] {
                    'n' => '\n',
                    'r' => '\r',
                    o => o,
                });
                i += 2;
                continue;
            }
            // A space followed by `word=` starts the next pair.
            if c == ' ' {
                let rest: String = b[i + 1..].iter().collect();
                if let Some(eq) = rest.find('=')
                    && rest[..eq].chars().all(|x| x.is_ascii_alphanumeric())
                    && eq > 0
                {
                    pairs.push((std::mem::take(&mut key), std::mem::take(&mut val)));
                    in_val = false;
                    i += 1;
                    continue;
                }
            }
            val.push(c);
        } else if c == '=' {
            in_val = true;
        } else {
            key.push(c);
        }
        i += 1;
    }
    if in_val {
        pairs.push((key, val));
    }
    (fields, pairs)
}

#[test]
fn cef_escapes_and_round_trips() {
    let f = load(&sample_report().to_string()).unwrap();
    let line = cef_alert(&f.alerts[0], "0.1.0");
    assert!(
        line.starts_with("CEF:0|Palisade|Palisade|0.1.0|botnet.c2|IRC C2 \\| to"),
        "{line}"
    );
    let (hdr, ext) = parse_cef(&line);
    assert_eq!(hdr.len(), 7);
    assert_eq!(hdr[5], "IRC C2 | to 185.244.25.235:6667 a=b\\c");
    assert_eq!(hdr[6], "10");
    let get = |k: &str| ext.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    assert_eq!(get("src").as_deref(), Some("192.168.1.195"));
    assert_eq!(get("cnt").as_deref(), Some("12"));
    assert_eq!(
        get("msg").as_deref(),
        Some("IRC C2 | to 185.244.25.235:6667 a=b\\c")
    );
    assert_eq!(get("rt").as_deref(), Some("1545408000000"));
    assert_eq!(get("start").as_deref(), Some("1545407416962"));
    let dev = cef_device(&f.devices[0], "0.1.0");
    assert!(
        dev.contains("|device.inventory|device b8:27:eb:00:11:22 (camera)|8|"),
        "{dev}"
    );
}

#[test]
fn leef_attributes() {
    let f = load(&sample_report().to_string()).unwrap();
    let l = leef_alert(&f.alerts[0], "0.1.0");
    let parts: Vec<&str> = l.splitn(7, '|').collect();
    assert_eq!(
        &parts[..6],
        &[
            "LEEF:2.0",
            "Palisade",
            "Palisade",
            "0.1.0",
            "botnet.c2",
            "^"
        ]
    );
    let attrs: Vec<(&str, &str)> = parts[6]
        .split('^')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    assert!(attrs.contains(&("sev", "10")));
    assert!(attrs.contains(&("srcMAC", "b8:27:eb:00:11:22")));
    assert!(attrs.contains(&("devTime", "1545408000000")));
}

#[test]
fn csv_quotes_and_neutralises_formulas() {
    let f = load(&sample_report().to_string()).unwrap();
    let c = csv_alerts(&f.alerts);
    let lines: Vec<&str> = c.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,kind,severity,device,src,dst,first_seen,last_seen,count,summary,mitre"
    );
    assert!(
        lines[2].contains(",'=cmd|' /C calc'!A0,")
            && lines[1].contains(",IRC C2 | to 185.244.25.235:6667 a=b\\c,"),
        "{}",
        lines[2]
    );
    let mut quoted = f.alerts[1].clone();
    quoted.summary = "say \"hi\", twice".into();
    assert!(csv_alerts(&[quoted]).contains(",\"say \"\"hi\"\", twice\","));
    let d = csv_devices(&f.devices);
    assert!(d.contains("b8:27:eb:00:11:22,192.168.1.195,Raspberry Pi Foundation,cam1,camera"));
}

#[test]
fn ecs_and_ocsf_shapes() {
    let f = load(&sample_report().to_string()).unwrap();
    let e = ecs_alert(&f.alerts[0]);
    assert_eq!(e["event"]["kind"], "alert");
    assert_eq!(e["source"]["mac"], "B8-27-EB-00-11-22");
    assert_eq!(e["threat"]["technique"]["id"][0], "T1071");
    let o = crate::ocsf::detection_finding(&f.alerts[0], "0.1.0");
    for k in crate::ocsf::required_fields(2004) {
        assert!(!o[*k].is_null(), "missing {k}");
    }
    assert_eq!(o["type_uid"], 200401);
    assert_eq!(o["severity_id"], 5);
    assert_eq!(o["time"], 1_545_408_000_000i64);
    let d = crate::ocsf::device_inventory(&f.devices[0], "0.1.0");
    for k in crate::ocsf::required_fields(5001) {
        assert!(!d[*k].is_null(), "missing {k}");
    }
    assert_eq!(d["device"]["type_id"], 7);
    assert_eq!(d["device"]["hostname"], "cam1");
}

#[test]
fn stix_bundle_has_c2_indicators_only() {
    let f = load(&sample_report().to_string()).unwrap();
    let b = crate::stix::bundle(&f, "2026-11-25T04:00:00.123456Z");
    let objs = b["objects"].as_array().unwrap();
    let patterns: Vec<&str> = objs.iter().filter_map(|o| o["pattern"].as_str()).collect();
    assert_eq!(
        patterns,
        vec![
            "[ipv4-addr:value = '185.244.25.235']",
            "[domain-name:value = 'cnc.example.org']"
        ]
    );
    let ip = objs.iter().find(|o| o["type"] == "ipv4-addr").unwrap();
    // Deterministic SCO id (UUIDv5 over {"value":...} in the STIX namespace).
    assert_eq!(ip["id"].as_str().unwrap().len(), "ipv4-addr--".len() + 36);
    assert_eq!(
        &ip["id"].as_str().unwrap()["ipv4-addr--".len() + 14..][..1],
        "5"
    );
    assert_eq!(
        objs.iter().find(|o| o["type"] == "indicator").unwrap()["created"],
        "2026-11-25T04:00:00.123Z"
    );
    let sighting = objs.iter().find(|o| o["type"] == "sighting").unwrap();
    assert_eq!(sighting["count"], 12);
    // Same input, same bundle.
    assert_eq!(b, crate::stix::bundle(&f, "2026-11-25T04:00:00.123456Z"));
}

#[test]
fn syslog_rfc5424() {
    use crate::syslog::*;
    let h = Header {
        facility: DEFAULT_FACILITY,
        severity: severity("critical"),
        timestamp: "2018-12-21T16:00:00.000000Z",
        hostname: "sensor 1",
        app_name: "palisade",
        procid: "",
        msgid: "botnet.c2",
    };
    let m = message(
        &h,
        &[("kind", "botnet.c2".into()), ("note", "a\"b]c\\".into())],
        "line1\nline2",
    );
    assert_eq!(
        m,
        "<130>1 2018-12-21T16:00:00.000000Z sensor1 palisade - botnet.c2 [palisade@32473 kind=\"botnet.c2\" note=\"a\\\"b\\]c\\\\\"] line1 line2"
    );
    assert_eq!(octet_counted("abc"), b"3 abc");
}

#[test]
fn webhook_signature_and_backoff() {
    use crate::webhook::*;
    // RFC 4231 test case 2.
    assert_eq!(
        sign(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let h = signature_header(b"k", b"body");
    assert!(verify(b"k", b"body", &h));
    assert!(!verify(b"k", b"body2", &h));
    assert!(!verify(b"k", b"body", "sha256=zz"));
    let b = Backoff {
        base_ms: 100,
        max_ms: 1000,
        attempts: 5,
    };
    assert_eq!(
        (
            b.delay_ms(1),
            b.delay_ms(2),
            b.delay_ms(3),
            b.delay_ms(10),
            b.delay_ms(100)
        ),
        (100, 200, 400, 1000, 1000)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cef_round_trips_any_text(summary in "\\PC{0,60}", src in "[0-9a-f:.]{1,20}") {
        let a = AlertIn { kind: "x.y".into(), severity: "high".into(), summary: summary.clone(), src: Some(src.clone()), ..AlertIn::default() };
        let line = cef_alert(&a, "1");
        prop_assert!(!line.contains('\n'));
        let (hdr, ext) = parse_cef(&line);
        let expect_hdr: String = summary.replace(['\r', '\n'], " ");
        prop_assert_eq!(&hdr[5], &expect_hdr);
        let get = |k: &str| ext.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        prop_assert_eq!(get("src"), Some(src));
        if !summary.is_empty() {
            prop_assert_eq!(get("msg"), Some(summary));
        }
    }

    #[test]
    fn syslog_is_one_line(msg in "\\PC{0,80}", host in "\\PC{0,20}") {
        let h = crate::syslog::Header { facility: 200, severity: 200, timestamp: "", hostname: &host, app_name: "p", procid: "1", msgid: "m" };
        let m = crate::syslog::message(&h, &[("k", msg.clone())], &msg);
        prop_assert!(!m.contains('\n'));
        prop_assert!(m.starts_with("<191>1 - "));
    }

    #[test]
    fn load_never_panics(s in "\\PC{0,200}") {
        let _ = load(&s);
    }
}
