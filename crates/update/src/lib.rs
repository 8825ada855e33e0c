//! TUF 1.0 (spec 1.0.34) for Palisade updates: strict metadata parsing and canonical JSON,
//! a repository with keys encrypted at rest ([`repo`]), and a client that refuses rollback,
//! freeze, mix-and-match, below-threshold and oversized data ([`client`]). Interoperates with
//! python-tuf 7 both ways (see tests/). [`serve`] publishes a repository over HTTPS and
//! [`agent`] is the device side: TUF, then MCUboot verification, A/B slots and anti-rollback.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod agent;
pub mod client;
pub mod fetch;
pub mod json;
pub mod metadata;
pub mod repo;
pub mod serve;
pub mod time;

pub use client::{Client, Limits};
pub use fetch::{ClientTls, DirFetcher, FetchError, Fetcher, HttpFetcher, tls_config_trusting};
pub use metadata::{Envelope, Role, RootInfo, TargetFile, TufKey};
pub use repo::{InitOptions, KeyAlg, Repository};

/// Why an update operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// Transport failure.
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    /// Not JSON, or duplicate keys.
    #[error("{file}: {error}")]
    Json {
        /// File.
        file: String,
        /// Position and cause.
        error: json::JsonError,
    },
    /// A field is missing or has the wrong form.
    #[error("{file}: field {field}: {message}")]
    Malformed {
        /// File.
        file: String,
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The `_type` is not the expected role.
    #[error("{file}: expected {expected} metadata, found {found}")]
    WrongType {
        /// File.
        file: String,
        /// Expected role.
        expected: &'static str,
        /// Found role.
        found: &'static str,
    },
    /// Not enough valid signatures.
    #[error(
        "{role} metadata has {valid} valid signature(s) from authorised keys, threshold is {threshold}"
    )]
    Threshold {
        /// Role.
        role: &'static str,
        /// Valid signatures.
        valid: usize,
        /// Threshold.
        threshold: u64,
    },
    /// Expired metadata (freeze attack or stale repository).
    #[error("{role} metadata expired at {expires} (freeze attack or stale repository)")]
    Expired {
        /// Role.
        role: &'static str,
        /// Expiry.
        expires: String,
    },
    /// A version went backwards.
    #[error("rollback: {role} version {new} is lower than the trusted version {trusted}")]
    Rollback {
        /// Role.
        role: &'static str,
        /// Trusted version.
        trusted: u64,
        /// Offered version.
        new: u64,
    },
    /// A version differs from what the referencing metadata says (mix-and-match).
    #[error("mix-and-match: {role} version {found} does not match the expected version {expected}")]
    VersionMismatch {
        /// Role.
        role: &'static str,
        /// Expected.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// Length differs from the signed length (oversized or truncated download).
    #[error("{file}: length {got} differs from the signed length {expected}")]
    LengthMismatch {
        /// File.
        file: String,
        /// Signed length.
        expected: u64,
        /// Actual length (signed length + 1 when the download was cut off).
        got: u64,
    },
    /// Hash differs from the signed hash.
    #[error("{file}: {algorithm} hash does not match the signed hash")]
    HashMismatch {
        /// File.
        file: String,
        /// Algorithm.
        algorithm: String,
    },
    /// A required file is absent.
    #[error("{0} is missing from the repository")]
    Missing(String),
    /// The target is not listed.
    #[error("target {0:?} is not in the trusted targets metadata")]
    UnknownTarget(String),
    /// No trusted root to start from.
    #[error("no trusted root.json in the client directory (bootstrap it first)")]
    NoTrustedRoot,
    /// Crypto failure.
    #[error("crypto: {0}")]
    Crypto(&'static str),
    /// Repository usage error.
    #[error("repository: {0}")]
    Repo(String),
    /// Local I/O.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

impl TufError {
    pub(crate) fn io(what: &'static str) -> impl Fn(std::io::Error) -> TufError {
        move |source| TufError::Io { what, source }
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(D[usize::from(x >> 4)]));
        s.push(char::from(D[usize::from(x & 15)]));
    }
    s
}

/// Hex decoding (either case).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let v = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(v(p[0])? << 4 | v(p[1])?))
        .collect()
}

/// Entry points for fuzz targets (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    use crate::metadata::{Envelope, Role, RootInfo};

    /// Parses metadata of every role and root key material; must never panic.
    pub fn metadata(data: &[u8]) {
        for role in Role::ALL {
            if let Ok(e) = Envelope::parse(data, "fuzz.json", role)
                && role == Role::Root
                && let Ok(info) = RootInfo::from_envelope(&e, "fuzz.json")
            {
                let _ = info.verify(Role::Root, &e);
            }
        }
    }
}
