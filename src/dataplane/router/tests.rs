//! The router's contract on a small lab (two subnets, an internet gateway for one): it
//! forwards across subnets, drops with the reason that names the rule, and answers ARP.
//! The full scenarios are in `tests/router.rs`.

use core::net::Ipv4Addr;

use crate::dataplane::testkit::{self, Harness};
use crate::dataplane::topology::PortId;
use crate::dataplane::verdict::{DropKind, DropReason, Verdict};
use crate::template::{self, Options};

fn lab() -> Harness {
    let lab = template::load(
        include_str!("../../../tests/fixtures/router-lab.yaml"),
        &Options::default(),
    )
    .expect("the fixture loads");
    Harness::new(lab)
}

#[test]
fn forwards_across_subnets_rewriting_only_the_macs() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let frame = testkit::ping(&h.from(&client, server.ip), 7, 1);
    let (v, sent) = h.send(client.port, &frame);
    assert_eq!(v, Verdict::Forwarded(server.port));
    assert_eq!(sent.len(), 1);
    let out = &sent[0].frame;
    assert_eq!(out[..6], server.mac, "to the server's MAC");
    assert_eq!(out[6..12], h.router_mac(), "from the router");
    assert_eq!(out[12..], frame[12..], "the packet itself is untouched");
}

#[test]
fn drops_name_the_rule_and_are_counted() {
    let mut h = lab();
    let client = h.host("ClientA");
    let no_public = h.host("NoPublicA");
    let server = h.host("ServerB");
    // The server's group lets nothing out of its own.
    let (v, sent) = h.send(
        server.port,
        &testkit::ping(&h.from(&server, client.ip), 1, 1),
    );
    let e = h.snap().eni_by_ip(client_vpc(&h), server.ip).unwrap();
    assert_eq!(v, Verdict::Dropped(DropReason::SgEgressDenied(e)));
    assert!(sent.is_empty());
    // No public address: the internet gateway cannot translate it.
    let internet = Ipv4Addr::new(198, 51, 100, 7);
    let (v, _) = h.send(
        no_public.port,
        &testkit::ping(&h.from(&no_public, internet), 1, 1),
    );
    let e = h.snap().eni_by_ip(client_vpc(&h), no_public.ip).unwrap();
    assert_eq!(v, Verdict::Dropped(DropReason::NoPublicIp(e)));
    // A port the lab does not have.
    let (v, _) = h.send(
        PortId(9999),
        &testkit::ping(&h.from(&client, server.ip), 1, 1),
    );
    assert_eq!(v, Verdict::Dropped(DropReason::UnknownPort(PortId(9999))));
    // Not IPv4 or ARP.
    let mut v6 = testkit::ping(&h.from(&client, server.ip), 1, 1);
    v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let (v, _) = h.send(client.port, &v6);
    assert_eq!(
        v,
        Verdict::Dropped(DropReason::UnsupportedEtherType(0x86dd))
    );
    let c = h.router.counters();
    assert_eq!(c.dropped(DropKind::SgEgressDenied), 1);
    assert_eq!(c.dropped(DropKind::NoPublicIp), 1);
}

fn client_vpc(h: &Harness) -> crate::dataplane::topology::VpcIx {
    h.snap().enis[0].vpc
}

#[test]
fn answers_arp_for_the_subnet_router_in_place() {
    let mut h = lab();
    let client = h.host("ClientA");
    let request = testkit::arp_request(client.mac, client.ip, client.gateway);
    let (v, sent) = h.send(client.port, &request);
    assert_eq!(v, Verdict::Answered);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].port, client.port, "back where it came from");
    let reply = &sent[0].frame;
    assert_eq!(reply.len(), 14 + 28);
    assert_eq!(reply[..6], client.mac);
    assert_eq!(reply[6..12], h.router_mac());
    assert_eq!(reply[14 + 6..14 + 8], [0, 2], "op: reply");
    assert_eq!(reply[14 + 8..14 + 14], h.router_mac(), "sender: the router");
    assert_eq!(reply[14 + 14..14 + 18], client.gateway.octets());
    assert_eq!(reply[14 + 18..14 + 24], client.mac, "target: the asker");
    assert_eq!(reply[14 + 24..14 + 28], client.ip.octets());
    // A reply is never answered.
    let mut reply_in = request.clone();
    reply_in[14 + 7] = 2;
    let (v, sent) = h.send(client.port, &reply_in);
    assert_eq!(v, Verdict::Dropped(DropReason::ArpIgnored));
    assert!(sent.is_empty());
    // Cut short: malformed.
    let (v, _) = h.send(client.port, &request[..30]);
    assert_eq!(v, Verdict::Dropped(DropReason::Malformed));
}

/// The flow-log entries of the ENI at `ip`, drained from the router.
fn flow_entries(h: &mut Harness, ip: Ipv4Addr) -> Vec<crate::dataplane::flowlog::FlowEntry> {
    let e = h.snap().eni_by_ip(client_vpc(h), ip).unwrap();
    let mut out = Vec::new();
    h.router.flow_table().drain(|x| out.push(x));
    out.retain(|x| x.key.eni == e);
    out.sort_by_key(|x| x.key.direction == FlowDirection::Egress);
    out
}

use crate::dataplane::flowlog::FlowDirection;

#[test]
fn flow_logs_a_security_group_gives_two_accepts() {
    // AWS's example: a ping into an instance whose group allows ICMP in but nothing out
    // is logged ACCEPT for the request and ACCEPT for the reply (groups are stateful).
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    for seq in 1..=3 {
        let (v, _) = h.send(
            client.port,
            &testkit::ping(&h.from(&client, server.ip), 9, seq),
        );
        assert_eq!(v, Verdict::Forwarded(server.port));
        let (v, _) = h.send(
            server.port,
            &testkit::pong(&h.from(&server, client.ip), 9, seq),
        );
        assert_eq!(v, Verdict::Forwarded(client.port));
    }
    let got = flow_entries(&mut h, server.ip);
    assert_eq!(got.len(), 2, "{got:#?}");
    let (req, reply) = (&got[0], &got[1]);
    assert_eq!(req.key.direction, FlowDirection::Ingress);
    assert_eq!((req.key.src, req.key.dst), (client.ip, server.ip));
    assert_eq!(reply.key.direction, FlowDirection::Egress);
    assert_eq!((reply.key.src, reply.key.dst), (server.ip, client.ip));
    assert!(req.key.accept && reply.key.accept, "two ACCEPTs: {got:#?}");
    assert_eq!(
        (req.packets, req.bytes),
        (3, 3 * 84),
        "summed over the window"
    );
    assert_eq!(
        (req.key.src_port, req.key.dst_port),
        (0, 0),
        "ICMP has no ports"
    );
    // The client's ENI logs the same two packets the other way round.
    h.send(
        client.port,
        &testkit::ping(&h.from(&client, server.ip), 9, 4),
    );
    let got = flow_entries(&mut h, client.ip);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key.direction, FlowDirection::Egress);
}

#[test]
fn flow_logs_a_network_acl_gives_an_accept_and_a_reject() {
    // AWS's example: a subnet ACL that allows ICMP in but not out logs the request
    // ACCEPT and the reply REJECT on the instance's ENI.
    let text = format!(
        "{}{}",
        include_str!("../../../tests/fixtures/router-lab.yaml"),
        r"
  AclB:
    Type: AWS::EC2::NetworkAcl
    Properties:
      VpcId: !Ref Vpc
  AclBIcmpIn:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref AclB
      RuleNumber: 100
      Protocol: 1
      RuleAction: allow
      Egress: false
      CidrBlock: 0.0.0.0/0
      Icmp: {Code: -1, Type: -1}
  AclBAssoc:
    Type: AWS::EC2::SubnetNetworkAclAssociation
    Properties:
      SubnetId: !Ref SubnetB
      NetworkAclId: !Ref AclB
"
    );
    let lab = template::load(&text, &Options::default()).expect("the lab loads");
    let mut h = Harness::new(lab);
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let (v, _) = h.send(
        client.port,
        &testkit::ping(&h.from(&client, server.ip), 9, 1),
    );
    assert_eq!(v, Verdict::Forwarded(server.port));
    let (v, _) = h.send(
        server.port,
        &testkit::pong(&h.from(&server, client.ip), 9, 1),
    );
    assert!(
        matches!(v, Verdict::Dropped(DropReason::NaclOutDenied { .. })),
        "{v:?}"
    );
    let got = flow_entries(&mut h, server.ip);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].key.direction, FlowDirection::Ingress);
    assert!(got[0].key.accept, "the request: ACCEPT");
    assert_eq!(got[1].key.direction, FlowDirection::Egress);
    assert!(!got[1].key.accept, "the reply: REJECT");
    assert!(matches!(
        got[1].reason,
        Some(DropReason::NaclOutDenied { .. })
    ));
}

#[test]
fn flow_logs_leave_out_amazon_dns() {
    let mut h = lab();
    let client = h.host("ClientA");
    let dns = h.snap().vpc(client_vpc(&h)).unwrap().dns;
    h.send(
        client.port,
        &testkit::udp(&h.from(&client, dns), 40000, 53, b"q"),
    );
    h.send(
        client.port,
        &testkit::ping(&h.from(&client, client.gateway), 1, 1),
    );
    assert!(flow_entries(&mut h, client.ip).is_empty());
}
