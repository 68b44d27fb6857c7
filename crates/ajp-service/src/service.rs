//! [`AjpService`]: one request, one exchange over a pooled connection.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use ajp_codec::{ContainerMessage, SendHeaders};
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tracing::{Instrument, Span, debug, debug_span, field};

use crate::backend::Backend;
use crate::body::{ResponseBody, Streaming};
use crate::builder::{Builder, Config};
use crate::conn::Conn;
use crate::error::{BoxError, Error, Kind};
use crate::error_response::ErrorResponse;
use crate::feed::BodyFeeder;
use crate::pool::{Pool, Pooled};
use crate::request::{self, Prepared};
use crate::response;
use crate::stats::{Stats, StatsSnapshot};

/// A [`tower::Service`] that proxies HTTP requests to an AJP13 container.
///
/// Cheap to clone: clones share one connection pool. `poll_ready` is always ready; a
/// request waits for a free backend connection inside its future (bounded by the
/// builder's `acquire_timeout`).
///
/// The error type is [`Error`]; wrap the service with [`into_infallible`](Self::into_infallible)
/// to get 400/502/503/504 responses instead, as axum's `fallback_service` requires.
///
/// ```no_run
/// use ajp_service::AjpService;
/// use tower::ServiceExt;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let svc = AjpService::new("ajp://127.0.0.1:8009".parse()?);
/// let req = http::Request::get("/hello").header("host", "localhost").body(String::new())?;
/// let resp = svc.oneshot(req).await?;
/// println!("{}", resp.status());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AjpService {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    pool: Pool,
    stats: Arc<Stats>,
}

impl AjpService {
    /// A service for `backend` with default settings (see [`Builder`]).
    pub fn new(backend: Backend) -> Self {
        Builder::new(backend).build()
    }

    /// A builder for a service proxying to `backend`.
    pub fn builder(backend: Backend) -> Builder {
        Builder::new(backend)
    }

    pub(crate) fn from_parts(config: Config, pool: Pool, stats: Arc<Stats>) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                pool,
                stats,
            }),
        }
    }

    /// The backend this service proxies to.
    pub fn backend(&self) -> &Backend {
        self.shared.pool.backend()
    }

    /// The service's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        let pool = &self.shared.pool;
        self.shared.stats.snapshot(pool.idle_count(), pool.in_use())
    }

    /// This service with errors turned into responses (its error type is
    /// [`Infallible`](std::convert::Infallible)); see [`ErrorResponse`].
    pub fn into_infallible(self) -> ErrorResponse<Self> {
        ErrorResponse::new(self)
    }
}

impl fmt::Debug for AjpService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AjpService")
            .field("backend", self.backend())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<B> tower::Service<Request<B>> for AjpService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<B>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let span = debug_span!(
            "ajp_request",
            method = %req.method(),
            path = req.uri().path(),
            conn = field::Empty,
        );
        let fut = async move {
            let result = proxy(&shared, req).await;
            if let Err(e) = &result {
                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
                debug!(error = %e, "request failed");
            }
            result
        };
        ResponseFuture {
            inner: Box::pin(fut.instrument(span)),
        }
    }
}

/// The future of an [`AjpService`] call: resolves to the response head once the container
/// sent SEND_HEADERS; the body streams afterwards.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<B> {
    inner: Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, Error>> + Send>>,
}

impl<B> Future for ResponseFuture<B> {
    type Output = Result<Response<ResponseBody<B>>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B> fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

async fn proxy<B>(shared: &Shared, req: Request<B>) -> Result<Response<ResponseBody<B>>, Error>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let prepared = request::prepare(&parts, &shared.config)?;
    let mut feeder = BodyFeeder::new(body, prepared.content_length, shared.config.body_timeout);
    let mut fresh = false;
    loop {
        let mut pooled = shared.pool.checkout(fresh).await?;
        Span::current().record("conn", pooled.conn().id);
        match send_request(&shared.config, &prepared, &mut feeder, pooled.conn()).await {
            Ok(head) => return respond(shared, &prepared, feeder, pooled, head).await,
            // A pooled connection the container had already closed: replay once on a new
            // connection, but only if nothing of the request can have been acted on.
            Err(e)
                if !fresh
                    && e.is_closed()
                    && pooled.reused
                    && !pooled.conn().received
                    && !feeder.sent_data()
                    && prepared.idempotent =>
            {
                debug!(error = %e, "stale pooled connection; retrying on a new one");
                shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                fresh = true;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn timed<T>(
    limit: Duration,
    what: &'static str,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| Error::new(Kind::Timeout(what)))?
}

/// Queues the body packet answering a request for at most `asked` bytes.
async fn feed<B>(feeder: &mut BodyFeeder<B>, conn: &mut Conn, asked: usize) -> Result<(), Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    poll_fn(|cx| feeder.poll_answer(cx, conn, asked)).await
}

/// Sends the Forward Request (and the first body packet it promises) and reads until the
/// response head, answering GET_BODY_CHUNKs on the way.
async fn send_request<B>(
    config: &Config,
    prepared: &Prepared,
    feeder: &mut BodyFeeder<B>,
    conn: &mut Conn,
) -> Result<SendHeaders<Bytes>, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    conn.write_buf.extend_from_slice(&prepared.packet);
    // With Content-Length > 0 the container reads one body packet right after the head,
    // unasked (Tomcat's rule); never otherwise.
    if let Some(cl) = prepared.content_length
        && cl > 0
    {
        feed(feeder, conn, usize::try_from(cl).unwrap_or(usize::MAX)).await?;
    }
    let timeout = config.reply_timeout;
    loop {
        let message = timed(
            timeout,
            "sending the request or waiting for the response head",
            poll_fn(|cx| conn.poll_next(cx)),
        )
        .await?;
        match message {
            ContainerMessage::GetBodyChunk(g) => feed(feeder, conn, g.requested_len.into()).await?,
            ContainerMessage::SendHeaders(h) => return Ok(h),
            // A flush before the head has nothing to flush (httpd and mod_jk ignore it too).
            ContainerMessage::SendBodyChunk(c) if c.data.is_empty() => {}
            ContainerMessage::SendBodyChunk(_) => {
                return Err(Error::protocol("body data before SEND_HEADERS"));
            }
            ContainerMessage::EndResponse(_) => {
                return Err(Error::protocol("END_RESPONSE before SEND_HEADERS"));
            }
            ContainerMessage::CPong => return Err(Error::protocol("CPONG instead of a response")),
        }
    }
}

async fn respond<B>(
    shared: &Shared,
    prepared: &Prepared,
    mut feeder: BodyFeeder<B>,
    mut pooled: Pooled,
    head: SendHeaders<Bytes>,
) -> Result<Response<ResponseBody<B>>, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let head = response::head(head)?;
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    let timeout = shared.config.reply_timeout;

    // No body will be read (hyper does not poll a body it knows is empty), so finish the
    // exchange now and free the connection.
    let bodiless = response::is_bodiless(prepared.head, head.status);
    if bodiless || head.content_length == Some(0) {
        let conn = pooled.conn();
        loop {
            match timed(
                timeout,
                "waiting for END_RESPONSE",
                poll_fn(|cx| conn.poll_next(cx)),
            )
            .await?
            {
                // A body after Content-Length: 0 contradicts the head, as a body longer
                // than its Content-Length does when it streams; the head is not sent yet,
                // so the client gets a 502 and the connection is not kept.
                ContainerMessage::SendBodyChunk(c) if !bodiless && !c.data.is_empty() => {
                    return Err(Error::protocol(
                        "body longer than the backend's Content-Length",
                    ));
                }
                // HEAD, 204 and 304 responses have no body whatever the container sends
                // (Tomcat sends none); like httpd, drop it. Empty chunks are flushes.
                ContainerMessage::SendBodyChunk(_) => {}
                ContainerMessage::GetBodyChunk(g) => {
                    feed(&mut feeder, conn, g.requested_len.into()).await?;
                }
                ContainerMessage::EndResponse(end) => {
                    pooled.release(end.reuse);
                    return Ok(response);
                }
                ContainerMessage::SendHeaders(_) => {
                    return Err(Error::protocol("second SEND_HEADERS"));
                }
                ContainerMessage::CPong => return Err(Error::protocol("CPONG during a response")),
            }
        }
    }

    *response.body_mut() = ResponseBody::streaming(Streaming {
        conn: Some(pooled),
        feeder,
        expected: head.content_length,
        received: 0,
        owed: None,
        last: None,
        reply_timeout: timeout,
        timer: Box::pin(tokio::time::sleep(timeout)),
        progressed: false,
        stats: shared.stats.clone(),
        span: Span::current(),
    });
    Ok(response)
}
