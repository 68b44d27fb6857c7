//! Serving: one connection, or every connection of a TCP or Unix listener, with graceful
//! shutdown.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tower::Service;

use crate::body::Body;
use crate::builder::Builder;
use crate::error::{BoxError, Error};

impl Builder {
    /// Serves AJP13 on one connection (already accepted) with `service`, until the proxy
    /// closes it or an error ends it. See [`Connection`].
    pub fn serve_connection<I, S, B>(&self, io: I, service: S) -> Connection
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (tx, rx) = watch::channel(false);
        let config = Arc::new(self.config.clone());
        Connection {
            future: Box::pin(crate::conn::serve(io, service, config, rx)),
            shutdown: tx,
        }
    }

    /// Accepts connections on `listener` (TCP or Unix) and serves each with a clone of
    /// `service`, concurrently. Await the returned [`Serve`]; it runs until the listener
    /// fails for good, or until the signal given to
    /// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) fires.
    pub fn serve<S, B>(&self, listener: impl Into<Listener>, service: S) -> Serve
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let config = Arc::new(self.config.clone());
        let listener = listener.into();
        let spawn: Spawn = Box::new(move |stream, rx| {
            let service = service.clone();
            let config = config.clone();
            match stream {
                Stream::Tcp(s) => {
                    tokio::spawn(log_end(crate::conn::serve(s, service, config, rx)));
                }
                Stream::Unix(s) => {
                    tokio::spawn(log_end(crate::conn::serve(s, service, config, rx)));
                }
            }
        });
        Serve {
            listener,
            spawn,
            signal: Box::pin(std::future::pending()),
        }
    }
}

async fn log_end(conn: impl Future<Output = Result<(), Error>>) {
    if let Err(e) = conn.await {
        if e.is_protocol() || e.is_service() {
            tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "AJP connection closed");
        } else {
            tracing::debug!(error = %e, cause = ?std::error::Error::source(&e), "AJP connection closed");
        }
    }
}

/// A future serving one AJP connection; resolves when it is closed.
///
/// Dropping it closes the connection at once: AJP has no way to abort a request, so a
/// request in progress is cut off and the proxy sees the connection close.
#[must_use = "futures do nothing unless polled"]
pub struct Connection {
    future: Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>,
    shutdown: watch::Sender<bool>,
}

impl Connection {
    /// Starts a graceful shutdown: an idle connection closes at once (no more CPONGs); a
    /// request in progress completes and is answered with END_RESPONSE(reuse = false).
    pub fn graceful_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Future for Connection {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// Where [`Builder::serve`] accepts connections: a TCP or a Unix socket listener.
pub struct Listener(ListenerKind);

enum ListenerKind {
    Tcp(TcpListener),
    Unix(UnixListener),
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Self(ListenerKind::Tcp(l))
    }
}

impl From<UnixListener> for Listener {
    fn from(l: UnixListener) -> Self {
        Self(ListenerKind::Unix(l))
    }
}

impl Listener {
    async fn accept(&self) -> io::Result<Stream> {
        match &self.0 {
            ListenerKind::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                // AJP exchanges many small packets (GET_BODY_CHUNK, END_RESPONSE, CPONG).
                let _ = s.set_nodelay(true);
                tracing::debug!(%peer, "accepted AJP connection");
                Ok(Stream::Tcp(s))
            }
            ListenerKind::Unix(l) => {
                let (s, _) = l.accept().await?;
                tracing::debug!("accepted AJP connection (unix)");
                Ok(Stream::Unix(s))
            }
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ListenerKind::Tcp(l) => f.debug_tuple("Listener").field(l).finish(),
            ListenerKind::Unix(l) => f.debug_tuple("Listener").field(l).finish(),
        }
    }
}

type Spawn = Box<dyn FnMut(Stream, watch::Receiver<bool>) + Send>;

/// Serves every connection of a listener; see [`Builder::serve`]. Await it.
#[must_use = "futures do nothing unless awaited"]
pub struct Serve {
    listener: Listener,
    spawn: Spawn,
    signal: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Serve {
    /// Stops when `signal` completes: no more connections are accepted, idle connections
    /// are closed (no more CPONGs), requests in progress complete with
    /// END_RESPONSE(reuse = false). The `Serve` future resolves once every connection
    /// has closed.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.signal = Box::pin(signal);
        self
    }

    async fn run(self) -> io::Result<()> {
        let Self {
            listener,
            mut spawn,
            mut signal,
        } = self;
        let (tx, rx) = watch::channel(false);
        loop {
            tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok(stream) => spawn(stream, rx.clone()),
                    // Out of file descriptors and the like: wait a little, as hyper does.
                    Err(e) if is_transient(&e) => {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        drop(listener);
        drop(rx);
        tracing::info!("AJP server shutting down; waiting for connections to finish");
        tx.send_replace(true);
        tx.closed().await;
        Ok(())
    }
}

fn is_transient(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
    )
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}
