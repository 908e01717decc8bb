//! Live changes on a running lab, with the AWS CLI's verbs and flags.
//!
//! Size: one clap struct and one mapping to a model change per live verb (about fifty, in the AWS
//! CLI's order, ec2 then elbv2), each a screen or less; the file is that flat list, kept whole so
//! a flag is found beside its verb. The rules of each verb are in `model::change` and its
//! family files.

use std::io::Write;

use clap::Args;
use serde_json::Value;

use super::Failure;
use crate::control::client;
use crate::control::describe::What;
use crate::control::protocol::{Request, Response};
use crate::model::change::{
    Change, EndpointType, FlowLogSpec, RuleSpec, TargetGroupSpec, TargetRef,
};
use crate::model::policy::MAX_POLICY_CHARS;

/// Route target flags (one of them).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// An internet gateway.
    #[arg(long)]
    pub gateway_id: Option<String>,
    /// An instance (its primary network interface).
    #[arg(long)]
    pub instance_id: Option<String>,
    /// A network interface.
    #[arg(long)]
    pub network_interface_id: Option<String>,
    /// A NAT gateway (routes to it are accepted and drop: not emulated yet).
    #[arg(long)]
    pub nat_gateway_id: Option<String>,
    /// A peering connection (accepted, drops: not emulated yet).
    #[arg(long)]
    pub vpc_peering_connection_id: Option<String>,
}

impl Target {
    fn to_ref(&self) -> TargetRef {
        match self {
            Target {
                gateway_id: Some(g),
                ..
            } => TargetRef::Gateway(g.clone()),
            Target {
                instance_id: Some(i),
                ..
            } => TargetRef::Instance(i.clone()),
            Target {
                network_interface_id: Some(e),
                ..
            } => TargetRef::NetworkInterface(e.clone()),
            Target {
                nat_gateway_id: Some(n),
                ..
            } => TargetRef::NatGateway(n.clone()),
            Target {
                vpc_peering_connection_id: Some(p),
                ..
            } => TargetRef::VpcPeering(p.clone()),
            _ => TargetRef::Gateway(String::new()),
        }
    }
}

/// `create-route` / `replace-route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The route table: rtb- id, logical id or Name tag.
    #[arg(long)]
    pub route_table_id: String,
    /// The destination CIDR.
    #[arg(long)]
    pub destination_cidr_block: String,
    /// The target: one of the flags below.
    #[command(flatten)]
    pub target: Target,
}

/// `delete-route`.
#[derive(Debug, Args)]
pub struct DeleteRouteArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The route table.
    #[arg(long)]
    pub route_table_id: String,
    /// The destination CIDR.
    #[arg(long)]
    pub destination_cidr_block: String,
}

/// `authorize-security-group-ingress|egress`, `revoke-…`.
#[derive(Debug, Args)]
pub struct SgArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The group: sg- id, logical id, group name or Name tag.
    #[arg(long)]
    pub group_id: String,
    /// tcp, udp, icmp, -1 (all) or a number.
    #[arg(long)]
    pub protocol: String,
    /// A port, or a range 1024-65535 (ICMP: the type; -1 for all).
    #[arg(long, allow_hyphen_values = true)]
    pub port: Option<String>,
    /// The peer CIDR.
    #[arg(long)]
    pub cidr: Option<String>,
    /// The peer group.
    #[arg(long)]
    pub source_group: Option<String>,
}

impl SgArgs {
    fn spec(&self) -> Result<RuleSpec, Failure> {
        let (from, to) = match self.port.as_deref() {
            None => (None, None),
            Some("-1") => (Some(-1), Some(-1)),
            Some(p) => {
                let bad = || {
                    Failure::Invalid(format!(
                        "--port {p}: give a port (22) or a range (1024-65535)"
                    ))
                };
                match p.split_once('-') {
                    Some((a, b)) => (
                        Some(a.parse().map_err(|_| bad())?),
                        Some(b.parse().map_err(|_| bad())?),
                    ),
                    None => {
                        let n: i32 = p.parse().map_err(|_| bad())?;
                        let is_icmp = self.protocol.eq_ignore_ascii_case("icmp");
                        (Some(n), Some(if is_icmp { -1 } else { n }))
                    }
                }
            }
        };
        Ok(RuleSpec {
            protocol: self.protocol.clone(),
            from_port: from,
            to_port: to,
            cidr: self.cidr.clone(),
            group: self.source_group.clone(),
            prefix_list: None,
        })
    }
}

/// `associate-route-table`.
#[derive(Debug, Args)]
pub struct AssociateArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The route table.
    #[arg(long)]
    pub route_table_id: String,
    /// The subnet.
    #[arg(long)]
    pub subnet_id: String,
}

/// `create-network-acl-entry` / `delete-network-acl-entry`.
#[derive(Debug, Args)]
pub struct AclArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The network ACL: acl- id, logical id or Name tag.
    #[arg(long)]
    pub network_acl_id: String,
    /// The rule number, 1-32766.
    #[arg(long)]
    pub rule_number: u16,
    /// An outbound rule (default: inbound, as `--ingress`).
    #[arg(long, conflicts_with = "ingress")]
    pub egress: bool,
    /// An inbound rule.
    #[arg(long)]
    pub ingress: bool,
    /// allow or deny (create only).
    #[arg(long)]
    pub rule_action: Option<String>,
    /// tcp, udp, icmp, -1 or a number (create only).
    #[arg(long, allow_hyphen_values = true)]
    pub protocol: Option<String>,
    /// The CIDR (create only).
    #[arg(long)]
    pub cidr_block: Option<String>,
    /// `From=22,To=22` (TCP/UDP).
    #[arg(long)]
    pub port_range: Option<String>,
    /// `Type=8,Code=-1` (ICMP).
    #[arg(long, allow_hyphen_values = true)]
    pub icmp_type_code: Option<String>,
}

fn pair(s: &str, a: &str, b: &str) -> Option<(i32, i32)> {
    let mut x = None;
    let mut y = None;
    for part in s.split(',') {
        let (k, v) = part.split_once('=')?;
        if k.eq_ignore_ascii_case(a) {
            x = v.trim().parse().ok();
        } else if k.eq_ignore_ascii_case(b) {
            y = v.trim().parse().ok();
        }
    }
    Some((x?, y?))
}

fn send(lab: &str, change: Change) -> Result<(), Failure> {
    ask(lab, &Request::Change(change))
}

/// Sends a request to the lab's daemon and prints the JSON answer (nothing for `{}`).
fn ask(lab: &str, request: &Request) -> Result<(), Failure> {
    match client::request(lab, request).map_err(Failure::Invalid)? {
        Response::Json { value } => {
            if value.as_object().is_some_and(|o| !o.is_empty()) {
                // A closed pipe (`| head`) is not an error of the change, which is done.
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            }
            Ok(())
        }
        Response::ChangeFailed(e) => Err(Failure::Invalid(e.to_string())),
        Response::Error { message } => Err(Failure::Invalid(message)),
        other => Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    }
}

/// Runs `create-route` (`replace` false) or `replace-route`.
pub fn route(a: RouteArgs, replace: bool) -> Result<(), Failure> {
    let (route_table, destination, target) = (
        a.route_table_id,
        a.destination_cidr_block,
        a.target.to_ref(),
    );
    let change = if replace {
        Change::ReplaceRoute {
            route_table,
            destination,
            target,
        }
    } else {
        Change::CreateRoute {
            route_table,
            destination,
            target,
        }
    };
    send(&a.name, change)
}

/// `modify-instance-metadata-options`.
#[derive(Debug, Args)]
pub struct MetadataOptionsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The instance: i- id, logical id or Name tag.
    #[arg(long)]
    pub instance_id: String,
    /// required (IMDSv2 only) or optional.
    #[arg(long)]
    pub http_tokens: Option<String>,
    /// The TTL of IMDSv2 token replies, 1–64.
    #[arg(long)]
    pub http_put_response_hop_limit: Option<i64>,
    /// enabled or disabled.
    #[arg(long)]
    pub http_endpoint: Option<String>,
}

/// Runs `modify-instance-metadata-options`.
pub fn metadata_options(a: MetadataOptionsArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::ModifyInstanceMetadataOptions {
            instance: a.instance_id,
            http_tokens: a.http_tokens,
            hop_limit: a.http_put_response_hop_limit,
            http_endpoint: a.http_endpoint,
        },
    )
}

/// Runs `delete-route`.
pub fn delete_route(a: DeleteRouteArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::DeleteRoute {
            route_table: a.route_table_id,
            destination: a.destination_cidr_block,
        },
    )
}

/// Runs `authorize-…` (`revoke` false) or `revoke-…`.
pub fn security_group(a: SgArgs, egress: bool, revoke: bool) -> Result<(), Failure> {
    let rule = a.spec()?;
    let group = a.group_id.clone();
    let change = if revoke {
        Change::Revoke {
            group,
            egress,
            rule,
        }
    } else {
        Change::Authorize {
            group,
            egress,
            rule,
        }
    };
    send(&a.name, change)
}

/// Runs `associate-route-table`.
pub fn associate(a: AssociateArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::AssociateRouteTable {
            route_table: a.route_table_id,
            subnet: a.subnet_id,
        },
    )
}

/// Runs `create-network-acl-entry` (`delete` false) or `delete-network-acl-entry`.
pub fn acl(a: AclArgs, delete: bool) -> Result<(), Failure> {
    if delete {
        return send(
            &a.name,
            Change::DeleteNetworkAclEntry {
                acl: a.network_acl_id,
                rule_number: a.rule_number,
                egress: a.egress,
            },
        );
    }
    let missing = |f: &str| Failure::Invalid(format!("create-network-acl-entry needs {f}"));
    let allow = match a.rule_action.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(missing("--rule-action allow|deny")),
    };
    let port_range = match &a.port_range {
        Some(s) => {
            let (f, t) =
                pair(s, "From", "To").ok_or_else(|| missing("--port-range From=N,To=M"))?;
            Some((
                u16::try_from(f).map_err(|_| missing("ports 0-65535"))?,
                u16::try_from(t).map_err(|_| missing("ports 0-65535"))?,
            ))
        }
        None => None,
    };
    let icmp = match &a.icmp_type_code {
        Some(s) => {
            let (t, c) =
                pair(s, "Type", "Code").ok_or_else(|| missing("--icmp-type-code Type=N,Code=M"))?;
            Some((t as i16, c as i16))
        }
        None => None,
    };
    send(
        &a.name,
        Change::CreateNetworkAclEntry {
            acl: a.network_acl_id,
            rule_number: a.rule_number,
            egress: a.egress,
            allow,
            protocol: a.protocol.ok_or_else(|| missing("--protocol"))?,
            cidr: a.cidr_block.ok_or_else(|| missing("--cidr-block"))?,
            port_range,
            icmp,
        },
    )
}

fn endpoint_type(s: &str) -> Result<EndpointType, String> {
    match s.to_ascii_lowercase().as_str() {
        "gateway" => Ok(EndpointType::Gateway),
        "interface" => Ok(EndpointType::Interface),
        "gatewayloadbalancer" => Ok(EndpointType::GatewayLoadBalancer),
        _ => Err(format!(
            "'{s}' is not an endpoint type: Gateway, Interface or GatewayLoadBalancer"
        )),
    }
}

/// `--policy-document`: `file://p.json` (or `fileb://`) reads the file, anything else is the
/// JSON text itself. The text travels as a string, as the API carries it, so that the lab
/// answers bad JSON with AWS's error.
fn policy_document(arg: &Option<String>) -> Result<Option<Value>, Failure> {
    let Some(arg) = arg else {
        return Ok(None);
    };
    let text = match arg
        .strip_prefix("file://")
        .or_else(|| arg.strip_prefix("fileb://"))
    {
        Some(path) => read_policy_file(arg, path)?,
        None => arg.clone(),
    };
    let chars = text.chars().count();
    if chars > MAX_POLICY_CHARS {
        return Err(too_long(arg, &chars.to_string()));
    }
    Ok(Some(Value::String(text)))
}

/// The refusal of a policy document over AWS's limit (`size`: its length, or "more").
fn too_long(arg: &str, size: &str) -> Failure {
    Failure::Invalid(format!(
        "--policy-document {arg}: the policy document has {size} characters; an endpoint policy \
         (AWS IAM) may have at most {MAX_POLICY_CHARS}: shorten it (fewer statements, wildcards)"
    ))
}

/// Reads a policy file, but never more than AWS's limit allows (a character is at most 4
/// bytes of UTF-8): `/dev/zero` or a huge file is refused after reading that much.
fn read_policy_file(arg: &str, path: &str) -> Result<String, Failure> {
    use std::io::Read;
    let cant = |e: std::io::Error| {
        Failure::Invalid(format!("--policy-document {arg}: cannot read {path}: {e}"))
    };
    let limit = (MAX_POLICY_CHARS * 4) as u64;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cant)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cant)?;
    if bytes.len() as u64 > limit {
        return Err(too_long(arg, "more than that"));
    }
    String::from_utf8(bytes).map_err(|_| {
        Failure::Invalid(format!(
            "--policy-document {arg}: {path} is not UTF-8 text (a policy is JSON)"
        ))
    })
}

/// `create-vpc-endpoint`.
#[derive(Debug, Args)]
pub struct CreateEndpointArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The VPC: vpc- id, logical id or Name tag.
    #[arg(long)]
    pub vpc_id: String,
    /// `com.amazonaws.<region>.s3` or `com.amazonaws.<region>.dynamodb`.
    #[arg(long)]
    pub service_name: String,
    /// The route tables that get the `pl-…` → `vpce-…` route.
    #[arg(long, num_args = 1.., value_name = "RTB")]
    pub route_table_ids: Vec<String>,
    /// Gateway (the default; the only type created live).
    #[arg(long, default_value = "Gateway", value_parser = endpoint_type)]
    pub vpc_endpoint_type: EndpointType,
    /// The endpoint policy: `file://policy.json` or the JSON text (default: full access).
    #[arg(long, value_name = "POLICY")]
    pub policy_document: Option<String>,
    /// Interface endpoints: the subnets (one per AZ) that get a network interface.
    #[arg(long, num_args = 1.., value_name = "SUBNET")]
    pub subnet_ids: Vec<String>,
    /// Interface endpoints: the network interfaces' groups (default: the VPC's default group).
    #[arg(long, num_args = 1.., value_name = "SG")]
    pub security_group_ids: Vec<String>,
    /// Whether the service's own name resolves to the endpoint.
    #[command(flatten)]
    pub private_dns: PrivateDns,
}

/// `--private-dns-enabled` / `--no-private-dns-enabled`.
#[derive(Debug, Args)]
pub struct PrivateDns {
    /// Interface endpoints: resolve the service's own name to the endpoint (AWS services:
    /// the default).
    #[arg(long, conflicts_with = "no_private_dns_enabled")]
    pub private_dns_enabled: bool,
    /// Interface endpoints: leave the service's name alone (endpoint services: the default).
    #[arg(long)]
    pub no_private_dns_enabled: bool,
}

impl PrivateDns {
    fn get(&self) -> Option<bool> {
        match (self.private_dns_enabled, self.no_private_dns_enabled) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

impl CreateEndpointArgs {
    /// The change these flags ask for.
    pub fn change(&self) -> Result<Change, Failure> {
        let interface_flags = !self.subnet_ids.is_empty()
            || !self.security_group_ids.is_empty()
            || self.private_dns.get().is_some();
        if self.vpc_endpoint_type == EndpointType::Interface {
            if !self.route_table_ids.is_empty() {
                return Err(Failure::Invalid(
                    "--route-table-ids are only supported for Gateway type VPC endpoints; an interface endpoint takes --subnet-ids".into(),
                ));
            }
            return Ok(Change::CreateInterfaceVpcEndpoint {
                vpc: self.vpc_id.clone(),
                service_name: self.service_name.clone(),
                subnets: self.subnet_ids.clone(),
                security_groups: self.security_group_ids.clone(),
                private_dns: self.private_dns.get(),
                policy: policy_document(&self.policy_document)?,
            });
        }
        if interface_flags && self.vpc_endpoint_type == EndpointType::Gateway {
            return Err(Failure::Invalid(
                "--subnet-ids, --security-group-ids and --private-dns-enabled are for interface endpoints: add --vpc-endpoint-type Interface".into(),
            ));
        }
        Ok(Change::CreateVpcEndpoint {
            vpc: self.vpc_id.clone(),
            service_name: self.service_name.clone(),
            route_tables: self.route_table_ids.clone(),
            policy: policy_document(&self.policy_document)?,
            kind: self.vpc_endpoint_type,
        })
    }
}

/// `modify-vpc-endpoint`.
#[derive(Debug, Args)]
pub struct ModifyEndpointArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The endpoint: vpce- id, logical id or Name tag.
    #[arg(long)]
    pub vpc_endpoint_id: String,
    /// Route tables to add the endpoint's route to.
    #[arg(long, num_args = 1.., value_name = "RTB")]
    pub add_route_table_ids: Vec<String>,
    /// Route tables to take the endpoint's route from.
    #[arg(long, num_args = 1.., value_name = "RTB")]
    pub remove_route_table_ids: Vec<String>,
    /// A new policy: `file://policy.json` or the JSON text.
    #[arg(long, value_name = "POLICY", conflicts_with = "reset_policy")]
    pub policy_document: Option<String>,
    /// Back to the default full-access policy.
    #[arg(long)]
    pub reset_policy: bool,
    /// Interface endpoints: subnets to add (a network interface each).
    #[arg(long, num_args = 1.., value_name = "SUBNET")]
    pub add_subnet_ids: Vec<String>,
    /// Interface endpoints: subnets to remove (with their network interfaces).
    #[arg(long, num_args = 1.., value_name = "SUBNET")]
    pub remove_subnet_ids: Vec<String>,
    /// Interface endpoints: groups to add.
    #[arg(long, num_args = 1.., value_name = "SG")]
    pub add_security_group_ids: Vec<String>,
    /// Interface endpoints: groups to remove.
    #[arg(long, num_args = 1.., value_name = "SG")]
    pub remove_security_group_ids: Vec<String>,
    /// Whether the service's own name resolves to the endpoint.
    #[command(flatten)]
    pub private_dns: PrivateDns,
}

impl ModifyEndpointArgs {
    /// The change these flags ask for.
    pub fn change(&self) -> Result<Change, Failure> {
        let interface = !self.add_subnet_ids.is_empty()
            || !self.remove_subnet_ids.is_empty()
            || !self.add_security_group_ids.is_empty()
            || !self.remove_security_group_ids.is_empty()
            || self.private_dns.get().is_some();
        if interface {
            if !self.add_route_table_ids.is_empty() || !self.remove_route_table_ids.is_empty() {
                return Err(Failure::Invalid(
                    "route tables are for gateway endpoints, subnets, groups and private DNS for interface endpoints: not both in one call".into(),
                ));
            }
            return Ok(Change::ModifyInterfaceVpcEndpoint {
                vpce: self.vpc_endpoint_id.clone(),
                add_subnets: self.add_subnet_ids.clone(),
                remove_subnets: self.remove_subnet_ids.clone(),
                add_security_groups: self.add_security_group_ids.clone(),
                remove_security_groups: self.remove_security_group_ids.clone(),
                private_dns: self.private_dns.get(),
                policy: policy_document(&self.policy_document)?,
                reset_policy: self.reset_policy,
            });
        }
        Ok(Change::ModifyVpcEndpoint {
            vpce: self.vpc_endpoint_id.clone(),
            add_route_tables: self.add_route_table_ids.clone(),
            remove_route_tables: self.remove_route_table_ids.clone(),
            policy: policy_document(&self.policy_document)?,
            reset_policy: self.reset_policy,
        })
    }
}

/// `delete-vpc-endpoints`.
#[derive(Debug, Args)]
pub struct DeleteEndpointsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The endpoints: vpce- ids, logical ids or Name tags.
    #[arg(long, num_args = 1.., required = true, value_name = "VPCE")]
    pub vpc_endpoint_ids: Vec<String>,
}

/// `create-flow-logs`.
#[derive(Debug, Args)]
pub struct CreateFlowLogsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// What the resources are: VPC, Subnet or NetworkInterface.
    #[arg(long, value_parser = ["VPC", "Subnet", "NetworkInterface"])]
    pub resource_type: String,
    /// The resources: ids, logical ids or Name tags (one flow log each).
    #[arg(long, num_args = 1.., required = true, value_name = "ID")]
    pub resource_ids: Vec<String>,
    /// ACCEPT, REJECT or ALL.
    #[arg(long)]
    pub traffic_type: String,
    /// `${field}`s separated by spaces (default: AWS's default format).
    #[arg(long)]
    pub log_format: Option<String>,
    /// 60 or 600 seconds (default 600; `VPCLAB_FLOW_LOG_INTERVAL_S` in `up`'s environment
    /// shortens it in a lab).
    #[arg(long)]
    pub max_aggregation_interval: Option<i64>,
    /// cloud-watch-logs (default) or s3: recorded (the lab writes a file per flow log).
    #[arg(long)]
    pub log_destination_type: Option<String>,
    /// The CloudWatch Logs group: recorded.
    #[arg(long, conflicts_with = "log_destination")]
    pub log_group_name: Option<String>,
    /// The destination's ARN: recorded.
    #[arg(long)]
    pub log_destination: Option<String>,
    /// The IAM role that delivers: recorded.
    #[arg(long)]
    pub deliver_logs_permission_arn: Option<String>,
    /// Idempotency token (default: one derived from the flow logs made).
    #[arg(long)]
    pub client_token: Option<String>,
}

/// `delete-flow-logs`.
#[derive(Debug, Args)]
pub struct DeleteFlowLogsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The flow logs: fl- ids.
    #[arg(long, num_args = 1.., required = true, value_name = "FL")]
    pub flow_log_ids: Vec<String>,
}

/// Runs `create-flow-logs`.
pub fn create_flow_logs(a: CreateFlowLogsArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::CreateFlowLogs(Box::new(FlowLogSpec {
            resource_type: a.resource_type,
            resource_ids: a.resource_ids,
            traffic_type: a.traffic_type,
            log_format: a.log_format,
            max_aggregation_interval: a.max_aggregation_interval,
            log_destination_type: a.log_destination_type,
            log_destination: a.log_destination,
            log_group_name: a.log_group_name,
            deliver_logs_permission_arn: a.deliver_logs_permission_arn,
            client_token: a.client_token,
        })),
    )
}

/// Runs `delete-flow-logs`.
pub fn delete_flow_logs(a: DeleteFlowLogsArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::DeleteFlowLogs {
            ids: a.flow_log_ids,
        },
    )
}

/// `describe-vpc-endpoints` of a running lab.
#[derive(Debug, Args)]
pub struct DescribeEndpointsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// Only these endpoints (ids, logical ids or Name tags).
    #[arg(long, num_args = 1.., value_name = "VPCE")]
    pub vpc_endpoint_ids: Vec<String>,
}

/// `describe-route-tables` of a running lab.
#[derive(Debug, Args)]
pub struct DescribeRouteTablesArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// Only these route tables (ids, logical ids or Name tags).
    #[arg(long, num_args = 1.., value_name = "RTB")]
    pub route_table_ids: Vec<String>,
}

/// `describe-prefix-lists` of a running lab.
#[derive(Debug, Args)]
pub struct DescribePrefixListsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// Only these prefix lists.
    #[arg(long, num_args = 1.., value_name = "PL")]
    pub prefix_list_ids: Vec<String>,
}

/// Runs `create-vpc-endpoint`.
pub fn create_endpoint(a: CreateEndpointArgs) -> Result<(), Failure> {
    send(&a.name, a.change()?)
}

/// Runs `modify-vpc-endpoint`.
pub fn modify_endpoint(a: ModifyEndpointArgs) -> Result<(), Failure> {
    send(&a.name, a.change()?)
}

/// Runs `delete-vpc-endpoints`.
pub fn delete_endpoints(a: DeleteEndpointsArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::DeleteVpcEndpoints {
            ids: a.vpc_endpoint_ids,
        },
    )
}

/// Runs `describe-vpc-endpoints` against the running lab.
pub fn describe_endpoints(a: DescribeEndpointsArgs) -> Result<(), Failure> {
    ask(
        &a.name,
        &Request::Describe {
            what: What::VpcEndpoints,
            filter: a.vpc_endpoint_ids,
        },
    )
}

/// Runs `describe-route-tables` against the running lab.
pub fn describe_route_tables(a: DescribeRouteTablesArgs) -> Result<(), Failure> {
    ask(
        &a.name,
        &Request::Describe {
            what: What::RouteTables,
            filter: a.route_table_ids,
        },
    )
}

/// Runs `describe-prefix-lists` against the running lab.
pub fn describe_prefix_lists(a: DescribePrefixListsArgs) -> Result<(), Failure> {
    ask(
        &a.name,
        &Request::Describe {
            what: What::PrefixLists,
            filter: a.prefix_list_ids,
        },
    )
}

/// `Key=Value,Key=Value` (the AWS CLI's shorthand) as pairs; keys compared without case.
fn shorthand(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == &key.to_ascii_lowercase())
        .map(|(_, v)| v.as_str())
}

/// `--targets Id=i-…[,Port=80]` entries.
fn targets(items: &[String]) -> Result<Vec<(String, Option<u16>)>, Failure> {
    items
        .iter()
        .map(|t| {
            let pairs = shorthand(t);
            let id = field(&pairs, "Id").ok_or_else(|| {
                Failure::Invalid(format!("--targets {t}: write Id=i-…[,Port=80]"))
            })?;
            let port = match field(&pairs, "Port") {
                None => None,
                Some(p) => Some(
                    p.parse::<u16>()
                        .map_err(|_| Failure::Invalid(format!("--targets {t}: Port is 1-65535")))?,
                ),
            };
            Ok((id.to_string(), port))
        })
        .collect()
}

/// `--attributes Key=…,Value=…` entries.
fn attributes(items: &[String]) -> Result<Vec<(String, String)>, Failure> {
    items
        .iter()
        .map(|a| {
            let pairs = shorthand(a);
            match (field(&pairs, "Key"), field(&pairs, "Value")) {
                (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
                _ => Err(Failure::Invalid(format!(
                    "--attributes {a}: write Key=NAME,Value=VALUE"
                ))),
            }
        })
        .collect()
}

/// A list flag given as JSON (`'["a","b"]'`) or as plain values.
fn json_or_plain(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|i| match serde_json::from_str::<Vec<String>>(i) {
            Ok(list) => list,
            Err(_) => vec![i.clone()],
        })
        .collect()
}

/// `--acceptance-required` / `--no-acceptance-required`.
#[derive(Debug, Args)]
pub struct Acceptance {
    /// Connections wait in pendingAcceptance until accepted (the default on create).
    #[arg(long, conflicts_with = "no_acceptance_required")]
    pub acceptance_required: bool,
    /// Connections are available at once.
    #[arg(long)]
    pub no_acceptance_required: bool,
}

impl Acceptance {
    fn get(&self) -> Option<bool> {
        match (self.acceptance_required, self.no_acceptance_required) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

/// `create-vpc-endpoint-service-configuration`.
#[derive(Debug, Args)]
pub struct CreateServiceArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The Network Load Balancers: ARNs, names or logical ids.
    #[arg(long, num_args = 1.., required = true, value_name = "ARN")]
    pub network_load_balancer_arns: Vec<String>,
    /// Whether connections wait for the provider to accept them.
    #[command(flatten)]
    pub acceptance: Acceptance,
}

/// `modify-vpc-endpoint-service-configuration`.
#[derive(Debug, Args)]
pub struct ModifyServiceArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The service: vpce-svc- id, service name or logical id.
    #[arg(long)]
    pub service_id: String,
    /// Whether connections wait for the provider to accept them.
    #[command(flatten)]
    pub acceptance: Acceptance,
    /// Load balancers to add.
    #[arg(long, num_args = 1.., value_name = "ARN")]
    pub add_network_load_balancer_arns: Vec<String>,
    /// Load balancers to remove.
    #[arg(long, num_args = 1.., value_name = "ARN")]
    pub remove_network_load_balancer_arns: Vec<String>,
}

/// `delete-vpc-endpoint-service-configurations`.
#[derive(Debug, Args)]
pub struct DeleteServicesArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The services.
    #[arg(long, num_args = 1.., required = true, value_name = "SVC")]
    pub service_ids: Vec<String>,
}

/// `modify-vpc-endpoint-service-permissions`.
#[derive(Debug, Args)]
pub struct ServicePermissionsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The service.
    #[arg(long)]
    pub service_id: String,
    /// Principals to allow: `'["arn:aws:iam::123456789012:root"]'` or plain ARNs, or `*`.
    #[arg(long, num_args = 1.., value_name = "ARNS")]
    pub add_allowed_principals: Vec<String>,
    /// Principals to remove (existing connections stay, as in AWS).
    #[arg(long, num_args = 1.., value_name = "ARNS")]
    pub remove_allowed_principals: Vec<String>,
}

/// `accept-vpc-endpoint-connections` / `reject-vpc-endpoint-connections`.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The service.
    #[arg(long)]
    pub service_id: String,
    /// The endpoints.
    #[arg(long, num_args = 1.., required = true, value_name = "VPCE")]
    pub vpc_endpoint_ids: Vec<String>,
}

/// The describe verbs of endpoint services (`--service-ids` to narrow).
#[derive(Debug, Args)]
pub struct DescribeServicesArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// Only these services.
    #[arg(long, alias = "service-id", num_args = 1.., value_name = "SVC")]
    pub service_ids: Vec<String>,
}

/// `elbv2 create-load-balancer`.
#[derive(Debug, Args)]
pub struct CreateLbArgs {
    /// The running lab.
    #[arg(long = "lab", default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub lab: String,
    /// The load balancer's name (as `aws elbv2 --name`).
    #[arg(long)]
    pub name: String,
    /// network (application, the AWS default, is not emulated).
    #[arg(long = "type")]
    pub lb_type: Option<String>,
    /// internet-facing (default) or internal.
    #[arg(long)]
    pub scheme: Option<String>,
    /// One subnet per AZ.
    #[arg(long, num_args = 1.., required = true, value_name = "SUBNET")]
    pub subnets: Vec<String>,
    /// Security groups of the nodes.
    #[arg(long, num_args = 1.., value_name = "SG")]
    pub security_groups: Vec<String>,
}

/// `elbv2 delete-load-balancer`, `modify-load-balancer-attributes`.
#[derive(Debug, Args)]
pub struct LbArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The load balancer: ARN, name or logical id.
    #[arg(long)]
    pub load_balancer_arn: String,
    /// `Key=…,Value=…` (modify-load-balancer-attributes).
    #[arg(long, num_args = 1.., value_name = "KEY_VALUE")]
    pub attributes: Vec<String>,
}

/// `elbv2 create-target-group`.
#[derive(Debug, Args)]
pub struct CreateTgArgs {
    /// The running lab.
    #[arg(long = "lab", default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub lab: String,
    /// The target group's name (as `aws elbv2 --name`).
    #[arg(long)]
    pub name: String,
    /// TCP, UDP, TCP_UDP or TLS.
    #[arg(long)]
    pub protocol: Option<String>,
    /// The targets' port, unless a target names its own (1–65535).
    #[arg(long)]
    pub port: Option<u16>,
    /// The VPC: id, logical id or Name tag.
    #[arg(long)]
    pub vpc_id: Option<String>,
    /// instance (default) or ip.
    #[arg(long)]
    pub target_type: Option<String>,
    /// TCP (default), HTTP or HTTPS.
    #[arg(long)]
    pub health_check_protocol: Option<String>,
    /// A port, or traffic-port (default: each target's own port).
    #[arg(long)]
    pub health_check_port: Option<String>,
    /// The HTTP and HTTPS checks' path (default /).
    #[arg(long)]
    pub health_check_path: Option<String>,
    /// Seconds between checks, 5–300 (default 30).
    #[arg(long)]
    pub health_check_interval_seconds: Option<u32>,
    /// Seconds before a check fails, 2–120 (default 10 for TCP, 6 for HTTP and HTTPS).
    #[arg(long)]
    pub health_check_timeout_seconds: Option<u32>,
    /// Passes in a row that make a target healthy, 2–10 (default 5).
    #[arg(long)]
    pub healthy_threshold_count: Option<u32>,
    /// Failures in a row that make a target unhealthy, 2–10 (default 2).
    #[arg(long)]
    pub unhealthy_threshold_count: Option<u32>,
    /// `HttpCode=200` (HTTP health checks).
    #[arg(long)]
    pub matcher: Option<String>,
}

impl CreateTgArgs {
    /// The change these flags ask for.
    pub fn change(&self) -> Result<Change, Failure> {
        let matcher = match &self.matcher {
            None => None,
            Some(m) => Some(
                field(&shorthand(m), "HttpCode")
                    .ok_or_else(|| Failure::Invalid(format!("--matcher {m}: write HttpCode=200")))?
                    .to_string(),
            ),
        };
        Ok(Change::CreateTargetGroup(Box::new(TargetGroupSpec {
            name: self.name.clone(),
            protocol: self.protocol.clone(),
            port: self.port,
            vpc: self.vpc_id.clone(),
            target_type: self.target_type.clone(),
            health_check_protocol: self.health_check_protocol.clone(),
            health_check_port: self.health_check_port.clone(),
            health_check_path: self.health_check_path.clone(),
            health_check_interval_seconds: self.health_check_interval_seconds,
            health_check_timeout_seconds: self.health_check_timeout_seconds,
            healthy_threshold_count: self.healthy_threshold_count,
            unhealthy_threshold_count: self.unhealthy_threshold_count,
            matcher,
        })))
    }
}

/// `elbv2 delete-target-group`, `register-targets`, `deregister-targets`,
/// `modify-target-group-attributes`.
#[derive(Debug, Args)]
pub struct TgArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The target group: ARN, name or logical id.
    #[arg(long)]
    pub target_group_arn: String,
    /// `Id=i-…[,Port=80]` (register/deregister).
    #[arg(long, num_args = 1.., value_name = "TARGET")]
    pub targets: Vec<String>,
    /// `Key=…,Value=…` (modify-target-group-attributes).
    #[arg(long, num_args = 1.., value_name = "KEY_VALUE")]
    pub attributes: Vec<String>,
}

/// `elbv2 create-listener`.
#[derive(Debug, Args)]
pub struct CreateListenerArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The load balancer: ARN, name or logical id.
    #[arg(long)]
    pub load_balancer_arn: String,
    /// TCP, UDP or TCP_UDP.
    #[arg(long)]
    pub protocol: Option<String>,
    /// The port to listen on (1–65535).
    #[arg(long)]
    pub port: u16,
    /// `Type=forward,TargetGroupArn=…`.
    #[arg(long, num_args = 1.., required = true, value_name = "ACTION")]
    pub default_actions: Vec<String>,
}

impl CreateListenerArgs {
    /// The change these flags ask for.
    pub fn change(&self) -> Result<Change, Failure> {
        let pairs = shorthand(
            self.default_actions
                .first()
                .map(String::as_str)
                .unwrap_or(""),
        );
        if field(&pairs, "Type").is_some_and(|t| !t.eq_ignore_ascii_case("forward")) {
            return Err(Failure::Invalid(
                "--default-actions: vpclab's Network Load Balancer listeners forward (Type=forward,TargetGroupArn=…)".into(),
            ));
        }
        let tg = field(&pairs, "TargetGroupArn").ok_or_else(|| {
            Failure::Invalid("--default-actions: write Type=forward,TargetGroupArn=ARN".into())
        })?;
        Ok(Change::CreateListener {
            load_balancer: self.load_balancer_arn.clone(),
            protocol: self.protocol.clone(),
            port: self.port,
            target_group: tg.to_string(),
        })
    }
}

/// `elbv2 delete-listener`.
#[derive(Debug, Args)]
pub struct ListenerArgs {
    /// The running lab.
    #[arg(long, default_value = super::DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The listener: ARN or logical id.
    #[arg(long)]
    pub listener_arn: String,
}

/// Runs the endpoint-service and elbv2 verbs.
pub fn create_service(a: CreateServiceArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::CreateVpcEndpointServiceConfiguration {
            load_balancers: a.network_load_balancer_arns,
            acceptance_required: a.acceptance.get(),
        },
    )
}

/// Runs `modify-vpc-endpoint-service-configuration`.
pub fn modify_service(a: ModifyServiceArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::ModifyVpcEndpointServiceConfiguration {
            service: a.service_id,
            acceptance_required: a.acceptance.get(),
            add_load_balancers: a.add_network_load_balancer_arns,
            remove_load_balancers: a.remove_network_load_balancer_arns,
        },
    )
}

/// Runs `delete-vpc-endpoint-service-configurations`.
pub fn delete_services(a: DeleteServicesArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::DeleteVpcEndpointServiceConfigurations {
            services: a.service_ids,
        },
    )
}

/// Runs `modify-vpc-endpoint-service-permissions`.
pub fn service_permissions(a: ServicePermissionsArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::ModifyVpcEndpointServicePermissions {
            service: a.service_id,
            add: json_or_plain(&a.add_allowed_principals),
            remove: json_or_plain(&a.remove_allowed_principals),
        },
    )
}

/// Runs `accept-vpc-endpoint-connections` (`accept`) or `reject-…`.
pub fn connections(a: ConnectionsArgs, accept: bool) -> Result<(), Failure> {
    let (service, endpoints) = (a.service_id, a.vpc_endpoint_ids);
    send(
        &a.name,
        if accept {
            Change::AcceptVpcEndpointConnections { service, endpoints }
        } else {
            Change::RejectVpcEndpointConnections { service, endpoints }
        },
    )
}

/// Runs a describe verb of endpoint services.
pub fn describe_services(a: DescribeServicesArgs, what: What) -> Result<(), Failure> {
    ask(
        &a.name,
        &Request::Describe {
            what,
            filter: a.service_ids,
        },
    )
}

/// Runs `create-load-balancer`.
pub fn create_load_balancer(a: CreateLbArgs) -> Result<(), Failure> {
    send(
        &a.lab,
        Change::CreateLoadBalancer {
            name: a.name,
            lb_type: a.lb_type,
            scheme: a.scheme,
            subnets: a.subnets,
            security_groups: a.security_groups,
        },
    )
}

/// Runs `delete-load-balancer` (`modify` false) or `modify-load-balancer-attributes`.
pub fn load_balancer(a: LbArgs, modify: bool) -> Result<(), Failure> {
    let change = if modify {
        Change::ModifyLoadBalancerAttributes {
            load_balancer: a.load_balancer_arn,
            attributes: attributes(&a.attributes)?,
        }
    } else {
        Change::DeleteLoadBalancer {
            load_balancer: a.load_balancer_arn,
        }
    };
    send(&a.name, change)
}

/// Runs `create-target-group`.
pub fn create_target_group(a: CreateTgArgs) -> Result<(), Failure> {
    send(&a.lab, a.change()?)
}

/// The target-group verbs.
#[derive(Debug, Clone, Copy)]
pub enum TgVerb {
    /// `delete-target-group`.
    Delete,
    /// `register-targets`.
    Register,
    /// `deregister-targets`.
    Deregister,
    /// `modify-target-group-attributes`.
    Attributes,
}

/// Runs a target-group verb.
pub fn target_group(a: TgArgs, verb: TgVerb) -> Result<(), Failure> {
    let target_group = a.target_group_arn;
    let change = match verb {
        TgVerb::Delete => Change::DeleteTargetGroup { target_group },
        TgVerb::Register => Change::RegisterTargets {
            target_group,
            targets: targets(&a.targets)?,
        },
        TgVerb::Deregister => Change::DeregisterTargets {
            target_group,
            targets: targets(&a.targets)?,
        },
        TgVerb::Attributes => Change::ModifyTargetGroupAttributes {
            target_group,
            attributes: attributes(&a.attributes)?,
        },
    };
    send(&a.name, change)
}

/// Runs `create-listener`.
pub fn create_listener(a: CreateListenerArgs) -> Result<(), Failure> {
    send(&a.name, a.change()?)
}

/// Runs `delete-listener`.
pub fn delete_listener(a: ListenerArgs) -> Result<(), Failure> {
    send(
        &a.name,
        Change::DeleteListener {
            listener: a.listener_arn,
        },
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::super::{Cli, Command};
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let mut all = vec!["vpclab"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .unwrap_or_else(|e| panic!("{e}"))
            .command
    }

    #[test]
    fn create_vpc_endpoint_takes_the_aws_cli_flags() {
        let Command::CreateVpcEndpoint(a) = parse(&[
            "create-vpc-endpoint",
            "--name",
            "polh1",
            "--vpc-id",
            "CloudNetaVPC",
            "--service-name",
            "com.amazonaws.ap-northeast-2.s3",
            "--route-table-ids",
            "rtb-1",
            "CloudNetaPrivateRT",
            "--policy-document",
            r#"{"Statement":[]}"#,
        ]) else {
            panic!("create-vpc-endpoint")
        };
        assert_eq!(a.name, "polh1");
        assert_eq!(
            a.change().unwrap(),
            Change::CreateVpcEndpoint {
                vpc: "CloudNetaVPC".into(),
                service_name: "com.amazonaws.ap-northeast-2.s3".into(),
                route_tables: vec!["rtb-1".into(), "CloudNetaPrivateRT".into()],
                policy: Some(json!(r#"{"Statement":[]}"#)),
                kind: EndpointType::Gateway,
            }
        );
        let Command::CreateVpcEndpoint(a) = parse(&[
            "create-vpc-endpoint",
            "--vpc-id",
            "v",
            "--service-name",
            "s",
            "--vpc-endpoint-type",
            "Interface",
        ]) else {
            panic!("create-vpc-endpoint")
        };
        assert_eq!(a.vpc_endpoint_type, EndpointType::Interface);
        assert_eq!(a.name, "vpclab");
        let Command::CreateVpcEndpoint(a) = parse(&[
            "create-vpc-endpoint",
            "--vpc-id",
            "v",
            "--service-name",
            "s",
            "--vpc-endpoint-type",
            "Interface",
            "--subnet-ids",
            "a",
            "b",
            "--security-group-ids",
            "g",
            "--no-private-dns-enabled",
        ]) else {
            panic!("create-vpc-endpoint")
        };
        assert_eq!(
            a.change().unwrap(),
            Change::CreateInterfaceVpcEndpoint {
                vpc: "v".into(),
                service_name: "s".into(),
                subnets: vec!["a".into(), "b".into()],
                security_groups: vec!["g".into()],
                private_dns: Some(false),
                policy: None,
            }
        );
        let Command::ModifyVpcEndpoint(a) = parse(&[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            "vpce-1",
            "--add-subnet-ids",
            "a",
            "--remove-security-group-ids",
            "g",
            "--private-dns-enabled",
        ]) else {
            panic!("modify-vpc-endpoint")
        };
        assert!(matches!(
            a.change().unwrap(),
            Change::ModifyInterfaceVpcEndpoint {
                private_dns: Some(true),
                ..
            }
        ));
        assert!(Cli::try_parse_from([
            "vpclab",
            "create-vpc-endpoint",
            "--vpc-id",
            "v",
            "--service-name",
            "s",
            "--vpc-endpoint-type",
            "Bridge",
        ])
        .is_err());
    }

    #[test]
    fn policy_documents_are_read_from_file_urls() {
        let dir = std::env::temp_dir().join(format!("vpclab-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.json");
        std::fs::write(&path, "{\"Statement\": 1}").unwrap();
        let arg = format!("file://{}", path.display());
        let got = policy_document(&Some(arg));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.unwrap(), Some(json!("{\"Statement\": 1}")));
        let Err(Failure::Invalid(msg)) =
            policy_document(&Some("file:///nonexistent/vpclab/p.json".into()))
        else {
            panic!("a missing file is refused")
        };
        assert!(msg.contains("cannot read"), "{msg}");
    }

    #[test]
    fn modify_and_delete_take_the_aws_cli_flags() {
        let Command::ModifyVpcEndpoint(a) = parse(&[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            "vpce-1",
            "--add-route-table-ids",
            "a",
            "b",
            "--remove-route-table-ids",
            "c",
            "--reset-policy",
        ]) else {
            panic!("modify-vpc-endpoint")
        };
        assert_eq!(
            a.change().unwrap(),
            Change::ModifyVpcEndpoint {
                vpce: "vpce-1".into(),
                add_route_tables: vec!["a".into(), "b".into()],
                remove_route_tables: vec!["c".into()],
                policy: None,
                reset_policy: true,
            }
        );
        assert!(Cli::try_parse_from([
            "vpclab",
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            "vpce-1",
            "--reset-policy",
            "--policy-document",
            "{}",
        ])
        .is_err());
        let Command::DeleteVpcEndpoints(a) = parse(&[
            "delete-vpc-endpoints",
            "--vpc-endpoint-ids",
            "vpce-1",
            "vpce-2",
        ]) else {
            panic!("delete-vpc-endpoints")
        };
        assert_eq!(a.vpc_endpoint_ids, vec!["vpce-1", "vpce-2"]);
        assert!(Cli::try_parse_from(["vpclab", "delete-vpc-endpoints"]).is_err());
        let Command::DescribeVpcEndpoints(a) =
            parse(&["describe-vpc-endpoints", "--name", "polh1"])
        else {
            panic!("describe-vpc-endpoints")
        };
        assert!(a.vpc_endpoint_ids.is_empty());
        let Command::DescribePrefixLists(a) =
            parse(&["describe-prefix-lists", "--prefix-list-ids", "pl-78a54011"])
        else {
            panic!("describe-prefix-lists")
        };
        assert_eq!(a.prefix_list_ids, vec!["pl-78a54011"]);
    }
    #[test]
    fn elbv2_and_endpoint_service_verbs_take_the_aws_cli_flags() {
        let Command::CreateTargetGroup(a) = parse(&[
            "create-target-group",
            "--lab",
            "l1",
            "--name",
            "tg",
            "--protocol",
            "TCP",
            "--port",
            "80",
            "--vpc-id",
            "v",
            "--health-check-protocol",
            "HTTP",
            "--matcher",
            "HttpCode=200",
        ]) else {
            panic!("create-target-group")
        };
        assert_eq!(a.lab, "l1");
        let Change::CreateTargetGroup(t) = a.change().unwrap() else {
            panic!("change")
        };
        assert_eq!(t.matcher.as_deref(), Some("200"));
        assert_eq!(t.port, Some(80));
        let Command::CreateListener(a) = parse(&[
            "create-listener",
            "--load-balancer-arn",
            "nlb",
            "--protocol",
            "TCP",
            "--port",
            "80",
            "--default-actions",
            "Type=forward,TargetGroupArn=arn:x",
        ]) else {
            panic!("create-listener")
        };
        assert_eq!(
            a.change().unwrap(),
            Change::CreateListener {
                load_balancer: "nlb".into(),
                protocol: Some("TCP".into()),
                port: 80,
                target_group: "arn:x".into(),
            }
        );
        let Command::RegisterTargets(a) = parse(&[
            "register-targets",
            "--target-group-arn",
            "tg",
            "--targets",
            "Id=i-1",
            "Id=i-2,Port=8080",
        ]) else {
            panic!("register-targets")
        };
        assert_eq!(
            targets(&a.targets).unwrap(),
            vec![("i-1".into(), None), ("i-2".into(), Some(8080))]
        );
        let Command::ModifyTargetGroupAttributes(a) = parse(&[
            "modify-target-group-attributes",
            "--target-group-arn",
            "tg",
            "--attributes",
            "Key=proxy_protocol_v2.enabled,Value=true",
        ]) else {
            panic!("modify-target-group-attributes")
        };
        assert_eq!(
            attributes(&a.attributes).unwrap(),
            vec![("proxy_protocol_v2.enabled".into(), "true".into())]
        );
        let Command::ModifyVpcEndpointServicePermissions(a) = parse(&[
            "modify-vpc-endpoint-service-permissions",
            "--service-id",
            "vpce-svc-1",
            "--add-allowed-principals",
            r#"["arn:aws:iam::123456789012:root"]"#,
        ]) else {
            panic!("permissions")
        };
        assert_eq!(
            json_or_plain(&a.add_allowed_principals),
            vec!["arn:aws:iam::123456789012:root"]
        );
        let Command::CreateVpcEndpointServiceConfiguration(a) = parse(&[
            "create-vpc-endpoint-service-configuration",
            "--network-load-balancer-arns",
            "nlb",
            "--no-acceptance-required",
        ]) else {
            panic!("create-vpc-endpoint-service-configuration")
        };
        assert_eq!(a.acceptance.get(), Some(false));
        assert!(matches!(
            parse(&[
                "accept-vpc-endpoint-connections",
                "--service-id",
                "s",
                "--vpc-endpoint-ids",
                "e"
            ]),
            Command::AcceptVpcEndpointConnections(_)
        ));
        assert!(matches!(
            parse(&["describe-vpc-endpoint-connections", "--name", "lab1"]),
            Command::DescribeVpcEndpointConnections(_)
        ));
    }
}
