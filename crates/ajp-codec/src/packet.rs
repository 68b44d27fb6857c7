//! Packet framing: the 4-byte header and the size limits that follow from the packet size.
//!
//! ```text
//! proxy → container:  0x12 0x34  len:u16  payload[len]
//! container → proxy:  0x41 0x42  len:u16  payload[len]      ("AB")
//! ```

use std::fmt;

/// Magic bytes of packets sent by the proxy (web server) to the container.
pub const TO_CONTAINER_MAGIC: [u8; 2] = [0x12, 0x34];
/// Magic bytes of packets sent by the container to the proxy (`"AB"`).
pub const TO_PROXY_MAGIC: [u8; 2] = [0x41, 0x42];
/// Length of a packet header: two magic bytes and a big-endian `u16` payload length.
pub const HEADER_LEN: usize = 4;

/// The AJP packet size both peers are configured with (Tomcat's `packetSize`, mod_jk's
/// `max_packet_size`, httpd's `ProxyIOBufferSize`).
///
/// AJP never negotiates it: both sides must agree. It bounds everything:
///
/// | limit | value | at the default 8192 |
/// |---|---|---|
/// | payload of any packet | P − 4 | 8188 |
/// | request body data per packet | P − 6 | 8186 |
/// | response body data per SEND_BODY_CHUNK | P − 8 | 8184 |
///
/// ```
/// use ajp_codec::PacketSize;
///
/// let p = PacketSize::new(65536).unwrap();
/// assert_eq!(p.max_request_body(), 65530);
/// assert!(PacketSize::new(4096).is_err());
/// assert_eq!(PacketSize::default().get(), 8192);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketSize(u32);

impl PacketSize {
    /// The AJP13 default, 8192 bytes.
    pub const DEFAULT: Self = Self(8192);
    /// The smallest packet size peers accept (8192).
    pub const MIN: Self = Self(8192);
    /// The largest packet size peers accept (65536).
    pub const MAX: Self = Self(65536);

    /// A packet size between 8192 and 65536 bytes inclusive.
    pub const fn new(size: usize) -> Result<Self, InvalidPacketSize> {
        if size < Self::MIN.0 as usize || size > Self::MAX.0 as usize {
            return Err(InvalidPacketSize(size));
        }
        Ok(Self(size as u32))
    }

    /// The size in bytes, header included.
    pub const fn get(self) -> usize {
        self.0 as usize
    }

    /// Largest payload of one packet: P − 4.
    pub const fn max_payload(self) -> usize {
        self.0 as usize - HEADER_LEN
    }

    /// Largest request body data in one body packet: P − 6.
    pub const fn max_request_body(self) -> usize {
        self.0 as usize - 6
    }

    /// Largest response body data in one SEND_BODY_CHUNK: P − 8.
    pub const fn max_response_body(self) -> usize {
        self.0 as usize - 8
    }
}

impl Default for PacketSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A packet size outside 8192..=65536 was requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPacketSize(usize);

impl fmt::Display for InvalidPacketSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packet size {} is outside the range 8192..=65536",
            self.0
        )
    }
}

impl std::error::Error for InvalidPacketSize {}
