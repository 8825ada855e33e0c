//! CISA Known Exploited Vulnerabilities (KEV) catalog.
//!
//! Pack file `data/kev.tsv` (format 1): after the header, one line per catalog entry sorted
//! by CVE id: `<cveID><TAB><dateAdded><TAB><dueDate><TAB><ransomware: K|U><TAB><vendorProject><TAB><product><TAB><vulnerabilityName>`.
//! The catalog is CC0-1.0, so it is embedded; `palisade kb import kev FILE` writes a newer
//! catalog in the same format into the data directory, where it takes precedence.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::format::{Header, KbError, split_pack};

pub(crate) const PACK: &str = "cisa-kev";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "kev.tsv";
pub(crate) const EMBEDDED: &str = include_str!("../data/kev.tsv");

/// One KEV entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    pub cve: String,
    /// YYYY-MM-DD.
    pub date_added: String,
    pub due_date: String,
    /// `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
    pub vendor: String,
    pub product: String,
    pub name: String,
}

/// A KEV catalog with lookup by CVE id.
#[derive(Debug, Clone, Default)]
pub struct KevCatalog {
    pub header: Option<Header>,
    pub entries: Vec<KevEntry>,
    by_cve: HashMap<String, usize>,
}

impl KevCatalog {
    fn from_entries(header: Option<Header>, entries: Vec<KevEntry>) -> Self {
        let by_cve = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.cve.clone(), i))
            .collect();
        KevCatalog {
            header,
            entries,
            by_cve,
        }
    }

    /// The entry for a CVE id.
    pub fn get(&self, cve: &str) -> Option<&KevEntry> {
        self.by_cve.get(cve).map(|&i| &self.entries[i])
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Catalog version (from the pack header), e.g. "2025.08.25".
    pub fn version(&self) -> &str {
        self.header
            .as_ref()
            .map(|h| h.source_version.as_str())
            .unwrap_or("")
    }
}

/// The embedded catalog.
pub fn kev_catalog() -> &'static KevCatalog {
    static T: OnceLock<KevCatalog> = OnceLock::new();
    T.get_or_init(|| {
        parse_kev_pack(EMBEDDED, "embedded:data/kev.tsv")
            .expect("embedded KEV pack is valid (checked by tests)")
    })
}

/// Parses a KEV pack (the TSV format above).
pub fn parse_kev_pack(text: &str, origin: &str) -> Result<KevCatalog, KbError> {
    let (header, lines) = split_pack(text, origin, PACK, FORMAT)?;
    let mut out = Vec::new();
    for (lineno, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [cve, added, due, rw, vendor, product, name] = f[..] else {
            return Err(KbError::parse(
                origin,
                lineno,
                "expected 7 tab-separated fields",
            ));
        };
        out.push(KevEntry {
            cve: cve.to_owned(),
            date_added: added.to_owned(),
            due_date: due.to_owned(),
            ransomware: rw == "K",
            vendor: vendor.to_owned(),
            product: product.to_owned(),
            name: name.to_owned(),
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
    Ok(KevCatalog::from_entries(Some(header), out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    catalog_version: String,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    #[serde(default)]
    date_added: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Converts the CISA KEV JSON feed (`known_exploited_vulnerabilities.json`) into the pack
/// text. Returns `(pack text, catalog version, records)`.
pub fn kev_pack_from_json(json: &str, origin: &str) -> Result<(String, String, usize), KbError> {
    let raw: RawCatalog = serde_json::from_str(json).map_err(|e| KbError::Json {
        path: origin.into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut rows: Vec<RawEntry> = raw.vulnerabilities;
    for (i, r) in rows.iter().enumerate() {
        let ok = r.cve_id.starts_with("CVE-")
            && r.cve_id.len() < 32
            && r.cve_id[4..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(KbError::parse(
                origin,
                i + 1,
                format!("entry {i}: bad cveID {:?}", r.cve_id),
            ));
        }
    }
    rows.sort_by(|a, b| a.cve_id.cmp(&b.cve_id));
    rows.dedup_by(|a, b| a.cve_id == b.cve_id);
    let header = Header {
        pack: PACK.into(),
        format_version: FORMAT,
        source:
            "CISA Known Exploited Vulnerabilities catalog (known_exploited_vulnerabilities.json)"
                .into(),
        source_version: one_line(&raw.catalog_version),
        licence: "CC0-1.0".into(),
        records: rows.len(),
    };
    let mut out = header.render();
    out.push_str("\n# <cveID><TAB><dateAdded><TAB><dueDate><TAB><ransomware K|U><TAB><vendorProject><TAB><product><TAB><vulnerabilityName>\n");
    for r in &rows {
        let rw = if r
            .known_ransomware_campaign_use
            .eq_ignore_ascii_case("known")
        {
            "K"
        } else {
            "U"
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{rw}\t{}\t{}\t{}\n",
            r.cve_id,
            one_line(&r.date_added),
            one_line(&r.due_date),
            one_line(&r.vendor_project),
            one_line(&r.product),
            one_line(&r.vulnerability_name)
        ));
    }
    Ok((out, one_line(&raw.catalog_version), rows.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog() {
        let k = kev_catalog();
        assert_eq!(k.len(), 1404);
        assert_eq!(k.version(), "2025.08.25");
        let e = k.get("CVE-2014-0160").expect("Heartbleed is in KEV");
        assert_eq!(e.vendor, "OpenSSL");
        assert!(k.get("CVE-1999-0000").is_none());
    }

    #[test]
    fn json_round_trip() {
        let json = r#"{"catalogVersion":"1","vulnerabilities":[
            {"cveID":"CVE-2020-2","vendorProject":"V","product":"P","vulnerabilityName":"N\tx","dateAdded":"2020-01-01","dueDate":"2020-02-01","knownRansomwareCampaignUse":"Known"},
            {"cveID":"CVE-2020-1","vendorProject":"V","product":"P","vulnerabilityName":"N","dateAdded":"2020-01-01","dueDate":"2020-02-01","knownRansomwareCampaignUse":"Unknown"}]}"#;
        let (text, ver, n) = kev_pack_from_json(json, "t").unwrap();
        assert_eq!((ver.as_str(), n), ("1", 2));
        let c = parse_kev_pack(&text, "t").unwrap();
        assert_eq!(c.entries[0].cve, "CVE-2020-1");
        assert!(c.get("CVE-2020-2").unwrap().ransomware);
        assert!(kev_pack_from_json("{", "t").is_err());
        assert!(
            kev_pack_from_json(
                r#"{"catalogVersion":"1","vulnerabilities":[{"cveID":"x"}]}"#,
                "t"
            )
            .is_err()
        );
    }
}
