//! Test helpers: temp dirs, a static-file HTTP server on 127.0.0.1, the python-tuf oracle.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "palisade-tuf-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self, n: &str) -> PathBuf {
        self.0.join(n)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// Serves `root` over HTTP on 127.0.0.1 (an ephemeral port) until the process exits.
/// Returns the base URL.
pub fn serve(root: PathBuf) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let rel = path.trim_start_matches('/');
            let file = root.join(rel);
            let resp = if rel.contains("..") {
                None
            } else {
                std::fs::read(&file).ok().filter(|_| file.is_file())
            };
            let _ = match resp {
                Some(b) => s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| s.write_all(&b)),
                None => s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// python-tuf 7, or `None` with a message. `PALISADE_REQUIRE_ORACLES=1` makes it a failure.
pub fn python_tuf() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import tuf, sys; sys.exit(0 if tuf.__version__.startswith('7') else 1)",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some("python3");
    }
    if std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1") {
        panic!("python-tuf 7 is required (PALISADE_REQUIRE_ORACLES=1): pip install tuf==7.0.1");
    }
    eprintln!("SKIP: python-tuf 7 not installed (pip install tuf==7.0.1); interop test skipped");
    None
}

pub fn script(name: &str) -> String {
    format!("{}/tests/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the python-tuf client; `Ok(())` when it downloaded the target, `Err(output)` otherwise.
pub fn py_client(
    state: &Path,
    base: &str,
    target: &str,
    bootstrap: Option<&Path>,
) -> Result<(), String> {
    let out = state.join("downloads");
    let mut c = Command::new("python3");
    c.arg(script("client.py"))
        .arg(state.join("md"))
        .arg(base)
        .arg(target)
        .arg(&out);
    if let Some(b) = bootstrap {
        c.arg(b);
    }
    let o = c.output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    if o.status.success() { Ok(()) } else { Err(s) }
}
