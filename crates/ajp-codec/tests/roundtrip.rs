//! Property tests: every valid message round-trips through both codecs at every packet
//! size, and arbitrary bytes fed in arbitrary splits never panic and never decode to a
//! message that re-encodes differently.
//!
//! "Re-encodes differently" is checked as `decode(encode(m)) == m` and
//! `encode(decode(encode(m))) == encode(m)` for every decoded `m` (see `common/check.rs`).
//! Byte equality with the original input is not required: the codec normalises a few
//! accepted non-canonical forms (both end-of-body forms, SEND_BODY_CHUNK without its NUL,
//! coded header names sent as strings, stored methods that have a code).

mod common;

use ajp_codec::{
    ContainerCodec, ContainerMessage, EncodeError, PacketSize, ProxyCodec, ProxyMessage,
    TO_CONTAINER_MAGIC, TO_PROXY_MAGIC,
};
use bytes::{BufMut, BytesMut};
use common::check::{check_container_message, check_proxy_message, feed_container, feed_proxy};
use common::strategies::{
    container_message, container_message_fits, forward_request_len, packet_size, proxy_message,
    proxy_message_fits, send_headers_len,
};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const PREFIX: &[u8] = b"already queued";

fn encoded_proxy(m: &ProxyMessage, p: PacketSize) -> Option<BytesMut> {
    let mut dst = BytesMut::new();
    ProxyCodec::new(p).encode(m.clone(), &mut dst).ok()?;
    Some(dst)
}

fn encoded_container(m: &ContainerMessage, p: PacketSize) -> Option<BytesMut> {
    let mut dst = BytesMut::new();
    ContainerCodec::new(p).encode(m.clone(), &mut dst).ok()?;
    Some(dst)
}

fn proxy_case() -> impl Strategy<Value = (PacketSize, ProxyMessage)> {
    packet_size().prop_flat_map(|p| (Just(p), proxy_message(p)))
}

fn container_case() -> impl Strategy<Value = (PacketSize, ContainerMessage)> {
    packet_size().prop_flat_map(|p| (Just(p), container_message(p)))
}

/// One piece of a test stream: a valid packet of either direction, a packet with a correct
/// header and random payload, or random bytes.
fn segment(p: PacketSize) -> impl Strategy<Value = Vec<u8>> {
    let any_packet = |magic: [u8; 2]| {
        vec(any::<u8>(), 0..48).prop_map(move |payload| {
            let mut v = magic.to_vec();
            v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            v.extend_from_slice(&payload);
            v
        })
    };
    prop_oneof![
        3 => proxy_message(p)
            .prop_map(move |m| encoded_proxy(&m, p).map_or_else(Vec::new, |b| b.to_vec())),
        3 => container_message(p)
            .prop_map(move |m| encoded_container(&m, p).map_or_else(Vec::new, |b| b.to_vec())),
        2 => any_packet(TO_CONTAINER_MAGIC),
        2 => any_packet(TO_PROXY_MAGIC),
        1 => vec(any::<u8>(), 0..16),
    ]
}

/// A stream of segments with a few bytes overwritten, the points to split it at, and which
/// packets a container decodes as body packets.
fn garbage_case() -> impl Strategy<Value = (PacketSize, Vec<u8>, Vec<usize>, Vec<bool>)> {
    packet_size().prop_flat_map(|p| {
        (
            Just(p),
            (
                vec(segment(p), 0..6),
                vec((any::<usize>(), any::<u8>()), 0..4),
            )
                .prop_map(|(segments, edits)| {
                    let mut input = segments.concat();
                    if !input.is_empty() {
                        let len = input.len();
                        for (at, byte) in edits {
                            input[at % len] = byte;
                        }
                    }
                    input
                }),
            vec(any::<usize>(), 0..8),
            vec(any::<bool>(), 0..8),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A proxy message encodes exactly when the size model says it fits; if it does not,
    /// the error says so and `dst` is untouched; if it does, the container decodes it back.
    #[test]
    fn proxy_messages_round_trip((p, m) in proxy_case(), split in any::<usize>()) {
        let mut dst = BytesMut::from(PREFIX);
        let result = ProxyCodec::new(p).encode(m.clone(), &mut dst);
        if !proxy_message_fits(&m, p) {
            match (&m, result) {
                (ProxyMessage::ForwardRequest(_), Err(EncodeError::TooLarge { max, .. })) => {
                    prop_assert_eq!(max, p.max_payload());
                }
                (ProxyMessage::Body(_), Err(EncodeError::BodyTooLarge { len, max })) => {
                    prop_assert_eq!(max, p.max_request_body());
                    prop_assert!(len > max);
                }
                (_, other) => prop_assert!(false, "{m:?} at {p:?}: {other:?}"),
            }
            prop_assert_eq!(&dst[..], PREFIX);
            return Ok(());
        }
        result.unwrap();
        let mut bytes = dst.split_off(PREFIX.len());
        if let ProxyMessage::ForwardRequest(r) = &m {
            prop_assert_eq!(bytes.len(), 4 + forward_request_len(r));
        }
        // Decode it delivered in two reads.
        let mut codec = ContainerCodec::new(p);
        if matches!(m, ProxyMessage::Body(_)) {
            codec.expect_body();
        }
        let cut = split % (bytes.len() + 1);
        let mut rest = bytes.split_off(cut);
        let mut buf = bytes;
        if !rest.is_empty() {
            prop_assert!(codec.decode(&mut buf).unwrap().is_none());
        }
        buf.unsplit(std::mem::take(&mut rest));
        let decoded = codec.decode(&mut buf).unwrap().expect("one whole packet");
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&ProxyMessage::from(decoded.clone()), &m);
        check_proxy_message(&decoded, matches!(m, ProxyMessage::Body(_)), p);
    }

    /// The same for messages from the container.
    #[test]
    fn container_messages_round_trip((p, m) in container_case(), split in any::<usize>()) {
        let mut dst = BytesMut::from(PREFIX);
        let result = ContainerCodec::new(p).encode(m.clone(), &mut dst);
        if !container_message_fits(&m, p) {
            match (&m, result) {
                (ContainerMessage::SendHeaders(_), Err(EncodeError::TooLarge { max, .. })) => {
                    prop_assert_eq!(max, p.max_payload());
                }
                (ContainerMessage::SendBodyChunk(_), Err(EncodeError::BodyTooLarge { len, max })) => {
                    prop_assert_eq!(max, p.max_response_body());
                    prop_assert!(len > max);
                }
                (_, other) => prop_assert!(false, "{m:?} at {p:?}: {other:?}"),
            }
            prop_assert_eq!(&dst[..], PREFIX);
            return Ok(());
        }
        result.unwrap();
        let mut bytes = dst.split_off(PREFIX.len());
        if let ContainerMessage::SendHeaders(h) = &m {
            prop_assert_eq!(bytes.len(), 4 + send_headers_len(h));
        }
        let mut codec = ProxyCodec::new(p);
        let cut = split % (bytes.len() + 1);
        let mut rest = bytes.split_off(cut);
        let mut buf = bytes;
        if !rest.is_empty() {
            prop_assert!(codec.decode(&mut buf).unwrap().is_none());
        }
        buf.unsplit(std::mem::take(&mut rest));
        let decoded = codec.decode(&mut buf).unwrap().expect("one whole packet");
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&decoded, &m);
        check_container_message(&decoded, p);
    }

    /// A stream of valid messages, cut anywhere, decodes to exactly those messages.
    #[test]
    fn valid_streams_decode_in_any_split(
        p in packet_size(),
        proxy in vec(proxy_message(PacketSize::MIN), 0..6),
        container in vec(container_message(PacketSize::MIN), 0..6),
        splits in vec(any::<usize>(), 0..8),
    ) {
        let proxy: Vec<_> = proxy.into_iter().filter(|m| encoded_proxy(m, p).is_some()).collect();
        let input: Vec<u8> = proxy.iter().flat_map(|m| encoded_proxy(m, p).unwrap()).collect();
        let body_mode: Vec<bool> = proxy.iter().map(|m| matches!(m, ProxyMessage::Body(_))).collect();
        let out = feed_container(&input, &splits, &body_mode, p);
        prop_assert!(!out.failed);
        let plain: Vec<ProxyMessage> = out.messages.into_iter().map(Into::into).collect();
        prop_assert_eq!(plain, proxy);

        let container: Vec<_> =
            container.into_iter().filter(|m| encoded_container(m, p).is_some()).collect();
        let input: Vec<u8> =
            container.iter().flat_map(|m| encoded_container(m, p).unwrap()).collect();
        let out = feed_proxy(&input, &splits, p);
        prop_assert!(!out.failed);
        prop_assert_eq!(out.messages, container);
    }

    /// Garbage never panics, every message decoded from it re-encodes to itself (checked
    /// inside `feed_*`), and how the input is cut into reads changes nothing.
    #[test]
    fn arbitrary_bytes_in_arbitrary_splits((p, input, splits, body_mode) in garbage_case()) {
        let whole = feed_proxy(&input, &[], p);
        let split = feed_proxy(&input, &splits, p);
        prop_assert_eq!(whole, split);

        let whole = feed_container(&input, &[], &body_mode, p);
        let split = feed_container(&input, &splits, &body_mode, p);
        prop_assert_eq!(whole, split);
    }
}

/// A header name longer than 0xA0FF bytes decodes (its length's high byte is not 0xA0, so
/// every peer reads it as a string); it must re-encode too. Found while writing the
/// re-encode property: the encoder used to reject every name of 0xA000 bytes or more.
#[test]
fn long_header_name_that_decodes_also_reencodes() {
    let p = PacketSize::MAX;
    let name = vec![b'x'; 0xA100];
    for len in [0x9FFF, 0xA100] {
        let mut payload = BytesMut::new();
        payload.put_slice(&[0x04, 0x00, 0xc8, 0xff, 0xff, 0x00, 0x01]);
        payload.put_u16(len as u16);
        payload.put_slice(&name[..len]);
        payload.put_slice(&[0, 0, 0, 0]);
        let mut packet = BytesMut::from(&TO_PROXY_MAGIC[..]);
        packet.put_u16(payload.len() as u16);
        packet.put_slice(&payload);
        let m = ProxyCodec::new(p).decode(&mut packet).unwrap().unwrap();
        check_container_message(&m, p);
    }
    // The lengths a decoder would take for a code are still refused.
    let mut dst = BytesMut::new();
    let head = ajp_codec::SendHeaders {
        status: 200,
        message: None,
        headers: vec![(&name[..0xA0FF], &b""[..])],
    };
    assert!(matches!(
        head.encode(&mut dst, p),
        Err(EncodeError::HeaderNameTooLong { len: 0xA0FF })
    ));
    assert!(dst.is_empty());
}
