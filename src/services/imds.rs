//! Instance metadata (IMDS) at `http://169.254.169.254/`, IMDSv1 and IMDSv2.
//!
//! Contract: [`Imds::handle`] answers one HTTP request from the instance whose ENI has the
//! request's source address in the VPC it came from ([`Imds::instance_at`]; the caller
//! drops traffic from any other source before a connection is made). It never panics.
//!
//! - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..=21600` issues a
//!   token (200, the token as body, the TTL echoed in a header). The reply asks for IP hop
//!   limit [`MetadataOptions::put_response_hop_limit`] (1 by default), so it does not reach
//!   past the instance. Without the TTL header, or out of range: 400. With an
//!   `X-Forwarded-For` header: 403. To a dated version path: 403. Tokens belong to the
//!   instance that asked and expire after their TTL.
//! - `GET`/`HEAD` with `X-aws-ec2-metadata-token`: the token must be valid for this
//!   instance, else 401 (also when tokens are optional). Without a token: 401 when the
//!   instance requires tokens ([`HttpTokens::Required`]), else served (IMDSv1).
//! - Paths: `/` lists the versions; `/<version>/` lists `dynamic`, `meta-data` and
//!   (when the instance has one) `user-data`; `meta-data/…` walks the tree built from the
//!   model ([`Imds::update`]): a directory answers its listing (one name a line, `/` after
//!   sub-directories, no trailing newline), a leaf its value, anything else 404.
//!   `user-data` returns the decoded user data; `dynamic/instance-identity/document` the
//!   identity document (JSON).
//! - Other methods: 405.
//!
//! Choices where AWS does not document the behaviour are in
//! `docs/decisions/0008-amazon-dns-and-imds.md`.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::http::{Request, Response};
use crate::dataplane::time::Instant;
use crate::model::{EniOwner, InstanceId, Lab, VpcId};

/// The header that carries a token on GET.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The header that asks for (PUT) and reports (replies) a token's TTL.
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The longest token TTL AWS allows: six hours.
pub const MAX_TTL_SECONDS: u64 = 21_600;
/// How many live tokens are kept at most (the soonest to expire go first beyond that).
pub const MAX_TOKENS: usize = 65_536;
/// The metadata versions `/` lists (the list of AWS's documented example).
pub const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "latest",
];

/// Why a request was refused (the status says it to the client; this names it in counts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 403: the source address is not an instance's in the VPC.
    #[error("no instance of {vpc} has address {ip}")]
    UnknownSource {
        /// The VPC the request came from.
        vpc: VpcId,
        /// The request's source address.
        ip: Ipv4Addr,
    },
    /// 401: no token where one is required (`HttpTokens: required`), or a token that is
    /// unknown, expired or another instance's.
    #[error("token missing or invalid")]
    Unauthorized,
    /// 400: a token PUT without an `X-aws-ec2-metadata-token-ttl-seconds` of 1–21600.
    #[error("PUT /latest/api/token without a valid {TTL_HEADER} (1..=21600)")]
    BadTtl,
    /// 403: a token PUT carrying `X-Forwarded-For` (IMDSv2 refuses proxied token requests).
    #[error("PUT with X-Forwarded-For is refused")]
    Forwarded,
    /// 403: a token PUT under a dated version instead of `/latest/api/token`.
    #[error("tokens are issued only at /latest/api/token")]
    VersionedToken,
    /// 404: no metadata at that path (or no user data).
    #[error("no such metadata path")]
    NotFound,
    /// 405: a method other than GET and HEAD (PUT only for the token).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 403: the instance's `HttpEndpoint` is disabled.
    #[error("the instance's metadata endpoint is disabled (HttpEndpoint: disabled)")]
    Disabled,
}

impl Error {
    /// The status code of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Error::UnknownSource { .. }
            | Error::Forwarded
            | Error::VersionedToken
            | Error::Disabled => 403,
            Error::Unauthorized => 401,
            Error::BadTtl => 400,
            Error::NotFound => 404,
            Error::MethodNotAllowed => 405,
        }
    }
}

/// `HttpTokens`: whether IMDSv1 (no token) is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpTokens {
    /// IMDSv1 and v2.
    #[default]
    Optional,
    /// IMDSv2 only: a GET without a token gets 401.
    Required,
}

/// An instance's metadata options (`MetadataOptions` in EC2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataOptions {
    /// `HttpTokens`: whether a token is required.
    pub http_tokens: HttpTokens,
    /// `HttpPutResponseHopLimit`, 1..=64.
    pub put_response_hop_limit: u8,
    /// `HttpEndpoint: enabled`; disabled, every request gets 403.
    pub endpoint_enabled: bool,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions::from(&crate::model::MetadataOptions::default())
    }
}

impl From<&crate::model::MetadataOptions> for MetadataOptions {
    fn from(m: &crate::model::MetadataOptions) -> Self {
        MetadataOptions {
            http_tokens: if m.http_tokens_required {
                HttpTokens::Required
            } else {
                HttpTokens::Optional
            },
            put_response_hop_limit: m.http_put_response_hop_limit.clamp(1, 64),
            endpoint_enabled: m.http_endpoint_enabled,
        }
    }
}

/// A metadata tree node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A value (`/latest/meta-data/instance-id` → `i-…`).
    Leaf(String),
    /// A directory: its entries by name, listed one a line (`name/` for directories).
    Dir(BTreeMap<String, Node>),
}

impl Node {
    fn dir() -> Self {
        Node::Dir(BTreeMap::new())
    }

    /// Sets `path` (slash-separated) to a leaf, creating directories on the way.
    fn set(&mut self, path: &str, value: impl Into<String>) {
        let mut node = self;
        let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
        while let Some(part) = parts.next() {
            let Node::Dir(children) = node else {
                return;
            };
            if parts.peek().is_none() {
                children.insert(part.to_string(), Node::Leaf(value.into()));
                return;
            }
            node = children.entry(part.to_string()).or_insert_with(Node::dir);
        }
    }

    /// The node at `path` (slash-separated; empty components ignored).
    pub fn get(&self, path: &str) -> Option<&Node> {
        path.split('/')
            .filter(|p| !p.is_empty())
            .try_fold(self, |node, part| match node {
                Node::Dir(c) => c.get(part),
                Node::Leaf(_) => None,
            })
    }

    /// What a GET of this node returns: a leaf's value, or a directory's listing.
    pub fn render(&self) -> String {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Dir(c) => c
                .iter()
                .map(|(k, v)| match v {
                    Node::Dir(_) => format!("{k}/"),
                    Node::Leaf(_) => k.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// What IMDS serves for one instance.
#[derive(Debug, Clone)]
pub struct InstanceMetadata {
    /// The instance this metadata describes.
    pub instance: InstanceId,
    /// `/latest/meta-data/`.
    pub meta_data: Node,
    /// `/latest/dynamic/`.
    pub dynamic: Node,
    /// `/latest/user-data`.
    pub user_data: Option<Vec<u8>>,
}

struct Token {
    instance: InstanceId,
    expires: Instant,
}

/// Counts of what IMDS did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImdsCounters {
    /// Requests received.
    pub requests: u64,
    /// Session tokens issued (`PUT /latest/api/token`).
    pub tokens_issued: u64,
    /// Requests refused with 401 (token missing or invalid).
    pub unauthorized: u64,
    /// Requests answered 404.
    pub not_found: u64,
    /// Requests refused otherwise (403, 400, 405).
    pub refused: u64,
}

/// The metadata service of a lab.
pub struct Imds {
    instances: HashMap<InstanceId, InstanceMetadata>,
    by_address: HashMap<VpcId, HashMap<Ipv4Addr, InstanceId>>,
    options: HashMap<InstanceId, MetadataOptions>,
    tokens: HashMap<String, Token>,
    secret: [u8; 32],
    issued: u64,
    /// What IMDS has served.
    pub counters: ImdsCounters,
}

/// Builds the metadata of every instance of `lab`.
pub fn build(lab: &Lab) -> Vec<InstanceMetadata> {
    let region = lab.region();
    lab.instances
        .iter()
        .map(|inst| {
            let mut md = Node::dir();
            if let Some(ami) = &inst.image_id {
                md.set("ami-id", ami.clone());
            }
            md.set("ami-launch-index", "0");
            let local_hostname = if inst.private_dns_name.is_empty() {
                format!(
                    "{}.{}",
                    crate::model::ip_hostname(inst.private_ip),
                    region.private_dns_suffix
                )
            } else {
                inst.private_dns_name.clone()
            };
            md.set("hostname", local_hostname.clone());
            md.set("instance-id", inst.id.as_str());
            md.set("instance-life-cycle", "on-demand");
            md.set("instance-type", inst.instance_type.clone());
            md.set("local-hostname", local_hostname.clone());
            md.set("local-ipv4", inst.private_ip.to_string());
            md.set(
                "placement/availability-zone",
                inst.availability_zone.clone(),
            );
            if let Some(id) = region.az_id(&inst.availability_zone) {
                md.set("placement/availability-zone-id", id);
            }
            md.set("placement/region", region.name);
            if let Some(ip) = inst.public_ip {
                md.set("public-ipv4", ip.to_string());
            }
            if !inst.public_dns_name.is_empty() {
                md.set("public-hostname", inst.public_dns_name.clone());
            }
            let sg_names: Vec<&str> = inst
                .security_groups
                .iter()
                .filter_map(|g| lab.security_group(g).map(|g| g.group_name.as_str()))
                .collect();
            md.set("security-groups", sg_names.join("\n"));
            md.set("services/domain", "amazonaws.com");
            md.set("services/partition", "aws");

            // The primary ENI first, then the others in model order: device numbers.
            let mut enis: Vec<_> = lab
                .network_interfaces
                .iter()
                .filter(|e| e.owner == EniOwner::Instance(inst.id.clone()))
                .collect();
            enis.sort_by_key(|e| e.id != inst.eni);
            if let Some(primary) = enis.first() {
                md.set("mac", primary.mac.to_string());
            }
            for (n, eni) in enis.iter().enumerate() {
                let base = format!("network/interfaces/macs/{}", eni.mac);
                let set = |md: &mut Node, k: &str, v: String| md.set(&format!("{base}/{k}"), v);
                set(&mut md, "device-number", n.to_string());
                set(&mut md, "interface-id", eni.id.to_string());
                set(
                    &mut md,
                    "local-hostname",
                    format!(
                        "{}.{}",
                        crate::model::ip_hostname(eni.private_ip),
                        region.private_dns_suffix
                    ),
                );
                set(&mut md, "local-ipv4s", eni.private_ip.to_string());
                set(&mut md, "mac", eni.mac.to_string());
                set(&mut md, "owner-id", lab.account_id.clone());
                if let Some(public) = eni.public_ip {
                    set(
                        &mut md,
                        &format!("ipv4-associations/{public}"),
                        eni.private_ip.to_string(),
                    );
                    set(&mut md, "public-ipv4s", public.to_string());
                    if lab
                        .vpc(&eni.vpc)
                        .is_some_and(|v| v.enable_dns_support && v.enable_dns_hostnames)
                    {
                        set(
                            &mut md,
                            "public-hostname",
                            crate::model::public_hostname(public, region),
                        );
                    }
                }
                let sg_ids: Vec<&str> = eni.security_groups.iter().map(|g| g.as_str()).collect();
                set(&mut md, "security-group-ids", sg_ids.join("\n"));
                let names: Vec<&str> = eni
                    .security_groups
                    .iter()
                    .filter_map(|g| lab.security_group(g).map(|g| g.group_name.as_str()))
                    .collect();
                set(&mut md, "security-groups", names.join("\n"));
                set(&mut md, "subnet-id", eni.subnet.to_string());
                if let Some(s) = lab.subnet(&eni.subnet) {
                    set(&mut md, "subnet-ipv4-cidr-block", s.cidr.to_string());
                }
                set(&mut md, "vpc-id", eni.vpc.to_string());
                if let Some(v) = lab.vpc(&eni.vpc) {
                    set(&mut md, "vpc-ipv4-cidr-block", v.cidr.to_string());
                    set(&mut md, "vpc-ipv4-cidr-blocks", v.cidr.to_string());
                }
            }

            let mut dynamic = Node::dir();
            let doc = serde_json::json!({
                "accountId": lab.account_id,
                "architecture": match std::env::consts::ARCH {
                    "aarch64" => "arm64",
                    other => other,
                },
                "availabilityZone": inst.availability_zone,
                "imageId": inst.image_id,
                "instanceId": inst.id.as_str(),
                "instanceType": inst.instance_type,
                "privateIp": inst.private_ip.to_string(),
                "region": region.name,
                "version": "2017-09-30",
            });
            dynamic.set(
                "instance-identity/document",
                serde_json::to_string_pretty(&doc).unwrap_or_default(),
            );
            InstanceMetadata {
                instance: inst.id.clone(),
                meta_data: md,
                dynamic,
                user_data: inst.user_data.as_ref().map(|u| u.as_bytes().to_vec()),
            }
        })
        .collect()
}

/// The HTML body EC2's metadata service sends with an error status.
fn error_page(status: u16) -> Response {
    let title = format!("{status} - {}", super::http::reason(status));
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
         <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
         \t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n \
         <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    );
    Response::new(status)
        .with_header("Content-Type", "text/html")
        .with_header("Server", "EC2ws")
        .with_body(body)
}

fn ok_text(body: impl Into<Vec<u8>>) -> Response {
    Response::new(200)
        .with_header("Content-Type", "text/plain")
        .with_header("Accept-Ranges", "none")
        .with_header("Server", "EC2ws")
        .with_body(body)
}

impl Imds {
    /// The metadata service of `lab`; `secret` seeds the tokens (the runtime passes random
    /// bytes, tests a constant).
    pub fn new(lab: &Lab, secret: [u8; 32]) -> Self {
        let mut imds = Imds {
            instances: HashMap::new(),
            by_address: HashMap::new(),
            options: HashMap::new(),
            tokens: HashMap::new(),
            secret,
            issued: 0,
            counters: ImdsCounters::default(),
        };
        imds.update(lab);
        imds
    }

    /// Rebuilds every instance's metadata and options from `lab` (live tokens of instances
    /// that remain are kept).
    pub fn update(&mut self, lab: &Lab) {
        self.instances = build(lab)
            .into_iter()
            .map(|m| (m.instance.clone(), m))
            .collect();
        self.by_address.clear();
        for eni in &lab.network_interfaces {
            if let EniOwner::Instance(id) = &eni.owner {
                self.by_address
                    .entry(eni.vpc.clone())
                    .or_default()
                    .insert(eni.private_ip, id.clone());
            }
        }
        // The model's MetadataOptions (template or a live change) are the options.
        self.options = lab
            .instances
            .iter()
            .map(|i| (i.id.clone(), MetadataOptions::from(&i.metadata_options)))
            .collect();
        let live = &self.instances;
        self.tokens.retain(|_, t| live.contains_key(&t.instance));
    }

    /// The instance whose ENI in `vpc` has address `ip`.
    pub fn instance_at(&self, vpc: &VpcId, ip: Ipv4Addr) -> Option<&InstanceId> {
        self.by_address.get(vpc)?.get(&ip)
    }

    /// The metadata of an instance.
    pub fn metadata(&self, id: &InstanceId) -> Option<&InstanceMetadata> {
        self.instances.get(id)
    }

    /// Sets an instance's metadata options (`modify-instance-metadata-options`).
    pub fn set_options(&mut self, id: &InstanceId, mut opts: MetadataOptions) {
        opts.put_response_hop_limit = opts.put_response_hop_limit.clamp(1, 64);
        self.options.insert(id.clone(), opts);
    }

    /// An instance's metadata options.
    pub fn options(&self, id: &InstanceId) -> MetadataOptions {
        self.options.get(id).copied().unwrap_or_default()
    }

    /// How many tokens are live (expired ones are dropped lazily).
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Answers one request from `src` in `vpc` at `now`.
    pub fn handle(&mut self, now: Instant, vpc: &VpcId, src: Ipv4Addr, req: &Request) -> Response {
        self.counters.requests += 1;
        let result = match self.instance_at(vpc, src).cloned() {
            None => Err(Error::UnknownSource {
                vpc: vpc.clone(),
                ip: src,
            }),
            Some(id) if !self.options(&id).endpoint_enabled => Err(Error::Disabled),
            Some(id) => self.route(now, &id, req),
        };
        match result {
            Ok(r) => r,
            Err(e) => {
                match e {
                    Error::Unauthorized => self.counters.unauthorized += 1,
                    Error::NotFound => self.counters.not_found += 1,
                    _ => self.counters.refused += 1,
                }
                error_page(e.status())
            }
        }
    }

    fn route(&mut self, now: Instant, id: &InstanceId, req: &Request) -> Result<Response, Error> {
        let path = req.path();
        let mut parts = path.splitn(3, '/').skip(1); // "" before the first slash
        let version = parts.next().unwrap_or("");
        let rest = parts.next().unwrap_or("");
        let method = req.method.as_str();
        if method == "PUT" {
            return match (version, rest.trim_end_matches('/')) {
                ("latest", "api/token") => self.issue_token(now, id, req),
                (v, "api/token") if VERSIONS.contains(&v) => Err(Error::VersionedToken),
                _ => Err(Error::MethodNotAllowed),
            };
        }
        if method != "GET" && method != "HEAD" {
            return Err(Error::MethodNotAllowed);
        }
        let ttl_left = self.check_token(now, id, req)?;
        let md = self.instances.get(id).ok_or(Error::NotFound)?;
        let body = if version.is_empty() {
            VERSIONS.join("\n")
        } else if !VERSIONS.contains(&version) {
            return Err(Error::NotFound);
        } else {
            let rest = rest.trim_start_matches('/');
            let (top, sub) = rest.split_once('/').unwrap_or((rest, ""));
            match top {
                "" => {
                    let mut l = vec!["dynamic", "meta-data"];
                    if md.user_data.is_some() {
                        l.push("user-data");
                    }
                    l.join("\n")
                }
                "meta-data" => md.meta_data.get(sub).ok_or(Error::NotFound)?.render(),
                "dynamic" => md.dynamic.get(sub).ok_or(Error::NotFound)?.render(),
                "user-data" if sub.is_empty() => {
                    let ud = md.user_data.clone().ok_or(Error::NotFound)?;
                    return Ok(with_ttl(ok_text(ud), ttl_left));
                }
                "api" if sub.trim_end_matches('/') == "token" => {
                    return Err(Error::MethodNotAllowed)
                }
                _ => return Err(Error::NotFound),
            }
        };
        Ok(with_ttl(ok_text(body), ttl_left))
    }

    /// Checks the token of a GET: `Ok(Some(seconds left))` with a valid token, `Ok(None)`
    /// for IMDSv1 when allowed.
    fn check_token(
        &mut self,
        now: Instant,
        id: &InstanceId,
        req: &Request,
    ) -> Result<Option<u64>, Error> {
        if !req.has_header(TOKEN_HEADER) {
            return match self.options(id).http_tokens {
                HttpTokens::Optional => Ok(None),
                HttpTokens::Required => Err(Error::Unauthorized),
            };
        }
        let token = req.header(TOKEN_HEADER).unwrap_or("").trim();
        match self.tokens.get(token) {
            Some(t) if &t.instance == id && t.expires > now => Ok(Some(
                t.expires.saturating_duration_since(now).as_secs().max(1),
            )),
            Some(t) if t.expires <= now => {
                self.tokens.remove(token);
                Err(Error::Unauthorized)
            }
            _ => Err(Error::Unauthorized),
        }
    }

    fn issue_token(
        &mut self,
        now: Instant,
        id: &InstanceId,
        req: &Request,
    ) -> Result<Response, Error> {
        if req.has_header("x-forwarded-for") {
            return Err(Error::Forwarded);
        }
        let ttl = req
            .header(TTL_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| (1..=MAX_TTL_SECONDS).contains(t))
            .ok_or(Error::BadTtl)?;
        if self.tokens.len() >= MAX_TOKENS {
            self.tokens.retain(|_, t| t.expires > now);
        }
        if self.tokens.len() >= MAX_TOKENS {
            let soonest = self
                .tokens
                .iter()
                .min_by_key(|(_, t)| t.expires)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                self.tokens.remove(&k);
            }
        }
        self.issued += 1;
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(self.issued.to_be_bytes());
        h.update(id.as_str().as_bytes());
        let a = h.finalize();
        let b = Sha256::digest(a);
        let mut raw = a.to_vec();
        raw.extend_from_slice(b.get(..8).unwrap_or(&[]));
        let token = base64::engine::general_purpose::STANDARD.encode(raw);
        self.tokens.insert(
            token.clone(),
            Token {
                instance: id.clone(),
                expires: now + Duration::from_secs(ttl),
            },
        );
        self.counters.tokens_issued += 1;
        let mut resp =
            ok_text(token).with_header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl.to_string());
        resp.hop_limit = Some(self.options(id).put_response_hop_limit);
        Ok(resp)
    }
}

fn with_ttl(r: Response, ttl_left: Option<u64>) -> Response {
    match ttl_left {
        Some(t) => r.with_header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", t.to_string()),
        None => r,
    }
}

#[cfg(test)]
mod tests;
