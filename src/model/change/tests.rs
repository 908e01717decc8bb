//! Live changes against the seed-2 lab: each verb, and AWS's errors.

use super::*;
use serde_json::json;

fn seed2() -> Lab {
    crate::template::load(
        include_str!("../../../templates/seed2-gateway-endpoint.yaml"),
        &crate::template::Options::default(),
    )
    .expect("seed-2 loads")
}

fn rt<'a>(lab: &'a Lab, logical: &str) -> &'a RouteTable {
    lab.route_tables
        .iter()
        .find(|r| r.origin.logical_id.as_deref() == Some(logical))
        .unwrap()
}

fn route(dest: &str, target: TargetRef) -> Change {
    Change::CreateRoute {
        route_table: "CloudNetaPrivateRT".into(),
        destination: dest.into(),
        target,
    }
}

#[test]
fn create_and_delete_route_with_logical_ids() {
    let mut lab = seed2();
    let before = rt(&lab, "CloudNetaPrivateRT").routes.len();
    let out = lab
        .apply_json(&route(
            "0.0.0.0/0",
            TargetRef::Gateway("CloudNetaIGW".into()),
        ))
        .unwrap();
    assert_eq!(out, json!({"Return": true}));
    let r = rt(&lab, "CloudNetaPrivateRT");
    assert_eq!(r.routes.len(), before + 1);
    assert!(matches!(
        r.routes.last().unwrap().target,
        RouteTarget::InternetGateway(_)
    ));

    let e = lab
        .apply_json(&route(
            "0.0.0.0/0",
            TargetRef::Gateway("CloudNetaIGW".into()),
        ))
        .unwrap_err();
    assert_eq!(e.code, "RouteAlreadyExists");
    assert!(e.to_string().starts_with(
        "An error occurred (RouteAlreadyExists) when calling the CreateRoute operation"
    ));

    lab.apply_json(&Change::DeleteRoute {
        route_table: "CloudNetaPrivateRT".into(),
        destination: "0.0.0.0/0".into(),
    })
    .unwrap();
    assert_eq!(rt(&lab, "CloudNetaPrivateRT").routes.len(), before);
}

#[test]
fn bad_route_changes_leave_the_lab_unchanged() {
    let mut lab = seed2();
    let before = format!("{:?}", lab.route_tables);
    let cases = [
        (
            route("0.0.0.0/0", TargetRef::Gateway("nope".into())),
            "InvalidInternetGatewayID.NotFound",
        ),
        (
            route("10.9.0.1/16", TargetRef::Gateway("CloudNetaIGW".into())),
            "InvalidParameterValue",
        ),
        (
            route("0.0.0.0/0", TargetRef::Gateway("vpce-0123".into())),
            "InvalidParameterValue",
        ),
        // Inside the VPC's CIDR (10.0.0.0/16): AWS refuses an internet gateway target.
        (
            route("10.0.1.0/24", TargetRef::Gateway("CloudNetaIGW".into())),
            "InvalidParameterValue",
        ),
        (
            route("10.0.0.128/25", TargetRef::Gateway("CloudNetaIGW".into())),
            "InvalidParameterValue",
        ),
        (
            Change::DeleteRoute {
                route_table: "CloudNetaPrivateRT".into(),
                destination: "10.0.0.0/16".into(),
            },
            "InvalidParameterValue",
        ),
        (
            Change::DeleteRoute {
                route_table: "CloudNetaPrivateRT".into(),
                destination: "1.2.3.0/24".into(),
            },
            "InvalidRoute.NotFound",
        ),
        (
            Change::DeleteRoute {
                route_table: "CloudNeta-Public-RT".into(),
                destination: "0.0.0.0/0".into(),
            },
            "InvalidRouteTableID.NotFound",
        ),
    ];
    for (change, code) in cases {
        let e = lab.apply_json(&change).unwrap_err();
        assert_eq!(e.code, code, "{change:?}: {e}");
    }
    assert_eq!(format!("{:?}", lab.route_tables), before);
}

#[test]
fn security_group_rules_are_authorized_and_revoked() {
    let mut lab = seed2();
    let spec = RuleSpec {
        protocol: "tcp".into(),
        from_port: Some(8080),
        to_port: Some(8080),
        cidr: Some("10.0.0.0/24".into()),
        group: None,
        prefix_list: None,
    };
    let change = Change::Authorize {
        group: "CloudNetaSecurityGroup".into(),
        egress: false,
        rule: spec.clone(),
    };
    let out = lab.apply_json(&change).unwrap();
    assert_eq!(out["Return"], json!(true));
    assert_eq!(
        lab.apply_json(&change).unwrap_err().code,
        "InvalidPermission.Duplicate"
    );
    let revoke = Change::Revoke {
        group: "CloudNetaSecurityGroup".into(),
        egress: false,
        rule: spec,
    };
    lab.apply_json(&revoke).unwrap();
    assert_eq!(
        lab.apply_json(&revoke).unwrap_err().code,
        "InvalidPermission.NotFound"
    );
    let no_port = Change::Authorize {
        group: "CloudNetaSecurityGroup".into(),
        egress: false,
        rule: RuleSpec {
            protocol: "tcp".into(),
            from_port: None,
            to_port: None,
            cidr: Some("0.0.0.0/0".into()),
            group: None,
            prefix_list: None,
        },
    };
    assert_eq!(
        lab.apply_json(&no_port).unwrap_err().code,
        "MissingParameter"
    );
}

#[test]
fn network_acl_entries_are_created_and_deleted() {
    let mut lab = seed2();
    let acl = lab.vpcs[0].default_network_acl.to_string();
    let create = Change::CreateNetworkAclEntry {
        acl: acl.clone(),
        rule_number: 90,
        egress: false,
        allow: false,
        protocol: "tcp".into(),
        cidr: "0.0.0.0/0".into(),
        port_range: Some((22, 22)),
        icmp: None,
    };
    lab.apply_json(&create).unwrap();
    assert_eq!(
        lab.apply_json(&create).unwrap_err().code,
        "NetworkAclEntryAlreadyExists"
    );
    let delete = Change::DeleteNetworkAclEntry {
        acl: acl.clone(),
        rule_number: 90,
        egress: false,
    };
    lab.apply_json(&delete).unwrap();
    assert_eq!(
        lab.apply_json(&delete).unwrap_err().code,
        "InvalidNetworkAclEntry.NotFound"
    );
    let star = Change::DeleteNetworkAclEntry {
        acl,
        rule_number: ACL_DEFAULT_RULE,
        egress: false,
    };
    assert_eq!(
        lab.apply_json(&star).unwrap_err().code,
        "InvalidParameterValue"
    );
}

#[test]
fn a_subnet_already_associated_is_refused() {
    let mut lab = seed2();
    let e = lab
        .apply_json(&Change::AssociateRouteTable {
            route_table: "CloudNetaPublicRT".into(),
            subnet: "CloudNetaPrivateSN".into(),
        })
        .unwrap_err();
    assert_eq!(e.code, "Resource.AlreadyAssociated");
}

#[test]
fn changes_travel_as_json() {
    let c = route("0.0.0.0/0", TargetRef::Gateway("igw-1".into()));
    let text = serde_json::to_string(&c).unwrap();
    assert!(text.contains("\"verb\":\"create-route\""), "{text}");
    assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), c);
}

// ---- gateway endpoints ---------------------------------------------------------------

const S3: &str = "com.amazonaws.ap-northeast-2.s3";
const DDB: &str = "com.amazonaws.ap-northeast-2.dynamodb";

fn create(service: &str, tables: &[&str], policy: Option<Value>) -> Change {
    Change::CreateVpcEndpoint {
        vpc: "CloudNetaVPC".into(),
        service_name: service.into(),
        route_tables: tables.iter().map(|t| t.to_string()).collect(),
        policy,
        kind: EndpointType::Gateway,
    }
}

fn modify(vpce: &str, add: &[&str], remove: &[&str]) -> Change {
    Change::ModifyVpcEndpoint {
        vpce: vpce.into(),
        add_route_tables: add.iter().map(|t| t.to_string()).collect(),
        remove_route_tables: remove.iter().map(|t| t.to_string()).collect(),
        policy: None,
        reset_policy: false,
    }
}

/// The routes of a table that go to `vpce`.
fn endpoint_routes(lab: &Lab, table: &str, vpce: &str) -> Vec<String> {
    rt(lab, table)
        .routes
        .iter()
        .filter(|r| matches!(&r.target, RouteTarget::GatewayEndpoint(e) if e.as_str() == vpce))
        .map(|r| route_dest(&r.destination))
        .collect()
}

/// Seed 2 without its endpoint: the lab of the seed's "first without the endpoint" step.
fn seed2_without_endpoint() -> Lab {
    let mut lab = seed2();
    let id = lab.vpc_endpoints[0].id.to_string();
    let out = lab
        .apply_json(&Change::DeleteVpcEndpoints { ids: vec![id] })
        .unwrap();
    assert_eq!(out, json!({"Unsuccessful": []}));
    assert!(lab.vpc_endpoints.is_empty());
    for t in &lab.route_tables {
        assert!(
            !t.routes
                .iter()
                .any(|r| matches!(r.destination, Destination::PrefixList(_))),
            "{}: the endpoint's routes go with it",
            t.id
        );
    }
    lab
}

#[test]
fn create_vpc_endpoint_adds_the_prefix_list_route() {
    let mut lab = seed2_without_endpoint();
    let out = lab
        .apply_json(&create(S3, &["CloudNetaPrivateRT"], None))
        .unwrap();
    let e = &out["VpcEndpoint"];
    let id = e["VpcEndpointId"].as_str().unwrap().to_string();
    assert!(VpceId::parse(&id).is_some(), "{id}");
    assert_eq!(e["VpcEndpointType"], "Gateway");
    assert_eq!(e["ServiceName"], S3);
    assert_eq!(e["State"], "available");
    assert_eq!(e["VpcId"], json!(lab.vpcs[0].id));
    assert_eq!(
        e["RouteTableIds"],
        json!([rt(&lab, "CloudNetaPrivateRT").id])
    );
    let policy: Value = serde_json::from_str(e["PolicyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Effect"], "Allow");
    assert_eq!(
        endpoint_routes(&lab, "CloudNetaPrivateRT", &id),
        vec!["pl-78a54011".to_string()]
    );
    assert!(endpoint_routes(&lab, "CloudNetaPublicRT", &id).is_empty());
    // The route is active, as describe-route-tables shows it.
    let table = rt(&lab, "CloudNetaPrivateRT");
    let r = table.routes.last().unwrap();
    assert!(lab.route_is_active(table, r));
    assert_eq!(r.route_origin, RouteOrigin::CreateRoute);
}

#[test]
fn live_endpoint_ids_are_deterministic_and_distinct() {
    let mut a = seed2_without_endpoint();
    let mut b = seed2_without_endpoint();
    let c = create(S3, &["CloudNetaPrivateRT"], None);
    let ia = a.apply_json(&c).unwrap()["VpcEndpoint"]["VpcEndpointId"].clone();
    let ib = b.apply_json(&c).unwrap()["VpcEndpoint"]["VpcEndpointId"].clone();
    assert_eq!(ia, ib);
    let second = a
        .apply_json(&create(S3, &["CloudNetaPublicRT"], None))
        .unwrap()["VpcEndpoint"]["VpcEndpointId"]
        .clone();
    assert_ne!(
        ia, second,
        "two endpoints for one service in different tables"
    );
    assert_eq!(a.vpc_endpoints.len(), 2);
}

#[test]
fn create_vpc_endpoint_resolves_ids_and_names() {
    let mut lab = seed2_without_endpoint();
    let vpc = lab.vpcs[0].id.to_string();
    let private = rt(&lab, "CloudNetaPrivateRT").id.to_string();
    lab.apply_json(&Change::CreateVpcEndpoint {
        vpc: "CloudNeta-VPC".into(),
        service_name: DDB.into(),
        route_tables: vec![private.clone(), "CloudNetaPrivateRT".into()],
        policy: None,
        kind: EndpointType::Gateway,
    })
    .unwrap();
    let e = &lab.vpc_endpoints[0];
    assert_eq!(e.vpc.as_str(), vpc);
    let EndpointKind::Gateway {
        route_tables,
        prefix_list,
    } = &e.kind
    else {
        panic!("gateway")
    };
    assert_eq!(route_tables.len(), 1, "a table named twice counts once");
    assert_eq!(prefix_list.as_str(), "pl-01a5406a");
    // The Name tag both route tables share is ambiguous, as everywhere.
    let e = lab
        .apply_json(&create(S3, &["CloudNeta-Public-RT"], None))
        .unwrap_err();
    assert_eq!(e.code, "InvalidRouteTableId.NotFound");
    assert!(e.message.contains("ambiguous"), "{e}");
}

#[test]
fn create_vpc_endpoint_errors() {
    let mut lab = seed2();
    let before = format!("{:?}{:?}", lab.route_tables, lab.vpc_endpoints);
    let cases: Vec<(Change, &str, &str)> = vec![
        (
            create("com.amazonaws.us-east-1.s3", &[], None),
            "InvalidServiceName",
            "same-region only",
        ),
        (
            create("com.amazonaws.ap-northeast-2.nope", &[], None),
            "InvalidServiceName",
            "does not exist",
        ),
        (
            create("s3", &[], None),
            "InvalidServiceName",
            "com.amazonaws.<region>",
        ),
        (
            create("com.amazonaws.ap-northeast-2.sqs", &[], None),
            "InvalidParameter",
            "Endpoint type (Gateway) does not match available service types ([Interface])",
        ),
        (
            create(S3, &["CloudNetaPrivateRT"], None),
            "RouteAlreadyExists",
            "already has a route with destination-prefix-list-id pl-78a54011",
        ),
        (
            create(S3, &["rtb-0123456789abcdef0"], None),
            "InvalidRouteTableId.NotFound",
            "rtb-0123456789abcdef0",
        ),
        (
            Change::CreateVpcEndpoint {
                vpc: "NoSuchVpc".into(),
                service_name: S3.into(),
                route_tables: vec![],
                policy: None,
                kind: EndpointType::Gateway,
            },
            "InvalidVpcId.NotFound",
            "NoSuchVpc",
        ),
        (
            Change::CreateVpcEndpoint {
                vpc: "CloudNetaVPC".into(),
                service_name: "com.amazonaws.ap-northeast-2.sts".into(),
                route_tables: vec![],
                policy: None,
                kind: EndpointType::Interface,
            },
            "MissingParameter",
            "needs --subnet-ids",
        ),
        (
            create(
                DDB,
                &[],
                Some(
                    json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}, {"Effect": "Permit", "Principal": "*", "Action": "*", "Resource": "*"}]}),
                ),
            ),
            "InvalidPolicyDocument",
            "Statement 2: Effect must be \"Allow\" or \"Deny\"",
        ),
        (
            create(DDB, &[], Some(json!("{\"Statement\": ["))),
            "InvalidPolicyDocument",
            "not valid JSON",
        ),
    ];
    for (change, code, words) in cases {
        let e = lab.apply_json(&change).unwrap_err();
        assert_eq!(e.code, code, "{change:?}: {e}");
        assert!(e.message.contains(words), "{change:?}: {e}");
        assert_eq!(e.operation, "CreateVpcEndpoint");
    }
    assert_eq!(
        format!("{:?}{:?}", lab.route_tables, lab.vpc_endpoints),
        before
    );
}

#[test]
fn a_route_table_of_another_vpc_is_refused() {
    let text = format!(
        "{}\n  OtherVpc:\n    Type: AWS::EC2::VPC\n    Properties: {{CidrBlock: 10.9.0.0/16}}\n  OtherRT:\n    Type: AWS::EC2::RouteTable\n    Properties: {{VpcId: !Ref OtherVpc}}\n",
        include_str!("../../../templates/seed2-gateway-endpoint.yaml").trim_end()
    );
    let mut lab =
        crate::template::load(&text, &crate::template::Options::default()).expect("loads");
    let e = lab
        .apply_json(&create(DDB, &["OtherRT"], None))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameter", "{e}");
    assert!(e.message.contains("own VPC"), "{e}");
    let vpce = lab.vpc_endpoints[0].id.to_string();
    let e = lab
        .apply_json(&modify(&vpce, &["OtherRT"], &[]))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameter", "{e}");
}

#[test]
fn a_policy_is_kept_and_can_be_replaced_and_reset() {
    let mut lab = seed2_without_endpoint();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lab-bucket/*"}]});
    // As the API carries it: JSON text.
    let out = lab
        .apply_json(&create(
            S3,
            &["CloudNetaPrivateRT"],
            Some(Value::String(doc.to_string())),
        ))
        .unwrap();
    let id = out["VpcEndpoint"]["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lab.vpc_endpoints[0].policy.as_ref(), Some(&doc));
    let shown: Value =
        serde_json::from_str(out["VpcEndpoint"]["PolicyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(shown, doc);

    let deny = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}});
    let out = lab
        .apply_json(&Change::ModifyVpcEndpoint {
            vpce: id.clone(),
            add_route_tables: vec![],
            remove_route_tables: vec![],
            policy: Some(deny.clone()),
            reset_policy: false,
        })
        .unwrap();
    assert_eq!(out, json!({"Return": true}));
    assert_eq!(lab.vpc_endpoints[0].policy.as_ref(), Some(&deny));

    let bad = Change::ModifyVpcEndpoint {
        vpce: id.clone(),
        add_route_tables: vec![],
        remove_route_tables: vec![],
        policy: Some(
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "*"}]}),
        ),
        reset_policy: false,
    };
    let e = lab.apply_json(&bad).unwrap_err();
    assert_eq!(e.code, "InvalidPolicyDocument");
    assert!(e.message.contains("Statement 1: missing Action"), "{e}");

    let both = Change::ModifyVpcEndpoint {
        vpce: id.clone(),
        add_route_tables: vec![],
        remove_route_tables: vec![],
        policy: Some(deny),
        reset_policy: true,
    };
    assert_eq!(
        lab.apply_json(&both).unwrap_err().code,
        "InvalidParameterCombination"
    );

    lab.apply_json(&Change::ModifyVpcEndpoint {
        vpce: id,
        add_route_tables: vec![],
        remove_route_tables: vec![],
        policy: None,
        reset_policy: true,
    })
    .unwrap();
    assert_eq!(lab.vpc_endpoints[0].policy, None);
}

#[test]
fn modify_vpc_endpoint_adds_and_removes_route_tables() {
    let mut lab = seed2();
    let vpce = lab.vpc_endpoints[0].id.to_string();
    lab.apply_json(&modify("Endpoint", &[], &["CloudNetaPublicRT"]))
        .unwrap();
    assert!(endpoint_routes(&lab, "CloudNetaPublicRT", &vpce).is_empty());
    assert_eq!(endpoint_routes(&lab, "CloudNetaPrivateRT", &vpce).len(), 1);
    let EndpointKind::Gateway { route_tables, .. } = &lab.vpc_endpoints[0].kind else {
        panic!("gateway")
    };
    assert_eq!(
        route_tables,
        &vec![rt(&lab, "CloudNetaPrivateRT").id.clone()]
    );

    // Removing it again, or a table that was never there, is refused.
    let e = lab
        .apply_json(&modify(&vpce, &[], &["CloudNetaPublicRT"]))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameter");
    assert!(e.message.contains("not associated"), "{e}");

    // Adding a table the endpoint already routes: its route exists.
    let e = lab
        .apply_json(&modify(&vpce, &["CloudNetaPrivateRT"], &[]))
        .unwrap_err();
    assert_eq!(e.code, "RouteAlreadyExists");

    let out = lab
        .apply_json(&modify(&vpce, &["CloudNetaPublicRT"], &[]))
        .unwrap();
    assert_eq!(out, json!({"Return": true}));
    assert_eq!(
        endpoint_routes(&lab, "CloudNetaPublicRT", &vpce),
        vec!["pl-78a54011"]
    );

    // A second S3 endpoint cannot take a table the first one routes.
    let e = lab
        .apply_json(&create(S3, &["CloudNetaPublicRT"], None))
        .unwrap_err();
    assert_eq!(e.code, "RouteAlreadyExists");
    assert!(e.message.contains(&vpce), "{e}");

    let e = lab
        .apply_json(&modify(
            &vpce,
            &["CloudNetaPublicRT"],
            &["CloudNetaPublicRT"],
        ))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameter");
}

#[test]
fn modify_vpc_endpoint_errors() {
    let mut lab = seed2();
    let e = lab
        .apply_json(&modify("vpce-0123456789abcdef0", &[], &[]))
        .unwrap_err();
    assert_eq!(e.code, "InvalidVpcEndpointId.NotFound");
    assert_eq!(e.operation, "ModifyVpcEndpoint");
    let e = lab
        .apply_json(&modify("Endpoint", &["rtb-0123456789abcdef0"], &[]))
        .unwrap_err();
    assert_eq!(e.code, "InvalidRouteTableId.NotFound");
}

#[test]
fn route_tables_of_an_interface_endpoint_are_refused_and_it_can_be_deleted() {
    let mut lab = crate::template::load(
        include_str!("../../../templates/interface-endpoint.yaml"),
        &crate::template::Options::default(),
    )
    .expect("interface lab loads");
    let Some(ife) = lab
        .vpc_endpoints
        .iter()
        .find(|e| matches!(e.kind, EndpointKind::Interface { .. }))
        .map(|e| e.id.to_string())
    else {
        panic!("the interface lab has an interface endpoint")
    };
    let some_rt = lab.route_tables[0].id.to_string();
    let e = lab.apply_json(&modify(&ife, &[&some_rt], &[])).unwrap_err();
    assert_eq!(e.code, "InvalidParameter");
    assert_eq!(
        e.message,
        "Route table IDs are only supported for Gateway type VPC Endpoint."
    );
    let enis = lab
        .network_interfaces
        .iter()
        .filter(|n| n.owner == EniOwner::InterfaceEndpoint(VpceId::parse(&ife).unwrap()))
        .count();
    assert!(enis > 0);
    let before = lab.network_interfaces.len();
    let out = lab
        .apply_json(&Change::DeleteVpcEndpoints {
            ids: vec![ife.clone()],
        })
        .unwrap();
    assert_eq!(out, json!({"Unsuccessful": []}));
    assert_eq!(lab.network_interfaces.len(), before - enis);
    assert!(lab.vpc_endpoint(&VpceId::parse(&ife).unwrap()).is_none());
}

#[test]
fn delete_vpc_endpoints_lists_what_it_cannot_delete() {
    let mut lab = seed2();
    let vpce = lab.vpc_endpoints[0].id.to_string();
    let out = lab
        .apply_json(&Change::DeleteVpcEndpoints {
            ids: vec![
                "Endpoint".into(),
                "vpce-0123456789abcdef0".into(),
                vpce.clone(),
            ],
        })
        .unwrap();
    assert_eq!(
        out,
        json!({"Unsuccessful": [
            {"Error": {"Code": "InvalidVpcEndpoint.NotFound",
                       "Message": "The VpcEndpoint Id 'vpce-0123456789abcdef0' does not exist"},
             "ResourceId": "vpce-0123456789abcdef0"},
            {"Error": {"Code": "InvalidVpcEndpoint.NotFound",
                       "Message": format!("The VpcEndpoint Id '{vpce}' does not exist")},
             "ResourceId": vpce},
        ]})
    );
    assert!(lab.vpc_endpoints.is_empty());
    assert!(endpoint_routes(&lab, "CloudNetaPrivateRT", &vpce).is_empty());
    assert!(endpoint_routes(&lab, "CloudNetaPublicRT", &vpce).is_empty());
}

#[test]
fn endpoint_changes_travel_as_json() {
    for c in [
        create(S3, &["a", "b"], Some(json!({"Statement": []}))),
        modify("vpce-1", &["a"], &["b"]),
        Change::DeleteVpcEndpoints {
            ids: vec!["vpce-1".into()],
        },
    ] {
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), c);
    }
    // Only the required fields: the type defaults to Gateway.
    let c: Change =
        serde_json::from_str(r#"{"verb":"create-vpc-endpoint","vpc":"v","service_name":"s"}"#)
            .unwrap();
    assert_eq!(
        c,
        Change::CreateVpcEndpoint {
            vpc: "v".into(),
            service_name: "s".into(),
            route_tables: vec![],
            policy: None,
            kind: EndpointType::Gateway,
        }
    );
}

#[test]
fn modify_instance_metadata_options_sets_the_model_and_checks_values() {
    let mut lab = seed2();
    let out = lab
        .apply_json(&Change::ModifyInstanceMetadataOptions {
            instance: "CloudNetaPrivateEC2".into(),
            http_tokens: Some("required".into()),
            hop_limit: Some(2),
            http_endpoint: None,
        })
        .unwrap();
    assert_eq!(out["InstanceMetadataOptions"]["HttpTokens"], "required");
    assert_eq!(out["InstanceMetadataOptions"]["HttpPutResponseHopLimit"], 2);
    assert_eq!(out["InstanceMetadataOptions"]["HttpEndpoint"], "enabled");
    let o = lab.instances[1].metadata_options;
    assert!(o.http_tokens_required);
    assert_eq!(o.http_put_response_hop_limit, 2);

    let e = lab
        .apply_json(&Change::ModifyInstanceMetadataOptions {
            instance: "CloudNetaPrivateEC2".into(),
            http_tokens: Some("always".into()),
            hop_limit: None,
            http_endpoint: None,
        })
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    let e = lab
        .apply_json(&Change::ModifyInstanceMetadataOptions {
            instance: "CloudNetaPrivateEC2".into(),
            http_tokens: None,
            hop_limit: Some(65),
            http_endpoint: None,
        })
        .unwrap_err();
    assert!(e.message.contains("1 to 64"), "{e}");
    let e = lab
        .apply_json(&Change::ModifyInstanceMetadataOptions {
            instance: "i-0nope".into(),
            http_tokens: None,
            hop_limit: None,
            http_endpoint: Some("disabled".into()),
        })
        .unwrap_err();
    assert_eq!(e.code, "InvalidInstanceID.NotFound");
}

fn endpoint_service_lab(edit: impl Fn(String) -> String) -> Lab {
    let text = edit(include_str!("../../../templates/endpoint-service.yaml").to_string());
    let opts = crate::template::Options {
        parameters: vec![("KeyName".into(), "lab".into())],
        ..Default::default()
    };
    crate::template::load(&text, &opts).expect("endpoint-service lab loads")
}

#[test]
fn target_group_and_load_balancer_attributes_with_aws_defaults() {
    let lab = endpoint_service_lab(|t| t);
    let tg = &lab.target_groups[0];
    assert_eq!(tg.health_check_path, "/");
    assert_eq!(tg.health_check_timeout_seconds, 10);
    assert_eq!(tg.health_check_matcher, "200-399");
    assert!(tg.health_check_enabled);
    assert!(!tg.proxy_protocol_v2());
    assert!(tg.preserve_client_ip());
    assert_eq!(tg.deregistration_delay_seconds(), 300);
    assert_eq!(tg.tcp_idle_timeout_seconds(), 350);
    assert_eq!(tg.cross_zone(), None);
    assert!(tg.terminate_on_unhealthy());
    assert_eq!(tg.health_check_port_for(&tg.targets[0]), 80);
    let lb = &lab.load_balancers[0];
    assert!(lb.cross_zone);
    assert_eq!(
        lb.attribute("load_balancing.cross_zone.enabled"),
        Some("true")
    );
    assert!(lb.enforce_sg_inbound_on_privatelink);
    let e = &lab.vpc_endpoints[0];
    assert!(e.passes_traffic());
    let svc = lab.endpoint_service_of(e).unwrap();
    assert_eq!(
        lab.endpoint_service_by_name(&svc.service_name).unwrap().id,
        svc.id
    );

    let lab = endpoint_service_lab(|t| {
        t.replace(
            "      TargetType: instance\n",
            "      TargetType: ip\n      HealthCheckProtocol: HTTP\n      HealthCheckPath: /health\n      HealthCheckPort: '8080'\n      Matcher: {HttpCode: '200'}\n      TargetGroupAttributes:\n        - {Key: proxy_protocol_v2.enabled, Value: 'true'}\n        - {Key: tcp.idle_timeout.seconds, Value: '60'}\n        - {Key: load_balancing.cross_zone.enabled, Value: 'false'}\n",
        )
        .replace("Targets: [{Id: !Ref WEB1}, {Id: !Ref WEB2}]", "Targets: [{Id: 20.0.1.10}]")
        .replace("      Scheme: internet-facing\n", "      Scheme: internet-facing\n      EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: 'off'\n")
    });
    let tg = &lab.target_groups[0];
    assert_eq!(tg.health_check_path, "/health");
    assert_eq!(tg.health_check_timeout_seconds, 6);
    assert_eq!(tg.health_check_matcher, "200");
    assert!(tg.proxy_protocol_v2());
    assert!(!tg.preserve_client_ip());
    assert_eq!(tg.tcp_idle_timeout_seconds(), 60);
    assert_eq!(tg.cross_zone(), Some(false));
    assert_eq!(tg.health_check_port_for(&tg.targets[0]), 8080);
    assert!(!lab.load_balancers[0].enforce_sg_inbound_on_privatelink);
    let d =
        crate::control::describe::describe(&lab, crate::control::describe::What::TargetGroups, &[]);
    assert_eq!(d["TargetGroups"][0]["HealthCheckPath"], "/health");
    assert_eq!(d["TargetGroups"][0]["Matcher"]["HttpCode"], "200");
    assert_eq!(d["TargetGroups"][0]["HealthCheckTimeoutSeconds"], 6);
}

#[test]
fn a_route_inside_the_vpc_cidr_to_the_igw_is_refused_as_aws_does() {
    let mut lab = seed2();
    let e = lab
        .apply_json(&route(
            "10.0.1.0/24",
            TargetRef::Gateway("CloudNetaIGW".into()),
        ))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    assert!(
        e.message
            .contains("only supports interface and instance targets"),
        "{e}"
    );
    // Wider than the VPC's CIDR, the same target is a route like any other.
    lab.apply_json(&route(
        "10.0.0.0/8",
        TargetRef::Gateway("CloudNetaIGW".into()),
    ))
    .unwrap();
}

#[test]
fn a_refused_change_reports_every_problem_not_the_first() {
    let mut lab = seed2();
    // One route into the VPC's own range through the IGW slipped in unverified, then a second:
    // the refusal names both.
    let before = lab.clone();
    lab.apply_unchecked(
        &before,
        &route("10.0.1.0/24", TargetRef::Gateway("CloudNetaIGW".into())),
    )
    .unwrap();
    let e = lab
        .apply_json(&route(
            "10.0.0.0/25",
            TargetRef::Gateway("CloudNetaIGW".into()),
        ))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    assert!(
        e.message.contains("10.0.1.0/24") && e.message.contains("10.0.0.0/25"),
        "{e}"
    );
    assert_eq!(e.message.matches("fix:").count(), 2, "{e}");
}
