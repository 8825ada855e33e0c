//! SQLite implementation of [`Store`]: one writer connection, a small pool of readers (WAL).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use std::borrow::Cow;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use serde::Deserialize;
use serde_json::Value;

use crate::crypto::{hex, sha256};
use crate::*;

/// Versioned migrations; index + 1 is the version. Never edit a shipped entry: append.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE devices (
    mac TEXT PRIMARY KEY,
    vendor TEXT,
    category TEXT NOT NULL DEFAULT 'unknown',
    model TEXT,
    os TEXT,
    hostname TEXT,
    ips TEXT NOT NULL DEFAULT '',
    risk INTEGER NOT NULL DEFAULT 0,
    confidence REAL NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL DEFAULT '',
    last_seen TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX devices_risk ON devices(risk DESC, mac);
CREATE INDEX devices_last_seen ON devices(last_seen DESC, mac);
CREATE INDEX devices_vendor ON devices(vendor, mac);
CREATE INDEX devices_category ON devices(category, mac);
CREATE TABLE device_history (
    id INTEGER PRIMARY KEY,
    mac TEXT NOT NULL,
    at TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT,
    new TEXT
);
CREATE INDEX device_history_mac ON device_history(mac, id);
CREATE TABLE alerts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    device TEXT,
    src TEXT,
    dst TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    count INTEGER NOT NULL,
    summary TEXT NOT NULL,
    mitre TEXT NOT NULL,
    evidence TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    state_user TEXT,
    state_comment TEXT,
    state_at INTEGER
);
CREATE INDEX alerts_device ON alerts(device);
CREATE INDEX alerts_state ON alerts(state, seq);
CREATE TABLE alert_transitions (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    user TEXT NOT NULL,
    comment TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX alert_transitions_alert ON alert_transitions(alert_id, id);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    sealed BLOB NOT NULL
);
"#,
    // v2: the large sensor report moves out of `devices` so that scans and index walks over
    // the list columns stay small; list indexes whose column order matches both sort
    // directions (the old DESC/ASC mix forced a sort; category-scoped ones cost ingest more
    // than the top-N sort of one category saves); a search column; alert suppression rules; hub-side alert age for retention; forced password change.
    r#"
CREATE TABLE device_reports (mac TEXT PRIMARY KEY, data TEXT NOT NULL);
INSERT INTO device_reports (mac, data) SELECT mac, data FROM devices;
ALTER TABLE devices DROP COLUMN data;
DROP INDEX devices_risk;
DROP INDEX devices_last_seen;
CREATE INDEX devices_risk_mac ON devices(risk, mac);
CREATE INDEX devices_last_seen_mac ON devices(last_seen, mac);
ALTER TABLE devices ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE devices SET search = lower(mac || ' ' || ips || ' ' || COALESCE(vendor, '') || ' ' ||
    COALESCE(hostname, '') || ' ' || COALESCE(model, ''));
ALTER TABLE alerts ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET updated_at = CAST(strftime('%s', 'now') AS INTEGER);
CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY,
    kind TEXT,
    device TEXT,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
"#,
    // v3 (issue 9): staged firmware rollouts, per-rollout device results, latest update status
    // per device (crates/store/src/rollout.rs).
    r#"
CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    percent INTEGER NOT NULL,
    state TEXT NOT NULL,
    max_failure_rate REAL NOT NULL,
    min_reports INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX rollouts_target ON rollouts(target, id);
CREATE TABLE rollout_results (
    rollout_id INTEGER NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    result TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, device)
) WITHOUT ROWID;
CREATE TABLE device_updates (
    device TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    running_version TEXT,
    security_counter INTEGER,
    candidate_version TEXT,
    detail TEXT NOT NULL,
    rollout_id INTEGER,
    reported_at INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    // v4 (issue 8): network zones and per-device zone assignments (crates/store/src/zones.rs).
    crate::zones::MIGRATION,
];

pub struct SqliteStore {
    path: PathBuf,
    pub(crate) writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn configure(c: &Connection) -> Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-262144; PRAGMA wal_autocheckpoint=8192;",
    )?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating) the database at `path` and applies migrations.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        // Switching a fresh database to WAL can answer SQLITE_BUSY without consulting the busy
        // timeout while another process (a second hub worker) opens it at the same moment, so
        // opening retries briefly on a busy database.
        let mut attempt = 0;
        loop {
            match Self::open_once(path) {
                Err(StoreError::Db(e))
                    if attempt < 50
                        && e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                r => return r,
            }
        }
    }

    fn open_once(path: &Path) -> Result<SqliteStore> {
        let c = Connection::open(path)?;
        configure(&c)?;
        let s = SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(c),
            readers: Mutex::new(Vec::new()),
        };
        s.migrate()?;
        Ok(s)
    }

    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                // Memory-mapped reads: list scans skip a read() and a copy per page.
                c.execute_batch("PRAGMA cache_size=-32000; PRAGMA mmap_size=1073741824;")?;
                c
            }
        };
        let r = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < 8 {
            pool.push(conn);
        }
        r
    }
}

fn col_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(' ').map(str::to_owned).collect()
    }
}

const DEVICE_COLS: &str = "mac, vendor, category, model, os, hostname, ips, risk, confidence, first_seen, last_seen, \
     (SELECT COUNT(*) FROM alerts a WHERE a.device = d.mac AND a.state IN ('new','acknowledged'))";

fn device_row(r: &Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok(DeviceRow {
        mac: r.get(0)?,
        vendor: r.get(1)?,
        category: r.get(2)?,
        model: r.get(3)?,
        os: r.get(4)?,
        hostname: r.get(5)?,
        ips: col_list(&r.get::<_, String>(6)?),
        risk: r.get(7)?,
        confidence: r.get(8)?,
        first_seen: r.get(9)?,
        last_seen: r.get(10)?,
        open_alerts: r.get::<_, i64>(11)? as u64,
    })
}

const ALERT_COLS: &str = "id, kind, severity, device, src, dst, first_seen, last_seen, count, summary, mitre, \
     evidence, state, state_user, state_comment, state_at";

fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    let mitre: String = r.get(10)?;
    let evidence: String = r.get(11)?;
    let state: String = r.get(12)?;
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        severity: r.get(2)?,
        device: r.get(3)?,
        src: r.get(4)?,
        dst: r.get(5)?,
        first_seen: r.get(6)?,
        last_seen: r.get(7)?,
        count: r.get::<_, i64>(8)? as u64,
        summary: r.get(9)?,
        mitre: serde_json::from_str(&mitre).unwrap_or_default(),
        evidence: serde_json::from_str(&evidence).unwrap_or(Value::Null),
        state: TriageState::parse(&state).unwrap_or(TriageState::New),
        state_user: r.get(13)?,
        state_comment: r.get(14)?,
        state_at: r.get(15)?,
    })
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        password_hash: r.get(3)?,
        created_at: r.get(4)?,
        must_change_password: r.get::<_, i64>(5)? != 0,
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    let role: String = r.get(2)?;
    Ok(TokenInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        created_by: r.get(3)?,
        created_at: r.get(4)?,
        revoked: r.get::<_, i64>(5)? != 0,
    })
}

/// The `type` of an NDJSON event (the first of two parses: the rest depends on it).
#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_id: Option<Cow<'a, str>>,
}

/// The device fields the hub indexes; the whole line is kept as the device's report.
#[derive(Deserialize)]
struct DeviceLine<'a> {
    #[serde(borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    mac: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ips: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    vendor: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    os: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hostnames: Option<Vec<Cow<'a, str>>>,
    confidence: Option<f64>,
    risk: Option<RiskField>,
    #[serde(borrow)]
    first_seen: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_seen: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RiskField {
    score: Option<i64>,
}

#[derive(Deserialize)]
struct AlertLine<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    device: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dst: Option<Cow<'a, str>>,
    #[serde(borrow)]
    first_seen: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_seen: Option<Cow<'a, str>>,
    count: Option<i64>,
    #[serde(borrow)]
    summary: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mitre: Option<Vec<Cow<'a, str>>>,
    evidence: Option<Value>,
}

/// (ips, hostname, os, vendor) of a stored device, for the timeline.
type OldDevice = (String, Option<String>, Option<String>, Option<String>);

enum LineError {
    /// The line is not a valid event (reported, ingest goes on).
    Bad(String),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for LineError {
    fn from(e: rusqlite::Error) -> Self {
        LineError::Db(e)
    }
}

fn active_suppressions(c: &Connection, t: i64) -> rusqlite::Result<Vec<Suppression>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SUPPRESSION_COLS} FROM suppressions WHERE expires_at IS NULL OR expires_at > ?1 \
         ORDER BY id LIMIT {MAX_SUPPRESSIONS}"
    ))?;
    st.query_map([t], suppression_row)?.collect()
}

/// An alert as written by ingest.
struct NewAlert<'a> {
    id: &'a str,
    kind: &'a str,
    severity: &'a str,
    device: Option<&'a str>,
    src: Option<&'a str>,
    dst: Option<&'a str>,
    first_seen: &'a str,
    last_seen: &'a str,
    count: i64,
    summary: &'a str,
    mitre: String,
    evidence: String,
}

/// The prepared statements of one ingest transaction.
struct Writer<'c> {
    t: i64,
    rules: &'c [Suppression],
    ins_event: rusqlite::CachedStatement<'c>,
    old_dev: rusqlite::CachedStatement<'c>,
    hist: rusqlite::CachedStatement<'c>,
    up_dev: rusqlite::CachedStatement<'c>,
    up_report: rusqlite::CachedStatement<'c>,
    up_alert: rusqlite::CachedStatement<'c>,
}

impl<'c> Writer<'c> {
    fn prepare(c: &'c Connection, t: i64, rules: &'c [Suppression]) -> rusqlite::Result<Self> {
        Ok(Writer {
            t,
            rules,
            ins_event: c.prepare_cached(
                "INSERT OR IGNORE INTO events (id, kind, subject, received_at) VALUES (?1, ?2, ?3, ?4)",
            )?,
            old_dev: c
                .prepare_cached("SELECT ips, hostname, os, vendor FROM devices WHERE mac = ?1")?,
            hist: c.prepare_cached(
                "INSERT INTO device_history (mac, at, field, old, new) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            up_dev: c.prepare_cached(
                "INSERT INTO devices (mac, vendor, category, model, os, hostname, ips, risk, confidence, \
                 first_seen, last_seen, updated_at, search) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) \
                 ON CONFLICT(mac) DO UPDATE SET vendor=excluded.vendor, category=excluded.category, \
                 model=excluded.model, os=excluded.os, hostname=excluded.hostname, ips=excluded.ips, \
                 risk=excluded.risk, confidence=excluded.confidence, \
                 first_seen=MIN(devices.first_seen, excluded.first_seen), \
                 last_seen=MAX(devices.last_seen, excluded.last_seen), \
                 updated_at=excluded.updated_at, search=excluded.search",
            )?,
            up_report: c.prepare_cached(
                "INSERT INTO device_reports (mac, data) VALUES (?1, ?2) \
                 ON CONFLICT(mac) DO UPDATE SET data = excluded.data",
            )?,
            up_alert: c.prepare_cached(
                "INSERT INTO alerts (id, kind, severity, device, src, dst, first_seen, last_seen, count, \
                 summary, mitre, evidence, state, state_user, state_comment, state_at, updated_at) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17) \
                 ON CONFLICT(id) DO UPDATE SET severity=excluded.severity, \
                 first_seen=MIN(alerts.first_seen, excluded.first_seen), \
                 last_seen=MAX(alerts.last_seen, excluded.last_seen), \
                 count=MAX(alerts.count, excluded.count), summary=excluded.summary, \
                 mitre=excluded.mitre, evidence=excluded.evidence, updated_at=excluded.updated_at",
            )?,
        })
    }

    /// Writes one line: `Some(true)` stored, `Some(false)` counted but not stored (flow,
    /// stats), `None` already stored (duplicate event id).
    fn line(&mut self, line: &str) -> std::result::Result<Option<bool>, LineError> {
        if line.len() > MAX_LINE {
            return Err(LineError::Bad("line too long".into()));
        }
        let device_line = |line| {
            serde_json::from_str::<DeviceLine<'_>>(line)
                .map_err(|e| LineError::Bad(format!("device event: {e}")))
        };
        // Fast path: sensor output names the type first, so a device line is parsed once.
        let mut device = None;
        let (kind, explicit_id) = if line.starts_with(r#"{"type":"device","#) {
            let d = device_line(line)?;
            let id = d.event_id.clone();
            device = Some(d);
            (Cow::Borrowed("device"), id)
        } else {
            let head: EventType<'_> =
                serde_json::from_str(line).map_err(|e| LineError::Bad(format!("not JSON: {e}")))?;
            (head.ty.unwrap_or(Cow::Borrowed("")), head.event_id)
        };
        let kind = kind.as_ref();
        // The event id: explicit, else the content hash of the line (same line, same id).
        let event_id = match explicit_id.as_deref() {
            Some(id) if !id.is_empty() && id.len() <= 128 => id.to_owned(),
            _ => hex(&sha256(line.as_bytes())[..16]),
        };
        match kind {
            "device" => {
                let d = match device {
                    Some(d) => d,
                    None => device_line(line)?,
                };
                let mac = d.mac.as_deref().filter(|m| !m.is_empty() && m.len() <= 64);
                let Some(mac) = mac else {
                    return Err(LineError::Bad("device event without mac".into()));
                };
                if !self.event(&event_id, kind, Some(mac))? {
                    return Ok(None);
                }
                self.device(mac, &d, line)?;
            }
            "alert" => {
                let a: AlertLine<'_> = serde_json::from_str(line)
                    .map_err(|e| LineError::Bad(format!("alert event: {e}")))?;
                let id = a.id.as_deref().filter(|m| !m.is_empty() && m.len() <= 256);
                let Some(id) = id else {
                    return Err(LineError::Bad("alert event without id".into()));
                };
                if !self.event(&event_id, kind, Some(id))? {
                    return Ok(None);
                }
                let mitre: Vec<&str> = a.mitre.iter().flatten().map(|m| m.as_ref()).collect();
                self.alert(&NewAlert {
                    id,
                    kind: a.kind.as_deref().unwrap_or("unknown"),
                    severity: a.severity.as_deref().unwrap_or("info"),
                    device: a.device.as_deref(),
                    src: a.src.as_deref(),
                    dst: a.dst.as_deref(),
                    first_seen: a.first_seen.as_deref().unwrap_or(""),
                    last_seen: a.last_seen.as_deref().unwrap_or(""),
                    count: a.count.unwrap_or(1),
                    summary: a.summary.as_deref().unwrap_or(""),
                    mitre: serde_json::to_string(&mitre).unwrap_or_else(|_| "[]".into()),
                    evidence: a
                        .evidence
                        .as_ref()
                        .map(Value::to_string)
                        .unwrap_or_else(|| "null".into()),
                })?;
            }
            "flow" | "stats" => {
                return Ok(self.event(&event_id, kind, None)?.then_some(false));
            }
            _ => return Err(LineError::Bad(format!("unknown event type {kind:?}"))),
        }
        Ok(Some(true))
    }

    /// Records the event id; false when it was already stored.
    fn event(&mut self, id: &str, kind: &str, subject: Option<&str>) -> rusqlite::Result<bool> {
        Ok(self.ins_event.execute(params![id, kind, subject, self.t])? > 0)
    }

    fn device(&mut self, mac: &str, d: &DeviceLine<'_>, line: &str) -> rusqlite::Result<()> {
        let ips = d
            .ips
            .iter()
            .flatten()
            .map(|s| s.as_ref())
            .collect::<Vec<&str>>()
            .join(" ");
        let hostname = d.hostnames.iter().flatten().next().map(|h| h.as_ref());
        let os = d.os.as_deref();
        let vendor = d.vendor.as_deref();
        let category = d.category.as_deref().unwrap_or("unknown");
        let last_seen = d.last_seen.as_deref().unwrap_or("");
        let first_seen = d.first_seen.as_deref().unwrap_or(last_seen);
        let old: Option<OldDevice> = self
            .old_dev
            .query_row([mac], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        match &old {
            None => {
                self.hist.execute(params![
                    mac,
                    first_seen,
                    "first_seen",
                    None::<&str>,
                    Some(mac)
                ])?;
                // First sight of this device: `device.new` (DESIGN.md §6, hub only).
                let summary = format!(
                    "new device {mac} ({} {category}){}",
                    vendor.unwrap_or("unknown vendor"),
                    if ips.is_empty() {
                        String::new()
                    } else {
                        format!(" at {ips}")
                    }
                );
                let evidence = serde_json::json!({
                    "ips": ips, "vendor": vendor, "category": category, "hostname": hostname,
                });
                self.alert(&NewAlert {
                    id: &format!("device.new-{}", mac.replace(':', "")),
                    kind: "device.new",
                    severity: "info",
                    device: Some(mac),
                    src: d.ips.iter().flatten().next().map(|s| s.as_ref()),
                    dst: None,
                    first_seen,
                    last_seen: first_seen,
                    count: 1,
                    summary: &summary,
                    mitre: "[]".into(),
                    evidence: evidence.to_string(),
                })?;
            }
            Some((o_ips, o_host, o_os, o_vendor)) => {
                let changes = [
                    ("ips", Some(o_ips.as_str()), Some(ips.as_str())),
                    ("hostname", o_host.as_deref(), hostname),
                    ("os", o_os.as_deref(), os),
                    ("vendor", o_vendor.as_deref(), vendor),
                ];
                for (field, o, n) in changes {
                    if o != n {
                        self.hist.execute(params![mac, last_seen, field, o, n])?;
                    }
                }
            }
        }
        let model = d.model.as_deref();
        let search = format!(
            "{mac} {ips} {} {} {}",
            vendor.unwrap_or(""),
            hostname.unwrap_or(""),
            model.unwrap_or("")
        )
        .to_lowercase();
        self.up_dev.execute(params![
            mac,
            vendor,
            category,
            model,
            os,
            hostname,
            ips,
            d.risk.as_ref().and_then(|r| r.score).unwrap_or(0),
            d.confidence.unwrap_or(0.0),
            d.first_seen.as_deref().unwrap_or(""),
            last_seen,
            self.t,
            search
        ])?;
        self.up_report.execute(params![mac, line])?;
        Ok(())
    }

    fn alert(&mut self, a: &NewAlert<'_>) -> rusqlite::Result<()> {
        // A new alert matching a suppression rule is stored already triaged as expected.
        let rule = self.rules.iter().find(|r| r.matches(a.kind, a.device));
        let (state, user, comment, at) = match rule {
            Some(r) => (
                TriageState::Expected.as_str(),
                Some(format!("suppression:{}", r.id)),
                Some(r.reason.as_str()),
                Some(self.t),
            ),
            None => (TriageState::New.as_str(), None, None, None),
        };
        self.up_alert.execute(params![
            a.id,
            a.kind,
            a.severity,
            a.device,
            a.src,
            a.dst,
            a.first_seen,
            a.last_seen,
            a.count,
            a.summary,
            a.mitre,
            a.evidence,
            state,
            user,
            comment,
            at,
            self.t
        ])?;
        Ok(())
    }
}

/// Most suppression rules applied at once (older rules past this are not applied).
const MAX_SUPPRESSIONS: usize = 10_000;

const SUPPRESSION_COLS: &str = "id, kind, device, reason, created_by, created_at, expires_at";

fn suppression_row(r: &Row<'_>) -> rusqlite::Result<Suppression> {
    Ok(Suppression {
        id: r.get(0)?,
        kind: r.get(1)?,
        device: r.get(2)?,
        reason: r.get(3)?,
        created_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

/// A device-list cursor: the sort value and MAC of the last row, as hex of a JSON pair.
fn encode_cursor(sort: DeviceSort, d: &DeviceRow) -> String {
    let v = match sort {
        DeviceSort::Risk => Value::from(d.risk),
        DeviceSort::LastSeen => Value::from(d.last_seen.as_str()),
        DeviceSort::Mac => Value::from(d.mac.as_str()),
        DeviceSort::Vendor => d.vendor.as_deref().map(Value::from).unwrap_or(Value::Null),
        DeviceSort::Category => Value::from(d.category.as_str()),
    };
    hex(serde_json::json!([v, d.mac]).to_string().as_bytes())
}

fn decode_cursor(c: &str) -> Result<(rusqlite::types::Value, String)> {
    let bad = || StoreError::Invalid("after: not a cursor from this list".into());
    if c.len() > 1024 || !c.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..c.len())
        .step_by(2)
        .map(|i| c.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let (v, mac): (Value, String) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let v = match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Number(n) => rusqlite::types::Value::Integer(n.as_i64().ok_or_else(bad)?),
        Value::String(s) => rusqlite::types::Value::Text(s),
        _ => return Err(bad()),
    };
    Ok((v, mac))
}

/// The WHERE condition selecting rows after `(v, mac)` in `(col, mac)` order. NULLs (only
/// `vendor` has them) come first ascending and last descending, as SQLite orders them.
fn keyset_condition(
    col: &str,
    asc: bool,
    v: rusqlite::types::Value,
    mac: String,
) -> (String, Vec<rusqlite::types::Value>) {
    let op = if asc { ">" } else { "<" };
    if col != "vendor" {
        return (format!("({col}, mac) {op} (?, ?)"), vec![v, mac.into()]);
    }
    let is_null = matches!(v, rusqlite::types::Value::Null);
    match (is_null, asc) {
        (false, true) => (format!("({col}, mac) > (?, ?)"), vec![v, mac.into()]),
        (false, false) => (
            format!("(({col}, mac) < (?, ?) OR {col} IS NULL)"),
            vec![v, mac.into()],
        ),
        (true, true) => (
            format!("(({col} IS NULL AND mac {op} ?) OR {col} IS NOT NULL)"),
            vec![mac.into()],
        ),
        (true, false) => (format!("({col} IS NULL AND mac {op} ?)"), vec![mac.into()]),
    }
}

/// Longest accepted NDJSON line (a device with much evidence is a few KiB).
const MAX_LINE: usize = 1 << 20;

impl Store for SqliteStore {
    fn rollouts(&self) -> Option<&dyn crate::rollout::RolloutStore> {
        Some(self)
    }

    fn zones(&self) -> Option<&dyn crate::zones::ZoneStore> {
        Some(self)
    }

    fn migrate(&self) -> Result<u32> {
        let mut c = lock(&self.writer);
        // One IMMEDIATE transaction: a second process opening the same database at the same
        // moment (two hub workers) waits on the busy timeout and then sees the applied
        // versions, instead of failing on a read-to-write upgrade or applying them twice.
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )?;
        let current: u32 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let v = i as u32 + 1;
            if v <= current {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![v, now()],
            )?;
        }
        tx.commit()?;
        Ok(MIGRATIONS.len() as u32)
    }

    fn ingest_ndjson(&self, body: &str) -> Result<IngestOutcome> {
        let mut out = IngestOutcome::default();
        let t = now();
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        let rules = active_suppressions(&tx, t)?;
        {
            let mut w = Writer::prepare(&tx, t, &rules)?;
            for (i, line) in body.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                match w.line(line) {
                    Ok(Some(true)) => out.accepted += 1,
                    Ok(Some(false)) => out.ignored += 1,
                    Ok(None) => out.duplicates += 1,
                    Err(LineError::Bad(why)) => out.rejected.push((i + 1, why)),
                    Err(LineError::Db(e)) => return Err(e.into()),
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn list_devices(&self, q: &DeviceQuery) -> Result<Page<DeviceRow>> {
        let mut wh: Vec<String> = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        // `search` is the lower-cased MAC, IPs, vendor, hostname and model of the device.
        let needle =
            q.q.as_deref()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty());
        if let Some(n) = &needle {
            wh.push("instr(search, ?) > 0".into());
            args.push(n.clone().into());
        }
        if let Some(cat) = &q.category {
            wh.push("category = ?".into());
            args.push(cat.clone().into());
        }
        if let Some(r) = q.min_risk {
            wh.push("risk >= ?".into());
            args.push(i64::from(r).into());
        }
        let (col, default_asc) = match q.sort {
            DeviceSort::Risk => ("risk", false),
            DeviceSort::LastSeen => ("last_seen", false),
            DeviceSort::Mac => ("mac", true),
            DeviceSort::Vendor => ("vendor", true),
            DeviceSort::Category => ("category", true),
        };
        let asc = q.asc.unwrap_or(default_asc);
        let dir = if asc { "ASC" } else { "DESC" };
        let limit = q.limit.clamp(1, 1000);
        let filter_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        let filter_args = args.clone();
        if let Some(cur) = &q.after {
            let (v, mac) = decode_cursor(cur)?;
            let (cond, cargs) = keyset_condition(col, asc, v, mac);
            wh.push(cond);
            args.extend(cargs);
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        // NULL vendors sort first ascending, last descending (SQLite's order, either index direction).
        let count = || format!("SELECT COUNT(*) FROM devices {filter_sql}");
        self.with_reader(|c| {
            let (items, total) = if needle.is_some() && q.after.is_none() {
                // The text search has no index: one scan yields the page and (as a window
                // count over the same rows) the total.
                let sql = format!(
                    "SELECT {DEVICE_COLS}, total FROM (SELECT *, COUNT(*) OVER () AS total FROM devices \
                     {where_sql} ORDER BY {col} {dir}, mac {dir} LIMIT {limit} OFFSET {}) d \
                     ORDER BY {col} {dir}, mac {dir}",
                    q.offset
                );
                let mut st = c.prepare_cached(&sql)?;
                let rows = st
                    .query_map(params_from_iter(args.iter()), |r| {
                        Ok((device_row(r)?, r.get::<_, i64>(12)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let total = match rows.first() {
                    Some((_, t)) => *t,
                    None if q.offset == 0 => 0,
                    None => c.query_row(&count(), params_from_iter(filter_args.iter()), |r| {
                        r.get(0)
                    })?,
                };
                (rows.into_iter().map(|(d, _)| d).collect::<Vec<_>>(), total)
            } else {
                let total: i64 =
                    c.query_row(&count(), params_from_iter(filter_args.iter()), |r| r.get(0))?;
                let sql = format!(
                    "SELECT {DEVICE_COLS} FROM devices d {where_sql} ORDER BY {col} {dir}, mac {dir} LIMIT {limit} OFFSET {}",
                    q.offset
                );
                let mut st = c.prepare_cached(&sql)?;
                let items = st
                    .query_map(params_from_iter(args.iter()), device_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                (items, total)
            };
            let next = if items.len() == limit as usize {
                items.last().map(|d| encode_cursor(q.sort, d))
            } else {
                None
            };
            Ok(Page {
                total: total as u64,
                limit,
                offset: q.offset,
                items,
                next,
            })
        })
    }

    fn device(&self, mac: &str) -> Result<Option<DeviceDetail>> {
        self.with_reader(|c| {
            let row = c
                .query_row(
                    &format!(
                        "SELECT {DEVICE_COLS}, COALESCE((SELECT data FROM device_reports r WHERE r.mac = d.mac), 'null') \
                         FROM devices d WHERE mac = ?1"
                    ),
                    [mac],
                    |r| Ok((device_row(r)?, r.get::<_, String>(12)?)),
                )
                .optional()?;
            let Some((row, data)) = row else {
                return Ok(None);
            };
            let mut st = c.prepare_cached(&format!(
                "SELECT {ALERT_COLS} FROM alerts WHERE device = ?1 ORDER BY seq DESC LIMIT 500"
            ))?;
            let alerts = st
                .query_map([mac], alert_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut st = c.prepare_cached(
                "SELECT at, field, old, new FROM device_history WHERE mac = ?1 ORDER BY id LIMIT 500",
            )?;
            let timeline = st
                .query_map([mac], |r| {
                    Ok(HistoryEntry {
                        at: r.get(0)?,
                        field: r.get(1)?,
                        old: r.get(2)?,
                        new: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut report: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            if let Some(o) = report.as_object_mut() {
                o.remove("type");
                o.remove("event_id");
            }
            Ok(Some(DeviceDetail {
                row,
                report,
                alerts,
                timeline,
            }))
        })
    }

    fn list_alerts(&self, q: &AlertQuery) -> Result<Page<AlertRow>> {
        let mut wh = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = q.state {
            wh.push("state = ?");
            args.push(s.as_str().to_owned().into());
        }
        for (col, v) in [
            ("severity", &q.severity),
            ("kind", &q.kind),
            ("device", &q.device),
        ] {
            if let Some(v) = v {
                wh.push(match col {
                    "severity" => "severity = ?",
                    "kind" => "kind = ?",
                    _ => "device = ?",
                });
                args.push(v.clone().into());
            }
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        let limit = q.limit.clamp(1, 1000);
        self.with_reader(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM alerts {where_sql}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT {ALERT_COLS} FROM alerts {where_sql} ORDER BY seq DESC LIMIT {limit} OFFSET {}",
                q.offset
            );
            let mut st = c.prepare_cached(&sql)?;
            let items = st
                .query_map(params_from_iter(args.iter()), alert_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                total: total as u64,
                limit,
                offset: q.offset,
                items,
                next: None,
            })
        })
    }

    fn alert(&self, id: &str) -> Result<Option<(AlertRow, Vec<Transition>)>> {
        self.with_reader(|c| {
            let Some(a) = c
                .query_row(
                    &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"),
                    [id],
                    alert_row,
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut st = c.prepare_cached(
                "SELECT from_state, to_state, user, comment, at FROM alert_transitions WHERE alert_id = ?1 ORDER BY id",
            )?;
            let tr = st
                .query_map([id], |r| {
                    let f: String = r.get(0)?;
                    let t: String = r.get(1)?;
                    Ok(Transition {
                        from: TriageState::parse(&f).unwrap_or(TriageState::New),
                        to: TriageState::parse(&t).unwrap_or(TriageState::New),
                        user: r.get(2)?,
                        comment: r.get(3)?,
                        at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((a, tr)))
        })
    }

    fn triage(&self, id: &str, to: TriageState, comment: &str, user: &str) -> Result<AlertRow> {
        let t = now();
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        let cur: Option<String> = tx
            .query_row("SELECT state FROM alerts WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        let cur = cur.ok_or(StoreError::NotFound)?;
        let from = TriageState::parse(&cur).unwrap_or(TriageState::New);
        if !from.can_go_to(to) {
            return Err(StoreError::Conflict(format!(
                "cannot move an alert from {} to {}",
                from.as_str(),
                to.as_str()
            )));
        }
        tx.execute(
            "UPDATE alerts SET state = ?2, state_user = ?3, state_comment = ?4, state_at = ?5 WHERE id = ?1",
            params![id, to.as_str(), user, comment, t],
        )?;
        tx.execute(
            "INSERT INTO alert_transitions (alert_id, from_state, to_state, user, comment, at) VALUES (?1,?2,?3,?4,?5,?6)",
            params![id, from.as_str(), to.as_str(), user, comment, t],
        )?;
        tx.execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, 'alert.triage', ?3, ?4)",
            params![
                t,
                user,
                id,
                format!("{} -> {}: {comment}", from.as_str(), to.as_str())
            ],
        )?;
        let row = tx.query_row(
            &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"),
            [id],
            alert_row,
        )?;
        tx.commit()?;
        Ok(row)
    }

    fn alerts_since(&self, after_seq: i64) -> Result<(Vec<AlertRow>, i64)> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ALERT_COLS}, seq FROM alerts WHERE seq > ?1 ORDER BY seq LIMIT 200"
            ))?;
            let mut last = after_seq;
            let rows = st
                .query_map([after_seq], |r| Ok((alert_row(r)?, r.get::<_, i64>(16)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let items = rows
                .into_iter()
                .map(|(a, s)| {
                    last = last.max(s);
                    a
                })
                .collect();
            if after_seq < 0 {
                let m: i64 =
                    c.query_row("SELECT COALESCE(MAX(seq), 0) FROM alerts", [], |r| r.get(0))?;
                return Ok((Vec::new(), m));
            }
            Ok((items, last))
        })
    }

    fn stats(&self) -> Result<Stats> {
        self.with_reader(|c| {
            let count = |sql: &str| -> Result<u64> {
                Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
            };
            let groups = |sql: &str| -> Result<Vec<(String, u64)>> {
                let mut st = c.prepare_cached(sql)?;
                let v = st
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                            r.get::<_, i64>(1)? as u64,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(v)
            };
            let mut st = c.prepare_cached(&format!(
                "SELECT {DEVICE_COLS} FROM devices d ORDER BY risk DESC, mac DESC LIMIT 10"
            ))?;
            let top_risky = st
                .query_map([], device_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Stats {
                devices: count("SELECT COUNT(*) FROM devices")?,
                alerts: count("SELECT COUNT(*) FROM alerts")?,
                events: count("SELECT COUNT(*) FROM events")?,
                devices_by_category: groups(
                    "SELECT category, COUNT(*) FROM devices GROUP BY category ORDER BY 2 DESC",
                )?,
                alerts_by_severity: groups(
                    "SELECT severity, COUNT(*) FROM alerts GROUP BY severity ORDER BY 2 DESC",
                )?,
                alerts_by_state: groups(
                    "SELECT state, COUNT(*) FROM alerts GROUP BY state ORDER BY 2 DESC",
                )?,
                alert_timeline: groups(
                    "SELECT substr(first_seen, 1, 13), COUNT(*) FROM alerts GROUP BY 1 ORDER BY 1 LIMIT 168",
                )?,
                top_risky,
            })
        })
    }

    fn event_count(&self) -> Result<u64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn has_event(&self, id: &str) -> Result<bool> {
        self.with_reader(|c| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM events WHERE id = ?1", [id], |r| {
                    r.get::<_, i64>(0)
                })? > 0,
            )
        })
    }

    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        let t = now();
        let c = lock(&self.writer);
        c.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), password_hash, t],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(format!("user {name} exists"))
            }
            e => e.into(),
        })?;
        Ok(User {
            id: c.last_insert_rowid(),
            name: name.to_owned(),
            role,
            password_hash: password_hash.to_owned(),
            created_at: t,
            must_change_password: false,
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, name, role, password_hash, created_at, must_change_password FROM users WHERE name = ?1",
                [name],
                user_row,
            )
            .optional()?)
        })
    }

    fn list_users(&self) -> Result<Vec<User>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, role, password_hash, created_at, must_change_password FROM users ORDER BY id",
            )?;
            Ok(st
                .query_map([], user_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn user_count(&self) -> Result<u64> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn set_password(&self, user_id: i64, password_hash: &str, must_change: bool) -> Result<()> {
        let c = lock(&self.writer);
        let n = c.execute(
            "UPDATE users SET password_hash = ?2, must_change_password = ?3 WHERE id = ?1",
            params![user_id, password_hash, must_change],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // A new password ends the user's other sessions.
        c.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        Ok(())
    }

    fn create_token(&self, name: &str, role: Role, hash: &[u8; 32], by: &str) -> Result<TokenInfo> {
        let t = now();
        let c = lock(&self.writer);
        c.execute(
            "INSERT INTO tokens (name, role, hash, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, role.as_str(), &hash[..], by, t],
        )?;
        Ok(TokenInfo {
            id: c.last_insert_rowid(),
            name: name.to_owned(),
            role,
            created_by: by.to_owned(),
            created_at: t,
            revoked: false,
        })
    }

    fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenInfo>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, name, role, created_by, created_at, revoked FROM tokens WHERE hash = ?1 AND revoked = 0",
                [&hash[..]],
                token_row,
            )
            .optional()?)
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, role, created_by, created_at, revoked FROM tokens ORDER BY id",
            )?;
            Ok(st
                .query_map([], token_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn revoke_token(&self, id: i64) -> Result<()> {
        let c = lock(&self.writer);
        if c.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn create_session(
        &self,
        hash: &[u8; 32],
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<()> {
        let c = lock(&self.writer);
        c.execute("DELETE FROM sessions WHERE expires_at < ?1", [now()])?;
        c.execute(
            "INSERT INTO sessions (hash, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![&hash[..], user_id, csrf, expires_at],
        )?;
        Ok(())
    }

    fn session(&self, hash: &[u8; 32], now: i64) -> Result<Option<Session>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT u.id, u.name, u.role, u.password_hash, u.created_at, u.must_change_password, s.csrf, s.expires_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?1 AND s.expires_at > ?2",
                params![&hash[..], now],
                |r| {
                    Ok(Session {
                        user: user_row(r)?,
                        csrf: r.get(6)?,
                        expires_at: r.get(7)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn delete_session(&self, hash: &[u8; 32]) -> Result<()> {
        lock(&self.writer).execute("DELETE FROM sessions WHERE hash = ?1", [&hash[..]])?;
        Ok(())
    }

    fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<()> {
        lock(&self.writer).execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now(), actor, action, target, detail],
        )?;
        Ok(())
    }

    fn create_suppression(
        &self,
        kind: Option<&str>,
        device: Option<&str>,
        reason: &str,
        by: &str,
        expires_at: Option<i64>,
    ) -> Result<Suppression> {
        Suppression::check_scope(kind, device)?;
        let t = now();
        let c = lock(&self.writer);
        let active: i64 = c.query_row(
            "SELECT COUNT(*) FROM suppressions WHERE expires_at IS NULL OR expires_at > ?1",
            [t],
            |r| r.get(0),
        )?;
        if active as usize >= MAX_SUPPRESSIONS {
            return Err(StoreError::Conflict(format!(
                "at most {MAX_SUPPRESSIONS} active suppression rules"
            )));
        }
        c.execute(
            "INSERT INTO suppressions (kind, device, reason, created_by, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind, device, reason, by, t, expires_at],
        )?;
        Ok(Suppression {
            id: c.last_insert_rowid(),
            kind: kind.map(str::to_owned),
            device: device.map(str::to_owned),
            reason: reason.to_owned(),
            created_by: by.to_owned(),
            created_at: t,
            expires_at,
        })
    }

    fn list_suppressions(&self, include_expired: bool) -> Result<Vec<Suppression>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SUPPRESSION_COLS} FROM suppressions \
                 WHERE ?1 OR expires_at IS NULL OR expires_at > ?2 ORDER BY id DESC LIMIT 10000"
            ))?;
            Ok(st
                .query_map(params![include_expired, now()], suppression_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn delete_suppression(&self, id: i64) -> Result<()> {
        let c = lock(&self.writer);
        if c.execute("DELETE FROM suppressions WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn apply_retention(
        &self,
        events_before: Option<i64>,
        alerts_before: Option<i64>,
    ) -> Result<RetentionOutcome> {
        let mut out = RetentionOutcome::default();
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        if let Some(t) = events_before {
            out.events = tx.execute("DELETE FROM events WHERE received_at < ?1", [t])? as u64;
        }
        if let Some(t) = alerts_before {
            tx.execute(
                "DELETE FROM alert_transitions WHERE alert_id IN (SELECT id FROM alerts WHERE updated_at < ?1)",
                [t],
            )?;
            out.alerts = tx.execute("DELETE FROM alerts WHERE updated_at < ?1", [t])? as u64;
            out.expired_suppressions = tx.execute(
                "DELETE FROM suppressions WHERE expires_at IS NOT NULL AND expires_at < ?1",
                [t],
            )? as u64;
        }
        if out.events + out.alerts + out.expired_suppressions > 0 {
            tx.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, 'system', 'retention', 'store', ?2)",
                params![
                    now(),
                    format!(
                        "deleted {} event ids, {} alerts, {} expired suppression rules",
                        out.events, out.alerts, out.expired_suppressions
                    )
                ],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    fn list_audit(&self, limit: u32, offset: u64) -> Result<Page<AuditEntry>> {
        let limit = limit.clamp(1, 1000);
        self.with_reader(|c| {
            let total: i64 = c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
            let mut st = c.prepare_cached(
                "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1 OFFSET ?2",
            )?;
            let items = st
                .query_map(params![limit, offset as i64], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        detail: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                total: total as u64,
                limit,
                offset,
                items,
                next: None,
            })
        })
    }

    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()> {
        lock(&self.writer).execute(
            "INSERT INTO secrets (name, sealed) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed",
            params![name, sealed],
        )?;
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.with_reader(|c| {
            Ok(
                c.query_row("SELECT sealed FROM secrets WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    fn secret_names(&self) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT name FROM secrets ORDER BY name")?;
            Ok(st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("palisade-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const NDJSON: &str = r#"{"type":"device","mac":"aa:bb:cc:00:00:01","ips":["10.0.0.5"],"vendor":"Acme","hostnames":["cam"],"category":"camera","model":null,"os":null,"confidence":0.9,"evidence":[{"source":"dhcp","detail":"x","weight":1.0}],"risk":{"score":80,"reasons":["telnet open"]},"first_seen":"2024-01-01T00:00:00.000000Z","last_seen":"2024-01-01T01:00:00.000000Z"}
{"type":"device","mac":"aa:bb:cc:00:00:02","ips":["10.0.0.6"],"vendor":"Other","hostnames":[],"category":"printer","confidence":0.5,"evidence":[],"risk":{"score":10,"reasons":[]},"first_seen":"2024-01-01T00:00:00.000000Z","last_seen":"2024-01-01T00:30:00.000000Z"}
{"type":"alert","id":"A1","kind":"mirai.scan","severity":"high","device":"aa:bb:cc:00:00:01","src":"10.0.0.5","dst":null,"first_seen":"2024-01-01T00:10:00.000000Z","last_seen":"2024-01-01T00:20:00.000000Z","count":3,"summary":"scan","evidence":{},"mitre":["T1046"]}
{"type":"flow","src":"10.0.0.5"}
{"type":"stats","summary":{}}
not json
{"type":"bogus"}
"#;

    #[test]
    fn migrate_ingest_idempotent_query_triage() {
        let d = tmp("main");
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        assert_eq!(s.migrate().unwrap() as usize, MIGRATIONS.len());
        let o = s.ingest_ndjson(NDJSON).unwrap();
        assert_eq!((o.accepted, o.duplicates, o.ignored), (3, 0, 2));
        assert_eq!(o.rejected.len(), 2);
        let o = s.ingest_ndjson(NDJSON).unwrap();
        assert_eq!((o.accepted, o.duplicates), (0, 5));
        assert_eq!(s.event_count().unwrap(), 5);

        let p = s
            .list_devices(&DeviceQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.total, 2);
        assert_eq!(p.items[0].mac, "aa:bb:cc:00:00:01");
        assert_eq!(p.items[0].open_alerts, 2);
        let p = s
            .list_devices(&DeviceQuery {
                category: Some("printer".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.total, 1);
        let p = s
            .list_devices(&DeviceQuery {
                q: Some("10.0.0.6".into()),
                sort: DeviceSort::Mac,
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.len(), 1);

        let det = s.device("aa:bb:cc:00:00:01").unwrap().unwrap();
        // A1 and the device's first-sight alert.
        assert_eq!(det.alerts.len(), 2);
        assert!(
            det.alerts
                .iter()
                .any(|a| a.kind == "device.new" && a.id == "device.new-aabbcc000001")
        );
        assert_eq!(det.report["risk"]["score"], 80);

        // An IP change becomes a timeline entry.
        let changed = NDJSON
            .lines()
            .next()
            .unwrap()
            .replace("10.0.0.5", "10.0.0.9");
        s.ingest_ndjson(&changed).unwrap();
        let det = s.device("aa:bb:cc:00:00:01").unwrap().unwrap();
        assert!(det.timeline.iter().any(|h| h.field == "ips"
            && h.new.as_deref() == Some("10.0.0.9")
            && h.old.as_deref() == Some("10.0.0.5")));

        assert!(matches!(
            s.triage("A1", TriageState::Resolved, "", "bob"),
            Err(StoreError::Conflict(_))
        ));
        let a = s
            .triage("A1", TriageState::Acknowledged, "looking", "bob")
            .unwrap();
        assert_eq!(a.state, TriageState::Acknowledged);
        s.triage("A1", TriageState::FalsePositive, "lab box", "bob")
            .unwrap();
        let (a, tr) = s.alert("A1").unwrap().unwrap();
        assert_eq!(a.state_user.as_deref(), Some("bob"));
        assert_eq!(tr.len(), 2);
        assert_eq!(s.list_audit(10, 0).unwrap().total, 2);
        // Re-ingest keeps the triage state.
        let upd = NDJSON
            .lines()
            .nth(2)
            .unwrap()
            .replace("\"count\":3", "\"count\":9");
        s.ingest_ndjson(&upd).unwrap();
        let (a, _) = s.alert("A1").unwrap().unwrap();
        assert_eq!((a.state, a.count), (TriageState::FalsePositive, 9));
        assert_eq!(
            s.list_alerts(&AlertQuery {
                state: Some(TriageState::New),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .total,
            2,
            "only the two device.new alerts are still new"
        );
        let st = s.stats().unwrap();
        assert_eq!((st.devices, st.alerts), (2, 3));
        drop(s);
        // Reopen: migrations are not re-applied, data is there.
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        assert_eq!(s.stats().unwrap().devices, 2);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn upgrade_from_v1_keeps_devices_and_reports() {
        let d = tmp("v1");
        let path = d.join("hub.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
                 INSERT INTO schema_migrations VALUES (1, 0);
                 INSERT INTO devices (mac, vendor, category, hostname, ips, risk, data, updated_at)
                 VALUES ('aa:00:00:00:00:01', 'Acme', 'camera', 'Porch-Cam', '10.1.2.3', 55, '{\"mac\":\"aa:00:00:00:00:01\",\"packets\":7}', 1);
                 INSERT INTO alerts (id, kind, severity, first_seen, last_seen, count, summary, mitre, evidence)
                 VALUES ('X', 'scan.horizontal', 'medium', '', '', 1, '', '[]', 'null');",
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        let det = s.device("aa:00:00:00:00:01").unwrap().unwrap();
        assert_eq!(det.report["packets"], 7);
        assert_eq!(det.row.risk, 55);
        // The search column was filled from the old columns (case-insensitive).
        let p = s
            .list_devices(&DeviceQuery {
                q: Some("porch".into()),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.total, 1);
        // Upgraded alerts count as reported now, so retention does not delete them at once.
        let r = s.apply_retention(None, Some(now() - 3600)).unwrap();
        assert_eq!(r.alerts, 0);
        assert!(s.alert("X").unwrap().is_some());
        let _ = std::fs::remove_dir_all(&d);
    }

    fn many_devices(s: &SqliteStore, n: usize) {
        let mut body = String::new();
        for i in 0..n {
            // Every fifth device has no vendor (NULL), risks and times repeat (ties on the sort key).
            let vendor = if i % 5 == 0 {
                "null".to_owned()
            } else {
                format!("\"V{}\"", i % 7)
            };
            body.push_str(&format!(
                r#"{{"type":"device","mac":"02:00:00:00:{:02x}:{:02x}","ips":["10.0.0.{}"],"vendor":{vendor},"hostnames":["h{i}"],"category":"{}","risk":{{"score":{}}},"first_seen":"2024-01-01T00:00:00Z","last_seen":"2024-01-01T0{}:00:00Z"}}"#,
                i / 256,
                i % 256,
                i % 250,
                ["camera", "tv", "plug"][i % 3],
                (i * 13) % 11,
                i % 4
            ));
            body.push('\n');
        }
        let o = s.ingest_ndjson(&body).unwrap();
        assert_eq!(o.accepted as usize, n, "{:?}", o.rejected);
    }

    #[test]
    fn keyset_pages_equal_offset_pages_for_every_sort() {
        let d = tmp("keyset");
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        many_devices(&s, 257);
        let sorts = [
            DeviceSort::Risk,
            DeviceSort::LastSeen,
            DeviceSort::Mac,
            DeviceSort::Vendor,
            DeviceSort::Category,
        ];
        for sort in sorts {
            for asc in [None, Some(true), Some(false)] {
                for category in [None, Some("tv".to_owned())] {
                    let base = DeviceQuery {
                        sort,
                        asc,
                        category: category.clone(),
                        limit: 1000,
                        ..Default::default()
                    };
                    let all: Vec<String> = s
                        .list_devices(&base)
                        .unwrap()
                        .items
                        .into_iter()
                        .map(|d| d.mac)
                        .collect();
                    let mut walked = Vec::new();
                    let mut after = None;
                    loop {
                        let p = s
                            .list_devices(&DeviceQuery {
                                limit: 20,
                                after: after.clone(),
                                ..base.clone()
                            })
                            .unwrap();
                        assert_eq!(p.total as usize, all.len());
                        walked.extend(p.items.into_iter().map(|d| d.mac));
                        match p.next {
                            Some(n) => after = Some(n),
                            None => break,
                        }
                    }
                    assert_eq!(walked, all, "{sort:?} asc={asc:?} category={category:?}");
                }
            }
        }
        assert!(matches!(
            s.list_devices(&DeviceQuery {
                after: Some("zz".into()),
                limit: 5,
                ..Default::default()
            }),
            Err(StoreError::Invalid(_))
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn suppression_rules_apply_at_ingest_until_they_expire() {
        let d = tmp("supp");
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        assert!(matches!(
            s.create_suppression(None, None, "x", "bob", None),
            Err(StoreError::Invalid(_))
        ));
        let r = s
            .create_suppression(
                Some("scan.horizontal"),
                None,
                "scanner lab",
                "bob",
                Some(now() + 3600),
            )
            .unwrap();
        s.create_suppression(
            None,
            Some("02:00:00:00:00:09"),
            "old",
            "bob",
            Some(now() - 10),
        )
        .unwrap();
        assert_eq!(s.list_suppressions(false).unwrap().len(), 1);
        assert_eq!(s.list_suppressions(true).unwrap().len(), 2);
        let line = |id: &str, kind: &str| {
            format!(
                r#"{{"type":"alert","id":"{id}","kind":"{kind}","severity":"medium","device":"02:00:00:00:00:09","first_seen":"","last_seen":"","count":1,"summary":"s","mitre":[],"evidence":{{}}}}"#
            )
        };
        s.ingest_ndjson(&format!(
            "{}\n{}\n",
            line("a1", "scan.horizontal"),
            line("a2", "scan.vertical")
        ))
        .unwrap();
        let (a1, _) = s.alert("a1").unwrap().unwrap();
        assert_eq!(a1.state, TriageState::Expected);
        assert_eq!(a1.state_user, Some(format!("suppression:{}", r.id)));
        assert_eq!(a1.state_comment.as_deref(), Some("scanner lab"));
        // The device rule has expired: a2 is new.
        assert_eq!(s.alert("a2").unwrap().unwrap().0.state, TriageState::New);
        s.delete_suppression(r.id).unwrap();
        assert!(matches!(
            s.delete_suppression(r.id),
            Err(StoreError::NotFound)
        ));
        s.ingest_ndjson(&line("a3", "scan.horizontal")).unwrap();
        assert_eq!(s.alert("a3").unwrap().unwrap().0.state, TriageState::New);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn retention_deletes_old_event_ids_and_alerts() {
        let d = tmp("retention");
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        s.ingest_ndjson(NDJSON).unwrap();
        assert_eq!(s.event_count().unwrap(), 5);
        s.triage("A1", TriageState::Acknowledged, "", "bob")
            .unwrap();
        // Nothing is older than an hour ago.
        let r = s
            .apply_retention(Some(now() - 3600), Some(now() - 3600))
            .unwrap();
        assert_eq!((r.events, r.alerts), (0, 0));
        // Everything is older than a minute from now.
        let r = s
            .apply_retention(Some(now() + 60), Some(now() + 60))
            .unwrap();
        assert_eq!((r.events, r.alerts), (5, 3));
        assert_eq!(s.event_count().unwrap(), 0);
        assert!(s.alert("A1").unwrap().is_none());
        assert!(s.list_audit(10, 0).unwrap().items[0].action == "retention");
        // Devices stay; re-sent events are stored again.
        assert_eq!(s.stats().unwrap().devices, 2);
        assert_eq!(s.ingest_ndjson(NDJSON).unwrap().accepted, 3);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn users_tokens_sessions_secrets() {
        let d = tmp("auth");
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        let u = s.create_user("admin", Role::Admin, "$argon2id$x").unwrap();
        assert!(matches!(
            s.create_user("admin", Role::Viewer, "y"),
            Err(StoreError::Conflict(_))
        ));
        let h = sha256(b"tok");
        let t = s.create_token("ci", Role::Analyst, &h, "admin").unwrap();
        assert_eq!(s.token_by_hash(&h).unwrap().unwrap().role, Role::Analyst);
        s.revoke_token(t.id).unwrap();
        assert!(s.token_by_hash(&h).unwrap().is_none());
        let sh = sha256(b"sess");
        s.create_session(&sh, u.id, "csrf", now() + 60).unwrap();
        assert_eq!(s.session(&sh, now()).unwrap().unwrap().user.name, "admin");
        assert!(s.session(&sh, now() + 120).unwrap().is_none());
        s.delete_session(&sh).unwrap();
        assert!(s.session(&sh, now()).unwrap().is_none());
        s.create_session(&sh, u.id, "csrf", now() + 60).unwrap();
        s.set_password(u.id, "$argon2id$new", true).unwrap();
        let u2 = s.user_by_name("admin").unwrap().unwrap();
        assert!(u2.must_change_password && u2.password_hash == "$argon2id$new");
        assert!(s.session(&sh, now()).unwrap().is_none(), "sessions end");
        assert!(matches!(
            s.set_password(999, "x", false),
            Err(StoreError::NotFound)
        ));

        let k1 = crate::crypto::Kek::from_bytes(&[1; 32]).unwrap();
        let k2 = crate::crypto::Kek::from_bytes(&[2; 32]).unwrap();
        s.put_secret("tls.key", &k1.seal(b"tls.key", b"PRIVATE").unwrap())
            .unwrap();
        assert_eq!(crate::rotate_secrets(&s, &k1, &k2).unwrap(), 1);
        let sealed = s.secret("tls.key").unwrap().unwrap();
        assert_eq!(k2.open(b"tls.key", &sealed).unwrap(), b"PRIVATE");
        assert!(k1.open(b"tls.key", &sealed).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
