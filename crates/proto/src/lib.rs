//! Application-layer parsers for the Palisade sensor.
//!
//! Every parser here is pure (no I/O, no global state), borrows from its input
//! where it can, and never panics: the bytes come straight off the wire and may
//! be written by an attacker, so each length is checked before it is used and
//! each count or recursion is bounded. Malformed input yields [`ProtoError`].
#![forbid(unsafe_code)]

pub mod banner;
pub mod cdp;
pub mod coap;
pub mod dhcp;
pub mod dns;
#[doc(hidden)]
pub mod fuzzing;
mod head;
pub mod http;
pub mod lldp;
pub mod mqtt;
pub mod ntp;
mod reader;
pub mod ssdp;
pub mod tls;

pub use head::{Header, MAX_HEADERS};

/// Why a payload could not be parsed.
///
/// Offsets are relative to the start of the slice handed to the parser so a
/// caller can log where a hostile or truncated packet went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The input ended before a field that must be present.
    #[error("truncated at offset {offset}: {needed} more byte(s) needed")]
    Truncated { offset: usize, needed: usize },
    /// A field holds a value the protocol does not allow.
    #[error("malformed at offset {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    /// The payload is clearly some other protocol (wrong magic, method, ...).
    #[error("not this protocol")]
    NotThisProtocol,
}

/// Lowercase hex, used by the fingerprint helpers.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Trims ASCII spaces and tabs at both ends (HTTP/SSDP header values).
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if *first == b' ' || *first == b'\t' {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if *last == b' ' || *last == b'\t' {
            s = rest;
        } else {
            break;
        }
    }
    s
}
