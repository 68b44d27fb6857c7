//! ajp-server on a Unix socket, behind real httpd mod_proxy_ajp (`unix:PATH|ajp://`), and
//! graceful shutdown of `Builder::serve`: in-flight requests finish, idle connections
//! close (no more CPONG), new connections are refused.

mod server_common;
mod support;

use std::future::IntoFuture;
use std::time::Duration;

use ajp_codec::{ContainerMessage, ForwardRequest, PacketSize, ProxyCodec, ProxyMessage};
use futures_util::{SinkExt, StreamExt};
use http::Request;
use server_common::{echo, empty, full, sha256_hex, upload_data};
use support::httpd::Httpd;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::codec::Framed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpd_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("tower-ajp-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ajp.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    // httpd's children run as www-data when the tests run as root.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(
        ajp_server::Builder::new()
            .serve(listener, ajp_server::demo::app())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let conf = format!(
        "ProxyPass \"/\" \"unix:{}|ajp://localhost/\"\n",
        path.display()
    );
    let httpd = tokio::task::spawn_blocking(move || Httpd::start(&conf, &[]))
        .await
        .unwrap();
    let req = |m: &str, p: &str| {
        Request::builder()
            .method(m)
            .uri(p)
            .header("host", "127.0.0.1")
    };
    let v = echo(
        httpd.port(),
        req("GET", "/echo?uds=1").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(v["query"], "uds=1", "{v}");
    let data = upload_data(3 << 20);
    let v = echo(
        httpd.port(),
        req("POST", "/echo").body(full(data.clone())).unwrap(),
    )
    .await;
    assert_eq!(v["body_sha256"], sha256_hex(&data));
    drop(httpd);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serve)
        .await
        .expect("serve ends after shutdown")
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn forward(uri: &str, cl: Option<&str>) -> ProxyMessage<String> {
    ProxyMessage::ForwardRequest(ForwardRequest {
        method: http::Method::POST,
        protocol: "HTTP/1.1".into(),
        req_uri: uri.into(),
        remote_addr: "127.0.0.1".into(),
        remote_host: None,
        server_name: "localhost".into(),
        server_port: 80,
        is_ssl: false,
        headers: cl
            .map(|v| vec![("content-length".to_owned(), v.to_owned())])
            .unwrap_or_default(),
        attributes: vec![],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_and_closes_idle() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(
        ajp_server::Builder::new()
            .serve(listener, ajp_server::demo::app())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let connect = || async {
        Framed::new(
            tokio::net::TcpStream::connect(addr).await.unwrap(),
            ProxyCodec::new(PacketSize::DEFAULT),
        )
    };
    let mut idle = connect().await;
    idle.send(ProxyMessage::<&[u8]>::CPing).await.unwrap();
    assert_eq!(idle.next().await.unwrap().unwrap(), ContainerMessage::CPong);
    // A request in flight: the app waits for its 3-byte body.
    let mut busy = connect().await;
    busy.send(forward("/echo", Some("3"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Idle: closed, a CPING goes unanswered.
    let _ = idle.send(ProxyMessage::<&[u8]>::CPing).await;
    let r = tokio::time::timeout(Duration::from_secs(5), idle.next())
        .await
        .unwrap();
    assert!(!matches!(r, Some(Ok(ContainerMessage::CPong))), "{r:?}");
    // New connections are refused.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // In flight: completes with reuse = false.
    busy.send(ProxyMessage::Body(ajp_codec::BodyChunk {
        data: "abc".to_owned(),
    }))
    .await
    .unwrap();
    let mut status = None;
    let reuse = loop {
        match tokio::time::timeout(Duration::from_secs(5), busy.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            ContainerMessage::SendHeaders(h) => status = Some(h.status),
            ContainerMessage::EndResponse(e) => break e.reuse,
            _ => {}
        }
    };
    assert_eq!((status, reuse), (Some(200), false));
    tokio::time::timeout(Duration::from_secs(5), serve)
        .await
        .expect("serve resolves once connections are closed")
        .unwrap()
        .unwrap();
}
