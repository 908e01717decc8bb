//! The command line: one file per verb. Each parses its arguments, calls the layers below and
//! prints; nothing here knows AWS rules.
//!
//! Exit codes: 0 success, 2 invalid input (a template, a parameter, a name), 1 internal failure.

pub mod capture;
pub mod change;
pub mod describe;
pub mod diagram;
pub mod explain;
pub mod lab;
pub mod validate;
pub mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::control::client;
use crate::control::protocol::{Recipe, Request, Response};

/// The lab (and stack) name when `--name` is not given.
pub const DEFAULT_LAB: &str = "vpclab";
use crate::model::{Lab, Problems};
use crate::template::{self, Options};

/// vpclab: a packet-level AWS VPC emulator on Linux network namespaces.
///
/// Every EC2 instance of a CloudFormation template becomes a network namespace, and one
/// router process forwards real Ethernet frames between them with AWS's rules: route tables,
/// security groups, network ACLs, the internet gateway's NAT, and VPC endpoints.
///
/// Without a template, commands use the embedded default lab (the seed labs: gateway
/// endpoint for S3, interface endpoint for CloudFormation, endpoint service behind an NLB).
#[derive(Debug, Parser)]
#[command(
    name = "vpclab",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The verb and its flags.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether a closed stdout may end the process at once (SIGPIPE's default): not for `up`,
    /// which runs (or starts) the router daemon that must outlive a closed stdout to tear its
    /// lab down, nor for `capture`, which ends in order and says what it captured.
    pub fn dies_on_broken_pipe(&self) -> bool {
        !matches!(self.command, Command::Up(_) | Command::Capture(_))
    }
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a template: parse it, resolve it, and report every problem with its line, the AWS
    /// rule and the fix. Never touches the host. Exit code 0 valid, 2 invalid.
    Validate(validate::ValidateArgs),
    /// Print a lab's resources as the AWS CLI's describe-* commands do (JSON), or as a table.
    Describe(describe::DescribeArgs),
    /// Draw a lab as an AWS architecture diagram (SVG, PNG, Mermaid or Graphviz): a running
    /// lab with its endpoint states and target health, or a template before `up`.
    Diagram(diagram::DiagramArgs),
    /// Why can (or can't) A reach B: the lab's Reachability Analyzer. Each hop with the rule
    /// that let the packet on, or the component that blocks it with AWS's explanation code
    /// and a fix. Exit code 0 reachable, 1 not.
    Explain(explain::ExplainArgs),
    /// Bring a lab up: one network namespace per instance, the router between them (root).
    Up(lab::UpArgs),
    /// Remove a lab: namespaces, TAPs, mounts, files, processes. Idempotent; works after a crash.
    Down(lab::DownArgs),
    /// A running lab's router: counters per port and per drop reason.
    Status(lab::StatusArgs),
    /// Run a command inside an instance (its network, hostname and files).
    Exec(lab::ExecArgs),
    /// The router's recent flow records, as VPC Flow Logs print them (a REJECT says why).
    FlowLogs(lab::FlowLogsArgs),
    /// Capture a running lab's packets at the router on an instance's (or endpoint's, load
    /// balancer's, the internet's) port, both directions, as pcapng for Wireshark and
    /// `tcpdump -r`, each packet commented with the router's verdict and rule.
    Capture(capture::CaptureArgs),
    /// Check a running lab against an EXPECT.yaml of reachability, DNS and HTTP expectations,
    /// with the real tools inside the instances: a pass/fail table (and JUnit XML), exit code
    /// 0 only when all pass. For grading a lab.
    Verify(verify::VerifyArgs),
    /// An interactive shell inside an instance.
    Shell(lab::ShellArgs),
    /// A running lab's load balancer targets and their health checks (as `aws elbv2
    /// describe-target-health`).
    DescribeTargetHealth(lab::TargetHealthArgs),
    /// Add a route to a running lab's route table (as `aws ec2 create-route`).
    CreateRoute(change::RouteArgs),
    /// Change a route's target (as `aws ec2 replace-route`).
    ReplaceRoute(change::RouteArgs),
    /// Remove a route (as `aws ec2 delete-route`).
    DeleteRoute(change::DeleteRouteArgs),
    /// Change how IMDS answers an instance (as `aws ec2 modify-instance-metadata-options`).
    ModifyInstanceMetadataOptions(change::MetadataOptionsArgs),
    /// Allow inbound traffic (as `aws ec2 authorize-security-group-ingress`).
    AuthorizeSecurityGroupIngress(change::SgArgs),
    /// Allow outbound traffic (as `aws ec2 authorize-security-group-egress`).
    AuthorizeSecurityGroupEgress(change::SgArgs),
    /// Remove an inbound rule (as `aws ec2 revoke-security-group-ingress`).
    RevokeSecurityGroupIngress(change::SgArgs),
    /// Remove an outbound rule (as `aws ec2 revoke-security-group-egress`).
    RevokeSecurityGroupEgress(change::SgArgs),
    /// Associate a subnet with a route table (as `aws ec2 associate-route-table`).
    AssociateRouteTable(change::AssociateArgs),
    /// Add a network ACL entry (as `aws ec2 create-network-acl-entry`).
    CreateNetworkAclEntry(change::AclArgs),
    /// Remove a network ACL entry (as `aws ec2 delete-network-acl-entry`).
    DeleteNetworkAclEntry(change::AclArgs),
    /// Add a gateway endpoint (S3, DynamoDB: routes) or an interface endpoint (PrivateLink:
    /// network interfaces) (as `aws ec2 create-vpc-endpoint`).
    CreateVpcEndpoint(change::CreateEndpointArgs),
    /// Change an endpoint's route tables, subnets, security groups, private DNS or policy (as
    /// `aws ec2 modify-vpc-endpoint`).
    ModifyVpcEndpoint(change::ModifyEndpointArgs),
    /// Remove endpoints and their routes (as `aws ec2 delete-vpc-endpoints`).
    DeleteVpcEndpoints(change::DeleteEndpointsArgs),
    /// Capture a VPC's, subnet's or network interface's traffic into flow logs, delivered to
    /// `/run/vpclab/<lab>/flow-logs/<fl-id>.log` (as `aws ec2 create-flow-logs`).
    CreateFlowLogs(change::CreateFlowLogsArgs),
    /// Stop flow logs (as `aws ec2 delete-flow-logs`; their files stay until `down`).
    DeleteFlowLogs(change::DeleteFlowLogsArgs),
    /// A running lab's VPC endpoints (as `aws ec2 describe-vpc-endpoints`).
    DescribeVpcEndpoints(change::DescribeEndpointsArgs),
    /// A running lab's route tables (as `aws ec2 describe-route-tables`).
    DescribeRouteTables(change::DescribeRouteTablesArgs),
    /// A running lab's AWS-managed prefix lists (as `aws ec2 describe-prefix-lists`).
    DescribePrefixLists(change::DescribePrefixListsArgs),
    /// Publish Network Load Balancers through PrivateLink (as `aws ec2
    /// create-vpc-endpoint-service-configuration`).
    CreateVpcEndpointServiceConfiguration(change::CreateServiceArgs),
    /// Change acceptance or load balancers of an endpoint service.
    ModifyVpcEndpointServiceConfiguration(change::ModifyServiceArgs),
    /// Remove endpoint services (refused while endpoints are connected, as AWS does).
    DeleteVpcEndpointServiceConfigurations(change::DeleteServicesArgs),
    /// Allow or remove principals of an endpoint service.
    ModifyVpcEndpointServicePermissions(change::ServicePermissionsArgs),
    /// Accept pending endpoint connections (they become available).
    AcceptVpcEndpointConnections(change::ConnectionsArgs),
    /// Reject endpoint connections (they become rejected and pass nothing).
    RejectVpcEndpointConnections(change::ConnectionsArgs),
    /// A running lab's endpoint services (as `aws ec2 describe-vpc-endpoint-service-configurations`).
    DescribeVpcEndpointServiceConfigurations(change::DescribeServicesArgs),
    /// The endpoints connected to a running lab's endpoint services.
    DescribeVpcEndpointConnections(change::DescribeServicesArgs),
    /// The allowed principals of a running lab's endpoint services.
    DescribeVpcEndpointServicePermissions(change::DescribeServicesArgs),
    /// Add a Network Load Balancer (as `aws elbv2 create-load-balancer`; the lab is `--lab`).
    CreateLoadBalancer(change::CreateLbArgs),
    /// Remove a load balancer with its listeners (as `aws elbv2 delete-load-balancer`).
    DeleteLoadBalancer(change::LbArgs),
    /// Set load balancer attributes (as `aws elbv2 modify-load-balancer-attributes`).
    ModifyLoadBalancerAttributes(change::LbArgs),
    /// Add a target group (as `aws elbv2 create-target-group`; the lab is `--lab`).
    CreateTargetGroup(change::CreateTgArgs),
    /// Remove a target group no listener uses (as `aws elbv2 delete-target-group`).
    DeleteTargetGroup(change::TgArgs),
    /// Register targets (as `aws elbv2 register-targets`).
    RegisterTargets(change::TgArgs),
    /// Deregister targets (as `aws elbv2 deregister-targets`).
    DeregisterTargets(change::TgArgs),
    /// Set target group attributes (as `aws elbv2 modify-target-group-attributes`).
    ModifyTargetGroupAttributes(change::TgArgs),
    /// Add a listener forwarding to a target group (as `aws elbv2 create-listener`).
    CreateListener(change::CreateListenerArgs),
    /// Remove a listener (as `aws elbv2 delete-listener`).
    DeleteListener(change::ListenerArgs),
}

/// Where a lab comes from: a template and its parameters.
#[derive(Debug, Clone, Args)]
pub struct Source {
    /// The region the lab emulates (its AZs, S3/DynamoDB prefix lists, service addresses).
    #[arg(long, default_value = crate::model::catalog::DEFAULT_REGION, value_name = "REGION")]
    pub region: String,
    /// A template parameter, as Key=Value (repeatable).
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// The lab's name (the CloudFormation stack name).
    #[arg(long = "name", default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
}

fn parse_parameter(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not Key=Value")),
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// JSON shaped like the AWS CLI's output.
    Json,
    /// A table for people.
    Table,
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The user's input is wrong (exit 2); the message says what to do.
    Invalid(String),
    /// The template has problems (exit 2).
    Problems {
        /// The template's path (or `(embedded default lab)`).
        file: String,
        /// Every problem found.
        problems: Problems,
        /// Print them as JSON on stdout (`validate --output json`), else a sentence on stderr.
        json: bool,
    },
}

impl Source {
    /// What the daemon needs to rebuild this lab later: the template's text and options.
    pub fn recipe(&self, template: Option<&PathBuf>) -> Result<Recipe, Failure> {
        let (text, file) = match template {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| {
                    Failure::Invalid(format!("cannot read template {}: {e}", p.display()))
                })?,
                p.display().to_string(),
            ),
            None => (
                template::DEFAULT_TEMPLATE.to_string(),
                "(embedded default lab)".to_string(),
            ),
        };
        Ok(Recipe {
            template: text,
            file,
            region: self.region.clone(),
            parameters: self.parameters.clone(),
            changes: Vec::new(),
        })
    }

    /// The model of the running lab `self.name`, rebuilt from its daemon's recipe; `None`
    /// when no such lab runs.
    pub fn running(&self) -> Result<Option<Lab>, Failure> {
        let sock = client::control_socket(&self.name);
        match std::fs::metadata(&sock) {
            Ok(_) => {}
            // Without root, the default name means the embedded default lab, as it always
            // did; a name the user gave means a lab only root can see.
            Err(e)
                if e.kind() == std::io::ErrorKind::PermissionDenied && self.name != DEFAULT_LAB =>
            {
                return Err(Failure::Invalid(format!(
                    "cannot look for a running lab {}: {} is root's; use sudo, or describe a \
                     template with -t TEMPLATE",
                    self.name,
                    sock.display()
                )))
            }
            Err(_) => return Ok(None),
        }
        let recipe = match client::request(&self.name, &Request::Recipe) {
            Ok(Response::Recipe(r)) => r,
            Ok(other) => {
                return Err(Failure::Invalid(format!(
                    "lab {}: unexpected answer {other:?}",
                    self.name
                )))
            }
            Err(e) => return Err(Failure::Invalid(format!("lab {}: {e}", self.name))),
        };
        let opts = Options {
            region: recipe.region.clone(),
            stack_name: self.name.clone(),
            parameters: recipe.parameters.clone(),
        };
        let mut lab =
            template::load(&recipe.template, &opts).map_err(|problems| Failure::Problems {
                file: recipe.file.clone(),
                problems,
                json: false,
            })?;
        for c in &recipe.changes {
            lab.apply(c).map_err(|e| {
                Failure::Invalid(format!("lab {}: replaying {c:?}: {e}", self.name))
            })?;
        }
        Ok(Some(lab))
    }

    /// Loads the lab from `template` (or the embedded default lab).
    pub fn load(&self, template: Option<&PathBuf>) -> Result<Lab, Failure> {
        let opts = Options {
            region: self.region.clone(),
            stack_name: self.name.clone(),
            parameters: self.parameters.clone(),
        };
        let r = match template {
            Some(p) => template::load_file(p, &opts),
            None => template::load_default(&opts),
        };
        r.map_err(|e| match e {
            template::Error::Read { path, source } => {
                Failure::Invalid(format!("cannot read template {path}: {source}"))
            }
            template::Error::Invalid { file, problems } => Failure::Problems {
                file,
                problems,
                json: false,
            },
        })
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ok = |r: Result<(), Failure>| r.map(|()| 0u8);
    let r = match cli.command {
        Command::Validate(a) => ok(validate::run(a)),
        Command::Describe(a) => ok(describe::run(a)),
        Command::Diagram(a) => ok(diagram::run(a)),
        Command::Explain(a) => explain::run(a),
        Command::Up(a) => ok(lab::up(a)),
        Command::Down(a) => ok(lab::down(a)),
        Command::Status(a) => ok(lab::status(a)),
        Command::Exec(a) => lab::exec(a),
        Command::Shell(a) => lab::shell(a),
        Command::CreateRoute(a) => ok(change::route(a, false)),
        Command::ReplaceRoute(a) => ok(change::route(a, true)),
        Command::DeleteRoute(a) => ok(change::delete_route(a)),
        Command::FlowLogs(a) => ok(lab::flow_logs(a)),
        Command::Capture(a) => capture::run(a),
        Command::Verify(a) => verify::run(a),
        Command::DescribeTargetHealth(a) => ok(lab::target_health(a)),
        Command::ModifyInstanceMetadataOptions(a) => ok(change::metadata_options(a)),
        Command::AuthorizeSecurityGroupIngress(a) => ok(change::security_group(a, false, false)),
        Command::AuthorizeSecurityGroupEgress(a) => ok(change::security_group(a, true, false)),
        Command::RevokeSecurityGroupIngress(a) => ok(change::security_group(a, false, true)),
        Command::RevokeSecurityGroupEgress(a) => ok(change::security_group(a, true, true)),
        Command::AssociateRouteTable(a) => ok(change::associate(a)),
        Command::CreateNetworkAclEntry(a) => ok(change::acl(a, false)),
        Command::DeleteNetworkAclEntry(a) => ok(change::acl(a, true)),
        Command::CreateVpcEndpoint(a) => ok(change::create_endpoint(a)),
        Command::ModifyVpcEndpoint(a) => ok(change::modify_endpoint(a)),
        Command::DeleteVpcEndpoints(a) => ok(change::delete_endpoints(a)),
        Command::CreateFlowLogs(a) => ok(change::create_flow_logs(a)),
        Command::DeleteFlowLogs(a) => ok(change::delete_flow_logs(a)),
        Command::DescribeVpcEndpoints(a) => ok(change::describe_endpoints(a)),
        Command::DescribeRouteTables(a) => ok(change::describe_route_tables(a)),
        Command::DescribePrefixLists(a) => ok(change::describe_prefix_lists(a)),
        Command::CreateVpcEndpointServiceConfiguration(a) => ok(change::create_service(a)),
        Command::ModifyVpcEndpointServiceConfiguration(a) => ok(change::modify_service(a)),
        Command::DeleteVpcEndpointServiceConfigurations(a) => ok(change::delete_services(a)),
        Command::ModifyVpcEndpointServicePermissions(a) => ok(change::service_permissions(a)),
        Command::AcceptVpcEndpointConnections(a) => ok(change::connections(a, true)),
        Command::RejectVpcEndpointConnections(a) => ok(change::connections(a, false)),
        Command::DescribeVpcEndpointServiceConfigurations(a) => ok(change::describe_services(
            a,
            crate::control::describe::What::VpcEndpointServiceConfigurations,
        )),
        Command::DescribeVpcEndpointConnections(a) => ok(change::describe_services(
            a,
            crate::control::describe::What::VpcEndpointConnections,
        )),
        Command::DescribeVpcEndpointServicePermissions(a) => ok(change::describe_services(
            a,
            crate::control::describe::What::VpcEndpointServicePermissions,
        )),
        Command::CreateLoadBalancer(a) => ok(change::create_load_balancer(a)),
        Command::DeleteLoadBalancer(a) => ok(change::load_balancer(a, false)),
        Command::ModifyLoadBalancerAttributes(a) => ok(change::load_balancer(a, true)),
        Command::CreateTargetGroup(a) => ok(change::create_target_group(a)),
        Command::DeleteTargetGroup(a) => ok(change::target_group(a, change::TgVerb::Delete)),
        Command::RegisterTargets(a) => ok(change::target_group(a, change::TgVerb::Register)),
        Command::DeregisterTargets(a) => ok(change::target_group(a, change::TgVerb::Deregister)),
        Command::ModifyTargetGroupAttributes(a) => {
            ok(change::target_group(a, change::TgVerb::Attributes))
        }
        Command::CreateListener(a) => ok(change::create_listener(a)),
        Command::DeleteListener(a) => ok(change::delete_listener(a)),
    };
    Ok(match r {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Invalid(msg)) => {
            eprintln!("vpclab: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Problems {
            file,
            problems,
            json,
        }) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"Valid": false, "Template": file, "Problems": problems})
                    )?
                );
            } else {
                eprintln!("vpclab: {file} is invalid — {problems}");
            }
            ExitCode::from(2)
        }
    })
}
