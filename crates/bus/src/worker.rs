//! The hub side: a durable pull consumer that writes events to the store.
//!
//! Every worker binds the same durable consumer, so JetStream hands each message to one of
//! them. A batch is written in one store transaction and acknowledged only after it committed;
//! a worker that dies before acking has its messages redelivered after `ack_wait`, and the
//! store's event-id check makes that second write a no-op. Lines the store rejects as invalid are
//! terminated (never redelivered) and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
use palisade_store::Store;

use crate::latency::Histogram;
use crate::{BusError, HEADER_PUBLISHED_NS, Result, SUBJECT_PREFIX, StreamSettings};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub stream: StreamSettings,
    /// Durable consumer name shared by all workers of one hub.
    pub durable: String,
    /// Most messages written in one store transaction.
    pub batch: usize,
    /// Redelivery delay for messages a worker took but never acknowledged.
    pub ack_wait: Duration,
    /// Most messages handed out and not yet acknowledged, over all workers.
    pub max_ack_pending: i64,
    /// Subject filter (default all sites: `palisade.events.>`).
    pub filter: String,
    /// How long a worker waits for a batch to fill once its first message arrived. Under load
    /// batches fill to `batch` long before; when idle this bounds the added latency.
    pub linger: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            stream: StreamSettings::default(),
            durable: "palisade-hub".into(),
            batch: 1000,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 50_000,
            filter: format!("{SUBJECT_PREFIX}.>"),
            linger: Duration::from_millis(25),
        }
    }
}

/// Counters of one or more workers (shared, updated as batches commit).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub messages: AtomicU64,
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub ignored: AtomicU64,
    pub rejected: AtomicU64,
    pub batches: AtomicU64,
    pub store_retries: AtomicU64,
    /// Time spent in store writes (nanoseconds, summed over workers).
    pub store_ns: AtomicU64,
    /// Publish stamp to store commit.
    pub latency: Mutex<Histogram>,
}

impl WorkerStats {
    pub fn snapshot(&self) -> serde_json::Value {
        let h = self.latency.lock().map(|h| h.clone()).unwrap_or_default();
        serde_json::json!({
            "messages": self.messages.load(Ordering::Relaxed),
            "accepted": self.accepted.load(Ordering::Relaxed),
            "duplicates": self.duplicates.load(Ordering::Relaxed),
            "ignored": self.ignored.load(Ordering::Relaxed),
            "rejected": self.rejected.load(Ordering::Relaxed),
            "batches": self.batches.load(Ordering::Relaxed),
            "store_retries": self.store_retries.load(Ordering::Relaxed),
            "store_s": self.store_ns.load(Ordering::Relaxed) as f64 / 1e9,
            "latency_p50_ms": h.quantile_ms(0.5),
            "latency_p99_ms": h.quantile_ms(0.99),
        })
    }
}

/// Creates the stream if needed and binds the shared durable pull consumer.
pub async fn bind_consumer(
    js: &jetstream::Context,
    cfg: &WorkerConfig,
) -> Result<jetstream::consumer::Consumer<pull::Config>> {
    crate::check_token("durable name", &cfg.durable)?;
    let stream = crate::ensure_stream(js, &cfg.stream).await?;
    stream
        .get_or_create_consumer(
            &cfg.durable,
            pull::Config {
                durable_name: Some(cfg.durable.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: cfg.ack_wait,
                max_ack_pending: cfg.max_ack_pending,
                filter_subject: cfg.filter.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| BusError::JetStream(format!("consumer {}: {e}", cfg.durable)))
}

/// Consumer lag: (messages not yet delivered, delivered but not acknowledged).
pub async fn lag(js: &jetstream::Context, cfg: &WorkerConfig) -> Result<(u64, u64)> {
    let mut c: jetstream::consumer::Consumer<pull::Config> = js
        .get_consumer_from_stream(&cfg.durable, &cfg.stream.name)
        .await
        .map_err(|e| BusError::JetStream(e.to_string()))?;
    let i = c
        .info()
        .await
        .map_err(|e| BusError::JetStream(e.to_string()))?;
    Ok((i.num_pending, i.num_ack_pending as u64))
}

/// Runs until `stop` turns true (or the connection is dropped for good).
pub async fn run_worker(
    client: async_nats::Client,
    store: Arc<dyn Store>,
    cfg: WorkerConfig,
    stats: Arc<WorkerStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let js = jetstream::new(client);
    let batch = cfg.batch.clamp(1, 10_000);
    let mut in_flight: Option<tokio::task::JoinHandle<bool>> = None;
    'outer: while !*stop.borrow() {
        let consumer = match bind_consumer(&js, &cfg).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("worker: {e}; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        let messages = match consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("worker: pulling from {}: {e}; retrying", cfg.durable);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut messages = messages;
        loop {
            // Wait for a first message, then fill the batch up to `batch` or `linger`, while
            // the previous batch is still being written (one write in flight per worker).
            let first = tokio::select! {
                m = messages.next() => m,
                _ = stop.changed() => break 'outer,
            };
            let Some(first) = first else {
                tracing::warn!("worker: message stream ended; re-binding");
                continue 'outer;
            };
            let mut msgs = Vec::with_capacity(batch);
            let mut ended = false;
            match first {
                Ok(m) => msgs.push(m),
                Err(e) => tracing::debug!("worker: pull: {e}"),
            }
            let until = tokio::time::Instant::now() + cfg.linger;
            while !msgs.is_empty() && msgs.len() < batch {
                match tokio::time::timeout_at(until, messages.next()).await {
                    Ok(Some(Ok(m))) => msgs.push(m),
                    Ok(Some(Err(e))) => tracing::debug!("worker: pull: {e}"),
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if let Some(previous) = in_flight.take()
                && !previous.await.unwrap_or(false)
            {
                break 'outer;
            }
            if !msgs.is_empty() {
                in_flight = Some(tokio::spawn(write_batch(
                    store.clone(),
                    msgs,
                    stats.clone(),
                    stop.clone(),
                )));
            }
            if ended {
                tracing::warn!("worker: message stream ended; re-binding");
                continue 'outer;
            }
        }
    }
    // Let the last write finish and acknowledge before the connection goes.
    if let Some(last) = in_flight.take() {
        let _ = last.await;
    }
    Ok(())
}

/// Writes and acknowledges one batch; false when stopped before the store accepted it.
async fn write_batch(
    store: Arc<dyn Store>,
    msgs: Vec<jetstream::Message>,
    stats: Arc<WorkerStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> bool {
    // One event per line; a payload with a line break is split by the store and would shift
    // line numbers, so such a message is terminated as invalid up front.
    let mut body = String::with_capacity(msgs.iter().map(|m| m.payload.len() + 1).sum());
    let mut lines: Vec<usize> = Vec::with_capacity(msgs.len());
    let mut bad = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        match std::str::from_utf8(&m.payload) {
            Ok(t) if !t.contains(['\n', '\r']) && !t.trim().is_empty() => {
                body.push_str(t);
                body.push('\n');
                lines.push(i);
            }
            _ => bad.push(i),
        }
    }
    let body = Arc::new(body);
    let mut delay = Duration::from_millis(100);
    let outcome = loop {
        let s = store.clone();
        let b = body.clone();
        let started = std::time::Instant::now();
        let r = tokio::task::spawn_blocking(move || s.ingest_ndjson(&b)).await;
        stats
            .store_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match r {
            Ok(Ok(o)) => break o,
            Ok(Err(e)) => tracing::warn!("worker: store write failed ({e}); retrying in {delay:?}"),
            Err(e) => tracing::warn!("worker: store task failed ({e}); retrying in {delay:?}"),
        }
        stats.store_retries.fetch_add(1, Ordering::Relaxed);
        // Keep the batch ours while the store is down, so it is not redelivered meanwhile.
        for m in &msgs {
            let _ = m.ack_with(AckKind::Progress).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return false,
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    };
    let now = crate::now_ns();
    for &(line, _) in &outcome.rejected {
        if let Some(&i) = lines.get(line.wrapping_sub(1)) {
            bad.push(i);
        }
    }
    bad.sort_unstable();
    bad.dedup();
    let mut latencies = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let r = if bad.binary_search(&i).is_ok() {
            tracing::warn!(
                "worker: terminating an invalid event (subject {})",
                m.subject
            );
            m.ack_with(AckKind::Term).await
        } else {
            m.ack().await
        };
        if let Err(e) = r {
            tracing::debug!("worker: ack: {e}");
        }
        let published = m
            .headers
            .as_ref()
            .and_then(|h| h.get(HEADER_PUBLISHED_NS))
            .and_then(|v| v.as_str().parse::<u64>().ok());
        if let Some(p) = published {
            latencies.push(now.saturating_sub(p));
        }
    }
    stats
        .messages
        .fetch_add(msgs.len() as u64, Ordering::Relaxed);
    stats
        .accepted
        .fetch_add(outcome.accepted, Ordering::Relaxed);
    stats
        .duplicates
        .fetch_add(outcome.duplicates, Ordering::Relaxed);
    stats.ignored.fetch_add(outcome.ignored, Ordering::Relaxed);
    stats
        .rejected
        .fetch_add(bad.len() as u64, Ordering::Relaxed);
    stats.batches.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut h) = stats.latency.lock() {
        for ns in latencies {
            h.record_ns(ns);
        }
    }
    true
}
