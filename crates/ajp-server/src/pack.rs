//! Cuts the app's response body into SEND_BODY_CHUNKs, filling each packet across the app's
//! frames: an app that yields 4 KiB frames (tokio-util's `ReaderStream` over a file) or
//! 64 KiB ones would otherwise send a short packet per frame, and every packet costs the
//! proxy a message. Tomcat's output buffer packs the same way.
//!
//! What is held back is at most one short packet, and only while the app has more ready:
//! the connection sends it as soon as the app's body waits or ends ([`Packer::flush`]), so
//! streaming stays streaming.

use ajp_codec::{
    EncodeError, PacketSize, SEND_BODY_CHUNK_TRAILER, WriteQueue, encode_send_body_chunk,
    encode_send_body_chunk_head,
};
use bytes::{Buf, BufMut, BytesMut};

/// The response body side of one exchange, between the app's frames and the write buffer.
#[derive(Debug)]
pub(crate) struct Packer {
    packet_size: PacketSize,
    /// A short packet's data, waiting for the next frame to top it up.
    held: BytesMut,
}

impl Packer {
    pub(crate) fn new(packet_size: PacketSize) -> Self {
        Self {
            packet_size,
            held: BytesMut::new(),
        }
    }

    /// Queues full packets of `data` in `out` while it holds less than `high_water` bytes,
    /// and holds a short rest for the next frame. Returns with `data` empty, or with `out`
    /// at the mark and the rest of `data` still to push.
    pub(crate) fn push(
        &mut self,
        data: &mut impl Buf,
        out: &mut WriteQueue,
        high_water: usize,
    ) -> Result<(), EncodeError> {
        // P − 8: the most data one SEND_BODY_CHUNK carries.
        let max = self.packet_size.max_response_body();
        while data.has_remaining() && out.len() < high_water {
            if self.held.is_empty() && data.chunk().len() >= max {
                // A whole packet straight from the frame, by reference when the frame is
                // `Bytes` (its `copy_to_bytes` is a split): only the head is encoded.
                encode_send_body_chunk_head(max, out.buf(), self.packet_size)?;
                out.push_data(data.copy_to_bytes(max));
                out.buf().put_u8(SEND_BODY_CHUNK_TRAILER);
                continue;
            }
            let chunk = data.chunk();
            let n = (max - self.held.len()).min(chunk.len());
            self.held.extend_from_slice(&chunk[..n]);
            data.advance(n);
            if self.held.len() == max {
                self.flush(out)?;
            }
        }
        Ok(())
    }

    /// Encodes the short packet held back, if any: the app's body is waiting or has ended.
    /// Returns whether it wrote one.
    pub(crate) fn flush(&mut self, out: &mut WriteQueue) -> Result<bool, EncodeError> {
        if self.held.is_empty() {
            return Ok(false);
        }
        encode_send_body_chunk(&self.held, out.buf(), self.packet_size)?;
        self.held.clear();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use ajp_codec::{ContainerMessage, ProxyCodec};
    use bytes::Bytes;
    use tokio_util::codec::Decoder;

    use super::*;

    const P: PacketSize = PacketSize::DEFAULT;
    const MAX: usize = 8184;

    /// The data of every SEND_BODY_CHUNK queued in `out`, in order.
    fn chunks(mut out: WriteQueue) -> Vec<Bytes> {
        let mut wire = BytesMut::from(out.copy_to_bytes(out.len()));
        let mut codec = ProxyCodec::new(P);
        let mut out = Vec::new();
        while let Some(m) = codec.decode(&mut wire).unwrap() {
            let ContainerMessage::SendBodyChunk(c) = m else {
                panic!("{m:?}")
            };
            out.push(c.data);
        }
        assert!(wire.is_empty());
        out
    }

    fn body(len: usize, seed: usize) -> Bytes {
        (0..len).map(|i| ((i + seed) % 251) as u8).collect()
    }

    /// Frames all ready at once come out as full packets, in order, then one short packet
    /// when the body ends; nothing is lost or reordered.
    #[test]
    fn fills_packets_across_frames() {
        for frame in [1usize, 100, 4096, 8183, 8184, 8185, 65536] {
            let mut p = Packer::new(P);
            let mut wire = WriteQueue::new();
            let mut sent = Vec::new();
            for i in 0..7 {
                let mut data = body(frame, i);
                sent.extend_from_slice(&data);
                p.push(&mut data, &mut wire, usize::MAX).unwrap();
                assert!(!data.has_remaining());
            }
            p.flush(&mut wire).unwrap();
            let got = chunks(wire);
            let sizes: Vec<usize> = got.iter().map(Bytes::len).collect();
            let (last, full) = sizes.split_last().unwrap();
            assert!(full.iter().all(|&n| n == MAX), "frame {frame}: {sizes:?}");
            assert!(*last > 0 && *last <= MAX, "frame {frame}: {sizes:?}");
            assert_eq!(got.concat(), sent, "frame {frame}");
        }
    }

    /// A short rest is held only until the app waits: `flush` sends it as it is.
    #[test]
    fn a_short_rest_goes_out_when_the_app_waits() {
        let mut p = Packer::new(P);
        let mut wire = WriteQueue::new();
        p.push(&mut body(10_000, 0), &mut wire, usize::MAX).unwrap();
        assert!(p.flush(&mut wire).unwrap());
        assert!(!p.flush(&mut wire).unwrap(), "nothing left to flush");
        let sizes: Vec<usize> = chunks(wire).iter().map(Bytes::len).collect();
        assert_eq!(sizes, [MAX, 10_000 - MAX]);
    }

    /// Past the high-water mark `push` stops and leaves the rest of the frame to the caller.
    #[test]
    fn stops_at_the_high_water_mark() {
        let mut p = Packer::new(P);
        let mut wire = WriteQueue::new();
        let mut data = body(100_000, 0);
        p.push(&mut data, &mut wire, 3 * 8192).unwrap();
        assert_eq!(wire.len(), 3 * 8192, "three whole packets");
        assert_eq!(chunks(wire).len(), 3);
        assert_eq!(data.remaining(), 100_000 - 3 * MAX);
    }

    /// Whole packets of a `Bytes` frame go out from the frame itself: no copy of the data.
    #[test]
    fn whole_packets_are_queued_by_reference() {
        let mut p = Packer::new(P);
        let mut wire = WriteQueue::new();
        let frame = body(3 * MAX + 10, 0);
        let mut data = frame.clone();
        p.push(&mut data, &mut wire, usize::MAX).unwrap();
        let mut slices = [std::io::IoSlice::new(&[]); 16];
        let n = wire.chunks_vectored(&mut slices);
        for i in 0..3 {
            let start = frame[i * MAX..].as_ptr();
            assert!(
                slices[..n]
                    .iter()
                    .any(|s| s.as_ptr() == start && s.len() == MAX),
                "packet {i} was copied"
            );
        }
        p.flush(&mut wire).unwrap();
        assert_eq!(chunks(wire).concat(), frame);
    }

    proptest::proptest! {
        /// Whatever the frames and wherever the app waits: every byte comes out once and in
        /// order, `push` only ever writes full packets, and a short one comes only from
        /// `flush`, at a wait or the end.
        #[test]
        fn any_frames_any_waits(
            frames in proptest::collection::vec((1usize..20_000, proptest::bool::ANY), 1..24),
        ) {
            let mut p = Packer::new(P);
            let (mut sent, mut got) = (Vec::new(), Vec::new());
            for (i, &(len, waits)) in frames.iter().enumerate() {
                let mut data = body(len, i);
                sent.extend_from_slice(&data);
                let mut wire = WriteQueue::new();
                p.push(&mut data, &mut wire, usize::MAX).unwrap();
                for c in chunks(wire) {
                    proptest::prop_assert_eq!(c.len(), MAX);
                    got.extend_from_slice(&c);
                }
                if waits || i + 1 == frames.len() {
                    let mut wire = WriteQueue::new();
                    let wrote = p.flush(&mut wire).unwrap();
                    let flushed = chunks(wire);
                    proptest::prop_assert_eq!(flushed.len(), usize::from(wrote));
                    for c in flushed {
                        proptest::prop_assert!(!c.is_empty() && c.len() < MAX);
                        got.extend_from_slice(&c);
                    }
                }
            }
            proptest::prop_assert_eq!(got, sent);
        }
    }

    /// A frame made of several slices (any `Buf`) is packed the same.
    #[test]
    fn non_contiguous_frames() {
        let mut p = Packer::new(P);
        let mut wire = WriteQueue::new();
        let (a, b) = (body(5_000, 0), body(5_000, 1));
        let mut data = a.clone().chain(b.clone());
        p.push(&mut data, &mut wire, usize::MAX).unwrap();
        p.flush(&mut wire).unwrap();
        let got = chunks(wire);
        assert_eq!(
            got.iter().map(Bytes::len).collect::<Vec<_>>(),
            [MAX, 10_000 - MAX]
        );
        assert_eq!(got.concat(), [a, b].concat());
    }
}
