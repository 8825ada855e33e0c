//! SQLite implementation of [`Store`]: one writer connection, a small pool of readers (WAL).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use crate::crypto::{hex, sha256};
use crate::*;

/// Versioned migrations; index + 1 is the version. Never edit a shipped entry: append.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn configure(c: &Connection) -> Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32000;",
    )?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating) the database at `path` and applies migrations.
    pub fn open(path: &Path) -> Result<SqliteStore> {
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

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
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
                c.execute_batch("PRAGMA cache_size=-32000;")?;
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

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn str_list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// (ips, hostname, os, vendor) of a stored device, for the timeline.
type OldDevice = (String, Option<String>, Option<String>, Option<String>);

/// Longest accepted NDJSON line (a device with much evidence is a few KiB).
const MAX_LINE: usize = 1 << 20;

impl Store for SqliteStore {
    fn migrate(&self) -> Result<u32> {
        let mut c = lock(&self.writer);
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )?;
        let current: u32 = c.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let v = i as u32 + 1;
            if v <= current {
                continue;
            }
            let tx = c.transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![v, now()],
            )?;
            tx.commit()?;
        }
        Ok(MIGRATIONS.len() as u32)
    }

    fn ingest_ndjson(&self, body: &str) -> Result<IngestOutcome> {
        let mut out = IngestOutcome::default();
        let t = now();
        let mut c = lock(&self.writer);
        let tx = c.transaction()?;
        {
            let mut ins_event = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (id, kind, subject, received_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut old_dev =
                tx.prepare_cached("SELECT ips, hostname, os, vendor FROM devices WHERE mac = ?1")?;
            let mut hist = tx.prepare_cached(
                "INSERT INTO device_history (mac, at, field, old, new) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut up_dev = tx.prepare_cached(
                "INSERT INTO devices (mac, vendor, category, model, os, hostname, ips, risk, confidence, \
                 first_seen, last_seen, data, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) \
                 ON CONFLICT(mac) DO UPDATE SET vendor=excluded.vendor, category=excluded.category, \
                 model=excluded.model, os=excluded.os, hostname=excluded.hostname, ips=excluded.ips, \
                 risk=excluded.risk, confidence=excluded.confidence, \
                 first_seen=MIN(devices.first_seen, excluded.first_seen), \
                 last_seen=MAX(devices.last_seen, excluded.last_seen), data=excluded.data, \
                 updated_at=excluded.updated_at",
            )?;
            let mut up_alert = tx.prepare_cached(
                "INSERT INTO alerts (id, kind, severity, device, src, dst, first_seen, last_seen, count, \
                 summary, mitre, evidence) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) \
                 ON CONFLICT(id) DO UPDATE SET severity=excluded.severity, \
                 first_seen=MIN(alerts.first_seen, excluded.first_seen), \
                 last_seen=MAX(alerts.last_seen, excluded.last_seen), \
                 count=MAX(alerts.count, excluded.count), summary=excluded.summary, \
                 mitre=excluded.mitre, evidence=excluded.evidence",
            )?;
            for (i, line) in body.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if line.len() > MAX_LINE {
                    out.rejected.push((i + 1, "line too long".into()));
                    continue;
                }
                let v: Value = match serde_json::from_str(line) {
                    Ok(v) => v,
                    Err(e) => {
                        out.rejected.push((i + 1, format!("not JSON: {e}")));
                        continue;
                    }
                };
                let kind = str_field(&v, "type").unwrap_or("");
                let subject = match kind {
                    "device" => str_field(&v, "mac"),
                    "alert" => str_field(&v, "id"),
                    "flow" | "stats" => None,
                    _ => {
                        out.rejected
                            .push((i + 1, format!("unknown event type {kind:?}")));
                        continue;
                    }
                };
                if matches!(kind, "device" | "alert") && subject.is_none_or(str::is_empty) {
                    let key = if kind == "device" { "mac" } else { "id" };
                    out.rejected
                        .push((i + 1, format!("{kind} event without {key}")));
                    continue;
                }
                // The event id: explicit, else the content hash of the line (same line, same id).
                let event_id = match str_field(&v, "event_id") {
                    Some(id) if !id.is_empty() && id.len() <= 128 => id.to_owned(),
                    _ => hex(&sha256(line.as_bytes())[..16]),
                };
                if ins_event.execute(params![event_id, kind, subject, t])? == 0 {
                    out.duplicates += 1;
                    continue;
                }
                match kind {
                    "device" => {
                        let mac = subject.unwrap_or_default();
                        let ips = str_list(&v, "ips").join(" ");
                        let hostname = str_list(&v, "hostnames").into_iter().next();
                        let os = str_field(&v, "os").map(str::to_owned);
                        let vendor = str_field(&v, "vendor").map(str::to_owned);
                        let last_seen = str_field(&v, "last_seen").unwrap_or("");
                        let old: Option<OldDevice> = old_dev
                            .query_row([mac], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                            .optional()?;
                        match &old {
                            None => {
                                hist.execute(params![
                                    mac,
                                    str_field(&v, "first_seen").unwrap_or(last_seen),
                                    "first_seen",
                                    None::<String>,
                                    Some(mac)
                                ])?;
                            }
                            Some((o_ips, o_host, o_os, o_vendor)) => {
                                let changes = [
                                    ("ips", Some(o_ips.clone()), Some(ips.clone())),
                                    ("hostname", o_host.clone(), hostname.clone()),
                                    ("os", o_os.clone(), os.clone()),
                                    ("vendor", o_vendor.clone(), vendor.clone()),
                                ];
                                for (field, o, n) in changes {
                                    if o != n {
                                        hist.execute(params![mac, last_seen, field, o, n])?;
                                    }
                                }
                            }
                        }
                        up_dev.execute(params![
                            mac,
                            vendor,
                            str_field(&v, "category").unwrap_or("unknown"),
                            str_field(&v, "model"),
                            os,
                            hostname,
                            ips,
                            v.pointer("/risk/score")
                                .and_then(Value::as_i64)
                                .unwrap_or(0),
                            v.get("confidence").and_then(Value::as_f64).unwrap_or(0.0),
                            str_field(&v, "first_seen").unwrap_or(""),
                            last_seen,
                            line,
                            t
                        ])?;
                    }
                    "alert" => {
                        let mitre = serde_json::to_string(&str_list(&v, "mitre"))
                            .unwrap_or_else(|_| "[]".into());
                        let evidence = v.get("evidence").map(Value::to_string);
                        up_alert.execute(params![
                            subject,
                            str_field(&v, "kind").unwrap_or("unknown"),
                            str_field(&v, "severity").unwrap_or("info"),
                            str_field(&v, "device"),
                            str_field(&v, "src"),
                            str_field(&v, "dst"),
                            str_field(&v, "first_seen").unwrap_or(""),
                            str_field(&v, "last_seen").unwrap_or(""),
                            v.get("count").and_then(Value::as_i64).unwrap_or(1),
                            str_field(&v, "summary").unwrap_or(""),
                            mitre,
                            evidence.unwrap_or_else(|| "null".into()),
                        ])?;
                    }
                    _ => {
                        out.ignored += 1;
                        continue;
                    }
                }
                out.accepted += 1;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn list_devices(&self, q: &DeviceQuery) -> Result<Page<DeviceRow>> {
        let mut wh = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = q.q.as_deref().filter(|s| !s.is_empty()) {
            let like = format!("%{}%", s.replace(['%', '_', '\\'], ""));
            wh.push(
                "(mac LIKE ? OR ips LIKE ? OR vendor LIKE ? OR hostname LIKE ? OR model LIKE ?)",
            );
            for _ in 0..5 {
                args.push(like.clone().into());
            }
        }
        if let Some(cat) = &q.category {
            wh.push("category = ?");
            args.push(cat.clone().into());
        }
        if let Some(r) = q.min_risk {
            wh.push("risk >= ?");
            args.push(i64::from(r).into());
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        let (col, default_asc) = match q.sort {
            DeviceSort::Risk => ("risk", false),
            DeviceSort::LastSeen => ("last_seen", false),
            DeviceSort::Mac => ("mac", true),
            DeviceSort::Vendor => ("vendor", true),
            DeviceSort::Category => ("category", true),
        };
        let dir = if q.asc.unwrap_or(default_asc) {
            "ASC"
        } else {
            "DESC"
        };
        let limit = q.limit.clamp(1, 1000);
        self.with_reader(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM devices {where_sql}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT {DEVICE_COLS} FROM devices d {where_sql} ORDER BY {col} {dir}, mac {dir} LIMIT {limit} OFFSET {}",
                q.offset
            );
            let mut st = c.prepare_cached(&sql)?;
            let items = st
                .query_map(params_from_iter(args.iter()), device_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                total: total as u64,
                limit,
                offset: q.offset,
                items,
            })
        })
    }

    fn device(&self, mac: &str) -> Result<Option<DeviceDetail>> {
        self.with_reader(|c| {
            let row = c
                .query_row(
                    &format!("SELECT {DEVICE_COLS}, data FROM devices d WHERE mac = ?1"),
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
                "SELECT {ALERT_COLS} FROM alerts {where_sql} ORDER BY \
                 CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, \
                 seq DESC LIMIT {limit} OFFSET {}",
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
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, name, role, password_hash, created_at FROM users WHERE name = ?1",
                [name],
                user_row,
            )
            .optional()?)
        })
    }

    fn list_users(&self) -> Result<Vec<User>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, role, password_hash, created_at FROM users ORDER BY id",
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
                "SELECT u.id, u.name, u.role, u.password_hash, u.created_at, s.csrf, s.expires_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?1 AND s.expires_at > ?2",
                params![&hash[..], now],
                |r| {
                    Ok(Session {
                        user: user_row(r)?,
                        csrf: r.get(5)?,
                        expires_at: r.get(6)?,
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
        assert_eq!(s.migrate().unwrap(), 1);
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
        assert_eq!(p.items[0].open_alerts, 1);
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
        assert_eq!(det.alerts.len(), 1);
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
            0
        );
        let st = s.stats().unwrap();
        assert_eq!((st.devices, st.alerts), (2, 1));
        drop(s);
        // Reopen: migrations are not re-applied, data is there.
        let s = SqliteStore::open(&d.join("hub.db")).unwrap();
        assert_eq!(s.stats().unwrap().devices, 2);
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
