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
}
