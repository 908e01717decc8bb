//! CIDR rules and deterministic address allocation.
//!
//! Contract: [`AddressPool`] hands out addresses of one subnet (or of a set of public
//! ranges) that are never reserved and never handed out twice. A subnet reserves five
//! addresses (AWS: network, +1 VPC router, +2 Amazon DNS, +3 future use, broadcast). The
//! address given for a seed is deterministic: the seed's digest picks a starting point and the
//! pool probes upward for the first free address, so the same template always gets the same
//! addresses and they look like AWS's (`10.0.1.109`), not like a counter.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::ids::digest;

/// Smallest and largest IPv4 prefix lengths AWS allows for VPCs and subnets.
pub const MIN_PREFIX: u8 = 16;
/// See [`MIN_PREFIX`].
pub const MAX_PREFIX: u8 = 28;

/// Why an address could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The address lies outside every range of the pool.
    #[error("{ip} is outside {net}")]
    Outside {
        /// The address asked for.
        ip: Ipv4Addr,
        /// The pool's ranges, comma separated.
        net: String,
    },
    /// The address is one of the subnet's five reserved addresses.
    #[error("{ip} is reserved in {net} ({why})")]
    Reserved {
        /// The reserved address.
        ip: Ipv4Addr,
        /// The subnet it is reserved in (or the public range, for its network and broadcast
        /// addresses).
        net: Ipv4Net,
        /// What it is reserved for (`network address`, `VPC router`, `Amazon DNS`, …).
        why: &'static str,
    },
    /// Another resource already has the address.
    #[error("{ip} is already in use")]
    Taken {
        /// The address asked for.
        ip: Ipv4Addr,
    },
    /// No free address is left.
    #[error("no free address left in {net}")]
    Exhausted {
        /// The pool's ranges, comma separated.
        net: String,
    },
}

/// The five reserved addresses of a subnet, with what each is for.
pub fn reserved(net: Ipv4Net) -> [(Ipv4Addr, &'static str); 5] {
    let base = u32::from(net.network());
    [
        (net.network(), "network address"),
        (Ipv4Addr::from(base + 1), "VPC router"),
        (Ipv4Addr::from(base + 2), "Amazon DNS"),
        (Ipv4Addr::from(base + 3), "reserved by AWS for future use"),
        (net.broadcast(), "network broadcast address"),
    ]
}

/// Why `ip` is reserved in `net`, if it is.
pub fn reserved_reason(net: Ipv4Net, ip: Ipv4Addr) -> Option<&'static str> {
    reserved(net)
        .iter()
        .find(|(a, _)| *a == ip)
        .map(|(_, why)| *why)
}

/// The VPC router address of a subnet (base + 1), where instances send everything.
pub fn router_address(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

/// The Amazon DNS address of a VPC (primary CIDR base + 2).
pub fn dns_address(vpc: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(vpc.network()) + 2)
}

/// Whether two networks share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Whether `s` is a CIDR written in canonical form (host bits zero).
pub fn is_canonical(net: Ipv4Net) -> bool {
    net.addr() == net.network()
}

/// Addresses handed out from one subnet, or from a set of public ranges.
#[derive(Debug, Clone)]
pub struct AddressPool {
    ranges: Vec<Ipv4Net>,
    /// Subnet pools reserve AWS's five addresses; public pools reserve network/broadcast.
    subnet: bool,
    taken: BTreeSet<Ipv4Addr>,
}

impl AddressPool {
    /// The pool of one subnet.
    pub fn subnet(net: Ipv4Net) -> Self {
        AddressPool {
            ranges: vec![net.trunc()],
            subnet: true,
            taken: BTreeSet::new(),
        }
    }

    /// A pool over several public ranges.
    pub fn public(ranges: Vec<Ipv4Net>) -> Self {
        AddressPool {
            ranges,
            subnet: false,
            taken: BTreeSet::new(),
        }
    }

    fn describe(&self) -> String {
        self.ranges
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn check(&self, ip: Ipv4Addr) -> Result<(), AllocError> {
        let Some(net) = self.ranges.iter().find(|n| n.contains(&ip)).copied() else {
            return Err(AllocError::Outside {
                ip,
                net: self.describe(),
            });
        };
        if self.subnet {
            if let Some(why) = reserved_reason(net, ip) {
                return Err(AllocError::Reserved { ip, net, why });
            }
        } else if ip == net.network() || ip == net.broadcast() {
            let why = if ip == net.network() {
                "network address"
            } else {
                "broadcast address"
            };
            return Err(AllocError::Reserved { ip, net, why });
        }
        if self.taken.contains(&ip) {
            return Err(AllocError::Taken { ip });
        }
        Ok(())
    }

    /// Takes a specific address (a template's `PrivateIpAddress`).
    pub fn take(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        self.check(ip)?;
        self.taken.insert(ip);
        Ok(())
    }

    /// Whether `ip` is free to take.
    pub fn is_free(&self, ip: Ipv4Addr) -> bool {
        self.check(ip).is_ok()
    }

    /// Hands out the address for `seed`: deterministic, never reserved, never taken.
    pub fn allocate(&mut self, seed: &str) -> Result<Ipv4Addr, AllocError> {
        let total: u64 = self
            .ranges
            .iter()
            .map(|n| 1u64 << (32 - n.prefix_len()))
            .sum();
        if total == 0 {
            return Err(AllocError::Exhausted {
                net: self.describe(),
            });
        }
        let d = digest(seed);
        let start = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) % total;
        for i in 0..total {
            let ip = self.nth((start + i) % total);
            if self.check(ip).is_ok() {
                self.taken.insert(ip);
                return Ok(ip);
            }
        }
        Err(AllocError::Exhausted {
            net: self.describe(),
        })
    }

    /// The `n`-th address across the ranges, in order.
    fn nth(&self, mut n: u64) -> Ipv4Addr {
        for r in &self.ranges {
            let size = 1u64 << (32 - r.prefix_len());
            if n < size {
                // n < size ≤ 2^32, so the sum fits an IPv4 address within the range.
                return Ipv4Addr::from(u32::from(r.network()).wrapping_add(n as u32));
            }
            n -= size;
        }
        unreachable!("n is reduced modulo the total size of the ranges")
    }

    /// How many addresses are handed out.
    pub fn used(&self) -> usize {
        self.taken.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn a_24_reserves_the_five_aws_addresses() {
        let r = reserved(net("10.0.0.0/24"));
        let ips: Vec<String> = r.iter().map(|(a, _)| a.to_string()).collect();
        assert_eq!(
            ips,
            ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.255"]
        );
    }

    #[test]
    fn take_rejects_reserved_taken_and_outside() {
        let mut p = AddressPool::subnet(net("10.0.1.0/24"));
        assert!(matches!(
            p.take("10.0.1.1".parse().unwrap()),
            Err(AllocError::Reserved { .. })
        ));
        assert!(matches!(
            p.take("10.0.2.9".parse().unwrap()),
            Err(AllocError::Outside { .. })
        ));
        p.take("10.0.1.109".parse().unwrap()).unwrap();
        assert!(matches!(
            p.take("10.0.1.109".parse().unwrap()),
            Err(AllocError::Taken { .. })
        ));
    }

    #[test]
    fn a_28_has_exactly_eleven_usable_addresses() {
        let mut p = AddressPool::subnet(net("10.0.0.16/28"));
        let mut got = BTreeSet::new();
        for i in 0..11 {
            got.insert(p.allocate(&format!("x{i}")).unwrap());
        }
        assert_eq!(got.len(), 11);
        assert!(matches!(
            p.allocate("one more"),
            Err(AllocError::Exhausted { .. })
        ));
    }

    #[test]
    fn allocation_is_deterministic() {
        let mut a = AddressPool::subnet(net("10.0.1.0/24"));
        let mut b = AddressPool::subnet(net("10.0.1.0/24"));
        assert_eq!(
            a.allocate("CloudNetaPrivateEC2").unwrap(),
            b.allocate("CloudNetaPrivateEC2").unwrap()
        );
    }

    proptest! {
        /// Whatever the subnet, pinned addresses and seeds, the pool never hands out a
        /// reserved address, an address outside the subnet, or one address twice.
        #[test]
        fn never_reserved_never_duplicate(
            base in any::<u32>(),
            prefix in MIN_PREFIX..=MAX_PREFIX,
            pinned in proptest::collection::vec(any::<u32>(), 0..8),
            seeds in proptest::collection::vec("[a-zA-Z0-9]{1,12}", 1..40),
        ) {
            let n = Ipv4Net::new(Ipv4Addr::from(base), prefix).unwrap().trunc();
            let mut pool = AddressPool::subnet(n);
            let mut seen = BTreeSet::new();
            for p in pinned {
                let size = 1u32 << (32 - prefix);
                let ip = Ipv4Addr::from(u32::from(n.network()) + p % size);
                if pool.take(ip).is_ok() {
                    prop_assert!(seen.insert(ip));
                }
            }
            for s in seeds {
                match pool.allocate(&s) {
                    Ok(ip) => {
                        prop_assert!(n.contains(&ip));
                        prop_assert!(reserved_reason(n, ip).is_none(), "{ip} reserved in {n}");
                        prop_assert!(seen.insert(ip), "{ip} handed out twice");
                    }
                    Err(AllocError::Exhausted { .. }) => {
                        prop_assert_eq!(seen.len() as u64, (1u64 << (32 - prefix)) - 5);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
        }

        #[test]
        fn public_pools_never_hand_out_duplicates(seeds in proptest::collection::vec("[a-z]{1,8}", 1..60)) {
            let mut pool = AddressPool::public(vec![net("198.51.100.0/26"), net("203.0.113.0/27")]);
            let mut seen = BTreeSet::new();
            for s in seeds {
                if let Ok(ip) = pool.allocate(&s) {
                    prop_assert!(seen.insert(ip));
                }
            }
        }
    }
}
