//! The router's view of a lab: a [`Snapshot`] compiled from the model.
//!
//! Contract:
//! - [`Snapshot::build`] turns a resolved [`Lab`] into flat tables indexed by
//!   small integers ([`VpcIx`], [`SubnetIx`], [`EniIx`], …): ENIs by private
//!   and public address, route tables as [`route::Table`](super::route::Table)s, security groups
//!   and network ACLs compiled for matching. The packet path reads nothing
//!   else, and allocates nothing.
//! - A snapshot is immutable. A change to the lab (a route, a rule, an
//!   endpoint) builds a new one, which the router swaps in between two frames.
//!   Port ids stay stable across snapshots: building from a previous snapshot
//!   keeps every port it had (a port whose resource is gone stays, inactive)
//!   and appends new ones. VPC indices follow the lab's VPC order, which live
//!   changes never reorder, so connection tracking (keyed by VPC) survives.
//! - Ports are what frames come from and go to: an ENI's TAP, the emulated
//!   internet, the regional public services, a gateway endpoint's service
//!   side, and each VPC's Amazon-provided services (DNS, instance metadata).
//!   TAP ports carry Ethernet frames behind a virtio-net header and take GSO
//!   super-frames; service ports carry bare IPv4 packets, complete and never
//!   GSO (see [`Framing`]).
//! - [`Snapshot::explain`] turns a drop reason into AWS ids and a sentence.

use core::net::Ipv4Addr;
use std::collections::HashMap;

use ipnet::Ipv4Net;
use thiserror::Error;

use super::hash::FastState;
use super::lpm::Lpm;
use super::nacl::Acl;
use super::route::{Hop, Table};
use super::secgroup::{Rule, Rules};
use super::verdict::DropReason;
mod elb;

pub use self::elb::{
    Elb, EndpointTo, EniRole, InterfaceEndpoint, Listener, Nlb, NlbNode, NlbTarget, TargetGroup,
};

use crate::model::{
    self, catalog, cidr, AclId, Destination, EniId, IgwId, Lab, Mac, RouteTableId, RouteTarget,
    SgId, SubnetId, VpcId, VpceId,
};

pub use super::index::{
    AclIx, EniIx, IfeIx, NlbIx, PortId, RtIx, SgIx, SubnetIx, TargetIx, TgIx, VpcIx, VpceIx,
};

use super::index::ix;

/// What is behind a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// An ENI's TAP: an instance's `eth0` (or an interface endpoint's or NLB node's network
    /// interface).
    Eni(EniId),
    /// The emulated internet behind every internet gateway.
    Internet,
    /// The emulated AWS services (Amazon DNS, metadata, the region's service addresses,
    /// endpoints, health checks).
    Service(ServicePort),
}

/// A port behind which the emulated AWS services answer (`services` speaks of ports in these
/// terms), keyed by model ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServicePort {
    /// Amazon DNS and IMDS for the instances of one VPC.
    AmazonProvided {
        /// The VPC whose Amazon DNS (base + 2, 169.254.169.253) and instance metadata
        /// (169.254.169.254) it serves.
        vpc: VpcId,
    },
    /// The region's public service addresses, reached through an internet gateway.
    Region,
    /// S3 or DynamoDB through one gateway endpoint.
    GatewayEndpoint {
        /// The gateway endpoint (`vpce-…`).
        vpce: VpceId,
    },
    /// An AWS service through one interface endpoint: what instances send to the
    /// endpoint's ENI IPs, past its security groups.
    InterfaceEndpoint {
        /// The interface endpoint (`vpce-…`).
        vpce: VpceId,
    },
    /// One load balancer's nodes, as health checkers: probes leave on it (source: a node's
    /// private IP), and the router hands back on it the targets' packets to a node IP that
    /// belong to no client flow.
    LoadBalancer {
        /// The load balancer's ARN.
        arn: String,
    },
    /// The emulated internet's resolver at `catalog::INTERNET_RESOLVER`: public names
    /// only (load balancers, instances' public names, the region's services).
    InternetDns,
}

/// How frames on a port are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// A virtio-net header, then an Ethernet frame; GSO super-frames and
    /// partial checksums pass through (a TAP with offloads).
    Tap,
    /// A bare IPv4 packet with complete checksums, never GSO (a service).
    Ip,
}

/// A port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// What is behind it.
    pub kind: PortKind,
    /// How its frames are framed.
    pub framing: Framing,
    /// Its resource still exists in the lab.
    pub active: bool,
}

impl Port {
    fn new(kind: PortKind) -> Port {
        let framing = match kind {
            PortKind::Eni(_) | PortKind::Internet => Framing::Tap,
            _ => Framing::Ip,
        };
        Port {
            kind,
            framing,
            active: true,
        }
    }
}

/// A VPC.
#[derive(Debug)]
pub struct Vpc {
    /// Its id.
    pub id: VpcId,
    /// Its CIDR.
    pub cidr: Ipv4Net,
    /// The Amazon DNS address (base + 2).
    pub dns: Ipv4Addr,
    /// The attached internet gateway.
    pub igw: Option<IgwId>,
    /// The port of its Amazon-provided services.
    pub amazon_port: PortId,
}

/// A subnet.
#[derive(Debug)]
pub struct Subnet {
    /// Its id.
    pub id: SubnetId,
    /// Its CIDR.
    pub cidr: Ipv4Net,
    /// Its VPC.
    pub vpc: VpcIx,
    /// The router's address in it (base + 1).
    pub router_ip: Ipv4Addr,
    /// Its route table (explicit association, else the main table).
    pub route_table: RtIx,
    /// Its network ACL.
    pub acl: AclIx,
}

/// A network interface.
#[derive(Debug)]
pub struct Eni {
    /// Its id.
    pub id: EniId,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Its private IPv4.
    pub ip: Ipv4Addr,
    /// Its public IPv4.
    pub public_ip: Option<Ipv4Addr>,
    /// Its subnet.
    pub subnet: SubnetIx,
    /// Its VPC.
    pub vpc: VpcIx,
    /// Its security groups.
    pub security_groups: Vec<SgIx>,
    /// Its TAP port.
    pub port: PortId,
    /// Source/destination check on (the default).
    pub source_dest_check: bool,
    /// Per direction and protocol: some group has an all-ports rule open to
    /// `0.0.0.0/0` (AWS's untracked-flow condition), `[in, out]` × `[tcp, udp]`.
    pub open_all_ports: [[bool; 2]; 2],
    /// What it belongs to: an instance (a TAP), an interface endpoint or a load balancer
    /// node (no TAP: the router answers for them).
    pub role: EniRole,
}

/// A route table.
#[derive(Debug)]
pub struct RouteTable {
    /// Its id.
    pub id: RouteTableId,
    /// Its routes.
    pub table: Table,
    /// The model's routes by index (`Entry::route`), destination and target: for naming
    /// the route that carried a packet (captures), never read on the packet path.
    pub routes: Vec<(Destination, RouteTarget)>,
}

/// A security group.
#[derive(Debug)]
pub struct SecurityGroup {
    /// Its id.
    pub id: SgId,
    /// Inbound rules.
    pub ingress: Rules,
    /// Outbound rules.
    pub egress: Rules,
}

/// A network ACL.
#[derive(Debug)]
pub struct NetworkAcl {
    /// Its id.
    pub id: AclId,
    /// Its entries.
    pub acl: Acl,
}

/// A gateway endpoint.
#[derive(Debug)]
pub struct GatewayEndpoint {
    /// Its id.
    pub id: VpceId,
    /// Its VPC.
    pub vpc: VpcIx,
    /// Its service port.
    pub port: PortId,
}

/// The error of building a snapshot: the lab is not fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopologyError {
    /// A reference to a resource the lab does not have.
    #[error("{what} {id} refers to {missing}, which is not in the lab (verify the lab first)")]
    Dangling {
        /// The kind of the referring resource.
        what: &'static str,
        /// Its id.
        id: String,
        /// What is missing.
        missing: String,
    },
    /// Two ENIs of one VPC share a private IP.
    #[error("ENIs {a} and {b} both have private IP {ip} in one VPC")]
    DuplicateAddress {
        /// One ENI.
        a: String,
        /// The other.
        b: String,
        /// The address.
        ip: Ipv4Addr,
    },
}

/// The address the router has on the emulated internet, the internet host's
/// default gateway and DNS resolver (and the source of the internet gateway's ICMP errors).
pub const INTERNET_GATEWAY_IP: Ipv4Addr = catalog::INTERNET_RESOLVER;

/// The emulated internet's segment.
pub const INTERNET_NET: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(203, 0, 113, 0), 24) {
    Ok(n) => n,
    Err(_) => panic!("valid"),
};

/// The internet gateway's MTU.
pub const IGW_MTU: u16 = 1500;
/// The MTU within a VPC (jumbo frames): an IP packet an instance sends larger than this is
/// dropped, with Fragmentation Needed when DF is set (AWS's documented PMTUD behaviour).
pub const VPC_MTU: u16 = 9001;

/// What a port is to the packet path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ENI's TAP.
    Eni(EniIx),
    /// The emulated internet.
    Internet,
    /// The regional public services.
    Region,
    /// A gateway endpoint's service side.
    GatewayEndpoint(VpceIx),
    /// A VPC's Amazon-provided services.
    AmazonProvided(VpcIx),
    /// The AWS service behind an interface endpoint.
    InterfaceEndpoint(IfeIx),
    /// A load balancer's health checks.
    LoadBalancer(NlbIx),
    /// The emulated internet's DNS resolver.
    InternetDns,
    /// A port whose resource is gone.
    Inactive,
}

/// A compiled lab; see the module docs.
#[derive(Debug)]
pub struct Snapshot {
    /// The MAC of the router on every port (the subnet router's MAC).
    pub router_mac: [u8; 6],
    /// The MAC the emulated internet host's interface must have.
    pub internet_host_mac: [u8; 6],
    /// Every port, indexed by [`PortId`].
    pub ports: Vec<Port>,
    /// VPCs, in the lab's order.
    pub vpcs: Vec<Vpc>,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// ENIs.
    pub enis: Vec<Eni>,
    /// Route tables.
    pub route_tables: Vec<RouteTable>,
    /// Security groups.
    pub security_groups: Vec<SecurityGroup>,
    /// Network ACLs.
    pub acls: Vec<NetworkAcl>,
    /// Gateway endpoints.
    pub gateway_endpoints: Vec<GatewayEndpoint>,
    /// The internet port.
    pub internet_port: PortId,
    /// The regional public services' port.
    pub region_port: PortId,
    /// The emulated internet's DNS resolver's port.
    pub internet_dns_port: PortId,
    /// Load balancers, target groups and interface endpoints.
    pub elb: Elb,
    /// The active ports by what is behind them.
    by_kind: HashMap<PortKind, PortId>,
    eni_by_ip: HashMap<(u32, u32), EniIx, FastState>,
    eni_by_public_ip: HashMap<u32, EniIx, FastState>,
    roles: Vec<Role>,
    /// Public addresses of AWS services in every catalog region.
    region_services: Lpm<()>,
}

struct Ports {
    ports: Vec<Port>,
    by_kind: HashMap<PortKind, PortId>,
}

impl Ports {
    fn from_previous(prev: Option<&Snapshot>) -> Ports {
        let mut ports: Vec<Port> = prev.map(|s| s.ports.clone()).unwrap_or_default();
        ports.iter_mut().for_each(|p| p.active = false);
        let by_kind = ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.kind.clone(), ix(i)))
            .collect();
        Ports { ports, by_kind }
    }

    fn get(&mut self, kind: PortKind) -> PortId {
        if let Some(&id) = self.by_kind.get(&kind) {
            if let Some(p) = self.ports.get_mut(id.ix()) {
                p.active = true;
            }
            return id;
        }
        let id: PortId = ix(self.ports.len());
        self.by_kind.insert(kind.clone(), id);
        self.ports.push(Port::new(kind));
        id
    }
}

fn position<T>(items: &[T], pred: impl Fn(&T) -> bool) -> Option<usize> {
    items.iter().position(pred)
}

fn dangling(what: &'static str, id: &str, missing: impl Into<String>) -> TopologyError {
    TopologyError::Dangling {
        what,
        id: id.to_string(),
        missing: missing.into(),
    }
}

impl Snapshot {
    /// Compiles `lab`, keeping the port ids of `previous`.
    pub fn build(lab: &Lab, previous: Option<&Snapshot>) -> Result<Snapshot, TopologyError> {
        let mut ports = Ports::from_previous(previous);
        let internet_port = ports.get(PortKind::Internet);
        let region_port = ports.get(PortKind::Service(ServicePort::Region));
        let internet_dns_port = ports.get(PortKind::Service(ServicePort::InternetDns));

        let vpcs = lab
            .vpcs
            .iter()
            .map(|v| Vpc {
                id: v.id.clone(),
                cidr: v.cidr,
                dns: cidr::dns_address(v.cidr),
                igw: lab.igw_of(&v.id).map(|g| g.id.clone()),
                amazon_port: ports.get(PortKind::Service(ServicePort::AmazonProvided {
                    vpc: v.id.clone(),
                })),
            })
            .collect::<Vec<_>>();
        let vpc_ix = |id: &VpcId| position(&lab.vpcs, |v| &v.id == id).map(ix::<VpcIx>);

        let gateway_endpoints = lab
            .vpc_endpoints
            .iter()
            .filter(|e| matches!(e.kind, model::EndpointKind::Gateway { .. }))
            .map(|e| {
                Ok(GatewayEndpoint {
                    id: e.id.clone(),
                    vpc: vpc_ix(&e.vpc)
                        .ok_or_else(|| dangling("endpoint", e.id.as_str(), e.vpc.as_str()))?,
                    port: ports.get(PortKind::Service(ServicePort::GatewayEndpoint {
                        vpce: e.id.clone(),
                    })),
                })
            })
            .collect::<Result<Vec<_>, TopologyError>>()?;

        let compiled_groups = compile_groups(lab);
        let acls = lab
            .network_acls
            .iter()
            .map(|a| NetworkAcl {
                id: a.id.clone(),
                acl: Acl::compile(&a.entries),
            })
            .collect::<Vec<_>>();
        let route_tables = compile_route_tables(lab, &gateway_endpoints);

        let subnets = lab
            .subnets
            .iter()
            .map(|s| {
                let d = |m: &str| dangling("subnet", s.id.as_str(), m);
                let rt = lab
                    .route_table_for(&s.id)
                    .ok_or_else(|| d("a route table"))?;
                let acl = lab
                    .network_acl_for(&s.id)
                    .ok_or_else(|| d("a network ACL"))?;
                Ok(Subnet {
                    id: s.id.clone(),
                    cidr: s.cidr,
                    vpc: vpc_ix(&s.vpc).ok_or_else(|| d(s.vpc.as_str()))?,
                    router_ip: cidr::router_address(s.cidr),
                    route_table: position(&lab.route_tables, |r| r.id == rt.id)
                        .map(ix)
                        .ok_or_else(|| d(rt.id.as_str()))?,
                    acl: position(&lab.network_acls, |a| a.id == acl.id)
                        .map(ix)
                        .ok_or_else(|| d(acl.id.as_str()))?,
                })
            })
            .collect::<Result<Vec<_>, TopologyError>>()?;

        let mut enis = Vec::with_capacity(lab.network_interfaces.len());
        let mut eni_by_ip = HashMap::with_hasher(FastState::with_seed(0x5eed));
        let mut eni_by_public_ip = HashMap::with_hasher(FastState::with_seed(0x5eed));
        for (i, e) in lab.network_interfaces.iter().enumerate() {
            let d = |m: &str| dangling("network interface", e.id.as_str(), m);
            let subnet: SubnetIx = position(&lab.subnets, |s| s.id == e.subnet)
                .map(ix)
                .ok_or_else(|| d(e.subnet.as_str()))?;
            let vpc = subnets
                .get(subnet.ix())
                .map(|s| s.vpc)
                .ok_or_else(|| d(e.subnet.as_str()))?;
            let security_groups = e
                .security_groups
                .iter()
                .map(|g| {
                    position(&lab.security_groups, |s| &s.id == g)
                        .map(ix)
                        .ok_or_else(|| d(g.as_str()))
                })
                .collect::<Result<Vec<SgIx>, _>>()?;
            let public_ip = e.public_ip;
            let open_all_ports = open_all_ports(&security_groups, &compiled_groups);
            let eni_ix: EniIx = ix(i);
            if let Some(prev) = eni_by_ip.insert((vpc.0, u32::from(e.private_ip)), eni_ix) {
                let a: &Eni = &enis[prev.ix()];
                return Err(TopologyError::DuplicateAddress {
                    a: a.id.to_string(),
                    b: e.id.to_string(),
                    ip: e.private_ip,
                });
            }
            if let Some(p) = public_ip {
                eni_by_public_ip.insert(u32::from(p), eni_ix);
            }
            enis.push(Eni {
                id: e.id.clone(),
                mac: e.mac.0,
                ip: e.private_ip,
                public_ip,
                subnet,
                vpc,
                security_groups,
                port: ports.get(PortKind::Eni(e.id.clone())),
                source_dest_check: e.source_dest_check,
                open_all_ports,
                role: EniRole::Instance,
            });
        }

        let elb = {
            let vpc_ix = |id: &VpcId| vpc_ix(id);
            let by_ip = |v: VpcIx, ip: Ipv4Addr| eni_by_ip.get(&(v.0, u32::from(ip))).copied();
            elb::compile(
                &elb::Ctx {
                    lab,
                    vpc_ix: &vpc_ix,
                    eni_by_ip: &by_ip,
                },
                &mut ports,
            )?
        };
        for (eni, role) in enis.iter_mut().zip(&elb.eni_roles) {
            eni.role = *role;
        }

        let mut region_services = Lpm::new();
        for r in catalog::REGIONS {
            for s in r.gateway_services {
                for n in s.nets() {
                    let _ = region_services.insert(n.network(), n.prefix_len(), ());
                }
            }
            for s in r.interface_services {
                for a in s.ips() {
                    let _ = region_services.insert(a, 32, ());
                }
            }
        }

        let mut roles = vec![Role::Inactive; ports.ports.len()];
        let mut set = |p: PortId, r: Role| {
            if let Some(slot) = roles.get_mut(p.ix()) {
                *slot = r;
            }
        };
        set(internet_port, Role::Internet);
        set(region_port, Role::Region);
        set(internet_dns_port, Role::InternetDns);
        for (i, v) in vpcs.iter().enumerate() {
            set(v.amazon_port, Role::AmazonProvided(ix(i)));
        }
        for (i, g) in gateway_endpoints.iter().enumerate() {
            set(g.port, Role::GatewayEndpoint(ix(i)));
        }
        for (i, e) in enis.iter().enumerate() {
            set(e.port, Role::Eni(ix(i)));
        }
        for (i, n) in elb.nlbs.iter().enumerate() {
            set(n.health_port, Role::LoadBalancer(ix::<NlbIx>(i)));
        }
        for (i, e) in elb.interface_endpoints.iter().enumerate() {
            if let EndpointTo::Service { port } = e.to {
                set(port, Role::InterfaceEndpoint(ix::<IfeIx>(i)));
            }
        }

        let by_kind = ports
            .by_kind
            .into_iter()
            .filter(|(_, id)| ports.ports.get(id.ix()).is_some_and(|p| p.active))
            .collect();
        Ok(Snapshot {
            router_mac: Mac::generate(&format!("{}/router", lab.stack_name)).0,
            internet_host_mac: Mac::generate(&format!("{}/internet", lab.stack_name)).0,
            ports: ports.ports,
            by_kind,
            vpcs,
            subnets,
            enis,
            route_tables,
            security_groups: compiled_groups,
            acls,
            gateway_endpoints,
            internet_port,
            region_port,
            internet_dns_port,
            elb,
            eni_by_ip,
            eni_by_public_ip,
            roles,
            region_services,
        })
    }
}

/// AWS's untracked-flow condition, per direction and protocol: one of the
/// ENI's groups opens every port of TCP (UDP) to `0.0.0.0/0`.
fn open_all_ports(groups: &[SgIx], compiled: &[SecurityGroup]) -> [[bool; 2]; 2] {
    let any = |inbound: bool, proto: u8| {
        groups.iter().filter_map(|g| compiled.get(g.ix())).any(|g| {
            let rules = if inbound { &g.ingress } else { &g.egress };
            rules.all_ports_open_world(proto)
        })
    };
    [
        [any(true, 6), any(true, 17)],
        [any(false, 6), any(false, 17)],
    ]
}

fn compile_groups(lab: &Lab) -> Vec<SecurityGroup> {
    let group = |id: &SgId| position(&lab.security_groups, |g| &g.id == id).map(ix::<SgIx>);
    let pl = |id: &model::PrefixListId| lab.prefix_list_cidrs(id);
    let compile = |rules: &[model::SgRule]| {
        Rules(
            rules
                .iter()
                .filter_map(|r| Rule::compile(r, group, pl))
                .collect(),
        )
    };
    lab.security_groups
        .iter()
        .map(|g| SecurityGroup {
            id: g.id.clone(),
            ingress: compile(&g.ingress),
            egress: compile(&g.egress),
        })
        .collect()
}

fn compile_route_tables(lab: &Lab, endpoints: &[GatewayEndpoint]) -> Vec<RouteTable> {
    let mut out = Vec::with_capacity(lab.route_tables.len());
    for rt in &lab.route_tables {
        let mut table = Table::new();
        // CIDR routes first, so that prefix lists only fill what is left.
        let mut order: Vec<(usize, &model::Route)> = rt.routes.iter().enumerate().collect();
        order.sort_by_key(|(_, r)| matches!(r.destination, Destination::PrefixList(_)));
        for (i, route) in order {
            let n = u16::try_from(i).unwrap_or(u16::MAX);
            let hop = if !lab.route_is_active(rt, route) {
                match route.target {
                    RouteTarget::NatGateway(_) | RouteTarget::Peering(_) => Hop::Unsupported,
                    _ => Hop::Blackhole,
                }
            } else {
                match &route.target {
                    RouteTarget::Local => Hop::Local,
                    RouteTarget::InternetGateway(_) => Hop::InternetGateway,
                    RouteTarget::GatewayEndpoint(e) => endpoints
                        .iter()
                        .position(|g| &g.id == e)
                        .map_or(Hop::Blackhole, |p| Hop::GatewayEndpoint(ix(p))),
                    RouteTarget::NetworkInterface(e) => eni_hop(lab, e),
                    RouteTarget::Instance(i) => lab
                        .instance(i)
                        .map_or(Hop::Blackhole, |inst| eni_hop(lab, &inst.eni)),
                    RouteTarget::NatGateway(_) | RouteTarget::Peering(_) => Hop::Unsupported,
                }
            };
            match &route.destination {
                Destination::Cidr(net) => table.add_cidr(*net, hop, n),
                Destination::PrefixList(pl) => {
                    table.add_prefix_list(&lab.prefix_list_cidrs(pl), hop, n)
                }
            }
        }
        out.push(RouteTable {
            id: rt.id.clone(),
            table,
            routes: rt
                .routes
                .iter()
                .map(|r| (r.destination.clone(), r.target.clone()))
                .collect(),
        });
    }
    out
}

fn eni_hop(lab: &Lab, eni: &EniId) -> Hop {
    position(&lab.network_interfaces, |e| &e.id == eni).map_or(Hop::Blackhole, |i| Hop::Eni(ix(i)))
}

impl Snapshot {
    /// The ENI with private IP `ip` in VPC `vpc`.
    #[inline]
    pub fn eni_by_ip(&self, vpc: VpcIx, ip: Ipv4Addr) -> Option<EniIx> {
        self.eni_by_ip.get(&(vpc.0, u32::from(ip))).copied()
    }

    /// The ENI with public IP `ip`.
    #[inline]
    pub fn eni_by_public_ip(&self, ip: Ipv4Addr) -> Option<EniIx> {
        self.eni_by_public_ip.get(&u32::from(ip)).copied()
    }

    /// What a port is; [`Role::Inactive`] for an unknown port.
    #[inline]
    pub fn role(&self, port: PortId) -> Role {
        self.roles.get(port.ix()).copied().unwrap_or(Role::Inactive)
    }

    /// Whether `ip` is a public address of an AWS service in a catalog region.
    #[inline]
    pub fn is_region_service(&self, ip: Ipv4Addr) -> bool {
        self.region_services.lookup(ip).is_some()
    }

    /// The ENI at `i`.
    #[inline]
    pub fn eni(&self, i: EniIx) -> Option<&Eni> {
        self.enis.get(i.ix())
    }

    /// The subnet at `i`.
    #[inline]
    pub fn subnet(&self, i: SubnetIx) -> Option<&Subnet> {
        self.subnets.get(i.ix())
    }

    /// The VPC at `i`.
    #[inline]
    pub fn vpc(&self, i: VpcIx) -> Option<&Vpc> {
        self.vpcs.get(i.ix())
    }

    /// The port at `p`.
    #[inline]
    pub fn port(&self, p: PortId) -> Option<&Port> {
        self.ports.get(p.ix())
    }

    /// The port of a kind, if the snapshot has one.
    pub fn port_of(&self, kind: &PortKind) -> Option<PortId> {
        self.by_kind.get(kind).copied()
    }

    /// The active port behind which `service` answers.
    pub fn service_port(&self, service: &ServicePort) -> Option<PortId> {
        // A `PortKind` is needed to look up; service ports are few and this runs per packet
        // the services send, not per forwarded frame.
        self.port_of(&PortKind::Service(service.clone()))
    }

    /// Whether `member(g, ip)`: `ip` is the private IP of an ENI of group `g`
    /// in VPC `vpc`.
    #[inline]
    pub fn in_group(&self, vpc: VpcIx, g: SgIx, ip: Ipv4Addr) -> bool {
        self.eni_by_ip(vpc, ip)
            .and_then(|e| self.eni(e))
            .is_some_and(|e| e.security_groups.contains(&g))
    }

    fn eni_text(&self, e: EniIx) -> String {
        match self.eni(e) {
            Some(eni) => {
                let groups: Vec<&str> = eni
                    .security_groups
                    .iter()
                    .filter_map(|g| self.security_groups.get(g.ix()))
                    .map(|g| g.id.as_str())
                    .collect();
                format!(
                    "{} ({}; security groups {})",
                    eni.id,
                    eni.ip,
                    groups.join(", ")
                )
            }
            None => format!("ENI #{}", e.0),
        }
    }

    fn rt_text(&self, r: RtIx) -> String {
        self.route_tables
            .get(r.ix())
            .map_or_else(|| format!("route table #{}", r.0), |t| t.id.to_string())
    }

    fn nlb_text(&self, n: NlbIx) -> String {
        self.elb.nlbs.get(n.ix()).map_or_else(
            || format!("#{}", n.0),
            |l| format!("{} ({})", l.name, l.arn),
        )
    }

    fn ife_text(&self, i: IfeIx) -> String {
        self.elb
            .interface_endpoints
            .get(i.ix())
            .map_or_else(|| format!("#{}", i.0), |e| e.id.to_string())
    }

    /// What ENI `e` belongs to.
    #[inline]
    pub fn eni_role(&self, e: EniIx) -> EniRole {
        self.eni(e).map_or(EniRole::Instance, |e| e.role)
    }

    /// The index of target `ip:port` of target group `arn`.
    pub fn target_index(&self, arn: &str, ip: Ipv4Addr, port: u16) -> Option<TargetIx> {
        let tg = self.elb.target_groups.iter().find(|t| t.arn == arn)?;
        tg.targets.iter().copied().find(|t| {
            self.elb
                .targets
                .get(t.ix())
                .is_some_and(|x| x.ip == ip && x.port == port)
        })
    }

    /// A sentence for a drop reason, naming the AWS resources.
    pub fn explain(&self, d: &DropReason) -> String {
        let acl = |a: AclIx| {
            self.acls
                .get(a.ix())
                .map_or_else(|| format!("ACL #{}", a.0), |a| a.id.to_string())
        };
        let vpc = |v: VpcIx| {
            self.vpc(v)
                .map_or_else(|| format!("VPC #{}", v.0), |v| v.id.to_string())
        };
        let rule = |r: u16| {
            if r == model::ACL_DEFAULT_RULE {
                "the final * rule".to_string()
            } else {
                format!("rule {r}")
            }
        };
        match *d {
            DropReason::Malformed => "malformed frame".into(),
            DropReason::UnsupportedEtherType(t) => format!("EtherType {t:#06x} is not IPv4 or ARP"),
            DropReason::NotUnicast => "broadcast or multicast: a VPC carries unicast only".into(),
            DropReason::ArpIgnored => "ARP not for the subnet router or an ENI of the subnet".into(),
            DropReason::UnknownPort(p) => format!("port {} is not in the lab", p.0),
            DropReason::SourceDestCheck(e) => format!(
                "source/destination check of {}: the address is not the interface's",
                self.eni_text(e)
            ),
            DropReason::NoRoute(r) => format!("no route in {} matches the destination", self.rt_text(r)),
            DropReason::Blackhole(r) => format!(
                "the matching route in {} is a blackhole (its target is gone)",
                self.rt_text(r)
            ),
            DropReason::NoSuchAddress(v) => format!("no network interface has this address in {}", vpc(v)),
            DropReason::SgEgressDenied(e) => format!("no outbound rule of {} allows it", self.eni_text(e)),
            DropReason::SgIngressDenied(e) => format!("no inbound rule of {} allows it", self.eni_text(e)),
            DropReason::NaclOutDenied { acl: a, rule: r } => {
                format!("network ACL {} denies it outbound ({})", acl(a), rule(r))
            }
            DropReason::NaclInDenied { acl: a, rule: r } => {
                format!("network ACL {} denies it inbound ({})", acl(a), rule(r))
            }
            DropReason::NoPublicIp(e) => format!(
                "{} has no public IPv4 address, so the internet gateway cannot translate it",
                self.eni_text(e)
            ),
            DropReason::NoInternetGateway(v) => format!("{} has no internet gateway attached", vpc(v)),
            DropReason::NoSuchPublicAddress => "no instance has this public address".into(),
            DropReason::ConntrackFull => "the connection-tracking table is full".into(),
            DropReason::TtlExceeded => "TTL exceeded at the internet gateway".into(),
            DropReason::MtuExceeded => {
                "larger than the internet gateway's 1500-byte MTU with DF set".into()
            }
            DropReason::VpcMtuExceeded => format!(
                "larger than the VPC's {VPC_MTU}-byte MTU (Fragmentation Needed sent when DF is set)"
            ),
            DropReason::UnsupportedTarget(r) => format!(
                "the matching route in {} targets a NAT gateway or peering connection, which vpclab does not emulate yet",
                self.rt_text(r)
            ),
            DropReason::Unexpected(p) => format!("port {} sent a packet it has no business sending", p.0),
            DropReason::RouterAddress => "the VPC router answers only ping at its own addresses".into(),
            DropReason::NlbNoListener(n) => format!(
                "load balancer {} has no listener for this protocol and port",
                self.nlb_text(n)
            ),
            DropReason::NlbNoTarget(n) => format!(
                "load balancer {} has no registered target in this node's Availability Zone (cross-zone load balancing is off) or its target group is empty",
                self.nlb_text(n)
            ),
            DropReason::NlbNoFlow(n) => format!(
                "load balancer {}: a TCP packet of no known connection (not a SYN; the flow idled out or its target was reset)",
                self.nlb_text(n)
            ),
            DropReason::NlbFlowsFull => "the load balancers' flow table is full".into(),
            DropReason::EndpointNotAccepted(i) => format!(
                "the connection of endpoint {} is not accepted by the endpoint service (pendingAcceptance or rejected): accept-vpc-endpoint-connections",
                self.ife_text(i)
            ),
            DropReason::EndpointNoService(i) => format!(
                "endpoint {}: its endpoint service or the service's load balancer is gone",
                self.ife_text(i)
            ),
            DropReason::EndpointNoNodeInAz(i) => format!(
                "endpoint {}: the service's load balancer has no node in this network interface's Availability Zone",
                self.ife_text(i)
            ),
            DropReason::EndpointMtuExceeded(i) => format!(
                "larger than the 8500-byte MTU of endpoint {} (no Path MTU Discovery: AWS drops it)",
                self.ife_text(i)
            ),
        }
    }
}

#[cfg(test)]
mod tests;
