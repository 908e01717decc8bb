//! The interface endpoint stage: a packet for one of an interface endpoint's network
//! interfaces (PrivateLink).
//!
//! Contract (AWS: `privatelink/vpc-limits-endpoints.html`, decision 0010):
//! - The endpoint's network interface is judged like any ENI of the VPC: the sender's
//!   groups out and its subnet's ACL out were passed before; here the interface's subnet
//!   ACL in (across subnets) and the endpoint's security groups in (stateful), so an
//!   endpoint group without a rule for the client refuses it, with a flow record that says
//!   which group.
//! - The path's MTU is 8500 bytes: a larger packet (or a GSO super-frame whose segments
//!   would be larger) is dropped and counted, with no ICMP (AWS: no Path MTU Discovery);
//!   the MSS of a TCP SYN is clamped to 8460 both ways instead.
//! - Behind an endpoint to an AWS service is that service's port (the services answer as
//!   the service). Behind an endpoint to an endpoint service is the provider's Network Load
//!   Balancer: the packet goes to the load balancer node of the interface's Availability
//!   Zone, only while the endpoint's connection is accepted (`available`).

use super::nlb::{Via, PRIVATELINK_MSS};
use super::{Pass, Sink, Track};
use crate::dataplane::nlb;
use crate::dataplane::packet::Ipv4Info;
use crate::dataplane::topology::{EndpointTo, Eni, EniIx, IfeIx};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::{Gso, VnetHdr};
use crate::dataplane::wire::ethernet;

/// The MTU of traffic through a VPC endpoint.
pub const ENDPOINT_MTU: usize = 8500;

/// Whether the packet (each segment of a GSO super-frame) is larger than the endpoint MTU.
pub(super) fn too_big(info: &Ipv4Info, vnet: &VnetHdr, frame: &[u8]) -> bool {
    match vnet.gso() {
        Ok(Gso::None) => info.total_len > ENDPOINT_MTU,
        Ok(_) => super::output::gso_headers(frame, info)
            .is_none_or(|h| h + usize::from(vnet.gso_size) > ENDPOINT_MTU),
        Err(_) => true,
    }
}

impl<S: Sink> Pass<'_, S> {
    /// From `sender` (ENI `e`) to interface `d` of endpoint `i`; `same_subnet` says whether
    /// the ACLs are crossed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enter_endpoint(
        &mut self,
        e: EniIx,
        sender: &Eni,
        d: EniIx,
        i: IfeIx,
        frame: &mut [u8],
        vnet: VnetHdr,
        info: &Ipv4Info,
        track: &mut Track,
        same_subnet: bool,
    ) -> Verdict {
        let snap = self.snap;
        let vpc = sender.vpc;
        let key = track.key;
        let Some(ife) = snap.elb.interface_endpoints.get(i.ix()) else {
            return self.reject(DropReason::NoSuchAddress(vpc), vpc, Some(e), info, key);
        };
        let dst = match self.enter_subnet_of(e, vpc, d, info, key, same_subnet) {
            Ok(dst) => dst,
            Err(v) => return v,
        };
        if let Err(r) = self.ingress_gate(track, d, dst, info) {
            return self.reject(r, vpc, Some(e), info, key);
        }
        if too_big(info, &vnet, frame) {
            return self.reject(DropReason::EndpointMtuExceeded(i), vpc, Some(e), info, key);
        }
        match ife.to {
            EndpointTo::Service { port } => {
                if let Err(r) = self.commit(track, vpc, Some(e), sender.subnet, info) {
                    return Verdict::Dropped(r);
                }
                self.send_to_service(port, frame, &vnet)
            }
            EndpointTo::EndpointService { nlb: n, accepted } => {
                if !accepted {
                    return self.reject(
                        DropReason::EndpointNotAccepted(i),
                        vpc,
                        Some(e),
                        info,
                        key,
                    );
                }
                let Some(n) = n else {
                    return self.reject(DropReason::EndpointNoService(i), vpc, Some(e), info, key);
                };
                let az = snap.elb.subnet_az.get(dst.subnet.ix()).copied();
                let node = snap
                    .elb
                    .nlbs
                    .get(n.ix())
                    .and_then(|lb| lb.nodes.iter().position(|nd| Some(nd.az) == az));
                let Some(node) = node else {
                    return self.reject(DropReason::EndpointNoNodeInAz(i), vpc, Some(e), info, key);
                };
                if let Err(r) = self.commit(track, vpc, Some(e), sender.subnet, info) {
                    return Verdict::Dropped(r);
                }
                nlb::clamp_mss(
                    ethernet::payload_of_mut(frame),
                    PRIVATELINK_MSS,
                    super::output::l4_mode(&vnet),
                );
                let via = Via::Vpc {
                    zone: vpc,
                    endpoint: Some(i),
                };
                self.through_nlb(n, node, via, frame, vnet, info)
            }
        }
    }
}
