//! Body data, in both directions.
//!
//! ```text
//! request body packet (proxy → container, NO type byte):  len:u16 data[len]
//!                                   end of body:  len = 0, or an empty packet
//! SEND_BODY_CHUNK (container → proxy):   0x03 len:u16 data[len] [0x00]
//!                                   flush:  len = 0
//! ```
//!
//! Tomcat ends every SEND_BODY_CHUNK with one NUL that `len` does not count; httpd requires
//! it, so we always send it, and we accept its absence.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codes::msg;
use crate::error::{DecodeError, EncodeError};
use crate::packet::{PacketSize, TO_CONTAINER_MAGIC, TO_PROXY_MAGIC};

/// A piece of a request or response body.
///
/// As a request body packet, empty data marks the end of the body. As a SEND_BODY_CHUNK,
/// empty data asks the proxy to flush what it has sent so far to the client.
///
/// ```
/// use ajp_codec::{BodyChunk, PacketSize};
/// use bytes::BytesMut;
///
/// let mut buf = BytesMut::new();
/// BodyChunk { data: "Hello, AJP!\n" }.encode_response(&mut buf, PacketSize::DEFAULT).unwrap();
/// assert_eq!(&buf[..], b"AB\x00\x10\x03\x00\x0cHello, AJP!\n\x00");
///
/// buf.clear();
/// BodyChunk { data: "" }.encode_request(&mut buf, PacketSize::DEFAULT).unwrap();
/// assert_eq!(&buf[..], b"\x12\x34\x00\x02\x00\x00"); // end of body, as httpd sends it
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BodyChunk<S = Bytes> {
    /// The body bytes. Decoded chunks are slices of the read buffer: no copy.
    pub data: S,
}

impl<S: AsRef<[u8]>> BodyChunk<S> {
    /// Appends this chunk as a request body packet (proxy → container). At most
    /// [`PacketSize::max_request_body`] bytes.
    pub fn encode_request(
        &self,
        dst: &mut BytesMut,
        packet_size: PacketSize,
    ) -> Result<(), EncodeError> {
        encode_request_body(self.data.as_ref(), dst, packet_size)
    }

    /// Appends this chunk as SEND_BODY_CHUNK (container → proxy), with Tomcat's trailing
    /// NUL. At most [`PacketSize::max_response_body`] bytes.
    pub fn encode_response(
        &self,
        dst: &mut BytesMut,
        packet_size: PacketSize,
    ) -> Result<(), EncodeError> {
        encode_send_body_chunk(self.data.as_ref(), dst, packet_size)
    }
}

/// Appends `data` as one request body packet.
pub fn encode_request_body(
    data: &[u8],
    dst: &mut BytesMut,
    packet_size: PacketSize,
) -> Result<(), EncodeError> {
    // The head checks the length before anything is reserved or written.
    encode_request_body_head(data.len(), dst, packet_size)?;
    dst.reserve(data.len());
    dst.put_slice(data);
    Ok(())
}

/// Appends the head of a request body packet that carries `len` bytes: the 6 bytes before
/// the data. The packet is complete once exactly `len` bytes of data follow it on the wire.
///
/// For writers that send the data by reference (a vectored write) instead of copying it
/// into the buffer; [`encode_request_body`] is this plus the copy.
///
/// ```
/// use ajp_codec::{PacketSize, encode_request_body_head};
/// use bytes::BytesMut;
///
/// let mut head = BytesMut::new();
/// encode_request_body_head(5, &mut head, PacketSize::DEFAULT).unwrap();
/// assert_eq!(&head[..], b"\x12\x34\x00\x07\x00\x05"); // then the 5 bytes
/// ```
pub fn encode_request_body_head(
    len: usize,
    dst: &mut BytesMut,
    packet_size: PacketSize,
) -> Result<(), EncodeError> {
    let max = packet_size.max_request_body();
    if len > max {
        return Err(EncodeError::BodyTooLarge { len, max });
    }
    dst.reserve(6);
    dst.put_slice(&TO_CONTAINER_MAGIC);
    dst.put_u16(len as u16 + 2);
    dst.put_u16(len as u16);
    Ok(())
}

/// Appends `data` as one SEND_BODY_CHUNK packet.
pub fn encode_send_body_chunk(
    data: &[u8],
    dst: &mut BytesMut,
    packet_size: PacketSize,
) -> Result<(), EncodeError> {
    // The head checks the length before anything is reserved or written.
    encode_send_body_chunk_head(data.len(), dst, packet_size)?;
    dst.reserve(data.len() + 1);
    dst.put_slice(data);
    dst.put_u8(SEND_BODY_CHUNK_TRAILER);
    Ok(())
}

/// The byte that ends every SEND_BODY_CHUNK after its data (Tomcat's trailing NUL, which
/// the packet's length counts and the chunk's length does not).
pub const SEND_BODY_CHUNK_TRAILER: u8 = 0;

/// Appends the head of a SEND_BODY_CHUNK that carries `len` bytes: the 7 bytes before the
/// data. The packet is complete once exactly `len` bytes of data and then
/// [`SEND_BODY_CHUNK_TRAILER`] follow it on the wire.
///
/// For writers that send the data by reference (a vectored write) instead of copying it
/// into the buffer; [`encode_send_body_chunk`] is this plus the copy and the trailer.
///
/// ```
/// use ajp_codec::{PacketSize, SEND_BODY_CHUNK_TRAILER, encode_send_body_chunk_head};
/// use bytes::{BufMut, BytesMut};
///
/// let mut wire = BytesMut::new();
/// encode_send_body_chunk_head(5, &mut wire, PacketSize::DEFAULT).unwrap();
/// wire.put_slice(b"hello"); // or the same bytes in the next `IoSlice`
/// wire.put_u8(SEND_BODY_CHUNK_TRAILER);
/// assert_eq!(&wire[..], b"AB\x00\x09\x03\x00\x05hello\x00");
/// ```
pub fn encode_send_body_chunk_head(
    len: usize,
    dst: &mut BytesMut,
    packet_size: PacketSize,
) -> Result<(), EncodeError> {
    let max = packet_size.max_response_body();
    if len > max {
        return Err(EncodeError::BodyTooLarge { len, max });
    }
    // The trailer too: a writer that sends the data by reference puts it here next.
    dst.reserve(8);
    dst.put_slice(&TO_PROXY_MAGIC);
    dst.put_u16(len as u16 + 4);
    dst.put_u8(msg::SEND_BODY_CHUNK);
    dst.put_u16(len as u16);
    Ok(())
}

impl BodyChunk<Bytes> {
    /// Decodes a request body packet from its payload. Both end-of-body forms decode to an
    /// empty chunk: the empty payload (mod_jk) and a zero length (httpd).
    pub fn decode_request(payload: Bytes, packet_size: PacketSize) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Ok(Self { data: payload });
        }
        if payload.len() < 2 {
            return Err(DecodeError::Truncated {
                field: "body length",
                offset: 0,
            });
        }
        let len = u16::from_be_bytes([payload[0], payload[1]]) as usize;
        let max = packet_size.max_request_body();
        if len > max {
            return Err(DecodeError::BodyTooLarge { len, max });
        }
        let end = 2 + len;
        if end > payload.len() {
            return Err(DecodeError::Truncated {
                field: "body data",
                offset: 2,
            });
        }
        if end < payload.len() {
            return Err(DecodeError::TrailingBytes {
                count: payload.len() - end,
                offset: end,
            });
        }
        Ok(Self {
            data: payload.slice(2..end),
        })
    }

    /// Decodes SEND_BODY_CHUNK from its payload (starting with the type byte 3).
    pub fn decode_response(payload: Bytes, packet_size: PacketSize) -> Result<Self, DecodeError> {
        if payload.first() != Some(&msg::SEND_BODY_CHUNK) {
            return Err(match payload.first() {
                Some(&code) => DecodeError::UnknownMessageType { code },
                None => DecodeError::EmptyMessage,
            });
        }
        if payload.len() < 3 {
            return Err(DecodeError::Truncated {
                field: "chunk length",
                offset: 1,
            });
        }
        let len = u16::from_be_bytes([payload[1], payload[2]]) as usize;
        let max = packet_size.max_response_body();
        if len > max {
            return Err(DecodeError::BodyTooLarge { len, max });
        }
        let end = 3 + len;
        match payload.len().checked_sub(end) {
            None => Err(DecodeError::Truncated {
                field: "chunk data",
                offset: 3,
            }),
            // Tomcat's shape (one NUL after the data) or no trailer at all.
            Some(0) => Ok(Self {
                data: payload.slice(3..end),
            }),
            Some(1) if payload[end] == 0 => Ok(Self {
                data: payload.slice(3..end),
            }),
            Some(count) => Err(DecodeError::TrailingBytes { count, offset: end }),
        }
    }
}

impl<S: AsRef<[u8]>> fmt::Debug for BodyChunk<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.data.as_ref();
        // Small chunks in full (test failures read better), large ones by size.
        if data.len() <= 64 {
            f.debug_struct("BodyChunk")
                .field("data", &crate::forward_request::Text(data))
                .finish()
        } else {
            f.debug_struct("BodyChunk")
                .field("len", &data.len())
                .finish_non_exhaustive()
        }
    }
}
