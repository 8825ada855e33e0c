//! The sensor side: publish events with acks, spool what the bus did not acknowledge.
//!
//! Direct mode publishes pipelined (at most `max_in_flight` unacknowledged) and checks acks in
//! order. On the first failure (bus unreachable, ack timeout, stream full) the unconfirmed
//! events go to the spool, in order, and so does everything after them until the spool has been
//! replayed. Re-sent events keep their `Nats-Msg-Id`, so one that the stream had stored after
//! all is dropped as a duplicate (and by the store's event-id check outside the window).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::connection::State;
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;

use crate::spool::{Pos, Record, Spool, SpoolConfig};
use crate::{BusError, HEADER_PUBLISHED_NS, Result};

#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub spool: SpoolConfig,
    pub max_in_flight: usize,
    pub ack_timeout: Duration,
    /// Least time between two replay attempts while the bus is failing.
    pub retry_every: Duration,
}

impl PublisherConfig {
    pub fn new(spool: SpoolConfig) -> Self {
        PublisherConfig {
            spool,
            max_in_flight: 4096,
            ack_timeout: Duration::from_secs(5),
            retry_every: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PublishStats {
    /// Events the stream acknowledged (stored now or already stored).
    pub acked: u64,
    /// Of those, the ones the stream reported as duplicates (already stored in the window).
    pub duplicates: u64,
    /// Events written to the spool.
    pub spooled: u64,
    /// Events acknowledged on replay from the spool.
    pub replayed: u64,
    /// Events refused or deleted because the spool was full.
    pub dropped: u64,
    /// Events still in the spool.
    pub spool_pending: u64,
}

pub struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    spool: Spool,
    cfg: PublisherConfig,
    in_flight: VecDeque<(Record, PublishAckFuture)>,
    spooling: bool,
    last_attempt: Option<Instant>,
    stats: PublishStats,
}

impl Publisher {
    /// Opens the spool (left-over events from an earlier run are replayed before new ones).
    pub fn new(client: async_nats::Client, cfg: PublisherConfig) -> Result<Publisher> {
        let js = jetstream::ContextBuilder::new()
            .ack_timeout(cfg.ack_timeout)
            .max_ack_inflight(cfg.max_in_flight.max(1))
            .build(client.clone());
        let spool = Spool::open(cfg.spool.clone())?;
        let spooling = !spool.is_empty();
        if spooling {
            tracing::info!(
                "spool {}: {} events left from an earlier run are replayed first",
                spool.dir().display(),
                spool.pending()
            );
        }
        Ok(Publisher {
            client,
            js,
            spool,
            cfg,
            in_flight: VecDeque::new(),
            spooling,
            last_attempt: None,
            stats: PublishStats::default(),
        })
    }

    pub fn stats(&self) -> PublishStats {
        let mut s = self.stats.clone();
        s.spool_pending = self.spool.pending();
        s.dropped = self.spool.dropped();
        s
    }

    pub fn spooling(&self) -> bool {
        self.spooling
    }

    /// Publishes one NDJSON event line on `subject` (its id from [`crate::event_id`]).
    pub async fn send(&mut self, subject: &str, line: &str) -> Result<()> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let rec = Record {
            subject: subject.to_owned(),
            id: crate::event_id(line),
            published_ns: crate::now_ns(),
            payload: line.to_owned(),
        };
        self.send_record(rec).await
    }

    pub async fn send_record(&mut self, rec: Record) -> Result<()> {
        if self.spooling {
            self.spool_one(&rec)?;
            self.spool.flush()?;
            self.try_replay(false).await;
            return Ok(());
        }
        if self.client.connection_state() != State::Connected {
            self.start_spooling(None, Some(rec))?;
            return Ok(());
        }
        match self.publish(&rec).await {
            Ok(fut) => self.in_flight.push_back((rec, fut)),
            Err(e) => {
                tracing::warn!("publish failed, spooling: {e}");
                self.start_spooling(None, Some(rec))?;
                return Ok(());
            }
        }
        while self.in_flight.len() >= self.cfg.max_in_flight.max(1) {
            self.settle_front().await?;
            if self.spooling {
                break;
            }
        }
        Ok(())
    }

    async fn publish(&self, rec: &Record) -> std::result::Result<PublishAckFuture, String> {
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", rec.id.as_str());
        h.insert(HEADER_PUBLISHED_NS, rec.published_ns.to_string().as_str());
        self.js
            .publish_with_headers(
                rec.subject.clone(),
                h,
                Bytes::copy_from_slice(rec.payload.as_bytes()),
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// Awaits the oldest ack; on failure moves it and everything after it to the spool.
    async fn settle_front(&mut self) -> Result<()> {
        let Some((rec, fut)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match fut.await {
            Ok(ack) => {
                self.stats.acked += 1;
                self.stats.duplicates += u64::from(ack.duplicate);
                Ok(())
            }
            Err(e) => {
                tracing::warn!("event {} not acknowledged ({e}); spooling", rec.id);
                self.start_spooling(Some(rec), None)
            }
        }
    }

    fn spool_one(&mut self, rec: &Record) -> Result<()> {
        match self.spool.append(rec) {
            Ok(()) => {
                self.stats.spooled += 1;
                Ok(())
            }
            Err(BusError::SpoolFull { cap }) => {
                tracing::warn!("spool full ({cap} bytes): event {} dropped", rec.id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves `first`, all unconfirmed in-flight events, then `next` to the spool, in order.
    fn start_spooling(&mut self, first: Option<Record>, next: Option<Record>) -> Result<()> {
        self.spooling = true;
        self.last_attempt = Some(Instant::now());
        let pending: Vec<Record> = self.in_flight.drain(..).map(|(r, _)| r).collect();
        for r in first.iter().chain(&pending).chain(next.as_ref()) {
            self.spool_one(r)?;
        }
        self.spool.flush()
    }

    /// Replays the spool in order while the bus acknowledges; returns to direct mode once it is
    /// empty. Rate-limited unless `force`.
    async fn try_replay(&mut self, force: bool) -> bool {
        if !force
            && self
                .last_attempt
                .is_some_and(|t| t.elapsed() < self.cfg.retry_every)
        {
            return false;
        }
        self.last_attempt = Some(Instant::now());
        if self.client.connection_state() != State::Connected {
            return false;
        }
        loop {
            let batch = match self
                .spool
                .read(self.spool.cursor(), self.cfg.max_in_flight.max(1))
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("reading the spool: {e}");
                    return false;
                }
            };
            if batch.is_empty() {
                self.spooling = !self.spool.is_empty();
                return !self.spooling;
            }
            // Publish the batch pipelined, then confirm acks in order; commit the acked prefix.
            let mut futs = Vec::with_capacity(batch.len());
            for (rec, _) in &batch {
                match self.publish(rec).await {
                    Ok(f) => futs.push(f),
                    Err(e) => {
                        tracing::debug!("replay publish failed: {e}");
                        break;
                    }
                }
            }
            let mut done: Option<Pos> = None;
            let mut n = 0u64;
            let mut failed = futs.len() < batch.len();
            for (f, (_, pos)) in futs.into_iter().zip(&batch) {
                match f.await {
                    Ok(ack) => {
                        n += 1;
                        done = Some(*pos);
                        self.stats.acked += 1;
                        self.stats.replayed += 1;
                        self.stats.duplicates += u64::from(ack.duplicate);
                    }
                    Err(e) => {
                        tracing::debug!("replay ack failed: {e}");
                        failed = true;
                        break;
                    }
                }
            }
            if let Some(p) = done
                && let Err(e) = self.spool.commit(p, n)
            {
                tracing::warn!("committing the spool cursor: {e}");
                return false;
            }
            if failed {
                return false;
            }
        }
    }

    /// Waits for every in-flight ack and replays the spool until it is empty or `deadline`
    /// passes; what is left stays in the spool for the next run.
    pub async fn flush(&mut self, deadline: Duration) -> Result<PublishStats> {
        let until = Instant::now() + deadline;
        while !self.in_flight.is_empty() && !self.spooling {
            self.settle_front().await?;
        }
        while self.spooling && Instant::now() < until {
            if self.try_replay(true).await {
                break;
            }
            tokio::time::sleep(
                self.cfg
                    .retry_every
                    .min(until.saturating_duration_since(Instant::now())),
            )
            .await;
        }
        self.spool.flush()?;
        Ok(self.stats())
    }
}
