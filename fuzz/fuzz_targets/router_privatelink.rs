//! Frames aimed at the default lab's PrivateLink and load balancer stages: TCP/UDP/ICMP
//! from any instance or the internet to interface endpoint ENIs, load balancer nodes
//! (private and public IPs) and targets, with fuzzed ports, flags, sizes and GSO headers,
//! plus targets turning healthy and unhealthy. `Router::process` never panics, the
//! load balancer flow table stays within its capacity, and every frame sent out is at most
//! a GSO frame's size.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use vpclab::dataplane::router::{Config, Router, Sink};
use vpclab::dataplane::testkit::{self, Addrs, Flags};
use vpclab::dataplane::time::Instant;
use vpclab::dataplane::topology::{PortId, PortKind, Snapshot};
use vpclab::dataplane::vnet::{flags, gso_type, HdrSize, VnetHdr};
use vpclab::model::EniOwner;

const NLB_CAPACITY: usize = 32;

struct World {
    router: Router,
    clock: u64,
    /// (port, mac, ip) of each instance and of the internet.
    senders: Vec<(PortId, [u8; 6], Ipv4Addr)>,
    /// Interface endpoint ENIs, NLB nodes' private and public IPs, instances.
    targets: Vec<Ipv4Addr>,
    /// (target group ARN, ip, port) of each target.
    health: Vec<(String, Ipv4Addr, u16)>,
}

struct Bounded;
impl Sink for Bounded {
    fn to_tap(&mut self, _port: PortId, _vnet: &VnetHdr, frame: &[u8]) {
        assert!(frame.len() <= 65_535 + 14);
    }
    fn to_service(&mut self, _port: PortId, packet: &[u8]) {
        assert!(packet.len() <= 65_535);
    }
}

fn world() -> &'static Mutex<World> {
    static W: OnceLock<Mutex<World>> = OnceLock::new();
    W.get_or_init(|| {
        let text = include_str!("../../templates/default.yaml");
        let lab = vpclab::template::load(text, &Default::default()).expect("default lab loads");
        let snap = Snapshot::build(&lab, None).expect("snapshot");
        let mut senders = vec![];
        for i in &lab.instances {
            let eni = lab.eni(&i.eni).unwrap();
            let port = snap.port_of(&PortKind::Eni(i.eni.clone())).unwrap();
            senders.push((port, eni.mac.0, i.private_ip));
        }
        senders.push((
            snap.internet_port,
            snap.internet_host_mac,
            vpclab::model::catalog::INTERNET_HOST,
        ));
        let mut targets = vec![];
        for e in &lab.network_interfaces {
            targets.push(e.private_ip);
            if let (Some(p), EniOwner::LoadBalancer(_)) = (e.public_ip, &e.owner) {
                targets.push(p);
            }
            if let Some(p) = e.public_ip {
                targets.push(p);
            }
        }
        let mut health = vec![];
        for tg in &lab.target_groups {
            for t in &tg.targets {
                if let Some(i) = lab.instances.iter().find(|i| i.id.as_str() == t.id) {
                    health.push((tg.arn.clone(), i.private_ip, t.port));
                }
            }
        }
        let config = Config {
            nlb_capacity: NLB_CAPACITY,
            conntrack_capacity: 256,
            flow_log_capacity: 16,
            ..Config::default()
        };
        Mutex::new(World {
            router: Router::new(Arc::new(snap), config),
            clock: 0,
            senders,
            targets,
            health,
        })
    })
}

fn byte(d: &mut &[u8]) -> u8 {
    match d.split_first() {
        Some((&b, rest)) => {
            *d = rest;
            b
        }
        None => 0,
    }
}

fn word(d: &mut &[u8]) -> u16 {
    u16::from_be_bytes([byte(d), byte(d)])
}

fuzz_target!(|data: &[u8]| {
    let mut d = data;
    let mut guard = world().lock().unwrap_or_else(|e| e.into_inner());
    let w = &mut *guard;
    for _ in 0..8 {
        if d.is_empty() {
            break;
        }
        let op = byte(&mut d);
        w.clock += u64::from(op >> 5) * 7_000;
        let now = Instant::from_millis(w.clock);
        if op & 0x1f == 0x1f && !w.health.is_empty() {
            let (arn, ip, port) = w.health[usize::from(byte(&mut d)) % w.health.len()].clone();
            w.router.set_target_health(&arn, ip, port, byte(&mut d) & 1 == 1);
            continue;
        }
        let (port, mac, src) = w.senders[usize::from(op) % w.senders.len()];
        let dst = w.targets[usize::from(byte(&mut d)) % w.targets.len()];
        let kind = byte(&mut d);
        let (sport, dport) = (word(&mut d), if kind & 0x10 != 0 { 80 } else { word(&mut d) });
        let len = usize::from(word(&mut d)) % 9_200;
        let payload = vec![0x5a; len];
        let a = Addrs::new(mac, w.router.snapshot().router_mac, src, dst);
        let f = Flags {
            syn: kind & 1 != 0,
            ack: kind & 2 != 0,
            fin: kind & 4 != 0,
            rst: kind & 8 != 0,
        };
        let frame = match kind >> 5 {
            0..=4 => testkit::tcp(&a, sport, dport, f, &payload),
            5 | 6 => testkit::udp(&a, sport, dport, &payload),
            _ => testkit::ping(&a, sport, dport),
        };
        let vnet = if kind & 0x20 != 0 && kind >> 5 <= 4 {
            VnetHdr {
                flags: flags::NEEDS_CSUM,
                gso_type: gso_type::TCPV4,
                hdr_len: 54,
                gso_size: word(&mut d) % 9_000 + 1,
                csum_start: 34,
                csum_offset: 16,
                num_buffers: 0,
            }
        } else {
            VnetHdr::PLAIN
        };
        let mut buf = testkit::with_vnet(HdrSize::Legacy, &vnet, &frame);
        // Sometimes corrupt a byte of it.
        if op & 0x08 != 0 && !buf.is_empty() {
            let at = usize::from(word(&mut d)) % buf.len();
            buf[at] ^= byte(&mut d);
        }
        w.router.process(now, port, &mut buf, &mut Bounded);
        assert!(w.router.nlb_flows() <= NLB_CAPACITY);
        w.router.expire(now, 64);
    }
});
