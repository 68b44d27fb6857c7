//! Shared helpers of the `server_*` tests (ajp-server, the container side): an in-process
//! AJP server that counts the connections it accepts, an HTTP/1.1 client (hyper), body
//! makers and checkers that stream (nothing of a large body is ever held whole), and a
//! panic counter.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};

/// An ajp-server serving the demo app on 127.0.0.1, counting accepted connections.
pub struct AjpServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl AjpServer {
    pub async fn start(builder: ajp_server::Builder) -> Self {
        install_panic_counter();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                count.fetch_add(1, Ordering::SeqCst);
                let conn = builder.serve_connection(stream, ajp_server::demo::app());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        eprintln!(
                            "[ajp-server] connection closed: {e} ({:?})",
                            std::error::Error::source(&e)
                        );
                    }
                });
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many AJP connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for AjpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in the process (in spawned server tasks too, which tokio would
/// otherwise swallow).
pub fn install_panic_counter() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            prev(info);
        }));
    });
}

pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

pub type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

pub fn empty() -> BoxBody {
    http_body_util::Empty::new().boxed_unsync()
}

pub fn full(b: impl Into<Bytes>) -> BoxBody {
    http_body_util::Full::new(b.into()).boxed_unsync()
}

/// `total` bytes of a deterministic pseudo-random pattern, in `chunk`-sized frames with no
/// known length: hyper sends it chunked.
pub fn chunked(total: usize, chunk: usize) -> BoxBody {
    let data = upload_data(total);
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..total)
        .step_by(chunk)
        .map(|i| Ok(Frame::data(data.slice(i..(i + chunk).min(total)))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
}

/// Like [`chunked`], but the client pauses every few pieces, so the proxy often has less
/// than a packet's worth when the container asks: short body packets.
pub fn trickled(total: usize, chunk: usize) -> BoxBody {
    let data = upload_data(total);
    let stream = futures_util::stream::unfold(0usize, move |i| {
        let data = data.clone();
        async move {
            if i >= total {
                return None;
            }
            if (i / chunk) % 8 == 7 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let piece = data.slice(i..(i + chunk).min(total));
            Some((Ok::<_, Infallible>(Frame::data(piece)), i + chunk))
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

/// Upload bytes: not the download pattern, so a mix-up would show.
pub fn upload_data(total: usize) -> Bytes {
    let mut x: u32 = 0x1234_5678;
    (0..total)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request on a fresh HTTP/1.1 connection to 127.0.0.1:`port` (30 s bound for the
/// head).
pub async fn send(port: u16, req: Request<BoxBody>) -> Response<Incoming> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .expect("response head within 30 s")
        .expect("response head")
}

pub async fn body_bytes(resp: Response<Incoming>) -> Bytes {
    tokio::time::timeout(Duration::from_secs(60), resp.into_body().collect())
        .await
        .expect("body within 60 s")
        .expect("body")
        .to_bytes()
}

pub async fn echo(port: u16, req: Request<BoxBody>) -> serde_json::Value {
    let resp = send(port, req).await;
    assert_eq!(resp.status(), 200, "{resp:?}");
    let body = body_bytes(resp).await;
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
}

/// Reads a `/download` body as it streams and checks every byte against the pattern
/// (byte i = `b'a' + i % 26`); returns the byte count.
pub async fn check_download(resp: Response<Incoming>) -> u64 {
    let pattern: Vec<u8> = (0..(1 << 20) + 26).map(|i| b'a' + (i % 26) as u8).collect();
    let mut body = resp.into_body();
    let mut n: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("download body");
        if let Ok(mut data) = frame.into_data() {
            while !data.is_empty() {
                let take = data.len().min(1 << 20);
                let start = (n % 26) as usize;
                assert!(
                    data[..take] == pattern[start..start + take],
                    "download differs from the pattern near byte {n}"
                );
                n += take as u64;
                let _ = data.split_to(take);
            }
        }
    }
    n
}

pub fn header<'a>(r: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The idle-timeout scenario behind a real front end at `port` (`front` names it in
/// messages), with `server` closing idle AJP connections after 500 ms: three rounds of a
/// GET and a 50 000-byte POST, 1.2 s apart. Every request must succeed (the front end
/// notices the closed connection before reuse) and each round must need a new connection.
pub async fn check_idle_rounds(server: &AjpServer, port: u16, front: &str) {
    let data = upload_data(50_000);
    let req = |method: &str, body: BoxBody| {
        Request::builder()
            .method(method)
            .uri("/echo")
            .header("host", "127.0.0.1")
            .body(body)
            .unwrap()
    };
    for round in 0..3 {
        let v = echo(port, req("GET", empty())).await;
        assert_eq!(v["method"], "GET", "round {round}");
        let v = echo(port, req("POST", full(data.clone()))).await;
        assert_eq!(v["method"], "POST", "round {round}");
        assert_eq!(v["body_len"], data.len(), "round {round}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let accepted = server.accepted();
    eprintln!("3 rounds 1.2 s apart through {front} used {accepted} AJP connection(s)");
    assert!(
        accepted >= 3,
        "idle connections were not closed: {accepted} connection(s) for 3 rounds"
    );
    assert_eq!(panics(), 0);
}
