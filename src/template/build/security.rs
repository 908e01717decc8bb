//! Security groups and their rules (inline and standalone), network ACLs, their entries and associations.
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means.

use super::*;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[
    Row {
        ty: "AWS::EC2::SecurityGroup",
        properties: &[
            "GroupDescription",
            "GroupName",
            "VpcId",
            "SecurityGroupIngress",
            "SecurityGroupEgress",
            "Tags",
        ],
        build: security_group,
    },
    Row {
        ty: "AWS::EC2::SecurityGroupIngress",
        properties: &[
            "GroupId",
            "GroupName",
            "IpProtocol",
            "FromPort",
            "ToPort",
            "CidrIp",
            "CidrIpv6",
            "SourceSecurityGroupId",
            "SourceSecurityGroupName",
            "SourceSecurityGroupOwnerId",
            "SourcePrefixListId",
            "Description",
        ],
        build: ingress_rule,
    },
    Row {
        ty: "AWS::EC2::SecurityGroupEgress",
        properties: &[
            "GroupId",
            "IpProtocol",
            "FromPort",
            "ToPort",
            "CidrIp",
            "CidrIpv6",
            "DestinationSecurityGroupId",
            "DestinationPrefixListId",
            "Description",
        ],
        build: egress_rule,
    },
    Row {
        ty: "AWS::EC2::NetworkAcl",
        properties: &["VpcId", "Tags"],
        build: network_acl,
    },
    Row {
        ty: "AWS::EC2::NetworkAclEntry",
        properties: &[
            "NetworkAclId",
            "RuleNumber",
            "Protocol",
            "RuleAction",
            "Egress",
            "CidrBlock",
            "Ipv6CidrBlock",
            "PortRange",
            "Icmp",
        ],
        build: acl_entry,
    },
    Row {
        ty: "AWS::EC2::SubnetNetworkAclAssociation",
        properties: &["SubnetId", "NetworkAclId"],
        build: acl_association,
    },
];

fn security_group(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let description = b.req_str(p, "GroupDescription")?;
    if p.get("VpcId").is_none() {
        b.report(
            "MissingProperty",
            p.origin.clone(),
            "VpcId is missing: the group would go to the default VPC, which a lab does not have"
                .into(),
            "a security group belongs to one VPC",
            "add VpcId: !Ref YourVPC",
        );
        return Err(Failed);
    }
    let vpc = b.vpc_id(p, "VpcId")?;
    let id = SgId::generate(logical);
    let group_name = b.opt_str(p, "GroupName")?.unwrap_or_else(|| {
        format!(
            "{}-{}-{}",
            b.ctx.stack_name,
            logical,
            hex_digits(logical, 12).to_uppercase()
        )
    });
    if group_name.starts_with("sg-") {
        b.report(
            "BadPropertyType",
            p.at("GroupName"),
            format!("GroupName '{group_name}' starts with sg-"),
            "a security group's name cannot start with sg-",
            "pick another name",
        );
    }
    // The group must exist before its own rules can name it; rules are added after.
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.security_groups.push(SecurityGroup {
        id: id.clone(),
        vpc: vpc.clone(),
        group_name: group_name.clone(),
        description,
        ingress: vec![],
        egress: vec![],
        tags,
        origin: p.origin.clone(),
    });
    let ingress = rules_list(b, p, "SecurityGroupIngress", false, logical);
    let egress = rules_list(b, p, "SecurityGroupEgress", true, logical);
    let implicit = Origin {
        logical_id: p.origin.logical_id.clone(),
        resource_type: p.origin.resource_type.clone(),
        line: p.origin.line,
    };
    let (ingress, egress) = match (ingress, egress) {
        (Ok(i), Ok(e)) => (
            i.unwrap_or_default(),
            e.unwrap_or_else(|| {
                vec![SgRule {
                    id: SgRuleId::generate(&format!("{logical}/egress/default")),
                    protocol: Protocol::All,
                    from_port: None,
                    to_port: None,
                    peer: Peer::Cidr(ANY),
                    description: None,
                    origin: implicit,
                }]
            }),
        ),
        _ => {
            b.lab.security_groups.retain(|g| g.id != id);
            return Err(Failed);
        }
    };
    let g = b
        .lab
        .security_groups
        .iter_mut()
        .find(|g| g.id == id)
        .expect("the group was pushed above and only removed on failure");
    g.ingress = ingress;
    g.egress = egress;
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert("GroupId".into(), Node::scalar(id.to_string(), l));
    atts.insert("GroupName".into(), Node::scalar(group_name, l));
    atts.insert("VpcId".into(), Node::scalar(vpc.to_string(), l));
    Ok(Built {
        ref_value: id.to_string(),
        atts,
    })
}

fn ingress_rule(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    standalone_rule(b, p, logical, false)
}

fn egress_rule(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    standalone_rule(b, p, logical, true)
}

fn network_acl(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let vpc = b.vpc_id(p, "VpcId")?;
    let id = AclId::generate(logical);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    let implicit = Origin {
        logical_id: None,
        resource_type: None,
        line: p.origin.line,
    };
    b.lab.network_acls.push(NetworkAcl {
        id: id.clone(),
        vpc,
        is_default: false,
        entries: default_acl_entries(false, &implicit),
        associations: vec![],
        tags,
        origin: p.origin.clone(),
    });
    Ok(Built::new(id.to_string()).att("Id", id.to_string(), p.origin.line))
}

fn acl_entry(b: &mut Builder<'_>, p: &Props, _logical: &str) -> R<Built> {
    let acl = b.req_typed_id(p, "NetworkAclId", Kind::NetworkAcl, AclId::parse)?;
    let number = b.req_int(p, "RuleNumber")?;
    let proto_s = b.req_str(p, "Protocol")?;
    let Some(protocol) = Protocol::parse(&proto_s) else {
        b.report("BadAclEntry", p.at("Protocol"), format!("Protocol '{proto_s}' is not a protocol number"), "a network ACL entry's Protocol is a protocol number (6 TCP, 17 UDP, 1 ICMP) or -1 for all", "write 6, 17, 1 or -1");
        return Err(Failed);
    };
    let action = b.req_str(p, "RuleAction")?.to_ascii_lowercase();
    let actions = [("allow", RuleAction::Allow), ("deny", RuleAction::Deny)];
    let action = b.pick(p, "RuleAction", &action, &actions, |other| {
        Complaint::new(
            "BadAclEntry",
            format!("RuleAction '{other}' is neither allow nor deny"),
            "RuleAction is allow or deny",
            "write allow or deny",
        )
    })?;
    let egress = b.opt_bool(p, "Egress", false)?;
    if p.get("Ipv6CidrBlock").is_some() {
        b.report(
            "Unsupported",
            p.at("Ipv6CidrBlock"),
            "IPv6 entries are not emulated".into(),
            "vpclab emulates IPv4 VPC networking",
            "use CidrBlock",
        );
        return Err(Failed);
    }
    let c = b.req_str(p, "CidrBlock")?;
    let cidr = b.cidr(p.at("CidrBlock"), "CidrBlock", &c)?;
    let mut port_range = None;
    if matches!(protocol, Protocol::Tcp | Protocol::Udp) {
        let Some(pr) = p.get("PortRange") else {
            b.report(
                "BadAclEntry",
                p.origin.clone(),
                "a TCP or UDP entry needs PortRange".into(),
                "network ACL entries for TCP (6) and UDP (17) name a port range",
                "add PortRange: {From: 22, To: 22}",
            );
            return Err(Failed);
        };
        let pp = p.under("PortRange", pr);
        let (Some(from), Some(to)) = (b.opt_int(&pp, "From")?, b.opt_int(&pp, "To")?) else {
            b.report(
                "BadAclEntry",
                p.at("PortRange"),
                "PortRange needs From and To".into(),
                "a port range has From and To",
                "add From and To",
            );
            return Err(Failed);
        };
        if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) {
            b.report(
                "BadAclEntry",
                p.at("PortRange"),
                format!("PortRange {from}-{to} is outside 0–65535"),
                "ports run from 0 to 65535",
                "use ports from 0 to 65535",
            );
            return Err(Failed);
        }
        port_range = Some((from as u16, to as u16));
    }
    let mut icmp = None;
    if protocol == Protocol::Icmp {
        let (t, c) = match p.get("Icmp") {
            Some(n) => {
                let ip = p.under("Icmp", n);
                (
                    b.opt_int(&ip, "Type")?.unwrap_or(-1),
                    b.opt_int(&ip, "Code")?.unwrap_or(-1),
                )
            }
            None => (-1, -1),
        };
        icmp = Some((t.clamp(-1, 255) as i16, c.clamp(-1, 255) as i16));
    }
    let rule_number = u16::try_from(number).unwrap_or(0);
    let entry = AclEntry {
        rule_number,
        egress,
        action,
        protocol,
        cidr,
        port_range,
        icmp,
        origin: p.origin.clone(),
    };
    let a = b
        .lab
        .network_acls
        .iter_mut()
        .find(|a| a.id == acl)
        .expect("req_typed_id found the network ACL in the lab");
    a.entries.push(entry);
    a.entries.sort_by_key(|e| (e.egress, e.rule_number));
    Ok(Built::new(format!("{acl}|{number}|{egress}")))
}

fn acl_association(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let subnet = b.subnet_id(p, "SubnetId")?;
    let acl = b.req_typed_id(p, "NetworkAclId", Kind::NetworkAcl, AclId::parse)?;
    let id = AclAssociationId::generate(logical);
    let a = b
        .lab
        .network_acls
        .iter_mut()
        .find(|a| a.id == acl)
        .expect("req_typed_id found the network ACL in the lab");
    a.associations.push(AclAssociation {
        id: id.clone(),
        subnet,
        origin: p.origin.clone(),
    });
    Ok(Built::new(id.to_string()).att("AssociationId", id.to_string(), p.origin.line))
}

/// One rule from a rule mapping (inline or standalone).
fn sg_rule(b: &mut Builder<'_>, n: &Node, o: &Origin, egress: bool, seed: &str) -> R<SgRule> {
    let p = Props {
        node: n.clone(),
        origin: o.at(n.line),
    };
    let proto_s = b.req_str(&p, "IpProtocol")?;
    let Some(protocol) = Protocol::parse(&proto_s) else {
        b.report(
            "BadSgRule",
            p.at("IpProtocol"),
            format!("IpProtocol '{proto_s}' is not a protocol"),
            "IpProtocol is tcp, udp, icmp, icmpv6, -1 (all) or a protocol number 0–255",
            "write tcp, udp, icmp or -1",
        );
        return Err(Failed);
    };
    let from = b.opt_int(&p, "FromPort")?;
    let to = b.opt_int(&p, "ToPort")?;
    let (from, to) = if protocol.has_ports() {
        (
            from.map(|v| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
            to.map(|v| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
        )
    } else {
        (None, None)
    };
    let (cidr_k, group_k, pl_k) = if egress {
        (
            "CidrIp",
            "DestinationSecurityGroupId",
            "DestinationPrefixListId",
        )
    } else {
        ("CidrIp", "SourceSecurityGroupId", "SourcePrefixListId")
    };
    if p.get("CidrIpv6").is_some() {
        b.report(
            "Unsupported",
            p.at("CidrIpv6"),
            "IPv6 rules are not emulated".into(),
            "vpclab emulates IPv4 VPC networking",
            "remove the CidrIpv6 rule, or use CidrIp",
        );
        return Err(Failed);
    }
    let peers: Vec<&str> = [cidr_k, group_k, pl_k, "SourceSecurityGroupName"]
        .into_iter()
        .filter(|k| p.get(k).is_some())
        .collect();
    let peer = match peers.as_slice() {
        [k] if *k == cidr_k => {
            let c = b.req_str(&p, k)?;
            Peer::Cidr(b.cidr(p.at(k), k, &c)?)
        }
        [k] if *k == group_k => {
            let g = b.req_str(&p, k)?;
            Peer::Group(b.typed_id(&p, k, Kind::SecurityGroup, &g, SgId::parse)?)
        }
        [k] if *k == pl_k => {
            let pl = b.req_str(&p, k)?;
            if b.ctx.region.gateway_service_by_prefix_list(&pl).is_none() {
                b.report(
                    "UnknownPrefixList",
                    p.at(k),
                    format!(
                        "prefix list {pl} is not an AWS-managed prefix list of {}",
                        b.ctx.region.name
                    ),
                    "vpclab knows the AWS-managed S3 and DynamoDB prefix lists",
                    "use one of those prefix-list ids",
                );
                return Err(Failed);
            }
            Peer::PrefixList(PrefixListId::from_catalog(&pl))
        }
        [k] => {
            let name = b.req_str(&p, k)?;
            match b.lab.security_groups.iter().find(|g| g.group_name == name) {
                Some(g) => Peer::Group(g.id.clone()),
                None => {
                    b.report(
                        "UnknownResourceId",
                        p.at(k),
                        format!("no security group is named '{name}'"),
                        "SourceSecurityGroupName names a security group by its GroupName",
                        "use SourceSecurityGroupId with !Ref",
                    );
                    return Err(Failed);
                }
            }
        }
        _ => {
            b.report(
                "BadSgRule",
                p.origin.clone(),
                if peers.is_empty() {
                    "the rule names no peer".to_string()
                } else {
                    format!("the rule names several peers: {}", peers.join(", "))
                },
                &format!("a security group rule has exactly one of {cidr_k}, {group_k}, {pl_k}"),
                "keep exactly one",
            );
            return Err(Failed);
        }
    };
    let description = b.opt_str(&p, "Description")?;
    Ok(SgRule {
        id: SgRuleId::generate(seed),
        protocol,
        from_port: from,
        to_port: to,
        peer,
        description,
        origin: p.origin,
    })
}

fn rules_list(
    b: &mut Builder<'_>,
    p: &Props,
    k: &str,
    egress: bool,
    logical: &str,
) -> R<Option<Vec<SgRule>>> {
    match p.get(k) {
        None => Ok(None),
        Some(Node {
            v: V::Seq(items), ..
        }) => {
            let mut out = vec![];
            let mut ok = true;
            for (i, n) in items.iter().enumerate() {
                match sg_rule(b, n, &p.origin, egress, &format!("{logical}/{k}/{i}")) {
                    Ok(r) => out.push(r),
                    Err(Failed) => ok = false,
                }
            }
            if ok {
                Ok(Some(out))
            } else {
                Err(Failed)
            }
        }
        Some(n) => {
            b.report(
                "BadPropertyType",
                p.at(k),
                format!("{k} is {}, not a list of rules", n.kind()),
                &format!("{k} is a list of rules"),
                "write each rule as a list item",
            );
            Err(Failed)
        }
    }
}

fn standalone_rule(b: &mut Builder<'_>, p: &Props, logical: &str, egress: bool) -> R<Built> {
    if p.get("GroupId").is_none() {
        b.report(
            "MissingProperty",
            p.origin.clone(),
            "GroupId is required".into(),
            "a rule of a VPC security group names the group by GroupId",
            "add GroupId: !Ref YourSecurityGroup",
        );
        return Err(Failed);
    }
    let g = b.req_typed_id(p, "GroupId", Kind::SecurityGroup, SgId::parse)?;
    let mut rule_node = p.node.clone();
    if let V::Map(m) = &mut rule_node.v {
        m.retain(|(k, _, _)| k != "GroupId" && k != "GroupName");
    }
    let mut rule = sg_rule(b, &rule_node, &p.origin, egress, logical)?;
    rule.origin = p.origin.clone(); // a standalone rule is its own resource
    let id = rule.id.clone();
    let sg = b
        .lab
        .security_groups
        .iter_mut()
        .find(|x| x.id == g)
        .expect("req_typed_id found the group in the lab");
    if egress {
        sg.egress.push(rule)
    } else {
        sg.ingress.push(rule)
    }
    Ok(Built::new(id.to_string()).att("Id", id.to_string(), p.origin.line))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};
    use crate::model::RuleAction;

    const ACL: &str =
        "  N:\n    Type: AWS::EC2::NetworkAcl\n    Properties:\n      VpcId: !Ref V\n";

    #[test]
    fn a_group_with_rules_and_an_acl_with_an_entry_build() {
        let lab = lab(&format!("  G:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: web\n      VpcId: !Ref V\n      SecurityGroupIngress:\n        - {{IpProtocol: tcp, FromPort: 80, ToPort: 80, CidrIp: 0.0.0.0/0}}\n  I:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties:\n      GroupId: !Ref G\n      IpProtocol: tcp\n      FromPort: 22\n      ToPort: 22\n      SourceSecurityGroupId: !Ref G\n{ACL}  E:\n    Type: AWS::EC2::NetworkAclEntry\n    Properties:\n      NetworkAclId: !Ref N\n      RuleNumber: 100\n      Protocol: 6\n      RuleAction: ALLOW\n      CidrBlock: 0.0.0.0/0\n      PortRange: {{From: 443, To: 443}}\n"));
        let g = lab
            .security_groups
            .iter()
            .find(|g| g.description == "web")
            .unwrap();
        assert_eq!(g.ingress.len(), 2);
        assert_eq!(g.egress.len(), 1, "the default allow-all egress");
        let n = lab.network_acls.iter().find(|a| !a.is_default).unwrap();
        let e = n.entries.iter().find(|e| e.rule_number == 100).unwrap();
        assert_eq!(e.action, RuleAction::Allow);
        assert_eq!(e.port_range, Some((443, 443)));
    }

    #[test]
    fn a_bad_rule_action_or_missing_rule_number_is_reported_with_the_logical_id() {
        let p = problem(&format!("{ACL}  E:\n    Type: AWS::EC2::NetworkAclEntry\n    Properties:\n      NetworkAclId: !Ref N\n      RuleNumber: 100\n      Protocol: -1\n      RuleAction: Maybe\n      CidrBlock: 0.0.0.0/0\n"), "E");
        assert_eq!(p.code, "BadAclEntry");
        assert_eq!(p.message, "RuleAction 'maybe' is neither allow nor deny");
        let p = problem(&format!("{ACL}  E:\n    Type: AWS::EC2::NetworkAclEntry\n    Properties:\n      NetworkAclId: !Ref N\n      Protocol: -1\n      RuleAction: allow\n      CidrBlock: 0.0.0.0/0\n"), "E");
        assert_eq!(p.code, "MissingProperty");
        assert_eq!(p.message, "RuleNumber is required");
    }
}
