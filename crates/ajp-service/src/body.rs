//! The response body: SEND_BODY_CHUNKs read from the backend as the client takes them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ajp_codec::ContainerMessage;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tracing::{Span, debug};

use crate::error::{BoxError, Error, Kind};
use crate::feed::BodyFeeder;
use crate::pool::Pooled;
use crate::stats::Stats;

/// A deadline that never comes, for a reply timeout of `Duration::MAX` (30 years).
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// The body of a response from the container.
///
/// Each SEND_BODY_CHUNK is handed on as one data frame as soon as it arrives (a zero-length
/// chunk, the container's "flush", simply makes the body wait for more, which lets hyper
/// write out what it has). While the body streams, GET_BODY_CHUNK requests are still
/// answered from the client's request body.
///
/// The backend connection returns to the pool when END_RESPONSE(reuse) arrives. If the
/// body is dropped before that, the connection is closed: AJP has no way to abandon a
/// response and keep the connection.
///
/// An error (backend gone, timeout, a body longer or shorter than the backend's
/// Content-Length) ends the body with an error, which makes hyper abort the client
/// connection rather than deliver a silently truncated body.
pub struct ResponseBody<B> {
    kind: BodyKind<B>,
}

enum BodyKind<B> {
    Empty,
    Full(Option<Bytes>),
    Streaming(Box<Streaming<B>>),
}

pub(crate) struct Streaming<B> {
    pub(crate) conn: Option<Pooled>,
    pub(crate) feeder: BodyFeeder<B>,
    /// Body bytes the backend announced, if it sent a Content-Length.
    pub(crate) expected: Option<u64>,
    pub(crate) received: u64,
    /// GET_BODY_CHUNK received and not yet answered: how much was asked.
    pub(crate) owed: Option<usize>,
    /// The chunk that completed the backend's Content-Length, held back until
    /// END_RESPONSE: once a client has all Content-Length bytes, hyper stops polling the
    /// body, and the connection could not go back to the pool.
    pub(crate) last: Option<Bytes>,
    pub(crate) reply_timeout: Duration,
    pub(crate) timer: Pin<Box<Sleep>>,
    /// A message arrived since the timer was last set.
    pub(crate) progressed: bool,
    pub(crate) stats: Arc<Stats>,
    pub(crate) span: Span,
}

impl<B> ResponseBody<B> {
    pub(crate) fn empty() -> Self {
        Self {
            kind: BodyKind::Empty,
        }
    }

    pub(crate) fn full(data: Bytes) -> Self {
        Self {
            kind: BodyKind::Full(Some(data)),
        }
    }

    pub(crate) fn streaming(s: Streaming<B>) -> Self {
        Self {
            kind: BodyKind::Streaming(Box::new(s)),
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            BodyKind::Empty => "empty",
            BodyKind::Full(_) => "full",
            BodyKind::Streaming(_) => "streaming",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            BodyKind::Empty => Poll::Ready(None),
            BodyKind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            BodyKind::Streaming(s) => {
                let r = s.poll_next(cx);
                if let Poll::Ready(None | Some(Err(_))) = &r {
                    if let Poll::Ready(Some(Err(e))) = &r {
                        s.stats.failures.fetch_add(1, Ordering::Relaxed);
                        let _g = s.span.enter();
                        debug!(error = %e, "response body aborted");
                    }
                    this.kind = BodyKind::Empty;
                }
                r
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Empty => true,
            BodyKind::Full(d) => d.is_none(),
            BodyKind::Streaming(s) => s.conn.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Empty => SizeHint::with_exact(0),
            BodyKind::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            BodyKind::Streaming(s) => match s.expected {
                Some(n) => {
                    let held = s.last.as_ref().map_or(0, |d| d.len() as u64);
                    SizeHint::with_exact(n - s.received + held)
                }
                None => SizeHint::default(),
            },
        }
    }
}

impl<B> Streaming<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let _g = self.span.enter();
        let Some(pooled) = self.conn.as_mut() else {
            return Poll::Ready(None); // END_RESPONSE seen; the last chunk went out with it
        };
        loop {
            // Answer a pending GET_BODY_CHUNK first: the container is blocked on it.
            if let Some(asked) = self.owed {
                if let Err(e) = ready!(self.feeder.poll_answer(cx, pooled.conn(), asked)) {
                    return Poll::Ready(Some(Err(e)));
                }
                self.owed = None;
            }
            let message = match pooled.conn().poll_next(cx) {
                Poll::Ready(Ok(m)) => m,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Pending => {
                    if std::mem::take(&mut self.progressed) {
                        // `Duration::MAX` means no timeout: saturate, as `sleep` does.
                        let now = Instant::now();
                        let deadline = now.checked_add(self.reply_timeout).unwrap_or(now + FAR);
                        self.timer.as_mut().reset(deadline);
                    }
                    if self.timer.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(Error::new(Kind::Timeout(
                            "no packet from the backend within the reply timeout",
                        )))));
                    }
                    return Poll::Pending;
                }
            };
            self.progressed = true;
            match message {
                ContainerMessage::SendBodyChunk(chunk) => {
                    if chunk.data.is_empty() {
                        continue; // flush: nothing to hand on
                    }
                    self.received += chunk.data.len() as u64;
                    match self.expected {
                        Some(n) if self.received > n => {
                            return Poll::Ready(Some(Err(Error::protocol(
                                "body longer than the backend's Content-Length",
                            ))));
                        }
                        Some(n) if self.received == n => self.last = Some(chunk.data),
                        _ => return Poll::Ready(Some(Ok(Frame::data(chunk.data)))),
                    }
                }
                ContainerMessage::GetBodyChunk(g) => self.owed = Some(g.requested_len as usize),
                ContainerMessage::EndResponse(end) => {
                    if self.expected.is_some_and(|n| self.received != n) {
                        return Poll::Ready(Some(Err(Error::protocol(
                            "body shorter than the backend's Content-Length",
                        ))));
                    }
                    if let Some(pooled) = self.conn.take() {
                        pooled.release(end.reuse);
                    }
                    return Poll::Ready(self.last.take().map(|d| Ok(Frame::data(d))));
                }
                ContainerMessage::SendHeaders(_) => {
                    return Poll::Ready(Some(Err(Error::protocol("second SEND_HEADERS"))));
                }
                ContainerMessage::CPong => {
                    return Poll::Ready(Some(Err(Error::protocol("CPONG during a response"))));
                }
            }
        }
    }
}
