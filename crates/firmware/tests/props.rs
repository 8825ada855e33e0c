//! Property tests: the parser and verifier never panic, and sign → parse round-trips.

use proptest::prelude::*;

use palisade_firmware::image::Image;
use palisade_firmware::{Dependency, ImageVersion, KeyType, SignOptions, fuzzing, sign};

/// One RSA-2048 and one P-256 PKCS#8 key, generated once for the whole run.
static DECRYPTION_KEYS: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::image(&data);
    }

    #[test]
    fn mutated_encrypted_keys_never_panic(
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        cut in any::<u16>(),
    ) {
        use palisade_firmware::{pem_decode, pkcs8enc};
        let (_, pem) = palisade_firmware::PrivateKey::generate(KeyType::Ed25519).unwrap();
        let (_, p8) = pem_decode(&pem).unwrap();
        let mut enc = pkcs8enc::encrypt(&p8, b"pw", 1).unwrap();
        let c = usize::from(cut) % (enc.len() + 1);
        fuzzing::key(&enc[..c]);
        for (pos, v) in flips {
            let n = enc.len();
            enc[usize::from(pos) % n] ^= v;
        }
        fuzzing::key(&enc);
        // Whatever decrypts must be a DER SEQUENCE (the padding and structure checks hold).
        if let Ok(out) = pkcs8enc::decrypt(&enc, b"pw") {
            prop_assert_eq!(out.first(), Some(&0x30));
        }
    }

    #[test]
    fn mutated_images_never_panic(
        len in 0usize..3000,
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
        cut in any::<u16>(),
    ) {
        let (k, _) = palisade_firmware::PrivateKey::generate(KeyType::Ed25519).unwrap();
        let mut img = sign(&vec![0xa5; len], Some(&k), &SignOptions {
            header_size: 0x40, pad_header: true, security_counter: Some(3),
            dependencies: vec![Dependency { image_id: 1, min_version: ImageVersion::default() }],
            ..SignOptions::default()
        }).unwrap();
        for (pos, v) in flips {
            let n = img.len();
            img[usize::from(pos) % n] ^= v;
        }
        let c = usize::from(cut) % (img.len() + 1);
        fuzzing::image(&img[..c]);
        fuzzing::image(&img);
    }

    /// ECIES-P256 images with flipped or cut bytes: decryption fails cleanly or, when only
    /// the payload changed, yields an image the verifier then rejects; never a panic.
    #[test]
    fn mutated_p256_encrypted_images_never_panic(
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        cut in any::<u16>(),
    ) {
        use palisade_firmware::enc::{DecryptionKey, decrypt_image_with};
        use palisade_firmware::sign::{EncryptTo, sign_encrypted};
        let dk = DecryptionKey::P256([9; 32]);
        let recipient = dk.public_key().unwrap();
        let (k, _) = palisade_firmware::PrivateKey::generate(KeyType::Ed25519).unwrap();
        let mut img = sign_encrypted(&[0x3c; 600], Some(&k), &SignOptions {
            header_size: 0x40, pad_header: true, ..SignOptions::default()
        }, &EncryptTo { recipient: &recipient, aes_key_len: 16 }).unwrap();
        prop_assert!(decrypt_image_with(&img, &dk).is_ok());
        for (pos, v) in flips {
            let n = img.len();
            img[usize::from(pos) % n] ^= v;
        }
        let c = usize::from(cut) % (img.len() + 1);
        let _ = decrypt_image_with(&img[..c], &dk);
        let _ = decrypt_image_with(&img, &dk);
        fuzzing::image(&img);
    }

    /// RSA and EC decryption keys with flipped or cut bytes: a clean error or a key, never a
    /// panic (the `rsa` crate's parsing and consistency checks included).
    #[test]
    fn mutated_decryption_keys_never_panic(
        which in 0usize..2,
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        cut in any::<u16>(),
    ) {
        let mut der = DECRYPTION_KEYS.get_or_init(|| {
            [KeyType::Rsa2048, KeyType::EcdsaP256].map(|k| {
                let (_, pem) = palisade_firmware::PrivateKey::generate(k).unwrap();
                palisade_firmware::pem_decode(&pem).unwrap().1
            })
        })[which].clone();
        let c = usize::from(cut) % (der.len() + 1);
        fuzzing::key(&der[..c]);
        for (pos, v) in flips {
            let n = der.len();
            der[usize::from(pos) % n] ^= v;
        }
        fuzzing::key(&der);
    }

    #[test]
    fn sign_parse_round_trip(
        len in 0usize..5000, major in any::<u8>(), minor in any::<u8>(), rev in any::<u16>(),
        build in any::<u32>(), counter in proptest::option::of(any::<u32>()),
        hdr in prop_oneof![Just(0x20u16), Just(0x100), Just(0x200)],
    ) {
        let version = ImageVersion { major, minor, revision: rev, build };
        let img = sign(&vec![1u8; len], None, &SignOptions {
            version, header_size: hdr, pad_header: true, security_counter: counter,
            ..SignOptions::default()
        }).unwrap();
        let p = Image::parse(&img).unwrap();
        prop_assert_eq!(p.header.version, version);
        prop_assert_eq!(p.header.img_size as usize, len);
        prop_assert_eq!(p.security_counter(), counter);
        prop_assert_eq!(p.end(), img.len());
    }
}
