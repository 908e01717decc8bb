//! `vpclab verify EXPECT.yaml`: a lab checker for courses. Each expectation runs with the real
//! tool (`ping`, `curl`, `nc`, `dig`) inside its source instance (or the emulated internet);
//! the outcomes print as a pass/fail table, optionally as JUnit XML, and the exit code is 0
//! only when every expectation passed (1 when one failed, 2 when the file or a name in it is
//! wrong). The file's grammar and the names it takes: `control::expect`.

use std::io::Read;
use std::path::PathBuf;
use std::process::Output;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::{Failure, Source, DEFAULT_LAB};
use crate::control::expect::{self, Check, Expectation, Outcome, Probe, Tool};
use crate::host::{self, instance::Instance};

/// `vpclab verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The running lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The expectations: a YAML list (see the README's "Checking a lab").
    pub expect: PathBuf,
    /// Also write the outcomes as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// The package that brings each tool, for the message when one is missing.
const TOOLS: &[(&str, &str)] = &[
    ("ping", "iputils-ping"),
    ("curl", "curl"),
    ("nc", "netcat-openbsd"),
    ("dig", "dnsutils"),
];

fn tool_of(check: &Check) -> &'static str {
    match check {
        Check::Reach { tool, .. } => tool.name(),
        Check::Dig { .. } => "dig",
        Check::Body { .. } => "curl",
        Check::Explain { .. } => "explain",
    }
}

/// Runs `verify`; the exit code.
pub fn run(a: VerifyArgs) -> Result<u8, Failure> {
    let shown = a.expect.display().to_string();
    let mut text = String::new();
    std::fs::File::open(&a.expect)
        .and_then(|f| {
            f.take(expect::MAX_FILE as u64 + 1)
                .read_to_string(&mut text)
        })
        .map_err(|e| Failure::Invalid(format!("cannot read {shown}: {e}")))?;
    let expectations = expect::parse(&text).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(|e| format!("{shown}:{e}")).collect();
        Failure::Invalid(lines.join("\n"))
    })?;
    if !host::is_root() {
        return Err(Failure::Invalid(
            "`vpclab verify` runs the tools inside the lab's instances and needs root: run `sudo vpclab verify …`"
                .into(),
        ));
    }
    let source = Source {
        region: crate::model::catalog::DEFAULT_REGION.to_string(),
        parameters: Vec::new(),
        name: a.name.clone(),
    };
    let lab = source.running()?.ok_or_else(|| {
        Failure::Invalid(format!(
            "lab '{}' is not running: bring it up first (`sudo vpclab up <template> --name {} --detach`)",
            a.name, a.name
        ))
    })?;
    let mut probes = Vec::new();
    let mut problems = Vec::new();
    for e in &expectations {
        match expect::resolve(&lab, e) {
            Ok(p) => probes.push(p),
            Err(err) => problems.push(format!("{shown}:{err}")),
        }
    }
    for (tool, package) in TOOLS {
        if expectations.iter().any(|e| tool_of(&e.check) == *tool) && !crate::host::on_path(tool) {
            problems.push(format!(
                "`{tool}` is not installed on this machine (the instances share its tools): apt-get install {package}"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Invalid(problems.join("\n")));
    }

    let health = if lab.load_balancers.is_empty()
        || !expectations
            .iter()
            .any(|e| matches!(e.check, Check::Explain { .. }))
    {
        None
    } else {
        Some(super::explain::live_health(&a.name)?)
    };
    let outcomes: Vec<Outcome> = expectations
        .iter()
        .zip(&probes)
        .map(|(e, p)| match &e.check {
            Check::Explain { .. } => check_explain(&lab, health.as_ref(), e),
            _ => check(&a.name, e, p),
        })
        .collect();
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["line", "check", "expected", "got", "result"]);
    for o in &outcomes {
        table.add_row(vec![
            o.expectation.line.to_string(),
            o.expectation.describe(),
            o.expectation.expected(),
            o.got.clone(),
            if o.pass { "PASS" } else { "FAIL" }.to_string(),
        ]);
    }
    println!("{table}");
    let failed = outcomes.iter().filter(|o| !o.pass).count();
    println!(
        "{} of {} expectations passed ({shown}, lab {})",
        outcomes.len() - failed,
        outcomes.len(),
        a.name
    );
    if let Some(path) = &a.junit {
        std::fs::write(path, expect::junit(&shown, &outcomes))
            .map_err(|e| Failure::Invalid(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(u8::from(failed > 0))
}

/// Asks `vpclab explain` (the model, no tool): reachable, unreachable or the code.
fn check_explain(
    lab: &crate::model::Lab,
    health: Option<&crate::control::diagram::Health>,
    e: &Expectation,
) -> Outcome {
    let Check::Explain {
        to,
        protocol,
        port,
        expect,
    } = &e.check
    else {
        return Outcome {
            expectation: e.clone(),
            got: "not an explain expectation".into(),
            pass: false,
        };
    };
    let q = crate::control::explain::Query {
        source: e.from.clone(),
        destination: to.clone(),
        protocol: *protocol,
        port: *port,
    };
    let (got, pass) = match crate::control::explain::explain(lab, &q, health) {
        Ok(a) => {
            let got = a.outcome().to_string();
            let pass = match expect.as_str() {
                "reachable" => a.reachable(),
                "unreachable" => !a.reachable(),
                code => got == code,
            };
            (got, pass)
        }
        Err(err) => (format!("explain failed: {err}"), false),
    };
    Outcome {
        expectation: e.clone(),
        got,
        pass,
    }
}

/// Runs one expectation's tool inside its instance.
fn check(lab: &str, e: &Expectation, p: &Probe) -> Outcome {
    let run = |program: &str, args: &[String]| -> Result<Output, String> {
        let inst = Instance::open(lab, &p.instance).map_err(|err| err.to_string())?;
        inst.output(program, args).map_err(|err| err.to_string())
    };
    let target = p.target.clone().unwrap_or_default();
    let (got, pass) = match &e.check {
        Check::Reach {
            tool,
            port,
            reachable,
            ..
        } => {
            let args: Vec<String> = match tool {
                Tool::Ping => vec!["-c".into(), "2".into(), "-W".into(), "2".into(), target],
                Tool::Nc => vec![
                    "-z".into(),
                    "-w".into(),
                    "3".into(),
                    target,
                    port.unwrap_or(0).to_string(),
                ],
                Tool::Curl => {
                    let url = match port {
                        Some(p) => format!("http://{target}:{p}/"),
                        None => format!("http://{target}/"),
                    };
                    vec![
                        "-s".into(),
                        "-o".into(),
                        "/dev/null".into(),
                        "-m".into(),
                        "5".into(),
                        url,
                    ]
                }
            };
            match run(tool.name(), &args) {
                Ok(out) => {
                    let ok = out.status.success();
                    let got = if ok { "reachable" } else { "unreachable" };
                    (got.to_string(), ok == *reachable)
                }
                Err(err) => (format!("could not run {}: {err}", tool.name()), false),
            }
        }
        Check::Dig { name, expect } => {
            let args = ["+short", "+time=2", "+tries=2", name.as_str()].map(String::from);
            match run("dig", &args) {
                Ok(out) => {
                    let mut seen: Vec<std::net::Ipv4Addr> = String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .collect();
                    seen.sort();
                    let mut want = expect.clone();
                    want.sort();
                    let shown: Vec<String> = seen.iter().map(|ip| ip.to_string()).collect();
                    let got = if shown.is_empty() {
                        "no address".to_string()
                    } else {
                        shown.join(", ")
                    };
                    (got, seen == want)
                }
                Err(err) => (format!("could not run dig: {err}"), false),
            }
        }
        Check::Explain { .. } => ("asked the model".to_string(), false),
        Check::Body { url, contains } => {
            let args = ["-s", "-m", "5", url.as_str()].map(String::from);
            match run("curl", &args) {
                Ok(out) if out.status.success() => {
                    let body = String::from_utf8_lossy(&out.stdout);
                    let found = body.contains(contains.as_str());
                    let first: String =
                        body.lines().next().unwrap_or("").chars().take(60).collect();
                    (format!("body {first:?}"), found)
                }
                Ok(out) => (
                    format!("curl failed (exit {})", out.status.code().unwrap_or(-1)),
                    false,
                ),
                Err(err) => (format!("could not run curl: {err}"), false),
            }
        }
    };
    Outcome {
        expectation: e.clone(),
        got,
        pass,
    }
}
