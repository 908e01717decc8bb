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
    pub id: VpcId,
    pub cidr: Ipv4Net,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub main_route_table: RouteTableId,
    pub default_security_group: SgId,
    pub default_network_acl: AclId,
    pub tags: Tags,
    pub origin: Origin,
}

/// A subnet.
#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub id: SubnetId,
    pub vpc: VpcId,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    pub map_public_ip_on_launch: bool,
    pub tags: Tags,
    pub origin: Origin,
}

/// An internet gateway and, when attached, its VPC.
#[derive(Debug, Clone, Serialize)]
pub struct InternetGateway {
    pub id: IgwId,
    pub attachment: Option<VpcId>,
    pub tags: Tags,
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
    CreateRouteTable,
    CreateRoute,
}

/// One route of a route table.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub destination: Destination,
    pub target: RouteTarget,
    pub route_origin: RouteOrigin,
    pub origin: Origin,
}

/// A subnet's explicit association with a route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTableAssociation {
    pub id: RouteTableAssociationId,
    pub subnet: SubnetId,
    pub origin: Origin,
}

/// A route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub id: RouteTableId,
    pub vpc: VpcId,
    /// The VPC's main route table (implicitly associated with every other subnet).
    pub main: bool,
    /// The association id of the main table's implicit association.
    pub main_association: Option<RouteTableAssociationId>,
    pub routes: Vec<Route>,
    pub associations: Vec<RouteTableAssociation>,
    pub tags: Tags,
    pub origin: Origin,
}

/// An IP protocol as security groups and network ACLs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// `-1`: every protocol (ports ignored).
    All,
    Tcp,
    Udp,
    Icmp,
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
    Cidr(Ipv4Net),
    /// The private IPs of every ENI in that group.
    Group(SgId),
    PrefixList(PrefixListId),
}

/// One security-group rule. `from_port`/`to_port` are AWS's: ports for TCP/UDP, ICMP
/// type/code for ICMP (`-1` = all), absent for protocol `-1`.
#[derive(Debug, Clone, Serialize)]
pub struct SgRule {
    pub id: SgRuleId,
    pub protocol: Protocol,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Peer,
    pub description: Option<String>,
    pub origin: Origin,
}

/// A security group.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    pub id: SgId,
    pub vpc: VpcId,
    pub group_name: String,
    pub description: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
    pub tags: Tags,
    pub origin: Origin,
}

/// Allow or deny, for network ACL entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RuleAction {
    Allow,
    Deny,
}

/// The catch-all rule number, printed `*` by the console and 32767 by the API.
pub const ACL_DEFAULT_RULE: u16 = 32767;

/// One network ACL entry.
#[derive(Debug, Clone, Serialize)]
pub struct AclEntry {
    pub rule_number: u16,
    pub egress: bool,
    pub action: RuleAction,
    pub protocol: Protocol,
    pub cidr: Ipv4Net,
    /// TCP/UDP port range.
    pub port_range: Option<(u16, u16)>,
    /// ICMP type and code (`-1` = all).
    pub icmp: Option<(i16, i16)>,
    pub origin: Origin,
}

/// A subnet's association with a network ACL.
#[derive(Debug, Clone, Serialize)]
pub struct AclAssociation {
    pub id: AclAssociationId,
    pub subnet: SubnetId,
    pub origin: Origin,
}

/// A network ACL.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkAcl {
    pub id: AclId,
    pub vpc: VpcId,
    pub is_default: bool,
    pub entries: Vec<AclEntry>,
    /// Explicit associations; subnets without one use the VPC's default ACL.
    pub associations: Vec<AclAssociation>,
    pub tags: Tags,
    pub origin: Origin,
}

/// What a network interface belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EniOwner {
    Instance(InstanceId),
    InterfaceEndpoint(VpceId),
    /// An NLB node (index into [`Lab::load_balancers`] by ARN).
    LoadBalancer(String),
}

/// A network interface (ENI).
#[derive(Debug, Clone, Serialize)]
pub struct NetworkInterface {
    pub id: EniId,
    pub subnet: SubnetId,
    pub vpc: VpcId,
    pub mac: Mac,
    pub private_ip: Ipv4Addr,
    pub public_ip: Option<Ipv4Addr>,
    pub security_groups: Vec<SgId>,
    pub owner: EniOwner,
    pub description: String,
    pub requester_managed: bool,
    pub source_dest_check: bool,
}

/// An EC2 instance (a network namespace when the lab runs).
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: InstanceId,
    /// The primary network interface (device index 0).
    pub eni: EniId,
    pub subnet: SubnetId,
    pub vpc: VpcId,
    pub private_ip: Ipv4Addr,
    pub public_ip: Option<Ipv4Addr>,
    pub security_groups: Vec<SgId>,
    pub availability_zone: String,
    /// `ip-10-0-1-109`
    pub hostname: String,
    /// `ip-10-0-1-109.ap-northeast-2.compute.internal`
    pub private_dns_name: String,
    /// `ec2-3-34-1-2.ap-northeast-2.compute.amazonaws.com` when it has a public IP and the
    /// VPC has DNS hostnames on; else empty, as AWS prints it.
    pub public_dns_name: String,
    pub image_id: Option<String>,
    pub instance_type: String,
    pub key_name: Option<String>,
    /// Decoded user data (a script), if any.
    pub user_data: Option<String>,
    /// How the instance metadata service answers it (`MetadataOptions`).
    pub metadata_options: MetadataOptions,
    pub tags: Tags,
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
    pub allocation_id: EipAllocId,
    pub public_ip: Ipv4Addr,
    pub instance: Option<InstanceId>,
    pub tags: Tags,
    pub origin: Origin,
}

/// Gateway or interface endpoint details.
#[derive(Debug, Clone, Serialize)]
pub enum EndpointKind {
    /// S3 / DynamoDB: a route-table target.
    Gateway {
        route_tables: Vec<RouteTableId>,
        prefix_list: PrefixListId,
    },
    /// PrivateLink: one ENI per subnet.
    Interface {
        subnets: Vec<SubnetId>,
        network_interfaces: Vec<EniId>,
        security_groups: Vec<SgId>,
        private_dns_enabled: bool,
        /// `(dns name, hosted zone id)`, regional first, then zonal.
        dns_entries: Vec<(String, String)>,
    },
}

/// A VPC endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct VpcEndpoint {
    pub id: VpceId,
    pub vpc: VpcId,
    pub service_name: String,
    pub kind: EndpointKind,
    /// The policy document (JSON), `None` for the default full-access policy.
    pub policy: Option<serde_json::Value>,
    /// AWS's states: `available`, `pendingAcceptance`, `rejected`, `pending`.
    pub state: String,
    pub tags: Tags,
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
    pub id: VpceSvcId,
    pub service_name: String,
    pub network_load_balancers: Vec<String>,
    pub acceptance_required: bool,
    pub allowed_principals: Vec<String>,
    pub tags: Tags,
    pub origin: Origin,
}

/// One NLB node: the load balancer's ENI in one subnet/AZ.
#[derive(Debug, Clone, Serialize)]
pub struct LbNode {
    pub subnet: SubnetId,
    pub availability_zone: String,
    pub eni: EniId,
    pub private_ip: Ipv4Addr,
}

/// A load balancer (vpclab emulates the network kind).
#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    /// `network` or `application`.
    pub lb_type: String,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    pub vpc: VpcId,
    pub nodes: Vec<LbNode>,
    pub security_groups: Vec<SgId>,
    /// `load_balancing.cross_zone.enabled`, kept in sync with [`LoadBalancer::attributes`].
    pub cross_zone: bool,
    /// `LoadBalancerAttributes` as given or set live (`modify-load-balancer-attributes`).
    pub attributes: BTreeMap<String, String>,
    /// `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic` (`on`, AWS's default, → true):
    /// whether the NLB's security groups also filter traffic arriving through PrivateLink.
    pub enforce_sg_inbound_on_privatelink: bool,
    pub tags: Tags,
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
    pub port: u16,
    pub origin: Origin,
}

/// A target group.
#[derive(Debug, Clone, Serialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub vpc: VpcId,
    /// `instance` or `ip`.
    pub target_type: String,
    pub targets: Vec<Target>,
    pub health_check_protocol: String,
    pub health_check_port: String,
    pub health_check_interval_seconds: u32,
    pub healthy_threshold_count: u32,
    pub unhealthy_threshold_count: u32,
    /// The HTTP health check's path (`/` by default).
    pub health_check_path: String,
    /// 10 s for TCP health checks, 6 s for HTTP by default.
    pub health_check_timeout_seconds: u32,
    /// The HTTP codes a healthy target answers (`200-399` by default; `200`, `200,202`, …).
    pub health_check_matcher: String,
    pub health_check_enabled: bool,
    /// `TargetGroupAttributes` as given or set live (`modify-target-group-attributes`).
    pub attributes: BTreeMap<String, String>,
    pub tags: Tags,
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
    pub arn: String,
    pub load_balancer: String,
    pub port: u16,
    pub protocol: String,
    /// The forward action's target group, if any.
    pub target_group: Option<String>,
    pub origin: Origin,
}

/// A stack output.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
}

/// What a flow log watches: a VPC (every interface in it), a subnet (its interfaces) or one
/// network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FlowLogResource {
    Vpc(VpcId),
    Subnet(SubnetId),
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
    Accept,
    Reject,
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
    pub id: FlowLogId,
    pub resource: FlowLogResource,
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
    pub tags: Tags,
    pub origin: Origin,
}

/// A whole lab: one CloudFormation stack, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Lab {
    /// The stack (and lab) name.
    pub stack_name: String,
    /// The region's name; [`Lab::region`] gives the catalog entry.
    pub region: String,
    pub account_id: String,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub internet_gateways: Vec<InternetGateway>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
    pub network_interfaces: Vec<NetworkInterface>,
    pub instances: Vec<Instance>,
    pub elastic_ips: Vec<ElasticIp>,
    pub vpc_endpoints: Vec<VpcEndpoint>,
    pub endpoint_services: Vec<EndpointService>,
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
    pub listeners: Vec<Listener>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flow_logs: Vec<FlowLog>,
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

    pub fn vpc(&self, id: &VpcId) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| &v.id == id)
    }
    pub fn subnet(&self, id: &SubnetId) -> Option<&Subnet> {
        self.subnets.iter().find(|s| &s.id == id)
    }
    pub fn route_table(&self, id: &RouteTableId) -> Option<&RouteTable> {
        self.route_tables.iter().find(|r| &r.id == id)
    }
    pub fn security_group(&self, id: &SgId) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| &g.id == id)
    }
    pub fn network_acl(&self, id: &AclId) -> Option<&NetworkAcl> {
        self.network_acls.iter().find(|a| &a.id == id)
    }
    pub fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.instances.iter().find(|i| &i.id == id)
    }
    pub fn eni(&self, id: &EniId) -> Option<&NetworkInterface> {
        self.network_interfaces.iter().find(|e| &e.id == id)
    }
    pub fn igw(&self, id: &IgwId) -> Option<&InternetGateway> {
        self.internet_gateways.iter().find(|g| &g.id == id)
    }
    pub fn vpc_endpoint(&self, id: &VpceId) -> Option<&VpcEndpoint> {
        self.vpc_endpoints.iter().find(|e| &e.id == id)
    }
    pub fn load_balancer(&self, arn: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.arn == arn)
    }
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.arn == arn)
    }
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
