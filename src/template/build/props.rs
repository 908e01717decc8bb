//! Reading a resource's evaluated properties, reporting what is wrong with them.
//!
//! Contract: every reader takes the resource's [`Props`] and a property name, and returns the
//! value, or reports one located problem (the property's line, the resource's logical id) and
//! returns [`Failed`]. A missing optional property is `None` or its AWS default; ids must name
//! a resource of the right kind that the lab already has.

use super::*;

/// The properties of one resource, evaluated.
pub(super) struct Props {
    pub(super) node: Node,
    pub(super) origin: Origin,
}

impl Props {
    pub(super) fn get(&self, k: &str) -> Option<&Node> {
        self.node.get(k)
    }
    pub(super) fn line(&self, k: &str) -> usize {
        self.node
            .entries()
            .iter()
            .find(|(key, _, _)| key == k)
            .map(|(_, l, _)| *l)
            .or(self.origin.line)
            .unwrap_or(0)
    }
    pub(super) fn at(&self, k: &str) -> Origin {
        self.origin.at(self.line(k))
    }
    /// A nested mapping (a list item, `MetadataOptions`…) read as properties of its own,
    /// located at its own line.
    pub(super) fn item(&self, n: &Node) -> Props {
        Props {
            node: n.clone(),
            origin: self.origin.at(n.line),
        }
    }
    /// A nested mapping read as properties of its own, located at the line of key `k`.
    pub(super) fn under(&self, k: &str, n: &Node) -> Props {
        Props {
            node: n.clone(),
            origin: self.at(k),
        }
    }
}

/// What to report when a property's value is not one of its choices.
pub(super) struct Complaint {
    pub(super) code: &'static str,
    pub(super) msg: String,
    pub(super) rule: String,
    pub(super) fix: String,
}

impl Complaint {
    pub(super) fn new(
        code: &'static str,
        msg: String,
        rule: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Complaint {
            code,
            msg,
            rule: rule.into(),
            fix: fix.into(),
        }
    }
}

pub(super) fn scalar_of(n: &Node) -> Option<String> {
    match &n.v {
        V::Scalar { text, .. } => Some(text.clone()),
        _ => None,
    }
}

pub(super) fn tags_of(n: Option<&Node>) -> Tags {
    let mut t = Tags::default();
    if let Some(Node {
        v: V::Seq(items), ..
    }) = n
    {
        for i in items {
            if let (Some(k), Some(v)) = (
                i.get("Key").and_then(scalar_of),
                i.get("Value").and_then(scalar_of),
            ) {
                t.set(&k, &v);
            }
        }
    }
    t
}

impl Builder<'_> {
    pub(super) fn opt_str(&mut self, p: &Props, k: &str) -> R<Option<String>> {
        match p.get(k) {
            None | Some(Node { v: V::Null, .. }) => Ok(None),
            Some(n) => match scalar_of(n) {
                Some(s) => Ok(Some(s)),
                None => {
                    self.report(
                        "BadPropertyType",
                        p.at(k),
                        format!("{k} is {}, not a single value", n.kind()),
                        &format!("{k} takes a string"),
                        "write a single value",
                    );
                    Err(Failed)
                }
            },
        }
    }

    pub(super) fn req_str(&mut self, p: &Props, k: &str) -> R<String> {
        match self.opt_str(p, k)? {
            Some(s) => Ok(s),
            None => Err(self.missing(p, k)),
        }
    }

    /// Reports that the required property `k` is missing.
    fn missing(&mut self, p: &Props, k: &str) -> Failed {
        let t = p.origin.resource_type.clone().unwrap_or_default();
        self.report(
            "MissingProperty",
            p.origin.clone(),
            format!("{k} is required"),
            &format!("{t} needs {k}"),
            &format!("add {k} to the resource's Properties"),
        );
        Failed
    }

    /// `value` of property `k`, which must be one of `choices`: the choice's meaning, or
    /// `bad(value)` reported at `k`.
    pub(super) fn pick<T: Copy>(
        &mut self,
        p: &Props,
        k: &str,
        value: &str,
        choices: &[(&str, T)],
        bad: impl FnOnce(&str) -> Complaint,
    ) -> R<T> {
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == value) {
            return Ok(*t);
        }
        let c = bad(value);
        self.report(c.code, p.at(k), c.msg, &c.rule, &c.fix);
        Err(Failed)
    }

    /// Optional string property `k` that must be one of `choices`: `absent` when it is not
    /// given, else the choice's meaning, or `bad(value)` reported at `k`.
    pub(super) fn choice<T: Copy>(
        &mut self,
        p: &Props,
        k: &str,
        absent: T,
        choices: &[(&str, T)],
        bad: impl FnOnce(&str) -> Complaint,
    ) -> R<T> {
        match self.opt_str(p, k)? {
            None => Ok(absent),
            Some(v) => self.pick(p, k, &v, choices, bad),
        }
    }

    /// Optional string property `k`, `default` when it is not given, that must be one of
    /// `allowed`: the value, or `bad(value)` reported at `k`.
    pub(super) fn one_of(
        &mut self,
        p: &Props,
        k: &str,
        default: &str,
        allowed: &[&str],
        bad: impl FnOnce(&str) -> Complaint,
    ) -> R<String> {
        let v = self.opt_str(p, k)?.unwrap_or_else(|| default.to_string());
        if allowed.contains(&v.as_str()) {
            return Ok(v);
        }
        let c = bad(&v);
        self.report(c.code, p.at(k), c.msg, &c.rule, &c.fix);
        Err(Failed)
    }

    /// A `[{Key, Value}]` list (load balancer and target group attributes) as a map.
    pub(super) fn key_values(&mut self, p: &Props, k: &str) -> R<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let Some(n) = p.get(k) else {
            return Ok(out);
        };
        let V::Seq(items) = &n.v else {
            self.report(
                "BadPropertyType",
                p.at(k),
                format!("{k} is not a list"),
                "attributes are a list of {Key, Value} pairs",
                &format!("write {k}: [{{Key: deregistration_delay.timeout_seconds, Value: '30'}}]"),
            );
            return Err(Failed);
        };
        for it in items {
            let a = p.item(it);
            let key = self.req_str(&a, "Key")?;
            let value = self.req_str(&a, "Value")?;
            out.insert(key, value);
        }
        Ok(out)
    }

    /// Optional property `k`: `true` or `false` in any case, `default` when absent.
    pub(super) fn opt_bool(&mut self, p: &Props, k: &str, default: bool) -> R<bool> {
        let Some(s) = self.opt_str(p, k)? else {
            return Ok(default);
        };
        let bools = [("true", true), ("false", false)];
        self.pick(p, k, &s.to_ascii_lowercase(), &bools, |_| {
            Complaint::new(
                "BadPropertyType",
                format!("{k} is '{s}', not true or false"),
                format!("{k} is a boolean"),
                "write true or false",
            )
        })
    }

    pub(super) fn opt_int(&mut self, p: &Props, k: &str) -> R<Option<i64>> {
        match self.opt_str(p, k)? {
            None => Ok(None),
            Some(s) => match s.trim().parse::<i64>() {
                Ok(v) => Ok(Some(v)),
                Err(_) => {
                    self.report(
                        "BadPropertyType",
                        p.at(k),
                        format!("{k} is '{s}', not a whole number"),
                        &format!("{k} is a number"),
                        "write a whole number",
                    );
                    Err(Failed)
                }
            },
        }
    }

    /// Required property `k`: a whole number.
    pub(super) fn req_int(&mut self, p: &Props, k: &str) -> R<i64> {
        match self.opt_int(p, k)? {
            Some(v) => Ok(v),
            None => Err(self.missing(p, k)),
        }
    }

    pub(super) fn str_list(&mut self, p: &Props, k: &str) -> R<Vec<String>> {
        match p.get(k) {
            None | Some(Node { v: V::Null, .. }) => Ok(vec![]),
            Some(Node {
                v: V::Seq(items), ..
            }) => {
                let mut out = vec![];
                for i in items {
                    match scalar_of(i) {
                        Some(s) => out.push(s),
                        None => {
                            self.report(
                                "BadPropertyType",
                                p.origin.at(i.line),
                                format!("an item of {k} is {}", i.kind()),
                                &format!("{k} is a list of ids"),
                                "list single values",
                            );
                            return Err(Failed);
                        }
                    }
                }
                Ok(out)
            }
            Some(n) => {
                self.report(
                    "BadPropertyType",
                    p.at(k),
                    format!("{k} is {}, not a list", n.kind()),
                    &format!("{k} is a list"),
                    &format!("write {k} as a list: [ … ]"),
                );
                Err(Failed)
            }
        }
    }

    pub(super) fn cidr(&mut self, o: Origin, k: &str, s: &str) -> R<Ipv4Net> {
        s.trim().parse().map_err(|_| {
            self.report(
                "BadCidr",
                o,
                format!("{k} '{s}' is not an IPv4 CIDR block"),
                "CIDR blocks are written address/prefix, e.g. 10.0.0.0/16",
                "write an IPv4 CIDR such as 10.0.1.0/24",
            );
            Failed
        })
    }

    /// Resolves the id in property `k` to a resource of `kind` in the lab.
    pub(super) fn id_of(&mut self, p: &Props, k: &str, kind: Kind, value: &str) -> R<String> {
        let ok = self.lab.entries(kind).iter().any(|e| e.id == value);
        if ok {
            return Ok(value.to_string());
        }
        Err(self.unknown_id(p, k, kind, value))
    }

    fn unknown_id(&mut self, p: &Props, k: &str, kind: Kind, value: &str) -> Failed {
        self.report(
            "UnknownResourceId",
            p.at(k),
            format!("{k} '{value}' is not a {kind} of this template"),
            &format!("{k} names a {kind} that the lab has"),
            &format!("use !Ref to the {kind}'s logical id"),
        );
        Failed
    }

    /// Resolves `value` of property `k` to the typed id of a resource of `kind` in the lab
    /// (`parse` is the id type's parser: a lab's ids always parse).
    pub(super) fn typed_id<T>(
        &mut self,
        p: &Props,
        k: &str,
        kind: Kind,
        value: &str,
        parse: fn(&str) -> Option<T>,
    ) -> R<T> {
        let s = self.id_of(p, k, kind, value)?;
        parse(&s).ok_or_else(|| self.unknown_id(p, k, kind, value))
    }

    pub(super) fn req_id(&mut self, p: &Props, k: &str, kind: Kind) -> R<String> {
        let v = self.req_str(p, k)?;
        self.id_of(p, k, kind, &v)
    }

    /// Required property `k`: the typed id of a resource of `kind` in the lab.
    pub(super) fn req_typed_id<T>(
        &mut self,
        p: &Props,
        k: &str,
        kind: Kind,
        parse: fn(&str) -> Option<T>,
    ) -> R<T> {
        let v = self.req_str(p, k)?;
        self.typed_id(p, k, kind, &v, parse)
    }

    /// List property `k`: typed ids of resources of `kind` in the lab.
    pub(super) fn typed_ids<T>(
        &mut self,
        p: &Props,
        k: &str,
        kind: Kind,
        parse: fn(&str) -> Option<T>,
    ) -> R<Vec<T>> {
        let mut out = vec![];
        for s in self.str_list(p, k)? {
            out.push(self.typed_id(p, k, kind, &s, parse)?);
        }
        Ok(out)
    }

    pub(super) fn vpc_id(&mut self, p: &Props, k: &str) -> R<VpcId> {
        self.req_typed_id(p, k, Kind::Vpc, VpcId::parse)
    }
    pub(super) fn subnet_id(&mut self, p: &Props, k: &str) -> R<SubnetId> {
        self.req_typed_id(p, k, Kind::Subnet, SubnetId::parse)
    }
    pub(super) fn rt_id(&mut self, p: &Props, k: &str) -> R<RouteTableId> {
        self.req_typed_id(p, k, Kind::RouteTable, RouteTableId::parse)
    }
    pub(super) fn sg_ids(&mut self, p: &Props, k: &str) -> R<Vec<SgId>> {
        self.typed_ids(p, k, Kind::SecurityGroup, SgId::parse)
    }

    /// Optional property `k`: an IPv4 address (one a template pins).
    pub(super) fn opt_ip(&mut self, p: &Props, k: &str) -> R<Option<Ipv4Addr>> {
        match self.opt_str(p, k)? {
            None => Ok(None),
            Some(s) => s.trim().parse().map(Some).map_err(|_| {
                self.report(
                    "BadPropertyType",
                    p.at(k),
                    format!("{k} '{s}' is not an IPv4 address"),
                    &format!("{k} is an IPv4 address"),
                    "write an address such as 10.0.1.10",
                );
                Failed
            }),
        }
    }
}
