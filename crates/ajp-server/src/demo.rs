//! A small demo app, for trying the container side out and for interop tests: any
//! front end (httpd, mod_jk, our own gateway) can be pointed at it.
//!
//! | Path | Answer |
//! |---|---|
//! | `/` | a short HTML page saying what is running |
//! | `/hello` | `Hello, AJP!\n` (12 bytes, `text/plain`): the fixed small response of the benchmarks, as the test webapp's `/hello` on Tomcat |
//! | `/echo` (any method) | JSON: `method`, `uri`, `query`, `headers` (ordered `[name, value]` pairs, repeats kept), `body_len`, `body_sha256`, `remote_addr`, `remote_port`, `is_ssl`, `server_name`, `server_port`, `attributes` (name → value), `via` |
//! | `/discard` (any method) | JSON `{"body_len": N}`: the body read and counted, not hashed (the upload benchmark's backend) |
//! | `/download?bytes=N` | N bytes, byte i = `b'a' + i % 26`, with Content-Length, streamed in 64 KiB frames (never N bytes in memory) |
//! | `/status/N` | status N (200..=599) with a one-line text body |
//! | `/events?n=N&gap_ms=M` | N server-sent events (`data: i`, `text/event-stream`, no Content-Length), the first at once and one every M ms (N ≤ 1000, M ≤ 10 000): a response that must reach the client as it is written |
//!
//! It is a plain [`tower::Service`] over `http::Request<B>` for any body type `B`, so it
//! runs behind [`crate::Builder`] (with [`crate::Body`]) and equally inside a hyper
//! server. The proxy facts in `/echo` come from the [`ProxyInfo`] extension, and are
//! `null` without it.
//!
//! ```
//! use tower::Service;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut app = ajp_server::demo::app();
//! let req = http::Request::get("/status/418").body(ajp_server::Body::empty()).unwrap();
//! let res = app.call(req).await.unwrap();
//! assert_eq!(res.status(), 418);
//! # }
//! ```

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tower::Service;

use crate::info::ProxyInfo;

/// Frame size of `/download`.
const FRAME: usize = 64 * 1024;

/// The demo app; see the [module docs](self).
pub fn app() -> Demo {
    Demo::new()
}

/// The demo app's service; see the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub struct Demo {
    via: &'static str,
}

impl Demo {
    /// The demo app, reporting `via: "ajp13"`.
    pub fn new() -> Self {
        Self { via: "ajp13" }
    }

    /// The same app reporting another `via` in `/echo` (for a front end embedding it).
    pub fn with_via(via: &'static str) -> Self {
        Self { via }
    }
}

impl Default for Demo {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Service<Request<B>> for Demo
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<DemoBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<DemoBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let via = self.via;
        Box::pin(async move { Ok(route(req, via).await) })
    }
}

async fn route<B>(req: Request<B>, via: &'static str) -> Response<DemoBody>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    let path = req.uri().path();
    if path == "/" {
        return html(INDEX);
    }
    if path == "/hello" {
        return hello();
    }
    if path == "/echo" {
        return echo(req, via).await;
    }
    if path == "/discard" {
        return discard(req).await;
    }
    if path == "/download" {
        let n = req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("bytes="))
                .and_then(|v| v.parse::<u64>().ok())
        });
        return match n {
            Some(n) => download(n),
            None => text(StatusCode::BAD_REQUEST, "usage: /download?bytes=N\n"),
        };
    }
    if path == "/events" {
        let param = |name: &str| {
            req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            })
        };
        return match (param("n"), param("gap_ms")) {
            (Some(n @ 0..=1000), Some(gap @ 0..=10_000)) => events(n, gap),
            _ => text(
                StatusCode::BAD_REQUEST,
                "usage: /events?n=N&gap_ms=M with N <= 1000 and M <= 10000\n",
            ),
        };
    }
    if let Some(n) = path.strip_prefix("/status/") {
        return match n.parse::<u16>().ok().filter(|n| (200..=599).contains(n)) {
            Some(n) => {
                let status = StatusCode::from_u16(n).unwrap_or(StatusCode::OK);
                text(status, &format!("status {n}\n"))
            }
            None => text(
                StatusCode::BAD_REQUEST,
                "usage: /status/N with N in 200..=599\n",
            ),
        };
    }
    text(StatusCode::NOT_FOUND, "not found\n")
}

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>tower-ajp demo</title></head><body>\n\
<h1>tower-ajp demo app</h1>\n\
<p>A Rust <code>tower::Service</code> served over AJP13 by <code>ajp-server</code>, \
where Tomcat would sit behind httpd or mod_jk.</p>\n\
<ul><li><a href=\"/echo\">/echo</a> the request as JSON</li>\n\
<li><a href=\"/download?bytes=100\">/download?bytes=N</a> N streamed bytes</li>\n\
<li><a href=\"/events?n=5&amp;gap_ms=1000\">/events?n=N&amp;gap_ms=M</a> N server-sent events, M ms apart</li>\n\
<li>POST /discard: the body read and counted (<code>{\"body_len\": N}</code>)</li>\n\
<li><a href=\"/status/418\">/status/N</a> any status</li></ul>\n</body></html>\n";

async fn echo<B>(req: Request<B>, via: &'static str) -> Response<DemoBody>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    let (parts, body) = req.into_parts();
    let mut hasher = Sha256::new();
    let len = match read_body(body, |chunk| hasher.update(chunk)).await {
        Ok(len) => len,
        Err(res) => return res,
    };
    let mut digest = String::with_capacity(64);
    for b in hasher.finalize() {
        let _ = write!(digest, "{b:02x}");
    }
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .map(|(n, v)| json!([n.as_str(), lossy(v.as_bytes())]))
        .collect();
    let info = parts.extensions.get::<ProxyInfo>();
    let attributes: Map<String, Value> = info
        .map(|i| {
            i.attributes()
                .iter()
                .map(|(n, v)| (lossy(n), Value::String(lossy(v))))
                .collect()
        })
        .unwrap_or_default();
    let doc = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": len,
        "body_sha256": digest,
        "remote_addr": info.map(|i| lossy(i.remote_addr_bytes())),
        "remote_port": info.and_then(ProxyInfo::remote_port),
        "is_ssl": info.is_some_and(ProxyInfo::is_ssl),
        "server_name": info.map(|i| i.server_name().to_owned()),
        "server_port": info.map(ProxyInfo::server_port),
        "attributes": attributes,
        "via": via,
    });
    let mut body = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    body.push(b'\n');
    let mut res = Response::new(DemoBody::full(body));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// `/discard`: the body read and counted, nothing else, so that an upload through a proxy
/// measures the proxy (hashing it, as `/echo` does, took 58 % of the container's CPU in a
/// 512 MiB upload and made the container the bottleneck behind every proxy).
async fn discard<B>(req: Request<B>) -> Response<DemoBody>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    let len = match read_body(req.into_body(), |_| {}).await {
        Ok(len) => len,
        Err(res) => return res,
    };
    let mut res = Response::new(DemoBody::full(format!("{{\"body_len\": {len}}}\n")));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Reads a request body to its end, handing each chunk to `each`: its length, or the 400
/// to answer if it failed.
async fn read_body<B>(body: B, mut each: impl FnMut(&[u8])) -> Result<u64, Response<DemoBody>>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut len = 0u64;
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            text(
                StatusCode::BAD_REQUEST,
                &format!("request body failed: {e}\n"),
            )
        })?;
        if let Ok(mut data) = frame.into_data() {
            while data.has_remaining() {
                let chunk = data.chunk();
                each(chunk);
                len += chunk.len() as u64;
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(len)
}

fn html(page: &'static str) -> Response<DemoBody> {
    let mut res = Response::new(DemoBody::full(page));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

/// The body of `/hello`.
const HELLO: &str = "Hello, AJP!\n";

fn hello() -> Response<DemoBody> {
    let mut res = Response::new(DemoBody::full(Bytes::from_static(HELLO.as_bytes())));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

fn text(status: StatusCode, msg: &str) -> Response<DemoBody> {
    let mut res = Response::new(DemoBody::full(msg.to_owned()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn download(n: u64) -> Response<DemoBody> {
    let mut res = Response::new(DemoBody {
        kind: Kind::Pattern {
            offset: 0,
            len: n,
            pattern: pattern(),
        },
    });
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(n));
    res
}

fn events(n: u64, gap_ms: u64) -> Response<DemoBody> {
    let mut res = Response::new(DemoBody {
        kind: Kind::Events {
            sent: 0,
            total: n,
            gap: std::time::Duration::from_millis(gap_ms),
            wait: None,
        },
    });
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    res
}

/// `abc…z` repeated over one frame plus one alphabet, so that any frame is a zero-copy
/// slice starting at the right letter.
fn pattern() -> Bytes {
    (0..FRAME + 26).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The demo app's response body: a whole buffer, the `/download` pattern generated
/// frame by frame, or `/events` written one by one.
#[derive(Debug)]
pub struct DemoBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Pattern {
        offset: u64,
        len: u64,
        pattern: Bytes,
    },
    Events {
        sent: u64,
        total: u64,
        gap: std::time::Duration,
        /// The pause before the next event.
        wait: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl DemoBody {
    fn full(data: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full(Some(data.into())),
        }
    }
}

impl http_body::Body for DemoBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Pattern {
                offset,
                len,
                pattern,
            } => {
                if offset == len {
                    return Poll::Ready(None);
                }
                let n = (*len - *offset).min(FRAME as u64) as usize;
                let start = (*offset % 26) as usize;
                *offset += n as u64;
                Poll::Ready(Some(Ok(Frame::data(pattern.slice(start..start + n)))))
            }
            Kind::Events {
                sent,
                total,
                gap,
                wait,
            } => {
                if sent == total {
                    return Poll::Ready(None);
                }
                if let Some(w) = wait {
                    std::task::ready!(w.as_mut().poll(cx));
                }
                *sent += 1;
                *wait = Some(Box::pin(tokio::time::sleep(*gap)));
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(format!(
                    "data: {sent}\n\n"
                ))))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(d) => d.is_none(),
            Kind::Pattern { offset, len, .. } => offset == len,
            Kind::Events { sent, total, .. } => sent == total,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Pattern { offset, len, .. } => SizeHint::with_exact(len - offset),
            Kind::Events { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use http_body_util::BodyExt;

    async fn call(req: Request<Body>) -> (StatusCode, Bytes) {
        let res = app().call(req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn download_pattern_is_continuous_across_frames() {
        let n = FRAME as u64 * 2 + 30;
        let (status, body) = call(
            Request::get(format!("/download?bytes={n}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body.len() as u64, n);
        assert!(
            body.iter()
                .enumerate()
                .all(|(i, &b)| b == b'a' + (i % 26) as u8)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_come_one_by_one_gap_apart() {
        let started = tokio::time::Instant::now();
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let res = app().call(get("/events?n=3&gap_ms=500")).await.unwrap();
        assert_eq!(res.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(
            http_body::Body::size_hint(res.body()).exact(),
            None,
            "streamed, no length"
        );
        let mut body = res.into_body();
        let mut at = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            at.push((data, started.elapsed().as_millis()));
        }
        let want = [
            ("data: 1\n\n", 0),
            ("data: 2\n\n", 500),
            ("data: 3\n\n", 1000),
        ];
        let got: Vec<(&[u8], u128)> = at.iter().map(|(d, t)| (&d[..], *t)).collect();
        let want: Vec<(&[u8], u128)> = want.iter().map(|(d, t)| (d.as_bytes(), *t)).collect();
        assert_eq!(got, want);
        for bad in [
            "/events?n=3",
            "/events?n=1001&gap_ms=1",
            "/events?n=1&gap_ms=10001",
        ] {
            assert_eq!(call(get(bad)).await.0, 400, "{bad}");
        }
    }

    #[tokio::test]
    async fn echo_hashes_the_body() {
        let req = Request::post("/echo?x=1")
            .header("x-a", "1")
            .header("x-a", "2")
            .body(Body::from_bytes("abc"))
            .unwrap();
        let (status, body) = call(req).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["body_len"], 3);
        assert_eq!(
            v["body_sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(v["query"], "x=1");
        assert_eq!(v["headers"], json!([["x-a", "1"], ["x-a", "2"]]));
        assert_eq!(v["via"], "ajp13");
        assert_eq!(v["remote_addr"], Value::Null);
    }

    #[tokio::test]
    async fn discard_counts_the_body() {
        let req = Request::put("/discard")
            .body(Body::from_bytes(vec![7u8; 100_000]))
            .unwrap();
        let (status, body) = call(req).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"body_len": 100_000}));
    }

    #[tokio::test]
    async fn hello_is_twelve_fixed_bytes() {
        let res = app()
            .call(Request::get("/hello").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CONTENT_TYPE], "text/plain");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"Hello, AJP!\n");
    }

    #[tokio::test]
    async fn status_and_index() {
        let (s, _) = call(Request::get("/status/204").body(Body::empty()).unwrap()).await;
        assert_eq!(s, 204);
        let (s, _) = call(Request::get("/status/99").body(Body::empty()).unwrap()).await;
        assert_eq!(s, 400);
        let (s, b) = call(Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(s, 200);
        assert!(String::from_utf8_lossy(&b).contains("tower-ajp"));
    }
}
