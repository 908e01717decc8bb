//! The gates: security groups, network ACLs and connection tracking.
//!
//! AWS's two firewalls around every ENI and subnet. Security groups are
//! stateful: a flow's key is looked up in the VPC's connection tracking, and
//! a side (sender's egress, receiver's ingress) that tracks the flow lets
//! its packets through without asking the rules again, with AWS's
//! untracked-flow rule deciding which sides track it. Network ACLs are
//! stateless: every packet is judged by the subnet's numbered entries, each
//! way, so an ACL change cuts tracked flows.
//!
//! Contract: a gate returns `Err(DropReason)` naming the rule that denied the
//! packet and changes nothing; `commit` is called once every gate
//! has passed and is the only place a flow starts being tracked. Every
//! decision, accepted or rejected, is one flow record.

use core::net::Ipv4Addr;

use crate::dataplane::conntrack::{Direction, FlowKey};
use crate::dataplane::nacl::Way;
use crate::dataplane::packet::{Ipv4Info, L4};
use crate::dataplane::secgroup::Allowed;
use crate::dataplane::topology::{Eni, EniIx, Snapshot, SubnetIx, VpcIx};
use crate::dataplane::verdict::{DropReason, FlowAction, FlowRecord, Verdict};
use crate::dataplane::wire::proto;

use super::{FlowVal, Pass, Sender, Sink, Step, Track};

impl<'a, S: Sink> Pass<'a, S> {
    pub(super) fn lookup(&mut self, key: FlowKey, trackable: bool, info: &Ipv4Info) -> Track {
        let hit = if trackable {
            self.ct
                .lookup(self.now, &key, info.l4.tcp_flags())
                .map(|h| match h.direction {
                    Direction::Original => (h.value.src, h.value.dst),
                    Direction::Reply => (h.value.dst, h.value.src),
                })
        } else {
            None
        };
        Track {
            key,
            trackable,
            hit,
            new: FlowVal::default(),
        }
    }

    pub(super) fn egress_gate(
        &mut self,
        track: &mut Track,
        s: Sender<'_>,
        info: &Ipv4Info,
    ) -> Result<(), DropReason> {
        let tracked = track.hit.is_some_and(|(sender, _)| sender);
        if !tracked {
            let allowed = self
                .groups_allow(s.eni, false, info, info.dst)
                .ok_or(DropReason::SgEgressDenied(s.ix))?;
            track.new.src = is_tracked(s.eni, false, allowed, info);
        }
        self.sink.trace(Step::SecurityGroup {
            eni: s.ix,
            inbound: false,
            tracked,
            info: *info,
            peer: info.dst,
        });
        Ok(())
    }

    pub(super) fn ingress_gate(
        &mut self,
        track: &mut Track,
        d: EniIx,
        eni: &Eni,
        info: &Ipv4Info,
    ) -> Result<(), DropReason> {
        let tracked = track.hit.is_some_and(|(_, receiver)| receiver);
        if !tracked {
            let allowed = self
                .groups_allow(eni, true, info, info.src)
                .ok_or(DropReason::SgIngressDenied(d))?;
            track.new.dst = is_tracked(eni, true, allowed, info);
        }
        self.sink.trace(Step::SecurityGroup {
            eni: d,
            inbound: true,
            tracked,
            info: *info,
            peer: info.src,
        });
        Ok(())
    }

    /// Whether the union of the ENI's groups allows the packet.
    pub(super) fn groups_allow(
        &self,
        eni: &Eni,
        inbound: bool,
        info: &Ipv4Info,
        peer: Ipv4Addr,
    ) -> Option<Allowed> {
        let snap = self.snap;
        let vpc = eni.vpc;
        let member = |g, ip| snap.in_group(vpc, g, ip);
        let mut result: Option<Allowed> = None;
        for g in &eni.security_groups {
            let Some(group) = snap.security_groups.get(g.ix()) else {
                continue;
            };
            let rules = if inbound {
                &group.ingress
            } else {
                &group.egress
            };
            if let Some(a) = rules.matching(info.protocol, &info.l4, peer, &member) {
                if a.open_world {
                    return Some(a);
                }
                result = Some(a);
            }
        }
        result
    }

    /// A packet from ENI `e` for ENI `d` of VPC `vpc` (an endpoint's or a load balancer
    /// node's) enters `d`'s subnet: that subnet's ACL in, across subnets. `Err` is the
    /// verdict of a refusal (recorded).
    pub(super) fn enter_subnet_of(
        &mut self,
        e: EniIx,
        vpc: VpcIx,
        d: EniIx,
        info: &Ipv4Info,
        key: FlowKey,
        same_subnet: bool,
    ) -> Result<&'a Eni, Verdict> {
        let snap: &'a Snapshot = self.snap;
        let Some(dst) = snap.eni(d) else {
            return Err(self.reject(DropReason::NoSuchAddress(vpc), vpc, Some(e), info, key));
        };
        if !same_subnet {
            if let Err(r) = self.nacl(dst.subnet, Way::In, info, info.src) {
                return Err(self.reject(r, vpc, Some(e), info, key));
            }
        }
        Ok(dst)
    }

    pub(super) fn nacl(
        &mut self,
        subnet: SubnetIx,
        way: Way,
        info: &Ipv4Info,
        peer: Ipv4Addr,
    ) -> Result<(), DropReason> {
        let snap = self.snap;
        let Some(acl_ix) = snap.subnet(subnet).map(|s| s.acl) else {
            return Ok(());
        };
        let Some(acl) = snap.acls.get(acl_ix.ix()) else {
            return Ok(());
        };
        let d = acl.acl.evaluate(way, info.protocol, &info.l4, peer);
        match (d.allow, way) {
            (true, _) => {
                self.sink.trace(Step::NetworkAcl {
                    subnet,
                    acl: acl_ix,
                    way,
                    rule: d.rule,
                });
                Ok(())
            }
            (false, Way::Out) => Err(DropReason::NaclOutDenied {
                acl: acl_ix,
                rule: d.rule,
            }),
            (false, Way::In) => Err(DropReason::NaclInDenied {
                acl: acl_ix,
                rule: d.rule,
            }),
        }
    }

    /// Every gate passed: start tracking a new flow if a side tracks it, and
    /// record the accepted flow.
    pub(super) fn commit(
        &mut self,
        track: &mut Track,
        vpc: VpcIx,
        eni: Option<EniIx>,
        subnet: SubnetIx,
        info: &Ipv4Info,
    ) -> Result<(), DropReason> {
        if track.hit.is_some() {
            return Ok(());
        }
        if track.trackable
            && (track.new.src || track.new.dst)
            && self
                .ct
                .insert(self.now, &track.key, info.l4.tcp_flags(), track.new)
                .is_err()
        {
            self.record(
                vpc,
                eni,
                Some(subnet),
                info,
                track.key,
                FlowAction::Reject(DropReason::ConntrackFull),
            );
            return Err(DropReason::ConntrackFull);
        }
        self.record(vpc, eni, Some(subnet), info, track.key, FlowAction::Accept);
        Ok(())
    }

    pub(super) fn reject(
        &mut self,
        d: DropReason,
        vpc: VpcIx,
        eni: Option<EniIx>,
        info: &Ipv4Info,
        key: FlowKey,
    ) -> Verdict {
        let subnet = eni.and_then(|e| self.snap.eni(e)).map(|e| e.subnet);
        self.record(vpc, eni, subnet, info, key, FlowAction::Reject(d));
        Verdict::Dropped(d)
    }

    fn record(
        &mut self,
        vpc: VpcIx,
        eni: Option<EniIx>,
        subnet: Option<SubnetIx>,
        info: &Ipv4Info,
        key: FlowKey,
        action: FlowAction,
    ) {
        self.flows.push(FlowRecord {
            at: self.now,
            vpc,
            eni,
            subnet,
            key,
            bytes: u32::try_from(info.total_len).unwrap_or(u32::MAX),
            action,
        });
    }
}

/// The connection-tracking key of a packet in VPC `vpc` (addresses as the
/// VPC sees them), and whether such packets open tracked flows.
pub(super) fn flow_key(
    vpc: VpcIx,
    info: &Ipv4Info,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> (FlowKey, bool) {
    let (key, trackable) = match info.l4 {
        L4::Tcp {
            src_port, dst_port, ..
        }
        | L4::Udp { src_port, dst_port } => (
            FlowKey::new(info.protocol, src, src_port, dst, dst_port),
            true,
        ),
        L4::Icmp {
            ident: Some(id), ..
        } => (FlowKey::icmp_echo(src, dst, id), true),
        // ICMP errors are judged by the rules, never tracked.
        L4::Icmp { ty, code, .. } => (
            FlowKey::new(proto::ICMP, src, u16::from(ty), dst, u16::from(code)),
            false,
        ),
        // A non-first fragment of TCP/UDP has no ports to track.
        L4::Opaque => (
            FlowKey::new(info.protocol, src, 0, dst, 0),
            info.protocol != proto::TCP && info.protocol != proto::UDP,
        ),
    };
    (key.in_zone(vpc.0), trackable)
}

/// AWS's untracked-flow rule: a TCP/UDP flow allowed by a rule open to the
/// world, whose reverse direction opens every port to the world, is not
/// tracked. ICMP and other protocols always are.
fn is_tracked(eni: &Eni, inbound: bool, allowed: Allowed, info: &Ipv4Info) -> bool {
    let p = match info.protocol {
        proto::TCP => 0,
        proto::UDP => 1,
        _ => return true,
    };
    // The reverse of inbound is outbound (index 1), and vice versa.
    let reverse = usize::from(inbound);
    let reverse_open = eni
        .open_all_ports
        .get(reverse)
        .and_then(|d| d.get(p))
        .copied()
        .unwrap_or(false);
    !(allowed.open_world && reverse_open)
}
