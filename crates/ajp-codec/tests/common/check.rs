//! The "never panics, never re-encodes differently" property, as plain functions: the
//! property tests call them with proptest inputs and the fuzz targets with fuzzer bytes.
//!
//! What is checked, for every message a decoder yields from arbitrary input:
//!
//! * `encode(m)` succeeds with the same packet size,
//! * decoding those bytes (in the same body/message mode) gives back exactly `m` and
//!   consumes exactly one packet,
//! * encoding that again gives the same bytes: `encode(decode(encode(m))) == encode(m)`.
//!
//! Byte equality with the *original* input is deliberately not required: the codec accepts
//! a few non-canonical forms and normalises them (both end-of-body forms, SEND_BODY_CHUNK
//! without its trailing NUL, a coded header name sent as a string becomes the lower-case
//! name and is re-encoded as its code, a stored method whose name has a code is re-encoded
//! as that code). A received Forward Request ([`ForwardRequestPacket`]) re-encodes as it
//! came; its plain form ([`ForwardRequestPacket::to_forward_request`]) is where the
//! normalising happens, so that is checked too: it encodes, and decodes back equal.

use ajp_codec::{
    ContainerCodec, ContainerMessage, ForwardRequestPacket, PacketSize, ProxyCodec, ProxyMessage,
};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// What a container decodes.
pub(crate) type Received = ProxyMessage<Bytes, ForwardRequestPacket>;

/// What feeding a stream to a decoder produced: the messages in order, and whether it
/// stopped on an error.
#[derive(Debug, PartialEq)]
pub(crate) struct Outcome<M> {
    pub(crate) messages: Vec<M>,
    pub(crate) failed: bool,
}

/// Cuts `input` into consecutive pieces at the given points (taken modulo the length,
/// sorted); the pieces concatenate back to `input`.
pub(crate) fn pieces<'a>(input: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
    if input.is_empty() {
        return vec![input];
    }
    let mut cuts: Vec<usize> = splits.iter().map(|s| s % input.len()).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut prev = 0;
    for c in cuts {
        out.push(&input[prev..c]);
        prev = c;
    }
    out.push(&input[prev..]);
    out
}

/// Feeds `input` to a [`ProxyCodec`] in the given pieces, as a `FramedRead` would: after
/// each read, decode until `Ok(None)`; at the end, `decode_eof`. Stops at the first error.
/// Checks the re-encode property on every message.
pub(crate) fn feed_proxy(
    input: &[u8],
    splits: &[usize],
    packet_size: PacketSize,
) -> Outcome<ContainerMessage> {
    let mut codec = ProxyCodec::new(packet_size);
    feed(input, splits, |buf, eof| {
        let r = if eof {
            codec.decode_eof(buf)
        } else {
            codec.decode(buf)
        };
        if let Ok(Some(m)) = &r {
            check_container_message(m, packet_size);
        }
        r.map_err(drop)
    })
}

/// Like [`feed_proxy`] for a [`ContainerCodec`]. Packet number `n` (counting from 0) is
/// decoded as a request body packet when `body_mode[n]` is true (missing entries: false),
/// so the choice depends on the packet, not on how the input was split.
pub(crate) fn feed_container(
    input: &[u8],
    splits: &[usize],
    body_mode: &[bool],
    packet_size: PacketSize,
) -> Outcome<Received> {
    let mut codec = ContainerCodec::new(packet_size);
    let mut decoded = 0;
    feed(input, splits, |buf, eof| {
        let body = body_mode.get(decoded).copied().unwrap_or(false);
        if body {
            codec.expect_body();
        }
        let r = if eof {
            codec.decode_eof(buf)
        } else {
            codec.decode(buf)
        };
        if let Ok(Some(m)) = &r {
            decoded += 1;
            check_proxy_message(m, body, packet_size);
        }
        r.map_err(drop)
    })
}

fn feed<M>(
    input: &[u8],
    splits: &[usize],
    mut decode: impl FnMut(&mut BytesMut, bool) -> Result<Option<M>, ()>,
) -> Outcome<M> {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for piece in pieces(input, splits) {
        buf.extend_from_slice(piece);
        loop {
            match decode(&mut buf, false) {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => break,
                Err(()) => {
                    return Outcome {
                        messages,
                        failed: true,
                    };
                }
            }
        }
    }
    loop {
        match decode(&mut buf, true) {
            Ok(Some(m)) => messages.push(m),
            Ok(None) => {
                return Outcome {
                    messages,
                    failed: false,
                };
            }
            Err(()) => {
                return Outcome {
                    messages,
                    failed: true,
                };
            }
        }
    }
}

/// `m` (decoded by a `ProxyCodec`) re-encodes, decodes back to itself, and re-encodes to
/// the same bytes.
pub(crate) fn check_container_message(m: &ContainerMessage, packet_size: PacketSize) {
    // A container encodes what a proxy decodes.
    let mut first = BytesMut::new();
    ContainerCodec::new(packet_size)
        .encode(m.clone(), &mut first)
        .unwrap_or_else(|e| panic!("decoded {m:?} does not re-encode: {e}"));
    let mut codec = ProxyCodec::new(packet_size);
    let mut buf = first.clone();
    let again = codec
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"))
        .expect("a whole packet");
    assert!(
        buf.is_empty(),
        "re-encoding of {m:?} is more than one packet"
    );
    assert_eq!(&again, m, "re-encoding changed the message");
    let mut second = BytesMut::new();
    again.encode(&mut second, packet_size).unwrap();
    assert_eq!(first, second, "encode(decode(encode(m))) != encode(m)");
}

/// The plain form of a received head encodes, decodes back to the same request, and that
/// encodes to the same bytes.
fn check_plain_forward_request(head: &ForwardRequestPacket, packet_size: PacketSize) {
    let plain = head.to_forward_request();
    assert_eq!(head, &plain, "the plain form differs from the packet");
    let mut first = BytesMut::new();
    plain
        .encode(&mut first, packet_size)
        .unwrap_or_else(|e| panic!("plain {plain:?} does not encode: {e}"));
    let again = ForwardRequestPacket::decode(first.clone().split_off(4).freeze())
        .unwrap_or_else(|e| panic!("plain {plain:?} encodes to what does not decode: {e}"));
    assert_eq!(&again, head, "the plain form encodes to another request");
    let mut second = BytesMut::new();
    again
        .to_forward_request()
        .encode(&mut second, packet_size)
        .unwrap();
    assert_eq!(first, second, "the plain form does not re-encode to itself");
}

/// `m` (decoded by a `ContainerCodec`, as a body packet if `body`) re-encodes, decodes back
/// to itself in the same mode, and re-encodes to the same bytes.
pub(crate) fn check_proxy_message(m: &Received, body: bool, packet_size: PacketSize) {
    assert_eq!(
        matches!(m, ProxyMessage::Body(_)),
        body,
        "body mode decoded {m:?}"
    );
    // A proxy encodes what a container decodes.
    let mut first = BytesMut::new();
    ProxyCodec::new(packet_size)
        .encode(m.clone(), &mut first)
        .unwrap_or_else(|e| panic!("decoded {m:?} does not re-encode: {e}"));
    let mut codec = ContainerCodec::new(packet_size);
    if body {
        codec.expect_body();
    }
    let mut buf = first.clone();
    let again = codec
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"))
        .expect("a whole packet");
    assert!(
        buf.is_empty(),
        "re-encoding of {m:?} is more than one packet"
    );
    assert_eq!(&again, m, "re-encoding changed the message");
    let mut second = BytesMut::new();
    again.encode(&mut second, packet_size).unwrap();
    assert_eq!(first, second, "encode(decode(encode(m))) != encode(m)");
    if let ProxyMessage::ForwardRequest(head) = m {
        check_plain_forward_request(head, packet_size);
    }
}
