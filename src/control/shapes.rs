//! The JSON the AWS CLI prints for the lab's resources and for what a live change did: one
//! place for the AWS-CLI shapes, so the model returns model values
//! ([`Applied`]) and `describe` and the daemon print the same.
//!
//! Contract: pure functions of a [`Lab`] (the lab after the change, for [`applied`]); field
//! names, order of keys and constant values (`CreatedTime`, `OwnerId`) as the AWS CLI's output.

use serde_json::{json, Map, Value};

use crate::model::change::{default_policy, Applied};
use crate::model::elbv2;
use crate::model::*;

const CREATED: &str = "2026-01-01T00:00:00+00:00";

/// What a change did, as the AWS CLI prints the verb's answer, read from the lab after it.
pub fn applied(lab: &Lab, a: &Applied) -> Value {
    match a {
        Applied::Return => json!({ "Return": true }),
        Applied::Nothing => json!({}),
        Applied::RuleAdded {
            rule,
            group,
            egress,
        } => json!({ "Return": true, "SecurityGroupRules": [{
            "SecurityGroupRuleId": rule, "GroupId": group, "IsEgress": *egress,
        }]}),
        Applied::Associated(id) => {
            json!({ "AssociationId": id, "AssociationState": { "State": "associated" } })
        }
        Applied::MetadataOptions(id) => {
            let on_off = |b: bool, on: &str, off: &str| if b { on } else { off }.to_string();
            let o = lab
                .instances
                .iter()
                .find(|i| i.id.as_str() == id)
                .map(|i| i.metadata_options)
                .unwrap_or_default();
            json!({
                "InstanceId": id,
                "InstanceMetadataOptions": {
                    "State": "pending",
                    "HttpTokens": on_off(o.http_tokens_required, "required", "optional"),
                    "HttpPutResponseHopLimit": o.http_put_response_hop_limit,
                    "HttpEndpoint": on_off(o.http_endpoint_enabled, "enabled", "disabled"),
                }
            })
        }
        Applied::LoadBalancer(arn) => {
            let v = lab.load_balancer(arn).map(|l| load_balancer_json(lab, l));
            json!({ "LoadBalancers": [v] })
        }
        Applied::TargetGroup(arn) => {
            let v = lab.target_group(arn).map(|t| target_group_json(lab, t));
            json!({ "TargetGroups": [v] })
        }
        Applied::Listener(arn) => {
            let l = lab
                .listeners
                .iter()
                .find(|l| &l.arn == arn)
                .map(listener_json);
            json!({ "Listeners": [l] })
        }
        Applied::TargetGroupAttributes(arn) => attributes_json(
            lab.target_group(arn)
                .map(elbv2::target_group_attributes)
                .unwrap_or_default(),
        ),
        Applied::LoadBalancerAttributes(arn) => attributes_json(
            lab.load_balancer(arn)
                .map(elbv2::load_balancer_attributes)
                .unwrap_or_default(),
        ),
        Applied::VpcEndpoint(id) => {
            let e = lab
                .vpc_endpoints
                .iter()
                .find(|e| e.id.as_str() == id)
                .map(|e| vpc_endpoint_json(lab, e));
            json!({ "VpcEndpoint": e })
        }
        Applied::ServiceConfiguration(id) => {
            let s = lab
                .endpoint_services
                .iter()
                .find(|s| s.id.as_str() == id)
                .map(|s| service_configuration_json(lab, s));
            json!({ "ServiceConfiguration": s })
        }
        Applied::Permissions { service, added } => {
            let s = lab
                .endpoint_services
                .iter()
                .find(|s| s.id.as_str() == service);
            let added: Vec<Value> = match s {
                Some(s) => added.iter().map(|p| permission_json(s, p)).collect(),
                None => Vec::new(),
            };
            if added.is_empty() {
                json!({ "ReturnValue": true })
            } else {
                json!({ "AddedPrincipals": added, "ReturnValue": true })
            }
        }
        Applied::Unsuccessful(list) => json!({ "Unsuccessful": unsuccessful(list) }),
        Applied::FlowLogs {
            client_token,
            ids,
            unsuccessful: list,
        } => json!({
            "ClientToken": client_token,
            "FlowLogIds": ids,
            "Unsuccessful": unsuccessful(list),
        }),
    }
}

/// `Unsuccessful` items as the AWS CLI prints them.
fn unsuccessful(list: &[crate::model::change::Unsuccessful]) -> Vec<Value> {
    list.iter()
        .map(|u| {
            json!({
                "Error": { "Code": u.code, "Message": u.message },
                "ResourceId": u.resource,
            })
        })
        .collect()
}

/// One flow log as `describe-flow-logs` prints it.
pub fn flow_log_json(f: &FlowLog) -> Value {
    let mut m = Map::new();
    m.insert("CreationTime".into(), json!(CREATED));
    m.insert("DeliverLogsStatus".into(), json!("SUCCESS"));
    m.insert("FlowLogId".into(), json!(f.id));
    m.insert("FlowLogStatus".into(), json!("ACTIVE"));
    if let Some(g) = &f.log_group_name {
        m.insert("LogGroupName".into(), json!(g));
    }
    m.insert("ResourceId".into(), json!(f.resource.id()));
    m.insert("TrafficType".into(), json!(f.traffic_type.as_str()));
    m.insert("LogDestinationType".into(), json!(f.log_destination_type));
    if let Some(d) = &f.log_destination {
        m.insert("LogDestination".into(), json!(d));
    }
    if let Some(a) = &f.deliver_logs_permission_arn {
        m.insert("DeliverLogsPermissionArn".into(), json!(a));
    }
    m.insert(
        "LogFormat".into(),
        json!(f
            .log_format
            .as_deref()
            .unwrap_or(crate::model::flowlog_format::DEFAULT_FORMAT)),
    );
    m.insert(
        "MaxAggregationInterval".into(),
        json!(f.max_aggregation_interval),
    );
    if !f.tags.0.is_empty() {
        m.insert("Tags".into(), json!(f.tags));
    }
    Value::Object(m)
}

/// One load balancer as `describe-load-balancers` prints it.
pub fn load_balancer_json(lab: &Lab, l: &LoadBalancer) -> Value {
    let zones: Vec<Value> = l
        .nodes
        .iter()
        .map(|n| {
            let eni = lab.eni(&n.eni);
            let mut addr = Map::new();
            if let Some(ip) = eni.and_then(|e| e.public_ip) {
                addr.insert("IpAddress".into(), json!(ip.to_string()));
            }
            addr.insert("PrivateIPv4Address".into(), json!(n.private_ip.to_string()));
            json!({"ZoneName": n.availability_zone, "SubnetId": n.subnet, "LoadBalancerAddresses": [Value::Object(addr)]})
        })
        .collect();
    let mut v = json!({
        "LoadBalancerArn": l.arn,
        "DNSName": l.dns_name,
        "CanonicalHostedZoneId": elbv2::load_balancer_zone(&lab.region),
        "CreatedTime": CREATED,
        "LoadBalancerName": l.name,
        "Scheme": l.scheme,
        "VpcId": l.vpc,
        "State": {"Code": "active"},
        "Type": l.lb_type,
        "AvailabilityZones": zones,
        "SecurityGroups": l.security_groups,
        "IpAddressType": "ipv4",
    });
    if !l.security_groups.is_empty() {
        v["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] =
            json!(if l.enforce_sg_inbound_on_privatelink {
                "on"
            } else {
                "off"
            });
    }
    v
}

/// One target group as `describe-target-groups` prints it.
pub fn target_group_json(lab: &Lab, t: &TargetGroup) -> Value {
    let mut lbs: Vec<&str> = lab
        .listeners
        .iter()
        .filter(|l| l.target_group.as_deref() == Some(t.arn.as_str()))
        .map(|l| l.load_balancer.as_str())
        .collect();
    lbs.dedup();
    let mut v = json!({
        "TargetGroupArn": t.arn,
        "TargetGroupName": t.name,
        "Protocol": t.protocol,
        "Port": t.port,
        "VpcId": t.vpc,
        "HealthCheckProtocol": t.health_check_protocol,
        "HealthCheckPort": t.health_check_port,
        "HealthCheckEnabled": t.health_check_enabled,
        "HealthCheckIntervalSeconds": t.health_check_interval_seconds,
        "HealthCheckTimeoutSeconds": t.health_check_timeout_seconds,
        "HealthyThresholdCount": t.healthy_threshold_count,
        "UnhealthyThresholdCount": t.unhealthy_threshold_count,
        "LoadBalancerArns": lbs,
        "TargetType": t.target_type,
        "IpAddressType": "ipv4",
    });
    // AWS prints the path and the matcher only for HTTP(S) health checks.
    if t.health_check_protocol.starts_with("HTTP") {
        v["HealthCheckPath"] = json!(t.health_check_path);
        v["Matcher"] = json!({"HttpCode": t.health_check_matcher});
    }
    v
}

/// One listener as `describe-listeners` prints it.
pub fn listener_json(l: &Listener) -> Value {
    let actions: Vec<Value> = l
        .target_group
        .iter()
        .map(|tg| {
            json!({
                "Type": "forward",
                "TargetGroupArn": tg,
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": tg, "Weight": 1}],
                    "TargetGroupStickinessConfig": {"Enabled": false},
                },
            })
        })
        .collect();
    json!({
        "ListenerArn": l.arn,
        "LoadBalancerArn": l.load_balancer,
        "Port": l.port,
        "Protocol": l.protocol,
        "DefaultActions": actions,
    })
}

fn attributes_json(all: Vec<(String, String)>) -> Value {
    json!({
        "Attributes": all
            .into_iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect::<Vec<_>>()
    })
}

fn group_pairs(lab: &Lab, ids: &[SgId]) -> Value {
    Value::Array(
        ids.iter()
            .map(|g| json!({"GroupName": lab.security_group(g).map(|s| s.group_name.clone()).unwrap_or_default(), "GroupId": g}))
            .collect(),
    )
}

/// One endpoint as `describe-vpc-endpoints` and `create-vpc-endpoint` print it.
pub fn vpc_endpoint_json(lab: &Lab, e: &VpcEndpoint) -> Value {
    let gateway = matches!(e.kind, EndpointKind::Gateway { .. });
    let policy = e.policy.clone().unwrap_or_else(|| default_policy(gateway));
    let mut m = Map::new();
    m.insert("VpcEndpointId".into(), json!(e.id));
    m.insert(
        "VpcEndpointType".into(),
        json!(if gateway { "Gateway" } else { "Interface" }),
    );
    m.insert("VpcId".into(), json!(e.vpc));
    m.insert("ServiceName".into(), json!(e.service_name));
    m.insert("State".into(), json!(e.state));
    m.insert("PolicyDocument".into(), json!(policy.to_string()));
    match &e.kind {
        EndpointKind::Gateway { route_tables, .. } => {
            m.insert("RouteTableIds".into(), json!(route_tables));
            m.insert("SubnetIds".into(), json!([]));
            m.insert("Groups".into(), json!([]));
            m.insert("PrivateDnsEnabled".into(), json!(false));
            m.insert("RequesterManaged".into(), json!(false));
            m.insert("NetworkInterfaceIds".into(), json!([]));
            m.insert("DnsEntries".into(), json!([]));
        }
        EndpointKind::Interface {
            subnets,
            network_interfaces,
            security_groups,
            private_dns_enabled,
            dns_entries,
        } => {
            m.insert("RouteTableIds".into(), json!([]));
            m.insert("SubnetIds".into(), json!(subnets));
            m.insert("Groups".into(), group_pairs(lab, security_groups));
            m.insert("IpAddressType".into(), json!("ipv4"));
            m.insert("PrivateDnsEnabled".into(), json!(private_dns_enabled));
            m.insert("RequesterManaged".into(), json!(false));
            m.insert("NetworkInterfaceIds".into(), json!(network_interfaces));
            m.insert(
                "DnsEntries".into(),
                Value::Array(
                    dns_entries
                        .iter()
                        .map(|(n, z)| json!({"DnsName": n, "HostedZoneId": z}))
                        .collect(),
                ),
            );
        }
    }
    m.insert(
        "CreationTimestamp".into(),
        json!("2026-01-01T00:00:00.000Z"),
    );
    m.insert("Tags".into(), json!(e.tags));
    m.insert("OwnerId".into(), json!(lab.account_id));
    Value::Object(m)
}

/// One service as `describe-vpc-endpoint-service-configurations` prints it.
pub fn service_configuration_json(lab: &Lab, s: &EndpointService) -> Value {
    json!({
        "ServiceType": [{"ServiceType": "Interface"}],
        "ServiceId": s.id,
        "ServiceName": s.service_name,
        "ServiceState": "Available",
        "AvailabilityZones": elbv2::endpoint_service_azs(lab, s),
        "AcceptanceRequired": s.acceptance_required,
        "ManagesVpcEndpoints": false,
        "NetworkLoadBalancerArns": s.network_load_balancers,
        "SupportedIpAddressTypes": ["ipv4"],
        "BaseEndpointDnsNames": [elbv2::endpoint_service_base_dns(&lab.region, &s.id)],
        "PrivateDnsNameConfiguration": {},
        "PayerResponsibility": "ServiceOwner",
        "Tags": s.tags,
    })
}

/// The connections to the services in `filter` (all when empty), as
/// `describe-vpc-endpoint-connections` prints them.
pub fn connections_json(lab: &Lab, filter: &[String]) -> Value {
    let mut out = vec![];
    for s in lab
        .endpoint_services
        .iter()
        .filter(|s| filter.is_empty() || filter.iter().any(|f| f == s.id.as_str()))
    {
        for e in lab
            .vpc_endpoints
            .iter()
            .filter(|e| e.service_name == s.service_name)
        {
            let dns = match &e.kind {
                EndpointKind::Interface { dns_entries, .. } => dns_entries
                    .iter()
                    .map(|(n, z)| json!({"DnsName": n, "HostedZoneId": z}))
                    .collect(),
                EndpointKind::Gateway { .. } => vec![],
            };
            out.push(json!({
                "ServiceId": s.id,
                "VpcEndpointId": e.id,
                "VpcEndpointOwner": lab.account_id,
                "VpcEndpointState": e.state,
                "CreationTimestamp": "2026-01-01T00:00:00.000Z",
                "DnsEntries": dns,
                "NetworkLoadBalancerArns": s.network_load_balancers,
                "IpAddressType": "ipv4",
                "VpcEndpointConnectionId": format!("vpce-con-0{}", crate::model::ids::hex_digits(e.id.as_str(), 16)),
                "Tags": [],
            }));
        }
    }
    json!({ "VpcEndpointConnections": out })
}

fn principal_type(p: &str) -> &'static str {
    if p == "*" {
        "All"
    } else if p.ends_with(":root") {
        "Account"
    } else if p.contains(":role/") {
        "Role"
    } else {
        "User"
    }
}

fn permission_json(s: &EndpointService, p: &str) -> Value {
    json!({
        "PrincipalType": principal_type(p),
        "Principal": p,
        "ServicePermissionId": format!("vpce-spn-0{}", crate::model::ids::hex_digits(&format!("{}/{p}", s.id), 16)),
        "ServiceId": s.id,
        "Tags": [],
    })
}

/// The allowed principals of the services in `filter`, as
/// `describe-vpc-endpoint-service-permissions` prints them.
pub fn permissions_json(lab: &Lab, filter: &[String]) -> Value {
    let all: Vec<Value> = lab
        .endpoint_services
        .iter()
        .filter(|s| filter.is_empty() || filter.iter().any(|f| f == s.id.as_str()))
        .flat_map(|s| {
            s.allowed_principals
                .iter()
                .map(move |p| permission_json(s, p))
        })
        .collect();
    json!({ "AllowedPrincipals": all })
}
