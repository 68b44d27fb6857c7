//! Busy polling for a Tokio runtime: while traffic flows, the runtime's workers keep
//! polling for I/O instead of sleeping in `epoll_wait`.
//!
//! # Why
//!
//! A proxy spends most of a small request waiting: for the client's request, then for the
//! backend's answer. Each time it waits with nothing else to do, its thread sleeps, and if
//! its CPU has nothing else to run, the CPU goes idle. Waking it when the packet arrives
//! costs a cross-CPU interrupt and, on a virtual machine whose idle vCPUs halt at once
//! (`guest_halt_poll_ns=0`), a VM exit and entry: tens of microseconds, several times per
//! request, which is most of the latency of a proxied request at low concurrency.
//! HAProxy's `busy-polling` option exists for the same reason.
//!
//! [`BusyPoll`] spawns one task per runtime worker that yields in a loop, so each worker
//! keeps polling the I/O driver with a zero timeout and sees a packet as soon as the kernel
//! has it. It does so only while there is traffic: every read and write through
//! [`Watched`] I/O (or a call to [`BusyPoll::touch`]) counts, and after `window` with none,
//! the tasks sleep until the next one. An idle server costs nothing.
//!
//! # Cost
//!
//! While it polls, each worker thread uses a whole CPU, whatever the load. Use it where
//! latency matters more than CPU, on CPUs that nothing else needs, with as many workers as
//! CPUs you give it (on a multi-thread runtime every worker must poll: a worker asleep in
//! `epoll_wait` holds the I/O driver, and the others could not poll it). Tokio cannot pin a
//! task to a worker: the tasks are spread by work stealing, which in practice puts one on
//! each (the gateway example with two workers measured the same as with one). A
//! current-thread runtime has one worker and needs none of this.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use busy_poll::BusyPoll;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // Keep polling for up to 1 ms after the last read or write of a watched connection.
//! let busy = BusyPoll::start(Duration::from_millis(1));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let client = tokio::spawn(async move {
//!     let mut s = tokio::net::TcpStream::connect(addr).await?;
//!     s.write_all(b"ping").await?;
//!     std::io::Result::Ok(())
//! });
//! let (stream, _) = listener.accept().await?;
//! // Reads and writes through `stream` now keep the runtime polling.
//! let mut stream = busy.watch(stream);
//! let mut buf = [0; 4];
//! stream.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! client.await.unwrap()?;
//! # Ok(())
//! # }
//! ```

mod poller;
mod watched;

pub use poller::BusyPoll;
pub use watched::Watched;
