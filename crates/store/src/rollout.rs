//! Staged firmware rollouts: a rollout releases one TUF target to a percentage of the fleet
//! (deterministic cohorts by a hash of rollout id and device id), devices report what they run
//! and how each update went, and a rollout pauses itself when its failure rate passes a limit.
//! One row per device (latest report) and per (rollout, device): bounded by the fleet size.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::crypto::sha256;
use crate::sqlite::{SqliteStore, lock};
use crate::{Page, Result, Store, StoreError, now};

/// Rollout states: active ⇄ paused; either → aborted or completed (final).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    Active,
    Paused,
    Aborted,
    Completed,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Aborted => "aborted",
            Self::Completed => "completed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Paused, Self::Aborted, Self::Completed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
    /// Whether `self → to` is allowed.
    pub fn can_go_to(self, to: Self) -> bool {
        use RolloutState::*;
        matches!(
            (self, to),
            (Active, Paused) | (Paused, Active) | (Active | Paused, Aborted | Completed)
        )
    }
}

/// Per-rollout counts of device results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolloutStats {
    /// Devices in the wave that reported.
    pub reported: u64,
    /// ... that run the target (updated or already up to date).
    pub succeeded: u64,
    /// ... whose update was refused or reverted.
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    pub id: i64,
    pub target: String,
    /// Share of the fleet (0–100) in the wave.
    pub percent: u8,
    pub state: RolloutState,
    /// Pause automatically when failed / reported exceeds this (0–1) ...
    pub max_failure_rate: f64,
    /// ... once at least this many devices reported.
    pub min_reports: u32,
    /// Why the state last changed (e.g. the automatic pause).
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub stats: RolloutStats,
}

/// A device's update report (what `palisade agent run` sends).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateReport {
    pub device: String,
    pub target: String,
    /// `updated`, `up-to-date`, `reverted`, `refused-metadata`, `refused-download`,
    /// `refused-image`, `refused-boot`, or `waiting` (not in the wave).
    pub result: String,
    pub running_version: Option<String>,
    pub security_counter: Option<u32>,
    #[serde(default)]
    pub candidate_version: Option<String>,
    #[serde(default)]
    pub candidate_sha256: Option<String>,
    #[serde(default)]
    pub detail: String,
    /// Device clock (informational; the hub stores its own time).
    #[serde(default)]
    pub at: Option<i64>,
}

pub const RESULTS: &[&str] = &[
    "updated",
    "up-to-date",
    "reverted",
    "refused-metadata",
    "refused-download",
    "refused-image",
    "refused-boot",
    "waiting",
];

impl UpdateReport {
    /// Field checks (sizes, vocabulary) before anything is stored.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StoreError::Invalid(m));
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:@/+-".contains(&b))
        };
        if !id_ok(&self.device) {
            return bad("device: 1-128 characters of [A-Za-z0-9._:@/+-]".into());
        }
        if !id_ok(&self.target) {
            return bad("target: 1-128 characters of [A-Za-z0-9._:@/+-]".into());
        }
        if !RESULTS.contains(&self.result.as_str()) {
            return bad(format!("result: one of {}", RESULTS.join(", ")));
        }
        for (n, v) in [
            ("running_version", &self.running_version),
            ("candidate_version", &self.candidate_version),
            ("candidate_sha256", &self.candidate_sha256),
        ] {
            if v.as_ref().is_some_and(|s| s.len() > 128) {
                return bad(format!("{n}: at most 128 characters"));
            }
        }
        if self.detail.len() > 2048 {
            return bad("detail: at most 2048 bytes".into());
        }
        Ok(())
    }

    fn is_success(&self) -> bool {
        matches!(self.result.as_str(), "updated" | "up-to-date")
    }
}

/// A device's latest update status.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceUpdate {
    pub device: String,
    pub target: String,
    pub result: String,
    pub running_version: Option<String>,
    pub security_counter: Option<u32>,
    pub candidate_version: Option<String>,
    pub detail: String,
    pub rollout_id: Option<i64>,
    pub reported_at: i64,
}

/// Whether `device` falls in the first `percent` % of rollout `id`'s cohort order. Stable for a
/// rollout, so raising the percentage only adds devices; different per rollout, so the same
/// devices are not always first.
pub fn in_wave(rollout_id: i64, device: &str, percent: u8) -> bool {
    let h = sha256(format!("{rollout_id}:{device}").as_bytes());
    (u16::from_be_bytes([h[0], h[1]]) % 100) < u16::from(percent)
}

/// Storage for rollouts (implemented by [`SqliteStore`]).
pub trait RolloutStore: Send + Sync {
    /// A new active rollout; `Conflict` while another active or paused one exists for `target`.
    fn create_rollout(
        &self,
        target: &str,
        percent: u8,
        max_failure_rate: f64,
        min_reports: u32,
        by: &str,
    ) -> Result<Rollout>;
    fn list_rollouts(&self) -> Result<Vec<Rollout>>;
    /// A rollout and the latest status of the devices that reported in it.
    fn rollout(&self, id: i64) -> Result<Option<(Rollout, Vec<DeviceUpdate>)>>;
    /// Changes the percentage and/or the state (audited); `Conflict` for a disallowed transition.
    fn update_rollout(
        &self,
        id: i64,
        percent: Option<u8>,
        state: Option<RolloutState>,
        by: &str,
    ) -> Result<Rollout>;
    /// The newest rollout of `target`, whatever its state.
    fn current_rollout(&self, target: &str) -> Result<Option<Rollout>>;
    /// Records a device report; counts it toward the active rollout of its target and pauses
    /// that rollout when its failure rate passes the limit. Returns the rollout after the report.
    fn record_update(&self, r: &UpdateReport) -> Result<Option<Rollout>>;
    /// Latest status per device, all devices or those that reported in one rollout.
    fn device_updates(
        &self,
        rollout: Option<i64>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<DeviceUpdate>>;
}

const ROLLOUT_COLS: &str = "id, target, percent, state, max_failure_rate, min_reports, note, created_by, created_at, updated_at, \
     (SELECT COUNT(*) FROM rollout_results x WHERE x.rollout_id = r.id), \
     (SELECT COUNT(*) FROM rollout_results x WHERE x.rollout_id = r.id AND x.result IN ('updated','up-to-date'))";

fn rollout_row(r: &Row<'_>) -> rusqlite::Result<Rollout> {
    let state: String = r.get(3)?;
    let reported = r.get::<_, i64>(10)? as u64;
    let succeeded = r.get::<_, i64>(11)? as u64;
    Ok(Rollout {
        id: r.get(0)?,
        target: r.get(1)?,
        percent: r.get::<_, i64>(2)?.clamp(0, 100) as u8,
        state: RolloutState::parse(&state).unwrap_or(RolloutState::Paused),
        max_failure_rate: r.get(4)?,
        min_reports: r.get::<_, i64>(5)?.max(0) as u32,
        note: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        stats: RolloutStats {
            reported,
            succeeded,
            failed: reported.saturating_sub(succeeded),
        },
    })
}

const UPDATE_COLS: &str = "device, target, result, running_version, security_counter, candidate_version, detail, rollout_id, reported_at";

fn update_row(r: &Row<'_>) -> rusqlite::Result<DeviceUpdate> {
    Ok(DeviceUpdate {
        device: r.get(0)?,
        target: r.get(1)?,
        result: r.get(2)?,
        running_version: r.get(3)?,
        security_counter: r
            .get::<_, Option<i64>>(4)?
            .map(|v| v.clamp(0, u32::MAX.into()) as u32),
        candidate_version: r.get(5)?,
        detail: r.get(6)?,
        rollout_id: r.get(7)?,
        reported_at: r.get(8)?,
    })
}

fn get_rollout(c: &rusqlite::Connection, id: i64) -> Result<Option<Rollout>> {
    Ok(c.query_row(
        &format!("SELECT {ROLLOUT_COLS} FROM rollouts r WHERE id = ?1"),
        [id],
        rollout_row,
    )
    .optional()?)
}

fn current(c: &rusqlite::Connection, target: &str) -> Result<Option<Rollout>> {
    Ok(c.query_row(
        &format!(
            "SELECT {ROLLOUT_COLS} FROM rollouts r WHERE target = ?1 ORDER BY id DESC LIMIT 1"
        ),
        [target],
        rollout_row,
    )
    .optional()?)
}

impl RolloutStore for SqliteStore {
    fn create_rollout(
        &self,
        target: &str,
        percent: u8,
        max_failure_rate: f64,
        min_reports: u32,
        by: &str,
    ) -> Result<Rollout> {
        if percent > 100 || !(0.0..=1.0).contains(&max_failure_rate) {
            return Err(StoreError::Invalid(
                "percent must be 0-100 and max_failure_rate 0-1".into(),
            ));
        }
        let r = {
            let mut c = lock(&self.writer);
            let tx = c.transaction()?;
            let open: Option<i64> = tx
                .query_row(
                    "SELECT id FROM rollouts WHERE target = ?1 AND state IN ('active','paused')",
                    [target],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = open {
                return Err(StoreError::Conflict(format!(
                    "rollout {id} of {target} is still open: complete or abort it first"
                )));
            }
            let t = now();
            tx.execute(
                "INSERT INTO rollouts (target, percent, state, max_failure_rate, min_reports, note, created_by, created_at, updated_at) \
                 VALUES (?1, ?2, 'active', ?3, ?4, '', ?5, ?6, ?6)",
                params![target, percent, max_failure_rate, min_reports, by, t],
            )?;
            let id = tx.last_insert_rowid();
            let r = get_rollout(&tx, id)?.ok_or(StoreError::NotFound)?;
            tx.commit()?;
            r
        };
        self.audit(
            by,
            "rollout.create",
            &r.id.to_string(),
            &format!("{target} at {percent}%"),
        )?;
        Ok(r)
    }

    fn list_rollouts(&self) -> Result<Vec<Rollout>> {
        self.with_reader(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ROLLOUT_COLS} FROM rollouts r ORDER BY id DESC LIMIT 1000"
            ))?;
            let v = st
                .query_map([], rollout_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(v)
        })
    }

    fn rollout(&self, id: i64) -> Result<Option<(Rollout, Vec<DeviceUpdate>)>> {
        self.with_reader(|c| {
            let Some(r) = get_rollout(c, id)? else {
                return Ok(None);
            };
            let mut st = c.prepare(&format!(
                "SELECT {UPDATE_COLS} FROM device_updates WHERE device IN \
                 (SELECT device FROM rollout_results WHERE rollout_id = ?1) ORDER BY device LIMIT 10000"
            ))?;
            let devices = st.query_map([id], update_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(Some((r, devices)))
        })
    }

    fn update_rollout(
        &self,
        id: i64,
        percent: Option<u8>,
        state: Option<RolloutState>,
        by: &str,
    ) -> Result<Rollout> {
        if percent.is_some_and(|p| p > 100) {
            return Err(StoreError::Invalid("percent must be 0-100".into()));
        }
        let r = {
            let mut c = lock(&self.writer);
            let tx = c.transaction()?;
            let cur = get_rollout(&tx, id)?.ok_or(StoreError::NotFound)?;
            if let Some(to) = state
                && to != cur.state
                && !cur.state.can_go_to(to)
            {
                return Err(StoreError::Conflict(format!(
                    "rollout {id} cannot go from {} to {}",
                    cur.state.as_str(),
                    to.as_str()
                )));
            }
            if percent.is_some()
                && matches!(cur.state, RolloutState::Aborted | RolloutState::Completed)
            {
                return Err(StoreError::Conflict(format!(
                    "rollout {id} is {}",
                    cur.state.as_str()
                )));
            }
            let note = match state {
                Some(s) if s != cur.state => format!("{} by {by}", s.as_str()),
                _ => cur.note.clone(),
            };
            tx.execute(
                "UPDATE rollouts SET percent = ?2, state = ?3, note = ?4, updated_at = ?5 WHERE id = ?1",
                params![
                    id,
                    percent.unwrap_or(cur.percent),
                    state.unwrap_or(cur.state).as_str(),
                    note,
                    now()
                ],
            )?;
            let r = get_rollout(&tx, id)?.ok_or(StoreError::NotFound)?;
            tx.commit()?;
            r
        };
        self.audit(
            by,
            "rollout.update",
            &id.to_string(),
            &format!("{} at {}%", r.state.as_str(), r.percent),
        )?;
        Ok(r)
    }

    fn current_rollout(&self, target: &str) -> Result<Option<Rollout>> {
        self.with_reader(|c| current(c, target))
    }

    fn record_update(&self, rep: &UpdateReport) -> Result<Option<Rollout>> {
        rep.validate()?;
        let (after, paused) = {
            let mut c = lock(&self.writer);
            let tx = c.transaction()?;
            let t = now();
            let ro = current(&tx, &rep.target)?;
            let counted = ro.as_ref().filter(|r| {
                r.state == RolloutState::Active
                    && rep.result != "waiting"
                    && in_wave(r.id, &rep.device, r.percent)
            });
            tx.execute(
                "INSERT INTO device_updates (device, target, result, running_version, security_counter, candidate_version, detail, rollout_id, reported_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT(device) DO UPDATE SET target = excluded.target, result = excluded.result, \
                 running_version = excluded.running_version, security_counter = excluded.security_counter, \
                 candidate_version = excluded.candidate_version, detail = excluded.detail, \
                 rollout_id = COALESCE(excluded.rollout_id, device_updates.rollout_id), reported_at = excluded.reported_at",
                params![
                    rep.device,
                    rep.target,
                    rep.result,
                    rep.running_version,
                    rep.security_counter,
                    rep.candidate_version,
                    rep.detail,
                    counted.map(|r| r.id),
                    t
                ],
            )?;
            let mut paused = None;
            if let Some(r) = counted {
                tx.execute(
                    "INSERT INTO rollout_results (rollout_id, device, result, at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(rollout_id, device) DO UPDATE SET result = excluded.result, at = excluded.at",
                    params![r.id, rep.device, rep.result, t],
                )?;
                let now_r = get_rollout(&tx, r.id)?.ok_or(StoreError::NotFound)?;
                let s = &now_r.stats;
                let rate = if s.reported == 0 {
                    0.0
                } else {
                    s.failed as f64 / s.reported as f64
                };
                if !rep.is_success()
                    && s.reported >= u64::from(now_r.min_reports.max(1))
                    && rate > now_r.max_failure_rate
                {
                    let note = format!(
                        "paused automatically: {} of {} devices failed ({:.0}% > {:.0}%)",
                        s.failed,
                        s.reported,
                        rate * 100.0,
                        now_r.max_failure_rate * 100.0
                    );
                    tx.execute(
                        "UPDATE rollouts SET state = 'paused', note = ?2, updated_at = ?3 WHERE id = ?1",
                        params![r.id, note, t],
                    )?;
                    paused = Some((r.id, note));
                }
            }
            let after = match &ro {
                Some(r) => get_rollout(&tx, r.id)?,
                None => None,
            };
            tx.commit()?;
            (after, paused)
        };
        if let Some((id, note)) = paused {
            self.audit("system", "rollout.pause", &id.to_string(), &note)?;
        }
        Ok(after)
    }

    fn device_updates(
        &self,
        rollout: Option<i64>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<DeviceUpdate>> {
        let limit = limit.clamp(1, 1000);
        // -1 matches every device (rollout ids are positive).
        let filter =
            "(?1 = -1 OR device IN (SELECT device FROM rollout_results WHERE rollout_id = ?1))";
        let rid = rollout.unwrap_or(-1);
        self.with_reader(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM device_updates WHERE {filter}"),
                [rid],
                |r| r.get(0),
            )?;
            let mut st = c.prepare(&format!(
                "SELECT {UPDATE_COLS} FROM device_updates WHERE {filter} ORDER BY device LIMIT ?2 OFFSET ?3"
            ))?;
            let items = st
                .query_map(params![rid, limit, offset as i64], update_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Page {
                total: total as u64,
                limit,
                offset,
                items,
                next: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (SqliteStore, std::path::PathBuf) {
        let p = std::env::temp_dir().join(format!(
            "palisade-rollout-{}-{:?}.db",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&p);
        (SqliteStore::open(&p).unwrap(), p)
    }

    fn report(device: &str, result: &str) -> UpdateReport {
        UpdateReport {
            device: device.into(),
            target: "fw.bin".into(),
            result: result.into(),
            running_version: Some("1.0.0".into()),
            security_counter: Some(1),
            candidate_version: None,
            candidate_sha256: None,
            detail: String::new(),
            at: None,
        }
    }

    #[test]
    fn waves_are_stable_and_grow_with_the_percentage() {
        let devices: Vec<String> = (0..1000).map(|i| format!("dev-{i}")).collect();
        let at = |p| devices.iter().filter(|d| in_wave(7, d, p)).count();
        let (w10, w50) = (at(10), at(50));
        assert!((60..=140).contains(&w10), "{w10}");
        assert!((420..=580).contains(&w50), "{w50}");
        assert_eq!(at(0), 0);
        assert_eq!(at(100), 1000);
        assert!(
            devices
                .iter()
                .all(|d| !in_wave(7, d, 10) || in_wave(7, d, 50))
        );
        // Another rollout orders devices differently.
        assert!(
            devices
                .iter()
                .any(|d| in_wave(7, d, 10) != in_wave(8, d, 10))
        );
    }

    #[test]
    fn failure_rate_pauses_the_rollout() {
        let (s, p) = store();
        let r = s.create_rollout("fw.bin", 100, 0.25, 4, "admin").unwrap();
        assert!(matches!(
            s.create_rollout("fw.bin", 10, 0.1, 1, "admin"),
            Err(StoreError::Conflict(_))
        ));
        for d in ["a", "b", "c"] {
            s.record_update(&report(d, "updated")).unwrap();
        }
        let after = s.record_update(&report("d", "reverted")).unwrap().unwrap();
        assert_eq!(after.state, RolloutState::Active, "1 of 4 is not above 25%");
        let after = s
            .record_update(&report("e", "refused-image"))
            .unwrap()
            .unwrap();
        assert_eq!(after.state, RolloutState::Paused);
        assert_eq!((after.stats.reported, after.stats.failed), (5, 2));
        assert!(after.note.contains("2 of 5"), "{}", after.note);
        // Reports while paused are stored per device but not counted.
        s.record_update(&report("f", "refused-image")).unwrap();
        let (r2, devs) = s.rollout(r.id).unwrap().unwrap();
        assert_eq!(r2.stats.reported, 5);
        assert_eq!(devs.len(), 5);
        assert_eq!(s.device_updates(None, 100, 0).unwrap().total, 6);
        assert_eq!(s.device_updates(Some(r.id), 100, 0).unwrap().total, 5);
        // Resume, then finish; a finished rollout is final.
        let r3 = s
            .update_rollout(r.id, None, Some(RolloutState::Active), "admin")
            .unwrap();
        assert_eq!(r3.state, RolloutState::Active);
        s.update_rollout(r.id, None, Some(RolloutState::Completed), "admin")
            .unwrap();
        assert!(matches!(
            s.update_rollout(r.id, None, Some(RolloutState::Active), "admin"),
            Err(StoreError::Conflict(_))
        ));
        let bad = UpdateReport {
            result: "pwned".into(),
            ..report("g", "x")
        };
        assert!(matches!(s.record_update(&bad), Err(StoreError::Invalid(_))));
        drop(s);
        let _ = std::fs::remove_file(&p);
    }
}
