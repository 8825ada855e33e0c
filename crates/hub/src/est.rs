//! EST enrollment (RFC 7030) for device identities, backed by the CA in DATA_DIR/ca (crates/pki):
//!
//! - `GET  /.well-known/est/cacerts`        issuing + root CA, base64 PKCS#7 certs-only
//! - `POST /.well-known/est/simpleenroll`   base64 PKCS#10 in, base64 PKCS#7 out; authorized by a
//!   one-time enrollment token (HTTP Basic password or Bearer) from `palisade ca token`
//! - `POST /.well-known/est/simplereenroll` authorized by the device's current certificate, which
//!   only a TLS listener with client authentication can supply (it inserts [`PeerCert`]).
//!
//! The CA is opened lazily (it may be created after the hub starts) under the hub's KEK.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use palisade_pki::{CaRepo, Kek, PkiError, pkcs7};

/// Largest CSR body accepted (base64 of a few hundred bytes in practice).
const MAX_CSR_BODY: usize = 64 * 1024;

/// The client certificate chain of a mutually authenticated TLS connection (leaf first), put into
/// request extensions by a listener that verified it.
#[derive(Clone, Debug)]
pub struct PeerCert(pub Arc<Vec<Vec<u8>>>);

pub(crate) struct Est {
    ca_dir: PathBuf,
    kek_path: PathBuf,
    repo: Mutex<Option<CaRepo>>,
    /// The published CRL: (DER, thisUpdate, revoked count it reflects).
    crl: Mutex<Option<(Vec<u8>, i64, usize)>>,
    /// Manufacturer CA certificates (DER) whose device certificates (IDevIDs) may enroll
    /// through `simpleenroll` without a token, on the mTLS gateway.
    pub(crate) manufacturer_roots: Vec<Vec<u8>>,
}

/// CRL lifetime; a fresh one is signed when revocations change or half of this has passed.
const CRL_VALIDITY_S: i64 = 24 * 3600;

impl Est {
    pub(crate) fn new(ca_dir: PathBuf, kek_path: PathBuf) -> Est {
        Est {
            ca_dir,
            kek_path,
            repo: Mutex::new(None),
            crl: Mutex::new(None),
            manufacturer_roots: Vec::new(),
        }
    }

    /// Runs `f` on the CA, opening it on first use.
    pub(crate) fn with_repo<R>(
        &self,
        f: impl FnOnce(&mut CaRepo) -> Result<R, PkiError>,
    ) -> Result<R, EstError> {
        let mut guard = self
            .repo
            .lock()
            .map_err(|_| EstError::Internal("CA lock poisoned".into()))?;
        if guard.is_none() {
            if !self.ca_dir.join("ca.json").exists() {
                return Err(EstError::NoCa);
            }
            let kek = Kek::load_or_create(&self.kek_path)
                .map_err(|e| EstError::Internal(e.to_string()))?;
            let repo = CaRepo::open(&self.ca_dir, kek).map_err(|e| {
                tracing::error!("EST: opening the CA: {e}");
                EstError::Internal("the CA could not be opened".into())
            })?;
            *guard = Some(repo);
        }
        match guard.as_mut() {
            Some(repo) => f(repo).map_err(EstError::from),
            None => Err(EstError::NoCa),
        }
    }
}

#[derive(Debug)]
pub(crate) enum EstError {
    NoCa,
    Unauthorized(String),
    BadRequest(String),
    Internal(String),
}

impl From<PkiError> for EstError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Auth(m) => EstError::Unauthorized(m),
            PkiError::Der { .. } | PkiError::Csr(_) | PkiError::Policy(_) | PkiError::Cert(_) => {
                EstError::BadRequest(e.to_string())
            }
            other => {
                tracing::error!("EST: {other}");
                EstError::Internal("CA failure".into())
            }
        }
    }
}

impl IntoResponse for EstError {
    fn into_response(self) -> Response {
        match self {
            EstError::NoCa => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no CA configured (run `palisade ca init`)\n".to_string(),
            )
                .into_response(),
            EstError::Unauthorized(m) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"estrealm\"")],
                format!("{m}\n"),
            )
                .into_response(),
            EstError::BadRequest(m) => (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response(),
            EstError::Internal(m) => {
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{m}\n")).into_response()
            }
        }
    }
}

pub(crate) fn router(est: Arc<Est>) -> Router {
    Router::new()
        .route("/.well-known/est/cacerts", get(cacerts))
        .route("/.well-known/est/simpleenroll", post(simpleenroll))
        .route("/.well-known/est/simplereenroll", post(simplereenroll))
        // Revocation publication (public, as CRLs and OCSP are by design).
        .route("/pki/ca.pem", get(ca_pem))
        .route("/pki/crl", get(crl))
        .route("/pki/ocsp", post(ocsp))
        .layer(DefaultBodyLimit::max(MAX_CSR_BODY))
        .with_state(est)
}

fn pkcs7_response(certs: &[&[u8]]) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "application/pkcs7-mime; smime-type=certs-only",
            ),
            (
                header::HeaderName::from_static("content-transfer-encoding"),
                "base64",
            ),
        ],
        pkcs7::base64_lines(&pkcs7::certs_only(certs)),
    )
        .into_response()
}

async fn cacerts(State(est): State<Arc<Est>>) -> Result<Response, EstError> {
    let (issuing, root) =
        est.with_repo(|r| Ok((r.ca().issuing_der().to_vec(), r.ca().root_der().to_vec())))?;
    Ok(pkcs7_response(&[&issuing, &root]))
}

async fn ca_pem(State(est): State<Arc<Est>>) -> Result<Response, EstError> {
    let pem = est.with_repo(|r| Ok(r.chain_pem()))?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// The issuing CA's current CRL (DER, `application/pkix-crl`), re-signed only when the
/// revocation state changed or it is half-way to its nextUpdate.
async fn crl(State(est): State<Arc<Est>>) -> Result<Response, EstError> {
    let est2 = est.clone();
    let der = run_blocking(move || {
        let now = now();
        let mut cache = est2
            .crl
            .lock()
            .map_err(|_| EstError::Internal("CRL lock poisoned".into()))?;
        est2.with_repo(|r| {
            r.refresh()?;
            let revoked = r.revocation_set().len();
            if let Some((der, at, n)) = cache.as_ref()
                && *n == revoked
                && now - *at < CRL_VALIDITY_S / 2
            {
                return Ok(der.clone());
            }
            let (der, _) = r.crl(now, CRL_VALIDITY_S)?;
            *cache = Some((der.clone(), now, revoked));
            Ok(der)
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}

/// OCSP over HTTP POST (RFC 6960 appendix A); malformed requests get a malformedRequest
/// response, as OCSP clients expect.
async fn ocsp(State(est): State<Arc<Est>>, body: Bytes) -> Result<Response, EstError> {
    let resp = run_blocking(move || est.with_repo(|r| r.ocsp(&body, now()))).await?;
    Ok(([(header::CONTENT_TYPE, "application/ocsp-response")], resp).into_response())
}

/// The enrollment token from `Authorization: Basic` (the password) or `Bearer`.
fn token_from(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = pkcs7::base64_decode(rest.trim().as_bytes()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (_, pass) = text.split_once(':')?;
        return Some(pass.to_owned());
    }
    None
}

/// The CSR body: base64 DER per RFC 7030; raw DER and PEM are accepted too.
fn csr_from(body: &[u8]) -> Result<Vec<u8>, EstError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(EstError::BadRequest(
            "empty request body (expected a base64 PKCS#10 CSR)".into(),
        ));
    }
    if trimmed.first() == Some(&0x30) || trimmed.starts_with(b"-----BEGIN") {
        return Ok(trimmed.to_vec());
    }
    pkcs7::base64_decode(trimmed)
        .map_err(|e| EstError::BadRequest(format!("request body is not base64 DER: {e}")))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn run_blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, EstError> + Send + 'static,
) -> Result<R, EstError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EstError::Internal(format!("worker: {e}")))?
}

async fn simpleenroll(
    State(est): State<Arc<Est>>,
    peer: Option<Extension<PeerCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EstError> {
    let csr = csr_from(&body)?;
    let token = token_from(&headers);
    let est2 = est.clone();
    let issued = run_blocking(move || match (token, peer) {
        (Some(token), _) => est2.with_repo(|r| r.enroll_with_token(&token, &csr, "est", now())),
        // A client certificate of this CA (an LDevID) may also renew through simpleenroll; a
        // manufacturer certificate (IDevID) enrolls for its LDevID.
        (None, Some(Extension(PeerCert(chain)))) => {
            let leaf = chain.first().cloned().unwrap_or_default();
            let roots = est2.manufacturer_roots.clone();
            est2.with_repo(|r| {
                let ours = r.refresh().is_ok()
                    && x509_parser::parse_x509_certificate(&leaf)
                        .ok()
                        .and_then(|(_, c)| r.record(c.raw_serial()).map(|rec| rec.der == leaf))
                        .unwrap_or(false);
                if ours || roots.is_empty() {
                    r.reenroll(&leaf, &csr, "est-cert", now())
                } else {
                    r.enroll_with_idevid(&chain, &roots, &csr, "est-idevid", now())
                }
            })
        }
        (None, None) => Err(EstError::Unauthorized(
            "an enrollment token (HTTP Basic password or Bearer) is required".into(),
        )),
    })
    .await?;
    tracing::info!(
        "EST: enrolled device {} (serial {})",
        issued.device_id,
        palisade_pki::hex(&issued.serial)
    );
    Ok(pkcs7_response(&[&issued.der]))
}

async fn simplereenroll(
    State(est): State<Arc<Est>>,
    peer: Option<Extension<PeerCert>>,
    body: Bytes,
) -> Result<Response, EstError> {
    let csr = csr_from(&body)?;
    let Some(Extension(PeerCert(chain))) = peer else {
        return Err(EstError::Unauthorized(
            "simplereenroll requires the device's current certificate as TLS client certificate"
                .into(),
        ));
    };
    let leaf = chain.first().cloned().unwrap_or_default();
    let issued =
        run_blocking(move || est.with_repo(|r| r.reenroll(&leaf, &csr, "est-reenroll", now())))
            .await?;
    Ok(pkcs7_response(&[&issued.der]))
}
