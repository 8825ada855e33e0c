//! Transports: a directory, or plain HTTP/1.1 over std (for 127.0.0.1 test servers and a hub
//! behind a TLS-terminating proxy). Every read is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

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

/// `http://host:port/prefix` base URL.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    host: String,
    prefix: String,
}

impl HttpFetcher {
    /// Parses an `http://host:port[/prefix]` URL (no TLS here).
    pub fn new(base: &str) -> Option<Self> {
        let rest = base.strip_prefix("http://")?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        Some(Self {
            host,
            prefix: prefix.to_owned(),
        })
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(&self, path: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let url = format!("http://{}{}/{}", self.host, self.prefix, path);
        let io = |source| FetchError::Io {
            url: url.clone(),
            source,
        };
        let mut s = TcpStream::connect(&self.host).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        write!(
            s,
            "GET {}/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: palisade-update\r\n\r\n",
            self.prefix, path, self.host
        )
        .map_err(io)?;
        // Headers are bounded too.
        let mut resp = Vec::new();
        (&mut s)
            .take(max_len + 65_536)
            .read_to_end(&mut resp)
            .map_err(io)?;
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
        Ok(Some(body))
    }
}
