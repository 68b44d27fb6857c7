//! Parsers and helpers for the output of the test webapp (tests/webapp).
//!
//! Endpoints (every servlet answers every method; HEAD gives headers only):
//!
//! | path | answer |
//! |---|---|
//! | `/echo`, `/echo/*` | request description, see [`Echo`] |
//! | `/download?bytes=N[&chunked=1]` | N bytes, byte i = `b'a' + i % 26` ([`download_byte`]), `application/octet-stream`, Content-Length unless `chunked=1` |
//! | `/status?code=N`, `/status/N` | status N; no body for 204/304, else `status N\n`; with `&body=1` a body is written anyway (the container must swallow it for 204/304) |
//! | `/cookies?n=N` | N `Set-Cookie: cI=vI` (I = 1..N), body `cookies N\n` |
//! | `/headers?count=N[&len=L]` | `X-Test-I: value-I` (I = 1..N, value padded with `x` to L chars), then `X-Repeat: a`, `X-Repeat: b`; body `headers N\n` |
//! | `/slow?n=N&ms=M` | N lines `line I\n` (I = 0..N-1), `flushBuffer()` after each, M ms apart; no Content-Length |
//! | `/sleep?ms=M` | sleeps M ms, then `slept M\n` |
//! | `/hello` | `Hello, AJP!\n` (12 bytes), `Content-Type: text/plain` exactly |
//! | `/session` | creates/gets the HttpSession: `session=ID\nnew=true\|false\n` (ID ends in `.tc1`) |
//! | `/noheaders` | sets and writes nothing |
//! | `/badheader` | `X-Good: ok`, `X-Bad: €` (not Latin-1: Tomcat drops it), `X-Also-Good: yes`; body `badheader\n` |
//! | `/redirect[?to=PATH]` | 302 via `sendRedirect` (default `/hello`) |
//! | `/throw` | the servlet throws: Tomcat's own 500 page |
//! | anything else | Tomcat's DefaultServlet: 404 |
//!
//! Text bodies are ASCII `key=value` lines; values escape `\` as `\\` and every
//! char outside 0x20..=0x7e as `\u{HEX}` ([`unescape`]).

/// Content of `/hello`.
pub const HELLO: &[u8] = b"Hello, AJP!\n";

/// Byte `i` of every `/download` body.
pub fn download_byte(i: u64) -> u8 {
    b'a' + (i % 26) as u8
}

/// The first `n` bytes of a `/download` body (for small sizes).
pub fn download_body(n: usize) -> Vec<u8> {
    (0..n as u64).map(download_byte).collect()
}

/// Index (counted from `offset`, the position of `chunk[0]` in the whole body)
/// of the first byte of `chunk` that does not follow the `/download` pattern.
pub fn download_mismatch(chunk: &[u8], offset: u64) -> Option<u64> {
    chunk
        .iter()
        .zip(offset..)
        .find(|&(&b, i)| b != download_byte(i))
        .map(|(_, i)| i)
}

/// Undoes the webapp's escaping: `\\` → `\`, `\u{HEX}` → that char. Anything
/// malformed is kept as is.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("\\\\") {
            out.push('\\');
            rest = r;
        } else if let Some(c) = rest
            .strip_prefix("\\u{")
            .and_then(|r| r.split_once('}'))
            .and_then(|(hex, r)| Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, r)))
        {
            out.push(c.0);
            rest = c.1;
        } else {
            out.push('\\');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Parsed `/echo` output: the request as the servlet saw it.
///
/// Raw format (text/plain, one `key=value` line each, values escaped; a line
/// whose Java value is null is absent), in this order: `method`, `uri`
/// (getRequestURI), `query`, `protocol`, `scheme`, `secure` (`true`/`false`),
/// `server_name`, `server_port`, `local_addr`, `local_port`, `local_name`,
/// `remote_addr`, `remote_port`, `remote_host`, `remote_user`, `auth_type`,
/// `context_path`, `servlet_path`, `path_info`, `content_type`,
/// `content_length` (-1 if unknown), `requested_session_id`; then
/// `header=NAME: VALUE` for every value (names in getHeaderNames order, the
/// values of a name in order; the servlet API loses the interleaving of
/// different names), `cookie=NAME=VALUE`, `attr=NAME=VALUE` (getAttributeNames
/// plus the TLS/AJP names `jakarta.servlet.request.{cipher_suite,key_size,
/// ssl_session_id,secure_protocol,X509Certificate}`,
/// `org.apache.tomcat.util.net.secure_protocol_version`, `AJP_*`,
/// `JK_LB_ACTIVATION`, and every `?attr=NAME` of the query, when not null;
/// certificates print as `x509[COUNT]:SUBJECT`), then `body_len`,
/// `body_sha256` (hex) and `body_head` (first ≤ 1024 body bytes as Latin-1).
///
/// Tomcat facts to keep in mind: `getAttributeNames()` does NOT list the
/// attributes an AJP proxy sends as `req_attribute` (0x0A), so ask for them by
/// name with `?attr=NAME` (e.g. `/echo?attr=MYATTR`; or with query attribute
/// 0x05 `attr=MYATTR`); `AJP_REMOTE_PORT` / `AJP_LOCAL_ADDR` are consumed
/// (they show as `remote_port` / `local_addr`); the connectors have
/// `enableLookups="false"`, so `remote_host` is always `remote_addr` (the AJP
/// remote_host field is not observable); TLS fields show as
/// `jakarta.servlet.request.cipher_suite`, `...key_size`, `...ssl_session_id`
/// and `org.apache.tomcat.util.net.secure_protocol_version` (from
/// `AJP_SSL_PROTOCOL`); a request without Content-Length makes Tomcat ask for a
/// body with GET_BODY_CHUNK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// Every line as (key, unescaped value), in order (for header/cookie/attr
    /// lines the value is still `NAME: VALUE` / `NAME=VALUE`, unescaped).
    pub lines: Vec<(String, String)>,
}

impl Echo {
    /// Parses an `/echo` body. Panics on a line without `=` (not echo output).
    pub fn parse(body: &[u8]) -> Echo {
        let text = std::str::from_utf8(body)
            .unwrap_or_else(|e| panic!("/echo output is not UTF-8 ({e}): {body:?}"));
        let lines = text
            .lines()
            .map(|line| {
                let (k, v) = line.split_once('=').unwrap_or_else(|| {
                    panic!("not /echo output (line {line:?} has no '='):\n{text}")
                });
                (k.to_owned(), v.to_owned())
            })
            .collect::<Vec<_>>();
        // Unescape after splitting so escaped ': ' / '=' cannot confuse us.
        let lines = lines
            .into_iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "header" => split_unescape(&v, ": "),
                    "cookie" | "attr" => split_unescape(&v, "="),
                    _ => unescape(&v),
                };
                (k, v)
            })
            .collect();
        Echo { lines }
    }

    /// First value of `key` (e.g. `"method"`, `"remote_port"`), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Value of `key`; panics with the whole output if absent.
    pub fn req(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("/echo output has no {key:?} line: {self:#?}"))
    }

    /// `method`.
    pub fn method(&self) -> &str {
        self.req("method")
    }

    /// `uri` (getRequestURI: path without the query).
    pub fn uri(&self) -> &str {
        self.req("uri")
    }

    /// `query` (None when getQueryString() is null).
    pub fn query(&self) -> Option<&str> {
        self.get("query")
    }

    /// Every request header as (name, value), in servlet order.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        self.pairs("header", ": ")
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers()
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every cookie as (name, value).
    pub fn cookies(&self) -> Vec<(&str, &str)> {
        self.pairs("cookie", "=")
    }

    /// Every printed request attribute as (name, value).
    pub fn attrs(&self) -> Vec<(&str, &str)> {
        self.pairs("attr", "=")
    }

    /// Value of request attribute `name` (exact name).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Number of body bytes the servlet read.
    pub fn body_len(&self) -> u64 {
        self.req("body_len")
            .parse()
            .unwrap_or_else(|e| panic!("bad body_len: {e}"))
    }

    /// Lower-case hex SHA-256 of the body bytes the servlet read.
    pub fn body_sha256(&self) -> &str {
        self.req("body_sha256")
    }

    /// The first (up to 1024) body bytes, each as the Latin-1 char.
    pub fn body_head(&self) -> &str {
        self.req("body_head")
    }

    fn pairs(&self, key: &str, sep: &str) -> Vec<(&str, &str)> {
        self.lines
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.split_once(sep).unwrap_or((v.as_str(), "")))
            .collect()
    }
}

fn split_unescape(v: &str, sep: &str) -> String {
    match v.split_once(sep) {
        Some((a, b)) => format!("{}{sep}{}", unescape(a), unescape(b)),
        None => unescape(v),
    }
}
