//! PostgreSQL migrations: the same tables and columns as the SQLite schema after its v2
//! (crates/store/src/sqlite.rs), written in PostgreSQL's dialect. Where they differ, and why:
//! - text columns that lists sort or compare (`mac`, `vendor`, `category`, times, ids) are
//!   `COLLATE "C"`: byte order, as SQLite's BINARY collation, whatever the database locale;
//! - integers are `bigint` (SQLite's INTEGER is 64-bit), flags `boolean`, blobs `bytea`,
//!   row ids `bigserial`/a sequence instead of `INTEGER PRIMARY KEY`;
//! - `alert_transitions.user` is `user_name` (`user` is reserved in PostgreSQL);
//! - `events` (the idempotency ledger of event ids) and `alerts` are partitioned by month
//!   (`PARTITION BY RANGE (month)`, one partition a month, created on demand by the store).
//!   A unique key on a partitioned table must contain the partition key, so the month is a
//!   function of the event itself: the month of its `last_seen` (flows, devices and alerts
//!   all carry one), `0` (the "undated" partition) when it has none. The same event id is the
//!   same event, so it lands in the same partition and `PRIMARY KEY (id, month)` keeps ingest
//!   idempotent. Alerts keep the month of the `first_seen` they were first stored with;
//!   `alert_ids` (not partitioned) holds each alert id once, which makes the alert upsert
//!   idempotent across partitions and concurrent writers.
//! - `events.received_at` has a BRIN index (retention deletes by arrival time; BRIN costs
//!   next to nothing at ingest because arrival times only grow).
//!
//! Versioned like SQLite's: index + 1 is the version, recorded in `schema_migrations`.
//! Never edit a shipped entry: append.

pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    id text COLLATE "C" NOT NULL,
    month integer NOT NULL,
    kind text NOT NULL,
    subject text,
    received_at bigint NOT NULL,
    PRIMARY KEY (id, month)
) PARTITION BY RANGE (month);
CREATE INDEX events_received_at ON events USING brin (received_at);
CREATE TABLE devices (
    mac text COLLATE "C" PRIMARY KEY,
    vendor text COLLATE "C",
    category text COLLATE "C" NOT NULL DEFAULT 'unknown',
    model text,
    os text,
    hostname text,
    ips text NOT NULL DEFAULT '',
    risk bigint NOT NULL DEFAULT 0,
    confidence double precision NOT NULL DEFAULT 0,
    first_seen text COLLATE "C" NOT NULL DEFAULT '',
    last_seen text COLLATE "C" NOT NULL DEFAULT '',
    updated_at bigint NOT NULL,
    search text NOT NULL DEFAULT ''
);
CREATE INDEX devices_risk_mac ON devices(risk, mac);
CREATE INDEX devices_last_seen_mac ON devices(last_seen, mac);
CREATE INDEX devices_vendor ON devices(vendor, mac);
CREATE INDEX devices_category ON devices(category, mac);
CREATE TABLE device_reports (mac text COLLATE "C" PRIMARY KEY, data text NOT NULL);
CREATE TABLE device_history (
    id bigserial PRIMARY KEY,
    mac text COLLATE "C" NOT NULL,
    at text NOT NULL,
    field text NOT NULL,
    old text,
    new text
);
CREATE INDEX device_history_mac ON device_history(mac, id);
CREATE TABLE alert_ids (id text COLLATE "C" PRIMARY KEY, month integer NOT NULL);
CREATE SEQUENCE alerts_seq;
CREATE TABLE alerts (
    seq bigint NOT NULL,
    id text COLLATE "C" NOT NULL,
    month integer NOT NULL,
    kind text NOT NULL,
    severity text COLLATE "C" NOT NULL,
    device text COLLATE "C",
    src text,
    dst text,
    first_seen text COLLATE "C" NOT NULL,
    last_seen text COLLATE "C" NOT NULL,
    count bigint NOT NULL,
    summary text NOT NULL,
    mitre text NOT NULL,
    evidence text NOT NULL,
    state text COLLATE "C" NOT NULL DEFAULT 'new',
    state_user text,
    state_comment text,
    state_at bigint,
    updated_at bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (id, month)
) PARTITION BY RANGE (month);
CREATE INDEX alerts_by_seq ON alerts(seq);
CREATE INDEX alerts_device ON alerts(device);
CREATE INDEX alerts_state ON alerts(state, seq);
CREATE INDEX alerts_updated_at ON alerts(updated_at);
CREATE TABLE alert_transitions (
    id bigserial PRIMARY KEY,
    alert_id text COLLATE "C" NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    user_name text NOT NULL,
    comment text NOT NULL,
    at bigint NOT NULL
);
CREATE INDEX alert_transitions_alert ON alert_transitions(alert_id, id);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    role text NOT NULL,
    password_hash text NOT NULL,
    created_at bigint NOT NULL,
    must_change_password boolean NOT NULL DEFAULT false
);
CREATE TABLE tokens (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL,
    hash bytea NOT NULL UNIQUE,
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    revoked boolean NOT NULL DEFAULT false
);
CREATE TABLE sessions (
    hash bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf text NOT NULL,
    expires_at bigint NOT NULL
);
CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    at bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail text NOT NULL
);
CREATE TABLE secrets (name text COLLATE "C" PRIMARY KEY, sealed bytea NOT NULL);
CREATE TABLE suppressions (
    id bigserial PRIMARY KEY,
    kind text,
    device text,
    reason text NOT NULL,
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint
);
"#,
    // v2 (issues 9, 13): staged firmware rollouts, as SQLite's v3 (postgres/rollout.rs).
    super::rollout::MIGRATION,
    // v3 (issues 8, 13): network zones and assignments, as SQLite's v4 (postgres/zones.rs).
    super::zones::MIGRATION,
];

/// Partition key of a timestamp text: months since year 0 of its `YYYY-MM` prefix, for years
/// 2000..=2099 (a fixed range, so the same event always maps to the same partition and a
/// hostile stream cannot create unbounded partitions); 0 ("undated") otherwise.
pub(crate) fn month_key(ts: Option<&str>) -> i32 {
    let Some(b) = ts.map(str::as_bytes) else {
        return 0;
    };
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let s = b.get(r)?;
        s.iter().try_fold(0i32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i32::from(c - b'0'))
        })
    };
    match (digits(0..4), b.get(4), digits(5..7)) {
        (Some(y), Some(b'-'), Some(m)) if (2000..=2099).contains(&y) && (1..=12).contains(&m) => {
            y * 12 + m - 1
        }
        _ => 0,
    }
}

/// The partition of `table` holding `month` (see [`month_key`]).
pub(crate) fn partition_sql(table: &str, month: i32) -> (String, String) {
    let name = if month == 0 {
        format!("{table}_undated")
    } else {
        format!("{table}_y{}m{:02}", month / 12, month % 12 + 1)
    };
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM ({month}) TO ({})",
        month + 1
    );
    (name, sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_keys() {
        assert_eq!(month_key(Some("2024-01-01T00:00:00Z")), 2024 * 12);
        assert_eq!(month_key(Some("2024-12-31")), 2024 * 12 + 11);
        assert_eq!(month_key(Some("2024-13-01")), 0);
        assert_eq!(month_key(Some("1999-01-01")), 0);
        assert_eq!(month_key(Some("20x4-01")), 0);
        assert_eq!(month_key(Some("")), 0);
        assert_eq!(month_key(None), 0);
        assert_eq!(partition_sql("events", 2024 * 12 + 2).0, "events_y2024m03");
        assert_eq!(partition_sql("alerts", 0).0, "alerts_undated");
    }
}
