//! Test helpers: oracle tools and scratch directories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when `tool` runs. Without it the test is skipped with a message, unless
/// PALISADE_REQUIRE_ORACLES=1, where a missing tool fails the test.
pub fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1") {
            panic!("oracle tool {tool} is missing (PALISADE_REQUIRE_ORACLES=1)");
        }
        eprintln!(
            "skipping: {tool} not available (apt-get install squashfs-tools busybox-static dropbear-bin cpio)"
        );
    }
    ok
}

/// Runs a command and returns stdout; panics with its stderr on failure.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("palisade-fwscan-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `../../../shared` from this crate, when present.
pub fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared is absent");
        None
    }
}
