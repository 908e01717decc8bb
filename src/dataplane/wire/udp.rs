//! UDP headers (RFC 768).

use super::{get16, put16};

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length (header and payload).
    pub const LEN: Range<usize> = 4..6;
    /// Checksum (0: none, over IPv4).
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Header length.
    pub const HEADER_LEN: usize = 8;
}

/// The ports at the front of `buf`, which needs only their 4 bytes (a first
/// fragment may cut the header short).
#[inline]
pub fn ports_of(buf: &[u8]) -> Option<(u16, u16)> {
    (buf.len() >= field::LEN.start).then(|| {
        (
            get16(buf, field::SRC_PORT.start),
            get16(buf, field::DST_PORT.start),
        )
    })
}

/// A view of a UDP datagram; see the module docs of [`super`].
#[derive(Clone, Copy, Debug)]
pub struct Udp<T>(T);

impl<T: AsRef<[u8]>> Udp<T> {
    /// The view, if `buf` holds the 8-byte header.
    #[inline]
    pub fn new(buf: T) -> Option<Udp<T>> {
        (buf.as_ref().len() >= field::HEADER_LEN).then_some(Udp(buf))
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get16(self.0.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.0.as_ref(), field::DST_PORT.start)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.0.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Udp<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.0.as_mut(), field::SRC_PORT.start, v);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.0.as_mut(), field::DST_PORT.start, v);
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.0.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the length.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        put16(self.0.as_mut(), field::LEN.start, v);
    }
}
