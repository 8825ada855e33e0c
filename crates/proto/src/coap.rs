//! CoAP (RFC 7252) messages.
//!
//! Constrained devices expose resources like `/.well-known/core` or vendor
//! paths over CoAP; the URI path and content format identify them.

use crate::ProtoError;
use crate::reader::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoapType {
    Confirmable,
    NonConfirmable,
    Acknowledgement,
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coap<'a> {
    pub version: u8,
    pub msg_type: CoapType,
    /// Raw code byte; see [`Coap::code_class`] and [`Coap::code_detail`].
    pub code: u8,
    pub message_id: u16,
    pub token: &'a [u8],
    /// `(option number, value)` in wire order (numbers are absolute).
    pub options: Vec<(u16, &'a [u8])>,
    pub payload: &'a [u8],
}

pub const OPT_URI_HOST: u16 = 3;
pub const OPT_URI_PORT: u16 = 7;
pub const OPT_URI_PATH: u16 = 11;
pub const OPT_CONTENT_FORMAT: u16 = 12;
pub const OPT_URI_QUERY: u16 = 15;

/// Parses a CoAP message from a UDP payload (port 5683).
pub fn parse(udp_payload: &[u8]) -> Result<Coap<'_>, ProtoError> {
    let mut r = Reader::new(udp_payload);
    let b0 = r.u8()?;
    let version = b0 >> 6;
    if version != 1 {
        return Err(ProtoError::NotThisProtocol);
    }
    let msg_type = match (b0 >> 4) & 0x03 {
        0 => CoapType::Confirmable,
        1 => CoapType::NonConfirmable,
        2 => CoapType::Acknowledgement,
        _ => CoapType::Reset,
    };
    let tkl = usize::from(b0 & 0x0f);
    if tkl > 8 {
        return Err(ProtoError::Malformed {
            offset: 0,
            what: "CoAP token length > 8",
        });
    }
    let code = r.u8()?;
    let message_id = r.u16()?;
    let token = r.take(tkl)?;
    let mut options = Vec::new();
    let mut number = 0u16;
    let mut payload: &[u8] = &[];
    while !r.is_empty() {
        let at = r.offset();
        let b = r.u8()?;
        if b == 0xff {
            payload = r.rest();
            if payload.is_empty() {
                return Err(ProtoError::Malformed {
                    offset: at,
                    what: "CoAP payload marker without payload",
                });
            }
            break;
        }
        let delta = ext(&mut r, b >> 4, at)?;
        let len = ext(&mut r, b & 0x0f, at)?;
        number = number.checked_add(delta).ok_or(ProtoError::Malformed {
            offset: at,
            what: "CoAP option number overflow",
        })?;
        options.push((number, r.take(usize::from(len))?));
    }
    Ok(Coap {
        version,
        msg_type,
        code,
        message_id,
        token,
        options,
        payload,
    })
}

impl<'a> Coap<'a> {
    pub fn code_class(&self) -> u8 {
        self.code >> 5
    }
    pub fn code_detail(&self) -> u8 {
        self.code & 0x1f
    }
    /// `c.dd` form, e.g. `0.01` (GET) or `2.05` (Content).
    pub fn code_string(&self) -> String {
        format!("{}.{:02}", self.code_class(), self.code_detail())
    }
    pub fn option(&self, number: u16) -> Option<&'a [u8]> {
        self.options
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, v)| *v)
    }
    pub fn options_of(&self, number: u16) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.options
            .iter()
            .filter(move |(n, _)| *n == number)
            .map(|(_, v)| *v)
    }
    /// Uri-Path segments joined as `/a/b`; None without any Uri-Path.
    pub fn uri_path(&self) -> Option<String> {
        let mut s = String::new();
        for seg in self.options_of(OPT_URI_PATH) {
            s.push('/');
            s.push_str(&String::from_utf8_lossy(seg));
        }
        (!s.is_empty()).then_some(s)
    }
    pub fn uri_host(&self) -> Option<&'a [u8]> {
        self.option(OPT_URI_HOST)
    }
    pub fn content_format(&self) -> Option<u16> {
        self.option(OPT_CONTENT_FORMAT).and_then(|v| match v {
            [] => Some(0),
            [a] => Some(u16::from(*a)),
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        })
    }
}

/// Decodes the 4-bit delta/length nibble with its 13/14 extensions.
fn ext(r: &mut Reader<'_>, nibble: u8, at: usize) -> Result<u16, ProtoError> {
    match nibble {
        0..=12 => Ok(u16::from(nibble)),
        13 => Ok(u16::from(r.u8()?) + 13),
        14 => r.u16()?.checked_add(269).ok_or(ProtoError::Malformed {
            offset: at,
            what: "CoAP option extension overflow",
        }),
        _ => Err(ProtoError::Malformed {
            offset: at,
            what: "CoAP reserved option nibble 15",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const GET: &[u8] = &[
        0x42, 0x01, 0x12, 0x34, // ver 1, CON, TKL 2; GET; mid 0x1234
        0xab, 0xcd,             // token
        0x3b, b'h', b'u', b'b', b'.', b'l', b'a', b'n', b'.', b'x', b'y', b'z', // Uri-Host (3), len 11
        0x8b, b'.', b'w', b'e', b'l', b'l', b'-', b'k', b'n', b'o', b'w', b'n', // Uri-Path (11) len 11
        0x04, b'c', b'o', b'r', b'e',  // Uri-Path again, delta 0
        0x10,                   // Content-Format (12), empty = 0
        0xd1, 0x02, 0x05,       // delta 13+2=15 -> option 27, len 1
        0xff, b'h', b'i',       // payload
    ];

    #[test]
    fn parses_get() {
        let c = parse(GET).unwrap();
        assert_eq!(c.version, 1);
        assert_eq!(c.msg_type, CoapType::Confirmable);
        assert_eq!(c.code_string(), "0.01");
        assert_eq!(c.message_id, 0x1234);
        assert_eq!(c.token, &[0xab, 0xcd]);
        assert_eq!(c.uri_host(), Some(&b"hub.lan.xyz"[..]));
        assert_eq!(c.uri_path().as_deref(), Some("/.well-known/core"));
        assert_eq!(c.content_format(), Some(0));
        assert_eq!(c.options.last(), Some(&(27u16, &[5u8][..])));
        assert_eq!(c.payload, b"hi");
    }

    #[test]
    fn truncation_and_hostile() {
        // Cuts that end inside an option or header must fail; cuts that
        // end exactly on an option boundary are valid shorter messages.
        let boundaries = [6usize, 18, 30, 35, 36, 39, 41];
        for n in 0..GET.len() {
            let res = parse(&GET[..n]);
            assert_eq!(res.is_ok(), boundaries.contains(&n), "len {n}");
        }
        assert!(matches!(
            parse(&[0x40, 1, 0, 0, 0xff]),
            Err(ProtoError::Malformed { .. })
        ));
        assert!(matches!(
            parse(&[0x49, 1, 0, 0]),
            Err(ProtoError::Malformed { .. })
        ));
        assert!(matches!(
            parse(&[0x40, 1, 0, 0, 0xf1, 0]),
            Err(ProtoError::Malformed { .. })
        ));
        assert!(matches!(
            parse(&[0x40, 1, 0, 0, 0x1f]),
            Err(ProtoError::Malformed { .. })
        ));
        assert_eq!(parse(&[0x80, 1, 0, 0]), Err(ProtoError::NotThisProtocol));
        // Option number overflow via repeated 14-extensions.
        let mut p = vec![0x40, 1, 0, 0];
        for _ in 0..2 {
            p.extend_from_slice(&[0xe0, 0xff, 0x00]);
        }
        assert!(matches!(parse(&p), Err(ProtoError::Malformed { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(c) = parse(&data) {
                let _ = c.uri_path();
                let _ = c.content_format();
                let _ = c.code_string();
            }
        }
    }
}
