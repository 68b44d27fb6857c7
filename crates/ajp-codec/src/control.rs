//! The small fixed-size messages: GET_BODY_CHUNK, END_RESPONSE (and, in
//! [`crate::ProxyMessage`] / [`crate::ContainerMessage`], CPING, CPONG and SHUTDOWN, which
//! carry nothing but their type byte).

/// GET_BODY_CHUNK (type 6): the container asks for the next piece of the request body.
///
/// `41 42 00 03 06 1f fa` is Tomcat asking for 8186 bytes (P − 6 at the default size). The
/// proxy answers with one body packet of at most this many bytes (and at most P − 6), or an
/// empty one at the end of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GetBodyChunk {
    /// The most bytes the container wants in the answering packet.
    pub requested_len: u16,
}

/// END_RESPONSE (type 5): the response is complete.
///
/// `reuse` says whether the container will keep the connection open for another request;
/// Tomcat sends `false` when it is about to close (bad secret, protocol errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EndResponse {
    /// Whether the connection may carry another request.
    pub reuse: bool,
}
