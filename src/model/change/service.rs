//! Endpoint services (PrivateLink, provider side): `create-`, `modify-` and
//! `delete-vpc-endpoint-service-configuration(s)`, `modify-vpc-endpoint-service-permissions`,
//! `accept-` and `reject-vpc-endpoint-connections`, and the JSON the AWS CLI prints for them.
//!
//! Contract: a service publishes Network Load Balancers of the lab (each in one service at
//! most); its name is `com.amazonaws.vpce.<region>.vpce-svc-…` as a template's; acceptance is
//! required unless said otherwise (the CLI's default). Nobody may connect until a principal
//! is allowed. A service with endpoints `available` or `pendingAcceptance` is not deleted
//! (AWS lists it as `ExistingVpcEndpointConnections`). Accepting makes a connection
//! `available`, rejecting makes it `rejected`; both answer `{"Unsuccessful": [...]}`.

use serde_json::{json, Value};

use super::{origin_live, ChangeError, Ctx};
use crate::model::elbv2;
use crate::model::lookup::Kind;
use crate::model::*;

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

fn service_pos(lab: &Lab, cx: &Ctx, query: &str) -> Result<usize, ChangeError> {
    let id = cx.find(
        Kind::EndpointService,
        query,
        "InvalidVpcEndpointServiceId.NotFound",
    )?;
    lab.endpoint_services
        .iter()
        .position(|s| s.id.as_str() == id)
        .ok_or_else(|| cx.err("InvalidVpcEndpointServiceId.NotFound", id))
}

fn load_balancers(
    lab: &Lab,
    cx: &Ctx,
    queries: &[String],
    except: Option<&VpceSvcId>,
) -> Result<Vec<String>, ChangeError> {
    let mut out: Vec<String> = vec![];
    for q in queries {
        let arn = cx.find(Kind::LoadBalancer, q, "InvalidParameter")?;
        let lb = lab
            .load_balancer(&arn)
            .ok_or_else(|| cx.err("InvalidParameter", arn.clone()))?;
        if lb.lb_type != "network" {
            return Err(cx.err(
                "InvalidParameter",
                format!("{arn} is not a Network Load Balancer: an endpoint service publishes Network Load Balancers"),
            ));
        }
        if let Some(other) = lab
            .endpoint_services
            .iter()
            .find(|s| Some(&s.id) != except && s.network_load_balancers.contains(&arn))
        {
            return Err(cx.err(
                "InvalidParameter",
                format!(
                    "load balancer {} is already associated with endpoint service {}: a Network Load Balancer belongs to one endpoint service; add it to that service's endpoints or use another load balancer",
                    lb.name, other.id
                ),
            ));
        }
        if !out.contains(&arn) {
            out.push(arn);
        }
    }
    Ok(out)
}

/// `create-vpc-endpoint-service-configuration`.
pub(super) fn create(
    lab: &mut Lab,
    cx: &Ctx,
    nlbs: &[String],
    acceptance_required: Option<bool>,
) -> Result<Value, ChangeError> {
    if nlbs.is_empty() {
        return Err(cx.err(
            "InvalidParameter",
            "an endpoint service needs --network-load-balancer-arns: it puts a Network Load Balancer behind PrivateLink",
        ));
    }
    let nlbs = load_balancers(lab, cx, nlbs, None)?;
    let mut n = lab.endpoint_services.len();
    let id = loop {
        let id = VpceSvcId::generate(&format!("{}/live/service/{}/{n}", lab.region, nlbs[0]));
        if lab.endpoint_service(&id).is_none() {
            break id;
        }
        n += 1;
    };
    lab.endpoint_services.push(EndpointService {
        id: id.clone(),
        service_name: elbv2::endpoint_service_name(&lab.region, &id),
        network_load_balancers: nlbs,
        acceptance_required: acceptance_required.unwrap_or(true),
        allowed_principals: vec![],
        tags: Tags::default(),
        origin: origin_live("VPC endpoint service"),
    });
    let s = lab
        .endpoint_service(&id)
        .map(|s| service_configuration_json(lab, s));
    Ok(json!({ "ServiceConfiguration": s }))
}

/// `modify-vpc-endpoint-service-configuration`.
pub(super) fn modify(
    lab: &mut Lab,
    cx: &Ctx,
    service: &str,
    acceptance_required: Option<bool>,
    add_nlbs: &[String],
    remove_nlbs: &[String],
) -> Result<Value, ChangeError> {
    let pos = service_pos(lab, cx, service)?;
    let id = lab.endpoint_services[pos].id.clone();
    let add = load_balancers(lab, cx, add_nlbs, Some(&id))?;
    let mut remove = vec![];
    for q in remove_nlbs {
        let arn = cx.find(Kind::LoadBalancer, q, "InvalidParameter")?;
        if !lab.endpoint_services[pos]
            .network_load_balancers
            .contains(&arn)
        {
            return Err(cx.err(
                "InvalidParameter",
                format!("load balancer {arn} is not a load balancer of {id}"),
            ));
        }
        remove.push(arn);
    }
    let s = &mut lab.endpoint_services[pos];
    s.network_load_balancers.retain(|a| !remove.contains(a));
    for a in add {
        if !s.network_load_balancers.contains(&a) {
            s.network_load_balancers.push(a);
        }
    }
    if s.network_load_balancers.is_empty() {
        return Err(cx.err(
            "InvalidParameter",
            format!("{id} would have no load balancer: an endpoint service keeps at least one"),
        ));
    }
    if let Some(a) = acceptance_required {
        s.acceptance_required = a;
    }
    Ok(json!({ "Return": true }))
}

/// `delete-vpc-endpoint-service-configurations`: what cannot be deleted is listed.
pub(super) fn delete(lab: &mut Lab, ids: &[String]) -> Value {
    let mut unsuccessful = vec![];
    for q in ids {
        let Some(pos) = lab.find(Kind::EndpointService, q).ok().and_then(|id| {
            lab.endpoint_services
                .iter()
                .position(|s| s.id.as_str() == id)
        }) else {
            unsuccessful.push(json!({
                "Error": {
                    "Code": "InvalidVpcEndpointService.NotFound",
                    "Message": format!("The VpcEndpointService Id '{q}' does not exist"),
                },
                "ResourceId": q,
            }));
            continue;
        };
        let s = &lab.endpoint_services[pos];
        let connected: Vec<&str> = lab
            .vpc_endpoints
            .iter()
            .filter(|e| {
                e.service_name == s.service_name
                    && (e.state == "available" || e.state == "pendingAcceptance")
            })
            .map(|e| e.id.as_str())
            .collect();
        if !connected.is_empty() {
            unsuccessful.push(json!({
                "Error": {
                    "Code": "ExistingVpcEndpointConnections",
                    "Message": format!(
                        "Service {} has existing active VPC Endpoint connections! ({}); reject them (reject-vpc-endpoint-connections) or have them deleted first",
                        s.id,
                        connected.join(", ")
                    ),
                },
                "ResourceId": s.id,
            }));
            continue;
        }
        lab.endpoint_services.remove(pos);
    }
    json!({ "Unsuccessful": unsuccessful })
}

fn valid_principal(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let Some(rest) = p.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((account, what)) = rest.split_once(':') else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (what == "root" || what.starts_with("role/") || what.starts_with("user/"))
}

/// `modify-vpc-endpoint-service-permissions`.
pub(super) fn permissions(
    lab: &mut Lab,
    cx: &Ctx,
    service: &str,
    add: &[String],
    remove: &[String],
) -> Result<Value, ChangeError> {
    let pos = service_pos(lab, cx, service)?;
    for p in add.iter().chain(remove) {
        if !valid_principal(p) {
            return Err(cx.err(
                "InvalidPrincipal",
                format!("Invalid principal {p}: write an IAM ARN such as arn:aws:iam::{}:root (an account), …:role/NAME, …:user/NAME, or '*' (everyone)", lab.account_id),
            ));
        }
    }
    let s = &mut lab.endpoint_services[pos];
    s.allowed_principals.retain(|p| !remove.contains(p));
    let mut added = vec![];
    for p in add {
        if !s.allowed_principals.contains(p) {
            s.allowed_principals.push(p.clone());
        }
        added.push(permission_json(s, p));
    }
    if added.is_empty() {
        Ok(json!({ "ReturnValue": true }))
    } else {
        Ok(json!({ "AddedPrincipals": added, "ReturnValue": true }))
    }
}

/// `accept-vpc-endpoint-connections` (`accept` true) or `reject-vpc-endpoint-connections`.
pub(super) fn connections(
    lab: &mut Lab,
    cx: &Ctx,
    service: &str,
    endpoints: &[String],
    accept: bool,
) -> Result<Value, ChangeError> {
    let pos = service_pos(lab, cx, service)?;
    let name = lab.endpoint_services[pos].service_name.clone();
    let sid = lab.endpoint_services[pos].id.clone();
    let mut unsuccessful = vec![];
    for q in endpoints {
        let found = lab
            .find(Kind::VpcEndpoint, q)
            .ok()
            .and_then(|id| lab.vpc_endpoints.iter().position(|e| e.id.as_str() == id))
            .filter(|&i| lab.vpc_endpoints[i].service_name == name);
        let Some(i) = found else {
            unsuccessful.push(json!({
                "Error": {
                    "Code": "InvalidVpcEndpoint.NotFound",
                    "Message": format!("The VpcEndpoint Id '{q}' does not exist or is not connected to {sid}"),
                },
                "ResourceId": q,
            }));
            continue;
        };
        let e = &mut lab.vpc_endpoints[i];
        let ok_from: &[&str] = if accept {
            &["pendingAcceptance", "rejected"]
        } else {
            &["pendingAcceptance", "available"]
        };
        if !ok_from.contains(&e.state.as_str()) {
            unsuccessful.push(json!({
                "Error": {
                    "Code": "InvalidState",
                    "Message": format!("Endpoint {} is in state {}; {} works on {}", e.id, e.state, if accept { "accept" } else { "reject" }, ok_from.join(" or ")),
                },
                "ResourceId": e.id,
            }));
            continue;
        }
        e.state = if accept { "available" } else { "rejected" }.into();
    }
    Ok(json!({ "Unsuccessful": unsuccessful }))
}
