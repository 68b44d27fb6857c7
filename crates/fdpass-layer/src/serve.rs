//! An accept loop for tower services and axum routers, with hand-off.
//!
//! `axum::serve` cannot be used: it runs each connection through hyper-util's `auto`
//! builder inside a task it spawns, so no layer can reach the socket or hyper's
//! `Connection`, and `auto::Connection` has no `into_parts`. A hand-off needs the HTTP/1
//! connection by value, so this module owns the accept loop instead.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
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
    //
    // The listener stays owned by this future: dropping it closes the listener at once
    // (not whenever the aborted task is next scheduled).
    let listener = Arc::new(Mutex::new(Some(listener)));
    let mut accept = Accepting {
        task: tokio::spawn(accept_loop(listener.clone(), service)),
        listener,
    };
    match (&mut accept.task).await {
        Ok(res) => res,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(io::Error::other(e)),
    }
}

type SharedListener = Arc<Mutex<Option<TcpListener>>>;

/// The accept task and its listener; dropping it closes the listener and aborts the task.
struct Accepting {
    task: JoinHandle<io::Result<()>>,
    listener: SharedListener,
}

impl Drop for Accepting {
    fn drop(&mut self) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        drop(listener);
        self.task.abort();
    }
}

/// Accepts from the shared listener; `None` once [`serve`]'s future dropped it.
async fn accept(listener: &SharedListener) -> Option<io::Result<(TcpStream, SocketAddr)>> {
    std::future::poll_fn(|cx| {
        // Held only for one poll, never across an await.
        let guard = listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match guard.as_ref() {
            Some(l) => l.poll_accept(cx).map(Some),
            None => Poll::Ready(None),
        }
    })
    .await
}

async fn accept_loop<S, B>(listener: SharedListener, service: S) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    loop {
        let (stream, peer) = match accept(&listener).await {
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            None => return Ok(()),
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
