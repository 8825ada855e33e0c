//! Palisade's private PKI for device identities (issue 10): a root → issuing CA → device
//! certificate hierarchy, PKCS#10 CSR checking against an issuance policy, revocation with v2
//! CRLs and a fast revocation set, an OCSP responder core, PKCS#7 certs-only encoding for EST,
//! and an on-disk CA repository whose keys are sealed under a key-encryption key.
//!
//! Pure library: no async runtime, no I/O except in [`repo`] and [`broker::refresh_files`].
#![forbid(unsafe_code)]

pub mod broker;
pub mod ca;
pub mod credential;
pub mod csr;
pub mod der;
pub mod keys;
pub mod ocsp;
pub mod pkcs7;
pub mod policy;
#[cfg(test)]
mod props;
pub mod repo;
pub mod revocation;
pub mod tpm;

pub use ca::{Ca, Issued, RevokedEntry};
pub use csr::CsrInfo;
pub use keys::{Kek, KeyKind};
pub use policy::Policy;
pub use repo::CaRepo;
pub use revocation::{Reason, RevocationSet};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{what}: malformed DER at byte offset {offset}: {msg}")]
    Der {
        what: &'static str,
        offset: usize,
        msg: String,
    },
    #[error("CSR: {0}")]
    Csr(String),
    #[error("certificate: {0}")]
    Cert(String),
    #[error("CRL: {0}")]
    Crl(String),
    #[error("policy: {0}")]
    Policy(String),
    #[error("crypto: {0}")]
    Crypto(String),
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("not authorized: {0}")]
    Auth(String),
    #[error("CA repository: {0}")]
    Repo(String),
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses hex (either case, optional ':' separators).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if !clean.len().is_multiple_of(2) {
        return None;
    }
    clean
        .chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

/// Decodes the first PEM block labelled `label`, or returns the input when it is not PEM
/// (taken as DER).
pub fn pem_or_der(input: &[u8], label: &str) -> Result<Vec<u8>, PkiError> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let blocks = pem::parse_many(input).map_err(|e| PkiError::Der {
            what: "PEM",
            offset: 0,
            msg: e.to_string(),
        })?;
        blocks
            .into_iter()
            .find(|p| {
                p.tag() == label
                    || (label == "CERTIFICATE REQUEST" && p.tag() == "NEW CERTIFICATE REQUEST")
            })
            .map(|p| p.into_contents())
            .ok_or_else(|| PkiError::Der {
                what: "PEM",
                offset: 0,
                msg: format!("no {label} block"),
            })
    } else {
        Ok(input.to_vec())
    }
}

/// All PEM blocks labelled `label`.
pub fn pem_all(input: &[u8], label: &str) -> Result<Vec<Vec<u8>>, PkiError> {
    let blocks = pem::parse_many(input).map_err(|e| PkiError::Der {
        what: "PEM",
        offset: 0,
        msg: e.to_string(),
    })?;
    Ok(blocks
        .into_iter()
        .filter(|p| p.tag() == label)
        .map(|p| p.into_contents())
        .collect())
}

/// PEM-encodes DER with `label` (64-column lines, LF).
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
