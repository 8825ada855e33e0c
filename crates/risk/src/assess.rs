//! Per-device assessment: CPE candidates → CVE findings → risk score with reasons, and the
//! ETSI EN 303 645 checklist. The formula is documented in this crate's README.md.

use serde::Serialize;

use palisade_kb::KevCatalog;

use crate::cpe::{Cpe, Part, Value};
use crate::evidence::{CpeCandidate, Signal, candidates};
use crate::index::VulnIndex;

/// What is known about one device (built by the sensor from its observations).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceProfile {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub os: Option<String>,
    /// Identification confidence (0–1).
    pub identity_confidence: f32,
    pub signals: Vec<Signal>,
    /// Services the device answered on: (`tcp`|`udp`, port).
    pub services: Vec<(String, u16)>,
    /// Application protocols seen in its traffic (`mqtt`, `http`, `tls`, `telnet`…).
    pub protocols: Vec<String>,
}

/// An alert concerning the device (from the detectors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRef {
    pub kind: String,
    pub severity: String,
    pub count: u64,
}

/// The knowledge an assessment uses.
#[derive(Debug, Clone, Copy)]
pub struct Knowledge<'a> {
    /// The NVD index, when one was imported (`palisade kb import nvd`).
    pub index: Option<&'a VulnIndex>,
    pub kev: &'a KevCatalog,
}

impl Knowledge<'static> {
    /// No NVD index; the embedded KEV catalog.
    pub fn embedded() -> Self {
        Knowledge {
            index: None,
            kev: palisade_kb::kev_catalog(),
        }
    }
}

/// How a CVE was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Strict NVD applicability with a known version.
    Version,
    /// The model matches but its firmware version is unknown ("possibly affected").
    ModelOnly,
}

/// A CVE that applies to the device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VulnFinding {
    pub cve: String,
    pub cvss: Option<f32>,
    /// In CISA KEV (the catalog or NVD's `cisaExploitAdd`).
    pub kev: bool,
    /// Known use in ransomware campaigns (KEV).
    pub ransomware: bool,
    pub confidence: f32,
    #[serde(rename = "match")]
    pub match_kind: MatchKind,
    /// The candidate CPE that matched.
    pub cpe: String,
}

/// One ETSI EN 303 645 provision as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// Provision number, e.g. `5.1-1`.
    pub provision: &'static str,
    pub title: &'static str,
    /// `pass`, `fail` or `unknown`.
    pub status: &'static str,
    pub evidence: String,
}

/// The result for one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub score: u32,
    pub reasons: Vec<String>,
    pub cpes: Vec<CpeCandidate>,
    pub vulnerabilities: Vec<VulnFinding>,
    pub checklist: Vec<ChecklistItem>,
}

/// Most findings listed per device (highest weight first).
pub const MAX_FINDINGS: usize = 50;

/// Weight of a model-only (version unknown) finding relative to a version match.
pub const MODEL_ONLY_FACTOR: f32 = 0.3;

/// Matches the candidates against the index.
pub fn find_vulnerabilities(cands: &[CpeCandidate], kb: &Knowledge<'_>) -> Vec<VulnFinding> {
    let Some(ix) = kb.index else {
        return Vec::new();
    };
    let strict: Vec<(Cpe, f32)> = cands
        .iter()
        .filter(|c| !matches!(c.parsed.version(), Value::Any))
        .map(|c| (c.parsed.clone(), c.confidence))
        .collect();
    let mut out: Vec<VulnFinding> = Vec::new();
    let mut add = |m: crate::index::IndexMatch, kind: MatchKind, inv: &[(Cpe, f32)]| {
        let Ok(info) = ix.info(m.cve) else { return };
        if out.iter().any(|f| f.cve == info.id) {
            return;
        }
        let kev_entry = kb.kev.get(info.id);
        let via = ix
            .configurations(m.cve)
            .ok()
            .and_then(|cfgs| {
                cfgs.iter()
                    .flat_map(|c| &c.nodes)
                    .flat_map(|n| &n.matches)
                    .filter(|cm| cm.vulnerable)
                    .find_map(|cm| {
                        inv.iter().find(|(c, _)| {
                            if kind == MatchKind::ModelOnly {
                                cm.criteria.matches(c, true)
                            } else {
                                cm.matches(c)
                            }
                        })
                    })
                    .map(|(c, _)| c.to_string())
            })
            .unwrap_or_default();
        out.push(VulnFinding {
            cve: info.id.to_owned(),
            cvss: info.cvss.map(|c| c.score),
            kev: kev_entry.is_some() || info.kev_added.is_some(),
            ransomware: kev_entry.is_some_and(|e| e.ransomware),
            confidence: match kind {
                MatchKind::Version => m.confidence,
                MatchKind::ModelOnly => {
                    (m.confidence * MODEL_ONLY_FACTOR * 1000.0).round() / 1000.0
                }
            },
            match_kind: kind,
            cpe: via,
        });
    };
    for m in ix.matches(&strict) {
        add(m, MatchKind::Version, &strict);
    }
    // Model-only: firmware with unknown version, together with the hardware CPE.
    let relaxed: Vec<(Cpe, f32)> = cands
        .iter()
        .filter(|c| {
            c.parsed.part == Part::Hardware
                || (c.parsed.part == Part::OperatingSystem
                    && matches!(c.parsed.version(), Value::Any)
                    && c.parsed
                        .product()
                        .as_literal()
                        .is_some_and(|p| p.ends_with("_firmware")))
        })
        .map(|c| {
            let mut p = c.parsed.clone();
            p.attrs[crate::cpe::attr::VERSION] = Value::Any;
            (p, c.confidence)
        })
        .collect();
    if relaxed.iter().any(|(c, _)| c.part == Part::OperatingSystem) {
        for m in ix.matches_relaxed(&relaxed) {
            add(m, MatchKind::ModelOnly, &relaxed);
        }
    }
    out.sort_by(|a, b| {
        finding_weight(b)
            .total_cmp(&finding_weight(a))
            .then_with(|| a.cve.cmp(&b.cve))
    });
    out.truncate(MAX_FINDINGS);
    out
}

/// `e_i` of the README formula: severity × exploitation × confidence, in 0..=1.
pub fn finding_weight(f: &VulnFinding) -> f32 {
    let sev = f.cvss.unwrap_or(5.0) / 10.0;
    let exploit = if f.ransomware {
        1.8
    } else if f.kev {
        1.5
    } else {
        1.0
    };
    (sev * exploit).min(1.0) * f.confidence.clamp(0.0, 1.0)
}

fn has_service(p: &DeviceProfile, proto: &str, port: u16) -> bool {
    p.services.iter().any(|(a, b)| a == proto && *b == port)
}

fn severity_points(s: &str) -> f32 {
    match s {
        "critical" => 25.0,
        "high" => 15.0,
        "medium" => 8.0,
        "low" => 3.0,
        _ => 0.0,
    }
}

/// Insecure listening services: (points, reason).
fn insecure_services(p: &DeviceProfile) -> Vec<(f32, String)> {
    let mut v = Vec::new();
    if has_service(p, "tcp", 23) || has_service(p, "tcp", 2323) {
        v.push((
            20.0,
            "telnet service exposed (cleartext logins; Mirai's way in)".to_string(),
        ));
    }
    if has_service(p, "tcp", 21) {
        v.push((
            10.0,
            "FTP service exposed (cleartext credentials)".to_string(),
        ));
    }
    if has_service(p, "tcp", 80) && !has_service(p, "tcp", 443) {
        v.push((5.0, "web interface over plain HTTP only".to_string()));
    }
    if has_service(p, "tcp", 1883)
        || (p.protocols.iter().any(|x| x == "mqtt") && !p.services.iter().any(|(_, n)| *n == 8883))
    {
        v.push((8.0, "MQTT without TLS".to_string()));
    }
    if has_service(p, "udp", 1900) {
        v.push((3.0, "UPnP/SSDP responder".to_string()));
    }
    if has_service(p, "tcp", 445) || has_service(p, "tcp", 139) {
        v.push((5.0, "SMB/NetBIOS file sharing exposed".to_string()));
    }
    v
}

/// Facts about a device beyond its passive profile, for the exposure and firmware-age
/// parts of the score. `Default` leaves both parts out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskContext {
    /// Listening services that peers outside the local segment reached: (`tcp`|`udp`, port).
    pub external_services: Vec<(String, u16)>,
    /// When the device's firmware was built or released (Unix seconds), if known. When
    /// `None` and `now` is set, the newest build or component release date found in the
    /// device's evidence is used (see [`crate::age`]).
    pub firmware_built: Option<i64>,
    /// The reference time (Unix seconds) for the firmware age: the capture's last packet,
    /// not the wall clock. `None` leaves the firmware-age part out.
    pub now: Option<i64>,
}

/// X: exposure beyond the local segment, ≤ 20: 10 for the first service reached from
/// outside, 5 per further one; telnet or FTP reachable from outside is always 20.
pub fn exposure_points(external: &[(String, u16)]) -> Option<(f32, String)> {
    let mut svcs: Vec<&(String, u16)> = external.iter().collect();
    svcs.sort();
    svcs.dedup();
    svcs.first()?;
    let cleartext_login = svcs
        .iter()
        .any(|(p, n)| p == "tcp" && matches!(*n, 21 | 23 | 2323));
    let pts = if cleartext_login {
        20.0
    } else {
        (10.0 + 5.0 * (svcs.len() - 1) as f32).min(20.0)
    };
    let list: Vec<String> = svcs
        .iter()
        .take(5)
        .map(|(p, n)| format!("{p}/{n}"))
        .collect();
    Some((
        pts,
        format!(
            "{} service{} reachable from outside the local segment ({}{})",
            svcs.len(),
            if svcs.len() == 1 { "" } else { "s" },
            list.join(", "),
            if svcs.len() > 5 { ", …" } else { "" }
        ),
    ))
}

/// F: firmware age, ≤ 15: under a year 0, 1–2 years 3, 2–3 years 6, 3–5 years 10,
/// 5 years or more 15 (old firmware has had time to collect unpatched vulnerabilities).
pub fn firmware_age_points(built: i64, now: i64) -> Option<(f32, String)> {
    const YEAR: f64 = 365.25 * 86_400.0;
    let years = (now - built) as f64 / YEAR;
    let pts = match years {
        y if y < 1.0 => return None,
        y if y < 2.0 => 3.0,
        y if y < 3.0 => 6.0,
        y if y < 5.0 => 10.0,
        _ => 15.0,
    };
    Some((
        pts,
        format!(
            "firmware built {}, {years:.1} years before the reference time",
            civil_date(built)
        ),
    ))
}

/// `YYYY-MM-DD` of a Unix time (proleptic Gregorian, UTC).
pub fn civil_date(t: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Assesses one device.
pub fn assess(p: &DeviceProfile, alerts: &[AlertRef], kb: &Knowledge<'_>) -> Assessment {
    assess_with(p, alerts, kb, &RiskContext::default())
}

/// Assesses one device with exposure and firmware-age facts.
pub fn assess_with(
    p: &DeviceProfile,
    alerts: &[AlertRef],
    kb: &Knowledge<'_>,
    ctx: &RiskContext,
) -> Assessment {
    let cpes = candidates(
        &p.signals,
        p.vendor.as_deref(),
        p.model.as_deref(),
        p.identity_confidence,
    );
    let vulnerabilities = find_vulnerabilities(&cpes, kb);
    let mut parts: Vec<(f32, String)> = Vec::new();

    // V: known vulnerabilities, combined as independent probabilities, up to 60 points.
    let mut keep = 1.0f32;
    for f in &vulnerabilities {
        keep *= 1.0 - finding_weight(f);
    }
    let v_total = 60.0 * (1.0 - keep);
    if v_total >= 0.5 {
        let top: Vec<String> = vulnerabilities
            .iter()
            .take(3)
            .map(|f| {
                format!(
                    "{}{}{}{}",
                    f.cve,
                    f.cvss.map(|s| format!(" CVSS {s:.1}")).unwrap_or_default(),
                    if f.kev { ", known exploited (KEV)" } else { "" },
                    if f.match_kind == MatchKind::ModelOnly {
                        ", model match, firmware version unknown"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        let via = vulnerabilities
            .first()
            .map(|f| {
                let ev = cpes
                    .iter()
                    .find(|c| c.cpe == f.cpe)
                    .map(|c| format!(" from {}", c.evidence))
                    .unwrap_or_default();
                format!(" via {}{ev}", f.cpe)
            })
            .unwrap_or_default();
        parts.push((
            v_total,
            format!(
                "{} known vulnerabilit{} ({}{}){via}",
                vulnerabilities.len(),
                if vulnerabilities.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                top.join("; "),
                if vulnerabilities.len() > 3 {
                    "; …"
                } else {
                    ""
                }
            ),
        ));
    }

    // C: credentials seen in use.
    let has_alert = |k: &str| alerts.iter().any(|a| a.kind == k);
    if has_alert("cred.default_login") {
        parts.push((30.0, "a default credential was used to log in".to_string()));
    }
    if has_alert("cred.cleartext") {
        parts.push((15.0, "credentials sent in cleartext".to_string()));
    }

    // S: insecure services, up to 30.
    let svc = insecure_services(p);
    let mut s_budget = 30.0f32;
    for (pts, why) in svc.iter().cloned() {
        let pts = pts.min(s_budget);
        if pts > 0.0 {
            s_budget -= pts;
            parts.push((pts, why));
        }
    }

    // E: exposure, 2 points per listening service, up to 10.
    let listening = p.services.len();
    if listening > 0 {
        let list: Vec<String> = p
            .services
            .iter()
            .take(8)
            .map(|(a, b)| format!("{a}/{b}"))
            .collect();
        parts.push((
            (2.0 * listening as f32).min(10.0),
            format!(
                "{listening} listening service{} ({}{})",
                if listening == 1 { "" } else { "s" },
                list.join(", "),
                if listening > 8 { ", …" } else { "" }
            ),
        ));
    }

    // X: exposure beyond the local segment; F: firmware age (a given build time, else the
    // newest date in the device's own evidence).
    if let Some(x) = exposure_points(&ctx.external_services) {
        parts.push(x);
    }
    if let Some(n) = ctx.now {
        let dated = match ctx.firmware_built {
            Some(b) => Some((b, None)),
            None => crate::age::firmware_date(&p.signals, &cpes, Some(n)).map(|f| (f.at, Some(f))),
        };
        if let Some((b, why)) = dated
            && let Some((pts, text)) = firmware_age_points(b, n)
        {
            parts.push((
                pts,
                match why {
                    Some(f) if f.build_stamp => format!("{text} ({})", f.evidence),
                    // A component's release dates the software inside, not the build.
                    Some(f) => format!(
                        "{} ({})",
                        text.replacen("firmware built", "firmware software dated", 1),
                        f.evidence
                    ),
                    None => text,
                },
            ));
        }
    }

    // A: other active alerts: the worst severity plus 2 per further kind, up to 40.
    let mut kinds: Vec<&AlertRef> = alerts
        .iter()
        .filter(|a| !a.kind.starts_with("cred.") && a.kind != "device.new")
        .collect();
    kinds.sort_by(|a, b| {
        severity_points(&b.severity)
            .total_cmp(&severity_points(&a.severity))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    kinds.dedup_by(|a, b| a.kind == b.kind);
    if let Some(worst) = kinds.first() {
        let pts = (severity_points(&worst.severity) + 2.0 * (kinds.len() - 1) as f32).min(40.0);
        if pts > 0.0 {
            let names: Vec<&str> = kinds.iter().map(|a| a.kind.as_str()).collect();
            parts.push((
                pts,
                format!(
                    "active alerts: {} (worst {})",
                    names.join(", "),
                    worst.severity
                ),
            ));
        }
    }

    if parts.is_empty() {
        // Say what was looked at, so a zero is an observation, not a gap.
        parts.push((
            0.0,
            format!(
                "no risk factor observed: no listening service, no known vulnerability \
                 ({} candidate CPE{}), no alert",
                cpes.len(),
                if cpes.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    let total: f32 = parts.iter().map(|(p, _)| p).sum();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let reasons = parts
        .iter()
        .map(|(pts, why)| format!("+{} {why}", pts.round() as u32))
        .collect();
    let checklist = crate::etsi::checklist(p, alerts, &vulnerabilities, &cpes);
    Assessment {
        score: (total.round() as u32).min(100),
        reasons,
        cpes,
        vulnerabilities,
        checklist,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::SignalKind;

    #[test]
    fn services_and_alerts_score() {
        let p = DeviceProfile {
            services: vec![("tcp".into(), 23), ("tcp".into(), 80)],
            ..DeviceProfile::default()
        };
        let a = assess(
            &p,
            &[AlertRef {
                kind: "cred.default_login".into(),
                severity: "critical".into(),
                count: 1,
            }],
            &Knowledge::embedded(),
        );
        // 30 (default login) + 20 (telnet) + 5 (plain HTTP) + 4 (2 services).
        assert_eq!(a.score, 59, "{:?}", a.reasons);
        assert!(a.reasons[0].contains("default credential"));
        let c = a.checklist.iter().find(|c| c.provision == "5.1-1").unwrap();
        assert_eq!(c.status, "fail");
    }

    #[test]
    fn exposure_and_firmware_age() {
        let p = DeviceProfile {
            services: vec![("tcp".into(), 443)],
            ..DeviceProfile::default()
        };
        let base = assess(&p, &[], &Knowledge::embedded());
        // 2020-01-01 built, reference 2026-01-01: six years old.
        let ctx = RiskContext {
            external_services: vec![("tcp".into(), 443)],
            firmware_built: Some(1_577_836_800),
            now: Some(1_767_225_600),
        };
        let a = assess_with(&p, &[], &Knowledge::embedded(), &ctx);
        assert_eq!(a.score, base.score + 10 + 15, "{:?}", a.reasons);
        assert!(
            a.reasons
                .iter()
                .any(|r| r.contains("reachable from outside"))
        );
        assert!(
            a.reasons
                .iter()
                .any(|r| r.contains("firmware built 2020-01-01, 6.0 years")),
            "{:?}",
            a.reasons
        );
        let telnet = exposure_points(&[("tcp".into(), 23)]).unwrap();
        assert_eq!(telnet.0, 20.0);
        assert!(firmware_age_points(1_767_225_600 - 86_400, 1_767_225_600).is_none());
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn quiet_device_scores_zero() {
        let p = DeviceProfile {
            signals: vec![Signal::new(SignalKind::HttpServer, "lighttpd/1.4.35")],
            ..DeviceProfile::default()
        };
        let a = assess(&p, &[], &Knowledge::embedded());
        assert_eq!(a.score, 0);
        assert_eq!(a.cpes.len(), 1);
        assert!(a.vulnerabilities.is_empty());
        assert_eq!(a.reasons.len(), 1, "{:?}", a.reasons);
        assert!(a.reasons[0].starts_with("+0 no risk factor observed"));
        assert!(a.reasons[0].contains("1 candidate CPE)"), "{:?}", a.reasons);
    }

    #[test]
    fn firmware_age_from_banner_build_date() {
        let p = DeviceProfile {
            signals: vec![Signal::new(
                SignalKind::TelnetBanner,
                "BusyBox v1.19.3 (2015-12-24 17:52:11 CST) built-in shell (ash)",
            )],
            services: vec![("tcp".into(), 23)],
            ..DeviceProfile::default()
        };
        let base = assess(&p, &[], &Knowledge::embedded());
        // 2023-11-14: 7.9 years after the build stamp → 15 points.
        let ctx = RiskContext {
            now: Some(1_700_000_000),
            ..RiskContext::default()
        };
        let a = assess_with(&p, &[], &Knowledge::embedded(), &ctx);
        assert_eq!(a.score, base.score + 15, "{:?}", a.reasons);
        let r = a.reasons.iter().find(|r| r.contains("firmware built"));
        assert!(
            r.is_some_and(|r| r.contains("2015-12-24") && r.contains("telnet banner")),
            "{:?}",
            a.reasons
        );
        // A stamp after the reference time is not a build date.
        let early = RiskContext {
            now: Some(1_400_000_000),
            ..RiskContext::default()
        };
        let b = assess_with(&p, &[], &Knowledge::embedded(), &early);
        // BusyBox 1.19.3's release (2011-10-29), 2.5 years before: 6 points.
        assert_eq!(b.score, base.score + 6, "{:?}", b.reasons);
        assert!(
            b.reasons
                .iter()
                .any(|r| r.contains("firmware software dated 2011-10-29")),
            "{:?}",
            b.reasons
        );
        let before_all = RiskContext {
            now: Some(1_300_000_000),
            ..RiskContext::default()
        };
        let c = assess_with(&p, &[], &Knowledge::embedded(), &before_all);
        assert_eq!(c.score, base.score, "{:?}", c.reasons);
    }
}
