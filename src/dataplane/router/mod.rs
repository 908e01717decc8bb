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
//!   Needed; DF clear: fragmented). See `docs/decisions/0005-router-semantics.md`.
//! - [`Router::install`] swaps in a new [`Snapshot`] between two frames:
//!   tracked flows live on.
//!
//! The packet path, one file per stage, in the order a packet meets them:
//! - this file: [`Router`], [`Router::process`], and the dispatch of a frame
//!   by EtherType and of an IPv4 packet by the role of its ingress port;
//! - `arp.rs`: the router answers every ARP request;
//! - `vpc.rs`: a packet from an ENI (the `local` route and middlebox routes),
//!   and any packet entering the VPC for an ENI;
//! - `gates.rs`: connection tracking, security groups, network ACLs, flow
//!   records;
//! - `igw.rs`: the internet gateway (NAT, TTL, MTU, fragments);
//! - `endpoint.rs`: interface endpoints (PrivateLink): their groups, the
//!   8500-byte MTU, the AWS service or endpoint service behind them;
//! - `nlb.rs`: Network Load Balancers: listeners, target choice, NAT both
//!   ways;
//! - `icmp.rs`: echo replies and the ICMP errors the router sends;
//! - `output.rs`: frames out to TAPs and service ports, software GSO;
//! - `trace.rs`: the stage decisions a tracing sink is told (`vpclab explain`).

mod arp;
mod endpoint;
mod flows;
mod gates;
mod icmp;
mod igw;
mod nlb;
mod output;
#[cfg(test)]
mod tests;
mod trace;
mod vpc;

use core::net::Ipv4Addr;
use std::collections::HashMap;
use std::sync::Arc;

use super::conntrack::{Conntrack, FlowKey, Timeouts};
use super::flowlog::FlowTable;
use super::nlb::Sessions;
use super::packet::parse_ipv4;
use super::time::Instant;
use super::topology::{Eni, EniIx, Framing, PortId, Role, Snapshot, INTERNET_NET};

pub use self::endpoint::ENDPOINT_MTU;
pub use self::trace::Step;
use super::verdict::{Counters, DropReason, FlowLog, PortCounters, Verdict};
use super::vnet::{HdrSize, VnetHdr};
use super::wire::ethernet::{self, ether_type, Ethernet};

/// Where the router's frames go. The runtime writes them to TAPs and
/// services; tests collect them. The router says which kind of port each
/// goes to (from its snapshot), so a sink needs no snapshot of its own.
pub trait Sink {
    /// Sends the Ethernet frame `frame` out of TAP port `port`, `vnet` the
    /// header to write in front of it.
    fn to_tap(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]);
    /// Hands the bare, complete IPv4 packet `packet` to service port `port`.
    fn to_service(&mut self, port: PortId, packet: &[u8]);
    /// A stage decision about the frame being processed (`trace.rs`); does nothing unless
    /// the sink traces, and then costs nothing.
    #[inline(always)]
    fn trace(&mut self, _step: Step) {}
}

/// Hands `bytes` to the sink as `port`'s framing says.
pub(crate) fn deliver<S: Sink>(
    sink: &mut S,
    snap: &Snapshot,
    port: PortId,
    vnet: &VnetHdr,
    bytes: &[u8],
) {
    match snap.port(port).map(|p| p.framing) {
        Some(Framing::Ip) => sink.to_service(port, bytes),
        Some(Framing::Tap) | None => sink.to_tap(port, vnet, bytes),
    }
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
    /// Flow records kept, and flow-log aggregation entries (per flow, interface and
    /// direction) held between two drains.
    pub flow_log_capacity: usize,
    /// Seed of the connection-tracking hash (and the load balancers' flow hash).
    pub seed: u64,
    /// Load balancer flows (sessions), all allocated up front.
    pub nlb_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            conntrack_capacity: 1 << 18,
            timeouts: Timeouts::default(),
            hdr_size: HdrSize::Legacy,
            flow_log_capacity: 4096,
            seed: 0x7670_636c_6162,
            nlb_capacity: 1 << 16,
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
const MAX_FRAME: usize = 65_535 + ethernet::field::HEADER_LEN;
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
    /// Flow-log aggregation, drained by the runtime.
    flow_table: FlowTable,
    hdr: HdrSize,
    /// A service port's packet behind an Ethernet header.
    inbuf: Vec<u8>,
    /// Frames the router writes: ICMP, fragments.
    gen: Vec<u8>,
    /// Software GSO output.
    seg: Vec<u8>,
    /// Load balancer flows.
    sessions: Sessions,
    /// Per target of the snapshot: healthy (from the health checks).
    health: Vec<bool>,
    /// Health by (target group ARN, address, port): survives new snapshots.
    health_by_target: HashMap<(String, Ipv4Addr, u16), bool>,
    seed: u64,
}

impl Router {
    /// A router for `snap`, every buffer allocated now.
    pub fn new(snap: Arc<Snapshot>, config: Config) -> Router {
        let counters = Counters {
            ports: vec![PortCounters::default(); snap.ports.len()],
            ..Counters::default()
        };
        let health = vec![false; snap.elb.targets.len()];
        Router {
            snap,
            ct: Conntrack::new(config.conntrack_capacity, config.timeouts, config.seed),
            counters,
            flows: FlowLog::new(config.flow_log_capacity),
            flow_table: FlowTable::new(config.flow_log_capacity),
            hdr: config.hdr_size,
            inbuf: vec![0; MAX_FRAME],
            gen: vec![0; MAX_GEN],
            seg: vec![0; MAX_FRAME],
            health,
            sessions: Sessions::new(config.nlb_capacity, config.seed ^ 0x6e6c62),
            health_by_target: HashMap::new(),
            seed: config.seed,
        }
    }

    /// Sets the health of target `ip:port` of target group `arn` (from the health checks).
    /// A target that turns unhealthy loses its flows when its group says so (AWS's default
    /// connection termination). Returns whether the snapshot has that target.
    pub fn set_target_health(&mut self, arn: &str, ip: Ipv4Addr, port: u16, healthy: bool) -> bool {
        let was = self
            .health_by_target
            .insert((arn.to_string(), ip, port), healthy);
        let Some(t) = self.snap.target_index(arn, ip, port) else {
            return false;
        };
        if let Some(h) = self.health.get_mut(t.ix()) {
            *h = healthy;
        }
        let elb = &self.snap.elb;
        let group = elb
            .targets
            .get(t.ix())
            .and_then(|x| elb.target_groups.get(x.tg.ix()));
        if let Some(g) = group {
            if was == Some(true) && !healthy && g.terminate_on_unhealthy {
                self.sessions.end_target(g.vpc.0, ip);
            }
        }
        true
    }

    /// Live load balancer flows.
    pub fn nlb_flows(&self) -> usize {
        self.sessions.len()
    }

    fn rebuild_health(&mut self) {
        let elb = &self.snap.elb;
        self.health = elb
            .targets
            .iter()
            .map(|t| {
                let arn = elb
                    .target_groups
                    .get(t.tg.ix())
                    .map_or("", |g| g.arn.as_str());
                self.health_by_target
                    .get(&(arn.to_string(), t.ip, t.port))
                    .copied()
                    .unwrap_or(false)
            })
            .collect();
    }

    /// Swaps in a new snapshot (built from the previous one, so port ids are
    /// stable). Tracked flows are kept.
    pub fn install(&mut self, snap: Arc<Snapshot>) {
        self.counters
            .ports
            .resize(snap.ports.len(), PortCounters::default());
        self.snap = snap;
        self.rebuild_health();
    }

    /// The virtio-net header size of TAP ports' frames.
    pub fn hdr_size(&self) -> HdrSize {
        self.hdr
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

    /// The flow-log aggregation table (the runtime drains it on its tick).
    pub fn flow_table(&mut self) -> &mut FlowTable {
        &mut self.flow_table
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
        self.sessions.expire(now, budget) + self.ct.expire(now, budget)
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
            flow_table,
            hdr,
            inbuf,
            gen,
            seg,
            sessions,
            health,
            seed,
            ..
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
            flow_table,
            counters,
            gen,
            seg,
            sink,
            now,
            sessions,
            health,
            seed: *seed,
        };
        let verdict = match snap.port(port).map(|p| p.framing) {
            None => Verdict::Dropped(DropReason::UnknownPort(port)),
            Some(Framing::Tap) => {
                let size = hdr.bytes();
                match VnetHdr::parse(buf, *hdr) {
                    Ok(vnet) if buf.len() >= size && vnet.validate(buf.len() - size).is_ok() => {
                        pass.frame(port, &mut buf[size..], vnet)
                    }
                    _ => Verdict::Dropped(DropReason::Malformed),
                }
            }
            Some(Framing::Ip) => {
                let len = ethernet::field::HEADER_LEN + buf.len();
                match inbuf.get_mut(..len).and_then(Ethernet::new) {
                    Some(mut eth) => {
                        eth.payload_mut().copy_from_slice(buf);
                        eth.set_ether_type(ether_type::IPV4);
                        pass.frame(port, eth.into_inner(), VnetHdr::PLAIN)
                    }
                    None => Verdict::Dropped(DropReason::Malformed),
                }
            }
        };
        pass.counters.count(&verdict);
        if let (Verdict::Dropped(_), Some(c)) = (verdict, pass.counters.port(port)) {
            c.dropped += 1;
        }
        verdict
    }
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
    flow_table: &'a mut FlowTable,
    counters: &'a mut Counters,
    gen: &'a mut Vec<u8>,
    seg: &'a mut Vec<u8>,
    sink: &'a mut S,
    now: Instant,
    sessions: &'a mut Sessions,
    health: &'a [bool],
    seed: u64,
}

/// What an outbound packet's sender is.
#[derive(Clone, Copy)]
struct Sender<'s> {
    ix: EniIx,
    eni: &'s Eni,
}

impl<'a, S: Sink> Pass<'a, S> {
    fn frame(&mut self, port: PortId, frame: &mut [u8], vnet: VnetHdr) -> Verdict {
        let Some(et) = ethernet::ether_type_of(frame) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        match et {
            ether_type::ARP => self.arp(port, frame),
            ether_type::IPV4 => self.ipv4(port, frame, vnet),
            other => Verdict::Dropped(DropReason::UnsupportedEtherType(other)),
        }
    }

    // ---- IPv4 -------------------------------------------------------------

    fn ipv4(&mut self, port: PortId, frame: &mut [u8], vnet: VnetHdr) -> Verdict {
        let Some(info) = parse_ipv4(ethernet::payload_of(frame)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        // Drop Ethernet padding: from here on the frame ends with the packet.
        let frame = &mut frame[..ethernet::field::HEADER_LEN + info.total_len];
        if info.dst.is_broadcast() || info.dst.is_multicast() {
            return Verdict::Dropped(DropReason::NotUnicast);
        }
        match self.snap.role(port) {
            Role::Eni(e) => {
                let size = flows::Size::of(frame, &info, &vnet);
                let v = self.handle_from_eni(port, e, frame, vnet, &info);
                self.observe_sent(e, &info, size, v);
                v
            }
            Role::Internet => self.handle_from_outside(port, frame, vnet, &info),
            Role::Region => self.handle_from_outside(port, frame, vnet, &info),
            Role::GatewayEndpoint(g) => {
                let Some(vpc) = self.snap.gateway_endpoints.get(g.ix()).map(|g| g.vpc) else {
                    return Verdict::Dropped(DropReason::UnknownPort(port));
                };
                match self.snap.eni_by_ip(vpc, info.dst) {
                    Some(e) => self.inbound(e, frame, vnet, &info, info.dst, None),
                    None => Verdict::Dropped(DropReason::NoSuchAddress(vpc)),
                }
            }
            Role::AmazonProvided(vpc) => self.handle_from_amazon(port, vpc, frame, vnet, &info),
            // An AWS service's answer through an interface endpoint, or a load balancer's
            // health check: into the VPC for the ENI it is addressed to.
            Role::InterfaceEndpoint(i) => {
                let Some(vpc) = self.snap.elb.interface_endpoints.get(i.ix()).map(|e| e.vpc) else {
                    return Verdict::Dropped(DropReason::UnknownPort(port));
                };
                match self.snap.eni_by_ip(vpc, info.dst) {
                    Some(e) => self.inbound(e, frame, vnet, &info, info.dst, None),
                    None => Verdict::Dropped(DropReason::NoSuchAddress(vpc)),
                }
            }
            // The internet resolver's answers: to the internet host.
            Role::InternetDns if INTERNET_NET.contains(&info.dst) => {
                self.send_to_internet(frame, &vnet)
            }
            Role::InternetDns => Verdict::Dropped(DropReason::Unexpected(port)),
            Role::LoadBalancer(n) => {
                let Some(vpc) = self.snap.elb.nlbs.get(n.ix()).map(|l| l.vpc) else {
                    return Verdict::Dropped(DropReason::UnknownPort(port));
                };
                match self.snap.eni_by_ip(vpc, info.dst) {
                    Some(e) => self.inbound(e, frame, vnet, &info, info.dst, None),
                    None => Verdict::Dropped(DropReason::NoSuchAddress(vpc)),
                }
            }
            Role::Inactive => Verdict::Dropped(DropReason::UnknownPort(port)),
        }
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
