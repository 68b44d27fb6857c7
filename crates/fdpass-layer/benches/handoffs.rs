//! Benchmark: hand-offs per second through fdpass-layer (compatible and extended mode) and
//! through Apache httpd mod_proxy_fdpass, on the same machine, in one run, interleaved,
//! medians reported, plus CPU time per hand-off of every process involved.
//!
//! Run (needs apache2 with mod_proxy_fdpass, see scripts/install-peers.sh):
//!   cargo bench -p fdpass-layer --bench handoffs -- [--rounds 6] [--secs 2] [--concurrency 16]
//!     [--only compatible|extended|httpd]
//!
//! This is a `harness = false` bench binary, not a test: it prints figures and exits.
//!
//! Processes (this binary re-executed in different roles):
//! * the load generator (this process): `concurrency` tasks, each opening a new connection
//!   per request: connect, `GET /fdpass/x`, read to EOF, check the body;
//! * the worker (`--worker DIR`): three `Receiver`s (one per sender under test), answering
//!   every hand-off, whatever its mode, with the same 3-byte close-delimited body `ok\n`;
//! * our senders (`--serve SOCK MODE`): one process per mode, a tower service behind
//!   `HandoffLayer` with the default flusher (httpd's `flush`), served by `fdpass_layer::serve`;
//! * httpd 2.4 with the event MPM and mod_proxy_fdpass (its whole process group);
//! * the ceiling: the worker process also listens on TCP and answers the client itself,
//!   with the bytes a hand-off produces, and nothing is handed off. Handing off only adds
//!   work (a second process reads the request, then both pass the descriptor) on the same
//!   cores, so no sender can beat this rate on this machine: it bounds every ratio.
//!
//! Every round runs each target for `secs`, in an order that shifts by one every other
//! round and is reversed in between (see `order`). CPU time (user + system, from
//! `/proc/PID/stat`) is sampled around each target's slice for the server under test, the
//! worker and the load generator, and divided by the hand-offs completed. The machine's cores are shared by all of them, so hand-offs/s
//! depends on the client's and worker's cost as much as on the server's; the server's CPU
//! µs per hand-off is the less noise-sensitive figure.

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
use fdpass_layer::{HandoffLayer, Mode, Receiver, Sender};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::Layer;

const REQUEST: &[u8] = b"GET /fdpass/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// `/proc/PID/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second.
const TICKS_PER_SEC: f64 = 100.0;

/// Sender mode: serve on an ephemeral port, print it, hand `/fdpass/*` to `sock`.
async fn serve_child(sock: &str, mode: Mode) {
    let app = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from_static(b"not handed off\n"),
        )))
    });
    let svc = HandoffLayer::new(Sender::new(sock).mode(mode))
        .when(|req| req.uri.path().starts_with("/fdpass/"))
        .layer(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("port {}", listener.local_addr().unwrap().port());
    let _ = fdpass_layer::serve(listener, svc).await;
}

/// What a client of a hand-off reads: the flusher's head, then the worker's `ok\n`.
const DIRECT_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nok\n";

/// Worker mode: receive on `DIR/ours-compatible.sock`, `DIR/ours-extended.sock` and (for
/// httpd's workers) `DIR/fdpass.sock`, and listen on TCP for the ceiling; print
/// `ready PORT`; answer every hand-off with `ok\n`, every direct client with
/// [`DIRECT_RESPONSE`].
async fn worker_child(dir: &Path) {
    let answer = |receiver: Receiver| {
        tokio::spawn(async move {
            loop {
                if let Ok(handed) = receiver.accept().await {
                    tokio::spawn(async move {
                        let (mut s, _) = handed.into_parts();
                        let _ = s.write_all(b"ok\n").await;
                    });
                }
            }
        })
    };
    let mut tasks = vec![
        answer(Receiver::bind(dir.join("ours-compatible.sock")).unwrap()),
        answer(Receiver::bind(dir.join("ours-extended.sock")).unwrap()),
    ];
    let httpd_sock = dir.join("fdpass.sock");
    tasks.push(answer(
        Receiver::builder()
            .require_uid(httpd_worker_uid())
            .bind(&httpd_sock)
            .unwrap(),
    ));
    if is_root() {
        let (u, g) = www_data();
        std::os::unix::fs::chown(&httpd_sock, Some(u), Some(g)).unwrap();
    }
    let direct = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("ready {}", direct.local_addr().unwrap().port());
    tasks.push(tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = direct.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                // Read the request head as a sender would before handing off.
                let mut head = Vec::with_capacity(256);
                let mut buf = [0; 1024];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(DIRECT_RESPONSE).await;
            });
        }
    }));
    for t in tasks {
        let _ = t.await;
    }
}

/// Runs the load for `secs` against `addr`; returns (completed, failed, elapsed seconds).
async fn load(addr: SocketAddr, secs: f64, concurrency: usize) -> (u64, u64, f64) {
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
    (
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64(),
    )
}

/// `utime + stime` of `pid` (all its threads), in ticks; 0 if it is gone.
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the `(comm)`: state is the 1st, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// CPU ticks of every live process in process group `pgid`.
fn group_cpu_ticks(pgid: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        // state, ppid, pgrp
        if rest.split_whitespace().nth(2).and_then(|v| v.parse().ok()) == Some(pgid) {
            total += cpu_ticks(pid);
        }
    }
    total
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts this binary with `args` and returns it with the first line it printed.
fn spawn_self(args: &[&str]) -> (KillOnDrop, String) {
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let line = std::io::BufReader::new(child.0.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    (child, line)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    }
}

/// One server under test.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// Pid (sender) or process group (httpd) whose CPU time is the server's.
    pid: u32,
    group: bool,
    rate: Vec<f64>,
    server_us: Vec<f64>,
    worker_us: Vec<f64>,
    client_us: Vec<f64>,
}

impl Target {
    fn new(name: &'static str, addr: SocketAddr, pid: u32, group: bool) -> Self {
        Self {
            name,
            addr,
            pid,
            group,
            rate: Vec::new(),
            server_us: Vec::new(),
            worker_us: Vec::new(),
            client_us: Vec::new(),
        }
    }

    fn server_ticks(&self) -> u64 {
        if self.group {
            group_cpu_ticks(self.pid)
        } else {
            cpu_ticks(self.pid)
        }
    }
}

/// The order of the targets in round `i`: rotated by one each round, and reversed every
/// other round, so that each target follows each other one as often as it precedes it.
fn order(i: usize) -> [usize; TARGETS] {
    let mut o: [usize; TARGETS] = std::array::from_fn(|k| (k + i / 2) % TARGETS);
    if i % 2 == 1 {
        o.reverse();
    }
    o
}

/// Targets in a run: two modes of ours, httpd, the ceiling.
const TARGETS: usize = 4;

/// Index of httpd's target, the one every ratio is against.
const HTTPD: usize = 2;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let mode = match args[i + 2].as_str() {
            "extended" => Mode::Extended,
            _ => Mode::Compatible,
        };
        return serve_child(&args[i + 1], mode).await;
    }
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        return worker_child(Path::new(&args[i + 1])).await;
    }
    let opt = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let rounds = opt("--rounds", 6.0) as usize;
    let secs = opt("--secs", 2.0);
    let concurrency = opt("--concurrency", 16.0) as usize;
    // `--only NAME`: run only the targets whose name contains NAME (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());

    let dir = std::env::temp_dir().join(format!("fdpass-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = dir.to_str().unwrap();

    let (worker, ready) = spawn_self(&["--worker", d]);
    let port = |line: String| -> SocketAddr {
        let port = line.rsplit(' ').next().unwrap_or_default();
        format!("127.0.0.1:{port}").parse().unwrap()
    };
    assert!(ready.starts_with("ready "), "worker said {ready:?}");
    let direct_addr = port(ready);
    let compat_sock = format!("{d}/ours-compatible.sock");
    let ext_sock = format!("{d}/ours-extended.sock");
    let (compat, line) = spawn_self(&["--serve", &compat_sock, "compatible"]);
    let compat_addr = port(line);
    let (ext, line) = spawn_self(&["--serve", &ext_sock, "extended"]);
    let ext_addr = port(line);
    let httpd = FdpassHttpd::start(Path::new(&dir));

    let mut targets = [
        Target::new("fdpass-layer compatible", compat_addr, compat.0.id(), false),
        Target::new("fdpass-layer extended", ext_addr, ext.0.id(), false),
        Target::new("httpd mod_proxy_fdpass", httpd.addr, httpd.pid(), true),
        Target::new("ceiling (no hand-off)", direct_addr, worker.0.id(), false),
    ];
    let worker_pid = worker.0.id();
    let me = std::process::id();

    println!(
        "fdpass hand-offs/s, {rounds} rounds x {secs} s per target, {concurrency} concurrent \
         clients, new connection per request; CPU µs per hand-off from /proc (user+sys)"
    );
    // Warm-up.
    for t in &targets {
        load(t.addr, 0.5, concurrency).await;
    }
    for r in 0..rounds {
        for i in order(r) {
            let t = &mut targets[i];
            if only.as_ref().is_some_and(|o| !t.name.contains(o.as_str())) {
                continue;
            }
            let (s0, w0, c0) = (t.server_ticks(), cpu_ticks(worker_pid), cpu_ticks(me));
            let (done, failed, elapsed) = load(t.addr, secs, concurrency).await;
            let (s1, w1, c1) = (t.server_ticks(), cpu_ticks(worker_pid), cpu_ticks(me));
            let per = |a: u64, b: u64| (b - a) as f64 / TICKS_PER_SEC * 1e6 / done.max(1) as f64;
            let rate = done as f64 / elapsed;
            let (s, w, c) = (per(s0, s1), per(w0, w1), per(c0, c1));
            println!(
                "round {r}: {:<24} {rate:>8.0} /s  server {s:>5.1} µs  worker {w:>5.1} µs  \
                 client {c:>5.1} µs  (failed: {failed})",
                t.name
            );
            t.rate.push(rate);
            t.server_us.push(s);
            t.worker_us.push(w);
            t.client_us.push(c);
        }
    }
    if only.is_none() {
        summary(&targets);
    }
    drop(httpd);
    drop((compat, ext, worker));
    let _ = std::fs::remove_dir_all(&dir);
}

fn summary(targets: &[Target]) {
    let httpd_rate = median(&targets[HTTPD].rate);
    let httpd_cpu = median(&targets[HTTPD].server_us);
    println!();
    println!(
        "{:<24} {:>12} {:>9} {:>16} {:>14} {:>14} {:>14}",
        "median",
        "hand-offs/s",
        "vs httpd",
        "server µs/h-o",
        "server vs",
        "worker µs/h-o",
        "client µs/h-o"
    );
    for t in targets {
        let (rate, cpu) = (median(&t.rate), median(&t.server_us));
        println!(
            "{:<24} {rate:>12.0} {:>8.2}x {cpu:>16.1} {:>13.2}x {:>14.1} {:>14.1}",
            t.name,
            rate / httpd_rate,
            httpd_cpu / cpu,
            median(&t.worker_us),
            median(&t.client_us),
        );
    }
    println!(
        "(\"vs httpd\": hand-offs/s ratio; \"server vs\": httpd's server CPU per hand-off \
         divided by this one's, >1 means cheaper than httpd; the ceiling's server is the worker \
         answering the client itself, so its worker and server columns are the same process)"
    );
}
