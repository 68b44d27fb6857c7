//! Benchmark: hand-offs per second through fdpass-layer and through Apache httpd
//! mod_proxy_fdpass, on the same machine, in one run, interleaved, medians reported.
//!
//! Run (needs apache2 with mod_proxy_fdpass, see scripts/install-peers.sh):
//!   cargo bench -p fdpass-layer --bench handoffs -- [--rounds 5] [--secs 2] [--concurrency 16]
//!
//! This is a `harness = false` bench binary, not a test: it prints figures and exits.
//!
//! Setup: one worker process-side loop (this process) receives both kinds of hand-off and
//! answers each with a 3-byte close-delimited body. Our sender runs in a child process (this
//! binary re-executed with `--serve`), an axum-free tower service behind `HandoffLayer` in
//! compatible mode with the default flusher, so it does exactly what httpd does. httpd runs
//! with the event MPM on the same loopback. The load generator (this process) opens a new
//! connection per request: connect, `GET /fdpass/x`, read to EOF. Rounds alternate which
//! server goes first.

#[path = "../../../tests/support/fdpass_httpd.rs"]
mod fdpass_httpd;

use std::convert::Infallible;
use std::io::BufRead;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fdpass_httpd::{FdpassHttpd, httpd_worker_uid, is_root, www_data};
use fdpass_layer::{HandoffLayer, Receiver, Sender};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::Layer;

const REQUEST: &[u8] = b"GET /fdpass/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Child mode: serve on an ephemeral port, print it, hand `/fdpass/*` to `sock`.
async fn serve_child(sock: &str) {
    let app = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from_static(b"not handed off\n"),
        )))
    });
    let svc = HandoffLayer::new(Sender::new(sock))
        .when(|req| req.uri.path().starts_with("/fdpass/"))
        .layer(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("port {}", listener.local_addr().unwrap().port());
    let _ = fdpass_layer::serve(listener, svc).await;
}

fn spawn_worker(receiver: Receiver) {
    tokio::spawn(async move {
        loop {
            if let Ok(handed) = receiver.accept().await {
                tokio::spawn(async move {
                    let (mut s, _) = handed.into_parts();
                    let _ = s.write_all(b"ok\n").await;
                });
            }
        }
    });
}

/// Runs the load for `secs` against `addr`; returns completed hand-offs per second.
async fn load(addr: SocketAddr, secs: f64, concurrency: usize) -> (f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (done, failed) = (done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(256);
                while Instant::now() < deadline {
                    let ok = async {
                        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
                        s.write_all(REQUEST).await.ok()?;
                        buf.clear();
                        s.read_to_end(&mut buf).await.ok()?;
                        buf.ends_with(b"\r\n\r\nok\n").then_some(())
                    };
                    match tokio::time::timeout(Duration::from_secs(5), ok).await {
                        Ok(Some(())) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let n = done.load(Ordering::Relaxed);
    (
        n as f64 / t0.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve_child(&args[i + 1]).await;
    }
    let opt = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let rounds = opt("--rounds", 5.0) as usize;
    let secs = opt("--secs", 2.0);
    let concurrency = opt("--concurrency", 16.0) as usize;

    let dir = std::env::temp_dir().join(format!("fdpass-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Worker sockets: one for our sender (0600, same uid), one for httpd's workers.
    let ours_sock = dir.join("ours.sock");
    spawn_worker(Receiver::bind(&ours_sock).unwrap());
    let httpd_sock = dir.join("fdpass.sock");
    spawn_worker(
        Receiver::builder()
            .require_uid(httpd_worker_uid())
            .bind(&httpd_sock)
            .unwrap(),
    );
    if is_root() {
        let (u, g) = www_data();
        std::os::unix::fs::chown(&httpd_sock, Some(u), Some(g)).unwrap();
    }

    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .arg("--serve")
            .arg(&ours_sock)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let line = std::io::BufReader::new(child.0.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let ours: SocketAddr = format!("127.0.0.1:{}", line.trim_start_matches("port "))
        .parse()
        .unwrap();
    let httpd = FdpassHttpd::start(Path::new(&dir));

    println!(
        "fdpass hand-offs/s, {rounds} rounds x {secs} s each, {concurrency} concurrent clients, new connection per request"
    );
    // Warm-up.
    load(ours, 0.5, concurrency).await;
    load(httpd.addr, 0.5, concurrency).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_ours in order {
            let addr = if is_ours { ours } else { httpd.addr };
            let (rate, failed) = load(addr, secs, concurrency).await;
            println!(
                "round {r}: {:<28} {rate:>9.0} /s  (failed: {failed})",
                if is_ours {
                    "fdpass-layer (compatible)"
                } else {
                    "httpd mod_proxy_fdpass"
                }
            );
            if is_ours { a.push(rate) } else { b.push(rate) }
        }
    }
    let (ma, mb) = (median(&mut a), median(&mut b));
    println!(
        "median: fdpass-layer {ma:.0} /s, httpd mod_proxy_fdpass {mb:.0} /s, ratio {:.2}",
        ma / mb
    );
    drop(httpd);
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
