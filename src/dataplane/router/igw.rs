//! The internet gateway: 1:1 NAT, one hop, a 1500-byte MTU.
//!
//! Outbound, an ENI's private source address becomes its public address;
//! inbound, the public destination becomes the private one and the packet
//! enters the VPC as any outside packet does (destination ACL in, ENI's
//! groups in). The regional services (S3, DynamoDB) sit behind the gateway
//! as on the internet. A packet for another VPC's public address leaves
//! through one gateway and enters through the other, with both VPCs' rules.
//!
//! Contract: the gateway is one hop both ways: TTL − 1, and a packet that
//! would expire gets ICMP Time Exceeded from 203.0.113.1. A packet (or GSO
//! segment) larger than 1500 bytes gets Fragmentation Needed when DF is set
//! and is sent as IPv4 fragments when it is clear. Size and TTL are judged
//! on the packet as the instance sent it. See
//! `docs/decisions/0005-router-semantics.md`.

use crate::dataplane::checksum::{self, AddrField};
use crate::dataplane::packet::{parse_ipv4, Ipv4Info};
use crate::dataplane::topology::{
    EniRole, PortId, Role, IGW_MTU, INTERNET_GATEWAY_IP, INTERNET_NET, VPC_MTU,
};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::{Gso, VnetHdr};
use crate::dataplane::wire::{ethernet, icmp, ipv4, Ipv4};

use super::nlb::Via;
use super::output::{gso_headers, l4_mode};
use super::{Pass, Sender, Sink, Track};

impl<'a, S: Sink> Pass<'a, S> {
    /// A packet from the emulated internet or the regional services.
    pub(super) fn handle_from_outside(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let from_region = snap.role(port) == Role::Region;
        if info.dst == INTERNET_GATEWAY_IP && !from_region {
            // The internet host's resolver, else the gateway answering ping.
            if matches!(info.l4.ports(), Some((_, 53))) && port == snap.internet_port {
                return self.send_to_service(snap.internet_dns_port, frame, &vnet);
            }
            return self.echo_reply(port, frame, snap.internet_host_mac);
        }
        if snap.is_region_service(info.dst) && !from_region {
            return self.send_to_service(snap.region_port, frame, &vnet);
        }
        if INTERNET_NET.contains(&info.dst) && from_region {
            return self.send_to_internet(frame, &vnet);
        }
        let Some(e) = snap.eni_by_public_ip(info.dst) else {
            return Verdict::Dropped(DropReason::NoSuchPublicAddress);
        };
        let Some(eni) = snap.eni(e) else {
            return Verdict::Dropped(DropReason::NoSuchPublicAddress);
        };
        if snap.vpc(eni.vpc).is_none_or(|v| v.igw.is_none()) {
            return Verdict::Dropped(DropReason::NoInternetGateway(eni.vpc));
        }
        // The internet gateway is a hop.
        if checksum::ipv4_decrement_ttl(ethernet::payload_of_mut(frame)).is_err() {
            self.icmp_error(
                port,
                None,
                frame,
                icmp::ty::TIME_EXCEEDED,
                icmp::code::TTL_EXCEEDED,
                0,
            );
            return Verdict::Dropped(DropReason::TtlExceeded);
        }
        // An internet-facing load balancer's node.
        if let EniRole::LbNode { nlb, node } = eni.role {
            return self.through_nlb(nlb, usize::from(node), Via::Internet, frame, vnet, info);
        }
        self.inbound(e, frame, vnet, info, eni.ip, Some(eni.ip))
    }

    /// A packet that has left through an internet gateway (its source already public): to a
    /// regional service, into another VPC through that VPC's internet gateway (exactly as a
    /// packet from the emulated internet), or to the emulated internet.
    pub(super) fn toward_public_address(&mut self, frame: &mut [u8], vnet: VnetHdr) -> Verdict {
        let snap = self.snap;
        let Some(info) = parse_ipv4(ethernet::payload_of(frame)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        if snap.is_region_service(info.dst) {
            self.send_to_service(snap.region_port, frame, &vnet)
        } else if snap.eni_by_public_ip(info.dst).is_some() {
            self.handle_from_outside(snap.internet_port, frame, vnet, &info)
        } else {
            self.send_to_internet(frame, &vnet)
        }
    }

    /// Out through the internet gateway: 1:1 NAT, a hop, a 1500-byte MTU.
    pub(super) fn out_igw(
        &mut self,
        port: PortId,
        sender: Sender<'_>,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        track: &mut Track,
    ) -> Verdict {
        let eni = sender.eni;
        let Some(public) = eni.public_ip else {
            return self.reject(
                DropReason::NoPublicIp(sender.ix),
                eni.vpc,
                Some(sender.ix),
                info,
                track.key,
            );
        };
        // Judge the size and the TTL on the packet as the instance sent it.
        if let Some(v) = self.igw_mtu(port, Some(eni.mac), frame, &vnet, info) {
            return v;
        }
        if Ipv4::new(ethernet::payload_of(frame)).is_none_or(|h| h.ttl() <= 1) {
            self.icmp_error(
                port,
                Some(eni.mac),
                frame,
                icmp::ty::TIME_EXCEEDED,
                icmp::code::TTL_EXCEEDED,
                0,
            );
            return Verdict::Dropped(DropReason::TtlExceeded);
        }
        if let Err(d) = self.commit(track, eni.vpc, Some(sender.ix), eni.subnet, info) {
            return Verdict::Dropped(d);
        }
        let ip = ethernet::payload_of_mut(frame);
        let rewritten = checksum::ipv4_decrement_ttl(ip).is_ok()
            && checksum::ipv4_rewrite_addr(ip, AddrField::Src, public, l4_mode(&vnet)).is_ok();
        if !rewritten {
            return Verdict::Dropped(DropReason::Malformed);
        }
        self.toward_public_address(frame, vnet)
    }

    /// The internet gateway's MTU: `Some(verdict)` when the packet is too big
    /// and was answered with Fragmentation Needed or sent as fragments.
    fn igw_mtu(
        &mut self,
        port: PortId,
        sender_mac: Option<[u8; 6]>,
        frame: &mut [u8],
        vnet: &VnetHdr,
        info: &Ipv4Info,
    ) -> Option<Verdict> {
        match fits_mtu(frame, vnet, info, IGW_MTU) {
            Err(()) => Some(Verdict::Dropped(DropReason::Malformed)),
            Ok(true) => None,
            Ok(false) if info.dont_fragment => {
                self.frag_needed(port, sender_mac, frame, IGW_MTU);
                Some(Verdict::Dropped(DropReason::MtuExceeded))
            }
            Ok(false) => None,
        }
    }

    /// The VPC's MTU for a packet an instance sent: `Some(verdict)` when it is larger (dropped;
    /// Fragmentation Needed sent when DF is set).
    pub(super) fn vpc_mtu(
        &mut self,
        port: PortId,
        sender_mac: [u8; 6],
        frame: &mut [u8],
        vnet: &VnetHdr,
        info: &Ipv4Info,
    ) -> Option<Verdict> {
        match fits_mtu(frame, vnet, info, VPC_MTU) {
            Err(()) => Some(Verdict::Dropped(DropReason::Malformed)),
            Ok(true) => None,
            Ok(false) => {
                if info.dont_fragment {
                    self.frag_needed(port, Some(sender_mac), frame, VPC_MTU);
                }
                Some(Verdict::Dropped(DropReason::VpcMtuExceeded))
            }
        }
    }

    /// Answers a packet too big for `mtu` with ICMP Fragmentation Needed.
    fn frag_needed(&mut self, port: PortId, sender_mac: Option<[u8; 6]>, frame: &[u8], mtu: u16) {
        self.icmp_error(
            port,
            sender_mac,
            frame,
            icmp::ty::DEST_UNREACHABLE,
            icmp::code::FRAG_NEEDED,
            mtu,
        );
    }

    /// Sends a DF-clear packet larger than the internet gateway's MTU as IPv4
    /// fragments.
    pub(super) fn fragment(&mut self, port: PortId, frame: &mut [u8], vnet: &VnetHdr) -> Verdict {
        if vnet.needs_csum()
            && checksum::complete_partial(
                frame,
                usize::from(vnet.csum_start),
                usize::from(vnet.csum_offset),
            )
            .is_err()
        {
            return Verdict::Dropped(DropReason::Malformed);
        }
        let ip = ethernet::payload_of(frame);
        let (Some(info), Some(h)) = (parse_ipv4(ip), Ipv4::new(ip)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        let ihl = info.ihl;
        let base_offset = usize::from(h.frag_offset()) * 8;
        let had_mf = h.more_fragments();
        // Every fragment: the frame's Ethernet and IP headers, then its part.
        let headers_len = ethernet::field::HEADER_LEN + ihl;
        let (Some(headers), Some(payload)) =
            (frame.get(..headers_len), ip.get(ihl..info.total_len))
        else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        let chunk = (usize::from(IGW_MTU) - ihl) & !7;
        let mut sent = 0;
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let last = end == payload.len();
            let len = headers_len + (end - off);
            let Some(out) = self.gen.get_mut(..len) else {
                return Verdict::Dropped(DropReason::Malformed);
            };
            let (out_headers, out_payload) = out.split_at_mut(headers_len);
            out_headers.copy_from_slice(headers);
            out_payload.copy_from_slice(&payload[off..end]);
            let o = ethernet::payload_of_mut(out);
            let Some(mut h) = Ipv4::new(&mut *o) else {
                return Verdict::Dropped(DropReason::Malformed);
            };
            h.set_total_len(u16::try_from(ihl + end - off).unwrap_or(u16::MAX));
            let mf = if last && !had_mf { 0 } else { ipv4::frag::MF };
            let offset = u16::try_from((base_offset + off) / 8).unwrap_or(0) & ipv4::frag::OFFSET;
            h.set_flags_fragment(mf | offset);
            if checksum::fill_ipv4_header_checksum(o).is_err() {
                return Verdict::Dropped(DropReason::Malformed);
            }
            self.emit_gen(port, len);
            sent += 1;
            off = end;
        }
        if sent == 0 {
            return Verdict::Dropped(DropReason::Malformed);
        }
        Verdict::Forwarded(port)
    }
}

/// Whether the packet, or each segment of a GSO frame (IP and L4 headers plus at most
/// `gso_size` bytes), fits `mtu`; `Err` for a malformed GSO header.
fn fits_mtu(frame: &[u8], vnet: &VnetHdr, info: &Ipv4Info, mtu: u16) -> Result<bool, ()> {
    let mtu = usize::from(mtu);
    match vnet.gso() {
        Ok(Gso::None) => Ok(info.total_len <= mtu),
        Ok(_) => {
            Ok(gso_headers(frame, info).is_some_and(|h| h + usize::from(vnet.gso_size) <= mtu))
        }
        Err(_) => Err(()),
    }
}
