//! ARP on the VPC's wire: the only ARP an instance gets answered.
//!
//! AWS has no broadcast domain: the VPC's router answers every ARP request
//! itself. An ENI learns the subnet router (`.1`), Amazon DNS (base + 2,
//! when its subnet holds that address) and the other ENIs of its own subnet,
//! all at their real MACs except the router's; the internet host learns the
//! internet gateway (203.0.113.1).
//!
//! Contract: a request is answered in place and sent back out of the port it
//! came in on ([`Verdict::Answered`]); anything else (a reply, a gratuitous
//! or probe request, an address nobody owns) is [`DropReason::ArpIgnored`], and a
//! short or non-Ethernet/IPv4 ARP is [`DropReason::Malformed`]. No gate applies:
//! security groups and network ACLs do not see ARP.

use crate::dataplane::topology::{PortId, Role, INTERNET_GATEWAY_IP};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::VnetHdr;
use crate::dataplane::wire::{arp, ethernet, Arp, Ethernet};

use super::{Pass, Sink};

impl<'a, S: Sink> Pass<'a, S> {
    pub(super) fn arp(&mut self, port: PortId, frame: &mut [u8]) -> Verdict {
        let Some(a) = Arp::new(ethernet::payload_of(frame)) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        if !a.is_ether_ipv4() {
            return Verdict::Dropped(DropReason::Malformed);
        }
        let (op, sha, spa, tpa) = (a.op(), a.sha(), a.spa(), a.tpa());
        if op != arp::REQUEST || spa == tpa || spa.is_unspecified() {
            return Verdict::Dropped(DropReason::ArpIgnored);
        }
        let snap = self.snap;
        let answer = match snap.role(port) {
            Role::Eni(e) => snap.eni(e).and_then(|me| {
                let subnet = snap.subnet(me.subnet)?;
                // The subnet router, and Amazon DNS at base+2 when the subnet holds it
                // (a /24 at the VPC's base: the instance sees it on-link).
                let vpc = snap.vpc(me.vpc)?;
                if tpa == subnet.router_ip || (tpa == vpc.dns && subnet.cidr.contains(&tpa)) {
                    return Some(snap.router_mac);
                }
                let other = snap.eni(snap.eni_by_ip(me.vpc, tpa)?)?;
                (other.subnet == me.subnet && other.ip != me.ip).then_some(other.mac)
            }),
            Role::Internet if tpa == INTERNET_GATEWAY_IP => Some(snap.router_mac),
            _ => None,
        };
        let Some(mac) = answer else {
            return Verdict::Dropped(DropReason::ArpIgnored);
        };
        // The request becomes the reply, cut to the ARP packet's length.
        let len = ethernet::field::HEADER_LEN + arp::field::LEN;
        let Some(mut eth) = frame.get_mut(..len).and_then(Ethernet::new) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        eth.set_macs(sha, mac);
        if let Some(mut a) = Arp::new(eth.payload_mut()) {
            a.set_op(arp::REPLY);
            a.set_sender(mac, tpa);
            a.set_target(sha, spa);
        }
        self.emit(port, &VnetHdr::PLAIN, eth.into_inner());
        Verdict::Answered
    }
}
