//! cpio "newc" (`070701`) and "crc" (`070702`) archives, as used by Linux initramfs images.
//! Every header field is eight hexadecimal digits; names and data are padded to 4 bytes.

use crate::archive::{Entry, EntryKind};
use crate::error::FormatError;

const FORMAT: &str = "cpio";
const HEADER_LEN: usize = 110;
/// Longest member name accepted (PATH_MAX).
const MAX_NAME: usize = 4096;

/// True when `data` starts with a newc/crc cpio header.
pub fn is_cpio(data: &[u8]) -> bool {
    data.starts_with(b"070701") || data.starts_with(b"070702")
}

fn hex8(b: &[u8], offset: u64) -> Result<u32, FormatError> {
    let mut v = 0u32;
    for &c in b {
        let d = (c as char).to_digit(16).ok_or(FormatError::Malformed {
            format: FORMAT,
            offset,
            what: "header field is not hexadecimal",
        })?;
        v = (v << 4) | d;
    }
    Ok(v)
}

fn align4(x: usize) -> usize {
    x.saturating_add(3) & !3
}

/// Parses the members up to the `TRAILER!!!` entry, at most `max_entries` of them.
/// Hard links (newc stores the data with the last link of an inode) are reported as
/// [`EntryKind::Hardlink`] to the member that carries the data.
pub fn parse(data: &[u8], max_entries: usize) -> Result<Vec<Entry<'_>>, FormatError> {
    let mut out: Vec<Entry<'_>> = Vec::new();
    // (ino, devmajor, devminor) -> indices of empty members waiting for the data.
    let mut pending: Vec<((u32, u32, u32), usize)> = Vec::new();
    let mut pos = 0usize;
    loop {
        let off = pos as u64;
        let hdr = data
            .get(pos..pos + HEADER_LEN)
            .ok_or(FormatError::Truncated {
                format: FORMAT,
                offset: off,
                what: "header (no TRAILER!!! entry)",
            })?;
        if !is_cpio(hdr) {
            return Err(FormatError::Malformed {
                format: FORMAT,
                offset: off,
                what: "bad magic (expected 070701 or 070702)",
            });
        }
        let field = |i: usize| hex8(&hdr[6 + 8 * i..14 + 8 * i], off + 6 + 8 * i as u64);
        let ino = field(0)?;
        let mode = field(1)?;
        let nlink = field(4)?;
        let size = field(6)? as usize;
        let dev = (field(7)?, field(8)?);
        let namesize = field(11)? as usize;
        if namesize == 0 || namesize > MAX_NAME {
            return Err(FormatError::Malformed {
                format: FORMAT,
                offset: off,
                what: "name size is 0 or longer than 4096",
            });
        }
        let name_start = pos + HEADER_LEN;
        let name_bytes =
            data.get(name_start..name_start + namesize)
                .ok_or(FormatError::Truncated {
                    format: FORMAT,
                    offset: name_start as u64,
                    what: "member name",
                })?;
        let name_bytes = name_bytes.strip_suffix(b"\0").unwrap_or(name_bytes);
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let data_start = align4(name_start + namesize);
        let body = data
            .get(data_start..data_start.saturating_add(size))
            .ok_or(FormatError::Truncated {
                format: FORMAT,
                offset: data_start as u64,
                what: "member data",
            })?;
        pos = align4(data_start + size);
        if name == "TRAILER!!!" {
            return Ok(out);
        }
        if out.len() >= max_entries {
            return Err(FormatError::TooManyEntries {
                format: FORMAT,
                offset: off,
                limit: max_entries,
            });
        }
        let kind = match mode & 0o170000 {
            0o100000 => {
                let key = (ino, dev.0, dev.1);
                if nlink > 1 && size == 0 {
                    pending.push((key, out.len()));
                    EntryKind::File(body)
                } else {
                    // This member carries the data: earlier empty links point to it.
                    for (_, idx) in pending.iter().filter(|(k, _)| *k == key) {
                        if let Some(e) = out.get_mut(*idx) {
                            e.kind = EntryKind::Hardlink(name.clone());
                        }
                    }
                    pending.retain(|(k, _)| *k != key);
                    EntryKind::File(body)
                }
            }
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink(String::from_utf8_lossy(body).into_owned()),
            _ => EntryKind::Special,
        };
        out.push(Entry {
            name,
            mode: mode & 0o7777,
            offset: off,
            kind,
        });
    }
}

/// Writes a newc archive (used by tests and the fuzz seed corpus).
pub fn write_newc(members: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |name: &str, mode: u32, body: &[u8], ino: u32| {
        let hdr = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0,
            0,
            1,
            0,
            body.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(hdr.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (i, (name, mode, body)) in members.iter().enumerate() {
        put(name, *mode, body, i as u32 + 1);
    }
    put("TRAILER!!!", 0, b"", 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = write_newc(&[
            ("etc", 0o040755, b""),
            ("etc/passwd", 0o100644, b"root:x:0:0::/:/bin/sh\n"),
            ("bin/sh", 0o120777, b"busybox"),
        ]);
        let e = parse(&a, 100).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].kind, EntryKind::File(b"root:x:0:0::/:/bin/sh\n"));
        assert_eq!(e[2].kind, EntryKind::Symlink("busybox".into()));
    }

    #[test]
    fn hard_links_point_at_the_member_with_the_data() {
        // GNU cpio -H newc: earlier links of an inode are empty, the last carries the data.
        let mut a = Vec::new();
        for (name, body) in [("bin/a", &b""[..]), ("bin/b", &b"DATA"[..])] {
            let hdr = format!(
                "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                7,
                0o100755,
                0,
                0,
                2,
                0,
                body.len(),
                0,
                0,
                0,
                0,
                name.len() + 1,
                0
            );
            a.extend_from_slice(hdr.as_bytes());
            a.extend_from_slice(name.as_bytes());
            a.push(0);
            while a.len() % 4 != 0 {
                a.push(0);
            }
            a.extend_from_slice(body);
            while a.len() % 4 != 0 {
                a.push(0);
            }
        }
        a.extend_from_slice(&write_newc(&[]));
        let e = parse(&a, 10).unwrap();
        assert_eq!(e[0].kind, EntryKind::Hardlink("bin/b".into()));
        assert_eq!(e[1].kind, EntryKind::File(b"DATA"));
        let vfs = crate::unpack(&a, &crate::Limits::default()).unwrap();
        assert_eq!(vfs.read("/bin/a"), Some(&b"DATA"[..]));
        assert!(vfs.warnings().is_empty(), "{:?}", vfs.warnings());
    }

    #[test]
    fn truncation_names_offset() {
        let a = write_newc(&[("etc/passwd", 0o100644, b"root:x:0:0::/:/bin/sh\n")]);
        let err = parse(&a[..120], 100).unwrap_err();
        assert!(
            matches!(err, FormatError::Truncated { offset: 110, .. }),
            "{err}"
        );
    }
}
