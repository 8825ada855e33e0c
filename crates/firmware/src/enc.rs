//! Encrypted images: ECIES-X25519 key wrapping (TLV 0x33) and AES-CTR payload encryption,
//! as in MCUboot's `docs/encrypted_images.md`.
//!
//! X25519(ephemeral, device) → HKDF-SHA256(no salt, info "MCUBoot_ECIES_v1") → AES key
//! (first 16/32 bytes, CTR with a zero nonce) that wraps the image key, and an HMAC-SHA256
//! key (last 32 bytes) over the wrapped key. The TLV is `ephemeral ‖ tag ‖ wrapped key`.
//! ring has no raw AES-CTR and no static X25519 keys, so `aes`/`ctr` and `x25519-dalek`
//! supply those two primitives; HKDF, HMAC and the ephemeral agreement are ring's.

use alloc::vec::Vec;

use aes::cipher::{KeyIvInit, StreamCipher};
use ring::rand::SecureRandom;
use ring::{agreement, hkdf, hmac};

use crate::image::{Image, ParseError, tlv};
use crate::key::{KeyType, PublicKey};

const INFO: &[u8] = b"MCUBoot_ECIES_v1";

/// Why an encrypted image could not be decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncError {
    /// The image does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The image is not encrypted.
    #[error("image is not encrypted (no ENCRYPTED flag at offset 16)")]
    NotEncrypted,
    /// No ENC_X25519 TLV.
    #[error(
        "no ENC_X25519 TLV (0x33) in the unprotected area (other key-wrapping schemes are not supported)"
    )]
    NoKeyTlv,
    /// The TLV has a bad length.
    #[error("ENC_X25519 TLV at offset {offset} has length {len}, expected 80 or 96")]
    BadKeyTlv {
        /// Offset of the TLV.
        offset: usize,
        /// Its length.
        len: usize,
    },
    /// The HMAC over the wrapped key does not verify (wrong device key or tampering).
    #[error(
        "ENC_X25519 TLV at offset {offset}: HMAC check failed (wrong decryption key or tampered TLV)"
    )]
    BadMac {
        /// Offset of the TLV.
        offset: usize,
    },
    /// Crypto failure.
    #[error("crypto failure")]
    Crypto,
}

/// Applies AES-CTR (zero nonce, big-endian counter) in place.
pub fn aes_ctr(key: &[u8], data: &mut [u8]) -> Result<(), &'static str> {
    let iv = [0u8; 16];
    match key.len() {
        16 => ctr::Ctr128BE::<aes::Aes128>::new_from_slices(key, &iv)
            .map_err(|_| "AES key")?
            .apply_keystream(data),
        32 => ctr::Ctr128BE::<aes::Aes256>::new_from_slices(key, &iv)
            .map_err(|_| "AES key")?
            .apply_keystream(data),
        _ => return Err("AES key length"),
    }
    Ok(())
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(shared: &[u8], aes_len: usize) -> Result<Vec<u8>, EncError> {
    let mut okm = alloc::vec![0u8; aes_len + 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, &[])
        .extract(shared)
        .expand(&[INFO], Len(aes_len + 32))
        .and_then(|o| o.fill(&mut okm))
        .map_err(|_| EncError::Crypto)?;
    Ok(okm)
}

/// Generates an image key and wraps it for `recipient` (an X25519 public key).
/// Returns `(TLV value, plain image key)`.
pub fn wrap_key(recipient: &PublicKey, aes_len: usize) -> Result<(Vec<u8>, Vec<u8>), EncError> {
    if recipient.kind != KeyType::X25519 || !(aes_len == 16 || aes_len == 32) {
        return Err(EncError::Crypto);
    }
    let rng = ring::rand::SystemRandom::new();
    let mut plain = alloc::vec![0u8; aes_len];
    rng.fill(&mut plain).map_err(|_| EncError::Crypto)?;
    let eph = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
        .map_err(|_| EncError::Crypto)?;
    let eph_pub = eph.compute_public_key().map_err(|_| EncError::Crypto)?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, recipient.raw());
    let okm = agreement::agree_ephemeral(eph, &peer, |s| derive(s, aes_len))
        .map_err(|_| EncError::Crypto)??;
    let mut wrapped = plain.clone();
    aes_ctr(&okm[..aes_len], &mut wrapped).map_err(|_| EncError::Crypto)?;
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &okm[aes_len..]),
        &wrapped,
    );
    let mut tlv_val = Vec::with_capacity(64 + aes_len);
    tlv_val.extend_from_slice(eph_pub.as_ref());
    tlv_val.extend_from_slice(tag.as_ref());
    tlv_val.extend_from_slice(&wrapped);
    Ok((tlv_val, plain))
}

/// The X25519 public key of a private scalar.
pub fn x25519_public(private: &[u8; 32]) -> PublicKey {
    let s = x25519_dalek::StaticSecret::from(*private);
    let p = x25519_dalek::PublicKey::from(&s);
    PublicKey::from_raw(KeyType::X25519, p.as_bytes())
}

/// Unwraps the image key from an ENC_X25519 TLV value.
pub fn unwrap_key(private: &[u8; 32], tlv_val: &[u8], offset: usize) -> Result<Vec<u8>, EncError> {
    let aes_len = match tlv_val.len() {
        80 => 16,
        96 => 32,
        len => return Err(EncError::BadKeyTlv { offset, len }),
    };
    let eph: [u8; 32] = tlv_val[..32].try_into().map_err(|_| EncError::Crypto)?;
    let tag = &tlv_val[32..64];
    let wrapped = &tlv_val[64..];
    let shared = x25519_dalek::StaticSecret::from(*private)
        .diffie_hellman(&x25519_dalek::PublicKey::from(eph));
    let okm = derive(shared.as_bytes(), aes_len)?;
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, &okm[aes_len..]),
        wrapped,
        tag,
    )
    .map_err(|_| EncError::BadMac { offset })?;
    let mut key = wrapped.to_vec();
    aes_ctr(&okm[..aes_len], &mut key).map_err(|_| EncError::Crypto)?;
    Ok(key)
}

/// Decrypts an encrypted image: returns a copy whose payload is plaintext (flags unchanged),
/// ready for [`crate::verify::verify`] with `payload_is_plaintext`.
pub fn decrypt_image(bytes: &[u8], private: &[u8; 32]) -> Result<Vec<u8>, EncError> {
    let img = Image::parse(bytes)?;
    if !img.header.is_encrypted() {
        return Err(EncError::NotEncrypted);
    }
    let t = img
        .unprotected
        .iter()
        .find(|t| t.kind == tlv::ENC_X25519)
        .ok_or(EncError::NoKeyTlv)?;
    let key = unwrap_key(private, t.value, t.offset)?;
    let mut out = bytes[..img.end()].to_vec();
    let start = usize::from(img.header.hdr_size);
    let end = start + img.header.img_size as usize;
    aes_ctr(&key, &mut out[start..end]).map_err(|_| EncError::Crypto)?;
    Ok(out)
}
