//! Route tables compiled for longest-prefix-match lookups.
//!
//! Contract: a [`Table`] is one route table: every CIDR route, and every
//! prefix-list route expanded to the list's CIDRs, in one [`Lpm`], so a lookup
//! costs the same with 10 or 10 000 routes. Where a CIDR route and a
//! prefix-list route have the same prefix, the CIDR route wins (AWS's
//! priority); where two prefix lists share a prefix, the first route in the
//! table keeps it. A route whose target is gone is a [`Hop::Blackhole`]: it
//! still matches, and the packet is dropped.

use core::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::lpm::Lpm;
use super::topology::{EniIx, VpceIx};

/// Where a matching route sends a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// The VPC's local route.
    Local,
    /// The VPC's internet gateway.
    InternetGateway,
    /// A gateway endpoint (S3, DynamoDB).
    GatewayEndpoint(VpceIx),
    /// A network interface (or an instance's primary one): a middlebox.
    Eni(EniIx),
    /// The target no longer exists (state `blackhole`).
    Blackhole,
    /// A target the data plane does not emulate (NAT gateway, peering).
    Unsupported,
}

/// One entry of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where to.
    pub hop: Hop,
    /// Index of the route in the model's route table (for explanations).
    pub route: u16,
    /// Came from a prefix-list route.
    pub prefix_list: bool,
}

/// A compiled route table.
#[derive(Debug, Default)]
pub struct Table {
    lpm: Lpm<Entry>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Table::default()
    }

    /// Adds a CIDR route: it replaces a prefix-list entry of the same prefix.
    pub fn add_cidr(&mut self, net: Ipv4Net, hop: Hop, route: u16) {
        let entry = Entry {
            hop,
            route,
            prefix_list: false,
        };
        // `Lpm::insert` only fails for a prefix length over 32, which an
        // `Ipv4Net` cannot have.
        let _ = self.lpm.insert(net.network(), net.prefix_len(), entry);
    }

    /// Adds a prefix-list route's CIDRs, where no route has that prefix yet.
    pub fn add_prefix_list(&mut self, nets: &[Ipv4Net], hop: Hop, route: u16) {
        for net in nets {
            let entry = Entry {
                hop,
                route,
                prefix_list: true,
            };
            let _ = self
                .lpm
                .get_or_insert_with(net.network(), net.prefix_len(), || entry);
        }
    }

    /// The longest-prefix match for `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Entry> {
        self.lpm.lookup(dst).map(|m| m.value)
    }

    /// Number of prefixes in the table.
    pub fn len(&self) -> usize {
        self.lpm.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.lpm.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_cidr_beats_prefix_list_on_a_tie() {
        let mut t = Table::new();
        t.add_cidr(net("10.0.0.0/16"), Hop::Local, 0);
        t.add_cidr(net("0.0.0.0/0"), Hop::InternetGateway, 1);
        t.add_prefix_list(
            &[net("52.219.56.0/22"), net("52.219.60.0/23")],
            Hop::GatewayEndpoint(VpceIx(0)),
            2,
        );
        // A CIDR route with exactly a prefix-list prefix, added later.
        t.add_cidr(net("52.219.60.0/23"), Hop::Blackhole, 3);
        let hop = |a: [u8; 4]| t.lookup(Ipv4Addr::from(a)).map(|e| e.hop);
        assert_eq!(hop([10, 0, 1, 5]), Some(Hop::Local));
        assert_eq!(hop([52, 219, 57, 1]), Some(Hop::GatewayEndpoint(VpceIx(0))));
        assert_eq!(hop([52, 219, 60, 10]), Some(Hop::Blackhole));
        assert_eq!(hop([8, 8, 8, 8]), Some(Hop::InternetGateway));

        // And the prefix list added after the CIDR does not displace it.
        let mut t2 = Table::new();
        t2.add_cidr(net("52.219.60.0/23"), Hop::Blackhole, 0);
        t2.add_prefix_list(&[net("52.219.60.0/23")], Hop::GatewayEndpoint(VpceIx(1)), 1);
        assert_eq!(
            t2.lookup(Ipv4Addr::new(52, 219, 60, 10)).map(|e| e.hop),
            Some(Hop::Blackhole)
        );
    }

    #[test]
    fn no_default_route_means_no_match() {
        let mut t = Table::new();
        t.add_cidr(net("10.0.0.0/16"), Hop::Local, 0);
        assert!(t.lookup(Ipv4Addr::new(52, 219, 60, 10)).is_none());
    }
}
