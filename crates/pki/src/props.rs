//! Property tests: every parser is total (no panic on any input) and the encoders round-trip.

use proptest::prelude::*;

use crate::ca::NewCa;
use crate::{Ca, KeyKind, RevocationSet, csr, der, ocsp};

fn fixtures() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static F: std::sync::OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let now = 1_790_000_000;
        let NewCa { ca, .. } = Ca::generate("Prop", KeyKind::P256, now).unwrap();
        let key = crate::keys::generate(KeyKind::P256).unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["dev-1".to_string()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "dev-1");
        let csr = p.serialize_request(&key).unwrap().der().to_vec();
        let crl = ca
            .crl(
                &[crate::RevokedEntry {
                    serial: vec![0x41; 16],
                    time: now,
                    reason: crate::Reason::Superseded,
                }],
                1,
                now,
                3600,
            )
            .unwrap();
        (csr, crl, ca.issuing_der().to_vec())
    })
}

fn mutate(base: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for (i, b) in edits {
        if !v.is_empty() {
            let n = v.len();
            v[i % n] ^= b;
        }
    }
    // Every third case keeps the full length; the others are truncated somewhere.
    if !cut.is_multiple_of(3) {
        v.truncate(cut % (base.len() + 1));
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csr_parse_is_total(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = csr::parse(&data);
    }

    #[test]
    fn mutated_csrs_never_panic(edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4), cut in any::<usize>()) {
        let (base, _, _) = fixtures();
        let m = mutate(base, &edits, cut);
        if let Ok(info) = csr::parse(&m) {
            // Anything that still verifies must be the same key.
            prop_assert_eq!(info.key, KeyKind::P256);
        }
    }

    #[test]
    fn ocsp_parse_is_total(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = ocsp::parse_request(&data);
    }

    #[test]
    fn ocsp_request_round_trips(serial in proptest::collection::vec(any::<u8>(), 1..20), nonce in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..32))) {
        let (_, _, issuer) = fixtures();
        let req = ocsp::build_request(issuer, &serial, nonce.as_deref()).unwrap();
        let parsed = ocsp::parse_request(&req).unwrap();
        // Same magnitude (leading zero bytes do not change the serial number).
        let strip = |v: &[u8]| -> Vec<u8> { v.iter().copied().skip_while(|b| *b == 0).collect() };
        prop_assert_eq!(strip(&parsed.cert_ids[0].serial), strip(&serial));
        prop_assert_eq!(parsed.nonce.is_some(), nonce.is_some());
        for cut in [1usize, 5, req.len() / 2] {
            let _ = ocsp::parse_request(&req[..req.len().saturating_sub(cut)]);
        }
    }

    #[test]
    fn mutated_crls_never_panic(edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4), cut in any::<usize>()) {
        let (_, crl, issuer) = fixtures();
        let m = mutate(crl, &edits, cut);
        if let Ok((set, _)) = RevocationSet::from_crl(&m, issuer, None) {
            // A CRL that still verifies has the one signed entry.
            prop_assert!(set.is_revoked(&[0x41; 16]));
        }
    }

    #[test]
    fn der_reader_is_total(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut r = der::Reader::new(&data, "prop");
        while let Ok(t) = r.any() {
            let _ = r.nested(&t).and_then(|mut n| n.any());
        }
    }

    #[test]
    fn der_tlv_round_trips(tag in any::<u8>().prop_filter("low tag", |t| t & 0x1f != 0x1f), value in proptest::collection::vec(any::<u8>(), 0..1000)) {
        let enc = der::tlv(tag, &value);
        let mut r = der::Reader::new(&enc, "prop");
        let t = r.any().unwrap();
        prop_assert_eq!(t.tag, tag);
        prop_assert_eq!(t.value, &value[..]);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn tpm_quote_parse_is_total(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = crate::tpm::parse_quote(&data);
        let _ = crate::tpm::verify_quote(&data, &data, &data, &[], &[]);
    }

    #[test]
    fn mutated_tpm_quotes_never_panic(edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4), cut in any::<usize>()) {
        let base = crate::unhex("ff54434780180022000bf3ab3fe7ec917b6ffed149af8744074f9995463801152771ae48292a26e6d19100080011223344556677000000000000024e000000010000000001201910230016363600000001000b03870000002038723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca").unwrap();
        let m = mutate(&base, &edits, cut);
        if let Ok(q) = crate::tpm::parse_quote(&m) {
            prop_assert!(q.selections.len() <= 16);
        }
    }

    #[test]
    fn base64_decode_is_total(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = crate::pkcs7::base64_decode(&data);
        let _ = crate::pem_or_der(&data, "CERTIFICATE");
    }
}
