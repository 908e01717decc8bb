//! VPCs and what hangs off them directly: subnets, internet gateways and their attachments.
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means.

use super::*;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[
    Row {
        ty: "AWS::EC2::VPC",
        properties: &[
            "CidrBlock",
            "EnableDnsSupport",
            "EnableDnsHostnames",
            "InstanceTenancy",
            "Tags",
        ],
        build: vpc,
    },
    Row {
        ty: "AWS::EC2::Subnet",
        properties: &[
            "VpcId",
            "CidrBlock",
            "AvailabilityZone",
            "AvailabilityZoneId",
            "MapPublicIpOnLaunch",
            "Tags",
            "PrivateDnsNameOptionsOnLaunch",
        ],
        build: subnet,
    },
    Row {
        ty: "AWS::EC2::InternetGateway",
        properties: &["Tags"],
        build: igw,
    },
    Row {
        ty: "AWS::EC2::VPCGatewayAttachment",
        properties: &["VpcId", "InternetGatewayId", "VpnGatewayId"],
        build: gateway_attachment,
    },
];

fn vpc(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let cidr_s = b.req_str(p, "CidrBlock")?;
    let cidr = b.cidr(p.at("CidrBlock"), "CidrBlock", &cidr_s)?;
    let dns_support = b.opt_bool(p, "EnableDnsSupport", true)?;
    let dns_hostnames = b.opt_bool(p, "EnableDnsHostnames", false)?;
    if dns_hostnames && !dns_support {
        b.report(
            "DnsHostnamesWithoutSupport",
            p.at("EnableDnsHostnames"),
            "EnableDnsHostnames is true but EnableDnsSupport is false".into(),
            "DNS hostnames can be enabled only when DNS support is enabled",
            "set EnableDnsSupport: true, or EnableDnsHostnames: false",
        );
    }
    let id = VpcId::generate(logical);
    let main_rt = RouteTableId::generate(&format!("{logical}/main"));
    let sg = SgId::generate(&format!("{logical}/default"));
    let acl = AclId::generate(&format!("{logical}/default"));
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    let implicit = Origin {
        logical_id: None,
        resource_type: None,
        line: p.origin.line,
    };
    b.lab.vpcs.push(Vpc {
        id: id.clone(),
        cidr,
        enable_dns_support: dns_support,
        enable_dns_hostnames: dns_hostnames,
        main_route_table: main_rt.clone(),
        default_security_group: sg.clone(),
        default_network_acl: acl.clone(),
        tags,
        origin: p.origin.clone(),
    });
    b.lab.route_tables.push(RouteTable {
        id: main_rt,
        vpc: id.clone(),
        main: true,
        main_association: Some(RouteTableAssociationId::generate(&format!(
            "{logical}/main"
        ))),
        routes: vec![local_route(cidr, &implicit)],
        associations: vec![],
        tags: Tags::default(),
        origin: implicit.clone(),
    });
    let all = |dir: &str, peer: Peer| SgRule {
        id: SgRuleId::generate(&format!("{logical}/default/{dir}")),
        protocol: Protocol::All,
        from_port: None,
        to_port: None,
        peer,
        description: None,
        origin: implicit.clone(),
    };
    b.lab.security_groups.push(SecurityGroup {
        id: sg.clone(),
        vpc: id.clone(),
        group_name: "default".into(),
        description: "default VPC security group".into(),
        ingress: vec![all("in", Peer::Group(sg.clone()))],
        egress: vec![all("out", Peer::Cidr(ANY))],
        tags: Tags::default(),
        origin: implicit.clone(),
    });
    b.lab.network_acls.push(NetworkAcl {
        id: acl.clone(),
        vpc: id.clone(),
        is_default: true,
        entries: default_acl_entries(true, &implicit),
        associations: vec![],
        tags: Tags::default(),
        origin: implicit,
    });
    let mut atts = BTreeMap::new();
    let l = p.origin.line.unwrap_or(0);
    atts.insert("CidrBlock".into(), Node::scalar(cidr.to_string(), l));
    atts.insert(
        "CidrBlockAssociations".into(),
        Node {
            v: V::Seq(vec![Node::scalar(
                format!("vpc-cidr-assoc-{}", hex_digits(logical, 17)),
                l,
            )]),
            line: l,
        },
    );
    atts.insert(
        "DefaultSecurityGroup".into(),
        Node::scalar(sg.to_string(), l),
    );
    atts.insert("DefaultNetworkAcl".into(), Node::scalar(acl.to_string(), l));
    atts.insert(
        "Ipv6CidrBlocks".into(),
        Node {
            v: V::Seq(vec![]),
            line: l,
        },
    );
    atts.insert("VpcId".into(), Node::scalar(id.to_string(), l));
    Ok(Built {
        ref_value: id.to_string(),
        atts,
    })
}

fn subnet(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let vpc = b.vpc_id(p, "VpcId")?;
    let cidr_s = b.req_str(p, "CidrBlock")?;
    let cidr = b.cidr(p.at("CidrBlock"), "CidrBlock", &cidr_s)?;
    let region = b.ctx.region;
    let az = match b.opt_str(p, "AvailabilityZone")? {
        Some(az) => {
            if !region.azs.contains(&az.as_str()) {
                b.report(
                    "UnknownAvailabilityZone",
                    p.at("AvailabilityZone"),
                    format!("AvailabilityZone '{az}' is not in {}", region.name),
                    "a subnet lives in one Availability Zone of the stack's region",
                    &format!(
                        "use one of {} (or !Select [0, !GetAZs ''])",
                        region.azs.join(", ")
                    ),
                );
                return Err(Failed);
            }
            az
        }
        None => {
            // AWS picks one; vpclab picks deterministically.
            let i = usize::from(crate::model::ids::digest(logical)[0]) % region.azs.len();
            region.azs[i].to_string()
        }
    };
    let map_public = b.opt_bool(p, "MapPublicIpOnLaunch", false)?;
    let id = SubnetId::generate(logical);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.subnets.push(Subnet {
        id: id.clone(),
        vpc: vpc.clone(),
        cidr,
        availability_zone: az.clone(),
        map_public_ip_on_launch: map_public,
        tags,
        origin: p.origin.clone(),
    });
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert("AvailabilityZone".into(), Node::scalar(&az, l));
    atts.insert(
        "AvailabilityZoneId".into(),
        Node::scalar(region.az_id(&az).unwrap_or(""), l),
    );
    atts.insert("CidrBlock".into(), Node::scalar(cidr.to_string(), l));
    atts.insert(
        "Ipv6CidrBlocks".into(),
        Node {
            v: V::Seq(vec![]),
            line: l,
        },
    );
    atts.insert(
        "NetworkAclAssociationId".into(),
        Node::scalar(
            AclAssociationId::generate(&format!("{logical}/default")).to_string(),
            l,
        ),
    );
    atts.insert("SubnetId".into(), Node::scalar(id.to_string(), l));
    atts.insert("VpcId".into(), Node::scalar(vpc.to_string(), l));
    Ok(Built {
        ref_value: id.to_string(),
        atts,
    })
}

fn igw(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let id = IgwId::generate(logical);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.internet_gateways.push(InternetGateway {
        id: id.clone(),
        attachment: None,
        tags,
        origin: p.origin.clone(),
        attachment_origin: None,
    });
    Ok(Built::new(id.to_string()).att("InternetGatewayId", id.to_string(), p.origin.line))
}

fn gateway_attachment(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    if p.get("VpnGatewayId").is_some() {
        b.report(
            "Unsupported",
            p.at("VpnGatewayId"),
            "virtual private gateways (VPN) are not emulated".into(),
            "vpclab emulates internet gateways; VPN gateways are not part of it",
            "remove the VPN gateway, or attach an internet gateway",
        );
        return Err(Failed);
    }
    let vpc = b.vpc_id(p, "VpcId")?;
    let igw_id = b.req_typed_id(p, "InternetGatewayId", Kind::InternetGateway, IgwId::parse)?;
    let igw_s = igw_id.to_string();
    let igw = b
        .lab
        .internet_gateways
        .iter_mut()
        .find(|g| g.id == igw_id)
        .expect("req_typed_id found the gateway in the lab");
    if let Some(other) = &igw.attachment {
        let other = other.clone();
        b.report(
            "IgwAttachedTwice",
            p.origin.clone(),
            format!("internet gateway {igw_s} is already attached to {other}"),
            "an internet gateway attaches to one VPC at a time",
            "create one internet gateway per VPC",
        );
        return Err(Failed);
    }
    igw.attachment = Some(vpc);
    igw.attachment_origin = Some(p.origin.clone());
    Ok(Built::new(format!("{}-{}", b.ctx.stack_name, logical)))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};

    #[test]
    fn a_vpc_comes_with_its_defaults_and_an_igw_attaches() {
        let lab = lab("  G:\n    Type: AWS::EC2::InternetGateway\n  A:\n    Type: AWS::EC2::VPCGatewayAttachment\n    Properties:\n      VpcId: !Ref V\n      InternetGatewayId: !Ref G\n");
        assert_eq!(lab.vpcs.len(), 1);
        assert_eq!(lab.vpcs[0].cidr.to_string(), "10.0.0.0/16");
        assert!(lab.route_tables.iter().any(|r| r.main));
        assert_eq!(lab.security_groups[0].group_name, "default");
        assert!(lab.network_acls[0].is_default);
        assert_eq!(lab.subnets.len(), 1);
        assert_eq!(
            lab.internet_gateways[0].attachment.as_ref(),
            Some(&lab.vpcs[0].id)
        );
    }

    #[test]
    fn a_bad_value_or_unknown_property_is_reported_with_the_logical_id() {
        let p = problem(
            "  W:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: ten\n",
            "W",
        );
        assert_eq!(p.code, "BadCidr");
        assert_eq!(p.message, "CidrBlock 'ten' is not an IPv4 CIDR block");
        let p = problem(
            "  W:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.9.0.0/16\n      EnableDnsSupport: maybe\n",
            "W",
        );
        assert_eq!(p.code, "BadPropertyType");
        assert_eq!(p.message, "EnableDnsSupport is 'maybe', not true or false");
        let p = problem(
            "  G:\n    Type: AWS::EC2::InternetGateway\n    Properties:\n      VpcId: !Ref V\n",
            "G",
        );
        assert_eq!(p.code, "UnknownProperty");
        assert_eq!(p.message, "AWS::EC2::InternetGateway has no property VpcId");
    }
}
