//! I/O whose reads and writes keep a [`BusyPoll`](crate::BusyPoll) polling.

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::poller::Shared;

pin_project! {
    /// An I/O object (a `TcpStream`, say) whose reads and writes count as traffic for the
    /// [`BusyPoll`](crate::BusyPoll) that made it ([`BusyPoll::watch`](crate::BusyPoll::watch)).
    ///
    /// A read or write counts when it moves at least one byte. Everything else passes
    /// through, vectored writes included.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use busy_poll::BusyPoll;
    /// use tokio::io::AsyncWriteExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let busy = BusyPoll::start(Duration::from_millis(1));
    /// let (a, _b) = tokio::io::duplex(64);
    /// let mut a = busy.watch(a);
    /// a.write_all(b"counts as traffic").await?;
    /// let _a: tokio::io::DuplexStream = a.into_inner();
    /// # Ok(())
    /// # }
    /// ```
    pub struct Watched<IO> {
        #[pin]
        io: IO,
        shared: Arc<Shared>,
    }
}

impl<IO> Watched<IO> {
    pub(crate) fn new(io: IO, shared: Arc<Shared>) -> Self {
        Self { io, shared }
    }

    /// The wrapped I/O object.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The wrapped I/O object, mutably: reads and writes made through it do not count.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Unwraps the I/O object.
    pub fn into_inner(self) -> IO {
        self.io
    }
}

impl<IO: fmt::Debug> fmt::Debug for Watched<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched").field("io", &self.io).finish()
    }
}

/// Counts `done` as traffic if it moved bytes.
#[inline]
fn counted(shared: &Shared, done: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = done
        && n > 0
    {
        shared.touch();
    }
    done
}

impl<IO: AsyncRead> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let done = this.io.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = done
            && buf.filled().len() > before
        {
            this.shared.touch();
        }
        done
    }
}

impl<IO: AsyncWrite> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        counted(this.shared, this.io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        counted(this.shared, this.io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
