//! A plain hyper server with a tower `ServiceBuilder` stack (tower-http tracing and a
//! timeout) around `AjpService`: the shape to copy into an existing hyper server.
//!
//! Run (with an AJP connector on 127.0.0.1:8009):
//!
//! ```sh
//! RUST_LOG=debug cargo run --example hyper_server -- --listen 127.0.0.1:8080 --backend ajp://127.0.0.1:8009
//! curl -v http://127.0.0.1:8080/
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use ajp_service::{AjpService, Backend, ClientInfo, ErrorResponseLayer};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
    let mut backend: Backend = "ajp://127.0.0.1:8009".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--backend" => backend = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    let ajp = AjpService::new(backend.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, %backend, "hyper server proxying to AJP");
    loop {
        let (stream, remote) = listener.accept().await?;
        let local = stream.local_addr()?;
        // Outermost first: trace, then turn errors (incl. the timeout's) into 502/503/504,
        // then the 30 s limit on the response head, then the proxy. Each connection's
        // facts go into every request on it.
        let svc = ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(ErrorResponseLayer::new())
            .timeout(Duration::from_secs(30))
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut()
                    .insert(ClientInfo::new(remote).with_local(local));
                req
            })
            .service(ajp.clone());
        tokio::spawn(async move {
            // With a timer hyper closes connections that take over 30 s to send a head
            // or sit idle that long between requests (its default header timeout).
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
        });
    }
}
