//! Round trip over loopback with both ends ours (issue 4): the gateway — an [`AjpService`]
//! inside a real hyper HTTP/1.1 server (`support::gateway`) — proxies to the container side
//! — `ajp_server::Builder::serve` with the demo app (or a small probe app where the demo
//! cannot tell), in this process on 127.0.0.1:0.
//!
//! The matrix: every AJP method code, PATCH and custom verbs; query strings (encoded,
//! repeated keys, empty values); every coded request header, custom and repeated headers,
//! cookies; 10 MiB uploads with Content-Length and chunked; a 1 GiB streamed download;
//! HEAD/204/304; keep-alive reuse counted on both sides; the secret right, wrong and
//! missing; 64 KiB packets on both sides; `Expect: 100-continue`; and the proxy facts
//! (`ClientInfo`/`TlsInfo` → `ProxyInfo`).
//!
//! Every wait is bounded by a tokio timeout; nothing binds anything but 127.0.0.1.

mod support;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ajp_service::{AjpService, Backend, ClientInfo, PacketSize, TlsInfo};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::gateway::{
    PatternBody, bytes, check_events, connect, hash_body, hex, pattern, pattern_sha256, send,
    spawn_gateway,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceExt};

/// The longest any single step may take; the whole file runs in seconds.
const STEP: Duration = Duration::from_secs(45);

/// Awaits `fut`, failing the test after `limit`.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {limit:?}"))
}

// ---------------------------------------------------------------------------------------
// The container side
// ---------------------------------------------------------------------------------------

/// An in-process container: `ajp_server::Builder::serve` on 127.0.0.1:0, stopped (graceful
/// shutdown signal) when dropped.
struct Container {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Container {
    /// Serves the demo app.
    async fn demo(builder: &ajp_server::Builder) -> Self {
        Self::start(builder, ajp_server::demo::app()).await
    }

    /// Serves the probe app.
    async fn probe(builder: &ajp_server::Builder) -> Self {
        Self::start(builder, tower::service_fn(probe)).await
    }

    async fn start<S, B>(builder: &ajp_server::Builder, app: S) -> Self
    where
        S: Service<Request<ajp_server::Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<ajp_server::BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<ajp_server::BoxError>,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind container");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let app = Counted {
            inner: app,
            clones: accepted.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = builder.serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        tokio::spawn(async move {
            if let Err(e) = serve.await {
                eprintln!("[container] serve failed: {e}");
            }
        });
        Self {
            addr,
            accepted,
            _stop: stop,
        }
    }

    /// AJP connections the container accepted so far.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// AJP connections open on the container's port right now (from /proc/net/tcp; the
    /// port is private to this container).
    fn established(&self) -> usize {
        support::established_connections(self.addr.port())
    }

    /// An `AjpService` builder for this container.
    fn service(&self) -> ajp_service::Builder {
        AjpService::builder(Backend::tcp("127.0.0.1", self.addr.port()))
    }
}

/// The app wrapper that counts accepted connections: `Builder::serve` serves each accepted
/// connection with its own clone of the service (its documented contract), and clones it
/// for nothing else, so clones made = connections accepted.
#[derive(Debug)]
struct Counted<S> {
    inner: S,
    clones: Arc<AtomicUsize>,
}

impl<S: Clone> Clone for Counted<S> {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Self {
            inner: self.inner.clone(),
            clones: self.clones.clone(),
        }
    }
}

impl<S: Service<R>, R> Service<R> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.inner.call(req)
    }
}

/// A probe app for what the demo app does not show:
///
/// * `/frames`: reads the body and answers JSON `{len, frames, max_frame}` — each frame
///   is one AJP body packet, so `max_frame` shows the packet size in use;
/// * `/respond`: a 203 with every coded response header name, repeated ones and custom ones;
/// * anything else: JSON of the URI exactly as received and every [`ajp_server::ProxyInfo`]
///   fact, TLS included.
async fn probe(req: Request<ajp_server::Body>) -> Result<Response<Full<Bytes>>, Infallible> {
    let lossy = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    if req.uri().path() == "/respond" {
        let mut res = Response::new(Full::new(Bytes::from_static(b"responded\n")));
        *res.status_mut() = StatusCode::NON_AUTHORITATIVE_INFORMATION;
        let h = res.headers_mut();
        for (name, value) in RESPONSE_HEADERS {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        return Ok(res);
    }
    if req.uri().path() == "/frames" {
        let mut body = req.into_body();
        let (mut len, mut frames, mut max_frame) = (0usize, 0usize, 0usize);
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.expect("request body").into_data() else {
                continue;
            };
            len += data.len();
            frames += 1;
            max_frame = max_frame.max(data.len());
        }
        let doc = json!({"len": len, "frames": frames, "max_frame": max_frame});
        return Ok(Response::new(Full::new(Bytes::from(doc.to_string()))));
    }
    let info = req
        .extensions()
        .get::<ajp_server::ProxyInfo>()
        .expect("ProxyInfo on every AJP request");
    let tls = info.tls();
    let doc = json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "remote_addr": info.remote_addr_str(),
        "remote_ip": info.remote_ip().map(|ip| ip.to_string()),
        "remote_port": info.remote_port(),
        "local_addr": info.local_addr().map(lossy),
        "server_name": info.server_name(),
        "server_port": info.server_port(),
        "is_ssl": info.is_ssl(),
        "tls_protocol": tls.protocol().map(lossy),
        "tls_cipher": tls.cipher().map(lossy),
        "tls_session": tls.session().map(lossy),
        "tls_key_size": tls.key_size(),
        "tls_cert": tls.cert().map(lossy),
        "attributes": info.attributes().iter().map(|(n, v)| json!([lossy(n), lossy(v)])).collect::<Vec<_>>(),
    });
    Ok(Response::new(Full::new(Bytes::from(doc.to_string()))))
}

/// What `/respond` answers with: the eleven coded response header names, a repeated one,
/// custom ones.
const RESPONSE_HEADERS: [(&str, &str); 15] = [
    ("content-type", "text/x-probe; charset=utf-8"),
    ("content-language", "de-CH"),
    ("content-length", "10"),
    ("date", "Tue, 15 Nov 1994 08:12:31 GMT"),
    ("last-modified", "Mon, 14 Nov 1994 08:12:31 GMT"),
    ("location", "/elsewhere?x=1"),
    ("set-cookie", "a=1; Path=/"),
    ("set-cookie", "b=2; HttpOnly"),
    ("set-cookie2", "legacy=1; Version=1"),
    ("servlet-engine", "probe/1.0"),
    ("status", "203 custom"),
    ("www-authenticate", "Basic realm=\"probe\""),
    ("set-cookie", "c=3"),
    ("x-custom", "one"),
    ("x-custom", "two"),
];

// ---------------------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------------------

fn request(method: &str, uri: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri)
        .header("host", "localhost")
}

fn get(uri: &str) -> Request<Empty<Bytes>> {
    request("GET", uri).body(Empty::new()).unwrap()
}

/// Sends `req` and parses the 200 JSON answer.
async fn json<B>(gw: SocketAddr, req: Request<B>) -> Value
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let what = format!("{} {}", req.method(), req.uri());
    let resp = send(gw, req).await;
    let status = resp.status();
    let body = bytes(resp).await;
    assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body:?}"))
}

/// The `/echo` header list as (name, value) pairs.
fn echoed_headers(v: &Value) -> Vec<(String, String)> {
    v["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Uploads `len` pattern bytes to `/echo` (Content-Length if `sized`, else chunked) and
/// checks length and SHA-256 as the container computed them.
async fn upload(gw: SocketAddr, len: u64, sized: bool, frame: usize) {
    let mut req = request("PUT", "/echo");
    if sized {
        req = req.header("content-length", len.to_string());
    }
    let req = req.body(PatternBody::new(len, frame, sized)).unwrap();
    let v = within(STEP, "upload", json(gw, req)).await;
    assert_eq!(v["body_len"], len, "len {len} sized {sized}");
    assert_eq!(
        v["body_sha256"],
        pattern_sha256(len),
        "len {len} sized {sized}"
    );
    let headers = echoed_headers(&v);
    let cl: Vec<_> = headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .collect();
    let te: Vec<_> = headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .collect();
    assert!(
        te.is_empty(),
        "Transfer-Encoding never reaches the container"
    );
    if sized {
        assert_eq!(cl, [&("content-length".to_owned(), len.to_string())]);
    } else {
        assert!(cl.is_empty(), "chunked: no Content-Length: {cl:?}");
    }
}

/// Checks that `data`, found at `offset` of a `/download` body, is the pattern.
fn check_pattern(offset: u64, data: &[u8]) {
    thread_local! {
        static BLOCK: Vec<u8> = (0..26 * 4096 + 26).map(|i| pattern(i as u64)).collect();
    }
    BLOCK.with(|block| {
        let mut at = offset;
        for piece in data.chunks(26 * 4096) {
            let start = (at % 26) as usize;
            assert!(
                piece == &block[start..start + piece.len()],
                "download differs from the pattern near offset {at}"
            );
            at += piece.len() as u64;
        }
    });
}

/// The process's peak resident set size (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

// ---------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------

/// All 27 AJP method codes, PATCH and custom verbs (sent as stored methods, case kept)
/// arrive as sent, each with its body; HEAD separately (no body to read the echo from).
/// One backend connection serves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_code_and_stored_methods() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let svc = c.service().build();
    let gw = spawn_gateway(svc.clone()).await;
    let mut methods: Vec<&str> = ajp_codec::CODED_METHODS.to_vec();
    assert_eq!(methods.len(), 27);
    methods.extend(["PATCH", "BREW", "X-CUSTOM-VERB", "get", "M-SEARCH", "PURGE"]);
    for m in methods {
        if m == "HEAD" {
            continue;
        }
        let body = format!("body of {m}");
        let req = request(m, "/echo?m=1")
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let v = within(STEP, m, json(gw, req)).await;
        assert_eq!(v["method"], m);
        assert_eq!(v["uri"], "/echo?m=1", "{m}");
        assert_eq!(v["body_len"], body.len(), "{m}");
        assert_eq!(v["body_sha256"], sha256_hex(body.as_bytes()), "{m}");
    }
    let resp = send(
        gw,
        request("HEAD", "/echo")
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(bytes(resp).await.is_empty());

    let s = svc.stats();
    assert_eq!(s.requests, 33, "{s:?}");
    assert_eq!(s.failures, 0, "{s:?}");
    assert_eq!(s.connections_opened, 1, "{s:?}");
    assert_eq!(c.accepted(), 1);
}

/// Query strings reach the container byte for byte: encoded characters, reserved
/// characters left raw, repeated keys, empty values and keys, an empty query, a long one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_arrive_byte_exact() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(c.service().build()).await;
    let long = format!("big={}", "x%2F".repeat(1500));
    let queries = [
        "a=1&b=2",
        "q=%20%2F%3F%26%3D%25%2B%23&u=%E2%9C%93&plus=a+b",
        "k=1&k=2&k=1&k=",
        "a=&b&=c&&d=&",
        "x=a/b?c:d@e!$'()*,;=f",
        "%00=%0D%0A",
        "=",
        "&",
        "",
        long.as_str(),
    ];
    for q in queries {
        let uri = format!("/echo?{q}");
        let v = within(STEP, &uri, json(gw, get(&uri))).await;
        assert_eq!(v["query"], q, "{uri}");
        assert_eq!(v["uri"], uri);
    }
    let v = json(gw, get("/echo")).await;
    assert_eq!(v["query"], Value::Null, "no query stays no query");
    assert_eq!(v["uri"], "/echo");

    // The path too, still encoded (the demo routes only `/echo`: the probe app shows it).
    let p = Container::probe(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(p.service().build()).await;
    for uri in [
        "/a%20b/c%3Bd;jsessionid=1/%2e%2E%2F/x+y/~!$&'()*,=:@/%25",
        "/..%2F..%2Fetc/passwd?x=%2F",
        "//double//slash/?",
        "*",
    ] {
        if uri == "*" {
            // Only OPTIONS may use the asterisk form.
            let req = request("OPTIONS", "*").body(Empty::<Bytes>::new()).unwrap();
            let v = json(gw, req).await;
            assert_eq!(v["uri"], "*");
            continue;
        }
        let v = json(gw, get(uri)).await;
        assert_eq!(v["uri"], uri);
    }
}

/// Every coded request header name, custom ones (empty and UTF-8 values too), repeated
/// headers in order, several Cookie headers: the container sees exactly the client's
/// end-to-end headers in order; hop-by-hop headers, Proxy-Authorization and client-sent
/// forwarding headers are removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_coded_custom_repeated_and_cookies() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(c.service().build()).await;
    let sent: Vec<(&str, &[u8])> = vec![
        ("host", b"shop.example:8443"),
        ("accept", b"text/html, application/json;q=0.9"),
        ("accept-charset", b"utf-8, iso-8859-1;q=0.5"),
        ("accept-encoding", b"gzip, identity"),
        ("accept-language", b"de-CH, en;q=0.5"),
        ("authorization", b"Basic dXNlcjpwdw=="),
        ("connection", b"keep-alive, x-hop"),
        ("content-type", b"application/x-www-form-urlencoded"),
        ("content-length", b"7"),
        ("cookie", b"a=1; b=2"),
        ("cookie2", b"$Version=1"),
        ("pragma", b"no-cache"),
        ("referer", b"http://ref.example/page?x=1"),
        ("user-agent", b"tower-ajp-roundtrip/1.0"),
        ("x-rep", b"one"),
        ("x-custom", b"custom value"),
        ("x-rep", b"two"),
        ("cookie", b"c=3"),
        ("x-rep", b"three"),
        ("x-empty", b""),
        ("x-utf8", "gr\u{fc}\u{df}e \u{2713}".as_bytes()),
        ("x-long", &[b'L'; 4000]),
        ("x-Mixed-Case", b"MiXeD"),
        // Removed by the gateway:
        ("x-hop", b"named by Connection"),
        ("keep-alive", b"timeout=5"),
        ("te", b"trailers"),
        ("proxy-authorization", b"Basic c2VjcmV0"),
        ("proxy-connection", b"keep-alive"),
        ("x-forwarded-for", b"6.6.6.6"),
        ("x-forwarded-host", b"evil.example"),
        ("forwarded", b"for=6.6.6.6"),
    ];
    let mut req = Request::post("/echo");
    for (n, v) in &sent {
        req = req.header(*n, HeaderValue::from_bytes(v).unwrap());
    }
    let req = req.body(Full::new(Bytes::from_static(b"q=1&r=2"))).unwrap();
    // What hyper puts on the wire, in order: the HeaderMap's iteration order.
    let order: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let v = within(STEP, "headers", json(gw, req)).await;
    let stripped = [
        "connection",
        "x-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "x-forwarded-for",
        "x-forwarded-host",
        "forwarded",
    ];
    let expected: Vec<(String, String)> = order
        .into_iter()
        .filter(|(n, _)| !stripped.contains(&n.as_str()))
        .collect();
    let got = echoed_headers(&v);
    assert_eq!(got, expected);
    for name in ajp_codec::CODED_REQUEST_HEADERS {
        let present = got.iter().any(|(n, _)| n == name);
        // Connection is hop-by-hop: the one coded name a proxy never forwards.
        assert_eq!(present, name != "connection", "{name}");
    }
    let reps: Vec<_> = got
        .iter()
        .filter(|(n, _)| n == "x-rep")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(reps, ["one", "two", "three"]);
    let cookies: Vec<_> = got
        .iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(cookies, ["a=1; b=2", "c=3"]);
    assert_eq!(v["body_len"], 7);
    assert_eq!(v["body_sha256"], sha256_hex(b"q=1&r=2"));
    // Forwarding headers cannot pose as the client: the facts come from the connection.
    assert_eq!(v["remote_addr"], "127.0.0.1");

    // A head up to the packet size passes; one that cannot fit an 8 KiB packet is 431 at
    // the gateway, and the container never sees it.
    let resp = send(
        gw,
        request("GET", "/echo")
            .header("x-big", "b".repeat(7000))
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let accepted = c.accepted();
    let resp = send(
        gw,
        request("GET", "/echo")
            .header("x-big", "b".repeat(9000))
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(c.accepted(), accepted);
}

/// 10 MiB uploads with Content-Length and chunked, and sizes around the body packet
/// boundary (8186 = 8192 − 6), arrive byte-exact: the container's SHA-256 equals the
/// pattern's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_content_length_and_chunked_10_mib() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let svc = c.service().build();
    let gw = spawn_gateway(svc.clone()).await;
    let start = Instant::now();
    upload(gw, 10 << 20, true, 64 * 1024).await;
    upload(gw, 10 << 20, false, 50_000).await;
    eprintln!(
        "2 × 10 MiB up through the round trip in {:?}",
        start.elapsed()
    );
    for len in [0, 1, 8185, 8186, 8187, 2 * 8186 + 1] {
        upload(gw, len, true, 1000).await;
        upload(gw, len, false, 3000).await;
    }
    let s = svc.stats();
    assert_eq!(s.failures, 0, "{s:?}");
    assert_eq!(s.connections_opened, 1, "{s:?}");
    assert_eq!(c.accepted(), 1);
}

/// 1 GiB downloaded through both ends, checked against the pattern frame by frame as it
/// streams; the process's peak memory proves nothing buffered it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_1_gib_streamed() {
    const LEN: u64 = 1 << 30;
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let svc = c.service().build();
    let gw = spawn_gateway(svc.clone()).await;
    let peak_before = peak_rss();
    let start = Instant::now();
    let resp = send(gw, get(&format!("/download?bytes={LEN}"))).await;
    let head_after = start.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], LEN.to_string().as_str());
    let mut body = resp.into_body();
    let (mut got, mut frames) = (0u64, 0usize);
    within(Duration::from_secs(50), "1 GiB download", async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("body frame").into_data() {
                check_pattern(got, &data);
                got += data.len() as u64;
                frames += 1;
            }
        }
    })
    .await;
    let took = start.elapsed();
    assert_eq!(got, LEN);
    let grew = peak_rss().saturating_sub(peak_before);
    eprintln!(
        "1 GiB down through the round trip in {took:?} (head after {head_after:?}), \
         {frames} frames, peak RSS grew by {} MiB",
        grew >> 20
    );
    assert!(frames > 1000, "streamed in pieces: {frames} frames");
    assert!(grew < 512 << 20, "peak RSS grew by {grew} bytes: buffered?");
    // The connection survives the transfer.
    let resp = send(gw, get("/download?bytes=100")).await;
    let (n, sha, _) = hash_body(resp.into_body()).await.unwrap();
    assert_eq!((n, sha), (100, pattern_sha256(100)));
    assert_eq!(svc.stats().connections_opened, 1);
    assert_eq!(c.accepted(), 1);
}

/// HEAD, 204 and 304 carry no body (even though the app writes one) — HEAD keeps the
/// Content-Length the app set, 204 has none — and the framing stays right: all on one
/// client connection and one backend connection, with a normal GET last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_204_304_have_no_body() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let svc = c.service().build();
    let gw = spawn_gateway(svc.clone()).await;
    let mut client = connect::<Empty<Bytes>>(gw).await;
    let cases: [(&str, &str, u16, Option<&str>); 7] = [
        ("HEAD", "/download?bytes=5000", 200, Some("5000")),
        ("GET", "/status/204", 204, None),
        ("GET", "/status/304", 304, None),
        ("HEAD", "/status/204", 204, None),
        (
            "HEAD",
            "/download?bytes=1073741824",
            200,
            Some("1073741824"),
        ),
        ("POST", "/status/204", 204, None),
        ("HEAD", "/status/404", 404, None),
    ];
    for (method, uri, status, cl) in cases {
        let what = format!("{method} {uri}");
        within(STEP, "client ready", client.ready()).await.unwrap();
        let resp = within(
            STEP,
            &what,
            client.send_request(request(method, uri).body(Empty::new()).unwrap()),
        )
        .await
        .expect("response");
        assert_eq!(resp.status(), status, "{what}");
        if let Some(cl) = cl {
            assert_eq!(resp.headers()["content-length"], cl, "{what}");
        }
        if status == 204 {
            assert_eq!(resp.headers().get("content-length"), None, "{what}");
        }
        let body = within(STEP, &what, resp.into_body().collect())
            .await
            .unwrap();
        assert!(body.to_bytes().is_empty(), "{what}");
    }
    within(STEP, "client ready", client.ready()).await.unwrap();
    let resp = within(STEP, "GET", client.send_request(get("/download?bytes=26")))
        .await
        .unwrap();
    assert_eq!(
        within(STEP, "body", resp.into_body().collect())
            .await
            .unwrap()
            .to_bytes(),
        "abcdefghijklmnopqrstuvwxyz"
    );
    let s = svc.stats();
    assert_eq!(
        s.connections_opened, 1,
        "bodiless answers keep the connection: {s:?}"
    );
    assert_eq!(c.accepted(), 1);
}

/// HEAD answers keep the Content-Length GET would have: set by the app, or (as the
/// container adds for a body of known size) computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_keeps_content_length_of_get() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(c.service().build()).await;
    for uri in ["/", "/status/418", "/download?bytes=77"] {
        let get_resp = send(gw, get(uri)).await;
        let get_cl = get_resp.headers().get("content-length").cloned();
        let get_len = bytes(get_resp).await.len();
        assert_eq!(get_cl, Some(HeaderValue::from(get_len)), "GET {uri}");
        let head_resp = send(
            gw,
            request("HEAD", uri).body(Empty::<Bytes>::new()).unwrap(),
        )
        .await;
        assert_eq!(
            head_resp.headers().get("content-length"),
            get_cl.as_ref(),
            "HEAD {uri}"
        );
        assert!(bytes(head_resp).await.is_empty());
    }
}

/// Keep-alive: 25 mixed requests from 25 client connections use one backend connection —
/// counted by the gateway (`connections_opened`) and by the container (accepted, and
/// open on its port); concurrent requests open only as many as overlap, and both sides
/// agree on the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_reuse_counted_on_both_sides() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let svc = c.service().build();
    let gw = spawn_gateway(svc.clone()).await;
    for i in 0..25 {
        match i % 5 {
            0 => assert_eq!(
                json(gw, get(&format!("/echo?i={i}"))).await["query"],
                format!("i={i}")
            ),
            1 => upload(gw, 20_000, i % 2 == 0, 7000).await,
            2 => {
                let resp = send(gw, get("/download?bytes=100000")).await;
                let (n, ..) = hash_body(resp.into_body()).await.unwrap();
                assert_eq!(n, 100_000);
            }
            3 => assert_eq!(send(gw, get("/status/404")).await.status(), 404),
            _ => {
                let resp = send(
                    gw,
                    request("HEAD", "/").body(Empty::<Bytes>::new()).unwrap(),
                )
                .await;
                assert!(bytes(resp).await.is_empty());
            }
        }
    }
    let s = svc.stats();
    assert_eq!(s.requests, 25, "{s:?}");
    assert_eq!(s.connections_opened, 1, "{s:?}");
    assert_eq!(s.connections_reused, 24, "{s:?}");
    assert_eq!(s.idle, 1, "{s:?}");
    assert_eq!(c.accepted(), 1, "the container accepted one AJP connection");
    assert_eq!(c.established(), 1, "and holds one open");

    // Concurrent requests: as many connections as overlapped, counted alike on both sides,
    // all pooled afterwards.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(async move {
                upload(gw, 2 << 20, true, 64 * 1024).await;
            })
        })
        .collect();
    for t in tasks {
        within(STEP, "concurrent upload", t).await.unwrap();
    }
    let s = svc.stats();
    assert!((1..=7).contains(&s.connections_opened), "{s:?}");
    assert_eq!(c.accepted() as u64, s.connections_opened, "{s:?}");
    assert_eq!(s.idle as u64, s.connections_opened, "{s:?}");
    assert_eq!(c.established() as u64, s.connections_opened);
}

/// The secret: right → 200 on one reused connection; wrong → 403 and the connection is
/// closed by the container (one accepted connection per request, nothing pooled);
/// missing → 403 the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_right_wrong_and_missing() {
    let mut b = ajp_server::Builder::new();
    b.secret("s3cret-\u{e9}");
    let c = Container::demo(&b).await;

    let right = c.service().secret("s3cret-\u{e9}").build();
    let gw = spawn_gateway(right.clone()).await;
    for _ in 0..3 {
        let v = json(gw, get("/echo")).await;
        assert_eq!(v["method"], "GET");
        assert!(
            v["attributes"]
                .as_object()
                .unwrap()
                .keys()
                .all(|k| !k.to_lowercase().contains("secret")),
            "the secret is not an attribute the app sees: {v}"
        );
    }
    let s = right.stats();
    assert_eq!((s.connections_opened, s.idle), (1, 1), "{s:?}");
    assert_eq!(c.accepted(), 1);

    for (label, secret) in [("wrong", Some("s3cret-e")), ("missing", None)] {
        let mut builder = c.service();
        if let Some(secret) = secret {
            builder.secret(secret);
        }
        let svc = builder.build();
        let gw = spawn_gateway(svc.clone()).await;
        let before = c.accepted();
        for _ in 0..3 {
            let resp = send(gw, get("/echo")).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{label}");
            let body = bytes(resp).await;
            assert!(
                !body.starts_with(b"{"),
                "{label}: the app never ran: {body:?}"
            );
            // Also with a body: nothing of it may be taken for a next request.
            let req = request("POST", "/echo")
                .body(Full::new(Bytes::from_static(b"GET / HTTP/1.1")))
                .unwrap();
            assert_eq!(
                send(gw, req).await.status(),
                StatusCode::FORBIDDEN,
                "{label}"
            );
        }
        let s = svc.stats();
        assert_eq!(s.connections_opened, 6, "{label}: never reused: {s:?}");
        assert_eq!(s.idle, 0, "{label}: {s:?}");
        assert_eq!(c.accepted() - before, 6, "{label}");
    }
    // The container closed them all; only the right service's pooled connection is open.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.established() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.established(), 1);
    // And the right one still works on its pooled connection.
    assert_eq!(json(gw, get("/echo")).await["method"], "GET");
    assert_eq!(right.stats().connections_opened, 1);
}

/// Packet size 65536 on both sides: uploads around the 64 KiB body packet boundary and
/// 10 MiB both ways arrive byte-exact; body packets really are up to 65530 (request) and
/// 65528 (response) bytes; a 20 000-byte head fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_size_65536_on_both_sides() {
    let size = PacketSize::new(65536).unwrap();
    let mut b = ajp_server::Builder::new();
    b.packet_size(size);
    let c = Container::demo(&b).await;
    let svc = c.service().packet_size(size).build();
    let gw = spawn_gateway(svc.clone()).await;
    for len in [65529, 65530, 65531, 3 * 65530 + 1] {
        upload(gw, len, true, 100_000).await;
        upload(gw, len, false, 100_000).await;
    }
    upload(gw, 10 << 20, true, 256 * 1024).await;
    upload(gw, 10 << 20, false, 256 * 1024).await;
    let resp = send(gw, get("/download?bytes=10485760")).await;
    let (n, sha, _) = within(STEP, "10 MiB down", hash_body(resp.into_body()))
        .await
        .unwrap();
    assert_eq!((n, sha), (10 << 20, pattern_sha256(10 << 20)));
    let v = json(
        gw,
        request("GET", "/echo")
            .header("x-big", "b".repeat(20_000))
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(
        echoed_headers(&v)
            .iter()
            .find(|(n, _)| n == "x-big")
            .unwrap()
            .1
            .len(),
        20_000
    );

    // Response packets, seen directly on the AjpService's body: SEND_BODY_CHUNKs of up to
    // P − 8 = 65528 bytes.
    let resp = svc
        .clone()
        .oneshot(get("/download?bytes=1048576"))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut max_frame = 0;
    while let Some(f) = within(STEP, "frame", body.frame()).await {
        max_frame = max_frame.max(f.unwrap().into_data().unwrap().len());
    }
    assert_eq!(max_frame, 65528);
    let s = svc.stats();
    assert_eq!(s.connections_opened, 1, "{s:?}");
    assert_eq!(c.accepted(), 1);

    // Request packets, seen by a probe app: each body frame is one AJP packet, so frames
    // beyond 8186 bytes exist only with the large packet size.
    let p = Container::probe(&b).await;
    let gw = spawn_gateway(p.service().packet_size(size).build()).await;
    for sized in [true, false] {
        let mut req = request("POST", "/frames");
        if sized {
            req = req.header("content-length", (4u64 << 20).to_string());
        }
        let v = json(
            gw,
            req.body(PatternBody::new(4 << 20, 256 * 1024, sized))
                .unwrap(),
        )
        .await;
        assert_eq!(v["len"], 4 << 20);
        let max = v["max_frame"].as_u64().unwrap();
        assert!((8187..=65530).contains(&max), "sized {sized}: {v}");
    }
}

/// `Expect: 100-continue`: the client gets `100 Continue` from the gateway, sends the body
/// after it, and the container receives it whole; the Expect header itself is not
/// forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(c.service().build()).await;
    for (framing, body) in [
        ("content-length: 5\r\n", &b"hello"[..]),
        (
            "transfer-encoding: chunked\r\n",
            &b"5\r\nhello\r\n0\r\n\r\n"[..],
        ),
    ] {
        let mut s = TcpStream::connect(gw).await.unwrap();
        let head = format!(
            "POST /echo HTTP/1.1\r\nhost: localhost\r\n{framing}expect: 100-continue\r\nconnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 256];
        let n = within(STEP, "100 Continue", s.read(&mut buf))
            .await
            .unwrap();
        let interim = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(
            interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n"),
            "{framing}: {interim:?}"
        );
        s.write_all(body).await.unwrap();
        let mut all = buf[..n].to_vec();
        within(STEP, "response", s.read_to_end(&mut all))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&all).into_owned();
        let final_head = text
            .split_once("\r\n\r\n")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        assert!(final_head.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let json_body = &text[text.find('{').expect("JSON body")..];
        let v: Value = serde_json::from_str(json_body.trim_end()).unwrap();
        assert_eq!(v["body_len"], 5, "{framing}");
        assert_eq!(v["body_sha256"], sha256_hex(b"hello"));
        let headers = echoed_headers(&v);
        assert!(headers.iter().all(|(n, _)| n != "expect"), "{headers:?}");
    }
}

/// The proxy facts: remote address and port, local address, server name and port, is_ssl
/// — from the gateway's real connection (`ClientInfo`), never from headers — and the TLS
/// facts of a `TlsInfo`, arrive in the container's `ProxyInfo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_facts_arrive_intact() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(c.service().build()).await;
    // Our own client connection, so that we know its port.
    let stream = TcpStream::connect(gw).await.unwrap();
    let client_port = stream.local_addr().unwrap().port();
    let (mut client, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/echo")
        .header("host", "shop.example:8443")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .body(Empty::new())
        .unwrap();
    let resp: Response<Incoming> = within(STEP, "echo", client.send_request(req))
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes(resp).await).unwrap();
    assert_eq!(v["remote_addr"], "127.0.0.1");
    assert_eq!(v["remote_port"], client_port);
    assert_eq!(v["server_name"], "shop.example");
    assert_eq!(
        v["server_port"],
        gw.port(),
        "the port the client connected to"
    );
    assert_eq!(v["is_ssl"], false);
    assert_eq!(v["attributes"]["AJP_REMOTE_PORT"], client_port.to_string());
    assert_eq!(v["attributes"]["AJP_LOCAL_ADDR"], "127.0.0.1");
    assert_eq!(v["via"], "ajp13");

    // A TLS gateway (the ClientInfo gains TlsInfo, as a TLS acceptor would add), a
    // configured server name, and a static attribute the container allows.
    let mut b = ajp_server::Builder::new();
    b.allow_attribute("custom.attr");
    let p = Container::probe(&b).await;
    let svc = p
        .service()
        .server_name("www.example.org")
        .attribute("custom.attr", "from-config")
        .client_info(|ext| {
            ext.get::<ClientInfo>().map(|i| {
                i.clone().with_tls(
                    TlsInfo::new()
                        .with_protocol("TLSv1.3")
                        .with_cipher("TLS_AES_256_GCM_SHA384")
                        .with_session_id("0123abcd")
                        .with_key_size(256)
                        .with_client_cert_pem(
                            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                        ),
                )
            })
        })
        .build();
    let gw = spawn_gateway(svc).await;
    let stream = TcpStream::connect(gw).await.unwrap();
    let client_port = stream.local_addr().unwrap().port();
    let (mut client, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = within(STEP, "probe", client.send_request(get("/facts?x=1")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_slice(&bytes(resp).await).unwrap();
    let expected = json!({
        "method": "GET",
        "uri": "/facts?x=1",
        "remote_addr": "127.0.0.1",
        "remote_ip": "127.0.0.1",
        "remote_port": client_port,
        "local_addr": "127.0.0.1",
        "server_name": "www.example.org",
        "server_port": gw.port(),
        "is_ssl": true,
        "tls_protocol": "TLSv1.3",
        "tls_cipher": "TLS_AES_256_GCM_SHA384",
        "tls_session": "0123abcd",
        "tls_key_size": 256,
        "tls_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "attributes": [
            ["AJP_SSL_PROTOCOL", "TLSv1.3"],
            ["AJP_REMOTE_PORT", client_port.to_string()],
            ["AJP_LOCAL_ADDR", "127.0.0.1"],
            ["custom.attr", "from-config"],
        ],
    });
    assert_eq!(v, expected);
}

/// The response direction: statuses pass through, and every coded response header name,
/// repeated Set-Cookies (in order) and custom headers reach the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_response_headers() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(c.service().build()).await;
    for status in [
        200, 201, 202, 226, 299, 301, 302, 400, 401, 404, 418, 451, 500, 503, 599,
    ] {
        let resp = send(gw, get(&format!("/status/{status}"))).await;
        assert_eq!(resp.status(), status);
        assert_eq!(bytes(resp).await, format!("status {status}\n"));
    }

    let p = Container::probe(&ajp_server::Builder::new()).await;
    let gw = spawn_gateway(p.service().build()).await;
    let resp = send(gw, get("/respond")).await;
    assert_eq!(resp.status(), StatusCode::NON_AUTHORITATIVE_INFORMATION);
    let mut expected = HeaderMap::new();
    for (n, v) in RESPONSE_HEADERS {
        expected.append(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    for name in expected.keys() {
        let want: Vec<_> = expected.get_all(name).iter().collect();
        let got: Vec<_> = resp.headers().get_all(name).iter().collect();
        assert_eq!(got, want, "{name}");
    }
    for name in ajp_codec::CODED_RESPONSE_HEADERS {
        assert!(resp.headers().contains_key(name), "{name}");
    }
    assert_eq!(bytes(resp).await, "responded\n");
}

/// Server-sent events through both ends: each event reaches the client when the app writes
/// it (the container flushes when the app waits; the gateway hands each chunk on at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_client_as_they_are_written() {
    let c = Container::demo(&ajp_server::Builder::new()).await;
    check_events(spawn_gateway(c.service().build()).await).await;
}
