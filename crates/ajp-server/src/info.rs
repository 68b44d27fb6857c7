//! The proxy's facts about a request, as typed request extensions.

use std::net::IpAddr;

use bytes::Bytes;

/// What the proxy told us about the client and the connection, taken from the Forward
/// Request's fields and attributes. Inserted into every request's extensions.
///
/// The container trusts these facts as the proxy states them; that is why attribute names
/// are allow-listed and the secret exists. Byte strings that are not UTF-8 are kept as
/// bytes ([`Bytes`]).
///
/// ```
/// use ajp_server::ProxyInfo;
///
/// fn client(req: &http::Request<ajp_server::Body>) -> String {
///     match req.extensions().get::<ProxyInfo>() {
///         Some(info) => format!("{}:{:?} tls={}", info.remote_addr_str(), info.remote_port(), info.is_ssl()),
///         None => "not over AJP".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProxyInfo {
    pub(crate) remote_addr: Bytes,
    pub(crate) remote_host: Option<Bytes>,
    pub(crate) remote_port: Option<u16>,
    pub(crate) local_addr: Option<Bytes>,
    pub(crate) server_name: Bytes,
    pub(crate) server_port: u16,
    pub(crate) is_ssl: bool,
    pub(crate) tls: TlsInfo,
    pub(crate) remote_user: Option<Bytes>,
    pub(crate) auth_type: Option<Bytes>,
    pub(crate) route: Option<Bytes>,
    pub(crate) attributes: Vec<(Bytes, Bytes)>,
}

/// TLS facts about the client connection, as the proxy forwarded them (all absent for
/// plain HTTP). See [`ProxyInfo::tls`].
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    pub(crate) protocol: Option<Bytes>,
    pub(crate) cipher: Option<Bytes>,
    pub(crate) session: Option<Bytes>,
    pub(crate) key_size: Option<u16>,
    pub(crate) cert: Option<Bytes>,
}

fn text(b: &Bytes) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

impl ProxyInfo {
    /// The client's address as the proxy wrote it (`remote_addr`), raw bytes.
    pub fn remote_addr_bytes(&self) -> &Bytes {
        &self.remote_addr
    }

    /// The client's address as text (empty if not UTF-8).
    pub fn remote_addr_str(&self) -> &str {
        text(&self.remote_addr)
    }

    /// The client's IP address, if `remote_addr` parses as one.
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.remote_addr_str().parse().ok()
    }

    /// The client's host name (`remote_host`), when the proxy resolved it.
    pub fn remote_host(&self) -> Option<&Bytes> {
        self.remote_host.as_ref()
    }

    /// The client's port, from the `AJP_REMOTE_PORT` attribute (ignored if not a number,
    /// as Tomcat does).
    pub fn remote_port(&self) -> Option<u16> {
        self.remote_port
    }

    /// The proxy's local address the client connected to (`AJP_LOCAL_ADDR`).
    pub fn local_addr(&self) -> Option<&Bytes> {
        self.local_addr.as_ref()
    }

    /// The server (virtual host) name the proxy sent (`server_name`).
    pub fn server_name(&self) -> &str {
        text(&self.server_name)
    }

    /// The port the client connected to on the proxy (`server_port`).
    pub fn server_port(&self) -> u16 {
        self.server_port
    }

    /// Whether the client spoke TLS to the proxy (`is_ssl`): the request's scheme is https.
    pub fn is_ssl(&self) -> bool {
        self.is_ssl
    }

    /// TLS facts (cipher, session, key size, client certificate, protocol).
    pub fn tls(&self) -> &TlsInfo {
        &self.tls
    }

    /// The user the proxy authenticated (`remote_user`, 0x03).
    pub fn remote_user(&self) -> Option<&Bytes> {
        self.remote_user.as_ref()
    }

    /// How the proxy authenticated the user (`auth_type`, 0x04).
    pub fn auth_type(&self) -> Option<&Bytes> {
        self.auth_type.as_ref()
    }

    /// The load balancer route (jvmRoute, 0x06); informational, as in Tomcat.
    pub fn route(&self) -> Option<&Bytes> {
        self.route.as_ref()
    }

    /// Every named attribute (0x0A) that passed the allow-list, in the order sent,
    /// including the ones also exposed above (`AJP_REMOTE_PORT`, …).
    pub fn attributes(&self) -> &[(Bytes, Bytes)] {
        &self.attributes
    }

    /// The value of the first named attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&Bytes> {
        self.attributes
            .iter()
            .find(|(n, _)| n.as_ref() == name.as_bytes())
            .map(|(_, v)| v)
    }
}

impl TlsInfo {
    /// The TLS protocol version (`AJP_SSL_PROTOCOL`), e.g. `TLSv1.3`.
    pub fn protocol(&self) -> Option<&Bytes> {
        self.protocol.as_ref()
    }

    /// The cipher suite (`ssl_cipher`, 0x08).
    pub fn cipher(&self) -> Option<&Bytes> {
        self.cipher.as_ref()
    }

    /// The TLS session id (`ssl_session`, 0x09).
    pub fn session(&self) -> Option<&Bytes> {
        self.session.as_ref()
    }

    /// The key size in bits (`ssl_key_size`, 0x0B).
    pub fn key_size(&self) -> Option<u16> {
        self.key_size
    }

    /// The client certificate, PEM (`ssl_cert`, 0x07).
    pub fn cert(&self) -> Option<&Bytes> {
        self.cert.as_ref()
    }
}
