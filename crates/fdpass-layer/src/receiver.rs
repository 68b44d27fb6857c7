//! The receiving (worker) side: accept hand-offs on a unix socket.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use bytes::{Buf, BytesMut};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrLike, SockaddrStorage, UnixAddr, bind,
    getsockname, getsockopt, listen, socket, sockopt,
};
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Kind, Result};
use crate::meta::{DEFAULT_MAX_FRAME_LEN, HEADER_LEN, MAGIC, Metadata};
use crate::scm;

/// Accepts connections handed off by our [`Sender`](crate::Sender) (either mode) or by
/// Apache httpd's mod_proxy_fdpass.
///
/// A compatible hand-off is one unix connection carrying one fd; an extended sender may send
/// any number of frames on one persistent connection. Background tasks (spawned by
/// [`bind`](ReceiverBuilder::bind)) read every connection, each hand-off completely
/// (bounded by a timeout and a frame-size limit), and queue it for
/// [`accept`](Self::accept). An `Err` from `accept` concerns one hand-off or one
/// connection (its fds are closed); keep calling `accept`. Dropping the `Receiver` closes
/// the listening socket at once and removes the socket file (unless another receiver has
/// bound the path since).
///
/// ```no_run
/// # async fn run() -> Result<(), fdpass_layer::Error> {
/// use tokio::io::AsyncWriteExt;
///
/// let receiver = fdpass_layer::Receiver::bind("/run/worker.sock")?;
/// loop {
///     let Ok(handed) = receiver.accept().await else { continue };
///     let (mut stream, meta) = handed.into_parts();
///     // With httpd's (and our default) flusher the head is already sent: write a body.
///     let _ = stream.write_all(b"hello from the worker\n").await;
///     let _ = meta;
/// }
/// # }
/// ```
pub struct Receiver {
    handed: tokio::sync::Mutex<mpsc::Receiver<Result<Handed>>>,
    listener: SharedListener,
    accept_task: JoinHandle<()>,
    path: PathBuf,
    /// Device and inode of the socket file we created: on drop it is removed only if it is
    /// still ours, not one a newer worker has bound at the same path since.
    file_id: (u64, u64),
    require_uid: Option<u32>,
    max_frame_len: u32,
    timeout: Duration,
}

/// Configures a [`Receiver`].
#[derive(Clone, Debug)]
pub struct ReceiverBuilder {
    mode: u32,
    require_uid: Option<u32>,
    max_frame_len: u32,
    timeout: Duration,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        Self {
            mode: 0o600,
            require_uid: None,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            timeout: Duration::from_secs(5),
        }
    }
}

impl ReceiverBuilder {
    /// The permission bits of the socket file, set before the socket listens, so there is no
    /// window with looser permissions. Default: `0o600` (only our uid may connect). httpd's
    /// workers usually run as another user: widen this, or `chown` the socket, for them.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Refuses hand-offs from processes whose uid (from `SO_PEERCRED`) is not `uid`.
    /// Default: any uid that may connect.
    pub fn require_uid(&mut self, uid: u32) -> &mut Self {
        self.require_uid = Some(uid);
        self
    }

    /// Largest extended metadata payload accepted. Default: 1 MiB. A larger frame fails
    /// its own hand-off (its fd is closed, [`Error::is_too_large`]); its bytes are read and
    /// dropped without being buffered, so hand-offs behind it on the same connection still
    /// arrive.
    pub fn max_frame_len(&mut self, max: u32) -> &mut Self {
        self.max_frame_len = max;
        self
    }

    /// Bounds waiting for the first hand-off of an accepted unix connection, and reading any
    /// started hand-off, from its first byte to its last (one deadline per hand-off, however
    /// many reads it takes). Default: 5 s.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Creates the socket at `path` and listens. A stale socket file at `path` (one nobody
    /// accepts on any more) is replaced. A socket a live process still accepts on is an
    /// error, so a worker started while another runs cannot take its hand-offs from under
    /// it; nor is any other file there replaced.
    ///
    /// Must be called inside a tokio runtime.
    pub fn bind(&self, path: impl AsRef<Path>) -> Result<Receiver> {
        let path = path.as_ref();
        let bind_err = |e: std::io::Error| Error::new(Kind::Bind).with(e);
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if let Some(live) = still_accepting(path) {
                    return Err(bind_err(live));
                }
                std::fs::remove_file(path).map_err(bind_err)?
            }
            Ok(_) => {
                return Err(Error::new(Kind::Bind).with("path exists and is not a socket"));
            }
            Err(_) => {}
        }
        let fd: OwnedFd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| bind_err(e.into()))?;
        let addr = UnixAddr::new(path).map_err(|e| bind_err(e.into()))?;
        bind(fd.as_raw_fd(), &addr).map_err(|e| bind_err(e.into()))?;
        // Permissions before listen(): until then every connect() is refused.
        let chmod = std::fs::set_permissions(path, std::fs::Permissions::from_mode(self.mode));
        let listening = chmod.and_then(|()| {
            let backlog = Backlog::new(1024).map_err(std::io::Error::from)?;
            listen(&fd, backlog).map_err(std::io::Error::from)
        });
        if let Err(e) = listening {
            let _ = std::fs::remove_file(path);
            return Err(bind_err(e));
        }
        let bound = std::fs::symlink_metadata(path).map_err(bind_err)?;
        let listener =
            scm::register_listener(std::os::unix::net::UnixListener::from(fd)).map_err(bind_err)?;
        let (tx, rx) = mpsc::channel(256);
        let shared = Shared {
            tx,
            require_uid: self.require_uid,
            max_frame_len: self.max_frame_len,
            timeout: self.timeout,
        };
        let listener = Arc::new(Mutex::new(Some(listener)));
        Ok(Receiver {
            handed: tokio::sync::Mutex::new(rx),
            accept_task: tokio::spawn(accept_loop(listener.clone(), shared)),
            listener,
            path: path.to_owned(),
            file_id: (bound.dev(), bound.ino()),
            require_uid: self.require_uid,
            max_frame_len: self.max_frame_len,
            timeout: self.timeout,
        })
    }
}

/// Why the socket at `path` must not be replaced: someone accepts on it (or it cannot be
/// told), or `None` when it is stale. The probe is non-blocking: a live listener whose
/// backlog is full answers `EAGAIN` rather than making us wait.
fn still_accepting(path: &Path) -> Option<std::io::Error> {
    use nix::errno::Errno;
    let probe = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    );
    let answer = probe.and_then(|fd| {
        let addr = UnixAddr::new(path)?;
        nix::sys::socket::connect(fd.as_raw_fd(), &addr)
    });
    match answer {
        Err(Errno::ECONNREFUSED | Errno::ENOENT) => None,
        Ok(()) | Err(Errno::EAGAIN) => Some(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another process is accepting on this socket",
        )),
        Err(e) => Some(e.into()),
    }
}

impl Receiver {
    /// Binds `path` with the defaults of [`ReceiverBuilder`] (mode `0o600`).
    pub fn bind(path: impl AsRef<Path>) -> Result<Self> {
        ReceiverBuilder::default().bind(path)
    }

    /// A builder for a receiver with other settings.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the next hand-off, from any unix connection.
    ///
    /// Errors: [`Error::is_recv`] (socket trouble), [`Error::is_peer_cred`],
    /// [`Error::is_truncated`], [`Error::is_protocol`], [`Error::is_too_large`],
    /// [`Error::is_not_tcp`], [`Error::is_timeout`]. In every case the fds that came are
    /// closed.
    pub async fn accept(&self) -> Result<Handed> {
        match self.handed.lock().await.recv().await {
            Some(res) => res,
            None => Err(Error::new_recv("the receiver's accept task ended")),
        }
    }
}

/// What the background tasks of a [`Receiver`] share.
#[derive(Clone)]
struct Shared {
    tx: mpsc::Sender<Result<Handed>>,
    require_uid: Option<u32>,
    max_frame_len: u32,
    timeout: Duration,
}

/// Accepts unix connections. A connection whose first bytes are already there when it is
/// accepted and hold one compatible hand-off (httpd's, or ours in compatible mode) is
/// finished right here with one `recvmsg`, without registering it with the reactor or
/// spawning; anything else gets a task of its own.
async fn accept_loop(listener: SharedListener, shared: Shared) {
    loop {
        let fd = match accept(&listener).await {
            None => return,
            Some(Ok(fd)) => fd,
            Some(Err(e)) => {
                if shared.tx.send(Err(Error::new_recv(e))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let mut conn = Conn::new(shared.clone());
        if let Err(e) = conn.check_peer(&fd) {
            let _ = shared.tx.send(Err(e)).await;
            continue;
        }
        match conn.read_now(&fd) {
            Ok(true) => {}
            Ok(false) => match conn.deliver().await {
                Step::Done => continue,
                Step::More => {}
            },
            Err(e) => {
                let _ = shared.tx.send(Err(e)).await;
                continue;
            }
        }
        tokio::spawn(conn.run(fd));
    }
}

/// The listener, shared by the [`Receiver`] (which closes it on drop, at once) and its
/// accept task.
type SharedListener = Arc<Mutex<Option<AsyncFd<std::os::unix::net::UnixListener>>>>;

/// Accepts one connection; `None` once the [`Receiver`] closed the listener.
async fn accept(listener: &SharedListener) -> Option<std::io::Result<OwnedFd>> {
    std::future::poll_fn(|cx| {
        // Held for one poll only, never across an await.
        let guard = listener.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(l) = guard.as_ref() else {
            return Poll::Ready(None);
        };
        loop {
            let mut ready = match l.poll_read_ready(cx) {
                Poll::Ready(Ok(ready)) => ready,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Pending => return Poll::Pending,
            };
            match ready.try_io(|l| scm::accept_now(l.as_raw_fd())) {
                Ok(res) => return Poll::Ready(Some(res)),
                Err(_would_block) => continue,
            }
        }
    })
    .await
}

/// Reading state of one unix connection: bytes of a started item and fds not yet paired
/// with an item, in arrival order.
struct Conn {
    shared: Shared,
    buf: BytesMut,
    fds: VecDeque<OwnedFd>,
    /// Items delivered so far.
    items: usize,
    /// Payload bytes of an oversized frame still to be read and dropped: the frame's
    /// hand-off fails, the ones queued behind it on the same connection do not.
    skip: u64,
    /// EOF was seen.
    eof: bool,
}

enum Step {
    /// The connection is finished (EOF, a compatible hand-off, or a fatal error).
    Done,
    /// Read more.
    More,
}

impl Conn {
    fn new(shared: Shared) -> Self {
        Self {
            shared,
            buf: BytesMut::new(),
            fds: VecDeque::new(),
            items: 0,
            skip: 0,
            eof: false,
        }
    }

    fn check_peer(&self, fd: &OwnedFd) -> Result<()> {
        if let Some(uid) = self.shared.require_uid {
            let cred = getsockopt(fd, sockopt::PeerCredentials).map_err(Error::new_recv)?;
            if cred.uid() != uid {
                return Err(Error::new(Kind::PeerCred).with(format!(
                    "sender uid {} is not the required {uid}",
                    cred.uid()
                )));
            }
        }
        Ok(())
    }

    /// One `recvmsg` into the state. `Ok(true)`: nothing there yet (would block).
    fn read_now(&mut self, fd: &OwnedFd) -> Result<bool> {
        let mut chunk = [0u8; 4096];
        match scm::recv_fds_now(fd.as_raw_fd(), &mut chunk) {
            Ok(got) => self.take(got, &chunk).map(|()| false),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(true),
            Err(e) => Err(Error::new_recv(e)),
        }
    }

    /// Adds what one `recvmsg` brought. Fatal errors close every fd that came.
    fn take(&mut self, got: scm::Received, chunk: &[u8]) -> Result<()> {
        if got.truncated {
            // `got` (and every fd in it) is dropped, i.e. closed, here.
            return Err(Error::new(Kind::Truncated));
        }
        if got.fds.len() > 1 {
            // Every item carries exactly one fd, and the kernel ends a `recvmsg` after the
            // first message that carried fds.
            return Err(Error::new_protocol("more than one fd in a hand-off"));
        }
        if got.bytes == 0 {
            self.eof = true;
        }
        self.fds.extend(got.fds);
        self.buf.extend_from_slice(&chunk[..got.bytes]);
        Ok(())
    }

    /// Delivers every complete item in the buffer; at EOF, checks nothing is left over.
    async fn deliver(&mut self) -> Step {
        loop {
            match self.next_item() {
                Ok(Some((meta, compatible))) => {
                    let res = match self.fds.pop_front() {
                        Some(fd) => {
                            meta.and_then(|meta| into_tcp(fd).map(|stream| Handed { stream, meta }))
                        }
                        None => {
                            let e = Error::new_protocol("hand-off without an fd");
                            let _ = self.shared.tx.send(Err(e)).await;
                            return Step::Done;
                        }
                    };
                    self.items += 1;
                    if self.shared.tx.send(res).await.is_err() {
                        return Step::Done;
                    }
                    if compatible {
                        // One compatible hand-off per connection (httpd's contract).
                        return Step::Done;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = self.shared.tx.send(Err(e)).await;
                    return Step::Done;
                }
            }
        }
        if !self.eof {
            return Step::More;
        }
        // (An oversized frame cut short by EOF was reported already, when it started.)
        let leftover = if !self.buf.is_empty() {
            Some("hand-off closed inside the metadata frame")
        } else if !self.fds.is_empty() {
            Some("fd without a hand-off")
        } else {
            // Nothing at all is no hand-off and no error: a probe (another worker's bind
            // checking whether this socket is live, a health check) connects and closes.
            None
        };
        if let Some(what) = leftover {
            let _ = self.shared.tx.send(Err(Error::new_protocol(what))).await;
        }
        Step::Done
    }

    /// The next complete item in the buffer: `(metadata, is_compatible)`. `Ok(None)`: not
    /// complete yet. `Err`: the stream cannot be followed any further.
    fn next_item(&mut self) -> Result<Option<(Result<Option<Metadata>>, bool)>> {
        if self.skip > 0 {
            let n = self
                .buf
                .len()
                .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
            self.buf.advance(n);
            self.skip -= n as u64;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        match first {
            // mod_proxy_fdpass (and our compatible mode): one '\0' byte.
            0 => {
                self.buf.advance(1);
                Ok(Some((Ok(None), true)))
            }
            b'F' => {
                if self.buf.len() < HEADER_LEN {
                    let n = self.buf.len().min(MAGIC.len());
                    return if self.buf[..n] == MAGIC[..n] {
                        Ok(None)
                    } else {
                        Err(Error::new_protocol("unknown hand-off data"))
                    };
                }
                let hdr: [u8; HEADER_LEN] = self.buf[..HEADER_LEN]
                    .try_into()
                    .map_err(|_| Error::new_protocol("truncated metadata frame header"))?;
                let (flags, len) = match Metadata::decode_header(&hdr, self.shared.max_frame_len) {
                    Ok(header) => header,
                    // Its length is known, so the stream can be followed past it.
                    Err(e) if e.is_too_large() => {
                        self.buf.advance(HEADER_LEN);
                        self.skip =
                            u64::from(u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]));
                        return Ok(Some((Err(e), false)));
                    }
                    Err(e) => return Err(e),
                };
                let total = HEADER_LEN + len as usize;
                if self.buf.len() < total {
                    self.buf.reserve(total - self.buf.len());
                    return Ok(None);
                }
                let payload = self.buf.split_to(total).freeze().slice(HEADER_LEN..);
                // A payload that does not decode fails this one hand-off (its fd is closed);
                // the frame's length was sound, so the stream stays in step.
                Ok(Some((
                    Metadata::decode_payload(flags, payload).map(Some),
                    false,
                )))
            }
            _ => Err(Error::new_protocol("unknown hand-off data")),
        }
    }

    /// Reads hand-offs until EOF, a compatible hand-off, or a fatal error. The first item
    /// must arrive, and every started item must complete, within the timeout; between
    /// items an extended sender's connection may stay idle (it is persistent).
    async fn run(mut self, fd: OwnedFd) {
        let unix = match UnixStream::from_std(std::os::unix::net::UnixStream::from(fd)) {
            Ok(u) => u,
            Err(e) => {
                let _ = self.shared.tx.send(Err(Error::new_recv(e))).await;
                return;
            }
        };
        let mut chunk = vec![0u8; 4096];
        // When the item being read must be complete: one deadline per item, not per read,
        // so a peer trickling a byte at a time cannot hold it (and its fd) open for ever.
        let mut deadline = None;
        let mut items_before = self.items;
        loop {
            if self.items != items_before {
                items_before = self.items;
                deadline = None;
            }
            let idle = self.buf.is_empty() && self.skip == 0 && self.items > 0;
            let read = scm::recv_fds(&unix, &mut chunk);
            let got = if idle {
                deadline = None;
                tokio::select! {
                    got = read => got,
                    // The `Receiver` is gone: nobody will take further hand-offs.
                    () = self.shared.tx.closed() => return,
                }
            } else {
                let until = *deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + self.shared.timeout);
                match tokio::time::timeout_at(until, read).await {
                    Ok(r) => r,
                    Err(_) => {
                        let e = Error::new_timeout("reading a hand-off");
                        let _ = self.shared.tx.send(Err(e)).await;
                        return;
                    }
                }
            };
            let taken = got
                .map_err(Error::new_recv)
                .and_then(|got| self.take(got, &chunk));
            if let Err(e) = taken {
                let _ = self.shared.tx.send(Err(e)).await;
                return;
            }
            if let Step::Done = self.deliver().await {
                return;
            }
        }
    }
}

/// Checks that `fd` is a TCP stream socket, not a listening one, and registers it with
/// tokio.
fn into_tcp(fd: OwnedFd) -> Result<TcpStream> {
    let not_tcp = |what: &'static str| Error::new(Kind::NotTcp).with(what);
    let ty = getsockopt(&fd, sockopt::SockType).map_err(|_| not_tcp("not a socket"))?;
    if ty != SockType::Stream {
        return Err(not_tcp("not a stream socket"));
    }
    // A listening socket is a stream socket too, but there is no client on it to serve.
    if getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false) {
        return Err(not_tcp("a listening socket"));
    }
    let addr: SockaddrStorage =
        getsockname(fd.as_raw_fd()).map_err(|_| not_tcp("getsockname failed"))?;
    if !matches!(
        addr.family(),
        Some(AddressFamily::Inet | AddressFamily::Inet6)
    ) {
        return Err(not_tcp("not an internet socket"));
    }
    let std = std::net::TcpStream::from(fd);
    // The open file description is shared with the sender, which may have left it blocking.
    std.set_nonblocking(true).map_err(Error::new_recv)?;
    TcpStream::from_std(std).map_err(Error::new_recv)
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Stops accepting; connections already accepted finish their current hand-offs
        // (or end when the receiving side of their channel is gone).
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(listener);
        self.accept_task.abort();
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.file_id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("path", &self.path)
            .field("require_uid", &self.require_uid)
            .field("max_frame_len", &self.max_frame_len)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One received connection: the client's `TcpStream` (owned, `FD_CLOEXEC`, non-blocking) and,
/// from an extended-mode sender, what the sender knew about it.
#[derive(Debug)]
pub struct Handed {
    stream: TcpStream,
    meta: Option<Metadata>,
}

impl Handed {
    /// The client connection.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The metadata: `None` for a compatible-mode hand-off (httpd or [`Mode::Compatible`]).
    ///
    /// [`Mode::Compatible`]: crate::Mode::Compatible
    pub fn metadata(&self) -> Option<&Metadata> {
        self.meta.as_ref()
    }

    /// Splits into the stream and the metadata.
    pub fn into_parts(self) -> (TcpStream, Option<Metadata>) {
        (self.stream, self.meta)
    }
}
