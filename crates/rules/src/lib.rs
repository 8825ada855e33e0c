//! Suricata-compatible signature rules for IoT threats (DESIGN.md §6 `ids.signature`).
//!
//! * [`parse_rule`] turns one rule line into a validated [`Rule`] or an [`Unsupported`]
//!   reason — no keyword is ever skipped silently.
//! * [`RuleSet::load_dir`] loads every `*.rules` file of a directory and returns the
//!   [`SupportReport`] (counts and reasons).
//! * [`RuleEngine`] matches packets of one worker's flows: an Aho–Corasick prefilter over the
//!   fast patterns, bounded per-flow TCP stream reassembly ([`FlowRules`]), HTTP/DNS/TLS
//!   sticky buffers from `palisade-proto`, flowbits; thresholds are applied once over all
//!   workers' events by [`apply_thresholds`], so results do not depend on the thread count.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod engine;
mod http;
pub mod inspect;
pub mod parse;
pub mod vars;

pub use engine::{FlowRules, PacketInfo, RuleEngine, RuleEvent, apply_thresholds};
pub use parse::{Action, Buf, Cond, Proto, Rule, Unsupported, parse_rule};
pub use vars::Vars;

/// Errors reading a rules directory (our own failures; bad rules are report entries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no *.rules files")]
    NoRules { path: PathBuf },
}

/// Severity bucket from a classtype priority (1 = high … 4 = info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    High,
    Medium,
    Low,
    Info,
}

impl Priority {
    pub fn from_number(n: u32) -> Priority {
        match n {
            0 | 1 => Priority::High,
            2 => Priority::Medium,
            3 => Priority::Low,
            _ => Priority::Info,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
            Priority::Info => "info",
        }
    }
}

/// Classtype priorities of Suricata's default `classification.config` (the common ones);
/// a `classification.config` next to the rules overrides and extends it.
const DEFAULT_CLASSES: &[(&str, u32)] = &[
    ("not-suspicious", 3),
    ("unknown", 3),
    ("bad-unknown", 2),
    ("attempted-recon", 2),
    ("successful-recon-limited", 2),
    ("successful-recon-largescale", 2),
    ("attempted-dos", 2),
    ("successful-dos", 2),
    ("attempted-user", 1),
    ("unsuccessful-user", 1),
    ("successful-user", 1),
    ("attempted-admin", 1),
    ("successful-admin", 1),
    ("rpc-portmap-decode", 2),
    ("shellcode-detect", 1),
    ("string-detect", 3),
    ("suspicious-filename-detect", 2),
    ("suspicious-login", 2),
    ("system-call-detect", 2),
    ("tcp-connection", 4),
    ("trojan-activity", 1),
    ("unusual-client-port-connection", 2),
    ("network-scan", 3),
    ("denial-of-service", 2),
    ("non-standard-protocol", 2),
    ("protocol-command-decode", 3),
    ("web-application-activity", 2),
    ("web-application-attack", 1),
    ("misc-activity", 3),
    ("misc-attack", 2),
    ("icmp-event", 3),
    ("inappropriate-content", 1),
    ("policy-violation", 1),
    ("default-login-attempt", 2),
    ("targeted-activity", 1),
    ("exploit-kit", 1),
    ("external-ip-check", 2),
    ("domain-c2", 1),
    ("pup-activity", 2),
    ("credential-theft", 1),
    ("social-engineering", 2),
    ("coin-mining", 2),
    ("command-and-control", 1),
];

/// Parses `config classification: name,description,priority` lines.
pub fn parse_classification(text: &str) -> BTreeMap<String, u32> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("config classification:") else {
            continue;
        };
        let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
        if let (Some(name), Some(prio)) = (parts.first(), parts.last())
            && let Ok(p) = prio.parse()
        {
            m.insert(name.to_string(), p);
        }
    }
    m
}

/// One rule line that was not loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    pub file: String,
    pub line: usize,
    pub sid: Option<u32>,
    pub key: String,
    pub detail: String,
}

/// What loading a rules directory found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SupportReport {
    pub files: usize,
    /// Active rule lines (not commented out).
    pub rules: usize,
    pub supported: usize,
    /// Commented-out rules (Suricata does not load them either).
    pub disabled: usize,
    /// Supported rules whose sid was already loaded (the later one is dropped, as Suricata does).
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

impl SupportReport {
    /// Rejections counted per reason key, most frequent first.
    pub fn reasons(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.rejected {
            *m.entry(&r.key).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// A loaded rule with its derived severity.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub rule: Rule,
    pub priority: Priority,
}

/// The compiled rule set shared (read-only) by all workers.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<LoadedRule>,
    pub(crate) compiled: engine::Compiled,
}

impl RuleSet {
    /// Builds a rule set from rule text (several lines); returns it with the report.
    pub fn from_text(
        files: &[(String, String)],
        classes: &BTreeMap<String, u32>,
    ) -> (RuleSet, SupportReport) {
        let vars = Vars::default();
        let mut rep = SupportReport::default();
        let mut rules: Vec<LoadedRule> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, text) in files {
            rep.files += 1;
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() {
                    continue;
                }
                if let Some(c) = l.strip_prefix('#') {
                    let c = c.trim_start();
                    if ["alert ", "drop ", "reject ", "pass "]
                        .iter()
                        .any(|a| c.starts_with(a))
                        && c.contains("sid:")
                    {
                        rep.disabled += 1;
                    }
                    continue;
                }
                rep.rules += 1;
                match parse_rule(l, &vars) {
                    Ok(rule) => {
                        if !seen.insert((rule.gid, rule.sid)) {
                            rep.duplicates += 1;
                            continue;
                        }
                        let prio = rule
                            .classtype
                            .as_deref()
                            .and_then(|c| classes.get(c).copied().or_else(|| default_class(c)))
                            .unwrap_or(3);
                        rep.supported += 1;
                        rules.push(LoadedRule {
                            priority: Priority::from_number(prio),
                            rule,
                        });
                    }
                    Err(u) => rep.rejected.push(Rejected {
                        file: name.clone(),
                        line: i + 1,
                        sid: sid_of(l),
                        key: u.key,
                        detail: u.detail,
                    }),
                }
            }
        }
        let compiled = engine::Compiled::new(&rules, vars.addr("$HOME_NET").ok());
        (RuleSet { rules, compiled }, rep)
    }

    /// Loads every `*.rules` file of `dir` (sorted by name), with `classification.config`
    /// from the same directory when present.
    pub fn load_dir(dir: &Path) -> Result<(Arc<RuleSet>, SupportReport), RulesError> {
        let io = |source| RulesError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = if dir.is_file() {
            vec![dir.to_path_buf()]
        } else {
            std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rules"))
                .collect()
        };
        paths.sort();
        if paths.is_empty() {
            return Err(RulesError::NoRules {
                path: dir.to_path_buf(),
            });
        }
        let mut files = Vec::new();
        for p in &paths {
            let text = std::fs::read(p).map_err(|source| RulesError::Io {
                path: p.clone(),
                source,
            })?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            files.push((name, String::from_utf8_lossy(&text).into_owned()));
        }
        let base = if dir.is_file() {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        let mut classes = BTreeMap::new();
        for c in ["classification.config", "classification.config-2020"] {
            if let Ok(t) = std::fs::read_to_string(base.join(c)) {
                classes = parse_classification(&t);
                break;
            }
        }
        let (set, rep) = RuleSet::from_text(&files, &classes);
        Ok((Arc::new(set), rep))
    }
}

fn default_class(c: &str) -> Option<u32> {
    DEFAULT_CLASSES
        .iter()
        .find(|(n, _)| *n == c)
        .map(|(_, p)| *p)
}

fn sid_of(line: &str) -> Option<u32> {
    let i = line.find("sid:")?;
    let rest = &line[i + 4..];
    let end = rest.find(';')?;
    rest[..end].trim().parse().ok()
}

/// Entry points for the fuzz targets (rustls style).
#[doc(hidden)]
pub mod fuzzing {
    /// Parses arbitrary bytes as a rule and, when it parses, inspects a buffer with it.
    pub fn parse_rule(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let (line, payload) = match text.split_once('\n') {
            Some((l, p)) => (l, p.as_bytes()),
            None => (&*text, &b""[..]),
        };
        if let Ok(r) = crate::parse_rule(line, &crate::Vars::default()) {
            for conds in r.buffers.values() {
                let _ = crate::inspect::inspect(conds, payload);
            }
        }
    }
}

#[cfg(test)]
mod tests;
