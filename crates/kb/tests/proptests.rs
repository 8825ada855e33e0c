//! Lookups never panic on arbitrary input.

use palisade_kb::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn oui_lookup_total(mac in any::<[u8; 6]>()) {
        let t = OuiTable::embedded();
        let r = t.lookup(mac);
        if let Some((name, size)) = t.lookup_block(mac) {
            prop_assert_eq!(Some(name), r);
            prop_assert!(matches!(size.bits(), 24 | 28 | 36));
        } else {
            prop_assert!(r.is_none());
        }
        let _ = (is_locally_administered(mac), is_multicast(mac));
    }

    #[test]
    fn discovery_lookups_total(
        host in proptest::option::of(".{0,40}"),
        mac in any::<[u8; 6]>(),
        ty in ".{0,40}",
        name in proptest::option::of(".{0,40}"),
        k in ".{0,12}",
        v in ".{0,40}",
    ) {
        let d = Discovery::embedded();
        let _ = d.match_dhcp(host.as_deref(), mac);
        let _ = d.match_zeroconf(&ty, name.as_deref(), &[(k.as_str(), v.as_str())]);
        let _ = d.match_homekit(&v);
        let _ = d.match_ssdp(&[(k.as_str(), v.as_str()), ("st", ty.as_str())]);
        let _ = service_category(ServiceProto::Mdns, &ty);
        let _ = service_category(ServiceProto::Ssdp, &ty);
        let _ = parse_mac(&v);
    }

    #[test]
    fn glob_total(p in "[a-z*?\\[\\]!-]{0,16}", t in ".{0,24}", ci in any::<bool>()) {
        let _ = glob_match(&p, &t, ci);
        // A pattern without metacharacters matches exactly itself.
        if !p.contains(['*', '?', '[']) {
            prop_assert!(glob_match(&p, &p, ci));
        }
    }

    #[test]
    fn star_matches_any_suffix(prefix in "[a-z0-9]{0,8}", rest in ".{0,16}") {
        let text = format!("{prefix}{rest}");
        let pattern = format!("{prefix}*");
        prop_assert!(glob_match(&pattern, &text, false));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Pack parsers reject malformed packs with an error, never a panic (including packs
    /// that start with a valid header and continue with garbage).
    #[test]
    fn pack_parsers_total(body in ".{0,400}", keep_header in any::<bool>()) {
        let cats = std::collections::HashMap::new();
        for header in [
            "#palisade-kb\tpack=oui\tformat=1\trecords=3",
            "#palisade-kb\tpack=discovery\tformat=1\trecords=3",
        ] {
            let text = if keep_header { format!("{header}\n{body}") } else { body.clone() };
            let _ = OuiTable::parse(&text, "prop");
            let _ = Discovery::parse(&text, "prop", &cats);
            let _ = parse_service_categories(&text, "prop");
            let _ = parse_mirai_credentials(&text, "prop");
            let _ = parse_domain_categories(&text, "prop");
        }
    }
}
