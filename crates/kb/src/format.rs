//! Shared pieces of the pack file format: the header line, errors, a small CSV reader.
//!
//! Every pack file starts with one header line of tab-separated `key=value` fields:
//!
//! ```text
//! #palisade-kb<TAB>pack=oui<TAB>format=1<TAB>source=...<TAB>source_version=...<TAB>licence=...<TAB>records=53730
//! ```
//!
//! Further lines starting with `#` directly after it are comments (column descriptions);
//! everything after the first non-`#` line is data.

use std::path::PathBuf;

/// Magic first field of every pack header.
pub const MAGIC: &str = "#palisade-kb";

/// Errors raised while importing or parsing knowledge packs.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A text record is malformed (`line` is 1-based).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A JSON source is malformed or has an unexpected shape.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The source's PROVENANCE.md does not name the version this importer was written for.
    #[error("{}: provenance check failed: {message}", path.display())]
    Provenance { path: PathBuf, message: String },
}

impl KbError {
    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        KbError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KbError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Parsed pack header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub pack: String,
    pub format_version: u32,
    pub source: String,
    pub source_version: String,
    pub licence: String,
    pub records: usize,
}

impl Header {
    /// Renders the header line (without trailing newline).
    pub fn render(&self) -> String {
        format!(
            "{MAGIC}\tpack={}\tformat={}\tsource={}\tsource_version={}\tlicence={}\trecords={}",
            self.pack,
            self.format_version,
            self.source,
            self.source_version,
            self.licence,
            self.records
        )
    }

    /// Parses a header line. `origin` names the file for error messages.
    pub fn parse(line: &str, origin: &str) -> Result<Header, KbError> {
        let err = |m: &str| KbError::parse(origin, 1, m);
        let mut fields = line.split('\t');
        if fields.next() != Some(MAGIC) {
            return Err(err("missing #palisade-kb header"));
        }
        let (mut pack, mut format, mut source, mut version, mut licence, mut records) =
            (None, None, None, None, None, None);
        for f in fields {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| err(&format!("header field without '=': {f:?}")))?;
            match k {
                "pack" => pack = Some(v.to_owned()),
                "format" => format = v.parse::<u32>().ok(),
                "source" => source = Some(v.to_owned()),
                "source_version" => version = Some(v.to_owned()),
                "licence" => licence = Some(v.to_owned()),
                "records" => records = v.parse::<usize>().ok(),
                _ => {} // forward compatible: unknown keys are ignored
            }
        }
        Ok(Header {
            pack: pack.ok_or_else(|| err("header lacks pack="))?,
            format_version: format.ok_or_else(|| err("header lacks a numeric format="))?,
            source: source.ok_or_else(|| err("header lacks source="))?,
            source_version: version.ok_or_else(|| err("header lacks source_version="))?,
            licence: licence.ok_or_else(|| err("header lacks licence="))?,
            records: records.ok_or_else(|| err("header lacks a numeric records="))?,
        })
    }
}

/// Splits a pack text into its header and `(line_number, line)` data lines
/// (comment lines directly after the header are skipped; empty lines are skipped).
pub(crate) fn split_pack<'a>(
    text: &'a str,
    origin: &str,
    expect_pack: &str,
    expect_format: u32,
) -> Result<(Header, impl Iterator<Item = (usize, &'a str)>), KbError> {
    let first = text.lines().next().unwrap_or("");
    let header = Header::parse(first, origin)?;
    if header.pack != expect_pack {
        return Err(KbError::parse(
            origin,
            1,
            format!("expected pack {expect_pack:?}, found {:?}", header.pack),
        ));
    }
    if header.format_version != expect_format {
        return Err(KbError::parse(
            origin,
            1,
            format!(
                "unsupported format version {} (this build reads {expect_format})",
                header.format_version
            ),
        ));
    }
    let mut in_preamble = true;
    let lines = text
        .lines()
        .enumerate()
        .skip(1)
        .filter(move |(_, l)| {
            if in_preamble && l.starts_with('#') {
                return false;
            }
            in_preamble = false;
            !l.is_empty()
        })
        .map(|(i, l)| (i + 1, l));
    Ok((header, lines))
}

/// Parses one RFC 4180 CSV line (quoted fields, doubled quotes). Multi-line fields are not supported.
pub(crate) fn csv_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                    match chars.peek() {
                        None | Some(',') => {}
                        Some(_) => return Err("text after closing quote"),
                    }
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quoted field");
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            pack: "oui".into(),
            format_version: 1,
            source: "IEEE".into(),
            source_version: "2.1.9".into(),
            licence: "BSD-2-Clause".into(),
            records: 3,
        };
        assert_eq!(Header::parse(&h.render(), "x").unwrap(), h);
        assert!(Header::parse("#other\tpack=x", "x").is_err());
    }

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a,b,,c").unwrap(), vec!["a", "b", "", "c"]);
        assert_eq!(
            csv_fields(r#"x,"y, z","say ""hi""""#).unwrap(),
            vec!["x", "y, z", r#"say "hi""#]
        );
        assert!(csv_fields(r#"a,"b"#).is_err());
    }
}
