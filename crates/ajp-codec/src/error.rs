//! Errors of the codec: what was wrong with the bytes, and where.

use std::fmt;
use std::io;

/// The packet, field or value that a [`DecodeError`] or [`EncodeError`] is about.
///
/// A plain name such as `"req_uri"` or `"header value"`, stable enough to log and match on.
pub type Field = &'static str;

/// Why a packet could not be decoded.
///
/// Offsets count from the first byte of the packet's payload (the byte after the 4-byte
/// header), so they point at the same byte in a hex dump of the payload.
///
/// After any of these errors (except [`DecodeError::Io`]) the stream is out of step with the
/// peer: the connection must be closed, never reused.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet did not start with the magic bytes of its direction
    /// (`0x12 0x34` towards the container, `A B` towards the proxy).
    BadMagic {
        /// The two bytes that were found instead.
        found: [u8; 2],
    },
    /// The declared payload length is larger than the configured packet size allows.
    /// Detected from the header alone, before anything is buffered.
    TooLarge {
        /// Declared payload length.
        len: usize,
        /// Largest payload the configured packet size allows (packet size − 4).
        max: usize,
    },
    /// A packet of length zero where a message (with its type byte) was expected.
    EmptyMessage,
    /// The message type byte is not one this direction carries.
    UnknownMessageType {
        /// The type byte.
        code: u8,
    },
    /// A field runs past the end of the packet.
    Truncated {
        /// The field being read.
        field: Field,
        /// Offset of the field in the payload.
        offset: usize,
    },
    /// A string's declared length runs past the end of the packet, or its terminating NUL is
    /// missing.
    BadString {
        /// The field being read.
        field: Field,
        /// Offset of the string's length prefix in the payload.
        offset: usize,
    },
    /// A null string (`0xFFFF`) in a field that cannot be null.
    UnexpectedNull {
        /// The field being read.
        field: Field,
        /// Offset in the payload.
        offset: usize,
    },
    /// A header name code `0xA0xx` outside the table of its direction.
    UnknownHeaderCode {
        /// The 16-bit code.
        code: u16,
        /// Offset in the payload.
        offset: usize,
    },
    /// An attribute code that AJP13 does not define. Unknown attributes cannot be skipped
    /// (their length is unknown), so they are always an error.
    UnknownAttribute {
        /// The attribute code.
        code: u8,
        /// Offset in the payload.
        offset: usize,
    },
    /// `num_headers` promised more headers than the packet holds.
    HeaderCount {
        /// The declared number of headers.
        declared: u16,
        /// How many were present before the packet ended.
        found: u16,
    },
    /// The method byte is neither one of the 27 codes nor `0xFF`, or the stored method
    /// (`0xFF` + attribute `0x0D`) is missing, repeated, not a valid token, or sent with a
    /// coded method.
    InvalidMethod {
        /// The method byte.
        code: u8,
    },
    /// A boolean byte other than 0 or 1.
    InvalidBool {
        /// The field being read.
        field: Field,
        /// The byte found.
        value: u8,
    },
    /// A body chunk longer than the packet size allows for its direction.
    BodyTooLarge {
        /// Declared chunk length.
        len: usize,
        /// Largest chunk the configured packet size allows.
        max: usize,
    },
    /// Bytes left over after the message ended.
    TrailingBytes {
        /// Number of unexpected bytes.
        count: usize,
        /// Offset of the first one in the payload.
        offset: usize,
    },
    /// The stream ended in the middle of a packet.
    UnexpectedEof {
        /// Bytes of the partial packet that were buffered.
        buffered: usize,
    },
    /// The underlying transport failed.
    Io(io::Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic { found } => {
                write!(f, "bad packet magic {:02x} {:02x}", found[0], found[1])
            }
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "packet payload of {len} bytes exceeds the limit of {max}"
                )
            }
            Self::EmptyMessage => f.write_str("empty packet where a message was expected"),
            Self::UnknownMessageType { code } => write!(f, "unknown message type {code}"),
            Self::Truncated { field, offset } => {
                write!(
                    f,
                    "{field} at offset {offset} runs past the end of the packet"
                )
            }
            Self::BadString { field, offset } => write!(
                f,
                "string {field} at offset {offset} runs past the packet or lacks its NUL"
            ),
            Self::UnexpectedNull { field, offset } => {
                write!(f, "{field} at offset {offset} is null")
            }
            Self::UnknownHeaderCode { code, offset } => {
                write!(f, "unknown header code {code:#06x} at offset {offset}")
            }
            Self::UnknownAttribute { code, offset } => {
                write!(f, "unknown attribute code {code:#04x} at offset {offset}")
            }
            Self::HeaderCount { declared, found } => write!(
                f,
                "num_headers is {declared} but the packet holds only {found} headers"
            ),
            Self::InvalidMethod { code } => write!(f, "invalid method (code {code:#04x})"),
            Self::InvalidBool { field, value } => {
                write!(f, "{field} is {value}, not a boolean 0 or 1")
            }
            Self::BodyTooLarge { len, max } => {
                write!(f, "body chunk of {len} bytes exceeds the limit of {max}")
            }
            Self::TrailingBytes { count, offset } => {
                write!(
                    f,
                    "{count} unexpected bytes after the message at offset {offset}"
                )
            }
            Self::UnexpectedEof { buffered } => {
                write!(
                    f,
                    "stream ended inside a packet ({buffered} bytes buffered)"
                )
            }
            Self::Io(_) => f.write_str("transport error"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for DecodeError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Why a message could not be encoded. When encoding fails, the destination buffer is left
/// exactly as it was: nothing is sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message does not fit one packet of the configured size. AJP has no
    /// continuation packets, so a Forward Request or SEND_HEADERS must fit whole.
    TooLarge {
        /// Payload length the message needs (at least; encoding stops early).
        len: usize,
        /// Largest payload the configured packet size allows (packet size − 4).
        max: usize,
    },
    /// A string is too long for AJP's 16-bit length (0xFFFF is reserved for null).
    StringTooLong {
        /// The field.
        field: Field,
        /// Its length.
        len: usize,
    },
    /// A header name string of 0xA000 to 0xA0FF bytes would be read back as a header code.
    HeaderNameTooLong {
        /// Its length.
        len: usize,
    },
    /// A body chunk is longer than the packet size allows for its direction.
    BodyTooLarge {
        /// The chunk length.
        len: usize,
        /// Largest chunk the configured packet size allows.
        max: usize,
    },
    /// More than 65535 headers.
    TooManyHeaders {
        /// Number of headers.
        count: usize,
    },
    /// The underlying transport failed.
    Io(io::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => write!(
                f,
                "message needs at least {len} payload bytes but a packet holds {max}"
            ),
            Self::StringTooLong { field, len } => {
                write!(f, "{field} of {len} bytes is too long for an AJP string")
            }
            Self::HeaderNameTooLong { len } => {
                write!(f, "header name of {len} bytes is too long")
            }
            Self::BodyTooLarge { len, max } => {
                write!(f, "body chunk of {len} bytes exceeds the limit of {max}")
            }
            Self::TooManyHeaders { count } => write!(f, "{count} headers is too many"),
            Self::Io(_) => f.write_str("transport error"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for EncodeError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
