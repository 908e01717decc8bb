//! Resources → model: one function per CloudFormation type.
//!
//! Contract: [`Builder::build`] turns one resource's evaluated properties into model
//! resources, applying AWS's defaults (main route table, default security group and network
//! ACL with each VPC; allow-all egress for a new security group; deny-all for a custom network
//! ACL; the VPC default security group where none is given) and allocating ids, addresses and
//! MACs deterministically. Property problems (missing, wrong type, unknown, naming something
//! that is not in the template) are reported with the property's line; a resource that cannot
//! be built is `Failed`, and what refers to it is not reported again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use base64::Engine;
use ipnet::Ipv4Net;

use super::eval::{Built, Ctx, EvalError};
use super::yaml::{Node, V};
use crate::model::catalog::{parse_service_name, ServiceName};
use crate::model::cidr::AddressPool;
use crate::model::ids::hex_digits;
use crate::model::lookup::Kind;
use crate::model::*;

mod compute;
mod endpoints;
mod load_balancing;
mod network;
mod observability;
mod props;
mod routing;
mod security;

use self::props::{tags_of, Complaint, Props};

/// One supported resource type: its name, the properties it accepts (read or recorded), and
/// the function that builds it. Each family file holds its own rows beside its builders, so
/// the list of supported types and the dispatch cannot disagree.
pub struct Row {
    /// The CloudFormation type, e.g. `AWS::EC2::VPC`.
    pub ty: &'static str,
    /// The properties the type accepts; any other is an `UnknownProperty`.
    pub properties: &'static [&'static str],
    build: fn(&mut Builder<'_>, &Props, &str) -> R<Built>,
}

/// Every family's rows, in the order types are listed to a user.
const FAMILIES: &[&[Row]] = &[
    network::ROWS,
    routing::ROWS,
    security::ROWS,
    compute::ROWS,
    endpoints::ROWS,
    load_balancing::ROWS,
    observability::ROWS,
];

/// The supported resource types, in the order they are listed to a user.
pub fn supported() -> impl Iterator<Item = &'static Row> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The row of a supported type.
pub fn row(t: &str) -> Option<&'static Row> {
    supported().find(|r| r.ty == t)
}

/// The accepted properties of a supported type.
pub fn properties_of(t: &str) -> Option<&'static [&'static str]> {
    row(t).map(|r| r.properties)
}

/// A resource failed to build; its problems are already reported.
pub struct Failed;

type R<T> = Result<T, Failed>;

/// Builds the lab one resource at a time.
pub struct Builder<'a> {
    /// What intrinsic functions read: region, parameters, conditions, the resources built so far.
    pub ctx: Ctx<'a>,
    /// The lab built so far.
    pub lab: Lab,
    /// Problems found so far, every stage's.
    pub problems: Problems,
    pools: HashMap<SubnetId, AddressPool>,
    public_pool: AddressPool,
    /// Addresses a template pins anywhere, kept free of automatic allocation.
    pub pinned: HashSet<Ipv4Addr>,
}

impl<'a> Builder<'a> {
    /// A builder over `ctx`, with an empty lab in its region.
    pub fn new(ctx: Ctx<'a>) -> Self {
        let lab = Lab::new(ctx.stack_name, ctx.region.name);
        let public_pool = AddressPool::public(ctx.region.public_pool());
        Builder {
            ctx,
            lab,
            problems: Problems::default(),
            pools: HashMap::new(),
            public_pool,
            pinned: HashSet::new(),
        }
    }

    fn report(&mut self, code: &'static str, o: Origin, msg: String, rule: &str, fix: &str) {
        self.problems.push(Problem::new(code, o, msg, rule, fix));
    }

    /// Reports every property that `row`'s type does not accept.
    fn check_known(&mut self, p: &Props, row: &Row) {
        let (t, known) = (row.ty, row.properties);
        for (k, line, _) in p.node.entries() {
            if !known.contains(&k.as_str()) {
                self.report(
                    "UnknownProperty",
                    p.origin.at(*line),
                    format!("{t} has no property {k}"),
                    &format!("{t} accepts {}", known.join(", ")),
                    "check the property's spelling and capitalisation",
                );
            }
        }
    }

    fn cfn_tags(&self, o: &Origin, own: Tags) -> Tags {
        let mut t = own;
        if let Some(l) = &o.logical_id {
            t.set("aws:cloudformation:logical-id", l);
        }
        t.set("aws:cloudformation:stack-name", self.ctx.stack_name);
        t.set("aws:cloudformation:stack-id", &self.ctx.stack_id());
        t
    }

    fn pool(&mut self, subnet: &SubnetId) -> &mut AddressPool {
        let cidr = self
            .lab
            .subnet(subnet)
            .map(|s| s.cidr)
            .unwrap_or_else(|| Ipv4Net::from(Ipv4Addr::UNSPECIFIED));
        self.pools
            .entry(subnet.clone())
            .or_insert_with(|| AddressPool::subnet(cidr))
    }

    /// A private address in `subnet`: `pinned` if given (problems are the verify pass's),
    /// else a deterministic free one.
    fn private_ip(
        &mut self,
        p: &Props,
        subnet: &SubnetId,
        pinned: Option<Ipv4Addr>,
        seed: &str,
    ) -> R<Ipv4Addr> {
        if let Some(ip) = pinned {
            let _ = self.pool(subnet).take(ip);
            return Ok(ip);
        }
        let avoid = self.pinned.clone();
        loop {
            match self.pool(subnet).allocate(seed) {
                Ok(ip) if avoid.contains(&ip) => continue,
                Ok(ip) => return Ok(ip),
                Err(e) => {
                    self.report(
                        "SubnetFull",
                        p.origin.clone(),
                        format!("cannot place an address: {e}"),
                        "every network interface needs a free address of its subnet",
                        "use a larger subnet or fewer interfaces",
                    );
                    return Err(Failed);
                }
            }
        }
    }

    fn public_ip(&mut self, seed: &str) -> Ipv4Addr {
        self.public_pool
            .allocate(seed)
            .expect("a region's public pool holds millions of addresses, a lab takes a few dozen")
    }

    // ---- the types --------------------------------------------------------------------

    /// Builds one resource of the type `row` stands for. `props` is the evaluated
    /// `Properties` (or an empty map).
    pub fn build(&mut self, row: &Row, props: Node, origin: Origin) -> R<Built> {
        let p = Props {
            node: props,
            origin,
        };
        if !matches!(p.node.v, V::Map(_) | V::Null) {
            self.report(
                "BadPropertyType",
                p.origin.clone(),
                format!("Properties is {}, not a mapping", p.node.kind()),
                "a resource's Properties is a mapping of property names to values",
                "indent the properties under Properties:",
            );
            return Err(Failed);
        }
        self.check_known(&p, row);
        let logical = p.origin.logical_id.clone().unwrap_or_default();
        (row.build)(self, &p, &logical)
    }
}

/// 0.0.0.0/0: every IPv4 address.
const ANY: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0);

/// The local route of a VPC CIDR.
pub fn local_route(cidr: Ipv4Net, origin: &Origin) -> Route {
    Route {
        destination: Destination::Cidr(cidr.trunc()),
        target: RouteTarget::Local,
        route_origin: RouteOrigin::CreateRouteTable,
        origin: origin.clone(),
    }
}

/// A new network ACL's entries: the default ACL allows everything (rule 100) before the
/// final deny; a custom ACL has only the final deny.
pub fn default_acl_entries(allow_all: bool, origin: &Origin) -> Vec<AclEntry> {
    let mut out = vec![];
    for egress in [false, true] {
        if allow_all {
            out.push(AclEntry {
                rule_number: 100,
                egress,
                action: RuleAction::Allow,
                protocol: Protocol::All,
                cidr: ANY,
                port_range: None,
                icmp: None,
                origin: origin.clone(),
            });
        }
        out.push(AclEntry {
            rule_number: ACL_DEFAULT_RULE,
            egress,
            action: RuleAction::Deny,
            protocol: Protocol::All,
            cidr: ANY,
            port_range: None,
            icmp: None,
            origin: origin.clone(),
        });
    }
    out
}

/// Reports an [`EvalError`] (poison is already reported).
pub fn push_eval_error(problems: &mut Problems, e: EvalError) {
    if let EvalError::Problem(p) = e {
        problems.push(*p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_one_row_and_its_properties() {
        let types: Vec<&str> = supported().map(|r| r.ty).collect();
        let unique: HashSet<&str> = types.iter().copied().collect();
        assert_eq!((types.len(), unique.len()), (22, 22));
        assert_eq!(types[0], "AWS::EC2::VPC");
        assert_eq!(types[20], "AWS::ElasticLoadBalancingV2::Listener");
        assert!(properties_of("AWS::EC2::Subnet").is_some_and(|p| p.contains(&"VpcId")));
        assert!(row("AWS::EC2::NatGateway").is_none());
    }
}

/// Loading small templates for the families' tests.
#[cfg(test)]
mod testkit {
    use crate::model::{Lab, Problem};
    use crate::template::{load, Options};

    /// A VPC (10.0.0.0/16) and a subnet (10.0.1.0/24) to build on, then `resources`
    /// (indented as entries of Resources).
    pub(super) fn template(resources: &str) -> String {
        format!(
            "Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.0.0.0/16\n  S:\n    Type: AWS::EC2::Subnet\n    Properties:\n      VpcId: !Ref V\n      CidrBlock: 10.0.1.0/24\n{resources}"
        )
    }

    /// The lab `resources` build (on top of [`template`]'s VPC and subnet).
    pub(super) fn lab(resources: &str) -> Lab {
        match load(&template(resources), &Options::default()) {
            Ok(lab) => lab,
            Err(p) => panic!("the template should load, but: {p}"),
        }
    }

    /// The one problem `resources` have; it names the resource's logical id `id`.
    pub(super) fn problem(resources: &str, id: &str) -> Problem {
        let problems = match load(&template(resources), &Options::default()) {
            Ok(_) => panic!("the template should not load"),
            Err(p) => p,
        };
        let [p] = problems.0.as_slice() else {
            panic!("one problem expected, got: {problems}");
        };
        assert_eq!(p.origin.logical_id.as_deref(), Some(id), "{p:?}");
        p.clone()
    }
}
