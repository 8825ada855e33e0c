//! Shared by the bus_*.rs tests: a real `nats-server` (JetStream, file storage) on a free
//! loopback port, `palisade` child processes, and store queries.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("palisade-bus-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `nats-server` on PATH, or None (the test skips) unless PALISADE_REQUIRE_ORACLES=1.
pub fn nats_server_bin() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nats-server"))
            .find(|c| c.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "nats-server is required (PALISADE_REQUIRE_ORACLES=1) but not installed"
        );
        eprintln!("skipping: nats-server not installed (apt-get install nats-server)");
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A nats-server child that can be stopped and started again on the same port and store.
pub struct Nats {
    pub bin: PathBuf,
    pub port: u16,
    pub store_dir: PathBuf,
    /// Optional config file (TLS, users); else plain `-js -sd -a -p`.
    pub config: Option<PathBuf>,
    child: Option<Child>,
}

impl Nats {
    pub fn start(bin: PathBuf, dir: &Path, config: Option<PathBuf>) -> Nats {
        Nats::start_on(bin, dir, config, free_port())
    }

    pub fn start_on(bin: PathBuf, dir: &Path, config: Option<PathBuf>, port: u16) -> Nats {
        let mut n = Nats {
            bin,
            port,
            store_dir: dir.join("js"),
            config,
            child: None,
        };
        n.up();
        n
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn up(&mut self) {
        assert!(self.child.is_none());
        let mut c = Command::new(&self.bin);
        match &self.config {
            Some(cfg) => c.arg("-c").arg(cfg),
            None => c
                .arg("-js")
                .arg("-sd")
                .arg(&self.store_dir)
                .args(["-a", "127.0.0.1", "-p"])
                .arg(self.port.to_string()),
        };
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        wait_port(self.port, Duration::from_secs(10));
        // JetStream recovers its file store after the port opens.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Stops the server (SIGKILL when `hard`, else SIGTERM for a clean shutdown).
    pub fn down(&mut self, hard: bool) {
        if let Some(mut c) = self.child.take() {
            if hard {
                let _ = c.kill();
            } else {
                let _ = Command::new("kill").arg(c.id().to_string()).status();
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.down(true);
    }
}

pub fn wait_port(port: u16, limit: Duration) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < limit, "port {port} did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn palisade() -> Command {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
}

/// A `palisade worker` child process.
pub struct Worker(pub Child);

impl Worker {
    pub fn start(url: &str, stream: &str, data_dir: &Path, extra: &[&str]) -> Worker {
        let child = palisade()
            .args([
                "worker",
                "--nats",
                url,
                "--stream",
                stream,
                "--durable",
                "hub",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--stats-every", "1", "--batch", "200"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting palisade worker");
        Worker(child)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The shared datasets folder, if present.
pub fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.is_dir().then_some(p)
}
