//! The CA on disk. A directory holds the public certificates, the CA keys sealed under a
//! key-encryption key (never in plaintext), the settings, and an append-only ledger of
//! issuance, revocation and CRL events (JSON lines), so that the hub and the CLI can share one CA:
//! each appends whole lines with O_APPEND and picks up the other's lines with [`CaRepo::refresh`].
//!
//! ```text
//! ca.json              name, key type, issuance policy
//! root.pem issuing.pem chain.pem (issuing + root)
//! root.key.sealed issuing.key.sealed   PKCS#8, AES-256-GCM under the KEK
//! ledger.jsonl         {"op":"issue",...} {"op":"revoke",...} {"op":"crl",...}
//! ```

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ca::{Issued, NewCa, RevokedEntry};
use crate::ocsp::{CertStatus, Responder};
use crate::revocation::Reason;
use crate::{Ca, Kek, KeyKind, PkiError, Policy, RevocationSet, hex, keys, to_pem};

const META: &str = "ca.json";
const LEDGER: &str = "ledger.jsonl";
const ROOT_KEY: &str = "root.key.sealed";
const ISSUING_KEY: &str = "issuing.key.sealed";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    version: u32,
    name: String,
    key: KeyKind,
    created: i64,
    policy: Policy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Event {
    Issue {
        serial: String,
        device: String,
        key: KeyKind,
        not_before: i64,
        not_after: i64,
        /// base64 DER
        cert: String,
        #[serde(default)]
        via: String,
    },
    Revoke {
        serial: String,
        time: i64,
        reason: Reason,
    },
    Crl {
        number: u64,
        time: i64,
    },
    /// A one-time enrollment token (only its SHA-256 is kept) bound to a device id.
    Token {
        hash: String,
        device: String,
        expires: i64,
    },
    TokenUsed {
        hash: String,
        time: i64,
        serial: String,
    },
}

#[derive(Debug, Clone)]
struct TokenState {
    device: String,
    expires: i64,
    used: bool,
}

/// One issued certificate as the CA remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub serial: String,
    pub device_id: String,
    pub key: KeyKind,
    pub not_before: i64,
    pub not_after: i64,
    /// How it was issued ("cli", "est", ...).
    pub via: String,
    pub revoked: Option<(i64, Reason)>,
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl std::fmt::Debug for CaRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaRepo")
            .field("dir", &self.dir)
            .field("certificates", &self.records.len())
            .finish_non_exhaustive()
    }
}

pub struct CaRepo {
    dir: PathBuf,
    kek: Kek,
    meta: Meta,
    ca: Ca,
    records: HashMap<Vec<u8>, Record>,
    by_device: HashMap<String, Vec<Vec<u8>>>,
    revoked: RevocationSet,
    crl_number: u64,
    tokens: HashMap<String, TokenState>,
    ledger_pos: u64,
    /// fsync the ledger after each write (a CA must not forget what it signed).
    pub durable: bool,
}

fn ferr(path: &Path) -> impl Fn(std::io::Error) -> PkiError + '_ {
    move |e| PkiError::File {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

fn key_aad(name: &str) -> Vec<u8> {
    format!("palisade-ca/{name}").into_bytes()
}

/// Serial without leading zeros, the map key.
fn norm(serial: &[u8]) -> Vec<u8> {
    let skip = serial
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(serial.len().saturating_sub(1));
    serial[skip..].to_vec()
}

fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

fn issue_event(issued: &Issued, via: &str) -> Event {
    Event::Issue {
        serial: hex(&issued.serial),
        device: issued.device_id.clone(),
        key: issued.key,
        not_before: issued.not_before,
        not_after: issued.not_after,
        cert: base64::engine::general_purpose::STANDARD.encode(&issued.der),
        via: via.to_owned(),
    }
}

impl CaRepo {
    /// Creates a new CA in `dir` (which must not already hold one).
    pub fn init(
        dir: &Path,
        kek: Kek,
        name: &str,
        kind: KeyKind,
        policy: Policy,
        now: i64,
    ) -> Result<CaRepo, PkiError> {
        std::fs::create_dir_all(dir).map_err(ferr(dir))?;
        if dir.join(META).exists() {
            return Err(PkiError::Repo(format!(
                "{} already holds a CA (remove it first to start over)",
                dir.display()
            )));
        }
        let NewCa { ca, root_key } = Ca::generate(name, kind, now)?;
        let write = |file: &str, bytes: &[u8]| -> Result<(), PkiError> {
            let p = dir.join(file);
            std::fs::write(&p, bytes).map_err(ferr(&p))
        };
        keys::write_private(
            &dir.join(ROOT_KEY),
            &kek.seal(&key_aad(ROOT_KEY), &root_key.serialize_der())?,
        )?;
        keys::write_private(
            &dir.join(ISSUING_KEY),
            &kek.seal(&key_aad(ISSUING_KEY), &ca.issuing_key().serialize_der())?,
        )?;
        write("root.pem", to_pem("CERTIFICATE", ca.root_der()).as_bytes())?;
        write(
            "issuing.pem",
            to_pem("CERTIFICATE", ca.issuing_der()).as_bytes(),
        )?;
        write(
            "chain.pem",
            format!(
                "{}{}",
                to_pem("CERTIFICATE", ca.issuing_der()),
                to_pem("CERTIFICATE", ca.root_der())
            )
            .as_bytes(),
        )?;
        write(LEDGER, b"")?;
        let meta = Meta {
            version: 1,
            name: name.to_owned(),
            key: kind,
            created: now,
            policy,
        };
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| PkiError::Repo(format!("encoding settings: {e}")))?;
        // Written last: its presence marks a complete CA.
        write(META, &json)?;
        drop(root_key);
        CaRepo::open(dir, kek)
    }

    /// Opens the CA in `dir`, decrypting the issuing key with `kek`.
    pub fn open(dir: &Path, kek: Kek) -> Result<CaRepo, PkiError> {
        let read = |file: &str| -> Result<Vec<u8>, PkiError> {
            let p = dir.join(file);
            std::fs::read(&p).map_err(ferr(&p))
        };
        let meta_bytes = read(META)?;
        let meta: Meta = serde_json::from_slice(&meta_bytes).map_err(|e| PkiError::File {
            path: dir.join(META).display().to_string(),
            msg: format!("invalid settings: {e}"),
        })?;
        let root = crate::pem_or_der(&read("root.pem")?, "CERTIFICATE")?;
        let issuing = crate::pem_or_der(&read("issuing.pem")?, "CERTIFICATE")?;
        let key_der = kek
            .open(&key_aad(ISSUING_KEY), &read(ISSUING_KEY)?)
            .map_err(|e| PkiError::File {
                path: dir.join(ISSUING_KEY).display().to_string(),
                msg: e.to_string(),
            })?;
        let ca = Ca::load(&root, &issuing, keys::key_from_pkcs8(&key_der)?)?;
        let mut repo = CaRepo {
            dir: dir.to_path_buf(),
            kek,
            meta,
            ca,
            records: HashMap::new(),
            by_device: HashMap::new(),
            revoked: RevocationSet::new(),
            crl_number: 0,
            tokens: HashMap::new(),
            ledger_pos: 0,
            durable: true,
        };
        repo.refresh()?;
        Ok(repo)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn policy(&self) -> &Policy {
        &self.meta.policy
    }

    /// issuing CA then root, PEM.
    pub fn chain_pem(&self) -> String {
        format!(
            "{}{}",
            to_pem("CERTIFICATE", self.ca.issuing_der()),
            to_pem("CERTIFICATE", self.ca.root_der())
        )
    }

    /// Applies ledger lines appended since the last read (by this or another process).
    pub fn refresh(&mut self) -> Result<(), PkiError> {
        let path = self.dir.join(LEDGER);
        let mut f = std::fs::File::open(&path).map_err(ferr(&path))?;
        f.seek(SeekFrom::Start(self.ledger_pos))
            .map_err(ferr(&path))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(ferr(&path))?;
        // Only whole lines: a writer may be half-way through one.
        let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut offset = self.ledger_pos;
        for line in buf[..complete].split(|b| *b == b'\n') {
            let line_len = line.len() as u64 + 1;
            if !line.iter().all(u8::is_ascii_whitespace) {
                let ev: Event = serde_json::from_slice(line).map_err(|e| PkiError::File {
                    path: path.display().to_string(),
                    msg: format!("ledger entry at byte offset {offset}: {e}"),
                })?;
                self.apply(ev).map_err(|e| PkiError::File {
                    path: path.display().to_string(),
                    msg: format!("ledger entry at byte offset {offset}: {e}"),
                })?;
            }
            offset += line_len;
        }
        self.ledger_pos += complete as u64;
        Ok(())
    }

    fn apply(&mut self, ev: Event) -> Result<(), PkiError> {
        let bad_serial = |s: &str| PkiError::Repo(format!("bad serial {s:?}"));
        match ev {
            Event::Issue {
                serial,
                device,
                key,
                not_before,
                not_after,
                cert,
                via,
            } => {
                let s = crate::unhex(&serial).ok_or_else(|| bad_serial(&serial))?;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(cert.as_bytes())
                    .map_err(|e| PkiError::Repo(format!("bad certificate encoding: {e}")))?;
                let k = norm(&s);
                self.by_device
                    .entry(device.clone())
                    .or_default()
                    .push(k.clone());
                self.records.insert(
                    k,
                    Record {
                        serial: hex(&s),
                        device_id: device,
                        key,
                        not_before,
                        not_after,
                        via,
                        revoked: None,
                        der,
                    },
                );
            }
            Event::Revoke {
                serial,
                time,
                reason,
            } => {
                let s = crate::unhex(&serial).ok_or_else(|| bad_serial(&serial))?;
                self.revoked.insert(&s);
                if let Some(r) = self.records.get_mut(&norm(&s)) {
                    r.revoked.get_or_insert((time, reason));
                }
            }
            Event::Crl { number, .. } => self.crl_number = self.crl_number.max(number),
            Event::Token {
                hash,
                device,
                expires,
            } => {
                self.tokens.insert(
                    hash,
                    TokenState {
                        device,
                        expires,
                        used: false,
                    },
                );
            }
            Event::TokenUsed { hash, .. } => {
                if let Some(t) = self.tokens.get_mut(&hash) {
                    t.used = true;
                }
            }
        }
        Ok(())
    }

    fn append(&mut self, ev: &Event) -> Result<(), PkiError> {
        self.append_all(std::slice::from_ref(ev))
    }

    /// Appends events as one write (and one fsync).
    fn append_all(&mut self, evs: &[Event]) -> Result<(), PkiError> {
        // Pick up the other writers' lines first so our view stays complete.
        self.refresh()?;
        let path = self.dir.join(LEDGER);
        let mut line = Vec::new();
        for ev in evs {
            serde_json::to_writer(&mut line, ev)
                .map_err(|e| PkiError::Repo(format!("encoding ledger entry: {e}")))?;
            line.push(b'\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(ferr(&path))?;
        f.write_all(&line).map_err(ferr(&path))?;
        if self.durable {
            f.sync_data().map_err(ferr(&path))?;
        }
        drop(f);
        self.refresh()
    }

    /// Checks and signs a CSR, then records the certificate.
    pub fn issue(
        &mut self,
        csr: &[u8],
        expected_id: Option<&str>,
        validity_days: Option<u32>,
        via: &str,
        now: i64,
    ) -> Result<Issued, PkiError> {
        let issued = self
            .ca
            .issue_csr(csr, expected_id, validity_days, &self.meta.policy, now)?;
        self.append(&issue_event(&issued, via))?;
        Ok(issued)
    }

    /// Creates one-time enrollment tokens, one per device id, valid for `ttl_s` seconds.
    /// Returns the tokens (shown once; only their SHA-256 is stored).
    pub fn create_tokens(
        &mut self,
        devices: &[&str],
        ttl_s: i64,
        now: i64,
    ) -> Result<Vec<String>, PkiError> {
        if ttl_s <= 0 {
            return Err(PkiError::Policy("token lifetime must be positive".into()));
        }
        let mut tokens = Vec::with_capacity(devices.len());
        let mut events = Vec::with_capacity(devices.len());
        for d in devices {
            crate::policy::validate_device_id(d)?;
            let token = format!("pet_{}", hex(&keys::random::<20>()?));
            events.push(Event::Token {
                hash: token_hash(&token),
                device: (*d).to_owned(),
                expires: now + ttl_s,
            });
            tokens.push(token);
        }
        self.append_all(&events)?;
        Ok(tokens)
    }

    /// Enrolls with a one-time token: the CSR's CN must be the token's device id; the token is
    /// spent in the same ledger write that records the certificate.
    pub fn enroll_with_token(
        &mut self,
        token: &str,
        csr: &[u8],
        via: &str,
        now: i64,
    ) -> Result<Issued, PkiError> {
        self.refresh()?;
        let hash = token_hash(token);
        let device = match self.tokens.get(&hash) {
            None => return Err(PkiError::Auth("unknown enrollment token".into())),
            Some(t) if t.used => {
                return Err(PkiError::Auth("enrollment token already used".into()));
            }
            Some(t) if t.expires <= now => {
                return Err(PkiError::Auth("enrollment token expired".into()));
            }
            Some(t) => t.device.clone(),
        };
        let issued = self
            .ca
            .issue_csr(csr, Some(&device), None, &self.meta.policy, now)?;
        self.append_all(&[
            issue_event(&issued, via),
            Event::TokenUsed {
                hash,
                time: now,
                serial: hex(&issued.serial),
            },
        ])?;
        Ok(issued)
    }

    /// Re-enrollment (EST simplereenroll): the device proves possession of a current,
    /// unrevoked certificate of this CA (checked by the caller's TLS layer against the chain);
    /// the new certificate keeps the same device id.
    pub fn reenroll(
        &mut self,
        current_cert_der: &[u8],
        csr: &[u8],
        via: &str,
        now: i64,
    ) -> Result<Issued, PkiError> {
        use x509_parser::prelude::FromDer;
        self.refresh()?;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(current_cert_der)
            .map_err(|e| PkiError::Cert(format!("malformed client certificate: {e}")))?;
        let record = self
            .records
            .get(&norm(cert.raw_serial()))
            .filter(|r| r.der == current_cert_der)
            .ok_or_else(|| PkiError::Auth("client certificate was not issued by this CA".into()))?;
        if record.revoked.is_some() {
            return Err(PkiError::Auth("client certificate is revoked".into()));
        }
        if record.not_after <= now {
            return Err(PkiError::Auth("client certificate has expired".into()));
        }
        let device = record.device_id.clone();
        let issued = self
            .ca
            .issue_csr(csr, Some(&device), None, &self.meta.policy, now)?;
        self.append(&issue_event(&issued, via))?;
        Ok(issued)
    }

    /// IDevID → LDevID (RFC 7030 §3.3.2 with a manufacturer certificate): the device presents
    /// its manufacturer-installed certificate (`idevid_chain`, leaf first, possibly with
    /// intermediates) which must chain, by signature and validity, to one of
    /// `manufacturer_roots`; the CSR's CN must equal the IDevID's CN, which becomes the
    /// Palisade device id.
    pub fn enroll_with_idevid(
        &mut self,
        idevid_chain: &[Vec<u8>],
        manufacturer_roots: &[Vec<u8>],
        csr: &[u8],
        via: &str,
        now: i64,
    ) -> Result<Issued, PkiError> {
        let device = verify_idevid(idevid_chain, manufacturer_roots, now)?;
        self.refresh()?;
        let issued = self
            .ca
            .issue_csr(csr, Some(&device), None, &self.meta.policy, now)?;
        self.append(&issue_event(&issued, via))?;
        Ok(issued)
    }

    /// Issues and records a TLS server certificate (for the broker or gateway) with a fresh
    /// P-256 key. Returns the certificate and the key as PKCS#8 PEM.
    pub fn issue_server(
        &mut self,
        names: &[String],
        days: u32,
        now: i64,
    ) -> Result<(Issued, String), PkiError> {
        let key = keys::generate(KeyKind::P256)?;
        let issued = self.ca.issue_server(names, &key, days, now)?;
        self.append(&issue_event(&issued, "server"))?;
        Ok((issued, key.serialize_pem()))
    }

    /// Device ids with at least one valid (unrevoked, unexpired) device certificate.
    pub fn active_devices(&self, now: i64) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .records
            .values()
            .filter(|r| r.via != "server" && r.revoked.is_none() && r.not_after > now)
            .map(|r| r.device_id.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Revokes a certificate by serial (hex) or every unrevoked certificate of a device id.
    /// Returns the serials revoked now.
    pub fn revoke(
        &mut self,
        target: &str,
        reason: Reason,
        now: i64,
    ) -> Result<Vec<String>, PkiError> {
        self.refresh()?;
        let serials: Vec<Vec<u8>> = if let Some(keys) = self.by_device.get(target) {
            keys.clone()
        } else if let Some(s) = crate::unhex(target).filter(|s| !s.is_empty()) {
            let k = norm(&s);
            if !self.records.contains_key(&k) {
                return Err(PkiError::Repo(format!(
                    "no certificate with serial {target} and no device with that id"
                )));
            }
            vec![k]
        } else {
            return Err(PkiError::Repo(format!(
                "no device {target:?} and not a serial number"
            )));
        };
        let mut done = Vec::new();
        for s in serials {
            if self.revoked.is_revoked(&s) {
                continue;
            }
            self.append(&Event::Revoke {
                serial: hex(&s),
                time: now,
                reason,
            })?;
            done.push(hex(&s));
        }
        Ok(done)
    }

    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked.is_revoked(serial)
    }

    pub fn revocation_set(&self) -> &RevocationSet {
        &self.revoked
    }

    /// The status an OCSP responder reports.
    pub fn status(&self, serial: &[u8]) -> CertStatus {
        match self.records.get(&norm(serial)) {
            None => CertStatus::Unknown,
            Some(r) => match r.revoked {
                Some((time, reason)) => CertStatus::Revoked { time, reason },
                None => CertStatus::Good,
            },
        }
    }

    /// Answers an OCSP request (DER) from the ledger's current state.
    pub fn ocsp(&mut self, request_der: &[u8], now: i64) -> Result<Vec<u8>, PkiError> {
        self.refresh()?;
        let responder = Responder::new(&self.ca)?;
        responder.respond(request_der, now, 3600, |s| self.status(s))
    }

    /// Issues the next CRL of the issuing CA (and an empty root CRL covering the issuing CA, so
    /// chain-wide checks work). Returns (issuing CRL, root CRL), DER.
    pub fn crl(&mut self, now: i64, validity_s: i64) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
        self.refresh()?;
        let number = self.crl_number + 1;
        let mut entries: Vec<RevokedEntry> = self
            .records
            .values()
            .filter_map(|r| {
                let (time, reason) = r.revoked?;
                Some(RevokedEntry {
                    serial: crate::unhex(&r.serial)?,
                    time,
                    reason,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.serial.cmp(&b.serial));
        let crl = self.ca.crl(&entries, number, now, validity_s)?;
        let root_key_der = self.kek.open(
            &key_aad(ROOT_KEY),
            &std::fs::read(self.dir.join(ROOT_KEY)).map_err(ferr(&self.dir.join(ROOT_KEY)))?,
        )?;
        let root_crl = self.ca.root_crl(
            keys::key_from_pkcs8(&root_key_der)?,
            &[],
            number,
            now,
            validity_s,
        )?;
        self.append(&Event::Crl { number, time: now })?;
        Ok((crl, root_crl))
    }

    /// Every issued certificate, oldest first.
    pub fn list(&self) -> Vec<&Record> {
        let mut v: Vec<&Record> = self.records.values().collect();
        v.sort_by(|a, b| (a.not_before, &a.serial).cmp(&(b.not_before, &b.serial)));
        v
    }

    /// The certificates of one device.
    pub fn device_records(&self, device_id: &str) -> Vec<&Record> {
        self.by_device
            .get(device_id)
            .map(|ks| ks.iter().filter_map(|k| self.records.get(k)).collect())
            .unwrap_or_default()
    }

    pub fn record(&self, serial: &[u8]) -> Option<&Record> {
        self.records.get(&norm(serial))
    }
}

/// Checks a manufacturer certificate chain (leaf first) against the manufacturer roots: every
/// link's signature and validity period; returns the leaf's CN (the device id).
pub fn verify_idevid(chain: &[Vec<u8>], roots: &[Vec<u8>], now: i64) -> Result<String, PkiError> {
    use x509_parser::certificate::X509Certificate;
    use x509_parser::prelude::FromDer;
    fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, PkiError> {
        X509Certificate::from_der(der)
            .map(|(_, c)| c)
            .map_err(|e| PkiError::Cert(format!("malformed {what} certificate: {e}")))
    }
    let leaf_der = chain
        .first()
        .ok_or_else(|| PkiError::Auth("no manufacturer certificate presented".into()))?;
    if roots.is_empty() {
        return Err(PkiError::Auth(
            "no manufacturer CA is configured for IDevID enrollment".into(),
        ));
    }
    let roots: Vec<X509Certificate<'_>> = roots
        .iter()
        .map(|r| parse(r, "manufacturer CA"))
        .collect::<Result<_, _>>()?;
    let in_time = |c: &X509Certificate<'_>| {
        c.validity().not_before.timestamp() <= now && now < c.validity().not_after.timestamp()
    };
    let mut current = parse(leaf_der, "IDevID")?;
    let device = current
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .ok_or_else(|| PkiError::Auth("IDevID certificate has no subject CN".into()))?
        .to_owned();
    crate::policy::validate_device_id(&device)?;
    // At most the chain's length in links; each step must verify against a root or the next
    // certificate in the chain.
    for next in chain.iter().skip(1).map(Some).chain(std::iter::once(None)) {
        if !in_time(&current) {
            return Err(PkiError::Auth(
                "manufacturer certificate chain is outside its validity period".into(),
            ));
        }
        if let Some(root) = roots.iter().find(|r| {
            r.subject() == current.issuer()
                && current.verify_signature(Some(r.public_key())).is_ok()
        }) {
            if !in_time(root) {
                return Err(PkiError::Auth("manufacturer CA has expired".into()));
            }
            return Ok(device);
        }
        let Some(next) = next else { break };
        let issuer = parse(next, "IDevID intermediate")?;
        if issuer.subject() != current.issuer()
            || current.verify_signature(Some(issuer.public_key())).is_err()
        {
            return Err(PkiError::Auth(
                "manufacturer certificate chain is broken (issuer or signature)".into(),
            ));
        }
        current = issuer;
    }
    Err(PkiError::Auth(
        "IDevID certificate does not chain to a configured manufacturer CA".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(kind: KeyKind, cn: &str) -> Vec<u8> {
        let key = keys::generate(kind).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.serialize_request(&key).unwrap().der().to_vec()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("palisade-pki-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn issue_revoke_crl_and_reopen() {
        let dir = tmp("repo");
        let now = 1_790_000_000;
        let kek = || Kek::from_bytes(&[3u8; 32]).unwrap();
        let mut repo =
            CaRepo::init(&dir, kek(), "Acme", KeyKind::P256, Policy::default(), now).unwrap();
        repo.durable = false;
        let a = repo
            .issue(&csr(KeyKind::P256, "cam-1"), None, None, "test", now)
            .unwrap();
        let b = repo
            .issue(&csr(KeyKind::Ed25519, "cam-2"), None, None, "test", now)
            .unwrap();
        assert_eq!(repo.list().len(), 2);
        let revoked = repo
            .revoke("cam-1", Reason::KeyCompromise, now + 5)
            .unwrap();
        assert_eq!(revoked, vec![hex(&a.serial)]);
        assert!(
            repo.revoke("cam-1", Reason::KeyCompromise, now + 6)
                .unwrap()
                .is_empty()
        );
        assert!(repo.revoke("nobody", Reason::KeyCompromise, now).is_err());
        assert!(repo.is_revoked(&a.serial) && !repo.is_revoked(&b.serial));
        let (crl, root_crl) = repo.crl(now + 10, 86_400).unwrap();
        let (set, info) =
            RevocationSet::from_crl(&crl, repo.ca().issuing_der(), Some(now + 20)).unwrap();
        assert!(set.is_revoked(&a.serial) && !set.is_revoked(&b.serial));
        assert_eq!(info.entries, 1);
        assert_eq!(info.number, Some(vec![1]));
        let (rs, _) = RevocationSet::from_crl(&root_crl, repo.ca().root_der(), None).unwrap();
        assert!(rs.is_empty());
        // The issuing CRL does not verify against the root: issuer and signature are checked.
        assert!(RevocationSet::from_crl(&crl, repo.ca().root_der(), None).is_err());
        assert!(
            RevocationSet::from_crl(&crl, repo.ca().issuing_der(), Some(now + 90_000)).is_err()
        );

        // Reopen: state comes back from the ledger; the wrong KEK cannot open the CA key.
        let again = CaRepo::open(&dir, kek()).unwrap();
        assert_eq!(again.list().len(), 2);
        assert!(again.is_revoked(&a.serial));
        assert_eq!(again.crl_number, 1);
        let err = CaRepo::open(&dir, Kek::from_bytes(&[4u8; 32]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("issuing.key.sealed"), "{err}");
        // Keys are not stored in plaintext.
        let sealed = std::fs::read(dir.join(ISSUING_KEY)).unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"\x30\x81\x87\x02"));
        assert!(CaRepo::init(&dir, kek(), "Acme", KeyKind::P256, Policy::default(), now).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A manufacturer CA and an IDevID signed by it (rcgen), valid around `now`.
    fn manufacturer(cn: &str) -> (Vec<u8>, Vec<u8>) {
        let ca_key = keys::generate(KeyKind::P256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Acme Devices CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = p.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(p, ca_key);
        let key = keys::generate(KeyKind::P256).unwrap();
        let mut d = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        d.distinguished_name = rcgen::DistinguishedName::new();
        d.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let leaf = d.signed_by(&key, &issuer).unwrap();
        (ca.der().to_vec(), leaf.der().to_vec())
    }

    #[test]
    fn idevid_enrollment_checks_the_manufacturer_chain() {
        let dir = tmp("idevid");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let kek = || Kek::from_bytes(&[6u8; 32]).unwrap();
        let mut repo =
            CaRepo::init(&dir, kek(), "Acme", KeyKind::P256, Policy::default(), now).unwrap();
        repo.durable = false;
        let (mfr, idevid) = manufacturer("idev-1");
        let (other_mfr, _) = manufacturer("idev-2");
        let chain = vec![idevid.clone()];
        let issued = repo
            .enroll_with_idevid(
                &chain,
                std::slice::from_ref(&mfr),
                &csr(KeyKind::P256, "idev-1"),
                "t",
                now,
            )
            .unwrap();
        assert_eq!(issued.device_id, "idev-1");
        // The CSR must name the IDevID's device.
        let err = repo
            .enroll_with_idevid(
                &chain,
                std::slice::from_ref(&mfr),
                &csr(KeyKind::P256, "idev-9"),
                "t",
                now,
            )
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        // Another manufacturer's CA, no CA at all, outside the validity window, garbage: refused.
        for (roots, at) in [
            (vec![other_mfr.clone()], now),
            (vec![], now),
            // rcgen certificates start in 1975: 1970 is outside their validity.
            (vec![mfr.clone()], 100_000),
        ] {
            let err = repo
                .enroll_with_idevid(&chain, &roots, &csr(KeyKind::P256, "idev-1"), "t", at)
                .unwrap_err();
            assert!(matches!(err, PkiError::Auth(_)), "{err}");
        }
        let err = verify_idevid(&[vec![0x30, 0x03, 1, 2]], &[mfr], now).unwrap_err();
        assert!(err.to_string().contains("malformed"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tokens_are_one_time_bound_and_expiring() {
        let dir = tmp("tokens");
        let now = 1_790_000_000;
        let kek = || Kek::from_bytes(&[5u8; 32]).unwrap();
        let mut repo =
            CaRepo::init(&dir, kek(), "Acme", KeyKind::P256, Policy::default(), now).unwrap();
        repo.durable = false;
        let toks = repo.create_tokens(&["dev-1", "dev-2"], 3600, now).unwrap();
        let err = repo
            .enroll_with_token(&toks[0], &csr(KeyKind::P256, "dev-2"), "t", now)
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        let a = repo
            .enroll_with_token(&toks[0], &csr(KeyKind::P256, "dev-1"), "t", now)
            .unwrap();
        assert_eq!(a.device_id, "dev-1");
        let err = repo
            .enroll_with_token(&toks[0], &csr(KeyKind::P256, "dev-1"), "t", now)
            .unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
        let err = repo
            .enroll_with_token(&toks[1], &csr(KeyKind::P256, "dev-2"), "t", now + 3600)
            .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(
            repo.enroll_with_token("pet_nope", &csr(KeyKind::P256, "dev-2"), "t", now)
                .is_err()
        );
        // Re-enrollment keeps the id; a revoked certificate cannot re-enroll.
        let b = repo
            .reenroll(&a.der, &csr(KeyKind::Ed25519, "dev-1"), "t", now)
            .unwrap();
        assert_eq!(b.device_id, "dev-1");
        assert!(
            repo.reenroll(&a.der, &csr(KeyKind::P256, "dev-9"), "t", now)
                .is_err()
        );
        repo.revoke(&hex(&b.serial), Reason::Superseded, now)
            .unwrap();
        let err = repo
            .reenroll(&b.der, &csr(KeyKind::P256, "dev-1"), "t", now)
            .unwrap_err();
        assert!(err.to_string().contains("revoked"), "{err}");
        // Token state survives a reopen.
        let mut again = CaRepo::open(&dir, kek()).unwrap();
        assert!(
            again
                .enroll_with_token(&toks[0], &csr(KeyKind::P256, "dev-1"), "t", now)
                .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
