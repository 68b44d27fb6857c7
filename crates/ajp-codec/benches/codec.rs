//! Codec benchmarks: a typical browser Forward Request (encode, decode, round trip) and body
//! chunk decoding throughput.
//!
//! ```text
//! cargo bench -p ajp-codec --bench codec -- --warm-up-time 1 --measurement-time 3
//! ```

// `criterion_group!` generates an undocumented public fn.
#![allow(missing_docs)]

use std::hint::black_box;

use ajp_codec::{
    Attribute, BodyChunk, ContainerCodec, ContainerMessage, ForwardRequest, ForwardRequestPacket,
    PacketSize, ProxyCodec, ProxyMessage,
};
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::Decoder;

const P: PacketSize = PacketSize::DEFAULT;

#[path = "support/browser_request.rs"]
mod browser_request;
use browser_request::browser_request;

fn forward_request(c: &mut Criterion) {
    let request = browser_request();
    let mut packet = BytesMut::new();
    request.encode(&mut packet, P).unwrap();
    let packet = packet.freeze();

    let mut g = c.benchmark_group("forward_request");
    g.throughput(Throughput::Elements(1));

    // A floor for encode: the same strings copied with their length and NUL into a buffer
    // sized beforehand, with no checks, no header codes, no attributes and no packet.
    let mut floor = vec![0u8; 4096];
    g.bench_function("copy_floor", |b| {
        b.iter(|| {
            let r = black_box(&request);
            let mut pos = 0;
            let mut put = |s: &str| {
                let s = s.as_bytes();
                floor[pos..pos + 2].copy_from_slice(&(s.len() as u16).to_be_bytes());
                floor[pos + 2..pos + 2 + s.len()].copy_from_slice(s);
                floor[pos + 2 + s.len()] = 0;
                pos += s.len() + 3;
            };
            for s in [r.protocol, r.req_uri, r.remote_addr, r.server_name] {
                put(s);
            }
            for (n, v) in &r.headers {
                put(n);
                put(v);
            }
            black_box(pos)
        })
    });

    let mut buf = BytesMut::with_capacity(P.get());
    g.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&request).encode(&mut buf, P).unwrap();
            black_box(&buf);
        })
    });

    // As a container reads it: the packet lands in the read buffer, the codec splits it
    // off and checks it, noting where the fields are (`ForwardRequestPacket`).
    let mut codec = ContainerCodec::new(P);
    let mut buf = BytesMut::with_capacity(P.get());
    g.bench_function("decode", |b| {
        b.iter(|| {
            buf.extend_from_slice(&packet);
            black_box(codec.decode(&mut buf).unwrap().unwrap())
        })
    });

    // The same, then every field read once, as a container turning it into an
    // `http::Request` does.
    let mut codec = ContainerCodec::new(P);
    let mut buf = BytesMut::with_capacity(P.get());
    g.bench_function("decode_and_read", |b| {
        b.iter(|| {
            buf.extend_from_slice(&packet);
            let Some(ProxyMessage::ForwardRequest(r)) = codec.decode(&mut buf).unwrap() else {
                unreachable!()
            };
            let mut n = r.protocol().len() + r.req_uri().len() + r.remote_addr().len();
            n += r.server_name().len();
            for (name, value) in r.headers() {
                n += name.len() + value.len();
            }
            for a in r.attributes() {
                n += matches!(a, Attribute::Secret(_)) as usize;
            }
            black_box(n)
        })
    });

    // Into the plain `ForwardRequest<Bytes>`: a `Bytes` per field.
    g.bench_function("decode_plain", |b| {
        b.iter(|| black_box(ForwardRequest::decode(black_box(packet.slice(4..))).unwrap()))
    });

    // The checks alone: a static payload has no reference count to touch, so this is the
    // one pass over the fields, each string's length read before the next can be found.
    let payload: &'static [u8] = packet.slice(4..).to_vec().leak();
    g.bench_function("decode_checks_only", |b| {
        b.iter(|| {
            let payload = Bytes::from_static(black_box(payload));
            black_box(ForwardRequestPacket::decode(payload).unwrap())
        })
    });

    g.bench_function("decode_borrowed", |b| {
        b.iter(|| black_box(ForwardRequest::parse(black_box(&packet[4..])).unwrap()))
    });

    let mut codec = ContainerCodec::new(P);
    let mut buf = BytesMut::with_capacity(P.get());
    g.bench_function("round_trip", |b| {
        b.iter(|| {
            black_box(&request).encode(&mut buf, P).unwrap();
            let Some(ProxyMessage::ForwardRequest(r)) = codec.decode(&mut buf).unwrap() else {
                unreachable!()
            };
            black_box(r)
        })
    });
    g.finish();
}

fn body_chunks(c: &mut Criterion) {
    let mut g = c.benchmark_group("body");
    for size in [8192usize, 65536] {
        let p = PacketSize::new(size).unwrap();

        let data = vec![0x61; p.max_response_body()];
        let mut packet = BytesMut::new();
        BodyChunk { data: &data[..] }
            .encode_response(&mut packet, p)
            .unwrap();
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut codec = ProxyCodec::new(p);
        // The decode alone: the packet is already in the read buffer.
        g.bench_function(format!("send_body_chunk_decode/{size}"), |b| {
            b.iter_batched_ref(
                || packet.clone(),
                |buf| {
                    let Some(ContainerMessage::SendBodyChunk(c)) = codec.decode(buf).unwrap()
                    else {
                        unreachable!()
                    };
                    c
                },
                BatchSize::SmallInput,
            )
        });
        // With the copy a socket read makes into the buffer, in a steady loop.
        let mut buf = BytesMut::with_capacity(2 * size);
        g.bench_function(format!("send_body_chunk_read_decode/{size}"), |b| {
            b.iter(|| {
                buf.extend_from_slice(&packet);
                black_box(codec.decode(&mut buf).unwrap().unwrap())
            })
        });

        let data = vec![0x62; p.max_request_body()];
        let mut packet = BytesMut::new();
        BodyChunk { data: &data[..] }
            .encode_request(&mut packet, p)
            .unwrap();
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut codec = ContainerCodec::new(p);
        g.bench_function(format!("request_body_decode/{size}"), |b| {
            b.iter_batched_ref(
                || packet.clone(),
                |buf| {
                    codec.expect_body();
                    let Some(ProxyMessage::Body(c)) = codec.decode(buf).unwrap() else {
                        unreachable!()
                    };
                    c
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, forward_request, body_chunks);
criterion_main!(benches);
