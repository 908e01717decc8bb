//! What the router did with a frame, why, and how often.
//!
//! Contract:
//! - Every frame [`Router::process`](super::router::Router::process) sees ends
//!   in exactly one [`Verdict`]; every drop carries a [`DropReason`] that
//!   names the resource responsible, as an index into the router's
//!   [`Snapshot`](super::topology::Snapshot) (no allocation on the packet
//!   path), which [`Snapshot::explain`](super::topology::Snapshot::explain)
//!   turns into the AWS ids and a sentence.
//! - [`Counters`] count verdicts by kind ([`DropKind`] for drops) and frames
//!   and bytes per port. They are plain integers: the runtime reads them.
//! - [`FlowLog`] keeps the most recent accepted and rejected flow records in a
//!   fixed ring (allocated once), the raw material of flow logs and `explain`.

use core::fmt;

use super::conntrack::FlowKey;
use super::time::Instant;
use super::topology::{AclIx, EniIx, IfeIx, NlbIx, PortId, RtIx, SubnetIx, VpcIx};

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not a well-formed frame (bad vnet header, Ethernet, IPv4 or L4 header).
    Malformed,
    /// Neither IPv4 nor ARP (the lab has no IPv6).
    UnsupportedEtherType(u16),
    /// A broadcast or multicast IP destination: a VPC has neither.
    NotUnicast,
    /// An ARP packet the router does not answer (reply, gratuitous, or for an
    /// address that is neither the subnet router nor an ENI of the subnet).
    ArpIgnored,
    /// The port is not in the current snapshot.
    UnknownPort(PortId),
    /// The source address is not the ENI's, and its source/destination check
    /// is on.
    SourceDestCheck(EniIx),
    /// The route table has no route to the destination.
    NoRoute(RtIx),
    /// The matching route's target is gone (state `blackhole`).
    Blackhole(RtIx),
    /// No ENI has this address in the VPC.
    NoSuchAddress(VpcIx),
    /// No security group of the ENI allows the packet out.
    SgEgressDenied(EniIx),
    /// No security group of the ENI allows the packet in.
    SgIngressDenied(EniIx),
    /// The subnet's network ACL denies the packet leaving it.
    NaclOutDenied {
        /// The ACL.
        acl: AclIx,
        /// The rule number that matched (32767 is the final `*` deny).
        rule: u16,
    },
    /// The subnet's network ACL denies the packet entering it.
    NaclInDenied {
        /// The ACL.
        acl: AclIx,
        /// The rule number that matched (32767 is the final `*` deny).
        rule: u16,
    },
    /// Traffic to an internet gateway from an ENI without a public IPv4.
    NoPublicIp(EniIx),
    /// Traffic for a public IP whose VPC has no internet gateway attached.
    NoInternetGateway(VpcIx),
    /// A public address no ENI has, or an internet destination nobody serves.
    NoSuchPublicAddress,
    /// The connection-tracking table is full: a new flow was refused.
    ConntrackFull,
    /// The TTL ran out crossing the internet gateway (Time Exceeded sent).
    TtlExceeded,
    /// Too big for the internet gateway's 1500-byte MTU with DF set
    /// (Fragmentation Needed sent).
    MtuExceeded,
    /// A route target the data plane does not emulate (NAT gateway, peering).
    UnsupportedTarget(RtIx),
    /// A service port sent a packet it has no business sending.
    Unexpected(PortId),
    /// Not an echo request, to an address of the router itself (the subnet
    /// router `.1`, the internet gateway): the router answers only ping.
    RouterAddress,
    /// A load balancer has no listener for the packet's protocol and port.
    NlbNoListener(NlbIx),
    /// A load balancer found no target for a new flow.
    NlbNoTarget(NlbIx),
    /// A TCP packet to a load balancer that opens no flow and belongs to none.
    NlbNoFlow(NlbIx),
    /// The load balancers' flow table is full: a new flow was refused.
    NlbFlowsFull,
    /// An endpoint service has not accepted this endpoint's connection.
    EndpointNotAccepted(IfeIx),
    /// An endpoint's endpoint service (or its load balancer) is gone.
    EndpointNoService(IfeIx),
    /// The endpoint service's load balancer has no node in the interface's AZ.
    EndpointNoNodeInAz(IfeIx),
    /// Larger than an endpoint's 8500-byte MTU.
    EndpointMtuExceeded(IfeIx),
    /// Larger than the VPC's 9001-byte MTU, as an instance sent it (Fragmentation Needed
    /// sent when DF is set).
    VpcMtuExceeded,
}

/// The kind of a [`DropReason`], without its details: what counters count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropKind {
    /// [`DropReason::Malformed`]: a frame that does not parse.
    Malformed,
    /// [`DropReason::UnsupportedEtherType`]: neither IPv4 nor ARP.
    UnsupportedEtherType,
    /// [`DropReason::NotUnicast`]: a broadcast or multicast IP destination.
    NotUnicast,
    /// [`DropReason::ArpIgnored`]: ARP the router does not answer.
    ArpIgnored,
    /// [`DropReason::UnknownPort`]: a frame from a port the snapshot does not have.
    UnknownPort,
    /// [`DropReason::SourceDestCheck`]: another address than the ENI's, with the check on.
    SourceDestCheck,
    /// [`DropReason::NoRoute`]: no route matches the destination.
    NoRoute,
    /// [`DropReason::Blackhole`]: the matching route's target is gone.
    Blackhole,
    /// [`DropReason::NoSuchAddress`]: no ENI of the VPC has the destination address.
    NoSuchAddress,
    /// [`DropReason::SgEgressDenied`]: the sender's security groups deny it out.
    SgEgressDenied,
    /// [`DropReason::SgIngressDenied`]: the receiver's security groups deny it in.
    SgIngressDenied,
    /// [`DropReason::NaclOutDenied`]: the source subnet's network ACL denies it out.
    NaclOutDenied,
    /// [`DropReason::NaclInDenied`]: the destination subnet's network ACL denies it in.
    NaclInDenied,
    /// [`DropReason::NoPublicIp`]: to an internet gateway from an ENI without a public address.
    NoPublicIp,
    /// [`DropReason::NoInternetGateway`]: for a public address whose VPC has no internet gateway.
    NoInternetGateway,
    /// [`DropReason::NoSuchPublicAddress`]: a public address nobody has or serves.
    NoSuchPublicAddress,
    /// [`DropReason::ConntrackFull`]: a new flow refused by a full connection-tracking table.
    ConntrackFull,
    /// [`DropReason::TtlExceeded`]: the TTL ran out at the internet gateway.
    TtlExceeded,
    /// [`DropReason::MtuExceeded`]: over the internet gateway's 1500-byte MTU with DF set.
    MtuExceeded,
    /// [`DropReason::UnsupportedTarget`]: a route to a NAT gateway or peering connection.
    UnsupportedTarget,
    /// [`DropReason::Unexpected`]: a packet a service port should not send.
    Unexpected,
    /// [`DropReason::RouterAddress`]: anything but ping to an address of the router.
    RouterAddress,
    /// [`DropReason::NlbNoListener`]: no listener for the packet's protocol and port.
    NlbNoListener,
    /// [`DropReason::NlbNoTarget`]: a load balancer found no target for a new flow.
    NlbNoTarget,
    /// [`DropReason::NlbNoFlow`]: a TCP packet to a load balancer that opens no flow and belongs to
    /// none.
    NlbNoFlow,
    /// [`DropReason::NlbFlowsFull`]: a new flow refused by the load balancers' full flow table.
    NlbFlowsFull,
    /// [`DropReason::EndpointNotAccepted`]: the endpoint's connection is not accepted.
    EndpointNotAccepted,
    /// [`DropReason::EndpointNoService`]: the endpoint's service or its load balancer is gone.
    EndpointNoService,
    /// [`DropReason::EndpointNoNodeInAz`]: the service's load balancer has no node in the
    /// interface's AZ.
    EndpointNoNodeInAz,
    /// [`DropReason::EndpointMtuExceeded`]: over an endpoint's 8500-byte MTU.
    EndpointMtuExceeded,
    /// [`DropReason::VpcMtuExceeded`]: over the VPC's 9001-byte MTU.
    VpcMtuExceeded,
}

impl DropKind {
    /// Every kind, in counter order.
    pub const ALL: [DropKind; 31] = [
        DropKind::Malformed,
        DropKind::UnsupportedEtherType,
        DropKind::NotUnicast,
        DropKind::ArpIgnored,
        DropKind::UnknownPort,
        DropKind::SourceDestCheck,
        DropKind::NoRoute,
        DropKind::Blackhole,
        DropKind::NoSuchAddress,
        DropKind::SgEgressDenied,
        DropKind::SgIngressDenied,
        DropKind::NaclOutDenied,
        DropKind::NaclInDenied,
        DropKind::NoPublicIp,
        DropKind::NoInternetGateway,
        DropKind::NoSuchPublicAddress,
        DropKind::ConntrackFull,
        DropKind::TtlExceeded,
        DropKind::MtuExceeded,
        DropKind::UnsupportedTarget,
        DropKind::Unexpected,
        DropKind::RouterAddress,
        DropKind::NlbNoListener,
        DropKind::NlbNoTarget,
        DropKind::NlbNoFlow,
        DropKind::NlbFlowsFull,
        DropKind::EndpointNotAccepted,
        DropKind::EndpointNoService,
        DropKind::EndpointNoNodeInAz,
        DropKind::EndpointMtuExceeded,
        DropKind::VpcMtuExceeded,
    ];

    /// The name counters and logs use (`SgEgressDenied`, …).
    pub fn name(self) -> &'static str {
        match self {
            DropKind::Malformed => "Malformed",
            DropKind::UnsupportedEtherType => "UnsupportedEtherType",
            DropKind::NotUnicast => "NotUnicast",
            DropKind::ArpIgnored => "ArpIgnored",
            DropKind::UnknownPort => "UnknownPort",
            DropKind::SourceDestCheck => "SourceDestCheck",
            DropKind::NoRoute => "NoRoute",
            DropKind::Blackhole => "Blackhole",
            DropKind::NoSuchAddress => "NoSuchAddress",
            DropKind::SgEgressDenied => "SgEgressDenied",
            DropKind::SgIngressDenied => "SgIngressDenied",
            DropKind::NaclOutDenied => "NaclOutDenied",
            DropKind::NaclInDenied => "NaclInDenied",
            DropKind::NoPublicIp => "NoPublicIp",
            DropKind::NoInternetGateway => "NoInternetGateway",
            DropKind::NoSuchPublicAddress => "NoSuchPublicAddress",
            DropKind::ConntrackFull => "ConntrackFull",
            DropKind::TtlExceeded => "TtlExceeded",
            DropKind::MtuExceeded => "MtuExceeded",
            DropKind::UnsupportedTarget => "UnsupportedTarget",
            DropKind::Unexpected => "Unexpected",
            DropKind::RouterAddress => "RouterAddress",
            DropKind::NlbNoListener => "NlbNoListener",
            DropKind::NlbNoTarget => "NlbNoTarget",
            DropKind::NlbNoFlow => "NlbNoFlow",
            DropKind::NlbFlowsFull => "NlbFlowsFull",
            DropKind::EndpointNotAccepted => "EndpointNotAccepted",
            DropKind::EndpointNoService => "EndpointNoService",
            DropKind::EndpointNoNodeInAz => "EndpointNoNodeInAz",
            DropKind::EndpointMtuExceeded => "EndpointMtuExceeded",
            DropKind::VpcMtuExceeded => "VpcMtuExceeded",
        }
    }
}

impl fmt::Display for DropKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl DropReason {
    /// The reason's kind.
    pub fn kind(&self) -> DropKind {
        match self {
            DropReason::Malformed => DropKind::Malformed,
            DropReason::UnsupportedEtherType(_) => DropKind::UnsupportedEtherType,
            DropReason::NotUnicast => DropKind::NotUnicast,
            DropReason::ArpIgnored => DropKind::ArpIgnored,
            DropReason::UnknownPort(_) => DropKind::UnknownPort,
            DropReason::SourceDestCheck(_) => DropKind::SourceDestCheck,
            DropReason::NoRoute(_) => DropKind::NoRoute,
            DropReason::Blackhole(_) => DropKind::Blackhole,
            DropReason::NoSuchAddress(_) => DropKind::NoSuchAddress,
            DropReason::SgEgressDenied(_) => DropKind::SgEgressDenied,
            DropReason::SgIngressDenied(_) => DropKind::SgIngressDenied,
            DropReason::NaclOutDenied { .. } => DropKind::NaclOutDenied,
            DropReason::NaclInDenied { .. } => DropKind::NaclInDenied,
            DropReason::NoPublicIp(_) => DropKind::NoPublicIp,
            DropReason::NoInternetGateway(_) => DropKind::NoInternetGateway,
            DropReason::NoSuchPublicAddress => DropKind::NoSuchPublicAddress,
            DropReason::ConntrackFull => DropKind::ConntrackFull,
            DropReason::TtlExceeded => DropKind::TtlExceeded,
            DropReason::MtuExceeded => DropKind::MtuExceeded,
            DropReason::UnsupportedTarget(_) => DropKind::UnsupportedTarget,
            DropReason::Unexpected(_) => DropKind::Unexpected,
            DropReason::RouterAddress => DropKind::RouterAddress,
            DropReason::NlbNoListener(_) => DropKind::NlbNoListener,
            DropReason::NlbNoTarget(_) => DropKind::NlbNoTarget,
            DropReason::NlbNoFlow(_) => DropKind::NlbNoFlow,
            DropReason::NlbFlowsFull => DropKind::NlbFlowsFull,
            DropReason::EndpointNotAccepted(_) => DropKind::EndpointNotAccepted,
            DropReason::EndpointNoService(_) => DropKind::EndpointNoService,
            DropReason::EndpointNoNodeInAz(_) => DropKind::EndpointNoNodeInAz,
            DropReason::EndpointMtuExceeded(_) => DropKind::EndpointMtuExceeded,
            DropReason::VpcMtuExceeded => DropKind::VpcMtuExceeded,
        }
    }
}

/// The outcome of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sent on to another port (an ENI, the internet): possibly as several
    /// frames (segmented or fragmented for a smaller MTU).
    Forwarded(PortId),
    /// Handed to an emulated AWS service's port.
    Delivered(PortId),
    /// Answered by the router itself (ARP reply, ICMP echo reply).
    Answered,
    /// Dropped, for this reason.
    Dropped(DropReason),
}

impl Verdict {
    /// The drop reason, if dropped.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Verdict::Dropped(d) => Some(*d),
            _ => None,
        }
    }
}

/// Frames and bytes through one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received from the port.
    pub rx_frames: u64,
    /// Bytes received (Ethernet or IP bytes, without the vnet header).
    pub rx_bytes: u64,
    /// Frames sent to the port.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames received from the port and dropped.
    pub dropped: u64,
}

/// The router's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames forwarded to another port.
    pub forwarded: u64,
    /// Frames delivered to a service port.
    pub delivered: u64,
    /// Frames the router answered itself.
    pub answered: u64,
    /// Drops, indexed by `DropKind as usize`.
    pub drops: [u64; DropKind::ALL.len()],
    /// Per port, indexed by [`PortId`].
    pub ports: Vec<PortCounters>,
}

impl Counters {
    /// Drops of one kind.
    pub fn dropped(&self, kind: DropKind) -> u64 {
        self.drops.get(kind as usize).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Counts a verdict.
    pub(crate) fn count(&mut self, v: &Verdict) {
        match v {
            Verdict::Forwarded(_) => self.forwarded += 1,
            Verdict::Delivered(_) => self.delivered += 1,
            Verdict::Answered => self.answered += 1,
            Verdict::Dropped(d) => {
                if let Some(c) = self.drops.get_mut(d.kind() as usize) {
                    *c += 1;
                }
            }
        }
    }

    pub(crate) fn port(&mut self, p: PortId) -> Option<&mut PortCounters> {
        self.ports.get_mut(p.0 as usize)
    }
}

/// Accept or reject, as flow logs say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowAction {
    /// The packet passed every gate.
    Accept,
    /// The packet was dropped by a gate, for this reason.
    Reject(DropReason),
}

/// One flow record: the first packet of a new (or untracked) flow that was
/// accepted, or any packet that was rejected by a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// When.
    pub at: Instant,
    /// The VPC.
    pub vpc: VpcIx,
    /// The ENI the record belongs to (the sender's, else the receiver's).
    pub eni: Option<EniIx>,
    /// The subnet of that ENI.
    pub subnet: Option<SubnetIx>,
    /// The flow, with the VPC-side (private) addresses.
    pub key: FlowKey,
    /// Bytes of the packet (IP length).
    pub bytes: u32,
    /// What happened.
    pub action: FlowAction,
}

/// A fixed-size ring of the most recent [`FlowRecord`]s.
#[derive(Debug)]
pub struct FlowLog {
    ring: Vec<Option<FlowRecord>>,
    next: usize,
    /// Records written since the start (including overwritten ones).
    pub written: u64,
}

impl FlowLog {
    /// A ring for `capacity` records (at least 1), allocated now.
    pub fn new(capacity: usize) -> Self {
        FlowLog {
            ring: vec![None; capacity.max(1)],
            next: 0,
            written: 0,
        }
    }

    /// Appends a record, overwriting the oldest when full.
    pub fn push(&mut self, r: FlowRecord) {
        let len = self.ring.len();
        if let Some(slot) = self.ring.get_mut(self.next) {
            *slot = Some(r);
        }
        self.next = (self.next + 1) % len;
        self.written += 1;
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &FlowRecord> + '_ {
        let (newer, older) = self.ring.split_at(self.next);
        older.iter().chain(newer.iter()).filter_map(Option::as_ref)
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.ring.iter_mut().for_each(|r| *r = None);
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn rec(n: u16) -> FlowRecord {
        FlowRecord {
            at: Instant::from_secs(u64::from(n)),
            vpc: VpcIx(0),
            eni: None,
            subnet: None,
            key: FlowKey::new(6, Ipv4Addr::LOCALHOST, n, Ipv4Addr::LOCALHOST, 80),
            bytes: 60,
            action: FlowAction::Accept,
        }
    }

    #[test]
    fn ring_keeps_the_newest_in_order() {
        let mut log = FlowLog::new(3);
        for n in 0..5 {
            log.push(rec(n));
        }
        let ports: Vec<u16> = log.records().map(|r| r.key.src_port).collect();
        assert_eq!(ports, [2, 3, 4]);
        assert_eq!(log.written, 5);
    }

    #[test]
    fn every_kind_has_a_counter_slot_and_a_name() {
        for (i, k) in DropKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k} out of order");
            assert!(!k.name().is_empty());
        }
    }
}
