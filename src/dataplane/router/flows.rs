//! Flow-log observations: every interface a packet crosses counts it, as that interface
//! sees it, with the action AWS logs there.
//!
//! Contract: the sender's ENI logs a packet `egress`, `REJECT` when its own gates (its
//! groups' egress, its subnet's ACL out) refused it and `ACCEPT` otherwise; the receiving
//! ENI logs it `ingress`, `REJECT` when its subnet's ACL in or its groups refused it, and
//! `ACCEPT` when the packet was written to it (with the addresses it was written with,
//! after any NAT). Interface-endpoint and load-balancer-node ENIs log what reaches them.
//! Traffic AWS leaves out ([`aws_logs`]) is not counted. Nothing here allocates.

use core::net::Ipv4Addr;

use crate::dataplane::flowlog::{aws_logs, FlowDirection, FlowLogKey, Observation};
use crate::dataplane::packet::parse_ipv4;
use crate::dataplane::packet::{Ipv4Info, L4};
use crate::dataplane::topology::{EniIx, EniRole, PortId, Role};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::{Gso, VnetHdr};
use crate::dataplane::wire::ethernet;

use super::output::gso_headers;
use super::{Pass, Sink};

/// A packet's wire packets and bytes (a GSO super-frame is its segments).
#[derive(Clone, Copy, Debug)]
pub(super) struct Size {
    packets: u32,
    bytes: u32,
}

impl Size {
    /// The size of the packet `info` of `frame` (an Ethernet frame) under `vnet`.
    pub(super) fn of(frame: &[u8], info: &Ipv4Info, vnet: &VnetHdr) -> Size {
        let total = u32::try_from(info.total_len).unwrap_or(u32::MAX);
        let gso = vnet.gso().is_ok_and(|g| g != Gso::None) && vnet.gso_size > 0;
        let hdrs = if gso { gso_headers(frame, info) } else { None };
        match hdrs.and_then(|h| u32::try_from(h).ok()) {
            Some(h) if total > h => {
                let payload = total - h;
                let packets = payload.div_ceil(u32::from(vnet.gso_size)).max(1);
                Size {
                    packets,
                    bytes: total.saturating_add((packets - 1).saturating_mul(h)),
                }
            }
            _ => Size {
                packets: 1,
                bytes: total,
            },
        }
    }
}

fn ports(info: &Ipv4Info) -> (u16, u16) {
    match info.l4 {
        L4::Tcp {
            src_port, dst_port, ..
        }
        | L4::Udp { src_port, dst_port } => (src_port, dst_port),
        // Flow logs give ICMP and other protocols no ports.
        _ => (0, 0),
    }
}

impl<'a, S: Sink> Pass<'a, S> {
    /// Counts a packet on ENI `e`, addresses `src` → `dst` as it sees them.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        e: EniIx,
        direction: FlowDirection,
        info: &Ipv4Info,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        size: Size,
        reject: Option<DropReason>,
    ) {
        let snap = self.snap;
        let Some(eni) = snap.eni(e) else {
            return;
        };
        let (Some(vpc), Some(subnet)) = (snap.vpc(eni.vpc), snap.subnet(eni.subnet)) else {
            return;
        };
        let (src_port, dst_port) = ports(info);
        if !aws_logs(
            vpc.dns,
            subnet.router_ip,
            info.protocol,
            (src, src_port),
            (dst, dst_port),
        ) {
            return;
        }
        let key = FlowLogKey {
            eni: e,
            direction,
            protocol: info.protocol,
            src,
            dst,
            src_port,
            dst_port,
            accept: reject.is_none(),
        };
        self.flow_table.add(
            self.now,
            Observation {
                key,
                packets: size.packets,
                bytes: size.bytes,
                tcp_flags: info.l4.tcp_flags(),
                reason: reject,
            },
        );
    }

    /// A packet ENI `e` sent, and what became of it.
    pub(super) fn observe_sent(&mut self, e: EniIx, info: &Ipv4Info, size: Size, v: Verdict) {
        let snap = self.snap;
        let Some(vpc) = snap.eni(e).map(|x| x.vpc) else {
            return;
        };
        let receiver = snap.eni_by_ip(vpc, info.dst).filter(|d| *d != e);
        let (sent, received) = match v {
            Verdict::Dropped(DropReason::Malformed | DropReason::SourceDestCheck(_)) => return,
            Verdict::Dropped(
                d @ (DropReason::SgEgressDenied(_) | DropReason::NaclOutDenied { .. }),
            ) => (Some(d), None),
            Verdict::Dropped(d @ DropReason::SgIngressDenied(r)) => (None, Some((r, Some(d)))),
            Verdict::Dropped(d @ DropReason::NaclInDenied { .. }) => {
                (None, receiver.map(|r| (r, Some(d))))
            }
            Verdict::Dropped(_) => (None, None),
            // An instance's ENI logs what was written to it (`observe_written`); an
            // endpoint's or a load balancer node's has no TAP and logs what reached it here.
            Verdict::Forwarded(_) | Verdict::Delivered(_) | Verdict::Answered => (
                None,
                receiver
                    .filter(|d| snap.eni_role(*d) != EniRole::Instance)
                    .map(|d| (d, None)),
            ),
        };
        self.observe(
            e,
            FlowDirection::Egress,
            info,
            info.src,
            info.dst,
            size,
            sent,
        );
        if let Some((d, reject)) = received {
            self.observe(
                d,
                FlowDirection::Ingress,
                info,
                info.src,
                info.dst,
                size,
                reject,
            );
        }
    }

    /// A frame written to `port`: its ENI, if it has one, logs it `ingress`.
    pub(super) fn observe_written(&mut self, port: PortId, frame: &[u8], vnet: &VnetHdr) {
        let Role::Eni(d) = self.snap.role(port) else {
            return;
        };
        let Some(info) = parse_ipv4(ethernet::payload_of(frame)) else {
            return;
        };
        let size = Size::of(frame, &info, vnet);
        self.observe(
            d,
            FlowDirection::Ingress,
            &info,
            info.src,
            info.dst,
            size,
            None,
        );
    }

    /// A packet from outside the VPC refused on its way into ENI `e` (`dst` the address
    /// it would have been written with).
    pub(super) fn observe_refused(
        &mut self,
        e: EniIx,
        info: &Ipv4Info,
        dst: Ipv4Addr,
        size: Size,
        d: DropReason,
    ) {
        self.observe(
            e,
            FlowDirection::Ingress,
            info,
            info.src,
            dst,
            size,
            Some(d),
        );
    }
}
