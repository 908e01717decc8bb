//! Instances (one network interface each) and Elastic IPs.
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means.

use super::*;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[
    Row {
        ty: "AWS::EC2::Instance",
        properties: &[
            "ImageId",
            "InstanceType",
            "KeyName",
            "SubnetId",
            "SecurityGroupIds",
            "SecurityGroups",
            "PrivateIpAddress",
            "NetworkInterfaces",
            "UserData",
            "Tags",
            "SourceDestCheck",
            "AvailabilityZone",
            "IamInstanceProfile",
            "Monitoring",
            "EbsOptimized",
            "BlockDeviceMappings",
            "DisableApiTermination",
            "InstanceInitiatedShutdownBehavior",
            "MetadataOptions",
            "CreditSpecification",
            "Tenancy",
            "PropagateTagsToVolumeOnCreation",
        ],
        build: instance,
    },
    Row {
        ty: "AWS::EC2::EIP",
        properties: &["Domain", "InstanceId", "Tags", "NetworkBorderGroup"],
        build: eip,
    },
];

fn instance(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let instance_type = b
        .opt_str(p, "InstanceType")?
        .unwrap_or_else(|| "m1.small".into());
    let image_id = b.opt_str(p, "ImageId")?;
    let key_name = b.opt_str(p, "KeyName")?;
    let (subnet, sgs, pinned, assoc_public) = match p.get("NetworkInterfaces") {
        Some(Node { v: V::Seq(nis), .. }) => {
            if p.get("SubnetId").is_some() || p.get("SecurityGroupIds").is_some() {
                b.report("BadInstance", p.at("NetworkInterfaces"), "both NetworkInterfaces and SubnetId/SecurityGroupIds are given".into(), "with NetworkInterfaces, the subnet and security groups go inside the interface", "move SubnetId and the groups into the NetworkInterfaces entry (GroupSet)");
                return Err(Failed);
            }
            if nis.len() != 1 {
                b.report(
                    "Unsupported",
                    p.at("NetworkInterfaces"),
                    format!(
                        "{} network interfaces are given; vpclab emulates one per instance",
                        nis.len()
                    ),
                    "vpclab gives each instance one network interface (device index 0)",
                    "keep only the interface with DeviceIndex 0",
                );
                return Err(Failed);
            }
            let ni = p.item(&nis[0]);
            let dev = b.opt_str(&ni, "DeviceIndex")?.unwrap_or_default();
            if dev != "0" {
                b.report(
                    "BadInstance",
                    ni.at("DeviceIndex"),
                    format!("DeviceIndex is '{dev}'"),
                    "the primary network interface has DeviceIndex 0",
                    "set DeviceIndex: 0",
                );
                return Err(Failed);
            }
            if ni.get("NetworkInterfaceId").is_some() {
                b.report(
                    "Unsupported",
                    ni.at("NetworkInterfaceId"),
                    "attaching an existing network interface is not emulated".into(),
                    "vpclab creates each instance's interface",
                    "give SubnetId and GroupSet instead",
                );
                return Err(Failed);
            }
            let subnet = b.subnet_id(&ni, "SubnetId")?;
            let sgs = b.sg_ids(&ni, "GroupSet")?;
            let pinned = b.opt_ip(&ni, "PrivateIpAddress")?;
            let assoc = match b.opt_str(&ni, "AssociatePublicIpAddress")? {
                Some(_) => Some(b.opt_bool(&ni, "AssociatePublicIpAddress", false)?),
                None => None,
            };
            (subnet, sgs, pinned, assoc)
        }
        Some(n) => {
            b.report(
                "BadPropertyType",
                p.at("NetworkInterfaces"),
                format!("NetworkInterfaces is {}, not a list", n.kind()),
                "NetworkInterfaces is a list of interfaces",
                "write it as a list",
            );
            return Err(Failed);
        }
        None => {
            if p.get("SubnetId").is_none() {
                b.report("MissingProperty", p.origin.clone(), "the instance names no subnet".into(), "an instance in a VPC is launched into a subnet (SubnetId, or NetworkInterfaces[0].SubnetId); a lab has no default VPC", "add SubnetId: !Ref YourSubnet");
                return Err(Failed);
            }
            let subnet = b.subnet_id(p, "SubnetId")?;
            let mut sgs = b.sg_ids(p, "SecurityGroupIds")?;
            for name in b.str_list(p, "SecurityGroups")? {
                let vpc = b
                    .lab
                    .subnet(&subnet)
                    .expect("subnet_id found the subnet in the lab")
                    .vpc
                    .clone();
                match b
                    .lab
                    .security_groups
                    .iter()
                    .find(|g| g.vpc == vpc && (g.group_name == name || g.id.as_str() == name))
                {
                    Some(g) => sgs.push(g.id.clone()),
                    None => {
                        b.report(
                            "UnknownResourceId",
                            p.at("SecurityGroups"),
                            format!("no security group of the subnet's VPC is named '{name}'"),
                            "SecurityGroups names groups by GroupName",
                            "use SecurityGroupIds with !Ref",
                        );
                        return Err(Failed);
                    }
                }
            }
            let pinned = b.opt_ip(p, "PrivateIpAddress")?;
            (subnet, sgs, pinned, None)
        }
    };
    let sub = b
        .lab
        .subnet(&subnet)
        .expect("subnet_id found the subnet in the lab")
        .clone();
    let vpc = b
        .lab
        .vpc(&sub.vpc)
        .expect("a subnet is built only into a VPC of the lab")
        .clone();
    let sgs = if sgs.is_empty() {
        vec![vpc.default_security_group.clone()]
    } else {
        sgs
    };
    for g in &sgs {
        let gv = &b
            .lab
            .security_group(g)
            .expect("sg_ids found the group in the lab, or it is the VPC default")
            .vpc;
        if gv != &vpc.id {
            let gname = b.lab.label(Kind::SecurityGroup, g.as_str());
            b.report(
                "SgOtherVpc",
                p.origin.clone(),
                format!(
                    "security group {gname} is not in the instance's VPC {}",
                    vpc.origin.name()
                ),
                "an instance's security groups belong to the VPC of its subnet",
                "use security groups of the subnet's VPC",
            );
            return Err(Failed);
        }
    }
    let private_ip = b.private_ip(p, &sub.id, pinned, &format!("instance/{logical}"))?;
    let public_ip = assoc_public
        .unwrap_or(sub.map_public_ip_on_launch)
        .then(|| b.public_ip(&format!("instance/{logical}")));
    let user_data = match b.opt_str(p, "UserData")? {
        None => None,
        Some(b64) => {
            match base64::engine::general_purpose::STANDARD.decode(b64.trim().as_bytes()) {
                Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Err(_) => {
                    b.report(
                        "UserDataNotBase64",
                        p.at("UserData"),
                        "UserData is not base64".into(),
                        "an instance's UserData is base64-encoded",
                        "wrap the script in Fn::Base64 (Fn::Base64: !Sub | …)",
                    );
                    return Err(Failed);
                }
            }
        }
    };
    if user_data.as_ref().is_some_and(|u| u.len() > 16 * 1024) {
        b.report(
            "UserDataTooLarge",
            p.at("UserData"),
            "UserData is over 16 KB".into(),
            "user data is limited to 16 KB before base64 encoding",
            "shorten the script",
        );
        return Err(Failed);
    }
    let metadata_options = metadata_options(b, p)?;
    let id = InstanceId::generate(logical);
    let eni_id = EniId::generate(&format!("{logical}/eth0"));
    let hostname = ip_hostname(private_ip);
    let region = b.ctx.region;
    let private_dns_name = format!("{hostname}.{}", region.private_dns_suffix);
    let public_dns_name = match public_ip {
        Some(ip) if vpc.enable_dns_hostnames => public_hostname(ip, region),
        _ => String::new(),
    };
    let source_dest_check = b.opt_bool(p, "SourceDestCheck", true)?;
    b.lab.network_interfaces.push(NetworkInterface {
        id: eni_id.clone(),
        subnet: sub.id.clone(),
        vpc: vpc.id.clone(),
        mac: Mac::generate(eni_id.as_str()),
        private_ip,
        public_ip,
        security_groups: sgs.clone(),
        owner: EniOwner::Instance(id.clone()),
        description: String::new(),
        requester_managed: false,
        source_dest_check,
    });
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.instances.push(Instance {
        id: id.clone(),
        eni: eni_id,
        subnet: sub.id.clone(),
        vpc: vpc.id.clone(),
        private_ip,
        public_ip,
        security_groups: sgs,
        availability_zone: sub.availability_zone.clone(),
        hostname,
        private_dns_name: private_dns_name.clone(),
        public_dns_name: public_dns_name.clone(),
        image_id,
        instance_type,
        key_name,
        user_data,
        metadata_options,
        tags,
        origin: p.origin.clone(),
    });
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert(
        "AvailabilityZone".into(),
        Node::scalar(&sub.availability_zone, l),
    );
    atts.insert("InstanceId".into(), Node::scalar(id.to_string(), l));
    atts.insert("PrivateDnsName".into(), Node::scalar(private_dns_name, l));
    atts.insert("PrivateIp".into(), Node::scalar(private_ip.to_string(), l));
    atts.insert("PublicDnsName".into(), Node::scalar(public_dns_name, l));
    atts.insert(
        "PublicIp".into(),
        Node::scalar(public_ip.map(|i| i.to_string()).unwrap_or_default(), l),
    );
    Ok(Built {
        ref_value: id.to_string(),
        atts,
    })
}

fn eip(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let instance = match b.opt_str(p, "InstanceId")? {
        Some(v) => Some(b.typed_id(p, "InstanceId", Kind::Instance, &v, InstanceId::parse)?),
        None => None,
    };
    let ip = b.public_ip(&format!("eip/{logical}"));
    let alloc = EipAllocId::generate(logical);
    if let Some(i) = &instance {
        let region = b.ctx.region;
        let inst = b
            .lab
            .instances
            .iter_mut()
            .find(|x| &x.id == i)
            .expect("typed_id found the instance in the lab");
        inst.public_ip = Some(ip);
        let eni = inst.eni.clone();
        let vpc = inst.vpc.clone();
        let hostnames = b.lab.vpc(&vpc).is_some_and(|v| v.enable_dns_hostnames);
        let inst = b
            .lab
            .instances
            .iter_mut()
            .find(|x| &x.id == i)
            .expect("typed_id found the instance in the lab");
        inst.public_dns_name = if hostnames {
            public_hostname(ip, region)
        } else {
            String::new()
        };
        if let Some(e) = b.lab.network_interfaces.iter_mut().find(|e| e.id == eni) {
            e.public_ip = Some(ip);
        }
    }
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.elastic_ips.push(ElasticIp {
        allocation_id: alloc.clone(),
        public_ip: ip,
        instance,
        tags,
        origin: p.origin.clone(),
    });
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert("AllocationId".into(), Node::scalar(alloc.to_string(), l));
    atts.insert("PublicIp".into(), Node::scalar(ip.to_string(), l));
    Ok(Built {
        ref_value: ip.to_string(),
        atts,
    })
}

/// `MetadataOptions` of an instance: HttpTokens, HttpPutResponseHopLimit, HttpEndpoint.
fn metadata_options(b: &mut Builder<'_>, p: &Props) -> R<MetadataOptions> {
    let mut o = MetadataOptions::default();
    let Some(node) = p.get("MetadataOptions") else {
        return Ok(o);
    };
    let m = p.item(node);
    let choice = |b: &mut Builder<'_>, k: &str, on: &str, off: &str| -> R<Option<bool>> {
        b.choice(&m, k, None, &[(on, Some(true)), (off, Some(false))], |v| {
            Complaint::new(
                "BadPropertyValue",
                format!("MetadataOptions {k} is '{v}'"),
                format!("{k} is '{on}' or '{off}'"),
                format!("write {k}: {on} or {k}: {off}"),
            )
        })
    };
    if let Some(required) = choice(b, "HttpTokens", "required", "optional")? {
        o.http_tokens_required = required;
    }
    if let Some(enabled) = choice(b, "HttpEndpoint", "enabled", "disabled")? {
        o.http_endpoint_enabled = enabled;
    }
    if let Some(h) = b.opt_int(&m, "HttpPutResponseHopLimit")? {
        match u8::try_from(h) {
            Ok(h @ 1..=64) => o.http_put_response_hop_limit = h,
            _ => {
                b.report(
                    "BadPropertyValue",
                    m.at("HttpPutResponseHopLimit"),
                    format!("MetadataOptions HttpPutResponseHopLimit is {h}"),
                    "the hop limit of IMDSv2 token replies is 1 to 64",
                    "write a number from 1 to 64 (1 is EC2's default)",
                );
                return Err(Failed);
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};

    #[test]
    fn an_instance_gets_an_interface_an_address_and_an_eip() {
        let lab = lab("  I:\n    Type: AWS::EC2::Instance\n    Properties:\n      SubnetId: !Ref S\n      PrivateIpAddress: 10.0.1.10\n      MetadataOptions: {HttpTokens: required}\n  P:\n    Type: AWS::EC2::EIP\n    Properties:\n      InstanceId: !Ref I\n");
        let i = &lab.instances[0];
        assert_eq!(i.private_ip.to_string(), "10.0.1.10");
        assert_eq!(
            i.security_groups,
            vec![lab.vpcs[0].default_security_group.clone()]
        );
        assert!(i.metadata_options.http_tokens_required);
        assert_eq!(i.public_ip, Some(lab.elastic_ips[0].public_ip));
        assert_eq!(lab.network_interfaces.len(), 1);
    }

    #[test]
    fn a_bad_metadata_option_or_address_is_reported_with_the_logical_id() {
        let p = problem("  I:\n    Type: AWS::EC2::Instance\n    Properties:\n      SubnetId: !Ref S\n      MetadataOptions: {HttpTokens: sometimes}\n", "I");
        assert_eq!(p.code, "BadPropertyValue");
        assert_eq!(p.message, "MetadataOptions HttpTokens is 'sometimes'");
        assert_eq!(p.fix, "write HttpTokens: required or HttpTokens: optional");
        let p = problem("  I:\n    Type: AWS::EC2::Instance\n    Properties:\n      SubnetId: !Ref S\n      PrivateIpAddress: 10.0.1\n", "I");
        assert_eq!(p.code, "BadPropertyType");
        assert_eq!(
            p.message,
            "PrivateIpAddress '10.0.1' is not an IPv4 address"
        );
    }
}
