//! The virtual router: one frame in, AWS's rules applied, frames out.
//!
//! Contract:
//! - [`Router::process`] takes `(now, ingress port, frame)` and returns a
//!   [`Verdict`]; the frames it sends go through the caller's [`Sink`]. It
//!   reads no clock, opens nothing, spawns nothing, and allocates nothing:
//!   its buffers are allocated by [`Router::new`].
//! - The frame is framed as its port says ([`Framing`]): a TAP frame keeps
//!   its virtio-net header, and a GSO super-frame is judged once and sent on
//!   whole, header included, to another TAP. Rewrites (the internet gateway's
//!   NAT, TTL) patch checksums incrementally, partial ones included. Frames
//!   for a service port, or for a path with a smaller MTU, are segmented in
//!   software and their checksums completed.
//! - The order is AWS's: ARP; then for IPv4, the sender ENI's security
//!   groups (egress), the source subnet's network ACL (out), the route table,
//!   the destination subnet's network ACL (in), the receiver ENI's security
//!   groups (ingress). Traffic within one subnet skips the network ACLs.
//!   Security groups are stateful (connection tracking per VPC, with AWS's
//!   untracked-flow rule); network ACLs are not, so a change to an ACL cuts
//!   tracked flows while a change to a security group does not.
//! - The VPC's router is not a hop: no TTL is decremented inside a VPC, to a
//!   gateway endpoint, or to Amazon-provided services. The internet gateway
//!   is one hop (TTL − 1 both ways; an expiring packet gets ICMP Time
//!   Exceeded from 203.0.113.1) with a 1500-byte MTU (DF set: Fragmentation
//!   Needed; DF clear: fragmented). See `docs/decisions/0005-router-hops.md`.
//! - [`Router::install`] swaps in a new [`Snapshot`] between two frames:
//!   tracked flows live on.

use core::net::Ipv4Addr;
use std::sync::Arc;

use super::checksum::{self, field as ipf, AddrField, L4Csum};
use super::conntrack::{Conntrack, Direction, FlowKey, Timeouts};
use super::gso;
use super::nacl::Way;
use super::packet::{eth, icmp_type, parse_ipv4, proto, Ipv4Info, L4};
use super::route::Hop;
use super::secgroup::Allowed;
use super::time::Instant;
use super::topology::{
    Eni, EniIx, Framing, PortId, Role, Snapshot, SubnetIx, VpcIx, IGW_MTU, INTERNET_GATEWAY_IP,
    INTERNET_NET,
};
use super::verdict::{Counters, Drop, FlowAction, FlowLog, FlowRecord, PortCounters, Verdict};
use super::vnet::{Gso, HdrSize, VnetHdr};
use crate::model::catalog::{AMAZON_DNS_LINK_LOCAL, IMDS_ADDRESS};

/// Where the router's frames go. The runtime writes them to TAPs and
/// services; tests collect them.
pub trait Sink {
    /// Sends `frame` out of `port`. For a TAP port `frame` is an Ethernet
    /// frame and `vnet` the header to write in front of it; for a service
    /// port `frame` is a bare IPv4 packet and `vnet` is plain.
    fn send(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]);
}

/// Settings of a router.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Connection-tracking capacity (flows), all allocated up front.
    pub conntrack_capacity: usize,
    /// Connection-tracking idle timeouts.
    pub timeouts: Timeouts,
    /// The vnet header size on TAP ports.
    pub hdr_size: HdrSize,
    /// Flow records kept.
    pub flow_log_capacity: usize,
    /// Seed of the connection-tracking hash.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            conntrack_capacity: 1 << 18,
            timeouts: Timeouts::default(),
            hdr_size: HdrSize::Legacy,
            flow_log_capacity: 4096,
            seed: 0x7670_636c_6162,
        }
    }
}

/// Which sides of a flow are tracked by their security groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FlowVal {
    /// The opener's egress (or, from outside the VPC, nothing).
    src: bool,
    /// The receiver's ingress.
    dst: bool,
}

/// Largest frame a buffer must hold: a 64 KiB GSO frame and its Ethernet
/// header (the vnet header is never copied).
const MAX_FRAME: usize = 65_535 + eth::LEN;
/// Largest frame the router writes itself (ICMP errors, fragments).
const MAX_GEN: usize = 1600;
/// The TTL of packets the router originates.
const TTL: u8 = 64;

/// The virtual router; see the module docs.
#[derive(Debug)]
pub struct Router {
    snap: Arc<Snapshot>,
    ct: Conntrack<FlowVal>,
    counters: Counters,
    flows: FlowLog,
    hdr: HdrSize,
    /// A service port's packet behind an Ethernet header.
    inbuf: Vec<u8>,
    /// Frames the router writes: ICMP, fragments.
    gen: Vec<u8>,
    /// Software GSO output.
    seg: Vec<u8>,
}

impl Router {
    /// A router for `snap`, every buffer allocated now.
    pub fn new(snap: Arc<Snapshot>, config: Config) -> Router {
        let counters = Counters {
            ports: vec![PortCounters::default(); snap.ports.len()],
            ..Counters::default()
        };
        Router {
            snap,
            ct: Conntrack::new(config.conntrack_capacity, config.timeouts, config.seed),
            counters,
            flows: FlowLog::new(config.flow_log_capacity),
            hdr: config.hdr_size,
            inbuf: vec![0; MAX_FRAME],
            gen: vec![0; MAX_GEN],
            seg: vec![0; MAX_FRAME],
        }
    }

    /// Swaps in a new snapshot (built from the previous one, so port ids are
    /// stable). Tracked flows are kept.
    pub fn install(&mut self, snap: Arc<Snapshot>) {
        self.counters
            .ports
            .resize(snap.ports.len(), PortCounters::default());
        self.snap = snap;
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The flow records.
    pub fn flow_log(&self) -> &FlowLog {
        &self.flows
    }

    /// Live tracked flows (expired ones count until reclaimed).
    pub fn tracked_flows(&self) -> usize {
        self.ct.len()
    }

    /// Memory held by connection tracking, in bytes.
    pub fn conntrack_bytes(&self) -> usize {
        self.ct.memory_bytes()
    }

    /// Reclaims up to `budget` expired flows; call it from a timer.
    pub fn expire(&mut self, now: Instant, budget: usize) -> usize {
        self.ct.expire(now, budget)
    }

    /// Processes one frame from `port`; see the module docs. `buf` holds the
    /// frame as the port frames it and may be rewritten in place.
    pub fn process<S: Sink>(
        &mut self,
        now: Instant,
        port: PortId,
        buf: &mut [u8],
        sink: &mut S,
    ) -> Verdict {
        let Router {
            snap,
            ct,
            counters,
            flows,
            hdr,
            inbuf,
            gen,
            seg,
        } = self;
        let snap: &Snapshot = snap;
        if let Some(c) = counters.port(port) {
            c.rx_frames += 1;
            c.rx_bytes += buf.len() as u64;
        }
        let mut pass = Pass {
            snap,
            ct,
            flows,
            counters,
            gen,
            seg,
            sink,
            now,
        };
        let verdict = match snap.port(port).map(|p| p.framing) {
            None => Verdict::Dropped(Drop::UnknownPort(port)),
            Some(Framing::Tap) => {
                let size = hdr.bytes();
                match VnetHdr::parse(buf, *hdr) {
                    Ok(vnet) if buf.len() >= size && vnet.validate(buf.len() - size).is_ok() => {
                        pass.frame(port, &mut buf[size..], vnet)
                    }
                    _ => Verdict::Dropped(Drop::Malformed),
                }
            }
            Some(Framing::Ip) => match inbuf.get_mut(..eth::LEN + buf.len()) {
                Some(frame) => {
                    frame[eth::LEN..].copy_from_slice(buf);
                    frame[eth::TYPE].copy_from_slice(&eth::IPV4.to_be_bytes());
                    pass.frame(port, frame, VnetHdr::PLAIN)
                }
                None => Verdict::Dropped(Drop::Malformed),
            },
        };
        pass.counters.count(&verdict);
        if let (Verdict::Dropped(_), Some(c)) = (verdict, pass.counters.port(port)) {
            c.dropped += 1;
        }
        verdict
    }
}

/// ARP field positions (Ethernet/IPv4 ARP, after the Ethernet header).
mod arp {
    use core::ops::Range;

    pub const LEN: usize = 28;
    pub const FIXED: Range<usize> = 0..6;
    /// htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
    pub const ETHER_IPV4: [u8; 6] = [0, 1, 8, 0, 6, 4];
    pub const OP: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// ICMP header positions.
mod icmp {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Fragmentation Needed: the next-hop MTU.
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    pub const HDR_LEN: usize = 8;
    /// Original IP header plus this many bytes of its payload are quoted.
    pub const QUOTE_PAYLOAD: usize = 8;
    pub const CODE_FRAG_NEEDED: u8 = 4;
    pub const CODE_TTL: u8 = 0;
}

fn addr(b: &[u8]) -> Ipv4Addr {
    match b {
        &[a, b, c, d] => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// The connection-tracking key of a packet in VPC `vpc` (addresses as the
/// VPC sees them), and whether such packets open tracked flows.
fn flow_key(vpc: VpcIx, info: &Ipv4Info, src: Ipv4Addr, dst: Ipv4Addr) -> (FlowKey, bool) {
    let (key, trackable) = match info.l4 {
        L4::Tcp {
            src_port, dst_port, ..
        }
        | L4::Udp { src_port, dst_port } => (
            FlowKey::new(info.protocol, src, src_port, dst, dst_port),
            true,
        ),
        L4::Icmp {
            ident: Some(id), ..
        } => (FlowKey::icmp_echo(src, dst, id), true),
        // ICMP errors are judged by the rules, never tracked.
        L4::Icmp { ty, code, .. } => (
            FlowKey::new(proto::ICMP, src, u16::from(ty), dst, u16::from(code)),
            false,
        ),
        // A non-first fragment of TCP/UDP has no ports to track.
        L4::Opaque => (
            FlowKey::new(info.protocol, src, 0, dst, 0),
            info.protocol != proto::TCP && info.protocol != proto::UDP,
        ),
    };
    (key.in_zone(vpc.0), trackable)
}

/// The state of a flow as this packet sees it.
#[derive(Clone, Copy, Debug)]
struct Track {
    key: FlowKey,
    trackable: bool,
    /// `Some` when the flow is tracked: the packet's sender and receiver
    /// sides are tracked.
    hit: Option<(bool, bool)>,
    /// The tracked decisions made for a new flow.
    new: FlowVal,
}

/// One frame's trip through the router.
struct Pass<'a, S> {
    snap: &'a Snapshot,
    ct: &'a mut Conntrack<FlowVal>,
    flows: &'a mut FlowLog,
    counters: &'a mut Counters,
    gen: &'a mut Vec<u8>,
    seg: &'a mut Vec<u8>,
    sink: &'a mut S,
    now: Instant,
}

/// What an outbound packet's sender is.
#[derive(Clone, Copy)]
struct Sender<'s> {
    ix: EniIx,
    eni: &'s Eni,
}

impl<'a, S: Sink> Pass<'a, S> {
    fn frame(&mut self, port: PortId, frame: &mut [u8], vnet: VnetHdr) -> Verdict {
        let Some(et) = super::packet::ether_type(frame) else {
            return Verdict::Dropped(Drop::Malformed);
        };
        match et {
            eth::ARP => self.arp(port, frame),
            eth::IPV4 => self.ipv4(port, frame, vnet),
            other => Verdict::Dropped(Drop::UnsupportedEtherType(other)),
        }
    }

    // ---- ARP ------------------------------------------------------------

    fn arp(&mut self, port: PortId, frame: &mut [u8]) -> Verdict {
        let Some(a) = frame.get(eth::LEN..eth::LEN + arp::LEN) else {
            return Verdict::Dropped(Drop::Malformed);
        };
        if a.get(arp::FIXED) != Some(&arp::ETHER_IPV4[..]) {
            return Verdict::Dropped(Drop::Malformed);
        }
        let op = a
            .get(arp::OP)
            .map_or(0, |o| u16::from_be_bytes([o[0], o[1]]));
        let spa = addr(&a[arp::SPA]);
        let tpa = addr(&a[arp::TPA]);
        if op != arp::REQUEST || spa == tpa || spa.is_unspecified() {
            return Verdict::Dropped(Drop::ArpIgnored);
        }
        let snap = self.snap;
        let answer = match snap.role(port) {
            Role::Eni(e) => snap.eni(e).and_then(|me| {
                let subnet = snap.subnet(me.subnet)?;
                // The subnet router, and Amazon DNS at base+2 when the subnet holds it
                // (a /24 at the VPC's base: the instance sees it on-link).
                let vpc = snap.vpc(me.vpc)?;
                if tpa == subnet.router_ip || (tpa == vpc.dns && subnet.cidr.contains(&tpa)) {
                    return Some(snap.router_mac);
                }
                let other = snap.eni(snap.eni_by_ip(me.vpc, tpa)?)?;
                (other.subnet == me.subnet && other.ip != me.ip).then_some(other.mac)
            }),
            Role::Internet if tpa == INTERNET_GATEWAY_IP => Some(snap.router_mac),
            _ => None,
        };
        let Some(mac) = answer else {
            return Verdict::Dropped(Drop::ArpIgnored);
        };
        let frame = &mut frame[..eth::LEN + arp::LEN];
        let mut sha = [0u8; 6];
        sha.copy_from_slice(&frame[eth::LEN..][arp::SHA]);
        let spa_bytes = spa.octets();
        let a = &mut frame[eth::LEN..];
        a[arp::OP].copy_from_slice(&arp::REPLY.to_be_bytes());
        a[arp::THA].copy_from_slice(&sha);
        a[arp::TPA].copy_from_slice(&spa_bytes);
        a[arp::SHA].copy_from_slice(&mac);
        a[arp::SPA].copy_from_slice(&tpa.octets());
        frame[eth::DST].copy_from_slice(&sha);
        frame[eth::SRC].copy_from_slice(&mac);
        self.emit(port, &VnetHdr::PLAIN, frame);
        Verdict::Answered
    }

    // ---- IPv4 -------------------------------------------------------------

    fn ipv4(&mut self, port: PortId, frame: &mut [u8], vnet: VnetHdr) -> Verdict {
        let Some(info) = frame.get(eth::LEN..).and_then(parse_ipv4) else {
            return Verdict::Dropped(Drop::Malformed);
        };
        // Drop Ethernet padding: from here on the frame ends with the packet.
        let frame = &mut frame[..eth::LEN + info.total_len];
        if info.dst.is_broadcast() || info.dst.is_multicast() {
            return Verdict::Dropped(Drop::NotUnicast);
        }
        match self.snap.role(port) {
            Role::Eni(e) => self.handle_from_eni(port, e, frame, vnet, &info),
            Role::Internet => self.handle_from_outside(port, frame, vnet, &info),
            Role::Region => self.handle_from_outside(port, frame, vnet, &info),
            Role::GatewayEndpoint(g) => {
                let Some(vpc) = self.snap.gateway_endpoints.get(g.ix()).map(|g| g.vpc) else {
                    return Verdict::Dropped(Drop::UnknownPort(port));
                };
                match self.snap.eni_by_ip(vpc, info.dst) {
                    Some(e) => self.inbound(e, frame, vnet, &info, info.dst, None),
                    None => Verdict::Dropped(Drop::NoSuchAddress(vpc)),
                }
            }
            Role::AmazonProvided(vpc) => self.handle_from_amazon(port, vpc, frame, vnet, &info),
            Role::Inactive => Verdict::Dropped(Drop::UnknownPort(port)),
        }
    }

    /// A packet from an instance (or another ENI).
    fn handle_from_eni(
        &mut self,
        port: PortId,
        e: EniIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.eni(e) else {
            return Verdict::Dropped(Drop::UnknownPort(port));
        };
        let Some(subnet) = snap.subnet(eni.subnet) else {
            return Verdict::Dropped(Drop::UnknownPort(port));
        };
        if eni.source_dest_check && info.src != eni.ip {
            return Verdict::Dropped(Drop::SourceDestCheck(e));
        }
        let vpc_ix = eni.vpc;
        let Some(vpc) = snap.vpc(vpc_ix) else {
            return Verdict::Dropped(Drop::UnknownPort(port));
        };
        // Addresses of the VPC itself: SGs and NACLs do not apply.
        if info.dst == subnet.router_ip {
            return self.echo_reply(port, frame, eni.mac);
        }
        if info.dst == vpc.dns || info.dst == AMAZON_DNS_LINK_LOCAL || info.dst == IMDS_ADDRESS {
            return self.send_to_service(vpc.amazon_port, frame, &vnet);
        }

        let sender = Sender { ix: e, eni };
        let (key, trackable) = flow_key(vpc_ix, info, info.src, info.dst);
        let mut track = self.lookup(key, trackable, info);

        // Security groups, egress.
        if let Err(d) = self.egress_gate(&mut track, sender, info) {
            return self.reject(d, vpc_ix, Some(e), info, key);
        }
        let rt = subnet.route_table;
        let Some(route) = snap
            .route_tables
            .get(rt.ix())
            .and_then(|t| t.table.lookup(info.dst))
        else {
            return self.reject(Drop::NoRoute(rt), vpc_ix, Some(e), info, key);
        };
        // The destination ENI, for local and middlebox routes.
        let local_dst = match route.hop {
            Hop::Local => match snap.eni_by_ip(vpc_ix, info.dst) {
                Some(d) => Some(d),
                None => {
                    return self.reject(Drop::NoSuchAddress(vpc_ix), vpc_ix, Some(e), info, key)
                }
            },
            Hop::Eni(d) => Some(d),
            _ => None,
        };
        let same_subnet = local_dst
            .and_then(|d| snap.eni(d))
            .is_some_and(|d| d.subnet == eni.subnet);
        if !same_subnet {
            if let Err(d) = self.nacl(eni.subnet, Way::Out, info, info.dst) {
                return self.reject(d, vpc_ix, Some(e), info, key);
            }
        }
        match route.hop {
            Hop::Local | Hop::Eni(_) => {
                let Some(d) = local_dst else {
                    return Verdict::Dropped(Drop::NoSuchAddress(vpc_ix));
                };
                self.deliver(Some(sender), d, frame, vnet, info, &mut track, same_subnet)
            }
            Hop::InternetGateway => self.out_igw(port, sender, frame, vnet, info, &mut track),
            Hop::GatewayEndpoint(g) => {
                let Some(to) = snap.gateway_endpoints.get(g.ix()).map(|g| g.port) else {
                    return self.reject(Drop::Blackhole(rt), vpc_ix, Some(e), info, key);
                };
                if let Err(d) = self.commit(&mut track, vpc_ix, Some(e), eni.subnet, info) {
                    return Verdict::Dropped(d);
                }
                self.send_to_service(to, frame, &vnet)
            }
            Hop::Blackhole => self.reject(Drop::Blackhole(rt), vpc_ix, Some(e), info, key),
            Hop::Unsupported => {
                self.reject(Drop::UnsupportedTarget(rt), vpc_ix, Some(e), info, key)
            }
        }
    }

    /// A packet from the emulated internet or the regional services.
    fn handle_from_outside(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let from_region = snap.role(port) == Role::Region;
        if info.dst == INTERNET_GATEWAY_IP && !from_region {
            return self.echo_reply(port, frame, snap.internet_host_mac);
        }
        if snap.is_region_service(info.dst) && !from_region {
            return self.send_to_service(snap.region_port, frame, &vnet);
        }
        if INTERNET_NET.contains(&info.dst) && from_region {
            return self.send_to_internet(frame, &vnet);
        }
        let Some(e) = snap.eni_by_public_ip(info.dst) else {
            return Verdict::Dropped(Drop::NoSuchPublicAddress);
        };
        let Some(eni) = snap.eni(e) else {
            return Verdict::Dropped(Drop::NoSuchPublicAddress);
        };
        if snap.vpc(eni.vpc).is_none_or(|v| v.igw.is_none()) {
            return Verdict::Dropped(Drop::NoInternetGateway(eni.vpc));
        }
        // The internet gateway is a hop.
        let ip = &mut frame[eth::LEN..];
        if checksum::ipv4_decrement_ttl(ip).is_err() {
            self.icmp_error(
                port,
                None,
                frame,
                icmp_type::TIME_EXCEEDED,
                icmp::CODE_TTL,
                0,
            );
            return Verdict::Dropped(Drop::TtlExceeded);
        }
        self.inbound(e, frame, vnet, info, eni.ip, Some(eni.ip))
    }

    /// A reply from a VPC's DNS or metadata service: straight to the ENI.
    fn handle_from_amazon(
        &mut self,
        port: PortId,
        vpc: VpcIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.eni_by_ip(vpc, info.dst).and_then(|e| snap.eni(e)) else {
            return Verdict::Dropped(Drop::Unexpected(port));
        };
        frame[eth::DST].copy_from_slice(&eni.mac);
        frame[eth::SRC].copy_from_slice(&snap.router_mac);
        self.emit(eni.port, &vnet, frame);
        Verdict::Forwarded(eni.port)
    }

    /// A packet entering the VPC for ENI `e` from outside it (the internet
    /// gateway, a gateway endpoint, the router itself): destination subnet's
    /// ACL in, ENI's groups in. `dnat` rewrites the destination first.
    fn inbound(
        &mut self,
        e: EniIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        private_dst: Ipv4Addr,
        dnat: Option<Ipv4Addr>,
    ) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.eni(e) else {
            return Verdict::Dropped(Drop::NoSuchPublicAddress);
        };
        let (key, trackable) = flow_key(eni.vpc, info, info.src, private_dst);
        let mut track = self.lookup(key, trackable, info);
        if let Err(d) = self.nacl(eni.subnet, Way::In, info, info.src) {
            return self.reject(d, eni.vpc, Some(e), info, key);
        }
        if let Err(d) = self.ingress_gate(&mut track, e, eni, info) {
            return self.reject(d, eni.vpc, Some(e), info, key);
        }
        if let Err(d) = self.commit(&mut track, eni.vpc, Some(e), eni.subnet, info) {
            return Verdict::Dropped(d);
        }
        if let Some(to) = dnat {
            let mode = l4_mode(&vnet);
            if checksum::ipv4_rewrite_addr(&mut frame[eth::LEN..], AddrField::Dst, to, mode)
                .is_err()
            {
                return Verdict::Dropped(Drop::Malformed);
            }
        }
        frame[eth::DST].copy_from_slice(&eni.mac);
        frame[eth::SRC].copy_from_slice(&snap.router_mac);
        self.emit(eni.port, &vnet, frame);
        Verdict::Forwarded(eni.port)
    }

    /// Local (or middlebox) delivery from `sender` to ENI `d` in its VPC.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        sender: Option<Sender<'_>>,
        d: EniIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        track: &mut Track,
        same_subnet: bool,
    ) -> Verdict {
        let snap = self.snap;
        let Some(dst) = snap.eni(d) else {
            return Verdict::Dropped(Drop::NoSuchAddress(VpcIx(track.key.zone)));
        };
        let vpc = dst.vpc;
        let (src_ix, src_subnet) =
            sender.map_or((None, dst.subnet), |s| (Some(s.ix), s.eni.subnet));
        // Traffic for another address (a middlebox route) needs the check off.
        if dst.source_dest_check && info.dst != dst.ip {
            return self.reject(Drop::SourceDestCheck(d), vpc, src_ix, info, track.key);
        }
        if !same_subnet {
            if let Err(r) = self.nacl(dst.subnet, Way::In, info, info.src) {
                return self.reject(r, vpc, src_ix, info, track.key);
            }
        }
        if let Err(r) = self.ingress_gate(track, d, dst, info) {
            return self.reject(r, vpc, src_ix, info, track.key);
        }
        if let Err(r) = self.commit(track, vpc, src_ix, src_subnet, info) {
            return Verdict::Dropped(r);
        }
        let src_mac = match sender {
            Some(s) if same_subnet => s.eni.mac,
            _ => snap.router_mac,
        };
        frame[eth::DST].copy_from_slice(&dst.mac);
        frame[eth::SRC].copy_from_slice(&src_mac);
        self.emit(dst.port, &vnet, frame);
        Verdict::Forwarded(dst.port)
    }

    /// Out through the internet gateway: 1:1 NAT, a hop, a 1500-byte MTU.
    fn out_igw(
        &mut self,
        port: PortId,
        sender: Sender<'_>,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        track: &mut Track,
    ) -> Verdict {
        let snap = self.snap;
        let eni = sender.eni;
        let Some(public) = eni.public_ip else {
            return self.reject(
                Drop::NoPublicIp(sender.ix),
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
        if frame.get(eth::LEN + ipf::TTL).is_none_or(|&t| t <= 1) {
            self.icmp_error(
                port,
                Some(eni.mac),
                frame,
                icmp_type::TIME_EXCEEDED,
                icmp::CODE_TTL,
                0,
            );
            return Verdict::Dropped(Drop::TtlExceeded);
        }
        if let Err(d) = self.commit(track, eni.vpc, Some(sender.ix), eni.subnet, info) {
            return Verdict::Dropped(d);
        }
        let ip = &mut frame[eth::LEN..];
        let rewritten = checksum::ipv4_decrement_ttl(ip).is_ok()
            && checksum::ipv4_rewrite_addr(ip, AddrField::Src, public, l4_mode(&vnet)).is_ok();
        if !rewritten {
            return Verdict::Dropped(Drop::Malformed);
        }
        if snap.is_region_service(info.dst) {
            self.send_to_service(snap.region_port, frame, &vnet)
        } else {
            self.send_to_internet(frame, &vnet)
        }
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
        let mtu = usize::from(IGW_MTU);
        let fits = match vnet.gso() {
            Ok(Gso::None) => info.total_len <= mtu,
            // Each segment: IP and L4 headers plus at most gso_size bytes.
            Ok(_) => {
                gso_headers(frame, info).is_some_and(|h| h + usize::from(vnet.gso_size) <= mtu)
            }
            Err(_) => return Some(Verdict::Dropped(Drop::Malformed)),
        };
        if fits {
            return None;
        }
        if info.dont_fragment {
            let mtu16 = IGW_MTU;
            self.icmp_error(
                port,
                sender_mac,
                frame,
                icmp_type::DEST_UNREACHABLE,
                icmp::CODE_FRAG_NEEDED,
                mtu16,
            );
            return Some(Verdict::Dropped(Drop::MtuExceeded));
        }
        None
    }

    // ---- gates --------------------------------------------------------------

    fn lookup(&mut self, key: FlowKey, trackable: bool, info: &Ipv4Info) -> Track {
        let hit = if trackable {
            self.ct
                .lookup(self.now, &key, info.l4.tcp_flags())
                .map(|h| match h.direction {
                    Direction::Original => (h.value.src, h.value.dst),
                    Direction::Reply => (h.value.dst, h.value.src),
                })
        } else {
            None
        };
        Track {
            key,
            trackable,
            hit,
            new: FlowVal::default(),
        }
    }

    fn egress_gate(
        &mut self,
        track: &mut Track,
        s: Sender<'_>,
        info: &Ipv4Info,
    ) -> Result<(), Drop> {
        if track.hit.is_some_and(|(sender, _)| sender) {
            return Ok(());
        }
        let allowed = self
            .groups_allow(s.eni, false, info, info.dst)
            .ok_or(Drop::SgEgressDenied(s.ix))?;
        track.new.src = is_tracked(s.eni, false, allowed, info);
        Ok(())
    }

    fn ingress_gate(
        &mut self,
        track: &mut Track,
        d: EniIx,
        eni: &Eni,
        info: &Ipv4Info,
    ) -> Result<(), Drop> {
        if track.hit.is_some_and(|(_, receiver)| receiver) {
            return Ok(());
        }
        let allowed = self
            .groups_allow(eni, true, info, info.src)
            .ok_or(Drop::SgIngressDenied(d))?;
        track.new.dst = is_tracked(eni, true, allowed, info);
        Ok(())
    }

    /// Whether the union of the ENI's groups allows the packet.
    fn groups_allow(
        &self,
        eni: &Eni,
        inbound: bool,
        info: &Ipv4Info,
        peer: Ipv4Addr,
    ) -> Option<Allowed> {
        let snap = self.snap;
        let vpc = eni.vpc;
        let member = |g, ip| snap.in_group(vpc, g, ip);
        let mut result: Option<Allowed> = None;
        for g in &eni.security_groups {
            let Some(group) = snap.security_groups.get(g.ix()) else {
                continue;
            };
            let rules = if inbound {
                &group.ingress
            } else {
                &group.egress
            };
            if let Some(a) = rules.matching(info.protocol, &info.l4, peer, &member) {
                if a.open_world {
                    return Some(a);
                }
                result = Some(a);
            }
        }
        result
    }

    fn nacl(
        &self,
        subnet: SubnetIx,
        way: Way,
        info: &Ipv4Info,
        peer: Ipv4Addr,
    ) -> Result<(), Drop> {
        let snap = self.snap;
        let Some(acl_ix) = snap.subnet(subnet).map(|s| s.acl) else {
            return Ok(());
        };
        let Some(acl) = snap.acls.get(acl_ix.ix()) else {
            return Ok(());
        };
        let d = acl.acl.evaluate(way, info.protocol, &info.l4, peer);
        match (d.allow, way) {
            (true, _) => Ok(()),
            (false, Way::Out) => Err(Drop::NaclOutDenied {
                acl: acl_ix,
                rule: d.rule,
            }),
            (false, Way::In) => Err(Drop::NaclInDenied {
                acl: acl_ix,
                rule: d.rule,
            }),
        }
    }

    /// Every gate passed: start tracking a new flow if a side tracks it, and
    /// record the accepted flow.
    fn commit(
        &mut self,
        track: &mut Track,
        vpc: VpcIx,
        eni: Option<EniIx>,
        subnet: SubnetIx,
        info: &Ipv4Info,
    ) -> Result<(), Drop> {
        if track.hit.is_some() {
            return Ok(());
        }
        if track.trackable
            && (track.new.src || track.new.dst)
            && self
                .ct
                .insert(self.now, &track.key, info.l4.tcp_flags(), track.new)
                .is_err()
        {
            self.record(
                vpc,
                eni,
                Some(subnet),
                info,
                track.key,
                FlowAction::Reject(Drop::ConntrackFull),
            );
            return Err(Drop::ConntrackFull);
        }
        self.record(vpc, eni, Some(subnet), info, track.key, FlowAction::Accept);
        Ok(())
    }

    fn reject(
        &mut self,
        d: Drop,
        vpc: VpcIx,
        eni: Option<EniIx>,
        info: &Ipv4Info,
        key: FlowKey,
    ) -> Verdict {
        let subnet = eni.and_then(|e| self.snap.eni(e)).map(|e| e.subnet);
        self.record(vpc, eni, subnet, info, key, FlowAction::Reject(d));
        Verdict::Dropped(d)
    }

    fn record(
        &mut self,
        vpc: VpcIx,
        eni: Option<EniIx>,
        subnet: Option<SubnetIx>,
        info: &Ipv4Info,
        key: FlowKey,
        action: FlowAction,
    ) {
        self.flows.push(FlowRecord {
            at: self.now,
            vpc,
            eni,
            subnet,
            key,
            bytes: u32::try_from(info.total_len).unwrap_or(u32::MAX),
            action,
        });
    }

    // ---- output ---------------------------------------------------------

    fn emit(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        if let Some(c) = self.counters.port(port) {
            c.tx_frames += 1;
            c.tx_bytes += frame.len() as u64;
        }
        self.sink.send(port, vnet, frame);
    }

    /// To the emulated internet host.
    fn send_to_internet(&mut self, frame: &mut [u8], vnet: &VnetHdr) -> Verdict {
        let snap = self.snap;
        frame[eth::DST].copy_from_slice(&snap.internet_host_mac);
        frame[eth::SRC].copy_from_slice(&snap.router_mac);
        if info_total(frame) > usize::from(IGW_MTU) && vnet.gso().is_ok_and(|g| g == Gso::None) {
            return self.fragment(snap.internet_port, frame, vnet);
        }
        if vnet.gso().is_ok_and(|g| g != Gso::None)
            && gso_headers_frame(frame)
                .is_none_or(|h| h + usize::from(vnet.gso_size) > usize::from(IGW_MTU))
        {
            return self.segment(snap.internet_port, frame, vnet, Some(IGW_MTU));
        }
        self.emit(snap.internet_port, vnet, frame);
        Verdict::Forwarded(snap.internet_port)
    }

    /// To a service port: bare IPv4 packets, complete, never GSO.
    fn send_to_service(&mut self, port: PortId, frame: &mut [u8], vnet: &VnetHdr) -> Verdict {
        if vnet.gso().is_ok_and(|g| g != Gso::None) || vnet.needs_csum() {
            return match self.segment(port, frame, vnet, None) {
                Verdict::Forwarded(p) => Verdict::Delivered(p),
                v => v,
            };
        }
        let packet = &frame[eth::LEN..];
        if let Some(c) = self.counters.port(port) {
            c.tx_frames += 1;
            c.tx_bytes += packet.len() as u64;
        }
        self.sink.send(port, &VnetHdr::PLAIN, packet);
        Verdict::Delivered(port)
    }

    /// Segments a GSO frame (and completes checksums) onto `port`.
    fn segment(&mut self, port: PortId, frame: &[u8], vnet: &VnetHdr, mtu: Option<u16>) -> Verdict {
        let ip_port = self
            .snap
            .port(port)
            .is_some_and(|p| p.framing == Framing::Ip);
        let Pass {
            seg,
            sink,
            counters,
            ..
        } = self;
        let mut emit = |s: &[u8]| {
            let out = if ip_port {
                s.get(eth::LEN..).unwrap_or(&[])
            } else {
                s
            };
            if let Some(c) = counters.port(port) {
                c.tx_frames += 1;
                c.tx_bytes += out.len() as u64;
            }
            sink.send(port, &VnetHdr::PLAIN, out);
        };
        let r = match mtu {
            Some(m) => gso::segment_to_mtu(frame, vnet, m, seg, &mut emit),
            None => gso::segment(frame, vnet, seg, &mut emit),
        };
        match r {
            Ok(_) => Verdict::Forwarded(port),
            Err(_) => Verdict::Dropped(Drop::Malformed),
        }
    }

    /// Sends a DF-clear packet larger than the internet gateway's MTU as IPv4
    /// fragments.
    fn fragment(&mut self, port: PortId, frame: &mut [u8], vnet: &VnetHdr) -> Verdict {
        if vnet.needs_csum()
            && checksum::complete_partial(
                frame,
                usize::from(vnet.csum_start),
                usize::from(vnet.csum_offset),
            )
            .is_err()
        {
            return Verdict::Dropped(Drop::Malformed);
        }
        let Some(ip) = frame.get(eth::LEN..) else {
            return Verdict::Dropped(Drop::Malformed);
        };
        let Some(info) = parse_ipv4(ip) else {
            return Verdict::Dropped(Drop::Malformed);
        };
        let ihl = info.ihl;
        let flags_off =
            u16::from_be_bytes([ip[ipf::FLAGS_FRAGMENT][0], ip[ipf::FLAGS_FRAGMENT][1]]);
        let base_offset = usize::from(flags_off & 0x1fff) * 8;
        let had_mf = flags_off & 0x2000 != 0;
        let payload = &ip[ihl..info.total_len];
        let chunk = (usize::from(IGW_MTU) - ihl) & !7;
        let mut sent = 0;
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let last = end == payload.len();
            let len = eth::LEN + ihl + (end - off);
            let Some(out) = self.gen.get_mut(..len) else {
                return Verdict::Dropped(Drop::Malformed);
            };
            out[..eth::LEN].copy_from_slice(&frame[..eth::LEN]);
            out[eth::LEN..eth::LEN + ihl].copy_from_slice(&ip[..ihl]);
            out[eth::LEN + ihl..].copy_from_slice(&payload[off..end]);
            let o = &mut out[eth::LEN..];
            let total = u16::try_from(ihl + end - off).unwrap_or(u16::MAX);
            o[ipf::TOTAL_LEN].copy_from_slice(&total.to_be_bytes());
            let mf = if last && !had_mf { 0 } else { 0x2000 };
            let offset = u16::try_from((base_offset + off) / 8).unwrap_or(0) & 0x1fff;
            o[ipf::FLAGS_FRAGMENT].copy_from_slice(&(mf | offset).to_be_bytes());
            if checksum::fill_ipv4_header_checksum(o).is_err() {
                return Verdict::Dropped(Drop::Malformed);
            }
            self.emit_gen(port, len);
            sent += 1;
            off = end;
        }
        if sent == 0 {
            return Verdict::Dropped(Drop::Malformed);
        }
        Verdict::Forwarded(port)
    }

    // ---- ICMP the router writes -------------------------------------------------

    /// Answers an echo request to one of the router's addresses in place.
    fn echo_reply(&mut self, port: PortId, frame: &mut [u8], peer_mac: [u8; 6]) -> Verdict {
        let Some(info) = frame.get(eth::LEN..).and_then(parse_ipv4) else {
            return Verdict::Dropped(Drop::Malformed);
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
            return Verdict::Dropped(Drop::RouterAddress);
        }
        let ip = &mut frame[eth::LEN..];
        let (src, dst) = (info.src.octets(), info.dst.octets());
        ip[ipf::SRC].copy_from_slice(&dst);
        ip[ipf::DST].copy_from_slice(&src);
        ip[ipf::TTL] = TTL;
        if checksum::fill_ipv4_header_checksum(ip).is_err() {
            return Verdict::Dropped(Drop::Malformed);
        }
        let l4 = &mut ip[info.ihl..];
        let old = u16::from_be_bytes([l4[icmp::TYPE], l4[1]]);
        l4[icmp::TYPE] = icmp_type::ECHO_REPLY;
        let new = u16::from_be_bytes([l4[icmp::TYPE], l4[1]]);
        let c = u16::from_be_bytes([l4[icmp::CHECKSUM][0], l4[icmp::CHECKSUM][1]]);
        l4[icmp::CHECKSUM].copy_from_slice(&checksum::update16(c, old, new).to_be_bytes());
        frame[eth::DST].copy_from_slice(&peer_mac);
        frame[eth::SRC].copy_from_slice(&self.snap.router_mac);
        self.emit(port, &VnetHdr::PLAIN, frame);
        Verdict::Answered
    }

    /// Sends an ICMP error about `frame` (as its sender sent it) back to the
    /// sender on `port`, from the internet gateway's address. To an ENI
    /// (`sender_mac` given) it passes the subnet's ACL and the ENI's groups,
    /// as AWS documents for Path MTU Discovery.
    fn icmp_error(
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
        let quote = (orig.ihl + icmp::QUOTE_PAYLOAD).min(orig.total_len);
        let icmp_len = icmp::HDR_LEN + quote;
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
        body[icmp::TYPE] = ty;
        body[1] = code;
        body[icmp::NEXT_HOP_MTU].copy_from_slice(&mtu.to_be_bytes());
        body[icmp::HDR_LEN..].copy_from_slice(&frame[eth::LEN..eth::LEN + quote]);
        let c = checksum::checksum(body);
        body[icmp::CHECKSUM].copy_from_slice(&c.to_be_bytes());

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
            Verdict::Dropped(Drop::SgIngressDenied(e))
        } else {
            self.emit_gen(port, len);
            Verdict::Answered
        };
        self.counters.count(&verdict);
    }

    /// Sends the first `len` bytes of the generated-frame buffer.
    fn emit_gen(&mut self, port: PortId, len: usize) {
        let ip_port = self
            .snap
            .port(port)
            .is_some_and(|p| p.framing == Framing::Ip);
        let frame = self.gen.get(..len).unwrap_or(&[]);
        let out = if ip_port {
            frame.get(eth::LEN..).unwrap_or(&[])
        } else {
            frame
        };
        if let Some(c) = self.counters.port(port) {
            c.tx_frames += 1;
            c.tx_bytes += out.len() as u64;
        }
        self.sink.send(port, &VnetHdr::PLAIN, out);
    }
}

impl Role {
    fn into_eni(self) -> Option<EniIx> {
        match self {
            Role::Eni(e) => Some(e),
            _ => None,
        }
    }
}

/// AWS's untracked-flow rule: a TCP/UDP flow allowed by a rule open to the
/// world, whose reverse direction opens every port to the world, is not
/// tracked. ICMP and other protocols always are.
fn is_tracked(eni: &Eni, inbound: bool, allowed: Allowed, info: &Ipv4Info) -> bool {
    let p = match info.protocol {
        proto::TCP => 0,
        proto::UDP => 1,
        _ => return true,
    };
    // The reverse of inbound is outbound (index 1), and vice versa.
    let reverse = usize::from(inbound);
    let reverse_open = eni
        .open_all_ports
        .get(reverse)
        .and_then(|d| d.get(p))
        .copied()
        .unwrap_or(false);
    !(allowed.open_world && reverse_open)
}

fn l4_mode(vnet: &VnetHdr) -> L4Csum {
    if vnet.needs_csum() {
        L4Csum::Partial
    } else {
        L4Csum::Full
    }
}

fn info_total(frame: &[u8]) -> usize {
    frame.len().saturating_sub(eth::LEN)
}

/// IP plus L4 header bytes of each segment of a GSO frame.
fn gso_headers(frame: &[u8], info: &Ipv4Info) -> Option<usize> {
    let l4 = frame.get(eth::LEN + info.ihl..)?;
    let l4_hdr = match info.protocol {
        proto::TCP => usize::from(*l4.get(12)? >> 4) * 4,
        proto::UDP => 8,
        _ => return None,
    };
    Some(info.ihl + l4_hdr)
}

fn gso_headers_frame(frame: &[u8]) -> Option<usize> {
    let info = parse_ipv4(frame.get(eth::LEN..)?)?;
    gso_headers(frame, &info)
}
