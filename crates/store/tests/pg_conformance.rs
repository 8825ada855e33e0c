//! The same operations and assertions against [`SqliteStore`] and [`PgStore`] (a real
//! PostgreSQL started by the test, see `palisade_store::postgres::testing`); both must give
//! the same results, compared whole (time-of-day fields aside).

use std::path::PathBuf;

use palisade_store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_store::*;
use serde_json::{Value, json};

/// Device, alert, flow and stats events with the defects sensors can send (bad JSON, unknown
/// type, no MAC, a repeated line), in two months (two partitions).
fn fixture() -> String {
    let mut s = String::new();
    s.push_str(r#"{"type":"device","mac":"aa:bb:cc:00:00:01","ips":["10.0.0.5"],"vendor":"Acme","hostnames":["cam"],"category":"camera","model":null,"os":null,"confidence":0.9,"evidence":[{"source":"dhcp","detail":"x","weight":1.0}],"risk":{"score":80,"reasons":["telnet open"]},"first_seen":"2024-01-01T00:00:00.000000Z","last_seen":"2024-01-01T01:00:00.000000Z"}"#);
    s.push('\n');
    s.push_str(r#"{"type":"device","mac":"aa:bb:cc:00:00:02","ips":["10.0.0.6"],"vendor":"Other","hostnames":[],"category":"printer","confidence":0.5,"evidence":[],"risk":{"score":10,"reasons":[]},"first_seen":"2024-01-01T00:00:00.000000Z","last_seen":"2024-02-01T00:30:00.000000Z"}"#);
    s.push('\n');
    s.push_str(r#"{"type":"alert","id":"A1","kind":"mirai.scan","severity":"high","device":"aa:bb:cc:00:00:01","src":"10.0.0.5","dst":null,"first_seen":"2024-01-01T00:10:00.000000Z","last_seen":"2024-01-01T00:20:00.000000Z","count":3,"summary":"scan","evidence":{"ports":[23,2323]},"mitre":["T1046"]}"#);
    s.push('\n');
    s.push_str(r#"{"type":"alert","id":"A2","kind":"dns.tunnel","severity":"medium","device":"aa:bb:cc:00:00:02","src":"10.0.0.6","dst":"8.8.8.8","first_seen":"2024-02-01T00:10:00Z","last_seen":"2024-02-01T00:20:00Z","count":1,"summary":"long names","evidence":null,"mitre":[]}"#);
    s.push('\n');
    // The same alert id again in the batch, later and with more hits: merged.
    s.push_str(r#"{"type":"alert","id":"A1","kind":"mirai.scan","severity":"critical","device":"aa:bb:cc:00:00:01","src":"10.0.0.5","dst":null,"first_seen":"2023-12-31T23:00:00Z","last_seen":"2024-01-02T00:00:00Z","count":7,"summary":"scan again","evidence":{},"mitre":["T1046","T1110"]}"#);
    s.push('\n');
    for i in 0..20 {
        s.push_str(&format!(
            r#"{{"type":"flow","proto":6,"src":"10.0.0.5","src_port":{},"dst":"1.2.3.4","dst_port":443,"first_seen":"2024-01-01T00:00:{:02}Z","last_seen":"2024-0{}-01T00:00:{:02}Z"}}"#,
            40000 + i,
            i,
            1 + i % 2,
            i
        ));
        s.push('\n');
    }
    s.push_str(r#"{"type":"flow","proto":6,"src":"10.0.0.5","src_port":40000,"dst":"1.2.3.4","dst_port":80,"first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-01T00:00:00Z"}"#);
    s.push('\n');
    // A repeated line (same content, same id) in the same batch.
    s.push_str(r#"{"type":"flow","proto":6,"src":"10.0.0.5","src_port":40000,"dst":"1.2.3.4","dst_port":443,"first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-01T00:00:00Z"}"#);
    s.push('\n');
    s.push_str(r#"{"type":"stats","summary":{}}"#);
    s.push('\n');
    s.push_str(r#"{"type":"flow","event_id":"explicit-1","last_seen":12345}"#);
    s.push('\n');
    s.push_str("not json\n");
    s.push_str("{\"type\":\"bogus\"}\n");
    s.push_str("{\"type\":\"device\",\"ips\":[]}\n");
    s.push_str("{\"type\":\"alert\",\"kind\":\"x\"}\n");
    s.push_str("{\"mac\":\"aa\",\"type\":\"device\",\"ips\":7}\n");
    s
}

/// Many devices with NULL vendors and ties on every sort key.
fn many_devices(n: usize) -> String {
    let mut body = String::new();
    for i in 0..n {
        let vendor = if i % 5 == 0 {
            "null".to_owned()
        } else {
            format!("\"V{}\"", i % 7)
        };
        body.push_str(&format!(
            r#"{{"type":"device","mac":"02:00:00:00:{:02x}:{:02x}","ips":["10.0.0.{}"],"vendor":{vendor},"hostnames":["h{i}"],"category":"{}","risk":{{"score":{}}},"first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-01T0{}:00:00Z"}}"#,
            i / 256,
            i % 256,
            i % 250,
            ["camera", "tv", "plug"][i % 3],
            (i * 13) % 11,
            i % 4
        ));
        body.push('\n');
    }
    body
}

/// Drops the fields that hold the wall-clock time of the run.
fn scrub(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for k in ["at", "created_at", "state_at"] {
                    if let Some(x) = o.get_mut(k)
                        && x.is_i64()
                    {
                        *x = json!("<time>");
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

fn j<T: serde::Serialize>(t: &T) -> Value {
    scrub(serde_json::to_value(t).unwrap())
}

/// Stats with count ties in key order (SQLite leaves the order of equal counts unspecified).
fn stats_json(st: &Stats) -> Value {
    let mut st = st.clone();
    for g in [
        &mut st.devices_by_category,
        &mut st.alerts_by_severity,
        &mut st.alerts_by_state,
    ] {
        g.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    j(&st)
}

fn outcome(o: &IngestOutcome) -> Value {
    json!([o.accepted, o.duplicates, o.ignored, o.rejected])
}

/// Every operation of the trait, with assertions; returns what each returned.
fn exercise(s: &dyn Store, expires: i64) -> Value {
    let mut snap = serde_json::Map::new();
    let body = fixture();
    let o = s.ingest_ndjson(&body).unwrap();
    // 2 devices + 3 alert lines + 21 distinct flows + stats + explicit id; 1 repeat; 5 bad.
    assert_eq!(
        (o.accepted, o.duplicates, o.ignored, o.rejected.len()),
        (5, 1, 23, 5),
        "{:?}",
        o.rejected
    );
    snap.insert("ingest1".into(), outcome(&o));
    let events = s.event_count().unwrap();
    assert_eq!(events, 28);
    // Idempotent: the same NDJSON again stores nothing new.
    let o = s.ingest_ndjson(&body).unwrap();
    assert_eq!((o.accepted, o.ignored, o.duplicates), (0, 0, 29));
    assert_eq!(s.event_count().unwrap(), events);
    snap.insert("ingest2".into(), outcome(&o));
    assert!(s.has_event("explicit-1").unwrap());
    assert!(!s.has_event("explicit-2").unwrap());

    let (a1, _) = s.alert("A1").unwrap().unwrap();
    assert_eq!(
        (
            a1.count,
            a1.severity.as_str(),
            a1.first_seen.as_str(),
            a1.last_seen.as_str()
        ),
        (
            7,
            "critical",
            "2023-12-31T23:00:00Z",
            "2024-01-02T00:00:00Z"
        )
    );

    let o = s.ingest_ndjson(&many_devices(60)).unwrap();
    assert_eq!(o.accepted, 60);
    // Every sort, both directions, by offset and by cursor: the same pages.
    let mut pages = Vec::new();
    for sort in [
        DeviceSort::Risk,
        DeviceSort::LastSeen,
        DeviceSort::Mac,
        DeviceSort::Vendor,
        DeviceSort::Category,
    ] {
        for asc in [None, Some(true), Some(false)] {
            let mut after = None;
            let mut by_cursor = Vec::new();
            for page in 0..20u64 {
                let q = DeviceQuery {
                    sort,
                    asc,
                    limit: 7,
                    after: after.clone(),
                    ..Default::default()
                };
                let p = s.list_devices(&q).unwrap();
                let by_offset = s
                    .list_devices(&DeviceQuery {
                        sort,
                        asc,
                        limit: 7,
                        offset: page * 7,
                        ..Default::default()
                    })
                    .unwrap();
                let macs: Vec<&str> = p.items.iter().map(|d| d.mac.as_str()).collect();
                let omacs: Vec<&str> = by_offset.items.iter().map(|d| d.mac.as_str()).collect();
                assert_eq!(macs, omacs, "{sort:?} {asc:?} page {page}");
                assert_eq!(p.total, 62);
                by_cursor.extend(p.items.iter().map(|d| d.mac.clone()));
                match p.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            assert_eq!(by_cursor.len(), 62, "{sort:?} {asc:?}");
            pages.push(json!([format!("{sort:?}"), asc, by_cursor]));
        }
    }
    snap.insert("pages".into(), Value::Array(pages));
    let filtered = [
        DeviceQuery {
            q: Some("10.0.0.6".into()),
            limit: 50,
            ..Default::default()
        },
        DeviceQuery {
            q: Some("V3 ".into()),
            sort: DeviceSort::Mac,
            limit: 4,
            offset: 2,
            ..Default::default()
        },
        DeviceQuery {
            category: Some("printer".into()),
            limit: 10,
            ..Default::default()
        },
        DeviceQuery {
            min_risk: Some(8),
            category: Some("tv".into()),
            limit: 100,
            ..Default::default()
        },
    ];
    let filtered: Vec<Value> = filtered
        .iter()
        .map(|q| j(&s.list_devices(q).unwrap()))
        .collect();
    assert_eq!(filtered[2]["total"], 1);
    snap.insert("filtered".into(), Value::Array(filtered));
    assert!(matches!(
        s.list_devices(&DeviceQuery {
            after: Some("zz".into()),
            limit: 5,
            ..Default::default()
        }),
        Err(StoreError::Invalid(_))
    ));

    // A changed IP becomes a timeline entry.
    let changed = body
        .lines()
        .next()
        .unwrap()
        .replace("10.0.0.5", "10.0.0.9")
        .replace("\"cam\"", "\"cam2\"");
    assert_eq!(s.ingest_ndjson(&changed).unwrap().accepted, 1);
    let det = s.device("aa:bb:cc:00:00:01").unwrap().unwrap();
    assert!(det.timeline.iter().any(|h| h.field == "ips"
        && h.old.as_deref() == Some("10.0.0.5")
        && h.new.as_deref() == Some("10.0.0.9")));
    assert_eq!(det.report["risk"]["score"], 80);
    assert!(det.report.get("type").is_none());
    snap.insert("device1".into(), j(&det));
    snap.insert("device2".into(), j(&s.device("aa:bb:cc:00:00:02").unwrap()));
    assert!(s.device("ff:ff:ff:ff:ff:ff").unwrap().is_none());

    // Alerts: filters and pages.
    let mut alert_pages = Vec::new();
    for q in [
        AlertQuery {
            limit: 3,
            ..Default::default()
        },
        AlertQuery {
            limit: 3,
            offset: 3,
            ..Default::default()
        },
        AlertQuery {
            state: Some(TriageState::New),
            kind: Some("device.new".into()),
            limit: 100,
            ..Default::default()
        },
        AlertQuery {
            severity: Some("medium".into()),
            limit: 10,
            ..Default::default()
        },
        AlertQuery {
            device: Some("aa:bb:cc:00:00:01".into()),
            limit: 10,
            ..Default::default()
        },
    ] {
        alert_pages.push(j(&s.list_alerts(&q).unwrap()));
    }
    assert_eq!(alert_pages[2]["total"], 62, "one device.new per device");
    assert_eq!(alert_pages[4]["total"], 2);
    snap.insert("alerts".into(), Value::Array(alert_pages));

    // Triage.
    assert!(matches!(
        s.triage("A1", TriageState::Resolved, "", "bob"),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.triage("nope", TriageState::Acknowledged, "", "bob"),
        Err(StoreError::NotFound)
    ));
    let a = s
        .triage("A1", TriageState::Acknowledged, "looking", "bob")
        .unwrap();
    assert_eq!(a.state, TriageState::Acknowledged);
    s.triage("A1", TriageState::FalsePositive, "lab box", "bob")
        .unwrap();
    s.triage("A1", TriageState::New, "again", "eve").unwrap();
    let (a, tr) = s.alert("A1").unwrap().unwrap();
    assert_eq!(tr.len(), 3);
    assert_eq!(a.state_user.as_deref(), Some("eve"));
    snap.insert("triaged".into(), j(&(a, tr)));
    // Re-ingest keeps the triage state and merges the count.
    let upd = body
        .lines()
        .nth(2)
        .unwrap()
        .replace("\"count\":3", "\"count\":9");
    s.ingest_ndjson(&upd).unwrap();
    let (a, _) = s.alert("A1").unwrap().unwrap();
    assert_eq!((a.state, a.count), (TriageState::New, 9));

    // Suppression: new matching alerts are stored as expected; old ones keep their state.
    let rule = s
        .create_suppression(Some("dns.tunnel"), None, "resolver", "ann", None)
        .unwrap();
    let rule2 = s
        .create_suppression(None, Some("aa:bb:cc:00:00:09"), "lab", "ann", Some(expires))
        .unwrap();
    assert!(matches!(
        s.create_suppression(None, None, "x", "ann", None),
        Err(StoreError::Invalid(_))
    ));
    s.ingest_ndjson(concat!(
        r#"{"type":"alert","id":"A3","kind":"dns.tunnel","severity":"low","device":"aa:bb:cc:00:00:01","first_seen":"2024-03-01T00:00:00Z","last_seen":"2024-03-01T00:00:00Z","count":1,"summary":"s"}"#,
        "\n",
        r#"{"type":"device","mac":"aa:bb:cc:00:00:09","ips":[],"category":"plug","first_seen":"2024-03-01T00:00:00Z","last_seen":"2024-03-01T00:00:00Z"}"#,
        "\n"
    ))
    .unwrap();
    let (a3, _) = s.alert("A3").unwrap().unwrap();
    assert_eq!(a3.state, TriageState::Expected);
    assert_eq!(
        a3.state_user.as_deref(),
        Some(format!("suppression:{}", rule.id).as_str())
    );
    let (dn, _) = s.alert("device.new-aabbcc000009").unwrap().unwrap();
    assert_eq!(dn.state, TriageState::Expected);
    assert_eq!(s.alert("A2").unwrap().unwrap().0.state, TriageState::New);
    snap.insert("a3".into(), j(&a3));
    snap.insert(
        "suppressions".into(),
        j(&s.list_suppressions(false).unwrap()),
    );
    s.delete_suppression(rule2.id).unwrap();
    assert!(matches!(
        s.delete_suppression(rule2.id),
        Err(StoreError::NotFound)
    ));
    snap.insert(
        "suppressions2".into(),
        j(&s.list_suppressions(true).unwrap()),
    );

    // Live stream.
    let (first, seq) = s.alerts_since(0).unwrap();
    assert!(!first.is_empty());
    let (none, seq2) = s.alerts_since(seq).unwrap();
    assert!(none.is_empty());
    assert_eq!(seq, seq2);
    let (empty, top) = s.alerts_since(-1).unwrap();
    assert!(empty.is_empty() && top >= 1);
    snap.insert(
        "since".into(),
        json!(first.iter().map(|a| a.id.clone()).collect::<Vec<_>>()),
    );

    // Users, tokens, sessions.
    assert_eq!(s.user_count().unwrap(), 0);
    let ann = s.create_user("ann", Role::Admin, "h1").unwrap();
    let bob = s.create_user("bob", Role::Viewer, "h2").unwrap();
    assert_eq!(s.user_by_name("bob").unwrap().unwrap().role, Role::Viewer);
    assert!(s.user_by_name("zed").unwrap().is_none());
    let h1 = [1u8; 32];
    let h2 = [2u8; 32];
    s.create_session(&h1, ann.id, "csrf1", expires).unwrap();
    s.create_session(&h2, bob.id, "csrf2", expires).unwrap();
    let sess = s.session(&h1, expires - 10).unwrap().unwrap();
    assert_eq!(
        (sess.user.name.as_str(), sess.csrf.as_str()),
        ("ann", "csrf1")
    );
    assert!(s.session(&h1, expires + 1).unwrap().is_none(), "expired");
    s.set_password(ann.id, "h1b", true).unwrap();
    assert!(
        s.session(&h1, expires - 10).unwrap().is_none(),
        "ended by the new password"
    );
    assert!(s.user_by_name("ann").unwrap().unwrap().must_change_password);
    assert!(matches!(
        s.set_password(999, "x", false),
        Err(StoreError::NotFound)
    ));
    s.delete_session(&h2).unwrap();
    assert!(s.session(&h2, expires - 10).unwrap().is_none());
    let t1 = s
        .create_token("ci", Role::Analyst, &[7u8; 32], "ann")
        .unwrap();
    s.create_token("old", Role::Viewer, &[8u8; 32], "ann")
        .unwrap();
    assert_eq!(s.token_by_hash(&[7u8; 32]).unwrap().unwrap().id, t1.id);
    s.revoke_token(t1.id).unwrap();
    assert!(s.token_by_hash(&[7u8; 32]).unwrap().is_none());
    assert!(matches!(s.revoke_token(999), Err(StoreError::NotFound)));
    snap.insert("users".into(), j(&s.list_users().unwrap()));
    snap.insert("tokens".into(), j(&s.list_tokens().unwrap()));
    assert!(matches!(
        s.create_user("bob", Role::Admin, "x"),
        Err(StoreError::Conflict(_))
    ));

    // Secrets and KEK rotation.
    s.put_secret("b", b"sealed-b").unwrap();
    s.put_secret("a", b"sealed-a").unwrap();
    s.put_secret("b", b"sealed-b2").unwrap();
    assert_eq!(s.secret("b").unwrap().as_deref(), Some(&b"sealed-b2"[..]));
    assert!(s.secret("c").unwrap().is_none());
    assert_eq!(s.secret_names().unwrap(), ["a", "b"]);

    s.audit("ann", "test.action", "target", "detail").unwrap();
    snap.insert("stats".into(), stats_json(&s.stats().unwrap()));

    // Retention: event ids received before a time, then alerts not reported since.
    let r = s.apply_retention(Some(now() + 10), None).unwrap();
    assert_eq!(r.events, events + 60 + 1 + 1 + 2);
    assert_eq!(s.event_count().unwrap(), 0);
    // A re-sent event is stored again after its id expired.
    let o = s.ingest_ndjson(&body).unwrap();
    assert_eq!(o.duplicates, 1);
    assert_eq!(s.event_count().unwrap(), events);
    let r = s.apply_retention(None, Some(now() + 10)).unwrap();
    assert_eq!(r.alerts, 63 + 3, "one device.new per device and A1..A3");
    assert_eq!(r.expired_suppressions, 0);
    assert!(s.alert("A1").unwrap().is_none());
    assert_eq!(
        s.list_alerts(&AlertQuery {
            limit: 5,
            ..Default::default()
        })
        .unwrap()
        .total,
        0
    );
    // Alerts come back when reported again (a new alert row).
    s.ingest_ndjson(&upd.replace("\"A1\"", "\"A1b\"")).unwrap();
    assert_eq!(s.alert("A1b").unwrap().unwrap().0.state, TriageState::New);
    snap.insert("audit".into(), j(&s.list_audit(100, 0).unwrap()));
    snap.insert("audit_page".into(), j(&s.list_audit(2, 1).unwrap()));
    snap.insert("stats2".into(), stats_json(&s.stats().unwrap()));
    Value::Object(snap)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-pgconf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sqlite_and_postgres_give_the_same_results() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let expires = now() + 3600;
    let dir = tmp("conf");
    let sqlite = SqliteStore::open(&dir.join("hub.db")).unwrap();
    let lite = exercise(&sqlite, expires);
    let url = cluster.fresh_database("conf").unwrap();
    let pg = PgStore::open(&url).unwrap();
    let post = exercise(&pg, expires);
    let keys: Vec<&String> = lite.as_object().unwrap().keys().collect();
    for k in keys {
        assert_eq!(
            serde_json::to_string_pretty(&lite[k]).unwrap(),
            serde_json::to_string_pretty(&post[k]).unwrap(),
            "{k} differs between SQLite and PostgreSQL"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_migrations_partitions_and_concurrent_idempotent_ingest() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let url = cluster.fresh_database("part").unwrap();
    let a = PgStore::open(&format!("{url}?pool_max=2")).unwrap();
    assert_eq!(a.pool_size(), 2);
    // A second node on the same database: migrations are not applied twice.
    let b = PgStore::open(&url).unwrap();
    // v1 core tables, v2 rollouts, v3 zones.
    assert_eq!(b.migrate().unwrap(), 3);
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3]);

    // Two writers ingest overlapping batches at the same time: every event stored once.
    let body = fixture();
    let many = many_devices(200);
    std::thread::scope(|s| {
        for store in [&a, &b] {
            let (body, many) = (&body, &many);
            s.spawn(move || {
                for _ in 0..3 {
                    store.ingest_ndjson(body).unwrap();
                    store.ingest_ndjson(many).unwrap();
                }
            });
        }
    });
    assert_eq!(a.event_count().unwrap(), 28 + 200);
    let st = b.stats().unwrap();
    assert_eq!((st.devices, st.alerts), (202, 2 + 202));
    let dup_alerts: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM (SELECT id FROM alerts GROUP BY id HAVING COUNT(*) > 1) d",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dup_alerts, 0);
    let history: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM device_history WHERE field = 'first_seen'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(history, 202, "one first sight per device");

    // Month partitions were made on demand; rows sit in the partition of their month.
    let parts: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('events', 'alerts') \
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for p in [
        "alerts_y2023m12",
        "alerts_y2024m01",
        "alerts_y2024m02",
        "events_undated",
        "events_y2024m01",
        "events_y2024m02",
    ] {
        assert!(parts.iter().any(|x| x == p), "{p} missing from {parts:?}");
    }
    let feb: i64 = c
        .query_one("SELECT COUNT(*) FROM events_y2024m02", &[])
        .unwrap()
        .get(0);
    // The printer (last seen in February), A2 and the ten flows of February.
    assert_eq!(feb, 12);
    let undated: i64 = c
        .query_one("SELECT COUNT(*) FROM events_undated", &[])
        .unwrap()
        .get(0);
    assert_eq!(undated, 2, "stats and the flow whose last_seen is a number");
}

#[test]
fn postgres_errors_are_reported_not_panics() {
    assert!(matches!(
        PgStore::open("postgres://h/db?pool_max=0"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        open_store(Some("mysql://x"), std::path::Path::new("/nonexistent")),
        Err(StoreError::Invalid(_))
    ));
    // Nothing listens on port 1: a clear connection error.
    match PgStore::open("postgres://u@127.0.0.1:1/db") {
        Err(StoreError::Postgres(e)) => assert!(e.to_string().contains("connect"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connected to port 1"),
    }
}

#[test]
fn postgres_outage_fails_calls_cleanly_then_recovers() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    if cluster.data_dir().is_none() {
        eprintln!("PALISADE_TEST_PG_URL server: the outage test needs a cluster it can stop");
        return;
    }
    let url = cluster.fresh_database("outage").unwrap();
    let s = PgStore::open(&format!("{url}?pool_max=3")).unwrap();
    // Fill the pool with idle connections.
    std::thread::scope(|t| {
        for _ in 0..3 {
            t.spawn(|| s.ingest_ndjson(&fixture()).unwrap());
        }
    });
    assert_eq!(s.event_count().unwrap(), 28);
    cluster.stop().unwrap();
    // While the server is down: errors, not panics, not hangs.
    let started = std::time::Instant::now();
    assert!(s.ingest_ndjson(&many_devices(3)).is_err());
    assert!(
        s.list_devices(&DeviceQuery {
            limit: 5,
            ..Default::default()
        })
        .is_err()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    cluster.resume().unwrap();
    // Back: the dead pooled connections are replaced, nothing was half-written.
    let o = s.ingest_ndjson(&many_devices(3)).unwrap();
    assert_eq!(o.accepted, 3);
    assert_eq!(s.event_count().unwrap(), 31);
    assert_eq!(s.stats().unwrap().devices, 5);
    // From an async runtime's thread as well (the hub calls some methods there).
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let n = rt.block_on(async { s.event_count() }).unwrap();
    assert_eq!(n, 31);
    drop(rt);
}
