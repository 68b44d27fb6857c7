//! How a fuzz input is read: a small header that picks the packet size, the body-mode
//! packets and the read splits, then the byte stream itself.
//!
//! ```text
//! size:u8  body_mask:u16  nsplits:u8  nsplits × split:u16  stream…
//! ```

use ajp_codec::PacketSize;

pub struct Input<'a> {
    pub packet_size: PacketSize,
    /// Packet `n` (n < 16) is decoded as a request body packet if bit `n` is set.
    pub body_mode: Vec<bool>,
    pub splits: Vec<usize>,
    pub stream: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&size, rest) = data.split_first()?;
        let packet_size = match size % 4 {
            0 => PacketSize::MIN,
            1 => PacketSize::MAX,
            2 => PacketSize::new(16384).unwrap(),
            _ => PacketSize::new(8192 + size as usize).unwrap(),
        };
        let (mask, rest) = rest.split_at_checked(2)?;
        let mask = u16::from_be_bytes([mask[0], mask[1]]);
        let (&n, rest) = rest.split_first()?;
        let (splits, stream) = rest.split_at_checked(2 * (n as usize % 16))?;
        Some(Self {
            packet_size,
            body_mode: (0..16).map(|i| mask & (1 << i) != 0).collect(),
            splits: splits
                .chunks(2)
                .map(|s| u16::from_be_bytes([s[0], s[1]]) as usize)
                .collect(),
            stream,
        })
    }
}
