//! `vpclab explain`: why can (or can't) a source reach a destination — the lab's
//! Reachability Analyzer, on a running lab (`--name`, live changes and target health
//! included) or a template (`-t`) before `up`. The engine is `control::explain`; this file
//! loads the lab, asks the daemon for target health, and prints text or AWS-shaped JSON.
//! Exit code 0 when reachable, 1 when not, 2 when a name or the lab is wrong.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Failure, Source};
use crate::control::client;
use crate::control::diagram::Health;
use crate::control::explain::{self, Protocol, Query};
use crate::control::protocol::{Request, Response};

/// Output formats of `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Each hop on a line.
    Text,
    /// As `aws ec2 describe-network-insights-analyses`.
    Json,
}

/// The protocols `explain` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    /// A TCP SYN (and its SYN-ACK).
    Tcp,
    /// A UDP datagram (and an answer).
    Udp,
    /// An ICMP echo request (and its reply).
    Icmp,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The CloudFormation template. Left out: the running lab `--name` (live changes and
    /// target health included), or else the embedded default lab.
    #[arg(long, short = 't', value_name = "TEMPLATE")]
    pub template: Option<PathBuf>,
    /// The lab's name, region and template parameters.
    #[command(flatten)]
    pub source: Source,
    /// Where from: an instance's name, id or private IP, or `internet`.
    pub from: String,
    /// Where to: an instance, an IPv4 address, a DNS name, a load balancer's name, `s3`,
    /// `dynamodb` or `internet`.
    pub to: String,
    /// The protocol.
    #[arg(long, value_enum, default_value = "tcp")]
    pub protocol: Proto,
    /// The destination port (TCP, UDP).
    #[arg(long, default_value_t = 80)]
    pub port: u16,
    /// Text for people, or JSON shaped like the AWS CLI's.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Format,
}

/// The running lab's target health, from its daemon.
pub fn live_health(name: &str) -> Result<Health, Failure> {
    match client::request(name, &Request::TargetHealth { target_group: None })
        .map_err(Failure::Invalid)?
    {
        Response::Json { value } => Ok(Health::from_descriptions(&value)),
        Response::Error { message } => Err(Failure::Invalid(message)),
        other => Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    }
}

/// The lab to explain and its live target health: a template, the running lab, or the
/// embedded default lab.
pub fn lab_of(
    template: Option<&PathBuf>,
    source: &Source,
) -> Result<(crate::model::Lab, Option<Health>), Failure> {
    if template.is_some() {
        return Ok((source.load(template)?, None));
    }
    match source.running()? {
        Some(lab) => {
            let health = if lab.load_balancers.is_empty() {
                None
            } else {
                Some(live_health(&source.name)?)
            };
            Ok((lab, health))
        }
        None if source.name != super::DEFAULT_LAB => Err(Failure::Invalid(format!(
            "no lab named {0} is running: bring it up with `sudo vpclab up TEMPLATE --name {0}`, \
             or explain a template with -t TEMPLATE",
            source.name
        ))),
        None => Ok((source.load(None)?, None)),
    }
}

/// Runs `explain`; the exit code (0 reachable, 1 not).
pub fn run(a: ExplainArgs) -> Result<u8, Failure> {
    let (lab, health) = lab_of(a.template.as_ref(), &a.source)?;
    let protocol = match a.protocol {
        Proto::Tcp => Protocol::Tcp,
        Proto::Udp => Protocol::Udp,
        Proto::Icmp => Protocol::Icmp,
    };
    let q = Query {
        source: a.from,
        destination: a.to,
        protocol,
        port: Some(a.port),
    };
    let analysis =
        explain::explain(&lab, &q, health.as_ref()).map_err(|e| Failure::Invalid(e.to_string()))?;
    match a.output {
        Format::Text => print!("{}", analysis.text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&analysis.json()).unwrap_or_default()
        ),
    }
    Ok(u8::from(!analysis.reachable()))
}
