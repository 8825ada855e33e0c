//! Shared helpers: temp dirs, keys, the imgtool oracle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use palisade_firmware::{ImageVersion, KeyType, PrivateKey, SignOptions};

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary directory (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "palisade-fw-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes.
pub fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn key(kind: KeyType) -> (PrivateKey, String) {
    PrivateKey::generate(kind).unwrap()
}

pub fn opts(version: &str, counter: Option<u32>) -> SignOptions {
    SignOptions {
        version: ImageVersion::parse(version).unwrap(),
        header_size: 0x200,
        pad_header: true,
        slot_size: 0x20000,
        security_counter: counter,
        ..SignOptions::default()
    }
}

/// The imgtool oracle, or `None` (with a message) when it is not installed. With
/// `PALISADE_REQUIRE_ORACLES=1` (set by .ci/run) a missing oracle fails the test instead.
pub fn imgtool() -> Option<&'static str> {
    let ok = Command::new("imgtool")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some("imgtool");
    }
    if std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1") {
        panic!(
            "imgtool is required (PALISADE_REQUIRE_ORACLES=1) but not installed: pip install imgtool==2.5.0"
        );
    }
    eprintln!("SKIP: imgtool not installed (pip install imgtool==2.5.0); interop test skipped");
    None
}

/// Runs imgtool; returns (success, stdout+stderr).
pub fn run_imgtool(args: &[&str]) -> (bool, String) {
    let o = Command::new("imgtool").args(args).output().unwrap();
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), s)
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
