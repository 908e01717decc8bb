//! The VPC model: what a lab is, independent of where it came from and where it runs.
//!
//! Contract: a [`Lab`] is fully resolved. Every id is assigned, every address allocated,
//! every default applied (main route table, default security group and network ACL, local
//! routes, allow-all egress), every cross-reference is an id that exists in the lab, so the
//! layers above never see an `Option` that resolution should have filled. A `Lab` is built
//! by the template layer (or, later, changed by live commands) and then checked by the
//! `verify_*` passes in [`verify`], which report every problem at once.
//!
//! Nothing here touches the host.
//!
//! Size: one struct per AWS resource with its documented fields — the model as a catalogue,
//! read top to bottom (the rules over it are in [`verify`] and [`change`]).

pub mod catalog;
pub mod change;
pub mod cidr;
pub mod elbv2;
pub mod flowlog_format;
pub mod ids;
pub mod lookup;
pub mod policy;
pub mod problem;
pub mod verify;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

pub use self::catalog::Region;
pub use self::ids::*;
pub use self::problem::{Origin, Problem, Problems};

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key (`Name`, `aws:cloudformation:logical-id`, …).
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// A resource's tags, in the order CloudFormation would list them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(pub Vec<Tag>);

impl Tags {
    /// The value of tag `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// The `Name` tag.
    pub fn name(&self) -> Option<&str> {
        self.get("Name")
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|t| t.key == key) {
            Some(t) => t.value = value.to_string(),
            None => self.0.push(Tag {
                key: key.to_string(),
                value: value.to_string(),
            }),
        }
    }
}

/// A VPC.
#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    /// The VPC's id (`vpc-…`), derived from its logical id.
    pub id: VpcId,
    /// The VPC's IPv4 CIDR block (`CidrBlock`; AWS allows /16 to /28).
    pub cidr: Ipv4Net,
    /// `EnableDnsSupport` (default true): whether Amazon DNS (the VPC's `.2`) answers in the VPC.
    pub enable_dns_support: bool,
    /// `EnableDnsHostnames` (default false): whether instances with a public address get public DNS
    /// names (and interface endpoints may use private DNS).
    pub enable_dns_hostnames: bool,
    /// The main route table created with the VPC (subnets without an explicit association use it).
    pub main_route_table: RouteTableId,
    /// The `default` security group created with the VPC (used when an instance or endpoint names
    /// no group).
    pub default_security_group: SgId,
    /// The default network ACL created with the VPC (allows everything; subnets without an explicit
    /// association use it).
    pub default_network_acl: AclId,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the VPC was declared (logical id, type, line).
    pub origin: Origin,
}

/// A subnet.
#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    /// The subnet's id (`subnet-…`).
    pub id: SubnetId,
    /// The VPC the subnet is in (`VpcId`).
    pub vpc: VpcId,
    /// The subnet's IPv4 CIDR block (`CidrBlock`), inside the VPC's; five addresses are reserved.
    pub cidr: Ipv4Net,
    /// `AvailabilityZone` (e.g. `ap-northeast-2a`); picked deterministically when not given.
    pub availability_zone: String,
    /// `MapPublicIpOnLaunch` (default false): whether instances launched here get a public address.
    pub map_public_ip_on_launch: bool,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the subnet was declared (logical id, type, line).
    pub origin: Origin,
}

/// An internet gateway and, when attached, its VPC.
#[derive(Debug, Clone, Serialize)]
pub struct InternetGateway {
    /// The gateway's id (`igw-…`).
    pub id: IgwId,
    /// The VPC it is attached to (`AWS::EC2::VPCGatewayAttachment`), `None` while detached.
    pub attachment: Option<VpcId>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the gateway was declared (logical id, type, line).
    pub origin: Origin,
    /// Where the attachment was declared (`AWS::EC2::VPCGatewayAttachment`).
    pub attachment_origin: Option<Origin>,
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RouteTarget {
    /// Within the VPC.
    Local,
    /// An internet gateway.
    InternetGateway(IgwId),
    /// A gateway VPC endpoint (added by the endpoint, never by hand).
    GatewayEndpoint(VpceId),
    /// A network interface.
    NetworkInterface(EniId),
    /// An instance (its primary network interface).
    Instance(InstanceId),
    /// A NAT gateway (not emulated yet: such routes are blackholes).
    NatGateway(NatGatewayId),
    /// A VPC peering connection (not emulated yet: such routes are blackholes).
    Peering(PeeringId),
}

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Destination {
    /// A CIDR block.
    Cidr(Ipv4Net),
    /// A prefix list (its CIDRs, from the region catalog).
    PrefixList(PrefixListId),
}

/// `CreateRouteTable` (the local route) or `CreateRoute` (everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RouteOrigin {
    /// The route every table gets for the VPC's own CIDR (target `local`); it cannot be deleted.
    CreateRouteTable,
    /// A route added by `AWS::EC2::Route`, `create-route` or a gateway endpoint.
    CreateRoute,
}

/// One route of a route table.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// What the route matches: a CIDR (`DestinationCidrBlock`) or a prefix list
    /// (`DestinationPrefixListId`).
    pub destination: Destination,
    /// Where matching traffic goes (`GatewayId`, `InstanceId`, `NetworkInterfaceId`, …, or
    /// `local`).
    pub target: RouteTarget,
    /// How the route came to be, as `describe-route-tables` prints it in `Origin`.
    pub route_origin: RouteOrigin,
    /// Where the route was declared (the table's line for the local route; `live route` for
    /// `create-route`).
    pub origin: Origin,
}

/// A subnet's explicit association with a route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTableAssociation {
    /// The association's id (`rtbassoc-…`).
    pub id: RouteTableAssociationId,
    /// The subnet associated with the table (`SubnetId`).
    pub subnet: SubnetId,
    /// Where the association was declared (`AWS::EC2::SubnetRouteTableAssociation`, or
    /// `live association` for `associate-route-table`).
    pub origin: Origin,
}

/// A route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    /// The route table's id (`rtb-…`).
    pub id: RouteTableId,
    /// The VPC the table belongs to (`VpcId`).
    pub vpc: VpcId,
    /// The VPC's main route table (implicitly associated with every other subnet).
    pub main: bool,
    /// The association id of the main table's implicit association.
    pub main_association: Option<RouteTableAssociationId>,
    /// The table's routes: the local route first, then the others in the order they were added.
    pub routes: Vec<Route>,
    /// Explicit subnet associations (the main table's implicit one is not listed here).
    pub associations: Vec<RouteTableAssociation>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the table was declared (the VPC's line for a main table).
    pub origin: Origin,
}

/// An IP protocol as security groups and network ACLs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// `-1`: every protocol (ports ignored).
    All,
    /// `tcp` (6).
    Tcp,
    /// `udp` (17).
    Udp,
    /// `icmp` (1): the rule's ports are ICMP type and code.
    Icmp,
    /// `icmpv6` (58): accepted, but its rules never match (vpclab carries IPv4 only).
    Icmpv6,
    /// Any other IP protocol number (ports ignored).
    Number(u8),
}

impl Protocol {
    /// Parses AWS's spelling: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`, `all` or a number 0–255.
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s.to_ascii_lowercase().as_str() {
            "-1" | "all" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            "icmpv6" | "58" => Protocol::Icmpv6,
            n => Protocol::Number(n.parse().ok()?),
        })
    }

    /// The IP protocol number, `None` for all.
    pub fn number(self) -> Option<u8> {
        match self {
            Protocol::All => None,
            Protocol::Tcp => Some(6),
            Protocol::Udp => Some(17),
            Protocol::Icmp => Some(1),
            Protocol::Icmpv6 => Some(58),
            Protocol::Number(n) => Some(n),
        }
    }

    /// How `describe-security-groups` prints it (`tcp`, `-1`, `50`).
    pub fn aws_name(self) -> String {
        match self {
            Protocol::All => "-1".into(),
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::Icmpv6 => "icmpv6".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    /// Whether rules of this protocol carry ports (TCP, UDP) or ICMP type/code.
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            Protocol::Tcp | Protocol::Udp | Protocol::Icmp | Protocol::Icmpv6
        )
    }
}

/// The other side of a security-group rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Peer {
    /// An IPv4 CIDR block (`CidrIp`).
    Cidr(Ipv4Net),
    /// The private IPs of every ENI in that group.
    Group(SgId),
    /// A prefix list (`SourcePrefixListId`/`DestinationPrefixListId`): the CIDRs of an AWS-managed
    /// list from the region catalog.
    PrefixList(PrefixListId),
}

/// One security-group rule. `from_port`/`to_port` are AWS's: ports for TCP/UDP, ICMP
/// type/code for ICMP (`-1` = all), absent for protocol `-1`.
#[derive(Debug, Clone, Serialize)]
pub struct SgRule {
    /// The rule's id (`sgr-…`).
    pub id: SgRuleId,
    /// `IpProtocol`.
    pub protocol: Protocol,
    /// `FromPort`: the first port, or the ICMP type (`-1` = all); `None` when the protocol takes no
    /// ports.
    pub from_port: Option<i32>,
    /// `ToPort`: the last port, or the ICMP code (`-1` = all); `None` when the protocol takes no
    /// ports.
    pub to_port: Option<i32>,
    /// The source (ingress) or destination (egress) the rule allows.
    pub peer: Peer,
    /// `Description`, if given.
    pub description: Option<String>,
    /// Where the rule was declared (the group's entry, or its standalone resource).
    pub origin: Origin,
}

/// A security group.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    /// The group's id (`sg-…`).
    pub id: SgId,
    /// The VPC the group belongs to (`VpcId`, required here: a lab has no default VPC).
    pub vpc: VpcId,
    /// `GroupName`; when not given, `<stack>-<logical id>-<12 hex digits>` as CloudFormation names
    /// it, `default` for the VPC's default group.
    pub group_name: String,
    /// `GroupDescription`.
    pub description: String,
    /// Inbound rules (`SecurityGroupIngress` and standalone `AWS::EC2::SecurityGroupIngress`).
    pub ingress: Vec<SgRule>,
    /// Outbound rules (`SecurityGroupEgress` and standalone `AWS::EC2::SecurityGroupEgress`);
    /// allow-all to `0.0.0.0/0` when `SecurityGroupEgress` is absent.
    pub egress: Vec<SgRule>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the group was declared (the VPC's line for the default group).
    pub origin: Origin,
}

/// Allow or deny, for network ACL entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RuleAction {
    /// Let the packet through.
    Allow,
    /// Drop the packet.
    Deny,
}

/// The catch-all rule number, printed `*` by the console and 32767 by the API.
pub const ACL_DEFAULT_RULE: u16 = 32767;

/// One network ACL entry.
#[derive(Debug, Clone, Serialize)]
pub struct AclEntry {
    /// `RuleNumber` (1–32766; [`ACL_DEFAULT_RULE`] for the catch-all): entries are evaluated in
    /// increasing order, first match wins.
    pub rule_number: u16,
    /// `Egress`: an outbound entry (default false: inbound).
    pub egress: bool,
    /// `RuleAction`: allow or deny.
    pub action: RuleAction,
    /// `Protocol` (a number, or `-1` for all).
    pub protocol: Protocol,
    /// `CidrBlock`: the remote side (source inbound, destination outbound).
    pub cidr: Ipv4Net,
    /// TCP/UDP port range.
    pub port_range: Option<(u16, u16)>,
    /// ICMP type and code (`-1` = all).
    pub icmp: Option<(i16, i16)>,
    /// Where the entry was declared (the ACL's line for the default entries; `live network ACL
    /// entry` for `create-network-acl-entry`).
    pub origin: Origin,
}

/// A subnet's association with a network ACL.
#[derive(Debug, Clone, Serialize)]
pub struct AclAssociation {
    /// The association's id (`aclassoc-…`).
    pub id: AclAssociationId,
    /// The subnet associated with the ACL (`SubnetId`).
    pub subnet: SubnetId,
    /// Where the association was declared (`AWS::EC2::SubnetNetworkAclAssociation`).
    pub origin: Origin,
}

/// A network ACL.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkAcl {
    /// The ACL's id (`acl-…`).
    pub id: AclId,
    /// The VPC the ACL belongs to (`VpcId`).
    pub vpc: VpcId,
    /// Whether this is the VPC's default ACL (created with it, allows everything).
    pub is_default: bool,
    /// The entries of both directions (`egress` tells them apart), evaluated by rule number; each
    /// direction ends in the catch-all deny ([`ACL_DEFAULT_RULE`]).
    pub entries: Vec<AclEntry>,
    /// Explicit associations; subnets without one use the VPC's default ACL.
    pub associations: Vec<AclAssociation>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the ACL was declared (the VPC's line for the default ACL).
    pub origin: Origin,
}

/// What a network interface belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EniOwner {
    /// An instance's primary interface (device index 0).
    Instance(InstanceId),
    /// An interface endpoint's interface in one of its subnets (requester-managed).
    InterfaceEndpoint(VpceId),
    /// An NLB node (index into [`Lab::load_balancers`] by ARN).
    LoadBalancer(String),
}

/// A network interface (ENI).
#[derive(Debug, Clone, Serialize)]
pub struct NetworkInterface {
    /// The interface's id (`eni-…`).
    pub id: EniId,
    /// The subnet the interface is in.
    pub subnet: SubnetId,
    /// The VPC of that subnet.
    pub vpc: VpcId,
    /// The interface's MAC address, deterministic from its id.
    pub mac: Mac,
    /// The primary private IPv4 address, allocated from the subnet (or pinned by the template).
    pub private_ip: Ipv4Addr,
    /// The public IPv4 address the internet gateway maps to it (auto-assigned, an Elastic IP's, or
    /// an internet-facing load balancer node's).
    pub public_ip: Option<Ipv4Addr>,
    /// The security groups applied to the interface's traffic.
    pub security_groups: Vec<SgId>,
    /// What the interface belongs to.
    pub owner: EniOwner,
    /// AWS's `Description`: empty for an instance's, `VPC Endpoint Interface vpce-…`,
    /// `ELB net/<name>/<hex>`.
    pub description: String,
    /// AWS's `RequesterManaged`: true for interfaces AWS creates (endpoints, load balancers).
    pub requester_managed: bool,
    /// `SourceDestCheck` (default true): whether the router drops traffic the interface sends or
    /// receives for addresses that are not its own.
    pub source_dest_check: bool,
}

/// An EC2 instance (a network namespace when the lab runs).
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// The instance's id (`i-…`).
    pub id: InstanceId,
    /// The primary network interface (device index 0).
    pub eni: EniId,
    /// The subnet it was launched into (`SubnetId` or `NetworkInterfaces[0].SubnetId`).
    pub subnet: SubnetId,
    /// The VPC of that subnet.
    pub vpc: VpcId,
    /// Its primary private IPv4 address (the primary interface's; `PrivateIpAddress` pins it).
    pub private_ip: Ipv4Addr,
    /// Its public IPv4 address: auto-assigned (`MapPublicIpOnLaunch`, `AssociatePublicIpAddress`)
    /// or an Elastic IP's.
    pub public_ip: Option<Ipv4Addr>,
    /// Its security groups (`SecurityGroupIds`, `SecurityGroups` or `GroupSet`; the VPC's default
    /// group when none is named).
    pub security_groups: Vec<SgId>,
    /// The subnet's Availability Zone.
    pub availability_zone: String,
    /// `ip-10-0-1-109`
    pub hostname: String,
    /// `ip-10-0-1-109.ap-northeast-2.compute.internal`
    pub private_dns_name: String,
    /// `ec2-3-34-1-2.ap-northeast-2.compute.amazonaws.com` when it has a public IP and the
    /// VPC has DNS hostnames on; else empty, as AWS prints it.
    pub public_dns_name: String,
    /// `ImageId`, recorded and served by the metadata service (every instance runs the same Amazon
    /// Linux personality).
    pub image_id: Option<String>,
    /// `InstanceType` (default `m1.small`, as EC2), recorded and served by the metadata service.
    pub instance_type: String,
    /// `KeyName`: the lab key pair whose public key is installed for SSH.
    pub key_name: Option<String>,
    /// Decoded user data (a script), if any.
    pub user_data: Option<String>,
    /// How the instance metadata service answers it (`MetadataOptions`).
    pub metadata_options: MetadataOptions,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the instance was declared (logical id, type, line).
    pub origin: Origin,
}

impl Instance {
    /// The name a lab gives the instance (its namespace, `exec`, `status`): its logical id,
    /// else its id.
    pub fn name(&self) -> String {
        self.origin
            .logical_id
            .clone()
            .unwrap_or_else(|| self.id.to_string())
    }
}

/// An instance's `MetadataOptions`, with EC2's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetadataOptions {
    /// `HttpTokens: required`: IMDSv2 only; a request without a token gets 401.
    pub http_tokens_required: bool,
    /// `HttpPutResponseHopLimit` (1–64): the TTL of the token's reply.
    pub http_put_response_hop_limit: u8,
    /// `HttpEndpoint: enabled`: IMDS answers at all.
    pub http_endpoint_enabled: bool,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            http_tokens_required: false,
            http_put_response_hop_limit: 1,
            http_endpoint_enabled: true,
        }
    }
}

/// An Elastic IP address.
#[derive(Debug, Clone, Serialize)]
pub struct ElasticIp {
    /// The allocation id (`eipalloc-…`).
    pub allocation_id: EipAllocId,
    /// The Elastic IP address, from the lab's public pool.
    pub public_ip: Ipv4Addr,
    /// The instance it is associated with (`InstanceId`), if any.
    pub instance: Option<InstanceId>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the address was declared (`AWS::EC2::EIP`).
    pub origin: Origin,
}

/// Gateway or interface endpoint details.
#[derive(Debug, Clone, Serialize)]
pub enum EndpointKind {
    /// S3 / DynamoDB: a route-table target.
    Gateway {
        /// `RouteTableIds`: the tables given a route to the service's prefix list.
        route_tables: Vec<RouteTableId>,
        /// The service's AWS-managed prefix list (`pl-…`), the destination of those routes.
        prefix_list: PrefixListId,
    },
    /// PrivateLink: one ENI per subnet.
    Interface {
        /// `SubnetIds`: one endpoint network interface in each.
        subnets: Vec<SubnetId>,
        /// The endpoint's network interfaces, one per subnet in the same order.
        network_interfaces: Vec<EniId>,
        /// `SecurityGroupIds` applied to those interfaces (the VPC's default group when none is
        /// named).
        security_groups: Vec<SgId>,
        /// `PrivateDnsEnabled` (default false, as CloudFormation): whether the AWS service's own
        /// regional name resolves to the endpoint's addresses in the VPC.
        private_dns_enabled: bool,
        /// `(dns name, hosted zone id)`, regional first, then zonal.
        dns_entries: Vec<(String, String)>,
    },
}

/// A VPC endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct VpcEndpoint {
    /// The endpoint's id (`vpce-…`).
    pub id: VpceId,
    /// The VPC the endpoint is in (`VpcId`).
    pub vpc: VpcId,
    /// `ServiceName`: `com.amazonaws.<region>.<service>` or an endpoint service's
    /// `com.amazonaws.vpce.<region>.vpce-svc-…`.
    pub service_name: String,
    /// Gateway or interface, with that kind's details.
    pub kind: EndpointKind,
    /// The policy document (JSON), `None` for the default full-access policy.
    pub policy: Option<serde_json::Value>,
    /// AWS's states: `available`, `pendingAcceptance`, `rejected`, `pending`.
    pub state: String,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the endpoint was declared (logical id, type, line), or `live VPC endpoint`.
    pub origin: Origin,
}

impl VpcEndpoint {
    /// Whether traffic flows through the endpoint: only in AWS's `available` state
    /// (`pendingAcceptance`, `rejected`, `pending` pass nothing).
    pub fn passes_traffic(&self) -> bool {
        self.state == "available"
    }
}

/// A VPC endpoint service (PrivateLink provider side).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointService {
    /// The service's id (`vpce-svc-…`).
    pub id: VpceSvcId,
    /// `com.amazonaws.vpce.<region>.vpce-svc-…`, the name consumers' endpoints give.
    pub service_name: String,
    /// `NetworkLoadBalancerArns`: the load balancers behind the service.
    pub network_load_balancers: Vec<String>,
    /// `AcceptanceRequired` (default true): whether a new connection waits in `pendingAcceptance`
    /// until the provider accepts it.
    pub acceptance_required: bool,
    /// `AllowedPrincipals` (`AWS::EC2::VPCEndpointServicePermissions`): who may connect: `*` or IAM
    /// ARNs (`arn:aws:iam::<account>:root`, `…:role/NAME`, `…:user/NAME`).
    pub allowed_principals: Vec<String>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the service was declared (logical id, type, line), or `live VPC endpoint service`.
    pub origin: Origin,
}

/// One NLB node: the load balancer's ENI in one subnet/AZ.
#[derive(Debug, Clone, Serialize)]
pub struct LbNode {
    /// The subnet the node is in (`Subnets` or `SubnetMappings`).
    pub subnet: SubnetId,
    /// That subnet's Availability Zone.
    pub availability_zone: String,
    /// The node's network interface (requester-managed, owned by the load balancer).
    pub eni: EniId,
    /// The node's private address (`SubnetMappings[].PrivateIPv4Address` pins it).
    pub private_ip: Ipv4Addr,
}

/// A load balancer (vpclab emulates the network kind).
#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    /// The load balancer's ARN
    /// (`arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/net/<name>/<hex>`).
    pub arn: String,
    /// `Name`; generated from the stack and logical id when not given.
    pub name: String,
    /// `<name>-<hex>.elb.<region>.amazonaws.com`, which Amazon DNS resolves to the nodes.
    pub dns_name: String,
    /// `network` or `application`.
    pub lb_type: String,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    /// The VPC of the load balancer's subnets.
    pub vpc: VpcId,
    /// One node per subnet (at most one per Availability Zone).
    pub nodes: Vec<LbNode>,
    /// `SecurityGroups` applied to the nodes' interfaces (none: no filtering, as AWS).
    pub security_groups: Vec<SgId>,
    /// `load_balancing.cross_zone.enabled`, kept in sync with [`LoadBalancer::attributes`].
    pub cross_zone: bool,
    /// `LoadBalancerAttributes` as given or set live (`modify-load-balancer-attributes`).
    pub attributes: BTreeMap<String, String>,
    /// `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic` (`on`, AWS's default, → true):
    /// whether the NLB's security groups also filter traffic arriving through PrivateLink.
    pub enforce_sg_inbound_on_privatelink: bool,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the load balancer was declared (logical id, type, line), or `live load balancer`.
    pub origin: Origin,
}

impl LoadBalancer {
    /// The value of attribute `key`, when it was set.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// Sets attribute `key`, keeping [`LoadBalancer::cross_zone`] in sync.
    pub fn set_attribute(&mut self, key: &str, value: &str) {
        if key == "load_balancing.cross_zone.enabled" {
            self.cross_zone = value == "true";
        }
        self.attributes.insert(key.to_string(), value.to_string());
    }
}

/// A target of a target group.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// An instance id, or an IP for `ip` target groups.
    pub id: String,
    /// The port traffic is sent to (`Port`; the target group's port by default).
    pub port: u16,
    /// Where the target was declared (its `Targets` entry, or `register-targets`).
    pub origin: Origin,
}

/// A target group.
#[derive(Debug, Clone, Serialize)]
pub struct TargetGroup {
    /// The target group's ARN (`arn:aws:elasticloadbalancing:…:targetgroup/<name>/<hex>`).
    pub arn: String,
    /// `Name`; generated from the stack and logical id when not given.
    pub name: String,
    /// `Protocol`: `TCP` (default), `UDP`, `TCP_UDP` or `TLS`.
    pub protocol: String,
    /// `Port`: the targets' default port (1–65535).
    pub port: u16,
    /// The VPC of the targets (`VpcId`).
    pub vpc: VpcId,
    /// `instance` or `ip`.
    pub target_type: String,
    /// The registered targets (`Targets`, `register-targets`).
    pub targets: Vec<Target>,
    /// `HealthCheckProtocol`: `TCP` (default), `HTTP` or `HTTPS` (these two request
    /// [`TargetGroup::health_check_path`]).
    pub health_check_protocol: String,
    /// `HealthCheckPort`: a port number or `traffic-port` (the default: each target's own port).
    pub health_check_port: String,
    /// `HealthCheckIntervalSeconds` (default 30, 5–300).
    pub health_check_interval_seconds: u32,
    /// `HealthyThresholdCount` (default 5, 2–10): consecutive passes before a target is healthy.
    pub healthy_threshold_count: u32,
    /// `UnhealthyThresholdCount` (default 2, 2–10): consecutive failures before it is unhealthy.
    pub unhealthy_threshold_count: u32,
    /// The HTTP health check's path (`/` by default).
    pub health_check_path: String,
    /// 10 s for TCP health checks, 6 s for HTTP by default.
    pub health_check_timeout_seconds: u32,
    /// The HTTP codes a healthy target answers (`200-399` by default; `200`, `200,202`, …).
    pub health_check_matcher: String,
    /// `HealthCheckEnabled` (default true).
    pub health_check_enabled: bool,
    /// `TargetGroupAttributes` as given or set live (`modify-target-group-attributes`).
    pub attributes: BTreeMap<String, String>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the target group was declared (logical id, type, line), or `live target group`.
    pub origin: Origin,
}

impl TargetGroup {
    /// AWS's default health-check timeout for a health-check protocol.
    pub fn default_health_check_timeout(health_check_protocol: &str) -> u32 {
        if health_check_protocol.starts_with("HTTP") {
            6
        } else {
            10
        }
    }

    /// The value of attribute `key`, when it was set.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        match self.attribute(key) {
            Some("true") => true,
            Some("false") => false,
            _ => default,
        }
    }

    fn seconds(&self, key: &str, default: u32) -> u32 {
        self.attribute(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Whether the protocol carries UDP (`UDP`, `TCP_UDP`).
    pub fn is_udp(&self) -> bool {
        self.protocol == "UDP" || self.protocol == "TCP_UDP"
    }

    /// `proxy_protocol_v2.enabled` (false).
    pub fn proxy_protocol_v2(&self) -> bool {
        self.flag("proxy_protocol_v2.enabled", false)
    }

    /// `preserve_client_ip.enabled`: true for `instance` targets and for UDP/TCP_UDP, false for
    /// `ip` targets with TCP/TLS.
    pub fn preserve_client_ip(&self) -> bool {
        let default = self.target_type == "instance" || self.is_udp();
        self.flag("preserve_client_ip.enabled", default)
    }

    /// `deregistration_delay.timeout_seconds` (300).
    pub fn deregistration_delay_seconds(&self) -> u32 {
        self.seconds("deregistration_delay.timeout_seconds", 300)
    }

    /// `tcp.idle_timeout.seconds` (350); a UDP target group's flows idle out after 120 s.
    pub fn tcp_idle_timeout_seconds(&self) -> u32 {
        if self.protocol == "UDP" {
            return 120;
        }
        self.seconds("tcp.idle_timeout.seconds", 350)
    }

    /// `load_balancing.cross_zone.enabled`: `Some` when the group decides, `None` when it
    /// follows the load balancer (`use_load_balancer_configuration`, the default).
    pub fn cross_zone(&self) -> Option<bool> {
        match self.attribute("load_balancing.cross_zone.enabled") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        }
    }

    /// `target_health_state.unhealthy.connection_termination.enabled` (true).
    pub fn terminate_on_unhealthy(&self) -> bool {
        self.flag(
            "target_health_state.unhealthy.connection_termination.enabled",
            true,
        )
    }

    /// The port health checks go to for target `t` (`traffic-port`: the target's port).
    pub fn health_check_port_for(&self, t: &Target) -> u16 {
        self.health_check_port.parse().unwrap_or(t.port)
    }
}

/// A load balancer listener.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// The listener's ARN (`arn:aws:elasticloadbalancing:…:listener/net/<name>/<hex>/<hex>`).
    pub arn: String,
    /// The ARN of its load balancer (`LoadBalancerArn`).
    pub load_balancer: String,
    /// `Port` it listens on (1–65535).
    pub port: u16,
    /// `Protocol` (default `TCP`).
    pub protocol: String,
    /// The forward action's target group, if any.
    pub target_group: Option<String>,
    /// Where the listener was declared (logical id, type, line), or `live listener`.
    pub origin: Origin,
}

/// A stack output.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    /// The output's logical name in `Outputs`.
    pub key: String,
    /// Its `Value`, evaluated.
    pub value: String,
    /// Its `Description`, if given.
    pub description: Option<String>,
}

/// What a flow log watches: a VPC (every interface in it), a subnet (its interfaces) or one
/// network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FlowLogResource {
    /// A whole VPC (`ResourceType: VPC`).
    Vpc(VpcId),
    /// One subnet (`ResourceType: Subnet`).
    Subnet(SubnetId),
    /// One network interface (`ResourceType: NetworkInterface`).
    NetworkInterface(EniId),
}

impl FlowLogResource {
    /// The resource's id.
    pub fn id(&self) -> &str {
        match self {
            FlowLogResource::Vpc(v) => v.as_str(),
            FlowLogResource::Subnet(s) => s.as_str(),
            FlowLogResource::NetworkInterface(e) => e.as_str(),
        }
    }

    /// AWS's `ResourceType` (`VPC`, `Subnet`, `NetworkInterface`).
    pub fn type_name(&self) -> &'static str {
        match self {
            FlowLogResource::Vpc(_) => "VPC",
            FlowLogResource::Subnet(_) => "Subnet",
            FlowLogResource::NetworkInterface(_) => "NetworkInterface",
        }
    }

    /// Whether the flow log sees `eni` (in `subnet` of `vpc`).
    pub fn covers(&self, eni: &str, subnet: &str, vpc: &str) -> bool {
        match self {
            FlowLogResource::Vpc(v) => v.as_str() == vpc,
            FlowLogResource::Subnet(s) => s.as_str() == subnet,
            FlowLogResource::NetworkInterface(e) => e.as_str() == eni,
        }
    }
}

/// A flow log's `TrafficType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrafficType {
    /// `ACCEPT`: only accepted traffic is logged.
    Accept,
    /// `REJECT`: only rejected traffic is logged.
    Reject,
    /// `ALL`: both.
    All,
}

impl TrafficType {
    /// Reads AWS's spelling (`ACCEPT`, `REJECT`, `ALL`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACCEPT" => Some(TrafficType::Accept),
            "REJECT" => Some(TrafficType::Reject),
            "ALL" => Some(TrafficType::All),
            _ => None,
        }
    }

    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficType::Accept => "ACCEPT",
            TrafficType::Reject => "REJECT",
            TrafficType::All => "ALL",
        }
    }

    /// Whether a record with this action (`accept`) is logged.
    pub fn keeps(self, accept: bool) -> bool {
        match self {
            TrafficType::Accept => accept,
            TrafficType::Reject => !accept,
            TrafficType::All => true,
        }
    }
}

/// The `MaxAggregationInterval`s AWS takes, in seconds (600 is the default).
pub const FLOW_LOG_INTERVALS: [u32; 2] = [60, 600];

/// A VPC flow log (`AWS::EC2::FlowLog`, `create-flow-logs`).
#[derive(Debug, Clone, Serialize)]
pub struct FlowLog {
    /// The flow log's id (`fl-…`).
    pub id: FlowLogId,
    /// `ResourceType` and `ResourceId`: what it watches.
    pub resource: FlowLogResource,
    /// `TrafficType`: which records it keeps.
    pub traffic_type: TrafficType,
    /// `LogFormat` as given (`None`: the default format).
    pub log_format: Option<String>,
    /// `MaxAggregationInterval`, 60 or 600 seconds.
    pub max_aggregation_interval: u32,
    /// `LogDestinationType`: `cloud-watch-logs` or `s3`.
    pub log_destination_type: String,
    /// `LogDestination` (an ARN), recorded.
    pub log_destination: Option<String>,
    /// `LogGroupName`, recorded.
    pub log_group_name: Option<String>,
    /// `DeliverLogsPermissionArn`, recorded.
    pub deliver_logs_permission_arn: Option<String>,
    /// `Tags`, plus the `aws:cloudformation:*` tags CloudFormation adds.
    pub tags: Tags,
    /// Where the flow log was declared (logical id, type, line), or `live flow log`.
    pub origin: Origin,
}

/// A whole lab: one CloudFormation stack, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Lab {
    /// The stack (and lab) name.
    pub stack_name: String,
    /// The region's name; [`Lab::region`] gives the catalog entry.
    pub region: String,
    /// The account id in ARNs and owner fields (`123456789012`).
    pub account_id: String,
    /// `AWS::EC2::VPC`s.
    pub vpcs: Vec<Vpc>,
    /// `AWS::EC2::Subnet`s.
    pub subnets: Vec<Subnet>,
    /// `AWS::EC2::InternetGateway`s, with their attachments.
    pub internet_gateways: Vec<InternetGateway>,
    /// Route tables: each VPC's main table and `AWS::EC2::RouteTable`s, with routes and
    /// associations.
    pub route_tables: Vec<RouteTable>,
    /// Security groups: each VPC's default group and `AWS::EC2::SecurityGroup`s, with their rules.
    pub security_groups: Vec<SecurityGroup>,
    /// Network ACLs: each VPC's default ACL and `AWS::EC2::NetworkAcl`s, with entries and
    /// associations.
    pub network_acls: Vec<NetworkAcl>,
    /// Every network interface: instances', interface endpoints' and load balancer nodes'.
    pub network_interfaces: Vec<NetworkInterface>,
    /// `AWS::EC2::Instance`s.
    pub instances: Vec<Instance>,
    /// `AWS::EC2::EIP`s.
    pub elastic_ips: Vec<ElasticIp>,
    /// `AWS::EC2::VPCEndpoint`s, gateway and interface.
    pub vpc_endpoints: Vec<VpcEndpoint>,
    /// `AWS::EC2::VPCEndpointService`s (PrivateLink providers).
    pub endpoint_services: Vec<EndpointService>,
    /// `AWS::ElasticLoadBalancingV2::LoadBalancer`s (network).
    pub load_balancers: Vec<LoadBalancer>,
    /// `AWS::ElasticLoadBalancingV2::TargetGroup`s.
    pub target_groups: Vec<TargetGroup>,
    /// `AWS::ElasticLoadBalancingV2::Listener`s.
    pub listeners: Vec<Listener>,
    /// `AWS::EC2::FlowLog`s and flow logs created live.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flow_logs: Vec<FlowLog>,
    /// The template's `Outputs`, evaluated.
    pub outputs: Vec<Output>,
}

impl Lab {
    /// An empty lab in `region` (which must be in the catalog).
    pub fn new(stack_name: &str, region: &str) -> Self {
        Lab {
            stack_name: stack_name.to_string(),
            region: region.to_string(),
            account_id: catalog::ACCOUNT_ID.to_string(),
            vpcs: vec![],
            subnets: vec![],
            internet_gateways: vec![],
            route_tables: vec![],
            security_groups: vec![],
            network_acls: vec![],
            network_interfaces: vec![],
            instances: vec![],
            elastic_ips: vec![],
            vpc_endpoints: vec![],
            endpoint_services: vec![],
            load_balancers: vec![],
            target_groups: vec![],
            listeners: vec![],
            flow_logs: vec![],
            outputs: vec![],
        }
    }

    /// The catalog entry of the lab's region.
    pub fn region(&self) -> &'static Region {
        catalog::region(&self.region).unwrap_or(&catalog::REGIONS[0])
    }

    /// The VPC `id`, if the lab has it.
    pub fn vpc(&self, id: &VpcId) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| &v.id == id)
    }
    /// The subnet `id`, if the lab has it.
    pub fn subnet(&self, id: &SubnetId) -> Option<&Subnet> {
        self.subnets.iter().find(|s| &s.id == id)
    }
    /// The route table `id`, if the lab has it.
    pub fn route_table(&self, id: &RouteTableId) -> Option<&RouteTable> {
        self.route_tables.iter().find(|r| &r.id == id)
    }
    /// The security group `id`, if the lab has it.
    pub fn security_group(&self, id: &SgId) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| &g.id == id)
    }
    /// The network ACL `id`, if the lab has it.
    pub fn network_acl(&self, id: &AclId) -> Option<&NetworkAcl> {
        self.network_acls.iter().find(|a| &a.id == id)
    }
    /// The instance `id`, if the lab has it.
    pub fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.instances.iter().find(|i| &i.id == id)
    }
    /// The network interface `id`, if the lab has it.
    pub fn eni(&self, id: &EniId) -> Option<&NetworkInterface> {
        self.network_interfaces.iter().find(|e| &e.id == id)
    }
    /// The internet gateway `id`, if the lab has it.
    pub fn igw(&self, id: &IgwId) -> Option<&InternetGateway> {
        self.internet_gateways.iter().find(|g| &g.id == id)
    }
    /// The VPC endpoint `id`, if the lab has it.
    pub fn vpc_endpoint(&self, id: &VpceId) -> Option<&VpcEndpoint> {
        self.vpc_endpoints.iter().find(|e| &e.id == id)
    }
    /// The load balancer whose ARN is `arn`, if the lab has it.
    pub fn load_balancer(&self, arn: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.arn == arn)
    }
    /// The target group whose ARN is `arn`, if the lab has it.
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.arn == arn)
    }
    /// The endpoint service `id`, if the lab has it.
    pub fn endpoint_service(&self, id: &VpceSvcId) -> Option<&EndpointService> {
        self.endpoint_services.iter().find(|s| &s.id == id)
    }

    /// The endpoint service called `service_name` (`com.amazonaws.vpce.<region>.vpce-svc-…`).
    pub fn endpoint_service_by_name(&self, service_name: &str) -> Option<&EndpointService> {
        self.endpoint_services
            .iter()
            .find(|s| s.service_name == service_name)
    }

    /// The endpoint service an interface endpoint connects to (`None` for AWS services).
    pub fn endpoint_service_of(&self, e: &VpcEndpoint) -> Option<&EndpointService> {
        self.endpoint_service_by_name(&e.service_name)
    }

    /// The route table a subnet uses: its explicit association, else its VPC's main table.
    pub fn route_table_for(&self, subnet: &SubnetId) -> Option<&RouteTable> {
        self.route_tables
            .iter()
            .find(|rt| rt.associations.iter().any(|a| &a.subnet == subnet))
            .or_else(|| {
                let vpc = &self.subnet(subnet)?.vpc;
                self.route_tables
                    .iter()
                    .find(|rt| rt.main && &rt.vpc == vpc)
            })
    }

    /// The network ACL a subnet uses: its explicit association, else the VPC's default.
    pub fn network_acl_for(&self, subnet: &SubnetId) -> Option<&NetworkAcl> {
        self.network_acls
            .iter()
            .find(|acl| acl.associations.iter().any(|a| &a.subnet == subnet))
            .or_else(|| {
                let vpc = self.vpc(&self.subnet(subnet)?.vpc)?;
                self.network_acl(&vpc.default_network_acl)
            })
    }

    /// The internet gateway attached to a VPC.
    pub fn igw_of(&self, vpc: &VpcId) -> Option<&InternetGateway> {
        self.internet_gateways
            .iter()
            .find(|g| g.attachment.as_ref() == Some(vpc))
    }

    /// The CIDRs of a prefix list from the region catalog (any supported region).
    pub fn prefix_list_cidrs(&self, pl: &PrefixListId) -> Vec<Ipv4Net> {
        catalog::REGIONS
            .iter()
            .flat_map(|r| r.gateway_services.iter().map(move |s| (r, s)))
            .find(|(r, s)| s.prefix_list_id == pl.as_str() && r.name == self.region)
            .map(|(_, s)| s.nets())
            .unwrap_or_default()
    }

    /// The VPC a route target lives in, when it has one.
    pub fn target_vpc(&self, target: &RouteTarget) -> Option<VpcId> {
        match target {
            RouteTarget::Local | RouteTarget::NatGateway(_) | RouteTarget::Peering(_) => None,
            RouteTarget::InternetGateway(g) => self.igw(g)?.attachment.clone(),
            RouteTarget::GatewayEndpoint(e) => Some(self.vpc_endpoint(e)?.vpc.clone()),
            RouteTarget::NetworkInterface(e) => Some(self.eni(e)?.vpc.clone()),
            RouteTarget::Instance(i) => Some(self.instance(i)?.vpc.clone()),
        }
    }

    /// Whether a route's target exists and works (else the route is a `blackhole`).
    pub fn route_is_active(&self, rt: &RouteTable, route: &Route) -> bool {
        match &route.target {
            RouteTarget::Local => true,
            RouteTarget::InternetGateway(g) => self
                .igw(g)
                .is_some_and(|g| g.attachment.as_ref() == Some(&rt.vpc)),
            RouteTarget::GatewayEndpoint(e) => self.vpc_endpoint(e).is_some(),
            RouteTarget::NetworkInterface(e) => self.eni(e).is_some(),
            RouteTarget::Instance(i) => self.instance(i).is_some(),
            RouteTarget::NatGateway(_) | RouteTarget::Peering(_) => false,
        }
    }
}

/// The `ip-10-0-1-109` host name of a private address.
pub fn ip_hostname(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("ip-{}-{}-{}-{}", o[0], o[1], o[2], o[3])
}

/// The `ec2-3-34-1-2.<suffix>` public DNS name of a public address.
pub fn public_hostname(ip: Ipv4Addr, region: &Region) -> String {
    let o = ip.octets();
    format!(
        "ec2-{}-{}-{}-{}.{}",
        o[0], o[1], o[2], o[3], region.public_dns_suffix
    )
}
