//! Elastic Load Balancing v2: Network Load Balancers, target groups, listeners.
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means.

use super::*;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[
    Row {
        ty: "AWS::ElasticLoadBalancingV2::LoadBalancer",
        properties: &[
            "Name",
            "Type",
            "Scheme",
            "Subnets",
            "SubnetMappings",
            "SecurityGroups",
            "IpAddressType",
            "LoadBalancerAttributes",
            "Tags",
            "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
        ],
        build: load_balancer,
    },
    Row {
        ty: "AWS::ElasticLoadBalancingV2::TargetGroup",
        properties: &[
            "Name",
            "Protocol",
            "Port",
            "VpcId",
            "TargetType",
            "Targets",
            "HealthCheckEnabled",
            "HealthCheckProtocol",
            "HealthCheckPort",
            "HealthCheckPath",
            "HealthCheckIntervalSeconds",
            "HealthCheckTimeoutSeconds",
            "HealthyThresholdCount",
            "UnhealthyThresholdCount",
            "Matcher",
            "TargetGroupAttributes",
            "IpAddressType",
            "Tags",
        ],
        build: target_group,
    },
    Row {
        ty: "AWS::ElasticLoadBalancingV2::Listener",
        properties: &[
            "LoadBalancerArn",
            "Port",
            "Protocol",
            "DefaultActions",
            "SslPolicy",
            "Certificates",
            "AlpnPolicy",
            "ListenerAttributes",
        ],
        build: listener,
    },
];

fn load_balancer(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let defaulted = p.get("Type").is_none();
    let lb_type = b.one_of(p, "Type", "application", &["network"], |lb_type| {
        Complaint::new(
            "Unsupported",
            format!(
                "load balancer Type {lb_type} is not emulated{}",
                if defaulted {
                    " (application is CloudFormation's default)"
                } else {
                    ""
                }
            ),
            "vpclab emulates Network Load Balancers",
            "set Type: network",
        )
    })?;
    let schemes = ["internet-facing", "internal"];
    let scheme = b.one_of(p, "Scheme", "internet-facing", &schemes, |scheme| {
        Complaint::new(
            "BadPropertyType",
            format!("Scheme '{scheme}'"),
            "Scheme is internet-facing or internal",
            "write internal or internet-facing",
        )
    })?;
    let name = match b.opt_str(p, "Name")? {
        Some(n) => n,
        None => elbv2::generated_name(b.ctx.stack_name, logical),
    };
    // Subnets, with optional pinned addresses.
    let mut mappings: Vec<(SubnetId, Option<Ipv4Addr>)> = b
        .typed_ids(p, "Subnets", Kind::Subnet, SubnetId::parse)?
        .into_iter()
        .map(|s| (s, None))
        .collect();
    if let Some(Node {
        v: V::Seq(items), ..
    }) = p.get("SubnetMappings")
    {
        for it in items {
            let m = p.item(it);
            let s = b.subnet_id(&m, "SubnetId")?;
            let pin = b.opt_ip(&m, "PrivateIPv4Address")?;
            mappings.push((s, pin));
        }
    }
    if mappings.is_empty() {
        b.report(
            "MissingProperty",
            p.origin.clone(),
            "the load balancer names no subnets".into(),
            "a load balancer has one node per subnet (Subnets or SubnetMappings)",
            "add Subnets: [!Ref YourSubnet]",
        );
        return Err(Failed);
    }
    let vpc = b
        .lab
        .subnet(&mappings[0].0)
        .expect("every mapping's subnet was found in the lab")
        .vpc
        .clone();
    let mut seen_az: HashMap<String, SubnetId> = HashMap::new();
    for (s, _) in &mappings {
        let sub = b
            .lab
            .subnet(s)
            .expect("every mapping's subnet was found in the lab")
            .clone();
        if sub.vpc != vpc {
            b.report(
                "BadLoadBalancer",
                p.origin.clone(),
                format!(
                    "subnets of the load balancer are in different VPCs ({} and {})",
                    vpc, sub.vpc
                ),
                "a load balancer's subnets are all in one VPC",
                "pick subnets of one VPC",
            );
            return Err(Failed);
        }
        if let Some(first) = seen_az.insert(sub.availability_zone.clone(), s.clone()) {
            b.report(
                "BadLoadBalancer",
                p.origin.clone(),
                format!(
                    "two subnets in {} ({} and {})",
                    sub.availability_zone,
                    b.lab.label(Kind::Subnet, first.as_str()),
                    b.lab.label(Kind::Subnet, s.as_str())
                ),
                "a load balancer takes at most one subnet per Availability Zone",
                "keep one subnet per AZ",
            );
            return Err(Failed);
        }
    }
    let sgs = b.sg_ids(p, "SecurityGroups")?;
    let attributes = b.key_values(p, "LoadBalancerAttributes")?;
    let cross_zone = attributes
        .get("load_balancing.cross_zone.enabled")
        .is_some_and(|v| v == "true");
    let k = "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic";
    let enforce = b.choice(p, k, true, &[("on", true), ("off", false)], |other| {
        Complaint::new(
            "BadPropertyType",
            format!("{k} '{other}'"),
            "the value is on or off",
            "write on or off",
        )
    })?;
    let hex = elbv2::arn_hex(&format!("lb/{logical}"));
    let region = b.ctx.region;
    let arn = elbv2::load_balancer_arn(region.name, b.ctx.account_id, &name, &hex);
    let dns_name = elbv2::load_balancer_dns_name(region.name, &name, &hex);
    let mut nodes = vec![];
    for (s, pin) in mappings {
        let sub = b
            .lab
            .subnet(&s)
            .expect("every mapping's subnet was found in the lab")
            .clone();
        let ip = b.private_ip(p, &s, pin, &format!("lb/{logical}/{s}"))?;
        let eni_id = EniId::generate(&format!("{logical}/{s}"));
        let public_ip =
            (scheme == "internet-facing").then(|| b.public_ip(&format!("lb/{logical}/{s}")));
        b.lab.network_interfaces.push(NetworkInterface {
            id: eni_id.clone(),
            subnet: s.clone(),
            vpc: vpc.clone(),
            mac: Mac::generate(eni_id.as_str()),
            private_ip: ip,
            public_ip,
            security_groups: sgs.clone(),
            owner: EniOwner::LoadBalancer(arn.clone()),
            description: format!("ELB net/{name}/{hex}"),
            requester_managed: true,
            source_dest_check: true,
        });
        nodes.push(LbNode {
            subnet: s,
            availability_zone: sub.availability_zone,
            eni: eni_id,
            private_ip: ip,
        });
    }
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.load_balancers.push(LoadBalancer {
        arn: arn.clone(),
        name: name.clone(),
        dns_name: dns_name.clone(),
        lb_type,
        scheme,
        vpc,
        nodes,
        security_groups: sgs,
        cross_zone,
        attributes,
        enforce_sg_inbound_on_privatelink: enforce,
        tags,
        origin: p.origin.clone(),
    });
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert(
        "CanonicalHostedZoneID".into(),
        Node::scalar(elbv2::load_balancer_zone(region.name), l),
    );
    atts.insert("DNSName".into(), Node::scalar(dns_name, l));
    atts.insert("LoadBalancerArn".into(), Node::scalar(arn.clone(), l));
    atts.insert(
        "LoadBalancerFullName".into(),
        Node::scalar(format!("net/{name}/{hex}"), l),
    );
    atts.insert("LoadBalancerName".into(), Node::scalar(name, l));
    Ok(Built {
        ref_value: arn,
        atts,
    })
}

fn target_group(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let protocols = ["TCP", "UDP", "TCP_UDP", "TLS"];
    let protocol = b.one_of(p, "Protocol", "TCP", &protocols, |protocol| {
        Complaint::new(
            "Unsupported",
            format!("target group protocol {protocol} is not emulated"),
            "vpclab emulates Network Load Balancer target groups (TCP, UDP, TCP_UDP, TLS)",
            "use TCP",
        )
    })?;
    let types = ["instance", "ip"];
    let target_type = b.one_of(p, "TargetType", "instance", &types, |target_type| {
        Complaint::new(
            "Unsupported",
            format!("TargetType {target_type} is not emulated"),
            "vpclab emulates instance and ip targets",
            "use instance or ip",
        )
    })?;
    let port = b.opt_int(p, "Port")?;
    let Some(port) = port.and_then(|v| u16::try_from(v).ok()).filter(|v| *v > 0) else {
        b.report(
            "MissingProperty",
            p.at("Port"),
            "Port is required (1–65535)".into(),
            "a target group of instance or ip targets has a port",
            "add Port: 80",
        );
        return Err(Failed);
    };
    let vpc = b.vpc_id(p, "VpcId")?;
    let name = match b.opt_str(p, "Name")? {
        Some(n) => n,
        None => elbv2::generated_name(b.ctx.stack_name, logical),
    };
    let mut targets = vec![];
    if let Some(Node {
        v: V::Seq(items), ..
    }) = p.get("Targets")
    {
        for it in items {
            let t = p.item(it);
            let id = b.req_str(&t, "Id")?;
            if target_type == "instance" {
                b.id_of(&t, "Id", Kind::Instance, &id)?;
            } else if id.parse::<Ipv4Addr>().is_err() {
                b.report(
                    "BadPropertyType",
                    t.at("Id"),
                    format!("target '{id}' is not an IPv4 address"),
                    "ip target groups register addresses",
                    "write an address, or use TargetType: instance",
                );
                return Err(Failed);
            }
            let tport = b
                .opt_int(&t, "Port")?
                .and_then(|v| u16::try_from(v).ok())
                .unwrap_or(port);
            targets.push(Target {
                id,
                port: tport,
                origin: t.origin,
            });
        }
    }
    let hc_protocol = b
        .opt_str(p, "HealthCheckProtocol")?
        .unwrap_or_else(|| "TCP".into());
    let hc_port = b
        .opt_str(p, "HealthCheckPort")?
        .unwrap_or_else(|| "traffic-port".into());
    let interval = b
        .opt_int(p, "HealthCheckIntervalSeconds")?
        .unwrap_or(30)
        .clamp(5, 300) as u32;
    let healthy = b
        .opt_int(p, "HealthyThresholdCount")?
        .unwrap_or(5)
        .clamp(2, 10) as u32;
    let unhealthy = b
        .opt_int(p, "UnhealthyThresholdCount")?
        .unwrap_or(2)
        .clamp(2, 10) as u32;
    let hc_enabled = b.opt_bool(p, "HealthCheckEnabled", true)?;
    let hc_path = b
        .opt_str(p, "HealthCheckPath")?
        .unwrap_or_else(|| "/".into());
    let hc_timeout = b
        .opt_int(p, "HealthCheckTimeoutSeconds")?
        .map(|v| v.clamp(2, 120) as u32)
        .unwrap_or_else(|| TargetGroup::default_health_check_timeout(&hc_protocol));
    let matcher = match p.get("Matcher") {
        None => "200-399".to_string(),
        Some(m) => {
            let mp = p.item(m);
            b.opt_str(&mp, "HttpCode")?
                .unwrap_or_else(|| "200-399".into())
        }
    };
    let attributes = b.key_values(p, "TargetGroupAttributes")?;
    let hex = elbv2::arn_hex(&format!("tg/{logical}"));
    let region = b.ctx.region;
    let arn = elbv2::target_group_arn(region.name, b.ctx.account_id, &name, &hex);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.target_groups.push(TargetGroup {
        arn: arn.clone(),
        name: name.clone(),
        protocol,
        port,
        vpc,
        target_type,
        targets,
        health_check_protocol: hc_protocol,
        health_check_port: hc_port,
        health_check_interval_seconds: interval,
        healthy_threshold_count: healthy,
        unhealthy_threshold_count: unhealthy,
        health_check_path: hc_path,
        health_check_timeout_seconds: hc_timeout,
        health_check_matcher: matcher,
        health_check_enabled: hc_enabled,
        attributes,
        tags,
        origin: p.origin.clone(),
    });
    let l = p.origin.line.unwrap_or(0);
    let mut atts = BTreeMap::new();
    atts.insert(
        "LoadBalancerArns".into(),
        Node {
            v: V::Seq(vec![]),
            line: l,
        },
    );
    atts.insert("TargetGroupArn".into(), Node::scalar(arn.clone(), l));
    atts.insert(
        "TargetGroupFullName".into(),
        Node::scalar(format!("targetgroup/{name}/{hex}"), l),
    );
    atts.insert("TargetGroupName".into(), Node::scalar(name, l));
    Ok(Built {
        ref_value: arn,
        atts,
    })
}

fn listener(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let lb = b.req_id(p, "LoadBalancerArn", Kind::LoadBalancer)?;
    let port = b
        .opt_int(p, "Port")?
        .and_then(|v| u16::try_from(v).ok())
        .filter(|v| *v > 0);
    let Some(port) = port else {
        b.report(
            "MissingProperty",
            p.at("Port"),
            "Port is required (1–65535)".into(),
            "a Network Load Balancer listener listens on a port",
            "add Port: 80",
        );
        return Err(Failed);
    };
    let protocol = b.opt_str(p, "Protocol")?.unwrap_or_else(|| "TCP".into());
    let mut tg = None;
    if let Some(Node {
        v: V::Seq(actions), ..
    }) = p.get("DefaultActions")
    {
        for a in actions {
            let ap = p.item(a);
            let ty = b.opt_str(&ap, "Type")?.unwrap_or_default();
            if ty != "forward" {
                continue;
            }
            let arn = match b.opt_str(&ap, "TargetGroupArn")? {
                Some(arn) => Some(arn),
                None => a
                    .get("ForwardConfig")
                    .and_then(|f| f.get("TargetGroups"))
                    .and_then(|t| match &t.v {
                        V::Seq(items) => items
                            .first()
                            .and_then(|i| i.get("TargetGroupArn"))
                            .and_then(|x| x.as_str())
                            .map(str::to_string),
                        _ => None,
                    }),
            };
            if let Some(arn) = arn {
                tg = Some(b.id_of(&ap, "TargetGroupArn", Kind::TargetGroup, &arn)?);
            }
        }
    }
    let arn = elbv2::listener_arn(&lb, &elbv2::arn_hex(&format!("listener/{logical}")));
    b.lab.listeners.push(Listener {
        arn: arn.clone(),
        load_balancer: lb,
        port,
        protocol,
        target_group: tg,
        origin: p.origin.clone(),
    });
    Ok(Built::new(arn.clone()).att("ListenerArn", arn, p.origin.line))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};

    #[test]
    fn a_network_load_balancer_with_a_target_group_and_a_listener_builds() {
        let lab = lab("  L:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties:\n      Type: network\n      Scheme: internal\n      Subnets: [!Ref S]\n  T:\n    Type: AWS::ElasticLoadBalancingV2::TargetGroup\n    Properties:\n      VpcId: !Ref V\n      Port: 80\n      TargetType: ip\n      Targets: [{Id: 10.0.1.20}]\n  X:\n    Type: AWS::ElasticLoadBalancingV2::Listener\n    Properties:\n      LoadBalancerArn: !Ref L\n      Port: 80\n      DefaultActions: [{Type: forward, TargetGroupArn: !Ref T}]\n");
        let lb = &lab.load_balancers[0];
        assert_eq!((lb.scheme.as_str(), lb.nodes.len()), ("internal", 1));
        assert_eq!(lab.target_groups[0].protocol, "TCP");
        assert_eq!(lab.target_groups[0].targets[0].port, 80);
        assert_eq!(
            lab.listeners[0].target_group.as_ref(),
            Some(&lab.target_groups[0].arn)
        );
    }

    #[test]
    fn an_unemulated_type_or_bad_scheme_is_reported_with_the_logical_id() {
        let p = problem("  L:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties:\n      Subnets: [!Ref S]\n", "L");
        assert_eq!(p.code, "Unsupported");
        assert_eq!(
            p.message,
            "load balancer Type application is not emulated (application is CloudFormation's default)"
        );
        let p = problem("  L:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties:\n      Type: network\n      Scheme: public\n      Subnets: [!Ref S]\n", "L");
        assert_eq!(p.code, "BadPropertyType");
        assert_eq!(p.message, "Scheme 'public'");
        let p = problem("  T:\n    Type: AWS::ElasticLoadBalancingV2::TargetGroup\n    Properties:\n      VpcId: !Ref V\n      Port: 80\n      Protocol: HTTP\n", "T");
        assert_eq!(p.message, "target group protocol HTTP is not emulated");
    }
}
