//! The hub over PostgreSQL (issue 13): `database_url` selects [`palisade_store::PgStore`]; a
//! real server is started by the test (`palisade_store::postgres::testing`). The same sensor
//! output (the demo home and, when shared/ is present, a real IoT-23 capture) is ingested
//! through the API into a SQLite hub and a PostgreSQL hub; the API must show the same devices,
//! alerts and statistics.

use std::path::PathBuf;

use palisade_hub::client::{Trust, console_change_password, console_login, request};
use palisade_hub::store::Role;
use palisade_hub::store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_hub::{Hub, HubConfig};
use serde_json::Value;

fn ndjson_of(pcaps: &[PathBuf]) -> String {
    let o = palisade_sensor::analyze(
        pcaps,
        &palisade_sensor::AnalyzeOptions::default(),
        Box::new(palisade_sensor::NullSink),
        None,
    );
    o.report.device_and_alert_ndjson().unwrap()
}

fn inputs(dir: &std::path::Path) -> Vec<String> {
    let demo = dir.join("demo.pcap");
    std::fs::write(
        &demo,
        palisade_sim::generate(&palisade_sim::SimConfig::default()),
    )
    .unwrap();
    let mut out = vec![ndjson_of(&[demo])];
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let real = shared.join(
        "datasets/iot23/CTU-IoT-Malware-Capture-34-1/2018-12-21-15-50-14-192.168.1.195.irc.pcap",
    );
    if real.is_file() {
        out.push(ndjson_of(&[real]));
    } else {
        eprintln!("shared/ absent: the real IoT-23 capture part is skipped");
    }
    out
}

struct Served {
    base: String,
    cookie: String,
    token: String,
    _rt: tokio::runtime::Runtime,
}

fn serve(data_dir: PathBuf, database_url: Option<String>) -> Served {
    let cfg = HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        tls: false,
        database_url,
        ..HubConfig::default()
    };
    let hub = Hub::prepare(&cfg).unwrap();
    let pw = hub.initial_admin_password.clone().unwrap();
    let (token, hash) = palisade_hub::new_token();
    hub.store()
        .create_token("sensor", Role::Analyst, &hash, "test")
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let (addr, fut) = hub.bind(std::future::pending()).await.unwrap();
        tokio::spawn(fut);
        addr
    });
    let base = format!("http://{addr}");
    let (cookie, must_change) = console_login(&base, &Trust::Any, "admin", &pw).unwrap();
    assert!(must_change);
    console_change_password(&base, &Trust::Any, &cookie, &pw, "a-new-long-password-1").unwrap();
    let (cookie, must_change) =
        console_login(&base, &Trust::Any, "admin", "a-new-long-password-1").unwrap();
    assert!(!must_change);
    Served {
        base,
        cookie,
        token,
        _rt: rt,
    }
}

impl Served {
    fn get(&self, path: &str) -> Value {
        let r = request(
            "GET",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie)],
            b"",
            &Trust::Any,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }
    fn ingest(&self, body: &str) -> Value {
        let auth = format!("Bearer {}", self.token);
        let r = request(
            "POST",
            &format!("{}/api/v1/ingest", self.base),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/x-ndjson"),
            ],
            body.as_bytes(),
            &Trust::Any,
        )
        .unwrap();
        assert_eq!(r.status, 200, "ingest: {}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }
}

/// Stats groups with count ties in key order (SQLite leaves their order unspecified).
fn sorted_stats(mut v: Value) -> Value {
    for k in [
        "devices_by_category",
        "alerts_by_severity",
        "alerts_by_state",
    ] {
        if let Some(a) = v[k].as_array_mut() {
            a.sort_by(|x, y| {
                y[1].as_u64()
                    .cmp(&x[1].as_u64())
                    .then_with(|| x[0].as_str().cmp(&y[0].as_str()))
            });
        }
    }
    v
}

#[test]
fn hub_over_postgres_shows_what_the_sqlite_hub_shows() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("palisade-hub-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bodies = inputs(&dir);
    let url = cluster.fresh_database("hubapi").unwrap();
    let lite = serve(dir.join("lite"), None);
    let pg = serve(dir.join("pg"), Some(url));
    for body in &bodies {
        let a = lite.ingest(body);
        let b = pg.ingest(body);
        assert_eq!(a, b, "ingest outcome");
        assert!(a["accepted"].as_u64().unwrap() > 0, "{a}");
        // Idempotent over the API as well.
        let again = pg.ingest(body);
        assert_eq!(again["accepted"], 0);
    }
    let devices = pg.get("/api/v1/devices?limit=1000");
    assert!(devices["total"].as_u64().unwrap() >= 5, "{devices}");
    assert_eq!(lite.get("/api/v1/devices?limit=1000"), devices);
    for sort in ["mac", "vendor", "last_seen", "category"] {
        let q = format!("/api/v1/devices?limit=3&sort={sort}");
        assert_eq!(lite.get(&q), pg.get(&q), "{q}");
    }
    let alerts = pg.get("/api/v1/alerts?limit=1000");
    assert!(alerts["total"].as_u64().unwrap() > 0);
    assert_eq!(lite.get("/api/v1/alerts?limit=1000"), alerts);
    let mac = devices["items"][0]["mac"].as_str().unwrap();
    let path = format!("/api/v1/devices/{mac}");
    assert_eq!(lite.get(&path), pg.get(&path));
    assert_eq!(
        sorted_stats(lite.get("/api/v1/stats")),
        sorted_stats(pg.get("/api/v1/stats"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hub on loopback with its store (for tokens); `database_url` as in [`serve`].
fn serve_with_store(
    data_dir: PathBuf,
    database_url: Option<String>,
) -> (
    String,
    std::sync::Arc<dyn palisade_hub::store::Store>,
    tokio::runtime::Runtime,
) {
    let hub = Hub::prepare(&HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        tls: false,
        database_url,
        ..HubConfig::default()
    })
    .unwrap();
    let store = hub.store();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let (addr, fut) = hub.bind(std::future::pending()).await.unwrap();
        tokio::spawn(fut);
        addr
    });
    (format!("http://{addr}"), store, rt)
}

/// Replaces the times a hub takes from its own clock (they differ between two hubs).
fn without_clock(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for k in [
                    "created_at",
                    "updated_at",
                    "reported_at",
                    "set_at",
                    "expires_at",
                ] {
                    if let Some(x) = o.get_mut(k)
                        && x.is_i64()
                    {
                        *x = Value::from("<time>");
                    }
                }
                o.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// Zones (issue 8) and rollouts (issue 9) over the API of a PostgreSQL hub: the same calls as
/// on a SQLite hub give the same statuses and bodies (clock fields aside), and the results are
/// the expected ones (checked on the PostgreSQL side).
#[test]
fn zones_and_rollouts_over_postgres_answer_as_over_sqlite() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("palisade-hub-pgzr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = cluster.fresh_database("hubzr").unwrap();
    let hubs = [
        serve_with_store(dir.join("lite"), None),
        serve_with_store(dir.join("pg"), Some(url)),
    ];
    let tokens: Vec<(String, String)> = hubs
        .iter()
        .map(|(_, store, _)| {
            let mut t = Vec::new();
            for role in [Role::Admin, Role::Analyst] {
                let (secret, hash) = palisade_hub::new_token();
                store.create_token("t", role, &hash, "test").unwrap();
                t.push(secret);
            }
            (t[0].clone(), t[1].clone())
        })
        .collect();
    let calls: &[(&str, &str, bool, &str)] = &[
        ("GET", "/zones", false, ""),
        (
            "PUT",
            "/zones/cams",
            true,
            r#"{"description":"CCTV","isolation":"policy"}"#,
        ),
        ("PUT", "/zones/cams", false, r#"{"isolation":"open"}"#),
        ("PUT", "/zones/quarantine", true, r#"{"isolation":"open"}"#),
        ("PUT", "/zones/Bad", true, r#"{"isolation":"open"}"#),
        (
            "PUT",
            "/devices/AA:BB:CC:00:00:01/zone",
            false,
            r#"{"zone":"quarantine","reason":"mirai","expires_in_s":600}"#,
        ),
        (
            "PUT",
            "/devices/aa:bb:cc:00:00:02/zone",
            false,
            r#"{"zone":"cams"}"#,
        ),
        (
            "PUT",
            "/devices/aa:bb:cc:00:00:03/zone",
            false,
            r#"{"zone":"nowhere"}"#,
        ),
        ("GET", "/devices/aa:bb:cc:00:00:01/zone", false, ""),
        ("GET", "/devices/aa:bb:cc:00:00:09/zone", false, ""),
        ("GET", "/zone-assignments", false, ""),
        ("GET", "/zone-assignments?zone=cams", false, ""),
        ("GET", "/zones", false, ""),
        ("DELETE", "/zones/cams", true, ""),
        ("DELETE", "/zones/iot", true, ""),
        (
            "POST",
            "/rollouts",
            true,
            r#"{"target":"fw.bin","percent":100,"max_failure_rate":0.3,"min_reports":2}"#,
        ),
        (
            "POST",
            "/rollouts",
            true,
            r#"{"target":"fw.bin","percent":10}"#,
        ),
        (
            "POST",
            "/rollout/reports",
            false,
            r#"{"device":"d1","target":"fw.bin","result":"updated","running_version":"1.1.0","security_counter":3}"#,
        ),
        (
            "POST",
            "/rollout/reports",
            false,
            r#"{"device":"d2","target":"fw.bin","result":"reverted"}"#,
        ),
        (
            "POST",
            "/rollout/reports",
            false,
            r#"{"device":"d3","target":"fw.bin","result":"pwned"}"#,
        ),
        ("GET", "/rollouts", false, ""),
        ("GET", "/device-updates", false, ""),
        (
            "POST",
            "/rollouts/1",
            true,
            r#"{"state":"active","percent":50}"#,
        ),
        ("POST", "/rollouts/1", true, r#"{"state":"completed"}"#),
        ("POST", "/rollouts/1", true, r#"{"state":"active"}"#),
        ("GET", "/rollouts", false, ""),
    ];
    let mut answers: Vec<Vec<(u16, Value)>> = vec![Vec::new(), Vec::new()];
    for (i, (base, _, _)) in hubs.iter().enumerate() {
        for (method, path, as_admin, body) in calls {
            let token = if *as_admin {
                &tokens[i].0
            } else {
                &tokens[i].1
            };
            let auth = format!("Bearer {token}");
            let r = request(
                method,
                &format!("{base}/api/v1{path}"),
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                body.as_bytes(),
                &Trust::Any,
            )
            .unwrap();
            let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            answers[i].push((r.status, without_clock(v)));
        }
    }
    for ((call, lite), pg) in calls.iter().zip(&answers[0]).zip(&answers[1]) {
        assert_eq!(lite, pg, "{call:?}: SQLite and PostgreSQL hubs differ");
    }
    let statuses: Vec<u16> = answers[1].iter().map(|a| a.0).collect();
    assert_eq!(
        statuses,
        [
            200, 200, 403, 409, 400, 200, 200, 400, 200, 200, 200, 200, 200, 409, 409, 201, 409,
            200, 200, 400, 200, 200, 200, 200, 409, 200
        ],
        "statuses of the calls, in order"
    );
    let pg = &answers[1];
    assert_eq!(pg[8].1["zone"], "quarantine");
    assert_eq!(pg[12].1[3]["devices"], 1, "{}", pg[12].1);
    // Two reports, one failed: 50% > 30% after 2 reports, paused automatically.
    assert_eq!(pg[20].1[0]["state"], "paused", "{}", pg[20].1);
    assert_eq!(pg[21].1["total"], 2);
    assert_eq!(pg[25].1[0]["state"], "completed");
    let _ = std::fs::remove_dir_all(&dir);
}
