//! fdpass-layer in extended mode, end to end over real sockets in one process: hyper +
//! `Handoff` on one side, `fdpass_layer::Receiver` on the other.
//!
//! Must-show 2: pipelined requests and a POST whose body hyper already read arrive at the
//! worker intact. Also: chunked bodies (buffered, or refused over the limit), the `none`
//! flusher, the 503 when the worker is missing, the axum response marker; a worker never
//! takes over (or, when dropped, removes) a socket another worker accepts on.

#[path = "support/fdpass_util.rs"]
mod fdpass_util;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fdpass_layer::{HandOff, HandoffLayer, Metadata, Mode, NoFlush, Receiver, Sender};
use fdpass_util::{STEP, TempDir, esc, roundtrip, spawn_worker};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::Layer;

/// A plain app answering `normal <path>`, behind a `HandoffLayer` choosing `/handoff*`.
async fn start_app(sender: Sender) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = tower::service_fn(|req: Request<Incoming>| async move {
        let body = if req.uri().path() == "/big" {
            Bytes::from(vec![b'B'; BIG])
        } else {
            Bytes::from(format!("normal {}\n", req.uri().path()))
        };
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    });
    let svc = HandoffLayer::new(sender)
        .when(|req| req.uri.path().starts_with("/handoff"))
        .layer(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(fdpass_layer::serve(listener, svc)))
}

/// Larger than the loopback socket buffers, so hyper keeps part of it queued.
const BIG: usize = 8 << 20;

struct Setup {
    addr: SocketAddr,
    _dir: TempDir,
    worker: tokio::task::JoinHandle<()>,
    app: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.worker.abort();
        self.app.abort();
    }
}

async fn setup(configure: impl FnOnce(Sender) -> Sender) -> Setup {
    let dir = TempDir::new("ext");
    let sock = dir.path().join("worker.sock");
    let worker = spawn_worker(Receiver::bind(&sock).unwrap(), None);
    let (addr, app) = start_app(configure(Sender::new(&sock).mode(Mode::Extended))).await;
    Setup {
        addr,
        _dir: dir,
        worker,
        app,
    }
}

fn body_of_last(resp: &str) -> &str {
    resp.rsplit("\r\n\r\n").next().unwrap()
}

#[tokio::test]
async fn pipelined_requests_reach_the_worker_intact() {
    let s = setup(|s| s).await;
    let after = "GET /after1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /after2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz";
    let req = format!(
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /handoff/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n{after}"
    );
    let resp = roundtrip(s.addr, req.as_bytes()).await;
    // The keep-alive request before the hand-off was answered by hyper.
    assert!(
        resp.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n"),
        "{resp}"
    );
    assert!(
        resp.contains("\r\n\r\nnormal /a\nHTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"),
        "{resp}"
    );
    let line = body_of_last(&resp);
    assert!(
        line.starts_with("fdpass-worker mode=extended method=GET target=/handoff/p?q=1 "),
        "{line}"
    );
    assert!(line.contains(" head_sent=true written=38 "), "{line}");
    assert!(
        line.ends_with(&format!(" read_buf={}\n", esc(after.as_bytes()))),
        "{line}"
    );
}

#[tokio::test]
async fn a_post_body_hyper_already_read_reaches_the_worker() {
    let s = setup(|s| s).await;
    // Whole body in the first segment: hyper has read it all before the hand-off.
    let resp = roundtrip(
        s.addr,
        b"POST /handoff/post HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello-body!",
    )
    .await;
    let line = body_of_last(&resp);
    assert!(
        line.contains(" method=POST target=/handoff/post "),
        "{line}"
    );
    assert!(
        line.contains(" body_complete=true dechunked=false body=hello-body! read_buf=\n"),
        "{line}"
    );

    // Half the body now, half later: the worker gets hyper's half from the metadata and the
    // rest from the socket.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"POST /handoff/half HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.write_all(b"56789").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(STEP, c.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.contains(" body=0123456789 read_buf=\n"), "{out}");
}

#[tokio::test]
async fn chunked_bodies_are_buffered_or_refused() {
    let s = setup(|s| s.max_buffered_body(16)).await;
    let resp = roundtrip(
        s.addr,
        b"POST /handoff/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
    )
    .await;
    let line = body_of_last(&resp);
    assert!(
        line.contains(" body_complete=true dechunked=true body=hello world read_buf=GET /next HTTP/1.1\\r\\n\\r\\n\n"),
        "{line}"
    );

    let resp = roundtrip(
        s.addr,
        b"POST /handoff/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n0123456789abcdefghij\r\n0\r\n\r\n",
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{resp}"
    );
    assert!(resp.contains("connection: close\r\n"), "{resp}");
    assert!(
        resp.contains("exceeds the hand-off buffer limit of 16 bytes"),
        "{resp}"
    );
}

#[tokio::test]
async fn the_none_flusher_lets_the_worker_answer_everything() {
    let s = setup(|s| s.flusher(NoFlush)).await;
    let resp = roundtrip(s.addr, b"GET /handoff/n HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        resp.starts_with("HTTP/1.1 200 OK\r\ncontent-length: "),
        "{resp}"
    );
    assert!(resp.contains(" head_sent=false written=0 "), "{resp}");
}

#[tokio::test]
async fn a_missing_worker_gets_the_client_a_503_and_a_close() {
    let dir = TempDir::new("missing");
    let (addr, app) =
        start_app(Sender::new(dir.path().join("nobody.sock")).mode(Mode::Extended)).await;
    let resp = roundtrip(
        addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /handoff/x HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    app.abort();
    assert!(
        resp.contains("\r\n\r\nnormal /ok\nHTTP/1.1 503 Service Unavailable\r\n"),
        "{resp}"
    );
    assert!(resp.contains("connection: close\r\n"), "{resp}");
    assert!(!resp.contains("/never"), "{resp}");
}

#[tokio::test]
async fn axum_routes_mark_hand_offs_with_a_response() {
    use axum::{Router, routing::get};
    let dir = TempDir::new("axum");
    let sock = dir.path().join("worker.sock");
    let worker = spawn_worker(Receiver::bind(&sock).unwrap(), None);
    let app = Router::new()
        .route("/", get(|| async { "axum root\n" }))
        .route(
            "/stream/{*rest}",
            get(|| async {
                let mut r = HandOff::response::<axum::body::Body>();
                r.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                r
            }),
        )
        .layer(HandoffLayer::new(Sender::new(&sock).mode(Mode::Extended)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(fdpass_layer::serve(listener, app));

    let resp = roundtrip(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /stream/live HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(resp.contains("axum root\n"), "{resp}");
    assert!(
        resp.contains("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\nfdpass-worker mode=extended method=GET target=/stream/live "),
        "{resp}"
    );
    // A marked response to a request with a body is refused: its body is gone.
    let resp = roundtrip(
        addr,
        b"GET /stream/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{resp}"
    );
    server.abort();
    worker.abort();
}

#[tokio::test]
async fn without_the_driver_a_hand_off_is_refused_clearly() {
    use tower::ServiceExt;
    let app = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let svc = HandoffLayer::new(Sender::new("/nonexistent.sock"))
        .when(|_| true)
        .layer(app);
    let resp = svc
        .oneshot(Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn an_earlier_response_to_a_slow_reader_is_flushed_before_the_hand_off() {
    let s = setup(|s| s).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(
        b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /handoff/late HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    // Do not read for a while: hyper cannot write the 8 MiB response out, the hand-off
    // request is already parsed and waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut out = Vec::new();
    tokio::time::timeout(STEP, c.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let rest = &out[head_end..];
    assert!(rest.len() > BIG, "response cut short: {} bytes", rest.len());
    assert!(rest[..BIG].iter().all(|&b| b == b'B'), "big body corrupted");
    let tail = String::from_utf8_lossy(&rest[BIG..]);
    assert!(
        tail.starts_with("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nfdpass-worker mode=extended method=GET target=/handoff/late "),
        "{tail}"
    );
}

/// A hand-off of a fresh loopback connection through `sender` reaches `receiver`.
async fn hands_off_to(sender: &Sender, receiver: &Receiver) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    tokio::time::timeout(STEP, sender.send(&server, &Metadata::new()))
        .await
        .expect("send in time")
        .expect("send");
    let handed = tokio::time::timeout(STEP, receiver.accept())
        .await
        .expect("accepted in time")
        .expect("a hand-off");
    let (stream, _) = handed.into_parts();
    assert_eq!(stream.peer_addr().unwrap(), client.local_addr().unwrap());
}

#[tokio::test]
async fn a_live_socket_is_never_taken_over_and_only_our_own_file_is_removed() {
    let dir = TempDir::new("restart");
    let path = dir.path().join("worker.sock");
    let sender = Sender::new(&path)
        .mode(Mode::Extended)
        .reuse_connection(false);

    // A socket file nobody accepts on any more (a worker that crashed) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let old = Receiver::bind(&path).expect("a stale socket is replaced");

    // A second worker started while the first accepts is refused, and the first keeps
    // its socket and its hand-offs.
    let err = Receiver::bind(&path).expect_err("the path is live");
    assert!(err.is_bind(), "{err:?}");
    let source = std::error::Error::source(&err).map(|s| s.to_string());
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("another process is accepting")),
        "{err:?}"
    );
    hands_off_to(&sender, &old).await;

    // The way to restart with no gap: the new worker binds beside the path and renames
    // its socket over it. The old worker, dropped after, must leave the new file alone.
    let next_path = dir.path().join("worker.sock.next");
    let mut new = Receiver::bind(&next_path).unwrap();
    std::fs::rename(&next_path, &path).unwrap();
    drop(old);
    assert!(
        path.exists(),
        "the old worker removed the new worker's socket"
    );
    hands_off_to(&sender, &new).await;

    // And a worker does remove its own file when it is still there.
    let own = dir.path().join("own.sock");
    new = Receiver::bind(&own).unwrap();
    drop(new);
    assert!(!own.exists());
}

#[tokio::test]
async fn a_hand_off_trickled_a_byte_at_a_time_times_out_as_a_whole() {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::io::{IoSlice, Write};
    use std::os::fd::AsRawFd;

    let dir = TempDir::new("trickle");
    let path = dir.path().join("worker.sock");
    let timeout = Duration::from_millis(300);
    let receiver = Receiver::builder().timeout(timeout).bind(&path).unwrap();

    // An extended frame header announcing 64 bytes of metadata, with an fd, then one byte
    // every 0.4 × the timeout: each read comes in time, the frame never does.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut unix = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let fds = [tcp.as_raw_fd()];
    let header = b"FDPX\x01\0\0\0\0\0\0\x40";
    sendmsg::<()>(
        unix.as_raw_fd(),
        &[IoSlice::new(header)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let trickle = std::thread::spawn(move || {
        for _ in 0..64 {
            std::thread::sleep(timeout * 2 / 5);
            if unix.write_all(b"x").is_err() {
                return;
            }
        }
    });

    let err = tokio::time::timeout(STEP, receiver.accept())
        .await
        .expect("an answer in time")
        .expect_err("the trickled frame is refused");
    let waited = t0.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    // Per read, the timeout would never fire: the 64 bytes would take 64 × 0.4 × timeout.
    assert!(waited < timeout * 4, "timed out only after {waited:?}");
    trickle.join().unwrap();
}

#[tokio::test]
async fn an_oversized_frame_fails_alone_and_the_hand_offs_behind_it_arrive() {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    let dir = TempDir::new("oversized");
    let path = dir.path().join("worker.sock");
    let receiver = Receiver::builder().max_frame_len(64).bind(&path).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        clients.push(
            TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap(),
        );
        servers.push(listener.accept().await.unwrap().0);
    }
    // On one connection, as a pooled sender would: a frame announcing 100 bytes of
    // metadata (over the receiver's 64) with its fd, its 100 bytes, then a sound frame.
    let unix = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let send = |data: &[u8], fd: i32| {
        sendmsg::<()>(
            unix.as_raw_fd(),
            &[IoSlice::new(data)],
            &[ControlMessage::ScmRights(&[fd])],
            MsgFlags::empty(),
            None,
        )
        .unwrap()
    };
    let mut big = b"FDPX\x01\0\0\0\0\0\0\x64".to_vec();
    big.extend_from_slice(&[b'x'; 100]);
    assert_eq!(send(&big, servers[0].as_raw_fd()), big.len());
    let sound = Metadata::new().encode().unwrap();
    assert_eq!(send(&sound, servers[1].as_raw_fd()), sound.len());

    let first = tokio::time::timeout(STEP, receiver.accept()).await.unwrap();
    assert!(first.as_ref().is_err_and(|e| e.is_too_large()), "{first:?}");
    let second = tokio::time::timeout(STEP, receiver.accept())
        .await
        .unwrap()
        .expect("the hand-off behind the oversized one");
    let (stream, _) = second.into_parts();
    assert_eq!(
        stream.peer_addr().unwrap(),
        clients[1].local_addr().unwrap()
    );
}

/// A hand-off whose metadata would exceed the sender's `max_frame_len` (kept at the
/// worker's limit) is refused before anything is written: the client gets a 503 rather
/// than a flushed `200` head on a connection the worker then drops unanswered. A hand-off
/// under the limit still goes through.
#[tokio::test]
async fn a_frame_over_the_limit_is_a_503_before_anything_is_written() {
    let s = setup(|s| s.max_frame_len(300)).await;
    let req = format!(
        "GET /handoff/big HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(400)
    );
    let resp = roundtrip(s.addr, req.as_bytes()).await;
    assert!(
        resp.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{resp}"
    );
    assert!(!resp.contains("200 OK"), "{resp}");
    let resp = roundtrip(s.addr, b"GET /handoff/small HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        body_of_last(&resp)
            .starts_with("fdpass-worker mode=extended method=GET target=/handoff/small "),
        "{resp}"
    );
}
