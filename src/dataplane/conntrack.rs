//! Bounded connection tracking: the state behind stateful security groups
//! (and, later, NAT and NLB flow pinning, kept in the generic value `V`).
//!
//! Contract:
//! - A flow is keyed by (zone, protocol, src ip, dst ip, src port, dst port),
//!   the zone separating address spaces that may overlap (the router uses one
//!   zone per VPC); ICMP
//!   echo uses the echo identifier as both ports ([`FlowKey::icmp_echo`]).
//!   Keys are normalised, so both directions find the same entry, and the
//!   entry remembers which direction opened the flow ([`Direction`]).
//! - Each entry has a last-seen time and a timeout chosen by protocol and
//!   state ([`Timeouts`]). An entry idle for its timeout or longer is dead:
//!   never returned, and reclaimed lazily when a lookup finds it, or by the
//!   incremental sweep [`Conntrack::expire`] (`budget` slots per call).
//! - Capacity is fixed at construction and all memory is allocated then:
//!   lookup, refresh, insert and removal never allocate and never rehash.
//!   The index is an open-addressing table (linear probing, at most half
//!   full, backward-shift deletion: no tombstones), so no operation has an
//!   O(n) pause, unlike a general-purpose hash map that rehashes to clear
//!   tombstones under churn. When the table is full of
//!   live flows a new flow is refused with [`ConntrackFull`] while existing
//!   flows keep working. Before refusing, insert reclaims expired entries
//!   from a bounded window ([`RECLAIM_ON_FULL`] slots), never the whole table.
//! - IPv4 only for now (the VPC model is IPv4).

use core::hash::BuildHasher;
use core::mem::size_of;
use core::net::Ipv4Addr;
use core::time::Duration;

use thiserror::Error;

use super::hash::FastState;
use super::time::Instant;
use super::wire::{proto, tcp_flags as tcp};

/// Slots an insert into a full table examines for expired entries.
pub const RECLAIM_ON_FULL: usize = 32;

/// The error of this module: the table is full of live flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("connection tracking table full ({capacity} flows): new flow refused")]
pub struct ConntrackFull {
    /// The table's capacity.
    pub capacity: usize,
}

/// A flow as seen on one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The address space (the router: the VPC's index); 0 by default.
    pub zone: u32,
    /// IP protocol number.
    pub protocol: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port (ICMP echo: identifier).
    pub src_port: u16,
    /// Destination port (ICMP echo: identifier).
    pub dst_port: u16,
}

impl FlowKey {
    /// A TCP/UDP (or other protocol, ports 0) flow key.
    pub const fn new(
        protocol: u8,
        src: Ipv4Addr,
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
    ) -> Self {
        FlowKey {
            zone: 0,
            protocol,
            src,
            dst,
            src_port,
            dst_port,
        }
    }

    /// An ICMP echo request or reply, keyed by its identifier.
    pub const fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, ident: u16) -> Self {
        Self::new(proto::ICMP, src, ident, dst, ident)
    }

    /// The same key in address space `zone`.
    pub const fn in_zone(mut self, zone: u32) -> Self {
        self.zone = zone;
        self
    }

    /// The key of the other direction.
    pub const fn reversed(&self) -> Self {
        Self::new(
            self.protocol,
            self.dst,
            self.dst_port,
            self.src,
            self.src_port,
        )
        .in_zone(self.zone)
    }
}

/// Both directions of a flow map to one key: lower (addr, port) first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CanonKey {
    zone: u32,
    lo_addr: u32,
    hi_addr: u32,
    lo_port: u16,
    hi_port: u16,
    protocol: u8,
}

/// The canonical key, and whether the packet's source is its `lo` end.
fn canon(k: &FlowKey) -> (CanonKey, bool) {
    let s = (u32::from(k.src), k.src_port);
    let d = (u32::from(k.dst), k.dst_port);
    let src_is_lo = s <= d;
    let (lo, hi) = if src_is_lo { (s, d) } else { (d, s) };
    let key = CanonKey {
        zone: k.zone,
        lo_addr: lo.0,
        hi_addr: hi.0,
        lo_port: lo.1,
        hi_port: hi.1,
        protocol: k.protocol,
    };
    (key, src_is_lo)
}

/// Which way a packet goes relative to the packet that opened the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Same direction as the first packet.
    Original,
    /// The other way.
    Reply,
}

/// Where a flow is in its life; picks its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// TCP before the handshake completes (SYN seen, or picked up mid-stream).
    TcpOpening,
    /// TCP after a reply and then an ACK from the opener.
    TcpEstablished,
    /// TCP after FIN or RST.
    TcpClosing,
    /// UDP with traffic in the original direction only.
    UdpSingle,
    /// UDP that has seen a reply.
    UdpStream,
    /// ICMP echo.
    Icmp,
    /// Any other protocol.
    Other,
}

/// Idle timeouts per state.
///
/// Defaults follow AWS's documented security-group tracking timeouts: TCP
/// established 432000 s (5 days), UDP 30 s, UDP stream 180 s. UNCONFIRMED in
/// AWS (our choices): TCP not established or closing (`tcp_transitory`)
/// 120 s, ICMP 30 s, other protocols 600 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// [`FlowState::TcpEstablished`].
    pub tcp_established: Duration,
    /// [`FlowState::TcpOpening`] and [`FlowState::TcpClosing`].
    pub tcp_transitory: Duration,
    /// [`FlowState::UdpSingle`].
    pub udp_single: Duration,
    /// [`FlowState::UdpStream`].
    pub udp_stream: Duration,
    /// [`FlowState::Icmp`].
    pub icmp: Duration,
    /// [`FlowState::Other`].
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: Duration::from_secs(432_000),
            tcp_transitory: Duration::from_secs(120),
            udp_single: Duration::from_secs(30),
            udp_stream: Duration::from_secs(180),
            icmp: Duration::from_secs(30),
            other: Duration::from_secs(600),
        }
    }
}

impl Timeouts {
    /// The idle timeout of a flow in `state`.
    pub const fn for_state(&self, state: FlowState) -> Duration {
        match state {
            FlowState::TcpOpening | FlowState::TcpClosing => self.tcp_transitory,
            FlowState::TcpEstablished => self.tcp_established,
            FlowState::UdpSingle => self.udp_single,
            FlowState::UdpStream => self.udp_stream,
            FlowState::Icmp => self.icmp,
            FlowState::Other => self.other,
        }
    }
}

/// A tracked flow.
#[derive(Debug)]
struct Entry<V> {
    key: CanonKey,
    last_seen: Instant,
    state: FlowState,
    /// The opener was the `lo` end of the key.
    orig_is_lo: bool,
    /// A packet has gone the reply way since the flow (re)opened.
    seen_reply: bool,
    value: V,
}

#[derive(Debug)]
enum Slot<V> {
    Used(Entry<V>),
    Free { next: u32 },
}

const NIL: u32 = u32::MAX;

/// A tracked flow as a lookup or insert returns it.
#[derive(Debug)]
pub struct Hit<'a, V> {
    /// The packet's direction.
    pub direction: Direction,
    /// The flow's state after this packet.
    pub state: FlowState,
    /// The caller's per-flow state.
    pub value: &'a mut V,
}

/// One bucket of the index: the low 32 bits of the key's hash (its home
/// bucket and a cheap pre-compare) and the slot number, [`NIL`] if empty.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tag: u32,
    slot: u32,
}

const EMPTY: Bucket = Bucket { tag: 0, slot: NIL };

/// The connection-tracking table; see the module docs.
#[derive(Debug)]
pub struct Conntrack<V> {
    /// Power-of-two length, at least twice the capacity.
    buckets: Vec<Bucket>,
    mask: usize,
    hasher: FastState,
    len: usize,
    slots: Vec<Slot<V>>,
    free: u32,
    capacity: usize,
    cursor: usize,
    timeouts: Timeouts,
}

fn initial_state(protocol: u8, tcp_flags: u8) -> FlowState {
    match protocol {
        proto::TCP if tcp_flags & (tcp::FIN | tcp::RST) != 0 => FlowState::TcpClosing,
        proto::TCP => FlowState::TcpOpening,
        proto::UDP => FlowState::UdpSingle,
        proto::ICMP => FlowState::Icmp,
        _ => FlowState::Other,
    }
}

impl<V> Entry<V> {
    /// Advances the state machine for one packet.
    fn observe(&mut self, dir: Direction, tcp_flags: u8) {
        let reply = dir == Direction::Reply;
        match self.state {
            FlowState::TcpOpening | FlowState::TcpEstablished | FlowState::TcpClosing => {
                self.observe_tcp(reply, tcp_flags)
            }
            FlowState::UdpSingle if reply => self.state = FlowState::UdpStream,
            _ => {}
        }
        self.seen_reply |= reply;
    }

    fn observe_tcp(&mut self, reply: bool, flags: u8) {
        let syn_only = flags & (tcp::SYN | tcp::ACK) == tcp::SYN;
        self.state = match self.state {
            _ if flags & (tcp::FIN | tcp::RST) != 0 => FlowState::TcpClosing,
            FlowState::TcpClosing if syn_only && !reply => {
                self.seen_reply = false;
                FlowState::TcpOpening
            }
            FlowState::TcpOpening
                if !reply && self.seen_reply && flags & (tcp::ACK | tcp::SYN) == tcp::ACK =>
            {
                FlowState::TcpEstablished
            }
            s => s,
        };
    }

    fn direction(&self, src_is_lo: bool) -> Direction {
        if src_is_lo == self.orig_is_lo {
            Direction::Original
        } else {
            Direction::Reply
        }
    }
}

impl<V> Conntrack<V> {
    /// A table for at most `capacity` flows (capped at 2^30), all
    /// memory allocated now. `seed` keys the hash of packet-derived keys.
    pub fn new(capacity: usize, timeouts: Timeouts, seed: u64) -> Self {
        let capacity = capacity.min(1 << 30);
        let n = (capacity * 2).next_power_of_two().max(2);
        Conntrack {
            buckets: vec![EMPTY; n],
            mask: n - 1,
            hasher: FastState::with_seed(seed),
            len: 0,
            slots: Vec::with_capacity(capacity),
            free: NIL,
            capacity,
            cursor: 0,
            timeouts,
        }
    }

    /// Flows in the table, including expired ones not yet reclaimed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No flows at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most flows the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Bytes of one slot (entry with its value).
    pub const fn slot_size() -> usize {
        size_of::<Slot<V>>()
    }

    /// Bytes the table holds at full capacity: slots plus index buckets.
    pub fn memory_bytes(&self) -> usize {
        self.capacity * Self::slot_size() + self.buckets.len() * size_of::<Bucket>()
    }

    fn tag(&self, key: &CanonKey) -> u32 {
        self.hasher.hash_one(key) as u32
    }

    /// The bucket position and slot of `key`, if present.
    fn find(&self, key: &CanonKey) -> Option<(usize, u32)> {
        let tag = self.tag(key);
        let mut i = tag as usize & self.mask;
        loop {
            let b = *self.buckets.get(i)?;
            if b.slot == NIL {
                return None;
            }
            if b.tag == tag
                && matches!(self.slots.get(b.slot as usize), Some(Slot::Used(e)) if e.key == *key)
            {
                return Some((i, b.slot));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `key → slot`; the key must be absent and the index not full.
    fn index_insert(&mut self, key: &CanonKey, slot: u32) {
        let tag = self.tag(key);
        let mut i = tag as usize & self.mask;
        while let Some(b) = self.buckets.get_mut(i) {
            if b.slot == NIL {
                *b = Bucket { tag, slot };
                self.len += 1;
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Empties bucket `pos`, shifting later members of its probe run back
    /// so that every key stays reachable from its home bucket.
    fn index_remove(&mut self, pos: usize) {
        let mask = self.mask;
        let mut hole = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let Some(&b) = self.buckets.get(j) else { break };
            if b.slot == NIL {
                break;
            }
            let home = b.tag as usize & mask;
            // b may fill the hole if the hole lies between its home and j.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                if let Some(h) = self.buckets.get_mut(hole) {
                    *h = b;
                }
                hole = j;
            }
        }
        if let Some(h) = self.buckets.get_mut(hole) {
            *h = EMPTY;
        }
        self.len -= 1;
    }

    fn is_expired(&self, e: &Entry<V>, now: Instant) -> bool {
        now.saturating_duration_since(e.last_seen) >= self.timeouts.for_state(e.state)
    }

    /// Finds the flow of a packet, refreshes its last-seen time and advances
    /// its state (`tcp_flags` is byte 13 of the TCP header, 0 otherwise). An
    /// expired flow is reclaimed and reported as absent.
    pub fn lookup(&mut self, now: Instant, key: &FlowKey, tcp_flags: u8) -> Option<Hit<'_, V>> {
        let (ck, src_is_lo) = canon(key);
        let (pos, idx) = self.find(&ck)?;
        let expired = match self.slots.get(idx as usize) {
            Some(Slot::Used(e)) => self.is_expired(e, now),
            _ => return None,
        };
        if expired {
            self.release_at(pos, idx);
            return None;
        }
        let Some(Slot::Used(e)) = self.slots.get_mut(idx as usize) else {
            return None;
        };
        let direction = e.direction(src_is_lo);
        e.last_seen = now;
        e.observe(direction, tcp_flags);
        Some(Hit {
            direction,
            state: e.state,
            value: &mut e.value,
        })
    }

    /// The live flow of a packet, without refreshing it.
    pub fn peek(&self, now: Instant, key: &FlowKey) -> Option<(Direction, FlowState, &V)> {
        let (ck, src_is_lo) = canon(key);
        match self.slots.get(self.find(&ck)?.1 as usize)? {
            Slot::Used(e) if !self.is_expired(e, now) => {
                Some((e.direction(src_is_lo), e.state, &e.value))
            }
            _ => None,
        }
    }

    /// Starts tracking the flow of `key`, this packet being its original
    /// direction. An existing entry for the flow is replaced. When the table
    /// is full of live flows the flow is refused and nothing changes.
    pub fn insert(
        &mut self,
        now: Instant,
        key: &FlowKey,
        tcp_flags: u8,
        value: V,
    ) -> Result<Hit<'_, V>, ConntrackFull> {
        let (ck, src_is_lo) = canon(key);
        if let Some((pos, idx)) = self.find(&ck) {
            self.release_at(pos, idx);
        }
        if self.len >= self.capacity {
            self.expire(now, RECLAIM_ON_FULL);
        }
        let entry = Entry {
            key: ck,
            last_seen: now,
            state: initial_state(key.protocol, tcp_flags),
            orig_is_lo: src_is_lo,
            seen_reply: false,
            value,
        };
        let idx = self.allocate(entry).ok_or(ConntrackFull {
            capacity: self.capacity,
        })?;
        self.index_insert(&ck, idx);
        match self.slots.get_mut(idx as usize) {
            Some(Slot::Used(e)) => Ok(Hit {
                direction: Direction::Original,
                state: e.state,
                value: &mut e.value,
            }),
            _ => Err(ConntrackFull {
                capacity: self.capacity,
            }),
        }
    }

    /// Stops tracking a flow (either direction's key); returns its value.
    pub fn remove(&mut self, key: &FlowKey) -> Option<V> {
        let (pos, idx) = self.find(&canon(key).0)?;
        self.release_at(pos, idx)
    }

    /// Examines up to `budget` slots from where the last sweep stopped and
    /// reclaims the expired ones. Returns how many were reclaimed. Calling it
    /// every tick with a small budget bounds both memory and per-call work.
    pub fn expire(&mut self, now: Instant, budget: usize) -> usize {
        let mut reclaimed = 0;
        for _ in 0..budget.min(self.slots.len()) {
            if self.cursor >= self.slots.len() {
                self.cursor = 0;
            }
            let idx = self.cursor;
            self.cursor += 1;
            let dead =
                matches!(self.slots.get(idx), Some(Slot::Used(e)) if self.is_expired(e, now));
            if dead && self.release(idx as u32).is_some() {
                reclaimed += 1;
            }
        }
        reclaimed
    }

    /// Puts `entry` in a free slot; `None` when the table is full.
    fn allocate(&mut self, entry: Entry<V>) -> Option<u32> {
        if self.len >= self.capacity {
            return None;
        }
        if self.free != NIL {
            let idx = self.free;
            let slot = self.slots.get_mut(idx as usize)?;
            if let Slot::Free { next } = *slot {
                self.free = next;
            }
            *slot = Slot::Used(entry);
            return Some(idx);
        }
        let idx = u32::try_from(self.slots.len()).ok()?;
        self.slots.push(Slot::Used(entry));
        Some(idx)
    }

    /// Frees slot `idx` and drops its index entry; returns the value.
    fn release(&mut self, idx: u32) -> Option<V> {
        let pos = match self.slots.get(idx as usize)? {
            Slot::Used(e) => self.find(&e.key)?.0,
            Slot::Free { .. } => return None,
        };
        self.release_at(pos, idx)
    }

    /// [`Self::release`] when the bucket `pos` of slot `idx` is known.
    fn release_at(&mut self, pos: usize, idx: u32) -> Option<V> {
        if !matches!(self.slots.get(idx as usize), Some(Slot::Used(_))) {
            return None;
        }
        self.index_remove(pos);
        let slot = self.slots.get_mut(idx as usize)?;
        let old = core::mem::replace(slot, Slot::Free { next: self.free });
        self.free = idx;
        match old {
            Slot::Used(e) => Some(e.value),
            Slot::Free { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
