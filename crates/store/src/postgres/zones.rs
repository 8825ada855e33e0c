//! [`ZoneStore`] over PostgreSQL (issues 8 and 13): the same zones, assignments, expiry and
//! errors as the SQLite implementation in `crate::zones` (a conformance test compares them).
//! Concurrency between API nodes: deleting a zone locks its row (`FOR UPDATE`), so an
//! assignment to it either commits first (and the delete is refused) or waits and then fails
//! its foreign key, reported as the same "no zone" error as an unknown zone.

use ::postgres::Row;
use ::postgres::error::SqlState;

use super::{PgInner, PgStore, off_runtime};
use crate::zones::{
    Assignment, DeviceZone, Isolation, Zone, ZoneStore, normalize_mac, valid_zone_name,
};
use crate::{Result, StoreError};

/// Tables and built-in zones, as SQLite's v4 (`crate::zones::MIGRATION`); names sort in byte
/// order (`COLLATE "C"`) as under SQLite.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE zones (
    name text COLLATE "C" PRIMARY KEY,
    description text NOT NULL,
    isolation text NOT NULL,
    builtin boolean NOT NULL DEFAULT false,
    updated_by text NOT NULL,
    updated_at bigint NOT NULL
);
INSERT INTO zones VALUES
    ('quarantine', 'Suspect or compromised devices: only DNS, DHCP and the hub are reachable', 'quarantine', true, 'system', 0),
    ('iot', 'IoT devices: each limited to its MUD profile (default deny)', 'policy', true, 'system', 0),
    ('trusted', 'Managed hosts: unrestricted', 'open', true, 'system', 0);
CREATE TABLE device_zones (
    mac text COLLATE "C" PRIMARY KEY,
    zone text COLLATE "C" NOT NULL REFERENCES zones(name),
    profile text,
    mud_url text,
    reason text NOT NULL,
    expires_at bigint,
    set_by text NOT NULL,
    set_at bigint NOT NULL
);
CREATE INDEX device_zones_zone ON device_zones(zone);
"#;

const ZONE_SELECT: &str = "SELECT z.name, z.description, z.isolation, z.builtin, z.updated_by, z.updated_at, \
    (SELECT COUNT(*) FROM device_zones d WHERE d.zone = z.name AND (d.expires_at IS NULL OR d.expires_at > $1)) \
    FROM zones z";

const ASSIGN_SELECT: &str = "SELECT d.mac, d.zone, z.isolation, d.profile, d.mud_url, d.reason, d.expires_at, \
    d.set_by, d.set_at FROM device_zones d JOIN zones z ON z.name = d.zone";

fn zone_row(r: &Row) -> Result<Zone> {
    let name: String = r.try_get(0)?;
    let iso: String = r.try_get(2)?;
    Ok(Zone {
        isolation: Isolation::parse(&iso)
            .ok_or_else(|| StoreError::Invalid(format!("zone {name}: isolation {iso:?}")))?,
        name,
        description: r.try_get(1)?,
        builtin: r.try_get(3)?,
        updated_by: r.try_get(4)?,
        updated_at: r.try_get(5)?,
        devices: r.try_get::<_, i64>(6)?.max(0) as u64,
    })
}

fn assign_row(r: &Row) -> Result<DeviceZone> {
    let iso: String = r.try_get(2)?;
    Ok(DeviceZone {
        mac: r.try_get(0)?,
        zone: r.try_get(1)?,
        isolation: Isolation::parse(&iso).unwrap_or(Isolation::Policy),
        profile: r.try_get(3)?,
        mud_url: r.try_get(4)?,
        reason: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        assigned: true,
        set_by: r.try_get(7)?,
        set_at: r.try_get(8)?,
    })
}

fn no_zone(zone: &str) -> StoreError {
    StoreError::Invalid(format!("no zone named {zone:?}"))
}

impl PgInner {
    fn list_zones(&self, now: i64) -> Result<Vec<Zone>> {
        let rows = self.pool.get()?.query(
            &format!("{ZONE_SELECT} ORDER BY z.builtin DESC, z.name"),
            &[&now],
        )?;
        rows.iter().map(zone_row).collect()
    }

    fn put_zone(
        &self,
        name: &str,
        description: &str,
        isolation: Isolation,
        by: &str,
        now: i64,
    ) -> Result<Zone> {
        if !valid_zone_name(name) {
            return Err(StoreError::Invalid(format!(
                "zone name {name:?}: 1-32 of a-z, 0-9, '-', '_', starting with a letter"
            )));
        }
        if description.len() > 1024 {
            return Err(StoreError::Invalid(
                "description longer than 1024 bytes".into(),
            ));
        }
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let existing = tx.query_opt(
            "SELECT isolation, builtin FROM zones WHERE name = $1 FOR UPDATE",
            &[&name],
        )?;
        if let Some(row) = existing {
            let (iso, builtin): (String, bool) = (row.try_get(0)?, row.try_get(1)?);
            if builtin && iso != isolation.as_str() {
                return Err(StoreError::Conflict(format!(
                    "built-in zone {name} keeps isolation {iso}"
                )));
            }
        }
        tx.execute(
            "INSERT INTO zones (name, description, isolation, builtin, updated_by, updated_at) \
             VALUES ($1, $2, $3, false, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET description = $2, isolation = $3, updated_by = $4, updated_at = $5",
            &[&name, &description, &isolation.as_str(), &by, &now],
        )?;
        let row = tx.query_one(&format!("{ZONE_SELECT} WHERE z.name = $2"), &[&now, &name])?;
        let z = zone_row(&row)?;
        tx.commit()?;
        Ok(z)
    }

    fn delete_zone(&self, name: &str) -> Result<()> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let builtin: Option<bool> = tx
            .query_opt(
                "SELECT builtin FROM zones WHERE name = $1 FOR UPDATE",
                &[&name],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        match builtin {
            None => return Err(StoreError::NotFound),
            Some(true) => {
                return Err(StoreError::Conflict(format!("{name} is a built-in zone")));
            }
            Some(false) => {}
        }
        let n: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM device_zones WHERE zone = $1",
                &[&name],
            )?
            .try_get(0)?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "zone {name} still has {n} device assignments"
            )));
        }
        tx.execute("DELETE FROM zones WHERE name = $1", &[&name])?;
        tx.commit()?;
        Ok(())
    }

    fn device_zone(&self, mac: &str, now: i64) -> Result<DeviceZone> {
        let mac = normalize_mac(mac).ok_or(StoreError::NotFound)?;
        let row = self.pool.get()?.query_opt(
            &format!(
                "{ASSIGN_SELECT} WHERE d.mac = $1 AND (d.expires_at IS NULL OR d.expires_at > $2)"
            ),
            &[&mac, &now],
        )?;
        match row {
            Some(r) => assign_row(&r),
            None => Ok(DeviceZone::unassigned(mac)),
        }
    }

    fn set_device_zone(
        &self,
        mac: &str,
        a: &Assignment<'_>,
        by: &str,
        now: i64,
    ) -> Result<DeviceZone> {
        let mac = a.validate(mac, now)?;
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        if tx
            .query_opt("SELECT 1 FROM zones WHERE name = $1", &[&a.zone])?
            .is_none()
        {
            return Err(no_zone(a.zone));
        }
        let written = tx.execute(
            "INSERT INTO device_zones (mac, zone, profile, mud_url, reason, expires_at, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (mac) DO UPDATE SET zone = $2, profile = $3, mud_url = $4, reason = $5, \
                 expires_at = $6, set_by = $7, set_at = $8",
            &[
                &mac,
                &a.zone,
                &a.profile,
                &a.mud_url,
                &a.reason,
                &a.expires_at,
                &by,
                &now,
            ],
        );
        match written {
            // Deleted by another node since the check above.
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                return Err(no_zone(a.zone));
            }
            r => {
                r?;
            }
        }
        let row = tx.query_one(&format!("{ASSIGN_SELECT} WHERE d.mac = $1"), &[&mac])?;
        let d = assign_row(&row)?;
        tx.commit()?;
        Ok(d)
    }

    fn list_assignments(&self, zone: Option<&str>, now: i64) -> Result<Vec<DeviceZone>> {
        let rows = self.pool.get()?.query(
            &format!(
                "{ASSIGN_SELECT} WHERE (d.expires_at IS NULL OR d.expires_at > $1) \
                 AND ($2::text IS NULL OR d.zone = $2) ORDER BY d.mac"
            ),
            &[&now, &zone],
        )?;
        rows.iter().map(assign_row).collect()
    }
}

/// Every call off the async runtime's threads (see [`off_runtime`]).
impl ZoneStore for PgStore {
    fn list_zones(&self, now: i64) -> Result<Vec<Zone>> {
        off_runtime(&self.inner.pool, || self.inner.list_zones(now))
    }
    fn put_zone(
        &self,
        name: &str,
        description: &str,
        isolation: Isolation,
        by: &str,
        now: i64,
    ) -> Result<Zone> {
        off_runtime(&self.inner.pool, || {
            self.inner.put_zone(name, description, isolation, by, now)
        })
    }
    fn delete_zone(&self, name: &str) -> Result<()> {
        off_runtime(&self.inner.pool, || self.inner.delete_zone(name))
    }
    fn device_zone(&self, mac: &str, now: i64) -> Result<DeviceZone> {
        off_runtime(&self.inner.pool, || self.inner.device_zone(mac, now))
    }
    fn set_device_zone(
        &self,
        mac: &str,
        a: &Assignment<'_>,
        by: &str,
        now: i64,
    ) -> Result<DeviceZone> {
        off_runtime(&self.inner.pool, || {
            self.inner.set_device_zone(mac, a, by, now)
        })
    }
    fn list_assignments(&self, zone: Option<&str>, now: i64) -> Result<Vec<DeviceZone>> {
        off_runtime(&self.inner.pool, || self.inner.list_assignments(zone, now))
    }
}
