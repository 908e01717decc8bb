//! Network ACLs compiled for matching packets: stateless, numbered, first
//! match wins.
//!
//! Contract: an [`Acl`] holds one ACL's entries per direction, sorted by rule
//! number. [`Acl::evaluate`] walks them lowest number first and returns the
//! first matching entry's action and number; when nothing matches the packet
//! is denied by the catch-all rule (32767, the console's `*`), which every
//! ACL has and no entry can remove. Entries match protocol (`-1` = all), the
//! CIDR of the other side (destination going out, source coming in), TCP/UDP
//! destination port ranges, and ICMP type/code (`-1` = any). A non-first
//! fragment has no ports: only entries without a port range match it.

use core::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::packet::L4;
use crate::model::{AclEntry, RuleAction, ACL_DEFAULT_RULE};

/// One compiled entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    number: u16,
    allow: bool,
    protocol: Option<u8>,
    net: Ipv4Net,
    ports: Option<(u16, u16)>,
    icmp: Option<(i16, i16)>,
}

impl Entry {
    fn matches(&self, protocol: u8, l4: &L4, peer: Ipv4Addr) -> bool {
        if self.protocol.is_some_and(|p| p != protocol) || !self.net.contains(&peer) {
            return false;
        }
        let ports_ok = match self.ports {
            None | Some((0, 65535)) => true,
            Some((lo, hi)) => l4.ports().is_some_and(|(_, d)| lo <= d && d <= hi),
        };
        let icmp_ok = match (self.icmp, l4) {
            (None, _) => true,
            (Some((ty, code)), L4::Icmp { ty: t, code: c, .. }) => {
                (ty < 0 || ty == i16::from(*t)) && (code < 0 || code == i16::from(*c))
            }
            (Some((ty, code)), _) => ty < 0 && code < 0,
        };
        ports_ok && icmp_ok
    }
}

/// Which way a packet crosses the subnet boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// Entering the subnet (inbound rules, peer = source).
    In,
    /// Leaving the subnet (outbound rules, peer = destination).
    Out,
}

/// A compiled network ACL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    ingress: Vec<Entry>,
    egress: Vec<Entry>,
}

/// The decision of an ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allowed.
    pub allow: bool,
    /// The rule number that decided.
    pub rule: u16,
}

impl Acl {
    /// Compiles a model ACL's entries.
    pub fn compile(entries: &[AclEntry]) -> Acl {
        let mut acl = Acl::default();
        for e in entries {
            let c = Entry {
                number: e.rule_number,
                allow: e.action == RuleAction::Allow,
                protocol: e.protocol.number(),
                net: e.cidr,
                ports: e.port_range,
                icmp: e.icmp,
            };
            if e.egress {
                acl.egress.push(c);
            } else {
                acl.ingress.push(c);
            }
        }
        acl.ingress.sort_by_key(|e| e.number);
        acl.egress.sort_by_key(|e| e.number);
        acl
    }

    /// Judges a packet crossing the boundary `way` with `peer` on the far side.
    pub fn evaluate(&self, way: Way, protocol: u8, l4: &L4, peer: Ipv4Addr) -> Decision {
        let entries = match way {
            Way::In => &self.ingress,
            Way::Out => &self.egress,
        };
        entries
            .iter()
            .find(|e| e.matches(protocol, l4, peer))
            .map_or(
                Decision {
                    allow: false,
                    rule: ACL_DEFAULT_RULE,
                },
                |e| Decision {
                    allow: e.allow,
                    rule: e.number,
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Origin, Protocol};

    fn entry(n: u16, egress: bool, allow: bool, proto: Protocol, cidr: &str) -> AclEntry {
        AclEntry {
            rule_number: n,
            egress,
            action: if allow {
                RuleAction::Allow
            } else {
                RuleAction::Deny
            },
            protocol: proto,
            cidr: cidr.parse().unwrap(),
            port_range: None,
            icmp: None,
            origin: Origin::default(),
        }
    }

    fn tcp(dst_port: u16) -> L4 {
        L4::Tcp {
            src_port: 40000,
            dst_port,
            flags: 2,
        }
    }

    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);

    #[test]
    fn lowest_number_wins_regardless_of_order() {
        let mut deny22 = entry(90, false, false, Protocol::Tcp, "0.0.0.0/0");
        deny22.port_range = Some((22, 22));
        let acl = Acl::compile(&[
            entry(100, false, true, Protocol::All, "0.0.0.0/0"),
            deny22,
            entry(ACL_DEFAULT_RULE, false, false, Protocol::All, "0.0.0.0/0"),
        ]);
        let d = acl.evaluate(Way::In, 6, &tcp(22), PEER);
        assert_eq!(
            d,
            Decision {
                allow: false,
                rule: 90
            }
        );
        let d = acl.evaluate(Way::In, 6, &tcp(80), PEER);
        assert_eq!(
            d,
            Decision {
                allow: true,
                rule: 100
            }
        );
    }

    #[test]
    fn directions_are_separate_and_default_denies() {
        let acl = Acl::compile(&[entry(100, true, true, Protocol::All, "0.0.0.0/0")]);
        assert!(acl.evaluate(Way::Out, 6, &tcp(80), PEER).allow);
        assert_eq!(
            acl.evaluate(Way::In, 6, &tcp(80), PEER),
            Decision {
                allow: false,
                rule: ACL_DEFAULT_RULE
            }
        );
    }

    #[test]
    fn cidr_and_icmp_match() {
        let mut e = entry(10, false, true, Protocol::Icmp, "10.0.0.0/24");
        e.icmp = Some((8, -1));
        let acl = Acl::compile(&[e]);
        let echo = L4::Icmp {
            ty: 8,
            code: 0,
            ident: Some(7),
        };
        let reply = L4::Icmp {
            ty: 0,
            code: 0,
            ident: Some(7),
        };
        assert!(acl.evaluate(Way::In, 1, &echo, PEER).allow);
        assert!(!acl.evaluate(Way::In, 1, &reply, PEER).allow);
        assert!(
            !acl.evaluate(Way::In, 1, &echo, Ipv4Addr::new(10, 0, 1, 5))
                .allow
        );
    }
}
