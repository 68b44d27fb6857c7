//! ajp-server (the container side) behind a real Apache httpd 2.4 with mod_jk (Debian
//! `libapache2-mod-jk`), where Tomcat would sit. A missing mod_jk is a failure, never a
//! skip (see `support`).

mod server_common;
mod support;

use std::time::{Duration, Instant};

use http::{Method, Request};
use server_common::{
    AjpServer, body_bytes, check_download, check_idle_rounds, chunked, echo, empty, full, panics,
    send, sha256_hex, upload_data,
};
use support::gateway::check_events;
use support::httpd::Httpd;

async fn jk_for(server: &AjpServer, worker_extra: &str) -> Httpd {
    let conf = format!(
        "JkWorkerProperty worker.list=demo\n\
         JkWorkerProperty worker.demo.type=ajp13\n\
         JkWorkerProperty worker.demo.host=127.0.0.1\n\
         JkWorkerProperty worker.demo.port={}\n\
         {worker_extra}\n\
         JkMount /* demo\n",
        server.port()
    );
    tokio::task::spawn_blocking(move || Httpd::start(&conf, &["jk"]))
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
async fn get_post_and_reuse_through_mod_jk() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = jk_for(&server, "").await;
    let v = echo(
        httpd.port(),
        req("GET", "/echo?x=1&y=%2F")
            .header("x-jk", "a")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(v["method"], "GET");
    assert_eq!(v["query"], "x=1&y=%2F");
    assert_eq!(v["remote_addr"], "127.0.0.1");
    assert!(v["remote_port"].as_u64().is_some(), "{v}");
    assert!(
        v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "x-jk" && p[1] == "a")
    );
    let size = 10 << 20;
    let data = upload_data(size);
    let v = echo(
        httpd.port(),
        req("POST", "/echo")
            .header("content-length", size.to_string())
            .body(full(data.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(v["body_len"], size);
    assert_eq!(v["body_sha256"], sha256_hex(&data));
    let v = echo(
        httpd.port(),
        req("POST", "/echo").body(chunked(size, 65_536)).unwrap(),
    )
    .await;
    assert_eq!(v["body_len"], size, "chunked upload through mod_jk");
    assert_eq!(v["body_sha256"], sha256_hex(&data));
    for m in ["PATCH", "BREW"] {
        let v = echo(httpd.port(), req(m, "/echo").body(empty()).unwrap()).await;
        assert_eq!(v["method"], m);
    }
    for _ in 0..20 {
        let resp = send(
            httpd.port(),
            req("GET", "/status/200").body(empty()).unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let _ = body_bytes(resp).await;
    }
    let accepted = server.accepted();
    eprintln!("25 requests through mod_jk used {accepted} AJP connection(s)");
    assert!(
        accepted <= 3,
        "mod_jk did not reuse connections: {accepted}"
    );
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_download_through_mod_jk_with_64k_packets() {
    let mut b = ajp_server::Builder::new();
    b.packet_size(ajp_codec::PacketSize::new(65536).unwrap());
    let server = AjpServer::start(b).await;
    let httpd = jk_for(
        &server,
        "JkWorkerProperty worker.demo.max_packet_size=65536",
    )
    .await;
    let n: u64 = 512 << 20;
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
        .expect("download within 60 s");
    eprintln!(
        "512 MiB through mod_jk (64 KiB packets): {:?}",
        started.elapsed()
    );
    assert_eq!(got, n);
    // And a 10 MiB upload with 64 KiB packets.
    let data = upload_data(10 << 20);
    let v = echo(
        httpd.port(),
        req("PUT", "/echo").body(full(data.clone())).unwrap(),
    )
    .await;
    assert_eq!(v["body_sha256"], sha256_hex(&data));
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_through_mod_jk() {
    let mut b = ajp_server::Builder::new();
    b.secret("jk-secret");
    let server = AjpServer::start(b).await;
    let right = jk_for(&server, "JkWorkerProperty worker.demo.secret=jk-secret").await;
    let v = echo(right.port(), req("GET", "/echo").body(empty()).unwrap()).await;
    assert_eq!(v["method"], "GET");
    let wrong = jk_for(&server, "JkWorkerProperty worker.demo.secret=nope").await;
    let resp = send(wrong.port(), req("GET", "/echo").body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(panics(), 0);
}

/// Our idle timeout closes mod_jk's pooled connections under it; mod_jk notices before
/// reuse and reconnects: no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_pooled_connections_and_mod_jk_reconnects() {
    let mut b = ajp_server::Builder::new();
    b.idle_timeout(Some(Duration::from_millis(500)));
    let server = AjpServer::start(b).await;
    let httpd = jk_for(&server, "").await;
    check_idle_rounds(&server, httpd.port(), "mod_jk").await;
}

/// Server-sent events through mod_jk with `JkOptions +FlushPackets`: each event reaches the
/// client when the app writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_client_as_they_are_written() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let httpd = jk_for(&server, "JkOptions +FlushPackets").await;
    check_events(([127, 0, 0, 1], httpd.port()).into()).await;
    assert_eq!(panics(), 0);
}
