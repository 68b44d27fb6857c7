//! The `Decoder`/`Encoder` contract, in the style of tokio-util's `tests/framed_read.rs`:
//! packets split across reads at every byte offset, partial packets at EOF, oversize
//! lengths refused before anything is buffered, and failed encodes that leave the
//! destination untouched, at the smallest and largest packet sizes.

use ajp_codec::{
    Attribute, BodyChunk, ContainerCodec, ContainerMessage, DecodeError, EncodeError, EndResponse,
    ForwardRequest, GetBodyChunk, PacketSize, ProxyCodec, ProxyMessage, SendHeaders,
};
use bytes::{BufMut, Bytes, BytesMut};
use http::Method;
use tokio_util::codec::{Decoder, Encoder};

const SIZES: [PacketSize; 2] = [PacketSize::MIN, PacketSize::MAX];

fn request(pad: usize) -> ForwardRequest<Bytes> {
    ForwardRequest {
        method: Method::POST,
        protocol: Bytes::from_static(b"HTTP/1.1"),
        req_uri: Bytes::from_static(b"/app/form"),
        remote_addr: Bytes::from_static(b"192.0.2.7"),
        remote_host: None,
        server_name: Bytes::from_static(b"www.example.com"),
        server_port: 443,
        is_ssl: true,
        headers: vec![
            (
                Bytes::from_static(b"host"),
                Bytes::from_static(b"www.example.com"),
            ),
            (
                Bytes::from_static(b"content-length"),
                Bytes::from_static(b"5"),
            ),
            (Bytes::from_static(b"x-pad"), Bytes::from(vec![b'p'; pad])),
        ],
        attributes: vec![
            Attribute::QueryString(Bytes::from_static(b"a=1")),
            Attribute::ReqAttribute {
                name: Bytes::from_static(b"AJP_REMOTE_PORT"),
                value: Bytes::from_static(b"50000"),
            },
        ],
    }
}

fn proxy_messages() -> Vec<ProxyMessage> {
    vec![
        ProxyMessage::ForwardRequest(request(3)),
        ProxyMessage::Body(BodyChunk {
            data: Bytes::from_static(b"hello"),
        }),
        ProxyMessage::Body(BodyChunk { data: Bytes::new() }),
        ProxyMessage::CPing,
    ]
}

fn container_messages() -> Vec<ContainerMessage> {
    vec![
        ContainerMessage::GetBodyChunk(GetBodyChunk {
            requested_len: 8186,
        }),
        ContainerMessage::SendHeaders(SendHeaders {
            status: 200,
            message: Some(Bytes::from_static(b"200")),
            headers: vec![(
                Bytes::from_static(b"content-type"),
                Bytes::from_static(b"text/plain"),
            )],
        }),
        ContainerMessage::SendBodyChunk(BodyChunk {
            data: Bytes::from_static(b"Hello, AJP!\n"),
        }),
        ContainerMessage::EndResponse(EndResponse { reuse: true }),
        ContainerMessage::CPong,
    ]
}

fn encode_proxy(m: &ProxyMessage, p: PacketSize) -> BytesMut {
    let mut b = BytesMut::new();
    ProxyCodec::new(p).encode(m.clone(), &mut b).unwrap();
    b
}

fn encode_container(m: &ContainerMessage, p: PacketSize) -> BytesMut {
    let mut b = BytesMut::new();
    ContainerCodec::new(p).encode(m.clone(), &mut b).unwrap();
    b
}

/// For every message, every cut `0..len`: the first part gives `Ok(None)` and consumes
/// nothing; adding the rest and the whole next packet gives the message and leaves exactly
/// the next packet.
#[test]
fn proxy_codec_packet_split_at_every_offset() {
    for p in SIZES {
        let next = encode_container(&ContainerMessage::CPong, p);
        for m in container_messages() {
            let packet = encode_container(&m, p);
            for cut in 0..packet.len() {
                let mut codec = ProxyCodec::new(p);
                let mut buf = BytesMut::from(&packet[..cut]);
                assert!(codec.decode(&mut buf).unwrap().is_none(), "{m:?} cut {cut}");
                assert_eq!(
                    buf.len(),
                    cut,
                    "nothing consumed before the packet is whole"
                );
                buf.extend_from_slice(&packet[cut..]);
                buf.extend_from_slice(&next);
                let decoded = codec.decode(&mut buf).unwrap().expect("a whole packet");
                assert_eq!(decoded, m);
                assert_eq!(buf, next, "exactly one packet consumed");
            }
        }
    }
}

#[test]
fn container_codec_packet_split_at_every_offset() {
    for p in SIZES {
        let next = encode_proxy(&ProxyMessage::CPing, p);
        for m in proxy_messages() {
            let body = matches!(m, ProxyMessage::Body(_));
            let packet = encode_proxy(&m, p);
            for cut in 0..packet.len() {
                let mut codec = ContainerCodec::new(p);
                if body {
                    codec.expect_body();
                }
                let mut buf = BytesMut::from(&packet[..cut]);
                assert!(codec.decode(&mut buf).unwrap().is_none(), "{m:?} cut {cut}");
                assert_eq!(buf.len(), cut);
                // Still waiting for the body packet: the mode survives an incomplete read.
                assert_eq!(codec.is_expecting_body(), body);
                buf.extend_from_slice(&packet[cut..]);
                buf.extend_from_slice(&next);
                let decoded = codec.decode(&mut buf).unwrap().expect("a whole packet");
                assert_eq!(ProxyMessage::from(decoded), m);
                assert_eq!(buf, next, "exactly one packet consumed");
                // Body mode applies to one packet only.
                assert!(!codec.is_expecting_body());
                assert_eq!(codec.decode(&mut buf).unwrap(), Some(ProxyMessage::CPing));
            }
        }
    }
}

/// A stream that ends inside a packet is an error at EOF, never a silent `None`.
#[test]
fn partial_packet_then_eof() {
    let p = PacketSize::DEFAULT;
    for m in container_messages() {
        let packet = encode_container(&m, p);
        for cut in 1..packet.len() {
            let mut buf = BytesMut::from(&packet[..cut]);
            let mut codec = ProxyCodec::new(p);
            assert!(codec.decode(&mut buf).unwrap().is_none());
            match codec.decode_eof(&mut buf) {
                Err(DecodeError::UnexpectedEof { buffered }) => assert_eq!(buffered, cut),
                other => panic!("{m:?} cut at {cut}: {other:?}"),
            }
        }
    }
    for m in proxy_messages() {
        let packet = encode_proxy(&m, p);
        for cut in 1..packet.len() {
            let mut buf = BytesMut::from(&packet[..cut]);
            match ContainerCodec::new(p).decode_eof(&mut buf) {
                Err(DecodeError::UnexpectedEof { buffered }) => assert_eq!(buffered, cut),
                other => panic!("{m:?} cut at {cut}: {other:?}"),
            }
        }
    }
}

/// Whole packets at EOF are still delivered, then `Ok(None)` on the empty buffer.
#[test]
fn whole_packets_then_eof() {
    let p = PacketSize::DEFAULT;
    let mut buf = BytesMut::new();
    for m in container_messages() {
        buf.extend_from_slice(&encode_container(&m, p));
    }
    let mut codec = ProxyCodec::new(p);
    for m in container_messages() {
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(m));
    }
    assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    assert!(codec.decode_eof(&mut buf).unwrap().is_none());
}

/// A declared length over the limit fails from the 4-byte header alone, and the buffer
/// never grows towards the declared length.
#[test]
fn oversize_length_rejected_before_buffering() {
    for p in SIZES {
        for declared in [p.max_payload() as u16 + 1, 0xFFFF] {
            if declared as usize <= p.max_payload() {
                continue;
            }
            let mut buf = BytesMut::with_capacity(16);
            buf.put_slice(b"AB");
            buf.put_u16(declared);
            let cap = buf.capacity();
            match ProxyCodec::new(p).decode(&mut buf) {
                Err(DecodeError::TooLarge { len, max }) => {
                    assert_eq!((len, max), (declared as usize, p.max_payload()));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(buf.capacity(), cap, "no room reserved for a refused packet");
            assert!(buf.capacity() < declared as usize);

            let mut buf = BytesMut::with_capacity(16);
            buf.put_slice(&[0x12, 0x34]);
            buf.put_u16(declared);
            let mut codec = ContainerCodec::new(p);
            codec.expect_body();
            assert!(matches!(
                codec.decode(&mut buf),
                Err(DecodeError::TooLarge { .. })
            ));
            assert_eq!(buf.capacity(), cap);
        }
    }
    // For contrast: a length within the limit reserves room for the whole packet, so the
    // next reads need no reallocation.
    let p = PacketSize::MAX;
    let mut buf = BytesMut::with_capacity(16);
    buf.put_slice(b"AB");
    buf.put_u16(p.max_payload() as u16);
    assert!(ProxyCodec::new(p).decode(&mut buf).unwrap().is_none());
    assert!(buf.capacity() >= p.get());
}

/// Pads `request` so that its payload is exactly `payload_len` bytes.
fn request_of_payload_len(p: PacketSize, payload_len: usize) -> ForwardRequest<Bytes> {
    let mut probe = BytesMut::new();
    request(0).encode(&mut probe, p).unwrap();
    let base = probe.len() - 4;
    request(payload_len - base)
}

#[test]
fn forward_request_of_exactly_p_minus_4_fits_and_one_more_byte_fails() {
    for p in SIZES {
        let fits = request_of_payload_len(p, p.max_payload());
        let mut dst = BytesMut::from(&b"queued"[..]);
        ProxyCodec::new(p)
            .encode(ProxyMessage::ForwardRequest(fits.clone()), &mut dst)
            .unwrap();
        assert_eq!(dst.len(), 6 + p.get(), "a full packet");
        assert_eq!(&dst[8..10], &(p.max_payload() as u16).to_be_bytes());
        let mut rx = dst.split_off(6);
        let decoded = ContainerCodec::new(p).decode(&mut rx).unwrap();
        let decoded = ProxyMessage::from(decoded.expect("a whole packet"));
        assert_eq!(decoded, ProxyMessage::ForwardRequest(fits));

        let too_big = request_of_payload_len(p, p.max_payload() + 1);
        let mut dst = BytesMut::from(&b"queued"[..]);
        match ProxyCodec::new(p).encode(ProxyMessage::ForwardRequest(too_big), &mut dst) {
            Err(EncodeError::TooLarge { len, max }) => {
                assert_eq!(max, p.max_payload());
                assert!(len > max);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(&dst[..], b"queued", "a failed encode leaves dst unchanged");
    }
}

#[test]
fn forward_request_far_too_large_leaves_dst_unchanged() {
    let p = PacketSize::DEFAULT;
    let mut r = request(0);
    // Many headers, each fine, together far over the limit: encoding stops early.
    r.headers = (0..2000)
        .map(|i| (Bytes::from(format!("x-h{i}")), Bytes::from_static(b"value")))
        .collect();
    let mut dst = BytesMut::from(&b"queued"[..]);
    assert!(matches!(
        r.encode(&mut dst, p),
        Err(EncodeError::TooLarge { max: 8188, .. })
    ));
    assert_eq!(&dst[..], b"queued");
}

#[test]
fn send_headers_too_large_leaves_dst_unchanged() {
    for p in SIZES {
        let half = vec![b'a'; p.max_payload() / 2];
        let head = SendHeaders {
            status: 200,
            message: None,
            headers: vec![(&b"x-a"[..], &half[..]), (&b"x-b"[..], &half[..])],
        };
        let mut dst = BytesMut::from(&b"queued"[..]);
        assert!(matches!(
            ContainerCodec::new(p).encode(ContainerMessage::SendHeaders(head), &mut dst),
            Err(EncodeError::TooLarge { .. })
        ));
        assert_eq!(&dst[..], b"queued");
    }
}

#[test]
fn request_body_of_p_minus_6_fits_and_one_more_byte_fails() {
    for p in SIZES {
        let max = p.max_request_body();
        let data = vec![7u8; max + 1];
        let mut dst = BytesMut::from(&b"queued"[..]);
        BodyChunk { data: &data[..max] }
            .encode_request(&mut dst, p)
            .unwrap();
        assert_eq!(dst.len(), 6 + p.get());
        let mut dst = BytesMut::from(&b"queued"[..]);
        match (BodyChunk { data: &data[..] }).encode_request(&mut dst, p) {
            Err(EncodeError::BodyTooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
            other => panic!("{other:?}"),
        }
        assert_eq!(&dst[..], b"queued");
    }
}

#[test]
fn send_body_chunk_of_p_minus_8_fits_and_one_more_byte_fails() {
    for p in SIZES {
        let max = p.max_response_body();
        let data = vec![7u8; max + 1];
        let mut dst = BytesMut::from(&b"queued"[..]);
        BodyChunk { data: &data[..max] }
            .encode_response(&mut dst, p)
            .unwrap();
        assert_eq!(dst.len(), 6 + p.get());
        let mut dst = BytesMut::from(&b"queued"[..]);
        match (BodyChunk { data: &data[..] }).encode_response(&mut dst, p) {
            Err(EncodeError::BodyTooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
            other => panic!("{other:?}"),
        }
        assert_eq!(&dst[..], b"queued");
    }
}

#[test]
fn unencodable_strings_leave_dst_unchanged() {
    let p = PacketSize::MAX;
    let long = vec![b'v'; 0xFFFF];
    let mut r = request(0);
    r.headers
        .push((Bytes::from_static(b"x-long"), Bytes::from(long)));
    let mut dst = BytesMut::from(&b"queued"[..]);
    assert!(matches!(
        r.encode(&mut dst, p),
        Err(EncodeError::StringTooLong {
            field: "header value",
            len: 0xFFFF
        })
    ));
    assert_eq!(&dst[..], b"queued");

    let mut r = request(0);
    r.headers
        .push((Bytes::from(vec![b'n'; 0xA005]), Bytes::new()));
    assert!(matches!(
        r.encode(&mut dst, p),
        Err(EncodeError::HeaderNameTooLong { len: 0xA005 })
    ));
    assert_eq!(&dst[..], b"queued");
}
