//! From passive evidence to candidate CPE names.
//!
//! A [`Signal`] is one product string a device revealed (an SSDP `SERVER`, an HTTP
//! `Server` header, a telnet/FTP/SSH banner, a DHCP vendor class, a TLS certificate
//! subject, an MQTT client id, an mDNS TXT record, an LLDP description, a string from a
//! firmware binary). [`candidates`] finds known products and their versions in them with a
//! rule table and returns CPE candidates, each with a confidence and the evidence behind it.
//! The device's identified vendor and model add hardware/firmware CPEs (version unknown).

use serde::Serialize;

use crate::cpe::{Cpe, Part};
use crate::version::normalize;

/// Where a product string was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    SsdpServer,
    UpnpDescription,
    HttpServer,
    HttpUserAgent,
    TelnetBanner,
    FtpBanner,
    SshBanner,
    DhcpVendorClass,
    TlsSubject,
    MqttClientId,
    Coap,
    MdnsTxt,
    Lldp,
    Firmware,
}

impl SignalKind {
    /// How much a version string in this place can be trusted (a server's own banner is
    /// better than a client user agent or a vendor class).
    fn trust(self) -> f32 {
        match self {
            SignalKind::SshBanner | SignalKind::FtpBanner | SignalKind::Firmware => 0.9,
            SignalKind::HttpServer | SignalKind::TelnetBanner => 0.85,
            SignalKind::SsdpServer | SignalKind::UpnpDescription => 0.8,
            SignalKind::MdnsTxt | SignalKind::Lldp => 0.75,
            SignalKind::DhcpVendorClass | SignalKind::HttpUserAgent => 0.6,
            SignalKind::TlsSubject | SignalKind::MqttClientId | SignalKind::Coap => 0.5,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SignalKind::SsdpServer => "SSDP SERVER",
            SignalKind::UpnpDescription => "UPnP description",
            SignalKind::HttpServer => "HTTP Server header",
            SignalKind::HttpUserAgent => "HTTP User-Agent",
            SignalKind::TelnetBanner => "telnet banner",
            SignalKind::FtpBanner => "FTP banner",
            SignalKind::SshBanner => "SSH banner",
            SignalKind::DhcpVendorClass => "DHCP vendor class",
            SignalKind::TlsSubject => "TLS certificate subject",
            SignalKind::MqttClientId => "MQTT client id",
            SignalKind::Coap => "CoAP",
            SignalKind::MdnsTxt => "mDNS TXT",
            SignalKind::Lldp => "LLDP",
            SignalKind::Firmware => "firmware",
        }
    }
}

/// One product string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Signal {
    pub kind: SignalKind,
    pub text: String,
}

impl Signal {
    pub fn new(kind: SignalKind, text: impl Into<String>) -> Signal {
        Signal {
            kind,
            text: text.into(),
        }
    }
}

/// A candidate CPE for a device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpeCandidate {
    /// CPE 2.3 formatted string.
    pub cpe: String,
    pub confidence: f32,
    /// What it was derived from, e.g. `HTTP Server header "lighttpd/1.4.35"`.
    pub evidence: String,
    #[serde(skip)]
    pub parsed: Cpe,
}

/// A product rule: a case-insensitive token that names the product, the CPE it maps to,
/// and how the version follows the token.
struct Rule {
    /// Lower-case needle.
    token: &'static str,
    part: Part,
    vendor: &'static str,
    product: &'static str,
    /// Characters allowed between the token and the version (`/`, ` `, `_`, `-`, `v`).
    seps: &'static str,
    /// Signal kinds the rule applies to (empty: all).
    kinds: &'static [SignalKind],
    /// Confidence of the product identification itself (before the signal's trust).
    base: f32,
}

const R: &[SignalKind] = &[];
const DHCP: &[SignalKind] = &[SignalKind::DhcpVendorClass];
const SERVERS: &[SignalKind] = &[
    SignalKind::SsdpServer,
    SignalKind::HttpServer,
    SignalKind::UpnpDescription,
    SignalKind::Firmware,
];

/// The rule table. Tokens are matched at word starts; more specific tokens come first.
const RULES: &[Rule] = &[
    rule(
        "openssh",
        Part::Application,
        "openbsd",
        "openssh",
        "_ /-",
        R,
        0.95,
    ),
    rule(
        "dropbear sshd",
        Part::Application,
        "dropbear_ssh_project",
        "dropbear_ssh",
        " v_",
        R,
        0.95,
    ),
    rule(
        "dropbear",
        Part::Application,
        "dropbear_ssh_project",
        "dropbear_ssh",
        "_ v-",
        R,
        0.95,
    ),
    rule(
        "busybox",
        Part::Application,
        "busybox",
        "busybox",
        " v",
        R,
        0.95,
    ),
    rule(
        "udhcp",
        Part::Application,
        "busybox",
        "busybox",
        " ",
        DHCP,
        0.6,
    ),
    rule(
        "lighttpd",
        Part::Application,
        "lighttpd",
        "lighttpd",
        "/ ",
        R,
        0.95,
    ),
    rule(
        "portable sdk for upnp devices",
        Part::Application,
        "libupnp_project",
        "libupnp",
        "/ ",
        R,
        0.95,
    ),
    rule(
        "libupnp",
        Part::Application,
        "libupnp_project",
        "libupnp",
        "/ -",
        R,
        0.95,
    ),
    rule(
        "miniupnpd",
        Part::Application,
        "miniupnp_project",
        "miniupnpd",
        "/ ",
        R,
        0.95,
    ),
    rule(
        "goahead-webs",
        Part::Application,
        "embedthis",
        "goahead",
        "/ ",
        R,
        0.9,
    ),
    rule(
        "goahead",
        Part::Application,
        "embedthis",
        "goahead",
        "/ ",
        R,
        0.9,
    ),
    rule("boa", Part::Application, "boa", "boa", "/", SERVERS, 0.9),
    rule(
        "mini_httpd",
        Part::Application,
        "acme",
        "mini_httpd",
        "/ ",
        R,
        0.95,
    ),
    rule("thttpd", Part::Application, "acme", "thttpd", "/ ", R, 0.95),
    rule(
        "micro_httpd",
        Part::Application,
        "acme",
        "micro_httpd",
        "/ ",
        R,
        0.9,
    ),
    rule("nginx", Part::Application, "f5", "nginx", "/", R, 0.95),
    rule(
        "apache",
        Part::Application,
        "apache",
        "http_server",
        "/",
        SERVERS,
        0.9,
    ),
    rule(
        "allegro-software-rompager",
        Part::Application,
        "allegrosoft",
        "rompager",
        "/ ",
        R,
        0.95,
    ),
    rule(
        "rompager",
        Part::Application,
        "allegrosoft",
        "rompager",
        "/ ",
        R,
        0.95,
    ),
    rule(
        "mongoose",
        Part::Application,
        "cesanta",
        "mongoose",
        "/ ",
        R,
        0.9,
    ),
    rule(
        "jetty",
        Part::Application,
        "eclipse",
        "jetty",
        "/( ",
        R,
        0.9,
    ),
    rule(
        "dnsmasq",
        Part::Application,
        "thekelleys",
        "dnsmasq",
        "- /",
        R,
        0.95,
    ),
    rule(
        "vsftpd",
        Part::Application,
        "beasts",
        "vsftpd",
        " ",
        R,
        0.95,
    ),
    rule(
        "proftpd",
        Part::Application,
        "proftpd",
        "proftpd",
        " ",
        R,
        0.95,
    ),
    rule(
        "pure-ftpd",
        Part::Application,
        "pureftpd",
        "pure-ftpd",
        " ",
        R,
        0.9,
    ),
    rule(
        "openssl",
        Part::Application,
        "openssl",
        "openssl",
        " /",
        R,
        0.95,
    ),
    rule(
        "uclibc-ng",
        Part::Application,
        "uclibc-ng_project",
        "uclibc-ng",
        " -",
        R,
        0.9,
    ),
    rule(
        "uclibc",
        Part::Application,
        "uclibc",
        "uclibc",
        " -",
        R,
        0.9,
    ),
    rule("wget", Part::Application, "gnu", "wget", "/", R, 0.8),
    rule("curl", Part::Application, "haxx", "curl", "/ ", R, 0.85),
    rule(
        "mosquitto",
        Part::Application,
        "eclipse",
        "mosquitto",
        " /",
        R,
        0.9,
    ),
    rule(
        "routeros",
        Part::OperatingSystem,
        "mikrotik",
        "routeros",
        " v",
        R,
        0.9,
    ),
    rule(
        "airos",
        Part::OperatingSystem,
        "ui",
        "airos",
        " v.",
        R,
        0.85,
    ),
    // Cisco IOS names itself on one line and its version ("Version 11.2(12)P") later;
    // the version is read by `cisco_ios_version`.
    rule(
        "cisco internetwork operating system",
        Part::OperatingSystem,
        "cisco",
        "ios",
        "",
        R,
        0.9,
    ),
    rule(
        "openbsd",
        Part::OperatingSystem,
        "openbsd",
        "openbsd",
        " ",
        R,
        0.9,
    ),
    rule(
        "android",
        Part::OperatingSystem,
        "google",
        "android",
        " ",
        R,
        0.9,
    ),
    rule("chrome", Part::Application, "google", "chrome", "/", R, 0.9),
    rule(
        "linux",
        Part::OperatingSystem,
        "linux",
        "linux_kernel",
        "/ -",
        SERVERS,
        0.7,
    ),
];

#[allow(clippy::too_many_arguments)]
const fn rule(
    token: &'static str,
    part: Part,
    vendor: &'static str,
    product: &'static str,
    seps: &'static str,
    kinds: &'static [SignalKind],
    base: f32,
) -> Rule {
    Rule {
        token,
        part,
        vendor,
        product,
        seps,
        kinds,
        base,
    }
}

/// Finds `needle` in `hay` at a word start (previous char is not alphanumeric).
fn find_word(hay: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = hay.get(from..)?.find(needle) {
        let at = from + i;
        let ok = hay[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let after = hay[at + needle.len()..].chars().next();
        // "boa" must not match "board"; "linux" must not match "linuxfoo".
        let end_ok = after.is_none_or(|c| !c.is_ascii_alphabetic() || needle.ends_with(' '));
        if ok && end_ok {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

/// The version right after the token: skip allowed separators, then take
/// `[0-9][0-9A-Za-z._+-]*`; `p1`-style suffixes stay (`7.4p1`).
fn version_after(text: &str, seps: &str) -> Option<String> {
    let mut s = text;
    let mut skipped = 0;
    while let Some(c) = s.chars().next() {
        if seps.contains(c) && skipped < 3 {
            s = &s[c.len_utf8()..];
            skipped += 1;
        } else {
            break;
        }
    }
    let end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let v = s[..end].trim_end_matches(['-', '.', '_']);
    // Drop distribution suffixes: "7.4p1-debian" stays "7.4p1"; "1.21.1--lsdk" → "1.21.1".
    let v = v.split("--").next().unwrap_or(v);
    normalize(v)
}

/// `11.2(12)p` from "…, version 11.2(12)p, release software" (lower-cased input).
fn cisco_ios_version(rest: &str) -> Option<String> {
    let i = rest.find("version ")?;
    let v: String = rest[i + 8..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '(' | ')'))
        .take(32)
        .collect();
    v.starts_with(|c: char| c.is_ascii_digit()).then_some(v)
}

/// Candidate CPEs from product strings and the identified vendor/model.
pub fn candidates(
    signals: &[Signal],
    vendor: Option<&str>,
    model: Option<&str>,
    identity_confidence: f32,
) -> Vec<CpeCandidate> {
    let mut out: Vec<CpeCandidate> = Vec::new();
    let mut push = |cpe: Cpe, confidence: f32, evidence: String| {
        let s = cpe.to_string();
        match out.iter_mut().find(|c| c.cpe == s) {
            Some(c) if c.confidence >= confidence => {}
            Some(c) => {
                c.confidence = confidence;
                c.evidence = evidence;
            }
            None => out.push(CpeCandidate {
                cpe: s,
                confidence,
                evidence,
                parsed: cpe,
            }),
        }
    };
    for sig in signals {
        if sig.text.len() > 1024 {
            continue;
        }
        let lower = sig.text.to_ascii_lowercase();
        let mut used: Vec<(usize, usize)> = Vec::new();
        for r in RULES {
            if !r.kinds.is_empty() && !r.kinds.contains(&sig.kind) {
                continue;
            }
            let Some(at) = find_word(&lower, r.token) else {
                continue;
            };
            // A more specific rule already claimed this span ("dropbear sshd" vs "dropbear").
            if used.iter().any(|(a, b)| at >= *a && at < *b) {
                continue;
            }
            used.push((at, at + r.token.len()));
            let rest = &lower[at + r.token.len()..];
            let version = if r.product == "ios" {
                cisco_ios_version(rest)
            } else {
                // A later mention may carry the version ("OpenBSD/i386 … OpenBSD 2.6-beta").
                version_after(rest, r.seps).or_else(|| {
                    let mut from = at + r.token.len();
                    while let Some(i) = lower.get(from..).and_then(|h| find_word(h, r.token)) {
                        let end = from + i + r.token.len();
                        if let Some(v) = version_after(&lower[end..], r.seps) {
                            return Some(v);
                        }
                        from = end;
                    }
                    None
                })
            };
            // udhcp 0.9.x is the pre-BusyBox project; only 1.x tracks BusyBox versions.
            if r.token == "udhcp" && version.as_deref().is_none_or(|v| v.starts_with("0.")) {
                continue;
            }
            let conf = r.base * sig.kind.trust() * if version.is_some() { 1.0 } else { 0.6 };
            let cpe = Cpe::new(r.part, r.vendor, r.product, version.as_deref());
            push(
                cpe,
                round3(conf),
                format!("{} \"{}\"", sig.kind.label(), clip(&sig.text, 120)),
            );
        }
    }
    // Models the device announces itself (mDNS TXT `model_number=DCS-935L`, `md=BSB002`, a
    // bare TXT "IC-3115W Network Camera", an SSDP SERVER token `DCS-935L/1.0`) beat a
    // classifier's guess: the IoT Sentinel label "DCH-935L" is a typo the camera corrects.
    let announced = announced_models(signals);
    let nvd_v = vendor.and_then(nvd_vendor);
    if let Some(v) = &nvd_v {
        for (m, sig) in &announced {
            let evidence = format!(
                "{} \"{}\" announces model {} (vendor {})",
                sig.kind.label(),
                clip(&sig.text, 120),
                m.to_ascii_uppercase(),
                vendor.unwrap_or("")
            );
            let c = round3(0.9 * sig.kind.trust());
            push(
                Cpe::new(Part::Hardware, v, m, Some("-")),
                c,
                evidence.clone(),
            );
            push(
                Cpe::new(Part::OperatingSystem, v, &format!("{m}_firmware"), None),
                c,
                evidence,
            );
        }
    }
    let identity_model = model.and_then(model_code);
    let contradicted = identity_model
        .as_ref()
        .is_some_and(|m| !announced.is_empty() && !announced.iter().any(|(a, _)| a == m));
    if let (Some(v), Some(m), false) = (nvd_v, identity_model, contradicted) {
        let evidence = format!(
            "identified as {} {} (confidence {identity_confidence:.2})",
            vendor.unwrap_or(""),
            model.unwrap_or("")
        );
        let c = round3(identity_confidence * 0.6);
        push(
            Cpe::new(Part::Hardware, &v, &m, Some("-")),
            c,
            evidence.clone(),
        );
        push(
            Cpe::new(Part::OperatingSystem, &v, &format!("{m}_firmware"), None),
            c,
            evidence,
        );
    }
    out.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.cpe.cmp(&b.cpe))
    });
    out
}

/// mDNS TXT keys whose value names the device's model.
const TXT_MODEL_KEYS: &[&str] = &[
    "model",
    "model_number",
    "modelnumber",
    "model_name",
    "modelname",
    "md",
    "mdl",
    "ty",
    "product",
];

/// Words in an SSDP SERVER that look like model codes but name protocols or platforms.
const NOT_MODELS: &[&str] = &["upnp", "dlnadoc", "http", "linux", "windows", "ipv6"];

/// Models the device names itself, lower-cased model codes with the signal behind each.
fn announced_models(signals: &[Signal]) -> Vec<(String, &Signal)> {
    let mut out: Vec<(String, &Signal)> = Vec::new();
    for sig in signals {
        if sig.text.len() > 1024 {
            continue;
        }
        let code = match sig.kind {
            SignalKind::MdnsTxt => match sig.text.split_once('=') {
                Some((k, v))
                    if TXT_MODEL_KEYS.contains(&k.trim().to_ascii_lowercase().as_str()) =>
                {
                    model_code(v)
                }
                Some(_) => None,
                // A bare TXT string ("IC-3115W Network Camera").
                None => model_code(&sig.text),
            },
            SignalKind::UpnpDescription => sig
                .text
                .split_once(':')
                .filter(|(k, _)| k.contains("model"))
                .and_then(|(_, v)| model_code(v)),
            SignalKind::SsdpServer => ssdp_model_token(&sig.text),
            _ => None,
        };
        if let Some(c) = code
            && !out.iter().any(|(m, _)| *m == c)
        {
            out.push((c, sig));
        }
    }
    out
}

/// A `MODEL/version` product token in an SSDP SERVER line ("Linux, UPnP/1.0 DCS-935L/1.0")
/// whose name has letters and digits and is no known protocol, platform or product rule.
fn ssdp_model_token(server: &str) -> Option<String> {
    server
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|w| w.split_once('/'))
        .map(|(name, _)| name)
        .find(|name| {
            let l = name.to_ascii_lowercase();
            (4..=24).contains(&name.len())
                && name.chars().any(|c| c.is_ascii_digit())
                && name.chars().any(|c| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !NOT_MODELS.iter().any(|n| l.starts_with(n))
                && !RULES.iter().any(|r| l.starts_with(r.token.trim()))
        })
        .map(|n| n.to_ascii_lowercase())
}

fn round3(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}

fn clip(s: &str, n: usize) -> String {
    s.chars()
        .take(n)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Maps an organisation name (OUI registry or banner) to the NVD vendor token.
pub fn nvd_vendor(org: &str) -> Option<String> {
    let l = org.to_ascii_lowercase();
    const MAP: &[(&str, &str)] = &[
        ("d-link", "dlink"),
        ("dlink", "dlink"),
        ("tp-link", "tp-link"),
        ("tp link", "tp-link"),
        ("hikvision", "hikvision"),
        ("dahua", "dahua"),
        ("netgear", "netgear"),
        ("ubiquiti", "ui"),
        ("zyxel", "zyxel"),
        ("tenda", "tenda"),
        ("huawei", "huawei"),
        ("mikrotik", "mikrotik"),
        ("routerboard", "mikrotik"),
        ("synology", "synology"),
        ("qnap", "qnap"),
        ("axis", "axis"),
        ("foscam", "foscam"),
        ("belkin", "belkin"),
        ("edimax", "edimax"),
        ("philips", "philips"),
        ("signify", "philips"),
        ("linksys", "linksys"),
        ("asustek", "asus"),
        ("asus", "asus"),
        ("avm", "avm"),
        ("draytek", "draytek"),
        ("realtek", "realtek"),
        ("cisco", "cisco"),
        ("samsung", "samsung"),
        ("sonos", "sonos"),
        ("xiaomi", "mi"),
        ("wyze", "wyze"),
        ("withings", "withings"),
        ("geovision", "geovision"),
        ("netis", "netis-systems"),
        ("grandstream", "grandstream"),
        ("arcadyan", "arcadyan"),
        ("trendnet", "trendnet"),
        ("reolink", "reolink"),
        ("amcrest", "amcrest"),
        ("ezviz", "ezviz"),
    ];
    MAP.iter()
        .find(|(k, _)| l.contains(k))
        .map(|(_, v)| (*v).to_owned())
}

/// The product code in a model string ("TP-Link WiFi Smart plug HS100" → `hs100`,
/// "D-Link HD IP Camera DCS-935L" → `dcs-935l`): the last word with both a letter and a
/// digit, lower-cased.
pub fn model_code(model: &str) -> Option<String> {
    let cleaned: String = model
        .split('(')
        .next()
        .unwrap_or(model)
        .chars()
        .map(|c| if c == ',' { ' ' } else { c })
        .collect();
    cleaned
        .split_whitespace()
        .rfind(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                && w.chars().any(|c| c.is_ascii_alphabetic())
                && w.len() >= 3
                && w.len() <= 40
        })
        .map(|w| w.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(kind: SignalKind, text: &str) -> Vec<String> {
        candidates(&[Signal::new(kind, text)], None, None, 0.0)
            .into_iter()
            .map(|c| c.cpe)
            .collect()
    }

    #[test]
    fn banners() {
        use SignalKind::*;
        let cases: &[(SignalKind, &str, &[&str])] = &[
            (
                HttpServer,
                "lighttpd/1.4.35",
                &["cpe:2.3:a:lighttpd:lighttpd:1.4.35:*:*:*:*:*:*:*"],
            ),
            (
                SshBanner,
                "SSH-2.0-dropbear_2017.75",
                &["cpe:2.3:a:dropbear_ssh_project:dropbear_ssh:2017.75:*:*:*:*:*:*:*"],
            ),
            (
                SshBanner,
                "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7",
                &["cpe:2.3:a:openbsd:openssh:7.4p1:*:*:*:*:*:*:*"],
            ),
            (
                TelnetBanner,
                "BusyBox v1.19.4 (2013-01-01) built-in shell",
                &["cpe:2.3:a:busybox:busybox:1.19.4:*:*:*:*:*:*:*"],
            ),
            (
                SsdpServer,
                "Linux/2.6.21, UPnP/1.0, Portable SDK for UPnP devices/1.6.18",
                &[
                    "cpe:2.3:a:libupnp_project:libupnp:1.6.18:*:*:*:*:*:*:*",
                    "cpe:2.3:o:linux:linux_kernel:2.6.21:*:*:*:*:*:*:*",
                ],
            ),
            (
                DhcpVendorClass,
                "udhcp 1.21.1--LSDK-10.2-00082-4",
                &["cpe:2.3:a:busybox:busybox:1.21.1:*:*:*:*:*:*:*"],
            ),
            (DhcpVendorClass, "udhcp 0.9.8", &[]),
            (
                FtpBanner,
                "220 (vsFTPd 3.0.3)",
                &["cpe:2.3:a:beasts:vsftpd:3.0.3:*:*:*:*:*:*:*"],
            ),
            (
                HttpServer,
                "dnsmasq-2.78",
                &["cpe:2.3:a:thekelleys:dnsmasq:2.78:*:*:*:*:*:*:*"],
            ),
            (
                HttpServer,
                "Boa/0.94.13",
                &["cpe:2.3:a:boa:boa:0.94.13:*:*:*:*:*:*:*"],
            ),
            (HttpServer, "Keyboard/1.0", &[]),
            (
                Lldp,
                "Cisco Internetwork Operating System Software, IOS (tm) 1600 Software \
                 (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1)",
                &["cpe:2.3:o:cisco:ios:11.2\\(12\\)p:*:*:*:*:*:*:*"],
            ),
            (
                TelnetBanner,
                "OpenBSD/i386 (oof) (ttyp2) login: OpenBSD 2.6-beta (OOF) #4",
                &["cpe:2.3:o:openbsd:openbsd:2.6-beta:*:*:*:*:*:*:*"],
            ),
            (
                HttpUserAgent,
                "Dalvik/2.1.0 (Linux; U; Android 10; Redmi Note 9 Pro MIUI/V12.0.3.0.QJZMIXM)",
                &["cpe:2.3:o:google:android:10:*:*:*:*:*:*:*"],
            ),
            (
                HttpUserAgent,
                "Google Chrome/99.0.4844.74 Mac OS X",
                &["cpe:2.3:a:google:chrome:99.0.4844.74:*:*:*:*:*:*:*"],
            ),
            (
                HttpServer,
                "GoAhead-Webs",
                &["cpe:2.3:a:embedthis:goahead:*:*:*:*:*:*:*:*"],
            ),
        ];
        for (k, t, want) in cases {
            let mut got = cands(*k, t);
            got.sort();
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{t}");
        }
    }

    #[test]
    fn announced_models_beat_the_classifier() {
        let sigs = [
            Signal::new(SignalKind::SsdpServer, "Linux,    UPnP/1.0 DCS-935L/1.0"),
            Signal::new(SignalKind::MdnsTxt, "model_number=DCS-935L"),
        ];
        let c = candidates(
            &sigs,
            Some("D-Link International"),
            Some("D-Link HD IP Camera DCH-935L"),
            0.9,
        );
        let s: Vec<&str> = c.iter().map(|c| c.cpe.as_str()).collect();
        assert!(
            s.contains(&"cpe:2.3:h:dlink:dcs-935l:-:*:*:*:*:*:*:*"),
            "{s:?}"
        );
        assert!(!s.iter().any(|c| c.contains("dch-935l")), "{s:?}");
        let bare = [Signal::new(SignalKind::MdnsTxt, "IC-3115W Network Camera")];
        let c = candidates(&bare, Some("Edimax Technology Co. Ltd."), None, 0.0);
        assert_eq!(c[0].cpe, "cpe:2.3:h:edimax:ic-3115w:-:*:*:*:*:*:*:*");
        assert!(c[0].evidence.contains("announces model IC-3115W"));
        // Protocol and product tokens are no models; no vendor, no CPE.
        for server in [
            "Linux/3.14.0 UPnP/1.0 IpBridge/1.9.0",
            "Linux/4.1.52, UPnP/1.0, MiniUPnPd/2.1",
            "Microsoft-Windows/10.0 UPnP/1.0 DLNADOC/1.50",
        ] {
            assert_eq!(ssdp_model_token(server), None, "{server}");
        }
        assert!(
            candidates(&sigs, None, None, 0.0)
                .iter()
                .all(|c| !c.cpe.contains(":h:"))
        );
    }

    #[test]
    fn identity_cpes() {
        let c = candidates(
            &[],
            Some("TP-LINK TECHNOLOGIES CO.,LTD."),
            Some("TP-Link WiFi Smart plug HS110"),
            0.9,
        );
        let s: Vec<&str> = c.iter().map(|c| c.cpe.as_str()).collect();
        assert!(
            s.contains(&"cpe:2.3:h:tp-link:hs110:-:*:*:*:*:*:*:*"),
            "{s:?}"
        );
        assert!(
            s.contains(&"cpe:2.3:o:tp-link:hs110_firmware:*:*:*:*:*:*:*:*"),
            "{s:?}"
        );
        assert_eq!(
            model_code("WeMo Switch model F7C027de (unit 1)").as_deref(),
            Some("f7c027de")
        );
    }
}
