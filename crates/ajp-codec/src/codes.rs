//! The fixed code tables of AJP13: method codes, coded header names in both directions,
//! attribute codes and message types. One place, so a reader can check them against
//! httpd's `ajp_header.h` and Tomcat's `Constants.java` at a glance.

use std::sync::LazyLock;

use http::Method;

/// Message type bytes.
pub(crate) mod msg {
    pub(crate) const FORWARD_REQUEST: u8 = 2;
    pub(crate) const SEND_BODY_CHUNK: u8 = 3;
    pub(crate) const SEND_HEADERS: u8 = 4;
    pub(crate) const END_RESPONSE: u8 = 5;
    pub(crate) const GET_BODY_CHUNK: u8 = 6;
    pub(crate) const SHUTDOWN: u8 = 7;
    pub(crate) const CPONG: u8 = 9;
    pub(crate) const CPING: u8 = 10;
}

/// Attribute codes that follow the headers of a Forward Request.
pub(crate) mod attr {
    pub(crate) const CONTEXT: u8 = 0x01;
    pub(crate) const SERVLET_PATH: u8 = 0x02;
    pub(crate) const REMOTE_USER: u8 = 0x03;
    pub(crate) const AUTH_TYPE: u8 = 0x04;
    pub(crate) const QUERY_STRING: u8 = 0x05;
    pub(crate) const ROUTE: u8 = 0x06;
    pub(crate) const SSL_CERT: u8 = 0x07;
    pub(crate) const SSL_CIPHER: u8 = 0x08;
    pub(crate) const SSL_SESSION: u8 = 0x09;
    pub(crate) const REQ_ATTRIBUTE: u8 = 0x0A;
    pub(crate) const SSL_KEY_SIZE: u8 = 0x0B;
    pub(crate) const SECRET: u8 = 0x0C;
    pub(crate) const STORED_METHOD: u8 = 0x0D;
    pub(crate) const ARE_DONE: u8 = 0xFF;
}

/// Method byte meaning "the method name is in attribute 0x0D".
pub(crate) const STORED_METHOD: u8 = 0xFF;

/// The 27 coded methods; code `n` is `METHOD_NAMES[n - 1]`.
pub(crate) const METHOD_NAMES: [&str; 27] = [
    "OPTIONS",
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "ACL",
    "REPORT",
    "VERSION-CONTROL",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "SEARCH",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "BASELINE-CONTROL",
    "MKACTIVITY",
];

static METHODS: LazyLock<[Method; 27]> = LazyLock::new(|| {
    METHOD_NAMES.map(|name| Method::from_bytes(name.as_bytes()).expect("table holds tokens"))
});

/// The method for a code 1..=27.
#[inline]
pub(crate) fn method_for_code(code: u8) -> Option<&'static Method> {
    // The two common methods without a call or the lazy table's check.
    static GET: Method = Method::GET;
    static POST: Method = Method::POST;
    match code {
        2 => Some(&GET),
        4 => Some(&POST),
        _ => table_method_for_code(code),
    }
}

fn table_method_for_code(code: u8) -> Option<&'static Method> {
    match code {
        1..=27 => Some(&METHODS[code as usize - 1]),
        _ => None,
    }
}

/// The code of a method, if it has one. Method names are case-sensitive.
#[inline]
pub(crate) fn code_for_method(method: &Method) -> Option<u8> {
    // GET without a call: the lookup below pushes seven registers whatever the method.
    if *method == Method::GET {
        return Some(2);
    }
    table_code_for_method(method)
}

fn table_code_for_method(method: &Method) -> Option<u8> {
    // The common methods without a string comparison.
    let code = match *method {
        Method::GET => 2,
        Method::POST => 4,
        Method::HEAD => 3,
        Method::PUT => 5,
        Method::DELETE => 6,
        Method::OPTIONS => 1,
        Method::TRACE => 7,
        Method::PATCH | Method::CONNECT => return None,
        _ => {
            let name = method.as_str();
            return METHOD_NAMES
                .iter()
                .position(|m| *m == name)
                .map(|i| i as u8 + 1);
        }
    };
    Some(code)
}

/// Coded request header names (proxy → container), lower case; code `0xA000 + n` is
/// `REQUEST_HEADERS[n - 1]`.
pub(crate) const REQUEST_HEADERS: [&str; 14] = [
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "connection",
    "content-type",
    "content-length",
    "cookie",
    "cookie2",
    "host",
    "pragma",
    "referer",
    "user-agent",
];

/// Coded response header names (container → proxy), lower case; code `0xA000 + n` is
/// `RESPONSE_HEADERS[n - 1]`.
pub(crate) const RESPONSE_HEADERS: [&str; 11] = [
    "content-type",
    "content-language",
    "content-length",
    "date",
    "last-modified",
    "location",
    "set-cookie",
    "set-cookie2",
    "servlet-engine",
    "status",
    "www-authenticate",
];

/// A coded header name packed for a case-insensitive compare in one step (this lookup runs
/// for every header in both directions).
///
/// `lower` holds the name's bytes [`fold`]ed into a `u128`; `letters` is folded the same way
/// from a mask with 0x20 on each letter. OR-ing `letters` into a folded candidate of the
/// same length and comparing with `lower` is exactly `eq_ignore_ascii_case`: at a letter
/// `t`, `b | 0x20 == t` holds only for `b == t` and its upper case `t - 0x20`; elsewhere
/// the bytes must be equal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packed {
    lower: u128,
    letters: u128,
}

impl Packed {
    const fn new(name: &str) -> Self {
        let b = name.as_bytes();
        assert!(
            b.len() >= 4 && b.len() <= 16,
            "coded header names have 4 to 16 bytes"
        );
        let mut letters = [0u8; 16];
        let mut i = 0;
        while i < b.len() {
            assert!(!b[i].is_ascii_uppercase(), "tables are lower case");
            if b[i].is_ascii_lowercase() {
                letters[i] = 0x20;
            }
            i += 1;
        }
        Self {
            lower: fold(b),
            letters: fold(letters.split_at(b.len()).0),
        }
    }

    /// Whether `word` (a [`fold`]ed name of the same length) equals this name ignoring
    /// ASCII case.
    #[inline]
    fn matches(&self, word: u128) -> bool {
        word | self.letters == self.lower
    }
}

/// A name of 4 to 16 bytes as one `u128`, without a copy loop: its first and last 8 bytes
/// (4 for names under 8 bytes), which overlap and together cover every byte.
#[inline]
const fn fold(b: &[u8]) -> u128 {
    let n = b.len();
    if n >= 8 {
        let first = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let last = u64::from_le_bytes([
            b[n - 8],
            b[n - 7],
            b[n - 6],
            b[n - 5],
            b[n - 4],
            b[n - 3],
            b[n - 2],
            b[n - 1],
        ]);
        first as u128 | (last as u128) << 64
    } else {
        let first = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let last = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        first as u128 | (last as u128) << 32
    }
}

/// One slot of a header lookup table: a coded name, its length and the low byte of its
/// code (`len == 0` marks an empty slot).
#[derive(Clone, Copy, Debug)]
struct Slot {
    len: u8,
    code: u8,
    packed: Packed,
}

/// Slots in a lookup table; [`slot_of`] spreads both tables' names over them without
/// collisions (checked when the tables are built, at compile time).
const SLOTS: usize = 32;

/// Where a name of `len` bytes, first byte `first` and last byte `last` (both with 0x20
/// OR-ed in, so case does not matter) is looked up. Found by search: among the names of
/// either table no two share a slot, so a lookup is one slot and one compare.
#[inline(always)]
const fn slot_of(len: usize, first: u8, last: u8) -> usize {
    (3 * len + 3 * first as usize + 5 * last as usize) % SLOTS
}

const fn slots<const N: usize>(names: [&str; N]) -> [Slot; SLOTS] {
    let mut out = [Slot {
        len: 0,
        code: 0,
        packed: Packed {
            lower: 0,
            letters: 0,
        },
    }; SLOTS];
    let mut i = 0;
    while i < N {
        let b = names[i].as_bytes();
        let at = slot_of(b.len(), b[0] | 0x20, b[b.len() - 1] | 0x20);
        assert!(out[at].len == 0, "two coded names share a slot");
        out[at] = Slot {
            len: b.len() as u8,
            code: i as u8 + 1,
            packed: Packed::new(names[i]),
        };
        i += 1;
    }
    out
}

static REQUEST_SLOTS: [Slot; SLOTS] = slots(REQUEST_HEADERS);
static RESPONSE_SLOTS: [Slot; SLOTS] = slots(RESPONSE_HEADERS);

/// The table a header name is coded against.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Request,
    Response,
}

impl Direction {
    pub(crate) fn table(self) -> &'static [&'static str] {
        match self {
            Self::Request => &REQUEST_HEADERS,
            Self::Response => &RESPONSE_HEADERS,
        }
    }

    /// The low byte of the code for `name`, matched case-insensitively.
    #[inline]
    pub(crate) fn code_for(self, name: &[u8]) -> Option<u8> {
        // Every coded name has 4 to 16 bytes, so it can be compared all at once.
        let (4..=16, Some(&first), Some(&last)) = (name.len(), name.first(), name.last()) else {
            return None;
        };
        let slots = match self {
            Self::Request => &REQUEST_SLOTS,
            Self::Response => &RESPONSE_SLOTS,
        };
        let slot = &slots[slot_of(name.len(), first | 0x20, last | 0x20)];
        (slot.len as usize == name.len() && slot.packed.matches(fold(name))).then_some(slot.code)
    }

    /// The lower-case name for the low byte of a code.
    #[inline]
    pub(crate) fn name_for(self, code: u8) -> Option<&'static str> {
        let table = self.table();
        (code as usize)
            .checked_sub(1)
            .and_then(|i| table.get(i))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_code_round_trips() {
        for code in 1..=27u8 {
            let m = method_for_code(code).unwrap().clone();
            assert_eq!(m.as_str(), METHOD_NAMES[code as usize - 1]);
            assert_eq!(code_for_method(&m), Some(code));
        }
        assert_eq!(method_for_code(0), None);
        assert_eq!(method_for_code(28), None);
        assert_eq!(code_for_method(&Method::PATCH), None);
        let brew = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(code_for_method(&brew), None);
    }

    #[test]
    fn every_header_code_matches_its_name_in_any_case() {
        for dir in [Direction::Request, Direction::Response] {
            for (i, name) in dir.table().iter().enumerate() {
                let code = i as u8 + 1;
                assert_eq!(dir.code_for(name.as_bytes()), Some(code), "{name}");
                assert_eq!(dir.code_for(name.to_uppercase().as_bytes()), Some(code));
                assert_eq!(dir.name_for(code), Some(*name));
            }
            assert_eq!(dir.name_for(0), None);
            assert_eq!(dir.code_for(b"x-custom"), None);
        }
        assert_eq!(Direction::Request.code_for(b"set-cookie"), None);
        assert_eq!(Direction::Request.code_for(b"accept\rlanguage"), None);
        assert_eq!(Direction::Response.code_for(b"host"), None);
    }

    /// The packed compare is exactly `eq_ignore_ascii_case`: every table name with any one
    /// byte replaced by any value matches iff that byte equals the original ignoring case.
    #[test]
    fn header_code_lookup_is_exact_for_every_single_byte_change() {
        for dir in [Direction::Request, Direction::Response] {
            for (i, name) in dir.table().iter().enumerate() {
                let code = i as u8 + 1;
                for pos in 0..name.len() {
                    for b in 0..=255u8 {
                        let mut v = name.as_bytes().to_vec();
                        v[pos] = b;
                        let expect = b.eq_ignore_ascii_case(&name.as_bytes()[pos]);
                        assert_eq!(dir.code_for(&v) == Some(code), expect, "{name} {pos} {b}");
                    }
                }
            }
        }
    }
}
