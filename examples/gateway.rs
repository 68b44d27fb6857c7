//! tower-ajp's gateway: an HTTP/1.1 server that proxies every request to a servlet
//! container over AJP13 — the job Apache httpd + mod_proxy_ajp does today. The first thing
//! to run:
//!
//! ```sh
//! cargo run --release --example gateway
//! ```
//!
//! With no `--backend` it starts an embedded demo container (tower-ajp's own container
//! side serving a small app) on a loopback port, prints curl commands to try, and proxies
//! to it, so it works on a machine with nothing else installed. Point it at Tomcat with
//! `--backend ajp://127.0.0.1:8009` (and `--secret` if the connector has one).
//!
//! ```text
//! gateway [--listen ADDR] [--backend ajp://HOST:PORT|unix:/PATH] [--secret S]
//!         [--packet-size N] [--pool-max N] [--cping never|connect|request|idle=SECS]
//!         [--busy-poll MICROS] [--header-timeout SECS] [--body-timeout SECS]
//! ```
//!
//! `--header-timeout SECS` (default 30, hyper's) bounds how long a client may take to send
//! a request head, and how long a keep-alive connection may sit idle between requests
//! (httpd's `Timeout` and `KeepAliveTimeout`): without it, clients that connect and go
//! quiet hold their connections for ever. `--body-timeout SECS` (default 60) bounds each
//! wait for the next bytes of a request body the container is waiting for; a stalled
//! upload gets 408 and frees its backend connection. Both take fractions (`0.5`).
//!
//! `--busy-poll MICROS` keeps the runtime's workers polling for I/O instead of sleeping,
//! for MICROS after each read or write of a client connection (the `busy-poll` crate; like
//! HAProxy's `busy-polling`). It cuts the latency of each wake-up, which on a VM whose idle
//! CPUs halt is most of a request at low concurrency, and it costs a whole CPU per worker
//! while traffic flows. Give it CPUs nothing else needs (`taskset`: tokio starts one
//! worker per CPU it may run on).
//!
//! Logs: one line per request at `info` (`RUST_LOG=warn` to silence them,
//! `RUST_LOG=debug` for backend connections). Ctrl-C or SIGTERM stops it gracefully:
//! no new connections, requests in progress finish (at most 10 s).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ajp_service::{AjpService, Backend, ClientInfo, CpingMode, PacketSize};
use busy_poll::BusyPoll;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::either::Either;
use tower::{Service, ServiceExt};
use tracing::{error, info, warn};

const USAGE: &str = "usage: gateway [--listen ADDR] [--backend ajp://HOST:PORT|unix:/PATH] \
[--secret S] [--packet-size N] [--pool-max N] [--cping never|connect|request|idle=SECS] \
[--busy-poll MICROS] [--header-timeout SECS] [--body-timeout SECS]";

struct Args {
    listen: SocketAddr,
    backend: Option<Backend>,
    secret: Option<String>,
    packet_size: PacketSize,
    pool_max: usize,
    cping: CpingMode,
    busy_poll: Option<Duration>,
    header_timeout: Duration,
    body_timeout: Duration,
}

/// A positive number of seconds, fractions allowed.
fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or(format!(
            "{flag}: expected a positive number of seconds, got {v:?}"
        ))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:8080".parse().expect("valid default"),
        backend: None,
        secret: None,
        packet_size: PacketSize::DEFAULT,
        pool_max: 128,
        cping: CpingMode::IdleLongerThan(Duration::from_secs(10)),
        busy_poll: None,
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                args.listen = v.parse().map_err(|_| {
                    format!("--listen {v:?}: expected an address like 127.0.0.1:8080")
                })?;
            }
            "--backend" => {
                args.backend = Some(value()?.parse().map_err(|e| format!("--backend: {e}"))?)
            }
            "--secret" => args.secret = Some(value()?),
            "--packet-size" => {
                let n: usize = value()?
                    .parse()
                    .map_err(|e| format!("--packet-size: {e}"))?;
                args.packet_size = PacketSize::new(n).map_err(|e| format!("--packet-size: {e}"))?;
            }
            "--pool-max" => {
                args.pool_max = value()?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--pool-max: expected a positive number")?;
            }
            "--cping" => {
                let v = value()?;
                args.cping = match v.as_str() {
                    "never" => CpingMode::Never,
                    "connect" => CpingMode::AfterConnect,
                    "request" => CpingMode::BeforeRequest,
                    idle => {
                        let secs = idle
                            .strip_prefix("idle=")
                            .and_then(|s| s.parse::<u64>().ok())
                            .ok_or(format!(
                                "--cping {v:?}: expected never, connect, request or idle=SECS"
                            ))?;
                        CpingMode::IdleLongerThan(Duration::from_secs(secs))
                    }
                };
            }
            "--busy-poll" => {
                let us: u64 = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--busy-poll: expected a positive number of microseconds")?;
                args.busy_poll = Some(Duration::from_micros(us));
            }
            "--header-timeout" => args.header_timeout = seconds(&flag, &value()?)?,
            "--body-timeout" => args.body_timeout = seconds(&flag, &value()?)?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
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
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let listen = listener.local_addr().map_err(|e| e.to_string())?;

    let (backend, demo) = match args.backend {
        Some(b) => (b, None),
        None => {
            let (backend, task) = start_demo_container(&args).await?;
            (backend, Some(task))
        }
    };

    let mut builder = AjpService::builder(backend.clone());
    builder
        .packet_size(args.packet_size)
        .max_connections(args.pool_max)
        .max_idle(args.pool_max)
        .cping(args.cping)
        .body_timeout(args.body_timeout);
    if let Some(s) = &args.secret {
        builder.secret(s);
    }
    let ajp = builder.build().into_infallible();

    info!(%listen, %backend, "gateway listening");
    println!(
        "tower-ajp gateway listening on http://{listen}/ and proxying over AJP13 to {backend}"
    );
    if demo.is_some() {
        println!("(no --backend given: an embedded demo container answers; try)");
        println!("  curl http://{listen}/");
        println!("  curl -s http://{listen}/echo?hello=world -H 'X-Demo: 1'");
        println!("  curl -s -X POST --data-binary @/etc/hostname http://{listen}/echo");
        println!(
            "  curl -s -o /dev/null -w '%{{size_download}} bytes\\n' 'http://{listen}/download?bytes=100000000'"
        );
        println!("  curl -si http://{listen}/status/418");
        println!("  curl -N 'http://{listen}/events?n=5&gap_ms=1000'");
    }

    let busy = args.busy_poll.map(BusyPoll::start);
    if let Some(b) = &busy {
        info!(window = ?b.window(), "busy polling while clients are active");
    }

    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(listen);
        let ajp = ajp.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut()
                .insert(ClientInfo::new(remote).with_local(local));
            let method = req.method().clone();
            let uri = req.uri().clone();
            let start = Instant::now();
            let mut ajp = ajp.clone();
            async move {
                let resp = ServiceExt::<http::Request<Incoming>>::ready(&mut ajp)
                    .await?
                    .call(req)
                    .await?;
                info!(
                    client = %remote,
                    %method,
                    %uri,
                    status = resp.status().as_u16(),
                    ms = %format_args!("{:.2}", start.elapsed().as_secs_f64() * 1e3),
                    "request"
                );
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let io = match &busy {
            Some(b) => Either::Left(b.watch(stream)),
            None => Either::Right(stream),
        };
        // The timer makes hyper enforce the header timeout, which it also applies to an idle
        // keep-alive connection waiting for its next request.
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(args.header_timeout)
            .serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
        });
    }

    drop(listener);
    info!("shutting down: waiting for requests in progress (at most 10 s)");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        warn!("some connections did not finish in 10 s; closing them");
    }
    if let Some(demo) = demo {
        demo.abort();
    }
    Ok(())
}

/// Starts the embedded demo container on a free loopback port.
async fn start_demo_container(
    args: &Args,
) -> Result<(Backend, tokio::task::JoinHandle<()>), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the demo container: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut server = ajp_server::Builder::new();
    server.packet_size(args.packet_size);
    if let Some(s) = &args.secret {
        server.secret(s);
    }
    let serve = server.serve(listener, ajp_server::demo::app());
    let task = tokio::spawn(async move {
        if let Err(e) = serve.await {
            error!(error = %e, "demo container stopped");
        }
    });
    info!(%addr, "embedded demo container listening (AJP13)");
    Ok((Backend::tcp("127.0.0.1", addr.port()), task))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
