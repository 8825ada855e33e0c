//! Streaming importers: NVD CVE JSON 2.0 feeds into an [`IndexBuilder`].
//!
//! Accepted inputs (plain, gzip or xz; detected by magic bytes):
//! * an NVD API 2.0 response / yearly feed: `{…, "vulnerabilities": [{"cve": {…}}, …]}`;
//! * the fkie-cad `CVE-all.json` shape: `{…, "cve_items": [{…cve…}, …]}`;
//! * a JSON array of either element shape;
//! * a single `cve` object (the per-CVE files).
//!
//! Records are deserialised one at a time from a buffered reader, so memory stays bounded
//! by the size of the index being built, not by the input (hundreds of MB per feed).

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::index::IndexBuilder;
use crate::nvd::RawCve;

/// Largest single input accepted after decompression (a yearly feed is < 1 GiB).
pub const MAX_INPUT_BYTES: u64 = 16 << 30;

/// Errors of the importers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed or has an unexpected shape (line/column of the JSON text).
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
}

/// Counters of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportStats {
    pub files: usize,
    pub records: u64,
    /// `criteria` strings that are not valid CPE 2.3 (dropped from their node).
    pub bad_cpes: u64,
    /// Input bytes read (compressed size for compressed files).
    pub bytes: u64,
}

/// Opens a file and transparently decompresses gzip or xz; the returned reader counts
/// the *compressed* bytes consumed into `counter` for progress reporting.
pub fn open_maybe_compressed(
    path: &Path,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Box<dyn BufRead>, ImportError> {
    let io = |e| ImportError::Io {
        path: path.to_owned(),
        source: e,
    };
    let f = File::open(path).map_err(io)?;
    let mut raw = BufReader::with_capacity(1 << 16, Counting { inner: f, counter });
    let magic = raw.fill_buf().map_err(io)?.to_vec();
    if magic.starts_with(&[0x1f, 0x8b]) {
        let d = flate2::bufread::MultiGzDecoder::new(raw);
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            d.take(MAX_INPUT_BYTES),
        )))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            crate::decompress::xz_reader(raw).take(MAX_INPUT_BYTES),
        )))
    } else {
        Ok(Box::new(raw))
    }
}

struct Counting<R> {
    inner: R,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Imports NVD JSON files into `builder`. `progress(bytes_done)` is called every few
/// hundred records with the number of input bytes consumed over all files.
pub fn import_nvd_files(
    files: &[PathBuf],
    builder: &mut IndexBuilder,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportStats, ImportError> {
    let mut stats = ImportStats::default();
    let mut done = 0u64;
    for path in files {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reader = open_maybe_compressed(path, counter.clone())?;
        let mut cb = |n: u64| progress(done + n);
        import_nvd_reader(reader, path, builder, &mut stats, &counter, &mut cb)?;
        let n = counter.load(std::sync::atomic::Ordering::Relaxed);
        done += n;
        stats.bytes += n;
        stats.files += 1;
        progress(done);
    }
    Ok(stats)
}

/// Imports one NVD JSON document from a reader.
pub fn import_nvd_reader(
    reader: impl Read,
    path: &Path,
    builder: &mut IndexBuilder,
    stats: &mut ImportStats,
    counter: &std::sync::atomic::AtomicU64,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    let mut sink = Sink {
        builder,
        stats,
        counter,
        progress,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let json_err = |e: serde_json::Error| ImportError::Json {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let found = Document { sink: &mut sink }
        .deserialize(&mut de)
        .map_err(json_err)?;
    de.end().map_err(json_err)?;
    if !found {
        return Err(ImportError::Format {
            path: path.to_owned(),
            message: "no CVE records found (expected an NVD CVE JSON 2.0 document: \
                      \"vulnerabilities\": [{\"cve\": …}], \"cve_items\": […] or a single cve object)"
                .into(),
        });
    }
    Ok(())
}

struct Sink<'a> {
    builder: &'a mut IndexBuilder,
    stats: &'a mut ImportStats,
    counter: &'a std::sync::atomic::AtomicU64,
    progress: &'a mut dyn FnMut(u64),
}

impl Sink<'_> {
    fn add(&mut self, raw: RawCve) {
        let rec = raw.into_record(&mut self.stats.bad_cpes);
        self.builder.add(&rec);
        self.stats.records += 1;
        if self.stats.records.is_multiple_of(512) {
            (self.progress)(self.counter.load(std::sync::atomic::Ordering::Relaxed));
        }
    }
}

/// The top-level document; yields `true` when any record was found.
struct Document<'s, 'a> {
    sink: &'s mut Sink<'a>,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an NVD CVE JSON 2.0 document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        let mut single = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "vulnerabilities" => {
                    found |= map.next_value_seed(Records {
                        sink: &mut *self.sink,
                        shape: Shape::Wrapped,
                    })?;
                }
                "cve_items" | "CVE_Items" | "cves" => {
                    found |= map.next_value_seed(Records {
                        sink: &mut *self.sink,
                        shape: Shape::Bare,
                    })?;
                }
                // A single cve object: keep its (small) fields.
                "id" | "configurations" | "metrics" | "published" | "lastModified"
                | "cisaExploitAdd" | "cve" => {
                    let v: serde_json::Value = map.next_value()?;
                    single.insert(key, v);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(inner) = single.remove("cve") {
            let raw = RawCve::deserialize(inner).map_err(serde::de::Error::custom)?;
            self.sink.add(raw);
            found = true;
        } else if single.contains_key("id") {
            let raw = RawCve::deserialize(serde_json::Value::Object(single))
                .map_err(serde::de::Error::custom)?;
            self.sink.add(raw);
            found = true;
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        Records {
            sink: self.sink,
            shape: Shape::Auto,
        }
        .visit_seq(seq)
    }
}

/// An array of records, each either `{"cve": {…}}` (`Wrapped`) or the `cve` object itself (`Bare`).
struct Records<'s, 'a> {
    sink: &'s mut Sink<'a>,
    shape: Shape,
}

#[derive(Clone, Copy)]
enum Shape {
    Wrapped,
    Bare,
    /// Unknown (a top-level array): each element is inspected.
    Auto,
}

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }
}

#[derive(Deserialize)]
struct Wrapped {
    cve: RawCve,
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CVE records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        loop {
            let raw = match self.shape {
                Shape::Wrapped => match seq.next_element::<Wrapped>()? {
                    Some(w) => w.cve,
                    None => break,
                },
                Shape::Bare => match seq.next_element::<RawCve>()? {
                    Some(c) => c,
                    None => break,
                },
                Shape::Auto => match seq.next_element::<serde_json::Value>()? {
                    Some(mut v) => {
                        let inner = v.as_object_mut().and_then(|o| o.remove("cve")).unwrap_or(v);
                        RawCve::deserialize(inner).map_err(serde::de::Error::custom)?
                    }
                    None => break,
                },
            };
            self.sink.add(raw);
            found = true;
        }
        Ok(found)
    }
}
