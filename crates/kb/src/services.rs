//! Curated mDNS service type / SSDP type → device category priors.
//!
//! Pack file `data/service-categories.tsv` (format 1): after the header, one line per type,
//! sorted by protocol then type:
//!
//! ```text
//! <protocol: mdns|ssdp><TAB><service type><TAB><coarse class><TAB><category or empty><TAB><typical products>
//! ```
//!
//! `coarse class` is the source table's vocabulary (`media-streamer`, `nas-or-computer`, ...);
//! `category` is its mapping onto [`Category`], left empty where the class is too vague
//! (e.g. `apple-device`, `homekit-accessory`, `generic-web-ui`).

use std::sync::OnceLock;

use crate::Category;
use crate::discovery::normalize_service_type;
use crate::format::{KbError, split_pack};

pub(crate) const PACK: &str = "service-categories";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "service-categories.tsv";
pub(crate) const EMBEDDED: &str = include_str!("../data/service-categories.tsv");

/// Discovery protocol of a service type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceProto {
    /// mDNS / DNS-SD service type such as `_ipp._tcp`.
    Mdns,
    /// SSDP search target / notification type / UPnP device type.
    Ssdp,
}

impl ServiceProto {
    /// `"mdns"` or `"ssdp"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceProto::Mdns => "mdns",
            ServiceProto::Ssdp => "ssdp",
        }
    }
}

/// One row of the service-type table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCategory {
    pub protocol: ServiceProto,
    /// As in the source (`_ipp._tcp`, `urn:schemas-upnp-org:device:MediaRenderer:1`).
    pub service_type: String,
    /// The source's coarse class (`printer`, `media-streamer`, `nas-or-computer`, ...).
    pub coarse: String,
    /// Mapped device category; `None` when the class is too vague to name one.
    pub category: Option<Category>,
    pub typical_products: String,
}

/// Maps the source's coarse classes onto [`Category`] (used by the importer).
pub(crate) fn map_coarse(coarse: &str) -> Result<Option<Category>, ()> {
    use Category::*;
    Ok(match coarse {
        "printer" => Some(Printer),
        // eSCL/_scanner._tcp advertisers on home networks are multifunction printers.
        "scanner" => Some(Printer),
        "media-streamer" => Some(MediaPlayer),
        "smart-tv" => Some(Tv),
        "speaker" => Some(Speaker),
        "voice-assistant" => Some(VoiceAssistant),
        // DLNA renderers: TVs, speakers and AV receivers alike; media_player is the umbrella.
        "smart-tv-or-speaker" => Some(MediaPlayer),
        "av-receiver" => Some(MediaPlayer),
        "router-gateway" => Some(Router),
        "smart-home-hub" => Some(Hub),
        "light" => Some(Light),
        "plug-switch" => Some(SmartPlug),
        "thermostat" => Some(Thermostat),
        "camera" => Some(Camera),
        "sensor" => Some(Sensor),
        // Energy meters and solar monitoring gateways measure and report.
        "energy" => Some(Sensor),
        // ESPHome nodes are mostly sensor boards (same choice as the esphome domain).
        "diy-iot" => Some(Sensor),
        // Too vague to name a category: Apple hosts are phones, computers, TVs and speakers;
        // HomeKit/Matter accessories and Thread border routers can be anything; file/media
        // servers run on NAS boxes, PCs and routers alike; generic hosts and web UIs say nothing.
        "apple-device"
        | "homekit-accessory"
        | "matter-device"
        | "thread-border-router"
        | "smart-home-device"
        | "nas-or-computer"
        | "media-server"
        | "general-host"
        | "generic-web-ui"
        | "generic-upnp"
        | "3d-printer"
        | "ups" => None,
        _ => return Err(()),
    })
}

/// Lower-cases and, for `urn:<domain>:<device|service>:<type>:<version>`, drops the version.
fn ssdp_key(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    if s.starts_with("urn:")
        && s.split(':').count() == 5
        && let Some((head, _version)) = s.rsplit_once(':')
    {
        return head.to_owned();
    }
    s
}

/// The table compiled into the binary.
pub fn service_categories() -> &'static [ServiceCategory] {
    static T: OnceLock<Vec<ServiceCategory>> = OnceLock::new();
    T.get_or_init(|| {
        parse_service_categories(EMBEDDED, "embedded:data/service-categories.tsv")
            .expect("embedded service-categories pack is valid (checked by tests)")
    })
}

/// Parses a service-categories pack.
pub fn parse_service_categories(text: &str, origin: &str) -> Result<Vec<ServiceCategory>, KbError> {
    let (header, lines) = split_pack(text, origin, PACK, FORMAT)?;
    let mut out = Vec::new();
    for (lineno, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let err = |m: String| KbError::parse(origin, lineno, m);
        let [proto, ty, coarse, cat, products] = f[..] else {
            return Err(err(format!(
                "expected 5 tab-separated fields, found {}",
                f.len()
            )));
        };
        let protocol = match proto {
            "mdns" => ServiceProto::Mdns,
            "ssdp" => ServiceProto::Ssdp,
            other => return Err(err(format!("unknown protocol {other:?}"))),
        };
        let category = if cat.is_empty() {
            None
        } else {
            Some(cat.parse::<Category>().map_err(|e| err(e.to_string()))?)
        };
        out.push(ServiceCategory {
            protocol,
            service_type: ty.to_owned(),
            coarse: coarse.to_owned(),
            category,
            typical_products: products.to_owned(),
        });
    }
    if out.len() != header.records {
        return Err(KbError::parse(
            origin,
            1,
            format!(
                "header says {} records, found {}",
                header.records,
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Full table row for a service type. mDNS types are compared after
/// [`normalize_service_type`]; SSDP types case-insensitively, exact first and then
/// ignoring the URN version (`...:MediaRenderer:2` finds the `...:MediaRenderer:1` row).
pub fn service_info(
    protocol: ServiceProto,
    service_type: &str,
) -> Option<&'static ServiceCategory> {
    let table = service_categories();
    let rows = table.iter().filter(move |r| r.protocol == protocol);
    match protocol {
        ServiceProto::Mdns => {
            let want = normalize_service_type(service_type);
            rows.clone()
                .find(|r| normalize_service_type(&r.service_type) == want)
        }
        ServiceProto::Ssdp => {
            let t = service_type.trim();
            rows.clone()
                .find(|r| r.service_type.eq_ignore_ascii_case(t))
                .or_else(|| {
                    let want = ssdp_key(t);
                    rows.clone().find(|r| ssdp_key(&r.service_type) == want)
                })
        }
    }
}

/// Device category prior and typical products for a service type (see [`service_info`]);
/// `None` when the type is unknown or too vague to imply a category.
pub fn service_category(
    protocol: ServiceProto,
    service_type: &str,
) -> Option<(Category, &'static str)> {
    let r = service_info(protocol, service_type)?;
    Some((r.category?, r.typical_products.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdns_lookups() {
        let (c, p) = service_category(ServiceProto::Mdns, "_ipp._tcp.local.").unwrap();
        assert_eq!(c, Category::Printer);
        assert!(p.contains("AirPrint"));
        assert_eq!(
            service_category(ServiceProto::Mdns, "_GOOGLECAST._tcp").map(|x| x.0),
            Some(Category::MediaPlayer)
        );
        assert_eq!(
            service_category(ServiceProto::Mdns, "_hue._tcp").map(|x| x.0),
            Some(Category::Hub)
        );
        // Known but too vague.
        assert!(service_info(ServiceProto::Mdns, "_companion-link._tcp").is_some());
        assert!(service_category(ServiceProto::Mdns, "_companion-link._tcp").is_none());
        assert!(service_category(ServiceProto::Mdns, "_nope._tcp").is_none());
        // Protocols are separate namespaces.
        assert!(service_category(ServiceProto::Ssdp, "_ipp._tcp").is_none());
    }

    #[test]
    fn ssdp_version_insensitive() {
        let r1 = service_category(
            ServiceProto::Ssdp,
            "urn:schemas-upnp-org:device:MediaRenderer:1",
        );
        assert_eq!(r1.map(|x| x.0), Some(Category::MediaPlayer));
        let r3 = service_category(
            ServiceProto::Ssdp,
            "URN:schemas-upnp-org:device:MediaRenderer:3",
        );
        assert_eq!(r1, r3);
        // IGD:2 has its own row; IGD:3 falls back by version.
        assert_eq!(
            service_info(
                ServiceProto::Ssdp,
                "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
            )
            .unwrap()
            .service_type,
            "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
        );
        assert_eq!(
            service_category(
                ServiceProto::Ssdp,
                "urn:schemas-upnp-org:device:InternetGatewayDevice:3"
            )
            .map(|x| x.0),
            Some(Category::Router)
        );
        assert_eq!(
            service_category(ServiceProto::Ssdp, "roku:ecp").map(|x| x.0),
            Some(Category::MediaPlayer)
        );
        assert!(service_category(ServiceProto::Ssdp, "roku:ecp:2").is_none());
        assert!(
            service_category(ServiceProto::Ssdp, "urn:schemas-upnp-org:device:Basic:1").is_none()
        );
    }
}
