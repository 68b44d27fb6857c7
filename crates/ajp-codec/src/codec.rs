//! tokio-util [`Decoder`]/[`Encoder`] adapters: framing only, all meaning lives in the
//! message types.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::body_chunk::BodyChunk;
use crate::error::{DecodeError, EncodeError};
use crate::message::{ContainerMessage, ProxyMessage};
use crate::packet::{HEADER_LEN, PacketSize, TO_CONTAINER_MAGIC, TO_PROXY_MAGIC};
use crate::received::ForwardRequestPacket;

/// Splits one whole packet off `src`, returning its payload, or `None` if more bytes are
/// needed. The declared length is checked against the limit before anything is reserved.
fn split_packet(
    src: &mut BytesMut,
    magic: [u8; 2],
    packet_size: PacketSize,
) -> Result<Option<Bytes>, DecodeError> {
    // Check the magic as soon as its bytes are here, so garbage fails fast.
    if src.first_chunk::<2>() != Some(&magic) {
        let here = src.len().min(2);
        if src[..here] != magic[..here] {
            let mut found = [0; 2];
            found[..here].copy_from_slice(&src[..here]);
            return Err(DecodeError::BadMagic { found });
        }
    }
    let Some(&[_, _, hi, lo]) = src.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let len = u16::from_be_bytes([hi, lo]) as usize;
    let max = packet_size.max_payload();
    if len > max {
        return Err(DecodeError::TooLarge { len, max });
    }
    let total = HEADER_LEN + len;
    if src.len() < total {
        // Room for the rest of this packet and the next header.
        src.reserve(total - src.len() + HEADER_LEN);
        return Ok(None);
    }
    // Skipping the header on the frozen `Bytes` is a pointer bump; on `BytesMut` it is an
    // out-of-line call that tells its storage kinds apart.
    let mut payload = src.split_to(total).freeze();
    payload.advance(HEADER_LEN);
    Ok(Some(payload))
}

fn eof_check(src: &BytesMut) -> Result<(), DecodeError> {
    if src.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedEof {
            buffered: src.len(),
        })
    }
}

/// The codec a **proxy** uses: it encodes [`ProxyMessage`]s and decodes
/// [`ContainerMessage`]s.
///
/// ```
/// use ajp_codec::{ContainerMessage, PacketSize, ProxyCodec, ProxyMessage};
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ProxyCodec::new(PacketSize::DEFAULT);
/// let mut out = BytesMut::new();
/// codec.encode(ProxyMessage::<&[u8]>::CPing, &mut out).unwrap();
/// assert_eq!(&out[..], &[0x12, 0x34, 0x00, 0x01, 0x0a]);
///
/// let mut input = BytesMut::from(&[0x41, 0x42, 0x00, 0x01, 0x09][..]);
/// assert_eq!(codec.decode(&mut input).unwrap(), Some(ContainerMessage::CPong));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ProxyCodec {
    packet_size: PacketSize,
}

impl ProxyCodec {
    /// A codec for the given packet size.
    pub fn new(packet_size: PacketSize) -> Self {
        Self { packet_size }
    }

    /// The configured packet size.
    pub fn packet_size(&self) -> PacketSize {
        self.packet_size
    }
}

impl Decoder for ProxyCodec {
    type Item = ContainerMessage;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match split_packet(src, TO_PROXY_MAGIC, self.packet_size)? {
            Some(payload) => ContainerMessage::decode(payload, self.packet_size).map(Some),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.decode(src)? {
            Some(m) => Ok(Some(m)),
            None => eof_check(src).map(|()| None),
        }
    }
}

impl<S: AsRef<[u8]>> Encoder<ProxyMessage<S>> for ProxyCodec {
    type Error = EncodeError;

    fn encode(&mut self, item: ProxyMessage<S>, dst: &mut BytesMut) -> Result<(), Self::Error> {
        item.encode(dst, self.packet_size)
    }
}

/// Forwards a received message as it came.
impl Encoder<ProxyMessage<Bytes, ForwardRequestPacket>> for ProxyCodec {
    type Error = EncodeError;

    fn encode(
        &mut self,
        item: ProxyMessage<Bytes, ForwardRequestPacket>,
        dst: &mut BytesMut,
    ) -> Result<(), Self::Error> {
        item.encode(dst, self.packet_size)
    }
}

/// The codec a **container** uses: it decodes [`ProxyMessage`]s and encodes
/// [`ContainerMessage`]s.
///
/// Request body packets carry no type byte, so they cannot be told apart from messages by
/// their bytes: a body starting with `0x02` looks like a Forward Request. The container
/// knows when a body packet is due (right after a Forward Request with a non-zero
/// Content-Length, and after each GET_BODY_CHUNK it sends) and says so with
/// [`expect_body`](Self::expect_body); the next packet is then decoded as
/// [`ProxyMessage::Body`].
///
/// ```
/// use ajp_codec::{ContainerCodec, PacketSize, ProxyMessage};
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = ContainerCodec::new(PacketSize::DEFAULT);
/// let mut input = BytesMut::from(&b"\x12\x34\x00\x04\x00\x02hi\x12\x34\x00\x01\x0a"[..]);
/// codec.expect_body();
/// match codec.decode(&mut input).unwrap() {
///     Some(ProxyMessage::Body(chunk)) => assert_eq!(chunk.data, "hi"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(codec.decode(&mut input).unwrap(), Some(ProxyMessage::CPing));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ContainerCodec {
    packet_size: PacketSize,
    expect_body: bool,
}

impl ContainerCodec {
    /// A codec for the given packet size.
    pub fn new(packet_size: PacketSize) -> Self {
        Self {
            packet_size,
            expect_body: false,
        }
    }

    /// The configured packet size.
    pub fn packet_size(&self) -> PacketSize {
        self.packet_size
    }

    /// Decode the next packet as a request body packet. Applies to one packet only.
    pub fn expect_body(&mut self) {
        self.expect_body = true;
    }

    /// Whether the next packet will be decoded as a body packet.
    pub fn is_expecting_body(&self) -> bool {
        self.expect_body
    }
}

impl Decoder for ContainerCodec {
    type Item = ProxyMessage<Bytes, ForwardRequestPacket>;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        let Some(payload) = split_packet(src, TO_CONTAINER_MAGIC, self.packet_size)? else {
            return Ok(None);
        };
        if std::mem::take(&mut self.expect_body) {
            BodyChunk::decode_request(payload, self.packet_size)
                .map(|b| Some(ProxyMessage::Body(b)))
        } else {
            ProxyMessage::decode(payload).map(Some)
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.decode(src)? {
            Some(m) => Ok(Some(m)),
            None => eof_check(src).map(|()| None),
        }
    }
}

impl<S: AsRef<[u8]>> Encoder<ContainerMessage<S>> for ContainerCodec {
    type Error = EncodeError;

    fn encode(&mut self, item: ContainerMessage<S>, dst: &mut BytesMut) -> Result<(), Self::Error> {
        item.encode(dst, self.packet_size)
    }
}
