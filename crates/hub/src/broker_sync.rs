//! Keeps Mosquitto's policy in step with the CA (issue 10): the hub watches the CA ledger and,
//! whenever it grows (an enrollment, a revocation, a token), rewrites the broker directory's CRL
//! and ACL (`palisade_pki::broker::refresh_files`) and sends the broker SIGHUP, which makes
//! Mosquitto reload both. A revoked device is therefore locked out of the broker within about
//! a second of `palisade ca revoke`, without a manual step. The CRL is also re-signed before
//! half of its lifetime has passed, so the broker never holds an expired one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palisade_pki::{CaRepo, Kek};

use crate::{HubConfig, HubError};

const POLL: Duration = Duration::from_millis(500);
const CRL_VALIDITY_S: i64 = 24 * 3600;
const RESIGN_EVERY: Duration = Duration::from_secs(12 * 3600);

/// What the watcher needs.
#[derive(Debug, Clone)]
pub struct BrokerSync {
    pub ca_dir: PathBuf,
    pub kek_file: PathBuf,
    pub broker_dir: PathBuf,
    pub pid_file: Option<PathBuf>,
}

impl BrokerSync {
    /// From the hub settings; `None` when no broker directory is configured.
    pub fn from_config(cfg: &HubConfig) -> Option<BrokerSync> {
        Some(BrokerSync {
            ca_dir: cfg.data_dir.join("ca"),
            kek_file: cfg
                .kek_file
                .clone()
                .unwrap_or_else(|| cfg.data_dir.join("kek")),
            broker_dir: cfg.broker_dir.clone()?,
            pid_file: cfg.broker_pid_file.clone(),
        })
    }

    fn ledger_len(&self) -> u64 {
        std::fs::metadata(self.ca_dir.join("ledger.jsonl")).map_or(0, |m| m.len())
    }

    /// Rewrites CRL and ACL and signals the broker once. Returns (devices in the ACL, whether a
    /// broker was signalled).
    pub fn sync_once(&self, repo: &mut CaRepo) -> Result<(usize, bool), HubError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let n = palisade_pki::broker::refresh_files(repo, &self.broker_dir, CRL_VALIDITY_S, now)
            .map_err(|e| HubError::Tls(format!("broker policy: {e}")))?;
        let signalled = match &self.pid_file {
            Some(p) => signal_hup(p)?,
            None => false,
        };
        Ok((n, signalled))
    }

    /// Starts the watcher thread (checks first that the CA and the broker directory exist).
    pub fn spawn(self) -> Result<std::thread::JoinHandle<()>, HubError> {
        if !self.broker_dir.join("mosquitto.conf").exists() {
            return Err(HubError::Tls(format!(
                "broker_dir {}: no mosquitto.conf (write it first with `palisade ca broker --out {0}`)",
                self.broker_dir.display()
            )));
        }
        let kek = Kek::load_or_create(&self.kek_file)
            .map_err(|e| HubError::Tls(format!("broker policy: {e}")))?;
        let mut repo = CaRepo::open(&self.ca_dir, kek)
            .map_err(|e| HubError::Tls(format!("broker policy: {e}")))?;
        let handle = std::thread::Builder::new()
            .name("palisade-broker-sync".into())
            .spawn(move || {
                // Our own CRL event grows the ledger too: remember its length after each sync.
                let mut seen = u64::MAX;
                let mut signed = Instant::now();
                loop {
                    let len = self.ledger_len();
                    if len != seen || signed.elapsed() >= RESIGN_EVERY {
                        match self.sync_once(&mut repo) {
                            Ok((n, hup)) => tracing::info!(
                                "broker policy rewritten: {n} devices in the ACL{}",
                                if hup { ", broker reloaded" } else { "" }
                            ),
                            Err(e) => tracing::warn!("{e}"),
                        }
                        seen = self.ledger_len();
                        signed = Instant::now();
                    }
                    std::thread::sleep(POLL);
                }
            })?;
        Ok(handle)
    }
}

/// Sends SIGHUP to the pid in `pid_file`; false when the file is absent (broker not running).
fn signal_hup(pid_file: &Path) -> Result<bool, HubError> {
    let text = match std::fs::read_to_string(pid_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let pid: u32 = text.trim().parse().map_err(|_| {
        HubError::Tls(format!(
            "{}: not a process id: {:?}",
            pid_file.display(),
            text.trim()
        ))
    })?;
    let st = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()?;
    if !st.success() {
        return Err(HubError::Tls(format!(
            "could not signal the broker (pid {pid} from {})",
            pid_file.display()
        )));
    }
    Ok(true)
}
