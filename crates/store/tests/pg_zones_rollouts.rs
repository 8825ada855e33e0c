//! Zones (issue 8) and firmware rollouts (issue 9) on both backends (issue 13): the same
//! operations, through `Store::zones()` / `Store::rollouts()`, against [`SqliteStore`] and
//! [`PgStore`] (a real PostgreSQL started by the test, see `palisade_store::postgres::testing`;
//! skipped with a message when absent, unless PALISADE_REQUIRE_ORACLES=1). Every result and
//! every error (kind and message) is recorded and compared whole between the backends, apart
//! from the fields that hold the wall-clock time of the run; the test also asserts what the
//! results must be, so two equally wrong backends fail too. Then what only a shared database
//! has to get right: several API nodes (stores) writing at once.

use std::path::PathBuf;

use palisade_store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_store::rollout::{RolloutState, UpdateReport, in_wave};
use palisade_store::zones::{Assignment, Isolation};
use palisade_store::*;
use serde_json::{Value, json};

/// `{"ok": value}` or `{"err": kind, "msg": message}`, the wall-clock fields replaced.
fn rec<T: serde::Serialize>(r: Result<T>) -> Value {
    match r {
        Ok(v) => json!({ "ok": scrub(serde_json::to_value(v).unwrap()) }),
        Err(e) => {
            let kind = match &e {
                StoreError::NotFound => "not-found",
                StoreError::Conflict(_) => "conflict",
                StoreError::Invalid(_) => "invalid",
                _ => "other",
            };
            json!({ "err": kind, "msg": e.to_string() })
        }
    }
}

/// Replaces the fields the stores fill with their own clock (zones take the caller's time, so
/// `set_at`/`updated_at` of zones are compared; rollout times are the store's).
fn scrub(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                let rollout_like = o.contains_key("created_by") || o.contains_key("reported_at");
                for k in ["created_at", "reported_at", "at"] {
                    if let Some(x) = o.get_mut(k)
                        && x.is_i64()
                    {
                        *x = json!("<time>");
                    }
                }
                if rollout_like && let Some(x) = o.get_mut("updated_at") {
                    *x = json!("<time>");
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

fn ok(v: &Value) -> &Value {
    assert!(v.get("ok").is_some(), "expected success, got {v}");
    &v["ok"]
}

fn err_kind(v: &Value) -> &str {
    v["err"].as_str().unwrap_or("none")
}

fn assign<'a>(zone: &'a str, reason: &'a str, expires_at: Option<i64>) -> Assignment<'a> {
    Assignment {
        zone,
        profile: None,
        mud_url: None,
        reason,
        expires_at,
    }
}

/// Zone operations with assertions; returns every result in order.
fn zones_scenario(s: &dyn Store) -> Vec<(String, Value)> {
    let z = s.zones().expect("backend supports zones");
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut step = |name: &str, v: Value| -> Value {
        out.push((name.to_owned(), v.clone()));
        v
    };
    let zones = step("list builtin", rec(z.list_zones(100)));
    let names: Vec<&str> = ok(&zones)
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["iot", "quarantine", "trusted"]);

    // Custom zones, names chosen so that byte order differs from a locale's order.
    for (name, iso) in [
        ("cameras", Isolation::Policy),
        ("b-side", Isolation::Quarantine),
        ("b_side", Isolation::Open),
        ("bside2", Isolation::Policy),
        ("a9", Isolation::Open),
    ] {
        let v = step(
            &format!("put {name}"),
            rec(z.put_zone(name, &format!("zone {name}"), iso, "bob", 10)),
        );
        assert_eq!(ok(&v)["builtin"], false);
        assert_eq!(ok(&v)["devices"], 0);
    }
    let v = step(
        "update cameras",
        rec(z.put_zone("cameras", "CCTV, all sites", Isolation::Open, "carol", 11)),
    );
    assert_eq!(ok(&v)["isolation"], "open");
    assert_eq!(ok(&v)["updated_by"], "carol");
    // A built-in keeps its isolation, but its description may change.
    let v = step(
        "builtin isolation",
        rec(z.put_zone("quarantine", "x", Isolation::Open, "bob", 12)),
    );
    assert_eq!(err_kind(&v), "conflict");
    let v = step(
        "builtin description",
        rec(z.put_zone("iot", "IoT, policy", Isolation::Policy, "bob", 12)),
    );
    assert_eq!(ok(&v)["builtin"], true);
    for bad in ["", "Cameras", "1x", "a b", "é", &"x".repeat(33)] {
        let v = step(
            &format!("bad name {bad:?}"),
            rec(z.put_zone(bad, "", Isolation::Open, "bob", 1)),
        );
        assert_eq!(err_kind(&v), "invalid");
    }
    let v = step(
        "long description",
        rec(z.put_zone("long", &"d".repeat(1025), Isolation::Open, "bob", 1)),
    );
    assert_eq!(err_kind(&v), "invalid");

    // Assignments: default zone, MAC forms, expiry, profiles.
    let v = step("unassigned", rec(z.device_zone("AA:BB:CC:00:00:01", 100)));
    assert_eq!(
        (ok(&v)["zone"].as_str(), &ok(&v)["assigned"]),
        (Some("iot"), &json!(false))
    );
    let v = step("bad mac lookup", rec(z.device_zone("nope", 100)));
    assert_eq!(err_kind(&v), "not-found");
    let v = step(
        "quarantine 60s",
        rec(z.set_device_zone(
            "aa-bb-cc-00-00-01",
            &assign("quarantine", "botnet.mirai.scan", Some(160)),
            "alice",
            100,
        )),
    );
    assert_eq!(ok(&v)["mac"], "aa:bb:cc:00:00:01");
    assert_eq!(ok(&v)["isolation"], "quarantine");
    let profiled = Assignment {
        zone: "cameras",
        profile: Some(r#"{"ietf-mud:mud":{"mud-version":1}}"#),
        mud_url: Some("https://example.com/cam.json"),
        reason: "",
        expires_at: None,
    };
    for (i, mac) in [
        "AA:BB:CC:00:00:0A",
        "aa:bb:cc:00:00:02",
        "0a:bb:cc:00:00:03",
    ]
    .iter()
    .enumerate()
    {
        let v = step(
            &format!("assign {mac}"),
            rec(z.set_device_zone(mac, &profiled, "bob", 101 + i as i64)),
        );
        assert_eq!(ok(&v)["profile"], json!(profiled.profile));
    }
    step(
        "b-side device",
        rec(z.set_device_zone(
            "aa:bb:cc:00:00:04",
            &assign("b-side", "r", None),
            "bob",
            105,
        )),
    );
    let v = step(
        "past expiry",
        rec(z.set_device_zone(
            "aa:bb:cc:00:00:05",
            &assign("iot", "", Some(100)),
            "bob",
            100,
        )),
    );
    assert_eq!(err_kind(&v), "invalid");
    let v = step(
        "unknown zone",
        rec(z.set_device_zone(
            "aa:bb:cc:00:00:05",
            &assign("nowhere", "", None),
            "bob",
            100,
        )),
    );
    assert_eq!(err_kind(&v), "invalid");
    let v = step(
        "bad mac",
        rec(z.set_device_zone("aa:bb:cc:00:00", &assign("iot", "", None), "bob", 100)),
    );
    assert_eq!(err_kind(&v), "invalid");
    let long = "r".repeat(1025);
    let v = step(
        "long reason",
        rec(z.set_device_zone("aa:bb:cc:00:00:05", &assign("iot", &long, None), "bob", 100)),
    );
    assert_eq!(err_kind(&v), "invalid");

    let v = step("zones with counts", rec(z.list_zones(150)));
    let counts: Vec<(String, u64)> = ok(&v)
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (
                z["name"].as_str().unwrap().to_owned(),
                z["devices"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = [
        ("iot", 0),
        ("quarantine", 1),
        ("trusted", 0),
        ("a9", 0),
        ("b-side", 1),
        ("b_side", 0),
        ("bside2", 0),
        ("cameras", 3),
    ]
    .iter()
    .map(|(n, c)| (n.to_string(), *c))
    .collect();
    assert_eq!(counts, want, "built-ins first, then byte order");
    let v = step("all assignments", rec(z.list_assignments(None, 150)));
    let macs: Vec<&str> = ok(&v)
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["mac"].as_str().unwrap())
        .collect();
    assert_eq!(
        macs,
        [
            "0a:bb:cc:00:00:03",
            "aa:bb:cc:00:00:01",
            "aa:bb:cc:00:00:02",
            "aa:bb:cc:00:00:04",
            "aa:bb:cc:00:00:0a"
        ]
    );
    step(
        "cameras assignments",
        rec(z.list_assignments(Some("cameras"), 150)),
    );
    step(
        "unknown zone assignments",
        rec(z.list_assignments(Some("nowhere"), 150)),
    );
    // Expired: back to the default zone, not counted nor listed, but still blocks deletion
    // of its zone as under SQLite (the row remains until reassigned).
    let v = step("after expiry", rec(z.device_zone("aa:bb:cc:00:00:01", 160)));
    assert_eq!(ok(&v)["zone"], "iot");
    let v = step(
        "quarantine listing after expiry",
        rec(z.list_assignments(Some("quarantine"), 161)),
    );
    assert_eq!(ok(&v), &json!([]));
    step("zones after expiry", rec(z.list_zones(161)));

    // Deletion rules.
    let v = step("delete builtin", rec(z.delete_zone("iot")));
    assert_eq!(err_kind(&v), "conflict");
    let v = step("delete used", rec(z.delete_zone("cameras")));
    assert_eq!(err_kind(&v), "conflict");
    let v = step("delete unused", rec(z.delete_zone("b_side")));
    assert!(v.get("ok").is_some(), "{v}");
    let v = step("delete again", rec(z.delete_zone("b_side")));
    assert_eq!(err_kind(&v), "not-found");
    step(
        "reassign away",
        rec(z.set_device_zone(
            "aa:bb:cc:00:00:04",
            &assign("trusted", "cleared", None),
            "bob",
            170,
        )),
    );
    let v = step("delete emptied", rec(z.delete_zone("b-side")));
    assert!(v.get("ok").is_some(), "{v}");
    step("final zones", rec(z.list_zones(200)));
    step("final assignments", rec(z.list_assignments(None, 200)));
    out
}

fn report(device: &str, target: &str, result: &str) -> UpdateReport {
    UpdateReport {
        device: device.into(),
        target: target.into(),
        result: result.into(),
        running_version: Some("1.0.0".into()),
        security_counter: Some(4_000_000_000),
        candidate_version: Some("1.1.0".into()),
        candidate_sha256: None,
        detail: format!("{result} on {device}"),
        at: Some(1),
    }
}

/// Rollout operations with assertions; returns every result in order.
fn rollouts_scenario(s: &dyn Store) -> Vec<(String, Value)> {
    let r = s.rollouts().expect("backend supports rollouts");
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut step = |name: &str, v: Value| -> Value {
        out.push((name.to_owned(), v.clone()));
        v
    };
    let v = step(
        "bad percent",
        rec(r.create_rollout("fw.bin", 101, 0.1, 1, "admin")),
    );
    assert_eq!(err_kind(&v), "invalid");
    let v = step(
        "bad rate",
        rec(r.create_rollout("fw.bin", 10, 1.5, 1, "admin")),
    );
    assert_eq!(err_kind(&v), "invalid");
    step("none yet", rec(r.current_rollout("fw.bin")));
    // A report before any rollout: stored per device, no rollout.
    let v = step(
        "report without rollout",
        rec(r.record_update(&report("early", "fw.bin", "up-to-date"))),
    );
    assert_eq!(ok(&v), &Value::Null);

    let first = step(
        "create",
        rec(r.create_rollout("fw.bin", 100, 0.25, 4, "admin")),
    );
    let id = ok(&first)["id"].as_i64().unwrap();
    assert_eq!(ok(&first)["state"], "active");
    let v = step(
        "second open",
        rec(r.create_rollout("fw.bin", 10, 0.1, 1, "admin")),
    );
    assert_eq!(err_kind(&v), "conflict");
    step(
        "other target",
        rec(r.create_rollout("other.bin", 30, 0.5, 2, "admin")),
    );
    for d in ["a", "b", "c"] {
        step(
            &format!("ok {d}"),
            rec(r.record_update(&report(d, "fw.bin", "updated"))),
        );
    }
    // The same device again: one result per device, the latest.
    step(
        "c again",
        rec(r.record_update(&report("c", "fw.bin", "up-to-date"))),
    );
    let v = step(
        "d reverted",
        rec(r.record_update(&report("d", "fw.bin", "reverted"))),
    );
    assert_eq!(ok(&v)["state"], "active", "1 of 4 is not above 25%");
    let v = step(
        "waiting",
        rec(r.record_update(&report("w", "fw.bin", "waiting"))),
    );
    assert_eq!(ok(&v)["stats"]["reported"], 4);
    let v = step(
        "e refused",
        rec(r.record_update(&report("e", "fw.bin", "refused-image"))),
    );
    assert_eq!(ok(&v)["state"], "paused");
    assert_eq!(
        ok(&v)["stats"],
        json!({"reported": 5, "succeeded": 3, "failed": 2})
    );
    assert!(ok(&v)["note"].as_str().unwrap().contains("2 of 5"), "{v}");
    let v = step(
        "while paused",
        rec(r.record_update(&report("f", "fw.bin", "refused-boot"))),
    );
    assert_eq!(ok(&v)["stats"]["reported"], 5);
    let bad = UpdateReport {
        result: "pwned".into(),
        ..report("g", "fw.bin", "x")
    };
    assert_eq!(
        err_kind(&step("bad result", rec(r.record_update(&bad)))),
        "invalid"
    );
    let bad = report("bad device id", "fw.bin", "updated");
    assert_eq!(
        err_kind(&step("bad device", rec(r.record_update(&bad)))),
        "invalid"
    );

    let v = step("rollout detail", rec(r.rollout(id)));
    assert_eq!(ok(&v)[1].as_array().unwrap().len(), 5);
    assert_eq!(ok(&v)[1][0]["security_counter"], 4_000_000_000u64);
    step("missing rollout", rec(r.rollout(9999)));
    let v = step("all devices", rec(r.device_updates(None, 100, 0)));
    assert_eq!(ok(&v)["total"], 8);
    let v = step("rollout devices", rec(r.device_updates(Some(id), 2, 1)));
    assert_eq!(
        (
            ok(&v)["total"].as_u64(),
            ok(&v)["items"].as_array().unwrap().len()
        ),
        (Some(5), 2)
    );
    step("limit clamped", rec(r.device_updates(None, 0, 0)));
    step("past the end", rec(r.device_updates(None, 10, 100)));

    // State machine.
    let v = step(
        "bad percent update",
        rec(r.update_rollout(id, Some(150), None, "admin")),
    );
    assert_eq!(err_kind(&v), "invalid");
    step(
        "missing update",
        rec(r.update_rollout(9999, Some(5), None, "admin")),
    );
    let v = step(
        "resume",
        rec(r.update_rollout(id, Some(50), Some(RolloutState::Active), "admin")),
    );
    assert_eq!(
        (ok(&v)["state"].as_str(), ok(&v)["percent"].as_u64()),
        (Some("active"), Some(50))
    );
    step(
        "same state",
        rec(r.update_rollout(id, None, Some(RolloutState::Active), "ops")),
    );
    step(
        "complete",
        rec(r.update_rollout(id, None, Some(RolloutState::Completed), "admin")),
    );
    let v = step(
        "final",
        rec(r.update_rollout(id, None, Some(RolloutState::Active), "admin")),
    );
    assert_eq!(err_kind(&v), "conflict");
    let v = step(
        "percent on final",
        rec(r.update_rollout(id, Some(10), None, "admin")),
    );
    assert_eq!(err_kind(&v), "conflict");
    step(
        "report after completion",
        rec(r.record_update(&report("h", "fw.bin", "updated"))),
    );

    // A partial wave over a fleet: the same devices are in it on both backends.
    let second = step(
        "second wave",
        rec(r.create_rollout("fw.bin", 30, 1.0, 1, "admin")),
    );
    let id2 = ok(&second)["id"].as_i64().unwrap();
    let fleet: Vec<String> = (0..120).map(|i| format!("dev-{i:03}")).collect();
    for (i, d) in fleet.iter().enumerate() {
        let result = if i % 7 == 0 {
            "refused-download"
        } else {
            "updated"
        };
        r.record_update(&report(d, "fw.bin", result)).unwrap();
    }
    let v = step("wave stats", rec(r.current_rollout("fw.bin")));
    let in_wave_n = fleet.iter().filter(|d| in_wave(id2, d, 30)).count() as u64;
    assert_eq!(ok(&v)["stats"]["reported"], in_wave_n);
    assert!(in_wave_n > 10 && in_wave_n < 60, "{in_wave_n}");
    step("wave devices", rec(r.device_updates(Some(id2), 1000, 0)));
    step(
        "abort",
        rec(r.update_rollout(id2, None, Some(RolloutState::Aborted), "admin")),
    );
    step("list", rec(r.list_rollouts()));
    // The audit trail of all this (creation, updates, the automatic pause), oldest first.
    let audit = s.list_audit(1000, 0).unwrap();
    let mut trail: Vec<Value> = audit
        .items
        .iter()
        .map(|a| json!([a.actor, a.action, a.target, a.detail]))
        .collect();
    trail.reverse();
    assert!(
        trail.contains(&json!([
            "system",
            "rollout.pause",
            id.to_string(),
            "paused automatically: 2 of 5 devices failed (40% > 25%)"
        ])),
        "{trail:?}"
    );
    step("audit", json!(trail));
    out
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-pgzr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn compare(lite: &[(String, Value)], post: &[(String, Value)]) {
    assert_eq!(lite.len(), post.len());
    for ((name, a), (_, b)) in lite.iter().zip(post) {
        assert_eq!(
            serde_json::to_string_pretty(a).unwrap(),
            serde_json::to_string_pretty(b).unwrap(),
            "step {name:?} differs between SQLite and PostgreSQL"
        );
    }
}

#[test]
fn zones_and_rollouts_give_the_same_results_on_sqlite_and_postgres() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let dir = tmp("same");
    let sqlite = SqliteStore::open(&dir.join("hub.db")).unwrap();
    let pg = PgStore::open(&cluster.fresh_database("zr").unwrap()).unwrap();
    compare(&zones_scenario(&sqlite), &zones_scenario(&pg));
    compare(&rollouts_scenario(&sqlite), &rollouts_scenario(&pg));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Several API nodes (stores with their own pools) on one database at the same time.
#[test]
fn concurrent_nodes_keep_the_rules() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let url = cluster.fresh_database("zrconc").unwrap();
    let nodes: Vec<PgStore> = (0..4)
        .map(|_| PgStore::open(&format!("{url}?pool_max=2")).unwrap())
        .collect();

    // Eight creations of the same target at once: exactly one rollout opens.
    let created: Vec<Result<rollout::Rollout>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let n = &nodes[i % nodes.len()];
                s.spawn(move || {
                    n.rollouts()
                        .unwrap()
                        .create_rollout("race.bin", 100, 0.5, 10, "admin")
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&rollout::Rollout> = created.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{created:?}");
    let id = won[0].id;
    // The losers get SQLite's error, naming the open rollout.
    let want = format!("rollout {id} of race.bin is still open");
    assert!(
        created
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::Conflict(m)) if m.starts_with(&want))),
        "{created:?}"
    );

    // 40 devices report at once through four nodes, every other one failing: every report is
    // counted once, and the pause (50% limit, after 10 reports) happens exactly when a failure
    // brings the rate above the limit, seen by the report that did it.
    let results: Vec<Option<rollout::Rollout>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let n = &nodes[t];
                s.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let d = format!("node{t}-dev{i}");
                            let res = if i % 2 == 0 { "updated" } else { "reverted" };
                            n.rollouts()
                                .unwrap()
                                .record_update(&report(&d, "race.bin", res))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let r = nodes[0].rollouts().unwrap();
    let (ro, devices) = r.rollout(id).unwrap().unwrap();
    assert_eq!(ro.stats.reported, devices.len() as u64);
    // Every report came back with the rollout of its target (counted or, once paused, not).
    let counted = results
        .iter()
        .filter(|x| x.as_ref().is_some_and(|x| x.id == id))
        .count();
    assert_eq!(counted, 40);
    assert_eq!(r.device_updates(None, 1000, 0).unwrap().total, 40);
    if ro.state == RolloutState::Paused {
        let failed = ro.stats.failed as f64;
        assert!(failed / ro.stats.reported as f64 > 0.5, "{ro:?}");
        assert!(ro.stats.reported >= 10, "{ro:?}");
        // Exactly one automatic pause was audited.
        let pauses = nodes[1]
            .list_audit(1000, 0)
            .unwrap()
            .items
            .iter()
            .filter(|a| a.action == "rollout.pause")
            .count();
        assert_eq!(pauses, 1);
    } else {
        assert_eq!(ro.stats.reported, 40, "active: every report was counted");
        assert!(ro.stats.failed * 2 <= ro.stats.reported, "{ro:?}");
    }
    // A resume and a device report at the same moment: neither is lost.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            nodes[2].rollouts().unwrap().update_rollout(
                id,
                Some(60),
                Some(RolloutState::Active),
                "ops",
            )
        });
        let b = s.spawn(|| {
            nodes[3]
                .rollouts()
                .unwrap()
                .record_update(&report("late", "race.bin", "updated"))
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    a.unwrap();
    b.unwrap();
    let after = r.current_rollout("race.bin").unwrap().unwrap();
    assert_eq!((after.state, after.percent), (RolloutState::Active, 60));

    // Zone deletion racing with assignments to it: either the assignment lands and the zone
    // stays, or the zone goes and the assignment is refused; never an assignment to a zone
    // that no longer exists.
    for round in 0..10 {
        let name = format!("tmp{round}");
        let z0 = nodes[0].zones().unwrap();
        z0.put_zone(&name, "", Isolation::Quarantine, "admin", 1)
            .unwrap();
        let mac = format!("02:00:00:00:00:{round:02x}");
        let (del, set) = std::thread::scope(|s| {
            let del = s.spawn(|| nodes[1].zones().unwrap().delete_zone(&name));
            let set = s.spawn(|| {
                nodes[2].zones().unwrap().set_device_zone(
                    &mac,
                    &assign(&name, "race", None),
                    "admin",
                    2,
                )
            });
            (del.join().unwrap(), set.join().unwrap())
        });
        let zone_exists = z0.list_zones(3).unwrap().iter().any(|z| z.name == name);
        let dz = z0.device_zone(&mac, 3).unwrap();
        match (del, set) {
            (Ok(()), Err(StoreError::Invalid(m))) => {
                assert!(m.contains("no zone named"), "{m}");
                assert!(!zone_exists && !dz.assigned);
            }
            (Err(StoreError::Conflict(_)), Ok(d)) => {
                assert_eq!(d.zone, name);
                assert!(zone_exists && dz.assigned && dz.zone == name);
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}
