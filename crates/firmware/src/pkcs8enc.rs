//! Password-protected private keys: PKCS#8 `ENCRYPTED PRIVATE KEY` with PBES2 (RFC 8018):
//! PBKDF2 (HMAC-SHA1/256/384/512) and AES-128/192/256-CBC — what imgtool writes with
//! `keygen --password` (via pyca/cryptography: PBKDF2-HMAC-SHA256, AES-256-CBC).
//! ring derives the key; the `aes` block cipher does CBC (ring has no raw AES-CBC).

use alloc::vec::Vec;
use core::num::NonZeroU32;

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use ring::pbkdf2;
use ring::rand::SecureRandom;

use crate::der;
use crate::key::KeyError;

const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const OID_HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
const OID_HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
const OID_AES_CBC_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];

/// Iterations we write (imgtool/cryptography write 2048; more costs an attacker more).
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// Hostile files cannot make us spin: more iterations than this are refused.
const MAX_ITERATIONS: u32 = 10_000_000;

fn bad(what: &'static str) -> KeyError {
    KeyError::BadDer(what)
}

fn uint(bytes: &[u8]) -> Option<u32> {
    let b = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        b => b,
    };
    if b.is_empty() || b.len() > 4 || b[0] & 0x80 != 0 && bytes.len() == b.len() {
        return None;
    }
    Some(b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)))
}

fn der_uint(v: u32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count().min(3);
    let mut c = Vec::new();
    if b[skip] & 0x80 != 0 {
        c.push(0);
    }
    c.extend_from_slice(&b[skip..]);
    der::element(0x02, &c)
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` DER into the inner PKCS#8 DER.
pub fn decrypt(der_bytes: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    let what = "EncryptedPrivateKeyInfo";
    let (seq, _) = der::expect(der_bytes, 0x30).ok_or(bad(what))?;
    let (alg, rest) = der::expect(seq, 0x30).ok_or(bad(what))?;
    let (data, _) = der::expect(rest, 0x04).ok_or(bad(what))?;
    let (oid, params) = der::expect(alg, 0x06).ok_or(bad(what))?;
    if oid != OID_PBES2 {
        return Err(KeyError::UnsupportedEncryption("only PBES2 is supported"));
    }
    let (params, _) = der::expect(params, 0x30).ok_or(bad("PBES2 parameters"))?;
    let (kdf, rest) = der::expect(params, 0x30).ok_or(bad("PBES2 parameters"))?;
    let (enc, _) = der::expect(rest, 0x30).ok_or(bad("PBES2 parameters"))?;

    let (kdf_oid, kdf_params) = der::expect(kdf, 0x06).ok_or(bad("PBKDF2 parameters"))?;
    if kdf_oid != OID_PBKDF2 {
        return Err(KeyError::UnsupportedEncryption(
            "only PBKDF2 is supported (not scrypt)",
        ));
    }
    let (kp, _) = der::expect(kdf_params, 0x30).ok_or(bad("PBKDF2 parameters"))?;
    let (salt, rest) = der::expect(kp, 0x04).ok_or(bad("PBKDF2 salt"))?;
    let (iter, mut rest) = der::expect(rest, 0x02).ok_or(bad("PBKDF2 iterations"))?;
    let iterations = uint(iter)
        .and_then(NonZeroU32::new)
        .ok_or(bad("PBKDF2 iterations"))?;
    if iterations.get() > MAX_ITERATIONS {
        return Err(KeyError::UnsupportedEncryption(
            "PBKDF2 iteration count above 10 000 000",
        ));
    }
    let mut key_len = None;
    if let Some((0x02, kl, r)) = der::read(rest) {
        key_len = Some(uint(kl).ok_or(bad("PBKDF2 key length"))? as usize);
        rest = r;
    }
    let prf = match der::expect(rest, 0x30) {
        None => pbkdf2::PBKDF2_HMAC_SHA1,
        Some((p, _)) => {
            let (o, _) = der::expect(p, 0x06).ok_or(bad("PBKDF2 PRF"))?;
            match o {
                OID_HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
                OID_HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
                OID_HMAC_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
                OID_HMAC_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
                _ => return Err(KeyError::UnsupportedEncryption("unknown PBKDF2 PRF")),
            }
        }
    };

    let (enc_oid, enc_params) = der::expect(enc, 0x06).ok_or(bad("encryption scheme"))?;
    let aes_len = match enc_oid.strip_prefix(OID_AES_CBC_PREFIX) {
        Some([0x02]) => 16,
        Some([0x16]) => 24,
        Some([0x2a]) => 32,
        _ => {
            return Err(KeyError::UnsupportedEncryption(
                "only AES-128/192/256-CBC are supported",
            ));
        }
    };
    if key_len.is_some_and(|k| k != aes_len) {
        return Err(bad("PBKDF2 key length"));
    }
    let (iv, _) = der::expect(enc_params, 0x04).ok_or(bad("AES-CBC IV"))?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| bad("AES-CBC IV"))?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(bad("encrypted data length"));
    }

    let mut key = [0u8; 32];
    pbkdf2::derive(prf, iterations, salt, password, &mut key[..aes_len]);
    let mut out = data.to_vec();
    cbc_decrypt(&key[..aes_len], &iv, &mut out)?;
    // PKCS#7 padding; a wrong password almost always breaks it.
    let n = usize::from(*out.last().ok_or(KeyError::BadPassword)?);
    if n == 0 || n > 16 || out[out.len() - n..].iter().any(|&b| usize::from(b) != n) {
        return Err(KeyError::BadPassword);
    }
    out.truncate(out.len() - n);
    if der::expect(&out, 0x30).is_none() {
        return Err(KeyError::BadPassword);
    }
    Ok(out)
}

fn cbc_decrypt(key: &[u8], iv: &[u8; 16], data: &mut [u8]) -> Result<(), KeyError> {
    macro_rules! run {
        ($c:ty) => {{
            let c = <$c>::new_from_slice(key).map_err(|_| KeyError::Rejected("AES key"))?;
            let mut prev = *iv;
            for block in data.chunks_exact_mut(16) {
                let mut cur = [0u8; 16];
                cur.copy_from_slice(block);
                c.decrypt_block(block.into());
                for (b, p) in block.iter_mut().zip(prev) {
                    *b ^= p;
                }
                prev = cur;
            }
        }};
    }
    match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        _ => run!(aes::Aes256),
    }
    Ok(())
}

/// Encrypts PKCS#8 DER under `password`: PBES2, PBKDF2-HMAC-SHA256 with a random 16-byte salt
/// and `iterations`, AES-256-CBC with a random IV.
pub fn encrypt(pkcs8: &[u8], password: &[u8], iterations: u32) -> Result<Vec<u8>, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| KeyError::Rng)?;
    rng.fill(&mut iv).map_err(|_| KeyError::Rng)?;
    let it = NonZeroU32::new(iterations.clamp(1, MAX_ITERATIONS)).ok_or(KeyError::Rng)?;
    let mut key = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, it, &salt, password, &mut key);
    let pad = 16 - pkcs8.len() % 16;
    let mut data = pkcs8.to_vec();
    data.extend(core::iter::repeat_n(pad as u8, pad));
    let c = aes::Aes256::new_from_slice(&key).map_err(|_| KeyError::Rejected("AES key"))?;
    let mut prev = iv;
    for block in data.chunks_exact_mut(16) {
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        c.encrypt_block(block.into());
        prev.copy_from_slice(block);
    }
    let null = [0x05, 0x00];
    let prf = [der::element(0x06, OID_HMAC_SHA256), null.to_vec()].concat();
    let kdf_params = [
        der::element(0x04, &salt),
        der_uint(it.get()),
        der::element(0x30, &prf),
    ]
    .concat();
    let kdf = [
        der::element(0x06, OID_PBKDF2),
        der::element(0x30, &kdf_params),
    ]
    .concat();
    let aes_oid = [OID_AES_CBC_PREFIX, &[0x2a]].concat();
    let enc = [der::element(0x06, &aes_oid), der::element(0x04, &iv)].concat();
    let pbes2 = [der::element(0x30, &kdf), der::element(0x30, &enc)].concat();
    let alg = [der::element(0x06, OID_PBES2), der::element(0x30, &pbes2)].concat();
    Ok(der::element(
        0x30,
        &[der::element(0x30, &alg), der::element(0x04, &data)].concat(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let (k, pem) = crate::key::PrivateKey::generate(crate::key::KeyType::EcdsaP256).unwrap();
        let (_, p8) = der::pem_decode(&pem).unwrap();
        let enc = encrypt(&p8, b"correct horse", 1000).unwrap();
        assert_eq!(decrypt(&enc, b"correct horse").unwrap(), p8);
        assert_eq!(decrypt(&enc, b"wrong"), Err(KeyError::BadPassword));
        let again =
            crate::key::PrivateKey::from_pkcs8(&decrypt(&enc, b"correct horse").unwrap()).unwrap();
        assert_eq!(again.public_key(), k.public_key());
        for cut in [0, 1, 10, enc.len() / 2, enc.len() - 1] {
            assert!(decrypt(&enc[..cut], b"correct horse").is_err());
        }
    }

    #[test]
    fn integers() {
        for v in [
            1u32,
            127,
            128,
            255,
            256,
            2048,
            100_000,
            0x7fff_ffff,
            u32::MAX,
        ] {
            let e = der_uint(v);
            let (c, _) = der::expect(&e, 0x02).unwrap();
            assert_eq!(uint(c), Some(v), "{v}");
        }
        assert_eq!(uint(&[0x80]), None, "negative");
        assert_eq!(uint(&[]), None);
    }
}
