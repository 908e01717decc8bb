//! Live PrivateLink and Elastic Load Balancing changes against the endpoint-service lab: each
//! verb, and AWS's errors.

use super::*;
use serde_json::json;

const REGION: &str = "ap-northeast-2";

/// The endpoint-service lab, with two more subnets in My-VPC: one in the AZ of
/// My-Public-SN1 (a), one in an AZ where the service's NLB has no node (b).
pub(super) fn lab_with(edit: impl Fn(String) -> String) -> Lab {
    let extra = "  MySN3:\n    Type: AWS::EC2::Subnet\n    Properties:\n      VpcId: !Ref MyVPC\n      CidrBlock: 10.0.3.0/24\n      AvailabilityZone: !Select [0, !GetAZs '']\n  MySN4:\n    Type: AWS::EC2::Subnet\n    Properties:\n      VpcId: !Ref MyVPC\n      CidrBlock: 10.0.4.0/24\n      AvailabilityZone: !Select [1, !GetAZs '']\n  MySG:\n";
    let text =
        include_str!("../../../templates/endpoint-service.yaml").replacen("  MySG:\n", extra, 1);
    let opts = crate::template::Options {
        parameters: vec![("KeyName".into(), "lab".into())],
        ..Default::default()
    };
    crate::template::load(&edit(text), &opts).unwrap_or_else(|p| panic!("{p:?}"))
}

pub(super) fn lab() -> Lab {
    lab_with(|t| t)
}

fn iface(service: &str, subnets: &[&str], private_dns: Option<bool>) -> Change {
    Change::CreateInterfaceVpcEndpoint {
        vpc: "MyVPC".into(),
        service_name: service.into(),
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        security_groups: vec![],
        private_dns,
        policy: None,
    }
}

fn cfn() -> String {
    format!("com.amazonaws.{REGION}.cloudformation")
}

fn web_service(lab: &Lab) -> String {
    lab.endpoint_services[0].service_name.clone()
}

fn created(lab: &Lab, out: &Value) -> VpcEndpoint {
    let id = VpceId::parse(out["VpcEndpoint"]["VpcEndpointId"].as_str().unwrap()).unwrap();
    lab.vpc_endpoint(&id).unwrap().clone()
}

#[test]
fn interface_endpoint_to_an_aws_service_with_private_dns_by_default() {
    let mut lab = lab();
    let enis = lab.network_interfaces.len();
    let out = lab
        .apply_json(&iface(&cfn(), &["MyPublicSN1", "MyPublicSN2"], None))
        .unwrap();
    let e = created(&lab, &out);
    assert_eq!(e.state, "available");
    assert!(e.passes_traffic());
    let EndpointKind::Interface {
        network_interfaces,
        private_dns_enabled,
        dns_entries,
        security_groups,
        ..
    } = &e.kind
    else {
        panic!("interface")
    };
    assert!(private_dns_enabled);
    assert_eq!(network_interfaces.len(), 2);
    assert_eq!(lab.network_interfaces.len(), enis + 2);
    let vpc = lab.vpc(&e.vpc).unwrap();
    assert_eq!(security_groups, &vec![vpc.default_security_group.clone()]);
    for n in network_interfaces {
        let n = lab.eni(n).unwrap();
        assert!(n.requester_managed);
        assert!(lab.subnet(&n.subnet).unwrap().cidr.contains(&n.private_ip));
    }
    // Regional, two zonal, then the private name.
    assert_eq!(dns_entries.len(), 4);
    assert!(dns_entries[0].0.starts_with(&format!("{}-", e.id)));
    assert!(dns_entries[0]
        .0
        .ends_with(&format!(".cloudformation.{REGION}.vpce.amazonaws.com")));
    assert_eq!(
        dns_entries[3].0,
        format!("cloudformation.{REGION}.amazonaws.com")
    );
    assert_eq!(out["VpcEndpoint"]["VpcEndpointType"], "Interface");
    assert_eq!(out["VpcEndpoint"]["PrivateDnsEnabled"], true);
    assert_eq!(
        out["VpcEndpoint"]["DnsEntries"].as_array().unwrap().len(),
        4
    );

    // A second endpoint with private DNS for the same service conflicts.
    let err = lab
        .apply_json(&iface(&cfn(), &["MyPublicSN1"], Some(true)))
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    assert!(err.message.contains("private-dns-enabled cannot be set because there is already a conflicting DNS domain for cloudformation.ap-northeast-2.amazonaws.com in the VPC"), "{}", err.message);
    // Without private DNS it is fine.
    let out = lab
        .apply_json(&iface(&cfn(), &["MyPublicSN1"], Some(false)))
        .unwrap();
    assert_eq!(
        out["VpcEndpoint"]["DnsEntries"].as_array().unwrap().len(),
        2
    );

    // delete-vpc-endpoints takes the endpoint's interfaces with it.
    let before = lab.network_interfaces.len();
    lab.apply_json(&Change::DeleteVpcEndpoints {
        ids: vec![e.id.to_string()],
    })
    .unwrap();
    assert_eq!(lab.network_interfaces.len(), before - 2);
    assert!(lab
        .network_interfaces
        .iter()
        .all(|n| n.owner != EniOwner::InterfaceEndpoint(e.id.clone())));
}

#[test]
fn interface_endpoint_errors_are_aws_errors_and_change_nothing() {
    let mut lab = lab();
    let before = serde_json::to_value(&lab).unwrap();
    let code = |lab: &mut Lab, c: Change| lab.apply_json(&c).unwrap_err().code;
    assert_eq!(
        code(
            &mut lab,
            iface(&cfn(), &["MyPublicSN1", "MySN3"], Some(false))
        ),
        "DuplicateSubnetsInSameZone"
    );
    assert_eq!(
        code(
            &mut lab,
            iface(
                "com.amazonaws.us-east-1.cloudformation",
                &["MyPublicSN1"],
                None
            )
        ),
        "InvalidServiceName"
    );
    assert_eq!(
        code(
            &mut lab,
            iface(
                &format!("com.amazonaws.{REGION}.nosuch"),
                &["MyPublicSN1"],
                None
            )
        ),
        "InvalidServiceName"
    );
    assert_eq!(code(&mut lab, iface(&cfn(), &[], None)), "MissingParameter");
    assert_eq!(
        code(&mut lab, iface(&cfn(), &["CustomPublicSN1"], None)),
        "InvalidParameter"
    );
    assert_eq!(
        code(&mut lab, iface(&cfn(), &["NoSuchSubnet"], None)),
        "InvalidSubnetID.NotFound"
    );
    assert_eq!(serde_json::to_value(&lab).unwrap(), before);

    // Private DNS needs both VPC DNS attributes.
    let mut lab = lab_with(|t| {
        t.replacen(
            "      EnableDnsHostnames: true\n",
            "      EnableDnsHostnames: false\n",
            1,
        )
    });
    let err = lab
        .apply_json(&iface(&cfn(), &["MyPublicSN1"], None))
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    assert!(
        err.message
            .contains("enableDnsSupport and enableDnsHostnames"),
        "{}",
        err.message
    );
    lab.apply_json(&iface(&cfn(), &["MyPublicSN1"], Some(false)))
        .unwrap();
}

#[test]
fn interface_endpoint_to_an_endpoint_service() {
    let mut lab = lab();
    let name = web_service(&lab);
    // Only the service's AZs (a and c; MySN4 is in b).
    let err = lab.apply_json(&iface(&name, &["MySN4"], None)).unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    assert!(
        err.message
            .contains("does not support the availability zone"),
        "{}",
        err.message
    );
    // No private DNS name on endpoint services.
    let err = lab
        .apply_json(&iface(&name, &["MyPublicSN1"], Some(true)))
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    // Private DNS is off by default; acceptance is off in the template: available.
    let out = lab
        .apply_json(&iface(&name, &["MyPublicSN1"], None))
        .unwrap();
    let e = created(&lab, &out);
    assert_eq!(e.state, "available");
    assert_eq!(out["VpcEndpoint"]["PrivateDnsEnabled"], false);
    let svc = lab.endpoint_service_of(&e).unwrap();
    assert!(out["VpcEndpoint"]["DnsEntries"][0]["DnsName"]
        .as_str()
        .unwrap()
        .contains(&format!(".{}.{REGION}.vpce.amazonaws.com", svc.id)));

    // Acceptance required: pendingAcceptance.
    let mut lab = lab_with(|t| t.replace("      AcceptanceRequired: false\n", ""));
    let out = lab
        .apply_json(&iface(&name, &["MyPublicSN2"], None))
        .unwrap();
    let e = created(&lab, &out);
    assert_eq!(e.state, "pendingAcceptance");
    assert!(!e.passes_traffic());

    // Not an allowed principal: the service "does not exist".
    let mut lab = lab_with(|t| {
        t.replace(
            "      AllowedPrincipals: [!Sub 'arn:aws:iam::${AWS::AccountId}:root']",
            "      AllowedPrincipals: ['arn:aws:iam::111122223333:root']",
        )
        // The template's own endpoint is left out (never created), its output with it.
        .replace(
            "  ServiceEndpoint:\n    Type: AWS::EC2::VPCEndpoint\n    Condition: WithPrivateLink\n",
            "  ServiceEndpoint:\n    Type: AWS::EC2::VPCEndpoint\n    Condition: Never\n",
        )
        .replace(
            "  EndpointDnsName:\n    Condition: WithPrivateLink\n",
            "  EndpointDnsName:\n    Condition: Never\n",
        )
        .replace("Conditions:\n", "Conditions:\n  Never: !Equals [a, b]\n")
    });
    let err = lab
        .apply_json(&iface(&name, &["MyPublicSN1"], None))
        .unwrap_err();
    assert_eq!(err.code, "InvalidServiceName");
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert!(
        err.message.contains("--add-allowed-principals"),
        "{}",
        err.message
    );
}

#[test]
fn templates_get_the_same_endpoint_rules() {
    let opts = crate::template::Options {
        parameters: vec![("KeyName".into(), "lab".into())],
        ..Default::default()
    };
    let base = include_str!("../../../templates/endpoint-service.yaml");
    let codes = |text: String| -> Vec<&'static str> {
        crate::template::load(&text, &opts)
            .err()
            .map(|p| p.0.iter().map(|p| p.code).collect())
            .unwrap_or_default()
    };
    let unallowed = base.replace(
        "      AllowedPrincipals: [!Sub 'arn:aws:iam::${AWS::AccountId}:root']",
        "      AllowedPrincipals: ['arn:aws:iam::111122223333:root']",
    );
    assert_eq!(codes(unallowed), vec!["EndpointServiceNotAllowed"]);
    let private = base.replace(
        "      SubnetIds: [!Ref MyPublicSN1, !Ref MyPublicSN2]\n",
        "      SubnetIds: [!Ref MyPublicSN1, !Ref MyPublicSN2]\n      PrivateDnsEnabled: true\n",
    );
    assert_eq!(codes(private), vec!["EndpointServiceNoPrivateDns"]);
    let wrong_az = base.replace(
        "      CidrBlock: 10.0.2.0/24\n      AvailabilityZone: !Select [2, !GetAZs '']",
        "      CidrBlock: 10.0.2.0/24\n      AvailabilityZone: !Select [1, !GetAZs '']",
    );
    assert_eq!(codes(wrong_az), vec!["EndpointServiceNotInAz"]);
    let two = base.replace(
        "  # ---- provider",
        "  CfnEndpoint1:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcEndpointType: Interface\n      VpcId: !Ref MyVPC\n      ServiceName: !Sub 'com.amazonaws.${AWS::Region}.cloudformation'\n      SubnetIds: [!Ref MyPublicSN1]\n      PrivateDnsEnabled: true\n  CfnEndpoint2:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcEndpointType: Interface\n      VpcId: !Ref MyVPC\n      ServiceName: !Sub 'com.amazonaws.${AWS::Region}.cloudformation'\n      SubnetIds: [!Ref MyPublicSN2]\n      PrivateDnsEnabled: true\n\n  # ---- provider",
    );
    assert_eq!(codes(two), vec!["PrivateDnsConflict"]);
}

#[test]
fn modify_interface_endpoint_moves_interfaces_and_dns_entries() {
    let mut lab = lab();
    let out = lab
        .apply_json(&iface(&cfn(), &["MyPublicSN1"], Some(false)))
        .unwrap();
    let e = created(&lab, &out);
    let modify =
        |add: &[&str], remove: &[&str], dns: Option<bool>| Change::ModifyInterfaceVpcEndpoint {
            vpce: e.id.to_string(),
            add_subnets: add.iter().map(|s| s.to_string()).collect(),
            remove_subnets: remove.iter().map(|s| s.to_string()).collect(),
            add_security_groups: vec![],
            remove_security_groups: vec![],
            private_dns: dns,
            policy: None,
            reset_policy: false,
        };
    assert_eq!(
        lab.apply_json(&modify(&["MySN3"], &[], None))
            .unwrap_err()
            .code,
        "DuplicateSubnetsInSameZone"
    );
    assert_eq!(
        lab.apply_json(&modify(&["MyPublicSN2"], &["MyPublicSN1"], Some(true)))
            .unwrap(),
        json!({"Return": true})
    );
    let now = lab.vpc_endpoint(&e.id).unwrap().clone();
    let EndpointKind::Interface {
        subnets,
        network_interfaces,
        dns_entries,
        private_dns_enabled,
        ..
    } = &now.kind
    else {
        panic!()
    };
    assert!(private_dns_enabled);
    assert_eq!(subnets.len(), 1);
    assert_eq!(network_interfaces.len(), 1);
    let n = lab.eni(&network_interfaces[0]).unwrap();
    assert_eq!(&n.subnet, &subnets[0]);
    let az = &lab.subnet(&subnets[0]).unwrap().availability_zone;
    let EndpointKind::Interface {
        dns_entries: old, ..
    } = &e.kind
    else {
        panic!()
    };
    assert_eq!(dns_entries[0], old[0], "the regional name stays");
    assert!(dns_entries[1].0.contains(&format!("-{az}.")));
    assert_eq!(
        dns_entries[2].0,
        format!("cloudformation.{REGION}.amazonaws.com")
    );
    assert_eq!(
        lab.network_interfaces
            .iter()
            .filter(|n| n.owner == EniOwner::InterfaceEndpoint(e.id.clone()))
            .count(),
        1
    );
    // Removing a subnet it does not have, or its last group.
    assert_eq!(
        lab.apply_json(&modify(&[], &["MySN4"], None))
            .unwrap_err()
            .code,
        "InvalidParameter"
    );
    let vpc_default = lab.vpc(&e.vpc).unwrap().default_security_group.to_string();
    let err = lab
        .apply_json(&Change::ModifyInterfaceVpcEndpoint {
            vpce: e.id.to_string(),
            add_subnets: vec![],
            remove_subnets: vec![],
            add_security_groups: vec!["MySG".into()],
            remove_security_groups: vec![vpc_default.clone()],
            private_dns: None,
            policy: None,
            reset_policy: false,
        })
        .unwrap();
    assert_eq!(err, json!({"Return": true}));
    assert!(lab
        .network_interfaces
        .iter()
        .filter(|n| n.owner == EniOwner::InterfaceEndpoint(e.id.clone()))
        .all(|n| n.security_groups.len() == 1 && n.security_groups[0].as_str() != vpc_default));
}

#[test]
fn endpoint_service_lifecycle_with_acceptance_and_permissions() {
    let mut lab = lab();
    // The template's NLB already backs WebService.
    let err = lab
        .apply_json(&Change::CreateVpcEndpointServiceConfiguration {
            load_balancers: vec!["web-nlb".into()],
            acceptance_required: None,
        })
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    // A second NLB, internal, in Custom-VPC's two AZs.
    let out = lab
        .apply_json(&Change::CreateLoadBalancer {
            name: "svc-nlb".into(),
            lb_type: Some("network".into()),
            scheme: Some("internal".into()),
            subnets: vec!["CustomPublicSN1".into(), "CustomPublicSN2".into()],
            security_groups: vec![],
        })
        .unwrap();
    assert_eq!(out["LoadBalancers"][0]["LoadBalancerName"], "svc-nlb");
    let out = lab
        .apply_json(&Change::CreateVpcEndpointServiceConfiguration {
            load_balancers: vec!["svc-nlb".into()],
            acceptance_required: None,
        })
        .unwrap();
    let c = &out["ServiceConfiguration"];
    assert_eq!(c["AcceptanceRequired"], true);
    assert_eq!(c["ServiceState"], "Available");
    assert_eq!(c["ServiceType"][0]["ServiceType"], "Interface");
    assert_eq!(c["AvailabilityZones"].as_array().unwrap().len(), 2);
    let sid = c["ServiceId"].as_str().unwrap().to_string();
    let name = c["ServiceName"].as_str().unwrap().to_string();
    assert_eq!(name, format!("com.amazonaws.vpce.{REGION}.{sid}"));
    assert_eq!(
        c["BaseEndpointDnsNames"][0],
        format!("{sid}.{REGION}.vpce.amazonaws.com")
    );

    // Nobody is allowed yet.
    assert_eq!(
        lab.apply_json(&iface(&name, &["MyPublicSN1"], None))
            .unwrap_err()
            .code,
        "InvalidServiceName"
    );
    assert_eq!(
        lab.apply_json(&Change::ModifyVpcEndpointServicePermissions {
            service: sid.clone(),
            add: vec!["bob".into()],
            remove: vec![],
        })
        .unwrap_err()
        .code,
        "InvalidPrincipal"
    );
    let out = lab
        .apply_json(&Change::ModifyVpcEndpointServicePermissions {
            service: sid.clone(),
            add: vec![format!("arn:aws:iam::{}:root", lab.account_id)],
            remove: vec![],
        })
        .unwrap();
    assert_eq!(out["ReturnValue"], true);
    assert_eq!(out["AddedPrincipals"][0]["PrincipalType"], "Account");
    let perms = crate::control::describe::describe(
        &lab,
        crate::control::describe::What::VpcEndpointServicePermissions,
        std::slice::from_ref(&sid),
    );
    assert_eq!(perms["AllowedPrincipals"].as_array().unwrap().len(), 1);

    // Pending until accepted; the service cannot go while connected.
    let out = lab
        .apply_json(&iface(&name, &["MyPublicSN1"], None))
        .unwrap();
    let vpce = out["VpcEndpoint"]["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out["VpcEndpoint"]["State"], "pendingAcceptance");
    let conns = crate::control::describe::describe(
        &lab,
        crate::control::describe::What::VpcEndpointConnections,
        std::slice::from_ref(&sid),
    );
    assert_eq!(
        conns["VpcEndpointConnections"][0]["VpcEndpointState"],
        "pendingAcceptance"
    );
    let out = lab
        .apply_json(&Change::DeleteVpcEndpointServiceConfigurations {
            services: vec![sid.clone()],
        })
        .unwrap();
    assert_eq!(
        out["Unsuccessful"][0]["Error"]["Code"],
        "ExistingVpcEndpointConnections"
    );
    let out = lab
        .apply_json(&Change::AcceptVpcEndpointConnections {
            service: sid.clone(),
            endpoints: vec![vpce.clone(), "vpce-0nosuch".into()],
        })
        .unwrap();
    assert_eq!(out["Unsuccessful"].as_array().unwrap().len(), 1);
    assert_eq!(out["Unsuccessful"][0]["ResourceId"], "vpce-0nosuch");
    let id = VpceId::parse(&vpce).unwrap();
    assert!(lab.vpc_endpoint(&id).unwrap().passes_traffic());
    assert_eq!(
        lab.apply_json(&Change::RejectVpcEndpointConnections {
            service: sid.clone(),
            endpoints: vec![vpce.clone()],
        })
        .unwrap(),
        json!({"Unsuccessful": []})
    );
    assert_eq!(lab.vpc_endpoint(&id).unwrap().state, "rejected");
    // The NLB cannot go while the service uses it.
    assert_eq!(
        lab.apply_json(&Change::DeleteLoadBalancer {
            load_balancer: "svc-nlb".into()
        })
        .unwrap_err()
        .code,
        "ResourceInUse"
    );
    // Rejected endpoints do not hold the service.
    assert_eq!(
        lab.apply_json(&Change::ModifyVpcEndpointServiceConfiguration {
            service: sid.clone(),
            acceptance_required: Some(false),
            add_load_balancers: vec![],
            remove_load_balancers: vec![],
        })
        .unwrap(),
        json!({"Return": true})
    );
    assert_eq!(
        lab.apply_json(&Change::DeleteVpcEndpointServiceConfigurations {
            services: vec![sid.clone(), "vpce-svc-0nosuch".into()],
        })
        .unwrap()["Unsuccessful"][0]["Error"]["Code"],
        "InvalidVpcEndpointService.NotFound"
    );
    assert!(lab.endpoint_services.iter().all(|s| s.id.as_str() != sid));
    lab.apply_json(&Change::DeleteLoadBalancer {
        load_balancer: "svc-nlb".into(),
    })
    .unwrap();
}

fn tg(name: &str, vpc: &str, kind: &str) -> Change {
    Change::CreateTargetGroup(Box::new(TargetGroupSpec {
        name: name.into(),
        protocol: Some("TCP".into()),
        port: Some(8080),
        vpc: Some(vpc.into()),
        target_type: Some(kind.into()),
        ..Default::default()
    }))
}

#[test]
fn load_balancers_target_groups_listeners_and_their_errors() {
    let mut lab = lab();
    let code = |lab: &mut Lab, c: Change| lab.apply_json(&c).unwrap_err().code;
    let lb = |name: &str, subnets: &[&str], scheme: &str| Change::CreateLoadBalancer {
        name: name.into(),
        lb_type: Some("network".into()),
        scheme: Some(scheme.into()),
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        security_groups: vec!["WebSG".into()],
    };
    assert_eq!(
        code(&mut lab, lb("web-nlb", &["CustomPublicSN1"], "internal")),
        "DuplicateLoadBalancerName"
    );
    assert_eq!(
        code(&mut lab, lb("x", &["MyPublicSN1", "MySN3"], "internal")),
        "InvalidConfigurationRequest"
    );
    assert_eq!(
        code(&mut lab, lb("-x", &["CustomPublicSN1"], "internal")),
        "ValidationError"
    );
    let out = lab
        .apply_json(&lb(
            "app-nlb",
            &["CustomPublicSN1", "CustomPublicSN2"],
            "internet-facing",
        ))
        .unwrap();
    let l = &out["LoadBalancers"][0];
    let arn = l["LoadBalancerArn"].as_str().unwrap().to_string();
    assert!(arn.starts_with(&format!(
        "arn:aws:elasticloadbalancing:{REGION}:{}:loadbalancer/net/app-nlb/",
        lab.account_id
    )));
    assert!(l["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"].is_string());
    let lbm = lab.load_balancer(&arn).unwrap().clone();
    assert_eq!(lbm.nodes.len(), 2);
    for n in &lbm.nodes {
        let e = lab.eni(&n.eni).unwrap();
        assert_eq!(e.owner, EniOwner::LoadBalancer(arn.clone()));
        assert!(lab.subnet(&n.subnet).unwrap().cidr.contains(&n.private_ip));
    }

    // Target groups.
    let out = lab
        .apply_json(&tg("app-tg", "CustomVPC", "instance"))
        .unwrap();
    let t = &out["TargetGroups"][0];
    assert_eq!(t["HealthCheckTimeoutSeconds"], 10);
    assert_eq!(t["HealthCheckPort"], "traffic-port");
    assert_eq!(
        code(&mut lab, tg("app-tg", "CustomVPC", "instance")),
        "DuplicateTargetGroupName"
    );
    let mut bad = TargetGroupSpec {
        name: "hc".into(),
        port: Some(80),
        vpc: Some("CustomVPC".into()),
        health_check_interval_seconds: Some(1),
        ..Default::default()
    };
    assert_eq!(
        code(&mut lab, Change::CreateTargetGroup(Box::new(bad.clone()))),
        "ValidationError"
    );
    bad.health_check_interval_seconds = None;
    bad.matcher = Some("200".into());
    assert_eq!(
        code(&mut lab, Change::CreateTargetGroup(Box::new(bad.clone()))),
        "InvalidConfigurationRequest"
    );
    bad.health_check_protocol = Some("HTTP".into());
    bad.health_check_path = Some("/health".into());
    let out = lab
        .apply_json(&Change::CreateTargetGroup(Box::new(bad)))
        .unwrap();
    assert_eq!(out["TargetGroups"][0]["Matcher"]["HttpCode"], "200");
    assert_eq!(out["TargetGroups"][0]["HealthCheckTimeoutSeconds"], 6);

    // Targets: instances of the VPC; addresses of the VPC.
    let reg = |tg: &str, id: &str| Change::RegisterTargets {
        target_group: tg.into(),
        targets: vec![(id.into(), None)],
    };
    assert_eq!(lab.apply_json(&reg("app-tg", "WEB1")).unwrap(), json!({}));
    assert_eq!(code(&mut lab, reg("app-tg", "MyEC2")), "InvalidTarget");
    assert_eq!(code(&mut lab, reg("app-tg", "i-0nosuch")), "InvalidTarget");
    lab.apply_json(&tg("ip-tg", "CustomVPC", "ip")).unwrap();
    assert_eq!(code(&mut lab, reg("ip-tg", "10.0.1.10")), "InvalidTarget");
    lab.apply_json(&reg("ip-tg", "20.0.1.10")).unwrap();
    let t = lab
        .target_groups
        .iter()
        .find(|t| t.name == "app-tg")
        .unwrap();
    assert_eq!(t.targets.len(), 1);
    assert_eq!(t.targets[0].port, 8080);
    assert!(t.targets[0].id.starts_with("i-"));
    assert_eq!(
        code(
            &mut lab,
            Change::DeregisterTargets {
                target_group: "ip-tg".into(),
                targets: vec![("20.0.1.11".into(), None)]
            }
        ),
        "InvalidTarget"
    );
    lab.apply_json(&Change::DeregisterTargets {
        target_group: "ip-tg".into(),
        targets: vec![("20.0.1.10".into(), None)],
    })
    .unwrap();

    // Listeners.
    let listener = |port: u16, tg: &str| Change::CreateListener {
        load_balancer: "app-nlb".into(),
        protocol: Some("TCP".into()),
        port,
        target_group: tg.into(),
    };
    let out = lab.apply_json(&listener(80, "app-tg")).unwrap();
    let larn = out["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(larn.starts_with(&arn.replace(":loadbalancer/", ":listener/")));
    assert_eq!(
        out["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"],
        lab.target_groups
            .iter()
            .find(|t| t.name == "app-tg")
            .unwrap()
            .arn
    );
    assert_eq!(code(&mut lab, listener(80, "ip-tg")), "DuplicateListener");
    assert_eq!(
        code(
            &mut lab,
            Change::DeleteTargetGroup {
                target_group: "app-tg".into()
            }
        ),
        "ResourceInUse"
    );
    let d =
        crate::control::describe::describe(&lab, crate::control::describe::What::Listeners, &[]);
    assert_eq!(d["Listeners"].as_array().unwrap().len(), 2);
    let ids = crate::control::describe::resolve(
        &lab,
        crate::control::describe::What::Listeners,
        &["app-nlb".into()],
    )
    .unwrap();
    assert_eq!(ids, vec![larn.clone()]);
    lab.apply_json(&Change::DeleteListener {
        listener: larn.clone(),
    })
    .unwrap();
    assert_eq!(
        code(&mut lab, Change::DeleteListener { listener: larn }),
        "ListenerNotFound"
    );
    lab.apply_json(&Change::DeleteTargetGroup {
        target_group: "app-tg".into(),
    })
    .unwrap();
    assert_eq!(
        code(
            &mut lab,
            Change::DeleteTargetGroup {
                target_group: "app-tg".into()
            }
        ),
        "TargetGroupNotFound"
    );

    // Attributes.
    let attrs = |tg: &str, k: &str, v: &str| Change::ModifyTargetGroupAttributes {
        target_group: tg.into(),
        attributes: vec![(k.into(), v.into())],
    };
    assert_eq!(
        code(&mut lab, attrs("ip-tg", "tcp.idle_timeout.seconds", "59")),
        "InvalidConfigurationRequest"
    );
    assert_eq!(
        code(
            &mut lab,
            attrs("ip-tg", "deregistration_delay.timeout_seconds", "3601")
        ),
        "InvalidConfigurationRequest"
    );
    assert_eq!(
        code(&mut lab, attrs("ip-tg", "proxy_protocol_v2.enabled", "yes")),
        "InvalidConfigurationRequest"
    );
    assert_eq!(
        code(&mut lab, attrs("ip-tg", "no.such.key", "1")),
        "InvalidConfigurationRequest"
    );
    let out = lab
        .apply_json(&attrs("ip-tg", "proxy_protocol_v2.enabled", "true"))
        .unwrap();
    assert!(out["Attributes"]
        .as_array()
        .unwrap()
        .contains(&json!({"Key": "proxy_protocol_v2.enabled", "Value": "true"})));
    assert!(lab
        .target_groups
        .iter()
        .find(|t| t.name == "ip-tg")
        .unwrap()
        .proxy_protocol_v2());
    let out = lab
        .apply_json(&Change::ModifyLoadBalancerAttributes {
            load_balancer: "app-nlb".into(),
            attributes: vec![("load_balancing.cross_zone.enabled".into(), "true".into())],
        })
        .unwrap();
    assert!(out["Attributes"]
        .as_array()
        .unwrap()
        .contains(&json!({"Key": "load_balancing.cross_zone.enabled", "Value": "true"})));
    assert!(lab.load_balancer(&arn).unwrap().cross_zone);

    // Deleting the load balancer takes its listeners and nodes.
    lab.apply_json(&listener(81, "ip-tg")).unwrap();
    lab.apply_json(&Change::DeleteLoadBalancer {
        load_balancer: arn.clone(),
    })
    .unwrap();
    assert!(lab.listeners.iter().all(|l| l.load_balancer != arn));
    assert!(lab
        .network_interfaces
        .iter()
        .all(|n| n.owner != EniOwner::LoadBalancer(arn.clone())));
    assert_eq!(
        code(&mut lab, Change::DeleteLoadBalancer { load_balancer: arn }),
        "LoadBalancerNotFound"
    );
}
