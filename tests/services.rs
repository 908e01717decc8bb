//! The services as the router sees them: only the public API, the seed-2 template, real
//! packets in, replies out. (Deeper scenarios live beside the code in `src/services/`.)

mod common;

use std::net::Ipv4Addr;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use vpclab::dataplane::time::Instant;
use vpclab::model::{catalog, EndpointKind, Lab};
use vpclab::services::{Config, ServicePort, Services};

fn seed2() -> Lab {
    common::load_file("templates/seed2-gateway-endpoint.yaml")
}

fn dns_query(name: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(42)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

fn roundtrip(s: &mut Services, port: &ServicePort, packet: &[u8]) -> Vec<Vec<u8>> {
    let now = Instant::from_secs(5);
    s.receive(now, port, packet);
    let mut out = Vec::new();
    s.poll(now, |p, bytes| {
        assert_eq!(p, port);
        out.push(bytes.to_vec());
    });
    out
}

fn ask(s: &mut Services, lab: &Lab, from: Ipv4Addr, name: &str) -> Message {
    let vpc = lab.vpcs[0].id.clone();
    let mut pkt = Vec::new();
    PacketBuilder::ipv4(from.octets(), [10, 0, 0, 2], 64)
        .udp(33333, 53)
        .write(&mut pkt, &dns_query(name))
        .unwrap();
    let out = roundtrip(s, &ServicePort::AmazonProvided { vpc }, &pkt);
    assert_eq!(out.len(), 1, "one reply to {name}");
    let sliced = SlicedPacket::from_ip(&out[0]).unwrap();
    let Some(TransportSlice::Udp(u)) = sliced.transport else {
        panic!("UDP reply")
    };
    assert_eq!((u.source_port(), u.destination_port()), (53, 33333));
    Message::from_vec(u.payload()).unwrap()
}

fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[test]
fn seed2_private_instance_resolves_s3_and_the_vpc_default_hides_instance_names() {
    let lab = seed2();
    let mut s = Services::new(&lab, Config::default()).unwrap();
    let private = lab
        .instances
        .iter()
        .find(|i| i.public_ip.is_none())
        .unwrap();
    let m = ask(
        &mut s,
        &lab,
        private.private_ip,
        "s3.ap-northeast-2.amazonaws.com",
    );
    let want = catalog::region("ap-northeast-2")
        .unwrap()
        .gateway_service("s3")
        .unwrap()
        .ips();
    assert_eq!(addresses(&m), want);
    // Seed 2's VPC leaves EnableDnsHostnames at its default (false): no instance names.
    assert!(!lab.vpcs[0].enable_dns_hostnames);
    let m = ask(&mut s, &lab, private.private_ip, &private.private_dns_name);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    // No internet behind the resolver.
    let m = ask(&mut s, &lab, private.private_ip, "www.example.com");
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
}

#[test]
fn seed2_ping_s3_through_the_gateway_endpoint() {
    let lab = seed2();
    let mut s = Services::new(&lab, Config::default()).unwrap();
    let private = lab
        .instances
        .iter()
        .find(|i| i.public_ip.is_none())
        .unwrap();
    let vpce = lab
        .vpc_endpoints
        .iter()
        .find(|e| matches!(e.kind, EndpointKind::Gateway { .. }))
        .unwrap()
        .id
        .clone();
    let s3 = Ipv4Addr::new(52, 219, 60, 10);
    let mut pkt = Vec::new();
    PacketBuilder::ipv4(private.private_ip.octets(), s3.octets(), 64)
        .icmpv4_echo_request(0x1234, 1)
        .write(&mut pkt, &[0x61; 56])
        .unwrap();
    let out = roundtrip(&mut s, &ServicePort::GatewayEndpoint { vpce }, &pkt);
    assert_eq!(out.len(), 1);
    let sliced = SlicedPacket::from_ip(&out[0]).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        panic!("IPv4")
    };
    assert_eq!(ip.header().source_addr(), s3);
    assert_eq!(ip.header().destination_addr(), private.private_ip);
    let Some(TransportSlice::Icmpv4(icmp)) = &sliced.transport else {
        panic!("ICMP")
    };
    assert!(matches!(
        icmp.icmp_type(),
        etherparse::Icmpv4Type::EchoReply(e) if e.id == 0x1234 && e.seq == 1
    ));
    let c = s.counters();
    assert_eq!(
        (c.received, c.admitted, c.emitted, c.dropped()),
        (1, 1, 1, 0)
    );
}

#[test]
fn garbage_from_the_router_is_counted_never_a_panic() {
    let lab = seed2();
    let mut s = Services::new(&lab, Config::default()).unwrap();
    let ports = [
        ServicePort::AmazonProvided {
            vpc: lab.vpcs[0].id.clone(),
        },
        ServicePort::Region,
    ];
    let mut seed: u32 = 1;
    let mut sent = 0;
    for len in 0..300usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        for p in &ports {
            s.receive(Instant::from_secs(1), p, &bytes);
            sent += 1;
        }
    }
    s.poll(Instant::from_secs(1), |_, _| {});
    let c = s.counters();
    assert_eq!(c.received, sent);
    assert_eq!(c.dropped(), sent);
}
