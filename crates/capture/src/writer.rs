//! Minimal classic-pcap writer, used for self-made fixtures and by the demo.

use std::io::{self, Write};

use crate::LinkType;

/// Writes a little-endian pcap stream (microsecond or nanosecond timestamps).
pub struct PcapWriter<W: Write> {
    out: W,
    nanosecond: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W, link_type: LinkType, nanosecond: bool) -> io::Result<Self> {
        let magic: u32 = if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        out.write_all(&magic.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&link_type.0.to_le_bytes())?;
        Ok(PcapWriter { out, nanosecond })
    }

    /// Appends one frame captured at `ts_ns` nanoseconds since the epoch.
    pub fn write_packet(&mut self, ts_ns: i64, frame: &[u8]) -> io::Result<()> {
        let sec = ts_ns.div_euclid(1_000_000_000) as u32;
        let sub = ts_ns.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nanosecond { sub } else { sub / 1000 };
        let len = u32::try_from(frame.len()).map_err(io::Error::other)?;
        self.out.write_all(&sec.to_le_bytes())?;
        self.out.write_all(&frac.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
