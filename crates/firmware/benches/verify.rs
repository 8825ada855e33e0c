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
    // Decrypting a 1 MiB encrypted image (key unwrap + AES-128-CTR over the payload), per
    // key-wrapping scheme.
    use palisade_firmware::enc::{DecryptionKey, decrypt_image_with};
    use palisade_firmware::sign::{EncryptTo, sign_encrypted};
    let (signer, _) = PrivateKey::generate(KeyType::Ed25519).expect("keygen");
    let (_, rsa_pem) = PrivateKey::generate(KeyType::Rsa2048).expect("rsa keygen");
    let schemes = [
        ("ECIES-X25519", DecryptionKey::X25519([3; 32])),
        ("ECIES-P256", DecryptionKey::P256([3; 32])),
        (
            "RSA-OAEP",
            DecryptionKey::from_pem(&rsa_pem).expect("rsa key"),
        ),
    ];
    for (name, dk) in schemes {
        let opts = SignOptions {
            header_size: 0x200,
            pad_header: true,
            ..SignOptions::default()
        };
        let recipient = dk.public_key().expect("public key");
        let enc = EncryptTo {
            recipient: &recipient,
            aes_key_len: 16,
        };
        let img = sign_encrypted(&payload, Some(&signer), &opts, &enc).expect("encrypt");
        let (med, best) = time(
            || {
                std::hint::black_box(decrypt_image_with(&img, &dk).expect("decrypt"));
            },
            iters / 4 + 1,
        );
        println!("decrypt 1 MiB {name:<13} median {med:>9.3?}  best {best:>9.3?}");
    }
    for kind in [KeyType::Rsa2048, KeyType::Rsa3072] {
        let (med, best) = time(
            || {
                std::hint::black_box(PrivateKey::generate(kind).expect("keygen"));
            },
            5,
        );
        println!(
            "keygen {:<20} median {med:>9.3?}  best {best:>9.3?}",
            kind.name()
        );
    }
}
