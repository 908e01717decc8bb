//! Live changes against the seed-2 lab: each verb, and AWS's errors.

use super::*;

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
        .apply(&route(
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
        .apply(&route(
            "0.0.0.0/0",
            TargetRef::Gateway("CloudNetaIGW".into()),
        ))
        .unwrap_err();
    assert_eq!(e.code, "RouteAlreadyExists");
    assert!(e.to_string().starts_with(
        "An error occurred (RouteAlreadyExists) when calling the CreateRoute operation"
    ));

    lab.apply(&Change::DeleteRoute {
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
        let e = lab.apply(&change).unwrap_err();
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
    let out = lab.apply(&change).unwrap();
    assert_eq!(out["Return"], json!(true));
    assert_eq!(
        lab.apply(&change).unwrap_err().code,
        "InvalidPermission.Duplicate"
    );
    let revoke = Change::Revoke {
        group: "CloudNetaSecurityGroup".into(),
        egress: false,
        rule: spec,
    };
    lab.apply(&revoke).unwrap();
    assert_eq!(
        lab.apply(&revoke).unwrap_err().code,
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
    assert_eq!(lab.apply(&no_port).unwrap_err().code, "MissingParameter");
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
    lab.apply(&create).unwrap();
    assert_eq!(
        lab.apply(&create).unwrap_err().code,
        "NetworkAclEntryAlreadyExists"
    );
    let delete = Change::DeleteNetworkAclEntry {
        acl: acl.clone(),
        rule_number: 90,
        egress: false,
    };
    lab.apply(&delete).unwrap();
    assert_eq!(
        lab.apply(&delete).unwrap_err().code,
        "InvalidNetworkAclEntry.NotFound"
    );
    let star = Change::DeleteNetworkAclEntry {
        acl,
        rule_number: ACL_DEFAULT_RULE,
        egress: false,
    };
    assert_eq!(lab.apply(&star).unwrap_err().code, "InvalidParameterValue");
}

#[test]
fn a_subnet_already_associated_is_refused() {
    let mut lab = seed2();
    let e = lab
        .apply(&Change::AssociateRouteTable {
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
