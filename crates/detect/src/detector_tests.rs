//! Tests of the DNS, TLS, lateral-movement, exfiltration and beaconing detectors, the
//! brute-force window and config loading, on packets built with `palisade_sim`
//! (positive and negative cases).

use palisade_packet::{decode, link};
use palisade_sim::build::{self, Ip4, Tcp, flags};
use palisade_sim::payload;

use super::*;
use crate::net::addr_from_v4;

const CAM_MAC: [u8; 6] = [0xc0, 0x56, 0xe3, 1, 2, 3];
const PLUG_MAC: [u8; 6] = [0x50, 0xc7, 0xbf, 9, 8, 7];
const GW_MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const CAM: [u8; 4] = [192, 168, 1, 30];
const PLUG: [u8; 4] = [192, 168, 1, 31];
const RESOLVER: [u8; 4] = [192, 168, 1, 1];
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

fn rfc(ts: i64) -> String {
    format!("{ts}")
}

fn kinds(a: &[Alert]) -> Vec<&str> {
    a.iter().map(|a| a.kind.as_str()).collect()
}

fn of_kind<'a>(a: &'a [Alert], k: &str) -> Vec<&'a Alert> {
    a.iter().filter(|a| a.kind == k).collect()
}

/// A deterministic pseudo-random string over `alphabet` (splitmix64).
fn random_label(seed: u64, len: usize, alphabet: &[u8]) -> String {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let z = crate::sketch::mix64(x);
            alphabet[(z % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

// ------------------------------------------------------------------------ DNS

/// Feeds DNS payloads (query from the camera or answer to it) through a flow detector.
fn dns_alerts(msgs: &[(i64, bool, Vec<u8>)]) -> Vec<Alert> {
    let cfg = DetectConfig::default();
    let mut det = FlowDetector::new(cfg);
    for (ts, answer, dns) in msgs {
        let frame = if *answer {
            build::eth_ipv4_udp(
                GW_MAC,
                CAM_MAC,
                &Ip4::new(RESOLVER, CAM, 64),
                53,
                40000,
                dns,
            )
        } else {
            build::eth_ipv4_udp(
                CAM_MAC,
                GW_MAC,
                &Ip4::new(CAM, RESOLVER, 64),
                40000,
                53,
                dns,
            )
        };
        let d = decode(link::ETHERNET, &frame);
        let m = palisade_proto::dns::parse(d.payload).expect("valid DNS");
        det.dns_packet(*ts, &d, &m);
    }
    let (agg, memo) = det.into_parts();
    finalize(&cfg, vec![agg], Some(&memo), rfc)
}

#[test]
fn dga_nxdomain_burst_is_reported_with_sample_names() {
    let mut msgs = Vec::new();
    let mut random_looking = 0;
    for i in 0..20u64 {
        let name = format!(
            "{}.com",
            random_label(i + 1, 14, b"abcdefghijklmnopqrstuvwxyz")
        );
        random_looking += u64::from(crate::dns::dga_score(&name).is_some());
        msgs.push((
            T0 + i as i64 * 5 * SEC,
            false,
            payload::dns_query(i as u16, &name, 1),
        ));
        msgs.push((
            T0 + i as i64 * 5 * SEC + SEC / 50,
            true,
            payload::dns_answer_empty(i as u16, &name, 1, 3),
        ));
    }
    let a = dns_alerts(&msgs);
    let dga = of_kind(&a, "dns.dga");
    assert_eq!(dga.len(), 1, "{a:#?}");
    let g = dga[0];
    assert_eq!(g.severity, "medium");
    assert_eq!(g.device.as_deref(), Some("c0:56:e3:01:02:03"));
    assert_eq!(g.src.as_deref(), Some("192.168.1.30"));
    assert!(
        random_looking >= 12,
        "{random_looking} of 20 random labels score as random"
    );
    assert_eq!(g.count, random_looking);
    assert_eq!(g.evidence["peak_nxdomain_names_in_window"], random_looking);
    assert!(g.evidence["names_sample"].as_array().unwrap().len() >= 10);
    assert!(g.mitre.contains(&"T1568.002".to_string()));
}

#[test]
fn dga_ignores_benign_misses_resolved_random_names_and_slow_drips() {
    // NXDOMAIN for ordinary names (search-domain leaks, dead hosts) is not DGA.
    let mut msgs = Vec::new();
    for (i, n) in [
        "wpad.example.com",
        "printer.lan",
        "time.nist.gov",
        "_googlecast._tcp.local",
        "connectivitycheck.gstatic.com",
        "firmware.meethue.com",
        "api.tplinkcloud.com",
        "broker.hivemq.com",
        "update.philips.com",
        "telemetry.samsungcloudsolution.com",
        "configuration.apple.com",
        "cloud.xiaomi.com",
    ]
    .iter()
    .enumerate()
    {
        msgs.push((
            T0 + i as i64 * SEC,
            true,
            payload::dns_answer_empty(i as u16, n, 1, 3),
        ));
    }
    // Random-looking names that resolve (CDN hashes) are not NXDOMAIN.
    for i in 0..15u64 {
        let name = format!("{}.com", random_label(i + 100, 14, b"bcdfghjklmnpqrstvwxz"));
        msgs.push((
            T0 + (20 + i as i64) * SEC,
            true,
            payload::dns_answer_a(i as u16, &name, &[[1, 2, 3, 4]]),
        ));
    }
    // The same random NXDOMAIN name retried many times counts once.
    for i in 0..20 {
        msgs.push((
            T0 + (40 + i) * SEC,
            true,
            payload::dns_answer_empty(7, "xkqzvbtrwplm.net", 1, 3),
        ));
    }
    // Random NXDOMAIN names trickling in one every 15 minutes stay under the window.
    for i in 0..12u64 {
        let name = format!("{}.org", random_label(i + 300, 13, b"bcdfghjklmnpqrstvwxz"));
        msgs.push((
            T0 + 3600 * SEC + i as i64 * 900 * SEC,
            true,
            payload::dns_answer_empty(9, &name, 1, 3),
        ));
    }
    let a = dns_alerts(&msgs);
    assert!(of_kind(&a, "dns.dga").is_empty(), "{a:#?}");
}

#[test]
fn dns_tunnel_long_encoded_labels_under_one_domain() {
    let mut msgs = Vec::new();
    for i in 0..40u64 {
        let chunk = random_label(i + 7, 52, b"abcdefghijklmnopqrstuvwxyz234567");
        let name = format!("{chunk}.{}.t.exfil-tunnel.net", i);
        msgs.push((
            T0 + i as i64 * SEC,
            false,
            payload::dns_query(i as u16, &name, 16),
        ));
    }
    let a = dns_alerts(&msgs);
    let t = of_kind(&a, "dns.tunnel");
    assert_eq!(t.len(), 1, "{a:#?}");
    let t = t[0];
    assert_eq!(t.severity, "medium");
    assert_eq!(t.evidence["registered_domain"], "exfil-tunnel.net");
    assert_eq!(t.evidence["reason"], "long label");
    assert_eq!(t.evidence["unique_queries"], 40);
    assert!(t.evidence["subdomain_bytes"].as_u64().unwrap() > 40 * 52);
    assert_eq!(t.device.as_deref(), Some("c0:56:e3:01:02:03"));
}

#[test]
fn dns_tunnel_ignores_ordinary_lookups_and_repeats() {
    let mut msgs = Vec::new();
    // Many ordinary names under one domain (a CDN or cloud API).
    for i in 0..60u64 {
        let name = format!("edge-{i}.api.meethue.com");
        msgs.push((
            T0 + i as i64 * SEC,
            false,
            payload::dns_query(i as u16, &name, 1),
        ));
    }
    // One long name, repeated (a device's fixed endpoint): one unique query only.
    let long = format!(
        "{}.cloud.example.com",
        random_label(5, 45, b"abcdef0123456789")
    );
    for i in 0..60 {
        msgs.push((T0 + (100 + i) * SEC, false, payload::dns_query(1, &long, 1)));
    }
    // TXT lookups of plain names (SPF, verification records).
    for i in 0..40u64 {
        msgs.push((
            T0 + (200 + i as i64) * SEC,
            false,
            payload::dns_query(2, &format!("mail{i}.example.org"), 16),
        ));
    }
    let a = dns_alerts(&msgs);
    assert!(of_kind(&a, "dns.tunnel").is_empty(), "{a:#?}");
}

// ------------------------------------------------------------------------ TLS

/// (client, server, server port, client-to-server, payload)
type Exchange = ([u8; 4], [u8; 4], u16, bool, Vec<u8>);

fn tls_alerts(exchanges: &[Exchange]) -> Vec<Alert> {
    let cfg = DetectConfig::default();
    let mut det = FlowDetector::new(cfg);
    for (i, (client, server, port, to_server, bytes)) in exchanges.iter().enumerate() {
        let mac = |a: &[u8; 4]| {
            if crate::net::is_local(&addr_from_v4(*a)) {
                if *a == CAM { CAM_MAC } else { PLUG_MAC }
            } else {
                GW_MAC
            }
        };
        let mut st = FlowDet::default();
        det.tcp_payload(
            &mut st,
            &TcpPayload {
                ts: T0 + i as i64 * SEC,
                to_server: *to_server,
                client: addr_from_v4(*client),
                server: addr_from_v4(*server),
                client_port: 50000 + i as u16,
                server_port: *port,
                client_mac: Some(mac(client)),
                server_mac: Some(mac(server)),
                payload: bytes,
            },
        );
        det.flow_end(st, T0 + i as i64 * SEC);
    }
    let (agg, _) = det.into_parts();
    finalize(&cfg, vec![agg], None, rfc)
}

#[test]
fn tls_weak_versions_suites_and_self_signed_device_certificate() {
    let cloud = [52, 1, 2, 3];
    let legacy = payload::tls_client_hello(
        1,
        0x0301,
        &[0x0005, 0x0004, 0x0003, 0x002f],
        &[],
        "cloud.example.com",
    );
    let server = payload::tls_server_flight(
        2,
        0x0301,
        0x0005,
        Some(("ipcam.local", true)),
        1_700_000_000,
    );
    let a = tls_alerts(&[
        (CAM, cloud, 443, true, legacy.clone()),
        (PLUG, CAM, 443, false, server),
        (CAM, [52, 9, 9, 9], 443, true, legacy.clone()),
        (CAM, cloud, 443, true, legacy),
    ]);
    let weak = of_kind(&a, "tls.weak");
    let reasons: Vec<&str> = weak
        .iter()
        .filter_map(|w| w.evidence["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"client offers at most TLS 1.0"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("RC4") && r.contains("EXPORT")),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"server selected TLS 1.0"), "{reasons:?}");
    assert!(
        reasons.contains(&"server selected a RC4 cipher suite"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"device service presents a self-signed certificate"),
        "{reasons:?}"
    );
    assert_eq!(weak.len(), 5, "{weak:#?}");
    for w in &weak {
        assert_eq!(w.severity, "low");
        assert_eq!(w.device.as_deref(), Some("c0:56:e3:01:02:03"), "{w:#?}");
    }
    // Repeated handshakes count on the same alert, with every server listed.
    let max_v = weak
        .iter()
        .find(|w| w.evidence["reason"] == "client offers at most TLS 1.0")
        .unwrap();
    assert_eq!(max_v.count, 3, "{max_v:#?}");
    // The evidence is the earliest handshake's (no list that would depend on sharding).
    assert_eq!(max_v.evidence["server"], "52.1.2.3:443");
    assert!(max_v.evidence.get("servers").is_none());
    let cert = weak
        .iter()
        .find(|w| w.evidence["subject_cn"] == "ipcam.local")
        .unwrap();
    assert_eq!(cert.evidence["server"], "192.168.1.30:443");
}

#[test]
fn tls_modern_handshakes_are_not_weak() {
    let cloud = [52, 1, 2, 3];
    let modern = payload::tls_client_hello(
        3,
        0x0303,
        &[0x1301, 0x1302, 0xc02f, 0xc02b, 0x000a],
        &[0x0304, 0x0303],
        "cloud.example.com",
    );
    let tls12 =
        payload::tls_client_hello(4, 0x0303, &[0xc02f, 0xc030, 0x009c], &[], "x.example.com");
    let server = payload::tls_server_flight(
        5,
        0x0303,
        0xc02f,
        Some(("ipcam.example.com", false)),
        1_700_000_000,
    );
    // A remote server's self-signed certificate is not a device-service finding.
    let remote_self = payload::tls_server_flight(
        6,
        0x0303,
        0xc02f,
        Some(("remote.example", true)),
        1_700_000_000,
    );
    let a = tls_alerts(&[
        (CAM, cloud, 443, true, modern),
        (CAM, cloud, 443, true, tls12),
        (PLUG, CAM, 443, false, server),
        (CAM, cloud, 443, false, remote_self),
    ]);
    assert!(of_kind(&a, "tls.weak").is_empty(), "{a:#?}");
}

#[test]
fn tls_expired_and_not_yet_valid_device_certificates() {
    let year = 365 * 86_400;
    let t0 = (T0 / SEC) as u64;
    // Issued a year before the handshakes (valid 90 days): expired. Issued a year after
    // them: not yet valid. A CA-issued current one and an expired one on a remote server:
    // nothing.
    let expired =
        payload::tls_server_flight(7, 0x0303, 0xc02f, Some(("nvr.local", false)), t0 - year);
    let future =
        payload::tls_server_flight(8, 0x0303, 0xc02f, Some(("plug.local", true)), t0 + year);
    let current = payload::tls_server_flight(9, 0x0303, 0xc02f, Some(("hub.local", false)), t0);
    let remote_expired =
        payload::tls_server_flight(10, 0x0303, 0xc02f, Some(("old.example", false)), t0 - year);
    let a = tls_alerts(&[
        (PLUG, CAM, 443, false, expired.clone()),
        (PLUG, CAM, 443, false, expired),
        (CAM, PLUG, 8443, false, future),
        (PLUG, CAM, 8443, false, current),
        (CAM, [52, 1, 2, 3], 443, false, remote_expired),
    ]);
    let weak = of_kind(&a, "tls.weak");
    let by_reason = |prefix: &str| {
        weak.iter()
            .filter(|w| {
                w.evidence["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(prefix))
            })
            .collect::<Vec<_>>()
    };
    let exp = by_reason("device service presents an expired certificate");
    assert_eq!(exp.len(), 1, "{weak:#?}");
    assert_eq!(exp[0].evidence["subject_cn"], "nvr.local");
    assert_eq!(exp[0].evidence["server"], "192.168.1.30:443");
    assert_eq!(exp[0].count, 2, "the repeat is counted");
    let reason = exp[0].evidence["reason"].as_str().unwrap_or_default();
    // valid from ~395 days before until ~305 days before the handshake
    let days: i64 = reason
        .split("(expired ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(-1);
    assert!((270..=306).contains(&days), "{reason}");
    assert!(
        exp[0].evidence["not_after"]
            .as_str()
            .is_some_and(|t| t.starts_with("2023-01-")),
        "{:?}",
        exp[0].evidence
    );
    let fut = by_reason("device service presents a certificate that is not yet valid");
    assert_eq!(fut.len(), 1, "{weak:#?}");
    assert_eq!(fut[0].evidence["subject_cn"], "plug.local");
    assert_eq!(fut[0].evidence["self_signed"], true);
    // the future one is also self-signed: its own finding
    assert_eq!(
        by_reason("device service presents a self-signed certificate").len(),
        1
    );
    assert_eq!(weak.len(), 3, "{weak:#?}");
}

// ------------------------------------------------------------------------ host rules

fn tcp(
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    fl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let seg = Tcp {
        sport,
        dport,
        seq: 1000,
        ack: if fl & flags::ACK != 0 { 1 } else { 0 },
        flags: fl,
        window: 5840,
        options: &[],
        payload,
    };
    build::eth_ipv4_tcp(src_mac, GW_MAC, &Ip4::new(src, dst, 64), &seg)
}

/// Frames with an explicit wire length (large uploads without building MBs of bytes).
fn host_run(frames: &[(i64, Vec<u8>, u32)], cfg: DetectConfig) -> Vec<Alert> {
    let mut h = HostDetector::new(cfg);
    for (ts, f, wire) in frames {
        let d = decode(link::ETHERNET, f);
        h.packet(*ts, &d, *wire);
    }
    finalize(&cfg, vec![h.finish()], None, rfc)
}

fn syn_from(mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    tcp(mac, src, dst, sport, dport, flags::SYN, &[])
}

/// The camera's ordinary life: an app on the LAN gateway and its cloud, every 10 s.
fn camera_baseline(until_s: i64) -> Vec<(i64, Vec<u8>, u32)> {
    let mut v = Vec::new();
    let mut port = 30000u16;
    for t in (0..until_s).step_by(10) {
        port = port.wrapping_add(1);
        v.push((
            T0 + t * SEC,
            syn_from(CAM_MAC, CAM, [192, 168, 1, 5], port, 8080),
            60,
        ));
        v.push((
            T0 + t * SEC + SEC / 10,
            syn_from(CAM_MAC, CAM, [192, 168, 1, 6], port, 22),
            60,
        ));
        v.push((
            T0 + t * SEC + SEC / 5,
            tcp(
                CAM_MAC,
                CAM,
                [52, 1, 2, 3],
                443,
                443,
                flags::ACK | flags::PSH,
                &[0; 8],
            ),
            1000,
        ));
    }
    v
}

#[test]
fn lateral_movement_to_new_internal_admin_services() {
    let mut frames = camera_baseline(900);
    // After its baseline, the camera tries telnet/SMB on LAN peers it never used.
    for (k, peer) in [10u8, 11, 12, 13, 14].iter().enumerate() {
        let ts = T0 + 600 * SEC + k as i64 * 3 * SEC;
        frames.push((
            ts,
            syn_from(CAM_MAC, CAM, [192, 168, 1, *peer], 41000 + k as u16, 23),
            60,
        ));
        frames.push((
            ts + SEC,
            syn_from(CAM_MAC, CAM, [192, 168, 1, *peer], 42000 + k as u16, 445),
            60,
        ));
    }
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    let lat = of_kind(&a, "lateral.movement");
    assert_eq!(lat.len(), 1, "{a:#?}");
    let l = lat[0];
    assert_eq!(l.severity, "high");
    assert_eq!(l.src.as_deref(), Some("192.168.1.30"));
    assert_eq!(l.device.as_deref(), Some("c0:56:e3:01:02:03"));
    let targets = l.evidence["targets_sample"].as_array().unwrap();
    assert!(
        targets.iter().any(|t| t == "192.168.1.10:23"),
        "{targets:?}"
    );
    assert!(l.mitre.contains(&"T1021".to_string()));
}

#[test]
fn no_lateral_movement_for_baseline_peers_or_few_new_ones() {
    // Same peers and ports as in the baseline (SSH to .6 every 10 s), plus two new
    // admin peers only: below the three-peer bar.
    let mut frames = camera_baseline(1200);
    frames.push((
        T0 + 700 * SEC,
        syn_from(CAM_MAC, CAM, [192, 168, 1, 20], 41000, 22),
        60,
    ));
    frames.push((
        T0 + 701 * SEC,
        syn_from(CAM_MAC, CAM, [192, 168, 1, 21], 41001, 22),
        60,
    ));
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    assert!(of_kind(&a, "lateral.movement").is_empty(), "{a:#?}");
    // Early contacts are learnt, not judged: five new telnet peers in the first minute.
    let mut frames = camera_baseline(300);
    for peer in 40..45u8 {
        frames.push((
            T0 + 30 * SEC + peer as i64,
            syn_from(CAM_MAC, CAM, [192, 168, 1, peer], 43000, 23),
            60,
        ));
    }
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    assert!(of_kind(&a, "lateral.movement").is_empty(), "{a:#?}");
}

fn upload(frames: &mut Vec<(i64, Vec<u8>, u32)>, from_s: i64, secs: i64, dst: [u8; 4], pps: i64) {
    for t in 0..secs * pps {
        let ts = T0 + from_s * SEC + t * SEC / pps;
        frames.push((
            ts,
            tcp(
                CAM_MAC,
                CAM,
                dst,
                40000,
                443,
                flags::ACK | flags::PSH,
                &[0; 16],
            ),
            1400,
        ));
    }
}

#[test]
fn exfil_volume_far_above_baseline_to_new_destination() {
    let mut frames = camera_baseline(1500);
    // 40 MB in one minute to a destination the camera never used.
    upload(&mut frames, 900, 60, [203, 0, 113, 9], 480);
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    let ex = of_kind(&a, "exfil.volume");
    assert_eq!(ex.len(), 1, "{a:#?}");
    let e = ex[0];
    assert_eq!(e.severity, "medium");
    assert_eq!(e.dst.as_deref(), Some("203.0.113.9"));
    assert!(
        e.evidence["bytes_to_destination"].as_u64().unwrap() >= 20_000_000,
        "{e:#?}"
    );
    assert!(e.evidence["factor"].as_f64().unwrap() >= 10.0, "{e:#?}");
    assert!(!kinds(&a).contains(&"ddos.participation"), "{a:#?}");
}

#[test]
fn no_exfil_for_a_steady_uploader_or_its_usual_destination() {
    // A camera that streams 40 MB/min to its cloud from the start: that is its baseline.
    let mut frames = camera_baseline(1200);
    upload(&mut frames, 0, 1200, [52, 1, 2, 3], 480);
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    assert!(of_kind(&a, "exfil.volume").is_empty(), "{a:#?}");
    // A burst to the destination it used while learning is not exfiltration either.
    let mut frames = camera_baseline(1500);
    upload(&mut frames, 900, 60, [52, 1, 2, 3], 480);
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    assert!(of_kind(&a, "exfil.volume").is_empty(), "{a:#?}");
}

fn beacons(
    mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    port: u16,
    starts: &[i64],
) -> Vec<(i64, Vec<u8>, u32)> {
    let mut v = Vec::new();
    for (i, &t) in starts.iter().enumerate() {
        let sport = 45000 + i as u16;
        v.push((T0 + t, syn_from(mac, src, dst, sport, port), 60));
        // a retransmission of the same SYN is not a new connection
        v.push((T0 + t + SEC, syn_from(mac, src, dst, sport, port), 60));
    }
    v
}

#[test]
fn beaconing_to_a_rare_endpoint_is_c2() {
    let c2 = [198, 51, 100, 7];
    // every 30 s, jitter within ±0.3 s
    let starts: Vec<i64> = (0..14)
        .map(|i| 5 * SEC + i * 30 * SEC + ((i * 7919) % 600 - 300) * SEC / 1000)
        .collect();
    let mut frames = camera_baseline(600);
    frames.extend(beacons(CAM_MAC, CAM, c2, 4444, &starts));
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    let c = of_kind(&a, "botnet.c2");
    assert_eq!(c.len(), 1, "{a:#?}");
    let c = c[0];
    assert_eq!(c.severity, "critical");
    assert_eq!(c.dst.as_deref(), Some("198.51.100.7"));
    assert_eq!(c.evidence["c2_server"], "198.51.100.7:4444");
    let period = c.evidence["period_s"].as_f64().unwrap();
    assert!((29.0..31.0).contains(&period), "{period}");
    assert_eq!(c.count, 14, "every connection start counted once: {c:#?}");
}

/// UDP datagrams from `src` to `dst:port` at `times` (ns after T0), `burst` each 20 ms apart.
fn udp_bursts(
    mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    port: u16,
    times: &[i64],
    burst: i64,
) -> Vec<(i64, Vec<u8>, u32)> {
    let mut v = Vec::new();
    for &t in times {
        for k in 0..burst {
            let f = build::eth_ipv4_udp(
                mac,
                GW_MAC,
                &Ip4::new(src, dst, 64),
                40000,
                port,
                b"\x01hello",
            );
            v.push((T0 + t + k * 20_000_000, f, 60));
        }
    }
    v
}

#[test]
fn udp_beaconing_to_a_rare_endpoint_is_c2() {
    let c2 = [198, 51, 100, 9];
    // a 3-datagram check-in every 45 s, jitter within ±0.4 s
    let times: Vec<i64> = (0..12)
        .map(|i| 3 * SEC + i * 45 * SEC + ((i * 7919) % 800 - 400) * SEC / 1000)
        .collect();
    let mut frames = camera_baseline(600);
    frames.extend(udp_bursts(CAM_MAC, CAM, c2, 7777, &times, 3));
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    let c = of_kind(&a, "botnet.c2");
    assert_eq!(c.len(), 1, "{a:#?}");
    let c = c[0];
    assert_eq!(c.dst.as_deref(), Some("198.51.100.9"));
    assert_eq!(c.evidence["c2_server"], "198.51.100.9:7777");
    assert_eq!(c.evidence["transport"], "udp");
    let period = c.evidence["period_s"].as_f64().unwrap_or_default();
    assert!((44.0..46.0).contains(&period), "{period}");
    assert_eq!(
        c.count, 12,
        "each burst counted once, not each datagram: {c:#?}"
    );
}

#[test]
fn periodic_but_benign_udp_is_not_a_beacon() {
    let every =
        |period_s: i64, n: i64| -> Vec<i64> { (0..n).map(|i| i * period_s * SEC).collect() };
    let mut frames = camera_baseline(600);
    // STUN keep-alives of a P2P camera and NAT-T keep-alives: ordinary.
    frames.extend(udp_bursts(
        CAM_MAC,
        CAM,
        [198, 51, 100, 20],
        3478,
        &every(20, 25),
        1,
    ));
    frames.extend(udp_bursts(
        CAM_MAC,
        CAM,
        [198, 51, 100, 21],
        4500,
        &every(20, 25),
        1,
    ));
    // A continuous stream (one datagram every 20 ms for 30 s) is one burst.
    frames.extend(udp_bursts(
        CAM_MAC,
        CAM,
        [198, 51, 100, 22],
        9000,
        &[0],
        1500,
    ));
    // Irregular datagrams to a rare port.
    let irregular: Vec<i64> = [0, 7, 55, 61, 140, 152, 260, 300, 333, 480, 500, 640]
        .iter()
        .map(|s| s * SEC)
        .collect();
    frames.extend(udp_bursts(
        CAM_MAC,
        CAM,
        [198, 51, 100, 23],
        7777,
        &irregular,
        1,
    ));
    // Periodic, but two local devices talk to it.
    frames.extend(udp_bursts(
        CAM_MAC,
        CAM,
        [198, 51, 100, 24],
        6000,
        &every(30, 14),
        1,
    ));
    frames.extend(udp_bursts(
        PLUG_MAC,
        PLUG,
        [198, 51, 100, 24],
        6000,
        &every(30, 14),
        1,
    ));
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    assert!(of_kind(&a, "botnet.c2").is_empty(), "{a:#?}");
}

#[test]
fn periodic_but_benign_traffic_is_not_a_beacon() {
    let dst = [198, 51, 100, 7];
    let every =
        |period_s: i64, n: i64| -> Vec<i64> { (0..n).map(|i| i * period_s * SEC).collect() };
    // NTP every 64 s (UDP, port 123).
    let mut frames: Vec<(i64, Vec<u8>, u32)> = (0..20)
        .map(|i| {
            let req = payload::ntp_request(1_700_000_000_000_000 + i * 64_000_000);
            (
                T0 + i as i64 * 64 * SEC,
                build::eth_ipv4_udp(
                    CAM_MAC,
                    GW_MAC,
                    &Ip4::new(CAM, [162, 159, 200, 1], 64),
                    123,
                    123,
                    &req,
                ),
                90,
            )
        })
        .collect();
    // Cloud polls over HTTPS and MQTT every 60 s.
    frames.extend(beacons(CAM_MAC, CAM, [52, 1, 2, 3], 443, &every(60, 20)));
    frames.extend(beacons(CAM_MAC, CAM, [52, 1, 2, 4], 8883, &every(60, 20)));
    // Irregular connections to a rare port.
    let irregular: Vec<i64> = [0, 7, 55, 61, 140, 152, 260, 300, 333, 480, 500, 640]
        .iter()
        .map(|s| s * SEC)
        .collect();
    frames.extend(beacons(CAM_MAC, CAM, dst, 4444, &irregular));
    // Periodic, but every local device does it (a shared service, not a rare endpoint).
    frames.extend(beacons(
        CAM_MAC,
        CAM,
        [203, 0, 113, 50],
        5000,
        &every(30, 14),
    ));
    frames.extend(beacons(
        PLUG_MAC,
        PLUG,
        [203, 0, 113, 50],
        5000,
        &every(30, 14),
    ));
    frames.extend(camera_baseline(1300));
    frames.sort_by_key(|f| f.0);
    let a = host_run(&frames, DetectConfig::default());
    assert!(of_kind(&a, "botnet.c2").is_empty(), "{a:#?}");
}

// ------------------------------------------------------------------------ brute force window

struct Login {
    det: FlowDetector,
    st: FlowDet,
    ts: i64,
    sport: u16,
}

impl Login {
    fn send(&mut self, to_server: bool, payload: &[u8]) {
        self.ts += SEC / 10;
        let attacker = addr_from_v4([198, 51, 100, 37]);
        let p = TcpPayload {
            ts: self.ts,
            to_server,
            client: attacker,
            server: addr_from_v4(CAM),
            client_port: self.sport,
            server_port: 23,
            client_mac: Some(GW_MAC),
            server_mac: Some(CAM_MAC),
            payload,
        };
        self.det.tcp_payload(&mut self.st, &p);
    }
    fn fail(&mut self, at: i64) {
        self.ts = at;
        self.send(false, &[0xff, 0xfd, 0x01]);
        self.send(false, b"\r\nlogin: ");
        self.send(true, b"root\r\n");
        self.send(false, b"root\r\nPassword: ");
        self.send(true, b"wrongpass\r\n");
        self.send(false, b"\r\nLogin incorrect\r\n");
        let st = std::mem::take(&mut self.st);
        self.det.flow_end(st, self.ts);
        self.sport += 1;
    }
}

fn bruteforce_after(times: &[i64]) -> Vec<Alert> {
    let cfg = DetectConfig::default();
    let mut l = Login {
        det: FlowDetector::new(cfg),
        st: FlowDet::default(),
        ts: T0,
        sport: 40000,
    };
    for &t in times {
        l.fail(T0 + t);
    }
    let (agg, _) = l.det.into_parts();
    finalize(&cfg, vec![agg], None, rfc)
}

#[test]
fn bruteforce_counts_failures_per_packet_time_window() {
    // Six failures in 50 s: brute force.
    let a = bruteforce_after(&(0..6).map(|i| i * 10 * SEC).collect::<Vec<_>>());
    let bf = of_kind(&a, "botnet.bruteforce");
    assert_eq!(bf.len(), 1, "{a:#?}");
    assert_eq!(bf[0].evidence["peak_failures_in_window"], 6);
    assert_eq!(bf[0].evidence["window_s"], 300);
    // Six failures, one every 20 minutes (a user mistyping over two hours): not.
    let a = bruteforce_after(&(0..6).map(|i| i * 1200 * SEC).collect::<Vec<_>>());
    assert!(of_kind(&a, "botnet.bruteforce").is_empty(), "{a:#?}");
    // A burst that straddles a window boundary still counts whole.
    let a = bruteforce_after(&(0..6).map(|i| 280 * SEC + i * 8 * SEC).collect::<Vec<_>>());
    assert_eq!(of_kind(&a, "botnet.bruteforce").len(), 1, "{a:#?}");
}

#[test]
fn windowed_counts_merge_independently_of_sharding() {
    let mk = |ts: i64| {
        let mut f = Finding::new(Kind::Bruteforce, "k", Some(CAM_MAC), ts);
        f.window = Some(ts.div_euclid(300 * SEC));
        f.evidence = serde_json::json!({});
        f
    };
    let fs: Vec<Finding> = (0..30).map(|i| mk(T0 + i * 97 * SEC)).collect();
    let mut one = Aggregator::new(10, 5);
    fs.iter().cloned().for_each(|f| one.add(f));
    let (mut a, mut b) = (Aggregator::new(10, 5), Aggregator::new(10, 5));
    for (i, f) in fs.iter().rev().cloned().enumerate() {
        if i % 2 == 0 { a.add(f) } else { b.add(f) }
    }
    b.merge(a);
    one.retain_windowed(Kind::Bruteforce, 1, "peak");
    b.retain_windowed(Kind::Bruteforce, 1, "peak");
    let (x, y) = (one.into_alerts(rfc), b.into_alerts(rfc));
    assert_eq!(x, y);
    // 97 s apart: at most 7 findings in any 600 s (two windows)
    let peak = x[0].evidence["peak"].as_u64().unwrap();
    assert!((6..=7).contains(&peak), "{peak}");
}

// ------------------------------------------------------------------------ config

#[test]
fn detect_config_loads_partial_json_and_rejects_bad_files() {
    let c = DetectConfig::from_json(
        r#"{"bruteforce_min_failures": 3, "dga_min_nxdomain": 25}"#,
        "t.json",
    )
    .unwrap();
    assert_eq!(c.bruteforce_min_failures, 3);
    assert_eq!(c.dga_min_nxdomain, 25);
    assert_eq!(c.window_s, DetectConfig::default().window_s);
    let e = DetectConfig::from_json("{\n  \"window_s\": 30,\n  \"no_such\": 1\n}", "t.json")
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("t.json: line 3"), "{msg}");
    assert!(msg.contains("no_such"), "{msg}");
    assert_eq!(
        msg.matches("line 3").count(),
        1,
        "location printed once: {msg}"
    );
    let e = DetectConfig::from_json(r#"{"window_s": 0}"#, "t.json").unwrap_err();
    assert_eq!(e.to_string(), "t.json: `window_s` must be at least 1");
    let e = DetectConfig::from_json(r#"{"beacon_max_jitter": 2.5}"#, "t.json").unwrap_err();
    assert!(e.to_string().contains("beacon_max_jitter"), "{e}");
    let e = DetectConfig::from_json(r#"{"window_s": "thirty"}"#, "cfg.json").unwrap_err();
    assert!(e.to_string().starts_with("cfg.json: line 1, column"), "{e}");
    let e = DetectConfig::load(std::path::Path::new("/nonexistent/detect.json")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/detect.json: "),
        "{e}"
    );
    // The defaults round-trip and validate.
    let text = serde_json::to_string(&DetectConfig::default()).unwrap();
    assert_eq!(
        DetectConfig::from_json(&text, "x").unwrap(),
        DetectConfig::default()
    );
}

#[test]
fn http_flood_is_named_apart_from_a_syn_flood() {
    let target = [203, 0, 113, 80];
    let run = |answered: bool| {
        let mut frames = Vec::new();
        for i in 0..1500u32 {
            let ts = T0 + i as i64 * SEC / 100;
            let sport = 10000 + i as u16;
            frames.push((ts, syn_from(CAM_MAC, CAM, target, sport, 80), 60));
            if answered {
                let seg = Tcp {
                    sport: 80,
                    dport: sport,
                    seq: 5,
                    ack: 1001,
                    flags: flags::SYN | flags::ACK,
                    window: 5840,
                    options: &[],
                    payload: &[],
                };
                let f = build::eth_ipv4_tcp(GW_MAC, CAM_MAC, &Ip4::new(target, CAM, 50), &seg);
                frames.push((ts + SEC / 1000, f, 60));
            }
        }
        host_run(&frames, DetectConfig::default())
    };
    let vector = |a: &[Alert]| -> Vec<String> {
        of_kind(a, "ddos.participation")
            .iter()
            .filter_map(|x| x.evidence["vector"].as_str().map(String::from))
            .collect()
    };
    let a = run(true);
    assert_eq!(vector(&a), ["http"], "{a:#?}");
    let p = of_kind(&a, "ddos.participation")[0];
    assert_eq!(p.severity, "critical");
    assert_eq!(p.evidence["target_port"], 80);
    let a = run(false);
    assert_eq!(vector(&a), ["syn"], "{a:#?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    #[test]
    fn dns_and_tls_judges_never_panic(
        name in "[a-z0-9._\\-\u{e9}]{0,80}",
        qtype in 0u16..300,
        rcode in 0u8..16,
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
    ) {
        let _ = crate::dns::registered_domain(&name);
        let _ = crate::dns::dga_score(crate::dns::registered_domain(&name));
        let _ = crate::dns::entropy(&name);
        let mut tls = vec![0x16, 0x03];
        tls.extend_from_slice(&bytes);
        let _ = crate::tls::client_hello(&tls);
        let _ = crate::tls::server_flight(&tls, true, 1_700_000_000);
        let cfg = DetectConfig::default();
        let mut det = crate::dns::DnsDetector::default();
        for answer in [false, true] {
            let msg = if answer {
                payload::dns_answer_empty(1, &name, qtype, rcode)
            } else {
                payload::dns_query(1, &name, qtype)
            };
            if let Ok(m) = palisade_proto::dns::parse(&msg) {
                let _ = det.packet(&cfg, &crate::dns::DnsPacket {
                    ts: T0,
                    src: addr_from_v4(CAM),
                    dst: addr_from_v4(RESOLVER),
                    src_mac: Some(CAM_MAC),
                    dst_mac: Some(GW_MAC),
                    msg: &m,
                });
            }
        }
    }
}

#[test]
fn rare_destination_table_and_beacon_slots_stay_bounded() {
    let cfg = DetectConfig {
        beacon_max_destinations: 1000,
        ..DetectConfig::default()
    };
    let mut h = HostDetector::new(cfg);
    let mut peak = 0;
    for i in 0..200_000u32 {
        // one busy device and spoofed local sources, each SYN to a new remote address
        let src = if i % 2 == 0 {
            CAM
        } else {
            (0x0a00_0000 | (i & 0x00ff_ffff)).to_be_bytes()
        };
        let dst = (0x2000_0000u32 + i.wrapping_mul(2_654_435_761) % 0x1000_0000).to_be_bytes();
        let f = syn_from(CAM_MAC, src, dst, 1024 + (i % 60000) as u16, 4444);
        let d = decode(link::ETHERNET, &f);
        h.packet(T0 + i as i64 * 1_000_000, &d, 60);
        peak = peak.max(h.tracked_destinations());
    }
    assert!(peak <= 1000, "peak {peak}");
    assert!(h.tracked_hosts() <= cfg.max_hosts);
}
