//! Scenario tests of the load balancer and interface endpoint stages of the router, on the
//! default lab (seed 1 labs 3 and 4): frames injected with a fake clock, what comes out
//! checked as a user would see it (who receives the packet, from which address, with
//! correct checksums), and every drop with its reason. No root: the router is sans-IO.

mod common;

use vpclab::dataplane::testkit::{Harness as H, Host};

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use vpclab::dataplane::checksum;
use vpclab::dataplane::testkit::{self, Addrs, Flags};
use vpclab::dataplane::topology::{PortId, PortKind, ServicePort};
use vpclab::dataplane::verdict::{DropKind, DropReason, Verdict};
use vpclab::dataplane::vnet::{flags, gso_type, VnetHdr};
use vpclab::model::change::{Change, RuleSpec};
use vpclab::model::{EndpointKind, EniOwner, Lab};

fn default_lab() -> Lab {
    common::load_file("templates/default.yaml")
}

/// What these tests read of the lab besides the harness's instances.
trait Elb {
    fn public_ip(&self, name: &str) -> Ipv4Addr;
    /// The interface endpoint `logical`'s ENI addresses, in subnet order.
    fn endpoint_ips(&self, logical: &str) -> Vec<Ipv4Addr>;
    /// Every load balancer node: private and public IP.
    fn nlb_nodes(&self) -> Vec<(Ipv4Addr, Option<Ipv4Addr>)>;
}

impl Elb for H {
    fn public_ip(&self, name: &str) -> Ipv4Addr {
        self.host(name).public.unwrap()
    }

    fn endpoint_ips(&self, logical: &str) -> Vec<Ipv4Addr> {
        let e = self
            .lab
            .vpc_endpoints
            .iter()
            .find(|e| e.origin.logical_id.as_deref() == Some(logical))
            .unwrap();
        let EndpointKind::Interface {
            network_interfaces, ..
        } = &e.kind
        else {
            panic!("not an interface endpoint")
        };
        network_interfaces
            .iter()
            .map(|id| self.lab.eni(id).unwrap().private_ip)
            .collect()
    }

    fn nlb_nodes(&self) -> Vec<(Ipv4Addr, Option<Ipv4Addr>)> {
        self.lab
            .network_interfaces
            .iter()
            .filter(|e| matches!(e.owner, EniOwner::LoadBalancer(_)))
            .map(|e| (e.private_ip, e.public_ip))
            .collect()
    }
}

fn parsed(ip: &[u8]) -> vpclab::dataplane::packet::Ipv4Info {
    vpclab::dataplane::packet::parse_ipv4(ip).expect("an IPv4 packet")
}

/// Whether the L4 checksum of `ip` is right (complete checksums).
fn l4_ok(ip: &[u8]) -> bool {
    let info = parsed(ip);
    let l4 = &ip[info.ihl..info.total_len];
    let pseudo = checksum::pseudo_v4(info.src, info.dst, info.protocol, l4.len() as u16);
    checksum::l4_checksum_ok(l4, pseudo) && checksum::ipv4_header_checksum_ok(ip)
}

#[test]
fn an_interface_endpoint_to_an_aws_service_reaches_its_service_port_and_the_answer_comes_back() {
    let mut h = H::new(default_lab());
    let private = h.host("CloudNetaPrivateEC2");
    let eni_ip = h.endpoint_ips("CloudFormationEndpoint")[1];
    let syn = testkit::tcp(&h.from(&private, eni_ip), 40000, 80, Flags::SYN, b"");
    let (v, out) = h.send(private.port, &syn);
    let Verdict::Delivered(port) = v else {
        panic!("{v:?}")
    };
    let snap = Arc::clone(h.router.snapshot());
    assert!(matches!(
        snap.port(port).unwrap().kind,
        PortKind::Service(ServicePort::InterfaceEndpoint { .. })
    ));
    assert_eq!(parsed(&out[0].frame).dst, eni_ip);
    // The service's SYN-ACK from the endpoint's address comes back to the instance.
    let answer = testkit::tcp(
        &Addrs::new([0; 6], [0; 6], eni_ip, private.ip),
        80,
        40000,
        Flags::SYN_ACK,
        b"",
    );
    let (v, out) = h.send_ip(port, &answer[14..]);
    assert_eq!(v, Verdict::Forwarded(private.port), "{v:?}");
    assert_eq!(parsed(testkit::ip_of(&out[0].frame)).src, eni_ip);
}

#[test]
fn an_endpoint_security_group_without_a_rule_for_the_port_refuses_and_says_which_group() {
    let mut h = H::new(default_lab());
    let public = h.host("CloudNetaPublicEC2");
    let eni_ip = h.endpoint_ips("CloudFormationEndpoint")[0];
    // EndpointSG allows 80 and 443 from the VPC: 8080 is refused at the endpoint's ENI.
    let syn = testkit::tcp(&h.from(&public, eni_ip), 40000, 8080, Flags::SYN, b"");
    let (v, out) = h.send(public.port, &syn);
    let Verdict::Dropped(d @ DropReason::SgIngressDenied(_)) = v else {
        panic!("{v:?}")
    };
    assert!(out.is_empty());
    let why = h.router.snapshot().explain(&d);
    let sg = h
        .lab
        .security_groups
        .iter()
        .find(|g| g.origin.logical_id.as_deref() == Some("EndpointSG"))
        .unwrap();
    assert!(why.contains(sg.id.as_str()), "{why}");
}

#[test]
fn packets_over_8500_bytes_toward_an_endpoint_are_dropped_and_counted() {
    let mut h = H::new(default_lab());
    let private = h.host("CloudNetaPrivateEC2");
    let eni_ip = h.endpoint_ips("CloudFormationEndpoint")[1];
    let a = h.from(&private, eni_ip);
    let big = testkit::tcp(&a, 40000, 80, Flags::ACK, &vec![0u8; 8600]);
    let (v, _) = h.send(private.port, &big);
    assert!(
        matches!(v, Verdict::Dropped(DropReason::EndpointMtuExceeded(_))),
        "{v:?}"
    );
    let ok = testkit::tcp(&a, 40000, 80, Flags::ACK, &vec![0u8; 8400]);
    let (v, _) = h.send(private.port, &ok);
    assert!(matches!(v, Verdict::Delivered(_)), "{v:?}");
    assert_eq!(
        h.router.counters().dropped(DropKind::EndpointMtuExceeded),
        1
    );
}

/// Sends a SYN from `from` to `dst:80` through the endpoint service; returns the target's
/// frame and the port it went to.
fn syn_through(
    h: &mut H,
    from: &Host,
    dst: Ipv4Addr,
    sport: u16,
    seq_salt: u8,
) -> (PortId, Vec<u8>) {
    let mut syn = testkit::tcp(&h.from(from, dst), sport, 80, Flags::SYN, &[]);
    // Vary the sequence number (part of the flow hash).
    syn[14 + 20 + 4] = seq_salt;
    let ip = &mut syn[14..];
    let info = parsed(ip);
    let l4_len = (info.total_len - info.ihl) as u16;
    let pseudo = checksum::pseudo_v4(info.src, info.dst, 6, l4_len);
    checksum::fill_l4_checksum(&mut ip[20..], 6, pseudo).unwrap();
    let (v, out) = h.send(from.port, &syn);
    let Verdict::Forwarded(p) = v else {
        panic!("{v:?}")
    };
    (p, out[0].frame.clone())
}

#[test]
fn privatelink_reaches_both_web_servers_from_the_nlb_nodes_address_and_back() {
    let mut h = H::new(default_lab());
    let client = h.host("CloudNetaPublicEC2");
    let web1 = h.host("WEB1");
    let web2 = h.host("WEB2");
    let nodes: Vec<Ipv4Addr> = h.nlb_nodes().iter().map(|n| n.0).collect();
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[0];
    let mut per_target: HashMap<PortId, u32> = HashMap::new();
    for i in 0..40u16 {
        let (port, frame) = syn_through(&mut h, &client, eni_ip, 41000 + i, i as u8);
        *per_target.entry(port).or_default() += 1;
        let ip = testkit::ip_of(&frame);
        let info = parsed(ip);
        assert!(
            nodes.contains(&info.src),
            "target sees a node's address, not {}",
            info.src
        );
        assert!(info.dst == web1.ip || info.dst == web2.ip);
        assert!(l4_ok(ip), "checksums after DNAT and SNAT");
        // The target answers; the client sees the endpoint's address.
        let target = if port == web1.port { web1 } else { web2 };
        let (sport, _) = info.l4.ports().unwrap();
        let a = Addrs::new(
            target.mac,
            h.router.snapshot().router_mac,
            info.dst,
            info.src,
        );
        let synack = testkit::tcp(&a, 80, sport, Flags::SYN_ACK, b"");
        let (v, out) = h.send(target.port, &synack);
        assert_eq!(v, Verdict::Forwarded(client.port), "{v:?}");
        let back = parsed(testkit::ip_of(&out[0].frame));
        assert_eq!(back.src, eni_ip);
        assert_eq!(back.l4.ports(), Some((80, 41000 + i)));
        assert!(l4_ok(testkit::ip_of(&out[0].frame)));
    }
    assert_eq!(per_target.len(), 2, "{per_target:?}");
    assert!(per_target.values().all(|&n| n >= 10), "{per_target:?}");
}

#[test]
fn a_flow_stays_pinned_to_its_target_across_gso_frames_with_partial_checksums() {
    let mut h = H::new(default_lab());
    let client = h.host("CloudNetaPrivateEC2");
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[1];
    let (port, first) = syn_through(&mut h, &client, eni_ip, 42000, 7);
    let target_ip = parsed(testkit::ip_of(&first)).dst;
    // A GSO super-frame of the same flow, partial checksum (as the kernel hands it over).
    let payload = vec![0x55u8; 6000];
    let mut frame = testkit::tcp(&h.from(&client, eni_ip), 42000, 80, Flags::ACK, &payload);
    let ip = &mut frame[14..];
    let info = parsed(ip);
    let l4_len = (info.total_len - info.ihl) as u16;
    let pseudo = checksum::pseudo_v4(info.src, info.dst, 6, l4_len);
    ip[36..38].copy_from_slice(&pseudo.to_be_bytes());
    let vnet = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type: gso_type::TCPV4,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
        num_buffers: 0,
    };
    for _ in 0..3 {
        let (v, out) = h.send_vnet(client.port, &vnet, &frame);
        assert_eq!(v, Verdict::Forwarded(port), "pinned to the first target");
        assert_eq!(out.len(), 1, "one super-frame out, not segments");
        assert_eq!(out[0].vnet.gso_size, 1448);
        let mut f = out[0].frame.clone();
        let ip = testkit::ip_of(&f);
        assert_eq!(parsed(ip).dst, target_ip);
        // Completing the partial checksum gives a correct segment checksum.
        checksum::complete_partial(&mut f, 34, 16).unwrap();
        assert!(l4_ok(testkit::ip_of(&f)));
    }
}

#[test]
fn an_unhealthy_target_gets_no_new_flows_and_all_unhealthy_fails_open() {
    let mut h = H::new(default_lab());
    let client = h.host("CloudNetaPublicEC2");
    let web1 = h.host("WEB1");
    let web2 = h.host("WEB2");
    let tg = h.lab.target_groups[0].arn.clone();
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[0];
    assert!(h.router.set_target_health(&tg, web1.ip, 80, true));
    assert!(h.router.set_target_health(&tg, web2.ip, 80, false));
    for i in 0..20u16 {
        let (port, _) = syn_through(&mut h, &client, eni_ip, 43000 + i, i as u8);
        assert_eq!(port, web1.port, "only the healthy target");
    }
    // WEB2 healthy again, WEB1 down: everything new to WEB2.
    h.router.set_target_health(&tg, web2.ip, 80, true);
    h.router.set_target_health(&tg, web1.ip, 80, false);
    for i in 0..20u16 {
        let (port, _) = syn_through(&mut h, &client, eni_ip, 44000 + i, i as u8);
        assert_eq!(port, web2.port);
    }
    // Both down: fail open, both get flows.
    h.router.set_target_health(&tg, web2.ip, 80, false);
    let mut seen = std::collections::HashSet::new();
    for i in 0..40u16 {
        seen.insert(syn_through(&mut h, &client, eni_ip, 45000 + i, i as u8).0);
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn pending_and_rejected_connections_pass_nothing_and_accepting_lets_traffic_through() {
    let mut lab = default_lab();
    let e = lab
        .vpc_endpoints
        .iter_mut()
        .find(|e| e.origin.logical_id.as_deref() == Some("WebServiceEndpoint"))
        .unwrap();
    e.state = "pendingAcceptance".into();
    let mut h = H::new(lab);
    let client = h.host("CloudNetaPublicEC2");
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[0];
    let syn = testkit::tcp(&h.from(&client, eni_ip), 46000, 80, Flags::SYN, b"");
    let (v, _) = h.send(client.port, &syn);
    assert!(
        matches!(v, Verdict::Dropped(DropReason::EndpointNotAccepted(_))),
        "{v:?}"
    );
    for state in ["rejected", "available"] {
        let e = h
            .lab
            .vpc_endpoints
            .iter_mut()
            .find(|e| e.origin.logical_id.as_deref() == Some("WebServiceEndpoint"))
            .unwrap();
        e.state = state.into();
        h.apply();
        let (v, _) = h.send(client.port, &syn);
        match state {
            "rejected" => assert!(matches!(
                v,
                Verdict::Dropped(DropReason::EndpointNotAccepted(_))
            )),
            _ => assert!(matches!(v, Verdict::Forwarded(_)), "{v:?}"),
        }
    }
}

#[test]
fn the_internet_reaches_an_internet_facing_nlb_and_the_target_sees_the_client() {
    let mut h = H::new(default_lab());
    let web1 = h.host("WEB1");
    let web2 = h.host("WEB2");
    let (_, public) = h.nlb_nodes()[0];
    let public = public.expect("internet-facing nodes have public IPs");
    let snap = Arc::clone(h.router.snapshot());
    let a = Addrs::new(
        snap.internet_host_mac,
        snap.router_mac,
        vpclab::model::catalog::INTERNET_HOST,
        public,
    );
    let syn = testkit::tcp(&a, 47000, 80, Flags::SYN, b"");
    let (v, out) = h.send(snap.internet_port, &syn);
    let Verdict::Forwarded(p) = v else {
        panic!("{v:?}")
    };
    assert!(p == web1.port || p == web2.port);
    let info = parsed(testkit::ip_of(&out[0].frame));
    assert_eq!(
        info.src,
        vpclab::model::catalog::INTERNET_HOST,
        "client IP preserved"
    );
    let target = if p == web1.port { web1 } else { web2 };
    let back = Addrs::new(target.mac, snap.router_mac, target.ip, info.src);
    let (v, out) = h.send(
        target.port,
        &testkit::tcp(&back, 80, 47000, Flags::SYN_ACK, b""),
    );
    assert_eq!(v, Verdict::Forwarded(snap.internet_port), "{v:?}");
    let back = parsed(testkit::ip_of(&out[0].frame));
    assert_eq!(
        back.src, public,
        "the answer comes from the node's public IP"
    );
    assert!(l4_ok(testkit::ip_of(&out[0].frame)));
}

#[test]
fn an_instance_reaches_another_vpcs_public_ip_through_both_internet_gateways() {
    let mut h = H::new(default_lab());
    let client = h.host("CloudNetaPublicEC2");
    let web1 = h.host("WEB1");
    let web1_public = h.public_ip("WEB1");
    let ping = testkit::ping(&h.from(&client, web1_public), 9, 1);
    let (v, out) = h.send(client.port, &ping);
    assert_eq!(v, Verdict::Forwarded(web1.port), "{v:?}");
    let info = parsed(testkit::ip_of(&out[0].frame));
    assert_eq!(info.src, h.public_ip("CloudNetaPublicEC2"));
    assert_eq!(info.dst, web1.ip);
    assert_eq!(info.ttl, 62, "two internet gateways, two hops");
    // And back.
    let a = Addrs::new(web1.mac, h.router.snapshot().router_mac, web1.ip, info.src);
    let (v, out) = h.send(web1.port, &testkit::pong(&a, 9, 1));
    assert_eq!(v, Verdict::Forwarded(client.port), "{v:?}");
    assert_eq!(parsed(testkit::ip_of(&out[0].frame)).src, web1_public);
}

#[test]
fn proxy_protocol_v2_sends_the_consumer_and_the_endpoint_id_first_and_shifts_the_stream() {
    let mut lab = default_lab();
    lab.target_groups[0]
        .attributes
        .insert("proxy_protocol_v2.enabled".into(), "true".into());
    let mut h = H::new(lab);
    let client = h.host("CloudNetaPublicEC2");
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[0];
    let vpce = h
        .lab
        .vpc_endpoints
        .iter()
        .find(|e| e.origin.logical_id.as_deref() == Some("WebServiceEndpoint"))
        .unwrap()
        .id
        .to_string();
    let (port, first) = syn_through(&mut h, &client, eni_ip, 48000, 1);
    let target = if port == h.host("WEB1").port {
        h.host("WEB1")
    } else {
        h.host("WEB2")
    };
    let syn = parsed(testkit::ip_of(&first));
    let (node_port, _) = syn.l4.ports().unwrap();
    // The target's SYN-ACK reaches the client unshifted.
    let back = Addrs::new(
        target.mac,
        h.router.snapshot().router_mac,
        target.ip,
        syn.src,
    );
    let (v, _) = h.send(
        target.port,
        &testkit::tcp(&back, 80, node_port, Flags::SYN_ACK, b""),
    );
    assert_eq!(v, Verdict::Forwarded(client.port));
    // The client's handshake ACK: the header segment goes first, then the ACK, shifted.
    let ack = testkit::tcp(&h.from(&client, eni_ip), 48000, 80, Flags::ACK, b"");
    let (v, out) = h.send(client.port, &ack);
    assert_eq!(v, Verdict::Forwarded(port));
    assert_eq!(out.len(), 2, "{out:?}");
    let hdr_ip = testkit::ip_of(&out[0].frame);
    assert!(l4_ok(hdr_ip));
    let info = parsed(hdr_ip);
    let payload = &hdr_ip[40..info.total_len];
    assert_eq!(&payload[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(
        &payload[16..20],
        &client.ip.octets(),
        "the consumer's address"
    );
    assert_eq!(&payload[20..24], &eni_ip.octets());
    assert!(payload.ends_with(vpce.as_bytes()), "the endpoint id TLV");
    let seq = |ip: &[u8]| u32::from_be_bytes([ip[24], ip[25], ip[26], ip[27]]);
    let shifted = testkit::ip_of(&out[1].frame);
    assert_eq!(seq(shifted), seq(hdr_ip) + payload.len() as u32);
    assert!(l4_ok(shifted));
    // The target acknowledges the header and the client's bytes; the client sees its own.
    let mut reply = testkit::tcp(&back, 80, node_port, Flags::ACK, b"");
    let ip = &mut reply[14..];
    let want = 1u32 + payload.len() as u32;
    ip[28..32].copy_from_slice(&want.to_be_bytes());
    let pseudo = checksum::pseudo_v4(target.ip, syn.src, 6, 20);
    checksum::fill_l4_checksum(&mut ip[20..], 6, pseudo).unwrap();
    let (v, out) = h.send(target.port, &reply);
    assert_eq!(v, Verdict::Forwarded(client.port));
    let to_client = testkit::ip_of(&out[0].frame);
    assert_eq!(
        u32::from_be_bytes([to_client[28], to_client[29], to_client[30], to_client[31]]),
        1
    );
    assert!(l4_ok(to_client));
}

#[test]
fn a_tcp_packet_of_no_known_flow_is_answered_with_a_reset() {
    let mut h = H::new(default_lab());
    let client = h.host("CloudNetaPublicEC2");
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[0];
    let data = testkit::tcp(&h.from(&client, eni_ip), 49000, 80, Flags::ACK, b"late");
    let (v, out) = h.send(client.port, &data);
    assert!(
        matches!(v, Verdict::Dropped(DropReason::NlbNoFlow(_))),
        "{v:?}"
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].port, client.port);
    let rst = testkit::ip_of(&out[0].frame);
    let info = parsed(rst);
    assert_eq!((info.src, info.dst), (eni_ip, client.ip));
    assert_eq!(info.l4.tcp_flags() & 0x04, 0x04);
    assert!(l4_ok(rst));
    // A reset gets no reset back.
    let reset = testkit::tcp(
        &h.from(&client, eni_ip),
        49000,
        80,
        Flags {
            rst: true,
            ..Flags::default()
        },
        b"",
    );
    let (_, out) = h.send(client.port, &reset);
    assert!(out.is_empty());
}

#[test]
fn with_cross_zone_off_each_endpoint_interface_reaches_the_targets_of_its_own_zone() {
    let mut lab = default_lab();
    lab.load_balancers[0].cross_zone = false;
    let mut h = H::new(lab);
    let client = h.host("CloudNetaPublicEC2");
    let (web1, web2) = (h.host("WEB1"), h.host("WEB2"));
    // Interface 0 is in the first AZ (WEB1's), interface 1 in the third (WEB2's).
    let ips = h.endpoint_ips("WebServiceEndpoint");
    for i in 0..20u16 {
        assert_eq!(
            syn_through(&mut h, &client, ips[0], 50000 + i, i as u8).0,
            web1.port
        );
        assert_eq!(
            syn_through(&mut h, &client, ips[1], 51000 + i, i as u8).0,
            web2.port
        );
    }
    // The target group's own attribute wins over the load balancer's.
    h.lab.target_groups[0]
        .attributes
        .insert("load_balancing.cross_zone.enabled".into(), "true".into());
    h.apply();
    let seen: std::collections::HashSet<PortId> = (0..40u16)
        .map(|i| syn_through(&mut h, &client, ips[0], 52000 + i, i as u8).0)
        .collect();
    assert_eq!(seen.len(), 2);
}

#[test]
fn udp_flows_are_pinned_and_come_back_from_the_endpoint() {
    let mut lab = default_lab();
    let tg = lab.target_groups[0].arn.clone();
    lab.target_groups[0].protocol = "UDP".into();
    lab.listeners[0].protocol = "UDP".into();
    let _ = tg;
    // The endpoint's and the web servers' groups allow TCP only: open UDP 80, as a user would.
    for group in ["EndpointSG", "WebSG"] {
        lab.apply(&Change::Authorize {
            group: group.into(),
            egress: false,
            rule: RuleSpec {
                protocol: "udp".into(),
                from_port: Some(80),
                to_port: Some(80),
                cidr: Some("0.0.0.0/0".into()),
                group: None,
                prefix_list: None,
            },
        })
        .unwrap();
    }
    let mut h = H::new(lab);
    let client = h.host("CloudNetaPrivateEC2");
    let eni_ip = h.endpoint_ips("WebServiceEndpoint")[1];
    let a = h.from(&client, eni_ip);
    let (v, first) = h.send(client.port, &testkit::udp(&a, 5353, 80, b"one"));
    let Verdict::Forwarded(port) = v else {
        panic!("{v:?}")
    };
    for _ in 0..5 {
        let (v, _) = h.send(client.port, &testkit::udp(&a, 5353, 80, b"again"));
        assert_eq!(v, Verdict::Forwarded(port), "one UDP flow, one target");
    }
    let info = parsed(testkit::ip_of(&first[0].frame));
    assert!(l4_ok(testkit::ip_of(&first[0].frame)));
    let target = if port == h.host("WEB1").port {
        h.host("WEB1")
    } else {
        h.host("WEB2")
    };
    let (sport, _) = info.l4.ports().unwrap();
    let back = Addrs::new(
        target.mac,
        h.router.snapshot().router_mac,
        target.ip,
        info.src,
    );
    let (v, out) = h.send(target.port, &testkit::udp(&back, 80, sport, b"answer"));
    assert_eq!(v, Verdict::Forwarded(client.port));
    let got = parsed(testkit::ip_of(&out[0].frame));
    assert_eq!((got.src, got.l4.ports()), (eni_ip, Some((80, 5353))));
    assert!(l4_ok(testkit::ip_of(&out[0].frame)));
}

#[test]
fn the_internet_hosts_dns_queries_reach_its_resolver_and_the_answers_come_back() {
    let mut h = H::new(default_lab());
    let snap = Arc::clone(h.router.snapshot());
    let resolver = vpclab::model::catalog::INTERNET_RESOLVER;
    let a = Addrs::new(
        snap.internet_host_mac,
        snap.router_mac,
        vpclab::model::catalog::INTERNET_HOST,
        resolver,
    );
    let (v, _) = h.send(snap.internet_port, &testkit::udp(&a, 40000, 53, b"query"));
    assert_eq!(v, Verdict::Delivered(snap.internet_dns_port));
    // Its answer goes to the internet host; ping of the gateway is still answered.
    let back = Addrs::new(
        [0; 6],
        [0; 6],
        resolver,
        vpclab::model::catalog::INTERNET_HOST,
    );
    let answer = testkit::udp(&back, 53, 40000, b"answer");
    let (v, _) = h.send_ip(snap.internet_dns_port, &answer[14..]);
    assert_eq!(v, Verdict::Forwarded(snap.internet_port));
    let (v, _) = h.send(snap.internet_port, &testkit::ping(&a, 1, 1));
    assert_eq!(v, Verdict::Answered);
}
