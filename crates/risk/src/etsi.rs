//! The observable provisions of ETSI EN 303 645 (v2.1.1) for one device, from passive
//! evidence only: `pass`, `fail` or `unknown`, with the evidence. Provisions that traffic
//! cannot show (a vulnerability-disclosure policy, secure storage, …) are not listed.

use crate::assess::{AlertRef, ChecklistItem, DeviceProfile, MatchKind, VulnFinding};
use crate::cpe::Value;
use crate::evidence::CpeCandidate;

fn item(
    provision: &'static str,
    title: &'static str,
    status: &'static str,
    evidence: String,
) -> ChecklistItem {
    ChecklistItem {
        provision,
        title,
        status,
        evidence,
    }
}

const CLEARTEXT_PORTS: &[(&str, u16, &str)] = &[
    ("tcp", 23, "telnet"),
    ("tcp", 2323, "telnet"),
    ("tcp", 21, "FTP"),
    ("tcp", 1883, "MQTT"),
    ("tcp", 80, "HTTP"),
    ("tcp", 8080, "HTTP"),
];

/// The checklist for one device.
pub fn checklist(
    p: &DeviceProfile,
    alerts: &[AlertRef],
    vulns: &[VulnFinding],
    cpes: &[CpeCandidate],
) -> Vec<ChecklistItem> {
    let alert = |k: &str| alerts.iter().find(|a| a.kind == k);
    let mut out = Vec::new();

    // 5.1-1: no universal default passwords.
    out.push(match alert("cred.default_login") {
        Some(a) => item(
            "5.1-1",
            "No universal default passwords",
            "fail",
            format!("{} login(s) with a known default credential seen", a.count),
        ),
        None => item(
            "5.1-1",
            "No universal default passwords",
            "unknown",
            "no default-credential login observed (passive evidence cannot prove absence)".into(),
        ),
    });

    // 5.3-2 / 5.3-13: software kept updated — known vulnerabilities in the observed versions.
    let confirmed: Vec<&VulnFinding> = vulns
        .iter()
        .filter(|v| v.match_kind == MatchKind::Version && v.confidence >= 0.5)
        .collect();
    out.push(
        if let Some(v) = confirmed.iter().find(|v| v.kev).or(confirmed.first()) {
            item(
                "5.3",
                "Keep software updated",
                "fail",
                format!(
                    "{} known vulnerabilit{} in observed software versions (e.g. {} in {})",
                    confirmed.len(),
                    if confirmed.len() == 1 { "y" } else { "ies" },
                    v.cve,
                    v.cpe
                ),
            )
        } else {
            item(
            "5.3",
            "Keep software updated",
            "unknown",
            "no version-matched known vulnerability; update activity is not observable passively"
                .into(),
        )
        },
    );

    // 5.5-1: communicate securely.
    let mut clear: Vec<String> = CLEARTEXT_PORTS
        .iter()
        .filter(|(proto, port, _)| p.services.iter().any(|(a, b)| a == proto && b == port))
        .map(|(_, port, name)| format!("{name} on {port}"))
        .collect();
    if alert("cred.cleartext").is_some() {
        clear.push("credentials sent in cleartext".into());
    }
    if p.protocols.iter().any(|x| x == "telnet") && !clear.iter().any(|c| c.starts_with("telnet")) {
        clear.push("telnet traffic".into());
    }
    let uses_tls = p.protocols.iter().any(|x| x == "tls")
        || p.services
            .iter()
            .any(|(_, n)| matches!(n, 443 | 8443 | 8883 | 5684 | 993 | 995));
    out.push(if !clear.is_empty() {
        item(
            "5.5-1",
            "Communicate securely",
            "fail",
            format!("cleartext: {}", clear.join(", ")),
        )
    } else if uses_tls {
        item(
            "5.5-1",
            "Communicate securely",
            "pass",
            "only encrypted services/protocols observed".into(),
        )
    } else {
        item(
            "5.5-1",
            "Communicate securely",
            "unknown",
            "no service traffic observed".into(),
        )
    });

    // 5.6-1: unused network interfaces and services disabled (minimise exposure).
    let risky: Vec<String> = p
        .services
        .iter()
        .filter(|(a, n)| {
            (a == "tcp" && matches!(n, 21 | 23 | 2323 | 139 | 445 | 5555 | 7547))
                || (a == "udp" && matches!(n, 1900 | 69 | 161))
        })
        .map(|(a, n)| format!("{a}/{n}"))
        .collect();
    out.push(if !risky.is_empty() {
        item(
            "5.6-1",
            "Minimize exposed attack surfaces",
            "fail",
            format!("debug/legacy services listening: {}", risky.join(", ")),
        )
    } else if p.services.is_empty() {
        item(
            "5.6-1",
            "Minimize exposed attack surfaces",
            "pass",
            "no listening services observed".into(),
        )
    } else {
        item(
            "5.6-1",
            "Minimize exposed attack surfaces",
            "unknown",
            format!(
                "{} listening service(s), none of them a known debug/legacy service",
                p.services.len()
            ),
        )
    });

    // 5.6-2: minimise unauthenticated disclosure of security-relevant information.
    let disclosed: Vec<&CpeCandidate> = cpes
        .iter()
        .filter(|c| !matches!(c.parsed.version(), Value::Any | Value::Na))
        .filter(|c| !c.evidence.starts_with("DHCP") && !c.evidence.starts_with("HTTP User-Agent"))
        .collect();
    out.push(match disclosed.first() {
        Some(c) => item(
            "5.6-2",
            "Minimize unauthenticated disclosure of security-relevant information",
            "fail",
            format!(
                "{} software version(s) announced without authentication (e.g. {})",
                disclosed.len(),
                c.evidence
            ),
        ),
        None => item(
            "5.6-2",
            "Minimize unauthenticated disclosure of security-relevant information",
            "unknown",
            "no software version seen in banners".into(),
        ),
    });
    out
}
