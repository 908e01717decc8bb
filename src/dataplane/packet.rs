//! Parsing a frame into what the forwarding rules look at.
//!
//! Contract: [`parse_ipv4`] reads an IPv4 packet (headers validated through
//! the [`wire`](super::wire) views) and returns an [`Ipv4Info`]: addresses,
//! protocol, TTL, fragmentation, and the L4 fields that security groups,
//! network ACLs and connection tracking match on. It never panics and never
//! reads past the IP total length; anything malformed is `None`. The
//! `Ipv4Info` is the one parse result handed to the stages of the router.

use core::net::Ipv4Addr;

use super::wire::{icmp, proto, udp, Ipv4, Tcp};

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
    let h = Ipv4::new_checked(ip)?;
    let ihl = h.header_len();
    let total_len = usize::from(h.total_len());
    if total_len < ihl || total_len > ip.len() {
        return None;
    }
    let offset = h.frag_offset();
    let fragmented = h.more_fragments() || offset != 0;
    let protocol = h.protocol();
    let body = ip.get(ihl..total_len)?;
    let l4 = if offset != 0 {
        L4::Opaque
    } else {
        parse_l4(protocol, body, fragmented)?
    };
    Some(Ipv4Info {
        ihl,
        total_len,
        src: h.src(),
        dst: h.dst(),
        protocol,
        ttl: h.ttl(),
        dont_fragment: h.dont_fragment(),
        fragmented,
        l4,
    })
}

fn parse_l4(protocol: u8, body: &[u8], fragmented: bool) -> Option<L4> {
    Some(match protocol {
        proto::TCP => match Tcp::new_checked(body) {
            Some(t) => L4::Tcp {
                src_port: t.src_port(),
                dst_port: t.dst_port(),
                flags: t.flags(),
            },
            // A first fragment may cut the TCP header short.
            None if fragmented => L4::Opaque,
            None => return None,
        },
        proto::UDP => match udp::ports_of(body) {
            Some((src_port, dst_port)) => L4::Udp { src_port, dst_port },
            None if fragmented => L4::Opaque,
            None => return None,
        },
        proto::ICMP => {
            let (ty, code) = icmp::type_code_of(body)?;
            let ident = match ty {
                icmp::ty::ECHO_REQUEST | icmp::ty::ECHO_REPLY => Some(icmp::ident_of(body)?),
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
                ty: icmp::ty::ECHO_REQUEST,
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
