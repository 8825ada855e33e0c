//! Issue 13 faults, with exact counts: while a sensor publishes a steady stream of events,
//! a worker is killed with SIGKILL (and restarted), nats-server is restarted (its file store
//! keeps the stream), and the sensor is cut off from the bus (its spool grows, then drains in
//! order once the bus is back). Afterwards every event is stored exactly once, the stream
//! holds each exactly once and in publication order. A second test shows that the spool
//! survives the sensor process (the `analyze --nats` CLI run twice).

mod bus_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus_support::*;
use palisade_bus::publisher::{PublishStats, Publisher, PublisherConfig};
use palisade_bus::spool::SpoolConfig;
use palisade_store::{SqliteStore, Store};

fn event(n: u64) -> String {
    format!(
        r#"{{"type":"alert","event_id":"f-{n:08}","id":"fault:{}","kind":"scan.port","severity":"low","device":"02:00:00:00:{:02x}:{:02x}","first_seen":"2026-11-25T00:00:00Z","last_seen":"2026-11-25T00:00:00Z","count":{},"summary":"fault test","mitre":[],"evidence":{{}}}}"#,
        n % 500,
        (n % 500) >> 8,
        (n % 500) & 0xff,
        n + 1
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Event numbers in stream order (sequence 1..=last).
fn stream_order(url: &str, stream: &str) -> Vec<u64> {
    rt().block_on(async {
        let c = palisade_bus::async_nats::connect(url).await.unwrap();
        let js = palisade_bus::async_nats::jetstream::new(c);
        let mut s = js.get_stream(stream).await.unwrap();
        let last = s.info().await.unwrap().state.last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            let m = s.get_raw_message(seq).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            let id = v["event_id"].as_str().unwrap_or_default().to_owned();
            out.push(id.trim_start_matches("f-").parse().unwrap_or(u64::MAX));
        }
        out
    })
}

#[test]
fn worker_kill_nats_restart_and_sensor_cut_off_lose_nothing() {
    let Some(bin) = nats_server_bin() else { return };
    const N: u64 = 12_000;
    const RATE: u64 = 1_500; // events/s: the run takes 8 s
    let dir = tmp("faults");
    let mut nats = Nats::start(bin, &dir, None);
    let url = nats.url();
    let hub_dir = dir.join("hub");
    let w_args = ["--ack-wait", "2"];
    let mut w1 = Worker::start(&url, "FAULTS", &hub_dir, &w_args);
    let _w2 = Worker::start(&url, "FAULTS", &hub_dir, &w_args);
    std::thread::sleep(Duration::from_secs(1));

    // The sensor: a publisher in this process, sharing its counters for the checks below.
    let live = Arc::new(Mutex::new(PublishStats::default()));
    let (live2, url2, spool) = (live.clone(), url.clone(), dir.join("spool"));
    let sensor = std::thread::spawn(move || {
        rt().block_on(async move {
            let conn = palisade_bus::ConnectConfig {
                url: url2,
                ..Default::default()
            };
            let client = palisade_bus::connect(&conn).await.unwrap();
            let mut cfg = PublisherConfig::new(SpoolConfig::new(spool));
            cfg.ack_timeout = Duration::from_secs(2);
            cfg.max_in_flight = 256;
            let mut p = Publisher::new(client, cfg).unwrap();
            let subject = palisade_bus::subject("faults", "s1").unwrap();
            let t0 = Instant::now();
            for n in 0..N {
                let due = Duration::from_secs_f64(n as f64 / RATE as f64);
                if let Some(wait) = due.checked_sub(t0.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                p.send(&subject, &event(n)).await.unwrap();
                if n % 50 == 0 {
                    *live2.lock().unwrap() = p.stats();
                }
            }
            let st = p.flush(Duration::from_secs(60)).await.unwrap();
            *live2.lock().unwrap() = st.clone();
            st
        })
    });

    std::thread::sleep(Duration::from_millis(1500));
    w1.kill(); // kill -9 mid-stream
    std::thread::sleep(Duration::from_millis(1000));
    let _w1b = Worker::start(&url, "FAULTS", &hub_dir, &w_args);
    std::thread::sleep(Duration::from_millis(700));
    nats.down(false); // restart NATS
    nats.up();
    std::thread::sleep(Duration::from_millis(1500));
    nats.down(false); // cut the sensor off
    let before = live.lock().unwrap().spool_pending;
    std::thread::sleep(Duration::from_millis(2000));
    let during = live.lock().unwrap().spooled;
    nats.up();
    let stats = sensor.join().unwrap();
    eprintln!(
        "sensor: {stats:?} (spooled {during} by the end of the outage, {before} at its start)"
    );
    assert!(
        during > 500,
        "the spool grew while the bus was down ({during})"
    );
    assert_eq!(stats.spool_pending, 0, "the spool drained");
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.acked, N, "every event acknowledged exactly once");
    assert!(stats.replayed >= during, "spooled events were replayed");

    let store = SqliteStore::open(&hub_dir.join("hub.db")).unwrap();
    wait_until(Duration::from_secs(60), "all events stored", || {
        store.event_count().unwrap() >= N
    });
    // Past the redelivery delay nothing more arrives: exactly N, each one present.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        store.event_count().unwrap(),
        N,
        "none lost, none duplicated in the store"
    );
    for n in (0..N).step_by(7) {
        assert!(
            store.has_event(&format!("f-{n:08}")).unwrap(),
            "event {n} stored"
        );
    }
    let order = stream_order(&url, "FAULTS");
    assert_eq!(order.len() as u64, N, "the stream holds each event once");
    let out_of_order = order.windows(2).filter(|w| w[0] >= w[1]).count();
    assert_eq!(
        out_of_order, 0,
        "stream order == publication order (spool replayed in order)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Event ids of a capture's device and alert events, in `analyze` order.
fn events_of(cap: &std::path::Path) -> Vec<String> {
    let out = palisade()
        .args(["analyze", "--format", "ndjson"])
        .arg(cap)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""type":"device""#) || l.contains(r#""type":"alert""#))
        .map(palisade_bus::event_id)
        .collect()
}

#[test]
fn spool_survives_the_sensor_process() {
    let Some(bin) = nats_server_bin() else { return };
    let dir = tmp("spool-cli");
    let demo = dir.join("demo.pcap");
    std::fs::write(
        &demo,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let other = dir.join("other.pcap");
    let cfg = palisade_sim::SimConfig {
        seed: 42,
        ..palisade_sim::SimConfig::default()
    };
    std::fs::write(&other, palisade_sim::generate(&cfg)).unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let publish = |cap: &std::path::Path, timeout: &str| -> serde_json::Value {
        let out = palisade()
            .args(["analyze", "--nats", &url, "--site", "s", "--sensor", "a"])
            .args(["--publish-timeout", timeout, "--spool"])
            .arg(dir.join("spool"))
            .arg(cap)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Bus down: everything is spooled, and stays on disk when the process exits.
    let first = publish(&demo, "2");
    let n = first["spooled"].as_u64().unwrap();
    assert!(n > 5, "{first}");
    assert_eq!(first["acked"], 0);
    assert_eq!(first["spool_pending"], n);
    assert!(std::fs::read_dir(dir.join("spool")).unwrap().count() > 0);

    // Bus up: the next run replays the old events first, then sends its own.
    let _nats = Nats::start_on(bin, &dir, None, port);
    let hub_dir = dir.join("hub");
    let _w = Worker::start(&url, "SPOOL", &hub_dir, &[]);
    std::thread::sleep(Duration::from_secs(1));
    let second = publish(&other, "30");
    let m = second["acked"].as_u64().unwrap() - n;
    assert_eq!(m, events_of(&other).len() as u64, "{second}");
    // Its own events queue behind the old ones until the spool is empty.
    assert!(second["replayed"].as_u64().unwrap() >= n, "{second}");
    assert_eq!(second["spool_pending"], 0);
    let store = SqliteStore::open(&hub_dir.join("hub.db")).unwrap();
    wait_until(Duration::from_secs(30), "both runs stored", || {
        store.event_count().unwrap() >= n + m
    });
    assert_eq!(store.event_count().unwrap(), n + m);
    // The stream starts with the first run's events, in their original order.
    let demo_ids = events_of(&demo);
    assert_eq!(demo_ids.len() as u64, n);
    let got: Vec<String> = rt().block_on(async {
        let c = palisade_bus::async_nats::connect(url.as_str())
            .await
            .unwrap();
        let js = palisade_bus::async_nats::jetstream::new(c);
        let s = js.get_stream("SPOOL").await.unwrap();
        let mut ids = Vec::new();
        for seq in 1..=n {
            let m = s.get_raw_message(seq).await.unwrap();
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            ids.push(id);
        }
        ids
    });
    assert_eq!(got, demo_ids, "replayed in order");
    let _ = std::fs::remove_dir_all(&dir);
}
