//! Key types, key generation and CA-key encryption at rest.
//!
//! Sealed blobs use the same format and KEK file as the hub's store (`palisade-store`'s
//! `crypto::Kek`): a 32-byte key file; blob = 0x01 || 96-bit nonce || AES-256-GCM ciphertext || tag,
//! with the blob's name as associated data. So the CA can share the hub's KEK.

use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::PkiError;

/// Public-key algorithms the CA knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    P256,
    P384,
    Ed25519,
    /// RSA with the modulus size in bits.
    Rsa(u32),
}

impl KeyKind {
    pub fn name(&self) -> String {
        match self {
            KeyKind::P256 => "p256".into(),
            KeyKind::P384 => "p384".into(),
            KeyKind::Ed25519 => "ed25519".into(),
            KeyKind::Rsa(bits) => format!("rsa{bits}"),
        }
    }

    /// Parses "p256", "p384", "ed25519".
    pub fn parse(s: &str) -> Result<KeyKind, PkiError> {
        match s.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "ecdsa-p256" | "prime256v1" => Ok(KeyKind::P256),
            "p384" | "p-384" | "ecdsa-p384" | "secp384r1" => Ok(KeyKind::P384),
            "ed25519" => Ok(KeyKind::Ed25519),
            other => Err(PkiError::Policy(format!(
                "unknown key type {other:?} (p256, p384 or ed25519)"
            ))),
        }
    }

    pub(crate) fn rcgen_alg(&self) -> Result<&'static rcgen::SignatureAlgorithm, PkiError> {
        match self {
            KeyKind::P256 => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyKind::P384 => Ok(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyKind::Ed25519 => Ok(&rcgen::PKCS_ED25519),
            KeyKind::Rsa(_) => Err(PkiError::Policy("RSA keys cannot be generated here".into())),
        }
    }
}

/// Generates a key pair of `kind`.
pub fn generate(kind: KeyKind) -> Result<rcgen::KeyPair, PkiError> {
    rcgen::KeyPair::generate_for(kind.rcgen_alg()?).map_err(PkiError::from)
}

/// Loads a PKCS#8 key (DER) of a known kind.
pub fn key_from_pkcs8(der: &[u8]) -> Result<rcgen::KeyPair, PkiError> {
    rcgen::KeyPair::try_from(der).map_err(PkiError::from)
}

const KEK_LEN: usize = 32;
const SEALED_V1: u8 = 1;

/// Key-encryption key (AES-256-GCM). Never printed.
pub struct Kek {
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, PkiError> {
        if bytes.len() != KEK_LEN {
            return Err(PkiError::Crypto(
                "key-encryption key must be 32 bytes".into(),
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| PkiError::Crypto("bad key-encryption key".into()))?;
        Ok(Kek {
            key: LessSafeKey::new(key),
        })
    }

    /// Reads the KEK file, creating it (mode 0600, 32 random bytes) when absent.
    pub fn load_or_create(path: &Path) -> Result<Kek, PkiError> {
        match std::fs::read(path) {
            Ok(b) => Kek::from_bytes(&b).map_err(|e| PkiError::File {
                path: path.display().to_string(),
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random::<KEK_LEN>()?;
                write_private(path, &bytes)?;
                Kek::from_bytes(&bytes)
            }
            Err(e) => Err(PkiError::File {
                path: path.display().to_string(),
                msg: e.to_string(),
            }),
        }
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, PkiError> {
        let nonce = random::<NONCE_LEN>()?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| PkiError::Crypto("seal failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, PkiError> {
        let (ver, rest) = sealed
            .split_first()
            .ok_or_else(|| PkiError::Crypto("empty sealed blob".into()))?;
        if *ver != SEALED_V1 || rest.len() < NONCE_LEN + 16 {
            return Err(PkiError::Crypto("unknown sealed blob format".into()));
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| PkiError::Crypto("bad nonce".into()))?;
        let mut buf = ct.to_vec();
        let pt = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| {
                PkiError::Crypto("decryption failed (wrong key-encryption key or tampered)".into())
            })?;
        Ok(pt.to_vec())
    }
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| PkiError::Crypto("system random generator failed".into()))?;
    Ok(b)
}

/// Writes a file readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    let ferr = |e: std::io::Error| PkiError::File {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(ferr)?;
    f.write_all(bytes).map_err(ferr)?;
    f.sync_all().map_err(ferr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper_detection() {
        let kek = Kek::from_bytes(&[9u8; 32]).unwrap();
        let sealed = kek.seal(b"issuing.key", b"secret key bytes").unwrap();
        assert_eq!(
            kek.open(b"issuing.key", &sealed).unwrap(),
            b"secret key bytes"
        );
        assert!(
            kek.open(b"root.key", &sealed).is_err(),
            "aad binds the name"
        );
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(kek.open(b"issuing.key", &bad).is_err());
        let other = Kek::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(b"issuing.key", &sealed).is_err());
    }
}
