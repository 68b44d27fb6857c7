//! Counters a status page can show.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters kept by one [`AjpService`](crate::AjpService) (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) opened: AtomicU64,
    pub(crate) reused: AtomicU64,
    pub(crate) closed: AtomicU64,
}

/// A snapshot of an [`AjpService`](crate::AjpService)'s counters.
///
/// ```
/// # let svc = ajp_service::AjpService::builder("ajp://127.0.0.1:8009".parse().unwrap()).build();
/// let s = svc.stats();
/// println!("{} requests, {} backend connections opened", s.requests, s.connections_opened);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Requests received by the service.
    pub requests: u64,
    /// Requests that ended in an error (rejected, backend failure, aborted body).
    pub failures: u64,
    /// Requests replayed on a fresh connection after a stale pooled one failed.
    pub retries: u64,
    /// Backend connections opened.
    pub connections_opened: u64,
    /// Times an idle connection was taken from the pool.
    pub connections_reused: u64,
    /// Backend connections closed.
    pub connections_closed: u64,
    /// Connections idle in the pool at the time of the snapshot.
    pub idle: usize,
    /// Connections in use at the time of the snapshot.
    pub in_use: usize,
}

impl Stats {
    pub(crate) fn snapshot(&self, idle: usize, in_use: usize) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            connections_opened: self.opened.load(Ordering::Relaxed),
            connections_reused: self.reused.load(Ordering::Relaxed),
            connections_closed: self.closed.load(Ordering::Relaxed),
            idle,
            in_use,
        }
    }
}
