//! The polling tasks and the handle that owns them.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::Watched;

/// Keeps the Tokio runtime it was started on polling for I/O while there is traffic.
///
/// [`start`](Self::start) spawns one polling task per worker of the current runtime. Each
/// one yields in a loop, which makes its worker poll the I/O driver without blocking
/// between tasks, for as long as reads or writes happen on [`Watched`] I/O (see
/// [`watch`](Self::watch)) or [`touch`](Self::touch) is called, plus `window`; then it
/// sleeps until the next traffic. Clones share the tasks; they stop when the last clone is
/// dropped.
///
/// ```
/// use std::time::Duration;
///
/// use busy_poll::BusyPoll;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let busy = BusyPoll::start(Duration::from_micros(500));
/// // Something happened that more traffic is likely to follow: poll for 500 µs.
/// busy.touch();
/// assert!(busy.is_polling());
/// # }
/// ```
#[derive(Clone)]
pub struct BusyPoll {
    owner: Arc<Owner>,
}

/// Dropped with the last [`BusyPoll`] clone: stops the tasks.
struct Owner {
    shared: Arc<Shared>,
}

/// What the polling tasks, the handles and every [`Watched`] share.
pub(crate) struct Shared {
    window: Duration,
    /// Bumped by every read or write of watched I/O; the tasks poll while it moves.
    traffic: AtomicU64,
    /// How many polling tasks there are, and how many of them sleep on `wake`.
    tasks: usize,
    sleeping: AtomicUsize,
    wake: Notify,
    stopped: AtomicBool,
}

impl Shared {
    /// Notes traffic; wakes the polling tasks if they sleep.
    #[inline]
    pub(crate) fn touch(&self) {
        // SeqCst pairs with `sleep_until_traffic`: either it sees this bump and does not
        // sleep, or this sees it sleeping and wakes it.
        self.traffic.fetch_add(1, SeqCst);
        if self.sleeping.load(SeqCst) > 0 {
            self.wake.notify_waiters();
        }
    }
}

impl BusyPoll {
    /// Starts polling on the current Tokio runtime: one task per worker, each polling for
    /// `window` after the last traffic (and for `window` from now).
    ///
    /// A few hundred microseconds to a millisecond covers the gap between a response and
    /// the client's next request on a keep-alive connection, and a backend's answer.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn start(window: Duration) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let tasks = runtime.metrics().num_workers().max(1);
        let shared = Arc::new(Shared {
            window,
            traffic: AtomicU64::new(0),
            tasks,
            sleeping: AtomicUsize::new(0),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        for _ in 0..tasks {
            runtime.spawn(poll_while_busy(shared.clone()));
        }
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    /// Wraps `io` so that each of its reads and writes counts as traffic.
    pub fn watch<IO>(&self, io: IO) -> Watched<IO> {
        Watched::new(io, self.owner.shared.clone())
    }

    /// Counts as traffic: the tasks poll for `window` from now.
    pub fn touch(&self) {
        self.owner.shared.touch();
    }

    /// Whether any polling task is polling (rather than sleeping until traffic).
    pub fn is_polling(&self) -> bool {
        let s = &self.owner.shared;
        s.sleeping.load(SeqCst) < s.tasks
    }

    /// How long the tasks poll after the last traffic.
    pub fn window(&self) -> Duration {
        self.owner.shared.window
    }
}

impl fmt::Debug for BusyPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.owner.shared;
        f.debug_struct("BusyPoll")
            .field("window", &s.window)
            .field("tasks", &s.tasks)
            .field("sleeping", &s.sleeping.load(Relaxed))
            .finish()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.stopped.store(true, SeqCst);
        self.shared.wake.notify_waiters();
    }
}

/// One polling task: yields while traffic moves, sleeps after `window` without any.
async fn poll_while_busy(shared: Arc<Shared>) {
    let mut seen = shared.traffic.load(Relaxed);
    let mut last = Instant::now();
    while !shared.stopped.load(Relaxed) {
        let now = shared.traffic.load(Relaxed);
        if now != seen {
            seen = now;
            last = Instant::now();
        } else if last.elapsed() >= shared.window {
            seen = sleep_until_traffic(&shared, seen).await;
            last = Instant::now();
            continue;
        }
        // Back of the queue: the worker runs what is ready, then polls the I/O driver
        // with a zero timeout (it does not block while a yielded task waits).
        tokio::task::yield_now().await;
    }
}

/// Sleeps until `traffic` moves past `seen` or the handle is dropped; returns the count.
async fn sleep_until_traffic(shared: &Shared, seen: u64) -> u64 {
    let mut notified = pin!(shared.wake.notified());
    // Registered before the check below, so a `touch` between the two is not missed.
    notified.as_mut().enable();
    shared.sleeping.fetch_add(1, SeqCst);
    if shared.traffic.load(SeqCst) == seen && !shared.stopped.load(SeqCst) {
        notified.await;
    }
    shared.sleeping.fetch_sub(1, SeqCst);
    shared.traffic.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Waits (at most 5 s) until `cond` holds.
    async fn until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn polls_after_traffic_and_sleeps_after_a_quiet_window() {
        current_thread().block_on(async {
            let busy = BusyPoll::start(Duration::from_millis(200));
            assert!(busy.is_polling(), "it polls for a window from the start");
            until("quiet", || !busy.is_polling()).await;
            for _ in 0..3 {
                busy.touch();
                until("polling again", || busy.is_polling()).await;
                until("quiet again", || !busy.is_polling()).await;
            }
        });
    }

    #[test]
    fn one_task_per_worker_and_all_sleep_when_quiet() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let busy = BusyPoll::start(Duration::from_millis(200));
            assert_eq!(busy.owner.shared.tasks, 2);
            until("both asleep", || {
                busy.owner.shared.sleeping.load(SeqCst) == 2
            })
            .await;
            busy.touch();
            until("awake", || busy.is_polling()).await;
        });
    }

    /// On a multi-thread runtime the tasks spread over the workers: while polling, no
    /// worker parks (one without a task would sleep in the driver and hold it).
    #[test]
    fn no_worker_of_a_multi_thread_runtime_parks_while_polling() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let metrics = rt.metrics();
        let parks = || (0..2).map(|w| metrics.worker_park_count(w)).sum::<u64>();
        let busy = rt.block_on(async { BusyPoll::start(Duration::from_secs(60)) });
        // Give work stealing a moment to spread the tasks, then watch for 100 ms.
        std::thread::sleep(Duration::from_millis(50));
        let before = parks();
        std::thread::sleep(Duration::from_millis(100));
        // A worker without a task parks thousands of times in 100 ms here (the other one
        // keeps waking it); a task stolen for a moment may cost a park or two.
        let parked = parks() - before;
        assert!(parked < 50, "workers parked {parked} times while polling");
        drop(busy);
    }

    #[test]
    fn tasks_end_when_the_last_handle_is_dropped() {
        current_thread().block_on(async {
            let metrics = tokio::runtime::Handle::current().metrics();
            let before = metrics.num_alive_tasks();
            let busy = BusyPoll::start(Duration::from_secs(60));
            let clone = busy.clone();
            assert_eq!(metrics.num_alive_tasks(), before + 1);
            drop(busy);
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(metrics.num_alive_tasks(), before + 1, "a clone keeps them");
            drop(clone);
            until("the task ended", || metrics.num_alive_tasks() == before).await;

            // And from sleep: it is woken to end.
            let busy = BusyPoll::start(Duration::from_millis(1));
            until("quiet", || !busy.is_polling()).await;
            drop(busy);
            until("the sleeping task ended", || {
                metrics.num_alive_tasks() == before
            })
            .await;
        });
    }

    #[test]
    fn watched_reads_and_writes_count_as_traffic() {
        current_thread().block_on(async {
            let busy = BusyPoll::start(Duration::from_secs(60));
            let traffic = || busy.owner.shared.traffic.load(SeqCst);
            let (a, b) = tokio::io::duplex(64);
            let (mut a, mut b) = (busy.watch(a), busy.watch(b));
            let t0 = traffic();
            a.write_all(b"hello").await.unwrap();
            assert_eq!(traffic(), t0 + 1);
            let mut buf = [0; 5];
            b.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
            assert_eq!(traffic(), t0 + 2);
            // A read that finds nothing (end of stream) is not traffic.
            drop(a);
            assert_eq!(b.read(&mut buf).await.unwrap(), 0);
            assert_eq!(traffic(), t0 + 2);
        });
    }

    async fn ping(s: &mut Watched<tokio::net::TcpStream>) {
        let mut b = [7];
        s.write_all(&b).await.unwrap();
        s.read_exact(&mut b).await.unwrap();
    }

    /// The point of it: while polling, the worker never blocks in the driver, even while
    /// it waits for a peer that answers late; asleep, it does.
    #[test]
    fn the_worker_does_not_park_while_polling() {
        let rt = current_thread();
        let parks = || rt.metrics().worker_park_count(0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A peer on another thread that answers each 1-byte ping 5 ms late.
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0; 1];
            while s.read_exact(&mut b).is_ok() {
                std::thread::sleep(Duration::from_millis(5));
                s.write_all(&b).unwrap();
            }
        });
        rt.block_on(async {
            let busy = BusyPoll::start(Duration::from_millis(500));
            let mut s = busy.watch(tokio::net::TcpStream::connect(addr).await.unwrap());

            ping(&mut s).await;
            let before = parks();
            for _ in 0..5 {
                ping(&mut s).await;
            }
            assert_eq!(parks(), before, "parked while polling");

            until("quiet", || !busy.is_polling()).await;
            let before = parks();
            // Not watched: the same waits now park the worker.
            let mut raw = s.into_inner();
            for _ in 0..5 {
                let mut b = [7];
                raw.write_all(&b).await.unwrap();
                raw.read_exact(&mut b).await.unwrap();
            }
            assert!(
                parks() >= before + 5,
                "asleep, the worker parks while it waits"
            );
        });
        peer.join().unwrap();
    }
}
