//! A lab checker's expectations (`vpclab verify EXPECT.yaml`): what an instructor writes, read
//! and resolved against a lab, and the JUnit XML a grading pipeline reads.
//!
//! Contract:
//! - [`parse`] reads EXPECT.yaml: a YAML list of mappings, one expectation each, and returns
//!   every problem at once (each with its line and a fix), never the first only:
//!   - `{from: A, to: B, tool: ping|curl|nc, expect: reachable|unreachable}` (`nc` and
//!     `curl` take `port: N`; `curl` without a port asks `http://B/`);
//!   - `{from: A, dig: NAME, expect: [IP, …]}`: the A records `dig` answers inside `A`, in
//!     any order;
//!   - `{from: A, curl: URL, expect-body-contains: TEXT}`.
//! - [`resolve`] names sources and targets as `explain` will take them: an instance's logical
//!   id, id (`i-…`) or private IP, or `internet` (the emulated internet); targets also an IPv4
//!   address, a DNS name (resolved inside the source by the tool itself), `s3` and
//!   `dynamodb` (the lab region's endpoint names). From the internet an instance is reached at
//!   its public IP (none: a problem that says so).
//!   - `{from: A, to: B, explain: true, protocol: tcp|udp|icmp, port: N, expect: reachable|
//!     unreachable|CODE}` (or `explain: B` in place of `to: B`): what `vpclab explain` answers
//!     (`control::explain`), the path or AWS's explanation code (`SUBNET_ACL_RESTRICTION`, …);
//!     no tool runs, the model is asked.
//! - Nothing here runs a tool or touches the host: the CLI (`cli::verify`) runs each [`Probe`]
//!   inside its instance and reports with [`junit`].

use std::net::Ipv4Addr;

use thiserror::Error;

use crate::model::{catalog, Lab};
use crate::template::yaml::{self, Node, V};

/// The largest EXPECT file read.
pub const MAX_FILE: usize = 1 << 20;

/// A reachability tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `ping -c 2 -W 2`.
    Ping,
    /// `curl`: any HTTP answer is reachable.
    Curl,
    /// `nc -z`: a TCP connection.
    Nc,
}

impl Tool {
    /// Its name in EXPECT files.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ping => "ping",
            Tool::Curl => "curl",
            Tool::Nc => "nc",
        }
    }
}

/// What one expectation checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `tool` from the source reaches `to` (or does not).
    Reach {
        /// The tool.
        tool: Tool,
        /// The target as written.
        to: String,
        /// The TCP port (`nc`, `curl`).
        port: Option<u16>,
        /// `expect: reachable`.
        reachable: bool,
    },
    /// `dig NAME` answers exactly these addresses.
    Dig {
        /// The name.
        name: String,
        /// The addresses.
        expect: Vec<Ipv4Addr>,
    },
    /// `vpclab explain` from the source to `to` answers `expect`: `reachable`,
    /// `unreachable`, or an explanation code.
    Explain {
        /// The destination as written.
        to: String,
        /// `tcp`, `udp` or `icmp`.
        protocol: crate::control::explain::Protocol,
        /// The port (TCP, UDP).
        port: Option<u16>,
        /// What is expected.
        expect: String,
    },
    /// `curl URL` answers a body that contains `contains`.
    Body {
        /// The URL.
        url: String,
        /// The text.
        contains: String,
    },
}

/// One expectation of an EXPECT file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// Its line in the file.
    pub line: usize,
    /// The source, as written.
    pub from: String,
    /// What it checks.
    pub check: Check,
}

impl Expectation {
    /// One line saying what is checked, for tables and JUnit.
    pub fn describe(&self) -> String {
        match &self.check {
            Check::Reach { tool, to, port, .. } => match port {
                Some(p) => format!("{} {} → {to}:{p}", self.from, tool.name()),
                None => format!("{} {} → {to}", self.from, tool.name()),
            },
            Check::Dig { name, .. } => format!("{} dig {name}", self.from),
            Check::Body { url, .. } => format!("{} curl {url}", self.from),
            Check::Explain {
                to, protocol, port, ..
            } => match (protocol, port) {
                (crate::control::explain::Protocol::Icmp, _) | (_, None) => {
                    format!("{} explain {} → {to}", self.from, protocol.name())
                }
                (_, Some(p)) => format!("{} explain {} → {to}:{p}", self.from, protocol.name()),
            },
        }
    }

    /// What is expected, in a few words.
    pub fn expected(&self) -> String {
        match &self.check {
            Check::Reach { reachable, .. } => if *reachable {
                "reachable"
            } else {
                "unreachable"
            }
            .to_string(),
            Check::Dig { expect, .. } => {
                let v: Vec<String> = expect.iter().map(Ipv4Addr::to_string).collect();
                v.join(", ")
            }
            Check::Body { contains, .. } => format!("body contains {contains:?}"),
            Check::Explain { expect, .. } => expect.clone(),
        }
    }
}

/// A problem with an EXPECT file or with what it names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message} (fix: {fix})")]
pub struct ExpectError {
    /// Where (1-based; 0 for the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

fn problem(line: usize, message: impl Into<String>, fix: impl Into<String>) -> ExpectError {
    ExpectError {
        line,
        message: message.into(),
        fix: fix.into(),
    }
}

const KEYS: &[&str] = &[
    "from",
    "to",
    "tool",
    "port",
    "expect",
    "dig",
    "curl",
    "expect-body-contains",
    "explain",
    "protocol",
    "name",
];

/// Reads an EXPECT file; every problem, or the expectations in file order.
pub fn parse(text: &str) -> Result<Vec<Expectation>, Vec<ExpectError>> {
    if text.len() > MAX_FILE {
        return Err(vec![problem(
            0,
            format!(
                "the file is {} bytes; at most {MAX_FILE} are read",
                text.len()
            ),
            "split it into several files",
        )]);
    }
    let root = yaml::parse(text).map_err(|p| {
        p.0.iter()
            .map(|p| problem(p.origin.line.unwrap_or(0), &p.message, &p.fix))
            .collect::<Vec<_>>()
    })?;
    let V::Seq(items) = &root.v else {
        return Err(vec![problem(
            root.line,
            format!("the file is {}, not a list of expectations", root.kind()),
            "write one `- from: …` mapping per expectation",
        )]);
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for item in items {
        match one(item) {
            Ok(e) => out.push(e),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn text<'a>(n: &'a Node, key: &str, problems: &mut Vec<ExpectError>) -> Option<&'a str> {
    let v = n.get(key)?;
    match v.as_str() {
        Some(s) if !s.trim().is_empty() => Some(s.trim()),
        _ => {
            problems.push(problem(
                v.line,
                format!("`{key}` is {}, not a word", v.kind()),
                format!("write `{key}: <value>`"),
            ));
            None
        }
    }
}

fn one(n: &Node) -> Result<Expectation, Vec<ExpectError>> {
    let line = n.line;
    let mut p = Vec::new();
    if !matches!(n.v, V::Map(_)) {
        return Err(vec![problem(
            line,
            format!("an expectation is {}, not a mapping", n.kind()),
            "write `- from: A` then `to:`/`dig:`/`curl:` and `expect:` under it",
        )]);
    }
    for (k, kline, _) in n.entries() {
        if !KEYS.contains(&k.as_str()) {
            p.push(problem(
                *kline,
                format!("unknown key `{k}`"),
                format!("use one of: {}", KEYS.join(", ")),
            ));
        }
    }
    let from = text(n, "from", &mut p).map(str::to_string);
    if from.is_none() && n.get("from").is_none() {
        p.push(problem(
            line,
            "no `from`",
            "name the instance the check runs in (`from: <instance>` or `from: internet`)",
        ));
    }
    let port = match n.get("port") {
        None => None,
        Some(v) => match v.as_str().and_then(|s| s.parse::<u16>().ok()) {
            Some(port) if port > 0 => Some(port),
            _ => {
                p.push(problem(
                    v.line,
                    "`port` is not a TCP port",
                    "write 1 to 65535",
                ));
                None
            }
        },
    };
    let check = if n.get("explain").is_some() {
        explain_check(n, port, &mut p)
    } else if let Some(name) = text(n, "dig", &mut p) {
        let expect = match n.get("expect") {
            Some(Node {
                v: V::Seq(items), ..
            }) => {
                let mut ips = Vec::new();
                for i in items {
                    match i.as_str().and_then(|s| s.trim().parse::<Ipv4Addr>().ok()) {
                        Some(ip) => ips.push(ip),
                        None => p.push(problem(
                            i.line,
                            "a `dig` expectation lists IPv4 addresses only",
                            "write `expect: [10.0.1.5, 10.0.2.5]`",
                        )),
                    }
                }
                ips
            }
            other => {
                p.push(problem(
                    other.map_or(line, |o| o.line),
                    "`dig` needs `expect:` as a list of the addresses it must answer",
                    "write `expect: [10.0.1.5, 10.0.2.5]`",
                ));
                Vec::new()
            }
        };
        Some(Check::Dig {
            name: name.to_string(),
            expect,
        })
    } else if let (Some(url), Some(contains)) = (
        n.get("curl").and_then(|_| text(n, "curl", &mut p)),
        n.get("expect-body-contains")
            .and_then(|_| text(n, "expect-body-contains", &mut p)),
    ) {
        Some(Check::Body {
            url: url.to_string(),
            contains: contains.to_string(),
        })
    } else if n.get("curl").is_some() {
        p.push(problem(
            line,
            "`curl: URL` needs `expect-body-contains: TEXT`",
            "or write `to: B`, `tool: curl`, `expect: reachable`",
        ));
        None
    } else {
        let to = text(n, "to", &mut p);
        let tool = match text(n, "tool", &mut p) {
            Some("ping") => Some(Tool::Ping),
            Some("curl") => Some(Tool::Curl),
            Some("nc") => Some(Tool::Nc),
            Some(other) => {
                p.push(problem(
                    n.get("tool").map_or(line, |t| t.line),
                    format!("unknown tool `{other}`"),
                    "use ping, curl or nc",
                ));
                None
            }
            None => {
                if n.get("tool").is_none() {
                    p.push(problem(line, "no `tool`", "add `tool: ping` (or curl, nc)"));
                }
                None
            }
        };
        if to.is_none() && n.get("to").is_none() {
            p.push(problem(
                line,
                "no `to`, `dig` or `curl`",
                "say what to check: `to: B` with `tool:`, `dig: NAME` or `curl: URL`",
            ));
        }
        let reachable = match text(n, "expect", &mut p) {
            Some("reachable") => Some(true),
            Some("unreachable") => Some(false),
            Some(other) => {
                p.push(problem(
                    n.get("expect").map_or(line, |e| e.line),
                    format!("`expect: {other}` is not a reachability"),
                    "write `expect: reachable` or `expect: unreachable`",
                ));
                None
            }
            None => {
                if n.get("expect").is_none() {
                    p.push(problem(
                        line,
                        "no `expect`",
                        "add `expect: reachable` or `expect: unreachable`",
                    ));
                }
                None
            }
        };
        if tool == Some(Tool::Nc) && port.is_none() {
            p.push(problem(line, "`tool: nc` needs a `port`", "add `port: 22`"));
        }
        match (to, tool, reachable) {
            (Some(to), Some(tool), Some(reachable)) => Some(Check::Reach {
                tool,
                to: to.to_string(),
                port,
                reachable,
            }),
            _ => None,
        }
    };
    match (from, check) {
        (Some(from), Some(check)) if p.is_empty() => Ok(Expectation { line, from, check }),
        _ => Err(p),
    }
}

/// An `explain:` expectation: `explain: true` with `to: B`, or `explain: B`.
fn explain_check(n: &Node, port: Option<u16>, p: &mut Vec<ExpectError>) -> Option<Check> {
    let line = n.line;
    let named = text(n, "explain", p)?;
    let to = match named {
        "true" | "yes" => {
            let to = text(n, "to", p);
            if to.is_none() && n.get("to").is_none() {
                p.push(problem(
                    line,
                    "`explain: true` needs `to: B`",
                    "write `to: B` (or `explain: B`)",
                ));
            }
            to?
        }
        other => other,
    };
    let protocol = match n.get("protocol") {
        None => crate::control::explain::Protocol::Tcp,
        Some(v) => match v
            .as_str()
            .and_then(crate::control::explain::Protocol::parse)
        {
            Some(pr) => pr,
            None => {
                p.push(problem(
                    v.line,
                    "`protocol` is not tcp, udp or icmp",
                    "write `protocol: tcp` (or udp, icmp)",
                ));
                return None;
            }
        },
    };
    let expect = text(n, "expect", p);
    let Some(expect) = expect else {
        if n.get("expect").is_none() {
            p.push(problem(
                line,
                "no `expect`",
                "add `expect: reachable`, `unreachable` or an explanation code",
            ));
        }
        return None;
    };
    let code_like = !expect.is_empty()
        && expect
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !(expect == "reachable" || expect == "unreachable" || code_like) {
        p.push(problem(
            n.get("expect").map_or(line, |e| e.line),
            format!("`expect: {expect}` is not an outcome of vpclab explain"),
            "write `expect: reachable`, `unreachable` or a code such as SUBNET_ACL_RESTRICTION",
        ));
        return None;
    }
    Some(Check::Explain {
        to: to.to_string(),
        protocol,
        port,
        expect: expect.to_string(),
    })
}

/// Where a check runs and what it aims at, in the lab's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The instance to run in: its name as `exec` takes it (`internet` for the internet).
    pub instance: String,
    /// The target for the tool (an address or a DNS name; `None` for `curl: URL` checks).
    pub target: Option<String>,
}

/// Resolves an expectation's source and target against `lab`.
pub fn resolve(lab: &Lab, e: &Expectation) -> Result<Probe, ExpectError> {
    let from_internet = e.from == "internet";
    let instance = if from_internet {
        "internet".to_string()
    } else {
        let i = find_instance(lab, &e.from).ok_or_else(|| {
            problem(
                e.line,
                format!("`from: {}` names no instance of the lab", e.from),
                format!(
                    "use an instance's name, id or private IP, or `internet`: {}",
                    names(lab)
                ),
            )
        })?;
        i.name()
    };
    let target = match &e.check {
        Check::Reach { to, .. } => Some(target(lab, e, to, from_internet)?),
        Check::Dig { name, .. } => Some(name.clone()),
        Check::Body { .. } => None,
        Check::Explain { to, .. } => Some(to.clone()),
    };
    Ok(Probe { instance, target })
}

fn names(lab: &Lab) -> String {
    let v: Vec<String> = lab
        .instances
        .iter()
        .map(crate::model::Instance::name)
        .collect();
    v.join(", ")
}

fn find_instance<'a>(lab: &'a Lab, q: &str) -> Option<&'a crate::model::Instance> {
    lab.instances.iter().find(|i| {
        i.origin.logical_id.as_deref() == Some(q)
            || i.id.as_str() == q
            || i.private_ip.to_string() == q
    })
}

fn target(
    lab: &Lab,
    e: &Expectation,
    to: &str,
    from_internet: bool,
) -> Result<String, ExpectError> {
    let region = &lab.region;
    Ok(match to {
        "internet" => catalog::INTERNET_HOST.to_string(),
        "s3" => format!("s3.{region}.amazonaws.com"),
        "dynamodb" => format!("dynamodb.{region}.amazonaws.com"),
        _ => {
            if let Ok(ip) = to.parse::<Ipv4Addr>() {
                return Ok(ip.to_string());
            }
            if let Some(i) = find_instance(lab, to) {
                if !from_internet {
                    return Ok(i.private_ip.to_string());
                }
                return i.public_ip.map(|ip| ip.to_string()).ok_or_else(|| {
                    problem(
                        e.line,
                        format!("`to: {to}` has no public IP, so the internet cannot name it"),
                        "aim at an instance with a public IP (or an Elastic IP), or check from inside the VPC",
                    )
                });
            }
            let dns_like = to.contains('.')
                && to
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !dns_like {
                return Err(problem(
                    e.line,
                    format!("`to: {to}` is no instance, address or DNS name"),
                    format!(
                        "use an instance ({}), an IPv4 address, a DNS name, s3, dynamodb or internet",
                        names(lab)
                    ),
                ));
            }
            to.to_string()
        }
    })
}

/// One expectation's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The expectation.
    pub expectation: Expectation,
    /// What was seen, in a few words.
    pub got: String,
    /// Whether it is what was expected.
    pub pass: bool,
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The outcomes as JUnit XML: one `testsuite` named after the file, a `testcase` per
/// expectation, a `failure` for each that did not pass.
pub fn junit(suite: &str, outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| !o.pass).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
        xml_escape(suite),
        outcomes.len()
    ));
    for o in outcomes {
        let e = &o.expectation;
        x.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"line {}: {}\"",
            xml_escape(suite),
            e.line,
            xml_escape(&e.describe())
        ));
        if o.pass {
            x.push_str("/>\n");
        } else {
            x.push_str(&format!(
                ">\n    <failure message=\"expected {}, got {}\"/>\n  </testcase>\n",
                xml_escape(&e.expected()),
                xml_escape(&o.got)
            ));
        }
    }
    x.push_str("</testsuite>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed2() -> Lab {
        crate::template::load(
            include_str!("../../templates/seed2-gateway-endpoint.yaml"),
            &crate::template::Options::default(),
        )
        .expect("seed-2 loads")
    }

    #[test]
    fn every_kind_of_expectation_reads() {
        let e = parse(
            "- from: CloudNetaPublicEC2\n  to: internet\n  tool: ping\n  expect: reachable\n\
             - from: CloudNetaPrivateEC2\n  to: CloudNetaPublicEC2\n  tool: nc\n  port: 22\n  expect: unreachable\n\
             - from: CloudNetaPublicEC2\n  dig: s3.ap-northeast-2.amazonaws.com\n  expect: [52.219.56.1]\n\
             - from: internet\n  curl: http://15.164.56.94/\n  expect-body-contains: WEB\n",
        )
        .unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].line, 1);
        assert_eq!(
            e[1].check,
            Check::Reach {
                tool: Tool::Nc,
                to: "CloudNetaPublicEC2".into(),
                port: Some(22),
                reachable: false
            }
        );
        assert_eq!(
            e[2].check,
            Check::Dig {
                name: "s3.ap-northeast-2.amazonaws.com".into(),
                expect: vec![Ipv4Addr::new(52, 219, 56, 1)]
            }
        );
        assert!(matches!(&e[3].check, Check::Body { contains, .. } if contains == "WEB"));
    }

    #[test]
    fn explain_expectations_read_in_both_shapes() {
        let e = parse(
            "- from: A\n  to: B\n  explain: true\n  protocol: icmp\n  expect: reachable\n\
             - from: A\n  explain: s3\n  port: 443\n  expect: NO_ROUTE_TO_DESTINATION\n",
        )
        .unwrap();
        assert_eq!(
            e[0].check,
            Check::Explain {
                to: "B".into(),
                protocol: crate::control::explain::Protocol::Icmp,
                port: None,
                expect: "reachable".into()
            }
        );
        assert!(
            matches!(&e[1].check, Check::Explain { to, port: Some(443), expect, .. }
            if to == "s3" && expect == "NO_ROUTE_TO_DESTINATION")
        );
        let errs =
            parse("- from: A\n  to: B\n  explain: true\n  protocol: gre\n  expect: reachable\n")
                .unwrap_err();
        assert!(
            errs.iter().any(|e| e.message.contains("protocol")),
            "{errs:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let errs = parse(
            "- from: A\n  to: B\n  tool: telnet\n  expect: reachable\n\
             - from: A\n  to: B\n  tool: ping\n  expect: maybe\n\
             - to: B\n  tool: nc\n  expect: reachable\n\
             - from: A\n  explain: B\n  expect: subnet acl\n",
        )
        .unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert!(lines.contains(&3), "{errs:?}");
        assert!(lines.contains(&8), "{errs:?}");
        assert!(errs.iter().any(|e| e.message == "no `from`"), "{errs:?}");
        assert!(
            errs.iter().any(|e| e.message.contains("needs a `port`")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.message.contains("vpclab explain")),
            "{errs:?}"
        );
        assert!(errs.iter().all(|e| !e.fix.is_empty()));
        assert!(parse("from: A").unwrap_err()[0]
            .message
            .contains("not a list"));
    }

    #[test]
    fn sources_and_targets_resolve_as_explain_names_them() {
        let lab = seed2();
        let private = lab.instances[1].private_ip.to_string();
        let public = lab.instances[0].public_ip.unwrap().to_string();
        let reach = |from: &str, to: &str| Expectation {
            line: 1,
            from: from.into(),
            check: Check::Reach {
                tool: Tool::Ping,
                to: to.into(),
                port: None,
                reachable: true,
            },
        };
        let p = resolve(&lab, &reach("CloudNetaPublicEC2", "CloudNetaPrivateEC2")).unwrap();
        assert_eq!(p.instance, "CloudNetaPublicEC2");
        assert_eq!(p.target.as_deref(), Some(private.as_str()));
        let p = resolve(&lab, &reach(&private, "s3")).unwrap();
        assert_eq!(p.instance, "CloudNetaPrivateEC2");
        assert_eq!(p.target.as_deref(), Some("s3.ap-northeast-2.amazonaws.com"));
        let p = resolve(&lab, &reach("internet", "CloudNetaPublicEC2")).unwrap();
        assert_eq!(p.target.as_deref(), Some(public.as_str()));
        let e = resolve(&lab, &reach("internet", "CloudNetaPrivateEC2")).unwrap_err();
        assert!(e.message.contains("no public IP"), "{e}");
        let e = resolve(&lab, &reach("Nobody", "internet")).unwrap_err();
        assert!(e.fix.contains("CloudNetaPublicEC2"), "{e}");
    }

    #[test]
    fn junit_names_each_case_and_escapes_text() {
        let e =
            parse("- from: A\n  curl: http://x/?a=1&b=2\n  expect-body-contains: <b>\n").unwrap();
        let xml = junit(
            "seed<2>",
            &[Outcome {
                expectation: e[0].clone(),
                got: "body \"nothing\"".into(),
                pass: false,
            }],
        );
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        assert!(xml.contains("seed&lt;2&gt;"), "{xml}");
        assert!(xml.contains("a=1&amp;b=2"), "{xml}");
        assert!(xml.contains("<failure message=\"expected body contains &quot;&lt;b&gt;&quot;, got body &quot;nothing&quot;\"/>"), "{xml}");
    }
}
