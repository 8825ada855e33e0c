//! tar archives: POSIX ustar, GNU (`L`/`K` long names, base-256 sizes) and pax (`x` headers
//! for `path`, `linkpath`, `size`). Headers are checked by their checksum.

use crate::archive::{Entry, EntryKind};
use crate::error::FormatError;

const FORMAT: &str = "tar";
const BLOCK: usize = 512;
/// Longest GNU long name / pax header accepted.
const MAX_META: usize = 64 * 1024;

fn checksum_ok(h: &[u8]) -> bool {
    let stored = octal(&h[148..156]);
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    stored == Some(sum)
}

/// True when `data` starts with a tar header (magic or a valid checksum).
pub fn is_tar(data: &[u8]) -> bool {
    let Some(h) = data.get(..BLOCK) else {
        return false;
    };
    (h[257..262] == *b"ustar" || h[156] == b'0' || h[156] == 0) && h[0] != 0 && checksum_ok(h)
}

/// An octal field (NUL/space terminated); `None` when it holds no digits or overflows.
fn octal(f: &[u8]) -> Option<u64> {
    let s: Vec<u8> = f
        .iter()
        .copied()
        .skip_while(|&c| c == b' ')
        .take_while(|&c| (b'0'..=b'7').contains(&c))
        .collect();
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        acc.checked_mul(8)?.checked_add(u64::from(c - b'0'))
    })
}

/// A numeric field: octal, or GNU base-256 when the high bit of the first byte is set.
fn number(f: &[u8]) -> Option<u64> {
    match f.first() {
        Some(&b) if b & 0x80 != 0 => f[1..].iter().try_fold(u64::from(b & 0x7f), |acc, &c| {
            acc.checked_mul(256)?.checked_add(u64::from(c))
        }),
        _ => octal(f),
    }
}

fn cstr(f: &[u8]) -> String {
    let end = f.iter().position(|&c| c == 0).unwrap_or(f.len());
    String::from_utf8_lossy(&f[..end]).into_owned()
}

/// Parses pax extended header records (`"<len> key=value\n"`).
fn pax_records(mut b: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let Some(sp) = b.iter().position(|&c| c == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&b[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        let Some(rec) = b.get(sp + 1..len) else {
            break;
        };
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(eq) = rec.iter().position(|&c| c == b'=') {
            out.push((
                String::from_utf8_lossy(&rec[..eq]).into_owned(),
                String::from_utf8_lossy(&rec[eq + 1..]).into_owned(),
            ));
        }
        b = &b[len..];
    }
    out
}

/// Parses the members, at most `max_entries`.
pub fn parse(data: &[u8], max_entries: usize) -> Result<Vec<Entry<'_>>, FormatError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let (mut long_name, mut long_link, mut pax_size): (
        Option<String>,
        Option<String>,
        Option<u64>,
    ) = (None, None, None);
    while let Some(h) = data.get(pos..pos + BLOCK) {
        let off = pos as u64;
        if h.iter().all(|&b| b == 0) {
            // End of archive (two zero blocks; one is accepted).
            return Ok(out);
        }
        if !checksum_ok(h) {
            return Err(FormatError::Malformed {
                format: FORMAT,
                offset: off,
                what: "header checksum mismatch",
            });
        }
        let size =
            pax_size
                .take()
                .or_else(|| number(&h[124..136]))
                .ok_or(FormatError::Malformed {
                    format: FORMAT,
                    offset: off + 124,
                    what: "size field",
                })?;
        let size = usize::try_from(size).map_err(|_| FormatError::Malformed {
            format: FORMAT,
            offset: off + 124,
            what: "size too large",
        })?;
        let body_start = pos + BLOCK;
        let body = data
            .get(body_start..body_start.saturating_add(size))
            .ok_or(FormatError::Truncated {
                format: FORMAT,
                offset: body_start as u64,
                what: "member data",
            })?;
        pos = body_start + size.div_ceil(BLOCK) * BLOCK;
        let flag = h[156];
        let meta = |what| -> Result<&[u8], FormatError> {
            if size > MAX_META {
                return Err(FormatError::Unsupported {
                    format: FORMAT,
                    offset: off,
                    what,
                });
            }
            Ok(body)
        };
        match flag {
            b'L' => {
                long_name = Some(cstr(meta("GNU long name over 64 KiB")?));
                continue;
            }
            b'K' => {
                long_link = Some(cstr(meta("GNU long link over 64 KiB")?));
                continue;
            }
            b'x' => {
                for (k, v) in pax_records(meta("pax header over 64 KiB")?) {
                    match k.as_str() {
                        "path" => long_name = Some(v),
                        "linkpath" => long_link = Some(v),
                        "size" => pax_size = v.parse().ok(),
                        _ => {}
                    }
                }
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let name = long_name.take().unwrap_or_else(|| {
            let base = cstr(&h[0..100]);
            let prefix = if h[257..262] == *b"ustar" {
                cstr(&h[345..500])
            } else {
                String::new()
            };
            if prefix.is_empty() {
                base
            } else {
                format!("{prefix}/{base}")
            }
        });
        let link = long_link.take().unwrap_or_else(|| cstr(&h[157..257]));
        let mode = octal(&h[100..108]).unwrap_or(0o644) as u32 & 0o7777;
        let kind = match flag {
            b'0' | 0 | b'7' => EntryKind::File(body),
            b'1' => EntryKind::Hardlink(link),
            b'2' => EntryKind::Symlink(link),
            b'5' => EntryKind::Dir,
            _ => EntryKind::Special,
        };
        if out.len() >= max_entries {
            return Err(FormatError::TooManyEntries {
                format: FORMAT,
                offset: off,
                limit: max_entries,
            });
        }
        out.push(Entry {
            name,
            mode,
            offset: off,
            kind,
        });
    }
    if pos < data.len() {
        return Err(FormatError::Truncated {
            format: FORMAT,
            offset: pos as u64,
            what: "header",
        });
    }
    Ok(out)
}

/// Writes a ustar archive (used by tests and the fuzz seed corpus). `kind` is the tar
/// type flag (`b'0'` file, `b'2'` symlink, `b'5'` directory); `link` the link target.
pub fn write_ustar(members: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, body) in members {
        let mut h = [0u8; BLOCK];
        let n = name.as_bytes();
        h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
        h[100..107].copy_from_slice(b"0000755");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", body.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = *kind;
        let l = link.as_bytes();
        h[157..157 + l.len().min(100)].copy_from_slice(&l[..l.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = write_ustar(&[
            ("etc/", b'5', "", b""),
            ("etc/shadow", b'0', "", b"root:x:1::::::\n"),
            ("lnk", b'2', "/etc/shadow", b""),
        ]);
        assert!(is_tar(&a));
        let e = parse(&a, 10).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].kind, EntryKind::File(b"root:x:1::::::\n"));
        assert_eq!(e[2].kind, EntryKind::Symlink("/etc/shadow".into()));
    }

    #[test]
    fn bad_checksum_is_reported_with_offset() {
        let mut a = write_ustar(&[("a", b'0', "", b"x"), ("b", b'0', "", b"y")]);
        a[1024] ^= 1;
        let err = parse(&a, 10).unwrap_err();
        assert!(
            matches!(err, FormatError::Malformed { offset: 1024, .. }),
            "{err}"
        );
    }
}
