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
