//! The event bus (issue 13): sensors publish their events (the NDJSON schema of
//! `palisade analyze --format ndjson`) to NATS JetStream and hub workers consume them into a
//! [`palisade_store::Store`].
//!
//! - Subjects are per site and sensor: `palisade.events.<site>.<sensor>` ([`subject`]).
//! - One durable, file-backed stream with a de-duplication window; every message carries
//!   `Nats-Msg-Id` = the event id ([`event_id`], the same id the store deduplicates on), so a
//!   re-sent event is dropped by the stream inside the window and by the store after it.
//! - [`publisher::Publisher`] publishes with acks (pipelined, bounded in flight) and falls back to
//!   a bounded on-disk [`spool::Spool`] when the bus is unreachable, replayed in order first.
//! - [`worker::run_worker`] is a durable pull consumer (a shared durable name splits the work
//!   between workers) that acks a message only after the store write has committed.
//!
//! This crate is a service crate like the hub: it runs on tokio (async-nats needs it).

#![forbid(unsafe_code)]

pub mod latency;
pub mod publisher;
pub mod spool;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

pub use async_nats;
use async_nats::jetstream;
use sha2::{Digest, Sha256};

/// Default stream name.
pub const DEFAULT_STREAM: &str = "PALISADE_EVENTS";
/// Subjects are `<SUBJECT_PREFIX>.<site>.<sensor>`.
pub const SUBJECT_PREFIX: &str = "palisade.events";
/// Header carrying the publish time (unix nanoseconds) for end-to-end latency.
pub const HEADER_PUBLISHED_NS: &str = "Palisade-Published-Ns";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    #[error("connecting to NATS at {url}: {why}")]
    Connect { url: String, why: String },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("spool {path}: {why}")]
    Spool { path: PathBuf, why: String },
    #[error("spool full ({cap} bytes): event not queued")]
    SpoolFull { cap: u64 },
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("store: {0}")]
    Store(#[from] palisade_store::StoreError),
}

pub type Result<T> = std::result::Result<T, BusError>;

/// How to reach the bus: URL(s), TLS and this client's credentials.
#[derive(Debug, Clone, Default)]
pub struct ConnectConfig {
    /// `nats://host:port` or `tls://host:port`; several separated by commas.
    pub url: String,
    /// CA certificate (PEM) to verify the server with; implies TLS.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub require_tls: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    /// A `.creds` file (JWT + nkey seed) from an operator/account setup.
    pub creds: Option<PathBuf>,
    /// A file holding an nkey seed (`SU...`).
    pub nkey_seed: Option<PathBuf>,
    /// Connection name shown by the server (`nats-server` monitoring, logs).
    pub name: String,
}

/// Connects; the client keeps reconnecting in the background (forever, backing off to 1 s), so
/// an unreachable bus at start is not an error: publishers spool until it is back.
pub async fn connect(cfg: &ConnectConfig) -> Result<async_nats::Client> {
    let err = |why: String| BusError::Connect {
        url: cfg.url.clone(),
        why,
    };
    let mut o = match &cfg.creds {
        Some(p) => async_nats::ConnectOptions::with_credentials_file(p)
            .await
            .map_err(|e| BusError::File {
                path: p.clone(),
                source: e,
            })?,
        None => async_nats::ConnectOptions::new(),
    };
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        o = o.user_and_password(u.clone(), p.clone());
    } else if cfg.user.is_some() || cfg.password.is_some() {
        return Err(BusError::Invalid {
            what: "credentials",
            why: "a NATS user needs a password and a password needs a user".into(),
        });
    }
    if let Some(p) = &cfg.nkey_seed {
        let seed = std::fs::read_to_string(p).map_err(|e| BusError::File {
            path: p.clone(),
            source: e,
        })?;
        o = o.nkey(seed.trim().to_owned());
    }
    if let Some(ca) = &cfg.ca {
        o = o.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&cfg.client_cert, &cfg.client_key) {
        (Some(c), Some(k)) => o = o.add_client_certificate(c.clone(), k.clone()),
        (None, None) => {}
        _ => {
            return Err(BusError::Invalid {
                what: "TLS client identity",
                why: "a client certificate needs its key and a key its certificate".into(),
            });
        }
    }
    if cfg.require_tls {
        o = o.require_tls(true);
    }
    if !cfg.name.is_empty() {
        o = o.name(cfg.name.clone());
    }
    o = o
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).min(1000))
        });
    o.connect(cfg.url.as_str())
        .await
        .map_err(|e| err(e.to_string()))
}

/// Stream settings shared by the hub side (it creates the stream; sensors only publish).
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub name: String,
    /// Messages with the same `Nats-Msg-Id` inside this window are stored once.
    pub duplicate_window: Duration,
    /// Size cap; when full the stream refuses new events (sensors spool) rather than dropping
    /// unconsumed ones.
    pub max_bytes: i64,
    /// Events older than this are removed (consumed or not).
    pub max_age: Duration,
    pub replicas: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: DEFAULT_STREAM.into(),
            duplicate_window: Duration::from_secs(120),
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(7 * 24 * 3600),
            replicas: 1,
        }
    }
}

/// Creates the stream (file storage, subjects `palisade.events.>`) or returns the existing one.
pub async fn ensure_stream(
    js: &jetstream::Context,
    s: &StreamSettings,
) -> Result<jetstream::stream::Stream> {
    check_token("stream name", &s.name)?;
    js.get_or_create_stream(jetstream::stream::Config {
        name: s.name.clone(),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        storage: jetstream::stream::StorageType::File,
        retention: jetstream::stream::RetentionPolicy::Limits,
        discard: jetstream::stream::DiscardPolicy::New,
        duplicate_window: s.duplicate_window,
        max_bytes: s.max_bytes,
        max_age: s.max_age,
        num_replicas: s.replicas.max(1),
        ..Default::default()
    })
    .await
    .map_err(|e| BusError::JetStream(format!("creating stream {}: {e}", s.name)))
}

/// `palisade.events.<site>.<sensor>`; both names must be single subject tokens.
pub fn subject(site: &str, sensor: &str) -> Result<String> {
    check_token("site", site)?;
    check_token("sensor", sensor)?;
    Ok(format!("{SUBJECT_PREFIX}.{site}.{sensor}"))
}

/// Names that go into subjects: letters, digits, `-` and `_` (no `.`, wildcards or spaces).
pub fn check_token(what: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 64 {
        return Err(BusError::Invalid {
            what,
            why: format!("{s:?} must be 1 to 64 characters"),
        });
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(BusError::Invalid {
            what,
            why: format!("{s:?} contains {c:?}; use letters, digits, '-' and '_'"),
        });
    }
    Ok(())
}

/// The event id of an NDJSON event line, exactly as the store computes it: the line's
/// `event_id` when present (1 to 128 bytes), else the hex of the first 16 bytes of the SHA-256
/// of the trimmed line (the same line always gets the same id).
pub fn event_id(line: &str) -> String {
    let line = line.trim();
    if line.contains("\"event_id\"") {
        #[derive(serde::Deserialize)]
        struct Head {
            event_id: Option<String>,
        }
        if let Ok(Head { event_id: Some(id) }) = serde_json::from_str::<Head>(line)
            && !id.is_empty()
            && id.len() <= 128
        {
            return id;
        }
    }
    let digest = Sha256::digest(line.as_bytes());
    let mut s = String::with_capacity(32);
    for b in &digest[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Unix time in nanoseconds (publish stamps and latency are wall clock: they span processes).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_validated_tokens() {
        assert_eq!(
            subject("site-1", "s_2").unwrap(),
            "palisade.events.site-1.s_2"
        );
        assert!(subject("a.b", "s").is_err());
        assert!(subject("a", "*").is_err());
        assert!(subject("", "s").is_err());
        assert!(subject("a", "with space").is_err());
    }

    #[test]
    fn event_id_is_explicit_or_the_content_hash() {
        assert_eq!(event_id(r#"{"type":"alert","event_id":"abc"}"#), "abc");
        let a = event_id(r#"{"type":"device","mac":"02:00:00:00:00:01"}"#);
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            event_id(" {\"type\":\"device\",\"mac\":\"02:00:00:00:00:01\"} ")
        );
        assert_ne!(
            a,
            event_id(r#"{"type":"device","mac":"02:00:00:00:00:02"}"#)
        );
        // An empty explicit id falls back to the hash, as in the store.
        assert_eq!(event_id(r#"{"event_id":""}"#).len(), 32);
    }
}
