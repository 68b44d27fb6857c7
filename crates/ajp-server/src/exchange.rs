//! The sans-IO rules of one exchange: when to ask the proxy for request body, how much, what
//! to accept, what must still be read before END_RESPONSE; and which responses carry no body.
//!
//! This is Tomcat's `AjpProcessor` body flow (`refillReadBuffer`, `receive`,
//! `finishResponse`):
//!
//! | Content-Length | first packet | later packets |
//! |---|---|---|
//! | `> 0` | sent by the proxy unasked, right after the Forward Request | one per GET_BODY_CHUNK |
//! | `0` | none: the body is empty | none |
//! | absent | none | one per GET_BODY_CHUNK; an empty one ends the body |
//!
//! Nothing is asked for before the app reads. When the response is complete, the one
//! unasked first packet (if the app never read) or a packet already asked for is read and
//! discarded; the rest of the body is never asked for, so the proxy must not send it and
//! the connection stays in step (CVE-2011-3190).

use ajp_codec::PacketSize;
use http::{Method, StatusCode};

/// What to do when the app wants more request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The body is complete: deliver the end.
    End,
    /// Read one body packet; first send GET_BODY_CHUNK with this length, if any (the first
    /// packet of a Content-Length body comes unasked).
    Read { get_body_chunk: Option<u16> },
}

/// What a body packet meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    /// Data; `last` when it completes the Content-Length.
    Data { last: bool },
    /// The end-of-body marker of a body without Content-Length.
    End,
}

/// A body packet that breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// More bytes than asked for, or beyond the Content-Length: the proxy is out of step.
    TooMuch { len: usize, allowed: u64 },
    /// The end marker before the Content-Length was complete (the client went away).
    Truncated { missing: u64 },
}

/// The request body side of one exchange.
#[derive(Debug, Clone)]
pub(crate) struct RequestBody {
    /// Bytes still to come; `None` when the length is unknown (chunked).
    remaining: Option<u64>,
    /// The unasked first packet is still in the proxy's stream.
    first_owed: bool,
    /// A packet is due (asked for, or the first one being read); its allowed length.
    due: Option<u64>,
    ended: bool,
    max_chunk: u16,
}

impl RequestBody {
    pub(crate) fn new(content_length: Option<u64>, packet_size: PacketSize) -> Self {
        Self {
            remaining: content_length,
            first_owed: matches!(content_length, Some(n) if n > 0),
            due: None,
            ended: content_length == Some(0),
            // P − 6, as Tomcat asks; at most 65530.
            max_chunk: packet_size.max_request_body() as u16,
        }
    }

    /// Whether the body is known to be complete.
    #[cfg(test)]
    pub(crate) fn is_end(&self) -> bool {
        self.ended
    }

    fn allowed(&self) -> u64 {
        let max = u64::from(self.max_chunk);
        self.remaining.map_or(max, |r| r.min(max))
    }

    /// The app wants more. Must not be called while a packet is due.
    pub(crate) fn next(&mut self) -> Next {
        debug_assert!(self.due.is_none(), "a body packet is already due");
        if self.ended {
            return Next::End;
        }
        let allowed = self.allowed();
        self.due = Some(allowed);
        if std::mem::take(&mut self.first_owed) {
            Next::Read {
                get_body_chunk: None,
            }
        } else {
            Next::Read {
                get_body_chunk: Some(allowed as u16),
            }
        }
    }

    /// Whether a body packet is due from the proxy.
    #[cfg(test)]
    pub(crate) fn is_due(&self) -> bool {
        self.due.is_some()
    }

    /// A GET_BODY_CHUNK that was decided but never written: nothing is due after all.
    pub(crate) fn cancel_due(&mut self) {
        self.due = None;
    }

    /// A body packet of `len` data bytes arrived (it must have been due).
    pub(crate) fn on_packet(&mut self, len: usize) -> Result<Got, Violation> {
        let allowed = self.due.take().unwrap_or(0);
        if len as u64 > allowed {
            return Err(Violation::TooMuch { len, allowed });
        }
        match &mut self.remaining {
            Some(r) if len == 0 => Err(Violation::Truncated { missing: *r }),
            Some(r) => {
                *r -= len as u64;
                self.ended = *r == 0;
                Ok(Got::Data { last: self.ended })
            }
            None if len == 0 => {
                self.ended = true;
                Ok(Got::End)
            }
            None => Ok(Got::Data { last: false }),
        }
    }

    /// The response is complete: must one more packet be read (and discarded) to stay in
    /// step? Arms it as due, like [`next`](Self::next) without GET_BODY_CHUNK.
    pub(crate) fn swallow_on_finish(&mut self) -> bool {
        if self.due.is_some() {
            return true;
        }
        if std::mem::take(&mut self.first_owed) {
            self.due = Some(self.allowed());
            return true;
        }
        false
    }
}

/// Whether a response to `method` with `status` carries body chunks. Tomcat sends none for
/// HEAD, 1xx, 204, 205 and 304 and swallows whatever the app writes (bug 55453).
pub(crate) fn response_has_body(method: &Method, status: StatusCode) -> bool {
    !(method == Method::HEAD
        || status.is_informational()
        || matches!(status.as_u16(), 204 | 205 | 304))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: PacketSize = PacketSize::DEFAULT;

    #[test]
    fn content_length_first_packet_comes_unasked_then_asks_for_the_rest() {
        let mut b = RequestBody::new(Some(10_000), P);
        assert_eq!(
            b.next(),
            Next::Read {
                get_body_chunk: None
            }
        );
        assert_eq!(b.on_packet(8186), Ok(Got::Data { last: false }));
        // Ask for no more than what remains.
        assert_eq!(
            b.next(),
            Next::Read {
                get_body_chunk: Some(1814)
            }
        );
        assert_eq!(b.on_packet(1814), Ok(Got::Data { last: true }));
        assert!(b.is_end());
        assert_eq!(b.next(), Next::End);
        assert!(!b.swallow_on_finish());
    }

    #[test]
    fn unknown_length_asks_until_empty_packet() {
        let mut b = RequestBody::new(None, P);
        assert_eq!(
            b.next(),
            Next::Read {
                get_body_chunk: Some(8186)
            }
        );
        assert_eq!(b.on_packet(3), Ok(Got::Data { last: false }));
        assert_eq!(
            b.next(),
            Next::Read {
                get_body_chunk: Some(8186)
            }
        );
        assert_eq!(b.on_packet(0), Ok(Got::End));
        assert_eq!(b.next(), Next::End);
    }

    #[test]
    fn zero_length_body_needs_nothing() {
        let mut b = RequestBody::new(Some(0), P);
        assert!(b.is_end());
        assert_eq!(b.next(), Next::End);
        assert!(!b.swallow_on_finish());
    }

    #[test]
    fn unread_body_swallows_only_the_first_packet() {
        let mut b = RequestBody::new(Some(1_000_000), P);
        assert!(b.swallow_on_finish());
        assert!(b.is_due());
        assert_eq!(b.on_packet(8186), Ok(Got::Data { last: false }));
        assert!(!b.swallow_on_finish(), "never ask for the rest");
    }

    #[test]
    fn partially_read_body_swallows_the_packet_in_flight_only() {
        let mut b = RequestBody::new(None, P);
        let _ = b.next();
        assert!(b.swallow_on_finish(), "the asked-for packet is on its way");
        assert_eq!(b.on_packet(100), Ok(Got::Data { last: false }));
        assert!(!b.swallow_on_finish());
        // No Content-Length and never read: nothing was sent, nothing to swallow.
        assert!(!RequestBody::new(None, P).swallow_on_finish());
    }

    #[test]
    fn violations() {
        let mut b = RequestBody::new(Some(5), P);
        let _ = b.next();
        assert_eq!(
            b.on_packet(6),
            Err(Violation::TooMuch { len: 6, allowed: 5 })
        );
        let mut b = RequestBody::new(Some(5), P);
        let _ = b.next();
        assert_eq!(b.on_packet(0), Err(Violation::Truncated { missing: 5 }));
        let mut b = RequestBody::new(None, P);
        let _ = b.next();
        assert!(b.on_packet(8187).is_err());
    }

    #[test]
    fn bodiless_responses() {
        assert!(!response_has_body(&Method::HEAD, StatusCode::OK));
        assert!(!response_has_body(&Method::GET, StatusCode::NO_CONTENT));
        assert!(!response_has_body(&Method::GET, StatusCode::NOT_MODIFIED));
        assert!(!response_has_body(&Method::GET, StatusCode::RESET_CONTENT));
        assert!(response_has_body(&Method::GET, StatusCode::NOT_FOUND));
    }
}
