//! `AjpService` against a real Tomcat 10 (Debian `tomcat10`, started by the test support
//! on loopback with a temporary CATALINA_BASE and the test webapp): the proof of interop.
//!
//! Requests go through a real hyper server wrapping the service (`support::gateway`), so
//! what is tested is what a user runs.

mod support;

use std::time::{Duration, Instant};

use ajp_service::{AjpService, Backend, ClientInfo, PacketSize, TlsInfo};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use support::gateway::{PatternBody, bytes, hash_body, pattern_sha256, send, spawn_gateway};
use support::tomcat::{Connector, SECRET, tomcat};
use support::webapp::Echo;
use tower::ServiceExt;

fn backend(c: Connector) -> Backend {
    Backend::tcp("127.0.0.1", tomcat().ajp_port(c))
}

fn service(c: Connector) -> AjpService {
    let mut b = AjpService::builder(backend(c));
    if c == Connector::Big {
        b.packet_size(PacketSize::new(65536).unwrap());
    }
    b.build()
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap()
}

async fn echo(addr: std::net::SocketAddr, req: Request<Full<Bytes>>) -> Echo {
    let resp = send(addr, req).await;
    assert_eq!(resp.status(), 200);
    Echo::parse(&bytes(resp).await)
}

#[tokio::test]
async fn every_method_code_and_stored_methods() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    let mut methods: Vec<&str> = ajp_codec::CODED_METHODS.to_vec();
    methods.extend(["PATCH", "BREW", "X-CUSTOM-VERB"]);
    for m in methods {
        if m == "HEAD" {
            continue; // below: no body to read the echo from
        }
        let req = Request::builder()
            .method(Method::from_bytes(m.as_bytes()).unwrap())
            .uri("/echo")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send(addr, req).await;
        if m == "TRACE" {
            // Tomcat answers TRACE itself (allowTrace is off): 405 proves it got there.
            assert_eq!(resp.status(), 405);
            continue;
        }
        assert_eq!(resp.status(), 200, "method {m}");
        let e = Echo::parse(&bytes(resp).await);
        assert_eq!(e.method(), m, "method {m}");
    }
    let resp = send(
        addr,
        Request::head("/hello")
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "12");
    assert!(bytes(resp).await.is_empty());
}

#[tokio::test]
async fn path_query_headers_cookies_and_client_facts() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    let req = Request::post("/echo/a%20b/c%3Bd?x=1&y=%2F&z")
        .header("host", "shop.example:8443")
        .header("accept", "text/plain")
        .header("accept-charset", "utf-8")
        .header("accept-encoding", "identity")
        .header("accept-language", "en-GB")
        .header("authorization", "Basic dXNlcjpwdw==")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", "3")
        .header("cookie", "a=1; b=2")
        .header("cookie2", "$Version=1")
        .header("pragma", "no-cache")
        .header("referer", "http://ref.example/")
        .header("user-agent", "tower-ajp-test")
        .header("x-rep", "one")
        .header("x-rep", "two")
        .header("x-forwarded-for", "6.6.6.6")
        .header("connection", "x-hop")
        .header("x-hop", "must not pass")
        .body(Full::new(Bytes::from_static(b"q=1")))
        .unwrap();
    let e = echo(addr, req).await;
    assert_eq!(e.method(), "POST");
    assert_eq!(e.uri(), "/echo/a%20b/c%3Bd", "path forwarded still encoded");
    assert_eq!(e.query(), Some("x=1&y=%2F&z"));
    for (name, value) in [
        ("host", "shop.example:8443"),
        ("accept", "text/plain"),
        ("accept-charset", "utf-8"),
        ("accept-encoding", "identity"),
        ("accept-language", "en-GB"),
        ("authorization", "Basic dXNlcjpwdw=="),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "3"),
        ("cookie2", "$Version=1"),
        ("pragma", "no-cache"),
        ("referer", "http://ref.example/"),
        ("user-agent", "tower-ajp-test"),
    ] {
        assert_eq!(e.header(name), Some(value), "{name}");
    }
    assert_eq!(e.header_all("x-rep"), ["one", "two"]);
    assert_eq!(
        e.header("x-forwarded-for"),
        None,
        "client X-Forwarded-For is stripped"
    );
    assert_eq!(
        e.header("x-hop"),
        None,
        "headers named by Connection are stripped"
    );
    assert_eq!(e.cookies(), [("a", "1"), ("b", "2")]);
    assert_eq!(e.body_len(), 3);
    // Server facts come from the connection, not from headers.
    assert_eq!(e.req("remote_addr"), "127.0.0.1");
    assert_ne!(e.req("remote_port"), "0");
    assert_eq!(e.req("local_addr"), "127.0.0.1");
    assert_eq!(e.req("server_name"), "shop.example");
    assert_eq!(e.req("server_port"), "8443");
    assert_eq!(e.req("secure"), "false");
}

#[tokio::test]
async fn remote_port_local_addr_tls_facts_and_static_attributes() {
    let svc = AjpService::builder(backend(Connector::Plain))
        .attribute("custom.attr", "from-config")
        .build();
    let mut req = Request::get("/echo?attr=custom.attr")
        .header("host", "secure.example")
        .body(Empty::<Bytes>::new())
        .unwrap();
    req.extensions_mut().insert(
        ClientInfo::new("203.0.113.9:50123".parse().unwrap())
            .with_local("192.0.2.1:443".parse().unwrap())
            .with_tls(
                TlsInfo::new()
                    .with_protocol("TLSv1.3")
                    .with_cipher("TLS_AES_128_GCM_SHA256")
                    .with_key_size(128)
                    .with_session_id("abcd"),
            ),
    );
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let e = Echo::parse(&body);
    assert_eq!(e.req("remote_addr"), "203.0.113.9");
    assert_eq!(e.req("remote_port"), "50123");
    assert_eq!(e.req("local_addr"), "192.0.2.1");
    assert_eq!(e.req("server_port"), "443");
    assert_eq!(e.req("secure"), "true");
    assert_eq!(e.req("scheme"), "https");
    assert_eq!(e.attr("custom.attr"), Some("from-config"));
    assert_eq!(
        e.attr("jakarta.servlet.request.cipher_suite"),
        Some("TLS_AES_128_GCM_SHA256")
    );
    assert_eq!(e.attr("jakarta.servlet.request.key_size"), Some("128"));
    assert_eq!(
        e.attr("jakarta.servlet.request.ssl_session_id"),
        Some("abcd")
    );
    assert_eq!(
        e.attr("org.apache.tomcat.util.net.secure_protocol_version"),
        Some("TLSv1.3")
    );
}

async fn upload(addr: std::net::SocketAddr, len: u64, sized: bool, frame: usize) {
    let mut req = Request::put("/echo").header("host", "localhost");
    if sized {
        req = req.header("content-length", len.to_string());
    }
    let req = req.body(PatternBody::new(len, frame, sized)).unwrap();
    let resp = send(addr, req).await;
    assert_eq!(resp.status(), 200, "upload of {len} bytes (sized: {sized})");
    let e = Echo::parse(&bytes(resp).await);
    assert_eq!(e.body_len(), len, "sized: {sized}");
    assert_eq!(e.body_sha256(), pattern_sha256(len), "sized: {sized}");
    if sized {
        assert_eq!(e.req("content_length"), len.to_string());
    } else {
        assert_eq!(e.req("content_length"), "-1");
        assert_eq!(e.header("transfer-encoding"), None);
    }
}

#[tokio::test]
async fn request_bodies_byte_exact() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    for len in [0, 1, 8186, 8187, 3 * 8186 + 5] {
        upload(addr, len, true, 1000).await;
    }
    upload(addr, 10 << 20, true, 64 * 1024).await;
    upload(addr, 10 << 20, false, 50_000).await;
    upload(addr, 1, false, 1).await;
}

#[tokio::test]
async fn expect_100_continue_is_answered_when_the_body_is_due() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = spawn_gateway(service(Connector::Plain)).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nhost: localhost\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"hello").await.unwrap();
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&all).contains("body_sha256=") && Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("body_len=5"), "{text}");
}

async fn download(addr: std::net::SocketAddr, len: u64) -> usize {
    let resp = send(addr, get(&format!("/download?bytes={len}"))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], len.to_string().as_str());
    let (got, sha, frames) = hash_body(resp.into_body()).await.unwrap();
    assert_eq!(got, len);
    assert_eq!(sha, pattern_sha256(len));
    frames
}

#[tokio::test]
async fn downloads_of_10_mib_and_1_gib_hash_equal() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    download(addr, 10 << 20).await;
    let start = Instant::now();
    download(addr, 1 << 30).await;
    eprintln!(
        "1 GiB through AjpService (test profile) in {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn packet_size_65536() {
    let addr = spawn_gateway(service(Connector::Big)).await;
    for len in [65530, 65531, 300_000] {
        upload(addr, len, true, 100_000).await;
    }
    let frames = download(addr, 1 << 20).await;
    // 64 KiB packets: about 16 chunks, not the 128 an 8 KiB packet size would need.
    assert!(frames <= 40, "{frames} frames for 1 MiB at 64K packets");
}

#[tokio::test]
async fn head_204_304_have_no_body() {
    let svc = service(Connector::Plain);
    let addr = spawn_gateway(svc.clone()).await;
    for (path, status) in [
        ("/status/204", 204),
        ("/status?code=304&body=1", 304),
        ("/status?code=204&body=1", 204),
    ] {
        let resp = send(addr, get(path)).await;
        assert_eq!(resp.status(), status, "{path}");
        assert!(bytes(resp).await.is_empty(), "{path}");
    }
    let resp = send(
        addr,
        Request::head("/download?bytes=5000")
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.headers()["content-length"], "5000");
    assert!(bytes(resp).await.is_empty());
    let s = svc.stats();
    assert_eq!(
        s.connections_opened, 1,
        "bodiless responses leave the connection reusable: {s:?}"
    );
}

#[tokio::test]
async fn many_set_cookies_and_repeated_headers() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    let resp = send(addr, get("/cookies?n=60")).await;
    let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 60);
    assert_eq!(cookies[59], "c60=v60");
    let resp = send(addr, get("/headers?count=5")).await;
    assert_eq!(resp.headers()["x-test-5"], "value-5");
    let rep: Vec<_> = resp.headers().get_all("x-repeat").iter().collect();
    assert_eq!(rep, ["a", "b"]);
    // The bare-number status message of Tomcat is not passed on as a reason phrase.
    assert!(
        resp.extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .is_none()
    );
}

#[tokio::test]
async fn slow_servlet_flushes_arrive_in_pieces() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    let start = Instant::now();
    let resp = send(addr, get("/slow?n=5&ms=100")).await;
    let mut body = resp.into_body();
    let mut arrivals = Vec::new();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            arrivals.push(start.elapsed());
            text.extend_from_slice(&d);
        }
    }
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "line 0\nline 1\nline 2\nline 3\nline 4\n"
    );
    assert!(arrivals.len() >= 4, "pieces: {arrivals:?}");
    // The first line is delivered long before the last is written.
    assert!(
        arrivals[arrivals.len() - 1] - arrivals[0] >= Duration::from_millis(300),
        "{arrivals:?}"
    );
}

#[tokio::test]
async fn secret_right_and_wrong() {
    let right = AjpService::builder(backend(Connector::Secret))
        .secret(SECRET)
        .build();
    let addr = spawn_gateway(right.clone()).await;
    for _ in 0..3 {
        let resp = send(addr, get("/hello")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(bytes(resp).await, "Hello, AJP!\n");
    }
    assert_eq!(right.stats().connections_opened, 1);

    let wrong = AjpService::builder(backend(Connector::Secret))
        .secret("not-the-secret")
        .build();
    let addr = spawn_gateway(wrong.clone()).await;
    for _ in 0..3 {
        assert_eq!(send(addr, get("/hello")).await.status(), 403);
    }
    let s = wrong.stats();
    // Tomcat ends a 403 for a bad secret with reuse=0: every request needed a new connection.
    assert_eq!(s.connections_opened, 3, "{s:?}");
    assert_eq!(s.idle, 0, "{s:?}");

    let none = AjpService::new(backend(Connector::Secret));
    let addr = spawn_gateway(none).await;
    assert_eq!(send(addr, get("/hello")).await.status(), 403);
}

#[tokio::test]
async fn keep_alive_reuse_counted_on_both_sides() {
    // A private Tomcat: nobody else's connections in the count.
    let private = support::tomcat::Tomcat::start();
    let port = private.ajp_port(Connector::Plain);
    let svc = AjpService::new(Backend::tcp("127.0.0.1", port));
    let addr = spawn_gateway(svc.clone()).await;
    for i in 0..25 {
        let resp = send(addr, get(&format!("/echo?i={i}"))).await;
        assert_eq!(resp.status(), 200);
        bytes(resp).await;
    }
    let s = svc.stats();
    assert_eq!(s.connections_opened, 1, "{s:?}");
    assert_eq!(s.connections_reused, 24, "{s:?}");
    assert_eq!(
        private.established_connections(port),
        1,
        "Tomcat sees one AJP connection"
    );
}

#[tokio::test]
async fn stale_pooled_connection_is_replaced() {
    // This connector closes connections idle for 1 s.
    let svc = service(Connector::ShortKeepAlive);
    let addr = spawn_gateway(svc.clone()).await;
    assert_eq!(
        bytes(send(addr, get("/hello")).await).await,
        "Hello, AJP!\n"
    );
    // Tomcat's poller closes idle connections on its own schedule (1-2 s after the
    // timeout, later on a loaded box): wait until its side of the pooled connection
    // is no longer ESTABLISHED instead of sleeping a fixed time. No other test of
    // this binary uses this connector.
    let port = tomcat().ajp_port(Connector::ShortKeepAlive);
    let start = Instant::now();
    assert_eq!(
        svc.stats().idle,
        1,
        "the first connection went back to the pool"
    );
    while tomcat().established_connections(port) != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "Tomcat kept the idle connection open for 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "Tomcat closed the idle connection after {:?}",
        start.elapsed()
    );
    let resp = send(addr, get("/hello")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(bytes(resp).await, "Hello, AJP!\n");
    let s = svc.stats();
    assert_eq!(s.connections_opened, 2, "{s:?}");
}

#[tokio::test]
async fn error_pages_from_tomcat_pass_through() {
    let addr = spawn_gateway(service(Connector::Plain)).await;
    assert_eq!(
        send(addr, get("/no/such/page")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(addr, get("/throw")).await.status(), 500);
    let resp = send(addr, get("/redirect")).await;
    assert_eq!(resp.status(), 302);
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/hello")
    );
}

#[tokio::test]
async fn unreachable_backend_is_503() {
    let port = support::free_port();
    let svc = AjpService::builder(Backend::tcp("127.0.0.1", port))
        .connect_timeout(Duration::from_secs(2))
        .build();
    let addr = spawn_gateway(svc).await;
    assert_eq!(send(addr, get("/hello")).await.status(), 503);
}
