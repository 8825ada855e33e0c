//! Hub storage (DESIGN.md §2): the [`Store`] trait, its SQLite implementation ([`SqliteStore`]:
//! WAL, versioned migrations, idempotent ingest keyed by event id) and encryption at rest
//! ([`crypto::Kek`]). The trait is synchronous and object-safe; [`PgStore`] is its PostgreSQL
//! implementation (issue 13, selected by [`open_store`]); the hub calls it from blocking tasks.

pub mod crypto;
pub mod postgres;
pub mod rollout;
mod sqlite;
pub mod zones;

use serde::{Deserialize, Serialize};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("i/o: {0}")]
    Io(String),
    #[error("crypto: {0}")]
    Crypto(&'static str),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Roles, least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Alert triage states: new → acknowledged → resolved / false-positive / expected
/// (a closed alert can be reopened to new).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriageState {
    New,
    Acknowledged,
    Resolved,
    FalsePositive,
    Expected,
}

impl TriageState {
    pub const ALL: [TriageState; 5] = [
        TriageState::New,
        TriageState::Acknowledged,
        TriageState::Resolved,
        TriageState::FalsePositive,
        TriageState::Expected,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TriageState::New => "new",
            TriageState::Acknowledged => "acknowledged",
            TriageState::Resolved => "resolved",
            TriageState::FalsePositive => "false-positive",
            TriageState::Expected => "expected",
        }
    }
    pub fn parse(s: &str) -> Option<TriageState> {
        TriageState::ALL.into_iter().find(|t| t.as_str() == s)
    }
    /// Whether `self → to` is an allowed transition.
    pub fn can_go_to(self, to: TriageState) -> bool {
        use TriageState::*;
        matches!(
            (self, to),
            (New, Acknowledged)
                | (Acknowledged, Resolved | FalsePositive | Expected)
                | (Resolved | FalsePositive | Expected, New)
        )
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestOutcome {
    /// Events written now.
    pub accepted: u64,
    /// Events whose id was already stored (ignored: writes are idempotent).
    pub duplicates: u64,
    /// Events of a type the hub does not store (flow, stats): counted, ids recorded.
    pub ignored: u64,
    /// `(line number from 1, reason)` of lines that were not valid events.
    pub rejected: Vec<(usize, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSort {
    #[default]
    Risk,
    LastSeen,
    Mac,
    Vendor,
    Category,
}

#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    /// Substring of mac, IP, vendor, hostname or model.
    pub q: Option<String>,
    pub category: Option<String>,
    pub min_risk: Option<u32>,
    pub sort: DeviceSort,
    /// Ascending when true (default descending for risk/last_seen, ascending for the rest).
    pub asc: Option<bool>,
    pub limit: u32,
    pub offset: u64,
    /// Keyset cursor: the `next` of the previous page (same filter and sort). Pages after
    /// a cursor cost the same at any depth, unlike a large `offset`.
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub state: Option<TriageState>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    pub device: Option<String>,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub items: Vec<T>,
    /// Cursor of the following page, when there may be one (device lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    pub mac: String,
    pub vendor: Option<String>,
    pub category: String,
    pub model: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    pub ips: Vec<String>,
    pub risk: u32,
    pub confidence: f64,
    pub first_seen: String,
    pub last_seen: String,
    pub open_alerts: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceDetail {
    #[serde(flatten)]
    pub row: DeviceRow,
    /// The device as last reported by the sensor (evidence, risk reasons, services, ...).
    pub report: serde_json::Value,
    pub alerts: Vec<AlertRow>,
    pub timeline: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub device: Option<String>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u64,
    pub summary: String,
    pub mitre: Vec<String>,
    pub evidence: serde_json::Value,
    pub state: TriageState,
    pub state_user: Option<String>,
    pub state_comment: Option<String>,
    /// Unix seconds of the last triage change.
    pub state_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub from: TriageState,
    pub to: TriageState,
    pub user: String,
    pub comment: String,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: i64,
    /// Set for the first-start admin's one-time password: the console asks for a new one.
    pub must_change_password: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// An alert suppression rule: new alerts matching `kind` and/or `device` are stored already
/// triaged as `expected` (by `suppression:<id>`) until `expires_at`.
#[derive(Debug, Clone, Serialize)]
pub struct Suppression {
    pub id: i64,
    pub kind: Option<String>,
    pub device: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    /// Unix seconds; `None` = until deleted.
    pub expires_at: Option<i64>,
}

impl Suppression {
    /// A rule must name a kind, a device or both (one naming neither would silence everything).
    pub fn check_scope(kind: Option<&str>, device: Option<&str>) -> Result<()> {
        if kind.is_none() && device.is_none() {
            return Err(StoreError::Invalid(
                "a suppression rule needs a kind, a device or both".into(),
            ));
        }
        Ok(())
    }
    pub fn active(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
    pub fn matches(&self, kind: &str, device: Option<&str>) -> bool {
        self.kind.as_deref().is_none_or(|k| k == kind)
            && self.device.as_deref().is_none_or(|d| Some(d) == device)
    }
}

/// What [`Store::apply_retention`] deleted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionOutcome {
    pub events: u64,
    pub alerts: u64,
    pub expired_suppressions: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Stats {
    pub devices: u64,
    pub alerts: u64,
    pub events: u64,
    pub devices_by_category: Vec<(String, u64)>,
    pub alerts_by_severity: Vec<(String, u64)>,
    pub alerts_by_state: Vec<(String, u64)>,
    /// Alert first-seen counts per hour bucket (RFC 3339 hour prefix, count), oldest first.
    pub alert_timeline: Vec<(String, u64)>,
    pub top_risky: Vec<DeviceRow>,
}

/// The hub's storage. Every mutating method is atomic; ingest is idempotent by event id.
pub trait Store: Send + Sync {
    /// Staged firmware rollouts (issue 9), where the backend supports them.
    fn rollouts(&self) -> Option<&dyn rollout::RolloutStore> {
        None
    }
    /// Network zones and per-device policies (issue 8), where the backend supports them.
    fn zones(&self) -> Option<&dyn zones::ZoneStore> {
        None
    }
    /// Applies pending migrations; returns the schema version.
    fn migrate(&self) -> Result<u32>;
    /// Ingests `palisade analyze --format ndjson` text in one transaction.
    fn ingest_ndjson(&self, body: &str) -> Result<IngestOutcome>;
    fn list_devices(&self, q: &DeviceQuery) -> Result<Page<DeviceRow>>;
    fn device(&self, mac: &str) -> Result<Option<DeviceDetail>>;
    fn list_alerts(&self, q: &AlertQuery) -> Result<Page<AlertRow>>;
    fn alert(&self, id: &str) -> Result<Option<(AlertRow, Vec<Transition>)>>;
    /// Moves an alert to `to` (audited); `Conflict` if the transition is not allowed.
    fn triage(&self, id: &str, to: TriageState, comment: &str, user: &str) -> Result<AlertRow>;
    /// Alerts stored after `after_seq` (for the live stream), with the newest sequence number.
    fn alerts_since(&self, after_seq: i64) -> Result<(Vec<AlertRow>, i64)>;
    fn stats(&self) -> Result<Stats>;
    fn event_count(&self) -> Result<u64>;
    fn has_event(&self, id: &str) -> Result<bool>;

    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User>;
    fn user_by_name(&self, name: &str) -> Result<Option<User>>;
    fn list_users(&self) -> Result<Vec<User>>;
    fn user_count(&self) -> Result<u64>;
    /// Replaces a user's password hash; `must_change` forces a change at the next login.
    fn set_password(&self, user_id: i64, password_hash: &str, must_change: bool) -> Result<()>;

    /// Stores a token by the SHA-256 of its secret (the secret itself is never stored).
    fn create_token(&self, name: &str, role: Role, hash: &[u8; 32], by: &str) -> Result<TokenInfo>;
    fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenInfo>>;
    fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
    fn revoke_token(&self, id: i64) -> Result<()>;

    fn create_session(
        &self,
        hash: &[u8; 32],
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<()>;
    fn session(&self, hash: &[u8; 32], now: i64) -> Result<Option<Session>>;
    fn delete_session(&self, hash: &[u8; 32]) -> Result<()>;

    fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<()>;

    /// Adds a suppression rule (at least one of `kind`, `device`; audited by the caller).
    fn create_suppression(
        &self,
        kind: Option<&str>,
        device: Option<&str>,
        reason: &str,
        by: &str,
        expires_at: Option<i64>,
    ) -> Result<Suppression>;
    /// Rules, newest first; expired ones only when `include_expired`.
    fn list_suppressions(&self, include_expired: bool) -> Result<Vec<Suppression>>;
    fn delete_suppression(&self, id: i64) -> Result<()>;

    /// Deletes event ids received before `events_before` (unix seconds; a later re-send of such
    /// an event is stored again), alerts (with their triage history) not reported since
    /// `alerts_before`, and suppression rules that expired before `alerts_before`.
    fn apply_retention(
        &self,
        events_before: Option<i64>,
        alerts_before: Option<i64>,
    ) -> Result<RetentionOutcome>;
    fn list_audit(&self, limit: u32, offset: u64) -> Result<Page<AuditEntry>>;

    /// Secrets are stored sealed (see [`crypto::Kek`]); the store never sees plaintext.
    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()>;
    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>>;
    fn secret_names(&self) -> Result<Vec<String>>;
}

/// Re-seals every stored secret from `old` to `new` (KEK rotation) in one pass.
pub fn rotate_secrets(store: &dyn Store, old: &crypto::Kek, new: &crypto::Kek) -> Result<usize> {
    let names = store.secret_names()?;
    let mut resealed = Vec::with_capacity(names.len());
    for n in &names {
        let sealed = store.secret(n)?.ok_or(StoreError::NotFound)?;
        let pt = old.open(n.as_bytes(), &sealed)?;
        resealed.push((n, new.seal(n.as_bytes(), &pt)?));
    }
    for (n, s) in &resealed {
        store.put_secret(n, s)?;
    }
    Ok(resealed.len())
}

/// Opens the hub's store: PostgreSQL ([`PgStore`]) when `database_url` is a `postgres://` or
/// `postgresql://` URL, else SQLite at `sqlite_path` (the single-binary default).
pub fn open_store(
    database_url: Option<&str>,
    sqlite_path: &std::path::Path,
) -> Result<std::sync::Arc<dyn Store>> {
    match database_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Ok(std::sync::Arc::new(PgStore::open(u)?))
        }
        Some(u) => Err(StoreError::Invalid(format!(
            "database_url: expected postgres://..., got {:?}",
            u.split(':').next().unwrap_or("")
        ))),
        None => Ok(std::sync::Arc::new(SqliteStore::open(sqlite_path)?)),
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
