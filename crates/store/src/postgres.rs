//! PostgreSQL implementation of [`Store`] (issue 13): the hub's storage when several hub
//! workers or API nodes share one database. Same semantics and results as [`crate::SqliteStore`]
//! (a conformance test runs the same assertions on both); batch ingest writes a whole NDJSON
//! batch with a few array statements in one transaction; `events` and `alerts` are
//! partitioned by month (see [`schema`]). The client is the synchronous `postgres` crate
//! (the hub calls the store from blocking tasks) over a small bounded pool ([`pool`]).
//! Network zones (`zones.rs`) and firmware rollouts (`rollout.rs`) have their PostgreSQL
//! implementations beside it, compared with SQLite's by tests/pg_zones_rollouts.rs.
//!
//! Connection URL: `postgres://user[:password]@host[:port]/dbname[?options]`, or the
//! key/value form; the extra option `pool_max=N` sets the pool size (default 8). No TLS: use
//! a loopback or otherwise trusted network (or a local TLS-terminating proxy).

mod ingest;
mod parse;
mod pool;
mod rollout;
pub(crate) mod schema;
pub mod testing;
mod zones;

use std::collections::HashSet;
use std::sync::Mutex;

use ::postgres::Row;
use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use serde_json::Value;

use crate::crypto::hex;
use crate::*;
use parse::{Parsed, parse_line};
use schema::{MIGRATIONS, partition_sql};

/// Default pool size (connections).
const DEFAULT_POOL: usize = 8;
/// Most suppression rules applied at once (as SQLite's).
const MAX_SUPPRESSIONS: i64 = 10_000;
/// Advisory lock key held while migrating (several workers may start at once).
const MIGRATE_LOCK: i64 = 0x5041_4c49_534d_4947; // "PALISMIG"
/// Ingest retries after a deadlock or serialization failure between concurrent writers.
const INGEST_TRIES: usize = 3;

/// The store; every call runs on the calling thread, or on a helper thread when the caller is
/// inside an async runtime (the synchronous client must not block a runtime's thread).
pub struct PgStore {
    inner: PgInner,
}

struct PgInner {
    pool: pool::Pool,
    /// Partitions known to exist, as (table, month).
    partitions: Mutex<HashSet<(&'static str, i32)>>,
}

type Param = Box<dyn ToSql + Sync + Send>;

fn refs(p: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PgStore {
    /// Connects to `url` (see the module doc) and applies migrations.
    pub fn open(url: &str) -> Result<PgStore> {
        blocking(|| PgInner::open(url)).map(|inner| PgStore { inner })
    }

    /// Size of the connection pool.
    pub fn pool_size(&self) -> usize {
        self.inner.pool.max()
    }
}

/// Runs `f` where a blocking client may block: here, or on a scoped helper thread when this
/// thread drives an async runtime. A call that failed because its pooled connection had died
/// (the server restarted since) runs once more on a new connection: the failed attempt's
/// transaction did not commit.
fn off_runtime<T: Send>(pool: &pool::Pool, f: impl Fn() -> Result<T> + Send + Sync) -> Result<T> {
    let once_more = || match f() {
        Err(e) if connection_lost(&e) => {
            // The other idle connections went to the same server: likely dead too.
            pool.discard_idle();
            f()
        }
        r => r,
    };
    blocking(once_more)
}

/// Runs `f` here, or on a scoped helper thread when this thread drives an async runtime.
fn blocking<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(StoreError::Io("postgres: store call panicked".into())))
    })
}

/// Whether `e` says the connection is gone (closed, server shut down, I/O failure) rather than
/// that the statement failed.
fn connection_lost(e: &StoreError) -> bool {
    let StoreError::Postgres(p) = e else {
        return false;
    };
    if p.is_closed() {
        return true;
    }
    match p.code() {
        Some(c) => {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P")
        }
        None => std::error::Error::source(p).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

impl PgInner {
    fn open(url: &str) -> Result<PgInner> {
        let (url, pool_max) = split_pool_option(url)?;
        let mut config: ::postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database url: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("palisade-hub");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let s = PgInner {
            pool: pool::Pool::new(config, pool_max.unwrap_or(DEFAULT_POOL)),
            partitions: Mutex::new(HashSet::new()),
        };
        s.migrate()?;
        Ok(s)
    }

    /// Creates the month partitions of `table` that the coming writes need (outside the
    /// batch transaction: DDL takes a strong lock on the parent only for a moment).
    fn ensure_partitions(&self, table: &'static str, months: &HashSet<i32>) -> Result<()> {
        let missing: Vec<i32> = {
            let known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            months
                .iter()
                .copied()
                .filter(|m| !known.contains(&(table, *m)))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut c = self.pool.get()?;
        for m in missing {
            let (name, sql) = partition_sql(table, m);
            if let Err(e) = c.batch_execute(&sql) {
                // Another writer may have created it at the same moment.
                let exists: bool = c
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])?
                    .get(0);
                if !exists {
                    return Err(e.into());
                }
            }
            self.partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((table, m));
        }
        Ok(())
    }

    /// Writes one batch; returns the indexes of the device and alert lines that were new, and
    /// how many flow and stats lines were.
    fn ingest_once(&self, parsed: &[&Parsed<'_>], t: i64) -> Result<(HashSet<usize>, u64)> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let rules = active_suppressions(&mut tx, t)?;
        // Event ids in key order (concurrent batches lock index entries in the same order).
        let mut order: Vec<usize> = (0..parsed.len()).collect();
        order.sort_unstable_by(|&a, &b| parsed[a].event_id.cmp(&parsed[b].event_id));
        let ids: Vec<&str> = order.iter().map(|&i| parsed[i].event_id.as_str()).collect();
        let months: Vec<i32> = order.iter().map(|&i| parsed[i].month).collect();
        let kinds: Vec<&str> = order.iter().map(|&i| parsed[i].kind).collect();
        let subjects: Vec<Option<&str>> = order
            .iter()
            .map(|&i| parsed[i].subject.as_deref())
            .collect();
        // Only the ids of new device and alert events come back (flows, the bulk, are counted).
        let row = tx.query_one(
            "WITH ins AS (INSERT INTO events (id, month, kind, subject, received_at) \
             SELECT i, m, k, s, $5 FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[]) \
             AS u(i, m, k, s) ON CONFLICT DO NOTHING RETURNING id, kind) \
             SELECT COALESCE(array_agg(id) FILTER (WHERE kind IN ('device', 'alert')), '{}'), \
             COUNT(*) FILTER (WHERE kind NOT IN ('device', 'alert')) FROM ins",
            &[&ids, &months, &kinds, &subjects, &t],
        )?;
        let stored: HashSet<String> = row.get::<_, Vec<String>>(0).into_iter().collect();
        let counted_new = row.get::<_, i64>(1) as u64;
        let new: HashSet<usize> = (0..parsed.len())
            .filter(|&i| stored.contains(&parsed[i].event_id))
            .collect();
        let lines: Vec<&Parsed<'_>> = (0..parsed.len())
            .filter(|i| new.contains(i))
            .map(|i| parsed[i])
            .collect();
        ingest::Batch::new(t, &rules).write(&mut tx, &lines)?;
        tx.commit()?;
        Ok((new, counted_new))
    }
}

/// Removes `pool_max=N` from the URL's options (the driver rejects unknown ones).
fn split_pool_option(url: &str) -> Result<(String, Option<usize>)> {
    let bad = |v: &str| StoreError::Invalid(format!("database url: pool_max={v} is not 1..=256"));
    let parse = |v: &str| match v.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(bad(v)),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None));
        };
        let mut max = None;
        let mut keep = Vec::new();
        for kv in query.split('&') {
            match kv.strip_prefix("pool_max=") {
                Some(v) => max = Some(parse(v)?),
                None => keep.push(kv),
            }
        }
        let url = if keep.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", keep.join("&"))
        };
        return Ok((url, max));
    }
    // key=value form.
    let mut max = None;
    let mut keep = Vec::new();
    for kv in url.split_whitespace() {
        match kv.strip_prefix("pool_max=") {
            Some(v) => max = Some(parse(v)?),
            None => keep.push(kv),
        }
    }
    Ok((keep.join(" "), max))
}

fn active_suppressions(tx: &mut ::postgres::Transaction<'_>, t: i64) -> Result<Vec<Suppression>> {
    Ok(tx
        .query(
            &format!(
                "SELECT {SUPPRESSION_COLS} FROM suppressions WHERE expires_at IS NULL OR expires_at > $1 \
                 ORDER BY id LIMIT {MAX_SUPPRESSIONS}"
            ),
            &[&t],
        )?
        .iter()
        .map(suppression_row)
        .collect())
}

fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(p) if p.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        || p.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
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

fn device_row(r: &Row) -> DeviceRow {
    DeviceRow {
        mac: r.get(0),
        vendor: r.get(1),
        category: r.get(2),
        model: r.get(3),
        os: r.get(4),
        hostname: r.get(5),
        ips: col_list(r.get::<_, &str>(6)),
        risk: u32::try_from(r.get::<_, i64>(7)).unwrap_or(0),
        confidence: r.get(8),
        first_seen: r.get(9),
        last_seen: r.get(10),
        open_alerts: r.get::<_, i64>(11) as u64,
    }
}

const ALERT_COLS: &str = "id, kind, severity, device, src, dst, first_seen, last_seen, count, summary, mitre, \
     evidence, state, state_user, state_comment, state_at";

fn alert_row(r: &Row) -> AlertRow {
    let mitre: &str = r.get(10);
    let evidence: &str = r.get(11);
    let state: &str = r.get(12);
    AlertRow {
        id: r.get(0),
        kind: r.get(1),
        severity: r.get(2),
        device: r.get(3),
        src: r.get(4),
        dst: r.get(5),
        first_seen: r.get(6),
        last_seen: r.get(7),
        count: r.get::<_, i64>(8) as u64,
        summary: r.get(9),
        mitre: serde_json::from_str(mitre).unwrap_or_default(),
        evidence: serde_json::from_str(evidence).unwrap_or(Value::Null),
        state: TriageState::parse(state).unwrap_or(TriageState::New),
        state_user: r.get(13),
        state_comment: r.get(14),
        state_at: r.get(15),
    }
}

const USER_COLS: &str = "id, name, role, password_hash, created_at, must_change_password";

fn user_row(r: &Row) -> User {
    User {
        id: r.get(0),
        name: r.get(1),
        role: Role::parse(r.get(2)).unwrap_or(Role::Viewer),
        password_hash: r.get(3),
        created_at: r.get(4),
        must_change_password: r.get(5),
    }
}

const TOKEN_COLS: &str = "id, name, role, created_by, created_at, revoked";

fn token_row(r: &Row) -> TokenInfo {
    TokenInfo {
        id: r.get(0),
        name: r.get(1),
        role: Role::parse(r.get(2)).unwrap_or(Role::Viewer),
        created_by: r.get(3),
        created_at: r.get(4),
        revoked: r.get(5),
    }
}

const SUPPRESSION_COLS: &str = "id, kind, device, reason, created_by, created_at, expires_at";

fn suppression_row(r: &Row) -> Suppression {
    Suppression {
        id: r.get(0),
        kind: r.get(1),
        device: r.get(2),
        reason: r.get(3),
        created_by: r.get(4),
        created_at: r.get(5),
        expires_at: r.get(6),
    }
}

/// A device-list cursor, encoded as SQLite's (the same cursor works on either store).
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

fn decode_cursor(c: &str, sort: DeviceSort) -> Result<(Option<Param>, String)> {
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
    let v: Option<Param> = match (v, sort) {
        (Value::Null, _) => None,
        (Value::Number(n), DeviceSort::Risk) => Some(Box::new(n.as_i64().ok_or_else(bad)?)),
        (Value::Number(n), _) => Some(Box::new(n.to_string())),
        (Value::String(s), DeviceSort::Risk) => {
            Some(Box::new(s.parse::<i64>().map_err(|_| bad())?))
        }
        (Value::String(s), _) => Some(Box::new(s)),
        _ => return Err(bad()),
    };
    Ok((v, mac))
}

impl Store for PgInner {
    fn migrate(&self) -> Result<u32> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)",
        )?;
        let current: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let v = i as i32 + 1;
            if v <= current {
                continue;
            }
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&v, &now()],
            )?;
        }
        tx.commit()?;
        Ok(MIGRATIONS.len() as u32)
    }

    fn ingest_ndjson(&self, body: &str) -> Result<IngestOutcome> {
        let mut out = IngestOutcome::default();
        let t = now();
        let mut parsed: Vec<Parsed<'_>> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (i, line) in body.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                // A second copy of an id in the same batch is a duplicate, as in SQLite.
                Ok(p) if !seen.insert(p.event_id.clone()) => out.duplicates += 1,
                Ok(p) => parsed.push(p),
                Err(why) => out.rejected.push((i + 1, why)),
            }
        }
        if parsed.is_empty() {
            return Ok(out);
        }
        let event_months: HashSet<i32> = parsed.iter().map(|p| p.month).collect();
        self.ensure_partitions("events", &event_months)?;
        let mut alert_months: HashSet<i32> = HashSet::new();
        for p in &parsed {
            match &p.body {
                parse::Body::Alert(a) => {
                    alert_months.insert(schema::month_key(a.first_seen.as_deref().or(Some(""))));
                }
                parse::Body::Device { d, .. } => {
                    let first = d.first_seen.as_deref().or(d.last_seen.as_deref());
                    alert_months.insert(schema::month_key(first));
                }
                parse::Body::Counted => {}
            }
        }
        self.ensure_partitions("alerts", &alert_months)?;
        let refs: Vec<&Parsed<'_>> = parsed.iter().collect();
        let mut tries = 0;
        let new = loop {
            tries += 1;
            match self.ingest_once(&refs, t) {
                Err(e) if tries < INGEST_TRIES && is_retryable(&e) => continue,
                r => break r?,
            }
        };
        let (new, counted_new) = new;
        let mut counted = 0u64;
        for (i, p) in parsed.iter().enumerate() {
            match (&p.body, new.contains(&i)) {
                (parse::Body::Counted, _) => counted += 1,
                (_, true) => out.accepted += 1,
                (_, false) => out.duplicates += 1,
            }
        }
        out.ignored = counted_new;
        out.duplicates += counted - counted_new;
        Ok(out)
    }

    fn list_devices(&self, q: &DeviceQuery) -> Result<Page<DeviceRow>> {
        let mut wh: Vec<String> = Vec::new();
        let mut args: Vec<Param> = Vec::new();
        let needle =
            q.q.as_deref()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty());
        if let Some(n) = &needle {
            args.push(Box::new(n.clone()));
            wh.push(format!("strpos(search, ${}) > 0", args.len()));
        }
        if let Some(cat) = &q.category {
            args.push(Box::new(cat.clone()));
            wh.push(format!("category = ${}", args.len()));
        }
        if let Some(r) = q.min_risk {
            args.push(Box::new(i64::from(r)));
            wh.push(format!("risk >= ${}", args.len()));
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
        // SQLite puts NULLs first ascending and last descending; PostgreSQL the other way.
        let nulls = if asc { "NULLS FIRST" } else { "NULLS LAST" };
        let limit = q.limit.clamp(1, 1000);
        let filter_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        let filter_n = args.len();
        if let Some(cur) = &q.after {
            let (v, mac) = decode_cursor(cur, q.sort)?;
            let op = if asc { ">" } else { "<" };
            let cond = match (col, v) {
                (_, Some(v)) if col != "vendor" => {
                    args.push(v);
                    args.push(Box::new(mac));
                    format!("({col}, mac) {op} (${}, ${})", args.len() - 1, args.len())
                }
                (_, Some(v)) => {
                    args.push(v);
                    args.push(Box::new(mac));
                    let (a, b) = (args.len() - 1, args.len());
                    if asc {
                        format!("({col}, mac) > (${a}, ${b})")
                    } else {
                        format!("(({col}, mac) < (${a}, ${b}) OR {col} IS NULL)")
                    }
                }
                (_, None) => {
                    args.push(Box::new(mac));
                    let a = args.len();
                    if asc {
                        format!("(({col} IS NULL AND mac {op} ${a}) OR {col} IS NOT NULL)")
                    } else {
                        format!("({col} IS NULL AND mac {op} ${a})")
                    }
                }
            };
            wh.push(cond);
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        let mut c = self.pool.get()?;
        let all = refs(&args);
        let total: i64 = c
            .query_one(
                &format!("SELECT COUNT(*) FROM devices {filter_sql}"),
                &all[..filter_n],
            )?
            .get(0);
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM devices d {where_sql} ORDER BY {col} {dir} {nulls}, mac {dir} \
             LIMIT {limit} OFFSET {}",
            q.offset
        );
        let items: Vec<DeviceRow> = c.query(&sql, &all)?.iter().map(device_row).collect();
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
    }

    fn device(&self, mac: &str) -> Result<Option<DeviceDetail>> {
        let mut c = self.pool.get()?;
        let Some(r) = c.query_opt(
            &format!(
                "SELECT {DEVICE_COLS}, COALESCE((SELECT data FROM device_reports r WHERE r.mac = d.mac), 'null') \
                 FROM devices d WHERE mac = $1"
            ),
            &[&mac],
        )?
        else {
            return Ok(None);
        };
        let row = device_row(&r);
        let data: &str = r.get(12);
        let alerts = c
            .query(
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE device = $1 ORDER BY seq DESC LIMIT 500"
                ),
                &[&mac],
            )?
            .iter()
            .map(alert_row)
            .collect();
        let timeline = c
            .query(
                "SELECT at, field, old, new FROM device_history WHERE mac = $1 ORDER BY id LIMIT 500",
                &[&mac],
            )?
            .iter()
            .map(|r| HistoryEntry {
                at: r.get(0),
                field: r.get(1),
                old: r.get(2),
                new: r.get(3),
            })
            .collect();
        let mut report: Value = serde_json::from_str(data).unwrap_or(Value::Null);
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
    }

    fn list_alerts(&self, q: &AlertQuery) -> Result<Page<AlertRow>> {
        let mut wh: Vec<String> = Vec::new();
        let mut args: Vec<Param> = Vec::new();
        if let Some(s) = q.state {
            args.push(Box::new(s.as_str().to_owned()));
            wh.push(format!("state = ${}", args.len()));
        }
        for (col, v) in [
            ("severity", &q.severity),
            ("kind", &q.kind),
            ("device", &q.device),
        ] {
            if let Some(v) = v {
                args.push(Box::new(v.clone()));
                wh.push(format!("{col} = ${}", args.len()));
            }
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        };
        let limit = q.limit.clamp(1, 1000);
        let mut c = self.pool.get()?;
        let a = refs(&args);
        let total: i64 = c
            .query_one(&format!("SELECT COUNT(*) FROM alerts {where_sql}"), &a)?
            .get(0);
        let items = c
            .query(
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts {where_sql} ORDER BY seq DESC LIMIT {limit} OFFSET {}",
                    q.offset
                ),
                &a,
            )?
            .iter()
            .map(alert_row)
            .collect();
        Ok(Page {
            total: total as u64,
            limit,
            offset: q.offset,
            items,
            next: None,
        })
    }

    fn alert(&self, id: &str) -> Result<Option<(AlertRow, Vec<Transition>)>> {
        let mut c = self.pool.get()?;
        let Some(r) = c.query_opt(
            &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1"),
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let tr = c
            .query(
                "SELECT from_state, to_state, user_name, comment, at FROM alert_transitions \
                 WHERE alert_id = $1 ORDER BY id",
                &[&id],
            )?
            .iter()
            .map(|r| Transition {
                from: TriageState::parse(r.get(0)).unwrap_or(TriageState::New),
                to: TriageState::parse(r.get(1)).unwrap_or(TriageState::New),
                user: r.get(2),
                comment: r.get(3),
                at: r.get(4),
            })
            .collect();
        Ok(Some((alert_row(&r), tr)))
    }

    fn triage(&self, id: &str, to: TriageState, comment: &str, user: &str) -> Result<AlertRow> {
        let t = now();
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let cur: String = tx
            .query_opt("SELECT state FROM alerts WHERE id = $1 FOR UPDATE", &[&id])?
            .ok_or(StoreError::NotFound)?
            .get(0);
        let from = TriageState::parse(&cur).unwrap_or(TriageState::New);
        if !from.can_go_to(to) {
            return Err(StoreError::Conflict(format!(
                "cannot move an alert from {} to {}",
                from.as_str(),
                to.as_str()
            )));
        }
        tx.execute(
            "UPDATE alerts SET state = $2, state_user = $3, state_comment = $4, state_at = $5 WHERE id = $1",
            &[&id, &to.as_str(), &user, &comment, &t],
        )?;
        tx.execute(
            "INSERT INTO alert_transitions (alert_id, from_state, to_state, user_name, comment, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &from.as_str(), &to.as_str(), &user, &comment, &t],
        )?;
        tx.execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, 'alert.triage', $3, $4)",
            &[
                &t,
                &user,
                &id,
                &format!("{} -> {}: {comment}", from.as_str(), to.as_str()),
            ],
        )?;
        let row = tx.query_one(
            &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1"),
            &[&id],
        )?;
        let row = alert_row(&row);
        tx.commit()?;
        Ok(row)
    }

    fn alerts_since(&self, after_seq: i64) -> Result<(Vec<AlertRow>, i64)> {
        let mut c = self.pool.get()?;
        if after_seq < 0 {
            let m: i64 = c
                .query_one("SELECT COALESCE(MAX(seq), 0) FROM alerts", &[])?
                .get(0);
            return Ok((Vec::new(), m));
        }
        let mut last = after_seq;
        let items = c
            .query(
                &format!(
                    "SELECT {ALERT_COLS}, seq FROM alerts WHERE seq > $1 ORDER BY seq LIMIT 200"
                ),
                &[&after_seq],
            )?
            .iter()
            .map(|r| {
                last = last.max(r.get::<_, i64>(16));
                alert_row(r)
            })
            .collect();
        Ok((items, last))
    }

    fn stats(&self) -> Result<Stats> {
        let mut c = self.pool.get()?;
        let mut count =
            |sql: &str| -> Result<u64> { Ok(c.query_one(sql, &[])?.get::<_, i64>(0) as u64) };
        let devices = count("SELECT COUNT(*) FROM devices")?;
        let alerts = count("SELECT COUNT(*) FROM alerts")?;
        let events = count("SELECT COUNT(*) FROM events")?;
        let mut groups = |sql: &str| -> Result<Vec<(String, u64)>> {
            Ok(c.query(sql, &[])?
                .iter()
                .map(|r| {
                    (
                        r.get::<_, Option<String>>(0).unwrap_or_default(),
                        r.get::<_, i64>(1) as u64,
                    )
                })
                .collect())
        };
        // Ties in count are ordered by key (SQLite's GROUP BY yields them in key order).
        let devices_by_category =
            groups("SELECT category, COUNT(*) FROM devices GROUP BY category ORDER BY 2 DESC, 1")?;
        let alerts_by_severity =
            groups("SELECT severity, COUNT(*) FROM alerts GROUP BY severity ORDER BY 2 DESC, 1")?;
        let alerts_by_state =
            groups("SELECT state, COUNT(*) FROM alerts GROUP BY state ORDER BY 2 DESC, 1")?;
        let alert_timeline = groups(
            "SELECT substr(first_seen, 1, 13), COUNT(*) FROM alerts GROUP BY 1 ORDER BY 1 LIMIT 168",
        )?;
        let top_risky = c
            .query(
                &format!(
                    "SELECT {DEVICE_COLS} FROM devices d ORDER BY risk DESC, mac DESC LIMIT 10"
                ),
                &[],
            )?
            .iter()
            .map(device_row)
            .collect();
        Ok(Stats {
            devices,
            alerts,
            events,
            devices_by_category,
            alerts_by_severity,
            alerts_by_state,
            alert_timeline,
            top_risky,
        })
    }

    fn event_count(&self) -> Result<u64> {
        Ok(self
            .pool
            .get()?
            .query_one("SELECT COUNT(*) FROM events", &[])?
            .get::<_, i64>(0) as u64)
    }

    fn has_event(&self, id: &str) -> Result<bool> {
        Ok(self
            .pool
            .get()?
            .query_one("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)", &[&id])?
            .get(0))
    }

    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        let t = now();
        let r = self
            .pool
            .get()?
            .query_one(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name, &role.as_str(), &password_hash, &t],
            )
            .map_err(|e| {
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    StoreError::Conflict(format!("user {name} exists"))
                } else {
                    e.into()
                }
            })?;
        Ok(User {
            id: r.get(0),
            name: name.to_owned(),
            role,
            password_hash: password_hash.to_owned(),
            created_at: t,
            must_change_password: false,
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        Ok(self
            .pool
            .get()?
            .query_opt(
                &format!("SELECT {USER_COLS} FROM users WHERE name = $1"),
                &[&name],
            )?
            .as_ref()
            .map(user_row))
    }

    fn list_users(&self) -> Result<Vec<User>> {
        Ok(self
            .pool
            .get()?
            .query(&format!("SELECT {USER_COLS} FROM users ORDER BY id"), &[])?
            .iter()
            .map(user_row)
            .collect())
    }

    fn user_count(&self) -> Result<u64> {
        Ok(self
            .pool
            .get()?
            .query_one("SELECT COUNT(*) FROM users", &[])?
            .get::<_, i64>(0) as u64)
    }

    fn set_password(&self, user_id: i64, password_hash: &str, must_change: bool) -> Result<()> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let n = tx.execute(
            "UPDATE users SET password_hash = $2, must_change_password = $3 WHERE id = $1",
            &[&user_id, &password_hash, &must_change],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        // A new password ends the user's other sessions.
        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])?;
        tx.commit()?;
        Ok(())
    }

    fn create_token(&self, name: &str, role: Role, hash: &[u8; 32], by: &str) -> Result<TokenInfo> {
        let t = now();
        let r = self.pool.get()?.query_one(
            "INSERT INTO tokens (name, role, hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&name, &role.as_str(), &&hash[..], &by, &t],
        )?;
        Ok(TokenInfo {
            id: r.get(0),
            name: name.to_owned(),
            role,
            created_by: by.to_owned(),
            created_at: t,
            revoked: false,
        })
    }

    fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenInfo>> {
        Ok(self
            .pool
            .get()?
            .query_opt(
                &format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1 AND NOT revoked"),
                &[&&hash[..]],
            )?
            .as_ref()
            .map(token_row))
    }

    fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        Ok(self
            .pool
            .get()?
            .query(&format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY id"), &[])?
            .iter()
            .map(token_row)
            .collect())
    }

    fn revoke_token(&self, id: i64) -> Result<()> {
        if self
            .pool
            .get()?
            .execute("UPDATE tokens SET revoked = true WHERE id = $1", &[&id])?
            == 0
        {
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
        let mut c = self.pool.get()?;
        c.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now()])?;
        c.execute(
            "INSERT INTO sessions (hash, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
            &[&&hash[..], &user_id, &csrf, &expires_at],
        )?;
        Ok(())
    }

    fn session(&self, hash: &[u8; 32], now: i64) -> Result<Option<Session>> {
        Ok(self
            .pool
            .get()?
            .query_opt(
                "SELECT u.id, u.name, u.role, u.password_hash, u.created_at, u.must_change_password, \
                 s.csrf, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.hash = $1 AND s.expires_at > $2",
                &[&&hash[..], &now],
            )?
            .map(|r| Session {
                user: user_row(&r),
                csrf: r.get(6),
                expires_at: r.get(7),
            }))
    }

    fn delete_session(&self, hash: &[u8; 32]) -> Result<()> {
        self.pool
            .get()?
            .execute("DELETE FROM sessions WHERE hash = $1", &[&&hash[..]])?;
        Ok(())
    }

    fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<()> {
        self.pool.get()?.execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&now(), &actor, &action, &target, &detail],
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
        let mut c = self.pool.get()?;
        let active: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM suppressions WHERE expires_at IS NULL OR expires_at > $1",
                &[&t],
            )?
            .get(0);
        if active >= MAX_SUPPRESSIONS {
            return Err(StoreError::Conflict(format!(
                "at most {MAX_SUPPRESSIONS} active suppression rules"
            )));
        }
        let r = c.query_one(
            "INSERT INTO suppressions (kind, device, reason, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&kind, &device, &reason, &by, &t, &expires_at],
        )?;
        Ok(Suppression {
            id: r.get(0),
            kind: kind.map(str::to_owned),
            device: device.map(str::to_owned),
            reason: reason.to_owned(),
            created_by: by.to_owned(),
            created_at: t,
            expires_at,
        })
    }

    fn list_suppressions(&self, include_expired: bool) -> Result<Vec<Suppression>> {
        Ok(self
            .pool
            .get()?
            .query(
                &format!(
                    "SELECT {SUPPRESSION_COLS} FROM suppressions \
                     WHERE $1 OR expires_at IS NULL OR expires_at > $2 ORDER BY id DESC LIMIT 10000"
                ),
                &[&include_expired, &now()],
            )?
            .iter()
            .map(suppression_row)
            .collect())
    }

    fn delete_suppression(&self, id: i64) -> Result<()> {
        if self
            .pool
            .get()?
            .execute("DELETE FROM suppressions WHERE id = $1", &[&id])?
            == 0
        {
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
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        if let Some(t) = events_before {
            out.events = tx.execute("DELETE FROM events WHERE received_at < $1", &[&t])?;
        }
        if let Some(t) = alerts_before {
            tx.execute(
                "DELETE FROM alert_transitions WHERE alert_id IN (SELECT id FROM alerts WHERE updated_at < $1)",
                &[&t],
            )?;
            out.alerts = tx.execute(
                "WITH gone AS (DELETE FROM alerts WHERE updated_at < $1 RETURNING id) \
                 DELETE FROM alert_ids WHERE id IN (SELECT id FROM gone)",
                &[&t],
            )?;
            out.expired_suppressions = tx.execute(
                "DELETE FROM suppressions WHERE expires_at IS NOT NULL AND expires_at < $1",
                &[&t],
            )?;
        }
        if out.events + out.alerts + out.expired_suppressions > 0 {
            tx.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, 'system', 'retention', 'store', $2)",
                &[
                    &now(),
                    &format!(
                        "deleted {} event ids, {} alerts, {} expired suppression rules",
                        out.events, out.alerts, out.expired_suppressions
                    ),
                ],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    fn list_audit(&self, limit: u32, offset: u64) -> Result<Page<AuditEntry>> {
        let limit = limit.clamp(1, 1000);
        let mut c = self.pool.get()?;
        let total: i64 = c.query_one("SELECT COUNT(*) FROM audit", &[])?.get(0);
        let items = c
            .query(
                "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1 OFFSET $2",
                &[&i64::from(limit), &(offset.min(i64::MAX as u64) as i64)],
            )?
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                detail: r.get(5),
            })
            .collect();
        Ok(Page {
            total: total as u64,
            limit,
            offset,
            items,
            next: None,
        })
    }

    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()> {
        self.pool.get()?.execute(
            "INSERT INTO secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed",
            &[&name, &sealed],
        )?;
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .pool
            .get()?
            .query_opt("SELECT sealed FROM secrets WHERE name = $1", &[&name])?
            .map(|r| r.get(0)))
    }

    fn secret_names(&self) -> Result<Vec<String>> {
        Ok(self
            .pool
            .get()?
            .query("SELECT name FROM secrets ORDER BY name", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

/// Every call off the async runtime's threads (see [`off_runtime`]).
impl Store for PgStore {
    fn rollouts(&self) -> Option<&dyn crate::rollout::RolloutStore> {
        Some(self)
    }
    fn zones(&self) -> Option<&dyn crate::zones::ZoneStore> {
        Some(self)
    }
    fn migrate(&self) -> Result<u32> {
        off_runtime(&self.inner.pool, || self.inner.migrate())
    }
    fn ingest_ndjson(&self, body: &str) -> Result<IngestOutcome> {
        off_runtime(&self.inner.pool, || self.inner.ingest_ndjson(body))
    }
    fn list_devices(&self, q: &DeviceQuery) -> Result<Page<DeviceRow>> {
        off_runtime(&self.inner.pool, || self.inner.list_devices(q))
    }
    fn device(&self, mac: &str) -> Result<Option<DeviceDetail>> {
        off_runtime(&self.inner.pool, || self.inner.device(mac))
    }
    fn list_alerts(&self, q: &AlertQuery) -> Result<Page<AlertRow>> {
        off_runtime(&self.inner.pool, || self.inner.list_alerts(q))
    }
    fn alert(&self, id: &str) -> Result<Option<(AlertRow, Vec<Transition>)>> {
        off_runtime(&self.inner.pool, || self.inner.alert(id))
    }
    fn triage(&self, id: &str, to: TriageState, comment: &str, user: &str) -> Result<AlertRow> {
        off_runtime(&self.inner.pool, || {
            self.inner.triage(id, to, comment, user)
        })
    }
    fn alerts_since(&self, after_seq: i64) -> Result<(Vec<AlertRow>, i64)> {
        off_runtime(&self.inner.pool, || self.inner.alerts_since(after_seq))
    }
    fn stats(&self) -> Result<Stats> {
        off_runtime(&self.inner.pool, || self.inner.stats())
    }
    fn event_count(&self) -> Result<u64> {
        off_runtime(&self.inner.pool, || self.inner.event_count())
    }
    fn has_event(&self, id: &str) -> Result<bool> {
        off_runtime(&self.inner.pool, || self.inner.has_event(id))
    }
    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        off_runtime(&self.inner.pool, || {
            self.inner.create_user(name, role, password_hash)
        })
    }
    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        off_runtime(&self.inner.pool, || self.inner.user_by_name(name))
    }
    fn list_users(&self) -> Result<Vec<User>> {
        off_runtime(&self.inner.pool, || self.inner.list_users())
    }
    fn user_count(&self) -> Result<u64> {
        off_runtime(&self.inner.pool, || self.inner.user_count())
    }
    fn set_password(&self, user_id: i64, password_hash: &str, must_change: bool) -> Result<()> {
        off_runtime(&self.inner.pool, || {
            self.inner.set_password(user_id, password_hash, must_change)
        })
    }
    fn create_token(&self, name: &str, role: Role, hash: &[u8; 32], by: &str) -> Result<TokenInfo> {
        off_runtime(&self.inner.pool, || {
            self.inner.create_token(name, role, hash, by)
        })
    }
    fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenInfo>> {
        off_runtime(&self.inner.pool, || self.inner.token_by_hash(hash))
    }
    fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        off_runtime(&self.inner.pool, || self.inner.list_tokens())
    }
    fn revoke_token(&self, id: i64) -> Result<()> {
        off_runtime(&self.inner.pool, || self.inner.revoke_token(id))
    }
    fn create_session(
        &self,
        hash: &[u8; 32],
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<()> {
        off_runtime(&self.inner.pool, || {
            self.inner.create_session(hash, user_id, csrf, expires_at)
        })
    }
    fn session(&self, hash: &[u8; 32], now: i64) -> Result<Option<Session>> {
        off_runtime(&self.inner.pool, || self.inner.session(hash, now))
    }
    fn delete_session(&self, hash: &[u8; 32]) -> Result<()> {
        off_runtime(&self.inner.pool, || self.inner.delete_session(hash))
    }
    fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<()> {
        off_runtime(&self.inner.pool, || {
            self.inner.audit(actor, action, target, detail)
        })
    }
    fn create_suppression(
        &self,
        kind: Option<&str>,
        device: Option<&str>,
        reason: &str,
        by: &str,
        expires_at: Option<i64>,
    ) -> Result<Suppression> {
        off_runtime(&self.inner.pool, || {
            self.inner
                .create_suppression(kind, device, reason, by, expires_at)
        })
    }
    fn list_suppressions(&self, include_expired: bool) -> Result<Vec<Suppression>> {
        off_runtime(&self.inner.pool, || {
            self.inner.list_suppressions(include_expired)
        })
    }
    fn delete_suppression(&self, id: i64) -> Result<()> {
        off_runtime(&self.inner.pool, || self.inner.delete_suppression(id))
    }
    fn apply_retention(
        &self,
        events_before: Option<i64>,
        alerts_before: Option<i64>,
    ) -> Result<RetentionOutcome> {
        off_runtime(&self.inner.pool, || {
            self.inner.apply_retention(events_before, alerts_before)
        })
    }
    fn list_audit(&self, limit: u32, offset: u64) -> Result<Page<AuditEntry>> {
        off_runtime(&self.inner.pool, || self.inner.list_audit(limit, offset))
    }
    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()> {
        off_runtime(&self.inner.pool, || self.inner.put_secret(name, sealed))
    }
    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        off_runtime(&self.inner.pool, || self.inner.secret(name))
    }
    fn secret_names(&self) -> Result<Vec<String>> {
        off_runtime(&self.inner.pool, || self.inner.secret_names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_option_is_split_off() {
        let (u, n) = split_pool_option("postgres://a@h:5/db?pool_max=3&sslmode=disable").unwrap();
        assert_eq!(
            (u.as_str(), n),
            ("postgres://a@h:5/db?sslmode=disable", Some(3))
        );
        let (u, n) = split_pool_option("postgres://a@h/db?pool_max=2").unwrap();
        assert_eq!((u.as_str(), n), ("postgres://a@h/db", Some(2)));
        let (u, n) = split_pool_option("host=/tmp user=x pool_max=4").unwrap();
        assert_eq!((u.as_str(), n), ("host=/tmp user=x", Some(4)));
        // The failover form of docs/deploy.md parses (two hosts, read-write target).
        let (u, n) = split_pool_option(
            "postgres://p@db1:5432,db2:5432/palisade?target_session_attrs=read-write&pool_max=5",
        )
        .unwrap();
        let c: ::postgres::Config = u.parse().unwrap();
        assert_eq!((c.get_hosts().len(), n), (2, Some(5)));
        assert!(split_pool_option("postgres://h/db?pool_max=0").is_err());
        assert!(split_pool_option("postgres://h/db?pool_max=x").is_err());
    }

    #[test]
    fn cursors_decode_to_the_sort_column_type() {
        let d = DeviceRow {
            mac: "aa".into(),
            vendor: None,
            category: "camera".into(),
            model: None,
            os: None,
            hostname: None,
            ips: vec![],
            risk: 7,
            confidence: 0.0,
            first_seen: String::new(),
            last_seen: String::new(),
            open_alerts: 0,
        };
        let (v, mac) =
            decode_cursor(&encode_cursor(DeviceSort::Vendor, &d), DeviceSort::Vendor).unwrap();
        assert!(v.is_none());
        assert_eq!(mac, "aa");
        assert!(decode_cursor("zz", DeviceSort::Risk).is_err());
        assert!(decode_cursor("abc", DeviceSort::Risk).is_err());
    }
}
