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
            None => {
                let t = p.origin.resource_type.clone().unwrap_or_default();
                self.report(
                    "MissingProperty",
                    p.origin.clone(),
                    format!("{k} is required"),
                    &format!("{t} needs {k}"),
                    &format!("add {k} to the resource's Properties"),
                );
                Err(Failed)
            }
        }
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
        for it in items.clone() {
            let a = Props {
                node: it.clone(),
                origin: p.origin.at(it.line),
            };
            let key = self.req_str(&a, "Key")?;
            let value = self.req_str(&a, "Value")?;
            out.insert(key, value);
        }
        Ok(out)
    }

    pub(super) fn opt_bool(&mut self, p: &Props, k: &str, default: bool) -> R<bool> {
        match self.opt_str(p, k)? {
            None => Ok(default),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => {
                    self.report(
                        "BadPropertyType",
                        p.at(k),
                        format!("{k} is '{s}', not true or false"),
                        &format!("{k} is a boolean"),
                        "write true or false",
                    );
                    Err(Failed)
                }
            },
        }
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
        self.report(
            "UnknownResourceId",
            p.at(k),
            format!("{k} '{value}' is not a {kind} of this template"),
            &format!("{k} names a {kind} that the lab has"),
            &format!("use !Ref to the {kind}'s logical id"),
        );
        Err(Failed)
    }

    pub(super) fn req_id(&mut self, p: &Props, k: &str, kind: Kind) -> R<String> {
        let v = self.req_str(p, k)?;
        self.id_of(p, k, kind, &v)
    }

    pub(super) fn vpc_id(&mut self, p: &Props, k: &str) -> R<VpcId> {
        let s = self.req_id(p, k, Kind::Vpc)?;
        Ok(VpcId::parse(&s).expect("ids in the lab parse"))
    }
    pub(super) fn subnet_id(&mut self, p: &Props, k: &str) -> R<SubnetId> {
        let s = self.req_id(p, k, Kind::Subnet)?;
        Ok(SubnetId::parse(&s).expect("ids in the lab parse"))
    }
    pub(super) fn rt_id(&mut self, p: &Props, k: &str) -> R<RouteTableId> {
        let s = self.req_id(p, k, Kind::RouteTable)?;
        Ok(RouteTableId::parse(&s).expect("ids in the lab parse"))
    }
    pub(super) fn sg_ids(&mut self, p: &Props, k: &str) -> R<Vec<SgId>> {
        let mut out = vec![];
        for s in self.str_list(p, k)? {
            let s = self.id_of(p, k, Kind::SecurityGroup, &s)?;
            out.push(SgId::parse(&s).expect("ids in the lab parse"));
        }
        Ok(out)
    }

    pub(super) fn parse_pinned(
        &mut self,
        p: &Props,
        k: &str,
        s: Option<String>,
    ) -> R<Option<Ipv4Addr>> {
        match s {
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
