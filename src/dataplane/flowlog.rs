//! Flow-log aggregation in the data plane: packets and bytes per flow, per interface, per
//! direction, as VPC Flow Logs count them.
//!
//! Contract:
//! - [`FlowTable`] is a fixed-capacity open-addressing table, allocated once by
//!   [`FlowTable::new`]; [`FlowTable::add`] never allocates. A packet whose flow finds no
//!   slot (the table is full, or its probe run is) is not counted and
//!   [`FlowTable::evicted`] says how many were lost (AWS's `SKIPDATA`).
//! - An entry is keyed by the interface (ENI), the direction the packet crossed it, the
//!   five-tuple as that interface sees it, and the action; it sums packets and bytes, ORs
//!   TCP flags as flow logs report them ([`log_tcp_flags`]) and keeps the first and last
//!   packet's time and the first reason of a rejection.
//! - The caller (the runtime, on its tick) empties the table with [`FlowTable::drain`] and
//!   aggregates the entries into capture windows: this module knows no window.
//! - [`aws_logs`] says which traffic AWS leaves out of flow logs.

use core::hash::BuildHasher;
use core::net::Ipv4Addr;

use super::hash::FastState;
use super::time::Instant;
use super::topology::EniIx;
use super::verdict::DropReason;
use super::wire::proto;
use crate::model::catalog::{AMAZON_DNS_LINK_LOCAL, IMDS_ADDRESS};

/// Amazon Time Sync Service's link-local address.
pub const TIME_SYNC_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 123);

/// Slots probed for a key before the packet is counted as evicted.
const MAX_PROBE: usize = 16;

/// Which way a packet crossed an interface (`flow-direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowDirection {
    /// Into the interface.
    Ingress,
    /// Out of the interface.
    Egress,
}

impl FlowDirection {
    /// `ingress` or `egress`, as flow logs print it.
    pub fn name(self) -> &'static str {
        match self {
            FlowDirection::Ingress => "ingress",
            FlowDirection::Egress => "egress",
        }
    }
}

/// What identifies one flow-log record within a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowLogKey {
    /// The interface.
    pub eni: EniIx,
    /// Which way the packets crossed it.
    pub direction: FlowDirection,
    /// IANA protocol number.
    pub protocol: u8,
    /// Source address, as the interface sees it.
    pub src: Ipv4Addr,
    /// Destination address, as the interface sees it.
    pub dst: Ipv4Addr,
    /// Source port (0 for protocols without ports).
    pub src_port: u16,
    /// Destination port (0 for protocols without ports).
    pub dst_port: u16,
    /// Accepted (else rejected).
    pub accept: bool,
}

/// One aggregated record: what [`FlowTable::drain`] hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEntry {
    /// The flow, interface and action.
    pub key: FlowLogKey,
    /// Packets (a GSO super-frame counts as the segments a wire carries).
    pub packets: u64,
    /// Bytes (IP bytes).
    pub bytes: u64,
    /// The first packet's time.
    pub first: Instant,
    /// The last packet's time.
    pub last: Instant,
    /// TCP flags, OR-ed as flow logs report them.
    pub tcp_flags: u8,
    /// Why the first rejected packet was rejected.
    pub reason: Option<DropReason>,
}

/// One packet (or GSO super-frame) to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The flow, interface and action.
    pub key: FlowLogKey,
    /// Wire packets.
    pub packets: u32,
    /// IP bytes.
    pub bytes: u32,
    /// Raw TCP flags of the packet.
    pub tcp_flags: u8,
    /// Why it was rejected.
    pub reason: Option<DropReason>,
}

/// The fixed-capacity aggregation table; see the module docs.
#[derive(Debug)]
pub struct FlowTable {
    slots: Vec<Option<FlowEntry>>,
    hasher: FastState,
    used: usize,
    evicted: u64,
}

impl FlowTable {
    /// A table of `capacity` entries (rounded up to a power of two, at least 16), allocated
    /// now.
    pub fn new(capacity: usize) -> FlowTable {
        let cap = capacity.max(16).next_power_of_two();
        FlowTable {
            slots: vec![None; cap],
            hasher: FastState::with_seed(0x666c_6f77_6c6f_6773),
            used: 0,
            evicted: 0,
        }
    }

    /// Counts one packet at `now`.
    pub fn add(&mut self, now: Instant, o: Observation) {
        let mask = self.slots.len() - 1;
        let start = (self.hasher.hash_one(o.key) as usize) & mask;
        for i in 0..MAX_PROBE.min(self.slots.len()) {
            let Some(slot) = self.slots.get_mut((start + i) & mask) else {
                break;
            };
            match slot {
                Some(e) if e.key == o.key => {
                    e.packets += u64::from(o.packets);
                    e.bytes += u64::from(o.bytes);
                    e.last = now;
                    e.tcp_flags |= log_tcp_flags(o.tcp_flags);
                    if e.reason.is_none() {
                        e.reason = o.reason;
                    }
                    return;
                }
                Some(_) => {}
                None => {
                    *slot = Some(FlowEntry {
                        key: o.key,
                        packets: u64::from(o.packets),
                        bytes: u64::from(o.bytes),
                        first: now,
                        last: now,
                        tcp_flags: log_tcp_flags(o.tcp_flags),
                        reason: o.reason,
                    });
                    self.used += 1;
                    return;
                }
            }
        }
        self.evicted += 1;
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Packets not counted since the start, for want of a slot.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Hands every entry to `f` and empties the table.
    pub fn drain(&mut self, mut f: impl FnMut(FlowEntry)) {
        if self.used == 0 {
            return;
        }
        for slot in &mut self.slots {
            if let Some(e) = slot.take() {
                f(e);
            }
        }
        self.used = 0;
    }
}

/// TCP flags as flow logs report them: FIN (1), SYN (2), RST (4), and ACK (16) only with
/// SYN (a SYN-ACK is 18).
pub fn log_tcp_flags(flags: u8) -> u8 {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    let mut out = flags & (FIN | SYN | RST);
    if flags & SYN != 0 && flags & ACK != 0 {
        out |= ACK;
    }
    out
}

/// Whether AWS writes this traffic to flow logs: not to or from Amazon DNS (the VPC's `.2`,
/// `vpc_dns`, or 169.254.169.253), instance metadata (169.254.169.254), Amazon Time Sync
/// (169.254.169.123), the subnet's router (`router`, the reserved `.1`), nor DHCP.
pub fn aws_logs(
    vpc_dns: Ipv4Addr,
    router: Ipv4Addr,
    protocol: u8,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
) -> bool {
    let unlogged = |a: Ipv4Addr| {
        a == vpc_dns
            || a == router
            || a == AMAZON_DNS_LINK_LOCAL
            || a == IMDS_ADDRESS
            || a == TIME_SYNC_ADDRESS
    };
    let dhcp = protocol == proto::UDP && matches!((src.1, dst.1), (67 | 68, 67 | 68));
    !(unlogged(src.0) || unlogged(dst.0) || dhcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src_port: u16, accept: bool) -> FlowLogKey {
        FlowLogKey {
            eni: EniIx(0),
            direction: FlowDirection::Egress,
            protocol: proto::TCP,
            src: Ipv4Addr::new(10, 0, 0, 10),
            dst: Ipv4Addr::new(10, 0, 1, 20),
            src_port,
            dst_port: 80,
            accept,
        }
    }

    fn obs(k: FlowLogKey, bytes: u32, flags: u8) -> Observation {
        Observation {
            key: k,
            packets: 1,
            bytes,
            tcp_flags: flags,
            reason: None,
        }
    }

    #[test]
    fn packets_and_bytes_of_a_flow_are_summed_in_one_entry() {
        let mut t = FlowTable::new(16);
        t.add(Instant::from_secs(1), obs(key(1000, true), 60, 0x02));
        t.add(Instant::from_secs(2), obs(key(1000, true), 52, 0x10));
        t.add(Instant::from_secs(3), obs(key(1000, true), 100, 0x11));
        t.add(Instant::from_secs(3), obs(key(1001, true), 60, 0x02));
        t.add(Instant::from_secs(3), obs(key(1000, false), 60, 0x02));
        assert_eq!(t.len(), 3);
        let mut out = Vec::new();
        t.drain(|e| out.push(e));
        assert!(t.is_empty());
        let e = out
            .iter()
            .find(|e| e.key == key(1000, true))
            .expect("the flow's entry");
        assert_eq!((e.packets, e.bytes), (3, 212));
        assert_eq!(
            (e.first, e.last),
            (Instant::from_secs(1), Instant::from_secs(3))
        );
        assert_eq!(e.tcp_flags, 0x03, "SYN and FIN; a bare ACK is not reported");
    }

    #[test]
    fn a_full_table_counts_what_it_could_not_keep() {
        let mut t = FlowTable::new(16);
        for p in 0..40 {
            t.add(Instant::from_secs(1), obs(key(p, true), 60, 0));
        }
        assert_eq!(t.len(), 16);
        assert_eq!(t.evicted(), 24);
        t.drain(|_| {});
        t.add(Instant::from_secs(2), obs(key(1, true), 60, 0));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn tcp_flags_are_reported_as_aws_does() {
        assert_eq!(log_tcp_flags(0x12), 18, "SYN-ACK");
        assert_eq!(log_tcp_flags(0x10), 0, "ACK alone");
        assert_eq!(log_tcp_flags(0x14), 4, "RST-ACK");
        assert_eq!(log_tcp_flags(0x19), 1, "FIN-PSH-ACK");
    }

    #[test]
    fn amazon_dns_metadata_time_sync_the_router_and_dhcp_are_not_logged() {
        let dns = Ipv4Addr::new(10, 0, 0, 2);
        let router = Ipv4Addr::new(10, 0, 1, 1);
        let me = Ipv4Addr::new(10, 0, 1, 10);
        let logs = |p, dst: Ipv4Addr, port| aws_logs(dns, router, p, (me, 40000), (dst, port));
        assert!(!logs(proto::UDP, dns, 53));
        assert!(!logs(proto::UDP, AMAZON_DNS_LINK_LOCAL, 53));
        assert!(!logs(proto::TCP, IMDS_ADDRESS, 80));
        assert!(!logs(proto::UDP, TIME_SYNC_ADDRESS, 123));
        assert!(!logs(proto::ICMP, router, 0));
        assert!(!aws_logs(dns, router, proto::UDP, (me, 68), (router, 67)));
        assert!(logs(proto::TCP, Ipv4Addr::new(10, 0, 2, 5), 80));
        assert!(logs(proto::UDP, Ipv4Addr::new(8, 8, 8, 8), 53));
    }
}
