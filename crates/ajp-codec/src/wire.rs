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

    pub(crate) fn buf(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn u8(&mut self, field: Field) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated {
            field,
            offset: self.pos,
        })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn peek_u16(&self, field: Field) -> Result<u16, DecodeError> {
        match self.buf.get(self.pos..self.pos + 2) {
            Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
            None => Err(DecodeError::Truncated {
                field,
                offset: self.pos,
            }),
        }
    }

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
            return Err(DecodeError::BadString { field, offset });
        }
        self.pos = end + 1;
        Ok(Some(start..end))
    }

    /// A string that must not be null.
    pub(crate) fn string(&mut self, field: Field) -> Result<Range<usize>, DecodeError> {
        let offset = self.pos;
        self.opt_string(field)?
            .ok_or(DecodeError::UnexpectedNull { field, offset })
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

/// Writes primitives into a slice sized beforehand (by the `*_len` functions), so that
/// encoding is a length pass, one `resize` of the destination, and plain copies.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    #[inline]
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf[self.pos] = v;
        self.pos += 1;
    }

    #[inline]
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    #[inline]
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    /// An AJP string whose length was checked by [`string_len`].
    #[inline]
    pub(crate) fn string(&mut self, s: &[u8]) {
        self.u16(s.len() as u16);
        self.bytes(s);
        self.u8(0);
    }

    /// A nullable AJP string whose length was checked by [`opt_string_len`].
    #[inline]
    pub(crate) fn opt_string(&mut self, s: Option<&[u8]>) {
        match s {
            Some(s) => self.string(s),
            None => self.u16(NULL_STRING),
        }
    }
}

/// Appends one packet of a payload of `payload_len` bytes (as computed by a length pass)
/// that `write` fills in. A payload over `max_payload` is [`EncodeError::TooLarge`] and
/// leaves `dst` untouched.
#[inline]
pub(crate) fn put_packet(
    dst: &mut BytesMut,
    magic: [u8; 2],
    payload_len: usize,
    max_payload: usize,
    write: impl FnOnce(&mut Writer<'_>),
) -> Result<(), EncodeError> {
    if payload_len > max_payload {
        return Err(EncodeError::TooLarge {
            len: payload_len,
            max: max_payload,
        });
    }
    let start = dst.len();
    dst.resize(start + crate::packet::HEADER_LEN + payload_len, 0);
    let mut w = Writer {
        buf: &mut dst[start..],
        pos: 0,
    };
    w.bytes(&magic);
    w.u16(payload_len as u16);
    write(&mut w);
    debug_assert_eq!(w.pos, crate::packet::HEADER_LEN + payload_len);
    Ok(())
}
