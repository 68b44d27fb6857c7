//! The request the codec benchmarks measure, shared by `benches/codec.rs` and
//! `examples/round_trips.rs`.

use ajp_codec::{Attribute, ForwardRequest};

const COOKIE: &str = "JSESSIONID=8F3A1C2B9D4E5F60718293A4B5C6D7E8.node1; _ga=GA1.2.1234567890.1700000000; \
    _gid=GA1.2.987654321.1700000000; theme=dark; lang=en-GB; consent=analytics%3Dyes%26ads%3Dno; \
    csrftoken=Zq9wX3vB7nM2kL5pR8tY1uI4oE6aS0dF; recently_viewed=1234%2C5678%2C9012%2C3456";

const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/126.0.0.0 Safari/537.36";

/// What httpd sends for a browser navigating to a search page: 12 headers, a query, the
/// secret and the usual named attributes.
pub(crate) fn browser_request() -> ForwardRequest<&'static str> {
    ForwardRequest {
        method: http::Method::GET,
        protocol: "HTTP/1.1",
        req_uri: "/shop/search",
        remote_addr: "203.0.113.54",
        remote_host: None,
        server_name: "www.example.com",
        server_port: 443,
        is_ssl: true,
        headers: vec![
            ("Host", "www.example.com"),
            ("User-Agent", USER_AGENT),
            (
                "Accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
            ),
            ("Accept-Language", "en-GB,en;q=0.9"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Cookie", COOKIE),
            ("Referer", "https://www.example.com/shop/"),
            ("Connection", "keep-alive"),
            ("Upgrade-Insecure-Requests", "1"),
            ("Sec-Fetch-Dest", "document"),
            ("Sec-Fetch-Mode", "navigate"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        attributes: vec![
            Attribute::QueryString("q=red+shoes&size=42&sort=price_asc&page=2"),
            Attribute::Secret("0123456789abcdef0123456789abcdef"),
            Attribute::ReqAttribute {
                name: "AJP_REMOTE_PORT",
                value: "51234",
            },
            Attribute::ReqAttribute {
                name: "AJP_LOCAL_ADDR",
                value: "10.0.0.5",
            },
        ],
    }
}
