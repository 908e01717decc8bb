//! `describe`: a lab as the AWS CLI prints it (`aws ec2 describe-*`, `aws elbv2 describe-*`).
//!
//! Contract: [`describe`] returns the JSON document the AWS CLI would print for the same
//! resources, field names and nesting included (see `shared/reference/aws-vpc-semantics.md`
//! §10.1), limited to the ids in `filter` when it is not empty. Fields AWS prints that vpclab
//! has no notion of (launch times, DHCP option sets) carry fixed, plausible values.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Map, Value};

use super::shapes;
use crate::model::lookup::Kind;
use crate::model::*;

/// The resource kinds `describe` knows, named as on the command line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// As `aws ec2 describe-route-tables` prints them.
    RouteTables,
    /// As `aws ec2 describe-vpcs` prints them.
    Vpcs,
    /// As `aws ec2 describe-subnets` prints them.
    Subnets,
    /// As `aws ec2 describe-security-groups` prints them.
    SecurityGroups,
    /// As `aws ec2 describe-network-acls` prints them.
    NetworkAcls,
    /// As `aws ec2 describe-instances` prints them.
    Instances,
    /// As `aws ec2 describe-network-interfaces` prints them: instances', endpoints' and load
    /// balancer nodes'.
    NetworkInterfaces,
    /// As `aws ec2 describe-internet-gateways` prints them.
    InternetGateways,
    /// As `aws ec2 describe-vpc-endpoints` prints them.
    VpcEndpoints,
    /// As `aws ec2 describe-vpc-endpoint-services` prints them: the region's AWS services and the
    /// lab's endpoint services.
    VpcEndpointServices,
    /// As `aws elbv2 describe-load-balancers` prints them.
    LoadBalancers,
    /// As `aws elbv2 describe-target-groups` prints them.
    TargetGroups,
    /// The health checks' view of each target (a running lab only).
    TargetHealth,
    /// As `aws elbv2 describe-listeners` prints them.
    Listeners,
    /// The provider's view of the lab's endpoint services, as
    /// `aws ec2 describe-vpc-endpoint-service-configurations` prints it.
    VpcEndpointServiceConfigurations,
    /// The endpoints connected to the lab's endpoint services and their states, as
    /// `aws ec2 describe-vpc-endpoint-connections` prints them.
    VpcEndpointConnections,
    /// The endpoint services' allowed principals, as
    /// `aws ec2 describe-vpc-endpoint-service-permissions` prints them.
    VpcEndpointServicePermissions,
    /// The region's S3 and DynamoDB prefix lists, as `aws ec2 describe-prefix-lists` prints them.
    PrefixLists,
    /// As `aws ec2 describe-flow-logs` prints them.
    FlowLogs,
}

impl What {
    /// The lookup kind for filtering by id/logical id/Name (prefix lists are filtered by id,
    /// listeners by ARN, logical id or their load balancer; the endpoint service views by
    /// service).
    pub fn kind(self) -> Option<Kind> {
        Some(match self {
            What::RouteTables => Kind::RouteTable,
            What::Vpcs => Kind::Vpc,
            What::Subnets => Kind::Subnet,
            What::SecurityGroups => Kind::SecurityGroup,
            What::NetworkAcls => Kind::NetworkAcl,
            What::Instances => Kind::Instance,
            What::NetworkInterfaces => Kind::NetworkInterface,
            What::InternetGateways => Kind::InternetGateway,
            What::VpcEndpoints => Kind::VpcEndpoint,
            What::VpcEndpointServices => Kind::EndpointService,
            What::LoadBalancers => Kind::LoadBalancer,
            What::TargetGroups | What::TargetHealth => Kind::TargetGroup,
            What::VpcEndpointServiceConfigurations
            | What::VpcEndpointConnections
            | What::VpcEndpointServicePermissions => Kind::EndpointService,
            What::Listeners | What::PrefixLists | What::FlowLogs => return None,
        })
    }
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use clap::ValueEnum;
        f.write_str(
            self.to_possible_value()
                .expect("no skipped variants")
                .get_name(),
        )
    }
}

const LAUNCH_TIME: &str = "2026-01-01T00:00:00+00:00";

fn keep(filter: &[String], id: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f == id)
}

fn tags(t: &Tags) -> Value {
    serde_json::to_value(t).expect("tags serialize")
}

fn group_pairs(lab: &Lab, ids: &[SgId]) -> Value {
    Value::Array(
        ids.iter()
            .map(|g| json!({"GroupName": lab.security_group(g).map(|s| s.group_name.clone()).unwrap_or_default(), "GroupId": g}))
            .collect(),
    )
}

/// The default endpoint policy, as the API returns it.
pub use crate::model::change::default_policy;

/// One network interface as `aws ec2 describe-network-interfaces` prints it: instances'
/// (`interface`), interface endpoints' (`vpc_endpoint`, requester-managed) and load balancer
/// nodes' (`network_load_balancer`, requester-managed).
fn network_interface(lab: &Lab, e: &crate::model::NetworkInterface) -> Value {
    use crate::model::EniOwner;
    let subnet = lab.subnet(&e.subnet);
    let az = subnet
        .map(|s| s.availability_zone.clone())
        .unwrap_or_default();
    let dns = format!(
        "{}.{}",
        crate::model::ip_hostname(e.private_ip),
        lab.region().private_dns_suffix
    );
    let association = e.public_ip.map(|p| {
        json!({"IpOwnerId": "amazon", "PublicDnsName": crate::model::public_hostname(p, lab.region()), "PublicIp": p})
    });
    let (kind, requester, attachment) = match &e.owner {
        EniOwner::Instance(i) => (
            "interface",
            None,
            Some(
                json!({"AttachmentId": format!("eni-attach-{}", &e.id.as_str()[4..]), "DeleteOnTermination": true, "DeviceIndex": 0, "NetworkCardIndex": 0, "InstanceId": i, "InstanceOwnerId": lab.account_id, "Status": "attached"}),
            ),
        ),
        EniOwner::InterfaceEndpoint(_) => ("vpc_endpoint", Some("727180483921"), None),
        EniOwner::LoadBalancer(_) => ("network_load_balancer", Some("amazon-elb"), None),
    };
    let mut v = json!({
        "AvailabilityZone": az,
        "Description": e.description,
        "Groups": group_pairs(lab, &e.security_groups),
        "InterfaceType": kind,
        "MacAddress": e.mac.to_string(),
        "NetworkInterfaceId": e.id,
        "OwnerId": lab.account_id,
        "PrivateDnsName": dns,
        "PrivateIpAddress": e.private_ip,
        "PrivateIpAddresses": [{"Primary": true, "PrivateDnsName": dns, "PrivateIpAddress": e.private_ip}],
        "RequesterManaged": e.requester_managed,
        "SourceDestCheck": e.source_dest_check,
        "Status": "in-use",
        "SubnetId": e.subnet,
        "VpcId": e.vpc,
    });
    if let Some(a) = association {
        v["Association"] = a.clone();
        v["PrivateIpAddresses"][0]["Association"] = a;
    }
    if let Some(r) = requester {
        v["RequesterId"] = r.into();
    }
    if let Some(a) = attachment {
        v["Attachment"] = a;
    }
    v
}

/// The ids that `names` (ids, logical ids, Name tags; prefix lists by id) give for `what`,
/// or why one of them names nothing (or several things).
pub fn resolve(lab: &Lab, what: What, names: &[String]) -> Result<Vec<String>, String> {
    if what == What::Listeners {
        let mut out = vec![];
        for n in names {
            if let Some(l) = lab
                .listeners
                .iter()
                .find(|l| l.arn == *n || l.origin.logical_id.as_deref() == Some(n))
            {
                out.push(l.arn.clone());
                continue;
            }
            let lb = lab.find(Kind::LoadBalancer, n).map_err(|_| {
                format!(
                    "no listener or load balancer is named '{n}'; listeners: {}",
                    lab.listeners
                        .iter()
                        .map(|l| l.arn.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let before = out.len();
            out.extend(
                lab.listeners
                    .iter()
                    .filter(|l| l.load_balancer == lb)
                    .map(|l| l.arn.clone()),
            );
            if out.len() == before {
                // A load balancer without listeners: nothing, not everything.
                out.push(String::from("-"));
            }
        }
        return Ok(out);
    }
    if what == What::FlowLogs {
        return names
            .iter()
            .map(|n| {
                lab.flow_logs
                    .iter()
                    .find(|f| f.id.as_str() == n || f.origin.logical_id.as_deref() == Some(n))
                    .map(|f| f.id.to_string())
                    .ok_or_else(|| {
                        format!(
                            "no flow log is named '{n}'; flow logs: {}",
                            lab.flow_logs
                                .iter()
                                .map(|f| f.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            })
            .collect();
    }
    names
        .iter()
        .map(|n| match what.kind() {
            Some(kind) => lab.find(kind, n).map_err(|e| e.to_string()),
            None if lab.region().gateway_service_by_prefix_list(n).is_some() => Ok(n.clone()),
            None => Err(format!(
                "no prefix list {n} in {}; known: {}",
                lab.region,
                lab.region()
                    .gateway_services
                    .iter()
                    .map(|s| s.prefix_list_id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        })
        .collect()
}

/// The AWS CLI's JSON for `what`, limited to the ids in `filter` (empty: all).
pub fn describe(lab: &Lab, what: What, filter: &[String]) -> Value {
    match what {
        What::RouteTables => {
            json!({"RouteTables": lab.route_tables.iter().filter(|r| keep(filter, r.id.as_str())).map(|r| route_table(lab, r)).collect::<Vec<_>>()})
        }
        What::Vpcs => {
            json!({"Vpcs": lab.vpcs.iter().filter(|v| keep(filter, v.id.as_str())).map(|v| vpc(lab, v)).collect::<Vec<_>>()})
        }
        What::Subnets => {
            json!({"Subnets": lab.subnets.iter().filter(|s| keep(filter, s.id.as_str())).map(|s| subnet(lab, s)).collect::<Vec<_>>()})
        }
        What::SecurityGroups => {
            json!({"SecurityGroups": lab.security_groups.iter().filter(|g| keep(filter, g.id.as_str())).map(|g| security_group(lab, g)).collect::<Vec<_>>()})
        }
        What::NetworkAcls => {
            json!({"NetworkAcls": lab.network_acls.iter().filter(|a| keep(filter, a.id.as_str())).map(|a| network_acl(lab, a)).collect::<Vec<_>>()})
        }
        What::Instances => {
            json!({"Reservations": lab.instances.iter().filter(|i| keep(filter, i.id.as_str())).map(|i| reservation(lab, i)).collect::<Vec<_>>()})
        }
        What::NetworkInterfaces => {
            json!({"NetworkInterfaces": lab.network_interfaces.iter().filter(|e| keep(filter, e.id.as_str())).map(|e| network_interface(lab, e)).collect::<Vec<_>>()})
        }
        What::InternetGateways => {
            json!({"InternetGateways": lab.internet_gateways.iter().filter(|g| keep(filter, g.id.as_str())).map(|g| json!({
            "Attachments": g.attachment.iter().map(|v| json!({"State": "available", "VpcId": v})).collect::<Vec<_>>(),
            "InternetGatewayId": g.id,
            "OwnerId": lab.account_id,
            "Tags": tags(&g.tags),
        })).collect::<Vec<_>>()})
        }
        What::VpcEndpoints => {
            json!({"VpcEndpoints": lab.vpc_endpoints.iter().filter(|e| keep(filter, e.id.as_str())).map(|e| vpc_endpoint(lab, e)).collect::<Vec<_>>()})
        }
        What::VpcEndpointServices => endpoint_services(lab, filter),
        What::LoadBalancers => {
            json!({"LoadBalancers": lab.load_balancers.iter().filter(|l| keep(filter, &l.arn)).map(|l| shapes::load_balancer_json(lab, l)).collect::<Vec<_>>()})
        }
        What::TargetGroups => {
            json!({"TargetGroups": lab.target_groups.iter().filter(|t| keep(filter, &t.arn)).map(|t| shapes::target_group_json(lab, t)).collect::<Vec<_>>()})
        }
        // Health is the running daemon's (`Request::TargetHealth`); a model has none yet.
        What::TargetHealth => json!({"TargetHealthDescriptions": []}),
        What::Listeners => {
            json!({"Listeners": lab.listeners.iter().filter(|l| keep(filter, &l.arn)).map(shapes::listener_json).collect::<Vec<_>>()})
        }
        What::VpcEndpointServiceConfigurations => {
            json!({"ServiceConfigurations": lab.endpoint_services.iter().filter(|s| keep(filter, s.id.as_str())).map(|s| shapes::service_configuration_json(lab, s)).collect::<Vec<_>>()})
        }
        What::VpcEndpointConnections => shapes::connections_json(lab, filter),
        What::VpcEndpointServicePermissions => shapes::permissions_json(lab, filter),
        What::FlowLogs => {
            json!({"FlowLogs": lab.flow_logs.iter().filter(|f| keep(filter, f.id.as_str())).map(shapes::flow_log_json).collect::<Vec<_>>()})
        }
        What::PrefixLists => {
            let r = lab.region();
            json!({"PrefixLists": r.gateway_services.iter().filter(|s| keep(filter, s.prefix_list_id)).map(|s| json!({
                "PrefixListId": s.prefix_list_id,
                "PrefixListName": r.prefix_list_name(s.short),
                "Cidrs": s.cidrs,
            })).collect::<Vec<_>>()})
        }
    }
}

/// One route as `describe-route-tables` prints it.
pub fn route(lab: &Lab, rt: &RouteTable, r: &Route) -> Value {
    let mut m = Map::new();
    match &r.destination {
        Destination::Cidr(c) => m.insert("DestinationCidrBlock".into(), json!(c.to_string())),
        Destination::PrefixList(pl) => m.insert("DestinationPrefixListId".into(), json!(pl)),
    };
    match &r.target {
        RouteTarget::Local => m.insert("GatewayId".into(), json!("local")),
        RouteTarget::InternetGateway(g) => m.insert("GatewayId".into(), json!(g)),
        RouteTarget::GatewayEndpoint(e) => m.insert("GatewayId".into(), json!(e)),
        RouteTarget::NetworkInterface(e) => m.insert("NetworkInterfaceId".into(), json!(e)),
        RouteTarget::Instance(i) => {
            m.insert("InstanceId".into(), json!(i));
            m.insert("InstanceOwnerId".into(), json!(lab.account_id));
            m.insert(
                "NetworkInterfaceId".into(),
                json!(lab
                    .instance(i)
                    .map(|x| x.eni.to_string())
                    .unwrap_or_default()),
            )
        }
        RouteTarget::NatGateway(n) => m.insert("NatGatewayId".into(), json!(n)),
        RouteTarget::Peering(p) => m.insert("VpcPeeringConnectionId".into(), json!(p)),
    };
    m.insert(
        "Origin".into(),
        json!(match r.route_origin {
            RouteOrigin::CreateRouteTable => "CreateRouteTable",
            RouteOrigin::CreateRoute => "CreateRoute",
        }),
    );
    m.insert(
        "State".into(),
        json!(if lab.route_is_active(rt, r) {
            "active"
        } else {
            "blackhole"
        }),
    );
    Value::Object(m)
}

fn route_table(lab: &Lab, rt: &RouteTable) -> Value {
    let mut assoc: Vec<Value> = vec![];
    if rt.main {
        assoc.push(json!({
            "Main": true,
            "RouteTableAssociationId": rt.main_association,
            "RouteTableId": rt.id,
            "AssociationState": {"State": "associated"},
        }));
    }
    for a in &rt.associations {
        assoc.push(json!({
            "Main": false,
            "RouteTableAssociationId": a.id,
            "RouteTableId": rt.id,
            "SubnetId": a.subnet,
            "AssociationState": {"State": "associated"},
        }));
    }
    json!({
        "Associations": assoc,
        "PropagatingVgws": [],
        "RouteTableId": rt.id,
        "Routes": rt.routes.iter().map(|r| route(lab, rt, r)).collect::<Vec<_>>(),
        "Tags": tags(&rt.tags),
        "VpcId": rt.vpc,
        "OwnerId": lab.account_id,
    })
}

fn vpc(lab: &Lab, v: &Vpc) -> Value {
    json!({
        "CidrBlock": v.cidr.to_string(),
        "DhcpOptionsId": format!("dopt-0{}", crate::model::ids::hex_digits(&lab.region, 16)),
        "State": "available",
        "VpcId": v.id,
        "OwnerId": lab.account_id,
        "InstanceTenancy": "default",
        "CidrBlockAssociationSet": [{
            "AssociationId": format!("vpc-cidr-assoc-0{}", crate::model::ids::hex_digits(v.id.as_str(), 16)),
            "CidrBlock": v.cidr.to_string(),
            "CidrBlockState": {"State": "associated"},
        }],
        "IsDefault": false,
        "Tags": tags(&v.tags),
    })
}

fn subnet(lab: &Lab, s: &Subnet) -> Value {
    let size = 1u64 << (32 - s.cidr.prefix_len());
    let used = lab
        .network_interfaces
        .iter()
        .filter(|e| e.subnet == s.id)
        .count() as u64;
    json!({
        "AvailabilityZone": s.availability_zone,
        "AvailabilityZoneId": lab.region().az_id(&s.availability_zone),
        "AvailableIpAddressCount": size.saturating_sub(5 + used),
        "CidrBlock": s.cidr.to_string(),
        "DefaultForAz": false,
        "MapPublicIpOnLaunch": s.map_public_ip_on_launch,
        "State": "available",
        "SubnetId": s.id,
        "VpcId": s.vpc,
        "OwnerId": lab.account_id,
        "AssignIpv6AddressOnCreation": false,
        "Ipv6CidrBlockAssociationSet": [],
        "SubnetArn": format!("arn:aws:ec2:{}:{}:subnet/{}", lab.region, lab.account_id, s.id),
        "Tags": tags(&s.tags),
    })
}

/// `IpPermissions` as AWS groups them: one entry per (protocol, ports), peers merged.
fn permissions(lab: &Lab, rules: &[SgRule]) -> Value {
    type Key = (String, Option<i32>, Option<i32>);
    let mut groups: Vec<(Key, Vec<&SgRule>)> = vec![];
    for r in rules {
        let key = (r.protocol.aws_name(), r.from_port, r.to_port);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    Value::Array(
        groups
            .into_iter()
            .map(|((proto, from, to), rs)| {
                let mut m = Map::new();
                if let Some(f) = from {
                    m.insert("FromPort".into(), json!(f));
                }
                m.insert("IpProtocol".into(), json!(proto));
                let with_desc = |mut v: Map<String, Value>, r: &SgRule| {
                    if let Some(d) = &r.description {
                        v.insert("Description".into(), json!(d));
                    }
                    Value::Object(v)
                };
                m.insert(
                    "IpRanges".into(),
                    Value::Array(
                        rs.iter()
                            .filter_map(|r| match &r.peer {
                                Peer::Cidr(c) => Some(with_desc(
                                    Map::from_iter([("CidrIp".to_string(), json!(c.to_string()))]),
                                    r,
                                )),
                                _ => None,
                            })
                            .collect(),
                    ),
                );
                m.insert("Ipv6Ranges".into(), json!([]));
                m.insert(
                    "PrefixListIds".into(),
                    Value::Array(
                        rs.iter()
                            .filter_map(|r| match &r.peer {
                                Peer::PrefixList(p) => Some(with_desc(
                                    Map::from_iter([("PrefixListId".to_string(), json!(p))]),
                                    r,
                                )),
                                _ => None,
                            })
                            .collect(),
                    ),
                );
                if let Some(t) = to {
                    m.insert("ToPort".into(), json!(t));
                }
                m.insert(
                    "UserIdGroupPairs".into(),
                    Value::Array(
                        rs.iter()
                            .filter_map(|r| match &r.peer {
                                Peer::Group(g) => Some(with_desc(
                                    Map::from_iter([
                                        ("GroupId".to_string(), json!(g)),
                                        ("UserId".to_string(), json!(lab.account_id)),
                                    ]),
                                    r,
                                )),
                                _ => None,
                            })
                            .collect(),
                    ),
                );
                Value::Object(m)
            })
            .collect(),
    )
}

fn security_group(lab: &Lab, g: &SecurityGroup) -> Value {
    json!({
        "Description": g.description,
        "GroupName": g.group_name,
        "IpPermissions": permissions(lab, &g.ingress),
        "OwnerId": lab.account_id,
        "GroupId": g.id,
        "IpPermissionsEgress": permissions(lab, &g.egress),
        "Tags": tags(&g.tags),
        "VpcId": g.vpc,
    })
}

fn network_acl(lab: &Lab, a: &NetworkAcl) -> Value {
    // Every subnet of the VPC is associated with exactly one ACL: explicitly, or the default.
    let assoc: Vec<Value> = lab
        .subnets
        .iter()
        .filter(|s| lab.network_acl_for(&s.id).is_some_and(|x| x.id == a.id))
        .map(|s| {
            let id = a
                .associations
                .iter()
                .find(|x| x.subnet == s.id)
                .map(|x| x.id.clone())
                .unwrap_or_else(|| {
                    AclAssociationId::generate(&format!("{}/default", s.origin.name()))
                });
            json!({"NetworkAclAssociationId": id, "NetworkAclId": a.id, "SubnetId": s.id})
        })
        .collect();
    let entries: Vec<Value> = a
        .entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("CidrBlock".into(), json!(e.cidr.to_string()));
            m.insert("Egress".into(), json!(e.egress));
            if let Some((t, c)) = e.icmp {
                m.insert("IcmpTypeCode".into(), json!({"Code": c, "Type": t}));
            }
            if let Some((f, t)) = e.port_range {
                m.insert("PortRange".into(), json!({"From": f, "To": t}));
            }
            m.insert(
                "Protocol".into(),
                json!(e
                    .protocol
                    .number()
                    .map_or("-1".to_string(), |n| n.to_string())),
            );
            m.insert(
                "RuleAction".into(),
                json!(match e.action {
                    RuleAction::Allow => "allow",
                    RuleAction::Deny => "deny",
                }),
            );
            m.insert("RuleNumber".into(), json!(e.rule_number));
            Value::Object(m)
        })
        .collect();
    json!({
        "Associations": assoc,
        "Entries": entries,
        "IsDefault": a.is_default,
        "NetworkAclId": a.id,
        "Tags": tags(&a.tags),
        "VpcId": a.vpc,
        "OwnerId": lab.account_id,
    })
}

fn reservation(lab: &Lab, i: &Instance) -> Value {
    let eni = lab.eni(&i.eni);
    let association = i.public_ip.map(|ip| json!({"IpOwnerId": "amazon", "PublicDnsName": i.public_dns_name, "PublicIp": ip.to_string()}));
    let mut private_ip = Map::new();
    if let Some(a) = &association {
        private_ip.insert("Association".into(), a.clone());
    }
    private_ip.insert("Primary".into(), json!(true));
    private_ip.insert("PrivateDnsName".into(), json!(i.private_dns_name));
    private_ip.insert("PrivateIpAddress".into(), json!(i.private_ip.to_string()));
    let mut ni = Map::new();
    if let Some(a) = &association {
        ni.insert("Association".into(), a.clone());
    }
    ni.insert("Attachment".into(), json!({"AttachTime": LAUNCH_TIME, "AttachmentId": format!("eni-attach-0{}", crate::model::ids::hex_digits(i.eni.as_str(), 16)), "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0}));
    ni.insert("Description".into(), json!(""));
    ni.insert("Groups".into(), group_pairs(lab, &i.security_groups));
    ni.insert("Ipv6Addresses".into(), json!([]));
    ni.insert("MacAddress".into(), json!(eni.map(|e| e.mac.to_string())));
    ni.insert("NetworkInterfaceId".into(), json!(i.eni));
    ni.insert("OwnerId".into(), json!(lab.account_id));
    ni.insert("PrivateDnsName".into(), json!(i.private_dns_name));
    ni.insert("PrivateIpAddress".into(), json!(i.private_ip.to_string()));
    ni.insert(
        "PrivateIpAddresses".into(),
        json!([Value::Object(private_ip)]),
    );
    ni.insert(
        "SourceDestCheck".into(),
        json!(eni.is_none_or(|e| e.source_dest_check)),
    );
    ni.insert("Status".into(), json!("in-use"));
    ni.insert("SubnetId".into(), json!(i.subnet));
    ni.insert("VpcId".into(), json!(i.vpc));
    ni.insert("InterfaceType".into(), json!("interface"));
    let mut inst = Map::new();
    inst.insert("AmiLaunchIndex".into(), json!(0));
    inst.insert("ImageId".into(), json!(i.image_id));
    inst.insert("InstanceId".into(), json!(i.id));
    inst.insert("InstanceType".into(), json!(i.instance_type));
    if let Some(k) = &i.key_name {
        inst.insert("KeyName".into(), json!(k));
    }
    inst.insert("LaunchTime".into(), json!(LAUNCH_TIME));
    inst.insert("Monitoring".into(), json!({"State": "disabled"}));
    inst.insert(
        "Placement".into(),
        json!({"AvailabilityZone": i.availability_zone, "GroupName": "", "Tenancy": "default"}),
    );
    inst.insert("PrivateDnsName".into(), json!(i.private_dns_name));
    inst.insert("PrivateIpAddress".into(), json!(i.private_ip.to_string()));
    inst.insert("ProductCodes".into(), json!([]));
    inst.insert("PublicDnsName".into(), json!(i.public_dns_name));
    if let Some(ip) = i.public_ip {
        inst.insert("PublicIpAddress".into(), json!(ip.to_string()));
    }
    inst.insert("State".into(), json!({"Code": 0, "Name": "pending"}));
    inst.insert("StateTransitionReason".into(), json!(""));
    inst.insert("SubnetId".into(), json!(i.subnet));
    inst.insert("VpcId".into(), json!(i.vpc));
    inst.insert("Architecture".into(), json!("x86_64"));
    inst.insert("NetworkInterfaces".into(), json!([Value::Object(ni)]));
    inst.insert(
        "SecurityGroups".into(),
        group_pairs(lab, &i.security_groups),
    );
    inst.insert(
        "SourceDestCheck".into(),
        json!(eni.is_none_or(|e| e.source_dest_check)),
    );
    inst.insert("Tags".into(), tags(&i.tags));
    json!({
        "Groups": [],
        "Instances": [Value::Object(inst)],
        "OwnerId": lab.account_id,
        "ReservationId": format!("r-0{}", crate::model::ids::hex_digits(i.id.as_str(), 16)),
    })
}

fn vpc_endpoint(lab: &Lab, e: &VpcEndpoint) -> Value {
    shapes::vpc_endpoint_json(lab, e)
}

fn endpoint_services(lab: &Lab, filter: &[String]) -> Value {
    let r = lab.region();
    let mut details: BTreeMap<String, Value> = BTreeMap::new();
    let azs: Vec<&str> = r.azs.to_vec();
    if filter.is_empty() {
        // AWS's own services: gateway (S3, DynamoDB) and interface services of the region.
        let mut aws = |short: &str, kind: &str, base_dns: String, private_dns: Option<String>| {
            let name = r.prefix_list_name(short);
            let mut d = Map::new();
            d.insert("ServiceName".into(), json!(name));
            d.insert(
                "ServiceId".into(),
                json!(format!(
                    "vpce-svc-0{}",
                    crate::model::ids::hex_digits(&name, 16)
                )),
            );
            d.insert("ServiceType".into(), json!([{"ServiceType": kind}]));
            d.insert("AvailabilityZones".into(), json!(azs));
            d.insert("Owner".into(), json!("amazon"));
            d.insert("BaseEndpointDnsNames".into(), json!([base_dns]));
            if let Some(p) = private_dns {
                d.insert("PrivateDnsName".into(), json!(p));
            }
            d.insert("VpcEndpointPolicySupported".into(), json!(true));
            d.insert("AcceptanceRequired".into(), json!(false));
            d.insert("ManagesVpcEndpoints".into(), json!(false));
            details.insert(name, Value::Object(d));
        };
        for s in r.gateway_services {
            aws(
                s.short,
                "Gateway",
                format!("{}.{}.amazonaws.com", s.short, r.name),
                None,
            );
        }
        for s in r.interface_services {
            let public = format!("{}.{}.amazonaws.com", s.short, r.name);
            aws(
                s.short,
                "Interface",
                format!("{}.{}.vpce.amazonaws.com", s.short, r.name),
                Some(public),
            );
        }
    }
    for s in lab
        .endpoint_services
        .iter()
        .filter(|s| keep(filter, s.id.as_str()))
    {
        let azs: Vec<String> = s
            .network_load_balancers
            .iter()
            .filter_map(|a| lab.load_balancer(a))
            .flat_map(|l| l.nodes.iter().map(|n| n.availability_zone.clone()))
            .collect();
        details.insert(
            s.service_name.clone(),
            json!({
                "ServiceName": s.service_name,
                "ServiceId": s.id,
                "ServiceType": [{"ServiceType": "Interface"}],
                "AvailabilityZones": azs,
                "Owner": lab.account_id,
                "BaseEndpointDnsNames": [format!("{}.{}.vpce.amazonaws.com", s.id, r.name)],
                "VpcEndpointPolicySupported": false,
                "AcceptanceRequired": s.acceptance_required,
                "ManagesVpcEndpoints": false,
                "Tags": tags(&s.tags),
            }),
        );
    }
    json!({
        "ServiceNames": details.keys().cloned().collect::<Vec<_>>(),
        "ServiceDetails": details.into_values().collect::<Vec<_>>(),
    })
}
