//! Inside the VPC: the `local` route, middlebox routes, and entry from
//! outside.
//!
//! A packet from an ENI meets the checks in AWS's order: source/destination
//! check, the VPC's own addresses (router `.1`, Amazon DNS, IMDS: no gates),
//! the sender's security groups (egress), the route table, the source
//! subnet's network ACL (out), then the hop the route names. Delivery to an
//! ENI in the VPC passes the destination subnet's ACL (in) and the
//! receiver's groups (ingress); traffic within one subnet skips the ACLs.
//!
//! Contract: the VPC's router is not a hop, so no TTL is decremented and
//! nothing is rewritten but the Ethernet addresses: the source MAC is the
//! sender's within a subnet and the router's across subnets. Replies of
//! the VPC's Amazon DNS and metadata service go straight to their ENI,
//! through no gate.

use core::net::Ipv4Addr;

use crate::dataplane::checksum::{self, AddrField};
use crate::dataplane::nacl::Way;
use crate::dataplane::packet::Ipv4Info;
use crate::dataplane::route::Hop;
use crate::dataplane::topology::{EniIx, EniRole, PortId, VpcIx};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::VnetHdr;
use crate::dataplane::wire::ethernet;
use crate::model::catalog::{AMAZON_DNS_LINK_LOCAL, IMDS_ADDRESS};

use super::gates::flow_key;
use super::output::l4_mode;
use super::{Pass, Sender, Sink, Step, Track};

impl<'a, S: Sink> Pass<'a, S> {
    /// A packet from an instance (or another ENI).
    pub(super) fn handle_from_eni(
        &mut self,
        port: PortId,
        e: EniIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.eni(e) else {
            return Verdict::Dropped(DropReason::UnknownPort(port));
        };
        let Some(subnet) = snap.subnet(eni.subnet) else {
            return Verdict::Dropped(DropReason::UnknownPort(port));
        };
        if eni.source_dest_check && info.src != eni.ip {
            return Verdict::Dropped(DropReason::SourceDestCheck(e));
        }
        if let Some(v) = self.vpc_mtu(port, eni.mac, frame, &vnet, info) {
            return v;
        }
        let vpc_ix = eni.vpc;
        let Some(vpc) = snap.vpc(vpc_ix) else {
            return Verdict::Dropped(DropReason::UnknownPort(port));
        };
        // Addresses of the VPC itself: SGs and NACLs do not apply.
        if info.dst == subnet.router_ip {
            return self.echo_reply(port, frame, eni.mac);
        }
        if info.dst == vpc.dns || info.dst == AMAZON_DNS_LINK_LOCAL || info.dst == IMDS_ADDRESS {
            return self.send_to_service(vpc.amazon_port, frame, &vnet);
        }

        // A target's reply to a load balancer flow.
        if let Some(v) = self.reply_of_target(e, eni, frame, vnet, info) {
            return v;
        }
        let sender = Sender { ix: e, eni };
        let (key, trackable) = flow_key(vpc_ix, info, info.src, info.dst);
        let mut track = self.lookup(key, trackable, info);

        // Security groups, egress.
        if let Err(d) = self.egress_gate(&mut track, sender, info) {
            return self.reject(d, vpc_ix, Some(e), info, key);
        }
        let rt = subnet.route_table;
        let Some(route) = snap
            .route_tables
            .get(rt.ix())
            .and_then(|t| t.table.lookup(info.dst))
        else {
            return self.reject(DropReason::NoRoute(rt), vpc_ix, Some(e), info, key);
        };
        self.sink.trace(Step::Route { rt, entry: *route });
        // The destination ENI, for local and middlebox routes.
        let local_dst = match route.hop {
            Hop::Local => match snap.eni_by_ip(vpc_ix, info.dst) {
                Some(d) => Some(d),
                None => {
                    return self.reject(
                        DropReason::NoSuchAddress(vpc_ix),
                        vpc_ix,
                        Some(e),
                        info,
                        key,
                    )
                }
            },
            Hop::Eni(d) => Some(d),
            _ => None,
        };
        let same_subnet = local_dst
            .and_then(|d| snap.eni(d))
            .is_some_and(|d| d.subnet == eni.subnet);
        if !same_subnet {
            if let Err(d) = self.nacl(eni.subnet, Way::Out, info, info.dst) {
                return self.reject(d, vpc_ix, Some(e), info, key);
            }
        }
        match route.hop {
            Hop::Local | Hop::Eni(_) => {
                let Some(d) = local_dst else {
                    return Verdict::Dropped(DropReason::NoSuchAddress(vpc_ix));
                };
                match snap.eni_role(d) {
                    EniRole::Instance => {
                        self.deliver(Some(sender), d, frame, vnet, info, &mut track, same_subnet)
                    }
                    EniRole::InterfaceEndpoint(i) => self.enter_endpoint(
                        e,
                        eni,
                        d,
                        i,
                        frame,
                        vnet,
                        info,
                        &mut track,
                        same_subnet,
                    ),
                    EniRole::LbNode { nlb, node } => self.enter_lb_node(
                        e,
                        eni,
                        d,
                        (nlb, usize::from(node)),
                        frame,
                        vnet,
                        info,
                        &mut track,
                        same_subnet,
                    ),
                }
            }
            Hop::InternetGateway => self.out_igw(port, sender, frame, vnet, info, &mut track),
            Hop::GatewayEndpoint(g) => {
                let Some(to) = snap.gateway_endpoints.get(g.ix()).map(|g| g.port) else {
                    return self.reject(DropReason::Blackhole(rt), vpc_ix, Some(e), info, key);
                };
                if let Err(d) = self.commit(&mut track, vpc_ix, Some(e), eni.subnet, info) {
                    return Verdict::Dropped(d);
                }
                self.send_to_service(to, frame, &vnet)
            }
            Hop::Blackhole => self.reject(DropReason::Blackhole(rt), vpc_ix, Some(e), info, key),
            Hop::Unsupported => self.reject(
                DropReason::UnsupportedTarget(rt),
                vpc_ix,
                Some(e),
                info,
                key,
            ),
        }
    }

    /// Local (or middlebox) delivery from `sender` to ENI `d` in its VPC.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver(
        &mut self,
        sender: Option<Sender<'_>>,
        d: EniIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        track: &mut Track,
        same_subnet: bool,
    ) -> Verdict {
        let snap = self.snap;
        let Some(dst) = snap.eni(d) else {
            return Verdict::Dropped(DropReason::NoSuchAddress(VpcIx(track.key.zone)));
        };
        let vpc = dst.vpc;
        let (src_ix, src_subnet) =
            sender.map_or((None, dst.subnet), |s| (Some(s.ix), s.eni.subnet));
        // Traffic for another address (a middlebox route) needs the check off.
        if dst.source_dest_check && info.dst != dst.ip {
            return self.reject(DropReason::SourceDestCheck(d), vpc, src_ix, info, track.key);
        }
        if !same_subnet {
            if let Err(r) = self.nacl(dst.subnet, Way::In, info, info.src) {
                return self.reject(r, vpc, src_ix, info, track.key);
            }
        }
        if let Err(r) = self.ingress_gate(track, d, dst, info) {
            return self.reject(r, vpc, src_ix, info, track.key);
        }
        if let Err(r) = self.commit(track, vpc, src_ix, src_subnet, info) {
            return Verdict::Dropped(r);
        }
        let src_mac = match sender {
            Some(s) if same_subnet => s.eni.mac,
            _ => snap.router_mac,
        };
        ethernet::set_macs(frame, dst.mac, src_mac);
        self.emit(dst.port, &vnet, frame);
        Verdict::Forwarded(dst.port)
    }

    /// A packet entering the VPC for ENI `e` from outside it (the internet
    /// gateway, a gateway endpoint, the router itself): destination subnet's
    /// ACL in, ENI's groups in. `dnat` rewrites the destination first.
    pub(super) fn inbound(
        &mut self,
        e: EniIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        private_dst: Ipv4Addr,
        dnat: Option<Ipv4Addr>,
    ) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.eni(e) else {
            return Verdict::Dropped(DropReason::NoSuchPublicAddress);
        };
        let (key, trackable) = flow_key(eni.vpc, info, info.src, private_dst);
        let mut track = self.lookup(key, trackable, info);
        let gates = self
            .nacl(eni.subnet, Way::In, info, info.src)
            .and_then(|()| self.ingress_gate(&mut track, e, eni, info));
        if let Err(d) = gates {
            let size = super::flows::Size::of(frame, info, &vnet);
            self.observe_refused(e, info, private_dst, size, d);
            return self.reject(d, eni.vpc, Some(e), info, key);
        }
        if let Err(d) = self.commit(&mut track, eni.vpc, Some(e), eni.subnet, info) {
            return Verdict::Dropped(d);
        }
        if let Some(to) = dnat {
            let mode = l4_mode(&vnet);
            let ip = ethernet::payload_of_mut(frame);
            if checksum::ipv4_rewrite_addr(ip, AddrField::Dst, to, mode).is_err() {
                return Verdict::Dropped(DropReason::Malformed);
            }
        }
        ethernet::set_macs(frame, eni.mac, snap.router_mac);
        self.emit(eni.port, &vnet, frame);
        Verdict::Forwarded(eni.port)
    }

    /// A reply from a VPC's DNS or metadata service: straight to the ENI.
    pub(super) fn handle_from_amazon(
        &mut self,
        port: PortId,
        vpc: VpcIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
    ) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.eni_by_ip(vpc, info.dst).and_then(|e| snap.eni(e)) else {
            return Verdict::Dropped(DropReason::Unexpected(port));
        };
        ethernet::set_macs(frame, eni.mac, snap.router_mac);
        self.emit(eni.port, &vnet, frame);
        Verdict::Forwarded(eni.port)
    }
}
