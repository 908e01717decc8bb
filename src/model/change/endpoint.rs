//! `create-vpc-endpoint`, `modify-vpc-endpoint`, `delete-vpc-endpoints`: gateway endpoints on
//! a running lab (what the AWS CLI prints for an endpoint: `control::shapes`).
//!
//! Contract: a gateway endpoint is created for S3 or DynamoDB of the lab's own region only;
//! it adds to each of its route tables the route `pl-…` (the service's prefix list) → `vpce-…`,
//! exactly as a template's `AWS::EC2::VPCEndpoint` does, and removing a route table (or the
//! endpoint) removes that route. A route table is in the endpoint's VPC and holds at most
//! one route per service. A policy document is checked by [`Policy::parse`]. Interface
//! endpoints are created and changed in [`super::interface`]; `delete-vpc-endpoints` removes
//! them too (with their network interfaces). Ids of live endpoints are deterministic: the
//! region, VPC, service and the number of endpoints the lab had.

use serde_json::{json, Value};

use super::{origin_live, Applied, ChangeError, Ctx, EndpointType, Unsuccessful};
use crate::model::catalog::{parse_service_name, GatewayService, ServiceName};
use crate::model::lookup::Kind;
use crate::model::policy::Policy;
use crate::model::*;

/// The default endpoint policy, as the API returns it.
pub fn default_policy(gateway: bool) -> Value {
    if gateway {
        json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
    } else {
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
    }
}

/// A policy document (or its JSON text), checked; the document to keep.
pub(super) fn policy_doc(cx: &Ctx, v: &Value) -> Result<Value, ChangeError> {
    let parsed = match v {
        Value::String(text) => Policy::parse_str(text),
        doc => Policy::parse(doc),
    };
    parsed.map(|p| p.document().clone()).map_err(|e| {
        cx.err(
            "InvalidPolicyDocument",
            format!("The Policy Document is not valid: {}", e.reason()),
        )
    })
}

pub(super) fn vpc_id(cx: &Ctx, query: &str) -> Result<VpcId, ChangeError> {
    let id = cx.find(Kind::Vpc, query, "InvalidVpcId.NotFound")?;
    VpcId::parse(&id).ok_or_else(|| cx.err("InvalidVpcId.Malformed", id))
}

fn route_table_ids(cx: &Ctx, queries: &[String]) -> Result<Vec<RouteTableId>, ChangeError> {
    let mut out: Vec<RouteTableId> = vec![];
    for q in queries {
        let id = cx.find(Kind::RouteTable, q, "InvalidRouteTableId.NotFound")?;
        let id =
            RouteTableId::parse(&id).ok_or_else(|| cx.err("InvalidRouteTableId.Malformed", id))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The gateway service a `--service-name` names, in the lab's region.
fn gateway_service(cx: &Ctx, name: &str) -> Result<&'static GatewayService, ChangeError> {
    let region = cx.lab.region();
    let missing = |why: String| {
        cx.err(
            "InvalidServiceName",
            format!("The Vpc Endpoint Service '{name}' does not exist: {why}"),
        )
    };
    let gateway_names = || {
        region
            .gateway_services
            .iter()
            .map(|s| region.prefix_list_name(s.short))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let not_gateway = || {
        cx.err(
            "InvalidParameter",
            format!("Endpoint type (Gateway) does not match available service types ([Interface]): {name} has no gateway endpoint; gateway endpoints exist only for S3 and DynamoDB ({})", gateway_names()),
        )
    };
    match parse_service_name(name) {
        Some(ServiceName::Aws { region: r, short }) if r != region.name => Err(missing(format!(
            "VPC endpoints are same-region only and this lab is in {}; use com.amazonaws.{}.{short}",
            region.name, region.name
        ))),
        Some(ServiceName::Aws { short, .. }) => match region.gateway_service(short) {
            Some(svc) => Ok(svc),
            None if region.interface_service(short).is_some() => Err(not_gateway()),
            None => Err(missing(format!(
                "vpclab knows no service '{short}' in {}; gateway endpoints are for {}",
                region.name,
                gateway_names()
            ))),
        },
        Some(ServiceName::EndpointService { service_id, .. })
            if cx
                .lab
                .endpoint_services
                .iter()
                .any(|s| s.id.as_str() == service_id && s.service_name == name) =>
        {
            Err(not_gateway())
        }
        _ => Err(missing(format!(
            "service names are com.amazonaws.<region>.<service>; gateway endpoints are for {}",
            gateway_names()
        ))),
    }
}

/// Adds the endpoint's route to route table `rt`.
fn attach(
    lab: &mut Lab,
    cx: &Ctx,
    vpce: &VpceId,
    vpc: &VpcId,
    pl: &PrefixListId,
    rt: &RouteTableId,
) -> Result<(), ChangeError> {
    let table = lab
        .route_tables
        .iter_mut()
        .find(|t| &t.id == rt)
        .ok_or_else(|| cx.err("InvalidRouteTableId.NotFound", rt.to_string()))?;
    if &table.vpc != vpc {
        return Err(cx.err(
            "InvalidParameter",
            format!(
                "route table {} is in {} but the endpoint is in {}: a gateway endpoint adds routes only to route tables of its own VPC; create another endpoint in that VPC",
                cx.lab.label(Kind::RouteTable, rt.as_str()),
                cx.lab.label(Kind::Vpc, table.vpc.as_str()),
                cx.lab.label(Kind::Vpc, vpc.as_str())
            ),
        ));
    }
    let dest = Destination::PrefixList(pl.clone());
    if let Some(r) = table.routes.iter().find(|r| r.destination == dest) {
        let through = match &r.target {
            RouteTarget::GatewayEndpoint(e) => format!(" (through {e})"),
            _ => String::new(),
        };
        return Err(cx.err(
            "RouteAlreadyExists",
            format!(
                "route table {rt} already has a route with destination-prefix-list-id {pl}{through}: a route table holds one route per gateway-endpoint service"
            ),
        ));
    }
    table.routes.push(Route {
        destination: dest,
        target: RouteTarget::GatewayEndpoint(vpce.clone()),
        route_origin: RouteOrigin::CreateRoute,
        origin: origin_live("VPC endpoint route"),
    });
    Ok(())
}

/// Removes the endpoint's routes from route table `rt`.
fn detach(lab: &mut Lab, vpce: &VpceId, rt: &RouteTableId) {
    let target = RouteTarget::GatewayEndpoint(vpce.clone());
    if let Some(t) = lab.route_tables.iter_mut().find(|t| &t.id == rt) {
        t.routes.retain(|r| r.target != target);
    }
}

/// The id of a new live endpoint: from the region, VPC, service and the number of endpoints
/// the lab has (the next free one).
pub(super) fn new_endpoint_id(lab: &Lab, vpc: &VpcId, service_name: &str) -> VpceId {
    let mut n = lab.vpc_endpoints.len();
    loop {
        let id = VpceId::generate(&format!("{}/live/{vpc}/{service_name}/{n}", lab.region));
        if lab.vpc_endpoint(&id).is_none() {
            return id;
        }
        n += 1;
    }
}

/// `create-vpc-endpoint`.
pub(super) fn create(
    lab: &mut Lab,
    cx: &Ctx,
    vpc: &str,
    service_name: &str,
    route_tables: &[String],
    policy: &Option<Value>,
    kind: EndpointType,
) -> Result<Applied, ChangeError> {
    if kind == EndpointType::Interface {
        if !route_tables.is_empty() {
            return Err(cx.err(
                "InvalidParameter",
                "Route table IDs are only supported for Gateway type VPC Endpoint.",
            ));
        }
        return super::interface::create(lab, cx, vpc, service_name, &[], &[], None, policy);
    }
    if kind != EndpointType::Gateway {
        return Err(cx.err(
            "UnsupportedOperation",
            format!("vpclab does not emulate {kind:?} endpoints; use Gateway (S3, DynamoDB) or Interface"),
        ));
    }
    let vpc = vpc_id(cx, vpc)?;
    let svc = gateway_service(cx, service_name)?;
    let rts = route_table_ids(cx, route_tables)?;
    let policy = policy.as_ref().map(|p| policy_doc(cx, p)).transpose()?;
    let id = new_endpoint_id(lab, &vpc, service_name);
    let pl = PrefixListId::from_catalog(svc.prefix_list_id);
    for rt in &rts {
        attach(lab, cx, &id, &vpc, &pl, rt)?;
    }
    lab.vpc_endpoints.push(VpcEndpoint {
        id: id.clone(),
        vpc,
        service_name: service_name.to_string(),
        kind: EndpointKind::Gateway {
            route_tables: rts,
            prefix_list: pl,
        },
        policy,
        state: "available".into(),
        tags: Tags::default(),
        origin: origin_live("VPC endpoint"),
    });
    Ok(Applied::VpcEndpoint(id.to_string()))
}

/// `modify-vpc-endpoint`.
pub(super) fn modify(
    lab: &mut Lab,
    cx: &Ctx,
    vpce: &str,
    add: &[String],
    remove: &[String],
    policy: &Option<Value>,
    reset_policy: bool,
) -> Result<Applied, ChangeError> {
    let id = cx.find(Kind::VpcEndpoint, vpce, "InvalidVpcEndpointId.NotFound")?;
    let pos = lab
        .vpc_endpoints
        .iter()
        .position(|e| e.id.as_str() == id)
        .ok_or_else(|| cx.err("InvalidVpcEndpointId.NotFound", id.clone()))?;
    if policy.is_some() && reset_policy {
        return Err(cx.err(
            "InvalidParameterCombination",
            "give either --policy-document or --reset-policy, not both",
        ));
    }
    let policy = policy.as_ref().map(|p| policy_doc(cx, p)).transpose()?;
    let e = lab.vpc_endpoints[pos].clone();
    let (mut tables, pl) = match &e.kind {
        EndpointKind::Gateway {
            route_tables,
            prefix_list,
        } => (route_tables.clone(), prefix_list.clone()),
        EndpointKind::Interface { .. } if add.is_empty() && remove.is_empty() => {
            (vec![], PrefixListId::from_catalog(""))
        }
        EndpointKind::Interface { .. } => {
            return Err(cx.err(
                "InvalidParameter",
                "Route table IDs are only supported for Gateway type VPC Endpoint.",
            ))
        }
    };
    let add = route_table_ids(cx, add)?;
    let remove = route_table_ids(cx, remove)?;
    if let Some(both) = add.iter().find(|rt| remove.contains(rt)) {
        return Err(cx.err(
            "InvalidParameter",
            format!("route table {both} is both added and removed"),
        ));
    }
    for rt in &remove {
        if !tables.contains(rt) {
            return Err(cx.err(
                "InvalidParameter",
                format!(
                    "route table {} is not associated with {}; its route tables are: {}",
                    cx.lab.label(Kind::RouteTable, rt.as_str()),
                    e.id,
                    tables
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        detach(lab, &e.id, rt);
        tables.retain(|t| t != rt);
    }
    for rt in &add {
        attach(lab, cx, &e.id, &e.vpc, &pl, rt)?;
        tables.push(rt.clone());
    }
    let ep = &mut lab.vpc_endpoints[pos];
    if let EndpointKind::Gateway { route_tables, .. } = &mut ep.kind {
        *route_tables = tables;
    }
    if reset_policy {
        ep.policy = None;
    } else if policy.is_some() {
        ep.policy = policy;
    }
    Ok(Applied::Return)
}

/// `delete-vpc-endpoints`: what it cannot delete is listed, as the API does, not an error.
pub(super) fn delete(lab: &mut Lab, _cx: &Ctx, ids: &[String]) -> Applied {
    let mut unsuccessful = vec![];
    for q in ids {
        let found = lab
            .find(Kind::VpcEndpoint, q)
            .ok()
            .and_then(|id| lab.vpc_endpoints.iter().position(|e| e.id.as_str() == id));
        let Some(pos) = found else {
            unsuccessful.push(Unsuccessful {
                resource: q.clone(),
                code: "InvalidVpcEndpoint.NotFound".into(),
                message: format!("The VpcEndpoint Id '{q}' does not exist"),
            });
            continue;
        };
        let e = lab.vpc_endpoints.remove(pos);
        let target = RouteTarget::GatewayEndpoint(e.id.clone());
        for t in &mut lab.route_tables {
            t.routes.retain(|r| r.target != target);
        }
        let owner = EniOwner::InterfaceEndpoint(e.id.clone());
        lab.network_interfaces.retain(|n| n.owner != owner);
    }
    Applied::Unsuccessful(unsuccessful)
}
