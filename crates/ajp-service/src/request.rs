//! `http::Request` head → Forward Request packet, with every check that must happen before
//! the backend is contacted. Pure: no I/O, so each rule is unit-tested here.

use std::fmt::Write as _;

use ajp_codec::{Attribute, EncodeError, ForwardRequest};
use bytes::BytesMut;
use http::header::{self, HeaderName};
use http::{Method, StatusCode, Version, request};

use crate::builder::Config;
use crate::error::Error;
use crate::info::{AuthenticatedUser, ClientInfo};

/// What the exchange needs to know about a request once it has been accepted.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The encoded Forward Request packet (kept for a possible replay). Not frozen: it is
    /// only ever copied into a connection's write buffer, and freezing a buffer with spare
    /// room allocates.
    pub(crate) packet: BytesMut,
    /// The forwarded Content-Length; `None` when the length is unknown (chunked).
    pub(crate) content_length: Option<u64>,
    /// HEAD: the response has no body whatever its headers say.
    pub(crate) head: bool,
    /// Idempotent method: may be replayed if nothing of it reached the backend.
    pub(crate) idempotent: bool,
}

fn reject(status: StatusCode, why: &'static str) -> Error {
    Error::rejected(status, why)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and headers the proxy consumes itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::UPGRADE
        || name == header::EXPECT
        || name == header::PROXY_AUTHORIZATION
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

fn is_forwarding_header(name: &HeaderName) -> bool {
    name == header::FORWARDED || name.as_str().starts_with("x-forwarded-")
}

/// Bytes that may never reach the container in a path or query: controls, space, DEL.
fn has_unsafe_uri_bytes(s: &str) -> bool {
    s.bytes().any(|b| b <= b' ' || b == 0x7f)
}

pub(crate) fn prepare(parts: &request::Parts, config: &Config) -> Result<Prepared, Error> {
    let method = &parts.method;
    if method == Method::CONNECT {
        return Err(reject(
            StatusCode::NOT_IMPLEMENTED,
            "CONNECT cannot be carried over AJP",
        ));
    }
    let headers = &parts.headers;

    // Connection tokens: they name more hop-by-hop headers, and `upgrade` asks for
    // something AJP cannot carry.
    let mut connection_tokens: Vec<&str> = Vec::new();
    for v in headers.get_all(header::CONNECTION) {
        let v = v
            .to_str()
            .map_err(|_| reject(StatusCode::BAD_REQUEST, "invalid Connection header"))?;
        connection_tokens.extend(v.split(',').map(str::trim).filter(|t| !t.is_empty()));
    }
    // A token may not take away what frames the request: without its Content-Length the
    // container would not expect the body packet we still send unasked, and would read it
    // as the next request on the connection (a smuggled Forward Request). Host goes too,
    // for the routing the container does by it.
    connection_tokens
        .retain(|t| !t.eq_ignore_ascii_case("content-length") && !t.eq_ignore_ascii_case("host"));
    // An offer of h2c alone (`curl --http2` sends one with every http:// request) is
    // declined by ignoring it, as RFC 9110 §7.8 lets a server do: the request is answered
    // over HTTP/1.1 and `Upgrade`/`HTTP2-Settings` stay here as hop-by-hop. Any other
    // upgrade (WebSocket) needs the connection itself, which AJP cannot carry: 501 says so
    // plainly instead of a response the client's handshake would fail on.
    let mut offered = headers
        .get_all(header::UPGRADE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty())
        .peekable();
    let only_h2c = offered.peek().is_some() && offered.all(|p| p.eq_ignore_ascii_case(b"h2c"));
    if !only_h2c
        && (headers.contains_key(header::UPGRADE)
            || connection_tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case("upgrade")))
    {
        return Err(reject(
            StatusCode::NOT_IMPLEMENTED,
            "protocol upgrades (WebSocket) cannot be carried over AJP",
        ));
    }

    // Body framing: the one thing that decides how the container reads what follows.
    let mut content_lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let content_length = match (content_lengths.next(), content_lengths.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "several Content-Length headers",
            ));
        }
        (Some(v), None) => Some(
            v.to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "invalid Content-Length"))?,
        ),
    };
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    match (te.next(), te.next()) {
        (None, _) => {}
        (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"chunked") => {
            if content_length.is_some() {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "both Content-Length and Transfer-Encoding",
                ));
            }
        }
        _ => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "Transfer-Encoding other than chunked",
            ));
        }
    }

    // One Host, or none (RFC 9112 §3.2 makes several a 400): given several, the container
    // and anything between that checks the request could each route by a different one.
    let mut hosts = headers.get_all(header::HOST).iter();
    let host_header = match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(reject(StatusCode::BAD_REQUEST, "several Host headers")),
        (None, None) => None,
        (Some(v), None) => Some(
            v.to_str()
                .map_err(|_| reject(StatusCode::BAD_REQUEST, "invalid Host header"))?,
        ),
    };

    let path = parts.uri.path();
    // Origin form, or `*` for OPTIONS. (`http` refuses other paths today; were an absolute
    // URI to get through, Tomcat would take the Host from it.)
    let origin_form = path.starts_with('/') || (path == "*" && parts.method == Method::OPTIONS);
    if !origin_form || has_unsafe_uri_bytes(path) {
        return Err(reject(StatusCode::BAD_REQUEST, "invalid request path"));
    }
    let query = parts.uri.query();
    if query.is_some_and(has_unsafe_uri_bytes) {
        return Err(reject(StatusCode::BAD_REQUEST, "invalid query string"));
    }

    let info: Option<ClientInfo> = match &config.client_info {
        Some(f) => f(&parts.extensions),
        None => parts.extensions.get::<ClientInfo>().cloned(),
    };
    let user = parts.extensions.get::<AuthenticatedUser>();

    let mut forwarded: Vec<(&[u8], &[u8])> = Vec::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        if is_hop_by_hop(name)
            || (config.strip_forwarded && is_forwarding_header(name))
            || connection_tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name.as_str()))
        {
            continue;
        }
        if value
            .as_bytes()
            .iter()
            .any(|&b| matches!(b, b'\r' | b'\n' | 0))
        {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "CR, LF or NUL in a header value",
            ));
        }
        forwarded.push((name.as_str().as_bytes(), value.as_bytes()));
    }
    // HTTP/2 carries the host in the URI, not a header; Tomcat wants a Host header.
    let authority = parts.uri.authority().map(|a| a.as_str());
    if host_header.is_none()
        && let Some(a) = authority
    {
        forwarded.push((b"host", a.as_bytes()));
    }
    let host = host_header.or(authority);

    // Numbers and addresses as text, in one buffer on the stack: a heap `String` here cost
    // four of the ~22 allocations a proxied GET made (perf uprobes on malloc, 2026-12-07).
    let mut text = Text::default();
    let mut spans = [0usize; 3];
    let local = info.as_ref().and_then(|i| i.local);
    match &info {
        Some(i) => text.write(i.remote.ip()),
        None => text.write("unknown"),
    }
    spans[0] = text.len;
    if let Some(i) = &info {
        text.write(i.remote.port());
    }
    spans[1] = text.len;
    if let Some(l) = local {
        text.write(l.ip());
    }
    spans[2] = text.len;
    let is_ssl = info.as_ref().is_some_and(|i| i.tls.is_some());
    let server_port = local
        .map(|l| l.port())
        .or_else(|| host.and_then(host_port))
        .unwrap_or(if is_ssl { 443 } else { 80 });
    let server_name: &str = match (&config.server_name, host) {
        (Some(name), _) => name,
        (None, Some(h)) => host_name(h),
        (None, None) => text.str(spans[1]..spans[2]),
    };

    let mut attributes: Vec<Attribute<&[u8]>> = Vec::with_capacity(8 + config.attributes.len());
    if let Some(secret) = &config.secret {
        attributes.push(Attribute::Secret(secret.as_bytes()));
    }
    if let Some(u) = user {
        attributes.push(Attribute::RemoteUser(u.user.as_bytes()));
        if let Some(t) = &u.auth_type {
            attributes.push(Attribute::AuthType(t.as_bytes()));
        }
    }
    if let Some(q) = query {
        attributes.push(Attribute::QueryString(q.as_bytes()));
    }
    let tls = info.as_ref().and_then(|i| i.tls.as_ref());
    if let Some(tls) = tls {
        if let Some(v) = &tls.client_cert_pem {
            attributes.push(Attribute::SslCert(v.as_bytes()));
        }
        if let Some(v) = &tls.cipher {
            attributes.push(Attribute::SslCipher(v.as_bytes()));
        }
        if let Some(v) = &tls.session_id {
            attributes.push(Attribute::SslSession(v.as_bytes()));
        }
        if let Some(v) = tls.key_size {
            attributes.push(Attribute::SslKeySize(v));
        }
        if let Some(v) = &tls.protocol {
            attributes.push(Attribute::ReqAttribute {
                name: b"AJP_SSL_PROTOCOL",
                value: v.as_bytes(),
            });
        }
    }
    if info.is_some() {
        attributes.push(Attribute::ReqAttribute {
            name: b"AJP_REMOTE_PORT",
            value: text.str(spans[0]..spans[1]).as_bytes(),
        });
    }
    if local.is_some() {
        attributes.push(Attribute::ReqAttribute {
            name: b"AJP_LOCAL_ADDR",
            value: text.str(spans[1]..spans[2]).as_bytes(),
        });
    }
    for (name, value) in &config.attributes {
        attributes.push(Attribute::ReqAttribute {
            name: name.as_bytes(),
            value: value.as_bytes(),
        });
    }

    let request = ForwardRequest {
        method: method.clone(),
        protocol: version_str(parts.version).as_bytes(),
        req_uri: path.as_bytes(),
        remote_addr: text.str(0..spans[0]).as_bytes(),
        remote_host: None,
        server_name: server_name.as_bytes(),
        server_port,
        is_ssl,
        headers: forwarded,
        attributes,
    };
    let mut packet = BytesMut::with_capacity(512);
    request
        .encode(&mut packet, config.packet_size)
        .map_err(|e| match e {
            EncodeError::TooLarge { .. }
            | EncodeError::StringTooLong { .. }
            | EncodeError::HeaderNameTooLong { .. }
            | EncodeError::TooManyHeaders { .. } => reject(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head does not fit one AJP packet",
            )
            .with(e),
            other => reject(StatusCode::BAD_REQUEST, "request cannot be encoded").with(other),
        })?;

    Ok(Prepared {
        packet,
        content_length,
        head: method == Method::HEAD,
        idempotent: matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        ),
    })
}

/// Two addresses and a port as text, without a heap allocation.
struct Text {
    buf: [u8; Text::CAP],
    len: usize,
}

impl Text {
    /// Two IPv6 addresses (at most 45 bytes each, the IPv4-mapped form) and a port.
    const CAP: usize = 2 * 45 + 5;

    fn write(&mut self, v: impl std::fmt::Display) {
        // Cannot fail: CAP holds the longest addresses and port.
        let _ = write!(self, "{v}");
    }

    fn str(&self, range: std::ops::Range<usize>) -> &str {
        // Only whole `write_str`s are stored, so every span is UTF-8; "" cannot happen.
        std::str::from_utf8(&self.buf[range]).unwrap_or_default()
    }
}

impl Default for Text {
    fn default() -> Self {
        Self {
            buf: [0; Self::CAP],
            len: 0,
        }
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The host part of a Host header value (`name`, `name:port`, `[v6]:port`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn host_port(host: &str) -> Option<u16> {
    let after = if host.starts_with('[') {
        host.split_once("]:")?.1
    } else {
        host.rsplit_once(':')?.1
    };
    after.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::TlsInfo;
    use ajp_codec::ForwardRequest;

    fn config() -> Config {
        Config::for_tests()
    }

    fn parts(req: http::Request<()>) -> request::Parts {
        req.into_parts().0
    }

    fn decode(p: &Prepared) -> ForwardRequest {
        ForwardRequest::decode(bytes::Bytes::copy_from_slice(&p.packet[4..])).unwrap()
    }

    /// The longest addresses and port fit the text buffer, each in its own field.
    #[test]
    fn longest_addresses_are_sent_whole() {
        let remote = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535";
        let local = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd]:65534";
        let mut req = http::Request::get("/").body(()).unwrap();
        req.extensions_mut()
            .insert(ClientInfo::new(remote.parse().unwrap()).with_local(local.parse().unwrap()));
        let f = decode(&prepare(&parts(req), &config()).unwrap());
        assert_eq!(f.remote_addr, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        assert_eq!(f.server_name, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd");
        assert_eq!(f.server_port, 65534);
        let attr = |name: &str| req_attribute(&f, name);
        assert_eq!(attr("AJP_REMOTE_PORT").unwrap(), "65535");
        assert_eq!(
            attr("AJP_LOCAL_ADDR").unwrap(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd"
        );
    }

    /// The value of the named request attribute (0x0A), if sent.
    fn req_attribute(f: &ForwardRequest, name: &str) -> Option<bytes::Bytes> {
        f.attributes.iter().find_map(|a| match a {
            Attribute::ReqAttribute { name: n, value } if n == name => Some(value.clone()),
            _ => None,
        })
    }

    fn rejected(req: http::Request<()>) -> StatusCode {
        prepare(&parts(req), &config()).unwrap_err().status()
    }

    /// `curl --http2` on an http:// URL offers h2c with every request: the offer is
    /// ignored (RFC 9110 §7.8) and the request proxied without it; any other upgrade, or
    /// h2c offered beside one, is a 501.
    #[test]
    fn an_h2c_offer_is_ignored_and_other_upgrades_refused() {
        let req = |upgrade: Option<&str>, connection: &str| {
            let mut b = http::Request::get("/page")
                .header("host", "shop.example")
                .header("connection", connection)
                .header("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA")
                .header("x-kept", "1");
            if let Some(u) = upgrade {
                b = b.header("upgrade", u);
            }
            b.body(()).unwrap()
        };
        let p = prepare(
            &parts(req(Some("h2c"), "Upgrade, HTTP2-Settings")),
            &config(),
        )
        .unwrap();
        let names: Vec<_> = decode(&p)
            .headers
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert_eq!(names, ["host", "x-kept"]);
        let p = prepare(&parts(req(Some(" H2C "), "upgrade")), &config()).unwrap();
        assert_eq!(
            decode(&p).headers.len(),
            3,
            "http2-settings not named: kept"
        );
        assert_eq!(rejected(req(Some("h2c, websocket"), "upgrade")), 501);
        assert_eq!(rejected(req(Some("websocket"), "upgrade")), 501);
        assert_eq!(rejected(req(None, "upgrade")), 501);
        assert_eq!(rejected(req(Some(""), "upgrade")), 501);
    }

    /// Only origin-form paths and `OPTIONS *` reach the container. (`http` itself refuses
    /// a path that starts with neither `/` nor `*`, such as an absolute URI in HTTP/2's
    /// `:path`, from which Tomcat would take the Host.)
    #[test]
    fn paths_that_are_not_origin_form_are_refused() {
        let with_path = |method: Method, pq: &'static str| {
            let mut uri = http::uri::Parts::default();
            uri.path_and_query = Some(http::uri::PathAndQuery::from_static(pq));
            let mut req = http::Request::new(());
            *req.method_mut() = method;
            *req.uri_mut() = http::Uri::from_parts(uri).unwrap();
            req.headers_mut()
                .insert(header::HOST, "shop.example".parse().unwrap());
            req
        };
        assert_eq!(
            rejected(with_path(Method::GET, "*")),
            StatusCode::BAD_REQUEST
        );
        let p = prepare(&parts(with_path(Method::OPTIONS, "*")), &config()).unwrap();
        assert_eq!(decode(&p).req_uri, "*");
        assert!(prepare(&parts(with_path(Method::GET, "/x")), &config()).is_ok());
    }

    /// `Connection: content-length` must not strip the length while the body's first
    /// packet is still sent unasked: the container would read that packet as a request.
    #[test]
    fn connection_tokens_never_remove_the_framing_headers() {
        let req = http::Request::post("/upload")
            .header("host", "shop.example")
            .header("content-length", "5")
            .header("connection", "Content-Length, host, x-hop")
            .header("x-hop", "drop me")
            .body(())
            .unwrap();
        let p = prepare(&parts(req), &config()).unwrap();
        assert_eq!(p.content_length, Some(5));
        let fr = decode(&p);
        assert_eq!(fr.header("content-length").unwrap(), "5");
        assert_eq!(fr.header("host").unwrap(), "shop.example");
        assert!(fr.header("x-hop").is_none());
    }

    #[test]
    fn forwards_path_query_headers_and_client_facts() {
        let mut req = http::Request::builder()
            .method("PATCH")
            .uri("/app/a%20b?x=1&y=%2F")
            .header("host", "shop.example:8443")
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "drop me")
            .header("keep-alive", "timeout=5")
            .header("x-forwarded-for", "6.6.6.6")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-custom", "v")
            .body(())
            .unwrap();
        req.extensions_mut().insert(
            ClientInfo::new("203.0.113.9:50000".parse().unwrap())
                .with_local("192.0.2.1:8443".parse().unwrap())
                .with_tls(TlsInfo::new().with_protocol("TLSv1.3").with_key_size(256)),
        );
        let p = prepare(&parts(req), &config()).unwrap();
        assert!(!p.idempotent);
        assert_eq!(p.content_length, None);
        let f = decode(&p);
        assert_eq!(f.method, Method::PATCH);
        assert_eq!(f.req_uri, "/app/a%20b", "still encoded, never decoded");
        assert_eq!(f.query_string().unwrap(), "x=1&y=%2F");
        assert_eq!(f.remote_addr, "203.0.113.9");
        assert_eq!(f.server_name, "shop.example");
        assert_eq!(f.server_port, 8443);
        assert!(f.is_ssl);
        let names: Vec<_> = f.headers.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, ["host", "cookie", "cookie", "x-custom"]);
        let attr = |name: &str| req_attribute(&f, name);
        assert_eq!(attr("AJP_REMOTE_PORT").unwrap(), "50000");
        assert_eq!(attr("AJP_LOCAL_ADDR").unwrap(), "192.0.2.1");
        assert_eq!(attr("AJP_SSL_PROTOCOL").unwrap(), "TLSv1.3");
        assert!(f.attributes.contains(&Attribute::SslKeySize(256)));
        assert_eq!(f.secret().unwrap(), "test-secret");
        assert_eq!(attr("static.attr").unwrap(), "from-config");
    }

    #[test]
    fn client_headers_never_become_attributes() {
        let req = http::Request::builder()
            .uri("/")
            .header("AJP_REMOTE_PORT", "1")
            .header("x-ajp-secret", "forged")
            .body(())
            .unwrap();
        let f = decode(&prepare(&parts(req), &config()).unwrap());
        assert!(f.attributes.iter().all(|a| !matches!(a,
            Attribute::ReqAttribute { name, .. } if name == "AJP_REMOTE_PORT")));
        assert_eq!(f.remote_addr, "unknown");
        assert_eq!(f.secret().unwrap(), "test-secret");
    }

    #[test]
    fn rejects_smuggling_shapes_before_the_backend() {
        let b = || http::Request::builder().method("POST").uri("/");
        assert_eq!(
            rejected(
                b().header("content-length", "5")
                    .header("transfer-encoding", "chunked")
                    .body(())
                    .unwrap()
            ),
            400
        );
        assert_eq!(
            rejected(
                b().header("content-length", "5")
                    .header("content-length", "5")
                    .body(())
                    .unwrap()
            ),
            400
        );
        assert_eq!(
            rejected(b().header("content-length", "+5").body(()).unwrap()),
            400
        );
        assert_eq!(
            rejected(
                b().header("transfer-encoding", "gzip, chunked")
                    .body(())
                    .unwrap()
            ),
            400
        );
        assert_eq!(
            rejected(
                b().header("transfer-encoding", "identity")
                    .body(())
                    .unwrap()
            ),
            400
        );
        assert_eq!(
            rejected(
                b().header("upgrade", "websocket")
                    .header("connection", "upgrade")
                    .body(())
                    .unwrap()
            ),
            501
        );
        assert_eq!(
            rejected(
                b().method("CONNECT")
                    .uri("example.com:443")
                    .body(())
                    .unwrap()
            ),
            501
        );
        let huge = "x".repeat(9000);
        assert_eq!(rejected(b().header("x-big", huge).body(()).unwrap()), 431);
        // Two Hosts: which one routes would be the container's guess.
        assert_eq!(
            rejected(
                b().header("host", "shop.example")
                    .header("host", "admin.internal")
                    .body(())
                    .unwrap()
            ),
            400
        );
        let latin1 = http::HeaderValue::from_bytes(b"caf\xe9.example").unwrap();
        assert_eq!(rejected(b().header("host", latin1).body(()).unwrap()), 400);
    }

    #[test]
    fn chunked_and_sized_bodies() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        let p = prepare(&parts(req), &config()).unwrap();
        assert_eq!(p.content_length, None);
        let f = decode(&p);
        assert!(f.header("transfer-encoding").is_none());
        let req = http::Request::builder()
            .method("PUT")
            .uri("/")
            .header("content-length", "10")
            .header("expect", "100-continue")
            .body(())
            .unwrap();
        let p = prepare(&parts(req), &config()).unwrap();
        assert_eq!(p.content_length, Some(10));
        assert!(p.idempotent);
        let f = decode(&p);
        assert_eq!(f.header("content-length").unwrap(), "10");
        assert!(f.header("expect").is_none());
    }

    #[test]
    fn forward_request_that_exactly_fits_is_sent() {
        // Find the header size at which the packet is exactly P: it must pass, one more
        // byte must be refused.
        let build = |n: usize| {
            http::Request::builder()
                .uri("/")
                .header("x-fill", "y".repeat(n))
                .body(())
                .unwrap()
        };
        let base = prepare(&parts(build(0)), &config()).unwrap().packet.len();
        let fill = 8192 - base;
        let p = prepare(&parts(build(fill)), &config()).unwrap();
        assert_eq!(p.packet.len(), 8192);
        assert_eq!(
            prepare(&parts(build(fill + 1)), &config())
                .unwrap_err()
                .status(),
            431
        );
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_name("a.example:80"), "a.example");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_port("[::1]:8080"), Some(8080));
        assert_eq!(host_port("a.example"), None);
    }
}
