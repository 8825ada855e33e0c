//! Encryption at rest: AES-256-GCM (ring) under a key-encryption key (KEK) read from a file
//! that is created with mode 0600 on first start.

use std::fs;
use std::io::Write;
use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::StoreError;

const KEK_LEN: usize = 32;
/// Format byte of a sealed blob: 1 = AES-256-GCM, 96-bit random nonce, 128-bit tag.
const SEALED_V1: u8 = 1;

/// A key-encryption key. Its bytes never leave this type (no Debug, no Serialize).
pub struct Kek {
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    /// Reads the KEK from `path`, creating it (32 random bytes, mode 0600) when absent.
    /// Returns the key and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(Kek, bool), StoreError> {
        match fs::read(path) {
            Ok(bytes) => Ok((Kek::from_bytes(&bytes)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes::<KEK_LEN>()?;
                write_private(path, &bytes)?;
                Ok((Kek::from_bytes(&bytes)?, true))
            }
            Err(e) => Err(StoreError::Io(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Makes a new random KEK and writes it to `path` (mode 0600; the file must not exist).
    pub fn create_new(path: &Path) -> Result<Kek, StoreError> {
        let bytes = random_bytes::<KEK_LEN>()?;
        write_private(path, &bytes)?;
        Kek::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, StoreError> {
        if bytes.len() != KEK_LEN {
            return Err(StoreError::Crypto("key-encryption key must be 32 bytes"));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| StoreError::Crypto("bad key-encryption key"))?;
        Ok(Kek {
            key: LessSafeKey::new(key),
        })
    }

    /// Encrypts `plaintext`, binding it to `aad` (the secret's name): version || nonce || ct || tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| StoreError::Crypto("seal failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts a blob made by [`Kek::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (ver, rest) = sealed
            .split_first()
            .ok_or(StoreError::Crypto("empty sealed blob"))?;
        if *ver != SEALED_V1 || rest.len() < NONCE_LEN + 16 {
            return Err(StoreError::Crypto("unknown sealed blob format"));
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Crypto("bad nonce"))?;
        let mut buf = ct.to_vec();
        let pt = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| StoreError::Crypto("decryption failed (wrong key or tampered data)"))?;
        Ok(pt.to_vec())
    }
}

/// Cryptographically random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| StoreError::Crypto("system random number generator failed"))?;
    Ok(b)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// Writes a new file readable by its owner only (0600), failing if it exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| StoreError::Io(format!("creating {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::Io(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_tamper() {
        let k = Kek::from_bytes(&[7u8; 32]).unwrap();
        let s = k.seal(b"tls.key", b"secret").unwrap();
        assert_eq!(k.open(b"tls.key", &s).unwrap(), b"secret");
        assert!(k.open(b"other", &s).is_err());
        let mut t = s.clone();
        let n = t.len() - 1;
        t[n] ^= 1;
        assert!(k.open(b"tls.key", &t).is_err());
        let k2 = Kek::from_bytes(&[8u8; 32]).unwrap();
        assert!(k2.open(b"tls.key", &s).is_err());
        assert!(!s.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn kek_file_is_0600() {
        let dir = std::env::temp_dir().join(format!("palisade-kek-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("kek");
        let (_, created) = Kek::load_or_create(&p).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, created) = Kek::load_or_create(&p).unwrap();
        assert!(!created);
        let _ = fs::remove_dir_all(&dir);
    }
}
