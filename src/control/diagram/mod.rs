//! `vpclab diagram`: a lab drawn as AWS architecture diagrams draw it.
//!
//! Contract: every output is a pure function of a [`Lab`] and, for a running lab, the
//! [`Health`] its daemon reports; the same lab gives byte-identical output. One [`Scene`]
//! (region, VPCs, AZ columns, subnets, instances, gateways, endpoints, load balancers, route
//! tables, links) is built from the lab, and every format draws that scene, so SVG, PNG,
//! Mermaid and Graphviz show the same nodes and links:
//!
//! - [`svg`]: standalone SVG 1.1, laid out by a deterministic grid ([`layout`]): VPCs side by
//!   side, AZs as columns inside a VPC, subnets as rows; boxes are sized from their text
//!   (a monospace font, so widths are known without font metrics) and never overlap.
//! - [`png`]: that SVG rasterised by `resvg`; the only function here that reads the host (the
//!   system's fonts, through [`Fonts::system`]).
//! - [`mermaid`] and [`dot`]: the scene as a Mermaid `flowchart` and a Graphviz digraph.

pub mod layout;
mod svg;
mod text;

use std::collections::BTreeMap;

pub use self::svg::{png, svg, Fonts, Png};
pub use self::text::{dot, mermaid};

use crate::model::*;

/// Why a diagram could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SVG could not be read back by the renderer (a bug: the SVG is ours).
    #[error("the diagram's SVG could not be rendered: {0}")]
    Parse(String),
    /// The image has no pixels or is too large to allocate.
    #[error("the diagram is {0}×{1} pixels, which cannot be rendered")]
    Size(u32, u32),
    /// PNG encoding failed.
    #[error("the PNG could not be encoded: {0}")]
    Encode(String),
}

/// Target health as a running lab's health checks see it: `(target group ARN, target id)` →
/// AWS's state (`initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    states: BTreeMap<(String, String), String>,
}

impl Health {
    /// Records the state of target `id` of group `target_group`.
    pub fn set(&mut self, target_group: &str, id: &str, state: &str) {
        self.states.insert(
            (target_group.to_string(), id.to_string()),
            state.to_string(),
        );
    }

    /// The state of target `id` of group `target_group`, when known.
    pub fn state(&self, target_group: &str, id: &str) -> Option<&str> {
        self.states
            .get(&(target_group.to_string(), id.to_string()))
            .map(String::as_str)
    }

    /// Reads the daemon's answer to `Request::TargetHealth` for all groups
    /// (`{"TargetHealthDescriptions": [{"TargetGroupArn", "Target": {"Id"}, "TargetHealth":
    /// {"State"}}]}`); entries without those fields are ignored.
    pub fn from_descriptions(value: &serde_json::Value) -> Health {
        let mut h = Health::default();
        for d in value["TargetHealthDescriptions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(g), Some(id), Some(state)) = (
                d["TargetGroupArn"].as_str(),
                d["Target"]["Id"].as_str(),
                d["TargetHealth"]["State"].as_str(),
            ) {
                h.set(g, id, state);
            }
        }
        h
    }
}

/// Whether a target state is drawn as a failure.
fn is_unhealthy(state: &str) -> bool {
    matches!(state, "unhealthy" | "unavailable")
}

/// How a line of text is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// The box's name, bold.
    Title,
    /// Details.
    Normal,
    /// Something wrong (an unhealthy target, a rejected connection), red.
    Alert,
}

/// One line of a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, one line, not wrapped.
    pub text: String,
    /// How it is drawn.
    pub weight: Weight,
}

fn title(text: impl Into<String>) -> Line {
    Line {
        text: text.into(),
        weight: Weight::Title,
    }
}

fn normal(text: impl Into<String>) -> Line {
    Line {
        text: text.into(),
        weight: Weight::Normal,
    }
}

fn alert(text: impl Into<String>) -> Line {
    Line {
        text: text.into(),
        weight: Weight::Alert,
    }
}

/// What a box stands for (its colour and icon-less style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// The internet, above the region (when some VPC has an internet gateway).
    Internet,
    /// An internet gateway, across the top edge of its VPC.
    InternetGateway,
    /// An instance, in its subnet.
    Instance,
    /// A gateway endpoint (S3, DynamoDB), in its VPC's band.
    GatewayEndpoint,
    /// An interface endpoint, in its VPC's band.
    InterfaceEndpoint,
    /// An interface endpoint's network interface, in its subnet.
    EndpointEni,
    /// A Network Load Balancer with its listeners and targets, in its VPC's band.
    LoadBalancer,
    /// A load balancer node's network interface, in its subnet.
    LoadBalancerNode,
    /// An endpoint service, in the band of the VPC of the load balancer it publishes.
    EndpointService,
    /// A route table with its routes, below its VPC's AZ columns.
    RouteTable,
}

/// A box with text: an instance, a gateway, an endpoint, a route table, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// A unique key (an AWS id where the resource has one).
    pub key: String,
    /// What the box stands for.
    pub kind: NodeKind,
    /// Its text, title first.
    pub lines: Vec<Line>,
    /// Drawn in red (an unhealthy target, a rejected endpoint).
    pub alert: bool,
}

/// A subnet: its header, the network interfaces in it and the route table it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetBox {
    /// The subnet's id.
    pub key: String,
    /// Its text: name, public or private with the CIDR, id.
    pub lines: Vec<Line>,
    /// Routes to an internet gateway (drawn green; private ones blue).
    pub public: bool,
    /// The instances, endpoint interfaces and load balancer nodes in it.
    pub nodes: Vec<Node>,
    /// The key of its route table in [`VpcBox::route_tables`].
    pub route_table: Option<String>,
}

/// An availability zone's column of subnets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Az {
    /// The zone's name (`ap-northeast-2a`).
    pub name: String,
    /// Its subnets, top to bottom.
    pub subnets: Vec<SubnetBox>,
}

/// A VPC: its header, internet gateway, AZ columns, route tables, and the band of VPC-wide
/// resources (gateway and interface endpoints, load balancers, endpoint services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcBox {
    /// The VPC's id.
    pub key: String,
    /// Its text: name, id and CIDR.
    pub lines: Vec<Line>,
    /// Its internet gateway, if one is attached.
    pub igw: Option<Node>,
    /// One column per Availability Zone that has a subnet, by name.
    pub azs: Vec<Az>,
    /// The route tables its subnets use, each once.
    pub route_tables: Vec<Node>,
    /// VPC-wide resources: gateway and interface endpoints, load balancers, endpoint services.
    pub band: Vec<Node>,
}

/// What a link means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// An internet gateway to the internet.
    Internet,
    /// A consumer's interface endpoint to a provider's endpoint service; the connection state.
    PrivateLink(String),
    /// An endpoint service to the load balancer it publishes.
    Publishes,
    /// A load balancer to a target (`Some(false)` when its health check fails).
    Target(Option<bool>),
    /// A subnet to the route table it uses.
    Uses,
}

/// A directed link between two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The key of the box it starts at.
    pub from: String,
    /// The key of the box it points to.
    pub to: String,
    /// Its text (empty for most kinds).
    pub label: String,
    /// What it means (and how it is drawn).
    pub kind: LinkKind,
}

/// Everything a diagram shows, independent of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scene {
    /// The document's title.
    pub title: String,
    /// The region box's label.
    pub region: String,
    /// The internet, when some VPC has an internet gateway.
    pub internet: Option<Node>,
    /// The VPCs, side by side.
    pub vpcs: Vec<VpcBox>,
    /// The links between boxes, by key.
    pub links: Vec<Link>,
}

/// A resource's name for people: its Name tag, else its logical id, else its id.
fn display(tags: &Tags, origin: &Origin, id: &str) -> String {
    tags.name()
        .or(origin.logical_id.as_deref())
        .unwrap_or(id)
        .to_string()
}

/// The last dotted part of a service name (`s3`, `cloudformation`, `vpce-svc-…`).
fn service_short(service_name: &str) -> &str {
    service_name.rsplit('.').next().unwrap_or(service_name)
}

fn subnet_name(lab: &Lab, id: &SubnetId) -> String {
    lab.subnet(id).map_or(id.to_string(), |s| {
        display(&s.tags, &s.origin, s.id.as_str())
    })
}

fn lb_key(lb: &LoadBalancer) -> String {
    format!("nlb-{}", lb.name)
}

fn route_text(lab: &Lab, rt: &RouteTable, r: &Route) -> String {
    let dest = match &r.destination {
        Destination::Cidr(c) => c.to_string(),
        Destination::PrefixList(p) => p.to_string(),
    };
    let named = |id: &str, name: Option<String>| match name {
        Some(n) if n != id => format!("{id} ({n})"),
        _ => id.to_string(),
    };
    let target = match &r.target {
        RouteTarget::Local => "local".to_string(),
        RouteTarget::InternetGateway(g) => named(
            g.as_str(),
            lab.igw(g)
                .map(|g| display(&g.tags, &g.origin, g.id.as_str())),
        ),
        RouteTarget::GatewayEndpoint(e) => named(
            e.as_str(),
            lab.vpc_endpoint(e)
                .map(|e| service_short(&e.service_name).to_string()),
        ),
        RouteTarget::NetworkInterface(e) => e.to_string(),
        RouteTarget::Instance(i) => named(
            i.as_str(),
            lab.instance(i)
                .map(|i| display(&i.tags, &i.origin, i.id.as_str())),
        ),
        RouteTarget::NatGateway(n) => n.to_string(),
        RouteTarget::Peering(p) => p.to_string(),
    };
    let dead = if lab.route_is_active(rt, r) {
        ""
    } else {
        " (blackhole)"
    };
    format!("{dest} → {target}{dead}")
}

fn is_public(lab: &Lab, subnet: &SubnetId) -> bool {
    lab.route_table_for(subnet).is_some_and(|rt| {
        rt.routes.iter().any(|r| {
            matches!(r.target, RouteTarget::InternetGateway(_)) && lab.route_is_active(rt, r)
        })
    })
}

/// The instance ids whose health check fails in some target group.
fn unhealthy_instances(lab: &Lab, health: Option<&Health>) -> Vec<String> {
    let Some(h) = health else { return vec![] };
    lab.target_groups
        .iter()
        .flat_map(|g| {
            g.targets
                .iter()
                .filter(|t| h.state(&g.arn, &t.id).is_some_and(is_unhealthy))
                .map(|t| t.id.clone())
        })
        .collect()
}

fn instance_node(i: &Instance, unhealthy: &[String]) -> Node {
    let mut lines = vec![
        title(display(&i.tags, &i.origin, i.id.as_str())),
        normal(format!("{} · {}", i.id, i.instance_type)),
        normal(format!("private {}", i.private_ip)),
    ];
    if let Some(p) = i.public_ip {
        lines.push(normal(format!("public  {p}")));
    }
    let bad = unhealthy.iter().any(|u| u == i.id.as_str());
    if bad {
        lines.push(alert("target unhealthy"));
    }
    Node {
        key: i.id.to_string(),
        kind: NodeKind::Instance,
        lines,
        alert: bad,
    }
}

fn gateway_endpoint_node(lab: &Lab, e: &VpcEndpoint) -> Option<Node> {
    let EndpointKind::Gateway {
        route_tables,
        prefix_list,
    } = &e.kind
    else {
        return None;
    };
    let short = service_short(&e.service_name);
    let mut lines = vec![
        title(format!("{} gateway endpoint", short.to_uppercase())),
        normal(e.id.to_string()),
        normal(e.service_name.clone()),
        normal(format!("prefix list {prefix_list}")),
    ];
    for rt in route_tables {
        let name = lab.route_table(rt).map_or(rt.to_string(), |t| {
            display(&t.tags, &t.origin, t.id.as_str())
        });
        lines.push(normal(format!("route table {name}")));
    }
    lines.push(normal(format!("state {}", e.state)));
    Some(Node {
        key: e.id.to_string(),
        kind: NodeKind::GatewayEndpoint,
        lines,
        alert: false,
    })
}

fn interface_endpoint_node(lab: &Lab, e: &VpcEndpoint) -> Option<Node> {
    let EndpointKind::Interface {
        network_interfaces,
        private_dns_enabled,
        ..
    } = &e.kind
    else {
        return None;
    };
    let what = match lab.endpoint_service_of(e) {
        Some(s) => format!("to {}", s.id),
        None => service_short(&e.service_name).to_string(),
    };
    let mut lines = vec![
        title(format!("Interface endpoint {what}")),
        normal(e.id.to_string()),
        normal(e.service_name.clone()),
        normal(format!(
            "private DNS {}",
            if *private_dns_enabled { "on" } else { "off" }
        )),
    ];
    let rejected = e.state == "rejected";
    lines.push(if rejected {
        alert(format!("state {}", e.state))
    } else {
        normal(format!("state {}", e.state))
    });
    for eni in network_interfaces.iter().filter_map(|n| lab.eni(n)) {
        lines.push(normal(format!(
            "ENI {} in {}",
            eni.private_ip,
            subnet_name(lab, &eni.subnet)
        )));
    }
    Some(Node {
        key: e.id.to_string(),
        kind: NodeKind::InterfaceEndpoint,
        lines,
        alert: rejected,
    })
}

fn load_balancer_node(lab: &Lab, lb: &LoadBalancer, health: Option<&Health>) -> Node {
    let mut lines = vec![
        title(format!("NLB {}", lb.name)),
        normal(format!("{} · cross-zone {}", lb.scheme, lb.cross_zone)),
        normal(lb.dns_name.clone()),
    ];
    for n in &lb.nodes {
        lines.push(normal(format!(
            "node {} in {}",
            n.private_ip, n.availability_zone
        )));
    }
    let mut bad = false;
    for l in lab.listeners.iter().filter(|l| l.load_balancer == lb.arn) {
        let tg = l.target_group.as_deref().and_then(|a| lab.target_group(a));
        lines.push(normal(format!(
            "listener {} {} → {}",
            l.protocol,
            l.port,
            tg.map_or("(none)", |g| g.name.as_str())
        )));
        if let Some(g) = tg {
            for t in &g.targets {
                let name = lab.instances.iter().find(|i| i.id.as_str() == t.id).map_or(
                    t.id.clone(),
                    |i| {
                        format!(
                            "{} {}",
                            display(&i.tags, &i.origin, i.id.as_str()),
                            i.private_ip
                        )
                    },
                );
                let state = health.and_then(|h| h.state(&g.arn, &t.id));
                let text = match state {
                    Some(s) => format!("  target {name}:{} {s}", t.port),
                    None => format!("  target {name}:{}", t.port),
                };
                if state.is_some_and(is_unhealthy) {
                    bad = true;
                    lines.push(alert(text));
                } else {
                    lines.push(normal(text));
                }
            }
        }
    }
    Node {
        key: lb_key(lb),
        kind: NodeKind::LoadBalancer,
        lines,
        alert: bad,
    }
}

fn endpoint_service_node(lab: &Lab, s: &EndpointService) -> Node {
    let mut lines = vec![
        title("Endpoint service"),
        normal(s.id.to_string()),
        normal(s.service_name.clone()),
        normal(format!(
            "acceptance required {}",
            if s.acceptance_required { "yes" } else { "no" }
        )),
    ];
    for arn in &s.network_load_balancers {
        let name = lab
            .load_balancer(arn)
            .map_or(arn.as_str(), |l| l.name.as_str());
        lines.push(normal(format!("publishes NLB {name}")));
    }
    Node {
        key: s.id.to_string(),
        kind: NodeKind::EndpointService,
        lines,
        alert: false,
    }
}

/// The scene of `lab`; `health` (a running lab's) colours targets and names their state.
pub fn scene(lab: &Lab, health: Option<&Health>) -> Scene {
    let unhealthy = unhealthy_instances(lab, health);
    let mut links = Vec::new();
    let mut vpcs: Vec<VpcBox> = Vec::new();
    for v in &lab.vpcs {
        let igw = lab.igw_of(&v.id).map(|g| Node {
            key: g.id.to_string(),
            kind: NodeKind::InternetGateway,
            lines: vec![
                title(format!(
                    "Internet gateway {}",
                    display(&g.tags, &g.origin, g.id.as_str())
                )),
                normal(g.id.to_string()),
            ],
            alert: false,
        });
        if let Some(g) = &igw {
            links.push(Link {
                from: g.key.clone(),
                to: "internet".into(),
                label: String::new(),
                kind: LinkKind::Internet,
            });
        }
        let mut az_names: Vec<&str> = lab
            .subnets
            .iter()
            .filter(|s| s.vpc == v.id)
            .map(|s| s.availability_zone.as_str())
            .collect();
        az_names.sort_unstable();
        az_names.dedup();
        let mut route_tables: Vec<Node> = Vec::new();
        let mut azs = Vec::new();
        for az in az_names {
            let mut subnets = Vec::new();
            for s in lab
                .subnets
                .iter()
                .filter(|s| s.vpc == v.id && s.availability_zone == az)
            {
                let public = is_public(lab, &s.id);
                let mut nodes: Vec<Node> = lab
                    .instances
                    .iter()
                    .filter(|i| i.subnet == s.id)
                    .map(|i| instance_node(i, &unhealthy))
                    .collect();
                for eni in lab.network_interfaces.iter().filter(|n| n.subnet == s.id) {
                    match &eni.owner {
                        EniOwner::InterfaceEndpoint(e) => nodes.push(Node {
                            key: eni.id.to_string(),
                            kind: NodeKind::EndpointEni,
                            lines: vec![
                                title(format!(
                                    "Endpoint ENI {}",
                                    lab.vpc_endpoint(e)
                                        .map_or("", |e| service_short(&e.service_name))
                                )),
                                normal(e.to_string()),
                                normal(format!("private {}", eni.private_ip)),
                            ],
                            alert: false,
                        }),
                        EniOwner::LoadBalancer(arn) => nodes.push(Node {
                            key: eni.id.to_string(),
                            kind: NodeKind::LoadBalancerNode,
                            lines: vec![
                                title(format!(
                                    "NLB node {}",
                                    lab.load_balancer(arn).map_or("", |l| l.name.as_str())
                                )),
                                normal(format!("private {}", eni.private_ip)),
                            ],
                            alert: false,
                        }),
                        EniOwner::Instance(_) => {}
                    }
                }
                let rt = lab.route_table_for(&s.id);
                if let Some(rt) = rt {
                    if !route_tables.iter().any(|n| n.key == rt.id.as_str()) {
                        let mut lines = vec![
                            title(format!(
                                "Route table {}",
                                display(&rt.tags, &rt.origin, rt.id.as_str())
                            )),
                            normal(rt.id.to_string()),
                        ];
                        lines.extend(rt.routes.iter().map(|r| normal(route_text(lab, rt, r))));
                        route_tables.push(Node {
                            key: rt.id.to_string(),
                            kind: NodeKind::RouteTable,
                            lines,
                            alert: false,
                        });
                    }
                    links.push(Link {
                        from: s.id.to_string(),
                        to: rt.id.to_string(),
                        label: String::new(),
                        kind: LinkKind::Uses,
                    });
                }
                subnets.push(SubnetBox {
                    key: s.id.to_string(),
                    lines: vec![
                        title(display(&s.tags, &s.origin, s.id.as_str())),
                        normal(format!(
                            "{} subnet {}",
                            if public { "Public" } else { "Private" },
                            s.cidr
                        )),
                        normal(s.id.to_string()),
                    ],
                    public,
                    nodes,
                    route_table: rt.map(|r| r.id.to_string()),
                });
            }
            azs.push(Az {
                name: az.to_string(),
                subnets,
            });
        }
        let mut band: Vec<Node> = Vec::new();
        for e in lab.vpc_endpoints.iter().filter(|e| e.vpc == v.id) {
            band.extend(gateway_endpoint_node(lab, e));
        }
        for e in lab.vpc_endpoints.iter().filter(|e| e.vpc == v.id) {
            band.extend(interface_endpoint_node(lab, e));
        }
        for lb in lab.load_balancers.iter().filter(|l| l.vpc == v.id) {
            band.push(load_balancer_node(lab, lb, health));
        }
        vpcs.push(VpcBox {
            key: v.id.to_string(),
            lines: vec![
                title(format!(
                    "VPC {}",
                    display(&v.tags, &v.origin, v.id.as_str())
                )),
                normal(format!("{} · {}", v.id, v.cidr)),
            ],
            igw,
            azs,
            route_tables,
            band,
        });
    }
    // An endpoint service sits in the VPC of the load balancer it publishes.
    for s in &lab.endpoint_services {
        let vpc = s
            .network_load_balancers
            .iter()
            .find_map(|a| lab.load_balancer(a))
            .map(|l| l.vpc.to_string());
        let node = endpoint_service_node(lab, s);
        match vpc.and_then(|k| vpcs.iter_mut().find(|v| v.key == k)) {
            Some(v) => v.band.push(node),
            None => {
                if vpcs.is_empty() {
                    vpcs.push(VpcBox {
                        key: "no-vpc".into(),
                        lines: vec![title("Outside any VPC")],
                        igw: None,
                        azs: vec![],
                        route_tables: vec![],
                        band: vec![],
                    });
                }
                if let Some(v) = vpcs.last_mut() {
                    v.band.push(node);
                }
            }
        }
        for arn in &s.network_load_balancers {
            if let Some(lb) = lab.load_balancer(arn) {
                links.push(Link {
                    from: s.id.to_string(),
                    to: lb_key(lb),
                    label: "publishes".into(),
                    kind: LinkKind::Publishes,
                });
            }
        }
    }
    for lb in &lab.load_balancers {
        for l in lab.listeners.iter().filter(|l| l.load_balancer == lb.arn) {
            if let Some(g) = l.target_group.as_deref().and_then(|a| lab.target_group(a)) {
                for t in &g.targets {
                    let state = health.and_then(|h| h.state(&g.arn, &t.id));
                    links.push(Link {
                        from: lb_key(lb),
                        to: t.id.clone(),
                        label: match state {
                            Some(s) => format!("{} :{} {s}", l.protocol, t.port),
                            None => format!("{} :{}", l.protocol, t.port),
                        },
                        kind: LinkKind::Target(state.map(|s| !is_unhealthy(s))),
                    });
                }
            }
        }
    }
    for e in &lab.vpc_endpoints {
        if let Some(s) = lab.endpoint_service_of(e) {
            links.push(Link {
                from: e.id.to_string(),
                to: s.id.to_string(),
                label: format!("PrivateLink {}", e.state),
                kind: LinkKind::PrivateLink(e.state.clone()),
            });
        }
    }
    let region = lab.region();
    Scene {
        title: format!("vpclab lab {} in {}", lab.stack_name, region.name),
        region: format!(
            "AWS Cloud · Region {} · lab {}",
            region.name, lab.stack_name
        ),
        internet: vpcs.iter().any(|v| v.igw.is_some()).then(|| Node {
            key: "internet".into(),
            kind: NodeKind::Internet,
            lines: vec![title("Internet")],
            alert: false,
        }),
        vpcs,
        links,
    }
}

#[cfg(test)]
mod tests;
