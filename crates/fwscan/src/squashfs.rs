//! SquashFS 4.0 (little-endian): our own superblock parser (for carving and sanity checks
//! before anything is allocated) and extraction through the `backhand` crate, with block
//! decompression done here in pure Rust (flate2, lzma-rust2, ruzstd, lz4_flex and our own
//! LZO1X decoder; backhand's own xz/zstd/lzo features would pull C or GPL code).

use std::io::{Cursor, Read};

use backhand::compression::{CompressionAction, Compressor};
use backhand::kind::Kind;
use backhand::{BackhandError, FilesystemCompressor, FilesystemReader, InnerNode, SuperBlock};
use palisade_risk::decompress;

use crate::error::FormatError;

const FORMAT: &str = "squashfs";
pub const SUPERBLOCK_LEN: usize = 96;
pub const MAGIC: &[u8; 4] = b"hsqs";

/// The fields of a SquashFS 4.0 superblock that matter for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    pub inode_count: u32,
    pub mod_time: u32,
    pub block_size: u32,
    pub fragment_count: u32,
    pub compressor: u16,
    pub block_log: u16,
    pub flags: u16,
    pub id_count: u16,
    pub version: (u16, u16),
    pub bytes_used: u64,
    pub inode_table: u64,
    pub directory_table: u64,
}

impl Superblock {
    pub fn compressor_name(&self) -> &'static str {
        match self.compressor {
            1 => "gzip",
            2 => "lzma",
            3 => "lzo",
            4 => "xz",
            5 => "lz4",
            6 => "zstd",
            _ => "unknown",
        }
    }
}

fn u16le(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64le(b: &[u8], o: usize) -> u64 {
    u64::from(u32le(b, o)) | (u64::from(u32le(b, o + 4)) << 32)
}

/// Parses and checks a superblock at the start of `data` (`data.len()` bounds
/// `bytes_used`).
pub fn parse_superblock(data: &[u8]) -> Result<Superblock, FormatError> {
    let b = data.get(..SUPERBLOCK_LEN).ok_or(FormatError::Truncated {
        format: FORMAT,
        offset: 0,
        what: "superblock (96 bytes)",
    })?;
    let bad = |offset: u64, what| FormatError::Malformed {
        format: FORMAT,
        offset,
        what,
    };
    if &b[..4] != MAGIC {
        return Err(if &b[..4] == b"sqsh" {
            FormatError::Unsupported {
                format: FORMAT,
                offset: 0,
                what: "big-endian squashfs",
            }
        } else {
            bad(0, "bad magic (expected hsqs)")
        });
    }
    let sb = Superblock {
        inode_count: u32le(b, 4),
        mod_time: u32le(b, 8),
        block_size: u32le(b, 12),
        fragment_count: u32le(b, 16),
        compressor: u16le(b, 20),
        block_log: u16le(b, 22),
        flags: u16le(b, 24),
        id_count: u16le(b, 26),
        version: (u16le(b, 28), u16le(b, 30)),
        bytes_used: u64le(b, 40),
        inode_table: u64le(b, 64),
        directory_table: u64le(b, 72),
    };
    if sb.version != (4, 0) {
        return Err(FormatError::Unsupported {
            format: FORMAT,
            offset: 28,
            what: "version other than 4.0",
        });
    }
    if !(12..=20).contains(&sb.block_log) || sb.block_size != 1u32 << sb.block_log {
        return Err(bad(12, "block size is not 2^block_log in 4 KiB..1 MiB"));
    }
    if sb.bytes_used < SUPERBLOCK_LEN as u64 || sb.bytes_used > data.len() as u64 {
        return Err(FormatError::Truncated {
            format: FORMAT,
            offset: 40,
            what: "bytes_used points past the end of the data",
        });
    }
    if sb.inode_table >= sb.bytes_used || sb.directory_table >= sb.bytes_used {
        return Err(bad(64, "table offset past bytes_used"));
    }
    if sb.inode_count == 0 {
        return Err(bad(4, "no inodes"));
    }
    Ok(sb)
}

/// Block decompression for backhand, bounded by the block size it asks for.
struct PureRustCompressor;

static PURE_RUST: PureRustCompressor = PureRustCompressor;

fn corrupt(format: &str, e: impl std::fmt::Display) -> BackhandError {
    BackhandError::UnsupportedCompression(format!("{format} block: {e}"))
}

impl CompressionAction for PureRustCompressor {
    type Error = BackhandError;
    type Compressor = Compressor;
    type FilesystemCompressor = FilesystemCompressor;
    type SuperBlock = SuperBlock;

    fn decompress(
        &self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        compressor: Compressor,
    ) -> Result<(), BackhandError> {
        // Metadata blocks are ≤ 8 KiB and data blocks ≤ 1 MiB: anything larger is hostile.
        const BLOCK_MAX: u64 = 1 << 20;
        let data = match compressor {
            Compressor::Uncompressed => bytes.to_vec(),
            Compressor::Gzip => {
                decompress::inflate_zlib(bytes, BLOCK_MAX).map_err(|e| corrupt("gzip", e))?
            }
            Compressor::Xz => decompress::unxz(bytes, BLOCK_MAX).map_err(|e| corrupt("xz", e))?,
            Compressor::Lzma => {
                decompress::unlzma(bytes, BLOCK_MAX).map_err(|e| corrupt("lzma", e))?
            }
            Compressor::Lzo => {
                decompress::unlzo1x(bytes, BLOCK_MAX).map_err(|e| corrupt("lzo", e))?
            }
            Compressor::Lz4 => {
                decompress::unlz4_block(bytes, BLOCK_MAX).map_err(|e| corrupt("lz4", e))?
            }
            Compressor::Zstd => {
                decompress::unzstd(bytes, BLOCK_MAX).map_err(|e| corrupt("zstd", e))?
            }
        };
        out.extend_from_slice(&data);
        Ok(())
    }

    fn compress(
        &self,
        _bytes: &[u8],
        _fc: FilesystemCompressor,
        _block_size: u32,
    ) -> Result<Vec<u8>, BackhandError> {
        Err(BackhandError::UnsupportedCompression(
            "read-only".to_owned(),
        ))
    }
}

/// One extracted squashfs node.
#[derive(Debug)]
pub enum SqNode {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Special {
        path: String,
        mode: u32,
    },
}

/// Extraction bounds.
#[derive(Debug, Clone, Copy)]
pub struct SqLimits {
    pub max_entries: usize,
    /// Most bytes of file contents in total.
    pub max_bytes: u64,
}

/// Why extraction failed.
#[derive(Debug)]
pub enum SqError {
    Format(FormatError),
    Limit { what: &'static str, limit: u64 },
    Backhand(String),
}

/// Extracts every node of the squashfs at the start of `data` (its `bytes_used` bytes).
pub fn extract(data: &[u8], limits: SqLimits) -> Result<Vec<SqNode>, SqError> {
    let sb = parse_superblock(data).map_err(SqError::Format)?;
    if sb.inode_count as usize > limits.max_entries {
        return Err(SqError::Limit {
            what: "entry count",
            limit: limits.max_entries as u64,
        });
    }
    if !(1..=6).contains(&sb.compressor) {
        return Err(SqError::Format(FormatError::Unsupported {
            format: FORMAT,
            offset: 20,
            what: "compressor (supported: gzip, lzma, lzo, xz, lz4, zstd)",
        }));
    }
    let image = &data[..sb.bytes_used as usize];
    // backhand is third-party code on hostile input: a panic there must not take the
    // scanner down.
    let result = std::panic::catch_unwind(|| extract_inner(image, limits));
    match result {
        Ok(r) => r,
        Err(_) => Err(SqError::Backhand(
            "the squashfs reader panicked on this image (malformed tables)".to_owned(),
        )),
    }
}

fn extract_inner(image: &[u8], limits: SqLimits) -> Result<Vec<SqNode>, SqError> {
    let kind = Kind::new_v4(&PURE_RUST);
    let fs = FilesystemReader::from_reader_with_offset_and_kind(Cursor::new(image), 0, kind)
        .map_err(|e| SqError::Backhand(e.to_string()))?;
    let mut total = 0u64;
    let mut out = Vec::new();
    for node in fs.files() {
        if out.len() >= limits.max_entries {
            return Err(SqError::Limit {
                what: "entry count",
                limit: limits.max_entries as u64,
            });
        }
        let path = node.fullpath.to_string_lossy().into_owned();
        let mode = u32::from(node.header.permissions) & 0o7777;
        out.push(match &node.inner {
            InnerNode::File(f) => {
                let len = f.file_len() as u64;
                total = total.saturating_add(len);
                if total > limits.max_bytes {
                    return Err(SqError::Limit {
                        what: "total unpacked size",
                        limit: limits.max_bytes,
                    });
                }
                let mut buf = Vec::new();
                fs.file(f)
                    .reader()
                    .take(len)
                    .read_to_end(&mut buf)
                    .map_err(|e| SqError::Backhand(format!("reading {path}: {e}")))?;
                SqNode::File {
                    path,
                    mode,
                    data: buf,
                }
            }
            InnerNode::Dir(_) => SqNode::Dir { path, mode },
            InnerNode::Symlink(s) => SqNode::Symlink {
                path,
                target: s.link.to_string_lossy().into_owned(),
            },
            _ => SqNode::Special { path, mode },
        });
    }
    Ok(out)
}
