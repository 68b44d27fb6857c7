//! A received Forward Request: the packet, checked once, its fields read in place.
//!
//! A container decodes one of these per request, so it is the hot path of the container
//! side. Giving every field its own [`Bytes`] costs two atomic operations per field
//! (the slice, and its drop), about thirty of them for a browser's request: most of the
//! decode. Here decoding is one pass that checks every length, code and count and notes
//! where the fixed fields are; headers and attributes are read again, without checks that
//! can fail, when they are iterated.

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::Method;

use crate::codes::{self, Direction, attr};
use crate::error::{DecodeError, EncodeError};
use crate::forward_request::{
    Attribute, ForwardRequest, RawAttribute, RawName, read_attribute, read_header,
};
use crate::packet::{HEADER_LEN, PacketSize, TO_CONTAINER_MAGIC};
use crate::wire::Reader;

/// A Forward Request as a container receives it: the packet payload, validated, with its
/// fields read in place on demand.
///
/// This is what [`ContainerCodec`](crate::ContainerCodec) yields. Decoding checks the whole
/// packet (every rule [`ForwardRequest::decode`] checks), and notes where the fixed fields
/// are; nothing is allocated and no per-field reference count is touched. Accessors
/// borrow from the packet; [`share`](Self::share) turns a borrowed part into a [`Bytes`]
/// sharing the packet's allocation, for the parts that must outlive it (header values in
/// an `http::HeaderMap`, say). [`to_forward_request`](Self::to_forward_request) gives the
/// plain [`ForwardRequest`].
///
/// ```
/// use ajp_codec::{ForwardRequest, ForwardRequestPacket, PacketSize};
/// use bytes::BytesMut;
///
/// let mut buf = BytesMut::new();
/// ForwardRequest {
///     method: http::Method::GET,
///     protocol: "HTTP/1.1",
///     req_uri: "/index.jsp",
///     remote_addr: "10.0.0.7",
///     remote_host: None,
///     server_name: "www.example.com",
///     server_port: 443,
///     is_ssl: true,
///     headers: vec![("Host", "www.example.com"), ("X-Req-Id", "abc")],
///     attributes: vec![ajp_codec::Attribute::QueryString("a=1")],
/// }
/// .encode(&mut buf, PacketSize::DEFAULT)
/// .unwrap();
///
/// let packet = ForwardRequestPacket::decode(buf.split_off(4).freeze()).unwrap();
/// assert_eq!(packet.method(), http::Method::GET);
/// assert_eq!(packet.req_uri(), b"/index.jsp");
/// assert_eq!(packet.query_string(), Some(&b"a=1"[..]));
/// let headers: Vec<_> = packet.headers().collect();
/// // Coded names come out lower case; others as sent.
/// assert_eq!(headers, [(&b"host"[..], &b"www.example.com"[..]), (b"X-Req-Id", b"abc")]);
/// let host = packet.share(headers[0].1);
/// assert_eq!(host, "www.example.com");
/// ```
#[derive(Clone)]
pub struct ForwardRequestPacket {
    payload: Bytes,
    layout: Layout,
}

/// Where the parts of a valid Forward Request payload are. Offsets fit a `u16`: a payload
/// is at most 65 532 bytes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    method: RequestMethod,
    protocol: Span,
    req_uri: Span,
    remote_addr: Span,
    remote_host: Option<Span>,
    server_name: Span,
    server_port: u16,
    is_ssl: bool,
    num_headers: u16,
    /// Offset of the first header.
    headers: u16,
    /// Offset of the first attribute.
    attributes: u16,
}

/// The method of a request. Moving an `http::Method` (an enum holding up to 15 inline
/// bytes) through the decode's return values cost more than the rest of the fixed fields,
/// so the layout holds a reference to a static one, and boxes only a stored method that
/// has none.
#[derive(Clone, Debug)]
enum RequestMethod {
    Static(&'static Method),
    Stored(Box<Method>),
}

impl RequestMethod {
    /// The method a stored-method attribute names, `None` if it is not a token.
    fn stored(name: &[u8]) -> Option<Self> {
        // The methods http has constants for but AJP has no code for; PATCH is common.
        static PATCH: Method = Method::PATCH;
        static CONNECT: Method = Method::CONNECT;
        match name {
            b"PATCH" => Some(Self::Static(&PATCH)),
            b"CONNECT" => Some(Self::Static(&CONNECT)),
            _ => Method::from_bytes(name)
                .ok()
                .map(|m| Self::Stored(Box::new(m))),
        }
    }

    fn get(&self) -> &Method {
        match self {
            Self::Static(m) => m,
            Self::Stored(m) => m,
        }
    }
}

impl PartialEq for RequestMethod {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    fn new(r: Range<usize>) -> Self {
        // Ranges come from a payload checked to be at most `u16::MAX` long.
        Self {
            start: r.start as u16,
            end: r.end as u16,
        }
    }

    #[inline]
    fn of(self, payload: &[u8]) -> &[u8] {
        payload
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

impl Layout {
    /// Checks a whole Forward Request payload and notes where its parts are.
    ///
    /// A lean pass does the checking; only when it finds something wrong is the payload
    /// read again, carefully, to say what and where. Both accept exactly the same payloads
    /// (a property test holds them to it).
    #[inline]
    pub(crate) fn scan(payload: &[u8]) -> Result<Self, DecodeError> {
        match Self::scan_lean(payload) {
            Some(layout) => Ok(layout),
            None => Self::scan_careful_boxed(payload).map(|layout| *layout),
        }
    }

    /// [`scan_careful`](Self::scan_careful), its layout boxed. Returned unboxed, the careful
    /// scan's layout (written to memory) and the lean scan's (in registers) were merged in a
    /// stack slot: the lean layout was stored there field by field and read back with wider
    /// loads, which store forwarding cannot serve, a stall of ~3 % of a round trip. Only a
    /// payload the lean scan refused comes here, and the careful scan refuses it too (a
    /// property test holds them to it), so the box is never made.
    #[cold]
    #[inline(never)]
    fn scan_careful_boxed(payload: &[u8]) -> Result<Box<Self>, DecodeError> {
        Self::scan_careful(payload).map(Box::new)
    }

    /// The layout of a valid payload, or `None`. Every check of
    /// [`scan_careful`](Self::scan_careful), with no error to build or carry: each string
    /// costs a load of its length, one of its NUL, and two compares.
    #[inline]
    fn scan_lean(p: &[u8]) -> Option<Self> {
        if p.len() > PacketSize::MAX.max_payload() {
            return None;
        }
        let (&[kind, method_code], _) = p.split_first_chunk::<2>()?;
        if kind != codes::msg::FORWARD_REQUEST {
            return None;
        }
        let coded_method = match method_code {
            codes::STORED_METHOD => None,
            code => Some(codes::method_for_code(code)?),
        };
        let mut pos = 2;
        let protocol = lean_string(p, &mut pos)?;
        let req_uri = lean_string(p, &mut pos)?;
        let remote_addr = lean_string(p, &mut pos)?;
        let remote_host = match *p.get(pos..pos + 2)? {
            [0xFF, 0xFF] => {
                pos += 2;
                None
            }
            _ => Some(lean_string(p, &mut pos)?),
        };
        let server_name = lean_string(p, &mut pos)?;
        let &[port_hi, port_lo, is_ssl, count_hi, count_lo] = p.get(pos..pos + 5)? else {
            return None;
        };
        let is_ssl = match is_ssl {
            0 => false,
            1 => true,
            _ => return None,
        };
        let num_headers = u16::from_be_bytes([count_hi, count_lo]);
        let headers = pos + 5;
        let attributes = skip_headers(p, headers, num_headers)?;
        let stored_method = skip_attributes(p, attributes)?;
        if stored_method.is_some() && coded_method.is_some() {
            return None;
        }
        let stored_method = match stored_method {
            Some(name) => Some(RequestMethod::stored(name.of(p))?),
            None => None,
        };
        let method = request_method(coded_method, stored_method)?;
        Some(Self {
            method,
            protocol,
            req_uri,
            remote_addr,
            remote_host,
            server_name,
            server_port: u16::from_be_bytes([port_hi, port_lo]),
            is_ssl,
            num_headers,
            headers: headers as u16,
            attributes: attributes as u16,
        })
    }

    /// What is wrong with a payload [`scan_lean`](Self::scan_lean) refused, read field by
    /// field so the error can say which and where.
    #[cold]
    #[inline(never)]
    fn scan_careful(payload: &[u8]) -> Result<Self, DecodeError> {
        let max = PacketSize::MAX.max_payload();
        if payload.len() > max {
            return Err(DecodeError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let mut r = Reader::new(payload);
        let kind = r.u8("message type")?;
        if kind != codes::msg::FORWARD_REQUEST {
            return Err(DecodeError::UnknownMessageType { code: kind });
        }
        let method_code = r.u8("method")?;
        let coded_method = match method_code {
            codes::STORED_METHOD => None,
            code => Some(codes::method_for_code(code).ok_or(DecodeError::InvalidMethod { code })?),
        };
        let protocol = Span::new(r.string("protocol")?);
        let req_uri = Span::new(r.string("req_uri")?);
        let remote_addr = Span::new(r.string("remote_addr")?);
        let remote_host = r.opt_string("remote_host")?.map(Span::new);
        let server_name = Span::new(r.string("server_name")?);
        let server_port = r.u16("server_port")?;
        let is_ssl = r.bool("is_ssl")?;

        let num_headers = r.u16("num_headers")?;
        let headers = r.pos();
        for found in 0..num_headers {
            if r.remaining() == 0 {
                return Err(DecodeError::HeaderCount {
                    declared: num_headers,
                    found,
                });
            }
            read_header(&mut r, Direction::Request)?;
        }
        let (headers, attributes) = (headers as u16, r.pos() as u16);
        let mut stored_method = None;
        loop {
            match read_attribute(&mut r)? {
                RawAttribute::Done => break,
                RawAttribute::StoredMethod(name) => {
                    if stored_method.is_some() || coded_method.is_some() {
                        return Err(DecodeError::InvalidMethod { code: method_code });
                    }
                    let method = RequestMethod::stored(&payload[name])
                        .ok_or(DecodeError::InvalidMethod { code: method_code })?;
                    stored_method = Some(method);
                }
                _ => {}
            }
        }
        r.finish()?;
        let method = request_method(coded_method, stored_method)
            .ok_or(DecodeError::InvalidMethod { code: method_code })?;
        Ok(Self {
            method,
            protocol,
            req_uri,
            remote_addr,
            remote_host,
            server_name,
            server_port,
            is_ssl,
            num_headers,
            headers,
            attributes,
        })
    }

    fn raw_headers<'a>(&self, payload: &'a [u8]) -> RawHeaders<'a> {
        RawHeaders {
            r: Reader::at(payload, self.headers as usize),
            left: self.num_headers,
        }
    }

    fn raw_attributes<'a>(&self, payload: &'a [u8]) -> RawAttributes<'a> {
        RawAttributes {
            r: Reader::at(payload, self.attributes as usize),
        }
    }

    /// The plain request, its strings made from ranges of `payload` by `slice` and from
    /// the static names of coded headers by `name`.
    fn build<S>(
        &self,
        payload: &[u8],
        slice: impl Fn(Range<usize>) -> S,
        name: impl Fn(&'static str) -> S,
    ) -> ForwardRequest<S> {
        let span = |s: Span| slice(s.start as usize..s.end as usize);
        ForwardRequest {
            method: self.method.get().clone(),
            protocol: span(self.protocol),
            req_uri: span(self.req_uri),
            remote_addr: span(self.remote_addr),
            remote_host: self.remote_host.map(span),
            server_name: span(self.server_name),
            server_port: self.server_port,
            is_ssl: self.is_ssl,
            headers: self
                .raw_headers(payload)
                .map(|(n, v)| {
                    let n = match n {
                        RawName::Coded(n) => name(n),
                        RawName::Text(r) => slice(r),
                    };
                    (n, slice(v))
                })
                .collect(),
            attributes: self
                .raw_attributes(payload)
                .filter_map(|a| a.to_attribute(&slice))
                .collect(),
        }
    }

    pub(crate) fn to_forward_request<'a>(&self, payload: &'a [u8]) -> ForwardRequest<&'a [u8]> {
        let name = |n: &'static str| -> &'a [u8] { n.as_bytes() };
        self.build(payload, |r| &payload[r], name)
    }
}

/// The method of a request with this coded method and stored-method attribute, `None`
/// when it has neither. (Both scans refuse a request with both before they get here.)
#[inline(always)]
fn request_method(
    coded: Option<&'static Method>,
    stored: Option<RequestMethod>,
) -> Option<RequestMethod> {
    // A match, not `Option::or`, which compiled to an out-of-line call here.
    match (coded, stored) {
        (Some(m), _) => Some(RequestMethod::Static(m)),
        (None, stored) => stored,
    }
}

/// A string (not null) at `*pos`: its span, and `*pos` moved past it.
#[inline(always)]
fn lean_string(buf: &[u8], pos: &mut usize) -> Option<Span> {
    let start = *pos + 2;
    let end = start + skip_string_at(buf, 0, *pos)? as usize;
    *pos = end + 1;
    Some(Span {
        start: start as u16,
        end: end as u16,
    })
}

/// The end of `count` valid request headers starting at `pos`, or `None` if they are not
/// (then [`read_header`] says why). Exactly the checks of [`read_header`]: a name is a
/// known code `0xA001..=0xA00E` or a string; a string's NUL is where its length says.
#[inline]
fn skip_headers(buf: &[u8], pos: usize, count: u16) -> Option<usize> {
    // Each string's length must be read before the next field can be found, so the walk is
    // one chain of dependent loads, and its length is what a decode costs. The position is
    // kept in two parts to shorten each link: `tail`, moved on by the fixed bytes of each
    // header (length prefixes, NULs, a code) and off the chain, and `q`, the string lengths
    // added so far (see `add_length`); the fixed bytes become constant offsets in the
    // loads. (`q` is a `u32` so that those offsets cannot overflow.)
    let mut tail = buf.get(pos..)?;
    let mut q = 0u32;
    for _ in 0..count {
        let at = q as usize;
        let &[hi, lo] = tail.get(at..at + 2)? else {
            return None;
        };
        if hi == 0xA0 {
            // A coded name (2 bytes), then the value string.
            if lo == 0 || lo as usize > codes::REQUEST_HEADERS.len() {
                return None;
            }
            q = skip_string_at(tail, q, 2)?;
            tail = tail.get(2 + 3..)?;
        } else {
            // A string name, then the value string.
            q = skip_string_at(tail, q, 0)?;
            q = skip_string_at(tail, q, 3)?;
            tail = tail.get(3 + 3..)?;
        }
    }
    Some(buf.len() - tail.len() + q as usize)
}

/// The step of the lean scan over a string (not null) whose length prefix is at
/// `q + fixed` in `tail` (`fixed`: the fixed bytes before it not yet moved past): `q` plus
/// its length, or `None` if its NUL is missing.
///
/// A null string needs no test of its own: its NUL would be 65 537 bytes on, past the end
/// of any payload (at most 65 532 bytes).
#[inline(always)]
fn skip_string_at(tail: &[u8], q: u32, fixed: usize) -> Option<u32> {
    debug_assert!(tail.len() <= PacketSize::MAX.max_payload());
    let at = q as usize + fixed;
    let &[hi, lo] = tail.get(at..at + 2)? else {
        return None;
    };
    let q = add_length(q, [hi, lo]);
    (*tail.get(q as usize + fixed + 2)? == 0).then_some(q)
}

/// `q` plus the big-endian length `[hi, lo]`, as a shift and two adds that run beside each
/// other (a 16-bit load and a byte swap would be one step longer), in an order the
/// compiler keeps. The sum stays far below `u32::MAX`: every sum is checked to fall within
/// the payload before the next is made, so none exceeds 65 532 + 65 535.
#[inline(always)]
fn add_length(q: u32, [hi, lo]: [u8; 2]) -> u32 {
    (q + lo as u32) + ((hi as u32) << 8)
}

/// Walks the attributes from `pos` to the terminator, which must end the payload, as
/// [`skip_headers`] walks headers: the span of the stored method's name if there is one
/// (`Some(None)` if not), or `None` if the attributes are not valid (then
/// [`read_attribute`] says why). Two stored methods are refused.
#[inline]
fn skip_attributes(buf: &[u8], pos: usize) -> Option<Option<Span>> {
    let mut tail = buf.get(pos..)?;
    let mut q = 0u32;
    let mut stored = None;
    loop {
        let &code = tail.get(q as usize)?;
        match code {
            attr::ARE_DONE => {
                tail = tail.get(1..)?;
                break;
            }
            attr::REQ_ATTRIBUTE => {
                q = skip_string_at(tail, q, 1)?;
                q = skip_string_at(tail, q, 4)?;
                tail = tail.get(1 + 3 + 3..)?;
            }
            attr::SSL_KEY_SIZE => {
                tail.get(q as usize + 1..q as usize + 3)?;
                tail = tail.get(1 + 2..)?;
            }
            attr::STORED_METHOD => {
                if stored.is_some() {
                    return None;
                }
                let start = buf.len() - tail.len() + q as usize + 3;
                q = skip_string_at(tail, q, 1)?;
                let end = buf.len() - tail.len() + q as usize + 3;
                stored = Some(Span {
                    start: start as u16,
                    end: end as u16,
                });
                tail = tail.get(1 + 3..)?;
            }
            attr::CONTEXT..=attr::SSL_SESSION | attr::SECRET => {
                q = skip_string_at(tail, q, 1)?;
                tail = tail.get(1 + 3..)?;
            }
            _ => return None,
        }
    }
    (tail.len() == q as usize).then_some(stored)
}

/// Headers of a scanned payload: they were checked, so reading them again cannot fail (a
/// failure would end the iteration, never panic).
#[derive(Debug)]
struct RawHeaders<'a> {
    r: Reader<'a>,
    left: u16,
}

impl Iterator for RawHeaders<'_> {
    type Item = (RawName, Range<usize>);

    /// The next header, its name made canonical ([`RawName::canonical`]).
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let (name, value) = read_header(&mut self.r, Direction::Request).ok()?;
        Some((name.canonical(Direction::Request, self.r.buf()), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// Attributes of a scanned payload, up to the terminator.
#[derive(Debug)]
struct RawAttributes<'a> {
    r: Reader<'a>,
}

impl Iterator for RawAttributes<'_> {
    type Item = RawAttribute;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match read_attribute(&mut self.r).ok()? {
            RawAttribute::Done => None,
            a => Some(a),
        }
    }
}

impl ForwardRequestPacket {
    /// Decodes a Forward Request from a packet payload (the bytes after the 4-byte header,
    /// starting with the type byte 2), checking all of it.
    #[inline]
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        let layout = Layout::scan(&payload)?;
        Ok(Self { payload, layout })
    }

    /// The request method (a coded method, or the stored one).
    pub fn method(&self) -> &Method {
        self.layout.method.get()
    }

    /// The protocol, e.g. `HTTP/1.1`.
    pub fn protocol(&self) -> &[u8] {
        self.layout.protocol.of(&self.payload)
    }

    /// The path, still percent-encoded, without the query.
    pub fn req_uri(&self) -> &[u8] {
        self.layout.req_uri.of(&self.payload)
    }

    /// The client's IP address as text.
    pub fn remote_addr(&self) -> &[u8] {
        self.layout.remote_addr.of(&self.payload)
    }

    /// The client's host name, if the proxy sent one.
    pub fn remote_host(&self) -> Option<&[u8]> {
        self.layout.remote_host.map(|s| s.of(&self.payload))
    }

    /// The server (virtual host) name.
    pub fn server_name(&self) -> &[u8] {
        self.layout.server_name.of(&self.payload)
    }

    /// The port the client connected to on the proxy.
    pub fn server_port(&self) -> u16 {
        self.layout.server_port
    }

    /// Whether the client connection is TLS.
    pub fn is_ssl(&self) -> bool {
        self.layout.is_ssl
    }

    /// The number of headers.
    pub fn num_headers(&self) -> usize {
        self.layout.num_headers as usize
    }

    /// The headers in order, repeats kept, as `(name, value)`. Coded names, whether they
    /// came as a code or as a string, are lower case; other names are as sent.
    pub fn headers(&self) -> PacketHeaders<'_> {
        PacketHeaders {
            payload: &self.payload,
            raw: self.layout.raw_headers(&self.payload),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The attributes in the order sent. The stored method (attribute `0x0D`) is not one
    /// of them: it is [`method`](Self::method).
    pub fn attributes(&self) -> PacketAttributes<'_> {
        PacketAttributes {
            payload: &self.payload,
            raw: self.layout.raw_attributes(&self.payload),
        }
    }

    /// The query string attribute, if any.
    pub fn query_string(&self) -> Option<&[u8]> {
        self.attributes().find_map(|a| match a {
            Attribute::QueryString(q) => Some(q),
            _ => None,
        })
    }

    /// The secret attribute, if any.
    pub fn secret(&self) -> Option<&[u8]> {
        self.attributes().find_map(|a| match a {
            Attribute::Secret(s) => Some(s),
            _ => None,
        })
    }

    /// The whole payload, type byte first.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// `part` (a slice one of the accessors returned) as a [`Bytes`] sharing the packet's
    /// allocation. A slice from elsewhere (the static lower-case name of a coded header,
    /// say) is copied.
    pub fn share(&self, part: &[u8]) -> Bytes {
        let whole = self.payload.as_ptr_range();
        let range = part.as_ptr_range();
        if whole.start <= range.start && range.end <= whole.end && !part.is_empty() {
            self.payload.slice_ref(part)
        } else {
            Bytes::copy_from_slice(part)
        }
    }

    /// The plain [`ForwardRequest`], each field a [`Bytes`] slice of the packet.
    pub fn to_forward_request(&self) -> ForwardRequest<Bytes> {
        self.layout.build(
            &self.payload,
            |r| self.payload.slice(r),
            |n| Bytes::from_static(n.as_bytes()),
        )
    }

    /// The plain [`ForwardRequest`], borrowing from the packet.
    pub fn as_forward_request(&self) -> ForwardRequest<&[u8]> {
        self.layout.to_forward_request(&self.payload)
    }

    /// Appends the packet, as received, to `dst`. A payload longer than `packet_size`
    /// allows is an [`EncodeError::TooLarge`] and leaves `dst` as it was.
    pub fn encode(&self, dst: &mut BytesMut, packet_size: PacketSize) -> Result<(), EncodeError> {
        let len = self.payload.len();
        let max = packet_size.max_payload();
        if len > max {
            return Err(EncodeError::TooLarge { len, max });
        }
        dst.reserve(HEADER_LEN + len);
        dst.extend_from_slice(&TO_CONTAINER_MAGIC);
        dst.extend_from_slice(&(len as u16).to_be_bytes());
        dst.extend_from_slice(&self.payload);
        Ok(())
    }
}

/// The headers of a [`ForwardRequestPacket`], from [`ForwardRequestPacket::headers`].
#[derive(Debug)]
pub struct PacketHeaders<'a> {
    payload: &'a [u8],
    raw: RawHeaders<'a>,
}

impl<'a> Iterator for PacketHeaders<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = self.raw.next()?;
        let name = match name {
            RawName::Coded(n) => n.as_bytes(),
            RawName::Text(r) => &self.payload[r],
        };
        Some((name, &self.payload[value]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.raw.size_hint()
    }
}

impl ExactSizeIterator for PacketHeaders<'_> {}

/// The attributes of a [`ForwardRequestPacket`], from [`ForwardRequestPacket::attributes`].
#[derive(Debug)]
pub struct PacketAttributes<'a> {
    payload: &'a [u8],
    raw: RawAttributes<'a>,
}

impl<'a> Iterator for PacketAttributes<'a> {
    type Item = Attribute<&'a [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let raw = self.raw.next()?;
            if let Some(a) = raw.to_attribute(|r| &self.payload[r]) {
                return Some(a);
            }
        }
    }
}

impl fmt::Debug for ForwardRequestPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The plain request's Debug: same fields, secret redacted.
        fmt::Debug::fmt(&self.as_forward_request(), f)
    }
}

/// Two packets are equal when they hold the same request (a coded name sent as a string
/// equals its code).
impl PartialEq for ForwardRequestPacket {
    fn eq(&self, other: &Self) -> bool {
        self.as_forward_request() == other.as_forward_request()
    }
}

impl Eq for ForwardRequestPacket {}

/// A received packet equals a plain request when every field holds the same bytes.
impl<S: AsRef<[u8]>> PartialEq<ForwardRequest<S>> for ForwardRequestPacket {
    fn eq(&self, other: &ForwardRequest<S>) -> bool {
        let me = self.as_forward_request();
        me.method == other.method
            && me.protocol == other.protocol.as_ref()
            && me.req_uri == other.req_uri.as_ref()
            && me.remote_addr == other.remote_addr.as_ref()
            && me.remote_host == other.remote_host.as_ref().map(AsRef::as_ref)
            && me.server_name == other.server_name.as_ref()
            && me.server_port == other.server_port
            && me.is_ssl == other.is_ssl
            && me
                .headers
                .iter()
                .map(|(n, v)| (*n, *v))
                .eq(other.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
            && me
                .attributes
                .iter()
                .cloned()
                .eq(other.attributes.iter().map(Attribute::as_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload by hand: a coded method, Accept-Language as a string (as mod_jk sends it),
    /// a custom header, a stored-method-free attribute list.
    fn payload(method: u8, extra_attributes: &[u8]) -> Bytes {
        let mut p = vec![2, method];
        for s in ["HTTP/1.1", "/a", "10.0.0.1"] {
            p.extend_from_slice(&(s.len() as u16).to_be_bytes());
            p.extend_from_slice(s.as_bytes());
            p.push(0);
        }
        p.extend_from_slice(&[0xFF, 0xFF]); // remote_host: null
        p.extend_from_slice(b"\x00\x01h\x00"); // server_name
        p.extend_from_slice(&[0x01, 0xBB, 1, 0, 3]); // port 443, ssl, 3 headers
        p.extend_from_slice(b"\xA0\x0B\x00\x01h\x00"); // host: h
        p.extend_from_slice(b"\x00\x0FAccept-Language\x00\x00\x02en\x00");
        p.extend_from_slice(b"\x00\x03X-A\x00\x00\x01b\x00");
        p.extend_from_slice(b"\x05\x00\x03q=1\x00"); // query string
        p.extend_from_slice(extra_attributes);
        p.push(0xFF);
        p.into()
    }

    #[test]
    fn fields_read_in_place() {
        let packet = ForwardRequestPacket::decode(payload(2, b"")).unwrap();
        assert_eq!(packet.method(), Method::GET);
        assert_eq!(packet.protocol(), b"HTTP/1.1");
        assert_eq!(packet.req_uri(), b"/a");
        assert_eq!(packet.remote_addr(), b"10.0.0.1");
        assert_eq!(packet.remote_host(), None);
        assert_eq!(packet.server_name(), b"h");
        assert_eq!(packet.server_port(), 443);
        assert!(packet.is_ssl());
        assert_eq!(packet.num_headers(), 3);
        let headers: Vec<_> = packet.headers().collect();
        assert_eq!(
            headers,
            [
                (&b"host"[..], &b"h"[..]),
                (b"accept-language", b"en"),
                (b"X-A", b"b")
            ]
        );
        assert_eq!(packet.headers().len(), 3);
        assert_eq!(packet.header("ACCEPT-language"), Some(&b"en"[..]));
        assert_eq!(packet.query_string(), Some(&b"q=1"[..]));
        assert_eq!(packet.secret(), None);
        assert_eq!(packet, packet.to_forward_request());
        assert_eq!(packet, packet.as_forward_request());
    }

    #[test]
    fn share_shares_payload_slices_and_copies_the_rest() {
        let packet = ForwardRequestPacket::decode(payload(2, b"")).unwrap();
        let (name, value) = packet.headers().nth(2).unwrap();
        for part in [name, value, packet.req_uri()] {
            let shared = packet.share(part);
            assert_eq!(shared, part);
            assert_eq!(shared.as_ptr(), part.as_ptr(), "copied a payload slice");
        }
        // A coded name is a static string, not part of the payload.
        let (host, _) = packet.headers().next().unwrap();
        assert_eq!(packet.share(host), "host");
        assert_eq!(packet.share(b"elsewhere"), "elsewhere");
        assert_eq!(packet.share(b""), "");
    }

    #[test]
    fn stored_method_is_the_method_not_an_attribute() {
        let packet = ForwardRequestPacket::decode(payload(0xFF, b"\x0D\x00\x05PATCH\x00")).unwrap();
        assert_eq!(packet.method(), Method::PATCH);
        let attributes: Vec<_> = packet.attributes().collect();
        assert_eq!(attributes, [Attribute::QueryString(&b"q=1"[..])]);
        // Every kind of stored method: a coded one sent by name, one http has a constant
        // for, an extension, and one that is not a token.
        for (name, method) in [
            ("GET", Some(Method::GET)),
            ("CONNECT", Some(Method::CONNECT)),
            (
                "FROBNICATE",
                Some(Method::from_bytes(b"FROBNICATE").unwrap()),
            ),
            ("BAD METHOD", None),
        ] {
            let attr = [&[0x0D, 0, name.len() as u8], name.as_bytes(), &[0]].concat();
            let decoded = ForwardRequestPacket::decode(payload(0xFF, &attr));
            match method {
                Some(m) => assert_eq!(decoded.unwrap().method(), m),
                None => assert!(matches!(
                    decoded,
                    Err(DecodeError::InvalidMethod { code: 0xFF })
                )),
            }
        }
        // Without the attribute, or with it after a coded method: refused.
        assert!(matches!(
            ForwardRequestPacket::decode(payload(0xFF, b"")),
            Err(DecodeError::InvalidMethod { code: 0xFF })
        ));
        assert!(matches!(
            ForwardRequestPacket::decode(payload(2, b"\x0D\x00\x05PATCH\x00")),
            Err(DecodeError::InvalidMethod { code: 2 })
        ));
    }

    #[test]
    fn encode_resends_the_packet_as_received() {
        let bytes = payload(2, b"\x0C\x00\x02s!\x00");
        let packet = ForwardRequestPacket::decode(bytes.clone()).unwrap();
        let mut out = BytesMut::from(&b"keep"[..]);
        packet.encode(&mut out, PacketSize::DEFAULT).unwrap();
        assert_eq!(&out[..4], b"keep");
        assert_eq!(&out[4..6], TO_CONTAINER_MAGIC);
        assert_eq!(&out[6..8], (bytes.len() as u16).to_be_bytes());
        assert_eq!(&out[8..], bytes);
        // The secret stays out of Debug.
        let debug = format!("{packet:?}");
        assert!(
            debug.contains("Secret(<redacted>)") && !debug.contains("s!"),
            "{debug}"
        );
    }

    #[test]
    fn oversize_payloads_are_refused_both_ways() {
        let mut big = payload(2, b"").to_vec();
        let last = big.pop().unwrap();
        let attribute = vec![b'x'; 9000];
        big.push(0x05);
        big.extend_from_slice(&(attribute.len() as u16).to_be_bytes());
        big.extend_from_slice(&attribute);
        big.extend_from_slice(&[0, last]);
        let packet = ForwardRequestPacket::decode(big.clone().into()).unwrap();
        let mut out = BytesMut::new();
        assert!(matches!(
            packet.encode(&mut out, PacketSize::DEFAULT),
            Err(EncodeError::TooLarge { max: 8188, .. })
        ));
        assert!(out.is_empty());
        packet.encode(&mut out, PacketSize::MAX).unwrap();

        big.resize(70_000, 0);
        assert!(matches!(
            ForwardRequestPacket::decode(big.into()),
            Err(DecodeError::TooLarge { len: 70_000, .. })
        ));
    }
}

#[cfg(test)]
mod lean_loop {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// An AJP string of up to `max - 1` arbitrary bytes, encoded.
    fn ajp_string(max: usize) -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), 0..max).prop_map(|s| {
            let mut v = (s.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(&s);
            v.push(0);
            v
        })
    }

    /// What the careful reader makes of `count` headers at the start of `buf`.
    fn careful(buf: &[u8], count: u16) -> Option<usize> {
        let mut r = Reader::new(buf);
        for _ in 0..count {
            read_header(&mut r, Direction::Request).ok()?;
        }
        Some(r.pos())
    }

    /// Valid headers (names coded, with codes around the table's edges, or strings), then
    /// one byte changed and the end cut somewhere.
    fn headers() -> impl Strategy<Value = (Vec<u8>, u16)> {
        let name = prop_oneof![(0u8..17).prop_map(|c| vec![0xA0, c]), ajp_string(6),];
        let value = ajp_string(6);
        (vec((name, value), 0..6), any::<(usize, u8, usize, bool)>()).prop_map(
            |(headers, (at, byte, cut, mutate))| {
                let count = headers.len() as u16;
                let mut buf: Vec<u8> = headers
                    .into_iter()
                    .flat_map(|(n, v)| [n, v])
                    .flatten()
                    .collect();
                if mutate && !buf.is_empty() {
                    let at = at % buf.len();
                    buf[at] = byte;
                }
                buf.truncate(cut % (buf.len() + 2));
                (buf, count)
            },
        )
    }

    proptest! {
        #[test]
        fn skip_headers_accepts_exactly_what_read_header_does((buf, count) in headers()) {
            prop_assert_eq!(skip_headers(&buf, 0, count), careful(&buf, count));
        }
    }

    /// Payloads near valid ones: a request with every kind of field (remote host or null,
    /// coded and string names, every attribute form, a stored method or a coded one), then
    /// up to three bytes changed (often to a boundary value) and the end cut somewhere.
    fn requests() -> impl Strategy<Value = Vec<u8>> {
        let string = ajp_string;
        let attribute = prop_oneof![
            (1u8..16, string(4)).prop_map(|(c, s)| [vec![c], s].concat()),
            (string(4), string(4)).prop_map(|(n, v)| [vec![0x0A], n, v].concat()),
            any::<u16>().prop_map(|b| [vec![0x0B], b.to_be_bytes().to_vec()].concat()),
            Just(b"\x0D\x00\x05PATCH\x00".to_vec()),
            Just(b"\x0D\x00\x04GET\x00".to_vec()),
        ];
        let head = (
            prop_oneof![Just(0xFFu8), 1u8..28, 0u8..30],
            vec(string(6), 3),
            prop_oneof![Just(vec![0xFF, 0xFF]), string(4)],
            string(4),
            any::<(u16, u8)>(),
        );
        let mutation = vec(
            (
                any::<usize>(),
                prop_oneof![Just(0u8), Just(1), Just(0xA0), Just(0xFF), any::<u8>()],
            ),
            0..4,
        )
        .prop_map(|m| if m.len() == 3 { Vec::new() } else { m });
        (
            head,
            valid_headers(),
            vec(attribute, 0..4),
            mutation,
            any::<usize>(),
        )
            .prop_map(
                |(
                    (method, strings, host, server, (port, ssl)),
                    (headers, count),
                    attributes,
                    mutation,
                    cut,
                )| {
                    let mut p = vec![2, method];
                    p.extend(strings.into_iter().flatten());
                    p.extend(host);
                    p.extend(server);
                    p.extend_from_slice(&port.to_be_bytes());
                    p.push(ssl % 2 + u8::from(ssl == 0xFF));
                    p.extend_from_slice(&count.to_be_bytes());
                    p.extend(headers);
                    p.extend(attributes.into_iter().flatten());
                    p.push(0xFF);
                    for (at, byte) in mutation {
                        let at = at % p.len();
                        p[at] = byte;
                    }
                    if cut % 4 == 0 {
                        p.truncate(cut / 4 % (p.len() + 1));
                    }
                    p
                },
            )
    }

    /// Valid request headers and their count.
    fn valid_headers() -> impl Strategy<Value = (Vec<u8>, u16)> {
        let name = prop_oneof![(1u8..15).prop_map(|c| vec![0xA0, c]), ajp_string(6),];
        vec((name, ajp_string(6)), 0..6).prop_map(|headers| {
            let count = headers.len() as u16;
            let buf = headers.into_iter().flat_map(|(n, v)| [n, v]).flatten();
            (buf.collect(), count)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn lean_scan_accepts_exactly_what_the_careful_scan_does(p in requests()) {
            match (Layout::scan_lean(&p), Layout::scan_careful(&p)) {
                (Some(lean), Ok(careful)) => prop_assert_eq!(lean, careful),
                (None, Err(_)) => {}
                (lean, careful) => prop_assert!(false, "lean {:?}, careful {:?}", lean, careful),
            }
        }
    }
}
