//! `vpclab diagram`: draw a lab (a running one, a template, or the embedded default lab) as
//! SVG, PNG, Mermaid or Graphviz.
//!
//! A running lab (`--name`) is drawn as it is now, live changes included, with its endpoint
//! states and its targets' health; a template (`-t`) or the default lab is drawn offline,
//! before `up`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Failure, Source};
use crate::control::client;
use crate::control::diagram::{self, Fonts, Health};
use crate::control::protocol::{Request, Response};

/// Diagram formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Standalone SVG 1.1.
    Svg,
    /// The SVG rendered to a PNG image (needs `-o FILE`).
    Png,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph (`dot -Tpng`).
    Dot,
}

/// Arguments of `diagram`.
#[derive(Debug, Args)]
pub struct DiagramArgs {
    /// The CloudFormation template (YAML or JSON). Left out: the running lab `--name`, live
    /// changes and target health included, or else the embedded default lab.
    #[arg(long, short = 't', value_name = "TEMPLATE")]
    pub template: Option<PathBuf>,
    /// The lab's name, region and template parameters.
    #[command(flatten)]
    pub source: Source,
    /// The output format.
    #[arg(long, value_enum, default_value = "svg")]
    pub format: Format,
    /// Write to FILE instead of standard output (required for png).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Pixels per SVG unit of a PNG.
    #[arg(long, default_value_t = 1.5, value_name = "FACTOR")]
    pub scale: f32,
}

/// The running lab's target health; an error from the daemon is a failure, a lab without
/// load balancers has none.
fn live_health(name: &str) -> Result<Health, Failure> {
    match client::request(name, &Request::TargetHealth { target_group: None })
        .map_err(Failure::Invalid)?
    {
        Response::Json { value } => Ok(Health::from_descriptions(&value)),
        Response::Error { message } => Err(Failure::Invalid(message)),
        other => Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    }
}

/// Runs `diagram`.
pub fn run(a: DiagramArgs) -> Result<(), Failure> {
    if !(a.scale > 0.0 && a.scale <= 8.0) {
        return Err(Failure::Invalid(format!(
            "--scale {} is out of range: give a factor above 0 and at most 8",
            a.scale
        )));
    }
    let (lab, health) = match &a.template {
        Some(_) => (a.source.load(a.template.as_ref())?, None),
        None => match a.source.running()? {
            Some(lab) => {
                let health = if lab.load_balancers.is_empty() {
                    None
                } else {
                    Some(live_health(&a.source.name)?)
                };
                (lab, health)
            }
            None if a.source.name != super::DEFAULT_LAB => {
                return Err(Failure::Invalid(format!(
                    "no lab named {0} is running: bring it up with `sudo vpclab up TEMPLATE --name {0}`, \
                     or draw a template with -t TEMPLATE --name {0}",
                    a.source.name
                )))
            }
            None => (a.source.load(None)?, None),
        },
    };
    let bytes = match a.format {
        Format::Svg => diagram::svg(&lab, health.as_ref()).into_bytes(),
        Format::Mermaid => diagram::mermaid(&lab, health.as_ref()).into_bytes(),
        Format::Dot => diagram::dot(&lab, health.as_ref()).into_bytes(),
        Format::Png => {
            if a.output.is_none() {
                return Err(Failure::Invalid(
                    "a PNG is binary: write it to a file with -o FILE.png".into(),
                ));
            }
            let fonts = Fonts::system();
            if fonts.is_empty() {
                eprintln!(
                    "vpclab: no fonts found, so the PNG has boxes but no text; install one \
                     (e.g. `apt-get install fonts-dejavu-core`) and draw it again"
                );
            }
            diagram::png(&lab, health.as_ref(), &fonts, a.scale)
                .map_err(|e| Failure::Invalid(e.to_string()))?
                .bytes
        }
    };
    match &a.output {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|e| Failure::Invalid(format!("cannot write {}: {e}", path.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .map_err(|e| Failure::Invalid(format!("cannot write the diagram: {e}")))
        }
    }
}
