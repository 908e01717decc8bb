//! Endpoint services (PrivateLink, provider side): `create-`, `modify-` and
//! `delete-vpc-endpoint-service-configuration(s)`, `modify-vpc-endpoint-service-permissions`,
//! `accept-` and `reject-vpc-endpoint-connections` (what the AWS CLI prints for them:
//! `control::shapes`).
//!
//! Contract: a service publishes Network Load Balancers of the lab (each in one service at
//! most); its name is `com.amazonaws.vpce.<region>.vpce-svc-…` as a template's; acceptance is
//! required unless said otherwise (the CLI's default). Nobody may connect until a principal
//! is allowed. A service with endpoints `available` or `pendingAcceptance` is not deleted
//! (AWS lists it as `ExistingVpcEndpointConnections`). Accepting makes a connection
//! `available`, rejecting makes it `rejected`; both answer `{"Unsuccessful": [...]}`.

use super::{origin_live, Applied, ChangeError, Ctx, Unsuccessful};
use crate::model::elbv2;
use crate::model::lookup::Kind;
use crate::model::*;

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
) -> Result<Applied, ChangeError> {
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
    Ok(Applied::ServiceConfiguration(id.to_string()))
}

/// `modify-vpc-endpoint-service-configuration`.
pub(super) fn modify(
    lab: &mut Lab,
    cx: &Ctx,
    service: &str,
    acceptance_required: Option<bool>,
    add_nlbs: &[String],
    remove_nlbs: &[String],
) -> Result<Applied, ChangeError> {
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
    Ok(Applied::Return)
}

/// `delete-vpc-endpoint-service-configurations`: what cannot be deleted is listed.
pub(super) fn delete(lab: &mut Lab, ids: &[String]) -> Applied {
    let mut unsuccessful = vec![];
    for q in ids {
        let Some(pos) = lab.find(Kind::EndpointService, q).ok().and_then(|id| {
            lab.endpoint_services
                .iter()
                .position(|s| s.id.as_str() == id)
        }) else {
            unsuccessful.push(Unsuccessful {
                resource: q.clone(),
                code: "InvalidVpcEndpointService.NotFound".into(),
                message: format!("The VpcEndpointService Id '{q}' does not exist"),
            });
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
            unsuccessful.push(Unsuccessful {
                resource: s.id.to_string(),
                code: "ExistingVpcEndpointConnections".into(),
                message: format!(
                    "Service {} has existing active VPC Endpoint connections! ({}); reject them (reject-vpc-endpoint-connections) or have them deleted first",
                    s.id,
                    connected.join(", ")
                ),
            });
            continue;
        }
        lab.endpoint_services.remove(pos);
    }
    Applied::Unsuccessful(unsuccessful)
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
) -> Result<Applied, ChangeError> {
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
    for p in add {
        if !s.allowed_principals.contains(p) {
            s.allowed_principals.push(p.clone());
        }
    }
    Ok(Applied::Permissions {
        service: s.id.to_string(),
        added: add.to_vec(),
    })
}

/// `accept-vpc-endpoint-connections` (`accept` true) or `reject-vpc-endpoint-connections`.
pub(super) fn connections(
    lab: &mut Lab,
    cx: &Ctx,
    service: &str,
    endpoints: &[String],
    accept: bool,
) -> Result<Applied, ChangeError> {
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
            unsuccessful.push(Unsuccessful {
                resource: q.clone(),
                code: "InvalidVpcEndpoint.NotFound".into(),
                message: format!(
                    "The VpcEndpoint Id '{q}' does not exist or is not connected to {sid}"
                ),
            });
            continue;
        };
        let e = &mut lab.vpc_endpoints[i];
        let ok_from: &[&str] = if accept {
            &["pendingAcceptance", "rejected"]
        } else {
            &["pendingAcceptance", "available"]
        };
        if !ok_from.contains(&e.state.as_str()) {
            unsuccessful.push(Unsuccessful {
                resource: e.id.to_string(),
                code: "InvalidState".into(),
                message: format!(
                    "Endpoint {} is in state {}; {} works on {}",
                    e.id,
                    e.state,
                    if accept { "accept" } else { "reject" },
                    ok_from.join(" or ")
                ),
            });
            continue;
        }
        e.state = if accept { "available" } else { "rejected" }.into();
    }
    Ok(Applied::Unsuccessful(unsuccessful))
}
