//! Parsing a frame into what the forwarding rules look at.
//!
//! Contract: [`parse_ipv4`] reads an IPv4 packet (headers validated with
//! etherparse) and returns an [`Ipv4Info`]: addresses, protocol, TTL,
//! fragmentation, and the L4 fields that security groups, network ACLs and
//! connection tracking match on. It never panics and never reads past the
//! IP total length; anything malformed is `None`. Frame bytes are never
//! indexed with raw offsets elsewhere: the field positions live in [`eth`]
//! and in `checksum::field`.

use core::net::Ipv4Addr;

use etherparse::{Ipv4HeaderSlice, TcpHeaderSlice};

/// Ethernet header fields.
pub mod eth {
    use core::ops::Range;

    /// Destination MAC.
    pub const DST: Range<usize> = 0..6;
    /// Source MAC.
    pub const SRC: Range<usize> = 6..12;
    /// EtherType.
    pub const TYPE: Range<usize> = 12..14;
    /// Header length.
    pub const LEN: usize = 14;
    /// EtherType IPv4.
    pub const IPV4: u16 = 0x0800;
    /// EtherType ARP.
    pub const ARP: u16 = 0x0806;
    /// EtherType IPv6.
    pub const IPV6: u16 = 0x86dd;
}

/// IP protocol numbers.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// TCP flag bits (byte 13 of the header) the router reads or writes.
pub mod tcp_flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement number is valid.
    pub const ACK: u8 = 0x10;
}

/// ICMP types the router reads or writes.
pub mod icmp_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// The EtherType of an Ethernet frame, `None` if shorter than a header.
pub fn ether_type(frame: &[u8]) -> Option<u16> {
    match frame.get(eth::TYPE) {
        Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

/// The L4 fields a rule can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP ports and flags (byte 13).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Flags.
        flags: u8,
    },
    /// UDP ports.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// An ICMP message: type, code, and for echo the identifier.
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Echo identifier (echo request/reply only).
        ident: Option<u16>,
    },
    /// Another protocol, or a non-first fragment (no L4 header).
    Opaque,
}

impl L4 {
    /// Source and destination port for TCP/UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match *self {
            L4::Tcp {
                src_port, dst_port, ..
            }
            | L4::Udp { src_port, dst_port } => Some((src_port, dst_port)),
            _ => None,
        }
    }

    /// TCP flags, 0 for everything else.
    pub fn tcp_flags(&self) -> u8 {
        match *self {
            L4::Tcp { flags, .. } => flags,
            _ => 0,
        }
    }
}

/// What the router needs to know of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    /// IP header length.
    pub ihl: usize,
    /// IP total length (the packet; anything after it is padding).
    pub total_len: usize,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Don't Fragment is set.
    pub dont_fragment: bool,
    /// Part of a fragmented datagram (MF set or offset non-zero).
    pub fragmented: bool,
    /// L4 fields (first fragment or whole packet only).
    pub l4: L4,
}

/// Parses the IPv4 packet at the front of `ip` (which may carry padding).
pub fn parse_ipv4(ip: &[u8]) -> Option<Ipv4Info> {
    let h = Ipv4HeaderSlice::from_slice(ip).ok()?;
    let ihl = h.slice().len();
    let total_len = usize::from(h.total_len());
    if total_len < ihl || total_len > ip.len() {
        return None;
    }
    let offset = h.fragments_offset().value();
    let fragmented = h.more_fragments() || offset != 0;
    let protocol = h.protocol().0;
    let body = ip.get(ihl..total_len)?;
    let l4 = if offset != 0 {
        L4::Opaque
    } else {
        parse_l4(protocol, body, fragmented)?
    };
    Some(Ipv4Info {
        ihl,
        total_len,
        src: h.source_addr(),
        dst: h.destination_addr(),
        protocol,
        ttl: h.ttl(),
        dont_fragment: h.dont_fragment(),
        fragmented,
        l4,
    })
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

fn parse_l4(protocol: u8, body: &[u8], fragmented: bool) -> Option<L4> {
    Some(match protocol {
        proto::TCP => match TcpHeaderSlice::from_slice(body) {
            Ok(t) => L4::Tcp {
                src_port: t.source_port(),
                dst_port: t.destination_port(),
                flags: body.get(13).copied().unwrap_or(0),
            },
            // A first fragment may cut the TCP header short.
            Err(_) if fragmented => L4::Opaque,
            Err(_) => return None,
        },
        proto::UDP => match (be16(body, 0), be16(body, 2)) {
            (Some(src_port), Some(dst_port)) => L4::Udp { src_port, dst_port },
            _ if fragmented => L4::Opaque,
            _ => return None,
        },
        proto::ICMP => {
            let ty = *body.first()?;
            let code = *body.get(1)?;
            let ident = match ty {
                icmp_type::ECHO_REQUEST | icmp_type::ECHO_REPLY => Some(be16(body, 4)?),
                _ => None,
            };
            L4::Icmp { ty, code, ident }
        }
        _ => L4::Opaque,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_packet(flags_syn: bool) -> Vec<u8> {
        let mut b = PacketBuilder::ipv4([10, 0, 0, 5], [10, 0, 1, 7], 64).tcp(40000, 22, 1, 64240);
        if flags_syn {
            b = b.syn();
        }
        let mut out = Vec::new();
        b.write(&mut out, b"hi").unwrap();
        out
    }

    #[test]
    fn tcp_fields() {
        let p = tcp_packet(true);
        let i = parse_ipv4(&p).unwrap();
        assert_eq!(i.src, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(i.dst, Ipv4Addr::new(10, 0, 1, 7));
        assert_eq!(i.protocol, proto::TCP);
        assert_eq!(i.ttl, 64);
        assert_eq!(i.total_len, p.len());
        assert_eq!(
            i.l4,
            L4::Tcp {
                src_port: 40000,
                dst_port: 22,
                flags: 0x02
            }
        );
    }

    #[test]
    fn padding_is_ignored_and_truncation_rejected() {
        let mut p = tcp_packet(false);
        let len = p.len();
        p.extend_from_slice(&[0; 10]);
        assert_eq!(parse_ipv4(&p).unwrap().total_len, len);
        assert!(parse_ipv4(&p[..len - 1]).is_none());
        assert!(parse_ipv4(&p[..10]).is_none());
    }

    #[test]
    fn icmp_echo_ident() {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 5], [10, 0, 0, 1], 64)
            .icmpv4_echo_request(0x1234, 1)
            .write(&mut out, b"ping")
            .unwrap();
        let i = parse_ipv4(&out).unwrap();
        assert_eq!(
            i.l4,
            L4::Icmp {
                ty: icmp_type::ECHO_REQUEST,
                code: 0,
                ident: Some(0x1234)
            }
        );
    }

    #[test]
    fn non_first_fragment_has_no_ports() {
        let mut p = tcp_packet(false);
        // Fragment offset 8 (in 8-byte units: 1).
        p[6] = 0;
        p[7] = 1;
        let i = parse_ipv4(&p).unwrap();
        assert!(i.fragmented);
        assert_eq!(i.l4, L4::Opaque);
    }
}
