//! Sign → verify with our own code, and every rejection reason.

use palisade_firmware::image::{Image, tlv};
use palisade_firmware::{KeyType, PublicKeyFormat, VerifyError, VerifyPolicy, sign, verify};

use crate::common::{key, opts, payload};

fn pol(min: Option<u32>) -> VerifyPolicy {
    VerifyPolicy {
        min_security_counter: min,
        payload_is_plaintext: false,
    }
}

#[test]
fn sign_verify_all_generated_key_types() {
    for kind in [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384] {
        let (k, _) = key(kind);
        let pk = k.public_key().unwrap();
        for fmt in [PublicKeyFormat::Hash, PublicKeyFormat::Full] {
            let mut o = opts("1.2.3+4", Some(5));
            o.public_key_format = fmt;
            let img = sign(&payload(70_000, 1), Some(&k), &o).unwrap();
            let v = verify(&img, &[pk.as_trusted()], &pol(Some(5))).unwrap();
            assert_eq!(v.security_counter, Some(5));
            assert_eq!(v.version.to_string(), "1.2.3+4");
            assert_eq!(v.key_kind, kind);
        }
    }
}

#[test]
fn rejections_have_precise_reasons() {
    let (k, _) = key(KeyType::Ed25519);
    let (other, _) = key(KeyType::Ed25519);
    let pk = k.public_key().unwrap();
    let img = sign(&payload(70_000, 2), Some(&k), &opts("1.0.0", Some(5))).unwrap();
    let trusted = [pk.as_trusted()];
    let parsed = Image::parse(&img).unwrap();
    let prot = parsed.protected.unwrap();
    let sec = prot.iter().find(|t| t.kind == tlv::SEC_CNT).unwrap();
    let sig = parsed
        .unprotected
        .iter()
        .find(|t| t.kind == tlv::ED25519)
        .unwrap();

    // Tampered payload.
    let mut t = img.clone();
    t[4000] ^= 0x55;
    assert!(matches!(
        verify(&t, &trusted, &pol(None)),
        Err(VerifyError::HashMismatch { .. })
    ));
    // Tampered protected TLV (the security counter value).
    let mut t = img.clone();
    t[sec.offset + 4] = 0x09;
    assert!(matches!(
        verify(&t, &trusted, &pol(None)),
        Err(VerifyError::HashMismatch { .. })
    ));
    // Tampered signature.
    let mut t = img.clone();
    t[sig.offset + 10] ^= 1;
    assert_eq!(
        verify(&t, &trusted, &pol(None)),
        Err(VerifyError::BadSignature {
            offset: sig.offset,
            name: "ED25519"
        })
    );
    // Wrong key.
    let opk = other.public_key().unwrap();
    assert!(matches!(
        verify(&img, &[opk.as_trusted()], &pol(None)),
        Err(VerifyError::UnknownKey { trusted: 1, .. })
    ));
    // Truncated.
    for cut in [0, 20, 600, 70_000, img.len() - 1] {
        let e = verify(&img[..cut], &trusted, &pol(None)).unwrap_err();
        assert!(matches!(e, VerifyError::Parse(_)), "cut {cut}: {e}");
    }
    // Downgraded security counter.
    assert_eq!(
        verify(&img, &trusted, &pol(Some(6))),
        Err(VerifyError::Rollback {
            image: 5,
            minimum: 6,
            offset: sec.offset
        })
    );
    let nocnt = sign(&payload(100, 2), Some(&k), &opts("1.0.0", None)).unwrap();
    assert_eq!(
        verify(&nocnt, &trusted, &pol(Some(1))),
        Err(VerifyError::MissingSecurityCounter { minimum: 1 })
    );
    // Error messages carry offsets.
    let msg = verify(&img, &trusted, &pol(Some(6)))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&sec.offset.to_string()), "{msg}");
}

#[test]
fn security_counter_outside_protected_area_is_refused() {
    // Hand-build: an unsigned image whose SEC_CNT sits in the unprotected area.
    let (k, _) = key(KeyType::Ed25519);
    let img = sign(&payload(64, 3), Some(&k), &opts("1.0.0", None)).unwrap();
    let parsed = Image::parse(&img).unwrap();
    let off = parsed.unprotected.offset;
    let mut t = img[..off].to_vec();
    let mut area = img[off + 4..].to_vec();
    area.extend_from_slice(&[0x50, 0, 4, 0, 9, 0, 0, 0]);
    t.extend_from_slice(&0x6907u16.to_le_bytes());
    t.extend_from_slice(&((area.len() + 4) as u16).to_le_bytes());
    t.extend_from_slice(&area);
    let pk = k.public_key().unwrap();
    assert!(matches!(
        verify(&t, &[pk.as_trusted()], &pol(None)),
        Err(VerifyError::UnprotectedTlv { kind: 0x50, .. })
    ));
}

#[test]
fn encrypted_round_trip() {
    use palisade_firmware::enc::{decrypt_image, x25519_public};
    use palisade_firmware::sign::{EncryptTo, sign_encrypted};
    use palisade_firmware::{PrivateKey, key::Key};
    let (k, _) = key(KeyType::Ed25519);
    let pk = k.public_key().unwrap();
    let (_, xpem) = PrivateKey::generate(KeyType::X25519).unwrap();
    let Key::Private(PrivateKey::X25519(xs)) = Key::from_pem(&xpem).unwrap() else {
        panic!()
    };
    let xpub = x25519_public(&xs);
    for aes in [16, 32] {
        let data = payload(5000, 4);
        let img = sign_encrypted(
            &data,
            Some(&k),
            &opts("1.0.0", Some(1)),
            &EncryptTo {
                recipient: &xpub,
                aes_key_len: aes,
            },
        )
        .unwrap();
        assert!(matches!(
            verify(&img, &[pk.as_trusted()], &pol(None)),
            Err(VerifyError::Encrypted { .. })
        ));
        let plain = decrypt_image(&img, &xs).unwrap();
        assert_eq!(&plain[0x200..0x200 + 5000], &data[..]);
        verify(
            &plain,
            &[pk.as_trusted()],
            &VerifyPolicy {
                min_security_counter: Some(1),
                payload_is_plaintext: true,
            },
        )
        .unwrap();
        let mut other = xs;
        other[5] ^= 1;
        assert!(decrypt_image(&img, &other).is_err());
    }
}

#[test]
fn encrypted_p256_round_trip_and_refusals() {
    use palisade_firmware::PrivateKey;
    use palisade_firmware::enc::{DecryptionKey, EncError, decrypt_image_with};
    use palisade_firmware::sign::{EncryptTo, sign_encrypted};
    let (k, _) = key(KeyType::EcdsaP256);
    let pk = k.public_key().unwrap();
    let (_, epem) = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let dk = DecryptionKey::from_pem(&epem).unwrap();
    let epub = dk.public_key().unwrap();
    assert_eq!(
        Some(epub.clone()),
        palisade_firmware::key::Key::from_pem(&epem)
            .unwrap()
            .public_key(),
        "the decryption key's public half is the EC key's"
    );
    let (_, other_pem) = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let other = DecryptionKey::from_pem(&other_pem).unwrap();
    for (aes, tlv_len) in [(16, 113), (32, 129)] {
        let data = payload(7000, 8);
        let img = sign_encrypted(
            &data,
            Some(&k),
            &opts("1.2.0", Some(3)),
            &EncryptTo {
                recipient: &epub,
                aes_key_len: aes,
            },
        )
        .unwrap();
        let parsed = Image::parse(&img).unwrap();
        let t = parsed
            .unprotected
            .iter()
            .find(|t| t.kind == tlv::ENC_EC256)
            .expect("ENC_EC256 TLV");
        assert_eq!(t.value.len(), tlv_len);
        assert_eq!(t.value[0], 0x04, "uncompressed ephemeral point");
        assert_ne!(&img[0x200..0x200 + 64], &data[..64], "payload is encrypted");
        let plain = decrypt_image_with(&img, &dk).unwrap();
        assert_eq!(&plain[0x200..0x200 + data.len()], &data[..]);
        verify(
            &plain,
            &[pk.as_trusted()],
            &VerifyPolicy {
                min_security_counter: Some(3),
                payload_is_plaintext: true,
            },
        )
        .unwrap();
        assert!(matches!(
            decrypt_image_with(&img, &other),
            Err(EncError::BadMac { .. })
        ));
        // An X25519 key finds no TLV of its scheme.
        assert!(matches!(
            decrypt_image_with(&img, &DecryptionKey::X25519([7; 32])),
            Err(EncError::NoKeyTlv(_))
        ));
        // A flipped byte in the ephemeral point: not on the curve, or a wrong MAC.
        let mut bad = img.clone();
        bad[t.offset + 4 + 10] ^= 0x40;
        assert!(matches!(
            decrypt_image_with(&bad, &dk),
            Err(EncError::BadPoint { .. } | EncError::BadMac { .. })
        ));
    }
}

#[test]
fn encrypted_rsa_oaep_round_trip_and_refusals() {
    use palisade_firmware::PrivateKey;
    use palisade_firmware::enc::{DecryptionKey, EncError, decrypt_image_with};
    use palisade_firmware::sign::{EncryptTo, sign_encrypted};
    let (k, _) = key(KeyType::Rsa2048);
    let pk = k.public_key().unwrap();
    let (_, epem) = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    let dk = DecryptionKey::from_pem(&epem).unwrap();
    let epub = dk.public_key().unwrap();
    assert_eq!(
        Some(epub.clone()),
        palisade_firmware::key::Key::from_pem(&epem)
            .unwrap()
            .public_key()
    );
    let data = payload(4000, 3);
    let img = sign_encrypted(
        &data,
        Some(&k),
        &opts("1.0.0", Some(1)),
        &EncryptTo {
            recipient: &epub,
            aes_key_len: 16,
        },
    )
    .unwrap();
    let t = Image::parse(&img)
        .unwrap()
        .unprotected
        .iter()
        .find(|t| t.kind == tlv::ENC_RSA2048)
        .map(|t| (t.offset, t.value.len()))
        .expect("ENC_RSA2048 TLV");
    assert_eq!(t.1, 256);
    let plain = decrypt_image_with(&img, &dk).unwrap();
    assert_eq!(&plain[0x200..0x200 + data.len()], &data[..]);
    verify(
        &plain,
        &[pk.as_trusted()],
        &VerifyPolicy {
            min_security_counter: Some(1),
            payload_is_plaintext: true,
        },
    )
    .unwrap();
    let mut bad = img.clone();
    bad[t.0 + 4 + 100] ^= 1;
    assert!(matches!(
        decrypt_image_with(&bad, &dk),
        Err(EncError::BadMac { .. })
    ));
    // RSA-3072 cannot be an ENC_RSA2048 recipient's decryption key.
    let (_, big) = PrivateKey::generate(KeyType::Rsa3072).unwrap();
    assert!(matches!(
        DecryptionKey::from_pem(&big),
        Err(EncError::BadKey(_))
    ));
}
