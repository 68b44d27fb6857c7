//! Real-peer test infrastructure: a shared private Tomcat 10 ([`tomcat`]), private
//! Apache httpd 2.4 instances ([`httpd`]), the test webapp's output parsers
//! ([`webapp`]) and small networking helpers.
//!
//! Include it from an integration test with `mod support;`. Everything binds to
//! 127.0.0.1 only, every wait is bounded, and the peers never outlive the test
//! binary (see [`proc`]). Missing packages are a panic telling to run
//! `scripts/install-peers.sh`, never a skip.
#![allow(dead_code, unreachable_pub)]

pub mod gateway;
pub mod httpd;
pub mod proc;
pub mod tomcat;
pub mod webapp;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Message of every panic caused by a missing peer package.
pub const INSTALL_HINT: &str = "run scripts/install-peers.sh (as root) to install the real peers";

/// A currently free TCP port on 127.0.0.1 (bound to port 0 then released; the
/// caller must still handle the rare race where something else takes it).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct currently free TCP ports on 127.0.0.1 (all held at once while
/// choosing, so they differ from each other).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to pick a free port: {e}"))
        })
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .expect("local_addr of a bound listener")
                .port()
        })
        .collect()
}

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Whether 127.0.0.1:`port` accepts a TCP connection right now (200 ms bound).
pub fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&local(port), Duration::from_millis(200)).is_ok()
}

/// Polls (every 20 ms) until 127.0.0.1:`port` accepts a TCP connection; false on
/// timeout. Blocking: fine at the start of a `#[tokio::test]`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if port_accepts(port) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Number of ESTABLISHED TCP connections whose *local* port is `port`, read from
/// /proc/net/tcp and /proc/net/tcp6: for a server's listening port this is the
/// number of connections the server holds (accepted or in its backlog). This is
/// how tests prove keep-alive reuse. System-wide (network namespace), so other
/// tests using the same server port at the same time are counted too.
pub fn established_connections(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|table| count_established(&table, port))
        .sum()
}

/// [`established_connections`] over the text of one /proc/net/tcp{,6} table.
pub fn count_established(table: &str, port: u16) -> usize {
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let mut f = line.split_whitespace();
            let (Some(_sl), Some(local), Some(_remote), Some(state)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return false;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            state == "01" && local_port == Some(port)
        })
        .count()
}

/// Blocking one-shot `GET path` over HTTP/1.1 with `Connection: close` to
/// 127.0.0.1:`port`: returns (status, raw response bytes), or None on any I/O
/// error or timeout. Used for readiness probes; tests should use hyper.
pub fn probe_get(port: u16, path: &str, timeout: Duration) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&local(port), timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head = std::str::from_utf8(buf.get(..12)?).ok()?;
    let status = head.strip_prefix("HTTP/1.1 ")?.parse().ok()?;
    Some((status, buf))
}

/// The last `n` lines of the file at `path` (or a note that it cannot be read).
pub fn tail(path: &std::path::Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// The path of a built example binary (`cargo test` builds the examples before the
/// integration tests; when running one test file alone, `cargo build --examples` first).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "example {name} is not built at {}: run `cargo build --examples` (cargo test does it)",
        path.display()
    );
    path
}
