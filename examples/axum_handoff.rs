//! An axum app with its own routes that hands `/stream/*` to a worker process.
//!
//! Run (two terminals):
//!   cargo run --example fdpass_worker -- --socket /tmp/worker.sock
//!   cargo run --example axum_handoff -- --listen 127.0.0.1:8080 --worker /tmp/worker.sock [--extended]
//!   curl -v http://127.0.0.1:8080/            # answered by axum
//!   curl -v http://127.0.0.1:8080/stream/abc  # head from us, body from the worker
//!
//! `axum::serve` cannot reach the connection, so the router is served by
//! `fdpass_layer::serve` (see the crate docs). `--extended` sends the metadata frame (request
//! head, body bytes read, pipelined bytes, addresses) with the fd; without it the wire is
//! exactly Apache mod_proxy_fdpass's.

use std::process::ExitCode;

use axum::{Router, http::header, response::IntoResponse, routing::get};
use fdpass_layer::{HandOff, HandoffLayer, Mode, Sender};

async fn stream() -> impl IntoResponse {
    // The status and headers become the head our flusher writes; the worker sends the body.
    let mut resp = HandOff::response::<axum::body::Body>();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut listen = None;
    let mut worker = None;
    let mut mode = Mode::Compatible;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => listen = it.next(),
            "--worker" => worker = it.next(),
            "--extended" => mode = Mode::Extended,
            other => {
                eprintln!("unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(listen), Some(worker)) = (listen, worker) else {
        eprintln!("usage: axum_handoff --listen ADDR --worker PATH [--extended]");
        return ExitCode::from(2);
    };

    let app = Router::new()
        .route("/", get(|| async { "hello from axum\n" }))
        .route("/health", get(|| async { "ok\n" }))
        .route("/stream/{*rest}", get(stream))
        .layer(HandoffLayer::new(Sender::new(&worker).mode(mode)));

    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("axum_handoff: http://{listen}/ ; /stream/* goes to {worker} ({mode:?})");
    match fdpass_layer::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
