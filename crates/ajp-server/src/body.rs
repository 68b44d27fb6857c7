//! The request body handed to the app: it pulls data from the proxy only when polled.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::error::{Error, Kind};

/// The body of a request received over AJP13.
///
/// Polling it asks the connection for the next piece: the first piece of a Content-Length
/// body is the packet the proxy sent unasked; every further piece is a GET_BODY_CHUNK of at
/// most P − 6 bytes (and at most the rest of the Content-Length). A body that is not polled
/// costs nothing: nothing more is asked for, and the connection stays reusable.
///
/// The body may move to another task, but it is only served while its request's exchange
/// is running: polled after the response has ended, it yields an error
/// ([`Error::is_request_body`]).
#[must_use = "streams do nothing unless polled"]
pub struct Body {
    kind: Kind2,
}

enum Kind2 {
    Empty,
    Full(Option<Bytes>),
    Ajp {
        shared: Arc<Shared>,
        remaining: Option<u64>,
        done: bool,
    },
}

impl Body {
    /// An empty body (what a request with `Content-Length: 0` gets).
    pub fn empty() -> Self {
        Self { kind: Kind2::Empty }
    }

    /// A body of these bytes, for testing an app without a connection.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind2::Full(Some(data.into())),
        }
    }

    pub(crate) fn ajp(shared: Arc<Shared>, content_length: Option<u64>) -> Self {
        Self {
            kind: Kind2::Ajp {
                shared,
                remaining: content_length,
                done: false,
            },
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.kind {
            Kind2::Empty => Poll::Ready(None),
            Kind2::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind2::Ajp {
                shared,
                remaining,
                done,
            } => {
                if *done {
                    return Poll::Ready(None);
                }
                let mut s = shared.lock();
                match s.delivered.take() {
                    Some(Delivery::Data(d)) => {
                        if let Some(r) = remaining {
                            *r = r.saturating_sub(d.len() as u64);
                        }
                        Poll::Ready(Some(Ok(Frame::data(d))))
                    }
                    Some(Delivery::End) => {
                        *done = true;
                        Poll::Ready(None)
                    }
                    Some(Delivery::Error(kind, why)) => {
                        *done = true;
                        Poll::Ready(Some(Err(Error::new(kind).with(why))))
                    }
                    None if s.finished => {
                        *done = true;
                        Poll::Ready(Some(Err(Error::new(Kind::RequestBody)
                            .with("the request's exchange has finished"))))
                    }
                    None => {
                        if !s.want {
                            s.want = true;
                            if let Some(w) = s.driver.take() {
                                w.wake();
                            }
                        }
                        match &s.body {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => s.body = Some(cx.waker().clone()),
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind2::Empty => true,
            Kind2::Full(d) => d.is_none(),
            Kind2::Ajp {
                done, remaining, ..
            } => *done || *remaining == Some(0),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind2::Empty => SizeHint::with_exact(0),
            Kind2::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            Kind2::Ajp { remaining, .. } => match remaining {
                Some(n) => SizeHint::with_exact(*n),
                None => SizeHint::default(),
            },
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind2::Empty => "empty",
            Kind2::Full(_) => "full",
            Kind2::Ajp { .. } => "ajp",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

/// What the connection hands to the body.
pub(crate) enum Delivery {
    Data(Bytes),
    End,
    Error(Kind, &'static str),
}

/// The meeting point of a [`Body`] and its connection.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    /// The body asked for more.
    pub(crate) want: bool,
    pub(crate) delivered: Option<Delivery>,
    /// The exchange is over: nothing more will be delivered.
    pub(crate) finished: bool,
    body: Option<Waker>,
    driver: Option<Waker>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this short lock cannot leave the state half-written in a
        // way that matters more than the panic itself: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the body's request for more, registering the driver's waker otherwise.
    pub(crate) fn take_want(&self, cx: &Context<'_>) -> bool {
        let mut s = self.lock();
        if std::mem::take(&mut s.want) {
            return true;
        }
        match &s.driver {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.driver = Some(cx.waker().clone()),
        }
        false
    }

    /// Hands `d` to the body, unless the body has not taken the previous delivery yet;
    /// then `d` comes back. That happens when the body, polled again (from another task,
    /// or by a `select!`) between our taking its ask and our delivery, asks twice for one
    /// frame: the second ask is void, and the body asks again once it has taken its frame.
    pub(crate) fn offer(&self, d: Delivery) -> Option<Delivery> {
        let mut s = self.lock();
        if s.delivered.is_some() {
            return Some(d);
        }
        s.delivered = Some(d);
        if let Some(w) = s.body.take() {
            w.wake();
        }
        None
    }

    /// Hands `d` to the body whatever it holds: for errors, which end the body.
    pub(crate) fn deliver(&self, d: Delivery) {
        let mut s = self.lock();
        s.delivered = Some(d);
        if let Some(w) = s.body.take() {
            w.wake();
        }
    }

    pub(crate) fn finish(&self) {
        let mut s = self.lock();
        s.finished = true;
        if let Some(w) = s.body.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn simple_bodies() {
        assert!(Body::empty().collect().await.unwrap().to_bytes().is_empty());
        let b = Body::from_bytes("abc");
        assert_eq!(b.size_hint().exact(), Some(3));
        assert_eq!(b.collect().await.unwrap().to_bytes(), "abc");
    }

    /// The body is polled twice before the driver delivers (it asked twice for one frame);
    /// the second delivery must not replace the first.
    #[tokio::test]
    async fn a_frame_is_never_replaced_before_the_body_takes_it() {
        let shared = Arc::new(Shared::default());
        let mut body = std::pin::pin!(Body::ajp(shared.clone(), None));
        let driver = Context::from_waker(Waker::noop());
        let mut cx = Context::from_waker(Waker::noop());

        assert!(body.as_mut().poll_frame(&mut cx).is_pending());
        assert!(shared.take_want(&driver));
        assert!(body.as_mut().poll_frame(&mut cx).is_pending());
        assert!(
            shared
                .offer(Delivery::Data(Bytes::from_static(b"a")))
                .is_none()
        );
        assert!(shared.take_want(&driver), "the second ask");
        let back = shared.offer(Delivery::Data(Bytes::from_static(b"b")));
        assert!(matches!(back, Some(Delivery::Data(d)) if d == "b"));

        let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) else {
            panic!("the first frame")
        };
        assert_eq!(frame.into_data().unwrap(), "a");
    }

    #[tokio::test]
    async fn body_polled_after_its_exchange_errs() {
        let shared = Arc::new(Shared::default());
        shared.finish();
        let err = Body::ajp(shared, None).collect().await.unwrap_err();
        assert!(err.is_request_body());
    }
}
