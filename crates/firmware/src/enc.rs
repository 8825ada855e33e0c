//! Encrypted images: ECIES-X25519 (TLV 0x33) and ECIES-P256 (TLV 0x32) key wrapping and
//! AES-CTR payload encryption, as in MCUboot's `docs/encrypted_images.md`.
//!
//! ECDH(ephemeral, device) → HKDF-SHA256(no salt, info "MCUBoot_ECIES_v1") → AES key
//! (first 16/32 bytes, CTR with a zero nonce) that wraps the image key, and an HMAC-SHA256
//! key (last 32 bytes) over the wrapped key. The TLV is `ephemeral ‖ tag ‖ wrapped key`; the
//! ephemeral key is 32 bytes for X25519 and a 65-byte uncompressed point for P-256, whose
//! shared secret is the x-coordinate. ring has no raw AES-CTR and no static-key agreement, so
//! `aes`/`ctr`, `x25519-dalek` and `p256` (ecdh) supply those primitives for the device side;
//! HKDF, HMAC and the ephemeral agreement of the encrypting side are ring's.
//!
//! RSA-OAEP (TLV 0x30, ENC_RSA2048): the image key encrypted with RSAES-OAEP (SHA-256, MGF1
//! SHA-256, empty label) to an RSA-2048 key, as imgtool does. ring has no RSA encryption, so the
//! RustCrypto `rsa` crate does both directions. Its private-key operation is not constant-time
//! (RUSTSEC-2023-0071, the Marvin attack); that is accepted here because the decryption runs
//! once per image on the device, over a TLV the device does not answer for byte by byte, and
//! never behind a network oracle. Image signing with RSA keys stays with ring.

use alloc::vec::Vec;

use aes::cipher::{KeyIvInit, StreamCipher};
use ring::rand::SecureRandom;
use ring::{agreement, hkdf, hmac};

use crate::der;
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
    /// No key-wrapping TLV for the decryption key's scheme.
    #[error(
        "no {0} TLV in the unprotected area (the image is wrapped for another scheme, or not at all)"
    )]
    NoKeyTlv(&'static str),
    /// The TLV has a bad length.
    #[error("{name} TLV at offset {offset} has length {len}, expected {expected}")]
    BadKeyTlv {
        /// TLV name.
        name: &'static str,
        /// Offset of the TLV.
        offset: usize,
        /// Its length.
        len: usize,
        /// The lengths allowed.
        expected: &'static str,
    },
    /// The ephemeral public key in the TLV is not a valid curve point.
    #[error("{name} TLV at offset {offset}: the ephemeral key is not a valid curve point")]
    BadPoint {
        /// TLV name.
        name: &'static str,
        /// Offset of the TLV.
        offset: usize,
    },
    /// The HMAC over the wrapped key does not verify (wrong device key or tampering).
    #[error(
        "{name} TLV at offset {offset}: HMAC check failed (wrong decryption key or tampered TLV)"
    )]
    BadMac {
        /// TLV name.
        name: &'static str,
        /// Offset of the TLV.
        offset: usize,
    },
    /// The key is not an encryption key we support (X25519 or EC P-256).
    #[error("not an X25519 or EC P-256 private key: {0}")]
    BadKey(&'static str),
    /// Crypto failure.
    #[error("crypto failure")]
    Crypto,
}

/// A device's image-decryption key.
#[derive(Clone)]
pub enum DecryptionKey {
    /// X25519 private scalar (ENC_X25519, TLV 0x33).
    X25519([u8; 32]),
    /// EC P-256 private scalar, big-endian (ENC_EC256, TLV 0x32).
    P256([u8; 32]),
    /// RSA-2048 private key (ENC_RSA2048, TLV 0x30).
    Rsa(alloc::boxed::Box<rsa::RsaPrivateKey>),
}

impl core::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::X25519(_) => "DecryptionKey(X25519)",
            Self::P256(_) => "DecryptionKey(P-256)",
            Self::Rsa(_) => "DecryptionKey(RSA-2048)",
        })
    }
}

const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

impl DecryptionKey {
    /// From a PKCS#8 `PrivateKeyInfo` (X25519, or EC with the P-256 curve).
    pub fn from_pkcs8(p8: &[u8]) -> Result<Self, EncError> {
        let bad = EncError::BadKey("malformed PKCS#8");
        let (seq, _) = der::expect(p8, 0x30).ok_or(bad)?;
        let (_ver, rest) = der::expect(seq, 0x02).ok_or(bad)?;
        let (alg, rest) = der::expect(rest, 0x30).ok_or(bad)?;
        let (oid, params) = der::expect(alg, 0x06).ok_or(bad)?;
        let (inner, _) = der::expect(rest, 0x04).ok_or(bad)?;
        match oid {
            OID_X25519 => {
                let (k, _) = der::expect(inner, 0x04).ok_or(bad)?;
                Ok(Self::X25519(k.try_into().map_err(|_| bad)?))
            }
            OID_EC_PUBLIC_KEY => {
                let (curve, _) = der::expect(params, 0x06).ok_or(bad)?;
                if curve != OID_P256 {
                    return Err(EncError::BadKey("EC key on a curve other than P-256"));
                }
                Self::from_sec1(inner)
            }
            OID_RSA => Self::from_pkcs1(inner),
            _ => Err(EncError::BadKey("neither X25519, EC nor RSA")),
        }
    }

    /// From a SEC 1 `ECPrivateKey` (the `EC PRIVATE KEY` PEM), which must be on P-256 when
    /// it names its curve.
    pub fn from_sec1(ec: &[u8]) -> Result<Self, EncError> {
        let bad = EncError::BadKey("malformed ECPrivateKey");
        let (seq, _) = der::expect(ec, 0x30).ok_or(bad)?;
        let (_ver, rest) = der::expect(seq, 0x02).ok_or(bad)?;
        let (scalar, rest) = der::expect(rest, 0x04).ok_or(bad)?;
        if let Some((params, _)) = der::expect(rest, 0xa0) {
            let (curve, _) = der::expect(params, 0x06).ok_or(bad)?;
            if curve != OID_P256 {
                return Err(EncError::BadKey("EC key on a curve other than P-256"));
            }
        }
        let s: [u8; 32] = scalar
            .try_into()
            .map_err(|_| EncError::BadKey("P-256 scalar is not 32 bytes"))?;
        p256::SecretKey::from_bytes(&s.into())
            .map_err(|_| EncError::BadKey("P-256 scalar out of range"))?;
        Ok(Self::P256(s))
    }

    /// From a PKCS#1 `RSAPrivateKey` (the `RSA PRIVATE KEY` PEM); RSA-2048 only, the one size
    /// ENC_RSA2048 carries.
    pub fn from_pkcs1(der: &[u8]) -> Result<Self, EncError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let k = rsa::RsaPrivateKey::from_pkcs1_der(der)
            .map_err(|_| EncError::BadKey("malformed RSAPrivateKey"))?;
        if k.size() != 256 {
            return Err(EncError::BadKey("ENC_RSA2048 needs an RSA-2048 key"));
        }
        k.validate()
            .map_err(|_| EncError::BadKey("inconsistent RSA private key"))?;
        Ok(Self::Rsa(alloc::boxed::Box::new(k)))
    }

    /// From a PEM file: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC 1) or `RSA PRIVATE KEY`. Password-protected
    /// keys are decrypted by the caller ([`crate::pkcs8enc::decrypt`]) and given as PKCS#8.
    pub fn from_pem(text: &str) -> Result<Self, EncError> {
        let (label, der) = der::pem_decode(text).ok_or(EncError::BadKey("not PEM"))?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "EC PRIVATE KEY" => Self::from_sec1(&der),
            "RSA PRIVATE KEY" => Self::from_pkcs1(&der),
            _ => Err(EncError::BadKey(
                "PEM label is not PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY",
            )),
        }
    }

    /// The public key images are encrypted to.
    pub fn public_key(&self) -> Result<PublicKey, EncError> {
        match self {
            Self::X25519(k) => Ok(x25519_public(k)),
            Self::P256(k) => {
                let sk = p256::SecretKey::from_bytes(&(*k).into()).map_err(|_| EncError::Crypto)?;
                let point = p256::EncodedPoint::from(sk.public_key());
                Ok(PublicKey::from_raw(KeyType::EcdsaP256, point.as_bytes()))
            }
            Self::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPublicKey;
                let der = k
                    .to_public_key()
                    .to_pkcs1_der()
                    .map_err(|_| EncError::Crypto)?;
                Ok(PublicKey {
                    kind: KeyType::Rsa2048,
                    der: der.as_bytes().to_vec(),
                })
            }
        }
    }

    fn scheme(&self) -> (u16, &'static str, usize) {
        match self {
            Self::X25519(_) => (tlv::ENC_X25519, "ENC_X25519 (0x33)", 32),
            Self::P256(_) => (tlv::ENC_EC256, "ENC_EC256 (0x32)", 65),
            Self::Rsa(_) => (tlv::ENC_RSA2048, "ENC_RSA2048 (0x30)", 0),
        }
    }

    /// The ECDH shared secret with an ephemeral public key (the x-coordinate for P-256).
    fn agree(&self, eph: &[u8], name: &'static str, offset: usize) -> Result<[u8; 32], EncError> {
        match self {
            Self::X25519(k) => {
                let eph: [u8; 32] = eph.try_into().map_err(|_| EncError::Crypto)?;
                let shared = x25519_dalek::StaticSecret::from(*k)
                    .diffie_hellman(&x25519_dalek::PublicKey::from(eph));
                Ok(*shared.as_bytes())
            }
            Self::P256(k) => {
                let sk = p256::SecretKey::from_bytes(&(*k).into()).map_err(|_| EncError::Crypto)?;
                let pk = p256::PublicKey::from_sec1_bytes(eph)
                    .map_err(|_| EncError::BadPoint { name, offset })?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                let mut out = [0u8; 32];
                out.copy_from_slice(shared.raw_secret_bytes());
                Ok(out)
            }
            Self::Rsa(_) => Err(EncError::Crypto),
        }
    }
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

/// Generates an image key and wraps it for `recipient` (an X25519 or EC P-256 public key).
/// Returns `(TLV type, TLV value, plain image key)`.
pub fn wrap_key(
    recipient: &PublicKey,
    aes_len: usize,
) -> Result<(u16, Vec<u8>, Vec<u8>), EncError> {
    if !(aes_len == 16 || aes_len == 32) {
        return Err(EncError::Crypto);
    }
    let rng = ring::rand::SystemRandom::new();
    let mut plain = alloc::vec![0u8; aes_len];
    rng.fill(&mut plain).map_err(|_| EncError::Crypto)?;
    let (alg, tlv_kind) = match recipient.kind {
        KeyType::X25519 => (&agreement::X25519, tlv::ENC_X25519),
        KeyType::EcdsaP256 => (&agreement::ECDH_P256, tlv::ENC_EC256),
        KeyType::Rsa2048 => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            let pk = rsa::RsaPublicKey::from_pkcs1_der(&recipient.der)
                .map_err(|_| EncError::BadKey("malformed RSA public key"))?;
            let wrapped = pk
                .encrypt(&mut rsa::rand_core::OsRng, oaep(), &plain)
                .map_err(|_| EncError::Crypto)?;
            return Ok((tlv::ENC_RSA2048, wrapped, plain));
        }
        _ => {
            return Err(EncError::BadKey(
                "encryption needs an X25519, EC P-256 or RSA-2048 key",
            ));
        }
    };
    let eph = agreement::EphemeralPrivateKey::generate(alg, &rng).map_err(|_| EncError::Crypto)?;
    // ring's P-256 public key is the uncompressed point, as MCUboot expects.
    let eph_pub = eph.compute_public_key().map_err(|_| EncError::Crypto)?;
    let peer = agreement::UnparsedPublicKey::new(alg, recipient.raw());
    let okm = agreement::agree_ephemeral(eph, &peer, |s| derive(s, aes_len))
        .map_err(|_| EncError::Crypto)??;
    let mut wrapped = plain.clone();
    aes_ctr(&okm[..aes_len], &mut wrapped).map_err(|_| EncError::Crypto)?;
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &okm[aes_len..]),
        &wrapped,
    );
    let mut tlv_val = Vec::with_capacity(eph_pub.as_ref().len() + 32 + aes_len);
    tlv_val.extend_from_slice(eph_pub.as_ref());
    tlv_val.extend_from_slice(tag.as_ref());
    tlv_val.extend_from_slice(&wrapped);
    Ok((tlv_kind, tlv_val, plain))
}

/// RSAES-OAEP as imgtool uses it: SHA-256, MGF1 with SHA-256, no label.
fn oaep() -> rsa::Oaep {
    rsa::Oaep::new::<rsa::sha2::Sha256>()
}

/// The X25519 public key of a private scalar.
pub fn x25519_public(private: &[u8; 32]) -> PublicKey {
    let s = x25519_dalek::StaticSecret::from(*private);
    let p = x25519_dalek::PublicKey::from(&s);
    PublicKey::from_raw(KeyType::X25519, p.as_bytes())
}

/// Unwraps the image key from an ENC_X25519 TLV value.
pub fn unwrap_key(private: &[u8; 32], tlv_val: &[u8], offset: usize) -> Result<Vec<u8>, EncError> {
    unwrap_key_with(&DecryptionKey::X25519(*private), tlv_val, offset)
}

/// Unwraps the image key from the key-wrapping TLV value of `key`'s scheme.
pub fn unwrap_key_with(
    key: &DecryptionKey,
    tlv_val: &[u8],
    offset: usize,
) -> Result<Vec<u8>, EncError> {
    let (_, name, eph_len) = key.scheme();
    if let DecryptionKey::Rsa(k) = key {
        if tlv_val.len() != 256 {
            return Err(EncError::BadKeyTlv {
                name,
                offset,
                len: tlv_val.len(),
                expected: "256",
            });
        }
        // OAEP failures all look alike (no padding oracle in the error).
        let plain = k
            .decrypt(oaep(), tlv_val)
            .map_err(|_| EncError::BadMac { name, offset })?;
        return match plain.len() {
            16 | 32 => Ok(plain),
            _ => Err(EncError::BadMac { name, offset }),
        };
    }
    let aes_len = match tlv_val.len().checked_sub(eph_len + 32) {
        Some(16) => 16,
        Some(32) => 32,
        _ => {
            return Err(EncError::BadKeyTlv {
                name,
                offset,
                len: tlv_val.len(),
                expected: if eph_len == 32 {
                    "80 or 96"
                } else {
                    "113 or 129"
                },
            });
        }
    };
    let (eph, rest) = tlv_val.split_at(eph_len);
    let (tag, wrapped) = rest.split_at(32);
    let shared = key.agree(eph, name, offset)?;
    let okm = derive(&shared, aes_len)?;
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, &okm[aes_len..]),
        wrapped,
        tag,
    )
    .map_err(|_| EncError::BadMac { name, offset })?;
    let mut k = wrapped.to_vec();
    aes_ctr(&okm[..aes_len], &mut k).map_err(|_| EncError::Crypto)?;
    Ok(k)
}

/// Decrypts an ECIES-X25519 encrypted image (see [`decrypt_image_with`]).
pub fn decrypt_image(bytes: &[u8], private: &[u8; 32]) -> Result<Vec<u8>, EncError> {
    decrypt_image_with(bytes, &DecryptionKey::X25519(*private))
}

/// Decrypts an encrypted image: returns a copy whose payload is plaintext (flags unchanged),
/// ready for [`crate::verify::verify`] with `payload_is_plaintext`.
pub fn decrypt_image_with(bytes: &[u8], key: &DecryptionKey) -> Result<Vec<u8>, EncError> {
    let img = Image::parse(bytes)?;
    if !img.header.is_encrypted() {
        return Err(EncError::NotEncrypted);
    }
    let (kind, name, _) = key.scheme();
    let t = img
        .unprotected
        .iter()
        .find(|t| t.kind == kind)
        .ok_or(EncError::NoKeyTlv(name))?;
    let image_key = unwrap_key_with(key, t.value, t.offset)?;
    let mut out = bytes[..img.end()].to_vec();
    let start = usize::from(img.header.hdr_size);
    let end = start + img.header.img_size as usize;
    aes_ctr(&image_key, &mut out[start..end]).map_err(|_| EncError::Crypto)?;
    Ok(out)
}
