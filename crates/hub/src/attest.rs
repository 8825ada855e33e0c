//! Remote attestation on the mTLS device gateway (issue 10). A device authenticated by its
//! Palisade certificate asks for a challenge (`GET /v1/attest/nonce`), has its TPM quote the
//! PCRs over it (`tpm2_quote -q NONCE`) and posts the evidence (`POST /v1/attest`: TPMS_ATTEST,
//! signature, attestation-key public key). The hub checks the AK signature, the nonce (one use,
//! five minutes) and the PCR digest against the golden values in DATA_DIR/attest/golden.json —
//! derived from the signed firmware image by `palisade attest golden`. Every result is appended
//! to DATA_DIR/attest/results.jsonl (size-capped); a failure also raises a `policy.violation`
//! alert in the hub's store (DESIGN.md §6 has no attestation id: the device runs outside the
//! trust policy the hub holds for it).
//!
//! EK/AK binding (credential activation, TPM 2.0 Part 1 §24): the device posts its endorsement
//! key and attestation key public areas (`POST /v1/attest/enroll`, TPM2B_PUBLIC as
//! `tpm2_createek -u` / `tpm2_readpublic -f tss` write them); the hub seals a fresh secret to
//! the EK for the AK's name (TPM2_MakeCredential in palisade-pki) and returns it in
//! `tpm2_makecredential`'s file format. Only the TPM holding that EK, with that AK loaded, can
//! open it (`tpm2_activatecredential`); the device posts the secret back
//! (`POST /v1/attest/activate`) and the AK is then bound to the device (DATA_DIR/attest/aks.jsonl).
//! From then on a quote must be signed by the bound AK, and the device's EK is pinned: a
//! challenge for another EK is refused. Quotes from devices without a bound AK
//! still verify, and their result says the AK is unbound.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::est::PeerCert;
use crate::gateway::GatewayState;

const NONCE_TTL: Duration = Duration::from_secs(300);
/// Outstanding challenges kept at most (one per device; the oldest is dropped beyond this).
const MAX_NONCES: usize = 100_000;
const RESULTS_ROTATE_AT: u64 = 64 << 20;
/// Devices with a bound AK, at most; a new binding beyond this is refused (never evicted: an
/// evicted binding would silently weaken that device's attestation).
const MAX_BOUND_AKS: usize = 1_000_000;

/// An attestation key bound to a device's EK by credential activation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundAk {
    pub device_id: String,
    /// Hex of the AK's name (nameAlg || H(TPMT_PUBLIC)).
    pub ak_name: String,
    /// Hex of the AK's TPM2B_PUBLIC.
    pub ak_public: String,
    /// Hex of the EK's name.
    pub ek_name: String,
    pub time: i64,
}

/// An outstanding credential challenge: the secret sealed for the device's EK/AK pair.
struct PendingBinding {
    secret_digest: Vec<u8>,
    ak: palisade_pki::credential::TpmPublic,
    ek_name: Vec<u8>,
    at: Instant,
}

/// Golden PCR values (SHA-256 bank), as `palisade attest golden` writes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GoldenFile {
    /// PCR index → hex value.
    pub pcrs: std::collections::BTreeMap<u32, String>,
    /// Where the values came from (image file names and their SHA-256 measurements).
    #[serde(default)]
    pub source: Vec<String>,
}

impl GoldenFile {
    pub fn values(&self) -> Result<Vec<(u32, [u8; 32])>, String> {
        self.pcrs
            .iter()
            .map(|(i, h)| {
                let v = palisade_pki::unhex(h)
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| format!("golden PCR {i}: not 32 bytes of hex"))?;
                Ok((*i, v))
            })
            .collect()
    }
}

/// One attestation outcome, as logged and returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttestResult {
    pub device_id: String,
    pub time: i64,
    pub ok: bool,
    pub reason: String,
    pub pcr_digest: Option<String>,
    pub firmware_version: Option<u64>,
    /// The MAC the device reported with its evidence (links the result to its device page).
    #[serde(default)]
    pub mac: Option<String>,
}

pub(crate) struct Attest {
    dir: PathBuf,
    nonces: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    pending: Mutex<HashMap<String, PendingBinding>>,
    /// Device id → bound AK, loaded from aks.jsonl (the latest line of a device wins).
    bound: Mutex<HashMap<String, BoundAk>>,
    log: Mutex<()>,
}

impl Attest {
    pub(crate) fn new(data_dir: &std::path::Path) -> Attest {
        let dir = data_dir.join("attest");
        let mut bound = HashMap::new();
        let text = std::fs::read_to_string(dir.join("aks.jsonl")).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            match serde_json::from_str::<BoundAk>(line) {
                Ok(b) => {
                    bound.insert(b.device_id.clone(), b);
                }
                Err(e) => tracing::warn!("attest/aks.jsonl line {}: {e}", i + 1),
            }
        }
        Attest {
            dir,
            nonces: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            bound: Mutex::new(bound),
            log: Mutex::new(()),
        }
    }

    /// Seals a fresh secret to `ek_public` for the AK `ak_public` (both TPM2B_PUBLIC) and keeps
    /// it outstanding for `device`. Returns the `tpm2_makecredential` file and the AK name.
    fn credential_challenge(
        &self,
        device: &str,
        ek_public: &[u8],
        ak_public: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let ek = palisade_pki::credential::parse_tpm2b_public(ek_public)
            .map_err(|e| format!("ek_pub: {e}"))?;
        let ak = palisade_pki::credential::parse_tpm2b_public(ak_public)
            .map_err(|e| format!("ak_pub: {e}"))?;
        ak.check_attestation_key().map_err(|e| e.to_string())?;
        // A device's EK is pinned by its first binding: a certificate copied to a machine with
        // another TPM cannot re-bind.
        let ek_name = palisade_pki::hex(&ek.name());
        if let Some(b) = self
            .bound
            .lock()
            .map_err(|_| "AK table lock poisoned")?
            .get(device)
            .filter(|b| b.ek_name != ek_name)
        {
            return Err(format!(
                "{device} is bound to EK {}, not EK {ek_name} (a different TPM); to re-bind, \
                 remove its lines from DATA_DIR/attest/aks.jsonl and restart the hub",
                b.ek_name
            ));
        }
        let mut secret = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .map_err(|_| "random source failed".to_string())?;
        let ak_name = ak.name();
        let blob = palisade_pki::credential::make_credential(&ek, &ak_name, &secret)
            .map_err(|e| e.to_string())?;
        let mut map = self.pending.lock().map_err(|_| "challenge lock poisoned")?;
        map.retain(|_, p| p.at.elapsed() < NONCE_TTL);
        if map.len() >= MAX_NONCES
            && let Some(oldest) = map.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            device.to_owned(),
            PendingBinding {
                secret_digest: ring::digest::digest(&ring::digest::SHA256, &secret)
                    .as_ref()
                    .to_vec(),
                ak,
                ek_name: ek.name(),
                at: Instant::now(),
            },
        );
        Ok((blob.to_tpm2_tools_file(), ak_name))
    }

    /// Checks the secret the device recovered; on a match binds its AK (one attempt per
    /// challenge).
    fn activate(&self, device: &str, secret: &[u8], now: i64) -> Result<BoundAk, String> {
        let pending = self
            .pending
            .lock()
            .map_err(|_| "challenge lock poisoned")?
            .remove(device)
            .filter(|p| p.at.elapsed() < NONCE_TTL)
            .ok_or("no outstanding credential challenge (POST /v1/attest/enroll first; it expires after five minutes and allows one answer)")?;
        // Compare digests, so the comparison's timing says nothing about the secret.
        let got = ring::digest::digest(&ring::digest::SHA256, secret);
        if got.as_ref() != pending.secret_digest.as_slice() {
            return Err(format!(
                "credential activation failed: the device did not recover the secret sealed to \
                 EK {} for AK {} (the AK is not resident in the TPM holding that EK)",
                palisade_pki::hex(&pending.ek_name),
                palisade_pki::hex(&pending.ak.name())
            ));
        }
        let rec = BoundAk {
            device_id: device.to_owned(),
            ak_name: palisade_pki::hex(&pending.ak.name()),
            ak_public: palisade_pki::hex(&pending.ak.to_tpm2b()),
            ek_name: palisade_pki::hex(&pending.ek_name),
            time: now,
        };
        let mut bound = self.bound.lock().map_err(|_| "AK table lock poisoned")?;
        if bound.len() >= MAX_BOUND_AKS && !bound.contains_key(device) {
            return Err(format!("{MAX_BOUND_AKS} devices already have a bound AK"));
        }
        {
            use std::io::Write as _;
            let _g = self
                .log
                .lock()
                .map_err(|_| "attestation log lock poisoned")?;
            let line = serde_json::to_string(&rec).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&self.dir)
                .and_then(|_| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(self.dir.join("aks.jsonl"))
                })
                .and_then(|mut f| writeln!(f, "{line}"))
                .map_err(|e| format!("attest/aks.jsonl: {e}"))?;
        }
        bound.insert(device.to_owned(), rec.clone());
        Ok(rec)
    }

    /// The AK bound to `device`, parsed (None when the device has none).
    fn bound_ak(&self, device: &str) -> Option<(BoundAk, palisade_pki::credential::TpmPublic)> {
        let b = self.bound.lock().ok()?.get(device)?.clone();
        let public = palisade_pki::unhex(&b.ak_public)?;
        let ak = palisade_pki::credential::parse_tpm2b_public(&public).ok()?;
        Some((b, ak))
    }

    fn challenge(&self, device: &str) -> Result<Vec<u8>, String> {
        let mut nonce = vec![0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| "random source failed".to_string())?;
        let mut map = self.nonces.lock().map_err(|_| "nonce lock poisoned")?;
        map.retain(|_, (_, t)| t.elapsed() < NONCE_TTL);
        if map.len() >= MAX_NONCES
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(device.to_owned(), (nonce.clone(), Instant::now()));
        Ok(nonce)
    }

    /// The outstanding nonce of `device`, spent now (a quote answers one challenge).
    fn take_nonce(&self, device: &str) -> Option<Vec<u8>> {
        let mut map = self.nonces.lock().ok()?;
        let (n, t) = map.remove(device)?;
        (t.elapsed() < NONCE_TTL).then_some(n)
    }

    fn record(&self, r: &AttestResult) -> std::io::Result<()> {
        use std::io::Write as _;
        let _g = self
            .log
            .lock()
            .map_err(|_| std::io::Error::other("attestation log lock poisoned"))?;
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join("results.jsonl");
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESULTS_ROTATE_AT) {
            std::fs::rename(&path, path.with_extension("jsonl.1"))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let line = serde_json::to_string(r).map_err(std::io::Error::other)?;
        writeln!(f, "{line}")
    }
}

/// The latest attestation result per device id from DATA_DIR/attest/results.jsonl.
pub fn latest_results(data_dir: &std::path::Path) -> HashMap<String, AttestResult> {
    let mut out = HashMap::new();
    let text = std::fs::read_to_string(data_dir.join("attest/results.jsonl")).unwrap_or_default();
    for line in text.lines() {
        if let Ok(r) = serde_json::from_str::<AttestResult>(line) {
            out.insert(r.device_id.clone(), r);
        }
    }
    out
}

/// The attestation card of a device page: the latest result of each device identity that
/// reported this MAC (empty when none did).
pub(crate) fn device_section(data_dir: &std::path::Path, mac: &str) -> String {
    let mut rows: Vec<AttestResult> = latest_results(data_dir)
        .into_values()
        .filter(|r| r.mac.as_deref() == Some(mac))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    let esc = crate::esc;
    let mut out = String::from(
        "<section class=\"card\" id=\"attestation\"><h2>Attestation</h2><table><thead><tr>\
         <th>Identity</th><th>Result</th><th>When</th><th>PCR digest</th><th>Detail</th></tr></thead><tbody>",
    );
    for r in rows {
        out.push_str(&format!(
            "<tr><td class=\"mono\">{}</td><td><span class=\"sev sev-{}\">{}</span></td><td>{}</td>\
             <td class=\"mono\">{}</td><td>{}</td></tr>",
            esc(&r.device_id),
            if r.ok { "low" } else { "high" },
            if r.ok { "passed" } else { "FAILED" },
            esc(&rfc3339(r.time)),
            esc(r.pcr_digest.as_deref().unwrap_or("—")),
            esc(&r.reason)
        ));
    }
    out.push_str("</tbody></table></section>");
    out
}

#[derive(Deserialize)]
struct Evidence {
    /// TPMS_ATTEST (`tpm2_quote -m`), base64.
    quote: String,
    /// The signature (`tpm2_quote -s ... -f plain`), base64.
    signature: String,
    /// The attestation key's public key, PEM (`tpm2_createak -f pem`).
    ak_pub: String,
    /// The device's MAC, when it knows it: puts a failure alert on its device page.
    #[serde(default)]
    mac: Option<String>,
}

pub(crate) fn routes(router: Router<Arc<GatewayState>>) -> Router<Arc<GatewayState>> {
    router
        .route("/v1/attest/nonce", axum::routing::get(nonce))
        .route("/v1/attest", axum::routing::post(attest))
        .route("/v1/attest/enroll", axum::routing::post(enroll))
        .route("/v1/attest/activate", axum::routing::post(activate))
}

#[derive(Deserialize)]
struct EnrollBody {
    /// The endorsement key's TPM2B_PUBLIC (`tpm2_createek -u`), base64.
    ek_pub: String,
    /// The attestation key's TPM2B_PUBLIC (`tpm2_readpublic -f tss`), base64.
    ak_pub: String,
}

async fn enroll(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
    body: axum::body::Bytes,
) -> Response {
    let device = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let parsed = serde_json::from_slice::<EnrollBody>(&body)
        .map_err(|e| format!("enroll: {e} (expected {{ek_pub, ak_pub}}, base64 TPM2B_PUBLIC)"))
        .and_then(|b| {
            let dec = |s: &str, what: &str| {
                palisade_pki::pkcs7::base64_decode(s.as_bytes()).map_err(|e| format!("{what}: {e}"))
            };
            Ok((dec(&b.ek_pub, "ek_pub")?, dec(&b.ak_pub, "ak_pub")?))
        });
    let (ek, ak) = match parsed {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    match st.attest.credential_challenge(&device, &ek, &ak) {
        Ok((file, name)) => Json(serde_json::json!({
            "device_id": device,
            "ak_name": palisade_pki::hex(&name),
            "credential": palisade_pki::pkcs7::base64_lines(&file).replace('\n', ""),
        }))
        .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

#[derive(Deserialize)]
struct ActivateBody {
    /// The secret `tpm2_activatecredential` recovered, hex.
    secret: String,
    /// The device's MAC, when it knows it: puts a failure alert on its device page.
    #[serde(default)]
    mac: Option<String>,
}

async fn activate(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
    body: axum::body::Bytes,
) -> Response {
    let device = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let (secret, mac) = match serde_json::from_slice::<ActivateBody>(&body)
        .map_err(|e| format!("activate: {e} (expected {{secret}})"))
        .and_then(|b| {
            let s = palisade_pki::unhex(b.secret.trim()).ok_or("secret: not hex")?;
            Ok((s, valid_mac(b.mac.as_deref())))
        }) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let now = unix_now();
    let verdict = st.attest.activate(&device, &secret, now);
    let result = AttestResult {
        device_id: device.clone(),
        time: now,
        ok: verdict.is_ok(),
        reason: match &verdict {
            Ok(b) => format!(
                "AK {} bound to EK {} by credential activation",
                b.ak_name, b.ek_name
            ),
            Err(e) => e.clone(),
        },
        pcr_digest: None,
        firmware_version: None,
        mac,
    };
    report(&st, &result).await;
    match verdict {
        Ok(b) => Json(b).into_response(),
        Err(_) => (StatusCode::FORBIDDEN, Json(result)).into_response(),
    }
}

/// A MAC as aa:bb:cc:dd:ee:ff, lower-cased; anything else is dropped.
fn valid_mac(mac: Option<&str>) -> Option<String> {
    mac.filter(|m| m.len() == 17 && m.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'))
        .map(str::to_ascii_lowercase)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn nonce(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
) -> Response {
    let device = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match st.attest.challenge(&device) {
        Ok(n) => Json(serde_json::json!({"device_id": device, "nonce": palisade_pki::hex(&n)}))
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn attest(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<PeerCert>,
    body: axum::body::Bytes,
) -> Response {
    let device = match st.device_of(&peer) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let ev: Evidence = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("evidence: {e} (expected {{quote, signature, ak_pub}})\n"),
            )
                .into_response();
        }
    };
    let b64 = |s: &str, what: &str| {
        palisade_pki::pkcs7::base64_decode(s.as_bytes()).map_err(|e| format!("{what}: {e}"))
    };
    let (quote, sig) = match (b64(&ev.quote, "quote"), b64(&ev.signature, "signature")) {
        (Ok(q), Ok(s)) => (q, s),
        (Err(e), _) | (_, Err(e)) => {
            return (StatusCode::BAD_REQUEST, format!("evidence: {e}\n")).into_response();
        }
    };
    let golden = std::fs::read(st.attest.dir.join("golden.json"))
        .map_err(|e| format!("no golden values ({e}); write them with `palisade attest golden`"))
        .and_then(|b| {
            serde_json::from_slice::<GoldenFile>(&b).map_err(|e| format!("golden.json: {e}"))
        })
        .and_then(|g| g.values());
    let nonce = st.attest.take_nonce(&device);
    let verdict = match (&golden, nonce) {
        (Err(e), _) => {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response();
        }
        (_, None) => Err("no outstanding challenge (GET /v1/attest/nonce first; it expires after five minutes and is good for one quote)".to_string()),
        (Ok(g), Some(n)) => palisade_pki::tpm::verify_quote(&quote, &sig, ev.ak_pub.as_bytes(), &n, g)
            .map_err(|e| e.to_string()),
    };
    // With a bound AK, only that AK's quotes count.
    let bound = st.attest.bound_ak(&device);
    let verdict = verdict.and_then(|_| match &bound {
        Some((b, ak)) if !ak.matches_spki(ev.ak_pub.as_bytes()) => Err(format!(
            "quote signed by a key other than the attestation key {} bound to this device's EK",
            b.ak_name
        )),
        _ => Ok(()),
    });
    let now = unix_now();
    let parsed = palisade_pki::tpm::parse_quote(&quote).ok();
    let result = AttestResult {
        device_id: device.clone(),
        time: now,
        ok: verdict.is_ok(),
        reason: match &verdict {
            Ok(_) => match &bound {
                Some((b, _)) => format!(
                    "quote signature (bound AK {}), nonce and PCR digest match the golden values",
                    b.ak_name
                ),
                None => "quote signature, nonce and PCR digest match the golden values; the AK is \
                         not bound to an EK (POST /v1/attest/enroll)"
                    .into(),
            },
            Err(e) => e.clone(),
        },
        pcr_digest: parsed.as_ref().map(|q| palisade_pki::hex(&q.pcr_digest)),
        firmware_version: parsed.as_ref().map(|q| q.firmware_version),
        mac: valid_mac(ev.mac.as_deref()),
    };
    report(&st, &result).await;
    let status = if result.ok {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    (status, Json(result)).into_response()
}

static ALERT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Logs an attestation result; a failure also raises a `policy.violation` alert.
async fn report(st: &GatewayState, result: &AttestResult) {
    let (device, now) = (&result.device_id, result.time);
    if let Err(e) = st.attest.record(result) {
        tracing::error!("attestation log: {e}");
    }
    if !result.ok
        && let Some(hub) = st.hub()
    {
        let mac = result.mac.clone();
        let ts = crate::attest::rfc3339(now);
        let alert = serde_json::json!({
            "type": "alert",
            // Several results of one device can fall in the same second: a sequence number
            // keeps their alerts apart.
            "id": format!(
                "attest-{device}-{now}-{}",
                ALERT_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            "kind": "policy.violation",
            "severity": "high",
            "device": mac,
            "src": null, "dst": null,
            "first_seen": ts, "last_seen": ts, "count": 1,
            "summary": format!("attestation failed for {device}: {}", result.reason),
            "evidence": {"attestation": result},
            "mitre": ["T1542"],
        });
        let store = hub.store.clone();
        let line = alert.to_string();
        let r = tokio::task::spawn_blocking(move || store.ingest_ndjson(&line)).await;
        match r {
            Ok(Ok(o)) if o.accepted > 0 => hub.new_alerts.send_modify(|v| *v += 1),
            Ok(Ok(o)) => tracing::warn!("attestation alert not stored: {:?}", o.rejected),
            Ok(Err(e)) => tracing::error!("attestation alert: {e}"),
            Err(e) => tracing::error!("attestation alert: {e}"),
        }
    }
}

/// RFC 3339 UTC with microseconds, as the report's timestamps.
pub(crate) fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_section_shows_latest_result_for_the_mac() {
        let dir = std::env::temp_dir().join(format!("palisade-attest-ui-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = Attest::new(&dir);
        let mk = |ok: bool, reason: &str, mac: Option<&str>| AttestResult {
            device_id: "cam-1".into(),
            time: 1_790_000_000,
            ok,
            reason: reason.into(),
            pcr_digest: Some("ab".repeat(32)),
            firmware_version: Some(1),
            mac: mac.map(str::to_owned),
        };
        a.record(&mk(true, "fine", Some("aa:bb:cc:dd:ee:ff")))
            .unwrap();
        a.record(&mk(
            false,
            "PCR digest <differs>",
            Some("aa:bb:cc:dd:ee:ff"),
        ))
        .unwrap();
        let html = device_section(&dir, "aa:bb:cc:dd:ee:ff");
        assert!(
            html.contains("FAILED") && !html.contains("passed"),
            "{html}"
        );
        assert!(html.contains("PCR digest &lt;differs&gt;"), "{html}");
        assert!(html.contains("2026-09-21T14:13:20"), "{html}");
        assert_eq!(device_section(&dir, "00:00:00:00:00:01"), "");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
