//! Golden vectors: bytes captured from real Tomcat 10, httpd mod_proxy_ajp and mod_jk
//! (see `fixtures/README.md`) decode to the expected messages, and the ones that are the
//! peer's canonical encoding re-encode byte for byte.

use ajp_codec::{
    Attribute, BodyChunk, ContainerCodec, ContainerMessage, ForwardRequest, PacketSize, ProxyCodec,
    ProxyMessage,
};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

const P: PacketSize = PacketSize::DEFAULT;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Splits a container → proxy stream into (raw packet, message).
fn container_stream(bytes: &[u8]) -> Vec<(Bytes, ContainerMessage)> {
    let mut codec = ProxyCodec::new(P);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        let before = buf.clone();
        match codec.decode_eof(&mut buf).expect("valid container stream") {
            Some(m) => {
                let used = before.len() - buf.len();
                out.push((before.freeze().slice(..used), m));
            }
            None => return out,
        }
    }
}

/// Splits a proxy → container stream into (raw packet, message). A body packet has no type
/// byte, so, as a container does, we decide from the request head: after a Forward Request
/// that may carry a body, packets are body packets until the empty one that ends it.
fn proxy_stream(bytes: &[u8]) -> Vec<(Bytes, ProxyMessage)> {
    let mut codec = ContainerCodec::new(P);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    let mut in_body = false;
    loop {
        if buf.is_empty() {
            return out;
        }
        // A body packet's payload is `len:u16 data[len]` (or empty).
        let payload_len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let looks_like_body = payload_len == 0
            || (payload_len >= 2
                && u16::from_be_bytes([buf[4], buf[5]]) as usize == payload_len - 2);
        if in_body && looks_like_body {
            codec.expect_body();
        }
        let before = buf.clone();
        let m = codec
            .decode(&mut buf)
            .expect("valid proxy stream")
            .expect("whole packets only");
        let used = before.len() - buf.len();
        // The plain form, whose encoding is compared with the peers'; the packet read in
        // place must hold the same request.
        if let ProxyMessage::ForwardRequest(head) = &m {
            assert_eq!(head, &head.to_forward_request());
        }
        let m: ProxyMessage = m.into();
        match &m {
            ProxyMessage::ForwardRequest(_) => in_body = true,
            ProxyMessage::Body(b) if b.data.is_empty() => in_body = false,
            _ => {}
        }
        out.push((before.freeze().slice(..used), m));
    }
}

fn reencode_proxy(m: &ProxyMessage) -> Bytes {
    let mut out = BytesMut::new();
    m.encode(&mut out, P).unwrap();
    out.freeze()
}

fn reencode_container(m: &ContainerMessage) -> Bytes {
    let mut out = BytesMut::new();
    m.encode(&mut out, P).unwrap();
    out.freeze()
}

fn forward_request(m: &ProxyMessage) -> &ForwardRequest {
    match m {
        ProxyMessage::ForwardRequest(f) => f,
        other => panic!("expected a Forward Request, got {other:?}"),
    }
}

fn header<'a>(f: &'a ForwardRequest, name: &str) -> Option<&'a str> {
    f.header(name).map(|v| std::str::from_utf8(v).unwrap())
}

fn req_attribute<'a>(f: &'a ForwardRequest, name: &str) -> Option<&'a [u8]> {
    f.attributes.iter().find_map(|a| match a {
        Attribute::ReqAttribute { name: n, value } if n == name => Some(&value[..]),
        _ => None,
    })
}

/// The response of one exchange: status, headers, body bytes, reuse flag, number of
/// GET_BODY_CHUNKs and of body chunks.
struct Response {
    status: u16,
    message: Option<Bytes>,
    headers: Vec<(Bytes, Bytes)>,
    body: Vec<u8>,
    chunks: usize,
    get_body_chunks: Vec<u16>,
    reuse: bool,
}

fn response(messages: &[(Bytes, ContainerMessage)]) -> Response {
    let mut r = Response {
        status: 0,
        message: None,
        headers: Vec::new(),
        body: Vec::new(),
        chunks: 0,
        get_body_chunks: Vec::new(),
        reuse: false,
    };
    let mut ended = false;
    for (_, m) in messages {
        assert!(!ended, "message after END_RESPONSE: {m:?}");
        match m {
            ContainerMessage::SendHeaders(h) => {
                assert_eq!(r.status, 0, "second SEND_HEADERS");
                r.status = h.status;
                r.message = h.message.clone();
                r.headers = h.headers.clone();
            }
            ContainerMessage::SendBodyChunk(c) => {
                assert_ne!(r.status, 0, "body before headers");
                r.chunks += 1;
                r.body.extend_from_slice(&c.data);
            }
            ContainerMessage::GetBodyChunk(g) => r.get_body_chunks.push(g.requested_len),
            ContainerMessage::EndResponse(e) => {
                r.reuse = e.reuse;
                ended = true;
            }
            ContainerMessage::CPong => {}
        }
    }
    assert!(ended, "no END_RESPONSE");
    r
}

fn response_header<'a>(r: &'a Response, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
        .collect()
}

const TOMCAT_CASES: [&str; 17] = [
    "01-get-hello",
    "02-cping-then-get-hello",
    "03-get-big-20000",
    "04-get-headers-3-setcookie",
    "05-get-session-jvmroute",
    "06-status-204",
    "07-status-304",
    "08-404",
    "09-post-echo-20000-get-body-chunk",
    "10-post-echo-unknown-length",
    "11-head-hello",
    "12-echo-attrs-ssl",
    "13-stored-method",
    "20-secret-ok",
    "21-secret-wrong-403",
    "22-secret-missing-403",
    "23-unknown-attr-default-policy-403",
];

#[test]
fn tomcat_responses_decode_and_reencode_byte_for_byte() {
    for case in TOMCAT_CASES {
        let bytes = fixture(&format!("tomcat/{case}.response.bin"));
        let messages = container_stream(&bytes);
        assert!(!messages.is_empty(), "{case}");
        let total: usize = messages.iter().map(|(raw, _)| raw.len()).sum();
        assert_eq!(total, bytes.len(), "{case}: every byte is accounted for");
        for (raw, m) in &messages {
            assert_eq!(reencode_container(m), raw, "{case}: {m:?}");
        }
    }
}

#[test]
fn tomcat_requests_decode_and_reencode_byte_for_byte() {
    for case in TOMCAT_CASES {
        let bytes = fixture(&format!("tomcat/{case}.request.bin"));
        let messages = proxy_stream(&bytes);
        let total: usize = messages.iter().map(|(raw, _)| raw.len()).sum();
        assert_eq!(total, bytes.len(), "{case}");
        for (raw, m) in &messages {
            if matches!(m, ProxyMessage::Body(b) if b.data.is_empty()) {
                // This client ends bodies with mod_jk's empty packet; we send httpd's form.
                assert_eq!(&raw[..], &[0x12, 0x34, 0x00, 0x00], "{case}");
                continue;
            }
            assert_eq!(reencode_proxy(m), raw, "{case}: {m:?}");
        }
    }
}

#[test]
fn tomcat_hello() {
    let r = response(&container_stream(&fixture(
        "tomcat/01-get-hello.response.bin",
    )));
    assert_eq!(r.status, 200);
    // Tomcat repeats the number instead of a reason phrase.
    assert_eq!(r.message.as_deref(), Some(&b"200"[..]));
    assert_eq!(response_header(&r, "content-type"), ["text/plain"]);
    assert_eq!(response_header(&r, "content-length"), ["12"]);
    assert_eq!(r.body, b"Hello, AJP!\n");
    assert!(r.reuse);

    let req = proxy_stream(&fixture("tomcat/02-cping-then-get-hello.request.bin"));
    assert_eq!(req[0].1, ProxyMessage::CPing);
    assert_eq!(&req[0].0[..], &[0x12, 0x34, 0x00, 0x01, 0x0a]);
    let f = forward_request(&req[1].1);
    assert_eq!(f.method, http::Method::GET);
    assert_eq!(f.req_uri, "/hello");
    let resp = container_stream(&fixture("tomcat/02-cping-then-get-hello.response.bin"));
    assert_eq!(resp[0].1, ContainerMessage::CPong);
    assert_eq!(&resp[0].0[..], b"AB\x00\x01\x09");
}

#[test]
fn tomcat_big_body_arrives_in_chunks_of_p_minus_8_with_trailing_nul() {
    let bytes = fixture("tomcat/03-get-big-20000.response.bin");
    let messages = container_stream(&bytes);
    let sizes: Vec<usize> = messages
        .iter()
        .filter_map(|(raw, m)| match m {
            ContainerMessage::SendBodyChunk(c) => {
                // payload = type + len + data + NUL
                assert_eq!(raw.len(), 4 + 3 + c.data.len() + 1);
                assert_eq!(raw[raw.len() - 1], 0);
                Some(c.data.len())
            }
            _ => None,
        })
        .filter(|&n| n > 0)
        .collect();
    assert_eq!(sizes, [8184, 8184, 20000 - 2 * 8184]);
    let r = response(&messages);
    assert_eq!(r.body.len(), 20000);
}

#[test]
fn tomcat_repeated_set_cookie_and_session_route() {
    let r = response(&container_stream(&fixture(
        "tomcat/04-get-headers-3-setcookie.response.bin",
    )));
    assert_eq!(response_header(&r, "set-cookie").len(), 3);

    let r = response(&container_stream(&fixture(
        "tomcat/05-get-session-jvmroute.response.bin",
    )));
    let cookie = response_header(&r, "set-cookie")[0];
    let id = cookie.split(';').next().unwrap();
    assert!(
        id.starts_with("JSESSIONID=") && id.ends_with(".tc1"),
        "{cookie}"
    );
}

#[test]
fn tomcat_bodiless_statuses_send_no_body_chunks() {
    for (case, status) in [
        ("06-status-204", 204),
        ("07-status-304", 304),
        ("11-head-hello", 200),
    ] {
        let r = response(&container_stream(&fixture(&format!(
            "tomcat/{case}.response.bin"
        ))));
        assert_eq!(r.status, status, "{case}");
        assert!(r.body.is_empty(), "{case}");
        assert!(r.reuse, "{case}");
    }
    let req = proxy_stream(&fixture("tomcat/11-head-hello.request.bin"));
    assert_eq!(forward_request(&req[0].1).method, http::Method::HEAD);
}

#[test]
fn tomcat_pulls_the_body_with_get_body_chunk() {
    let req = proxy_stream(&fixture(
        "tomcat/09-post-echo-20000-get-body-chunk.request.bin",
    ));
    let f = forward_request(&req[0].1);
    assert_eq!(header(f, "content-length"), Some("20000"));
    let bodies: Vec<usize> = req[1..]
        .iter()
        .map(|(_, m)| match m {
            ProxyMessage::Body(b) => b.data.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(bodies, [8186, 8186, 3628, 0]);
    let r = response(&container_stream(&fixture(
        "tomcat/09-post-echo-20000-get-body-chunk.response.bin",
    )));
    // P − 6 each time; the last ask comes after all Content-Length bytes arrived.
    assert!(r.get_body_chunks.iter().all(|&n| n == 8186));
    assert_eq!(r.get_body_chunks.len(), 3);

    // Unknown length: no unsolicited first packet, Tomcat asks first.
    let r = response(&container_stream(&fixture(
        "tomcat/10-post-echo-unknown-length.response.bin",
    )));
    assert!(!r.get_body_chunks.is_empty());
    let req = proxy_stream(&fixture("tomcat/10-post-echo-unknown-length.request.bin"));
    assert_eq!(header(forward_request(&req[0].1), "content-length"), None);
}

#[test]
fn tomcat_ssl_attributes_and_stored_method() {
    let req = proxy_stream(&fixture("tomcat/12-echo-attrs-ssl.request.bin"));
    let f = forward_request(&req[0].1);
    assert!(f.is_ssl);
    assert_eq!(f.server_port, 443);
    assert_eq!(f.query_string().map(|q| &q[..]), Some(&b"x=1"[..]));
    assert_eq!(req_attribute(f, "AJP_REMOTE_PORT"), Some(&b"5555"[..]));
    let r = response(&container_stream(&fixture(
        "tomcat/12-echo-attrs-ssl.response.bin",
    )));
    let body = String::from_utf8(r.body).unwrap();
    assert!(
        body.contains("\"secure\":true") || body.contains("https"),
        "{body}"
    );

    let req = proxy_stream(&fixture("tomcat/13-stored-method.request.bin"));
    let f = forward_request(&req[0].1);
    assert_eq!(req[0].0[5], 0xFF, "method byte is the stored-method marker");
    assert!(http::Method::from_bytes(b"PATCH").is_ok());
    assert!(!ajp_codec::CODED_METHODS.contains(&f.method.as_str()));
    let r = response(&container_stream(&fixture(
        "tomcat/13-stored-method.response.bin",
    )));
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains(f.method.as_str()), "{body}");
}

#[test]
fn tomcat_rejections_end_with_reuse_false() {
    let ok = response(&container_stream(&fixture(
        "tomcat/20-secret-ok.response.bin",
    )));
    assert_eq!(ok.status, 200);
    assert!(ok.reuse);
    let req = proxy_stream(&fixture("tomcat/20-secret-ok.request.bin"));
    assert!(forward_request(&req[0].1).secret().is_some());
    for case in [
        "21-secret-wrong-403",
        "22-secret-missing-403",
        "23-unknown-attr-default-policy-403",
    ] {
        let r = response(&container_stream(&fixture(&format!(
            "tomcat/{case}.response.bin"
        ))));
        assert_eq!(r.status, 403, "{case}");
        assert!(!r.reuse, "{case}");
    }
}

const PROXY_CASES: [&str; 7] = [
    "01-get-query-headers",
    "02-post-form-cl14",
    "03-post-20000-bytes",
    "04-post-chunked",
    "05-put",
    "06-patch-stored-method",
    "07-head",
];

#[test]
fn mod_proxy_ajp_requests_decode_and_reencode_byte_for_byte() {
    for case in PROXY_CASES {
        let bytes = fixture(&format!("mod_proxy_ajp/{case}.bin"));
        let messages = proxy_stream(&bytes);
        let total: usize = messages.iter().map(|(raw, _)| raw.len()).sum();
        assert_eq!(total, bytes.len(), "{case}");
        for (raw, m) in &messages {
            assert_eq!(reencode_proxy(m), raw, "{case}: {m:?}");
        }
    }
}

#[test]
fn mod_proxy_ajp_request_details() {
    let m = proxy_stream(&fixture("mod_proxy_ajp/02-post-form-cl14.bin"));
    let f = forward_request(&m[0].1);
    assert_eq!(f.method, http::Method::POST);
    assert_eq!(f.req_uri, "/echo");
    assert_eq!(f.remote_host, None);
    assert_eq!(f.query_string().map(|q| &q[..]), Some(&b"q=1"[..]));
    assert_eq!(header(f, "content-length"), Some("14"));
    assert!(req_attribute(f, "AJP_REMOTE_PORT").is_some());
    assert_eq!(req_attribute(f, "AJP_LOCAL_ADDR"), Some(&b"127.0.0.1"[..]));
    assert_eq!(
        m[1].1,
        ProxyMessage::Body(BodyChunk {
            data: Bytes::from_static(b"name=value&x=1")
        })
    );

    let m = proxy_stream(&fixture("mod_proxy_ajp/03-post-20000-bytes.bin"));
    let sizes: Vec<usize> = m[1..]
        .iter()
        .map(|(_, m)| match m {
            ProxyMessage::Body(b) => b.data.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    // The recording container stopped asking once it had all 20000 bytes.
    assert_eq!(sizes, [8186, 8186, 3628]);

    // Chunked: no Content-Length, ends with httpd's `12 34 00 02 00 00`.
    let m = proxy_stream(&fixture("mod_proxy_ajp/04-post-chunked.bin"));
    assert_eq!(header(forward_request(&m[0].1), "content-length"), None);
    assert_eq!(
        &m.last().unwrap().0[..],
        &[0x12, 0x34, 0x00, 0x02, 0x00, 0x00]
    );

    let m = proxy_stream(&fixture("mod_proxy_ajp/06-patch-stored-method.bin"));
    assert_eq!(m[0].0[5], 0xFF);
    assert_eq!(forward_request(&m[0].1).method, http::Method::PATCH);

    let m = proxy_stream(&fixture("mod_proxy_ajp/07-head.bin"));
    assert_eq!(forward_request(&m[0].1).method, http::Method::HEAD);
}

#[test]
fn mod_jk_requests_decode_with_its_differences() {
    for case in PROXY_CASES {
        let bytes = fixture(&format!("mod_jk/{case}.bin"));
        let messages = proxy_stream(&bytes);
        let total: usize = messages.iter().map(|(raw, _)| raw.len()).sum();
        assert_eq!(total, bytes.len(), "{case}");
        let f = forward_request(&messages[0].1);
        assert_eq!(
            req_attribute(f, "JK_LB_ACTIVATION"),
            Some(&b"ACT"[..]),
            "{case}"
        );
        // Re-encoding gives our canonical form, which decodes to the same message.
        let reencoded: Vec<u8> = messages
            .iter()
            .flat_map(|(_, m)| reencode_proxy(m))
            .collect();
        let again: Vec<ProxyMessage> = proxy_stream(&reencoded)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        let original: Vec<ProxyMessage> = messages.into_iter().map(|(_, m)| m).collect();
        assert_eq!(again, original, "{case}");
    }
    let m = proxy_stream(&fixture("mod_jk/01-get-query-headers.bin"));
    let f = forward_request(&m[0].1);
    // Body-less requests get a synthetic `content-length: 0`.
    assert_eq!(header(f, "content-length"), Some("0"));
    // Accept-Language comes as a plain string, not its code 0xA004; decoded, it reads as the
    // coded name would.
    assert_eq!(header(f, "accept-language"), Some("en"));
    assert!(m[0].0.windows(15).any(|w| w == b"Accept-Language"));
    // mod_jk ends a body with the empty packet `12 34 00 00`.
    let m = proxy_stream(&fixture("mod_jk/04-post-chunked.bin"));
    assert_eq!(&m.last().unwrap().0[..], &[0x12, 0x34, 0x00, 0x00]);
    assert_eq!(
        m.last().unwrap().1,
        ProxyMessage::Body(BodyChunk { data: Bytes::new() })
    );
    let m = proxy_stream(&fixture("mod_jk/06-patch-stored-method.bin"));
    assert_eq!(forward_request(&m[0].1).method, http::Method::PATCH);
}

#[test]
fn real_httpd_tomcat_pair() {
    let to_server = proxy_stream(&fixture("real-pair/apache-tomcat.to-server.bin"));
    let heads: Vec<&str> = to_server
        .iter()
        .filter_map(|(_, m)| match m {
            ProxyMessage::ForwardRequest(f) => Some(std::str::from_utf8(&f.req_uri).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(heads, ["/hello", "/echo", "/headers"]);
    for (raw, m) in &to_server {
        assert_eq!(reencode_proxy(m), raw, "{m:?}");
    }
    let to_client = container_stream(&fixture("real-pair/apache-tomcat.to-client.bin"));
    let ends = to_client
        .iter()
        .filter(|(_, m)| matches!(m, ContainerMessage::EndResponse(e) if e.reuse))
        .count();
    assert_eq!(ends, 3);
    for (raw, m) in &to_client {
        assert_eq!(reencode_container(m), raw, "{m:?}");
    }
}
