//! The receiving (worker) side: accept hand-offs on a unix socket.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrLike, SockaddrStorage, UnixAddr, bind,
    getsockname, getsockopt, listen, socket, sockopt,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UnixListener, UnixStream};

use crate::error::{Error, Kind, Result};
use crate::meta::{DEFAULT_MAX_FRAME_LEN, HEADER_LEN, MAGIC, Metadata};
use crate::scm;

/// Accepts connections handed off by our [`Sender`](crate::Sender) (either mode) or by
/// Apache httpd's mod_proxy_fdpass.
///
/// Each hand-off is one unix connection carrying one fd, so [`accept`](Self::accept) reads
/// one hand-off completely (bounded by a timeout and a frame-size limit) before returning.
/// An `Err` from `accept` concerns that one hand-off (its fds are closed); keep calling
/// `accept`. The socket file is removed when the `Receiver` is dropped.
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
    listener: UnixListener,
    path: PathBuf,
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

    /// Largest extended metadata payload accepted. Default: 1 MiB.
    pub fn max_frame_len(&mut self, max: u32) -> &mut Self {
        self.max_frame_len = max;
        self
    }

    /// Bounds reading one hand-off after its unix connection was accepted. Default: 5 s.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Creates the socket at `path` and listens. A stale socket file at `path` is replaced;
    /// any other file there is an error.
    ///
    /// Must be called inside a tokio runtime.
    pub fn bind(&self, path: impl AsRef<Path>) -> Result<Receiver> {
        let path = path.as_ref();
        let bind_err = |e: std::io::Error| Error::new(Kind::Bind).with(e);
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).map_err(bind_err)?,
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
        let listener =
            UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)).map_err(bind_err)?;
        Ok(Receiver {
            listener,
            path: path.to_owned(),
            require_uid: self.require_uid,
            max_frame_len: self.max_frame_len,
            timeout: self.timeout,
        })
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

    /// Accepts the next hand-off.
    ///
    /// Errors: [`Error::is_recv`] (socket trouble), [`Error::is_peer_cred`],
    /// [`Error::is_truncated`], [`Error::is_protocol`], [`Error::is_too_large`],
    /// [`Error::is_not_tcp`], [`Error::is_timeout`]. In every case the fds that came are
    /// closed.
    pub async fn accept(&self) -> Result<Handed> {
        let (unix, _) = self.listener.accept().await.map_err(Error::new_recv)?;
        if let Some(uid) = self.require_uid {
            let cred = unix.peer_cred().map_err(Error::new_recv)?;
            if cred.uid() != uid {
                return Err(Error::new(Kind::PeerCred).with(format!(
                    "sender uid {} is not the required {uid}",
                    cred.uid()
                )));
            }
        }
        tokio::time::timeout(self.timeout, self.read_handoff(unix))
            .await
            .map_err(|_| Error::new_timeout("reading a hand-off"))?
    }

    async fn read_handoff(&self, mut unix: UnixStream) -> Result<Handed> {
        let mut buf = vec![0u8; 4096];
        let got = scm::recv_fds(&unix, &mut buf)
            .await
            .map_err(Error::new_recv)?;
        if got.truncated {
            // `got` (and every fd in it) is dropped, i.e. closed, here.
            return Err(Error::new(Kind::Truncated));
        }
        let mut fds = got.fds;
        if fds.len() > 1 {
            return Err(Error::new_protocol("more than one fd in a hand-off"));
        }
        let Some(fd) = fds.pop() else {
            return Err(Error::new_protocol("hand-off without an fd"));
        };
        let data = &buf[..got.bytes];
        let meta = match data.first() {
            // mod_proxy_fdpass (and our compatible mode): one '\0' byte, nothing else.
            Some(0) => None,
            Some(_) if data.len() < 4 && MAGIC.starts_with(data) || data.starts_with(&MAGIC) => {
                Some(self.read_frame(&mut unix, data).await?)
            }
            Some(_) => return Err(Error::new_protocol("unknown hand-off data")),
            None => return Err(Error::new_protocol("hand-off without data")),
        };
        let stream = into_tcp(fd)?;
        Ok(Handed { stream, meta })
    }

    async fn read_frame(&self, unix: &mut UnixStream, first: &[u8]) -> Result<Metadata> {
        let mut frame = BytesMut::from(first);
        read_at_least(unix, &mut frame, HEADER_LEN).await?;
        let hdr: [u8; HEADER_LEN] = frame[..HEADER_LEN]
            .try_into()
            .map_err(|_| Error::new_protocol("truncated metadata frame header"))?;
        let (flags, len) = Metadata::decode_header(&hdr, self.max_frame_len)?;
        let total = HEADER_LEN + len as usize;
        read_at_least(unix, &mut frame, total).await?;
        if frame.len() > total {
            return Err(Error::new_protocol("bytes after the metadata frame"));
        }
        let payload: Bytes = frame.freeze().slice(HEADER_LEN..);
        Metadata::decode_payload(flags, payload)
    }
}

async fn read_at_least(unix: &mut UnixStream, buf: &mut BytesMut, want: usize) -> Result<()> {
    while buf.len() < want {
        buf.reserve(want - buf.len());
        let n = unix.read_buf(buf).await.map_err(Error::new_recv)?;
        if n == 0 {
            return Err(Error::new_protocol(
                "hand-off closed inside the metadata frame",
            ));
        }
    }
    Ok(())
}

/// Checks that `fd` is a TCP stream socket and registers it with tokio.
fn into_tcp(fd: OwnedFd) -> Result<TcpStream> {
    let not_tcp = |what: &'static str| Error::new(Kind::NotTcp).with(what);
    let ty = getsockopt(&fd, sockopt::SockType).map_err(|_| not_tcp("not a socket"))?;
    if ty != SockType::Stream {
        return Err(not_tcp("not a stream socket"));
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
        let _ = std::fs::remove_file(&self.path);
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
