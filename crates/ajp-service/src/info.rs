//! Facts about the client connection that only the server knows, handed to the service as
//! request extensions. AJP forwards them to the container, which trusts them, so they are
//! never taken from request headers.

use std::net::SocketAddr;

/// The client connection a request came in on: put it in the request's extensions (the
/// server's accept loop knows it), or tell the builder how to find it with
/// [`Builder::client_info`](crate::Builder::client_info).
///
/// It becomes the Forward Request's `remote_addr`, the `AJP_REMOTE_PORT` and
/// `AJP_LOCAL_ADDR` attributes, `server_port`, `is_ssl` and the TLS attributes.
///
/// ```
/// use ajp_service::{ClientInfo, TlsInfo};
///
/// let info = ClientInfo::new("203.0.113.9:50000".parse().unwrap())
///     .with_local("192.0.2.1:443".parse().unwrap())
///     .with_tls(TlsInfo::new().with_protocol("TLSv1.3").with_cipher("TLS_AES_128_GCM_SHA256"));
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(info);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub(crate) remote: SocketAddr,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) tls: Option<TlsInfo>,
}

impl ClientInfo {
    /// A plain-text connection from `remote`.
    pub fn new(remote: SocketAddr) -> Self {
        Self {
            remote,
            local: None,
            tls: None,
        }
    }

    /// The local address the client connected to (becomes `AJP_LOCAL_ADDR` and
    /// `server_port`).
    pub fn with_local(mut self, local: SocketAddr) -> Self {
        self.local = Some(local);
        self
    }

    /// The connection is TLS (sets `is_ssl` and the TLS attributes).
    pub fn with_tls(mut self, tls: TlsInfo) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The client's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The local address, if known.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// TLS facts, if the connection is TLS.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }
}

/// What the server's TLS layer knows about a TLS connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    pub(crate) protocol: Option<String>,
    pub(crate) cipher: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) key_size: Option<u16>,
    pub(crate) client_cert_pem: Option<String>,
}

impl TlsInfo {
    /// TLS with nothing more known.
    pub fn new() -> Self {
        Self::default()
    }

    /// The protocol version, e.g. `TLSv1.3` (attribute `AJP_SSL_PROTOCOL`).
    pub fn with_protocol(mut self, v: impl Into<String>) -> Self {
        self.protocol = Some(v.into());
        self
    }

    /// The cipher suite (attribute `0x08`).
    pub fn with_cipher(mut self, v: impl Into<String>) -> Self {
        self.cipher = Some(v.into());
        self
    }

    /// The session id (attribute `0x09`).
    pub fn with_session_id(mut self, v: impl Into<String>) -> Self {
        self.session_id = Some(v.into());
        self
    }

    /// The key size in bits (attribute `0x0B`).
    pub fn with_key_size(mut self, bits: u16) -> Self {
        self.key_size = Some(bits);
        self
    }

    /// The client certificate in PEM (attribute `0x07`).
    pub fn with_client_cert_pem(mut self, v: impl Into<String>) -> Self {
        self.client_cert_pem = Some(v.into());
        self
    }
}

/// A user the server (not the client) authenticated; forwarded as AJP `remote_user` and
/// `auth_type`. Put it in the request's extensions from your authentication layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedUser {
    pub(crate) user: String,
    pub(crate) auth_type: Option<String>,
}

impl AuthenticatedUser {
    /// A user name, and how it was authenticated (e.g. `Basic`).
    pub fn new(user: impl Into<String>, auth_type: Option<String>) -> Self {
        Self {
            user: user.into(),
            auth_type,
        }
    }
}
