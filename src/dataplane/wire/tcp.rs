//! TCP headers (RFC 9293).

use super::{get16, get32, put16, put32};

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ: Range<usize> = 4..8;
    /// Acknowledgement number.
    pub const ACK: Range<usize> = 8..12;
    /// Data offset (high nibble, in 32-bit words).
    pub const DATA_OFFSET: usize = 12;
    /// Flags ([`super::super::tcp_flags`]).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Length of a header without options; options start here.
    pub const HEADER_LEN: usize = 20;
}

/// TCP option kinds the router reads.
pub mod option {
    /// End of the option list.
    pub const END: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size (length 4).
    pub const MSS: u8 = 2;
    /// Length of the MSS option.
    pub const MSS_LEN: u8 = 4;
}

/// A view of a TCP segment; see the module docs of [`super`].
#[derive(Clone, Copy, Debug)]
pub struct Tcp<T>(T);

impl<T: AsRef<[u8]>> Tcp<T> {
    /// The view, if `buf` holds the fixed 20-byte header.
    #[inline]
    pub fn new(buf: T) -> Option<Tcp<T>> {
        (buf.as_ref().len() >= field::HEADER_LEN).then_some(Tcp(buf))
    }

    /// The view, if `buf` holds the whole header, options included, and its
    /// data offset is at least 5.
    #[inline]
    pub fn new_checked(buf: T) -> Option<Tcp<T>> {
        let t = Tcp::new(buf)?;
        let len = t.header_len();
        (len >= field::HEADER_LEN && len <= t.0.as_ref().len()).then_some(t)
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

    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        get32(self.0.as_ref(), field::SEQ.start)
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack(&self) -> u32 {
        get32(self.0.as_ref(), field::ACK.start)
    }

    /// Header length in bytes (from the data offset).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.0.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.0.as_ref()[field::FLAGS]
    }

    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        get16(self.0.as_ref(), field::WINDOW.start)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.0.as_ref(), field::CHECKSUM.start)
    }

    /// The options (empty if the data offset lies).
    #[inline]
    pub fn options(&self) -> &[u8] {
        self.0
            .as_ref()
            .get(field::HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tcp<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq(&mut self, v: u32) {
        put32(self.0.as_mut(), field::SEQ.start, v);
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack(&mut self, v: u32) {
        put32(self.0.as_mut(), field::ACK.start, v);
    }

    /// Sets the header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        self.0.as_mut()[field::DATA_OFFSET] = (len / 4) << 4;
    }

    /// Sets the flags.
    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.0.as_mut()[field::FLAGS] = v;
    }

    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        put16(self.0.as_mut(), field::WINDOW.start, v);
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.0.as_mut(), field::CHECKSUM.start, v);
    }

    /// The segment, writable.
    #[inline]
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.0.as_mut()
    }
}
