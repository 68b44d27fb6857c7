//! Outgoing bytes with body data held by reference, for vectored writes.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// What a connection has to write, in order: messages encoded into a buffer, and body data
/// held by reference between them.
///
/// The encoders of this crate write into a `BytesMut`, which would mean copying every body
/// byte into it. Instead, encode a body packet's head into [`buf`](Self::buf), queue the
/// data itself with [`push_data`](Self::push_data), and encode what follows; the queue is a
/// [`Buf`] whose [`chunks_vectored`](Buf::chunks_vectored) hands all the pieces to one
/// vectored write (`tokio_util::io::poll_write_buf`). The only copy of the data left is
/// the kernel's, and a deep queue costs references, not memory.
///
/// Queue by reference data that is yours to hold, such as an app's response frames. A
/// slice keeps its whole allocation alive until written, so a window into a buffer its
/// producer reuses (hyper's read buffer, say) makes the producer allocate a new one each
/// time: copy those. (Queuing a client upload's frames this way cost a proxy 70 % more CPU.)
///
/// ```
/// use ajp_codec::{PacketSize, SEND_BODY_CHUNK_TRAILER, WriteQueue, encode_send_body_chunk_head};
/// use bytes::{Buf, BufMut, Bytes};
///
/// let data = Bytes::from_static(b"hello");
/// let mut queue = WriteQueue::new();
/// encode_send_body_chunk_head(data.len(), queue.buf(), PacketSize::DEFAULT).unwrap();
/// queue.push_data(data.clone()); // by reference
/// queue.buf().put_u8(SEND_BODY_CHUNK_TRAILER);
///
/// assert_eq!(queue.len(), 13);
/// assert_eq!(&queue.copy_to_bytes(13)[..], b"AB\x00\x09\x03\x00\x05hello\x00");
/// assert!(queue.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct WriteQueue {
    /// Pieces before `tail`, oldest first: sealed encodings and body data.
    sealed: VecDeque<Bytes>,
    sealed_len: usize,
    /// Encodings since the last piece of data.
    tail: BytesMut,
}

impl WriteQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffer to encode the next message into; it is written after everything queued
    /// before it.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Queues `data` after everything encoded so far, without copying it.
    pub fn push_data(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            let encoded = self.tail.split().freeze();
            self.sealed_len += encoded.len();
            self.sealed.push_back(encoded);
        }
        self.sealed_len += data.len();
        self.sealed.push_back(data);
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.sealed_len + self.tail.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Buf for WriteQueue {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        match self.sealed.front() {
            Some(front) => front,
            None => &self.tail,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let sealed = self.sealed.iter().map(|b| &b[..]);
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        let mut n = 0;
        for (slot, piece) in dst.iter_mut().zip(sealed.chain(tail)) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len(), "advance past the end of the queue");
        while cnt > 0 {
            let Some(front) = self.sealed.front_mut() else {
                self.tail.advance(cnt);
                return;
            };
            let k = cnt.min(front.len());
            front.advance(k);
            self.sealed_len -= k;
            cnt -= k;
            if front.is_empty() {
                self.sealed.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue of numbered encodings with data of varied lengths between some of them,
    /// and the bytes it must produce.
    fn sample() -> (WriteQueue, Vec<u8>) {
        let mut queue = WriteQueue::new();
        let mut expected = Vec::new();
        for i in 0..200u32 {
            let head = format!("<{i}>");
            queue.buf().extend_from_slice(head.as_bytes());
            expected.extend_from_slice(head.as_bytes());
            if i % 3 != 0 {
                let data = Bytes::from(vec![b'a' + (i % 26) as u8; (i * 7 % 50) as usize]);
                expected.extend_from_slice(&data);
                queue.push_data(data);
            }
        }
        queue.buf().extend_from_slice(b"end");
        expected.extend_from_slice(b"end");
        (queue, expected)
    }

    /// Whatever each write takes (a partial vectored write, or one chunk at a time), the
    /// bytes come out in the order they were queued, and the queue ends empty.
    #[test]
    fn partial_writes_keep_the_order() {
        for step in [1, 3, 7, 100, 1 << 20] {
            for vectored in [false, true] {
                let (mut queue, expected) = sample();
                assert_eq!(queue.len(), expected.len());
                let mut out = Vec::new();
                while queue.has_remaining() {
                    let mut written = Vec::new();
                    if vectored {
                        let mut slices = [IoSlice::new(&[]); 64];
                        let n = queue.chunks_vectored(&mut slices);
                        assert!(n > 0);
                        for s in &slices[..n] {
                            written.extend_from_slice(s);
                        }
                    } else {
                        written.extend_from_slice(queue.chunk());
                    }
                    written.truncate(step);
                    out.extend_from_slice(&written);
                    queue.advance(written.len());
                }
                assert_eq!(out, expected, "step {step}, vectored {vectored}");
                assert!(queue.is_empty());
            }
        }
    }

    /// Data is held by reference: the queue's piece is the caller's allocation.
    #[test]
    fn data_is_not_copied() {
        let data = Bytes::from(vec![7u8; 8184]);
        let mut queue = WriteQueue::new();
        queue.buf().extend_from_slice(b"head");
        queue.push_data(data.slice(..));
        queue.buf().extend_from_slice(b"tail");
        let mut slices = [IoSlice::new(&[]); 64];
        assert_eq!(queue.chunks_vectored(&mut slices), 3);
        assert_eq!(slices[1].as_ptr(), data.as_ptr());
    }

    /// Empty data adds nothing, and an encoding after it still follows in order.
    #[test]
    fn empty_data_is_ignored() {
        let mut queue = WriteQueue::new();
        queue.buf().extend_from_slice(b"ab");
        queue.push_data(Bytes::new());
        queue.buf().extend_from_slice(b"cd");
        let mut slices = [IoSlice::new(&[]); 64];
        assert_eq!(
            queue.chunks_vectored(&mut slices),
            1,
            "one buffer, no data piece"
        );
        assert_eq!(&queue.copy_to_bytes(4)[..], b"abcd");
    }
}
