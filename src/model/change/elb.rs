//! Elastic Load Balancing v2 on a running lab (`aws elbv2` verbs): Network Load Balancers,
//! target groups, targets, listeners, attributes (what the AWS CLI prints for them:
//! `control::shapes`).
//!
//! Contract: a load balancer, target group or listener made live gets its ARN, DNS name and
//! node addresses from [`crate::model::elbv2`], as a template's does. AWS's errors:
//! `DuplicateLoadBalancerName`, `DuplicateTargetGroupName`, `DuplicateListener`,
//! `ResourceInUse` (a target group a listener forwards to; a load balancer an endpoint
//! service publishes), `InvalidTarget` (instances of another VPC, addresses outside the
//! VPC), `LoadBalancerNotFound`, `TargetGroupNotFound`, `ListenerNotFound`, `ValidationError`
//! and `InvalidConfigurationRequest` for values out of AWS's ranges.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{origin_live, Applied, ChangeError, Ctx};
use crate::model::elbv2;
use crate::model::lookup::Kind;
use crate::model::*;

fn lb_pos(lab: &Lab, cx: &Ctx, q: &str) -> Result<usize, ChangeError> {
    let arn = cx.find(Kind::LoadBalancer, q, "LoadBalancerNotFound")?;
    lab.load_balancers
        .iter()
        .position(|l| l.arn == arn)
        .ok_or_else(|| {
            cx.err(
                "LoadBalancerNotFound",
                format!("Load balancer '{arn}' not found"),
            )
        })
}

fn tg_pos(lab: &Lab, cx: &Ctx, q: &str) -> Result<usize, ChangeError> {
    let arn = cx.find(Kind::TargetGroup, q, "TargetGroupNotFound")?;
    lab.target_groups
        .iter()
        .position(|t| t.arn == arn)
        .ok_or_else(|| {
            cx.err(
                "TargetGroupNotFound",
                format!("Target group '{arn}' not found"),
            )
        })
}

/// A listener by ARN or template logical id.
fn listener_pos(lab: &Lab, cx: &Ctx, q: &str) -> Result<usize, ChangeError> {
    lab.listeners
        .iter()
        .position(|l| l.arn == q)
        .or_else(|| {
            lab.listeners
                .iter()
                .position(|l| l.origin.logical_id.as_deref() == Some(q))
        })
        .ok_or_else(|| {
            cx.err(
                "ListenerNotFound",
                format!(
                    "One or more listeners not found: '{q}'; listeners: {}",
                    lab.listeners
                        .iter()
                        .map(|l| l.arn.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

fn validation(cx: &Ctx, m: String) -> ChangeError {
    cx.err("ValidationError", m)
}

/// `create-load-balancer`.
pub struct CreateLb<'a> {
    /// `--name`: 1–32 letters, digits and hyphens, not beginning with `internal-`.
    pub name: &'a str,
    /// `--type`: only `network` is emulated (`None`: `application`, the API's default, refused).
    pub lb_type: Option<&'a str>,
    /// `--scheme`: `internet-facing` (default) or `internal`.
    pub scheme: Option<&'a str>,
    /// `--subnets`: ids, logical ids or Name tags; one node each, one per AZ, one VPC.
    pub subnets: &'a [String],
    /// `--security-groups`: ids, logical ids, names or Name tags, of the load balancer's VPC.
    pub security_groups: &'a [String],
}

pub(super) fn create_load_balancer(
    lab: &mut Lab,
    cx: &Ctx,
    a: &CreateLb,
) -> Result<Applied, ChangeError> {
    let lb_type = a.lb_type.unwrap_or("application");
    if lb_type != "network" {
        return Err(validation(
            cx,
            format!("load balancer type '{lb_type}' is not emulated{}: vpclab emulates Network Load Balancers; pass --type network", if a.lb_type.is_none() { " (application is the default)" } else { "" }),
        ));
    }
    let scheme = a.scheme.unwrap_or("internet-facing");
    if scheme != "internet-facing" && scheme != "internal" {
        return Err(validation(
            cx,
            format!("scheme '{scheme}' is not internet-facing or internal"),
        ));
    }
    if !elbv2::valid_name(a.name) || a.name.starts_with("internal-") {
        return Err(validation(cx, format!("load balancer name '{}' is not valid: 1–32 letters, digits and hyphens, not beginning or ending with a hyphen, not beginning with internal-", a.name)));
    }
    if lab.load_balancers.iter().any(|l| l.name == a.name) {
        return Err(cx.err(
            "DuplicateLoadBalancerName",
            format!(
                "A load balancer with the same name '{}' exists; pick another name or delete it",
                a.name
            ),
        ));
    }
    if a.subnets.is_empty() {
        return Err(validation(
            cx,
            "a Network Load Balancer needs --subnets: one node per subnet (AZ)".into(),
        ));
    }
    let mut subnets: Vec<Subnet> = vec![];
    for q in a.subnets {
        let id = cx.find(Kind::Subnet, q, "SubnetNotFound")?;
        let s = SubnetId::parse(&id)
            .and_then(|i| lab.subnet(&i))
            .ok_or_else(|| cx.err("SubnetNotFound", id.clone()))?;
        if let Some(first) = subnets.first() {
            if first.vpc != s.vpc {
                return Err(cx.err(
                    "InvalidConfigurationRequest",
                    format!("subnets {} and {} are in different VPCs: a load balancer's subnets are all in one VPC", first.id, s.id),
                ));
            }
        }
        if let Some(other) = subnets
            .iter()
            .find(|x| x.availability_zone == s.availability_zone)
        {
            return Err(cx.err(
                "InvalidConfigurationRequest",
                format!("A load balancer cannot be attached to multiple subnets in the same Availability Zone: {} and {} are both in {}", other.id, s.id, s.availability_zone),
            ));
        }
        subnets.push(s.clone());
    }
    let vpc = subnets[0].vpc.clone();
    if scheme == "internet-facing" && lab.igw_of(&vpc).is_none() {
        return Err(cx.err(
            "InvalidSubnet",
            format!("VPC {vpc} has no internet gateway: an internet-facing load balancer needs one attached; attach one, or pass --scheme internal"),
        ));
    }
    let mut groups: Vec<SgId> = vec![];
    for q in a.security_groups {
        let id = cx.find(Kind::SecurityGroup, q, "SecurityGroupNotFound")?;
        let g = SgId::parse(&id)
            .and_then(|i| lab.security_group(&i))
            .ok_or_else(|| cx.err("SecurityGroupNotFound", id.clone()))?;
        if g.vpc != vpc {
            return Err(cx.err(
                "InvalidConfigurationRequest",
                format!(
                    "security group {} is in {}, not in the load balancer's VPC {vpc}",
                    g.id, g.vpc
                ),
            ));
        }
        groups.push(g.id.clone());
    }
    let hex = elbv2::arn_hex(&format!(
        "lb/live/{}/{}/{}",
        lab.region,
        a.name,
        lab.load_balancers.len()
    ));
    let arn = elbv2::load_balancer_arn(&lab.region, &lab.account_id, a.name, &hex);
    let mut nodes = vec![];
    for s in &subnets {
        let ip = lab
            .allocate_private_ip(&s.id, &format!("lb/{arn}/{}", s.id))
            .map_err(|e| {
                cx.err(
                    "InvalidSubnet",
                    format!(
                        "subnet {} has no free address for the load balancer's node: {e}",
                        s.id
                    ),
                )
            })?;
        let public_ip = if scheme == "internet-facing" {
            Some(
                lab.allocate_public_ip(&format!("lb/{arn}/{}", s.id))
                    .map_err(|e| cx.err("InternalFailure", e.to_string()))?,
            )
        } else {
            None
        };
        let eni_id = EniId::generate(&format!("{arn}/{}", s.id));
        lab.network_interfaces.push(NetworkInterface {
            id: eni_id.clone(),
            subnet: s.id.clone(),
            vpc: vpc.clone(),
            mac: Mac::generate(eni_id.as_str()),
            private_ip: ip,
            public_ip,
            security_groups: groups.clone(),
            owner: EniOwner::LoadBalancer(arn.clone()),
            description: format!("ELB net/{}/{hex}", a.name),
            requester_managed: true,
            source_dest_check: true,
        });
        nodes.push(LbNode {
            subnet: s.id.clone(),
            availability_zone: s.availability_zone.clone(),
            eni: eni_id,
            private_ip: ip,
        });
    }
    lab.load_balancers.push(LoadBalancer {
        arn: arn.clone(),
        name: a.name.to_string(),
        dns_name: elbv2::load_balancer_dns_name(&lab.region, a.name, &hex),
        lb_type: "network".into(),
        scheme: scheme.into(),
        vpc,
        nodes,
        security_groups: groups,
        cross_zone: false,
        attributes: BTreeMap::new(),
        enforce_sg_inbound_on_privatelink: true,
        tags: Tags::default(),
        origin: origin_live("load balancer"),
    });
    Ok(Applied::LoadBalancer(arn))
}

pub(super) fn delete_load_balancer(
    lab: &mut Lab,
    cx: &Ctx,
    q: &str,
) -> Result<Applied, ChangeError> {
    let pos = lb_pos(lab, cx, q)?;
    let arn = lab.load_balancers[pos].arn.clone();
    if let Some(s) = lab
        .endpoint_services
        .iter()
        .find(|s| s.network_load_balancers.contains(&arn))
    {
        return Err(cx.err(
            "ResourceInUse",
            format!("Load balancer '{arn}' cannot be deleted because it is currently associated with another service: endpoint service {}; delete that service (delete-vpc-endpoint-service-configurations) or remove the load balancer from it first", s.id),
        ));
    }
    if lab.load_balancers[pos].attribute("deletion_protection.enabled") == Some("true") {
        return Err(cx.err(
            "OperationNotPermitted",
            format!("Load balancer '{arn}' cannot be deleted because deletion protection is enabled; set deletion_protection.enabled to false first"),
        ));
    }
    lab.load_balancers.remove(pos);
    lab.listeners.retain(|l| l.load_balancer != arn);
    let owner = EniOwner::LoadBalancer(arn);
    lab.network_interfaces.retain(|n| n.owner != owner);
    Ok(Applied::Nothing)
}

/// `create-target-group`.
#[derive(Default)]
pub struct CreateTg<'a> {
    /// `--name`: 1–32 letters, digits and hyphens.
    pub name: &'a str,
    /// `--protocol`: `TCP` (default), `UDP`, `TCP_UDP` or `TLS`.
    pub protocol: Option<&'a str>,
    /// `--port` (required, 1–65535).
    pub port: Option<u16>,
    /// `--vpc-id`: id, logical id or Name tag (required).
    pub vpc: Option<&'a str>,
    /// `--target-type`: `instance` (default) or `ip`.
    pub target_type: Option<&'a str>,
    /// `--health-check-protocol`: `TCP` (default), `HTTP` or `HTTPS`.
    pub health_check_protocol: Option<&'a str>,
    /// `--health-check-port`: a port or `traffic-port` (default).
    pub health_check_port: Option<&'a str>,
    /// `--health-check-path`, beginning with `/` (HTTP and HTTPS only; default `/`).
    pub health_check_path: Option<&'a str>,
    /// `--health-check-interval-seconds`: 5–300 (default 30).
    pub health_check_interval_seconds: Option<u32>,
    /// `--health-check-timeout-seconds`: 2–120 (default 10 for TCP, 6 for HTTP and HTTPS).
    pub health_check_timeout_seconds: Option<u32>,
    /// `--healthy-threshold-count`: 2–10 (default 5).
    pub healthy_threshold_count: Option<u32>,
    /// `--unhealthy-threshold-count`: 2–10 (default 2).
    pub unhealthy_threshold_count: Option<u32>,
    /// `--matcher HttpCode=…`: codes 200–599 (`200`, `200,202`, `200-299`; default `200-399`; HTTP
    /// and HTTPS only).
    pub matcher: Option<&'a str>,
}

fn in_range(
    cx: &Ctx,
    what: &str,
    v: Option<u32>,
    lo: u32,
    hi: u32,
    default: u32,
) -> Result<u32, ChangeError> {
    match v {
        None => Ok(default),
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        Some(v) => Err(validation(
            cx,
            format!("{what} {v} is not within {lo}–{hi}"),
        )),
    }
}

pub(super) fn create_target_group(
    lab: &mut Lab,
    cx: &Ctx,
    a: &CreateTg,
) -> Result<Applied, ChangeError> {
    if !elbv2::valid_name(a.name) {
        return Err(validation(cx, format!("target group name '{}' is not valid: 1–32 letters, digits and hyphens, not beginning or ending with a hyphen", a.name)));
    }
    let protocol = a.protocol.unwrap_or("TCP").to_ascii_uppercase();
    if !["TCP", "UDP", "TCP_UDP", "TLS"].contains(&protocol.as_str()) {
        return Err(validation(cx, format!("protocol '{protocol}' is not a Network Load Balancer target group protocol: TCP, UDP, TCP_UDP or TLS")));
    }
    let target_type = a.target_type.unwrap_or("instance");
    if target_type != "instance" && target_type != "ip" {
        return Err(validation(
            cx,
            format!("target type '{target_type}' is not emulated: use instance or ip"),
        ));
    }
    let Some(port) = a.port.filter(|p| *p > 0) else {
        return Err(validation(
            cx,
            "a target group of instance or ip targets needs --port (1–65535)".into(),
        ));
    };
    let Some(vpc) = a.vpc else {
        return Err(validation(
            cx,
            "a target group of instance or ip targets needs --vpc-id".into(),
        ));
    };
    let vpc = super::endpoint::vpc_id(cx, vpc)?;
    let hc_protocol = a
        .health_check_protocol
        .unwrap_or("TCP")
        .to_ascii_uppercase();
    if !["TCP", "HTTP", "HTTPS"].contains(&hc_protocol.as_str()) {
        return Err(validation(
            cx,
            format!("health check protocol '{hc_protocol}' is not TCP, HTTP or HTTPS"),
        ));
    }
    let hc_port = a.health_check_port.unwrap_or("traffic-port").to_string();
    if hc_port != "traffic-port" && !hc_port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(validation(
            cx,
            format!("health check port '{hc_port}' is not traffic-port or 1–65535"),
        ));
    }
    let http = hc_protocol.starts_with("HTTP");
    if !http && (a.health_check_path.is_some() || a.matcher.is_some()) {
        return Err(cx.err("InvalidConfigurationRequest", "a health check path and matcher are for HTTP and HTTPS health checks: add --health-check-protocol HTTP"));
    }
    let matcher = a.matcher.unwrap_or("200-399").to_string();
    let codes_ok = matcher.split(',').all(|part| {
        part.split('-').all(|c| {
            c.trim()
                .parse::<u16>()
                .is_ok_and(|c| (200..=599).contains(&c))
        })
    });
    if !codes_ok {
        return Err(validation(
            cx,
            format!("matcher '{matcher}' is not HTTP codes 200–599 (200, 200,202 or 200-299)"),
        ));
    }
    let path = a.health_check_path.unwrap_or("/").to_string();
    if !path.starts_with('/') {
        return Err(validation(
            cx,
            format!("health check path '{path}' must begin with /"),
        ));
    }
    let interval = in_range(
        cx,
        "health check interval",
        a.health_check_interval_seconds,
        5,
        300,
        30,
    )?;
    let timeout = in_range(
        cx,
        "health check timeout",
        a.health_check_timeout_seconds,
        2,
        120,
        TargetGroup::default_health_check_timeout(&hc_protocol),
    )?;
    let healthy = in_range(cx, "healthy threshold", a.healthy_threshold_count, 2, 10, 5)?;
    let unhealthy = in_range(
        cx,
        "unhealthy threshold",
        a.unhealthy_threshold_count,
        2,
        10,
        2,
    )?;
    if lab.target_groups.iter().any(|t| t.name == a.name) {
        return Err(cx.err(
            "DuplicateTargetGroupName",
            format!(
                "A target group with the same name '{}' exists; pick another name or delete it",
                a.name
            ),
        ));
    }
    let hex = elbv2::arn_hex(&format!(
        "tg/live/{}/{}/{}",
        lab.region,
        a.name,
        lab.target_groups.len()
    ));
    let arn = elbv2::target_group_arn(&lab.region, &lab.account_id, a.name, &hex);
    lab.target_groups.push(TargetGroup {
        arn: arn.clone(),
        name: a.name.to_string(),
        protocol,
        port,
        vpc,
        target_type: target_type.into(),
        targets: vec![],
        health_check_protocol: hc_protocol,
        health_check_port: hc_port,
        health_check_interval_seconds: interval,
        healthy_threshold_count: healthy,
        unhealthy_threshold_count: unhealthy,
        health_check_path: path,
        health_check_timeout_seconds: timeout,
        health_check_matcher: matcher,
        health_check_enabled: true,
        attributes: BTreeMap::new(),
        tags: Tags::default(),
        origin: origin_live("target group"),
    });
    Ok(Applied::TargetGroup(arn))
}

pub(super) fn delete_target_group(
    lab: &mut Lab,
    cx: &Ctx,
    q: &str,
) -> Result<Applied, ChangeError> {
    let pos = tg_pos(lab, cx, q)?;
    let arn = lab.target_groups[pos].arn.clone();
    if let Some(l) = lab
        .listeners
        .iter()
        .find(|l| l.target_group.as_deref() == Some(arn.as_str()))
    {
        return Err(cx.err(
            "ResourceInUse",
            format!("Target group '{arn}' is currently in use by a listener or a rule ({}); delete the listener first", l.arn),
        ));
    }
    lab.target_groups.remove(pos);
    Ok(Applied::Nothing)
}

/// A `--targets Id=…,Port=…` entry.
pub type TargetSpec = (String, Option<u16>);

/// The target ids (instance ids resolved) and ports of `targets` for group `tg`.
fn targets(
    lab: &Lab,
    cx: &Ctx,
    tg: &TargetGroup,
    specs: &[TargetSpec],
) -> Result<Vec<(String, u16)>, ChangeError> {
    let mut out = vec![];
    for (q, port) in specs {
        let port = port.unwrap_or(tg.port);
        if port == 0 {
            return Err(validation(cx, format!("target {q}: port 0 is not 1–65535")));
        }
        if tg.target_type == "instance" {
            let id = lab.find(Kind::Instance, q).map_err(|e| {
                cx.err(
                    "InvalidTarget",
                    format!("The following targets are not valid instances: '{q}' ({e})"),
                )
            })?;
            let inst = InstanceId::parse(&id)
                .and_then(|i| lab.instance(&i))
                .ok_or_else(|| {
                    cx.err(
                        "InvalidTarget",
                        format!("The following targets are not valid instances: '{q}'"),
                    )
                })?;
            if inst.vpc != tg.vpc {
                return Err(cx.err(
                    "InvalidTarget",
                    format!("The following targets are not in the target group VPC '{}': '{id}' (it is in {}); register instances of {}, or use a target group of that VPC", tg.vpc, inst.vpc, tg.vpc),
                ));
            }
            out.push((id, port));
        } else {
            let ip: Ipv4Addr = q.parse().map_err(|_| {
                validation(cx, format!("target '{q}' is not an IPv4 address: an ip target group registers addresses"))
            })?;
            let vpc = lab
                .vpc(&tg.vpc)
                .ok_or_else(|| cx.err("InvalidTarget", tg.vpc.to_string()))?;
            if !vpc.cidr.contains(&ip) {
                return Err(cx.err(
                    "InvalidTarget",
                    format!("The IP address '{ip}' is not within the CIDR {} of the target group's VPC {}; register an address of that VPC", vpc.cidr, tg.vpc),
                ));
            }
            out.push((ip.to_string(), port));
        }
    }
    Ok(out)
}

pub(super) fn register(
    lab: &mut Lab,
    cx: &Ctx,
    q: &str,
    specs: &[TargetSpec],
    add: bool,
) -> Result<Applied, ChangeError> {
    let pos = tg_pos(lab, cx, q)?;
    let tg = lab.target_groups[pos].clone();
    let list = targets(lab, cx, &tg, specs)?;
    let t = &mut lab.target_groups[pos];
    for (id, port) in list {
        let at = t.targets.iter().position(|x| x.id == id && x.port == port);
        match (add, at) {
            (true, None) => t.targets.push(Target { id, port, origin: origin_live("target") }),
            (true, Some(_)) => {}
            (false, Some(i)) => {
                t.targets.remove(i);
            }
            (false, None) => {
                return Err(cx.err(
                    "InvalidTarget",
                    format!("The following targets are not registered in target group '{}': 'Id={id},Port={port}'", t.arn),
                ))
            }
        }
    }
    Ok(Applied::Nothing)
}

pub(super) fn create_listener(
    lab: &mut Lab,
    cx: &Ctx,
    lb: &str,
    protocol: Option<&str>,
    port: u16,
    target_group: &str,
) -> Result<Applied, ChangeError> {
    let lpos = lb_pos(lab, cx, lb)?;
    let tpos = tg_pos(lab, cx, target_group)?;
    let lb = lab.load_balancers[lpos].clone();
    let tg = lab.target_groups[tpos].clone();
    let protocol = protocol.unwrap_or("TCP").to_ascii_uppercase();
    if !["TCP", "UDP", "TCP_UDP"].contains(&protocol.as_str()) {
        return Err(validation(cx, format!("listener protocol '{protocol}' is not emulated: TCP, UDP or TCP_UDP (TLS needs certificates, which vpclab does not have)")));
    }
    if port == 0 {
        return Err(validation(cx, "listener port 0 is not 1–65535".into()));
    }
    if protocol != tg.protocol {
        return Err(cx.err(
            "IncompatibleProtocols",
            format!("the listener's protocol {protocol} does not match target group {}'s protocol {}: use a {protocol} target group", tg.name, tg.protocol),
        ));
    }
    if tg.vpc != lb.vpc {
        return Err(validation(
            cx,
            format!("target group {} is in {} but load balancer {} is in {}: they must be in the same VPC", tg.name, tg.vpc, lb.name, lb.vpc),
        ));
    }
    if let Some(other) = lab
        .listeners
        .iter()
        .find(|l| l.target_group.as_deref() == Some(tg.arn.as_str()) && l.load_balancer != lb.arn)
    {
        return Err(cx.err(
            "TargetGroupAssociationLimit",
            format!("target group {} is already used by load balancer {}: a Network Load Balancer target group belongs to one load balancer", tg.name, other.load_balancer),
        ));
    }
    let udp = |p: &str| p == "UDP" || p == "TCP_UDP";
    let tcp = |p: &str| p != "UDP";
    if let Some(l) = lab.listeners.iter().find(|l| {
        l.load_balancer == lb.arn
            && l.port == port
            && ((udp(&l.protocol) && udp(&protocol)) || (tcp(&l.protocol) && tcp(&protocol)))
    }) {
        return Err(cx.err(
            "DuplicateListener",
            format!("A listener already exists on this port for this load balancer '{}': {} on {port} ({}); delete it or use another port", lb.arn, l.protocol, l.arn),
        ));
    }
    let hex = elbv2::arn_hex(&format!(
        "listener/live/{}/{port}/{protocol}/{}",
        lb.arn,
        lab.listeners.len()
    ));
    let arn = elbv2::listener_arn(&lb.arn, &hex);
    lab.listeners.push(Listener {
        arn: arn.clone(),
        load_balancer: lb.arn.clone(),
        port,
        protocol,
        target_group: Some(tg.arn.clone()),
        origin: origin_live("listener"),
    });
    Ok(Applied::Listener(
        lab.listeners
            .last()
            .map(|l| l.arn.clone())
            .unwrap_or_default(),
    ))
}

pub(super) fn delete_listener(lab: &mut Lab, cx: &Ctx, q: &str) -> Result<Applied, ChangeError> {
    let pos = listener_pos(lab, cx, q)?;
    lab.listeners.remove(pos);
    Ok(Applied::Nothing)
}

pub(super) fn target_group_attributes(
    lab: &mut Lab,
    cx: &Ctx,
    q: &str,
    attributes: &[(String, String)],
) -> Result<Applied, ChangeError> {
    let pos = tg_pos(lab, cx, q)?;
    if attributes.is_empty() {
        return Err(validation(cx, "give --attributes Key=…,Value=…".into()));
    }
    for (k, v) in attributes {
        elbv2::check_target_group_attribute(&lab.target_groups[pos], k, v)
            .map_err(|m| cx.err("InvalidConfigurationRequest", m))?;
    }
    let t = &mut lab.target_groups[pos];
    for (k, v) in attributes {
        t.attributes.insert(k.clone(), v.clone());
    }
    Ok(Applied::TargetGroupAttributes(t.arn.clone()))
}

pub(super) fn load_balancer_attributes(
    lab: &mut Lab,
    cx: &Ctx,
    q: &str,
    attributes: &[(String, String)],
) -> Result<Applied, ChangeError> {
    let pos = lb_pos(lab, cx, q)?;
    if attributes.is_empty() {
        return Err(validation(cx, "give --attributes Key=…,Value=…".into()));
    }
    for (k, v) in attributes {
        elbv2::check_load_balancer_attribute(k, v)
            .map_err(|m| cx.err("InvalidConfigurationRequest", m))?;
    }
    let l = &mut lab.load_balancers[pos];
    for (k, v) in attributes {
        l.set_attribute(k, v);
    }
    Ok(Applied::LoadBalancerAttributes(l.arn.clone()))
}
