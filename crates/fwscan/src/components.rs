//! Software components and their versions: version strings inside binaries (BusyBox,
//! Dropbear, OpenSSH, OpenSSL, lighttpd, dnsmasq, glibc, uClibc, curl, the Linux kernel),
//! library file names, package databases (dpkg, opkg), and network services started at boot.

use memchr::memmem;
use serde::Serialize;

use crate::vfs::{Node, Vfs};

/// Most paths listed per component.
const MAX_PATHS: usize = 8;
/// Most package-database entries read.
const MAX_PACKAGES: usize = 20_000;

/// One component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub name: String,
    pub version: Option<String>,
    /// CycloneDX component type: `application`, `library`, `operating-system`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What identified it, e.g. `string "BusyBox v1.35.0" in /bin/busybox`.
    pub evidence: String,
    pub paths: Vec<String>,
    /// Package URL when it came from a package database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// OSV ecosystem (`Debian`, `OpenWrt`) for package-database components.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
}

/// A version-string rule: the needle, the component name, its type, and whether the
/// version must start right after the needle.
struct Rule {
    needle: &'static [u8],
    name: &'static str,
    kind: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        needle: b"BusyBox v",
        name: "busybox",
        kind: "application",
    },
    Rule {
        needle: b"SSH-2.0-dropbear_",
        name: "dropbear",
        kind: "application",
    },
    Rule {
        needle: b"Dropbear sshd v",
        name: "dropbear",
        kind: "application",
    },
    Rule {
        needle: b"OpenSSH_",
        name: "openssh",
        kind: "application",
    },
    Rule {
        needle: b"OpenSSL ",
        name: "openssl",
        kind: "library",
    },
    Rule {
        needle: b"lighttpd/",
        name: "lighttpd",
        kind: "application",
    },
    Rule {
        needle: b"dnsmasq-",
        name: "dnsmasq",
        kind: "application",
    },
    Rule {
        needle: b"GNU C Library",
        name: "glibc",
        kind: "library",
    },
    Rule {
        needle: b"libcurl/",
        name: "curl",
        kind: "library",
    },
    Rule {
        needle: b"curl/",
        name: "curl",
        kind: "application",
    },
    Rule {
        needle: b"Linux version ",
        name: "linux",
        kind: "operating-system",
    },
    Rule {
        needle: b"vermagic=",
        name: "linux",
        kind: "operating-system",
    },
];

/// A version token: starts with a digit, then `[0-9A-Za-z._+~-]`, at most 32 bytes,
/// with trailing punctuation removed.
fn version_at(d: &[u8]) -> Option<String> {
    if !d.first()?.is_ascii_digit() {
        return None;
    }
    let n = d
        .iter()
        .take(32)
        .take_while(|c| c.is_ascii_alphanumeric() || b"._+~-".contains(c))
        .count();
    let v = std::str::from_utf8(&d[..n]).ok()?;
    let v = v.trim_end_matches(['.', '-', '_', '+', '~']);
    // At least "major.minor" (rejects "OpenSSL 3 " fragments and similar noise).
    (v.contains('.') && v.len() >= 3).then(|| v.to_owned())
}

fn rule_version(r: &Rule, after: &[u8]) -> Option<String> {
    match r.name {
        "glibc" => {
            // "GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36."
            let w = &after[..after.len().min(200)];
            let i = memmem::find(w, b"release version ")?;
            version_at(&w[i + 16..])
        }
        "openssl" => {
            // "OpenSSL 3.0.11 19 Sep 2023": the version is followed by a space and a date.
            let v = version_at(after)?;
            after.get(v.len()).is_some_and(|&c| c == b' ').then_some(v)
        }
        "linux" => {
            let v = version_at(after)?;
            // Keep the upstream part (5.10.0-21-amd64 -> 5.10.0) for CPE matching.
            Some(v.split(['-', '+']).next().unwrap_or(&v).to_owned())
        }
        _ => version_at(after),
    }
}

fn is_scannable(path: &str, data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
        || path.ends_with("/decompressed")
        || path.contains("vmlinu")
        || path.ends_with(".ko")
}

fn upsert(out: &mut Vec<Component>, c: Component) {
    if let Some(e) = out
        .iter_mut()
        .find(|e| e.name == c.name && e.version == c.version && e.purl == c.purl)
    {
        for p in c.paths {
            if e.paths.len() < MAX_PATHS && !e.paths.contains(&p) {
                e.paths.push(p);
            }
        }
        return;
    }
    out.push(c);
}

/// Library file names that carry versions: `libuClibc-0.9.33.2.so`, `ld-musl-*.so.1`.
fn from_file_name(path: &str) -> Option<(String, Option<String>, &'static str)> {
    let name = path.rsplit('/').next()?;
    if let Some(rest) = name
        .strip_prefix("libuClibc-")
        .or_else(|| name.strip_prefix("ld-uClibc-"))
    {
        let v = rest.strip_suffix(".so")?;
        return Some(("uclibc".into(), version_at(v.as_bytes()), "library"));
    }
    if name.starts_with("ld-musl-") && name.ends_with(".so.1") {
        return Some(("musl".into(), None, "library"));
    }
    if let Some(rest) = name.strip_prefix("libc-")
        && let Some(v) = rest.strip_suffix(".so")
    {
        return Some(("glibc".into(), version_at(v.as_bytes()), "library"));
    }
    None
}

/// Components found in binaries and library names.
pub fn from_binaries(vfs: &Vfs) -> Vec<Component> {
    let finders: Vec<(memmem::Finder<'_>, &Rule)> = RULES
        .iter()
        .map(|r| (memmem::Finder::new(r.needle), r))
        .collect();
    let mut out = Vec::new();
    for (path, data) in vfs.files() {
        if let Some((name, version, kind)) = from_file_name(path) {
            upsert(
                &mut out,
                Component {
                    evidence: format!("file name {path}"),
                    name,
                    version,
                    kind,
                    paths: vec![path.to_owned()],
                    purl: None,
                    ecosystem: None,
                },
            );
        }
        if !is_scannable(path, data) {
            continue;
        }
        for (f, r) in &finders {
            // The first occurrence with a parseable version (a few tries per file).
            for i in f.find_iter(data).take(16) {
                let after = &data[i + r.needle.len()..];
                if let Some(v) = rule_version(r, after) {
                    let shown = String::from_utf8_lossy(
                        &data[i..(i + r.needle.len() + v.len()).min(data.len())],
                    )
                    .into_owned();
                    upsert(
                        &mut out,
                        Component {
                            name: r.name.to_owned(),
                            version: Some(v),
                            kind: r.kind,
                            evidence: format!("string {shown:?} in {path}"),
                            paths: vec![path.to_owned()],
                            purl: None,
                            ecosystem: None,
                        },
                    );
                    break;
                }
            }
        }
    }
    // "curl/" also appears in other user agents: keep it only where libcurl was not found
    // with another version.
    out
}

/// Components from dpkg (`/var/lib/dpkg/status`) and opkg (`/usr/lib/opkg/status`,
/// `/var/lib/opkg/status`) databases under each mount root.
pub fn from_packages(vfs: &Vfs, root: &str) -> Vec<Component> {
    let mut out = Vec::new();
    let dbs: [(&[&str], &str, &str); 3] = [
        (&["var", "lib", "dpkg", "status"], "deb", "Debian"),
        (&["usr", "lib", "opkg", "status"], "opkg", "OpenWrt"),
        (&["var", "lib", "opkg", "status"], "opkg", "OpenWrt"),
    ];
    let release = os_release(vfs, root);
    for (comps, purl_type, eco) in dbs {
        let path = crate::vfs::join(root, comps);
        // The OSV ecosystem: the distribution from os-release (`Ubuntu:18.04`, `Debian:12`).
        let eco = match &release {
            Some((id, ver)) if purl_type == "deb" && matches!(id.as_str(), "ubuntu" | "debian") => {
                let name = if id == "ubuntu" { "Ubuntu" } else { "Debian" };
                match ver {
                    Some(v) => format!("{name}:{v}"),
                    None => name.to_owned(),
                }
            }
            _ => eco.to_owned(),
        };
        let Some(data) = vfs.read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(data);
        for para in text.split("\n\n").take(MAX_PACKAGES) {
            let field = |k: &str| {
                para.lines()
                    .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_owned()))
            };
            let (Some(name), Some(version)) = (field("Package:"), field("Version:")) else {
                continue;
            };
            if let Some(status) = field("Status:")
                && !status.ends_with("installed")
            {
                continue;
            }
            let ns = match (purl_type, &release) {
                ("deb", Some((id, _))) if id == "ubuntu" => "ubuntu",
                ("deb", _) => "debian",
                _ => "openwrt",
            };
            out.push(Component {
                purl: Some(format!("pkg:{purl_type}/{ns}/{name}@{version}")),
                ecosystem: Some(eco.clone()),
                evidence: format!("package database {path}"),
                paths: vec![path.clone()],
                kind: "application",
                name,
                version: Some(version),
            });
        }
    }
    out
}

/// `ID` and `VERSION_ID` from `<root>/etc/os-release` (or `/usr/lib/os-release`).
pub fn os_release(vfs: &Vfs, root: &str) -> Option<(String, Option<String>)> {
    let data = vfs
        .read(&crate::vfs::join(root, &["etc", "os-release"]))
        .or_else(|| vfs.read(&crate::vfs::join(root, &["usr", "lib", "os-release"])))?;
    let text = String::from_utf8_lossy(data);
    let get = |k: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(k)
                .and_then(|v| v.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
    };
    Some((get("ID")?.to_ascii_lowercase(), get("VERSION_ID")))
}

/// A network service started at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootService {
    /// `telnetd`, `dropbear`, `sshd`, `ftpd`, `tftpd`.
    pub service: String,
    pub file: String,
    pub line: u32,
    pub text: String,
}

const SERVICES: &[(&str, &str)] = &[
    ("utelnetd", "telnetd"),
    ("telnetd", "telnetd"),
    ("in.telnetd", "telnetd"),
    ("dropbear", "dropbear"),
    ("sshd", "sshd"),
    ("vsftpd", "ftpd"),
    ("ftpd", "ftpd"),
    ("tftpd", "tftpd"),
];

fn is_boot_file(p: &str) -> bool {
    let name = p.rsplit('/').next().unwrap_or("");
    p.ends_with("/etc/inittab")
        || p.ends_with("/etc/inetd.conf")
        || p.ends_with("/etc/rc.local")
        || p.contains("/etc/init.d/")
        || p.contains("/etc/rc.d/")
        || p.contains("/etc/rcS.d/")
        || p.contains("/etc/rc2.d/")
        || p.contains("/etc/init/")
        || (p.contains("/systemd/system/") && name.ends_with(".service"))
        || name == "rcS"
}

/// Services started by init scripts, inittab, inetd or systemd units.
pub fn boot_services(vfs: &Vfs) -> Vec<BootService> {
    let mut out: Vec<BootService> = Vec::new();
    for (path, node) in vfs.iter() {
        let Node::File { data, .. } = node else {
            continue;
        };
        if !is_boot_file(path) || data.len() > 1 << 20 {
            continue;
        }
        let text = String::from_utf8_lossy(data);
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with('#') || l.is_empty() {
                continue;
            }
            for (word, service) in SERVICES {
                let hit = l
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .any(|w| w == *word);
                if hit {
                    if !out.iter().any(|b| b.service == *service && b.file == path) {
                        out.push(BootService {
                            service: (*service).to_owned(),
                            file: path.to_owned(),
                            line: n as u32 + 1,
                            text: l.chars().take(200).collect(),
                        });
                    }
                    break;
                }
            }
            if out.len() >= 200 {
                return out;
            }
        }
    }
    out
}

/// Network daemons present as executables or BusyBox applet links (`telnetd`, `dropbear`…).
pub fn daemons_present(vfs: &Vfs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, node) in vfs.iter() {
        let name = path.rsplit('/').next().unwrap_or("");
        if !matches!(
            name,
            "telnetd" | "utelnetd" | "dropbear" | "sshd" | "ftpd" | "vsftpd" | "tftpd"
        ) {
            continue;
        }
        if matches!(node, Node::File { .. } | Node::Symlink { .. }) && out.len() < 100 {
            out.push((name.to_owned(), path.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_at(b"1.35.0 (Debian)").as_deref(), Some("1.35.0"));
        assert_eq!(version_at(b"2022.83\0").as_deref(), Some("2022.83"));
        assert_eq!(version_at(b"x1.2"), None);
        let r = RULES.iter().find(|r| r.name == "openssl").unwrap();
        assert_eq!(
            rule_version(r, b"3.0.11 19 Sep 2023").as_deref(),
            Some("3.0.11")
        );
        assert_eq!(rule_version(r, b"3.0.11\0"), None);
    }
}
