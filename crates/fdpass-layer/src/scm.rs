//! Passing file descriptors over `AF_UNIX` sockets with `SCM_RIGHTS`.
//!
//! This is the only module of the crate with `unsafe` code: turning a descriptor number the
//! kernel just installed in our table into an [`OwnedFd`] cannot be done safely, and reading a
//! truncated control buffer (which nix refuses to iterate) needs an unaligned read of a
//! `cmsghdr`. Everything else goes through nix's safe `sendmsg`/`recvmsg`.
//!
//! Guarantees:
//! * received fds are `FD_CLOEXEC` (`MSG_CMSG_CLOEXEC`) and are wrapped in [`OwnedFd`] before
//!   anything else happens, so every error path closes them;
//! * on `MSG_CTRUNC` every fd that did arrive is found in the raw control buffer and closed.
#![allow(unsafe_code)]

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::libc;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
    accept4, connect, recvmsg, sendmsg, socket,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::UnixStream;

/// What one `recvmsg` brought.
#[derive(Debug)]
pub(crate) struct Received {
    /// Data bytes written into the caller's buffer.
    pub(crate) bytes: usize,
    /// Every fd that arrived, already owned (closed on drop).
    pub(crate) fds: Vec<OwnedFd>,
    /// `MSG_CTRUNC` was set: the kernel dropped fds that did not fit.
    pub(crate) truncated: bool,
}

/// Room for the control messages we accept: one `SCM_RIGHTS` holding one fd.
///
/// `CMSG_SPACE(sizeof(int))` is 24 on LP64 Linux, which happens to hold two `int`s after
/// the 16-byte header, so a sender passing two fds gets both delivered (and we close both),
/// and a sender passing three or more gets `MSG_CTRUNC`.
fn cmsg_buffer() -> Vec<u8> {
    nix::cmsg_space!([RawFd; 1])
}

/// `cmsg_buffer().len()`, for a buffer on the stack.
const CMSG_BUF_LEN: usize = cmsg_align(size_of::<libc::cmsghdr>()) + cmsg_align(size_of::<RawFd>());

/// A control-message buffer on the stack. The kernel writes a `cmsghdr` at its start and
/// nix reads it back through a reference, so it needs the header's alignment, which a
/// plain byte array does not have (a `Vec<u8>` from `cmsg_space!` gets it from malloc).
#[repr(C, align(8))]
struct CmsgSpace([u8; CMSG_BUF_LEN]);

const _: () = assert!(align_of::<CmsgSpace>() >= align_of::<libc::cmsghdr>());

/// Sends `data` with `fd` attached (one `SCM_RIGHTS` control message, one fd) in a single
/// `sendmsg`. Returns how many data bytes went out; the fd rides on the first one.
pub(crate) async fn send_fd(
    stream: &UnixStream,
    data: &[u8],
    fd: BorrowedFd<'_>,
) -> io::Result<usize> {
    stream
        .async_io(Interest::WRITABLE, || {
            send_fd_now(stream.as_raw_fd(), data, fd)
        })
        .await
}

/// One non-blocking `sendmsg` of `data` with `fd` attached, on any unix stream socket
/// (registered with the reactor or not). `WouldBlock` means nothing was sent.
pub(crate) fn send_fd_now(sock: RawFd, data: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    let fds = [fd.as_raw_fd()];
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock,
        &iov,
        &cmsg,
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(io::Error::from)
}

/// Connects a non-blocking, close-on-exec unix stream socket to `addr`, without registering
/// it with the reactor (a hand-off usually needs only one `sendmsg` on it, which a fresh
/// socket's buffer always takes). An `AF_UNIX` connect completes at once or fails; a full
/// listen backlog gives `WouldBlock`.
pub(crate) fn connect_now(addr: &UnixAddr) -> io::Result<std::os::unix::net::UnixStream> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(fd.as_raw_fd(), addr)?;
    Ok(std::os::unix::net::UnixStream::from(fd))
}

/// Receives once into `buf`, collecting any fds that come with the data.
pub(crate) async fn recv_fds(stream: &UnixStream, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = cmsg_buffer();
    stream
        .async_io(Interest::READABLE, || {
            recv_now(stream.as_raw_fd(), buf, &mut cmsg)
        })
        .await
}

/// One non-blocking `recvmsg` on any unix stream socket (registered or not).
pub(crate) fn recv_fds_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = CmsgSpace([0; CMSG_BUF_LEN]);
    recv_now(fd, buf, &mut cmsg.0)
}

/// `accept4` of a non-blocking, close-on-exec connection, not registered with the reactor.
pub(crate) fn accept_now(listener: RawFd) -> io::Result<OwnedFd> {
    let fd = accept4(listener, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC)?;
    // SAFETY: `accept4` just returned this new descriptor; nothing else refers to it, so
    // it is ours to own, exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Registers a listening unix socket with the reactor, so connections can be accepted with
/// [`accept_now`] without tokio registering each of them.
pub(crate) fn register_listener(
    listener: std::os::unix::net::UnixListener,
) -> io::Result<AsyncFd<std::os::unix::net::UnixListener>> {
    // SAFETY: the `UnixListener` owns its descriptor and is moved into the `AsyncFd`, so the
    // descriptor stays open, refers to the same socket, and `as_raw_fd` returns the same
    // number for as long as the `AsyncFd` holds it.
    unsafe { AsyncFd::register(listener) }.map_err(io::Error::from)
}

fn recv_now(fd: RawFd, buf: &mut [u8], cmsg: &mut [u8]) -> io::Result<Received> {
    cmsg.fill(0);
    let mut iov = [IoSliceMut::new(buf)];
    let flags = MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT;
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut *cmsg), flags).map_err(io::Error::from)?;
    let bytes = msg.bytes;
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    let mut fds = Vec::new();
    match msg.cmsgs() {
        Ok(iter) => {
            for c in iter {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // SAFETY: the kernel just installed these descriptors in our table for
                    // this message (SCM_RIGHTS); nobody else knows their numbers, so we are
                    // their sole owner and wrap each exactly once.
                    fds.extend(raw.into_iter().map(|r| unsafe { OwnedFd::from_raw_fd(r) }));
                }
            }
        }
        Err(_) => {
            // nix refuses to iterate a truncated buffer (ENOBUFS on MSG_CTRUNC), but the fds
            // that fitted are installed in our table all the same: find and own them.
            for r in rights_in_raw_buffer(cmsg) {
                // SAFETY: as above: the kernel installed `r` for this message and its number
                // was written only into our control buffer.
                fds.push(unsafe { OwnedFd::from_raw_fd(r) });
            }
        }
    }
    Ok(Received {
        bytes,
        fds,
        truncated,
    })
}

/// `CMSG_ALIGN` as glibc and musl define it on Linux.
const fn cmsg_align(len: usize) -> usize {
    (len + size_of::<usize>() - 1) & !(size_of::<usize>() - 1)
}

/// Walks a (possibly truncated) control buffer that the kernel filled, returning the fds of
/// every `SOL_SOCKET`/`SCM_RIGHTS` message. The buffer was zeroed before `recvmsg`, so the walk
/// stops at the first zero `cmsg_len`.
fn rights_in_raw_buffer(buf: &[u8]) -> Vec<RawFd> {
    let hdr = size_of::<libc::cmsghdr>();
    let data_off = cmsg_align(hdr);
    let mut out = Vec::new();
    let mut off = 0;
    while off + hdr <= buf.len() {
        // SAFETY: `off + size_of::<cmsghdr>() <= buf.len()` was checked, `cmsghdr` is plain
        // old data valid for any bit pattern, and `read_unaligned` has no alignment need.
        let h: libc::cmsghdr =
            unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast::<libc::cmsghdr>()) };
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        let len = h.cmsg_len as usize;
        if len < data_off {
            break;
        }
        let end = (off + len).min(buf.len());
        if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_RIGHTS {
            for chunk in buf[off + data_off..end].chunks_exact(size_of::<RawFd>()) {
                let mut b = [0u8; size_of::<RawFd>()];
                b.copy_from_slice(chunk);
                out.push(RawFd::from_ne_bytes(b));
            }
        }
        off += cmsg_align(len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn is_cloexec(fd: &OwnedFd) -> bool {
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        nix::fcntl::FdFlag::from_bits_truncate(flags).contains(nix::fcntl::FdFlag::FD_CLOEXEC)
    }

    #[test]
    fn stack_cmsg_buffer_is_cmsg_space() {
        assert_eq!(CMSG_BUF_LEN, cmsg_buffer().len());
    }

    #[tokio::test]
    async fn one_fd_round_trip_is_cloexec() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(send_fd(&a, b"\0", file.as_fd()).await.unwrap(), 1);
        let mut buf = [0u8; 8];
        let got = recv_fds(&b, &mut buf).await.unwrap();
        assert_eq!(got.bytes, 1);
        assert!(!got.truncated);
        assert_eq!(got.fds.len(), 1);
        assert!(is_cloexec(&got.fds[0]));
    }

    #[tokio::test]
    async fn truncated_control_closes_every_fd() {
        let (a, b) = UnixStream::pair().unwrap();
        let files: Vec<_> = (0..5)
            .map(|_| std::fs::File::open("/proc/self/status").unwrap())
            .collect();
        let raws: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(b"\0")],
            &[ControlMessage::ScmRights(&raws)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let mut buf = [0u8; 8];
        let got = recv_fds(&b, &mut buf).await.unwrap();
        assert!(got.truncated);
        // Two ints fit in CMSG_SPACE(4) on LP64; on 32-bit targets one does.
        assert!(!got.fds.is_empty(), "the fds that fitted must be found");
        for fd in &got.fds {
            assert!(is_cloexec(fd));
            let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
            assert!(target.ends_with("status"), "{target:?}");
        }
        // Dropping `got` closes them; counting open fds is done by the single-threaded
        // integration test `tests/fdpass_leaks.rs`, where no other test runs alongside.
    }
}
