//! The Network Load Balancer stage: a client's packet for a load balancer node becomes the
//! target's packet, and the target's reply becomes the node's.
//!
//! Contract (AWS's NLB, `docs/decisions/0010-privatelink-and-nlb.md`):
//! - A client reaches a node at its private IP (from its VPC), its public IP (through an
//!   internet gateway), or through a PrivateLink endpoint's network interface (the endpoint
//!   stage hands the packet over with the node of the endpoint's AZ). A new flow (a TCP SYN,
//!   or any UDP packet) to a listener's port picks a target of the listener's group by flow
//!   hash among the healthy targets of the node's AZ (all AZs with cross-zone on), or among
//!   all of them when none is healthy (fail open). The flow is pinned in
//!   [`Sessions`](crate::dataplane::nlb::Sessions) both ways until it idles out or is reset.
//! - The packet is rewritten to the target (DNAT of address and port); its source becomes
//!   the node's private IP and a port of the node (SNAT) for PrivateLink traffic and when
//!   client IP preservation is off, else stays the client's. Checksums are patched
//!   incrementally, partial ones included; a GSO super-frame stays one frame.
//! - The target side is a delivery into the provider VPC: the target subnet's network ACL
//!   in and the target's security groups in (stateful), exactly as for any other packet.
//!   The target's reply passes its own groups out (tracked) and is rewritten back to come
//!   from the address the client connected to, then enters the client's side as any
//!   packet does (its ACL and groups in, or the internet gateway's way back).
//! - The node's security groups, when the load balancer has some, judge the client's
//!   packet (on PrivateLink traffic only while `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic`
//!   is on). Packets to a node that belong to no client flow and no listener are the
//!   targets' answers to health checks: they go to the load balancer's health port.
//! - With `proxy_protocol_v2.enabled`, the client's handshake ACK makes the router send the
//!   target one segment first: a proxy protocol v2 header with the client's address and
//!   port as the client sent them and, through PrivateLink, AWS's TLV 0xEA/0x01 with the
//!   endpoint id. Every later client segment's sequence number is shifted by its length,
//!   and the target's acknowledgements back (SACK blocks are not rewritten).

use core::net::Ipv4Addr;

use super::{Pass, Sink, Track};
use crate::dataplane::checksum::{self, AddrField};
use crate::dataplane::conntrack::FlowKey;
use crate::dataplane::nlb::{
    self, Client, PortField, Proxy, SeqField, Session, INTERNET_ZONE, UDP_IDLE,
};
use crate::dataplane::packet::{parse_ipv4, Ipv4Info, L4};
use crate::dataplane::topology::{Eni, EniIx, IfeIx, NlbIx, VpcIx, INTERNET_NET};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::VnetHdr;
use crate::dataplane::wire::ethernet::{self, ether_type, Ethernet};
use crate::dataplane::wire::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use crate::dataplane::wire::{ipv4, proto, tcp, Ipv4, Tcp};

/// Where a client's packet came from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Via {
    /// An ENI of VPC `zone` (the load balancer's own VPC, or a PrivateLink consumer's when
    /// `endpoint` is set).
    Vpc {
        zone: VpcIx,
        endpoint: Option<IfeIx>,
    },
    /// Through an internet gateway.
    Internet,
}

/// Largest TCP segment on a PrivateLink path: its 8500-byte MTU less 40 bytes of headers.
pub(super) const PRIVATELINK_MSS: u16 = 8460;

/// The SNAT port a node gives a new flow: the client's own port if free, else the next
/// free one in `NODE_PORTS` (at most this many tries).
const PORT_TRIES: u16 = 512;
/// A node's own ports for client flows: below the health checks' probe ports (61000 and up).
const NODE_PORTS: core::ops::RangeInclusive<u16> = 1024..=60999;

impl<S: Sink> Pass<'_, S> {
    /// From `sender` (ENI `e`) in the load balancer's VPC to node `node` of `n` (its ENI
    /// `d`): a client of a listener, or a target answering a health check.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enter_lb_node(
        &mut self,
        e: EniIx,
        sender: &Eni,
        d: EniIx,
        (n, node): (NlbIx, usize),
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        track: &mut Track,
        same_subnet: bool,
    ) -> Verdict {
        let snap = self.snap;
        let vpc = sender.vpc;
        let key = track.key;
        let Some(lb) = snap.elb.nlbs.get(n.ix()) else {
            return self.reject(DropReason::NoSuchAddress(vpc), vpc, Some(e), info, key);
        };
        if let Err(v) = self.enter_subnet_of(e, vpc, d, info, key, same_subnet) {
            return v;
        }
        let listener = info
            .l4
            .ports()
            .is_some_and(|(_, dport)| lb.listener(info.protocol, dport).is_some());
        if let Err(r) = self.commit(track, vpc, Some(e), sender.subnet, info) {
            return Verdict::Dropped(r);
        }
        if listener {
            let via = Via::Vpc {
                zone: vpc,
                endpoint: None,
            };
            return self.through_nlb(n, node, via, frame, vnet, info);
        }
        // Not for a listener: a target's answer to a health check.
        let port = lb.health_port;
        self.send_to_service(port, frame, &vnet)
    }

    /// A client's packet for node `node` of load balancer `n`; see the module docs.
    pub(super) fn through_nlb(
        &mut self,
        n: NlbIx,
        node: usize,
        via: Via,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let Some(lb) = snap.elb.nlbs.get(n.ix()) else {
            return Verdict::Dropped(DropReason::NlbNoListener(n));
        };
        let Some((sport, dport)) = info.l4.ports() else {
            return Verdict::Dropped(DropReason::NlbNoListener(n));
        };
        let (zone, endpoint) = match via {
            Via::Vpc { zone, endpoint } => (zone.0, endpoint),
            Via::Internet => (INTERNET_ZONE, None),
        };
        let outer = FlowKey::new(info.protocol, info.src, sport, info.dst, dport).in_zone(zone);
        let flags = info.l4.tcp_flags();
        let mut session = match self.sessions.from_client(self.now, &outer, flags) {
            Some(s) => s,
            None => match self.new_session(n, node, outer, endpoint, frame, info) {
                Ok(s) => s,
                Err(d) => {
                    if d == DropReason::NlbNoFlow(n) {
                        self.reset_client(via, frame, info);
                    }
                    return Verdict::Dropped(d);
                }
            },
        };
        // Proxy protocol v2: the header goes to the target before the client's first byte,
        // when the client's handshake completes.
        if session.proxy == Proxy::Pending
            && matches!(info.l4, L4::Tcp { flags, .. } if flags & (SYN | ACK) == ACK)
        {
            if let Some(shift) = self.send_proxy_header(lb.vpc, &session, frame) {
                self.sessions.proxy_sent(&session.outer, shift);
                session.proxy = Proxy::Sent { shift };
            }
        }
        // DNAT (and SNAT) to the target.
        let inner = session.inner;
        let mode = super::output::l4_mode(&vnet);
        let ip = ethernet::payload_of_mut(frame);
        if let Proxy::Sent { shift } = session.proxy {
            nlb::shift_seq(ip, SeqField::Seq, shift, mode);
        }
        let ok = checksum::ipv4_rewrite_addr(ip, AddrField::Dst, inner.dst, mode).is_ok()
            && nlb::rewrite_port(ip, PortField::Dst, inner.dst_port, mode).is_ok()
            && (inner.src == info.src
                || checksum::ipv4_rewrite_addr(ip, AddrField::Src, inner.src, mode).is_ok())
            && (inner.src_port == sport
                || nlb::rewrite_port(ip, PortField::Src, inner.src_port, mode).is_ok());
        if !ok {
            return Verdict::Dropped(DropReason::Malformed);
        }
        let Some(info2) = parse_ipv4(ethernet::payload_of(frame)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        let Some(t) = snap.eni_by_ip(lb.vpc, inner.dst) else {
            return Verdict::Dropped(DropReason::NlbNoTarget(n));
        };
        let (key, trackable) = super::gates::flow_key(lb.vpc, &info2, info2.src, info2.dst);
        let mut track = self.lookup(key, trackable, &info2);
        self.deliver(None, t, frame, vnet, &info2, &mut track, false)
    }

    /// A new flow: the listener, the node's groups, a target, the node's port.
    fn new_session(
        &mut self,
        n: NlbIx,
        node: usize,
        outer: FlowKey,
        endpoint: Option<IfeIx>,
        frame: &[u8],
        info: &Ipv4Info,
    ) -> Result<Session, DropReason> {
        let snap = self.snap;
        let elb = &snap.elb;
        let lb = elb.nlbs.get(n.ix()).ok_or(DropReason::NlbNoListener(n))?;
        let nd = lb.nodes.get(node).ok_or(DropReason::NlbNoListener(n))?;
        let listener = lb
            .listener(info.protocol, outer.dst_port)
            .ok_or(DropReason::NlbNoListener(n))?;
        let tcp = info.protocol == proto::TCP;
        if tcp && !matches!(info.l4, L4::Tcp { flags, .. } if flags & (SYN | ACK) == SYN) {
            return Err(DropReason::NlbNoFlow(n));
        }
        let via_privatelink = endpoint.is_some();
        if lb.has_security_groups && (!via_privatelink || lb.enforce_sg_on_privatelink) {
            let node_eni = snap.eni(nd.eni).ok_or(DropReason::NlbNoListener(n))?;
            if self.groups_allow(node_eni, true, info, info.src).is_none() {
                return Err(DropReason::SgIngressDenied(nd.eni));
            }
        }
        let tg = elb
            .target_groups
            .get(listener.tg.ix())
            .ok_or(DropReason::NlbNoTarget(n))?;
        let cross_zone = tg.cross_zone.unwrap_or(lb.cross_zone);
        let mut candidates = [crate::dataplane::topology::TargetIx(0); MAX_CANDIDATES];
        let mut count = 0;
        for &t in &tg.targets {
            let Some(target) = elb.targets.get(t.ix()) else {
                continue;
            };
            if target.eni.is_none() || (!cross_zone && target.az != Some(nd.az)) {
                continue;
            }
            if let Some(slot) = candidates.get_mut(count) {
                *slot = t;
                count += 1;
            }
        }
        let syn_seq = if tcp {
            nlb::tcp_seq(ethernet::payload_of(frame))
        } else {
            None
        };
        let hash = nlb::flow_hash(self.seed, &outer, syn_seq);
        let health = self.health;
        let chosen = nlb::pick(hash, &candidates[..count], |t| {
            health.get(t.ix()).copied().unwrap_or(false)
        })
        .ok_or(DropReason::NlbNoTarget(n))?;
        let target = elb
            .targets
            .get(chosen.ix())
            .ok_or(DropReason::NlbNoTarget(n))?;
        let snat = via_privatelink || !tg.preserve_client_ip;
        let zone = lb.vpc.0;
        let (src, src_port) = if snat {
            (
                nd.ip,
                self.node_port(
                    zone,
                    nd.ip,
                    target.ip,
                    target.port,
                    info.protocol,
                    outer.src_port,
                )?,
            )
        } else {
            (outer.src, outer.src_port)
        };
        let inner =
            FlowKey::new(info.protocol, src, src_port, target.ip, target.port).in_zone(zone);
        let session = Session {
            outer,
            inner,
            client: if outer.zone == INTERNET_ZONE {
                Client::Internet
            } else {
                Client::Vpc
            },
            nlb: n.0,
            endpoint: endpoint.map_or(u32::MAX, |e| e.0),
            idle: if tcp { tg.tcp_idle } else { UDP_IDLE },
            last: self.now,
            proxy: if tcp && tg.proxy_protocol_v2 {
                Proxy::Pending
            } else {
                Proxy::Off
            },
            fins: 0,
        };
        self.sessions
            .insert(session)
            .map_err(|_| DropReason::NlbFlowsFull)?;
        Ok(session)
    }

    /// Sends the proxy protocol v2 header of `session` to its target as one TCP segment that
    /// takes the place of the client's next bytes (sequence number and acknowledgement of
    /// the client's packet in `frame`). Returns the header's length.
    fn send_proxy_header(&mut self, vpc: VpcIx, session: &Session, frame: &[u8]) -> Option<u32> {
        let snap = self.snap;
        let target = snap.eni(snap.eni_by_ip(vpc, session.inner.dst)?)?;
        let ip = Ipv4::new(ethernet::payload_of(frame))?;
        let client = Tcp::new(ip.payload())?;
        let vpce = (session.endpoint != u32::MAX)
            .then(|| snap.elb.interface_endpoints.get(session.endpoint as usize))
            .flatten()
            .map(|e| e.id.as_str());
        let out = self.gen.get_mut(..)?;
        let n = nlb::proxy_v2_header(
            out.get_mut(SEGMENT_HEADERS..)?,
            (session.outer.src, session.outer.src_port),
            (session.outer.dst, session.outer.dst_port),
            vpce,
        )?;
        let inner = session.inner;
        let segment = Segment {
            macs: (target.mac, snap.router_mac),
            src: (inner.src, inner.src_port),
            dst: (inner.dst, inner.dst_port),
            seq: client.seq(),
            ack: client.ack(),
            flags: PSH | ACK,
            window: client.window(),
        };
        let len = segment.write(out, n)?;
        self.emit_gen(target.port, len);
        u32::try_from(n).ok()
    }

    /// Answers a TCP packet of no known flow (idled out, or its target reset) with a reset
    /// from the address the client connected to, as AWS's NLB does. Never a reset for a
    /// reset.
    fn reset_client(&mut self, via: Via, frame: &[u8], info: &Ipv4Info) {
        let snap = self.snap;
        let L4::Tcp {
            src_port,
            dst_port,
            flags,
        } = info.l4
        else {
            return;
        };
        if flags & RST != 0 {
            return;
        }
        let (port, mac) = match via {
            Via::Vpc { zone, .. } => {
                let Some(c) = snap.eni_by_ip(zone, info.src).and_then(|e| snap.eni(e)) else {
                    return;
                };
                (c.port, c.mac)
            }
            Via::Internet if INTERNET_NET.contains(&info.src) => {
                (snap.internet_port, snap.internet_host_mac)
            }
            Via::Internet => return,
        };
        let Some(tcp) = ethernet::payload_of(frame)
            .get(info.ihl..)
            .and_then(Tcp::new)
        else {
            return;
        };
        let data = info.total_len.saturating_sub(info.ihl + tcp.header_len());
        let (r_seq, r_ack, r_flags) = if flags & ACK != 0 {
            (tcp.ack(), 0, RST)
        } else {
            let len = u32::try_from(data).unwrap_or(0) + u32::from(flags & (SYN | FIN) != 0);
            (0, tcp.seq().wrapping_add(len), RST | ACK)
        };
        let segment = Segment {
            macs: (mac, snap.router_mac),
            src: (info.dst, dst_port),
            dst: (info.src, src_port),
            seq: r_seq,
            ack: r_ack,
            flags: r_flags,
            window: 0,
        };
        if let Some(len) = segment.write(self.gen, 0) {
            self.emit_gen(port, len);
        }
    }

    /// A free source port of `node` toward `target:tport`.
    fn node_port(
        &self,
        zone: u32,
        node: Ipv4Addr,
        target: Ipv4Addr,
        tport: u16,
        protocol: u8,
        wanted: u16,
    ) -> Result<u16, DropReason> {
        let mut p = wanted.clamp(*NODE_PORTS.start(), *NODE_PORTS.end());
        for _ in 0..PORT_TRIES {
            let reply = FlowKey::new(protocol, target, tport, node, p).in_zone(zone);
            if !self.sessions.reply_taken(&reply) {
                return Ok(p);
            }
            p = if p >= *NODE_PORTS.end() {
                *NODE_PORTS.start()
            } else {
                p + 1
            };
        }
        Err(DropReason::NlbFlowsFull)
    }

    /// A target's packet: `Some(verdict)` when it is a reply of a load balancer flow.
    pub(super) fn reply_of_target(
        &mut self,
        e: EniIx,
        eni: &Eni,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Option<Verdict> {
        if self.sessions.is_empty() {
            return None;
        }
        let (sport, dport) = info.l4.ports()?;
        let key = FlowKey::new(info.protocol, info.src, sport, info.dst, dport).in_zone(eni.vpc.0);
        let session = self
            .sessions
            .from_target(self.now, &key, info.l4.tcp_flags())?;
        Some(self.reply_to_client(e, eni, session, frame, vnet, info))
    }

    fn reply_to_client(
        &mut self,
        e: EniIx,
        eni: &Eni,
        session: Session,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        // The target's own groups out (tracked: the flow came in through them) and its
        // subnet's ACL out.
        let (key, trackable) = super::gates::flow_key(eni.vpc, info, info.src, info.dst);
        let mut track = self.lookup(key, trackable, info);
        let sender = super::Sender { ix: e, eni };
        if let Err(d) = self.egress_gate(&mut track, sender, info) {
            return self.reject(d, eni.vpc, Some(e), info, key);
        }
        if let Err(d) = self.nacl(eni.subnet, crate::dataplane::nacl::Way::Out, info, info.dst) {
            return self.reject(d, eni.vpc, Some(e), info, key);
        }
        if let Err(d) = self.commit(&mut track, eni.vpc, Some(e), eni.subnet, info) {
            return Verdict::Dropped(d);
        }
        let outer = session.outer;
        let mode = super::output::l4_mode(&vnet);
        let ip = ethernet::payload_of_mut(frame);
        if let Proxy::Sent { shift } = session.proxy {
            nlb::shift_seq(ip, SeqField::Ack, shift.wrapping_neg(), mode);
        }
        let ok = checksum::ipv4_rewrite_addr(ip, AddrField::Src, outer.dst, mode).is_ok()
            && nlb::rewrite_port(ip, PortField::Src, outer.dst_port, mode).is_ok()
            && checksum::ipv4_rewrite_addr(ip, AddrField::Dst, outer.src, mode).is_ok()
            && nlb::rewrite_port(ip, PortField::Dst, outer.src_port, mode).is_ok();
        if !ok {
            return Verdict::Dropped(DropReason::Malformed);
        }
        if session.via_privatelink() {
            let ife = IfeIx(session.endpoint);
            if super::endpoint::too_big(info, &vnet, frame) {
                return Verdict::Dropped(DropReason::EndpointMtuExceeded(ife));
            }
            nlb::clamp_mss(ethernet::payload_of_mut(frame), PRIVATELINK_MSS, mode);
        }
        let Some(info2) = parse_ipv4(ethernet::payload_of(frame)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        match session.client {
            Client::Vpc => {
                let vpc = VpcIx(outer.zone);
                match snap.eni_by_ip(vpc, outer.src) {
                    Some(c) => self.inbound(c, frame, vnet, &info2, outer.src, None),
                    None => Verdict::Dropped(DropReason::NoSuchAddress(vpc)),
                }
            }
            Client::Internet => {
                // Out through the load balancer VPC's internet gateway: a hop.
                if checksum::ipv4_decrement_ttl(ethernet::payload_of_mut(frame)).is_err() {
                    return Verdict::Dropped(DropReason::TtlExceeded);
                }
                self.toward_public_address(frame, vnet)
            }
        }
    }
}

/// Targets one new flow may choose among (a target group holds at most this many targets
/// in one AZ, or in all with cross-zone on; AWS allows 1,000 per load balancer).
const MAX_CANDIDATES: usize = 1024;

/// Ethernet, IPv4 and TCP headers of a segment the router writes itself.
const SEGMENT_HEADERS: usize =
    ethernet::field::HEADER_LEN + ipv4::field::HEADER_LEN + tcp::field::HEADER_LEN;

/// A TCP segment the router writes itself (a proxy protocol header, a reset): IPv4 without
/// options, DF set, TTL 64, a 20-byte TCP header.
struct Segment {
    /// Destination and source MAC.
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
}

impl Segment {
    /// Writes the headers in front of the `payload` bytes already at [`SEGMENT_HEADERS`] of
    /// `out`, with both checksums. Returns the frame's length; `None` if `out` is too short.
    fn write(&self, out: &mut [u8], payload: usize) -> Option<usize> {
        let len = SEGMENT_HEADERS + payload;
        let ip_len = u16::try_from(len - ethernet::field::HEADER_LEN).ok()?;
        let l4_len = ip_len - ipv4::field::HEADER_LEN as u16;
        let f = out.get_mut(..len)?;
        f.get_mut(..SEGMENT_HEADERS)?.fill(0);
        let mut eth = Ethernet::new(f)?;
        eth.set_macs(self.macs.0, self.macs.1);
        eth.set_ether_type(ether_type::IPV4);
        let ip = eth.payload_mut();
        let mut h = Ipv4::new(&mut *ip)?;
        h.set_version_ihl(ipv4::VERSION_IHL_PLAIN);
        h.set_total_len(ip_len);
        h.set_flags_fragment(ipv4::frag::DF);
        h.set_ttl(super::TTL);
        h.set_protocol(proto::TCP);
        h.set_src(self.src.0);
        h.set_dst(self.dst.0);
        checksum::fill_ipv4_header_checksum(ip).ok()?;
        let mut h = Ipv4::new(&mut *ip)?;
        let l4 = h.payload_mut();
        let mut t = Tcp::new(&mut *l4)?;
        t.set_src_port(self.src.1);
        t.set_dst_port(self.dst.1);
        t.set_seq(self.seq);
        t.set_ack(self.ack);
        t.set_header_len(tcp::field::HEADER_LEN as u8);
        t.set_flags(self.flags);
        t.set_window(self.window);
        let pseudo = checksum::pseudo_v4(self.src.0, self.dst.0, proto::TCP, l4_len);
        checksum::fill_l4_checksum(l4, proto::TCP, pseudo).ok()?;
        Some(len)
    }
}
