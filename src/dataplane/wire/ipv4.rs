//! IPv4 headers (RFC 791).

use core::net::Ipv4Addr;

use super::{addr, get16, put16};

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL (low nibble, in 32-bit words).
    pub const VERSION_IHL: usize = 0;
    /// Total length.
    pub const TOTAL_LEN: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (high 3 bits) and fragment offset (in 8-byte units).
    pub const FLAGS_FRAGMENT: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC: Range<usize> = 12..16;
    /// Destination address.
    pub const DST: Range<usize> = 16..20;
    /// Length of a header without options.
    pub const HEADER_LEN: usize = 20;
}

/// Bits of the flags/fragment-offset word.
pub mod frag {
    /// Don't Fragment.
    pub const DF: u16 = 0x4000;
    /// More Fragments.
    pub const MF: u16 = 0x2000;
    /// The fragment offset, in 8-byte units.
    pub const OFFSET: u16 = 0x1fff;
}

/// Version 4, IHL 5: a header without options.
pub const VERSION_IHL_PLAIN: u8 = 0x45;

/// A view of an IPv4 packet; see the module docs of [`super`].
#[derive(Clone, Copy, Debug)]
pub struct Ipv4<T>(T);

impl<T: AsRef<[u8]>> Ipv4<T> {
    /// The view, if `buf` holds the fixed 20-byte header (to write one, or
    /// to read fields of a header checked before).
    #[inline]
    pub fn new(buf: T) -> Option<Ipv4<T>> {
        (buf.as_ref().len() >= field::HEADER_LEN).then_some(Ipv4(buf))
    }

    /// The view, if `buf` starts with a well-formed header: version 4, an
    /// IHL of at least 5, and the whole header (options too) in `buf`. The
    /// total length is not checked against `buf`.
    #[inline]
    pub fn new_checked(buf: T) -> Option<Ipv4<T>> {
        let ip = Ipv4::new(buf)?;
        let ok = ip.version() == 4
            && ip.header_len() >= field::HEADER_LEN
            && ip.header_len() <= ip.0.as_ref().len();
        ok.then_some(ip)
    }

    /// The bytes, as given.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// Version.
    #[inline]
    pub fn version(&self) -> u8 {
        self.0.as_ref()[field::VERSION_IHL] >> 4
    }

    /// Header length in bytes (from the IHL).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.0.as_ref()[field::VERSION_IHL] & 0x0f) * 4
    }

    /// Total length.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get16(self.0.as_ref(), field::TOTAL_LEN.start)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        get16(self.0.as_ref(), field::IDENT.start)
    }

    /// The flags/fragment-offset word ([`frag`]).
    #[inline]
    pub fn flags_fragment(&self) -> u16 {
        get16(self.0.as_ref(), field::FLAGS_FRAGMENT.start)
    }

    /// Don't Fragment is set.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.flags_fragment() & frag::DF != 0
    }

    /// More Fragments is set.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.flags_fragment() & frag::MF != 0
    }

    /// The fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_fragment() & frag::OFFSET
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.0.as_ref()[field::TTL]
    }

    /// Protocol number.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.0.as_ref()[field::PROTOCOL]
    }

    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.0.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        addr(self.0.as_ref(), field::SRC.start)
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        addr(self.0.as_ref(), field::DST.start)
    }

    /// The header, options included (empty if the IHL lies).
    #[inline]
    pub fn header(&self) -> &[u8] {
        self.0.as_ref().get(..self.header_len()).unwrap_or(&[])
    }

    /// What follows the header up to the end of the buffer (empty if the IHL
    /// lies).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.0.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4<T> {
    /// Sets version and IHL.
    #[inline]
    pub fn set_version_ihl(&mut self, v: u8) {
        self.0.as_mut()[field::VERSION_IHL] = v;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.0.as_mut(), field::TOTAL_LEN.start, v);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put16(self.0.as_mut(), field::IDENT.start, v);
    }

    /// Sets the flags/fragment-offset word ([`frag`]).
    #[inline]
    pub fn set_flags_fragment(&mut self, v: u16) {
        put16(self.0.as_mut(), field::FLAGS_FRAGMENT.start, v);
    }

    /// Sets the TTL.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.0.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol number.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.0.as_mut()[field::PROTOCOL] = v;
    }

    /// Sets the header checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.0.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.0.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.0.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// The buffer, writable.
    #[inline]
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.0.as_mut()
    }

    /// What follows the header, writable (empty if the IHL lies).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        self.0.as_mut().get_mut(at..).unwrap_or(&mut [])
    }
}
