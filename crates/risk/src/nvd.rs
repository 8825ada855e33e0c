//! NVD CVE JSON 2.0 records and NVD applicability semantics.
//!
//! A CVE applies to an inventory (a set of CPE names, each with a confidence) when any of
//! its configurations is satisfied:
//! * a configuration is an `AND` or `OR` (default) over nodes, optionally negated;
//! * a node is an `OR` (default) or `AND` over `cpeMatch` entries, optionally negated;
//! * a `cpeMatch` is satisfied when some inventory CPE matches its `criteria` on every
//!   attribute (NISTIR 7696: a concrete criteria value never covers ANY or NA, `-` only
//!   equals `-`) and, when version bounds are given, its version lies within
//!   `versionStart{In,Ex}cluding` … `versionEnd{In,Ex}cluding` (see [`crate::version`]);
//! * at least one satisfied entry must be `vulnerable: true` — `vulnerable: false`
//!   entries only describe the platform ("running on/with"), so an AND configuration
//!   whose hardware node is not in the inventory does not apply (strict semantics).

use serde::Deserialize;

use crate::cpe::{Cpe, Value, attr};
use crate::version;

/// Boolean operator of a configuration or node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Op {
    #[default]
    Or,
    And,
}

/// A version bound of a `cpeMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub version: String,
    pub inclusive: bool,
}

/// One `cpeMatch` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpeMatch {
    pub vulnerable: bool,
    pub criteria: Cpe,
    pub start: Option<Bound>,
    pub end: Option<Bound>,
}

/// One configuration node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    pub operator: Op,
    pub negate: bool,
    pub matches: Vec<CpeMatch>,
}

/// One configuration (a top-level entry of `configurations`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub operator: Op,
    pub negate: bool,
    pub nodes: Vec<Node>,
}

/// The CVSS base score used for scoring (the newest version present, NVD primary first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cvss {
    /// 2, 30, 31 or 40.
    pub version: u8,
    pub score: f32,
}

/// The parts of an NVD CVE record Palisade keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CveRecord {
    pub id: String,
    pub published: String,
    pub last_modified: String,
    pub cvss: Option<Cvss>,
    /// `cisaExploitAdd` (YYYY-MM-DD) when NVD marks the CVE as known exploited.
    pub kev_added: Option<String>,
    pub configurations: Vec<Config>,
}

impl CpeMatch {
    /// Like [`CpeMatch::matches`], but with `relaxed` a target whose version is ANY
    /// (unknown) satisfies any version and range ("model match, version unknown").
    pub fn matches_mode(&self, target: &Cpe, relaxed: bool) -> bool {
        if relaxed && matches!(target.version(), Value::Any) {
            return self.criteria.matches(target, true);
        }
        self.matches(target)
    }

    /// True when `target` satisfies this entry.
    pub fn matches(&self, target: &Cpe) -> bool {
        let ranged = self.start.is_some() || self.end.is_some();
        if !self.criteria.matches(target, ranged) {
            return false;
        }
        if !ranged {
            return true;
        }
        // With bounds, the criteria version must cover the target (normally `*`).
        if !matches!(self.criteria.attrs[attr::VERSION], Value::Any)
            && !self.criteria.attrs[attr::VERSION].matches(target.version())
        {
            return false;
        }
        let Value::Literal(v) = target.version() else {
            return false;
        };
        use std::cmp::Ordering::*;
        if let Some(b) = &self.start {
            match version::compare(v, &b.version) {
                Less => return false,
                Equal if !b.inclusive => return false,
                _ => {}
            }
        }
        if let Some(b) = &self.end {
            match version::compare(v, &b.version) {
                Greater => return false,
                Equal if !b.inclusive => return false,
                _ => {}
            }
        }
        true
    }
}

/// Result of evaluating one configuration against an inventory.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Eval {
    ok: bool,
    /// A `vulnerable: true` entry was satisfied (in a non-negated node).
    vulnerable: bool,
    /// Confidence of the weakest inventory CPE the result depends on.
    confidence: f32,
}

fn eval_node(n: &Node, inv: &[(&Cpe, f32)], relaxed: bool) -> Eval {
    let mut any = false;
    let mut all = true;
    let mut vulnerable = false;
    let mut best_any = 0.0f32;
    let mut worst_all = 1.0f32;
    for m in &n.matches {
        let best = inv
            .iter()
            .filter(|(c, _)| m.matches_mode(c, relaxed))
            .map(|(_, w)| *w)
            .fold(None, |a: Option<f32>, w| Some(a.map_or(w, |a| a.max(w))));
        match best {
            Some(w) => {
                any = true;
                vulnerable |= m.vulnerable;
                best_any = best_any.max(w);
                worst_all = worst_all.min(w);
            }
            None => all = false,
        }
    }
    let (ok, conf) = match n.operator {
        Op::Or => (any, best_any),
        Op::And => (all && !n.matches.is_empty(), worst_all),
    };
    if n.negate {
        Eval {
            ok: !ok,
            vulnerable: false,
            confidence: 1.0,
        }
    } else {
        Eval {
            ok,
            vulnerable: ok && vulnerable,
            confidence: conf,
        }
    }
}

impl Config {
    /// `Some(confidence)` when this configuration applies to the inventory.
    pub fn applies(&self, inv: &[(&Cpe, f32)]) -> Option<f32> {
        self.applies_mode(inv, false)
    }

    /// [`Config::applies`] with the relaxed version rule of [`CpeMatch::matches_mode`].
    pub fn applies_mode(&self, inv: &[(&Cpe, f32)], relaxed: bool) -> Option<f32> {
        let evals: Vec<Eval> = self
            .nodes
            .iter()
            .map(|n| eval_node(n, inv, relaxed))
            .collect();
        let e = match self.operator {
            Op::Or => evals
                .iter()
                .filter(|e| e.ok && e.vulnerable)
                .map(|e| e.confidence)
                .fold(None, |a: Option<f32>, w| Some(a.map_or(w, |a| a.max(w))))
                .map(|c| Eval {
                    ok: true,
                    vulnerable: true,
                    confidence: c,
                })
                .unwrap_or(Eval {
                    ok: evals.iter().any(|e| e.ok),
                    vulnerable: false,
                    confidence: 0.0,
                }),
            Op::And => Eval {
                ok: !evals.is_empty() && evals.iter().all(|e| e.ok),
                vulnerable: evals.iter().any(|e| e.vulnerable),
                confidence: evals.iter().map(|e| e.confidence).fold(1.0, f32::min),
            },
        };
        if self.negate {
            // A negated configuration never names what is vulnerable.
            return None;
        }
        (e.ok && e.vulnerable).then_some(e.confidence)
    }
}

impl CveRecord {
    /// `Some(confidence)` when any configuration applies (the best one's confidence).
    pub fn applies(&self, inv: &[(&Cpe, f32)]) -> Option<f32> {
        applies_any(&self.configurations, inv, false)
    }
}

/// The best confidence of the configurations that apply.
pub fn applies_any(configs: &[Config], inv: &[(&Cpe, f32)], relaxed: bool) -> Option<f32> {
    configs
        .iter()
        .filter_map(|c| c.applies_mode(inv, relaxed))
        .fold(None, |a: Option<f32>, w| Some(a.map_or(w, |a| a.max(w))))
}

// ---- JSON 2.0 (serde) ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCve {
    pub id: String,
    #[serde(default)]
    pub published: String,
    #[serde(default)]
    pub last_modified: String,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub cisa_exploit_add: Option<String>,
    #[serde(default)]
    pub configurations: Vec<RawConfig>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawMetrics {
    #[serde(default, rename = "cvssMetricV40")]
    v40: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV31")]
    v31: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV30")]
    v30: Vec<RawMetric>,
    #[serde(default, rename = "cvssMetricV2")]
    v2: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetric {
    #[serde(default, rename = "type")]
    kind: String,
    cvss_data: RawCvssData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvssData {
    base_score: f32,
}

#[derive(Deserialize)]
pub(crate) struct RawConfig {
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNode {
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    cpe_match: Vec<RawMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMatch {
    #[serde(default)]
    vulnerable: bool,
    criteria: String,
    version_start_including: Option<String>,
    version_start_excluding: Option<String>,
    version_end_including: Option<String>,
    version_end_excluding: Option<String>,
}

fn op(s: &Option<String>) -> Op {
    match s.as_deref() {
        Some(o) if o.eq_ignore_ascii_case("and") => Op::And,
        _ => Op::Or,
    }
}

fn bound(inc: Option<String>, exc: Option<String>) -> Option<Bound> {
    match (inc, exc) {
        (Some(v), _) => Some(Bound {
            version: v,
            inclusive: true,
        }),
        (None, Some(v)) => Some(Bound {
            version: v,
            inclusive: false,
        }),
        _ => None,
    }
}

impl RawCve {
    /// Converts into a record; criteria that do not parse are dropped and counted.
    pub(crate) fn into_record(self, bad_cpes: &mut u64) -> CveRecord {
        let m = &self.metrics;
        let pick = |v: &[RawMetric], ver: u8| {
            v.iter()
                .find(|x| x.kind == "Primary")
                .or_else(|| v.first())
                .map(|x| Cvss {
                    version: ver,
                    score: x.cvss_data.base_score.clamp(0.0, 10.0),
                })
        };
        let cvss = pick(&m.v40, 40)
            .or_else(|| pick(&m.v31, 31))
            .or_else(|| pick(&m.v30, 30))
            .or_else(|| pick(&m.v2, 2));
        let configurations = self
            .configurations
            .into_iter()
            .map(|c| Config {
                operator: op(&c.operator),
                negate: c.negate,
                nodes: c
                    .nodes
                    .into_iter()
                    .map(|n| Node {
                        operator: op(&n.operator),
                        negate: n.negate,
                        matches: n
                            .cpe_match
                            .into_iter()
                            .filter_map(|m| match Cpe::parse(&m.criteria) {
                                Ok(criteria) => Some(CpeMatch {
                                    vulnerable: m.vulnerable,
                                    criteria,
                                    start: bound(
                                        m.version_start_including,
                                        m.version_start_excluding,
                                    ),
                                    end: bound(m.version_end_including, m.version_end_excluding),
                                }),
                                Err(_) => {
                                    *bad_cpes += 1;
                                    None
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        CveRecord {
            id: self.id,
            published: self.published,
            last_modified: self.last_modified,
            cvss,
            kev_added: self.cisa_exploit_add,
            configurations,
        }
    }
}

/// Parses one NVD `cve` object (as in the per-CVE files of the NVD feeds).
pub fn parse_cve_json(text: &str) -> Result<CveRecord, serde_json::Error> {
    let raw: RawCve = serde_json::from_str(text)?;
    let mut bad = 0;
    Ok(raw.into_record(&mut bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(criteria: &str, vulnerable: bool) -> CpeMatch {
        CpeMatch {
            vulnerable,
            criteria: Cpe::parse(criteria).unwrap(),
            start: None,
            end: None,
        }
    }

    #[test]
    fn and_needs_platform() {
        let cfg = Config {
            operator: Op::And,
            negate: false,
            nodes: vec![
                Node {
                    matches: vec![m("cpe:2.3:o:v:fw:1.0:*:*:*:*:*:*:*", true)],
                    ..Node::default()
                },
                Node {
                    matches: vec![m("cpe:2.3:h:v:hw:-:*:*:*:*:*:*:*", false)],
                    ..Node::default()
                },
            ],
        };
        let fw = Cpe::parse("cpe:2.3:o:v:fw:1.0:*:*:*:*:*:*:*").unwrap();
        let hw = Cpe::parse("cpe:2.3:h:v:hw:-:*:*:*:*:*:*:*").unwrap();
        assert_eq!(cfg.applies(&[(&fw, 0.9), (&hw, 0.5)]), Some(0.5));
        assert_eq!(cfg.applies(&[(&fw, 0.9)]), None);
        // The platform alone is never a finding.
        assert_eq!(cfg.applies(&[(&hw, 0.9)]), None);
    }

    #[test]
    fn ranges() {
        let mut x = m("cpe:2.3:a:busybox:busybox:*:*:*:*:*:*:*:*", true);
        x.end = Some(Bound {
            version: "1.25.0".into(),
            inclusive: false,
        });
        let t = |v: &str| Cpe::new(crate::cpe::Part::Application, "busybox", "busybox", Some(v));
        assert!(x.matches(&t("1.24.2")));
        assert!(!x.matches(&t("1.25.0")));
        assert!(!x.matches(&Cpe::new(
            crate::cpe::Part::Application,
            "busybox",
            "busybox",
            None
        )));
        assert!(!x.matches(&t("-")));
    }
}
