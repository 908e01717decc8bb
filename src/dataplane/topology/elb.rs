//! Load balancers and interface endpoints, compiled for the packet path.
//!
//! Contract: [`compile`] turns the lab's Network Load Balancers (nodes, listeners, target
//! groups, targets) and interface endpoints (their network interfaces, and what is behind
//! them: an AWS service's port, or an endpoint service's load balancer) into flat tables
//! indexed by [`NlbIx`], [`TgIx`], [`TargetIx`] and [`IfeIx`], and says of every ENI that is
//! not an instance's what it belongs to ([`EniRole`]). Nothing here reads a packet; the
//! router's `nlb` and `endpoint` stages read these tables and allocate nothing.

use core::net::Ipv4Addr;
use core::time::Duration;

use super::{
    ix, EniIx, IfeIx, NlbIx, PortId, PortKind, Ports, ServicePort, SubnetIx, TargetIx, TgIx,
    TopologyError, VpcIx,
};
use crate::model::catalog::{parse_service_name, ServiceName};
use crate::model::{self, EniOwner, Lab, VpceId};

/// What an ENI belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EniRole {
    /// An instance's `eth0` (a TAP).
    Instance,
    /// A network interface of an interface endpoint (no TAP: the router answers for it).
    InterfaceEndpoint(IfeIx),
    /// A load balancer node's network interface (no TAP).
    LbNode {
        /// The load balancer.
        nlb: NlbIx,
        /// Which of its nodes.
        node: u16,
    },
}

/// One node of a load balancer: its network interface in one subnet (one AZ).
#[derive(Debug)]
pub struct NlbNode {
    /// Its network interface.
    pub eni: EniIx,
    /// Its subnet.
    pub subnet: SubnetIx,
    /// Its private IP.
    pub ip: Ipv4Addr,
    /// Its public IP (internet-facing load balancers).
    pub public_ip: Option<Ipv4Addr>,
    /// Its Availability Zone (index into the lab's AZ names).
    pub az: u16,
}

/// A listener: protocol and port → target group.
#[derive(Debug, Clone, Copy)]
pub struct Listener {
    /// TCP (6) or UDP (17); `0` for TCP_UDP (both).
    pub protocol: u8,
    /// Its port.
    pub port: u16,
    /// Where it forwards.
    pub tg: TgIx,
}

/// A Network Load Balancer.
#[derive(Debug)]
pub struct Nlb {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its VPC.
    pub vpc: VpcIx,
    /// Its nodes, one per enabled subnet.
    pub nodes: Vec<NlbNode>,
    /// Its listeners.
    pub listeners: Vec<Listener>,
    /// `load_balancing.cross_zone.enabled`.
    pub cross_zone: bool,
    /// It was created with security groups (its nodes' ENIs carry them).
    pub has_security_groups: bool,
    /// `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic`.
    pub enforce_sg_on_privatelink: bool,
    /// The port its health checks come from and go back to.
    pub health_port: PortId,
}

impl Nlb {
    /// The listener for `protocol`/`port`.
    pub fn listener(&self, protocol: u8, port: u16) -> Option<&Listener> {
        self.listeners
            .iter()
            .find(|l| l.port == port && (l.protocol == protocol || l.protocol == 0))
    }
}

/// A target group.
#[derive(Debug)]
pub struct TargetGroup {
    /// Its ARN.
    pub arn: String,
    /// Its VPC.
    pub vpc: VpcIx,
    /// Its targets.
    pub targets: Vec<TargetIx>,
    /// Client IP preservation (off: the target sees the node's private IP).
    pub preserve_client_ip: bool,
    /// `proxy_protocol_v2.enabled`.
    pub proxy_protocol_v2: bool,
    /// TCP idle timeout.
    pub tcp_idle: Duration,
    /// Its own cross-zone setting (`None`: the load balancer's).
    pub cross_zone: Option<bool>,
    /// Reset connections to a target that turns unhealthy.
    pub terminate_on_unhealthy: bool,
}

/// A registered target.
#[derive(Debug)]
pub struct NlbTarget {
    /// Its group.
    pub tg: TgIx,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// Its Availability Zone, if an ENI of the lab has its address.
    pub az: Option<u16>,
    /// The ENI with its address, if any.
    pub eni: Option<EniIx>,
}

/// What is behind an interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointTo {
    /// An AWS service, served on this port.
    Service {
        /// The service port.
        port: PortId,
    },
    /// An endpoint service: its load balancer (if the service and its NLB exist), and
    /// whether the connection is accepted (`available`).
    EndpointService {
        /// The provider's load balancer.
        nlb: Option<NlbIx>,
        /// The endpoint's state lets traffic pass.
        accepted: bool,
    },
}

/// An interface endpoint.
#[derive(Debug)]
pub struct InterfaceEndpoint {
    /// Its id.
    pub id: VpceId,
    /// Its VPC.
    pub vpc: VpcIx,
    /// What is behind it.
    pub to: EndpointTo,
}

/// Everything this module compiles.
#[derive(Debug, Default)]
pub struct Elb {
    /// Load balancers.
    pub nlbs: Vec<Nlb>,
    /// Target groups.
    pub target_groups: Vec<TargetGroup>,
    /// Targets.
    pub targets: Vec<NlbTarget>,
    /// Interface endpoints.
    pub interface_endpoints: Vec<InterfaceEndpoint>,
    /// Per ENI of the lab (by index), what it belongs to.
    pub eni_roles: Vec<EniRole>,
    /// Availability Zone names by index.
    pub azs: Vec<String>,
    /// Subnet index → its AZ index.
    pub subnet_az: Vec<u16>,
}

/// The lab's view the compiler needs from the rest of the snapshot.
pub(super) struct Ctx<'a> {
    pub lab: &'a Lab,
    pub vpc_ix: &'a dyn Fn(&model::VpcId) -> Option<VpcIx>,
    pub eni_by_ip: &'a dyn Fn(VpcIx, Ipv4Addr) -> Option<EniIx>,
}

fn dangling(what: &'static str, id: &str, missing: impl Into<String>) -> TopologyError {
    TopologyError::Dangling {
        what,
        id: id.to_string(),
        missing: missing.into(),
    }
}

fn position<T>(items: &[T], pred: impl Fn(&T) -> bool) -> Option<usize> {
    items.iter().position(pred)
}

/// Compiles the lab's load balancers and interface endpoints; see the module docs.
pub(super) fn compile(c: &Ctx<'_>, ports: &mut Ports) -> Result<Elb, TopologyError> {
    let lab = c.lab;
    let mut azs: Vec<String> = Vec::new();
    let mut az_ix = |name: &str| -> u16 {
        let i = azs.iter().position(|a| a == name).unwrap_or_else(|| {
            azs.push(name.to_string());
            azs.len() - 1
        });
        u16::try_from(i).unwrap_or(u16::MAX)
    };
    let subnet_az: Vec<u16> = lab
        .subnets
        .iter()
        .map(|s| az_ix(&s.availability_zone))
        .collect();
    let eni_ix = |id: &model::EniId| position(&lab.network_interfaces, |e| &e.id == id);
    let subnet_ix = |id: &model::SubnetId| position(&lab.subnets, |s| &s.id == id);

    // Target groups and their targets.
    let mut target_groups = Vec::with_capacity(lab.target_groups.len());
    let mut targets = Vec::new();
    for (ti, tg) in lab.target_groups.iter().enumerate() {
        let d = |m: &str| dangling("target group", &tg.arn, m);
        let vpc = (c.vpc_ix)(&tg.vpc).ok_or_else(|| d(tg.vpc.as_str()))?;
        let mut mine = Vec::with_capacity(tg.targets.len());
        for t in &tg.targets {
            let (ip, eni) = if tg.target_type == "instance" {
                let Some(inst) = lab.instances.iter().find(|i| i.id.as_str() == t.id) else {
                    continue; // an instance gone since: the target is unused
                };
                (inst.private_ip, eni_ix(&inst.eni).map(ix::<EniIx>))
            } else {
                let Ok(ip) = t.id.parse::<Ipv4Addr>() else {
                    continue;
                };
                (ip, (c.eni_by_ip)(vpc, ip))
            };
            let az = eni
                .and_then(|e| lab.network_interfaces.get(e.ix()))
                .and_then(|e| subnet_ix(&e.subnet))
                .and_then(|s| subnet_az.get(s).copied());
            mine.push(ix::<TargetIx>(targets.len()));
            targets.push(NlbTarget {
                tg: ix::<TgIx>(ti),
                ip,
                port: t.port,
                az,
                eni,
            });
        }
        target_groups.push(TargetGroup {
            arn: tg.arn.clone(),
            vpc,
            targets: mine,
            preserve_client_ip: tg.preserve_client_ip(),
            proxy_protocol_v2: tg.proxy_protocol_v2(),
            tcp_idle: Duration::from_secs(u64::from(tg.tcp_idle_timeout_seconds())),
            cross_zone: tg.cross_zone(),
            terminate_on_unhealthy: tg.terminate_on_unhealthy(),
        });
    }

    // Load balancers, their nodes and listeners.
    let mut eni_roles = vec![EniRole::Instance; lab.network_interfaces.len()];
    let mut nlbs = Vec::with_capacity(lab.load_balancers.len());
    for (ni, lb) in lab.load_balancers.iter().enumerate() {
        let d = |m: &str| dangling("load balancer", &lb.arn, m);
        let vpc = (c.vpc_ix)(&lb.vpc).ok_or_else(|| d(lb.vpc.as_str()))?;
        let mut nodes = Vec::with_capacity(lb.nodes.len());
        for (k, n) in lb.nodes.iter().enumerate() {
            let e = eni_ix(&n.eni).ok_or_else(|| d(n.eni.as_str()))?;
            let s = subnet_ix(&n.subnet).ok_or_else(|| d(n.subnet.as_str()))?;
            if let Some(r) = eni_roles.get_mut(e) {
                *r = EniRole::LbNode {
                    nlb: ix::<NlbIx>(ni),
                    node: u16::try_from(k).unwrap_or(u16::MAX),
                };
            }
            nodes.push(NlbNode {
                eni: ix::<EniIx>(e),
                subnet: ix::<SubnetIx>(s),
                ip: n.private_ip,
                public_ip: lab.network_interfaces.get(e).and_then(|e| e.public_ip),
                az: subnet_az.get(s).copied().unwrap_or(u16::MAX),
            });
        }
        let listeners = lab
            .listeners
            .iter()
            .filter(|l| l.load_balancer == lb.arn)
            .filter_map(|l| {
                let tg = position(&lab.target_groups, |t| {
                    l.target_group.as_deref() == Some(t.arn.as_str())
                })?;
                let protocol = match l.protocol.as_str() {
                    "UDP" => 17,
                    "TCP_UDP" => 0,
                    _ => 6,
                };
                Some(Listener {
                    protocol,
                    port: l.port,
                    tg: ix::<TgIx>(tg),
                })
            })
            .collect();
        nlbs.push(Nlb {
            arn: lb.arn.clone(),
            name: lb.name.clone(),
            vpc,
            nodes,
            listeners,
            cross_zone: lb.cross_zone,
            has_security_groups: !lb.security_groups.is_empty(),
            enforce_sg_on_privatelink: lb.enforce_sg_inbound_on_privatelink,
            health_port: ports.get(PortKind::Service(ServicePort::LoadBalancer {
                arn: lb.arn.clone(),
            })),
        });
    }

    // Interface endpoints.
    let mut interface_endpoints = Vec::new();
    for e in &lab.vpc_endpoints {
        let model::EndpointKind::Interface {
            network_interfaces, ..
        } = &e.kind
        else {
            continue;
        };
        let vpc = (c.vpc_ix)(&e.vpc)
            .ok_or_else(|| dangling("endpoint", e.id.as_str(), e.vpc.as_str()))?;
        let to = match parse_service_name(&e.service_name) {
            Some(ServiceName::EndpointService { .. }) => {
                let nlb = lab
                    .endpoint_service_of(e)
                    .and_then(|s| s.network_load_balancers.first())
                    .and_then(|arn| position(&lab.load_balancers, |l| &l.arn == arn))
                    .map(ix::<NlbIx>);
                EndpointTo::EndpointService {
                    nlb,
                    accepted: e.passes_traffic(),
                }
            }
            _ => EndpointTo::Service {
                port: ports.get(PortKind::Service(ServicePort::InterfaceEndpoint {
                    vpce: e.id.clone(),
                })),
            },
        };
        let me = ix::<IfeIx>(interface_endpoints.len());
        for eni in network_interfaces {
            if let Some(r) = eni_ix(eni).and_then(|i| eni_roles.get_mut(i)) {
                *r = EniRole::InterfaceEndpoint(me);
            }
        }
        interface_endpoints.push(InterfaceEndpoint {
            id: e.id.clone(),
            vpc,
            to,
        });
    }
    // Owners the model names that the loops above did not see stay instances only if they
    // are: an orphaned endpoint or load balancer ENI must never be taken for a TAP.
    for (i, e) in lab.network_interfaces.iter().enumerate() {
        if eni_roles[i] == EniRole::Instance && !matches!(e.owner, EniOwner::Instance(_)) {
            return Err(dangling(
                "network interface",
                e.id.as_str(),
                "its endpoint or load balancer",
            ));
        }
    }
    Ok(Elb {
        nlbs,
        target_groups,
        targets,
        interface_endpoints,
        eni_roles,
        azs,
        subnet_az,
    })
}
