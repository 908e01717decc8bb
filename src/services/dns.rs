//! Amazon DNS: the Route 53 Resolver a VPC sees at its base+2 address and at 169.254.169.253.
//!
//! Contract: [`Resolver::answer`] takes the bytes of one DNS message (a UDP payload, or one
//! length-delimited TCP message) sent from inside a VPC and returns the reply to send, or
//! says why nothing is sent. It never panics on any input. Names are answered from a
//! [`View`]: an ordered stack of [`Layer`]s, the first layer that knows a name wins.
//! For a VPC the stack is, top to bottom:
//!
//! 1. the VPC's **overrides** ([`VpcZone::overrides`], empty unless set through
//!    [`Resolver::overrides_mut`]; kept across updates): where private hosted zones will
//!    plug in;
//! 2. the **private DNS of its interface endpoints** (rebuilt by every [`Resolver::update`],
//!    so toggling `PrivateDnsEnabled` on a running lab shows at once): for each endpoint of
//!    the VPC to a catalog AWS service that carries traffic, has private DNS on, in a VPC
//!    with `EnableDnsSupport` and `EnableDnsHostnames`, `<service>.<region>.amazonaws.com`
//!    → the private IPs of all its ENIs (without it the name falls through to the catalog's
//!    public address);
//! 3. the VPC's **own names** (only with `EnableDnsHostnames`): every ENI's private name
//!    `ip-10-0-1-109.<region>.compute.internal` (`ec2.internal` in us-east-1) → its private
//!    IP and the reverse `109.1.0.10.in-addr.arpa` PTR; the public names of its instances
//!    with a public IP (`ec2-a-b-c-d.<region>.compute.amazonaws.com`, `compute-1` in
//!    us-east-1) → the *private* IP (split horizon);
//! 4. the lab's **public names**, the same from every VPC as public DNS answers them:
//!    public names of instances in other VPCs (whose VPC has DNS hostnames on) → their
//!    public IP; each interface endpoint's own names (`vpce-…-xxxxxxxx.<service>.<region>.
//!    vpce.amazonaws.com` → the private IPs of all its ENIs, and the zonal `…-<az>.…` name
//!    → the ENI in that AZ; endpoints to endpoint services too); each load balancer's
//!    `<name>-<hex>.elb.<region>.amazonaws.com` → its nodes' public IPs when
//!    `internet-facing`, private IPs when `internal`, and `<az>.<that name>` → the node in
//!    that AZ;
//! 5. the **region catalog**, for every region vpclab knows: `s3.<region>.amazonaws.com`,
//!    `s3-<region>…`, `s3.dualstack.<region>…`, virtual-hosted bucket names under each of
//!    those, `s3.amazonaws.com` and `s3-external-1.amazonaws.com` (us-east-1),
//!    `dynamodb.<region>.amazonaws.com`, and each interface service
//!    `<service>.<region>.amazonaws.com` → the catalog's public addresses.
//!
//! Anything else is NXDOMAIN: a lab has no internet to recurse into. A name that exists
//! with no record of the asked type is NOERROR with no answer (NODATA). With
//! `EnableDnsSupport` off the resolver does not answer at all (the caller drops the query:
//! [`Outcome::Drop`] with [`Error::DnsDisabled`]; the services count it as
//! `DropReason::DnsDisabled` before the query reaches here), as a VPC without DNS support has
//! no resolver. Malformed queries get FORMERR when their header can be read, and are
//! dropped and counted when it cannot. The choices are written down in
//! `docs/decisions/0008-amazon-dns-and-imds.md`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::model::{self, catalog, Lab, VpcId};

/// TTL of every record the resolver hands out, in seconds.
pub const TTL: u32 = 60;

/// The EDNS UDP payload size the resolver advertises and honours at most (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// The largest DNS message over UDP without EDNS (RFC 1035).
pub const CLASSIC_UDP_PAYLOAD: usize = 512;

/// Why a DNS message could not be turned into a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The message is too short or garbled to read even its header.
    #[error("DNS message unreadable: {0}")]
    Unreadable(String),
    /// The message is a response, not a query (never answered: no loops).
    #[error("DNS message is a response, not a query")]
    NotAQuery,
    /// The VPC has `EnableDnsSupport` off: its resolver does not exist.
    #[error("DNS support is off in {0}")]
    DnsDisabled(VpcId),
    /// The VPC is not in the lab.
    #[error("{0} is not in the lab")]
    UnknownVpc(VpcId),
    /// The reply could not be encoded (a bug, counted rather than panicking).
    #[error("DNS reply could not be encoded: {0}")]
    Encode(String),
}

/// The records a name has in one layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSet {
    /// IPv4 addresses (type A).
    pub a: Vec<Ipv4Addr>,
    /// The PTR target (a host name without the trailing dot).
    pub ptr: Option<String>,
}

impl RecordSet {
    /// An A record set.
    pub fn a(ips: Vec<Ipv4Addr>) -> Self {
        RecordSet { a: ips, ptr: None }
    }
}

/// One layer of a resolver view: knows some names.
pub trait Layer {
    /// The records of `name` (lower case, no trailing dot), or `None` when this layer does
    /// not know the name and the next layer should be asked.
    fn lookup(&self, name: &str) -> Option<RecordSet>;
}

/// A table of names: exact names and wildcards (`*.suffix`).
///
/// A wildcard matches any name with at least one more label in front of its suffix; an
/// exact name wins over a wildcard, and a longer wildcard suffix over a shorter one.
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    exact: HashMap<String, RecordSet>,
    /// `(".suffix", records)`, longest suffix first.
    wildcards: Vec<(String, RecordSet)>,
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl NameTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds A records to `name` (merging with what it has).
    pub fn insert_a(&mut self, name: &str, ips: &[Ipv4Addr]) {
        let e = self.exact.entry(normalize(name)).or_default();
        for ip in ips {
            if !e.a.contains(ip) {
                e.a.push(*ip);
            }
        }
    }

    /// Sets the PTR target of `name` (an `in-addr.arpa` name).
    pub fn insert_ptr(&mut self, name: &str, target: &str) {
        self.exact.entry(normalize(name)).or_default().ptr = Some(normalize(target));
    }

    /// Adds `*.suffix` with A records.
    pub fn insert_wildcard_a(&mut self, suffix: &str, ips: &[Ipv4Addr]) {
        let key = format!(".{}", normalize(suffix));
        match self.wildcards.iter_mut().find(|(s, _)| *s == key) {
            Some((_, rs)) => {
                for ip in ips {
                    if !rs.a.contains(ip) {
                        rs.a.push(*ip);
                    }
                }
            }
            None => {
                self.wildcards.push((key, RecordSet::a(ips.to_vec())));
                self.wildcards.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
            }
        }
    }

    /// Removes an exact name.
    pub fn remove(&mut self, name: &str) {
        self.exact.remove(&normalize(name));
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.exact.clear();
        self.wildcards.clear();
    }

    /// Whether the table has no names.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty()
    }
}

impl Layer for NameTable {
    fn lookup(&self, name: &str) -> Option<RecordSet> {
        if let Some(rs) = self.exact.get(name) {
            return Some(rs.clone());
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix.as_str()))
            .map(|(_, rs)| rs.clone())
    }
}

/// An ordered stack of layers; the first that knows a name answers for it.
pub struct View<'a> {
    layers: Vec<&'a dyn Layer>,
}

impl<'a> View<'a> {
    /// A view over `layers`, top first.
    pub fn new(layers: Vec<&'a dyn Layer>) -> Self {
        View { layers }
    }

    /// The records of `name` (any case, trailing dot optional), `None` = NXDOMAIN.
    pub fn lookup(&self, name: &str) -> Option<RecordSet> {
        let name = normalize(name);
        self.layers.iter().find_map(|l| l.lookup(&name))
    }
}

/// What one VPC's resolver knows beyond the region catalog.
#[derive(Debug, Clone)]
pub struct VpcZone {
    /// `EnableDnsSupport`.
    pub dns_support: bool,
    /// `EnableDnsHostnames`.
    pub dns_hostnames: bool,
    /// The resolver's address in the VPC (primary CIDR base + 2).
    pub address: Ipv4Addr,
    /// Per-VPC overrides, asked first.
    pub overrides: NameTable,
    /// The private DNS names of the VPC's interface endpoints, asked next.
    endpoint_private: NameTable,
    /// The VPC's own names (empty unless DNS hostnames are on).
    names: NameTable,
}

/// The `in-addr.arpa` name of an address.
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
}

/// The resolver's address in a VPC: primary CIDR base + 2.
pub fn vpc_resolver_address(vpc: &model::Vpc) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(vpc.cidr.network()).wrapping_add(2))
}

/// Whether an instance has a public DNS name: a public IP and DNS hostnames in its VPC.
fn public_name_of(lab: &Lab, inst: &model::Instance) -> Option<(String, Ipv4Addr)> {
    let public = inst.public_ip?;
    let vpc = lab.vpc(&inst.vpc)?;
    (vpc.enable_dns_support && vpc.enable_dns_hostnames)
        .then(|| (model::public_hostname(public, lab.region()), public))
}

/// Each interface endpoint's own DNS names: the regional name → every ENI's private IP,
/// a zonal name (`vpce-…-xxxxxxxx-<az>.…`) → the ENIs in that AZ.
fn add_endpoint_names(lab: &Lab, t: &mut NameTable) {
    for ep in &lab.vpc_endpoints {
        let model::EndpointKind::Interface {
            network_interfaces,
            dns_entries,
            ..
        } = &ep.kind
        else {
            continue;
        };
        let enis: Vec<(Ipv4Addr, String)> = network_interfaces
            .iter()
            .filter_map(|id| {
                let eni = lab.eni(id)?;
                let az = lab.subnet(&eni.subnet)?.availability_zone.clone();
                Some((eni.private_ip, az))
            })
            .collect();
        for (name, _zone) in dns_entries {
            let first = name.split('.').next().unwrap_or("");
            let zonal: Vec<Ipv4Addr> = enis
                .iter()
                .filter(|(_, az)| first.ends_with(&format!("-{az}")))
                .map(|(ip, _)| *ip)
                .collect();
            if zonal.is_empty() {
                let all: Vec<Ipv4Addr> = enis.iter().map(|(ip, _)| *ip).collect();
                t.insert_a(name, &all);
            } else {
                t.insert_a(name, &zonal);
            }
        }
    }
}

/// Each load balancer's DNS name → its nodes' addresses (public ones when internet-facing),
/// and `<az>.<name>` → the node in that AZ.
fn add_load_balancer_names(lab: &Lab, t: &mut NameTable) {
    for lb in &lab.load_balancers {
        let public = lb.scheme == "internet-facing";
        let mut all = Vec::new();
        for node in &lb.nodes {
            let ip = if public {
                lab.eni(&node.eni).and_then(|e| e.public_ip)
            } else {
                Some(node.private_ip)
            };
            let Some(ip) = ip else { continue };
            all.push(ip);
            t.insert_a(
                &format!("{}.{}", node.availability_zone, lb.dns_name),
                &[ip],
            );
        }
        if !all.is_empty() {
            t.insert_a(&lb.dns_name, &all);
        }
    }
}

/// The private DNS names of `vpc`'s interface endpoints to AWS services.
fn endpoint_private_names(lab: &Lab, vpc: &model::Vpc) -> NameTable {
    let mut t = NameTable::new();
    if !(vpc.enable_dns_support && vpc.enable_dns_hostnames) {
        return t;
    }
    for ep in lab
        .vpc_endpoints
        .iter()
        .filter(|e| e.vpc == vpc.id && super::passes_traffic(e))
    {
        let model::EndpointKind::Interface {
            network_interfaces,
            private_dns_enabled: true,
            ..
        } = &ep.kind
        else {
            continue;
        };
        let Some(svc) = super::interface::service_of(&ep.service_name) else {
            continue;
        };
        let ips: Vec<Ipv4Addr> = network_interfaces
            .iter()
            .filter_map(|id| lab.eni(id).map(|e| e.private_ip))
            .collect();
        if !ips.is_empty() {
            t.insert_a(&format!("{}.{}.amazonaws.com", svc.short, svc.region), &ips);
        }
    }
    t
}

/// The regional service names of every catalog region.
pub fn catalog_table() -> NameTable {
    let mut t = NameTable::new();
    for r in catalog::REGIONS {
        for s in r.gateway_services {
            let ips = s.ips();
            let regional = format!("{}.{}.amazonaws.com", s.short, r.name);
            t.insert_a(&regional, &ips);
            if s.short == "s3" {
                for n in &super::s3::endpoint_names(r) {
                    t.insert_a(n, &ips);
                    t.insert_wildcard_a(n, &ips); // virtual-hosted-style bucket names
                }
            }
        }
        for s in r.interface_services {
            t.insert_a(&format!("{}.{}.amazonaws.com", s.short, r.name), &s.ips());
        }
    }
    t
}

/// Outcome of one DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes back.
    Reply {
        /// The encoded reply.
        bytes: Vec<u8>,
        /// Its response code (`NOERROR`, `NXDOMAIN`, `FORMERR`, `NOTIMP`, `REFUSED`, …).
        rcode: ResponseCode,
        /// Cut to the header and question with TC set (over the UDP payload limit).
        truncated: bool,
    },
    /// Send nothing.
    Drop(Error),
}

/// How the query arrived (sets the size limit of the reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: replies up to 512 bytes, or the client's EDNS payload size (at most 1232).
    Udp,
    /// TCP: length-prefixed messages, replies up to 65535 bytes.
    Tcp,
}

/// Counts of what the resolver did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsCounters {
    /// Messages handed to the resolver.
    pub messages: u64,
    /// Replies with `NOERROR`.
    pub noerror: u64,
    /// Replies with `NXDOMAIN`.
    pub nxdomain: u64,
    /// Replies with `FORMERR`.
    pub formerr: u64,
    /// Replies with `NOTIMP`.
    pub notimp: u64,
    /// Replies with `REFUSED` (or any other code).
    pub refused: u64,
    /// UDP replies cut to the header and question (TC bit).
    pub truncated: u64,
    /// Dropped: unreadable, a response, DNS support off, or an encoding failure.
    pub dropped: u64,
}

impl DnsCounters {
    /// Counts one outcome.
    pub fn count(&mut self, o: &Outcome) {
        self.messages += 1;
        match o {
            Outcome::Drop(_) => self.dropped += 1,
            Outcome::Reply {
                rcode, truncated, ..
            } => {
                if *truncated {
                    self.truncated += 1;
                }
                match *rcode {
                    ResponseCode::NoError => self.noerror += 1,
                    ResponseCode::NXDomain => self.nxdomain += 1,
                    ResponseCode::FormErr => self.formerr += 1,
                    ResponseCode::NotImp => self.notimp += 1,
                    _ => self.refused += 1,
                }
            }
        }
    }
}

/// Amazon DNS for every VPC of a lab.
#[derive(Debug, Clone)]
pub struct Resolver {
    catalog: NameTable,
    lab_public: NameTable,
    vpcs: HashMap<VpcId, VpcZone>,
}

impl Resolver {
    /// The resolver of `lab`.
    pub fn new(lab: &Lab) -> Self {
        let mut r = Resolver {
            catalog: catalog_table(),
            lab_public: NameTable::new(),
            vpcs: HashMap::new(),
        };
        r.update(lab);
        r
    }

    /// Rebuilds every VPC's names from `lab`, keeping the overrides of VPCs that remain.
    pub fn update(&mut self, lab: &Lab) {
        let region = lab.region();
        let mut lab_public = NameTable::new();
        for inst in &lab.instances {
            if let Some((name, public)) = public_name_of(lab, inst) {
                lab_public.insert_a(&name, &[public]);
            }
        }
        add_endpoint_names(lab, &mut lab_public);
        add_load_balancer_names(lab, &mut lab_public);
        let mut vpcs = HashMap::new();
        for vpc in &lab.vpcs {
            let mut names = NameTable::new();
            if vpc.enable_dns_support && vpc.enable_dns_hostnames {
                for eni in lab.network_interfaces.iter().filter(|e| e.vpc == vpc.id) {
                    let host = format!(
                        "{}.{}",
                        model::ip_hostname(eni.private_ip),
                        region.private_dns_suffix
                    );
                    names.insert_a(&host, &[eni.private_ip]);
                    names.insert_ptr(&reverse_name(eni.private_ip), &host);
                }
                for inst in lab.instances.iter().filter(|i| i.vpc == vpc.id) {
                    if let Some((name, _)) = public_name_of(lab, inst) {
                        names.insert_a(&name, &[inst.private_ip]);
                    }
                }
            }
            let overrides = self
                .vpcs
                .remove(&vpc.id)
                .map(|z| z.overrides)
                .unwrap_or_default();
            vpcs.insert(
                vpc.id.clone(),
                VpcZone {
                    dns_support: vpc.enable_dns_support,
                    dns_hostnames: vpc.enable_dns_hostnames,
                    address: vpc_resolver_address(vpc),
                    overrides,
                    endpoint_private: endpoint_private_names(lab, vpc),
                    names,
                },
            );
        }
        self.vpcs = vpcs;
        self.lab_public = lab_public;
    }

    /// The zone of a VPC.
    pub fn vpc(&self, vpc: &VpcId) -> Option<&VpcZone> {
        self.vpcs.get(vpc)
    }

    /// The overrides layer of a VPC (asked before anything else; kept across updates).
    pub fn overrides_mut(&mut self, vpc: &VpcId) -> Option<&mut NameTable> {
        self.vpcs.get_mut(vpc).map(|z| &mut z.overrides)
    }

    /// The view from inside `vpc`: overrides, endpoints' private DNS, own names, public
    /// names, catalog.
    pub fn view(&self, vpc: &VpcId) -> Option<View<'_>> {
        let z = self.vpcs.get(vpc)?;
        Some(View::new(vec![
            &z.overrides,
            &z.endpoint_private,
            &z.names,
            &self.lab_public,
            &self.catalog,
        ]))
    }

    /// Looks `name` up as seen from `vpc` (`None`: NXDOMAIN or no such VPC).
    pub fn lookup(&self, vpc: &VpcId, name: &str) -> Option<RecordSet> {
        self.view(vpc)?.lookup(name)
    }

    /// The view from the emulated internet: public names only (instances' public names,
    /// load balancers, endpoints' public `vpce-…` names, the region's services).
    pub fn public_view(&self) -> View<'_> {
        View::new(vec![&self.lab_public, &self.catalog])
    }

    /// Answers one DNS message sent from inside `vpc` (`None`: from the emulated internet,
    /// which sees the public names only).
    pub fn answer(&self, vpc: Option<&VpcId>, query: &[u8], transport: Transport) -> Outcome {
        let view = match vpc {
            Some(vpc) => {
                let Some(zone) = self.vpcs.get(vpc) else {
                    return Outcome::Drop(Error::UnknownVpc(vpc.clone()));
                };
                if !zone.dns_support {
                    return Outcome::Drop(Error::DnsDisabled(vpc.clone()));
                }
                self.view(vpc)
            }
            None => Some(self.public_view()),
        };
        let msg = match Message::from_vec(query) {
            Ok(m) => m,
            Err(e) => return formerr_from_header(query, &e.to_string()),
        };
        if msg.message_type() != MessageType::Query {
            return Outcome::Drop(Error::NotAQuery);
        }
        let mut resp = Message::new();
        resp.set_id(msg.id())
            .set_message_type(MessageType::Response)
            .set_op_code(msg.op_code())
            .set_recursion_desired(msg.recursion_desired())
            .set_recursion_available(true)
            .set_checking_disabled(msg.checking_disabled());
        if msg.extensions().is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD).set_version(0);
            resp.set_edns(edns);
        }
        let rcode = if msg.op_code() != OpCode::Query {
            ResponseCode::NotImp
        } else if msg.queries().len() != 1 {
            ResponseCode::FormErr
        } else {
            match msg.queries().first() {
                Some(q) => {
                    resp.add_query(q.clone());
                    resolve(view.as_ref(), q, &mut resp)
                }
                None => ResponseCode::FormErr,
            }
        };
        resp.set_response_code(rcode);
        let limit = match transport {
            Transport::Tcp => usize::from(u16::MAX),
            Transport::Udp => match msg.extensions() {
                Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
                None => CLASSIC_UDP_PAYLOAD,
            },
        };
        encode(&resp, rcode, limit)
    }
}

/// Fills the answer section for `q` from `view`; returns the response code.
fn resolve(view: Option<&View<'_>>, q: &Query, resp: &mut Message) -> ResponseCode {
    {
        match q.query_class() {
            DNSClass::IN | DNSClass::ANY => {}
            _ => return ResponseCode::Refused,
        }
        let Some(view) = view else {
            return ResponseCode::Refused;
        };
        let Some(rs) = view.lookup(&q.name().to_ascii()) else {
            return ResponseCode::NXDomain;
        };
        let qt = q.query_type();
        if matches!(qt, RecordType::A | RecordType::ANY) {
            for ip in &rs.a {
                resp.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(*ip))));
            }
        }
        if matches!(qt, RecordType::PTR | RecordType::ANY) {
            if let Some(target) = &rs.ptr {
                if let Ok(n) = Name::from_ascii(format!("{target}.")) {
                    resp.add_answer(Record::from_rdata(
                        q.name().clone(),
                        TTL,
                        RData::PTR(PTR(n)),
                    ));
                }
            }
        }
        ResponseCode::NoError
    }
}

/// FORMERR for a message whose header reads but whose body does not; else drop.
fn formerr_from_header(query: &[u8], why: &str) -> Outcome {
    let mut dec = BinDecoder::new(query);
    match Header::read(&mut dec) {
        Ok(h) if h.message_type() == MessageType::Query => {
            let mut resp = Message::error_msg(h.id(), h.op_code(), ResponseCode::FormErr);
            resp.set_recursion_desired(h.recursion_desired())
                .set_recursion_available(true);
            encode(&resp, ResponseCode::FormErr, CLASSIC_UDP_PAYLOAD)
        }
        Ok(_) => Outcome::Drop(Error::NotAQuery),
        Err(_) => Outcome::Drop(Error::Unreadable(why.to_string())),
    }
}

/// Encodes `resp`, cutting it to header and question (TC) when over `limit`.
fn encode(resp: &Message, rcode: ResponseCode, limit: usize) -> Outcome {
    let bytes = match resp.to_vec() {
        Ok(b) => b,
        Err(e) => return Outcome::Drop(Error::Encode(e.to_string())),
    };
    if bytes.len() <= limit {
        return Outcome::Reply {
            bytes,
            rcode,
            truncated: false,
        };
    }
    match resp.truncate().to_vec() {
        Ok(bytes) if bytes.len() <= limit => Outcome::Reply {
            bytes,
            rcode,
            truncated: true,
        },
        Ok(_) => Outcome::Drop(Error::Encode(
            "question alone exceeds the size limit".into(),
        )),
        Err(e) => Outcome::Drop(Error::Encode(e.to_string())),
    }
}

/// Splits a DNS-over-TCP stream: each complete length-prefixed message in `input` is
/// answered into `output` (length-prefixed), and removed from `input`.
/// Returns the outcomes, for counting.
pub fn serve_stream(
    resolver: &Resolver,
    vpc: Option<&VpcId>,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut pos = 0;
    while let Some(&[hi, lo]) = input.get(pos..pos + 2) {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(msg) = input.get(pos + 2..pos + 2 + len) else {
            break;
        };
        let o = resolver.answer(vpc, msg, Transport::Tcp);
        if let Outcome::Reply { bytes, .. } = &o {
            if let Ok(n) = u16::try_from(bytes.len()) {
                output.extend_from_slice(&n.to_be_bytes());
                output.extend_from_slice(bytes);
            }
        }
        outcomes.push(o);
        pos += 2 + len;
    }
    input.drain(..pos);
    outcomes
}

#[cfg(test)]
pub(crate) mod tests;
