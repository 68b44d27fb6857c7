//! The extended-mode metadata frame that travels with the fd.
//!
//! The byte layout is specified in the [crate docs](crate#the-extended-wire-format).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// The four bytes every extended frame starts with.
pub const MAGIC: [u8; 4] = *b"FDPX";
/// The frame version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Length of the fixed frame header (magic, version, flags, reserved, payload length).
pub const HEADER_LEN: usize = 12;
/// Default bound on the payload length a [`Receiver`](crate::Receiver) accepts (1 MiB).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1 << 20;

const FLAG_HEAD_SENT: u8 = 0b001;
const FLAG_BODY_COMPLETE: u8 = 0b010;
const FLAG_BODY_DECHUNKED: u8 = 0b100;

/// What the sender knew about a connection when it handed it off (extended mode only).
///
/// The worker's view of the client byte stream is
/// `body() ++ read_buf() ++ <whatever is still unread on the socket>`, with the request head
/// in [`head()`](Self::head) already consumed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    peer_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    head: Bytes,
    body: Bytes,
    read_buf: Bytes,
    written: u32,
    body_complete: bool,
    body_dechunked: bool,
}

impl Metadata {
    /// Empty metadata; fill it with the `with_*` setters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client's address.
    pub fn with_peer_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.peer_addr = addr;
        self
    }

    /// Sets our local address of the client connection.
    pub fn with_local_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.local_addr = addr;
        self
    }

    /// Sets the request head (request line and headers, ending in an empty line).
    pub fn with_head(mut self, head: Bytes) -> Self {
        self.head = head;
        self
    }

    /// Sets the request-body bytes the sender already read, and whether they are the whole
    /// body (`complete`) and were de-chunked (`dechunked`).
    pub fn with_body(mut self, body: Bytes, complete: bool, dechunked: bool) -> Self {
        self.body = body;
        self.body_complete = complete;
        self.body_dechunked = dechunked;
        self
    }

    /// Sets the bytes read from the client after the request (pipelined requests).
    pub fn with_read_buf(mut self, read_buf: Bytes) -> Self {
        self.read_buf = read_buf;
        self
    }

    /// Sets how many bytes the flusher already wrote to the client.
    pub fn with_written(mut self, written: u32) -> Self {
        self.written = written;
        self
    }

    /// The client's address, if the sender knew it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The local address of the client connection, if the sender knew it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The request head as the sender parsed it: `METHOD target HTTP/1.x\r\n`, one
    /// `name: value\r\n` per header (names lower-case, in `http::HeaderMap` order: the
    /// values of a repeated name together, in the order they came), then `\r\n`.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// Request-body bytes the sender had already read from the socket.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Bytes the sender had read after the request: the start of pipelined requests.
    pub fn read_buf(&self) -> &Bytes {
        &self.read_buf
    }

    /// Whether something was already written to the client (the flusher sent a head), so
    /// the worker must not send a status line.
    pub fn head_sent(&self) -> bool {
        self.written > 0
    }

    /// How many bytes the flusher wrote to the client before the hand-off.
    pub fn written(&self) -> u32 {
        self.written
    }

    /// Whether [`body()`](Self::body) holds the whole request body, so no body bytes are left
    /// on the socket.
    pub fn body_complete(&self) -> bool {
        self.body_complete
    }

    /// Whether the body was sent chunked by the client and [`body()`](Self::body) holds it
    /// de-chunked (the head still says `transfer-encoding: chunked`).
    pub fn body_dechunked(&self) -> bool {
        self.body_dechunked
    }

    /// The request method, from the first line of [`head()`](Self::head).
    pub fn method(&self) -> Option<&str> {
        self.request_line().and_then(|l| l.split(' ').next())
    }

    /// The request target, from the first line of [`head()`](Self::head).
    pub fn target(&self) -> Option<&str> {
        self.request_line().and_then(|l| l.split(' ').nth(1))
    }

    /// The value of the first header called `name` (ASCII case-insensitive) in
    /// [`head()`](Self::head).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head
            .split(|&b| b == b'\n')
            .skip(1)
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .find_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let (n, v) = line.split_at(colon);
                n.eq_ignore_ascii_case(name.as_bytes())
                    .then(|| v[1..].trim_ascii())
            })
    }

    fn request_line(&self) -> Option<&str> {
        let end = self.head.iter().position(|&b| b == b'\r' || b == b'\n')?;
        std::str::from_utf8(&self.head[..end]).ok()
    }

    /// Encodes the whole frame (header and payload).
    ///
    /// Fails with [`Error::is_too_large`] if a section does not fit its `u32` length field.
    pub fn encode(&self) -> Result<Bytes> {
        let mut payload = BytesMut::with_capacity(
            2 * 19 + 16 + self.head.len() + self.body.len() + self.read_buf.len(),
        );
        put_addr(&mut payload, self.peer_addr);
        put_addr(&mut payload, self.local_addr);
        for (what, section) in [
            ("request head", &self.head),
            ("request body", &self.body),
            ("read_buf", &self.read_buf),
        ] {
            let len = u32::try_from(section.len())
                .map_err(|_| Error::new_too_large(what, section.len() as u64, u32::MAX.into()))?;
            payload.put_u32(len);
            payload.put_slice(section);
        }
        payload.put_u32(self.written);
        let len = u32::try_from(payload.len())
            .map_err(|_| Error::new_too_large("frame", payload.len() as u64, u32::MAX.into()))?;

        let mut flags = 0;
        if self.written > 0 {
            flags |= FLAG_HEAD_SENT;
        }
        if self.body_complete {
            flags |= FLAG_BODY_COMPLETE;
        }
        if self.body_dechunked {
            flags |= FLAG_BODY_DECHUNKED;
        }
        let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        out.put_u8(flags);
        out.put_u16(0);
        out.put_u32(len);
        out.put_slice(&payload);
        Ok(out.freeze())
    }

    /// Checks a frame header and returns `(flags, payload_len)`.
    ///
    /// Rejects a wrong magic or version, and payload lengths above `max_len`.
    pub(crate) fn decode_header(hdr: &[u8; HEADER_LEN], max_len: u32) -> Result<(u8, u32)> {
        if hdr[..4] != MAGIC {
            return Err(Error::new_protocol("bad magic: not an extended frame"));
        }
        if hdr[4] != VERSION {
            return Err(Error::new_protocol("unsupported extended frame version"));
        }
        let len = u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
        if len > max_len {
            return Err(Error::new_too_large(
                "metadata frame",
                len.into(),
                max_len.into(),
            ));
        }
        Ok((hdr[5], len))
    }

    /// Decodes a payload whose header gave `flags`. Bytes after the known fields are
    /// ignored, so later minor revisions can append fields.
    pub(crate) fn decode_payload(flags: u8, mut payload: Bytes) -> Result<Self> {
        let peer_addr = get_addr(&mut payload)?;
        let local_addr = get_addr(&mut payload)?;
        let head = get_section(&mut payload)?;
        let body = get_section(&mut payload)?;
        let read_buf = get_section(&mut payload)?;
        if payload.remaining() < 4 {
            return Err(Error::new_protocol("truncated metadata: written"));
        }
        let written = payload.get_u32();
        Ok(Self {
            peer_addr,
            local_addr,
            head,
            body,
            read_buf,
            written,
            body_complete: flags & FLAG_BODY_COMPLETE != 0,
            body_dechunked: flags & FLAG_BODY_DECHUNKED != 0,
        })
    }

    /// Decodes a whole frame held in memory (header and payload), bounded by `max_len`.
    pub fn decode(frame: &[u8], max_len: u32) -> Result<Self> {
        let hdr: &[u8; HEADER_LEN] = frame
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| Error::new_protocol("truncated metadata frame header"))?;
        let (flags, len) = Self::decode_header(hdr, max_len)?;
        let payload = frame
            .get(HEADER_LEN..HEADER_LEN + len as usize)
            .ok_or_else(|| Error::new_protocol("truncated metadata frame payload"))?;
        Self::decode_payload(flags, Bytes::copy_from_slice(payload))
    }
}

fn put_addr(out: &mut BytesMut, addr: Option<SocketAddr>) {
    match addr {
        None => out.put_u8(0),
        Some(SocketAddr::V4(a)) => {
            out.put_u8(4);
            out.put_slice(&a.ip().octets());
            out.put_u16(a.port());
        }
        Some(SocketAddr::V6(a)) => {
            out.put_u8(6);
            out.put_slice(&a.ip().octets());
            out.put_u16(a.port());
        }
    }
}

fn get_addr(buf: &mut Bytes) -> Result<Option<SocketAddr>> {
    let truncated = || Error::new_protocol("truncated metadata: address");
    if !buf.has_remaining() {
        return Err(truncated());
    }
    let ip = match buf.get_u8() {
        0 => return Ok(None),
        4 if buf.remaining() >= 6 => {
            let mut o = [0; 4];
            buf.copy_to_slice(&mut o);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        6 if buf.remaining() >= 18 => {
            let mut o = [0; 16];
            buf.copy_to_slice(&mut o);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        4 | 6 => return Err(truncated()),
        _ => return Err(Error::new_protocol("unknown address family in metadata")),
    };
    Ok(Some(SocketAddr::new(ip, buf.get_u16())))
}

fn get_section(buf: &mut Bytes) -> Result<Bytes> {
    if buf.remaining() < 4 {
        return Err(Error::new_protocol("truncated metadata: section length"));
    }
    let len = buf.get_u32() as usize;
    if buf.remaining() < len {
        return Err(Error::new_protocol("truncated metadata: section"));
    }
    Ok(buf.split_to(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata::new()
            .with_peer_addr(Some("127.0.0.1:4242".parse().unwrap()))
            .with_local_addr(Some("[::1]:80".parse().unwrap()))
            .with_head(Bytes::from_static(
                b"POST /x?y=1 HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n",
            ))
            .with_body(Bytes::from_static(b"abc"), true, false)
            .with_read_buf(Bytes::from_static(b"GET /next HTTP/1.1\r\n"))
            .with_written(77)
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let frame = m.encode().unwrap();
        assert_eq!(&frame[..4], b"FDPX");
        assert_eq!(frame[4], 1);
        assert_eq!(frame[5], FLAG_HEAD_SENT | FLAG_BODY_COMPLETE);
        let back = Metadata::decode(&frame, DEFAULT_MAX_FRAME_LEN).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.method(), Some("POST"));
        assert_eq!(back.target(), Some("/x?y=1"));
        assert_eq!(back.header("Content-Length"), Some(&b"3"[..]));
        assert!(back.head_sent());
    }

    #[test]
    fn exact_bytes_of_an_empty_frame() {
        let frame = Metadata::new().encode().unwrap();
        assert_eq!(
            &frame[..],
            b"FDPX\x01\x00\x00\x00\x00\x00\x00\x12\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        );
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let frame = sample().encode().unwrap();
        for cut in 0..frame.len() {
            let e = Metadata::decode(&frame[..cut], DEFAULT_MAX_FRAME_LEN).unwrap_err();
            assert!(e.is_protocol(), "cut at {cut}: {e:?}");
        }
    }

    #[test]
    fn bounds_and_versions() {
        let frame = sample().encode().unwrap();
        assert!(Metadata::decode(&frame, 10).unwrap_err().is_too_large());
        let mut v2 = frame.to_vec();
        v2[4] = 2;
        assert!(Metadata::decode(&v2, u32::MAX).unwrap_err().is_protocol());
        let mut bad = frame.to_vec();
        bad[0] = b'X';
        assert!(Metadata::decode(&bad, u32::MAX).unwrap_err().is_protocol());
        // A lying section length inside a well-formed header.
        let mut lie = frame.to_vec();
        lie[HEADER_LEN + 7 + 19] = 0xff;
        assert!(Metadata::decode(&lie, u32::MAX).is_err());
    }
}
