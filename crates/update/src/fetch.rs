//! Transports: a directory, or HTTP/1.1 over std — plain (127.0.0.1 test servers) or HTTPS with
//! rustls (ring), trusting only the CA certificates it is given. Every read is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// I/O error.
    #[error("{url}: {source}")]
    Io {
        /// What was fetched.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// The server answered with something other than 200/404.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// What was fetched.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is longer than allowed.
    #[error("{url}: more than {limit} bytes (endless-data defence)")]
    TooLarge {
        /// What was fetched.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// Malformed HTTP.
    #[error("{url}: malformed HTTP response")]
    BadResponse {
        /// What was fetched.
        url: String,
    },
    /// TLS set-up or handshake failure (untrusted certificate, wrong name...).
    #[error("{url}: TLS: {message}")]
    Tls {
        /// What was fetched.
        url: String,
        /// The cause.
        message: String,
    },
}

/// Fetches repository files by relative path (`metadata/1.root.json`, `targets/x.bin`).
pub trait Fetcher {
    /// `Ok(None)` when the file does not exist (404). Reads at most `max_len` bytes; more is
    /// [`FetchError::TooLarge`].
    fn fetch(&self, path: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError>;
}

/// Files under a directory.
#[derive(Clone, Debug)]
pub struct DirFetcher(pub PathBuf);

impl Fetcher for DirFetcher {
    fn fetch(&self, path: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let p = self.0.join(path);
        let url = p.display().to_string();
        let f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FetchError::Io { url, source }),
        };
        let mut buf = Vec::new();
        f.take(max_len + 1)
            .read_to_end(&mut buf)
            .map_err(|source| FetchError::Io {
                url: url.clone(),
                source,
            })?;
        if buf.len() as u64 > max_len {
            return Err(FetchError::TooLarge {
                url,
                limit: max_len,
            });
        }
        Ok(Some(buf))
    }
}

/// A shared rustls client configuration.
pub type ClientTls = Arc<rustls::ClientConfig>;

/// A client TLS configuration (TLS 1.2/1.3, ring) trusting exactly the certificates in `pem`
/// (e.g. the CA that `palisade update serve` writes, or the hub's certificate).
pub fn tls_config_trusting(pem: &[u8]) -> Result<ClientTls, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| format!("certificate PEM: {e}"))?;
        roots
            .add(c)
            .map_err(|e| format!("trust anchor rejected: {e}"))?;
        n += 1;
    }
    if n == 0 {
        return Err("no CERTIFICATE in the trust file".into());
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// `http://host:port/prefix` or `https://host:port/prefix` base URL.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    /// `host:port` to connect to.
    addr: String,
    /// Host name for SNI and certificate checks.
    host: String,
    prefix: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `Authorization` header value sent with every request (e.g. `Bearer pal_...` for the
    /// hub's `/updates/` mount).
    authorization: Option<Secret>,
}

/// A header value kept out of `Debug` output.
#[derive(Clone)]
struct Secret(String);

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn split_url(rest: &str, default_port: u16) -> (String, String, String) {
    let (hostport, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let has_port = hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok() && !hostport.ends_with(']'));
    let host = if has_port {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
    } else {
        hostport
    };
    let addr = if has_port {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    };
    (
        addr,
        host.trim_matches(['[', ']']).to_owned(),
        prefix.to_owned(),
    )
}

impl HttpFetcher {
    /// Parses an `http://host:port[/prefix]` URL (no TLS).
    pub fn new(base: &str) -> Option<Self> {
        let rest = base.strip_prefix("http://")?;
        let (addr, host, prefix) = split_url(rest, 80);
        Some(Self {
            addr,
            host,
            prefix,
            tls: None,
            authorization: None,
        })
    }

    /// Parses an `https://host:port[/prefix]` URL; the server must present a certificate for
    /// `host` that chains to a root of `tls`.
    pub fn https(base: &str, tls: Arc<rustls::ClientConfig>) -> Option<Self> {
        let rest = base.strip_prefix("https://")?;
        let (addr, host, prefix) = split_url(rest, 443);
        Some(Self {
            addr,
            host,
            prefix,
            tls: Some(tls),
            authorization: None,
        })
    }

    /// Sends `Authorization: Bearer TOKEN` with every request. Refused (`None`) for a token
    /// with characters that could end the header line.
    pub fn with_bearer(mut self, token: &str) -> Option<Self> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        self.authorization = Some(Secret(format!("Bearer {token}")));
        Some(self)
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}/{}", self.addr, self.prefix, path)
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(&self, path: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let url = self.url(path);
        let io = |source| FetchError::Io {
            url: url.clone(),
            source,
        };
        let s = TcpStream::connect(&self.addr).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        s.set_write_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        let auth = self
            .authorization
            .as_ref()
            .map(|a| format!("Authorization: {}\r\n", a.0))
            .unwrap_or_default();
        let req = format!(
            "GET {}/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: palisade-update\r\n{auth}\r\n",
            self.prefix, path, self.addr
        );
        // Headers are bounded too.
        let cap = max_len + 65_536;
        let mut resp = Vec::new();
        match &self.tls {
            None => {
                let mut s = s;
                s.write_all(req.as_bytes()).map_err(io)?;
                (&mut s).take(cap).read_to_end(&mut resp).map_err(io)?;
            }
            Some(cfg) => {
                let tls_err = |message: String| FetchError::Tls {
                    url: url.clone(),
                    message,
                };
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| tls_err(format!("server name {}: {e}", self.host)))?;
                let conn = rustls::ClientConnection::new(cfg.clone(), name)
                    .map_err(|e| tls_err(e.to_string()))?;
                let mut t = rustls::StreamOwned::new(conn, s);
                t.write_all(req.as_bytes())
                    .and_then(|_| t.flush())
                    .map_err(|e| classify_tls(e, &url))?;
                match (&mut t).take(cap).read_to_end(&mut resp) {
                    Ok(_) => {}
                    // A peer that closes without close_notify after the body: Content-Length
                    // below still catches a cut-off response.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !resp.is_empty() => {
                    }
                    Err(e) => return Err(classify_tls(e, &url)),
                }
            }
        }
        let bad = || FetchError::BadResponse { url: url.clone() };
        let hdr_end = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(bad)?;
        let head = std::str::from_utf8(&resp[..hdr_end]).map_err(|_| bad())?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        match status {
            200 => {}
            404 | 403 => return Ok(None),
            _ => return Err(FetchError::Status { url, status }),
        }
        let body = resp[hdr_end + 4..].to_vec();
        if body.len() as u64 > max_len {
            return Err(FetchError::TooLarge {
                url,
                limit: max_len,
            });
        }
        let content_length = head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<u64>().ok())?
        });
        if let Some(cl) = content_length {
            if cl > max_len {
                return Err(FetchError::TooLarge {
                    url,
                    limit: max_len,
                });
            }
            if cl != body.len() as u64 {
                return Err(bad());
            }
        }
        Ok(Some(body))
    }
}

fn classify_tls(e: std::io::Error, url: &str) -> FetchError {
    // rustls reports handshake failures (bad certificate...) as InvalidData.
    if e.kind() == std::io::ErrorKind::InvalidData {
        FetchError::Tls {
            url: url.to_owned(),
            message: e.to_string(),
        }
    } else {
        FetchError::Io {
            url: url.to_owned(),
            source: e,
        }
    }
}

#[cfg(test)]
mod bearer_tests {
    use super::HttpFetcher;

    #[test]
    fn bearer_tokens_cannot_inject_headers_or_leak_in_debug() {
        let f = HttpFetcher::new("http://127.0.0.1:1/updates").unwrap();
        assert!(f.clone().with_bearer("pal_x\r\nX-Evil: 1").is_none());
        assert!(f.clone().with_bearer("").is_none());
        let f = f.with_bearer("pal_secret123").unwrap();
        assert!(!format!("{f:?}").contains("pal_secret123"));
    }
}
