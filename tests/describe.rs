//! `vpclab describe` against the shapes of the AWS CLI's output
//! (shared/reference/aws-vpc-semantics.md §1.2, §10.1).

mod common;

use common::*;
use serde_json::Value;

fn describe(args: &[&str]) -> Value {
    let mut a = vec!["describe"];
    a.extend_from_slice(args);
    let (code, out, err) = vpclab(&a);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn route_tables_of_seed2_show_the_s3_prefix_list_route_in_both_tables() {
    let v = describe(&[
        "route-tables",
        "--template",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNetaPublicRT",
        "CloudNetaPrivateRT",
    ]);
    let tables = v["RouteTables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    let vpce = describe(&[
        "vpc-endpoints",
        "--template",
        "templates/seed2-gateway-endpoint.yaml",
    ])["VpcEndpoints"][0]["VpcEndpointId"]
        .clone();
    for t in tables {
        assert_eq!(
            keys(t),
            [
                "Associations",
                "OwnerId",
                "PropagatingVgws",
                "RouteTableId",
                "Routes",
                "Tags",
                "VpcId"
            ]
        );
        let routes = t["Routes"].as_array().unwrap();
        // The local route, as AWS prints it.
        assert_eq!(
            routes[0],
            serde_json::json!({"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"})
        );
        // The gateway endpoint's route, exactly the shape of §1.2.
        let pl: Vec<&Value> = routes
            .iter()
            .filter(|r| r.get("DestinationPrefixListId").is_some())
            .collect();
        assert_eq!(pl.len(), 1, "{t}");
        assert_eq!(
            *pl[0],
            serde_json::json!({"DestinationPrefixListId": "pl-78a54011", "GatewayId": vpce, "Origin": "CreateRoute", "State": "active"})
        );
        let assoc = &t["Associations"][0];
        assert_eq!(assoc["Main"], false);
        assert!(assoc["SubnetId"].as_str().unwrap().starts_with("subnet-0"));
        assert_eq!(assoc["AssociationState"]["State"], "associated");
    }
    // Only the public table has the IGW default route.
    let igw: Vec<bool> = tables
        .iter()
        .map(|t| {
            t["Routes"].as_array().unwrap().iter().any(|r| {
                r["GatewayId"]
                    .as_str()
                    .is_some_and(|g| g.starts_with("igw-"))
            })
        })
        .collect();
    assert_eq!(igw, [true, false]);
}

#[test]
fn the_main_route_table_has_a_main_association_without_subnet() {
    let v = describe(&[
        "route-tables",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
    ]);
    let main: Vec<&Value> = v["RouteTables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["Associations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["Main"] == true)
        })
        .collect();
    assert_eq!(main.len(), 1);
    let a = &main[0]["Associations"][0];
    assert!(a.get("SubnetId").is_none());
    assert!(a["RouteTableAssociationId"]
        .as_str()
        .unwrap()
        .starts_with("rtbassoc-"));
}

#[test]
fn vpc_endpoints_have_the_cli_fields() {
    let v = describe(&["vpc-endpoints"]);
    let eps = v["VpcEndpoints"].as_array().unwrap();
    let gw = eps
        .iter()
        .find(|e| e["VpcEndpointType"] == "Gateway")
        .unwrap();
    assert_eq!(gw["State"], "available");
    assert_eq!(gw["ServiceName"], "com.amazonaws.ap-northeast-2.s3");
    assert_eq!(gw["RouteTableIds"].as_array().unwrap().len(), 2);
    for k in ["SubnetIds", "NetworkInterfaceIds", "Groups", "DnsEntries"] {
        assert_eq!(gw[k], serde_json::json!([]), "{k}");
    }
    let policy: Value = serde_json::from_str(gw["PolicyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Version"], "2008-10-17");
    assert_eq!(policy["Statement"][0]["Effect"], "Allow");
    let cfn = eps
        .iter()
        .find(|e| e["ServiceName"] == "com.amazonaws.ap-northeast-2.cloudformation")
        .unwrap();
    assert_eq!(cfn["VpcEndpointType"], "Interface");
    assert_eq!(cfn["PrivateDnsEnabled"], false);
    assert_eq!(cfn["SubnetIds"].as_array().unwrap().len(), 2);
    assert_eq!(cfn["NetworkInterfaceIds"].as_array().unwrap().len(), 2);
    let dns = cfn["DnsEntries"].as_array().unwrap();
    // Regional name first, then one zonal name per subnet; no private name (private DNS off).
    assert_eq!(dns.len(), 3);
    let regional = dns[0]["DnsName"].as_str().unwrap();
    let id = cfn["VpcEndpointId"].as_str().unwrap();
    assert!(
        regional.starts_with(&format!("{id}-"))
            && regional.ends_with(".cloudformation.ap-northeast-2.vpce.amazonaws.com"),
        "{regional}"
    );
    assert!(dns[1]["DnsName"]
        .as_str()
        .unwrap()
        .contains("-ap-northeast-2a."));
    assert!(cfn["Groups"][0]["GroupId"]
        .as_str()
        .unwrap()
        .starts_with("sg-0"));
}

#[test]
fn instances_are_reservations_with_network_interfaces() {
    let v = describe(&[
        "instances",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNeta-Public-EC2",
    ]);
    let r = &v["Reservations"].as_array().unwrap()[0];
    assert!(r["ReservationId"].as_str().unwrap().starts_with("r-0"));
    let i = &r["Instances"][0];
    assert!(i["InstanceId"].as_str().unwrap().starts_with("i-0"));
    assert_eq!(i["InstanceType"], "t2.micro");
    assert_eq!(i["Placement"]["AvailabilityZone"], "ap-northeast-2a");
    let ip = i["PrivateIpAddress"].as_str().unwrap();
    assert!(ip.starts_with("10.0.0."));
    assert_eq!(
        i["PrivateDnsName"],
        format!(
            "ip-{}.ap-northeast-2.compute.internal",
            ip.replace('.', "-")
        )
    );
    assert!(i["PublicIpAddress"].is_string());
    let ni = &i["NetworkInterfaces"][0];
    assert!(ni["MacAddress"].as_str().unwrap().starts_with("02:"));
    assert_eq!(ni["Association"]["PublicIp"], i["PublicIpAddress"]);
    assert_eq!(
        i["SecurityGroups"][0]["GroupId"],
        ni["Groups"][0]["GroupId"]
    );
}

#[test]
fn prefix_lists_security_groups_acls_subnets_vpcs_lbs() {
    let v = describe(&["prefix-lists"]);
    let s3 = v["PrefixLists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PrefixListName"] == "com.amazonaws.ap-northeast-2.s3")
        .unwrap();
    assert_eq!(s3["PrefixListId"], "pl-78a54011");
    assert!(s3["Cidrs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "52.219.60.0/23"));

    let v = describe(&[
        "security-groups",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNetaSecurityGroup",
    ]);
    let g = &v["SecurityGroups"][0];
    let perms = g["IpPermissions"].as_array().unwrap();
    assert!(perms.iter().any(|p| p["IpProtocol"] == "tcp"
        && p["FromPort"] == 22
        && p["ToPort"] == 22
        && p["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"));
    assert!(perms
        .iter()
        .any(|p| p["IpProtocol"] == "icmp" && p["FromPort"] == -1));
    // No SecurityGroupEgress in the template: AWS's allow-all egress.
    assert_eq!(g["IpPermissionsEgress"][0]["IpProtocol"], "-1");
    assert_eq!(
        g["IpPermissionsEgress"][0]["IpRanges"][0]["CidrIp"],
        "0.0.0.0/0"
    );

    let v = describe(&[
        "network-acls",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
    ]);
    let acl = &v["NetworkAcls"][0];
    assert_eq!(acl["IsDefault"], true);
    assert_eq!(
        acl["Associations"].as_array().unwrap().len(),
        2,
        "the default ACL covers both subnets"
    );
    let rules: Vec<(i64, bool, &str)> = acl["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["RuleNumber"].as_i64().unwrap(),
                e["Egress"].as_bool().unwrap(),
                e["RuleAction"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            (100, false, "allow"),
            (32767, false, "deny"),
            (100, true, "allow"),
            (32767, true, "deny")
        ]
    );

    let v = describe(&[
        "subnets",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNeta-Private-SN",
    ]);
    assert_eq!(v["Subnets"][0]["AvailableIpAddressCount"], 256 - 5 - 1);
    assert_eq!(v["Subnets"][0]["AvailabilityZone"], "ap-northeast-2c");

    let v = describe(&["vpcs"]);
    assert_eq!(v["Vpcs"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["Vpcs"][0]["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"],
        "associated"
    );

    let v = describe(&["load-balancers"]);
    let lb = &v["LoadBalancers"][0];
    assert_eq!(lb["Type"], "network");
    assert!(lb["DNSName"]
        .as_str()
        .unwrap()
        .ends_with(".elb.ap-northeast-2.amazonaws.com"));
    assert_eq!(lb["AvailabilityZones"].as_array().unwrap().len(), 2);
    let v = describe(&["target-groups"]);
    assert_eq!(
        v["TargetGroups"][0]["LoadBalancerArns"][0],
        lb["LoadBalancerArn"]
    );
    let v = describe(&["vpc-endpoint-services"]);
    let names: Vec<&str> = v["ServiceNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"com.amazonaws.ap-northeast-2.s3")
            && names.contains(&"com.amazonaws.ap-northeast-2.cloudformation")
    );
    assert!(names
        .iter()
        .any(|n| n.starts_with("com.amazonaws.vpce.ap-northeast-2.vpce-svc-0")));
}

#[test]
fn names_resolve_by_id_logical_id_and_name_tag_and_ambiguity_is_an_error() {
    let by_logical = describe(&[
        "route-tables",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNetaPrivateRT",
    ]);
    let id = by_logical["RouteTables"][0]["RouteTableId"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id = describe(&[
        "route-tables",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        &id,
    ]);
    assert_eq!(by_id, by_logical);
    let by_name = describe(&[
        "vpcs",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNeta-VPC",
    ]);
    assert_eq!(by_name["Vpcs"].as_array().unwrap().len(), 1);
    let (code, _, err) = vpclab(&[
        "describe",
        "route-tables",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "CloudNeta-Public-RT",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("ambiguous")
            && err.contains("CloudNetaPublicRT")
            && err.contains("CloudNetaPrivateRT")
            && err.contains(&id),
        "{err}"
    );
    let (code, _, err) = vpclab(&["describe", "instances", "NoSuchThing"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("NoSuchThing") && err.contains("CloudNetaPublicEC2"),
        "{err}"
    );
}

#[test]
fn table_output_is_for_people() {
    let (code, out, _) = vpclab(&[
        "describe",
        "route-tables",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "--output",
        "table",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("pl-78a54011 (com.amazonaws.ap-northeast-2.s3)"),
        "{out}"
    );
    // Every route of the seed's three tables (main: local; public: local, the IGW, S3's
    // prefix list; private: local, S3's prefix list) has a target that exists: active.
    let states: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" local ") || l.contains(" igw-") || l.contains(" vpce-"))
        .map(|l| {
            l.trim_end_matches(['│', ' '])
                .rsplit('┆')
                .next()
                .unwrap()
                .trim()
        })
        .collect();
    assert_eq!(states, ["active"; 6], "{out}");
    assert!(out.contains("┆ State "), "{out}");
    for what in [
        "vpcs",
        "subnets",
        "security-groups",
        "network-acls",
        "instances",
        "internet-gateways",
        "vpc-endpoints",
        "vpc-endpoint-services",
        "load-balancers",
        "target-groups",
        "prefix-lists",
    ] {
        let (code, out, err) = vpclab(&["describe", what, "--output", "table"]);
        assert_eq!(code, 0, "{what}: {err}");
        assert!(out.lines().count() >= 3, "{what}: {out}");
    }
}

#[test]
fn help_is_complete() {
    let (code, out, _) = vpclab(&["--help"]);
    assert_eq!(code, 0);
    for verb in ["validate", "describe"] {
        assert!(out.contains(verb), "{out}");
    }
    let (_, out, _) = vpclab(&["validate", "--help"]);
    for opt in [
        "--region",
        "--parameter",
        "--name",
        "--output",
        "[TEMPLATE]",
    ] {
        assert!(out.contains(opt), "validate --help lacks {opt}:\n{out}");
    }
    let (_, out, _) = vpclab(&["describe", "--help"]);
    for opt in [
        "route-tables",
        "vpc-endpoints",
        "prefix-lists",
        "--template",
        "--output",
        "[NAMES]",
    ] {
        assert!(out.contains(opt), "describe --help lacks {opt}:\n{out}");
    }
}

#[test]
fn describe_name_without_a_template_asks_for_a_running_lab() {
    let name = format!("nosuch{}", std::process::id());
    let (code, _, err) = vpclab(&["describe", "vpcs", "--name", &name]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&name) && err.contains("-t TEMPLATE"), "{err}");
    // With a template, --name is the stack name, as before.
    let (code, out, err) = vpclab(&[
        "describe",
        "vpcs",
        "-t",
        "templates/seed2-gateway-endpoint.yaml",
        "--name",
        &name,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&name), "the stack name is in the tags:\n{out}");
}

#[test]
fn network_interfaces_show_the_endpoint_and_load_balancer_interfaces_as_requester_managed() {
    let v = describe(&["network-interfaces"]);
    let enis = v["NetworkInterfaces"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> {
        enis.iter().filter(|e| e["InterfaceType"] == kind).collect()
    };
    // The default lab: 4 instances, 2 interface endpoints in 2 subnets each, 2 NLB nodes.
    assert_eq!(of("interface").len(), 4);
    assert_eq!(of("vpc_endpoint").len(), 4);
    assert_eq!(of("network_load_balancer").len(), 2);
    for e in of("vpc_endpoint") {
        assert_eq!(e["RequesterManaged"], true);
        assert!(e["Description"]
            .as_str()
            .unwrap()
            .starts_with("VPC Endpoint Interface vpce-"));
        assert!(e["PrivateIpAddress"].as_str().unwrap().starts_with("10.0."));
        assert!(e.get("Attachment").is_none());
    }
    for e in of("network_load_balancer") {
        assert!(
            e["Association"]["PublicIp"].is_string(),
            "internet-facing nodes"
        );
    }
    for e in of("interface") {
        assert_eq!(e["RequesterManaged"], false);
        assert!(e["Attachment"]["InstanceId"]
            .as_str()
            .unwrap()
            .starts_with("i-"));
    }
    // The endpoint's subnets, one interface each, as describe-vpc-endpoints lists them.
    let eps = describe(&["vpc-endpoints", "CloudFormationEndpoint"]);
    let ids = eps["VpcEndpoints"][0]["NetworkInterfaceIds"]
        .as_array()
        .unwrap();
    assert_eq!(ids.len(), 2);
    let subnets: std::collections::HashSet<&str> = ids
        .iter()
        .map(|id| {
            enis.iter()
                .find(|e| e["NetworkInterfaceId"] == *id)
                .unwrap()["SubnetId"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(subnets.len(), 2);
}
