//! The gateway example run exactly as a new user runs it — no flags — answers its pages
//! over AJP from the embedded demo container; and its startup errors are clear.
//!
//! `cargo test` builds the examples first; alone, run `cargo build --examples` before.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{Empty, Full};
use support::gateway::{bytes, hash_body, pattern_sha256, send};
use support::proc::Supervised;

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn gateway_without_flags_serves_the_demo_over_ajp() {
    // The documented default address: a user types `cargo run --release --example gateway`.
    assert!(
        !support::port_accepts(8080),
        "127.0.0.1:8080 is in use: stop whatever listens there, the gateway's default port"
    );
    let dir = std::env::temp_dir().join(format!("tower-ajp-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("gateway.log");
    let _gw = Supervised::spawn(
        "gateway",
        support::example("gateway").to_str().unwrap(),
        &[],
        &[],
        &dir,
        &log,
        None,
    );
    assert!(
        support::wait_for_port(8080, Duration::from_secs(20)),
        "gateway did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let addr = support::local(8080);
    let get = |p: &str| {
        Request::get(p)
            .header("host", "localhost:8080")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    let page = bytes(send(addr, get("/")).await).await;
    assert!(
        String::from_utf8_lossy(&page).contains("tower-ajp"),
        "{page:?}"
    );

    let resp = send(
        addr,
        Request::post("/echo?x=1&x=2")
            .header("host", "localhost:8080")
            .header("x-rep", "a")
            .header("x-rep", "b")
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let e = json(&bytes(resp).await);
    assert_eq!(e["via"], "ajp13", "the answer came over AJP");
    assert_eq!(e["method"], "POST");
    assert_eq!(e["query"], "x=1&x=2");
    assert_eq!(e["body_len"], 5);
    assert_eq!(
        e["body_sha256"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(e["remote_addr"], "127.0.0.1");
    assert_eq!(e["server_port"], 8080);
    let reps: Vec<_> = e["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "x-rep")
        .map(|h| h[1].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reps, ["a", "b"]);

    let resp = send(addr, get("/download?bytes=1000000")).await;
    assert_eq!(resp.headers()["content-length"], "1000000");
    let (len, sha, _) = hash_body(resp.into_body()).await.unwrap();
    assert_eq!((len, sha), (1_000_000, pattern_sha256(1_000_000)));

    let resp = send(addr, get("/status/418")).await;
    assert_eq!(resp.status(), 418);

    // `curl --http2` on an http:// URL offers h2c; the offer is ignored, not a 501, and
    // neither Upgrade nor HTTP2-Settings reaches the container.
    let out = Command::new("curl")
        .args([
            "--http2",
            "-s",
            "-m",
            "10",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .arg("http://127.0.0.1:8080/echo")
        .output()
        .expect("curl runs (scripts/install-peers.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    assert_eq!(status, "1.1 200", "{text}");
    let e = json(body.as_bytes());
    let names: Vec<_> = e["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n == "upgrade" || n == "http2-settings"),
        "{names:?}"
    );

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("curl http://127.0.0.1:8080/"),
        "prints the curl commands: {logged}"
    );
    assert!(
        logged.contains("/status/418"),
        "request log lines: {logged}"
    );
}

/// Starts the gateway binary on a free loopback port with `args` (after `--listen`), in a
/// temp dir named after `tag`, and waits until it accepts. Returns it with its port and
/// the path of its log.
fn start_gateway(tag: &str, args: &[&str]) -> (Supervised, u16, std::path::PathBuf) {
    let port = support::free_port();
    let dir = std::env::temp_dir().join(format!("tower-ajp-gateway-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("gateway.log");
    let mut all = vec!["--listen".to_owned(), format!("127.0.0.1:{port}")];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let gw = Supervised::spawn(
        &format!("gateway {}", args.join(" ")),
        support::example("gateway").to_str().unwrap(),
        &all,
        &[],
        &dir,
        &log,
        None,
    );
    assert!(
        support::wait_for_port(port, Duration::from_secs(20)),
        "gateway did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    (gw, port, log)
}

/// `/proc/PID/stat` utime + stime, in ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// With `--busy-poll` the gateway serves as before, polls while a client is active (a
/// CPU's worth of time), and costs nothing once the clients are gone.
#[tokio::test]
async fn busy_polling_gateway_serves_and_sleeps_when_idle() {
    let (gw, port, log) = start_gateway("bp", &["--busy-poll", "200000"]);
    // The gateway is the watchdog's child named `gateway` (setpriv execs it).
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", gw.pid())).unwrap();
    let pid = children
        .split_whitespace()
        .map(|p| p.parse::<u32>().unwrap())
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "gateway")
        })
        .expect("the gateway process");
    let addr = support::local(port);
    let get = |p: &str| Request::get(p).body(Empty::<Bytes>::new()).unwrap();
    let resp = send(addr, get("/download?bytes=100000")).await;
    assert_eq!(resp.headers()["content-length"], "100000");
    let (len, sha, _) = hash_body(resp.into_body()).await.unwrap();
    assert_eq!((len, sha), (100_000, pattern_sha256(100_000)));

    // Right after traffic it polls for the window (200 ms): CPU time accrues as fast as
    // wall time; measured over 150 ms, at least a third of that.
    let t0 = cpu_ticks(pid);
    send(addr, get("/status/204")).await;
    std::thread::sleep(Duration::from_millis(150));
    let busy = cpu_ticks(pid) - t0;
    assert!(busy >= 5, "polling after traffic: {busy} ticks in 150 ms");

    // Then it sleeps: a second with no client costs (almost) nothing.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_ticks(pid) - t0;
    assert!(idle <= 2, "idle gateway used {idle} ticks in 1 s");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("busy polling while clients are active"),
        "says so in its log"
    );
}

#[test]
fn startup_errors_are_clear() {
    let run = |args: &[&str]| {
        let out = Command::new(support::example("gateway"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = run(&["--listen", &format!("127.0.0.1:{port}")]);
    assert!(
        err.contains("cannot listen on") && err.contains("in use"),
        "{err}"
    );
    let err = run(&["--backend", "http://tomcat:8009"]);
    assert!(err.contains("invalid AJP backend"), "{err}");
    let err = run(&["--packet-size", "100"]);
    assert!(err.contains("packet size"), "{err}");
    let err = run(&["--busy-poll", "0"]);
    assert!(
        err.contains("--busy-poll: expected a positive number"),
        "{err}"
    );
    let err = run(&["--header-timeout", "0"]);
    assert!(
        err.contains("--header-timeout: expected a positive number of seconds"),
        "{err}"
    );
    let err = run(&["--body-timeout", "soon"]);
    assert!(
        err.contains("--body-timeout: expected a positive number of seconds"),
        "{err}"
    );
    let err = run(&["--bogus"]);
    assert!(err.contains("unknown argument"), "{err}");
}

#[tokio::test]
async fn unreachable_backend_is_a_503_page_at_first_request() {
    let backend = format!("ajp://127.0.0.1:{}", support::free_port());
    let (_gw, listen, _) = start_gateway("503", &["--backend", &backend]);
    let resp = send(
        support::local(listen),
        Request::get("/")
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert!(String::from_utf8_lossy(&bytes(resp).await).contains("503"));
}

/// Clients that connect and go quiet do not hold the gateway's connections for ever: one
/// that sends nothing, one that stops half-way through its head, and a keep-alive
/// connection idle after a request are all closed after `--header-timeout`; an upload
/// that stalls while the container waits for it is answered 408 after `--body-timeout`
/// (the container is the embedded demo, which reads the body).
#[tokio::test]
async fn quiet_clients_are_timed_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_gw, port, _) = start_gateway("to", &["--header-timeout", "0.5", "--body-timeout", "0.5"]);
    let addr = support::local(port);
    let connect = || tokio::net::TcpStream::connect(addr);

    let silent = connect().await.unwrap();
    let mut half = connect().await.unwrap();
    half.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let mut idle = connect().await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut upload = connect().await.unwrap();
    upload
        .write_all(b"POST /discard HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n0123456789")
        .await
        .unwrap();

    let started = std::time::Instant::now();
    // Every one of them ends within 5 s (the timeouts are 0.5 s), read to EOF.
    let read_all = |mut s: tokio::net::TcpStream| async move {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
            .await
            .expect("the gateway closes the connection within 5 s")
            .map(|_| String::from_utf8_lossy(&out).into_owned())
    };
    let (silent, half, idle, upload) = tokio::join!(
        read_all(silent),
        read_all(half),
        read_all(idle),
        read_all(upload)
    );
    let waited = started.elapsed();
    assert!(!silent.unwrap().contains("200"), "nothing was asked");
    assert!(
        !half.unwrap_or_default().contains("200"),
        "the head never ended"
    );
    let idle = idle.unwrap();
    assert!(idle.starts_with("HTTP/1.1 200"), "{idle:?}");
    let upload = upload.unwrap();
    assert!(upload.starts_with("HTTP/1.1 408"), "{upload:?}");
    assert!(
        waited >= Duration::from_millis(400),
        "closed after {waited:?}"
    );

    // And the gateway still serves: the stalled upload's backend connection was not pooled.
    let resp = send(
        addr,
        Request::get("/hello")
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
}
