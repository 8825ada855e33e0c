//! The mTLS device gateway (issue 10): a second listener where devices authenticate with the
//! client certificates the CA issued. TLS 1.3 only (rustls, ring); a client certificate is
//! required, must chain to the Palisade CA with the clientAuth EKU, and its serial must not be
//! revoked — checked at the end-entity on every handshake against the CA's revocation set (a hash
//! set, refreshed from the CA ledger at most once a second, so a revocation bites within a
//! second without waiting for the next CRL). Serves EST (`simplereenroll` with the current
//! certificate) and `GET /v1/whoami`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use palisade_pki::{CaRepo, Kek};

use crate::HubError;
use crate::est::{Est, PeerCert};

const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// Where the gateway finds the CA and what it answers to.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// The CA directory (DATA_DIR/ca).
    pub ca_dir: PathBuf,
    /// The hub's key-encryption key file.
    pub kek_file: PathBuf,
    /// Names in the gateway's server certificate.
    pub server_names: Vec<String>,
}

impl GatewayConfig {
    /// The defaults for a hub data directory.
    pub fn for_data_dir(data_dir: &Path, listen: SocketAddr) -> GatewayConfig {
        GatewayConfig {
            listen,
            ca_dir: data_dir.join("ca"),
            kek_file: data_dir.join("kek"),
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
        }
    }
}

/// Checks chain + EKU with webpki, then the end-entity serial against the CA's live
/// revocation state.
struct DeviceVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    repo: Mutex<(CaRepo, Instant)>,
}

impl std::fmt::Debug for DeviceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceVerifier")
    }
}

impl DeviceVerifier {
    fn refused(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        use x509_parser::prelude::FromDer;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let mut guard = self
            .repo
            .lock()
            .map_err(|_| rustls::Error::General("CA state lock poisoned".into()))?;
        let (repo, last) = &mut *guard;
        if last.elapsed() >= REFRESH_EVERY {
            if let Err(e) = repo.refresh() {
                tracing::warn!("gateway: refreshing the CA ledger: {e}");
            }
            *last = Instant::now();
        }
        // A certificate issued since the last refresh: read the ledger's new lines now (cheap:
        // only the bytes appended since the last read).
        if repo.record(cert.raw_serial()).is_none() {
            if let Err(e) = repo.refresh() {
                tracing::warn!("gateway: refreshing the CA ledger: {e}");
            }
            *last = Instant::now();
        }
        if repo.is_revoked(cert.raw_serial()) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        // Chaining to our CA is not enough: the CA must have recorded this exact certificate
        // (an "unknown" certificate is refused even if the signature checks out).
        match repo.record(cert.raw_serial()) {
            Some(r) if r.der == end_entity.as_ref() && r.via != "server" => Ok(()),
            _ => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }
}

impl ClientCertVerifier for DeviceVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.chain
            .verify_client_cert(end_entity, intermediates, now)?;
        self.refused(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// A prepared gateway: TLS configuration and the app.
pub struct Gateway {
    tls: Arc<rustls::ServerConfig>,
    listen: SocketAddr,
    est: Arc<Est>,
    /// The gateway's server certificate chain (PEM), for clients to pin or inspect.
    pub server_cert_pem: String,
}

fn terr(what: &str, e: impl std::fmt::Display) -> HubError {
    HubError::Tls(format!("gateway {what}: {e}"))
}

impl Gateway {
    /// Opens the CA (which must exist), issues the gateway's server certificate on first use
    /// (its key sealed under the KEK in the CA directory) and builds the TLS configuration.
    pub fn prepare(cfg: &GatewayConfig) -> Result<Gateway, HubError> {
        let open = || -> Result<CaRepo, HubError> {
            let kek = Kek::load_or_create(&cfg.kek_file).map_err(|e| terr("KEK", e))?;
            CaRepo::open(&cfg.ca_dir, kek).map_err(|e| terr("CA", e))
        };
        let mut repo = open()?;
        let cert_path = cfg.ca_dir.join("gateway.pem");
        let key_path = cfg.ca_dir.join("gateway.key.sealed");
        let kek = Kek::load_or_create(&cfg.kek_file).map_err(|e| terr("KEK", e))?;
        let aad = b"palisade-ca/gateway.key";
        let (cert_pem, key_pem) = match (std::fs::read(&cert_path), std::fs::read(&key_path)) {
            (Ok(c), Ok(k)) => (c, kek.open(aad, &k).map_err(|e| terr("key", e))?),
            _ => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let (issued, key_pem) = repo
                    .issue_server(&cfg.server_names, 397, now)
                    .map_err(|e| terr("certificate", e))?;
                let chain = format!(
                    "{}{}",
                    palisade_pki::to_pem("CERTIFICATE", &issued.der),
                    palisade_pki::to_pem("CERTIFICATE", repo.ca().issuing_der())
                );
                let sealed = kek
                    .seal(aad, key_pem.as_bytes())
                    .map_err(|e| terr("key", e))?;
                let _ = std::fs::remove_file(&key_path);
                std::fs::write(&key_path, sealed)?;
                std::fs::write(&cert_path, &chain)?;
                (chain.into_bytes(), key_pem.into_bytes())
            }
        };
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| terr("certificate", e))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| terr("key", e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        // Both CA certificates are anchors, so devices that send only their leaf still chain.
        roots
            .add(CertificateDer::from(repo.ca().root_der().to_vec()))
            .map_err(|e| terr("root", e))?;
        roots
            .add(CertificateDer::from(repo.ca().issuing_der().to_vec()))
            .map_err(|e| terr("issuing CA", e))?;
        let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| terr("verifier", e))?;
        let verifier = Arc::new(DeviceVerifier {
            chain,
            repo: Mutex::new((open()?, Instant::now())),
        });
        let mut sc = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| terr("TLS", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(|e| terr("TLS", e))?;
        sc.alpn_protocols = vec![b"http/1.1".to_vec()];
        drop(repo);
        Ok(Gateway {
            tls: Arc::new(sc),
            listen: cfg.listen,
            est: Arc::new(Est::new(cfg.ca_dir.clone(), cfg.kek_file.clone())),
            server_cert_pem: String::from_utf8_lossy(&cert_pem).into_owned(),
        })
    }

    /// The gateway's application.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/whoami", get(whoami))
            .merge(crate::est::router(self.est.clone()))
            .layer(middleware::from_fn(peer_to_extension))
    }

    /// Binds the listener; returns the address and the serving future.
    pub async fn bind(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<
        (
            SocketAddr,
            impl std::future::Future<Output = std::io::Result<()>>,
        ),
        HubError,
    > {
        let app = self
            .router()
            .into_make_service_with_connect_info::<PeerCert>();
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let tls = crate::tls::TlsListener::new(listener, self.tls.clone());
        let fut = async move { axum::serve(tls, app).with_graceful_shutdown(shutdown).await };
        Ok((addr, fut))
    }
}

impl Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>> for PeerCert {
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        let (_, conn) = stream.io().get_ref();
        PeerCert(Arc::new(
            conn.peer_certificates()
                .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        ))
    }
}

/// Makes the verified client chain available to handlers as `Extension<PeerCert>`.
async fn peer_to_extension(
    ConnectInfo(peer): ConnectInfo<PeerCert>,
    mut req: Request,
    next: Next,
) -> Response {
    if !peer.0.is_empty() {
        req.extensions_mut().insert(peer);
    }
    next.run(req).await
}

async fn whoami(ConnectInfo(peer): ConnectInfo<PeerCert>) -> Response {
    use x509_parser::prelude::FromDer;
    let Some(leaf) = peer.0.first() else {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            "no client certificate\n",
        )
            .into_response();
    };
    match x509_parser::certificate::X509Certificate::from_der(leaf) {
        Ok((_, cert)) => {
            let cn = cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok())
                .unwrap_or_default()
                .to_owned();
            Json(serde_json::json!({
                "device_id": cn,
                "serial": palisade_pki::hex(cert.raw_serial()),
                "not_after": cert.validity().not_after.timestamp(),
            }))
            .into_response()
        }
        Err(_) => (axum::http::StatusCode::BAD_REQUEST, "bad certificate\n").into_response(),
    }
}
