//! `vpclab explain`: the lab's Reachability Analyzer. Why can (or can't) A reach B?
//!
//! Contract:
//! - [`explain`] answers one [`Query`] (source, destination, protocol, port) against a
//!   [`Lab`] with an [`Analysis`]: every hop of the forward path and of the return path, each
//!   with the component and the rule that let the packet on, or the first component that
//!   blocks it with AWS's explanation code (`NO_ROUTE_TO_DESTINATION`,
//!   `ENI_SG_RULES_MISMATCH`, `SUBNET_ACL_RESTRICTION`, …) and a plain fix.
//! - It implements none of AWS's rules itself: it compiles the lab into the data plane's
//!   [`Snapshot`], runs a synthetic packet through a fresh [`Router`] (empty connection
//!   tracking), injected on the source's port, follows the frames the router emits hop by
//!   hop, then sends the destination's reply back the same way. The router's trace hook
//!   ([`Step`]) says which gate and route let the packet on; its [`DropReason`] where and why
//!   it stopped. Which rule of a group matched is read with the data plane's own compiled
//!   rules, and an endpoint policy is asked through the services' own evaluation.
//! - Two answers are not the network's: a load balancer whose chosen target is unhealthy
//!   (its health checks failed; the data plane fails open and the target does not answer) is `ELBV2_NO_TARGETS_IN_AZ`,
//!   and a gateway endpoint policy that denies the service's list request is
//!   `VPCE_POLICY_RESTRICTION` (vpclab's own code: AWS's analyzer does not read policies).
//!   UDP or a non-echo ICMP to a gateway endpoint is `VPCE_GATEWAY_PROTOCOL_RESTRICTION`.
//! - Sources are named as the checker names them (an instance's logical id, id or private
//!   IP, or `internet`); destinations also by IPv4 address, `s3`, `dynamodb`, a load
//!   balancer's name, or a DNS name, resolved as the lab's DNS answers from the source.
//! - Pure: no host I/O. Live state (target health) comes in as [`Health`].
//!
//! Size: the analysis and its two renderings (text, AWS JSON), the walker over the real
//! router, and the mapping of every drop reason to AWS's explanation code share the walk's
//! types (about 1,170 lines, and its tests); the rules themselves are the data plane's.

use core::net::Ipv4Addr;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use thiserror::Error;

use crate::control::diagram::Health;
use crate::dataplane::nacl::Way;
use crate::dataplane::packet::{parse_ipv4, L4};
use crate::dataplane::router::{Config, Router, Sink, Step};
use crate::dataplane::secgroup::Rule;
use crate::dataplane::testkit::{self, Addrs, Flags};
use crate::dataplane::time::Instant;
use crate::dataplane::topology::{
    EndpointTo, EniRole, Framing, PortId, Role, Snapshot, TopologyError, INTERNET_NET,
};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::{HdrSize, VnetHdr};
use crate::dataplane::wire::ethernet;
use crate::model::{catalog, Destination, Instance, Lab, RouteTarget, SgRule};
use crate::services::authz::{path_conditions, Policies, Via};
use crate::services::dns::Resolver;

/// The source port of the synthetic TCP/UDP packet.
const SOURCE_PORT: u16 = 43_210;
/// The ICMP echo identifier of the synthetic ping.
const ECHO_ID: u16 = 0x7670;

/// The protocol of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP (a SYN, answered by a SYN-ACK).
    Tcp,
    /// UDP.
    Udp,
    /// ICMP echo (ping).
    Icmp,
}

impl Protocol {
    /// Reads `tcp`, `udp` or `icmp` (any case).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            _ => None,
        }
    }

    /// Its name, as AWS writes it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }
}

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The source, as the checker names it.
    pub source: String,
    /// The destination, as the checker names it.
    pub destination: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port (TCP/UDP; 80 when not given).
    pub port: Option<u16>,
}

/// Why a query cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExplainError {
    /// The source names nothing.
    #[error("source `{name}` names no instance of the lab (use an instance's name, id or private IP, or `internet`: {known})")]
    UnknownSource {
        /// As given.
        name: String,
        /// The lab's instances.
        known: String,
    },
    /// The destination names nothing.
    #[error("destination `{name}` is no instance, address, load balancer or DNS name the lab's DNS answers from {from} (use an instance ({known}), an IPv4 address, a DNS name, s3, dynamodb or internet)")]
    UnknownDestination {
        /// As given.
        name: String,
        /// The source.
        from: String,
        /// The lab's instances.
        known: String,
    },
    /// The internet was asked to reach an instance without a public address.
    #[error("destination `{0}` has no public IP, so the internet cannot name it (aim at an instance with a public IP, or explain from inside the VPC)")]
    NoPublicName(String),
    /// The lab does not compile into a data plane.
    #[error("the lab cannot be compiled: {0}")]
    Topology(#[from] TopologyError),
}

/// One component a packet crossed, and what let it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHop {
    /// The component's id (`sg-…`, `acl-…`, `rtb-…`, `i-…`, `vpce-…`, `igw-…`, `internet`).
    pub component: String,
    /// What it is, in AWS's words (`security-group`, `network-acl`, `route-table`, …).
    pub kind: &'static str,
    /// What it decided: the rule that allowed the packet.
    pub detail: String,
}

/// Why the path is not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// AWS's explanation code.
    pub code: &'static str,
    /// The component that blocks (its id).
    pub component: String,
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// On the return path (else the forward path).
    pub on_return: bool,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The query.
    pub query: Query,
    /// The source address used.
    pub source_ip: Ipv4Addr,
    /// The destination address used.
    pub destination_ip: Ipv4Addr,
    /// The forward path as far as it went.
    pub forward: Vec<PathHop>,
    /// The return path as far as it went.
    pub ret: Vec<PathHop>,
    /// `None` when the path is found.
    pub explanation: Option<Explanation>,
}

impl Analysis {
    /// Whether the destination is reachable (both ways).
    pub fn reachable(&self) -> bool {
        self.explanation.is_none()
    }

    /// `reachable`, or the explanation code.
    pub fn outcome(&self) -> &'static str {
        self.explanation.as_ref().map_or("reachable", |e| e.code)
    }

    /// The analysis for people: each hop on a line, then the verdict and the fix.
    pub fn text(&self) -> String {
        let q = &self.query;
        let port = match (q.protocol, q.port) {
            (Protocol::Icmp, _) => String::new(),
            (_, p) => format!(":{}", p.unwrap_or(80)),
        };
        let mut s = format!(
            "{} ({}) → {} ({}{port}) {}\n",
            q.source,
            self.source_ip,
            q.destination,
            self.destination_ip,
            q.protocol.name()
        );
        let hops = |s: &mut String, title: &str, hops: &[PathHop]| {
            if hops.is_empty() {
                return;
            }
            s.push_str(title);
            for (i, h) in hops.iter().enumerate() {
                s.push_str(&format!(
                    "  {:>2}. {:<15} {:<28} {}\n",
                    i + 1,
                    h.kind,
                    h.component,
                    h.detail
                ));
            }
        };
        hops(&mut s, "forward path:\n", &self.forward);
        hops(&mut s, "return path:\n", &self.ret);
        match &self.explanation {
            None => s.push_str("reachable: the path is found both ways\n"),
            Some(e) => {
                s.push_str(&format!(
                    "not reachable: {} at {}{}\n  {}\n  fix: {}\n",
                    e.code,
                    e.component,
                    if e.on_return { " (return path)" } else { "" },
                    e.message,
                    e.fix
                ));
            }
        }
        s
    }

    /// The analysis as `aws ec2 describe-network-insights-analyses` prints it.
    pub fn json(&self) -> Value {
        let q = &self.query;
        let comps = |hops: &[PathHop]| -> Vec<Value> {
            hops.iter()
                .enumerate()
                .map(|(i, h)| {
                    json!({
                        "SequenceNumber": i + 1,
                        "Component": {"Id": h.component, "Name": h.kind},
                        "Explanation": h.detail,
                    })
                })
                .collect()
        };
        let mut a = json!({
            "NetworkInsightsAnalysisId": "nia-vpclab",
            "Status": "succeeded",
            "NetworkPathFound": self.reachable(),
            "FilterInArns": [],
            "ForwardPathComponents": comps(&self.forward),
            "ReturnPathComponents": comps(&self.ret),
            "Source": q.source,
            "Destination": q.destination,
            "SourceIp": self.source_ip.to_string(),
            "DestinationIp": self.destination_ip.to_string(),
            "Protocol": q.protocol.name(),
        });
        if let (Protocol::Tcp | Protocol::Udp, Some(obj)) = (q.protocol, a.as_object_mut()) {
            obj.insert("DestinationPort".into(), json!(q.port.unwrap_or(80)));
        }
        if let (Some(e), Some(obj)) = (&self.explanation, a.as_object_mut()) {
            obj.insert(
                "Explanations".into(),
                json!([{
                    "ExplanationCode": e.code,
                    "Component": {"Id": e.component},
                    "Direction": if e.on_return { "egress-return" } else { "forward" },
                    "Explanation": e.message,
                    "Fix": e.fix,
                }]),
            );
        }
        json!({ "NetworkInsightsAnalyses": [a] })
    }
}

/// AWS's explanation code for a drop, and a plain fix.
pub fn code_of(d: &DropReason) -> (&'static str, &'static str) {
    match d {
        DropReason::NoRoute(_) => (
            "NO_ROUTE_TO_DESTINATION",
            "add a route for the destination to the source subnet's route table (a gateway endpoint adds one for S3/DynamoDB)",
        ),
        DropReason::Blackhole(_) => (
            "BAD_STATE_ROUTE",
            "replace the blackhole route: its target is gone",
        ),
        DropReason::SgEgressDenied(_) => (
            "ENI_SG_RULES_MISMATCH",
            "add an outbound rule for this protocol, port and destination to one of the source's security groups",
        ),
        DropReason::SgIngressDenied(_) => (
            "ENI_SG_RULES_MISMATCH",
            "add an inbound rule for this protocol, port and source to one of the receiver's security groups",
        ),
        DropReason::NaclOutDenied { .. } => (
            "SUBNET_ACL_RESTRICTION",
            "add an outbound allow entry (numbered before the deny) to the subnet's network ACL",
        ),
        DropReason::NaclInDenied { .. } => (
            "SUBNET_ACL_RESTRICTION",
            "add an inbound allow entry (numbered before the deny) to the subnet's network ACL",
        ),
        DropReason::NoPublicIp(_) => (
            "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS",
            "give the instance a public IP (AssociatePublicIpAddress, an Elastic IP) or route through a gateway endpoint",
        ),
        DropReason::NoInternetGateway(_) | DropReason::NoSuchPublicAddress => (
            "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS",
            "reach the instance at its public IP, through a VPC with an internet gateway attached",
        ),
        DropReason::SourceDestCheck(_) => (
            "ENI_SOURCE_DEST_CHECK_RESTRICTION",
            "turn the source/destination check off on the middlebox's network interface",
        ),
        DropReason::NlbNoListener(_) => (
            "ELBV2_LISTENER_PORT_RESTRICTION",
            "add a listener for this protocol and port to the load balancer",
        ),
        DropReason::NlbNoTarget(_) | DropReason::NlbNoFlow(_) => (
            "ELBV2_NO_TARGETS_IN_AZ",
            "register a healthy target in the load balancer node's Availability Zone, or turn cross-zone load balancing on",
        ),
        DropReason::EndpointNotAccepted(_) | DropReason::EndpointNoService(_) => (
            "BAD_STATE",
            "accept the endpoint's connection on the endpoint service (accept-vpc-endpoint-connections), or recreate the endpoint",
        ),
        DropReason::EndpointNoNodeInAz(_) => (
            "VPCE_SERVICE_NOT_INSTALLED_IN_AZ",
            "give the endpoint service's load balancer a node in the endpoint's Availability Zone",
        ),
        DropReason::RouterAddress => (
            "TARGET_PORT_RESTRICTION",
            "the VPC router answers only ping: aim at an instance or a service",
        ),
        DropReason::NoSuchAddress(_) => (
            "NO_PATH",
            "aim at an address a network interface of the VPC has",
        ),
        DropReason::UnsupportedTarget(_) => (
            "NO_PATH",
            "vpclab does not emulate NAT gateways or peering yet: route through an internet gateway or an endpoint",
        ),
        _ => ("NO_PATH", "see the message; the packet itself was refused"),
    }
}

/// Everything the router emitted for one frame, and its trace.
#[derive(Default)]
struct Tracer {
    sent: Vec<(PortId, Vec<u8>)>,
    steps: Vec<Step>,
}

impl Sink for Tracer {
    fn to_tap(&mut self, port: PortId, _vnet: &VnetHdr, frame: &[u8]) {
        self.sent.push((port, frame.to_vec()));
    }
    fn to_service(&mut self, port: PortId, packet: &[u8]) {
        self.sent.push((port, packet.to_vec()));
    }
    fn trace(&mut self, step: Step) {
        self.steps.push(step);
    }
}

/// Where a packet starts or ends.
#[derive(Debug, Clone, Copy)]
struct End {
    port: PortId,
    mac: [u8; 6],
    ip: Ipv4Addr,
}

fn instance_names(lab: &Lab) -> String {
    let v: Vec<String> = lab.instances.iter().map(Instance::name).collect();
    v.join(", ")
}

/// The instance an expectation or a query names: logical id, id or private IP.
pub fn find_instance<'a>(lab: &'a Lab, q: &str) -> Option<&'a Instance> {
    lab.instances.iter().find(|i| {
        i.origin.logical_id.as_deref() == Some(q)
            || i.id.as_str() == q
            || i.private_ip.to_string() == q
    })
}

/// Explains `q` on `lab`; `health` is the running lab's target health (`None`: every
/// target healthy, as a template promises).
pub fn explain(lab: &Lab, q: &Query, health: Option<&Health>) -> Result<Analysis, ExplainError> {
    let snap = Arc::new(Snapshot::build(lab, None)?);
    let from_internet = q.source == "internet";
    let (src, src_vpc) = if from_internet {
        let end = End {
            port: snap.internet_port,
            mac: snap.internet_host_mac,
            ip: catalog::INTERNET_HOST,
        };
        (end, None)
    } else {
        let i = find_instance(lab, &q.source).ok_or_else(|| ExplainError::UnknownSource {
            name: q.source.clone(),
            known: instance_names(lab),
        })?;
        let port = snap
            .port_of(&crate::dataplane::topology::PortKind::Eni(i.eni.clone()))
            .ok_or_else(|| ExplainError::UnknownSource {
                name: q.source.clone(),
                known: instance_names(lab),
            })?;
        let mac = lab.eni(&i.eni).map_or([0; 6], |e| e.mac.0);
        let vpc = lab.subnet(&i.subnet).map(|s| s.vpc.clone());
        (
            End {
                port,
                mac,
                ip: i.private_ip,
            },
            vpc,
        )
    };
    let dst_ip = destination(lab, q, src_vpc.as_ref())?;

    let mut router = Router::new(
        Arc::clone(&snap),
        Config {
            conntrack_capacity: 256,
            flow_log_capacity: 16,
            nlb_capacity: 256,
            ..Config::default()
        },
    );
    set_health(lab, &snap, &mut router, health);
    let now = Instant::from_secs(1000);
    let mut analysis = Analysis {
        query: q.clone(),
        source_ip: src.ip,
        destination_ip: dst_ip,
        forward: Vec::new(),
        ret: Vec::new(),
        explanation: None,
    };
    let addrs = Addrs::new(src.mac, snap.router_mac, src.ip, dst_ip);
    let port = q.port.unwrap_or(80);
    let first = match q.protocol {
        Protocol::Tcp => testkit::tcp(&addrs, SOURCE_PORT, port, Flags::SYN, &[]),
        Protocol::Udp => testkit::udp(&addrs, SOURCE_PORT, port, b"vpclab explain"),
        Protocol::Icmp => testkit::ping(&addrs, ECHO_ID, 1),
    };
    let cx = Cx { lab, snap: &snap };
    // Forward.
    let arrived = match cx.walk(&mut router, now, src.port, first, &mut analysis.forward) {
        Ok(a) => a,
        Err(e) => {
            analysis.explanation = Some(e);
            return Ok(analysis);
        }
    };
    if let Some(e) = cx.at_destination(&arrived, q, health) {
        analysis.explanation = Some(e);
        return Ok(analysis);
    }
    // Return: the destination answers the packet as it arrived.
    let Some(reply) = cx.reply_to(&arrived) else {
        return Ok(analysis);
    };
    match cx.walk(&mut router, now, arrived.port, reply, &mut analysis.ret) {
        Ok(back) if back.port == src.port => {}
        Ok(back) => {
            analysis.explanation = Some(Explanation {
                code: "NO_PATH",
                component: cx.port_name(back.port),
                message: "the reply went elsewhere than the source".into(),
                fix: "look at the return path's routes".into(),
                on_return: true,
            })
        }
        Err(mut e) => {
            e.on_return = true;
            analysis.explanation = Some(e);
        }
    }
    Ok(analysis)
}

fn destination(
    lab: &Lab,
    q: &Query,
    vpc: Option<&crate::model::VpcId>,
) -> Result<Ipv4Addr, ExplainError> {
    let to = q.destination.as_str();
    let region = &lab.region;
    let name = match to {
        "internet" => return Ok(catalog::INTERNET_HOST),
        "s3" => format!("s3.{region}.amazonaws.com"),
        "dynamodb" => format!("dynamodb.{region}.amazonaws.com"),
        _ => {
            if let Ok(ip) = to.parse::<Ipv4Addr>() {
                return Ok(ip);
            }
            if let Some(i) = find_instance(lab, to) {
                return match vpc {
                    Some(_) => Ok(i.private_ip),
                    None => i
                        .public_ip
                        .ok_or_else(|| ExplainError::NoPublicName(to.to_string())),
                };
            }
            match lab.load_balancers.iter().find(|l| l.name == to) {
                Some(l) => l.dns_name.clone(),
                None => to.trim_end_matches('.').to_ascii_lowercase(),
            }
        }
    };
    let resolver = Resolver::new(lab);
    let records = match vpc {
        Some(v) => resolver.lookup(v, &name),
        None => resolver.public_view().lookup(&name),
    };
    records
        .and_then(|r| r.a.first().copied())
        .ok_or_else(|| ExplainError::UnknownDestination {
            name: to.to_string(),
            from: q.source.clone(),
            known: instance_names(lab),
        })
}

/// Tells the router each target's health: from the running lab, else every one healthy.
fn set_health(lab: &Lab, snap: &Snapshot, router: &mut Router, health: Option<&Health>) {
    let mut by_target: HashMap<(String, Ipv4Addr, u16), bool> = HashMap::new();
    for tg in &lab.target_groups {
        for t in &tg.targets {
            let ip = match find_instance(lab, &t.id) {
                Some(i) => i.private_ip,
                None => match t.id.parse() {
                    Ok(ip) => ip,
                    Err(_) => continue,
                },
            };
            let healthy = health
                .and_then(|h| h.state(&tg.arn, &t.id))
                .is_none_or(|s| s == "healthy");
            by_target.insert((tg.arn.clone(), ip, t.port), healthy);
        }
    }
    for t in &snap.elb.targets {
        let Some(g) = snap.elb.target_groups.get(t.tg.ix()) else {
            continue;
        };
        let healthy = by_target
            .get(&(g.arn.clone(), t.ip, t.port))
            .copied()
            .unwrap_or(true);
        router.set_target_health(&g.arn, t.ip, t.port, healthy);
    }
}

/// Where a frame arrived.
#[derive(Debug, Clone)]
struct Arrived {
    port: PortId,
    /// An Ethernet frame (a zero header in front of a service port's packet).
    frame: Vec<u8>,
}

struct Cx<'a> {
    lab: &'a Lab,
    snap: &'a Snapshot,
}

impl Cx<'_> {
    /// Injects `frame` on `port` and follows it through the router to where it leaves: an
    /// instance, the internet or a service. The hops are appended to `hops`.
    fn walk(
        &self,
        router: &mut Router,
        now: Instant,
        port: PortId,
        frame: Vec<u8>,
        hops: &mut Vec<PathHop>,
    ) -> Result<Arrived, Explanation> {
        let framing = self.snap.port(port).map_or(Framing::Tap, |p| p.framing);
        let mut buf = match framing {
            Framing::Tap => testkit::with_vnet(HdrSize::Legacy, &VnetHdr::PLAIN, &frame),
            Framing::Ip => ethernet::payload_of(&frame).to_vec(),
        };
        let mut t = Tracer::default();
        let dst = parse_ipv4(ethernet::payload_of(&frame)).map(|i| i.dst);
        let verdict = router.process(now, port, &mut buf, &mut t);
        // An endpoint or load balancer node goes where the packet met it: after the inbound
        // group of its network interface, or else where the packet left that interface's VPC.
        let middle: Vec<(usize, PathHop)> = dst
            .map(|d| self.middle_hops(d))
            .unwrap_or_default()
            .into_iter()
            .map(|(e, hop)| (self.middle_position(&t.steps, e), hop))
            .collect();
        for i in 0..=t.steps.len() {
            hops.extend(
                middle
                    .iter()
                    .filter(|(at, _)| *at == i)
                    .map(|(_, h)| h.clone()),
            );
            if let Some(s) = t.steps.get(i) {
                hops.push(self.hop_of(s));
            }
        }
        let out = match verdict {
            Verdict::Dropped(d) => return Err(self.explanation_of(&d)),
            Verdict::Answered => {
                return Err(Explanation {
                    code: "TARGET_PORT_RESTRICTION",
                    component: "vpc-router".into(),
                    message: "the VPC router answered the packet itself".into(),
                    fix: "aim at an instance or a service".into(),
                    on_return: false,
                })
            }
            Verdict::Forwarded(_) | Verdict::Delivered(_) => t.sent.into_iter().next(),
        };
        let Some((to, bytes)) = out else {
            return Err(Explanation {
                code: "NO_PATH",
                component: self.port_name(port),
                message: "the router sent nothing on".into(),
                fix: "see `vpclab status` for drops".into(),
                on_return: false,
            });
        };
        let bare = self.snap.port(to).is_some_and(|p| p.framing == Framing::Ip);
        let eth = if bare {
            let mut f = vec![0u8; ethernet::field::HEADER_LEN];
            f.extend_from_slice(&bytes);
            f
        } else {
            bytes
        };
        hops.push(PathHop {
            component: self.port_name(to),
            kind: self.port_kind(to),
            detail: "delivered".into(),
        });
        // A frame to an ENI or the internet has arrived; so has one for a service.
        let arrived = Arrived {
            port: to,
            frame: eth,
        };
        Ok(arrived)
    }

    /// Where in one pass's `steps` the hop of network interface `e` (an endpoint's, a load
    /// balancer node's) belongs: after that interface's inbound security group step; else
    /// before the first step in another VPC that follows a step in the interface's VPC; else
    /// at the end.
    fn middle_position(&self, steps: &[Step], e: crate::dataplane::topology::EniIx) -> usize {
        if let Some(i) = steps
            .iter()
            .position(|s| matches!(*s, Step::SecurityGroup { eni, inbound: true, .. } if eni == e))
        {
            return i + 1;
        }
        let Some(vpc) = self.snap.eni(e).map(|x| x.vpc) else {
            return steps.len();
        };
        let vpc_of = |s: &Step| match *s {
            Step::SecurityGroup { eni, .. } => self.snap.eni(eni).map(|x| x.vpc),
            Step::NetworkAcl { subnet, .. } => self.snap.subnet(subnet).map(|x| x.vpc),
            Step::Route { .. } => None,
        };
        let mut seen = false;
        for (i, s) in steps.iter().enumerate() {
            match vpc_of(s) {
                Some(v) if v == vpc => seen = true,
                Some(_) if seen => return i,
                _ => {}
            }
        }
        steps.len()
    }

    /// Hops the router took inside one pass that are not gates: an interface endpoint, a
    /// load balancer node, when the packet is addressed to one; each with its network
    /// interface.
    fn middle_hops(&self, dst: Ipv4Addr) -> Vec<(crate::dataplane::topology::EniIx, PathHop)> {
        let mut hops = Vec::new();
        for (v, _) in self.snap.vpcs.iter().enumerate() {
            let vpc = crate::dataplane::topology::VpcIx(u32::try_from(v).unwrap_or(0));
            let Some(e) = self.snap.eni_by_ip(vpc, dst) else {
                continue;
            };
            match self.snap.eni_role(e) {
                EniRole::InterfaceEndpoint(i) => {
                    if let Some(ife) = self.snap.elb.interface_endpoints.get(i.ix()) {
                        let service = self
                            .lab
                            .vpc_endpoints
                            .iter()
                            .find(|x| x.id == ife.id)
                            .map_or(String::new(), |x| {
                                format!("{} ({})", x.service_name, x.state)
                            });
                        hops.push((
                            e,
                            PathHop {
                                component: ife.id.to_string(),
                                kind: "vpc-endpoint",
                                detail: format!("interface endpoint {dst} → {service}"),
                            },
                        ));
                        // An endpoint service: the provider's load balancer takes it on.
                        if let EndpointTo::EndpointService { nlb: Some(n), .. } = ife.to {
                            if let Some(n) = self.snap.elb.nlbs.get(n.ix()) {
                                hops.push((
                                    e,
                                    PathHop {
                                        component: n.name.clone(),
                                        kind: "load-balancer",
                                        detail: "listener, target by flow hash (PrivateLink)"
                                            .into(),
                                    },
                                ));
                            }
                        }
                    }
                }
                EniRole::LbNode { nlb, .. } => {
                    if let Some(n) = self.snap.elb.nlbs.get(nlb.ix()) {
                        hops.push((
                            e,
                            PathHop {
                                component: n.name.clone(),
                                kind: "load-balancer",
                                detail: format!("node {dst}: listener, target by flow hash"),
                            },
                        ));
                    }
                }
                EniRole::Instance => {}
            }
        }
        hops
    }

    fn port_kind(&self, p: PortId) -> &'static str {
        match self.snap.role(p) {
            Role::Eni(e) => match self.snap.eni_role(e) {
                EniRole::Instance => "instance",
                _ => "network-interface",
            },
            Role::Internet | Role::InternetDns => "internet",
            Role::Region => "aws-service",
            Role::GatewayEndpoint(_) => "vpc-endpoint",
            Role::AmazonProvided(_) => "amazon-dns",
            Role::InterfaceEndpoint(_) => "aws-service",
            Role::LoadBalancer(_) => "load-balancer",
            Role::Inactive => "port",
        }
    }

    fn port_name(&self, p: PortId) -> String {
        match self.snap.role(p) {
            Role::Eni(e) => {
                let Some(eni) = self.snap.eni(e) else {
                    return format!("port {}", p.0);
                };
                self.lab
                    .instances
                    .iter()
                    .find(|i| i.eni == eni.id)
                    .map_or_else(|| eni.id.to_string(), |i| i.id.to_string())
            }
            Role::Internet | Role::InternetDns => "internet".into(),
            Role::Region => "regional-services".into(),
            Role::GatewayEndpoint(g) => self
                .snap
                .gateway_endpoints
                .get(g.ix())
                .map_or_else(|| format!("port {}", p.0), |g| g.id.to_string()),
            Role::AmazonProvided(_) => "amazon-provided-dns".into(),
            Role::InterfaceEndpoint(i) => self
                .snap
                .elb
                .interface_endpoints
                .get(i.ix())
                .map_or_else(|| format!("port {}", p.0), |e| e.id.to_string()),
            Role::LoadBalancer(n) => self
                .snap
                .elb
                .nlbs
                .get(n.ix())
                .map_or_else(|| format!("port {}", p.0), |n| n.name.clone()),
            Role::Inactive => format!("port {}", p.0),
        }
    }

    fn hop_of(&self, s: &Step) -> PathHop {
        match *s {
            Step::SecurityGroup {
                eni,
                inbound,
                tracked,
                info,
                peer,
            } => {
                let way = if inbound { "inbound" } else { "outbound" };
                let Some(e) = self.snap.eni(eni) else {
                    return PathHop {
                        component: format!("eni #{}", eni.0),
                        kind: "security-group",
                        detail: format!("{way}: allowed"),
                    };
                };
                if tracked {
                    return PathHop {
                        component: e.id.to_string(),
                        kind: "security-group",
                        detail: format!("{way}: reply of a tracked connection (stateful)"),
                    };
                }
                let (group, rule) = self.matching_rule(e, inbound, &info, peer);
                PathHop {
                    component: group,
                    kind: "security-group",
                    detail: format!("{way}: {rule}"),
                }
            }
            Step::NetworkAcl { acl, way, rule, .. } => {
                let id = self
                    .snap
                    .acls
                    .get(acl.ix())
                    .map_or_else(|| format!("acl #{}", acl.0), |a| a.id.to_string());
                let way = match way {
                    Way::In => "inbound",
                    Way::Out => "outbound",
                };
                PathHop {
                    component: id,
                    kind: "network-acl",
                    detail: format!("{way}: rule {rule} allows"),
                }
            }
            Step::Route { rt, entry } => {
                let Some(t) = self.snap.route_tables.get(rt.ix()) else {
                    return PathHop {
                        component: format!("rtb #{}", rt.0),
                        kind: "route-table",
                        detail: "a route matched".into(),
                    };
                };
                let route = self
                    .lab
                    .route_tables
                    .iter()
                    .find(|m| m.id == t.id)
                    .and_then(|m| m.routes.get(usize::from(entry.route)));
                let detail = match route {
                    Some(r) => format!(
                        "route {} → {}",
                        destination_text(&r.destination),
                        target_text(&r.target)
                    ),
                    None => format!("route {:?}", entry.hop),
                };
                PathHop {
                    component: t.id.to_string(),
                    kind: "route-table",
                    detail,
                }
            }
        }
    }

    /// The group and rule of `eni` that allow the packet, found with the data plane's own
    /// compiled matching.
    fn matching_rule(
        &self,
        eni: &crate::dataplane::topology::Eni,
        inbound: bool,
        info: &crate::dataplane::packet::Ipv4Info,
        peer: Ipv4Addr,
    ) -> (String, String) {
        let lab = self.lab;
        let snap = self.snap;
        let group_ix = |id: &crate::model::SgId| {
            lab.security_groups
                .iter()
                .position(|g| &g.id == id)
                .map(|i| crate::dataplane::topology::SgIx(u32::try_from(i).unwrap_or(0)))
        };
        let pl = |id: &crate::model::PrefixListId| lab.prefix_list_cidrs(id);
        let member = |g, ip| snap.in_group(eni.vpc, g, ip);
        for g in &eni.security_groups {
            let Some(sg) = lab.security_groups.get(g.ix()) else {
                continue;
            };
            let rules = if inbound { &sg.ingress } else { &sg.egress };
            for r in rules {
                let hit = Rule::compile(r, group_ix, pl)
                    .is_some_and(|c| c.matches(info.protocol, &info.l4, peer, &member));
                if hit {
                    return (
                        format!("{} ({})", sg.id, sg.group_name),
                        format!("{} allows", rule_text(r)),
                    );
                }
            }
        }
        (eni.id.to_string(), "allowed".into())
    }

    fn explanation_of(&self, d: &DropReason) -> Explanation {
        let (code, fix) = code_of(d);
        let component = match *d {
            DropReason::NoRoute(r)
            | DropReason::Blackhole(r)
            | DropReason::UnsupportedTarget(r) => {
                self.snap.route_tables.get(r.ix()).map(|t| t.id.to_string())
            }
            DropReason::SgEgressDenied(e)
            | DropReason::SgIngressDenied(e)
            | DropReason::NoPublicIp(e)
            | DropReason::SourceDestCheck(e) => self.snap.eni(e).map(|x| {
                let groups: Vec<String> = x
                    .security_groups
                    .iter()
                    .filter_map(|g| self.snap.security_groups.get(g.ix()))
                    .map(|g| g.id.to_string())
                    .collect();
                match d {
                    DropReason::SgEgressDenied(_) | DropReason::SgIngressDenied(_) => {
                        groups.join(",")
                    }
                    _ => x.id.to_string(),
                }
            }),
            DropReason::NaclOutDenied { acl, .. } | DropReason::NaclInDenied { acl, .. } => {
                self.snap.acls.get(acl.ix()).map(|a| a.id.to_string())
            }
            DropReason::EndpointNotAccepted(i)
            | DropReason::EndpointNoService(i)
            | DropReason::EndpointNoNodeInAz(i) => self
                .snap
                .elb
                .interface_endpoints
                .get(i.ix())
                .map(|e| e.id.to_string()),
            DropReason::NlbNoListener(n)
            | DropReason::NlbNoTarget(n)
            | DropReason::NlbNoFlow(n) => self.snap.elb.nlbs.get(n.ix()).map(|l| l.name.clone()),
            _ => None,
        };
        let mut message = self.snap.explain(d);
        if let DropReason::EndpointNotAccepted(i) = d {
            let state = self
                .snap
                .elb
                .interface_endpoints
                .get(i.ix())
                .and_then(|e| self.lab.vpc_endpoints.iter().find(|x| x.id == e.id))
                .map(|e| e.state.clone());
            if let Some(s) = state {
                message = format!("{message} (the endpoint is {s})");
            }
        }
        Explanation {
            code,
            component: component.unwrap_or_else(|| "vpc".into()),
            message,
            fix: fix.into(),
            on_return: false,
        }
    }

    /// What the destination itself says: a gateway endpoint's protocol and policy, an
    /// unhealthy load balancer target.
    fn at_destination(
        &self,
        a: &Arrived,
        q: &Query,
        health: Option<&Health>,
    ) -> Option<Explanation> {
        let info = parse_ipv4(ethernet::payload_of(&a.frame))?;
        match self.snap.role(a.port) {
            // The emulated internet has hosts in 203.0.113.0/24 only; a private address
            // sent out of an internet gateway reaches nobody.
            Role::Internet if !INTERNET_NET.contains(&info.dst) => {
                let other_vpc = self.snap.vpcs.iter().find(|v| v.cidr.contains(&info.dst));
                Some(match other_vpc {
                    Some(v) => Explanation {
                        code: "DISCONNECTED_VPCS",
                        component: v.id.to_string(),
                        message: format!(
                            "{} is a private address of {}, which no route connects to the source's VPC; out of the internet gateway it reaches nobody",
                            info.dst, v.id
                        ),
                        fix: "reach it through its public IP, a load balancer or an endpoint service (PrivateLink)".into(),
                        on_return: false,
                    },
                    None => Explanation {
                        code: "NO_PATH",
                        component: "internet".into(),
                        message: format!("no host on the internet has address {}", info.dst),
                        fix: "aim at an address the lab's internet has (internet, a public IP)".into(),
                        on_return: false,
                    },
                })
            }
            Role::GatewayEndpoint(g) => {
                let gw = self.snap.gateway_endpoints.get(g.ix())?;
                let ep = self.lab.vpc_endpoints.iter().find(|e| e.id == gw.id)?;
                let echo = matches!(info.l4, L4::Icmp { ty: 8, .. });
                if q.protocol == Protocol::Udp || (q.protocol == Protocol::Icmp && !echo) {
                    return Some(Explanation {
                        code: "VPCE_GATEWAY_PROTOCOL_RESTRICTION",
                        component: gw.id.to_string(),
                        message: format!(
                            "gateway endpoint {} carries TCP and ICMP echo only",
                            gw.id
                        ),
                        fix: "use TCP (HTTP/HTTPS) to the service".into(),
                        on_return: false,
                    });
                }
                if q.protocol != Protocol::Tcp {
                    return None;
                }
                let (action, service) = if ep.service_name.ends_with(".dynamodb") {
                    ("dynamodb:ListTables", "DynamoDB")
                } else {
                    ("s3:ListAllMyBuckets", "S3")
                };
                let vpc = self.snap.vpc(gw.vpc)?.id.clone();
                let via = Via::Endpoint {
                    vpce: gw.id.clone(),
                    vpc,
                    src: info.src,
                };
                let allowed =
                    Policies::new(self.lab).allows(&via, action, "*", &path_conditions(&via), None);
                (!allowed).then(|| Explanation {
                    code: "VPCE_POLICY_RESTRICTION",
                    component: gw.id.to_string(),
                    message: format!(
                        "the packet reaches {service}, but the policy of gateway endpoint {} does not allow {action} from {} (AccessDenied)",
                        gw.id, info.src
                    ),
                    fix: "allow the action in the endpoint's policy (modify-vpc-endpoint --policy-document), or reset it to full access".into(),
                    on_return: false,
                })
            }
            Role::Eni(e) => {
                let eni = self.snap.eni(e)?;
                let target = self
                    .snap
                    .elb
                    .targets
                    .iter()
                    .find(|t| t.ip == eni.ip && t.port == q.port.unwrap_or(80))?;
                // Only when the packet came through a load balancer.
                if info.dst == eni.ip && q.destination_is(self.lab, eni.ip) {
                    return None;
                }
                let g = self.snap.elb.target_groups.get(target.tg.ix())?;
                let inst = self.lab.instances.iter().find(|i| i.eni == eni.id)?;
                let state = health.and_then(|h| h.state(&g.arn, inst.id.as_str()))?;
                // Only a target whose checks failed is known not to answer: one still in
                // `initial` (checks not yet passed) gets the fail-open traffic and may answer.
                (state == "unhealthy").then(|| Explanation {
                    code: "ELBV2_NO_TARGETS_IN_AZ",
                    component: g.arn.clone(),
                    message: format!(
                        "no healthy target: the load balancer fails open to target {} ({}), which is {state}",
                        inst.id,
                        inst.name()
                    ),
                    fix: "make the target pass its health checks (start its service), or register a healthy one".into(),
                    on_return: false,
                })
            }
            _ => None,
        }
    }

    /// The destination's answer to the packet that arrived: SYN-ACK, UDP back, echo reply.
    fn reply_to(&self, a: &Arrived) -> Option<Vec<u8>> {
        let info = parse_ipv4(ethernet::payload_of(&a.frame))?;
        let mac = match self.snap.role(a.port) {
            Role::Eni(e) => self.snap.eni(e)?.mac,
            Role::Internet => self.snap.internet_host_mac,
            _ => [0x02, 0, 0, 0, 0, 0xfe],
        };
        let addrs = Addrs::new(mac, self.snap.router_mac, info.dst, info.src);
        let frame = match info.l4 {
            L4::Tcp {
                src_port, dst_port, ..
            } => testkit::tcp(&addrs, dst_port, src_port, Flags::SYN_ACK, &[]),
            L4::Udp { src_port, dst_port } => testkit::udp(&addrs, dst_port, src_port, b"ok"),
            L4::Icmp {
                ident: Some(id), ..
            } => testkit::pong(&addrs, id, 1),
            _ => return None,
        };
        Some(frame)
    }
}

impl Query {
    /// Whether the query aims at `ip` itself (not through a load balancer or endpoint).
    fn destination_is(&self, lab: &Lab, ip: Ipv4Addr) -> bool {
        self.destination.parse::<Ipv4Addr>().ok() == Some(ip)
            || find_instance(lab, &self.destination).is_some_and(|i| i.private_ip == ip)
    }
}

/// A route's destination as the AWS CLI writes it (a CIDR or a prefix list id).
pub(crate) fn destination_text(d: &Destination) -> String {
    match d {
        Destination::Cidr(n) => n.to_string(),
        Destination::PrefixList(p) => p.to_string(),
    }
}

/// A route's target as the AWS CLI writes it (`local`, `igw-…`, `vpce-…`, …).
pub(crate) fn target_text(t: &RouteTarget) -> String {
    match t {
        RouteTarget::Local => "local".into(),
        RouteTarget::InternetGateway(i) => i.to_string(),
        RouteTarget::GatewayEndpoint(v) => v.to_string(),
        RouteTarget::NetworkInterface(e) => e.to_string(),
        RouteTarget::Instance(i) => i.to_string(),
        RouteTarget::NatGateway(n) => n.to_string(),
        RouteTarget::Peering(p) => p.to_string(),
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

fn rule_text(r: &SgRule) -> String {
    let proto = match r.protocol {
        crate::model::Protocol::All => "all traffic".to_string(),
        crate::model::Protocol::Tcp => "tcp".into(),
        crate::model::Protocol::Udp => "udp".into(),
        crate::model::Protocol::Icmp => "icmp".into(),
        crate::model::Protocol::Icmpv6 => "icmpv6".into(),
        crate::model::Protocol::Number(n) => format!("protocol {n}"),
    };
    let ports = match (r.protocol, r.from_port, r.to_port) {
        (crate::model::Protocol::Tcp | crate::model::Protocol::Udp, Some(a), Some(b)) if a == b => {
            format!(" {a}")
        }
        (crate::model::Protocol::Tcp | crate::model::Protocol::Udp, Some(0), Some(65535)) => {
            String::new()
        }
        (crate::model::Protocol::Tcp | crate::model::Protocol::Udp, Some(a), Some(b)) => {
            format!(" {a}-{b}")
        }
        _ => String::new(),
    };
    let peer = match &r.peer {
        crate::model::Peer::Cidr(n) => n.to_string(),
        crate::model::Peer::PrefixList(p) => p.to_string(),
        crate::model::Peer::Group(g) => g.to_string(),
    };
    format!("rule {proto}{ports} {peer}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AclEntry, Origin, RuleAction};

    fn load(text: &str) -> Lab {
        crate::template::load(text, &crate::template::Options::default()).expect("loads")
    }
    fn seed2() -> Lab {
        load(include_str!("../../templates/seed2-gateway-endpoint.yaml"))
    }
    fn lab4() -> Lab {
        load(include_str!("../../templates/endpoint-service.yaml"))
    }
    fn q(from: &str, to: &str, protocol: Protocol, port: u16) -> Query {
        Query {
            source: from.into(),
            destination: to.into(),
            protocol,
            port: Some(port),
        }
    }
    fn outcome(lab: &Lab, q: &Query, health: Option<&Health>) -> Analysis {
        explain(lab, q, health).expect("explains")
    }

    #[test]
    fn reachable_paths_name_each_rule_both_ways() {
        let lab = seed2();
        let a = outcome(
            &lab,
            &q("internet", "CloudNetaPublicEC2", Protocol::Tcp, 22),
            None,
        );
        assert!(a.reachable(), "{}", a.text());
        assert!(
            a.forward
                .iter()
                .any(|h| h.detail.contains("tcp 22 0.0.0.0/0")),
            "{}",
            a.text()
        );
        assert!(a
            .ret
            .iter()
            .any(|h| h.kind == "route-table" && h.detail.contains("igw-")));
        assert_eq!(
            a.json()["NetworkInsightsAnalyses"][0]["NetworkPathFound"],
            true
        );
        let a = outcome(
            &lab,
            &q("CloudNetaPrivateEC2", "s3", Protocol::Tcp, 80),
            None,
        );
        assert!(a.reachable(), "{}", a.text());
        assert!(
            a.forward.iter().any(|h| h.detail.contains("pl-")),
            "{}",
            a.text()
        );
    }

    #[test]
    fn no_route_is_no_route_to_destination() {
        let a = outcome(
            &seed2(),
            &q("CloudNetaPrivateEC2", "internet", Protocol::Icmp, 0),
            None,
        );
        assert_eq!(a.outcome(), "NO_ROUTE_TO_DESTINATION", "{}", a.text());
        let j = a.json();
        assert_eq!(j["NetworkInsightsAnalyses"][0]["NetworkPathFound"], false);
        assert_eq!(
            j["NetworkInsightsAnalyses"][0]["Explanations"][0]["ExplanationCode"],
            "NO_ROUTE_TO_DESTINATION"
        );
    }

    #[test]
    fn a_missing_group_rule_is_eni_sg_rules_mismatch() {
        let mut lab = seed2();
        for g in &mut lab.security_groups {
            g.ingress.retain(|r| r.from_port != Some(22));
        }
        let a = outcome(
            &lab,
            &q(
                "CloudNetaPublicEC2",
                "CloudNetaPrivateEC2",
                Protocol::Tcp,
                22,
            ),
            None,
        );
        assert_eq!(a.outcome(), "ENI_SG_RULES_MISMATCH", "{}", a.text());
        assert!(a.explanation.unwrap().component.starts_with("sg-"));
    }

    #[test]
    fn an_acl_deny_is_subnet_acl_restriction_either_way() {
        for egress in [false, true] {
            let mut lab = seed2();
            for acl in &mut lab.network_acls {
                acl.entries.push(AclEntry {
                    rule_number: 50,
                    egress,
                    action: RuleAction::Deny,
                    protocol: crate::model::Protocol::Icmp,
                    cidr: "0.0.0.0/0".parse().unwrap(),
                    port_range: None,
                    icmp: Some((-1, -1)),
                    origin: Origin::default(),
                });
            }
            let a = outcome(
                &lab,
                &q("CloudNetaPublicEC2", "internet", Protocol::Icmp, 0),
                None,
            );
            assert_eq!(a.outcome(), "SUBNET_ACL_RESTRICTION", "{}", a.text());
            // Outbound blocks the request; inbound lets it out and blocks the reply.
            assert_eq!(a.explanation.unwrap().on_return, !egress);
        }
    }

    #[test]
    fn no_public_ip_is_igw_public_ip_association_for_egress() {
        let mut lab = seed2();
        let public = lab.instances[0].eni.clone();
        for e in &mut lab.network_interfaces {
            if e.id == public {
                e.public_ip = None;
            }
        }
        for i in &mut lab.instances {
            i.public_ip = None;
        }
        let a = outcome(
            &lab,
            &q("CloudNetaPublicEC2", "internet", Protocol::Icmp, 0),
            None,
        );
        assert_eq!(
            a.outcome(),
            "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS",
            "{}",
            a.text()
        );
    }

    #[test]
    fn gateway_endpoints_carry_tcp_and_echo_only_and_apply_their_policy() {
        let mut lab = seed2();
        let a = outcome(
            &lab,
            &q("CloudNetaPrivateEC2", "s3", Protocol::Udp, 53),
            None,
        );
        assert_eq!(
            a.outcome(),
            "VPCE_GATEWAY_PROTOCOL_RESTRICTION",
            "{}",
            a.text()
        );
        for e in &mut lab.vpc_endpoints {
            e.policy = Some(json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}));
        }
        let a = outcome(
            &lab,
            &q("CloudNetaPrivateEC2", "s3", Protocol::Tcp, 80),
            None,
        );
        assert_eq!(a.outcome(), "VPCE_POLICY_RESTRICTION", "{}", a.text());
        let a = outcome(
            &lab,
            &q("CloudNetaPrivateEC2", "s3", Protocol::Icmp, 0),
            None,
        );
        assert!(a.reachable(), "{}", a.text());
    }

    #[test]
    fn privatelink_needs_an_accepted_connection_and_a_healthy_target() {
        let mut lab = lab4();
        let name = "vpce-03df24b1dee9bb8d6-85a6fb1a.vpce-svc-0aeea72861e211ac6.ap-northeast-2.vpce.amazonaws.com";
        let a = outcome(&lab, &q("MyEC2", name, Protocol::Tcp, 80), None);
        assert!(a.reachable(), "{}", a.text());
        let mut h = Health::default();
        for tg in &lab.target_groups {
            for t in &tg.targets {
                h.set(&tg.arn, &t.id, "unhealthy");
            }
        }
        let a = outcome(&lab, &q("MyEC2", name, Protocol::Tcp, 80), Some(&h));
        assert_eq!(a.outcome(), "ELBV2_NO_TARGETS_IN_AZ", "{}", a.text());
        for e in &mut lab.vpc_endpoints {
            if matches!(e.kind, crate::model::EndpointKind::Interface { .. }) {
                e.state = "pendingAcceptance".into();
            }
        }
        let a = outcome(&lab, &q("MyEC2", name, Protocol::Tcp, 80), None);
        assert_eq!(a.outcome(), "BAD_STATE", "{}", a.text());
        assert!(a.explanation.unwrap().message.contains("pendingAcceptance"));
    }

    #[test]
    fn another_vpcs_private_address_is_disconnected() {
        let a = outcome(&lab4(), &q("MyEC2", "WEB1", Protocol::Icmp, 0), None);
        assert_eq!(a.outcome(), "DISCONNECTED_VPCS", "{}", a.text());
    }

    #[test]
    fn unknown_names_say_what_the_lab_has() {
        let e = explain(&seed2(), &q("Nobody", "internet", Protocol::Icmp, 0), None).unwrap_err();
        assert!(e.to_string().contains("CloudNetaPublicEC2"), "{e}");
        let e = explain(
            &seed2(),
            &q("internet", "CloudNetaPrivateEC2", Protocol::Icmp, 0),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no public IP"), "{e}");
    }

    #[test]
    fn the_labs_explain_expectations_hold_on_their_templates() {
        use crate::control::expect::{parse, Check};
        let labs = [
            (
                seed2(),
                include_str!("../../labs/seed2-gateway-endpoint.expect.yaml"),
            ),
            (
                lab4(),
                include_str!("../../labs/endpoint-service.expect.yaml"),
            ),
            (
                load(include_str!("../../templates/interface-endpoint.yaml")),
                include_str!("../../labs/interface-endpoint.expect.yaml"),
            ),
        ];
        let mut seen = 0;
        for (lab, text) in labs {
            for e in parse(text).expect("parses") {
                let Check::Explain {
                    to,
                    protocol,
                    port,
                    expect,
                } = &e.check
                else {
                    continue;
                };
                let a = outcome(
                    &lab,
                    &Query {
                        source: e.from.clone(),
                        destination: to.clone(),
                        protocol: *protocol,
                        port: *port,
                    },
                    None,
                );
                let ok = match expect.as_str() {
                    "reachable" => a.reachable(),
                    "unreachable" => !a.reachable(),
                    code => a.outcome() == code,
                };
                assert!(ok, "line {}: expected {expect}\n{}", e.line, a.text());
                seen += 1;
            }
        }
        assert!(seen >= 4);
    }
}
