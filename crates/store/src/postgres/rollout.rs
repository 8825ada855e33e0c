//! [`RolloutStore`] over PostgreSQL (issues 9 and 13): the same rollouts, waves, automatic
//! pause and errors as the SQLite implementation in `crate::rollout` (a conformance test
//! compares them). Several API nodes may write at once, so:
//! - a partial unique index allows one open (active or paused) rollout per target, whatever
//!   the interleaving of two creations (the loser gets the same `Conflict` as under SQLite);
//! - a state change and a device report lock the rollout row (`FOR UPDATE`) first: reports to
//!   one rollout are counted one after the other, so the automatic pause sees every earlier
//!   result and a concurrent resume or abort is never overwritten;
//! - audit entries are written in the same transaction as the change they record.

use ::postgres::error::SqlState;
use ::postgres::{GenericClient, Row};

use super::{PgInner, PgStore, off_runtime};
use crate::rollout::{
    DeviceUpdate, Rollout, RolloutState, RolloutStats, RolloutStore, UpdateReport, in_wave,
};
use crate::{Page, Result, StoreError, now};

/// Tables as SQLite's v3 (crates/store/src/sqlite.rs), plus the one-open-rollout-per-target
/// index; device ids sort in byte order (`COLLATE "C"`) as under SQLite.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE rollouts (
    id bigserial PRIMARY KEY,
    target text COLLATE "C" NOT NULL,
    percent integer NOT NULL,
    state text NOT NULL,
    max_failure_rate double precision NOT NULL,
    min_reports bigint NOT NULL,
    note text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE INDEX rollouts_target ON rollouts(target, id);
CREATE UNIQUE INDEX rollouts_one_open ON rollouts(target) WHERE state IN ('active', 'paused');
CREATE TABLE rollout_results (
    rollout_id bigint NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    device text COLLATE "C" NOT NULL,
    result text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (rollout_id, device)
);
CREATE TABLE device_updates (
    device text COLLATE "C" PRIMARY KEY,
    target text COLLATE "C" NOT NULL,
    result text NOT NULL,
    running_version text,
    security_counter bigint,
    candidate_version text,
    detail text NOT NULL,
    rollout_id bigint,
    reported_at bigint NOT NULL
);
"#;

const ROLLOUT_COLS: &str = "id, target, percent, state, max_failure_rate, min_reports, note, created_by, created_at, updated_at, \
     (SELECT COUNT(*) FROM rollout_results x WHERE x.rollout_id = r.id), \
     (SELECT COUNT(*) FROM rollout_results x WHERE x.rollout_id = r.id AND x.result IN ('updated','up-to-date'))";

const UPDATE_COLS: &str = "device, target, result, running_version, security_counter, candidate_version, detail, rollout_id, reported_at";

fn rollout_row(r: &Row) -> Result<Rollout> {
    let state: String = r.try_get(3)?;
    let reported = r.try_get::<_, i64>(10)?.max(0) as u64;
    let succeeded = r.try_get::<_, i64>(11)?.max(0) as u64;
    Ok(Rollout {
        id: r.try_get(0)?,
        target: r.try_get(1)?,
        percent: r.try_get::<_, i32>(2)?.clamp(0, 100) as u8,
        state: RolloutState::parse(&state).unwrap_or(RolloutState::Paused),
        max_failure_rate: r.try_get(4)?,
        min_reports: r.try_get::<_, i64>(5)?.clamp(0, u32::MAX.into()) as u32,
        note: r.try_get(6)?,
        created_by: r.try_get(7)?,
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
        stats: RolloutStats {
            reported,
            succeeded,
            failed: reported.saturating_sub(succeeded),
        },
    })
}

fn update_row(r: &Row) -> Result<DeviceUpdate> {
    Ok(DeviceUpdate {
        device: r.try_get(0)?,
        target: r.try_get(1)?,
        result: r.try_get(2)?,
        running_version: r.try_get(3)?,
        security_counter: r
            .try_get::<_, Option<i64>>(4)?
            .map(|v| v.clamp(0, u32::MAX.into()) as u32),
        candidate_version: r.try_get(5)?,
        detail: r.try_get(6)?,
        rollout_id: r.try_get(7)?,
        reported_at: r.try_get(8)?,
    })
}

fn get_rollout(c: &mut impl GenericClient, id: i64) -> Result<Option<Rollout>> {
    c.query_opt(
        &format!("SELECT {ROLLOUT_COLS} FROM rollouts r WHERE id = $1"),
        &[&id],
    )?
    .map(|r| rollout_row(&r))
    .transpose()
}

/// The newest rollout of `target`; with `lock`, its row stays locked until the transaction ends.
fn current(c: &mut impl GenericClient, target: &str, lock: bool) -> Result<Option<Rollout>> {
    if lock {
        let id: Option<i64> = c
            .query_opt(
                "SELECT id FROM rollouts WHERE target = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE",
                &[&target],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        return match id {
            Some(id) => get_rollout(c, id),
            None => Ok(None),
        };
    }
    c.query_opt(
        &format!(
            "SELECT {ROLLOUT_COLS} FROM rollouts r WHERE target = $1 ORDER BY id DESC LIMIT 1"
        ),
        &[&target],
    )?
    .map(|r| rollout_row(&r))
    .transpose()
}

fn audit(
    c: &mut impl GenericClient,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    c.execute(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&now(), &actor, &action, &target, &detail],
    )?;
    Ok(())
}

fn open_conflict(id: impl std::fmt::Display, target: &str) -> StoreError {
    StoreError::Conflict(format!(
        "rollout {id} of {target} is still open: complete or abort it first"
    ))
}

impl PgInner {
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
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let open: Option<i64> = tx
            .query_opt(
                "SELECT id FROM rollouts WHERE target = $1 AND state IN ('active','paused')",
                &[&target],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        if let Some(id) = open {
            return Err(open_conflict(id, target));
        }
        let t = now();
        let inserted = tx.query_one(
            "INSERT INTO rollouts (target, percent, state, max_failure_rate, min_reports, note, created_by, created_at, updated_at) \
             VALUES ($1, $2, 'active', $3, $4, '', $5, $6, $6) RETURNING id",
            &[
                &target,
                &i32::from(percent),
                &max_failure_rate,
                &i64::from(min_reports),
                &by,
                &t,
            ],
        );
        let id: i64 = match inserted {
            // Another node opened one since the check above: name it, as the check would.
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                drop(tx);
                let winner: Option<i64> = c
                    .query_opt(
                        "SELECT id FROM rollouts WHERE target = $1 AND state IN ('active','paused')",
                        &[&target],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                return Err(match winner {
                    Some(id) => open_conflict(id, target),
                    None => StoreError::Conflict(format!(
                        "another rollout of {target} was opened at the same time"
                    )),
                });
            }
            r => r?.try_get(0)?,
        };
        let r = get_rollout(&mut tx, id)?.ok_or(StoreError::NotFound)?;
        audit(
            &mut tx,
            by,
            "rollout.create",
            &r.id.to_string(),
            &format!("{target} at {percent}%"),
        )?;
        tx.commit()?;
        Ok(r)
    }

    fn list_rollouts(&self) -> Result<Vec<Rollout>> {
        let rows = self.pool.get()?.query(
            &format!("SELECT {ROLLOUT_COLS} FROM rollouts r ORDER BY id DESC LIMIT 1000"),
            &[],
        )?;
        rows.iter().map(rollout_row).collect()
    }

    fn rollout(&self, id: i64) -> Result<Option<(Rollout, Vec<DeviceUpdate>)>> {
        let mut c = self.pool.get()?;
        // One snapshot for the rollout and its devices.
        let mut tx = c
            .build_transaction()
            .read_only(true)
            .isolation_level(::postgres::IsolationLevel::RepeatableRead)
            .start()?;
        let Some(r) = get_rollout(&mut tx, id)? else {
            return Ok(None);
        };
        let rows = tx.query(
            &format!(
                "SELECT {UPDATE_COLS} FROM device_updates WHERE device IN \
                 (SELECT device FROM rollout_results WHERE rollout_id = $1) ORDER BY device LIMIT 10000"
            ),
            &[&id],
        )?;
        let devices = rows.iter().map(update_row).collect::<Result<_>>()?;
        tx.commit()?;
        Ok(Some((r, devices)))
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
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        if tx
            .query_opt("SELECT 1 FROM rollouts WHERE id = $1 FOR UPDATE", &[&id])?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        let cur = get_rollout(&mut tx, id)?.ok_or(StoreError::NotFound)?;
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
        if percent.is_some() && matches!(cur.state, RolloutState::Aborted | RolloutState::Completed)
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
            "UPDATE rollouts SET percent = $2, state = $3, note = $4, updated_at = $5 WHERE id = $1",
            &[
                &id,
                &i32::from(percent.unwrap_or(cur.percent)),
                &state.unwrap_or(cur.state).as_str(),
                &note,
                &now(),
            ],
        )?;
        let r = get_rollout(&mut tx, id)?.ok_or(StoreError::NotFound)?;
        audit(
            &mut tx,
            by,
            "rollout.update",
            &id.to_string(),
            &format!("{} at {}%", r.state.as_str(), r.percent),
        )?;
        tx.commit()?;
        Ok(r)
    }

    fn current_rollout(&self, target: &str) -> Result<Option<Rollout>> {
        current(&mut *self.pool.get()?, target, false)
    }

    fn record_update(&self, rep: &UpdateReport) -> Result<Option<Rollout>> {
        rep.validate()?;
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let t = now();
        let ro = current(&mut tx, &rep.target, true)?;
        let counted = ro.as_ref().filter(|r| {
            r.state == RolloutState::Active
                && rep.result != "waiting"
                && in_wave(r.id, &rep.device, r.percent)
        });
        tx.execute(
            "INSERT INTO device_updates (device, target, result, running_version, security_counter, candidate_version, detail, rollout_id, reported_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (device) DO UPDATE SET target = excluded.target, result = excluded.result, \
             running_version = excluded.running_version, security_counter = excluded.security_counter, \
             candidate_version = excluded.candidate_version, detail = excluded.detail, \
             rollout_id = COALESCE(excluded.rollout_id, device_updates.rollout_id), reported_at = excluded.reported_at",
            &[
                &rep.device,
                &rep.target,
                &rep.result,
                &rep.running_version,
                &rep.security_counter.map(i64::from),
                &rep.candidate_version,
                &rep.detail,
                &counted.map(|r| r.id),
                &t,
            ],
        )?;
        if let Some(r) = counted {
            tx.execute(
                "INSERT INTO rollout_results (rollout_id, device, result, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (rollout_id, device) DO UPDATE SET result = excluded.result, at = excluded.at",
                &[&r.id, &rep.device, &rep.result, &t],
            )?;
            let now_r = get_rollout(&mut tx, r.id)?.ok_or(StoreError::NotFound)?;
            let s = &now_r.stats;
            let rate = if s.reported == 0 {
                0.0
            } else {
                s.failed as f64 / s.reported as f64
            };
            let success = matches!(rep.result.as_str(), "updated" | "up-to-date");
            if !success
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
                    "UPDATE rollouts SET state = 'paused', note = $2, updated_at = $3 WHERE id = $1",
                    &[&r.id, &note, &t],
                )?;
                audit(&mut tx, "system", "rollout.pause", &r.id.to_string(), &note)?;
            }
        }
        let after = match &ro {
            Some(r) => get_rollout(&mut tx, r.id)?,
            None => None,
        };
        tx.commit()?;
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
        let filter = "($1::bigint = -1 OR device IN (SELECT device FROM rollout_results WHERE rollout_id = $1::bigint))";
        let rid = rollout.unwrap_or(-1);
        let offset_i = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut c = self.pool.get()?;
        let mut tx = c
            .build_transaction()
            .read_only(true)
            .isolation_level(::postgres::IsolationLevel::RepeatableRead)
            .start()?;
        let total: i64 = tx
            .query_one(
                &format!("SELECT COUNT(*) FROM device_updates WHERE {filter}"),
                &[&rid],
            )?
            .try_get(0)?;
        let rows = tx.query(
            &format!(
                "SELECT {UPDATE_COLS} FROM device_updates WHERE {filter} ORDER BY device LIMIT $2 OFFSET $3"
            ),
            &[&rid, &i64::from(limit), &offset_i],
        )?;
        let items = rows.iter().map(update_row).collect::<Result<_>>()?;
        tx.commit()?;
        Ok(Page {
            total: total.max(0) as u64,
            limit,
            offset,
            items,
            next: None,
        })
    }
}

/// Every call off the async runtime's threads (see [`off_runtime`]).
impl RolloutStore for PgStore {
    fn create_rollout(
        &self,
        target: &str,
        percent: u8,
        max_failure_rate: f64,
        min_reports: u32,
        by: &str,
    ) -> Result<Rollout> {
        off_runtime(&self.inner.pool, || {
            self.inner
                .create_rollout(target, percent, max_failure_rate, min_reports, by)
        })
    }
    fn list_rollouts(&self) -> Result<Vec<Rollout>> {
        off_runtime(&self.inner.pool, || self.inner.list_rollouts())
    }
    fn rollout(&self, id: i64) -> Result<Option<(Rollout, Vec<DeviceUpdate>)>> {
        off_runtime(&self.inner.pool, || self.inner.rollout(id))
    }
    fn update_rollout(
        &self,
        id: i64,
        percent: Option<u8>,
        state: Option<RolloutState>,
        by: &str,
    ) -> Result<Rollout> {
        off_runtime(&self.inner.pool, || {
            self.inner.update_rollout(id, percent, state, by)
        })
    }
    fn current_rollout(&self, target: &str) -> Result<Option<Rollout>> {
        off_runtime(&self.inner.pool, || self.inner.current_rollout(target))
    }
    fn record_update(&self, r: &UpdateReport) -> Result<Option<Rollout>> {
        off_runtime(&self.inner.pool, || self.inner.record_update(r))
    }
    fn device_updates(
        &self,
        rollout: Option<i64>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<DeviceUpdate>> {
        off_runtime(&self.inner.pool, || {
            self.inner.device_updates(rollout, limit, offset)
        })
    }
}
