//! Property tests: the parsers never panic, and writers round-trip.

use proptest::prelude::*;

use palisade_fwscan::crypt::{PasswordField, des_crypt, md5_crypt, parse_password_field};
use palisade_fwscan::{Limits, cpio, squashfs, tar, unpack};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = cpio::parse(&data, 100);
        let _ = tar::parse(&data, 100);
        let _ = squashfs::parse_superblock(&data);
        let _ = unpack(&data, &Limits { max_total_bytes: 1 << 20, ..Limits::default() });
    }

    #[test]
    fn prefixed_archives_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..1024), which in 0u8..4) {
        let mut data = match which {
            0 => b"070701".to_vec(),
            1 => b"hsqs".to_vec(),
            2 => vec![0x1f, 0x8b, 0x08, 0],
            _ => vec![0xfd, b'7', b'z', b'X', b'Z', 0],
        };
        data.extend_from_slice(&tail);
        let _ = unpack(&data, &Limits { max_total_bytes: 1 << 20, ..Limits::default() });
    }

    #[test]
    fn cpio_round_trip(names in proptest::collection::vec("[a-z]{1,12}(/[a-z]{1,12}){0,3}", 1..20),
                       body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let members: Vec<(&str, u32, &[u8])> = names.iter().map(|n| (n.as_str(), 0o100644, body.as_slice())).collect();
        let a = cpio::write_newc(&members);
        let e = cpio::parse(&a, 1000).unwrap();
        prop_assert_eq!(e.len(), names.len());
        for (m, n) in e.iter().zip(&names) {
            prop_assert_eq!(&m.name, n);
            prop_assert_eq!(&m.kind, &palisade_fwscan::archive::EntryKind::File(body.as_slice()));
        }
    }

    #[test]
    fn crypt_fields_never_panic(s in "\\PC{0,120}") {
        let _ = parse_password_field(&s);
    }

    #[test]
    fn crypt_hashes_verify(pw in "[ -~]{0,20}", salt in "[./0-9A-Za-z]{2,8}") {
        for h in [des_crypt(pw.as_bytes(), salt.as_bytes()), md5_crypt(pw.as_bytes(), salt.as_bytes())] {
            let PasswordField::Hash(p) = parse_password_field(&h) else {
                return Err(TestCaseError::fail(format!("{h} did not parse")));
            };
            prop_assert!(p.verify(pw.as_bytes()));
        }
    }
}
