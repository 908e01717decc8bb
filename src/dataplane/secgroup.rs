//! Security-group rules compiled for matching packets.
//!
//! Contract: a [`Rules`] is one direction (ingress or egress) of one security
//! group, compiled from the model's [`SgRule`]s. [`Rules::matching`] says
//! whether a packet is allowed by a rule, and whether one of the rules that
//! allow it is open to the world (`0.0.0.0/0`), which AWS's untracked-flow
//! rule needs. Security groups only allow: several groups on an ENI are the
//! union of their rules, so a packet no rule matches is denied.
//!
//! Matching follows AWS: protocol `-1` and protocols other than TCP, UDP and
//! ICMP ignore ports; TCP/UDP rules match the packet's destination port in
//! both directions; ICMP rules match type (`FromPort`) and code (`ToPort`),
//! `-1` meaning any. Peers are a CIDR, a prefix list (its CIDRs) or a group
//! (the private IPs of the ENIs in that group, asked of the caller).

use core::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::packet::L4;
use super::topology::SgIx;
use crate::model::{Peer, Protocol, SgRule};

/// Which ports (or ICMP type/code) a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ports {
    /// Every port (protocol -1, other protocols, or a full range).
    Any,
    /// TCP/UDP destination ports, inclusive.
    Range(u16, u16),
    /// ICMP type and code, `None` = any.
    Icmp(Option<u8>, Option<u8>),
}

/// Who is on the other side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSet {
    /// One CIDR.
    Net(Ipv4Net),
    /// Several CIDRs (a prefix list).
    Nets(Vec<Ipv4Net>),
    /// The ENIs of a group.
    Group(SgIx),
}

/// One compiled rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    protocol: Option<u8>,
    ports: Ports,
    peer: PeerSet,
}

const ANY_NET: Ipv4Net = match Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0) {
    Ok(n) => n,
    Err(_) => panic!("0.0.0.0/0 is a valid net"),
};

fn port(v: Option<i32>) -> Option<u16> {
    v.and_then(|p| u16::try_from(p).ok())
}

fn icmp_field(v: Option<i32>) -> Option<u8> {
    v.and_then(|p| u8::try_from(p).ok())
}

impl Rule {
    /// Compiles a model rule; `group` resolves a referenced group's index and
    /// `prefix_list` a prefix list's CIDRs. `None` if the rule can never match
    /// an IPv4 packet (ICMPv6) or names a group outside the snapshot.
    pub fn compile(
        r: &SgRule,
        group: impl Fn(&crate::model::SgId) -> Option<SgIx>,
        prefix_list: impl Fn(&crate::model::PrefixListId) -> Vec<Ipv4Net>,
    ) -> Option<Rule> {
        let ports = match r.protocol {
            Protocol::Tcp | Protocol::Udp => match (port(r.from_port), port(r.to_port)) {
                (Some(0), Some(65535)) | (None, _) | (_, None) => Ports::Any,
                (Some(lo), Some(hi)) => Ports::Range(lo, hi),
            },
            Protocol::Icmp => Ports::Icmp(icmp_field(r.from_port), icmp_field(r.to_port)),
            Protocol::Icmpv6 => return None,
            Protocol::All | Protocol::Number(_) => Ports::Any,
        };
        let peer = match &r.peer {
            Peer::Cidr(n) => PeerSet::Net(*n),
            Peer::PrefixList(pl) => PeerSet::Nets(prefix_list(pl)),
            Peer::Group(g) => PeerSet::Group(group(g)?),
        };
        Some(Rule {
            protocol: r.protocol.number(),
            ports,
            peer,
        })
    }

    /// Whether the rule allows traffic of `protocol`/`l4` with `peer` on the
    /// other side; `member(g, ip)` says whether `ip` is an ENI of group `g`.
    pub fn matches(
        &self,
        protocol: u8,
        l4: &L4,
        peer: Ipv4Addr,
        member: &impl Fn(SgIx, Ipv4Addr) -> bool,
    ) -> bool {
        if self.protocol.is_some_and(|p| p != protocol) {
            return false;
        }
        let ports_ok = match (self.ports, l4) {
            (Ports::Any, _) => true,
            (Ports::Range(lo, hi), _) => l4.ports().is_some_and(|(_, d)| lo <= d && d <= hi),
            (Ports::Icmp(ty, code), L4::Icmp { ty: t, code: c, .. }) => {
                ty.is_none_or(|x| x == *t) && code.is_none_or(|x| x == *c)
            }
            (Ports::Icmp(None, None), _) => true,
            (Ports::Icmp(..), _) => false,
        };
        ports_ok
            && match &self.peer {
                PeerSet::Net(n) => n.contains(&peer),
                PeerSet::Nets(ns) => ns.iter().any(|n| n.contains(&peer)),
                PeerSet::Group(g) => member(*g, peer),
            }
    }

    /// Open to the world: peer `0.0.0.0/0`.
    pub fn open_world(&self) -> bool {
        self.peer == PeerSet::Net(ANY_NET)
    }

    /// Open to the world on every port of `protocol` (the "reverse direction"
    /// condition of AWS's untracked flows).
    pub fn all_ports_open_world(&self, protocol: u8) -> bool {
        self.open_world() && self.protocol.is_none_or(|p| p == protocol) && self.ports == Ports::Any
    }
}

/// How a direction of an ENI's groups judged a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// One of the allowing rules has peer `0.0.0.0/0`.
    pub open_world: bool,
}

/// The rules of one direction of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    /// Whether any rule allows the packet; see [`Rule::matches`].
    pub fn matching(
        &self,
        protocol: u8,
        l4: &L4,
        peer: Ipv4Addr,
        member: &impl Fn(SgIx, Ipv4Addr) -> bool,
    ) -> Option<Allowed> {
        let mut allowed = None;
        for r in &self.0 {
            if r.matches(protocol, l4, peer, member) {
                let open_world = r.open_world();
                allowed = Some(Allowed { open_world });
                if open_world {
                    break;
                }
            }
        }
        allowed
    }

    /// Whether a rule opens every port of `protocol` to the world.
    pub fn all_ports_open_world(&self, protocol: u8) -> bool {
        self.0.iter().any(|r| r.all_ports_open_world(protocol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Origin, PrefixListId, SgId, SgRuleId};

    fn rule(protocol: Protocol, from: Option<i32>, to: Option<i32>, peer: Peer) -> Rule {
        let r = SgRule {
            id: SgRuleId::generate("r"),
            protocol,
            from_port: from,
            to_port: to,
            peer,
            description: None,
            origin: Origin::default(),
        };
        Rule::compile(
            &r,
            |_| Some(SgIx(3)),
            |_| vec!["52.219.56.0/22".parse().unwrap()],
        )
        .unwrap()
    }

    fn tcp(dst_port: u16) -> L4 {
        L4::Tcp {
            src_port: 40000,
            dst_port,
            flags: 2,
        }
    }

    const NOBODY: fn(SgIx, Ipv4Addr) -> bool = |_, _| false;
    const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

    #[test]
    fn tcp_port_range_matches_destination_port() {
        let r = rule(Protocol::Tcp, Some(22), Some(22), Peer::Cidr(ANY_NET));
        assert!(r.matches(6, &tcp(22), HOST, &NOBODY));
        assert!(!r.matches(6, &tcp(23), HOST, &NOBODY));
        assert!(!r.matches(
            17,
            &L4::Udp {
                src_port: 1,
                dst_port: 22
            },
            HOST,
            &NOBODY
        ));
        assert!(r.open_world());
        assert!(!r.all_ports_open_world(6));
    }

    #[test]
    fn icmp_type_and_code() {
        let echo = L4::Icmp {
            ty: 8,
            code: 0,
            ident: Some(1),
        };
        let all = rule(Protocol::Icmp, Some(-1), Some(-1), Peer::Cidr(ANY_NET));
        let only_echo = rule(Protocol::Icmp, Some(8), Some(-1), Peer::Cidr(ANY_NET));
        let only_unreach = rule(Protocol::Icmp, Some(3), Some(4), Peer::Cidr(ANY_NET));
        assert!(all.matches(1, &echo, HOST, &NOBODY));
        assert!(only_echo.matches(1, &echo, HOST, &NOBODY));
        assert!(!only_unreach.matches(1, &echo, HOST, &NOBODY));
    }

    #[test]
    fn all_protocols_ignores_ports_and_peers_narrow() {
        let r = rule(
            Protocol::All,
            None,
            None,
            Peer::Cidr("10.0.0.0/24".parse().unwrap()),
        );
        assert!(r.matches(6, &tcp(1), Ipv4Addr::new(10, 0, 0, 9), &NOBODY));
        assert!(r.matches(47, &L4::Opaque, Ipv4Addr::new(10, 0, 0, 9), &NOBODY));
        assert!(!r.matches(6, &tcp(1), Ipv4Addr::new(10, 0, 1, 9), &NOBODY));
        assert!(!r.open_world());
    }

    #[test]
    fn group_and_prefix_list_peers() {
        let g = rule(Protocol::All, None, None, Peer::Group(SgId::generate("g")));
        let member = |ix: SgIx, ip: Ipv4Addr| ix == SgIx(3) && ip == Ipv4Addr::new(10, 0, 0, 7);
        assert!(g.matches(6, &tcp(80), Ipv4Addr::new(10, 0, 0, 7), &member));
        assert!(!g.matches(6, &tcp(80), Ipv4Addr::new(10, 0, 0, 8), &member));
        let pl = rule(
            Protocol::Tcp,
            Some(443),
            Some(443),
            Peer::PrefixList(PrefixListId::from_catalog("pl-78a54011")),
        );
        assert!(pl.matches(6, &tcp(443), Ipv4Addr::new(52, 219, 58, 1), &NOBODY));
        assert!(!pl.matches(6, &tcp(443), Ipv4Addr::new(52, 219, 60, 1), &NOBODY));
    }

    #[test]
    fn non_first_fragments_match_only_portless_rules() {
        let ranged = rule(Protocol::Udp, Some(53), Some(53), Peer::Cidr(ANY_NET));
        let full = rule(Protocol::Udp, Some(0), Some(65535), Peer::Cidr(ANY_NET));
        assert!(!ranged.matches(17, &L4::Opaque, HOST, &NOBODY));
        assert!(full.matches(17, &L4::Opaque, HOST, &NOBODY));
        assert!(full.all_ports_open_world(17));
    }

    #[test]
    fn icmpv6_rules_never_match_ipv4() {
        let r = SgRule {
            id: SgRuleId::generate("r6"),
            protocol: Protocol::Icmpv6,
            from_port: Some(-1),
            to_port: Some(-1),
            peer: Peer::Cidr(ANY_NET),
            description: None,
            origin: Origin::default(),
        };
        assert!(Rule::compile(&r, |_| None, |_| vec![]).is_none());
    }
}
