//! The per-connection driver: serves HTTP/1 with hyper and takes the connection back out
//! when the [`Handoff`](crate::Handoff) service asks for it.
//!
//! The recipe (spec `fdpass.md` §4.2): the service parks the request's future and sends a
//! [`Job`] here; the driver keeps polling hyper while it connects to the worker and until
//! every earlier response has left hyper's write buffer, then calls
//! [`Connection::into_parts`](hyper::server::conn::http1::Connection::into_parts) (which drops
//! the parked future before hyper writes anything for it), drains body bytes hyper already
//! read, runs the flusher, sends the fd, and drops its `TcpStream` without `shutdown()`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Request, Response, request, response};
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};
use tower::{Service, ServiceExt};

use crate::error::{BoxError, Error, Kind, Result};
use crate::meta::Metadata;
use crate::sender::{Mode, Sender};

/// Handle to the driver of the connection a request came in on. The driver puts it in every
/// request's extensions; the [`Handoff`](crate::Handoff) service takes it out.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    tx: mpsc::Sender<Job>,
}

/// The request body as the hand-off found it.
pub(crate) enum JobBody {
    /// Still with hyper: drain what it already read after `into_parts`.
    Drain(UnsyncBoxBody<Bytes, BoxError>),
    /// Read completely (and de-chunked) before the hand-off.
    Buffered(Bytes),
    /// Consumed or dropped by the application; nothing can be forwarded.
    Gone,
}

/// One hand-off request from the service to the driver.
pub(crate) struct Job {
    pub(crate) sender: Sender,
    pub(crate) request: request::Parts,
    pub(crate) response: response::Parts,
    pub(crate) body: JobBody,
    /// Answered only when the hand-off failed before anything was written, so the service
    /// can let hyper send a 503. On success the driver drops the service future instead.
    pub(crate) reply: oneshot::Sender<Error>,
}

impl ConnHandle {
    /// Asks the driver to take the connection. Returns the failure, if the driver refused
    /// before writing anything; never returns on success (the future is dropped).
    pub(crate) async fn hand_off(&self, job_parts: JobParts) -> Error {
        let (reply, rx) = oneshot::channel();
        let JobParts {
            sender,
            request,
            response,
            body,
        } = job_parts;
        let job = Job {
            sender,
            request,
            response,
            body,
            reply,
        };
        if self.tx.send(job).await.is_err() {
            return Error::new_refused("connection driver is gone");
        }
        match rx.await {
            Ok(e) => e,
            // The driver took the connection and is about to drop us: park.
            Err(_) => std::future::pending().await,
        }
    }
}

/// A [`Job`] without its reply channel.
pub(crate) struct JobParts {
    pub(crate) sender: Sender,
    pub(crate) request: request::Parts,
    pub(crate) response: response::Parts,
    pub(crate) body: JobBody,
}

/// How a connection served by [`serve_connection`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// hyper finished the connection (client closed it, or it was not kept alive).
    Closed,
    /// The connection was handed to a worker.
    HandedOff,
    /// A hand-off was attempted and failed; the client got a 503 (if nothing had been
    /// written yet) and the connection was closed.
    HandoffFailed,
}

/// Serves one HTTP/1 connection with `service`, handing it off when a
/// [`Handoff`](crate::Handoff) layer inside `service` asks for it.
///
/// Requests before the hand-off are answered normally (keep-alive works). Only HTTP/1.x is
/// served: an HTTP/2 connection is multiplexed and cannot be given away.
///
/// Errors are hyper's (client misbehaved) or the hand-off's; either way the connection is
/// closed by the time this returns, and our copy of the socket is closed without
/// `shutdown()`.
pub async fn serve_connection<S, B>(stream: TcpStream, service: S) -> Result<ConnectionEnd>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_connection_from(stream, None, service).await
}

/// [`serve_connection`] with the peer address, when the accept loop already knows it.
pub(crate) async fn serve_connection_from<S, B>(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    service: S,
) -> Result<ConnectionEnd>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let flushed = Arc::new(FlushState::default());
    let io = TokioIo::new(Tracked {
        inner: stream,
        state: flushed.clone(),
    });
    let (tx, mut rx) = mpsc::channel(1);
    let handle = ConnHandle { tx };
    // Boxed so the `service_fn` closure, and with it hyper's `Connection`, is `Unpin`:
    // `into_parts` needs the connection by value.
    let service = Box::new(service);
    let svc = service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        (*service).clone().oneshot(req)
    });
    let mut conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(io, svc);

    // Phase 1: plain HTTP until a hand-off is asked for.
    let job = tokio::select! {
        res = &mut conn => {
            return res.map(|()| ConnectionEnd::Closed).map_err(|e| Error::new(Kind::Http).with(e));
        }
        job = rx.recv() => match job {
            Some(job) => job,
            None => return conn.await.map(|()| ConnectionEnd::Closed).map_err(|e| Error::new(Kind::Http).with(e)),
        },
    };

    // Phase 2: keep hyper running (the hand-off request's future is parked) while we connect
    // and while earlier pipelined responses drain from hyper's write buffer.
    let prepared = async {
        let unix = job.sender.connect().await?;
        tokio::time::timeout(job.sender.get_send_timeout(), flushed.wait_clean())
            .await
            .map_err(|_| Error::new_timeout("flushing earlier responses before the hand-off"))?;
        Ok::<_, Error>(unix)
    };
    let prepared = tokio::select! {
        res = &mut conn => {
            // hyper ended while the request was parked (client went away).
            return res.map(|()| ConnectionEnd::Closed).map_err(|e| Error::new(Kind::Http).with(e));
        }
        p = prepared => p,
    };
    let unix = match prepared {
        Ok(unix) => unix,
        Err(e) => {
            tracing::warn!(error = ?e, "fd hand-off failed before anything was written; answering 503");
            let _ = job.reply.send(e);
            Pin::new(&mut conn).graceful_shutdown();
            conn.await.map_err(|e| Error::new(Kind::Http).with(e))?;
            return Ok(ConnectionEnd::HandoffFailed);
        }
    };

    // Phase 3: take the socket out of hyper. This drops the parked service future; hyper has
    // written nothing for this request.
    let parts = conn.into_parts();
    let mut stream = parts.io.into_inner().inner;
    let res = finish(job, &mut stream, unix, parts.read_buf, peer).await;
    // Close our copy. Never `shutdown()`: that would end the worker's connection too.
    drop(stream);
    res
}

async fn finish(
    job: Job,
    stream: &mut TcpStream,
    unix: crate::sender::Link,
    read_buf: Bytes,
    peer: Option<SocketAddr>,
) -> Result<ConnectionEnd> {
    let Job {
        sender,
        request,
        response,
        body,
        reply: _,
    } = job;
    let extended = sender.get_mode() == Mode::Extended;
    let (body, complete, dechunked) = match body {
        JobBody::Drain(b) if extended => drain(b).await,
        JobBody::Drain(_) | JobBody::Gone => (Bytes::new(), false, false),
        JobBody::Buffered(b) => (b, true, true),
    };

    let head = sender.get_flusher().flush(&request, &response);
    let timeout = sender.get_send_timeout();
    let written = u32::try_from(head.len()).unwrap_or(u32::MAX);
    let meta = if extended {
        Metadata::new()
            // Only extended mode needs the addresses: no getpeername/getsockname otherwise.
            .with_peer_addr(peer.or_else(|| stream.peer_addr().ok()))
            .with_local_addr(stream.local_addr().ok())
            .with_head(serialize_head(&request))
            .with_body(body, complete, dechunked)
            .with_read_buf(read_buf)
            .with_written(written)
    } else {
        Metadata::new()
    };
    // The frame is made (and its size checked) before the flusher writes anything, so a
    // frame the worker would refuse is still a clean 503 for the client.
    let frame = match sender.frame(&meta) {
        Ok(frame) => frame,
        Err(e) => {
            let _ = tokio::time::timeout(timeout, stream.write_all(UNAVAILABLE)).await;
            tracing::warn!(error = ?e, "fd hand-off refused before sending; answered 503");
            return Err(e);
        }
    };
    if !head.is_empty() {
        match tokio::time::timeout(timeout, stream.write_all(&head)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::new(Kind::Client).with(e)),
            Err(_) => return Err(Error::new_timeout("writing the flusher's head")),
        }
    }
    match sender.send_on(unix, &*stream, frame).await {
        Ok(()) => Ok(ConnectionEnd::HandedOff),
        Err(e) => {
            if head.is_empty() {
                let _ = tokio::time::timeout(timeout, stream.write_all(UNAVAILABLE)).await;
            }
            tracing::warn!(error = ?e, "fd hand-off failed while sending");
            Err(e)
        }
    }
}

/// What the client gets when the hand-off fails after hyper was stopped and before anything
/// was written.
const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Drains the body bytes hyper had read before `into_parts`. hyper's side of the channel is
/// gone, so this ends at once: with the end of the body (`complete`), or with an error when
/// part of the body is still on the socket for the worker.
async fn drain(mut body: UnsyncBoxBody<Bytes, BoxError>) -> (Bytes, bool, bool) {
    let mut out = BytesMut::new();
    let complete = loop {
        match tokio::time::timeout(std::time::Duration::from_millis(200), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Ok(None) => break true,
            Ok(Some(Err(_))) | Err(_) => break false,
        }
    };
    (out.freeze(), complete, false)
}

/// Re-serializes the request head hyper parsed.
pub(crate) fn serialize_head(req: &request::Parts) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    match req.uri.path_and_query() {
        Some(pq) if req.uri.authority().is_none() => out.extend_from_slice(pq.as_str().as_bytes()),
        _ => out.extend_from_slice(req.uri.to_string().as_bytes()),
    }
    out.extend_from_slice(match req.version {
        http::Version::HTTP_10 => b" HTTP/1.0\r\n",
        _ => b" HTTP/1.1\r\n",
    });
    for (name, value) in &req.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Tracks whether hyper still holds unsent response bytes.
///
/// hyper's buffered writer calls the IO's `poll_flush` only after its own write buffer is
/// empty, so "a write happened and no flush completed since" means bytes may still be queued
/// inside hyper. `into_parts` would drop them.
#[derive(Debug, Default)]
struct FlushState {
    dirty: AtomicBool,
    clean: Notify,
}

impl FlushState {
    async fn wait_clean(&self) {
        loop {
            let notified = self.clean.notified();
            if !self.dirty.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// The client socket, with write tracking for [`FlushState`].
#[derive(Debug)]
struct Tracked {
    inner: TcpStream,
    state: Arc<FlushState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.state.dirty.store(true, Ordering::Release);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.state.dirty.store(true, Ordering::Release);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = res {
            self.state.dirty.store(false, Ordering::Release);
            self.state.clean.notify_waiters();
        }
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_reserialized() {
        let (parts, ()) = Request::post("/a?b=1")
            .header("host", "x")
            .header("content-length", "3")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            &serialize_head(&parts)[..],
            b"POST /a?b=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\n"
        );
    }
}
