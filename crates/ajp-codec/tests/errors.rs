//! One test per kind of protocol violation: crafted bytes in, the exact [`DecodeError`]
//! variant out, with the field and payload offset it names. Never a panic.

use ajp_codec::{
    ContainerCodec, DecodeError, PacketSize, ProxyCodec, TO_CONTAINER_MAGIC, TO_PROXY_MAGIC,
};
use bytes::{BufMut, BytesMut};
use tokio_util::codec::Decoder;

const P: PacketSize = PacketSize::DEFAULT;

/// Builds a payload field by field; `len()` is the offset of the next field.
#[derive(Default)]
struct Payload(Vec<u8>);

impl Payload {
    fn u8(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn str(self, s: &str) -> Self {
        let mut p = self.u16(s.len() as u16);
        p.0.extend_from_slice(s.as_bytes());
        p.0.push(0);
        p
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A valid Forward Request up to and including `num_headers` (GET, no headers yet).
fn forward_head(method: u8, num_headers: u16) -> Payload {
    Payload::default()
        .u8(2)
        .u8(method)
        .str("HTTP/1.1")
        .str("/")
        .str("127.0.0.1")
        .u16(0xFFFF)
        .str("localhost")
        .u16(80)
        .u8(0)
        .u16(num_headers)
}

fn packet(magic: [u8; 2], payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::from(&magic[..]);
    b.put_u16(payload.len() as u16);
    b.put_slice(payload);
    b
}

/// What a container makes of one packet (as a message, or as a body packet).
fn to_container(payload: &Payload, body: bool) -> DecodeError {
    let mut codec = ContainerCodec::new(P);
    if body {
        codec.expect_body();
    }
    let mut buf = packet(TO_CONTAINER_MAGIC, &payload.0);
    let err = codec.decode(&mut buf).expect_err("must be rejected");
    assert!(buf.is_empty(), "the bad packet is consumed whole");
    err
}

/// What a proxy makes of one packet.
fn to_proxy(payload: &Payload) -> DecodeError {
    let mut buf = packet(TO_PROXY_MAGIC, &payload.0);
    let err = ProxyCodec::new(P)
        .decode(&mut buf)
        .expect_err("must be rejected");
    assert!(buf.is_empty(), "the bad packet is consumed whole");
    err
}

macro_rules! assert_err {
    ($err:expr, $pat:pat $(if $guard:expr)?) => {{
        let err = $err;
        assert!(matches!(err, $pat $(if $guard)?), "got {err:?}");
        // Every error explains itself.
        assert!(!err.to_string().is_empty());
    }};
}

#[test]
fn bad_magic() {
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    assert_err!(
        ContainerCodec::new(P).decode(&mut buf).unwrap_err(),
        DecodeError::BadMagic {
            found: [b'G', b'E']
        }
    );
    // Each direction has its own magic: a proxy's packet sent back to a proxy is refused.
    let mut buf = packet(TO_CONTAINER_MAGIC, &[10]);
    assert_err!(
        ProxyCodec::new(P).decode(&mut buf).unwrap_err(),
        DecodeError::BadMagic {
            found: [0x12, 0x34]
        }
    );
    // Detected from the first byte, without waiting for more.
    let mut buf = BytesMut::from(&b"A"[..]);
    assert_err!(
        ContainerCodec::new(P).decode(&mut buf).unwrap_err(),
        DecodeError::BadMagic { found: [b'A', 0] }
    );
}

#[test]
fn oversize_packet() {
    for (size, len) in [(8192usize, 8189u16), (8192, 0xFFFF), (65536, 0xFFFD)] {
        let p = PacketSize::new(size).unwrap();
        let mut buf = BytesMut::from(&TO_PROXY_MAGIC[..]);
        buf.put_u16(len);
        assert_err!(
            ProxyCodec::new(p).decode(&mut buf).unwrap_err(),
            DecodeError::TooLarge { len: l, max } if l == len as usize && max == size - 4
        );
    }
}

#[test]
fn oversize_body_chunk() {
    // Request body packet: data over P − 6 (8186).
    let body = Payload::default().u16(8187).raw(&[0; 8186]);
    assert_err!(
        to_container(&body, true),
        DecodeError::BodyTooLarge {
            len: 8187,
            max: 8186
        }
    );
    // SEND_BODY_CHUNK: data over P − 8 (8184), even without the trailing NUL.
    let chunk = Payload::default().u8(3).u16(8185).raw(&[0; 8185]);
    assert_err!(
        to_proxy(&chunk),
        DecodeError::BodyTooLarge {
            len: 8185,
            max: 8184
        }
    );
}

#[test]
fn empty_message() {
    assert_err!(
        to_container(&Payload::default(), false),
        DecodeError::EmptyMessage
    );
    assert_err!(to_proxy(&Payload::default()), DecodeError::EmptyMessage);
}

#[test]
fn truncated_field() {
    // The packet ends right after the method byte.
    let p = Payload::default().u8(2).u8(2);
    assert_err!(
        to_container(&p, false),
        DecodeError::Truncated {
            field: "protocol",
            offset: 2
        }
    );
    // ... after server_port, inside is_ssl.
    let head = forward_head(2, 0).0;
    let cut = Payload::default().raw(&head[..head.len() - 3]);
    assert_err!(
        to_container(&cut, false),
        DecodeError::Truncated {
            field: "is_ssl",
            offset
        } if offset == head.len() - 3
    );
    // ... before the attribute list's end marker.
    assert_err!(
        to_container(&forward_head(2, 0), false),
        DecodeError::Truncated {
            field: "attribute code",
            offset
        } if offset == forward_head(2, 0).len()
    );
    // A one-byte request body packet has half a length.
    assert_err!(
        to_container(&Payload::default().u8(0), true),
        DecodeError::Truncated {
            field: "body length",
            offset: 0
        }
    );
    // Body data shorter than its length.
    assert_err!(
        to_container(&Payload::default().u16(5).raw(b"abc"), true),
        DecodeError::Truncated {
            field: "body data",
            offset: 2
        }
    );
    assert_err!(
        to_proxy(&Payload::default().u8(3).u16(5).raw(b"abc")),
        DecodeError::Truncated {
            field: "chunk data",
            offset: 3
        }
    );
    // GET_BODY_CHUNK without its length's second byte.
    assert_err!(
        to_proxy(&Payload::default().u8(6).u8(0x1f)),
        DecodeError::Truncated {
            field: "message",
            offset: 2
        }
    );
}

#[test]
fn string_running_past_the_packet() {
    // protocol claims 200 bytes; the packet has 8.
    let p = Payload::default().u8(2).u8(2).u16(200).raw(b"HTTP/1.1");
    assert_err!(
        to_container(&p, false),
        DecodeError::BadString {
            field: "protocol",
            offset: 2
        }
    );
    // The right length, but no NUL after the bytes.
    let p = Payload::default().u8(2).u8(2).u16(8).raw(b"HTTP/1.1X");
    assert_err!(
        to_container(&p, false),
        DecodeError::BadString {
            field: "protocol",
            offset: 2
        }
    );
    // A header value in SEND_HEADERS running past the end.
    let p = Payload::default()
        .u8(4)
        .u16(200)
        .u16(0xFFFF)
        .u16(1)
        .u16(0xA001)
        .u16(10)
        .raw(b"text");
    assert_err!(
        to_proxy(&p),
        DecodeError::BadString {
            field: "header value",
            offset: 9
        }
    );
}

#[test]
fn null_where_a_string_is_required() {
    let p = Payload::default().u8(2).u8(2).str("HTTP/1.1").u16(0xFFFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::UnexpectedNull {
            field: "req_uri",
            offset: 13
        }
    );
}

#[test]
fn unknown_message_type() {
    // SEND_BODY_CHUNK (3) is a container's message: a container never receives one.
    assert_err!(
        to_container(&Payload::default().u8(3), false),
        DecodeError::UnknownMessageType { code: 3 }
    );
    // FORWARD_REQUEST (2) is a proxy's: a proxy never receives one.
    assert_err!(
        to_proxy(&forward_head(2, 0).u8(0xFF)),
        DecodeError::UnknownMessageType { code: 2 }
    );
    assert_err!(
        to_proxy(&Payload::default().u8(0x42)),
        DecodeError::UnknownMessageType { code: 0x42 }
    );
}

#[test]
fn unknown_request_header_code() {
    let head = forward_head(2, 1);
    let offset = head.len();
    // 0xA00F is one past `user-agent`, the last request code.
    let p = head.u16(0xA00F).str("x").u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::UnknownHeaderCode { code: 0xA00F, offset: o } if o == offset
    );
    // 0xA000 is no header either.
    let p = forward_head(2, 1).u16(0xA000).str("x").u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::UnknownHeaderCode { code: 0xA000, .. }
    );
}

#[test]
fn unknown_response_header_code() {
    // 0xA00C is one past `www-authenticate`, the last response code.
    let p = Payload::default()
        .u8(4)
        .u16(200)
        .u16(0xFFFF)
        .u16(1)
        .u16(0xA00C)
        .str("x");
    assert_err!(
        to_proxy(&p),
        DecodeError::UnknownHeaderCode {
            code: 0xA00C,
            offset: 7
        }
    );
}

#[test]
fn unknown_attribute_code() {
    let head = forward_head(2, 0).u8(0x05).str("a=1");
    let offset = head.len();
    let p = head.u8(0x0E).str("?").u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::UnknownAttribute { code: 0x0E, offset: o } if o == offset
    );
}

#[test]
fn trailing_bytes() {
    // After the 0xFF that ends the attributes.
    let head = forward_head(2, 0).u8(0xFF);
    let offset = head.len();
    assert_err!(
        to_container(&head.raw(b"xy"), false),
        DecodeError::TrailingBytes { count: 2, offset: o } if o == offset
    );
    // After a CPING's type byte.
    assert_err!(
        to_container(&Payload::default().u8(10).u8(0), false),
        DecodeError::TrailingBytes {
            count: 1,
            offset: 1
        }
    );
    // After body data.
    assert_err!(
        to_container(&Payload::default().u16(1).raw(b"ab"), true),
        DecodeError::TrailingBytes {
            count: 1,
            offset: 3
        }
    );
    // SEND_BODY_CHUNK may end with one NUL, not with anything else or more.
    assert_err!(
        to_proxy(&Payload::default().u8(3).u16(1).raw(b"a\x01")),
        DecodeError::TrailingBytes {
            count: 1,
            offset: 4
        }
    );
    assert_err!(
        to_proxy(&Payload::default().u8(3).u16(1).raw(b"a\0\0")),
        DecodeError::TrailingBytes {
            count: 2,
            offset: 4
        }
    );
    // END_RESPONSE is exactly two bytes.
    assert_err!(
        to_proxy(&Payload::default().u8(5).u8(1).u8(0)),
        DecodeError::TrailingBytes {
            count: 1,
            offset: 2
        }
    );
}

#[test]
fn num_headers_larger_than_what_follows() {
    let p = Payload::default()
        .u8(4)
        .u16(200)
        .u16(0xFFFF)
        .u16(3)
        .u16(0xA001)
        .str("text/plain");
    assert_err!(
        to_proxy(&p),
        DecodeError::HeaderCount {
            declared: 3,
            found: 1
        }
    );
    let p = forward_head(2, 2).u16(0xA00B).str("localhost");
    assert_err!(
        to_container(&p, false),
        DecodeError::HeaderCount {
            declared: 2,
            found: 1
        }
    );
    // A count of 65535 in a tiny packet must not make the decoder reserve room for it.
    assert_err!(
        to_container(&forward_head(2, 0xFFFF), false),
        DecodeError::HeaderCount {
            declared: 0xFFFF,
            found: 0
        }
    );
}

#[test]
fn invalid_method_code() {
    for code in [0u8, 28, 0xFE] {
        let p = forward_head(code, 0).u8(0xFF);
        assert_err!(to_container(&p, false), DecodeError::InvalidMethod { code: c } if c == code);
    }
}

#[test]
fn invalid_stored_method() {
    // 0xFF announces a stored method that never comes.
    let p = forward_head(0xFF, 0).u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::InvalidMethod { code: 0xFF }
    );
    // A stored method next to a coded one.
    let p = forward_head(2, 0).u8(0x0D).str("PATCH").u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::InvalidMethod { code: 2 }
    );
    // Two stored methods.
    let p = forward_head(0xFF, 0)
        .u8(0x0D)
        .str("PATCH")
        .u8(0x0D)
        .str("PATCH")
        .u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::InvalidMethod { code: 0xFF }
    );
    // Not a token.
    let p = forward_head(0xFF, 0).u8(0x0D).str("GET /").u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::InvalidMethod { code: 0xFF }
    );
}

#[test]
fn invalid_boolean() {
    let head = forward_head(2, 0).0;
    let mut bytes = head.clone();
    let at = head.len() - 3;
    bytes[at] = 2;
    let p = Payload::default().raw(&bytes).u8(0xFF);
    assert_err!(
        to_container(&p, false),
        DecodeError::InvalidBool {
            field: "is_ssl",
            value: 2
        }
    );
    assert_err!(
        to_proxy(&Payload::default().u8(5).u8(7)),
        DecodeError::InvalidBool {
            field: "reuse",
            value: 7
        }
    );
}

#[test]
fn stream_ends_inside_a_packet() {
    let mut buf = BytesMut::from(&b"\x12\x34\x00\x05\x02\x02"[..]);
    let mut codec = ContainerCodec::new(P);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert_err!(
        codec.decode_eof(&mut buf).unwrap_err(),
        DecodeError::UnexpectedEof { buffered: 6 }
    );
}
