//! Unpacking an image into a [`Vfs`]: compression layers (gzip, xz, lzma), file systems and
//! archives (squashfs, cpio, tar), file systems carved out of a raw blob, and archives nested
//! inside extracted files, all under explicit resource limits.

use palisade_risk::decompress::{self, DecompressError};

use crate::archive::{Entry, EntryKind};
use crate::error::{FormatError, UnpackError};
use crate::squashfs::{self, SqError, SqLimits, SqNode};
use crate::vfs::{Mount, Node, UnsafeName, Vfs, join, normalise};
use crate::{cpio, tar};

/// Resource limits for one scan. Exceeding the global ones (total size, entry count) stops
/// the scan with [`UnpackError::Limit`]; a nested layer that breaks a per-layer limit
/// (depth, expansion ratio) is skipped with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most nested layers (a `.tar.gz` is 2).
    pub max_depth: u32,
    /// Most bytes produced in total (decompressed layers plus extracted files).
    pub max_total_bytes: u64,
    /// Most tree entries in total.
    pub max_entries: usize,
    /// Most output bytes per input byte of one decompression or file system…
    pub max_ratio: u64,
    /// …once its output exceeds this many bytes (small inputs compress extremely well).
    pub ratio_floor: u64,
    /// Most candidate offsets tried when carving a raw blob.
    pub max_carve: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 6,
            max_total_bytes: 1 << 30,
            max_entries: 200_000,
            max_ratio: 250,
            ratio_floor: 4 << 20,
            max_carve: 32,
        }
    }
}

/// A recognised layer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Gzip,
    Xz,
    Lzma,
    Squashfs,
    Cpio,
    Tar,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Gzip => "gzip",
            Layer::Xz => "xz",
            Layer::Lzma => "lzma",
            Layer::Squashfs => "squashfs",
            Layer::Cpio => "cpio",
            Layer::Tar => "tar",
        }
    }
}

fn looks_like_lzma_alone(d: &[u8]) -> bool {
    // props byte (lc/lp/pb ≤ 4/4/4 → ≤ 224), a dictionary size that is a multiple of 64 KiB,
    // and an unknown (-1) or plausible unpacked size.
    let Some(h) = d.get(..13) else {
        return false;
    };
    let dict = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    let size = u64::from_le_bytes([h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12]]);
    h[0] == 0x5d && dict >= 1 << 16 && dict % (1 << 16) == 0 && (size == u64::MAX || size < 1 << 34)
}

/// The layer that starts at the beginning of `d`, if any.
pub fn detect(d: &[u8]) -> Option<Layer> {
    if d.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(Layer::Gzip)
    } else if d.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Layer::Xz)
    } else if d.starts_with(squashfs::MAGIC) && squashfs::parse_superblock(d).is_ok() {
        Some(Layer::Squashfs)
    } else if cpio::is_cpio(d) {
        Some(Layer::Cpio)
    } else if tar::is_tar(d) {
        Some(Layer::Tar)
    } else if looks_like_lzma_alone(d) {
        Some(Layer::Lzma)
    } else {
        None
    }
}

/// Unpacks `image` (named `name` in messages).
pub fn unpack(image: &[u8], limits: &Limits) -> Result<Vfs, UnpackError> {
    let mut u = Unpacker {
        limits: *limits,
        vfs: Vfs::new(),
        produced: 0,
        entries: 0,
    };
    let src = "<image>";
    if detect(image).is_some() {
        if !u.layer(image, "/", src, 0, Vec::new(), 1)? {
            return Err(UnpackError::Unrecognised { at: src.into() });
        }
        return Ok(u.vfs);
    }
    // A raw blob (bootloader + kernel + root file system…): carve file systems and
    // compressed streams out of it.
    let mut found = 0usize;
    let mut tried = 0usize;
    let mut pos = 0usize;
    while pos < image.len() && tried < limits.max_carve {
        let Some(off) = next_candidate(image, pos) else {
            break;
        };
        tried += 1;
        let d = &image[off..];
        let at = format!("/@0x{off:x}");
        match u.layer(d, &at, src, off as u64, Vec::new(), 1) {
            Ok(true) => {
                found += 1;
                // Skip what a squashfs says it spans; other formats do not say.
                pos = match squashfs::parse_superblock(d) {
                    Ok(sb) => off + sb.bytes_used as usize,
                    Err(_) => off + 1,
                };
            }
            Ok(false) => pos = off + 1,
            Err(e) if is_global(&e) => return Err(e),
            Err(e) => {
                u.vfs
                    .warn(src, Some(off as u64), format!("carved layer skipped: {e}"));
                pos = off + 1;
            }
        }
    }
    if found == 0 {
        return Err(UnpackError::Unrecognised { at: src.into() });
    }
    Ok(u.vfs)
}

/// Offsets where a squashfs superblock, cpio header, gzip or xz stream may start.
fn next_candidate(d: &[u8], from: usize) -> Option<usize> {
    (from..d.len()).find(|&i| {
        let s = &d[i..];
        (s.starts_with(squashfs::MAGIC) && squashfs::parse_superblock(s).is_ok())
            || s.starts_with(b"070701")
            || s.starts_with(b"070702")
            || (s.starts_with(&[0x1f, 0x8b, 0x08]) && s.get(3).is_some_and(|f| f & 0xe0 == 0))
            || s.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
    })
}

fn is_global(e: &UnpackError) -> bool {
    matches!(
        e,
        UnpackError::Limit {
            what: "total unpacked size" | "entry count",
            ..
        }
    )
}

struct Unpacker {
    limits: Limits,
    vfs: Vfs,
    produced: u64,
    entries: usize,
}

impl Unpacker {
    fn charge(&mut self, at: &str, bytes: u64) -> Result<(), UnpackError> {
        self.produced = self.produced.saturating_add(bytes);
        if self.produced > self.limits.max_total_bytes {
            return Err(UnpackError::Limit {
                at: at.to_owned(),
                what: "total unpacked size",
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }

    /// Most output bytes allowed from `input_len` bytes of input.
    fn output_cap(&self, input_len: usize) -> u64 {
        let by_ratio = (input_len as u64)
            .saturating_mul(self.limits.max_ratio)
            .max(self.limits.ratio_floor);
        let left = self.limits.max_total_bytes.saturating_sub(self.produced);
        by_ratio.min(left.saturating_add(1))
    }

    /// Unpacks one layer at `data` into mount point `at`. Returns false when `data` is
    /// not a recognised layer.
    fn layer(
        &mut self,
        data: &[u8],
        at: &str,
        source: &str,
        offset: u64,
        mut formats: Vec<&'static str>,
        depth: u32,
    ) -> Result<bool, UnpackError> {
        let Some(kind) = detect(data) else {
            return Ok(false);
        };
        if depth > self.limits.max_depth {
            return Err(UnpackError::Limit {
                at: source.to_owned(),
                what: "nesting depth",
                limit: u64::from(self.limits.max_depth),
            });
        }
        formats.push(kind.name());
        match kind {
            Layer::Gzip | Layer::Xz | Layer::Lzma => {
                let cap = self.output_cap(data.len());
                let r = match kind {
                    Layer::Gzip => decompress::gunzip(data, cap),
                    Layer::Xz => decompress::unxz(data, cap),
                    _ => decompress::unlzma(data, cap),
                };
                let out = r.map_err(|e| match e {
                    DecompressError::TooLarge { .. } => {
                        let left = self.limits.max_total_bytes.saturating_sub(self.produced);
                        if cap > left {
                            UnpackError::Limit {
                                at: source.to_owned(),
                                what: "total unpacked size",
                                limit: self.limits.max_total_bytes,
                            }
                        } else {
                            UnpackError::Limit {
                                at: source.to_owned(),
                                what: "expansion ratio",
                                limit: self.limits.max_ratio,
                            }
                        }
                    }
                    other => UnpackError::Decompress {
                        at: source.to_owned(),
                        format: kind.name(),
                        detail: other.to_string(),
                    },
                })?;
                self.charge(source, out.len() as u64)?;
                if !self.layer(&out, at, source, offset, formats.clone(), depth + 1)? {
                    // A compressed blob that is no archive (a kernel, a raw image): keep it as
                    // a file so its strings are still inventoried.
                    self.vfs.add_mount(Mount {
                        at: at.to_owned(),
                        formats,
                        source: source.to_owned(),
                        offset,
                    });
                    let path = join(at, &["decompressed"]);
                    self.add_entry(&path)?;
                    self.vfs.insert(
                        path,
                        Node::File {
                            data: out,
                            mode: 0o644,
                        },
                    );
                }
                Ok(true)
            }
            Layer::Squashfs => {
                let left = self.limits.max_total_bytes.saturating_sub(self.produced);
                let by_ratio = (data.len() as u64)
                    .saturating_mul(self.limits.max_ratio)
                    .max(self.limits.ratio_floor);
                let lim = SqLimits {
                    max_entries: self.limits.max_entries.saturating_sub(self.entries),
                    max_bytes: left.min(by_ratio),
                };
                let nodes = squashfs::extract(data, lim).map_err(|e| match e {
                    SqError::Format(f) => UnpackError::Format {
                        at: source.to_owned(),
                        source: shift(f, offset),
                    },
                    SqError::Limit { what, .. } => {
                        let what = if what == "total unpacked size" && by_ratio < left {
                            "expansion ratio"
                        } else {
                            what
                        };
                        UnpackError::Limit {
                            at: source.to_owned(),
                            what,
                            limit: if what == "expansion ratio" {
                                self.limits.max_ratio
                            } else if what == "entry count" {
                                self.limits.max_entries as u64
                            } else {
                                self.limits.max_total_bytes
                            },
                        }
                    }
                    SqError::Backhand(detail) => UnpackError::Squashfs {
                        at: source.to_owned(),
                        offset,
                        detail,
                    },
                })?;
                self.vfs.add_mount(Mount {
                    at: at.to_owned(),
                    formats,
                    source: source.to_owned(),
                    offset,
                });
                for n in nodes {
                    let (name, node) = match n {
                        SqNode::File { path, mode, data } => (path, Node::File { data, mode }),
                        SqNode::Dir { path, mode } => (path, Node::Dir { mode }),
                        SqNode::Symlink { path, target } => {
                            self.check_symlink(source, None, &path, &target);
                            (path, Node::Symlink { target })
                        }
                        SqNode::Special { path, mode } => (path, Node::Special { mode }),
                    };
                    let comps = match normalise(&name) {
                        Ok((c, _)) => c,
                        Err(why) => {
                            self.reject(source, None, &name, why);
                            continue;
                        }
                    };
                    let path = join(at, &comps);
                    self.add_entry(source)?;
                    if let Node::File { data, .. } = &node {
                        self.charge(source, data.len() as u64)?;
                    }
                    self.vfs.insert(path, node);
                }
                self.nested(at, depth)?;
                Ok(true)
            }
            Layer::Cpio | Layer::Tar => {
                let room = self.limits.max_entries.saturating_sub(self.entries);
                let entries = if kind == Layer::Cpio {
                    cpio::parse(data, room)
                } else {
                    tar::parse(data, room)
                }
                .map_err(|f| match f {
                    FormatError::TooManyEntries { .. } => UnpackError::Limit {
                        at: source.to_owned(),
                        what: "entry count",
                        limit: self.limits.max_entries as u64,
                    },
                    f => UnpackError::Format {
                        at: source.to_owned(),
                        source: shift(f, offset),
                    },
                })?;
                // Expansion of an archive is its own size: no ratio to check.
                self.vfs.add_mount(Mount {
                    at: at.to_owned(),
                    formats,
                    source: source.to_owned(),
                    offset,
                });
                // Hard links last: newc stores an inode's data with its last link.
                let (links, members): (Vec<Entry<'_>>, Vec<Entry<'_>>) = entries
                    .into_iter()
                    .partition(|e| matches!(e.kind, EntryKind::Hardlink(_)));
                for e in members.into_iter().chain(links) {
                    self.archive_entry(at, source, offset, kind, e)?;
                }
                self.nested(at, depth)?;
                Ok(true)
            }
        }
    }

    fn add_entry(&mut self, at: &str) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::Limit {
                at: at.to_owned(),
                what: "entry count",
                limit: self.limits.max_entries as u64,
            });
        }
        Ok(())
    }

    fn reject(&mut self, source: &str, offset: Option<u64>, name: &str, why: UnsafeName) {
        let what = match why {
            UnsafeName::Traversal => "path traversal (`..`) in member name",
            UnsafeName::Invalid => "invalid member name",
        };
        let shown: String = name.chars().take(200).collect();
        self.vfs
            .warn(source, offset, format!("{what} {shown:?}: member skipped"));
    }

    /// Reports a symlink whose target climbs above the mount root (it is resolved inside
    /// the image, as in a chroot).
    fn check_symlink(&mut self, source: &str, offset: Option<u64>, path: &str, target: &str) {
        if target.starts_with('/') {
            return;
        }
        let mut depth = path.split('/').filter(|c| !c.is_empty()).count() as i64 - 1;
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    depth -= 1;
                    if depth < 0 {
                        let shown: String = target.chars().take(200).collect();
                        self.vfs.warn(
                            source,
                            offset,
                            format!(
                                "symlink {path} -> {shown:?} points outside the image; it is resolved inside it"
                            ),
                        );
                        return;
                    }
                }
                _ => depth += 1,
            }
        }
    }

    fn archive_entry(
        &mut self,
        at: &str,
        source: &str,
        base: u64,
        kind: Layer,
        e: Entry<'_>,
    ) -> Result<(), UnpackError> {
        let off = Some(base + e.offset);
        let (comps, absolute) = match normalise(&e.name) {
            Ok(x) => x,
            Err(why) => {
                self.reject(source, off, &e.name, why);
                return Ok(());
            }
        };
        if comps.is_empty() {
            return Ok(());
        }
        if absolute {
            self.vfs.warn(
                source,
                off,
                format!(
                    "{} member {:?} has an absolute name; stored under the archive root",
                    kind.name(),
                    e.name
                ),
            );
        }
        let path = join(at, &comps);
        self.add_entry(source)?;
        let node = match e.kind {
            EntryKind::File(d) => {
                self.charge(source, d.len() as u64)?;
                Node::File {
                    data: d.to_vec(),
                    mode: e.mode,
                }
            }
            EntryKind::Dir => Node::Dir { mode: e.mode },
            EntryKind::Symlink(t) => {
                self.check_symlink(source, off, &join("/", &comps), &t);
                Node::Symlink { target: t }
            }
            EntryKind::Hardlink(t) => {
                let Ok((tc, _)) = normalise(&t) else {
                    self.reject(source, off, &t, UnsafeName::Traversal);
                    return Ok(());
                };
                match self.vfs.get(&join(at, &tc)) {
                    Some(Node::File { data, mode }) => {
                        let (data, mode) = (data.clone(), *mode);
                        self.charge(source, data.len() as u64)?;
                        Node::File { data, mode }
                    }
                    _ => {
                        self.vfs.warn(
                            source,
                            off,
                            format!("hard link {:?} -> {t:?}: target not found", e.name),
                        );
                        return Ok(());
                    }
                }
            }
            EntryKind::Special => Node::Special { mode: e.mode },
        };
        self.vfs.insert(path, node);
        Ok(())
    }

    /// Unpacks archives found inside the files under mount `at`.
    fn nested(&mut self, at: &str, depth: u32) -> Result<(), UnpackError> {
        let prefix = if at == "/" {
            "/".to_owned()
        } else {
            format!("{at}/")
        };
        let inner: Vec<String> = self
            .vfs
            .files()
            .filter(|(p, d)| p.starts_with(&prefix) && detect(d).is_some())
            .map(|(p, _)| p.to_owned())
            .collect();
        for path in inner {
            // Only files that belong to this mount (not to one mounted below it).
            if self.vfs.mount_root(&path) != at {
                continue;
            }
            let Some(data) = self.vfs.read(&path).map(<[u8]>::to_vec) else {
                continue;
            };
            let mount = format!("{path}.extracted");
            match self.layer(&data, &mount, &path, 0, Vec::new(), depth + 1) {
                Ok(_) => {}
                Err(e) if is_global(&e) => return Err(e),
                Err(e) => self
                    .vfs
                    .warn(&path, None, format!("nested layer skipped: {e}")),
            }
        }
        Ok(())
    }
}

fn shift(f: FormatError, by: u64) -> FormatError {
    match f {
        FormatError::Truncated {
            format,
            offset,
            what,
        } => FormatError::Truncated {
            format,
            offset: offset + by,
            what,
        },
        FormatError::Malformed {
            format,
            offset,
            what,
        } => FormatError::Malformed {
            format,
            offset: offset + by,
            what,
        },
        FormatError::Unsupported {
            format,
            offset,
            what,
        } => FormatError::Unsupported {
            format,
            offset: offset + by,
            what,
        },
        FormatError::TooManyEntries {
            format,
            offset,
            limit,
        } => FormatError::TooManyEntries {
            format,
            offset: offset + by,
            limit,
        },
    }
}
