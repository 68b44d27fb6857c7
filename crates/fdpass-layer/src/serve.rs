//! An accept loop for tower services and axum routers, with hand-off.
//!
//! `axum::serve` cannot be used: it runs each connection through hyper-util's `auto`
//! builder inside a task it spawns, so no layer can reach the socket or hyper's
//! `Connection`, and `auto::Connection` has no `into_parts`. A hand-off needs the HTTP/1
//! connection by value, so this module owns the accept loop instead.

use std::io;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::Service;

use crate::conn::{ConnectionEnd, serve_connection_from};
use crate::error::BoxError;

/// Serves HTTP/1 connections from `listener` with `service`, each in its own task, handing
/// connections off where a [`Handoff`](crate::Handoff) layer inside `service` asks for it.
///
/// An `axum::Router` is such a service (with the layer added by `Router::layer` or around
/// the router). This is the replacement for `axum::serve`; see the [crate docs](crate#why-not-axumserve) for
/// why that one cannot do it.
///
/// Accept errors (for example `EMFILE`) are logged and retried after a short pause, so this
/// future only ends when it is dropped.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use axum::{Router, routing::get};
/// use fdpass_layer::{HandOff, HandoffLayer, Sender};
///
/// let app = Router::new()
///     .route("/", get(|| async { "served by axum\n" }))
///     .route("/stream/{*rest}", get(|| async { HandOff::response::<axum::body::Body>() }))
///     .layer(HandoffLayer::new(Sender::new("/run/worker.sock")));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// fdpass_layer::serve(listener, app).await
/// # }
/// ```
pub async fn serve<S, B>(listener: TcpListener, service: S) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // The accept loop runs in a task of its own, on a runtime worker, rather than in
    // whatever awaits this future (often `#[tokio::main]`'s `block_on` on the main thread).
    // A task spawned from a worker starts in that worker's LIFO slot; one spawned from
    // outside the workers goes through the injection queue and wakes a parked worker
    // (a futex wake and a context switch per connection).
    let mut accept = AbortOnDrop(tokio::spawn(accept_loop(listener, service)));
    match (&mut accept.0).await {
        Ok(res) => res,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(io::Error::other(e)),
    }
}

/// Aborts the accept loop when [`serve`]'s future is dropped.
struct AbortOnDrop(JoinHandle<io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn accept_loop<S, B>(listener: TcpListener, service: S) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = service.clone();
        tokio::spawn(async move {
            match serve_connection_from(stream, Some(peer), service).await {
                Ok(ConnectionEnd::HandedOff) => tracing::debug!(%peer, "connection handed off"),
                Ok(_) => {}
                Err(e) => tracing::debug!(%peer, error = ?e, "connection ended with an error"),
            }
        });
    }
}
