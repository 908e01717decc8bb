//! The `verify_*` passes: AWS's rules checked over a resolved [`Lab`], every problem reported.
//!
//! Contract: [`verify()`] runs every pass and returns all problems, each located at the
//! resource (and, where known, the line) that breaks the rule, with the rule and the fix.
//! Passes only read the lab; they never stop at the first problem. Problems that can only be
//! seen in the template (syntax, unknown references, cycles) are the template layer's.

use std::collections::{BTreeMap, HashMap};

use ipnet::Ipv4Net;

use super::cidr::{is_canonical, overlaps, reserved_reason, MAX_PREFIX, MIN_PREFIX};
use super::lookup::Kind;
use super::*;

/// Runs every pass.
pub fn verify(lab: &Lab) -> Problems {
    let mut p = Problems::default();
    verify_vpcs(lab, &mut p);
    verify_subnets(lab, &mut p);
    verify_internet_gateways(lab, &mut p);
    verify_routes(lab, &mut p);
    verify_route_table_associations(lab, &mut p);
    verify_network_acls(lab, &mut p);
    verify_security_groups(lab, &mut p);
    verify_addresses(lab, &mut p);
    verify_endpoints(lab, &mut p);
    verify_load_balancers(lab, &mut p);
    verify_flow_logs(lab, &mut p);
    p.sorted()
}

fn cidr_size_problem(code: &'static str, o: &Origin, what: &str, net: Ipv4Net) -> Option<Problem> {
    if !is_canonical(net) {
        return Some(Problem::new(
            code,
            o.clone(),
            format!("{what} CIDR {net} is not canonical: its host bits are not zero"),
            "a CIDR block names a network: the address must be the network's first address",
            format!("write {}", net.trunc()),
        ));
    }
    if net.prefix_len() < MIN_PREFIX || net.prefix_len() > MAX_PREFIX {
        return Some(Problem::new(
            code,
            o.clone(),
            format!("{what} CIDR {net} is a /{}", net.prefix_len()),
            format!("a VPC or subnet IPv4 CIDR must be between /{MIN_PREFIX} and /{MAX_PREFIX}"),
            format!(
                "use a prefix length from /{MIN_PREFIX} (65,536 addresses) to /{MAX_PREFIX} (16)"
            ),
        ));
    }
    None
}

/// VPC CIDRs are canonical and between /16 and /28.
pub fn verify_vpcs(lab: &Lab, p: &mut Problems) {
    for v in &lab.vpcs {
        if let Some(x) = cidr_size_problem("BadVpcCidr", &v.origin, "VPC", v.cidr) {
            p.push(x);
        }
    }
}

/// Subnet CIDRs are canonical, sized right, inside their VPC, and don't overlap each other.
pub fn verify_subnets(lab: &Lab, p: &mut Problems) {
    for s in &lab.subnets {
        if let Some(x) = cidr_size_problem("BadSubnetCidr", &s.origin, "subnet", s.cidr) {
            p.push(x);
            continue;
        }
        let Some(vpc) = lab.vpc(&s.vpc) else { continue };
        if !(vpc.cidr.contains(&s.cidr.network()) && vpc.cidr.contains(&s.cidr.broadcast())) {
            p.push(Problem::new(
                "SubnetOutsideVpc",
                s.origin.clone(),
                format!(
                    "subnet {} is outside VPC {} {}",
                    s.cidr,
                    vpc.origin.name(),
                    vpc.cidr
                ),
                "a subnet's CIDR block must lie within its VPC's CIDR block",
                format!("pick a CIDR inside {}", vpc.cidr),
            ));
        }
    }
    for (i, a) in lab.subnets.iter().enumerate() {
        for b in &lab.subnets[i + 1..] {
            if a.vpc == b.vpc && overlaps(a.cidr, b.cidr) {
                p.push(Problem::new(
                    "OverlappingSubnets",
                    b.origin.clone(),
                    format!(
                        "subnet {} overlaps subnet {} {} in the same VPC",
                        b.cidr,
                        a.origin.name(),
                        a.cidr
                    ),
                    "subnets of one VPC cannot overlap",
                    "give each subnet its own, non-overlapping CIDR block",
                ));
            }
        }
    }
}

/// One internet gateway per VPC.
pub fn verify_internet_gateways(lab: &Lab, p: &mut Problems) {
    let mut per_vpc: HashMap<&VpcId, Vec<&InternetGateway>> = HashMap::new();
    for g in &lab.internet_gateways {
        if let Some(v) = &g.attachment {
            per_vpc.entry(v).or_default().push(g);
        }
    }
    for (vpc, gws) in per_vpc {
        for g in gws.iter().skip(1) {
            p.push(Problem::new(
                "TwoInternetGateways",
                g.attachment_origin
                    .clone()
                    .unwrap_or_else(|| g.origin.clone()),
                format!(
                    "internet gateway {} is attached to {}, which already has {}",
                    g.origin.name(),
                    lab.label(Kind::Vpc, vpc.as_str()),
                    gws[0].origin.name()
                ),
                "a VPC can have only one internet gateway attached",
                "attach one internet gateway per VPC and route every public subnet to it",
            ));
        }
    }
}

fn dest_text(d: &Destination) -> String {
    match d {
        Destination::Cidr(c) => c.to_string(),
        Destination::PrefixList(pl) => pl.to_string(),
    }
}

/// Route targets exist in the table's VPC; no duplicate destinations.
pub fn verify_routes(lab: &Lab, p: &mut Problems) {
    for rt in &lab.route_tables {
        let mut seen: HashMap<String, &Route> = HashMap::new();
        for r in &rt.routes {
            let dest = dest_text(&r.destination);
            if let Destination::Cidr(c) = r.destination {
                if !is_canonical(c) {
                    p.push(Problem::new(
                        "BadRouteDestination",
                        r.origin.clone(),
                        format!("route destination {c} is not canonical"),
                        "a route's destination CIDR must have its host bits zero",
                        format!("write {}", c.trunc()),
                    ));
                }
            }
            if let Some(first) = seen.get(&dest) {
                p.push(Problem::new(
                    "DuplicateRoute",
                    r.origin.clone(),
                    format!(
                        "route table {} already has a route to {dest} (from {})",
                        rt.origin.name(),
                        first.origin.name()
                    ),
                    "a route table holds at most one route per destination",
                    "remove one of the two routes, or use replace-route to change its target",
                ));
            } else {
                seen.insert(dest.clone(), r);
            }
            // AWS: a route more specific than `local` (inside a VPC CIDR) may target only a
            // network interface, an instance, a NAT gateway (or a middlebox endpoint).
            if let (Destination::Cidr(c), Some(vpc)) = (&r.destination, lab.vpc(&rt.vpc)) {
                let interface_like = matches!(
                    r.target,
                    RouteTarget::Local
                        | RouteTarget::NetworkInterface(_)
                        | RouteTarget::Instance(_)
                        | RouteTarget::NatGateway(_)
                );
                if vpc.cidr.contains(c) && !interface_like {
                    p.push(Problem::new(
                        "RouteInsideVpcCidr",
                        r.origin.clone(),
                        format!(
                            "route to {c} in route table {} is inside {}'s CIDR {}: Route target is not supported. This route only supports interface and instance targets",
                            rt.origin.name(),
                            lab.label(Kind::Vpc, rt.vpc.as_str()),
                            vpc.cidr
                        ),
                        "a route more specific than the VPC's local route may target only a network interface, an instance or a NAT gateway; traffic inside the VPC never leaves through an internet gateway",
                        format!("target a network interface or instance, or pick a destination outside {}", vpc.cidr),
                    ));
                }
            }
            if let RouteTarget::InternetGateway(g) = &r.target {
                if let Some(igw) = lab.igw(g) {
                    if igw.attachment.as_ref() != Some(&rt.vpc) {
                        p.push(Problem::new(
                            "IgwNotAttached",
                            r.origin.clone(),
                            format!(
                                "route to {dest} targets internet gateway {}, which is not attached to {}",
                                igw.origin.name(),
                                lab.label(Kind::Vpc, rt.vpc.as_str())
                            ),
                            "a route can target only an internet gateway attached to the route table's VPC",
                            "add an AWS::EC2::VPCGatewayAttachment for this gateway and VPC, and make the route DependsOn it",
                        ));
                    }
                    continue;
                }
            }
            if let Some(tv) = lab.target_vpc(&r.target) {
                if tv != rt.vpc {
                    p.push(Problem::new(
                        "RouteTargetOtherVpc",
                        r.origin.clone(),
                        format!(
                            "route table {} is in {} but its route to {dest} targets something in {}",
                            rt.origin.name(),
                            lab.label(Kind::Vpc, rt.vpc.as_str()),
                            lab.label(Kind::Vpc, tv.as_str())
                        ),
                        "a route table and its route targets must be in the same VPC",
                        "target a gateway, interface or instance of the route table's own VPC",
                    ));
                }
            }
        }
    }
}

/// Each subnet is associated with at most one route table, of its own VPC.
pub fn verify_route_table_associations(lab: &Lab, p: &mut Problems) {
    let mut seen: HashMap<&SubnetId, &RouteTable> = HashMap::new();
    for rt in &lab.route_tables {
        for a in &rt.associations {
            let Some(subnet) = lab.subnet(&a.subnet) else {
                continue;
            };
            if subnet.vpc != rt.vpc {
                p.push(Problem::new(
                    "AssociationOtherVpc",
                    a.origin.clone(),
                    format!(
                        "subnet {} is in {} but route table {} is in {}",
                        subnet.origin.name(),
                        lab.label(Kind::Vpc, subnet.vpc.as_str()),
                        rt.origin.name(),
                        lab.label(Kind::Vpc, rt.vpc.as_str())
                    ),
                    "a subnet can be associated only with a route table of its own VPC",
                    "associate the subnet with a route table created in the subnet's VPC",
                ));
            }
            if let Some(first) = seen.get(&a.subnet) {
                p.push(Problem::new(
                    "SubnetTwoRouteTables",
                    a.origin.clone(),
                    format!(
                        "subnet {} is associated with route table {} and again with {}",
                        subnet.origin.name(),
                        first.origin.name(),
                        rt.origin.name()
                    ),
                    "a subnet is associated with exactly one route table at a time",
                    "keep one SubnetRouteTableAssociation per subnet",
                ));
            } else {
                seen.insert(&a.subnet, rt);
            }
        }
    }
}

/// ACL associations: own VPC, one per subnet; entry numbers and port ranges.
pub fn verify_network_acls(lab: &Lab, p: &mut Problems) {
    let mut seen: HashMap<&SubnetId, &NetworkAcl> = HashMap::new();
    for acl in &lab.network_acls {
        for a in &acl.associations {
            let Some(subnet) = lab.subnet(&a.subnet) else {
                continue;
            };
            if subnet.vpc != acl.vpc {
                p.push(Problem::new(
                    "AssociationOtherVpc",
                    a.origin.clone(),
                    format!(
                        "subnet {} is in {} but network ACL {} is in {}",
                        subnet.origin.name(),
                        lab.label(Kind::Vpc, subnet.vpc.as_str()),
                        acl.origin.name(),
                        lab.label(Kind::Vpc, acl.vpc.as_str())
                    ),
                    "a subnet can be associated only with a network ACL of its own VPC",
                    "associate the subnet with a network ACL created in the subnet's VPC",
                ));
            }
            if let Some(first) = seen.get(&a.subnet) {
                p.push(Problem::new(
                    "SubnetTwoNetworkAcls",
                    a.origin.clone(),
                    format!(
                        "subnet {} is associated with network ACL {} and again with {}",
                        subnet.origin.name(),
                        first.origin.name(),
                        acl.origin.name()
                    ),
                    "a subnet is associated with exactly one network ACL at a time",
                    "keep one SubnetNetworkAclAssociation per subnet",
                ));
            } else {
                seen.insert(&a.subnet, acl);
            }
        }
        let mut numbers: HashMap<(u16, bool), &AclEntry> = HashMap::new();
        for e in &acl.entries {
            if e.rule_number == ACL_DEFAULT_RULE {
                continue;
            }
            if !(1..=32766).contains(&e.rule_number) {
                p.push(Problem::new(
                    "BadAclEntry",
                    e.origin.clone(),
                    format!("rule number {} is out of range", e.rule_number),
                    "network ACL rule numbers run from 1 to 32766",
                    "pick a number from 1 to 32766; leave gaps (100, 200, …) to insert rules later",
                ));
            }
            if numbers.insert((e.rule_number, e.egress), e).is_some() {
                p.push(Problem::new(
                    "BadAclEntry",
                    e.origin.clone(),
                    format!(
                        "network ACL {} has two {} rules numbered {}",
                        acl.origin.name(),
                        if e.egress { "outbound" } else { "inbound" },
                        e.rule_number
                    ),
                    "rule numbers are unique per direction within a network ACL",
                    "give each rule of a direction its own number",
                ));
            }
            if let Some((a, b)) = e.port_range {
                if a > b {
                    p.push(Problem::new(
                        "BadAclEntry",
                        e.origin.clone(),
                        format!("port range {a}-{b} runs backwards"),
                        "a port range goes From (low) To (high)",
                        format!("write From: {b}, To: {a}"),
                    ));
                }
            }
        }
    }
}

fn check_rule(lab: &Lab, sg: &SecurityGroup, r: &SgRule, dir: &str, p: &mut Problems) {
    let (from, to) = (r.from_port, r.to_port);
    match r.protocol {
        Protocol::Tcp | Protocol::Udp => {
            let ok = matches!((from, to), (Some(f), Some(t)) if (0..=65535).contains(&f) && (0..=65535).contains(&t) && f <= t);
            if !ok {
                p.push(Problem::new(
                    "BadSgRule",
                    r.origin.clone(),
                    format!(
                        "{dir} rule {} ports {}-{} is not a valid port range",
                        r.protocol.aws_name(),
                        from.map_or("?".into(), |v| v.to_string()),
                        to.map_or("?".into(), |v| v.to_string())
                    ),
                    "TCP and UDP rules need FromPort and ToPort from 0 to 65535 with FromPort ≤ ToPort",
                    "set FromPort and ToPort, e.g. 22 and 22, or 0 and 65535 for every port",
                ));
            }
        }
        Protocol::Icmp | Protocol::Icmpv6 => {
            let ok = |v: Option<i32>| v.is_none_or(|v| (-1..=255).contains(&v));
            if !ok(from) || !ok(to) {
                p.push(Problem::new(
                    "BadSgRule",
                    r.origin.clone(),
                    format!(
                        "{dir} ICMP rule type/code {}/{} is out of range",
                        from.unwrap_or(-1),
                        to.unwrap_or(-1)
                    ),
                    "for ICMP, FromPort is the ICMP type and ToPort the code, each -1 (all) or 0–255",
                    "use FromPort: -1 and ToPort: -1 for all ICMP, or e.g. 8 and -1 for echo requests",
                ));
            }
        }
        Protocol::All | Protocol::Number(_) => {}
    }
    if let Peer::Group(g) = &r.peer {
        if let Some(other) = lab.security_group(g) {
            if other.vpc != sg.vpc {
                p.push(Problem::new(
                    "SgReferenceOtherVpc",
                    r.origin.clone(),
                    format!(
                        "{dir} rule of {} references security group {} of another VPC ({})",
                        sg.origin.name(),
                        other.origin.name(),
                        lab.label(Kind::Vpc, other.vpc.as_str())
                    ),
                    "a security group rule can reference only security groups of the same VPC (or a peered VPC, which vpclab does not emulate)",
                    "reference a security group of the same VPC, or use the other VPC's CIDR",
                ));
            }
        }
    }
}

/// Rule protocols, port ranges and group references.
pub fn verify_security_groups(lab: &Lab, p: &mut Problems) {
    for sg in &lab.security_groups {
        for r in &sg.ingress {
            check_rule(lab, sg, r, "ingress", p);
        }
        for r in &sg.egress {
            check_rule(lab, sg, r, "egress", p);
        }
    }
}

/// Private addresses lie in their subnet, are not reserved, and are unique per VPC.
pub fn verify_addresses(lab: &Lab, p: &mut Problems) {
    let mut by_ip: BTreeMap<(VpcId, std::net::Ipv4Addr), &NetworkInterface> = BTreeMap::new();
    for eni in &lab.network_interfaces {
        let origin = eni_origin(lab, eni);
        let Some(subnet) = lab.subnet(&eni.subnet) else {
            continue;
        };
        let who = eni_owner_name(lab, eni);
        if !subnet.cidr.contains(&eni.private_ip) {
            p.push(Problem::new(
                "InstanceIpOutsideSubnet",
                origin.clone(),
                format!(
                    "{who} private IP {} is outside its subnet {} {}",
                    eni.private_ip,
                    subnet.origin.name(),
                    subnet.cidr
                ),
                "an ENI's private IPv4 address comes from its subnet's CIDR block",
                format!(
                    "pick an address inside {} (not one of its first four or its last)",
                    subnet.cidr
                ),
            ));
            continue;
        }
        if let Some(why) = reserved_reason(subnet.cidr, eni.private_ip) {
            p.push(Problem::new(
                "InstanceIpReserved",
                origin.clone(),
                format!(
                    "{who} private IP {} is reserved in {} ({why})",
                    eni.private_ip, subnet.cidr
                ),
                "AWS reserves the first four addresses and the last address of every subnet",
                "pick another address, or leave PrivateIpAddress out to get one assigned",
            ));
            continue;
        }
        if let Some(first) = by_ip.get(&(eni.vpc.clone(), eni.private_ip)) {
            p.push(Problem::new(
                "InstanceIpTaken",
                origin.clone(),
                format!(
                    "{who} private IP {} is already used by {}",
                    eni.private_ip,
                    eni_owner_name(lab, first)
                ),
                "a private IPv4 address belongs to one network interface at a time",
                "pick a free address, or leave PrivateIpAddress out to get one assigned",
            ));
        } else {
            by_ip.insert((eni.vpc.clone(), eni.private_ip), eni);
        }
    }
}

fn eni_origin(lab: &Lab, eni: &NetworkInterface) -> Origin {
    match &eni.owner {
        EniOwner::Instance(i) => lab.instance(i).map(|i| i.origin.clone()),
        EniOwner::InterfaceEndpoint(e) => lab.vpc_endpoint(e).map(|e| e.origin.clone()),
        EniOwner::LoadBalancer(arn) => lab.load_balancer(arn).map(|l| l.origin.clone()),
    }
    .unwrap_or_default()
}

fn eni_owner_name(lab: &Lab, eni: &NetworkInterface) -> String {
    match &eni.owner {
        EniOwner::Instance(_) => format!("instance {}", eni_origin(lab, eni).name()),
        EniOwner::InterfaceEndpoint(_) => format!("endpoint {}", eni_origin(lab, eni).name()),
        EniOwner::LoadBalancer(_) => format!("load balancer {}", eni_origin(lab, eni).name()),
    }
}

/// Endpoint rules: same region, one VPC, one subnet per AZ, DNS attributes for private DNS,
/// one route per service per route table, a policy that [`Policy::parse`] accepts.
///
/// [`Policy::parse`]: super::policy::Policy::parse
pub fn verify_endpoints(lab: &Lab, p: &mut Problems) {
    let mut per_table: HashMap<(&RouteTableId, &str), &VpcEndpoint> = HashMap::new();
    let mut private_names: HashMap<(&VpcId, &str), &VpcEndpoint> = HashMap::new();
    for e in &lab.vpc_endpoints {
        if let Some(name) = super::elbv2::private_dns_name(e) {
            if let Some(first) = private_names.insert((&e.vpc, name), e) {
                p.push(Problem::new(
                    "PrivateDnsConflict",
                    e.origin.clone(),
                    format!(
                        "endpoint {} has PrivateDnsEnabled for {}, but endpoint {} already has private DNS for {name} in {}",
                        e.origin.name(),
                        e.service_name,
                        first.origin.name(),
                        lab.label(Kind::Vpc, e.vpc.as_str())
                    ),
                    "a VPC holds one private DNS name per service: a second endpoint with private DNS conflicts (AWS answers InvalidParameter: there is already a conflicting DNS domain)",
                    "set PrivateDnsEnabled: false on one of them, or use one endpoint",
                ));
            }
        }
        if let (
            EndpointKind::Interface {
                subnets,
                private_dns_enabled,
                ..
            },
            Some(svc),
        ) = (&e.kind, lab.endpoint_service_of(e))
        {
            let azs = super::elbv2::endpoint_service_azs(lab, svc);
            for s in subnets.iter().filter_map(|s| lab.subnet(s)) {
                if !azs.contains(&s.availability_zone) {
                    p.push(Problem::new(
                        "EndpointServiceNotInAz",
                        e.origin.clone(),
                        format!(
                            "endpoint {} has subnet {} in {}, where endpoint service {} has no load balancer node (its AZs: {})",
                            e.origin.name(),
                            s.origin.name(),
                            s.availability_zone,
                            svc.origin.name(),
                            azs.join(", ")
                        ),
                        "an endpoint to an endpoint service can use only the AZs where the service's Network Load Balancer is enabled",
                        "pick subnets in the service's AZs, or enable the AZ on the load balancer (a subnet there)",
                    ));
                }
            }
            if *private_dns_enabled {
                p.push(Problem::new(
                    "EndpointServiceNoPrivateDns",
                    e.origin.clone(),
                    format!(
                        "endpoint {} has PrivateDnsEnabled, but endpoint service {} has no private DNS name",
                        e.origin.name(),
                        svc.origin.name()
                    ),
                    "private DNS for an endpoint service needs a verified private DNS name on the service, which vpclab does not emulate",
                    "set PrivateDnsEnabled: false and use the endpoint's own DNS names",
                ));
            }
        }
        if let Some(Err(err)) = e.policy.as_ref().map(super::policy::Policy::parse) {
            p.push(Problem::new(
                "BadPolicy",
                e.origin.clone(),
                format!(
                    "the policy of endpoint {} is not valid: {}",
                    e.origin.name(),
                    err.reason()
                ),
                "an endpoint policy is an IAM policy document: Version, and Statements each with Effect, Principal, Action and Resource",
                "fix the statement named, or remove the policy for the default full-access one",
            ));
        }
        match &e.kind {
            EndpointKind::Gateway { route_tables, .. } => {
                for rt_id in route_tables {
                    let Some(rt) = lab.route_table(rt_id) else {
                        continue;
                    };
                    if rt.vpc != e.vpc {
                        p.push(Problem::new(
                            "EndpointRouteTableOtherVpc",
                            e.origin.clone(),
                            format!(
                                "gateway endpoint {} is in {} but route table {} is in {}",
                                e.origin.name(),
                                lab.label(Kind::Vpc, e.vpc.as_str()),
                                rt.origin.name(),
                                lab.label(Kind::Vpc, rt.vpc.as_str())
                            ),
                            "one endpoint, one VPC: a gateway endpoint can add routes only to route tables of its own VPC",
                            "create a separate endpoint in the other VPC for its route tables",
                        ));
                    }
                    if let Some(first) = per_table.insert((rt_id, e.service_name.as_str()), e) {
                        p.push(Problem::new(
                            "DuplicateRoute",
                            e.origin.clone(),
                            format!(
                                "route table {} already has a route to {} through endpoint {}",
                                rt.origin.name(),
                                e.service_name,
                                first.origin.name()
                            ),
                            "a route table can have only one route per gateway-endpoint service",
                            "use one endpoint per service per route table (several endpoints must use different route tables)",
                        ));
                    }
                }
            }
            EndpointKind::Interface {
                subnets,
                private_dns_enabled,
                ..
            } => {
                let mut azs: HashMap<&str, &Subnet> = HashMap::new();
                for s in subnets {
                    let Some(subnet) = lab.subnet(s) else {
                        continue;
                    };
                    if subnet.vpc != e.vpc {
                        p.push(Problem::new(
                            "EndpointSubnetOtherVpc",
                            e.origin.clone(),
                            format!(
                                "interface endpoint {} is in {} but subnet {} is in {}",
                                e.origin.name(),
                                lab.label(Kind::Vpc, e.vpc.as_str()),
                                subnet.origin.name(),
                                lab.label(Kind::Vpc, subnet.vpc.as_str())
                            ),
                            "one endpoint, one VPC: an interface endpoint's subnets are all in its VPC",
                            "pick subnets of the endpoint's VPC",
                        ));
                    }
                    if let Some(first) = azs.insert(&subnet.availability_zone, subnet) {
                        p.push(Problem::new(
                            "EndpointTwoSubnetsOneAz",
                            e.origin.clone(),
                            format!(
                                "interface endpoint {} has subnets {} and {} in the same AZ {}",
                                e.origin.name(),
                                first.origin.name(),
                                subnet.origin.name(),
                                subnet.availability_zone
                            ),
                            "an interface endpoint can have at most one subnet per Availability Zone",
                            "keep one subnet per AZ in SubnetIds",
                        ));
                    }
                }
                if *private_dns_enabled {
                    if let Some(vpc) = lab.vpc(&e.vpc) {
                        if !(vpc.enable_dns_support && vpc.enable_dns_hostnames) {
                            p.push(Problem::new(
                                "PrivateDnsNeedsDnsAttributes",
                                e.origin.clone(),
                                format!(
                                    "endpoint {} has PrivateDnsEnabled but VPC {} has EnableDnsSupport={} and EnableDnsHostnames={}",
                                    e.origin.name(),
                                    vpc.origin.name(),
                                    vpc.enable_dns_support,
                                    vpc.enable_dns_hostnames
                                ),
                                "private DNS for an interface endpoint needs both VPC attributes enableDnsSupport and enableDnsHostnames",
                                format!("set EnableDnsSupport: true and EnableDnsHostnames: true on {}", vpc.origin.name()),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// The template-only rule of endpoint connections: the lab's account must be an allowed
/// principal of each endpoint service it connects to. AWS checks it when the endpoint is
/// created; removing a principal later does not cut an existing connection, so live changes
/// do not re-check it.
pub fn verify_endpoint_permissions(lab: &Lab, p: &mut Problems) {
    for e in &lab.vpc_endpoints {
        let Some(svc) = lab.endpoint_service_of(e) else {
            continue;
        };
        if !super::elbv2::principal_allowed(lab, svc) {
            p.push(Problem::new(
                "EndpointServiceNotAllowed",
                e.origin.clone(),
                format!(
                    "endpoint {} connects to endpoint service {}, which does not allow account {}",
                    e.origin.name(),
                    svc.origin.name(),
                    lab.account_id
                ),
                "nobody may connect to an endpoint service until the provider allows the principal (AWS answers InvalidServiceName: the service does not exist, to principals not allowed)",
                format!(
                    "add AWS::EC2::VPCEndpointServicePermissions with ServiceId: !Ref {} and AllowedPrincipals: [!Sub 'arn:aws:iam::${{AWS::AccountId}}:root']",
                    svc.origin.logical_id.as_deref().unwrap_or("YourService")
                ),
            ));
        }
    }
}

/// Listeners forward to a target group; targets are in the target group's VPC.
pub fn verify_load_balancers(lab: &Lab, p: &mut Problems) {
    for l in &lab.listeners {
        if l.target_group.is_none() {
            p.push(Problem::new(
                "ListenerWithoutTargetGroup",
                l.origin.clone(),
                format!(
                    "listener on port {} has no forward action to a target group",
                    l.port
                ),
                "a Network Load Balancer listener's default action forwards to a target group",
                "add DefaultActions: [{Type: forward, TargetGroupArn: !Ref YourTargetGroup}]",
            ));
        }
    }
    for tg in &lab.target_groups {
        for t in &tg.targets {
            if tg.target_type != "instance" {
                continue;
            }
            let Some(inst) = InstanceId::parse(&t.id).and_then(|i| lab.instance(&i)) else {
                continue;
            };
            if inst.vpc != tg.vpc {
                p.push(Problem::new(
                    "TargetOtherVpc",
                    t.origin.clone(),
                    format!(
                        "target {} of target group {} is in {} but the target group is in {}",
                        inst.origin.name(),
                        tg.origin.name(),
                        lab.label(Kind::Vpc, inst.vpc.as_str()),
                        lab.label(Kind::Vpc, tg.vpc.as_str())
                    ),
                    "instance targets must be in the target group's VPC",
                    "register instances of the target group's VPC, or create the target group in the instance's VPC",
                ));
            }
        }
    }
}

/// Flow logs: each watches a VPC, subnet or network interface the lab has, with a
/// `MaxAggregationInterval` of 60 or 600 and a `LogFormat` the flow-log parser reads (the
/// template layer checks the same as it builds; this pass keeps live changes honest).
pub fn verify_flow_logs(lab: &Lab, p: &mut Problems) {
    for f in &lab.flow_logs {
        let exists = match &f.resource {
            FlowLogResource::Vpc(v) => lab.vpc(v).is_some(),
            FlowLogResource::Subnet(s) => lab.subnet(s).is_some(),
            FlowLogResource::NetworkInterface(e) => lab.eni(e).is_some(),
        };
        if !exists {
            p.push(Problem::new(
                "UnknownResourceId",
                f.origin.clone(),
                format!(
                    "flow log {} watches {} {}, which is not in the lab",
                    f.id,
                    f.resource.type_name(),
                    f.resource.id()
                ),
                "a flow log watches a VPC, subnet or network interface that exists",
                "delete the flow log (delete-flow-logs) or point it at an existing resource",
            ));
        }
        if !FLOW_LOG_INTERVALS.contains(&f.max_aggregation_interval) {
            p.push(Problem::new(
                "BadFlowLog",
                f.origin.clone(),
                format!(
                    "flow log {} aggregates over {} seconds",
                    f.id, f.max_aggregation_interval
                ),
                "a flow log aggregates over 60 or 600 seconds",
                "use 60 or 600",
            ));
        }
        if let Some(Err(e)) = f.log_format.as_deref().map(flowlog_format::Format::parse) {
            p.push(Problem::new(
                "BadFlowLog",
                f.origin.clone(),
                format!("flow log {}: {e}", f.id),
                "a LogFormat is ${field}s separated by spaces, from the fields flow logs have",
                "fix the field's spelling, or use the default format",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Lab {
        crate::template::load(text, &crate::template::Options::default()).expect("loads")
    }

    fn seed2() -> Lab {
        load(include_str!("../../templates/seed2-gateway-endpoint.yaml"))
    }

    fn codes(lab: &Lab) -> Vec<&'static str> {
        verify(lab).0.iter().map(|p| p.code).collect()
    }

    #[test]
    fn every_shipped_template_verifies_clean() {
        for text in [
            include_str!("../../templates/seed2-gateway-endpoint.yaml"),
            include_str!("../../templates/interface-endpoint.yaml"),
            include_str!("../../templates/endpoint-service.yaml"),
            include_str!("../../templates/default.yaml"),
        ] {
            assert!(verify(&load(text)).0.is_empty());
        }
    }

    #[test]
    fn a_subnet_outside_its_vpc_is_reported_with_its_rule_and_fix() {
        let mut lab = seed2();
        lab.subnets[0].cidr = "192.168.0.0/24".parse().unwrap();
        let problems = verify(&lab);
        let p = problems
            .0
            .iter()
            .find(|p| p.code == "SubnetOutsideVpc")
            .expect("SubnetOutsideVpc");
        assert!(p.message.contains("192.168.0.0/24"), "{}", p.message);
        assert!(p.rule.contains("within its VPC"), "{}", p.rule);
        assert!(p.fix.contains("10.0.0.0/16"), "{}", p.fix);
    }

    #[test]
    fn passes_do_not_stop_at_the_first_problem() {
        let mut lab = seed2();
        // Two broken subnets and a non-canonical one: every problem is reported.
        lab.subnets[0].cidr = "192.168.0.0/24".parse().unwrap();
        lab.subnets[1].cidr = "10.0.0.1/24".parse().unwrap();
        let found = codes(&lab);
        assert!(found.contains(&"SubnetOutsideVpc"), "{found:?}");
        assert!(found.contains(&"BadSubnetCidr"), "{found:?}");
    }

    #[test]
    fn overlapping_subnets_of_one_vpc_are_refused() {
        let mut lab = seed2();
        lab.subnets[1].cidr = lab.subnets[0].cidr;
        assert!(codes(&lab).contains(&"OverlappingSubnets"));
    }
}
