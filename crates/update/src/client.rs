//! The TUF client workflow (spec §5): root rotation, timestamp, snapshot, targets, then
//! target download — with rollback, freeze, mix-and-match, threshold and endless-data checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::fetch::Fetcher;
use crate::metadata::{Envelope, MetaFile, Role, RootInfo, TargetFile, check_len_hashes};
use crate::{TufError, hex};

/// Size limits (endless-data defence).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// root.json.
    pub root: u64,
    /// timestamp.json.
    pub timestamp: u64,
    /// snapshot.json when the timestamp gives no length.
    pub snapshot: u64,
    /// targets.json when the snapshot gives no length.
    pub targets: u64,
    /// Root versions to walk in one refresh.
    pub max_root_rotations: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            root: 512 * 1024,
            timestamp: 16 * 1024,
            snapshot: 2 * 1024 * 1024,
            targets: 5 * 1024 * 1024,
            max_root_rotations: 32,
        }
    }
}

/// A TUF client with its trusted metadata in a local directory.
pub struct Client<F: Fetcher> {
    fetcher: F,
    dir: PathBuf,
    /// Current time used for expiry checks (Unix seconds).
    pub now: i64,
    /// Size limits.
    pub limits: Limits,
    root: Envelope,
    root_info: RootInfo,
    timestamp: Option<Envelope>,
    snapshot: Option<Envelope>,
    targets: Option<Envelope>,
}

fn read_local(dir: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(name)).ok()
}

impl<F: Fetcher> Client<F> {
    /// Opens the client state in `dir`, which must hold the trusted `root.json`
    /// (bootstrap it with [`Client::bootstrap`]). Previously trusted timestamp/snapshot/targets
    /// are loaded so rollback is detected across runs.
    pub fn open(dir: impl Into<PathBuf>, fetcher: F, now: i64) -> Result<Self, TufError> {
        let dir = dir.into();
        let rb = read_local(&dir, "root.json").ok_or(TufError::NoTrustedRoot)?;
        let root = Envelope::parse(&rb, "root.json", Role::Root)?;
        let root_info = RootInfo::from_envelope(&root, "root.json")?;
        root_info.verify(Role::Root, &root)?;
        let mut c = Self {
            fetcher,
            dir,
            now,
            limits: Limits::default(),
            root,
            root_info,
            timestamp: None,
            snapshot: None,
            targets: None,
        };
        // Local copies are trusted only if they still verify with the trusted root.
        for role in [Role::Timestamp, Role::Snapshot, Role::Targets] {
            let name = format!("{}.json", role.name());
            if let Some(b) = read_local(&c.dir, &name)
                && let Ok(e) = Envelope::parse(&b, &name, role)
                && c.root_info.verify(role, &e).is_ok()
            {
                match role {
                    Role::Timestamp => c.timestamp = Some(e),
                    Role::Snapshot => c.snapshot = Some(e),
                    _ => c.targets = Some(e),
                }
            }
        }
        Ok(c)
    }

    /// Writes a trusted root into `dir` (out-of-band bootstrap).
    pub fn bootstrap(dir: impl Into<PathBuf>, root_json: &[u8]) -> Result<(), TufError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(TufError::io("create client dir"))?;
        let e = Envelope::parse(root_json, "root.json", Role::Root)?;
        let info = RootInfo::from_envelope(&e, "root.json")?;
        info.verify(Role::Root, &e)?;
        std::fs::write(dir.join("root.json"), root_json).map_err(TufError::io("write root"))
    }

    fn persist(&self, name: &str, bytes: &[u8]) -> Result<(), TufError> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(TufError::io("persist metadata"))?;
        std::fs::rename(&tmp, self.dir.join(name)).map_err(TufError::io("persist metadata"))
    }

    fn get(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, TufError> {
        self.fetcher.fetch(path, max).map_err(TufError::Fetch)
    }

    /// The trusted root version.
    pub fn root_version(&self) -> u64 {
        self.root.version
    }

    /// Runs the whole metadata update (spec 5.3–5.6).
    pub fn refresh(&mut self) -> Result<(), TufError> {
        self.update_root()?;
        self.update_timestamp()?;
        self.update_snapshot()?;
        self.update_targets()
    }

    fn update_root(&mut self) -> Result<(), TufError> {
        let start = self.root.version;
        for _ in 0..self.limits.max_root_rotations {
            let next = self.root.version + 1;
            let name = format!("{next}.root.json");
            let Some(b) = self.get(&format!("metadata/{name}"), self.limits.root)? else {
                break;
            };
            let e = Envelope::parse(&b, &name, Role::Root)?;
            // Signed by the old root's threshold and by its own.
            self.root_info.verify(Role::Root, &e)?;
            let info = RootInfo::from_envelope(&e, &name)?;
            info.verify(Role::Root, &e)?;
            if e.version != next {
                return Err(TufError::VersionMismatch {
                    role: "root",
                    expected: next,
                    found: e.version,
                });
            }
            // Fast-forward recovery: forget timestamp/snapshot if their keys rotated.
            for role in [Role::Timestamp, Role::Snapshot] {
                if info.roles.get(&role) != self.root_info.roles.get(&role) {
                    if role == Role::Timestamp {
                        self.timestamp = None;
                    } else {
                        self.snapshot = None;
                    }
                    let _ = std::fs::remove_file(self.dir.join(format!("{}.json", role.name())));
                }
            }
            self.root = e;
            self.root_info = info;
            self.persist("root.json", &b)?;
        }
        let _ = start;
        self.root.check_expiry(self.now)
    }

    fn update_timestamp(&mut self) -> Result<(), TufError> {
        let b = self
            .get("metadata/timestamp.json", self.limits.timestamp)?
            .ok_or(TufError::Missing("timestamp.json".into()))?;
        let e = Envelope::parse(&b, "timestamp.json", Role::Timestamp)?;
        self.root_info.verify(Role::Timestamp, &e)?;
        let snap = snapshot_meta(&e)?;
        if let Some(old) = &self.timestamp {
            if e.version < old.version {
                return Err(TufError::Rollback {
                    role: "timestamp",
                    trusted: old.version,
                    new: e.version,
                });
            }
            let old_snap = snapshot_meta(old)?;
            if snap.version < old_snap.version {
                return Err(TufError::Rollback {
                    role: "snapshot (in timestamp)",
                    trusted: old_snap.version,
                    new: snap.version,
                });
            }
            if e.version == old.version {
                // Nothing new; still check freshness below.
                e.check_expiry(self.now)?;
                return Ok(());
            }
        }
        e.check_expiry(self.now)?;
        self.persist("timestamp.json", &b)?;
        self.timestamp = Some(e);
        Ok(())
    }

    fn update_snapshot(&mut self) -> Result<(), TufError> {
        let ts = self
            .timestamp
            .as_ref()
            .ok_or(TufError::Missing("timestamp".into()))?;
        let meta = snapshot_meta(ts)?;
        if let Some(s) = &self.snapshot
            && s.version == meta.version
        {
            return s.check_expiry(self.now);
        }
        let name = if self.root_info.consistent_snapshot {
            format!("{}.snapshot.json", meta.version)
        } else {
            "snapshot.json".into()
        };
        let max = meta.length.unwrap_or(self.limits.snapshot);
        let b = self
            .get(&format!("metadata/{name}"), max)?
            .ok_or_else(|| TufError::Missing(name.clone()))?;
        check_len_hashes(&b, meta.length, &meta.hashes, &name)?;
        let e = Envelope::parse(&b, &name, Role::Snapshot)?;
        self.root_info.verify(Role::Snapshot, &e)?;
        if e.version != meta.version {
            return Err(TufError::VersionMismatch {
                role: "snapshot",
                expected: meta.version,
                found: e.version,
            });
        }
        if let Some(old) = &self.snapshot {
            for (file, m) in meta_map(old, "snapshot.json")? {
                match meta_map(&e, &name)?.get(&file) {
                    None => {
                        return Err(TufError::Malformed {
                            file: name,
                            field: format!("signed.meta.{file}"),
                            message: "removed since the trusted snapshot".into(),
                        });
                    }
                    Some(n) if n.version < m.version => {
                        return Err(TufError::Rollback {
                            role: "targets (in snapshot)",
                            trusted: m.version,
                            new: n.version,
                        });
                    }
                    _ => {}
                }
            }
        }
        e.check_expiry(self.now)?;
        self.persist("snapshot.json", &b)?;
        self.snapshot = Some(e);
        Ok(())
    }

    fn update_targets(&mut self) -> Result<(), TufError> {
        let snap = self
            .snapshot
            .as_ref()
            .ok_or(TufError::Missing("snapshot".into()))?;
        let metas = meta_map(snap, "snapshot.json")?;
        let meta = metas
            .get("targets.json")
            .ok_or_else(|| TufError::Malformed {
                file: "snapshot.json".into(),
                field: "signed.meta.targets.json".into(),
                message: "missing".into(),
            })?
            .clone();
        if let Some(t) = &self.targets
            && t.version == meta.version
        {
            return t.check_expiry(self.now);
        }
        let name = if self.root_info.consistent_snapshot {
            format!("{}.targets.json", meta.version)
        } else {
            "targets.json".into()
        };
        let max = meta.length.unwrap_or(self.limits.targets);
        let b = self
            .get(&format!("metadata/{name}"), max)?
            .ok_or_else(|| TufError::Missing(name.clone()))?;
        check_len_hashes(&b, meta.length, &meta.hashes, &name)?;
        let e = Envelope::parse(&b, &name, Role::Targets)?;
        self.root_info.verify(Role::Targets, &e)?;
        if e.version != meta.version {
            return Err(TufError::VersionMismatch {
                role: "targets",
                expected: meta.version,
                found: e.version,
            });
        }
        e.check_expiry(self.now)?;
        // Parse all entries now so malformed targets fail the refresh.
        targets_map(&e, &name)?;
        self.persist("targets.json", &b)?;
        self.targets = Some(e);
        Ok(())
    }

    /// All targets of the trusted top-level targets metadata.
    pub fn targets(&self) -> Result<BTreeMap<String, TargetFile>, TufError> {
        let t = self
            .targets
            .as_ref()
            .ok_or(TufError::Missing("targets".into()))?;
        targets_map(t, "targets.json")
    }

    /// Looks up one target.
    pub fn target(&self, name: &str) -> Result<TargetFile, TufError> {
        self.targets()?
            .remove(name)
            .ok_or_else(|| TufError::UnknownTarget(name.into()))
    }

    /// Downloads and verifies a target (length first, so oversized data is never read past
    /// the declared length plus one byte).
    pub fn download(&self, name: &str) -> Result<Vec<u8>, TufError> {
        if name.contains("..") || name.starts_with('/') {
            return Err(TufError::UnknownTarget(name.into()));
        }
        let tf = self.target(name)?;
        let path = if self.root_info.consistent_snapshot {
            let (alg, h) = tf
                .hashes
                .get_key_value("sha256")
                .or_else(|| tf.hashes.iter().next())
                .ok_or_else(|| TufError::UnknownTarget(name.into()))?;
            let _ = alg;
            match name.rsplit_once('/') {
                Some((dir, base)) => format!("targets/{dir}/{}.{base}", hex(h)),
                None => format!("targets/{}.{name}", hex(h)),
            }
        } else {
            format!("targets/{name}")
        };
        let data = match self.fetcher.fetch(&path, tf.length) {
            Ok(Some(d)) => d,
            Ok(None) => return Err(TufError::Missing(path)),
            Err(crate::fetch::FetchError::TooLarge { .. }) => {
                return Err(TufError::LengthMismatch {
                    file: name.into(),
                    expected: tf.length,
                    got: tf.length + 1,
                });
            }
            Err(e) => return Err(TufError::Fetch(e)),
        };
        tf.check(&data, name)?;
        Ok(data)
    }
}

fn snapshot_meta(ts: &Envelope) -> Result<MetaFile, TufError> {
    let v = &ts.signed["meta"]["snapshot.json"];
    if v.is_null() {
        return Err(TufError::Malformed {
            file: "timestamp.json".into(),
            field: "signed.meta.snapshot.json".into(),
            message: "missing".into(),
        });
    }
    MetaFile::from_json(v, "timestamp.json", "signed.meta.snapshot.json")
}

fn meta_map(e: &Envelope, file: &str) -> Result<BTreeMap<String, MetaFile>, TufError> {
    let m = e.signed["meta"]
        .as_object()
        .ok_or_else(|| TufError::Malformed {
            file: file.into(),
            field: "signed.meta".into(),
            message: "missing".into(),
        })?;
    m.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                MetaFile::from_json(v, file, &format!("signed.meta.{k}"))?,
            ))
        })
        .collect()
}

fn targets_map(e: &Envelope, file: &str) -> Result<BTreeMap<String, TargetFile>, TufError> {
    let m = e.signed["targets"]
        .as_object()
        .ok_or_else(|| TufError::Malformed {
            file: file.into(),
            field: "signed.targets".into(),
            message: "missing".into(),
        })?;
    m.iter()
        .map(|(k, v)| Ok((k.clone(), TargetFile::from_json(v, file, k)?)))
        .collect()
}
