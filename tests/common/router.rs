//! A router fed frames by hand, for the sans-IO scenario tests (`tests/router.rs`,
//! `tests/nlb.rs`, and `tests/alloc.rs`, which drives `router` directly into a sink that
//! does not allocate): a topology built from a template, frames injected on its ports with a
//! fake clock, and what comes out collected.

use std::net::Ipv4Addr;
use std::sync::Arc;

use vpclab::dataplane::router::{Config, Router};
use vpclab::dataplane::testkit::{self, Addrs, Collect, Sent};
use vpclab::dataplane::time::Instant;
use vpclab::dataplane::topology::{PortId, PortKind, Snapshot};
use vpclab::dataplane::verdict::Verdict;
use vpclab::dataplane::vnet::{HdrSize, VnetHdr};
use vpclab::model::{self, catalog, Lab};

const HDR: HdrSize = HdrSize::Legacy;
const INTERNET_HOST: Ipv4Addr = catalog::INTERNET_HOST;

/// One instance's side of the lab.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    pub port: PortId,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub public: Option<Ipv4Addr>,
    pub gateway: Ipv4Addr,
}

pub struct Harness {
    pub lab: Lab,
    pub router: Router,
    pub sink: Collect,
    pub now: Instant,
}

impl Harness {
    pub fn new(lab: Lab) -> Harness {
        Harness::with_config(lab, Config::default())
    }

    pub fn with_config(lab: Lab, config: Config) -> Harness {
        let snap = Snapshot::build(&lab, None).expect("snapshot");
        Harness {
            lab,
            router: Router::new(Arc::new(snap), config),
            sink: Collect::default(),
            now: Instant::from_secs(1000),
        }
    }

    pub fn snap(&self) -> &Snapshot {
        self.router.snapshot()
    }

    /// Rebuilds the snapshot from the (changed) lab and swaps it in.
    pub fn apply(&mut self) {
        let snap = Snapshot::build(&self.lab, Some(self.router.snapshot())).expect("snapshot");
        self.router.install(Arc::new(snap));
    }

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

    pub fn router_mac(&self) -> [u8; 6] {
        self.snap().router_mac
    }

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
            INTERNET_HOST,
            dst,
        )
    }

    pub fn send_vnet(
        &mut self,
        port: PortId,
        vnet: &VnetHdr,
        frame: &[u8],
    ) -> (Verdict, Vec<Sent>) {
        let mut buf = testkit::with_vnet(HDR, vnet, frame);
        let v = self
            .router
            .process(self.now, port, &mut buf, &mut self.sink);
        (v, self.sink.take())
    }

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

    pub fn advance(&mut self, secs: u64) {
        self.now = Instant::from_millis(self.now.total_millis() + secs * 1000);
    }
}
