//! Smoke tests of the real-peer harness (`tests/support`): the shared Tomcat
//! and its webapp answer over HTTP, its AJP connectors behave as configured,
//! private httpd instances start and proxy to Tomcat over HTTP, AJP (with and
//! without secret) and mod_jk, and no peer outlives its owner.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::httpd::Httpd;
use support::tomcat::{Connector, SECRET, Tomcat, tomcat};
use support::webapp::{Echo, HELLO, download_mismatch};

const TIMEOUT: Duration = Duration::from_secs(30);

/// SHA-256 of "abc" (FIPS 180-2 test vector).
const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One HTTP/1.1 request on a fresh connection to 127.0.0.1:`port`.
async fn send(port: u16, req: Request<Full<Bytes>>) -> Resp {
    let what = format!("{} {} on port {port}", req.method(), req.uri());
    tokio::time::timeout(TIMEOUT, async move {
        let stream = TcpStream::connect(support::local(port))
            .await
            .unwrap_or_else(|e| panic!("connect to port {port}: {e}"));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("http1 handshake");
        tokio::spawn(conn);
        let resp = sender.send_request(req).await.expect("send_request");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: no response in {TIMEOUT:?}"))
}

fn req(method: &str, port: u16, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"))
        .body(Full::new(body.into()))
        .expect("valid request")
}

async fn get(port: u16, path: &str) -> Resp {
    send(port, req("GET", port, path, Bytes::new())).await
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers
        .get(name)
        .map(|v| v.to_str().expect("ASCII header"))
}

#[tokio::test]
async fn tomcat_http_hello() {
    let t = tomcat();
    let r = get(t.http_port(), "/hello").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], HELLO);
    assert_eq!(header(&r, "content-type"), Some("text/plain"));
    assert_eq!(header(&r, "content-length"), Some("12"));

    let head = send(t.http_port(), req("HEAD", t.http_port(), "/hello", "")).await;
    assert_eq!(head.status, 200);
    assert_eq!(header(&head, "content-length"), Some("12"));
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn tomcat_http_echo() {
    let t = tomcat();
    let port = t.http_port();
    let body = vec![b'z'; 100_000];
    let mut r = req("POST", port, "/echo/extra?x=1&y=%C3%A9", body);
    r.headers_mut().append("x-rep", "one".parse().unwrap());
    r.headers_mut().append("x-rep", "two".parse().unwrap());
    r.headers_mut()
        .append("cookie", "a=1; b=2".parse().unwrap());
    let r = send(port, r).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let e = Echo::parse(&r.body);
    assert_eq!(e.method(), "POST");
    assert_eq!(e.uri(), "/echo/extra");
    assert_eq!(e.get("path_info"), Some("/extra"));
    assert_eq!(e.query(), Some("x=1&y=%C3%A9"));
    assert_eq!(e.get("protocol"), Some("HTTP/1.1"));
    assert_eq!(e.get("scheme"), Some("http"));
    assert_eq!(e.get("secure"), Some("false"));
    assert_eq!(e.get("remote_addr"), Some("127.0.0.1"));
    assert_eq!(e.get("local_port"), Some(port.to_string().as_str()));
    assert_eq!(e.get("content_length"), Some("100000"));
    assert_eq!(e.header_all("x-rep"), ["one", "two"]);
    assert_eq!(e.cookies(), [("a", "1"), ("b", "2")]);
    assert_eq!(e.body_len(), 100_000);
    assert_eq!(e.body_sha256().len(), 64);
    assert!(e.body_head().starts_with("zzzz"));
    assert_eq!(e.get("remote_user"), None);

    // Unknown method, known body: checks the SHA-256 for real.
    let r = send(port, req("BREW", port, "/echo", "abc")).await;
    let e = Echo::parse(&r.body);
    assert_eq!(e.method(), "BREW");
    assert_eq!(e.query(), None);
    assert_eq!(e.body_len(), 3);
    assert_eq!(e.body_sha256(), SHA256_ABC);
    assert_eq!(e.body_head(), "abc");
}

#[tokio::test]
async fn tomcat_http_download() {
    let port = tomcat().http_port();
    let r = get(port, "/download?bytes=100000").await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-length"), Some("100000"));
    assert_eq!(r.body.len(), 100_000);
    assert_eq!(download_mismatch(&r.body, 0), None);

    let r = get(port, "/download?bytes=70001&chunked=1").await;
    assert_eq!(header(&r, "content-length"), None);
    assert_eq!(header(&r, "transfer-encoding"), Some("chunked"));
    assert_eq!(r.body.len(), 70_001);
    assert_eq!(download_mismatch(&r.body, 0), None);

    let r = send(port, req("HEAD", port, "/download?bytes=5000", "")).await;
    assert_eq!(header(&r, "content-length"), Some("5000"));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn tomcat_http_misc_endpoints() {
    let port = tomcat().http_port();
    let r = get(port, "/status?code=204").await;
    assert_eq!((r.status.as_u16(), r.body.len()), (204, 0));
    let r = get(port, "/status/304?body=1").await;
    assert_eq!((r.status.as_u16(), r.body.len()), (304, 0));
    let r = get(port, "/status?code=418").await;
    assert_eq!(r.status, 418);
    assert_eq!(&r.body[..], b"status 418\n");

    let r = get(port, "/cookies?n=3").await;
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["c1=v1", "c2=v2", "c3=v3"]);

    let r = get(port, "/headers?count=5").await;
    assert_eq!(header(&r, "x-test-5"), Some("value-5"));
    let rep: Vec<_> = r.headers.get_all("x-repeat").iter().collect();
    assert_eq!(rep, ["a", "b"]);

    let r = get(port, "/slow?n=3&ms=10").await;
    assert_eq!(&r.body[..], b"line 0\nline 1\nline 2\n");

    let r = get(port, "/session").await;
    let text = std::str::from_utf8(&r.body).unwrap();
    assert!(
        text.starts_with("session=") && text.contains(".tc1\nnew=true"),
        "{text}"
    );

    let r = get(port, "/noheaders").await;
    assert_eq!((r.status.as_u16(), r.body.len()), (200, 0));
    let r = get(port, "/badheader").await;
    assert_eq!(header(&r, "x-good"), Some("ok"));
    assert_eq!(header(&r, "x-bad"), None);
    assert_eq!(header(&r, "x-also-good"), Some("yes"));
    assert_eq!(get(port, "/throw").await.status, 500);
    assert_eq!(get(port, "/no/such/thing").await.status, 404);
}

/// Sends an AJP CPING on `s` and expects a CPONG.
async fn cping(s: &mut TcpStream) {
    s.write_all(&[0x12, 0x34, 0x00, 0x01, 0x0A])
        .await
        .expect("write CPING");
    let mut pong = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut pong))
        .await
        .expect("CPONG within 5 s")
        .expect("read CPONG");
    assert_eq!(pong, [0x41, 0x42, 0x00, 0x01, 0x09]);
}

#[tokio::test]
async fn tomcat_ajp_connectors_answer_cping_and_keep_idle_connections() {
    let t = tomcat();
    for c in Connector::ALL {
        let mut s = TcpStream::connect(t.ajp_addr(c))
            .await
            .unwrap_or_else(|e| panic!("{c:?} AJP port: {e}"));
        cping(&mut s).await;
    }
    let mut plain = TcpStream::connect(t.ajp_addr(Connector::Plain))
        .await
        .unwrap();
    let mut short = TcpStream::connect(t.ajp_addr(Connector::ShortKeepAlive))
        .await
        .unwrap();
    cping(&mut plain).await;
    cping(&mut short).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Plain keeps idle connections (keepAliveTimeout -1) ...
    cping(&mut plain).await;
    // ... ShortKeepAlive closed it after 1 s.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), short.read(&mut buf))
        .await
        .expect("ShortKeepAlive connection neither closed nor answered");
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "expected EOF on an idle ShortKeepAlive connection, got {n:?}"
    );
}

#[test]
fn private_tomcat_counts_connections_and_stops_on_drop() {
    let t = Tomcat::start();
    eprintln!("private Tomcat started in {:?}", t.started_in());
    let port = t.ajp_port(Connector::Big);
    assert_eq!(t.established_connections(port), 0);
    let conns: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(t.ajp_addr(Connector::Big)).unwrap())
        .collect();
    assert_eq!(t.established_connections(port), 3);
    drop(conns);
    assert_eq!(t.established_connections(port), 0);

    let base = t.base().to_owned();
    assert!(processes_mentioning(&base.display().to_string()) > 0);
    drop(t);
    assert_eq!(
        processes_mentioning(&base.display().to_string()),
        0,
        "a process still mentions {} after drop",
        base.display()
    );
    assert!(!base.exists(), "CATALINA_BASE not removed on drop");
}

/// Number of processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(needle))
        .count()
}

#[test]
fn watchdog_kills_the_peer_when_its_owner_dies() {
    let dir = std::env::temp_dir().join(format!("tower-ajp-watchdog-test.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut owner = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let marker = format!("{}", 3_000_000 + std::process::id());
    let sup = support::proc::Supervised::spawn_owned_by(
        owner.id(),
        "sleeper",
        "sleep",
        std::slice::from_ref(&marker),
        &[],
        &dir,
        &dir.join("log"),
        Some(&dir),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while processes_mentioning(&marker) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "supervised sleep never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    owner.kill().unwrap();
    owner.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sup.exited().is_none() || processes_mentioning(&marker) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "supervised process survived its owner by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!dir.exists(), "watchdog did not remove its cleanup dir");
}

#[test]
fn count_established_parses_proc_net_tcp() {
    let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:A2B4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1\n   2: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1\n";
    assert_eq!(support::count_established(table, 8080), 1);
    assert_eq!(support::count_established(table, 0xA2B4), 1);
    assert_eq!(support::count_established(table, 80), 0);
}

#[tokio::test]
async fn httpd_starts_and_answers_404() {
    let h = Httpd::start("", &[]);
    eprintln!("httpd started in {:?}", h.started_in());
    let r = get(h.port(), "/nothing").await;
    assert_eq!(r.status, 404, "error log:\n{}", h.error_log());
    assert!(h.is_running());
}

#[tokio::test]
async fn httpd_mod_proxy_http_to_tomcat() {
    let t = tomcat();
    let h = Httpd::start(
        &format!("ProxyPass /t/ http://127.0.0.1:{}/", t.http_port()),
        &[],
    );
    let r = get(h.port(), "/t/hello").await;
    assert_eq!(r.status, 200, "error log:\n{}", h.error_log());
    assert_eq!(&r.body[..], HELLO);
}

#[tokio::test]
async fn httpd_mod_proxy_ajp_to_tomcat() {
    let t = tomcat();
    let h = Httpd::start(
        &format!(
            "ProxyPass /a/ ajp://127.0.0.1:{}/\nProxyPass /s/ ajp://127.0.0.1:{}/ secret={SECRET}",
            t.ajp_port(Connector::Plain),
            t.ajp_port(Connector::Secret)
        ),
        &[],
    );
    let port = h.port();
    let r = send(port, req("POST", port, "/a/echo?q=1", "abc")).await;
    assert_eq!(r.status, 200, "error log:\n{}", h.error_log());
    let e = Echo::parse(&r.body);
    assert_eq!(e.method(), "POST");
    assert_eq!(e.uri(), "/echo");
    assert_eq!(e.query(), Some("q=1"));
    assert_eq!(e.body_len(), 3);
    assert_eq!(e.body_sha256(), SHA256_ABC);
    assert_eq!(e.get("remote_addr"), Some("127.0.0.1"));
    assert_ne!(e.get("remote_port"), Some("0"));
    assert_eq!(e.header("host"), Some(format!("127.0.0.1:{port}").as_str()));

    let r = get(port, "/a/session").await;
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains(".tc1\n"), "{text}");

    let r = get(port, "/s/hello").await;
    assert_eq!(r.status, 200, "secret connector with the right secret");
    assert_eq!(&r.body[..], HELLO);

    let h2 = Httpd::start(
        &format!(
            "ProxyPass /s/ ajp://127.0.0.1:{}/",
            t.ajp_port(Connector::Secret)
        ),
        &[],
    );
    let r = get(h2.port(), "/s/hello").await;
    assert_eq!(r.status, 403, "secret connector without a secret");
}

#[tokio::test]
async fn httpd_mod_jk_to_tomcat() {
    let t = tomcat();
    let h = Httpd::builder()
        .modules(&["jk"])
        .file(
            "workers.properties",
            &format!(
                "worker.list=tc\nworker.tc.type=ajp13\nworker.tc.host=127.0.0.1\nworker.tc.port={}\n",
                t.ajp_port(Connector::Plain)
            ),
        )
        .conf("JkMount /* tc")
        .start();
    let r = get(h.port(), "/hello").await;
    assert_eq!(
        r.status,
        200,
        "error log:\n{}\nmod_jk log:\n{}",
        h.error_log(),
        h.jk_log()
    );
    assert_eq!(&r.body[..], HELLO);
    // mod_jk keeps Tomcat's Content-Length.
    assert_eq!(header(&r, "content-length"), Some("12"));
}
