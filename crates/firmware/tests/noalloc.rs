//! The verify path and the boot decision do not allocate: measured with a counting global
//! allocator (stats_alloc) in a binary without the test harness.

use std::alloc::System;

use palisade_firmware::boot::{BootConfig, UpgradeMode, decide};
use palisade_firmware::{KeyType, PrivateKey, SignOptions, VerifyPolicy, sign, verify};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    for kind in [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384] {
        let (k, _) = PrivateKey::generate(kind).expect("keygen");
        let pk = k.public_key().expect("public key");
        let opts = SignOptions {
            header_size: 0x200,
            pad_header: true,
            security_counter: Some(4),
            ..SignOptions::default()
        };
        let img = sign(&vec![0x5a; 256 * 1024], Some(&k), &opts).expect("sign");
        let mut primary = img.clone();
        primary.resize(img.len() + 4096, 0xff);
        let secondary = vec![0xffu8; primary.len()];
        let keys = [pk.as_trusted()];
        let policy = VerifyPolicy {
            min_security_counter: Some(3),
            payload_is_plaintext: false,
        };
        let cfg = BootConfig {
            keys: &keys,
            mode: UpgradeMode::Swap,
        };
        // Warm up (lazy CPU-feature detection and the like).
        verify(&img, &keys, &policy).expect("valid");

        let mut bad = img.clone();
        bad[0x300] ^= 1;
        let region = Region::new(GLOBAL);
        let v = verify(&img, &keys, &policy);
        let before_bad = region.change();
        let region2 = Region::new(GLOBAL);
        let e = verify(&bad, &keys, &policy);
        let d = decide(&primary, &secondary, &cfg, 3);
        let after = region2.change();
        assert!(v.is_ok() && e.is_err() && d.is_ok());
        assert_eq!(
            before_bad.allocations, 0,
            "{kind:?}: verify allocated {} times",
            before_bad.allocations
        );
        assert_eq!(
            after.allocations, 0,
            "{kind:?}: rejecting verify + boot decision allocated {} times",
            after.allocations
        );
        println!("{kind:?}: verify, rejecting verify and boot::decide made 0 allocations");
    }
}
