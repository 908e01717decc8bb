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

use core::ops::Range;

use crate::dataplane::packet::eth;
use crate::dataplane::topology::{PortId, Role, INTERNET_GATEWAY_IP};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::VnetHdr;

use super::{addr, Pass, Sink};

// ARP field positions (Ethernet/IPv4 ARP, after the Ethernet header).
const LEN: usize = 28;
const FIXED: Range<usize> = 0..6;
/// htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
const ETHER_IPV4: [u8; 6] = [0, 1, 8, 0, 6, 4];
const OP: Range<usize> = 6..8;
const SHA: Range<usize> = 8..14;
const SPA: Range<usize> = 14..18;
const THA: Range<usize> = 18..24;
const TPA: Range<usize> = 24..28;
const REQUEST: u16 = 1;
const REPLY: u16 = 2;

impl<'a, S: Sink> Pass<'a, S> {
    pub(super) fn arp(&mut self, port: PortId, frame: &mut [u8]) -> Verdict {
        let Some(a) = frame.get(eth::LEN..eth::LEN + LEN) else {
            return Verdict::Dropped(DropReason::Malformed);
        };
        if a.get(FIXED) != Some(&ETHER_IPV4[..]) {
            return Verdict::Dropped(DropReason::Malformed);
        }
        let op = a.get(OP).map_or(0, |o| u16::from_be_bytes([o[0], o[1]]));
        let spa = addr(&a[SPA]);
        let tpa = addr(&a[TPA]);
        if op != REQUEST || spa == tpa || spa.is_unspecified() {
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
        let frame = &mut frame[..eth::LEN + LEN];
        let mut sha = [0u8; 6];
        sha.copy_from_slice(&frame[eth::LEN..][SHA]);
        let spa_bytes = spa.octets();
        let a = &mut frame[eth::LEN..];
        a[OP].copy_from_slice(&REPLY.to_be_bytes());
        a[THA].copy_from_slice(&sha);
        a[TPA].copy_from_slice(&spa_bytes);
        a[SHA].copy_from_slice(&mac);
        a[SPA].copy_from_slice(&tpa.octets());
        frame[eth::DST].copy_from_slice(&sha);
        frame[eth::SRC].copy_from_slice(&mac);
        self.emit(port, &VnetHdr::PLAIN, frame);
        Verdict::Answered
    }
}
