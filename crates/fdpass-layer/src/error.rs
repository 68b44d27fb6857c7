//! The crate's opaque error type.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// A boxed error from a lower layer.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from handing a connection off or receiving one.
///
/// The type is opaque, in the style of `hyper::Error`: ask what kind of error it is with
/// the `is_*` methods and walk [`source()`](StdError::source) for the cause. `Display`
/// prints only this level, not the source chain; its wording is not stable.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Connecting to the worker socket failed (missing, refused, timed out).
    Connect,
    /// `sendmsg` or writing the metadata to the worker failed.
    Send,
    /// Writing the flusher's bytes (or the 503) to the client failed.
    Client,
    /// `accept`/`recvmsg`/`read` on the receiving side failed.
    Recv,
    /// The control message was truncated (`MSG_CTRUNC`); every fd that came was closed.
    Truncated,
    /// The peer broke the protocol: no fd, several fds, bad magic, unknown version,
    /// a frame that does not parse.
    Protocol,
    /// A length on the wire, or a body to buffer, exceeds the configured limit.
    TooLarge,
    /// The received fd is not a TCP stream socket.
    NotTcp,
    /// The sending process' uid does not match the required one (`SO_PEERCRED`).
    PeerCred,
    /// The request cannot be handed off (chunked body over the limit, HTTP/2, no driver,
    /// body already consumed by the application).
    Refused,
    /// A deadline passed.
    Timeout,
    /// Binding or preparing the receiver's socket failed.
    Bind,
    /// hyper reported an error while serving the connection.
    Http,
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

    pub(crate) fn new_connect(e: io::Error) -> Self {
        Self::new(Kind::Connect).with(e)
    }

    pub(crate) fn new_send<E: Into<BoxError>>(e: E) -> Self {
        Self::new(Kind::Send).with(e)
    }

    pub(crate) fn new_recv<E: Into<BoxError>>(e: E) -> Self {
        Self::new(Kind::Recv).with(e)
    }

    pub(crate) fn new_protocol(msg: &'static str) -> Self {
        Self::new(Kind::Protocol).with(msg)
    }

    pub(crate) fn new_too_large(what: &'static str, len: u64, max: u64) -> Self {
        Self::new(Kind::TooLarge).with(format!("{what}: {len} bytes exceeds the limit of {max}"))
    }

    pub(crate) fn new_refused(msg: &'static str) -> Self {
        Self::new(Kind::Refused).with(msg)
    }

    pub(crate) fn new_timeout(what: &'static str) -> Self {
        Self::new(Kind::Timeout).with(what)
    }

    /// Connecting to the worker socket failed: the path is missing, nobody listens, the
    /// connection was refused or timed out. Nothing was written to the client by us; the
    /// client got a 503.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// Passing the fd or the metadata to the worker failed.
    pub fn is_send(&self) -> bool {
        self.inner.kind == Kind::Send
    }

    /// Writing to the client (the flusher's head, or a 503) failed.
    pub fn is_client(&self) -> bool {
        self.inner.kind == Kind::Client
    }

    /// Receiving a hand-off failed at the socket level.
    pub fn is_recv(&self) -> bool {
        self.inner.kind == Kind::Recv
    }

    /// The control message was truncated (`MSG_CTRUNC`). Every fd that did arrive has
    /// been closed.
    pub fn is_truncated(&self) -> bool {
        self.inner.kind == Kind::Truncated
    }

    /// The peer broke the wire protocol (no fd, more than one fd, bad magic, unsupported
    /// version, malformed metadata).
    pub fn is_protocol(&self) -> bool {
        self.inner.kind == Kind::Protocol
    }

    /// A length exceeded its configured bound (metadata frame, buffered chunked body).
    pub fn is_too_large(&self) -> bool {
        self.inner.kind == Kind::TooLarge
    }

    /// The received fd is not a connected TCP stream socket.
    pub fn is_not_tcp(&self) -> bool {
        self.inner.kind == Kind::NotTcp
    }

    /// The sending process' uid is not the one the receiver requires (`SO_PEERCRED`).
    pub fn is_peer_cred(&self) -> bool {
        self.inner.kind == Kind::PeerCred
    }

    /// The request cannot be handed off safely and was refused.
    pub fn is_refused(&self) -> bool {
        self.inner.kind == Kind::Refused
    }

    /// A deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// Binding or preparing the receiver's socket failed.
    pub fn is_bind(&self) -> bool {
        self.inner.kind == Kind::Bind
    }

    /// hyper reported an error while serving the connection.
    pub fn is_http(&self) -> bool {
        self.inner.kind == Kind::Http
    }

    fn description(&self) -> &'static str {
        match self.inner.kind {
            Kind::Connect => "connecting to the worker socket failed",
            Kind::Send => "passing the connection to the worker failed",
            Kind::Client => "writing to the client failed",
            Kind::Recv => "receiving a hand-off failed",
            Kind::Truncated => "control message truncated (MSG_CTRUNC); received fds closed",
            Kind::Protocol => "hand-off protocol violation",
            Kind::TooLarge => "hand-off data exceeds its limit",
            Kind::NotTcp => "received fd is not a TCP stream socket",
            Kind::PeerCred => "hand-off sender has the wrong uid",
            Kind::Refused => "request cannot be handed off",
            Kind::Timeout => "hand-off timed out",
            Kind::Bind => "preparing the receiver socket failed",
            Kind::Http => "error serving the HTTP connection",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("fdpass_layer::Error");
        d.field(&self.inner.kind);
        if let Some(source) = &self.inner.source {
            d.field(source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
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
    fn display_does_not_repeat_source() {
        let e = Error::new_connect(io::Error::from(io::ErrorKind::NotFound));
        assert!(e.is_connect());
        assert!(!e.is_send());
        assert_eq!(e.to_string(), "connecting to the worker socket failed");
        assert!(e.source().is_some());
    }

    #[test]
    fn error_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
    }
}
