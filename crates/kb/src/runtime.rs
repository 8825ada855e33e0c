//! Knowledge packs loaded at run time from a data-pack directory (`--kb DIR`).
//!
//! Copyleft and share-alike sources are never compiled into the binary: satori (GPL-2.0)
//! and the legacy Fingerbank dump (ODbL) are converted by `palisade kb import` into the
//! project's pack format in a directory the user chooses, and read from there.
//! Packs: `dhcp-fingerprints` (option-55 list / vendor class → OS and device type) and
//! `ja4-clients` (JA4 TLS client fingerprint → application/library/device/OS; the JA4 client
//! method is BSD-3, the other JA4+ columns of the source are not imported).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::category::Category;
use crate::format::{Header, KbError, csv_fields, split_pack};
use crate::p0f::TcpDatabase;

pub const DHCP_PACK: &str = "dhcp-fingerprints";
pub const JA4_PACK: &str = "ja4-clients";
pub const UA_PACK: &str = "http-user-agents";
pub const TCP_PACK: &str = "tcp-signatures";
const FORMAT: u32 = 1;

/// One DHCP fingerprint entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpFingerprint {
    /// What the fingerprint names (product or OS).
    pub name: String,
    pub os: Option<String>,
    pub category: Option<Category>,
    /// Pack source, e.g. "satori" or "fingerbank-legacy".
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4Client {
    pub application: Option<String>,
    pub library: Option<String>,
    pub device: Option<String>,
    pub os: Option<String>,
}

/// Everything loaded from a pack directory.
#[derive(Debug, Default)]
pub struct RuntimePacks {
    pub dir: PathBuf,
    prl: HashMap<String, Vec<DhcpFingerprint>>,
    vendor_class: HashMap<String, Vec<DhcpFingerprint>>,
    ja4: HashMap<String, Ja4Client>,
    ua_exact: HashMap<String, DhcpFingerprint>,
    /// (lower-case substring, fingerprint), longest first.
    ua_partial: Vec<(String, DhcpFingerprint)>,
    /// p0f TCP SYN / SYN+ACK signatures, in source order.
    tcp: TcpDatabase,
    /// Headers of the packs read.
    pub headers: Vec<Header>,
}

impl RuntimePacks {
    /// Reads every `*.tsv` pack in `dir` whose pack name this build knows; others are ignored.
    pub fn load_dir(dir: &Path) -> Result<RuntimePacks, KbError> {
        let mut p = RuntimePacks {
            dir: dir.to_path_buf(),
            ..Default::default()
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| KbError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.extension().is_some_and(|x| x == "tsv"))
            .collect();
        files.sort();
        for f in files {
            let meta = std::fs::metadata(&f).map_err(|e| KbError::io(&f, e))?;
            // Packs are small; refuse absurd files instead of reading them into memory.
            if meta.len() > 64 << 20 {
                return Err(KbError::parse(&f, 1, "pack larger than 64 MiB"));
            }
            let text = std::fs::read_to_string(&f).map_err(|e| KbError::io(&f, e))?;
            let origin = f.display().to_string();
            let Ok(h) = Header::parse(text.lines().next().unwrap_or(""), &origin) else {
                continue;
            };
            match h.pack.as_str() {
                DHCP_PACK => p.add_dhcp(&text, &origin)?,
                JA4_PACK => p.add_ja4(&text, &origin)?,
                UA_PACK => p.add_ua(&text, &origin)?,
                TCP_PACK => p.add_tcp(&text, &origin)?,
                _ => continue,
            }
            p.headers.push(h);
        }
        p.ua_partial
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(p)
    }

    fn add_tcp(&mut self, text: &str, origin: &str) -> Result<(), KbError> {
        let (_, lines) = split_pack(text, origin, TCP_PACK, FORMAT)?;
        for (n, line) in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let [dir, label, sig] = f[..] else {
                return Err(KbError::parse(origin, n, "expected 3 tab-separated fields"));
            };
            let response = match dir {
                "request" => false,
                "response" => true,
                _ => {
                    return Err(KbError::parse(
                        origin,
                        n,
                        "direction must be request or response",
                    ));
                }
            };
            let one = format!("[tcp:{dir}]\nlabel = {label}\nsig = {sig}\n");
            let mut db =
                TcpDatabase::parse_p0f_fp(&one).map_err(|(_, m)| KbError::parse(origin, n, m))?;
            let Some(mut fp) = db.fingerprints.pop() else {
                return Err(KbError::parse(origin, n, "empty signature"));
            };
            debug_assert!(fp.signatures.iter().all(|s| s.response == response));
            // Consecutive rows of one label form one fingerprint, keeping p0f's order.
            match self.tcp.fingerprints.last_mut() {
                Some(last) if last.label == fp.label => last.signatures.append(&mut fp.signatures),
                _ => self.tcp.fingerprints.push(fp),
            }
        }
        Ok(())
    }

    /// p0f TCP signatures (empty when the pack is absent).
    pub fn tcp(&self) -> &TcpDatabase {
        &self.tcp
    }

    fn add_ua(&mut self, text: &str, origin: &str) -> Result<(), KbError> {
        let (h, lines) = split_pack(text, origin, UA_PACK, FORMAT)?;
        for (n, line) in lines {
            let (f, fp) = fingerprint_row(line, &h.source, origin, n)?;
            match f[0] {
                "exact" => {
                    self.ua_exact.insert(f[1].to_string(), fp);
                }
                "partial" if f[1].len() >= 3 => {
                    self.ua_partial.push((f[1].to_ascii_lowercase(), fp));
                }
                "partial" => {}
                _ => return Err(KbError::parse(origin, n, "match must be exact or partial")),
            }
        }
        Ok(())
    }

    /// User-agent fingerprints for `ua`: an exact match, else the most specific (longest)
    /// substring matches, at most `max`.
    pub fn user_agent(&self, ua: &str, max: usize) -> Vec<&DhcpFingerprint> {
        if let Some(f) = self.ua_exact.get(ua) {
            return vec![f];
        }
        let l = ua.to_ascii_lowercase();
        self.ua_partial
            .iter()
            .filter(|(pat, _)| l.contains(pat.as_str()))
            .map(|(_, f)| f)
            .take(max)
            .collect()
    }

    fn add_dhcp(&mut self, text: &str, origin: &str) -> Result<(), KbError> {
        let (h, lines) = split_pack(text, origin, DHCP_PACK, FORMAT)?;
        for (n, line) in lines {
            let (f, fp) = fingerprint_row(line, &h.source, origin, n)?;
            let table = match f[0] {
                "prl" => &mut self.prl,
                "vendor" => &mut self.vendor_class,
                _ => return Err(KbError::parse(origin, n, "kind must be prl or vendor")),
            };
            let e = table.entry(f[1].to_string()).or_default();
            if e.len() < 8 {
                e.push(fp);
            }
        }
        Ok(())
    }

    fn add_ja4(&mut self, text: &str, origin: &str) -> Result<(), KbError> {
        let (_, lines) = split_pack(text, origin, JA4_PACK, FORMAT)?;
        for (n, line) in lines {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 5 {
                return Err(KbError::parse(origin, n, "expected 5 tab-separated fields"));
            }
            let opt = |s: &str| Some(s.to_string()).filter(|x| !x.is_empty());
            self.ja4.insert(
                f[0].to_string(),
                Ja4Client {
                    application: opt(f[1]),
                    library: opt(f[2]),
                    device: opt(f[3]),
                    os: opt(f[4]),
                },
            );
        }
        Ok(())
    }

    /// Fingerprints whose option-55 list is exactly `prl` ("1,3,6,15").
    pub fn dhcp_by_prl(&self, prl: &str) -> &[DhcpFingerprint] {
        self.prl.get(prl).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Fingerprints whose option-60 vendor class is exactly `vc`.
    pub fn dhcp_by_vendor_class(&self, vc: &str) -> &[DhcpFingerprint] {
        self.vendor_class.get(vc).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn ja4(&self, ja4: &str) -> Option<&Ja4Client> {
        self.ja4.get(ja4)
    }

    pub fn is_empty(&self) -> bool {
        self.prl.is_empty()
            && self.vendor_class.is_empty()
            && self.ja4.is_empty()
            && self.ua_exact.is_empty()
            && self.ua_partial.is_empty()
            && self.tcp.is_empty()
    }
}

/// Splits a `key\tvalue\tname\tos\tcategory` row of a fingerprint pack.
fn fingerprint_row<'a>(
    line: &'a str,
    source: &str,
    origin: &str,
    n: usize,
) -> Result<(Vec<&'a str>, DhcpFingerprint), KbError> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 5 {
        return Err(KbError::parse(origin, n, "expected 5 tab-separated fields"));
    }
    let fp = DhcpFingerprint {
        name: f[2].to_string(),
        os: Some(f[3].to_string()).filter(|s| !s.is_empty()),
        category: f[4].parse().ok().filter(|c| *c != Category::Unknown),
        source: source.to_string(),
    };
    Ok((f, fp))
}

static INSTALLED: OnceLock<RuntimePacks> = OnceLock::new();

/// Makes packs available to identification for the rest of the process (first call wins).
pub fn install_runtime_packs(p: RuntimePacks) -> bool {
    INSTALLED.set(p).is_ok()
}

pub fn runtime_packs() -> Option<&'static RuntimePacks> {
    INSTALLED.get()
}

/// Where packs are looked for without `--kb`: `$PALISADE_DATA_DIR`, `kb/` next to the
/// executable, then `$XDG_DATA_HOME/palisade` (or `~/.local/share/palisade`).
pub fn default_pack_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("PALISADE_DATA_DIR") {
        v.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(d) = exe.parent()
    {
        v.push(d.join("kb"));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        v.push(PathBuf::from(x).join("palisade"));
    } else if let Some(h) = std::env::var_os("HOME") {
        v.push(PathBuf::from(h).join(".local/share/palisade"));
    }
    v
}

/// Maps device-type words of satori / Fingerbank onto our categories (None when vague).
fn category_of(device_type: &str) -> Option<Category> {
    let t = device_type.to_ascii_lowercase();
    let rules: &[(&str, Category)] = &[
        ("access point", Category::AccessPoint),
        ("router", Category::Router),
        ("printer", Category::Printer),
        ("scanner", Category::Printer),
        ("camera", Category::Camera),
        ("physical security", Category::Camera),
        ("game", Category::GameConsole),
        ("storage", Category::Nas),
        ("nas", Category::Nas),
        ("smart tv", Category::Tv),
        ("smartphone", Category::Phone),
        ("voip", Category::Phone),
        ("thermostat", Category::Thermostat),
        ("audio/video", Category::MediaPlayer),
        ("media", Category::MediaPlayer),
        ("windows", Category::Computer),
        ("macintosh", Category::Computer),
    ];
    rules.iter().find(|(k, _)| t.contains(k)).map(|(_, c)| *c)
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ").trim().to_string()
}

fn write_pack(out: &Path, file: &str, header: Header, rows: Vec<String>) -> Result<usize, KbError> {
    std::fs::create_dir_all(out).map_err(|e| KbError::io(out, e))?;
    let mut text = header.render();
    text.push('\n');
    for r in &rows {
        text.push_str(r);
        text.push('\n');
    }
    let p = out.join(file);
    std::fs::write(&p, text).map_err(|e| KbError::io(&p, e))?;
    Ok(rows.len())
}

/// Imports the legacy Fingerbank `dhcp_fingerprints.conf` (ODbL) into `out/dhcp-fingerbank.tsv`.
pub fn import_fingerbank(conf: &Path, out: &Path) -> Result<usize, KbError> {
    let text = std::fs::read_to_string(conf).map_err(|e| KbError::io(conf, e))?;
    let version = text
        .lines()
        .find_map(|l| l.split("Version").nth(1).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    // Classes: id range → description.
    let mut classes: Vec<(u32, u32, String)> = Vec::new();
    let mut rows = Vec::new();
    let (mut section, mut desc, mut members) = (String::new(), String::new(), String::new());
    let mut block: Option<&str> = None;
    let mut prls: Vec<String> = Vec::new();
    let mut vendors: Vec<String> = Vec::new();
    let flush = |section: &str,
                 desc: &str,
                 members: &str,
                 prls: &mut Vec<String>,
                 vendors: &mut Vec<String>,
                 classes: &mut Vec<(u32, u32, String)>,
                 rows: &mut Vec<(u32, String, String, String)>| {
        if section.starts_with("class ") {
            if let Some((a, b)) = members.split_once('-')
                && let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse())
            {
                classes.push((a, b, desc.to_string()));
            }
        } else if let Some(id) = section.strip_prefix("os ")
            && let Ok(id) = id.trim().parse::<u32>()
        {
            for p in prls.drain(..) {
                rows.push((id, "prl".into(), p, desc.to_string()));
            }
            for v in vendors.drain(..) {
                rows.push((id, "vendor".into(), v, desc.to_string()));
            }
        }
        prls.clear();
        vendors.clear();
    };
    let mut raw_rows: Vec<(u32, String, String, String)> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(b) = block {
            if l == "EOT" {
                block = None;
            } else if !l.is_empty() && !l.starts_with('#') {
                if b == "fingerprints" {
                    prls.push(l.replace(' ', ""));
                } else {
                    vendors.push(clean(l));
                }
            }
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            flush(
                &section,
                &desc,
                &members,
                &mut prls,
                &mut vendors,
                &mut classes,
                &mut raw_rows,
            );
            section = l[1..l.len() - 1].to_string();
            desc.clear();
            members.clear();
        } else if let Some(d) = l.strip_prefix("description=") {
            desc = clean(d);
        } else if let Some(m) = l.strip_prefix("members=") {
            members = m.to_string();
        } else if l.starts_with("fingerprints=<<EOT") {
            block = Some("fingerprints");
        } else if l.starts_with("vendor_id=<<EOT") {
            block = Some("vendor_id");
        }
    }
    flush(
        &section,
        &desc,
        &members,
        &mut prls,
        &mut vendors,
        &mut classes,
        &mut raw_rows,
    );
    for (id, kind, value, name) in raw_rows {
        let class = classes
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&id))
            .map(|(_, _, d)| d.as_str())
            .unwrap_or("");
        let cat = category_of(class).map(|c| c.as_str()).unwrap_or("unknown");
        let os = if ["Windows", "Macintosh", "Linux", "BSD", "Solaris"].contains(&class) {
            name.clone()
        } else {
            String::new()
        };
        rows.push(format!("{kind}\t{value}\t{name}\t{os}\t{cat}"));
    }
    rows.sort();
    rows.dedup();
    let header = Header {
        pack: DHCP_PACK.into(),
        format_version: FORMAT,
        source: "fingerbank-legacy (PacketFence dhcp_fingerprints.conf)".into(),
        source_version: version,
        licence:
            "ODbL-1.0 (database) / DbCL-1.0 (contents) — share-alike: run-time pack, never embedded"
                .into(),
        records: rows.len(),
    };
    write_pack(out, "dhcp-fingerbank.tsv", header, rows)
}

/// Value of `name="..."` in an XML start tag (entities for &amp; &quot; &lt; &gt; &apos;).
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    Some(
        tag[i..j]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Walks a satori fingerprint XML file line by line, calling `test` with the current
/// fingerprint's "name\tos\tcategory" columns and each `<test .../>` tag.
fn walk_satori(xml: &Path, mut test: impl FnMut(&str, &str)) -> Result<(), KbError> {
    let text = std::fs::read_to_string(xml).map_err(|e| KbError::io(xml, e))?;
    let mut fp = String::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with("<fingerprint ") {
            let name = clean(&attr(l, "name").unwrap_or_default());
            if name.is_empty() {
                return Err(KbError::parse(xml, n + 1, "fingerprint without a name"));
            }
            let os = clean(&attr(l, "os_name").unwrap_or_default());
            let dt = attr(l, "device_type").unwrap_or_default();
            let cat = category_of(&dt).map(|c| c.as_str()).unwrap_or("unknown");
            fp = format!("{name}\t{os}\t{cat}");
        } else if l.starts_with("<test ") && !fp.is_empty() {
            test(&fp, l);
        }
    }
    Ok(())
}

/// Imports satori `dhcp.xml` (GPL-2.0) exact option-55 and vendor-class tests into
/// `out/dhcp-satori.tsv`.
pub fn import_satori_dhcp(xml: &Path, out: &Path) -> Result<usize, KbError> {
    let mut rows = Vec::new();
    walk_satori(xml, |fp, test| {
        if attr(test, "matchtype").as_deref() != Some("exact") {
            return;
        }
        if let Some(p) = attr(test, "dhcpoption55") {
            rows.push(format!("prl\t{}\t{fp}", p.replace(' ', "")));
        }
        if let Some(v) = attr(test, "dhcpvendorcode") {
            rows.push(format!("vendor\t{}\t{fp}", clean(&v)));
        }
    })?;
    rows.sort();
    rows.dedup();
    let header = Header {
        pack: DHCP_PACK.into(),
        format_version: FORMAT,
        source: "satori fingerprints/dhcp.xml".into(),
        source_version: "xnih/satori 73fa88fe (2025-12-23)".into(),
        licence: "GPL-2.0 — run-time pack, never embedded".into(),
        records: rows.len(),
    };
    write_pack(out, "dhcp-satori.tsv", header, rows)
}

/// Imports satori `webuseragent.xml` (GPL-2.0) user-agent tests into `out/http-user-agents.tsv`.
pub fn import_satori_useragents(xml: &Path, out: &Path) -> Result<usize, KbError> {
    let mut rows = Vec::new();
    walk_satori(xml, |fp, test| {
        if let (Some(m), Some(ua)) = (attr(test, "matchtype"), attr(test, "webuseragent"))
            && (m == "exact" || m == "partial")
        {
            rows.push(format!("{m}\t{}\t{fp}", clean(&ua)));
        }
    })?;
    rows.sort();
    rows.dedup();
    let header = Header {
        pack: UA_PACK.into(),
        format_version: FORMAT,
        source: "satori fingerprints/webuseragent.xml".into(),
        source_version: "xnih/satori 73fa88fe (2025-12-23)".into(),
        licence: "GPL-2.0 — run-time pack, never embedded".into(),
        records: rows.len(),
    };
    write_pack(out, "http-user-agents.tsv", header, rows)
}

/// Imports the JA4 (TLS client, BSD-3) column of FoxIO's `ja4plus-mapping.csv` into
/// `out/ja4-clients.tsv`. The JA4+ columns (FoxIO licence) are not imported.
pub fn import_ja4_mapping(csv: &Path, out: &Path) -> Result<usize, KbError> {
    let text = std::fs::read_to_string(csv).map_err(|e| KbError::io(csv, e))?;
    let mut lines = text.lines().enumerate();
    let header_line = lines.next().map(|(_, l)| l).unwrap_or("");
    let cols = csv_fields(header_line).map_err(|m| KbError::parse(csv, 1, m))?;
    let idx = |name: &str| cols.iter().position(|c| c == name);
    let (Some(app), Some(lib), Some(dev), Some(os), Some(ja4)) = (
        idx("Application"),
        idx("Library"),
        idx("Device"),
        idx("OS"),
        idx("ja4"),
    ) else {
        return Err(KbError::parse(
            csv,
            1,
            "missing Application/Library/Device/OS/ja4 columns",
        ));
    };
    let mut rows = Vec::new();
    for (n, line) in lines {
        let f = csv_fields(line).map_err(|m| KbError::parse(csv, n + 1, m))?;
        let get = |i: usize| clean(f.get(i).map(String::as_str).unwrap_or(""));
        let j = get(ja4);
        if j.is_empty() {
            continue;
        }
        rows.push(format!(
            "{j}\t{}\t{}\t{}\t{}",
            get(app),
            get(lib),
            get(dev),
            get(os)
        ));
    }
    rows.sort();
    rows.dedup_by(|a, b| a.split('\t').next() == b.split('\t').next());
    let header = Header {
        pack: JA4_PACK.into(),
        format_version: FORMAT,
        source: "FoxIO ja4plus-mapping.csv (JA4 client column only)".into(),
        source_version: "FoxIO-LLC/ja4 0e54bc83 (2026-06-19)".into(),
        licence: "BSD-3-Clause (JA4 method); file distributed under FoxIO 1.1 — run-time pack"
            .into(),
        records: rows.len(),
    };
    write_pack(out, "ja4-clients.tsv", header, rows)
}

/// Imports the TCP sections of p0f's `p0f.fp` (LGPL-2.1) into `out/tcp-p0f.tsv`, one row per
/// signature in the source's order (which is p0f's match order).
pub fn import_p0f(fp: &Path, out: &Path) -> Result<usize, KbError> {
    let text = std::fs::read_to_string(fp).map_err(|e| KbError::io(fp, e))?;
    let db = TcpDatabase::parse_p0f_fp(&text).map_err(|(n, m)| KbError::parse(fp, n, m))?;
    let mut rows = Vec::new();
    for f in &db.fingerprints {
        for s in &f.signatures {
            let dir = if s.response { "response" } else { "request" };
            rows.push(format!("{dir}\t{}\t{}", f.label, s.text));
        }
    }
    let header = Header {
        pack: TCP_PACK.into(),
        format_version: FORMAT,
        source: "p0f.fp [tcp:request] and [tcp:response] (Debian package p0f)".into(),
        source_version: "p0f 3.09b (Debian 3.09b-3, file dated 2016-04-16)".into(),
        licence: "LGPL-2.1 — run-time pack".into(),
        records: rows.len(),
    };
    write_pack(out, "tcp-p0f.tsv", header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_kb() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kb");
        p.is_dir().then_some(p).or_else(|| {
            eprintln!("skipping: ../shared/kb not found");
            None
        })
    }

    #[test]
    fn imports_and_loads_real_sources() {
        let Some(kb) = shared_kb() else { return };
        let out = std::env::temp_dir().join(format!("palisade-rt-{}", std::process::id()));
        let n = import_fingerbank(
            &kb.join("fingerbank-legacy-dhcp/dhcp_fingerprints.conf"),
            &out,
        )
        .unwrap();
        assert!(n > 500, "{n}");
        let n = import_satori_dhcp(&kb.join("satori/dhcp.xml"), &out).unwrap();
        assert!(n > 700, "{n}");
        let n = import_ja4_mapping(&kb.join("ja4plus/ja4plus-mapping.csv"), &out).unwrap();
        assert!((20..=40).contains(&n), "{n}");
        let n = import_satori_useragents(&kb.join("satori/webuseragent.xml"), &out).unwrap();
        assert!(n > 3000, "{n}");
        let n = import_p0f(&kb.join("p0f/p0f.fp"), &out).unwrap();
        assert_eq!(n, 192, "91 request + 101 response signatures");
        let p = RuntimePacks::load_dir(&out).unwrap();
        assert_eq!(p.headers.len(), 5);
        // The pack reloads into the same database, in p0f's order.
        let direct =
            TcpDatabase::parse_p0f_fp(&std::fs::read_to_string(kb.join("p0f/p0f.fp")).unwrap())
                .unwrap();
        assert_eq!(p.tcp(), &direct);
        // satori's Echo Dot user-agent test is a substring match.
        assert!(
            p.user_agent(
                "Dalvik/2.1.0 (Linux; U; Android 7.1.2; Echo_Dot Build/NS6264)",
                3
            )
            .iter()
            .any(|f| f.name == "Amazon Echo Dot")
        );
        // Windows 98SE's list from the Fingerbank dump.
        assert!(
            p.dhcp_by_prl("15,3,6,44,46,47,43,77")
                .iter()
                .any(|f| f.name.contains("Windows"))
        );
        // JA4 of Chromium from the FoxIO mapping.
        assert_eq!(
            p.ja4("t13d1516h2_8daaf6152771_02713d6af862")
                .and_then(|c| c.application.clone())
                .as_deref(),
            Some("Chromium Browser")
        );
        // Re-import is byte-identical (reproducible).
        let first = std::fs::read(out.join("dhcp-satori.tsv")).unwrap();
        import_satori_dhcp(&kb.join("satori/dhcp.xml"), &out).unwrap();
        assert_eq!(first, std::fs::read(out.join("dhcp-satori.tsv")).unwrap());
        let _ = std::fs::remove_dir_all(out);
    }

    #[test]
    fn malformed_packs_are_errors_not_panics() {
        let out = std::env::temp_dir().join(format!("palisade-rt-bad-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            out.join("x.tsv"),
            "#palisade-kb\tpack=dhcp-fingerprints\tformat=1\tsource=s\tsource_version=v\tlicence=l\trecords=1\nprl\tonly-two\n",
        )
        .unwrap();
        assert!(RuntimePacks::load_dir(&out).is_err());
        std::fs::write(out.join("x.tsv"), "not a pack at all").unwrap();
        assert!(RuntimePacks::load_dir(&out).unwrap().is_empty());
        assert!(RuntimePacks::load_dir(&out.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(out);
    }
}
