//! TLS 1.3 with rustls (ring provider); a self-signed certificate is generated on first start,
//! its private key stored sealed under the KEK (never in plaintext on disk).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use palisade_store::Store;
use palisade_store::crypto::Kek;

use crate::{HubConfig, HubError};

const KEY_SECRET: &str = "tls.key";

pub(crate) fn server_config(
    cfg: &HubConfig,
    store: &dyn Store,
    kek: &Kek,
) -> Result<(Arc<rustls::ServerConfig>, PathBuf), HubError> {
    let terr = |e: &dyn std::fmt::Display| HubError::Tls(format!("TLS: {e}"));
    let (cert_pem, key_pem, cert_path) = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => (std::fs::read(c)?, std::fs::read(k)?, c.clone()),
        (None, None) => {
            let cert_path = cfg.data_dir.join("tls-cert.pem");
            match (store.secret(KEY_SECRET)?, std::fs::read(&cert_path).ok()) {
                (Some(sealed), Some(cert)) => {
                    (cert, kek.open(KEY_SECRET.as_bytes(), &sealed)?, cert_path)
                }
                _ => {
                    let ck = rcgen::generate_simple_self_signed(vec![
                        "localhost".to_owned(),
                        "127.0.0.1".to_owned(),
                        "::1".to_owned(),
                    ])
                    .map_err(|e| terr(&e))?;
                    let cert = ck.cert.pem().into_bytes();
                    let key = ck.signing_key.serialize_pem().into_bytes();
                    store.put_secret(KEY_SECRET, &kek.seal(KEY_SECRET.as_bytes(), &key)?)?;
                    let _ = std::fs::remove_file(&cert_path);
                    std::fs::write(&cert_path, &cert)?;
                    tracing::info!(
                        "generated a self-signed certificate {}",
                        cert_path.display()
                    );
                    (cert, key, cert_path)
                }
            }
        }
        _ => {
            return Err(HubError::Tls(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
    };
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| terr(&e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| terr(&e))?;
    let mut sc = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| terr(&e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| terr(&e))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(sc), cert_path))
}

/// An axum listener that yields connections whose TLS handshake has completed. Handshakes run in
/// their own tasks (with a timeout), so a slow client does not hold up others.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, cfg: Arc<rustls::ServerConfig>) -> TlsListener {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, rx) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            loop {
                let (sock, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock)).await
                    {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer}: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
