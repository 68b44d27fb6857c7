//! The demo app served over AJP13, on its own: point httpd (mod_proxy_ajp or mod_jk), or
//! any AJP client, at it where Tomcat would be.
//!
//! ```text
//! cargo run --example container -- [--listen 127.0.0.1:8009 | --listen unix:/path] [--secret S] [--packet-size N] [--read-ahead PACKETS]
//!                                    [--idle-timeout SECS] [--http-listen 127.0.0.1:8081]
//! ```
//!
//! `--http-listen ADDR` also serves the SAME app over plain HTTP/1.1 with hyper (keep-alive,
//! TCP_NODELAY): the benchmark harness (`bench/run.sh`) uses it as the ceiling, the backend
//! reached directly without any proxy in between.
//!
//! httpd:   `ProxyPass "/" "ajp://127.0.0.1:8009/" secret=S`
//! mod_jk:  `worker.demo.type=ajp13`, `worker.demo.port=8009`, `worker.demo.secret=S`
//!
//! Logs go to stderr (`RUST_LOG=debug` for every connection and request). Ctrl-C or
//! SIGTERM stops it gracefully: requests in progress finish, idle connections close.

use std::process::ExitCode;

use ajp_codec::PacketSize;
use tokio::net::{TcpListener, UnixListener};

struct Args {
    listen: String,
    http_listen: Option<String>,
    secret: Option<String>,
    packet_size: PacketSize,
    read_ahead: Option<usize>,
    idle_timeout: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:8009".to_owned(),
        http_listen: None,
        secret: None,
        packet_size: PacketSize::DEFAULT,
        read_ahead: None,
        idle_timeout: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = value()?,
            "--http-listen" => args.http_listen = Some(value()?),
            "--secret" => args.secret = Some(value()?),
            "--packet-size" => {
                let n: usize = value()?
                    .parse()
                    .map_err(|e| format!("--packet-size: {e}"))?;
                args.packet_size = PacketSize::new(n).map_err(|e| e.to_string())?;
            }
            "--read-ahead" => {
                let n = value()?.parse().map_err(|e| format!("--read-ahead: {e}"))?;
                args.read_ahead = Some(n);
            }
            "--idle-timeout" => {
                let n = value()?
                    .parse()
                    .map_err(|e| format!("--idle-timeout: {e}"))?;
                args.idle_timeout = Some(n);
            }
            "-h" | "--help" => {
                return Err(
                    "usage: container [--listen ADDR|unix:PATH] [--secret S] [--packet-size N] [--read-ahead PACKETS] [--idle-timeout SECS] [--http-listen ADDR]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = ajp_server::Builder::new();
    builder.packet_size(args.packet_size);
    if let Some(n) = args.read_ahead {
        builder.read_ahead(n);
    }
    if let Some(secs) = args.idle_timeout {
        builder.idle_timeout(Some(std::time::Duration::from_secs(secs)));
    }
    if let Some(s) = &args.secret {
        builder.secret(s);
    }
    let listener: ajp_server::Listener = if let Some(path) = args.listen.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        match UnixListener::bind(path) {
            Ok(l) => l.into(),
            Err(e) => {
                eprintln!("cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        }
    } else {
        match TcpListener::bind(&args.listen).await {
            Ok(l) => l.into(),
            Err(e) => {
                eprintln!("cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        }
    };
    if let Some(addr) = &args.http_listen {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                tokio::spawn(serve_http(l));
                println!("demo app over HTTP/1.1 on {addr}");
            }
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // The line tests and scripts wait for.
    println!("ajp-server demo listening on {}", args.listen);
    tracing::info!(
        listen = %args.listen,
        packet_size = args.packet_size.get(),
        secret = args.secret.is_some(),
        "serving the demo app over AJP13"
    );
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    match builder
        .serve(listener, ajp_server::demo::app())
        .with_graceful_shutdown(stop)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accept failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the demo app over plain HTTP/1.1 (hyper), until the process exits.
async fn serve_http(listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(ajp_server::demo::app());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
