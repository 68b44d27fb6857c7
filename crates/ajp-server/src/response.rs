//! `http::Response` head → SEND_HEADERS. Pure: no I/O.

use ajp_codec::{PacketSize, SendHeaders};
use bytes::BytesMut;
use http::StatusCode;
use http::header::{CONTENT_LENGTH, HeaderMap};

/// Hop-by-hop headers (RFC 9110 §7.6.1): about the app's connection, not the proxy's.
/// AJP frames the body itself, so Transfer-Encoding is meaningless too.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Appends SEND_HEADERS for `status` and `headers` to `dst`.
///
/// `exact_len` is the body's exact size when known: it becomes Content-Length if the app
/// set none (the caller passes it for bodies, and for HEAD as GET would have it). The
/// status message is the canonical reason phrase (so clients behind httpd see `200 OK`),
/// or the number when there is none.
/// A head that does not fit one packet is replaced by a bare 500 and reported.
pub(crate) fn encode_head(
    status: StatusCode,
    headers: &HeaderMap,
    exact_len: Option<u64>,
    dst: &mut BytesMut,
    packet_size: PacketSize,
) -> Result<(), ajp_codec::EncodeError> {
    let mut list: Vec<(&[u8], &[u8])> = Vec::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        list.push((name.as_str().as_bytes(), value.as_bytes()));
    }
    let len_text;
    if let Some(n) = exact_len.filter(|_| !headers.contains_key(CONTENT_LENGTH)) {
        len_text = n.to_string();
        list.push((b"content-length", len_text.as_bytes()));
    }
    let number = status.as_str();
    let message = status.canonical_reason().unwrap_or(number);
    let head = SendHeaders {
        status: status.as_u16(),
        message: Some(message.as_bytes()),
        headers: list,
    };
    match head.encode(dst, packet_size) {
        Ok(()) => Ok(()),
        Err(e) => {
            encode_bare(StatusCode::INTERNAL_SERVER_ERROR, dst, packet_size);
            Err(e)
        }
    }
}

/// Appends SEND_HEADERS with only a status (and `Content-Length: 0`).
pub(crate) fn encode_bare(status: StatusCode, dst: &mut BytesMut, packet_size: PacketSize) {
    let message = status.canonical_reason().unwrap_or(status.as_str());
    let head = SendHeaders {
        status: status.as_u16(),
        message: Some(message.as_bytes()),
        headers: vec![(&b"content-length"[..], &b"0"[..])],
    };
    // A handful of bytes: always fits.
    let _ = head.encode(dst, packet_size);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn head_strips_hop_by_hop_and_adds_length() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("connection", HeaderValue::from_static("close"));
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        let mut buf = BytesMut::new();
        encode_head(StatusCode::OK, &h, Some(12), &mut buf, PacketSize::DEFAULT).unwrap();
        let d = SendHeaders::decode(buf.split_off(4).freeze()).unwrap();
        assert_eq!(d.status, 200);
        assert_eq!(d.message.unwrap(), "OK");
        let names: Vec<_> = d.headers.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(
            names,
            ["content-type", "set-cookie", "set-cookie", "content-length"]
        );
    }

    #[test]
    fn oversize_head_becomes_500() {
        let mut h = HeaderMap::new();
        let big = "x".repeat(9000);
        h.insert("x-big", HeaderValue::from_str(&big).unwrap());
        let mut buf = BytesMut::new();
        assert!(encode_head(StatusCode::OK, &h, None, &mut buf, PacketSize::DEFAULT).is_err());
        let d = SendHeaders::decode(buf.split_off(4).freeze()).unwrap();
        assert_eq!(d.status, 500);
    }
}
