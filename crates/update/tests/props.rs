//! Property tests: metadata and JSON parsers never panic; canonical JSON is stable.

use proptest::prelude::*;

use palisade_update::json::{canonical, parse_strict};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        palisade_update::fuzzing::metadata(&data);
    }

    #[test]
    fn json_shaped_input_never_panics(s in r#"\{("(signed|signatures|_type|keys|roles|version|expires)": ?(\{|\[|"[a-z0-9:-]*"|[0-9]{1,3}|null|true)[,}\]]? ?){0,12}"#) {
        palisade_update::fuzzing::metadata(s.as_bytes());
    }

    #[test]
    fn canonical_is_a_fixed_point(keys in proptest::collection::btree_map("[a-z\"\\\\]{0,6}", any::<i64>(), 0..8)) {
        let v = serde_json::to_value(&keys).unwrap();
        let c = canonical(&v).unwrap();
        let back = parse_strict(&c).unwrap();
        prop_assert_eq!(canonical(&back).unwrap(), c);
    }
}
