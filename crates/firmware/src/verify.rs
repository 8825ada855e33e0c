//! Image verification, as MCUboot's `bootutil_img_validate` does it. Allocation-free
//! (for Ed25519 and ECDSA; ring's RSA verification allocates internally).

use ring::digest;
use ring::signature::{self, UnparsedPublicKey};

use crate::image::{Image, ImageVersion, ParseError, Tlv, tlv};
use crate::key::{KeyType, raw_of};

/// A trusted public key, borrowed. `der` is MCUboot's canonical form (SPKI for Ed25519/ECDSA,
/// PKCS#1 for RSA): KEYHASH is its digest, PUBKEY its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedKey<'a> {
    /// Algorithm.
    pub kind: KeyType,
    /// Canonical DER.
    pub der: &'a [u8],
}

/// What the verifier enforces beyond the signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Anti-rollback: the image's SEC_CNT must be present and at least this value.
    pub min_security_counter: Option<u32>,
    /// Set after the payload was decrypted into plaintext: accept the ENCRYPTED header flags.
    pub payload_is_plaintext: bool,
}

/// Image digest algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256 (TLV 0x10).
    Sha256,
    /// SHA-384 (TLV 0x11).
    Sha384,
    /// SHA-512 (TLV 0x12).
    Sha512,
}

impl HashAlg {
    /// From a hash TLV type.
    pub fn from_tlv(kind: u16) -> Option<Self> {
        match kind {
            tlv::SHA256 => Some(Self::Sha256),
            tlv::SHA384 => Some(Self::Sha384),
            tlv::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The hash TLV type.
    pub fn tlv(self) -> u16 {
        match self {
            Self::Sha256 => tlv::SHA256,
            Self::Sha384 => tlv::SHA384,
            Self::Sha512 => tlv::SHA512,
        }
    }

    /// ring's algorithm.
    pub fn ring(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }

    /// Name for output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
            Self::Sha512 => "SHA512",
        }
    }
}

/// A digest value (up to SHA-512), stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; 64],
    len: usize,
}

impl Digest {
    /// Computes the digest of `data`.
    pub fn compute(alg: HashAlg, data: &[u8]) -> Self {
        let d = digest::digest(alg.ring(), data);
        Self::from_slice(d.as_ref())
    }

    fn from_slice(s: &[u8]) -> Self {
        let mut bytes = [0u8; 64];
        let len = s.len().min(64);
        bytes[..len].copy_from_slice(&s[..len]);
        Self { bytes, len }
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A successfully verified image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The header version.
    pub version: ImageVersion,
    /// SEC_CNT from the protected area.
    pub security_counter: Option<u32>,
    /// Digest algorithm.
    pub hash: HashAlg,
    /// The image digest.
    pub digest: Digest,
    /// Index into the trusted keys of the key whose signature verified.
    pub key_index: usize,
    /// Algorithm of that key.
    pub key_kind: KeyType,
    /// Size of the image proper (header through the unprotected TLVs).
    pub image_len: usize,
}

/// Why an image was rejected. Variants carry the offsets they refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The image does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The payload is encrypted and no decryption key was supplied.
    #[error(
        "payload is encrypted (header flags 0x{flags:x} at offset 16); a decryption key is needed"
    )]
    Encrypted {
        /// Header flags.
        flags: u32,
    },
    /// A TLV that must be authenticated sits in the unprotected area.
    #[error(
        "{name} TLV (0x{kind:02x}) at offset {offset} is in the unprotected area, where it is not authenticated"
    )]
    UnprotectedTlv {
        /// Offset of the TLV.
        offset: usize,
        /// Type.
        kind: u16,
        /// Name.
        name: &'static str,
    },
    /// The same singleton TLV appears twice.
    #[error("duplicate {name} TLV at offset {offset}")]
    DuplicateTlv {
        /// Offset of the second occurrence.
        offset: usize,
        /// Name.
        name: &'static str,
    },
    /// A TLV has the wrong length for its type.
    #[error("{name} TLV at offset {offset} has length {len}, expected {expected}")]
    BadTlvLength {
        /// Offset of the TLV.
        offset: usize,
        /// Name.
        name: &'static str,
        /// Its length.
        len: usize,
        /// The required length.
        expected: usize,
    },
    /// No image digest TLV.
    #[error("no SHA256/SHA384/SHA512 digest TLV in the unprotected area")]
    MissingHash,
    /// The digest does not match the image.
    #[error(
        "image digest mismatch: the {alg} TLV at offset {offset} does not match the header, payload and protected TLVs (tampered or corrupt image)"
    )]
    HashMismatch {
        /// Offset of the digest TLV.
        offset: usize,
        /// Algorithm name.
        alg: &'static str,
    },
    /// No KEYHASH or PUBKEY TLV names the signing key.
    #[error("no KEYHASH or PUBKEY TLV identifies the signing key")]
    MissingKeyId,
    /// The KEYHASH/PUBKEY names a key that is not trusted.
    #[error(
        "signing key at offset {offset} ({name}) matches none of the {trusted} trusted key(s): wrong key"
    )]
    UnknownKey {
        /// Offset of the KEYHASH/PUBKEY TLV.
        offset: usize,
        /// KEYHASH or PUBKEY.
        name: &'static str,
        /// How many keys were trusted.
        trusted: usize,
    },
    /// A signature TLV did not verify.
    #[error("{name} signature at offset {offset} does not verify with the trusted key")]
    BadSignature {
        /// Offset of the signature TLV.
        offset: usize,
        /// Name.
        name: &'static str,
    },
    /// No signature TLV of the trusted key's type.
    #[error("no signature TLV for the {key} key identified at offset {offset}")]
    MissingSignature {
        /// Offset of the key id TLV.
        offset: usize,
        /// Key algorithm name.
        key: &'static str,
    },
    /// Anti-rollback needs a SEC_CNT but the image has none.
    #[error(
        "no security counter (SEC_CNT TLV) in the protected area, but a minimum of {minimum} is enforced"
    )]
    MissingSecurityCounter {
        /// The enforced minimum.
        minimum: u32,
    },
    /// Anti-rollback: the image's counter is below the device's.
    #[error(
        "security counter {image} (TLV at offset {offset}) is below the minimum {minimum}: rollback refused"
    )]
    Rollback {
        /// The image's counter.
        image: u32,
        /// The enforced minimum.
        minimum: u32,
        /// Offset of the SEC_CNT TLV.
        offset: usize,
    },
}

/// Verifies an image (the start of `bytes`) against trusted keys and a policy.
///
/// Allocation-free: the digest and signatures are computed over borrowed slices.
pub fn verify(
    bytes: &[u8],
    keys: &[TrustedKey<'_>],
    policy: &VerifyPolicy,
) -> Result<Verified, VerifyError> {
    let img = Image::parse(bytes)?;
    verify_parsed(&img, keys, policy)
}

/// [`verify`] on an already parsed image.
pub fn verify_parsed(
    img: &Image<'_>,
    keys: &[TrustedKey<'_>],
    policy: &VerifyPolicy,
) -> Result<Verified, VerifyError> {
    if img.header.is_encrypted() && !policy.payload_is_plaintext {
        return Err(VerifyError::Encrypted {
            flags: img.header.flags,
        });
    }
    // Protected area: security counter (exactly one, 4 bytes).
    let mut sec_cnt: Option<(u32, usize)> = None;
    if let Some(p) = img.protected {
        for t in p.iter() {
            if t.kind == tlv::SEC_CNT {
                if sec_cnt.is_some() {
                    return Err(dup(&t));
                }
                let v: [u8; 4] = t.value.try_into().map_err(|_| bad_len(&t, 4))?;
                sec_cnt = Some((u32::from_le_bytes(v), t.offset));
            }
        }
    }
    // Unprotected area: pass 1, structure checks and the digest TLV.
    let mut hash_tlv: Option<Tlv<'_>> = None;
    let mut pure = false;
    for t in img.unprotected.iter() {
        if tlv::must_be_protected(t.kind) {
            return Err(VerifyError::UnprotectedTlv {
                offset: t.offset,
                kind: t.kind,
                name: tlv::name(t.kind),
            });
        }
        if HashAlg::from_tlv(t.kind).is_some() {
            if hash_tlv.is_some() {
                return Err(dup(&t));
            }
            hash_tlv = Some(t);
        }
        if t.kind == tlv::SIG_PURE {
            pure = true;
        }
    }
    let hashed = img.hashed_region();
    let (hash, digest) = match hash_tlv {
        Some(t) => {
            let alg = HashAlg::from_tlv(t.kind).unwrap_or(HashAlg::Sha256);
            let d = Digest::compute(alg, hashed);
            if t.value.len() != d.len {
                return Err(bad_len(&t, d.len));
            }
            if !ring_eq(t.value, d.as_ref()) {
                return Err(VerifyError::HashMismatch {
                    offset: t.offset,
                    alg: alg.name(),
                });
            }
            (alg, d)
        }
        None if pure => (HashAlg::Sha512, Digest::compute(HashAlg::Sha512, hashed)),
        None => return Err(VerifyError::MissingHash),
    };
    // Pass 2: key id then signature, in TLV order.
    let mut current: Option<(usize, usize)> = None; // (key index, key-id TLV offset)
    let mut first_unknown: Option<Tlv<'_>> = None;
    let mut first_bad: Option<Tlv<'_>> = None;
    let mut verified: Option<usize> = None;
    for t in img.unprotected.iter() {
        match t.kind {
            tlv::KEYHASH | tlv::PUBKEY => {
                let idx = keys.iter().position(|k| {
                    if t.kind == tlv::PUBKEY {
                        ring_eq(k.der, t.value)
                    } else {
                        let kh = Digest::compute(hash, k.der);
                        ring_eq(kh.as_ref(), t.value)
                    }
                });
                match idx {
                    Some(i) => current = Some((i, t.offset)),
                    None => {
                        current = None;
                        first_unknown.get_or_insert(t);
                    }
                }
            }
            tlv::ED25519 | tlv::ECDSA_SIG | tlv::RSA2048_PSS | tlv::RSA3072_PSS => {
                let Some((i, _)) = current else { continue };
                let Some(key) = keys.get(i) else { continue };
                if key.kind.sig_tlv() != Some(t.kind) {
                    continue;
                }
                if check_sig(key, t.value, hashed, digest.as_ref(), pure) {
                    verified = Some(i);
                    break;
                }
                first_bad.get_or_insert(t);
            }
            _ => {}
        }
    }
    let Some(key_index) = verified else {
        return Err(if let Some(t) = first_bad {
            VerifyError::BadSignature {
                offset: t.offset,
                name: tlv::name(t.kind),
            }
        } else if let Some((i, off)) = current {
            VerifyError::MissingSignature {
                offset: off,
                key: keys.get(i).map(|k| k.kind.name()).unwrap_or("?"),
            }
        } else if let Some(t) = first_unknown {
            VerifyError::UnknownKey {
                offset: t.offset,
                name: tlv::name(t.kind),
                trusted: keys.len(),
            }
        } else {
            VerifyError::MissingKeyId
        });
    };
    if let Some(minimum) = policy.min_security_counter {
        match sec_cnt {
            None => return Err(VerifyError::MissingSecurityCounter { minimum }),
            Some((image, offset)) if image < minimum => {
                return Err(VerifyError::Rollback {
                    image,
                    minimum,
                    offset,
                });
            }
            Some(_) => {}
        }
    }
    Ok(Verified {
        version: img.header.version,
        security_counter: sec_cnt.map(|(v, _)| v),
        hash,
        digest,
        key_index,
        key_kind: keys
            .get(key_index)
            .map(|k| k.kind)
            .unwrap_or(KeyType::Ed25519),
        image_len: img.end(),
    })
}

fn check_sig(key: &TrustedKey<'_>, sig: &[u8], hashed: &[u8], digest: &[u8], pure: bool) -> bool {
    let raw = raw_of(key.kind, key.der);
    let (alg, msg): (&dyn signature::VerificationAlgorithm, &[u8]) = match key.kind {
        KeyType::Ed25519 => (&signature::ED25519, if pure { hashed } else { digest }),
        KeyType::EcdsaP256 => (&signature::ECDSA_P256_SHA256_ASN1, hashed),
        KeyType::EcdsaP384 => (&signature::ECDSA_P384_SHA384_ASN1, hashed),
        KeyType::Rsa2048 | KeyType::Rsa3072 => (&signature::RSA_PSS_2048_8192_SHA256, hashed),
        KeyType::X25519 => return false,
    };
    UnparsedPublicKey::new(alg, raw).verify(msg, sig).is_ok()
}

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn dup(t: &Tlv<'_>) -> VerifyError {
    VerifyError::DuplicateTlv {
        offset: t.offset,
        name: tlv::name(t.kind),
    }
}

fn bad_len(t: &Tlv<'_>, expected: usize) -> VerifyError {
    VerifyError::BadTlvLength {
        offset: t.offset,
        name: tlv::name(t.kind),
        len: t.value.len(),
        expected,
    }
}
