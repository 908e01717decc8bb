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

// ---------------------------------------------------------------- S3, streamed

/// An instance's TCP/IP stack (smoltcp over an in-memory device), talking to one port.
mod client {
    use std::collections::VecDeque;

    use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle, SocketSet};
    use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
    use smoltcp::socket::tcp;
    use smoltcp::time::Instant as SmolInstant;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

    #[derive(Default)]
    pub struct Dev {
        pub rx: VecDeque<Vec<u8>>,
        pub tx: Vec<Vec<u8>>,
    }
    pub struct Rx(Vec<u8>);
    pub struct Tx<'a>(&'a mut Vec<Vec<u8>>);
    impl RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }
    impl TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut b = vec![0; len];
            let r = f(&mut b);
            self.0.push(b);
            r
        }
    }
    impl Device for Dev {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx<'a>;
        fn receive(&mut self, _: SmolInstant) -> Option<(Rx, Tx<'_>)> {
            let p = self.rx.pop_front()?;
            Some((Rx(p), Tx(&mut self.tx)))
        }
        fn transmit(&mut self, _: SmolInstant) -> Option<Tx<'_>> {
            Some(Tx(&mut self.tx))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut c = DeviceCapabilities::default();
            c.medium = Medium::Ip;
            c.max_transmission_unit = 9001; // the instance's eth0
            c
        }
    }

    pub struct Client {
        pub iface: Interface,
        pub dev: Dev,
        pub sockets: SocketSet<'static>,
        pub h: SocketHandle,
    }

    impl Client {
        pub fn connect(me: std::net::Ipv4Addr, to: std::net::Ipv4Addr) -> Self {
            let mut dev = Dev::default();
            let mut iface = Interface::new(
                SmolConfig::new(HardwareAddress::Ip),
                &mut dev,
                SmolInstant::from_millis(0),
            );
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(IpAddress::Ipv4(me), 32)).unwrap();
            });
            iface.routes_mut().add_default_ipv4_route(me).unwrap();
            let mut sockets = SocketSet::new(Vec::new());
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 512 * 1024]),
                tcp::SocketBuffer::new(vec![0; 512 * 1024]),
            );
            s.connect(iface.context(), (IpAddress::Ipv4(to), 80), 50_000)
                .unwrap();
            let h = sockets.add(s);
            Client {
                iface,
                dev,
                sockets,
                h,
            }
        }

        pub fn sock(&mut self) -> &mut tcp::Socket<'static> {
            self.sockets.get_mut::<tcp::Socket>(self.h)
        }
    }
}

/// Sends `raw` and reads one response, moving packets between the client and the services
/// with the clock advancing 1 ms a round. Returns (status, headers, body); checks every
/// packet the services send against `max_packet`.
fn s3_exchange(
    s: &mut Services,
    port: &ServicePort,
    c: &mut client::Client,
    now: &mut Instant,
    raw: &[u8],
    max_packet: usize,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut sent = 0;
    let mut got = Vec::new();
    for _ in 0..200_000 {
        let t = smoltcp::time::Instant::from_millis(now.total_millis() as i64);
        if c.sock().may_send() && sent < raw.len() {
            sent += c.sock().send_slice(&raw[sent..]).unwrap();
        }
        c.iface.poll(t, &mut c.dev, &mut c.sockets);
        for p in c.dev.tx.drain(..) {
            s.receive(*now, port, &p);
        }
        s.poll(*now, |p, bytes| {
            assert_eq!(p, port);
            assert!(bytes.len() <= max_packet, "{} > {max_packet}", bytes.len());
            c.dev.rx.push_back(bytes.to_vec());
        });
        c.iface.poll(t, &mut c.dev, &mut c.sockets);
        while c.sock().can_recv() {
            c.sock()
                .recv(|b| {
                    got.extend_from_slice(b);
                    (b.len(), ())
                })
                .unwrap();
        }
        *now = *now + std::time::Duration::from_millis(1);
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut hs);
        if let Ok(httparse::Status::Complete(n)) = r.parse(&got) {
            let code = r.code.unwrap();
            let headers: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into(),
                    )
                })
                .collect();
            if code == 100 {
                got.drain(..n);
                continue;
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            if got.len() >= n + len && sent == raw.len() {
                return (code, headers, got[n..n + len].to_vec());
            }
        }
    }
    panic!("no response after {sent} of {} bytes sent", raw.len());
}

#[test]
fn seed2_s3_streams_a_multi_mib_object_through_the_endpoint_in_bounded_memory() {
    let lab = seed2();
    let dir = std::env::temp_dir().join(format!("vpclab-it-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let mut s = Services::new(
        &lab,
        Config {
            s3_dir: Some(dir.clone()),
            ..Config::default()
        },
    )
    .unwrap();
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
    let port = ServicePort::GatewayEndpoint { vpce };
    let mut c = client::Client::connect(private.private_ip, Ipv4Addr::new(52, 219, 60, 10));
    let mut now = Instant::from_secs(1);
    // Through an endpoint, nothing larger than its 8500-byte MTU comes back.
    let mtu = 8500;
    let host = "Host: s3.ap-northeast-2.amazonaws.com\r\n";
    let (st, _, _) = s3_exchange(
        &mut s,
        &port,
        &mut c,
        &mut now,
        format!("PUT /stream HTTP/1.1\r\n{host}\r\n").as_bytes(),
        mtu,
    );
    assert_eq!(st, 200);

    let size = 6 * 1024 * 1024 + 7;
    let data: Vec<u8> = (0..size as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let mut put = format!(
        "PUT /stream/obj HTTP/1.1\r\n{host}Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n"
    )
    .into_bytes();
    put.extend_from_slice(&data);
    let (st, hs, _) = s3_exchange(&mut s, &port, &mut c, &mut now, &put, mtu);
    assert_eq!(st, 200);
    // S3's ETag of a single-part upload: the MD5 of the data, in quotes.
    let md5 = {
        use md5::{Digest as _, Md5};
        let hex: String = Md5::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("\"{hex}\"")
    };
    assert_eq!(
        hs.iter()
            .find(|(k, _)| k == "etag")
            .map(|(_, v)| v.as_str()),
        Some(md5.as_str()),
        "the PUT's ETag"
    );

    let get = format!("GET /stream/obj HTTP/1.1\r\n{host}\r\n");
    let (st, hs, body) = s3_exchange(&mut s, &port, &mut c, &mut now, get.as_bytes(), mtu);
    assert_eq!(st, 200);
    assert_eq!(
        hs.iter()
            .find(|(k, _)| k == "etag")
            .map(|(_, v)| v.as_str()),
        Some(md5.as_str()),
        "the GET's ETag"
    );
    assert!(body == data, "the object comes back byte for byte");

    let get = format!("GET /stream/obj HTTP/1.1\r\n{host}Range: bytes=4194300-4194310\r\n\r\n");
    let (st, _, body) = s3_exchange(&mut s, &port, &mut c, &mut now, get.as_bytes(), mtu);
    assert_eq!((st, body.as_slice()), (206, &data[4_194_300..4_194_311]));

    let counters = s.counters();
    assert_eq!(counters.s3.bytes_in, size as u64);
    assert_eq!(counters.s3.via_endpoint, 4);
    // S3 held at most a request head, a response head and a few KiB at any time: the
    // body went from the TCP buffer to the file and back, never whole into memory.
    assert!(
        counters.http.peak_conn_buffered <= 64 * 1024,
        "peak {} bytes buffered",
        counters.http.peak_conn_buffered
    );
    assert!(counters.http.peak_conn_buffered > 0);
}

/// The default lab: lab 4's NLB is health-checked through the public API, the probes leave on
/// the load balancer's port, and a target that answers becomes healthy.
#[test]
fn the_default_labs_targets_are_health_checked_on_their_load_balancers_port() {
    use vpclab::services::HealthState;
    let lab = vpclab::template::load_default(&Default::default()).unwrap();
    let mut s = Services::new(&lab, Config::default()).unwrap();
    let health = s.target_health();
    assert_eq!(health.len(), 2, "WEB1 and WEB2");
    assert!(health.iter().all(|t| t.state == HealthState::Initial));
    let g0 = s.health_generation();
    let port = ServicePort::LoadBalancer {
        arn: lab.load_balancers[0].arn.clone(),
    };
    let tg = &lab.target_groups[0];
    let mut now = Instant::from_secs(1);
    for _ in 0..tg.healthy_threshold_count {
        let mut probes = Vec::new();
        s.poll(now, |p, b| {
            assert_eq!(p, &port);
            probes.push(b.to_vec());
        });
        for b in &probes {
            let sliced = SlicedPacket::from_ip(b).unwrap();
            let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) =
                (&sliced.net, &sliced.transport)
            else {
                panic!("TCP probes")
            };
            if !t.syn() {
                continue;
            }
            let (h, mut reply) = (ip.header(), Vec::new());
            PacketBuilder::ipv4(h.destination_addr().octets(), h.source_addr().octets(), 64)
                .tcp(t.destination_port(), t.source_port(), 7, 64240)
                .syn()
                .ack(t.sequence_number().wrapping_add(1))
                .write(&mut reply, &[])
                .unwrap();
            s.receive(now, &port, &reply);
        }
        s.poll(now, |_, _| {}); // the RSTs that close the passed checks
        now = s.next_wake(now).unwrap();
    }
    assert!(s
        .target_health()
        .iter()
        .all(|t| t.state == HealthState::Healthy));
    assert!(s.health_generation() > g0);
}
