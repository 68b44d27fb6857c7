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
//! Nothing is asked for before the app reads. Once it reads, up to `read_ahead` packets are
//! kept coming (asked for, or received and not yet taken by the app), so that a body is not
//! one proxy round trip per packet: on loopback that round trip costs more than the packet.
//! The window is topped up in batches, once half of it is free, so that the proxy is woken
//! once per half window rather than once per packet.
//! Pipelined requests are all of the full P − 6 bytes; the last, shorter one is asked only
//! when nothing else is due, and a body without Content-Length is asked one packet at a
//! time. That keeps two rules whatever the proxy does with the requested length (httpd
//! ignores it and sends up to P − 6): no packet is longer than what its request allowed, and
//! the proxy is never asked for more than the body holds.
//!
//! When the response is complete, every packet due (the unasked first one, and those asked
//! for) is read and discarded; the rest of the body is never asked for, so the proxy must not
//! send it and the connection stays in step (CVE-2011-3190).

use std::collections::VecDeque;

use ajp_codec::PacketSize;
use http::{Method, StatusCode};

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
    /// The packets due from the proxy, oldest first, as the most data each may carry: the
    /// unasked first packet, then one per GET_BODY_CHUNK written.
    due: VecDeque<u64>,
    ended: bool,
    max_chunk: u16,
}

impl RequestBody {
    pub(crate) fn new(content_length: Option<u64>, packet_size: PacketSize) -> Self {
        // P − 6, as Tomcat asks; at most 65530.
        let max_chunk = packet_size.max_request_body() as u16;
        let mut due = VecDeque::new();
        if let Some(n) = content_length.filter(|&n| n > 0) {
            due.push_back(n.min(u64::from(max_chunk)));
        }
        Self {
            remaining: content_length,
            due,
            ended: content_length == Some(0),
            max_chunk,
        }
    }

    /// Whether the body is complete: every byte has arrived (or its end marker).
    pub(crate) fn is_end(&self) -> bool {
        self.ended
    }

    /// How many packets are due from the proxy.
    pub(crate) fn due(&self) -> usize {
        self.due.len()
    }

    /// Whether a body packet is due from the proxy: it must be read before anything else,
    /// and before END_RESPONSE.
    pub(crate) fn is_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// The length of a GET_BODY_CHUNK to write now, if the rules allow one more (the caller
    /// bounds how many packets it keeps coming). Records it as due.
    pub(crate) fn ask(&mut self) -> Option<u16> {
        if self.ended {
            return None;
        }
        let max = u64::from(self.max_chunk);
        let len = match self.remaining {
            // Unknown length: one at a time, the proxy alone knows where it ends.
            None if self.due.is_empty() => max,
            None => return None,
            Some(remaining) => {
                let unasked = remaining - self.due.iter().sum::<u64>();
                if unasked >= max {
                    max
                } else if unasked > 0 && self.due.is_empty() {
                    unasked
                } else {
                    return None;
                }
            }
        };
        self.due.push_back(len);
        Some(len as u16)
    }

    /// A body packet of `len` data bytes arrived (it must have been due).
    pub(crate) fn on_packet(&mut self, len: usize) -> Result<Got, Violation> {
        let allowed = self.due.pop_front().unwrap_or(0);
        if len as u64 > allowed {
            return Err(Violation::TooMuch { len, allowed });
        }
        match &mut self.remaining {
            Some(r) if len == 0 => {
                // The proxy ended the body early: asking for more would be asking after
                // the end, which httpd treats as a protocol error (Tomcat stops too).
                self.ended = true;
                Err(Violation::Truncated { missing: *r })
            }
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
    fn a_content_length_body_ended_early_is_never_asked_for_again() {
        let mut b = RequestBody::new(Some(100_000), P);
        assert_eq!(b.on_packet(8186), Ok(Got::Data { last: false }));
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(
            b.on_packet(0),
            Err(Violation::Truncated {
                missing: 100_000 - 8186
            })
        );
        assert_eq!(b.ask(), None, "nothing after the end");
        assert!(b.is_due(), "the packet already asked for is still read");
    }

    #[test]
    fn content_length_first_packet_comes_unasked_then_asks_for_the_rest() {
        let mut b = RequestBody::new(Some(10_000), P);
        assert!(b.is_due(), "the first packet is sent unasked");
        assert_eq!(
            b.ask(),
            None,
            "the 1814-byte tail waits until nothing is due"
        );
        assert_eq!(b.on_packet(8186), Ok(Got::Data { last: false }));
        assert_eq!(b.ask(), Some(1814), "no more than what remains");
        assert_eq!(b.ask(), None);
        assert_eq!(b.on_packet(1814), Ok(Got::Data { last: true }));
        assert!(b.is_end());
        assert_eq!(b.ask(), None);
        assert!(!b.is_due());
    }

    #[test]
    fn full_packets_are_pipelined_and_the_tail_is_asked_alone() {
        // 4 full packets and a 100-byte tail.
        let mut b = RequestBody::new(Some(4 * 8186 + 100), P);
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(b.due(), 4);
        assert_eq!(b.ask(), None, "only the tail is left unasked");
        // A short answer (the proxy had less from its client) leaves more to ask for.
        assert_eq!(b.on_packet(8000), Ok(Got::Data { last: false }));
        assert_eq!(b.ask(), None, "186 + 100 unasked: a tail");
        for _ in 0..3 {
            assert_eq!(b.on_packet(8186), Ok(Got::Data { last: false }));
        }
        assert_eq!(b.ask(), Some(286));
        assert_eq!(b.on_packet(286), Ok(Got::Data { last: true }));
        assert!(b.is_end() && !b.is_due());
    }

    /// Whatever sizes a proxy that ignores the requested length sends (each at most P − 6
    /// and in all the Content-Length), every packet is within what its request allowed and
    /// nothing is asked for past the body's end.
    #[test]
    fn never_over_asks_whatever_the_proxy_sends() {
        let max = 8186u64;
        for cl in [1, 100, 8185, 8186, 8187, 16_372, 16_373, 50_000, 100_003] {
            for pattern in [&[1u64][..], &[8186], &[5000, 8186], &[3, 8186, 7000]] {
                for depth in [1usize, 2, 4, 16] {
                    let mut b = RequestBody::new(Some(cl), P);
                    let (mut sent, mut i) = (0u64, 0usize);
                    while !b.is_end() {
                        while b.due() < depth && b.ask().is_some() {}
                        assert!(b.is_due(), "cl {cl}: stalled at {sent}");
                        let n = pattern[i % pattern.len()].min(max).min(cl - sent);
                        i += 1;
                        assert_eq!(
                            b.on_packet(n as usize).map(|_| ()),
                            Ok(()),
                            "cl {cl} at {sent}"
                        );
                        sent += n;
                    }
                    assert_eq!(sent, cl);
                    assert!(!b.is_due(), "cl {cl} depth {depth}: asked past the end");
                }
            }
        }
    }

    #[test]
    fn unknown_length_asks_one_at_a_time_until_empty_packet() {
        let mut b = RequestBody::new(None, P);
        assert!(!b.is_due(), "nothing comes unasked");
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(b.ask(), None);
        assert_eq!(b.on_packet(3), Ok(Got::Data { last: false }));
        assert_eq!(b.ask(), Some(8186));
        assert_eq!(b.on_packet(0), Ok(Got::End));
        assert!(b.is_end());
        assert_eq!(b.ask(), None);
    }

    #[test]
    fn zero_length_body_needs_nothing() {
        let mut b = RequestBody::new(Some(0), P);
        assert!(b.is_end());
        assert!(!b.is_due());
        assert_eq!(b.ask(), None);
    }

    #[test]
    fn unread_body_owes_only_the_first_packet() {
        let mut b = RequestBody::new(Some(1_000_000), P);
        assert_eq!(b.due(), 1);
        assert_eq!(b.on_packet(8186), Ok(Got::Data { last: false }));
        assert!(!b.is_due(), "the rest is never sent unless asked for");
    }

    #[test]
    fn violations() {
        let mut b = RequestBody::new(Some(5), P);
        assert_eq!(
            b.on_packet(6),
            Err(Violation::TooMuch { len: 6, allowed: 5 })
        );
        let mut b = RequestBody::new(Some(5), P);
        assert_eq!(b.on_packet(0), Err(Violation::Truncated { missing: 5 }));
        let mut b = RequestBody::new(None, P);
        let _ = b.ask();
        assert!(b.on_packet(8187).is_err());
        let mut b = RequestBody::new(None, P);
        assert_eq!(
            b.on_packet(1),
            Err(Violation::TooMuch { len: 1, allowed: 0 }),
            "nothing was asked for"
        );
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
