//! HTTP/1.x message heads.
//!
//! Only the head is parsed: Host, User-Agent, Server and Authorization
//! identify devices and weak credentials, and the body is never needed. A
//! head cut at the end of a TCP segment still yields its complete lines.

use crate::ProtoError;
use crate::head::{self, Header};
use crate::ssdp::parse_status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// e.g. `HTTP/1.1`.
    pub version: &'a [u8],
    pub headers: Vec<Header<'a>>,
    /// Offset of the body, or None when the head did not end in this payload.
    pub body_offset: Option<usize>,
    pub headers_capped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse<'a> {
    pub version: &'a [u8],
    pub status: u16,
    pub reason: &'a [u8],
    pub headers: Vec<Header<'a>>,
    pub body_offset: Option<usize>,
    pub headers_capped: bool,
}

impl<'a> HttpRequest<'a> {
    /// Case-insensitive header lookup.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        head::find(&self.headers, name)
    }
    pub fn host(&self) -> Option<&'a [u8]> {
        self.header("host")
    }
    pub fn user_agent(&self) -> Option<&'a [u8]> {
        self.header("user-agent")
    }
    pub fn authorization(&self) -> Option<&'a [u8]> {
        self.header("authorization")
    }
    /// Whether the head ended within the payload.
    pub fn is_complete(&self) -> bool {
        self.body_offset.is_some()
    }
}

impl<'a> HttpResponse<'a> {
    /// Case-insensitive header lookup.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        head::find(&self.headers, name)
    }
    pub fn server(&self) -> Option<&'a [u8]> {
        self.header("server")
    }
    pub fn is_complete(&self) -> bool {
        self.body_offset.is_some()
    }
}

/// Cheap check for the start of a request, used to pick a parser for a new
/// TCP stream without a full parse.
pub fn looks_like_request(payload: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        payload.get(..m.len()).is_some_and(|p| p == *m) && payload.get(m.len()) == Some(&b' ')
    })
}

/// Parses a request head (request line plus complete header lines).
pub fn parse_request(tcp_payload: &[u8]) -> Result<HttpRequest<'_>, ProtoError> {
    let (line, rest) = start_line(tcp_payload, |p| {
        p.iter().take_while(|&&b| b != b' ').all(|&b| is_tchar(b))
    })?;
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or(&[]);
    let target = parts.next().unwrap_or(&[]);
    let version = parts.next().unwrap_or(&[]);
    if method.is_empty() || method.len() > 24 || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ProtoError::NotThisProtocol);
    }
    if !version.starts_with(b"HTTP/") {
        return Err(ProtoError::NotThisProtocol);
    }
    if target.is_empty() {
        return Err(ProtoError::Malformed {
            offset: method.len() + 1,
            what: "HTTP request target",
        });
    }
    let h = head::headers(tcp_payload, tcp_payload.len() - rest.len());
    Ok(HttpRequest {
        method,
        target,
        version,
        headers: h.headers,
        body_offset: h.body_offset,
        headers_capped: h.capped,
    })
}

/// Parses a response head (status line plus complete header lines).
pub fn parse_response(tcp_payload: &[u8]) -> Result<HttpResponse<'_>, ProtoError> {
    let (line, rest) = start_line(tcp_payload, |p| {
        let n = p.len().min(5);
        p.get(..n).is_some_and(|s| b"HTTP/".starts_with(s))
    })?;
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().unwrap_or(&[]);
    if !version.starts_with(b"HTTP/") {
        return Err(ProtoError::NotThisProtocol);
    }
    let status = parts
        .next()
        .and_then(parse_status)
        .ok_or(ProtoError::Malformed {
            offset: version.len() + 1,
            what: "HTTP status code",
        })?;
    let reason = parts.next().unwrap_or(&[]);
    let h = head::headers(tcp_payload, tcp_payload.len() - rest.len());
    Ok(HttpResponse {
        version,
        status,
        reason,
        headers: h.headers,
        body_offset: h.body_offset,
        headers_capped: h.capped,
    })
}

/// Splits the start line. Without an LF, the payload is either a truncated
/// head (plausible prefix) or another protocol.
fn start_line(p: &[u8], plausible: impl Fn(&[u8]) -> bool) -> Result<(&[u8], &[u8]), ProtoError> {
    match head::line(p) {
        Some(x) => Ok(x),
        None if p.len() < MAX_START_LINE && plausible(p) => Err(ProtoError::Truncated {
            offset: p.len(),
            needed: 1,
        }),
        None => Err(ProtoError::NotThisProtocol),
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

const MAX_START_LINE: usize = 8192;

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"NOTIFY",
    b"M-SEARCH",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQ: &[u8] = b"GET /cgi-bin/login.cgi?x=1 HTTP/1.1\r\n\
Host: 192.168.1.10\r\n\
User-Agent: Mozilla/5.0 (X11)\r\n\
Authorization: Basic YWRtaW46YWRtaW4=\r\n\
Accept: */*\r\n\
\r\n\
body";

    #[test]
    fn parses_request() {
        let r = parse_request(REQ).unwrap();
        assert_eq!(r.method, b"GET");
        assert_eq!(r.target, b"/cgi-bin/login.cgi?x=1");
        assert_eq!(r.version, b"HTTP/1.1");
        assert_eq!(r.host(), Some(&b"192.168.1.10"[..]));
        assert_eq!(r.user_agent(), Some(&b"Mozilla/5.0 (X11)"[..]));
        assert_eq!(r.authorization(), Some(&b"Basic YWRtaW46YWRtaW4="[..]));
        assert_eq!(r.body_offset, Some(REQ.len() - 4));
        assert!(looks_like_request(REQ));
        assert!(!looks_like_request(b"GETX / HTTP/1.1"));
        assert!(!looks_like_request(b"\x16\x03\x01"));
    }

    #[test]
    fn tolerates_truncated_head() {
        // Cut in the middle of the User-Agent line: Host survives.
        let cut = &REQ[..60];
        let r = parse_request(cut).unwrap();
        assert_eq!(r.host(), Some(&b"192.168.1.10"[..]));
        assert_eq!(r.user_agent(), None);
        assert!(!r.is_complete());
        // Cut inside the request line: Truncated, never a panic.
        for n in 0..37 {
            assert!(parse_request(&REQ[..n]).is_err(), "len {n}");
        }
        for n in 37..REQ.len() {
            assert!(parse_request(&REQ[..n]).is_ok(), "len {n}");
        }
    }

    #[test]
    fn parses_response() {
        let p = b"HTTP/1.0 401 Unauthorized\r\nServer: GoAhead-Webs\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n";
        let r = parse_response(p).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.reason, b"Unauthorized");
        assert_eq!(r.server(), Some(&b"GoAhead-Webs"[..]));
        assert!(r.is_complete());
        assert!(parse_response(b"HTTP/1.1 20").is_err());
        assert!(matches!(
            parse_response(b"HTTP/1.1 abc OK\r\n"),
            Err(ProtoError::Malformed { .. })
        ));
        assert_eq!(
            parse_response(b"\x16\x03\x01\x00"),
            Err(ProtoError::NotThisProtocol)
        );
    }

    #[test]
    fn hostile_inputs() {
        // Many headers are capped.
        let mut p = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..200 {
            p.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        let r = parse_request(&p).unwrap();
        assert_eq!(r.headers.len(), crate::MAX_HEADERS);
        assert!(r.headers_capped);
        assert_eq!(
            parse_request(b"\x00\x01\x02 / HTTP/1.1\r\n"),
            Err(ProtoError::NotThisProtocol)
        );
        assert_eq!(
            parse_request(b"GET / SIP/2.0\r\n"),
            Err(ProtoError::NotThisProtocol)
        );
        assert!(parse_request(b"GET  HTTP/1.1\r\n").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_request(&data);
            let _ = parse_response(&data);
            let _ = looks_like_request(&data);
        }

        #[test]
        fn never_panics_on_textish(tail in "[ -~\r\n:]{0,300}") {
            let mut d = b"GET / HTTP/1.1\r\n".to_vec();
            d.extend_from_slice(tail.as_bytes());
            let _ = parse_request(&d);
        }
    }
}
