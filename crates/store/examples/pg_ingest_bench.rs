//! Batch ingest throughput into PostgreSQL (issue 13), with 1 and 2 concurrent writers.
//!
//!     cargo run --release -p palisade-store --example pg_ingest_bench -- [EVENTS] [BATCH]
//!
//! Uses `PALISADE_TEST_PG_URL` when set (a server whose user may CREATE DATABASE), else starts
//! a throw-away local cluster with PostgreSQL's durable defaults (fsync and synchronous
//! commit on; see `palisade_store::postgres::testing`). The events are NDJSON as sensors
//! send them: flows (the bulk), with a device event every 500 lines and an alert every 100.
//! Each run writes into a new database; every event is counted back afterwards.

use std::time::Instant;

use palisade_store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_store::{PgStore, Store};

/// One batch of `n` events of writer `w`, batch `b` (distinct content, so distinct ids).
fn batch(w: usize, b: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 360);
    for i in 0..n {
        let k = (w * 1_000_000_000) + b * n + i;
        let sec = k % 86_400;
        let ts = format!(
            "2024-0{}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            1 + k % 3,
            1 + k % 28,
            sec / 3600,
            sec / 60 % 60,
            sec % 60,
            k % 1_000_000
        );
        let dev = k % 251;
        if i % 500 == 0 {
            s.push_str(&format!(
                r#"{{"type":"device","mac":"02:00:00:00:{:02x}:{:02x}","ips":["10.{w}.{}.{}"],"vendor":"Vendor{}","hostnames":["dev-{dev}"],"category":"camera","model":null,"os":null,"confidence":0.8,"evidence":[{{"source":"dhcp","detail":"option 60","weight":0.6}}],"risk":{{"score":{},"reasons":["telnet open"]}},"first_seen":"{ts}","last_seen":"{ts}"}}"#,
                dev / 256,
                dev % 256,
                dev / 250,
                dev % 250,
                dev % 13,
                dev % 90
            ));
        } else if i % 100 == 0 {
            s.push_str(&format!(
                r#"{{"type":"alert","id":"scan.horizontal-{w}-{}","kind":"scan.horizontal","severity":"medium","device":"02:00:00:00:00:{:02x}","src":"10.{w}.0.{}","dst":null,"first_seen":"{ts}","last_seen":"{ts}","count":{},"summary":"horizontal scan of 40 hosts on tcp/23","evidence":{{"targets":40,"port":23}},"mitre":["T1046"]}}"#,
                k % 997,
                dev % 256,
                dev % 250,
                1 + k % 50
            ));
        } else {
            s.push_str(&format!(
                r#"{{"type":"flow","proto":6,"vlan":0,"src":"10.{w}.{}.{}","src_port":{},"dst":"93.184.{}.{}","dst_port":443,"first_seen":"{ts}","last_seen":"{ts}","packets_to_server":{},"packets_to_client":{},"bytes_to_server":{},"bytes_to_client":{},"tcp_state":"closed","end":"fin","app":"tls"}}"#,
                dev / 250,
                dev % 250,
                1024 + k % 60_000,
                k % 200,
                k % 250,
                3 + k % 40,
                2 + k % 30,
                200 + k % 9000,
                500 + k % 90_000
            ));
        }
        s.push('\n');
    }
    s
}

fn run(cluster: &TestCluster, writers: usize, events: usize, batch_size: usize) -> f64 {
    let url = cluster
        .fresh_database(&format!("bench{writers}"))
        .expect("database");
    let store = PgStore::open(&format!("{url}?pool_max={}", writers + 1)).expect("open");
    let per_writer = events / writers;
    let batches_per_writer = per_writer.div_ceil(batch_size);
    // Build all input first: the figure is the store's, not the generator's.
    let input: Vec<Vec<String>> = (0..writers)
        .map(|w| {
            (0..batches_per_writer)
                .map(|b| batch(w, b, batch_size))
                .collect()
        })
        .collect();
    let total: usize = writers * batches_per_writer * batch_size;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for batches in &input {
            let store = &store;
            s.spawn(move || {
                for b in batches {
                    let o = store.ingest_ndjson(b).expect("ingest");
                    assert!(o.rejected.is_empty(), "{:?}", o.rejected.first());
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let stored = store.event_count().expect("count") as usize;
    assert_eq!(stored, total, "every event stored exactly once");
    // The same input again: all duplicates, nothing new.
    let t1 = Instant::now();
    let dups: u64 = input
        .iter()
        .flatten()
        .take(10)
        .map(|b| store.ingest_ndjson(b).expect("re-ingest").duplicates)
        .sum();
    let dup_secs = t1.elapsed().as_secs_f64();
    assert_eq!(store.event_count().expect("count") as usize, total);
    let rate = total as f64 / secs;
    println!(
        "writers={writers} events={total} batch={batch_size}: {secs:.2} s, {rate:.0} events/s \
         (re-ingest of {dups} duplicates: {:.0} events/s)",
        dups as f64 / dup_secs
    );
    rate
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400_000);
    let batch_size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let Some(cluster) = TestCluster::start(ClusterOptions { durable: true }) else {
        eprintln!("no PostgreSQL: install postgresql or set PALISADE_TEST_PG_URL");
        std::process::exit(2);
    };
    let one = run(&cluster, 1, events, batch_size);
    let two = run(&cluster, 2, events, batch_size);
    println!("scaling 1 -> 2 writers: x{:.2}", two / one);
}
