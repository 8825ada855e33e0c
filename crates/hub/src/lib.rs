//! The hub (`palisade serve`, DESIGN.md §2 and §9): REST API under `/api/v1` described by an
//! OpenAPI 3.1 document, users and roles (argon2id passwords, hashed API tokens, cookie sessions
//! with CSRF), the server-rendered console, ingest of sensor NDJSON, TLS (rustls, ring) and
//! secrets sealed under a key-encryption key.

mod api;
pub mod attest;
mod auth;
pub mod broker_sync;
pub mod client;
mod console;
pub mod est;
pub mod gateway;
pub mod openapi;
mod rollout;
mod tls;
mod zones;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use serde::Deserialize;

use palisade_store::crypto::Kek;
use palisade_store::{Role, Store};

pub use auth::{hash_password, new_token};
pub use palisade_store as store;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    #[error("{0}")]
    Tls(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Hub settings (the `[hub]` file of `palisade serve --config`; flags override it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Address to listen on (default 127.0.0.1:8443).
    pub listen: SocketAddr,
    /// Database, key-encryption key and generated certificate live here.
    pub data_dir: PathBuf,
    /// Serve HTTPS (default). Plain HTTP only when false.
    pub tls: bool,
    /// PEM certificate chain and private key; a self-signed pair is generated when absent.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Key-encryption key file (default DATA_DIR/kek, created 0600).
    pub kek_file: Option<PathBuf>,
    /// Console session lifetime in seconds.
    pub session_ttl_s: i64,
    /// Event ids (the idempotency ledger) older than this many days are deleted; 0 keeps them.
    pub retention_events_days: u32,
    /// Alerts not reported for this many days are deleted with their triage history; 0 keeps them.
    pub retention_alerts_days: u32,
    /// In-process sensor: captures that appear in this folder are analysed and ingested
    /// (`palisade serve --watch DIR`).
    pub watch_dir: Option<PathBuf>,
    /// mTLS device gateway listen address (issue 10); needs the CA in DATA_DIR/ca.
    pub gateway_listen: Option<SocketAddr>,
    /// Manufacturer CA bundle (PEM): IDevIDs chaining to it may enroll on the gateway.
    pub gateway_manufacturer_ca: Option<PathBuf>,
    /// Certificate ids allowed to ingest sensor events over the gateway (`*` suffix = prefix).
    pub gateway_ingest_ids: Vec<String>,
    /// Mosquitto policy directory (from `palisade ca broker`): its CRL and ACL are rewritten
    /// whenever the CA's ledger changes (enrollment, revocation).
    pub broker_dir: Option<PathBuf>,
    /// Mosquitto's pid file: the broker is sent SIGHUP after each rewrite.
    pub broker_pid_file: Option<PathBuf>,
    /// PostgreSQL instead of SQLite (issue 13): `postgres://user@host:port/db[?pool_max=N]`.
    /// Unset (the default): SQLite in DATA_DIR/hub.db.
    pub database_url: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("palisade-data"),
            tls: true,
            tls_cert: None,
            tls_key: None,
            kek_file: None,
            session_ttl_s: 8 * 3600,
            retention_events_days: 90,
            retention_alerts_days: 365,
            watch_dir: None,
            gateway_listen: None,
            gateway_manufacturer_ca: None,
            gateway_ingest_ids: vec!["sensor-*".into()],
            broker_dir: None,
            broker_pid_file: None,
            database_url: None,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub(crate) struct Metrics {
    pub requests: AtomicU64,
    pub auth_failures: AtomicU64,
    pub ingest_events: AtomicU64,
    pub ingest_duplicates: AtomicU64,
    pub ingest_batches: AtomicU64,
}

pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub secure_cookies: bool,
    pub session_ttl_s: i64,
    pub limiter: auth::LoginLimiter,
    pub metrics: Metrics,
    pub new_alerts: tokio::sync::watch::Sender<u64>,
    /// The data directory (attestation results for the device page live under it).
    pub data_dir: PathBuf,
}

/// Retention periods in seconds (`None` = keep).
#[derive(Clone, Copy)]
struct Retention {
    events_s: Option<i64>,
    alerts_s: Option<i64>,
}

impl Retention {
    fn from_config(cfg: &HubConfig) -> Self {
        let secs = |d: u32| (d > 0).then_some(i64::from(d) * 86_400);
        Retention {
            events_s: secs(cfg.retention_events_days),
            alerts_s: secs(cfg.retention_alerts_days),
        }
    }

    /// Deletes what is past retention now.
    fn apply(self, store: &dyn Store) -> Result<palisade_store::RetentionOutcome, HubError> {
        let now = palisade_store::now();
        Ok(store.apply_retention(
            self.events_s.map(|s| now - s),
            self.alerts_s.map(|s| now - s),
        )?)
    }
}

/// How often retention runs while serving.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// A prepared hub: store open and migrated, admin and KEK present, TLS material ready.
pub struct Hub {
    state: Arc<AppState>,
    tls: Option<Arc<rustls::ServerConfig>>,
    listen: SocketAddr,
    retention: Retention,
    /// The first-start admin password (to be printed once), when the admin was created now.
    pub initial_admin_password: Option<String>,
    /// Where the (public) server certificate was written, with TLS on.
    pub cert_path: Option<PathBuf>,
    /// EST enrollment against the CA in DATA_DIR/ca (issue 10).
    est: Arc<est::Est>,
    /// The TUF update repository served at /updates/ (issue 9).
    updates_dir: PathBuf,
}

impl Hub {
    /// Opens the data directory, applies migrations, creates the KEK and the first admin
    /// (with a random password, returned once) and the TLS certificate when needed.
    pub fn prepare(cfg: &HubConfig) -> Result<Hub, HubError> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        restrict_dir(&cfg.data_dir);
        let kek_path = cfg
            .kek_file
            .clone()
            .unwrap_or_else(|| cfg.data_dir.join("kek"));
        let (kek, created) = Kek::load_or_create(&kek_path)?;
        if created {
            tracing::info!("created key-encryption key {}", kek_path.display());
        }
        let store: Arc<dyn Store> =
            palisade_store::open_store(cfg.database_url.as_deref(), &cfg.data_dir.join("hub.db"))?;
        let initial_admin_password = if store.user_count()? == 0 {
            let pw = auth::random_password();
            let admin = store.create_user("admin", Role::Admin, &hash_password(&pw))?;
            // The printed password is one-time: the console asks for a new one first.
            store.set_password(admin.id, &admin.password_hash, true)?;
            store.audit(
                "system",
                "user.create",
                "admin",
                "first-start administrator",
            )?;
            Some(pw)
        } else {
            None
        };
        let (tls, cert_path) = if cfg.tls {
            let (c, p) = tls::server_config(cfg, store.as_ref(), &kek)?;
            (Some(c), Some(p))
        } else {
            (None, None)
        };
        let (tx, _) = tokio::sync::watch::channel(0);
        Ok(Hub {
            state: Arc::new(AppState {
                store,
                secure_cookies: cfg.tls,
                session_ttl_s: cfg.session_ttl_s.max(60),
                limiter: auth::LoginLimiter::default(),
                metrics: Metrics::default(),
                new_alerts: tx,
                data_dir: cfg.data_dir.clone(),
            }),
            tls,
            listen: cfg.listen,
            retention: Retention::from_config(cfg),
            initial_admin_password,
            cert_path,
            est: Arc::new(est::Est::new(cfg.data_dir.join("ca"), kek_path)),
            updates_dir: cfg.data_dir.join("updates"),
        })
    }

    /// The mTLS device gateway of `cfg.gateway_listen` (issue 10), writing to this hub's store.
    pub fn gateway(&self, cfg: &HubConfig) -> Result<Option<gateway::Gateway>, HubError> {
        let Some(listen) = cfg.gateway_listen else {
            return Ok(None);
        };
        let mut g = gateway::GatewayConfig::for_data_dir(&cfg.data_dir, listen);
        if let Some(k) = &cfg.kek_file {
            g.kek_file = k.clone();
        }
        g.manufacturer_ca = cfg.gateway_manufacturer_ca.clone();
        g.ingest_ids = cfg.gateway_ingest_ids.clone();
        Ok(Some(
            gateway::Gateway::prepare(&g)?.with_hub(self.state.clone()),
        ))
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The axum application (API + console).
    pub fn router(&self) -> Router {
        api::router(self.state.clone())
            .merge(console::router(self.state.clone()))
            .merge(rollout::router(self.state.clone()))
            .merge(rollout::updates_router(
                self.state.clone(),
                self.updates_dir.clone(),
            ))
            .merge(est::router(self.est.clone()))
            .merge(zones::router(self.state.clone()))
    }

    /// Binds the listener; returns the bound address and a future that serves until `shutdown`.
    pub async fn bind(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<
        (
            SocketAddr,
            impl std::future::Future<Output = std::io::Result<()>>,
        ),
        HubError,
    > {
        let app = self.router();
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let (store, retention) = (self.state.store.clone(), self.retention);
        let fut = async move {
            // Retention at start, then hourly, for as long as the server runs.
            let sweeper = tokio::spawn(async move {
                let mut tick = tokio::time::interval(RETENTION_EVERY);
                loop {
                    tick.tick().await;
                    let s = store.clone();
                    match tokio::task::spawn_blocking(move || retention.apply(s.as_ref())).await {
                        Ok(Ok(o)) if o.events + o.alerts + o.expired_suppressions > 0 => {
                            tracing::info!(
                                "retention: deleted {} event ids, {} alerts, {} expired suppression rules",
                                o.events,
                                o.alerts,
                                o.expired_suppressions
                            )
                        }
                        Ok(Err(e)) => tracing::warn!("retention: {e}"),
                        _ => {}
                    }
                }
            });
            let served = async move {
                match self.tls {
                    Some(cfg) => {
                        let l = tls::TlsListener::new(listener, cfg);
                        axum::serve(l, app).with_graceful_shutdown(shutdown).await
                    }
                    None => {
                        axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await
                    }
                }
            }
            .await;
            sweeper.abort();
            served
        };
        Ok((addr, fut))
    }
}

/// Rotates the key-encryption key: re-seals every stored secret under a new key, then
/// replaces the key file (the old one is kept as `kek.old` until the next rotation).
pub fn rotate_kek(cfg: &HubConfig) -> Result<usize, HubError> {
    let kek_path = cfg
        .kek_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("kek"));
    let (old, _) = Kek::load_or_create(&kek_path)?;
    let new_path = kek_path.with_extension("new");
    let _ = std::fs::remove_file(&new_path);
    let new = Kek::create_new(&new_path)?;
    let store =
        palisade_store::open_store(cfg.database_url.as_deref(), &cfg.data_dir.join("hub.db"))?;
    let n = palisade_store::rotate_secrets(store.as_ref(), &old, &new)?;
    let old_path = kek_path.with_extension("old");
    let _ = std::fs::remove_file(&old_path);
    std::fs::rename(&kek_path, &old_path)?;
    std::fs::rename(&new_path, &kek_path)?;
    store.audit(
        "system",
        "kek.rotate",
        &kek_path.display().to_string(),
        &format!("{n} secrets re-sealed"),
    )?;
    Ok(n)
}

fn restrict_dir(p: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
    }
    #[cfg(not(unix))]
    let _ = p;
}

/// Minimal HTML escaping for the server-rendered console.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}
