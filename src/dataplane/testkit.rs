//! Frame builders and a collecting [`Sink`], shared by the tests, the
//! benchmarks and the fuzz targets of the data plane.
//!
//! Contract: builders return complete frames (a virtio-net header of the
//! given size, then Ethernet, IPv4 and L4 with correct checksums) built with
//! etherparse, so a test states addresses and ports, never offsets. Nothing
//! here is used on the packet path; it allocates freely.

use core::net::Ipv4Addr;

use etherparse::PacketBuilder;

use super::packet::eth;
use super::router::Sink;
use super::topology::PortId;
use super::vnet::{HdrSize, VnetHdr};

/// A frame the router sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Where.
    pub port: PortId,
    /// The vnet header it was sent with.
    pub vnet: VnetHdr,
    /// The Ethernet frame (TAP ports) or IPv4 packet (service ports).
    pub frame: Vec<u8>,
}

/// A sink that keeps everything.
#[derive(Debug, Default)]
pub struct Collect {
    /// What was sent, in order.
    pub sent: Vec<Sent>,
}

impl Collect {
    /// Takes what was sent so far.
    pub fn take(&mut self) -> Vec<Sent> {
        core::mem::take(&mut self.sent)
    }
}

impl Sink for Collect {
    fn send(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        self.sent.push(Sent {
            port,
            vnet: *vnet,
            frame: frame.to_vec(),
        });
    }
}

/// A sink that only counts (for benchmarks).
#[derive(Debug, Default)]
pub struct Count {
    /// Frames sent.
    pub frames: u64,
    /// Bytes sent.
    pub bytes: u64,
}

impl Sink for Count {
    fn send(&mut self, _port: PortId, _vnet: &VnetHdr, frame: &[u8]) {
        self.frames += 1;
        self.bytes += frame.len() as u64;
    }
}

/// Puts a vnet header in front of an Ethernet frame.
pub fn with_vnet(size: HdrSize, vnet: &VnetHdr, frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0; size.bytes()];
    // Emitting into a buffer of exactly the header's size cannot fail.
    let _ = vnet.emit(&mut out, size);
    out.extend_from_slice(frame);
    out
}

/// Ethernet + IPv4 addressing of a test frame.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// TTL.
    pub ttl: u8,
}

impl Addrs {
    /// From `src` to `dst`, TTL 64, MACs given.
    pub fn new(src_mac: [u8; 6], dst_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr) -> Addrs {
        Addrs {
            src_mac,
            dst_mac,
            src,
            dst,
            ttl: 64,
        }
    }

    fn builder(&self) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        PacketBuilder::ethernet2(self.src_mac, self.dst_mac).ipv4(
            self.src.octets(),
            self.dst.octets(),
            self.ttl,
        )
    }
}

/// TCP flags for [`tcp`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

impl Flags {
    /// SYN.
    pub const SYN: Flags = Flags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };
    /// SYN+ACK.
    pub const SYN_ACK: Flags = Flags {
        syn: true,
        ack: true,
        fin: false,
        rst: false,
    };
    /// ACK.
    pub const ACK: Flags = Flags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };
}

/// An Ethernet/IPv4/TCP frame (no vnet header).
pub fn tcp(a: &Addrs, sport: u16, dport: u16, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let mut b = a.builder().tcp(sport, dport, 1000, 64240);
    if flags.syn {
        b = b.syn();
    }
    if flags.ack {
        b = b.ack(1);
    }
    if flags.fin {
        b = b.fin();
    }
    if flags.rst {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // Writing into a Vec cannot fail for a well-formed builder.
    let _ = b.write(&mut out, payload);
    out
}

/// An Ethernet/IPv4/UDP frame (no vnet header).
pub fn udp(a: &Addrs, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = a.builder().udp(sport, dport);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, payload);
    out
}

/// An Ethernet/IPv4 ICMP echo request (no vnet header).
pub fn ping(a: &Addrs, ident: u16, seq: u16) -> Vec<u8> {
    let payload = [0x61u8; 56];
    let b = a.builder().icmpv4_echo_request(ident, seq);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, &payload);
    out
}

/// An Ethernet/IPv4 ICMP echo reply (no vnet header).
pub fn pong(a: &Addrs, ident: u16, seq: u16) -> Vec<u8> {
    let payload = [0x61u8; 56];
    let b = a.builder().icmpv4_echo_reply(ident, seq);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, &payload);
    out
}

/// An ARP request from `sha`/`spa` for `tpa`, broadcast.
pub fn arp_request(sha: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&eth::ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// The IPv4 packet of an Ethernet frame.
pub fn ip_of(frame: &[u8]) -> &[u8] {
    frame.get(eth::LEN..).unwrap_or(&[])
}
