//! Forward Request → `http::Request`, with Tomcat's checks. Pure: no I/O.

use ajp_codec::{Attribute, ForwardRequestPacket};
use bytes::BytesMut;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{Request, StatusCode, Uri, Version};

use crate::allow::secret_matches;
use crate::builder::Config;
use crate::info::{ProxyInfo, TlsInfo};

/// Why a Forward Request is refused before the app sees it. The answer is `status` with
/// END_RESPONSE(reuse = false), and the connection is closed, as Tomcat does
/// (`ErrorState.CLOSE_CLEAN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

const fn refuse(status: StatusCode, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// A request head ready for the app, and the Content-Length that governs the body flow.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request<()>,
    pub(crate) content_length: Option<u64>,
}

pub(crate) fn convert(fr: ForwardRequestPacket, config: &Config) -> Result<Head, Refusal> {
    let share = |part: &[u8]| fr.share(part);
    let mut info = ProxyInfo {
        remote_addr: share(fr.remote_addr()),
        remote_host: fr.remote_host().map(share),
        server_name: share(fr.server_name()),
        server_port: fr.server_port(),
        is_ssl: fr.is_ssl(),
        ..ProxyInfo::default()
    };
    let mut tls = TlsInfo::default();
    let mut query = None;
    let mut secret_ok = config.secret.is_none();
    for a in fr.attributes() {
        match a {
            Attribute::Secret(s) => {
                if let Some(expected) = &config.secret {
                    secret_ok = secret_matches(expected, s);
                }
            }
            // Read and discarded by Tomcat too.
            Attribute::Context(_) | Attribute::ServletPath(_) => {}
            Attribute::RemoteUser(u) => info.remote_user = Some(share(u)),
            Attribute::AuthType(t) => info.auth_type = Some(share(t)),
            Attribute::QueryString(q) => query = Some(q),
            Attribute::Route(r) => info.route = Some(share(r)),
            Attribute::SslCert(c) => tls.cert = Some(share(c)),
            Attribute::SslCipher(c) => tls.cipher = Some(share(c)),
            Attribute::SslSession(s) => tls.session = Some(share(s)),
            Attribute::SslKeySize(k) => tls.key_size = Some(k),
            Attribute::ReqAttribute { name, value } => {
                if !config.allow.allows(name) {
                    tracing::warn!(
                        name = %String::from_utf8_lossy(name),
                        "AJP request attribute not on the allow-list: 403"
                    );
                    return Err(refuse(StatusCode::FORBIDDEN, "attribute not allowed"));
                }
                let value = share(value);
                match name {
                    b"AJP_REMOTE_PORT" => {
                        info.remote_port = std::str::from_utf8(&value)
                            .ok()
                            .and_then(|p| p.parse().ok())
                    }
                    b"AJP_LOCAL_ADDR" => info.local_addr = Some(value.clone()),
                    b"AJP_SSL_PROTOCOL" => tls.protocol = Some(value.clone()),
                    _ => {}
                }
                info.attributes.push((share(name), value));
            }
        }
    }
    // Checked after the whole list, so that the answer does not tell which came first.
    if !secret_ok {
        tracing::warn!("AJP request without the configured secret: 403");
        return Err(refuse(StatusCode::FORBIDDEN, "secret mismatch"));
    }
    info.tls = tls;

    if fr.num_headers() > config.max_headers {
        return Err(refuse(StatusCode::BAD_REQUEST, "too many headers"));
    }
    let uri =
        build_uri(&fr, query).ok_or(refuse(StatusCode::BAD_REQUEST, "invalid request URI"))?;
    let version = match fr.protocol() {
        b"HTTP/1.0" => Version::HTTP_10,
        b"HTTP/2" | b"HTTP/2.0" => Version::HTTP_2,
        b"HTTP/0.9" => Version::HTTP_09,
        _ => Version::HTTP_11,
    };

    let mut request = Request::new(());
    *request.method_mut() = fr.method().clone();
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let headers = request.headers_mut();
    headers.reserve(fr.num_headers());
    let mut content_length = None;
    for (name, value) in fr.headers() {
        let name = HeaderName::from_bytes(name)
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(share(value))
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "invalid header value"))?;
        if name == CONTENT_LENGTH {
            // Tomcat: a second Content-Length, or one that is not a number, is a 400.
            let parsed = value
                .to_str()
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (parsed, content_length) {
                (Some(n), None) => content_length = Some(n),
                _ => return Err(refuse(StatusCode::BAD_REQUEST, "bad Content-Length")),
            }
        }
        headers.append(name, value);
    }
    request.extensions_mut().insert(info);
    Ok(Head {
        request,
        content_length,
    })
}

/// `req_uri` + `?` + query as an origin-form URI, like hyper gives a server.
fn build_uri(fr: &ForwardRequestPacket, query: Option<&[u8]>) -> Option<Uri> {
    let path = fr.req_uri();
    if !path.starts_with(b"/") && path != b"*" {
        return None;
    }
    let uri = match query {
        Some(q) => {
            let mut b = BytesMut::with_capacity(path.len() + 1 + q.len());
            b.extend_from_slice(path);
            b.extend_from_slice(b"?");
            b.extend_from_slice(q);
            b.freeze()
        }
        None => fr.share(path),
    };
    Uri::from_maybe_shared(uri).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ajp_codec::{ForwardRequest, PacketSize};

    fn encode(fr: ForwardRequest<&str>) -> ForwardRequestPacket {
        let mut buf = BytesMut::new();
        fr.encode(&mut buf, PacketSize::DEFAULT).unwrap();
        ForwardRequestPacket::decode(buf.split_off(4).freeze()).unwrap()
    }

    fn base() -> ForwardRequest<&'static str> {
        ForwardRequest {
            method: http::Method::POST,
            protocol: "HTTP/1.1",
            req_uri: "/a/b%20c",
            remote_addr: "10.0.0.7",
            remote_host: None,
            server_name: "www.example.com",
            server_port: 443,
            is_ssl: true,
            headers: vec![
                ("Host", "www.example.com"),
                ("X-Dup", "1"),
                ("X-Dup", "2"),
                ("Content-Length", "5"),
            ],
            attributes: vec![
                Attribute::QueryString("x=1&y"),
                Attribute::RemoteUser("alice"),
                Attribute::SslCipher("TLS_AES_128_GCM_SHA256"),
                Attribute::SslKeySize(128),
                Attribute::Route("node1"),
                Attribute::ReqAttribute {
                    name: "AJP_REMOTE_PORT",
                    value: "54321",
                },
                Attribute::ReqAttribute {
                    name: "AJP_SSL_PROTOCOL",
                    value: "TLSv1.3",
                },
            ],
        }
    }

    #[test]
    fn converts_every_fact() {
        let head = convert(encode(base()), &Config::default()).unwrap();
        let r = &head.request;
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "/a/b%20c?x=1&y");
        assert_eq!(head.content_length, Some(5));
        let dups: Vec<_> = r.headers().get_all("x-dup").iter().collect();
        assert_eq!(dups, ["1", "2"]);
        let info = r.extensions().get::<ProxyInfo>().unwrap();
        assert_eq!(info.remote_ip(), Some([10, 0, 0, 7].into()));
        assert_eq!(info.remote_port(), Some(54321));
        assert!(info.is_ssl());
        assert_eq!(info.server_port(), 443);
        assert_eq!(info.remote_user().unwrap(), "alice");
        assert_eq!(info.route().unwrap(), "node1");
        assert_eq!(info.tls().key_size(), Some(128));
        assert_eq!(info.tls().protocol().unwrap(), "TLSv1.3");
        assert_eq!(info.attribute("AJP_REMOTE_PORT").unwrap(), "54321");
    }

    #[test]
    fn stored_method_arrives_as_method() {
        let mut fr = base();
        fr.method = http::Method::from_bytes(b"FROBNICATE").unwrap();
        let head = convert(encode(fr), &Config::default()).unwrap();
        assert_eq!(head.request.method().as_str(), "FROBNICATE");
    }

    #[test]
    fn unknown_attribute_is_403() {
        let mut fr = base();
        fr.attributes.push(Attribute::ReqAttribute {
            name: "javax.servlet.include.request_uri",
            value: "/WEB-INF/web.xml",
        });
        let r = convert(encode(fr.clone()), &Config::default()).unwrap_err();
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let mut config = Config::default();
        config.allow.add_prefix("javax.servlet.include.");
        assert!(convert(encode(fr), &config).is_ok());
    }

    #[test]
    fn secret_required_when_configured() {
        let config = Config {
            secret: Some(b"s3cret"[..].into()),
            ..Config::default()
        };
        let r = convert(encode(base()), &config).unwrap_err();
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let mut fr = base();
        fr.attributes.push(Attribute::Secret("wrong!"));
        assert_eq!(
            convert(encode(fr), &config).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let mut fr = base();
        fr.attributes.insert(0, Attribute::Secret("s3cret"));
        assert!(convert(encode(fr), &config).is_ok());
    }

    #[test]
    fn bad_heads_are_400() {
        let mut fr = base();
        fr.headers.push(("Content-Length", "5"));
        assert_eq!(
            convert(encode(fr), &Config::default()).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let mut fr = base();
        fr.headers[3].1 = "5x";
        assert!(convert(encode(fr), &Config::default()).is_err());
        let mut fr = base();
        fr.req_uri = "no-slash";
        assert!(convert(encode(fr), &Config::default()).is_err());
        let config = Config {
            max_headers: 3,
            ..Config::default()
        };
        assert!(convert(encode(base()), &config).is_err());
    }
}
