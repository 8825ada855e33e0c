use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;

const S: i64 = 1_000_000_000;

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn flow(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8, start: i64) -> FlowRecord {
    FlowRecord {
        src,
        dst,
        src_port: sport,
        dst_port: dport,
        proto,
        tcp_flags: 0x02,
        packets: 1,
        bytes: 60,
        start_ns: start,
        end_ns: start,
        ..FlowRecord::default()
    }
}

fn run(flows: &[FlowRecord]) -> Vec<palisade_detect::Alert> {
    let mut d = FlowDetector::new(FlowDetectConfig::default());
    for f in flows {
        d.flow(f);
    }
    d.finish().into_alerts(|ns| ns.to_string())
}

fn kinds(alerts: &[palisade_detect::Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.kind.as_str()).collect()
}

const BOT: [u8; 4] = [192, 168, 1, 195];

#[test]
fn syn_flood_of_unanswered_flows_is_participation() {
    let bot = ip(BOT[0], BOT[1], BOT[2], BOT[3]);
    let victim = ip(71, 61, 66, 148);
    // 60 unanswered SYN-only connections to one web server in 12 s.
    let flows: Vec<_> = (0..60)
        .map(|i| {
            flow(
                bot,
                40_000 + i,
                victim,
                80,
                6,
                1000 * S + i64::from(i) * S / 5,
            )
        })
        .collect();
    let a = run(&flows);
    assert_eq!(kinds(&a), ["ddos.participation"], "{a:#?}");
    assert_eq!(a[0].src.as_deref(), Some("192.168.1.195"));
    assert_eq!(a[0].dst.as_deref(), Some("71.61.66.148"));
    assert_eq!(a[0].evidence["vector"], "syn");
    // 40 answered, ordinary web connections are not a flood.
    let benign: Vec<_> = (0..40)
        .map(|i| {
            let mut f = flow(
                bot,
                40_000 + i,
                victim,
                443,
                6,
                1000 * S + i64::from(i) * S / 5,
            );
            f.rev_packets = 8;
            f.rev_tcp_flags = 0x12;
            f.bytes = 900;
            f
        })
        .collect();
    assert!(run(&benign).is_empty());
}

#[test]
fn fat_one_way_udp_flow_is_a_flood_and_a_two_way_stream_is_not() {
    let bot = ip(BOT[0], BOT[1], BOT[2], BOT[3]);
    let mut f = flow(bot, 38_897, ip(86, 136, 151, 56), 80, 17, 100 * S);
    f.packets = 1_305_034;
    f.bytes = 1_781_371_410;
    f.end_ns = f.start_ns + 300 * S;
    let a = run(&[f]);
    assert_eq!(kinds(&a), ["ddos.participation"]);
    assert_eq!(a[0].evidence["vector"], "udp");
    assert_eq!(a[0].evidence["rule"], "one-way fat flow");
    // The same volume with replies (a call, a game) is not.
    f.rev_packets = 600_000;
    assert!(run(&[f]).is_empty());
    // Inbound to a local device: the device is the target.
    let mut g = f;
    g.rev_packets = 0;
    (g.src, g.dst) = (ip(86, 136, 151, 56), bot);
    assert_eq!(kinds(&run(&[g])), ["ddos.target"]);
}

#[test]
fn horizontal_and_vertical_scans() {
    let bot = ip(10, 0, 0, 5);
    let h: Vec<_> = (0..40u8)
        .map(|i| {
            flow(
                bot,
                50_000,
                ip(203, 0, 113, i),
                23,
                6,
                10 * S + i64::from(i) * S,
            )
        })
        .collect();
    let a = run(&h);
    assert_eq!(kinds(&a), ["scan.horizontal"], "{a:#?}");
    let v: Vec<_> = (0..40u16)
        .map(|i| {
            flow(
                bot,
                50_000,
                ip(203, 0, 113, 9),
                1000 + i,
                6,
                10 * S + i64::from(i) * S,
            )
        })
        .collect();
    let a = run(&v);
    assert_eq!(kinds(&a), ["scan.vertical"], "{a:#?}");
    // Too slow to be one scan: 40 hosts over 40 minutes.
    let slow: Vec<_> = (0..40u8)
        .map(|i| {
            flow(
                bot,
                50_000,
                ip(203, 0, 113, i),
                23,
                6,
                i64::from(i) * 60 * S,
            )
        })
        .collect();
    assert!(run(&slow).is_empty());
}

#[test]
fn periodic_connection_starts_are_a_beacon_but_ntp_is_not() {
    let dev = ip(192, 168, 100, 113);
    let c2 = ip(178, 128, 185, 250);
    let mut flows = Vec::new();
    for i in 0..12u16 {
        let t = 50 * S + i64::from(i) * 30 * S;
        flows.push(flow(dev, 40_000 + i, c2, 50, 6, t));
        // Zeek's separate record of the retransmitted SYN (same source port).
        flows.push(flow(dev, 40_000 + i, c2, 50, 6, t + 3 * S));
    }
    let a = run(&flows);
    assert_eq!(kinds(&a), ["botnet.c2"], "{a:#?}");
    assert_eq!(a[0].evidence["c2_server"], "178.128.185.250:50");
    assert_eq!(a[0].evidence["period_s"], 30.0);
    let ntp: Vec<_> = (0..20u16)
        .map(|i| {
            flow(
                dev,
                123,
                ip(147, 231, 100, 5),
                123,
                17,
                i64::from(i) * 64 * S,
            )
        })
        .collect();
    assert!(run(&ntp).is_empty());
    // A device polling its cloud over HTTPS every 15 minutes, answered each time, is not a
    // beacon; the same timer with every attempt unanswered (a dead C2) is.
    let poll = |answered: bool| -> Vec<FlowRecord> {
        (0..12u16)
            .map(|i| {
                let mut f = flow(
                    dev,
                    40_000 + i,
                    ip(2, 16, 60, 82),
                    443,
                    6,
                    i64::from(i) * 900 * S,
                );
                if answered {
                    f.rev_packets = 10;
                    f.rev_tcp_flags = 0x12;
                }
                f
            })
            .collect()
    };
    assert!(run(&poll(true)).is_empty());
    assert_eq!(kinds(&run(&poll(false))), ["botnet.c2"]);
    // Irregular starts are not periodic.
    let irregular: Vec<_> = (0..12u16)
        .map(|i| {
            let t = i64::from(i) * i64::from(i) * 7 * S;
            flow(dev, 40_000 + i, c2, 50, 6, t)
        })
        .collect();
    assert!(run(&irregular).is_empty());
}

#[test]
fn fan_in_flood_on_a_local_device() {
    let cam = ip(192, 168, 1, 20);
    let flows: Vec<_> = (0..150u32)
        .map(|i| {
            let src = ip(198, 51, (i / 250) as u8, (i % 250) as u8);
            flow(src, 1024, cam, 554, 6, 7 * S + i64::from(i) * S / 20)
        })
        .collect();
    let a = run(&flows);
    assert!(kinds(&a).contains(&"ddos.target"), "{a:#?}");
}

#[test]
fn tables_stay_bounded_and_count_refusals() {
    let cfg = FlowDetectConfig {
        max_entries: 64,
        ..FlowDetectConfig::default()
    };
    let mut d = FlowDetector::new(cfg);
    for i in 0..10_000u32 {
        let src = ip(10, (i >> 16) as u8, (i >> 8) as u8, i as u8);
        let dst = ip(203, 0, (i >> 8) as u8, i as u8);
        d.flow(&flow(src, 1, dst, (i % 1000) as u16, 6, S));
        assert!(d.tracked() <= 5 * 64);
    }
    assert!(d.counters.refused > 0);
    // A later window sweeps the idle entries and admits new keys again.
    d.flow(&flow(
        ip(10, 9, 9, 9),
        1,
        ip(203, 9, 9, 9),
        1,
        6,
        10_000 * S,
    ));
    assert!(d.counters.evicted > 0);
}

proptest! {
    #[test]
    fn any_flows_never_panic_and_stay_bounded(
        flows in proptest::collection::vec(
            (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u16>(), any::<u16>(), any::<u8>(),
             any::<u8>(), any::<u64>(), any::<u64>(), any::<i64>(), any::<i64>()),
            0..200)
    ) {
        let cfg = FlowDetectConfig { max_entries: 16, ..FlowDetectConfig::default() };
        let mut d = FlowDetector::new(cfg);
        for (s, t, sp, dp, pr, fl, pk, rp, st, en) in flows {
            let f = FlowRecord {
                src: IpAddr::from(s), dst: IpAddr::from(t), src_port: sp, dst_port: dp,
                proto: pr, tcp_flags: fl, rev_tcp_flags: fl.rotate_left(3),
                packets: pk, bytes: pk.wrapping_mul(3), rev_packets: rp, rev_bytes: rp,
                start_ns: st, end_ns: en, ..FlowRecord::default()
            };
            d.flow(&f);
            prop_assert!(d.tracked() <= 5 * 16);
        }
        let _ = d.finish().into_alerts(|n| n.to_string());
    }
}
