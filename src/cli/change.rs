//! Live changes on a running lab, with the AWS CLI's verbs and flags.

use clap::Args;

use super::Failure;
use crate::control::protocol::{Request, Response};
use crate::model::change::{Change, RuleSpec, TargetRef};
use crate::runtime::lab as runlab;

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
    #[arg(long, default_value = "vpclab", value_name = "LAB")]
    pub name: String,
    /// The route table: rtb- id, logical id or Name tag.
    #[arg(long)]
    pub route_table_id: String,
    /// The destination CIDR.
    #[arg(long)]
    pub destination_cidr_block: String,
    #[command(flatten)]
    pub target: Target,
}

/// `delete-route`.
#[derive(Debug, Args)]
pub struct DeleteRouteArgs {
    /// The running lab.
    #[arg(long, default_value = "vpclab", value_name = "LAB")]
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
    #[arg(long, default_value = "vpclab", value_name = "LAB")]
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
    #[arg(long, default_value = "vpclab", value_name = "LAB")]
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
    #[arg(long, default_value = "vpclab", value_name = "LAB")]
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
    match runlab::request(lab, &Request::Change(change)).map_err(Failure::Invalid)? {
        Response::Json { value } => {
            if value.as_object().is_some_and(|o| !o.is_empty()) {
                println!(
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
