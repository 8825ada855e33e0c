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
    fn pkcs7_parse_is_total_and_round_trips(
        certs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..4),
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4),
        cut in any::<usize>(),
    ) {
        let encoded: Vec<Vec<u8>> = certs.iter().map(|c| der::tlv(der::SEQUENCE, c)).collect();
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let p7 = crate::pkcs7::certs_only(&refs);
        prop_assert_eq!(crate::pkcs7::parse_certs(&p7).unwrap(), encoded);
        let _ = crate::pkcs7::parse_certs(&mutate(&p7, &edits, cut));
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

fn tpm_public_strategy() -> impl Strategy<Value = crate::credential::TpmPublic> {
    use crate::credential::{PublicKey, SymDef, TpmPublic};
    let hash = prop_oneof![Just(0x0004u16), Just(0x000b), Just(0x000c), Just(0x000d)];
    let opt_hash = proptest::option::of(0x0004u16..0x000e);
    let sym = proptest::option::of((1u16..0x10, any::<u16>(), any::<u16>()).prop_map(
        |(alg, key_bits, mode)| SymDef {
            alg,
            key_bits,
            mode,
        },
    ));
    let rsa = (
        opt_hash.clone(),
        any::<u16>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..=512),
    )
        .prop_map(|(h, key_bits, exponent, modulus)| PublicKey::Rsa {
            scheme: if h.is_some() { 0x0014 } else { 0x0010 },
            scheme_hash: h,
            key_bits,
            exponent,
            modulus,
        });
    let ecc = (
        opt_hash.clone(),
        any::<u16>(),
        opt_hash,
        proptest::collection::vec(any::<u8>(), 0..=128),
        proptest::collection::vec(any::<u8>(), 0..=128),
    )
        .prop_map(|(h, curve, k, x, y)| PublicKey::Ecc {
            scheme: if h.is_some() { 0x0018 } else { 0x0010 },
            scheme_hash: h,
            curve,
            kdf: if k.is_some() { 0x0020 } else { 0x0010 },
            kdf_hash: k,
            x,
            y,
        });
    (
        hash,
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..=64),
        sym,
        prop_oneof![rsa, ecc],
    )
        .prop_map(|(name_alg, attributes, auth_policy, symmetric, key)| {
            let mut p = TpmPublic {
                name_alg,
                attributes,
                auth_policy,
                symmetric,
                key,
                tpmt: Vec::new(),
            };
            p.tpmt = p.to_tpm2b()[2..].to_vec();
            p
        })
}

proptest! {
    #[test]
    fn tpm_public_round_trips(p in tpm_public_strategy()) {
        let bytes = p.to_tpm2b();
        let back = crate::credential::parse_tpm2b_public(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.name().len(), 2 + match p.name_alg { 0x0004 => 20, 0x000b => 32, 0x000c => 48, _ => 64 });
    }

    #[test]
    fn tpm_public_and_credential_file_parsers_are_total(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(p) = crate::credential::parse_tpm2b_public(&data) {
            prop_assert_eq!(p.to_tpm2b(), data.clone());
            let _ = p.check_attestation_key();
            let _ = p.matches_spki(&data);
        }
        if let Ok(b) = crate::credential::CredentialBlob::from_tpm2_tools_file(&data) {
            prop_assert_eq!(b.to_tpm2_tools_file(), data);
        }
    }

    #[test]
    fn mutated_eks_never_panic_make_credential(edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4), cut in any::<usize>(), ecc in any::<bool>()) {
        use crate::credential::tests::{EK_ECC, EK_RSA};
        let base = crate::unhex(if ecc { EK_ECC } else { EK_RSA }).unwrap();
        let m = mutate(&base, &edits, cut);
        if let Ok(ek) = crate::credential::parse_tpm2b_public(&m) {
            let mut name = vec![0x00, 0x0b];
            name.extend_from_slice(&[7; 32]);
            if let Ok(blob) = crate::credential::make_credential(&ek, &name, b"secret") {
                prop_assert_eq!(blob.id_object.len(), 2 + 32 + 2 + 6);
            }
        }
    }
}
