//! The compact on-disk vulnerability index (`nvd.idx`).
//!
//! Layout: one `#palisade-kb` header line (pack `nvd-index`, format 1, source, the newest
//! `lastModified` seen, licence, number of CVEs), then a little-endian binary body:
//!
//! ```text
//! "PVIX" u32:1
//! u32 n_strings  u32 offsets[n_strings+1]  bytes blob          interned UTF-8 strings
//! u32 n_cves     n_cves × 24-byte records:                      sorted by CVE id
//!                  u32 id_str  u8 score×10 (255 = none)  u8 cvss version  u16 0
//!                  u32 kev_added (YYYYMMDD or 0)  u32 published (YYYYMMDD)
//!                  u32 cfg_offset  u32 cfg_len
//! u32 cfg_bytes  bytes                                          configurations (varints)
//! u32 n_keys     n_keys × (u32 vendor_str, u32 product_str, u32 first, u32 count)
//!                                                               sorted by (vendor, product) text
//! u32 n_post     u32 cve[n_post]                                postings per key
//! u32 n_wild     u32 cve[n_wild]                                CVEs whose criteria vendor/product are wildcards
//! ```
//!
//! Configurations are encoded as `varint n_configs`, then per configuration a flags byte
//! (bit 0 AND, bit 1 negate) and `varint n_nodes`, per node a flags byte and `varint
//! n_matches`, per match a flags byte (bit 0 vulnerable, bit 1/2 start incl/excl, bit 3/4
//! end incl/excl), a part byte, ten attribute values (`0` ANY, `1` NA, `2+2s` literal
//! string `s`, `3+2s` wildcard pattern in formatted-string form), then the bound strings.
//!
//! Loading reads the file and checks the section table (no per-record decoding), so it
//! takes milliseconds even for the full NVD; configurations are decoded on demand for
//! the candidate CVEs of a query, with every read bounds-checked.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};

use palisade_kb::Header;

use crate::cpe::{ATTRS, Cpe, Part, Value};
use crate::nvd::{Bound, Config, CpeMatch, CveRecord, Cvss, Node, Op};

pub const PACK: &str = "nvd-index";
pub const FORMAT: u32 = 1;
/// File name of the index inside a data directory.
pub const FILE: &str = "nvd.idx";
const MAGIC: &[u8; 4] = b"PVIX";

/// Errors reading an index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad index header: {0}")]
    Header(String),
    #[error("index is corrupt at byte {offset}: {what}")]
    Corrupt { offset: usize, what: &'static str },
}

fn corrupt(offset: usize, what: &'static str) -> IndexError {
    IndexError::Corrupt { offset, what }
}

/// `YYYY-MM-DD…` → `YYYYMMDD` (0 when absent or malformed).
pub fn date_code(s: &str) -> u32 {
    let d: String = s.chars().take(10).filter(|c| c.is_ascii_digit()).collect();
    if d.len() == 8 {
        d.parse().unwrap_or(0)
    } else {
        0
    }
}

/// `YYYYMMDD` → `YYYY-MM-DD`.
pub fn date_string(code: u32) -> Option<String> {
    (code != 0).then(|| {
        format!(
            "{:04}-{:02}-{:02}",
            code / 10_000,
            code / 100 % 100,
            code % 100
        )
    })
}

// ---- builder ----

struct BuiltCve {
    id: u32,
    score: u8,
    cvss_version: u8,
    kev_added: u32,
    published: u32,
    last_modified: String,
    cfg: Vec<u8>,
    keys: Vec<(u32, u32)>,
    wildcard: bool,
}

/// Accumulates CVE records (deduplicated by id, newest `lastModified` wins) and writes the index.
#[derive(Default)]
pub struct IndexBuilder {
    strings: HashMap<Box<str>, u32>,
    list: Vec<Box<str>>,
    cves: Vec<BuiltCve>,
    by_id: HashMap<Box<str>, usize>,
    newest: String,
    /// Records replaced by a newer copy of the same CVE.
    pub replaced: u64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl IndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct CVEs so far.
    pub fn len(&self) -> usize {
        self.cves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cves.is_empty()
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.into());
        self.strings.insert(s.into(), i);
        i
    }

    fn value(&mut self, v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Any => put_varint(out, 0),
            Value::Na => put_varint(out, 1),
            Value::Literal(s) => {
                let i = self.intern(s);
                put_varint(out, 2 + 2 * i as u64);
            }
            Value::Pattern(_) => {
                let i = self.intern(&v.to_formatted());
                put_varint(out, 3 + 2 * i as u64);
            }
        }
    }

    /// Adds one record.
    pub fn add(&mut self, rec: &CveRecord) {
        if rec.last_modified > self.newest {
            self.newest = rec.last_modified.clone();
        }
        if let Some(&i) = self.by_id.get(rec.id.as_str()) {
            if self.cves[i].last_modified > rec.last_modified {
                self.replaced += 1;
                return;
            }
            self.replaced += 1;
            let b = self.build(rec);
            self.cves[i] = b;
            return;
        }
        let b = self.build(rec);
        self.by_id.insert(rec.id.as_str().into(), self.cves.len());
        self.cves.push(b);
    }

    fn build(&mut self, rec: &CveRecord) -> BuiltCve {
        let mut cfg = Vec::new();
        let mut keys = Vec::new();
        let mut wildcard = false;
        put_varint(&mut cfg, rec.configurations.len() as u64);
        for c in &rec.configurations {
            cfg.push(u8::from(c.operator == Op::And) | (u8::from(c.negate) << 1));
            put_varint(&mut cfg, c.nodes.len() as u64);
            for n in &c.nodes {
                cfg.push(u8::from(n.operator == Op::And) | (u8::from(n.negate) << 1));
                put_varint(&mut cfg, n.matches.len() as u64);
                for m in &n.matches {
                    let mut f = u8::from(m.vulnerable);
                    match &m.start {
                        Some(b) if b.inclusive => f |= 2,
                        Some(_) => f |= 4,
                        None => {}
                    }
                    match &m.end {
                        Some(b) if b.inclusive => f |= 8,
                        Some(_) => f |= 16,
                        None => {}
                    }
                    cfg.push(f);
                    cfg.push(m.criteria.part.code());
                    for a in &m.criteria.attrs {
                        self.value(a, &mut cfg);
                    }
                    for b in [&m.start, &m.end].into_iter().flatten() {
                        let i = self.intern(&b.version);
                        put_varint(&mut cfg, i as u64);
                    }
                    if m.vulnerable {
                        match (m.criteria.vendor(), m.criteria.product()) {
                            (Value::Literal(v), Value::Literal(p)) => {
                                let k = (self.intern(v), self.intern(p));
                                if !keys.contains(&k) {
                                    keys.push(k);
                                }
                            }
                            _ => wildcard = true,
                        }
                    }
                }
            }
        }
        BuiltCve {
            id: self.intern(&rec.id),
            score: rec
                .cvss
                .map(|c| (c.score * 10.0).round().clamp(0.0, 100.0) as u8)
                .unwrap_or(255),
            cvss_version: rec.cvss.map(|c| c.version).unwrap_or(0),
            kev_added: rec.kev_added.as_deref().map(date_code).unwrap_or(0),
            published: date_code(&rec.published),
            last_modified: rec.last_modified.clone(),
            cfg,
            keys,
            wildcard,
        }
    }

    /// Serialises the index.
    pub fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let header = Header {
            pack: PACK.into(),
            format_version: FORMAT,
            source: "NVD CVE API 2.0 / JSON 2.0 feeds (this product uses data from the NVD API but is not endorsed or certified by the NVD)".into(),
            source_version: if self.newest.is_empty() {
                "unknown".into()
            } else {
                self.newest.clone()
            },
            licence: "public domain (U.S. Government work)".into(),
            records: self.cves.len(),
        };
        let mut out = Vec::with_capacity(1 << 20);
        out.extend_from_slice(header.render().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&1u32.to_le_bytes());
        let p32 = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_le_bytes());
        // strings
        p32(&mut out, self.list.len() as u32);
        let mut off = 0u32;
        p32(&mut out, 0);
        for s in &self.list {
            off += s.len() as u32;
            p32(&mut out, off);
        }
        for s in &self.list {
            out.extend_from_slice(s.as_bytes());
        }
        // cves, sorted by id text
        let mut order: Vec<usize> = (0..self.cves.len()).collect();
        order.sort_by(|&a, &b| {
            self.list[self.cves[a].id as usize].cmp(&self.list[self.cves[b].id as usize])
        });
        let mut rank = vec![0u32; self.cves.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        p32(&mut out, order.len() as u32);
        let mut cfg_off = 0u32;
        for &i in &order {
            let c = &self.cves[i];
            p32(&mut out, c.id);
            out.push(c.score);
            out.push(c.cvss_version);
            out.extend_from_slice(&0u16.to_le_bytes());
            p32(&mut out, c.kev_added);
            p32(&mut out, c.published);
            p32(&mut out, cfg_off);
            p32(&mut out, c.cfg.len() as u32);
            cfg_off += c.cfg.len() as u32;
        }
        p32(&mut out, cfg_off);
        for &i in &order {
            out.extend_from_slice(&self.cves[i].cfg);
        }
        // keys and postings
        let mut post: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        let mut wild = Vec::new();
        for (i, c) in self.cves.iter().enumerate() {
            for k in &c.keys {
                post.entry(*k).or_default().push(rank[i]);
            }
            if c.wildcard {
                wild.push(rank[i]);
            }
        }
        let mut keys: Vec<((u32, u32), Vec<u32>)> = post.into_iter().collect();
        keys.sort_by(|a, b| {
            let s = |i: u32| &*self.list[i as usize];
            (s(a.0.0), s(a.0.1)).cmp(&(s(b.0.0), s(b.0.1)))
        });
        p32(&mut out, keys.len() as u32);
        let mut first = 0u32;
        for ((v, p), list) in &keys {
            p32(&mut out, *v);
            p32(&mut out, *p);
            p32(&mut out, first);
            p32(&mut out, list.len() as u32);
            first += list.len() as u32;
        }
        p32(&mut out, first);
        for (_, mut list) in keys {
            list.sort_unstable();
            for c in list {
                p32(&mut out, c);
            }
        }
        wild.sort_unstable();
        p32(&mut out, wild.len() as u32);
        for c in wild {
            p32(&mut out, c);
        }
        w.write_all(&out)
    }

    /// Writes the index to `path` atomically (temporary file, then rename).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("idx.tmp");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            self.write_to(&mut f)?;
            f.flush()?;
        }
        std::fs::rename(&tmp, path)
    }
}

// ---- reader ----

/// A loaded index.
pub struct VulnIndex {
    data: Vec<u8>,
    pub header: Header,
    n_strings: usize,
    str_offsets: usize,
    blob: usize,
    blob_len: usize,
    n_cves: usize,
    cves: usize,
    cfg: usize,
    cfg_len: usize,
    n_keys: usize,
    keys: usize,
    n_post: usize,
    post: usize,
    n_wild: usize,
    wild: usize,
    /// Decoded configurations of CVEs queried so far (shared products are decoded once).
    cache: Vec<OnceLock<Arc<Vec<Config>>>>,
    /// cpeMatch entries held in `cache` (capped at [`CACHE_MAX_MATCHES`]).
    cached: AtomicUsize,
}

/// Most decoded cpeMatch entries kept in memory (≈ 100–200 MB at the cap); beyond it
/// configurations are decoded per query.
pub const CACHE_MAX_MATCHES: usize = 500_000;

impl fmt::Debug for VulnIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VulnIndex")
            .field("cves", &self.n_cves)
            .field("bytes", &self.data.len())
            .field("source_version", &self.header.source_version)
            .finish()
    }
}

/// Summary of one CVE in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct CveInfo<'a> {
    pub id: &'a str,
    pub cvss: Option<Cvss>,
    /// NVD's `cisaExploitAdd` as YYYY-MM-DD.
    pub kev_added: Option<String>,
    pub published: Option<String>,
}

/// A CVE that applies to an inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexMatch {
    /// Position in the index (sorted by id).
    pub cve: u32,
    /// Confidence of the weakest inventory CPE the match depends on.
    pub confidence: f32,
}

struct Rd<'a> {
    d: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn u8(&mut self) -> Result<u8, IndexError> {
        let v = *self.d.get(self.pos).ok_or(corrupt(self.pos, "truncated"))?;
        self.pos += 1;
        Ok(v)
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        let b = self
            .d
            .get(self.pos..self.pos + 4)
            .ok_or(corrupt(self.pos, "truncated"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn varint(&mut self) -> Result<u64, IndexError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt(self.pos, "varint too long"))
    }
    fn skip(&mut self, n: usize, what: &'static str) -> Result<usize, IndexError> {
        let start = self.pos;
        let end = start
            .checked_add(n)
            .filter(|e| *e <= self.d.len())
            .ok_or(corrupt(start, what))?;
        self.pos = end;
        Ok(start)
    }
}

fn le32(d: &[u8], at: usize) -> u32 {
    d.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

impl VulnIndex {
    /// Reads and checks an index file.
    pub fn load(path: &Path) -> Result<VulnIndex, IndexError> {
        let data = std::fs::read(path).map_err(|e| IndexError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_bytes(data)
    }

    /// Checks the section table of an index held in memory.
    pub fn from_bytes(data: Vec<u8>) -> Result<VulnIndex, IndexError> {
        let nl = data
            .iter()
            .take(4096)
            .position(|&b| b == b'\n')
            .ok_or_else(|| IndexError::Header("no header line".into()))?;
        let line = std::str::from_utf8(&data[..nl])
            .map_err(|_| IndexError::Header("header is not UTF-8".into()))?;
        let header =
            Header::parse(line, "nvd.idx").map_err(|e| IndexError::Header(e.to_string()))?;
        if header.pack != PACK || header.format_version != FORMAT {
            return Err(IndexError::Header(format!(
                "expected pack {PACK} format {FORMAT}, found {} format {}",
                header.pack, header.format_version
            )));
        }
        let mut r = Rd {
            d: &data,
            pos: nl + 1,
        };
        let m = r.skip(4, "truncated magic")?;
        if &data[m..m + 4] != MAGIC || r.u32()? != 1 {
            return Err(corrupt(m, "bad magic"));
        }
        let n_strings = r.u32()? as usize;
        let str_offsets = r.skip(
            n_strings
                .checked_add(1)
                .and_then(|n| n.checked_mul(4))
                .ok_or(corrupt(r.pos, "string count"))?,
            "string offsets",
        )?;
        let blob_len = le32(&data, str_offsets + 4 * n_strings) as usize;
        let blob = r.skip(blob_len, "string blob")?;
        let n_cves = r.u32()? as usize;
        let cves = r.skip(n_cves.saturating_mul(24), "CVE table")?;
        let cfg_len = r.u32()? as usize;
        let cfg = r.skip(cfg_len, "configurations")?;
        let n_keys = r.u32()? as usize;
        let keys = r.skip(n_keys.saturating_mul(16), "keys")?;
        let n_post = r.u32()? as usize;
        let post = r.skip(n_post.saturating_mul(4), "postings")?;
        let n_wild = r.u32()? as usize;
        let wild = r.skip(n_wild.saturating_mul(4), "wildcards")?;
        if header.records != n_cves {
            return Err(IndexError::Header(format!(
                "header says {} CVEs, body has {n_cves}",
                header.records
            )));
        }
        Ok(VulnIndex {
            data,
            header,
            n_strings,
            str_offsets,
            blob,
            blob_len,
            n_cves,
            cves,
            cfg,
            cfg_len,
            n_keys,
            keys,
            n_post,
            post,
            n_wild,
            wild,
            cache: (0..n_cves).map(|_| OnceLock::new()).collect(),
            cached: AtomicUsize::new(0),
        })
    }

    /// Number of CVEs.
    pub fn len(&self) -> usize {
        self.n_cves
    }

    pub fn is_empty(&self) -> bool {
        self.n_cves == 0
    }

    /// Size of the loaded index in bytes.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn string(&self, i: u32) -> Result<&str, IndexError> {
        let i = i as usize;
        if i >= self.n_strings {
            return Err(corrupt(self.str_offsets, "string index out of range"));
        }
        let a = le32(&self.data, self.str_offsets + 4 * i) as usize;
        let b = le32(&self.data, self.str_offsets + 4 * i + 4) as usize;
        if a > b || b > self.blob_len {
            return Err(corrupt(self.str_offsets + 4 * i, "string offsets"));
        }
        std::str::from_utf8(&self.data[self.blob + a..self.blob + b])
            .map_err(|_| corrupt(self.blob + a, "string is not UTF-8"))
    }

    /// Summary of the CVE at position `i`.
    pub fn info(&self, i: u32) -> Result<CveInfo<'_>, IndexError> {
        let i = i as usize;
        if i >= self.n_cves {
            return Err(corrupt(self.cves, "CVE index out of range"));
        }
        let at = self.cves + 24 * i;
        let d = &self.data;
        let score = d[at + 4];
        Ok(CveInfo {
            id: self.string(le32(d, at))?,
            cvss: (score != 255).then(|| Cvss {
                version: d[at + 5],
                score: f32::from(score) / 10.0,
            }),
            kev_added: date_string(le32(d, at + 8)),
            published: date_string(le32(d, at + 12)),
        })
    }

    /// Position of a CVE by id.
    pub fn find(&self, id: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.n_cves);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let s = self.string(le32(&self.data, self.cves + 24 * mid)).ok()?;
            match s.cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    fn decode_value(&self, r: &mut Rd<'_>) -> Result<Value, IndexError> {
        let v = r.varint()?;
        Ok(match v {
            0 => Value::Any,
            1 => Value::Na,
            _ => {
                let s = self.string(u32::try_from((v - 2) / 2).unwrap_or(u32::MAX))?;
                if v % 2 == 0 {
                    Value::Literal(s.to_owned())
                } else {
                    Value::from_formatted(s)
                }
            }
        })
    }

    /// Decodes the configurations of the CVE at position `i`.
    pub fn configurations(&self, i: u32) -> Result<Vec<Config>, IndexError> {
        let i = i as usize;
        if i >= self.n_cves {
            return Err(corrupt(self.cves, "CVE index out of range"));
        }
        let at = self.cves + 24 * i;
        let off = le32(&self.data, at + 16) as usize;
        let len = le32(&self.data, at + 20) as usize;
        let end = off
            .checked_add(len)
            .filter(|e| *e <= self.cfg_len)
            .ok_or(corrupt(at, "configuration range"))?;
        let d = &self.data[self.cfg + off..self.cfg + end];
        let mut r = Rd { d, pos: 0 };
        let n = r.varint()? as usize;
        let mut configs = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let f = r.u8()?;
            let nn = r.varint()? as usize;
            let mut nodes = Vec::with_capacity(nn.min(64));
            for _ in 0..nn {
                let nf = r.u8()?;
                let nm = r.varint()? as usize;
                let mut matches = Vec::with_capacity(nm.min(256));
                for _ in 0..nm {
                    let mf = r.u8()?;
                    let part =
                        Part::from_code(r.u8()?).ok_or(corrupt(self.cfg + off + r.pos, "part"))?;
                    let mut attrs: [Value; ATTRS] = Default::default();
                    for a in attrs.iter_mut() {
                        *a = self.decode_value(&mut r)?;
                    }
                    let mut bound = |inc: u8, exc: u8| -> Result<Option<Bound>, IndexError> {
                        if mf & (inc | exc) == 0 {
                            return Ok(None);
                        }
                        let s = self.string(u32::try_from(r.varint()?).unwrap_or(u32::MAX))?;
                        Ok(Some(Bound {
                            version: s.to_owned(),
                            inclusive: mf & inc != 0,
                        }))
                    };
                    let start = bound(2, 4)?;
                    let end = bound(8, 16)?;
                    matches.push(CpeMatch {
                        vulnerable: mf & 1 != 0,
                        criteria: Cpe { part, attrs },
                        start,
                        end,
                    });
                }
                nodes.push(Node {
                    operator: if nf & 1 != 0 { Op::And } else { Op::Or },
                    negate: nf & 2 != 0,
                    matches,
                });
            }
            configs.push(Config {
                operator: if f & 1 != 0 { Op::And } else { Op::Or },
                negate: f & 2 != 0,
                nodes,
            });
        }
        Ok(configs)
    }

    /// [`VulnIndex::configurations`] through the decode cache.
    pub fn configurations_cached(&self, i: u32) -> Option<Arc<Vec<Config>>> {
        let slot = self.cache.get(i as usize)?;
        if let Some(c) = slot.get() {
            return Some(c.clone());
        }
        let cfg = Arc::new(self.configurations(i).ok()?);
        let n: usize = cfg
            .iter()
            .flat_map(|c| &c.nodes)
            .map(|n| n.matches.len())
            .sum();
        if self.cached.fetch_add(n, AtomicOrdering::Relaxed) < CACHE_MAX_MATCHES {
            let _ = slot.set(cfg.clone());
        }
        Some(cfg)
    }

    /// CVE positions with a vulnerable criteria naming `vendor`/`product` exactly.
    pub fn candidates(&self, vendor: &str, product: &str) -> Vec<u32> {
        let key = |k: usize| -> Option<(&str, &str)> {
            let at = self.keys + 16 * k;
            Some((
                self.string(le32(&self.data, at)).ok()?,
                self.string(le32(&self.data, at + 4)).ok()?,
            ))
        };
        let (mut lo, mut hi) = (0usize, self.n_keys);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let Some(k) = key(mid) else { return Vec::new() };
            match k.cmp(&(vendor, product)) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let at = self.keys + 16 * mid;
                    let first = le32(&self.data, at + 8) as usize;
                    let count = le32(&self.data, at + 12) as usize;
                    if first.saturating_add(count) > self.n_post {
                        return Vec::new();
                    }
                    return (first..first + count)
                        .map(|p| le32(&self.data, self.post + 4 * p))
                        .collect();
                }
            }
        }
        Vec::new()
    }

    /// All CVEs that apply to the inventory (a set of CPEs with confidences), sorted by
    /// position; configurations that fail to decode are skipped.
    pub fn matches(&self, inventory: &[(Cpe, f32)]) -> Vec<IndexMatch> {
        self.matches_mode(inventory, false)
    }

    /// Like [`VulnIndex::matches`], but inventory CPEs with version ANY satisfy every
    /// version and range (model-only matching).
    pub fn matches_relaxed(&self, inventory: &[(Cpe, f32)]) -> Vec<IndexMatch> {
        self.matches_mode(inventory, true)
    }

    fn matches_mode(&self, inventory: &[(Cpe, f32)], relaxed: bool) -> Vec<IndexMatch> {
        let mut cand: Vec<u32> = Vec::new();
        for (c, _) in inventory {
            if let (Value::Literal(v), Value::Literal(p)) = (c.vendor(), c.product()) {
                cand.extend(self.candidates(v, p));
            }
        }
        if cand.is_empty() {
            return Vec::new();
        }
        cand.extend((0..self.n_wild).map(|k| le32(&self.data, self.wild + 4 * k)));
        cand.sort_unstable();
        cand.dedup();
        let inv: Vec<(&Cpe, f32)> = inventory.iter().map(|(c, w)| (c, *w)).collect();
        cand.into_iter()
            .filter_map(|i| {
                let cfg = self.configurations_cached(i)?;
                crate::nvd::applies_any(&cfg, &inv, relaxed)
                    .map(|confidence| IndexMatch { cve: i, confidence })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_code("2022-04-15"), 20220415);
        assert_eq!(date_code("2019-06-11T21:29:00.350"), 20190611);
        assert_eq!(date_code("bad"), 0);
        assert_eq!(date_string(20220415).as_deref(), Some("2022-04-15"));
    }

    #[test]
    fn corrupt_inputs_error() {
        assert!(VulnIndex::from_bytes(Vec::new()).is_err());
        let mut b = IndexBuilder::new();
        b.add(&CveRecord {
            id: "CVE-1".into(),
            ..CveRecord::default()
        });
        let mut out = Vec::new();
        b.write_to(&mut out).unwrap();
        let ok = VulnIndex::from_bytes(out.clone()).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok.info(0).unwrap().id, "CVE-1");
        for cut in 0..out.len() {
            let _ = VulnIndex::from_bytes(out[..cut].to_vec()).map(|ix| {
                let _ = ix.info(0);
                let _ = ix.configurations(0);
            });
        }
    }
}
