//! Scenario tests of the virtual router: a topology built from a template,
//! frames injected on its ports with a fake clock, and what comes out checked
//! as a user would (who receives what, with which addresses, why a drop).
//! No root, no namespaces: the router is sans-IO.

mod common;

use vpclab::dataplane::testkit::Harness;

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::{SlicedPacket, TransportSlice};
use proptest::prelude::*;
use vpclab::dataplane::checksum::{self, AddrField, L4Csum};
use vpclab::dataplane::conntrack::Timeouts;
use vpclab::dataplane::router::Config;
use vpclab::dataplane::testkit::{self, Addrs, Flags, Sent};
use vpclab::dataplane::topology::{PortId, PortKind, ServicePort, Snapshot, INTERNET_GATEWAY_IP};
use vpclab::dataplane::verdict::{DropKind, DropReason, FlowAction, Verdict};
use vpclab::dataplane::vnet::{flags, gso_type, VnetHdr};
use vpclab::model::{self, catalog, AclEntry, Protocol, RuleAction};

const INTERNET_HOST: Ipv4Addr = catalog::INTERNET_HOST;

fn seed2() -> Harness {
    Harness::new(common::load_file("templates/seed2-gateway-endpoint.yaml"))
}

fn lab() -> Harness {
    Harness::new(common::load_file("tests/fixtures/router-lab.yaml"))
}

/// The one frame sent, on `port`.
fn only(sent: &[Sent], port: PortId) -> &Sent {
    assert_eq!(sent.len(), 1, "expected one frame, got {sent:?}");
    assert_eq!(sent[0].port, port, "sent on the wrong port");
    &sent[0]
}

fn ip_src_dst(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr, u8) {
    let p = SlicedPacket::from_ethernet(frame).expect("parse");
    match p.net {
        Some(etherparse::NetSlice::Ipv4(ip)) => (
            ip.header().source_addr(),
            ip.header().destination_addr(),
            ip.header().ttl(),
        ),
        _ => panic!("not IPv4"),
    }
}

/// Checks the IPv4 header checksum and the TCP/UDP/ICMP checksum of a full
/// Ethernet frame against a recompute.
fn assert_checksums_ok(frame: &[u8]) {
    let ip = testkit::ip_of(frame);
    assert!(
        checksum::ipv4_header_checksum_ok(ip),
        "IPv4 header checksum"
    );
    let p = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ipv4)) = &p.net else {
        panic!("not IPv4")
    };
    let h = ipv4.header();
    let ihl = h.slice().len();
    let l4 = &ip[ihl..usize::from(h.total_len())];
    match p.transport {
        Some(TransportSlice::Tcp(_)) | Some(TransportSlice::Udp(_)) => {
            let pseudo = checksum::pseudo_v4(
                h.source_addr(),
                h.destination_addr(),
                h.protocol().0,
                l4.len() as u16,
            );
            assert!(checksum::l4_checksum_ok(l4, pseudo), "L4 checksum");
        }
        Some(TransportSlice::Icmpv4(_)) => {
            assert_eq!(checksum::ones_sum(l4), 0xffff, "ICMP checksum")
        }
        _ => {}
    }
}

// ---- seed-2 flows ---------------------------------------------------------------

#[test]
fn seed2_public_pings_private_and_gets_the_reply() {
    let mut h = seed2();
    let public = h.host("CloudNetaPublicEC2");
    let private = h.host("CloudNetaPrivateEC2");

    let (v, sent) = h.send(
        public.port,
        &testkit::ping(&h.from(&public, private.ip), 7, 1),
    );
    assert_eq!(v, Verdict::Forwarded(private.port));
    let out = only(&sent, private.port);
    assert_eq!(&out.frame[0..6], &private.mac, "to the private ENI's MAC");
    assert_eq!(&out.frame[6..12], &h.router_mac(), "from the router");
    let (src, dst, ttl) = ip_src_dst(&out.frame);
    assert_eq!((src, dst), (public.ip, private.ip));
    assert_eq!(ttl, 64, "the VPC router is not a hop");
    assert_checksums_ok(&out.frame);

    let (v, sent) = h.send(
        private.port,
        &testkit::pong(&h.from(&private, public.ip), 7, 1),
    );
    assert_eq!(v, Verdict::Forwarded(public.port));
    let (src, dst, _) = ip_src_dst(&only(&sent, public.port).frame);
    assert_eq!((src, dst), (private.ip, public.ip));
}

#[test]
fn seed2_private_reaches_s3_only_through_the_endpoint_route() {
    let mut h = seed2();
    let private = h.host("CloudNetaPrivateEC2");
    let s3: Ipv4Addr = h.lab.region().gateway_service("s3").unwrap().ips()[0];
    let endpoint = h.lab.vpc_endpoints[0].id.clone();
    let ep_port = h
        .snap()
        .port_of(&PortKind::Service(ServicePort::GatewayEndpoint {
            vpce: endpoint,
        }))
        .unwrap();

    let (v, sent) = h.send(private.port, &testkit::ping(&h.from(&private, s3), 9, 1));
    assert_eq!(v, Verdict::Delivered(ep_port), "with the pl- route");
    let packet = &only(&sent, ep_port).frame;
    let ip = etherparse::Ipv4HeaderSlice::from_slice(packet).unwrap();
    assert_eq!(ip.source_addr(), private.ip, "no NAT on the endpoint path");
    assert_eq!(ip.destination_addr(), s3);

    // The service answers on the endpoint port; the reply reaches the instance.
    let mut reply = Vec::new();
    etherparse::PacketBuilder::ipv4(s3.octets(), private.ip.octets(), 60)
        .icmpv4_echo_reply(9, 1)
        .write(&mut reply, &[0x61; 56])
        .unwrap();
    let (v, sent) = h.send_ip(ep_port, &reply);
    assert_eq!(v, Verdict::Forwarded(private.port));
    let out = only(&sent, private.port);
    assert_eq!(&out.frame[0..6], &private.mac);
    assert_checksums_ok(&out.frame);

    // Without the endpoint's route (the seed's "before" state), no route.
    let rt = h
        .lab
        .route_tables
        .iter_mut()
        .find(|r| r.origin.logical_id.as_deref() == Some("CloudNetaPrivateRT"))
        .unwrap();
    rt.routes
        .retain(|r| !matches!(r.destination, model::Destination::PrefixList(_)));
    let rt_id = rt.id.clone();
    h.apply();
    let (v, sent) = h.send(private.port, &testkit::ping(&h.from(&private, s3), 9, 2));
    let Verdict::Dropped(DropReason::NoRoute(rt)) = v else {
        panic!("expected NoRoute, got {v:?}")
    };
    assert!(sent.is_empty());
    assert_eq!(h.snap().route_tables[rt.0 as usize].id, rt_id);
    assert!(h
        .snap()
        .explain(&DropReason::NoRoute(rt))
        .contains(rt_id.as_str()));
}

/// The seed's "first without the endpoint, then add it" steps, as live changes: the model's
/// `delete-vpc-endpoints` / `create-vpc-endpoint`, a rebuilt snapshot, and the services
/// following the new lab (the daemon's path).
#[test]
fn seed2_an_endpoint_created_live_routes_to_s3_and_the_service_answers() {
    use vpclab::model::change::Change;
    use vpclab::runtime::eventloop::ServiceSide;
    use vpclab::runtime::services::LabServices;

    let mut h = seed2();
    let private = h.host("CloudNetaPrivateEC2");
    let s3: Ipv4Addr = h.lab.region().gateway_service("s3").unwrap().ips()[0];
    let old = h.lab.vpc_endpoints[0].id.to_string();
    h.lab
        .apply(&Change::DeleteVpcEndpoints { ids: vec![old] })
        .unwrap();
    h.apply();
    let mut services = LabServices::new(
        vpclab::services::Services::new(&h.lab, vpclab::services::Config::default()).unwrap(),
    );
    let (v, _) = h.send(private.port, &testkit::ping(&h.from(&private, s3), 7, 1));
    assert!(
        matches!(v, Verdict::Dropped(DropReason::NoRoute(_))),
        "without the endpoint: {v:?}"
    );

    let out = h
        .lab
        .apply(&Change::CreateVpcEndpoint {
            vpc: "CloudNetaVPC".into(),
            service_name: "com.amazonaws.ap-northeast-2.s3".into(),
            route_tables: vec!["CloudNetaPrivateRT".into()],
            policy: None,
            kind: Default::default(),
        })
        .unwrap();
    let model::change::Applied::VpcEndpoint(id) = out else {
        panic!("create-vpc-endpoint answered {out:?}")
    };
    let vpce = model::VpceId::parse(&id).unwrap();
    // The daemon's path: a snapshot built on the previous one, installed in both halves.
    let snap = Arc::new(Snapshot::build(&h.lab, Some(h.snap())).unwrap());
    h.router.install(Arc::clone(&snap));
    services.install(&h.lab);
    let service = ServicePort::GatewayEndpoint { vpce };
    let port = snap.port_of(&PortKind::Service(service.clone())).unwrap();
    let (v, sent) = h.send(private.port, &testkit::ping(&h.from(&private, s3), 7, 2));
    assert_eq!(
        v,
        Verdict::Delivered(port),
        "with the live endpoint's route"
    );
    let packet = only(&sent, port).frame.clone();

    services.receive(h.now, &service, &packet);
    let mut replies = vec![];
    services.poll(h.now, &mut |p, bytes| {
        replies.push((p.clone(), bytes.to_vec()))
    });
    assert_eq!(
        replies.len(),
        1,
        "the S3 service answers behind the new endpoint"
    );
    assert_eq!(replies[0].0, service);
    assert_eq!(snap.service_port(&replies[0].0), Some(port));
    let (v, sent) = h.send_ip(port, &replies[0].1);
    assert_eq!(v, Verdict::Forwarded(private.port));
    assert_eq!(&only(&sent, private.port).frame[0..6], &private.mac);
}

#[test]
fn seed2_public_reaches_s3_through_the_internet_gateway_without_the_endpoint() {
    let mut h = seed2();
    let public = h.host("CloudNetaPublicEC2");
    let s3: Ipv4Addr = h.lab.region().gateway_service("s3").unwrap().ips()[0];
    h.lab.vpc_endpoints.clear();
    for rt in &mut h.lab.route_tables {
        rt.routes
            .retain(|r| !matches!(r.destination, model::Destination::PrefixList(_)));
    }
    h.apply();
    let region = h.snap().region_port;
    let (v, sent) = h.send(public.port, &testkit::ping(&h.from(&public, s3), 3, 1));
    assert_eq!(v, Verdict::Delivered(region));
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&only(&sent, region).frame).unwrap();
    assert_eq!(
        ip.source_addr(),
        public.public.unwrap(),
        "SNAT to the public IP"
    );
}

#[test]
fn seed2_security_group_blocks_a_port_it_does_not_allow() {
    let mut h = seed2();
    let public = h.host("CloudNetaPublicEC2");
    let private = h.host("CloudNetaPrivateEC2");
    let a = h.from(&public, private.ip);
    let (v, _) = h.send(public.port, &testkit::tcp(&a, 40000, 22, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(private.port), "22 is allowed");
    let (v, sent) = h.send(public.port, &testkit::tcp(&a, 40001, 23, Flags::SYN, b""));
    let Verdict::Dropped(DropReason::SgIngressDenied(e)) = v else {
        panic!("expected SgIngressDenied, got {v:?}")
    };
    assert!(sent.is_empty());
    let why = h.snap().explain(&DropReason::SgIngressDenied(e));
    assert!(why.contains(&private.ip.to_string()), "{why}");
    assert_eq!(h.router.counters().dropped(DropKind::SgIngressDenied), 1);
    let rejected = h
        .router
        .flow_log()
        .records()
        .filter(|r| r.action == FlowAction::Reject(DropReason::SgIngressDenied(e)))
        .count();
    assert_eq!(rejected, 1, "the rejected flow is recorded");
}

#[test]
fn seed2_network_acl_deny_blocks_what_the_security_group_allows() {
    let mut h = seed2();
    let public = h.host("CloudNetaPublicEC2");
    let private = h.host("CloudNetaPrivateEC2");
    let a = h.from(&public, private.ip);
    let vpc = h.lab.vpcs[0].default_network_acl.clone();
    let acl = h.lab.network_acls.iter_mut().find(|a| a.id == vpc).unwrap();
    acl.entries.push(AclEntry {
        rule_number: 90,
        egress: false,
        action: RuleAction::Deny,
        protocol: Protocol::Tcp,
        cidr: "10.0.0.0/24".parse().unwrap(),
        port_range: Some((22, 22)),
        icmp: None,
        origin: Default::default(),
    });
    h.apply();
    let (v, _) = h.send(public.port, &testkit::tcp(&a, 40000, 22, Flags::SYN, b""));
    assert!(
        matches!(
            v,
            Verdict::Dropped(DropReason::NaclInDenied { rule: 90, .. })
        ),
        "{v:?}"
    );
    let (v, _) = h.send(public.port, &testkit::ping(&a, 1, 1));
    assert_eq!(v, Verdict::Forwarded(private.port), "ICMP still passes");
}

#[test]
fn seed2_public_instance_talks_to_the_internet_through_nat_both_ways() {
    let mut h = seed2();
    let public = h.host("CloudNetaPublicEC2");
    let pub_ip = public.public.unwrap();
    let internet = h.internet();

    let a = h.from(&public, INTERNET_HOST);
    let (v, sent) = h.send(public.port, &testkit::tcp(&a, 40000, 80, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(internet));
    let out = only(&sent, internet);
    let (src, dst, ttl) = ip_src_dst(&out.frame);
    assert_eq!(
        (src, dst),
        (pub_ip, INTERNET_HOST),
        "the internet sees the public IP"
    );
    assert_eq!(ttl, 63, "the internet gateway is one hop");
    assert_eq!(&out.frame[0..6], &h.snap().internet_host_mac);
    assert_checksums_ok(&out.frame);

    // The reply to the public IP is translated back.
    let r = h.inbound_addrs(pub_ip);
    let (v, sent) = h.send(internet, &testkit::tcp(&r, 80, 40000, Flags::SYN_ACK, b""));
    assert_eq!(v, Verdict::Forwarded(public.port));
    let out = only(&sent, public.port);
    let (src, dst, _) = ip_src_dst(&out.frame);
    assert_eq!(
        (src, dst),
        (INTERNET_HOST, public.ip),
        "DNAT to the private IP"
    );
    assert_eq!(&out.frame[0..6], &public.mac);
    assert_checksums_ok(&out.frame);

    // Unsolicited from the internet: SSH is open to the world, 3389 is not.
    let (v, _) = h.send(internet, &testkit::tcp(&r, 5555, 22, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(public.port));
    let (v, _) = h.send(internet, &testkit::tcp(&r, 5555, 3389, Flags::SYN, b""));
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SgIngressDenied(_))),
        "{v:?}"
    );
    // A public address no instance has.
    let nobody = h.inbound_addrs(Ipv4Addr::new(15, 164, 1, 1));
    let (v, _) = h.send(internet, &testkit::ping(&nobody, 1, 1));
    assert_eq!(v, Verdict::Dropped(DropReason::NoSuchPublicAddress));
}

#[test]
fn seed2_private_instance_has_no_way_to_the_internet() {
    let mut h = seed2();
    let private = h.host("CloudNetaPrivateEC2");
    let (v, _) = h.send(
        private.port,
        &testkit::ping(&h.from(&private, INTERNET_HOST), 1, 1),
    );
    assert!(
        matches!(v, Verdict::Dropped(DropReason::NoRoute(_))),
        "{v:?}"
    );
}

// ---- the router lab ---------------------------------------------------------------

#[test]
fn an_instance_without_a_public_ip_is_dropped_at_the_internet_gateway() {
    let mut h = lab();
    let host = h.host("NoPublicA");
    let (v, sent) = h.send(
        host.port,
        &testkit::ping(&h.from(&host, INTERNET_HOST), 1, 1),
    );
    assert!(
        matches!(v, Verdict::Dropped(DropReason::NoPublicIp(_))),
        "{v:?}"
    );
    assert!(sent.is_empty());
}

#[test]
fn a_tracked_reply_passes_while_an_unsolicited_packet_is_dropped() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let c2s = h.from(&client, server.ip);
    let s2c = h.from(&server, client.ip);

    // Unsolicited: the server's groups let nothing out on their own.
    let (v, _) = h.send(
        server.port,
        &testkit::tcp(&s2c, 22, 40000, Flags::SYN_ACK, b""),
    );
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SgEgressDenied(_))),
        "{v:?}"
    );

    let (v, _) = h.send(client.port, &testkit::tcp(&c2s, 40000, 22, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(server.port));
    assert_eq!(
        h.router.tracked_flows(),
        1,
        "10.1.0.0/16 is not 0.0.0.0/0: tracked"
    );
    let (v, _) = h.send(
        server.port,
        &testkit::tcp(&s2c, 22, 40000, Flags::SYN_ACK, b""),
    );
    assert_eq!(
        v,
        Verdict::Forwarded(client.port),
        "the reply of a tracked flow"
    );
    // Another port of the same pair is not part of the flow.
    let (v, _) = h.send(
        server.port,
        &testkit::tcp(&s2c, 22, 40001, Flags::SYN_ACK, b""),
    );
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SgEgressDenied(_))),
        "{v:?}"
    );
}

#[test]
fn flows_open_to_the_world_both_ways_are_not_tracked() {
    let mut h = lab();
    let client = h.host("ClientA");
    let other = h.host("NoPublicA");
    // From the internet to ClientA's SSH: in from 0.0.0.0/0, and ClientSg
    // lets all out to 0.0.0.0/0: the receiver does not track it.
    let r = h.inbound_addrs(client.public.unwrap());
    let (v, _) = h.send(h.internet(), &testkit::tcp(&r, 5555, 22, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(client.port));
    assert_eq!(h.router.tracked_flows(), 0);
    // ClientA to NoPublicA's SSH: the receiver's side is untracked, but the
    // sender's is tracked (its groups do not open every port inbound).
    let a = h.from(&client, other.ip);
    let (v, _) = h.send(client.port, &testkit::tcp(&a, 40000, 22, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(other.port));
    assert_eq!(h.router.tracked_flows(), 1);
    // ICMP is always tracked.
    let (v, _) = h.send(h.internet(), &testkit::ping(&r, 5, 1));
    assert_eq!(v, Verdict::Forwarded(client.port));
    assert_eq!(h.router.tracked_flows(), 2);
}

#[test]
fn traffic_within_a_subnet_keeps_the_senders_mac_and_skips_the_acl() {
    let mut h = lab();
    let client = h.host("ClientA");
    let other = h.host("NoPublicA");
    // Deny everything in the default ACL: within the subnet it still flows.
    for acl in &mut h.lab.network_acls {
        acl.entries
            .retain(|e| e.rule_number == model::ACL_DEFAULT_RULE);
    }
    h.apply();
    let frame = testkit::ping(
        &Addrs::new(client.mac, other.mac, client.ip, other.ip),
        1,
        1,
    );
    let (v, sent) = h.send(client.port, &frame);
    assert_eq!(v, Verdict::Forwarded(other.port));
    assert_eq!(&only(&sent, other.port).frame[6..12], &client.mac);
    let server = h.host("ServerB");
    let (v, _) = h.send(
        client.port,
        &testkit::ping(&h.from(&client, server.ip), 1, 1),
    );
    assert!(
        matches!(
            v,
            Verdict::Dropped(DropReason::NaclOutDenied {
                rule: model::ACL_DEFAULT_RULE,
                ..
            })
        ),
        "{v:?}"
    );
}

#[test]
fn conntrack_entries_expire_after_their_idle_timeout() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let (v, _) = h.send(
        client.port,
        &testkit::ping(&h.from(&client, server.ip), 42, 1),
    );
    assert_eq!(v, Verdict::Forwarded(server.port));
    h.advance(29);
    let (v, _) = h.send(
        server.port,
        &testkit::pong(&h.from(&server, client.ip), 42, 1),
    );
    assert_eq!(
        v,
        Verdict::Forwarded(client.port),
        "within the ICMP timeout"
    );
    h.advance(31);
    let (v, _) = h.send(
        server.port,
        &testkit::pong(&h.from(&server, client.ip), 42, 2),
    );
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SgEgressDenied(_))),
        "expired after 30 s idle: {v:?}"
    );
}

#[test]
fn a_full_conntrack_table_refuses_new_flows_and_keeps_old_ones() {
    let config = Config {
        conntrack_capacity: 2,
        timeouts: Timeouts::default(),
        ..Config::default()
    };
    let mut h = Harness::with_config(common::load_file("tests/fixtures/router-lab.yaml"), config);
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let c2s = h.from(&client, server.ip);
    let s2c = h.from(&server, client.ip);
    for id in [1, 2] {
        let (v, _) = h.send(client.port, &testkit::ping(&c2s, id, 1));
        assert_eq!(v, Verdict::Forwarded(server.port));
    }
    let (v, _) = h.send(client.port, &testkit::ping(&c2s, 3, 1));
    assert_eq!(v, Verdict::Dropped(DropReason::ConntrackFull));
    assert_eq!(h.router.counters().dropped(DropKind::ConntrackFull), 1);
    let (v, _) = h.send(server.port, &testkit::pong(&s2c, 1, 1));
    assert_eq!(
        v,
        Verdict::Forwarded(client.port),
        "existing flows keep working"
    );
    // Once the old flows expire, a new one gets in.
    h.advance(31);
    let (v, _) = h.send(client.port, &testkit::ping(&c2s, 3, 2));
    assert_eq!(v, Verdict::Forwarded(server.port));
}

#[test]
fn security_group_changes_keep_tracked_flows_and_acl_changes_cut_them() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let c2s = h.from(&client, server.ip);
    let s2c = h.from(&server, client.ip);
    let (v, _) = h.send(client.port, &testkit::tcp(&c2s, 40000, 22, Flags::SYN, b""));
    assert_eq!(v, Verdict::Forwarded(server.port));

    // Revoke the server's SSH rule: the tracked connection lives on.
    let sg = h
        .lab
        .security_groups
        .iter_mut()
        .find(|g| g.origin.logical_id.as_deref() == Some("ServerSg"))
        .unwrap();
    sg.ingress.retain(|r| r.protocol != Protocol::Tcp);
    h.apply();
    let (v, _) = h.send(
        server.port,
        &testkit::tcp(&s2c, 22, 40000, Flags::SYN_ACK, b""),
    );
    assert_eq!(v, Verdict::Forwarded(client.port));
    let (v, _) = h.send(
        client.port,
        &testkit::tcp(&c2s, 40000, 22, Flags::ACK, b"hi"),
    );
    assert_eq!(
        v,
        Verdict::Forwarded(server.port),
        "tracked: the rule is not consulted"
    );
    // A new connection is judged by the new rules.
    let (v, _) = h.send(client.port, &testkit::tcp(&c2s, 40002, 22, Flags::SYN, b""));
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SgIngressDenied(_))),
        "{v:?}"
    );

    // An ACL entry denying SSH cuts the tracked connection at once.
    let default_acl = h.lab.vpcs[0].default_network_acl.clone();
    let acl = h
        .lab
        .network_acls
        .iter_mut()
        .find(|a| a.id == default_acl)
        .unwrap();
    acl.entries.push(AclEntry {
        rule_number: 50,
        egress: false,
        action: RuleAction::Deny,
        protocol: Protocol::Tcp,
        cidr: "0.0.0.0/0".parse().unwrap(),
        port_range: Some((22, 22)),
        icmp: None,
        origin: Default::default(),
    });
    h.apply();
    let (v, _) = h.send(
        client.port,
        &testkit::tcp(&c2s, 40000, 22, Flags::ACK, b"hi"),
    );
    assert!(
        matches!(
            v,
            Verdict::Dropped(DropReason::NaclInDenied { rule: 50, .. })
        ),
        "{v:?}"
    );
}

#[test]
fn route_changes_take_effect_on_the_next_frame() {
    let mut h = lab();
    let client = h.host("ClientA");
    let a = h.from(&client, INTERNET_HOST);
    let (v, _) = h.send(client.port, &testkit::ping(&a, 1, 1));
    assert_eq!(v, Verdict::Forwarded(h.internet()));
    let rt = h
        .lab
        .route_tables
        .iter_mut()
        .find(|r| r.origin.logical_id.as_deref() == Some("RtA"))
        .unwrap();
    rt.routes
        .retain(|r| !matches!(r.target, model::RouteTarget::InternetGateway(_)));
    h.apply();
    let (v, _) = h.send(client.port, &testkit::ping(&a, 1, 2));
    assert!(
        matches!(v, Verdict::Dropped(DropReason::NoRoute(_))),
        "{v:?}"
    );
}

// ---- ARP, router addresses, services ---------------------------------------------

#[test]
fn arp_is_answered_for_the_subnet_router_and_enis_of_the_subnet_only() {
    let mut h = lab();
    let client = h.host("ClientA");
    let other = h.host("NoPublicA");
    let server = h.host("ServerB");

    let (v, sent) = h.send(
        client.port,
        &testkit::arp_request(client.mac, client.ip, client.gateway),
    );
    assert_eq!(v, Verdict::Answered);
    let reply = &only(&sent, client.port).frame;
    assert_eq!(&reply[0..6], &client.mac);
    assert_eq!(&reply[14 + 6..14 + 8], &[0, 2], "an ARP reply");
    assert_eq!(
        &reply[14 + 8..14 + 14],
        &h.router_mac(),
        "the router's MAC for .1"
    );
    assert_eq!(&reply[14 + 14..14 + 18], &client.gateway.octets());

    let (v, sent) = h.send(
        client.port,
        &testkit::arp_request(client.mac, client.ip, other.ip),
    );
    assert_eq!(v, Verdict::Answered);
    assert_eq!(&only(&sent, client.port).frame[14 + 8..14 + 14], &other.mac);

    for target in [server.ip, Ipv4Addr::new(10, 1, 1, 200), client.ip] {
        let (v, sent) = h.send(
            client.port,
            &testkit::arp_request(client.mac, client.ip, target),
        );
        assert_eq!(v, Verdict::Dropped(DropReason::ArpIgnored), "{target}");
        assert!(sent.is_empty());
    }
    // Gratuitous ARP is ignored and counted.
    let (v, _) = h.send(
        client.port,
        &testkit::arp_request(client.mac, client.ip, client.ip),
    );
    assert_eq!(v, Verdict::Dropped(DropReason::ArpIgnored));
    assert_eq!(h.router.counters().dropped(DropKind::ArpIgnored), 4);
}

#[test]
fn arp_for_amazon_dns_is_answered_in_the_subnet_that_holds_base_plus_two() {
    // Seed 2: the public subnet 10.0.0.0/24 holds the VPC's DNS address 10.0.0.2, so its
    // instances resolve it by ARP; the private subnet 10.0.1.0/24 goes through .1.
    let mut h = seed2();
    let public = h.host("CloudNetaPublicEC2");
    let private = h.host("CloudNetaPrivateEC2");
    let dns = Ipv4Addr::new(10, 0, 0, 2);
    let (v, sent) = h.send(
        public.port,
        &testkit::arp_request(public.mac, public.ip, dns),
    );
    assert_eq!(v, Verdict::Answered);
    let reply = &only(&sent, public.port).frame;
    assert_eq!(&reply[14 + 8..14 + 14], &h.router_mac());
    assert_eq!(&reply[14 + 14..14 + 18], &dns.octets());
    let (v, sent) = h.send(
        private.port,
        &testkit::arp_request(private.mac, private.ip, dns),
    );
    assert_eq!(
        v,
        Verdict::Dropped(DropReason::ArpIgnored),
        "not on-link there"
    );
    assert!(sent.is_empty());
}

#[test]
fn the_subnet_router_answers_ping_and_nothing_else() {
    let mut h = lab();
    let client = h.host("ClientA");
    let a = h.from(&client, client.gateway);
    let (v, sent) = h.send(client.port, &testkit::ping(&a, 77, 1));
    assert_eq!(v, Verdict::Answered);
    let out = only(&sent, client.port);
    let (src, dst, _) = ip_src_dst(&out.frame);
    assert_eq!((src, dst), (client.gateway, client.ip));
    assert_checksums_ok(&out.frame);
    let p = SlicedPacket::from_ethernet(&out.frame).unwrap();
    let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
        panic!("not ICMP")
    };
    assert_eq!(icmp.type_u8(), 0, "echo reply");
    let (v, _) = h.send(client.port, &testkit::tcp(&a, 1, 80, Flags::SYN, b""));
    assert_eq!(v, Verdict::Dropped(DropReason::RouterAddress));
}

#[test]
fn dns_and_metadata_reach_the_amazon_port_whatever_the_groups_say() {
    let mut h = lab();
    let server = h.host("ServerB");
    let vpc = h.lab.vpcs[0].id.clone();
    let amazon = h
        .snap()
        .port_of(&PortKind::Service(ServicePort::AmazonProvided { vpc }))
        .unwrap();
    for dst in [
        Ipv4Addr::new(10, 1, 0, 2),
        catalog::AMAZON_DNS_LINK_LOCAL,
        catalog::IMDS_ADDRESS,
    ] {
        let a = h.from(&server, dst);
        let (v, sent) = h.send(server.port, &testkit::udp(&a, 5353, 53, b"q"));
        assert_eq!(v, Verdict::Delivered(amazon), "{dst}");
        let ip = etherparse::Ipv4HeaderSlice::from_slice(&only(&sent, amazon).frame).unwrap();
        assert_eq!(ip.destination_addr(), dst);
    }
    // The service's answer goes straight back.
    let mut reply = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 1, 0, 2], server.ip.octets(), 64)
        .udp(53, 5353)
        .write(&mut reply, b"a")
        .unwrap();
    let (v, sent) = h.send_ip(amazon, &reply);
    assert_eq!(v, Verdict::Forwarded(server.port));
    assert_checksums_ok(&only(&sent, server.port).frame);
}

#[test]
fn a_spoofed_source_address_is_dropped() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let mut a = h.from(&client, server.ip);
    a.src = Ipv4Addr::new(10, 1, 1, 99);
    let (v, _) = h.send(client.port, &testkit::ping(&a, 1, 1));
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SourceDestCheck(_))),
        "{v:?}"
    );
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let mut h = lab();
    let client = h.host("ClientA");
    let good = testkit::ping(&h.from(&client, client.gateway), 1, 1);
    for bad in [&good[..10], &good[..20], &good[..30]] {
        let (v, _) = h.send(client.port, bad);
        assert_eq!(v, Verdict::Dropped(DropReason::Malformed));
    }
    let mut buf = vec![0u8; 4]; // shorter than the vnet header
    let v = h.router.process(h.now, client.port, &mut buf, &mut h.sink);
    assert_eq!(v, Verdict::Dropped(DropReason::Malformed));
    let v = h
        .router
        .process(h.now, PortId(9999), &mut good.clone(), &mut h.sink);
    assert_eq!(v, Verdict::Dropped(DropReason::UnknownPort(PortId(9999))));
    assert_eq!(h.router.counters().dropped(DropKind::Malformed), 4);
}

// ---- the internet gateway's hop and MTU -----------------------------------------

#[test]
fn ttl_running_out_at_the_internet_gateway_gets_time_exceeded() {
    let mut h = lab();
    let client = h.host("ClientA");
    let mut a = h.from(&client, INTERNET_HOST);
    a.ttl = 1;
    let (v, sent) = h.send(client.port, &testkit::ping(&a, 1, 1));
    assert_eq!(v, Verdict::Dropped(DropReason::TtlExceeded));
    let out = only(&sent, client.port);
    let (src, dst, _) = ip_src_dst(&out.frame);
    assert_eq!((src, dst), (INTERNET_GATEWAY_IP, client.ip));
    assert_checksums_ok(&out.frame);
    let p = SlicedPacket::from_ethernet(&out.frame).unwrap();
    let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
        panic!("not ICMP")
    };
    assert_eq!(icmp.type_u8(), 11);
}

#[test]
fn too_big_for_the_internet_gateway_gets_fragmentation_needed_or_is_fragmented() {
    let mut h = lab();
    let client = h.host("ClientA");
    let a = h.from(&client, INTERNET_HOST);
    let big = testkit::udp(&a, 5000, 9000, &[7u8; 3000]);
    // etherparse sets DF: Fragmentation Needed with MTU 1500.
    let (v, sent) = h.send(client.port, &big);
    assert_eq!(v, Verdict::Dropped(DropReason::MtuExceeded));
    let out = only(&sent, client.port);
    assert_checksums_ok(&out.frame);
    let l4 = &testkit::ip_of(&out.frame)[20..];
    assert_eq!(
        (l4[0], l4[1]),
        (3, 4),
        "destination unreachable, fragmentation needed"
    );
    assert_eq!(u16::from_be_bytes([l4[6], l4[7]]), 1500, "next-hop MTU");

    // DF clear: fragments of at most 1500 bytes whose payloads add up.
    let mut nodf = big.clone();
    nodf[14 + 6] &= !0x40;
    checksum::fill_ipv4_header_checksum(&mut nodf[14..]).unwrap();
    let (v, sent) = h.send(client.port, &nodf);
    assert_eq!(v, Verdict::Forwarded(h.internet()));
    assert_eq!(sent.len(), 3);
    let mut total = 0;
    for s in &sent {
        let ip = testkit::ip_of(&s.frame);
        assert!(ip.len() <= 1500);
        assert!(checksum::ipv4_header_checksum_ok(ip));
        total += ip.len() - 20;
    }
    assert_eq!(total, 8 + 3000);
}

#[test]
fn larger_than_the_vpcs_9001_byte_mtu_is_dropped_with_fragmentation_needed() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let a = h.from(&client, server.ip);
    // 9001 bytes of IP (28 of IP and UDP headers): not dropped for its size.
    let fits = testkit::udp(&a, 5000, 9000, &vec![7u8; 9001 - 28]);
    let (v, _) = h.send(client.port, &fits);
    assert_ne!(v, Verdict::Dropped(DropReason::VpcMtuExceeded));
    assert_ne!(v, Verdict::Dropped(DropReason::Malformed));
    // 9004 bytes with DF set (etherparse sets it): dropped, Fragmentation Needed, MTU 9001.
    let big = testkit::udp(&a, 5000, 9000, &vec![7u8; 9004 - 28]);
    let (v, sent) = h.send(client.port, &big);
    assert_eq!(v, Verdict::Dropped(DropReason::VpcMtuExceeded));
    let out = only(&sent, client.port);
    assert_checksums_ok(&out.frame);
    let l4 = &testkit::ip_of(&out.frame)[20..];
    assert_eq!((l4[0], l4[1]), (3, 4), "fragmentation needed");
    assert_eq!(u16::from_be_bytes([l4[6], l4[7]]), 9001, "next-hop MTU");
    // DF clear: dropped all the same, and nothing is sent.
    let mut nodf = big.clone();
    nodf[14 + 6] &= !0x40;
    checksum::fill_ipv4_header_checksum(&mut nodf[14..]).unwrap();
    let (v, sent) = h.send(client.port, &nodf);
    assert_eq!(v, Verdict::Dropped(DropReason::VpcMtuExceeded));
    assert!(sent.is_empty(), "{sent:?}");
}

// ---- GSO and partial checksums ----------------------------------------------------

/// A TSO super-frame as a TAP hands it over: `NEEDS_CSUM`, the L4 checksum
/// field holding the pseudo-header sum, `gso_size` the MSS.
fn tso_frame(a: &Addrs, sport: u16, dport: u16, payload: usize, mss: u16) -> (VnetHdr, Vec<u8>) {
    let body: Vec<u8> = (0..payload).map(|i| (i % 251) as u8).collect();
    let mut frame = testkit::tcp(a, sport, dport, Flags::ACK, &body);
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let l4_len = ip.len() - ihl;
    let pseudo = checksum::pseudo_v4(a.src, a.dst, 6, l4_len as u16);
    let csum_at = 14 + ihl + 16;
    frame[csum_at..csum_at + 2].copy_from_slice(&pseudo.to_be_bytes());
    let vnet = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type: gso_type::TCPV4,
        hdr_len: (14 + ihl + 20) as u16,
        gso_size: mss,
        csum_start: (14 + ihl) as u16,
        csum_offset: 16,
        num_buffers: 0,
    };
    (vnet, frame)
}

#[test]
fn a_gso_super_frame_is_forwarded_whole_with_its_header() {
    let mut h = lab();
    let client = h.host("ClientA");
    let other = h.host("NoPublicA");
    let (vnet, frame) = tso_frame(&h.from(&client, other.ip), 40000, 22, 60_000, 8949);
    let (v, sent) = h.send_vnet(client.port, &vnet, &frame);
    assert_eq!(v, Verdict::Forwarded(other.port));
    let out = only(&sent, other.port);
    assert_eq!(out.vnet, vnet, "the virtio header passes through");
    assert_eq!(out.frame.len(), frame.len());
    assert_eq!(&out.frame[12..], &frame[12..], "only the MACs change");
}

#[test]
fn nat_of_a_partial_checksum_frame_completes_to_the_right_checksum() {
    let mut h = lab();
    let client = h.host("ClientA");
    let (vnet, frame) = tso_frame(&h.from(&client, INTERNET_HOST), 40000, 80, 20_000, 1448);
    let (v, sent) = h.send_vnet(client.port, &vnet, &frame);
    assert_eq!(v, Verdict::Forwarded(h.internet()));
    let out = only(&sent, h.internet());
    assert_eq!(
        out.vnet.gso_size, 1448,
        "segments fit 1500: forwarded whole"
    );
    let mut done = out.frame.clone();
    checksum::complete_partial(&mut done, usize::from(vnet.csum_start), 16).unwrap();
    let completed = u16::from_be_bytes([done[14 + 20 + 16], done[14 + 20 + 17]]);
    let mut recomputed = done.clone();
    let (src, dst, _) = ip_src_dst(&done);
    assert_eq!(src, client.public.unwrap());
    let l4_len = recomputed.len() - 34;
    let pseudo = checksum::pseudo_v4(src, dst, 6, l4_len as u16);
    let full = checksum::fill_l4_checksum(&mut recomputed[34..], 6, pseudo).unwrap();
    assert_eq!(
        completed, full,
        "incremental partial update == full recompute"
    );
}

#[test]
fn a_gso_frame_to_a_service_is_segmented_with_full_checksums() {
    let mut h = seed2();
    let private = h.host("CloudNetaPrivateEC2");
    let s3: Ipv4Addr = h.lab.region().gateway_service("s3").unwrap().ips()[0];
    let endpoint = h.lab.vpc_endpoints[0].id.clone();
    let ep = h
        .snap()
        .port_of(&PortKind::Service(ServicePort::GatewayEndpoint {
            vpce: endpoint,
        }))
        .unwrap();
    let (vnet, frame) = tso_frame(&h.from(&private, s3), 40000, 80, 10_000, 1000);
    let (v, sent) = h.send_vnet(private.port, &vnet, &frame);
    assert_eq!(v, Verdict::Delivered(ep));
    assert_eq!(sent.len(), 10);
    let mut payload = 0;
    for s in &sent {
        assert_eq!(s.vnet, VnetHdr::PLAIN);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&0x0800u16.to_be_bytes());
        eth.extend_from_slice(&s.frame);
        assert_checksums_ok(&eth);
        payload += s.frame.len() - 40;
    }
    assert_eq!(payload, 10_000);
}

// ---- properties -----------------------------------------------------------------------

proptest! {
    /// SNAT then DNAT back restores every byte, checksums included, for full
    /// and partial L4 checksums, TCP and UDP.
    #[test]
    fn nat_round_trip_restores_the_frame(
        src in any::<u32>(), dst in any::<u32>(), public in any::<u32>(),
        sport in any::<u16>(), dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        udp in any::<bool>(), partial in any::<bool>(),
    ) {
        let a = Addrs::new([2; 6], [4; 6], Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let mut frame = if udp {
            testkit::udp(&a, sport, dport, &payload)
        } else {
            testkit::tcp(&a, sport, dport, Flags::ACK, &payload)
        };
        if partial {
            let l4_len = frame.len() - 34;
            let pseudo = checksum::pseudo_v4(a.src, a.dst, if udp { 17 } else { 6 }, l4_len as u16);
            let at = 34 + if udp { 6 } else { 16 };
            frame[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
        }
        let mode = if partial { L4Csum::Partial } else { L4Csum::Full };
        let original = frame.clone();
        let old = checksum::ipv4_rewrite_addr(&mut frame[14..], AddrField::Src, Ipv4Addr::from(public), mode).unwrap();
        prop_assert_eq!(old, a.src);
        checksum::ipv4_rewrite_addr(&mut frame[14..], AddrField::Src, old, mode).unwrap();
        prop_assert_eq!(frame, original);
    }

    /// Arbitrary bytes on any port never panic, and every frame gets a verdict
    /// that the counters add up to.
    #[test]
    fn arbitrary_frames_never_panic(
        frames in proptest::collection::vec((0u32..8, proptest::collection::vec(any::<u8>(), 0..200)), 1..40)
    ) {
        let mut h = lab();
        for (port, bytes) in &frames {
            let mut buf = bytes.clone();
            h.router.process(h.now, PortId(*port), &mut buf, &mut h.sink);
        }
        let c = h.router.counters();
        prop_assert_eq!(
            c.forwarded + c.delivered + c.answered + c.dropped_total(),
            frames.len() as u64
        );
    }
}
