//! Home Assistant discovery matchers (DHCP, zeroconf/mDNS, HomeKit, SSDP) joined with the
//! project's curated integration-domain → [`Category`] table.
//!
//! Pack file `data/discovery.tsv` (format 1): after the header, tab-separated lines
//! `<kind><TAB><domain>[<TAB><field>=<value>]...`:
//!
//! ```text
//! integration  hue       name=Philips Hue   iot_class=local_push
//! dhcp         tplink    hostname=hs*       macaddress=50C7BF*
//! zeroconf     apple_tv  type=_airplay._tcp txt:model=appletv*
//! zeroconf     shelly    type=_http._tcp    name=shelly*
//! homekit      lifx      model=LIFX A19
//! ssdp         sonos     st=urn:schemas-upnp-org:device:ZonePlayer:1
//! ```
//!
//! Semantics follow Home Assistant's discovery matching (dhcp, zeroconf and ssdp components):
//! * DHCP: `hostname` is an fnmatch glob on the lower-cased hostname, `macaddress` a glob on
//!   the upper-case 12-hex-digit MAC; every field present must match. HA's
//!   `registered_devices` matchers (no address constraint) are not imported.
//! * zeroconf: `name` is a glob on the lower-cased instance name (HA matches the full name
//!   `instance._type._tcp.local.`; both forms are tried); `txt:KEY` is a glob on the
//!   lower-cased TXT value (keys compared case-insensitively, as RFC 6763 says).
//! * HomeKit: the TXT `md` model is looked up exactly, then its part before the first space,
//!   then before the first `-`; keys with glob characters are case-sensitive globs.
//! * SSDP: every field must equal the SSDP header / description field case-insensitively
//!   (`*` = field present). As an extension for passive capture, a matcher's `st` is also
//!   satisfied by an `nt` field (NOTIFY carries NT where M-SEARCH responses carry ST).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::Category;
use crate::format::{KbError, csv_fields, split_pack};
use crate::glob::{glob_match, is_glob};

pub(crate) const PACK: &str = "ha-discovery";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "discovery.tsv";
pub(crate) const EMBEDDED: &str = include_str!("../data/discovery.tsv");

pub(crate) const CATEGORIES_PACK: &str = "domain-categories";
pub(crate) const CATEGORIES_FORMAT: u32 = 1;
pub(crate) const CATEGORIES_FILE: &str = "domain-categories.csv";
pub(crate) const CATEGORIES_EMBEDDED: &str = include_str!("../data/domain-categories.csv");

/// One Home Assistant integration that a discovery signal points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Home Assistant integration id, e.g. `"hue"`, `"sonos"`.
    pub domain: String,
    /// Display name from `integrations.json`, when it has one.
    pub name: Option<String>,
    /// HA `iot_class` (`local_push`, `cloud_polling`, ...), when known.
    pub iot_class: Option<String>,
    /// Device category from the curated `domain-categories.csv`; `None` when the integration
    /// covers several kinds of device or is not a device at all.
    pub category: Option<Category>,
}

#[derive(Debug, Clone)]
struct DhcpMatcher {
    m: usize,
    hostname: Option<String>,
    mac: Option<String>,
}

#[derive(Debug, Clone)]
struct ZeroconfMatcher {
    m: usize,
    name: Option<String>,
    txt: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct SsdpMatcher {
    m: usize,
    fields: Vec<(String, String)>,
}

/// Counts of imported matchers per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiscoveryCounts {
    pub integrations: usize,
    pub dhcp: usize,
    pub zeroconf: usize,
    pub homekit: usize,
    pub ssdp: usize,
}

impl DiscoveryCounts {
    /// Matchers of all kinds (the pack's record count).
    pub fn matchers(&self) -> usize {
        self.dhcp + self.zeroconf + self.homekit + self.ssdp
    }
}

/// The discovery matcher tables.
#[derive(Debug, Clone)]
pub struct Discovery {
    matches: Vec<Match>,
    by_domain: HashMap<String, usize>,
    dhcp: Vec<DhcpMatcher>,
    /// Normalised service type (`_hue._tcp`) → matchers in source order.
    zeroconf: HashMap<String, Vec<ZeroconfMatcher>>,
    homekit_exact: HashMap<String, usize>,
    homekit_globs: Vec<(String, usize)>,
    ssdp: Vec<SsdpMatcher>,
    counts: DiscoveryCounts,
}

/// Normalises an mDNS service type: lower case, no trailing dot, no `.local` suffix
/// (`"_Hue._tcp.local."` → `"_hue._tcp"`).
pub fn normalize_service_type(s: &str) -> String {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    match s.strip_suffix(".local") {
        Some(t) => t.to_owned(),
        None => s,
    }
}

impl Discovery {
    /// The tables compiled into the binary, parsed on first use.
    pub fn embedded() -> &'static Discovery {
        static D: OnceLock<Discovery> = OnceLock::new();
        D.get_or_init(|| {
            let cats =
                parse_domain_categories(CATEGORIES_EMBEDDED, "embedded:data/domain-categories.csv")
                    .expect("embedded domain-categories pack is valid (checked by tests)");
            Discovery::parse(EMBEDDED, "embedded:data/discovery.tsv", &cats)
                .expect("embedded discovery pack is valid (checked by tests)")
        })
    }

    /// Parses a discovery pack, attaching categories from `categories` (domain → category).
    pub fn parse(
        text: &str,
        origin: &str,
        categories: &HashMap<String, Category>,
    ) -> Result<Discovery, KbError> {
        let (header, lines) = split_pack(text, origin, PACK, FORMAT)?;
        let mut d = Discovery {
            matches: Vec::new(),
            by_domain: HashMap::new(),
            dhcp: Vec::new(),
            zeroconf: HashMap::new(),
            homekit_exact: HashMap::new(),
            homekit_globs: Vec::new(),
            ssdp: Vec::new(),
            counts: DiscoveryCounts::default(),
        };
        type Pending<'t> = (usize, &'t str, &'t str, Vec<(&'t str, &'t str)>);
        let mut pending: Vec<Pending<'_>> = Vec::new();
        for (lineno, line) in lines {
            let mut parts = line.split('\t');
            let kind = parts.next().unwrap_or("");
            let domain = parts.next().filter(|s| !s.is_empty()).ok_or_else(|| {
                KbError::parse(
                    origin,
                    lineno,
                    "expected <kind>\\t<domain>[\\t<field>=<value>]...",
                )
            })?;
            let mut fields = Vec::new();
            for p in parts {
                let kv = p.split_once('=').ok_or_else(|| {
                    KbError::parse(origin, lineno, format!("field without '=': {p:?}"))
                })?;
                fields.push(kv);
            }
            let get = |k: &str| fields.iter().find(|(fk, _)| *fk == k).map(|(_, v)| *v);
            if kind == "integration" {
                if d.by_domain.contains_key(domain) {
                    return Err(KbError::parse(
                        origin,
                        lineno,
                        format!("duplicate integration {domain:?}"),
                    ));
                }
                d.by_domain.insert(domain.to_owned(), d.matches.len());
                d.matches.push(Match {
                    domain: domain.to_owned(),
                    name: get("name").map(str::to_owned),
                    iot_class: get("iot_class").map(str::to_owned),
                    category: categories.get(domain).copied(),
                });
                d.counts.integrations += 1;
            } else {
                pending.push((lineno, kind, domain, fields));
            }
        }
        for (lineno, kind, domain, fields) in pending {
            let m = d.match_index(domain, origin, lineno)?;
            let err = |msg: &str| KbError::parse(origin, lineno, msg);
            let get = |k: &str| fields.iter().find(|(fk, _)| *fk == k).map(|(_, v)| *v);
            match kind {
                "dhcp" => {
                    let hostname = get("hostname").map(str::to_ascii_lowercase);
                    let mac = get("macaddress").map(str::to_ascii_uppercase);
                    if hostname.is_none() && mac.is_none() {
                        return Err(err("dhcp matcher needs hostname= or macaddress="));
                    }
                    d.dhcp.push(DhcpMatcher { m, hostname, mac });
                    d.counts.dhcp += 1;
                }
                "zeroconf" => {
                    let ty = get("type").ok_or_else(|| err("zeroconf matcher needs type="))?;
                    let txt = fields
                        .iter()
                        .filter_map(|(k, v)| {
                            k.strip_prefix("txt:")
                                .map(|k| (k.to_ascii_lowercase(), v.to_lowercase()))
                        })
                        .collect();
                    d.zeroconf
                        .entry(normalize_service_type(ty))
                        .or_default()
                        .push(ZeroconfMatcher {
                            m,
                            name: get("name").map(str::to_lowercase),
                            txt,
                        });
                    d.counts.zeroconf += 1;
                }
                "homekit" => {
                    let model = get("model").ok_or_else(|| err("homekit matcher needs model="))?;
                    if is_glob(model) {
                        d.homekit_globs.push((model.to_owned(), m));
                    } else if d.homekit_exact.insert(model.to_owned(), m).is_some() {
                        return Err(err("duplicate homekit model"));
                    }
                    d.counts.homekit += 1;
                }
                "ssdp" => {
                    if fields.is_empty() {
                        return Err(err("ssdp matcher needs at least one field"));
                    }
                    let fields = fields
                        .iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_lowercase()))
                        .collect();
                    d.ssdp.push(SsdpMatcher { m, fields });
                    d.counts.ssdp += 1;
                }
                other => return Err(err(&format!("unknown matcher kind {other:?}"))),
            }
        }
        if d.counts.matchers() != header.records {
            return Err(KbError::parse(
                origin,
                1,
                format!(
                    "header says {} records, found {} matchers",
                    header.records,
                    d.counts.matchers()
                ),
            ));
        }
        Ok(d)
    }

    fn match_index(&self, domain: &str, origin: &str, line: usize) -> Result<usize, KbError> {
        self.by_domain.get(domain).copied().ok_or_else(|| {
            KbError::parse(
                origin,
                line,
                format!("matcher for {domain:?} without an integration line"),
            )
        })
    }

    fn collect(&self, idx: impl Iterator<Item = usize>) -> Vec<&Match> {
        let mut seen: Vec<usize> = Vec::new();
        for i in idx {
            if !seen.contains(&i) {
                seen.push(i);
            }
        }
        seen.into_iter().map(|i| &self.matches[i]).collect()
    }

    /// Integrations whose DHCP matchers accept this client (hostname from option 12, client MAC).
    pub fn match_dhcp(&self, hostname: Option<&str>, mac: [u8; 6]) -> Vec<&Match> {
        let host = hostname.map(|h| h.trim().to_lowercase());
        let mac_hex: String = mac.iter().map(|b| format!("{b:02X}")).collect();
        self.collect(
            self.dhcp
                .iter()
                .filter(|m| {
                    let host_ok = match (&m.hostname, &host) {
                        (None, _) => true,
                        (Some(p), Some(h)) => glob_match(p, h, true),
                        (Some(_), None) => false,
                    };
                    host_ok
                        && m.mac
                            .as_deref()
                            .is_none_or(|p| glob_match(p, &mac_hex, true))
                })
                .map(|m| m.m),
        )
    }

    /// Integrations whose zeroconf matchers accept this mDNS service instance.
    ///
    /// `service_type` may be given as `_hue._tcp`, `_hue._tcp.local` or `_hue._tcp.local.`;
    /// `instance_name` as the bare instance label or the full service name; `txt` holds the
    /// decoded TXT key/value pairs (the first occurrence of a key wins).
    pub fn match_zeroconf(
        &self,
        service_type: &str,
        instance_name: Option<&str>,
        txt: &[(&str, &str)],
    ) -> Vec<&Match> {
        let ty = normalize_service_type(service_type);
        let Some(matchers) = self.zeroconf.get(&ty) else {
            return Vec::new();
        };
        let names: Vec<String> = instance_name
            .map(|n| {
                let n = n.trim().to_lowercase();
                let full = format!("{n}.{ty}.local.");
                vec![n, full]
            })
            .unwrap_or_default();
        let txt_value = |key: &str| {
            txt.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.to_lowercase())
        };
        self.collect(
            matchers
                .iter()
                .filter(|m| {
                    let name_ok = m
                        .name
                        .as_deref()
                        .is_none_or(|p| names.iter().any(|n| glob_match(p, n, true)));
                    name_ok
                        && m.txt
                            .iter()
                            .all(|(k, p)| txt_value(k).is_some_and(|v| glob_match(p, &v, true)))
                })
                .map(|m| m.m),
        )
    }

    /// The integration for a HomeKit accessory model (TXT `md=` of `_hap._tcp`/`_hap._udp`).
    pub fn match_homekit(&self, model: &str) -> Option<&Match> {
        let candidates = [
            Some(model),
            model.split(' ').next(),
            model.split('-').next(),
        ];
        for key in candidates.into_iter().flatten() {
            if let Some(&m) = self.homekit_exact.get(key) {
                return Some(&self.matches[m]);
            }
        }
        self.homekit_globs
            .iter()
            .find(|(p, _)| glob_match(p, model, false))
            .map(|&(_, m)| &self.matches[m])
    }

    /// Integrations whose SSDP matchers accept a device described by `fields`: SSDP headers
    /// (`st`, `nt`, `usn`, `server`, ...) and description-XML fields (`deviceType`,
    /// `manufacturer`, `modelName`, `modelDescription`, `manufacturerURL`, ...). Field names
    /// are compared case-insensitively; the first occurrence of a name wins.
    pub fn match_ssdp(&self, fields: &[(&str, &str)]) -> Vec<&Match> {
        let value = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.trim().to_lowercase())
        };
        self.collect(
            self.ssdp
                .iter()
                .filter(|m| {
                    m.fields.iter().all(|(k, want)| {
                        let have = value(k).or_else(|| (k == "st").then(|| value("nt")).flatten());
                        match have {
                            None => false,
                            Some(_) if want == "*" => true,
                            Some(v) => v == *want,
                        }
                    })
                })
                .map(|m| m.m),
        )
    }

    /// The integration record for a domain (present when some matcher points to it).
    pub fn integration(&self, domain: &str) -> Option<&Match> {
        self.by_domain.get(domain).map(|&i| &self.matches[i])
    }

    /// All integrations referenced by the matchers, sorted by domain.
    pub fn integrations(&self) -> &[Match] {
        &self.matches
    }

    /// Matcher counts per kind.
    pub fn counts(&self) -> DiscoveryCounts {
        self.counts
    }
}

/// Category of a Home Assistant integration domain from the curated table, if listed.
pub fn domain_category(domain: &str) -> Option<Category> {
    embedded_domain_categories().get(domain).copied()
}

/// The curated domain → category table compiled into the binary.
pub fn embedded_domain_categories() -> &'static HashMap<String, Category> {
    static T: OnceLock<HashMap<String, Category>> = OnceLock::new();
    T.get_or_init(|| {
        parse_domain_categories(CATEGORIES_EMBEDDED, "embedded:data/domain-categories.csv")
            .expect("embedded domain-categories pack is valid (checked by tests)")
    })
}

/// Parses `domain-categories.csv`: pack header, `#` comments, a `domain,category,note`
/// column row, then one row per domain.
pub fn parse_domain_categories(
    text: &str,
    origin: &str,
) -> Result<HashMap<String, Category>, KbError> {
    let (header, lines) = split_pack(text, origin, CATEGORIES_PACK, CATEGORIES_FORMAT)?;
    let mut out = HashMap::new();
    for (lineno, line) in lines {
        let f = csv_fields(line).map_err(|e| KbError::parse(origin, lineno, e))?;
        if f.len() < 2 {
            return Err(KbError::parse(
                origin,
                lineno,
                "expected domain,category,note",
            ));
        }
        if f[0] == "domain" && f[1] == "category" {
            continue;
        }
        let cat: Category = f[1].parse().map_err(|e: crate::ParseCategoryError| {
            KbError::parse(origin, lineno, e.to_string())
        })?;
        if out.insert(f[0].clone(), cat).is_some() {
            return Err(KbError::parse(
                origin,
                lineno,
                format!("duplicate domain {:?}", f[0]),
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oui::parse_mac;

    fn domains(v: Vec<&Match>) -> Vec<&str> {
        v.iter().map(|m| m.domain.as_str()).collect()
    }

    #[test]
    fn dhcp_tplink_plug_from_unsw() {
        let d = Discovery::embedded();
        // UNSW "TP-Link Smart plug" 50:c7:bf:00:56:39 with a Kasa-style hostname.
        let mac = parse_mac("50:c7:bf:00:56:39").unwrap();
        let m = d.match_dhcp(Some("HS110"), mac);
        assert_eq!(domains(m.clone()), vec!["tplink"]);
        assert_eq!(m[0].category, Some(Category::SmartPlug));
        assert_eq!(m[0].name.as_deref(), Some("TP-Link Smart Home"));
        // Hostname required by the matcher: no hostname, no match.
        assert!(d.match_dhcp(None, mac).is_empty());
        assert!(d.match_dhcp(Some("laptop"), mac).is_empty());
    }

    #[test]
    fn dhcp_mac_only_and_case() {
        let d = Discovery::embedded();
        // {"domain": "airzone", "macaddress": "E84F25*"}
        let mac = parse_mac("e8:4f:25:12:34:56").unwrap();
        assert!(domains(d.match_dhcp(None, mac)).contains(&"airzone"));
        // {"domain": "ring", "hostname": "ring*", "macaddress": "0CAE7D*"}
        let ring = d.match_dhcp(
            Some("Ring-Doorbell-ab12"),
            parse_mac("0c:ae:7d:01:02:03").unwrap(),
        );
        assert_eq!(domains(ring.clone()), vec!["ring"]);
        assert_eq!(ring[0].category, Some(Category::Doorbell));
    }

    #[test]
    fn zeroconf_hue_and_shelly() {
        let d = Discovery::embedded();
        let hue = d.match_zeroconf("_hue._tcp.local.", Some("Philips Hue - 1A2B3C"), &[]);
        assert_eq!(domains(hue.clone()), vec!["hue"]);
        assert_eq!(hue[0].category, Some(Category::Hub));
        assert_eq!(hue[0].name.as_deref(), Some("Philips Hue"));
        assert_eq!(
            domains(d.match_zeroconf("_HUE._tcp", None, &[])),
            vec!["hue"]
        );

        let shelly = d.match_zeroconf("_http._tcp.local.", Some("ShellyPlug-S-C8C9A3"), &[]);
        assert_eq!(domains(shelly), vec!["shelly"]);
        assert!(
            d.match_zeroconf("_http._tcp", Some("my-nas"), &[])
                .is_empty()
        );
        // Full-name glob (eheimdigital matches "eheimdigital._http._tcp.local.").
        assert_eq!(
            domains(d.match_zeroconf("_http._tcp", Some("EHEIMdigital"), &[])),
            vec!["eheimdigital"]
        );
        assert!(d.match_zeroconf("_nonexistent._tcp", None, &[]).is_empty());
    }

    #[test]
    fn zeroconf_txt_properties() {
        let d = Discovery::embedded();
        let at = d.match_zeroconf(
            "_airplay._tcp",
            Some("Living Room"),
            &[("model", "AppleTV6,2")],
        );
        assert_eq!(domains(at), vec!["apple_tv"]);
        let sam = d.match_zeroconf("_airplay._tcp", None, &[("Manufacturer", "Samsung")]);
        assert_eq!(domains(sam), vec!["samsungtv"]);
        assert!(
            d.match_zeroconf("_airplay._tcp", None, &[("model", "Sonos")])
                .is_empty()
        );
        // Lutron: upper-case TXT key in HA's data.
        let lu = d.match_zeroconf("_lutron._tcp", None, &[("systype", "SmartBridge2")]);
        assert_eq!(domains(lu), vec!["lutron_caseta"]);
    }

    #[test]
    fn homekit_models() {
        let d = Discovery::embedded();
        assert_eq!(d.match_homekit("BSB002").unwrap().domain, "hue");
        assert_eq!(
            d.match_homekit("LIFX A19").unwrap().category,
            Some(Category::Light)
        );
        assert_eq!(d.match_homekit("EB-STATE5-01").unwrap().domain, "ecobee");
        assert_eq!(d.match_homekit("ecobee3 lite").unwrap().domain, "ecobee");
        assert_eq!(d.match_homekit("Wemo Mini").unwrap().domain, "wemo");
        assert!(
            d.match_homekit("lifx a19").is_none(),
            "HomeKit models are case-sensitive"
        );
        assert!(d.match_homekit("Unknown Widget").is_none());
    }

    #[test]
    fn ssdp_sonos_roku_and_wildcards() {
        let d = Discovery::embedded();
        let s = d.match_ssdp(&[("ST", "urn:schemas-upnp-org:device:ZonePlayer:1")]);
        assert_eq!(domains(s.clone()), vec!["sonos"]);
        assert_eq!(s[0].category, Some(Category::Speaker));
        // NOTIFY carries NT instead of ST.
        let n = d.match_ssdp(&[("nt", "urn:schemas-upnp-org:device:ZonePlayer:1")]);
        assert_eq!(domains(n), vec!["sonos"]);
        // All fields must match.
        let roku = [
            ("st", "roku:ecp"),
            ("deviceType", "urn:roku-com:device:player:1-0"),
            ("manufacturer", "Roku"),
        ];
        assert_eq!(domains(d.match_ssdp(&roku)), vec!["roku"]);
        assert!(d.match_ssdp(&roku[..1]).is_empty());
        // Manufacturer-only matcher, case-insensitive.
        assert_eq!(
            domains(d.match_ssdp(&[("manufacturer", "axis")])),
            vec!["axis"]
        );
        let igd = d.match_ssdp(&[("st", "urn:schemas-upnp-org:device:InternetGatewayDevice:1")]);
        assert_eq!(domains(igd), vec!["upnp"]);
    }

    #[test]
    fn categories_table() {
        assert_eq!(domain_category("sonos"), Some(Category::Speaker));
        assert_eq!(domain_category("cast"), Some(Category::MediaPlayer));
        assert_eq!(domain_category("hue"), Some(Category::Hub));
        assert_eq!(domain_category("xiaomi_miio"), None);
        assert!(embedded_domain_categories().len() >= 100);
        // Every curated domain is referenced by some matcher (no dead rows).
        let d = Discovery::embedded();
        for dom in embedded_domain_categories().keys() {
            assert!(d.integration(dom).is_some(), "{dom} has no matcher");
        }
    }

    #[test]
    fn normalise_types() {
        assert_eq!(normalize_service_type("_Hue._tcp.local."), "_hue._tcp");
        assert_eq!(normalize_service_type("_hue._tcp.local"), "_hue._tcp");
        assert_eq!(normalize_service_type("_hue._tcp"), "_hue._tcp");
    }
}
