//! Detector unit tests on self-made packets (palisade_sim builders) and proptests.

use palisade_packet::{decode, link};
use palisade_sim::build::{self, Ip4, Tcp, flags};
use proptest::prelude::*;

use super::*;
use crate::net::addr_from_v4;

const CAM_MAC: [u8; 6] = [0xc0, 0x56, 0xe3, 1, 2, 3];
const GW_MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const CAM: [u8; 4] = [192, 168, 1, 30];
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

fn syn(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, seq: u32, fl: u8) -> Vec<u8> {
    let seg = Tcp {
        sport,
        dport,
        seq,
        ack: 0,
        flags: fl,
        window: 5840,
        options: &[],
        payload: &[],
    };
    build::eth_ipv4_tcp(CAM_MAC, GW_MAC, &Ip4::new(src, dst, 64), &seg)
}

fn rfc(ts: i64) -> String {
    format!("{ts}")
}

fn host_alerts(frames: &[(i64, Vec<u8>)], cfg: DetectConfig) -> Vec<Alert> {
    let mut h = HostDetector::new(cfg);
    for (ts, f) in frames {
        let d = decode(link::ETHERNET, f);
        h.packet(*ts, &d, f.len() as u32);
    }
    finalize(&cfg, vec![h.finish()], None, rfc)
}

fn kinds(a: &[Alert]) -> Vec<&str> {
    a.iter().map(|a| a.kind.as_str()).collect()
}

#[test]
fn mirai_scan_seq_equals_destination() {
    let mut frames = Vec::new();
    for i in 0..60u32 {
        let dst = [45, (i * 7) as u8, (i * 13) as u8, (i + 1) as u8];
        let port = if i % 10 == 0 { 2323 } else { 23 };
        frames.push((
            T0 + i as i64 * SEC / 4,
            syn(CAM, dst, 40000, port, u32::from_be_bytes(dst), flags::SYN),
        ));
    }
    let a = host_alerts(&frames, DetectConfig::default());
    assert_eq!(kinds(&a), ["botnet.mirai.scan"], "{a:#?}");
    let m = &a[0];
    assert_eq!(m.severity, "high");
    assert_eq!(m.device.as_deref(), Some("c0:56:e3:01:02:03"));
    assert_eq!(m.src.as_deref(), Some("192.168.1.30"));
    assert!(m.count >= 50, "{}", m.count);
    // the first `admit_packets` packets only admit the host to the table
    assert!(m.evidence["dst_port_2323"].as_u64().unwrap() >= 5);
    assert!(m.mitre.contains(&"T1046".to_string()));
    // the same SYNs with ordinary sequence numbers: no Mirai fingerprint
    let plain: Vec<(i64, Vec<u8>)> = (0..60u32)
        .map(|i| {
            let dst = [45, (i * 7) as u8, (i * 13) as u8, (i + 1) as u8];
            (
                T0 + i as i64 * SEC / 4,
                syn(CAM, dst, 40000, 80, 12345, flags::SYN),
            )
        })
        .collect();
    let a = host_alerts(&plain, DetectConfig::default());
    assert!(!kinds(&a).contains(&"botnet.mirai.scan"), "{a:#?}");
}

#[test]
fn horizontal_scan_and_worm_scan() {
    let frames: Vec<(i64, Vec<u8>)> = (0..200u32)
        .map(|i| {
            let dst = [192, 168, 1, (i % 250) as u8 + 1];
            (
                T0 + i as i64 * SEC / 10,
                syn(CAM, dst, 40000 + i as u16, 80, 7, flags::SYN),
            )
        })
        .collect();
    let a = host_alerts(&frames, DetectConfig::default());
    assert_eq!(kinds(&a), ["scan.horizontal"], "{a:#?}");
    assert_eq!(a[0].severity, "medium");
    let frames: Vec<(i64, Vec<u8>)> = (0..100u32)
        .map(|i| {
            let dst = [77, 1, (i / 200) as u8, (i % 200) as u8 + 1];
            (
                T0 + i as i64 * SEC / 10,
                syn(CAM, dst, 40000, 23, 7, flags::SYN),
            )
        })
        .collect();
    let a = host_alerts(&frames, DetectConfig::default());
    assert_eq!(kinds(&a), ["botnet.mirai.scan"], "{a:#?}");
    assert!(a[0].summary.contains("worm"), "{}", a[0].summary);
}

#[test]
fn floods_sent_name_the_vector() {
    let target = [203, 0, 113, 45];
    let mut frames = Vec::new();
    for i in 0..3000u32 {
        let ip = Ip4::new(CAM, target, 64);
        let f = build::eth_ipv4_udp(
            CAM_MAC,
            GW_MAC,
            &ip,
            1024 + i as u16,
            (i * 7) as u16,
            &[0; 64],
        );
        frames.push((T0 + i as i64 * SEC / 300, f));
    }
    for i in 0..1200u32 {
        frames.push((
            T0 + 10 * SEC + i as i64 * SEC / 300,
            syn(CAM, target, 2000 + i as u16, 80, i * 77, flags::SYN),
        ));
    }
    let a = host_alerts(&frames, DetectConfig::default());
    let vectors: Vec<&str> = a
        .iter()
        .filter(|a| a.kind == "ddos.participation")
        .filter_map(|a| a.evidence["vector"].as_str())
        .collect();
    assert!(
        vectors.contains(&"udp") && vectors.contains(&"syn"),
        "{a:#?}"
    );
    for x in a.iter().filter(|a| a.kind == "ddos.participation") {
        assert_eq!(x.severity, "critical");
        assert_eq!(x.dst.as_deref(), Some("203.0.113.45"));
        assert_eq!(x.device.as_deref(), Some("c0:56:e3:01:02:03"));
    }
}

#[test]
fn floods_received_reflection_and_amplification() {
    let victim = [10, 10, 10, 10];
    // spoofed SYN flood
    let frames: Vec<(i64, Vec<u8>)> = (0..3000u32)
        .map(|i| {
            let src = (0x5000_0000u32 + i * 7919).to_be_bytes();
            (
                T0 + i as i64 * SEC / 1000,
                syn(src, victim, 1000 + i as u16, 25565, i, flags::SYN),
            )
        })
        .collect();
    let a = host_alerts(&frames, DetectConfig::default());
    assert_eq!(kinds(&a), ["ddos.target"], "{a:#?}");
    assert_eq!(a[0].evidence["vector"], "syn");
    assert_eq!(a[0].severity, "high");
    assert_eq!(a[0].dst.as_deref(), Some("10.10.10.10"));
    // unsolicited SYN-ACKs
    let frames: Vec<(i64, Vec<u8>)> = (0..200u32)
        .map(|i| {
            let src = (0x5000_0000u32 + i * 7919).to_be_bytes();
            (
                T0 + i as i64 * SEC / 100,
                syn(src, victim, 80, 1000 + i as u16, i, flags::SYN | flags::ACK),
            )
        })
        .collect();
    let a = host_alerts(&frames, DetectConfig::default());
    assert_eq!(a[0].evidence["vector"], "tcp-synack-reflection", "{a:#?}");
    // SNMP amplification
    let frames: Vec<(i64, Vec<u8>)> = (0..1000u32)
        .map(|i| {
            let src = (0x5000_0000u32 + i * 7919).to_be_bytes();
            let f = build::eth_ipv4_udp(
                GW_MAC,
                CAM_MAC,
                &Ip4::new(src, victim, 50),
                161,
                3299,
                &[0x30; 200],
            );
            (T0 + i as i64 * SEC / 10_000, f)
        })
        .collect();
    let a = host_alerts(&frames, DetectConfig::default());
    assert_eq!(kinds(&a), ["ddos.target"], "{a:#?}");
    assert!(a[0].evidence["vector"].as_str().unwrap().contains("snmp"));
}

/// 10^6 SYNs from distinct spoofed sources (local and public) to one victim: the host
/// table stays at its cap and the flood is still reported.
#[test]
fn million_spoofed_sources_stay_bounded() {
    let cfg = DetectConfig {
        max_hosts: 256,
        ..DetectConfig::default()
    };
    let mut h = HostDetector::new(cfg);
    let mut f = syn([10, 0, 0, 1], [10, 10, 10, 10], 1234, 80, 1, flags::SYN);
    let mut peak = 0;
    for i in 0..1_000_000u32 {
        // alternate spoofed sources inside 10/8 (local: candidates for the table) and public
        let src = if i % 2 == 0 {
            (0x0a00_0000 | (i.wrapping_mul(2_654_435_761) & 0x00ff_ffff)).to_be_bytes()
        } else {
            i.wrapping_mul(2_654_435_761).to_be_bytes()
        };
        f[26..30].copy_from_slice(&src);
        let d = decode(link::ETHERNET, &f);
        h.packet(T0 + i as i64 * 10_000, &d, 60);
        peak = peak.max(h.tracked_hosts());
    }
    assert!(peak <= cfg.max_hosts, "peak {peak}");
    assert!(h.counters.peak_hosts as usize <= cfg.max_hosts);
    let a = finalize(&cfg, vec![h.finish()], None, rfc);
    assert!(
        a.iter()
            .any(|a| a.kind == "ddos.target" && a.dst.as_deref() == Some("10.10.10.10")),
        "{a:#?}"
    );
    eprintln!(
        "host state: {} B per host, cap {} hosts",
        HostDetector::bytes_per_host(),
        cfg.max_hosts
    );
}

// --- flow detectors ---------------------------------------------------------------------

struct Conv {
    det: FlowDetector,
    st: FlowDet,
    client: [u8; 4],
    server: [u8; 4],
    sport: u16,
    dport: u16,
    ts: i64,
}

impl Conv {
    fn new(det: FlowDetector, client: [u8; 4], server: [u8; 4], sport: u16, dport: u16) -> Self {
        Conv {
            det,
            st: FlowDet::default(),
            client,
            server,
            sport,
            dport,
            ts: T0,
        }
    }
    fn send(&mut self, to_server: bool, payload: &[u8]) {
        self.ts += SEC / 10;
        let p = TcpPayload {
            ts: self.ts,
            to_server,
            client: addr_from_v4(self.client),
            server: addr_from_v4(self.server),
            client_port: self.sport,
            server_port: self.dport,
            client_mac: Some(if crate::net::is_local(&addr_from_v4(self.client)) {
                CAM_MAC
            } else {
                GW_MAC
            }),
            server_mac: Some(if crate::net::is_local(&addr_from_v4(self.server)) {
                CAM_MAC
            } else {
                GW_MAC
            }),
            payload,
        };
        self.det.tcp_payload(&mut self.st, &p);
    }
    /// Ends the flow and starts another one on the next client port.
    fn next(&mut self) {
        let st = std::mem::take(&mut self.st);
        self.det.flow_end(st, self.ts);
        self.sport += 1;
    }
    fn alerts(mut self) -> Vec<Alert> {
        self.next();
        let (agg, _) = self.det.into_parts();
        finalize(&DetectConfig::default(), vec![agg], None, rfc)
    }
}

fn telnet_try(c: &mut Conv, user: &str, pass: &str, ok: bool) {
    c.send(false, &[0xff, 0xfd, 0x01, 0xff, 0xfb, 0x01]);
    c.send(true, &[0xff, 0xfc, 0x01]);
    c.send(false, b"\r\n(none) login: ");
    c.send(true, format!("{user}\r\n").as_bytes());
    c.send(false, format!("{user}\r\nPassword: ").as_bytes());
    c.send(true, format!("{pass}\r\n").as_bytes());
    if ok {
        c.send(false, b"\r\nBusyBox v1.19.3 built-in shell (ash)\r\n# ");
        c.send(true, b"enable\r\n");
    } else {
        c.send(false, b"\r\nLogin incorrect\r\n(none) login: ");
    }
    c.next();
}

#[test]
fn telnet_bruteforce_then_default_login() {
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        [198, 51, 100, 37],
        CAM,
        40000,
        23,
    );
    for (u, p) in [
        ("admin", "admin"),
        ("root", "vizxv"),
        ("root", "888888"),
        ("support", "support"),
        ("root", "12345"),
        ("admin", "password"),
    ] {
        telnet_try(&mut c, u, p, false);
    }
    telnet_try(&mut c, "root", "xc3511", true);
    let a = c.alerts();
    let text = serde_json::to_string(&a).unwrap();
    for secret in ["xc3511", "vizxv", "888888", "\"password\""] {
        assert!(!text.contains(secret), "password {secret} in clear: {text}");
    }
    let k = kinds(&a);
    assert!(k.contains(&"botnet.bruteforce"), "{k:?}");
    assert!(k.contains(&"proto.insecure"), "{k:?}");
    assert!(k.contains(&"cred.cleartext"), "{k:?}");
    let dl = a
        .iter()
        .find(|a| a.kind == "cred.default_login")
        .expect("default login");
    assert_eq!(dl.severity, "critical");
    assert_eq!(dl.evidence["username"], "root");
    assert_eq!(dl.evidence["password_masked"], "x****1");
    assert!(
        dl.evidence["default_list"]
            .as_str()
            .unwrap()
            .contains("mirai")
    );
    assert_eq!(dl.device.as_deref(), Some("c0:56:e3:01:02:03"));
    let bf = a.iter().find(|a| a.kind == "botnet.bruteforce").unwrap();
    assert_eq!(bf.count, 6);
    assert_eq!(bf.evidence["failures"], 6);
    assert_eq!(bf.evidence["successes"], 1);
}

#[test]
fn few_failures_are_not_bruteforce_and_lan_default_is_critical() {
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        [192, 168, 1, 50],
        CAM,
        40000,
        23,
    );
    telnet_try(&mut c, "admin", "admin", true);
    let a = c.alerts();
    assert!(!kinds(&a).contains(&"botnet.bruteforce"));
    let dl = a.iter().find(|a| a.kind == "cred.default_login").unwrap();
    // DESIGN.md §6: a cleartext login with a known default credential is critical,
    // whoever the client is.
    assert_eq!(dl.severity, "critical");
    assert!(
        dl.evidence["context"]
            .as_str()
            .unwrap()
            .contains("no failed attempts"),
        "{dl:#?}"
    );
}

#[test]
fn ftp_http_basic_and_mqtt_credentials() {
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        [192, 168, 1, 9],
        CAM,
        50000,
        21,
    );
    c.send(false, b"220 (vsFTPd 3.0.3)\r\n");
    c.send(true, b"USER alice\r\n");
    c.send(false, b"331 Please specify the password.\r\n");
    c.send(true, b"PASS s3cretpass\r\n");
    c.send(false, b"230 Login successful.\r\n");
    let a = c.alerts();
    assert!(kinds(&a).contains(&"cred.cleartext"), "{a:#?}");
    assert!(kinds(&a).contains(&"proto.insecure"));
    assert!(!serde_json::to_string(&a).unwrap().contains("s3cretpass"));

    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        [192, 168, 1, 9],
        CAM,
        50000,
        80,
    );
    c.send(
        true,
        b"GET /setup HTTP/1.1\r\nHost: cam\r\nAuthorization: Basic YWRtaW46MTIzNA==\r\n\r\n",
    );
    c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let a = c.alerts();
    let dl = a
        .iter()
        .find(|a| a.kind == "cred.default_login")
        .expect("admin/1234 is a default");
    assert_eq!(dl.evidence["protocol"], "http-basic");
    assert_eq!(dl.evidence["password_masked"], "1**4");

    // MQTT CONNECT with username/password
    let mut pkt = vec![0x10, 0];
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60];
    for s in [&b"dev1"[..], b"user", b"hunter22"] {
        body.extend_from_slice(&(s.len() as u16).to_be_bytes());
        body.extend_from_slice(s);
    }
    pkt[1] = body.len() as u8;
    pkt.extend_from_slice(&body);
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        CAM,
        [192, 168, 1, 70],
        50000,
        1883,
    );
    c.send(true, &pkt);
    c.send(false, &[0x20, 0x02, 0x00, 0x00]);
    let a = c.alerts();
    assert!(kinds(&a).contains(&"cred.cleartext"), "{a:#?}");
    assert!(kinds(&a).contains(&"proto.insecure"));
    assert!(!serde_json::to_string(&a).unwrap().contains("hunter22"));
}

#[test]
fn irc_c2() {
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        CAM,
        [203, 0, 113, 99],
        40000,
        6982,
    );
    c.send(
        false,
        b":irc.x NOTICE AUTH :*** Looking up your hostname...\r\n",
    );
    c.send(
        true,
        b"NICK [ARM7|HIK]x7f3kq\r\nUSER x localhost localhost :x\r\n",
    );
    c.send(true, b"JOIN #hik :k\r\n");
    c.send(false, b":op!op@x PRIVMSG #hik :!* SCANNER ON\r\n");
    let a = c.alerts();
    assert_eq!(kinds(&a), ["botnet.c2"], "{a:#?}");
    assert_eq!(a[0].severity, "critical");
    assert_eq!(a[0].evidence["c2_server"], "203.0.113.99:6982");
    assert_eq!(a[0].evidence["channel"], "#hik");
    assert_eq!(a[0].evidence["non_standard_port"], true);
    // plain chat to a normal port without registration: nothing
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        CAM,
        [203, 0, 113, 99],
        40000,
        6667,
    );
    c.send(false, b":irc.x NOTICE AUTH :*** hi\r\n");
    assert!(c.alerts().is_empty());
}

#[test]
fn mirai_binary_c2_with_attack_command() {
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        CAM,
        [203, 0, 113, 66],
        40000,
        23,
    );
    c.send(true, &[0, 0, 0, 1]);
    c.send(true, &[0]);
    c.send(true, &[0, 0]);
    c.send(false, &[0, 0]);
    // duration 10, vector 0 (udp), 1 target 203.0.113.45/32, 1 option (0 = "512")
    let mut cmd = vec![
        0, 0, 0, 10, 0, 1, 203, 0, 113, 45, 32, 1, 0, 3, b'5', b'1', b'2',
    ];
    let len = (cmd.len() + 2) as u16;
    let mut m = len.to_be_bytes().to_vec();
    m.append(&mut cmd);
    c.send(false, &m);
    let a = c.alerts();
    assert_eq!(kinds(&a), ["botnet.c2"], "{a:#?}");
    assert_eq!(a[0].evidence["protocol"], "mirai");
    let cmds = a[0].evidence["attack_commands"].as_array().unwrap();
    assert!(
        cmds[0].as_str().unwrap().contains("udp (generic)"),
        "{cmds:?}"
    );
    // a real telnet session to port 23 is not C2
    let mut c = Conv::new(
        FlowDetector::new(DetectConfig::default()),
        CAM,
        [203, 0, 113, 66],
        40000,
        23,
    );
    c.send(true, &[0, 0, 0, 1]);
    c.send(true, b"ls -la /tmp and more text\r\n");
    c.send(true, &[0, 0]);
    assert!(c.alerts().is_empty());
}

#[test]
fn aggregation_is_order_independent() {
    let mk = |ts: i64, user: &str| {
        let mut f = Finding::new(Kind::Cleartext, "k", Some(CAM_MAC), ts);
        f.evidence = serde_json::json!({"u": user});
        f.lists.push(("usernames", user.to_string()));
        f.sums.push(("n", 1));
        f
    };
    let fs: Vec<Finding> = (0..40)
        .map(|i| mk(T0 + (i * 37 % 40) * SEC, &format!("u{i:02}")))
        .collect();
    let mut one = Aggregator::new(100, 5);
    for f in fs.iter().cloned() {
        one.add(f);
    }
    let mut a = Aggregator::new(100, 5);
    let mut b = Aggregator::new(100, 5);
    for (i, f) in fs.iter().rev().cloned().enumerate() {
        if i % 3 == 0 { a.add(f) } else { b.add(f) }
    }
    b.merge(a);
    let x = one.into_alerts(rfc);
    let y = b.into_alerts(rfc);
    assert_eq!(x, y);
    assert_eq!(x[0].count, 40);
    assert_eq!(x[0].evidence["usernames"].as_array().unwrap().len(), 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn host_detector_never_panics(frames in proptest::collection::vec(
        (proptest::collection::vec(any::<u8>(), 0..120), 0i64..1_000_000_000_000), 0..40)) {
        let cfg = DetectConfig { max_hosts: 4, admit_packets: 1, ..DetectConfig::default() };
        let mut h = HostDetector::new(cfg);
        for (f, ts) in &frames {
            let mut f = f.clone();
            // make most of them IPv4 so the rules get exercised
            if f.len() > 34 { f[12] = 0x08; f[13] = 0x00; f[14] = 0x45; f[26] = 10; }
            let d = decode(link::ETHERNET, &f);
            h.packet(*ts, &d, f.len() as u32);
        }
        let _ = finalize(&cfg, vec![h.finish()], None, rfc);
    }

    #[test]
    fn flow_detector_never_panics(pkts in proptest::collection::vec(
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 0..30),
        port in prop_oneof![Just(21u16), Just(23), Just(80), Just(1883), Just(6667), Just(445), any::<u16>()]) {
        let mut c = Conv::new(FlowDetector::new(DetectConfig::default()), CAM, [203, 0, 113, 1], 40000, port);
        for (dir, p) in &pkts {
            c.send(*dir, p);
        }
        let _ = c.alerts();
        let mut c = Conv::new(FlowDetector::new(DetectConfig::default()), CAM, [203, 0, 113, 1], 40000, port);
        // hostile prefixes that select each follower
        for (i, (dir, p)) in pkts.iter().enumerate() {
            let mut q = match i % 5 { 0 => b"NICK ".to_vec(), 1 => vec![0, 0, 0, 1], 2 => vec![0xff, 0xfb], 3 => b"USER ".to_vec(), _ => vec![0x10] };
            q.extend_from_slice(p);
            c.send(*dir, &q);
        }
        let _ = c.alerts();
    }

    #[test]
    fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = flow::parse_mirai_attack(&b);
        let _ = creds::base64_decode(&b);
        let _ = creds::mask(&String::from_utf8_lossy(&b));
        let _ = eval::parse_conn_log(&String::from_utf8_lossy(&b), "x");
        let mut m = DnsMemo::new(4);
        m.response(1, &b);
    }
}

#[test]
fn huge_irc_and_endless_telnet_negotiation_stay_bounded() {
    let cfg = DetectConfig::default();
    let mut c = Conv::new(FlowDetector::new(cfg), CAM, [203, 0, 113, 99], 40000, 23);
    let neg: Vec<u8> = std::iter::repeat_n([0xffu8, 0xfd, 0x01], 20_000)
        .flatten()
        .collect();
    for _ in 0..1000 {
        c.send(false, &neg[..1400]);
        c.send(true, &[b'a'; 1400]);
    }
    // the follower stopped asking for more after its budget
    assert!(!c.st.wants_more(true) && !c.st.wants_more(false));
    let mut i = Conv::new(FlowDetector::new(cfg), CAM, [203, 0, 113, 99], 40000, 6667);
    let long: Vec<u8> = b"NICK "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'x', 1 << 20))
        .collect();
    i.send(true, &long);
    i.send(true, b"USER a b c :d\r\n");
    let a = i.alerts();
    assert!(a[0].evidence["nick"].as_str().unwrap().len() <= 40);
}
