//! MQTT 3.1, 3.1.1 and 5 (fixed header and CONNECT).
//!
//! CONNECT names the client (often a serial or MAC) and reveals whether
//! credentials are sent in clear, which is why it is decoded in full.

use crate::ProtoError;
use crate::reader::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttPacketType {
    Connect,
    Connack,
    Publish,
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
    Subscribe,
    Suback,
    Unsubscribe,
    Unsuback,
    Pingreq,
    Pingresp,
    Disconnect,
    /// MQTT 5 only.
    Auth,
}

impl MqttPacketType {
    fn from_nibble(n: u8) -> Option<Self> {
        use MqttPacketType::*;
        Some(match n {
            1 => Connect,
            2 => Connack,
            3 => Publish,
            4 => Puback,
            5 => Pubrec,
            6 => Pubrel,
            7 => Pubcomp,
            8 => Subscribe,
            9 => Suback,
            10 => Unsubscribe,
            11 => Unsuback,
            12 => Pingreq,
            13 => Pingresp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    pub packet_type: MqttPacketType,
    /// Low nibble of the first byte (QoS/retain/dup for PUBLISH).
    pub flags: u8,
    pub remaining_length: u32,
    /// Bytes taken by the fixed header (2 to 5).
    pub header_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConnect<'a> {
    pub header: FixedHeader,
    /// `MQTT` or `MQIsdp`.
    pub protocol_name: &'a [u8],
    /// 3 = 3.1, 4 = 3.1.1, 5 = 5.0.
    pub protocol_level: u8,
    pub flags: u8,
    pub keep_alive: u16,
    pub client_id: &'a [u8],
    pub will_topic: Option<&'a [u8]>,
    pub will_payload: Option<&'a [u8]>,
    pub username: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
}

impl MqttConnect<'_> {
    pub fn clean_session(&self) -> bool {
        self.flags & 0x02 != 0
    }
}

/// Parses the fixed header of any MQTT control packet.
pub fn parse_fixed_header(tcp_payload: &[u8]) -> Result<FixedHeader, ProtoError> {
    let mut r = Reader::new(tcp_payload);
    let b = r.u8()?;
    let packet_type = MqttPacketType::from_nibble(b >> 4).ok_or(ProtoError::NotThisProtocol)?;
    let remaining_length = varint(&mut r)?;
    Ok(FixedHeader {
        packet_type,
        flags: b & 0x0f,
        remaining_length,
        header_len: r.offset(),
    })
}

/// Parses a CONNECT packet. The whole packet must be in the payload.
pub fn parse_connect(tcp_payload: &[u8]) -> Result<MqttConnect<'_>, ProtoError> {
    let header = parse_fixed_header(tcp_payload)?;
    if header.packet_type != MqttPacketType::Connect {
        return Err(ProtoError::NotThisProtocol);
    }
    let mut outer = Reader::new(tcp_payload);
    outer.skip(header.header_len)?;
    let mut r = outer.sub(header.remaining_length as usize)?;
    let name_at = r.offset();
    let protocol_name = r.vec_u16()?;
    if protocol_name != b"MQTT" && protocol_name != b"MQIsdp" {
        return Err(ProtoError::Malformed {
            offset: name_at,
            what: "MQTT protocol name",
        });
    }
    let level_at = r.offset();
    let protocol_level = r.u8()?;
    if !(3..=5).contains(&protocol_level) {
        return Err(ProtoError::Malformed {
            offset: level_at,
            what: "MQTT protocol level",
        });
    }
    let flags_at = r.offset();
    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(ProtoError::Malformed {
            offset: flags_at,
            what: "MQTT reserved connect flag set",
        });
    }
    let keep_alive = r.u16()?;
    let v5 = protocol_level == 5;
    if v5 {
        skip_properties(&mut r)?;
    }
    let client_id = r.vec_u16()?;
    let (mut will_topic, mut will_payload) = (None, None);
    if flags & 0x04 != 0 {
        if v5 {
            skip_properties(&mut r)?;
        }
        will_topic = Some(r.vec_u16()?);
        will_payload = Some(r.vec_u16()?);
    }
    let username = if flags & 0x80 != 0 {
        Some(r.vec_u16()?)
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(r.vec_u16()?)
    } else {
        None
    };
    Ok(MqttConnect {
        header,
        protocol_name,
        protocol_level,
        flags,
        keep_alive,
        client_id,
        will_topic,
        will_payload,
        username,
        password,
    })
}

/// Variable Byte Integer: at most four bytes (max 268,435,455).
fn varint(r: &mut Reader<'_>) -> Result<u32, ProtoError> {
    let mut value = 0u32;
    for i in 0..4 {
        let b = r.u8()?;
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(r.malformed("MQTT variable length integer longer than 4 bytes"))
}

fn skip_properties(r: &mut Reader<'_>) -> Result<(), ProtoError> {
    let n = varint(r)?;
    r.skip(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const CONNECT_311: &[u8] = &[
        0x10, 0x22,                   // CONNECT, remaining 34
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // "MQTT" level 4
        0xc2, 0x00, 0x3c,             // flags: user+pass+clean, keep-alive 60
        0x00, 0x06, b's', b'e', b'n', b's', b'o', b'r', // client id
        0x00, 0x05, b'a', b'd', b'm', b'i', b'n',       // username
        0x00, 0x07, b'p', b'a', b's', b's', b'w', b'd', b'1', // password
    ];

    #[test]
    fn parses_connect_311() {
        let c = parse_connect(CONNECT_311).unwrap();
        assert_eq!(c.protocol_name, b"MQTT");
        assert_eq!(c.protocol_level, 4);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(c.client_id, b"sensor");
        assert_eq!(c.username, Some(&b"admin"[..]));
        assert_eq!(c.password, Some(&b"passwd1"[..]));
        assert!(c.clean_session());
        assert_eq!(c.header.header_len, 2);
    }

    #[test]
    fn parses_connect_v5_with_properties_and_will() {
        #[rustfmt::skip]
        let p = [
            0x10, 0x20,
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05,
            0x06, 0x00, 0x0a,       // flags: will + clean, keep-alive 10
            0x05, 0x11, 0, 0, 0, 0x3c, // properties: session expiry = 60
            0x00, 0x02, b'i', b'd', // client id
            0x00,                   // will properties: none
            0x00, 0x01, b't',       // will topic
            0x00, 0x03, b'b', b'y', b'e', // will payload
            0, 0, 0,                // trailing bytes inside remaining length
        ];
        let c = parse_connect(&p).unwrap();
        assert_eq!(c.protocol_level, 5);
        assert_eq!(c.client_id, b"id");
        assert_eq!(c.will_topic, Some(&b"t"[..]));
        assert_eq!(c.will_payload, Some(&b"bye"[..]));
        assert_eq!(c.username, None);
    }

    #[test]
    fn fixed_header_and_varints() {
        let h = parse_fixed_header(&[0x30, 0xc1, 0x02]).unwrap();
        assert_eq!(h.packet_type, MqttPacketType::Publish);
        assert_eq!(h.remaining_length, 321);
        assert_eq!(h.header_len, 3);
        let h = parse_fixed_header(&[0xc0, 0x00]).unwrap();
        assert_eq!(h.packet_type, MqttPacketType::Pingreq);
        // Five-byte varint is rejected.
        assert!(matches!(
            parse_fixed_header(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(ProtoError::Malformed { .. })
        ));
        assert_eq!(
            parse_fixed_header(&[0x00, 0x00]),
            Err(ProtoError::NotThisProtocol)
        );
        assert_eq!(
            parse_connect(&[0x30, 0x00]),
            Err(ProtoError::NotThisProtocol)
        );
    }

    #[test]
    fn truncation_and_hostile() {
        for n in 0..CONNECT_311.len() {
            assert!(parse_connect(&CONNECT_311[..n]).is_err(), "len {n}");
        }
        // Remaining length claims 256 MB.
        assert!(parse_connect(&[0x10, 0xff, 0xff, 0xff, 0x7f, 0, 4]).is_err());
        let mut p = CONNECT_311.to_vec();
        p[5] = b'X';
        assert!(matches!(
            parse_connect(&p),
            Err(ProtoError::Malformed { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_fixed_header(&data);
            let _ = parse_connect(&data);
        }

        #[test]
        fn never_panics_after_valid_prefix(tail in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut p = vec![0x10, tail.len() as u8 + 7, 0, 4, b'M', b'Q', b'T', b'T', 5];
            p.extend_from_slice(&tail);
            let _ = parse_connect(&p);
        }
    }
}
