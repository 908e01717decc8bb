//! VPC endpoints (gateway and interface), endpoint services and their permissions.
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means.

use super::*;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[
    Row {
        ty: "AWS::EC2::VPCEndpoint",
        properties: &[
            "VpcId",
            "ServiceName",
            "VpcEndpointType",
            "RouteTableIds",
            "SubnetIds",
            "SecurityGroupIds",
            "PrivateDnsEnabled",
            "PolicyDocument",
            "IpAddressType",
            "DnsOptions",
            "Tags",
        ],
        build: vpc_endpoint,
    },
    Row {
        ty: "AWS::EC2::VPCEndpointService",
        properties: &[
            "NetworkLoadBalancerArns",
            "GatewayLoadBalancerArns",
            "AcceptanceRequired",
            "ContributorInsightsEnabled",
            "PayerResponsibility",
            "Tags",
        ],
        build: endpoint_service,
    },
    Row {
        ty: "AWS::EC2::VPCEndpointServicePermissions",
        properties: &["ServiceId", "AllowedPrincipals"],
        build: service_permissions,
    },
];

/// The endpoint types vpclab emulates.
#[derive(Clone, Copy)]
enum EndpointType {
    Gateway,
    Interface,
}

fn vpc_endpoint(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let vpc = b.vpc_id(p, "VpcId")?;
    let service_name = b.req_str(p, "ServiceName")?;
    // Read here, checked once the service is known (a bad service is reported first).
    let kind = b
        .opt_str(p, "VpcEndpointType")?
        .unwrap_or_else(|| "Gateway".into());
    let region = b.ctx.region;
    let id = VpceId::generate(logical);
    let l = p.origin.line.unwrap_or(0);
    // What the service name refers to, and whether it can be reached from here.
    let (short, endpoint_service) = match parse_service_name(&service_name) {
        Some(ServiceName::Aws { region: r, short }) => {
            if r != region.name {
                b.report("EndpointServiceOtherRegion", p.at("ServiceName"), format!("service {service_name} is in {r}, but the lab's VPC is in {}", region.name), "VPC endpoints are same region only: an endpoint connects to a service in its own region", &format!("use com.amazonaws.{}.{short} (write !Sub 'com.amazonaws.${{AWS::Region}}.{short}')", region.name));
                return Err(Failed);
            }
            (short.to_string(), None)
        }
        Some(ServiceName::EndpointService {
            region: r,
            service_id,
        }) => {
            if r != region.name {
                b.report("EndpointServiceOtherRegion", p.at("ServiceName"), format!("endpoint service {service_name} is in {r}, but the lab's VPC is in {}", region.name), "VPC endpoints are same region only: an endpoint connects to a service in its own region", "create the endpoint service in the lab's region");
                return Err(Failed);
            }
            let Some(svc) = b
                .lab
                .endpoint_services
                .iter()
                .find(|s| s.id.as_str() == service_id)
            else {
                b.report("UnknownService", p.at("ServiceName"), format!("no endpoint service {service_id} exists in this lab"), "an interface endpoint to an endpoint service needs that service (AWS::EC2::VPCEndpointService)", "write ServiceName: !Sub 'com.amazonaws.vpce.${AWS::Region}.${YourEndpointService}'");
                return Err(Failed);
            };
            (String::new(), Some(svc.clone()))
        }
        None => {
            b.report("UnknownService", p.at("ServiceName"), format!("'{service_name}' is not a VPC endpoint service name"), "endpoint service names are com.amazonaws.<region>.<service> or com.amazonaws.vpce.<region>.vpce-svc-…", &format!("e.g. com.amazonaws.{}.s3", region.name));
            return Err(Failed);
        }
    };
    let policy = match p.get("PolicyDocument") {
        None => None,
        Some(n) => {
            let v = match n.as_str() {
                Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
                    Ok(v) => v,
                    Err(e) => {
                        b.report("BadPolicy", p.at("PolicyDocument"), format!("PolicyDocument is not JSON: {e}"), "an endpoint policy is an IAM policy document (JSON, or a YAML mapping in a template)", "write the policy as a mapping or valid JSON");
                        return Err(Failed);
                    }
                },
                None => n.to_json(),
            };
            if let Err(e) = crate::model::policy::Policy::parse(&v) {
                b.report("BadPolicy", p.at("PolicyDocument"), format!("PolicyDocument is not a valid endpoint policy: {}", e.reason()), "an endpoint policy is an IAM policy document: Version, and Statements each with Effect, Principal, Action and Resource (AWS answers InvalidPolicyDocument)", "fix the statement named, e.g. Statement: [{Effect: Allow, Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::my-bucket/*'}]");
                return Err(Failed);
            }
            Some(v)
        }
    };
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    let kinds = [
        ("Gateway", EndpointType::Gateway),
        ("Interface", EndpointType::Interface),
    ];
    let kind = b.pick(p, "VpcEndpointType", &kind, &kinds, |other| {
        Complaint::new(
            "Unsupported",
            format!("VpcEndpointType {other} is not emulated"),
            "vpclab emulates Gateway and Interface endpoints",
            "use Gateway (S3, DynamoDB) or Interface",
        )
    })?;
    match kind {
        EndpointType::Gateway => {
            let Some(svc) = region
                .gateway_service(&short)
                .filter(|_| endpoint_service.is_none())
            else {
                b.report("NotAGatewayService", p.at("ServiceName"), format!("{service_name} has no gateway endpoint"), "gateway endpoints exist only for S3 and DynamoDB; every other service uses an interface endpoint", "set VpcEndpointType: Interface with SubnetIds, or use the s3 or dynamodb service");
                return Err(Failed);
            };
            for k in ["SubnetIds", "SecurityGroupIds", "PrivateDnsEnabled"] {
                if p.get(k).is_some() {
                    b.report("BadEndpoint", p.at(k), format!("{k} is given for a gateway endpoint"), "gateway endpoints have no subnets, security groups or private DNS: they are route-table targets", &format!("remove {k}, or set VpcEndpointType: Interface"));
                }
            }
            let rts = b.typed_ids(p, "RouteTableIds", Kind::RouteTable, RouteTableId::parse)?;
            let pl = PrefixListId::from_catalog(svc.prefix_list_id);
            for rt in &rts {
                let table = b
                    .lab
                    .route_tables
                    .iter_mut()
                    .find(|r| &r.id == rt)
                    .expect("typed_ids found the route table in the lab");
                table.routes.push(Route {
                    destination: Destination::PrefixList(pl.clone()),
                    target: RouteTarget::GatewayEndpoint(id.clone()),
                    route_origin: RouteOrigin::CreateRoute,
                    origin: p.origin.clone(),
                });
            }
            b.lab.vpc_endpoints.push(VpcEndpoint {
                id: id.clone(),
                vpc,
                service_name,
                kind: EndpointKind::Gateway {
                    route_tables: rts,
                    prefix_list: pl,
                },
                policy,
                state: "available".into(),
                tags,
                origin: p.origin.clone(),
            });
            let mut atts = BTreeMap::new();
            atts.insert("Id".into(), Node::scalar(id.to_string(), l));
            atts.insert(
                "CreationTimestamp".into(),
                Node::scalar("2026-01-01T00:00:00.000Z", l),
            );
            atts.insert(
                "DnsEntries".into(),
                Node {
                    v: V::Seq(vec![]),
                    line: l,
                },
            );
            atts.insert(
                "NetworkInterfaceIds".into(),
                Node {
                    v: V::Seq(vec![]),
                    line: l,
                },
            );
            Ok(Built {
                ref_value: id.to_string(),
                atts,
            })
        }
        EndpointType::Interface => {
            if endpoint_service.is_none()
                && region.interface_service(&short).is_none()
                && region.gateway_service(&short).is_none()
            {
                b.report("UnknownService", p.at("ServiceName"), format!("vpclab does not know the service {service_name}"), "an interface endpoint connects to an AWS service of the region or to an endpoint service", &format!("use one of: {}", region.interface_services.iter().map(|s| s.short).collect::<Vec<_>>().join(", ")));
                return Err(Failed);
            }
            if p.get("RouteTableIds").is_some() {
                b.report(
                    "BadEndpoint",
                    p.at("RouteTableIds"),
                    "RouteTableIds is given for an interface endpoint".into(),
                    "interface endpoints add no routes: they are network interfaces in subnets",
                    "remove RouteTableIds",
                );
            }
            let subnet_strs = b.str_list(p, "SubnetIds")?;
            if subnet_strs.is_empty() {
                b.report(
                    "MissingProperty",
                    p.origin.clone(),
                    "an interface endpoint needs SubnetIds".into(),
                    "an interface endpoint places one network interface in each of its subnets",
                    "add SubnetIds: [!Ref YourSubnet]",
                );
                return Err(Failed);
            }
            let mut subnets = vec![];
            for s in subnet_strs {
                subnets.push(b.typed_id(p, "SubnetIds", Kind::Subnet, &s, SubnetId::parse)?);
            }
            let mut sgs = b.sg_ids(p, "SecurityGroupIds")?;
            if sgs.is_empty() {
                sgs.push(
                    b.lab
                        .vpc(&vpc)
                        .expect("vpc_id found the VPC in the lab")
                        .default_security_group
                        .clone(),
                );
            }
            let private_dns = b.opt_bool(p, "PrivateDnsEnabled", false)?;
            let mut enis = vec![];
            let suffix = hex_digits(&format!("dns/{logical}"), 8);
            let svc_part = match &endpoint_service {
                Some(s) => s.id.to_string(),
                None => short.clone(),
            };
            for s in &subnets {
                let sub = b
                    .lab
                    .subnet(s)
                    .expect("typed_id found the subnet in the lab")
                    .clone();
                let eni_id = EniId::generate(&format!("{logical}/{s}"));
                let ip = b.private_ip(p, s, None, &format!("endpoint/{logical}/{s}"))?;
                b.lab.network_interfaces.push(NetworkInterface {
                    id: eni_id.clone(),
                    subnet: s.clone(),
                    vpc: sub.vpc.clone(),
                    mac: Mac::generate(eni_id.as_str()),
                    private_ip: ip,
                    public_ip: None,
                    security_groups: sgs.clone(),
                    owner: EniOwner::InterfaceEndpoint(id.clone()),
                    description: format!("VPC Endpoint Interface {id}"),
                    requester_managed: true,
                    source_dest_check: true,
                });
                enis.push(eni_id);
            }
            let private = (private_dns && endpoint_service.is_none())
                .then(|| elbv2::private_dns_entry(region.name, &short, logical));
            let dns =
                elbv2::interface_dns_entries(&b.lab, &id, &suffix, &svc_part, &subnets, private);
            let state = match &endpoint_service {
                Some(s) if s.acceptance_required => "pendingAcceptance",
                _ => "available",
            };
            let mut atts = BTreeMap::new();
            atts.insert("Id".into(), Node::scalar(id.to_string(), l));
            atts.insert(
                "CreationTimestamp".into(),
                Node::scalar("2026-01-01T00:00:00.000Z", l),
            );
            atts.insert(
                "DnsEntries".into(),
                Node {
                    v: V::Seq(
                        dns.iter()
                            .map(|(n, z)| Node::scalar(format!("{z}:{n}"), l))
                            .collect(),
                    ),
                    line: l,
                },
            );
            atts.insert(
                "NetworkInterfaceIds".into(),
                Node {
                    v: V::Seq(
                        enis.iter()
                            .map(|e| Node::scalar(e.to_string(), l))
                            .collect(),
                    ),
                    line: l,
                },
            );
            b.lab.vpc_endpoints.push(VpcEndpoint {
                id: id.clone(),
                vpc,
                service_name,
                kind: EndpointKind::Interface {
                    subnets,
                    network_interfaces: enis,
                    security_groups: sgs,
                    private_dns_enabled: private_dns,
                    dns_entries: dns,
                },
                policy,
                state: state.into(),
                tags,
                origin: p.origin.clone(),
            });
            Ok(Built {
                ref_value: id.to_string(),
                atts,
            })
        }
    }
}

fn endpoint_service(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    if p.get("GatewayLoadBalancerArns").is_some() {
        b.report(
            "Unsupported",
            p.at("GatewayLoadBalancerArns"),
            "Gateway Load Balancer endpoint services are not emulated".into(),
            "vpclab emulates endpoint services behind Network Load Balancers",
            "use NetworkLoadBalancerArns",
        );
        return Err(Failed);
    }
    let mut nlbs = vec![];
    for a in b.str_list(p, "NetworkLoadBalancerArns")? {
        let a = b.id_of(p, "NetworkLoadBalancerArns", Kind::LoadBalancer, &a)?;
        nlbs.push(a);
    }
    if nlbs.is_empty() {
        b.report(
            "MissingProperty",
            p.origin.clone(),
            "an endpoint service needs NetworkLoadBalancerArns".into(),
            "an endpoint service puts a Network Load Balancer behind PrivateLink",
            "add NetworkLoadBalancerArns: [!Ref YourNLB]",
        );
        return Err(Failed);
    }
    let acceptance = b.opt_bool(p, "AcceptanceRequired", true)?;
    let id = VpceSvcId::generate(logical);
    let service_name = elbv2::endpoint_service_name(b.ctx.region.name, &id);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.endpoint_services.push(EndpointService {
        id: id.clone(),
        service_name: service_name.clone(),
        network_load_balancers: nlbs,
        acceptance_required: acceptance,
        allowed_principals: vec![],
        tags,
        origin: p.origin.clone(),
    });
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert("ServiceId".into(), Node::scalar(id.to_string(), l));
    atts.insert("ServiceName".into(), Node::scalar(service_name, l));
    Ok(Built {
        ref_value: id.to_string(),
        atts,
    })
}

fn service_permissions(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let svc = b.req_id(p, "ServiceId", Kind::EndpointService)?;
    let principals = b.str_list(p, "AllowedPrincipals")?;
    let s = b
        .lab
        .endpoint_services
        .iter_mut()
        .find(|s| s.id.as_str() == svc)
        .expect("req_id found the endpoint service in the lab");
    s.allowed_principals = principals;
    Ok(Built::new(format!("{}-{logical}", b.ctx.stack_name)))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};
    use crate::model::EndpointKind;

    #[test]
    fn a_gateway_endpoint_routes_its_tables_and_an_interface_endpoint_gets_enis() {
        let lab = lab("  T:\n    Type: AWS::EC2::RouteTable\n    Properties:\n      VpcId: !Ref V\n  E:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref V\n      ServiceName: !Sub 'com.amazonaws.${AWS::Region}.s3'\n      RouteTableIds: [!Ref T]\n  F:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref V\n      ServiceName: !Sub 'com.amazonaws.${AWS::Region}.sqs'\n      VpcEndpointType: Interface\n      SubnetIds: [!Ref S]\n");
        assert!(matches!(
            lab.vpc_endpoints[0].kind,
            EndpointKind::Gateway { .. }
        ));
        let t = lab.route_tables.iter().find(|t| !t.main).unwrap();
        assert_eq!(t.routes.len(), 2, "local and the prefix list");
        let EndpointKind::Interface {
            network_interfaces, ..
        } = &lab.vpc_endpoints[1].kind
        else {
            panic!("an interface endpoint");
        };
        assert_eq!(network_interfaces.len(), 1);
    }

    #[test]
    fn an_unemulated_endpoint_type_is_reported_with_the_logical_id() {
        let p = problem("  E:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref V\n      ServiceName: !Sub 'com.amazonaws.${AWS::Region}.s3'\n      VpcEndpointType: GatewayLoadBalancer\n", "E");
        assert_eq!(p.code, "Unsupported");
        assert_eq!(
            p.message,
            "VpcEndpointType GatewayLoadBalancer is not emulated"
        );
        // The service is checked first: a bad name is the problem reported.
        let p = problem("  E:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref V\n      ServiceName: nothing\n      VpcEndpointType: GatewayLoadBalancer\n", "E");
        assert_eq!(p.code, "UnknownService");
    }
}
