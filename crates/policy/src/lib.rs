//! Device network policy: RFC 8520 Manufacturer Usage Description (MUD) profiles over the RFC 8519
//! ACL YANG model.
//!
//! * [`parse`] / [`to_json`]: JSON (RFC 7951) in and out, accepting both `ietf-access-control-list:acls`
//!   and the draft-era `ietf-access-control-list:access-lists`; errors carry the JSON path.
//! * [`validate`]: semantic checks (references, protocol/port consistency, addresses, names).
//! * [`learn`]: a least-privilege profile from captured traffic of one device.
//! * [`check`]: captured traffic against a profile, giving `policy.violation` findings.
//! * [`nft`]: compilation to an `nft -f` ruleset with per-device chains, default deny and a quarantine zone.
//!
//! Leaf crate: no tokio, axum or clap.

#![forbid(unsafe_code)]

pub mod check;
pub mod learn;
pub mod live;
pub mod model;
pub mod nft;
pub mod respond;
mod traffic;
mod validate;

#[doc(hidden)]
pub mod fuzzing;

pub use model::{AclKey, MudFile};
pub use traffic::{Identities, PeerIdentity};
pub use validate::{Issue, IssueKind, validate};

/// Why a MUD file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not JSON, or JSON that does not fit the MUD/ACL model.
    #[error("{path}: {message} (line {line}, column {column})")]
    Syntax {
        /// JSON path of the offending member, e.g. `ietf-mud:mud.mud-version`.
        path: String,
        message: String,
        line: usize,
        column: usize,
    },
    /// Well-formed but semantically invalid.
    #[error("invalid MUD profile: {}", issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid { issues: Vec<Issue> },
    /// A capture could not be read.
    #[error("capture {path}: {source}")]
    Capture {
        path: String,
        source: palisade_capture::CaptureError,
    },
    /// A device MAC address did not parse.
    #[error("bad MAC address {0:?} (expected aa:bb:cc:dd:ee:ff)")]
    BadMac(String),
}

/// Parses a MUD file without semantic validation.
pub fn parse(json: &str) -> Result<MudFile, PolicyError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let r: Result<MudFile, _> = serde_path_to_error::deserialize(&mut de);
    match r {
        Ok(m) => {
            de.end().map_err(|e| PolicyError::Syntax {
                path: ".".into(),
                message: e.to_string(),
                line: e.line(),
                column: e.column(),
            })?;
            Ok(m)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Err(PolicyError::Syntax {
                path,
                message: strip_position(&inner.to_string()),
                line: inner.line(),
                column: inner.column(),
            })
        }
    }
}

/// Parses and validates a MUD file (warnings, see [`Issue::is_error`], do not fail it).
pub fn load(json: &str) -> Result<MudFile, PolicyError> {
    let m = parse(json)?;
    let issues: Vec<Issue> = validate(&m).into_iter().filter(Issue::is_error).collect();
    if issues.is_empty() {
        Ok(m)
    } else {
        Err(PolicyError::Invalid { issues })
    }
}

/// Serialises a MUD file as pretty JSON (RFC 7951 names), using the ACL key it was read with.
pub fn to_json(m: &MudFile) -> String {
    // Serialising plain structs and maps with string keys cannot fail.
    serde_json::to_string_pretty(m).unwrap_or_default()
}

fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (also with `-`).
pub fn parse_mac(s: &str) -> Result<[u8; 6], PolicyError> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(PolicyError::BadMac(s.to_string()));
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(PolicyError::BadMac(s.to_string()));
        }
        m[i] = u8::from_str_radix(p, 16).map_err(|_| PolicyError::BadMac(s.to_string()))?;
    }
    Ok(m)
}

/// Formats a MAC as lower-case colon hex.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
