//! Resources → model: one function per CloudFormation type.
//!
//! Contract: [`Builder::build`] turns one resource's evaluated properties into model
//! resources, applying AWS's defaults (main route table, default security group and network
//! ACL with each VPC; allow-all egress for a new security group; deny-all for a custom network
//! ACL; the VPC default security group where none is given) and allocating ids, addresses and
//! MACs deterministically. Property problems (missing, wrong type, unknown, naming something
//! that is not in the template) are reported with the property's line; a resource that cannot
//! be built is `Failed`, and what refers to it is not reported again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use base64::Engine;
use ipnet::Ipv4Net;

use super::eval::{Built, Ctx, EvalError};
use super::yaml::{Node, V};
use crate::model::catalog::{parse_service_name, ServiceName};
use crate::model::cidr::AddressPool;
use crate::model::ids::hex_digits;
use crate::model::lookup::Kind;
use crate::model::*;

/// The resource types vpclab builds, with the properties each accepts (read or recorded).
pub const SUPPORTED: &[(&str, &[&str])] = &[
    (
        "AWS::EC2::VPC",
        &[
            "CidrBlock",
            "EnableDnsSupport",
            "EnableDnsHostnames",
            "InstanceTenancy",
            "Tags",
        ],
    ),
    (
        "AWS::EC2::Subnet",
        &[
            "VpcId",
            "CidrBlock",
            "AvailabilityZone",
            "AvailabilityZoneId",
            "MapPublicIpOnLaunch",
            "Tags",
            "PrivateDnsNameOptionsOnLaunch",
        ],
    ),
    ("AWS::EC2::InternetGateway", &["Tags"]),
    (
        "AWS::EC2::VPCGatewayAttachment",
        &["VpcId", "InternetGatewayId", "VpnGatewayId"],
    ),
    ("AWS::EC2::RouteTable", &["VpcId", "Tags"]),
    (
        "AWS::EC2::Route",
        &[
            "RouteTableId",
            "DestinationCidrBlock",
            "DestinationPrefixListId",
            "DestinationIpv6CidrBlock",
            "GatewayId",
            "NatGatewayId",
            "InstanceId",
            "NetworkInterfaceId",
            "VpcPeeringConnectionId",
            "VpcEndpointId",
            "TransitGatewayId",
            "EgressOnlyInternetGatewayId",
            "CarrierGatewayId",
            "LocalGatewayId",
            "CoreNetworkArn",
        ],
    ),
    (
        "AWS::EC2::SubnetRouteTableAssociation",
        &["SubnetId", "RouteTableId"],
    ),
    (
        "AWS::EC2::SecurityGroup",
        &[
            "GroupDescription",
            "GroupName",
            "VpcId",
            "SecurityGroupIngress",
            "SecurityGroupEgress",
            "Tags",
        ],
    ),
    (
        "AWS::EC2::SecurityGroupIngress",
        &[
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
    ),
    (
        "AWS::EC2::SecurityGroupEgress",
        &[
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
    ),
    ("AWS::EC2::NetworkAcl", &["VpcId", "Tags"]),
    (
        "AWS::EC2::NetworkAclEntry",
        &[
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
    ),
    (
        "AWS::EC2::SubnetNetworkAclAssociation",
        &["SubnetId", "NetworkAclId"],
    ),
    (
        "AWS::EC2::Instance",
        &[
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
    ),
    (
        "AWS::EC2::EIP",
        &["Domain", "InstanceId", "Tags", "NetworkBorderGroup"],
    ),
    (
        "AWS::EC2::VPCEndpoint",
        &[
            "VpcId",
            "ServiceName",
            "VpcEndpointType",
            "RouteTableIds",
            "SubnetIds",
            "SecurityGroupIds",
            "PrivateDnsEnabled",
            "PolicyDocument",
            "IpAddressType",
            "DnsOptions",
            "Tags",
        ],
    ),
    (
        "AWS::EC2::VPCEndpointService",
        &[
            "NetworkLoadBalancerArns",
            "GatewayLoadBalancerArns",
            "AcceptanceRequired",
            "ContributorInsightsEnabled",
            "PayerResponsibility",
            "Tags",
        ],
    ),
    (
        "AWS::EC2::VPCEndpointServicePermissions",
        &["ServiceId", "AllowedPrincipals"],
    ),
    (
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        &[
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
    ),
    (
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        &[
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
    ),
    (
        "AWS::ElasticLoadBalancingV2::Listener",
        &[
            "LoadBalancerArn",
            "Port",
            "Protocol",
            "DefaultActions",
            "SslPolicy",
            "Certificates",
            "AlpnPolicy",
            "ListenerAttributes",
        ],
    ),
];

/// The accepted properties of a supported type.
pub fn properties_of(t: &str) -> Option<&'static [&'static str]> {
    SUPPORTED.iter().find(|(n, _)| *n == t).map(|(_, p)| *p)
}

/// A resource failed to build; its problems are already reported.
pub struct Failed;

type R<T> = Result<T, Failed>;

/// Builds the lab one resource at a time.
pub struct Builder<'a> {
    pub ctx: Ctx<'a>,
    pub lab: Lab,
    pub problems: Problems,
    pools: HashMap<SubnetId, AddressPool>,
    public_pool: AddressPool,
    /// Addresses a template pins anywhere, kept free of automatic allocation.
    pub pinned: HashSet<Ipv4Addr>,
}

/// The properties of one resource, evaluated.
struct Props {
    node: Node,
    origin: Origin,
}

impl Props {
    fn get(&self, k: &str) -> Option<&Node> {
        self.node.get(k)
    }
    fn line(&self, k: &str) -> usize {
        self.node
            .entries()
            .iter()
            .find(|(key, _, _)| key == k)
            .map(|(_, l, _)| *l)
            .or(self.origin.line)
            .unwrap_or(0)
    }
    fn at(&self, k: &str) -> Origin {
        self.origin.at(self.line(k))
    }
}

fn scalar_of(n: &Node) -> Option<String> {
    match &n.v {
        V::Scalar { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn tags_of(n: Option<&Node>) -> Tags {
    let mut t = Tags::default();
    if let Some(Node {
        v: V::Seq(items), ..
    }) = n
    {
        for i in items {
            if let (Some(k), Some(v)) = (
                i.get("Key").and_then(scalar_of),
                i.get("Value").and_then(scalar_of),
            ) {
                t.set(&k, &v);
            }
        }
    }
    t
}

impl<'a> Builder<'a> {
    /// A builder over `ctx`, with an empty lab in its region.
    pub fn new(ctx: Ctx<'a>) -> Self {
        let lab = Lab::new(ctx.stack_name, ctx.region.name);
        let public_pool = AddressPool::public(ctx.region.public_pool());
        Builder {
            ctx,
            lab,
            problems: Problems::default(),
            pools: HashMap::new(),
            public_pool,
            pinned: HashSet::new(),
        }
    }

    fn report(&mut self, code: &'static str, o: Origin, msg: String, rule: &str, fix: &str) {
        self.problems.push(Problem::new(code, o, msg, rule, fix));
    }

    // ---- property access ------------------------------------------------------------

    fn opt_str(&mut self, p: &Props, k: &str) -> R<Option<String>> {
        match p.get(k) {
            None | Some(Node { v: V::Null, .. }) => Ok(None),
            Some(n) => match scalar_of(n) {
                Some(s) => Ok(Some(s)),
                None => {
                    self.report(
                        "BadPropertyType",
                        p.at(k),
                        format!("{k} is {}, not a single value", n.kind()),
                        &format!("{k} takes a string"),
                        "write a single value",
                    );
                    Err(Failed)
                }
            },
        }
    }

    fn req_str(&mut self, p: &Props, k: &str) -> R<String> {
        match self.opt_str(p, k)? {
            Some(s) => Ok(s),
            None => {
                let t = p.origin.resource_type.clone().unwrap_or_default();
                self.report(
                    "MissingProperty",
                    p.origin.clone(),
                    format!("{k} is required"),
                    &format!("{t} needs {k}"),
                    &format!("add {k} to the resource's Properties"),
                );
                Err(Failed)
            }
        }
    }

    /// A `[{Key, Value}]` list (load balancer and target group attributes) as a map.
    fn key_values(&mut self, p: &Props, k: &str) -> R<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let Some(n) = p.get(k) else {
            return Ok(out);
        };
        let V::Seq(items) = &n.v else {
            self.report(
                "BadPropertyType",
                p.at(k),
                format!("{k} is not a list"),
                "attributes are a list of {Key, Value} pairs",
                &format!("write {k}: [{{Key: deregistration_delay.timeout_seconds, Value: '30'}}]"),
            );
            return Err(Failed);
        };
        for it in items.clone() {
            let a = Props {
                node: it.clone(),
                origin: p.origin.at(it.line),
            };
            let key = self.req_str(&a, "Key")?;
            let value = self.req_str(&a, "Value")?;
            out.insert(key, value);
        }
        Ok(out)
    }

    fn opt_bool(&mut self, p: &Props, k: &str, default: bool) -> R<bool> {
        match self.opt_str(p, k)? {
            None => Ok(default),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => {
                    self.report(
                        "BadPropertyType",
                        p.at(k),
                        format!("{k} is '{s}', not true or false"),
                        &format!("{k} is a boolean"),
                        "write true or false",
                    );
                    Err(Failed)
                }
            },
        }
    }

    fn opt_int(&mut self, p: &Props, k: &str) -> R<Option<i64>> {
        match self.opt_str(p, k)? {
            None => Ok(None),
            Some(s) => match s.trim().parse::<i64>() {
                Ok(v) => Ok(Some(v)),
                Err(_) => {
                    self.report(
                        "BadPropertyType",
                        p.at(k),
                        format!("{k} is '{s}', not a whole number"),
                        &format!("{k} is a number"),
                        "write a whole number",
                    );
                    Err(Failed)
                }
            },
        }
    }

    fn str_list(&mut self, p: &Props, k: &str) -> R<Vec<String>> {
        match p.get(k) {
            None | Some(Node { v: V::Null, .. }) => Ok(vec![]),
            Some(Node {
                v: V::Seq(items), ..
            }) => {
                let mut out = vec![];
                for i in items {
                    match scalar_of(i) {
                        Some(s) => out.push(s),
                        None => {
                            self.report(
                                "BadPropertyType",
                                p.origin.at(i.line),
                                format!("an item of {k} is {}", i.kind()),
                                &format!("{k} is a list of ids"),
                                "list single values",
                            );
                            return Err(Failed);
                        }
                    }
                }
                Ok(out)
            }
            Some(n) => {
                self.report(
                    "BadPropertyType",
                    p.at(k),
                    format!("{k} is {}, not a list", n.kind()),
                    &format!("{k} is a list"),
                    &format!("write {k} as a list: [ … ]"),
                );
                Err(Failed)
            }
        }
    }

    fn cidr(&mut self, o: Origin, k: &str, s: &str) -> R<Ipv4Net> {
        s.trim().parse().map_err(|_| {
            self.report(
                "BadCidr",
                o,
                format!("{k} '{s}' is not an IPv4 CIDR block"),
                "CIDR blocks are written address/prefix, e.g. 10.0.0.0/16",
                "write an IPv4 CIDR such as 10.0.1.0/24",
            );
            Failed
        })
    }

    /// Resolves the id in property `k` to a resource of `kind` in the lab.
    fn id_of(&mut self, p: &Props, k: &str, kind: Kind, value: &str) -> R<String> {
        let ok = self.lab.entries(kind).iter().any(|e| e.id == value);
        if ok {
            return Ok(value.to_string());
        }
        self.report(
            "UnknownResourceId",
            p.at(k),
            format!("{k} '{value}' is not a {kind} of this template"),
            &format!("{k} names a {kind} that the lab has"),
            &format!("use !Ref to the {kind}'s logical id"),
        );
        Err(Failed)
    }

    fn req_id(&mut self, p: &Props, k: &str, kind: Kind) -> R<String> {
        let v = self.req_str(p, k)?;
        self.id_of(p, k, kind, &v)
    }

    fn vpc_id(&mut self, p: &Props, k: &str) -> R<VpcId> {
        let s = self.req_id(p, k, Kind::Vpc)?;
        Ok(VpcId::parse(&s).expect("ids in the lab parse"))
    }
    fn subnet_id(&mut self, p: &Props, k: &str) -> R<SubnetId> {
        let s = self.req_id(p, k, Kind::Subnet)?;
        Ok(SubnetId::parse(&s).expect("ids in the lab parse"))
    }
    fn rt_id(&mut self, p: &Props, k: &str) -> R<RouteTableId> {
        let s = self.req_id(p, k, Kind::RouteTable)?;
        Ok(RouteTableId::parse(&s).expect("ids in the lab parse"))
    }
    fn sg_ids(&mut self, p: &Props, k: &str) -> R<Vec<SgId>> {
        let mut out = vec![];
        for s in self.str_list(p, k)? {
            let s = self.id_of(p, k, Kind::SecurityGroup, &s)?;
            out.push(SgId::parse(&s).expect("ids in the lab parse"));
        }
        Ok(out)
    }

    fn check_known(&mut self, p: &Props, t: &str) {
        let known = properties_of(t).unwrap_or(&[]);
        for (k, line, _) in p.node.entries() {
            if !known.contains(&k.as_str()) {
                self.report(
                    "UnknownProperty",
                    p.origin.at(*line),
                    format!("{t} has no property {k}"),
                    &format!("{t} accepts {}", known.join(", ")),
                    "check the property's spelling and capitalisation",
                );
            }
        }
    }

    fn cfn_tags(&self, o: &Origin, own: Tags) -> Tags {
        let mut t = own;
        if let Some(l) = &o.logical_id {
            t.set("aws:cloudformation:logical-id", l);
        }
        t.set("aws:cloudformation:stack-name", self.ctx.stack_name);
        t.set("aws:cloudformation:stack-id", &self.ctx.stack_id());
        t
    }

    fn pool(&mut self, subnet: &SubnetId) -> &mut AddressPool {
        let cidr = self
            .lab
            .subnet(subnet)
            .map(|s| s.cidr)
            .unwrap_or_else(|| "0.0.0.0/32".parse().unwrap());
        self.pools
            .entry(subnet.clone())
            .or_insert_with(|| AddressPool::subnet(cidr))
    }

    /// A private address in `subnet`: `pinned` if given (problems are the verify pass's),
    /// else a deterministic free one.
    fn private_ip(
        &mut self,
        p: &Props,
        subnet: &SubnetId,
        pinned: Option<Ipv4Addr>,
        seed: &str,
    ) -> R<Ipv4Addr> {
        if let Some(ip) = pinned {
            let _ = self.pool(subnet).take(ip);
            return Ok(ip);
        }
        let avoid = self.pinned.clone();
        loop {
            match self.pool(subnet).allocate(seed) {
                Ok(ip) if avoid.contains(&ip) => continue,
                Ok(ip) => return Ok(ip),
                Err(e) => {
                    self.report(
                        "SubnetFull",
                        p.origin.clone(),
                        format!("cannot place an address: {e}"),
                        "every network interface needs a free address of its subnet",
                        "use a larger subnet or fewer interfaces",
                    );
                    return Err(Failed);
                }
            }
        }
    }

    fn public_ip(&mut self, seed: &str) -> Ipv4Addr {
        self.public_pool
            .allocate(seed)
            .expect("the public pools hold millions of addresses")
    }

    fn parse_pinned(&mut self, p: &Props, k: &str, s: Option<String>) -> R<Option<Ipv4Addr>> {
        match s {
            None => Ok(None),
            Some(s) => s.trim().parse().map(Some).map_err(|_| {
                self.report(
                    "BadPropertyType",
                    p.at(k),
                    format!("{k} '{s}' is not an IPv4 address"),
                    &format!("{k} is an IPv4 address"),
                    "write an address such as 10.0.1.10",
                );
                Failed
            }),
        }
    }

    // ---- the types --------------------------------------------------------------------

    /// Builds one resource. `props` is the evaluated `Properties` (or an empty map).
    pub fn build(&mut self, t: &str, props: Node, origin: Origin) -> R<Built> {
        let p = Props {
            node: props,
            origin,
        };
        if !matches!(p.node.v, V::Map(_) | V::Null) {
            self.report(
                "BadPropertyType",
                p.origin.clone(),
                format!("Properties is {}, not a mapping", p.node.kind()),
                "a resource's Properties is a mapping of property names to values",
                "indent the properties under Properties:",
            );
            return Err(Failed);
        }
        self.check_known(&p, t);
        let logical = p.origin.logical_id.clone().unwrap_or_default();
        match t {
            "AWS::EC2::VPC" => self.vpc(&p, &logical),
            "AWS::EC2::Subnet" => self.subnet(&p, &logical),
            "AWS::EC2::InternetGateway" => self.igw(&p, &logical),
            "AWS::EC2::VPCGatewayAttachment" => self.gateway_attachment(&p, &logical),
            "AWS::EC2::RouteTable" => self.route_table(&p, &logical),
            "AWS::EC2::Route" => self.route(&p, &logical),
            "AWS::EC2::SubnetRouteTableAssociation" => self.rt_association(&p, &logical),
            "AWS::EC2::SecurityGroup" => self.security_group(&p, &logical),
            "AWS::EC2::SecurityGroupIngress" => self.standalone_rule(&p, &logical, false),
            "AWS::EC2::SecurityGroupEgress" => self.standalone_rule(&p, &logical, true),
            "AWS::EC2::NetworkAcl" => self.network_acl(&p, &logical),
            "AWS::EC2::NetworkAclEntry" => self.acl_entry(&p, &logical),
            "AWS::EC2::SubnetNetworkAclAssociation" => self.acl_association(&p, &logical),
            "AWS::EC2::Instance" => self.instance(&p, &logical),
            "AWS::EC2::EIP" => self.eip(&p, &logical),
            "AWS::EC2::VPCEndpoint" => self.vpc_endpoint(&p, &logical),
            "AWS::EC2::VPCEndpointService" => self.endpoint_service(&p, &logical),
            "AWS::EC2::VPCEndpointServicePermissions" => self.service_permissions(&p, &logical),
            "AWS::ElasticLoadBalancingV2::LoadBalancer" => self.load_balancer(&p, &logical),
            "AWS::ElasticLoadBalancingV2::TargetGroup" => self.target_group(&p, &logical),
            "AWS::ElasticLoadBalancingV2::Listener" => self.listener(&p, &logical),
            _ => unreachable!("unsupported types are rejected before building"),
        }
    }

    fn vpc(&mut self, p: &Props, logical: &str) -> R<Built> {
        let cidr_s = self.req_str(p, "CidrBlock")?;
        let cidr = self.cidr(p.at("CidrBlock"), "CidrBlock", &cidr_s)?;
        let dns_support = self.opt_bool(p, "EnableDnsSupport", true)?;
        let dns_hostnames = self.opt_bool(p, "EnableDnsHostnames", false)?;
        if dns_hostnames && !dns_support {
            self.report(
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
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        let implicit = Origin {
            logical_id: None,
            resource_type: None,
            line: p.origin.line,
        };
        self.lab.vpcs.push(Vpc {
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
        self.lab.route_tables.push(RouteTable {
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
        self.lab.security_groups.push(SecurityGroup {
            id: sg.clone(),
            vpc: id.clone(),
            group_name: "default".into(),
            description: "default VPC security group".into(),
            ingress: vec![all("in", Peer::Group(sg.clone()))],
            egress: vec![all("out", Peer::Cidr("0.0.0.0/0".parse().unwrap()))],
            tags: Tags::default(),
            origin: implicit.clone(),
        });
        self.lab.network_acls.push(NetworkAcl {
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

    fn subnet(&mut self, p: &Props, logical: &str) -> R<Built> {
        let vpc = self.vpc_id(p, "VpcId")?;
        let cidr_s = self.req_str(p, "CidrBlock")?;
        let cidr = self.cidr(p.at("CidrBlock"), "CidrBlock", &cidr_s)?;
        let region = self.ctx.region;
        let az = match self.opt_str(p, "AvailabilityZone")? {
            Some(az) => {
                if !region.azs.contains(&az.as_str()) {
                    self.report(
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
        let map_public = self.opt_bool(p, "MapPublicIpOnLaunch", false)?;
        let id = SubnetId::generate(logical);
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.subnets.push(Subnet {
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

    fn igw(&mut self, p: &Props, logical: &str) -> R<Built> {
        let id = IgwId::generate(logical);
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.internet_gateways.push(InternetGateway {
            id: id.clone(),
            attachment: None,
            tags,
            origin: p.origin.clone(),
            attachment_origin: None,
        });
        Ok(Built::new(id.to_string()).att("InternetGatewayId", id.to_string(), p.origin.line))
    }

    fn gateway_attachment(&mut self, p: &Props, logical: &str) -> R<Built> {
        if p.get("VpnGatewayId").is_some() {
            self.report(
                "Unsupported",
                p.at("VpnGatewayId"),
                "virtual private gateways (VPN) are not emulated".into(),
                "vpclab emulates internet gateways; VPN gateways are not part of it",
                "remove the VPN gateway, or attach an internet gateway",
            );
            return Err(Failed);
        }
        let vpc = self.vpc_id(p, "VpcId")?;
        let igw_s = self.req_id(p, "InternetGatewayId", Kind::InternetGateway)?;
        let igw_id = IgwId::parse(&igw_s).expect("ids in the lab parse");
        let igw = self
            .lab
            .internet_gateways
            .iter_mut()
            .find(|g| g.id == igw_id)
            .expect("checked above");
        if let Some(other) = &igw.attachment {
            let other = other.clone();
            self.report(
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
        Ok(Built::new(format!("{}-{}", self.ctx.stack_name, logical)))
    }

    fn route_table(&mut self, p: &Props, logical: &str) -> R<Built> {
        let vpc = self.vpc_id(p, "VpcId")?;
        let cidr = self.lab.vpc(&vpc).expect("checked").cidr;
        let id = RouteTableId::generate(logical);
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        let implicit = Origin {
            logical_id: None,
            resource_type: None,
            line: p.origin.line,
        };
        self.lab.route_tables.push(RouteTable {
            id: id.clone(),
            vpc,
            main: false,
            main_association: None,
            routes: vec![local_route(cidr, &implicit)],
            associations: vec![],
            tags,
            origin: p.origin.clone(),
        });
        Ok(Built::new(id.to_string()).att("RouteTableId", id.to_string(), p.origin.line))
    }

    fn route(&mut self, p: &Props, _logical: &str) -> R<Built> {
        let rt = self.rt_id(p, "RouteTableId")?;
        if p.get("DestinationIpv6CidrBlock").is_some() {
            self.report(
                "Unsupported",
                p.at("DestinationIpv6CidrBlock"),
                "IPv6 routes are not emulated".into(),
                "vpclab emulates IPv4 VPC networking",
                "remove the IPv6 route",
            );
            return Err(Failed);
        }
        let cidr = self.opt_str(p, "DestinationCidrBlock")?;
        let pl = self.opt_str(p, "DestinationPrefixListId")?;
        let destination = match (cidr, pl) {
            (Some(c), None) => Destination::Cidr(self.cidr(
                p.at("DestinationCidrBlock"),
                "DestinationCidrBlock",
                &c,
            )?),
            (None, Some(pl)) => {
                let region = self.ctx.region;
                if region.gateway_service_by_prefix_list(&pl).is_none() {
                    self.report("UnknownPrefixList", p.at("DestinationPrefixListId"), format!("prefix list {pl} is not an AWS-managed prefix list of {}", region.name), "vpclab knows the AWS-managed prefix lists of S3 and DynamoDB; customer-managed prefix lists are not emulated", &format!("use {} (describe prefix-lists shows them)", region.gateway_services.iter().map(|s| format!("{} for {}", s.prefix_list_id, s.short)).collect::<Vec<_>>().join(" or ")));
                    return Err(Failed);
                }
                Destination::PrefixList(PrefixListId::from_catalog(&pl))
            }
            (None, None) => {
                self.report("MissingProperty", p.origin.clone(), "a route needs a destination".into(), "AWS::EC2::Route takes exactly one of DestinationCidrBlock, DestinationPrefixListId, DestinationIpv6CidrBlock", "add DestinationCidrBlock, e.g. 0.0.0.0/0");
                return Err(Failed);
            }
            (Some(_), Some(_)) => {
                self.report(
                    "BadRoute",
                    p.origin.clone(),
                    "a route has both DestinationCidrBlock and DestinationPrefixListId".into(),
                    "a route has exactly one destination",
                    "split it into two routes",
                );
                return Err(Failed);
            }
        };
        const TARGETS: &[&str] = &[
            "GatewayId",
            "NatGatewayId",
            "InstanceId",
            "NetworkInterfaceId",
            "VpcPeeringConnectionId",
            "VpcEndpointId",
            "TransitGatewayId",
            "EgressOnlyInternetGatewayId",
            "CarrierGatewayId",
            "LocalGatewayId",
            "CoreNetworkArn",
        ];
        let given: Vec<&str> = TARGETS
            .iter()
            .copied()
            .filter(|k| p.get(k).is_some())
            .collect();
        let [key] = given.as_slice() else {
            self.report("BadRoute", p.origin.clone(), if given.is_empty() { "a route needs a target".to_string() } else { format!("a route has several targets: {}", given.join(", ")) }, "a route has exactly one target (GatewayId, NatGatewayId, InstanceId, NetworkInterfaceId, VpcPeeringConnectionId…)", "keep one target");
            return Err(Failed);
        };
        let v = self.req_str(p, key)?;
        let target = match *key {
            "GatewayId" if IgwId::looks_like(&v) => {
                let s = self.id_of(p, key, Kind::InternetGateway, &v)?;
                RouteTarget::InternetGateway(IgwId::parse(&s).expect("lab ids parse"))
            }
            "GatewayId" if VpceId::looks_like(&v) || *key == "VpcEndpointId" => {
                self.report("EndpointRouteByHand", p.at(key), format!("a route to gateway endpoint {v} cannot be created by hand"), "gateway-endpoint routes are added by the endpoint itself (its RouteTableIds); a route's VpcEndpointId is for Gateway Load Balancer endpoints only", "remove this route and list the route table in the endpoint's RouteTableIds");
                return Err(Failed);
            }
            "VpcEndpointId" => {
                self.report("EndpointRouteByHand", p.at(key), format!("a route to endpoint {v} cannot be created by hand"), "gateway-endpoint routes are added by the endpoint itself (its RouteTableIds); a route's VpcEndpointId is for Gateway Load Balancer endpoints only, which vpclab does not emulate", "remove this route and list the route table in the endpoint's RouteTableIds");
                return Err(Failed);
            }
            "InstanceId" => {
                let s = self.id_of(p, key, Kind::Instance, &v)?;
                RouteTarget::Instance(InstanceId::parse(&s).expect("lab ids parse"))
            }
            "NetworkInterfaceId" => {
                let s = self.id_of(p, key, Kind::NetworkInterface, &v)?;
                RouteTarget::NetworkInterface(EniId::parse(&s).expect("lab ids parse"))
            }
            "NatGatewayId" if NatGatewayId::parse(&v).is_some() => {
                RouteTarget::NatGateway(NatGatewayId::parse(&v).expect("checked"))
            }
            "VpcPeeringConnectionId" if PeeringId::parse(&v).is_some() => {
                RouteTarget::Peering(PeeringId::parse(&v).expect("checked"))
            }
            other => {
                self.report("UnsupportedRouteTarget", p.at(other), format!("{other} '{v}' is not a target vpclab can route to"), "vpclab routes to internet gateways, instances and network interfaces (and records nat-…/pcx-… targets as blackholes)", "target an internet gateway, an instance or a network interface of the VPC");
                return Err(Failed);
            }
        };
        let table = self
            .lab
            .route_tables
            .iter_mut()
            .find(|r| r.id == rt)
            .expect("checked");
        table.routes.push(Route {
            destination: destination.clone(),
            target,
            route_origin: RouteOrigin::CreateRoute,
            origin: p.origin.clone(),
        });
        let dest = match destination {
            Destination::Cidr(c) => c.to_string(),
            Destination::PrefixList(pl) => pl.to_string(),
        };
        Ok(Built::new(format!("{rt}|{dest}")))
    }

    fn rt_association(&mut self, p: &Props, logical: &str) -> R<Built> {
        let subnet = self.subnet_id(p, "SubnetId")?;
        let rt = self.rt_id(p, "RouteTableId")?;
        let id = RouteTableAssociationId::generate(logical);
        let table = self
            .lab
            .route_tables
            .iter_mut()
            .find(|r| r.id == rt)
            .expect("checked");
        table.associations.push(RouteTableAssociation {
            id: id.clone(),
            subnet,
            origin: p.origin.clone(),
        });
        Ok(Built::new(id.to_string()).att("Id", id.to_string(), p.origin.line))
    }

    /// One rule from a rule mapping (inline or standalone).
    fn sg_rule(&mut self, n: &Node, o: &Origin, egress: bool, seed: &str) -> R<SgRule> {
        let p = Props {
            node: n.clone(),
            origin: o.at(n.line),
        };
        let proto_s = self.req_str(&p, "IpProtocol")?;
        let Some(protocol) = Protocol::parse(&proto_s) else {
            self.report(
                "BadSgRule",
                p.at("IpProtocol"),
                format!("IpProtocol '{proto_s}' is not a protocol"),
                "IpProtocol is tcp, udp, icmp, icmpv6, -1 (all) or a protocol number 0–255",
                "write tcp, udp, icmp or -1",
            );
            return Err(Failed);
        };
        let from = self.opt_int(&p, "FromPort")?;
        let to = self.opt_int(&p, "ToPort")?;
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
            self.report(
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
                let c = self.req_str(&p, k)?;
                Peer::Cidr(self.cidr(p.at(k), k, &c)?)
            }
            [k] if *k == group_k => {
                let g = self.req_str(&p, k)?;
                let g = self.id_of(&p, k, Kind::SecurityGroup, &g)?;
                Peer::Group(SgId::parse(&g).expect("lab ids parse"))
            }
            [k] if *k == pl_k => {
                let pl = self.req_str(&p, k)?;
                if self
                    .ctx
                    .region
                    .gateway_service_by_prefix_list(&pl)
                    .is_none()
                {
                    self.report(
                        "UnknownPrefixList",
                        p.at(k),
                        format!(
                            "prefix list {pl} is not an AWS-managed prefix list of {}",
                            self.ctx.region.name
                        ),
                        "vpclab knows the AWS-managed S3 and DynamoDB prefix lists",
                        "use one of those prefix-list ids",
                    );
                    return Err(Failed);
                }
                Peer::PrefixList(PrefixListId::from_catalog(&pl))
            }
            [k] => {
                let name = self.req_str(&p, k)?;
                match self
                    .lab
                    .security_groups
                    .iter()
                    .find(|g| g.group_name == name)
                {
                    Some(g) => Peer::Group(g.id.clone()),
                    None => {
                        self.report(
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
                self.report(
                    "BadSgRule",
                    p.origin.clone(),
                    if peers.is_empty() {
                        "the rule names no peer".to_string()
                    } else {
                        format!("the rule names several peers: {}", peers.join(", "))
                    },
                    &format!(
                        "a security group rule has exactly one of {cidr_k}, {group_k}, {pl_k}"
                    ),
                    "keep exactly one",
                );
                return Err(Failed);
            }
        };
        let description = self.opt_str(&p, "Description")?;
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
        &mut self,
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
                    match self.sg_rule(n, &p.origin, egress, &format!("{logical}/{k}/{i}")) {
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
                self.report(
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

    fn security_group(&mut self, p: &Props, logical: &str) -> R<Built> {
        let description = self.req_str(p, "GroupDescription")?;
        if p.get("VpcId").is_none() {
            self.report("MissingProperty", p.origin.clone(), "VpcId is missing: the group would go to the default VPC, which a lab does not have".into(), "a security group belongs to one VPC", "add VpcId: !Ref YourVPC");
            return Err(Failed);
        }
        let vpc = self.vpc_id(p, "VpcId")?;
        let id = SgId::generate(logical);
        let group_name = self.opt_str(p, "GroupName")?.unwrap_or_else(|| {
            format!(
                "{}-{}-{}",
                self.ctx.stack_name,
                logical,
                hex_digits(logical, 12).to_uppercase()
            )
        });
        if group_name.starts_with("sg-") {
            self.report(
                "BadPropertyType",
                p.at("GroupName"),
                format!("GroupName '{group_name}' starts with sg-"),
                "a security group's name cannot start with sg-",
                "pick another name",
            );
        }
        // The group must exist before its own rules can name it; rules are added after.
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.security_groups.push(SecurityGroup {
            id: id.clone(),
            vpc: vpc.clone(),
            group_name: group_name.clone(),
            description,
            ingress: vec![],
            egress: vec![],
            tags,
            origin: p.origin.clone(),
        });
        let ingress = self.rules_list(p, "SecurityGroupIngress", false, logical);
        let egress = self.rules_list(p, "SecurityGroupEgress", true, logical);
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
                        peer: Peer::Cidr("0.0.0.0/0".parse().unwrap()),
                        description: None,
                        origin: implicit,
                    }]
                }),
            ),
            _ => {
                self.lab.security_groups.retain(|g| g.id != id);
                return Err(Failed);
            }
        };
        let g = self
            .lab
            .security_groups
            .iter_mut()
            .find(|g| g.id == id)
            .expect("pushed above");
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

    fn standalone_rule(&mut self, p: &Props, logical: &str, egress: bool) -> R<Built> {
        if p.get("GroupId").is_none() {
            self.report(
                "MissingProperty",
                p.origin.clone(),
                "GroupId is required".into(),
                "a rule of a VPC security group names the group by GroupId",
                "add GroupId: !Ref YourSecurityGroup",
            );
            return Err(Failed);
        }
        let g = self.req_id(p, "GroupId", Kind::SecurityGroup)?;
        let g = SgId::parse(&g).expect("lab ids parse");
        let mut rule_node = p.node.clone();
        if let V::Map(m) = &mut rule_node.v {
            m.retain(|(k, _, _)| k != "GroupId" && k != "GroupName");
        }
        let mut rule = self.sg_rule(&rule_node, &p.origin, egress, logical)?;
        rule.origin = p.origin.clone(); // a standalone rule is its own resource
        let id = rule.id.clone();
        let sg = self
            .lab
            .security_groups
            .iter_mut()
            .find(|x| x.id == g)
            .expect("checked");
        if egress {
            sg.egress.push(rule)
        } else {
            sg.ingress.push(rule)
        }
        Ok(Built::new(id.to_string()).att("Id", id.to_string(), p.origin.line))
    }

    fn network_acl(&mut self, p: &Props, logical: &str) -> R<Built> {
        let vpc = self.vpc_id(p, "VpcId")?;
        let id = AclId::generate(logical);
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        let implicit = Origin {
            logical_id: None,
            resource_type: None,
            line: p.origin.line,
        };
        self.lab.network_acls.push(NetworkAcl {
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

    fn acl_entry(&mut self, p: &Props, _logical: &str) -> R<Built> {
        let acl = self.req_id(p, "NetworkAclId", Kind::NetworkAcl)?;
        let acl = AclId::parse(&acl).expect("lab ids parse");
        let number = self.opt_int(p, "RuleNumber")?;
        let Some(number) = number else {
            return self.req_str(p, "RuleNumber").map(|_| unreachable!());
        };
        let proto_s = self.req_str(p, "Protocol")?;
        let Some(protocol) = Protocol::parse(&proto_s) else {
            self.report("BadAclEntry", p.at("Protocol"), format!("Protocol '{proto_s}' is not a protocol number"), "a network ACL entry's Protocol is a protocol number (6 TCP, 17 UDP, 1 ICMP) or -1 for all", "write 6, 17, 1 or -1");
            return Err(Failed);
        };
        let action = match self.req_str(p, "RuleAction")?.to_ascii_lowercase().as_str() {
            "allow" => RuleAction::Allow,
            "deny" => RuleAction::Deny,
            other => {
                self.report(
                    "BadAclEntry",
                    p.at("RuleAction"),
                    format!("RuleAction '{other}' is neither allow nor deny"),
                    "RuleAction is allow or deny",
                    "write allow or deny",
                );
                return Err(Failed);
            }
        };
        let egress = self.opt_bool(p, "Egress", false)?;
        if p.get("Ipv6CidrBlock").is_some() {
            self.report(
                "Unsupported",
                p.at("Ipv6CidrBlock"),
                "IPv6 entries are not emulated".into(),
                "vpclab emulates IPv4 VPC networking",
                "use CidrBlock",
            );
            return Err(Failed);
        }
        let c = self.req_str(p, "CidrBlock")?;
        let cidr = self.cidr(p.at("CidrBlock"), "CidrBlock", &c)?;
        let mut port_range = None;
        if matches!(protocol, Protocol::Tcp | Protocol::Udp) {
            let Some(pr) = p.get("PortRange") else {
                self.report(
                    "BadAclEntry",
                    p.origin.clone(),
                    "a TCP or UDP entry needs PortRange".into(),
                    "network ACL entries for TCP (6) and UDP (17) name a port range",
                    "add PortRange: {From: 22, To: 22}",
                );
                return Err(Failed);
            };
            let pp = Props {
                node: pr.clone(),
                origin: p.at("PortRange"),
            };
            let (Some(a), Some(b)) = (self.opt_int(&pp, "From")?, self.opt_int(&pp, "To")?) else {
                self.report(
                    "BadAclEntry",
                    p.at("PortRange"),
                    "PortRange needs From and To".into(),
                    "a port range has From and To",
                    "add From and To",
                );
                return Err(Failed);
            };
            if !(0..=65535).contains(&a) || !(0..=65535).contains(&b) {
                self.report(
                    "BadAclEntry",
                    p.at("PortRange"),
                    format!("PortRange {a}-{b} is outside 0–65535"),
                    "ports run from 0 to 65535",
                    "use ports from 0 to 65535",
                );
                return Err(Failed);
            }
            port_range = Some((a as u16, b as u16));
        }
        let mut icmp = None;
        if protocol == Protocol::Icmp {
            let (t, c) = match p.get("Icmp") {
                Some(n) => {
                    let ip = Props {
                        node: n.clone(),
                        origin: p.at("Icmp"),
                    };
                    (
                        self.opt_int(&ip, "Type")?.unwrap_or(-1),
                        self.opt_int(&ip, "Code")?.unwrap_or(-1),
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
        let a = self
            .lab
            .network_acls
            .iter_mut()
            .find(|a| a.id == acl)
            .expect("checked");
        a.entries.push(entry);
        a.entries.sort_by_key(|e| (e.egress, e.rule_number));
        Ok(Built::new(format!("{acl}|{number}|{egress}")))
    }

    fn acl_association(&mut self, p: &Props, logical: &str) -> R<Built> {
        let subnet = self.subnet_id(p, "SubnetId")?;
        let acl = self.req_id(p, "NetworkAclId", Kind::NetworkAcl)?;
        let acl = AclId::parse(&acl).expect("lab ids parse");
        let id = AclAssociationId::generate(logical);
        let a = self
            .lab
            .network_acls
            .iter_mut()
            .find(|a| a.id == acl)
            .expect("checked");
        a.associations.push(AclAssociation {
            id: id.clone(),
            subnet,
            origin: p.origin.clone(),
        });
        Ok(Built::new(id.to_string()).att("AssociationId", id.to_string(), p.origin.line))
    }

    /// `MetadataOptions` of an instance: HttpTokens, HttpPutResponseHopLimit, HttpEndpoint.
    fn metadata_options(&mut self, p: &Props) -> R<MetadataOptions> {
        let mut o = MetadataOptions::default();
        let Some(node) = p.get("MetadataOptions") else {
            return Ok(o);
        };
        let m = Props {
            node: node.clone(),
            origin: p.origin.at(node.line),
        };
        let choice = |b: &mut Self, k: &str, on: &str, off: &str| -> R<Option<bool>> {
            match b.opt_str(&m, k)? {
                None => Ok(None),
                Some(v) if v == on => Ok(Some(true)),
                Some(v) if v == off => Ok(Some(false)),
                Some(v) => {
                    b.report(
                        "BadPropertyValue",
                        m.at(k),
                        format!("MetadataOptions {k} is '{v}'"),
                        &format!("{k} is '{on}' or '{off}'"),
                        &format!("write {k}: {on} or {k}: {off}"),
                    );
                    Err(Failed)
                }
            }
        };
        if let Some(required) = choice(self, "HttpTokens", "required", "optional")? {
            o.http_tokens_required = required;
        }
        if let Some(enabled) = choice(self, "HttpEndpoint", "enabled", "disabled")? {
            o.http_endpoint_enabled = enabled;
        }
        if let Some(h) = self.opt_int(&m, "HttpPutResponseHopLimit")? {
            match u8::try_from(h) {
                Ok(h @ 1..=64) => o.http_put_response_hop_limit = h,
                _ => {
                    self.report(
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

    fn instance(&mut self, p: &Props, logical: &str) -> R<Built> {
        let instance_type = self
            .opt_str(p, "InstanceType")?
            .unwrap_or_else(|| "m1.small".into());
        let image_id = self.opt_str(p, "ImageId")?;
        let key_name = self.opt_str(p, "KeyName")?;
        let (subnet, sgs, pinned, assoc_public) = match p.get("NetworkInterfaces") {
            Some(Node { v: V::Seq(nis), .. }) => {
                if p.get("SubnetId").is_some() || p.get("SecurityGroupIds").is_some() {
                    self.report("BadInstance", p.at("NetworkInterfaces"), "both NetworkInterfaces and SubnetId/SecurityGroupIds are given".into(), "with NetworkInterfaces, the subnet and security groups go inside the interface", "move SubnetId and the groups into the NetworkInterfaces entry (GroupSet)");
                    return Err(Failed);
                }
                if nis.len() != 1 {
                    self.report(
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
                let ni = Props {
                    node: nis[0].clone(),
                    origin: p.origin.at(nis[0].line),
                };
                let dev = self.opt_str(&ni, "DeviceIndex")?.unwrap_or_default();
                if dev != "0" {
                    self.report(
                        "BadInstance",
                        ni.at("DeviceIndex"),
                        format!("DeviceIndex is '{dev}'"),
                        "the primary network interface has DeviceIndex 0",
                        "set DeviceIndex: 0",
                    );
                    return Err(Failed);
                }
                if ni.get("NetworkInterfaceId").is_some() {
                    self.report(
                        "Unsupported",
                        ni.at("NetworkInterfaceId"),
                        "attaching an existing network interface is not emulated".into(),
                        "vpclab creates each instance's interface",
                        "give SubnetId and GroupSet instead",
                    );
                    return Err(Failed);
                }
                let subnet = self.subnet_id(&ni, "SubnetId")?;
                let sgs = self.sg_ids(&ni, "GroupSet")?;
                let pin = self.opt_str(&ni, "PrivateIpAddress")?;
                let pinned = self.parse_pinned(&ni, "PrivateIpAddress", pin)?;
                let assoc = match self.opt_str(&ni, "AssociatePublicIpAddress")? {
                    Some(_) => Some(self.opt_bool(&ni, "AssociatePublicIpAddress", false)?),
                    None => None,
                };
                (subnet, sgs, pinned, assoc)
            }
            Some(n) => {
                self.report(
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
                    self.report("MissingProperty", p.origin.clone(), "the instance names no subnet".into(), "an instance in a VPC is launched into a subnet (SubnetId, or NetworkInterfaces[0].SubnetId); a lab has no default VPC", "add SubnetId: !Ref YourSubnet");
                    return Err(Failed);
                }
                let subnet = self.subnet_id(p, "SubnetId")?;
                let mut sgs = self.sg_ids(p, "SecurityGroupIds")?;
                for name in self.str_list(p, "SecurityGroups")? {
                    let vpc = self.lab.subnet(&subnet).expect("checked").vpc.clone();
                    match self
                        .lab
                        .security_groups
                        .iter()
                        .find(|g| g.vpc == vpc && (g.group_name == name || g.id.as_str() == name))
                    {
                        Some(g) => sgs.push(g.id.clone()),
                        None => {
                            self.report(
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
                let pin = self.opt_str(p, "PrivateIpAddress")?;
                let pinned = self.parse_pinned(p, "PrivateIpAddress", pin)?;
                (subnet, sgs, pinned, None)
            }
        };
        let sub = self.lab.subnet(&subnet).expect("checked").clone();
        let vpc = self.lab.vpc(&sub.vpc).expect("subnets have VPCs").clone();
        let sgs = if sgs.is_empty() {
            vec![vpc.default_security_group.clone()]
        } else {
            sgs
        };
        for g in &sgs {
            let gv = &self.lab.security_group(g).expect("checked").vpc;
            if gv != &vpc.id {
                let gname = self.lab.label(Kind::SecurityGroup, g.as_str());
                self.report(
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
        let private_ip = self.private_ip(p, &sub.id, pinned, &format!("instance/{logical}"))?;
        let public_ip = assoc_public
            .unwrap_or(sub.map_public_ip_on_launch)
            .then(|| self.public_ip(&format!("instance/{logical}")));
        let user_data = match self.opt_str(p, "UserData")? {
            None => None,
            Some(b64) => {
                match base64::engine::general_purpose::STANDARD.decode(b64.trim().as_bytes()) {
                    Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                    Err(_) => {
                        self.report(
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
            self.report(
                "UserDataTooLarge",
                p.at("UserData"),
                "UserData is over 16 KB".into(),
                "user data is limited to 16 KB before base64 encoding",
                "shorten the script",
            );
            return Err(Failed);
        }
        let metadata_options = self.metadata_options(p)?;
        let id = InstanceId::generate(logical);
        let eni_id = EniId::generate(&format!("{logical}/eth0"));
        let hostname = ip_hostname(private_ip);
        let region = self.ctx.region;
        let private_dns_name = format!("{hostname}.{}", region.private_dns_suffix);
        let public_dns_name = match public_ip {
            Some(ip) if vpc.enable_dns_hostnames => public_hostname(ip, region),
            _ => String::new(),
        };
        let source_dest_check = self.opt_bool(p, "SourceDestCheck", true)?;
        self.lab.network_interfaces.push(NetworkInterface {
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
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.instances.push(Instance {
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

    fn eip(&mut self, p: &Props, logical: &str) -> R<Built> {
        let instance = match self.opt_str(p, "InstanceId")? {
            Some(v) => Some(
                InstanceId::parse(&self.id_of(p, "InstanceId", Kind::Instance, &v)?)
                    .expect("lab ids parse"),
            ),
            None => None,
        };
        let ip = self.public_ip(&format!("eip/{logical}"));
        let alloc = EipAllocId::generate(logical);
        if let Some(i) = &instance {
            let region = self.ctx.region;
            let inst = self
                .lab
                .instances
                .iter_mut()
                .find(|x| &x.id == i)
                .expect("checked");
            inst.public_ip = Some(ip);
            let eni = inst.eni.clone();
            let vpc = inst.vpc.clone();
            let hostnames = self.lab.vpc(&vpc).is_some_and(|v| v.enable_dns_hostnames);
            let inst = self
                .lab
                .instances
                .iter_mut()
                .find(|x| &x.id == i)
                .expect("checked");
            inst.public_dns_name = if hostnames {
                public_hostname(ip, region)
            } else {
                String::new()
            };
            if let Some(e) = self.lab.network_interfaces.iter_mut().find(|e| e.id == eni) {
                e.public_ip = Some(ip);
            }
        }
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.elastic_ips.push(ElasticIp {
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

    fn vpc_endpoint(&mut self, p: &Props, logical: &str) -> R<Built> {
        let vpc = self.vpc_id(p, "VpcId")?;
        let service_name = self.req_str(p, "ServiceName")?;
        let kind = self
            .opt_str(p, "VpcEndpointType")?
            .unwrap_or_else(|| "Gateway".into());
        let region = self.ctx.region;
        let id = VpceId::generate(logical);
        let l = p.origin.line.unwrap_or(0);
        // What the service name refers to, and whether it can be reached from here.
        let (short, endpoint_service) = match parse_service_name(&service_name) {
            Some(ServiceName::Aws { region: r, short }) => {
                if r != region.name {
                    self.report("EndpointServiceOtherRegion", p.at("ServiceName"), format!("service {service_name} is in {r}, but the lab's VPC is in {}", region.name), "VPC endpoints are same region only: an endpoint connects to a service in its own region", &format!("use com.amazonaws.{}.{short} (write !Sub 'com.amazonaws.${{AWS::Region}}.{short}')", region.name));
                    return Err(Failed);
                }
                (short.to_string(), None)
            }
            Some(ServiceName::EndpointService {
                region: r,
                service_id,
            }) => {
                if r != region.name {
                    self.report("EndpointServiceOtherRegion", p.at("ServiceName"), format!("endpoint service {service_name} is in {r}, but the lab's VPC is in {}", region.name), "VPC endpoints are same region only: an endpoint connects to a service in its own region", "create the endpoint service in the lab's region");
                    return Err(Failed);
                }
                let Some(svc) = self
                    .lab
                    .endpoint_services
                    .iter()
                    .find(|s| s.id.as_str() == service_id)
                else {
                    self.report("UnknownService", p.at("ServiceName"), format!("no endpoint service {service_id} exists in this lab"), "an interface endpoint to an endpoint service needs that service (AWS::EC2::VPCEndpointService)", "write ServiceName: !Sub 'com.amazonaws.vpce.${AWS::Region}.${YourEndpointService}'");
                    return Err(Failed);
                };
                (String::new(), Some(svc.clone()))
            }
            None => {
                self.report("UnknownService", p.at("ServiceName"), format!("'{service_name}' is not a VPC endpoint service name"), "endpoint service names are com.amazonaws.<region>.<service> or com.amazonaws.vpce.<region>.vpce-svc-…", &format!("e.g. com.amazonaws.{}.s3", region.name));
                return Err(Failed);
            }
        };
        let policy = match p.get("PolicyDocument") {
            None => None,
            Some(n) => {
                let v = match n.as_str() {
                    Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
                        Ok(v) => v,
                        Err(e) => {
                            self.report("BadPolicy", p.at("PolicyDocument"), format!("PolicyDocument is not JSON: {e}"), "an endpoint policy is an IAM policy document (JSON, or a YAML mapping in a template)", "write the policy as a mapping or valid JSON");
                            return Err(Failed);
                        }
                    },
                    None => n.to_json(),
                };
                if let Err(e) = crate::model::policy::Policy::parse(&v) {
                    self.report("BadPolicy", p.at("PolicyDocument"), format!("PolicyDocument is not a valid endpoint policy: {}", e.reason()), "an endpoint policy is an IAM policy document: Version, and Statements each with Effect, Principal, Action and Resource (AWS answers InvalidPolicyDocument)", "fix the statement named, e.g. Statement: [{Effect: Allow, Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::my-bucket/*'}]");
                    return Err(Failed);
                }
                Some(v)
            }
        };
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        match kind.as_str() {
            "Gateway" => {
                let Some(svc) = region
                    .gateway_service(&short)
                    .filter(|_| endpoint_service.is_none())
                else {
                    self.report("NotAGatewayService", p.at("ServiceName"), format!("{service_name} has no gateway endpoint"), "gateway endpoints exist only for S3 and DynamoDB; every other service uses an interface endpoint", "set VpcEndpointType: Interface with SubnetIds, or use the s3 or dynamodb service");
                    return Err(Failed);
                };
                for k in ["SubnetIds", "SecurityGroupIds", "PrivateDnsEnabled"] {
                    if p.get(k).is_some() {
                        self.report("BadEndpoint", p.at(k), format!("{k} is given for a gateway endpoint"), "gateway endpoints have no subnets, security groups or private DNS: they are route-table targets", &format!("remove {k}, or set VpcEndpointType: Interface"));
                    }
                }
                let mut rts = vec![];
                for s in self.str_list(p, "RouteTableIds")? {
                    let s = self.id_of(p, "RouteTableIds", Kind::RouteTable, &s)?;
                    rts.push(RouteTableId::parse(&s).expect("lab ids parse"));
                }
                let pl = PrefixListId::from_catalog(svc.prefix_list_id);
                for rt in &rts {
                    let table = self
                        .lab
                        .route_tables
                        .iter_mut()
                        .find(|r| &r.id == rt)
                        .expect("checked");
                    table.routes.push(Route {
                        destination: Destination::PrefixList(pl.clone()),
                        target: RouteTarget::GatewayEndpoint(id.clone()),
                        route_origin: RouteOrigin::CreateRoute,
                        origin: p.origin.clone(),
                    });
                }
                self.lab.vpc_endpoints.push(VpcEndpoint {
                    id: id.clone(),
                    vpc,
                    service_name,
                    kind: EndpointKind::Gateway {
                        route_tables: rts,
                        prefix_list: pl,
                    },
                    policy,
                    state: "available".into(),
                    tags,
                    origin: p.origin.clone(),
                });
                let mut atts = BTreeMap::new();
                atts.insert("Id".into(), Node::scalar(id.to_string(), l));
                atts.insert(
                    "CreationTimestamp".into(),
                    Node::scalar("2026-01-01T00:00:00.000Z", l),
                );
                atts.insert(
                    "DnsEntries".into(),
                    Node {
                        v: V::Seq(vec![]),
                        line: l,
                    },
                );
                atts.insert(
                    "NetworkInterfaceIds".into(),
                    Node {
                        v: V::Seq(vec![]),
                        line: l,
                    },
                );
                Ok(Built {
                    ref_value: id.to_string(),
                    atts,
                })
            }
            "Interface" => {
                if endpoint_service.is_none()
                    && region.interface_service(&short).is_none()
                    && region.gateway_service(&short).is_none()
                {
                    self.report("UnknownService", p.at("ServiceName"), format!("vpclab does not know the service {service_name}"), "an interface endpoint connects to an AWS service of the region or to an endpoint service", &format!("use one of: {}", region.interface_services.iter().map(|s| s.short).collect::<Vec<_>>().join(", ")));
                    return Err(Failed);
                }
                if p.get("RouteTableIds").is_some() {
                    self.report(
                        "BadEndpoint",
                        p.at("RouteTableIds"),
                        "RouteTableIds is given for an interface endpoint".into(),
                        "interface endpoints add no routes: they are network interfaces in subnets",
                        "remove RouteTableIds",
                    );
                }
                let subnet_strs = self.str_list(p, "SubnetIds")?;
                if subnet_strs.is_empty() {
                    self.report(
                        "MissingProperty",
                        p.origin.clone(),
                        "an interface endpoint needs SubnetIds".into(),
                        "an interface endpoint places one network interface in each of its subnets",
                        "add SubnetIds: [!Ref YourSubnet]",
                    );
                    return Err(Failed);
                }
                let mut subnets = vec![];
                for s in subnet_strs {
                    let s = self.id_of(p, "SubnetIds", Kind::Subnet, &s)?;
                    subnets.push(SubnetId::parse(&s).expect("lab ids parse"));
                }
                let mut sgs = self.sg_ids(p, "SecurityGroupIds")?;
                if sgs.is_empty() {
                    sgs.push(
                        self.lab
                            .vpc(&vpc)
                            .expect("checked")
                            .default_security_group
                            .clone(),
                    );
                }
                let private_dns = self.opt_bool(p, "PrivateDnsEnabled", false)?;
                let mut enis = vec![];
                let suffix = hex_digits(&format!("dns/{logical}"), 8);
                let svc_part = match &endpoint_service {
                    Some(s) => s.id.to_string(),
                    None => short.clone(),
                };
                for s in &subnets {
                    let sub = self.lab.subnet(s).expect("checked").clone();
                    let eni_id = EniId::generate(&format!("{logical}/{s}"));
                    let ip = self.private_ip(p, s, None, &format!("endpoint/{logical}/{s}"))?;
                    self.lab.network_interfaces.push(NetworkInterface {
                        id: eni_id.clone(),
                        subnet: s.clone(),
                        vpc: sub.vpc.clone(),
                        mac: Mac::generate(eni_id.as_str()),
                        private_ip: ip,
                        public_ip: None,
                        security_groups: sgs.clone(),
                        owner: EniOwner::InterfaceEndpoint(id.clone()),
                        description: format!("VPC Endpoint Interface {id}"),
                        requester_managed: true,
                        source_dest_check: true,
                    });
                    enis.push(eni_id);
                }
                let private = (private_dns && endpoint_service.is_none())
                    .then(|| elbv2::private_dns_entry(region.name, &short, logical));
                let dns = elbv2::interface_dns_entries(
                    &self.lab, &id, &suffix, &svc_part, &subnets, private,
                );
                let state = match &endpoint_service {
                    Some(s) if s.acceptance_required => "pendingAcceptance",
                    _ => "available",
                };
                let mut atts = BTreeMap::new();
                atts.insert("Id".into(), Node::scalar(id.to_string(), l));
                atts.insert(
                    "CreationTimestamp".into(),
                    Node::scalar("2026-01-01T00:00:00.000Z", l),
                );
                atts.insert(
                    "DnsEntries".into(),
                    Node {
                        v: V::Seq(
                            dns.iter()
                                .map(|(n, z)| Node::scalar(format!("{z}:{n}"), l))
                                .collect(),
                        ),
                        line: l,
                    },
                );
                atts.insert(
                    "NetworkInterfaceIds".into(),
                    Node {
                        v: V::Seq(
                            enis.iter()
                                .map(|e| Node::scalar(e.to_string(), l))
                                .collect(),
                        ),
                        line: l,
                    },
                );
                self.lab.vpc_endpoints.push(VpcEndpoint {
                    id: id.clone(),
                    vpc,
                    service_name,
                    kind: EndpointKind::Interface {
                        subnets,
                        network_interfaces: enis,
                        security_groups: sgs,
                        private_dns_enabled: private_dns,
                        dns_entries: dns,
                    },
                    policy,
                    state: state.into(),
                    tags,
                    origin: p.origin.clone(),
                });
                Ok(Built {
                    ref_value: id.to_string(),
                    atts,
                })
            }
            other => {
                self.report(
                    "Unsupported",
                    p.at("VpcEndpointType"),
                    format!("VpcEndpointType {other} is not emulated"),
                    "vpclab emulates Gateway and Interface endpoints",
                    "use Gateway (S3, DynamoDB) or Interface",
                );
                Err(Failed)
            }
        }
    }

    fn endpoint_service(&mut self, p: &Props, logical: &str) -> R<Built> {
        if p.get("GatewayLoadBalancerArns").is_some() {
            self.report(
                "Unsupported",
                p.at("GatewayLoadBalancerArns"),
                "Gateway Load Balancer endpoint services are not emulated".into(),
                "vpclab emulates endpoint services behind Network Load Balancers",
                "use NetworkLoadBalancerArns",
            );
            return Err(Failed);
        }
        let mut nlbs = vec![];
        for a in self.str_list(p, "NetworkLoadBalancerArns")? {
            let a = self.id_of(p, "NetworkLoadBalancerArns", Kind::LoadBalancer, &a)?;
            nlbs.push(a);
        }
        if nlbs.is_empty() {
            self.report(
                "MissingProperty",
                p.origin.clone(),
                "an endpoint service needs NetworkLoadBalancerArns".into(),
                "an endpoint service puts a Network Load Balancer behind PrivateLink",
                "add NetworkLoadBalancerArns: [!Ref YourNLB]",
            );
            return Err(Failed);
        }
        let acceptance = self.opt_bool(p, "AcceptanceRequired", true)?;
        let id = VpceSvcId::generate(logical);
        let service_name = elbv2::endpoint_service_name(self.ctx.region.name, &id);
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.endpoint_services.push(EndpointService {
            id: id.clone(),
            service_name: service_name.clone(),
            network_load_balancers: nlbs,
            acceptance_required: acceptance,
            allowed_principals: vec![],
            tags,
            origin: p.origin.clone(),
        });
        let l = p.origin.line.unwrap_or(0);
        let mut atts = BTreeMap::new();
        atts.insert("ServiceId".into(), Node::scalar(id.to_string(), l));
        atts.insert("ServiceName".into(), Node::scalar(service_name, l));
        Ok(Built {
            ref_value: id.to_string(),
            atts,
        })
    }

    fn service_permissions(&mut self, p: &Props, logical: &str) -> R<Built> {
        let svc = self.req_id(p, "ServiceId", Kind::EndpointService)?;
        let principals = self.str_list(p, "AllowedPrincipals")?;
        let s = self
            .lab
            .endpoint_services
            .iter_mut()
            .find(|s| s.id.as_str() == svc)
            .expect("checked");
        s.allowed_principals = principals;
        Ok(Built::new(format!("{}-{logical}", self.ctx.stack_name)))
    }

    fn load_balancer(&mut self, p: &Props, logical: &str) -> R<Built> {
        let lb_type = self
            .opt_str(p, "Type")?
            .unwrap_or_else(|| "application".into());
        if lb_type != "network" {
            self.report(
                "Unsupported",
                p.at("Type"),
                format!(
                    "load balancer Type {lb_type} is not emulated{}",
                    if p.get("Type").is_none() {
                        " (application is CloudFormation's default)"
                    } else {
                        ""
                    }
                ),
                "vpclab emulates Network Load Balancers",
                "set Type: network",
            );
            return Err(Failed);
        }
        let scheme = self
            .opt_str(p, "Scheme")?
            .unwrap_or_else(|| "internet-facing".into());
        if scheme != "internet-facing" && scheme != "internal" {
            self.report(
                "BadPropertyType",
                p.at("Scheme"),
                format!("Scheme '{scheme}'"),
                "Scheme is internet-facing or internal",
                "write internal or internet-facing",
            );
            return Err(Failed);
        }
        let name = match self.opt_str(p, "Name")? {
            Some(n) => n,
            None => elbv2::generated_name(self.ctx.stack_name, logical),
        };
        // Subnets, with optional pinned addresses.
        let mut mappings: Vec<(SubnetId, Option<Ipv4Addr>)> = vec![];
        for s in self.str_list(p, "Subnets")? {
            let s = self.id_of(p, "Subnets", Kind::Subnet, &s)?;
            mappings.push((SubnetId::parse(&s).expect("lab ids parse"), None));
        }
        if let Some(Node {
            v: V::Seq(items), ..
        }) = p.get("SubnetMappings")
        {
            for it in items.clone() {
                let m = Props {
                    node: it.clone(),
                    origin: p.origin.at(it.line),
                };
                let s = self.subnet_id(&m, "SubnetId")?;
                let pin = self.opt_str(&m, "PrivateIPv4Address")?;
                let pin = self.parse_pinned(&m, "PrivateIPv4Address", pin)?;
                mappings.push((s, pin));
            }
        }
        if mappings.is_empty() {
            self.report(
                "MissingProperty",
                p.origin.clone(),
                "the load balancer names no subnets".into(),
                "a load balancer has one node per subnet (Subnets or SubnetMappings)",
                "add Subnets: [!Ref YourSubnet]",
            );
            return Err(Failed);
        }
        let vpc = self
            .lab
            .subnet(&mappings[0].0)
            .expect("checked")
            .vpc
            .clone();
        let mut seen_az: HashMap<String, SubnetId> = HashMap::new();
        for (s, _) in &mappings {
            let sub = self.lab.subnet(s).expect("checked").clone();
            if sub.vpc != vpc {
                self.report(
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
                self.report(
                    "BadLoadBalancer",
                    p.origin.clone(),
                    format!(
                        "two subnets in {} ({} and {})",
                        sub.availability_zone,
                        self.lab.label(Kind::Subnet, first.as_str()),
                        self.lab.label(Kind::Subnet, s.as_str())
                    ),
                    "a load balancer takes at most one subnet per Availability Zone",
                    "keep one subnet per AZ",
                );
                return Err(Failed);
            }
        }
        let sgs = self.sg_ids(p, "SecurityGroups")?;
        let attributes = self.key_values(p, "LoadBalancerAttributes")?;
        let cross_zone = attributes
            .get("load_balancing.cross_zone.enabled")
            .is_some_and(|v| v == "true");
        let enforce = match self
            .opt_str(p, "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic")?
            .as_deref()
        {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                self.report(
                    "BadPropertyType",
                    p.at("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"),
                    format!("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic '{other}'"),
                    "the value is on or off",
                    "write on or off",
                );
                return Err(Failed);
            }
        };
        let hex = elbv2::arn_hex(&format!("lb/{logical}"));
        let region = self.ctx.region;
        let arn = elbv2::load_balancer_arn(region.name, self.ctx.account_id, &name, &hex);
        let dns_name = elbv2::load_balancer_dns_name(region.name, &name, &hex);
        let mut nodes = vec![];
        for (s, pin) in mappings {
            let sub = self.lab.subnet(&s).expect("checked").clone();
            let ip = self.private_ip(p, &s, pin, &format!("lb/{logical}/{s}"))?;
            let eni_id = EniId::generate(&format!("{logical}/{s}"));
            let public_ip =
                (scheme == "internet-facing").then(|| self.public_ip(&format!("lb/{logical}/{s}")));
            self.lab.network_interfaces.push(NetworkInterface {
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
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.load_balancers.push(LoadBalancer {
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

    fn target_group(&mut self, p: &Props, logical: &str) -> R<Built> {
        let protocol = self.opt_str(p, "Protocol")?.unwrap_or_else(|| "TCP".into());
        if !["TCP", "UDP", "TCP_UDP", "TLS"].contains(&protocol.as_str()) {
            self.report(
                "Unsupported",
                p.at("Protocol"),
                format!("target group protocol {protocol} is not emulated"),
                "vpclab emulates Network Load Balancer target groups (TCP, UDP, TCP_UDP, TLS)",
                "use TCP",
            );
            return Err(Failed);
        }
        let target_type = self
            .opt_str(p, "TargetType")?
            .unwrap_or_else(|| "instance".into());
        if target_type != "instance" && target_type != "ip" {
            self.report(
                "Unsupported",
                p.at("TargetType"),
                format!("TargetType {target_type} is not emulated"),
                "vpclab emulates instance and ip targets",
                "use instance or ip",
            );
            return Err(Failed);
        }
        let port = self.opt_int(p, "Port")?;
        let Some(port) = port.and_then(|v| u16::try_from(v).ok()).filter(|v| *v > 0) else {
            self.report(
                "MissingProperty",
                p.at("Port"),
                "Port is required (1–65535)".into(),
                "a target group of instance or ip targets has a port",
                "add Port: 80",
            );
            return Err(Failed);
        };
        let vpc = self.vpc_id(p, "VpcId")?;
        let name = match self.opt_str(p, "Name")? {
            Some(n) => n,
            None => elbv2::generated_name(self.ctx.stack_name, logical),
        };
        let mut targets = vec![];
        if let Some(Node {
            v: V::Seq(items), ..
        }) = p.get("Targets")
        {
            for it in items.clone() {
                let t = Props {
                    node: it.clone(),
                    origin: p.origin.at(it.line),
                };
                let id = self.req_str(&t, "Id")?;
                if target_type == "instance" {
                    self.id_of(&t, "Id", Kind::Instance, &id)?;
                } else if id.parse::<Ipv4Addr>().is_err() {
                    self.report(
                        "BadPropertyType",
                        t.at("Id"),
                        format!("target '{id}' is not an IPv4 address"),
                        "ip target groups register addresses",
                        "write an address, or use TargetType: instance",
                    );
                    return Err(Failed);
                }
                let tport = self
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
        let hc_protocol = self
            .opt_str(p, "HealthCheckProtocol")?
            .unwrap_or_else(|| "TCP".into());
        let hc_port = self
            .opt_str(p, "HealthCheckPort")?
            .unwrap_or_else(|| "traffic-port".into());
        let interval = self
            .opt_int(p, "HealthCheckIntervalSeconds")?
            .unwrap_or(30)
            .clamp(5, 300) as u32;
        let healthy = self
            .opt_int(p, "HealthyThresholdCount")?
            .unwrap_or(5)
            .clamp(2, 10) as u32;
        let unhealthy = self
            .opt_int(p, "UnhealthyThresholdCount")?
            .unwrap_or(2)
            .clamp(2, 10) as u32;
        let hc_enabled = self.opt_bool(p, "HealthCheckEnabled", true)?;
        let hc_path = self
            .opt_str(p, "HealthCheckPath")?
            .unwrap_or_else(|| "/".into());
        let hc_timeout = self
            .opt_int(p, "HealthCheckTimeoutSeconds")?
            .map(|v| v.clamp(2, 120) as u32)
            .unwrap_or_else(|| TargetGroup::default_health_check_timeout(&hc_protocol));
        let matcher = match p.get("Matcher") {
            None => "200-399".to_string(),
            Some(m) => {
                let mp = Props {
                    node: m.clone(),
                    origin: p.origin.at(m.line),
                };
                self.opt_str(&mp, "HttpCode")?
                    .unwrap_or_else(|| "200-399".into())
            }
        };
        let attributes = self.key_values(p, "TargetGroupAttributes")?;
        let hex = elbv2::arn_hex(&format!("tg/{logical}"));
        let region = self.ctx.region;
        let arn = elbv2::target_group_arn(region.name, self.ctx.account_id, &name, &hex);
        let tags = self.cfn_tags(&p.origin, tags_of(p.get("Tags")));
        self.lab.target_groups.push(TargetGroup {
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

    fn listener(&mut self, p: &Props, logical: &str) -> R<Built> {
        let lb = self.req_id(p, "LoadBalancerArn", Kind::LoadBalancer)?;
        let port = self
            .opt_int(p, "Port")?
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| *v > 0);
        let Some(port) = port else {
            self.report(
                "MissingProperty",
                p.at("Port"),
                "Port is required (1–65535)".into(),
                "a Network Load Balancer listener listens on a port",
                "add Port: 80",
            );
            return Err(Failed);
        };
        let protocol = self.opt_str(p, "Protocol")?.unwrap_or_else(|| "TCP".into());
        let mut tg = None;
        if let Some(Node {
            v: V::Seq(actions), ..
        }) = p.get("DefaultActions")
        {
            for a in actions {
                let ap = Props {
                    node: a.clone(),
                    origin: p.origin.at(a.line),
                };
                let ty = self.opt_str(&ap, "Type")?.unwrap_or_default();
                if ty != "forward" {
                    continue;
                }
                let arn = match self.opt_str(&ap, "TargetGroupArn")? {
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
                    tg = Some(self.id_of(&ap, "TargetGroupArn", Kind::TargetGroup, &arn)?);
                }
            }
        }
        let arn = elbv2::listener_arn(&lb, &elbv2::arn_hex(&format!("listener/{logical}")));
        self.lab.listeners.push(Listener {
            arn: arn.clone(),
            load_balancer: lb,
            port,
            protocol,
            target_group: tg,
            origin: p.origin.clone(),
        });
        Ok(Built::new(arn.clone()).att("ListenerArn", arn, p.origin.line))
    }
}

/// The local route of a VPC CIDR.
pub fn local_route(cidr: Ipv4Net, origin: &Origin) -> Route {
    Route {
        destination: Destination::Cidr(cidr.trunc()),
        target: RouteTarget::Local,
        route_origin: RouteOrigin::CreateRouteTable,
        origin: origin.clone(),
    }
}

/// A new network ACL's entries: the default ACL allows everything (rule 100) before the
/// final deny; a custom ACL has only the final deny.
pub fn default_acl_entries(allow_all: bool, origin: &Origin) -> Vec<AclEntry> {
    let any: Ipv4Net = "0.0.0.0/0".parse().unwrap();
    let mut out = vec![];
    for egress in [false, true] {
        if allow_all {
            out.push(AclEntry {
                rule_number: 100,
                egress,
                action: RuleAction::Allow,
                protocol: Protocol::All,
                cidr: any,
                port_range: None,
                icmp: None,
                origin: origin.clone(),
            });
        }
        out.push(AclEntry {
            rule_number: ACL_DEFAULT_RULE,
            egress,
            action: RuleAction::Deny,
            protocol: Protocol::All,
            cidr: any,
            port_range: None,
            icmp: None,
            origin: origin.clone(),
        });
    }
    out
}

/// Reports an [`EvalError`] (poison is already reported).
pub fn push_eval_error(problems: &mut Problems, e: EvalError) {
    if let EvalError::Problem(p) = e {
        problems.push(*p);
    }
}
