//! Scenario tests: real packets in through `receive`, replies out of `poll`, a fake clock.
//! TCP clients are smoltcp stacks playing the instance.
//!
//! Size: one scenario per behaviour of the services' contract; a catalogue, not logic.

use std::net::Ipv4Addr;
use std::time::Duration;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use proptest::prelude::*;
use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use super::dns::tests::{default_lab, query};
use super::imds::{HttpTokens, MetadataOptions};
use super::stack::MemDevice;
use super::*;
use crate::model::{EndpointKind, Instance};

const T0: Instant = Instant::from_secs(1_000);

/// The default lab without listeners: no health checks run in the background.
fn quiet_lab() -> Lab {
    let mut lab = default_lab();
    lab.listeners.clear();
    lab
}

fn services(lab: &Lab) -> Services {
    Services::new(lab, Config::default()).unwrap()
}

fn first_instance(lab: &Lab, public: bool) -> Instance {
    lab.instances
        .iter()
        .find(|i| i.public_ip.is_some() == public)
        .unwrap()
        .clone()
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn tcp_syn(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
        .tcp(sport, dport, 1, 64240)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

/// Feeds `packets` on `port`, polls once, returns what came back (all on `port`).
fn exchange(
    s: &mut Services,
    now: Instant,
    port: &ServicePort,
    packets: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    for p in packets {
        s.receive(now, port, p);
    }
    let mut out = Vec::new();
    s.poll(now, |pt, p| {
        if matches!(pt, ServicePort::LoadBalancer { .. }) {
            return; // the default lab's health checks, beside the point here
        }
        assert_eq!(pt, port, "replies leave on the port their flow came in on");
        out.push(p.to_vec());
    });
    out
}

/// Parses an emitted packet: (src, dst, ttl, transport payload info).
struct Parsed {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    sport: u16,
    dport: u16,
    payload: Vec<u8>,
    icmp_echo_reply: Option<(u16, u16)>,
}

fn parse(p: &[u8]) -> Parsed {
    let s = SlicedPacket::from_ip(p).expect("emitted packets parse");
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        panic!("not IPv4")
    };
    let h = ip.header();
    assert_eq!(
        h.header_checksum(),
        h.to_header().calc_header_checksum(),
        "IP checksum"
    );
    let (src, dst, ttl) = (h.source_addr(), h.destination_addr(), h.ttl());
    let mut out = Parsed {
        src,
        dst,
        ttl,
        sport: 0,
        dport: 0,
        payload: Vec::new(),
        icmp_echo_reply: None,
    };
    match &s.transport {
        Some(TransportSlice::Udp(u)) => {
            let want = u
                .to_header()
                .calc_checksum_ipv4_raw(src.octets(), dst.octets(), u.payload())
                .unwrap();
            assert_eq!(u.checksum(), want, "UDP checksum");
            out.sport = u.source_port();
            out.dport = u.destination_port();
            out.payload = u.payload().to_vec();
        }
        Some(TransportSlice::Icmpv4(i)) => {
            if let etherparse::Icmpv4Type::EchoReply(e) = i.icmp_type() {
                out.icmp_echo_reply = Some((e.id, e.seq));
            }
            out.payload = i.payload().to_vec();
        }
        Some(TransportSlice::Tcp(t)) => {
            out.sport = t.source_port();
            out.dport = t.destination_port();
            out.payload = t.payload().to_vec();
        }
        _ => {}
    }
    out
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- DNS over UDP

#[test]
fn dns_over_udp_answers_from_the_address_asked() {
    let lab = quiet_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let vpc_dns = dns::vpc_resolver_address(lab.vpc(&inst.vpc).unwrap());
    assert_eq!(vpc_dns, Ipv4Addr::new(10, 0, 0, 2));
    for server in [vpc_dns, catalog::AMAZON_DNS_LINK_LOCAL] {
        let q = query(0xbeef, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
        let out = exchange(
            &mut s,
            T0,
            &port,
            &[udp(inst.private_ip, server, 40000, 53, &q)],
        );
        assert_eq!(out.len(), 1);
        let r = parse(&out[0]);
        assert_eq!(
            (r.src, r.dst, r.sport, r.dport),
            (server, inst.private_ip, 53, 40000)
        );
        let m = Message::from_vec(&r.payload).unwrap();
        assert_eq!(m.id(), 0xbeef);
        assert_eq!(
            a_records(&m),
            vec![
                Ipv4Addr::new(52, 219, 60, 10),
                Ipv4Addr::new(52, 219, 56, 74)
            ]
        );
    }
    let c = s.counters();
    assert_eq!((c.received, c.admitted, c.emitted), (2, 2, 2));
    assert_eq!(c.dns.noerror, 2);
}

#[test]
fn dns_answers_each_vpc_from_its_own_view() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, true);
    let other = lab
        .instances
        .iter()
        .find(|i| i.vpc != inst.vpc)
        .unwrap()
        .clone();
    let ask = |s: &mut Services, from: &Instance| {
        let port = ServicePort::AmazonProvided {
            vpc: from.vpc.clone(),
        };
        let q = query(1, &inst.public_dns_name, RecordType::A);
        let out = exchange(
            s,
            T0,
            &port,
            &[udp(
                from.private_ip,
                catalog::AMAZON_DNS_LINK_LOCAL,
                5353,
                53,
                &q,
            )],
        );
        a_records(&Message::from_vec(&parse(&out[0]).payload).unwrap())
    };
    assert_eq!(ask(&mut s, &inst), vec![inst.private_ip]);
    assert_eq!(ask(&mut s, &other), vec![inst.public_ip.unwrap()]);
}

#[test]
fn malformed_dns_gets_formerr_and_garbage_is_dropped() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let dst = Ipv4Addr::new(10, 0, 0, 2);
    let mut q = query(77, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    q.truncate(14);
    let out = exchange(
        &mut s,
        T0,
        &port,
        &[udp(inst.private_ip, dst, 1000, 53, &q)],
    );
    let m = Message::from_vec(&parse(&out[0]).payload).unwrap();
    assert_eq!((m.id(), m.response_code()), (77, ResponseCode::FormErr));
    let out = exchange(
        &mut s,
        T0,
        &port,
        &[udp(inst.private_ip, dst, 1000, 53, &[1, 2])],
    );
    assert!(out.is_empty());
    let c = s.counters();
    assert_eq!((c.dns.formerr, c.dns.dropped), (1, 1));
}

#[test]
fn dns_support_off_drops_at_the_door() {
    let mut lab = default_lab();
    lab.vpcs[0].enable_dns_support = false;
    let mut s = services(&lab);
    let inst = lab
        .instances
        .iter()
        .find(|i| i.vpc == lab.vpcs[0].id)
        .unwrap()
        .clone();
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let q = query(1, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    let out = exchange(
        &mut s,
        T0,
        &port,
        &[udp(
            inst.private_ip,
            Ipv4Addr::new(10, 0, 0, 2),
            1000,
            53,
            &q,
        )],
    );
    assert!(out.is_empty());
    assert_eq!(s.counters().dns_disabled, 1);
}

#[test]
fn dns_is_throttled_per_source_per_second() {
    let lab = default_lab();
    let mut s = Services::new(
        &lab,
        Config {
            dns_packets_per_second: 10,
            ..Config::default()
        },
    )
    .unwrap();
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let q = query(1, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    let pkt = udp(
        inst.private_ip,
        catalog::AMAZON_DNS_LINK_LOCAL,
        1000,
        53,
        &q,
    );
    let burst: Vec<Vec<u8>> = (0..15).map(|_| pkt.clone()).collect();
    let out = exchange(&mut s, T0, &port, &burst);
    assert_eq!(out.len(), 10);
    assert_eq!(s.counters().dns_throttled, 5);
    let out = exchange(&mut s, T0 + Duration::from_secs(1), &port, &[pkt]);
    assert_eq!(out.len(), 1);
}

// ---------------------------------------------------------------- admission

#[test]
fn packets_that_are_not_served_are_dropped_and_counted() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    let vpc = inst.vpc.clone();
    let port = ServicePort::AmazonProvided { vpc: vpc.clone() };
    let me = inst.private_ip;
    let dns_ip = Ipv4Addr::new(10, 0, 0, 2);
    let q = query(1, "x.example", RecordType::A);

    let mut bad_ip_sum = udp(me, dns_ip, 1, 53, &q);
    bad_ip_sum[10] ^= 0xff;
    let mut bad_udp_sum = udp(me, dns_ip, 1, 53, &q);
    let last = bad_udp_sum.len() - 1;
    bad_udp_sum[last] ^= 0xff;
    let mut fragment = udp(me, dns_ip, 1, 53, &q);
    fragment[6] |= 0x20; // more fragments
    fragment[10] = 0;
    fragment[11] = 0;
    let sum = etherparse::Ipv4HeaderSlice::from_slice(&fragment)
        .unwrap()
        .to_header()
        .calc_header_checksum();
    fragment[10..12].copy_from_slice(&sum.to_be_bytes());
    type Counter = fn(&Counters) -> u64;
    let cases: Vec<(Vec<u8>, Counter)> = vec![
        (vec![], |c| c.malformed),
        (vec![0x45; 10], |c| c.malformed),
        (bad_ip_sum, |c| c.malformed),
        (bad_udp_sum, |c| c.malformed),
        (fragment, |c| c.fragment),
        (vec![0; MTU + 1], |c| c.oversize),
        (tcp_syn(me, dns_ip, 1, 22), |c| c.not_served),
        (udp(me, catalog::IMDS_ADDRESS, 1, 53, &q), |c| c.not_served),
        (udp(me, Ipv4Addr::new(10, 0, 0, 3), 1, 53, &q), |c| {
            c.not_served
        }),
        (echo(me, dns_ip, 1, 1, b"hi"), |c| c.not_served),
        (
            tcp_syn(Ipv4Addr::new(10, 0, 250, 250), catalog::IMDS_ADDRESS, 1, 80),
            |c| c.imds_unknown_source,
        ),
    ];
    for (i, (pkt, counter)) in cases.iter().enumerate() {
        let before = counter(&s.counters());
        assert!(
            exchange(&mut s, T0, &port, std::slice::from_ref(pkt)).is_empty(),
            "case {i}"
        );
        assert_eq!(counter(&s.counters()), before + 1, "case {i}");
    }
    let unknown = ServicePort::AmazonProvided {
        vpc: VpcId::generate("nope"),
    };
    assert!(exchange(&mut s, T0, &unknown, &[udp(me, dns_ip, 1, 53, &q)]).is_empty());
    let no_vpce = ServicePort::GatewayEndpoint {
        vpce: VpceId::generate("nope"),
    };
    let s3 = Ipv4Addr::new(52, 219, 60, 10);
    assert!(exchange(&mut s, T0, &no_vpce, &[echo(me, s3, 1, 1, b"x")]).is_empty());
    let c = s.counters();
    assert_eq!(c.unknown_port, 2);
    assert_eq!(c.dropped(), cases.len() as u64 + 2);
    assert_eq!(c.admitted, 0);
    assert!(s.active_ports().is_empty(), "no stack for dropped traffic");
}

// ---------------------------------------------------------------- ICMP

#[test]
fn the_region_answers_pings_to_its_service_addresses() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, true);
    let public = inst.public_ip.unwrap();
    let seoul_s3 = Ipv4Addr::new(52, 219, 60, 10);
    let virginia_s3 = Ipv4Addr::new(52, 216, 8, 110);
    let ddb = Ipv4Addr::new(52, 94, 6, 50);
    let cfn = Ipv4Addr::new(52, 95, 193, 132);
    for (src, dst) in [
        (public, seoul_s3),
        (catalog::INTERNET_HOST, seoul_s3),
        (public, virginia_s3),
        (public, ddb),
        (public, cfn),
        (public, Ipv4Addr::new(52, 219, 61, 200)), // anywhere in the prefix list
    ] {
        let out = exchange(
            &mut s,
            T0,
            &ServicePort::Region,
            &[echo(src, dst, 0x42, 7, b"ping!")],
        );
        assert_eq!(out.len(), 1, "{src} -> {dst}");
        let r = parse(&out[0]);
        assert_eq!((r.src, r.dst), (dst, src));
        assert_eq!(r.icmp_echo_reply, Some((0x42, 7)));
        assert_eq!(r.payload, b"ping!");
    }
    // Not a service address, or not an echo request: nothing.
    let out = exchange(
        &mut s,
        T0,
        &ServicePort::Region,
        &[
            echo(public, Ipv4Addr::new(8, 8, 8, 8), 1, 1, b""),
            udp(public, seoul_s3, 1, 53, b"x"),
            tcp_syn(public, seoul_s3, 1000, 80),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(s.counters().not_served, 3);
}

#[test]
fn pings_come_back_whole_up_to_the_path_mtu() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, true);
    let s3 = Ipv4Addr::new(52, 219, 60, 10);
    let vpce = lab
        .vpc_endpoints
        .iter()
        .find(|e| matches!(e.kind, EndpointKind::Gateway { .. }))
        .unwrap()
        .id
        .clone();
    // Through the internet gateway 1500 bytes, through a gateway endpoint 8500 (AWS's
    // endpoint MTU; larger packets are dropped there, without PMTUD).
    for (port, src, mtu) in [
        (ServicePort::Region, inst.public_ip.unwrap(), 1500),
        (ServicePort::GatewayEndpoint { vpce }, inst.private_ip, 8500),
    ] {
        let data = vec![0xa5; mtu - 28];
        let out = exchange(&mut s, T0, &port, &[echo(src, s3, 9, 9, &data)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), mtu);
        assert_eq!(parse(&out[0]).payload, data);
        let data = vec![0xa5; MTU - 28];
        let out = exchange(&mut s, T0, &port, &[echo(src, s3, 9, 10, &data)]);
        assert!(out.is_empty(), "over the path MTU");
    }
}

#[test]
fn a_gateway_endpoint_answers_pings_for_its_own_service_only() {
    let lab = default_lab();
    let mut s = services(&lab);
    let vpce = lab
        .vpc_endpoints
        .iter()
        .find(|e| matches!(e.kind, EndpointKind::Gateway { .. }))
        .unwrap()
        .id
        .clone();
    let inst = first_instance(&lab, false);
    let port = ServicePort::GatewayEndpoint { vpce };
    let s3 = Ipv4Addr::new(52, 219, 56, 74);
    let out = exchange(
        &mut s,
        T0,
        &port,
        &[echo(inst.private_ip, s3, 3, 1, b"abc")],
    );
    assert_eq!(out.len(), 1);
    let r = parse(&out[0]);
    assert_eq!(
        (r.src, r.dst, r.icmp_echo_reply),
        (s3, inst.private_ip, Some((3, 1)))
    );
    // DynamoDB, or S3 of another region, is not behind an S3 endpoint in this region.
    for dst in [Ipv4Addr::new(52, 94, 6, 50), Ipv4Addr::new(52, 216, 8, 110)] {
        assert!(exchange(&mut s, T0, &port, &[echo(inst.private_ip, dst, 3, 2, b"")]).is_empty());
    }
    // Deleting the endpoint closes its port.
    let mut changed = lab.clone();
    changed
        .vpc_endpoints
        .retain(|e| !matches!(e.kind, EndpointKind::Gateway { .. }));
    s.update(&changed);
    assert!(exchange(&mut s, T0, &port, &[echo(inst.private_ip, s3, 3, 3, b"")]).is_empty());
    assert_eq!(s.counters().unknown_port, 1);
    assert!(!s.active_ports().contains(&port));
}

// ---------------------------------------------------------------- TCP clients

/// An instance's TCP/IP stack, talking to the services through one port.
struct Client {
    iface: Interface,
    dev: MemDevice,
    sockets: SocketSet<'static>,
    next_port: u16,
}

fn smol(t: Instant) -> SmolInstant {
    SmolInstant::from_millis(t.total_millis() as i64)
}

impl Client {
    fn new(ip: Ipv4Addr) -> Self {
        let mut dev = MemDevice::default();
        let mut iface = Interface::new(SmolConfig::new(HardwareAddress::Ip), &mut dev, smol(T0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(ip), 32)).unwrap();
        });
        iface.routes_mut().add_default_ipv4_route(ip).unwrap();
        Client {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            next_port: 49152,
        }
    }

    fn connect(&mut self, dst: Ipv4Addr, port: u16) -> SocketHandle {
        let mut sock = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 128 * 1024]),
            tcp::SocketBuffer::new(vec![0; 128 * 1024]),
        );
        self.next_port += 1;
        sock.connect(
            self.iface.context(),
            (IpAddress::Ipv4(dst), port),
            self.next_port,
        )
        .unwrap();
        self.sockets.add(sock)
    }

    fn sock(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

/// Runs client and services until both are quiet; returns every packet the services sent.
fn pump(s: &mut Services, port: &ServicePort, c: &mut Client, now: &mut Instant) -> Vec<Vec<u8>> {
    let mut from_services = Vec::new();
    for _ in 0..200 {
        c.iface.poll(smol(*now), &mut c.dev, &mut c.sockets);
        let out: Vec<Vec<u8>> = c.dev.tx.drain(..).collect();
        for p in &out {
            s.receive(*now, port, p);
        }
        let mut back = Vec::new();
        s.poll(*now, |pt, p| {
            if matches!(pt, ServicePort::LoadBalancer { .. }) {
                return; // the default lab's health checks
            }
            assert_eq!(pt, port);
            back.push(p.to_vec());
        });
        let quiet = out.is_empty() && back.is_empty();
        for p in back {
            from_services.push(p.clone());
            c.dev.rx.push_back(p);
        }
        if quiet {
            // Like an event loop: sleep until the next timer (delayed ACKs, window
            // probes), but not into long timeouts.
            let client_at = c
                .iface
                .poll_at(smol(*now), &c.sockets)
                .map(|t| Instant::from_millis(t.total_millis().max(0) as u64));
            let next = [client_at, s.poll_at(*now)].into_iter().flatten().min();
            match next {
                Some(t) if t > *now && t <= *now + Duration::from_millis(500) => *now = t,
                _ => break,
            }
        } else {
            *now = *now + Duration::from_millis(1);
        }
    }
    from_services
}

/// Reads one HTTP response from the socket's data: (status, headers, body).
type Headers = Vec<(String, String)>;

fn read_response(buf: &mut Vec<u8>) -> Option<(u16, Headers, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = r.parse(buf).ok()? else {
        return None;
    };
    let hs: Headers = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into(),
            )
        })
        .collect();
    let len: usize = hs
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let status = r.code?;
    if buf.len() < n + len {
        return None;
    }
    let body = buf[n..n + len].to_vec();
    buf.drain(..n + len);
    Some((status, hs, body))
}

/// Sends `raw` on `h` and returns the response, with the packets the services sent.
fn http(
    s: &mut Services,
    port: &ServicePort,
    c: &mut Client,
    h: SocketHandle,
    now: &mut Instant,
    raw: &str,
) -> ((u16, Headers, String), Vec<Vec<u8>>) {
    http_bytes(s, port, c, h, now, raw.as_bytes())
}

/// [`http`] with any bytes, sent as the socket takes them.
fn http_bytes(
    s: &mut Services,
    port: &ServicePort,
    c: &mut Client,
    h: SocketHandle,
    now: &mut Instant,
    raw: &[u8],
) -> ((u16, Headers, String), Vec<Vec<u8>>) {
    let mut pkts = pump(s, port, c, now);
    assert!(c.sock(h).may_send(), "connected: {}", c.sock(h).state());
    let mut sent = 0;
    let mut buf = Vec::new();
    for _ in 0..2000 {
        if sent < raw.len() {
            sent += c.sock(h).send_slice(&raw[sent..]).unwrap();
        }
        pkts.extend(pump(s, port, c, now));
        while c.sock(h).can_recv() {
            c.sock(h)
                .recv(|b| {
                    buf.extend_from_slice(b);
                    (b.len(), ())
                })
                .unwrap();
        }
        if let Some((st, hs, body)) = read_response(&mut buf) {
            return ((st, hs, String::from_utf8_lossy(&body).into_owned()), pkts);
        }
    }
    panic!("no response; got {:?}", String::from_utf8_lossy(&buf));
}

fn header<'a>(hs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    hs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn imdsv2_over_tcp_with_hop_limit_one_on_the_token_reply() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, true);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut c = Client::new(inst.private_ip);
    let mut now = T0;
    let h = c.connect(catalog::IMDS_ADDRESS, 80);
    let ((status, hs, token), pkts) = http(
        &mut s,
        &port,
        &mut c,
        h,
        &mut now,
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert_eq!(
        header(&hs, "x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    let carrying: Vec<Parsed> = pkts
        .iter()
        .map(|p| parse(p))
        .filter(|p| !p.payload.is_empty())
        .collect();
    assert!(!carrying.is_empty());
    for p in &carrying {
        assert_eq!(p.src, catalog::IMDS_ADDRESS);
        assert_eq!(p.dst, inst.private_ip);
        assert_eq!(
            p.ttl, 1,
            "the token reply must not travel past the instance"
        );
    }
    // Same connection (keep-alive): a GET with the token; its reply has the normal TTL.
    let ((status, _, id), pkts) = http(
        &mut s,
        &port,
        &mut c,
        h,
        &mut now,
        &format!("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n"),
    );
    assert_eq!((status, id), (200, inst.id.to_string()));
    assert!(pkts
        .iter()
        .map(|p| parse(p))
        .filter(|p| !p.payload.is_empty())
        .all(|p| p.ttl == 64));
    assert_eq!(s.connections(&port, App::Imds), 1);
    // The client closes; the server follows; the socket is freed.
    c.sock(h).close();
    pump(&mut s, &port, &mut c, &mut now);
    assert_eq!(s.connections(&port, App::Imds), 0);
    assert_eq!(s.counters().http.requests, 2);
}

#[test]
fn imds_requires_tokens_when_the_instance_says_so() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    s.set_metadata_options(
        &inst.id,
        MetadataOptions {
            http_tokens: HttpTokens::Required,
            put_response_hop_limit: 1,
            endpoint_enabled: true,
        },
    );
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut c = Client::new(inst.private_ip);
    let mut now = T0;
    let h = c.connect(catalog::IMDS_ADDRESS, 80);
    let ((status, hs, _), _) = http(
        &mut s,
        &port,
        &mut c,
        h,
        &mut now,
        "GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 401);
    assert_eq!(header(&hs, "connection"), Some("close"));
    pump(&mut s, &port, &mut c, &mut now);
    assert!(!c.sock(h).may_recv(), "the server closed");
}

#[test]
fn malformed_http_gets_400_and_the_connection_closes() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut c = Client::new(inst.private_ip);
    let mut now = T0;
    let h = c.connect(catalog::IMDS_ADDRESS, 80);
    let ((status, _, _), _) = http(
        &mut s,
        &port,
        &mut c,
        h,
        &mut now,
        "GET\x01 / HTTP/9\r\n\r\n",
    );
    assert_eq!(status, 400);
    pump(&mut s, &port, &mut c, &mut now);
    assert!(!c.sock(h).may_recv());
    assert_eq!(s.counters().http.bad_requests, 1);
}

#[test]
fn many_simultaneous_connections_are_all_accepted() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut c = Client::new(inst.private_ip);
    let mut now = T0;
    // Twenty SYNs reach the services in one batch: more than the idle listeners.
    let hs: Vec<SocketHandle> = (0..20)
        .map(|_| c.connect(catalog::IMDS_ADDRESS, 80))
        .collect();
    pump(&mut s, &port, &mut c, &mut now);
    for h in &hs {
        assert_eq!(c.sock(*h).state(), tcp::State::Established);
    }
    assert_eq!(s.connections(&port, App::Imds), 20);
    for (i, h) in hs.iter().enumerate() {
        let ((status, _, body), _) = http(
            &mut s,
            &port,
            &mut c,
            *h,
            &mut now,
            "GET /latest/meta-data/local-ipv4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(
            (status, body),
            (200, inst.private_ip.to_string()),
            "conn {i}"
        );
    }
    pump(&mut s, &port, &mut c, &mut now);
    // The server closed first; once the clients close too, the sockets are freed
    // (TIME-WAIT is not kept: a poll later they are gone).
    for h in &hs {
        assert_eq!(c.sock(*h).state(), tcp::State::CloseWait);
        c.sock(*h).close();
    }
    pump(&mut s, &port, &mut c, &mut now);
    assert_eq!(s.connections(&port, App::Imds), 0);
}

#[test]
fn dns_over_tcp() {
    let lab = default_lab();
    let mut s = services(&lab);
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut c = Client::new(inst.private_ip);
    let mut now = T0;
    let h = c.connect(Ipv4Addr::new(10, 0, 0, 2), 53);
    pump(&mut s, &port, &mut c, &mut now);
    let q = query(5, "dynamodb.ap-northeast-2.amazonaws.com", RecordType::A);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    c.sock(h).send_slice(&framed).unwrap();
    pump(&mut s, &port, &mut c, &mut now);
    let mut buf = vec![0; 4096];
    let n = c.sock(h).recv_slice(&mut buf).unwrap();
    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
    assert_eq!(n, 2 + len);
    let m = Message::from_vec(&buf[2..n]).unwrap();
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(52, 94, 6, 50)]);
    assert_eq!(s.connections(&port, App::DnsTcp), 1);
}

#[test]
fn idle_connections_are_closed_and_poll_at_says_when() {
    let lab = quiet_lab();
    let mut s = services(&lab);
    assert_eq!(s.poll_at(T0), None, "nothing to do before any packet");
    assert_eq!(s.next_wake(T0), None);
    let inst = first_instance(&lab, false);
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut c = Client::new(inst.private_ip);
    let mut now = T0;
    let _h = c.connect(catalog::IMDS_ADDRESS, 80);
    pump(&mut s, &port, &mut c, &mut now);
    assert_eq!(s.connections(&port, App::Imds), 1);
    let at = s.poll_at(now).expect("a live connection has a deadline");
    assert!(at <= now + IDLE_TIMEOUT);
    assert_eq!(s.next_wake(now), Some(at), "the cached wake-up agrees");
    s.receive(
        now,
        &port,
        &tcp_syn(inst.private_ip, catalog::IMDS_ADDRESS, 999, 80),
    );
    assert_eq!(
        s.next_wake(now),
        Some(now),
        "an admitted packet wants a poll now"
    );
    s.poll(now, |_, _| {});
    let later = now + IDLE_TIMEOUT + Duration::from_secs(1);
    s.poll(later, |_, _| {});
    s.poll(later, |_, _| {});
    assert_eq!(s.connections(&port, App::Imds), 0);
}

// ---------------------------------------------------------------- S3

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s3_services(lab: &Lab, name: &str) -> (Services, TempDir) {
    let dir = std::env::temp_dir().join(format!("vpclab-svc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = Services::new(
        lab,
        Config {
            s3_dir: Some(dir.clone()),
            ..Config::default()
        },
    )
    .unwrap();
    (s, TempDir(dir))
}

#[test]
fn s3_through_the_internet_gateway_and_the_gateway_endpoint() {
    let lab = default_lab();
    let (mut s, _dir) = s3_services(&lab, "paths");
    let public = first_instance(&lab, true);
    let private = lab
        .instances
        .iter()
        .find(|i| i.public_ip.is_none() && i.vpc == public.vpc)
        .unwrap()
        .clone();
    let vpce = lab
        .vpc_endpoints
        .iter()
        .find(|e| matches!(e.kind, EndpointKind::Gateway { .. }))
        .unwrap()
        .id
        .clone();
    let s3_ip = Ipv4Addr::new(52, 219, 60, 10);
    let mut now = T0;

    // The public instance (its public IP after the IGW's NAT) creates a bucket and a key.
    let mut c = Client::new(public.public_ip.unwrap());
    let h = c.connect(s3_ip, 80);
    let ((st, _, _), _) = http(
        &mut s,
        &ServicePort::Region,
        &mut c,
        h,
        &mut now,
        "PUT /lab-bucket HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    );
    assert_eq!(st, 200);
    let ((st, hs, _), _) = http(
        &mut s,
        &ServicePort::Region,
        &mut c,
        h,
        &mut now,
        "PUT /hello.txt HTTP/1.1\r\nHost: lab-bucket.s3.ap-northeast-2.amazonaws.com\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(st, 200);
    assert_eq!(
        header(&hs, "etag"),
        Some("\"5d41402abc4b2a76b9719d911017c592\"")
    );

    // The private instance reads it through the gateway endpoint.
    let port = ServicePort::GatewayEndpoint { vpce };
    let mut c2 = Client::new(private.private_ip);
    let h2 = c2.connect(Ipv4Addr::new(52, 219, 56, 74), 80);
    let ((st, _, body), pkts) = http(
        &mut s,
        &port,
        &mut c2,
        h2,
        &mut now,
        "GET /lab-bucket/hello.txt HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    );
    assert_eq!((st, body.as_str()), (200, "hello"));
    assert!(pkts.iter().all(|p| parse(p).dst == private.private_ip));
    let ((st, _, body), _) = http(
        &mut s,
        &port,
        &mut c2,
        h2,
        &mut now,
        "GET / HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    );
    assert_eq!(st, 200);
    assert!(body.contains("<Name>lab-bucket</Name>"), "{body}");
    let ((st, _, body), _) = http(
        &mut s,
        &port,
        &mut c2,
        h2,
        &mut now,
        "GET /lab-bucket/nope HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    );
    assert_eq!(st, 404);
    assert!(body.contains("<Code>NoSuchKey</Code>"));

    let c = s.counters();
    assert_eq!((c.s3.via_internet, c.s3.via_endpoint), (2, 3));
    // DynamoDB's addresses answer its JSON API on the same port 80, through the IGW.
    let mut c3 = Client::new(public.public_ip.unwrap());
    let h3 = c3.connect(Ipv4Addr::new(52, 94, 6, 50), 80);
    let body = r#"{"TableName":"lab-table","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}"#;
    let ((st, _, answer), _) = http(
        &mut s,
        &ServicePort::Region,
        &mut c3,
        h3,
        &mut now,
        &format!(
            "POST / HTTP/1.1\r\nHost: dynamodb.ap-northeast-2.amazonaws.com\r\nX-Amz-Target: DynamoDB_20120810.CreateTable\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(st, 200, "{answer}");
    assert!(answer.contains("\"TableStatus\":\"ACTIVE\""), "{answer}");
    let c = s.counters();
    assert_eq!((c.dynamodb.requests, c.s3.via_internet), (1, 2));
}

#[test]
fn s3_takes_a_megabyte_with_expect_continue_and_gives_it_back() {
    let lab = default_lab();
    let (mut s, _dir) = s3_services(&lab, "big");
    let inst = first_instance(&lab, true);
    let mut c = Client::new(inst.public_ip.unwrap());
    let mut now = T0;
    let h = c.connect(Ipv4Addr::new(52, 219, 60, 10), 80);
    let port = ServicePort::Region;
    let ((st, _, _), _) = http(
        &mut s,
        &port,
        &mut c,
        h,
        &mut now,
        "PUT /big HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    );
    assert_eq!(st, 200);
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();
    let head = format!(
        "PUT /big/obj HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        data.len()
    );
    let ((st, _, _), _) = http(&mut s, &port, &mut c, h, &mut now, &head);
    assert_eq!(st, 100, "100 Continue before the body");
    let ((st, _, _), _) = http_bytes(&mut s, &port, &mut c, h, &mut now, &data);
    assert_eq!(st, 200);
    // Read the object back as raw bytes.
    c.sock(h)
        .send_slice(b"GET /big/obj HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut got = None;
    for _ in 0..2000 {
        pump(&mut s, &port, &mut c, &mut now);
        while c.sock(h).can_recv() {
            c.sock(h)
                .recv(|b| {
                    buf.extend_from_slice(b);
                    (b.len(), ())
                })
                .unwrap();
        }
        if let Some(r) = read_response(&mut buf) {
            got = Some(r);
            break;
        }
    }
    let (st, _, body) = got.expect("a response");
    assert_eq!(st, 200);
    assert!(body == data, "the object comes back byte for byte");
}

// ---------------------------------------------------------------- interface endpoints

/// The default lab's CloudFormation interface endpoint and its ENI IPs.
fn cloudformation_endpoint(lab: &Lab) -> (VpceId, Vec<Ipv4Addr>) {
    let e = lab
        .vpc_endpoints
        .iter()
        .find(|e| e.service_name.ends_with(".cloudformation"))
        .unwrap();
    let EndpointKind::Interface {
        network_interfaces, ..
    } = &e.kind
    else {
        panic!("an interface endpoint")
    };
    let ips = network_interfaces
        .iter()
        .map(|id| lab.eni(id).unwrap().private_ip)
        .collect();
    (e.id.clone(), ips)
}

#[test]
fn an_interface_endpoint_says_the_request_took_the_private_path() {
    let lab = default_lab();
    let mut s = services(&lab);
    let (vpce, ips) = cloudformation_endpoint(&lab);
    assert_eq!(ips.len(), 2);
    let inst = first_instance(&lab, false);
    let port = ServicePort::InterfaceEndpoint { vpce: vpce.clone() };
    let mut now = T0;

    let out = exchange(
        &mut s,
        now,
        &port,
        &[echo(inst.private_ip, ips[1], 9, 1, b"hi")],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(parse(&out[0]).src, ips[1]);

    let mut c = Client::new(inst.private_ip);
    let h = c.connect(ips[0], 80);
    let req = "GET / HTTP/1.1\r\nHost: cloudformation.ap-northeast-2.amazonaws.com\r\n\r\n";
    let ((st, hs, body), pkts) = http(&mut s, &port, &mut c, h, &mut now, req);
    assert_eq!(st, 200);
    assert_eq!(header(&hs, "content-type"), Some("application/json"));
    assert_eq!(
        body,
        format!(
            "{{\"service\": \"cloudformation\", \"region\": \"ap-northeast-2\", \"endpoint\": \
             \"{vpce}\", \"source\": \"{}\", \"path\": \"interface-endpoint\"}}\n",
            inst.private_ip
        )
    );
    assert!(pkts.iter().all(|p| parse(p).src == ips[0]));
    // Keep-alive: a second request on the same connection, any method and path.
    let ((st, _, _), _) = http(
        &mut s,
        &port,
        &mut c,
        h,
        &mut now,
        "POST /x?y HTTP/1.1\r\n\r\n",
    );
    assert_eq!(st, 200);
    assert_eq!(s.counters().interface.via_endpoint, 2);

    // Other ports and addresses are not served.
    let before = s.counters().not_served;
    exchange(
        &mut s,
        now,
        &port,
        &[tcp_syn(inst.private_ip, ips[0], 5555, 443)],
    );
    exchange(
        &mut s,
        now,
        &port,
        &[tcp_syn(
            inst.private_ip,
            Ipv4Addr::new(10, 0, 0, 7),
            5556,
            80,
        )],
    );
    assert_eq!(s.counters().not_served, before + 2);
    let line = s
        .counters()
        .summary()
        .into_iter()
        .find(|l| l.starts_with("interface"))
        .unwrap();
    assert_eq!(
        line,
        "interface endpoints: 2 requests (2 through an interface endpoint, 0 through the internet gateway)"
    );
}

#[test]
fn the_public_address_of_an_interface_service_answers_through_the_internet_gateway() {
    let lab = default_lab();
    let mut s = services(&lab);
    let public = first_instance(&lab, true).public_ip.unwrap();
    let mut now = T0;
    let mut c = Client::new(public);
    let h = c.connect(Ipv4Addr::new(52, 95, 193, 132), 80);
    let ((st, _, body), _) = http(
        &mut s,
        &ServicePort::Region,
        &mut c,
        h,
        &mut now,
        "GET / HTTP/1.1\r\nHost: cloudformation.ap-northeast-2.amazonaws.com\r\n\r\n",
    );
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["service"], "cloudformation");
    assert_eq!(v["endpoint"], serde_json::Value::Null);
    assert_eq!(v["source"], public.to_string());
    assert_eq!(v["path"], "internet");
    // Another region's service says its own region.
    let h = c.connect(Ipv4Addr::new(52, 94, 224, 130), 80);
    let ((_, _, body), _) = http(
        &mut s,
        &ServicePort::Region,
        &mut c,
        h,
        &mut now,
        "GET / HTTP/1.1\r\n\r\n",
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["service"].as_str(), v["region"].as_str()),
        (Some("sqs"), Some("us-east-1"))
    );
    assert_eq!(s.counters().interface.via_internet, 2);
}

#[test]
fn a_deleted_interface_endpoint_closes_its_port() {
    let lab = default_lab();
    let mut s = services(&lab);
    let (vpce, ips) = cloudformation_endpoint(&lab);
    let inst = first_instance(&lab, false);
    let port = ServicePort::InterfaceEndpoint { vpce: vpce.clone() };
    assert_eq!(
        exchange(
            &mut s,
            T0,
            &port,
            &[echo(inst.private_ip, ips[0], 1, 1, b"")]
        )
        .len(),
        1
    );
    let mut changed = lab.clone();
    changed.vpc_endpoints.retain(|e| e.id != vpce);
    s.update(&changed);
    assert!(exchange(
        &mut s,
        T0,
        &port,
        &[echo(inst.private_ip, ips[0], 1, 2, b"")]
    )
    .is_empty());
    assert_eq!(s.counters().unknown_port, 1);
    assert!(!s.active_ports().contains(&port));
}

// ---------------------------------------------------------------- no panics

fn arb_port() -> impl Strategy<Value = ServicePort> {
    let lab = default_lab();
    let vpcs: Vec<VpcId> = lab.vpcs.iter().map(|v| v.id.clone()).collect();
    let vpces: Vec<VpceId> = lab.vpc_endpoints.iter().map(|e| e.id.clone()).collect();
    prop_oneof![
        proptest::sample::select(vpcs).prop_map(|vpc| ServicePort::AmazonProvided { vpc }),
        Just(ServicePort::Region),
        proptest::sample::select(vpces.clone())
            .prop_map(|vpce| ServicePort::GatewayEndpoint { vpce }),
        proptest::sample::select(vpces).prop_map(|vpce| ServicePort::InterfaceEndpoint { vpce }),
        Just(ServicePort::LoadBalancer {
            arn: lab.load_balancers[0].arn.clone()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_as_dns_queries_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let lab = default_lab();
        let r = dns::Resolver::new(&lab);
        for t in [dns::Transport::Udp, dns::Transport::Tcp] {
            let _ = r.answer(Some(&lab.vpcs[0].id), &bytes, t);
        }
        let mut input = bytes.clone();
        let mut out = Vec::new();
        let _ = dns::serve_stream(&r, Some(&lab.vpcs[0].id), &mut input, &mut out);
    }

    #[test]
    fn mutated_dns_queries_never_panic(
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..8),
        cut in 0usize..80,
    ) {
        let lab = default_lab();
        let r = dns::Resolver::new(&lab);
        let mut q = query(1, "bucket.s3.ap-northeast-2.amazonaws.com", RecordType::A);
        for (i, b) in flips {
            if let Some(x) = q.get_mut(i) { *x ^= b; }
        }
        q.truncate(cut.max(1));
        let _ = r.answer(Some(&lab.vpcs[0].id), &q, dns::Transport::Udp);
    }

    #[test]
    fn random_http_requests_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        prefix in prop_oneof![
            Just(&b""[..]),
            Just(&b"GET /latest/meta-data/ HTTP/1.1\r\n"[..]),
            Just(&b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: "[..]),
        ],
    ) {
        let lab = default_lab();
        let mut imds = imds::Imds::new(&lab, [1; 32]);
        let inst = &lab.instances[0];
        let mut input = prefix.to_vec();
        input.extend_from_slice(&bytes);
        let mut out = Vec::new();
        let _ = http::serve_stream(&mut input, &mut out, 1024, &mut http::ConnState::default(), |req| {
            imds.handle(T0, &inst.vpc, inst.private_ip, req)
        });
    }

    #[test]
    fn random_packets_never_panic(
        port in arb_port(),
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8),
    ) {
        let lab = default_lab();
        let mut s = services(&lab);
        for p in &packets {
            s.receive(T0, &port, p);
        }
        s.poll(T0, |_, _| {});
        prop_assert_eq!(s.counters().received, packets.len() as u64);
    }

    #[test]
    fn well_formed_packets_with_random_payloads_never_panic(
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        dport in prop_oneof![Just(53u16), Just(80u16), any::<u16>()],
        kind in 0u8..3,
    ) {
        let lab = default_lab();
        let mut s = services(&lab);
        let inst = &lab.instances[0];
        let port = ServicePort::AmazonProvided { vpc: inst.vpc.clone() };
        let dst = if dport == 80 { catalog::IMDS_ADDRESS } else { catalog::AMAZON_DNS_LINK_LOCAL };
        let pkt = match kind {
            0 => udp(inst.private_ip, dst, 1234, dport, &payload),
            1 => {
                let mut out = Vec::new();
                PacketBuilder::ipv4(inst.private_ip.octets(), dst.octets(), 64)
                    .tcp(1234, dport, 1, 1000)
                    .ack(1)
                    .write(&mut out, &payload)
                    .unwrap();
                out
            }
            _ => echo(inst.private_ip, dst, 1, 1, &payload),
        };
        s.receive(T0, &port, &pkt);
        s.poll(T0, |_, _| {});
    }
}

#[test]
fn the_status_summary_names_each_service_that_saw_traffic() {
    let mut c = Counters::default();
    assert!(c.summary().is_empty(), "quiet services say nothing");
    c.dns.messages = 3;
    c.dns.noerror = 2;
    c.dns.nxdomain = 1;
    c.s3.requests = 4;
    c.s3.via_endpoint = 3;
    c.s3.via_internet = 1;
    c.s3.denied = 1;
    let lines = c.summary();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("Amazon DNS: 3 queries (2 NOERROR, 1 NXDOMAIN"));
    assert!(lines[1].contains("3 through a gateway endpoint, 1 through the internet gateway"));
    assert!(lines[1].contains("1 denied by a policy"));
}
