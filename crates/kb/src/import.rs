//! Reproducible import of the default knowledge packs from `shared/kb` into the compact
//! formats under `crates/kb/data/`.
//!
//! Output is deterministic: no timestamps, stable ordering, `\n` line endings, so re-running
//! the importer on the same sources yields byte-identical files (checked by a test).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::format::{Header, KbError, csv_fields};
use crate::{defaultcreds, discovery, kev, mirai, oui, services};

/// Records written per pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackCount {
    pub name: String,
    pub file: PathBuf,
    pub records: usize,
}

/// What [`import_default_packs`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub packs: Vec<PackCount>,
    /// Non-fatal observations (e.g. source matchers skipped, curated domains without matchers).
    pub warnings: Vec<String>,
}

struct Source {
    dir: &'static str,
    /// A string PROVENANCE.md must contain: the version this importer was written against.
    provenance_marker: &'static str,
    source: &'static str,
    source_version: &'static str,
    licence: &'static str,
}

const OUI_SRC: Source = Source {
    dir: "oui-ieee",
    provenance_marker: "`oui-data` **2.1.9** (published 2026-08-26)",
    source: "IEEE Registration Authority MA-L/MA-M/MA-S public listing via npm oui-data (shared/kb/oui-ieee/oui-prefixes.tsv)",
    source_version: "oui-data 2.1.9 (2026-08-26)",
    licence: "IEEE public listing (IEEE asserts no copyright); oui-data packaging BSD-2-Clause",
};

const HA_SRC: Source = Source {
    dir: "homeassistant-discovery",
    provenance_marker: "PyPI `homeassistant` **2026.2.3** wheel",
    source: "Home Assistant homeassistant/generated/{dhcp,zeroconf,ssdp}.py and integrations.json (shared/kb/homeassistant-discovery)",
    source_version: "homeassistant 2026.2.3",
    licence: "Apache-2.0",
};

const SVC_SRC: Source = Source {
    dir: "discovery-service-categories",
    provenance_marker: "Compiled for this project (2026-11)",
    source: "Palisade curated mDNS/SSDP type table (shared/kb/discovery-service-categories/service-type-categories.csv)",
    source_version: "2026-11",
    licence: "CC0-1.0 (project-owned)",
};

const MIRAI_SRC: Source = Source {
    dir: "mirai",
    provenance_marker: "4889a6f797237f1d4210839bcefd9f89c57c0770",
    source: "Mirai scanner.c add_auth_entry() pairs, decoded (jgamblin/Mirai-Source-Code; shared/kb/mirai/mirai-credentials.csv)",
    source_version: "4889a6f797237f1d4210839bcefd9f89c57c0770",
    licence: "factual data, no code copied (source repository GPL-3.0)",
};

const DEFCREDS_SRC: Source = Source {
    dir: "default-credentials",
    provenance_marker: "2e48382ff862dbd0f58d5c8276876af1396959bd",
    source: "ihebski/DefaultCreds-cheat-sheet DefaultCreds-Cheat-Sheet.csv + SecLists telnet-betterdefaultpasslist.txt (shared/kb/default-credentials; changeme GPL-3.0 not embedded)",
    source_version: "DefaultCreds 2e48382ff862dbd0f58d5c8276876af1396959bd; SecLists 208d2e430d679a689fa2ba6bb1b51380f3102d97",
    licence: "MIT (both sources)",
};

const KEV_SRC: Source = Source {
    dir: "cisa-kev",
    provenance_marker: "eacf03ec6637cc7be6d3d4ed50785493da5126a2",
    source: "CISA Known Exploited Vulnerabilities catalog (known_exploited_vulnerabilities.json)",
    source_version: "catalogVersion of the feed",
    licence: "CC0-1.0",
};

fn read(path: &Path) -> Result<String, KbError> {
    fs::read_to_string(path).map_err(|e| KbError::io(path, e))
}

fn check_provenance(shared_kb: &Path, src: &Source) -> Result<(), KbError> {
    let path = shared_kb.join(src.dir).join("PROVENANCE.md");
    let text = read(&path)?;
    if text.contains(src.provenance_marker) {
        Ok(())
    } else {
        Err(KbError::Provenance {
            path,
            message: format!(
                "expected it to name {:?}; the source changed, update the importer constants",
                src.provenance_marker
            ),
        })
    }
}

fn header(pack: &str, format_version: u32, src: &Source, records: usize) -> String {
    Header {
        pack: pack.to_owned(),
        format_version,
        source: src.source.to_owned(),
        source_version: src.source_version.to_owned(),
        licence: src.licence.to_owned(),
        records,
    }
    .render()
}

/// A value that goes into a tab-separated pack must not contain control characters.
fn clean<'a>(path: &Path, line: usize, what: &str, v: &'a str) -> Result<&'a str, KbError> {
    if v.chars().any(|c| c.is_control()) {
        return Err(KbError::parse(
            path,
            line,
            format!("{what} contains a control character: {v:?}"),
        ));
    }
    Ok(v)
}

fn write(out_dir: &Path, file: &str, text: &str) -> Result<PathBuf, KbError> {
    let path = out_dir.join(file);
    fs::write(&path, text).map_err(|e| KbError::io(&path, e))?;
    Ok(path)
}

/// Reads the default sources under `shared_kb` (the `shared/kb` directory) and rewrites the
/// embedded pack files in `out_dir` (normally `crates/kb/data`): `oui.tsv`, `discovery.tsv`,
/// `service-categories.tsv`, `mirai-credentials.tsv`, `kev.tsv`, `default-credentials.tsv`. The hand-curated
/// `domain-categories.csv` is not touched.
pub fn import_default_packs(shared_kb: &Path, out_dir: &Path) -> Result<ImportReport, KbError> {
    for src in [
        &OUI_SRC,
        &HA_SRC,
        &SVC_SRC,
        &MIRAI_SRC,
        &KEV_SRC,
        &DEFCREDS_SRC,
    ] {
        check_provenance(shared_kb, src)?;
    }
    fs::create_dir_all(out_dir).map_err(|e| KbError::io(out_dir, e))?;
    let mut report = ImportReport::default();

    let (text, n) = build_oui(&shared_kb.join("oui-ieee/oui-prefixes.tsv"))?;
    let file = write(out_dir, oui::FILE, &text)?;
    report.packs.push(PackCount {
        name: oui::PACK.into(),
        file,
        records: n,
    });

    let (text, n, domains) =
        build_discovery(&shared_kb.join("homeassistant-discovery"), &mut report)?;
    let file = write(out_dir, discovery::FILE, &text)?;
    report.packs.push(PackCount {
        name: discovery::PACK.into(),
        file,
        records: n,
    });
    let curated = discovery::embedded_domain_categories();
    let mut missing: Vec<&String> = curated.keys().filter(|d| !domains.contains(*d)).collect();
    missing.sort();
    for d in missing {
        report.warnings.push(format!(
            "{}: domain {d:?} has no discovery matcher in this import",
            discovery::CATEGORIES_FILE
        ));
    }

    let (text, n) = build_services(
        &shared_kb.join("discovery-service-categories/service-type-categories.csv"),
    )?;
    let file = write(out_dir, services::FILE, &text)?;
    report.packs.push(PackCount {
        name: services::PACK.into(),
        file,
        records: n,
    });

    let (text, n) = build_mirai(&shared_kb.join("mirai/mirai-credentials.csv"))?;
    let file = write(out_dir, mirai::FILE, &text)?;
    report.packs.push(PackCount {
        name: mirai::PACK.into(),
        file,
        records: n,
    });

    let kev_json = shared_kb
        .join(KEV_SRC.dir)
        .join("known_exploited_vulnerabilities.json");
    let (text, _, n) = kev::kev_pack_from_json(&read(&kev_json)?, &kev_json.to_string_lossy())?;
    let file = write(out_dir, kev::FILE, &text)?;
    report.packs.push(PackCount {
        name: kev::PACK.into(),
        file,
        records: n,
    });

    let (text, n) = build_default_credentials(&shared_kb.join(DEFCREDS_SRC.dir), &mut report)?;
    let file = write(out_dir, defaultcreds::FILE, &text)?;
    report.packs.push(PackCount {
        name: defaultcreds::PACK.into(),
        file,
        records: n,
    });
    Ok(report)
}

/// Merges the MIT default-credential lists into one sorted pair table.
fn build_default_credentials(
    dir: &Path,
    report: &mut ImportReport,
) -> Result<(String, usize), KbError> {
    const DC: &str = "defaultcreds-cheat-sheet";
    const SL: &str = "seclists-telnet";
    // (user, password) -> (sources, vendors)
    type Sources<'a> = (BTreeSet<&'a str>, BTreeSet<String>);
    let mut pairs: BTreeMap<(String, String), Sources<'_>> = BTreeMap::new();
    let mut skipped = 0usize;
    let path = dir.join("DefaultCreds-Cheat-Sheet.csv");
    let text = read(&path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "productvendor,username,password")) => {}
        _ => {
            return Err(KbError::parse(
                &path,
                1,
                "expected header productvendor,username,password",
            ));
        }
    }
    for (i, line) in lines {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let f = csv_fields(line).map_err(|e| KbError::parse(&path, n, e))?;
        let [vendor, user, pass] = &f[..] else {
            return Err(KbError::parse(&path, n, "expected 3 fields"));
        };
        let pass = if pass == "<blank>" { "" } else { pass.as_str() };
        let user = if user == "<blank>" { "" } else { user.as_str() };
        if [vendor.as_str(), user, pass]
            .iter()
            .any(|v| v.chars().any(|c| c.is_control()))
            || user.is_empty() && pass.is_empty()
        {
            skipped += 1;
            continue;
        }
        let e = pairs.entry((user.to_owned(), pass.to_owned())).or_default();
        e.0.insert(DC);
        e.1.insert(vendor.trim().to_owned());
    }
    let path = dir.join("seclists/telnet-betterdefaultpasslist.txt");
    let text = read(&path)?;
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let Some((user, pass)) = line.split_once(':') else {
            return Err(KbError::parse(&path, i + 1, "expected user:password"));
        };
        if line.chars().any(|c| c.is_control()) || user.is_empty() && pass.is_empty() {
            skipped += 1;
            continue;
        }
        pairs
            .entry((user.to_owned(), pass.to_owned()))
            .or_default()
            .0
            .insert(SL);
    }
    if skipped > 0 {
        report.warnings.push(format!(
            "default-credentials: {skipped} rows with control characters or no credential skipped"
        ));
    }
    let mut out = header(
        defaultcreds::PACK,
        defaultcreds::FORMAT,
        &DEFCREDS_SRC,
        pairs.len(),
    );
    out.push_str(
        "\n# <username><TAB><password (may be empty)><TAB><sources: defaultcreds-cheat-sheet,seclists-telnet><TAB><up to 3 vendors/products, '; '-separated>; sorted by pair\n",
    );
    for ((user, pass), (sources, vendors)) in &pairs {
        let sources: Vec<&str> = sources.iter().copied().collect();
        let vendors: Vec<&str> = vendors.iter().take(3).map(String::as_str).collect();
        writeln!(
            out,
            "{user}\t{pass}\t{}\t{}",
            sources.join(","),
            vendors.join("; ")
        )
        .expect("write to String");
    }
    Ok((out, pairs.len()))
}

fn build_oui(path: &Path) -> Result<(String, usize), KbError> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "prefix_hex\tprefix_bits\torganization\tcountry")) => {}
        _ => {
            return Err(KbError::parse(
                path,
                1,
                "expected header prefix_hex\\tprefix_bits\\torganization\\tcountry",
            ));
        }
    }
    let mut by_org: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            return Err(KbError::parse(path, n, "expected 4 tab-separated fields"));
        }
        let (prefix, bits, org) = (f[0], f[1], clean(path, n, "organization", f[2].trim())?);
        let ok_hex = prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        let want_len = match bits {
            "24" => 6,
            "28" => 7,
            "36" => 9,
            _ => return Err(KbError::parse(path, n, format!("bad prefix_bits {bits:?}"))),
        };
        if !ok_hex || prefix.len() != want_len {
            return Err(KbError::parse(
                path,
                n,
                format!("prefix {prefix:?} is not {want_len} upper-case hex digits"),
            ));
        }
        if org.is_empty() {
            return Err(KbError::parse(path, n, "empty organization"));
        }
        if !seen.insert(prefix) {
            return Err(KbError::parse(
                path,
                n,
                format!("duplicate prefix {prefix}"),
            ));
        }
        by_org.entry(org).or_default().push(prefix);
    }
    let mut out = String::with_capacity(text.len() / 2);
    out.push_str(&header(oui::PACK, oui::FORMAT, &OUI_SRC, seen.len()));
    out.push_str(
        "\n# <space-separated hex prefixes: 6 = MA-L /24, 7 = MA-M /28, 9 = MA-S /36><TAB><organization>; one line per organization, sorted\n",
    );
    for (org, mut prefixes) in by_org {
        prefixes.sort_unstable();
        out.push_str(&prefixes.join(" "));
        out.push('\t');
        out.push_str(org);
        out.push('\n');
    }
    Ok((out, seen.len()))
}

fn load_json(path: &Path) -> Result<Value, KbError> {
    let text = read(path)?;
    serde_json::from_str(&text).map_err(|e| KbError::Json {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

fn shape(path: &Path, what: &str) -> KbError {
    KbError::Json {
        path: path.to_owned(),
        line: 0,
        column: 0,
        message: format!("unexpected shape: {what}"),
    }
}

fn obj<'a>(v: &'a Value, path: &Path, what: &str) -> Result<&'a Map<String, Value>, KbError> {
    v.as_object()
        .ok_or_else(|| shape(path, &format!("{what} is not an object")))
}

fn arr<'a>(v: &'a Value, path: &Path, what: &str) -> Result<&'a Vec<Value>, KbError> {
    v.as_array()
        .ok_or_else(|| shape(path, &format!("{what} is not an array")))
}

fn string<'a>(v: &'a Value, path: &Path, what: &str) -> Result<&'a str, KbError> {
    let s = v
        .as_str()
        .ok_or_else(|| shape(path, &format!("{what} is not a string")))?;
    if s.chars().any(|c| c.is_control()) {
        return Err(shape(
            path,
            &format!("{what} contains a control character: {s:?}"),
        ));
    }
    Ok(s)
}

fn build_discovery(
    dir: &Path,
    report: &mut ImportReport,
) -> Result<(String, usize, BTreeSet<String>), KbError> {
    let mut lines: Vec<String> = Vec::new();
    let mut domains: BTreeSet<String> = BTreeSet::new();

    // DHCP
    let p = dir.join("dhcp.json");
    let v = load_json(&p)?;
    let mut skipped = 0usize;
    for (i, m) in arr(&v["DHCP"], &p, "DHCP")?.iter().enumerate() {
        let m = obj(m, &p, "DHCP matcher")?;
        let what = format!("DHCP[{i}]");
        let domain = string(m.get("domain").unwrap_or(&Value::Null), &p, &what)?;
        for k in m.keys() {
            if !matches!(
                k.as_str(),
                "domain" | "hostname" | "macaddress" | "registered_devices"
            ) {
                return Err(shape(&p, &format!("{what} has unknown key {k:?}")));
            }
        }
        if m.contains_key("registered_devices") {
            skipped += 1;
            continue;
        }
        let mut line = format!("dhcp\t{domain}");
        for k in ["hostname", "macaddress"] {
            if let Some(val) = m.get(k) {
                write!(line, "\t{k}={}", string(val, &p, &what)?).expect("write to String");
            }
        }
        domains.insert(domain.to_owned());
        lines.push(line);
    }
    report.warnings.push(format!(
        "dhcp.json: {skipped} registered_devices matchers skipped (they need HA's device registry)"
    ));

    // Zeroconf + HomeKit
    let p = dir.join("zeroconf.json");
    let v = load_json(&p)?;
    let mut zc: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ty, list) in obj(&v["ZEROCONF"], &p, "ZEROCONF")? {
        let norm = discovery::normalize_service_type(clean(&p, 0, "service type", ty)?);
        for (i, m) in arr(list, &p, ty)?.iter().enumerate() {
            let m = obj(m, &p, ty)?;
            let what = format!("ZEROCONF[{ty}][{i}]");
            let domain = string(m.get("domain").unwrap_or(&Value::Null), &p, &what)?;
            let mut line = format!("zeroconf\t{domain}\ttype={norm}");
            for k in m.keys() {
                if !matches!(k.as_str(), "domain" | "name" | "properties") {
                    return Err(shape(&p, &format!("{what} has unknown key {k:?}")));
                }
            }
            if let Some(n) = m.get("name") {
                write!(line, "\tname={}", string(n, &p, &what)?).expect("write to String");
            }
            if let Some(props) = m.get("properties") {
                for (k, pv) in obj(props, &p, &what)? {
                    if k.contains(['=', '\t']) {
                        return Err(shape(&p, &format!("{what}: property key {k:?}")));
                    }
                    write!(line, "\ttxt:{k}={}", string(pv, &p, &what)?).expect("write to String");
                }
            }
            domains.insert(domain.to_owned());
            zc.entry(norm.clone()).or_default().push(line);
        }
    }
    lines.extend(zc.into_values().flatten());
    let mut hk: Vec<(String, String)> = Vec::new();
    for (model, m) in obj(&v["HOMEKIT"], &p, "HOMEKIT")? {
        let m = obj(m, &p, model)?;
        let what = format!("HOMEKIT[{model}]");
        let domain = string(m.get("domain").unwrap_or(&Value::Null), &p, &what)?;
        let model = clean(&p, 0, "HomeKit model", model)?;
        domains.insert(domain.to_owned());
        hk.push((
            model.to_owned(),
            format!("homekit\t{domain}\tmodel={model}"),
        ));
    }
    hk.sort();
    lines.extend(hk.into_iter().map(|(_, l)| l));

    // SSDP
    let p = dir.join("ssdp.json");
    let v = load_json(&p)?;
    for (domain, list) in obj(&v["SSDP"], &p, "SSDP")? {
        for (i, m) in arr(list, &p, domain)?.iter().enumerate() {
            let what = format!("SSDP[{domain}][{i}]");
            let m = obj(m, &p, &what)?;
            if m.is_empty() {
                return Err(shape(&p, &format!("{what} is empty")));
            }
            let mut line = format!("ssdp\t{domain}");
            let fields: BTreeMap<&String, &Value> = m.iter().collect();
            for (k, fv) in fields {
                if k.contains(['=', '\t']) {
                    return Err(shape(&p, &format!("{what}: field {k:?}")));
                }
                write!(line, "\t{k}={}", string(fv, &p, &what)?).expect("write to String");
            }
            domains.insert(domain.clone());
            lines.push(line);
        }
    }
    let records = lines.len();

    // Integration display names
    let p = dir.join("integrations.json");
    let v = load_json(&p)?;
    let mut names: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut brand_names: BTreeMap<String, String> = BTreeMap::new();
    let integ = obj(&v["integration"], &p, "integration")?;
    let entry =
        |e: &Map<String, Value>, what: &str| -> Result<(Option<String>, Option<String>), KbError> {
            let name = e.get("name").map(|n| string(n, &p, what)).transpose()?;
            let iot = e
                .get("iot_class")
                .map(|n| string(n, &p, what))
                .transpose()?;
            Ok((name.map(str::to_owned), iot.map(str::to_owned)))
        };
    for (k, e) in integ {
        let e = obj(e, &p, k)?;
        if let Some(nested) = e.get("integrations") {
            if let Some(n) = e.get("name") {
                brand_names.insert(k.clone(), string(n, &p, k)?.to_owned());
            }
            for (nk, ne) in obj(nested, &p, k)? {
                let ne = obj(ne, &p, nk)?;
                let val = entry(ne, nk)?;
                names.entry(nk.clone()).or_insert(val);
            }
        } else {
            let val = entry(e, k)?;
            names.insert(k.clone(), val); // a top-level integration wins over a nested one
        }
    }
    let mut out = String::new();
    out.push_str(&header(
        discovery::PACK,
        discovery::FORMAT,
        &HA_SRC,
        records,
    ));
    out.push_str(
        "\n# <kind><TAB><HA integration domain>[<TAB><field>=<value>]...; kinds: integration, dhcp, zeroconf, homekit, ssdp (semantics: crates/kb/src/discovery.rs)\n",
    );
    for d in &domains {
        let (name, iot) = names.get(d).cloned().unwrap_or((None, None));
        let name = name.or_else(|| brand_names.get(d).cloned());
        let mut line = format!("integration\t{d}");
        if let Some(n) = name {
            write!(line, "\tname={n}").expect("write to String");
        } else {
            report
                .warnings
                .push(format!("integrations.json: no display name for {d:?}"));
        }
        if let Some(i) = iot {
            write!(line, "\tiot_class={i}").expect("write to String");
        }
        out.push_str(&line);
        out.push('\n');
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    Ok((out, records, domains))
}

fn build_services(path: &Path) -> Result<(String, usize), KbError> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "protocol,service_type,category,typical_products,evidence")) => {}
        _ => {
            return Err(KbError::parse(
                path,
                1,
                "expected header protocol,service_type,category,typical_products,evidence",
            ));
        }
    }
    let mut rows: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let f = csv_fields(line).map_err(|e| KbError::parse(path, n, e))?;
        if f.len() != 5 {
            return Err(KbError::parse(
                path,
                n,
                format!("expected 5 fields, found {}", f.len()),
            ));
        }
        let proto = match f[0].as_str() {
            p @ ("mdns" | "ssdp") => p,
            other => {
                return Err(KbError::parse(
                    path,
                    n,
                    format!("unknown protocol {other:?}"),
                ));
            }
        };
        let ty = clean(path, n, "service_type", f[1].trim())?;
        let coarse = clean(path, n, "category", f[2].trim())?;
        let products = clean(path, n, "typical_products", f[3].trim())?;
        let cat = services::map_coarse(coarse).map_err(|()| {
            KbError::parse(
                path,
                n,
                format!(
                    "coarse category {coarse:?} has no mapping; add it to services::map_coarse"
                ),
            )
        })?;
        let cat = cat.map(|c| c.as_str()).unwrap_or("");
        let key = (proto.to_owned(), ty.to_owned());
        let row = format!("{proto}\t{ty}\t{coarse}\t{cat}\t{products}");
        if rows.insert(key, row).is_some() {
            return Err(KbError::parse(
                path,
                n,
                format!("duplicate row for {proto} {ty}"),
            ));
        }
    }
    let mut out = header(services::PACK, services::FORMAT, &SVC_SRC, rows.len());
    out.push_str(
        "\n# <protocol><TAB><service type><TAB><coarse class><TAB><palisade category or empty><TAB><typical products>\n",
    );
    for row in rows.values() {
        out.push_str(row);
        out.push('\n');
    }
    Ok((out, rows.len()))
}

fn build_mirai(path: &Path) -> Result<(String, usize), KbError> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, l)) if l.starts_with("order,username,password,weight") => {}
        _ => {
            return Err(KbError::parse(
                path,
                1,
                "expected header order,username,password,weight,...",
            ));
        }
    }
    let mut out = String::new();
    let mut body = String::new();
    let mut count = 0usize;
    for (i, line) in lines {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let f = csv_fields(line).map_err(|e| KbError::parse(path, n, e))?;
        if f.len() < 4 {
            return Err(KbError::parse(
                path,
                n,
                "expected order,username,password,weight",
            ));
        }
        count += 1;
        if f[0].parse::<usize>().ok() != Some(count) {
            return Err(KbError::parse(
                path,
                n,
                format!("order {:?} out of sequence (expected {count})", f[0]),
            ));
        }
        let user = clean(path, n, "username", &f[1])?;
        let pass = clean(path, n, "password", &f[2])?;
        let weight: u32 = f[3]
            .parse()
            .map_err(|_| KbError::parse(path, n, format!("bad weight {:?}", f[3])))?;
        writeln!(body, "{user}\t{pass}\t{weight}").expect("write to String");
    }
    out.push_str(&header(mirai::PACK, mirai::FORMAT, &MIRAI_SRC, count));
    out.push_str("\n# <username><TAB><password (may be empty)><TAB><weight>; Mirai source order, duplicates kept\n");
    out.push_str(&body);
    Ok((out, count))
}
