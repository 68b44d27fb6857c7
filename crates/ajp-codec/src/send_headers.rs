//! SEND_HEADERS (type 4): the response status and headers, sent once by the container.
//!
//! ```text
//! 0x04 status:u16 status_msg:str|null num_headers:u16
//!      num_headers × (name: 0xA0xx code | str, value: str)
//! ```

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::codes::{Direction, msg};
use crate::error::{DecodeError, EncodeError};
use crate::forward_request::{Text, header_len, read_headers, write_header};
use crate::packet::{PacketSize, TO_PROXY_MAGIC};
use crate::wire::{Reader, Source, check_fits, opt_string_len, put_packet};

/// The response head a container sends.
///
/// Tomcat sends the status code again as the message (`"200"`), never a reason phrase.
///
/// ```
/// use ajp_codec::{PacketSize, SendHeaders};
/// use bytes::BytesMut;
///
/// let head = SendHeaders {
///     status: 200,
///     message: Some("200"),
///     headers: vec![("Content-Type", "text/plain"), ("Content-Length", "12")],
/// };
/// let mut buf = BytesMut::new();
/// head.encode(&mut buf, PacketSize::DEFAULT).unwrap();
/// // Byte for byte what Tomcat 10 sends for this head.
/// assert_eq!(
///     &buf[..],
///     b"AB\x00\x21\x04\x00\xc8\x00\x03200\x00\x00\x02\
///       \xa0\x01\x00\x0atext/plain\x00\xa0\x03\x00\x0212\x00"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendHeaders<S = Bytes> {
    /// The status code as sent (not validated here: any `u16`).
    pub status: u16,
    /// The status message. Tomcat sends the number again (its bug 45026); a null message
    /// encodes and decodes, but mod_jk shows it as the reason phrase `ERROR`, so a
    /// container should always send one.
    pub message: Option<S>,
    /// Response headers in order, repeats kept. The 11 coded response header names are sent
    /// as codes (matched case-insensitively); decoded coded names are lower case.
    pub headers: Vec<(S, S)>,
}

impl<S: AsRef<[u8]>> SendHeaders<S> {
    /// Appends this head as one packet to `dst`; a head that does not fit one packet is an
    /// [`EncodeError::TooLarge`] and leaves `dst` as it was.
    pub fn encode(&self, dst: &mut BytesMut, packet_size: PacketSize) -> Result<(), EncodeError> {
        put_packet_headers(self, dst, packet_size)
    }

    /// Values of every header named `name` (ASCII case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a S> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.as_ref().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

fn put_packet_headers<S: AsRef<[u8]>>(
    h: &SendHeaders<S>,
    dst: &mut BytesMut,
    packet_size: PacketSize,
) -> Result<(), EncodeError> {
    // Length pass first: nothing is written unless the whole head can be.
    let mut len = 1 + 2; // type, status
    len += opt_string_len("status message", h.message.as_ref().map(AsRef::as_ref))?;
    len += 2; // num_headers
    if h.headers.len() > u16::MAX as usize {
        return Err(EncodeError::TooManyHeaders {
            count: h.headers.len(),
        });
    }
    for (name, value) in &h.headers {
        len += header_len(Direction::Response, name.as_ref(), value.as_ref())?;
    }
    let max = packet_size.max_payload();
    check_fits(len, max)?;
    put_packet(dst, TO_PROXY_MAGIC, len, max, |w| {
        w.u8(msg::SEND_HEADERS);
        w.u16(h.status);
        w.opt_string(h.message.as_ref().map(AsRef::as_ref));
        w.u16(h.headers.len() as u16);
        for (name, value) in &h.headers {
            write_header(w, Direction::Response, name.as_ref(), value.as_ref());
        }
    });
    Ok(())
}

impl SendHeaders<Bytes> {
    /// Decodes SEND_HEADERS from a packet payload (starting with the type byte 4). Strings
    /// are slices of `payload`.
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        decode_from(&payload, &payload)
    }
}

impl<'a> SendHeaders<&'a [u8]> {
    /// Decodes SEND_HEADERS from a payload, borrowing its fields.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        decode_from(payload, &payload)
    }
}

fn decode_from<S, P: Source<S>>(payload: &[u8], src: &P) -> Result<SendHeaders<S>, DecodeError> {
    let mut r = Reader::new(payload);
    let kind = r.u8("message type")?;
    if kind != msg::SEND_HEADERS {
        return Err(DecodeError::UnknownMessageType { code: kind });
    }
    let status = r.u16("status")?;
    let message = r.opt_string("status message")?.map(|m| src.slice(m));
    let headers = read_headers(&mut r, src, Direction::Response)?;
    r.finish()?;
    Ok(SendHeaders {
        status,
        message,
        headers,
    })
}

impl<S: AsRef<[u8]>> fmt::Debug for SendHeaders<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| (Text(n.as_ref()), Text(v.as_ref())))
            .collect();
        f.debug_struct("SendHeaders")
            .field("status", &self.status)
            .field("message", &self.message.as_ref().map(|m| Text(m.as_ref())))
            .field("headers", &headers)
            .finish()
    }
}
