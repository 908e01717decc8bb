//! ICMP messages (RFC 792).

use super::{get16, put16};

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Type and code as one 16-bit word (what the checksum sums).
    pub const TYPE_CODE: Range<usize> = 0..2;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Echo request/reply: identifier.
    pub const IDENT: Range<usize> = 4..6;
    /// Fragmentation Needed: the next-hop MTU.
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    /// Header length; an error's quote starts here.
    pub const HEADER_LEN: usize = 8;
}

/// ICMP types the router reads or writes.
pub mod ty {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// ICMP codes the router writes.
pub mod code {
    /// Time Exceeded: TTL exceeded in transit.
    pub const TTL_EXCEEDED: u8 = 0;
    /// Destination Unreachable: fragmentation needed and DF set.
    pub const FRAG_NEEDED: u8 = 4;
}

/// Type and code at the front of `buf`, which needs only their 2 bytes.
#[inline]
pub fn type_code_of(buf: &[u8]) -> Option<(u8, u8)> {
    match buf.get(field::TYPE_CODE) {
        Some(&[t, c]) => Some((t, c)),
        _ => None,
    }
}

/// The echo identifier of `buf`, which needs only the bytes up to it.
#[inline]
pub fn ident_of(buf: &[u8]) -> Option<u16> {
    (buf.len() >= field::IDENT.end).then(|| get16(buf, field::IDENT.start))
}

/// A view of an ICMP message; see the module docs of [`super`].
#[derive(Clone, Copy, Debug)]
pub struct Icmp<T>(T);

impl<T: AsRef<[u8]>> Icmp<T> {
    /// The view, if `buf` holds type, code and checksum (what every ICMP
    /// message has; the rest of the header depends on the type).
    #[inline]
    pub fn new(buf: T) -> Option<Icmp<T>> {
        (buf.as_ref().len() >= field::CHECKSUM.end).then_some(Icmp(buf))
    }

    /// Type.
    #[inline]
    pub fn ty(&self) -> u8 {
        self.0.as_ref()[field::TYPE]
    }

    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.0.as_ref()[field::CODE]
    }

    /// Type and code as one 16-bit word.
    #[inline]
    pub fn type_code(&self) -> u16 {
        get16(self.0.as_ref(), field::TYPE_CODE.start)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.0.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmp<T> {
    /// Sets the type.
    #[inline]
    pub fn set_ty(&mut self, v: u8) {
        self.0.as_mut()[field::TYPE] = v;
    }

    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.0.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.0.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the next-hop MTU (Fragmentation Needed); `false` if the message
    /// is too short to hold it.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) -> bool {
        let b = self.0.as_mut();
        let fits = b.len() >= field::NEXT_HOP_MTU.end;
        if fits {
            put16(b, field::NEXT_HOP_MTU.start, v);
        }
        fits
    }

    /// What follows the 8-byte header (an error's quote), writable; empty if
    /// the message is shorter.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.0
            .as_mut()
            .get_mut(field::HEADER_LEN..)
            .unwrap_or(&mut [])
    }
}
