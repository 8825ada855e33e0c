use proptest::prelude::*;

use super::*;
use crate::stats::{IncStat, IncStat2, decay_factor};

fn ip(a: u8, b: u8, c: u8, d: u8) -> u128 {
    u128::from(u32::from_be_bytes([a, b, c, d])) | (0xffffu128 << 32)
}

/// Reference damped weight, mean and variance computed from the whole history.
fn reference_1d(lambda: f64, hist: &[(f64, f64)], now: f64) -> (f64, f64, f64) {
    let (mut w, mut ls, mut ss) = (0.0, 0.0, 0.0);
    for &(t, x) in hist {
        let d = 2f64.powf(-lambda * (now - t));
        w += d;
        ls += d * x;
        ss += d * x * x;
    }
    // Same convention as the incremental statistic: a window that decayed to nothing is empty.
    if w <= 1e-20 {
        return (w, 0.0, 0.0);
    }
    let m = ls / w;
    (w, m, (ss / w - m * m).max(0.0))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    #[test]
    fn incstat_matches_reference(
        lambda in 0.001f64..10.0,
        steps in prop::collection::vec((0.0f64..3.0, 0.0f64..1500.0), 1..60),
    ) {
        let mut s = IncStat::default();
        let mut t = 0.0;
        let mut last = 0.0;
        let mut hist = Vec::new();
        for (dt, x) in steps {
            t += dt;
            s.decay(decay_factor(lambda, last, t));
            last = t;
            s.insert(x);
            hist.push((t, x));
            let (w, m, v) = reference_1d(lambda, &hist, t);
            prop_assert!(close(s.weight(), w), "w {} vs {}", s.weight(), w);
            prop_assert!(close(s.mean(), m), "mean {} vs {}", s.mean(), m);
            prop_assert!((s.var() - v).abs() <= 1e-6 * (1.0 + m * m), "var {} vs {}", s.var(), v);
        }
    }

    #[test]
    fn incstat2_matches_reference(
        lambda in 0.001f64..10.0,
        steps in prop::collection::vec((0.0f64..3.0, 0usize..2, 0.0f64..1500.0), 1..40),
    ) {
        let mut s = IncStat2::default();
        let mut t = 0.0;
        let mut last = 0.0;
        let mut hist: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        // Reference residual products: each residual (against the from-scratch mean) times
        // the other direction's latest residual, damped from its time.
        let mut prods: Vec<(f64, f64)> = Vec::new();
        let mut last_res = [0.0f64; 2];
        for (dt, d, x) in steps {
            t += dt;
            s.decay(decay_factor(lambda, last, t));
            last = t;
            s.insert(d, x);
            hist[d].push((t, x));
            let (_, m, _) = reference_1d(lambda, &hist[d], t);
            let r = x - m;
            prods.push((t, r * last_res[1 - d]));
            last_res[d] = r;
            let w3: f64 = prods.iter().map(|p| 2f64.powf(-lambda * (t - p.0))).sum();
            let sr: f64 = prods.iter().map(|p| 2f64.powf(-lambda * (t - p.0)) * p.1).sum();
            let got = s.get(d);
            let (wa, ma, va) = reference_1d(lambda, &hist[d], t);
            let (mb, vb) = if hist[1 - d].is_empty() {
                (0.0, 0.0)
            } else {
                let (_, mb, vb) = reference_1d(lambda, &hist[1 - d], t);
                (mb, vb)
            };
            prop_assert!(close(got.w, wa));
            prop_assert!(close(got.mean, ma));
            prop_assert!(close(got.magnitude, (ma * ma + mb * mb).sqrt()));
            prop_assert!((got.radius - (va + vb).sqrt()).abs() <= 1e-3 * (1.0 + got.radius));
            prop_assert!((got.cov - sr / w3).abs() <= 1e-6 * (1.0 + (sr / w3).abs()), "cov {} vs {}", got.cov, sr / w3);
            prop_assert!((-1.0..=1.0).contains(&got.pcc));
        }
    }

    #[test]
    fn extractor_never_panics_and_stays_finite(
        lambdas in prop::collection::vec(prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), Just(f64::INFINITY), 0.0001f64..100.0], 0..10),
        pkts in prop::collection::vec((any::<f64>(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>(), 0u32..70000), 1..80),
    ) {
        let mut fx = Extractor::new(&lambdas, Caps { hosts: 4, channels: 4, sockets: 4, devices: 4 });
        let mut out = vec![0.0f32; fx.dim()];
        for (t, a, b, port, flags, size) in pkts {
            let p = PacketView {
                t,
                src: ip(10, 0, 0, a),
                dst: ip(8, 8, b, 8),
                src_port: port,
                dst_port: 80,
                proto: 6,
                size: f64::from(size),
                tcp_flags: flags,
                is_tcp: true,
                ..PacketView::default()
            };
            fx.update(&p, &mut out);
            prop_assert!(out.iter().all(|v| v.is_finite()));
            prop_assert!(fx.entries() <= 20);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The whole detector (all three phases) on hostile input: time jumping backwards and to
    /// NaN/infinity, zero-length and absurd sizes, colliding addresses.
    #[test]
    fn detector_never_panics(
        pkts in prop::collection::vec((prop_oneof![any::<f64>(), -10.0f64..10.0], any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>(), any::<u32>()), 1..120),
    ) {
        let mut d = Detector::new(Config { fm_grace: 10, ad_grace: 30, ..Config::default() });
        for (t, a, b, port, flags, size) in pkts {
            let p = PacketView {
                t,
                src: ip(192, 168, 0, a),
                dst: ip(1, 2, b, 3),
                src_port: port,
                dst_port: 443,
                proto: 6,
                size: f64::from(size),
                tcp_flags: flags,
                is_tcp: flags & 1 == 0,
                ..PacketView::default()
            };
            if let Some(s) = d.process(&p)
                && s.phase == Phase::Executing
            {
                prop_assert!(!s.score.is_nan());
                let _ = d.explain(s.device, 3);
            }
        }
    }
}

#[test]
fn time_going_backwards_counts_as_no_time() {
    let mut s = IncStat::default();
    s.decay(decay_factor(1.0, 10.0, 5.0));
    s.insert(3.0);
    s.decay(decay_factor(1.0, 10.0, 5.0));
    s.insert(5.0);
    assert_eq!(s.weight(), 2.0);
    assert_eq!(s.mean(), 4.0);
    assert_eq!(decay_factor(0.0, 0.0, 100.0), 1.0);
    assert_eq!(decay_factor(f64::NAN, 0.0, 100.0), 1.0);
    assert_eq!(decay_factor(1.0, 0.0, f64::INFINITY), 0.0);
}

#[test]
fn a_million_distinct_sources_stay_bounded() {
    let caps = Caps {
        hosts: 1000,
        channels: 1000,
        sockets: 1000,
        devices: 100,
    };
    let mut fx = Extractor::new(&[5.0, 1.0, 0.01], caps);
    let mut out = vec![0.0f32; fx.dim()];
    for i in 0..1_000_000u32 {
        let p = PacketView {
            t: f64::from(i) * 1e-5,
            src_mac: 0x44f4_770f_ea49,
            src: u128::from(i) | (0xffff << 32),
            dst: ip(10, 10, 10, 10),
            src_port: i as u16,
            dst_port: 80,
            proto: 6,
            size: 60.0,
            tcp_flags: 0x02,
            is_tcp: true,
            local: 1,
        };
        fx.update(&p, &mut out);
    }
    assert!(fx.entries() <= 1000 * 4 + 100, "{} entries", fx.entries());
    assert!(out.iter().all(|v| v.is_finite()));
}

/// A smart plug: talks to its cloud (new connection every ~30 s) and to NTP; optionally,
/// from `burst_at` on, to 200 new hosts.
fn plug_traffic(n: usize, start: f64, burst_from: Option<usize>) -> Vec<PacketView> {
    let dev = ip(192, 168, 1, 50);
    let cloud = ip(52, 1, 1, 1);
    let ntp = ip(192, 168, 1, 1);
    let mut out = Vec::new();
    let mut t = start;
    for i in 0..n {
        t += 0.5 + 0.1 * ((i * 7919) % 10) as f64 / 10.0;
        let conn = (i / 60) as u16;
        let (src, dst, sp, dp, size, local) = if burst_from.is_some_and(|b| i >= b) {
            let k = (i % 200) as u8;
            (
                dev,
                ip(34, 12, k, 9),
                40000 + (i % 200) as u16,
                443,
                60.0,
                0,
            )
        } else if i % 20 == 19 {
            (dev, ntp, 123, 123, 90.0, 0)
        } else if i % 2 == 0 {
            (dev, cloud, 50000 + conn, 443, 120.0 + (i % 3) as f64, 0)
        } else {
            (cloud, dev, 443, 50000 + conn, 80.0 + (i % 5) as f64, 1)
        };
        out.push(PacketView {
            t,
            src_mac: 1,
            src,
            dst,
            src_port: sp,
            dst_port: dp,
            proto: 6,
            size,
            tcp_flags: 0x18,
            is_tcp: true,
            local,
        });
    }
    out
}

fn small_config() -> Config {
    Config {
        fm_grace: 500,
        ad_grace: 4_500,
        ..Config::default()
    }
}

fn trained() -> (Detector, f64) {
    let mut d = Detector::new(small_config());
    let train = plug_traffic(5_000, 0.0, None);
    let end = train.last().map(|p| p.t).unwrap_or(0.0);
    for p in &train {
        d.process(p);
    }
    assert_eq!(d.phase(), Phase::Executing);
    (d, end)
}

#[test]
fn save_load_round_trip_scores_identically() {
    let (d, end) = trained();
    let m = d.model().expect("trained");
    let mut buf = Vec::new();
    m.save(&mut buf).expect("save");
    let m2 = Model::load(buf.as_slice()).expect("load");
    assert_eq!(m, m2);
    let mut a = Detector::from_model(m);
    let mut b = Detector::from_model(m2);
    for p in plug_traffic(300, end, Some(100)) {
        let (x, y) = (a.process(&p), b.process(&p));
        assert_eq!(x.map(|s| s.score.to_bits()), y.map(|s| s.score.to_bits()));
        assert!(x.is_some_and(|s| s.score.is_finite()));
    }
    // Wrong version and garbage are rejected, not panics.
    let mut bad = d.model().expect("trained");
    bad.version = 99;
    let mut buf = Vec::new();
    bad.save(&mut buf).expect("save");
    assert!(matches!(
        Model::load(buf.as_slice()),
        Err(ModelError::Version { found: 99 })
    ));
    assert!(Model::load(&b"{\"format\":1}"[..]).is_err());
}

#[test]
fn deterministic_given_a_seed() {
    let run = || {
        let mut d = Detector::new(small_config());
        plug_traffic(5_400, 0.0, Some(5_200))
            .iter()
            .filter_map(|p| d.process(p))
            .map(|s| s.raw.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn explanation_names_new_hosts_first() {
    let (mut d, end) = trained();
    let test = plug_traffic(400, end, Some(200));
    let mut normal_max = 0.0f32;
    let mut best = (0.0f32, Vec::new());
    for (i, p) in test.iter().enumerate() {
        let s = d.process(p).expect("executing");
        assert!(s.known_device);
        if i < 200 {
            normal_max = normal_max.max(s.score);
        } else if s.score > best.0 {
            best = (s.score, d.explain(s.device, 3));
        }
    }
    assert!(
        best.0 > normal_max,
        "burst {} vs normal {}",
        best.0,
        normal_max
    );
    let top = &best.1[0];
    assert_eq!(top.group, "contacts with new hosts", "{:#?}", best.1);
    assert!(!top.text.is_empty());
}

#[test]
fn unknown_device_gets_the_novelty_score() {
    let (mut d, end) = trained();
    let mut p = plug_traffic(1, end, None)[0];
    p.src = ip(192, 168, 1, 77);
    let s = d.process(&p).expect("executing");
    assert!(!s.known_device);
    assert!(s.score >= d.config().novelty);
}

#[test]
fn metrics_auc_and_roc() {
    assert_eq!(metrics::auc(&[0.0, 1.0], &[2.0, 3.0]), 1.0);
    assert_eq!(metrics::auc(&[1.0, 1.0], &[1.0, 1.0]), 0.5);
    assert_eq!(metrics::auc(&[0.0, 2.0], &[1.0]), 0.5);
    let (tpr, _) = metrics::tpr_at_fpr(&[0.0, 0.1, 0.2, 5.0], &[1.0, 2.0, 6.0], 0.0);
    assert!((tpr - 1.0 / 3.0).abs() < 1e-12);
    assert!((probit(0.975) - 1.959964).abs() < 1e-5);
    assert!((probit(1.0 - 1e-4) - 3.719016).abs() < 1e-4);
}

#[test]
fn feature_clustering_respects_the_group_cap() {
    let (d, _) = trained();
    let groups = d.groups().expect("net");
    let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
    assert!(groups.iter().all(|g| !g.is_empty() && g.len() <= 10));
    all.sort_unstable();
    assert_eq!(all, (0..5 * features::PER_WINDOW).collect::<Vec<_>>());
}
