//! Crash safety: the hub is killed with SIGKILL while a large NDJSON stream is being ingested
//! over HTTP; after a restart every event whose batch was acknowledged (HTTP 200) is present,
//! the batch in flight is either wholly present or wholly absent, nothing is duplicated, and
//! re-sending the whole stream stores each event exactly once.
//!
//! The server runs in a child process: this test binary re-executes itself with
//! `PALISADE_CRASH_CHILD_DIR` set, which makes [`crash_child`] serve the hub until killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use palisade_hub::client::{Trust, request};
use palisade_hub::store::{Role, SqliteStore, Store};
use palisade_hub::{Hub, HubConfig};
use serde_json::Value;

const CHILD_ENV: &str = "PALISADE_CRASH_CHILD_DIR";
const BATCHES: usize = 60;
const PER_BATCH: usize = 2000;

fn cfg(dir: &Path) -> HubConfig {
    HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        tls: false,
        ..HubConfig::default()
    }
}

/// Not a test of its own: the server half of [`sigkill_during_ingest_loses_no_acknowledged_event`].
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let hub = Hub::prepare(&cfg(Path::new(&dir))).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (addr, fut) = hub.bind(std::future::pending()).await.unwrap();
        println!("LISTEN {addr}");
        fut.await.unwrap();
    });
}

fn spawn_server(dir: &Path) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let l = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        // libtest prints "test crash_child ... " on the same line first.
        if let Some((_, a)) = l.split_once("LISTEN ") {
            break a.trim().to_owned();
        }
    };
    // Keep draining the child's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

/// Batch `b` of the stream: devices (a tenth re-reporting earlier MACs with a new IP), alerts
/// and flows, each line with an explicit event id.
fn batch(b: usize) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut ids = Vec::with_capacity(PER_BATCH);
    for i in 0..PER_BATCH {
        let n = b * PER_BATCH + i;
        let id = format!("ev-{n}");
        let line = match n % 4 {
            0 | 1 => {
                let m = if n.is_multiple_of(40) { n / 2 } else { n };
                format!(
                    r#"{{"type":"device","event_id":"{id}","mac":"02:00:{:02x}:{:02x}:{:02x}:{:02x}","ips":["10.{}.{}.{}"],"vendor":"Acme","category":"camera","risk":{{"score":{}}},"first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-01T01:00:00Z"}}"#,
                    (m >> 24) & 0xff,
                    (m >> 16) & 0xff,
                    (m >> 8) & 0xff,
                    m & 0xff,
                    (n >> 16) & 0xff,
                    (n >> 8) & 0xff,
                    n & 0xff,
                    n % 100
                )
            }
            2 => format!(
                r#"{{"type":"alert","event_id":"{id}","id":"alert-{n}","kind":"mirai.scan","severity":"high","device":"02:00:00:00:00:01","first_seen":"2024-01-01T00:10:00Z","last_seen":"2024-01-01T00:20:00Z","count":3,"summary":"telnet scan","evidence":{{}},"mitre":["T1046"]}}"#
            ),
            _ => format!(
                r#"{{"type":"flow","event_id":"{id}","src":"10.0.0.1","dst":"10.0.0.2","bytes":{n}}}"#
            ),
        };
        s.push_str(&line);
        s.push('\n');
        ids.push(id);
    }
    (s, ids)
}

fn post(base: &str, token: &str, body: &str) -> Result<Value, String> {
    let auth = format!("Bearer {token}");
    let r = request(
        "POST",
        &format!("{base}/api/v1/ingest"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-ndjson"),
        ],
        body.as_bytes(),
        &Trust::Any,
    )?;
    if r.status != 200 {
        return Err(format!("status {}: {}", r.status, r.text()));
    }
    serde_json::from_slice(&r.body).map_err(|e| e.to_string())
}

fn kill(child: &mut Child) {
    // std's Child::kill sends SIGKILL on Unix.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigkill_during_ingest_loses_no_acknowledged_event() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("palisade-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // First start (admin, KEK, schema), then an ingest token written straight into the store.
    let token = {
        let hub = Hub::prepare(&cfg(&dir)).unwrap();
        let (secret, hash) = palisade_hub::new_token();
        hub.store()
            .create_token("crash-test", Role::Analyst, &hash, "test")
            .unwrap();
        secret
    };
    let batches: Vec<(String, Vec<String>)> = (0..BATCHES).map(batch).collect();
    let batches = Arc::new(batches);

    let (mut child, base) = spawn_server(&dir);
    let acked = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (batches, acked, base, token) =
            (batches.clone(), acked.clone(), base.clone(), token.clone());
        std::thread::spawn(move || {
            for (body, _) in batches.iter() {
                match post(&base, &token, body) {
                    Ok(v) => {
                        assert_eq!(v["accepted"].as_u64(), Some(PER_BATCH as u64 * 3 / 4));
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => return, // the server died mid-request
                }
            }
        })
    };
    // Kill while the stream is flowing: after a few acknowledged batches, a little into the next.
    let t0 = Instant::now();
    while acked.load(Ordering::SeqCst) < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "ingest too slow: {} batches in 60 s",
            acked.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(7));
    kill(&mut child);
    sender.join().unwrap();
    let n_acked = acked.load(Ordering::SeqCst);
    assert!(
        n_acked < BATCHES,
        "the whole stream was acknowledged before the kill; nothing was in flight"
    );
    eprintln!("killed after {n_acked} acknowledged batches of {PER_BATCH}");

    // Restart on the same data directory (WAL recovery happens on open).
    let (mut child, base) = spawn_server(&dir);
    let store = SqliteStore::open(&dir.join("hub.db")).unwrap();
    for (_, ids) in &batches[..n_acked] {
        for id in ids {
            assert!(store.has_event(id).unwrap(), "acknowledged event {id} lost");
        }
    }
    // The batch in flight is one transaction: all of it or none of it.
    let inflight = &batches[n_acked].1;
    let present = inflight
        .iter()
        .filter(|id| store.has_event(id).unwrap())
        .count();
    assert!(
        present == 0 || present == inflight.len(),
        "the in-flight batch is partially stored: {present} of {}",
        inflight.len()
    );
    let stored_batches = n_acked + usize::from(present > 0);
    for (_, ids) in &batches[stored_batches..] {
        assert!(!store.has_event(&ids[0]).unwrap());
    }
    let events = store.event_count().unwrap();
    assert_eq!(
        events as usize,
        stored_batches * PER_BATCH,
        "duplicated or stray events"
    );
    // Sensor alerts only (first sight of each device also raised a `device.new`).
    let scans = store
        .list_alerts(&palisade_hub::store::AlertQuery {
            kind: Some("mirai.scan".into()),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(scans.total as usize, stored_batches * PER_BATCH / 4);

    // Replaying the whole stream (what a client does after a lost acknowledgement) stores every
    // event once: exactly the stored ones come back as duplicates.
    let (mut new, mut dup) = (0u64, 0u64);
    for (body, _) in batches.iter() {
        let v = post(&base, &token, body).unwrap();
        new += v["accepted"].as_u64().unwrap() + v["ignored"].as_u64().unwrap();
        dup += v["duplicates"].as_u64().unwrap();
    }
    assert_eq!(dup as usize, stored_batches * PER_BATCH);
    assert_eq!(new + dup, (BATCHES * PER_BATCH) as u64);
    assert_eq!(store.event_count().unwrap() as usize, BATCHES * PER_BATCH);
    let stats = store.stats().unwrap();
    // Device events: two per four lines, one in twenty re-reporting an earlier MAC.
    let macs: std::collections::HashSet<usize> = (0..BATCHES * PER_BATCH)
        .filter(|n| n % 4 < 2)
        .map(|n| if n.is_multiple_of(40) { n / 2 } else { n })
        .collect();
    assert_eq!(stats.devices as usize, macs.len());
    // One sensor alert per four lines, plus one `device.new` per distinct device.
    assert_eq!(stats.alerts as usize, BATCHES * PER_BATCH / 4 + macs.len());
    kill(&mut child);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
