//! [`Handoff`]: the middleware that decides per request and signals the connection driver.

use std::fmt;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, request};
use http_body::Body;
use tower::Service;

use crate::conn::ConnHandle;
use crate::error::BoxError;
use crate::future::{Marked, ResponseFuture, hand_off};
use crate::layer::{HandoffLayer, Predicate};
use crate::sender::Sender;

/// Middleware that hands chosen requests' connections to a worker process.
///
/// See [`HandoffLayer`] and the [crate docs](crate).
#[derive(Clone)]
pub struct Handoff<S> {
    inner: S,
    sender: Sender,
    predicate: Option<Predicate>,
}

impl<S> Handoff<S> {
    /// Wraps `inner`; only responses marked with [`HandOff`](crate::HandOff) are handed off.
    pub fn new(inner: S, sender: Sender) -> Self {
        Self::from_parts(inner, sender, None)
    }

    pub(crate) fn from_parts(inner: S, sender: Sender, predicate: Option<Predicate>) -> Self {
        Self {
            inner,
            sender,
            predicate,
        }
    }

    /// Returns a [`HandoffLayer`] handing off through `sender`.
    pub fn layer(sender: Sender) -> HandoffLayer {
        HandoffLayer::new(sender)
    }

    /// Gets a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gets a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Handoff<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("inner", &self.inner)
            .field("sender", &self.sender)
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Handoff<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let handle = req.extensions().get::<ConnHandle>().cloned();
        let req = match &self.predicate {
            Some(predicate) => {
                let (parts, body) = req.into_parts();
                if predicate(&parts) {
                    let (response, ()) = Response::new(()).into_parts();
                    return ResponseFuture::handing_off(hand_off(
                        handle,
                        self.sender.clone(),
                        parts,
                        Some(body),
                        response,
                    ));
                }
                Request::from_parts(parts, body)
            }
            None => req,
        };
        // Without a driver a marked response can only be refused, so the head copy is only
        // taken when a hand-off could happen.
        let marked = handle.map(|handle| Marked {
            handle,
            sender: self.sender.clone(),
            head: head_of(&req),
            had_body: declares_body(&req),
        });
        ResponseFuture::inner(self.inner.call(req), marked)
    }
}

/// A copy of the request head without extensions, kept in case the response asks for a
/// hand-off.
fn head_of<B>(req: &Request<B>) -> request::Parts {
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = req.method().clone();
    parts.uri = req.uri().clone();
    parts.version = req.version();
    parts.headers = req.headers().clone();
    parts
}

fn declares_body<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(http::header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}
