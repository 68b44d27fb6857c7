//! Helpers shared by the `fdpass_*` integration tests: an in-process worker built on
//! `fdpass_layer::Receiver`, a raw HTTP/1 client, temp dirs and fd counting.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use fdpass_layer::{Handed, Receiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for any single network step in these tests.
pub const STEP: Duration = Duration::from_secs(10);

/// A fresh directory under the temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "fdpass-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Whether `fd` has `FD_CLOEXEC`.
pub fn is_cloexec(fd: &impl std::os::fd::AsFd) -> bool {
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).expect("F_GETFD");
    nix::fcntl::FdFlag::from_bits_truncate(flags).contains(nix::fcntl::FdFlag::FD_CLOEXEC)
}

/// Escapes bytes for a one-line report.
pub fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// What the test worker writes for one hand-off: one line naming what it received. In
/// extended mode it also reads the rest of a Content-Length body from the socket, so the
/// report shows the whole body as the worker saw it (`body ++ read_buf ++ socket`).
pub async fn describe(handed: &mut Handed) -> String {
    let peer = handed
        .stream()
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let Some(meta) = handed.metadata().cloned() else {
        return format!("fdpass-worker mode=compatible peer={peer}\n");
    };
    let mut body = meta.body().to_vec();
    let mut read_buf = meta.read_buf().to_vec();
    let declared: usize = meta
        .header("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0);
    if !meta.body_complete() && body.len() < declared {
        // The rest of the body is in read_buf first, then on the socket.
        let from_buf = (declared - body.len()).min(read_buf.len());
        body.extend(read_buf.drain(..from_buf));
        let mut rest = vec![0; declared - body.len()];
        let _ = tokio::time::timeout(STEP, handed.stream().read_exact(&mut rest)).await;
        body.extend(rest);
    }
    format!(
        "fdpass-worker mode=extended method={} target={} peer={peer} meta_peer={} head_sent={} written={} body_complete={} dechunked={} body={} read_buf={}\n",
        meta.method().unwrap_or("?"),
        meta.target().unwrap_or("?"),
        meta.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
        meta.head_sent(),
        meta.written(),
        meta.body_complete(),
        meta.body_dechunked(),
        esc(&body),
        esc(&read_buf),
    )
}

/// Answers one hand-off: a body (after the flusher's head) or a whole response (when
/// nothing was written yet), then closes.
pub async fn answer(mut handed: Handed) {
    let text = describe(&mut handed).await;
    let head_sent = handed.metadata().is_none_or(|m| m.head_sent());
    let out = if head_sent {
        text
    } else {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        )
    };
    let (mut stream, _) = handed.into_parts();
    let _ = stream.write_all(out.as_bytes()).await;
    // Dropping closes: the close-delimited body ends here.
}

/// Runs an in-process worker on `receiver` until the task is aborted. Errors of single
/// hand-offs are sent to `errors` (if given).
pub fn spawn_worker(
    receiver: Receiver,
    errors: Option<tokio::sync::mpsc::UnboundedSender<fdpass_layer::Error>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match receiver.accept().await {
                Ok(handed) => {
                    tokio::spawn(answer(handed));
                }
                Err(e) => {
                    if let Some(tx) = &errors {
                        let _ = tx.send(e);
                    }
                }
            }
        }
    })
}

/// Sends `request` on a new connection and reads until EOF.
pub async fn roundtrip(addr: std::net::SocketAddr, request: &[u8]) -> String {
    tokio::time::timeout(STEP, async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request).await.expect("write request");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read response");
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap_or_else(|_| panic!("no EOF from {addr} within {STEP:?}"))
}
