//! MCUboot image format for Palisade: parse and inspect images, sign them byte-for-byte like
//! imgtool 2.5, verify them like MCUboot's bootutil, encrypt/decrypt them (ECIES-X25519), and
//! decide what a device boots ([`boot`]).
//!
//! The crate is `no_std` + `alloc`; the parse and verify paths ([`image`], [`verify`],
//! [`boot::decide`]) do not allocate. ring is the only signature/digest provider.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod boot;
mod der;
pub mod enc;
pub mod image;
pub mod key;
pub mod pkcs8enc;
pub mod sign;
pub mod verify;

pub use der::{base64_decode, base64_encode, pem_decode, pem_encode};
pub use image::{Dependency, Image, ImageHeader, ImageVersion, ParseError, Tlv, TlvArea};
pub use key::{Key, KeyError, KeyType, PrivateKey, PublicKey};
pub use sign::{PublicKeyFormat, SignError, SignOptions, sign};
pub use verify::{HashAlg, TrustedKey, Verified, VerifyError, VerifyPolicy, verify};

/// Entry points for fuzz targets (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    use crate::verify::{TrustedKey, VerifyPolicy};

    /// Parses an image, walks every TLV and runs the verifier with a fixed key; must never panic.
    pub fn image(data: &[u8]) {
        if let Ok(img) = crate::image::Image::parse(data) {
            for (_, t) in img.tlvs() {
                let _ = crate::image::tlv::name(t.kind);
            }
            let _ = img.security_counter();
            let _ = img.dependencies().count();
            let _ = img.hashed_region().len();
        }
        let der = [0u8; 44];
        let keys = [TrustedKey {
            kind: crate::key::KeyType::Ed25519,
            der: &der,
        }];
        let _ = crate::verify::verify(
            data,
            &keys,
            &VerifyPolicy {
                min_security_counter: Some(1),
                payload_is_plaintext: true,
            },
        );
        let _ = crate::image::read_trailer(data, 8);
        let _ = crate::boot::SlotTrailer::read(data);
        // Key unwrapping from hostile TLVs (ECDH on arbitrary points, HMAC, AES-CTR).
        for k in [
            crate::enc::DecryptionKey::X25519([7; 32]),
            crate::enc::DecryptionKey::P256([7; 32]),
        ] {
            let _ = crate::enc::decrypt_image_with(data, &k);
        }
    }

    /// Key files: PEM text (encrypted or not) and raw DER in every form we read; must never
    /// panic. The iteration count of hostile encrypted keys is what bounds the work.
    pub fn key(data: &[u8]) {
        if let Ok(text) = core::str::from_utf8(data) {
            let _ = crate::key::Key::from_pem_with_password(text, Some(b"pw"));
        }
        let _ = crate::pkcs8enc::decrypt(data, b"pw");
        let _ = crate::key::PrivateKey::from_pkcs8(data);
        let _ = crate::key::PublicKey::from_spki(data);
        let _ = crate::key::PublicKey::from_pkcs1(data);
        let _ = crate::enc::DecryptionKey::from_pkcs8(data);
        let _ = crate::enc::DecryptionKey::from_sec1(data);
        let _ = crate::enc::DecryptionKey::from_pkcs1(data);
        if let Ok(text) = core::str::from_utf8(data) {
            let _ = crate::enc::DecryptionKey::from_pem(text);
        }
    }
}
