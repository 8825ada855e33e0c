//! A throw-away PostgreSQL server for tests and benchmarks (not used by the hub itself).
//!
//! [`TestCluster::start`] uses, in order:
//! 1. `PALISADE_TEST_PG_URL` (an existing server whose user may `CREATE DATABASE`);
//! 2. else a new cluster: `initdb` from `/usr/lib/postgresql/*/bin` (newest) or `PATH`, in a
//!    fresh temp dir, started with `pg_ctl` on a free 127.0.0.1 port, its unix socket in the
//!    same dir. PostgreSQL refuses to run as root, so as root the dir is given to the user
//!    `PALISADE_TEST_PG_USER` (default `nobody`) and the tools run through `runuser -u`.
//!
//! The cluster is stopped (`pg_ctl stop -m immediate`) and its dir removed on drop. When no
//! PostgreSQL is found, `start` returns `None` after printing why, except with
//! `PALISADE_REQUIRE_ORACLES=1`, where it panics (CI must not skip these tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestCluster {
    /// `postgres://...` of the server, without a database name.
    base: String,
    /// The data dir of a cluster started here (stopped and removed on drop).
    owned: Option<Owned>,
}

struct Owned {
    dir: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    /// `pg_ctl -o` server options (port, socket dir, settings), for restarts.
    settings: String,
}

static DB_SEQ: AtomicU32 = AtomicU32::new(0);

/// Server settings for a cluster started here: `durable` keeps PostgreSQL's defaults
/// (fsync, synchronous commit: benchmarks); otherwise they are off (tests are faster).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterOptions {
    pub durable: bool,
}

fn require() -> bool {
    std::env::var("PALISADE_REQUIRE_ORACLES").as_deref() == Ok("1")
}

fn skip_or_panic(why: &str) -> Option<TestCluster> {
    if require() {
        panic!("PostgreSQL required (PALISADE_REQUIRE_ORACLES=1): {why}");
    }
    eprintln!("skipping PostgreSQL test: {why}");
    None
}

/// The newest `bin` dir holding `initdb`.
fn find_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = dirs.pop() {
        return Some(d);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|s| s.trim() == "0")
}

fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8(o.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Where cluster dirs go: the temp dir, or `/tmp` as root (a `TMPDIR` under `/root` would be
/// out of reach of the unprivileged user that runs PostgreSQL; the socket path must stay short).
fn cluster_base() -> PathBuf {
    let tmp = Path::new("/tmp");
    if is_root() && tmp.is_dir() {
        tmp.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Owned {
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl TestCluster {
    /// Starts (or finds) a server; `None` when PostgreSQL is not available here.
    pub fn start(opts: ClusterOptions) -> Option<TestCluster> {
        if let Ok(url) = std::env::var("PALISADE_TEST_PG_URL") {
            return Some(TestCluster {
                base: url.trim_end_matches('/').to_owned(),
                owned: None,
            });
        }
        let Some(bin) = find_bin() else {
            return skip_or_panic("initdb/pg_ctl not found (apt-get install postgresql)");
        };
        match Self::init(bin, opts) {
            Ok(c) => Some(c),
            Err(e) => skip_or_panic(&e),
        }
    }

    fn init(bin: PathBuf, opts: ClusterOptions) -> Result<TestCluster, String> {
        reap_orphans(&bin);
        let dir = cluster_base().join(format!(
            "palisade-pg-{}-{}",
            std::process::id(),
            DB_SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let user = if is_root() {
            let u = std::env::var("PALISADE_TEST_PG_USER").unwrap_or_else(|_| "nobody".into());
            let (uid, gid) = uid_gid(&u).ok_or_else(|| format!("no user {u} to run PostgreSQL"))?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
            Some(u)
        } else {
            None
        };
        let owned = Owned {
            dir,
            bin,
            user,
            settings: String::new(),
        };
        // From here on, drop stops and removes whatever was started.
        let mut cluster = TestCluster {
            base: String::new(),
            owned: Some(owned),
        };
        let o = cluster.owned.as_ref().ok_or("cluster lost")?;
        let data = o.dir.join("data");
        let data_s = data.to_string_lossy().into_owned();
        o.run(
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let sock = o.dir.to_string_lossy().into_owned();
        let mut settings = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c max_connections=100 \
             -c shared_buffers=256MB -c max_wal_size=2GB -c checkpoint_timeout=15min"
        );
        if !opts.durable {
            settings.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        if let Some(o) = cluster.owned.as_mut() {
            o.settings = settings;
        }
        cluster.resume()?;
        cluster.base = format!("postgres://postgres@127.0.0.1:{port}");
        Ok(cluster)
    }

    /// Stops the server of a cluster started here (fault tests); [`TestCluster::resume`]
    /// starts it again on the same port with the same data.
    pub fn stop(&self) -> Result<(), String> {
        let o = self.owned.as_ref().ok_or("not a cluster started here")?;
        let data = o.dir.join("data").to_string_lossy().into_owned();
        o.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
    }

    /// Starts the server of a cluster started here (again).
    pub fn resume(&self) -> Result<(), String> {
        let o = self.owned.as_ref().ok_or("not a cluster started here")?;
        let data = o.dir.join("data").to_string_lossy().into_owned();
        let log = o.dir.join("postgres.log").to_string_lossy().into_owned();
        o.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &log,
                "-o",
                &o.settings,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// A new empty database on the server; returns its URL.
    pub fn fresh_database(&self, prefix: &str) -> Result<String, String> {
        let name = format!(
            "{}_{}_{}",
            prefix
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>(),
            std::process::id(),
            DB_SEQ.fetch_add(1, Ordering::SeqCst)
        )
        .to_lowercase();
        let mut c =
            ::postgres::Client::connect(&format!("{}/postgres", self.base), ::postgres::NoTls)
                .map_err(|e| format!("connect {}: {e}", self.base))?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("create database {name}: {e}"))?;
        Ok(format!("{}/{name}", self.base))
    }

    /// The data dir of a cluster started here.
    pub fn data_dir(&self) -> Option<&Path> {
        self.owned.as_ref().map(|o| o.dir.as_path())
    }
}

/// Stops and removes the clusters of test processes that died without dropping theirs (killed
/// or aborted): `palisade-pg-<pid>-<n>` dirs whose pid is gone.
fn reap_orphans(bin: &Path) {
    let Ok(entries) = std::fs::read_dir(cluster_base()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("palisade-pg-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = e.path();
        let data = dir.join("data");
        if data.join("postmaster.pid").exists() {
            let owner = std::fs::metadata(&dir).ok().map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.uid()
            });
            let user = match owner {
                Some(0) | None => None,
                Some(_) if is_root() => {
                    Some(std::env::var("PALISADE_TEST_PG_USER").unwrap_or_else(|_| "nobody".into()))
                }
                Some(_) => None,
            };
            let o = Owned {
                dir: dir.clone(),
                bin: bin.to_path_buf(),
                user,
                settings: String::new(),
            };
            let _ = o.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(o) = &self.owned {
            let data = o.dir.join("data");
            if data.join("postmaster.pid").exists() {
                let _ = o.run(
                    "pg_ctl",
                    &[
                        "-D",
                        &data.to_string_lossy(),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                );
            }
            let _ = std::fs::remove_dir_all(&o.dir);
        }
    }
}
