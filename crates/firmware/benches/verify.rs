//! Verify a 1 MiB image (SHA-256 + signature), per algorithm. `cargo bench -p palisade-firmware`.
//! Prints the median and best of repeated runs; figures go to BENCH.md.

use std::time::{Duration, Instant};

use palisade_firmware::{KeyType, PrivateKey, SignOptions, VerifyPolicy, sign, verify};

fn time(mut f: impl FnMut(), iters: usize) -> (Duration, Duration) {
    let mut v: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    (v[v.len() / 2], v[0])
}

fn main() {
    let iters = std::env::var("ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let payload: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i * 7 + i / 13) as u8)
        .collect();
    let (med, best) = time(
        || {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &payload));
        },
        iters,
    );
    println!("sha256 1 MiB                median {med:>9.3?}  best {best:>9.3?}");
    for kind in [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384] {
        let (k, _) = PrivateKey::generate(kind).expect("keygen");
        let pk = k.public_key().expect("pub");
        let opts = SignOptions {
            header_size: 0x200,
            pad_header: true,
            security_counter: Some(1),
            ..SignOptions::default()
        };
        let img = sign(&payload, Some(&k), &opts).expect("sign");
        let keys = [pk.as_trusted()];
        let pol = VerifyPolicy {
            min_security_counter: Some(1),
            payload_is_plaintext: false,
        };
        let (med, best) = time(
            || {
                verify(std::hint::black_box(&img), &keys, &pol).expect("valid");
            },
            iters,
        );
        println!(
            "verify 1 MiB {:<14} median {med:>9.3?}  best {best:>9.3?}",
            kind.name()
        );
        let (med, best) = time(
            || {
                std::hint::black_box(sign(&payload, Some(&k), &opts).expect("sign"));
            },
            iters / 4 + 1,
        );
        println!(
            "sign   1 MiB {:<14} median {med:>9.3?}  best {best:>9.3?}",
            kind.name()
        );
    }
}
