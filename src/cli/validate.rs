//! `vpclab validate [TEMPLATE]`: parse, resolve and verify; report every problem.

use std::path::PathBuf;

use clap::Args;

use super::{Failure, Output, Source};

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The CloudFormation template (YAML or JSON); the embedded default lab if left out.
    pub template: Option<PathBuf>,
    /// The lab's name, region and template parameters.
    #[command(flatten)]
    pub source: Source,
    /// `table` prints a summary for people; `json` prints {"Valid": …, "Problems": […]}.
    #[arg(long, value_enum, default_value = "table")]
    pub output: Output,
}

/// Runs `validate`.
pub fn run(a: ValidateArgs) -> Result<(), Failure> {
    let file = a
        .template
        .as_ref()
        .map_or("(embedded default lab)".to_string(), |p| {
            p.display().to_string()
        });
    let lab = a.source.load(a.template.as_ref()).map_err(|f| match f {
        Failure::Problems { file, problems, .. } => Failure::Problems {
            file,
            problems,
            json: a.output == Output::Json,
        },
        other => other,
    })?;
    match a.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({"Valid": true, "Template": file, "Region": lab.region, "Problems": []})
        ),
        Output::Table => {
            println!(
                "{file} is valid (region {}, stack {})",
                lab.region, lab.stack_name
            );
            println!(
                "  {} VPC(s), {} subnet(s), {} route table(s), {} security group(s), {} network ACL(s), {} instance(s), {} VPC endpoint(s), {} endpoint service(s), {} load balancer(s)",
                lab.vpcs.len(),
                lab.subnets.len(),
                lab.route_tables.len(),
                lab.security_groups.len(),
                lab.network_acls.len(),
                lab.instances.len(),
                lab.vpc_endpoints.len(),
                lab.endpoint_services.len(),
                lab.load_balancers.len()
            );
        }
    }
    Ok(())
}
