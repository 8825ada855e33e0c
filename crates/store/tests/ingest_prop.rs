//! Property: ingest of arbitrary NDJSON-ish text never panics, never fails as a whole, and
//! accounts for every non-empty line exactly once (stored, duplicate, ignored or rejected with
//! its line number); a second ingest of the same text stores nothing new.

use palisade_store::{SqliteStore, Store};
use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    let mac = "[0-9a-f]{2}(:[0-9a-f]{2}){5}";
    prop_oneof![
        // Device lines, sometimes with wrong field types.
        (mac, any::<u8>(), prop_oneof![Just("\"cam\"".to_owned()), Just("5".to_owned()), Just("null".to_owned())]).prop_map(
            |(m, r, v)| format!(r#"{{"type":"device","mac":"{m}","vendor":{v},"ips":["10.0.0.{r}"],"risk":{{"score":{r}}}}}"#)
        ),
        ("[a-z0-9.-]{0,12}", "[a-z.]{0,10}").prop_map(|(id, k)| format!(
            r#"{{"type":"alert","id":"{id}","kind":"{k}","count":3,"evidence":{{"a":[1]}}}}"#
        )),
        Just(r#"{"type":"flow","src":"10.0.0.1"}"#.to_owned()),
        Just(r#"{"type":"stats","summary":{}}"#.to_owned()),
        "\\PC{0,40}",
        "[{}\\[\\]\":,a-z0-9 ]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn ingest_accounts_for_every_line(lines in proptest::collection::vec(line(), 0..30)) {
        let dir = std::env::temp_dir().join(format!("palisade-store-prop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = SqliteStore::open(&dir.join("hub.db")).unwrap();
        let body = lines.join("\n");
        let o = s.ingest_ndjson(&body).unwrap();
        let non_empty = body.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        prop_assert_eq!(o.accepted + o.duplicates + o.ignored + o.rejected.len() as u64, non_empty);
        for (n, why) in &o.rejected {
            prop_assert!(*n >= 1 && *n <= body.lines().count() && !why.is_empty());
        }
        let again = s.ingest_ndjson(&body).unwrap();
        prop_assert_eq!(again.accepted + again.ignored, 0);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
