//! One AJP connection: waits for messages between requests, runs each exchange, and moves
//! bytes. All protocol decisions are in [`crate::exchange`], [`crate::request`] and
//! [`crate::response`].

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ajp_codec::{
    ContainerCodec, ContainerMessage, EndResponse, GetBodyChunk, ProxyMessage, WriteQueue,
};
use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use http::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::codec::FramedRead;
use tokio_util::io::poll_write_buf;
use tower::Service;

use crate::body::{Body, Delivery, Shared};
use crate::builder::Config;
use crate::error::{BoxError, Error, Kind};
use crate::exchange::{Got, RequestBody, Violation, response_has_body};
use crate::pack::Packer;
use crate::request::convert;
use crate::response::{encode_bare, encode_head};

/// Bytes queued for the proxy above which we write them before queuing more response body.
/// Body data is queued by reference (see [`WriteQueue`]), so this costs references to the
/// app's frames, not a buffer of ours.
///
/// Copying every body byte into a write buffer was ~9 % of the container's CPU on a proxied
/// download (perf, 2026-12-07). Sending the app's own `Bytes` and a 256 KiB mark instead
/// of 64 KiB (fewer, larger writes) made 1 GiB downloads through the gateway 13 % faster.
const HIGH_WATER: usize = 256 * 1024;

/// The read buffer's size, and so the most one read takes. Request body packets are
/// handed to the app as slices of this buffer, so while the app holds one the buffer
/// cannot be reused and each read gets a new one of this size: at tokio-util's default
/// 8 KiB that was one read per packet (36 440 reads for a 256 MiB upload); at 64 KiB it
/// is 5 351, and the container's CPU per uploaded GiB fell ~20 % (`bench/ab.sh up`).
const READ_BUF: usize = 64 * 1024;

/// The connection, read as AJP messages. Everything written goes through a [`WriteQueue`]
/// straight to the stream ([`write_all`]), so there is one write path.
type Io<I> = FramedRead<I, ContainerCodec>;

/// Serves AJP on `io` until the proxy closes it, a request ends with reuse = false, an
/// error occurs, or `shutdown` turns true while the connection is idle.
pub(crate) async fn serve<I, S, B>(
    io: I,
    mut service: S,
    config: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let mut framed =
        FramedRead::with_capacity(io, ContainerCodec::new(config.packet_size), READ_BUF);
    let mut outbox = WriteQueue::new();
    loop {
        let msg = tokio::select! {
            biased;
            () = signalled(&mut shutdown) => {
                tracing::debug!("shutting down: closing idle AJP connection");
                return Ok(());
            }
            msg = framed.next() => msg,
            () = idle(config.idle_timeout) => {
                tracing::debug!(timeout = ?config.idle_timeout, "closing idle AJP connection");
                return Ok(());
            }
        };
        match msg {
            None => return Ok(()),
            Some(Err(e)) => return Err(Error::new_decode(e)),
            Some(Ok(ProxyMessage::CPing)) => {
                ContainerMessage::<Bytes>::CPong
                    .encode(outbox.buf(), config.packet_size)
                    .map_err(Error::new_encode)?;
                flush(&mut framed, &mut outbox).await?;
            }
            Some(Ok(ProxyMessage::ForwardRequest(fr))) => {
                let reuse = exchange(
                    &mut framed,
                    &mut outbox,
                    &mut service,
                    &config,
                    fr,
                    &shutdown,
                )
                .await?;
                if !reuse {
                    linger_close(framed).await;
                    return Ok(());
                }
            }
            // Tomcat closes the connection on SHUTDOWN (it does not implement it).
            Some(Ok(ProxyMessage::Shutdown)) => return Ok(()),
            Some(Ok(ProxyMessage::Body(_))) => {
                // Unreachable: body packets are only decoded when armed.
                return Err(Error::new(Kind::Protocol).with("body packet between requests"));
            }
        }
    }
}

/// Resolves after `timeout`, or never.
async fn idle(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// Resolves once the shutdown flag is true; never if its sender is gone without it.
async fn signalled(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Closes after END_RESPONSE(reuse = false): shut our side, then read what the proxy may
/// still have in flight (briefly, bounded), so the close is a FIN and not a reset that
/// could destroy our answer before the proxy has read it.
async fn linger_close<I: AsyncRead + AsyncWrite + Unpin>(framed: Io<I>) {
    let mut io = framed.into_inner();
    let _ = io.shutdown().await;
    let mut sink = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut total = 0usize;
        while total < 1 << 20 {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// Runs one request: refuses it or calls the app, then drives both directions until
/// END_RESPONSE is flushed. Returns whether the connection may carry another request.
async fn exchange<I, S, B>(
    framed: &mut Io<I>,
    outbox: &mut WriteQueue,
    service: &mut S,
    config: &Config,
    fr: ajp_codec::ForwardRequestPacket,
    shutdown: &watch::Receiver<bool>,
) -> Result<bool, Error>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let head = match convert(fr, config) {
        Ok(head) => head,
        Err(refusal) => {
            tracing::warn!(status = %refusal.status, reason = refusal.reason, "AJP request refused");
            return refuse(framed, outbox, config, refusal.status).await;
        }
    };
    let method = head.request.method().clone();
    tracing::debug!(%method, uri = %head.request.uri(), "AJP request");
    let ready: Result<(), BoxError> = poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(Into::into);
    if let Err(e) = ready {
        tracing::error!(error = %e, "app service not ready: 503");
        return refuse(framed, outbox, config, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    let shared = Arc::new(Shared::default());
    let cl = head.content_length;
    let request = head.request.map(|()| match cl {
        Some(0) => Body::empty(),
        _ => Body::ajp(shared.clone(), cl),
    });
    let future = service.call(request);
    let mut ex = Exchange {
        framed,
        outbox,
        shared,
        body: RequestBody::new(cl, config.packet_size),
        ahead: VecDeque::new(),
        owed: false,
        reading: false,
        read_ahead: config.read_ahead_packets(),
        write: Write::Calling(Box::pin(future)),
        method,
        config,
        reuse: true,
        finishing: false,
        needs_flush: false,
        shutdown,
    };
    poll_fn(|cx| ex.poll(cx)).await
}

async fn refuse<I: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Io<I>,
    outbox: &mut WriteQueue,
    config: &Config,
    status: StatusCode,
) -> Result<bool, Error> {
    encode_bare(status, outbox.buf(), config.packet_size);
    ContainerMessage::<Bytes>::EndResponse(EndResponse { reuse: false })
        .encode(outbox.buf(), config.packet_size)
        .map_err(Error::new_encode)?;
    flush(framed, outbox).await?;
    Ok(false)
}

/// Writes out everything queued.
async fn flush<I: AsyncWrite + Unpin>(
    framed: &mut Io<I>,
    outbox: &mut WriteQueue,
) -> Result<(), Error> {
    poll_fn(|cx| write_all(outbox, framed.get_mut(), cx))
        .await
        .map_err(Error::new_io)
}

enum Write<F, B: http_body::Body> {
    Calling(Pin<Box<F>>),
    Streaming {
        body: Pin<Box<B>>,
        /// The rest of a frame that did not fit below the high-water mark.
        pending: Option<B::Data>,
        packer: Packer,
    },
    /// The response is written; END_RESPONSE after any owed body packet was read.
    Finishing,
    /// END_RESPONSE is in the write buffer.
    Ended,
}

struct Exchange<'a, I, F, B: http_body::Body> {
    /// Reads the proxy's messages. Writes go through `outbox`.
    framed: &'a mut Io<I>,
    outbox: &'a mut WriteQueue,
    shared: Arc<Shared>,
    body: RequestBody,
    /// Body data received ahead of the app asking for it.
    ahead: VecDeque<Bytes>,
    /// The app asked for more and has not been given anything yet.
    owed: bool,
    /// The app has started reading its body: from now on packets are asked for ahead.
    reading: bool,
    /// How many body packets to keep coming once `reading`.
    read_ahead: usize,
    write: Write<F, B>,
    method: Method,
    config: &'a Config,
    reuse: bool,
    finishing: bool,
    needs_flush: bool,
    shutdown: &'a watch::Receiver<bool>,
}

impl<I, F, E, B> Exchange<'_, I, F, B>
where
    I: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        loop {
            let read = self.poll_read(cx)?;
            let write = match self.poll_write(cx)? {
                Poll::Ready(Some(reuse)) => return Poll::Ready(Ok(reuse)),
                Poll::Ready(None) => true,
                Poll::Pending => false,
            };
            if read || write {
                continue;
            }
            // Nothing more to do now. What was written goes out: this is how an app body
            // that yields data and then waits becomes a flush to the proxy.
            if self.needs_flush {
                ready!(self.poll_flush(cx))?;
            }
            return Poll::Pending;
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(write_all(self.outbox, self.framed.get_mut(), cx)).map_err(Error::new_io)?;
        self.needs_flush = false;
        Poll::Ready(Ok(()))
    }

    /// Room in the outbox, flushing first if it is past the high-water mark.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.outbox.len() < HIGH_WATER {
            return Poll::Ready(Ok(()));
        }
        self.poll_flush(cx)
    }

    /// The request body side. Returns whether it made progress.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut progress = false;
        if !self.finishing {
            if self.shared.take_want(cx) {
                self.owed = true;
                self.reading = true;
            }
            if self.owed {
                let next = match self.ahead.pop_front() {
                    Some(data) => Some(Delivery::Data(data)),
                    None => self.body.is_end().then_some(Delivery::End),
                };
                if let Some(d) = next {
                    self.owed = false;
                    match self.shared.offer(d) {
                        None => progress = true,
                        // A void second ask: kept for the body's next one.
                        Some(Delivery::Data(data)) => self.ahead.push_front(data),
                        Some(_) => {}
                    }
                }
            }
            // Keep up to `read_ahead` packets coming: asked for, or here and not yet taken.
            // Top up only once half of that is free, and then all of it: asking for each
            // packet as the app takes one wakes the proxy once per packet, and on a busy
            // box those wake-ups cost more than the copies (a 512 MiB upload behind the
            // gateway took 25 800 writes of asks this way, 1 per 2.5 packets).
            let refill = self.ahead.len() + self.body.due() <= self.read_ahead / 2;
            while refill
                && self.reading
                && self.ahead.len() + self.body.due() < self.read_ahead
                && self.poll_room(cx)?.is_ready()
            {
                let Some(n) = self.body.ask() else { break };
                let get =
                    ContainerMessage::<Bytes>::GetBodyChunk(GetBodyChunk { requested_len: n });
                get.encode(self.outbox.buf(), self.config.packet_size)
                    .map_err(Error::new_encode)?;
                self.needs_flush = true;
                progress = true;
            }
        }
        if !self.body.is_due() {
            return Ok(progress);
        }
        // A GET_BODY_CHUNK must be on the wire before we can expect its answer.
        if self.needs_flush {
            let _ = self.poll_flush(cx)?;
        }
        self.framed.decoder_mut().expect_body();
        let packet = match Pin::new(&mut *self.framed).poll_next(cx) {
            Poll::Pending => return Ok(progress),
            Poll::Ready(Some(Ok(ProxyMessage::Body(chunk)))) => chunk,
            Poll::Ready(Some(Ok(other))) => {
                return Err(self.body_failed(
                    Error::new(Kind::Protocol).with(format!("{other:?} instead of a body packet")),
                ));
            }
            Poll::Ready(Some(Err(e))) => return Err(self.body_failed(Error::new_decode(e))),
            Poll::Ready(None) => {
                return Err(self.body_failed(
                    Error::new(Kind::Closed)
                        .with("proxy closed the connection during the request body"),
                ));
            }
        };
        // Once the response is complete, what is still due is read and discarded.
        let deliver = !self.finishing;
        match self.body.on_packet(packet.data.len()) {
            // Handed over by the next pass, in order: the data first, then the end.
            Ok(Got::Data { .. }) if deliver => self.ahead.push_back(packet.data),
            Ok(_) => {}
            Err(Violation::TooMuch { len, allowed }) => {
                return Err(self.body_failed(Error::new(Kind::Protocol).with(format!(
                    "body packet of {len} bytes where at most {allowed} were asked for"
                ))));
            }
            Err(Violation::Truncated { missing }) => {
                tracing::debug!(missing, "request body ended before its Content-Length");
                // In step, but the request is incomplete: do not reuse.
                self.reuse = false;
                if deliver {
                    self.shared.deliver(Delivery::Error(
                        Kind::RequestBody,
                        "the proxy ended the body before its Content-Length",
                    ));
                }
            }
        }
        Ok(true)
    }

    fn body_failed(&self, e: Error) -> Error {
        self.shared
            .deliver(Delivery::Error(e.kind(), "the AJP connection failed"));
        e
    }

    /// The response side. `Ready(Some(reuse))` when the exchange is complete,
    /// `Ready(None)` on progress.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<Poll<Option<bool>>, Error> {
        let packet_size = self.config.packet_size;
        match &mut self.write {
            Write::Calling(future) => {
                let response = match future.as_mut().poll(cx) {
                    Poll::Pending => return Ok(Poll::Pending),
                    Poll::Ready(Ok(r)) => r,
                    Poll::Ready(Err(e)) => {
                        let e: BoxError = e.into();
                        tracing::error!(error = %e, "app service failed: 500");
                        encode_bare(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            self.outbox.buf(),
                            packet_size,
                        );
                        self.needs_flush = true;
                        self.enter_finishing();
                        return Ok(Poll::Ready(None));
                    }
                };
                let (parts, body) = response.into_parts();
                let mut status = parts.status;
                if status.is_informational() {
                    tracing::error!(%status, "AJP cannot carry an interim response: 500");
                    status = StatusCode::INTERNAL_SERVER_ERROR;
                }
                let has_body = response_has_body(&self.method, status);
                // HEAD sends no body but the Content-Length GET would have (RFC 9110
                // §9.3.2); 204 and 304 get none.
                let head_len =
                    self.method == Method::HEAD && response_has_body(&Method::GET, status);
                let exact = if has_body {
                    body.size_hint().exact()
                } else if head_len {
                    // An app that already emptied the body for HEAD (axum does) leaves a
                    // size of 0 that says nothing about GET's: no length rather than a
                    // false one, as hyper does.
                    body.size_hint().exact().filter(|&n| n > 0)
                } else {
                    None
                };
                let head = encode_head(
                    status,
                    &parts.headers,
                    exact,
                    self.outbox.buf(),
                    packet_size,
                );
                if let Err(e) = &head {
                    // A bare 500 went out instead; the app's body must not follow it.
                    tracing::error!(error = %e, "response head does not fit one AJP packet: 500");
                }
                self.needs_flush = true;
                if head.is_ok() && has_body && !body.is_end_stream() {
                    self.write = Write::Streaming {
                        body: Box::pin(body),
                        pending: None,
                        packer: Packer::new(packet_size),
                    };
                } else {
                    // HEAD, 204, 304…: whatever the app wrote is swallowed, like Tomcat.
                    self.enter_finishing();
                }
                Ok(Poll::Ready(None))
            }
            Write::Streaming {
                body,
                pending,
                packer,
            } => {
                if let Some(data) = pending {
                    if self.outbox.len() >= HIGH_WATER {
                        let flushed = write_all(self.outbox, self.framed.get_mut(), cx);
                        if let Poll::Ready(Err(e)) = flushed {
                            return Err(Error::new_io(e));
                        }
                        if self.outbox.len() >= HIGH_WATER {
                            return Ok(Poll::Pending);
                        }
                    }
                    packer
                        .push(data, self.outbox, HIGH_WATER)
                        .map_err(Error::new_encode)?;
                    self.needs_flush = true;
                    if !data.has_remaining() {
                        *pending = None;
                    }
                    return Ok(Poll::Ready(None));
                }
                match body.as_mut().poll_frame(cx) {
                    // The app waits: what it wrote goes out now, a short packet included.
                    Poll::Pending => {
                        if packer.flush(self.outbox).map_err(Error::new_encode)? {
                            self.needs_flush = true;
                        }
                        Ok(Poll::Pending)
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data()
                            && data.has_remaining()
                        {
                            *pending = Some(data);
                        }
                        Ok(Poll::Ready(None))
                    }
                    Poll::Ready(Some(Err(e))) => {
                        // No way to abort a response in AJP: close without END_RESPONSE so the
                        // proxy sees a truncated response rather than a complete one.
                        Err(Error::new(Kind::ResponseBody).with(e))
                    }
                    Poll::Ready(None) => {
                        packer.flush(self.outbox).map_err(Error::new_encode)?;
                        self.needs_flush = true;
                        self.enter_finishing();
                        Ok(Poll::Ready(None))
                    }
                }
            }
            Write::Finishing => {
                // Every packet due is read (and discarded) first, or the proxy's next
                // bytes would be taken for a new message.
                if self.body.is_due() {
                    return Ok(Poll::Pending);
                }
                let reuse = self.reuse && !*self.shutdown.borrow();
                let end = ContainerMessage::<Bytes>::EndResponse(EndResponse { reuse });
                end.encode(self.outbox.buf(), packet_size)
                    .map_err(Error::new_encode)?;
                self.needs_flush = true;
                self.reuse = reuse;
                self.write = Write::Ended;
                Ok(Poll::Ready(None))
            }
            Write::Ended => {
                if self.poll_flush(cx)?.is_pending() {
                    return Ok(Poll::Pending);
                }
                Ok(Poll::Ready(Some(self.reuse)))
            }
        }
    }

    fn enter_finishing(&mut self) {
        self.write = Write::Finishing;
        self.finishing = true;
        // Whoever still holds the request body learns that nothing more will come.
        self.shared.finish();
    }
}

/// Writes everything queued to `io` (vectored: body data straight from the app's frames)
/// and flushes it.
fn write_all<W: AsyncWrite + Unpin>(
    queue: &mut WriteQueue,
    io: &mut W,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    while queue.has_remaining() {
        if ready!(poll_write_buf(Pin::new(&mut *io), cx, queue))? == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
    }
    Pin::new(io).poll_flush(cx)
}

impl<I, F, B: http_body::Body> Drop for Exchange<'_, I, F, B> {
    fn drop(&mut self) {
        self.shared.finish();
    }
}
