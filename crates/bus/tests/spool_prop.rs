//! Property tests of the spool: any sequence of records comes back in order and intact,
//! across segment boundaries and a reopen; arbitrary bytes in a segment or the cursor file
//! never panic (they are skipped or reported as errors).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use palisade_bus::spool::{Record, Spool, SpoolConfig};
use proptest::prelude::*;

static SEQ: AtomicU32 = AtomicU32::new(0);

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "palisade-spool-prop-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn record() -> impl Strategy<Value = Record> {
    (
        "[a-z.]{1,20}",
        "[A-Za-z0-9-]{1,40}",
        any::<u64>(),
        // Any one-line payload, tabs included.
        "[^\n\r]{0,200}",
    )
        .prop_map(|(subject, id, published_ns, payload)| Record {
            subject,
            id,
            published_ns,
            payload,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn records_round_trip_in_order(recs in proptest::collection::vec(record(), 0..60), ack in 0usize..60, seg in 64u64..2000) {
        let d = dir();
        let mut cfg = SpoolConfig::new(&d);
        cfg.segment_bytes = seg;
        let mut sp = Spool::open(cfg.clone()).unwrap();
        for r in &recs {
            sp.append(r).unwrap();
        }
        let got = sp.read(sp.cursor(), usize::MAX).unwrap();
        prop_assert_eq!(got.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), recs.clone());
        let ack = ack.min(recs.len());
        if ack > 0 {
            sp.commit(got[ack - 1].1, ack as u64).unwrap();
        }
        drop(sp);
        let mut sp = Spool::open(cfg).unwrap();
        prop_assert_eq!(sp.pending(), (recs.len() - ack) as u64);
        let rest = sp.read(sp.cursor(), usize::MAX).unwrap();
        prop_assert_eq!(rest.into_iter().map(|(r, _)| r).collect::<Vec<_>>(), recs[ack..].to_vec());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn arbitrary_files_never_panic(seg in proptest::collection::vec(any::<u8>(), 0..400), cursor in proptest::collection::vec(any::<u8>(), 0..30)) {
        let d = dir();
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("00000000000000000000.spool"), &seg).unwrap();
        if !cursor.is_empty() {
            std::fs::write(d.join("cursor"), &cursor).unwrap();
        }
        if let Ok(mut sp) = Spool::open(SpoolConfig::new(&d)) {
            let _ = sp.read(sp.cursor(), 1000);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
