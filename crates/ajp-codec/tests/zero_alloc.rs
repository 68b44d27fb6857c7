//! Zero copy, by counting: after warm-up, reading SEND_BODY_CHUNK and request body packets
//! into a buffer, decoding and dropping them allocates nothing at all per chunk, as in a
//! `FramedRead` loop. (Its own test binary: the counting allocator is process-wide.)
//!
//! Only the test's own thread is counted: libtest's main thread makes its first
//! allocations whenever the scheduler lets it, which on a loaded machine can be in the
//! middle of the measured loop.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ajp_codec::{
    BodyChunk, ContainerCodec, ContainerMessage, PacketSize, ProxyCodec, ProxyMessage,
};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: using it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: allocations while a thread is torn down are not ours to count.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Reads `wire` in `read_size` pieces into `buf` (reserving like a `FramedRead`), decodes
/// every whole packet with `decode`, checks and drops it. Returns allocations counted.
fn steady_loop(
    wire: &[u8],
    read_size: usize,
    rounds: usize,
    buf: &mut BytesMut,
    mut decode: impl FnMut(&mut BytesMut) -> Option<usize>,
) -> usize {
    let before = allocations();
    let mut total = 0;
    for _ in 0..rounds {
        for piece in wire.chunks(read_size) {
            buf.reserve(piece.len());
            buf.extend_from_slice(piece);
            while let Some(len) = decode(buf) {
                total += len;
            }
        }
    }
    assert!(total > 0);
    allocations() - before
}

#[test]
fn no_allocation_per_body_chunk_after_warm_up() {
    for p in [PacketSize::MIN, PacketSize::MAX] {
        // Container → proxy: full SEND_BODY_CHUNKs and a small one, read 4 KiB at a time.
        let data = vec![0x61; p.max_response_body()];
        let mut wire = BytesMut::new();
        for len in [data.len(), data.len(), 100, data.len()] {
            BodyChunk { data: &data[..len] }
                .encode_response(&mut wire, p)
                .unwrap();
        }
        let mut codec = ProxyCodec::new(p);
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let mut decode = |buf: &mut BytesMut| match codec.decode(buf).unwrap()? {
            ContainerMessage::SendBodyChunk(chunk) => Some(chunk.data.len()),
            other => panic!("{other:?}"),
        };
        // Warm-up: the buffer grows to hold a packet and becomes shareable (the counter
        // does see those allocations).
        let warm_up = steady_loop(&wire, 4096, 3, &mut buf, &mut decode);
        assert!(warm_up > 0);
        let n = steady_loop(&wire, 4096, 50, &mut buf, &mut decode);
        assert_eq!(n, 0, "allocations for 200 SEND_BODY_CHUNKs at {p:?}");

        // Proxy → container: request body packets, read 16 KiB at a time.
        let data = vec![0x62; p.max_request_body()];
        let mut wire = BytesMut::new();
        for len in [data.len(), 7, data.len()] {
            BodyChunk { data: &data[..len] }
                .encode_request(&mut wire, p)
                .unwrap();
        }
        let mut codec = ContainerCodec::new(p);
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let mut decode = |buf: &mut BytesMut| {
            codec.expect_body();
            match codec.decode(buf).unwrap()? {
                ProxyMessage::Body(chunk) => Some(chunk.data.len()),
                other => panic!("{other:?}"),
            }
        };
        let warm_up = steady_loop(&wire, 16 * 1024, 3, &mut buf, &mut decode);
        assert!(warm_up > 0);
        let n = steady_loop(&wire, 16 * 1024, 50, &mut buf, &mut decode);
        assert_eq!(n, 0, "allocations for 150 request body packets at {p:?}");
    }
}
