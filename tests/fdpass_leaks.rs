//! Must-show 3: no fd leaks. The open-fd count of this process, which runs both the sender
//! (hyper + `Handoff`) and the receiver, is the same after 10 000 hand-offs and after every
//! fault; received fds have `FD_CLOEXEC`.
//!
//! One test function only, so no other test opens fds in this process meanwhile.

#[path = "support/fdpass_util.rs"]
mod fdpass_util;

use std::convert::Infallible;
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnix;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fdpass_layer::{HandoffLayer, Mode, Receiver, Sender};
use fdpass_util::{TempDir, is_cloexec, open_fds, roundtrip, spawn_worker};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::Layer;

const HANDOFFS: usize = 10_000;
const CONCURRENCY: usize = 16;

async fn start_app(
    sender: Sender,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let app = tower::service_fn(|_req: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"normal\n"))))
    });
    let svc = HandoffLayer::new(sender)
        .when(|req| req.uri.path().starts_with("/h"))
        .layer(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(fdpass_layer::serve(listener, svc)))
}

/// Waits (bounded) until the fd count is back to `want`; tasks may still be dropping.
async fn settle(want: usize, what: &str) {
    let t0 = Instant::now();
    loop {
        let now = open_fds();
        if now == want {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{what}: {now} fds open, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends raw bytes plus `fds` to `path`, as a misbehaving sender would.
fn send_raw(path: &std::path::Path, data: &[u8], fds: &[i32]) {
    try_send_raw(path, data, fds).unwrap();
}

/// [`send_raw`], returning the error (the receiver may already have closed the connection).
fn try_send_raw(path: &std::path::Path, data: &[u8], fds: &[i32]) -> std::io::Result<()> {
    let s = StdUnix::connect(path)?;
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(
        s.as_raw_fd(),
        &[IoSlice::new(data)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fd_leaks_after_ten_thousand_hand_offs_and_faults() {
    let dir = TempDir::new("leaks");
    let sock = dir.path().join("w.sock");
    let (err_tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    let worker = spawn_worker(Receiver::bind(&sock).unwrap(), Some(err_tx));
    let (addr, app) = start_app(Sender::new(&sock).mode(Mode::Extended)).await;

    // Received fds are CLOEXEC (checked on a receiver we drive by hand).
    {
        let side = dir.path().join("side.sock");
        let receiver = Receiver::bind(&side).unwrap();
        let (side_addr, side_app) = start_app(Sender::new(&side)).await;
        let client = tokio::spawn(roundtrip(side_addr, b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n"));
        let mut handed = receiver.accept().await.unwrap();
        assert!(is_cloexec(handed.stream()), "received fd lacks FD_CLOEXEC");
        assert!(
            handed.metadata().is_none(),
            "compatible mode has no metadata"
        );
        handed
            .stream()
            .write_all(b"cloexec checked\n")
            .await
            .unwrap();
        drop(handed);
        assert!(client.await.unwrap().ends_with("\r\n\r\ncloexec checked\n"));
        side_app.abort();
        let _ = side_app.await;
    }

    // Warm up (runtime threads, lazily opened fds), then measure.
    for _ in 0..20 {
        roundtrip(addr, b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n").await;
    }
    let before = open_fds();
    let t0 = Instant::now();
    let per_task = HANDOFFS / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let r = roundtrip(addr, b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n").await;
                    assert!(
                        r.contains("fdpass-worker mode=extended method=GET target=/h "),
                        "{r}"
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = t0.elapsed();
    eprintln!("{HANDOFFS} hand-offs in {took:?}");
    settle(before, "after 10 000 hand-offs").await;

    // Fault: worker socket missing, and present but refusing. The client gets a 503.
    let gone = dir.path().join("gone.sock");
    let refusing = dir.path().join("refusing.sock");
    drop(std::os::unix::net::UnixListener::bind(&refusing).unwrap()); // file stays, nobody listens
    for path in [&gone, &refusing] {
        let (a, app2) = start_app(Sender::new(path)).await;
        let before_fault = open_fds();
        for _ in 0..50 {
            let r = roundtrip(a, b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
        }
        settle(before_fault, "after 503s").await;
        app2.abort();
        let _ = app2.await; // closes its listener before the next count
    }

    // Faults on the receiving side; each must be reported and close every fd that came.
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let f = file.as_raw_fd();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let t = tcp.as_raw_fd();
    let before_faults = open_fds();
    let cases: &[(&str, &[u8], Vec<i32>, fn(&fdpass_layer::Error) -> bool)] = &[
        (
            "MSG_CTRUNC",
            b"\0",
            vec![t, t, t, t],
            fdpass_layer::Error::is_truncated,
        ),
        (
            "two fds",
            b"\0",
            vec![t, t],
            fdpass_layer::Error::is_protocol,
        ),
        ("no fd", b"\0", vec![], fdpass_layer::Error::is_protocol),
        ("not tcp", b"\0", vec![f], fdpass_layer::Error::is_not_tcp),
        (
            "listening socket",
            b"\0",
            vec![t],
            fdpass_layer::Error::is_not_tcp,
        ),
        (
            "bad version",
            b"FDPX\x09\0\0\0\0\0\0\0",
            vec![t],
            fdpass_layer::Error::is_protocol,
        ),
        (
            "oversized",
            b"FDPX\x01\0\0\0\xff\xff\xff\xff",
            vec![t],
            fdpass_layer::Error::is_too_large,
        ),
        (
            "cut frame",
            b"FDPX\x01\0\0\0\0\0\0\x40abc",
            vec![t],
            fdpass_layer::Error::is_protocol,
        ),
        (
            "garbage",
            b"GET / HTTP/1.1\r\n",
            vec![t],
            fdpass_layer::Error::is_protocol,
        ),
    ];
    for (name, data, fds, check) in cases {
        for _ in 0..20 {
            send_raw(&sock, data, fds);
            let e = tokio::time::timeout(Duration::from_secs(5), errors.recv())
                .await
                .unwrap_or_else(|_| panic!("{name}: no error reported"))
                .unwrap();
            assert!(check(&e), "{name}: unexpected {e:?}");
        }
        settle(before_faults, name).await;
    }

    // SO_PEERCRED: a receiver requiring another uid refuses us.
    {
        let strict_path = dir.path().join("strict.sock");
        let strict = Receiver::builder()
            .require_uid(4_000_000_000)
            .bind(&strict_path)
            .unwrap();
        let mode = std::fs::metadata(&strict_path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let before_cred = open_fds();
        let send = tokio::task::spawn_blocking({
            let p = strict_path.clone();
            // The receiver refuses after `accept`, possibly before this `sendmsg` runs,
            // which then fails with EPIPE: that is the refusal too.
            move || {
                let _ = try_send_raw(&p, b"\0", &[t]);
            }
        });
        let e = strict.accept().await.unwrap_err();
        assert!(e.is_peer_cred(), "{e:?}");
        send.await.unwrap();
        settle(before_cred, "after SO_PEERCRED refusal").await;
    }

    // Everything still works, and the count is where it started.
    let r = roundtrip(addr, b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(r.contains("fdpass-worker"), "{r}");
    drop((file, tcp));
    settle(before, "at the end").await;
    assert!(
        errors.try_recv().is_err(),
        "unexpected extra hand-off errors"
    );
    // A sanity check that the client side saw the whole worker body each time.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /normal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with("normal\n"), "{out}");
    app.abort();
    worker.abort();
}
