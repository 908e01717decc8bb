//! ICMP the router writes itself: echo replies and errors.
//!
//! The router answers pings to its own addresses (the subnet router `.1`,
//! the internet gateway's 203.0.113.1) and sends the errors a hop owes its
//! sender: Time Exceeded and Fragmentation Needed, from the internet
//! gateway's address.
//!
//! Contract: an echo reply is written in place over the request. An error
//! is built in the router's own buffer, quotes the original IP header plus
//! 8 bytes, is never sent about another ICMP error, and, going back into a
//! VPC, passes the ENI's subnet ACL and security groups as AWS documents for
//! Path MTU Discovery. Nothing here allocates.

use core::ops::Range;

use crate::dataplane::checksum::{self, field as ipf};
use crate::dataplane::nacl::Way;
use crate::dataplane::packet::{eth, icmp_type, parse_ipv4, proto, L4};
use crate::dataplane::topology::{PortId, INTERNET_GATEWAY_IP};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::VnetHdr;

use super::{Pass, Sink, TTL};

// ICMP header positions.
const TYPE: usize = 0;
const CHECKSUM: Range<usize> = 2..4;
/// Fragmentation Needed: the next-hop MTU.
const NEXT_HOP_MTU: Range<usize> = 6..8;
const HDR_LEN: usize = 8;
/// Original IP header plus this many bytes of its payload are quoted.
const QUOTE_PAYLOAD: usize = 8;
pub(super) const CODE_FRAG_NEEDED: u8 = 4;
pub(super) const CODE_TTL: u8 = 0;

impl<'a, S: Sink> Pass<'a, S> {
    /// Answers an echo request to one of the router's addresses in place.
    pub(super) fn echo_reply(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        peer_mac: [u8; 6],
    ) -> Verdict {
        let Some(info) = frame.get(eth::LEN..).and_then(parse_ipv4) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        let is_request = matches!(
            info.l4,
            L4::Icmp {
                ty: icmp_type::ECHO_REQUEST,
                code: 0,
                ..
            }
        );
        if !is_request || info.fragmented {
            return Verdict::Dropped(DropReason::RouterAddress);
        }
        let ip = &mut frame[eth::LEN..];
        let (src, dst) = (info.src.octets(), info.dst.octets());
        ip[ipf::SRC].copy_from_slice(&dst);
        ip[ipf::DST].copy_from_slice(&src);
        ip[ipf::TTL] = TTL;
        if checksum::fill_ipv4_header_checksum(ip).is_err() {
            return Verdict::Dropped(DropReason::Malformed);
        }
        let l4 = &mut ip[info.ihl..];
        let old = u16::from_be_bytes([l4[TYPE], l4[1]]);
        l4[TYPE] = icmp_type::ECHO_REPLY;
        let new = u16::from_be_bytes([l4[TYPE], l4[1]]);
        let c = u16::from_be_bytes([l4[CHECKSUM][0], l4[CHECKSUM][1]]);
        l4[CHECKSUM].copy_from_slice(&checksum::update16(c, old, new).to_be_bytes());
        frame[eth::DST].copy_from_slice(&peer_mac);
        frame[eth::SRC].copy_from_slice(&self.snap.router_mac);
        self.emit(port, &VnetHdr::PLAIN, frame);
        Verdict::Answered
    }

    /// Sends an ICMP error about `frame` (as its sender sent it) back to the
    /// sender on `port`, from the internet gateway's address. To an ENI
    /// (`sender_mac` given) it passes the subnet's ACL and the ENI's groups,
    /// as AWS documents for Path MTU Discovery.
    pub(super) fn icmp_error(
        &mut self,
        port: PortId,
        sender_mac: Option<[u8; 6]>,
        frame: &[u8],
        ty: u8,
        code: u8,
        mtu: u16,
    ) {
        let snap = self.snap;
        let Some(orig) = frame.get(eth::LEN..).and_then(parse_ipv4) else {
            return;
        };
        if matches!(orig.l4, L4::Icmp { ident: None, .. }) {
            return; // never an error about an error
        }
        let quote = (orig.ihl + QUOTE_PAYLOAD).min(orig.total_len);
        let icmp_len = HDR_LEN + quote;
        let ip_len = 20 + icmp_len;
        let len = eth::LEN + ip_len;
        let Some(out) = self.gen.get_mut(..len) else {
            return;
        };
        out.fill(0);
        let peer_mac = sender_mac.unwrap_or(snap.internet_host_mac);
        out[eth::DST].copy_from_slice(&peer_mac);
        out[eth::SRC].copy_from_slice(&snap.router_mac);
        out[eth::TYPE].copy_from_slice(&eth::IPV4.to_be_bytes());
        let ip = &mut out[eth::LEN..];
        ip[ipf::VERSION_IHL] = 0x45;
        ip[ipf::TOTAL_LEN].copy_from_slice(&u16::try_from(ip_len).unwrap_or(0).to_be_bytes());
        ip[ipf::TTL] = TTL;
        ip[ipf::PROTOCOL] = proto::ICMP;
        ip[ipf::SRC].copy_from_slice(&INTERNET_GATEWAY_IP.octets());
        ip[ipf::DST].copy_from_slice(&orig.src.octets());
        if checksum::fill_ipv4_header_checksum(ip).is_err() {
            return;
        }
        let body = &mut ip[20..];
        body[TYPE] = ty;
        body[1] = code;
        body[NEXT_HOP_MTU].copy_from_slice(&mtu.to_be_bytes());
        body[HDR_LEN..].copy_from_slice(&frame[eth::LEN..eth::LEN + quote]);
        let c = checksum::checksum(body);
        body[CHECKSUM].copy_from_slice(&c.to_be_bytes());

        let Some(e) = sender_mac.and(snap.role(port).into_eni()) else {
            self.emit_gen(port, len);
            return;
        };
        // Back into the VPC: the ENI's subnet ACL and groups judge it.
        let Some(eni) = snap.eni(e) else { return };
        let Some(info) = self.gen.get(eth::LEN..len).and_then(parse_ipv4) else {
            return;
        };
        let verdict = if let Err(d) = self.nacl(eni.subnet, Way::In, &info, info.src) {
            Verdict::Dropped(d)
        } else if self.groups_allow(eni, true, &info, info.src).is_none() {
            Verdict::Dropped(DropReason::SgIngressDenied(e))
        } else {
            self.emit_gen(port, len);
            Verdict::Answered
        };
        self.counters.count(&verdict);
    }
}
