//! `vpclab capture`: what the daemon and the CLI share — which ports a target names, the
//! comment each captured packet carries, and the framed records of the capture stream.
//!
//! Contract:
//! - [`resolve_target`] turns what a user types (an instance, `eni-…`, `vpce-…`, `nlb` or a
//!   load balancer's name, `igw`, `internet`) into the router ports a capture is taken on,
//!   each with the name its pcapng interface block gets; an unknown target is an error that
//!   names it, the AWS concept and what is capturable.
//! - [`comment`] says in the router's own words what it did with a packet: `forwarded to
//!   eni-… (B) by rtb-… route 10.0.0.0/16 local`, `delivered to …`, `answered by the
//!   router`, `dropped: SgIngressDenied (no inbound rule of … allows it)`, marked `in from`
//!   the port (the port sent it to the router) or `out to` the port.
//! - After the daemon's one JSON answer line ([`Response::CaptureStarted`]), the stream is a
//!   sequence of [`Record`]s, each `u32` length (little endian) then the body; a body is
//!   never longer than [`MAX_RECORD`] and a reader refuses a longer one ([`Decoder`]).
//!
//! [`Response::CaptureStarted`]: super::protocol::Response::CaptureStarted

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::dataplane::route::Entry;
use crate::dataplane::topology::{Framing, PortId, PortKind, RtIx, ServicePort, Snapshot};
use crate::dataplane::verdict::Verdict;
use crate::model::lookup::Kind;
use crate::model::{EniOwner, Lab};

/// The longest record body: a 64 KiB GSO frame with its Ethernet header, the virtio-net
/// header, the fixed fields and a comment of at most [`MAX_COMMENT`] bytes.
pub const MAX_RECORD: usize = 65_535 + 14 + 64 + MAX_COMMENT;
/// The longest comment (longer ones are cut at a character boundary).
pub const MAX_COMMENT: usize = 2048;
/// The virtio-net header's length in a record (the legacy 10-byte header).
pub const VNET_LEN: usize = 10;

/// One port a capture is taken on, as the daemon announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturePort {
    /// The router's port id.
    pub port: u32,
    /// The name of its interface block: `eni-… (CloudNetaPrivateEC2)`, `internet`, …
    pub name: String,
}

/// Why a capture's stream could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StreamError {
    /// A record longer than [`MAX_RECORD`].
    #[error("a capture record of {0} bytes is longer than the {MAX_RECORD} allowed")]
    TooLong(usize),
    /// A record whose fields do not fit its length, or of an unknown kind.
    #[error("a malformed capture record (kind {kind}, {len} bytes)")]
    Malformed {
        /// The record's kind byte.
        kind: u8,
        /// Its length.
        len: usize,
    },
}

/// A captured packet, as the stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Index into the announced ports.
    pub iface: u16,
    /// Sent to the port (else received from it).
    pub out: bool,
    /// When the router saw it, nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
    /// The frame's virtio-net header (GSO, partial checksum), legacy layout.
    pub vnet: [u8; VNET_LEN],
    /// What the router did, in its words.
    pub comment: String,
    /// The Ethernet frame (a service port's bare IPv4 packet gets an Ethernet header).
    pub frame: Vec<u8>,
    /// Packets the daemon dropped for this capture so far (the reader was too slow).
    pub dropped: u64,
}

/// One record of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A packet.
    Packet(Packet),
    /// Nothing captured lately: the daemon is alive, and has dropped this many so far.
    Idle {
        /// Packets dropped so far.
        dropped: u64,
    },
}

const KIND_PACKET: u8 = 1;
const KIND_IDLE: u8 = 2;
/// The fixed part of a packet body after its kind: iface, out, time, dropped, vnet, comment
/// length.
const PACKET_FIXED: usize = 2 + 1 + 8 + 8 + VNET_LEN + 2;

impl Record {
    /// Appends the record, length first, to `out`. A comment over [`MAX_COMMENT`] bytes is
    /// cut; a frame that would make the record longer than [`MAX_RECORD`] is cut too.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Idle { dropped } => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.push(KIND_IDLE);
                out.extend_from_slice(&dropped.to_le_bytes());
            }
            Record::Packet(p) => {
                let comment = cut(&p.comment, MAX_COMMENT);
                let room = MAX_RECORD - 1 - PACKET_FIXED - comment.len();
                let frame = &p.frame[..p.frame.len().min(room)];
                let len = 1 + PACKET_FIXED + comment.len() + frame.len();
                out.extend_from_slice(&(len as u32).to_le_bytes());
                out.push(KIND_PACKET);
                out.extend_from_slice(&p.iface.to_le_bytes());
                out.push(u8::from(p.out));
                out.extend_from_slice(&p.unix_nanos.to_le_bytes());
                out.extend_from_slice(&p.dropped.to_le_bytes());
                out.extend_from_slice(&p.vnet);
                out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
                out.extend_from_slice(comment.as_bytes());
                out.extend_from_slice(frame);
            }
        }
    }

    /// Decodes one record body (without its length).
    fn decode(body: &[u8]) -> Result<Record, StreamError> {
        let bad = || StreamError::Malformed {
            kind: body.first().copied().unwrap_or(0),
            len: body.len(),
        };
        let u64_at = |at: usize| -> Result<u64, StreamError> {
            let b = body.get(at..at + 8).ok_or_else(bad)?;
            Ok(u64::from_le_bytes(b.try_into().map_err(|_| bad())?))
        };
        match body.first() {
            Some(&KIND_IDLE) if body.len() == 9 => Ok(Record::Idle {
                dropped: u64_at(1)?,
            }),
            Some(&KIND_PACKET) if body.len() > PACKET_FIXED => {
                let iface = u16::from_le_bytes([body[1], body[2]]);
                let out = body[3] != 0;
                let unix_nanos = u64_at(4)?;
                let dropped = u64_at(12)?;
                let mut vnet = [0u8; VNET_LEN];
                vnet.copy_from_slice(&body[20..20 + VNET_LEN]);
                let at = 20 + VNET_LEN;
                let clen = usize::from(u16::from_le_bytes([body[at], body[at + 1]]));
                let text = body.get(at + 2..at + 2 + clen).ok_or_else(bad)?;
                let comment = String::from_utf8(text.to_vec()).map_err(|_| bad())?;
                let frame = body[at + 2 + clen..].to_vec();
                Ok(Record::Packet(Packet {
                    iface,
                    out,
                    unix_nanos,
                    vnet,
                    comment,
                    frame,
                    dropped,
                }))
            }
            _ => Err(bad()),
        }
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reassembles records from bytes read in pieces of any size (a socket read with a timeout
/// may end anywhere). Holds at most one record's bytes beyond what it was given.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole record, if the bytes so far hold one.
    pub fn next_record(&mut self) -> Result<Option<Record>, StreamError> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_RECORD {
            return Err(StreamError::TooLong(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let record = Record::decode(&self.buf[4..4 + len]);
        self.buf.drain(..4 + len);
        record.map(Some)
    }
}

/// The name of what is behind a port, as `status` and the capture's interface blocks show
/// it: `eni-… (CloudNetaPublicEC2)`, `internet`, `vpce-… (gateway endpoint)`, …
pub fn port_name(lab: &Lab, kind: &PortKind) -> String {
    match kind {
        PortKind::Eni(e) => {
            let owner = lab.eni(e).map(|eni| match &eni.owner {
                EniOwner::Instance(i) => lab
                    .instance(i)
                    .map(crate::model::Instance::name)
                    .unwrap_or_else(|| i.to_string()),
                EniOwner::InterfaceEndpoint(v) => v.to_string(),
                EniOwner::LoadBalancer(a) => lab
                    .load_balancers
                    .iter()
                    .find(|l| &l.arn == a)
                    .map_or_else(|| a.clone(), |l| format!("load balancer {}", l.name)),
            });
            format!("{e} ({})", owner.unwrap_or_default())
        }
        PortKind::Internet => "internet".into(),
        PortKind::Service(ServicePort::Region) => "region services".into(),
        PortKind::Service(ServicePort::GatewayEndpoint { vpce }) => {
            format!("{vpce} (gateway endpoint)")
        }
        PortKind::Service(ServicePort::AmazonProvided { vpc }) => {
            format!("{vpc} (Amazon DNS, metadata)")
        }
        PortKind::Service(ServicePort::InterfaceEndpoint { vpce }) => {
            format!("{vpce} (interface endpoint service)")
        }
        PortKind::Service(ServicePort::LoadBalancer { arn }) => {
            let name = lab
                .load_balancers
                .iter()
                .find(|l| &l.arn == arn)
                .map_or(arn.as_str(), |l| l.name.as_str());
            format!("{name} (health checks)")
        }
        PortKind::Service(ServicePort::InternetDns) => "internet DNS resolver".into(),
    }
}

/// What can be captured in `lab`, for an error message.
fn capturable(lab: &Lab) -> String {
    let mut all: Vec<String> = lab.instances.iter().map(|i| i.name()).collect();
    all.extend(lab.vpc_endpoints.iter().map(|v| v.id.to_string()));
    all.extend(lab.load_balancers.iter().map(|l| l.name.clone()));
    if !lab.load_balancers.is_empty() {
        all.push("nlb".into());
    }
    all.push("eni-… (any network interface)".into());
    all.push("igw".into());
    all.push("internet".into());
    all.join(", ")
}

/// What a capture takes: the ports it is taken on, each with the name of its interface block,
/// and the addresses of network interfaces without a device of their own (an endpoint's, a
/// load balancer node's), whose packets cross other ports, each with its interface's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The interfaces, in order.
    pub ports: Vec<(PortId, String)>,
    /// Watched addresses and the interface (port) each belongs to.
    pub addrs: Vec<(Ipv4Addr, PortId)>,
}

/// What `target` names in the running lab; see the module docs. The error names the
/// target, the AWS concept and what is capturable.
pub fn resolve_target(lab: &Lab, snap: &Snapshot, target: &str) -> Result<Target, String> {
    let mut kinds: Vec<PortKind> = Vec::new();
    let eni_port = |eni: &crate::model::EniId| PortKind::Eni(eni.clone());
    let lb_ports = |arn: &str, kinds: &mut Vec<PortKind>| {
        for e in &lab.network_interfaces {
            if matches!(&e.owner, EniOwner::LoadBalancer(a) if a == arn) {
                kinds.push(eni_port(&e.id));
            }
        }
        kinds.push(PortKind::Service(ServicePort::LoadBalancer {
            arn: arn.to_string(),
        }));
    };
    let t = target.trim();
    if t == "internet" {
        kinds.push(PortKind::Internet);
    } else if t == "igw" || t.starts_with("igw-") || lab.find(Kind::InternetGateway, t).is_ok() {
        if t != "igw" && lab.find(Kind::InternetGateway, t).is_err() {
            return Err(unknown(lab, t, "internet gateway"));
        }
        // Every internet gateway's outside is the same two ports: the emulated internet and
        // the region's public service addresses.
        kinds.push(PortKind::Internet);
        kinds.push(PortKind::Service(ServicePort::Region));
    } else if t == "nlb" {
        for l in &lab.load_balancers {
            lb_ports(&l.arn, &mut kinds);
        }
        if kinds.is_empty() {
            return Err(format!(
                "lab {} has no load balancer to capture on (a Network Load Balancer's nodes are its ports); capturable: {}",
                lab.stack_name,
                capturable(lab)
            ));
        }
    } else if t.starts_with("eni-") {
        let id = lab
            .find(Kind::NetworkInterface, t)
            .map_err(|_| unknown(lab, t, "network interface"))?;
        let eni = lab
            .network_interfaces
            .iter()
            .find(|e| e.id.as_str() == id)
            .ok_or_else(|| unknown(lab, t, "network interface"))?;
        kinds.push(eni_port(&eni.id));
    } else if t.starts_with("vpce-") || lab.find(Kind::VpcEndpoint, t).is_ok() {
        let id = lab
            .find(Kind::VpcEndpoint, t)
            .map_err(|_| unknown(lab, t, "VPC endpoint"))?;
        let vpce = lab
            .vpc_endpoints
            .iter()
            .find(|v| v.id.as_str() == id)
            .ok_or_else(|| unknown(lab, t, "VPC endpoint"))?;
        // A gateway endpoint is a port of its own (the service side); an interface
        // endpoint is its network interfaces and the AWS service behind them.
        for e in &lab.network_interfaces {
            if matches!(&e.owner, EniOwner::InterfaceEndpoint(v) if *v == vpce.id) {
                kinds.push(eni_port(&e.id));
            }
        }
        kinds.push(PortKind::Service(ServicePort::GatewayEndpoint {
            vpce: vpce.id.clone(),
        }));
        kinds.push(PortKind::Service(ServicePort::InterfaceEndpoint {
            vpce: vpce.id.clone(),
        }));
    } else if let Ok(arn) = lab.find(Kind::LoadBalancer, t) {
        lb_ports(&arn, &mut kinds);
    } else {
        match lab.find(Kind::Instance, t) {
            Ok(id) => {
                let inst = lab
                    .instances
                    .iter()
                    .find(|i| i.id.as_str() == id)
                    .ok_or_else(|| unknown(lab, t, "instance"))?;
                kinds.push(eni_port(&inst.eni));
            }
            Err(crate::model::lookup::LookupError::Ambiguous { .. }) => {
                return Err(format!(
                    "{}; capturable: {}",
                    lab.find(Kind::Instance, t)
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                    capturable(lab)
                ))
            }
            Err(_) => return Err(unknown(lab, t, "instance")),
        }
    }
    let ports: Vec<(PortId, String)> = kinds
        .iter()
        .filter_map(|k| snap.port_of(k).map(|p| (p, port_name(lab, k))))
        .collect();
    if ports.is_empty() {
        return Err(format!(
            "{t} has no port on the router of lab {} (it carries no traffic of its own); capturable: {}",
            lab.stack_name,
            capturable(lab)
        ));
    }
    // An instance's interface is its TAP; any other has no device, and is its addresses.
    let mut addrs = Vec::new();
    for (port, _) in &ports {
        let Some(PortKind::Eni(id)) = snap.port(*port).map(|p| &p.kind) else {
            continue;
        };
        let Some(eni) = lab.eni(id) else { continue };
        if matches!(eni.owner, EniOwner::Instance(_)) {
            continue;
        }
        addrs.push((eni.private_ip, *port));
        if let Some(public) = eni.public_ip {
            addrs.push((public, *port));
        }
    }
    Ok(Target { ports, addrs })
}

fn unknown(lab: &Lab, target: &str, concept: &str) -> String {
    format!(
        "lab {} has no {concept} '{target}' to capture on: a capture is taken at the router on \
         a port — an instance's network interface (by instance name, logical id or i-… id, or \
         eni-…), a VPC endpoint (vpce-…), a load balancer (nlb or its name), the internet \
         gateway's outside (igw) or the emulated internet (internet). Capturable: {}",
        lab.stack_name,
        capturable(lab)
    )
}

/// The text of a route of the snapshot: `rtb-… route 10.0.0.0/16 local`.
pub fn route_text(snap: &Snapshot, rt: RtIx, entry: &Entry) -> Option<String> {
    let t = snap.route_tables.get(rt.ix())?;
    let (dest, target) = t.routes.get(usize::from(entry.route))?;
    let dest = super::explain::destination_text(dest);
    let target = super::explain::target_text(target);
    Some(format!("{} route {dest} {target}", t.id))
}

/// What the router did with a frame, in its words, without the direction.
fn verdict_text(
    snap: &Snapshot,
    name: &dyn Fn(PortId) -> String,
    verdict: &Verdict,
    route: Option<&str>,
) -> String {
    let by = route.map_or_else(String::new, |r| format!(" by {r}"));
    match verdict {
        Verdict::Forwarded(p) => format!("forwarded to {}{by}", name(*p)),
        Verdict::Delivered(p) => format!("delivered to {}{by}", name(*p)),
        Verdict::Answered => "answered by the router".into(),
        Verdict::Dropped(d) => format!("dropped: {} ({})", d.kind(), snap.explain(d)),
    }
}

/// The comment of a captured frame: see the module docs. `port` is where it was captured,
/// `ingress` the port the frame that caused it came from (the same for `in`), `verdict`
/// what the router did with that frame and `route` the route that carried it.
pub fn comment(
    snap: &Snapshot,
    name: &dyn Fn(PortId) -> String,
    port: PortId,
    out: bool,
    ingress: PortId,
    verdict: &Verdict,
    route: Option<&str>,
) -> String {
    let mut s = String::new();
    if !out {
        let _ = write!(
            s,
            "in from {}: {}",
            name(port),
            verdict_text(snap, name, verdict, route)
        );
        return s;
    }
    let by = route.map_or_else(String::new, |r| format!(" by {r}"));
    let _ = match verdict {
        Verdict::Forwarded(p) if *p == port => {
            write!(
                s,
                "out to {}: forwarded from {}{by}",
                name(port),
                name(ingress)
            )
        }
        Verdict::Delivered(p) if *p == port => {
            write!(
                s,
                "out to {}: delivered from {}{by}",
                name(port),
                name(ingress)
            )
        }
        Verdict::Answered if ingress == port => {
            write!(s, "out to {}: answered by the router", name(port))
        }
        other => write!(
            s,
            "out to {}: sent by the router for a frame in from {} that was {}",
            name(port),
            name(ingress),
            verdict_text(snap, name, other, route)
        ),
    };
    s
}

/// Whether frames of a port are bare IPv4 (they get an Ethernet header in the capture).
pub fn is_ip_framed(snap: &Snapshot, port: PortId) -> bool {
    snap.port(port).is_some_and(|p| p.framing == Framing::Ip)
}

#[cfg(test)]
mod tests;
