//! ARP for IPv4 over Ethernet (RFC 826), the only ARP a VPC carries.

use core::net::Ipv4Addr;

use super::{addr, get16, mac, put16};

/// Byte offsets of the packet fields.
pub mod field {
    use core::ops::Range;
    /// Hardware type, protocol type, their lengths.
    pub const FIXED: Range<usize> = 0..6;
    /// Operation.
    pub const OP: Range<usize> = 6..8;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address.
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address.
    pub const TPA: Range<usize> = 24..28;
    /// Packet length.
    pub const LEN: usize = 28;
}

/// htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
pub const ETHER_IPV4: [u8; 6] = [0, 1, 8, 0, 6, 4];
/// Operation: request.
pub const REQUEST: u16 = 1;
/// Operation: reply.
pub const REPLY: u16 = 2;

/// A view of an ARP packet; see the module docs of [`super`].
#[derive(Clone, Copy, Debug)]
pub struct Arp<T>(T);

impl<T: AsRef<[u8]>> Arp<T> {
    /// The view, if `buf` holds a whole Ethernet/IPv4 ARP packet.
    #[inline]
    pub fn new(buf: T) -> Option<Arp<T>> {
        (buf.as_ref().len() >= field::LEN).then_some(Arp(buf))
    }

    /// Whether it is Ethernet/IPv4 ARP ([`ETHER_IPV4`]).
    #[inline]
    pub fn is_ether_ipv4(&self) -> bool {
        self.0.as_ref()[field::FIXED] == ETHER_IPV4
    }

    /// Operation.
    #[inline]
    pub fn op(&self) -> u16 {
        get16(self.0.as_ref(), field::OP.start)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> [u8; 6] {
        mac(self.0.as_ref(), field::SHA.start)
    }

    /// Sender protocol address.
    #[inline]
    pub fn spa(&self) -> Ipv4Addr {
        addr(self.0.as_ref(), field::SPA.start)
    }

    /// Target protocol address.
    #[inline]
    pub fn tpa(&self) -> Ipv4Addr {
        addr(self.0.as_ref(), field::TPA.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Arp<T> {
    /// Sets the operation.
    #[inline]
    pub fn set_op(&mut self, op: u16) {
        put16(self.0.as_mut(), field::OP.start, op);
    }

    /// Sets the sender's addresses.
    #[inline]
    pub fn set_sender(&mut self, mac: [u8; 6], ip: Ipv4Addr) {
        let b = self.0.as_mut();
        b[field::SHA].copy_from_slice(&mac);
        b[field::SPA].copy_from_slice(&ip.octets());
    }

    /// Sets the target's addresses.
    #[inline]
    pub fn set_target(&mut self, mac: [u8; 6], ip: Ipv4Addr) {
        let b = self.0.as_mut();
        b[field::THA].copy_from_slice(&mac);
        b[field::TPA].copy_from_slice(&ip.octets());
    }
}
