//! `N` Forward Request round trips (encode, then decode as a container does), the
//! benchmark's browser request, for counting instructions with callgrind, which is stable
//! on a noisy machine where timings are not:
//!
//! ```text
//! cargo build --release -p ajp-codec --example round_trips
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/rt.$n \
//!     target/release/examples/round_trips $n 2>&1 | grep refs
//! done
//! ```
//!
//! The difference between the two counts, divided by 100 000, is the instructions per round
//! trip. `round_trips N encode` counts the encode alone.

use std::hint::black_box;

use ajp_codec::{ContainerCodec, PacketSize, ProxyMessage};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

#[path = "../benches/support/browser_request.rs"]
mod browser_request;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = match args.next().map(|n| n.parse()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("usage: round_trips [N] [encode]: {e}");
            std::process::exit(2);
        }
    };
    let encode_only = args.next().as_deref() == Some("encode");
    let p = PacketSize::DEFAULT;
    let request = browser_request::browser_request();
    let mut codec = ContainerCodec::new(p);
    let mut buf = BytesMut::with_capacity(p.get());
    let start = std::time::Instant::now();
    for _ in 0..n {
        black_box(&request)
            .encode(&mut buf, p)
            .expect("fits a packet");
        if encode_only {
            buf.clear();
            continue;
        }
        match codec.decode(&mut buf) {
            Ok(Some(ProxyMessage::ForwardRequest(r))) => {
                black_box(r);
            }
            other => panic!("not a Forward Request: {other:?}"),
        }
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("{n} round trips, {per:.1} ns each");
}
