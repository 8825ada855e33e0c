#![forbid(unsafe_code)]
//! Palisade knowledge packs.
//!
//! The product's default knowledge is imported by [`import_default_packs`] from the
//! reference corpus (`shared/kb`) into compact, versioned text files under
//! `crates/kb/data/`, which are committed and compiled into the binary, so a fresh clone
//! works offline. Only permissively licensed sources are embedded:
//!
//! | pack | file | source | licence |
//! |---|---|---|---|
//! | `oui` | `oui.tsv` | IEEE MA-L/MA-M/MA-S via npm oui-data 2.1.9 | IEEE public listing; BSD-2-Clause packaging |
//! | `ha-discovery` | `discovery.tsv` | Home Assistant 2026.2.3 generated matchers | Apache-2.0 |
//! | `domain-categories` | `domain-categories.csv` | hand-curated by the project | CC0-1.0 |
//! | `service-categories` | `service-categories.tsv` | project-curated type table | CC0-1.0 |
//! | `mirai-credentials` | `mirai-credentials.tsv` | Mirai scanner.c (decoded facts) | facts |
//! | `cisa-kev` | `kev.tsv` | CISA Known Exploited Vulnerabilities catalog | CC0-1.0 |
//! | `default-credentials` | `default-credentials.tsv` | DefaultCreds-cheat-sheet + SecLists telnet list | MIT |
//!
//! Every pack file starts with a `#palisade-kb` header line recording pack name, format
//! version, source, source version, licence and record count (see [`Header`]).
//! Embedded tables are parsed lazily, once, on first use.

mod category;
mod defaultcreds;
mod discovery;
mod format;
mod glob;
mod import;
mod kev;
mod mirai;
mod oui;
pub mod p0f;
mod runtime;
mod services;

pub use category::{Category, ParseCategoryError};
pub use defaultcreds::{
    DefaultCredential, default_credential, default_credential_source, default_credentials,
    parse_default_credentials,
};
pub use discovery::{
    Discovery, DiscoveryCounts, Match, domain_category, embedded_domain_categories,
    normalize_service_type, parse_domain_categories,
};
pub use format::{Header, KbError};
pub use glob::glob_match;
pub use import::{ImportReport, PackCount, import_default_packs};
pub use kev::{KevCatalog, KevEntry, kev_catalog, kev_pack_from_json, parse_kev_pack};
pub use mirai::{Credential, is_mirai_credential, mirai_credentials, parse_mirai_credentials};
pub use oui::{BlockSize, OuiTable, is_locally_administered, is_multicast, parse_mac};
pub use runtime::{
    DhcpFingerprint, Ja4Client, RuntimePacks, default_pack_dirs, import_fingerbank,
    import_ja4_mapping, import_p0f, import_satori_dhcp, import_satori_useragents,
    install_runtime_packs, runtime_packs,
};
pub use services::{
    ServiceCategory, ServiceProto, parse_service_categories, service_categories, service_category,
    service_info,
};

/// Description of one embedded pack, for `palisade kb info`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackInfo {
    pub name: String,
    /// File name under `crates/kb/data/`.
    pub file: String,
    pub format_version: u32,
    pub source: String,
    pub source_version: String,
    pub licence: String,
    pub records: usize,
    /// Size of the embedded file in bytes.
    pub bytes: usize,
}

/// `(file name, contents)` of every embedded pack.
const EMBEDDED_PACKS: [(&str, &str); 7] = [
    (oui::FILE, oui::EMBEDDED),
    (discovery::FILE, discovery::EMBEDDED),
    (discovery::CATEGORIES_FILE, discovery::CATEGORIES_EMBEDDED),
    (services::FILE, services::EMBEDDED),
    (mirai::FILE, mirai::EMBEDDED),
    (kev::FILE, kev::EMBEDDED),
    (defaultcreds::FILE, defaultcreds::EMBEDDED),
];

/// Header information of every embedded pack (cheap: reads only the header lines).
pub fn pack_info() -> Vec<PackInfo> {
    EMBEDDED_PACKS
        .iter()
        .map(|(file, text)| {
            let first = text.lines().next().unwrap_or("");
            let h = Header::parse(first, file).expect("embedded pack headers are valid (tested)");
            PackInfo {
                name: h.pack,
                file: (*file).to_owned(),
                format_version: h.format_version,
                source: h.source,
                source_version: h.source_version,
                licence: h.licence,
                records: h.records,
                bytes: text.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_info_lists_all_packs() {
        let info = pack_info();
        let names: Vec<&str> = info.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "oui",
                "ha-discovery",
                "domain-categories",
                "service-categories",
                "mirai-credentials",
                "cisa-kev",
                "default-credentials"
            ]
        );
        for p in &info {
            assert!(
                !p.licence.is_empty() && !p.source_version.is_empty(),
                "{p:?}"
            );
            assert!(p.records > 0, "{p:?}");
        }
        let total: usize = info.iter().map(|p| p.bytes).sum();
        assert!(
            total < 2 * 1024 * 1024,
            "embedded data {total} B exceeds 2 MiB"
        );
    }
}
