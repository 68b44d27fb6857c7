//! Zero copy, by pointer: decoded body data (SEND_BODY_CHUNK and request body packets) and
//! decoded strings point into the read buffer's original allocation.

use ajp_codec::{
    BodyChunk, ContainerCodec, ContainerMessage, ForwardRequest, PacketSize, ProxyCodec,
    ProxyMessage,
};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

fn inside(allocation: &std::ops::Range<usize>, data: &[u8]) -> bool {
    let start = data.as_ptr() as usize;
    allocation.contains(&start) && start + data.len() <= allocation.end
}

fn allocation(buf: &BytesMut) -> std::ops::Range<usize> {
    let start = buf.as_ptr() as usize;
    start..start + buf.capacity()
}

#[test]
fn send_body_chunk_data_shares_the_read_buffer() {
    let p = PacketSize::MAX;
    let mut buf = BytesMut::with_capacity(2 * p.get());
    let area = allocation(&buf);
    let data: Vec<u8> = (0..p.max_response_body()).map(|i| i as u8).collect();
    for len in [data.len(), 1000] {
        BodyChunk { data: &data[..len] }
            .encode_response(&mut buf, p)
            .unwrap();
    }
    let mut codec = ProxyCodec::new(p);
    for len in [data.len(), 1000] {
        let Some(ContainerMessage::SendBodyChunk(chunk)) = codec.decode(&mut buf).unwrap() else {
            panic!("expected SEND_BODY_CHUNK");
        };
        assert_eq!(chunk.data, data[..len]);
        assert!(inside(&area, &chunk.data), "chunk data was copied");
    }
}

#[test]
fn request_body_data_and_request_strings_share_the_read_buffer() {
    let p = PacketSize::DEFAULT;
    let mut buf = BytesMut::with_capacity(2 * p.get());
    let area = allocation(&buf);
    let request = ForwardRequest {
        method: http::Method::POST,
        protocol: "HTTP/1.1",
        req_uri: "/upload",
        remote_addr: "192.0.2.1",
        remote_host: None,
        server_name: "example.com",
        server_port: 80,
        is_ssl: false,
        headers: vec![("content-length", "4000"), ("x-trace", "abc")],
        attributes: vec![],
    };
    request.encode(&mut buf, p).unwrap();
    let body = vec![0x42; 4000];
    BodyChunk { data: &body[..] }
        .encode_request(&mut buf, p)
        .unwrap();

    let mut codec = ContainerCodec::new(p);
    let Some(ProxyMessage::ForwardRequest(head)) = codec.decode(&mut buf).unwrap() else {
        panic!("expected FORWARD_REQUEST");
    };
    assert!(inside(&area, head.payload()), "the head was copied");
    assert!(inside(&area, &head.share(head.req_uri())));
    let (name, value) = head.headers().nth(1).unwrap();
    assert!(inside(&area, &head.share(name)), "x-trace name");
    assert!(inside(&area, &head.share(value)), "x-trace value");
    // Its plain form shares the buffer too.
    let plain = head.to_forward_request();
    assert!(inside(&area, &plain.req_uri));
    assert!(inside(&area, &plain.headers[1].0), "x-trace name");
    assert!(inside(&area, &plain.headers[1].1), "x-trace value");
    codec.expect_body();
    let Some(ProxyMessage::Body(chunk)) = codec.decode(&mut buf).unwrap() else {
        panic!("expected a body packet");
    };
    assert_eq!(chunk.data.len(), 4000);
    assert!(inside(&area, &chunk.data), "body data was copied");
}
