//! FORWARD_REQUEST (type 2): the request head, sent by the proxy to start a request.
//!
//! ```text
//! 0x02 method:u8 protocol:str req_uri:str remote_addr:str remote_host:str|null
//!      server_name:str server_port:u16 is_ssl:bool num_headers:u16
//!      num_headers × (name: 0xA0xx code | str, value: str)
//!      attributes × (code:u8 value)  0xFF
//! ```

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::Method;

use crate::codes::{self, Direction, attr};
use crate::error::{DecodeError, EncodeError, Field};
use crate::packet::{PacketSize, TO_CONTAINER_MAGIC};
use crate::received::{ForwardRequestPacket, Layout};
use crate::wire::{Reader, Source, Writer, check_fits, opt_string_len, put_packet, string_len};

/// The request head a proxy sends to the container.
///
/// `S` is the byte-string type of the fields: [`Bytes`] for decoded messages (slices of the
/// packet, no copies), or `&[u8]`/`&str`/`Vec<u8>`/… for building one to encode.
///
/// The method is an [`http::Method`]: the 27 AJP method codes are used where they apply and
/// any other method travels as the "stored method" (code `0xFF` plus attribute `0x0D`). The
/// two are tied together by the type, so one can never be sent without the other.
///
/// ```
/// use ajp_codec::{Attribute, ForwardRequest, PacketSize};
/// use bytes::BytesMut;
///
/// let req = ForwardRequest {
///     method: http::Method::GET,
///     protocol: "HTTP/1.1",
///     req_uri: "/index.jsp",
///     remote_addr: "10.0.0.7",
///     remote_host: None,
///     server_name: "www.example.com",
///     server_port: 443,
///     is_ssl: true,
///     headers: vec![("host", "www.example.com"), ("x-req-id", "abc")],
///     attributes: vec![
///         Attribute::QueryString("a=1"),
///         Attribute::Secret("s3cret"),
///         Attribute::ReqAttribute { name: "AJP_REMOTE_PORT", value: "54321" },
///     ],
/// };
/// let mut buf = BytesMut::new();
/// req.encode(&mut buf, PacketSize::DEFAULT).unwrap();
/// assert_eq!(&buf[..5], &[0x12, 0x34, 0x00, 0x90, 0x02]);
///
/// let decoded = ForwardRequest::decode(buf.split_off(4).freeze()).unwrap();
/// assert_eq!(decoded.req_uri, "/index.jsp");
/// assert_eq!(decoded.header("HOST").unwrap(), "www.example.com");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardRequest<S = Bytes> {
    /// The request method.
    pub method: Method,
    /// The protocol, e.g. `HTTP/1.1`.
    pub protocol: S,
    /// The path, still percent-encoded, without the query (that goes in
    /// [`Attribute::QueryString`]).
    pub req_uri: S,
    /// The client's IP address as text.
    pub remote_addr: S,
    /// The client's host name, if known (null on the wire otherwise).
    pub remote_host: Option<S>,
    /// The server (virtual host) name. Tomcat uses it only when there is no Host header.
    pub server_name: S,
    /// The port the client connected to on the proxy.
    pub server_port: u16,
    /// Whether the client connection is TLS; the only way the container learns the scheme.
    pub is_ssl: bool,
    /// Request headers in order, repeats kept. Names whose lower-case form is one of the 14
    /// coded request headers are sent as their code (matched case-insensitively). Decoded,
    /// such names are always lower case, whether they came as a code or as a string.
    pub headers: Vec<(S, S)>,
    /// Attributes, in the order they are sent.
    pub attributes: Vec<Attribute<S>>,
}

/// An attribute of a Forward Request: facts the proxy knows about the request that are not
/// headers. The container trusts them, so they must come from the proxy's own knowledge or
/// configuration, never from the client.
#[derive(Clone, PartialEq, Eq)]
pub enum Attribute<S = Bytes> {
    /// `0x01` context (no peer sends or uses it).
    Context(S),
    /// `0x02` servlet_path (no peer sends or uses it).
    ServletPath(S),
    /// `0x03` the user the proxy authenticated.
    RemoteUser(S),
    /// `0x04` the authentication type the proxy used.
    AuthType(S),
    /// `0x05` the query string, without the `?`.
    QueryString(S),
    /// `0x06` the route (jvmRoute) chosen by a load balancer; informational.
    Route(S),
    /// `0x07` the client certificate (PEM).
    SslCert(S),
    /// `0x08` the TLS cipher suite.
    SslCipher(S),
    /// `0x09` the TLS session id.
    SslSession(S),
    /// `0x0A` a named request attribute such as `AJP_REMOTE_PORT`, `AJP_LOCAL_ADDR` or
    /// `AJP_SSL_PROTOCOL`.
    ReqAttribute {
        /// The attribute name.
        name: S,
        /// The attribute value.
        value: S,
    },
    /// `0x0B` the TLS key size in bits (a `u16` on the wire, not a string).
    SslKeySize(u16),
    /// `0x0C` the shared secret. Its `Debug` output is redacted.
    Secret(S),
}

impl<S: AsRef<[u8]>> ForwardRequest<S> {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&S> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The query string attribute, if any.
    pub fn query_string(&self) -> Option<&S> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::QueryString(q) => Some(q),
            _ => None,
        })
    }

    /// The secret attribute, if any.
    pub fn secret(&self) -> Option<&S> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Secret(s) => Some(s),
            _ => None,
        })
    }

    /// Appends this request as one packet to `dst`.
    ///
    /// A request that does not fit one packet of `packet_size` is an
    /// [`EncodeError::TooLarge`], and `dst` is left as it was.
    pub fn encode(&self, dst: &mut BytesMut, packet_size: PacketSize) -> Result<(), EncodeError> {
        let code = codes::code_for_method(&self.method);
        let max = packet_size.max_payload();
        // The common case in one pass: a bound that needs no header-name lookups. When it
        // fits, so does the request, and every field is valid (a string too long for AJP
        // is longer than any packet). Otherwise the exact pass says what is wrong.
        let reserve = match self.len_bound(code) {
            bound if bound <= max && bound < NAME_CODE_LEN => bound,
            _ => {
                let len = self.payload_len(code)?;
                check_fits(len, max)?;
                len
            }
        };
        put_packet(dst, TO_CONTAINER_MAGIC, reserve, max, |w| {
            self.write_payload(w, code)
        });
        Ok(())
    }

    /// At least the payload length: every header name counted as a string. Below
    /// [`NAME_CODE_LEN`], no name is long enough to be mistaken for a code (see
    /// [`header_len`]), so the bound needs no per-name check.
    #[inline]
    fn len_bound(&self, method_code: Option<u8>) -> usize {
        let s = |v: &S| v.as_ref().len() + 3;
        let mut len = 2 + 2 + 1 + 2 + 1; // type, method, port, is_ssl, num_headers, ARE_DONE
        len += s(&self.protocol) + s(&self.req_uri) + s(&self.remote_addr) + s(&self.server_name);
        len += self.remote_host.as_ref().map_or(2, s);
        for (name, value) in &self.headers {
            len += s(name) + s(value);
        }
        for a in &self.attributes {
            len += 1 + match a {
                Attribute::ReqAttribute { name, value } => s(name) + s(value),
                Attribute::SslKeySize(_) => 2,
                _ => a.as_string().map_or(0, |(_, _, v)| v.len() + 3),
            };
        }
        if method_code.is_none() {
            len += 1 + self.method.as_str().len() + 3;
        }
        len
    }

    /// The payload length, checking every field on the way: nothing is written unless the
    /// whole request can be.
    fn payload_len(&self, method_code: Option<u8>) -> Result<usize, EncodeError> {
        let mut len = 2; // type, method
        len += string_len("protocol", self.protocol.as_ref())?;
        len += string_len("req_uri", self.req_uri.as_ref())?;
        len += string_len("remote_addr", self.remote_addr.as_ref())?;
        len += opt_string_len("remote_host", self.remote_host.as_ref().map(AsRef::as_ref))?;
        len += string_len("server_name", self.server_name.as_ref())?;
        len += 2 + 1 + 2; // server_port, is_ssl, num_headers
        if self.headers.len() > u16::MAX as usize {
            return Err(EncodeError::TooManyHeaders {
                count: self.headers.len(),
            });
        }
        for (name, value) in &self.headers {
            len += header_len(Direction::Request, name.as_ref(), value.as_ref())?;
        }
        for a in &self.attributes {
            len += a.encoded_len()?;
        }
        if method_code.is_none() {
            len += 1 + string_len("stored_method", self.method.as_str().as_bytes())?;
        }
        Ok(len + 1) // ARE_DONE
    }

    fn write_payload(&self, w: &mut Writer<'_>, method_code: Option<u8>) {
        w.u8(codes::msg::FORWARD_REQUEST);
        w.u8(method_code.unwrap_or(codes::STORED_METHOD));
        w.string(self.protocol.as_ref());
        w.string(self.req_uri.as_ref());
        w.string(self.remote_addr.as_ref());
        w.opt_string(self.remote_host.as_ref().map(AsRef::as_ref));
        w.string(self.server_name.as_ref());
        w.u16(self.server_port);
        w.u8(self.is_ssl.into());
        w.u16(self.headers.len() as u16);
        for (name, value) in &self.headers {
            write_header(w, Direction::Request, name.as_ref(), value.as_ref());
        }
        // The stored method goes where httpd and mod_jk put it: after the coded attributes,
        // before the named ones.
        let mut stored_pending = method_code.is_none();
        for a in &self.attributes {
            if stored_pending && matches!(a, Attribute::ReqAttribute { .. }) {
                write_stored_method(w, &self.method);
                stored_pending = false;
            }
            a.write(w);
        }
        if stored_pending {
            write_stored_method(w, &self.method);
        }
        w.u8(attr::ARE_DONE);
    }
}

#[inline(always)]
fn write_stored_method(w: &mut Writer<'_>, method: &Method) {
    w.u8(attr::STORED_METHOD);
    w.string(method.as_str().as_bytes());
}

/// The shortest header name whose length prefix (`0xA0xx`) peers would read as a code.
const NAME_CODE_LEN: usize = 0xA000;

/// The encoded length of a header: its name as a code when it has one, else as a string.
#[inline]
pub(crate) fn header_len(dir: Direction, name: &[u8], value: &[u8]) -> Result<usize, EncodeError> {
    let name_len = match dir.code_for(name) {
        Some(_) => 2,
        // Peers read a name whose first two bytes are 0xA0xx as a code, so a string of
        // that length cannot be sent. Longer names can (and decode), so they must encode.
        None if name.len() >> 8 == NAME_CODE_LEN >> 8 => {
            return Err(EncodeError::HeaderNameTooLong { len: name.len() });
        }
        None => string_len("header name", name)?,
    };
    Ok(name_len + string_len("header value", value)?)
}

/// Writes a header checked by [`header_len`].
#[inline]
pub(crate) fn write_header(w: &mut Writer<'_>, dir: Direction, name: &[u8], value: &[u8]) {
    match dir.code_for(name) {
        Some(code) => w.u16(0xA000 | code as u16),
        None => w.string(name),
    }
    w.string(value);
}

/// A header name as found on the wire: one of the coded names of its direction, or a
/// string (the range of its bytes in the payload).
#[derive(Clone, Debug)]
pub(crate) enum RawName {
    Coded(&'static str),
    Text(Range<usize>),
}

/// Reads one header: name (code or string) and the range of its value.
#[inline(always)]
pub(crate) fn read_header(
    r: &mut Reader<'_>,
    dir: Direction,
) -> Result<(RawName, Range<usize>), DecodeError> {
    let offset = r.pos();
    let peek = r.peek_u16("header name")?;
    let name = if peek >> 8 == 0xA0 {
        r.u16("header name")?;
        let name = dir
            .name_for(peek as u8)
            .ok_or(DecodeError::UnknownHeaderCode { code: peek, offset })?;
        RawName::Coded(name)
    } else {
        RawName::Text(r.string("header name")?)
    };
    Ok((name, r.string("header value")?))
}

impl RawName {
    /// The name a decoded header is given: a coded name sent as a string (mod_jk does
    /// this for Accept-Language) comes out the same as its code would, lower case, so a
    /// decoded message re-encodes to itself. `buf` is the payload the range is in.
    #[inline]
    pub(crate) fn canonical(self, dir: Direction, buf: &[u8]) -> Self {
        match self {
            Self::Text(range) => match buf
                .get(range.clone())
                .and_then(|name| dir.code_for(name))
                .and_then(|c| dir.name_for(c))
            {
                Some(name) => Self::Coded(name),
                None => Self::Text(range),
            },
            coded => coded,
        }
    }
}

/// Reads `num_headers` and that many headers; shared with SEND_HEADERS.
pub(crate) fn read_headers<S, P: Source<S>>(
    r: &mut Reader<'_>,
    src: &P,
    dir: Direction,
) -> Result<Vec<(S, S)>, DecodeError> {
    let declared = r.u16("num_headers")?;
    // Each header takes at least 5 bytes (2-byte code + empty value): bound the
    // allocation by what the packet can really hold.
    let mut headers = Vec::with_capacity((declared as usize).min(r.remaining() / 5));
    for found in 0..declared {
        if r.remaining() == 0 {
            return Err(DecodeError::HeaderCount { declared, found });
        }
        let (name, value) = read_header(r, dir)?;
        let name = match name.canonical(dir, r.buf()) {
            RawName::Coded(name) => P::from_static(name.as_bytes()),
            RawName::Text(range) => src.slice(range),
        };
        headers.push((name, src.slice(value)));
    }
    Ok(headers)
}

/// An attribute as found on the wire, with the ranges of its strings in the payload.
#[derive(Clone, Debug)]
pub(crate) enum RawAttribute {
    /// One of the attributes whose value is one string.
    Text(u8, Range<usize>),
    ReqAttribute(Range<usize>, Range<usize>),
    SslKeySize(u16),
    /// `0x0D`: folded into the method by the decoders, never an [`Attribute`].
    StoredMethod(Range<usize>),
    /// `0xFF`: the end of the list.
    Done,
}

/// Reads one attribute (or the terminator).
#[inline(always)]
pub(crate) fn read_attribute(r: &mut Reader<'_>) -> Result<RawAttribute, DecodeError> {
    let offset = r.pos();
    let code = r.u8("attribute code")?;
    Ok(match code {
        attr::ARE_DONE => RawAttribute::Done,
        attr::REQ_ATTRIBUTE => RawAttribute::ReqAttribute(
            r.string("req_attribute name")?,
            r.string("req_attribute value")?,
        ),
        attr::SSL_KEY_SIZE => RawAttribute::SslKeySize(r.u16("ssl_key_size")?),
        attr::STORED_METHOD => RawAttribute::StoredMethod(r.string("stored_method")?),
        attr::CONTEXT..=attr::SSL_SESSION | attr::SECRET => {
            RawAttribute::Text(code, r.string(attribute_field(code))?)
        }
        code => return Err(DecodeError::UnknownAttribute { code, offset }),
    })
}

/// The field name of a one-string attribute, for errors.
fn attribute_field(code: u8) -> Field {
    match code {
        attr::CONTEXT => "context",
        attr::SERVLET_PATH => "servlet_path",
        attr::REMOTE_USER => "remote_user",
        attr::AUTH_TYPE => "auth_type",
        attr::QUERY_STRING => "query_string",
        attr::ROUTE => "route",
        attr::SSL_CERT => "ssl_cert",
        attr::SSL_CIPHER => "ssl_cipher",
        attr::SSL_SESSION => "ssl_session",
        _ => "secret",
    }
}

impl RawAttribute {
    /// The attribute, its strings made by `slice`; `None` for the stored method and the
    /// terminator.
    #[inline]
    pub(crate) fn to_attribute<S>(
        &self,
        slice: impl Fn(Range<usize>) -> S,
    ) -> Option<Attribute<S>> {
        Some(match self {
            Self::Text(code, v) => {
                let v = slice(v.clone());
                match *code {
                    attr::CONTEXT => Attribute::Context(v),
                    attr::SERVLET_PATH => Attribute::ServletPath(v),
                    attr::REMOTE_USER => Attribute::RemoteUser(v),
                    attr::AUTH_TYPE => Attribute::AuthType(v),
                    attr::QUERY_STRING => Attribute::QueryString(v),
                    attr::ROUTE => Attribute::Route(v),
                    attr::SSL_CERT => Attribute::SslCert(v),
                    attr::SSL_CIPHER => Attribute::SslCipher(v),
                    attr::SSL_SESSION => Attribute::SslSession(v),
                    _ => Attribute::Secret(v),
                }
            }
            Self::ReqAttribute(name, value) => Attribute::ReqAttribute {
                name: slice(name.clone()),
                value: slice(value.clone()),
            },
            Self::SslKeySize(bits) => Attribute::SslKeySize(*bits),
            Self::StoredMethod(_) | Self::Done => return None,
        })
    }
}

impl ForwardRequest<Bytes> {
    /// Decodes a Forward Request from a packet payload (the bytes after the 4-byte header,
    /// starting with the type byte 2). String fields are slices of `payload`: nothing is
    /// copied.
    ///
    /// Each field is its own `Bytes`; [`ForwardRequestPacket::decode`] is the cheaper way
    /// to receive one, reading the fields in place.
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        ForwardRequestPacket::decode(payload).map(|p| p.to_forward_request())
    }
}

impl<'a> ForwardRequest<&'a [u8]> {
    /// Decodes a Forward Request from a payload, borrowing its fields (headers and
    /// attributes collected into `Vec`s). To read a request without building anything,
    /// [`ForwardRequestPacket::decode`] is cheaper.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        Layout::scan(payload).map(|layout| layout.to_forward_request(payload))
    }
}

impl<S: AsRef<[u8]>> Attribute<S> {
    /// The same attribute, borrowing its strings.
    pub fn as_bytes(&self) -> Attribute<&[u8]> {
        match self {
            Self::Context(v) => Attribute::Context(v.as_ref()),
            Self::ServletPath(v) => Attribute::ServletPath(v.as_ref()),
            Self::RemoteUser(v) => Attribute::RemoteUser(v.as_ref()),
            Self::AuthType(v) => Attribute::AuthType(v.as_ref()),
            Self::QueryString(v) => Attribute::QueryString(v.as_ref()),
            Self::Route(v) => Attribute::Route(v.as_ref()),
            Self::SslCert(v) => Attribute::SslCert(v.as_ref()),
            Self::SslCipher(v) => Attribute::SslCipher(v.as_ref()),
            Self::SslSession(v) => Attribute::SslSession(v.as_ref()),
            Self::ReqAttribute { name, value } => Attribute::ReqAttribute {
                name: name.as_ref(),
                value: value.as_ref(),
            },
            Self::SslKeySize(bits) => Attribute::SslKeySize(*bits),
            Self::Secret(v) => Attribute::Secret(v.as_ref()),
        }
    }
}

impl<S: AsRef<[u8]>> Attribute<S> {
    /// Code, field name and value of the attributes that are one string.
    fn as_string(&self) -> Option<(u8, Field, &[u8])> {
        let (code, field, value) = match self {
            Self::Context(v) => (attr::CONTEXT, "context", v),
            Self::ServletPath(v) => (attr::SERVLET_PATH, "servlet_path", v),
            Self::RemoteUser(v) => (attr::REMOTE_USER, "remote_user", v),
            Self::AuthType(v) => (attr::AUTH_TYPE, "auth_type", v),
            Self::QueryString(v) => (attr::QUERY_STRING, "query_string", v),
            Self::Route(v) => (attr::ROUTE, "route", v),
            Self::SslCert(v) => (attr::SSL_CERT, "ssl_cert", v),
            Self::SslCipher(v) => (attr::SSL_CIPHER, "ssl_cipher", v),
            Self::SslSession(v) => (attr::SSL_SESSION, "ssl_session", v),
            Self::Secret(v) => (attr::SECRET, "secret", v),
            Self::ReqAttribute { .. } | Self::SslKeySize(_) => return None,
        };
        Some((code, field, value.as_ref()))
    }

    fn encoded_len(&self) -> Result<usize, EncodeError> {
        let value_len = match self {
            Self::ReqAttribute { name, value } => {
                string_len("req_attribute name", name.as_ref())?
                    + string_len("req_attribute value", value.as_ref())?
            }
            Self::SslKeySize(_) => 2,
            _ => match self.as_string() {
                Some((_, field, value)) => string_len(field, value)?,
                None => unreachable!("every other attribute is one string"),
            },
        };
        Ok(1 + value_len)
    }

    fn write(&self, w: &mut Writer<'_>) {
        match self {
            Self::ReqAttribute { name, value } => {
                w.u8(attr::REQ_ATTRIBUTE);
                w.string(name.as_ref());
                w.string(value.as_ref());
            }
            Self::SslKeySize(bits) => {
                w.u8(attr::SSL_KEY_SIZE);
                w.u16(*bits);
            }
            _ => {
                if let Some((code, _, value)) = self.as_string() {
                    w.u8(code);
                    w.string(value);
                }
            }
        }
    }
}

/// Shows byte strings as text where they are UTF-8.
pub(crate) struct Text<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) => fmt::Debug::fmt(s, f),
            Err(_) => write!(f, "b{:?}", Bytes::copy_from_slice(self.0)),
        }
    }
}

impl<S: AsRef<[u8]>> fmt::Debug for ForwardRequest<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| (Text(n.as_ref()), Text(v.as_ref())))
            .collect();
        f.debug_struct("ForwardRequest")
            .field("method", &self.method)
            .field("protocol", &Text(self.protocol.as_ref()))
            .field("req_uri", &Text(self.req_uri.as_ref()))
            .field("remote_addr", &Text(self.remote_addr.as_ref()))
            .field(
                "remote_host",
                &self.remote_host.as_ref().map(|h| Text(h.as_ref())),
            )
            .field("server_name", &Text(self.server_name.as_ref()))
            .field("server_port", &self.server_port)
            .field("is_ssl", &self.is_ssl)
            .field("headers", &headers)
            .field("attributes", &self.attributes)
            .finish()
    }
}

impl<S: AsRef<[u8]>> fmt::Debug for Attribute<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, v) = match self {
            Self::Context(v) => ("Context", v),
            Self::ServletPath(v) => ("ServletPath", v),
            Self::RemoteUser(v) => ("RemoteUser", v),
            Self::AuthType(v) => ("AuthType", v),
            Self::QueryString(v) => ("QueryString", v),
            Self::Route(v) => ("Route", v),
            Self::SslCert(v) => ("SslCert", v),
            Self::SslCipher(v) => ("SslCipher", v),
            Self::SslSession(v) => ("SslSession", v),
            Self::Secret(_) => return f.write_str("Secret(<redacted>)"),
            Self::SslKeySize(bits) => return f.debug_tuple("SslKeySize").field(bits).finish(),
            Self::ReqAttribute { name, value } => {
                return f
                    .debug_struct("ReqAttribute")
                    .field("name", &Text(name.as_ref()))
                    .field("value", &Text(value.as_ref()))
                    .finish();
            }
        };
        f.debug_tuple(name).field(&Text(v.as_ref())).finish()
    }
}
