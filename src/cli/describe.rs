//! `vpclab describe <what> [NAME…]`: a lab's resources, as the AWS CLI prints them or as a table.

use std::path::PathBuf;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::{Failure, Output, Source};
use crate::control::client;
use crate::control::describe::{describe, resolve, What};
use crate::model::lookup::Kind;
use crate::model::*;

/// Arguments of `describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// What to describe.
    #[arg(value_enum)]
    pub what: What,
    /// Only these resources: ids, template logical ids or Name tags (an ambiguous Name is an
    /// error that lists the candidates).
    pub names: Vec<String>,
    /// The CloudFormation template (YAML or JSON). Left out: the running lab `--name`, live
    /// changes included, or else the embedded default lab.
    #[arg(long, short = 't', value_name = "TEMPLATE")]
    pub template: Option<PathBuf>,
    /// The lab's name, region and template parameters.
    #[command(flatten)]
    pub source: Source,
    /// `json` is shaped like `aws ec2 describe-…` / `aws elbv2 describe-…`; `table` is for people.
    #[arg(long, value_enum, default_value = "json")]
    pub output: Output,
}

/// Runs `describe`.
pub fn run(a: DescribeArgs) -> Result<(), Failure> {
    if a.what == What::TargetHealth {
        return target_health(&a);
    }
    // A running lab of that name, unless a template is given: what is live now.
    let lab = match &a.template {
        Some(_) => a.source.load(a.template.as_ref())?,
        None => match a.source.running()? {
            Some(lab) => lab,
            // `--name X` alone asks for a running lab; say so rather than describe the
            // default lab under X's name.
            None if a.source.name != super::DEFAULT_LAB => {
                return Err(Failure::Invalid(format!(
                    "no lab named {0} is running: bring it up with `sudo vpclab up TEMPLATE --name {0}`, \
                     or describe a template with -t TEMPLATE --name {0}",
                    a.source.name
                )))
            }
            None => a.source.load(None)?,
        },
    };
    let ids = resolve(&lab, a.what, &a.names).map_err(Failure::Invalid)?;
    match a.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&describe(&lab, a.what, &ids))
                .expect("JSON values serialize")
        ),
        Output::Table => println!("{}", table(&lab, a.what, &ids)),
    }
    Ok(())
}

/// `describe target-health`: what the running lab's health checks see.
fn target_health(a: &DescribeArgs) -> Result<(), Failure> {
    if a.template.is_some() || a.source.running()?.is_none() {
        return Err(Failure::Invalid(format!(
            "target health is what a running lab's health checks see: bring the lab up \
             (`sudo vpclab up TEMPLATE --name {0}`) and run `vpclab describe target-health --name {0}`",
            a.source.name
        )));
    }
    if a.names.len() > 1 {
        return Err(Failure::Invalid(
            "describe target-health takes one target group (ARN, name, logical id or Name tag), or none for all".into(),
        ));
    }
    let req = crate::control::protocol::Request::TargetHealth {
        target_group: a.names.first().cloned(),
    };
    let value = match client::request(&a.source.name, &req).map_err(Failure::Invalid)? {
        crate::control::protocol::Response::Json { value } => value,
        crate::control::protocol::Response::Error { message } => {
            return Err(Failure::Invalid(message))
        }
        other => return Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    };
    match a.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialize")
        ),
        Output::Table => {
            let mut t = new_table(&["Target", "Port", "AZ", "State", "Reason"]);
            for d in value["TargetHealthDescriptions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
                t.add_row(vec![
                    s(&d["Target"]["Id"]),
                    d["Target"]["Port"].to_string(),
                    s(&d["Target"]["AvailabilityZone"]),
                    s(&d["TargetHealth"]["State"]),
                    s(&d["TargetHealth"]["Reason"]),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn keep(ids: &[String], id: &str) -> bool {
    ids.is_empty() || ids.iter().any(|i| i == id)
}

fn name(tags: &Tags, origin: &Origin) -> String {
    match (tags.name(), origin.logical_id.as_deref()) {
        (Some(n), Some(l)) => format!("{n}\n({l})"),
        (Some(n), None) => n.to_string(),
        (None, Some(l)) => format!("({l})"),
        (None, None) => String::new(),
    }
}

fn short(lab: &Lab, kind: Kind, id: &str) -> String {
    lab.entries(kind)
        .iter()
        .find(|e| e.id == id)
        .and_then(|e| e.tags.name().or(e.logical_id))
        .map_or(id.to_string(), |n| format!("{id} ({n})"))
}

fn target_text(lab: &Lab, t: &RouteTarget) -> String {
    match t {
        RouteTarget::Local => "local".into(),
        RouteTarget::InternetGateway(g) => short(lab, Kind::InternetGateway, g.as_str()),
        RouteTarget::GatewayEndpoint(e) => short(lab, Kind::VpcEndpoint, e.as_str()),
        RouteTarget::NetworkInterface(e) => e.to_string(),
        RouteTarget::Instance(i) => short(lab, Kind::Instance, i.as_str()),
        RouteTarget::NatGateway(n) => n.to_string(),
        RouteTarget::Peering(p) => p.to_string(),
    }
}

fn ports(p: Protocol, from: Option<i32>, to: Option<i32>) -> String {
    match (p, from, to) {
        (Protocol::All, _, _) | (Protocol::Number(_), _, _) => "all".into(),
        (Protocol::Icmp | Protocol::Icmpv6, Some(-1) | None, _) => "all types".into(),
        (Protocol::Icmp | Protocol::Icmpv6, Some(t), Some(-1) | None) => format!("type {t}"),
        (Protocol::Icmp | Protocol::Icmpv6, Some(t), Some(c)) => format!("type {t} code {c}"),
        (_, Some(0), Some(65535)) => "all".into(),
        (_, Some(f), Some(t)) if f == t => f.to_string(),
        (_, Some(f), Some(t)) => format!("{f}-{t}"),
        _ => "?".into(),
    }
}

/// A protocol as the tables show it: `all` for -1, else AWS's name.
fn proto_text(p: Protocol) -> String {
    match p {
        Protocol::All => "all".to_string(),
        p => p.aws_name(),
    }
}

/// Adds the rows of one resource: `head` fills the leading cells of its first row only.
fn add_group(t: &mut Table, head: Vec<String>, rows: Vec<Vec<String>>) {
    let blank = vec![String::new(); head.len()];
    for (i, row) in rows.into_iter().enumerate() {
        let mut cells = if i == 0 { head.clone() } else { blank.clone() };
        cells.extend(row);
        t.add_row(cells);
    }
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

/// The table form of `describe`.
pub fn table(lab: &Lab, what: What, ids: &[String]) -> Table {
    match what {
        What::RouteTables => {
            let mut t = new_table(&[
                "Route table",
                "Name",
                "Subnets",
                "Destination",
                "Target",
                "State",
            ]);
            for rt in lab.route_tables.iter().filter(|r| keep(ids, r.id.as_str())) {
                let mut subnets: Vec<String> = rt
                    .associations
                    .iter()
                    .map(|a| short(lab, Kind::Subnet, a.subnet.as_str()))
                    .collect();
                if rt.main {
                    subnets.insert(0, "main: every subnet without an association".into());
                }
                let rows = rt
                    .routes
                    .iter()
                    .map(|r| {
                        let dest = match &r.destination {
                            Destination::Cidr(c) => c.to_string(),
                            Destination::PrefixList(pl) => {
                                let svc = lab
                                    .region()
                                    .gateway_service_by_prefix_list(pl.as_str())
                                    .map(|s| lab.region().prefix_list_name(s.short))
                                    .unwrap_or_default();
                                format!("{pl} ({svc})")
                            }
                        };
                        let state = if lab.route_is_active(rt, r) {
                            "active"
                        } else {
                            "blackhole"
                        };
                        vec![dest, target_text(lab, &r.target), state.into()]
                    })
                    .collect();
                let head = vec![
                    rt.id.to_string(),
                    name(&rt.tags, &rt.origin),
                    subnets.join("\n"),
                ];
                add_group(&mut t, head, rows);
            }
            t
        }
        What::Vpcs => {
            let mut t = new_table(&[
                "VPC",
                "Name",
                "CIDR",
                "DNS support",
                "DNS hostnames",
                "Internet gateway",
                "Amazon DNS",
            ]);
            for v in lab.vpcs.iter().filter(|v| keep(ids, v.id.as_str())) {
                let igw = lab
                    .igw_of(&v.id)
                    .map(|g| short(lab, Kind::InternetGateway, g.id.as_str()))
                    .unwrap_or_else(|| "-".into());
                t.add_row(vec![
                    v.id.to_string(),
                    name(&v.tags, &v.origin),
                    v.cidr.to_string(),
                    v.enable_dns_support.to_string(),
                    v.enable_dns_hostnames.to_string(),
                    igw,
                    crate::model::cidr::dns_address(v.cidr).to_string(),
                ]);
            }
            t
        }
        What::Subnets => {
            let mut t = new_table(&[
                "Subnet",
                "Name",
                "VPC",
                "CIDR",
                "AZ",
                "Public IP on launch",
                "Route table",
                "Network ACL",
            ]);
            for s in lab.subnets.iter().filter(|s| keep(ids, s.id.as_str())) {
                let rt = lab
                    .route_table_for(&s.id)
                    .map(|r| short(lab, Kind::RouteTable, r.id.as_str()))
                    .unwrap_or_default();
                let acl = lab
                    .network_acl_for(&s.id)
                    .map(|a| short(lab, Kind::NetworkAcl, a.id.as_str()))
                    .unwrap_or_default();
                t.add_row(vec![
                    s.id.to_string(),
                    name(&s.tags, &s.origin),
                    short(lab, Kind::Vpc, s.vpc.as_str()),
                    s.cidr.to_string(),
                    s.availability_zone.clone(),
                    s.map_public_ip_on_launch.to_string(),
                    rt,
                    acl,
                ]);
            }
            t
        }
        What::SecurityGroups => {
            let mut t = new_table(&[
                "Security group",
                "Name",
                "Direction",
                "Protocol",
                "Ports",
                "Peer",
            ]);
            for g in lab
                .security_groups
                .iter()
                .filter(|g| keep(ids, g.id.as_str()))
            {
                let mut rows = vec![];
                for (dir, rules) in [("inbound", &g.ingress), ("outbound", &g.egress)] {
                    if rules.is_empty() {
                        rows.push(vec![
                            dir.into(),
                            "-".into(),
                            "-".into(),
                            "(none: nothing allowed)".into(),
                        ]);
                    }
                    for r in rules {
                        let peer = match &r.peer {
                            Peer::Cidr(c) => c.to_string(),
                            Peer::Group(s) => short(lab, Kind::SecurityGroup, s.as_str()),
                            Peer::PrefixList(p) => p.to_string(),
                        };
                        rows.push(vec![
                            dir.into(),
                            proto_text(r.protocol),
                            ports(r.protocol, r.from_port, r.to_port),
                            peer,
                        ]);
                    }
                }
                let head = vec![
                    g.id.to_string(),
                    format!("{}\n{}", g.group_name, name(&g.tags, &g.origin)),
                ];
                add_group(&mut t, head, rows);
            }
            t
        }
        What::NetworkAcls => {
            let mut t = new_table(&[
                "Network ACL",
                "Subnets",
                "Direction",
                "Rule #",
                "Protocol",
                "Ports",
                "CIDR",
                "Action",
            ]);
            for a in lab.network_acls.iter().filter(|a| keep(ids, a.id.as_str())) {
                let subnets: Vec<String> = lab
                    .subnets
                    .iter()
                    .filter(|s| lab.network_acl_for(&s.id).is_some_and(|x| x.id == a.id))
                    .map(|s| short(lab, Kind::Subnet, s.id.as_str()))
                    .collect();
                let rows = a
                    .entries
                    .iter()
                    .map(|e| {
                        let pr = match (e.port_range, e.icmp) {
                            (Some((f, to)), _) if f == to => f.to_string(),
                            (Some((f, to)), _) => format!("{f}-{to}"),
                            (_, Some((ty, c))) => {
                                ports(Protocol::Icmp, Some(i32::from(ty)), Some(i32::from(c)))
                            }
                            _ => "all".into(),
                        };
                        let rule = if e.rule_number == ACL_DEFAULT_RULE {
                            "*".to_string()
                        } else {
                            e.rule_number.to_string()
                        };
                        let action = match e.action {
                            RuleAction::Allow => "ALLOW",
                            RuleAction::Deny => "DENY",
                        };
                        let dir = if e.egress { "outbound" } else { "inbound" };
                        vec![
                            dir.into(),
                            rule,
                            proto_text(e.protocol),
                            pr,
                            e.cidr.to_string(),
                            action.into(),
                        ]
                    })
                    .collect();
                let default = if a.is_default { " (default)" } else { "" };
                let head = vec![
                    format!("{}{default}\n{}", a.id, name(&a.tags, &a.origin)),
                    subnets.join("\n"),
                ];
                add_group(&mut t, head, rows);
            }
            t
        }
        What::NetworkInterfaces => {
            let mut t = new_table(&[
                "Network interface",
                "Belongs to",
                "Subnet",
                "Private IP",
                "Public IP",
                "Security groups",
                "Requester-managed",
            ]);
            for e in lab
                .network_interfaces
                .iter()
                .filter(|e| keep(ids, e.id.as_str()))
            {
                let sgs: Vec<String> = e
                    .security_groups
                    .iter()
                    .map(|g| short(lab, Kind::SecurityGroup, g.as_str()))
                    .collect();
                let owner = match &e.owner {
                    crate::model::EniOwner::Instance(i) => short(lab, Kind::Instance, i.as_str()),
                    crate::model::EniOwner::InterfaceEndpoint(v) => {
                        short(lab, Kind::VpcEndpoint, v.as_str())
                    }
                    crate::model::EniOwner::LoadBalancer(a) => lab
                        .load_balancer(a)
                        .map_or_else(|| a.clone(), |l| format!("{} (NLB node)", l.name)),
                };
                t.add_row(vec![
                    e.id.to_string(),
                    owner,
                    short(lab, Kind::Subnet, e.subnet.as_str()),
                    e.private_ip.to_string(),
                    e.public_ip.map_or("-".into(), |p| p.to_string()),
                    sgs.join("\n"),
                    if e.requester_managed { "yes" } else { "no" }.into(),
                ]);
            }
            t
        }
        What::Instances => {
            let mut t = new_table(&[
                "Instance",
                "Name",
                "Subnet",
                "Private IP",
                "Public IP",
                "Hostname",
                "Security groups",
                "MAC",
            ]);
            for i in lab.instances.iter().filter(|i| keep(ids, i.id.as_str())) {
                let sgs: Vec<String> = i
                    .security_groups
                    .iter()
                    .map(|g| short(lab, Kind::SecurityGroup, g.as_str()))
                    .collect();
                let mac = lab
                    .eni(&i.eni)
                    .map(|e| e.mac.to_string())
                    .unwrap_or_default();
                t.add_row(vec![
                    i.id.to_string(),
                    name(&i.tags, &i.origin),
                    short(lab, Kind::Subnet, i.subnet.as_str()),
                    i.private_ip.to_string(),
                    i.public_ip.map_or("-".into(), |p| p.to_string()),
                    i.hostname.clone(),
                    sgs.join("\n"),
                    mac,
                ]);
            }
            t
        }
        What::InternetGateways => {
            let mut t = new_table(&["Internet gateway", "Name", "Attached to"]);
            for g in lab
                .internet_gateways
                .iter()
                .filter(|g| keep(ids, g.id.as_str()))
            {
                t.add_row(vec![
                    g.id.to_string(),
                    name(&g.tags, &g.origin),
                    g.attachment
                        .as_ref()
                        .map_or("-".into(), |v| short(lab, Kind::Vpc, v.as_str())),
                ]);
            }
            t
        }
        What::VpcEndpoints => {
            let mut t = new_table(&[
                "Endpoint",
                "Name",
                "Type",
                "Service",
                "State",
                "Route tables / subnets",
                "Addresses / DNS",
            ]);
            for e in lab
                .vpc_endpoints
                .iter()
                .filter(|e| keep(ids, e.id.as_str()))
            {
                let (ty, where_, addrs) = match &e.kind {
                    EndpointKind::Gateway {
                        route_tables,
                        prefix_list,
                    } => (
                        "Gateway",
                        route_tables
                            .iter()
                            .map(|r| short(lab, Kind::RouteTable, r.as_str()))
                            .collect::<Vec<_>>()
                            .join("\n"),
                        format!("route to {prefix_list}"),
                    ),
                    EndpointKind::Interface {
                        subnets,
                        network_interfaces,
                        dns_entries,
                        private_dns_enabled,
                        ..
                    } => {
                        let ips: Vec<String> = network_interfaces
                            .iter()
                            .filter_map(|n| lab.eni(n))
                            .map(|n| n.private_ip.to_string())
                            .collect();
                        let mut lines = vec![ips.join(", ")];
                        lines.extend(dns_entries.iter().take(1).map(|(n, _)| n.clone()));
                        lines.push(format!(
                            "private DNS {}",
                            if *private_dns_enabled { "on" } else { "off" }
                        ));
                        (
                            "Interface",
                            subnets
                                .iter()
                                .map(|s| short(lab, Kind::Subnet, s.as_str()))
                                .collect::<Vec<_>>()
                                .join("\n"),
                            lines.join("\n"),
                        )
                    }
                };
                t.add_row(vec![
                    e.id.to_string(),
                    name(&e.tags, &e.origin),
                    ty.into(),
                    e.service_name.clone(),
                    e.state.clone(),
                    where_,
                    addrs,
                ]);
            }
            t
        }
        What::VpcEndpointServices => {
            let mut t = new_table(&["Service name", "Type", "Owner", "Details"]);
            let r = lab.region();
            if ids.is_empty() {
                for s in r.gateway_services {
                    t.add_row(vec![
                        r.prefix_list_name(s.short),
                        "Gateway (and Interface for s3)".into(),
                        "amazon".into(),
                        format!("prefix list {}", s.prefix_list_id),
                    ]);
                }
                for s in r.interface_services {
                    t.add_row(vec![
                        r.prefix_list_name(s.short),
                        "Interface".into(),
                        "amazon".into(),
                        format!("public address {}", s.addresses.join(", ")),
                    ]);
                }
            }
            for s in lab
                .endpoint_services
                .iter()
                .filter(|s| keep(ids, s.id.as_str()))
            {
                let nlbs: Vec<String> = s
                    .network_load_balancers
                    .iter()
                    .filter_map(|a| lab.load_balancer(a))
                    .map(|l| l.name.clone())
                    .collect();
                t.add_row(vec![
                    s.service_name.clone(),
                    "Interface (endpoint service)".into(),
                    lab.account_id.clone(),
                    format!(
                        "NLB {}; acceptance {}; principals {}",
                        nlbs.join(", "),
                        if s.acceptance_required {
                            "required"
                        } else {
                            "not required"
                        },
                        if s.allowed_principals.is_empty() {
                            "none".to_string()
                        } else {
                            s.allowed_principals.join(", ")
                        }
                    ),
                ]);
            }
            t
        }
        What::LoadBalancers => {
            let mut t = new_table(&[
                "Load balancer",
                "Type",
                "Scheme",
                "DNS name",
                "Nodes",
                "Listeners",
            ]);
            for l in lab.load_balancers.iter().filter(|l| keep(ids, &l.arn)) {
                let nodes: Vec<String> = l
                    .nodes
                    .iter()
                    .map(|n| {
                        let public = lab
                            .eni(&n.eni)
                            .and_then(|e| e.public_ip)
                            .map(|p| format!(" / {p}"))
                            .unwrap_or_default();
                        format!("{}: {}{public}", n.availability_zone, n.private_ip)
                    })
                    .collect();
                let listeners: Vec<String> = lab
                    .listeners
                    .iter()
                    .filter(|x| x.load_balancer == l.arn)
                    .map(|x| {
                        format!(
                            "{} {} → {}",
                            x.protocol,
                            x.port,
                            x.target_group
                                .as_deref()
                                .and_then(|tg| lab.target_group(tg))
                                .map_or("-".to_string(), |tg| tg.name.clone())
                        )
                    })
                    .collect();
                t.add_row(vec![
                    format!("{}\n({})", l.name, l.origin.name()),
                    l.lb_type.clone(),
                    l.scheme.clone(),
                    l.dns_name.clone(),
                    nodes.join("\n"),
                    listeners.join("\n"),
                ]);
            }
            t
        }
        What::TargetGroups => {
            let mut t = new_table(&[
                "Target group",
                "Protocol",
                "Port",
                "VPC",
                "Type",
                "Targets",
                "Health check",
            ]);
            for g in lab.target_groups.iter().filter(|g| keep(ids, &g.arn)) {
                let targets: Vec<String> = g
                    .targets
                    .iter()
                    .map(|x| {
                        format!(
                            "{}:{}",
                            if g.target_type == "instance" {
                                short(lab, Kind::Instance, &x.id)
                            } else {
                                x.id.clone()
                            },
                            x.port
                        )
                    })
                    .collect();
                t.add_row(vec![
                    format!("{}\n({})", g.name, g.origin.name()),
                    g.protocol.clone(),
                    g.port.to_string(),
                    short(lab, Kind::Vpc, g.vpc.as_str()),
                    g.target_type.clone(),
                    targets.join("\n"),
                    format!(
                        "{} {} every {} s",
                        g.health_check_protocol,
                        g.health_check_port,
                        g.health_check_interval_seconds
                    ),
                ]);
            }
            t
        }
        // Read from the daemon by `target_health`; a model alone has no health.
        What::TargetHealth => new_table(&["Target", "Port", "AZ", "State", "Reason"]),
        What::Listeners => {
            let mut t = new_table(&["Listener", "Load balancer", "Protocol:port", "Forward to"]);
            for l in lab.listeners.iter().filter(|l| keep(ids, &l.arn)) {
                let lb = lab.load_balancer(&l.load_balancer).map(|x| x.name.clone());
                let tg = l
                    .target_group
                    .as_deref()
                    .and_then(|a| lab.target_group(a))
                    .map(|x| x.name.clone());
                t.add_row(vec![
                    format!(
                        "{}\n({})",
                        l.arn.rsplit('/').next().unwrap_or(""),
                        l.origin.name()
                    ),
                    lb.unwrap_or_default(),
                    format!("{}:{}", l.protocol, l.port),
                    tg.unwrap_or_default(),
                ]);
            }
            t
        }
        What::VpcEndpointServiceConfigurations
        | What::VpcEndpointConnections
        | What::VpcEndpointServicePermissions => {
            let mut t = new_table(&[
                "Endpoint service",
                "Load balancers",
                "Acceptance",
                "Allowed principals",
                "Connections",
            ]);
            for s in lab
                .endpoint_services
                .iter()
                .filter(|s| keep(ids, s.id.as_str()))
            {
                let nlbs: Vec<String> = s
                    .network_load_balancers
                    .iter()
                    .filter_map(|a| lab.load_balancer(a).map(|l| l.name.clone()))
                    .collect();
                let conns: Vec<String> = lab
                    .vpc_endpoints
                    .iter()
                    .filter(|e| e.service_name == s.service_name)
                    .map(|e| {
                        format!(
                            "{} {}",
                            short(lab, Kind::VpcEndpoint, e.id.as_str()),
                            e.state
                        )
                    })
                    .collect();
                t.add_row(vec![
                    format!("{}\n{}", name(&s.tags, &s.origin), s.service_name),
                    nlbs.join("\n"),
                    if s.acceptance_required {
                        "required"
                    } else {
                        "automatic"
                    }
                    .to_string(),
                    s.allowed_principals.join("\n"),
                    conns.join("\n"),
                ]);
            }
            t
        }
        What::PrefixLists => {
            let mut t = new_table(&["Prefix list", "Name", "CIDRs"]);
            let r = lab.region();
            for s in r
                .gateway_services
                .iter()
                .filter(|s| keep(ids, s.prefix_list_id))
            {
                t.add_row(vec![
                    s.prefix_list_id.to_string(),
                    r.prefix_list_name(s.short),
                    s.cidrs.join("\n"),
                ]);
            }
            t
        }
        What::FlowLogs => {
            let mut t = new_table(&["Flow log", "Resource", "Traffic", "Interval", "Format"]);
            for f in lab.flow_logs.iter().filter(|f| keep(ids, f.id.as_str())) {
                t.add_row(vec![
                    f.id.to_string(),
                    format!("{} {}", f.resource.type_name(), f.resource.id()),
                    f.traffic_type.as_str().to_string(),
                    format!("{} s", f.max_aggregation_interval),
                    f.log_format.clone().unwrap_or_else(|| "default".into()),
                ]);
            }
            t
        }
    }
}
