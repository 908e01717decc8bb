//! Names, addresses and attribute rules shared by the template builder and the live verbs:
//! Elastic Load Balancing v2 (load balancers, target groups, listeners) and PrivateLink
//! (interface endpoints' DNS entries, endpoint services' names).
//!
//! Contract: every function is deterministic in its inputs, so a template and the live verbs
//! that create the same resource from the same seed give the same ARN, DNS name and address.
//! Attribute checks return AWS's rule as a sentence (the caller adds the error code or the
//! problem's location); they accept exactly the keys vpclab's data plane honours or AWS
//! defines for Network Load Balancers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::cidr::{AddressPool, AllocError};
use super::ids::hex_digits;
use super::*;

/// A name made from the stack and logical id as CloudFormation makes it (32 characters at
/// most, letters, digits and hyphens).
pub fn generated_name(stack: &str, logical: &str) -> String {
    let mut n: String = format!("{stack}-{logical}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    n.truncate(32);
    n.trim_end_matches('-').to_string()
}

/// Whether `name` is a valid load balancer / target group name: 1–32 letters, digits and
/// hyphens, not starting or ending with a hyphen (and a load balancer's not with `internal-`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The 16 hex digits that identify a load balancer, target group or listener in its ARN.
pub fn arn_hex(seed: &str) -> String {
    hex_digits(seed, 16)
}

/// A Network Load Balancer's ARN.
pub fn load_balancer_arn(region: &str, account: &str, name: &str, hex: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/net/{name}/{hex}")
}

/// A Network Load Balancer's DNS name.
pub fn load_balancer_dns_name(region: &str, name: &str, hex: &str) -> String {
    format!("{name}-{hex}.elb.{region}.amazonaws.com")
}

/// The hosted zone of the region's load balancers' DNS names.
pub fn load_balancer_zone(region: &str) -> String {
    format!(
        "Z{}",
        hex_digits(&format!("elb/{region}"), 13).to_uppercase()
    )
}

/// A target group's ARN.
pub fn target_group_arn(region: &str, account: &str, name: &str, hex: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{hex}")
}

/// A listener's ARN, under its load balancer's.
pub fn listener_arn(lb_arn: &str, hex: &str) -> String {
    format!(
        "{}/{hex}",
        lb_arn.replacen(":loadbalancer/", ":listener/", 1)
    )
}

/// An endpoint service's name.
pub fn endpoint_service_name(region: &str, id: &VpceSvcId) -> String {
    format!("com.amazonaws.vpce.{region}.{id}")
}

/// An endpoint service's base DNS name.
pub fn endpoint_service_base_dns(region: &str, id: &VpceSvcId) -> String {
    format!("{id}.{region}.vpce.amazonaws.com")
}

/// The AZs where an endpoint service is offered: those of its load balancers' nodes.
pub fn endpoint_service_azs(lab: &Lab, s: &EndpointService) -> Vec<String> {
    let mut azs: Vec<String> = s
        .network_load_balancers
        .iter()
        .filter_map(|a| lab.load_balancer(a))
        .flat_map(|l| l.nodes.iter().map(|n| n.availability_zone.clone()))
        .collect();
    azs.sort();
    azs.dedup();
    azs
}

/// Whether an endpoint service lets the lab's account connect (`arn:aws:iam::<account>:root`,
/// the account id itself, or `*`).
pub fn principal_allowed(lab: &Lab, s: &EndpointService) -> bool {
    let root = format!("arn:aws:iam::{}:root", lab.account_id);
    s.allowed_principals
        .iter()
        .any(|p| p == "*" || *p == root || *p == lab.account_id)
}

/// An interface endpoint's `DnsEntries`: regional, one zonal name per subnet, then the
/// private DNS name (AWS services only). `suffix` is the endpoint's 8 characters,
/// `service_part` the service's short name or the endpoint service's id.
pub fn interface_dns_entries(
    lab: &Lab,
    id: &VpceId,
    suffix: &str,
    service_part: &str,
    subnets: &[SubnetId],
    private_dns: Option<(String, String)>,
) -> Vec<(String, String)> {
    let region = &lab.region;
    let zone = format!(
        "Z{}",
        hex_digits(&format!("zone/{region}"), 13).to_uppercase()
    );
    let mut dns = vec![(
        format!("{id}-{suffix}.{service_part}.{region}.vpce.amazonaws.com"),
        zone.clone(),
    )];
    for s in subnets {
        if let Some(sub) = lab.subnet(s) {
            dns.push((
                format!(
                    "{id}-{suffix}-{}.{service_part}.{region}.vpce.amazonaws.com",
                    sub.availability_zone
                ),
                zone.clone(),
            ));
        }
    }
    dns.extend(private_dns);
    dns
}

/// The private DNS entry of an interface endpoint to AWS service `short`.
pub fn private_dns_entry(region: &str, short: &str, seed: &str) -> (String, String) {
    (
        format!("{short}.{region}.amazonaws.com"),
        format!(
            "Z{}",
            hex_digits(&format!("private/{seed}"), 13).to_uppercase()
        ),
    )
}

/// The private DNS name an interface endpoint claims in its VPC, when private DNS is on.
pub fn private_dns_name(e: &VpcEndpoint) -> Option<&str> {
    match &e.kind {
        EndpointKind::Interface {
            private_dns_enabled: true,
            dns_entries,
            ..
        } => dns_entries
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| !n.ends_with(".vpce.amazonaws.com")),
        _ => None,
    }
}

impl Lab {
    /// A free private address of `subnet` for `seed`, with the allocation the template
    /// builder uses (addresses of every network interface of the lab are taken).
    pub fn allocate_private_ip(
        &self,
        subnet: &SubnetId,
        seed: &str,
    ) -> Result<Ipv4Addr, AllocError> {
        let cidr = self
            .subnet(subnet)
            .map(|s| s.cidr)
            .unwrap_or_else(|| Ipv4Net::from(Ipv4Addr::UNSPECIFIED));
        let mut pool = AddressPool::subnet(cidr);
        for e in &self.network_interfaces {
            let _ = pool.take(e.private_ip);
        }
        pool.allocate(seed)
    }

    /// A free public address for `seed` from the region's pool.
    pub fn allocate_public_ip(&self, seed: &str) -> Result<Ipv4Addr, AllocError> {
        let mut pool = AddressPool::public(self.region().public_pool());
        for e in &self.network_interfaces {
            if let Some(ip) = e.public_ip {
                let _ = pool.take(ip);
            }
        }
        for e in &self.elastic_ips {
            let _ = pool.take(e.public_ip);
        }
        pool.allocate(seed)
    }
}

fn boolean(key: &str, value: &str) -> Result<(), String> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(format!(
            "'{value}' is not a valid value for {key}: write true or false"
        )),
    }
}

fn range(key: &str, value: &str, lo: u32, hi: u32) -> Result<(), String> {
    match value.parse::<u32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(()),
        _ => Err(format!(
            "'{value}' is not a valid value for {key}: it must be an integer from {lo} to {hi}"
        )),
    }
}

/// The target group attributes of a Network Load Balancer's target groups.
pub const TARGET_GROUP_ATTRIBUTES: &[&str] = &[
    "deregistration_delay.timeout_seconds",
    "deregistration_delay.connection_termination.enabled",
    "load_balancing.cross_zone.enabled",
    "preserve_client_ip.enabled",
    "proxy_protocol_v2.enabled",
    "stickiness.enabled",
    "stickiness.type",
    "target_health_state.unhealthy.connection_termination.enabled",
    "target_health_state.unhealthy.draining_interval_seconds",
    "tcp.idle_timeout.seconds",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
];

/// Checks one target group attribute as ModifyTargetGroupAttributes does.
pub fn check_target_group_attribute(
    tg: &TargetGroup,
    key: &str,
    value: &str,
) -> Result<(), String> {
    match key {
        "deregistration_delay.timeout_seconds" => range(key, value, 0, 3600),
        "tcp.idle_timeout.seconds" if tg.protocol == "UDP" => Err(format!(
            "{key} cannot be set on a UDP target group: UDP flows idle out after 120 seconds"
        )),
        "tcp.idle_timeout.seconds" => range(key, value, 60, 6000),
        "target_health_state.unhealthy.draining_interval_seconds" => range(key, value, 0, 360000),
        "preserve_client_ip.enabled" if tg.is_udp() && value == "false" => Err(format!(
            "{key} cannot be disabled for a {} target group: UDP and TCP_UDP always preserve client addresses",
            tg.protocol
        )),
        "load_balancing.cross_zone.enabled" => match value {
            "true" | "false" | "use_load_balancer_configuration" => Ok(()),
            _ => Err(format!(
                "'{value}' is not a valid value for {key}: write true, false or use_load_balancer_configuration"
            )),
        },
        "stickiness.type" => match value {
            "source_ip" => Ok(()),
            _ => Err(format!("'{value}' is not a valid value for {key}: Network Load Balancers use source_ip")),
        },
        k if k.ends_with(".enabled") && TARGET_GROUP_ATTRIBUTES.contains(&k) => boolean(key, value),
        k if TARGET_GROUP_ATTRIBUTES.contains(&k) => Ok(()),
        _ => Err(format!(
            "'{key}' is not a target group attribute of a Network Load Balancer; known: {}",
            TARGET_GROUP_ATTRIBUTES.join(", ")
        )),
    }
}

/// The load balancer attributes of a Network Load Balancer.
pub const LOAD_BALANCER_ATTRIBUTES: &[&str] = &[
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "deletion_protection.enabled",
    "dns_record.client_routing_policy",
    "ipv6.deny_all_igw_traffic",
    "load_balancing.cross_zone.enabled",
    "zonal_shift.config.enabled",
];

/// Checks one load balancer attribute as ModifyLoadBalancerAttributes does.
pub fn check_load_balancer_attribute(key: &str, value: &str) -> Result<(), String> {
    match key {
        "dns_record.client_routing_policy" => match value {
            "availability_zone_affinity" | "partial_availability_zone_affinity" | "any_availability_zone" => Ok(()),
            _ => Err(format!("'{value}' is not a valid value for {key}: write availability_zone_affinity, partial_availability_zone_affinity or any_availability_zone")),
        },
        "access_logs.s3.bucket" | "access_logs.s3.prefix" => Ok(()),
        k if LOAD_BALANCER_ATTRIBUTES.contains(&k) => boolean(key, value),
        _ => Err(format!(
            "'{key}' is not a load balancer attribute of a Network Load Balancer; known: {}",
            LOAD_BALANCER_ATTRIBUTES.join(", ")
        )),
    }
}

/// A target group's attributes as `describe-target-group-attributes` lists them: AWS's
/// defaults, overridden by what was set.
pub fn target_group_attributes(tg: &TargetGroup) -> Vec<(String, String)> {
    let mut all: BTreeMap<String, String> = [
        (
            "deregistration_delay.timeout_seconds",
            tg.deregistration_delay_seconds().to_string(),
        ),
        (
            "deregistration_delay.connection_termination.enabled",
            "false".into(),
        ),
        ("stickiness.enabled", "false".into()),
        ("stickiness.type", "source_ip".into()),
        (
            "proxy_protocol_v2.enabled",
            tg.proxy_protocol_v2().to_string(),
        ),
        (
            "preserve_client_ip.enabled",
            tg.preserve_client_ip().to_string(),
        ),
        (
            "load_balancing.cross_zone.enabled",
            tg.cross_zone()
                .map(|b| b.to_string())
                .unwrap_or_else(|| "use_load_balancer_configuration".into()),
        ),
        (
            "target_health_state.unhealthy.connection_termination.enabled",
            tg.terminate_on_unhealthy().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if tg.protocol != "UDP" {
        all.insert(
            "tcp.idle_timeout.seconds".into(),
            tg.tcp_idle_timeout_seconds().to_string(),
        );
    }
    for (k, v) in &tg.attributes {
        all.insert(k.clone(), v.clone());
    }
    all.into_iter().collect()
}

/// A load balancer's attributes as `describe-load-balancer-attributes` lists them.
pub fn load_balancer_attributes(lb: &LoadBalancer) -> Vec<(String, String)> {
    let mut all: BTreeMap<String, String> = [
        ("access_logs.s3.enabled", "false"),
        ("deletion_protection.enabled", "false"),
        ("dns_record.client_routing_policy", "any_availability_zone"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    all.insert(
        "load_balancing.cross_zone.enabled".into(),
        lb.cross_zone.to_string(),
    );
    for (k, v) in &lb.attributes {
        all.insert(k.clone(), v.clone());
    }
    all.into_iter().collect()
}
