//! A [`tower::Service`] that proxies HTTP requests to a servlet container — Tomcat, Jetty,
//! WildFly — over AJP13, the way Apache httpd's `mod_proxy_ajp` and `mod_jk` do.
//!
//! [`AjpService`] takes any `http::Request<B>` (`B: http_body::Body`), sends it as a
//! Forward Request over a pooled connection, and answers with an `http::Response` whose
//! [`ResponseBody`] streams SEND_BODY_CHUNKs as they arrive.
//!
//! # Example: axum fallback
//!
//! ```no_run
//! use ajp_service::AjpService;
//! use axum::{Router, routing::get};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tomcat = AjpService::builder("ajp://127.0.0.1:8009".parse()?)
//!     .secret("s3cret")
//!     .build()
//!     .into_infallible(); // errors become 502/503/504 responses
//! let app = Router::new()
//!     .route("/healthz", get(|| async { "ok" }))
//!     .fallback_service(tomcat); // everything else goes to Tomcat
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # What reaches the container
//!
//! * The path exactly as the client sent it (still percent-encoded: never decoded and
//!   re-sent), the query in AJP's `query_string` attribute, the method as its AJP code or
//!   as a stored method.
//! * All end-to-end headers, in order, repeats kept. Hop-by-hop headers (`Connection` and
//!   the names it lists, except `Content-Length` and `Host`, which frame and route the
//!   request and always reach the container), `Keep-Alive`, `TE`, `Upgrade`, `Proxy-Connection`,
//!   `Transfer-Encoding`), `Expect`, `Proxy-Authorization` and, by default, client-sent
//!   `Forwarded`/`X-Forwarded-*` are removed.
//! * Connection facts from the [`ClientInfo`] request extension (remote address and port,
//!   local address and port, TLS) and the user from [`AuthenticatedUser`]; never from
//!   headers. The configured secret and static attributes. Attribute names never come from
//!   request data.
//!
//! # What never reaches it
//!
//! Requests that could desynchronise the container or smuggle a second request are refused
//! before any connection is used ([`Error::is_rejected`]): Content-Length together with
//! Transfer-Encoding, several Content-Lengths, a Transfer-Encoding other than `chunked`,
//! controls or spaces in the path or query, CR/LF/NUL in header values (400); a head that
//! does not fit one AJP packet (431); `CONNECT` and protocol upgrades such as WebSocket,
//! which AJP cannot carry (501). An `Upgrade` that offers only `h2c` (what `curl --http2`
//! sends to an http:// URL) is ignored, as RFC 9110 allows, and the request proxied.
//!
//! # Request bodies
//!
//! With a Content-Length above zero the first body packet follows the Forward Request
//! (Tomcat reads it unasked); everything else is sent only when the container asks with
//! GET_BODY_CHUNK, never more than it asked for, and an empty packet ends the body. The
//! client body is polled only when a packet is due, so `Expect: 100-continue` is answered
//! when the container really wants the body. If the client body fails or ends short, the
//! backend connection is closed, never pooled.
//!
//! # Connection reuse
//!
//! A backend connection returns to the pool only after END_RESPONSE with reuse = 1 and
//! nothing left unread or unwritten; any anomaly closes it. A request that failed on a
//! stale pooled connection before any byte came back is replayed once on a new connection
//! if it is idempotent and none of its body was sent — and never otherwise.
//!
//! # Cancel safety
//!
//! AJP has no way to abandon a request and keep the connection. Dropping the response
//! future or the [`ResponseBody`] before END_RESPONSE closes that backend connection; the
//! pool opens another when needed.
//!
//! # Observability
//!
//! Each request runs in a `tracing` span `ajp_request` (method, path, backend connection
//! id); connection opening, reuse and closing are logged at `debug`/`trace`.
//! [`AjpService::stats`] returns counters for a status page.

mod backend;
mod body;
mod builder;
mod conn;
mod error;
mod error_response;
mod feed;
mod info;
mod pool;
mod request;
mod response;
mod service;
mod stats;

pub use backend::{Backend, InvalidBackend};
pub use body::ResponseBody;
pub use builder::Builder;
pub use error::{BoxError, Error};
pub use error_response::{
    ErrorResponse, ErrorResponseLayer, ResponseFuture as ErrorResponseFuture,
};
pub use info::{AuthenticatedUser, ClientInfo, TlsInfo};
pub use pool::CpingMode;
pub use service::{AjpService, ResponseFuture};
pub use stats::StatsSnapshot;

/// Re-exported so users can name the packet size without depending on `ajp-codec`.
pub use ajp_codec::PacketSize;
