//! CloudFormation templates in, a resolved [`Lab`] out.
//!
//! Contract: [`load`] reads a template (YAML or JSON), takes parameters from the command
//! line, and returns the lab — or every problem found, located by line and logical id, with
//! the AWS rule and the fix. It runs, in order: YAML parsing ([`yaml`]), the template's
//! sections and parameters, references (unknown `Ref`/`GetAtt` targets, `DependsOn`, cycles),
//! building each resource in dependency order ([`build`], evaluating intrinsics with
//! [`eval`]), outputs, and finally the model's `verify_*` passes. It never touches the host.

pub mod build;
pub mod eval;
pub mod yaml;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use self::build::{push_eval_error, Builder, Row};
use self::eval::{references, Ctx, EvalError, Param, Slot, PSEUDO};
use self::yaml::{Node, V};
use crate::model::{catalog, verify, Lab, Origin, Output, Problem, Problems, Region};

/// The embedded default lab: the three seed labs in one template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/default.yaml");

/// The key pair name a `AWS::EC2::KeyPair::KeyName` parameter gets when none is given.
pub const DEFAULT_KEY_NAME: &str = "vpclab-key";

/// How to load a template.
#[derive(Debug, Clone)]
pub struct Options {
    /// The region (a catalog region).
    pub region: String,
    /// The stack name (the lab's name).
    pub stack_name: String,
    /// `--parameter Key=Value` pairs.
    pub parameters: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            region: catalog::DEFAULT_REGION.into(),
            stack_name: "vpclab".into(),
            parameters: vec![],
        }
    }
}

/// Why a template did not load.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read template {path}: {source}")]
    Read {
        /// The template's path.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The template has problems (every one of them).
    #[error("template {file} is invalid: {problems}")]
    Invalid {
        /// The template's path (or `(embedded default lab)`).
        file: String,
        /// Every problem found, sorted by line.
        problems: Problems,
    },
}

impl Error {
    /// The problems, for an invalid template.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            Error::Invalid { problems, .. } => Some(problems),
            Error::Read { .. } => None,
        }
    }
}

/// Loads a template file.
pub fn load_file(path: &Path, opts: &Options) -> Result<Lab, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    load(&text, opts).map_err(|problems| Error::Invalid {
        file: path.display().to_string(),
        problems,
    })
}

/// Loads the embedded default lab.
pub fn load_default(opts: &Options) -> Result<Lab, Error> {
    load(DEFAULT_TEMPLATE, opts).map_err(|problems| Error::Invalid {
        file: "(embedded default lab)".into(),
        problems,
    })
}

fn top(line: usize, code: &'static str, msg: String, rule: &str, fix: &str) -> Problem {
    Problem::new(
        code,
        Origin {
            line: Some(line),
            ..Origin::default()
        },
        msg,
        rule,
        fix,
    )
}

const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
];
const RESOURCE_ATTRIBUTES: &[&str] = &[
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Metadata",
    "CreationPolicy",
    "UpdatePolicy",
];

/// Loads a template's text: the five stages of docs/ARCHITECTURE.md's load pipeline
/// (parse, sections and parameters, references and order, build, verify).
pub fn load(text: &str, opts: &Options) -> Result<Lab, Problems> {
    let region = region_of(opts)?;
    let root = yaml::parse(text)?;
    let mut problems = Problems::default();
    let template = check_sections(&root, opts, &mut problems)?;
    let order = order_resources(&template, &mut problems);
    let b = build_resources(region, opts, template, &order, problems);
    verify_lab(b)
}

/// The catalog region `opts` names.
fn region_of(opts: &Options) -> Result<&'static Region, Problems> {
    catalog::region(&opts.region).ok_or_else(|| {
        let mut problems = Problems::default();
        problems.push(Problem::new(
            "UnknownRegion",
            Origin::default(),
            format!("region '{}' is not supported", opts.region),
            "a lab runs in one of the regions vpclab's service catalog knows",
            format!(
                "use --region with one of: {}",
                catalog::region_names().join(", ")
            ),
        ));
        problems
    })
}

/// A resource of a supported type, as the template declares it.
struct Declared<'t> {
    id: &'t str,
    line: usize,
    def: &'t Node,
    row: &'static Row,
}

/// What [`check_sections`] found: the template's parameters, resources and conditions.
struct Template<'t> {
    /// Parameter values, from `--parameter` or the declared defaults.
    params: HashMap<String, Param>,
    /// Every declared parameter name (also those without a value).
    declared: HashSet<&'t str>,
    /// The resources of supported types, in template order.
    resources: Vec<Declared<'t>>,
    /// Every resource's logical id (also those of unsupported types).
    known: HashSet<&'t str>,
    conditions: HashMap<String, &'t Node>,
    mappings: Option<&'t Node>,
    outputs: Option<&'t Node>,
}

/// Stage 2: the template's sections, its parameters (`--parameter` values, `AllowedValues`,
/// missing values), and each resource's logical id, `Type` and attributes. Fails when there is
/// nothing to build (not a mapping, no Resources).
fn check_sections<'t>(
    root: &'t Node,
    opts: &Options,
    problems: &mut Problems,
) -> Result<Template<'t>, Problems> {
    if !matches!(root.v, V::Map(_)) {
        problems.push(top(
            root.line,
            "BadTemplate",
            format!("the template is {}, not a mapping of sections", root.kind()),
            "a template is a mapping with a Resources section",
            "start the file with Resources:",
        ));
        return Err(std::mem::take(problems));
    }
    for (k, line, _) in root.entries() {
        if !SECTIONS.contains(&k.as_str()) {
            problems.push(top(
                *line,
                "UnknownSection",
                format!("unknown top-level section '{k}'"),
                &format!("a template's sections are {}", SECTIONS.join(", ")),
                "check the spelling, or indent it under the section it belongs to",
            ));
        }
        if k == "Transform" {
            problems.push(top(
                *line,
                "Unsupported",
                "Transform (macros, SAM) is not supported".into(),
                "vpclab reads plain CloudFormation templates",
                "expand the transform first (e.g. sam build), or remove it",
            ));
        }
    }
    let (params, declared) = check_parameters(root, opts, problems);
    let Some(resources) = root.get("Resources") else {
        problems.push(top(
            root.line,
            "MissingSection",
            "the template has no Resources section".into(),
            "a template declares at least one resource",
            "add a Resources: section",
        ));
        return Err(std::mem::take(problems).sorted());
    };
    Ok(Template {
        params,
        declared,
        resources: check_resources(resources, problems),
        known: resources
            .entries()
            .iter()
            .map(|(k, _, _)| k.as_str())
            .collect(),
        conditions: root
            .get("Conditions")
            .map(|c| c.entries().iter().map(|(k, _, v)| (k.clone(), v)).collect())
            .unwrap_or_default(),
        mappings: root.get("Mappings"),
        outputs: root.get("Outputs"),
    })
}

/// The parameters' values, and every declared parameter's name.
fn check_parameters<'t>(
    root: &'t Node,
    opts: &Options,
    problems: &mut Problems,
) -> (HashMap<String, Param>, HashSet<&'t str>) {
    let mut params: HashMap<String, Param> = HashMap::new();
    let given: HashMap<&str, &str> = opts
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let declared: HashSet<&str> = root
        .get("Parameters")
        .map(|p| p.entries().iter().map(|(k, _, _)| k.as_str()).collect())
        .unwrap_or_default();
    for k in given.keys() {
        if !declared.contains(k) {
            problems.push(Problem::new(
                "UnknownParameter",
                Origin::default(),
                format!("--parameter {k}: the template declares no parameter {k}"),
                "command-line parameters set the template's declared Parameters",
                format!(
                    "declared parameters: {}",
                    if declared.is_empty() {
                        "(none)".to_string()
                    } else {
                        declared.iter().copied().collect::<Vec<_>>().join(", ")
                    }
                ),
            ));
        }
    }
    if let Some(ps) = root.get("Parameters") {
        for (name, line, def) in ps.entries() {
            let ty = def.get("Type").and_then(|t| t.as_str()).unwrap_or("");
            if ty.is_empty() {
                problems.push(top(*line, "BadParameter", format!("parameter {name} has no Type"), "every parameter has a Type (String, Number, CommaDelimitedList, AWS::EC2::KeyPair::KeyName…)", "add Type: String"));
                continue;
            }
            let value = given.get(name.as_str()).map(|v| v.to_string()).or_else(|| {
                def.get("Default").and_then(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .or_else(|| matches!(d.v, V::Null).then(String::new))
                })
            });
            let value = match value {
                Some(v) => v,
                None if ty == "AWS::EC2::KeyPair::KeyName" => DEFAULT_KEY_NAME.to_string(),
                None => {
                    problems.push(top(*line, "ParameterMissing", format!("parameter {name} has no value and no Default"), "every parameter needs a value: a Default, or one given when the stack is created", &format!("pass --parameter {name}=VALUE, or add a Default")));
                    continue;
                }
            };
            if let Some(Node {
                v: V::Seq(allowed), ..
            }) = def.get("AllowedValues")
            {
                if !allowed.iter().any(|a| a.as_str() == Some(value.as_str())) {
                    let list: Vec<&str> = allowed.iter().filter_map(|a| a.as_str()).collect();
                    problems.push(top(
                        *line,
                        "BadParameter",
                        format!(
                            "parameter {name} is '{value}', which is not one of its AllowedValues"
                        ),
                        "a parameter's value must be one of its AllowedValues",
                        &format!("use one of: {}", list.join(", ")),
                    ));
                    continue;
                }
            }
            if ty == "Number" && value.parse::<f64>().is_err() {
                problems.push(top(
                    *line,
                    "BadParameter",
                    format!("parameter {name} is '{value}', not a number"),
                    "a Number parameter takes a number",
                    "pass a number",
                ));
                continue;
            }
            let p = if ty == "CommaDelimitedList" || ty.starts_with("List<") {
                Param::List(if value.is_empty() {
                    vec![]
                } else {
                    value.split(',').map(|s| s.trim().to_string()).collect()
                })
            } else {
                Param::One(value)
            };
            params.insert(name.clone(), p);
        }
    }
    (params, declared)
}

/// Each resource's logical id, `Type` and attributes; the resources of supported types.
fn check_resources<'t>(resources: &'t Node, problems: &mut Problems) -> Vec<Declared<'t>> {
    let mut order = vec![];
    for (id, line, def) in resources.entries() {
        if !id.chars().all(|c| c.is_ascii_alphanumeric()) || id.is_empty() {
            problems.push(top(
                *line,
                "BadLogicalId",
                format!("logical id '{id}' is not alphanumeric"),
                "a logical id is made of letters and digits only (A-Za-z0-9)",
                "rename the resource",
            ));
        }
        let Some(ty) = def.get("Type").and_then(|t| t.as_str()) else {
            problems.push(Problem::new(
                "MissingType",
                Origin {
                    logical_id: Some(id.clone()),
                    resource_type: None,
                    line: Some(*line),
                },
                format!("resource {id} has no Type"),
                "every resource declares its Type",
                "add Type: AWS::EC2::…",
            ));
            continue;
        };
        let origin = Origin::new(id, ty, *line);
        for (k, kl, _) in def.entries() {
            if !RESOURCE_ATTRIBUTES.contains(&k.as_str()) {
                problems.push(Problem::new(
                    "UnknownAttribute",
                    origin.at(*kl),
                    format!("'{k}' is not a resource attribute"),
                    format!("a resource has {}", RESOURCE_ATTRIBUTES.join(", ")),
                    "indent it under Properties:, or correct its spelling",
                ));
            }
        }
        let Some(row) = build::row(ty) else {
            problems.push(Problem::new(
                "UnsupportedResourceType",
                origin.at(def.get("Type").map_or(*line, |t| t.line)),
                format!("resource type {ty} is not supported by vpclab"),
                "vpclab emulates VPC networking: VPCs, subnets, gateways, route tables, security groups, network ACLs, instances, EIPs, VPC endpoints, endpoint services and Network Load Balancers",
                format!("remove the resource, or use one of: {}", build::supported().map(|r| r.ty).collect::<Vec<_>>().join(", ")),
            ));
            continue;
        };
        order.push(Declared {
            id: id.as_str(),
            line: *line,
            def,
            row,
        });
    }
    order
}

/// What [`order_resources`] found: the build order, and what not to build.
struct Order<'t> {
    /// Indices into [`Template::resources`], each after what it depends on.
    sorted: Vec<usize>,
    /// Resources with a reference to nothing: reported once here, and not built.
    broken: HashSet<&'t str>,
}

/// Stage 3: every `Ref`, `Fn::GetAtt`, `${…}`, `DependsOn` and `Condition` of each resource
/// is checked (unknown targets reported once), and a depth-first sort orders the resources
/// after what they refer to, reporting every cycle.
fn order_resources<'t>(t: &Template<'t>, problems: &mut Problems) -> Order<'t> {
    let mut deps: BTreeMap<&str, Vec<(String, usize)>> = BTreeMap::new();
    let mut broken: HashSet<&str> = HashSet::new();
    for r in &t.resources {
        let id = r.id;
        let origin = Origin::new(id, r.row.ty, r.line);
        let mut refs = vec![];
        if let Some(props) = r.def.get("Properties") {
            references(props, &mut refs);
        }
        let mut out = vec![];
        for (name, rline) in refs {
            if t.known.contains(name.as_str()) {
                out.push((name, rline));
            } else if !t.params.contains_key(&name)
                && !PSEUDO.contains(&name.as_str())
                && !t.declared.contains(name.as_str())
            {
                broken.insert(id);
                problems.push(Problem::new("UnknownRef", origin.at(rline), format!("{name} is not a parameter, pseudo parameter or resource of this template"), "Ref, Fn::GetAtt and ${…} in Fn::Sub name a parameter, a pseudo parameter (AWS::Region…) or a resource's logical id", "check the spelling, or declare the parameter or resource"));
            }
        }
        if let Some(d) = r.def.get("DependsOn") {
            let items: Vec<&Node> = match &d.v {
                V::Seq(s) => s.iter().collect(),
                _ => vec![d],
            };
            for n in items {
                match n.as_str() {
                    Some(name) if t.known.contains(name) => out.push((name.to_string(), n.line)),
                    Some(name) => problems.push(Problem::new(
                        "UnknownDependsOn",
                        origin.at(n.line),
                        format!("DependsOn names {name}, which is not a resource of this template"),
                        "DependsOn lists logical ids of resources in the same template",
                        "correct the name, or remove it",
                    )),
                    None => problems.push(Problem::new(
                        "BadPropertyType",
                        origin.at(n.line),
                        "DependsOn is not a name or a list of names",
                        "DependsOn lists logical ids",
                        "write DependsOn: Name or DependsOn: [A, B]",
                    )),
                }
            }
        }
        if let Some(c) = r.def.get("Condition") {
            match c.as_str() {
                Some(name) if t.conditions.contains_key(name) => {}
                _ => problems.push(Problem::new(
                    "UnknownCondition",
                    origin.at(c.line),
                    format!("Condition {} is not declared", c.as_str().unwrap_or("?")),
                    "a resource's Condition names an entry of the Conditions section",
                    "declare the condition, or correct its name",
                )),
            }
        }
        deps.insert(id, out);
    }
    let ids: Vec<&str> = t.resources.iter().map(|r| r.id).collect();
    let mut sorted = vec![];
    for cycle in topo_sort(&ids, &deps, &mut sorted) {
        let first = cycle[0];
        let declared = t.resources.iter().find(|r| r.id == first);
        let line = declared.map_or(0, |r| r.line);
        let ty = declared.map_or("", |r| r.row.ty);
        let mut path = cycle.clone();
        path.push(first);
        problems.push(Problem::new(
            "CircularDependency",
            Origin::new(first, ty, line),
            format!("circular dependency: {}", path.join(" → ")),
            "CloudFormation creates a resource after everything it refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn), so references cannot form a cycle",
            "break the cycle: for security groups that refer to each other, move the rules into separate AWS::EC2::SecurityGroupIngress/Egress resources",
        ));
    }
    Order { sorted, broken }
}

/// Stage 4: each resource built in order (its `Condition`, then its properties evaluated and
/// turned into model resources), then the outputs. A resource that cannot be built is
/// `Failed`; whatever refers to it is skipped silently.
fn build_resources<'t>(
    region: &'static Region,
    opts: &'t Options,
    t: Template<'t>,
    order: &Order<'t>,
    problems: Problems,
) -> Builder<'t> {
    let ctx = Ctx {
        region,
        stack_name: &opts.stack_name,
        account_id: catalog::ACCOUNT_ID,
        params: t.params,
        mappings: t.mappings,
        conditions: t.conditions,
        condition_values: RefCell::new(HashMap::new()),
        resources: t
            .resources
            .iter()
            .map(|r| (r.id.to_string(), (r.row.ty.to_string(), Slot::Pending)))
            .collect(),
        current: Origin::default(),
    };
    let mut b = Builder::new(ctx);
    b.problems = problems;
    pin_addresses(&mut b, &t.resources);
    for &i in &order.sorted {
        let Declared { id, line, def, row } = t.resources[i];
        let ty = row.ty;
        let origin = Origin::new(id, ty, line);
        b.ctx.current = origin.clone();
        if let Some(c) = def.get("Condition").and_then(|c| c.as_str()) {
            match b.ctx.condition(c, line) {
                Ok(true) => {}
                Ok(false) => {
                    b.ctx
                        .resources
                        .insert(id.to_string(), (ty.to_string(), Slot::Skipped));
                    continue;
                }
                Err(e) => {
                    push_eval_error(&mut b.problems, e);
                    b.ctx
                        .resources
                        .insert(id.to_string(), (ty.to_string(), Slot::Failed));
                    continue;
                }
            }
        }
        if order.broken.contains(id) {
            b.ctx
                .resources
                .insert(id.to_string(), (ty.to_string(), Slot::Failed));
            continue;
        }
        let props = match def.get("Properties") {
            None => Ok(Some(Node {
                v: V::Map(vec![]),
                line,
            })),
            Some(p) => b.ctx.eval(p),
        };
        let slot = match props {
            Ok(props) => {
                let props = props.unwrap_or(Node {
                    v: V::Map(vec![]),
                    line,
                });
                match b.build(row, props, origin) {
                    Ok(built) => Slot::Built(built),
                    Err(_) => Slot::Failed,
                }
            }
            Err(e) => {
                push_eval_error(&mut b.problems, e);
                Slot::Failed
            }
        };
        b.ctx
            .resources
            .insert(id.to_string(), (ty.to_string(), slot));
    }
    if let Some(outs) = t.outputs {
        build_outputs(&mut b, outs);
    }
    b
}

/// The template's outputs, evaluated against the built lab.
fn build_outputs(b: &mut Builder, outs: &Node) {
    for (key, line, def) in outs.entries() {
        b.ctx.current = Origin {
            logical_id: Some(key.clone()),
            resource_type: Some("Output".into()),
            line: Some(*line),
        };
        if let Some(c) = def.get("Condition").and_then(|c| c.as_str()) {
            if !b.ctx.condition(c, *line).unwrap_or(false) {
                continue;
            }
        }
        let Some(v) = def.get("Value") else {
            b.problems.push(Problem::new(
                "MissingProperty",
                b.ctx.current.clone(),
                format!("output {key} has no Value"),
                "every output has a Value",
                "add Value: …",
            ));
            continue;
        };
        match b.ctx.eval(v) {
            Ok(Some(n)) => {
                let value = match &n.v {
                    V::Scalar { text, .. } => text.clone(),
                    V::Seq(items) => items
                        .iter()
                        .filter_map(|i| i.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => n.to_json().to_string(),
                };
                let description = def
                    .get("Description")
                    .and_then(|d| d.as_str())
                    .map(str::to_string);
                b.lab.outputs.push(Output {
                    key: key.clone(),
                    value,
                    description,
                });
            }
            Ok(None) => {}
            Err(EvalError::Poisoned) => {}
            Err(e) => push_eval_error(&mut b.problems, e),
        }
    }
}

/// Stage 5: the model's `verify_*` passes over the built lab; every problem of every stage,
/// sorted by line, or the lab.
fn verify_lab(b: Builder) -> Result<Lab, Problems> {
    let mut problems = b.problems;
    for p in verify::verify(&b.lab).0 {
        problems.push(p);
    }
    // Checked when an endpoint is created, not again on live changes (see the pass).
    let mut permissions = Problems::default();
    verify::verify_endpoint_permissions(&b.lab, &mut permissions);
    for p in permissions.0 {
        problems.push(p);
    }
    problems.into_result().map(|()| b.lab)
}

/// Records every `PrivateIpAddress` a template pins (when it is a literal or a parameter), so
/// that automatic allocation never takes an address a later resource asks for.
fn pin_addresses(b: &mut Builder, resources: &[Declared]) {
    fn walk(n: &Node, b: &Builder, out: &mut Vec<std::net::Ipv4Addr>) {
        match &n.v {
            V::Map(m) => {
                for (k, _, v) in m {
                    if k == "PrivateIpAddress" || k == "PrivateIPv4Address" {
                        if let Ok(Some(Node {
                            v: V::Scalar { text, .. },
                            ..
                        })) = b.ctx.eval(v)
                        {
                            if let Ok(ip) = text.trim().parse() {
                                out.push(ip);
                            }
                        }
                    } else {
                        walk(v, b, out);
                    }
                }
            }
            V::Seq(items) => items.iter().for_each(|i| walk(i, b, out)),
            _ => {}
        }
    }
    let mut ips = vec![];
    for r in resources {
        if let Some(p) = r.def.get("Properties") {
            walk(p, b, &mut ips);
        }
    }
    b.pinned.extend(ips);
}

/// Orders `ids` so that every resource comes after what it depends on (template order among
/// equals), as indices into `ids`. Returns the cycles found; resources on or behind a cycle
/// are left out of `out`.
fn topo_sort<'a>(
    ids: &[&'a str],
    deps: &BTreeMap<&'a str, Vec<(String, usize)>>,
    out: &mut Vec<usize>,
) -> Vec<Vec<&'a str>> {
    let mut s = Sorter {
        ids,
        deps,
        index: ids.iter().enumerate().map(|(i, id)| (*id, i)).collect(),
        mark: vec![Mark::New; ids.len()],
        stack: vec![],
        out,
        cycles: vec![],
    };
    for i in 0..ids.len() {
        s.visit(i);
    }
    s.cycles
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    New,
    Active,
    Done,
    Broken,
}

/// Depth-first topological sort that records cycles instead of failing on the first.
struct Sorter<'a, 'o> {
    ids: &'o [&'a str],
    deps: &'o BTreeMap<&'a str, Vec<(String, usize)>>,
    index: HashMap<&'a str, usize>,
    mark: Vec<Mark>,
    stack: Vec<usize>,
    out: &'o mut Vec<usize>,
    cycles: Vec<Vec<&'a str>>,
}

impl Sorter<'_, '_> {
    /// Visits resource `i`; false when it is on or behind a cycle.
    fn visit(&mut self, i: usize) -> bool {
        match self.mark[i] {
            Mark::Done => return true,
            Mark::Broken => return false,
            Mark::Active => {
                let pos = self.stack.iter().position(|&s| s == i).unwrap_or(0);
                let cycle: Vec<&str> = self.stack[pos..].iter().map(|&s| self.ids[s]).collect();
                let mut key = cycle.clone();
                key.sort_unstable();
                let known = self.cycles.iter().any(|c| {
                    let mut k = c.clone();
                    k.sort_unstable();
                    k == key
                });
                if !known {
                    self.cycles.push(cycle);
                }
                return false;
            }
            Mark::New => {}
        }
        self.mark[i] = Mark::Active;
        self.stack.push(i);
        let mut ok = true;
        let deps: Vec<usize> = self
            .deps
            .get(self.ids[i])
            .map(|v| {
                v.iter()
                    .filter_map(|(d, _)| self.index.get(d.as_str()).copied())
                    .collect()
            })
            .unwrap_or_default();
        for j in deps {
            ok &= self.visit(j);
        }
        self.stack.pop();
        self.mark[i] = if ok { Mark::Done } else { Mark::Broken };
        if ok {
            self.out.push(i);
        }
        ok
    }
}
