//! `up`, `down`, `status`, `exec`, `shell`: a lab on this machine's namespaces.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use super::{Failure, Source};
use crate::control::client;
use crate::control::describe::What;
use crate::control::flowlogs;
use crate::control::protocol::{Request, Response};
use crate::host::{self, cleanup, instance::Instance, state::LabState};
use crate::runtime::lab::{self as runlab, instance_name};

use super::DEFAULT_LAB;

fn need_root(verb: &str) -> Result<(), Failure> {
    if host::is_root() {
        Ok(())
    } else {
        Err(Failure::Invalid(format!(
            "`vpclab {verb}` creates network namespaces and needs root: run `sudo vpclab {verb} …`"
        )))
    }
}

/// `vpclab up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The CloudFormation template; the embedded default lab if left out.
    pub template: Option<PathBuf>,
    /// The lab's name, region and template parameters.
    #[command(flatten)]
    pub source: Source,
    /// Return once the lab is up, leaving the router running in the background.
    #[arg(long)]
    pub detach: bool,
    /// (internal) Run as the detached daemon.
    #[arg(long, hide = true)]
    pub daemon: bool,
    /// Router worker threads: each TAP gets this many queues and each worker reads and
    /// writes one queue of every TAP (flows stay on one worker). 1 to 16; by default one per
    /// core, at most 4.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub workers: Option<u16>,
}

/// Runs `up`.
pub fn up(a: UpArgs) -> Result<(), Failure> {
    need_root("up")?;
    let lab = a.source.load(a.template.as_ref())?;
    let name = a.source.name.clone();
    host::names::check_lab(&name).map_err(|e| {
        Failure::Invalid(format!(
            "{e} (a lab name is letters, digits and _: --name my_lab)"
        ))
    })?;
    if LabState::load(&name).ok().flatten().is_some() {
        return Err(Failure::Invalid(format!(
            "lab '{name}' is already up: `vpclab down --name {name}` first, or pick another --name"
        )));
    }
    if a.detach {
        return detach(&a, &name);
    }
    let summary = summary(&lab, &name);
    // A detached daemon's stdout is a pipe to the `up` that started it, closed once the lab
    // is up: its later lines (teardown) are dropped, never a panic that skips the teardown.
    let mut progress = |line: &str| {
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    if !a.daemon {
        println!("{summary}");
        println!("Ctrl-C stops the router and removes the lab.");
    }
    let recipe = a.source.recipe(a.template.as_ref())?;
    let options = runlab::RouterOptions {
        workers: a.workers.map_or_else(runlab::default_workers, usize::from),
    };
    runlab::run(lab, &name, recipe, &options, &mut progress)
        .map_err(|e| Failure::Invalid(e.to_string()))
}

fn detach(a: &UpArgs, name: &str) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::Invalid(e.to_string()))?;
    let mut args: Vec<String> = vec!["up".into()];
    if let Some(t) = &a.template {
        args.push(t.display().to_string());
    }
    args.extend([
        "--name".into(),
        name.into(),
        "--region".into(),
        a.source.region.clone(),
    ]);
    for (k, v) in &a.source.parameters {
        args.extend(["--parameter".into(), format!("{k}={v}")]);
    }
    let workers = a.workers.map_or_else(runlab::default_workers, usize::from);
    args.extend(["--workers".into(), workers.to_string()]);
    args.push("--daemon".into());
    let mut child = Process::new("setsid")
        .arg(&exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::Invalid(format!("cannot start the router daemon (setsid): {e}")))?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let echo = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            if let Some(r) = r {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    println!("{line}");
                }
            }
        })
    };
    echo(out.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>));
    echo(err.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>));
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Failure::Invalid(format!(
                "the lab did not come up (router daemon exited: {status}); nothing is left behind"
            )));
        }
        if let Ok(Response::Status(_)) = client::request(name, &Request::Status) {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            return Err(Failure::Invalid(
                "the lab did not come up within 10 minutes".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let lab = a.source.load(a.template.as_ref())?;
    println!("{}", summary(&lab, name));
    println!(
        "The router runs in the background (pid {}). In:  sudo vpclab shell --name {name} <instance>\n\
         Run:  sudo vpclab exec --name {name} <instance> -- <command>   Stop:  sudo vpclab down --name {name}",
        child.id()
    );
    Ok(())
}

fn summary(lab: &crate::model::Lab, name: &str) -> String {
    let mut s = format!("lab {name} ({}):\n", lab.region);
    for i in &lab.instances {
        s.push_str(&format!(
            "  {:<24} {:<15} {:<15} {}\n",
            instance_name(i),
            i.private_ip,
            i.public_ip
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            i.hostname
        ));
    }
    s.push_str(&format!(
        "  {:<24} {:<15} {:<15} {}",
        runlab::INTERNET,
        crate::model::catalog::INTERNET_HOST,
        "-",
        "the emulated internet"
    ));
    let mut keys: Vec<&str> = lab
        .instances
        .iter()
        .filter_map(|i| i.key_name.as_deref())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        s.push_str(&format!(
            "\n  key pair {k}: {} (ssh -i it as root)",
            crate::host::keys::key_file(name, k).display()
        ));
    }
    s
}

/// `vpclab down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// The lab to remove.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// Every lab on this machine.
    #[arg(long)]
    pub all: bool,
}

/// Runs `down`: idempotent; works with or without a live daemon or a state file.
pub fn down(a: DownArgs) -> Result<(), Failure> {
    need_root("down")?;
    let labs = if a.all {
        cleanup::labs()
    } else {
        vec![a.name.clone()]
    };
    if labs.is_empty() {
        println!("no lab is up");
    }
    for lab in labs {
        host::names::check_lab(&lab).map_err(|e| Failure::Invalid(e.to_string()))?;
        let daemon_pid = LabState::load(&lab).ok().flatten().map(|s| s.record().pid);
        if let Ok(Response::Stopping) = client::request(&lab, &Request::Down) {
            // Until the daemon is gone, not only its state file: it removes the state file
            // before the run directory, and cleaning up beside it would race it.
            let start = Instant::now();
            while (LabState::load(&lab).ok().flatten().is_some()
                || daemon_pid.is_some_and(|p| p != std::process::id() && is_vpclab(p)))
                && start.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // A daemon that does not answer (killed, hung): stop it, then clean up by hand.
        if let Ok(Some(state)) = LabState::load(&lab) {
            let pid = state.record().pid;
            if pid != std::process::id() && is_vpclab(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        match cleanup::down(&lab) {
            Ok(report) if report.removed.is_empty() => println!("lab {lab}: down"),
            Ok(report) => print!("lab {lab}: down\n{report}"),
            Err(e) => return Err(Failure::Invalid(format!("lab {lab}: {e}"))),
        }
    }
    Ok(())
}

fn is_vpclab(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "vpclab")
}

/// `vpclab status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `status`.
pub fn status(a: StatusArgs) -> Result<(), Failure> {
    match client::request(&a.name, &Request::Status).map_err(Failure::Invalid)? {
        Response::Status(s) if a.json => {
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            Ok(())
        }
        Response::Status(s) => {
            println!(
                "lab {} ({}), router pid {} ({} worker{}), up {} s: {} forwarded, {} to services, {} answered, {} tracked flows",
                s.lab, s.region, s.pid, s.workers, if s.workers == 1 { "" } else { "s" }, s.uptime_secs,
                s.forwarded, s.delivered, s.answered, s.tracked_flows
            );
            if s.workers > 1 {
                let each: Vec<String> = s.worker_frames.iter().map(u64::to_string).collect();
                println!("  frames read by each worker: {}", each.join(" / "));
            }
            if s.captures > 0 {
                println!("  packet captures running: {}", s.captures);
            }
            for (reason, n) in &s.drops {
                println!("  dropped {n:>8}  {reason}");
            }
            for p in &s.ports {
                println!(
                    "  port {:<60} rx {:>8} tx {:>8} dropped {:>6} kernel dropped {:>6}",
                    p.name, p.rx_frames, p.tx_frames, p.dropped, p.kernel_dropped
                );
            }
            for line in &s.services {
                println!("  {line}");
            }
            for (i, log) in &s.user_data_failures {
                println!("  user data of {i} failed: {log}");
            }
            Ok(())
        }
        other => Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    }
}

/// `vpclab flow-logs`.
#[derive(Debug, Args)]
pub struct FlowLogsArgs {
    /// The running lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The router's recent rejected packets instead, one line each, with why.
    #[arg(long, conflicts_with_all = ["follow", "format", "interval"])]
    pub rejected: bool,
    /// Only this interface's records.
    #[arg(long, value_name = "ENI_ID", conflicts_with_all = ["subnet", "vpc"])]
    pub eni: Option<String>,
    /// Only the records of this subnet's interfaces.
    #[arg(long, value_name = "SUBNET_ID", conflicts_with = "vpc")]
    pub subnet: Option<String>,
    /// Only the records of this VPC's interfaces.
    #[arg(long, value_name = "VPC_ID")]
    pub vpc: Option<String>,
    /// Print new records as their capture windows close, until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// The capture window, in seconds (AWS: 60 or 600).
    #[arg(long, value_name = "S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub interval: u64,
    /// `default`, or `${field}`s separated by spaces (`${version} ${srcaddr} …`).
    #[arg(long, value_name = "FORMAT", default_value = "default")]
    pub format: String,
    /// Write the records to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Say after each REJECT why it was rejected (`# …`; no AWS log has it).
    #[arg(long)]
    pub why: bool,
}

/// Runs `flow-logs`: the lab's flow-log records, as VPC Flow Logs write them (or, with
/// `--rejected`, the router's recent rejected packets, one line each).
pub fn flow_logs(a: FlowLogsArgs) -> Result<(), Failure> {
    if a.rejected {
        return rejected_packets(&a.name);
    }
    let format = flowlogs::Format::parse(&a.format).map_err(|e| Failure::Invalid(e.to_string()))?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| Failure::Invalid(format!("cannot write {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let io = |e: std::io::Error| Failure::Invalid(format!("cannot write the records: {e}"));
    writeln!(out, "{}", format.header()).map_err(io)?;
    // With --follow, the windows printed so far end before this (unix seconds).
    let mut printed_to = 0u64;
    loop {
        let req = Request::FlowSamples { why: a.why };
        let (samples, now) = match client::request(&a.name, &req).map_err(Failure::Invalid)? {
            Response::FlowSamples { samples, now, .. } => (samples, now),
            Response::Error { message } => return Err(Failure::Invalid(message)),
            other => return Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
        };
        let kept: Vec<flowlogs::FlowSample> = samples
            .into_iter()
            .filter(|s| {
                a.eni.as_ref().is_none_or(|e| *e == s.interface_id)
                    && a.subnet.as_ref().is_none_or(|x| *x == s.subnet_id)
                    && a.vpc.as_ref().is_none_or(|x| *x == s.vpc_id)
            })
            .collect();
        for r in flowlogs::aggregate(&kept, a.interval) {
            let window = flowlogs::window_of(&r, a.interval);
            if a.follow && (window < printed_to || window + a.interval > now) {
                continue;
            }
            let why = match (&r.why, r.accept) {
                (Some(w), false) => format!(" # {w}"),
                _ => String::new(),
            };
            writeln!(out, "{}{why}", format.render(&r)).map_err(io)?;
        }
        out.flush().map_err(io)?;
        if !a.follow {
            return Ok(());
        }
        printed_to = now - now % a.interval;
        std::thread::sleep(Duration::from_secs(1));
        // Wait for the next window to close.
        while unix_now() < printed_to + a.interval + 1 {
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `flow-logs --rejected`: the router's recent rejected packets, one line each in the
/// default format, with why.
fn rejected_packets(name: &str) -> Result<(), Failure> {
    let req = Request::FlowLogs { rejected: true };
    match client::request(name, &req).map_err(Failure::Invalid)? {
        Response::Lines { lines } => {
            println!(
                "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
                 bytes start end action log-status"
            );
            for l in lines {
                println!("{l}");
            }
            Ok(())
        }
        Response::Error { message } => Err(Failure::Invalid(message)),
        other => Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    }
}

/// `vpclab describe-target-health`.
#[derive(Debug, Args)]
pub struct TargetHealthArgs {
    /// The running lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The target group: ARN, name, logical id or Name tag (all groups when omitted).
    #[arg(long, value_name = "ARN")]
    pub target_group_arn: Option<String>,
}

/// Runs `describe-target-health`: the health checks' view of each target.
pub fn target_health(a: TargetHealthArgs) -> Result<(), Failure> {
    let req = Request::TargetHealth {
        target_group: a.target_group_arn,
    };
    match client::request(&a.name, &req).map_err(Failure::Invalid)? {
        Response::Json { value } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            Ok(())
        }
        Response::Error { message } => Err(Failure::Invalid(message)),
        other => Err(Failure::Invalid(format!("unexpected answer: {other:?}"))),
    }
}

/// `vpclab exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The instance: logical id, Name tag, i-… id, or `internet`.
    pub instance: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Finds the instance a user named (logical id, Name tag, or i- id).
fn open_instance(lab: &str, query: &str) -> Result<Instance, Failure> {
    if let Ok(i) = Instance::open(lab, query) {
        return Ok(i);
    }
    let described = client::request(
        lab,
        &Request::Describe {
            what: What::Instances,
            filter: vec![],
        },
    )
    .map_err(Failure::Invalid)?;
    let Response::Json { value } = described else {
        return Err(Failure::Invalid(format!(
            "lab {lab}: no instance '{query}'"
        )));
    };
    let mut found = None;
    for r in value["Reservations"].as_array().into_iter().flatten() {
        for i in r["Instances"].as_array().into_iter().flatten() {
            let tags = i["Tags"].as_array().cloned().unwrap_or_default();
            let tag = |k: &str| {
                tags.iter()
                    .find(|t| t["Key"] == k)
                    .and_then(|t| t["Value"].as_str())
                    .map(str::to_string)
            };
            if i["InstanceId"] == query || tag("Name").as_deref() == Some(query) {
                found = tag("aws:cloudformation:logical-id")
                    .or_else(|| i["InstanceId"].as_str().map(str::to_string));
            }
        }
    }
    let name = found.ok_or_else(|| {
        Failure::Invalid(format!(
            "lab {lab} has no instance '{query}' (name one by logical id, Name tag or i- id; `vpclab describe instances --name {lab}`)"
        ))
    })?;
    Instance::open(lab, &name).map_err(|e| Failure::Invalid(e.to_string()))
}

/// Runs `exec`; returns the command's exit code.
pub fn exec(a: ExecArgs) -> Result<u8, Failure> {
    need_root("exec")?;
    let inst = open_instance(&a.name, &a.instance)?;
    let (prog, args) = a
        .command
        .split_first()
        .ok_or_else(|| Failure::Invalid("no command given after --".into()))?;
    let mut cmd = inst
        .command(prog)
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    let status = cmd
        .args(args)
        .status()
        .map_err(|e| Failure::Invalid(format!("{prog}: {e}")))?;
    Ok(status.code().map_or(1, |c| c as u8))
}

/// `vpclab shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// The instance: logical id, Name tag, i-… id, or `internet`.
    pub instance: String,
}

/// Runs `shell`: an interactive bash with the AWS-like prompt.
pub fn shell(a: ShellArgs) -> Result<u8, Failure> {
    need_root("shell")?;
    let inst = open_instance(&a.name, &a.instance)?;
    let mut cmd = inst
        .command("bash")
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    let status = cmd
        .args(["--norc", "-i"])
        .env("PS1", "[\\u@\\h \\W]\\$ ")
        .env(
            "TERM",
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
        )
        .status()
        .map_err(|e| Failure::Invalid(format!("bash: {e}")))?;
    Ok(status.code().map_or(1, |c| c as u8))
}
