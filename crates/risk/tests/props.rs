//! Property tests: parsers never panic; CPE formatting round-trips.

use proptest::prelude::*;

use palisade_risk::Cpe;

proptest! {
    #[test]
    fn cpe_parse_total(s in ".{0,200}") {
        palisade_risk::fuzzing::cpe(s.as_bytes());
    }

    #[test]
    fn cpe_round_trip(v in "[a-z0-9_.()/:!*?\\\\-]{1,16}", p in "[a-z0-9_.()/-]{1,16}", ver in "[0-9][0-9a-z._-]{0,8}") {
        let c = Cpe::new(palisade_risk::Part::Application, &v, &p, Some(&ver));
        prop_assert_eq!(Cpe::parse(&c.to_string()).unwrap(), c);
    }

    #[test]
    fn version_compare_antisymmetric(a in "[0-9a-z._-]{0,12}", b in "[0-9a-z._-]{0,12}") {
        let x = palisade_risk::version::compare(&a, &b);
        prop_assert_eq!(x.reverse(), palisade_risk::version::compare(&b, &a));
    }

    #[test]
    fn nvd_json_total(s in ".{0,300}") {
        palisade_risk::fuzzing::nvd_json(s.as_bytes());
    }

    #[test]
    fn index_bytes_total(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        palisade_risk::fuzzing::index_bytes(&b);
    }
}
