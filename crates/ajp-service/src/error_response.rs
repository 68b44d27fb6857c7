//! Turning errors into HTTP responses, for servers that need an infallible service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::warn;

use crate::body::ResponseBody;
use crate::error::{BoxError, Error};

/// Wraps a service so that its errors become responses: the status of an [`Error`]
/// ([`Error::status`]: 400/413/431/501 for refused requests, 408 for a stalled client
/// body, 503 when the backend cannot be reached, 504 on timeouts, 502 for protocol
/// failures), 504 for a [`tower::timeout`] elapsed error, and 500 for anything else. The error is logged with
/// `tracing` at `warn`.
///
/// Its error type is [`Infallible`], which is what axum's `Router::fallback_service`
/// needs; it is `Clone + Send + Sync` when the inner service is.
///
/// ```
/// use ajp_service::{AjpService, ErrorResponseLayer};
/// use tower::Layer;
///
/// let svc = ErrorResponseLayer::new().layer(AjpService::new("ajp://127.0.0.1:8009".parse().unwrap()));
/// // or: AjpService::new(..).into_infallible()
/// ```
#[derive(Debug)]
pub struct ErrorResponse<S> {
    inner: S,
    /// A readiness error, answered to the next request.
    not_ready: Option<BoxError>,
}

impl<S: Clone> Clone for ErrorResponse<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<S> ErrorResponse<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            not_ready: None,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// A [`Layer`] producing [`ErrorResponse`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorResponseLayer {
    _priv: (),
}

impl ErrorResponseLayer {
    /// The layer.
    pub fn new() -> Self {
        Self { _priv: () }
    }
}

impl<S> Layer<S> for ErrorResponseLayer {
    type Service = ErrorResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponse::new(inner)
    }
}

impl<S, B> Service<Request<B>> for ErrorResponse<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody<B>>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_none()
            && let Err(e) = ready!(self.inner.poll_ready(cx))
        {
            // No request to answer yet: answer the one that comes with this readiness.
            self.not_ready = Some(e.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = match self.not_ready.take() {
            Some(e) => State::Failed { error: Some(e) },
            None => State::Running {
                inner: self.inner.call(req),
            },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The future of [`ErrorResponse`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Running { #[pin] inner: F },
        Failed { error: Option<BoxError> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResponseBody<B>>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { inner } => match ready!(inner.poll(cx)) {
                Ok(response) => Poll::Ready(Ok(response)),
                Err(e) => Poll::Ready(Ok(error_response(e.into()))),
            },
            StateProj::Failed { error } => {
                let e = error
                    .take()
                    .unwrap_or_else(|| "polled after completion".into());
                Poll::Ready(Ok(error_response(e)))
            }
        }
    }
}

fn error_response<B>(e: BoxError) -> Response<ResponseBody<B>> {
    let status = if let Some(e) = e.downcast_ref::<Error>() {
        e.status()
    } else if e.is::<tower::timeout::error::Elapsed>() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    warn!(%status, error = %e, "answering with an error response");
    let text = format!(
        "{} {}\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(ResponseBody::full(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
