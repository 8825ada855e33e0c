//! EK/AK binding by credential activation (TPM 2.0 Library Part 1 §24 "Credential Protection",
//! Part 3 TPM2_MakeCredential): the verifier seals a secret to the endorsement key (EK) for one
//! named attestation key (AK). Only the TPM holding the EK private key *and* a loaded object with
//! exactly that name can release it (`tpm2_activatecredential`), so a device that returns the
//! secret proves the AK lives in the same TPM as the EK.
//!
//! Construction (all hashes are the EK's nameAlg, SHA-256 here):
//! - seed: RSA EK: random, RSA-OAEP(SHA-256, label "IDENTITY\0") to the EK;
//!   ECC EK: ephemeral ECDH on the EK's curve, seed = KDFe(Z, "IDENTITY", x_ephemeral, x_EK);
//! - symKey = KDFa(seed, "STORAGE", name(AK)), the EK's symmetric key size (AES-128);
//! - encIdentity = AES-CFB(symKey, IV = 0, TPM2B_DIGEST(credential));
//! - hmacKey = KDFa(seed, "INTEGRITY", ∅); outerHMAC = HMAC(hmacKey, encIdentity || name(AK));
//! - TPM2B_ID_OBJECT = TPM2B_DIGEST(outerHMAC) || encIdentity.
//!
//! Also parses TPM2B_PUBLIC (TPM 2.0 Part 2 §12.2.5, `tpm2_createek -u`, `tpm2_readpublic -f tss`)
//! and computes object names, and reads/writes the `tpm2_makecredential` output file.

use aes::cipher::{AsyncStreamCipher, KeyIvInit};
use ring::{digest, hmac};

use crate::PkiError;

pub const TPM_ALG_RSA: u16 = 0x0001;
pub const TPM_ALG_AES: u16 = 0x0006;
pub const TPM_ALG_SHA256: u16 = 0x000b;
pub const TPM_ALG_NULL: u16 = 0x0010;
pub const TPM_ALG_ECDAA: u16 = 0x001a;
pub const TPM_ALG_ECC: u16 = 0x0023;
pub const TPM_ALG_CFB: u16 = 0x0043;
pub const TPM_ECC_NIST_P256: u16 = 0x0003;

/// TPMA_OBJECT bits (Part 2 §8.3).
pub mod attr {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;
}

/// `tpm2_makecredential`'s output file: magic, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
pub const CREDENTIAL_FILE_MAGIC: u32 = 0xbadc_c0de;

/// A TPMT_SYM_DEF_OBJECT: symmetric algorithm of a storage key (None for TPM_ALG_NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymDef {
    pub alg: u16,
    pub key_bits: u16,
    pub mode: u16,
}

/// The algorithm-specific part of a TPMT_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa {
        scheme: u16,
        scheme_hash: Option<u16>,
        key_bits: u16,
        /// 0 means the default 65537.
        exponent: u32,
        modulus: Vec<u8>,
    },
    Ecc {
        scheme: u16,
        scheme_hash: Option<u16>,
        curve: u16,
        kdf: u16,
        kdf_hash: Option<u16>,
        x: Vec<u8>,
        y: Vec<u8>,
    },
}

/// A parsed TPMT_PUBLIC (RSA and ECC objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmPublic {
    pub name_alg: u16,
    pub attributes: u32,
    pub auth_policy: Vec<u8>,
    pub symmetric: Option<SymDef>,
    pub key: PublicKey,
    /// The marshaled TPMT_PUBLIC, which the object's name is computed over.
    pub tpmt: Vec<u8>,
}

struct Reader<'a> {
    what: &'static str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, msg: &str) -> PkiError {
        PkiError::Der {
            what: self.what,
            offset: self.pos,
            msg: msg.to_owned(),
        }
    }
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], PkiError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err("length overflow"))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or_else(|| self.err(&format!("truncated {field} ({n} bytes needed)")))?;
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self, field: &str) -> Result<u16, PkiError> {
        let s = self.take(2, field)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, field: &str) -> Result<u32, PkiError> {
        let s = self.take(4, field)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn tpm2b(&mut self, field: &str, max: usize) -> Result<&'a [u8], PkiError> {
        let n = self.u16(field)? as usize;
        if n > max {
            return Err(self.err(&format!("{field} of {n} bytes exceeds {max}")));
        }
        self.take(n, field)
    }
    /// A scheme selector followed by its hash when not TPM_ALG_NULL.
    fn scheme(&mut self, field: &str) -> Result<(u16, Option<u16>), PkiError> {
        let scheme = self.u16(field)?;
        if scheme == TPM_ALG_NULL {
            return Ok((scheme, None));
        }
        if scheme == TPM_ALG_ECDAA {
            self.pos -= 2;
            // ECDAA (anonymous attestation) keys carry a commit count and are no AK here.
            return Err(self.err(&format!("{field}: ECDAA keys are not supported")));
        }
        Ok((scheme, Some(self.u16(field)?)))
    }
}

fn hash_len(alg: u16) -> Option<usize> {
    match alg {
        0x0004 => Some(20),
        TPM_ALG_SHA256 => Some(32),
        0x000c => Some(48),
        0x000d => Some(64),
        _ => None,
    }
}

/// Parses a TPM2B_PUBLIC (u16 size, then TPMT_PUBLIC), as `tpm2_createek -u` writes it.
pub fn parse_tpm2b_public(bytes: &[u8]) -> Result<TpmPublic, PkiError> {
    let mut r = Reader {
        what: "TPM2B_PUBLIC",
        b: bytes,
        pos: 0,
    };
    let size = r.u16("size")? as usize;
    if size + 2 != bytes.len() {
        return Err(r.err(&format!(
            "size field says {size} bytes of TPMT_PUBLIC, {} follow",
            bytes.len() - 2
        )));
    }
    let p = parse_tpmt_public(&bytes[2..]).map_err(|e| match e {
        PkiError::Der { what, offset, msg } => PkiError::Der {
            what,
            offset: offset + 2,
            msg,
        },
        other => other,
    })?;
    Ok(p)
}

/// Parses a TPMT_PUBLIC of an RSA or ECC object.
pub fn parse_tpmt_public(bytes: &[u8]) -> Result<TpmPublic, PkiError> {
    let mut r = Reader {
        what: "TPM2B_PUBLIC",
        b: bytes,
        pos: 0,
    };
    let ty = r.u16("type")?;
    if ty != TPM_ALG_RSA && ty != TPM_ALG_ECC {
        r.pos = 0;
        return Err(r.err(&format!(
            "object type 0x{ty:04x} is not an RSA (0x0001) or ECC (0x0023) key"
        )));
    }
    let name_alg = r.u16("nameAlg")?;
    if hash_len(name_alg).is_none() {
        r.pos -= 2;
        return Err(r.err(&format!("nameAlg 0x{name_alg:04x} is not a known hash")));
    }
    let attributes = r.u32("objectAttributes")?;
    let auth_policy = r.tpm2b("authPolicy", 64)?.to_vec();
    let sym_alg = r.u16("symmetric.algorithm")?;
    let symmetric = if sym_alg == TPM_ALG_NULL {
        None
    } else {
        Some(SymDef {
            alg: sym_alg,
            key_bits: r.u16("symmetric.keyBits")?,
            mode: r.u16("symmetric.mode")?,
        })
    };
    let key = if ty == TPM_ALG_RSA {
        let (scheme, scheme_hash) = r.scheme("rsa scheme")?;
        let key_bits = r.u16("keyBits")?;
        let exponent = r.u32("exponent")?;
        let modulus = r.tpm2b("unique.rsa", 512)?.to_vec();
        PublicKey::Rsa {
            scheme,
            scheme_hash,
            key_bits,
            exponent,
            modulus,
        }
    } else {
        let (scheme, scheme_hash) = r.scheme("ecc scheme")?;
        let curve = r.u16("curveID")?;
        let (kdf, kdf_hash) = r.scheme("kdf")?;
        let x = r.tpm2b("unique.ecc.x", 128)?.to_vec();
        let y = r.tpm2b("unique.ecc.y", 128)?.to_vec();
        PublicKey::Ecc {
            scheme,
            scheme_hash,
            curve,
            kdf,
            kdf_hash,
            x,
            y,
        }
    };
    if r.pos != bytes.len() {
        return Err(r.err("trailing bytes after TPMT_PUBLIC"));
    }
    Ok(TpmPublic {
        name_alg,
        attributes,
        auth_policy,
        symmetric,
        key,
        tpmt: bytes.to_vec(),
    })
}

fn ring_digest(alg: u16) -> Option<&'static digest::Algorithm> {
    match alg {
        0x0004 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        TPM_ALG_SHA256 => Some(&digest::SHA256),
        0x000c => Some(&digest::SHA384),
        0x000d => Some(&digest::SHA512),
        _ => None,
    }
}

impl TpmPublic {
    /// Marshals the fields back to a TPM2B_PUBLIC (the inverse of [`parse_tpm2b_public`]).
    pub fn to_tpm2b(&self) -> Vec<u8> {
        let mut t = Vec::with_capacity(self.tpmt.len() + 2);
        let put16 = |t: &mut Vec<u8>, v: u16| t.extend_from_slice(&v.to_be_bytes());
        let put2b = |t: &mut Vec<u8>, b: &[u8]| {
            t.extend_from_slice(&(b.len() as u16).to_be_bytes());
            t.extend_from_slice(b);
        };
        let put_scheme = |t: &mut Vec<u8>, scheme: u16, hash: Option<u16>| {
            t.extend_from_slice(&scheme.to_be_bytes());
            if let Some(h) = hash {
                t.extend_from_slice(&h.to_be_bytes());
            }
        };
        let ty = match self.key {
            PublicKey::Rsa { .. } => TPM_ALG_RSA,
            PublicKey::Ecc { .. } => TPM_ALG_ECC,
        };
        put16(&mut t, ty);
        put16(&mut t, self.name_alg);
        t.extend_from_slice(&self.attributes.to_be_bytes());
        put2b(&mut t, &self.auth_policy);
        match self.symmetric {
            None => put16(&mut t, TPM_ALG_NULL),
            Some(s) => {
                put16(&mut t, s.alg);
                put16(&mut t, s.key_bits);
                put16(&mut t, s.mode);
            }
        }
        match &self.key {
            PublicKey::Rsa {
                scheme,
                scheme_hash,
                key_bits,
                exponent,
                modulus,
            } => {
                put_scheme(&mut t, *scheme, *scheme_hash);
                put16(&mut t, *key_bits);
                t.extend_from_slice(&exponent.to_be_bytes());
                put2b(&mut t, modulus);
            }
            PublicKey::Ecc {
                scheme,
                scheme_hash,
                curve,
                kdf,
                kdf_hash,
                x,
                y,
            } => {
                put_scheme(&mut t, *scheme, *scheme_hash);
                put16(&mut t, *curve);
                put_scheme(&mut t, *kdf, *kdf_hash);
                put2b(&mut t, x);
                put2b(&mut t, y);
            }
        }
        let mut out = (t.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&t);
        out
    }

    /// The object's name: nameAlg || H_nameAlg(TPMT_PUBLIC) (Part 1 §16).
    pub fn name(&self) -> Vec<u8> {
        let mut out = self.name_alg.to_be_bytes().to_vec();
        // parse_tpmt_public only accepts nameAlgs ring_digest knows.
        if let Some(alg) = ring_digest(self.name_alg) {
            out.extend_from_slice(digest::digest(alg, &self.tpmt).as_ref());
        }
        out
    }

    /// Checks the attributes an attestation key must have: a restricted signing key generated in
    /// the TPM that can never leave it (fixedTPM, fixedParent, sensitiveDataOrigin, no decrypt).
    pub fn check_attestation_key(&self) -> Result<(), PkiError> {
        let need = attr::FIXED_TPM
            | attr::FIXED_PARENT
            | attr::SENSITIVE_DATA_ORIGIN
            | attr::RESTRICTED
            | attr::SIGN;
        if self.attributes & need != need || self.attributes & attr::DECRYPT != 0 {
            return Err(PkiError::Policy(format!(
                "attestation key attributes 0x{:08x}: need fixedTPM, fixedParent, \
                 sensitiveDataOrigin, restricted and sign, without decrypt",
                self.attributes
            )));
        }
        Ok(())
    }

    /// Whether `spki` (DER or PEM SubjectPublicKeyInfo, as `tpm2_createak -f pem`) is this key.
    pub fn matches_spki(&self, spki: &[u8]) -> bool {
        use x509_parser::prelude::FromDer;
        let Ok(der) = crate::pem_or_der(spki, "PUBLIC KEY") else {
            return false;
        };
        let Ok((_, info)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der) else {
            return false;
        };
        let key_bits = info.subject_public_key.data.as_ref();
        match &self.key {
            PublicKey::Ecc { x, y, .. } => {
                let mut point = vec![4u8];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                key_bits == point.as_slice()
            }
            PublicKey::Rsa {
                modulus, exponent, ..
            } => {
                let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = info.parsed() else {
                    return false;
                };
                let e = if *exponent == 0 { 65537 } else { *exponent };
                let strip =
                    |b: &[u8]| -> Vec<u8> { b.iter().skip_while(|v| **v == 0).copied().collect() };
                strip(rsa.modulus) == strip(modulus)
                    && strip(rsa.exponent) == strip(&e.to_be_bytes())
            }
        }
    }
}

/// KDFa (Part 1 §11.4.10.2, SP 800-108 counter mode with HMAC-SHA-256); `label` without its NUL.
pub fn kdfa_sha256(
    key: &[u8],
    label: &str,
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let want = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(want + 32);
    let mut counter = 1u32;
    while out.len() < want {
        let mut ctx = hmac::Context::with_key(&k);
        ctx.update(&counter.to_be_bytes());
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(context_u);
        ctx.update(context_v);
        ctx.update(&bits.to_be_bytes());
        out.extend_from_slice(ctx.sign().as_ref());
        counter += 1;
    }
    out.truncate(want);
    out
}

/// KDFe (Part 1 §11.4.10.3, SP 800-56A concatenation KDF with SHA-256); `label` without its NUL.
pub fn kdfe_sha256(z: &[u8], label: &str, party_u: &[u8], party_v: &[u8], bits: u32) -> Vec<u8> {
    let want = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(want + 32);
    let mut counter = 1u32;
    while out.len() < want {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&counter.to_be_bytes());
        ctx.update(z);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(party_u);
        ctx.update(party_v);
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(want);
    out
}

/// The output of MakeCredential: what `tpm2_activatecredential -i` consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialBlob {
    /// TPM2B_ID_OBJECT contents: TPM2B_DIGEST(outerHMAC) || encIdentity.
    pub id_object: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET contents: the OAEP ciphertext, or a TPMS_ECC_POINT.
    pub encrypted_secret: Vec<u8>,
}

impl CredentialBlob {
    /// The `tpm2_makecredential -o` file format (tpm2-tools): magic 0xBADCC0DE, version 1,
    /// then TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, all big-endian.
    pub fn to_tpm2_tools_file(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.id_object.len() + self.encrypted_secret.len());
        out.extend_from_slice(&CREDENTIAL_FILE_MAGIC.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
        for part in [&self.id_object, &self.encrypted_secret] {
            // Both are far below 64 KiB by construction (≤ 2 + 64 + 2 + 64 and ≤ 512 + 4 bytes).
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Parses a `tpm2_makecredential -o` file.
    pub fn from_tpm2_tools_file(bytes: &[u8]) -> Result<CredentialBlob, PkiError> {
        let mut r = Reader {
            what: "credential blob file",
            b: bytes,
            pos: 0,
        };
        let magic = r.u32("magic")?;
        if magic != CREDENTIAL_FILE_MAGIC {
            r.pos = 0;
            return Err(r.err(&format!(
                "magic 0x{magic:08x} is not tpm2-tools' 0xbadcc0de"
            )));
        }
        let version = r.u32("version")?;
        if version != 1 {
            r.pos = 4;
            return Err(r.err(&format!("version {version} (only 1 is known)")));
        }
        let id_start = r.pos + 2;
        let id_object = r.tpm2b("TPM2B_ID_OBJECT", 2 + 64 + 2 + 64)?.to_vec();
        // The ID object must hold a TPM2B_DIGEST HMAC followed by a non-empty encIdentity.
        let mut inner = Reader {
            what: "credential blob file",
            b: &id_object,
            pos: 0,
        };
        let hmac_len = inner.tpm2b("outerHMAC", 64).map_err(|e| match e {
            PkiError::Der { what, offset, msg } => PkiError::Der {
                what,
                offset: offset + id_start,
                msg,
            },
            other => other,
        })?;
        if hmac_len.len() + 2 >= id_object.len() {
            r.pos = id_start;
            return Err(r.err("TPM2B_ID_OBJECT has no encIdentity after its HMAC"));
        }
        let encrypted_secret = r.tpm2b("TPM2B_ENCRYPTED_SECRET", 512 + 4)?.to_vec();
        if r.pos != bytes.len() {
            return Err(r.err("trailing bytes after TPM2B_ENCRYPTED_SECRET"));
        }
        Ok(CredentialBlob {
            id_object,
            encrypted_secret,
        })
    }
}

/// Randomness a credential needs: a seed (RSA) or an ephemeral scalar (ECC), and OAEP's own.
fn random_bytes(n: usize) -> Result<Vec<u8>, PkiError> {
    let mut v = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut v)
        .map_err(|_| PkiError::Crypto("random source failed".into()))?;
    Ok(v)
}

/// TPM2_MakeCredential in software: seals `credential` (at most 64 bytes; a TPM2B_DIGEST) to
/// `ek` for the object named `ak_name`. Supports the standard EK templates' parameters: RSA
/// (OAEP) or ECC NIST P-256 (ECDH) EKs with nameAlg SHA-256 and AES-CFB (128 or 256 bits).
pub fn make_credential(
    ek: &TpmPublic,
    ak_name: &[u8],
    credential: &[u8],
) -> Result<CredentialBlob, PkiError> {
    if ek.name_alg != TPM_ALG_SHA256 {
        return Err(PkiError::Policy(format!(
            "EK nameAlg 0x{:04x}: only SHA-256 EKs are supported",
            ek.name_alg
        )));
    }
    let required = attr::RESTRICTED | attr::DECRYPT | attr::FIXED_TPM;
    if ek.attributes & required != required || ek.attributes & attr::SIGN != 0 {
        return Err(PkiError::Policy(format!(
            "EK attributes 0x{:08x}: an endorsement key is a fixedTPM restricted decryption key",
            ek.attributes
        )));
    }
    let sym_key_bytes = match ek.symmetric {
        Some(SymDef {
            alg: TPM_ALG_AES,
            key_bits: bits @ (128 | 256),
            mode: TPM_ALG_CFB,
        }) => usize::from(bits / 8),
        other => {
            return Err(PkiError::Policy(format!(
                "EK symmetric algorithm {other:?}: only AES-128/256 in CFB mode is supported"
            )));
        }
    };
    if credential.is_empty() || credential.len() > 64 {
        return Err(PkiError::Policy(format!(
            "credential of {} bytes (1 to 64, a TPM2B_DIGEST)",
            credential.len()
        )));
    }
    if ak_name.len() != 34 || ak_name[..2] != TPM_ALG_SHA256.to_be_bytes() {
        return Err(PkiError::Policy(format!(
            "AK name of {} bytes: expected a SHA-256 name (000b + 32 bytes)",
            ak_name.len()
        )));
    }
    let (seed, encrypted_secret) = match &ek.key {
        PublicKey::Rsa {
            modulus, exponent, ..
        } => {
            let e = if *exponent == 0 { 65537 } else { *exponent };
            let key =
                rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(modulus), rsa::BigUint::from(e))
                    .map_err(|err| PkiError::Crypto(format!("EK RSA public key: {err}")))?;
            let seed = random_bytes(32)?;
            // The label includes its terminating NUL (Part 1 §11.4.2 / tpm2-tools).
            let padding = rsa::Oaep::new_with_label::<rsa::sha2::Sha256, _>("IDENTITY\0");
            let enc = key
                .encrypt(&mut rsa::rand_core::OsRng, padding, &seed)
                .map_err(|err| PkiError::Crypto(format!("RSA-OAEP to the EK: {err}")))?;
            (seed, enc)
        }
        PublicKey::Ecc { curve, x, y, .. } => {
            if *curve != TPM_ECC_NIST_P256 {
                return Err(PkiError::Policy(format!(
                    "EK curve 0x{curve:04x}: only NIST P-256 is supported"
                )));
            }
            ecc_seed(x, y)?
        }
    };
    let sym_key = kdfa_sha256(&seed, "STORAGE", ak_name, &[], (sym_key_bytes * 8) as u32);
    let mut enc_identity = Vec::with_capacity(2 + credential.len());
    enc_identity.extend_from_slice(&(credential.len() as u16).to_be_bytes());
    enc_identity.extend_from_slice(credential);
    let iv = [0u8; 16];
    match sym_key_bytes {
        16 => cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&sym_key, &iv)
            .map_err(|e| PkiError::Crypto(format!("AES-128-CFB: {e}")))?
            .encrypt(&mut enc_identity),
        _ => cfb_mode::Encryptor::<aes::Aes256>::new_from_slices(&sym_key, &iv)
            .map_err(|e| PkiError::Crypto(format!("AES-256-CFB: {e}")))?
            .encrypt(&mut enc_identity),
    }
    let hmac_key = kdfa_sha256(&seed, "INTEGRITY", &[], &[], 256);
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, &hmac_key));
    ctx.update(&enc_identity);
    ctx.update(ak_name);
    let outer = ctx.sign();
    let mut id_object = Vec::with_capacity(2 + 32 + enc_identity.len());
    id_object.extend_from_slice(&32u16.to_be_bytes());
    id_object.extend_from_slice(outer.as_ref());
    id_object.extend_from_slice(&enc_identity);
    Ok(CredentialBlob {
        id_object,
        encrypted_secret,
    })
}

/// ECC seed: ephemeral P-256 key (d_e, Q_e), Z = x(d_e · Q_EK),
/// seed = KDFe(Z, "IDENTITY", x(Q_e), x(Q_EK)); the secret sent is TPMS_ECC_POINT(Q_e).
fn ecc_seed(x: &[u8], y: &[u8]) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    if x.len() != 32 || y.len() != 32 {
        return Err(PkiError::Crypto(format!(
            "EK P-256 point with {}-byte x and {}-byte y (32 each)",
            x.len(),
            y.len()
        )));
    }
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    let ek = p256::PublicKey::from_sec1_bytes(&sec1)
        .map_err(|_| PkiError::Crypto("EK ECC point is not on P-256".into()))?;
    let eph = loop {
        // A 32-byte string is a valid scalar with overwhelming probability; retry otherwise.
        if let Ok(k) = p256::SecretKey::from_slice(&random_bytes(32)?) {
            break k;
        }
    };
    let shared = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), ek.as_affine());
    let eph_point = eph.public_key().to_encoded_point(false);
    let (Some(ex), Some(ey)) = (eph_point.x(), eph_point.y()) else {
        return Err(PkiError::Crypto("ephemeral point at infinity".into()));
    };
    let seed = kdfe_sha256(shared.raw_secret_bytes(), "IDENTITY", ex, x, 256);
    let mut point = Vec::with_capacity(68);
    for c in [ex.as_slice(), ey.as_slice()] {
        point.extend_from_slice(&(c.len() as u16).to_be_bytes());
        point.extend_from_slice(c);
    }
    Ok((seed, point))
}

/// Verifier side: parses the EK and AK publics (TPM2B_PUBLIC), checks the AK is a restricted
/// signing key resident in a TPM, and seals `secret` for it. Returns the blob and the AK name.
pub fn challenge_for(
    ek_public: &[u8],
    ak_public: &[u8],
    secret: &[u8],
) -> Result<(CredentialBlob, Vec<u8>), PkiError> {
    let ek = parse_tpm2b_public(ek_public)?;
    let ak = parse_tpm2b_public(ak_public)?;
    ak.check_attestation_key()?;
    let name = ak.name();
    Ok((make_credential(&ek, &name, secret)?, name))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The AK `tpm2_createak -G ecc -s ecdsa` made on swtpm (`tpm2_readpublic -f tss`) and the
    /// name tpm2-tools printed for it.
    const AK: &str = "00580023000b00050072000000100018000b00030010\
        0020e52877d4aeea54e96ac8f90544e578b5980244b7486dbdc4f1019d316d35149e\
        0020ea64026be2c9a251734323e8ec49acb8ccadaebfa44db4d14c0ffc7ca5bc2ef7";
    const AK_NAME: &str = "000b52800fd2974029fe1a1cab49543f19937ecca09fed7434681d3029c1ccc45a3e";

    #[test]
    fn parses_a_real_ak_and_computes_its_name() {
        let ak = parse_tpm2b_public(&crate::unhex(AK).unwrap()).unwrap();
        assert_eq!(ak.name_alg, TPM_ALG_SHA256);
        assert_eq!(ak.attributes, 0x0005_0072);
        assert!(matches!(
            ak.key,
            PublicKey::Ecc {
                curve: TPM_ECC_NIST_P256,
                scheme: 0x0018,
                ..
            }
        ));
        assert_eq!(crate::hex(&ak.name()), AK_NAME);
        ak.check_attestation_key().unwrap();
    }

    #[test]
    fn truncated_publics_are_errors_with_offsets() {
        let b = crate::unhex(AK).unwrap();
        for n in 0..b.len() {
            let e = parse_tpm2b_public(&b[..n]).unwrap_err().to_string();
            assert!(e.contains("offset"), "{e}");
        }
        let mut inner = b[2..].to_vec();
        inner.push(0);
        assert!(
            parse_tpmt_public(&inner)
                .unwrap_err()
                .to_string()
                .contains("trailing")
        );
    }

    #[test]
    fn kdfa_matches_its_definition() {
        // Two blocks: the second HMAC has counter 2, and output is truncated to `bits`.
        let out = kdfa_sha256(b"key", "STORAGE", b"u", b"v", 384);
        assert_eq!(out.len(), 48);
        let k = hmac::Key::new(hmac::HMAC_SHA256, b"key");
        let block = |i: u32| {
            let mut m = i.to_be_bytes().to_vec();
            m.extend_from_slice(b"STORAGE\0uv");
            m.extend_from_slice(&384u32.to_be_bytes());
            hmac::sign(&k, &m).as_ref().to_vec()
        };
        assert_eq!(&out[..32], block(1).as_slice());
        assert_eq!(&out[32..], &block(2)[..16]);
    }

    #[test]
    fn credential_file_round_trips_and_rejects_garbage() {
        let blob = CredentialBlob {
            id_object: [vec![0, 32], vec![7; 32], vec![1; 34]].concat(),
            encrypted_secret: vec![9; 256],
        };
        let file = blob.to_tpm2_tools_file();
        assert_eq!(file.len(), 8 + 2 + 68 + 2 + 256);
        assert_eq!(CredentialBlob::from_tpm2_tools_file(&file).unwrap(), blob);
        for n in 0..file.len() {
            assert!(CredentialBlob::from_tpm2_tools_file(&file[..n]).is_err());
        }
        let mut bad = file.clone();
        bad[0] = 0;
        assert!(
            CredentialBlob::from_tpm2_tools_file(&bad)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
    }

    /// Endorsement keys `tpm2_createek -G ecc` / `-G rsa` made on swtpm (TPM2B_PUBLIC).
    pub(crate) const EK_ECC: &str = "007a0023000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa0006008000430010000300100020a894181efb80bed100998e3517af89f4b5cf4ad24f084ab75cee631bc8df099a0020a21488dadbb75ad913fb8084927032dd0929e0441da8d1246ea5104af55d0d9d";
    pub(crate) const EK_RSA: &str = "013a0001000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa00060080004300100800000000000100d1d9ae742bd0b06f97a78b8b0d8a9e084cebc41886fe2e774cf01bd5ee96f0365969bcdae971a61fa90d677a79b7644634ed6027158fa86dce3171b888145fb23e0160d9789b769598849935189ff08091c25d78cb79c416d5e31ae98305e9ffa66e90cbf0d512c2a26681a3c7d4e132e80cdb556c5466e6ff29f738b19f602bab08a754368f30445bb4edb547e4f18e0a11a19025e4689efb52bce087552fc6a8b661f28e4b0bc4cfd042690db21e2f8360e2f8668734a413cc8faf4c50ac5b811f50ee3c09e26a5741b629f31f9eab4a0f25bb3fca4b0192f23dcbef244217a3c560b5b42d0f1ddc9952b5fe0aac5e0439fa468fff69cf5de8c00edb3d0755";

    #[test]
    fn real_eks_parse_and_marshal_back() {
        for hex in [EK_ECC, EK_RSA, AK] {
            let b = crate::unhex(hex).unwrap();
            assert_eq!(parse_tpm2b_public(&b).unwrap().to_tpm2b(), b);
        }
        let ek = parse_tpm2b_public(&crate::unhex(EK_RSA).unwrap()).unwrap();
        assert_eq!(
            ek.symmetric,
            Some(SymDef {
                alg: TPM_ALG_AES,
                key_bits: 128,
                mode: TPM_ALG_CFB
            })
        );
        assert!(
            matches!(ek.key, PublicKey::Rsa { key_bits: 2048, ref modulus, .. } if modulus.len() == 256)
        );
    }

    #[test]
    fn credentials_have_the_tpm_shapes_and_are_fresh() {
        let name = crate::unhex(AK_NAME).unwrap();
        for (hex, secret_len) in [(EK_RSA, 256), (EK_ECC, 2 + 32 + 2 + 32)] {
            let ek = parse_tpm2b_public(&crate::unhex(hex).unwrap()).unwrap();
            let a = make_credential(&ek, &name, b"0123456789").unwrap();
            let b = make_credential(&ek, &name, b"0123456789").unwrap();
            assert_eq!(a.id_object.len(), 2 + 32 + 2 + 10);
            assert_eq!(a.encrypted_secret.len(), secret_len);
            // A fresh seed each time: nothing repeats between two sealings of one secret.
            assert_ne!(a.id_object, b.id_object);
            assert_ne!(a.encrypted_secret, b.encrypted_secret);
            assert!(make_credential(&ek, &name[..10], b"x").is_err());
            assert!(make_credential(&ek, &name, &[0; 65]).is_err());
            assert!(make_credential(&ek, &name, &[]).is_err());
        }
        // An ECC EK whose point is not on the curve is refused, not used.
        let mut ek = parse_tpm2b_public(&crate::unhex(EK_ECC).unwrap()).unwrap();
        if let PublicKey::Ecc { y, .. } = &mut ek.key {
            y[31] ^= 1;
        }
        let e = make_credential(&ek, &name, b"x").unwrap_err().to_string();
        assert!(e.contains("not on P-256"), "{e}");
    }

    #[test]
    fn refuses_non_attestation_keys_and_bad_names() {
        let ak = parse_tpm2b_public(&crate::unhex(AK).unwrap()).unwrap();
        // An AK is no EK: it is a signing key, not a restricted decryption key.
        let e = make_credential(&ak, &ak.name(), b"secret")
            .unwrap_err()
            .to_string();
        assert!(e.contains("EK attributes"), "{e}");
        let mut weak = ak.clone();
        weak.attributes &= !attr::FIXED_TPM;
        assert!(weak.check_attestation_key().is_err());
    }
}
