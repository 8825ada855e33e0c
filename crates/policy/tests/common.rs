use std::path::{Path, PathBuf};
use std::process::Command;

pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
}

/// All MUD profiles of the UNSW set (profiles/ and other/), sorted.
pub fn mud_profiles() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in ["profiles", "other"] {
        let d = datasets().join("mud-unsw").join(sub);
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// Whether a tool is usable; skips (returns false) with a message, or panics under PALISADE_REQUIRE_ORACLES=1.
pub fn have_root_tool(what: &str, probe: &[&str]) -> bool {
    let ok = Command::new(probe[0])
        .args(&probe[1..])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    if std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1") {
        panic!(
            "{what} is required (PALISADE_REQUIRE_ORACLES=1): apt-get install nftables iproute2, run as root"
        );
    }
    eprintln!(
        "SKIP: {what} is unavailable ({}); install nftables/iproute2 and run as root",
        probe.join(" ")
    );
    false
}

/// A network namespace removed on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Option<Netns> {
        let name = format!("pal{tag}{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Netns(name))
    }
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .expect("ip netns exec")
    }
    pub fn exec_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
