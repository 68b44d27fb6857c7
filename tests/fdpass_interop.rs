//! Must-show 1: interop with real Apache httpd 2.4 mod_proxy_fdpass, both ways.
//!
//! * client → httpd (mod_proxy_fdpass) → our `Receiver`-based worker, which answers the body;
//! * client → our sender in compatible mode → a worker written to httpd's contract
//!   (`tests/fdpass/worker.py`, Python standard library `socket.recvmsg`).
//!
//! httpd is started by the test on 127.0.0.1 with a temp ServerRoot; if apache2 is not
//! installed the test fails with a message saying so.

#[path = "support/fdpass_httpd.rs"]
mod fdpass_httpd;
#[path = "support/fdpass_util.rs"]
mod fdpass_util;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fdpass_httpd::{FdpassHttpd, httpd_worker_uid, is_root, www_data};
use fdpass_layer::{HandoffLayer, Receiver, Sender};
use fdpass_util::{STEP, TempDir, roundtrip, spawn_worker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpd_mod_proxy_fdpass_hands_off_to_our_receiver() {
    let dir = TempDir::new("httpd");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.path().join("fdpass.sock");
    // 0600 and SO_PEERCRED: only httpd's worker user may hand us connections.
    let receiver = Receiver::builder()
        .require_uid(httpd_worker_uid())
        .bind(&sock)
        .unwrap();
    if is_root() {
        let (uid, gid) = www_data();
        std::os::unix::fs::chown(&sock, Some(uid), Some(gid)).unwrap();
    }
    let (tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    let worker = spawn_worker(receiver, Some(tx));
    let httpd = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || FdpassHttpd::start(&d)
    })
    .await
    .unwrap();

    // The requests of shared/vectors/fdpass/*.request.txt.
    let get = roundtrip(
        httpd.addr,
        b"GET /fdpass/anything?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: raw\r\n\r\n",
    )
    .await;
    let post = roundtrip(
        httpd.addr,
        b"POST /fdpass/post HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\r\nhello-body!",
    )
    .await;
    for resp in [&get, &post] {
        assert!(
            resp.starts_with("HTTP/1.1 200 OK\r\n"),
            "{resp}\n{}",
            httpd.logs()
        );
        assert!(resp.contains("\r\nConnection: close\r\n"), "{resp}");
        assert!(resp.contains("\r\nServer: Apache/2.4"), "{resp}");
        let body = resp.split_once("\r\n\r\n").unwrap().1;
        assert!(
            body.starts_with("fdpass-worker mode=compatible peer=127.0.0.1:"),
            "{resp}"
        );
    }
    assert!(errors.try_recv().is_err(), "a hand-off from httpd failed");
    worker.abort();
    drop(httpd);
}

/// Kills the Python worker on drop (also when the test panics).
struct Python(Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_python_worker(sock: &std::path::Path) -> Python {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fdpass/worker.py");
    let mut child = Python(
        Command::new("python3")
            .arg(script)
            .arg(sock)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is required for the httpd-contract worker"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for l in lines.map_while(Result::ok) {
            eprintln!("worker.py: {l}");
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).as_deref(),
        Ok("ready"),
        "worker.py did not start"
    );
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_httpd_contract_worker_works_behind_our_compatible_sender() {
    use axum::{Router, routing::get};

    let dir = TempDir::new("py");
    let sock = dir.path().join("py.sock");
    let _python = tokio::task::spawn_blocking({
        let s = sock.clone();
        move || start_python_worker(&s)
    })
    .await
    .unwrap();

    let app = Router::new()
        .route("/a", get(|| async { "answered by axum\n" }))
        .layer(
            HandoffLayer::new(Sender::new(&sock))
                .when(|req| req.uri.path().starts_with("/fdpass/")),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(fdpass_layer::serve(listener, app));

    tokio::time::timeout(STEP, async {
        // A keep-alive request first, answered normally, then the hand-off on the same
        // connection.
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut first = Vec::new();
        while !first.ends_with(b"answered by axum\n") {
            let mut b = [0; 512];
            let n = c.read(&mut b).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&first));
            first.extend_from_slice(&b[..n]);
        }
        c.write_all(b"GET /fdpass/x HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut rest = String::new();
        c.read_to_string(&mut rest).await.unwrap();
        let port = c.local_addr().unwrap().port();
        assert_eq!(
            rest,
            format!(
                "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npython-worker hand-off #1 data=00 peer=127.0.0.1:{port}\n"
            )
        );
    })
    .await
    .expect("timed out");

    // And a second, independent one.
    let resp = roundtrip(addr, b"GET /fdpass/y HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(resp.contains("python-worker hand-off #2 data=00"), "{resp}");
    server.abort();
}
