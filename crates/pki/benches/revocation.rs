//! Revocation bench (issue 10 bar: a CRL with 100,000 entries checked in microseconds per
//! handshake). Run: `cargo bench -p palisade-pki --bench revocation`. Plain `Instant` timing
//! (no bench framework), so the build stays lean; results go in crates/pki/BENCH.md.

use std::hint::black_box;
use std::time::Instant;

use palisade_pki::ca::{NewCa, random_serial};
use palisade_pki::{Ca, KeyKind, Policy, Reason, RevocationSet, RevokedEntry};

fn main() {
    let n: usize = std::env::var("PKI_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let now = 1_790_000_000;
    let NewCa { ca, .. } = Ca::generate("Bench", KeyKind::P256, now).expect("CA");
    let entries: Vec<RevokedEntry> = (0..n)
        .map(|_| RevokedEntry {
            serial: random_serial().expect("serial"),
            time: now,
            reason: Reason::KeyCompromise,
        })
        .collect();

    let t = Instant::now();
    let crl = ca.crl(&entries, 1, now, 86_400).expect("CRL");
    let sign_ms = t.elapsed().as_secs_f64() * 1e3;

    let t = Instant::now();
    let (set, info) = RevocationSet::from_crl(&crl, ca.issuing_der(), Some(now + 1)).expect("load");
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(info.entries, n);
    assert_eq!(set.len(), n);

    // Half hits, half misses, in random order; each check is one per-handshake lookup.
    let probes: Vec<Vec<u8>> = (0..1_000_000)
        .map(|i| {
            if i % 2 == 0 {
                entries[(i * 7919) % n].serial.clone()
            } else {
                random_serial().expect("serial")
            }
        })
        .collect();
    let t = Instant::now();
    let mut hits = 0usize;
    for p in &probes {
        if set.is_revoked(black_box(p)) {
            hits += 1;
        }
    }
    let per_ns = t.elapsed().as_secs_f64() * 1e9 / probes.len() as f64;
    assert_eq!(hits, probes.len() / 2);

    // Issuance throughput of the signing core alone (CSR parse + verify + sign), for context.
    let csrs: Vec<Vec<u8>> = (0..2000)
        .map(|i| {
            let key = palisade_pki::keys::generate(KeyKind::P256).expect("key");
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, format!("dev-{i}"));
            p.serialize_request(&key).expect("csr").der().to_vec()
        })
        .collect();
    let t = Instant::now();
    for c in &csrs {
        black_box(
            ca.issue_csr(c, None, None, &Policy::default(), now)
                .expect("issue"),
        );
    }
    let issue_us = t.elapsed().as_secs_f64() * 1e6 / csrs.len() as f64;

    println!("CRL entries:                 {n}");
    println!("CRL size:                    {} bytes", crl.len());
    println!("CRL sign (rcgen):            {sign_ms:.1} ms");
    println!("CRL parse+verify+index:      {load_ms:.1} ms");
    println!(
        "revocation check:            {per_ns:.0} ns per lookup (1,000,000 lookups, 50% hits)"
    );
    println!("issue from CSR (P-256):      {issue_us:.0} us per certificate");

    // EK/AK binding: MakeCredential to the swtpm EKs of crates/pki/src/credential.rs's tests.
    let ak_name =
        palisade_pki::unhex("000b52800fd2974029fe1a1cab49543f19937ecca09fed7434681d3029c1ccc45a3e")
            .expect("name");
    for (what, hex) in [("RSA-2048", EK_RSA), ("ECC P-256", EK_ECC)] {
        let ek =
            palisade_pki::credential::parse_tpm2b_public(&palisade_pki::unhex(hex).expect("hex"))
                .expect("EK");
        let t = Instant::now();
        for _ in 0..1000 {
            black_box(
                palisade_pki::credential::make_credential(&ek, &ak_name, &[7; 32]).expect("seal"),
            );
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / 1000.0;
        println!("MakeCredential ({what} EK): {us:.0} us per credential");
    }
}

const EK_ECC: &str = "007a0023000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa0006008000430010000300100020a894181efb80bed100998e3517af89f4b5cf4ad24f084ab75cee631bc8df099a0020a21488dadbb75ad913fb8084927032dd0929e0441da8d1246ea5104af55d0d9d";
const EK_RSA: &str = "013a0001000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa00060080004300100800000000000100d1d9ae742bd0b06f97a78b8b0d8a9e084cebc41886fe2e774cf01bd5ee96f0365969bcdae971a61fa90d677a79b7644634ed6027158fa86dce3171b888145fb23e0160d9789b769598849935189ff08091c25d78cb79c416d5e31ae98305e9ffa66e90cbf0d512c2a26681a3c7d4e132e80cdb556c5466e6ff29f738b19f602bab08a754368f30445bb4edb547e4f18e0a11a19025e4689efb52bce087552fc6a8b661f28e4b0bc4cfd042690db21e2f8360e2f8668734a413cc8faf4c50ac5b811f50ee3c09e26a5741b629f31f9eab4a0f25bb3fca4b0192f23dcbef244217a3c560b5b42d0f1ddc9952b5fe0aac5e0439fa468fff69cf5de8c00edb3d0755";
