//! Ethernet II headers.

use super::{get16, mac, put16};

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// Destination MAC.
    pub const DST: Range<usize> = 0..6;
    /// Source MAC.
    pub const SRC: Range<usize> = 6..12;
    /// EtherType.
    pub const TYPE: Range<usize> = 12..14;
    /// Header length: the payload starts here.
    pub const HEADER_LEN: usize = 14;
}

/// EtherTypes the data plane knows.
pub mod ether_type {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

/// A view of an Ethernet frame; see the module docs of [`super`].
#[derive(Clone, Copy, Debug)]
pub struct Ethernet<T>(T);

impl<T: AsRef<[u8]>> Ethernet<T> {
    /// The view, if `buf` holds an Ethernet header.
    #[inline]
    pub fn new(buf: T) -> Option<Ethernet<T>> {
        (buf.as_ref().len() >= field::HEADER_LEN).then_some(Ethernet(buf))
    }

    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> [u8; 6] {
        mac(self.0.as_ref(), field::DST.start)
    }

    /// Source MAC.
    #[inline]
    pub fn src(&self) -> [u8; 6] {
        mac(self.0.as_ref(), field::SRC.start)
    }

    /// EtherType.
    #[inline]
    pub fn ether_type(&self) -> u16 {
        get16(self.0.as_ref(), field::TYPE.start)
    }

    /// What follows the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.0.as_ref()[field::HEADER_LEN..]
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ethernet<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst(&mut self, mac: [u8; 6]) {
        self.0.as_mut()[field::DST].copy_from_slice(&mac);
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src(&mut self, mac: [u8; 6]) {
        self.0.as_mut()[field::SRC].copy_from_slice(&mac);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ether_type(&mut self, t: u16) {
        put16(self.0.as_mut(), field::TYPE.start, t);
    }

    /// Sets both MACs: to `dst` from `src`.
    #[inline]
    pub fn set_macs(&mut self, dst: [u8; 6], src: [u8; 6]) {
        self.set_dst(dst);
        self.set_src(src);
    }

    /// What follows the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.0.as_mut()[field::HEADER_LEN..]
    }
}

/// The EtherType of an Ethernet frame, `None` if shorter than a header.
#[inline]
pub fn ether_type_of(frame: &[u8]) -> Option<u16> {
    Ethernet::new(frame).map(|e| e.ether_type())
}

/// The payload of an Ethernet frame (empty if shorter than a header).
#[inline]
pub fn payload_of(frame: &[u8]) -> &[u8] {
    frame.get(field::HEADER_LEN..).unwrap_or(&[])
}

/// The payload of an Ethernet frame, writable (empty if shorter than a header).
#[inline]
pub fn payload_of_mut(frame: &mut [u8]) -> &mut [u8] {
    frame.get_mut(field::HEADER_LEN..).unwrap_or(&mut [])
}

/// Sets both MACs of an Ethernet frame: to `dst` from `src` (nothing if
/// shorter than a header).
#[inline]
pub fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    if let Some(mut e) = Ethernet::new(frame) {
        e.set_macs(dst, src);
    }
}
