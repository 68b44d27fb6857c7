//! The error type of [`AjpService`](crate::AjpService).

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

/// A boxed error, as tower and http-body use.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// An error proxying a request over AJP.
///
/// The `is_*` queries say who failed and how; [`Error::status`] is the HTTP status a
/// gateway should answer with. `Display` describes this level only: walk
/// [`source`](StdError::source) for the cause. Message wording is not stable.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    cause: Option<BoxError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The request was refused before the backend was contacted.
    Rejected(StatusCode, &'static str),
    /// Could not connect to the backend (or all connections were busy too long).
    Connect,
    /// The backend did not answer in time.
    Timeout(&'static str),
    /// The backend broke the protocol.
    Protocol(&'static str),
    /// The backend closed the connection or an I/O error occurred on it.
    Closed,
    /// The client's request body failed or ended short.
    Body,
    /// The client sent no body bytes for the body timeout while the container waited.
    BodyTimeout,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner { kind, cause: None }),
        }
    }

    pub(crate) fn with(mut self, cause: impl Into<BoxError>) -> Self {
        self.inner.cause = Some(cause.into());
        self
    }

    pub(crate) fn rejected(status: StatusCode, why: &'static str) -> Self {
        Self::new(Kind::Rejected(status, why))
    }

    pub(crate) fn protocol(what: &'static str) -> Self {
        Self::new(Kind::Protocol(what))
    }

    pub(crate) fn closed(cause: impl Into<BoxError>) -> Self {
        Self::new(Kind::Closed).with(cause)
    }

    /// The request was refused before any backend was contacted (malformed, smuggling
    /// risk, too large for one packet, or not expressible in AJP such as an upgrade).
    pub fn is_rejected(&self) -> bool {
        matches!(self.inner.kind, Kind::Rejected(..))
    }

    /// Connecting to the backend failed, or no connection became free in time.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// The backend did not answer within a configured timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// The backend sent something AJP13 does not allow here.
    pub fn is_protocol(&self) -> bool {
        matches!(self.inner.kind, Kind::Protocol(_))
    }

    /// The backend connection closed or failed at the I/O level.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }

    /// The client's request body failed, ended before its Content-Length, or stalled
    /// past the [body timeout](crate::Builder::body_timeout).
    pub fn is_body(&self) -> bool {
        matches!(self.inner.kind, Kind::Body | Kind::BodyTimeout)
    }

    /// The client kept the container waiting for its request body longer than the
    /// [body timeout](crate::Builder::body_timeout) (a slow or stalled upload).
    pub fn is_body_timeout(&self) -> bool {
        self.inner.kind == Kind::BodyTimeout
    }

    /// The status a gateway should answer with: the rejection's own status (400, 413,
    /// 431, 501), 503 when the backend cannot be reached, 504 on timeout, 400 for a
    /// failed client body, 408 for a client body that stalled, 502 otherwise.
    pub fn status(&self) -> StatusCode {
        match self.inner.kind {
            Kind::Rejected(status, _) => status,
            Kind::Connect => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Kind::Body => StatusCode::BAD_REQUEST,
            Kind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::Protocol(_) | Kind::Closed => StatusCode::BAD_GATEWAY,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("ajp_service::Error");
        d.field(&self.inner.kind);
        if let Some(cause) = &self.inner.cause {
            d.field(cause);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.kind {
            Kind::Rejected(status, why) => write!(f, "request rejected ({status}): {why}"),
            Kind::Connect => f.write_str("could not connect to the AJP backend"),
            Kind::Timeout(what) => write!(f, "AJP backend timed out: {what}"),
            Kind::Protocol(what) => write!(f, "AJP protocol error from the backend: {what}"),
            Kind::Closed => f.write_str("AJP backend connection closed or failed"),
            Kind::Body => f.write_str("client request body failed"),
            Kind::BodyTimeout => f.write_str("client request body timed out"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|e| &**e as &(dyn StdError + 'static))
    }
}

impl From<ajp_codec::DecodeError> for Error {
    fn from(e: ajp_codec::DecodeError) -> Self {
        match e {
            ajp_codec::DecodeError::Io(io) => Self::closed(io),
            other => Self::protocol("malformed packet").with(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_queries() {
        let e = Error::rejected(StatusCode::BAD_REQUEST, "bad path");
        assert!(e.is_rejected() && !e.is_connect());
        assert_eq!(e.status(), 400);
        assert_eq!(Error::new(Kind::Connect).status(), 503);
        assert_eq!(Error::new(Kind::Timeout("reply")).status(), 504);
        let e = Error::new(Kind::BodyTimeout);
        assert!(e.is_body() && e.is_body_timeout() && !e.is_timeout());
        assert_eq!(e.status(), 408);
        assert!(!Error::new(Kind::Body).is_body_timeout());
        let e = Error::protocol("second SEND_HEADERS");
        assert!(e.is_protocol());
        assert_eq!(e.status(), 502);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let e = Error::closed(io);
        assert!(e.is_closed());
        assert!(e.source().is_some());
        assert!(e.to_string().contains("closed"));
    }
}
