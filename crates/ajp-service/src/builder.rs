//! Configuration of an [`AjpService`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ajp_codec::PacketSize;

use crate::backend::Backend;
use crate::info::ClientInfo;
use crate::pool::{CpingMode, Pool, PoolConfig};
use crate::service::AjpService;
use crate::stats::Stats;

type ClientInfoFn = Arc<dyn Fn(&http::Extensions) -> Option<ClientInfo> + Send + Sync>;

/// Settings the request path reads.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) packet_size: PacketSize,
    pub(crate) secret: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) strip_forwarded: bool,
    pub(crate) server_name: Option<String>,
    pub(crate) reply_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) client_info: Option<ClientInfoFn>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("packet_size", &self.packet_size)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("attributes", &self.attributes)
            .field("strip_forwarded", &self.strip_forwarded)
            .field("server_name", &self.server_name)
            .field("reply_timeout", &self.reply_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("client_info", &self.client_info.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

#[cfg(test)]
impl Config {
    pub(crate) fn for_tests() -> Self {
        let mut b = Builder::new(Backend::tcp("127.0.0.1", 8009));
        b.secret("test-secret")
            .attribute("static.attr", "from-config");
        b.config
    }
}

/// Builds an [`AjpService`]. Setters take `&mut self`, so one builder can make several
/// services; each setter documents its default.
///
/// ```
/// use std::time::Duration;
/// use ajp_service::{AjpService, CpingMode};
///
/// let svc = AjpService::builder("ajp://127.0.0.1:8009".parse().unwrap())
///     .secret("s3cret")
///     .max_connections(64)
///     .idle_timeout(Duration::from_secs(20))
///     .cping(CpingMode::BeforeRequest)
///     .build();
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    backend: Backend,
    config: Config,
    pool: PoolConfig,
}

impl Builder {
    /// A builder for a service proxying to `backend`, with the defaults below.
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            config: Config {
                packet_size: PacketSize::DEFAULT,
                secret: None,
                attributes: Vec::new(),
                strip_forwarded: true,
                server_name: None,
                reply_timeout: Duration::from_secs(60),
                body_timeout: Duration::from_secs(60),
                client_info: None,
            },
            pool: PoolConfig {
                max_connections: 128,
                max_idle: 128,
                idle_timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(5),
                acquire_timeout: Duration::from_secs(10),
                cping: CpingMode::IdleLongerThan(Duration::from_secs(10)),
                cping_timeout: Duration::from_secs(5),
            },
        }
    }

    /// The AJP packet size; must equal the container's (`packetSize` in Tomcat).
    /// Default 8192.
    pub fn packet_size(&mut self, size: PacketSize) -> &mut Self {
        self.config.packet_size = size;
        self
    }

    /// The shared secret sent with every request (Tomcat's connector `secret`).
    /// Default: none. It never appears in logs or `Debug` output.
    pub fn secret(&mut self, secret: impl Into<String>) -> &mut Self {
        let s = secret.into();
        // Tomcat treats an empty secret as none.
        self.config.secret = (!s.is_empty()).then_some(s);
        self
    }

    /// Adds a request attribute sent with every request (AJP `req_attribute`). Names come
    /// only from here, never from request data. Tomcat refuses (403) names outside its
    /// connector's `allowedRequestAttributesPattern`. Default: none.
    pub fn attribute(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.config.attributes.push((name.into(), value.into()));
        self
    }

    /// Whether client-sent `Forwarded` and `X-Forwarded-*` headers are removed, so a
    /// client cannot pose as an earlier proxy. Default: true.
    pub fn strip_forwarded_headers(&mut self, strip: bool) -> &mut Self {
        self.config.strip_forwarded = strip;
        self
    }

    /// The server name sent to the container. Default: the request's Host.
    pub fn server_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.config.server_name = Some(name.into());
        self
    }

    /// How to find the [`ClientInfo`] of a request in its extensions, for servers that
    /// store connection facts in their own type (e.g. axum's `ConnectInfo`). Default: the
    /// `ClientInfo` extension itself.
    pub fn client_info(
        &mut self,
        f: impl Fn(&http::Extensions) -> Option<ClientInfo> + Send + Sync + 'static,
    ) -> &mut Self {
        self.config.client_info = Some(Arc::new(f));
        self
    }

    /// The longest wait for the next packet from the container once a request was sent
    /// (mod_jk `reply_timeout`, httpd `ProxyTimeout`); exceeding it is a 504 before the
    /// response head, an aborted body after. Default: 60 s.
    pub fn reply_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.reply_timeout = timeout;
        self
    }

    /// The longest the container is kept waiting on the client for the next bytes of its
    /// request body (httpd's `Timeout`, nginx's `client_body_timeout`). A slow or stalled
    /// upload otherwise holds a backend connection and a container thread for as long as
    /// the client likes. Exceeding it closes the backend connection (the container is
    /// mid-request) and fails the exchange: `408 Request Timeout` before the response head
    /// ([`Error::is_body_timeout`](crate::Error::is_body_timeout)), an aborted body after.
    /// `Duration::MAX` means none. Default: 60 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ajp_service::AjpService;
    ///
    /// let svc = AjpService::builder("ajp://127.0.0.1:8009".parse().unwrap())
    ///     .body_timeout(Duration::from_secs(20))
    ///     .build();
    /// ```
    pub fn body_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.body_timeout = timeout;
        self
    }

    /// The most backend connections in use at once; further requests wait for one (see
    /// [`acquire_timeout`](Self::acquire_timeout)). Keep it at or below the container's
    /// thread count. Default: 128.
    pub fn max_connections(&mut self, n: usize) -> &mut Self {
        self.pool.max_connections = n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// The most idle connections kept open. Default: 128.
    pub fn max_idle(&mut self, n: usize) -> &mut Self {
        self.pool.max_idle = n;
        self
    }

    /// How long an idle connection is kept; keep it below the container's
    /// `keepAliveTimeout` so the container never closes a connection we are about to use.
    /// Default: 30 s.
    pub fn idle_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.pool.idle_timeout = timeout;
        self
    }

    /// The longest wait for a TCP/Unix connect. Default: 5 s.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.pool.connect_timeout = timeout;
        self
    }

    /// The longest wait for a free connection when `max_connections` are in use; then the
    /// request fails with 503. Default: 10 s.
    pub fn acquire_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.pool.acquire_timeout = timeout;
        self
    }

    /// When to probe connections with CPING/CPONG. Default: before reusing a connection
    /// idle longer than 10 s.
    pub fn cping(&mut self, mode: CpingMode) -> &mut Self {
        self.pool.cping = mode;
        self
    }

    /// The longest wait for a CPONG. Default: 5 s.
    pub fn cping_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.pool.cping_timeout = timeout;
        self
    }

    /// Builds the service. Nothing connects until the first request.
    pub fn build(&self) -> AjpService {
        let stats = Arc::new(Stats::default());
        let pool = Pool::new(
            self.backend.clone(),
            self.config.packet_size,
            self.pool.clone(),
            stats.clone(),
        );
        AjpService::from_parts(self.config.clone(), pool, stats)
    }
}
