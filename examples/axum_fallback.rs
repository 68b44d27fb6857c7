//! An axum app with its own routes, and Tomcat (any AJP container) behind it for
//! everything else: `AjpService` as the router's fallback service.
//!
//! Run (with an AJP connector on 127.0.0.1:8009):
//!
//! ```sh
//! cargo run --example axum_fallback -- --listen 127.0.0.1:8080 --backend ajp://127.0.0.1:8009 [--secret S]
//! curl http://127.0.0.1:8080/healthz          # answered by axum
//! curl http://127.0.0.1:8080/examples/        # answered by Tomcat over AJP
//! ```

use std::net::SocketAddr;

use ajp_service::{AjpService, Backend, ClientInfo};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
    let mut backend: Backend = "ajp://127.0.0.1:8009".parse()?;
    let mut secret = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--backend" => backend = value()?.parse()?,
            "--secret" => secret = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    let mut builder = AjpService::builder(backend.clone());
    if let Some(s) = secret {
        builder.secret(s);
    }
    // axum records the peer address as `ConnectInfo<SocketAddr>`; AJP wants it as the
    // request's remote address, so tell the service where to find it.
    builder.client_info(move |ext| {
        ext.get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(remote)| ClientInfo::new(*remote).with_local(listen))
    });
    let container = builder.build().into_infallible();

    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback_service(container);

    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, %backend, "axum with an AJP fallback is listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
