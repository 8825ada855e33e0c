//! Streaming readers for pcap and pcapng captures (optionally gzip-compressed).
//!
//! The reader keeps one bounded buffer and hands out packets that borrow from it, so memory
//! does not grow with the file size. Every length read from the file is checked against the
//! bytes actually present and against hard caps; a corrupt file yields a [`CaptureError`]
//! naming the byte offset, never a panic.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

mod writer;
pub use writer::PcapWriter;

/// A link-layer header type (the LINKTYPE_* registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// BSD/OpenBSD DLT_RAW values that some writers store instead of 101.
    pub const RAW_BSD12: LinkType = LinkType(12);
    pub const RAW_BSD14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub link_type: LinkType,
    pub data: &'a [u8],
    /// Length of the frame on the wire (may exceed `data.len()` when the capture was truncated).
    pub orig_len: u32,
    /// pcapng interface id (0 for classic pcap).
    pub interface: u32,
}

/// Which container format the file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap { big_endian: bool, nanosecond: bool },
    PcapNg,
}

/// Why a capture (or the rest of it) could not be read. Offsets are in the decompressed stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("I/O error at byte offset {offset}: {source}")]
    Io { offset: u64, source: io::Error },
    #[error("empty file: no capture header")]
    Empty,
    #[error("not a pcap or pcapng file: unknown magic {magic:#010x} at byte offset 0")]
    BadMagic { magic: u32 },
    #[error("truncated {what} at byte offset {offset}: {needed} bytes needed, {available} present")]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: usize,
        available: usize,
    },
    #[error("absurd {what} length {len} at byte offset {offset} (limit {limit})")]
    AbsurdLength {
        what: &'static str,
        offset: u64,
        len: u64,
        limit: u64,
    },
    #[error("corrupt pcapng block at byte offset {offset}: {what}")]
    CorruptBlock { offset: u64, what: &'static str },
}

impl CaptureError {
    /// Byte offset the error refers to (0 for whole-file errors).
    pub fn offset(&self) -> u64 {
        match self {
            CaptureError::Io { offset, .. }
            | CaptureError::Truncated { offset, .. }
            | CaptureError::AbsurdLength { offset, .. }
            | CaptureError::CorruptBlock { offset, .. } => *offset,
            CaptureError::Empty | CaptureError::BadMagic { .. } => 0,
        }
    }
}

/// Largest frame we accept; real link types stay far below (jumbo frames are 9 KiB, pcap's
/// usual maximum snaplen is 256 KiB).
pub const MAX_FRAME: usize = 256 * 1024;
/// Largest pcapng block we accept (a frame plus generous options).
pub const MAX_BLOCK: usize = MAX_FRAME + 64 * 1024;
const READ_CHUNK: usize = 1 << 20;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

/// Buffered byte source that tracks the absolute offset of its read position.
struct Source {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl Source {
    fn new(inner: Box<dyn Read + Send>) -> Self {
        Source {
            inner,
            buf: vec![0; READ_CHUNK + MAX_BLOCK],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    fn available(&self) -> usize {
        self.end - self.start
    }

    /// Makes at least `n` bytes available unless the stream ends first. Returns the number available.
    fn fill(&mut self, n: usize) -> Result<usize, CaptureError> {
        debug_assert!(n <= MAX_BLOCK);
        if self.available() >= n || self.eof {
            return Ok(self.available());
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.available() < n && !self.eof {
            let end = self.end;
            match self.inner.read(&mut self.buf[end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CaptureError::Io {
                        offset: self.offset + self.available() as u64,
                        source,
                    });
                }
            }
        }
        Ok(self.available())
    }

    fn bytes(&self, n: usize) -> &[u8] {
        &self.buf[self.start..self.start + n.min(self.available())]
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.available());
        self.start += n;
        self.offset += n as u64;
    }
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// Timestamp units per second, as a (numerator divisor) pair: ns = units * 1e9 / per_sec.
    units_per_sec: u64,
    offset_s: i64,
}

/// Streaming pcap/pcapng reader over any byte source.
pub struct CaptureReader {
    src: Source,
    format: Format,
    /// pcap: the single link type; pcapng: per-interface table of the current section.
    pcap_link: LinkType,
    pcap_snaplen: u32,
    interfaces: Vec<Interface>,
    ng_big_endian: bool,
    done: bool,
    packets: u64,
    /// Number of pcapng blocks skipped because their type is unknown or irrelevant.
    pub skipped_blocks: u64,
}

/// Opens a capture file; gzip-compressed input is recognised by its magic bytes.
pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
    let file = File::open(path).map_err(|source| CaptureError::Io { offset: 0, source })?;
    let mut buffered = BufReader::with_capacity(64 * 1024, file);
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match buffered.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(CaptureError::Io { offset: 0, source }),
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec()).chain(buffered);
    if got == 2 && magic == [0x1f, 0x8b] {
        CaptureReader::new(Box::new(flate2::read::MultiGzDecoder::new(head)))
    } else {
        CaptureReader::new(Box::new(head))
    }
}

fn rd_u16(b: &[u8], at: usize, be: bool) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn rd_u32(b: &[u8], at: usize, be: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

impl CaptureReader {
    /// Reads the file header from `inner` and prepares to stream packets.
    pub fn new(inner: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        let mut src = Source::new(inner);
        let avail = src.fill(24)?;
        if avail == 0 {
            return Err(CaptureError::Empty);
        }
        if avail < 4 {
            return Err(CaptureError::Truncated {
                what: "file header",
                offset: 0,
                needed: 4,
                available: avail,
            });
        }
        let mut head = [0u8; 24];
        head[..avail.min(24)].copy_from_slice(src.bytes(24));
        let head = &head[..];
        let le = rd_u32(head, 0, false);
        let be = rd_u32(head, 0, true);
        let mut reader = CaptureReader {
            src,
            format: Format::PcapNg,
            pcap_link: LinkType::ETHERNET,
            pcap_snaplen: 0,
            interfaces: Vec::new(),
            ng_big_endian: false,
            done: false,
            packets: 0,
            skipped_blocks: 0,
        };
        let pcap = match (le, be) {
            (PCAP_MAGIC_US, _) => Some((false, false)),
            (PCAP_MAGIC_NS, _) => Some((false, true)),
            (_, PCAP_MAGIC_US) => Some((true, false)),
            (_, PCAP_MAGIC_NS) => Some((true, true)),
            _ => None,
        };
        if let Some((big_endian, nanosecond)) = pcap {
            if avail < 24 {
                return Err(CaptureError::Truncated {
                    what: "pcap file header",
                    offset: 0,
                    needed: 24,
                    available: avail,
                });
            }
            reader.format = Format::Pcap {
                big_endian,
                nanosecond,
            };
            reader.pcap_snaplen = rd_u32(head, 16, big_endian);
            // The upper bits of the link-type field carry FCS flags (pcap spec); keep the type only.
            reader.pcap_link = LinkType(rd_u32(head, 20, big_endian) & 0x0fff_ffff);
            reader.src.consume(24);
            return Ok(reader);
        }
        if le == PCAPNG_SHB {
            // The section header is parsed by the block loop; make sure it is really there first.
            reader.read_shb_check()?;
            return Ok(reader);
        }
        Err(CaptureError::BadMagic { magic: be })
    }

    fn read_shb_check(&mut self) -> Result<(), CaptureError> {
        let avail = self.src.fill(12)?;
        if avail < 12 {
            return Err(CaptureError::Truncated {
                what: "pcapng section header",
                offset: 0,
                needed: 12,
                available: avail,
            });
        }
        let bom_le = rd_u32(self.src.bytes(12), 8, false);
        if bom_le != PCAPNG_BOM && bom_le.swap_bytes() != PCAPNG_BOM {
            return Err(CaptureError::CorruptBlock {
                offset: 8,
                what: "section header byte-order magic is neither 0x1A2B3C4D nor its swap",
            });
        }
        Ok(())
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Offset of the next unread byte in the (decompressed) stream.
    pub fn offset(&self) -> u64 {
        self.src.offset
    }

    /// Packets returned so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Returns the next packet, `Ok(None)` at the end, or the error that ends this file.
    /// After an error every further call returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let r = match self.format {
            Format::Pcap {
                big_endian,
                nanosecond,
            } => self.next_pcap(big_endian, nanosecond),
            Format::PcapNg => self.next_pcapng(),
        };
        match r {
            Ok(Some(loc)) => {
                self.packets += 1;
                Ok(Some(Packet {
                    ts_ns: loc.ts_ns,
                    link_type: loc.link_type,
                    data: &self.src.buf[loc.start..loc.end],
                    orig_len: loc.orig_len,
                    interface: loc.interface,
                }))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    fn next_pcap(&mut self, be: bool, ns: bool) -> Result<Option<Loc>, CaptureError> {
        let at = self.src.offset;
        let avail = self.src.fill(16)?;
        if avail == 0 {
            return Ok(None);
        }
        if avail < 16 {
            return Err(CaptureError::Truncated {
                what: "pcap record header",
                offset: at,
                needed: 16,
                available: avail,
            });
        }
        let h = self.src.bytes(16);
        let sec = rd_u32(h, 0, be);
        let frac = rd_u32(h, 4, be);
        let incl = rd_u32(h, 8, be) as usize;
        let orig = rd_u32(h, 12, be);
        if incl > MAX_FRAME {
            return Err(CaptureError::AbsurdLength {
                what: "pcap record",
                offset: at + 8,
                len: incl as u64,
                limit: MAX_FRAME as u64,
            });
        }
        let avail = self.src.fill(16 + incl)?;
        if avail < 16 + incl {
            return Err(CaptureError::Truncated {
                what: "pcap record",
                offset: at,
                needed: 16 + incl,
                available: avail,
            });
        }
        let frac_ns = if ns { frac as i64 } else { frac as i64 * 1000 };
        let start = self.src.start + 16;
        self.src.consume(16 + incl);
        Ok(Some(Loc {
            ts_ns: sec as i64 * 1_000_000_000 + frac_ns,
            link_type: self.pcap_link,
            start,
            end: start + incl,
            orig_len: orig,
            interface: 0,
        }))
    }

    fn next_pcapng(&mut self) -> Result<Option<Loc>, CaptureError> {
        loop {
            let at = self.src.offset;
            let avail = self.src.fill(12)?;
            if avail == 0 {
                return Ok(None);
            }
            if avail < 12 {
                return Err(CaptureError::Truncated {
                    what: "pcapng block header",
                    offset: at,
                    needed: 12,
                    available: avail,
                });
            }
            let head = self.src.bytes(12);
            let raw_type = rd_u32(head, 0, false);
            if raw_type == PCAPNG_SHB {
                // A new section may switch byte order; the byte-order magic decides.
                let bom = rd_u32(head, 8, false);
                self.ng_big_endian = match bom {
                    PCAPNG_BOM => false,
                    x if x.swap_bytes() == PCAPNG_BOM => true,
                    _ => {
                        return Err(CaptureError::CorruptBlock {
                            offset: at + 8,
                            what: "section header byte-order magic is neither 0x1A2B3C4D nor its swap",
                        });
                    }
                };
                self.interfaces.clear();
            }
            let be = self.ng_big_endian;
            let btype = rd_u32(head, 0, be);
            let blen = rd_u32(head, 4, be) as usize;
            if blen < 12 || !blen.is_multiple_of(4) {
                return Err(CaptureError::CorruptBlock {
                    offset: at + 4,
                    what: "block total length is below 12 or not a multiple of 4",
                });
            }
            if blen > MAX_BLOCK {
                return Err(CaptureError::AbsurdLength {
                    what: "pcapng block",
                    offset: at + 4,
                    len: blen as u64,
                    limit: MAX_BLOCK as u64,
                });
            }
            let avail = self.src.fill(blen)?;
            if avail < blen {
                return Err(CaptureError::Truncated {
                    what: "pcapng block",
                    offset: at,
                    needed: blen,
                    available: avail,
                });
            }
            let block = self.src.bytes(blen);
            if rd_u32(block, blen - 4, be) as usize != blen {
                return Err(CaptureError::CorruptBlock {
                    offset: at + blen as u64 - 4,
                    what: "trailing block length differs from the leading one",
                });
            }
            let body_start = self.src.start + 8;
            let body = &block[8..blen - 4];
            let result = match btype {
                PCAPNG_SHB => None,
                1 => {
                    if body.len() < 8 {
                        return Err(CaptureError::CorruptBlock {
                            offset: at,
                            what: "interface description block shorter than 20 bytes",
                        });
                    }
                    let mut iface = Interface {
                        link_type: LinkType(rd_u16(body, 0, be) as u32),
                        snaplen: rd_u32(body, 4, be),
                        units_per_sec: 1_000_000,
                        offset_s: 0,
                    };
                    for (code, val) in Options::new(&body[8..], be) {
                        match code {
                            9 if !val.is_empty() => {
                                let r = val[0];
                                let exp = (r & 0x7f) as u32;
                                iface.units_per_sec = if r & 0x80 == 0 {
                                    10u64.checked_pow(exp).unwrap_or(0)
                                } else {
                                    2u64.checked_pow(exp).unwrap_or(0)
                                };
                            }
                            14 if val.len() >= 8 => {
                                let mut a = [0u8; 8];
                                a.copy_from_slice(&val[..8]);
                                iface.offset_s = if be {
                                    i64::from_be_bytes(a)
                                } else {
                                    i64::from_le_bytes(a)
                                };
                            }
                            _ => {}
                        }
                    }
                    if iface.units_per_sec == 0 {
                        return Err(CaptureError::CorruptBlock {
                            offset: at,
                            what: "if_tsresol out of range",
                        });
                    }
                    // Cap the table: a hostile file must not grow it without bound.
                    if self.interfaces.len() >= 4096 {
                        return Err(CaptureError::CorruptBlock {
                            offset: at,
                            what: "more than 4096 interfaces in one section",
                        });
                    }
                    self.interfaces.push(iface);
                    None
                }
                6 | 2 => {
                    if body.len() < 20 {
                        return Err(CaptureError::CorruptBlock {
                            offset: at,
                            what: "packet block shorter than its fixed fields",
                        });
                    }
                    let iface_id = if btype == 6 {
                        rd_u32(body, 0, be)
                    } else {
                        rd_u16(body, 0, be) as u32
                    };
                    let ts = ((rd_u32(body, 4, be) as u64) << 32) | rd_u32(body, 8, be) as u64;
                    let cap = rd_u32(body, 12, be) as usize;
                    let orig = rd_u32(body, 16, be);
                    if cap > body.len() - 20 {
                        return Err(CaptureError::CorruptBlock {
                            offset: at + 20,
                            what: "captured length exceeds the block",
                        });
                    }
                    let Some(iface) = self.interfaces.get(iface_id as usize).copied() else {
                        return Err(CaptureError::CorruptBlock {
                            offset: at + 8,
                            what: "packet refers to an undeclared interface",
                        });
                    };
                    let ts_ns = (ts as u128 * 1_000_000_000u128 / iface.units_per_sec as u128)
                        .min(i64::MAX as u128) as i64;
                    let ts_ns = ts_ns.saturating_add(iface.offset_s.saturating_mul(1_000_000_000));
                    Some(Loc {
                        ts_ns,
                        link_type: iface.link_type,
                        start: body_start + 20,
                        end: body_start + 20 + cap,
                        orig_len: orig,
                        interface: iface_id,
                    })
                }
                3 => {
                    let Some(iface) = self.interfaces.first().copied() else {
                        return Err(CaptureError::CorruptBlock {
                            offset: at,
                            what: "simple packet block before any interface description",
                        });
                    };
                    if body.len() < 4 {
                        return Err(CaptureError::CorruptBlock {
                            offset: at,
                            what: "simple packet block shorter than 16 bytes",
                        });
                    }
                    let orig = rd_u32(body, 0, be);
                    let mut cap = (orig as usize).min(body.len() - 4);
                    if iface.snaplen > 0 {
                        cap = cap.min(iface.snaplen as usize);
                    }
                    // SPBs carry no timestamp; 0 keeps them ordered before timed packets.
                    Some(Loc {
                        ts_ns: 0,
                        link_type: iface.link_type,
                        start: body_start + 4,
                        end: body_start + 4 + cap,
                        orig_len: orig,
                        interface: 0,
                    })
                }
                _ => {
                    self.skipped_blocks += 1;
                    None
                }
            };
            self.src.consume(blen);
            if let Some(loc) = result {
                return Ok(Some(loc));
            }
        }
    }
}

struct Loc {
    ts_ns: i64,
    link_type: LinkType,
    start: usize,
    end: usize,
    orig_len: u32,
    interface: u32,
}

/// Iterator over pcapng options (code, value); stops at opt_endofopt or malformed data.
struct Options<'a> {
    data: &'a [u8],
    be: bool,
}

impl<'a> Options<'a> {
    fn new(data: &'a [u8], be: bool) -> Self {
        Options { data, be }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.data.len() < 4 {
            return None;
        }
        let code = rd_u16(self.data, 0, self.be);
        let len = rd_u16(self.data, 2, self.be) as usize;
        if code == 0 {
            return None;
        }
        let padded = (len + 3) & !3;
        let val = self.data.get(4..4 + len)?;
        self.data = self.data.get(4 + padded..).unwrap_or(&[]);
        Some((code, val))
    }
}

#[doc(hidden)]
pub mod fuzzing {
    /// Reads every packet of an in-memory capture; used by the cargo-fuzz target.
    pub fn read_all(data: &[u8]) {
        if let Ok(mut r) = super::CaptureReader::new(Box::new(std::io::Cursor::new(data.to_vec())))
        {
            while let Ok(Some(_)) = r.next_packet() {}
        }
    }
}

#[cfg(test)]
mod tests;
