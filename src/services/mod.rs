//! The AWS side of a lab: the endpoints that instances talk to, emulated on smoltcp.
//!
//! Contract with the router (sans-IO; no threads, no clock, no sockets): the router hands
//! [`Services::receive`] raw IPv4 packets (no Ethernet, no virtio header; checksums
//! complete; never GSO; at most [`MTU`] bytes) on a [`ServicePort`], and takes the reply
//! packets (same framing) that [`Services::poll`] emits on the same port.
//! [`Services::poll_at`] says when `poll` must run again for timers (TCP retransmission,
//! idle connections) even if no packet arrives. Time is the caller's
//! [`Instant`].
//!
//! The kinds of port, and what each serves:
//! - [`ServicePort::AmazonProvided`]: from instances of one VPC, not subject to security
//!   groups or ACLs. Amazon DNS ([`dns`]) on UDP and TCP 53 of the VPC's base+2 address and
//!   of 169.254.169.253; instance metadata ([`imds`]) on TCP 80 of 169.254.169.254, for
//!   sources that are private IPs of the VPC's instances.
//! - [`ServicePort::Region`]: through an internet gateway (source: an instance's public IP
//!   or the emulated internet host). ICMP echo on the public service addresses of every
//!   catalog region (S3 and DynamoDB CIDRs, interface services' addresses); S3 ([`s3`]) on
//!   TCP 80 of every region's S3 CIDRs, when [`Config::s3_dir`] is set.
//! - [`ServicePort::GatewayEndpoint`]: through a gateway endpoint, from instances of its
//!   VPC (source: the private IP). ICMP echo on the endpoint's service CIDRs (its prefix
//!   list in the lab's region); S3 on TCP 80 there when the endpoint is S3's.
//! - [`ServicePort::InterfaceEndpoint`]: through an interface endpoint to an AWS service,
//!   from instances of its VPC (source: the private IP; the router has applied the
//!   endpoint's security groups). ICMP echo and the service ([`interface`]) on TCP 80 of the
//!   endpoint's ENI IPs. The `Region` port serves the same on every catalog interface
//!   service's public address.
//! - [`ServicePort::LoadBalancer`]: the health checks ([`health`]) of one load balancer's
//!   target groups: probes leave on it from the nodes' private IPs, and the targets'
//!   packets to a node IP that belong to no client flow come back on it.
//!   [`Services::target_health`] reports the states, [`Services::health_generation`] says
//!   when they changed.
//!
//! Everything else is dropped and counted by reason ([`Counters`]); nothing here panics on
//! any input. DynamoDB ([`dynamodb`]) answers on TCP 80 of every region's DynamoDB CIDRs
//! through the internet gateway, and of its own through a DynamoDB gateway endpoint. S3 and
//! DynamoDB ask [`authz`] about every request: the gateway endpoint's policy on the endpoint
//! path, and the bucket's policy.
//!
//! Each port gets its own smoltcp interface (module `stack`), created on the first packet it
//! admits; emitted packets therefore always go back out on the port their flow came in on.
//! File I/O: only S3's store (`s3/store.rs`), and the GET ranges `http/conn.rs` reads.

pub mod authz;
pub mod dns;
pub mod dynamodb;
pub mod health;
pub mod http;
pub mod imds;
pub mod interface;
pub mod s3;
mod stack;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use smoltcp::wire::{
    Icmpv4Message, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket,
};

use self::authz::Policies;
use self::dns::{DnsCounters, Resolver};
use self::dynamodb::{DynamoCounters, DynamoDb};
use self::health::{Health, HealthCounters};
use self::http::HttpCounters;
use self::imds::{Imds, ImdsCounters, MetadataOptions};
use self::interface::{InterfaceApp, InterfaceCounters, ServiceRef};
use self::s3::{S3Counters, S3};
use self::stack::{AppCtx, Kind, Stack};
use crate::dataplane::time::Instant;
use crate::model::{catalog, InstanceId, Lab, VpcId, VpceId};

pub use self::health::{HealthState, TargetHealth};
pub use self::stack::{App, IDLE_TIMEOUT, MTU};

/// Where packets meet the services: the router's service ports, one vocabulary with the
/// data plane's [`PortKind`](crate::dataplane::topology::PortKind).
pub use crate::dataplane::topology::ServicePort;

/// Why the services could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The lab's region is not in the catalog.
    #[error("region '{0}' is not in vpclab's service catalog")]
    UnknownRegion(String),
    /// The S3 directory cannot be created.
    #[error("S3 storage directory {path}: {reason}")]
    S3Storage {
        /// The directory.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

/// Why a packet was dropped at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed IPv4 packet with a valid checksum (IP, UDP, TCP or ICMP).
    Malformed,
    /// An IP fragment (the router reassembles nothing; instances send DF).
    Fragment,
    /// Longer than the MTU.
    Oversize,
    /// A VPC or endpoint the lab does not have.
    UnknownPort,
    /// An address, protocol or port this port does not serve.
    NotServed,
    /// DNS to a VPC whose `EnableDnsSupport` is off.
    DnsDisabled,
    /// More than [`Config::dns_packets_per_second`] from one source.
    DnsThrottled,
    /// IMDS from an address that is no instance of the VPC.
    ImdsUnknownSource,
}

/// What the services did, by category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets handed to `receive`.
    pub received: u64,
    /// Packets admitted to a port's stack.
    pub admitted: u64,
    /// Packets emitted by `poll`.
    pub emitted: u64,
    /// Dropped: [`DropReason::Malformed`].
    pub malformed: u64,
    /// Dropped: [`DropReason::Fragment`].
    pub fragment: u64,
    /// Dropped: [`DropReason::Oversize`].
    pub oversize: u64,
    /// Dropped: [`DropReason::UnknownPort`].
    pub unknown_port: u64,
    /// Dropped: [`DropReason::NotServed`].
    pub not_served: u64,
    /// Dropped: [`DropReason::DnsDisabled`].
    pub dns_disabled: u64,
    /// Dropped: [`DropReason::DnsThrottled`].
    pub dns_throttled: u64,
    /// Dropped: [`DropReason::ImdsUnknownSource`].
    pub imds_unknown_source: u64,
    /// Amazon DNS, over UDP and TCP.
    pub dns: DnsCounters,
    /// HTTP requests over every service.
    pub http: HttpCounters,
    /// Instance metadata.
    pub imds: ImdsCounters,
    /// S3.
    pub s3: S3Counters,
    /// DynamoDB.
    pub dynamodb: DynamoCounters,
    /// AWS services behind interface endpoints (and their public addresses).
    pub interface: InterfaceCounters,
    /// Load balancer health checks.
    pub health: HealthCounters,
}

/// `1 request`, `2 requests`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Counters {
    /// One line per service that saw traffic, for `vpclab status`: what was asked, by which
    /// path, and what was refused.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        let d = &self.dns;
        if d.messages > 0 || self.dns_throttled > 0 || self.dns_disabled > 0 {
            out.push(format!(
                "Amazon DNS: {} ({} NOERROR, {} NXDOMAIN, {} FORMERR, {} other), \
                 {} throttled (1024/s per source), {} with DNS support off",
                count(d.messages, "query", "queries"),
                d.noerror,
                d.nxdomain,
                d.formerr,
                d.notimp + d.refused,
                self.dns_throttled,
                self.dns_disabled
            ));
        }
        let m = &self.imds;
        if m.requests > 0 || self.imds_unknown_source > 0 {
            out.push(format!(
                "instance metadata: {} ({} tokens issued, {} without a valid token, \
                 {} not found, {} refused)",
                count(m.requests, "request", "requests"),
                m.tokens_issued,
                m.unauthorized,
                m.not_found,
                m.refused
            ));
        }
        let s = &self.s3;
        if s.requests > 0 {
            out.push(format!(
                "S3: {} ({} through a gateway endpoint, {} through the internet \
                 gateway), {} errors, {} denied by a policy; {} bytes in, {} out",
                count(s.requests, "request", "requests"),
                s.via_endpoint,
                s.via_internet,
                s.errors,
                s.denied,
                s.bytes_in,
                s.bytes_out
            ));
        }
        let y = &self.dynamodb;
        if y.requests > 0 {
            out.push(format!(
                "DynamoDB: {} ({} through a gateway endpoint, {} through the internet \
                 gateway), {} errors, {} denied by a policy",
                count(y.requests, "request", "requests"),
                y.via_endpoint,
                y.via_internet,
                y.errors,
                y.denied
            ));
        }
        let i = &self.interface;
        if i.requests > 0 {
            out.push(format!(
                "interface endpoints: {} ({} through an interface endpoint, {} through the \
                 internet gateway)",
                count(i.requests, "request", "requests"),
                i.via_endpoint,
                i.via_internet
            ));
        }
        let h = &self.health;
        if h.probes > 0 {
            out.push(format!(
                "load balancer health checks: {} ({} passed, {} failed), {} stray target \
                 packets reset",
                count(h.probes, "probe", "probes"),
                h.passed,
                h.failed,
                h.unmatched
            ));
        }
        if self.not_served > 0 {
            out.push(format!(
                "not served: {} to a service address and port nothing answers",
                count(self.not_served, "packet", "packets")
            ));
        }
        out
    }

    /// Counts one drop.
    pub fn drop(&mut self, r: DropReason) {
        *match r {
            DropReason::Malformed => &mut self.malformed,
            DropReason::Fragment => &mut self.fragment,
            DropReason::Oversize => &mut self.oversize,
            DropReason::UnknownPort => &mut self.unknown_port,
            DropReason::NotServed => &mut self.not_served,
            DropReason::DnsDisabled => &mut self.dns_disabled,
            DropReason::DnsThrottled => &mut self.dns_throttled,
            DropReason::ImdsUnknownSource => &mut self.imds_unknown_source,
        } += 1;
    }

    /// Every drop at the door.
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.fragment
            + self.oversize
            + self.unknown_port
            + self.not_served
            + self.dns_disabled
            + self.dns_throttled
            + self.imds_unknown_source
    }
}

/// Settings of the services that the model does not carry.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seeds IMDSv2 tokens: the runtime passes random bytes, tests a constant.
    pub token_secret: [u8; 32],
    /// Seeds smoltcp (TCP initial sequence numbers).
    pub random_seed: u64,
    /// Packets per second one source may send to Amazon DNS (AWS: 1024 per ENI).
    pub dns_packets_per_second: u32,
    /// Where S3 keeps the lab's buckets; `None`: S3 is not served.
    pub s3_dir: Option<PathBuf>,
    /// Wall-clock milliseconds since the Unix epoch at `Instant::ZERO` (dates in S3 replies).
    pub epoch_unix_millis: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_secret: [0x5a; 32],
            random_seed: 0x7670_636c_6162,
            dns_packets_per_second: 1024,
            s3_dir: None,
            epoch_unix_millis: 1_767_225_600_000, // 2026-01-01T00:00:00Z
        }
    }
}

/// What a packet is, as far as admission needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inspected {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    l4: L4,
    /// The IP total length (the packet may carry trailing bytes).
    len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Udp(u16),
    Tcp(u16),
    EchoRequest,
    OtherIcmp,
    Other,
}

/// Checks a packet from the router: IPv4, checksums, no fragment.
fn inspect(packet: &[u8]) -> Result<Inspected, DropReason> {
    if packet.len() > MTU {
        return Err(DropReason::Oversize);
    }
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| DropReason::Malformed)?;
    if ip.version() != 4 || ip.header_len() < 20 || !ip.verify_checksum() {
        return Err(DropReason::Malformed);
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(DropReason::Fragment);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (s, d) = (IpAddress::Ipv4(src), IpAddress::Ipv4(dst));
    let payload = ip.payload();
    let l4 = match ip.next_header() {
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            if !u.verify_checksum(&s, &d) {
                return Err(DropReason::Malformed);
            }
            L4::Udp(u.dst_port())
        }
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            if !t.verify_checksum(&s, &d) {
                return Err(DropReason::Malformed);
            }
            L4::Tcp(t.dst_port())
        }
        IpProtocol::Icmp => {
            let i = Icmpv4Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            if !i.verify_checksum() {
                return Err(DropReason::Malformed);
            }
            if i.msg_type() == Icmpv4Message::EchoRequest {
                L4::EchoRequest
            } else {
                L4::OtherIcmp
            }
        }
        _ => L4::Other,
    };
    Ok(Inspected {
        src,
        dst,
        l4,
        len: usize::from(ip.total_len()),
    })
}

/// What one VPC's AmazonProvided port answers.
#[derive(Debug, Clone)]
struct VpcDoor {
    dns_address: Ipv4Addr,
    dns_support: bool,
}

/// What one gateway endpoint's port answers.
#[derive(Debug, Clone)]
struct EndpointDoor {
    vpc: VpcId,
    /// `s3` or `dynamodb`.
    service: &'static str,
    nets: Vec<Ipv4Net>,
}

/// What one interface endpoint's port answers.
#[derive(Debug, Clone)]
struct InterfaceDoor {
    service: ServiceRef,
    /// The private IPs of the endpoint's network interfaces.
    ips: Vec<Ipv4Addr>,
}

/// Whether an endpoint carries traffic.
fn passes_traffic(e: &crate::model::VpcEndpoint) -> bool {
    e.passes_traffic()
}

/// One source's DNS packet count in the current second.
#[derive(Debug, Clone, Copy)]
struct Rate {
    second: u64,
    packets: u32,
}

/// The emulated AWS endpoints of one lab.
pub struct Services {
    config: Config,
    vpcs: HashMap<VpcId, VpcDoor>,
    gateway_endpoints: HashMap<VpceId, EndpointDoor>,
    interface_endpoints: HashMap<VpceId, InterfaceDoor>,
    interface: InterfaceApp,
    health: Health,
    region_nets: Vec<Ipv4Net>,
    region_s3_nets: Vec<Ipv4Net>,
    resolver: Resolver,
    imds: Imds,
    s3: Option<S3>,
    dynamodb: DynamoDb,
    /// Gateway endpoint policies (S3 and DynamoDB ask them per request).
    policies: Policies,
    region_dynamodb_nets: Vec<Ipv4Net>,
    ports: HashMap<ServicePort, Stack>,
    dns_rate: HashMap<VpcId, HashMap<Ipv4Addr, Rate>>,
    counters: Counters,
    /// Packets were admitted since the last `poll`.
    pending: bool,
    /// The stacks' earliest timer, as of the last `poll`.
    deadline: Option<Instant>,
}

impl Services {
    /// The services of `lab`.
    pub fn new(lab: &Lab, config: Config) -> Result<Self, Error> {
        if catalog::region(&lab.region).is_none() {
            return Err(Error::UnknownRegion(lab.region.clone()));
        }
        let s3 = match &config.s3_dir {
            Some(dir) => Some(S3::new(dir).map_err(|e| Error::S3Storage {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let dynamodb = DynamoDb::new(&lab.region);
        let mut s = Services {
            s3,
            dynamodb,
            policies: Policies::default(),
            region_dynamodb_nets: Vec::new(),
            resolver: Resolver::new(lab),
            imds: Imds::new(lab, config.token_secret),
            health: Health::new(config.random_seed),
            config,
            vpcs: HashMap::new(),
            gateway_endpoints: HashMap::new(),
            interface_endpoints: HashMap::new(),
            interface: InterfaceApp::new(),
            region_nets: Vec::new(),
            region_s3_nets: Vec::new(),
            ports: HashMap::new(),
            dns_rate: HashMap::new(),
            counters: Counters::default(),
            pending: false,
            deadline: None,
        };
        s.update(lab);
        Ok(s)
    }

    /// Takes a changed lab (a live `create-vpc-endpoint`, …): names, metadata and served
    /// addresses follow; ports whose VPC or endpoint is gone are closed with their
    /// connections. DNS overrides and live tokens are kept; metadata options are the model's.
    pub fn update(&mut self, lab: &Lab) {
        self.resolver.update(lab);
        self.imds.update(lab);
        self.vpcs = lab
            .vpcs
            .iter()
            .map(|v| {
                (
                    v.id.clone(),
                    VpcDoor {
                        dns_address: dns::vpc_resolver_address(v),
                        dns_support: v.enable_dns_support,
                    },
                )
            })
            .collect();
        let region = lab.region();
        self.gateway_endpoints = lab
            .vpc_endpoints
            .iter()
            .filter_map(|e| {
                let crate::model::EndpointKind::Gateway { prefix_list, .. } = &e.kind else {
                    return None;
                };
                let svc = region.gateway_service_by_prefix_list(prefix_list.as_str())?;
                Some((
                    e.id.clone(),
                    EndpointDoor {
                        vpc: e.vpc.clone(),
                        service: svc.short,
                        nets: svc.nets(),
                    },
                ))
            })
            .collect();
        self.interface_endpoints = lab
            .vpc_endpoints
            .iter()
            .filter(|e| passes_traffic(e))
            .filter_map(|e| {
                let crate::model::EndpointKind::Interface {
                    network_interfaces, ..
                } = &e.kind
                else {
                    return None;
                };
                let service = interface::service_of(&e.service_name)?;
                let ips = network_interfaces
                    .iter()
                    .filter_map(|id| lab.eni(id).map(|eni| eni.private_ip))
                    .collect();
                Some((e.id.clone(), InterfaceDoor { service, ips }))
            })
            .collect();
        self.region_nets = catalog::REGIONS
            .iter()
            .flat_map(|r| {
                r.gateway_services.iter().flat_map(|s| s.nets()).chain(
                    r.interface_services.iter().flat_map(|s| {
                        s.ips()
                            .into_iter()
                            .filter_map(|ip| Ipv4Net::new(ip, 32).ok())
                    }),
                )
            })
            .collect();
        self.region_s3_nets = catalog::REGIONS
            .iter()
            .filter_map(|r| r.gateway_service("s3"))
            .flat_map(|s| s.nets())
            .collect();
        self.region_dynamodb_nets = catalog::REGIONS
            .iter()
            .filter_map(|r| r.gateway_service("dynamodb"))
            .flat_map(|s| s.nets())
            .collect();
        self.policies.update(lab);
        self.health.update(lab);
        let (vpcs, gwes, iwes) = (
            &self.vpcs,
            &self.gateway_endpoints,
            &self.interface_endpoints,
        );
        self.ports.retain(|p, _| match p {
            ServicePort::AmazonProvided { vpc } => vpcs.contains_key(vpc),
            ServicePort::Region | ServicePort::InternetDns => true,
            ServicePort::GatewayEndpoint { vpce } => gwes.contains_key(vpce),
            ServicePort::InterfaceEndpoint { vpce } => iwes.contains_key(vpce),
            ServicePort::LoadBalancer { .. } => false, // never has a stack
        });
        self.dns_rate.retain(|v, _| vpcs.contains_key(v));
    }

    /// Takes one packet from the router on `port`. Dropped packets are counted; admitted
    /// ones are processed by the next [`Services::poll`].
    pub fn receive(&mut self, now: Instant, port: &ServicePort, packet: &[u8]) {
        self.counters.received += 1;
        if let ServicePort::LoadBalancer { arn } = port {
            self.receive_health(now, arn, packet);
            return;
        }
        match self.admit(now, port, packet) {
            Ok(len) => {
                let bytes = packet.get(..len).unwrap_or(packet).to_vec();
                match self.ports.get_mut(port) {
                    Some(stack) => stack.push(bytes),
                    None => {
                        let kind = match port {
                            ServicePort::AmazonProvided { .. } => Kind::AmazonProvided,
                            ServicePort::Region => Kind::Region,
                            ServicePort::GatewayEndpoint { .. } => Kind::Endpoint,
                            ServicePort::InterfaceEndpoint { .. } => Kind::InterfaceEndpoint,
                            ServicePort::LoadBalancer { .. } => return, // handled above
                            ServicePort::InternetDns => Kind::PublicDns,
                        };
                        // Port 80 serves S3 (when it has storage) and DynamoDB (always).
                        let mut stack = Stack::new(kind, true, now, self.config.random_seed);
                        stack.push(bytes);
                        self.ports.insert(port.clone(), stack);
                    }
                }
                self.counters.admitted += 1;
                self.pending = true;
            }
            Err(r) => self.counters.drop(r),
        }
    }

    /// A target's packet to a load balancer node: the health checker's, or reset.
    fn receive_health(&mut self, now: Instant, arn: &str, packet: &[u8]) {
        let r = inspect(packet).and_then(|p| {
            if !self.health.has_load_balancer(arn) {
                return Err(DropReason::UnknownPort);
            }
            let bytes = packet.get(..p.len).unwrap_or(packet);
            if self.health.receive(now, arn, bytes) {
                Ok(())
            } else {
                Err(DropReason::NotServed)
            }
        });
        match r {
            Ok(()) => self.counters.admitted += 1,
            Err(r) => self.counters.drop(r),
        }
        if self.health.has_output() {
            self.pending = true;
        }
    }

    /// Whether `port` serves `packet`; `Ok(IP total length)` when it does.
    fn admit(
        &mut self,
        now: Instant,
        port: &ServicePort,
        packet: &[u8],
    ) -> Result<usize, DropReason> {
        let p = inspect(packet)?;
        match port {
            ServicePort::AmazonProvided { vpc } => {
                let door = self.vpcs.get(vpc).ok_or(DropReason::UnknownPort)?;
                let to_dns = p.dst == door.dns_address || p.dst == catalog::AMAZON_DNS_LINK_LOCAL;
                match p.l4 {
                    L4::Udp(53) | L4::Tcp(53) if to_dns => {
                        if !door.dns_support {
                            return Err(DropReason::DnsDisabled);
                        }
                        self.dns_rate_check(now, vpc, p.src)?;
                    }
                    L4::Tcp(80) if p.dst == catalog::IMDS_ADDRESS => {
                        if self.imds.instance_at(vpc, p.src).is_none() {
                            return Err(DropReason::ImdsUnknownSource);
                        }
                    }
                    _ => return Err(DropReason::NotServed),
                }
            }
            ServicePort::Region => {
                let served = match p.l4 {
                    L4::EchoRequest => self.region_nets.iter().any(|n| n.contains(&p.dst)),
                    L4::Tcp(80) => {
                        (self.s3.is_some()
                            && self.region_s3_nets.iter().any(|n| n.contains(&p.dst)))
                            || self.region_dynamodb_nets.iter().any(|n| n.contains(&p.dst))
                            || self.interface.public_service(p.dst).is_some()
                    }
                    _ => false,
                };
                if !served {
                    return Err(DropReason::NotServed);
                }
            }
            ServicePort::GatewayEndpoint { vpce } => {
                let door = self
                    .gateway_endpoints
                    .get(vpce)
                    .ok_or(DropReason::UnknownPort)?;
                let inside = door.nets.iter().any(|n| n.contains(&p.dst));
                let served = match p.l4 {
                    L4::EchoRequest => inside,
                    L4::Tcp(80) => {
                        inside
                            && match door.service {
                                "s3" => self.s3.is_some(),
                                "dynamodb" => true,
                                _ => false,
                            }
                    }
                    _ => false,
                };
                if !served {
                    return Err(DropReason::NotServed);
                }
            }
            ServicePort::LoadBalancer { .. } => return Err(DropReason::NotServed),
            ServicePort::InternetDns => {
                if !matches!(p.l4, L4::Udp(53) | L4::Tcp(53)) || p.dst != catalog::INTERNET_RESOLVER
                {
                    return Err(DropReason::NotServed);
                }
            }
            ServicePort::InterfaceEndpoint { vpce } => {
                let door = self
                    .interface_endpoints
                    .get(vpce)
                    .ok_or(DropReason::UnknownPort)?;
                let served =
                    matches!(p.l4, L4::EchoRequest | L4::Tcp(80)) && door.ips.contains(&p.dst);
                if !served {
                    return Err(DropReason::NotServed);
                }
            }
        }
        Ok(p.len)
    }

    fn dns_rate_check(
        &mut self,
        now: Instant,
        vpc: &VpcId,
        src: Ipv4Addr,
    ) -> Result<(), DropReason> {
        let second = now.total_millis() / 1000;
        let per_vpc = match self.dns_rate.get_mut(vpc) {
            Some(m) => m,
            None => self.dns_rate.entry(vpc.clone()).or_default(),
        };
        if per_vpc.len() > 65_536 {
            per_vpc.retain(|_, r| r.second == second);
        }
        let r = per_vpc.entry(src).or_insert(Rate { second, packets: 0 });
        if r.second != second {
            *r = Rate { second, packets: 0 };
        }
        r.packets = r.packets.saturating_add(1);
        if r.packets > self.config.dns_packets_per_second {
            return Err(DropReason::DnsThrottled);
        }
        Ok(())
    }

    /// Runs every port: processes the admitted packets and timers, and emits the replies.
    pub fn poll(&mut self, now: Instant, mut emit: impl FnMut(&ServicePort, &[u8])) {
        let mut http = HttpCounters::default();
        for (port, stack) in self.ports.iter_mut() {
            let vpc = match port {
                ServicePort::AmazonProvided { vpc } => Some(vpc),
                _ => None,
            };
            let endpoint = match port {
                ServicePort::GatewayEndpoint { vpce } => self
                    .gateway_endpoints
                    .get(vpce)
                    .map(|door| (vpce, &door.vpc)),
                _ => None,
            };
            let interface_endpoint = match port {
                ServicePort::InterfaceEndpoint { vpce } => self
                    .interface_endpoints
                    .get(vpce)
                    .map(|door| (vpce, door.service)),
                _ => None,
            };
            let mut ctx = AppCtx {
                now,
                vpc,
                resolver: &self.resolver,
                imds: &mut self.imds,
                dns: &mut self.counters.dns,
                http: &mut http,
                endpoint,
                s3: self.s3.as_mut(),
                dynamodb: &mut self.dynamodb,
                dynamodb_nets: &self.region_dynamodb_nets,
                policies: &self.policies,
                wall_millis: self
                    .config
                    .epoch_unix_millis
                    .saturating_add(now.total_millis()),
                interface: &mut self.interface,
                interface_endpoint,
            };
            self.counters.emitted += stack.run(&mut ctx, &mut |p| emit(port, p));
        }
        self.counters.http.requests += http.requests;
        self.counters.http.bad_requests += http.bad_requests;
        let peak = &mut self.counters.http.peak_conn_buffered;
        *peak = (*peak).max(http.peak_conn_buffered);
        self.health.poll(now);
        self.counters.emitted += self.health.drain(|arn, p| {
            emit(
                &ServicePort::LoadBalancer {
                    arn: arn.to_string(),
                },
                p,
            )
        });
        self.pending = false;
        self.deadline = self.ports.values_mut().filter_map(|s| s.poll_at(now)).min();
    }

    /// [`Services::poll_at`] for a caller that holds `&self` (smoltcp needs `&mut` to
    /// compute it): `now` when packets were admitted since the last `poll`, else the
    /// earliest timer as of the last `poll`.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        if self.pending {
            Some(now)
        } else {
            [self.deadline, self.health.next_wake(now)]
                .into_iter()
                .flatten()
                .min()
        }
    }

    /// When [`Services::poll`] must next run even without new packets (`None`: not until a
    /// packet arrives).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let health = self.health.next_wake(now);
        self.ports
            .values_mut()
            .filter_map(|s| s.poll_at(now))
            .chain(health)
            .min()
    }

    /// What the services did so far.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.imds = self.imds.counters.clone();
        if let Some(s3) = &self.s3 {
            c.s3 = s3.counters.clone();
        }
        c.dynamodb = self.dynamodb.counters.clone();
        c.interface = self.interface.counters.clone();
        c.health = self.health.counters.clone();
        c
    }

    /// Every registered target's health, as `describe-target-health` reports it: by target
    /// group, in registration order.
    pub fn target_health(&self) -> Vec<TargetHealth> {
        self.health.target_health()
    }

    /// Increases whenever a target's health state (or reason) changes, or a target comes or
    /// goes: the runtime pushes [`Services::target_health`] to the data plane when it moves.
    pub fn health_generation(&self) -> u64 {
        self.health.generation()
    }

    /// Amazon DNS (to look names up, or to install per-VPC overrides).
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Amazon DNS, mutable: [`Resolver::overrides_mut`] (interface endpoints' private DNS
    /// follows [`Services::update`] by itself).
    pub fn resolver_mut(&mut self) -> &mut Resolver {
        &mut self.resolver
    }

    /// Instance metadata.
    pub fn imds(&self) -> &Imds {
        &self.imds
    }

    /// Sets an instance's metadata options (`HttpTokens`, PUT response hop limit).
    pub fn set_metadata_options(&mut self, id: &InstanceId, opts: MetadataOptions) {
        self.imds.set_options(id, opts);
    }

    /// The ports that have a stack (have admitted at least one packet).
    pub fn active_ports(&self) -> Vec<ServicePort> {
        let mut v: Vec<_> = self.ports.keys().cloned().collect();
        v.sort();
        v
    }

    /// Live TCP connections of an application on a port.
    pub fn connections(&self, port: &ServicePort, app: App) -> usize {
        self.ports.get(port).map_or(0, |s| s.connections(app))
    }
}

#[cfg(test)]
mod tests;
