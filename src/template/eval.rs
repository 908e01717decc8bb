//! Intrinsic functions and pseudo parameters, evaluated against a partly built lab.
//!
//! Contract: [`Ctx::eval`] turns a property tree into one with no intrinsic function left:
//! `Ref`, `Fn::Sub` (both forms, `${!Literal}` escapes), `Fn::GetAtt`, `Fn::Select`,
//! `Fn::GetAZs`, `Fn::Join`, `Fn::Split`, `Fn::Base64`, `Fn::If`, `Fn::Equals`/`Not`/`And`/
//! `Or`, `Fn::Cidr`, `Fn::FindInMap`, and the pseudo parameters `AWS::Region`,
//! `AWS::AccountId`, `AWS::StackName`, `AWS::StackId`, `AWS::Partition`, `AWS::URLSuffix`,
//! `AWS::NoValue` (which removes the property or list item it stands for). References to
//! resources read what the builder has already built (resources are built in dependency
//! order); a reference to a resource that failed to build is [`EvalError::Poisoned`], so one
//! broken resource is reported once, not again by everything that refers to it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use base64::Engine;
use ipnet::Ipv4Net;

use super::yaml::{Node, V};
use crate::model::{Origin, Problem, Region};

/// Why a value could not be evaluated.
#[derive(Debug)]
pub enum EvalError {
    /// A located problem to report.
    Problem(Box<Problem>),
    /// Depends on a resource that could not be built (already reported).
    Poisoned,
}

/// What a built resource offers to `Ref` and `Fn::GetAtt`.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The value of `Ref`.
    pub ref_value: String,
    /// `Fn::GetAtt` attributes by name.
    pub atts: BTreeMap<String, Node>,
}

impl Built {
    /// A resource whose `Ref` is `ref_value`, with no attributes yet.
    pub fn new(ref_value: impl Into<String>) -> Self {
        Built {
            ref_value: ref_value.into(),
            atts: BTreeMap::new(),
        }
    }

    /// Adds the string attribute `name` (defined at `line`).
    pub fn att(mut self, name: &str, value: impl Into<String>, line: Option<usize>) -> Self {
        self.atts
            .insert(name.to_string(), Node::scalar(value, line.unwrap_or(0)));
        self
    }
}

/// The state of one resource during the build.
#[derive(Debug, Clone)]
pub enum Slot {
    /// Not built yet (or skipped for a false `Condition`).
    Pending,
    /// Its `Condition` is false: it does not exist.
    Skipped,
    /// Built.
    Built(Built),
    /// Could not be built (its problems are reported).
    Failed,
}

/// A parameter's value.
#[derive(Debug, Clone)]
pub enum Param {
    /// A `String` or `Number` parameter's value.
    One(String),
    /// A `CommaDelimitedList` or `List<…>` parameter's items (empty for an empty value).
    List(Vec<String>),
}

/// Everything intrinsic functions can read.
pub struct Ctx<'a> {
    /// The region's catalog entry (`AWS::Region`, `Fn::GetAZs`).
    pub region: &'static Region,
    /// `AWS::StackName`.
    pub stack_name: &'a str,
    /// `AWS::AccountId`.
    pub account_id: &'a str,
    /// The parameters' values by name (`Ref`), defaults and `--parameter`s applied.
    pub params: HashMap<String, Param>,
    /// The `Mappings` section (`Fn::FindInMap`), if the template has one.
    pub mappings: Option<&'a Node>,
    /// Condition definitions by name (evaluated lazily, memoised).
    pub conditions: HashMap<String, &'a Node>,
    /// Conditions evaluated so far: `Some(value)`, or `None` while one is being evaluated (a
    /// condition met again then is a cycle).
    pub condition_values: RefCell<HashMap<String, Option<bool>>>,
    /// Resources by logical id: type and build state.
    pub resources: HashMap<String, (String, Slot)>,
    /// The logical id being built, for locating problems.
    pub current: Origin,
}

fn problem(
    o: &Origin,
    line: usize,
    code: &'static str,
    msg: String,
    rule: &str,
    fix: &str,
) -> EvalError {
    EvalError::Problem(Box::new(Problem::new(code, o.at(line), msg, rule, fix)))
}

/// The pseudo parameters that exist.
pub const PSEUDO: &[&str] = &[
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
];

impl<'a> Ctx<'a> {
    fn bad(&self, line: usize, func: &str, msg: String, usage: &str) -> EvalError {
        problem(
            &self.current,
            line,
            "BadIntrinsic",
            format!("{func}: {msg}"),
            &format!("{func} takes {usage}"),
            "correct the function's arguments",
        )
    }

    /// The stack id ARN.
    pub fn stack_id(&self) -> String {
        format!(
            "arn:aws:cloudformation:{}:{}:stack/{}/{}",
            self.region.name,
            self.account_id,
            self.stack_name,
            crate::model::ids::hex_digits(self.stack_name, 8)
        )
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Region" => self.region.name.to_string(),
            "AWS::AccountId" => self.account_id.to_string(),
            "AWS::StackName" => self.stack_name.to_string(),
            "AWS::StackId" => self.stack_id(),
            "AWS::Partition" => "aws".to_string(),
            "AWS::URLSuffix" => "amazonaws.com".to_string(),
            _ => return None,
        })
    }

    /// Evaluates a property tree. `Ok(None)` means `AWS::NoValue`.
    pub fn eval(&self, n: &Node) -> Result<Option<Node>, EvalError> {
        if let Some((f, arg)) = n.intrinsic() {
            return self.call(f, arg, n.line);
        }
        Ok(Some(match &n.v {
            V::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    if let Some(v) = self.eval(i)? {
                        out.push(v);
                    }
                }
                Node {
                    v: V::Seq(out),
                    line: n.line,
                }
            }
            V::Map(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, kl, v) in m {
                    if let Some(v) = self.eval(v)? {
                        out.push((k.clone(), *kl, v));
                    }
                }
                Node {
                    v: V::Map(out),
                    line: n.line,
                }
            }
            _ => n.clone(),
        }))
    }

    /// Evaluates to a string (scalars only).
    pub fn eval_str(&self, n: &Node, func: &str) -> Result<String, EvalError> {
        match self.eval(n)? {
            Some(Node {
                v: V::Scalar { text, .. },
                ..
            }) => Ok(text),
            Some(other) => Err(self.bad(
                n.line,
                func,
                format!("expected a string, got {}", other.kind()),
                "a string here",
            )),
            None => Err(self.bad(
                n.line,
                func,
                "AWS::NoValue is not a string".into(),
                "a string here",
            )),
        }
    }

    fn eval_list(&self, n: &Node, func: &str) -> Result<Vec<Node>, EvalError> {
        match self.eval(n)? {
            Some(Node {
                v: V::Seq(items), ..
            }) => Ok(items),
            Some(other) => Err(self.bad(
                n.line,
                func,
                format!("expected a list, got {}", other.kind()),
                "a list here",
            )),
            None => Ok(vec![]),
        }
    }

    fn args<'n>(
        &self,
        arg: &'n Node,
        func: &str,
        count: usize,
        usage: &str,
    ) -> Result<&'n [Node], EvalError> {
        match &arg.v {
            V::Seq(items) if items.len() == count => Ok(items),
            _ => Err(self.bad(
                arg.line,
                func,
                format!("expected a list of {count} items, got {}", arg.kind()),
                usage,
            )),
        }
    }

    /// The value of `Ref name`.
    pub fn reference(&self, name: &str, line: usize) -> Result<Option<Node>, EvalError> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(v) = self.pseudo(name) {
            return Ok(Some(Node::scalar(v, line)));
        }
        if let Some(p) = self.params.get(name) {
            return Ok(Some(match p {
                Param::One(s) => Node::scalar(s.clone(), line),
                Param::List(l) => Node {
                    v: V::Seq(l.iter().map(|s| Node::scalar(s.clone(), line)).collect()),
                    line,
                },
            }));
        }
        match self.resources.get(name) {
            Some((_, Slot::Built(b))) => Ok(Some(Node::scalar(b.ref_value.clone(), line))),
            Some((_, Slot::Failed)) => Err(EvalError::Poisoned),
            Some((t, Slot::Skipped)) => Err(problem(
                &self.current,
                line,
                "RefToSkippedResource",
                format!("Ref {name}: {name} ({t}) is not created, because its Condition is false"),
                "a resource whose Condition is false does not exist and cannot be referenced",
                "guard the reference with the same condition (Fn::If), or remove the Condition",
            )),
            Some((_, Slot::Pending)) => Err(EvalError::Poisoned),
            None => Err(problem(
                &self.current,
                line,
                "UnknownRef",
                format!("Ref {name}: no parameter, pseudo parameter or resource is called {name}"),
                "Ref names a parameter, a pseudo parameter (AWS::Region…) or a resource's logical id",
                "check the spelling, or declare the parameter or resource",
            )),
        }
    }

    /// The value of `Fn::GetAtt [name, attr]`.
    pub fn get_att(&self, name: &str, attr: &str, line: usize) -> Result<Node, EvalError> {
        match self.resources.get(name) {
            Some((t, Slot::Built(b))) => match b.atts.get(attr) {
                Some(v) => {
                    let mut v = v.clone();
                    v.line = line;
                    Ok(v)
                }
                None => Err(problem(
                    &self.current,
                    line,
                    "UnknownAttribute",
                    format!("Fn::GetAtt {name}.{attr}: {t} has no attribute {attr}"),
                    &format!(
                        "{t} has the attributes {}",
                        b.atts.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    "use one of those attributes",
                )),
            },
            Some(_) => self.reference(name, line).map(|_| Node::scalar("", line)),
            None => Err(problem(
                &self.current,
                line,
                "UnknownRef",
                format!("Fn::GetAtt {name}.{attr}: no resource is called {name}"),
                "Fn::GetAtt names a resource's logical id and one of its attributes",
                "check the spelling, or declare the resource",
            )),
        }
    }

    /// The value of a named condition.
    pub fn condition(&self, name: &str, line: usize) -> Result<bool, EvalError> {
        if let Some(v) = self.condition_values.borrow().get(name) {
            return v.ok_or_else(|| {
                problem(
                    &self.current,
                    line,
                    "CircularCondition",
                    format!("condition {name} depends on itself"),
                    "conditions cannot refer to each other in a cycle",
                    "break the cycle",
                )
            });
        }
        let Some(def) = self.conditions.get(name) else {
            return Err(problem(
                &self.current,
                line,
                "UnknownCondition",
                format!("no condition is called {name}"),
                "Fn::If and Condition name conditions declared in the Conditions section",
                "declare the condition, or correct its name",
            ));
        };
        self.condition_values
            .borrow_mut()
            .insert(name.to_string(), None);
        let v = self.eval_bool(def, "Conditions");
        self.condition_values
            .borrow_mut()
            .insert(name.to_string(), v.as_ref().ok().copied());
        if v.is_err() {
            self.condition_values.borrow_mut().remove(name);
        }
        v
    }

    fn eval_bool(&self, n: &Node, func: &str) -> Result<bool, EvalError> {
        if let Some(("Condition", arg)) = n.intrinsic() {
            let name = arg.as_str().ok_or_else(|| {
                self.bad(
                    arg.line,
                    "Condition",
                    "expected a condition name".into(),
                    "a condition name",
                )
            })?;
            return self.condition(name, n.line);
        }
        match self.eval_str(n, func)?.as_str() {
            "true" | "True" => Ok(true),
            "false" | "False" => Ok(false),
            other => Err(self.bad(
                n.line,
                func,
                format!("'{other}' is not true or false"),
                "a condition (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)",
            )),
        }
    }

    fn call(&self, f: &str, arg: &Node, line: usize) -> Result<Option<Node>, EvalError> {
        let s = |v: String| Ok(Some(Node::scalar(v, line)));
        match f {
            "Ref" => {
                let name = arg.as_str().ok_or_else(|| self.bad(arg.line, "Ref", "expected a name".into(), "a logical id or parameter name"))?;
                self.reference(name, line)
            }
            "Condition" => {
                let name = arg.as_str().ok_or_else(|| self.bad(arg.line, "Condition", "expected a name".into(), "a condition name"))?;
                s(self.condition(name, line)?.to_string())
            }
            "Fn::GetAtt" => {
                let (name, attr) = match &arg.v {
                    V::Seq(items) if items.len() == 2 => {
                        let a = items[0].as_str().ok_or_else(|| self.bad(arg.line, f, "the resource must be a name".into(), "[LogicalId, Attribute]"))?;
                        (a.to_string(), self.eval_str(&items[1], f)?)
                    }
                    V::Scalar { text, .. } => match text.split_once('.') {
                        Some((a, b)) => (a.to_string(), b.to_string()),
                        None => return Err(self.bad(arg.line, f, format!("'{text}' has no attribute"), "LogicalId.Attribute")),
                    },
                    _ => return Err(self.bad(arg.line, f, "expected [LogicalId, Attribute]".into(), "[LogicalId, Attribute]")),
                };
                self.get_att(&name, &attr, line).map(Some)
            }
            "Fn::Sub" => {
                let (template, vars) = match &arg.v {
                    V::Seq(items) if items.len() == 2 => {
                        let mut vars = HashMap::new();
                        for (k, _, v) in items[1].entries() {
                            vars.insert(k.clone(), self.eval_str(v, f)?);
                        }
                        (self.eval_str(&items[0], f)?, vars)
                    }
                    V::Scalar { text, .. } => (text.clone(), HashMap::new()),
                    _ => return Err(self.bad(arg.line, f, "expected a string or [string, {vars}]".into(), "a string, or [string, {Var: value}]")),
                };
                s(self.substitute(&template, &vars, line)?)
            }
            "Fn::Join" => {
                let a = self.args(arg, f, 2, "[delimiter, [values…]]")?;
                let delim = self.eval_str(&a[0], f)?;
                let mut parts = vec![];
                for item in self.eval_list(&a[1], f)? {
                    match item.as_str() {
                        Some(t) => parts.push(t.to_string()),
                        None => return Err(self.bad(item.line, f, format!("cannot join {}", item.kind()), "[delimiter, [strings…]]")),
                    }
                }
                s(parts.join(&delim))
            }
            "Fn::Split" => {
                let a = self.args(arg, f, 2, "[delimiter, string]")?;
                let delim = self.eval_str(&a[0], f)?;
                let text = self.eval_str(&a[1], f)?;
                if delim.is_empty() {
                    return Err(self.bad(arg.line, f, "the delimiter is empty".into(), "[delimiter, string]"));
                }
                Ok(Some(Node { v: V::Seq(text.split(&delim).map(|p| Node::scalar(p, line)).collect()), line }))
            }
            "Fn::Select" => {
                let a = self.args(arg, f, 2, "[index, [values…]]")?;
                let idx_text = self.eval_str(&a[0], f)?;
                let idx: usize = idx_text.trim().parse().map_err(|_| self.bad(a[0].line, f, format!("index '{idx_text}' is not a whole number"), "[index, list]"))?;
                let list = self.eval_list(&a[1], f)?;
                let n = list.len();
                list.into_iter().nth(idx).map(Some).ok_or_else(|| {
                    self.bad(a[0].line, f, format!("index {idx} is out of range: the list has {n} item(s)"), "an index below the list's length")
                })
            }
            "Fn::GetAZs" => {
                let r = self.eval_str(arg, f)?;
                let region = if r.is_empty() {
                    self.region
                } else {
                    crate::model::catalog::region(&r).ok_or_else(|| {
                        self.bad(arg.line, f, format!("region '{r}' is not supported"), "'' (the lab's region) or a supported region")
                    })?
                };
                Ok(Some(Node { v: V::Seq(region.azs.iter().map(|a| Node::scalar(*a, line)).collect()), line }))
            }
            "Fn::Base64" => {
                let text = self.eval_str(arg, f)?;
                s(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
            }
            "Fn::If" => {
                let a = self.args(arg, f, 3, "[ConditionName, value if true, value if false]")?;
                let name = a[0].as_str().ok_or_else(|| self.bad(a[0].line, f, "the condition must be a name".into(), "[ConditionName, a, b]"))?;
                if self.condition(name, a[0].line)? { self.eval(&a[1]) } else { self.eval(&a[2]) }
            }
            "Fn::Equals" => {
                let a = self.args(arg, f, 2, "[value, value]")?;
                let x = self.eval(&a[0])?.map(|n| n.to_json());
                let y = self.eval(&a[1])?.map(|n| n.to_json());
                let norm = |v: Option<serde_json::Value>| v.map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                });
                s((norm(x) == norm(y)).to_string())
            }
            "Fn::Not" => {
                let a = self.args(arg, f, 1, "[condition]")?;
                s((!self.eval_bool(&a[0], f)?).to_string())
            }
            "Fn::And" | "Fn::Or" => {
                let V::Seq(items) = &arg.v else {
                    return Err(self.bad(arg.line, f, "expected a list of conditions".into(), "a list of 2 to 10 conditions"));
                };
                if !(2..=10).contains(&items.len()) {
                    return Err(self.bad(arg.line, f, format!("{} conditions given", items.len()), "a list of 2 to 10 conditions"));
                }
                let mut vals = vec![];
                for i in items {
                    vals.push(self.eval_bool(i, f)?);
                }
                let v = if f == "Fn::And" { vals.iter().all(|b| *b) } else { vals.iter().any(|b| *b) };
                s(v.to_string())
            }
            "Fn::Cidr" => {
                let a = self.args(arg, f, 3, "[ipBlock, count, cidrBits]")?;
                let block_text = self.eval_str(&a[0], f)?;
                let block: Ipv4Net = block_text.parse().map_err(|_| self.bad(a[0].line, f, format!("'{block_text}' is not an IPv4 CIDR"), "[ipBlock, count, cidrBits]"))?;
                let count: u32 = self.eval_str(&a[1], f)?.parse().map_err(|_| self.bad(a[1].line, f, "count is not a number".into(), "[ipBlock, count (1–256), cidrBits]"))?;
                let bits: u8 = self.eval_str(&a[2], f)?.parse().map_err(|_| self.bad(a[2].line, f, "cidrBits is not a number".into(), "[ipBlock, count, cidrBits (host bits per subnet)]"))?;
                let prefix = 32u8.checked_sub(bits).filter(|p| *p >= block.prefix_len() && bits > 0);
                let Some(prefix) = prefix else {
                    return Err(self.bad(a[2].line, f, format!("{bits} host bits do not fit in {block}"), "cidrBits between 1 and the block's host bits"));
                };
                let available = 1u64 << (prefix - block.prefix_len());
                if count == 0 || u64::from(count) > available.min(256) {
                    return Err(self.bad(a[1].line, f, format!("cannot make {count} /{prefix} subnets of {block}"), "a count from 1 to 256 that fits in the block"));
                }
                let base = u32::from(block.trunc().network());
                let step = 1u32 << bits;
                let nets = (0..count)
                    .map(|i| {
                        let net = Ipv4Net::new(Ipv4Addr::from(base + i * step), prefix).expect("prefix ≤ 32");
                        Node::scalar(net.to_string(), line)
                    })
                    .collect();
                Ok(Some(Node { v: V::Seq(nets), line }))
            }
            "Fn::FindInMap" => {
                let a = self.args(arg, f, 3, "[MapName, TopLevelKey, SecondLevelKey]")?;
                let map = self.eval_str(&a[0], f)?;
                let k1 = self.eval_str(&a[1], f)?;
                let k2 = self.eval_str(&a[2], f)?;
                let v = self.mappings.and_then(|m| m.get(&map)).and_then(|m| m.get(&k1)).and_then(|m| m.get(&k2));
                match v {
                    Some(v) => self.eval(v),
                    None => Err(problem(&self.current, line, "UnknownMapping", format!("Fn::FindInMap: Mappings has no {map}.{k1}.{k2}"), "Fn::FindInMap reads the Mappings section", "declare the mapping entry, or correct the keys")),
                }
            }
            other => Err(problem(
                &self.current,
                line,
                "UnsupportedIntrinsic",
                format!("{other} is not supported by vpclab"),
                "vpclab evaluates Ref, Fn::Sub, Fn::GetAtt, Fn::Select, Fn::GetAZs, Fn::Join, Fn::Split, Fn::Base64, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Cidr, Fn::FindInMap",
                "rewrite the value with those functions, or as a literal",
            )),
        }
    }

    fn substitute(
        &self,
        template: &str,
        vars: &HashMap<String, String>,
        line: usize,
    ) -> Result<String, EvalError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.bad(
                    line,
                    "Fn::Sub",
                    "a `${` is not closed".into(),
                    "a string with ${Name} placeholders",
                ));
            };
            let name = after[..end].trim();
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((res, attr)) = name
                .split_once('.')
                .filter(|_| !self.params.contains_key(name) && !name.starts_with("AWS::"))
            {
                let v = self.get_att(res, attr, line)?;
                out.push_str(v.as_str().ok_or_else(|| {
                    self.bad(
                        line,
                        "Fn::Sub",
                        format!("${{{name}}} is a list"),
                        "string attributes",
                    )
                })?);
            } else {
                match self.reference(name, line)? {
                    Some(Node {
                        v: V::Scalar { text, .. },
                        ..
                    }) => out.push_str(&text),
                    Some(_) => {
                        return Err(self.bad(
                            line,
                            "Fn::Sub",
                            format!("${{{name}}} is a list"),
                            "string values",
                        ))
                    }
                    None => {}
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The resources a property tree refers to (Ref, Fn::GetAtt, Fn::Sub placeholders), with the
/// line of each reference. Parameters and pseudo parameters are left out.
pub fn references(n: &Node, out: &mut Vec<(String, usize)>) {
    if let Some((f, arg)) = n.intrinsic() {
        match f {
            "Ref" => {
                if let Some(name) = arg.as_str() {
                    out.push((name.to_string(), n.line));
                }
                return;
            }
            "Fn::GetAtt" => {
                match &arg.v {
                    V::Seq(items) if !items.is_empty() => {
                        if let Some(name) = items[0].as_str() {
                            out.push((name.to_string(), n.line));
                        }
                    }
                    V::Scalar { text, .. } => {
                        out.push((text.split('.').next().unwrap_or("").to_string(), n.line));
                    }
                    _ => {}
                }
                return;
            }
            "Fn::Sub" => {
                let (text, vars) = match &arg.v {
                    V::Scalar { text, .. } => (Some(text.as_str()), None),
                    V::Seq(items) if items.len() == 2 => (items[0].as_str(), Some(&items[1])),
                    _ => (None, None),
                };
                if let Some(vars) = vars {
                    references(vars, out);
                }
                let declared: Vec<&str> = vars
                    .map(|v| v.entries().iter().map(|(k, _, _)| k.as_str()).collect())
                    .unwrap_or_default();
                let mut rest = text.unwrap_or("");
                while let Some(start) = rest.find("${") {
                    let after = &rest[start + 2..];
                    let Some(end) = after.find('}') else { break };
                    let name = after[..end].trim();
                    if !name.starts_with('!') && !declared.contains(&name) {
                        out.push((name.split('.').next().unwrap_or("").to_string(), n.line));
                    }
                    rest = &after[end + 1..];
                }
                return;
            }
            _ => {}
        }
    }
    match &n.v {
        V::Seq(items) => items.iter().for_each(|i| references(i, out)),
        V::Map(m) => m.iter().for_each(|(_, _, v)| references(v, out)),
        _ => {}
    }
}
