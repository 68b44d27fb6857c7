//! The AJP13 wire format (Apache JServ Protocol 1.3), both directions, as plain Rust types
//! plus tokio-util [`Decoder`](tokio_util::codec::Decoder)/[`Encoder`](tokio_util::codec::Encoder)s.
//!
//! AJP13 is what Apache httpd's `mod_proxy_ajp` and `mod_jk` speak to Tomcat, Jetty and
//! WildFly: a binary, packet-per-message form of an HTTP exchange over a long-lived
//! connection that carries one request at a time.
//!
//! ```text
//!  proxy                                                       container
//!    │ ── FORWARD_REQUEST (head) ─────────────────────────────────▶ │
//!    │ ── body packet (only if Content-Length > 0) ───────────────▶ │
//!    │ ◀──────────────────────────────────────── GET_BODY_CHUNK ── │  (more body, please)
//!    │ ── body packet (≤ requested; empty = end) ─────────────────▶ │
//!    │ ◀────────────────────────────────────────── SEND_HEADERS ── │
//!    │ ◀────────────────────────────────── SEND_BODY_CHUNK × n ── │
//!    │ ◀────────────────────────────────── END_RESPONSE(reuse) ── │
//!    │ ── CPING ──────────────────────────────────────────────────▶ │  (at any idle point)
//!    │ ◀───────────────────────────────────────────────── CPONG ── │
//! ```
//!
//! Every packet is `magic:2 length:u16 payload`; the magic is `0x12 0x34` towards the
//! container and `"AB"` towards the proxy. Both peers must be configured with the same
//! [`PacketSize`] (8192 to 65536 bytes), which bounds every packet.
//!
//! # What this crate is
//!
//! * One type per message: [`ForwardRequest`] (with its [`Attribute`]s),
//!   [`SendHeaders`], [`BodyChunk`], [`GetBodyChunk`], [`EndResponse`]; CPING, CPONG and
//!   SHUTDOWN are unit variants of [`ProxyMessage`] and [`ContainerMessage`].
//! * [`ForwardRequestPacket`]: a Forward Request as a container receives it, checked in
//!   one pass and read in place (no allocation, no reference count per field).
//! * [`ProxyCodec`] for the proxy side, [`ContainerCodec`] for the container side.
//! * No I/O: plug the codecs into `tokio_util::codec::Framed`, or call `encode`/`decode` on the
//!   message types directly.
//!
//! Message types are generic over their byte-string type `S`: decoded messages hold
//! [`Bytes`](bytes::Bytes) slices of the read buffer (body data and strings are never
//! copied), and a message to encode can borrow from whatever the caller has (`&str`,
//! `&[u8]`, …).
//!
//! # Strict, with the quirks real peers rely on
//!
//! Decoding checks every length against the packet and the packet against the configured
//! size before buffering it, and reports every violation as a [`DecodeError`] that says
//! what and where. It accepts the variants real peers send: SEND_BODY_CHUNK with or without
//! Tomcat's trailing NUL, both end-of-body forms (`12 34 00 00` and `12 34 00 02 00 00`),
//! null and empty strings. Encoding produces the forms Tomcat and httpd send themselves.
//!
//! # Example
//!
//! A proxy sends a request and reads Tomcat's answer:
//!
//! ```
//! use ajp_codec::{Attribute, ContainerMessage, ForwardRequest, PacketSize, ProxyCodec, ProxyMessage};
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = ProxyCodec::new(PacketSize::DEFAULT);
//! let mut out = BytesMut::new();
//! let request = ForwardRequest {
//!     method: http::Method::GET,
//!     protocol: "HTTP/1.1",
//!     req_uri: "/hello",
//!     remote_addr: "127.0.0.1",
//!     remote_host: None,
//!     server_name: "localhost",
//!     server_port: 8080,
//!     is_ssl: false,
//!     headers: vec![("Host", "localhost:8080")],
//!     attributes: vec![Attribute::ReqAttribute { name: "AJP_REMOTE_PORT", value: "50000" }],
//! };
//! codec.encode(ProxyMessage::ForwardRequest(request), &mut out).unwrap();
//!
//! // What Tomcat 10 answered to such a request.
//! let mut input = BytesMut::from(
//!     &b"AB\x00\x21\x04\x00\xc8\x00\x03200\x00\x00\x02\xa0\x01\x00\x0atext/plain\x00\
//!        \xa0\x03\x00\x0212\x00\
//!        AB\x00\x10\x03\x00\x0cHello, AJP!\n\x00\
//!        AB\x00\x02\x05\x01"[..],
//! );
//! let Some(ContainerMessage::SendHeaders(head)) = codec.decode(&mut input).unwrap() else {
//!     panic!("expected SEND_HEADERS");
//! };
//! assert_eq!(head.status, 200);
//! assert_eq!(head.headers[0].0, "content-type");
//! let Some(ContainerMessage::SendBodyChunk(chunk)) = codec.decode(&mut input).unwrap() else {
//!     panic!("expected SEND_BODY_CHUNK");
//! };
//! assert_eq!(chunk.data, "Hello, AJP!\n");
//! let Some(ContainerMessage::EndResponse(end)) = codec.decode(&mut input).unwrap() else {
//!     panic!("expected END_RESPONSE");
//! };
//! assert!(end.reuse);
//! ```

mod body_chunk;
mod codec;
mod codes;
mod control;
mod error;
mod forward_request;
mod message;
mod packet;
mod received;
mod send_headers;
mod wire;
mod write_queue;

pub use body_chunk::{
    BodyChunk, SEND_BODY_CHUNK_TRAILER, encode_request_body, encode_request_body_head,
    encode_send_body_chunk, encode_send_body_chunk_head,
};
pub use codec::{ContainerCodec, ProxyCodec};
pub use control::{EndResponse, GetBodyChunk};
pub use error::{DecodeError, EncodeError, Field};
pub use forward_request::{Attribute, ForwardRequest};
pub use message::{ContainerMessage, ProxyMessage};
pub use packet::{HEADER_LEN, InvalidPacketSize, PacketSize, TO_CONTAINER_MAGIC, TO_PROXY_MAGIC};
pub use received::{ForwardRequestPacket, PacketAttributes, PacketHeaders};
pub use send_headers::SendHeaders;
pub use write_queue::WriteQueue;

/// The method names with an AJP13 method code, in code order (code = index + 1). Any other
/// method is sent as a stored method.
pub const CODED_METHODS: [&str; 27] = codes::METHOD_NAMES;
/// The request header names with an AJP13 code (lower case, code = `0xA001` + index).
pub const CODED_REQUEST_HEADERS: [&str; 14] = codes::REQUEST_HEADERS;
/// The response header names with an AJP13 code (lower case, code = `0xA001` + index).
pub const CODED_RESPONSE_HEADERS: [&str; 11] = codes::RESPONSE_HEADERS;
