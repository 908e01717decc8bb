//! The Network Load Balancer's flow table and target choice (sans-IO).
//!
//! Contract:
//! - A [`Session`] is one client flow through a load balancer: the packet as the client sent
//!   it (the `outer` key: client → the address it connected to, which is a node's private or
//!   public IP, or a PrivateLink endpoint's network interface), and the packet as the target
//!   receives it (the `inner` key: client or node → target, in the provider VPC). [`Sessions`]
//!   finds a session from either side: by the outer key for the client's packets and by the
//!   reversed inner key for the target's replies, so a flow stays pinned to its target both
//!   ways for its life.
//! - Keys hold addresses and zones (VPC indices, or [`INTERNET_ZONE`]), never ENI or target
//!   indices: a session survives a new snapshot (a live change), and the router resolves the
//!   ENIs again per packet.
//! - The table is bounded and allocated once ([`Sessions::new`]); a full table refuses a new
//!   session. An idle session expires after its timeout (TCP: the target group's
//!   `tcp.idle_timeout.seconds`, 350 s by default; UDP 120 s); a TCP RST ends it at once.
//!   Expiry is lazy on lookup plus [`Sessions::expire`] with a budget, called from a timer.
//! - [`pick`] chooses a target by flow hash among the healthy candidates, and among all of
//!   them when none is healthy (AWS's fail open). The hash covers the 5-tuple and, for TCP,
//!   the SYN's sequence number (AWS: "protocol, source IP and port, destination IP and port,
//!   and the TCP sequence number").
//! - [`rewrite_port`] and [`clamp_mss`] patch a packet in place with its checksums kept right
//!   incrementally, partial (`NEEDS_CSUM`) checksums included.

use core::hash::{BuildHasher, Hash, Hasher};
use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::HashMap;

use super::checksum::{self, L4Csum};
use super::conntrack::FlowKey;
use super::hash::FastState;
use super::time::Instant;
use super::wire::{proto, tcp, tcp_flags, Ipv4, Tcp, Udp};

/// The zone of clients on the internet side of an internet gateway (the emulated internet,
/// or another VPC's instance through its public IP).
pub const INTERNET_ZONE: u32 = u32::MAX;

/// UDP flows through a load balancer expire after this long idle (AWS: fixed 120 s).
pub const UDP_IDLE: Duration = Duration::from_secs(120);

/// A TCP flow both sides have closed (a FIN each way) lingers this long for the last ACKs
/// and retransmissions, then its entry is free for new flows.
pub const CLOSED_IDLE: Duration = Duration::from_secs(5);

/// Where a session's client is: where the target's replies go back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// An ENI of a VPC (the load balancer's own, or a PrivateLink consumer's), found by the
    /// outer key's zone and source address.
    Vpc,
    /// Beyond an internet gateway: the emulated internet, or another VPC's public address.
    Internet,
}

/// One flow through a load balancer; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// As the client sends it: client → the address it connected to.
    pub outer: FlowKey,
    /// As the target receives it: (client or node) → target, zone the provider VPC.
    pub inner: FlowKey,
    /// Where the client is.
    pub client: Client,
    /// Index of the load balancer in the snapshot when the session began (for counters).
    pub nlb: u32,
    /// The PrivateLink endpoint the client came through (`u32::MAX`: none).
    pub endpoint: u32,
    /// Idle timeout.
    pub idle: Duration,
    /// Last packet seen.
    pub last: Instant,
    /// Proxy protocol v2 (TCP only).
    pub proxy: Proxy,
    /// FINs seen: 1 from the client, 2 from the target.
    pub fins: u8,
}

/// Where a session stands with proxy protocol v2: the load balancer sends the header as
/// the first bytes of the target's stream, then shifts the client's sequence numbers (and
/// the target's acknowledgements back) by its length for the rest of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proxy {
    /// Off for this target group.
    Off,
    /// On; the header goes out before the client's first byte.
    Pending,
    /// Sent: `shift` bytes were inserted.
    Sent {
        /// The header's length.
        shift: u32,
    },
}

impl Session {
    /// Whether the session came through a PrivateLink endpoint.
    pub fn via_privatelink(&self) -> bool {
        self.endpoint != u32::MAX
    }

    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last) > self.idle
    }
}

/// The table is full: the new flow was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the load balancers' flow table is full ({0} flows)")]
pub struct SessionsFull(pub usize);

/// The flow table of every load balancer of a lab; see the module docs.
#[derive(Debug)]
pub struct Sessions {
    slots: Vec<Option<Session>>,
    free: Vec<u32>,
    by_outer: HashMap<FlowKey, u32, FastState>,
    /// By the inner key reversed: what the target's replies carry.
    by_reply: HashMap<FlowKey, u32, FastState>,
    /// Where [`Sessions::expire`] resumes.
    cursor: usize,
}

impl Sessions {
    /// A table of `capacity` sessions, every byte allocated now.
    pub fn new(capacity: usize, seed: u64) -> Sessions {
        let capacity = capacity.max(1);
        Sessions {
            slots: vec![None; capacity],
            free: (0..u32::try_from(capacity).unwrap_or(u32::MAX))
                .rev()
                .collect(),
            by_outer: HashMap::with_capacity_and_hasher(capacity, FastState::with_seed(seed)),
            by_reply: HashMap::with_capacity_and_hasher(
                capacity,
                FastState::with_seed(seed.rotate_left(17)),
            ),
            cursor: 0,
        }
    }

    /// Live sessions (expired ones count until reclaimed).
    pub fn len(&self) -> usize {
        self.by_outer.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_outer.is_empty()
    }

    /// The client's packet with outer key `key`: its session, refreshed.
    pub fn from_client(&mut self, now: Instant, key: &FlowKey, flags: u8) -> Option<Session> {
        let slot = *self.by_outer.get(key)?;
        self.touch(now, slot, flags, 1)
    }

    /// The target's packet with key `key` (target → client as the target sees it).
    pub fn from_target(&mut self, now: Instant, key: &FlowKey, flags: u8) -> Option<Session> {
        let slot = *self.by_reply.get(key)?;
        self.touch(now, slot, flags, 2)
    }

    /// Whether a reply key is taken (for choosing a node's source port).
    pub fn reply_taken(&self, key: &FlowKey) -> bool {
        self.by_reply.contains_key(key)
    }

    fn touch(&mut self, now: Instant, slot: u32, flags: u8, side: u8) -> Option<Session> {
        let s = self.slots.get_mut(slot as usize)?.as_mut()?;
        if s.expired(now) {
            self.remove_slot(slot);
            return None;
        }
        s.last = now;
        if flags & tcp_flags::FIN != 0 {
            s.fins |= side;
            if s.fins == 3 {
                s.idle = s.idle.min(CLOSED_IDLE);
            }
        }
        let s = *s;
        if flags & tcp_flags::RST != 0 {
            self.remove_slot(slot);
        }
        Some(s)
    }

    /// Records that the proxy protocol header of the session with outer key `outer` went out.
    pub fn proxy_sent(&mut self, outer: &FlowKey, shift: u32) {
        if let Some(&slot) = self.by_outer.get(outer) {
            if let Some(Some(s)) = self.slots.get_mut(slot as usize) {
                s.proxy = Proxy::Sent { shift };
            }
        }
    }

    /// Starts a session.
    pub fn insert(&mut self, s: Session) -> Result<(), SessionsFull> {
        if let Some(&old) = self.by_outer.get(&s.outer) {
            self.remove_slot(old);
        }
        if let Some(&old) = self.by_reply.get(&s.inner.reversed()) {
            self.remove_slot(old);
        }
        let Some(slot) = self.free.pop() else {
            return Err(SessionsFull(self.slots.len()));
        };
        if let Some(cell) = self.slots.get_mut(slot as usize) {
            *cell = Some(s);
        }
        self.by_outer.insert(s.outer, slot);
        self.by_reply.insert(s.inner.reversed(), slot);
        Ok(())
    }

    fn remove_slot(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize).and_then(Option::take) {
            self.by_outer.remove(&s.outer);
            self.by_reply.remove(&s.inner.reversed());
            self.free.push(slot);
        }
    }

    /// Ends every session whose target is `target` in zone `zone` (a target turned unhealthy,
    /// or was deregistered past its delay). Returns how many ended.
    pub fn end_target(&mut self, zone: u32, target: Ipv4Addr) -> usize {
        let doomed: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.filter(|s| s.inner.zone == zone && s.inner.dst == target)
                    .map(|_| i as u32)
            })
            .collect();
        for &slot in &doomed {
            self.remove_slot(slot);
        }
        doomed.len()
    }

    /// Reclaims up to `budget` expired sessions, resuming where the last call stopped.
    pub fn expire(&mut self, now: Instant, budget: usize) -> usize {
        let n = self.slots.len();
        let mut freed = 0;
        for _ in 0..budget.min(n) {
            self.cursor = (self.cursor + 1) % n;
            let slot = self.cursor;
            if self.slots[slot].is_some_and(|s| s.expired(now)) {
                self.remove_slot(slot as u32);
                freed += 1;
            }
        }
        freed
    }

    /// Every live session (for `status` and tests).
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.iter().flatten()
    }
}

/// The flow hash of a client's first packet: the 5-tuple, and for TCP the SYN's sequence
/// number.
pub fn flow_hash(seed: u64, key: &FlowKey, syn_seq: Option<u32>) -> u64 {
    let mut h = FastState::with_seed(seed).build_hasher();
    (key.protocol, key.src, key.src_port, key.dst, key.dst_port).hash(&mut h);
    syn_seq.hash(&mut h);
    h.finish()
}

/// Picks one of `candidates` by `hash`: among those `healthy` says are, or among all of them
/// when none is (fail open). `None` only when there is no candidate.
pub fn pick<T: Copy>(hash: u64, candidates: &[T], healthy: impl Fn(T) -> bool) -> Option<T> {
    let up = candidates.iter().filter(|&&t| healthy(t)).count();
    if up == 0 {
        let n = candidates.len() as u64;
        return (n > 0).then(|| candidates[(hash % n) as usize]);
    }
    let k = (hash % up as u64) as usize;
    candidates.iter().copied().filter(|&t| healthy(t)).nth(k)
}

/// Which port of a TCP/UDP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortField {
    /// The source port.
    Src,
    /// The destination port.
    Dst,
}

/// Rewrites a TCP or UDP port of the IPv4 packet at the front of `ip`, patching the L4
/// checksum (a partial checksum covers only the pseudo-header, which holds no port, so it
/// stays). Returns the old port.
pub fn rewrite_port(
    ip: &mut [u8],
    which: PortField,
    new: u16,
    mode: L4Csum,
) -> Result<u16, checksum::ChecksumError> {
    use checksum::ChecksumError as E;
    let mut h = Ipv4::new(ip).ok_or(E::Truncated)?;
    let protocol = h.protocol();
    let l4 = h.payload_mut();
    let pick = |src, dst| match which {
        PortField::Src => src,
        PortField::Dst => dst,
    };
    let (old, c) = match protocol {
        proto::TCP => {
            let t = Tcp::new(&*l4).ok_or(E::Truncated)?;
            (pick(t.src_port(), t.dst_port()), t.checksum())
        }
        proto::UDP => {
            let u = Udp::new(&*l4).ok_or(E::Truncated)?;
            (pick(u.src_port(), u.dst_port()), u.checksum())
        }
        _ => return Err(E::BadIpv4Header),
    };
    let new_c = match (mode, protocol) {
        (L4Csum::Partial, _) => c,
        (L4Csum::Full, proto::UDP) if c == 0 => 0,
        (L4Csum::Full, proto::UDP) => checksum::udp_wire(checksum::update16(c, old, new)),
        (L4Csum::Full, _) => checksum::update16(c, old, new),
    };
    if protocol == proto::TCP {
        let mut t = Tcp::new(l4).ok_or(E::Truncated)?;
        t.set_checksum(new_c);
        match which {
            PortField::Src => t.set_src_port(new),
            PortField::Dst => t.set_dst_port(new),
        }
    } else {
        let mut u = Udp::new(l4).ok_or(E::Truncated)?;
        u.set_checksum(new_c);
        match which {
            PortField::Src => u.set_src_port(new),
            PortField::Dst => u.set_dst_port(new),
        }
    }
    Ok(old)
}

/// Lowers the MSS option of a TCP SYN in the IPv4 packet at the front of `ip` to at most
/// `max`, as AWS does on paths without Path MTU Discovery (PrivateLink: 8500 − 40). Returns
/// whether it changed anything. Not a SYN, no MSS option: unchanged.
pub fn clamp_mss(ip: &mut [u8], max: u16, mode: L4Csum) -> bool {
    let Some(mut h) = Ipv4::new(ip) else {
        return false;
    };
    if h.protocol() != proto::TCP {
        return false;
    }
    let Some(mut t) = Tcp::new(h.payload_mut()) else {
        return false;
    };
    if t.flags() & tcp_flags::SYN == 0 {
        return false;
    }
    // Options run from the fixed header to the data offset; positions here are
    // from the TCP header's start.
    let hdr_end = t.header_len();
    let tcp = t.as_bytes_mut();
    let mut at = tcp::field::HEADER_LEN;
    while at < hdr_end {
        match tcp.get(at).copied() {
            None | Some(tcp::option::END) => return false,
            Some(tcp::option::NOP) => at += 1,
            Some(tcp::option::MSS) => {
                if tcp.get(at + 1) != Some(&tcp::option::MSS_LEN) || at + 4 > hdr_end {
                    return false;
                }
                let Some(mss) = be16(tcp, at + 2) else {
                    return false;
                };
                if mss <= max {
                    return false;
                }
                // The option's two bytes start at an even offset from the TCP header
                // (kind and length are one 16-bit word), so the MSS is one aligned word
                // only when `at` is even; sum both alignments correctly either way.
                let csum_at = tcp::field::CHECKSUM.start;
                if mode == L4Csum::Full {
                    let Some(c) = be16(tcp, csum_at) else {
                        return false;
                    };
                    let word_aligned = (at + 2) % 2 == 0;
                    let c = if word_aligned {
                        checksum::update16(c, mss, max)
                    } else {
                        // Misaligned: the two bytes straddle two 16-bit words.
                        let [oh, ol] = mss.to_be_bytes();
                        let [nh, nl] = max.to_be_bytes();
                        let c = checksum::update16(c, u16::from(oh), u16::from(nh));
                        checksum::update16(c, u16::from(ol) << 8, u16::from(nl) << 8)
                    };
                    if put16(tcp, csum_at, c).is_none() {
                        return false;
                    }
                }
                return put16(tcp, at + 2, max).is_some();
            }
            Some(_) => {
                let Some(&len) = tcp.get(at + 1) else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                at += usize::from(len);
            }
        }
    }
    false
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at.checked_add(2)?) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) -> Option<()> {
    b.get_mut(at..at.checked_add(2)?)?
        .copy_from_slice(&v.to_be_bytes());
    Some(())
}

/// The proxy protocol v2 signature.
const PP2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// `PP2_TYPE_AWS`, and its subtype carrying the VPC endpoint id.
const PP2_TYPE_AWS: u8 = 0xEA;
const PP2_SUBTYPE_AWS_VPCE_ID: u8 = 0x01;
/// Longest header [`proxy_v2_header`] writes (a VPC endpoint id is 22 bytes).
pub const PROXY_V2_MAX: usize = 16 + 12 + 4 + 64;

/// Writes a proxy protocol v2 header (`PROXY`, TCP over IPv4) for a connection from `src` to
/// `dst` into `buf`, with AWS's TLV carrying `vpce` (type 0xEA, subtype 0x01) when given.
/// Returns its length, `None` when `buf` is too small or the id too long.
pub fn proxy_v2_header(
    buf: &mut [u8],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    vpce: Option<&str>,
) -> Option<usize> {
    let tlv = vpce.map_or(0, |v| 3 + 1 + v.len());
    if tlv > 64 {
        return None;
    }
    let len = 16 + 12 + tlv;
    let out = buf.get_mut(..len)?;
    out[..12].copy_from_slice(&PP2_SIGNATURE);
    out[12] = 0x21; // version 2, PROXY
    out[13] = 0x11; // AF_INET, STREAM
    out[14..16].copy_from_slice(&u16::try_from(12 + tlv).ok()?.to_be_bytes());
    out[16..20].copy_from_slice(&src.0.octets());
    out[20..24].copy_from_slice(&dst.0.octets());
    out[24..26].copy_from_slice(&src.1.to_be_bytes());
    out[26..28].copy_from_slice(&dst.1.to_be_bytes());
    if let Some(v) = vpce {
        out[28] = PP2_TYPE_AWS;
        out[29..31].copy_from_slice(&u16::try_from(1 + v.len()).ok()?.to_be_bytes());
        out[31] = PP2_SUBTYPE_AWS_VPCE_ID;
        out[32..].copy_from_slice(v.as_bytes());
    }
    Some(len)
}

/// Which TCP number to shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqField {
    /// The sequence number.
    Seq,
    /// The acknowledgement number (only when ACK is set).
    Ack,
}

/// Adds `delta` (mod 2^32) to the sequence or acknowledgement number of the TCP packet at
/// the front of `ip`, patching a full checksum (a partial one covers no header bytes).
pub fn shift_seq(ip: &mut [u8], which: SeqField, delta: u32, mode: L4Csum) -> bool {
    let Some(mut h) = Ipv4::new(ip) else {
        return false;
    };
    if h.protocol() != proto::TCP {
        return false;
    }
    let Some(mut t) = Tcp::new(h.payload_mut()) else {
        return false;
    };
    if which == SeqField::Ack && t.flags() & tcp_flags::ACK == 0 {
        return false;
    }
    let old = match which {
        SeqField::Seq => t.seq(),
        SeqField::Ack => t.ack(),
    };
    let new = old.wrapping_add(delta);
    if mode == L4Csum::Full {
        t.set_checksum(checksum::update32(t.checksum(), old, new));
    }
    match which {
        SeqField::Seq => t.set_seq(new),
        SeqField::Ack => t.set_ack(new),
    }
    true
}

/// The TCP sequence number of the IPv4 packet at the front of `ip` (for the flow hash).
pub fn tcp_seq(ip: &[u8]) -> Option<u32> {
    let h = Ipv4::new(ip)?;
    Tcp::new(h.payload()).map(|t| t.seq())
}

#[cfg(test)]
mod tests;
