//! NTP (RFC 5905) packet header.
//!
//! Version, mode and stratum separate embedded SNTP clients from real
//! servers, and the reference ID often names the upstream server.

use crate::ProtoError;
use crate::reader::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ntp {
    pub leap: u8,
    pub version: u8,
    /// 1 sym. active, 2 sym. passive, 3 client, 4 server, 5 broadcast.
    pub mode: u8,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference_timestamp: u64,
    pub origin_timestamp: u64,
    pub receive_timestamp: u64,
    /// NTP 32.32 fixed point, seconds since 1900.
    pub transmit_timestamp: u64,
}

pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;

/// Parses the 48-byte NTP header (extension fields and MAC are ignored).
/// Control (6) and private (7) mode packets use other layouts and are
/// reported as `NotThisProtocol`; see [`peek_version_mode`].
pub fn parse(udp_payload: &[u8]) -> Result<Ntp, ProtoError> {
    let (version, mode) = peek_version_mode(udp_payload).ok_or(ProtoError::Truncated {
        offset: 0,
        needed: 1,
    })?;
    if !(1..=4).contains(&version) {
        return Err(ProtoError::Malformed {
            offset: 0,
            what: "NTP version",
        });
    }
    if mode == 0 || mode >= 6 {
        return Err(ProtoError::NotThisProtocol);
    }
    let mut r = Reader::new(udp_payload);
    let first = r.u8()?;
    let stratum = r.u8()?;
    let poll = r.u8()? as i8;
    let precision = r.u8()? as i8;
    Ok(Ntp {
        leap: first >> 6,
        version,
        mode,
        stratum,
        poll,
        precision,
        root_delay: r.u32()?,
        root_dispersion: r.u32()?,
        reference_id: r.array()?,
        reference_timestamp: r.u64()?,
        origin_timestamp: r.u64()?,
        receive_timestamp: r.u64()?,
        transmit_timestamp: r.u64()?,
    })
}

/// Version and mode from the first byte, for any NTP packet layout.
pub fn peek_version_mode(udp_payload: &[u8]) -> Option<(u8, u8)> {
    let b = *udp_payload.first()?;
    Some(((b >> 3) & 0x07, b & 0x07))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const SERVER: [u8; 48] = [
        0x24, 0x02, 0x06, 0xe9, // LI=0 VN=4 mode=4, stratum 2, poll 6, precision -23
        0x00, 0x00, 0x00, 0x10, // root delay
        0x00, 0x00, 0x00, 0x20, // root dispersion
        0xc0, 0xa8, 0x01, 0x01, // ref id 192.168.1.1
        0, 0, 0, 0, 0, 0, 0, 1, // ref ts
        0, 0, 0, 0, 0, 0, 0, 2, // origin ts
        0, 0, 0, 0, 0, 0, 0, 3, // receive ts
        0xe9, 0x6b, 0x2a, 0x10, 0x80, 0, 0, 0, // transmit ts
    ];

    #[test]
    fn parses_server_reply() {
        let n = parse(&SERVER).unwrap();
        assert_eq!((n.version, n.mode, n.stratum), (4, MODE_SERVER, 2));
        assert_eq!(n.poll, 6);
        assert_eq!(n.precision, -23);
        assert_eq!(n.reference_id, [192, 168, 1, 1]);
        assert_eq!(n.transmit_timestamp, 0xe96b_2a10_8000_0000);
    }

    #[test]
    fn truncation_and_bad_versions() {
        for n in 0..SERVER.len() {
            assert!(parse(&SERVER[..n]).is_err(), "len {n}");
        }
        let mut p = SERVER;
        p[0] = 0x3c; // VN=7
        assert!(matches!(parse(&p), Err(ProtoError::Malformed { .. })));
        p[0] = 0x26; // mode 6 control
        assert_eq!(parse(&p), Err(ProtoError::NotThisProtocol));
        assert_eq!(peek_version_mode(&p), Some((4, 6)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = parse(&data);
        }
    }
}
