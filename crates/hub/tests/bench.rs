//! Hub benchmarks (ignored by default; figures in crates/hub/BENCH.md):
//!
//! ```text
//! cargo test --release -p palisade-hub --test bench -- --ignored --nocapture
//! ```
//!
//! 1. ingest into SQLite through the `Store` (the sensor path) and through `POST /api/v1/ingest`;
//! 2. `GET /api/v1/devices` latency (p50/p99) with 100,000 devices stored;
//! 3. console page render latency with the same data.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palisade_hub::client::{Trust, request};
use palisade_hub::store::{Role, SqliteStore, Store};
use palisade_hub::{Hub, HubConfig};

const DEVICES: usize = 100_000;
const BATCH: usize = 5_000;

fn mac(n: usize) -> String {
    format!(
        "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
        (n >> 24) & 0xff,
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

const CATS: [&str; 6] = ["camera", "printer", "plug", "tv", "thermostat", "phone"];

fn device_line(n: usize, pass: usize) -> String {
    format!(
        r#"{{"type":"device","mac":"{m}","ips":["10.{a}.{b}.{c}"],"vendor":"Vendor{v}","hostnames":["host-{n}"],"category":"{cat}","model":"M{v}","os":"Linux","confidence":0.87,"evidence":[{{"source":"dhcp","detail":"option 55 fingerprint 1,3,6,15,31,33","weight":0.6}},{{"source":"mdns","detail":"_rtsp._tcp.local","weight":0.3}}],"risk":{{"score":{r},"reasons":["telnet open","default credentials"]}},"services":[{{"port":23,"proto":"tcp","name":"telnet"}},{{"port":554,"proto":"tcp","name":"rtsp"}}],"first_seen":"2024-01-01T00:00:00.000000Z","last_seen":"2024-01-01T{h:02}:00:00.000000Z"}}"#,
        m = mac(n),
        a = pass,
        b = (n >> 8) & 0xff,
        c = n & 0xff,
        v = n % 97,
        cat = CATS[n % CATS.len()],
        r = (n * 7) % 101,
        h = pass + 1,
    )
}

fn alert_line(n: usize) -> String {
    format!(
        r#"{{"type":"alert","id":"bench-{n}","kind":"mirai.scan","severity":"{s}","device":"{m}","src":"10.0.{b}.{c}","dst":null,"first_seen":"2024-01-01T{h:02}:10:00.000000Z","last_seen":"2024-01-01T{h:02}:20:00.000000Z","count":3,"summary":"telnet scan of 40 hosts","evidence":{{"ports":[23,2323]}},"mitre":["T1046"]}}"#,
        s = ["low", "medium", "high", "critical"][n % 4],
        m = mac(n * 10 % DEVICES),
        b = (n >> 8) & 0xff,
        c = n & 0xff,
        h = n % 24,
    )
}

fn flow_line(n: usize) -> String {
    format!(
        r#"{{"type":"flow","src":"10.0.{}.{}","dst":"93.184.216.34","sport":{},"dport":443,"proto":"tcp","bytes":{n},"packets":12}}"#,
        (n >> 8) & 0xff,
        n & 0xff,
        1024 + n % 60000
    )
}

/// 300,000 events: 100,000 new devices, 100,000 re-reports of them with a new IP (history
/// rows), 50,000 alerts, 50,000 flows — in batches of 5,000 lines.
fn corpus() -> Vec<String> {
    let mut lines = Vec::with_capacity(300_000);
    lines.extend((0..DEVICES).map(|n| device_line(n, 0)));
    for n in 0..DEVICES / 2 {
        lines.push(device_line(2 * n, 1));
        lines.push(alert_line(n));
        lines.push(device_line(2 * n + 1, 1));
        lines.push(flow_line(n));
    }
    lines
        .chunks(BATCH)
        .map(|c| {
            let mut s = c.join("\n");
            s.push('\n');
            s
        })
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e3
}

struct Server {
    base: String,
    trust: Trust,
    _rt: tokio::runtime::Runtime,
}

fn serve(dir: &Path, tls: bool) -> (Server, Option<String>) {
    let hub = Hub::prepare(&HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        tls,
        ..HubConfig::default()
    })
    .unwrap();
    let pw = hub.initial_admin_password.clone();
    let trust = match &hub.cert_path {
        Some(p) => palisade_hub::client::pinned_from_pem(&std::fs::read(p).unwrap()).unwrap(),
        None => Trust::Any,
    };
    let scheme = hub.scheme();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let (addr, fut) = hub.bind(std::future::pending()).await.unwrap();
        tokio::spawn(fut);
        addr
    });
    (
        Server {
            base: format!("{scheme}://{addr}"),
            trust,
            _rt: rt,
        },
        pw,
    )
}

fn timed_get(s: &Server, path: &str, headers: &[(&str, &str)]) -> Duration {
    let t = Instant::now();
    let r = request("GET", &format!("{}{path}", s.base), headers, b"", &s.trust).unwrap();
    let d = t.elapsed();
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    d
}

#[test]
#[ignore = "benchmark: cargo test --release -p palisade-hub --test bench -- --ignored --nocapture"]
fn bench_hub() {
    let batches = corpus();
    let n_events: usize = batches.iter().map(|b| b.lines().count()).sum();
    let mb: f64 = batches.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    println!("corpus: {n_events} events, {mb:.1} MB NDJSON, batches of {BATCH}");

    // 1a. Straight into the store (what the in-process sensor does).
    let dir = tmp("store");
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("hub.db")).unwrap();
    let t = Instant::now();
    let mut per_batch = Vec::new();
    for b in &batches {
        let tb = Instant::now();
        let o = store.ingest_ndjson(b).unwrap();
        assert!(o.rejected.is_empty());
        per_batch.push(tb.elapsed());
    }
    let secs = t.elapsed().as_secs_f64();
    let slowest = per_batch.iter().max().unwrap().as_secs_f64();
    println!(
        "ingest via Store: {n_events} events in {secs:.2} s = {:.0} events/s (slowest batch {:.0} events/s)",
        n_events as f64 / secs,
        BATCH as f64 / slowest
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    if std::env::var_os("PALISADE_BENCH_INGEST_ONLY").is_some() {
        return;
    }

    // 1b. Over HTTP (what `palisade push` does); this data set then serves 2 and 3.
    let dir = tmp("http");
    let (srv, pw) = serve(&dir, true);
    let token = {
        let (secret, hash) = palisade_hub::new_token();
        let store = SqliteStore::open(&dir.join("hub.db")).unwrap();
        store
            .create_token("bench", Role::Analyst, &hash, "bench")
            .unwrap();
        secret
    };
    let auth = format!("Bearer {token}");
    let t = Instant::now();
    for b in &batches {
        let r = request(
            "POST",
            &format!("{}/api/v1/ingest", srv.base),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/x-ndjson"),
            ],
            b.as_bytes(),
            &srv.trust,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest via HTTPS POST /api/v1/ingest: {n_events} events in {secs:.2} s = {:.0} events/s",
        n_events as f64 / secs
    );

    // 2. Device list API with 100,000 devices stored.
    let paths: Vec<String> = (0..500)
        .map(|i| match i % 5 {
            0 => "/api/v1/devices".to_owned(),
            1 => format!("/api/v1/devices?sort=last_seen&offset={}", i * 50),
            2 => "/api/v1/devices?category=camera&sort=vendor&limit=100".to_owned(),
            3 => format!("/api/v1/devices?min_risk=90&offset={}", i % 200),
            _ => format!("/api/v1/devices?q=host-{}", i * 37),
        })
        .collect();
    for p in paths.iter().take(20) {
        timed_get(&srv, p, &[("Authorization", &auth)]); // warm-up
    }
    let mut by_mix: Vec<Vec<Duration>> = vec![Vec::new(); 5];
    let mut lat: Vec<Duration> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let d = timed_get(&srv, p, &[("Authorization", &auth)]);
            by_mix[i % 5].push(d);
            d
        })
        .collect();
    println!(
        "GET /api/v1/devices ({} requests, new TLS connection each, {DEVICES} devices): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(&mut lat, 0.50),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0)
    );
    for (i, mut l) in by_mix.into_iter().enumerate() {
        println!(
            "  like {}: p50 {:.1} ms, p99 {:.1} ms",
            paths[i],
            pct(&mut l, 0.50),
            pct(&mut l, 0.99)
        );
    }
    // Keyset pages: the cursor of the page at offset 25,000, then the page after it.
    let r = request(
        "GET",
        &format!("{}/api/v1/devices?sort=last_seen&offset=24950", srv.base),
        &[("Authorization", &auth)],
        b"",
        &srv.trust,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let cursor = v["next"].as_str().expect("a next cursor").to_owned();
    let deep = format!("/api/v1/devices?sort=last_seen&after={cursor}");
    let mut lat: Vec<Duration> = (0..100)
        .map(|_| timed_get(&srv, &deep, &[("Authorization", &auth)]))
        .collect();
    println!(
        "GET /api/v1/devices?sort=last_seen&after=<cursor at 25,000>: p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut lat, 0.50),
        pct(&mut lat, 0.99)
    );

    // 3. Console pages with the same data (logged-in session cookie).
    let pw = pw.unwrap();
    let (first, _) =
        palisade_hub::client::console_login(&srv.base, &srv.trust, "admin", &pw).unwrap();
    let cookie = palisade_hub::client::console_change_password(
        &srv.base,
        &srv.trust,
        &first,
        &pw,
        "bench-password-123",
    )
    .unwrap();
    let m = mac(4242);
    for page in [
        "/".to_owned(),
        "/devices".to_owned(),
        "/devices?sort=last_seen&page=100".to_owned(),
        format!("/devices/{m}"),
        "/alerts".to_owned(),
    ] {
        for _ in 0..3 {
            timed_get(&srv, &page, &[("Cookie", &cookie)]);
        }
        let mut lat: Vec<Duration> = (0..50)
            .map(|_| timed_get(&srv, &page, &[("Cookie", &cookie)]))
            .collect();
        println!(
            "console {page}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pct(&mut lat, 0.50),
            pct(&mut lat, 0.99),
            pct(&mut lat, 1.0)
        );
    }
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
