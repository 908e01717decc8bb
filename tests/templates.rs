//! The template loader over every shipped template, and the seed-2 lab as published.

mod common;

use common::*;
use vpclab::model::*;

#[test]
fn every_shipped_template_loads() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            let rel = path
                .strip_prefix(root())
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let lab = load_file(&rel);
            assert!(!lab.vpcs.is_empty(), "{rel} has no VPC");
            assert!(!lab.instances.is_empty(), "{rel} has no instance");
            n += 1;
        }
    }
    assert!(
        n >= 4,
        "expected the seed templates and the default lab, found {n}"
    );
}

#[test]
fn the_embedded_default_lab_is_templates_default_yaml() {
    let text = std::fs::read_to_string(root().join("templates/default.yaml")).unwrap();
    assert_eq!(text, vpclab::template::DEFAULT_TEMPLATE);
    let lab = vpclab::template::load_default(&Default::default()).unwrap();
    // The three seed labs: the S3 gateway endpoint, the CloudFormation interface endpoint and
    // the endpoint service behind the NLB, with its consumer endpoint.
    let services: Vec<&str> = lab
        .vpc_endpoints
        .iter()
        .map(|e| e.service_name.as_str())
        .collect();
    assert!(
        services.contains(&"com.amazonaws.ap-northeast-2.s3"),
        "{services:?}"
    );
    assert!(
        services.contains(&"com.amazonaws.ap-northeast-2.cloudformation"),
        "{services:?}"
    );
    assert!(
        services
            .iter()
            .any(|s| s.starts_with("com.amazonaws.vpce.ap-northeast-2.vpce-svc-")),
        "{services:?}"
    );
    assert_eq!(lab.load_balancers.len(), 1);
    assert_eq!(lab.target_groups[0].targets.len(), 2);
}

#[test]
fn seed2_as_published_is_rejected_at_its_colon_hash_line() {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/seed2-as-published.yaml")).unwrap();
    let problems = load(&text).unwrap_err();
    let first = &problems.0[0];
    assert_eq!(first.code, "YamlCommentNeedsSpace");
    assert_eq!(
        first.origin.line,
        Some(line_of(&text, "CloudNetaVPC:# VPC"))
    );
    assert!(first.message.contains("CloudNetaVPC"), "{first}");
    assert!(first.message.contains("space before `#`"), "{first}");
    assert!(first.fix.contains("CloudNetaVPC: #"), "{first}");
    // Every such line is named, not only the first.
    for key in ["CloudNetaPublicSN:#", "CloudNetaIGWAttachment:#"] {
        assert!(
            problems
                .0
                .iter()
                .any(|p| p.origin.line == Some(line_of(&text, key))),
            "{key} not reported: {problems}"
        );
    }
}

#[test]
fn seed2_lab_resolves_as_the_write_up_describes() {
    let lab = load_file("templates/seed2-gateway-endpoint.yaml");
    assert_eq!(lab.region, "ap-northeast-2");
    let vpc = &lab.vpcs[0];
    assert_eq!(vpc.cidr.to_string(), "10.0.0.0/16");
    let public = lab.find(lookup::Kind::Subnet, "CloudNetaPublicSN").unwrap();
    let private = lab
        .find(lookup::Kind::Subnet, "CloudNetaPrivateSN")
        .unwrap();
    let public = lab.subnet(&SubnetId::parse(&public).unwrap()).unwrap();
    let private = lab.subnet(&SubnetId::parse(&private).unwrap()).unwrap();
    // !Select [0, !GetAZs ''] and !Select [2, !GetAZs ''] in Seoul.
    assert_eq!(public.availability_zone, "ap-northeast-2a");
    assert_eq!(private.availability_zone, "ap-northeast-2c");
    // The public instance has a public IP; the private one does not, and carries the user data.
    let pub_i = lab
        .instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some("CloudNetaPublicEC2"))
        .unwrap();
    let priv_i = lab
        .instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some("CloudNetaPrivateEC2"))
        .unwrap();
    assert!(pub_i.public_ip.is_some());
    assert!(priv_i.public_ip.is_none());
    assert!(public.cidr.contains(&pub_i.private_ip) && private.cidr.contains(&priv_i.private_ip));
    assert!(priv_i
        .user_data
        .as_deref()
        .unwrap()
        .contains("passwd --stdin root"));
    assert_eq!(priv_i.hostname, ip_hostname(priv_i.private_ip));
    assert!(priv_i
        .private_dns_name
        .ends_with(".ap-northeast-2.compute.internal"));
    // KeyName has no default in the seed: the lab key pair stands in.
    assert_eq!(
        pub_i.key_name.as_deref(),
        Some(vpclab::template::DEFAULT_KEY_NAME)
    );
    // The public route table has the IGW default route, the private one none.
    let prt = lab.route_table_for(&public.id).unwrap();
    let vrt = lab.route_table_for(&private.id).unwrap();
    assert!(prt
        .routes
        .iter()
        .any(|r| matches!(r.target, RouteTarget::InternetGateway(_))));
    assert!(!vrt
        .routes
        .iter()
        .any(|r| matches!(r.target, RouteTarget::InternetGateway(_))));
    // CloudFormation's tags.
    assert_eq!(
        vpc.tags.get("aws:cloudformation:logical-id"),
        Some("CloudNetaVPC")
    );
    assert_eq!(
        vpc.tags.get("aws:cloudformation:stack-name"),
        Some("vpclab")
    );
    assert_eq!(vpc.tags.name(), Some("CloudNeta-VPC"));
}

#[test]
fn ids_and_addresses_are_deterministic() {
    let a = load_file("templates/default.yaml");
    let b = load_file("templates/default.yaml");
    let key = |l: &Lab| {
        l.instances
            .iter()
            .map(|i| {
                (
                    i.id.to_string(),
                    i.private_ip,
                    i.public_ip,
                    l.eni(&i.eni).unwrap().mac,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
    let ids: Vec<String> = a.instances.iter().map(|i| i.id.to_string()).collect();
    let mut dedup = ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(ids.len(), dedup.len());
}

#[test]
fn pinned_addresses_are_reproduced_and_kept_free_of_allocation() {
    // Many unpinned instances and one pinned at the end: no automatic address takes the pin.
    let mut t = String::from("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}\n  S: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref V, CidrBlock: 10.0.1.0/28}}\n");
    for i in 0..10 {
        t.push_str(&format!(
            "  I{i}: {{Type: AWS::EC2::Instance, Properties: {{SubnetId: !Ref S}}}}\n"
        ));
    }
    t.push_str("  Pinned: {Type: AWS::EC2::Instance, Properties: {SubnetId: !Ref S, PrivateIpAddress: 10.0.1.9}}\n");
    let lab = load(&t).unwrap_or_else(|p| panic!("{p}"));
    let pinned = lab
        .instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some("Pinned"))
        .unwrap();
    assert_eq!(pinned.private_ip.to_string(), "10.0.1.9");
    let mut ips: Vec<_> = lab.instances.iter().map(|i| i.private_ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(
        ips.len(),
        11,
        "a /28 has 11 usable addresses, all used once"
    );
}

#[test]
fn intrinsics_evaluate_like_cloudformation() {
    let t = r#"
Parameters:
  Env: {Type: String, Default: lab, AllowedValues: [lab, prod]}
  Cidrs: {Type: CommaDelimitedList, Default: "10.9.0.0/24,10.9.1.0/24"}
Conditions:
  IsLab: !Equals [!Ref Env, lab]
  NotProd: !Not [!Equals [!Ref Env, prod]]
  Both: !And [!Condition IsLab, !Condition NotProd]
Mappings:
  Sizes: {lab: {Type: t3.micro}}
Resources:
  V:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: !Select [0, !Cidr [10.9.0.0/16, 1, 16]]
      Tags: [{Key: Name, Value: !Join ['-', [!Ref Env, !Ref 'AWS::Region', vpc]]}]
  S:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !GetAtt V.VpcId
      CidrBlock: !Select [1, !Ref Cidrs]
      AvailabilityZone: !Select [1, Fn::GetAZs: !Ref 'AWS::Region']
      Tags: [{Key: Name, Value: !Sub ['${Prefix}-${AWS::StackName}-${V}', {Prefix: !If [Both, yes, no]}]}]
  Never:
    Type: AWS::EC2::Subnet
    Condition: IsProd
    Properties: {VpcId: !Ref V, CidrBlock: 10.9.2.0/24}
  I:
    Type: AWS::EC2::Instance
    Properties:
      SubnetId: !Ref S
      InstanceType: !FindInMap [Sizes, !Ref Env, Type]
      UserData: !Base64 "echo ${!not-substituted}"
      KeyName: !If [IsLab, !Ref 'AWS::NoValue', mykey]
Outputs:
  Ip: {Value: !GetAtt I.PrivateIp}
  Az: {Value: !GetAtt S.AvailabilityZone}
  Fourth: {Value: !Select [3, !Cidr [10.9.0.0/16, 4, 8]]}
"#
    .replace("Condition: IsProd", "Condition: NotLab")
    .replace("  Both: !And", "  NotLab: !Not [!Condition IsLab]\n  Both: !And");
    let lab = load(&t).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(lab.vpcs[0].cidr.to_string(), "10.9.0.0/16");
    assert_eq!(
        lab.outputs
            .iter()
            .find(|o| o.key == "Fourth")
            .unwrap()
            .value,
        "10.9.3.0/24"
    );
    assert_eq!(lab.vpcs[0].tags.name(), Some("lab-ap-northeast-2-vpc"));
    assert_eq!(
        lab.subnets.len(),
        1,
        "the conditional subnet is not created"
    );
    assert_eq!(lab.subnets[0].cidr.to_string(), "10.9.1.0/24");
    assert_eq!(lab.subnets[0].availability_zone, "ap-northeast-2b");
    assert_eq!(
        lab.subnets[0].tags.name(),
        Some(format!("yes-vpclab-{}", lab.vpcs[0].id).as_str())
    );
    let i = &lab.instances[0];
    assert_eq!(i.instance_type, "t3.micro");
    assert_eq!(i.key_name, None, "AWS::NoValue removes the property");
    assert_eq!(
        i.user_data.as_deref(),
        Some("echo ${!not-substituted}"),
        "Fn::Base64 of a plain string keeps ${{!…}} as is"
    );
    assert_eq!(
        lab.outputs.iter().find(|o| o.key == "Ip").unwrap().value,
        i.private_ip.to_string()
    );
    assert_eq!(
        lab.outputs.iter().find(|o| o.key == "Az").unwrap().value,
        "ap-northeast-2b"
    );
}

#[test]
fn sub_escapes_and_json_templates() {
    let t = r#"{"Resources": {"V": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16",
      "Tags": [{"Key": "Name", "Value": {"Fn::Sub": "${!Literal}-${AWS::Region}"}}]}}}}"#;
    let lab = load(t).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(lab.vpcs[0].tags.name(), Some("${Literal}-ap-northeast-2"));
}

#[test]
fn us_east_1_uses_its_own_catalog() {
    let text =
        std::fs::read_to_string(root().join("templates/seed2-gateway-endpoint.yaml")).unwrap();
    let opts = vpclab::template::Options {
        region: "us-east-1".into(),
        ..Default::default()
    };
    let lab = vpclab::template::load(&text, &opts).unwrap();
    assert_eq!(lab.subnets[1].availability_zone, "us-east-1c");
    assert!(lab.instances[0].private_dns_name.ends_with(".ec2.internal"));
    assert_eq!(
        lab.vpc_endpoints[0].service_name,
        "com.amazonaws.us-east-1.s3"
    );
    assert!(lab.route_tables.iter().any(|r| r.routes.iter().any(
        |x| x.destination == Destination::PrefixList(PrefixListId::from_catalog("pl-63a5400a"))
    )));
}

#[test]
fn unknown_region_and_unknown_parameter_are_errors() {
    let (code, _, err) = vpclab(&[
        "validate",
        "templates/seed2-gateway-endpoint.yaml",
        "--region",
        "mars-1",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("mars-1") && err.contains("ap-northeast-2"),
        "{err}"
    );
    let (code, _, err) = vpclab(&[
        "validate",
        "templates/seed2-gateway-endpoint.yaml",
        "--parameter",
        "Nope=1",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("Nope") && err.contains("KeyName"), "{err}");
    let (code, out, _) = vpclab(&[
        "validate",
        "templates/seed2-gateway-endpoint.yaml",
        "--parameter",
        "KeyName=mine",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn instance_metadata_options_are_read_with_ec2_defaults() {
    let text =
        std::fs::read_to_string(root().join("templates/seed2-gateway-endpoint.yaml")).unwrap();
    let lab = vpclab::template::load(&text, &Default::default()).unwrap();
    let d = lab.instances[0].metadata_options;
    assert!(!d.http_tokens_required && d.http_endpoint_enabled);
    assert_eq!(d.http_put_response_hop_limit, 1);

    let with = |opts: &str| {
        text.replacen(
            "      InstanceType: t2.micro\n",
            &format!("      InstanceType: t2.micro\n      MetadataOptions: {opts}\n"),
            1,
        )
    };
    let lab = vpclab::template::load(
        &with("{HttpTokens: required, HttpPutResponseHopLimit: 2}"),
        &Default::default(),
    )
    .unwrap();
    let o = lab.instances[0].metadata_options;
    assert!(o.http_tokens_required);
    assert_eq!(o.http_put_response_hop_limit, 2);

    let problems = vpclab::template::load(&with("{HttpTokens: always}"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        problems.contains("HttpTokens") && problems.contains("required"),
        "{problems}"
    );
    let problems =
        vpclab::template::load(&with("{HttpPutResponseHopLimit: 65}"), &Default::default())
            .unwrap_err()
            .to_string();
    assert!(problems.contains("1 to 64"), "{problems}");
}
