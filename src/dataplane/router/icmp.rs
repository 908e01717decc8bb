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

use crate::dataplane::checksum;
use crate::dataplane::nacl::Way;
use crate::dataplane::packet::{parse_ipv4, L4};
use crate::dataplane::topology::{PortId, INTERNET_GATEWAY_IP};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::VnetHdr;
use crate::dataplane::wire::ethernet::{self, ether_type, Ethernet};
use crate::dataplane::wire::{icmp, ipv4, proto, Icmp, Ipv4};

use super::{Pass, Sink, TTL};

/// Original IP header plus this many bytes of its payload are quoted.
const QUOTE_PAYLOAD: usize = 8;

impl<'a, S: Sink> Pass<'a, S> {
    /// Answers an echo request to one of the router's addresses in place.
    pub(super) fn echo_reply(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        peer_mac: [u8; 6],
    ) -> Verdict {
        let Some(info) = parse_ipv4(ethernet::payload_of(frame)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        let is_request = matches!(
            info.l4,
            L4::Icmp {
                ty: icmp::ty::ECHO_REQUEST,
                code: 0,
                ..
            }
        );
        if !is_request || info.fragmented {
            return Verdict::Dropped(DropReason::RouterAddress);
        }
        let ip = ethernet::payload_of_mut(frame);
        let Some(mut h) = Ipv4::new(&mut *ip) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        h.set_src(info.dst);
        h.set_dst(info.src);
        h.set_ttl(TTL);
        if checksum::fill_ipv4_header_checksum(ip).is_err() {
            return Verdict::Dropped(DropReason::Malformed);
        }
        let Some(mut m) = ip.get_mut(info.ihl..).and_then(Icmp::new) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        let old = m.type_code();
        m.set_ty(icmp::ty::ECHO_REPLY);
        m.set_checksum(checksum::update16(m.checksum(), old, m.type_code()));
        ethernet::set_macs(frame, peer_mac, self.snap.router_mac);
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
        let orig_ip = ethernet::payload_of(frame);
        let Some(orig) = parse_ipv4(orig_ip) else {
            return;
        };
        if matches!(orig.l4, L4::Icmp { ident: None, .. }) {
            return; // never an error about an error
        }
        let quote = (orig.ihl + QUOTE_PAYLOAD).min(orig.total_len);
        let Some(quoted) = orig_ip.get(..quote) else {
            return;
        };
        let icmp_len = icmp::field::HEADER_LEN + quote;
        let ip_len = ipv4::field::HEADER_LEN + icmp_len;
        let len = ethernet::field::HEADER_LEN + ip_len;
        let Some(mut eth) = self.gen.get_mut(..len).and_then(Ethernet::new) else {
            return;
        };
        let peer_mac = sender_mac.unwrap_or(snap.internet_host_mac);
        eth.payload_mut().fill(0);
        eth.set_macs(peer_mac, snap.router_mac);
        eth.set_ether_type(ether_type::IPV4);
        let ip = eth.payload_mut();
        let Some(mut h) = Ipv4::new(&mut *ip) else {
            return;
        };
        h.set_version_ihl(ipv4::VERSION_IHL_PLAIN);
        h.set_total_len(u16::try_from(ip_len).unwrap_or(0));
        h.set_ttl(TTL);
        h.set_protocol(proto::ICMP);
        h.set_src(INTERNET_GATEWAY_IP);
        h.set_dst(orig.src);
        if checksum::fill_ipv4_header_checksum(ip).is_err() {
            return;
        }
        let Some(mut h) = Ipv4::new(&mut *ip) else {
            return;
        };
        let body = h.payload_mut();
        let Some(mut m) = Icmp::new(&mut *body) else {
            return;
        };
        m.set_ty(ty);
        m.set_code(code);
        m.set_next_hop_mtu(mtu);
        m.payload_mut().copy_from_slice(quoted);
        let c = checksum::checksum(body);
        if let Some(mut m) = Icmp::new(body) {
            m.set_checksum(c);
        }

        let Some(e) = sender_mac.and(snap.role(port).into_eni()) else {
            self.emit_gen(port, len);
            return;
        };
        // Back into the VPC: the ENI's subnet ACL and groups judge it.
        let Some(eni) = snap.eni(e) else { return };
        let Some(info) = self
            .gen
            .get(..len)
            .and_then(|f| parse_ipv4(ethernet::payload_of(f)))
        else {
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
