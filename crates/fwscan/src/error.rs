//! Errors: each names the layer (a path inside the image, `<image>` for the input) and,
//! where it helps, the byte offset in that layer.

use thiserror::Error;

/// A structural error in one archive or file-system layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("{format}: truncated at byte {offset} ({what})")]
    Truncated {
        format: &'static str,
        offset: u64,
        what: &'static str,
    },
    #[error("{format}: malformed at byte {offset}: {what}")]
    Malformed {
        format: &'static str,
        offset: u64,
        what: &'static str,
    },
    #[error("{format}: more than {limit} members (entry limit) at byte {offset}")]
    TooManyEntries {
        format: &'static str,
        offset: u64,
        limit: usize,
    },
    #[error("{format}: unsupported at byte {offset}: {what}")]
    Unsupported {
        format: &'static str,
        offset: u64,
        what: &'static str,
    },
}

/// Why unpacking stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// A resource cap was reached (the image is hostile or larger than allowed).
    #[error("{at}: {what} limit of {limit} exceeded")]
    Limit {
        at: String,
        what: &'static str,
        limit: u64,
    },
    #[error("{at}: {source}")]
    Format {
        at: String,
        #[source]
        source: FormatError,
    },
    #[error("{at}: {format} stream: {detail}")]
    Decompress {
        at: String,
        format: &'static str,
        detail: String,
    },
    #[error("{at}: squashfs at byte {offset}: {detail}")]
    Squashfs {
        at: String,
        offset: u64,
        detail: String,
    },
    #[error("{at}: not a recognised image (no squashfs, cpio, tar, gzip, xz or lzma data found)")]
    Unrecognised { at: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a path could not be resolved inside the unpacked tree.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error("{path}: too many levels of symbolic links (loop?)")]
    Loop { path: String },
    #[error("{path}: not found")]
    NotFound { path: String },
}
