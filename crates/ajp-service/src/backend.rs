//! Where the container is, and how to connect to it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// The address of an AJP container: `ajp://host:port` (TCP) or `unix:/path/to.sock`.
///
/// ```
/// use ajp_service::Backend;
///
/// let tomcat: Backend = "ajp://127.0.0.1:8009".parse().unwrap();
/// assert_eq!(tomcat.to_string(), "ajp://127.0.0.1:8009");
/// let local: Backend = "unix:/run/tomcat/ajp.sock".parse().unwrap();
/// assert!("http://127.0.0.1:8009".parse::<Backend>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A TCP backend: host name or IP literal, and port.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket backend.
    Unix(PathBuf),
}

impl Backend {
    /// A TCP backend.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Self::Tcp {
            host: host.into(),
            port,
        }
    }

    pub(crate) async fn connect(&self) -> io::Result<Stream> {
        match self {
            Self::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port)).await?;
                // One AJP packet per write: Nagle would only add latency.
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Self::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "ajp://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "ajp://{host}:{port}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A backend URL that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidBackend(String);

impl fmt::Display for InvalidBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid AJP backend {:?}: expected ajp://HOST:PORT or unix:/PATH",
            self.0
        )
    }
}

impl std::error::Error for InvalidBackend {}

impl FromStr for Backend {
    type Err = InvalidBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidBackend(s.to_owned());
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(err());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let rest = s.strip_prefix("ajp://").ok_or_else(err)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, port) = v6.split_once("]:").ok_or_else(err)?;
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(err)?
        };
        if host.is_empty() || host.contains(['/', '?', '#', '@']) {
            return Err(err());
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(err)?;
        Ok(Self::tcp(host, port))
    }
}

/// A connection to a backend: TCP or Unix.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Whether the peer has closed or sent unsolicited bytes while the connection sat idle.
    /// An idle AJP connection must be silent; anything readable means it is unusable.
    pub(crate) fn is_dead_while_idle(&self) -> bool {
        let mut probe = [0u8; 1];
        let r = match self {
            Self::Tcp(s) => s.try_read(&mut probe),
            Self::Unix(s) => s.try_read(&mut probe),
        };
        !matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_urls() {
        assert_eq!(
            "ajp://tomcat:8009".parse::<Backend>().unwrap(),
            Backend::tcp("tomcat", 8009)
        );
        assert_eq!(
            "ajp://[::1]:8009/".parse::<Backend>().unwrap(),
            Backend::tcp("::1", 8009)
        );
        assert_eq!(Backend::tcp("::1", 8009).to_string(), "ajp://[::1]:8009");
        assert_eq!(
            "unix:/run/ajp.sock".parse::<Backend>().unwrap(),
            Backend::Unix("/run/ajp.sock".into())
        );
        for bad in [
            "",
            "ajp://",
            "ajp://host",
            "ajp://host:0",
            "ajp://host:99999",
            "ajp://:8009",
            "http://host:8009",
            "ajp://u@host:8009",
            "unix:relative.sock",
        ] {
            assert!(bad.parse::<Backend>().is_err(), "{bad}");
        }
    }
}
