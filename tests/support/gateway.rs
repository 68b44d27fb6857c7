//! A real hyper HTTP/1.1 server around an [`AjpService`] (as a user would run it), and a
//! hyper client to talk to it: the end-to-end harness for the proxy tests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ajp_service::{AjpService, ClientInfo};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};

/// Serves `svc` (errors turned into responses) on a fresh 127.0.0.1 port, on the current
/// runtime; every connection gets a [`ClientInfo`] with its real addresses.
pub async fn spawn_gateway(svc: AjpService) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().unwrap();
    let svc = svc.into_infallible();
    tokio::spawn(async move {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                return;
            };
            let local = stream.local_addr().unwrap();
            let svc = svc.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut()
                        .insert(ClientInfo::new(remote).with_local(local));
                    tower::ServiceExt::oneshot(svc.clone(), req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A client connection to `addr`.
pub async fn connect<B>(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.expect("connect to gateway");
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("client handshake");
    tokio::spawn(conn);
    send
}

/// Sends one request on a new connection and returns the response head and body.
pub async fn send<B>(addr: SocketAddr, req: Request<B>) -> Response<Incoming>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut client = connect(addr).await;
    tokio::time::timeout(Duration::from_secs(60), client.send_request(req))
        .await
        .expect("response head within 60 s")
        .expect("response")
}

/// Collects a (small) body.
pub async fn bytes(resp: Response<Incoming>) -> Bytes {
    tokio::time::timeout(Duration::from_secs(60), resp.into_body().collect())
        .await
        .expect("body within 60 s")
        .expect("body")
        .to_bytes()
}

/// Streams a body through SHA-256 without keeping it: (length, hex digest, frames).
pub async fn hash_body<B>(mut body: B) -> Result<(u64, String, usize), B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut h = Sha256::new();
    let mut len = 0u64;
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            len += data.len() as u64;
            frames += 1;
            h.update(&data);
        }
    }
    Ok((len, hex(&h.finalize()), frames))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `len` bytes of [`pattern`].
pub fn pattern_sha256(len: u64) -> String {
    let mut h = Sha256::new();
    let block: Vec<u8> = (0..(26 * 4096)).map(|i| pattern(i as u64)).collect();
    let mut left = len;
    // Blocks of a multiple of 26 keep the pattern aligned.
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        h.update(&block[..n]);
        left -= n as u64;
    }
    hex(&h.finalize())
}

/// Byte `i` of the test pattern (the same as the webapp's `/download`).
pub fn pattern(i: u64) -> u8 {
    b'a' + (i % 26) as u8
}

/// A request body of `len` pattern bytes in frames of `frame` bytes, generated lazily;
/// `sized` announces the length (Content-Length) or not (chunked).
#[derive(Debug)]
pub struct PatternBody {
    sent: u64,
    len: u64,
    frame: usize,
    sized: bool,
    block: Bytes,
}

impl PatternBody {
    /// A body of `len` bytes.
    pub fn new(len: u64, frame: usize, sized: bool) -> Self {
        let frame = frame.max(1);
        let block_len = frame.div_ceil(26) * 26 + 26;
        let block = (0..block_len)
            .map(|i| pattern(i as u64))
            .collect::<Vec<_>>();
        Self {
            sent: 0,
            len,
            frame,
            sized,
            block: Bytes::from(block),
        }
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent == self.len {
            return Poll::Ready(None);
        }
        let n = (self.len - self.sent).min(self.frame as u64) as usize;
        let start = (self.sent % 26) as usize;
        let data = self.block.slice(start..start + n);
        self.sent += n as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.len
    }

    fn size_hint(&self) -> SizeHint {
        if self.sized {
            SizeHint::with_exact(self.len - self.sent)
        } else {
            SizeHint::default()
        }
    }
}

/// Asks `addr` (a proxy in front of the demo app) for 3 server-sent events 1 s apart,
/// reads them as they stream and checks that each reached the client as it was written:
/// the first one before the second was due (not held back until more came, or the end),
/// and the whole body exact.
pub async fn check_events(addr: SocketAddr) {
    // Wide enough that a loaded CI machine cannot blur "at once" into "held back" (that
    // arrives with the end, 2 gaps later).
    let gap = Duration::from_secs(1);
    let req = Request::get(format!("/events?n=3&gap_ms={}", gap.as_millis()))
        .header("host", "127.0.0.1")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let sent = Instant::now();
    let resp = send(addr, req).await;
    assert_eq!(resp.status(), 200, "{resp:?}");
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut first = None;
    loop {
        let frame = tokio::time::timeout(gap * 10, body.frame())
            .await
            .expect("the next event within 10 gaps");
        let Some(frame) = frame else { break };
        if let Ok(data) = frame.expect("events body").into_data() {
            text.push_str(std::str::from_utf8(&data).expect("UTF-8 events"));
            if text.contains("data: 1\n\n") {
                first.get_or_insert_with(|| sent.elapsed());
            }
        }
    }
    assert_eq!(text, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
    let first = first.expect("the first event");
    assert!(
        first < gap * 3 / 4,
        "the first event took {first:?}, the gap is {gap:?}: held back"
    );
    assert!(
        sent.elapsed() >= gap * 2,
        "all 3 events in {:?}: not paced?",
        sent.elapsed()
    );
}
