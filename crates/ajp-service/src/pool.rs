//! The connection pool of one backend.
//!
//! * A semaphore bounds the connections **in use** (`max_connections`); a request waits
//!   for a permit at most `acquire_timeout`, then fails with a connect error (503).
//! * Idle connections wait on a LIFO stack (the most recently used first, so the rest can
//!   expire), at most `max_idle` of them, each for at most `idle_timeout`; a background
//!   task (started with the first request, ended with the pool) closes expired ones.
//! * A connection goes back only through [`Pooled::release`] with `reusable = true`,
//!   which the exchange calls after END_RESPONSE(reuse = 1) with nothing left unread or
//!   unwritten. Dropping a [`Pooled`] any other way closes it: after any doubt, a
//!   connection is never reused.
//! * Before an idle connection is reused it must be silent: readable bytes or EOF mean the
//!   container closed it or broke the protocol (httpd PR 57832). Optionally a CPING must
//!   be answered by a CPONG first.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ajp_codec::{ContainerMessage, PacketSize, ProxyMessage};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, debug_span, trace};

use crate::backend::Backend;
use crate::conn::Conn;
use crate::error::{Error, Kind};
use crate::stats::Stats;

/// When to probe a connection with CPING/CPONG before using it (mod_jk's `ping_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpingMode {
    /// Never send CPING.
    Never,
    /// Once, right after connecting (mod_jk `C`).
    AfterConnect,
    /// Before every request, on new and reused connections (mod_jk `P`, httpd `ping=`).
    BeforeRequest,
    /// Before reusing a connection that sat idle longer than this (a cheap middle way).
    IdleLongerThan(Duration),
}

#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_connections: usize,
    pub(crate) max_idle: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) acquire_timeout: Duration,
    pub(crate) cping: CpingMode,
    pub(crate) cping_timeout: Duration,
}

#[derive(Debug)]
pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    backend: Backend,
    packet_size: PacketSize,
    config: PoolConfig,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
    /// Whether the background task that closes expired idle connections runs.
    reaper: AtomicBool,
}

impl Pool {
    pub(crate) fn new(
        backend: Backend,
        packet_size: PacketSize,
        config: PoolConfig,
        stats: Arc<Stats>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_connections));
        Self {
            inner: Arc::new(PoolInner {
                backend,
                packet_size,
                idle: Mutex::new(Vec::with_capacity(config.max_idle.min(1024))),
                config,
                permits,
                stats,
                reaper: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// Connections waiting in the pool now.
    pub(crate) fn idle_count(&self) -> usize {
        self.inner.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Connections in use now.
    pub(crate) fn in_use(&self) -> usize {
        self.inner.config.max_connections - self.inner.permits.available_permits()
    }

    /// A connection for one request: a healthy idle one if there is one, else a new one.
    /// With `fresh`, never an idle one (used to retry after a stale connection failed).
    pub(crate) async fn checkout(&self, fresh: bool) -> Result<Pooled, Error> {
        let inner = &self.inner;
        if !inner.reaper.swap(true, Ordering::Relaxed) {
            tokio::spawn(reap(Arc::downgrade(inner)));
        }
        let permit = tokio::time::timeout(
            inner.config.acquire_timeout,
            inner.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| Error::new(Kind::Connect).with("no backend connection became free in time"))?
        .expect("the pool never closes its semaphore");

        if !fresh {
            while let Some(mut conn) = self.pop_idle() {
                let probe = match inner.config.cping {
                    CpingMode::BeforeRequest => true,
                    CpingMode::IdleLongerThan(d) => conn.idle_since.elapsed() > d,
                    CpingMode::Never | CpingMode::AfterConnect => false,
                };
                if probe && let Err(e) = cping(&mut conn, inner.config.cping_timeout).await {
                    debug!(parent: &conn.span, error = %e, "idle connection failed CPING; closing it");
                    inner.stats.closed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                inner.stats.reused.fetch_add(1, Ordering::Relaxed);
                trace!(parent: &conn.span, "reusing pooled connection");
                conn.received = false;
                return Ok(Pooled {
                    conn: Some(conn),
                    _permit: permit,
                    pool: Arc::downgrade(inner),
                    reused: true,
                });
            }
        }

        let io = tokio::time::timeout(inner.config.connect_timeout, inner.backend.connect())
            .await
            .map_err(|_| Error::new(Kind::Connect).with("connect timed out"))?
            .map_err(|e| Error::new(Kind::Connect).with(e))?;
        let id = inner.stats.opened.fetch_add(1, Ordering::Relaxed) + 1;
        let span = debug_span!(parent: None, "ajp_conn", id, backend = %inner.backend);
        let mut conn = Conn::new(io, inner.packet_size, id, span);
        debug!(parent: &conn.span, "opened backend connection");
        if matches!(
            inner.config.cping,
            CpingMode::AfterConnect | CpingMode::BeforeRequest
        ) {
            cping(&mut conn, inner.config.cping_timeout)
                .await
                .map_err(|e| Error::new(Kind::Connect).with(e))?;
        }
        Ok(Pooled {
            conn: Some(conn),
            _permit: permit,
            pool: Arc::downgrade(inner),
            reused: false,
        })
    }

    /// The most recently used idle connection that is still alive; drops expired and dead
    /// ones on the way.
    fn pop_idle(&self) -> Option<Conn> {
        let inner = &self.inner;
        let mut idle = inner.idle.lock().ok()?;
        while let Some(conn) = idle.pop() {
            if conn.idle_since.elapsed() > inner.config.idle_timeout || conn.is_dead_while_idle() {
                trace!(parent: &conn.span, "dropping expired or closed idle connection");
                inner.stats.closed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Some(conn);
        }
        None
    }
}

/// Closes idle connections past their time (or closed by the container) even when no
/// request comes to notice; ends with the pool.
async fn reap(pool: Weak<PoolInner>) {
    let period = match pool.upgrade() {
        Some(p) => (p.config.idle_timeout / 2).max(Duration::from_millis(100)),
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else { return };
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        let before = idle.len();
        idle.retain(|c| {
            c.idle_since.elapsed() <= pool.config.idle_timeout && !c.is_dead_while_idle()
        });
        let closed = before - idle.len();
        if closed > 0 {
            pool.stats
                .closed
                .fetch_add(closed as u64, Ordering::Relaxed);
            trace!(closed, "closed expired idle connections");
        }
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// Sends CPING and waits for CPONG.
async fn cping(conn: &mut Conn, timeout: Duration) -> Result<(), Error> {
    let size = conn.packet_size();
    ProxyMessage::<&[u8]>::CPing
        .encode(&mut conn.write_buf, size)
        .expect("CPING always fits");
    let exchange = async {
        poll_fn(|cx| conn.poll_flush(cx)).await?;
        match poll_fn(|cx| conn.poll_message(cx)).await? {
            ContainerMessage::CPong => Ok(()),
            _ => Err(Error::protocol(
                "CPING answered with something other than CPONG",
            )),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::new(Kind::Timeout("CPING")))?
}

/// A connection checked out of the pool for one request. Dropped, it is closed; only
/// [`Pooled::release`] puts it back.
#[derive(Debug)]
pub(crate) struct Pooled {
    conn: Option<Conn>,
    _permit: OwnedSemaphorePermit,
    pool: Weak<PoolInner>,
    /// Whether the connection came from the idle stack (so it may have gone stale).
    pub(crate) reused: bool,
}

impl Pooled {
    pub(crate) fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("present until released")
    }

    /// Ends this request's use of the connection. It goes back to the pool only if the
    /// exchange says it may (`reusable`), nothing is buffered, and the pool has room.
    pub(crate) fn release(mut self, reusable: bool) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        if reusable && conn.is_quiet() {
            let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Drop the oldest ones past their time, from the bottom of the stack.
            let expired = idle
                .iter()
                .take_while(|c| c.idle_since.elapsed() > pool.config.idle_timeout)
                .count();
            idle.drain(..expired);
            pool.stats
                .closed
                .fetch_add(expired as u64, Ordering::Relaxed);
            if idle.len() < pool.config.max_idle {
                conn.idle_since = Instant::now();
                trace!(parent: &conn.span, "connection back in the pool");
                idle.push(conn);
                return;
            }
        }
        debug!(parent: &conn.span, reusable, "closing backend connection");
        pool.stats.closed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            debug!(
                conn = conn.id,
                "closing backend connection (exchange did not finish cleanly)"
            );
            if let Some(pool) = self.pool.upgrade() {
                pool.stats.closed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
