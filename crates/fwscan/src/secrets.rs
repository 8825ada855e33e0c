//! Hard-coded private keys and certificates: PEM blocks anywhere in the tree (also inside
//! binaries) and Dropbear's binary host keys.

use memchr::memmem;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::vfs::Vfs;

/// Most findings reported per image.
const MAX_FINDINGS: usize = 1000;

/// One key or certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFinding {
    pub path: String,
    pub offset: u64,
    /// PEM label (`RSA PRIVATE KEY`, `CERTIFICATE`, …) or `dropbear host key (ssh-ed25519)`.
    pub kind: String,
    pub private: bool,
    /// The PEM block says it is encrypted (`ENCRYPTED PRIVATE KEY`, `Proc-Type: 4,ENCRYPTED`).
    pub encrypted: bool,
    /// SHA-256 of the block's bytes, to recognise the same key across images.
    pub sha256: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Finds PEM blocks in one file's data.
pub fn pem_blocks(path: &str, data: &[u8], out: &mut Vec<KeyFinding>) {
    let begin = memmem::Finder::new(b"-----BEGIN ");
    let mut pos = 0usize;
    while let Some(i) = begin.find(&data[pos..]).map(|i| i + pos) {
        if out.len() >= MAX_FINDINGS {
            return;
        }
        let label_start = i + 11;
        let Some(label_len) = data
            .get(label_start..(label_start + 64).min(data.len()))
            .and_then(|s| memmem::find(s, b"-----"))
        else {
            pos = label_start;
            continue;
        };
        let label =
            String::from_utf8_lossy(&data[label_start..label_start + label_len]).into_owned();
        if !label
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c == b' ' || c.is_ascii_digit())
        {
            pos = label_start;
            continue;
        }
        let end_marker = format!("-----END {label}-----");
        let body_start = label_start + label_len + 5;
        let window = &data[body_start..(body_start + 64 * 1024).min(data.len())];
        let Some(end) = memmem::find(window, end_marker.as_bytes()) else {
            pos = body_start;
            continue;
        };
        let block = &data[i..body_start + end + end_marker.len()];
        let body = &window[..end];
        out.push(KeyFinding {
            path: path.to_owned(),
            offset: i as u64,
            private: label.contains("PRIVATE KEY"),
            encrypted: label.contains("ENCRYPTED") || memmem::find(body, b"ENCRYPTED").is_some(),
            kind: label,
            sha256: hex(&Sha256::digest(block)),
        });
        pos = body_start + end + end_marker.len();
    }
}

/// Recognises a Dropbear host key file (`string keytype, …` in SSH wire format).
fn dropbear_key(data: &[u8]) -> Option<&'static str> {
    let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let name = data.get(4..4 + len)?;
    [
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ]
    .into_iter()
    .find(|k| k.as_bytes() == name)
}

/// Scans every file.
pub fn scan(vfs: &Vfs) -> Vec<KeyFinding> {
    let mut out = Vec::new();
    for (path, data) in vfs.files() {
        pem_blocks(path, data, &mut out);
        let name = path.rsplit('/').next().unwrap_or("");
        if path.contains("/dropbear/")
            && name.contains("host_key")
            && let Some(kind) = dropbear_key(data)
            && out.len() < MAX_FINDINGS
        {
            out.push(KeyFinding {
                path: path.to_owned(),
                offset: 0,
                kind: format!("dropbear host key ({kind})"),
                private: true,
                encrypted: false,
                sha256: hex(&Sha256::digest(data)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pem_blocks_in_binary_noise() {
        let mut d = vec![0u8, 1, 2, 0x7f];
        d.extend_from_slice(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n\0\0");
        d.extend_from_slice(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
        d.extend_from_slice(b"-----BEGIN broken");
        let mut out = Vec::new();
        pem_blocks("/x", &d, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].private && out[0].encrypted);
        assert_eq!(out[0].offset, 4);
        assert_eq!(out[1].kind, "CERTIFICATE");
        assert!(!out[1].private);
    }
}
