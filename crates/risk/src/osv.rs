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

/// The base of an OSV ecosystem name: `Debian:12` → `Debian` (case-insensitive compare).
fn ecosystem_base(e: &str) -> &str {
    e.split(':').next().unwrap_or(e)
}

/// OSV entries indexed by (ecosystem base, package) for lookups from an SBOM.
#[derive(Debug, Clone, Default)]
pub struct OsvDb {
    entries: Vec<OsvEntry>,
    by_package: std::collections::HashMap<(String, String), Vec<usize>>,
}

impl OsvDb {
    pub fn new(entries: Vec<OsvEntry>) -> OsvDb {
        let mut by_package: std::collections::HashMap<(String, String), Vec<usize>> =
            std::collections::HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_package
                .entry((
                    ecosystem_base(&e.ecosystem).to_ascii_lowercase(),
                    e.package.clone(),
                ))
                .or_default()
                .push(i);
        }
        OsvDb {
            entries,
            by_package,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries affecting `package` at `version` in `ecosystem`. A query without a release
    /// (`Debian`) matches every release of the ecosystem (`Debian:11`, `Debian:12`); one
    /// with a release (`Debian:12`) matches that release and release-less entries.
    pub fn affecting(&self, ecosystem: &str, package: &str, version: &str) -> Vec<&OsvEntry> {
        let key = (
            ecosystem_base(ecosystem).to_ascii_lowercase(),
            package.to_owned(),
        );
        let release = ecosystem.split_once(':').map(|(_, r)| r);
        let mut out: Vec<&OsvEntry> = self
            .by_package
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.entries.get(i))
            .filter(|e| match (release, e.ecosystem.split_once(':')) {
                (Some(want), Some((_, have))) => {
                    have == want || have.strip_prefix(want).is_some_and(|r| r.starts_with(':'))
                }
                _ => true,
            })
            .filter(|e| e.affects(version))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        out
    }
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

    #[test]
    fn db_lookup_by_ecosystem_package_version() {
        let j = r#"[{"id":"DSA-1","affected":[{"package":{"ecosystem":"Debian:12","name":"busybox"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.35.0-4+deb12u2"}]}]}]},
            {"id":"DSA-2","affected":[{"package":{"ecosystem":"Debian:11","name":"busybox"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.30.1-6+deb11u1"}]}]}]}]"#;
        let db = OsvDb::new(parse_osv_json(j).unwrap());
        let ids = |eco, v| -> Vec<String> {
            db.affecting(eco, "busybox", v)
                .iter()
                .map(|e| e.id.clone())
                .collect()
        };
        assert_eq!(ids("Debian:12", "1:1.35.0-4+deb12u1"), ["DSA-1"]);
        assert!(ids("Debian:12", "1:1.35.0-4+deb12u3").is_empty());
        assert_eq!(ids("debian", "1:1.30.1-6"), ["DSA-1", "DSA-2"]);
        assert!(db.affecting("Debian", "dropbear", "1").is_empty());
    }
}
