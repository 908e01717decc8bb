//! Frame builders, a collecting [`Sink`] and the router's scenario
//! [`Harness`], shared by the unit tests beside each stage, the integration
//! tests, the benchmarks and the fuzz targets of the data plane.
//!
//! Contract: builders return complete frames (a virtio-net header of the
//! given size, then Ethernet, IPv4 and L4 with correct checksums) built with
//! etherparse, so a test states addresses and ports, never offsets. The
//! [`Harness`] is a [`Router`] over a lab's [`Snapshot`], fed frames by hand
//! with a fake clock; its lookups panic when the lab lacks what a test names
//! (that is the test failing). Nothing here is used on the packet path; it
//! allocates freely.

use core::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::PacketBuilder;

use super::router::{Config, Router, Sink};
use super::time::Instant;
use super::topology::{PortId, PortKind, Snapshot};
use super::verdict::Verdict;
use super::vnet::{HdrSize, VnetHdr};
use super::wire::ethernet::{self, ether_type};
use crate::model::{self, catalog, Lab};

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
    fn to_tap(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        self.sent.push(Sent {
            port,
            vnet: *vnet,
            frame: frame.to_vec(),
        });
    }
    fn to_service(&mut self, port: PortId, packet: &[u8]) {
        self.to_tap(port, &VnetHdr::PLAIN, packet);
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
    fn to_tap(&mut self, _port: PortId, _vnet: &VnetHdr, frame: &[u8]) {
        self.frames += 1;
        self.bytes += frame.len() as u64;
    }
    fn to_service(&mut self, port: PortId, packet: &[u8]) {
        self.to_tap(port, &VnetHdr::PLAIN, packet);
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
    f.extend_from_slice(&ether_type::ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// The IPv4 packet of an Ethernet frame.
pub fn ip_of(frame: &[u8]) -> &[u8] {
    ethernet::payload_of(frame)
}

/// The vnet header size of the harness's TAP ports.
const HDR: HdrSize = HdrSize::Legacy;

/// One instance's side of the lab.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// The instance's TAP port.
    pub port: PortId,
    /// Its ENI's MAC.
    pub mac: [u8; 6],
    /// Its private address.
    pub ip: Ipv4Addr,
    /// Its public address, if any.
    pub public: Option<Ipv4Addr>,
    /// Its subnet's router (`.1`).
    pub gateway: Ipv4Addr,
}

/// A router fed frames by hand: a topology built from a lab, frames injected
/// on its ports with a fake clock, and what comes out collected.
#[derive(Debug)]
pub struct Harness {
    /// The lab; change it and [`Harness::apply`] for a live change.
    pub lab: Lab,
    /// The router under test.
    pub router: Router,
    /// What the router sent since the last [`Collect::take`].
    pub sink: Collect,
    /// The fake clock.
    pub now: Instant,
}

impl Harness {
    /// A harness over `lab` with the default [`Config`].
    pub fn new(lab: Lab) -> Harness {
        Harness::with_config(lab, Config::default())
    }

    /// A harness over `lab` with `config`.
    pub fn with_config(lab: Lab, config: Config) -> Harness {
        let snap = Snapshot::build(&lab, None).expect("snapshot");
        Harness {
            lab,
            router: Router::new(Arc::new(snap), config),
            sink: Collect::default(),
            now: Instant::from_secs(1000),
        }
    }

    /// The router's current snapshot.
    pub fn snap(&self) -> &Snapshot {
        self.router.snapshot()
    }

    /// Rebuilds the snapshot from the (changed) lab and swaps it in.
    pub fn apply(&mut self) {
        let snap = Snapshot::build(&self.lab, Some(self.router.snapshot())).expect("snapshot");
        self.router.install(Arc::new(snap));
    }

    /// The instance with logical id `logical_id`.
    pub fn host(&self, logical_id: &str) -> Host {
        let i = self
            .lab
            .instances
            .iter()
            .find(|i| i.origin.logical_id.as_deref() == Some(logical_id))
            .unwrap_or_else(|| panic!("no instance {logical_id}"));
        let eni = self.lab.eni(&i.eni).unwrap();
        let subnet = self.lab.subnet(&i.subnet).unwrap();
        Host {
            port: self.snap().port_of(&PortKind::Eni(i.eni.clone())).unwrap(),
            mac: eni.mac.0,
            ip: i.private_ip,
            public: i.public_ip,
            gateway: model::cidr::router_address(subnet.cidr),
        }
    }

    /// The router's MAC.
    pub fn router_mac(&self) -> [u8; 6] {
        self.snap().router_mac
    }

    /// The emulated internet's port.
    pub fn internet(&self) -> PortId {
        self.snap().internet_port
    }

    /// Addresses of a frame from `h` to `dst` through the router.
    pub fn from(&self, h: &Host, dst: Ipv4Addr) -> Addrs {
        Addrs::new(h.mac, self.router_mac(), h.ip, dst)
    }

    /// Addresses of a frame from the internet host to `dst`.
    pub fn inbound_addrs(&self, dst: Ipv4Addr) -> Addrs {
        Addrs::new(
            self.snap().internet_host_mac,
            self.router_mac(),
            catalog::INTERNET_HOST,
            dst,
        )
    }

    /// Sends an Ethernet `frame` with header `vnet` on TAP port `port`: the
    /// verdict and what was sent.
    pub fn send_vnet(
        &mut self,
        port: PortId,
        vnet: &VnetHdr,
        frame: &[u8],
    ) -> (Verdict, Vec<Sent>) {
        let mut buf = with_vnet(HDR, vnet, frame);
        let v = self
            .router
            .process(self.now, port, &mut buf, &mut self.sink);
        (v, self.sink.take())
    }

    /// [`Harness::send_vnet`] with a plain header.
    pub fn send(&mut self, port: PortId, frame: &[u8]) -> (Verdict, Vec<Sent>) {
        self.send_vnet(port, &VnetHdr::PLAIN, frame)
    }

    /// Sends a bare IP packet on a service port.
    pub fn send_ip(&mut self, port: PortId, packet: &[u8]) -> (Verdict, Vec<Sent>) {
        let mut buf = packet.to_vec();
        let v = self
            .router
            .process(self.now, port, &mut buf, &mut self.sink);
        (v, self.sink.take())
    }

    /// Moves the fake clock `secs` seconds on.
    pub fn advance(&mut self, secs: u64) {
        self.now = Instant::from_millis(self.now.total_millis() + secs * 1000);
    }
}
