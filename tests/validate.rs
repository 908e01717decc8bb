//! One test per class of malformed input: each names the line and logical id, the AWS rule
//! and the fix, and `vpclab validate` exits 2 with it.

mod common;

use common::*;

/// A small valid lab the cases add to: VPC A (10.0.0.0/16) with two subnets in two AZs, an
/// internet gateway, a route table, a security group; VPC B (10.1.0.0/16) with one subnet.
const BASE: &str = r#"Resources:
  VpcA:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16, EnableDnsSupport: true, EnableDnsHostnames: true}
  SubA1:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.0.1.0/24, AvailabilityZone: ap-northeast-2a}
  SubA2:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.0.2.0/24, AvailabilityZone: ap-northeast-2c}
  IgwA:
    Type: AWS::EC2::InternetGateway
  IgwAAttach:
    Type: AWS::EC2::VPCGatewayAttachment
    Properties: {VpcId: !Ref VpcA, InternetGatewayId: !Ref IgwA}
  RtA:
    Type: AWS::EC2::RouteTable
    Properties: {VpcId: !Ref VpcA}
  SgA:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: a, VpcId: !Ref VpcA}
  VpcB:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.1.0.0/16}
  SubB1:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref VpcB, CidrBlock: 10.1.1.0/24, AvailabilityZone: ap-northeast-2a}
  RtB:
    Type: AWS::EC2::RouteTable
    Properties: {VpcId: !Ref VpcB}
  SgB:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: b, VpcId: !Ref VpcB}
  InstB:
    Type: AWS::EC2::Instance
    Properties: {SubnetId: !Ref SubB1}
"#;

struct Case {
    name: &'static str,
    /// YAML added under Resources (or a full replacement when `full`).
    add: &'static str,
    full: bool,
    code: &'static str,
    /// Text on the line the problem must point at.
    at: &'static str,
    /// The logical id the problem must name (None for YAML-level problems).
    logical: Option<&'static str>,
    /// Words the rule must contain.
    rule: &'static str,
}

const CASES: &[Case] = &[
    Case { name: "yaml_colon_hash", full: true, add: "Resources:\n  Vpc:# my VPC\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n", code: "YamlCommentNeedsSpace", at: "Vpc:#", logical: None, rule: "comment" },
    Case { name: "yaml_syntax", full: true, add: "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: [10.0.0.0/16}\n", code: "YamlSyntax", at: "CidrBlock", logical: None, rule: "valid YAML" },
    Case { name: "unknown_ref", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref NoSuchVpc, CidrBlock: 10.0.9.0/24}\n", code: "UnknownRef", at: "NoSuchVpc", logical: Some("Bad"), rule: "Ref" },
    Case { name: "unknown_getatt", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !GetAtt Ghost.VpcId, CidrBlock: 10.0.9.0/24}\n", code: "UnknownRef", at: "Ghost", logical: Some("Bad"), rule: "Fn::GetAtt" },
    Case { name: "unknown_attribute", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !GetAtt VpcA.Nope, CidrBlock: 10.0.9.0/24}\n", code: "UnknownAttribute", at: "VpcA.Nope", logical: Some("Bad"), rule: "DefaultSecurityGroup" },
    Case { name: "circular_reference", full: false, add: "  SgX:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: x\n      VpcId: !Ref VpcA\n      SecurityGroupIngress: [{IpProtocol: tcp, FromPort: 1, ToPort: 1, SourceSecurityGroupId: !Ref SgY}]\n  SgY:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: y\n      VpcId: !Ref VpcA\n      SecurityGroupIngress: [{IpProtocol: tcp, FromPort: 1, ToPort: 1, SourceSecurityGroupId: !Ref SgX}]\n", code: "CircularDependency", at: "  SgX:", logical: Some("SgX"), rule: "cycle" },
    Case { name: "cidr_not_canonical", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.0.9.7/24}\n", code: "BadSubnetCidr", at: "  Bad:", logical: Some("Bad"), rule: "network" },
    Case { name: "cidr_too_large", full: false, add: "  Bad:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/8}\n", code: "BadVpcCidr", at: "  Bad:", logical: Some("Bad"), rule: "/16 and /28" },
    Case { name: "cidr_too_small", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.0.9.0/29}\n", code: "BadSubnetCidr", at: "  Bad:", logical: Some("Bad"), rule: "/16 and /28" },
    Case { name: "subnet_outside_vpc", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.1.0.0/24}\n", code: "SubnetOutsideVpc", at: "  Bad:", logical: Some("Bad"), rule: "within its VPC" },
    Case { name: "overlapping_subnets", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.0.1.0/25}\n", code: "OverlappingSubnets", at: "  Bad:", logical: Some("Bad"), rule: "cannot overlap" },
    Case { name: "two_igws_on_one_vpc", full: false, add: "  Igw2:\n    Type: AWS::EC2::InternetGateway\n  Igw2Attach:\n    Type: AWS::EC2::VPCGatewayAttachment\n    Properties: {VpcId: !Ref VpcA, InternetGatewayId: !Ref Igw2}\n", code: "TwoInternetGateways", at: "  Igw2Attach:", logical: Some("Igw2Attach"), rule: "only one internet gateway" },
    Case { name: "route_to_unattached_igw", full: false, add: "  Igw2:\n    Type: AWS::EC2::InternetGateway\n  Bad:\n    Type: AWS::EC2::Route\n    Properties: {RouteTableId: !Ref RtA, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref Igw2}\n", code: "IgwNotAttached", at: "  Bad:", logical: Some("Bad"), rule: "attached" },
    Case { name: "route_target_other_vpc", full: false, add: "  Bad:\n    Type: AWS::EC2::Route\n    Properties: {RouteTableId: !Ref RtA, DestinationCidrBlock: 192.168.0.0/16, InstanceId: !Ref InstB}\n", code: "RouteTargetOtherVpc", at: "  Bad:", logical: Some("Bad"), rule: "same VPC" },
    Case { name: "association_other_vpc_route_table", full: false, add: "  Bad:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n    Properties: {SubnetId: !Ref SubA1, RouteTableId: !Ref RtB}\n", code: "AssociationOtherVpc", at: "  Bad:", logical: Some("Bad"), rule: "route table of its own VPC" },
    Case { name: "association_other_vpc_network_acl", full: false, add: "  AclB:\n    Type: AWS::EC2::NetworkAcl\n    Properties: {VpcId: !Ref VpcB}\n  Bad:\n    Type: AWS::EC2::SubnetNetworkAclAssociation\n    Properties: {SubnetId: !Ref SubA1, NetworkAclId: !Ref AclB}\n", code: "AssociationOtherVpc", at: "  Bad:", logical: Some("Bad"), rule: "network ACL of its own VPC" },
    Case { name: "duplicate_route", full: false, add: "  R1:\n    Type: AWS::EC2::Route\n    Properties: {RouteTableId: !Ref RtA, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref IgwA}\n  Bad:\n    Type: AWS::EC2::Route\n    DependsOn: R1\n    Properties: {RouteTableId: !Ref RtA, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref IgwA}\n", code: "DuplicateRoute", at: "  Bad:", logical: Some("Bad"), rule: "one route per destination" },
    Case { name: "subnet_in_two_route_tables", full: false, add: "  RtA2:\n    Type: AWS::EC2::RouteTable\n    Properties: {VpcId: !Ref VpcA}\n  Assoc1:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n    Properties: {SubnetId: !Ref SubA1, RouteTableId: !Ref RtA}\n  Bad:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n    Properties: {SubnetId: !Ref SubA1, RouteTableId: !Ref RtA2}\n", code: "SubnetTwoRouteTables", at: "  Bad:", logical: Some("Bad"), rule: "exactly one route table" },
    Case { name: "sg_bad_protocol", full: false, add: "  Bad:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: x\n      VpcId: !Ref VpcA\n      SecurityGroupIngress:\n        - {IpProtocol: tcpp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0}\n", code: "BadSgRule", at: "tcpp", logical: Some("Bad"), rule: "IpProtocol" },
    Case { name: "sg_bad_port_range", full: false, add: "  Bad:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: x\n      VpcId: !Ref VpcA\n      SecurityGroupIngress:\n        - {IpProtocol: tcp, FromPort: 443, ToPort: 80, CidrIp: 0.0.0.0/0}\n", code: "BadSgRule", at: "FromPort: 443", logical: Some("Bad"), rule: "FromPort ≤ ToPort" },
    Case { name: "sg_references_other_vpc", full: false, add: "  Bad:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties: {GroupId: !Ref SgA, IpProtocol: tcp, FromPort: 22, ToPort: 22, SourceSecurityGroupId: !Ref SgB}\n", code: "SgReferenceOtherVpc", at: "  Bad:", logical: Some("Bad"), rule: "same VPC" },
    Case { name: "instance_ip_outside_subnet", full: false, add: "  Bad:\n    Type: AWS::EC2::Instance\n    Properties: {SubnetId: !Ref SubA1, PrivateIpAddress: 10.0.2.10}\n", code: "InstanceIpOutsideSubnet", at: "  Bad:", logical: Some("Bad"), rule: "subnet's CIDR" },
    Case { name: "instance_ip_reserved", full: false, add: "  Bad:\n    Type: AWS::EC2::Instance\n    Properties: {SubnetId: !Ref SubA1, PrivateIpAddress: 10.0.1.2}\n", code: "InstanceIpReserved", at: "  Bad:", logical: Some("Bad"), rule: "reserves the first four" },
    Case { name: "instance_ip_taken_twice", full: false, add: "  First:\n    Type: AWS::EC2::Instance\n    Properties: {SubnetId: !Ref SubA1, PrivateIpAddress: 10.0.1.10}\n  Bad:\n    Type: AWS::EC2::Instance\n    Properties: {SubnetId: !Ref SubA1, PrivateIpAddress: 10.0.1.10}\n", code: "InstanceIpTaken", at: "  Bad:", logical: Some("Bad"), rule: "one network interface at a time" },
    Case { name: "gateway_endpoint_for_interface_service", full: false, add: "  Bad:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref VpcA\n      ServiceName: !Sub com.amazonaws.${AWS::Region}.cloudformation\n      RouteTableIds: [!Ref RtA]\n", code: "NotAGatewayService", at: "ServiceName", logical: Some("Bad"), rule: "only for S3 and DynamoDB" },
    Case { name: "endpoint_service_other_region", full: false, add: "  Bad:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref VpcA\n      ServiceName: com.amazonaws.us-east-1.s3\n      RouteTableIds: [!Ref RtA]\n", code: "EndpointServiceOtherRegion", at: "ServiceName", logical: Some("Bad"), rule: "same region only" },
    Case { name: "gateway_endpoint_route_table_other_vpc", full: false, add: "  Bad:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref VpcA\n      ServiceName: !Sub com.amazonaws.${AWS::Region}.s3\n      RouteTableIds: [!Ref RtA, !Ref RtB]\n", code: "EndpointRouteTableOtherVpc", at: "  Bad:", logical: Some("Bad"), rule: "one endpoint, one VPC" },
    Case { name: "interface_endpoint_two_subnets_one_az", full: false, add: "  SubA3:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.0.3.0/24, AvailabilityZone: ap-northeast-2a}\n  Bad:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcEndpointType: Interface\n      VpcId: !Ref VpcA\n      ServiceName: !Sub com.amazonaws.${AWS::Region}.sts\n      SubnetIds: [!Ref SubA1, !Ref SubA3]\n", code: "EndpointTwoSubnetsOneAz", at: "  Bad:", logical: Some("Bad"), rule: "one subnet per Availability Zone" },
    Case { name: "private_dns_without_dns_attributes", full: false, add: "  SubB2:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcB, CidrBlock: 10.1.2.0/24, AvailabilityZone: ap-northeast-2c}\n  Bad:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcEndpointType: Interface\n      VpcId: !Ref VpcB\n      ServiceName: !Sub com.amazonaws.${AWS::Region}.ssm\n      SubnetIds: [!Ref SubB2]\n      PrivateDnsEnabled: true\n", code: "PrivateDnsNeedsDnsAttributes", at: "  Bad:", logical: Some("Bad"), rule: "enableDnsHostnames" },
    Case { name: "listener_without_target_group", full: false, add: "  Nlb:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties: {Type: network, Scheme: internal, Subnets: [!Ref SubA1]}\n  Bad:\n    Type: AWS::ElasticLoadBalancingV2::Listener\n    Properties: {LoadBalancerArn: !Ref Nlb, Port: 80, Protocol: TCP}\n", code: "ListenerWithoutTargetGroup", at: "  Bad:", logical: Some("Bad"), rule: "forwards to a target group" },
    Case { name: "target_in_other_vpc", full: false, add: "  Bad:\n    Type: AWS::ElasticLoadBalancingV2::TargetGroup\n    Properties:\n      Protocol: TCP\n      Port: 80\n      VpcId: !Ref VpcA\n      Targets:\n        - Id: !Ref InstB\n", code: "TargetOtherVpc", at: "- Id: !Ref InstB", logical: Some("Bad"), rule: "target group's VPC" },
    Case { name: "unsupported_resource_type", full: false, add: "  Bad:\n    Type: AWS::EC2::TransitGateway\n", code: "UnsupportedResourceType", at: "AWS::EC2::TransitGateway", logical: Some("Bad"), rule: "emulates VPC networking" },
    Case { name: "missing_required_property", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA}\n", code: "MissingProperty", at: "  Bad:", logical: Some("Bad"), rule: "CidrBlock" },
    Case { name: "unknown_property", full: false, add: "  Bad:\n    Type: AWS::EC2::Subnet\n    Properties:\n      VpcId: !Ref VpcA\n      CidrBlock: 10.0.9.0/24\n      CidrBLock: 10.0.9.0/24\n", code: "UnknownProperty", at: "CidrBLock", logical: Some("Bad"), rule: "accepts" },
    Case { name: "gateway_endpoint_bad_policy", full: false, add: "  Bad:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n      VpcId: !Ref VpcA\n      ServiceName: !Sub com.amazonaws.${AWS::Region}.s3\n      RouteTableIds: [!Ref RtA]\n      PolicyDocument:\n        Version: 2012-10-17\n        Statement:\n          - {Effect: Allow, Principal: '*', Action: 's3:GetObject', Resource: '*'}\n          - {Effect: Permit, Principal: '*', Action: '*', Resource: '*'}\n", code: "BadPolicy", at: "PolicyDocument:", logical: Some("Bad"), rule: "IAM policy document" },
    Case { name: "gateway_endpoint_route_by_hand", full: false, add: "  Bad:\n    Type: AWS::EC2::Route\n    Properties: {RouteTableId: !Ref RtA, DestinationPrefixListId: pl-78a54011, VpcEndpointId: vpce-0123456789abcdef0}\n", code: "EndpointRouteByHand", at: "VpcEndpointId", logical: Some("Bad"), rule: "added by the endpoint itself" },
];

fn text_of(c: &Case) -> String {
    if c.full {
        c.add.to_string()
    } else {
        format!("{BASE}{}", c.add)
    }
}

#[test]
fn the_base_lab_is_valid() {
    load(BASE).unwrap_or_else(|p| panic!("{p}"));
}

/// Checks one class: through the library (code, line, logical id, rule, fix) and through the
/// binary (exit code 2, the located problem on stderr).
fn check(name: &str) {
    let c = CASES
        .iter()
        .find(|c| c.name == name)
        .expect("a case of that name");
    let text = text_of(c);
    let problems = match load(&text) {
        Ok(_) => panic!("{name}: accepted"),
        Err(p) => p,
    };
    let p = problems
        .0
        .iter()
        .find(|p| p.code == c.code)
        .unwrap_or_else(|| panic!("{name}: no {} among:\n{problems}", c.code));
    let line = line_of(&text, c.at);
    assert_eq!(
        p.origin.line,
        Some(line),
        "{name}: expected line {line} ({:?}): {p}",
        c.at
    );
    assert_eq!(p.origin.logical_id.as_deref(), c.logical, "{name}: {p}");
    assert!(
        p.rule.contains(c.rule),
        "{name}: rule {:?} lacks {:?}",
        p.rule,
        c.rule
    );
    assert!(
        !p.fix.trim().is_empty() && !p.message.trim().is_empty(),
        "{name}: {p}"
    );

    let path = temp_template(c.name, &text);
    let (code, _, err) = vpclab(&["validate", s(path.path())]);
    assert_eq!(code, 2, "{name}: exit {code}\n{err}");
    assert!(err.contains(&format!("[{}]", c.code)), "{name}: {err}");
    assert!(err.contains(&format!("line {line}:")), "{name}: {err}");
    assert!(
        err.contains("rule:") && err.contains("fix:"),
        "{name}: {err}"
    );
}

macro_rules! classes {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { check(stringify!($name)); })*
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

classes!(
    yaml_colon_hash,
    yaml_syntax,
    unknown_ref,
    unknown_getatt,
    unknown_attribute,
    circular_reference,
    cidr_not_canonical,
    cidr_too_large,
    cidr_too_small,
    subnet_outside_vpc,
    overlapping_subnets,
    two_igws_on_one_vpc,
    route_to_unattached_igw,
    route_target_other_vpc,
    association_other_vpc_route_table,
    association_other_vpc_network_acl,
    duplicate_route,
    subnet_in_two_route_tables,
    sg_bad_protocol,
    sg_bad_port_range,
    sg_references_other_vpc,
    instance_ip_outside_subnet,
    instance_ip_reserved,
    instance_ip_taken_twice,
    gateway_endpoint_for_interface_service,
    endpoint_service_other_region,
    gateway_endpoint_route_table_other_vpc,
    interface_endpoint_two_subnets_one_az,
    private_dns_without_dns_attributes,
    listener_without_target_group,
    target_in_other_vpc,
    unsupported_resource_type,
    missing_required_property,
    unknown_property,
    gateway_endpoint_route_by_hand,
    gateway_endpoint_bad_policy,
);

#[test]
fn every_case_has_its_test() {
    for c in CASES {
        assert!(TESTED.contains(&c.name), "{} has no test", c.name);
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = format!(
        "{BASE}{}",
        "  Bad1:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref VpcA, CidrBlock: 10.9.0.0/24}\n  Bad2:\n    Type: AWS::EC2::Instance\n    Properties: {SubnetId: !Ref SubA1, PrivateIpAddress: 10.0.1.255}\n  Bad3:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref Nowhere, CidrBlock: 10.0.5.0/24}\n"
    );
    let problems = load(&text).unwrap_err();
    for code in ["SubnetOutsideVpc", "InstanceIpReserved", "UnknownRef"] {
        assert!(problems.has(code), "{code} missing from:\n{problems}");
    }
    assert_eq!(
        problems.len(),
        3,
        "one problem each, no cascades:\n{problems}"
    );
}

#[test]
fn validate_json_lists_the_problems() {
    let c = CASES
        .iter()
        .find(|c| c.name == "subnet_outside_vpc")
        .unwrap();
    let path = temp_template("json-out", &text_of(c));
    let (code, out, _) = vpclab(&["validate", s(path.path()), "--output", "json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Valid"], false);
    assert_eq!(v["Problems"][0]["code"], "SubnetOutsideVpc");
    assert_eq!(v["Problems"][0]["logical_id"], "Bad");
}

#[test]
fn a_missing_file_is_invalid_input_not_a_crash() {
    let (code, _, err) = vpclab(&["validate", "no/such/template.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/template.yaml"), "{err}");
}

#[test]
fn a_bad_endpoint_policy_names_the_statement_and_the_problem() {
    let c = CASES
        .iter()
        .find(|c| c.name == "gateway_endpoint_bad_policy")
        .expect("the case");
    let problems = load(&text_of(c)).expect_err("refused");
    let p = problems.0.iter().find(|p| p.code == "BadPolicy").unwrap();
    assert!(
        p.message
            .contains("Statement 2: Effect must be \"Allow\" or \"Deny\""),
        "{p}"
    );
}
