//! Output: frames leave the router through the caller's [`Sink`].
//!
//! Every frame out is counted on its port. A TAP keeps the frame's
//! virtio-net header, so a GSO super-frame is sent on whole to another TAP;
//! a service port (Amazon DNS, IMDS, gateway endpoints, regional services)
//! takes bare, complete IPv4 packets, so GSO frames are segmented in
//! software and partial checksums completed. The emulated internet host is
//! a TAP behind the gateway's MTU.
//!
//! Contract: nothing is allocated (segments are written into the router's
//! buffers); what a sink receives is framed as its port is framed.

use crate::dataplane::checksum::L4Csum;
use crate::dataplane::gso;
use crate::dataplane::packet::{parse_ipv4, Ipv4Info};
use crate::dataplane::topology::{Framing, PortId, IGW_MTU};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::dataplane::vnet::{Gso, VnetHdr};
use crate::dataplane::wire::{ethernet, proto, udp, Tcp};

use super::{Pass, Sink};

impl<'a, S: Sink> Pass<'a, S> {
    pub(super) fn emit(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        if let Some(c) = self.counters.port(port) {
            c.tx_frames += 1;
            c.tx_bytes += frame.len() as u64;
        }
        self.observe_written(port, frame, vnet);
        super::deliver(self.sink, self.snap, port, vnet, frame);
    }

    /// To the emulated internet host.
    pub(super) fn send_to_internet(&mut self, frame: &mut [u8], vnet: &VnetHdr) -> Verdict {
        let snap = self.snap;
        ethernet::set_macs(frame, snap.internet_host_mac, snap.router_mac);
        if info_total(frame) > usize::from(IGW_MTU) && vnet.gso().is_ok_and(|g| g == Gso::None) {
            return self.fragment(snap.internet_port, frame, vnet);
        }
        if vnet.gso().is_ok_and(|g| g != Gso::None)
            && gso_headers_frame(frame)
                .is_none_or(|h| h + usize::from(vnet.gso_size) > usize::from(IGW_MTU))
        {
            return self.segment(snap.internet_port, frame, vnet, Some(IGW_MTU));
        }
        self.emit(snap.internet_port, vnet, frame);
        Verdict::Forwarded(snap.internet_port)
    }

    /// To a service port: bare IPv4 packets, complete, never GSO.
    pub(super) fn send_to_service(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        vnet: &VnetHdr,
    ) -> Verdict {
        if vnet.gso().is_ok_and(|g| g != Gso::None) || vnet.needs_csum() {
            return match self.segment(port, frame, vnet, None) {
                Verdict::Forwarded(p) => Verdict::Delivered(p),
                v => v,
            };
        }
        let packet = ethernet::payload_of(frame);
        if let Some(c) = self.counters.port(port) {
            c.tx_frames += 1;
            c.tx_bytes += packet.len() as u64;
        }
        super::deliver(self.sink, self.snap, port, &VnetHdr::PLAIN, packet);
        Verdict::Delivered(port)
    }

    /// Segments a GSO frame (and completes checksums) onto `port`.
    fn segment(&mut self, port: PortId, frame: &[u8], vnet: &VnetHdr, mtu: Option<u16>) -> Verdict {
        let ip_port = self
            .snap
            .port(port)
            .is_some_and(|p| p.framing == Framing::Ip);
        let Pass {
            seg,
            sink,
            counters,
            snap,
            ..
        } = self;
        let mut emit = |s: &[u8]| {
            let out = if ip_port { ethernet::payload_of(s) } else { s };
            if let Some(c) = counters.port(port) {
                c.tx_frames += 1;
                c.tx_bytes += out.len() as u64;
            }
            super::deliver(*sink, snap, port, &VnetHdr::PLAIN, out);
        };
        let r = match mtu {
            Some(m) => gso::segment_to_mtu(frame, vnet, m, seg, &mut emit),
            None => gso::segment(frame, vnet, seg, &mut emit),
        };
        match r {
            Ok(_) => Verdict::Forwarded(port),
            Err(_) => Verdict::Dropped(DropReason::Malformed),
        }
    }

    /// Sends the first `len` bytes of the generated-frame buffer.
    pub(super) fn emit_gen(&mut self, port: PortId, len: usize) {
        let ip_port = self
            .snap
            .port(port)
            .is_some_and(|p| p.framing == Framing::Ip);
        let frame = self.gen.get(..len).unwrap_or(&[]);
        let out = if ip_port {
            ethernet::payload_of(frame)
        } else {
            frame
        };
        if let Some(c) = self.counters.port(port) {
            c.tx_frames += 1;
            c.tx_bytes += out.len() as u64;
        }
        super::deliver(self.sink, self.snap, port, &VnetHdr::PLAIN, out);
    }
}

pub(super) fn l4_mode(vnet: &VnetHdr) -> L4Csum {
    if vnet.needs_csum() {
        L4Csum::Partial
    } else {
        L4Csum::Full
    }
}

fn info_total(frame: &[u8]) -> usize {
    ethernet::payload_of(frame).len()
}

/// IP plus L4 header bytes of each segment of a GSO frame.
pub(super) fn gso_headers(frame: &[u8], info: &Ipv4Info) -> Option<usize> {
    let l4 = ethernet::payload_of(frame).get(info.ihl..)?;
    let l4_hdr = match info.protocol {
        proto::TCP => Tcp::new(l4)?.header_len(),
        proto::UDP => udp::field::HEADER_LEN,
        _ => return None,
    };
    Some(info.ihl + l4_hdr)
}

fn gso_headers_frame(frame: &[u8]) -> Option<usize> {
    let info = parse_ipv4(ethernet::payload_of(frame))?;
    gso_headers(frame, &info)
}
