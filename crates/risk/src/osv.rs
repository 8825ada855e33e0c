//! OSV (Open Source Vulnerabilities, schema 1.x) records: import into a compact pack and
//! lookup by (ecosystem, package, version). OSV has no ecosystem for vendor firmware, so
//! this serves distribution packages seen in firmware images or on Linux gateways.
//!
//! Pack file `osv.tsv` (format 1) after the `#palisade-kb` header, one line per affected
//! package: `<id><TAB><aliases,…><TAB><ecosystem><TAB><package><TAB><ranges><TAB><versions>`
//! where `ranges` is `introduced:fixed|introduced:<=last_affected|…` (ECOSYSTEM/SEMVER
//! ranges; `0` = from the beginning, empty end = open) and `versions` is `,`-separated.

use std::collections::BTreeMap;

use serde::Deserialize;

use palisade_kb::Header;

use crate::version;

pub const PACK: &str = "osv";
pub const FORMAT: u32 = 1;
pub const FILE: &str = "osv.tsv";

#[derive(Deserialize)]
struct RawOsv {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    affected: Vec<RawAffected>,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    #[serde(default)]
    ranges: Vec<RawRange>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// One affected package of an OSV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsvEntry {
    pub id: String,
    pub aliases: Vec<String>,
    pub ecosystem: String,
    pub package: String,
    /// `(introduced, end, end_inclusive)`.
    pub ranges: Vec<(String, Option<String>, bool)>,
    pub versions: Vec<String>,
}

impl OsvEntry {
    /// True when `v` is affected.
    pub fn affects(&self, v: &str) -> bool {
        use std::cmp::Ordering::*;
        if self.versions.iter().any(|x| x == v) {
            return true;
        }
        self.ranges.iter().any(|(intro, end, incl)| {
            let after_start = intro == "0" || version::compare(v, intro) != Less;
            let before_end = match end {
                None => true,
                Some(e) => match version::compare(v, e) {
                    Less => true,
                    Equal => *incl,
                    Greater => false,
                },
            };
            after_start && before_end
        })
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '|' || c == ',' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Parses OSV JSON (one record or an array of records) into entries.
pub fn parse_osv_json(text: &str) -> Result<Vec<OsvEntry>, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let records: Vec<RawOsv> = match v {
        serde_json::Value::Array(_) => serde_json::from_value(v)?,
        _ => vec![serde_json::from_value(v)?],
    };
    let mut out = Vec::new();
    for r in records {
        for a in r.affected {
            let Some(p) = a.package else { continue };
            let mut ranges = Vec::new();
            for rg in a
                .ranges
                .iter()
                .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
            {
                let mut intro: Option<String> = None;
                for ev in &rg.events {
                    if let Some(i) = ev.get("introduced") {
                        if let Some(prev) = intro.take() {
                            ranges.push((prev, None, false));
                        }
                        intro = Some(clean(i));
                    } else if let Some(f) = ev.get("fixed") {
                        ranges.push((
                            intro.take().unwrap_or_else(|| "0".into()),
                            Some(clean(f)),
                            false,
                        ));
                    } else if let Some(l) = ev.get("last_affected") {
                        ranges.push((
                            intro.take().unwrap_or_else(|| "0".into()),
                            Some(clean(l)),
                            true,
                        ));
                    }
                }
                if let Some(i) = intro {
                    ranges.push((i, None, false));
                }
            }
            out.push(OsvEntry {
                id: clean(&r.id),
                aliases: r.aliases.iter().map(|a| clean(a)).collect(),
                ecosystem: clean(&p.ecosystem),
                package: clean(&p.name),
                ranges,
                versions: a.versions.iter().map(|v| clean(v)).collect(),
            });
        }
    }
    Ok(out)
}

/// Renders entries as the pack text.
pub fn render_pack(entries: &[OsvEntry], source_version: &str) -> String {
    let mut out = Header {
        pack: PACK.into(),
        format_version: FORMAT,
        source: "OSV JSON records (osv.dev schema 1.x)".into(),
        source_version: source_version.into(),
        licence: "per record source (e.g. CC BY-SA 4.0 for Ubuntu, CC0 for OSV.dev data)".into(),
        records: entries.len(),
    }
    .render();
    out.push_str("\n# <id><TAB><aliases><TAB><ecosystem><TAB><package><TAB><introduced:fixed|introduced:<=last…><TAB><versions>\n");
    for e in entries {
        let ranges: Vec<String> = e
            .ranges
            .iter()
            .map(|(i, end, incl)| {
                format!(
                    "{i}:{}{}",
                    if *incl { "<=" } else { "" },
                    end.as_deref().unwrap_or("")
                )
            })
            .collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            e.id,
            e.aliases.join(","),
            e.ecosystem,
            e.package,
            ranges.join("|"),
            e.versions.join(",")
        ));
    }
    out
}

/// Parses the pack text back.
pub fn parse_pack(text: &str) -> Result<Vec<OsvEntry>, String> {
    let mut lines = text.lines();
    let h = Header::parse(lines.next().unwrap_or(""), FILE).map_err(|e| e.to_string())?;
    if h.pack != PACK || h.format_version != FORMAT {
        return Err(format!("expected pack {PACK} format {FORMAT}"));
    }
    let mut out = Vec::new();
    for (n, l) in lines.enumerate() {
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('\t').collect();
        let [id, aliases, eco, pkg, ranges, versions] = f[..] else {
            return Err(format!("{FILE}:{}: expected 6 fields", n + 2));
        };
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        out.push(OsvEntry {
            id: id.into(),
            aliases: split(aliases),
            ecosystem: eco.into(),
            package: pkg.into(),
            ranges: ranges
                .split('|')
                .filter(|x| !x.is_empty())
                .map(|r| {
                    let (i, e) = r.split_once(':').unwrap_or((r, ""));
                    let (incl, e) = match e.strip_prefix("<=") {
                        Some(e) => (true, e),
                        None => (false, e),
                    };
                    (i.to_owned(), (!e.is_empty()).then(|| e.to_owned()), incl)
                })
                .collect(),
            versions: split(versions),
        });
    }
    if out.len() != h.records {
        return Err(format!(
            "{FILE}: header says {} records, found {}",
            h.records,
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_round_trip() {
        let j = r#"{"id":"X-1","aliases":["CVE-2020-1"],"affected":[{"package":{"ecosystem":"Debian:12","name":"dnsmasq"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.79-1ubuntu0.2"}]}],"versions":["2.70-1"]}]}"#;
        let e = parse_osv_json(j).unwrap();
        assert_eq!(e.len(), 1);
        assert!(e[0].affects("2.78-1"));
        assert!(!e[0].affects("2.80-1"));
        let back = parse_pack(&render_pack(&e, "t")).unwrap();
        assert_eq!(back, e);
        assert!(parse_osv_json("{").is_err());
    }
}
