//! Signing and verification keys in the PEM forms imgtool writes and reads.
//!
//! Private keys: PKCS#8 `PRIVATE KEY` (Ed25519, ECDSA P-256/P-384, RSA, X25519) and PKCS#1
//! `RSA PRIVATE KEY`. Public keys: `PUBLIC KEY` (SubjectPublicKeyInfo) and `RSA PUBLIC KEY`.

use alloc::string::String;
use alloc::vec::Vec;

use ring::rand::SecureRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use crate::der;
use crate::image::tlv;

/// Key algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Ed25519.
    Ed25519,
    /// ECDSA over P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA over P-384 with SHA-384.
    EcdsaP384,
    /// RSA-2048 with PSS (SHA-256, salt 32).
    Rsa2048,
    /// RSA-3072 with PSS (SHA-256, salt 32).
    Rsa3072,
    /// X25519 (image encryption only).
    X25519,
}

impl KeyType {
    /// imgtool's name for the type (`keygen -t`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::X25519 => "x25519",
        }
    }

    /// Parses imgtool's name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            Self::Ed25519,
            Self::EcdsaP256,
            Self::EcdsaP384,
            Self::Rsa2048,
            Self::Rsa3072,
            Self::X25519,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }

    /// The signature TLV type this key produces (`None` for X25519).
    pub fn sig_tlv(self) -> Option<u16> {
        match self {
            Self::Ed25519 => Some(tlv::ED25519),
            Self::EcdsaP256 | Self::EcdsaP384 => Some(tlv::ECDSA_SIG),
            Self::Rsa2048 => Some(tlv::RSA2048_PSS),
            Self::Rsa3072 => Some(tlv::RSA3072_PSS),
            Self::X25519 => None,
        }
    }
}

/// Why a key could not be loaded or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block, or bad base64.
    #[error("not a PEM file")]
    NotPem,
    /// An `ENCRYPTED PRIVATE KEY` and no password was given.
    #[error("the private key is encrypted: a password is needed")]
    Encrypted,
    /// The password does not decrypt the key.
    #[error("wrong password (or a corrupt encrypted key)")]
    BadPassword,
    /// An encryption scheme we do not handle.
    #[error("unsupported key encryption: {0}")]
    UnsupportedEncryption(&'static str),
    /// A PEM label we do not handle.
    #[error("unsupported PEM block '{0}'")]
    UnsupportedLabel(String),
    /// DER that does not parse as the label says.
    #[error("malformed {0} DER")]
    BadDer(&'static str),
    /// An algorithm or curve we do not handle.
    #[error("unsupported key algorithm")]
    UnsupportedAlgorithm,
    /// ring rejected the key.
    #[error("key rejected by the crypto provider: {0}")]
    Rejected(&'static str),
    /// RSA with a modulus other than 2048 or 3072 bits.
    #[error("unsupported RSA modulus of {0} bits (2048 and 3072 are supported)")]
    RsaSize(usize),
    /// Key generation for this type is not available.
    #[error("cannot generate {0} keys here (use `imgtool keygen` or openssl)")]
    CannotGenerate(&'static str),
    /// The random generator failed.
    #[error("random generator failure")]
    Rng,
    /// A private key is needed.
    #[error("a private key is needed for this operation")]
    NeedPrivate,
}

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

const SPKI_ED25519_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const SPKI_X25519_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];
const SPKI_P256_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_P384_PREFIX: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
const PKCS8_ED25519_V1_PREFIX: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_X25519_PREFIX: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];

/// A public key. `der` is what MCUboot hashes into KEYHASH and embeds in PUBKEY:
/// the SubjectPublicKeyInfo for Ed25519/ECDSA/X25519, the PKCS#1 `RSAPublicKey` for RSA.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// Algorithm.
    pub kind: KeyType,
    /// Key bytes in MCUboot's canonical DER form.
    pub der: Vec<u8>,
}

impl PublicKey {
    /// Builds the MCUboot DER form from raw key bytes (32-byte Ed25519/X25519 key,
    /// uncompressed EC point, or PKCS#1 RSA key).
    pub fn from_raw(kind: KeyType, raw: &[u8]) -> Self {
        let prefix: &[u8] = match kind {
            KeyType::Ed25519 => SPKI_ED25519_PREFIX,
            KeyType::X25519 => SPKI_X25519_PREFIX,
            KeyType::EcdsaP256 => SPKI_P256_PREFIX,
            KeyType::EcdsaP384 => SPKI_P384_PREFIX,
            KeyType::Rsa2048 | KeyType::Rsa3072 => &[],
        };
        let mut der = Vec::with_capacity(prefix.len() + raw.len());
        der.extend_from_slice(prefix);
        der.extend_from_slice(raw);
        Self { kind, der }
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> Result<Self, KeyError> {
        let bad = KeyError::BadDer("SubjectPublicKeyInfo");
        let (seq, _) = der::expect(spki, 0x30).ok_or(bad.clone())?;
        let (alg, rest) = der::expect(seq, 0x30).ok_or(bad.clone())?;
        let (bits, _) = der::expect(rest, 0x03).ok_or(bad.clone())?;
        let (&unused, key) = bits.split_first().ok_or(bad.clone())?;
        if unused != 0 {
            return Err(bad);
        }
        let (oid, params) = der::expect(alg, 0x06).ok_or(bad.clone())?;
        match oid {
            OID_ED25519 if key.len() == 32 => Ok(Self::from_raw(KeyType::Ed25519, key)),
            OID_X25519 if key.len() == 32 => Ok(Self::from_raw(KeyType::X25519, key)),
            OID_EC_PUBLIC_KEY => {
                let (curve, _) = der::expect(params, 0x06).ok_or(bad)?;
                match (curve, key.len()) {
                    (OID_P256, 65) => Ok(Self::from_raw(KeyType::EcdsaP256, key)),
                    (OID_P384, 97) => Ok(Self::from_raw(KeyType::EcdsaP384, key)),
                    _ => Err(KeyError::UnsupportedAlgorithm),
                }
            }
            OID_RSA => Self::from_pkcs1(key),
            _ => Err(KeyError::UnsupportedAlgorithm),
        }
    }

    /// Parses a DER PKCS#1 `RSAPublicKey`.
    pub fn from_pkcs1(pkcs1: &[u8]) -> Result<Self, KeyError> {
        let bad = KeyError::BadDer("RSAPublicKey");
        let (seq, _) = der::expect(pkcs1, 0x30).ok_or(bad.clone())?;
        let (n, _) = der::expect(seq, 0x02).ok_or(bad)?;
        let n = match n.split_first() {
            Some((0, rest)) => rest,
            _ => n,
        };
        let kind = match n.len() * 8 {
            2048 => KeyType::Rsa2048,
            3072 => KeyType::Rsa3072,
            bits => return Err(KeyError::RsaSize(bits)),
        };
        let total = pkcs1.len() - der::read(pkcs1).map(|(_, _, r)| r.len()).unwrap_or(0);
        Ok(Self {
            kind,
            der: pkcs1[..total].to_vec(),
        })
    }

    /// The raw key bytes ring verifies with.
    pub fn raw(&self) -> &[u8] {
        raw_of(self.kind, &self.der)
    }

    /// The SubjectPublicKeyInfo DER (wrapping PKCS#1 for RSA).
    pub fn spki(&self) -> Vec<u8> {
        match self.kind {
            KeyType::Rsa2048 | KeyType::Rsa3072 => {
                let mut alg = der::element(0x06, OID_RSA);
                alg.extend_from_slice(&[0x05, 0x00]);
                let mut body = der::element(0x30, &alg);
                let mut bits = Vec::with_capacity(self.der.len() + 1);
                bits.push(0);
                bits.extend_from_slice(&self.der);
                body.extend_from_slice(&der::element(0x03, &bits));
                der::element(0x30, &body)
            }
            _ => self.der.clone(),
        }
    }

    /// PEM `PUBLIC KEY`.
    pub fn to_pem(&self) -> String {
        der::pem_encode("PUBLIC KEY", &self.spki())
    }

    /// Borrows the key for the allocation-free verifier.
    pub fn as_trusted(&self) -> crate::verify::TrustedKey<'_> {
        crate::verify::TrustedKey {
            kind: self.kind,
            der: &self.der,
        }
    }
}

/// The raw key inside MCUboot's DER form (no allocation; used by the verify path).
pub(crate) fn raw_of(kind: KeyType, der: &[u8]) -> &[u8] {
    let n = match kind {
        KeyType::Ed25519 | KeyType::X25519 => 32,
        KeyType::EcdsaP256 => 65,
        KeyType::EcdsaP384 => 97,
        KeyType::Rsa2048 | KeyType::Rsa3072 => return der,
    };
    der.get(der.len().saturating_sub(n)..).unwrap_or(der)
}

/// A private key that can sign images (or, for X25519, decrypt them).
pub enum PrivateKey {
    /// Ed25519.
    Ed25519(Ed25519KeyPair),
    /// ECDSA P-256 or P-384.
    Ecdsa(KeyType, EcdsaKeyPair),
    /// RSA-2048/3072.
    Rsa(KeyType, RsaKeyPair),
    /// X25519 private scalar (image decryption).
    X25519([u8; 32]),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({})", self.kind().name())
    }
}

impl PrivateKey {
    /// Parses a PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8(p8: &[u8]) -> Result<Self, KeyError> {
        let bad = KeyError::BadDer("PKCS#8");
        let (seq, _) = der::expect(p8, 0x30).ok_or(bad.clone())?;
        let (_ver, rest) = der::expect(seq, 0x02).ok_or(bad.clone())?;
        let (alg, rest) = der::expect(rest, 0x30).ok_or(bad.clone())?;
        let (oid, params) = der::expect(alg, 0x06).ok_or(bad.clone())?;
        match oid {
            OID_ED25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(p8)
                .map(Self::Ed25519)
                .map_err(|_| KeyError::Rejected("Ed25519 PKCS#8")),
            OID_X25519 => {
                let (inner, _) = der::expect(rest, 0x04).ok_or(bad.clone())?;
                let (k, _) = der::expect(inner, 0x04).ok_or(bad.clone())?;
                let k: [u8; 32] = k.try_into().map_err(|_| bad)?;
                Ok(Self::X25519(k))
            }
            OID_EC_PUBLIC_KEY => {
                let (curve, _) = der::expect(params, 0x06).ok_or(bad)?;
                let (kind, alg) = match curve {
                    OID_P256 => (
                        KeyType::EcdsaP256,
                        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    ),
                    OID_P384 => (
                        KeyType::EcdsaP384,
                        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    ),
                    _ => return Err(KeyError::UnsupportedAlgorithm),
                };
                let rng = ring::rand::SystemRandom::new();
                EcdsaKeyPair::from_pkcs8(alg, p8, &rng)
                    .map(|k| Self::Ecdsa(kind, k))
                    .map_err(|_| KeyError::Rejected("ECDSA PKCS#8"))
            }
            OID_RSA => {
                let kp =
                    RsaKeyPair::from_pkcs8(p8).map_err(|_| KeyError::Rejected("RSA PKCS#8"))?;
                Self::rsa(kp)
            }
            _ => Err(KeyError::UnsupportedAlgorithm),
        }
    }

    fn rsa(kp: RsaKeyPair) -> Result<Self, KeyError> {
        let kind = match kp.public().modulus_len() * 8 {
            2048 => KeyType::Rsa2048,
            3072 => KeyType::Rsa3072,
            bits => return Err(KeyError::RsaSize(bits)),
        };
        Ok(Self::Rsa(kind, kp))
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyType {
        match self {
            Self::Ed25519(_) => KeyType::Ed25519,
            Self::Ecdsa(k, _) | Self::Rsa(k, _) => *k,
            Self::X25519(_) => KeyType::X25519,
        }
    }

    /// The public half (`None` for X25519, whose public key needs a scalar multiplication
    /// that ring does not expose; see [`crate::enc`]).
    pub fn public_key(&self) -> Option<PublicKey> {
        Some(match self {
            Self::Ed25519(k) => PublicKey::from_raw(KeyType::Ed25519, k.public_key().as_ref()),
            Self::Ecdsa(kind, k) => PublicKey::from_raw(*kind, k.public_key().as_ref()),
            Self::Rsa(kind, k) => PublicKey {
                kind: *kind,
                der: k.public().as_ref().to_vec(),
            },
            Self::X25519(_) => return None,
        })
    }

    /// Signs an image. `hashed` is the hashed region (header, payload, protected TLVs) and
    /// `digest` its digest. Ed25519 signs the digest; ECDSA and RSA-PSS sign the region
    /// (hashing it themselves), exactly as imgtool does.
    pub fn sign_image(&self, hashed: &[u8], digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        match self {
            Self::Ed25519(k) => Ok(k.sign(digest).as_ref().to_vec()),
            Self::Ecdsa(_, k) => k
                .sign(&rng, hashed)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Rng),
            Self::Rsa(_, k) => {
                let mut sig = alloc::vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PSS_SHA256, &rng, hashed, &mut sig)
                    .map_err(|_| KeyError::Rng)?;
                Ok(sig)
            }
            Self::X25519(_) => Err(KeyError::UnsupportedAlgorithm),
        }
    }

    /// Generates a key; returns the key and its PKCS#8 PEM (v1 for Ed25519, as imgtool writes).
    pub fn generate(kind: KeyType) -> Result<(Self, String), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let der = match kind {
            KeyType::Ed25519 => {
                let v2 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Rng)?;
                let seed = v2.as_ref().get(16..48).ok_or(KeyError::Rng)?;
                let mut v1 = PKCS8_ED25519_V1_PREFIX.to_vec();
                v1.extend_from_slice(seed);
                v1
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let alg = if kind == KeyType::EcdsaP256 {
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_ASN1_SIGNING
                };
                EcdsaKeyPair::generate_pkcs8(alg, &rng)
                    .map_err(|_| KeyError::Rng)?
                    .as_ref()
                    .to_vec()
            }
            KeyType::X25519 => {
                let mut k = [0u8; 32];
                rng.fill(&mut k).map_err(|_| KeyError::Rng)?;
                let mut v = PKCS8_X25519_PREFIX.to_vec();
                v.extend_from_slice(&k);
                v
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 => {
                // ring cannot generate RSA keys; RustCrypto `rsa` does (e = 65537), and ring
                // then loads the PKCS#8 like any other key.
                use rsa::pkcs8::EncodePrivateKey;
                let bits = if kind == KeyType::Rsa2048 { 2048 } else { 3072 };
                rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
                    .map_err(|_| KeyError::CannotGenerate(kind.name()))?
                    .to_pkcs8_der()
                    .map_err(|_| KeyError::CannotGenerate(kind.name()))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let key = Self::from_pkcs8(&der)?;
        Ok((key, der::pem_encode("PRIVATE KEY", &der)))
    }
}

/// A key file: private or public.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // loaded once per command; boxing would only complicate matching
pub enum Key {
    /// A private key (its public half is derived).
    Private(PrivateKey),
    /// A public key.
    Public(PublicKey),
}

impl Key {
    /// Parses a PEM key file (an encrypted one is [`KeyError::Encrypted`]).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        Self::from_pem_with_password(text, None)
    }

    /// Whether the PEM is a password-protected private key.
    pub fn is_encrypted_pem(text: &str) -> bool {
        der::pem_decode(text).is_some_and(|(label, _)| label == "ENCRYPTED PRIVATE KEY")
    }

    /// Parses a PEM key file, decrypting an `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2) with
    /// `password`.
    pub fn from_pem_with_password(text: &str, password: Option<&[u8]>) -> Result<Self, KeyError> {
        let (label, der) = der::pem_decode(text).ok_or(KeyError::NotPem)?;
        match label.as_str() {
            "ENCRYPTED PRIVATE KEY" => {
                let pw = password.ok_or(KeyError::Encrypted)?;
                let p8 = crate::pkcs8enc::decrypt(&der, pw)?;
                PrivateKey::from_pkcs8(&p8).map(Key::Private)
            }
            "PRIVATE KEY" => PrivateKey::from_pkcs8(&der).map(Key::Private),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
                .map_err(|_| KeyError::Rejected("RSA PKCS#1"))
                .and_then(PrivateKey::rsa)
                .map(Key::Private),
            "PUBLIC KEY" => PublicKey::from_spki(&der).map(Key::Public),
            "RSA PUBLIC KEY" => PublicKey::from_pkcs1(&der).map(Key::Public),
            _ => Err(KeyError::UnsupportedLabel(label)),
        }
    }

    /// The public key (derived for private keys). `None` for an X25519 private key.
    pub fn public_key(&self) -> Option<PublicKey> {
        match self {
            Key::Private(k) => k.public_key(),
            Key::Public(p) => Some(p.clone()),
        }
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyType {
        match self {
            Key::Private(k) => k.kind(),
            Key::Public(p) => p.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_and_reload() {
        for kind in [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384] {
            let (k, pem) = PrivateKey::generate(kind).unwrap();
            let again = Key::from_pem(&pem).unwrap();
            assert_eq!(again.public_key(), k.public_key());
            let pubpem = k.public_key().unwrap().to_pem();
            let p = Key::from_pem(&pubpem).unwrap();
            assert_eq!(p.public_key(), k.public_key());
        }
        let (k, pem) = PrivateKey::generate(KeyType::Rsa2048).unwrap();
        assert_eq!(k.kind(), KeyType::Rsa2048);
        assert_eq!(
            Key::from_pem(&pem).unwrap().public_key(),
            k.public_key(),
            "ring reloads the generated RSA key"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(Key::from_pem("hello").unwrap_err(), KeyError::NotPem);
        let pem = der::pem_encode("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(Key::from_pem(&pem).is_err());
    }
}
