//! The sending side: connect to the worker socket and pass it a connection.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::UnixAddr;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::error::{Error, Kind, Result};
use crate::flusher::{Flusher, SharedFlusher, StandardFlush};
use crate::meta::{DEFAULT_MAX_FRAME_LEN, HEADER_LEN, Metadata};
use crate::scm;

/// Which bytes travel with the fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Exactly what mod_proxy_fdpass sends: one `'\0'` byte carrying one `SCM_RIGHTS` fd, one
    /// unix connection per hand-off, no acknowledgement. Any worker written for httpd works.
    /// Request-body bytes and pipelined bytes already read are lost, as with httpd.
    #[default]
    Compatible,
    /// A versioned, length-prefixed [`Metadata`] frame carrying the fd on its first byte:
    /// addresses, request head, body bytes already read, `read_buf`, bytes already written.
    /// See the [crate docs](crate#the-extended-wire-format).
    Extended,
}

/// Where and how to hand connections off. Cheap to clone.
///
/// ```
/// use std::time::{Duration, Instant};
/// use fdpass_layer::{Mode, NoFlush, Sender};
///
/// let sender = Sender::new("/run/worker.sock")
///     .mode(Mode::Extended)
///     .flusher(NoFlush)
///     .connect_timeout(Duration::from_millis(500));
/// assert_eq!(sender.get_mode(), Mode::Extended);
/// ```
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Config>,
    /// The persistent connection of extended mode, shared by clones.
    pool: Arc<Pool>,
}

/// One persistent unix connection, reused by every extended hand-off of a [`Sender`] and
/// its clones. While a frame is being sent the connection is taken out, so a send that is
/// cancelled or fails half-way closes it instead of leaving a partial frame behind.
#[derive(Debug, Default)]
struct Pool {
    conn: tokio::sync::Mutex<Option<UnixStream>>,
}

/// What a hand-off sends on: its own connection, or the sender's persistent one.
#[derive(Debug)]
pub(crate) enum Link {
    Fresh(StdUnixStream),
    Pooled,
}

#[derive(Clone, Debug)]
struct Config {
    path: PathBuf,
    /// `path` as a socket address, converted once (`None`: too long for `sun_path`).
    addr: Option<UnixAddr>,
    mode: Mode,
    flusher: SharedFlusher,
    connect_timeout: Duration,
    send_timeout: Duration,
    max_buffered_body: usize,
    max_frame_len: u32,
    reuse_connection: bool,
}

impl Sender {
    /// Hands off to the unix stream socket at `path`, in [`Mode::Compatible`] with the
    /// [`StandardFlush`] flusher.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            inner: Arc::new(Config {
                path: path.as_ref().to_owned(),
                addr: UnixAddr::new(path.as_ref()).ok(),
                mode: Mode::Compatible,
                flusher: SharedFlusher(Arc::new(StandardFlush)),
                connect_timeout: Duration::from_secs(1),
                send_timeout: Duration::from_secs(5),
                max_buffered_body: 64 * 1024,
                max_frame_len: DEFAULT_MAX_FRAME_LEN,
                reuse_connection: true,
            }),
            pool: Arc::default(),
        }
    }

    fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Sets the wire mode. Default: [`Mode::Compatible`].
    pub fn mode(self, mode: Mode) -> Self {
        self.config(|c| c.mode = mode)
    }

    /// Sets the flusher. Default: [`StandardFlush`] (httpd's `flush`).
    pub fn flusher<F: Flusher>(self, flusher: F) -> Self {
        self.config(|c| c.flusher = SharedFlusher(Arc::new(flusher)))
    }

    /// Bounds connecting to the worker socket. Default: 1 s.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.config(|c| c.connect_timeout = timeout)
    }

    /// Bounds writing the flusher's bytes, waiting for earlier responses to flush, and
    /// sending the fd and metadata. Default: 5 s.
    pub fn send_timeout(self, timeout: Duration) -> Self {
        self.config(|c| c.send_timeout = timeout)
    }

    /// In extended mode, the largest chunked request body that is buffered (de-chunked) so
    /// it can travel in the metadata. A larger one makes the hand-off fail with
    /// `413 Payload Too Large`, because hyper's de-chunking state cannot be handed over.
    /// Default: 64 KiB.
    pub fn max_buffered_body(self, max: usize) -> Self {
        self.config(|c| c.max_buffered_body = max)
    }

    /// In extended mode, the largest frame payload sent: keep it at or below the worker's
    /// [`ReceiverBuilder::max_frame_len`](crate::ReceiverBuilder::max_frame_len). A hand-off
    /// whose metadata (request head, body bytes already read, `read_buf`) would be larger
    /// fails before anything is sent, so the client gets a 503 rather than a connection
    /// the worker drops unanswered. Default: [`DEFAULT_MAX_FRAME_LEN`] (1 MiB), the
    /// receiver's default.
    pub fn max_frame_len(self, max: u32) -> Self {
        self.config(|c| c.max_frame_len = max)
    }

    /// In extended mode, whether hand-offs share one persistent unix connection (frames
    /// back to back, each carrying its fd) instead of one connection each. Saves a
    /// `socket`/`connect`/`close` per hand-off here and an `accept` in the worker. Needs a
    /// [`Receiver`](crate::Receiver) of this version (older ones read one frame per
    /// connection). Compatible mode always uses one connection per hand-off, as httpd does.
    /// Default: `true`.
    pub fn reuse_connection(self, reuse: bool) -> Self {
        self.config(|c| c.reuse_connection = reuse)
    }

    /// The worker socket path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The wire mode.
    pub fn get_mode(&self) -> Mode {
        self.inner.mode
    }

    pub(crate) fn get_flusher(&self) -> &dyn Flusher {
        &*self.inner.flusher.0
    }

    pub(crate) fn get_send_timeout(&self) -> Duration {
        self.inner.send_timeout
    }

    pub(crate) fn get_max_buffered_body(&self) -> usize {
        self.inner.max_buffered_body
    }

    fn pooled(&self) -> bool {
        self.inner.mode == Mode::Extended && self.inner.reuse_connection
    }

    /// Gets a connection to the worker (the first step of a hand-off, as in httpd, so a
    /// missing worker is found before anything is written to the client). In extended mode
    /// with [`reuse_connection`](Self::reuse_connection), makes sure the persistent
    /// connection is there and not closed by the worker.
    pub(crate) async fn connect(&self) -> Result<Link> {
        if !self.pooled() {
            return self.connect_fresh().await.map(Link::Fresh);
        }
        let mut conn = self.pool.conn.lock().await;
        if conn.as_ref().is_some_and(|c| !is_open(c)) {
            *conn = None;
        }
        if conn.is_none() {
            let fresh = self.connect_fresh().await?;
            *conn = Some(UnixStream::from_std(fresh).map_err(Error::new_connect)?);
        }
        Ok(Link::Pooled)
    }

    /// Connects a new unix socket to the worker.
    ///
    /// The socket is not registered with the reactor: a unix `connect` completes at once,
    /// and the hand-off's one `sendmsg` nearly always goes straight into a fresh socket's
    /// buffer, so registering (two `epoll_ctl`s) and waiting for a writable event (a trip
    /// through the scheduler) would be pure overhead. A full listen backlog is retried
    /// until the connect timeout.
    async fn connect_fresh(&self) -> Result<StdUnixStream> {
        let Some(addr) = &self.inner.addr else {
            return Err(Error::new_connect(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "worker socket path too long",
            )));
        };
        let mut deadline = None;
        loop {
            match scm::connect_now(addr) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let deadline = *deadline
                        .get_or_insert_with(|| Instant::now() + self.inner.connect_timeout);
                    if Instant::now() >= deadline {
                        return Err(Error::new(Kind::Connect).with("connect timed out"));
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(Error::new_connect(e)),
            }
        }
    }

    /// Passes `fd` (a connected client socket) to the worker, with `meta` in extended mode.
    ///
    /// This is the low-level step the hyper driver uses; call it directly to hand off a
    /// socket you accepted yourself. The caller keeps its copy of `fd` and should close it
    /// afterwards with `drop`, **never** `shutdown()`, which would end the worker's
    /// connection too. In compatible mode `meta` is ignored.
    pub async fn send(&self, fd: impl AsFd, meta: &Metadata) -> Result<()> {
        let frame = self.frame(meta)?;
        let link = self.connect().await?;
        self.send_on(link, fd, frame).await
    }

    /// The bytes that travel with the fd: one NUL in compatible mode, the encoded
    /// metadata in extended mode, checked against [`max_frame_len`](Self::max_frame_len)
    /// (before anything reaches the client, so a failure can still be a 503).
    pub(crate) fn frame(&self, meta: &Metadata) -> Result<bytes::Bytes> {
        if self.inner.mode == Mode::Compatible {
            return Ok(bytes::Bytes::from_static(b"\0"));
        }
        let frame = meta.encode()?;
        let payload = frame.len() - HEADER_LEN;
        if payload > self.inner.max_frame_len as usize {
            return Err(Error::new_too_large(
                "frame payload",
                payload as u64,
                self.inner.max_frame_len.into(),
            ));
        }
        Ok(frame)
    }

    pub(crate) async fn send_on(
        &self,
        link: Link,
        fd: impl AsFd,
        frame: bytes::Bytes,
    ) -> Result<()> {
        let fd = fd.as_fd();
        let unix = match link {
            Link::Fresh(unix) => unix,
            Link::Pooled => {
                return match tokio::time::timeout(
                    self.inner.send_timeout,
                    self.send_pooled(&frame, fd),
                )
                .await
                {
                    Ok(res) => res,
                    Err(_) => Err(Error::new_timeout("sending to the worker")),
                };
            }
        };
        // Fast path: one `sendmsg` on the unregistered socket. Dropping `unix` closes it:
        // the worker sees EOF after the frame, like httpd.
        let sent = match scm::send_fd_now(unix.as_raw_fd(), &frame, fd) {
            Ok(n) if n == frame.len() => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(Error::new_send(e)),
        };
        // Slow path (the worker's queue is full, or a large frame): wait with the reactor.
        let send = async {
            let mut unix = UnixStream::from_std(unix)?;
            let n = if sent == 0 {
                scm::send_fd(&unix, &frame, fd).await?
            } else {
                sent
            };
            unix.write_all(&frame[n..]).await?;
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(self.inner.send_timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::new_send(e)),
            Err(_) => Err(Error::new_timeout("sending to the worker")),
        }
    }

    /// Sends one frame on the persistent connection. If the worker closed it and nothing of
    /// the frame went out, reconnects once and sends again.
    async fn send_pooled(&self, frame: &[u8], fd: BorrowedFd<'_>) -> Result<()> {
        let mut slot = self.pool.conn.lock().await;
        let mut retried = false;
        loop {
            // Taken out while sending: if this future is dropped half-way, the connection
            // is closed with it rather than reused after a partial frame.
            let mut unix = match slot.take() {
                Some(u) => u,
                None => {
                    UnixStream::from_std(self.connect_fresh().await?).map_err(Error::new_connect)?
                }
            };
            let sent = match scm::send_fd_now(unix.as_raw_fd(), frame, fd) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    scm::send_fd(&unix, frame, fd)
                        .await
                        .map_err(Error::new_send)?
                }
                Err(e) if !retried && is_stale(&e) => {
                    // The worker went away (restart): the fd was not sent.
                    retried = true;
                    continue;
                }
                Err(e) => return Err(Error::new_send(e)),
            };
            unix.write_all(&frame[sent..])
                .await
                .map_err(Error::new_send)?;
            *slot = Some(unix);
            return Ok(());
        }
    }
}

/// Whether the persistent connection still looks usable. The worker never writes on it, so
/// any readiness to read is its EOF (or an error); this asks tokio's cached readiness, and
/// makes a syscall only when the reactor reported something.
fn is_open(unix: &UnixStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(unix.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Errors of a `sendmsg` on a connection the worker already closed.
fn is_stale(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::NotConnected
    )
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("path", &self.inner.path)
            .field("mode", &self.inner.mode)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("send_timeout", &self.inner.send_timeout)
            .field("max_buffered_body", &self.inner.max_buffered_body)
            .field("max_frame_len", &self.inner.max_frame_len)
            .field("reuse_connection", &self.inner.reuse_connection)
            .finish_non_exhaustive()
    }
}
