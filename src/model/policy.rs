//! IAM policy documents as VPC endpoint policies and S3 bucket policies use them: parsed
//! once, checked as AWS checks them, evaluated per request. Pure: no I/O, no clock.
//!
//! Contract:
//! - [`Policy::parse`] (and [`Policy::parse_str`] for the text an API call carries) accepts
//!   exactly the documents AWS accepts for resource-based policies and refuses the others
//!   with a [`PolicyError`] whose text names the statement and the problem, prefixed
//!   `MalformedPolicyDocument:` (e.g. `MalformedPolicyDocument: Statement 2: Effect must be
//!   "Allow" or "Deny"`). It never panics, whatever the JSON.
//! - [`Policy::evaluate`] answers for one request ([`RequestContext`]: action, resource
//!   ARN, calling principal, condition keys): an applicable `Deny` statement wins
//!   ([`Decision::ExplicitDeny`]); else an applicable `Allow` gives [`Decision::Allow`]; else
//!   [`Decision::ImplicitDeny`].
//! - A statement applies when its principal, action, resource and every condition match.
//!   Inside a condition block, several values for one key are OR-ed; several keys and several
//!   operators are AND-ed. A key missing from the request fails a positive operator, passes a
//!   negated one (`StringNotEquals`, `NotIpAddress`, …), passes any `…IfExists` operator; `Null`
//!   tests presence. `ForAnyValue:` is false and `ForAllValues:` true on a missing key.
//! - Actions match case-insensitively; resources, principals and string conditions (except
//!   the `IgnoreCase` ones) case-sensitively; `*` and `?` are wildcards in actions, resources
//!   and the `…Like`/`Arn…` operators. ARNs match component by component (a wildcard never
//!   crosses one of the first five colons).
//! - With `"Version": "2012-10-17"`, `${key}` policy variables in resources and condition
//!   values take the request's value of that key (`${key, 'default'}` when absent; `${*}`,
//!   `${?}`, `${$}` are the literal characters); a variable that cannot be resolved makes that
//!   pattern match nothing.
//!
//! The semantics and every choice AWS does not document are in
//! `docs/decisions/0009-iam-policies.md`.
//!
//! Size: IAM's policy grammar and its evaluation share the statement, principal and condition
//! types, and the condition operators are a long table (about 1,190 lines); the tests are in
//! `policy/tests.rs`.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

/// The most characters an endpoint policy (and a bucket policy) may have.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// Why a policy document was refused. Its text starts with `MalformedPolicyDocument:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON.
    NotJson(String),
    /// More than [`MAX_POLICY_CHARS`] characters.
    TooLarge {
        /// How many characters it has.
        chars: usize,
    },
    /// Valid JSON that is not a valid policy.
    Invalid {
        /// Where: `Statement 2`, or empty for the top level.
        at: String,
        /// What is wrong and what AWS expects.
        problem: String,
    },
}

impl PolicyError {
    fn at(at: &str, problem: impl Into<String>) -> Self {
        PolicyError::Invalid {
            at: at.to_string(),
            problem: problem.into(),
        }
    }

    /// The reason without the `MalformedPolicyDocument:` prefix.
    pub fn reason(&self) -> String {
        match self {
            PolicyError::NotJson(e) => format!("the policy is not valid JSON: {e}"),
            PolicyError::TooLarge { chars } => format!(
                "the policy has {chars} characters; a policy may have at most {MAX_POLICY_CHARS}"
            ),
            PolicyError::Invalid { at, problem } if at.is_empty() => problem.clone(),
            PolicyError::Invalid { at, problem } => format!("{at}: {problem}"),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MalformedPolicyDocument: {}", self.reason())
    }
}

/// One request, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// `s3:GetObject`, `dynamodb:GetItem`, …
    pub action: &'a str,
    /// The resource ARN: `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// The caller's ARN (`arn:aws:iam::123456789012:user/alice`), `None` for anonymous.
    pub principal: Option<&'a str>,
    /// Condition keys and their values (`aws:SourceVpce`, `aws:SourceVpc`, `aws:SourceIp`,
    /// `s3:prefix`, …). Keys match case-insensitively; a key given several times is
    /// multi-valued.
    pub conditions: &'a [(&'a str, &'a str)],
}

impl<'a> RequestContext<'a> {
    /// The request's values of `key`.
    fn values(&self, key: &str) -> Vec<&'a str> {
        self.conditions
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
            .collect()
    }
}

/// What a policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows it and none denies it.
    Allow,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// No statement applies.
    ImplicitDeny,
}

/// A parsed, checked policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    doc: Value,
    variables: bool,
    statements: Vec<Statement>,
}

impl Serialize for Policy {
    /// The document as it was given.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.doc.serialize(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// `Principal` / `NotPrincipal`: `*`, or ids by kind (`AWS`, `Service`, …).
#[derive(Debug, Clone)]
struct Principals {
    negated: bool,
    anyone: bool,
    ids: Vec<String>,
}

/// `Action` / `NotAction` or `Resource` / `NotResource`.
#[derive(Debug, Clone)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// The positive comparisons; negated operators are one of these with `negated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// Every operator name AWS knows, with its comparison and whether it is negated.
const OPERATORS: &[(&str, Cmp, bool)] = &[
    ("StringEquals", Cmp::StringEquals, false),
    ("StringNotEquals", Cmp::StringEquals, true),
    ("StringEqualsIgnoreCase", Cmp::StringEqualsIgnoreCase, false),
    (
        "StringNotEqualsIgnoreCase",
        Cmp::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Cmp::StringLike, false),
    ("StringNotLike", Cmp::StringLike, true),
    ("NumericEquals", Cmp::NumericEquals, false),
    ("NumericNotEquals", Cmp::NumericEquals, true),
    ("NumericLessThan", Cmp::NumericLessThan, false),
    ("NumericLessThanEquals", Cmp::NumericLessThanEquals, false),
    ("NumericGreaterThan", Cmp::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Cmp::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Cmp::DateEquals, false),
    ("DateNotEquals", Cmp::DateEquals, true),
    ("DateLessThan", Cmp::DateLessThan, false),
    ("DateLessThanEquals", Cmp::DateLessThanEquals, false),
    ("DateGreaterThan", Cmp::DateGreaterThan, false),
    ("DateGreaterThanEquals", Cmp::DateGreaterThanEquals, false),
    ("Bool", Cmp::Bool, false),
    ("BinaryEquals", Cmp::BinaryEquals, false),
    ("IpAddress", Cmp::IpAddress, false),
    ("NotIpAddress", Cmp::IpAddress, true),
    ("ArnEquals", Cmp::ArnLike, false),
    ("ArnLike", Cmp::ArnLike, false),
    ("ArnNotEquals", Cmp::ArnLike, true),
    ("ArnNotLike", Cmp::ArnLike, true),
    ("Null", Cmp::Null, false),
];

#[derive(Debug, Clone)]
struct Condition {
    cmp: Cmp,
    negated: bool,
    if_exists: bool,
    qualifier: Qualifier,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principal: Principals,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string or a non-empty array of strings.
fn strings(at: &str, field: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(PolicyError::at(
            at,
            format!("{field} is an empty array: give at least one value"),
        )),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(PolicyError::at(
                    at,
                    format!("{field} has {} where a string belongs", type_name(other)),
                )),
            })
            .collect(),
        other => Err(PolicyError::at(
            at,
            format!(
                "{field} must be a string or an array of strings, not {}",
                type_name(other)
            ),
        )),
    }
}

/// A condition value: a string, number or boolean (or a non-empty array of them), as text.
fn condition_values(at: &str, what: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(PolicyError::at(
            at,
            format!(
                "{what} has {} where a string, number or boolean belongs",
                type_name(other)
            ),
        )),
    };
    match v {
        Value::Array(items) if items.is_empty() => Err(PolicyError::at(
            at,
            format!("{what} is an empty array: give at least one value"),
        )),
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn has_vendor(s: &str) -> bool {
    match s.split_once(':') {
        Some((vendor, name)) => {
            !vendor.is_empty()
                && !name.is_empty()
                && vendor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        None => false,
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_principal(at: &str, field: &str, v: &Value) -> Result<Principals, PolicyError> {
    let negated = field == "NotPrincipal";
    let mut p = Principals {
        negated,
        anyone: false,
        ids: vec![],
    };
    match v {
        Value::String(s) if s == "*" => p.anyone = true,
        Value::Object(m) if m.is_empty() => {
            return Err(PolicyError::at(
                at,
                format!(
                    "{field} is an empty object: name who it applies to, e.g. {{\"AWS\": \"*\"}}"
                ),
            ))
        }
        Value::Object(m) => {
            for (kind, ids) in m {
                let ids = strings(at, &format!("{field} {kind}"), ids)?;
                match kind.as_str() {
                    "AWS" => {
                        for id in ids {
                            if id == "*" {
                                p.anyone = true;
                            } else if is_account_id(&id) {
                                p.ids.push(format!("arn:aws:iam::{id}:root"));
                            } else if id.starts_with("arn:") && id.split(':').count() >= 6 {
                                p.ids.push(id);
                            } else {
                                return Err(PolicyError::at(
                                    at,
                                    format!("Invalid principal in policy: {field} AWS '{id}' is not \"*\", a 12-digit account id or an IAM ARN"),
                                ));
                            }
                        }
                    }
                    "Service" | "Federated" | "CanonicalUser" => {
                        for id in ids {
                            if id.is_empty() {
                                return Err(PolicyError::at(
                                    at,
                                    format!("Invalid principal in policy: {field} {kind} is empty"),
                                ));
                            }
                            p.ids.push(id);
                        }
                    }
                    other => {
                        return Err(PolicyError::at(
                            at,
                            format!("Invalid principal in policy: {field} has the unknown kind '{other}' (use AWS, Service, Federated or CanonicalUser)"),
                        ))
                    }
                }
            }
        }
        other => {
            return Err(PolicyError::at(
                at,
                format!(
                    "{field} must be \"*\" or an object such as {{\"AWS\": \"*\"}}, not {}",
                    match other {
                        Value::String(s) => format!("'{s}'"),
                        v => type_name(v).to_string(),
                    }
                ),
            ))
        }
    }
    Ok(p)
}

fn parse_actions(at: &str, field: &str, v: &Value) -> Result<Patterns, PolicyError> {
    let patterns = strings(at, field, v)?;
    for a in &patterns {
        if a != "*" && !has_vendor(a) {
            return Err(PolicyError::at(
                at,
                format!("{field} '{a}': Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. (write s3:GetObject, dynamodb:*, or \"*\")"),
            ));
        }
    }
    Ok(Patterns {
        negated: field == "NotAction",
        patterns,
    })
}

fn parse_resources(at: &str, field: &str, v: &Value) -> Result<Patterns, PolicyError> {
    let patterns = strings(at, field, v)?;
    for r in &patterns {
        if r != "*" && !(r.starts_with("arn:") && r.split(':').count() >= 6) {
            return Err(PolicyError::at(
                at,
                format!(
                    "{field} '{r}' must be in ARN format or \"*\" (e.g. arn:aws:s3:::my-bucket/*)"
                ),
            ));
        }
    }
    Ok(Patterns {
        negated: field == "NotResource",
        patterns,
    })
}

fn operator(name: &str) -> Option<(Cmp, bool, bool, Qualifier)> {
    let (qualifier, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
        (Qualifier::ForAnyValue, r)
    } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
        (Qualifier::ForAllValues, r)
    } else {
        (Qualifier::Single, name)
    };
    let (base, if_exists) = match strip_suffix_ci(rest, "IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let (_, cmp, negated) = OPERATORS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(base))?;
    if *cmp == Cmp::Null && (if_exists || qualifier != Qualifier::Single) {
        return None;
    }
    Some((*cmp, *negated, if_exists, qualifier))
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn strip_suffix_ci<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix)
        .then(|| s.get(..cut))
        .flatten()
}

fn check_value(at: &str, op: &str, key: &str, cmp: Cmp, v: &str) -> Result<(), PolicyError> {
    let bad = |what: &str| {
        Err(PolicyError::at(
            at,
            format!("Condition {op} {key}: '{v}' is not {what}"),
        ))
    };
    match cmp {
        Cmp::NumericEquals
        | Cmp::NumericLessThan
        | Cmp::NumericLessThanEquals
        | Cmp::NumericGreaterThan
        | Cmp::NumericGreaterThanEquals
            if v.trim().parse::<f64>().is_err() =>
        {
            bad("a number")
        }
        Cmp::DateEquals
        | Cmp::DateLessThan
        | Cmp::DateLessThanEquals
        | Cmp::DateGreaterThan
        | Cmp::DateGreaterThanEquals
            if parse_date(v).is_none() =>
        {
            bad("a date (ISO 8601 such as 2026-01-01T00:00:00Z, or epoch seconds)")
        }
        Cmp::Bool | Cmp::Null
            if !(v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) =>
        {
            bad("true or false")
        }
        Cmp::IpAddress if parse_net(v).is_none() => {
            bad("an IP address or CIDR block (e.g. 203.0.113.0/24)")
        }
        _ => Ok(()),
    }
}

fn parse_conditions(at: &str, v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(PolicyError::at(
            at,
            format!(
                "Condition must be an object such as {{\"StringEquals\": {{\"aws:SourceVpce\": \"vpce-…\"}}}}, not {}",
                type_name(v)
            ),
        ));
    };
    let mut out = vec![];
    for (op, block) in ops {
        let Some((cmp, negated, if_exists, qualifier)) = operator(op) else {
            return Err(PolicyError::at(
                at,
                format!(
                    "Condition operator '{op}' is not known (use one of {}, optionally with IfExists or ForAnyValue:/ForAllValues:; Null takes neither)",
                    OPERATORS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let Value::Object(keys) = block else {
            return Err(PolicyError::at(
                at,
                format!(
                    "Condition {op} must be an object of condition keys and values, not {}",
                    type_name(block)
                ),
            ));
        };
        if keys.is_empty() {
            return Err(PolicyError::at(
                at,
                format!("Condition {op} has no condition key"),
            ));
        }
        for (key, values) in keys {
            if !has_vendor(key) {
                return Err(PolicyError::at(
                    at,
                    format!("Condition key '{key}': Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. (write aws:SourceVpce, s3:prefix, …)"),
                ));
            }
            let values = condition_values(at, &format!("Condition {op} {key}"), values)?;
            for v in &values {
                check_value(at, op, key, cmp, v)?;
            }
            out.push(Condition {
                cmp,
                negated,
                if_exists,
                qualifier,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn one_of<'v>(
    at: &str,
    m: &'v Map<String, Value>,
    a: &'static str,
    b: &'static str,
) -> Result<Option<(&'static str, &'v Value)>, PolicyError> {
    match (m.get(a), m.get(b)) {
        (Some(_), Some(_)) => Err(PolicyError::at(
            at,
            format!("a statement has either {a} or {b}, not both"),
        )),
        (Some(v), None) => Ok(Some((a, v))),
        (None, Some(v)) => Ok(Some((b, v))),
        (None, None) => Ok(None),
    }
}

fn parse_statement(at: &str, v: &Value) -> Result<(Option<String>, Statement), PolicyError> {
    let Value::Object(m) = v else {
        return Err(PolicyError::at(
            at,
            format!("a statement must be an object, not {}", type_name(v)),
        ));
    };
    for k in m.keys() {
        if !STATEMENT_FIELDS.contains(&k.as_str()) {
            return Err(PolicyError::at(
                at,
                format!(
                    "unknown field '{k}' (a statement has {})",
                    STATEMENT_FIELDS.join(", ")
                ),
            ));
        }
    }
    let sid = match m.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(PolicyError::at(
                at,
                format!("Sid must be a string, not {}", type_name(other)),
            ))
        }
    };
    let effect = match m.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(_) => {
            return Err(PolicyError::at(at, "Effect must be \"Allow\" or \"Deny\""));
        }
        None => {
            return Err(PolicyError::at(
                at,
                "missing Effect: it must be \"Allow\" or \"Deny\"",
            ))
        }
    };
    let principal = match one_of(at, m, "Principal", "NotPrincipal")? {
        Some((field, v)) => parse_principal(at, field, v)?,
        None => {
            return Err(PolicyError::at(
                at,
                "missing Principal: an endpoint or bucket policy names who it applies to (\"Principal\": \"*\" for everyone)",
            ))
        }
    };
    let actions = match one_of(at, m, "Action", "NotAction")? {
        Some((field, v)) => parse_actions(at, field, v)?,
        None => {
            return Err(PolicyError::at(
                at,
                "missing Action: a statement needs Action or NotAction (e.g. \"s3:GetObject\" or \"*\")",
            ))
        }
    };
    let resources = match one_of(at, m, "Resource", "NotResource")? {
        Some((field, v)) => parse_resources(at, field, v)?,
        None => {
            return Err(PolicyError::at(
                at,
                "missing Resource: a statement needs Resource or NotResource (e.g. \"arn:aws:s3:::my-bucket/*\" or \"*\")",
            ))
        }
    };
    let conditions = match m.get("Condition") {
        Some(c) => parse_conditions(at, c)?,
        None => vec![],
    };
    Ok((
        sid,
        Statement {
            effect,
            principal,
            actions,
            resources,
            conditions,
        },
    ))
}

impl Policy {
    /// Parses and checks a policy document; see the module docs.
    pub fn parse(doc: &Value) -> Result<Policy, PolicyError> {
        let chars = serde_json::to_string(doc)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        if chars > MAX_POLICY_CHARS {
            return Err(PolicyError::TooLarge { chars });
        }
        let Value::Object(top) = doc else {
            return Err(PolicyError::at(
                "",
                format!(
                    "a policy document is a JSON object with Version and Statement, not {}",
                    type_name(doc)
                ),
            ));
        };
        for k in top.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::at(
                    "",
                    format!("unknown field '{k}' (a policy has Version, Id and Statement)"),
                ));
            }
        }
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(Value::String(v)) => {
                return Err(PolicyError::at(
                    "",
                    format!(
                    "Version '{v}' is not valid: use \"2012-10-17\" (or the older \"2008-10-17\")"
                ),
                ))
            }
            Some(other) => {
                return Err(PolicyError::at(
                    "",
                    format!(
                        "Version must be the string \"2012-10-17\", not {}",
                        type_name(other)
                    ),
                ))
            }
        };
        match top.get("Id") {
            None | Some(Value::String(_)) => {}
            Some(other) => {
                return Err(PolicyError::at(
                    "",
                    format!("Id must be a string, not {}", type_name(other)),
                ))
            }
        }
        let items: Vec<&Value> = match top.get("Statement") {
            None => {
                return Err(PolicyError::at(
                    "",
                    "missing Statement: a policy has one statement or an array of them",
                ))
            }
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(PolicyError::at(
                    "",
                    "Statement is an empty array: a policy needs at least one statement",
                ))
            }
            Some(Value::Array(a)) => a.iter().collect(),
            Some(o @ Value::Object(_)) => vec![o],
            Some(other) => {
                return Err(PolicyError::at(
                    "",
                    format!(
                        "Statement must be an object or an array of objects, not {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let mut sids: Vec<String> = vec![];
        let mut statements = vec![];
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("Statement {}", i + 1);
            let (sid, st) = parse_statement(&at, item)?;
            if let Some(sid) = sid.filter(|s| !s.is_empty()) {
                if sids.contains(&sid) {
                    return Err(PolicyError::at(
                        &at,
                        format!("Statement IDs (SID) in a single policy must be unique: '{sid}' is used twice"),
                    ));
                }
                sids.push(sid);
            }
            statements.push(st);
        }
        Ok(Policy {
            doc: doc.clone(),
            variables,
            statements,
        })
    }

    /// Parses the text of a policy document (what `--policy-document` and the API carry).
    /// The size limit counts the text as given, white space included.
    pub fn parse_str(text: &str) -> Result<Policy, PolicyError> {
        let chars = text.chars().count();
        if chars > MAX_POLICY_CHARS {
            return Err(PolicyError::TooLarge { chars });
        }
        let doc: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::NotJson(e.to_string()))?;
        Policy::parse(&doc)
    }

    /// AWS's default endpoint policy: everyone may do everything.
    pub fn full_access() -> Policy {
        let doc = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
        Policy {
            doc,
            variables: false,
            statements: vec![Statement {
                effect: Effect::Allow,
                principal: Principals {
                    negated: false,
                    anyone: true,
                    ids: vec![],
                },
                actions: Patterns {
                    negated: false,
                    patterns: vec!["*".into()],
                },
                resources: Patterns {
                    negated: false,
                    patterns: vec!["*".into()],
                },
                conditions: vec![],
            }],
        }
    }

    /// The document as given.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// What the policy says about one request; see the module docs.
    pub fn evaluate(&self, ctx: &RequestContext) -> Decision {
        let mut allowed = false;
        for st in &self.statements {
            if self.applies(st, ctx) {
                match st.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    fn vars<'c>(&self, ctx: &'c RequestContext<'c>) -> Option<&'c RequestContext<'c>> {
        self.variables.then_some(ctx)
    }

    fn applies(&self, st: &Statement, ctx: &RequestContext) -> bool {
        principal_matches(&st.principal, ctx.principal)
            && st.actions.negated
                != st
                    .actions
                    .patterns
                    .iter()
                    .any(|p| p == "*" || glob(&tokens(p), ctx.action, true))
            && st.resources.negated
                != st.resources.patterns.iter().any(|p| {
                    p == "*"
                        || tokens_with_vars(p, self.vars(ctx))
                            .is_some_and(|t| arn_match(&t, ctx.resource))
                })
            && st.conditions.iter().all(|c| self.condition(c, ctx))
    }

    fn condition(&self, c: &Condition, ctx: &RequestContext) -> bool {
        let present = ctx.values(&c.key);
        if c.cmp == Cmp::Null {
            return c.values.iter().any(|v| {
                if v.eq_ignore_ascii_case("true") {
                    present.is_empty()
                } else {
                    !present.is_empty()
                }
            });
        }
        if present.is_empty() {
            return c.if_exists
                || match c.qualifier {
                    Qualifier::Single => c.negated,
                    Qualifier::ForAnyValue => false,
                    Qualifier::ForAllValues => true,
                };
        }
        let matches = |req: &str| {
            c.values
                .iter()
                .any(|pol| self.compare(c.cmp, pol, req, ctx))
        };
        match c.qualifier {
            Qualifier::Single if c.negated => !present.iter().any(|r| matches(r)),
            Qualifier::Single => present.iter().any(|r| matches(r)),
            Qualifier::ForAnyValue => present.iter().any(|r| matches(r) != c.negated),
            Qualifier::ForAllValues => present.iter().all(|r| matches(r) != c.negated),
        }
    }

    /// Whether the request's value `req` matches the policy's value `pol` under `cmp`.
    fn compare(&self, cmp: Cmp, pol: &str, req: &str, ctx: &RequestContext) -> bool {
        let pattern = || tokens_with_vars(pol, self.vars(ctx));
        match cmp {
            Cmp::StringEquals => pattern().is_some_and(|t| literal_eq(&t, req, false)),
            Cmp::StringEqualsIgnoreCase => pattern().is_some_and(|t| literal_eq(&t, req, true)),
            Cmp::StringLike => pattern().is_some_and(|t| glob(&t, req, false)),
            Cmp::ArnLike => pattern().is_some_and(|t| arn_match(&t, req)),
            Cmp::NumericEquals
            | Cmp::NumericLessThan
            | Cmp::NumericLessThanEquals
            | Cmp::NumericGreaterThan
            | Cmp::NumericGreaterThanEquals => {
                let (Ok(p), Ok(r)) = (pol.trim().parse::<f64>(), req.trim().parse::<f64>()) else {
                    return false;
                };
                ordered(cmp, r.partial_cmp(&p))
            }
            Cmp::DateEquals
            | Cmp::DateLessThan
            | Cmp::DateLessThanEquals
            | Cmp::DateGreaterThan
            | Cmp::DateGreaterThanEquals => {
                let (Some(p), Some(r)) = (parse_date(pol), parse_date(req)) else {
                    return false;
                };
                ordered(cmp, r.partial_cmp(&p))
            }
            Cmp::Bool => pol.eq_ignore_ascii_case(req),
            Cmp::BinaryEquals => pol == req,
            Cmp::IpAddress => match (parse_net(pol), req.trim().parse::<IpAddr>()) {
                (Some(net), Ok(ip)) => net.contains(&ip),
                _ => false,
            },
            Cmp::Null => false,
        }
    }
}

fn ordered(cmp: Cmp, o: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    let Some(o) = o else { return false };
    match cmp {
        Cmp::NumericEquals | Cmp::DateEquals => o == Equal,
        Cmp::NumericLessThan | Cmp::DateLessThan => o == Less,
        Cmp::NumericLessThanEquals | Cmp::DateLessThanEquals => o != Greater,
        Cmp::NumericGreaterThan | Cmp::DateGreaterThan => o == Greater,
        Cmp::NumericGreaterThanEquals | Cmp::DateGreaterThanEquals => o != Less,
        _ => false,
    }
}

fn principal_matches(p: &Principals, caller: Option<&str>) -> bool {
    let listed = p.anyone || caller.is_some_and(|c| p.ids.iter().any(|id| id == c));
    listed != p.negated
}

/// An IP address (a /32 or /128) or a CIDR block.
fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Seconds since the epoch of an ISO 8601 date (`2026-01-01`, `2026-01-01T10:00:00Z`,
/// `2026-01-01T10:00:00.5+09:00`) or of a number of epoch seconds.
fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let days = days_from_civil(y, mo, da);
    let mut secs = days as f64 * 86_400.0;
    if let Some(t) = time {
        let (clock, offset) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
            (c, 0i64)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (c, off) = t.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let off = off.get(1..)?;
            let (oh, om) = off.split_once(':').unwrap_or((off, "0"));
            let (oh, om) = (num(oh)?, num(om)?);
            (c, sign * (oh * 3600 + om * 60))
        } else {
            (t, 0)
        };
        let mut c = clock.split(':');
        let h = num(c.next()?)?;
        let mi = num(c.next()?)?;
        let sec: f64 = match c.next() {
            Some(x) => x.parse().ok().filter(|v: &f64| (0.0..61.0).contains(v))?,
            None => 0.0,
        };
        if c.next().is_some() || h > 23 || mi > 59 {
            return None;
        }
        secs += (h * 3600 + mi * 60 - offset) as f64 + sec;
    }
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One element of a compiled wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters, the empty one included.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A pattern's tokens, without policy variables.
fn tokens(pattern: &str) -> Vec<Tok> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// A pattern's tokens with `${…}` policy variables replaced by the request's values (when
/// `ctx` is given, i.e. the policy is version 2012-10-17). `None` when a variable has no
/// value and no default.
fn tokens_with_vars(pattern: &str, ctx: Option<&RequestContext>) -> Option<Vec<Tok>> {
    let Some(ctx) = ctx else {
        return Some(tokens(pattern));
    };
    let mut out = vec![];
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.extend(tokens(before));
        let inner_and_tail = &after[2..];
        let Some(end) = inner_and_tail.find('}') else {
            out.extend(tokens(after));
            return Some(out);
        };
        let inner = inner_and_tail[..end].trim();
        rest = &inner_and_tail[end + 1..];
        match inner {
            "*" => out.push(Tok::Lit('*')),
            "?" => out.push(Tok::Lit('?')),
            "$" => out.push(Tok::Lit('$')),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let d = d
                            .strip_prefix('\'')
                            .and_then(|d| d.strip_suffix('\''))
                            .unwrap_or(d);
                        (k.trim(), Some(d))
                    }
                    None => (inner, None),
                };
                let value = ctx.values(key).first().copied().or(default)?;
                out.extend(value.chars().map(Tok::Lit));
            }
        }
    }
    out.extend(tokens(rest));
    Some(out)
}

fn char_eq(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
}

/// Whether `text` equals the pattern read literally (wildcards are plain characters).
fn literal_eq(toks: &[Tok], text: &str, ignore_case: bool) -> bool {
    let mut chars = text.chars();
    for t in toks {
        let want = match t {
            Tok::Lit(c) => *c,
            Tok::Star => '*',
            Tok::One => '?',
        };
        match chars.next() {
            Some(c) if char_eq(want, c, ignore_case) => {}
            _ => return false,
        }
    }
    chars.next().is_none()
}

/// Whether `text` matches the wildcard pattern: linear in practice, at worst
/// O(pattern × text), no recursion.
fn glob(toks: &[Tok], text: &str, ignore_case: bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Tok::Lit(c)) if char_eq(*c, text[t], ignore_case) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                backtrack = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    toks[p.min(toks.len())..].iter().all(|t| *t == Tok::Star)
}

/// Whether `text` matches `pattern`, `*` and `?` as wildcards, case-sensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    glob(&tokens(pattern), text, false)
}

/// ARN matching: the six colon-separated components one by one (the last one keeps its
/// colons), so a wildcard never crosses a component; a pattern or text that is not an ARN
/// is matched whole.
fn arn_match(toks: &[Tok], text: &str) -> bool {
    if toks == [Tok::Star] {
        return true;
    }
    let text_parts: Vec<&str> = text.splitn(6, ':').collect();
    let mut tok_parts: Vec<&[Tok]> = vec![];
    let mut rest = toks;
    while tok_parts.len() < 5 {
        match rest.iter().position(|t| *t == Tok::Lit(':')) {
            Some(i) => {
                tok_parts.push(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => break,
        }
    }
    tok_parts.push(rest);
    if tok_parts.len() != 6 || text_parts.len() != 6 {
        return glob(toks, text, false);
    }
    tok_parts
        .iter()
        .zip(text_parts)
        .all(|(p, t)| glob(p, t, false))
}

#[cfg(test)]
mod tests;
