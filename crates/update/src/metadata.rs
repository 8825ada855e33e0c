//! TUF 1.0 metadata: envelopes, keys, the four top-level roles, signature thresholds.

use std::collections::{BTreeMap, BTreeSet};

use ring::signature::{self, UnparsedPublicKey};
use serde_json::{Map, Value, json};

use crate::json::{self, canonical};
use crate::{TufError, hex, unhex};

/// The spec version we write.
pub const SPEC_VERSION: &str = "1.0.31";

/// Top-level roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// root.
    Root,
    /// targets.
    Targets,
    /// snapshot.
    Snapshot,
    /// timestamp.
    Timestamp,
}

impl Role {
    /// All roles, root first.
    pub const ALL: [Role; 4] = [Role::Root, Role::Targets, Role::Snapshot, Role::Timestamp];

    /// The role name (`_type`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Targets => "targets",
            Role::Snapshot => "snapshot",
            Role::Timestamp => "timestamp",
        }
    }

    /// Parses a role name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// A public key as TUF describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufKey {
    /// `keytype`: ed25519, ecdsa, rsa.
    pub keytype: String,
    /// `scheme`: ed25519, ecdsa-sha2-nistp256, rsassa-pss-sha256.
    pub scheme: String,
    /// The raw key ring verifies with.
    pub raw: Vec<u8>,
    /// The `keyval` object as written.
    pub keyval: Value,
}

impl TufKey {
    /// Parses a key object.
    pub fn from_json(v: &Value, file: &str, keyid: &str) -> Result<Self, TufError> {
        let mal = |m: &str| TufError::Malformed {
            file: file.into(),
            field: format!("signed.keys.{keyid}"),
            message: m.into(),
        };
        let keytype = v["keytype"]
            .as_str()
            .ok_or_else(|| mal("missing keytype"))?;
        let scheme = v["scheme"].as_str().ok_or_else(|| mal("missing scheme"))?;
        let public = v["keyval"]["public"]
            .as_str()
            .ok_or_else(|| mal("missing keyval.public"))?;
        let raw = match (keytype, scheme) {
            ("ed25519", "ed25519") => {
                let r = unhex(public).ok_or_else(|| mal("keyval.public is not hex"))?;
                if r.len() != 32 {
                    return Err(mal("Ed25519 public key is not 32 bytes"));
                }
                r
            }
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256")
            | ("rsa", "rsassa-pss-sha256") => {
                let (_, der) = palisade_firmware::pem_decode(public)
                    .ok_or_else(|| mal("keyval.public is not PEM"))?;
                let pk = palisade_firmware::PublicKey::from_spki(&der)
                    .map_err(|e| mal(&e.to_string()))?;
                pk.raw().to_vec()
            }
            _ => return Err(mal("unsupported keytype/scheme")),
        };
        Ok(Self {
            keytype: keytype.into(),
            scheme: scheme.into(),
            raw,
            keyval: v["keyval"].clone(),
        })
    }

    /// The key object.
    pub fn to_json(&self) -> Value {
        json!({"keytype": self.keytype, "scheme": self.scheme, "keyval": self.keyval})
    }

    /// The default key id: hex SHA-256 of the canonical key object.
    pub fn keyid(&self) -> String {
        let c = canonical(&self.to_json()).unwrap_or_default();
        hex(ring::digest::digest(&ring::digest::SHA256, &c).as_ref())
    }

    /// Verifies a signature over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let alg: &'static dyn signature::VerificationAlgorithm = match self.scheme.as_str() {
            "ed25519" => &signature::ED25519,
            "ecdsa-sha2-nistp256" => &signature::ECDSA_P256_SHA256_ASN1,
            "rsassa-pss-sha256" => &signature::RSA_PSS_2048_8192_SHA256,
            _ => return false,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(msg, sig)
            .is_ok()
    }
}

/// Keys and threshold of a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleKeys {
    /// Authorised key ids.
    pub keyids: Vec<String>,
    /// Signatures needed.
    pub threshold: u64,
}

/// A signed metadata file: envelope plus the canonical bytes of `signed`.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The `signed` object.
    pub signed: Value,
    /// `(keyid, signature bytes)`.
    pub signatures: Vec<(String, Vec<u8>)>,
    /// Canonical JSON of `signed` (what signatures cover).
    pub canonical: Vec<u8>,
    /// Role (`_type`).
    pub role: Role,
    /// `version`.
    pub version: u64,
    /// `expires`, Unix seconds.
    pub expires: i64,
}

impl Envelope {
    /// Parses and checks the common fields; `file` names the file in errors.
    pub fn parse(bytes: &[u8], file: &str, expected: Role) -> Result<Self, TufError> {
        let v = json::parse_strict(bytes).map_err(|e| TufError::Json {
            file: file.into(),
            error: e,
        })?;
        let mal = |field: &str, m: &str| TufError::Malformed {
            file: file.into(),
            field: field.into(),
            message: m.into(),
        };
        let obj = v.as_object().ok_or_else(|| mal("/", "not an object"))?;
        for k in obj.keys() {
            if k != "signed" && k != "signatures" {
                return Err(mal(k, "unexpected top-level field"));
            }
        }
        let signed = obj
            .get("signed")
            .filter(|s| s.is_object())
            .ok_or_else(|| mal("signed", "missing or not an object"))?
            .clone();
        let sigs = obj
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| mal("signatures", "missing or not an array"))?;
        let mut signatures = Vec::with_capacity(sigs.len());
        for (i, s) in sigs.iter().enumerate() {
            let keyid = s["keyid"]
                .as_str()
                .ok_or_else(|| mal(&format!("signatures[{i}].keyid"), "missing"))?;
            let sig = s["sig"]
                .as_str()
                .and_then(unhex)
                .ok_or_else(|| mal(&format!("signatures[{i}].sig"), "missing or not hex"))?;
            signatures.push((keyid.to_owned(), sig));
        }
        let typ = signed["_type"]
            .as_str()
            .ok_or_else(|| mal("signed._type", "missing"))?;
        let role = Role::from_name(typ).ok_or_else(|| mal("signed._type", "unknown role"))?;
        if role != expected {
            return Err(TufError::WrongType {
                file: file.into(),
                expected: expected.name(),
                found: role.name(),
            });
        }
        let spec = signed["spec_version"]
            .as_str()
            .ok_or_else(|| mal("signed.spec_version", "missing"))?;
        if !spec.starts_with("1.") {
            return Err(mal("signed.spec_version", "unsupported major version"));
        }
        let version = signed["version"]
            .as_u64()
            .filter(|&v| v >= 1)
            .ok_or_else(|| mal("signed.version", "missing or not a positive integer"))?;
        let expires = signed["expires"]
            .as_str()
            .and_then(crate::time::parse_rfc3339)
            .ok_or_else(|| mal("signed.expires", "missing or not YYYY-MM-DDTHH:MM:SSZ"))?;
        let canonical = canonical(&signed).map_err(|e| mal(&e.path, "not canonicalizable"))?;
        Ok(Self {
            signed,
            signatures,
            canonical,
            role,
            version,
            expires,
        })
    }

    /// Counts valid signatures by distinct authorised keys and enforces the threshold.
    pub fn verify_threshold(
        &self,
        role: Role,
        keys: &BTreeMap<String, TufKey>,
        rk: &RoleKeys,
    ) -> Result<(), TufError> {
        let mut ok: BTreeSet<&str> = BTreeSet::new();
        for (keyid, sig) in &self.signatures {
            if !rk.keyids.iter().any(|k| k == keyid) || ok.contains(keyid.as_str()) {
                continue;
            }
            if let Some(k) = keys.get(keyid)
                && k.verify(&self.canonical, sig)
            {
                ok.insert(keyid);
            }
        }
        if (ok.len() as u64) < rk.threshold {
            return Err(TufError::Threshold {
                role: role.name(),
                valid: ok.len(),
                threshold: rk.threshold,
            });
        }
        Ok(())
    }

    /// Fails when expired at `now`.
    pub fn check_expiry(&self, now: i64) -> Result<(), TufError> {
        if self.expires <= now {
            return Err(TufError::Expired {
                role: self.role.name(),
                expires: crate::time::format_rfc3339(self.expires),
            });
        }
        Ok(())
    }
}

/// Root's keys and roles.
#[derive(Clone, Debug)]
pub struct RootInfo {
    /// All keys by id.
    pub keys: BTreeMap<String, TufKey>,
    /// Role → keys and threshold.
    pub roles: BTreeMap<Role, RoleKeys>,
    /// `consistent_snapshot`.
    pub consistent_snapshot: bool,
}

impl RootInfo {
    /// Extracts keys and roles from a root envelope.
    pub fn from_envelope(e: &Envelope, file: &str) -> Result<Self, TufError> {
        let mal = |field: &str, m: &str| TufError::Malformed {
            file: file.into(),
            field: field.into(),
            message: m.into(),
        };
        let mut keys = BTreeMap::new();
        for (id, k) in e.signed["keys"]
            .as_object()
            .ok_or_else(|| mal("signed.keys", "missing"))?
        {
            keys.insert(id.clone(), TufKey::from_json(k, file, id)?);
        }
        let mut roles = BTreeMap::new();
        let robj = e.signed["roles"]
            .as_object()
            .ok_or_else(|| mal("signed.roles", "missing"))?;
        for role in Role::ALL {
            let r = robj
                .get(role.name())
                .ok_or_else(|| mal(&format!("signed.roles.{}", role.name()), "missing"))?;
            let threshold = r["threshold"]
                .as_u64()
                .filter(|&t| t >= 1)
                .ok_or_else(|| mal("threshold", "missing or < 1"))?;
            let keyids: Vec<String> = r["keyids"]
                .as_array()
                .ok_or_else(|| mal("keyids", "missing"))?
                .iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| mal("keyids", "not strings"))?;
            let uniq: BTreeSet<&String> = keyids.iter().collect();
            if uniq.len() != keyids.len() {
                return Err(mal(
                    &format!("signed.roles.{}.keyids", role.name()),
                    "duplicate key id",
                ));
            }
            roles.insert(role, RoleKeys { keyids, threshold });
        }
        Ok(Self {
            keys,
            roles,
            consistent_snapshot: e.signed["consistent_snapshot"].as_bool().unwrap_or(false),
        })
    }

    /// Verifies `e` as `role` with this root's keys.
    pub fn verify(&self, role: Role, e: &Envelope) -> Result<(), TufError> {
        let rk = self.roles.get(&role).ok_or(TufError::Malformed {
            file: "root.json".into(),
            field: role.name().into(),
            message: "role missing".into(),
        })?;
        e.verify_threshold(role, &self.keys, rk)
    }
}

/// A `meta` entry (snapshot.json in timestamp, targets.json in snapshot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaFile {
    /// Version.
    pub version: u64,
    /// Optional length.
    pub length: Option<u64>,
    /// Optional hashes (algorithm → bytes).
    pub hashes: BTreeMap<String, Vec<u8>>,
}

impl MetaFile {
    /// Parses a meta entry.
    pub fn from_json(v: &Value, file: &str, field: &str) -> Result<Self, TufError> {
        let mal = |m: &str| TufError::Malformed {
            file: file.into(),
            field: field.into(),
            message: m.into(),
        };
        let version = v["version"]
            .as_u64()
            .ok_or_else(|| mal("version missing"))?;
        let length = match &v["length"] {
            Value::Null => None,
            l => Some(l.as_u64().ok_or_else(|| mal("length is not an integer"))?),
        };
        Ok(Self {
            version,
            length,
            hashes: parse_hashes(&v["hashes"]).ok_or_else(|| mal("bad hashes"))?,
        })
    }
}

/// A target file entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetFile {
    /// Length in bytes.
    pub length: u64,
    /// Hashes (algorithm → bytes); at least one.
    pub hashes: BTreeMap<String, Vec<u8>>,
    /// `custom`, if any.
    pub custom: Value,
}

impl TargetFile {
    /// Parses a target entry.
    pub fn from_json(v: &Value, file: &str, name: &str) -> Result<Self, TufError> {
        let mal = |m: &str| TufError::Malformed {
            file: file.into(),
            field: format!("signed.targets.{name}"),
            message: m.into(),
        };
        let length = v["length"].as_u64().ok_or_else(|| mal("length missing"))?;
        let hashes = parse_hashes(&v["hashes"])
            .filter(|h| !h.is_empty())
            .ok_or_else(|| mal("hashes missing or bad"))?;
        Ok(Self {
            length,
            hashes,
            custom: v["custom"].clone(),
        })
    }

    /// Builds an entry for `data` with sha256 and sha512.
    pub fn from_data(data: &[u8], custom: Value) -> Self {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".into(), digest("sha256", data).unwrap_or_default());
        hashes.insert("sha512".into(), digest("sha512", data).unwrap_or_default());
        Self {
            length: data.len() as u64,
            hashes,
            custom,
        }
    }

    /// The JSON entry.
    pub fn to_json(&self) -> Value {
        let h: Map<String, Value> = self
            .hashes
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(hex(v))))
            .collect();
        let mut o = json!({"length": self.length, "hashes": h});
        if !self.custom.is_null() {
            o["custom"] = self.custom.clone();
        }
        o
    }

    /// Checks `data` against the length and every known hash.
    pub fn check(&self, data: &[u8], name: &str) -> Result<(), TufError> {
        check_len_hashes(data, Some(self.length), &self.hashes, name)
    }
}

fn parse_hashes(v: &Value) -> Option<BTreeMap<String, Vec<u8>>> {
    match v {
        Value::Null => Some(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, h)| Some((k.clone(), unhex(h.as_str()?)?)))
            .collect(),
        _ => None,
    }
}

/// Digest by TUF algorithm name.
pub fn digest(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    let a = match alg {
        "sha256" => &ring::digest::SHA256,
        "sha384" => &ring::digest::SHA384,
        "sha512" => &ring::digest::SHA512,
        _ => return None,
    };
    Some(ring::digest::digest(a, data).as_ref().to_vec())
}

/// Checks length and hashes (unknown algorithms are skipped; at least one must be known
/// when any are listed).
pub fn check_len_hashes(
    data: &[u8],
    length: Option<u64>,
    hashes: &BTreeMap<String, Vec<u8>>,
    file: &str,
) -> Result<(), TufError> {
    if let Some(l) = length
        && data.len() as u64 != l
    {
        return Err(TufError::LengthMismatch {
            file: file.into(),
            expected: l,
            got: data.len() as u64,
        });
    }
    let mut known = 0;
    for (alg, want) in hashes {
        if let Some(got) = digest(alg, data) {
            known += 1;
            if &got != want {
                return Err(TufError::HashMismatch {
                    file: file.into(),
                    algorithm: alg.clone(),
                });
            }
        }
    }
    if !hashes.is_empty() && known == 0 {
        return Err(TufError::HashMismatch {
            file: file.into(),
            algorithm: "no supported algorithm".into(),
        });
    }
    Ok(())
}
