//! A TUF repository on disk: key generation, keys encrypted at rest (AES-256-GCM under a
//! key-encryption key file), and the `init`, `add-target`, `publish`, `rotate-keys` and
//! `expire` operations. Consistent snapshots are always on.
//!
//! Layout: `keys/<role>/<keyid>.json` (encrypted), `metadata/` (what is served: `N.root.json`,
//! `root.json`, `N.targets.json`, `N.snapshot.json`, `timestamp.json`), `targets/`
//! (`<sha256>.<name>` and `<sha512>.<name>`), `staged-targets.json`, `config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Map, Value, json};

use crate::json::{canonical, parse_strict};
use crate::metadata::{Envelope, Role, RootInfo, SPEC_VERSION, TargetFile, TufKey, digest};
use crate::time::format_rfc3339;
use crate::{TufError, hex, unhex};

/// Signing key algorithms for repository keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    /// Ed25519 (scheme ed25519).
    Ed25519,
    /// ECDSA P-256 (scheme ecdsa-sha2-nistp256).
    EcdsaP256,
}

/// A private repository key.
pub struct SigningKey {
    /// Public description.
    pub public: TufKey,
    pkcs8: Vec<u8>,
}

impl SigningKey {
    /// Generates a key.
    pub fn generate(alg: KeyAlg) -> Result<Self, TufError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            KeyAlg::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng),
            KeyAlg::EcdsaP256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            }
        }
        .map_err(|_| TufError::Crypto("key generation"))?;
        Self::from_pkcs8(alg, pkcs8.as_ref())
    }

    fn from_pkcs8(alg: KeyAlg, pkcs8: &[u8]) -> Result<Self, TufError> {
        let public = match alg {
            KeyAlg::Ed25519 => {
                let kp = Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|_| TufError::Crypto("Ed25519 key"))?;
                let raw = kp.public_key().as_ref().to_vec();
                TufKey {
                    keytype: "ed25519".into(),
                    scheme: "ed25519".into(),
                    keyval: json!({"public": hex(&raw)}),
                    raw,
                }
            }
            KeyAlg::EcdsaP256 => {
                let rng = SystemRandom::new();
                let kp = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    pkcs8,
                    &rng,
                )
                .map_err(|_| TufError::Crypto("ECDSA key"))?;
                let raw = kp.public_key().as_ref().to_vec();
                let pk = palisade_firmware::PublicKey::from_raw(
                    palisade_firmware::KeyType::EcdsaP256,
                    &raw,
                );
                TufKey {
                    keytype: "ecdsa".into(),
                    scheme: "ecdsa-sha2-nistp256".into(),
                    keyval: json!({"public": pk.to_pem()}),
                    raw,
                }
            }
        };
        Ok(Self {
            public,
            pkcs8: pkcs8.to_vec(),
        })
    }

    fn alg(&self) -> KeyAlg {
        if self.public.scheme == "ed25519" {
            KeyAlg::Ed25519
        } else {
            KeyAlg::EcdsaP256
        }
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, TufError> {
        match self.alg() {
            KeyAlg::Ed25519 => Ed25519KeyPair::from_pkcs8(&self.pkcs8)
                .map(|k| k.sign(msg).as_ref().to_vec())
                .map_err(|_| TufError::Crypto("Ed25519 key")),
            KeyAlg::EcdsaP256 => {
                let rng = SystemRandom::new();
                let k = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &self.pkcs8,
                    &rng,
                )
                .map_err(|_| TufError::Crypto("ECDSA key"))?;
                k.sign(&rng, msg)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| TufError::Crypto("ECDSA sign"))
            }
        }
    }
}

/// Reads or creates a 32-byte key-encryption key file (hex, mode 0600).
pub fn load_or_create_kek(path: &Path) -> Result<[u8; 32], TufError> {
    if let Ok(t) = std::fs::read_to_string(path) {
        let b = unhex(t.trim()).ok_or(TufError::Crypto("KEK file is not 64 hex digits"))?;
        return b
            .try_into()
            .map_err(|_| TufError::Crypto("KEK file is not 64 hex digits"));
    }
    let mut k = [0u8; 32];
    SystemRandom::new()
        .fill(&mut k)
        .map_err(|_| TufError::Crypto("rng"))?;
    write_secret(path, format!("{}\n", hex(&k)).as_bytes())?;
    Ok(k)
}

fn write_secret(path: &Path, data: &[u8]) -> Result<(), TufError> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(TufError::io("write secret"))?;
        f.write_all(data).map_err(TufError::io("write secret"))
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, data).map_err(TufError::io("write secret"))
    }
}

fn seal(kek: &[u8; 32], keyid: &str, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), TufError> {
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, kek).map_err(|_| TufError::Crypto("KEK"))?,
    );
    let mut nonce = [0u8; 12];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| TufError::Crypto("rng"))?;
    let mut buf = plain.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(keyid.as_bytes()),
        &mut buf,
    )
    .map_err(|_| TufError::Crypto("seal"))?;
    Ok((nonce.to_vec(), buf))
}

fn open_sealed(kek: &[u8; 32], keyid: &str, nonce: &[u8], ct: &[u8]) -> Result<Vec<u8>, TufError> {
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, kek).map_err(|_| TufError::Crypto("KEK"))?,
    );
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| TufError::Crypto("nonce length"))?;
    let mut buf = ct.to_vec();
    let p = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(keyid.as_bytes()),
            &mut buf,
        )
        .map_err(|_| TufError::Crypto("key decryption failed: wrong KEK or tampered key file"))?;
    Ok(p.to_vec())
}

/// Key counts, thresholds and expiry periods for `init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Keys per role (root, targets, snapshot, timestamp).
    pub keys: BTreeMap<Role, usize>,
    /// Thresholds per role.
    pub thresholds: BTreeMap<Role, u64>,
    /// Expiry periods (seconds) per role.
    pub expiry: BTreeMap<Role, i64>,
    /// Key algorithm.
    pub alg: KeyAlg,
}

impl Default for InitOptions {
    fn default() -> Self {
        let all = |v: usize| Role::ALL.into_iter().map(|r| (r, v)).collect();
        Self {
            keys: all(1),
            thresholds: Role::ALL.into_iter().map(|r| (r, 1)).collect(),
            expiry: [
                (Role::Root, 365 * 86_400),
                (Role::Targets, 90 * 86_400),
                (Role::Snapshot, 7 * 86_400),
                (Role::Timestamp, 86_400),
            ]
            .into_iter()
            .collect(),
            alg: KeyAlg::Ed25519,
        }
    }
}

/// An open repository.
pub struct Repository {
    dir: PathBuf,
    kek: [u8; 32],
    /// Expiry periods per role.
    pub expiry: BTreeMap<Role, i64>,
    alg: KeyAlg,
}

impl Repository {
    /// Creates a repository with fresh keys and version-1 metadata.
    pub fn init(
        dir: impl Into<PathBuf>,
        kek_path: &Path,
        opts: &InitOptions,
        now: i64,
    ) -> Result<Self, TufError> {
        let dir = dir.into();
        if dir.join("metadata/root.json").exists() {
            return Err(TufError::Repo(format!(
                "{} already holds a repository",
                dir.display()
            )));
        }
        for sub in ["keys", "metadata", "targets"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(TufError::io("create repository"))?;
        }
        let kek = load_or_create_kek(kek_path)?;
        let repo = Self {
            dir,
            kek,
            expiry: opts.expiry.clone(),
            alg: opts.alg,
        };
        let cfg = json!({
            "expiry": opts.expiry.iter().map(|(r, s)| (r.name().to_owned(), json!(s))).collect::<Map<_, _>>(),
            "alg": if opts.alg == KeyAlg::Ed25519 { "ed25519" } else { "ecdsa" },
        });
        std::fs::write(repo.dir.join("config.json"), pretty(&cfg))
            .map_err(TufError::io("write config"))?;
        std::fs::write(repo.dir.join("staged-targets.json"), b"{}\n")
            .map_err(TufError::io("write staged targets"))?;
        let mut keys = Map::new();
        let mut roles = Map::new();
        for role in Role::ALL {
            let n = opts.keys.get(&role).copied().unwrap_or(1);
            let mut ids = Vec::new();
            for _ in 0..n {
                let k = repo.new_key(role)?;
                ids.push(Value::String(k.public.keyid()));
                keys.insert(k.public.keyid(), k.public.to_json());
            }
            let threshold = opts.thresholds.get(&role).copied().unwrap_or(1);
            roles.insert(
                role.name().into(),
                json!({"keyids": ids, "threshold": threshold}),
            );
        }
        let root = json!({
            "_type": "root", "spec_version": SPEC_VERSION, "version": 1,
            "expires": format_rfc3339(now + repo.period(Role::Root)),
            "consistent_snapshot": true, "keys": keys, "roles": roles,
        });
        repo.write_root(&root, &[])?;
        repo.write_targets(1, now, &Map::new())?;
        repo.write_snapshot(1, now, 1)?;
        repo.write_timestamp(1, now, 1)?;
        Ok(repo)
    }

    /// Opens an existing repository.
    pub fn open(dir: impl Into<PathBuf>, kek_path: &Path) -> Result<Self, TufError> {
        let dir = dir.into();
        let cfg =
            std::fs::read(dir.join("config.json")).map_err(TufError::io("read config.json"))?;
        let cfg = parse_strict(&cfg).map_err(|e| TufError::Json {
            file: "config.json".into(),
            error: e,
        })?;
        let expiry = Role::ALL
            .into_iter()
            .filter_map(|r| Some((r, cfg["expiry"][r.name()].as_i64()?)))
            .collect();
        let alg = if cfg["alg"] == "ecdsa" {
            KeyAlg::EcdsaP256
        } else {
            KeyAlg::Ed25519
        };
        let kek = load_or_create_kek(kek_path)?;
        Ok(Self {
            dir,
            kek,
            expiry,
            alg,
        })
    }

    /// The repository directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn period(&self, role: Role) -> i64 {
        self.expiry.get(&role).copied().unwrap_or(86_400)
    }

    fn new_key(&self, role: Role) -> Result<SigningKey, TufError> {
        let k = SigningKey::generate(self.alg)?;
        self.store_key(role, &k)?;
        Ok(k)
    }

    fn store_key(&self, role: Role, k: &SigningKey) -> Result<(), TufError> {
        let id = k.public.keyid();
        let (nonce, ct) = seal(&self.kek, &id, &k.pkcs8)?;
        let d = self.dir.join("keys").join(role.name());
        std::fs::create_dir_all(&d).map_err(TufError::io("create key dir"))?;
        let v = json!({
            "keyid": id, "role": role.name(), "scheme": k.public.scheme,
            "aead": "AES-256-GCM", "aad": "keyid",
            "nonce": hex(&nonce), "ciphertext": hex(&ct),
        });
        write_secret(&d.join(format!("{id}.json")), &pretty(&v))
    }

    /// Loads the private keys stored for `role`.
    pub fn keys(&self, role: Role) -> Result<Vec<SigningKey>, TufError> {
        let d = self.dir.join("keys").join(role.name());
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&d) else {
            return Ok(out);
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let b = std::fs::read(&p).map_err(TufError::io("read key"))?;
            let v = parse_strict(&b).map_err(|e| TufError::Json {
                file: p.display().to_string(),
                error: e,
            })?;
            let (Some(id), Some(nonce), Some(ct)) = (
                v["keyid"].as_str(),
                v["nonce"].as_str().and_then(unhex),
                v["ciphertext"].as_str().and_then(unhex),
            ) else {
                return Err(TufError::Repo(format!(
                    "malformed key file {}",
                    p.display()
                )));
            };
            let plain = open_sealed(&self.kek, id, &nonce, &ct)?;
            let alg = if v["scheme"] == "ed25519" {
                KeyAlg::Ed25519
            } else {
                KeyAlg::EcdsaP256
            };
            let k = SigningKey::from_pkcs8(alg, &plain)?;
            if k.public.keyid() != id {
                return Err(TufError::Repo(format!(
                    "key id mismatch in {}",
                    p.display()
                )));
            }
            out.push(k);
        }
        Ok(out)
    }

    fn read_meta(&self, name: &str, role: Role) -> Result<Envelope, TufError> {
        let b = std::fs::read(self.dir.join("metadata").join(name))
            .map_err(TufError::io("read metadata"))?;
        Envelope::parse(&b, name, role)
    }

    /// The current root.
    pub fn root(&self) -> Result<Envelope, TufError> {
        self.read_meta("root.json", Role::Root)
    }

    fn sign_envelope(&self, signed: &Value, signers: &[&SigningKey]) -> Result<Vec<u8>, TufError> {
        let c = canonical(signed).map_err(|e| TufError::Repo(e.to_string()))?;
        let mut sigs = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for k in signers {
            let id = k.public.keyid();
            if seen.insert(id.clone()) {
                sigs.push(json!({"keyid": id, "sig": hex(&k.sign(&c)?)}));
            }
        }
        Ok(pretty(&json!({"signatures": sigs, "signed": signed})))
    }

    fn role_signers<'a>(
        &self,
        role: Role,
        root: &Value,
        keys: &'a [SigningKey],
    ) -> Vec<&'a SigningKey> {
        let ids: Vec<&str> = root["roles"][role.name()]["keyids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        keys.iter()
            .filter(|k| ids.contains(&k.public.keyid().as_str()))
            .collect()
    }

    fn write_root(&self, root: &Value, extra: &[SigningKey]) -> Result<(), TufError> {
        let keys = self.keys(Role::Root)?;
        let mut signers = self.role_signers(Role::Root, root, &keys);
        signers.extend(extra.iter());
        let b = self.sign_envelope(root, &signers)?;
        let v = root["version"].as_u64().unwrap_or(1);
        self.write_file(&format!("{v}.root.json"), &b)?;
        self.write_file("root.json", &b)
    }

    fn write_file(&self, name: &str, b: &[u8]) -> Result<(), TufError> {
        std::fs::write(self.dir.join("metadata").join(name), b)
            .map_err(TufError::io("write metadata"))
    }

    fn signed_by_role(&self, role: Role, signed: &Value) -> Result<Vec<u8>, TufError> {
        let root = self.root()?;
        let keys = self.keys(role)?;
        let signers = self.role_signers(role, &root.signed, &keys);
        self.sign_envelope(signed, &signers)
    }

    fn write_targets(
        &self,
        version: u64,
        now: i64,
        targets: &Map<String, Value>,
    ) -> Result<(), TufError> {
        let signed = json!({
            "_type": "targets", "spec_version": SPEC_VERSION, "version": version,
            "expires": format_rfc3339(now + self.period(Role::Targets)), "targets": targets,
        });
        let b = self.signed_by_role(Role::Targets, &signed)?;
        self.write_file(&format!("{version}.targets.json"), &b)?;
        self.write_file("targets.json", &b)
    }

    fn meta_entry(&self, name: &str, version: u64) -> Result<Value, TufError> {
        let b = std::fs::read(self.dir.join("metadata").join(name))
            .map_err(TufError::io("read metadata"))?;
        Ok(json!({"version": version, "length": b.len(),
            "hashes": {"sha256": hex(&digest("sha256", &b).unwrap_or_default())}}))
    }

    fn write_snapshot(&self, version: u64, now: i64, targets_version: u64) -> Result<(), TufError> {
        let signed = json!({
            "_type": "snapshot", "spec_version": SPEC_VERSION, "version": version,
            "expires": format_rfc3339(now + self.period(Role::Snapshot)),
            "meta": {"targets.json": self.meta_entry(&format!("{targets_version}.targets.json"), targets_version)?},
        });
        let b = self.signed_by_role(Role::Snapshot, &signed)?;
        self.write_file(&format!("{version}.snapshot.json"), &b)?;
        self.write_file("snapshot.json", &b)
    }

    fn write_timestamp_exp(
        &self,
        version: u64,
        expires: i64,
        snapshot_version: u64,
    ) -> Result<(), TufError> {
        let signed = json!({
            "_type": "timestamp", "spec_version": SPEC_VERSION, "version": version,
            "expires": format_rfc3339(expires),
            "meta": {"snapshot.json": self.meta_entry(&format!("{snapshot_version}.snapshot.json"), snapshot_version)?},
        });
        let b = self.signed_by_role(Role::Timestamp, &signed)?;
        self.write_file("timestamp.json", &b)
    }

    fn write_timestamp(
        &self,
        version: u64,
        now: i64,
        snapshot_version: u64,
    ) -> Result<(), TufError> {
        self.write_timestamp_exp(
            version,
            now + self.period(Role::Timestamp),
            snapshot_version,
        )
    }

    /// Current versions: (root, targets, snapshot, timestamp).
    pub fn versions(&self) -> Result<(u64, u64, u64, u64), TufError> {
        let root = self.root()?;
        let ts = self.read_meta("timestamp.json", Role::Timestamp)?;
        let sv = ts.signed["meta"]["snapshot.json"]["version"]
            .as_u64()
            .unwrap_or(1);
        let snap = self.read_meta(&format!("{sv}.snapshot.json"), Role::Snapshot)?;
        let tv = snap.signed["meta"]["targets.json"]["version"]
            .as_u64()
            .unwrap_or(1);
        Ok((root.version, tv, sv, ts.version))
    }

    /// Stages a target: copies it under `targets/` (by each hash) and records it for the next
    /// `publish`.
    pub fn add_target(
        &self,
        name: &str,
        data: &[u8],
        custom: Value,
    ) -> Result<TargetFile, TufError> {
        if name.is_empty() || name.contains("..") || name.starts_with('/') || name.contains('\\') {
            return Err(TufError::Repo(format!("invalid target name {name:?}")));
        }
        let tf = TargetFile::from_data(data, custom);
        let (dir, base) = match name.rsplit_once('/') {
            Some((d, b)) => (self.dir.join("targets").join(d), b),
            None => (self.dir.join("targets"), name),
        };
        std::fs::create_dir_all(&dir).map_err(TufError::io("create targets dir"))?;
        for h in tf.hashes.values() {
            std::fs::write(dir.join(format!("{}.{base}", hex(h))), data)
                .map_err(TufError::io("write target"))?;
        }
        std::fs::write(dir.join(base), data).map_err(TufError::io("write target"))?;
        let mut staged = self.staged()?;
        staged.insert(name.into(), tf.to_json());
        std::fs::write(
            self.dir.join("staged-targets.json"),
            pretty(&Value::Object(staged)),
        )
        .map_err(TufError::io("write staged targets"))?;
        Ok(tf)
    }

    fn staged(&self) -> Result<Map<String, Value>, TufError> {
        let b = std::fs::read(self.dir.join("staged-targets.json"))
            .map_err(TufError::io("read staged targets"))?;
        match parse_strict(&b) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(TufError::Repo(
                "staged-targets.json is not an object".into(),
            )),
            Err(e) => Err(TufError::Json {
                file: "staged-targets.json".into(),
                error: e,
            }),
        }
    }

    /// Publishes the staged targets: new targets, snapshot and timestamp versions.
    pub fn publish(&self, now: i64) -> Result<(u64, u64, u64), TufError> {
        let (_, tv, sv, tsv) = self.versions()?;
        self.write_targets(tv + 1, now, &self.staged()?)?;
        self.write_snapshot(sv + 1, now, tv + 1)?;
        self.write_timestamp(tsv + 1, now, sv + 1)?;
        Ok((tv + 1, sv + 1, tsv + 1))
    }

    /// Re-signs `role` with a new version that expires at `expires`, and the roles that
    /// reference it (targets → snapshot → timestamp; root alone).
    pub fn expire(&self, role: Role, expires: i64, now: i64) -> Result<(), TufError> {
        let (rv, tv, sv, tsv) = self.versions()?;
        match role {
            Role::Root => {
                let mut root = self.root()?.signed;
                root["version"] = json!(rv + 1);
                root["expires"] = json!(format_rfc3339(expires));
                self.write_root(&root, &[])
            }
            Role::Timestamp => self.write_timestamp_exp(tsv + 1, expires, sv),
            Role::Snapshot => {
                let t = self.read_meta(&format!("{tv}.targets.json"), Role::Targets)?;
                let _ = t;
                let signed = json!({
                    "_type": "snapshot", "spec_version": SPEC_VERSION, "version": sv + 1,
                    "expires": format_rfc3339(expires),
                    "meta": {"targets.json": self.meta_entry(&format!("{tv}.targets.json"), tv)?},
                });
                let b = self.signed_by_role(Role::Snapshot, &signed)?;
                self.write_file(&format!("{}.snapshot.json", sv + 1), &b)?;
                self.write_file("snapshot.json", &b)?;
                self.write_timestamp(tsv + 1, now, sv + 1)
            }
            Role::Targets => {
                let t = self.read_meta(&format!("{tv}.targets.json"), Role::Targets)?;
                let mut signed = t.signed;
                signed["version"] = json!(tv + 1);
                signed["expires"] = json!(format_rfc3339(expires));
                let b = self.signed_by_role(Role::Targets, &signed)?;
                self.write_file(&format!("{}.targets.json", tv + 1), &b)?;
                self.write_file("targets.json", &b)?;
                self.write_snapshot(sv + 1, now, tv + 1)?;
                self.write_timestamp(tsv + 1, now, sv + 1)
            }
        }
    }

    /// Replaces the keys of `role` with fresh ones (same count): a new root version signed
    /// by the old and the new root keys, then the role is re-signed with its new keys.
    pub fn rotate_keys(&self, role: Role, now: i64) -> Result<(), TufError> {
        let old_root = self.root()?;
        let info = RootInfo::from_envelope(&old_root, "root.json")?;
        let old_ids = info
            .roles
            .get(&role)
            .map(|r| r.keyids.clone())
            .unwrap_or_default();
        let old_root_keys = self.keys(Role::Root)?;
        let old_root_signers: Vec<SigningKey> = self
            .role_signers(Role::Root, &old_root.signed, &old_root_keys)
            .into_iter()
            .map(|k| SigningKey::from_pkcs8(k.alg(), &k.pkcs8))
            .collect::<Result<_, _>>()?;
        let mut root = old_root.signed.clone();
        let mut new_ids = Vec::new();
        for _ in 0..old_ids.len().max(1) {
            let k = self.new_key(role)?;
            root["keys"][k.public.keyid()] = k.public.to_json();
            new_ids.push(Value::String(k.public.keyid()));
        }
        root["roles"][role.name()]["keyids"] = Value::Array(new_ids);
        // Drop keys no role uses any more; retire the old private keys.
        let used: std::collections::BTreeSet<String> = Role::ALL
            .iter()
            .flat_map(|r| {
                root["roles"][r.name()]["keyids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if let Some(k) = root["keys"].as_object_mut() {
            k.retain(|id, _| used.contains(id));
        }
        let retired = self.dir.join("keys").join("retired");
        std::fs::create_dir_all(&retired).map_err(TufError::io("retire keys"))?;
        for id in &old_ids {
            let from = self
                .dir
                .join("keys")
                .join(role.name())
                .join(format!("{id}.json"));
            let _ = std::fs::rename(&from, retired.join(format!("{id}.json")));
        }
        root["version"] = json!(old_root.version + 1);
        root["expires"] = json!(format_rfc3339(now + self.period(Role::Root)));
        // New root is signed by the new root keys (write_root) and the old ones (extra).
        self.write_root(
            &root,
            if role == Role::Root {
                &old_root_signers
            } else {
                &[]
            },
        )?;
        match role {
            Role::Root => Ok(()),
            r => self.expire(r, now + self.period(r), now),
        }
    }
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}
