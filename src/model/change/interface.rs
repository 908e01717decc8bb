//! `create-vpc-endpoint --vpc-endpoint-type Interface` and `modify-vpc-endpoint` of an
//! interface endpoint: PrivateLink to an AWS service of the region or to an endpoint service.
//!
//! Contract: an interface endpoint has one requester-managed network interface per subnet,
//! at most one subnet per AZ (`DuplicateSubnetsInSameZone`), with an address allocated as the
//! template builder allocates it, and the `DnsEntries` a template's endpoint gets (regional,
//! zonal, then the private DNS name). Private DNS is on by default for AWS services and off
//! for endpoint services (which have no private DNS name here); it needs both VPC DNS
//! attributes and no other endpoint with private DNS for the same service in the VPC
//! (`InvalidParameter`, AWS's wording). An endpoint service is reachable only for an allowed
//! principal (else AWS's `InvalidServiceName`: the service "does not exist"), only in the AZs
//! of its load balancers' nodes, and starts `pendingAcceptance` when the service requires
//! acceptance.

use serde_json::Value;

use super::endpoint::{new_endpoint_id, policy_doc, vpc_id};
use super::{origin_live, Applied, ChangeError, Ctx};
use crate::model::catalog::{parse_service_name, ServiceName};
use crate::model::elbv2;
use crate::model::ids::hex_digits;
use crate::model::lookup::Kind;
use crate::model::*;

/// What a `--service-name` of an interface endpoint names.
enum Service {
    /// An AWS service of the region: its short name.
    Aws(String),
    /// An endpoint service of the lab.
    Endpoint(EndpointService),
}

fn service(cx: &Ctx, name: &str) -> Result<Service, ChangeError> {
    let region = cx.lab.region();
    let missing = |why: String| {
        cx.err(
            "InvalidServiceName",
            format!("The Vpc Endpoint Service '{name}' does not exist: {why}"),
        )
    };
    match parse_service_name(name) {
        Some(ServiceName::Aws { region: r, short }) if r != region.name => Err(missing(format!(
            "VPC endpoints are same-region only and this lab is in {}; use com.amazonaws.{}.{short}",
            region.name, region.name
        ))),
        Some(ServiceName::Aws { short, .. }) => {
            if region.interface_service(short).is_some() || region.gateway_service(short).is_some()
            {
                Ok(Service::Aws(short.to_string()))
            } else {
                Err(missing(format!(
                    "vpclab knows no service '{short}' in {}; interface endpoints exist for: {}",
                    region.name,
                    region
                        .interface_services
                        .iter()
                        .map(|s| s.short)
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
        Some(ServiceName::EndpointService { region: r, .. }) if r != region.name => {
            Err(missing(format!(
                "VPC endpoints are same-region only and this lab is in {}: create the endpoint service there",
                region.name
            )))
        }
        Some(ServiceName::EndpointService { .. }) => {
            let Some(svc) = cx.lab.endpoint_service_by_name(name) else {
                return Err(missing(format!(
                    "no endpoint service of this lab has that name; known: {}",
                    cx.lab
                        .endpoint_services
                        .iter()
                        .map(|s| s.service_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            if !elbv2::principal_allowed(cx.lab, svc) {
                return Err(missing(format!(
                    "AWS answers so to principals the service does not allow: {} does not allow arn:aws:iam::{}:root; the provider runs modify-vpc-endpoint-service-permissions --service-id {} --add-allowed-principals '[\"arn:aws:iam::{}:root\"]'",
                    svc.id, cx.lab.account_id, svc.id, cx.lab.account_id
                )));
            }
            Ok(Service::Endpoint(svc.clone()))
        }
        None => Err(missing(
            "service names are com.amazonaws.<region>.<service> or com.amazonaws.vpce.<region>.vpce-svc-…"
                .into(),
        )),
    }
}

fn subnet_ids(cx: &Ctx, vpc: &VpcId, queries: &[String]) -> Result<Vec<SubnetId>, ChangeError> {
    let mut out: Vec<SubnetId> = vec![];
    for q in queries {
        let id = cx.find(Kind::Subnet, q, "InvalidSubnetID.NotFound")?;
        let id = SubnetId::parse(&id).ok_or_else(|| cx.err("InvalidSubnetID.Malformed", id))?;
        let s = cx
            .lab
            .subnet(&id)
            .ok_or_else(|| cx.err("InvalidSubnetID.NotFound", id.to_string()))?;
        if &s.vpc != vpc {
            return Err(cx.err(
                "InvalidParameter",
                format!(
                    "subnet {} is in {}, not in the endpoint's VPC {}: an interface endpoint's subnets are all in its VPC",
                    cx.lab.label(Kind::Subnet, id.as_str()),
                    s.vpc,
                    vpc
                ),
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn group_ids(cx: &Ctx, vpc: &VpcId, queries: &[String]) -> Result<Vec<SgId>, ChangeError> {
    let mut out: Vec<SgId> = vec![];
    for q in queries {
        let id = cx.find(Kind::SecurityGroup, q, "InvalidGroup.NotFound")?;
        let id = SgId::parse(&id).ok_or_else(|| cx.err("InvalidGroupId.Malformed", id))?;
        if let Some(g) = cx.lab.security_group(&id) {
            if &g.vpc != vpc {
                return Err(cx.err(
                    "InvalidParameter",
                    format!(
                        "security group {} is in {}, not in the endpoint's VPC {}: use a group of {vpc}",
                        cx.lab.label(Kind::SecurityGroup, id.as_str()),
                        g.vpc,
                        vpc
                    ),
                ));
            }
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// One subnet per AZ, and only the service's AZs.
fn check_zones(
    cx: &Ctx,
    service_name: &str,
    svc: Option<&EndpointService>,
    subnets: &[SubnetId],
) -> Result<(), ChangeError> {
    let mut seen: Vec<(&str, &SubnetId)> = vec![];
    let azs = svc.map(|s| elbv2::endpoint_service_azs(cx.lab, s));
    for id in subnets {
        let Some(s) = cx.lab.subnet(id) else { continue };
        if let Some((_, first)) = seen.iter().find(|(az, _)| *az == s.availability_zone) {
            return Err(cx.err(
                "DuplicateSubnetsInSameZone",
                format!(
                    "Found another VPC endpoint subnet in the availability zone of {id}: {first} is in {} too. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service; keep one subnet per AZ",
                    s.availability_zone
                ),
            ));
        }
        seen.push((&s.availability_zone, id));
        if let Some(azs) = &azs {
            if !azs.contains(&s.availability_zone) {
                return Err(cx.err(
                    "InvalidParameter",
                    format!(
                        "The VPC endpoint service {service_name} does not support the availability zone of the subnet: {id} ({}). The service is offered where its Network Load Balancer has nodes: {}; pick a subnet there, or give the load balancer a subnet in {}",
                        s.availability_zone,
                        azs.join(", "),
                        s.availability_zone
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Private DNS: both VPC attributes, a service with a private name, no conflict.
fn check_private_dns(
    cx: &Ctx,
    vpc: &VpcId,
    service_name: &str,
    svc: &Service,
    except: Option<&VpceId>,
) -> Result<(), ChangeError> {
    let v = cx
        .lab
        .vpc(vpc)
        .ok_or_else(|| cx.err("InvalidVpcId.NotFound", vpc.to_string()))?;
    if !(v.enable_dns_support && v.enable_dns_hostnames) {
        return Err(cx.err(
            "InvalidParameter",
            format!(
                "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {vpc} (now {} and {}); turn both on, or pass --no-private-dns-enabled",
                v.enable_dns_support, v.enable_dns_hostnames
            ),
        ));
    }
    let Service::Aws(short) = svc else {
        return Err(cx.err(
            "InvalidParameter",
            format!("private DNS cannot be enabled: the endpoint service {service_name} has no verified private DNS name (vpclab emulates none); pass --no-private-dns-enabled and use the endpoint's own DNS names"),
        ));
    };
    let name = format!("{short}.{}.amazonaws.com", cx.lab.region);
    if let Some(other) = cx.lab.vpc_endpoints.iter().find(|e| {
        &e.vpc == vpc && Some(&e.id) != except && elbv2::private_dns_name(e) == Some(name.as_str())
    }) {
        return Err(cx.err(
            "InvalidParameter",
            format!(
                "private-dns-enabled cannot be set because there is already a conflicting DNS domain for {name} in the VPC {vpc} (endpoint {}); disable private DNS on one of them, or use that endpoint",
                other.id
            ),
        ));
    }
    Ok(())
}

/// The network interface of endpoint `id` in `subnet`.
fn eni(
    lab: &Lab,
    cx: &Ctx,
    id: &VpceId,
    subnet: &SubnetId,
    groups: &[SgId],
) -> Result<NetworkInterface, ChangeError> {
    let sub = lab
        .subnet(subnet)
        .ok_or_else(|| cx.err("InvalidSubnetID.NotFound", subnet.to_string()))?;
    let eni_id = EniId::generate(&format!("{id}/{subnet}"));
    let ip = lab
        .allocate_private_ip(subnet, &format!("endpoint/{id}/{subnet}"))
        .map_err(|e| {
            cx.err(
                "InsufficientFreeAddressesInSubnet",
                format!("subnet {subnet} has no free address for the endpoint's network interface: {e}; use a larger subnet"),
            )
        })?;
    Ok(NetworkInterface {
        id: eni_id.clone(),
        subnet: subnet.clone(),
        vpc: sub.vpc.clone(),
        mac: Mac::generate(eni_id.as_str()),
        private_ip: ip,
        public_ip: None,
        security_groups: groups.to_vec(),
        owner: EniOwner::InterfaceEndpoint(id.clone()),
        description: format!("VPC Endpoint Interface {id}"),
        requester_managed: true,
        source_dest_check: true,
    })
}

/// `create-vpc-endpoint --vpc-endpoint-type Interface`.
#[allow(clippy::too_many_arguments)] // the verb's flags, one each
pub(super) fn create(
    lab: &mut Lab,
    cx: &Ctx,
    vpc: &str,
    service_name: &str,
    subnets: &[String],
    security_groups: &[String],
    private_dns: Option<bool>,
    policy: &Option<Value>,
) -> Result<Applied, ChangeError> {
    let vpc = vpc_id(cx, vpc)?;
    let svc = service(cx, service_name)?;
    let endpoint_svc = match &svc {
        Service::Endpoint(s) => Some(s),
        Service::Aws(_) => None,
    };
    let subnets = subnet_ids(cx, &vpc, subnets)?;
    if subnets.is_empty() {
        return Err(cx.err(
            "MissingParameter",
            "an interface endpoint needs --subnet-ids: it places one network interface in each subnet (one per AZ)",
        ));
    }
    check_zones(cx, service_name, endpoint_svc, &subnets)?;
    let mut groups = group_ids(cx, &vpc, security_groups)?;
    if groups.is_empty() {
        let v = cx
            .lab
            .vpc(&vpc)
            .ok_or_else(|| cx.err("InvalidVpcId.NotFound", vpc.to_string()))?;
        groups.push(v.default_security_group.clone());
    }
    let private_dns = private_dns.unwrap_or(endpoint_svc.is_none());
    if private_dns {
        check_private_dns(cx, &vpc, service_name, &svc, None)?;
    }
    let policy = match (policy, endpoint_svc) {
        (None, _) => None,
        (Some(_), Some(s)) => {
            return Err(cx.err(
                "InvalidParameter",
                format!("endpoint service {} does not support VPC endpoint policies (VpcEndpointPolicySupported is false): endpoints to it always allow full access; leave out --policy-document", s.id),
            ))
        }
        (Some(p), None) => Some(policy_doc(cx, p)?),
    };
    let id = new_endpoint_id(lab, &vpc, service_name);
    let mut enis = vec![];
    for s in &subnets {
        let e = eni(lab, cx, &id, s, &groups)?;
        enis.push(e.id.clone());
        lab.network_interfaces.push(e);
    }
    let (service_part, private) = match &svc {
        Service::Aws(short) => (
            short.clone(),
            private_dns.then(|| elbv2::private_dns_entry(&lab.region, short, id.as_str())),
        ),
        Service::Endpoint(s) => (s.id.to_string(), None),
    };
    let suffix = hex_digits(&format!("dns/{id}"), 8);
    let dns = elbv2::interface_dns_entries(lab, &id, &suffix, &service_part, &subnets, private);
    let state = match endpoint_svc {
        Some(s) if s.acceptance_required => "pendingAcceptance",
        _ => "available",
    };
    lab.vpc_endpoints.push(VpcEndpoint {
        id: id.clone(),
        vpc,
        service_name: service_name.to_string(),
        kind: EndpointKind::Interface {
            subnets,
            network_interfaces: enis,
            security_groups: groups,
            private_dns_enabled: private_dns,
            dns_entries: dns,
        },
        policy,
        state: state.into(),
        tags: Tags::default(),
        origin: origin_live("VPC endpoint"),
    });
    Ok(Applied::VpcEndpoint(id.to_string()))
}

/// What `modify-vpc-endpoint` changes on an interface endpoint.
pub(super) struct Modify<'a> {
    pub add_subnets: &'a [String],
    pub remove_subnets: &'a [String],
    pub add_groups: &'a [String],
    pub remove_groups: &'a [String],
    pub private_dns: Option<bool>,
}

/// `modify-vpc-endpoint` of an interface endpoint: subnets (with their network interfaces),
/// security groups, private DNS; the `DnsEntries` follow.
pub(super) fn modify(lab: &mut Lab, cx: &Ctx, id: &VpceId, m: &Modify) -> Result<(), ChangeError> {
    let e = lab
        .vpc_endpoint(id)
        .cloned()
        .ok_or_else(|| cx.err("InvalidVpcEndpointId.NotFound", id.to_string()))?;
    let EndpointKind::Interface {
        subnets,
        network_interfaces,
        security_groups,
        private_dns_enabled,
        dns_entries,
    } = e.kind.clone()
    else {
        return Err(cx.err(
            "InvalidParameter",
            format!("{id} is a gateway endpoint: subnets, security groups and private DNS are only supported for Interface type VPC endpoints; change its route tables instead"),
        ));
    };
    let svc = service(cx, &e.service_name).or_else(|err| {
        // A connection already made stays when the provider withdraws permission.
        match cx.lab.endpoint_service_of(&e) {
            Some(s) => Ok(Service::Endpoint(s.clone())),
            None => Err(err),
        }
    })?;
    let endpoint_svc = match &svc {
        Service::Endpoint(s) => Some(s),
        Service::Aws(_) => None,
    };
    let add = subnet_ids(cx, &e.vpc, m.add_subnets)?;
    let remove = subnet_ids(cx, &e.vpc, m.remove_subnets)?;
    let mut next_subnets = subnets.clone();
    for s in &remove {
        if !next_subnets.contains(s) {
            return Err(cx.err(
                "InvalidParameter",
                format!(
                    "subnet {} is not a subnet of {id}; its subnets are: {}",
                    cx.lab.label(Kind::Subnet, s.as_str()),
                    subnets
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        next_subnets.retain(|x| x != s);
    }
    for s in &add {
        if next_subnets.contains(s) {
            return Err(cx.err(
                "InvalidParameter",
                format!("subnet {s} is already a subnet of {id}"),
            ));
        }
        next_subnets.push(s.clone());
    }
    check_zones(cx, &e.service_name, endpoint_svc, &next_subnets)?;
    let add_groups = group_ids(cx, &e.vpc, m.add_groups)?;
    let remove_groups = group_ids(cx, &e.vpc, m.remove_groups)?;
    let mut groups = security_groups.clone();
    for g in &remove_groups {
        if !groups.contains(g) {
            return Err(cx.err(
                "InvalidParameter",
                format!("security group {g} is not attached to {id}"),
            ));
        }
        groups.retain(|x| x != g);
    }
    for g in add_groups {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if groups.is_empty() {
        return Err(cx.err(
            "InvalidParameter",
            format!("{id} would have no security group: an interface endpoint keeps at least one; add another before removing the last"),
        ));
    }
    let private_dns = m.private_dns.unwrap_or(private_dns_enabled);
    if private_dns && !private_dns_enabled {
        check_private_dns(cx, &e.vpc, &e.service_name, &svc, Some(id))?;
    }
    // Network interfaces: the removed subnets' go, the added subnets' come.
    let mut enis = network_interfaces.clone();
    let owner = EniOwner::InterfaceEndpoint(id.clone());
    lab.network_interfaces
        .retain(|n| !(n.owner == owner && remove.contains(&n.subnet)));
    enis.retain(|n| lab.eni(n).is_some());
    for s in &add {
        let n = eni(lab, cx, id, s, &groups)?;
        enis.push(n.id.clone());
        lab.network_interfaces.push(n);
    }
    for n in lab
        .network_interfaces
        .iter_mut()
        .filter(|n| n.owner == owner)
    {
        n.security_groups = groups.clone();
    }
    // DNS entries: the endpoint keeps its names; zonal ones follow the subnets.
    let regional = dns_entries.first().map(|(n, _)| n.as_str()).unwrap_or("");
    let mut parts = regional
        .strip_prefix(&format!("{id}-"))
        .unwrap_or("")
        .split('.');
    let suffix = parts
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| hex_digits(&format!("dns/{id}"), 8));
    let service_part = match &svc {
        Service::Aws(short) => short.clone(),
        Service::Endpoint(s) => s.id.to_string(),
    };
    let private = match (&svc, private_dns) {
        (Service::Aws(short), true) => Some(
            dns_entries
                .iter()
                .find(|(n, _)| !n.ends_with(".vpce.amazonaws.com"))
                .cloned()
                .unwrap_or_else(|| elbv2::private_dns_entry(&lab.region, short, id.as_str())),
        ),
        _ => None,
    };
    let dns = elbv2::interface_dns_entries(lab, id, &suffix, &service_part, &next_subnets, private);
    if let Some(ep) = lab.vpc_endpoints.iter_mut().find(|x| &x.id == id) {
        ep.kind = EndpointKind::Interface {
            subnets: next_subnets,
            network_interfaces: enis,
            security_groups: groups,
            private_dns_enabled: private_dns,
            dns_entries: dns,
        };
    }
    Ok(())
}
