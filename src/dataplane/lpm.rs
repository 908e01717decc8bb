//! A longest-prefix-match table: the lookup structure under route tables.
//!
//! Contract:
//! - [`Lpm<V>`] maps IPv4 prefixes to values; `Lpm<V, Ipv6Addr>` does the
//!   same for IPv6.
//! - [`Lpm::lookup`] finds the value of the longest prefix containing an
//!   address. Its cost depends on the number of *distinct prefix lengths*
//!   present (at most 33 hash probes for IPv4, 129 for IPv6), not on the
//!   number of routes: one hash map per length, probed longest first.
//!   It never allocates.
//! - IPv4 tables with more than [`FILTER_MIN_ROUTES`] routes also keep a
//!   filter: for each /16 block of the address space, a bit set of the
//!   prefix lengths that have a route touching that block (512 KiB). A
//!   lookup then probes only those lengths — usually a handful, however many
//!   routes and lengths the table holds.
//! - Prefixes are normalised: host bits beyond the prefix length are
//!   ignored, so `10.0.0.1/16` and `10.0.0.0/16` are the same key. Validating
//!   CIDRs is the route-table layer's job.
//! - One value per exact prefix. To express a tie-break between candidates
//!   for the same prefix (a CIDR route beats a prefix-list route), store both
//!   in `V` (see [`Lpm::get_or_insert_with`]) and resolve on lookup.

use core::fmt::Debug;
use core::hash::Hash;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::ops::Range;
use std::collections::HashMap;

use super::hash::FastState;
use thiserror::Error;

/// Errors of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LpmError {
    /// A prefix length beyond the address width.
    #[error("prefix length /{len} exceeds /{max}")]
    PrefixTooLong {
        /// The length asked for.
        len: u8,
        /// The address width.
        max: u8,
    },
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for core::net::Ipv4Addr {}
    impl Sealed for core::net::Ipv6Addr {}
}

/// An address family the table can hold: `Ipv4Addr` or `Ipv6Addr`.
pub trait Family: sealed::Sealed + Copy + Eq + Debug {
    /// The address as an integer.
    type Bits: Copy + Eq + Hash + Debug;
    /// Address width in bits.
    const MAX_LEN: u8;
    /// The address as an integer, most significant bit first.
    fn to_bits(self) -> Self::Bits;
    /// The address of an integer.
    fn from_bits(bits: Self::Bits) -> Self;
    /// Keeps the top `len` bits (all bits if `len` ≥ `MAX_LEN`).
    fn mask(bits: Self::Bits, len: u8) -> Self::Bits;
    /// Whether lookups can use the per-/16 length filter.
    const FILTERED: bool;
    /// The /16 block of an address (top 16 bits), for the filter.
    fn block(bits: Self::Bits) -> u16;
}

impl Family for Ipv4Addr {
    type Bits = u32;
    const MAX_LEN: u8 = 32;
    fn to_bits(self) -> u32 {
        u32::from(self)
    }
    fn from_bits(bits: u32) -> Self {
        Ipv4Addr::from(bits)
    }
    fn mask(bits: u32, len: u8) -> u32 {
        bits & u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(len)))
            .unwrap_or(0)
    }
    const FILTERED: bool = true;
    fn block(bits: u32) -> u16 {
        (bits >> 16) as u16
    }
}

impl Family for Ipv6Addr {
    type Bits = u128;
    const MAX_LEN: u8 = 128;
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
    fn mask(bits: u128, len: u8) -> u128 {
        bits & u128::MAX
            .checked_shl(128u32.saturating_sub(u32::from(len)))
            .unwrap_or(0)
    }
    const FILTERED: bool = false;
    fn block(bits: u128) -> u16 {
        (bits >> 112) as u16
    }
}

/// Routes an IPv4 table holds before it builds its per-/16 filter.
pub const FILTER_MIN_ROUTES: usize = 64;

/// Bits of an address that pick a filter block.
const BLOCK_BITS: u8 = 16;

/// Which prefix lengths touch each /16 block (IPv4 only: lengths 0..=32).
#[derive(Clone, Debug)]
struct Filter {
    /// Bit `n` of `masks[b]`: some /n route covers part of block `b`.
    masks: Box<[u64]>,
    /// Routes of length ≥ 16 per (block, length): when the bit may clear.
    counts: HashMap<(u16, u8), u32, FastState>,
}

impl Filter {
    fn new() -> Filter {
        Filter {
            masks: vec![0u64; 1 << BLOCK_BITS].into_boxed_slice(),
            counts: HashMap::with_hasher(FastState::with_seed(16)),
        }
    }

    /// Blocks covered by a prefix of `len` starting in (aligned) `block`.
    fn blocks(block: u16, len: u8) -> Range<usize> {
        let first = usize::from(block);
        let n = 1usize << BLOCK_BITS.saturating_sub(len);
        first..first + n
    }

    fn add(&mut self, block: u16, len: u8) {
        if len >= BLOCK_BITS {
            *self.counts.entry((block, len)).or_insert(0) += 1;
        }
        for m in self
            .masks
            .get_mut(Self::blocks(block, len))
            .unwrap_or(&mut [])
        {
            *m |= 1u64 << len;
        }
    }

    fn remove(&mut self, block: u16, len: u8) {
        if len >= BLOCK_BITS {
            let c = self.counts.entry((block, len)).or_insert(1);
            *c -= 1;
            if *c > 0 {
                return;
            }
            self.counts.remove(&(block, len));
        }
        for m in self
            .masks
            .get_mut(Self::blocks(block, len))
            .unwrap_or(&mut [])
        {
            *m &= !(1u64 << len);
        }
    }

    fn lengths(&self, block: u16) -> u64 {
        self.masks
            .get(usize::from(block))
            .copied()
            .unwrap_or(u64::MAX)
    }
}

/// Marks a length with no level in [`Lpm::level_of`].
const NO_LEVEL: u8 = u8::MAX;

/// All routes of one prefix length.
#[derive(Clone, Debug)]
struct Level<K, V> {
    prefix_len: u8,
    routes: HashMap<K, V, FastState>,
}

/// The result of [`Lpm::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match<'a, A, V> {
    /// The matching prefix (host bits zero).
    pub prefix: A,
    /// Its length.
    pub prefix_len: u8,
    /// Its value.
    pub value: &'a V,
}

/// A longest-prefix-match table; see the module docs.
#[derive(Clone, Debug)]
pub struct Lpm<V, A: Family = Ipv4Addr> {
    /// Non-empty levels, longest prefix first.
    levels: Vec<Level<A::Bits, V>>,
    /// Prefix length → index in `levels`, [`NO_LEVEL`] if none.
    level_of: [u8; 129],
    filter: Option<Box<Filter>>,
    len: usize,
}

impl<V, A: Family> Default for Lpm<V, A> {
    fn default() -> Self {
        Lpm {
            levels: Vec::new(),
            level_of: [NO_LEVEL; 129],
            filter: None,
            len: 0,
        }
    }
}

/// Probes one level for `bits`.
fn probe<A: Family, V>(level: &Level<A::Bits, V>, bits: A::Bits) -> Option<Match<'_, A, V>> {
    let key = A::mask(bits, level.prefix_len);
    level.routes.get(&key).map(|value| Match {
        prefix: A::from_bits(key),
        prefix_len: level.prefix_len,
        value,
    })
}

fn check_len<A: Family>(len: u8) -> Result<(), LpmError> {
    if len > A::MAX_LEN {
        return Err(LpmError::PrefixTooLong {
            len,
            max: A::MAX_LEN,
        });
    }
    Ok(())
}

impl<V, A: Family> Lpm<V, A> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No prefixes at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct prefix lengths: the most probes a lookup makes.
    pub fn distinct_lengths(&self) -> usize {
        self.levels.len()
    }

    fn level(&self, len: u8) -> Option<&Level<A::Bits, V>> {
        let i = *self.level_of.get(usize::from(len))?;
        self.levels.get(usize::from(i))
    }

    /// Rebuilds `level_of` after a level was added or removed.
    fn reindex(&mut self) {
        self.level_of = [NO_LEVEL; 129];
        for (i, l) in self.levels.iter().enumerate() {
            if let Some(slot) = self.level_of.get_mut(usize::from(l.prefix_len)) {
                *slot = i as u8;
            }
        }
    }

    /// Before `key/len` goes into level `i`: if it is new, counts it and
    /// keeps the filter in step (building the filter once the table is big
    /// enough to profit).
    fn note_new(&mut self, i: usize, key: A::Bits, len: u8) {
        if self.levels[i].routes.contains_key(&key) {
            return;
        }
        self.len += 1;
        if !A::FILTERED {
            return;
        }
        if self.filter.is_none() && self.len > FILTER_MIN_ROUTES {
            let mut f = Box::new(Filter::new());
            for level in &self.levels {
                for k in level.routes.keys() {
                    f.add(A::block(*k), level.prefix_len);
                }
            }
            self.filter = Some(f);
        }
        if let Some(f) = self.filter.as_mut() {
            f.add(A::block(key), len);
        }
    }

    /// Index of the level for `len`, created (in order) if missing.
    fn level_index(&mut self, len: u8) -> usize {
        match self.levels.iter().position(|l| l.prefix_len <= len) {
            Some(i) if self.levels.get(i).is_some_and(|l| l.prefix_len == len) => i,
            Some(i) => self.insert_level(i, len),
            None => self.insert_level(self.levels.len(), len),
        }
    }

    fn insert_level(&mut self, at: usize, len: u8) -> usize {
        let routes = HashMap::with_hasher(FastState::with_seed(u64::from(len)));
        self.levels.insert(
            at,
            Level {
                prefix_len: len,
                routes,
            },
        );
        self.reindex();
        at
    }

    /// Inserts `value` for `addr/len`; returns the value it replaced.
    pub fn insert(&mut self, addr: A, len: u8, value: V) -> Result<Option<V>, LpmError> {
        check_len::<A>(len)?;
        let key = A::mask(addr.to_bits(), len);
        let i = self.level_index(len);
        self.note_new(i, key, len);
        Ok(self.levels[i].routes.insert(key, value))
    }

    /// The value for exactly `addr/len`, inserting `make()` if there is none.
    pub fn get_or_insert_with(
        &mut self,
        addr: A,
        len: u8,
        make: impl FnOnce() -> V,
    ) -> Result<&mut V, LpmError> {
        check_len::<A>(len)?;
        let key = A::mask(addr.to_bits(), len);
        let i = self.level_index(len);
        self.note_new(i, key, len);
        Ok(self.levels[i].routes.entry(key).or_insert_with(make))
    }

    /// Removes `addr/len`; returns its value.
    pub fn remove(&mut self, addr: A, len: u8) -> Option<V> {
        let key = A::mask(addr.to_bits(), len);
        let i = self.levels.iter().position(|l| l.prefix_len == len)?;
        let level = self.levels.get_mut(i)?;
        let old = level.routes.remove(&key)?;
        if level.routes.is_empty() {
            self.levels.remove(i);
            self.reindex();
        }
        if let Some(f) = self.filter.as_mut() {
            f.remove(A::block(key), len);
        }
        self.len -= 1;
        Some(old)
    }

    /// The value for exactly `addr/len`.
    pub fn get(&self, addr: A, len: u8) -> Option<&V> {
        let key = A::mask(addr.to_bits(), len);
        self.level(len)?.routes.get(&key)
    }

    /// The value for exactly `addr/len`, writable.
    pub fn get_mut(&mut self, addr: A, len: u8) -> Option<&mut V> {
        let key = A::mask(addr.to_bits(), len);
        self.levels
            .iter_mut()
            .find(|l| l.prefix_len == len)?
            .routes
            .get_mut(&key)
    }

    /// The longest prefix containing `addr`, with its value.
    pub fn lookup(&self, addr: A) -> Option<Match<'_, A, V>> {
        let bits = addr.to_bits();
        let Some(filter) = self.filter.as_deref() else {
            return self.levels.iter().find_map(|level| probe(level, bits));
        };
        let mut lengths = filter.lengths(A::block(bits));
        while lengths != 0 {
            let len = 63 - lengths.leading_zeros() as u8;
            lengths &= !(1u64 << len);
            if let Some(hit) = self.level(len).and_then(|level| probe(level, bits)) {
                return Some(hit);
            }
        }
        None
    }

    /// All prefixes, longest first (order within a length unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (A, u8, &V)> + '_ {
        self.levels.iter().flat_map(|level| {
            level
                .routes
                .iter()
                .map(move |(k, v)| (A::from_bits(*k), level.prefix_len, v))
        })
    }

    /// Removes every prefix.
    pub fn clear(&mut self) {
        self.levels.clear();
        self.level_of = [NO_LEVEL; 129];
        self.filter = None;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = Lpm::new();
        t.insert(v4("0.0.0.0"), 0, "igw").unwrap();
        t.insert(v4("10.0.0.0"), 16, "local").unwrap();
        t.insert(v4("10.0.1.0"), 24, "pcx").unwrap();
        t.insert(v4("10.0.1.7"), 32, "eni").unwrap();
        let hit = |a: &str| t.lookup(v4(a)).map(|m| (*m.value, m.prefix_len));
        assert_eq!(hit("10.0.1.7"), Some(("eni", 32)));
        assert_eq!(hit("10.0.1.8"), Some(("pcx", 24)));
        assert_eq!(hit("10.0.2.1"), Some(("local", 16)));
        assert_eq!(hit("8.8.8.8"), Some(("igw", 0)));
        let m = t.lookup(v4("10.0.1.200")).unwrap();
        assert_eq!(m.prefix, v4("10.0.1.0"));
        assert_eq!(t.len(), 4);
        assert_eq!(t.distinct_lengths(), 4);
    }

    #[test]
    fn no_default_route_means_no_match() {
        let mut t = Lpm::new();
        t.insert(v4("10.0.0.0"), 8, 1).unwrap();
        assert!(t.lookup(v4("11.0.0.1")).is_none());
        assert!(Lpm::<u8>::new().lookup(v4("1.2.3.4")).is_none());
    }

    #[test]
    fn host_bits_are_ignored_and_insert_replaces() {
        let mut t = Lpm::new();
        assert_eq!(t.insert(v4("10.0.0.1"), 16, 'a'), Ok(None));
        assert_eq!(t.insert(v4("10.0.255.255"), 16, 'b'), Ok(Some('a')));
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(v4("10.0.0.0"), 16), Some(&'b'));
        assert_eq!(t.lookup(v4("10.0.3.3")).unwrap().prefix, v4("10.0.0.0"));
    }

    #[test]
    fn remove_drops_empty_levels() {
        let mut t = Lpm::new();
        t.insert(v4("10.0.0.0"), 16, 1).unwrap();
        t.insert(v4("10.0.1.0"), 24, 2).unwrap();
        assert_eq!(t.remove(v4("10.0.1.0"), 24), Some(2));
        assert_eq!(t.remove(v4("10.0.1.0"), 24), None);
        assert_eq!(t.remove(v4("10.0.1.0"), 200), None);
        assert_eq!(t.distinct_lengths(), 1);
        assert_eq!(*t.lookup(v4("10.0.1.1")).unwrap().value, 1);
        *t.get_mut(v4("10.0.0.0"), 16).unwrap() = 5;
        assert_eq!(*t.lookup(v4("10.0.1.1")).unwrap().value, 5);
        t.clear();
        assert!(t.is_empty());
    }

    #[test]
    fn too_long_prefix_is_an_error() {
        let mut t = Lpm::new();
        assert_eq!(
            t.insert(v4("1.2.3.4"), 33, ()),
            Err(LpmError::PrefixTooLong { len: 33, max: 32 })
        );
        let mut t6: Lpm<(), Ipv6Addr> = Lpm::new();
        assert!(t6.insert(Ipv6Addr::LOCALHOST, 129, ()).is_err());
        assert!(t6.insert(Ipv6Addr::LOCALHOST, 128, ()).is_ok());
    }

    /// How the route-table layer can express "an exact tie: a CIDR route
    /// beats a prefix-list route": both candidates live in one value.
    #[test]
    fn tie_break_by_storing_both_candidates() {
        #[derive(Default, Debug)]
        struct Candidates {
            cidr: Option<&'static str>,
            prefix_list: Option<&'static str>,
        }
        impl Candidates {
            fn best(&self) -> Option<&'static str> {
                self.cidr.or(self.prefix_list)
            }
        }
        let mut t: Lpm<Candidates> = Lpm::new();
        let net = v4("52.219.0.0");
        t.get_or_insert_with(net, 16, Candidates::default)
            .unwrap()
            .prefix_list = Some("vpce-s3");
        assert_eq!(
            t.lookup(v4("52.219.60.10")).unwrap().value.best(),
            Some("vpce-s3")
        );
        t.get_or_insert_with(net, 16, Candidates::default)
            .unwrap()
            .cidr = Some("igw");
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.lookup(v4("52.219.60.10")).unwrap().value.best(),
            Some("igw")
        );
    }

    #[test]
    fn filter_is_built_past_the_threshold_and_kept_exact() {
        let mut t = Lpm::new();
        t.insert(v4("0.0.0.0"), 0, 0u32).unwrap();
        t.insert(v4("10.0.0.0"), 8, 8).unwrap();
        for i in 0..FILTER_MIN_ROUTES as u32 - 1 {
            assert!(t.filter.is_none());
            t.insert(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24, 100 + i)
                .unwrap();
        }
        assert!(t.filter.is_some());
        assert_eq!(*t.lookup(v4("10.0.5.9")).unwrap().value, 105);
        assert_eq!(*t.lookup(v4("10.200.0.1")).unwrap().value, 8);
        assert_eq!(*t.lookup(v4("11.0.0.1")).unwrap().value, 0);
        // Removing the /8 clears its bit in all 256 blocks it covered.
        t.remove(v4("10.0.0.0"), 8).unwrap();
        assert_eq!(*t.lookup(v4("10.200.0.1")).unwrap().value, 0);
        // Two /24s in one /16 block: the bit stays until both are gone.
        t.remove(v4("10.0.5.0"), 24).unwrap();
        assert_eq!(*t.lookup(v4("10.0.6.1")).unwrap().value, 106);
        assert_eq!(*t.lookup(v4("10.0.5.1")).unwrap().value, 0);
    }

    #[test]
    fn ipv6_lookup() {
        let mut t: Lpm<u8, Ipv6Addr> = Lpm::new();
        t.insert("::".parse().unwrap(), 0, 0).unwrap();
        t.insert("2001:db8::".parse().unwrap(), 32, 1).unwrap();
        t.insert("2001:db8:1::".parse().unwrap(), 56, 2).unwrap();
        let hit = |a: &str| *t.lookup(a.parse().unwrap()).unwrap().value;
        assert_eq!(hit("2001:db8:1:0::5"), 2);
        assert_eq!(hit("2001:db8:2::5"), 1);
        assert_eq!(hit("fe80::1"), 0);
    }

    fn oracle<A: Family>(routes: &[(A, u8, u32)], addr: A) -> Option<(u8, &u32)> {
        let mut best: Option<(u8, &u32)> = None;
        for (p, len, v) in routes {
            let hit = A::mask(addr.to_bits(), *len) == A::mask(p.to_bits(), *len);
            if hit && best.is_none_or(|(l, _)| *len > l) {
                best = Some((*len, v));
            }
        }
        best
    }

    /// Addresses from a small space so prefixes overlap and lookups hit.
    fn addr4() -> impl Strategy<Value = Ipv4Addr> {
        (0u32..4, any::<u32>()).prop_map(|(top, low)| Ipv4Addr::from((top << 30) | (low >> 2)))
    }

    proptest! {
        #[test]
        fn lookup_equals_linear_scan_v4(
            routes in proptest::collection::vec((addr4(), 0u8..=32), 0..200),
            probes in proptest::collection::vec((addr4(), any::<prop::sample::Index>(), 0u32..1024), 1..60),
            removals in proptest::collection::vec(any::<prop::sample::Index>(), 0..120),
        ) {
            let mut t = Lpm::new();
            let mut model: Vec<(Ipv4Addr, u8, u32)> = Vec::new();
            for (i, (a, len)) in routes.iter().enumerate() {
                let v = i as u32;
                t.insert(*a, *len, v).unwrap();
                let k = Ipv4Addr::mask(a.to_bits(), *len);
                model.retain(|(p, l, _)| !(*l == *len && p.to_bits() == k));
                model.push((Ipv4Addr::from(k), *len, v));
            }
            for r in removals {
                if model.is_empty() { break; }
                let (p, l, v) = model.remove(r.index(model.len()));
                prop_assert_eq!(t.remove(p, l), Some(v));
            }
            prop_assert_eq!(t.len(), model.len());
            for (random, near, low) in probes {
                // Half the probes land near a route so long prefixes match.
                let a = match model.get(near.index(model.len().max(1))) {
                    Some((p, _, _)) if low % 2 == 0 => Ipv4Addr::from(p.to_bits() ^ (low >> 1)),
                    _ => random,
                };
                let got = t.lookup(a).map(|m| (m.prefix_len, m.value));
                prop_assert_eq!(got, oracle(&model, a));
            }
        }

        #[test]
        fn lookup_equals_linear_scan_v6(
            routes in proptest::collection::vec((0u128..16, any::<u128>(), 0u8..=128), 0..40),
            probes in proptest::collection::vec((0u128..16, any::<u128>()), 1..30),
        ) {
            let mk = |top: u128, low: u128| Ipv6Addr::from((top << 124) | (low >> 4));
            let mut t: Lpm<u32, Ipv6Addr> = Lpm::new();
            let mut model: Vec<(Ipv6Addr, u8, u32)> = Vec::new();
            for (i, (top, low, len)) in routes.iter().enumerate() {
                let a = mk(*top, *low);
                t.insert(a, *len, i as u32).unwrap();
                let k = Ipv6Addr::mask(a.to_bits(), *len);
                model.retain(|(p, l, _)| !(*l == *len && p.to_bits() == k));
                model.push((Ipv6Addr::from(k), *len, i as u32));
            }
            for (top, low) in probes {
                let a = mk(top, low);
                prop_assert_eq!(t.lookup(a).map(|m| (m.prefix_len, m.value)), oracle(&model, a));
            }
        }
    }
}
