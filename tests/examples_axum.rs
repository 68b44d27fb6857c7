//! The `axum_fallback` example, run as a user would, answers its own route and proxies
//! everything else to real Tomcat over AJP.
//!
//! `cargo test` builds the examples before running integration tests; when running this
//! file alone, build them first (`cargo build --examples`).

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use support::gateway::{bytes, send};
use support::proc::Supervised;
use support::tomcat::{Connector, tomcat};
use support::webapp::Echo;

#[tokio::test]
async fn axum_fallback_example_proxies_to_tomcat() {
    let ajp = tomcat().ajp_port(Connector::Plain);
    let port = support::free_port();
    let dir = tempdir("axum-example");
    let _proc = Supervised::spawn(
        "axum_fallback",
        support::example("axum_fallback").to_str().unwrap(),
        &[
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--backend".into(),
            format!("ajp://127.0.0.1:{ajp}"),
        ],
        &[],
        &dir,
        &dir.join("example.log"),
        None,
    );
    assert!(
        support::wait_for_port(port, Duration::from_secs(20)),
        "example did not listen: {}",
        std::fs::read_to_string(dir.join("example.log")).unwrap_or_default()
    );
    let addr = support::local(port);
    let get = |p: &str| {
        Request::get(p)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    let resp = send(addr, get("/healthz")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(bytes(resp).await, "ok\n");

    let resp = send(addr, get("/hello")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(bytes(resp).await, "Hello, AJP!\n");

    let resp = send(addr, get("/echo?via=axum")).await;
    let e = Echo::parse(&bytes(resp).await);
    assert_eq!(e.query(), Some("via=axum"));
    // The client address comes from axum's ConnectInfo, through the service's hook.
    assert_eq!(e.req("remote_addr"), "127.0.0.1");
    // getLocalPort() is AJP's server_port: the port the client connected to, the example's.
    assert_eq!(e.req("local_port"), port.to_string());
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-ajp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
