//! Route tables, routes and subnet associations.
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means.

use super::*;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[
    Row {
        ty: "AWS::EC2::RouteTable",
        properties: &["VpcId", "Tags"],
        build: route_table,
    },
    Row {
        ty: "AWS::EC2::Route",
        properties: &[
            "RouteTableId",
            "DestinationCidrBlock",
            "DestinationPrefixListId",
            "DestinationIpv6CidrBlock",
            "GatewayId",
            "NatGatewayId",
            "InstanceId",
            "NetworkInterfaceId",
            "VpcPeeringConnectionId",
            "VpcEndpointId",
            "TransitGatewayId",
            "EgressOnlyInternetGatewayId",
            "CarrierGatewayId",
            "LocalGatewayId",
            "CoreNetworkArn",
        ],
        build: route,
    },
    Row {
        ty: "AWS::EC2::SubnetRouteTableAssociation",
        properties: &["SubnetId", "RouteTableId"],
        build: rt_association,
    },
];

fn route_table(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let vpc = b.vpc_id(p, "VpcId")?;
    let cidr = b
        .lab
        .vpc(&vpc)
        .expect("vpc_id found the VPC in the lab")
        .cidr;
    let id = RouteTableId::generate(logical);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    let implicit = Origin {
        logical_id: None,
        resource_type: None,
        line: p.origin.line,
    };
    b.lab.route_tables.push(RouteTable {
        id: id.clone(),
        vpc,
        main: false,
        main_association: None,
        routes: vec![local_route(cidr, &implicit)],
        associations: vec![],
        tags,
        origin: p.origin.clone(),
    });
    Ok(Built::new(id.to_string()).att("RouteTableId", id.to_string(), p.origin.line))
}

fn route(b: &mut Builder<'_>, p: &Props, _logical: &str) -> R<Built> {
    let rt = b.rt_id(p, "RouteTableId")?;
    if p.get("DestinationIpv6CidrBlock").is_some() {
        b.report(
            "Unsupported",
            p.at("DestinationIpv6CidrBlock"),
            "IPv6 routes are not emulated".into(),
            "vpclab emulates IPv4 VPC networking",
            "remove the IPv6 route",
        );
        return Err(Failed);
    }
    let cidr = b.opt_str(p, "DestinationCidrBlock")?;
    let pl = b.opt_str(p, "DestinationPrefixListId")?;
    let destination = match (cidr, pl) {
        (Some(c), None) => {
            Destination::Cidr(b.cidr(p.at("DestinationCidrBlock"), "DestinationCidrBlock", &c)?)
        }
        (None, Some(pl)) => {
            let region = b.ctx.region;
            if region.gateway_service_by_prefix_list(&pl).is_none() {
                b.report("UnknownPrefixList", p.at("DestinationPrefixListId"), format!("prefix list {pl} is not an AWS-managed prefix list of {}", region.name), "vpclab knows the AWS-managed prefix lists of S3 and DynamoDB; customer-managed prefix lists are not emulated", &format!("use {} (describe prefix-lists shows them)", region.gateway_services.iter().map(|s| format!("{} for {}", s.prefix_list_id, s.short)).collect::<Vec<_>>().join(" or ")));
                return Err(Failed);
            }
            Destination::PrefixList(PrefixListId::from_catalog(&pl))
        }
        (None, None) => {
            b.report("MissingProperty", p.origin.clone(), "a route needs a destination".into(), "AWS::EC2::Route takes exactly one of DestinationCidrBlock, DestinationPrefixListId, DestinationIpv6CidrBlock", "add DestinationCidrBlock, e.g. 0.0.0.0/0");
            return Err(Failed);
        }
        (Some(_), Some(_)) => {
            b.report(
                "BadRoute",
                p.origin.clone(),
                "a route has both DestinationCidrBlock and DestinationPrefixListId".into(),
                "a route has exactly one destination",
                "split it into two routes",
            );
            return Err(Failed);
        }
    };
    const TARGETS: &[&str] = &[
        "GatewayId",
        "NatGatewayId",
        "InstanceId",
        "NetworkInterfaceId",
        "VpcPeeringConnectionId",
        "VpcEndpointId",
        "TransitGatewayId",
        "EgressOnlyInternetGatewayId",
        "CarrierGatewayId",
        "LocalGatewayId",
        "CoreNetworkArn",
    ];
    let given: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|k| p.get(k).is_some())
        .collect();
    let [key] = given.as_slice() else {
        b.report("BadRoute", p.origin.clone(), if given.is_empty() { "a route needs a target".to_string() } else { format!("a route has several targets: {}", given.join(", ")) }, "a route has exactly one target (GatewayId, NatGatewayId, InstanceId, NetworkInterfaceId, VpcPeeringConnectionId…)", "keep one target");
        return Err(Failed);
    };
    let v = b.req_str(p, key)?;
    let target = match *key {
        "GatewayId" if IgwId::looks_like(&v) => RouteTarget::InternetGateway(b.typed_id(
            p,
            key,
            Kind::InternetGateway,
            &v,
            IgwId::parse,
        )?),
        "GatewayId" if VpceId::looks_like(&v) || *key == "VpcEndpointId" => {
            b.report("EndpointRouteByHand", p.at(key), format!("a route to gateway endpoint {v} cannot be created by hand"), "gateway-endpoint routes are added by the endpoint itself (its RouteTableIds); a route's VpcEndpointId is for Gateway Load Balancer endpoints only", "remove this route and list the route table in the endpoint's RouteTableIds");
            return Err(Failed);
        }
        "VpcEndpointId" => {
            b.report("EndpointRouteByHand", p.at(key), format!("a route to endpoint {v} cannot be created by hand"), "gateway-endpoint routes are added by the endpoint itself (its RouteTableIds); a route's VpcEndpointId is for Gateway Load Balancer endpoints only, which vpclab does not emulate", "remove this route and list the route table in the endpoint's RouteTableIds");
            return Err(Failed);
        }
        "InstanceId" => {
            RouteTarget::Instance(b.typed_id(p, key, Kind::Instance, &v, InstanceId::parse)?)
        }
        "NetworkInterfaceId" => RouteTarget::NetworkInterface(b.typed_id(
            p,
            key,
            Kind::NetworkInterface,
            &v,
            EniId::parse,
        )?),
        other => {
            // NAT gateways and peerings are not emulated: a well-formed id is recorded (a
            // blackhole); anything else is refused.
            let recorded = match other {
                "NatGatewayId" => NatGatewayId::parse(&v).map(RouteTarget::NatGateway),
                "VpcPeeringConnectionId" => PeeringId::parse(&v).map(RouteTarget::Peering),
                _ => None,
            };
            let Some(target) = recorded else {
                b.report("UnsupportedRouteTarget", p.at(other), format!("{other} '{v}' is not a target vpclab can route to"), "vpclab routes to internet gateways, instances and network interfaces (and records nat-…/pcx-… targets as blackholes)", "target an internet gateway, an instance or a network interface of the VPC");
                return Err(Failed);
            };
            target
        }
    };
    let table = b
        .lab
        .route_tables
        .iter_mut()
        .find(|r| r.id == rt)
        .expect("rt_id found the route table in the lab");
    table.routes.push(Route {
        destination: destination.clone(),
        target,
        route_origin: RouteOrigin::CreateRoute,
        origin: p.origin.clone(),
    });
    let dest = match destination {
        Destination::Cidr(c) => c.to_string(),
        Destination::PrefixList(pl) => pl.to_string(),
    };
    Ok(Built::new(format!("{rt}|{dest}")))
}

fn rt_association(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let subnet = b.subnet_id(p, "SubnetId")?;
    let rt = b.rt_id(p, "RouteTableId")?;
    let id = RouteTableAssociationId::generate(logical);
    let table = b
        .lab
        .route_tables
        .iter_mut()
        .find(|r| r.id == rt)
        .expect("rt_id found the route table in the lab");
    table.associations.push(RouteTableAssociation {
        id: id.clone(),
        subnet,
        origin: p.origin.clone(),
    });
    Ok(Built::new(id.to_string()).att("Id", id.to_string(), p.origin.line))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};
    use crate::model::RouteTarget;

    const IGW: &str = "  G:\n    Type: AWS::EC2::InternetGateway\n  A:\n    Type: AWS::EC2::VPCGatewayAttachment\n    Properties:\n      VpcId: !Ref V\n      InternetGatewayId: !Ref G\n  T:\n    Type: AWS::EC2::RouteTable\n    Properties:\n      VpcId: !Ref V\n";

    #[test]
    fn a_route_table_gets_its_local_route_a_default_route_and_a_subnet() {
        let lab = lab(&format!("{IGW}  R:\n    Type: AWS::EC2::Route\n    DependsOn: A\n    Properties:\n      RouteTableId: !Ref T\n      DestinationCidrBlock: 0.0.0.0/0\n      GatewayId: !Ref G\n  X:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n    Properties:\n      SubnetId: !Ref S\n      RouteTableId: !Ref T\n"));
        let t = lab.route_tables.iter().find(|t| !t.main).unwrap();
        assert_eq!(t.routes.len(), 2);
        assert_eq!(t.routes[0].target, RouteTarget::Local);
        assert!(matches!(
            t.routes[1].target,
            RouteTarget::InternetGateway(_)
        ));
        assert_eq!(t.associations.len(), 1);
    }

    #[test]
    fn a_route_without_a_target_or_to_an_unknown_kind_is_reported_with_the_logical_id() {
        let p = problem(&format!("{IGW}  R:\n    Type: AWS::EC2::Route\n    Properties:\n      RouteTableId: !Ref T\n      DestinationCidrBlock: 0.0.0.0/0\n"), "R");
        assert_eq!(p.code, "BadRoute");
        assert_eq!(p.message, "a route needs a target");
        let p = problem(&format!("{IGW}  R:\n    Type: AWS::EC2::Route\n    Properties:\n      RouteTableId: !Ref T\n      DestinationCidrBlock: 0.0.0.0/0\n      NatGatewayId: not-a-nat\n"), "R");
        assert_eq!(p.code, "UnsupportedRouteTarget");
        assert_eq!(
            p.message,
            "NatGatewayId 'not-a-nat' is not a target vpclab can route to"
        );
    }
}
