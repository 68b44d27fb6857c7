//! Whole exchanges over an in-memory pipe, byte for byte, with the proxy's codec on the
//! other end.

use std::time::Duration;

use ajp_codec::{
    Attribute, BodyChunk, ContainerMessage, ForwardRequest, PacketSize, ProxyCodec, ProxyMessage,
};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio_util::codec::Framed;

use crate::{Builder, demo};

type Proxy = Framed<DuplexStream, ProxyCodec>;

fn start(builder: &Builder) -> (Proxy, tokio::task::JoinHandle<Result<(), crate::Error>>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let conn = builder.serve_connection(b, demo::app());
    (
        Framed::new(a, ProxyCodec::new(PacketSize::DEFAULT)),
        tokio::spawn(conn),
    )
}

fn request<'a>(
    method: http::Method,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
) -> ProxyMessage<&'a str> {
    ProxyMessage::ForwardRequest(ForwardRequest {
        method,
        protocol: "HTTP/1.1",
        req_uri: uri,
        remote_addr: "192.0.2.1",
        remote_host: None,
        server_name: "example",
        server_port: 80,
        is_ssl: false,
        headers,
        attributes: vec![Attribute::ReqAttribute {
            name: "AJP_REMOTE_PORT",
            value: "4242",
        }],
    })
}

async fn next(p: &mut Proxy) -> ContainerMessage {
    tokio::time::timeout(Duration::from_secs(5), p.next())
        .await
        .expect("timely answer")
        .expect("a message")
        .expect("valid")
}

/// Reads one response: (status, body, reuse), answering GET_BODY_CHUNKs from `body`.
async fn response(p: &mut Proxy, body: &mut &[u8]) -> (u16, Vec<u8>, bool) {
    let mut status = 0;
    let mut out = Vec::new();
    loop {
        match next(p).await {
            ContainerMessage::SendHeaders(h) => status = h.status,
            ContainerMessage::SendBodyChunk(c) => out.extend_from_slice(&c.data),
            ContainerMessage::GetBodyChunk(g) => {
                let n = body.len().min(g.requested_len as usize);
                let (now, rest) = body.split_at(n);
                p.send(ProxyMessage::Body(BodyChunk { data: now }))
                    .await
                    .unwrap();
                *body = rest;
            }
            ContainerMessage::EndResponse(e) => return (status, out, e.reuse),
            ContainerMessage::CPong => panic!("unexpected CPONG"),
        }
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn cping_then_requests_on_one_connection() {
    let (mut p, _conn) = start(&Builder::new());
    p.send(ProxyMessage::<&[u8]>::CPing).await.unwrap();
    assert_eq!(next(&mut p).await, ContainerMessage::CPong);
    for _ in 0..3 {
        let m = http::Method::from_bytes(b"FROB").unwrap();
        p.send(request(m, "/echo", vec![("x-a", "1")]))
            .await
            .unwrap();
        let (status, body, reuse) = response(&mut p, &mut &b""[..]).await;
        assert_eq!((status, reuse), (200, true));
        let v = json(&body);
        assert_eq!(v["method"], "FROB");
        assert_eq!(v["remote_port"], 4242);
        assert_eq!(v["body_len"], 0);
        p.send(ProxyMessage::<&[u8]>::CPing).await.unwrap();
        assert_eq!(next(&mut p).await, ContainerMessage::CPong);
    }
}

#[tokio::test]
async fn content_length_body_first_packet_unasked_then_pulled() {
    let (mut p, _conn) = start(&Builder::new());
    let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    p.send(request(
        http::Method::POST,
        "/echo",
        vec![("content-length", "20000")],
    ))
    .await
    .unwrap();
    p.send(ProxyMessage::Body(BodyChunk {
        data: &data[..8186],
    }))
    .await
    .unwrap();
    // Then the container asks for exactly what remains, up to P − 6.
    let ContainerMessage::GetBodyChunk(g) = next(&mut p).await else {
        panic!()
    };
    assert_eq!(g.requested_len, 8186);
    p.send(ProxyMessage::Body(BodyChunk {
        data: &data[8186..16372],
    }))
    .await
    .unwrap();
    let ContainerMessage::GetBodyChunk(g) = next(&mut p).await else {
        panic!()
    };
    assert_eq!(g.requested_len, 20_000 - 16372);
    p.send(ProxyMessage::Body(BodyChunk {
        data: &data[16372..],
    }))
    .await
    .unwrap();
    let (status, body, reuse) = response(&mut p, &mut &b""[..]).await;
    assert_eq!((status, reuse), (200, true));
    assert_eq!(json(&body)["body_len"], 20_000);
}

#[tokio::test]
async fn unread_body_only_first_packet_swallowed_connection_reusable() {
    let (mut p, _conn) = start(&Builder::new());
    let data = vec![0x02u8; 8186]; // looks like FORWARD_REQUEST if misread
    p.send(request(
        http::Method::POST,
        "/status/201",
        vec![("content-length", "100000")],
    ))
    .await
    .unwrap();
    p.send(ProxyMessage::Body(BodyChunk { data: &data[..] }))
        .await
        .unwrap();
    let (status, _, reuse) = response(&mut p, &mut &b""[..]).await;
    assert_eq!((status, reuse), (201, true));
    // The next request is read as a request, not as body.
    p.send(request(http::Method::GET, "/status/202", vec![]))
        .await
        .unwrap();
    let (status, _, reuse) = response(&mut p, &mut &b""[..]).await;
    assert_eq!((status, reuse), (202, true));
}

#[tokio::test]
async fn chunked_body_pulled_until_empty_packet() {
    let (mut p, _conn) = start(&Builder::new());
    p.send(request(
        http::Method::PUT,
        "/echo",
        vec![("transfer-encoding", "chunked")],
    ))
    .await
    .unwrap();
    let data = vec![7u8; 30_000];
    let (status, body, reuse) = response(&mut p, &mut &data[..]).await;
    assert_eq!((status, reuse), (200, true));
    assert_eq!(json(&body)["body_len"], 30_000);
}

#[tokio::test]
async fn bodiless_statuses_and_head_send_no_chunks() {
    let (mut p, _conn) = start(&Builder::new());
    for (m, uri) in [
        (http::Method::HEAD, "/download?bytes=100000"),
        (http::Method::GET, "/status/204"),
        (http::Method::GET, "/status/304"),
    ] {
        p.send(request(m, uri, vec![])).await.unwrap();
        let ContainerMessage::SendHeaders(h) = next(&mut p).await else {
            panic!()
        };
        if uri.starts_with("/download") {
            assert_eq!(h.headers_named("content-length").next().unwrap(), "100000");
        }
        assert_eq!(
            next(&mut p).await,
            ContainerMessage::EndResponse(ajp_codec::EndResponse { reuse: true })
        );
    }
}

/// HEAD answers carry the Content-Length the container adds to GET for a body of known
/// size; 204 and 304 carry none.
#[tokio::test]
async fn head_gets_the_content_length_of_get() {
    let (mut p, _conn) = start(&Builder::new());
    let mut lengths = Vec::new();
    for (m, uri) in [
        (http::Method::GET, "/"),
        (http::Method::HEAD, "/"),
        (http::Method::HEAD, "/status/404"),
        (http::Method::HEAD, "/status/204"),
        (http::Method::GET, "/status/304"),
    ] {
        p.send(request(m.clone(), uri, vec![])).await.unwrap();
        let ContainerMessage::SendHeaders(h) = next(&mut p).await else {
            panic!("{m} {uri}: SEND_HEADERS first")
        };
        lengths.push(h.headers_named("content-length").next().map(|v| v.to_vec()));
        let (_, body, reuse) = response(&mut p, &mut &b""[..]).await;
        assert!(reuse, "{m} {uri}");
        assert_eq!(
            body.is_empty(),
            m == http::Method::HEAD || uri == "/status/304"
        );
    }
    assert!(lengths[0].is_some());
    assert_eq!(lengths[1], lengths[0], "HEAD / as GET /");
    assert_eq!(lengths[2].as_deref(), Some(&b"11"[..]), "status 404\n");
    assert_eq!(lengths[3], None);
    assert_eq!(lengths[4], None);
}

#[tokio::test]
async fn download_cut_at_packet_size() {
    let mut b = Builder::new();
    b.packet_size(PacketSize::new(16384).unwrap());
    let (a, s) = tokio::io::duplex(1 << 20);
    tokio::spawn(b.serve_connection(s, demo::app()));
    let mut p = Framed::new(a, ProxyCodec::new(PacketSize::new(16384).unwrap()));
    p.send(request(http::Method::GET, "/download?bytes=100000", vec![]))
        .await
        .unwrap();
    let mut sizes = Vec::new();
    loop {
        match next(&mut p).await {
            ContainerMessage::SendBodyChunk(c) => sizes.push(c.data.len()),
            ContainerMessage::EndResponse(e) => {
                assert!(e.reuse);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), 100_000);
    assert!(sizes.iter().all(|&n| n <= 16384 - 8));
    assert_eq!(sizes[0], 16384 - 8);
}

#[tokio::test]
async fn wrong_secret_is_403_and_close() {
    let mut b = Builder::new();
    b.secret("right");
    let (mut p, conn) = start(&b);
    let mut req = request(http::Method::GET, "/", vec![]);
    if let ProxyMessage::ForwardRequest(fr) = &mut req {
        fr.attributes.push(Attribute::Secret("wrong"));
    }
    p.send(req).await.unwrap();
    let (status, _, reuse) = response(&mut p, &mut &b""[..]).await;
    assert_eq!((status, reuse), (403, false));
    assert!(p.next().await.is_none(), "closed");
    assert!(conn.await.unwrap().is_ok());
}

#[tokio::test]
async fn garbage_closes_with_protocol_error() {
    let (mut p, conn) = start(&Builder::new());
    p.get_mut()
        .write_all_buf(&mut Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"))
        .await
        .unwrap();
    let err = conn.await.unwrap().unwrap_err();
    assert!(err.is_protocol(), "{err:?}");
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_then_closes() {
    let (a, s) = tokio::io::duplex(1 << 20);
    let mut conn = Box::pin(Builder::new().serve_connection(s, demo::app()));
    let mut p = Framed::new(a, ProxyCodec::new(PacketSize::DEFAULT));
    p.send(request(
        http::Method::POST,
        "/echo",
        vec![("content-length", "3")],
    ))
    .await
    .unwrap();
    // Drive the connection until the app waits for the body: the request is in flight.
    tokio::select! {
        r = &mut conn => panic!("ended early: {r:?}"),
        () = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
    conn.graceful_shutdown();
    let client = async {
        p.send(ProxyMessage::Body(BodyChunk { data: &b"abc"[..] }))
            .await
            .unwrap();
        let answer = response(&mut p, &mut &b""[..]).await;
        (answer, p.next().await.is_none())
    };
    let (r, ((status, _, reuse), closed)) = tokio::join!(conn, client);
    assert!(r.is_ok());
    assert_eq!(
        (status, reuse),
        (200, false),
        "in-flight request completes, not reusable"
    );
    assert!(closed);
}

use tokio::io::AsyncWriteExt as _;

/// Once the app reads its body, up to `read_ahead` packets are kept coming. The proxy here
/// answers only when no further GET_BODY_CHUNK comes, and ignores the requested length (as
/// httpd does): it sends up to P − 6 of what it has. Every request but the tail is a full
/// packet, the tail is asked alone and exactly, and the body arrives whole. Asks come in
/// batches: only once at most half the window is still asked for (not one per packet
/// taken, which wakes the proxy once per packet).
#[tokio::test]
async fn body_packets_are_asked_for_ahead_up_to_read_ahead() {
    use sha2::{Digest, Sha256};
    for depth in [1usize, 4, 8] {
        let mut builder = Builder::new();
        builder.read_ahead(depth);
        let (mut p, _conn) = start(&builder);
        let total = 10 * 8186 + 123;
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let cl = total.to_string();
        p.send(request(
            http::Method::POST,
            "/echo",
            vec![("content-length", &cl)],
        ))
        .await
        .unwrap();
        p.send(ProxyMessage::Body(BodyChunk {
            data: &data[..8186],
        }))
        .await
        .unwrap();
        let mut sent = 8186;
        let mut asked: std::collections::VecDeque<u16> = Default::default();
        let mut most_asked = 0;
        // No ask seen since the last answer: the next one starts a batch.
        let mut batch_starts = true;
        let out = loop {
            // Gather what the container has to say, then answer one request.
            match tokio::time::timeout(Duration::from_millis(50), p.next()).await {
                Ok(Some(Ok(ContainerMessage::GetBodyChunk(g)))) => {
                    if std::mem::take(&mut batch_starts) {
                        assert!(
                            asked.len() <= depth / 2,
                            "depth {depth}: topped up with {asked:?} still asked for"
                        );
                    }
                    asked.push_back(g.requested_len);
                    most_asked = most_asked.max(asked.len());
                    assert!(
                        asked.len() <= depth,
                        "depth {depth}: {asked:?} asked at once"
                    );
                }
                Ok(Some(Ok(ContainerMessage::SendHeaders(h)))) => {
                    assert_eq!(h.status, 200);
                    break response(&mut p, &mut &b""[..]).await;
                }
                Ok(other) => panic!("depth {depth}: {other:?}"),
                Err(_) => {
                    let requested = asked.pop_front().expect("the container asks for more");
                    let n = (total - sent).min(8186);
                    if requested != 8186 {
                        assert!(asked.is_empty(), "the tail is asked alone");
                        assert_eq!(usize::from(requested), total - sent, "the tail is exact");
                    }
                    p.send(ProxyMessage::Body(BodyChunk {
                        data: &data[sent..sent + n],
                    }))
                    .await
                    .unwrap();
                    sent += n;
                    batch_starts = true;
                }
            }
        };
        assert_eq!(sent, total);
        assert!(asked.is_empty(), "nothing asked past the end");
        if depth == 1 {
            assert_eq!(most_asked, 1);
        } else {
            assert!(
                most_asked > 1,
                "read ahead: at most {most_asked} asked at once"
            );
        }
        let (_, body, reuse) = out;
        assert!(reuse);
        let v = json(&body);
        assert_eq!(v["body_len"], total);
        let digest: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(v["body_sha256"], digest.as_str());
    }
}

/// An app that stops reading part-way: the packets already asked for are read and
/// discarded before END_RESPONSE, nothing more is asked, and the connection stays in step.
#[tokio::test]
async fn packets_asked_ahead_are_swallowed_when_the_app_stops_reading() {
    use http_body_util::BodyExt;
    let app = tower::service_fn(|req: http::Request<crate::Body>| async move {
        let mut body = req.into_body();
        let first = match body.frame().await {
            Some(frame) => frame.unwrap().into_data().unwrap(),
            None => Bytes::new(),
        };
        // Give the connection time to ask ahead before answering.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            Bytes::from(format!("read {}", first.len())),
        )))
    });
    let (a, b) = tokio::io::duplex(1 << 20);
    // A window smaller than the body, so that part of it is never asked for.
    let mut builder = Builder::new();
    builder.read_ahead(4);
    let _conn = tokio::spawn(builder.serve_connection(b, app));
    let mut p = Framed::new(a, ProxyCodec::new(PacketSize::DEFAULT));
    let data = vec![7u8; 100_000];
    p.send(request(
        http::Method::POST,
        "/",
        vec![("content-length", "100000")],
    ))
    .await
    .unwrap();
    p.send(ProxyMessage::Body(BodyChunk {
        data: &data[..8186],
    }))
    .await
    .unwrap();
    let mut rest = &data[8186..];
    let (status, body, reuse) = response(&mut p, &mut rest).await;
    assert_eq!((status, reuse), (200, true));
    assert_eq!(body, b"read 8186");
    let answered = (100_000 - 8186 - rest.len()) / 8186;
    assert!(
        (1..=4).contains(&answered),
        "{answered} packets asked ahead (read_ahead 4)"
    );
    assert!(!rest.is_empty(), "the rest of the body is never asked for");
    // In step: the next request on the connection works.
    p.send(request(http::Method::GET, "/", vec![]))
        .await
        .unwrap();
    let (status, body, _) = response(&mut p, &mut &b""[..]).await;
    assert_eq!((status, body.as_slice()), (200, &b"read 0"[..]));
}

#[tokio::test(start_paused = true)]
async fn idle_connections_close_after_the_idle_timeout_and_messages_reset_it() {
    let mut builder = Builder::new();
    builder.idle_timeout(Some(Duration::from_secs(30)));
    let (mut p, conn) = start(&builder);
    // Each message, answered, restarts the wait.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        p.send(ProxyMessage::<&[u8]>::CPing).await.unwrap();
        assert_eq!(next(&mut p).await, ContainerMessage::CPong);
    }
    p.send(request(http::Method::GET, "/hello", vec![]))
        .await
        .unwrap();
    let (status, _, reuse) = response(&mut p, &mut &b""[..]).await;
    assert_eq!((status, reuse), (200, true));
    // Then 30 s of silence: closed cleanly.
    let started = tokio::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(3600), conn).await;
    closed.expect("closed when idle").unwrap().unwrap();
    assert_eq!(started.elapsed().as_secs(), 30);
    assert!(p.next().await.is_none(), "the connection is closed");

    // Without the option, an idle connection stays.
    let (mut p, conn) = start(&Builder::new());
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert!(!conn.is_finished());
    p.send(ProxyMessage::<&[u8]>::CPing).await.unwrap();
    assert_eq!(next(&mut p).await, ContainerMessage::CPong);
}

#[tokio::test(start_paused = true)]
async fn a_request_head_stalled_mid_packet_is_closed_at_the_idle_timeout() {
    let mut builder = Builder::new();
    builder.idle_timeout(Some(Duration::from_secs(5)));
    let (mut p, conn) = start(&builder);
    // The first 3 bytes of a packet, then nothing.
    p.get_mut()
        .write_all_buf(&mut Bytes::from_static(b"\x12\x34\x00"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(3600), conn).await;
    closed.expect("closed when stalled").unwrap().unwrap();
    assert_eq!(started.elapsed().as_secs(), 5);
}

/// Frames the app has ready are packed into full SEND_BODY_CHUNKs; a short rest is held
/// only while more is ready, and goes out as soon as the app's body waits.
#[tokio::test]
async fn body_packets_are_filled_across_frames_and_sent_when_the_app_waits() {
    use http_body_util::channel::Channel;
    let (mut tx, rx) = Channel::<Bytes>::new(4);
    let rx = std::sync::Mutex::new(Some(rx));
    let app = tower::service_fn(move |_req: http::Request<crate::Body>| {
        let body = rx.lock().unwrap().take().expect("one request");
        async move { Ok::<_, std::convert::Infallible>(http::Response::new(body)) }
    });
    let (a, b) = tokio::io::duplex(1 << 20);
    let _conn = tokio::spawn(Builder::new().serve_connection(b, app));
    let mut p = Framed::new(a, ProxyCodec::new(PacketSize::DEFAULT));
    p.send(request(http::Method::GET, "/", vec![]))
        .await
        .unwrap();
    // Three 4 KiB frames, all ready: one full packet and a short rest, sent once the app
    // waits (it does not finish: the rest must not wait for it).
    for i in 0..3u8 {
        tx.send_data(Bytes::from(vec![i; 4096])).await.unwrap();
    }
    let mut sizes = Vec::new();
    let mut data = Vec::new();
    while sizes.iter().sum::<usize>() < 3 * 4096 {
        match next(&mut p).await {
            ContainerMessage::SendHeaders(h) => assert_eq!(h.status, 200),
            ContainerMessage::SendBodyChunk(c) => {
                sizes.push(c.data.len());
                data.extend_from_slice(&c.data);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sizes, [8184, 3 * 4096 - 8184]);
    // More later, then the end.
    tx.send_data(Bytes::from(vec![9; 100])).await.unwrap();
    drop(tx);
    loop {
        match next(&mut p).await {
            ContainerMessage::SendBodyChunk(c) => {
                sizes.push(c.data.len());
                data.extend_from_slice(&c.data);
            }
            ContainerMessage::EndResponse(e) => {
                assert!(e.reuse);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sizes, [8184, 3 * 4096 - 8184, 100]);
    let want: Vec<u8> = [vec![0; 4096], vec![1; 4096], vec![2; 4096], vec![9; 100]].concat();
    assert_eq!(data, want);
}

/// Serves `app` (any function of the request) on an in-memory pipe.
fn start_app<F, B>(app: F) -> (Proxy, tokio::task::JoinHandle<Result<(), crate::Error>>)
where
    F: Fn(http::Request<crate::Body>) -> http::Response<B> + Send + Sync + Clone + 'static,
    B: http_body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + 'static,
{
    let (a, b) = tokio::io::duplex(1 << 20);
    let svc = tower::service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(app(req)) }
    });
    let conn = Builder::new().serve_connection(b, svc);
    (
        Framed::new(a, ProxyCodec::new(PacketSize::DEFAULT)),
        tokio::spawn(conn),
    )
}

/// A head too large for one packet is replaced by a bare 500, and the app's body (meant
/// for its 200) is not sent after it: the proxy would pass it on under the 500's
/// `Content-Length: 0`.
#[tokio::test]
async fn an_oversized_head_becomes_a_bare_500_without_the_apps_body() {
    let (mut p, _conn) = start_app(|_req| {
        http::Response::builder()
            .header("x-big", "x".repeat(9000))
            .body(http_body_util::Full::new(Bytes::from_static(
                b"secret page",
            )))
            .unwrap()
    });
    for _ in 0..2 {
        p.send(request(http::Method::GET, "/", vec![]))
            .await
            .unwrap();
        let ContainerMessage::SendHeaders(h) = next(&mut p).await else {
            panic!("SEND_HEADERS first")
        };
        assert_eq!(h.status, 500);
        assert_eq!(h.headers_named("content-length").next().unwrap(), "0");
        assert_eq!(
            next(&mut p).await,
            ContainerMessage::EndResponse(ajp_codec::EndResponse { reuse: true })
        );
    }
}

/// An app that already emptied its body for HEAD (as axum does for a body of unknown
/// length) gets no `Content-Length: 0` made up for it.
#[tokio::test]
async fn head_with_an_emptied_body_gets_no_made_up_length() {
    let (mut p, _conn) = start_app(|req| {
        let body = if req.method() == http::Method::HEAD {
            http_body_util::Full::new(Bytes::new())
        } else {
            http_body_util::Full::new(Bytes::from_static(b"hello"))
        };
        http::Response::new(body)
    });
    let mut lengths = Vec::new();
    for m in [http::Method::HEAD, http::Method::GET] {
        p.send(request(m, "/", vec![])).await.unwrap();
        let ContainerMessage::SendHeaders(h) = next(&mut p).await else {
            panic!("SEND_HEADERS first")
        };
        lengths.push(h.headers_named("content-length").next().map(|v| v.to_vec()));
        let (_, _, reuse) = response(&mut p, &mut &b""[..]).await;
        assert!(reuse);
    }
    assert_eq!(lengths, [None, Some(b"5".to_vec())]);
}
