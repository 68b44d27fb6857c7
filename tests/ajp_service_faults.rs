//! Fault injection for `AjpService`: a fake container (fault injection only — interop is
//! proven against real Tomcat in `tomcat_proxy.rs`) misbehaves in every way the spec lists,
//! and each time the client gets the right status or an aborted body, the broken backend
//! connection is discarded, and the next request succeeds on a fresh one.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ajp_codec::{
    BodyChunk, ContainerCodec, ContainerMessage, EndResponse, GetBodyChunk, PacketSize,
    ProxyMessage, SendHeaders,
};
use ajp_service::{AjpService, Backend};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::Request;
use http_body_util::{BodyExt, Empty, Full};
use support::gateway::{bytes, send, spawn_gateway};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::codec::FramedRead;

const P: PacketSize = PacketSize::DEFAULT;

fn packet(m: ContainerMessage<&[u8]>) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b, P).unwrap();
    b.to_vec()
}

fn headers(status: u16, hs: &[(&'static str, &'static str)]) -> Vec<u8> {
    packet(ContainerMessage::SendHeaders(SendHeaders {
        status,
        message: Some(b"x".as_slice()),
        headers: hs
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect(),
    }))
}

fn chunk(data: &[u8]) -> Vec<u8> {
    packet(ContainerMessage::SendBodyChunk(BodyChunk { data }))
}

fn end(reuse: bool) -> Vec<u8> {
    packet(ContainerMessage::EndResponse(EndResponse { reuse }))
}

fn ok_response() -> Vec<u8> {
    [
        headers(200, &[("content-length", "2")]),
        chunk(b"ok"),
        end(true),
    ]
    .concat()
}

/// (connection number, path) of every request the fake saw.
type Log = Arc<Mutex<Vec<(usize, String)>>>;

/// A fake container whose answer to each request depends on its path.
async fn fake_container() -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((stream, _)) = listener.accept().await {
            n += 1;
            let log = log2.clone();
            tokio::spawn(serve_fake(stream, n, log));
        }
    });
    (addr, log)
}

async fn serve_fake(stream: tokio::net::TcpStream, conn: usize, log: Log) {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, ContainerCodec::new(P));
    let mut served = 0;
    while let Some(Ok(msg)) = frames.next().await {
        let ProxyMessage::ForwardRequest(req) = msg else {
            if msg == ProxyMessage::CPing {
                let _ = write.write_all(&packet(ContainerMessage::CPong)).await;
            }
            continue;
        };
        let path = String::from_utf8_lossy(req.req_uri()).into_owned();
        log.lock().unwrap().push((conn, path.clone()));
        served += 1;
        if path == "/die-on-reuse" && served > 1 {
            // What a container that timed the idle connection out at that very moment
            // looks like: the request is read, nothing comes back, the connection closes.
            return;
        }
        let cl: usize = req
            .header("content-length")
            .map(|v| std::str::from_utf8(v).unwrap().parse().unwrap())
            .unwrap_or(0);
        let mut body = Vec::new();
        if cl > 0 {
            frames.decoder_mut().expect_body();
            if let Some(Ok(ProxyMessage::Body(b))) = frames.next().await {
                body.extend_from_slice(&b.data);
            }
        }
        let out: Vec<u8> = match path.as_str() {
            "/ok" | "/die-on-reuse" => ok_response(),
            "/garbage" => b"HTTP/1.1 200 OK\r\n\r\nnot ajp at all".to_vec(),
            "/truncated" => headers(200, &[])[..9].to_vec(),
            "/oversize" => vec![b'A', b'B', 0xff, 0xff, 4, 0, 200],
            "/no-end" => [headers(200, &[]), chunk(b"partial")].concat(),
            "/double-headers" => {
                [headers(200, &[]), chunk(b"a"), headers(200, &[]), end(true)].concat()
            }
            "/big-chunk" => {
                // A chunk length beyond P − 8, in a packet that is itself within bounds.
                let mut p = chunk(&[b'x'; 100]);
                p[5..7].copy_from_slice(&(8185u16).to_be_bytes());
                [headers(200, &[]), p, end(true)].concat()
            }
            "/stall" => Vec::new(),
            "/stall-mid-body" => [headers(200, &[]), chunk(b"some")].concat(),
            "/close-mid-body" => [
                headers(200, &[("content-length", "100")]),
                chunk(&[b'y'; 50]),
            ]
            .concat(),
            "/short-body" => [
                headers(200, &[("content-length", "100")]),
                chunk(&[b'y'; 50]),
                end(true),
            ]
            .concat(),
            "/long-body" => [
                headers(200, &[("content-length", "10")]),
                chunk(&[b'y'; 50]),
                end(true),
            ]
            .concat(),
            "/informational" => [headers(100, &[]), end(true)].concat(),
            "/status-999" => [headers(999, &[]), end(true)].concat(),
            // Answered with an empty packet, this would read as the end of the body.
            "/ask-for-nothing" => [
                packet(ContainerMessage::GetBodyChunk(GetBodyChunk {
                    requested_len: 0,
                })),
                ok_response(),
            ]
            .concat(),
            "/body-before-headers" => [chunk(b"early"), ok_response()].concat(),
            "/end-before-headers" => end(true),
            "/bad-header-value" => {
                let mut p = headers(200, &[("x-bad", "a b")]);
                let at = p.len() - 3;
                p[at] = b'\n';
                [p, end(true)].concat()
            }
            "/empty" => [headers(200, &[("content-length", "0")]), end(true)].concat(),
            "/empty-then-body" => [
                headers(200, &[("content-length", "0")]),
                chunk(b""),
                chunk(b"stray"),
                end(true),
            ]
            .concat(),
            "/no-content-then-body" => [headers(204, &[]), chunk(b"stray"), end(true)].concat(),
            "/reuse-0" => [
                headers(200, &[("content-length", "2")]),
                chunk(b"ok"),
                end(false),
            ]
            .concat(),
            "/trailing-after-end" => [ok_response(), chunk(b"stray")].concat(),
            "/ask-while-streaming" => {
                // Headers and a chunk go out first; then the container asks for the
                // request body and echoes what it gets.
                let first = [headers(200, &[]), chunk(b"head:")].concat();
                write.write_all(&first).await.unwrap();
                let mut got = body.clone();
                loop {
                    write
                        .write_all(&packet(ContainerMessage::GetBodyChunk(GetBodyChunk {
                            requested_len: 7,
                        })))
                        .await
                        .unwrap();
                    frames.decoder_mut().expect_body();
                    match frames.next().await {
                        Some(Ok(ProxyMessage::Body(b))) if !b.data.is_empty() => {
                            assert!(b.data.len() <= 7, "never more than asked");
                            got.extend_from_slice(&b.data);
                        }
                        _ => break,
                    }
                }
                [chunk(&got), end(true)].concat()
            }
            "/two-asks" => {
                // Asks for two packets at once, and reports how long the first answer
                // took to come and how much body arrived in all.
                let ask = packet(ContainerMessage::GetBodyChunk(GetBodyChunk {
                    requested_len: P.max_request_body() as u16,
                }));
                let asked = std::time::Instant::now();
                write
                    .write_all(&[ask.clone(), ask.clone()].concat())
                    .await
                    .unwrap();
                let mut first_ms = None;
                let mut outstanding = 2;
                while body.len() < cl {
                    if outstanding == 0 {
                        write.write_all(&ask).await.unwrap();
                        outstanding = 1;
                    }
                    frames.decoder_mut().expect_body();
                    match frames.next().await {
                        Some(Ok(ProxyMessage::Body(b))) if !b.data.is_empty() => {
                            first_ms.get_or_insert(asked.elapsed().as_millis());
                            body.extend_from_slice(&b.data);
                            outstanding -= 1;
                        }
                        _ => break,
                    }
                }
                let report = format!("{} {}", body.len(), first_ms.unwrap_or(u128::MAX));
                [headers(200, &[]), chunk(report.as_bytes()), end(true)].concat()
            }
            "/ask-then-stop-reading" => {
                // Streams a head, then asks for far more body than the socket buffers
                // hold and never reads again: the proxy's writes stall.
                let ask = packet(ContainerMessage::GetBodyChunk(GetBodyChunk {
                    requested_len: P.max_request_body() as u16,
                }));
                let out = [headers(200, &[]), chunk(b"streaming"), ask.repeat(2000)].concat();
                let _ = write.write_all(&out).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            "/pause-mid-body" => {
                let first = [headers(200, &[]), chunk(b"before ")].concat();
                let _ = write.write_all(&first).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                [chunk(b"after"), end(true)].concat()
            }
            other => panic!("fake container: unknown path {other}"),
        };
        if write.write_all(&out).await.is_err() {
            return;
        }
        if path.contains("close")
            || path == "/truncated"
            || path == "/no-end"
            || path == "/oversize"
        {
            return; // drop the connection
        }
        if path.starts_with("/stall") {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
    }
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "fake")
        .body(Empty::new())
        .unwrap()
}

async fn setup() -> (AjpService, SocketAddr, Log) {
    let (backend, log) = fake_container().await;
    let svc = AjpService::builder(Backend::tcp("127.0.0.1", backend.port()))
        .reply_timeout(Duration::from_millis(500))
        .build();
    let addr = spawn_gateway(svc.clone()).await;
    (svc, addr, log)
}

/// The connection number that served the last request to `path`.
fn conn_of(log: &Log, path: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(_, p)| p == path)
        .unwrap()
        .0
}

/// After a fault on `path`, `/ok` works and runs on a different connection.
async fn next_request_succeeds_on_a_fresh_connection(
    svc: &AjpService,
    addr: SocketAddr,
    log: &Log,
    path: &str,
) {
    let resp = send(addr, get("/ok")).await;
    assert_eq!(resp.status(), 200, "after {path}");
    assert_eq!(bytes(resp).await, "ok");
    assert_ne!(
        conn_of(log, "/ok"),
        conn_of(log, path),
        "{path}: broken connection was reused"
    );
    let s = svc.stats();
    assert_eq!(s.in_use, 0, "{s:?}");
}

#[tokio::test]
async fn faults_before_the_head_are_502_or_504() {
    let (svc, addr, log) = setup().await;
    for (path, status) in [
        ("/garbage", 502),
        ("/truncated", 502),
        ("/oversize", 502),
        ("/informational", 502),
        ("/status-999", 502),
        ("/ask-for-nothing", 502),
        ("/end-before-headers", 502),
        ("/body-before-headers", 502),
        ("/bad-header-value", 502),
        ("/empty-then-body", 502),
        ("/stall", 504),
    ] {
        let resp = send(addr, get(path)).await;
        assert_eq!(resp.status(), status, "{path}");
        next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, path).await;
    }
}

#[tokio::test]
async fn faults_in_the_body_abort_it() {
    let (svc, addr, log) = setup().await;
    for path in [
        "/no-end",
        "/double-headers",
        "/big-chunk",
        "/stall-mid-body",
        "/close-mid-body",
        "/short-body",
        "/long-body",
    ] {
        let mut client = support::gateway::connect(addr).await;
        let aborted = match client.send_request(get(path)).await {
            // The body failed before hyper wrote the head: the client connection is cut.
            Err(e) => e.is_incomplete_message(),
            Ok(resp) => {
                assert_eq!(resp.status(), 200, "{path}: head was fine");
                tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
                    .await
                    .expect("bounded")
                    .is_err()
            }
        };
        assert!(
            aborted,
            "{path}: the client must see an aborted body, not a clean short one"
        );
        next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, path).await;
    }
    assert!(svc.stats().failures >= 7);
}

#[tokio::test]
async fn reuse_flag_and_stray_packets_decide_pooling() {
    let (svc, addr, log) = setup().await;
    // reuse=0: the response is fine, the connection is not kept.
    let resp = send(addr, get("/reuse-0")).await;
    assert_eq!(bytes(resp).await, "ok");
    next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, "/reuse-0").await;
    // A packet after END_RESPONSE: the pooled connection is unusable and must not be used.
    let resp = send(addr, get("/trailing-after-end")).await;
    assert_eq!(bytes(resp).await, "ok");
    tokio::time::sleep(Duration::from_millis(50)).await;
    next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, "/trailing-after-end").await;
    // An empty body with Content-Length: 0 (which hyper never polls) keeps it too.
    let before = conn_of(&log, "/ok");
    let resp = send(addr, get("/empty")).await;
    assert_eq!(resp.headers()["content-length"], "0");
    assert!(bytes(resp).await.is_empty());
    assert_eq!(conn_of(&log, "/empty"), before);
    // A 204 has no body: what a container sends after it is dropped, and the exchange is
    // clean (as with httpd).
    let resp = send(addr, get("/no-content-then-body")).await;
    assert_eq!(resp.status(), 204);
    assert!(bytes(resp).await.is_empty());
    assert_eq!(conn_of(&log, "/no-content-then-body"), before);
    // And a clean exchange does keep it.
    let before = conn_of(&log, "/ok");
    let resp = send(addr, get("/ok")).await;
    assert_eq!(bytes(resp).await, "ok");
    assert_eq!(conn_of(&log, "/ok"), before);
}

#[tokio::test]
async fn get_body_chunk_while_the_response_streams() {
    let (svc, addr, _log) = setup().await;
    let req = Request::post("/ask-while-streaming")
        .header("host", "fake")
        .header("content-length", "20")
        .body(Full::new(Bytes::from_static(b"0123456789abcdefghij")))
        .unwrap();
    let resp = send(addr, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(bytes(resp).await, "head:0123456789abcdefghij");
    assert_eq!(svc.stats().connections_closed, 0);
}

#[tokio::test]
async fn client_body_ending_short_closes_the_backend_connection() {
    use tokio::io::AsyncReadExt;
    let (svc, addr, log) = setup().await;
    // Content-Length 100, 10 bytes, then the client goes away.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /ask-while-streaming HTTP/1.1\r\nhost: fake\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, "/ask-while-streaming").await;
}

#[tokio::test]
async fn unix_socket_backend() {
    let dir = std::env::temp_dir().join(format!("tower-ajp-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ajp.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut frames = FramedRead::new(read, ContainerCodec::new(P));
                while let Some(Ok(ProxyMessage::ForwardRequest(_))) = frames.next().await {
                    write.write_all(&ok_response()).await.unwrap();
                }
            });
        }
    });
    let backend: Backend = format!("unix:{}", path.display()).parse().unwrap();
    let svc = AjpService::new(backend);
    let addr = spawn_gateway(svc.clone()).await;
    for _ in 0..3 {
        assert_eq!(bytes(send(addr, get("/any")).await).await, "ok");
    }
    assert_eq!(svc.stats().connections_opened, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_requests_never_reach_the_backend() {
    use tokio::io::AsyncReadExt;
    let (_svc, addr, log) = setup().await;
    // (Content-Length together with Transfer-Encoding never reaches the service through
    // hyper: hyper drops the Content-Length and closes the connection after the exchange,
    // RFC 9112 §6.3. The service itself refuses the pair: see the test below.)
    for raw in [
        &b"POST /ok HTTP/1.1\r\nhost: f\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc"[..],
        b"POST /ok HTTP/1.1\r\nhost: f\r\ntransfer-encoding: gzip\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nhost: f\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(
            head.starts_with("HTTP/1.1 4") || head.starts_with("HTTP/1.1 5"),
            "{head}"
        );
    }
    let big = "x".repeat(9000);
    let req = Request::get("/ok")
        .header("host", "f")
        .header("x-big", big)
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(send(addr, req).await.status(), 431);
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing reached the container"
    );
}

#[tokio::test]
async fn the_service_refuses_what_hyper_would_have_caught() {
    use tower::ServiceExt;
    let (svc, _addr, log) = setup().await;
    let both = Request::post("/ok")
        .header("host", "f")
        .header("content-length", "3")
        .header("transfer-encoding", "chunked")
        .body(Full::new(Bytes::from_static(b"abc")))
        .unwrap();
    let err = svc.clone().oneshot(both).await.unwrap_err();
    assert!(err.is_rejected() && err.status() == 400, "{err}");
    let resp = svc
        .clone()
        .into_infallible()
        .oneshot(
            Request::post("/ok")
                .header("host", "f")
                .header("transfer-encoding", "chunked")
                .header("content-length", "1")
                .body(Full::new(Bytes::from_static(b"a")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing reached the container"
    );
}

#[tokio::test]
async fn stale_connection_replay_only_for_safe_requests() {
    let (svc, addr, log) = setup().await;
    // Warm one pooled connection, then a GET on it dies before any response byte: it is
    // replayed once on a fresh connection.
    assert_eq!(bytes(send(addr, get("/ok")).await).await, "ok");
    let resp = send(addr, get("/die-on-reuse")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(bytes(resp).await, "ok");
    assert_eq!(svc.stats().retries, 1);
    let tries: Vec<usize> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p)| p == "/die-on-reuse")
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(
        tries.len(),
        2,
        "sent twice: once on the stale connection, once fresh"
    );
    assert_ne!(tries[0], tries[1]);

    // A POST whose body went out is never replayed: the client gets a 502.
    assert_eq!(bytes(send(addr, get("/ok")).await).await, "ok");
    let post = Request::post("/die-on-reuse")
        .header("host", "fake")
        .header("content-length", "4")
        .body(Full::new(Bytes::from_static(b"data")))
        .unwrap();
    assert_eq!(send(addr, post).await.status(), 502);
    assert_eq!(svc.stats().retries, 1, "no second replay");
    // Nor is a bodiless POST: not idempotent.
    assert_eq!(bytes(send(addr, get("/ok")).await).await, "ok");
    let post = Request::post("/die-on-reuse")
        .header("host", "fake")
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(send(addr, post).await.status(), 502);
    assert_eq!(svc.stats().retries, 1);
}

#[tokio::test]
async fn idle_connections_expire_without_traffic() {
    let (backend, _log) = fake_container().await;
    let svc = AjpService::builder(Backend::tcp("127.0.0.1", backend.port()))
        .idle_timeout(Duration::from_millis(300))
        .build();
    let addr = spawn_gateway(svc.clone()).await;
    assert_eq!(bytes(send(addr, get("/ok")).await).await, "ok");
    assert_eq!(svc.stats().idle, 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let s = svc.stats();
    assert_eq!((s.idle, s.connections_closed), (0, 1), "{s:?}");
}

/// A container that asks for two packets at once while the client pauses mid-body: the
/// answer to the first goes out at once, not when the client resumes.
#[tokio::test]
async fn queued_body_packets_go_out_while_the_client_pauses() {
    use tokio::io::AsyncReadExt;
    let (_svc, addr, _log) = setup().await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // 12 000 bytes now (the unasked first packet and the start of the next), 8 000 later.
    let mut head = b"POST /two-asks HTTP/1.1\r\nhost: fake\r\nconnection: close\r\n\
        content-length: 20000\r\n\r\n"
        .to_vec();
    head.extend_from_slice(&[b'a'; 12_000]);
    s.write_all(&head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.write_all(&[b'b'; 8_000]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut response))
        .await
        .expect("response within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let report = text
        .split("\r\n")
        .find(|l| l.starts_with("20000 "))
        .unwrap_or_else(|| panic!("no report in {text:?}"));
    let first_ms: u128 = report[6..].parse().unwrap();
    assert!(
        first_ms < 700,
        "the first answer waited {first_ms} ms for the paused client"
    );
}

/// A container that asks for body and then stops reading: once the proxy's writes stall,
/// the reply timeout (500 ms here) ends the streaming response with an error and the client
/// connection is aborted, instead of the exchange hanging for as long as the container
/// holds the connection (30 s here).
#[tokio::test]
async fn a_container_that_stops_reading_times_out_the_streaming_response() {
    let (_svc, addr, _log) = setup().await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body_len = 20 << 20;
    let head = format!(
        "POST /ask-then-stop-reading HTTP/1.1\r\nhost: fake\r\ncontent-length: {body_len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = s.into_split();
    // The client sends its body for as long as anyone reads it.
    let writer = tokio::spawn(async move {
        let piece = vec![b'u'; 1 << 16];
        for _ in 0..body_len / piece.len() {
            if write.write_all(&piece).await.is_err() {
                return;
            }
        }
    });
    expect_aborted_response(&mut read, "streaming").await;
    writer.abort();
}

/// Reads a response that started (200, `marker` in its body) and was then aborted: the
/// connection closes within 5 s and the body does not look complete.
async fn expect_aborted_response(read: &mut (impl tokio::io::AsyncRead + Unpin), marker: &str) {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut response))
        .await
        .expect("the stalled response ends within 10 s");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(text.contains(marker), "{text:?}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "an aborted body must not look complete: {text:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// `Duration::MAX` is how a user says "no reply timeout"; a body that waits for the
/// container must not overflow the deadline (it panicked in hyper's task).
#[tokio::test]
async fn an_unbounded_reply_timeout_is_accepted_while_the_body_waits() {
    let (backend, _log) = fake_container().await;
    let svc = AjpService::builder(Backend::tcp("127.0.0.1", backend.port()))
        .reply_timeout(Duration::MAX)
        .max_connections(usize::MAX)
        .build();
    let addr = spawn_gateway(svc).await;
    let resp = send(addr, get("/pause-mid-body")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(bytes(resp).await, "before after");
}

/// Starts a gateway whose service gives up on a silent client body after `body_timeout`.
async fn setup_with_body_timeout(body_timeout: Duration) -> (AjpService, SocketAddr, Log) {
    let (backend, log) = fake_container().await;
    let svc = AjpService::builder(Backend::tcp("127.0.0.1", backend.port()))
        .reply_timeout(Duration::from_secs(30))
        .body_timeout(body_timeout)
        .build();
    let addr = spawn_gateway(svc.clone()).await;
    (svc, addr, log)
}

/// A client that stops sending its body while the container waits for it: after the body
/// timeout it gets 408, and the backend connection (a container thread mid-request) is
/// closed rather than held for as long as the client likes, or pooled.
#[tokio::test]
async fn a_stalled_upload_is_408_after_the_body_timeout_and_frees_the_backend() {
    use tokio::io::AsyncReadExt;
    let (svc, addr, log) = setup_with_body_timeout(Duration::from_millis(400)).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        b"POST /two-asks HTTP/1.1\r\nhost: fake\r\ncontent-length: 20000\r\n\r\n".to_vec();
    head.extend_from_slice(&[b'a'; 12_000]);
    s.write_all(&head).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let waited = started.elapsed();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    assert_eq!(svc.stats().in_use, 0, "{:?}", svc.stats());
    drop(s);
    next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, "/two-asks").await;
}

/// The same stall once the response is streaming: the body is aborted (never made to look
/// complete), the client connection closed, and the backend connection not reused.
#[tokio::test]
async fn a_stalled_upload_aborts_a_streaming_response_after_the_body_timeout() {
    let (svc, addr, log) = setup_with_body_timeout(Duration::from_millis(400)).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /ask-while-streaming HTTP/1.1\r\nhost: fake\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    expect_aborted_response(&mut s, "head:").await;
    next_request_succeeds_on_a_fresh_connection(&svc, addr, &log, "/ask-while-streaming").await;
}
