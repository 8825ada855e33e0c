//! The scan: unpack, inventory, match, score.

use std::time::Instant;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use palisade_risk::assess::{Knowledge, VulnFinding, find_vulnerabilities, finding_weight};
use palisade_risk::cpe::{Cpe, Part, Value, attr};
use palisade_risk::evidence::CpeCandidate;
use palisade_risk::osv::OsvDb;

use crate::accounts::{self, Account, CredentialFinding};
use crate::components::{self, BootService, Component};
use crate::error::UnpackError;
use crate::secrets::{self, KeyFinding};
use crate::unpack::{Limits, unpack};
use crate::vfs::{Mount, Node, Warning};

/// Scan settings.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    pub limits: Limits,
    /// Cost units for password checks (see [`accounts::CHECK_BUDGET`]).
    pub check_budget: u64,
    /// Reference time (Unix seconds) for the firmware age; `None`: age not scored.
    pub now: Option<i64>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            limits: Limits::default(),
            check_budget: accounts::CHECK_BUDGET,
            now: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Build time from a squashfs superblock (Unix seconds), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built: Option<i64>,
}

/// A component with the CPE used for matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentReport {
    #[serde(flatten)]
    pub component: Component,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
}

/// A CVE and the components (indices into `components`) it was matched through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirmwareVuln {
    #[serde(flatten)]
    pub finding: VulnFinding,
    pub components: Vec<usize>,
}

/// An OSV record matched by package ecosystem/name/version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsvFinding {
    pub id: String,
    pub aliases: Vec<String>,
    pub package: String,
    pub version: String,
    pub ecosystem: String,
    /// Index into `components`.
    pub component: usize,
}

/// A network daemon found in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Daemon {
    pub name: String,
    pub path: String,
}

/// The firmware's risk score with reasons (formula in this crate's README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirmwareRisk {
    pub score: u32,
    pub reasons: Vec<String>,
}

/// Everything a scan found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    pub image: ImageInfo,
    pub layers: Vec<Mount>,
    pub files: usize,
    pub unpacked_bytes: u64,
    pub warnings: Vec<Warning>,
    pub accounts: Vec<Account>,
    pub default_credentials: Vec<CredentialFinding>,
    pub unchecked_hashes: Vec<String>,
    pub keys: Vec<KeyFinding>,
    pub components: Vec<ComponentReport>,
    pub boot_services: Vec<BootService>,
    pub daemons: Vec<Daemon>,
    pub vulnerabilities: Vec<FirmwareVuln>,
    pub osv: Vec<OsvFinding>,
    pub risk: FirmwareRisk,
    pub unpack_ms: u64,
    pub inventory_ms: u64,
}

/// NVD vendor/product for a component name.
fn cpe_for(c: &Component) -> Option<Cpe> {
    let (part, vendor, product) = match c.name.as_str() {
        "busybox" => (Part::Application, "busybox", "busybox"),
        "dropbear" => (Part::Application, "dropbear_ssh_project", "dropbear_ssh"),
        "openssh" => (Part::Application, "openbsd", "openssh"),
        "openssl" => (Part::Application, "openssl", "openssl"),
        "lighttpd" => (Part::Application, "lighttpd", "lighttpd"),
        "dnsmasq" => (Part::Application, "thekelleys", "dnsmasq"),
        "glibc" => (Part::Application, "gnu", "glibc"),
        "uclibc" => (Part::Application, "uclibc", "uclibc"),
        "musl" => (Part::Application, "musl-libc", "musl"),
        "curl" => (Part::Application, "haxx", "curl"),
        "linux" => (Part::OperatingSystem, "linux", "linux_kernel"),
        _ => return None,
    };
    if c.purl.is_some() {
        // Package-database entries are matched through OSV, not NVD CPEs.
        return None;
    }
    let version = c.version.as_deref();
    let mut cpe = Cpe::new(part, vendor, product, None);
    if let Some(v) = version {
        // NVD writes OpenSSH "9.2p1" as version 9.2, update p1.
        if c.name == "openssh"
            && let Some(p) = v.find('p')
            && v[p + 1..].bytes().all(|b| b.is_ascii_digit())
            && p + 1 < v.len()
        {
            cpe.attrs[attr::VERSION] = Value::literal(&v[..p]);
            cpe.attrs[attr::UPDATE] = Value::literal(&v[p..]);
        } else {
            cpe.attrs[attr::VERSION] = Value::literal(v);
        }
    }
    Some(cpe)
}

/// Scans an image.
pub fn scan(
    image: &[u8],
    name: &str,
    opts: &ScanOptions,
    kb: &Knowledge<'_>,
    osv: Option<&OsvDb>,
) -> Result<ScanReport, UnpackError> {
    let t0 = Instant::now();
    let vfs = unpack(image, &opts.limits)?;
    let unpack_ms = t0.elapsed().as_millis() as u64;
    let t1 = Instant::now();

    // Account files live under file-system roots: mounts that have an /etc.
    let mut budget = opts.check_budget;
    let (mut accounts_out, mut creds, mut unchecked) = (Vec::new(), Vec::new(), Vec::new());
    let mut roots: Vec<String> = vfs.mounts().iter().map(|m| m.at.clone()).collect();
    roots.sort();
    roots.dedup();
    let mut comps: Vec<Component> = components::from_binaries(&vfs);
    for root in &roots {
        let r = accounts::scan(&vfs, root, &mut budget);
        accounts_out.extend(r.accounts);
        creds.extend(r.credentials);
        unchecked.extend(r.unchecked);
        comps.extend(components::from_packages(&vfs, root));
    }
    let keys = secrets::scan(&vfs);
    let boot = components::boot_services(&vfs);
    let daemons: Vec<Daemon> = components::daemons_present(&vfs)
        .into_iter()
        .map(|(name, path)| Daemon { name, path })
        .collect();

    let components: Vec<ComponentReport> = comps
        .into_iter()
        .map(|c| ComponentReport {
            cpe: cpe_for(&c).map(|p| p.to_string()),
            component: c,
        })
        .collect();

    // NVD matching through the index.
    let cands: Vec<CpeCandidate> = components
        .iter()
        .filter_map(|c| {
            let cpe = c.cpe.as_ref()?;
            let parsed = Cpe::parse(cpe).ok()?;
            Some(CpeCandidate {
                cpe: cpe.clone(),
                // A version string inside the binary is strong evidence.
                confidence: if c.component.version.is_some() {
                    0.95
                } else {
                    0.5
                },
                evidence: c.component.evidence.clone(),
                parsed,
            })
        })
        .collect();
    let vulnerabilities: Vec<FirmwareVuln> = find_vulnerabilities(&cands, kb)
        .into_iter()
        .map(|f| {
            let idx = components
                .iter()
                .enumerate()
                .filter(|(_, c)| c.cpe.as_deref() == Some(f.cpe.as_str()))
                .map(|(i, _)| i)
                .collect();
            FirmwareVuln {
                finding: f,
                components: idx,
            }
        })
        .collect();

    // OSV matching by package ecosystem/name/version.
    let mut osv_out = Vec::new();
    if let Some(db) = osv {
        for (i, c) in components.iter().enumerate() {
            let (Some(eco), Some(v)) = (&c.component.ecosystem, &c.component.version) else {
                continue;
            };
            for e in db.affecting(eco, &c.component.name, v) {
                osv_out.push(OsvFinding {
                    id: e.id.clone(),
                    aliases: e.aliases.clone(),
                    package: c.component.name.clone(),
                    version: v.clone(),
                    ecosystem: e.ecosystem.clone(),
                    component: i,
                });
            }
        }
    }

    let built = vfs
        .mounts()
        .iter()
        .find(|m| m.formats.last() == Some(&"squashfs"))
        .and_then(|m| {
            let src = if m.source == "<image>" {
                image.get(m.offset as usize..)
            } else {
                vfs.read(&m.source)
            }?;
            crate::squashfs::parse_superblock(src)
                .ok()
                .map(|sb| i64::from(sb.mod_time))
        });
    let image_info = ImageInfo {
        name: name.to_owned(),
        size: image.len() as u64,
        sha256: Sha256::digest(image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        built,
    };
    let risk = score(
        &vulnerabilities,
        &osv_out,
        &creds,
        &keys,
        &boot,
        built,
        opts.now,
    );
    let files = vfs
        .iter()
        .filter(|(_, n)| matches!(n, Node::File { .. }))
        .count();
    Ok(ScanReport {
        image: image_info,
        layers: vfs.mounts().to_vec(),
        files,
        unpacked_bytes: vfs.file_bytes(),
        warnings: vfs.warnings().to_vec(),
        accounts: accounts_out,
        default_credentials: creds,
        unchecked_hashes: unchecked,
        keys,
        components,
        boot_services: boot,
        daemons,
        vulnerabilities,
        osv: osv_out,
        risk,
        unpack_ms,
        inventory_ms: t1.elapsed().as_millis() as u64,
    })
}

/// The firmware risk score (README: "Firmware risk score").
pub fn score(
    vulns: &[FirmwareVuln],
    osv: &[OsvFinding],
    creds: &[CredentialFinding],
    keys: &[KeyFinding],
    boot: &[BootService],
    built: Option<i64>,
    now: Option<i64>,
) -> FirmwareRisk {
    let mut parts: Vec<(f32, String)> = Vec::new();
    let mut keep = 1.0f32;
    for v in vulns {
        keep *= 1.0 - finding_weight(&v.finding);
    }
    // OSV records carry no CVSS here: each counts as a medium-severity, confirmed match.
    for _ in osv {
        keep *= 1.0 - 0.5 * 0.9;
    }
    let v_total = 60.0 * (1.0 - keep);
    if v_total >= 0.5 {
        let mut ids: Vec<&str> = vulns.iter().map(|v| v.finding.cve.as_str()).collect();
        ids.extend(osv.iter().map(|o| o.id.as_str()));
        let kev = vulns.iter().filter(|v| v.finding.kev).count();
        parts.push((
            v_total,
            format!(
                "{} known vulnerabilit{} in components ({}{}){}",
                ids.len(),
                if ids.len() == 1 { "y" } else { "ies" },
                ids.iter().take(3).copied().collect::<Vec<_>>().join(", "),
                if ids.len() > 3 { ", …" } else { "" },
                if kev > 0 {
                    format!(", {kev} known exploited (KEV)")
                } else {
                    String::new()
                }
            ),
        ));
    }
    if let Some(c) = creds.first() {
        parts.push((
            30.0,
            if c.password.is_empty() {
                format!("account {} has an empty password ({})", c.user, c.file)
            } else {
                format!(
                    "account {} uses the default password {:?} ({}, {} hash in {})",
                    c.user,
                    c.password,
                    c.lists.join(", "),
                    c.scheme,
                    c.file
                )
            },
        ));
    }
    if let Some(k) = keys.iter().find(|k| k.private && !k.encrypted) {
        let n = keys.iter().filter(|k| k.private && !k.encrypted).count();
        parts.push((
            10.0,
            format!(
                "{n} unencrypted private key{} in the image ({} at {})",
                if n == 1 { "" } else { "s" },
                k.kind,
                k.path
            ),
        ));
    }
    let mut s_budget = 30.0f32;
    for (svc, pts, why) in [
        (
            "telnetd",
            20.0,
            "telnet server started at boot (cleartext logins)",
        ),
        (
            "ftpd",
            10.0,
            "FTP server started at boot (cleartext credentials)",
        ),
        (
            "tftpd",
            5.0,
            "TFTP server started at boot (no authentication)",
        ),
    ] {
        if let Some(b) = boot.iter().find(|b| b.service == svc) {
            let pts = f32::min(pts, s_budget);
            if pts > 0.0 {
                s_budget -= pts;
                parts.push((pts, format!("{why}: {}:{}", b.file, b.line)));
            }
        }
    }
    if let (Some(b), Some(n)) = (built, now)
        && let Some((pts, why)) = palisade_risk::assess::firmware_age_points(b, n)
    {
        parts.push((pts, why));
    }
    let total: f32 = parts.iter().map(|(p, _)| p).sum();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    FirmwareRisk {
        score: (total.round() as u32).min(100),
        reasons: parts
            .iter()
            .map(|(p, w)| format!("+{} {w}", p.round() as u32))
            .collect(),
    }
}
