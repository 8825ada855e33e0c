//! Network zones and per-device policies (issue 8). Three built-in zones always exist:
//! `quarantine` (only DNS, DHCP and the hub), `iot` (each device limited to its MUD profile,
//! default deny; the zone of every device without an assignment) and `trusted` (unrestricted).
//! Admins may add zones of these three kinds; analysts assign devices, optionally with a MUD
//! profile (validated by the caller) and an expiry (a quarantine that lifts itself).
//! Bounded: one assignment row per device.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::sqlite::{SqliteStore, lock};
use crate::{Result, StoreError};

/// What a zone enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Only DNS, DHCP and the hub are reachable.
    Quarantine,
    /// The device's MUD profile, default deny (no profile: nothing is enforced yet).
    Policy,
    /// No restriction.
    Open,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Quarantine => "quarantine",
            Isolation::Policy => "policy",
            Isolation::Open => "open",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Isolation::Quarantine, Isolation::Policy, Isolation::Open]
            .into_iter()
            .find(|i| i.as_str() == s)
    }
}

/// The zone of a device without an (unexpired) assignment.
pub const DEFAULT_ZONE: &str = "iot";

#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub name: String,
    pub description: String,
    pub isolation: Isolation,
    pub builtin: bool,
    /// Devices currently assigned (unexpired).
    pub devices: u64,
    pub updated_by: String,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceZone {
    pub mac: String,
    pub zone: String,
    pub isolation: Isolation,
    /// The per-device MUD profile (JSON text), if one was set.
    pub profile: Option<String>,
    pub mud_url: Option<String>,
    pub reason: String,
    /// Unix seconds after which the assignment lapses (back to the default zone).
    pub expires_at: Option<i64>,
    /// False for a device without an assignment (the default zone).
    pub assigned: bool,
    pub set_by: Option<String>,
    pub set_at: Option<i64>,
}

impl DeviceZone {
    /// A device without an (unexpired) assignment: the default zone.
    pub fn unassigned(mac: String) -> DeviceZone {
        DeviceZone {
            mac,
            zone: DEFAULT_ZONE.into(),
            isolation: Isolation::Policy,
            profile: None,
            mud_url: None,
            reason: "default zone".into(),
            expires_at: None,
            assigned: false,
            set_by: None,
            set_at: None,
        }
    }
}

/// A new assignment.
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub zone: &'a str,
    pub profile: Option<&'a str>,
    pub mud_url: Option<&'a str>,
    pub reason: &'a str,
    pub expires_at: Option<i64>,
}

impl Assignment<'_> {
    /// The backend-independent checks of an assignment; the normalised MAC when it passes.
    pub fn validate(&self, mac: &str, now: i64) -> Result<String> {
        let mac = normalize_mac(mac)
            .ok_or_else(|| StoreError::Invalid(format!("bad MAC address {mac:?}")))?;
        if self.reason.len() > 1024 {
            return Err(StoreError::Invalid("reason longer than 1024 bytes".into()));
        }
        if self.expires_at.is_some_and(|e| e <= now) {
            return Err(StoreError::Invalid("expiry is in the past".into()));
        }
        Ok(mac)
    }
}

/// Zones and assignments; all mutations are audited by the caller.
pub trait ZoneStore: Send + Sync {
    fn list_zones(&self, now: i64) -> Result<Vec<Zone>>;
    /// Creates or updates a zone; a built-in zone keeps its isolation.
    fn put_zone(
        &self,
        name: &str,
        description: &str,
        isolation: Isolation,
        by: &str,
        now: i64,
    ) -> Result<Zone>;
    /// Deletes a custom zone without devices (`Conflict` otherwise, `NotFound` if absent).
    fn delete_zone(&self, name: &str) -> Result<()>;
    /// The device's effective zone (the default zone when unassigned or expired).
    fn device_zone(&self, mac: &str, now: i64) -> Result<DeviceZone>;
    fn set_device_zone(
        &self,
        mac: &str,
        a: &Assignment<'_>,
        by: &str,
        now: i64,
    ) -> Result<DeviceZone>;
    /// Unexpired assignments, optionally of one zone, by MAC.
    fn list_assignments(&self, zone: Option<&str>, now: i64) -> Result<Vec<DeviceZone>>;
}

/// Zone names: lower-case, 1–32 characters.
pub fn valid_zone_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && n.len() <= 32
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '-' || x == '_')
}

/// `aa:bb:cc:dd:ee:ff` in lower case, or `None`.
pub fn normalize_mac(m: &str) -> Option<String> {
    let parts: Vec<&str> = m.split([':', '-']).collect();
    (parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit())))
    .then(|| parts.join(":").to_ascii_lowercase())
}

fn zone_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, bool, String, i64, u64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get::<_, i64>(3)? != 0,
        r.get(4)?,
        r.get(5)?,
        r.get::<_, i64>(6)?.max(0) as u64,
    ))
}

fn to_zone(t: (String, String, String, bool, String, i64, u64)) -> Result<Zone> {
    Ok(Zone {
        isolation: Isolation::parse(&t.2)
            .ok_or_else(|| StoreError::Invalid(format!("zone {}: isolation {:?}", t.0, t.2)))?,
        name: t.0,
        description: t.1,
        builtin: t.3,
        updated_by: t.4,
        updated_at: t.5,
        devices: t.6,
    })
}

const ZONE_SELECT: &str = "SELECT z.name, z.description, z.isolation, z.builtin, z.updated_by, z.updated_at,
    (SELECT COUNT(*) FROM device_zones d WHERE d.zone = z.name AND (d.expires_at IS NULL OR d.expires_at > ?1))
    FROM zones z";

const ASSIGN_SELECT: &str =
    "SELECT d.mac, d.zone, z.isolation, d.profile, d.mud_url, d.reason, d.expires_at,
    d.set_by, d.set_at FROM device_zones d JOIN zones z ON z.name = d.zone";

fn assign_row(r: &Row<'_>) -> rusqlite::Result<DeviceZone> {
    let iso: String = r.get(2)?;
    Ok(DeviceZone {
        mac: r.get(0)?,
        zone: r.get(1)?,
        isolation: Isolation::parse(&iso).unwrap_or(Isolation::Policy),
        profile: r.get(3)?,
        mud_url: r.get(4)?,
        reason: r.get(5)?,
        expires_at: r.get(6)?,
        assigned: true,
        set_by: r.get(7)?,
        set_at: r.get(8)?,
    })
}

impl ZoneStore for SqliteStore {
    fn list_zones(&self, now: i64) -> Result<Vec<Zone>> {
        let c = lock(&self.writer);
        let mut st = c.prepare(&format!("{ZONE_SELECT} ORDER BY z.builtin DESC, z.name"))?;
        let rows = st.query_map(params![now], zone_row)?;
        rows.map(|r| to_zone(r?)).collect()
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
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        let existing: Option<(String, bool)> = tx
            .query_row(
                "SELECT isolation, builtin FROM zones WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
            )
            .optional()?;
        if let Some((iso, true)) = &existing
            && iso != isolation.as_str()
        {
            return Err(StoreError::Conflict(format!(
                "built-in zone {name} keeps isolation {iso}"
            )));
        }
        tx.execute(
            "INSERT INTO zones (name, description, isolation, builtin, updated_by, updated_at)
             VALUES (?1, ?2, ?3, 0, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET description = ?2, isolation = ?3, updated_by = ?4, updated_at = ?5",
            params![name, description, isolation.as_str(), by, now],
        )?;
        let z = tx.query_row(
            &format!("{ZONE_SELECT} WHERE z.name = ?2"),
            params![now, name],
            zone_row,
        )?;
        tx.commit()?;
        to_zone(z)
    }

    fn delete_zone(&self, name: &str) -> Result<()> {
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        let builtin: Option<bool> = tx
            .query_row(
                "SELECT builtin FROM zones WHERE name = ?1",
                params![name],
                |r| Ok(r.get::<_, i64>(0)? != 0),
            )
            .optional()?;
        match builtin {
            None => return Err(StoreError::NotFound),
            Some(true) => {
                return Err(StoreError::Conflict(format!("{name} is a built-in zone")));
            }
            Some(false) => {}
        }
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM device_zones WHERE zone = ?1",
            params![name],
            |r| r.get(0),
        )?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "zone {name} still has {n} device assignments"
            )));
        }
        tx.execute("DELETE FROM zones WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(())
    }

    fn device_zone(&self, mac: &str, now: i64) -> Result<DeviceZone> {
        let mac = normalize_mac(mac).ok_or(StoreError::NotFound)?;
        let c = lock(&self.writer);
        let row = c
            .query_row(
                &format!(
                    "{ASSIGN_SELECT} WHERE d.mac = ?1 AND (d.expires_at IS NULL OR d.expires_at > ?2)"
                ),
                params![mac, now],
                assign_row,
            )
            .optional()?;
        Ok(row.unwrap_or_else(|| DeviceZone::unassigned(mac)))
    }

    fn set_device_zone(
        &self,
        mac: &str,
        a: &Assignment<'_>,
        by: &str,
        now: i64,
    ) -> Result<DeviceZone> {
        let mac = a.validate(mac, now)?;
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        let known: bool = tx
            .query_row(
                "SELECT 1 FROM zones WHERE name = ?1",
                params![a.zone],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !known {
            return Err(StoreError::Invalid(format!("no zone named {:?}", a.zone)));
        }
        tx.execute(
            "INSERT INTO device_zones (mac, zone, profile, mud_url, reason, expires_at, set_by, set_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(mac) DO UPDATE SET zone = ?2, profile = ?3, mud_url = ?4, reason = ?5,
                 expires_at = ?6, set_by = ?7, set_at = ?8",
            params![
                mac,
                a.zone,
                a.profile,
                a.mud_url,
                a.reason,
                a.expires_at,
                by,
                now
            ],
        )?;
        let row = tx.query_row(
            &format!("{ASSIGN_SELECT} WHERE d.mac = ?1"),
            params![mac],
            assign_row,
        )?;
        tx.commit()?;
        Ok(row)
    }

    fn list_assignments(&self, zone: Option<&str>, now: i64) -> Result<Vec<DeviceZone>> {
        let c = lock(&self.writer);
        let mut st = c.prepare(&format!(
            "{ASSIGN_SELECT} WHERE (d.expires_at IS NULL OR d.expires_at > ?1)
             AND (?2 IS NULL OR d.zone = ?2) ORDER BY d.mac"
        ))?;
        let rows = st.query_map(params![now, zone], assign_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// The migration that creates the tables and the built-in zones (appended to the list in
/// sqlite.rs).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE zones (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    isolation TEXT NOT NULL,
    builtin INTEGER NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO zones VALUES
    ('quarantine', 'Suspect or compromised devices: only DNS, DHCP and the hub are reachable', 'quarantine', 1, 'system', 0),
    ('iot', 'IoT devices: each limited to its MUD profile (default deny)', 'policy', 1, 'system', 0),
    ('trusted', 'Managed hosts: unrestricted', 'open', 1, 'system', 0);
CREATE TABLE device_zones (
    mac TEXT PRIMARY KEY,
    zone TEXT NOT NULL REFERENCES zones(name),
    profile TEXT,
    mud_url TEXT,
    reason TEXT NOT NULL,
    expires_at INTEGER,
    set_by TEXT NOT NULL,
    set_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX device_zones_zone ON device_zones(zone);
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn store() -> (SqliteStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "palisade-zones-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = SqliteStore::open(&dir.join("hub.db")).unwrap();
        s.migrate().unwrap();
        (s, dir)
    }

    #[test]
    fn builtin_zones_assignment_expiry_and_deletion() {
        let (s, dir) = store();
        let z = s.list_zones(100).unwrap();
        let names: Vec<&str> = z.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["iot", "quarantine", "trusted"]);
        // Unassigned: the default zone.
        let d = s.device_zone("AA:BB:CC:00:00:01", 100).unwrap();
        assert_eq!((d.zone.as_str(), d.assigned), (DEFAULT_ZONE, false));
        assert_eq!(d.mac, "aa:bb:cc:00:00:01");
        // Quarantine for 60 s.
        let a = Assignment {
            zone: "quarantine",
            profile: None,
            mud_url: None,
            reason: "botnet.mirai.scan",
            expires_at: Some(160),
        };
        let d = s
            .set_device_zone("aa-bb-cc-00-00-01", &a, "alice", 100)
            .unwrap();
        assert_eq!(
            (d.zone.as_str(), d.isolation, d.assigned),
            ("quarantine", Isolation::Quarantine, true)
        );
        assert_eq!(s.list_zones(100).unwrap()[1].devices, 1);
        assert_eq!(
            s.list_assignments(Some("quarantine"), 100).unwrap().len(),
            1
        );
        // Expired: back to the default zone, not listed.
        assert_eq!(s.device_zone("aa:bb:cc:00:00:01", 161).unwrap().zone, "iot");
        assert!(s.list_assignments(None, 161).unwrap().is_empty());
        // Built-ins keep their isolation and cannot be deleted.
        assert!(matches!(
            s.put_zone("quarantine", "x", Isolation::Open, "bob", 1),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(s.delete_zone("iot"), Err(StoreError::Conflict(_))));
        // A custom zone: created, used, not deletable while used, deletable after.
        let z = s
            .put_zone("cameras", "CCTV", Isolation::Policy, "bob", 5)
            .unwrap();
        assert!(!z.builtin);
        let a = Assignment {
            zone: "cameras",
            profile: Some("{}"),
            mud_url: Some("https://example.com/cam.json"),
            reason: "",
            expires_at: None,
        };
        s.set_device_zone("aa:bb:cc:00:00:02", &a, "bob", 6)
            .unwrap();
        assert!(matches!(
            s.delete_zone("cameras"),
            Err(StoreError::Conflict(_))
        ));
        let back = Assignment {
            zone: "trusted",
            ..a
        };
        s.set_device_zone("aa:bb:cc:00:00:02", &back, "bob", 7)
            .unwrap();
        s.delete_zone("cameras").unwrap();
        assert!(matches!(
            s.delete_zone("cameras"),
            Err(StoreError::NotFound)
        ));
        // Bad input: clear errors.
        for bad in ["", "Cameras", "1x", "a b"] {
            assert!(matches!(
                s.put_zone(bad, "", Isolation::Open, "bob", 1),
                Err(StoreError::Invalid(_))
            ));
        }
        let nowhere = Assignment {
            zone: "nowhere",
            profile: None,
            mud_url: None,
            reason: "",
            expires_at: None,
        };
        assert!(matches!(
            s.set_device_zone("aa:bb:cc:00:00:03", &nowhere, "bob", 1),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.set_device_zone("not-a-mac", &back, "bob", 1),
            Err(StoreError::Invalid(_))
        ));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
