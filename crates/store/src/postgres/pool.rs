//! A small bounded connection pool: at most `max` clients, opened lazily, handed out LIFO;
//! a caller waits (up to [`WAIT`]) when all are busy. A client found closed (the server went
//! away) is dropped and a new one is opened on the next call, so the store recovers by itself
//! after PostgreSQL restarts.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use ::postgres::{Client, Config, NoTls};

use crate::{Result, StoreError};

/// Longest wait for a free connection before an error.
const WAIT: Duration = Duration::from_secs(30);

struct Slots {
    idle: Vec<Client>,
    /// Open clients, idle or lent.
    open: usize,
}

pub(crate) struct Pool {
    config: Config,
    max: usize,
    slots: Mutex<Slots>,
    freed: Condvar,
}

impl Pool {
    pub(crate) fn new(config: Config, max: usize) -> Pool {
        Pool {
            config,
            max: max.max(1),
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Closes the idle connections (after one was found dead).
    pub(crate) fn discard_idle(&self) {
        let idle = {
            let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let idle = std::mem::take(&mut s.idle);
            s.open -= idle.len();
            idle
        };
        // Dropping a client blocks on its runtime; callers are never on an async runtime's
        // thread here (see `off_runtime`).
        drop(idle);
        self.freed.notify_all();
    }

    pub(crate) fn get(&self) -> Result<Lent<'_>> {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(c) = s.idle.pop() {
                if c.is_closed() {
                    s.open -= 1;
                    continue;
                }
                return Ok(Lent {
                    pool: self,
                    client: Some(c),
                });
            }
            if s.open < self.max {
                s.open += 1;
                drop(s);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Lent {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
                        s.open -= 1;
                        self.freed.notify_one();
                        Err(e.into())
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Io(format!(
                    "postgres: no free connection in {}s (pool of {})",
                    WAIT.as_secs(),
                    self.max
                )));
            }
            s = self
                .freed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A client lent by the pool; returned when dropped.
pub(crate) struct Lent<'p> {
    pool: &'p Pool,
    client: Option<Client>,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("lent client present until drop")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("lent client present until drop")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let mut s = self.pool.slots.lock().unwrap_or_else(|p| p.into_inner());
        match self.client.take() {
            Some(c) if !c.is_closed() => s.idle.push(c),
            _ => s.open -= 1,
        }
        self.pool.freed.notify_one();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics on an async runtime's
        // thread (a hub dropping its store there): close them on a helper thread.
        let idle =
            std::mem::take(&mut self.slots.get_mut().unwrap_or_else(|p| p.into_inner()).idle);
        if !idle.is_empty() {
            std::thread::scope(|s| {
                s.spawn(move || drop(idle));
            });
        }
    }
}
