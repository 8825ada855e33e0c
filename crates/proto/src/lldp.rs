//! LLDP (IEEE 802.1AB) data units, ethertype 0x88cc.
//!
//! Switches, phones and access points announce their name, model string and
//! management address in LLDP; these are the strongest infrastructure
//! identifiers on a segment.

use crate::ProtoError;
use crate::reader::Reader;

/// A chassis or port identifier: subtype plus raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LldpId<'a> {
    pub subtype: u8,
    pub id: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagementAddress<'a> {
    /// IANA address family: 1 = IPv4, 2 = IPv6, 6 = 802 MAC.
    pub family: u8,
    pub address: &'a [u8],
    pub interface_subtype: u8,
    pub interface_number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lldp<'a> {
    pub chassis_id: LldpId<'a>,
    pub port_id: LldpId<'a>,
    pub ttl: u16,
    pub port_description: Option<&'a [u8]>,
    pub system_name: Option<&'a [u8]>,
    pub system_description: Option<&'a [u8]>,
    /// `(system capabilities, enabled capabilities)` bit masks.
    pub capabilities: Option<(u16, u16)>,
    pub management_address: Option<ManagementAddress<'a>>,
}

pub const CAP_BRIDGE: u16 = 0x0004;
pub const CAP_WLAN_AP: u16 = 0x0008;
pub const CAP_ROUTER: u16 = 0x0010;
pub const CAP_TELEPHONE: u16 = 0x0020;
pub const CAP_STATION: u16 = 0x0080;

/// Parses an LLDPDU (the Ethernet payload after ethertype 0x88cc).
pub fn parse(payload: &[u8]) -> Result<Lldp<'_>, ProtoError> {
    let mut r = Reader::new(payload);
    let (mut chassis, mut port, mut ttl) = (None, None, None);
    let mut out = Lldp {
        chassis_id: LldpId {
            subtype: 0,
            id: &[],
        },
        port_id: LldpId {
            subtype: 0,
            id: &[],
        },
        ttl: 0,
        port_description: None,
        system_name: None,
        system_description: None,
        capabilities: None,
        management_address: None,
    };
    let mut index = 0usize;
    loop {
        let at = r.offset();
        let th = r.u16()?;
        let (ty, len) = ((th >> 9) as u8, usize::from(th & 0x01ff));
        let mut v = r.sub(len)?;
        // The first three TLVs are mandatory and ordered.
        let expected = [1u8, 2, 3];
        if let Some(&want) = expected.get(index)
            && ty != want
        {
            return Err(if index == 0 {
                ProtoError::NotThisProtocol
            } else {
                ProtoError::Malformed {
                    offset: at,
                    what: "LLDP mandatory TLV order",
                }
            });
        }
        index += 1;
        match ty {
            0 => break,
            1 => chassis = Some(id(&mut v, at)?),
            2 => port = Some(id(&mut v, at)?),
            3 => ttl = Some(v.u16()?),
            4 => out.port_description = Some(v.rest()),
            5 => out.system_name = Some(v.rest()),
            6 => out.system_description = Some(v.rest()),
            7 => out.capabilities = Some((v.u16()?, v.u16()?)),
            8 if out.management_address.is_none() => {
                let addr_len = usize::from(v.u8()?);
                let family = v.u8()?;
                let address = v.take(addr_len.saturating_sub(1))?;
                let interface_subtype = v.u8()?;
                let interface_number = v.u32()?;
                out.management_address = Some(ManagementAddress {
                    family,
                    address,
                    interface_subtype,
                    interface_number,
                });
            }
            _ => {}
        }
        if r.is_empty() {
            // Some senders omit End; the mandatory TLVs decide validity.
            break;
        }
    }
    match (chassis, port, ttl) {
        (Some(c), Some(p), Some(t)) => {
            out.chassis_id = c;
            out.port_id = p;
            out.ttl = t;
            Ok(out)
        }
        _ => Err(r.truncated(2)),
    }
}

fn id<'a>(v: &mut Reader<'a>, at: usize) -> Result<LldpId<'a>, ProtoError> {
    let subtype = v.u8()?;
    let id = v.rest();
    if id.is_empty() {
        return Err(ProtoError::Malformed {
            offset: at,
            what: "LLDP empty identifier",
        });
    }
    Ok(LldpId { subtype, id })
}

impl LldpId<'_> {
    /// Human form: MAC addresses (chassis subtype 4 / port subtype 3) as
    /// `aa:bb:..`, network addresses as dotted IPv4, otherwise the text.
    pub fn display(&self, is_port: bool) -> String {
        let mac_subtype = if is_port { 3 } else { 4 };
        let net_subtype = if is_port { 4 } else { 5 };
        if self.subtype == mac_subtype && self.id.len() == 6 {
            return format_mac(self.id);
        }
        if self.subtype == net_subtype
            && let [1, a, b, c, d] = self.id
        {
            return format!("{a}.{b}.{c}.{d}");
        }
        String::from_utf8_lossy(self.id).into_owned()
    }
}

impl ManagementAddress<'_> {
    pub fn ipv4(&self) -> Option<[u8; 4]> {
        if self.family != 1 {
            return None;
        }
        self.address.try_into().ok()
    }
}

pub(crate) fn format_mac(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&crate::hex_lower(&[*x]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const LLDPDU: &[u8] = &[
        0x02, 0x07, 0x04, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // chassis: MAC
        0x04, 0x05, 0x05, b'g', b'e', b'0', b'1',             // port: ifName "ge01"
        0x06, 0x02, 0x00, 0x78,                               // ttl 120
        0x0a, 0x03, b's', b'w', b'1',                         // system name
        0x0c, 0x04, b'I', b'O', b'S', b'!',                   // system description
        0x0e, 0x04, 0x00, 0x14, 0x00, 0x04,                   // caps: bridge+router / bridge
        0x10, 0x0c, 0x05, 0x01, 10, 0, 0, 1, 0x02, 0, 0, 0, 7, 0x00, // mgmt 10.0.0.1 ifindex 7
        0x00, 0x00,                                           // end
    ];

    #[test]
    fn parses_lldpdu() {
        let l = parse(LLDPDU).unwrap();
        assert_eq!(l.chassis_id.display(false), "00:11:22:33:44:55");
        assert_eq!(l.port_id.display(true), "ge01");
        assert_eq!(l.ttl, 120);
        assert_eq!(l.system_name, Some(&b"sw1"[..]));
        assert_eq!(l.system_description, Some(&b"IOS!"[..]));
        assert_eq!(l.capabilities, Some((CAP_BRIDGE | CAP_ROUTER, CAP_BRIDGE)));
        let m = l.management_address.unwrap();
        assert_eq!(m.ipv4(), Some([10, 0, 0, 1]));
        assert_eq!(m.interface_number, 7);
    }

    #[test]
    fn truncation_and_hostile() {
        // Everything up to and including TTL is needed.
        for n in 0..20 {
            assert!(parse(&LLDPDU[..n]).is_err(), "len {n}");
        }
        for n in 20..LLDPDU.len() {
            // Later cuts either end on a TLV boundary or fail cleanly.
            let _ = parse(&LLDPDU[..n]);
        }
        assert!(parse(&LLDPDU[..21]).is_err());
        assert_eq!(parse(&[0x0a, 0x01, b'x']), Err(ProtoError::NotThisProtocol));
        assert!(matches!(
            parse(&[0x02, 0x02, 0x04, 0x00, 0x06, 0x02, 0, 1]),
            Err(ProtoError::Malformed { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(l) = parse(&data) {
                let _ = l.chassis_id.display(false);
                let _ = l.port_id.display(true);
            }
        }
    }
}
