//! Finding a resource by what a user types: its id, its template logical id, or its `Name` tag.
//!
//! Contract: an exact id wins, then a logical id, then a `Name` tag. A `Name` that several
//! resources share is an error that lists every candidate with its id and logical id (the
//! seed-2 template tags both of its route tables `CloudNeta-Public-RT`), never a guess.

use std::fmt;

use super::*;

/// The kinds of resource a user can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// VPCs (`vpc-…`).
    Vpc,
    /// Subnets (`subnet-…`).
    Subnet,
    /// Route tables (`rtb-…`).
    RouteTable,
    /// Security groups (`sg-…`; their group name also names them).
    SecurityGroup,
    /// Network ACLs (`acl-…`).
    NetworkAcl,
    /// Instances (`i-…`).
    Instance,
    /// Network interfaces (`eni-…`; by id only).
    NetworkInterface,
    /// Internet gateways (`igw-…`).
    InternetGateway,
    /// VPC endpoints (`vpce-…`).
    VpcEndpoint,
    /// Endpoint services (`vpce-svc-…`; their service name also names them).
    EndpointService,
    /// Load balancers (by ARN; their name also names them).
    LoadBalancer,
    /// Target groups (by ARN; their name also names them).
    TargetGroup,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Vpc => "VPC",
            Kind::Subnet => "subnet",
            Kind::RouteTable => "route table",
            Kind::SecurityGroup => "security group",
            Kind::NetworkAcl => "network ACL",
            Kind::Instance => "instance",
            Kind::NetworkInterface => "network interface",
            Kind::InternetGateway => "internet gateway",
            Kind::VpcEndpoint => "VPC endpoint",
            Kind::EndpointService => "VPC endpoint service",
            Kind::LoadBalancer => "load balancer",
            Kind::TargetGroup => "target group",
        })
    }
}

/// Why a name did not lead to exactly one resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing has that id, logical id or `Name`.
    #[error("no {kind} is named '{query}' (by id, logical id or Name tag); known: {}", known.join(", "))]
    NotFound {
        /// The kind of resource looked for.
        kind: Kind,
        /// What the user typed.
        query: String,
        /// Every resource of that kind, as `id (logical id, Name=…)`, for the message.
        known: Vec<String>,
    },
    /// Several resources share that `Name` tag.
    #[error("the Name '{query}' is ambiguous: {} {kind}s carry it: {}; name one by its id or logical id", candidates.len(), candidates.join(", "))]
    Ambiguous {
        /// The kind of resource looked for.
        kind: Kind,
        /// The `Name` tag the user typed.
        query: String,
        /// Each resource carrying it, as `id (logical id)`.
        candidates: Vec<String>,
    },
}

/// One resource as lookup sees it.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The id (or ARN).
    pub id: &'a str,
    /// Other exact names (a load balancer's name).
    pub alias: Option<&'a str>,
    /// The template's logical id, if the resource came from the template.
    pub logical_id: Option<&'a str>,
    /// The resource's tags (its `Name` tag names it).
    pub tags: &'a Tags,
}

impl Lab {
    /// The resources of one kind, as lookup sees them.
    pub fn entries(&self, kind: Kind) -> Vec<Entry<'_>> {
        fn e<'a>(id: &'a str, o: &'a Origin, tags: &'a Tags) -> Entry<'a> {
            Entry {
                id,
                alias: None,
                logical_id: o.logical_id.as_deref(),
                tags,
            }
        }
        static NO_TAGS: Tags = Tags(Vec::new());
        match kind {
            Kind::Vpc => self
                .vpcs
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::Subnet => self
                .subnets
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::RouteTable => self
                .route_tables
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::SecurityGroup => self
                .security_groups
                .iter()
                .map(|x| Entry {
                    alias: Some(&x.group_name),
                    ..e(x.id.as_str(), &x.origin, &x.tags)
                })
                .collect(),
            Kind::NetworkAcl => self
                .network_acls
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::Instance => self
                .instances
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::NetworkInterface => self
                .network_interfaces
                .iter()
                .map(|x| Entry {
                    id: x.id.as_str(),
                    alias: None,
                    logical_id: None,
                    tags: &NO_TAGS,
                })
                .collect(),
            Kind::InternetGateway => self
                .internet_gateways
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::VpcEndpoint => self
                .vpc_endpoints
                .iter()
                .map(|x| e(x.id.as_str(), &x.origin, &x.tags))
                .collect(),
            Kind::EndpointService => self
                .endpoint_services
                .iter()
                .map(|x| Entry {
                    alias: Some(&x.service_name),
                    ..e(x.id.as_str(), &x.origin, &x.tags)
                })
                .collect(),
            Kind::LoadBalancer => self
                .load_balancers
                .iter()
                .map(|x| Entry {
                    alias: Some(&x.name),
                    ..e(&x.arn, &x.origin, &x.tags)
                })
                .collect(),
            Kind::TargetGroup => self
                .target_groups
                .iter()
                .map(|x| Entry {
                    alias: Some(&x.name),
                    ..e(&x.arn, &x.origin, &x.tags)
                })
                .collect(),
        }
    }

    /// The id (or ARN) of the one resource of `kind` that `query` names.
    pub fn find(&self, kind: Kind, query: &str) -> Result<String, LookupError> {
        let entries = self.entries(kind);
        if let Some(x) = entries
            .iter()
            .find(|x| x.id == query || x.alias == Some(query))
        {
            return Ok(x.id.to_string());
        }
        if let Some(x) = entries.iter().find(|x| x.logical_id == Some(query)) {
            return Ok(x.id.to_string());
        }
        let named: Vec<&Entry> = entries
            .iter()
            .filter(|x| x.tags.name() == Some(query))
            .collect();
        match named.as_slice() {
            [one] => Ok(one.id.to_string()),
            [] => Err(LookupError::NotFound {
                kind,
                query: query.to_string(),
                known: entries
                    .iter()
                    .map(|x| match (x.logical_id, x.tags.name()) {
                        (Some(l), Some(n)) => format!("{} ({l}, Name={n})", x.id),
                        (Some(l), None) => format!("{} ({l})", x.id),
                        (None, Some(n)) => format!("{} (Name={n})", x.id),
                        (None, None) => x.id.to_string(),
                    })
                    .collect(),
            }),
            many => Err(LookupError::Ambiguous {
                kind,
                query: query.to_string(),
                candidates: many
                    .iter()
                    .map(|x| format!("{} ({})", x.id, x.logical_id.unwrap_or("implicit")))
                    .collect(),
            }),
        }
    }

    /// The display name of a resource id: `rtb-… (CloudNetaPrivateRT)`.
    pub fn label(&self, kind: Kind, id: &str) -> String {
        match self
            .entries(kind)
            .iter()
            .find(|x| x.id == id)
            .and_then(|x| x.logical_id)
        {
            Some(l) => format!("{id} ({l})"),
            None => id.to_string(),
        }
    }
}
