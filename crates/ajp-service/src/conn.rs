//! One AJP connection: a stream plus its read and write buffers. Reads whole packets,
//! writes whatever was queued. No protocol decisions here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use ajp_codec::{ContainerMessage, PacketSize, ProxyCodec};
use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tokio_util::codec::Decoder;

use crate::backend::Stream;
use crate::error::Error;

#[derive(Debug)]
pub(crate) struct Conn {
    io: Stream,
    codec: ProxyCodec,
    read_buf: BytesMut,
    /// Packets queued for the backend; written out by [`Conn::poll_flush`].
    pub(crate) write_buf: BytesMut,
    /// Serial number, for logs.
    pub(crate) id: u64,
    /// When the connection was last handed back to the pool or opened.
    pub(crate) idle_since: Instant,
    /// Whether any byte has arrived from the backend for the current request. A request
    /// that failed before that on a reused connection may be replayed.
    pub(crate) received: bool,
    /// Lives as long as the connection: its opening, probes, reuse and closing are logged
    /// inside it.
    pub(crate) span: tracing::Span,
}

impl Conn {
    pub(crate) fn new(io: Stream, packet_size: PacketSize, id: u64, span: tracing::Span) -> Self {
        Self {
            io,
            codec: ProxyCodec::new(packet_size),
            read_buf: BytesMut::with_capacity(read_chunk(packet_size)),
            write_buf: BytesMut::with_capacity(packet_size.get()),
            id,
            idle_since: Instant::now(),
            received: false,
            span,
        }
    }

    pub(crate) fn packet_size(&self) -> PacketSize {
        self.codec.packet_size()
    }

    /// Nothing is buffered in either direction: the connection sits between requests.
    pub(crate) fn is_quiet(&self) -> bool {
        self.read_buf.is_empty() && self.write_buf.is_empty()
    }

    pub(crate) fn is_dead_while_idle(&self) -> bool {
        self.io.is_dead_while_idle()
    }

    /// Reads the next whole message from the backend.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ContainerMessage, Error>> {
        loop {
            if let Some(message) = self.codec.decode(&mut self.read_buf)? {
                return Poll::Ready(Ok(message));
            }
            if self.read_buf.capacity() - self.read_buf.len() < 4096 {
                self.read_buf.reserve(read_chunk(self.packet_size()));
            }
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.read_buf
            ))
            .map_err(Error::closed)?;
            if n == 0 {
                let what = if self.read_buf.is_empty() {
                    "connection closed by the backend"
                } else {
                    "connection closed by the backend inside a packet"
                };
                return Poll::Ready(Err(Error::closed(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    what,
                ))));
            }
            self.received = true;
        }
    }

    /// The next message, writing out what is queued first unless that message is already
    /// in the read buffer. A container that asks for several body packets ahead thus gets
    /// all the answers in one write, and nothing it waits for is left unwritten while we
    /// wait on it.
    ///
    /// Queued answers are bounded: past [`high_water`] bytes they are written out before
    /// the next message is taken, however many GET_BODY_CHUNKs one read brought (32 KiB
    /// can hold 4 681 of them, each asking for up to a packet).
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ContainerMessage, Error>> {
        if self.write_buf.len() < high_water(self.packet_size())
            && let Some(message) = self.codec.decode(&mut self.read_buf)?
        {
            return Poll::Ready(Ok(message));
        }
        ready!(self.poll_flush(cx))?;
        self.poll_message(cx)
    }

    /// Writes out everything queued.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while !self.write_buf.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.write_buf))
                .map_err(Error::closed)?;
            if n == 0 {
                return Poll::Ready(Err(Error::closed(io::Error::from(
                    io::ErrorKind::WriteZero,
                ))));
            }
            self.write_buf.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx).map_err(Error::closed)
    }
}

/// How much to read at a time: a whole packet and then some, so a stream of body chunks
/// takes few reads.
fn read_chunk(packet_size: PacketSize) -> usize {
    (packet_size.get() * 4).max(32 * 1024)
}

/// How many bytes of queued packets [`Conn::poll_next`] lets build up before it writes them
/// out: the 128 KiB a container reading ahead asks for at once once an upload is under way
/// (`ajp-server` by default refills half of its 256 KiB window at a time), or two packets.
fn high_water(packet_size: PacketSize) -> usize {
    (packet_size.get() * 2).max(128 * 1024)
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use ajp_codec::{GetBodyChunk, encode_request_body};
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// However many GET_BODY_CHUNKs one read brings, the answers queued for them stay
    /// within the high-water mark plus one packet, and every one of them goes out.
    #[tokio::test]
    async fn answers_to_many_asks_read_at_once_are_bounded() {
        let p = PacketSize::DEFAULT;
        let data = vec![7u8; p.max_request_body()];
        let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
        let mut conn = Conn::new(Stream::Unix(ours), p, 1, tracing::Span::none());
        let mut asks = BytesMut::new();
        let ask = ContainerMessage::<Bytes>::GetBodyChunk(GetBodyChunk {
            requested_len: data.len() as u16,
        });
        for _ in 0..1000 {
            ask.encode(&mut asks, p).unwrap();
        }
        theirs.write_all(&asks).await.unwrap();
        let container = tokio::spawn(async move {
            let (mut n, mut buf) = (0usize, vec![0u8; 1 << 16]);
            loop {
                match theirs.read(&mut buf).await {
                    Ok(0) | Err(_) => return n,
                    Ok(k) => n += k,
                }
            }
        });
        let mut most = 0;
        for _ in 0..1000 {
            let m = poll_fn(|cx| conn.poll_next(cx)).await.unwrap();
            assert!(matches!(m, ContainerMessage::GetBodyChunk(_)), "{m:?}");
            encode_request_body(&data, &mut conn.write_buf, p).unwrap();
            most = most.max(conn.write_buf.len());
        }
        poll_fn(|cx| conn.poll_flush(cx)).await.unwrap();
        drop(conn);
        assert_eq!(container.await.unwrap(), 1000 * p.get());
        assert!(
            most <= high_water(p) + p.get(),
            "{most} bytes queued at once"
        );
    }
}
