//! [`HandOff`]: the response marker an application returns to ask for a hand-off.

use http::Response;

/// Marks a response as "hand this connection off instead of sending me".
///
/// Put it in a response's extensions (or build one with [`HandOff::response`]); the
/// [`Handoff`](crate::Handoff) service then hands the connection to its worker and uses the
/// response's status and headers as the template for the flusher. The response body is
/// dropped.
///
/// The request body cannot come back from the application, so a request that declares a
/// body is refused with a 500 when marked this way; choose such requests with
/// [`HandoffLayer::when`](crate::HandoffLayer::when) instead.
///
/// ```
/// use fdpass_layer::HandOff;
///
/// // An axum handler could return this as its `Response`.
/// let resp: http::Response<String> = HandOff::response();
/// assert!(resp.extensions().get::<HandOff>().is_some());
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct HandOff;

impl HandOff {
    /// A `200 OK` response carrying the marker, with an empty body.
    pub fn response<B: Default>() -> Response<B> {
        let mut resp = Response::new(B::default());
        resp.extensions_mut().insert(Self);
        resp
    }
}
