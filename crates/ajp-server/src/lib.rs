//! The container side of AJP13: serve any [`tower::Service`] over `http::Request<`[`Body`]`>`
//! (an axum `Router`, a `service_fn`, …) to Apache httpd `mod_proxy_ajp` or `mod_jk`,
//! exactly where Tomcat would sit.
//!
//! ```no_run
//! use tokio::net::TcpListener;
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:8009").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! # drop(stop);
//! let mut builder = ajp_server::Builder::new();
//! builder.secret("s3cret");
//! builder
//!     .serve(listener, ajp_server::demo::app())
//!     .with_graceful_shutdown(async { let _ = stopped.await; })
//!     .await
//! # }
//! ```
//!
//! # What it does, as Tomcat does
//!
//! * **Connections:** TCP or Unix sockets ([`Listener`]), many requests per connection,
//!   connections served concurrently. CPING is answered with CPONG whenever the
//!   connection is idle. SHUTDOWN closes the connection.
//! * **Requests:** a Forward Request becomes an `http::Request` with the method (also a
//!   stored one), the URI with its query, the headers in order, and the proxy's facts in a
//!   [`ProxyInfo`] extension (client address and port, local address, TLS, authenticated
//!   user, route, named attributes).
//! * **Security:** named attributes not on the allow-list ([`ALWAYS_ALLOWED`] plus
//!   configured names and prefixes) are refused with 403, as Tomcat does since Ghostcat;
//!   a configured secret is compared in constant time, and a request without it gets 403.
//!   Unlike Tomcat, no secret is required by default: without one, anyone who can reach
//!   the port is trusted for the client address, TLS flag and authenticated user, so
//!   listen on loopback or a private network, or set [`Builder::secret`].
//!   Refusals end with END_RESPONSE(reuse = false) and the connection is closed.
//! * **Request body:** pulled lazily. Nothing is asked for until the app polls the
//!   [`Body`]; then every piece after the unasked first packet (Content-Length > 0) is one
//!   GET_BODY_CHUNK of at most P − 6 bytes and the rest of the Content-Length. Up to
//!   [`read_ahead`](Builder::read_ahead) packets (default: 256 KiB worth) are kept coming, so an upload
//!   is not one proxy round trip per packet; only full packets are pipelined, so no proxy
//!   is asked for more than the body holds, even one that ignores the requested length.
//!   If the app does not read it all, only what is already on its way is read and discarded
//!   (the first packet, or packets already asked for); the rest is never asked for, so it
//!   can never be mistaken for the next request (CVE-2011-3190).
//! * **Response:** the head is one SEND_HEADERS (hop-by-hop headers dropped, Content-Length
//!   added when the body's size is known); the body is streamed as SEND_BODY_CHUNKs of at
//!   most P − 8 bytes, filled across the app's frames while more is ready, never buffered
//!   whole. HEAD, 204, 205 and 304 carry no body chunks
//!   (whatever the app writes is dropped). END_RESPONSE's reuse flag is false when the
//!   server means to close the connection; a graceful shutdown that begins while a
//!   reuse = true END_RESPONSE is being flushed still closes it (Tomcat has the same
//!   window; proxies treat it as a closed idle connection).
//!
//! # Flushing
//!
//! Response data is written to the socket when 256 KiB are queued, and whenever the app's response body yields data and then returns `Pending`: a body that
//! sends a frame and then waits is a flush, so server-sent-event style responses reach the
//! proxy at once. (The proxy decides whether it flushes to its client; httpd does for
//! mod_proxy_ajp with `flushpackets=on`.)
//!
//! Whole packets of a `Bytes` frame are sent from the frame itself (a vectored write), not
//! copied: the queue holds up to 256 KiB of references to the app's frames. A frame type
//! other than `Bytes` is copied once, by its `Buf::copy_to_bytes`.
//!
//! # Errors and cancel safety
//!
//! Malformed input (garbage, oversize packets, a body packet longer than asked for, an
//! unknown message) closes the connection and is reported as a typed [`Error`] (logged
//! with `tracing` by [`Builder::serve`]); nothing in here panics on peer input. AJP cannot
//! abort a response, so when the app's response body fails after the head was sent, the
//! connection is closed without END_RESPONSE and the proxy sees a truncated response.
//! Dropping a [`Connection`] closes its socket the same way.
//!
//! # Graceful shutdown
//!
//! [`Serve::with_graceful_shutdown`] stops accepting, closes idle connections (so CPINGs go
//! unanswered, as with a paused Tomcat), lets requests in progress finish with
//! END_RESPONSE(reuse = false), and resolves when every connection has closed.

mod allow;
mod body;
mod builder;
mod conn;
#[cfg(test)]
mod conn_tests;
pub mod demo;
mod error;
mod exchange;
mod info;
mod pack;
mod request;
mod response;
mod serve;

pub use allow::ALWAYS_ALLOWED;
pub use body::Body;
pub use builder::Builder;
pub use error::{BoxError, Error};
pub use info::{ProxyInfo, TlsInfo};
pub use serve::{Connection, Listener, Serve};
