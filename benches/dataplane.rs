//! Benchmarks of the dataplane primitives: checksums (full vs incremental),
//! LPM lookup at 10 / 1k / 10k routes (lookup should stay flat), conntrack
//! hit and insert at 1M flows, GSO segmentation of a 64 KiB frame, and the
//! whole router: frames/s for a 64-byte cross-subnet forward through security
//! groups, network ACLs and the route table with a conntrack hit, for a new
//! flow each frame, and for a 64 KiB GSO frame forwarded whole. The hit and
//! the GSO frame are measured twice, side by side: on the bare router lab and
//! on a loaded one (`…_10k_routes_100k_flows`: 10,000 more routes in the
//! sender's route table, loaded from a template, and 100,000 other flows
//! tracked, opened through the router; see `loaded_router`). Frames/s is one
//! over the time per frame (the GSO pair reports bytes/s as its throughput).
//!
//! Run: `cargo bench --bench dataplane -- --warm-up-time 1 --measurement-time 3`
//! (only the router pairs: add `'router/forward_64(B_cross|KiB)'`)

// `criterion_group!` and `criterion_main!` generate public functions without docs; a bench
// target is no library, so the crate's `missing_docs` lint has nothing to say here.
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;

use core::net::Ipv4Addr;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use etherparse::PacketBuilder;
use ipnet::Ipv4Net;
use vpclab::dataplane::checksum::{self, AddrField, L4Csum};
use vpclab::dataplane::conntrack::{Conntrack, FlowKey, Timeouts};
use vpclab::dataplane::gso;
use vpclab::dataplane::lpm::Lpm;
use vpclab::dataplane::router::{Config, Router};
use vpclab::dataplane::testkit::{self, Addrs, Count, Flags};
use vpclab::dataplane::time::Instant;
use vpclab::dataplane::topology::{PortId, PortKind, Snapshot};
use vpclab::dataplane::verdict::Verdict;
use vpclab::dataplane::vnet::{flags, gso_type, HdrSize, VnetHdr};
use vpclab::model::Lab;

/// xorshift64*: deterministic inputs without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn tcp4_packet(payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 1, 10], [10, 0, 2, 20], 64)
        .tcp(40000, 5201, 1, 502)
        .ack(1)
        .write(&mut out, &vec![0xa5; payload])
        .expect("build packet");
    out
}

fn bench_checksum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    let pkt = tcp4_packet(1448);
    let mut hdr = [0u8; 20];
    hdr.copy_from_slice(&pkt[14..34]);
    g.bench_function("ipv4_header_full_recompute", |b| {
        b.iter(|| {
            let mut h = hdr;
            h[8] -= 1;
            checksum::fill_ipv4_header_checksum(black_box(&mut h)).ok()
        })
    });
    g.bench_function("ipv4_ttl_decrement_incremental", |b| {
        b.iter(|| {
            let mut h = hdr;
            checksum::ipv4_decrement_ttl(black_box(&mut h)).ok()
        })
    });
    let mut ip = pkt[14..].to_vec();
    g.bench_function("ipv4_snat_incremental_ip_and_tcp", |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            let a = if flip {
                Ipv4Addr::new(3, 80, 1, 2)
            } else {
                Ipv4Addr::new(10, 0, 1, 10)
            };
            checksum::ipv4_rewrite_addr(black_box(&mut ip), AddrField::Src, a, L4Csum::Full).ok()
        })
    });
    g.bench_function("tcp_full_recompute_1500", |b| {
        let pseudo = checksum::pseudo_v4(
            Ipv4Addr::new(10, 0, 1, 10),
            Ipv4Addr::new(10, 0, 2, 20),
            6,
            (ip.len() - 20) as u16,
        );
        let mut l4 = ip[20..].to_vec();
        b.iter(|| checksum::fill_l4_checksum(black_box(&mut l4), 6, pseudo).ok())
    });
    for size in [1500usize, 65536] {
        let data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("ones_sum", size), &data, |b, d| {
            b.iter(|| checksum::ones_sum(black_box(d)))
        });
    }
    g.finish();
}

fn bench_lpm(c: &mut Criterion) {
    let mut g = c.benchmark_group("lpm_lookup");
    for routes in [10usize, 1_000, 10_000] {
        let mut rng = Rng(0x1234_5678 + routes as u64);
        let mut t: Lpm<u32> = Lpm::new();
        t.insert(Ipv4Addr::UNSPECIFIED, 0, 0)
            .expect("default route");
        let mut prefixes = Vec::new();
        while t.len() < routes {
            let len = 8 + (rng.next() % 25) as u8; // /8 … /32, every length present
            let a = Ipv4Addr::from(rng.next() as u32);
            t.insert(a, len, t.len() as u32).expect("insert");
            prefixes.push(a);
        }
        // Half the probes fall inside known prefixes, half are random.
        let probes: Vec<Ipv4Addr> = (0..4096)
            .map(|i| match i % 2 {
                0 => prefixes[(rng.next() as usize) % prefixes.len()],
                _ => Ipv4Addr::from(rng.next() as u32),
            })
            .collect();
        let lengths = t.distinct_lengths();
        g.bench_function(
            BenchmarkId::new(format!("{lengths}_lengths"), routes),
            |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 4095;
                    t.lookup(black_box(probes[i])).map(|m| *m.value)
                })
            },
        );
    }
    g.finish();
}

fn bench_conntrack(c: &mut Criterion) {
    const N: usize = 1 << 20;
    let mut ct: Conntrack<[u8; 16]> = Conntrack::new(N, Timeouts::default(), 42);
    let key = |i: u32| {
        FlowKey::new(
            6,
            Ipv4Addr::from(0x0a00_0000 | (i >> 8)),
            1024 + (i & 0xff) as u16,
            Ipv4Addr::new(10, 1, 0, 1),
            443,
        )
    };
    let now = Instant::from_secs(1);
    for i in 0..(N - 1) as u32 {
        ct.insert(now, &key(i), 0x02, [0; 16]).expect("fill");
    }
    println!(
        "conntrack: {} entries of {} B slots; table ≈ {:.1} MiB ({} B per entry incl. index)",
        ct.len(),
        Conntrack::<[u8; 16]>::slot_size(),
        ct.memory_bytes() as f64 / (1 << 20) as f64,
        ct.memory_bytes() / ct.capacity()
    );
    let mut g = c.benchmark_group("conntrack_1M");
    let mut rng = Rng(7);
    let hits: Vec<FlowKey> = (0..4096)
        .map(|_| {
            let k = key((rng.next() % (N as u64 - 1)) as u32);
            if rng.next() & 1 == 0 {
                k
            } else {
                k.reversed()
            }
        })
        .collect();
    g.bench_function("lookup_hit_hot_4k_flows", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            ct.lookup(now, black_box(&hits[i]), 0x10)
                .map(|h| h.value[0])
        })
    });
    g.bench_function("lookup_hit_cold_any_of_1M", |b| {
        let mut rng = Rng(99);
        b.iter(|| {
            let k = key((rng.next() % (N as u64 - 1)) as u32);
            ct.lookup(now, black_box(&k), 0x10).map(|h| h.value[0])
        })
    });
    g.bench_function("key_generation_only", |b| {
        let mut rng = Rng(99);
        b.iter(|| black_box(key((rng.next() % (N as u64 - 1)) as u32)))
    });
    g.bench_function("lookup_miss", |b| {
        let miss = FlowKey::new(
            17,
            Ipv4Addr::new(192, 0, 2, 1),
            1,
            Ipv4Addr::new(192, 0, 2, 2),
            2,
        );
        b.iter(|| ct.lookup(now, black_box(&miss), 0).is_some())
    });
    g.bench_function("insert_then_remove_at_full", |b| {
        let mut j = 0u32;
        b.iter(|| {
            j = j.wrapping_add(1);
            let k = FlowKey::new(
                17,
                Ipv4Addr::from(0xc000_0000 | j),
                9,
                Ipv4Addr::new(10, 1, 0, 1),
                53,
            );
            let ok = ct.insert(now, black_box(&k), 0, [1; 16]).is_ok();
            ct.remove(&k);
            ok
        })
    });
    g.finish();
}

fn bench_gso(c: &mut Criterion) {
    let mut g = c.benchmark_group("gso");
    let payload = 65_535 - 20 - 20;
    let frame = tcp4_packet(payload);
    let hdr = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type: gso_type::TCPV4,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
        num_buffers: 0,
    };
    let mut scratch = vec![0u8; frame.len()];
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("tso4_64k_mss1448", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            let n = gso::segment(black_box(&frame), &hdr, &mut scratch, |s| bytes += s.len()).ok();
            (n, bytes)
        })
    });
    g.bench_function("tso4_64k_to_mtu_1500", |b| {
        let mut h = hdr;
        h.gso_size = 8948;
        b.iter(|| {
            gso::segment_to_mtu(black_box(&frame), &h, 1500, &mut scratch, |s| {
                black_box(s);
            })
            .ok()
        })
    });
    g.finish();
}

/// An instance's port, MAC and address in the router lab.
struct Host {
    port: PortId,
    mac: [u8; 6],
    ip: Ipv4Addr,
}

fn host(lab: &Lab, snap: &Snapshot, logical_id: &str) -> Host {
    let i = lab
        .instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some(logical_id))
        .expect("instance");
    Host {
        port: snap.port_of(&PortKind::Eni(i.eni.clone())).expect("port"),
        mac: lab.eni(&i.eni).expect("eni").mac.0,
        ip: i.private_ip,
    }
}

/// The router lab's template (`tests/fixtures/router-lab.yaml`).
const ROUTER_LAB: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/router-lab.yaml"
));

fn router_lab(capacity: usize) -> (Lab, Router, Host, Host) {
    router_lab_from(ROUTER_LAB, capacity)
}

fn router_lab_from(template: &str, capacity: usize) -> (Lab, Router, Host, Host) {
    let lab = vpclab::template::load(template, &Default::default()).expect("lab");
    let snap = Snapshot::build(&lab, None).expect("snapshot");
    let client = host(&lab, &snap, "ClientA");
    let server = host(&lab, &snap, "ServerB");
    let config = Config {
        conntrack_capacity: capacity,
        ..Config::default()
    };
    let router = Router::new(std::sync::Arc::new(snap), config);
    (lab, router, client, server)
}

/// Extra routes for the loaded router: 10,000 distinct CIDRs. First the eight
/// that cover the VPC (10.0.0.0/8 … 10.0.0.0/15, less specific than its local
/// 10.1.0.0/16, as a corporate summary route would be), then random prefixes
/// of every length /8 … /32 (the LPM bench's mix) that do not overlap the VPC:
/// AWS accepts a route more specific than `local` only to an interface target.
const EXTRA_ROUTES: usize = 10_000;

fn extra_routes() -> Vec<Ipv4Net> {
    let vpc: Ipv4Net = "10.1.0.0/16".parse().expect("cidr");
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Ipv4Net> = (8..16)
        .map(|len| Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), len).expect("cidr"))
        .collect();
    seen.extend(out.iter().copied());
    let mut rng = Rng(0x726f_7574_6573);
    while out.len() < EXTRA_ROUTES {
        let len = 8 + (rng.next() % 25) as u8;
        let net = Ipv4Net::new(Ipv4Addr::from(rng.next() as u32), len)
            .expect("cidr")
            .trunc();
        if !net.contains(&vpc) && !vpc.contains(&net) && seen.insert(net) {
            out.push(net);
        }
    }
    out
}

/// The router lab's template with [`EXTRA_ROUTES`] more `AWS::EC2::Route`s in
/// RtA (ClientA's subnet's route table), each to the internet gateway, as a
/// CloudFormation template declares them. AWS allows at most 1,000 routes in
/// a route table, even on request (its default quota is lower, and a
/// prefix-list route counts as its list's maximum entries); vpclab does not
/// enforce the quota, so this is ten times what AWS allows in one table: a
/// stress figure, not a lab AWS would run.
fn router_lab_10k_routes_template() -> String {
    let mut t = String::from(ROUTER_LAB);
    for (i, net) in extra_routes().iter().enumerate() {
        writeln!(
            t,
            "  ExtraRoute{i}:\n    Type: AWS::EC2::Route\n    DependsOn: IgwAttachment\n    \
             Properties:\n      RouteTableId: !Ref RtA\n      DestinationCidrBlock: {net}\n      \
             GatewayId: !Ref Igw"
        )
        .expect("write to a String");
    }
    t
}

/// Tracked flows in the loaded router besides the measured one.
const LOADED_FLOWS: usize = 100_000;

/// The loaded router: the router lab with [`EXTRA_ROUTES`] more routes in
/// ClientA's route table (see [`router_lab_10k_routes_template`]), then
/// [`LOADED_FLOWS`] distinct TCP flows opened through it at `now`: the SYN of
/// each, 50,000 from ClientA and 50,000 from NoPublicA (source ports 10,000 …
/// 59,999, ClientA's 40,000 moved to 60,000: the measured flow's) to ServerB
/// port 22, every one judged by the groups, the ACLs and the route table and
/// inserted into connection tracking (capacity 2^18 flows: 38 % used).
fn loaded_router(now: Instant) -> (Router, Host, Host) {
    let (lab, mut router, client, server) =
        router_lab_from(&router_lab_10k_routes_template(), 1 << 18);
    let snap = router.snapshot().clone();
    let rt_a = lab
        .route_tables
        .iter()
        .find(|t| t.origin.logical_id.as_deref() == Some("RtA"))
        .expect("RtA");
    let routes = snap
        .route_tables
        .iter()
        .find(|t| t.id == rt_a.id)
        .expect("compiled RtA")
        .table
        .len();
    assert_eq!(
        routes,
        EXTRA_ROUTES + 2,
        "the extra routes, local and default"
    );
    let other = host(&lab, &snap, "NoPublicA");
    let mut sink = Count::default();
    for (h, n) in [(&client, LOADED_FLOWS / 2), (&other, LOADED_FLOWS / 2)] {
        let a = Addrs::new(h.mac, snap.router_mac, h.ip, server.ip);
        for i in 0..n {
            let sport = match 10_000 + i as u16 {
                40_000 if h.port == client.port => 60_000,
                p => p,
            };
            let mut syn = testkit::with_vnet(
                HdrSize::Legacy,
                &VnetHdr::PLAIN,
                &testkit::tcp(&a, sport, 22, Flags::SYN, &[0; 10]),
            );
            let v = router.process(now, h.port, &mut syn, &mut sink);
            assert_eq!(v, Verdict::Forwarded(server.port));
        }
    }
    assert_eq!(router.tracked_flows(), LOADED_FLOWS);
    println!(
        "loaded router: {routes} routes in ClientA's route table, {} tracked flows",
        router.tracked_flows()
    );
    (router, client, server)
}

/// The frames of the router group, built for `client` → `server` through a
/// router whose MAC is `mac`.
struct Frames {
    syn: Vec<u8>,
    ack64: Vec<u8>,
    gso64k: Vec<u8>,
}

fn frames(client: &Host, server: &Host, mac: [u8; 6]) -> Frames {
    let a = Addrs::new(client.mac, mac, client.ip, server.ip);
    // 64-byte frames (14 + 20 + 20 + 10) on a flow both groups track.
    let syn = testkit::with_vnet(
        HdrSize::Legacy,
        &VnetHdr::PLAIN,
        &testkit::tcp(&a, 40000, 22, Flags::SYN, &[0; 10]),
    );
    let ack64 = testkit::with_vnet(
        HdrSize::Legacy,
        &VnetHdr::PLAIN,
        &testkit::tcp(&a, 40000, 22, Flags::ACK, &[0; 10]),
    );
    assert_eq!(ack64.len() - 10, 64);
    // A 64 KiB TSO super-frame, judged once and forwarded whole.
    let payload = 65_535 - 20 - 20;
    let mut big = testkit::tcp(&a, 40000, 22, Flags::ACK, &vec![0xa5; payload]);
    let vnet = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type: gso_type::TCPV4,
        hdr_len: 54,
        gso_size: 8948,
        csum_start: 34,
        csum_offset: 16,
        num_buffers: 0,
    };
    let pseudo = checksum::pseudo_v4(client.ip, server.ip, 6, (payload + 20) as u16);
    big[50..52].copy_from_slice(&pseudo.to_be_bytes());
    let gso64k = testkit::with_vnet(HdrSize::Legacy, &vnet, &big);
    Frames { syn, ack64, gso64k }
}

fn bench_router(c: &mut Criterion) {
    let (_lab, mut router, client, server) = router_lab(1 << 18);
    let mac = router.snapshot().router_mac;
    let mut sink = Count::default();
    let now = Instant::from_secs(10);
    let Frames {
        syn,
        ack64: mut frame,
        gso64k: mut big,
    } = frames(&client, &server, mac);
    let v = router.process(now, client.port, &mut syn.clone(), &mut sink);
    assert_eq!(v, Verdict::Forwarded(server.port));

    // The same flow through the loaded router.
    let (mut loaded, l_client, l_server) = loaded_router(now);
    let l_mac = loaded.snapshot().router_mac;
    let Frames {
        syn: l_syn,
        ack64: mut l_frame,
        gso64k: mut l_big,
    } = frames(&l_client, &l_server, l_mac);
    let v = loaded.process(now, l_client.port, &mut l_syn.clone(), &mut sink);
    assert_eq!(v, Verdict::Forwarded(l_server.port));
    assert_eq!(loaded.tracked_flows(), LOADED_FLOWS + 1);

    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(1));
    // The baseline, side by side: what a bare forwarder does per frame (read
    // the vnet header, parse Ethernet and IPv4, rewrite the MACs).
    let server_mac = server.mac;
    g.bench_function("baseline_64B_parse_and_mac_rewrite", |b| {
        b.iter(|| {
            let f = black_box(&mut frame);
            let hdr = VnetHdr::parse(f, HdrSize::Legacy).ok();
            let ok = etherparse::Ipv4HeaderSlice::from_slice(&f[24..]).is_ok();
            f[10..16].copy_from_slice(&server_mac);
            f[16..22].copy_from_slice(&mac);
            (hdr, ok)
        })
    });
    g.bench_function("forward_64B_cross_subnet_conntrack_hit", |b| {
        b.iter(|| router.process(now, client.port, black_box(&mut frame), &mut sink))
    });
    g.bench_function(
        "forward_64B_cross_subnet_conntrack_hit_10k_routes_100k_flows",
        |b| b.iter(|| loaded.process(now, l_client.port, black_box(&mut l_frame), &mut sink)),
    );

    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("forward_64KiB_gso_frame_whole", |b| {
        b.iter(|| router.process(now, client.port, black_box(&mut big), &mut sink))
    });
    g.bench_function("forward_64KiB_gso_frame_whole_10k_routes_100k_flows", |b| {
        b.iter(|| loaded.process(now, l_client.port, black_box(&mut l_big), &mut sink))
    });

    // A new UDP flow every frame: 65 536 source ports cycled 1 ms apart, so a
    // port comes back after its 30 s entry has expired (miss, reclaim, insert).
    // A router of its own: its flows (up to 65 536, live and expired) would
    // otherwise sit in the table the benchmarks above measure, but only when
    // this one runs first (not under a filter that skips it).
    let (_l, mut churn, _, _) = router_lab(1 << 18);
    let a = Addrs::new(client.mac, mac, client.ip, server.ip);
    g.throughput(Throughput::Elements(1));
    let udp: Vec<Vec<u8>> = (0..=u16::MAX)
        .map(|p| {
            testkit::with_vnet(
                HdrSize::Legacy,
                &VnetHdr::PLAIN,
                &testkit::udp(&a, p, 53, &[0; 18]),
            )
        })
        .collect();
    let mut buf = udp[0].clone();
    for (i, f) in udp.iter().enumerate().take(16) {
        let mut b = f.clone();
        let v = churn.process(
            Instant::from_millis(i as u64),
            client.port,
            &mut b,
            &mut sink,
        );
        assert_eq!(v, Verdict::Forwarded(server.port), "UDP 53 is allowed");
    }
    g.bench_function("forward_64B_new_flow_each_frame", |b| {
        let mut i = 0usize;
        let mut t = 100_000u64;
        b.iter(|| {
            i = (i + 1) & 0xffff;
            t += 1;
            buf.copy_from_slice(&udp[i]);
            churn.process(
                Instant::from_millis(t),
                client.port,
                black_box(&mut buf),
                &mut sink,
            )
        })
    });
    g.finish();

    let (_l, big_router, _, _) = router_lab(1 << 20);
    println!(
        "router conntrack at 1,048,576 flows: {:.1} MiB allocated up front",
        big_router.conntrack_bytes() as f64 / (1 << 20) as f64
    );
}

criterion_group!(
    benches,
    bench_checksum,
    bench_lpm,
    bench_conntrack,
    bench_gso,
    bench_router
);
criterion_main!(benches);
