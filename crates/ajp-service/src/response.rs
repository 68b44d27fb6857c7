//! SEND_HEADERS → `http::Response` head, with the checks a proxy owes its clients: a valid
//! final status, valid header names and values, no hop-by-hop or framing headers from the
//! backend except a consistent Content-Length (checked later against the body).

use ajp_codec::SendHeaders;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use crate::error::Error;

/// A validated response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The backend's Content-Length, to be verified against the body that arrives.
    pub(crate) content_length: Option<u64>,
}

pub(crate) fn head(h: SendHeaders<Bytes>) -> Result<Head, Error> {
    // `StatusCode` takes 100..=999; HTTP (and Tomcat) only 100..=599.
    let status = StatusCode::from_u16(h.status)
        .ok()
        .filter(|s| s.as_u16() <= 599)
        .ok_or_else(|| Error::protocol("invalid status code in SEND_HEADERS"))?;
    if status.is_informational() {
        // AJP has no interim responses; a 1xx here can only be a broken backend.
        return Err(Error::protocol("1xx status in SEND_HEADERS"));
    }
    let mut headers = HeaderMap::with_capacity(h.headers.len());
    let mut content_length = None;
    for (name, value) in h.headers {
        let name = HeaderName::from_bytes(&name)
            .map_err(|_| Error::protocol("invalid response header name"))?;
        let value = HeaderValue::from_maybe_shared(value)
            .map_err(|_| Error::protocol("invalid response header value"))?;
        if name == header::CONTENT_LENGTH {
            let n = value
                .to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Error::protocol("invalid Content-Length from the backend"))?;
            match content_length {
                Some(prev) if prev != n => {
                    return Err(Error::protocol(
                        "conflicting Content-Length from the backend",
                    ));
                }
                Some(_) => continue,
                None => content_length = Some(n),
            }
        } else if is_hop_by_hop(&name) {
            // Never let the backend decide the client connection's framing or fate
            // (CVE-2024-24795 class).
            continue;
        }
        headers.append(name, value);
    }
    Ok(Head {
        status,
        headers,
        content_length,
    })
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

/// Whether a response to this request with this status has no body (RFC 9110 §6.4.1).
pub(crate) fn is_bodiless(head_request: bool, status: StatusCode) -> bool {
    head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(status: u16, headers: &[(&'static str, &'static str)]) -> SendHeaders<Bytes> {
        SendHeaders {
            status,
            message: Some(Bytes::from_static(b"200")),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        Bytes::from_static(n.as_bytes()),
                        Bytes::from_static(v.as_bytes()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn keeps_repeats_and_drops_framing() {
        let h = head(sh(
            200,
            &[
                ("set-cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("transfer-encoding", "chunked"),
                ("connection", "close"),
                ("content-length", "12"),
                ("X-Thing", "v"),
            ],
        ))
        .unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.headers.get_all("set-cookie").iter().count(), 2);
        assert!(h.headers.get("transfer-encoding").is_none());
        assert!(h.headers.get("connection").is_none());
        assert_eq!(h.content_length, Some(12));
        assert_eq!(h.headers["x-thing"], "v");
    }

    #[test]
    fn rejects_what_a_client_must_never_see() {
        assert!(head(sh(100, &[])).unwrap_err().is_protocol());
        assert!(head(sh(42, &[])).unwrap_err().is_protocol());
        assert!(head(sh(200, &[("bad name", "v")])).is_err());
        assert!(head(sh(200, &[("x", "a\r\nb")])).is_err());
        assert!(head(sh(200, &[("content-length", "1"), ("content-length", "2")])).is_err());
        assert!(head(sh(200, &[("content-length", "-1")])).is_err());
        assert!(head(sh(200, &[("content-length", "3"), ("content-length", "3")])).is_ok());
    }
}
