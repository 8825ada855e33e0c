//! Issue 13 into PostgreSQL: a sensor publishes a steady stream to NATS, two `palisade worker`
//! processes write it to PostgreSQL, and PostgreSQL is stopped mid-stream for
//! PALISADE_BUS_PG_OUTAGE_S seconds (default 5 s to keep the suite short; the issue's 30 s
//! outage is `PALISADE_BUS_PG_OUTAGE_S=30`), then started again. The workers keep the batches
//! they hold unacknowledged and retry; afterwards PostgreSQL holds every event exactly once.
//! Skips without PostgreSQL (initdb/pg_ctl) unless PALISADE_REQUIRE_ORACLES=1.

mod bus_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bus_support::*;
use palisade_bus::publisher::{Publisher, PublisherConfig};
use palisade_bus::spool::SpoolConfig;
use palisade_store::postgres::testing::{ClusterOptions, TestCluster};

/// Runs a PostgreSQL tool as the data dir's owner (PostgreSQL refuses to run as root).
fn pg_tool(data: &Path, bin: &Path, args: &[&str]) {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(data).unwrap().uid();
    let me = Command::new("id").arg("-u").output().unwrap();
    let me: u32 = String::from_utf8_lossy(&me.stdout).trim().parse().unwrap();
    let mut c = if owner != me {
        let name = Command::new("id")
            .args(["-nu", &owner.to_string()])
            .output()
            .unwrap();
        let mut c = Command::new("runuser");
        c.args(["-u", String::from_utf8_lossy(&name.stdout).trim(), "--"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = c.args(args).output().unwrap();
    assert!(out.status.success(), "{} {args:?}: {out:?}", bin.display());
}

/// The server command line it was started with (data/postmaster.opts): binary dir, options.
fn start_options(data: &Path) -> (PathBuf, String) {
    let opts = std::fs::read_to_string(data.join("postmaster.opts")).unwrap();
    let mut words = opts
        .split_whitespace()
        .map(|w| w.trim_matches('"').to_owned());
    let postgres = PathBuf::from(words.next().unwrap());
    let rest: Vec<String> = words.collect();
    (postgres.parent().unwrap().to_path_buf(), rest.join(" "))
}

#[test]
fn postgres_outage_mid_stream_loses_nothing() {
    let Some(bin) = nats_server_bin() else { return };
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let outage = std::env::var("PALISADE_BUS_PG_OUTAGE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5u64);
    let url = cluster.fresh_database("bus").unwrap();
    let dir = tmp("pg");
    let nats = Nats::start(bin, &dir, None);
    let nurl = nats.url();
    let w_args = ["--database-url", url.as_str(), "--ack-wait", "5"];
    let _w1 = Worker::start(&nurl, "PG", &dir.join("w1"), &w_args);
    let _w2 = Worker::start(&nurl, "PG", &dir.join("w2"), &w_args);
    let store = palisade_store::open_store(Some(&url), &dir.join("unused.db")).unwrap();
    std::thread::sleep(Duration::from_secs(1));

    const RATE: u64 = 1_000;
    let n_total = RATE * (4 + outage);
    let (nurl2, spool) = (nurl.clone(), dir.join("spool"));
    let sensor = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let conn = palisade_bus::ConnectConfig {
                url: nurl2,
                ..Default::default()
            };
            let mut p = Publisher::new(
                palisade_bus::connect(&conn).await.unwrap(),
                PublisherConfig::new(SpoolConfig::new(spool)),
            )
            .unwrap();
            let subject = palisade_bus::subject("pg", "s1").unwrap();
            let t0 = Instant::now();
            for n in 0..n_total {
                let due = Duration::from_secs_f64(n as f64 / RATE as f64);
                if let Some(w) = due.checked_sub(t0.elapsed()) {
                    tokio::time::sleep(w).await;
                }
                let line = format!(
                    r#"{{"type":"device","event_id":"pg-{n}","mac":"02:00:00:00:{:02x}:{:02x}","ips":["10.0.0.{}"],"category":"camera","first_seen":"2026-11-25T00:00:00Z","last_seen":"2026-11-25T00:00:00Z"}}"#,
                    (n % 300) >> 8,
                    (n % 300) & 0xff,
                    n % 250
                );
                p.send(&subject, &line).await.unwrap();
            }
            p.flush(Duration::from_secs(60)).await.unwrap()
        })
    });

    std::thread::sleep(Duration::from_millis(1500));
    let data = cluster.data_dir().unwrap().join("data");
    let (pg_bin, opts) = start_options(&data);
    let before = store.event_count().unwrap();
    pg_tool(
        &data,
        &pg_bin.join("pg_ctl"),
        &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
    );
    eprintln!("PostgreSQL stopped for {outage} s after {before} events");
    std::thread::sleep(Duration::from_secs(outage));
    let log = data.parent().unwrap().join("restart.log");
    pg_tool(
        &data,
        &pg_bin.join("pg_ctl"),
        &[
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &opts,
            "-w",
            "start",
        ],
    );
    let stats = sensor.join().unwrap();
    assert_eq!(stats.acked, n_total, "{stats:?}");
    assert_eq!(stats.spool_pending, 0);
    wait_until(Duration::from_secs(90), "all events in PostgreSQL", || {
        store.event_count().map(|c| c >= n_total).unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(6)); // past ack_wait: any redelivery has landed
    assert_eq!(
        store.event_count().unwrap(),
        n_total,
        "none lost, none duplicated"
    );
    for n in (0..n_total).step_by(11) {
        assert!(store.has_event(&format!("pg-{n}")).unwrap(), "event {n}");
    }
    eprintln!("{n_total} events, PostgreSQL down {outage} s mid-stream: all stored once");
    let _ = std::fs::remove_dir_all(&dir);
}
