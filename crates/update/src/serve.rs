//! A small static-file server for a repository's `metadata/` and `targets/` over HTTPS
//! (rustls, ring) or plain HTTP: GET/HEAD only, strict path names, bounded request heads, a cap
//! on concurrent connections. `palisade update serve` runs it; so do the end-to-end tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Largest request head accepted.
const MAX_HEAD: u64 = 8 * 1024;

/// PEM material for a server: a private CA, and a server certificate it issued.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    /// The CA certificate clients trust (`--ca` of the agent / fetch).
    pub ca_pem: String,
    /// The server certificate chain (leaf, then CA).
    pub cert_pem: String,
    /// The server's PKCS#8 private key.
    pub key_pem: String,
}

/// Generates a fresh CA and a server certificate for `names` (DNS names or IP addresses).
pub fn generate_tls(names: &[String]) -> Result<TlsMaterial, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let e = |e: rcgen::Error| format!("certificate generation: {e}");
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Palisade update repository CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(e)?;
    leaf.distinguished_name
        .push(DnType::CommonName, names.first().map_or("localhost", |n| n));
    leaf.use_authority_key_identifier_extension = true;
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(e)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(e)?;
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        cert_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// A server configuration (TLS 1.2/1.3, ring) from PEM certificate chain and key.
pub fn server_tls_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE in the certificate file".into());
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key PEM: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate/key: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A bound repository server.
pub struct RepoServer {
    listener: TcpListener,
    root: PathBuf,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
}

impl RepoServer {
    /// Binds `addr`, serving files below `root` (normally the repository's directory, so that
    /// `metadata/` and `targets/` are its children).
    pub fn bind(
        addr: SocketAddr,
        root: impl Into<PathBuf>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr)?,
            root: root.into(),
            tls,
            max_connections: 64,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends: one thread per connection, at most 64 at once (more are
    /// answered 503 and closed).
    pub fn run(self) {
        let active = Arc::new(AtomicUsize::new(0));
        let root = Arc::new(self.root);
        for conn in self.listener.incoming() {
            let Ok(sock) = conn else { continue };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = sock.set_write_timeout(Some(Duration::from_secs(30)));
            if active.fetch_add(1, Ordering::SeqCst) >= self.max_connections {
                active.fetch_sub(1, Ordering::SeqCst);
                let mut sock = sock;
                if self.tls.is_none() {
                    let _ = sock.write_all(
                        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
                continue;
            }
            let (active, root, tls) = (active.clone(), root.clone(), self.tls.clone());
            std::thread::spawn(move || {
                let _ = handle(sock, &root, tls);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Runs the server on a background thread.
    pub fn spawn(self) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || self.run())
    }
}

fn handle(
    sock: TcpStream,
    root: &Path,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    match tls {
        None => {
            let mut s = sock;
            respond(&mut s, root)
        }
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg).map_err(std::io::Error::other)?;
            let mut s = rustls::StreamOwned::new(conn, sock);
            respond(&mut s, root)?;
            s.conn.send_close_notify();
            s.flush()
        }
    }
}

fn respond<S: Read + Write>(s: &mut S, root: &Path) -> std::io::Result<()> {
    let mut head = Vec::new();
    {
        let mut r = BufReader::new((&mut *s).take(MAX_HEAD));
        loop {
            let n = r.read_until(b'\n', &mut head)?;
            if n == 0 || head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                break;
            }
        }
    }
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .unwrap_or("");
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        return status(s, 400, "Bad Request");
    }
    if method != "GET" && method != "HEAD" {
        return status(s, 405, "Method Not Allowed");
    }
    let Some(file) = resolve(root, target) else {
        return status(s, 404, "Not Found");
    };
    let Ok(f) = std::fs::File::open(&file) else {
        return status(s, 404, "Not Found");
    };
    let meta = f.metadata()?;
    if !meta.is_file() {
        return status(s, 404, "Not Found");
    }
    let ctype = if target.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        meta.len()
    )?;
    if method == "GET" {
        std::io::copy(&mut f.take(meta.len()), s)?;
    }
    s.flush()
}

fn status<S: Write>(s: &mut S, code: u16, text: &str) -> std::io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {code} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    s.flush()
}

/// Maps a request target to a file below `root`; `None` for anything but plain relative names
/// (no `..`, no percent-escapes, no hidden files such as the repository's staging state).
pub fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let mut out = root.to_path_buf();
    let mut depth = 0;
    for seg in path.split('/') {
        let ok = !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if !ok {
            return None;
        }
        out.push(seg);
        depth += 1;
    }
    // Only the served trees: never keys/ or the staging files at the repository's top level.
    let first = path.split('/').next()?;
    (depth >= 2 && (first == "metadata" || first == "targets")).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use std::path::Path;

    #[test]
    fn only_plain_names_below_metadata_and_targets() {
        let r = Path::new("/repo");
        assert_eq!(
            resolve(r, "/metadata/1.root.json"),
            Some(r.join("metadata/1.root.json"))
        );
        assert!(resolve(r, "/targets/fw/abc.app.bin").is_some());
        for bad in [
            "/keys/root/x.json",
            "/config.json",
            "/metadata/../keys/root/x.json",
            "/metadata/%2e%2e/x",
            "/metadata//x",
            "/metadata/.x",
            "metadata/x",
            "/metadata",
        ] {
            assert_eq!(resolve(r, bad), None, "{bad}");
        }
    }
}
