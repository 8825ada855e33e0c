#![forbid(unsafe_code)]
//! Firmware image scanning for Palisade (`palisade firmware scan`).
//!
//! * [`unpack`]: squashfs (via `backhand`), cpio (newc), tar, gzip/xz/lzma layers, file
//!   systems carved out of raw blobs and archives nested in files, into an in-memory
//!   [`vfs::Vfs`] under [`unpack::Limits`] (depth, total size, entry count, expansion ratio);
//!   `..` names are refused, absolute names confined, symlinks resolved chroot-style.
//! * [`accounts`] + [`crypt`]: `/etc/passwd` and `/etc/shadow`, DES/MD5/SHA-256/SHA-512
//!   crypt(3) hashes checked against the embedded default-credential lists.
//! * [`secrets`]: PEM private keys and certificates, Dropbear host keys.
//! * [`components`]: versions from binaries' strings, library names, dpkg/opkg databases;
//!   telnetd/dropbear started at boot.
//! * [`scan`]: CPEs → CVEs through `palisade-risk`'s index, OSV by package, a risk score;
//!   [`sbom`]: CycloneDX 1.5 JSON.

pub mod accounts;
pub mod archive;
pub mod components;
pub mod cpio;
pub mod crypt;
pub mod error;
pub mod sbom;
pub mod scan;
pub mod secrets;
pub mod squashfs;
pub mod tar;
pub mod unpack;
pub mod vfs;

pub use error::{FormatError, ResolveError, UnpackError};
pub use scan::{ScanOptions, ScanReport, scan};
pub use unpack::{Limits, unpack};

#[doc(hidden)]
pub mod fuzzing;
