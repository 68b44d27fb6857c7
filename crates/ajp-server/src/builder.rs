//! Configuration: a reusable `&mut self` builder, like hyper's connection builders.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ajp_codec::PacketSize;

use crate::allow::AllowList;

/// Configures and starts the container side of AJP13.
///
/// Configure once, then serve one connection ([`serve_connection`](Self::serve_connection))
/// or a whole listener ([`serve`](Self::serve)) as often as needed.
///
/// ```
/// use ajp_codec::PacketSize;
///
/// let mut builder = ajp_server::Builder::new();
/// builder
///     .packet_size(PacketSize::new(65536).unwrap())
///     .secret("s3cret")
///     .allow_attribute_prefix("Shib-");
/// ```
#[derive(Clone)]
pub struct Builder {
    pub(crate) config: Config,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) packet_size: PacketSize,
    pub(crate) max_headers: usize,
    pub(crate) secret: Option<Arc<[u8]>>,
    pub(crate) allow: AllowList,
    /// `None`: [`READ_AHEAD_BYTES`] worth of packets.
    pub(crate) read_ahead: Option<usize>,
    pub(crate) idle_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            packet_size: PacketSize::DEFAULT,
            max_headers: 100,
            secret: None,
            allow: AllowList::default(),
            read_ahead: None,
            idle_timeout: None,
        }
    }
}

/// How much request body the default read-ahead keeps coming. An upload's pipe must hold
/// what the app consumes while the proxy is woken and answers: on a loopback where an idle
/// CPU halts, that round trip was measured at 100–250 µs. 4 packets of 8 KiB left an app
/// that hashes waiting after every burst; 16 (128 KiB) kept it busy. Once the window was
/// topped up in half-window batches and the app only counted bytes, 32 (256 KiB) moved a
/// 512 MiB upload through the gateway in 0.62–0.70 s instead of 0.79–0.99 s (httpd:
/// 0.87–0.92 instead of 0.93–1.06 s; A/B, 3 rounds × 2). Across a network the round trip
/// is longer still, and this is its bandwidth-delay product at ~1 GB/s and 250 µs.
pub(crate) const READ_AHEAD_BYTES: usize = 256 * 1024;

impl Config {
    /// How many request body packets to keep coming.
    pub(crate) fn read_ahead_packets(&self) -> usize {
        self.read_ahead
            .unwrap_or(READ_AHEAD_BYTES / self.packet_size.max_request_body())
            .max(1)
    }
}

impl Builder {
    /// A builder with the defaults: packet size 8192, at most 100 request headers, no
    /// secret, request bodies read 256 KiB ahead, only Tomcat's always-accepted attribute
    /// names ([`ALWAYS_ALLOWED`](crate::ALWAYS_ALLOWED)).
    pub fn new() -> Self {
        Self {
            config: Config::default(),
        }
    }

    /// The AJP packet size, which must equal the proxy's (`ProxyIOBufferSize` for
    /// mod_proxy_ajp, `max_packet_size` for mod_jk). It bounds every packet we accept and
    /// sizes what we send: GET_BODY_CHUNK asks for up to P − 6 bytes and SEND_BODY_CHUNK
    /// carries up to P − 8. Default: 8192.
    pub fn packet_size(&mut self, size: PacketSize) -> &mut Self {
        self.config.packet_size = size;
        self
    }

    /// How many request body packets to keep coming once the app reads its body: asked
    /// for with GET_BODY_CHUNK, or received and not yet taken. Tomcat asks for one at a time,
    /// so every 8 KiB costs a round trip to the proxy; a few in flight hide that latency.
    /// Only full packets are pipelined (the last, shorter one and bodies without
    /// Content-Length are asked for one at a time), so no proxy is ever asked for more than
    /// the body holds. Asks go out in batches: once at most half of the window is still
    /// coming, it is filled again. Memory: at most this many packets per connection. `1` is
    /// Tomcat's behaviour; `0` counts as `1`. Default: as many packets as hold 256 KiB of
    /// body (32 at the default packet size, 4 at 65536), enough to keep an app that counts
    /// or hashes at memory speed busy across a loopback round trip.
    pub fn read_ahead(&mut self, packets: usize) -> &mut Self {
        self.config.read_ahead = Some(packets.max(1));
        self
    }

    /// Closes a connection that carries no message (request or CPING) for this long
    /// between requests: Tomcat's `keepAliveTimeout`. It also bounds how long a request
    /// head may take to arrive once begun. A proxy sees an idle pooled connection closed,
    /// which every proxy handles (httpd and mod_jk check before reuse; `ajp-service`
    /// retries idempotent requests). Keep it above the proxy's own idle limit (mod_jk
    /// `connection_pool_timeout`, httpd `ttl`) so that the proxy closes first. `None`, the
    /// default, waits forever, as Tomcat's AJP connector does.
    pub fn idle_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// The most request headers a Forward Request may carry; more is answered with 400
    /// and the connection is closed (Tomcat's `maxHeaderCount`). Their total size is
    /// bounded by the packet size. Default: 100.
    pub fn max_headers(&mut self, max: usize) -> &mut Self {
        self.config.max_headers = max;
        self
    }

    /// Requires every request to carry this secret (httpd `secret=`, mod_jk `secret`).
    /// A request without it, or with another one, is answered with 403 and the
    /// connection is closed. The comparison takes constant time. An empty secret means
    /// none. Default: none (Tomcat instead refuses to start without one unless told
    /// `secretRequired="false"`): without a secret every peer that can connect is trusted.
    pub fn secret(&mut self, secret: impl AsRef<[u8]>) -> &mut Self {
        let s = secret.as_ref();
        self.config.secret = (!s.is_empty()).then(|| Arc::from(s));
        self
    }

    /// Accepts `req_attribute`s with exactly this name, in addition to
    /// [`ALWAYS_ALLOWED`](crate::ALWAYS_ALLOWED). Any other name is answered with 403 and
    /// the connection is closed, as Tomcat does since Ghostcat.
    pub fn allow_attribute(&mut self, name: &str) -> &mut Self {
        self.config.allow.add_exact(name);
        self
    }

    /// Accepts `req_attribute`s whose name starts with `prefix` (Tomcat's
    /// `allowedRequestAttributesPattern`, without regexes).
    pub fn allow_attribute_prefix(&mut self, prefix: &str) -> &mut Self {
        self.config.allow.add_prefix(prefix);
        self
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("packet_size", &self.config.packet_size.get())
            .field("max_headers", &self.config.max_headers)
            .field("secret", &self.config.secret.as_ref().map(|_| "<redacted>"))
            .field("allow", &self.config.allow)
            .field("read_ahead", &self.config.read_ahead_packets())
            .field("idle_timeout", &self.config.idle_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_read_ahead_holds_256_kib_of_body() {
        let mut b = Builder::new();
        assert_eq!(b.config.read_ahead_packets(), 32);
        b.packet_size(PacketSize::new(65536).unwrap());
        assert_eq!(b.config.read_ahead_packets(), 4);
        b.packet_size(PacketSize::new(16384).unwrap());
        assert_eq!(b.config.read_ahead_packets(), 16);
        b.read_ahead(0);
        assert_eq!(b.config.read_ahead_packets(), 1, "0 counts as 1");
        b.read_ahead(5);
        assert_eq!(b.config.read_ahead_packets(), 5);
    }
}
