//! [`ResponseFuture`] of the [`Handoff`](crate::Handoff) service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Response, StatusCode, request, response};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pin_project_lite::pin_project;

use crate::body::{ResponseBody, error_response};
use crate::conn::{ConnHandle, JobBody, JobParts};
use crate::error::{BoxError, Error};
use crate::marker::HandOff;
use crate::sender::{Mode, Sender};

type HandingOff<B> = Pin<Box<dyn Future<Output = Response<ResponseBody<B>>> + Send>>;

/// What the service keeps while the inner service runs, in case its response asks for a
/// hand-off.
pub(crate) struct Marked {
    pub(crate) handle: ConnHandle,
    pub(crate) sender: Sender,
    pub(crate) head: request::Parts,
    pub(crate) had_body: bool,
}

pin_project! {
    /// Response future of [`Handoff`](crate::Handoff).
    ///
    /// On a successful hand-off it never completes: the connection driver takes the socket
    /// out of hyper and drops it.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] fut: F, marked: Option<Marked> },
        HandingOff { fut: HandingOff<B> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(fut: F, marked: Option<Marked>) -> Self {
        Self {
            state: State::Inner { fut, marked },
        }
    }

    pub(crate) fn handing_off<Fut>(fut: Fut) -> Self
    where
        Fut: Future<Output = Response<ResponseBody<B>>> + Send + 'static,
    {
        Self {
            state: State::HandingOff { fut: Box::pin(fut) },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::HandingOff { fut } => return fut.as_mut().poll(cx).map(Ok),
                StateProj::Inner { fut, marked } => {
                    let resp = ready!(fut.poll(cx))?;
                    if resp.extensions().get::<HandOff>().is_none() {
                        return Poll::Ready(Ok(resp.map(ResponseBody::new)));
                    }
                    let Some(marked) = marked.take() else {
                        return Poll::Ready(Ok(no_driver()));
                    };
                    if marked.had_body {
                        tracing::warn!("hand-off marked on a response to a request with a body");
                        return Poll::Ready(Ok(error_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "fdpass-layer: a hand-off marked on the response cannot forward the \
                             request body; choose such requests with HandoffLayer::when\n"
                                .into(),
                        )));
                    }
                    let (response, _body) = resp.into_parts();
                    State::HandingOff {
                        fut: Box::pin(hand_off::<NoBody, B>(
                            Some(marked.handle),
                            marked.sender,
                            marked.head,
                            None,
                            response,
                        )),
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// Placeholder request-body type for hand-offs whose body is gone.
type NoBody = http_body_util::Empty<Bytes>;

fn no_driver<B>() -> Response<ResponseBody<B>> {
    tracing::error!("fd hand-off requested on a connection not served by fdpass_layer::serve");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "fdpass-layer: hand-off needs an HTTP/1 connection served by fdpass_layer::serve or \
         serve_connection\n"
            .into(),
    )
}

fn is_chunked(req: &request::Parts) -> bool {
    req.headers.contains_key(http::header::TRANSFER_ENCODING)
}

/// Prepares the request body and asks the connection driver to take the connection.
/// Resolves only when the hand-off failed before anything was written.
pub(crate) async fn hand_off<ReqBody, B>(
    handle: Option<ConnHandle>,
    sender: Sender,
    request: request::Parts,
    body: Option<ReqBody>,
    response: response::Parts,
) -> Response<ResponseBody<B>>
where
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    let Some(handle) = handle else {
        return no_driver();
    };
    let body = match body {
        None => JobBody::Gone,
        Some(body) if is_chunked(&request) && sender.get_mode() == Mode::Extended => {
            // hyper has already de-chunked part of the stream and its decoder state cannot
            // travel, so the whole body is read (bounded) and sent in the metadata.
            let limit = sender.get_max_buffered_body();
            match Limited::new(body, limit).collect().await {
                Ok(collected) => JobBody::Buffered(collected.to_bytes()),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    let err = Error::new_too_large(
                        "chunked request body",
                        limit as u64 + 1,
                        limit as u64,
                    );
                    tracing::warn!(error = ?err, "refusing fd hand-off");
                    return error_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "fdpass-layer: chunked request body exceeds the hand-off buffer \
                             limit of {limit} bytes\n"
                        ),
                    );
                }
                Err(_) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "fdpass-layer: reading the chunked request body failed\n".into(),
                    );
                }
            }
        }
        Some(body) => JobBody::Drain(body.map_err(Into::into).boxed_unsync()),
    };
    let err = handle
        .hand_off(JobParts {
            sender,
            request,
            response,
            body,
        })
        .await;
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("fdpass-layer: {err}\n"),
    )
}
