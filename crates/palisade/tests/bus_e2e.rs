//! Issue 13 end to end: three sensors (`palisade analyze CAPTURE --nats`) publish different
//! captures (two real ones from ../shared/datasets when present, plus the simulator's demo
//! capture) to a real nats-server (JetStream, file storage); two `palisade worker` processes
//! share one durable consumer and write to one store. The store must then hold exactly the
//! devices and alerts that a single-process run (analyze each capture, ingest the NDJSON
//! directly) gives, and the same device MACs and alert ids (but `device.new`, see below) as one
//! `analyze` of all captures.

mod bus_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bus_support::*;
use palisade_store::{AlertQuery, DeviceQuery, DeviceSort, SqliteStore, Store};

fn captures(dir: &Path) -> Vec<PathBuf> {
    let demo = dir.join("demo.pcap");
    std::fs::write(
        &demo,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let mut caps = Vec::new();
    if let Some(sh) = shared() {
        for rel in [
            "datasets/iot23/CTU-IoT-Malware-Capture-34-1/2018-12-21-15-50-14-192.168.1.195.irc.pcap",
            "datasets/iot-ondemand-cset21/pcaps/blink-cam-01.pcap",
        ] {
            let p = sh.join(rel);
            if p.is_file() {
                caps.push(p);
            } else {
                eprintln!(
                    "note: {} absent; using a simulated capture instead",
                    p.display()
                );
            }
        }
    } else {
        eprintln!("note: ../shared absent; the three sensors replay simulated captures");
    }
    let mut seed = 100;
    while caps.len() < 2 {
        let p = dir.join(format!("sim-{seed}.pcap"));
        let cfg = palisade_sim::SimConfig {
            seed,
            ..palisade_sim::SimConfig::default()
        };
        std::fs::write(&p, palisade_sim::generate(&cfg)).unwrap();
        caps.push(p);
        seed += 1;
    }
    caps.push(demo);
    caps
}

fn ndjson(cap: &Path) -> String {
    let out = palisade()
        .args(["analyze", "--format", "ndjson"])
        .arg(cap)
        .output()
        .unwrap();
    assert!(out.status.success(), "analyze {}: {:?}", cap.display(), out);
    String::from_utf8(out.stdout).unwrap()
}

pub fn devices(s: &dyn Store) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let p = s
            .list_devices(&DeviceQuery {
                limit: 1000,
                offset: out.len() as u64,
                sort: DeviceSort::Mac,
                ..DeviceQuery::default()
            })
            .unwrap();
        if p.items.is_empty() {
            return out;
        }
        out.extend(p.items.iter().map(|d| serde_json::to_value(d).unwrap()));
    }
}

pub fn alerts(s: &dyn Store) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    loop {
        let p = s
            .list_alerts(&AlertQuery {
                limit: 1000,
                offset: out.len() as u64,
                ..AlertQuery::default()
            })
            .unwrap();
        if p.items.is_empty() {
            break;
        }
        out.extend(p.items.iter().map(|a| serde_json::to_value(a).unwrap()));
    }
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}

#[test]
fn three_sensors_two_workers_match_single_process() {
    let Some(bin) = nats_server_bin() else { return };
    let dir = tmp("e2e");
    let caps = captures(&dir);
    let nats = Nats::start(bin, &dir, None);
    let url = nats.url();
    let hub_dir = dir.join("hub");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut w1 = Worker::start(&url, "E2E", &hub_dir, &["--metrics", &metrics_addr]);
    let mut w2 = Worker::start(&url, "E2E", &hub_dir, &[]);

    // Single-process reference: each capture's NDJSON ingested straight into a store.
    let reference = SqliteStore::open(&dir.join("reference.db")).unwrap();
    let mut expected_events = 0u64;
    for c in &caps {
        let text = ndjson(c);
        let o = reference.ingest_ndjson(&text).unwrap();
        assert!(o.rejected.is_empty(), "{:?}", o.rejected);
        expected_events += o.accepted;
    }
    assert!(
        expected_events > 10,
        "the captures yield events ({expected_events})"
    );

    // Let the workers create the stream and consumer before the sensors publish.
    std::thread::sleep(Duration::from_secs(1));
    let mut published = 0u64;
    for (i, c) in caps.iter().enumerate() {
        let out = palisade()
            .args(["analyze", "--nats", &url, "--site", "plant1"])
            .arg("--sensor")
            .arg(format!("sensor{i}"))
            .arg("--spool")
            .arg(dir.join(format!("spool{i}")))
            .arg(c)
            .output()
            .unwrap();
        assert!(out.status.success(), "sensor {i}: {out:?}");
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            stats["spool_pending"], 0,
            "sensor {i} delivered all: {stats}"
        );
        assert_eq!(stats["dropped"], 0);
        published += stats["acked"].as_u64().unwrap();
    }
    let demo_lines = ndjson(caps.last().unwrap()).lines().count() as u64;
    assert!(published >= expected_events && demo_lines > 0);

    let store = SqliteStore::open(&hub_dir.join("hub.db")).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the workers to store every event",
        || store.event_count().unwrap() >= expected_events,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        store.event_count().unwrap(),
        expected_events,
        "no duplicates"
    );
    let (got_d, want_d) = (devices(&store), devices(&reference));
    let (got_a, want_a) = (alerts(&store), alerts(&reference));
    assert!(
        !want_d.is_empty() && !want_a.is_empty(),
        "devices and alerts to compare"
    );
    assert_eq!(got_d, want_d, "devices through the bus == single process");
    assert_eq!(got_a, want_a, "alerts through the bus == single process");

    // Worker 1's Prometheus metrics: its share of the events, and no consumer lag left.
    std::thread::sleep(Duration::from_millis(1500));
    let scrape = std::net::TcpStream::connect(&metrics_addr).and_then(|mut c| {
        use std::io::{Read, Write};
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")?;
        let mut s = String::new();
        c.read_to_string(&mut s)?;
        Ok(s)
    });
    let text = scrape.expect("scraping the worker's metrics");
    let sample = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let w1_messages = sample("palisade_worker_messages_total").expect("messages counter");
    assert!(
        w1_messages <= published as f64,
        "worker 1 handled at most what was published: {text}"
    );
    assert_eq!(
        sample("palisade_worker_consumer_pending"),
        Some(0.0),
        "nothing left undelivered: {text}"
    );
    assert!(
        text.contains("# TYPE palisade_worker_events_accepted_total counter"),
        "{text}"
    );

    // One `analyze` over all captures names the same devices and alerts.
    let mut all = palisade();
    all.args(["analyze", "--format", "json"]).args(&caps);
    let out = all.output().unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let macs: BTreeSet<String> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["mac"].as_str().unwrap().to_owned())
        .collect();
    let ids: BTreeSet<String> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let got_macs: BTreeSet<String> = got_d
        .iter()
        .map(|d| d["mac"].as_str().unwrap().to_owned())
        .collect();
    let got_ids: BTreeSet<String> = got_a
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got_macs, macs, "device MACs == one analyze of all captures");
    // `device.new-<mac>` alerts are raised by the hub store itself when it first stores a
    // device; the analyzer's report has none.
    let learned = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .filter(|i| !i.starts_with("device.new-"))
            .cloned()
            .collect()
    };
    assert_eq!(
        learned(&got_ids),
        learned(&ids),
        "alert ids == one analyze of all captures"
    );
    eprintln!(
        "e2e: {} captures, {} events, {} devices, {} alerts through NATS and 2 workers",
        caps.len(),
        expected_events,
        got_d.len(),
        got_a.len()
    );
    w1.kill();
    w2.kill();
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `palisade push FILE --nats`: already-written NDJSON goes through the bus like `analyze
/// --nats`; pushing the same file again stores nothing twice.
#[test]
fn push_ndjson_file_over_the_bus() {
    let Some(bin) = nats_server_bin() else { return };
    let dir = tmp("push");
    let pcap = dir.join("demo.pcap");
    std::fs::write(
        &pcap,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let text = ndjson(&pcap);
    let file = dir.join("events.ndjson");
    std::fs::write(&file, &text).unwrap();
    let reference = SqliteStore::open(&dir.join("reference.db")).unwrap();
    let o = reference.ingest_ndjson(&text).unwrap();
    assert!(
        o.accepted > 0 && o.rejected.is_empty(),
        "the capture yields events"
    );
    // Flow lines are recorded as event ids too (not stored as rows).
    let expected = reference.event_count().unwrap();

    let nats = Nats::start(bin, &dir, None);
    let url = nats.url();
    let hub_dir = dir.join("hub");
    let _w = Worker::start(&url, "PUSH", &hub_dir, &[]);
    std::thread::sleep(Duration::from_secs(1));
    let push = |n: usize| {
        let out = palisade()
            .args(["push", "--nats", &url, "--site", "plant2", "--sensor", "s1"])
            .arg("--spool")
            .arg(dir.join(format!("spool{n}")))
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "push {n}: {out:?}");
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(stats["spool_pending"], 0, "push {n} delivered all: {stats}");
        stats
    };
    let first = push(1);
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    assert_eq!(first["acked"].as_u64(), Some(lines), "{first}");
    let store = SqliteStore::open(&hub_dir.join("hub.db")).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the worker to store the push",
        || store.event_count().unwrap() >= expected,
    );
    let second = push(2);
    assert_eq!(
        second["duplicates"].as_u64(),
        Some(lines),
        "the stream drops the re-push: {second}"
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(store.event_count().unwrap(), expected, "no duplicates");
    assert_eq!(devices(&store), devices(&reference));
    assert_eq!(alerts(&store), alerts(&reference));
}
