//! AJP primitives: byte, boolean, u16 integer and string, read from a payload slice and
//! written into a `BytesMut`.
//!
//! A string is a big-endian `u16` length `L`, `L` bytes, then one NUL that `L` does not
//! count. Length `0xFFFF` is the null string: no bytes, no NUL. The empty string is
//! `00 00 00`.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError, Field};

/// Length prefix that marks a null string.
pub(crate) const NULL_STRING: u16 = 0xFFFF;

/// Reads primitives from one packet payload, checking every read against its end.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A reader of `buf` starting at `pos`.
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    pub(crate) fn buf(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self, field: Field) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(truncated(field, self.pos)),
        }
    }

    #[inline(always)]
    pub(crate) fn peek_u16(&self, field: Field) -> Result<u16, DecodeError> {
        match self.buf.get(self.pos..self.pos + 2) {
            Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(truncated(field, self.pos)),
        }
    }

    #[inline(always)]
    pub(crate) fn u16(&mut self, field: Field) -> Result<u16, DecodeError> {
        let v = self.peek_u16(field)?;
        self.pos += 2;
        Ok(v)
    }

    pub(crate) fn bool(&mut self, field: Field) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { field, value }),
        }
    }

    /// A nullable string: `None` for `0xFFFF`, otherwise the range of its bytes (NUL
    /// excluded) within the payload.
    #[inline(always)]
    pub(crate) fn opt_string(&mut self, field: Field) -> Result<Option<Range<usize>>, DecodeError> {
        let offset = self.pos;
        let len = self.u16(field)?;
        if len == NULL_STRING {
            return Ok(None);
        }
        let start = self.pos;
        let end = start + len as usize;
        // The NUL must be present and be the byte right after the string.
        if self.buf.get(end) != Some(&0) {
            return Err(bad_string(field, offset));
        }
        self.pos = end + 1;
        Ok(Some(start..end))
    }

    /// A string that must not be null.
    #[inline(always)]
    pub(crate) fn string(&mut self, field: Field) -> Result<Range<usize>, DecodeError> {
        let offset = self.pos;
        match self.opt_string(field)? {
            Some(range) => Ok(range),
            None => Err(unexpected_null(field, offset)),
        }
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                count,
                offset: self.pos,
            }),
        }
    }
}

// Errors are built out of line: the checks above stay small enough to inline into the
// loops that read every header of every request.

#[cold]
#[inline(never)]
fn truncated(field: Field, offset: usize) -> DecodeError {
    DecodeError::Truncated { field, offset }
}

#[cold]
#[inline(never)]
fn bad_string(field: Field, offset: usize) -> DecodeError {
    DecodeError::BadString { field, offset }
}

#[cold]
#[inline(never)]
fn unexpected_null(field: Field, offset: usize) -> DecodeError {
    DecodeError::UnexpectedNull { field, offset }
}

/// Turns ranges of a payload into the string type of a decoded message: `Bytes` slices
/// sharing the packet's allocation, or borrowed `&[u8]`.
pub(crate) trait Source<S> {
    fn slice(&self, range: Range<usize>) -> S;
    fn from_static(s: &'static [u8]) -> S;
}

impl Source<Bytes> for Bytes {
    #[inline]
    fn slice(&self, range: Range<usize>) -> Bytes {
        Bytes::slice(self, range)
    }
    #[inline]
    fn from_static(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }
}

impl<'a> Source<&'a [u8]> for &'a [u8] {
    #[inline]
    fn slice(&self, range: Range<usize>) -> &'a [u8] {
        &self[range]
    }
    #[inline]
    fn from_static(s: &'static [u8]) -> &'a [u8] {
        s
    }
}

/// The encoded length of an AJP string (length prefix, bytes, NUL), or why it cannot be
/// encoded.
#[inline]
pub(crate) fn string_len(field: Field, s: &[u8]) -> Result<usize, EncodeError> {
    if s.len() >= NULL_STRING as usize {
        return Err(EncodeError::StringTooLong {
            field,
            len: s.len(),
        });
    }
    Ok(2 + s.len() + 1)
}

/// The encoded length of a nullable AJP string.
#[inline]
pub(crate) fn opt_string_len(field: Field, s: Option<&[u8]>) -> Result<usize, EncodeError> {
    s.map_or(Ok(2), |s| string_len(field, s))
}

/// Writes primitives into a slice of the destination made ready beforehand, so that
/// encoding is plain copies. (`BufMut` on `BytesMut` checks capacity and calls out of line
/// for every put, which costs more than the copies here.)
///
/// It holds the part not yet written and splits each write off its front: one bounds
/// check per write, and no position to keep.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    rest: &'a mut [u8],
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { rest: buf }
    }

    /// The bytes not written yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes, to be written by the caller.
    #[inline(always)]
    fn take(&mut self, n: usize) -> &'a mut [u8] {
        let (head, tail) = std::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        head
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self, v: u8) {
        self.take(1)[0] = v;
    }

    #[inline(always)]
    pub(crate) fn u16(&mut self, v: u16) {
        self.take(2).copy_from_slice(&v.to_be_bytes());
    }

    /// An AJP string whose length was checked by [`string_len`].
    ///
    /// One bounds check for the whole string: the length, bytes and NUL are then written
    /// into parts of a slice whose length the compiler knows.
    #[inline(always)]
    pub(crate) fn string(&mut self, s: &[u8]) {
        let n = s.len();
        let dst = self.take(n + 3);
        let Some((len, rest)) = dst.split_first_chunk_mut::<2>() else {
            unreachable!("n + 3 >= 2")
        };
        *len = (n as u16).to_be_bytes();
        let Some((nul, body)) = rest.split_last_mut() else {
            unreachable!("n + 1 >= 1")
        };
        *nul = 0;
        copy(body, s);
    }

    /// A nullable AJP string whose length was checked by [`opt_string_len`].
    #[inline(always)]
    pub(crate) fn opt_string(&mut self, s: Option<&[u8]>) {
        match s {
            Some(s) => self.string(s),
            None => self.u16(NULL_STRING),
        }
    }
}

/// Copies `src` into `dst` (of the same length). Up to 32 bytes it takes two overlapping
/// fixed-size moves instead of a call to `memcpy`: most strings of a request (addresses,
/// protocol, coded-header values, attribute names, the secret) are this short, and for them
/// the call and its size dispatch cost more than the copy.
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n > 32 {
        dst.copy_from_slice(src);
    } else if n >= 16 {
        copy_ends::<16>(dst, src);
    } else if n >= 8 {
        copy_ends::<8>(dst, src);
    } else if n >= 4 {
        copy_ends::<4>(dst, src);
    } else if let (Some(d), Some(s)) = (dst.first_mut(), src.first()) {
        // 1 to 3 bytes: the first, middle and last cover them all.
        *d = *s;
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/// The first and the last `N` bytes of `src` into `dst`; with `N <= len <= 2N` they
/// overlap and cover every byte.
#[inline(always)]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
        *d = *s;
    }
    if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
        *d = *s;
    }
}

/// Appends one packet whose payload `write` writes into `room` bytes made ready for it
/// (its exact length, or a bound on it); the length field is filled in afterwards, and
/// unused room given back. The caller has checked that the payload fits `max_payload`.
#[inline]
pub(crate) fn put_packet(
    dst: &mut BytesMut,
    magic: [u8; 2],
    room: usize,
    max_payload: usize,
    write: impl FnOnce(&mut Writer<'_>),
) {
    use crate::packet::HEADER_LEN;
    let start = dst.len();
    dst.resize(start + HEADER_LEN + room, 0);
    let mut w = Writer::new(&mut dst[start + HEADER_LEN..]);
    write(&mut w);
    let len = room - w.remaining();
    debug_assert!(len <= max_payload);
    let [m0, m1] = magic;
    let [l0, l1] = (len as u16).to_be_bytes();
    dst[start..start + HEADER_LEN].copy_from_slice(&[m0, m1, l0, l1]);
    dst.truncate(start + HEADER_LEN + len);
}

/// [`EncodeError::TooLarge`] unless a payload of `len` bytes fits `max_payload`.
#[inline]
pub(crate) fn check_fits(len: usize, max_payload: usize) -> Result<(), EncodeError> {
    if len > max_payload {
        return Err(EncodeError::TooLarge {
            len,
            max: max_payload,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_write_exactly_the_bytes_of_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut buf = [0xEEu8; 48];
            copy(&mut buf[3..3 + n], &src[..n]);
            assert_eq!(&buf[3..3 + n], &src[..n], "length {n}");
            assert!(buf[..3].iter().all(|&b| b == 0xEE), "before, length {n}");
            assert!(buf[3 + n..].iter().all(|&b| b == 0xEE), "after, length {n}");
        }
    }

    #[test]
    fn strings_write_length_bytes_and_nul_for_every_length() {
        let src: Vec<u8> = (1..=70).collect();
        for n in 0..=70 {
            let mut buf = [0xEEu8; 80];
            let mut w = Writer::new(&mut buf[2..]);
            w.string(&src[..n]);
            assert_eq!(w.remaining(), 80 - 2 - n - 3);
            assert_eq!(buf[2..4], (n as u16).to_be_bytes(), "length {n}");
            assert_eq!(&buf[4..4 + n], &src[..n], "length {n}");
            assert_eq!(buf[4 + n], 0, "NUL, length {n}");
            assert!(buf[..2].iter().all(|&b| b == 0xEE), "before, length {n}");
            assert!(buf[5 + n..].iter().all(|&b| b == 0xEE), "after, length {n}");
        }
    }
}
