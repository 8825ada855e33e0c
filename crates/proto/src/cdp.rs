//! Cisco Discovery Protocol, the payload after LLC/SNAP (OUI 00000c, PID 0x2000).
//!
//! Cisco gear and many VoIP phones announce device ID, platform and
//! software version in CDP rather than LLDP.

use crate::ProtoError;
use crate::reader::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdpAddress<'a> {
    /// 1 = NLPID, 2 = 802.2.
    pub protocol_type: u8,
    pub protocol: &'a [u8],
    pub address: &'a [u8],
}

impl CdpAddress<'_> {
    pub fn ipv4(&self) -> Option<[u8; 4]> {
        if self.protocol_type == 1 && self.protocol == [0xcc] {
            self.address.try_into().ok()
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdp<'a> {
    pub version: u8,
    pub ttl: u8,
    pub device_id: Option<&'a [u8]>,
    pub port_id: Option<&'a [u8]>,
    pub software_version: Option<&'a [u8]>,
    pub platform: Option<&'a [u8]>,
    pub capabilities: Option<u32>,
    pub addresses: Vec<CdpAddress<'a>>,
}

/// Addresses kept from one Addresses TLV.
pub const MAX_ADDRESSES: usize = 16;

/// Parses a CDP packet (version, TTL, checksum, then TLVs).
pub fn parse(payload: &[u8]) -> Result<Cdp<'_>, ProtoError> {
    let mut r = Reader::new(payload);
    let version = r.u8()?;
    if version != 1 && version != 2 {
        return Err(ProtoError::NotThisProtocol);
    }
    let ttl = r.u8()?;
    let _checksum = r.u16()?;
    let mut c = Cdp {
        version,
        ttl,
        device_id: None,
        port_id: None,
        software_version: None,
        platform: None,
        capabilities: None,
        addresses: Vec::new(),
    };
    while !r.is_empty() {
        let at = r.offset();
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        let Some(vlen) = len.checked_sub(4) else {
            return Err(ProtoError::Malformed {
                offset: at,
                what: "CDP TLV length below 4",
            });
        };
        let mut v = r.sub(vlen)?;
        match ty {
            0x0001 => c.device_id = Some(v.rest()),
            0x0002 => {
                let n = v.u32()?;
                for _ in 0..n.min(MAX_ADDRESSES as u32) {
                    let protocol_type = v.u8()?;
                    let protocol = v.vec_u8()?;
                    let address = v.vec_u16()?;
                    c.addresses.push(CdpAddress {
                        protocol_type,
                        protocol,
                        address,
                    });
                }
            }
            0x0003 => c.port_id = Some(v.rest()),
            0x0004 => c.capabilities = Some(v.u32()?),
            0x0005 => c.software_version = Some(v.rest()),
            0x0006 => c.platform = Some(v.rest()),
            _ => {}
        }
    }
    Ok(c)
}

pub const CAP_ROUTER: u32 = 0x01;
pub const CAP_SWITCH: u32 = 0x08;
pub const CAP_HOST: u32 = 0x10;
pub const CAP_PHONE: u32 = 0x80;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const CDP: &[u8] = &[
        0x02, 0xb4, 0x12, 0x34,                         // v2, ttl 180, checksum
        0x00, 0x01, 0x00, 0x07, b'S', b'W', b'1',        // device id
        0x00, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00, 0x01,  // addresses: 1
        0x01, 0x01, 0xcc, 0x00, 0x04, 10, 0, 0, 2,       //   NLPID IP 10.0.0.2
        0x00, 0x04, 0x00, 0x08, 0x00, 0x00, 0x00, 0x29,  // capabilities
        0x00, 0x06, 0x00, 0x0d, b'c', b'i', b's', b'c', b'o', b' ', b'W', b'S', b'-', // platform
    ];

    #[test]
    fn parses_cdp() {
        let c = parse(CDP).unwrap();
        assert_eq!(c.version, 2);
        assert_eq!(c.ttl, 180);
        assert_eq!(c.device_id, Some(&b"SW1"[..]));
        assert_eq!(c.platform, Some(&b"cisco WS-"[..]));
        assert_eq!(c.capabilities, Some(0x29));
        assert_eq!(
            c.addresses.first().and_then(CdpAddress::ipv4),
            Some([10, 0, 0, 2])
        );
    }

    #[test]
    fn truncation_and_hostile() {
        let boundaries = [4usize, 11, 28, 36];
        for n in 0..CDP.len() {
            assert_eq!(parse(&CDP[..n]).is_ok(), boundaries.contains(&n), "len {n}");
        }
        assert!(matches!(
            parse(&[2, 1, 0, 0, 0, 1, 0, 2]),
            Err(ProtoError::Malformed { .. })
        ));
        // Address count of 4 billion with no data.
        assert!(parse(&[2, 1, 0, 0, 0, 2, 0, 8, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert_eq!(parse(&[9, 1, 0, 0]), Err(ProtoError::NotThisProtocol));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&data);
        }
    }
}
