//! Flushers: what is written to the client before its connection is passed on.
//!
//! mod_proxy_fdpass calls a "flush provider" after it connected to the worker and before it
//! sends the fd. Its built-in `flush` provider turns keep-alive off and flushes the response
//! head, so the client sees `HTTP/1.1 200 OK` … `Connection: close` and then a close-delimited
//! body that the worker writes. [`StandardFlush`] does the same; [`NoFlush`] writes nothing so
//! the worker answers the whole request; implement [`Flusher`] for anything else.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, request, response};

/// Decides what to write to the client before its connection is handed to the worker.
///
/// `request` is the head of the request being handed off. `response` is the response head the
/// application chose (when it marked the hand-off with [`HandOff`](crate::HandOff) on a
/// response) or a plain `200 OK` with no headers (when a predicate chose the request).
///
/// The returned bytes are written to the client as they are, before the fd is sent. Return an
/// empty `Bytes` to write nothing. The worker learns the byte count in extended mode
/// ([`Metadata::written`](crate::Metadata::written)); in compatible mode it must know the
/// contract out of band, as with httpd.
pub trait Flusher: Send + Sync + 'static {
    /// The bytes to send to the client before the hand-off.
    fn flush(&self, request: &request::Parts, response: &response::Parts) -> Bytes;
}

/// httpd's default `flush` provider: the status line and the response headers with
/// `Connection: close`, no `Content-Length`, no `Transfer-Encoding`. The worker then writes a
/// close-delimited body and closes the connection.
///
/// `Connection`, `Keep-Alive`, `Content-Length` and `Transfer-Encoding` headers of the
/// response template are dropped, because they would contradict a close-delimited body.
#[derive(Clone, Copy, Debug, Default)]
pub struct StandardFlush;

impl Flusher for StandardFlush {
    fn flush(&self, _request: &request::Parts, response: &response::Parts) -> Bytes {
        let mut out = BytesMut::with_capacity(128);
        out.put_slice(b"HTTP/1.1 ");
        out.put_slice(response.status.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(
            response
                .status
                .canonical_reason()
                .unwrap_or("Unknown")
                .as_bytes(),
        );
        out.put_slice(b"\r\n");
        for (name, value) in &response.headers {
            if name == header::CONNECTION
                || name == header::CONTENT_LENGTH
                || name == header::TRANSFER_ENCODING
                || name.as_str() == "keep-alive"
            {
                continue;
            }
            out.put_slice(name.as_str().as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"connection: close\r\n\r\n");
        out.freeze()
    }
}

/// Writes nothing: the worker answers the whole request, status line included (and, in
/// extended mode, may keep the connection alive and serve the pipelined requests it gets in
/// [`Metadata::read_buf`](crate::Metadata::read_buf)).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFlush;

impl Flusher for NoFlush {
    fn flush(&self, _request: &request::Parts, _response: &response::Parts) -> Bytes {
        Bytes::new()
    }
}

/// A shared, type-erased flusher.
#[derive(Clone)]
pub(crate) struct SharedFlusher(pub(crate) std::sync::Arc<dyn Flusher>);

impl fmt::Debug for SharedFlusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flusher")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads() -> (request::Parts, response::Parts) {
        let (req, ()) = http::Request::new(()).into_parts();
        let (mut resp, ()) = http::Response::new(()).into_parts();
        resp.headers
            .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        resp.headers
            .insert(header::CONTENT_LENGTH, "10".parse().unwrap());
        resp.headers
            .insert(header::CONNECTION, "keep-alive".parse().unwrap());
        (req, resp)
    }

    #[test]
    fn standard_flush_writes_a_close_delimited_head() {
        let (req, resp) = heads();
        assert_eq!(
            &StandardFlush.flush(&req, &resp)[..],
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn no_flush_writes_nothing() {
        let (req, resp) = heads();
        assert!(NoFlush.flush(&req, &resp).is_empty());
    }
}
