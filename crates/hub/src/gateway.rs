//! The mTLS device gateway (issue 10): a second listener where devices authenticate with the
//! client certificates the CA issued. TLS 1.3 only (rustls, ring); a client certificate is
//! required, must chain to the Palisade CA with the clientAuth EKU, and its serial must not be
//! revoked — checked at the end-entity on every handshake against the CA's revocation set (a hash
//! set, refreshed from the CA ledger at most once a second, so a revocation bites within a
//! second without waiting for the next CRL). Serves EST (`simplereenroll` with the current
//! certificate; `simpleenroll` with a manufacturer certificate, IDevID → LDevID, when manufacturer
//! CAs are configured), `GET /v1/whoami`, `POST /v1/telemetry` (device telemetry, appended to a
//! size-capped log under the authenticated device id) and `POST /v1/ingest` (sensor NDJSON into
//! the hub's store, for identities on the ingest allow-list).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
    /// PEM bundle of manufacturer CA certificates: device certificates (IDevIDs) chaining to one
    /// of them are let in for EST `simpleenroll` only.
    pub manufacturer_ca: Option<PathBuf>,
    /// Identities (certificate device ids) allowed to `POST /v1/ingest` sensor events; an entry
    /// ending in `*` is a prefix.
    pub ingest_ids: Vec<String>,
    /// Where device telemetry is appended (`telemetry.jsonl`, rotated to `.1` at 64 MiB).
    pub data_dir: PathBuf,
}

impl GatewayConfig {
    /// The defaults for a hub data directory.
    pub fn for_data_dir(data_dir: &Path, listen: SocketAddr) -> GatewayConfig {
        GatewayConfig {
            listen,
            ca_dir: data_dir.join("ca"),
            kek_file: data_dir.join("kek"),
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
            manufacturer_ca: None,
            ingest_ids: vec!["sensor-*".into()],
            data_dir: data_dir.to_path_buf(),
        }
    }
}

/// Checks chain + EKU with webpki, then the end-entity serial against the CA's live
/// revocation state.
struct DeviceVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    /// Manufacturer CAs (IDevIDs), tried when the chain is not ours.
    manufacturer: Option<Arc<dyn ClientCertVerifier>>,
    hints: Vec<DistinguishedName>,
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
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .chain
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(_) => {
                self.refused(end_entity)?;
                Ok(ClientCertVerified::assertion())
            }
            // Not ours: a manufacturer certificate may still come in, for EST enrollment only
            // (the handlers accept nothing else from it).
            Err(e) => match &self.manufacturer {
                Some(m) => m
                    .verify_client_cert(end_entity, intermediates, now)
                    .map_err(|_| e),
                None => Err(e),
            },
        }
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
    state: Arc<GatewayState>,
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
        let mut manufacturer_roots = Vec::new();
        let manufacturer = match &cfg.manufacturer_ca {
            None => None,
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| terr(&p.display().to_string(), e))?;
                let mut mroots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(&pem) {
                    let c = c.map_err(|e| terr(&p.display().to_string(), e))?;
                    manufacturer_roots.push(c.as_ref().to_vec());
                    mroots
                        .add(c)
                        .map_err(|e| terr(&p.display().to_string(), e))?;
                }
                if mroots.is_empty() {
                    return Err(terr(
                        &p.display().to_string(),
                        "no CERTIFICATE block in the manufacturer CA file",
                    ));
                }
                Some(
                    WebPkiClientVerifier::builder_with_provider(Arc::new(mroots), provider.clone())
                        .build()
                        .map_err(|e| terr("manufacturer verifier", e))?,
                )
            }
        };
        let mut hints = chain.root_hint_subjects().to_vec();
        if let Some(m) = &manufacturer {
            hints.extend_from_slice(m.root_hint_subjects());
        }
        let verifier = Arc::new(DeviceVerifier {
            chain,
            manufacturer,
            hints,
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
        let mut est = Est::new(cfg.ca_dir.clone(), cfg.kek_file.clone());
        est.manufacturer_roots = manufacturer_roots;
        let est = Arc::new(est);
        Ok(Gateway {
            tls: Arc::new(sc),
            listen: cfg.listen,
            state: Arc::new(GatewayState {
                est: est.clone(),
                hub: None,
                ingest_ids: cfg.ingest_ids.clone(),
                telemetry: Mutex::new(cfg.data_dir.join("telemetry.jsonl")),
                attest: crate::attest::Attest::new(&cfg.data_dir),
            }),
            est,
            server_cert_pem: String::from_utf8_lossy(&cert_pem).into_owned(),
        })
    }

    /// Connects the gateway to the hub's store (sensor ingest goes there).
    pub(crate) fn with_hub(mut self, hub: Arc<crate::AppState>) -> Gateway {
        if let Some(st) = Arc::get_mut(&mut self.state) {
            st.hub = Some(hub);
        }
        self
    }

    /// The gateway's application.
    pub fn router(&self) -> Router {
        crate::attest::routes(Router::new())
            .route("/v1/whoami", get(whoami))
            .route(
                "/v1/telemetry",
                post(telemetry).layer(DefaultBodyLimit::max(MAX_TELEMETRY_BODY)),
            )
            .route(
                "/v1/ingest",
                post(ingest).layer(DefaultBodyLimit::max(crate::api::MAX_INGEST_BODY)),
            )
            .with_state(self.state.clone())
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

/// `GET /v1/whoami`: the device identity this connection authenticated as.
async fn whoami(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
) -> Response {
    let device = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let Some(leaf) = peer.0.first() else {
        return (StatusCode::UNAUTHORIZED, "no client certificate\n").into_response();
    };
    match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => Json(serde_json::json!({
            "device_id": device,
            "serial": palisade_pki::hex(cert.raw_serial()),
            "not_after": cert.validity().not_after.timestamp(),
        }))
        .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "bad certificate\n").into_response(),
    }
}

/// Largest telemetry message (one JSON object).
const MAX_TELEMETRY_BODY: usize = 64 * 1024;
/// The telemetry log is rotated (to `telemetry.jsonl.1`, replacing the previous one) past this.
const TELEMETRY_ROTATE_AT: u64 = 64 << 20;

pub(crate) struct GatewayState {
    est: Arc<Est>,
    hub: Option<Arc<crate::AppState>>,
    ingest_ids: Vec<String>,
    /// The telemetry log; the lock serialises appends and rotation.
    telemetry: Mutex<PathBuf>,
    pub(crate) attest: crate::attest::Attest,
}

impl GatewayState {
    /// The device id of a certificate this CA issued and still honours (the TLS layer refused
    /// revoked and unknown ones; a manufacturer certificate is not an identity here).
    pub(crate) fn hub(&self) -> Option<Arc<crate::AppState>> {
        self.hub.clone()
    }

    pub(crate) fn device_of(&self, peer: &PeerCert) -> Result<String, (StatusCode, String)> {
        let forbidden = |m: &str| (StatusCode::FORBIDDEN, format!("{m}\n"));
        let leaf = peer
            .0
            .first()
            .ok_or_else(|| (StatusCode::UNAUTHORIZED, "no client certificate\n".into()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                "bad client certificate\n".to_string(),
            )
        })?;
        let serial = cert.raw_serial().to_vec();
        let leaf = leaf.clone();
        self.est
            .with_repo(move |r| {
                r.refresh()?;
                Ok(r.record(&serial)
                    .filter(|rec| rec.der == leaf && rec.via != "server" && rec.revoked.is_none())
                    .map(|rec| rec.device_id.clone()))
            })
            .map_err(|_| forbidden("the CA could not be read"))?
            .ok_or_else(|| {
                forbidden(
                    "this certificate is not a Palisade device identity (a manufacturer \
                     certificate may only enroll over EST)",
                )
            })
    }

    fn may_ingest(&self, id: &str) -> bool {
        self.ingest_ids.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => p == id,
        })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `POST /v1/telemetry`: one JSON object from a device, logged under its certificate's id
/// (never an id claimed in the body).
async fn telemetry(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
    body: axum::body::Bytes,
) -> Response {
    let device = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let data: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return (StatusCode::BAD_REQUEST, "telemetry must be a JSON object\n").into_response();
        }
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("telemetry is not JSON: {e} (byte offset {})\n", e.column()),
            )
                .into_response();
        }
    };
    let received = unix_now();
    let line = serde_json::json!({"device": device, "received": received, "data": data});
    let st2 = st.clone();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write as _;
        let path = st2
            .telemetry
            .lock()
            .map_err(|_| std::io::Error::other("telemetry lock poisoned"))?;
        if std::fs::metadata(&*path).is_ok_and(|m| m.len() >= TELEMETRY_ROTATE_AT) {
            std::fs::rename(&*path, path.with_extension("jsonl.1"))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)?;
        writeln!(f, "{line}")
    })
    .await;
    match written {
        Ok(Ok(())) => {
            Json(serde_json::json!({"device_id": device, "received": received})).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!("gateway: telemetry log: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "telemetry not stored\n").into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("worker: {e}\n")).into_response(),
    }
}

/// `POST /v1/ingest`: sensor NDJSON (as `palisade push`), authenticated by the sensor's client
/// certificate instead of an API token.
async fn ingest(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
    body: String,
) -> Response {
    let sensor = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    if !st.may_ingest(&sensor) {
        return (
            StatusCode::FORBIDDEN,
            format!("identity {sensor:?} is not on the gateway's ingest allow-list\n"),
        )
            .into_response();
    }
    let Some(hub) = st.hub.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this gateway has no hub store\n",
        )
            .into_response();
    };
    let store = hub.store.clone();
    let actor = format!("sensor:{sensor}");
    let out = tokio::task::spawn_blocking(move || {
        let o = store.ingest_ndjson(&body)?;
        store.audit(
            &actor,
            "ingest",
            "events",
            &format!(
                "accepted {} duplicates {} ignored {} rejected {} (mTLS gateway)",
                o.accepted,
                o.duplicates,
                o.ignored,
                o.rejected.len()
            ),
        )?;
        Ok::<_, palisade_store::StoreError>(o)
    })
    .await;
    match out {
        Ok(Ok(o)) => {
            use std::sync::atomic::Ordering;
            let m = &hub.metrics;
            m.ingest_batches.fetch_add(1, Ordering::Relaxed);
            m.ingest_events.fetch_add(o.accepted, Ordering::Relaxed);
            m.ingest_duplicates
                .fetch_add(o.duplicates, Ordering::Relaxed);
            if o.accepted > 0 {
                hub.new_alerts.send_modify(|v| *v += 1);
            }
            Json(o).into_response()
        }
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("worker: {e}\n")).into_response(),
    }
}
