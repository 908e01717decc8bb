//! Live changes to a running lab, with the AWS CLI's verbs.
//!
//! Contract: [`Lab::apply`] takes one [`Change`] (what `aws ec2 create-route`,
//! `authorize-security-group-ingress`, `create-network-acl-entry`, … would send),
//! resolves every name (id, logical id or `Name` tag), applies it to a copy of the lab,
//! runs the same `verify_*` passes a template goes through, and only then replaces the
//! lab. On any error the lab is unchanged and the error carries AWS's error code
//! (`RouteAlreadyExists`, `InvalidPermission.Duplicate`, …) and a message that says what
//! to do. The result is an [`Applied`]: what the change did, in the model's terms;
//! `control::shapes::applied` prints it as the AWS CLI prints the call's answer.
//!
//! Gateway endpoints (`create-vpc-endpoint`, `modify-vpc-endpoint`, `delete-vpc-endpoints`)
//! live in [`endpoint`]: their routes come and go with the endpoint, as in AWS, and their
//! policies are checked by [`crate::model::policy::Policy::parse`]. Interface endpoints are
//! in [`interface`], endpoint services (the PrivateLink provider side) in [`service`], and
//! the `aws elbv2` verbs (load balancers, target groups, targets, listeners) in [`elb`].
//!
//! Size: the EC2 verbs (routes, security groups, network ACLs, metadata options) and the one
//! `apply_to_copy` dispatch every change goes through (about 1,200 lines); the other families
//! have files of their own (below).

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lookup::Kind;
use super::*;

pub mod elb;
pub mod endpoint;
pub mod flowlog;
pub mod interface;
pub mod service;

pub use self::endpoint::default_policy;

/// A route target as the CLI's flags name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetRef {
    /// `--gateway-id` (an internet gateway).
    Gateway(String),
    /// `--instance-id`.
    Instance(String),
    /// `--network-interface-id`.
    NetworkInterface(String),
    /// `--nat-gateway-id`.
    NatGateway(String),
    /// `--vpc-peering-connection-id`.
    VpcPeering(String),
}

/// A security-group rule as `--ip-permissions` (or the shorthand flags) give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// `tcp`, `udp`, `icmp`, `-1`, or a number.
    pub protocol: String,
    /// From port (ICMP type), `-1` or absent for all.
    pub from_port: Option<i32>,
    /// To port (ICMP code).
    pub to_port: Option<i32>,
    /// `--cidr`.
    pub cidr: Option<String>,
    /// `--source-group`.
    pub group: Option<String>,
    /// A prefix list id.
    pub prefix_list: Option<String>,
}

/// `elbv2 create-target-group`'s flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupSpec {
    /// `--name`: 1–32 letters, digits and hyphens, unique in the lab.
    pub name: String,
    /// `--protocol`: `TCP` (default), `UDP`, `TCP_UDP` or `TLS`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `--port`: the targets' default port (required, 1–65535).
    #[serde(default)]
    pub port: Option<u16>,
    /// `--vpc-id`: id, logical id or Name tag (required).
    #[serde(default)]
    pub vpc: Option<String>,
    /// `--target-type`: `instance` (default) or `ip`.
    #[serde(default)]
    pub target_type: Option<String>,
    /// `--health-check-protocol`: `TCP` (default), `HTTP` or `HTTPS`.
    #[serde(default)]
    pub health_check_protocol: Option<String>,
    /// `--health-check-port`: a port or `traffic-port` (default).
    #[serde(default)]
    pub health_check_port: Option<String>,
    /// `--health-check-path` (HTTP and HTTPS checks only; default `/`).
    #[serde(default)]
    pub health_check_path: Option<String>,
    /// `--health-check-interval-seconds`: 5–300 (default 30).
    #[serde(default)]
    pub health_check_interval_seconds: Option<u32>,
    /// `--health-check-timeout-seconds`: 2–120 (default 10 for TCP, 6 for HTTP and HTTPS).
    #[serde(default)]
    pub health_check_timeout_seconds: Option<u32>,
    /// `--healthy-threshold-count`: 2–10 (default 5).
    #[serde(default)]
    pub healthy_threshold_count: Option<u32>,
    /// `--unhealthy-threshold-count`: 2–10 (default 2).
    #[serde(default)]
    pub unhealthy_threshold_count: Option<u32>,
    /// `--matcher HttpCode=…`: the codes.
    #[serde(default)]
    pub matcher: Option<String>,
}

/// What `create-flow-logs` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLogSpec {
    /// `--resource-type`: VPC, Subnet or NetworkInterface.
    pub resource_type: String,
    /// `--resource-ids`: ids, logical ids or Name tags.
    pub resource_ids: Vec<String>,
    /// `--traffic-type`: ACCEPT, REJECT or ALL.
    pub traffic_type: String,
    /// `--log-format` (default: the default format).
    #[serde(default)]
    pub log_format: Option<String>,
    /// `--max-aggregation-interval`: 60 or 600 (default 600).
    #[serde(default)]
    pub max_aggregation_interval: Option<i64>,
    /// `--log-destination-type`: cloud-watch-logs (default) or s3.
    #[serde(default)]
    pub log_destination_type: Option<String>,
    /// `--log-destination` (an ARN), recorded.
    #[serde(default)]
    pub log_destination: Option<String>,
    /// `--log-group-name`, recorded.
    #[serde(default)]
    pub log_group_name: Option<String>,
    /// `--deliver-logs-permission-arn`, recorded.
    #[serde(default)]
    pub deliver_logs_permission_arn: Option<String>,
    /// `--client-token` (default: one derived from the flow logs made).
    #[serde(default)]
    pub client_token: Option<String>,
}

/// One live change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "kebab-case")]
pub enum Change {
    /// `create-route`.
    CreateRoute {
        /// `--route-table-id`: id, logical id or Name tag.
        route_table: String,
        /// `--destination-cidr-block`.
        destination: String,
        /// Where the route sends traffic (`--gateway-id`, `--instance-id`, …).
        target: TargetRef,
    },
    /// `replace-route`.
    ReplaceRoute {
        /// `--route-table-id`: id, logical id or Name tag.
        route_table: String,
        /// `--destination-cidr-block` of the route to retarget.
        destination: String,
        /// The new target.
        target: TargetRef,
    },
    /// `delete-route`.
    DeleteRoute {
        /// `--route-table-id`: id, logical id or Name tag.
        route_table: String,
        /// `--destination-cidr-block` (or the prefix list id) of the route to delete.
        destination: String,
    },
    /// `authorize-security-group-ingress|egress`.
    Authorize {
        /// `--group-id`: id, logical id, group name or Name tag.
        group: String,
        /// Egress (`authorize-security-group-egress`) rather than ingress.
        egress: bool,
        /// The rule to add.
        rule: RuleSpec,
    },
    /// `revoke-security-group-ingress|egress`.
    Revoke {
        /// `--group-id`: id, logical id, group name or Name tag.
        group: String,
        /// Egress (`revoke-security-group-egress`) rather than ingress.
        egress: bool,
        /// The rule to remove (matched by its fields, not its id).
        rule: RuleSpec,
    },
    /// `associate-route-table`.
    AssociateRouteTable {
        /// `--route-table-id`: id, logical id or Name tag.
        route_table: String,
        /// `--subnet-id`: id, logical id or Name tag; refused if the subnet already has an
        /// explicit association.
        subnet: String,
    },
    /// `create-network-acl-entry`.
    CreateNetworkAclEntry {
        /// `--network-acl-id`: id, logical id or Name tag.
        acl: String,
        /// `--rule-number`: 1–32766.
        rule_number: u16,
        /// `--egress` (else `--ingress`).
        egress: bool,
        /// `--rule-action allow` (else `deny`).
        allow: bool,
        /// `--protocol`: `tcp`, `udp`, `icmp`, `-1` or a number.
        protocol: String,
        /// `--cidr-block`.
        cidr: String,
        /// `--port-range From=…,To=…` (required for TCP and UDP).
        port_range: Option<(u16, u16)>,
        /// `--icmp-type-code Type=…,Code=…` (`-1` = all).
        icmp: Option<(i16, i16)>,
    },
    /// `delete-network-acl-entry`.
    DeleteNetworkAclEntry {
        /// `--network-acl-id`: id, logical id or Name tag.
        acl: String,
        /// `--rule-number` of the entry to delete (not the catch-all 32767).
        rule_number: u16,
        /// `--egress` (else `--ingress`).
        egress: bool,
    },
    /// `create-vpc-endpoint`.
    CreateVpcEndpoint {
        /// `--vpc-id`: id, logical id or Name tag.
        vpc: String,
        /// `--service-name`: `com.amazonaws.<region>.s3|dynamodb`.
        service_name: String,
        /// `--route-table-ids`.
        #[serde(default)]
        route_tables: Vec<String>,
        /// `--policy-document`: the document, or its JSON text as a string (as the API
        /// carries it); `None` for the default full-access policy.
        #[serde(default)]
        policy: Option<Value>,
        /// `--vpc-endpoint-type`.
        #[serde(default)]
        kind: EndpointType,
    },
    /// `modify-vpc-endpoint`.
    ModifyVpcEndpoint {
        /// `--vpc-endpoint-id`.
        vpce: String,
        /// `--add-route-table-ids`.
        #[serde(default)]
        add_route_tables: Vec<String>,
        /// `--remove-route-table-ids`.
        #[serde(default)]
        remove_route_tables: Vec<String>,
        /// `--policy-document` (a document or its JSON text).
        #[serde(default)]
        policy: Option<Value>,
        /// `--reset-policy`: back to the default full-access policy.
        #[serde(default)]
        reset_policy: bool,
    },
    /// `create-vpc-endpoint --vpc-endpoint-type Interface`.
    CreateInterfaceVpcEndpoint {
        /// `--vpc-id`: id, logical id or Name tag.
        vpc: String,
        /// `--service-name`: `com.amazonaws.<region>.<service>` or an endpoint service's name.
        service_name: String,
        /// `--subnet-ids`: one per AZ.
        #[serde(default)]
        subnets: Vec<String>,
        /// `--security-group-ids` (default: the VPC's default group).
        #[serde(default)]
        security_groups: Vec<String>,
        /// `--[no-]private-dns-enabled` (default: on for AWS services, off for endpoint
        /// services).
        #[serde(default)]
        private_dns: Option<bool>,
        /// `--policy-document` (AWS services only).
        #[serde(default)]
        policy: Option<Value>,
    },
    /// `modify-vpc-endpoint` of an interface endpoint.
    ModifyInterfaceVpcEndpoint {
        /// `--vpc-endpoint-id`.
        vpce: String,
        /// `--add-subnet-ids`: a new network interface in each.
        #[serde(default)]
        add_subnets: Vec<String>,
        /// `--remove-subnet-ids`: their network interfaces are deleted.
        #[serde(default)]
        remove_subnets: Vec<String>,
        /// `--add-security-group-ids`.
        #[serde(default)]
        add_security_groups: Vec<String>,
        /// `--remove-security-group-ids`.
        #[serde(default)]
        remove_security_groups: Vec<String>,
        /// `--[no-]private-dns-enabled`.
        #[serde(default)]
        private_dns: Option<bool>,
        /// `--policy-document` (a document or its JSON text).
        #[serde(default)]
        policy: Option<Value>,
        /// `--reset-policy`: back to the default full-access policy.
        #[serde(default)]
        reset_policy: bool,
    },
    /// `delete-vpc-endpoints`.
    DeleteVpcEndpoints {
        /// `--vpc-endpoint-ids`.
        ids: Vec<String>,
    },
    /// `create-vpc-endpoint-service-configuration`.
    CreateVpcEndpointServiceConfiguration {
        /// `--network-load-balancer-arns`: ARNs, names or logical ids.
        load_balancers: Vec<String>,
        /// `--[no-]acceptance-required` (default: required).
        #[serde(default)]
        acceptance_required: Option<bool>,
    },
    /// `modify-vpc-endpoint-service-configuration`.
    ModifyVpcEndpointServiceConfiguration {
        /// `--service-id`: id, service name or logical id.
        service: String,
        /// `--[no-]acceptance-required`; `None` leaves it.
        #[serde(default)]
        acceptance_required: Option<bool>,
        /// `--add-network-load-balancer-arns`: ARNs, names or logical ids.
        #[serde(default)]
        add_load_balancers: Vec<String>,
        /// `--remove-network-load-balancer-arns`.
        #[serde(default)]
        remove_load_balancers: Vec<String>,
    },
    /// `delete-vpc-endpoint-service-configurations`.
    DeleteVpcEndpointServiceConfigurations {
        /// `--service-ids`: ids, service names or logical ids; a service with active
        /// connections stays (listed as unsuccessful).
        services: Vec<String>,
    },
    /// `modify-vpc-endpoint-service-permissions`.
    ModifyVpcEndpointServicePermissions {
        /// `--service-id`: id, service name or logical id.
        service: String,
        /// `--add-allowed-principals`: `*` or IAM ARNs (`arn:aws:iam::<account>:root`, `…:role/…`,
        /// `…:user/…`).
        #[serde(default)]
        add: Vec<String>,
        /// `--remove-allowed-principals`.
        #[serde(default)]
        remove: Vec<String>,
    },
    /// `accept-vpc-endpoint-connections`.
    AcceptVpcEndpointConnections {
        /// `--service-id`: id, service name or logical id.
        service: String,
        /// `--vpc-endpoint-ids` to accept (pending or rejected).
        endpoints: Vec<String>,
    },
    /// `reject-vpc-endpoint-connections`.
    RejectVpcEndpointConnections {
        /// `--service-id`: id, service name or logical id.
        service: String,
        /// `--vpc-endpoint-ids` to reject (pending or available).
        endpoints: Vec<String>,
    },
    /// `elbv2 create-load-balancer`.
    CreateLoadBalancer {
        /// `--name`: 1–32 letters, digits and hyphens, not beginning with `internal-`.
        name: String,
        /// `--type`: only `network` is emulated (`application` is the API's default and refused).
        #[serde(default)]
        lb_type: Option<String>,
        /// `--scheme`: `internet-facing` (default; the VPC needs an internet gateway) or
        /// `internal`.
        #[serde(default)]
        scheme: Option<String>,
        /// `--subnets`: one node in each, at most one per Availability Zone, all in one VPC.
        subnets: Vec<String>,
        /// `--security-groups` of the load balancer's VPC.
        #[serde(default)]
        security_groups: Vec<String>,
    },
    /// `elbv2 delete-load-balancer`.
    DeleteLoadBalancer {
        /// `--load-balancer-arn`: ARN, name or logical id.
        load_balancer: String,
    },
    /// `elbv2 create-target-group`.
    CreateTargetGroup(Box<TargetGroupSpec>),
    /// `elbv2 delete-target-group`.
    DeleteTargetGroup {
        /// `--target-group-arn`: ARN, name or logical id; refused while a listener forwards
        /// to it.
        target_group: String,
    },
    /// `elbv2 register-targets`.
    RegisterTargets {
        /// `--target-group-arn`: ARN, name or logical id.
        target_group: String,
        /// `Id=…[,Port=…]` each.
        targets: Vec<(String, Option<u16>)>,
    },
    /// `elbv2 deregister-targets`.
    DeregisterTargets {
        /// `--target-group-arn`: ARN, name or logical id.
        target_group: String,
        /// `Id=…[,Port=…]` each: the targets to remove.
        targets: Vec<(String, Option<u16>)>,
    },
    /// `elbv2 create-listener` (one forward action).
    CreateListener {
        /// `--load-balancer-arn`: ARN, name or logical id.
        load_balancer: String,
        /// `--protocol`: `TCP` (default), `UDP` or `TCP_UDP`, matching the target group's.
        #[serde(default)]
        protocol: Option<String>,
        /// `--port`.
        port: u16,
        /// The forward action's target group (`--default-actions Type=forward,TargetGroupArn=…`).
        target_group: String,
    },
    /// `elbv2 delete-listener`.
    DeleteListener {
        /// `--listener-arn`: ARN or logical id.
        listener: String,
    },
    /// `elbv2 modify-target-group-attributes`.
    ModifyTargetGroupAttributes {
        /// `--target-group-arn`: ARN, name or logical id.
        target_group: String,
        /// `--attributes Key=…,Value=…` each.
        attributes: Vec<(String, String)>,
    },
    /// `elbv2 modify-load-balancer-attributes`.
    ModifyLoadBalancerAttributes {
        /// `--load-balancer-arn`: ARN, name or logical id.
        load_balancer: String,
        /// `--attributes Key=…,Value=…` each.
        attributes: Vec<(String, String)>,
    },
    /// `create-flow-logs`.
    CreateFlowLogs(Box<FlowLogSpec>),
    /// `delete-flow-logs`.
    DeleteFlowLogs {
        /// `--flow-log-ids`.
        ids: Vec<String>,
    },
    /// `modify-instance-metadata-options`.
    /// `modify-instance-metadata-options`.
    ModifyInstanceMetadataOptions {
        /// `--instance-id`: i- id, logical id or Name tag.
        instance: String,
        /// `--http-tokens`: `required` or `optional`.
        #[serde(default)]
        http_tokens: Option<String>,
        /// `--http-put-response-hop-limit`: 1–64.
        #[serde(default)]
        hop_limit: Option<i64>,
        /// `--http-endpoint`: `enabled` or `disabled`.
        #[serde(default)]
        http_endpoint: Option<String>,
    },
}

/// `--vpc-endpoint-type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointType {
    /// S3 and DynamoDB: routes in route tables (the API's default).
    #[default]
    Gateway,
    /// PrivateLink: network interfaces in subnets.
    Interface,
    /// Gateway Load Balancer endpoints.
    GatewayLoadBalancer,
}

impl Change {
    /// The AWS API operation's name (for messages).
    pub fn operation(&self) -> &'static str {
        match self {
            Change::CreateRoute { .. } => "CreateRoute",
            Change::ReplaceRoute { .. } => "ReplaceRoute",
            Change::DeleteRoute { .. } => "DeleteRoute",
            Change::Authorize { egress: false, .. } => "AuthorizeSecurityGroupIngress",
            Change::Authorize { egress: true, .. } => "AuthorizeSecurityGroupEgress",
            Change::Revoke { egress: false, .. } => "RevokeSecurityGroupIngress",
            Change::Revoke { egress: true, .. } => "RevokeSecurityGroupEgress",
            Change::AssociateRouteTable { .. } => "AssociateRouteTable",
            Change::CreateNetworkAclEntry { .. } => "CreateNetworkAclEntry",
            Change::DeleteNetworkAclEntry { .. } => "DeleteNetworkAclEntry",
            Change::CreateVpcEndpoint { .. } => "CreateVpcEndpoint",
            Change::ModifyVpcEndpoint { .. } => "ModifyVpcEndpoint",
            Change::CreateInterfaceVpcEndpoint { .. } => "CreateVpcEndpoint",
            Change::ModifyInterfaceVpcEndpoint { .. } => "ModifyVpcEndpoint",
            Change::DeleteVpcEndpoints { .. } => "DeleteVpcEndpoints",
            Change::CreateVpcEndpointServiceConfiguration { .. } => {
                "CreateVpcEndpointServiceConfiguration"
            }
            Change::ModifyVpcEndpointServiceConfiguration { .. } => {
                "ModifyVpcEndpointServiceConfiguration"
            }
            Change::DeleteVpcEndpointServiceConfigurations { .. } => {
                "DeleteVpcEndpointServiceConfigurations"
            }
            Change::ModifyVpcEndpointServicePermissions { .. } => {
                "ModifyVpcEndpointServicePermissions"
            }
            Change::AcceptVpcEndpointConnections { .. } => "AcceptVpcEndpointConnections",
            Change::RejectVpcEndpointConnections { .. } => "RejectVpcEndpointConnections",
            Change::CreateLoadBalancer { .. } => "CreateLoadBalancer",
            Change::DeleteLoadBalancer { .. } => "DeleteLoadBalancer",
            Change::CreateTargetGroup(_) => "CreateTargetGroup",
            Change::DeleteTargetGroup { .. } => "DeleteTargetGroup",
            Change::RegisterTargets { .. } => "RegisterTargets",
            Change::DeregisterTargets { .. } => "DeregisterTargets",
            Change::CreateListener { .. } => "CreateListener",
            Change::DeleteListener { .. } => "DeleteListener",
            Change::ModifyTargetGroupAttributes { .. } => "ModifyTargetGroupAttributes",
            Change::ModifyLoadBalancerAttributes { .. } => "ModifyLoadBalancerAttributes",
            Change::ModifyInstanceMetadataOptions { .. } => "ModifyInstanceMetadataOptions",
            Change::CreateFlowLogs(_) => "CreateFlowLogs",
            Change::DeleteFlowLogs { .. } => "DeleteFlowLogs",
        }
    }
}

/// What a live change did, in the model's terms; `control::shapes::applied` prints it as the
/// AWS CLI prints the verb's answer, from the lab after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Done, and AWS answers `{"Return": true}`.
    Return,
    /// Done, and AWS answers `{}`.
    Nothing,
    /// A security group rule was added.
    RuleAdded {
        /// The rule's id (`sgr-…`).
        rule: String,
        /// The group.
        group: String,
        /// Egress (else ingress).
        egress: bool,
    },
    /// A route table was associated with a subnet: the association's id.
    Associated(String),
    /// An instance's metadata options changed (the instance id).
    MetadataOptions(String),
    /// A load balancer was created (its ARN).
    LoadBalancer(String),
    /// A target group was created (its ARN).
    TargetGroup(String),
    /// A listener was created (its ARN).
    Listener(String),
    /// A target group's attributes changed (its ARN).
    TargetGroupAttributes(String),
    /// A load balancer's attributes changed (its ARN).
    LoadBalancerAttributes(String),
    /// A VPC endpoint was created (its id).
    VpcEndpoint(String),
    /// An endpoint service was created (its id).
    ServiceConfiguration(String),
    /// An endpoint service's permissions changed: the service and the principals added.
    Permissions {
        /// The service's id.
        service: String,
        /// The principals added (maybe none).
        added: Vec<String>,
    },
    /// What could not be done, resource by resource (the rest was done).
    Unsuccessful(Vec<Unsuccessful>),
    /// Flow logs were created (`create-flow-logs`).
    FlowLogs {
        /// The call's client token.
        client_token: String,
        /// The flow logs made.
        ids: Vec<String>,
        /// The resources none was made for.
        unsuccessful: Vec<Unsuccessful>,
    },
}

/// One resource a change could not act on, as AWS lists it in `Unsuccessful`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccessful {
    /// The resource as the caller named it.
    pub resource: String,
    /// AWS's error code.
    pub code: String,
    /// The message.
    pub message: String,
}

/// Why a change was refused: AWS's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("An error occurred ({code}) when calling the {operation} operation: {message}")]
pub struct ChangeError {
    /// AWS's error code.
    pub code: String,
    /// The operation.
    pub operation: String,
    /// What is wrong and what to do.
    pub message: String,
}

fn origin_live(what: &str) -> Origin {
    Origin {
        logical_id: None,
        resource_type: Some(format!("live {what}")),
        line: None,
    }
}

struct Ctx<'a> {
    op: &'static str,
    lab: &'a Lab,
}

impl Ctx<'_> {
    fn err(&self, code: &str, message: impl Into<String>) -> ChangeError {
        ChangeError {
            code: code.to_string(),
            operation: self.op.to_string(),
            message: message.into(),
        }
    }

    fn find(&self, kind: Kind, query: &str, code: &str) -> Result<String, ChangeError> {
        self.lab
            .find(kind, query)
            .map_err(|e| self.err(code, e.to_string()))
    }

    fn cidr(&self, s: &str) -> Result<Ipv4Net, ChangeError> {
        let net: Ipv4Net = s.parse().map_err(|_| {
            self.err(
                "InvalidParameterValue",
                format!("'{s}' is not an IPv4 CIDR block such as 10.0.0.0/16"),
            )
        })?;
        if net != net.trunc() {
            return Err(self.err(
                "InvalidParameterValue",
                format!("{s} has host bits set: write {}", net.trunc()),
            ));
        }
        Ok(net)
    }

    fn target(&self, t: &TargetRef) -> Result<RouteTarget, ChangeError> {
        Ok(match t {
            TargetRef::Gateway(g) if g.starts_with("vpce-") => {
                return Err(self.err(
                    "InvalidParameterValue",
                    format!(
                        "route targets {g}: a gateway endpoint's route is added by the endpoint itself (create-vpc-endpoint --route-table-ids, or modify-vpc-endpoint --add-route-table-ids)"
                    ),
                ))
            }
            TargetRef::Gateway(g) => RouteTarget::InternetGateway(IgwId::parse(&self.find(
                Kind::InternetGateway,
                g,
                "InvalidInternetGatewayID.NotFound",
            )?).ok_or_else(|| self.err("InvalidInternetGatewayID.Malformed", g.clone()))?),
            TargetRef::Instance(i) => RouteTarget::Instance(
                InstanceId::parse(&self.find(Kind::Instance, i, "InvalidInstanceID.NotFound")?)
                    .ok_or_else(|| self.err("InvalidInstanceID.Malformed", i.clone()))?,
            ),
            TargetRef::NetworkInterface(e) => RouteTarget::NetworkInterface(
                EniId::parse(&self.find(
                    Kind::NetworkInterface,
                    e,
                    "InvalidNetworkInterfaceID.NotFound",
                )?)
                .ok_or_else(|| self.err("InvalidNetworkInterfaceID.Malformed", e.clone()))?,
            ),
            TargetRef::NatGateway(n) => RouteTarget::NatGateway(
                NatGatewayId::parse(n)
                    .ok_or_else(|| self.err("InvalidNatGatewayID.Malformed", n.clone()))?,
            ),
            TargetRef::VpcPeering(p) => RouteTarget::Peering(
                PeeringId::parse(p)
                    .ok_or_else(|| self.err("InvalidVpcPeeringConnectionID.Malformed", p.clone()))?,
            ),
        })
    }

    fn rule(
        &self,
        group: &SecurityGroup,
        spec: &RuleSpec,
        what: &str,
    ) -> Result<SgRule, ChangeError> {
        let protocol = Protocol::parse(&spec.protocol).ok_or_else(|| {
            self.err(
                "InvalidParameterValue",
                format!(
                    "protocol '{}' is not tcp, udp, icmp, icmpv6, -1 or a number 0-255",
                    spec.protocol
                ),
            )
        })?;
        let peer = match (&spec.cidr, &spec.group, &spec.prefix_list) {
            (Some(c), None, None) => Peer::Cidr(self.cidr(c)?),
            (None, Some(g), None) => Peer::Group(
                SgId::parse(&self.find(Kind::SecurityGroup, g, "InvalidGroup.NotFound")?)
                    .ok_or_else(|| self.err("InvalidGroup.Malformed", g.clone()))?,
            ),
            (None, None, Some(pl)) => Peer::PrefixList(PrefixListId::from_catalog(pl)),
            _ => {
                return Err(self.err(
                    "MissingParameter",
                    "give exactly one of --cidr, --source-group or a prefix list",
                ))
            }
        };
        let (from_port, to_port) = match protocol {
            Protocol::Tcp | Protocol::Udp => {
                let (Some(f), Some(t)) = (spec.from_port, spec.to_port) else {
                    return Err(self.err(
                        "MissingParameter",
                        "TCP and UDP rules need a port or port range (--port 22 or --port 1024-65535)",
                    ));
                };
                if !(0..=65535).contains(&f) || !(0..=65535).contains(&t) || f > t {
                    return Err(self.err(
                        "InvalidParameterValue",
                        format!("port range {f}-{t} is not within 0-65535, low to high"),
                    ));
                }
                (Some(f), Some(t))
            }
            Protocol::Icmp | Protocol::Icmpv6 => (
                Some(spec.from_port.unwrap_or(-1)),
                Some(spec.to_port.unwrap_or(-1)),
            ),
            _ => (None, None),
        };
        Ok(SgRule {
            id: SgRuleId::generate(&format!(
                "{}/{what}/{}/{:?}/{:?}/{:?}",
                group.id, spec.protocol, from_port, to_port, peer
            )),
            protocol,
            from_port,
            to_port,
            peer,
            description: None,
            origin: origin_live(what),
        })
    }
}

fn same_rule(a: &SgRule, b: &SgRule) -> bool {
    a.protocol == b.protocol
        && a.from_port == b.from_port
        && a.to_port == b.to_port
        && a.peer == b.peer
}

fn route_dest(d: &Destination) -> String {
    match d {
        Destination::Cidr(c) => c.to_string(),
        Destination::PrefixList(p) => p.to_string(),
    }
}

impl Lab {
    fn route_table_mut(&mut self, id: &str) -> Option<&mut RouteTable> {
        self.route_tables.iter_mut().find(|r| r.id.as_str() == id)
    }

    /// Applies a live change; see the module docs.
    pub fn apply(&mut self, change: &Change) -> Result<Applied, ChangeError> {
        let (next, out) = self.apply_to_copy(change)?;
        *self = next;
        Ok(out)
    }

    /// The lab as it would be after `change`, and the change's answer, leaving `self` as it
    /// is: for a caller that has more to build before it commits (the daemon's snapshot).
    /// The lab is cloned once. A change that leaves the lab failing verification is refused
    /// with every problem it causes, one after another.
    pub fn apply_to_copy(&self, change: &Change) -> Result<(Lab, Applied), ChangeError> {
        let mut next = self.clone();
        let out = next.apply_unchecked(self, change)?;
        let problems = verify::verify(&next);
        if !problems.0.is_empty() {
            let each: Vec<String> = problems
                .0
                .iter()
                .map(|p| format!("{} ({}; fix: {})", p.message, p.rule, p.fix))
                .collect();
            return Err(ChangeError {
                code: "InvalidParameterValue".to_string(),
                operation: change.operation().to_string(),
                message: each.join("; "),
            });
        }
        Ok((next, out))
    }

    /// Applies `change` to `self`, a copy of `before` (which the lookups read, so that they
    /// see the lab as it was while `self` changes).
    fn apply_unchecked(&mut self, before: &Lab, change: &Change) -> Result<Applied, ChangeError> {
        let op = change.operation();
        let cx = Ctx { op, lab: before };
        match change {
            Change::CreateRoute {
                route_table,
                destination,
                target,
            }
            | Change::ReplaceRoute {
                route_table,
                destination,
                target,
            } => {
                let rt_id = cx.find(
                    Kind::RouteTable,
                    route_table,
                    "InvalidRouteTableID.NotFound",
                )?;
                let net = cx.cidr(destination)?;
                let target = cx.target(target)?;
                let replace = matches!(change, Change::ReplaceRoute { .. });
                let rt = self
                    .route_table_mut(&rt_id)
                    .ok_or_else(|| cx.err("InvalidRouteTableID.NotFound", rt_id.clone()))?;
                let existing = rt
                    .routes
                    .iter_mut()
                    .find(|r| r.destination == Destination::Cidr(net));
                match (existing, replace) {
                    (Some(_), false) => {
                        return Err(cx.err(
                            "RouteAlreadyExists",
                            format!(
                                "The route identified by {net} already exists in {rt_id}; use replace-route to change its target"
                            ),
                        ))
                    }
                    (Some(r), true) if r.route_origin == RouteOrigin::CreateRouteTable => {
                        if target != RouteTarget::Local {
                            return Err(cx.err(
                                "InvalidParameterValue",
                                format!("the local route {net} of {rt_id} can only be replaced with a middlebox target, which vpclab does not emulate"),
                            ));
                        }
                    }
                    (Some(r), true) => r.target = target,
                    (None, true) => {
                        return Err(cx.err(
                            "InvalidRoute.NotFound",
                            format!("no route with destination {net} in {rt_id}; use create-route"),
                        ))
                    }
                    (None, false) => rt.routes.push(Route {
                        destination: Destination::Cidr(net),
                        target,
                        route_origin: RouteOrigin::CreateRoute,
                        origin: origin_live("route"),
                    }),
                }
                Ok(Applied::Return)
            }
            Change::DeleteRoute {
                route_table,
                destination,
            } => {
                let rt_id = cx.find(
                    Kind::RouteTable,
                    route_table,
                    "InvalidRouteTableID.NotFound",
                )?;
                let rt = self
                    .route_table_mut(&rt_id)
                    .ok_or_else(|| cx.err("InvalidRouteTableID.NotFound", rt_id.clone()))?;
                let pos = rt
                    .routes
                    .iter()
                    .position(|r| route_dest(&r.destination) == *destination)
                    .ok_or_else(|| {
                        cx.err(
                            "InvalidRoute.NotFound",
                            format!("no route with destination {destination} in {rt_id}"),
                        )
                    })?;
                let route = &rt.routes[pos];
                if route.route_origin == RouteOrigin::CreateRouteTable {
                    return Err(cx.err(
                        "InvalidParameterValue",
                        format!("cannot remove the local route {destination} of {rt_id}"),
                    ));
                }
                if matches!(route.target, RouteTarget::GatewayEndpoint(_)) {
                    return Err(cx.err(
                        "InvalidParameterValue",
                        format!("the route to {destination} belongs to a gateway endpoint: remove the route table from the endpoint (modify-vpc-endpoint --remove-route-table-ids)"),
                    ));
                }
                rt.routes.remove(pos);
                Ok(Applied::Nothing)
            }
            Change::Authorize {
                group,
                egress,
                rule,
            }
            | Change::Revoke {
                group,
                egress,
                rule,
            } => {
                let sg_id = cx.find(Kind::SecurityGroup, group, "InvalidGroup.NotFound")?;
                let sg = self
                    .security_groups
                    .iter_mut()
                    .find(|g| g.id.as_str() == sg_id)
                    .ok_or_else(|| cx.err("InvalidGroup.NotFound", sg_id.clone()))?;
                let what = if *egress { "egress" } else { "ingress" };
                let r = cx.rule(sg, rule, what)?;
                let rules = if *egress {
                    &mut sg.egress
                } else {
                    &mut sg.ingress
                };
                let pos = rules.iter().position(|x| same_rule(x, &r));
                if matches!(change, Change::Authorize { .. }) {
                    if pos.is_some() {
                        return Err(cx.err(
                            "InvalidPermission.Duplicate",
                            format!("the specified rule already exists in {sg_id} ({what})"),
                        ));
                    }
                    let id = r.id.clone();
                    rules.push(r);
                    Ok(Applied::RuleAdded {
                        rule: id.as_str().to_string(),
                        group: sg_id,
                        egress: *egress,
                    })
                } else {
                    let Some(pos) = pos else {
                        return Err(cx.err(
                            "InvalidPermission.NotFound",
                            format!("the specified rule does not exist in {sg_id} ({what})"),
                        ));
                    };
                    rules.remove(pos);
                    Ok(Applied::Return)
                }
            }
            Change::AssociateRouteTable {
                route_table,
                subnet,
            } => {
                let rt_id = cx.find(
                    Kind::RouteTable,
                    route_table,
                    "InvalidRouteTableID.NotFound",
                )?;
                let subnet_id = cx.find(Kind::Subnet, subnet, "InvalidSubnetID.NotFound")?;
                let subnet_id = SubnetId::parse(&subnet_id)
                    .ok_or_else(|| cx.err("InvalidSubnetID.Malformed", subnet_id.clone()))?;
                if self
                    .route_tables
                    .iter()
                    .any(|r| r.associations.iter().any(|a| a.subnet == subnet_id))
                {
                    return Err(cx.err(
                        "Resource.AlreadyAssociated",
                        format!("{subnet_id} is already associated with a route table; use replace-route-table-association"),
                    ));
                }
                let id = RouteTableAssociationId::generate(&format!("{rt_id}/{subnet_id}/live"));
                let rt = self
                    .route_table_mut(&rt_id)
                    .ok_or_else(|| cx.err("InvalidRouteTableID.NotFound", rt_id.clone()))?;
                rt.associations.push(RouteTableAssociation {
                    id: id.clone(),
                    subnet: subnet_id,
                    origin: origin_live("association"),
                });
                Ok(Applied::Associated(id.as_str().to_string()))
            }
            Change::CreateNetworkAclEntry {
                acl,
                rule_number,
                egress,
                allow,
                protocol,
                cidr,
                port_range,
                icmp,
            } => {
                let acl_id = cx.find(Kind::NetworkAcl, acl, "InvalidNetworkAclID.NotFound")?;
                if !(1..=32766).contains(rule_number) {
                    return Err(cx.err(
                        "InvalidParameterValue",
                        format!("rule number {rule_number} is not within 1-32766"),
                    ));
                }
                let protocol = Protocol::parse(protocol).ok_or_else(|| {
                    cx.err(
                        "InvalidParameterValue",
                        format!("protocol '{protocol}' is not valid"),
                    )
                })?;
                let cidr = cx.cidr(cidr)?;
                let a = self
                    .network_acls
                    .iter_mut()
                    .find(|a| a.id.as_str() == acl_id)
                    .ok_or_else(|| cx.err("InvalidNetworkAclID.NotFound", acl_id.clone()))?;
                if a.entries
                    .iter()
                    .any(|e| e.rule_number == *rule_number && e.egress == *egress)
                {
                    return Err(cx.err(
                        "NetworkAclEntryAlreadyExists",
                        format!("{acl_id} already has {} rule {rule_number}; use replace-network-acl-entry or another number", if *egress { "an egress" } else { "an ingress" }),
                    ));
                }
                if matches!(protocol, Protocol::Tcp | Protocol::Udp) && port_range.is_none() {
                    return Err(cx.err(
                        "MissingParameter",
                        "TCP and UDP entries need --port-range From=…,To=…",
                    ));
                }
                a.entries.push(AclEntry {
                    rule_number: *rule_number,
                    egress: *egress,
                    action: if *allow {
                        RuleAction::Allow
                    } else {
                        RuleAction::Deny
                    },
                    protocol,
                    cidr,
                    port_range: *port_range,
                    icmp: *icmp,
                    origin: origin_live("network ACL entry"),
                });
                Ok(Applied::Nothing)
            }
            Change::DeleteNetworkAclEntry {
                acl,
                rule_number,
                egress,
            } => {
                let acl_id = cx.find(Kind::NetworkAcl, acl, "InvalidNetworkAclID.NotFound")?;
                if *rule_number == ACL_DEFAULT_RULE {
                    return Err(cx.err(
                        "InvalidParameterValue",
                        "the final * rule (32767) cannot be deleted",
                    ));
                }
                let a = self
                    .network_acls
                    .iter_mut()
                    .find(|a| a.id.as_str() == acl_id)
                    .ok_or_else(|| cx.err("InvalidNetworkAclID.NotFound", acl_id.clone()))?;
                let pos = a
                    .entries
                    .iter()
                    .position(|e| e.rule_number == *rule_number && e.egress == *egress)
                    .ok_or_else(|| {
                        cx.err(
                            "InvalidNetworkAclEntry.NotFound",
                            format!(
                                "{acl_id} has no {} rule {rule_number}",
                                if *egress { "egress" } else { "ingress" }
                            ),
                        )
                    })?;
                a.entries.remove(pos);
                Ok(Applied::Nothing)
            }
            Change::CreateVpcEndpoint {
                vpc,
                service_name,
                route_tables,
                policy,
                kind,
            } => endpoint::create(self, &cx, vpc, service_name, route_tables, policy, *kind),
            Change::ModifyVpcEndpoint {
                vpce,
                add_route_tables,
                remove_route_tables,
                policy,
                reset_policy,
            } => endpoint::modify(
                self,
                &cx,
                vpce,
                add_route_tables,
                remove_route_tables,
                policy,
                *reset_policy,
            ),
            Change::CreateInterfaceVpcEndpoint {
                vpc,
                service_name,
                subnets,
                security_groups,
                private_dns,
                policy,
            } => interface::create(
                self,
                &cx,
                vpc,
                service_name,
                subnets,
                security_groups,
                *private_dns,
                policy,
            ),
            Change::ModifyInterfaceVpcEndpoint {
                vpce,
                add_subnets,
                remove_subnets,
                add_security_groups,
                remove_security_groups,
                private_dns,
                policy,
                reset_policy,
            } => {
                let id = cx.find(Kind::VpcEndpoint, vpce, "InvalidVpcEndpointId.NotFound")?;
                let id = VpceId::parse(&id)
                    .ok_or_else(|| cx.err("InvalidVpcEndpointId.Malformed", id.clone()))?;
                interface::modify(
                    self,
                    &cx,
                    &id,
                    &interface::Modify {
                        add_subnets,
                        remove_subnets,
                        add_groups: add_security_groups,
                        remove_groups: remove_security_groups,
                        private_dns: *private_dns,
                    },
                )?;
                endpoint::modify(self, &cx, vpce, &[], &[], policy, *reset_policy)
            }
            Change::DeleteVpcEndpoints { ids } => Ok(endpoint::delete(self, &cx, ids)),
            Change::CreateVpcEndpointServiceConfiguration {
                load_balancers,
                acceptance_required,
            } => service::create(self, &cx, load_balancers, *acceptance_required),
            Change::ModifyVpcEndpointServiceConfiguration {
                service,
                acceptance_required,
                add_load_balancers,
                remove_load_balancers,
            } => service::modify(
                self,
                &cx,
                service,
                *acceptance_required,
                add_load_balancers,
                remove_load_balancers,
            ),
            Change::DeleteVpcEndpointServiceConfigurations { services } => {
                Ok(service::delete(self, services))
            }
            Change::ModifyVpcEndpointServicePermissions {
                service,
                add,
                remove,
            } => service::permissions(self, &cx, service, add, remove),
            Change::AcceptVpcEndpointConnections { service, endpoints } => {
                service::connections(self, &cx, service, endpoints, true)
            }
            Change::RejectVpcEndpointConnections { service, endpoints } => {
                service::connections(self, &cx, service, endpoints, false)
            }
            Change::CreateLoadBalancer {
                name,
                lb_type,
                scheme,
                subnets,
                security_groups,
            } => elb::create_load_balancer(
                self,
                &cx,
                &elb::CreateLb {
                    name,
                    lb_type: lb_type.as_deref(),
                    scheme: scheme.as_deref(),
                    subnets,
                    security_groups,
                },
            ),
            Change::DeleteLoadBalancer { load_balancer } => {
                elb::delete_load_balancer(self, &cx, load_balancer)
            }
            Change::CreateTargetGroup(t) => elb::create_target_group(
                self,
                &cx,
                &elb::CreateTg {
                    name: &t.name,
                    protocol: t.protocol.as_deref(),
                    port: t.port,
                    vpc: t.vpc.as_deref(),
                    target_type: t.target_type.as_deref(),
                    health_check_protocol: t.health_check_protocol.as_deref(),
                    health_check_port: t.health_check_port.as_deref(),
                    health_check_path: t.health_check_path.as_deref(),
                    health_check_interval_seconds: t.health_check_interval_seconds,
                    health_check_timeout_seconds: t.health_check_timeout_seconds,
                    healthy_threshold_count: t.healthy_threshold_count,
                    unhealthy_threshold_count: t.unhealthy_threshold_count,
                    matcher: t.matcher.as_deref(),
                },
            ),
            Change::DeleteTargetGroup { target_group } => {
                elb::delete_target_group(self, &cx, target_group)
            }
            Change::RegisterTargets {
                target_group,
                targets,
            } => elb::register(self, &cx, target_group, targets, true),
            Change::DeregisterTargets {
                target_group,
                targets,
            } => elb::register(self, &cx, target_group, targets, false),
            Change::CreateListener {
                load_balancer,
                protocol,
                port,
                target_group,
            } => elb::create_listener(
                self,
                &cx,
                load_balancer,
                protocol.as_deref(),
                *port,
                target_group,
            ),
            Change::DeleteListener { listener } => elb::delete_listener(self, &cx, listener),
            Change::ModifyTargetGroupAttributes {
                target_group,
                attributes,
            } => elb::target_group_attributes(self, &cx, target_group, attributes),
            Change::ModifyLoadBalancerAttributes {
                load_balancer,
                attributes,
            } => elb::load_balancer_attributes(self, &cx, load_balancer, attributes),
            Change::ModifyInstanceMetadataOptions {
                instance,
                http_tokens,
                hop_limit,
                http_endpoint,
            } => {
                let id = cx.find(Kind::Instance, instance, "InvalidInstanceID.NotFound")?;
                let choice =
                    |v: &Option<String>, flag: &str, on: &str, off: &str| match v.as_deref() {
                        None => Ok(None),
                        Some(x) if x == on => Ok(Some(true)),
                        Some(x) if x == off => Ok(Some(false)),
                        Some(x) => Err(cx.err(
                            "InvalidParameterValue",
                            format!("{flag} is '{x}'; it takes {on} or {off}"),
                        )),
                    };
                let tokens = choice(http_tokens, "--http-tokens", "required", "optional")?;
                let endpoint = choice(http_endpoint, "--http-endpoint", "enabled", "disabled")?;
                let hops = match hop_limit {
                    None => None,
                    Some(h @ 1..=64) => Some(*h as u8),
                    Some(h) => {
                        return Err(cx.err(
                            "InvalidParameterValue",
                            format!(
                                "--http-put-response-hop-limit is {h}; it takes 1 to 64 \
                                 (1, EC2's default, keeps tokens on the instance)"
                            ),
                        ))
                    }
                };
                let inst = self
                    .instances
                    .iter_mut()
                    .find(|i| i.id.as_str() == id)
                    .ok_or_else(|| cx.err("InvalidInstanceID.NotFound", id.clone()))?;
                let o = &mut inst.metadata_options;
                if let Some(t) = tokens {
                    o.http_tokens_required = t;
                }
                if let Some(e) = endpoint {
                    o.http_endpoint_enabled = e;
                }
                if let Some(h) = hops {
                    o.http_put_response_hop_limit = h;
                }
                Ok(Applied::MetadataOptions(id))
            }
            Change::CreateFlowLogs(spec) => flowlog::create(self, &cx, spec),
            Change::DeleteFlowLogs { ids } => Ok(flowlog::delete(self, ids)),
        }
    }
}

/// For the tests: a change's answer as the AWS CLI prints it.
#[cfg(test)]
trait ApplyJson {
    fn apply_json(&mut self, change: &Change) -> Result<Value, ChangeError>;
}

#[cfg(test)]
impl ApplyJson for Lab {
    fn apply_json(&mut self, change: &Change) -> Result<Value, ChangeError> {
        let applied = self.apply(change)?;
        Ok(crate::control::shapes::applied(self, &applied))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod privatelink_tests;
