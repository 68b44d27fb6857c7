//! ajp-server (the container side) behind a real Apache httpd 2.4 with mod_proxy_ajp,
//! exactly where Tomcat would sit: httpd is started by the test on 127.0.0.1 with a
//! temporary configuration, our server runs in the test process with the demo app, and
//! the client speaks HTTP/1.1 to httpd.
//!
//! A missing apache2 is a failure, never a skip (see `support`).

mod server_common;
mod support;

use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};
use server_common::{
    AjpServer, body_bytes, check_download, check_idle_rounds, chunked, echo, empty, full, header,
    panics, send, sha256_hex, trickled, upload_data,
};
use support::gateway::check_events;
use support::httpd::Httpd;

/// httpd proxying everything to our server, with `options` on the ProxyPass line.
async fn httpd_for(
    server: &AjpServer,
    options: &str,
    modules: &'static [&'static str],
    extra: &str,
) -> Httpd {
    let conf = format!(
        "{extra}\nProxyPass \"/\" \"ajp://127.0.0.1:{}/\" {options}\n",
        server.port()
    );
    tokio::task::spawn_blocking(move || Httpd::start(&conf, modules))
        .await
        .unwrap()
}

fn req(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("host", "127.0.0.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_query_and_headers() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "", &[], "").await;
    // Coded methods, and ones httpd sends as a stored method (0xFF + attribute 0x0D).
    for m in [
        "GET",
        "POST",
        "PUT",
        "DELETE",
        "OPTIONS",
        "PROPFIND",
        "LOCK",
        "PATCH",
        "BREW",
        "X-CUSTOM-VERB",
    ] {
        let v = echo(httpd.port(), req(m, "/echo").body(empty()).unwrap()).await;
        assert_eq!(v["method"], m, "{v}");
        assert_eq!(v["via"], "ajp13");
    }
    let v = echo(
        httpd.port(),
        req("GET", "/echo?a=1&b=two%20words&c")
            .header("x-repeat", "one")
            .header("x-repeat", "two")
            .header("user-agent", "tower-ajp-test")
            .header("x-odd", "  spaced value ")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(v["uri"], "/echo?a=1&b=two%20words&c");
    assert_eq!(v["query"], "a=1&b=two%20words&c");
    let headers: Vec<(String, String)> = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let repeats: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "x-repeat")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        repeats == ["one", "two"] || repeats == ["one, two"],
        "repeated header kept in order: {repeats:?}"
    );
    assert!(headers.contains(&("user-agent".into(), "tower-ajp-test".into())));
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "host" && v.starts_with("127.0.0.1"))
    );
    // The proxy facts.
    assert_eq!(v["remote_addr"], "127.0.0.1");
    assert!(v["remote_port"].as_u64().is_some_and(|p| p > 0), "{v}");
    assert_eq!(v["is_ssl"], false);
    assert_eq!(v["server_port"], httpd.port());
    assert_eq!(v["body_len"], 0);
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_of_10_mib_content_length_and_chunked() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "", &[], "").await;
    let size = 10 << 20;
    let data = upload_data(size);
    let want = sha256_hex(&data);

    let v = echo(
        httpd.port(),
        req("POST", "/echo")
            .header("content-length", size.to_string())
            .body(full(data.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(v["body_len"], size);
    assert_eq!(v["body_sha256"], want);

    let v = echo(
        httpd.port(),
        req("PUT", "/echo").body(chunked(size, 100_000)).unwrap(),
    )
    .await;
    assert_eq!(
        v["body_len"], size,
        "chunked upload pulled with GET_BODY_CHUNK"
    );
    assert_eq!(v["body_sha256"], want);

    // A Content-Length upload the client trickles: httpd answers the GET_BODY_CHUNKs asked
    // ahead with whatever it has (it ignores the requested length), short packets included.
    let small = 2 << 20;
    let v = echo(
        httpd.port(),
        req("POST", "/echo")
            .header("content-length", small.to_string())
            .body(trickled(small, 3001))
            .unwrap(),
    )
    .await;
    assert_eq!(v["body_len"], small, "trickled upload");
    assert_eq!(v["body_sha256"], sha256_hex(&data[..small]));

    // An upload the app does not read: answered, and the connection stays usable.
    let resp = send(
        httpd.port(),
        req("POST", "/status/202")
            .body(full(upload_data(1 << 20)))
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let v = echo(httpd.port(), req("GET", "/echo").body(empty()).unwrap()).await;
    assert_eq!(v["method"], "GET");
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streamed_download() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "", &[], "").await;
    let n: u64 = 1 << 30;
    let started = Instant::now();
    let resp = send(
        httpd.port(),
        req("GET", &format!("/download?bytes={n}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let got = tokio::time::timeout(Duration::from_secs(60), check_download(resp))
        .await
        .expect("1 GiB within 60 s");
    let took = started.elapsed();
    eprintln!(
        "1 GiB through httpd mod_proxy_ajp: {took:?} ({:.0} MiB/s)",
        n as f64 / (1 << 20) as f64 / took.as_secs_f64()
    );
    assert_eq!(got, n);
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_204_304_carry_no_body() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "", &[], "").await;
    let resp = send(
        httpd.port(),
        req("HEAD", "/download?bytes=1000").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    eprintln!(
        "HEAD content-length through httpd: {:?}",
        header(&resp, "content-length")
    );
    assert!(body_bytes(resp).await.is_empty());
    for status in [204u16, 304] {
        let resp = send(
            httpd.port(),
            req("GET", &format!("/status/{status}"))
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), status);
        assert!(body_bytes(resp).await.is_empty());
    }
    let resp = send(
        httpd.port(),
        req("GET", "/status/404").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(body_bytes(resp).await, "status 404\n");
    // The index page.
    let resp = send(httpd.port(), req("GET", "/").body(empty()).unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(String::from_utf8_lossy(&body_bytes(resp).await).contains("ajp-server"));
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_reuses_ajp_connections() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "", &[], "").await;
    for i in 0..30 {
        let body = if i % 3 == 0 {
            full(upload_data(20_000))
        } else {
            empty()
        };
        let resp = send(httpd.port(), req("POST", "/echo").body(body).unwrap()).await;
        assert_eq!(resp.status(), 200);
        let _ = body_bytes(resp).await;
    }
    let accepted = server.accepted();
    eprintln!("30 requests through httpd used {accepted} AJP connection(s)");
    assert!(
        accepted <= 2,
        "connections were not reused: {accepted} for 30 requests"
    );
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_right_and_wrong() {
    let mut b = ajp_server::Builder::new();
    b.secret("s3cret-value");
    let server = AjpServer::start(b).await;

    let right = httpd_for(&server, "secret=s3cret-value", &[], "").await;
    for _ in 0..3 {
        let v = echo(right.port(), req("GET", "/echo").body(empty()).unwrap()).await;
        assert_eq!(v["method"], "GET");
    }
    let reused = server.accepted();
    assert!(reused <= 2, "right secret: connections reused ({reused})");

    let wrong = httpd_for(&server, "secret=not-the-secret", &[], "").await;
    for _ in 0..3 {
        let resp = send(wrong.port(), req("GET", "/echo").body(empty()).unwrap()).await;
        assert_eq!(resp.status(), 403);
    }
    // 403 ends with reuse = false and a close: every refused request had its own connection.
    assert!(
        server.accepted() >= reused + 3,
        "wrong secret: connection not reused"
    );

    let none = httpd_for(&server, "", &[], "").await;
    let resp = send(none.port(), req("GET", "/echo").body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 403, "no secret at all");
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_off_the_allow_list_are_refused() {
    // httpd forwards every AJP_* environment variable as a named attribute (prefix
    // stripped): the classic way to hit Tomcat's post-Ghostcat 403.
    let extra = "SetEnv AJP_Shib-User alice";
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "", &["env"], extra).await;
    let resp = send(httpd.port(), req("GET", "/echo").body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 403);

    let mut b = ajp_server::Builder::new();
    b.allow_attribute_prefix("Shib-");
    let server = AjpServer::start(b).await;
    let httpd = httpd_for(&server, "", &["env"], extra).await;
    let v = echo(httpd.port(), req("GET", "/echo").body(empty()).unwrap()).await;
    assert_eq!(v["attributes"]["Shib-User"], "alice", "{v}");
    assert!(v["attributes"]["AJP_REMOTE_PORT"].is_string(), "{v}");
    assert_eq!(panics(), 0);
}

/// Our idle timeout closes httpd's pooled connections under it; httpd notices before reuse
/// (it checks the socket) and opens new ones: no request fails, POSTs included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_pooled_connections_and_httpd_reconnects() {
    let mut b = ajp_server::Builder::new();
    b.idle_timeout(Some(Duration::from_millis(500)));
    let server = AjpServer::start(b).await;
    let httpd = httpd_for(&server, "", &[], "").await;
    check_idle_rounds(&server, httpd.port(), "httpd").await;
}

/// Server-sent events through httpd with `flushpackets=on`: each event reaches the client
/// when the app writes it (the container sends a short packet as soon as the app waits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_client_as_they_are_written() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = httpd_for(&server, "flushpackets=on", &[], "").await;
    check_events(([127, 0, 0, 1], httpd.port()).into()).await;
    assert_eq!(panics(), 0);
}
