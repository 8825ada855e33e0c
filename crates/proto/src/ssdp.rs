//! SSDP (UPnP discovery over HTTPU, UDP 1900).
//!
//! NOTIFY and search responses carry SERVER, USN and LOCATION, which name
//! the device's OS, UPnP stack and model; headers stay borrowed.

use crate::ProtoError;
use crate::head::{self, Header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsdpKind {
    MSearch,
    Notify,
    Response,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssdp<'a> {
    pub kind: SsdpKind,
    /// Status code for responses, 0 otherwise.
    pub status: u16,
    pub server: Option<&'a [u8]>,
    pub usn: Option<&'a [u8]>,
    pub nt: Option<&'a [u8]>,
    pub nts: Option<&'a [u8]>,
    pub st: Option<&'a [u8]>,
    pub location: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    /// All headers in wire order.
    pub headers: Vec<Header<'a>>,
    /// More than [`crate::MAX_HEADERS`] headers were present.
    pub headers_capped: bool,
}

impl<'a> Ssdp<'a> {
    /// Case-insensitive header lookup (e.g. `hue-bridgeid`, `x-user-agent`).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        head::find(&self.headers, name)
    }
}

/// Parses an SSDP datagram.
pub fn parse(udp_payload: &[u8]) -> Result<Ssdp<'_>, ProtoError> {
    let Some((first, _)) = head::line(udp_payload) else {
        return if udp_payload.len() < 8 || is_ssdp_start(udp_payload) {
            Err(ProtoError::Truncated {
                offset: udp_payload.len(),
                needed: 1,
            })
        } else {
            Err(ProtoError::NotThisProtocol)
        };
    };
    let (kind, status) = if starts_with_ci(first, b"M-SEARCH ") {
        (SsdpKind::MSearch, 0)
    } else if starts_with_ci(first, b"NOTIFY ") {
        (SsdpKind::Notify, 0)
    } else if starts_with_ci(first, b"HTTP/1.") {
        let code = first
            .get(9..12)
            .and_then(parse_status)
            .ok_or(ProtoError::Malformed {
                offset: 9,
                what: "SSDP response status code",
            })?;
        (SsdpKind::Response, code)
    } else {
        return Err(ProtoError::NotThisProtocol);
    };
    let start = udp_payload.len() - head::line(udp_payload).map_or(0, |(_, r)| r.len());
    let h = head::headers(udp_payload, start);
    let f = |n: &str| head::find(&h.headers, n);
    Ok(Ssdp {
        kind,
        status,
        server: f("server"),
        usn: f("usn"),
        nt: f("nt"),
        nts: f("nts"),
        st: f("st"),
        location: f("location"),
        user_agent: f("user-agent"),
        headers_capped: h.capped,
        headers: h.headers,
    })
}

pub(crate) fn parse_status(d: &[u8]) -> Option<u16> {
    let [a, b, c] = d else { return None };
    if !(a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()) {
        return None;
    }
    Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn is_ssdp_start(s: &[u8]) -> bool {
    [&b"M-SEARCH "[..], b"NOTIFY ", b"HTTP/1."]
        .iter()
        .any(|p| starts_with_ci(s, p) || p.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOTIFY: &[u8] = b"NOTIFY * HTTP/1.1\r\n\
HOST: 239.255.255.250:1900\r\n\
CACHE-CONTROL: max-age=100\r\n\
LOCATION: http://192.168.1.2:80/description.xml\r\n\
SERVER: Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0\r\n\
NTS: ssdp:alive\r\n\
hue-bridgeid: 001788FFFE100491\r\n\
NT: upnp:rootdevice\r\n\
USN: uuid:2f402f80-da50-11e1-9b23-001788100491::upnp:rootdevice\r\n\
\r\n";

    #[test]
    fn parses_notify() {
        let s = parse(NOTIFY).unwrap();
        assert_eq!(s.kind, SsdpKind::Notify);
        assert_eq!(
            s.server,
            Some(&b"Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0"[..])
        );
        assert_eq!(s.nts, Some(&b"ssdp:alive"[..]));
        assert_eq!(s.nt, Some(&b"upnp:rootdevice"[..]));
        assert_eq!(
            s.location,
            Some(&b"http://192.168.1.2:80/description.xml"[..])
        );
        assert_eq!(s.header("HUE-BRIDGEID"), Some(&b"001788FFFE100491"[..]));
        assert_eq!(s.header("missing"), None);
        assert_eq!(s.headers.len(), 8);
    }

    #[test]
    fn parses_msearch_and_response() {
        let m = parse(
            b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(m.kind, SsdpKind::MSearch);
        assert_eq!(m.st, Some(&b"ssdp:all"[..]));
        let r = parse(b"HTTP/1.1 200 OK\nST: upnp:rootdevice\nUSN: uuid:x\n").unwrap();
        assert_eq!(r.kind, SsdpKind::Response);
        assert_eq!(r.status, 200);
        assert_eq!(r.usn, Some(&b"uuid:x"[..]));
    }

    #[test]
    fn rejects_other_protocols_and_truncation() {
        assert_eq!(
            parse(b"\x01\x02garbage\r\n"),
            Err(ProtoError::NotThisProtocol)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(ProtoError::NotThisProtocol)
        );
        assert!(parse(b"HTTP/1.1 2x0 OK\r\n").is_err());
        // Truncated before the end of the start line.
        for n in 0..18 {
            assert!(parse(&NOTIFY[..n]).is_err(), "len {n}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&data);
        }

        #[test]
        fn never_panics_on_headerish(tail in "[ -~\r\n:]{0,300}") {
            let mut d = b"NOTIFY * HTTP/1.1\r\n".to_vec();
            d.extend_from_slice(tail.as_bytes());
            let _ = parse(&d);
        }
    }
}
