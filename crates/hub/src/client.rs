//! A small blocking HTTP/1.1 client for `palisade push` and the tests (one request per
//! connection; https with rustls/ring, trusting a pinned certificate or, explicitly, anything).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

#[derive(Debug, Clone)]
pub enum Trust {
    /// Accept only this exact server certificate (e.g. the hub's generated `tls-cert.pem`).
    Pinned(Vec<u8>),
    /// Accept any certificate (`--insecure`): encryption without authentication.
    Any,
    /// Verify the server's chain and name against these CA certificates (DER), e.g. the
    /// Palisade CA chain for the mTLS device gateway.
    Roots(Vec<Vec<u8>>),
}

/// A client certificate chain (leaf first) and its private key, for mutual TLS.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl Identity {
    /// From PEM: the certificate file (leaf first, chain optional) and the PKCS#8/SEC1 key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Identity, String> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("client certificate: {e}"))?;
        if chain.is_empty() {
            return Err("client certificate: no CERTIFICATE block".into());
        }
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| format!("client key: {e}"))?;
        Ok(Identity { chain, key })
    }
}

/// Reads a PEM bundle of CA certificates for [`Trust::Roots`].
pub fn roots_from_pem(pem: &[u8]) -> Result<Trust, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA certificate: {e}"))?;
    if certs.is_empty() {
        return Err("CA file has no CERTIFICATE block".into());
    }
    Ok(Trust::Roots(certs))
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>, Option<Vec<u8>>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.1 {
            Some(pin) if pin.as_slice() != end_entity.as_ref() => Err(rustls::Error::General(
                "server certificate does not match the pinned one".into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads a PEM certificate file for [`Trust::Pinned`].
pub fn pinned_from_pem(pem: &[u8]) -> Result<Trust, String> {
    let c = CertificateDer::from_pem_slice(pem).map_err(|e| format!("certificate: {e}"))?;
    Ok(Trust::Pinned(c.as_ref().to_vec()))
}

/// Sends one request. `url` is `http(s)://host:port/path?query`.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    trust: &Trust,
) -> Result<Response, String> {
    request_as(method, url, headers, body, trust, None)
}

/// As [`request`], presenting a client certificate when `identity` is given (mutual TLS).
pub fn request_as(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    trust: &Trust,
    identity: Option<&Identity>,
) -> Result<Response, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("unsupported URL {url}"));
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = hostport
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(hostport)
        .trim_matches(['[', ']']);
    let addr = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{}", if tls { 443 } else { 80 })
    };
    let tcp = TcpStream::connect(&addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(300)));
    let _ = tcp.set_nodelay(true);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut raw = Vec::new();
    if tls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match trust {
            Trust::Roots(certs) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs {
                    roots
                        .add(CertificateDer::from(c.clone()))
                        .map_err(|e| format!("CA certificate: {e}"))?;
                }
                builder.with_root_certificates(roots)
            }
            Trust::Pinned(p) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider, Some(p.clone())))),
            Trust::Any => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider, None))),
        };
        let cfg = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| format!("client certificate: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(req.as_bytes())
            .and_then(|_| s.write_all(body))
            .and_then(|_| s.flush())
            .map_err(|e| format!("sending: {e}"))?;
        match s.read_to_end(&mut raw) {
            Ok(_) => {}
            // Servers may close without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(format!("reading: {e}")),
        }
    } else {
        let mut s = tcp;
        s.write_all(req.as_bytes())
            .and_then(|_| s.write_all(body))
            .map_err(|e| format!("sending: {e}"))?;
        s.read_to_end(&mut raw)
            .map_err(|e| format!("reading: {e}"))?;
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size_s = String::from_utf8_lossy(&b[..i]);
        let size = usize::from_str_radix(size_s.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        b = &b[i + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// The value of cookie `name` set by a response.
pub fn set_cookie_value(r: &Response, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next()?.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Logs in through the console form (GET /login for the login CSRF cookie, then POST).
/// Returns the session `Cookie` header value and whether the console demands a new password.
pub fn console_login(
    base: &str,
    trust: &Trust,
    user: &str,
    password: &str,
) -> Result<(String, bool), String> {
    let page = request("GET", &format!("{base}/login"), &[], b"", trust)?;
    let token = set_cookie_value(&page, "palisade_login").ok_or("no login CSRF cookie")?;
    let body = format!(
        "username={}&password={}&csrf={token}",
        form_escape(user),
        form_escape(password)
    );
    let r = request(
        "POST",
        &format!("{base}/login"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &format!("palisade_login={token}")),
        ],
        body.as_bytes(),
        trust,
    )?;
    let sid = set_cookie_value(&r, "palisade_session")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("login refused: {} {:?}", r.status, r.header("location")))?;
    Ok((
        format!("palisade_session={sid}"),
        r.header("location") == Some("/password"),
    ))
}

/// Changes the logged-in user's password through the console form; returns the new
/// session `Cookie` header value (a password change ends the old sessions).
pub fn console_change_password(
    base: &str,
    trust: &Trust,
    cookie: &str,
    current: &str,
    new: &str,
) -> Result<String, String> {
    let page = request(
        "GET",
        &format!("{base}/password"),
        &[("Cookie", cookie)],
        b"",
        trust,
    )?;
    let html = page.text();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or("no CSRF field on /password")?
        .to_owned();
    let body = format!(
        "csrf={csrf}&current={}&new={}&confirm={}",
        form_escape(current),
        form_escape(new),
        form_escape(new)
    );
    let r = request(
        "POST",
        &format!("{base}/password"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie),
        ],
        body.as_bytes(),
        trust,
    )?;
    let sid = set_cookie_value(&r, "palisade_session")
        .ok_or_else(|| format!("password change refused: {} {}", r.status, r.text()))?;
    Ok(format!("palisade_session={sid}"))
}

/// application/x-www-form-urlencoded escaping.
pub fn form_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}
