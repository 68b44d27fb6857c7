//! Fault injection against ajp-server (the container side) with raw sockets: each fault
//! closes the connection or is answered cleanly, nothing panics, and the server keeps
//! serving other connections.

mod server_common;

use std::time::Duration;

use ajp_codec::{
    Attribute, ContainerMessage, ForwardRequest, PacketSize, ProxyCodec, ProxyMessage,
};
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use server_common::{AjpServer, panics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

fn forward(method: &str, uri: &str, headers: Vec<(&str, String)>, size: PacketSize) -> Vec<u8> {
    let fr = ForwardRequest {
        method: http::Method::from_bytes(method.as_bytes()).unwrap(),
        protocol: "HTTP/1.1",
        req_uri: uri,
        remote_addr: "127.0.0.1",
        remote_host: None,
        server_name: "localhost",
        server_port: 80,
        is_ssl: false,
        headers: headers.iter().map(|(n, v)| (*n, v.as_str())).collect(),
        attributes: Vec::<Attribute<&str>>::new(),
    };
    let mut buf = BytesMut::new();
    fr.encode(&mut buf, size).unwrap();
    buf.to_vec()
}

fn body_packet(data: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    ajp_codec::encode_request_body(data, &mut b, PacketSize::MAX).unwrap();
    b.to_vec()
}

async fn connect(server: &AjpServer) -> TcpStream {
    TcpStream::connect(server.addr).await.unwrap()
}

/// Reads until the server closes (5 s bound); returns what it sent.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 65536];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "server did not close the connection");
    out
}

/// Decodes what the server sent as container messages.
fn messages(bytes: &[u8]) -> Vec<ContainerMessage> {
    let mut codec = ProxyCodec::new(PacketSize::DEFAULT);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = tokio_util::codec::Decoder::decode(&mut codec, &mut buf).unwrap() {
        out.push(m);
    }
    assert!(buf.is_empty(), "partial packet from the server");
    out
}

fn status_of(msgs: &[ContainerMessage]) -> Option<u16> {
    msgs.iter().find_map(|m| match m {
        ContainerMessage::SendHeaders(h) => Some(h.status),
        _ => None,
    })
}

fn end_of(msgs: &[ContainerMessage]) -> Option<bool> {
    msgs.iter().find_map(|m| match m {
        ContainerMessage::EndResponse(e) => Some(e.reuse),
        _ => None,
    })
}

async fn next(p: &mut Framed<TcpStream, ProxyCodec>) -> ContainerMessage {
    tokio::time::timeout(Duration::from_secs(5), p.next())
        .await
        .expect("answer")
        .expect("message")
        .expect("valid")
}

/// A fresh connection still gets CPONG and a 200.
async fn still_serving(server: &AjpServer) {
    let mut p = Framed::new(connect(server).await, ProxyCodec::new(PacketSize::DEFAULT));
    p.send(ProxyMessage::<&[u8]>::CPing).await.unwrap();
    assert_eq!(next(&mut p).await, ContainerMessage::CPong);
    p.get_mut()
        .write_all(&forward("GET", "/status/200", vec![], PacketSize::DEFAULT))
        .await
        .unwrap();
    let mut status = None;
    loop {
        match next(&mut p).await {
            ContainerMessage::SendHeaders(h) => status = Some(h.status),
            ContainerMessage::EndResponse(e) => {
                assert!(e.reuse);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_closed() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"\x12\x34\x00\x01\x63"[..],         // unknown message type
        &b"\x12\x34\x00\x00"[..],             // empty message where a request is due
        &b"\x12\x34\x00\x03\x02\x00\x00"[..], // Forward Request with method code 0
        &b"\x12\x34\x00\x05\x02\x02\x00\x10\x00"[..], // string runs past the packet
        &[0u8; 100][..],
    ] {
        let mut s = connect(&server).await;
        s.write_all(garbage).await.unwrap();
        let got = until_closed(&mut s).await;
        assert!(got.is_empty(), "garbage {garbage:?} was answered: {got:?}");
        still_serving(&server).await;
    }
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_request_over_the_packet_size_is_closed() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    // Declared payload larger than P − 4: refused from the header alone.
    let mut s = connect(&server).await;
    let mut pkt = vec![0x12, 0x34, 0x20, 0x00];
    pkt.extend(std::iter::repeat_n(0x41, 0x2000));
    let _ = s.write_all(&pkt).await;
    assert!(until_closed(&mut s).await.is_empty());
    // A well-formed Forward Request built for 64 KiB packets, sent to an 8 KiB server.
    let mut s = connect(&server).await;
    let big = forward(
        "GET",
        "/echo",
        vec![("x-big", "b".repeat(20_000))],
        PacketSize::MAX,
    );
    let _ = s.write_all(&big).await;
    assert!(until_closed(&mut s).await.is_empty());
    // 101 headers: over the default limit of 100 → 400 and close, as Tomcat.
    let mut s = connect(&server).await;
    let many = (0..101).map(|i| ("x-h", i.to_string())).collect();
    s.write_all(&forward("GET", "/echo", many, PacketSize::DEFAULT))
        .await
        .unwrap();
    let msgs = messages(&until_closed(&mut s).await);
    assert_eq!(status_of(&msgs), Some(400));
    assert_eq!(end_of(&msgs), Some(false));
    still_serving(&server).await;
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_packet_not_asked_for() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    // No Content-Length, app does not read: the request is answered, then the unasked
    // packet is not taken for a request: the connection is closed.
    let mut s = connect(&server).await;
    let mut bytes = forward("GET", "/status/200", vec![], PacketSize::DEFAULT);
    bytes.extend(body_packet(b"abc"));
    s.write_all(&bytes).await.unwrap();
    let msgs = messages(&until_closed(&mut s).await);
    assert_eq!(status_of(&msgs), Some(200));
    assert_eq!(
        msgs.len(),
        3,
        "head, body, end — and nothing for the stray packet"
    );

    // Content-Length 0 with a body packet anyway (what nginx_ajp would do for chunked).
    let mut s = connect(&server).await;
    let mut bytes = forward(
        "POST",
        "/echo",
        vec![("content-length", "0".into())],
        PacketSize::DEFAULT,
    );
    bytes.extend(body_packet(&[0u8; 50]));
    s.write_all(&bytes).await.unwrap();
    let msgs = messages(&until_closed(&mut s).await);
    assert_eq!(status_of(&msgs), Some(200));

    // A body packet longer than the Content-Length: a protocol error, closed.
    let mut s = connect(&server).await;
    let mut bytes = forward(
        "POST",
        "/echo",
        vec![("content-length", "10".into())],
        PacketSize::DEFAULT,
    );
    bytes.extend(body_packet(&[7u8; 20]));
    s.write_all(&bytes).await.unwrap();
    let msgs = messages(&until_closed(&mut s).await);
    assert_eq!(end_of(&msgs), None, "no END_RESPONSE after a broken body");
    still_serving(&server).await;
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_body() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    for cut_after_get in [true, false] {
        let mut s = connect(&server).await;
        let mut bytes = forward(
            "POST",
            "/echo",
            vec![("content-length", "100000".into())],
            PacketSize::DEFAULT,
        );
        bytes.extend(body_packet(&[1u8; 8186]));
        if !cut_after_get {
            // Half a packet, then gone.
            bytes.truncate(bytes.len() - 4000);
        }
        s.write_all(&bytes).await.unwrap();
        if cut_after_get {
            let mut get = [0u8; 7];
            tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut get))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                get,
                [0x41, 0x42, 0, 3, 6, 0x1f, 0xfa],
                "GET_BODY_CHUNK for 8186"
            );
        }
        drop(s);
        still_serving(&server).await;
    }
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cpings() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let mut s = connect(&server).await;
    let mut out = BytesMut::new();
    for _ in 0..10_000 {
        out.put_slice(&[0x12, 0x34, 0x00, 0x01, 0x0a]);
    }
    let (mut r, mut w) = s.split();
    let write = async { w.write_all(&out).await.unwrap() };
    let read = async {
        let mut got = vec![0u8; 50_000];
        tokio::time::timeout(Duration::from_secs(20), r.read_exact(&mut got))
            .await
            .expect("10 000 CPONGs in time")
            .unwrap();
        got
    };
    let ((), got) = tokio::join!(write, read);
    assert!(got.chunks(5).all(|c| c == [0x41, 0x42, 0x00, 0x01, 0x09]));
    // The same connection still serves a request.
    s.write_all(&forward("GET", "/status/201", vec![], PacketSize::DEFAULT))
        .await
        .unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[..2], b"AB");
    still_serving(&server).await;
    assert_eq!(server.accepted(), 2);
    assert_eq!(panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghostcat_attribute_is_403_and_closed() {
    let server = AjpServer::start(ajp_server::Builder::new()).await;
    let fr = ForwardRequest {
        method: http::Method::GET,
        protocol: "HTTP/1.1",
        req_uri: "/",
        remote_addr: "127.0.0.1",
        remote_host: None,
        server_name: "localhost",
        server_port: 80,
        is_ssl: false,
        headers: vec![],
        attributes: vec![Attribute::ReqAttribute {
            name: "javax.servlet.include.request_uri",
            value: "/WEB-INF/web.xml",
        }],
    };
    let mut buf = BytesMut::new();
    fr.encode(&mut buf, PacketSize::DEFAULT).unwrap();
    let mut s = connect(&server).await;
    s.write_all(&buf).await.unwrap();
    let msgs = messages(&until_closed(&mut s).await);
    assert_eq!(status_of(&msgs), Some(403));
    assert_eq!(end_of(&msgs), Some(false));
    still_serving(&server).await;
    assert_eq!(panics(), 0);
}
