//! The crate's one error type, opaque like hyper's: ask it questions, don't match on it.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error of any kind, as the app's service and bodies may return.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Why a connection, or a request body, ended badly.
///
/// Use the `is_*` queries to tell *who* caused it; the wording of [`Display`](fmt::Display)
/// is not stable and prints only this level (the cause is in [`source`](StdError::source)).
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Reading or writing the socket failed.
    Io,
    /// The proxy sent bytes that are not valid AJP13 here.
    Protocol,
    /// The proxy closed the connection in the middle of a request.
    Closed,
    /// The app's service failed.
    Service,
    /// The app's response body failed after the head was sent.
    ResponseBody,
    /// The request body was read after its exchange had finished, or was cut short.
    RequestBody,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner { kind, source: None }),
        }
    }

    pub(crate) fn with<E: Into<BoxError>>(mut self, source: E) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn new_io(e: std::io::Error) -> Self {
        Self::new(Kind::Io).with(e)
    }

    pub(crate) fn new_decode(e: ajp_codec::DecodeError) -> Self {
        match e {
            ajp_codec::DecodeError::Io(io) => Self::new_io(io),
            ajp_codec::DecodeError::UnexpectedEof { .. } => Self::new(Kind::Closed).with(e),
            e => Self::new(Kind::Protocol).with(e),
        }
    }

    pub(crate) fn new_encode(e: ajp_codec::EncodeError) -> Self {
        // The only encode errors are "does not fit a packet" (our own limits) and I/O.
        match e {
            ajp_codec::EncodeError::Io(io) => Self::new_io(io),
            e => Self::new(Kind::Service).with(e),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// The socket failed (reset, broken pipe, …).
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// The proxy broke the protocol: garbage, an oversize packet, a body packet longer than
    /// asked for, an unknown message. The connection was closed.
    pub fn is_protocol(&self) -> bool {
        self.inner.kind == Kind::Protocol
    }

    /// The proxy closed the connection while a request was in progress.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }

    /// The app's service returned an error, or its response did not fit AJP13 (for example
    /// a head larger than one packet).
    pub fn is_service(&self) -> bool {
        self.inner.kind == Kind::Service
    }

    /// The app's response body failed after the head was sent; the connection was closed so
    /// that the proxy sees a truncated response.
    pub fn is_response_body(&self) -> bool {
        self.inner.kind == Kind::ResponseBody
    }

    /// A request body could not be delivered: it was polled after its response finished,
    /// or the proxy ended it before the promised Content-Length.
    pub fn is_request_body(&self) -> bool {
        self.inner.kind == Kind::RequestBody
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("ajp_server::Error");
        d.field(&self.inner.kind);
        if let Some(source) = &self.inner.source {
            d.field(source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.inner.kind {
            Kind::Io => "AJP connection I/O error",
            Kind::Protocol => "AJP protocol error from the proxy",
            Kind::Closed => "AJP connection closed by the proxy during a request",
            Kind::Service => "app service error",
            Kind::ResponseBody => "app response body error",
            Kind::RequestBody => "request body not delivered",
        })
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| &**e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_match_the_kind() {
        let e = Error::new_decode(ajp_codec::DecodeError::EmptyMessage);
        assert!(e.is_protocol() && !e.is_io());
        assert!(e.source().is_some());
        let e = Error::new_decode(ajp_codec::DecodeError::UnexpectedEof { buffered: 3 });
        assert!(e.is_closed());
        assert_eq!(
            e.to_string(),
            "AJP connection closed by the proxy during a request"
        );
    }
}
