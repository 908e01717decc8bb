//! The trace hook: the stage decisions of one frame, for a tracer (`vpclab explain`).
//!
//! Contract: the router calls [`Sink::trace`](super::Sink::trace) once for each gate a
//! packet passes (security groups each way, network ACLs each way) and for the route that
//! matched, in the order the packet meets them; a refusal is the frame's [`Verdict`]
//! (`super::Verdict`), not a step. The default method does nothing and the router is generic
//! over its sink, so a sink that does not trace pays nothing: no allocation, no dynamic call.
//! A step names what decided by index into the router's snapshot; the tracer reads the rest
//! (which rule of a group matched) from the same compiled rules.

use core::net::Ipv4Addr;

use crate::dataplane::nacl::Way;
use crate::dataplane::packet::Ipv4Info;
use crate::dataplane::route::Entry;
use crate::dataplane::topology::{AclIx, EniIx, RtIx, SubnetIx};

/// One decision the router made about a packet, and why it let it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A security group side of ENI `eni` let the packet through: `inbound` for ingress;
    /// `tracked` when a tracked flow let it (no rule was asked); `peer` the address the
    /// rules were matched against.
    SecurityGroup {
        /// The ENI.
        eni: EniIx,
        /// Ingress (else egress).
        inbound: bool,
        /// Let through by connection tracking.
        tracked: bool,
        /// The packet as the rules saw it.
        info: Ipv4Info,
        /// The other side's address.
        peer: Ipv4Addr,
    },
    /// The network ACL of `subnet` allowed the packet by rule number `rule`.
    NetworkAcl {
        /// The subnet.
        subnet: SubnetIx,
        /// The ACL.
        acl: AclIx,
        /// Which way.
        way: Way,
        /// The rule number that allowed it.
        rule: u16,
    },
    /// Route table `rt` sent the packet on by `entry`.
    Route {
        /// The table.
        rt: RtIx,
        /// The route that matched.
        entry: Entry,
    },
}
