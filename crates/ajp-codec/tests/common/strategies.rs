//! proptest strategies for valid AJP13 messages, and a model of their encoded size.
//!
//! Values are generated the way decoding yields them, so that `decode(encode(m)) == m` is
//! the exact property: coded header names are lower case (decoding lower-cases them), other
//! header names never equal a coded name in any case, and a stored method never has the
//! name of a coded method (that would be sent, and decoded, as the code).

use ajp_codec::{
    Attribute, BodyChunk, CODED_METHODS, CODED_REQUEST_HEADERS, CODED_RESPONSE_HEADERS,
    ContainerMessage, EndResponse, ForwardRequest, GetBodyChunk, PacketSize, ProxyMessage,
    SendHeaders,
};
use bytes::Bytes;
use http::Method;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// The smallest, the largest, and any packet size in between.
pub(crate) fn packet_size() -> impl Strategy<Value = PacketSize> {
    prop_oneof![
        Just(PacketSize::MIN),
        Just(PacketSize::MAX),
        (8192usize..=65536).prop_map(|n| PacketSize::new(n).unwrap()),
    ]
}

/// Arbitrary bytes, usually short, sometimes long enough to overflow an 8 KiB packet.
pub(crate) fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        16 => vec(any::<u8>(), 0..24),
        1 => vec(any::<u8>(), 0..12_000),
    ]
    .prop_map(Bytes::from)
}

/// An HTTP token (RFC 9110 `tchar`s).
pub(crate) fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}"
}

fn is_coded(table: &[&str], name: &[u8]) -> bool {
    table
        .iter()
        .any(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

/// A header name as decoding yields it: a coded name (lower case), a token, or any bytes,
/// never a coded name in another case.
fn header_name(table: &'static [&'static str]) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        select(table).prop_map(|n| Bytes::from_static(n.as_bytes())),
        token().prop_map(Bytes::from),
        vec(any::<u8>(), 0..24).prop_map(Bytes::from),
    ]
    .prop_filter("coded name in another case", move |n| {
        !is_coded(table, n) || table.iter().any(|c| c.as_bytes() == &n[..])
    })
}

fn headers(table: &'static [&'static str]) -> impl Strategy<Value = Vec<(Bytes, Bytes)>> {
    vec((header_name(table), bytes()), 0..16)
}

/// Any method: one of the 27 coded ones, or a token that is not a coded name (PATCH,
/// CONNECT, lower-case `get`, …), which travels as a stored method.
pub(crate) fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        select(&CODED_METHODS[..]).prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
        Just(Method::PATCH),
        Just(Method::CONNECT),
        token()
            .prop_filter("coded method", |t| !CODED_METHODS.contains(&t.as_str()))
            .prop_map(|t| Method::from_bytes(t.as_bytes()).unwrap()),
    ]
}

/// Any attribute. (A stored method is not an attribute: it comes with the method.)
pub(crate) fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        bytes().prop_map(Attribute::Context),
        bytes().prop_map(Attribute::ServletPath),
        bytes().prop_map(Attribute::RemoteUser),
        bytes().prop_map(Attribute::AuthType),
        bytes().prop_map(Attribute::QueryString),
        bytes().prop_map(Attribute::Route),
        bytes().prop_map(Attribute::SslCert),
        bytes().prop_map(Attribute::SslCipher),
        bytes().prop_map(Attribute::SslSession),
        (bytes(), bytes()).prop_map(|(name, value)| Attribute::ReqAttribute { name, value }),
        any::<u16>().prop_map(Attribute::SslKeySize),
        bytes().prop_map(Attribute::Secret),
    ]
}

/// Any Forward Request; it may be too large for a packet ([`forward_request_len`] says).
pub(crate) fn forward_request() -> impl Strategy<Value = ForwardRequest> {
    (
        (
            method(),
            bytes(),
            bytes(),
            bytes(),
            proptest::option::of(bytes()),
        ),
        (bytes(), any::<u16>(), any::<bool>()),
        headers(&CODED_REQUEST_HEADERS),
        vec(attribute(), 0..8),
    )
        .prop_map(
            |(
                (method, protocol, req_uri, remote_addr, remote_host),
                (server_name, server_port, is_ssl),
                headers,
                attributes,
            )| ForwardRequest {
                method,
                protocol,
                req_uri,
                remote_addr,
                remote_host,
                server_name,
                server_port,
                is_ssl,
                headers,
                attributes,
            },
        )
}

/// Any SEND_HEADERS; it may be too large for a packet ([`send_headers_len`] says).
pub(crate) fn send_headers() -> impl Strategy<Value = SendHeaders> {
    (
        any::<u16>(),
        proptest::option::of(bytes()),
        headers(&CODED_RESPONSE_HEADERS),
    )
        .prop_map(|(status, message, headers)| SendHeaders {
            status,
            message,
            headers,
        })
}

/// Body data of up to `max + 2` bytes, biased towards the edges (empty, `max`, just over).
pub(crate) fn body(max: usize) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..64),
        1 => vec(any::<u8>(), 0..=max + 2),
        1 => (max - 1..=max + 2).prop_map(|n| vec![0x5a; n]),
    ]
    .prop_map(Bytes::from)
}

/// Any message a proxy sends, for a packet size.
pub(crate) fn proxy_message(p: PacketSize) -> impl Strategy<Value = ProxyMessage> {
    prop_oneof![
        4 => forward_request().prop_map(ProxyMessage::ForwardRequest),
        2 => body(p.max_request_body()).prop_map(|data| ProxyMessage::Body(BodyChunk { data })),
        1 => Just(ProxyMessage::CPing),
        1 => Just(ProxyMessage::Shutdown),
    ]
}

/// Any message a container sends, for a packet size.
pub(crate) fn container_message(p: PacketSize) -> impl Strategy<Value = ContainerMessage> {
    prop_oneof![
        3 => send_headers().prop_map(ContainerMessage::SendHeaders),
        2 => body(p.max_response_body())
            .prop_map(|data| ContainerMessage::SendBodyChunk(BodyChunk { data })),
        1 => any::<bool>().prop_map(|reuse| ContainerMessage::EndResponse(EndResponse { reuse })),
        1 => any::<u16>()
            .prop_map(|requested_len| ContainerMessage::GetBodyChunk(GetBodyChunk { requested_len })),
        1 => Just(ContainerMessage::CPong),
    ]
}

// ---- The size model: the payload length a message needs, computed from the spec's
// layout independently of the encoder, so the tests can say whether encoding must fail.

fn string_len(s: &[u8]) -> usize {
    2 + s.len() + 1
}

fn header_len(table: &[&str], name: &[u8], value: &[u8]) -> usize {
    let name_len = if is_coded(table, name) {
        2
    } else {
        string_len(name)
    };
    name_len + string_len(value)
}

/// Payload length of a Forward Request.
pub(crate) fn forward_request_len(r: &ForwardRequest) -> usize {
    let mut n = 2; // type, method
    n += string_len(&r.protocol) + string_len(&r.req_uri) + string_len(&r.remote_addr);
    n += r.remote_host.as_ref().map_or(2, |h| string_len(h));
    n += string_len(&r.server_name) + 2 + 1 + 2;
    for (name, value) in &r.headers {
        n += header_len(&CODED_REQUEST_HEADERS, name, value);
    }
    for a in &r.attributes {
        n += 1 + match a {
            Attribute::SslKeySize(_) => 2,
            Attribute::ReqAttribute { name, value } => string_len(name) + string_len(value),
            Attribute::Context(v)
            | Attribute::ServletPath(v)
            | Attribute::RemoteUser(v)
            | Attribute::AuthType(v)
            | Attribute::QueryString(v)
            | Attribute::Route(v)
            | Attribute::SslCert(v)
            | Attribute::SslCipher(v)
            | Attribute::SslSession(v)
            | Attribute::Secret(v) => string_len(v),
        };
    }
    if !CODED_METHODS.contains(&r.method.as_str()) {
        n += 1 + string_len(r.method.as_str().as_bytes());
    }
    n + 1 // 0xFF
}

/// Payload length of SEND_HEADERS.
pub(crate) fn send_headers_len(h: &SendHeaders) -> usize {
    let mut n = 1 + 2 + h.message.as_ref().map_or(2, |m| string_len(m)) + 2;
    for (name, value) in &h.headers {
        n += header_len(&CODED_RESPONSE_HEADERS, name, value);
    }
    n
}

/// Whether `m` fits one packet of size `p` (for bodies: within P − 6).
pub(crate) fn proxy_message_fits(m: &ProxyMessage, p: PacketSize) -> bool {
    match m {
        ProxyMessage::ForwardRequest(r) => forward_request_len(r) <= p.max_payload(),
        ProxyMessage::Body(b) => b.data.len() <= p.max_request_body(),
        _ => true,
    }
}

/// Whether `m` fits one packet of size `p` (for bodies: within P − 8).
pub(crate) fn container_message_fits(m: &ContainerMessage, p: PacketSize) -> bool {
    match m {
        ContainerMessage::SendHeaders(h) => send_headers_len(h) <= p.max_payload(),
        ContainerMessage::SendBodyChunk(b) => b.data.len() <= p.max_response_body(),
        _ => true,
    }
}
