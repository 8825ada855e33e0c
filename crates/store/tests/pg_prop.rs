//! Property: on arbitrary NDJSON-ish batches, PostgreSQL batch ingest accounts for every line
//! exactly as SQLite's line-by-line ingest does (same accepted / duplicate / ignored counts, the
//! same rejected line numbers and reasons), never panics, and a second ingest of the same text
//! stores nothing new. A real PostgreSQL is started by the test.

use palisade_store::postgres::testing::{ClusterOptions, TestCluster};
use palisade_store::{DeviceQuery, PgStore, SqliteStore, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn line() -> impl Strategy<Value = String> {
    let mac = "[0-9a-f]{2}(:[0-9a-f]{2}){5}";
    prop_oneof![
        (mac, any::<u8>(), prop_oneof![Just("\"cam\"".to_owned()), Just("5".to_owned()), Just("null".to_owned())], 0u8..3).prop_map(
            |(m, r, v, mon)| format!(r#"{{"type":"device","mac":"{m}","vendor":{v},"ips":["10.0.0.{r}"],"risk":{{"score":{r}}},"last_seen":"2024-0{}-01T00:00:00Z"}}"#, mon + 1)
        ),
        ("[a-z0-9.-]{0,12}", "[a-z.]{0,10}", "(19|20)[0-9]{2}-[01][0-9]").prop_map(|(id, k, fs)| format!(
            r#"{{"type":"alert","id":"{id}","kind":"{k}","count":3,"first_seen":"{fs}","evidence":{{"a":[1]}}}}"#
        )),
        Just(r#"{"type":"flow","src":"10.0.0.1","last_seen":"2024-02-03T00:00:00Z"}"#.to_owned()),
        Just(r#"{"type":"flow","src":"10.0.0.1","last_seen":[1]}"#.to_owned()),
        Just(r#"{"type":"stats","summary":{}}"#.to_owned()),
        "\\PC{0,40}",
        "[{}\\[\\]\":,a-z0-9 ]{0,40}",
    ]
}

#[test]
fn postgres_ingest_accounts_for_lines_as_sqlite_does() {
    let Some(cluster) = TestCluster::start(ClusterOptions::default()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("palisade-pgprop-{}", std::process::id()));
    let mut runner = TestRunner::new(Config::with_cases(24));
    let case = std::sync::atomic::AtomicU32::new(0);
    let r = runner.run(&proptest::collection::vec(line(), 0..40), |lines| {
        let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = lines.join("\n");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lite = SqliteStore::open(&dir.join("hub.db")).unwrap();
        let url = cluster.fresh_database(&format!("prop{case}")).unwrap();
        let pg = PgStore::open(&format!("{url}?pool_max=1")).unwrap();
        let a = lite.ingest_ndjson(&body).unwrap();
        let b = pg.ingest_ndjson(&body).unwrap();
        prop_assert_eq!(
            (a.accepted, a.duplicates, a.ignored, &a.rejected),
            (b.accepted, b.duplicates, b.ignored, &b.rejected)
        );
        let again = pg.ingest_ndjson(&body).unwrap();
        prop_assert_eq!(again.accepted + again.ignored, 0);
        prop_assert_eq!(lite.event_count().unwrap(), pg.event_count().unwrap());
        let q = DeviceQuery {
            limit: 100,
            ..Default::default()
        };
        let macs = |p: palisade_store::Page<palisade_store::DeviceRow>| {
            p.items
                .into_iter()
                .map(|d| (d.mac, d.risk, d.vendor))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(
            macs(lite.list_devices(&q).unwrap()),
            macs(pg.list_devices(&q).unwrap())
        );
        prop_assert_eq!(lite.stats().unwrap().alerts, pg.stats().unwrap().alerts);
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = r {
        panic!("{e}");
    }
}
