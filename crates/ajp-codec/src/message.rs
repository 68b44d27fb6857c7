//! The messages of each direction as one enum, and how each is encoded and decoded.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::body_chunk::{BodyChunk, encode_request_body, encode_send_body_chunk};
use crate::codes::msg;
use crate::control::{EndResponse, GetBodyChunk};
use crate::error::{DecodeError, EncodeError};
use crate::forward_request::ForwardRequest;
use crate::packet::{PacketSize, TO_CONTAINER_MAGIC, TO_PROXY_MAGIC};
use crate::received::ForwardRequestPacket;
use crate::send_headers::SendHeaders;

/// A message the proxy sends to the container (magic `0x12 0x34`).
///
/// `F` is the type of a request head: a [`ForwardRequest`] to encode, or a
/// [`ForwardRequestPacket`] as [`ContainerCodec`](crate::ContainerCodec) decodes it (read in
/// place, see there why).
#[derive(Clone, PartialEq, Eq)]
pub enum ProxyMessage<S = Bytes, F = ForwardRequest<S>> {
    /// FORWARD_REQUEST (2): a request head.
    ForwardRequest(F),
    /// A request body packet (no type byte). Empty data marks the end of the body.
    Body(BodyChunk<S>),
    /// CPING (10): "are you alive?" — answered with [`ContainerMessage::CPong`].
    CPing,
    /// SHUTDOWN (7). Tomcat does not implement it and closes the connection.
    Shutdown,
}

/// A message the container sends to the proxy (magic `AB`).
#[derive(Clone, PartialEq, Eq)]
pub enum ContainerMessage<S = Bytes> {
    /// SEND_HEADERS (4): status and headers.
    SendHeaders(SendHeaders<S>),
    /// SEND_BODY_CHUNK (3): response body data; empty data means "flush".
    SendBodyChunk(BodyChunk<S>),
    /// END_RESPONSE (5): the response is complete.
    EndResponse(EndResponse),
    /// GET_BODY_CHUNK (6): send me more of the request body.
    GetBodyChunk(GetBodyChunk),
    /// CPONG (9): the answer to a CPING.
    CPong,
}

impl<S> From<ForwardRequest<S>> for ProxyMessage<S> {
    fn from(m: ForwardRequest<S>) -> Self {
        Self::ForwardRequest(m)
    }
}

impl From<ForwardRequestPacket> for ProxyMessage<Bytes, ForwardRequestPacket> {
    fn from(m: ForwardRequestPacket) -> Self {
        Self::ForwardRequest(m)
    }
}

/// The plain form of a received message: a received head becomes a [`ForwardRequest`]
/// whose fields are slices of the packet. (To compare a received message with a plain
/// one, convert it: `ProxyMessage::from(received) == plain`.)
impl From<ProxyMessage<Bytes, ForwardRequestPacket>> for ProxyMessage<Bytes> {
    fn from(m: ProxyMessage<Bytes, ForwardRequestPacket>) -> Self {
        match m {
            ProxyMessage::ForwardRequest(p) => Self::ForwardRequest(p.to_forward_request()),
            ProxyMessage::Body(b) => Self::Body(b),
            ProxyMessage::CPing => Self::CPing,
            ProxyMessage::Shutdown => Self::Shutdown,
        }
    }
}

impl<S> From<SendHeaders<S>> for ContainerMessage<S> {
    fn from(m: SendHeaders<S>) -> Self {
        Self::SendHeaders(m)
    }
}

impl<S> From<EndResponse> for ContainerMessage<S> {
    fn from(m: EndResponse) -> Self {
        Self::EndResponse(m)
    }
}

impl<S> From<GetBodyChunk> for ContainerMessage<S> {
    fn from(m: GetBodyChunk) -> Self {
        Self::GetBodyChunk(m)
    }
}

/// Writes a packet whose payload is a few fixed bytes.
fn put_small(dst: &mut BytesMut, magic: [u8; 2], payload: &[u8]) {
    dst.reserve(4 + payload.len());
    dst.put_slice(&magic);
    dst.put_u16(payload.len() as u16);
    dst.put_slice(payload);
}

impl<S: AsRef<[u8]>> ProxyMessage<S> {
    /// Appends this message as one packet to `dst`. On error `dst` is unchanged.
    pub fn encode(&self, dst: &mut BytesMut, packet_size: PacketSize) -> Result<(), EncodeError> {
        self.encode_with(dst, packet_size, |m, dst| m.encode(dst, packet_size))
    }
}

impl ProxyMessage<Bytes, ForwardRequestPacket> {
    /// Appends this message as one packet to `dst` (a received head as it came). On error
    /// `dst` is unchanged.
    pub fn encode(&self, dst: &mut BytesMut, packet_size: PacketSize) -> Result<(), EncodeError> {
        self.encode_with(dst, packet_size, |m, dst| m.encode(dst, packet_size))
    }

    /// Decodes a message (not a body packet) from a payload.
    #[inline]
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        match payload.first() {
            None => Err(DecodeError::EmptyMessage),
            Some(&msg::FORWARD_REQUEST) => {
                ForwardRequestPacket::decode(payload).map(Self::ForwardRequest)
            }
            Some(&code @ (msg::CPING | msg::SHUTDOWN)) => {
                if payload.len() > 1 {
                    return Err(DecodeError::TrailingBytes {
                        count: payload.len() - 1,
                        offset: 1,
                    });
                }
                Ok(if code == msg::CPING {
                    Self::CPing
                } else {
                    Self::Shutdown
                })
            }
            Some(&code) => Err(DecodeError::UnknownMessageType { code }),
        }
    }
}

impl<S: AsRef<[u8]>, F> ProxyMessage<S, F> {
    fn encode_with(
        &self,
        dst: &mut BytesMut,
        packet_size: PacketSize,
        head: impl FnOnce(&F, &mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        match self {
            Self::ForwardRequest(m) => head(m, dst),
            Self::Body(b) => encode_request_body(b.data.as_ref(), dst, packet_size),
            Self::CPing => {
                put_small(dst, TO_CONTAINER_MAGIC, &[msg::CPING]);
                Ok(())
            }
            Self::Shutdown => {
                put_small(dst, TO_CONTAINER_MAGIC, &[msg::SHUTDOWN]);
                Ok(())
            }
        }
    }
}

impl<S: AsRef<[u8]>> ContainerMessage<S> {
    /// Appends this message as one packet to `dst`. On error `dst` is unchanged.
    pub fn encode(&self, dst: &mut BytesMut, packet_size: PacketSize) -> Result<(), EncodeError> {
        match self {
            Self::SendHeaders(m) => m.encode(dst, packet_size),
            Self::SendBodyChunk(b) => encode_send_body_chunk(b.data.as_ref(), dst, packet_size),
            Self::EndResponse(e) => {
                put_small(dst, TO_PROXY_MAGIC, &[msg::END_RESPONSE, e.reuse.into()]);
                Ok(())
            }
            Self::GetBodyChunk(g) => {
                let [hi, lo] = g.requested_len.to_be_bytes();
                put_small(dst, TO_PROXY_MAGIC, &[msg::GET_BODY_CHUNK, hi, lo]);
                Ok(())
            }
            Self::CPong => {
                put_small(dst, TO_PROXY_MAGIC, &[msg::CPONG]);
                Ok(())
            }
        }
    }
}

impl ContainerMessage<Bytes> {
    /// Decodes a message from a payload.
    pub fn decode(payload: Bytes, packet_size: PacketSize) -> Result<Self, DecodeError> {
        let exact = |len: usize| {
            if payload.len() < len {
                Err(DecodeError::Truncated {
                    field: "message",
                    offset: payload.len(),
                })
            } else if payload.len() > len {
                Err(DecodeError::TrailingBytes {
                    count: payload.len() - len,
                    offset: len,
                })
            } else {
                Ok(())
            }
        };
        match payload.first() {
            None => Err(DecodeError::EmptyMessage),
            Some(&msg::SEND_BODY_CHUNK) => {
                BodyChunk::decode_response(payload, packet_size).map(Self::SendBodyChunk)
            }
            Some(&msg::SEND_HEADERS) => SendHeaders::decode(payload).map(Self::SendHeaders),
            Some(&msg::END_RESPONSE) => {
                exact(2)?;
                let reuse = match payload[1] {
                    0 => false,
                    1 => true,
                    value => {
                        return Err(DecodeError::InvalidBool {
                            field: "reuse",
                            value,
                        });
                    }
                };
                Ok(Self::EndResponse(EndResponse { reuse }))
            }
            Some(&msg::GET_BODY_CHUNK) => {
                exact(3)?;
                Ok(Self::GetBodyChunk(GetBodyChunk {
                    requested_len: u16::from_be_bytes([payload[1], payload[2]]),
                }))
            }
            Some(&msg::CPONG) => {
                exact(1)?;
                Ok(Self::CPong)
            }
            Some(&code) => Err(DecodeError::UnknownMessageType { code }),
        }
    }
}

impl<S: AsRef<[u8]>, F: fmt::Debug> fmt::Debug for ProxyMessage<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ForwardRequest(m) => m.fmt(f),
            Self::Body(b) => f.debug_tuple("Body").field(b).finish(),
            Self::CPing => f.write_str("CPing"),
            Self::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl<S: AsRef<[u8]>> fmt::Debug for ContainerMessage<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SendHeaders(m) => m.fmt(f),
            Self::SendBodyChunk(b) => f.debug_tuple("SendBodyChunk").field(b).finish(),
            Self::EndResponse(e) => e.fmt(f),
            Self::GetBodyChunk(g) => g.fmt(f),
            Self::CPong => f.write_str("CPong"),
        }
    }
}
