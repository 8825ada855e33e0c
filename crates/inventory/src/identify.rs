//! Identification: combine the evidence about a device into vendor, category, model and OS.
//!
//! Each piece of evidence votes for a category with a weight in (0, 1); votes for the same
//! category combine as a noisy-OR, and a strong competing category lowers the confidence.
//! Below [`MIN_CATEGORY_SCORE`] the category is `unknown`: abstaining beats guessing.

use std::collections::BTreeMap;

use palisade_kb::p0f::MatchQuality;
use palisade_kb::{Category, Discovery, OuiTable, ServiceProto, service_category};

use crate::{DeviceState, Observation, format_mac};

/// Minimum class probability for using the behavioural classifier's answer.
pub const CLASSIFIER_MIN_PROBABILITY: f32 = 0.5;

/// Minimum combined score for naming a category.
pub const MIN_CATEGORY_SCORE: f64 = 0.4;

/// One reason behind an identification.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evidence {
    pub source: String,
    pub detail: String,
    pub weight: f64,
}

/// The identification of one device.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Identity {
    pub vendor: Option<String>,
    pub category: Category,
    pub model: Option<String>,
    pub os: Option<String>,
    pub confidence: f64,
    pub mac_randomized: bool,
    pub is_router: bool,
    pub evidence: Vec<Evidence>,
}

struct Votes {
    by_cat: BTreeMap<Category, Vec<f64>>,
    evidence: Vec<Evidence>,
}

impl Votes {
    fn new() -> Self {
        Votes {
            by_cat: BTreeMap::new(),
            evidence: Vec::new(),
        }
    }
    fn vote(&mut self, cat: Category, weight: f64, source: &str, detail: String) {
        if cat == Category::Unknown {
            return;
        }
        // The same (source, detail) never votes twice.
        if self
            .evidence
            .iter()
            .any(|e| e.source == source && e.detail == detail)
        {
            return;
        }
        self.by_cat.entry(cat).or_default().push(weight);
        self.evidence.push(Evidence {
            source: source.to_string(),
            detail,
            weight,
        });
    }
    fn note(&mut self, source: &str, detail: String, weight: f64) {
        if self
            .evidence
            .iter()
            .any(|e| e.source == source && e.detail == detail)
        {
            return;
        }
        self.evidence.push(Evidence {
            source: source.to_string(),
            detail,
            weight,
        });
    }
    fn result(&self) -> (Category, f64) {
        let mut scored: Vec<(f64, Category)> = self
            .by_cat
            .iter()
            .map(|(c, ws)| (1.0 - ws.iter().fold(1.0, |acc, w| acc * (1.0 - w)), *c))
            .collect();
        // Highest score first; ties broken by category order for determinism.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        match scored.as_slice() {
            [] => (Category::Unknown, 0.0),
            [(p, c)] | [(p, c), ..] => {
                let second = scored.get(1).map(|x| x.0).unwrap_or(0.0);
                let conf = p * (1.0 - 0.5 * second);
                if *p < MIN_CATEGORY_SCORE {
                    (Category::Unknown, conf)
                } else {
                    (*c, conf)
                }
            }
        }
    }
}

/// Substring rules: (needle in lower-case, category, weight). Project-owned, deliberately small.
const HOSTNAME_RULES: &[(&str, Category, f64)] = &[
    ("philips-hue", Category::Hub, 0.6),
    ("hue-bridge", Category::Hub, 0.6),
    ("camera", Category::Camera, 0.5),
    ("ipcam", Category::Camera, 0.5),
    ("doorbell", Category::Doorbell, 0.6),
    ("printer", Category::Printer, 0.5),
    ("chromecast", Category::MediaPlayer, 0.6),
    ("roku", Category::MediaPlayer, 0.5),
    ("appletv", Category::MediaPlayer, 0.5),
    ("apple-tv", Category::MediaPlayer, 0.5),
    ("echo", Category::VoiceAssistant, 0.4),
    ("amazon-", Category::VoiceAssistant, 0.3),
    ("google-home", Category::VoiceAssistant, 0.6),
    ("googlehome", Category::VoiceAssistant, 0.6),
    ("nest-", Category::Thermostat, 0.3),
    ("ecobee", Category::Thermostat, 0.6),
    ("thermostat", Category::Thermostat, 0.6),
    ("sonos", Category::Speaker, 0.6),
    ("iphone", Category::Phone, 0.6),
    ("android", Category::Phone, 0.4),
    ("galaxy", Category::Phone, 0.4),
    ("ipad", Category::Phone, 0.4),
    ("macbook", Category::Computer, 0.6),
    ("desktop-", Category::Computer, 0.5),
    ("laptop", Category::Computer, 0.5),
    ("synology", Category::Nas, 0.6),
    ("diskstation", Category::Nas, 0.6),
    ("qnap", Category::Nas, 0.5),
    ("playstation", Category::GameConsole, 0.6),
    ("xbox", Category::GameConsole, 0.6),
    ("nintendo", Category::GameConsole, 0.6),
    ("hs100", Category::SmartPlug, 0.6),
    ("hs110", Category::SmartPlug, 0.6),
    ("kasa", Category::SmartPlug, 0.4),
    ("smartplug", Category::SmartPlug, 0.5),
    ("wemo", Category::SmartPlug, 0.4),
    ("shelly", Category::SmartPlug, 0.4),
    ("lock", Category::Lock, 0.3),
    ("tv", Category::Tv, 0.2),
    ("samsung-tv", Category::Tv, 0.5),
    ("lgwebostv", Category::Tv, 0.6),
    ("bravia", Category::Tv, 0.6),
    ("router", Category::Router, 0.4),
    ("gateway", Category::Router, 0.2),
];

/// Default host names some vendors ship with: (vendor substring, host-name prefix, category,
/// weight, whether the host name is the product code and so the model).
const PRODUCT_CODE_RULES: &[(&str, &str, Category, f64, bool)] = &[
    ("d-link", "dcs-", Category::Camera, 0.6, true),
    ("d-link", "dch-s", Category::Sensor, 0.5, true),
    ("d-link", "dch-g", Category::Hub, 0.5, true),
    ("d-link", "dsp-w", Category::SmartPlug, 0.6, true),
    ("d-link", "dir-", Category::Router, 0.5, true),
    ("tp-link", "hs1", Category::SmartPlug, 0.6, true),
    ("tp-link", "hs2", Category::SmartPlug, 0.5, true),
    ("tp-link", "kp", Category::SmartPlug, 0.4, true),
    ("tp-link", "kl1", Category::Light, 0.5, true),
    ("osram", "lightify", Category::Hub, 0.5, false),
    ("edimax", "localcam", Category::Camera, 0.5, false),
];

/// OUI organisation substrings whose IP-connected products are nearly all of one kind.
const VENDOR_RULES: &[(&str, Category, f64)] = &[
    ("philips lighting", Category::Hub, 0.4),
    ("signify", Category::Hub, 0.4),
    ("hikvision", Category::Camera, 0.45),
    ("hangzhou hikvision", Category::Camera, 0.45),
    ("axis communications", Category::Camera, 0.45),
    ("dahua", Category::Camera, 0.45),
    ("amcrest", Category::Camera, 0.45),
    ("foscam", Category::Camera, 0.45),
    ("wyze", Category::Camera, 0.3),
    ("sonos", Category::Speaker, 0.5),
    ("ring llc", Category::Doorbell, 0.4),
    ("ecobee", Category::Thermostat, 0.5),
    ("nest labs", Category::Thermostat, 0.3),
    ("roku", Category::MediaPlayer, 0.45),
    ("brother industries", Category::Printer, 0.45),
    ("seiko epson", Category::Printer, 0.45),
    ("canon inc", Category::Printer, 0.35),
    ("lexmark", Category::Printer, 0.45),
    ("xerox", Category::Printer, 0.35),
    ("kyocera", Category::Printer, 0.35),
    ("synology", Category::Nas, 0.5),
    ("qnap", Category::Nas, 0.5),
    ("ubiquiti", Category::AccessPoint, 0.35),
    ("nintendo", Category::GameConsole, 0.45),
    ("sony interactive", Category::GameConsole, 0.45),
    ("fitbit", Category::Wearable, 0.3),
    ("belkin", Category::SmartPlug, 0.3),
    ("tuya", Category::SmartPlug, 0.25),
    ("osram", Category::Hub, 0.3),
    ("eq-3", Category::Hub, 0.25),
    ("raspberry pi", Category::Computer, 0.3),
];

/// Cloud names (DNS queries / TLS SNI) that point at one kind of product.
const DOMAIN_RULES: &[(&str, Category, f64)] = &[
    ("meethue.com", Category::Hub, 0.5),
    ("sonos.com", Category::Speaker, 0.4),
    ("ring.com", Category::Doorbell, 0.35),
    ("ecobee.com", Category::Thermostat, 0.5),
    ("avs-alexa", Category::VoiceAssistant, 0.5),
    ("alexa.amazon", Category::VoiceAssistant, 0.5),
    (
        "device-metrics-us.amazon.com",
        Category::VoiceAssistant,
        0.3,
    ),
    ("tplinkcloud.com", Category::SmartPlug, 0.35),
    ("xbcs.net", Category::SmartPlug, 0.4),
    ("hpeprint.com", Category::Printer, 0.5),
    ("roku.com", Category::MediaPlayer, 0.4),
    ("playstation.net", Category::GameConsole, 0.5),
    ("nintendo.net", Category::GameConsole, 0.5),
    ("xboxlive.com", Category::GameConsole, 0.5),
    ("quickconnect.to", Category::Nas, 0.4),
    ("synology.com", Category::Nas, 0.3),
    ("fitbit.com", Category::Wearable, 0.3),
    ("smartthings.com", Category::Hub, 0.4),
    ("samsungcloudsolution", Category::Tv, 0.3),
    ("lgtvsdp.com", Category::Tv, 0.5),
];

/// Server ports that identify what a device offers.
const SERVICE_RULES: &[(&str, u16, Category, f64)] = &[
    ("tcp", 554, Category::Camera, 0.4),
    ("tcp", 9100, Category::Printer, 0.5),
    ("tcp", 631, Category::Printer, 0.4),
    ("tcp", 515, Category::Printer, 0.4),
    ("tcp", 8009, Category::MediaPlayer, 0.4),
    ("tcp", 1400, Category::Speaker, 0.4),
    ("tcp", 9999, Category::SmartPlug, 0.4),
    ("tcp", 548, Category::Nas, 0.3),
    ("tcp", 5000, Category::Nas, 0.1),
    ("tcp", 8060, Category::MediaPlayer, 0.4),
    ("tcp", 502, Category::Industrial, 0.6),
    ("tcp", 102, Category::Industrial, 0.5),
    ("tcp", 20000, Category::Industrial, 0.5),
    ("tcp", 44818, Category::Industrial, 0.5),
    ("udp", 47808, Category::Industrial, 0.5),
    ("tcp", 2404, Category::Industrial, 0.5),
];

fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Identifies a device from everything observed about it.
pub fn identify(d: &DeviceState) -> Identity {
    let mut v = Votes::new();
    let mac = d.mac;
    let randomized = mac[0] & 0x02 != 0;
    let discovery = Discovery::embedded();

    // Vendor: the IEEE registry, unless the address is locally administered.
    let mut vendor: Option<String> = None;
    if randomized {
        v.note(
            "mac",
            "locally administered address (randomised or virtual); OUI not applicable".into(),
            0.0,
        );
    } else if let Some(org) = OuiTable::embedded().lookup(mac) {
        vendor = Some(org.to_string());
        v.note("oui", format!("{} → {org}", &format_mac(&mac)[..8]), 0.5);
        let o = lc(org);
        for (needle, cat, w) in VENDOR_RULES {
            if o.contains(needle) {
                v.vote(
                    *cat,
                    *w,
                    "oui",
                    format!("{org} products are mostly {cat:?}"),
                );
                break;
            }
        }
    }

    // Router / gateway.
    let router = d.is_router();
    if d.dhcp_server {
        v.vote(
            Category::Router,
            0.85,
            "dhcp",
            "answers as DHCP server".into(),
        );
    }
    if d.router_advert {
        v.vote(
            Category::Router,
            0.8,
            "icmpv6",
            "sends IPv6 router advertisements".into(),
        );
    }
    if d.public_ips.len() >= 3 || d.public_ip_overflow {
        v.vote(
            Category::Router,
            0.75,
            "ip",
            format!(
                "forwards traffic from {}{} routable source addresses",
                d.public_ips.len(),
                if d.public_ip_overflow { "+" } else { "" }
            ),
        );
    }

    let mut model: Option<(f64, String)> = None;
    let mut os: Option<(f64, String)> = None;

    for name in &d.hostnames {
        let n = lc(name);
        for m in discovery.match_dhcp(Some(&n), mac) {
            if let Some(c) = m.category {
                v.vote(
                    c,
                    0.6,
                    "kb:homeassistant-dhcp",
                    format!(
                        "hostname {name} matches {}",
                        m.name.as_deref().unwrap_or(&m.domain)
                    ),
                );
            }
        }
        if let Some(org) = vendor.as_deref().map(lc) {
            for (vend, prefix, cat, w, is_model) in PRODUCT_CODE_RULES {
                if org.contains(vend) && n.starts_with(prefix) {
                    v.vote(
                        *cat,
                        *w,
                        "hostname",
                        format!("{name} is a {vend} default host name"),
                    );
                    if *is_model {
                        set_model(0.5, name.clone(), &mut model);
                    }
                }
            }
        }
        for (needle, cat, w) in HOSTNAME_RULES {
            if n.contains(needle) {
                v.vote(
                    *cat,
                    *w,
                    "hostname",
                    format!("{name} contains \"{needle}\""),
                );
            }
        }
    }
    // MAC-only matchers of the Home Assistant DHCP table.
    if d.hostnames.is_empty() {
        for m in discovery.match_dhcp(None, mac) {
            if let Some(c) = m.category {
                v.vote(
                    c,
                    0.45,
                    "kb:homeassistant-dhcp",
                    format!(
                        "MAC prefix matches {}",
                        m.name.as_deref().unwrap_or(&m.domain)
                    ),
                );
            }
        }
    }

    for fact in d.facts() {
        match fact {
            Observation::DhcpClient {
                vendor_class,
                param_list,
                ..
            } => {
                if let Some(p) = &param_list {
                    v.note("dhcp", format!("option 55 parameter list {p}"), 0.0);
                    // Run-time fingerprint packs (satori, Fingerbank): exact option-55 lists.
                    if let Some(rt) = palisade_kb::runtime_packs() {
                        for fp in rt.dhcp_by_prl(p).iter().take(3) {
                            let detail = format!("option 55 {p} is {} ({})", fp.name, fp.source);
                            match fp.category {
                                Some(c) => v.vote(c, 0.3, "kb:dhcp-fingerprint", detail),
                                None => v.note("kb:dhcp-fingerprint", detail, 0.15),
                            }
                            if let Some(o) = &fp.os {
                                set_os(0.35, o.clone(), &mut os);
                            }
                        }
                    }
                }
                if let Some(vc) = vendor_class {
                    let l = lc(&vc);
                    v.note("dhcp", format!("vendor class \"{vc}\""), 0.2);
                    if l.starts_with("msft") {
                        v.vote(
                            Category::Computer,
                            0.45,
                            "dhcp",
                            format!("vendor class \"{vc}\" (Windows)"),
                        );
                        set_os(0.6, "Windows".into(), &mut os);
                    } else if let Some(ver) = l.strip_prefix("android-dhcp-") {
                        v.vote(
                            Category::Phone,
                            0.5,
                            "dhcp",
                            format!("vendor class \"{vc}\" (Android)"),
                        );
                        set_os(0.7, format!("Android {ver}"), &mut os);
                    } else if l.starts_with("dhcpcd") {
                        // dhcpcd-6.8.2:Linux-4.9.59:armv7l:Vendor
                        let kern = vc.split(':').nth(1).map(|k| k.replace('-', " "));
                        set_os(0.6, kern.unwrap_or_else(|| "Linux".into()), &mut os);
                    } else if l.starts_with("udhcp") {
                        set_os(0.5, format!("Linux ({vc})"), &mut os);
                    }
                }
            }
            Observation::MdnsService {
                service_type,
                instance,
                txt,
            } => {
                let txt_ref: Vec<(&str, &str)> =
                    txt.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                let inst = instance.as_deref();
                if let Some((c, products)) = service_category(ServiceProto::Mdns, &service_type) {
                    v.vote(
                        c,
                        0.55,
                        "mdns",
                        format!("advertises {service_type} ({products})"),
                    );
                } else {
                    v.note("mdns", format!("advertises {service_type}"), 0.1);
                }
                for m in discovery.match_zeroconf(&service_type, inst, &txt_ref) {
                    if let Some(c) = m.category {
                        v.vote(
                            c,
                            0.55,
                            "kb:homeassistant-zeroconf",
                            format!(
                                "{service_type} matches {}",
                                m.name.as_deref().unwrap_or(&m.domain)
                            ),
                        );
                    }
                }
                for (k, val) in &txt {
                    let key = lc(k);
                    match key.as_str() {
                        "md" | "model" | "modelid" | "am" | "usb_mdl" | "ty" | "product" => {
                            let val = val.trim_matches(|c| c == '(' || c == ')').to_string();
                            set_model(0.7, val.clone(), &mut model);
                            if service_type.starts_with("_hap.")
                                && let Some(m) = discovery.match_homekit(&val)
                                && let Some(c) = m.category
                            {
                                v.vote(
                                    c,
                                    0.65,
                                    "kb:homeassistant-homekit",
                                    format!("HomeKit model {val} ({})", m.domain),
                                );
                            }
                        }
                        "manufacturer" | "usb_mfg" | "mf" if vendor.is_none() => {
                            vendor = Some(val.clone());
                            v.note("mdns", format!("TXT {k}={val}"), 0.4);
                        }
                        "os" | "osxvers" => set_os(0.5, val.clone(), &mut os),
                        _ => {}
                    }
                }
            }
            Observation::SsdpAdvert {
                server,
                kind,
                location,
                extra,
                ..
            } => {
                if let Some(k) = &kind
                    && let Some((c, products)) = service_category(ServiceProto::Ssdp, k)
                {
                    v.vote(c, 0.5, "ssdp", format!("advertises {k} ({products})"));
                }
                let mut fields: Vec<(&str, &str)> = Vec::new();
                if let Some(k) = &kind {
                    fields.push(("st", k));
                    fields.push(("nt", k));
                    if k.contains(":device:") {
                        fields.push(("deviceType", k));
                    }
                }
                if let Some(s) = &server {
                    fields.push(("server", s));
                }
                for (a, b) in &extra {
                    fields.push((a, b));
                }
                for m in discovery.match_ssdp(&fields) {
                    if let Some(c) = m.category {
                        v.vote(
                            c,
                            0.55,
                            "kb:homeassistant-ssdp",
                            format!("SSDP matches {}", m.name.as_deref().unwrap_or(&m.domain)),
                        );
                    }
                }
                if let Some(s) = &server {
                    let l = lc(s);
                    v.note("ssdp", format!("SERVER: {s}"), 0.2);
                    if l.contains("ipbridge") {
                        v.vote(
                            Category::Hub,
                            0.7,
                            "ssdp",
                            format!("SERVER {s} is a Philips Hue bridge"),
                        );
                        set_model(0.6, "Philips Hue Bridge".into(), &mut model);
                    } else if l.contains("sonos") {
                        v.vote(Category::Speaker, 0.6, "ssdp", format!("SERVER {s}"));
                        if let Some(m) = s.split('(').nth(1).and_then(|x| x.split(')').next()) {
                            set_model(0.5, format!("Sonos {m}"), &mut model);
                        }
                    } else if l.contains("roku") {
                        v.vote(Category::MediaPlayer, 0.6, "ssdp", format!("SERVER {s}"));
                    } else if l.contains("synology") {
                        v.vote(Category::Nas, 0.6, "ssdp", format!("SERVER {s}"));
                    }
                    if let Some(o) = os_from_server(s) {
                        set_os(0.55, o, &mut os);
                    }
                }
                for (a, _) in &extra {
                    if lc(a) == "hue-bridgeid" {
                        v.vote(Category::Hub, 0.7, "ssdp", "hue-bridgeid header".into());
                    }
                }
                if let Some(l) = location {
                    v.note("ssdp", format!("LOCATION: {l}"), 0.0);
                }
            }
            Observation::SsdpSearch {
                user_agent: Some(ua),
                ..
            } => {
                v.note("ssdp", format!("M-SEARCH user agent {ua}"), 0.1);
                if let Some(o) = os_from_user_agent(&ua) {
                    set_os(0.4, o, &mut os);
                }
                runtime_user_agent(&ua, &mut v, &mut os);
            }
            Observation::HttpUserAgent(ua) => {
                let l = lc(&ua);
                v.note("http", format!("User-Agent: {ua}"), 0.2);
                let rules: &[(&str, Category, f64)] = &[
                    ("smarttv", Category::Tv, 0.55),
                    ("smart-tv", Category::Tv, 0.55),
                    ("tizen", Category::Tv, 0.5),
                    ("webos", Category::Tv, 0.5),
                    ("roku", Category::MediaPlayer, 0.55),
                    ("playstation", Category::GameConsole, 0.6),
                    ("nintendo", Category::GameConsole, 0.6),
                    ("xbox", Category::GameConsole, 0.6),
                    ("iphone", Category::Phone, 0.5),
                    ("windows nt", Category::Computer, 0.35),
                    ("macintosh", Category::Computer, 0.45),
                    ("sonos", Category::Speaker, 0.5),
                ];
                for (needle, c, w) in rules {
                    if l.contains(needle) {
                        v.vote(*c, *w, "http", format!("User-Agent mentions {needle}"));
                    }
                }
                if let Some(o) = os_from_user_agent(&ua) {
                    set_os(0.45, o, &mut os);
                }
                runtime_user_agent(&ua, &mut v, &mut os);
            }
            Observation::HttpServer(s) => {
                v.note("http", format!("Server: {s}"), 0.2);
                let l = lc(&s);
                if l.contains("hikvision") || l.contains("dnvrs") || l.contains("webcam") {
                    v.vote(Category::Camera, 0.5, "http", format!("Server: {s}"));
                }
                if let Some(o) = os_from_server(&s) {
                    set_os(0.4, o, &mut os);
                }
            }
            Observation::TlsClient { sni, ja4, .. } => {
                if let Some(c) = palisade_kb::runtime_packs().and_then(|rt| rt.ja4(&ja4)) {
                    let what: Vec<&str> = [&c.application, &c.library, &c.device, &c.os]
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect();
                    v.note("kb:ja4", format!("JA4 {ja4} is {}", what.join(" / ")), 0.3);
                    if let Some(o) = &c.os {
                        set_os(0.35, o.clone(), &mut os);
                    }
                }
                v.note(
                    "tls",
                    format!(
                        "client JA4 {ja4}{}",
                        sni.as_deref()
                            .map(|s| format!(" SNI {s}"))
                            .unwrap_or_default()
                    ),
                    0.1,
                );
            }
            Observation::TlsCertificate {
                subject_cn,
                subject_o,
            } => {
                v.note(
                    "tls",
                    format!(
                        "serves certificate CN={} O={}",
                        subject_cn.as_deref().unwrap_or("-"),
                        subject_o.as_deref().unwrap_or("-")
                    ),
                    0.1,
                );
            }
            Observation::MqttClient {
                client_id,
                protocol_level,
                has_username,
            } => {
                v.vote(
                    Category::Sensor,
                    0.2,
                    "mqtt",
                    format!(
                        "MQTT client id \"{client_id}\" (protocol level {protocol_level}, username {})",
                        if has_username { "present" } else { "absent" }
                    ),
                );
                // Shelly client ids name the product line.
                let l = lc(&client_id);
                let shelly: &[(&str, Category)] = &[
                    ("shellyht", Category::Sensor),
                    ("shellyflood", Category::Sensor),
                    ("shellydw", Category::Sensor),
                    ("shellymotion", Category::Sensor),
                    ("shellyplug", Category::SmartPlug),
                    ("shellybulb", Category::Light),
                ];
                if let Some((_, c)) = shelly.iter().find(|(p, _)| l.starts_with(p)) {
                    v.vote(*c, 0.5, "mqtt", format!("client id {client_id}"));
                }
            }
            Observation::CoapResource(p) => {
                v.note("coap", format!("CoAP resource {p}"), 0.1);
            }
            Observation::Lldp {
                system_name,
                system_description,
                router: r,
            } => {
                v.note(
                    "lldp",
                    format!(
                        "system {} — {}",
                        system_name.as_deref().unwrap_or("-"),
                        system_description.as_deref().unwrap_or("-")
                    ),
                    0.3,
                );
                if r {
                    v.vote(
                        Category::Router,
                        0.7,
                        "lldp",
                        "LLDP capabilities: router".into(),
                    );
                }
                if let Some(desc) = system_description {
                    set_model(0.4, desc.chars().take(60).collect(), &mut model);
                }
            }
            Observation::Cdp {
                device_id,
                platform,
                software,
            } => {
                v.note(
                    "cdp",
                    format!(
                        "device {} platform {}",
                        device_id.as_deref().unwrap_or("-"),
                        platform.as_deref().unwrap_or("-")
                    ),
                    0.3,
                );
                if let Some(p) = platform {
                    set_model(0.6, p, &mut model);
                }
                if let Some(s) = software
                    && lc(&s).contains("ios")
                {
                    set_os(0.6, "Cisco IOS".into(), &mut os);
                }
            }
            Observation::Banner { protocol, text } => {
                v.note("banner", format!("{protocol}: {text}"), 0.1);
                if lc(&text).contains("busybox") {
                    set_os(0.4, "Linux (BusyBox)".into(), &mut os);
                }
            }
            _ => {}
        }
    }

    tcp_fingerprints(d, &mut v, &mut os);

    for q in &d.dns_queries {
        for (needle, cat, w) in DOMAIN_RULES {
            if q.contains(needle) {
                v.vote(*cat, *w, "dns", format!("queries {q}"));
            }
        }
    }
    for (proto, port) in &d.services {
        for (p, pt, c, w) in SERVICE_RULES {
            if p == proto && pt == port {
                v.vote(*c, *w, "service", format!("serves {proto}/{port}"));
            }
        }
    }

    // Behavioural classifier (trained on labelled captures), trusted only for devices whose
    // OUI organisation it has seen for the predicted class.
    if let (Some(forest), Some(org)) = (palisade_classify::embedded_model(), vendor.as_deref())
        && let Some((cls, p)) = forest.predict(&crate::feature_vector(d))
        && let Some(info) = forest.labels.get(cls)
        && p >= CLASSIFIER_MIN_PROBABILITY
        && info.oui_vendors.iter().any(|o| o == org)
    {
        let name = forest.classes.get(cls).map(String::as_str).unwrap_or("?");
        // A radio-module maker's OUI (Espressif, TI...) sits in many unrelated products, so
        // having seen it in training says little: such a vote alone stays below 0.8.
        let cap = if is_module_vendor(org) { 0.5 } else { 0.8 };
        if let Ok(c) = info.category.parse::<Category>() {
            v.vote(
                c,
                (0.8 * p as f64).min(cap),
                "classifier",
                format!(
                    "behaviour matches {name} ({} {}) with p={p:.2}",
                    info.vendor, info.model
                ),
            );
        }
        set_model(0.45 + 0.2 * p as f64, info.model.clone(), &mut model);
    }

    let (mut category, mut confidence) = v.result();
    if router && category != Category::Router {
        // Forwarding for many hosts dominates any product hint.
        category = Category::Router;
        confidence = confidence.max(0.75);
    }
    if category == Category::Unknown && vendor.is_some() {
        // Knowing only the vendor is worth something, but not a category.
        confidence = confidence.max(0.2);
    }
    let mut evidence = v.evidence;
    evidence.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.source.cmp(&b.source))
            .then_with(|| a.detail.cmp(&b.detail))
    });
    evidence.truncate(24);
    Identity {
        vendor,
        category,
        model: model.map(|(_, m)| m),
        os: os.map(|(_, o)| o),
        confidence: (confidence * 1000.0).round() / 1000.0,
        mac_randomized: randomized,
        is_router: router,
        evidence,
    }
}

/// IEEE organisations that make Wi-Fi/Bluetooth modules or chipsets built into many vendors'
/// products (their OUI names the module, not the product).
const MODULE_VENDORS: &[&str] = &[
    "espressif",
    "texas instruments",
    "realtek",
    "mediatek",
    "murata",
    "azurewave",
    "hon hai",
    "universal global scientific",
    "silicon laboratories",
    "microchip",
    "nordic semiconductor",
    "qualcomm",
    "broadcom",
    "marvell",
    "cypress",
    "shenzhen",
    "hui zhou gaoshengda",
    "tuya",
    "beken",
    "wistron neweb",
    "liteon",
    "lite-on",
];

pub(crate) fn is_module_vendor(org: &str) -> bool {
    let o = lc(org);
    MODULE_VENDORS.iter().any(|m| o.contains(m))
}

/// TCP SYN fingerprints against the p0f run-time pack, when loaded. p0f's database knows
/// general-purpose stacks (Linux, Windows, macOS, BSD), so it names an OS family; only the
/// non-Linux families say something about the category, and only weakly.
fn tcp_fingerprints(d: &DeviceState, v: &mut Votes, os: &mut Option<(f64, String)>) {
    let db = palisade_kb::runtime_packs().map(|rt| rt.tcp());
    for sig in &d.syn_signatures {
        let kind = if sig.response { "SYN+ACK" } else { "SYN" };
        let Some((fp, matched, quality)) = db.and_then(|db| db.best_match(sig)) else {
            v.note("tcp", format!("{kind} signature {sig}"), 0.0);
            continue;
        };
        let (how, os_weight) = match quality {
            MatchQuality::Exact => ("exact", 0.3),
            MatchQuality::Generic => ("generic", 0.2),
            MatchQuality::Fuzzy => ("fuzzy", 0.1),
        };
        let detail = format!(
            "{kind} signature {sig} is {} (p0f {how} match of {})",
            fp.label, matched.text
        );
        if fp.label.class == "!" {
            // An application label (a scanner, a crawler), not an OS.
            v.note("kb:tcp", detail, 0.05);
            continue;
        }
        let family = fp.label.name.as_str();
        let hint = match family {
            "Windows" => Some((Category::Computer, 0.3)),
            "Mac OS X" => Some((Category::Computer, 0.25)),
            "iOS" => Some((Category::Phone, 0.25)),
            _ => None,
        };
        match hint {
            Some((c, w)) if quality != MatchQuality::Fuzzy => v.vote(c, w, "kb:tcp", detail),
            _ => v.note("kb:tcp", detail, 0.1),
        }
        set_os(os_weight, fp.label.os(), os);
    }
}

/// User-agent fingerprints from run-time packs (satori), when loaded.
fn runtime_user_agent(ua: &str, v: &mut Votes, os: &mut Option<(f64, String)>) {
    let Some(rt) = palisade_kb::runtime_packs() else {
        return;
    };
    for fp in rt.user_agent(ua, 2) {
        let detail = format!("User-Agent {ua} matches {} ({})", fp.name, fp.source);
        match fp.category {
            Some(c) => v.vote(c, 0.3, "kb:user-agent", detail),
            None => v.note("kb:user-agent", detail, 0.15),
        }
        if let Some(o) = &fp.os {
            set_os(0.35, o.clone(), os);
        }
    }
}

/// Keeps the best-supported value (highest weight, then lexically smallest for determinism).
fn set_model(w: f64, m: String, model: &mut Option<(f64, String)>) {
    let m = m.trim().to_string();
    if m.is_empty() || m.len() > 80 {
        return;
    }
    if model
        .as_ref()
        .is_none_or(|(ow, om)| w > *ow || (w == *ow && m < *om))
    {
        *model = Some((w, m));
    }
}

fn set_os(w: f64, s: String, os: &mut Option<(f64, String)>) {
    let s = s.trim().to_string();
    if s.is_empty() {
        return;
    }
    if os
        .as_ref()
        .is_none_or(|(ow, oo)| w > *ow || (w == *ow && s < *oo))
    {
        *os = Some((w, s));
    }
}

/// "Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0" → "Linux 3.14.0".
fn os_from_server(s: &str) -> Option<String> {
    for tok in s.split_whitespace() {
        let (name, ver) = tok.split_once('/').unwrap_or((tok, ""));
        let l = lc(name);
        let known = match l.as_str() {
            "linux" => "Linux",
            "freertos" => "FreeRTOS",
            "windows" => "Windows",
            "vxworks" => "VxWorks",
            "threadx" => "ThreadX",
            "android" => "Android",
            "ios" => "iOS",
            _ => continue,
        };
        let ver = ver.trim_matches(|c: char| c == ',' || c == ';');
        return Some(if ver.is_empty() {
            known.to_string()
        } else {
            format!("{known} {ver}")
        });
    }
    None
}

fn os_from_user_agent(ua: &str) -> Option<String> {
    let l = lc(ua);
    if let Some(i) = l.find("windows nt ") {
        let ver: String = l[i + 11..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let name = match ver.as_str() {
            "10.0" => "Windows 10/11".to_string(),
            "6.3" => "Windows 8.1".to_string(),
            "6.1" => "Windows 7".to_string(),
            _ => format!("Windows NT {ver}"),
        };
        return Some(name);
    }
    if let Some(i) = l.find("android ") {
        let ver: String = l[i + 8..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        return Some(format!("Android {ver}").trim().to_string());
    }
    if l.contains("iphone os") || l.contains("cpu os") {
        return Some("iOS".into());
    }
    if l.contains("mac os x") {
        return Some("macOS".into());
    }
    if l.contains("tizen") {
        return Some("Tizen".into());
    }
    if l.contains("webos") {
        return Some("webOS".into());
    }
    if l.contains("linux") {
        return Some("Linux".into());
    }
    None
}
