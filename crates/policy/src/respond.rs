//! The responder: puts devices into the quarantine zone ([`crate::nft::quarantine_ruleset`]) and
//! releases them, by running `nft -f -` with one transaction per action (atomic: either every
//! element of the action is applied or none is).
//!
//! Which alerts trigger a quarantine is a [`ResponsePolicy`] (kinds and/or a minimum severity).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fmt_mac;
use crate::nft::{BRIDGE_QUARANTINE_TABLE, quarantine_ruleset};

/// The quarantine table (see [`quarantine_ruleset`]).
pub const QUARANTINE_TABLE: &str = "inet palisade_quarantine";

/// Why a firewall action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RespondError {
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} -f rejected the {what} (nothing of it was applied): {stderr}")]
    Rejected {
        program: String,
        what: &'static str,
        stderr: String,
    },
    #[error("nothing to quarantine: the alert names neither a MAC nor an IP address")]
    NoTarget,
    #[error("unknown severity {0:?} (info, low, medium, high, critical)")]
    BadSeverity(String),
}

/// Alert severities in order.
const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

fn severity_rank(s: &str) -> Option<usize> {
    SEVERITIES.iter().position(|x| x.eq_ignore_ascii_case(s))
}

/// Kinds whose `device` is the victim (the flooded host, the server logged into), so a
/// severity threshold alone never quarantines it; list the kind explicitly to do so.
pub const VICTIM_SIDE_KINDS: [&str; 3] = ["ddos.target", "botnet.bruteforce", "cred.default_login"];

/// Which alerts quarantine their device.
#[derive(Debug, Clone, Default)]
pub struct ResponsePolicy {
    /// Alerts at or above this severity respond (`None`: severity alone never does).
    pub min_severity: Option<String>,
    /// Alert kinds that always respond (e.g. `botnet.mirai.scan`, `policy.violation`).
    pub kinds: Vec<String>,
}

impl ResponsePolicy {
    pub fn new(min_severity: Option<&str>, kinds: Vec<String>) -> Result<Self, RespondError> {
        if let Some(s) = min_severity
            && severity_rank(s).is_none()
        {
            return Err(RespondError::BadSeverity(s.to_string()));
        }
        Ok(ResponsePolicy {
            min_severity: min_severity.map(str::to_ascii_lowercase),
            kinds,
        })
    }

    /// Whether an alert of `kind` and `severity` triggers a quarantine.
    pub fn triggers(&self, kind: &str, severity: &str) -> bool {
        if self.kinds.iter().any(|k| k == kind) {
            return true;
        }
        if VICTIM_SIDE_KINDS.contains(&kind) {
            return false;
        }
        match (
            self.min_severity.as_deref().and_then(severity_rank),
            severity_rank(severity),
        ) {
            (Some(min), Some(s)) => s >= min,
            _ => false,
        }
    }
}

/// What to isolate: a device's MAC and/or addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub mac: Option<[u8; 6]>,
    pub ips: Vec<IpAddr>,
}

impl Target {
    fn is_empty(&self) -> bool {
        self.mac.is_none() && self.ips.is_empty()
    }

    /// `(set, element)` pairs.
    fn elements(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(m) = &self.mac {
            v.push(("q_mac", fmt_mac(m)));
        }
        for ip in &self.ips {
            v.push((if ip.is_ipv4() { "q_v4" } else { "q_v6" }, ip.to_string()));
        }
        v
    }
}

/// Both quarantine tables: routed (`inet`) and bridged (`bridge`, lateral traffic).
const TABLES: [&str; 2] = [QUARANTINE_TABLE, BRIDGE_QUARANTINE_TABLE];

/// The nft transaction that quarantines `t` in both tables (elements expire after `ttl`).
pub fn quarantine_script(t: &Target, ttl: Option<Duration>) -> String {
    let timeout = ttl
        .map(|d| format!(" timeout {}s", d.as_secs().max(1)))
        .unwrap_or_default();
    let mut s = String::new();
    for table in TABLES {
        for (set, e) in t.elements() {
            s.push_str(&format!("add element {table} {set} {{ {e}{timeout} }}\n"));
        }
    }
    s
}

/// The nft transaction that releases `t` from both tables.
pub fn release_script(t: &Target) -> String {
    let mut s = String::new();
    for table in TABLES {
        for (set, e) in t.elements() {
            s.push_str(&format!("delete element {table} {set} {{ {e} }}\n"));
        }
    }
    s
}

/// Runs `nft -f -` with `script` as one transaction (all of it is applied or none); returns how
/// long `nft` took. `what` names the script in errors.
pub fn apply(nft: &Path, what: &'static str, script: &str) -> Result<Duration, RespondError> {
    let program = nft.display().to_string();
    let started = Instant::now();
    let spawn_err = |source| RespondError::Spawn {
        program: program.clone(),
        source,
    };
    let mut child = Command::new(nft)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if !out.status.success() {
        return Err(RespondError::Rejected {
            program,
            what,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(started.elapsed())
}

/// Applies quarantine actions with `nft`.
#[derive(Debug, Clone)]
pub struct Responder {
    /// The nft program (default `nft`).
    pub nft: PathBuf,
    /// Addresses that stay reachable from quarantine (the hub).
    pub hub_ips: Vec<IpAddr>,
    /// Auto-expiry of a quarantine; `None`: until released.
    pub ttl: Option<Duration>,
}

impl Responder {
    pub fn new(hub_ips: Vec<IpAddr>, ttl: Option<Duration>) -> Self {
        Responder {
            nft: PathBuf::from("nft"),
            hub_ips,
            ttl,
        }
    }

    fn run(&self, what: &'static str, script: &str) -> Result<Duration, RespondError> {
        apply(&self.nft, what, script)
    }

    /// Loads (or reloads) the quarantine zone; quarantined devices stay quarantined.
    pub fn install(&self) -> Result<Duration, RespondError> {
        self.run("quarantine zone", &quarantine_ruleset(&self.hub_ips))
    }

    /// Quarantines a device; returns how long `nft` took (the rule is active when it returns).
    pub fn quarantine(&self, t: &Target) -> Result<Duration, RespondError> {
        if t.is_empty() {
            return Err(RespondError::NoTarget);
        }
        self.run("quarantine", &quarantine_script(t, self.ttl))
    }

    /// Releases a device. All its elements go in one transaction; when some were not in the
    /// zone (expired, or never added) the rest are released one by one.
    pub fn release(&self, t: &Target) -> Result<Duration, RespondError> {
        if t.is_empty() {
            return Err(RespondError::NoTarget);
        }
        match self.run("release", &release_script(t)) {
            Ok(d) => Ok(d),
            Err(RespondError::Rejected { .. }) => {
                let started = Instant::now();
                let mut released = 0;
                let mut last = None;
                for (table, (set, e)) in TABLES
                    .into_iter()
                    .flat_map(|tb| t.elements().into_iter().map(move |x| (tb, x)))
                {
                    let one = format!("delete element {table} {set} {{ {e} }}\n");
                    match self.run("release", &one) {
                        Ok(_) => released += 1,
                        Err(err) => last = Some(err),
                    }
                }
                match (released, last) {
                    (0, Some(err)) => Err(err),
                    _ => Ok(started.elapsed()),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_by_kind_and_severity() {
        let p = ResponsePolicy::new(Some("high"), vec!["policy.violation".into()]).unwrap();
        assert!(p.triggers("botnet.mirai.scan", "critical"));
        assert!(p.triggers("scan.horizontal", "high"));
        assert!(!p.triggers("proto.insecure", "medium"));
        assert!(p.triggers("policy.violation", "medium"));
        assert!(
            !p.triggers("ddos.target", "high"),
            "the victim is not quarantined"
        );
        let kinds_only = ResponsePolicy::new(None, vec!["botnet.mirai.scan".into()]).unwrap();
        assert!(!kinds_only.triggers("ddos.participation", "critical"));
        assert!(ResponsePolicy::new(Some("severe"), vec![]).is_err());
    }

    #[test]
    fn scripts_name_every_element_once() {
        let t = Target {
            mac: Some([2, 0, 0, 0, 0, 0x1a]),
            ips: vec!["10.0.1.2".parse().unwrap(), "fd00::2".parse().unwrap()],
        };
        let q = quarantine_script(&t, Some(Duration::from_secs(600)));
        assert_eq!(
            q,
            "add element inet palisade_quarantine q_mac { 02:00:00:00:00:1a timeout 600s }\n\
             add element inet palisade_quarantine q_v4 { 10.0.1.2 timeout 600s }\n\
             add element inet palisade_quarantine q_v6 { fd00::2 timeout 600s }\n\
             add element bridge palisade_quarantine q_mac { 02:00:00:00:00:1a timeout 600s }\n\
             add element bridge palisade_quarantine q_v4 { 10.0.1.2 timeout 600s }\n\
             add element bridge palisade_quarantine q_v6 { fd00::2 timeout 600s }\n"
        );
        assert!(!quarantine_script(&t, None).contains("timeout"));
        assert_eq!(release_script(&t).lines().count(), 6);
        assert!(matches!(
            Responder::new(vec![], None).quarantine(&Target::default()),
            Err(RespondError::NoTarget)
        ));
    }

    #[test]
    fn missing_nft_is_a_clear_error() {
        let mut r = Responder::new(vec![], None);
        r.nft = PathBuf::from("/nonexistent/nft");
        let e = r.install().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/nft"), "{e}");
    }
}
