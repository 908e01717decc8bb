//! The contract of [`Snapshot::build`] on a small lab: two subnets of one VPC, an internet
//! gateway for one of them, three instances.

use super::*;
use crate::dataplane::route::Hop;
use crate::template::{self, Options};

/// The router's scenario lab (`tests/fixtures/router-lab.yaml`).
fn lab() -> Lab {
    template::load(
        include_str!("../../../tests/fixtures/router-lab.yaml"),
        &Options::default(),
    )
    .expect("the fixture loads")
}

fn subnet_ix(snap: &Snapshot, lab: &Lab, logical_id: &str) -> SubnetIx {
    let id = &lab
        .subnets
        .iter()
        .find(|s| s.origin.logical_id.as_deref() == Some(logical_id))
        .expect("subnet")
        .id;
    ix(position(&snap.subnets, |s| &s.id == id).expect("compiled subnet"))
}

#[test]
fn two_subnets_compile_into_ports_enis_and_their_routers() {
    let lab = lab();
    let snap = Snapshot::build(&lab, None).unwrap();
    assert_eq!(snap.vpcs.len(), 1);
    assert_eq!(snap.vpcs[0].dns, Ipv4Addr::new(10, 1, 0, 2), "base + 2");
    assert!(snap.vpcs[0].igw.is_some());
    assert_eq!(snap.subnets.len(), 2);
    for (s, router) in snap.subnets.iter().zip([[10, 1, 1, 1], [10, 1, 2, 1]]) {
        assert_eq!(s.router_ip, Ipv4Addr::from(router), "{}", s.id);
        assert_eq!(s.vpc, VpcIx(0));
    }
    // One TAP port per instance's ENI, found by its private address.
    assert_eq!(snap.enis.len(), 3);
    for i in &lab.instances {
        let e = snap
            .eni_by_ip(VpcIx(0), i.private_ip)
            .expect("ENI by address");
        let eni = snap.eni(e).unwrap();
        assert_eq!(eni.id, i.eni);
        assert_eq!(snap.role(eni.port), Role::Eni(e));
        let port = snap.port(eni.port).unwrap();
        assert_eq!(port.framing, Framing::Tap);
        assert_eq!(port.kind, PortKind::Eni(i.eni.clone()));
        if let Some(public) = i.public_ip {
            assert_eq!(snap.eni_by_public_ip(public), Some(e));
        }
    }
    // The service sides are bare-IP ports with their roles.
    assert_eq!(snap.role(snap.internet_port), Role::Internet);
    assert_eq!(snap.role(snap.region_port), Role::Region);
    let amazon = snap.vpcs[0].amazon_port;
    assert_eq!(snap.role(amazon), Role::AmazonProvided(VpcIx(0)));
    assert_eq!(snap.port(amazon).unwrap().framing, Framing::Ip);
}

#[test]
fn each_subnet_gets_its_route_table() {
    let lab = lab();
    let snap = Snapshot::build(&lab, None).unwrap();
    let hop = |subnet: SubnetIx, dst: [u8; 4]| {
        let rt = snap.subnet(subnet).unwrap().route_table;
        snap.route_tables[rt.ix()]
            .table
            .lookup(Ipv4Addr::from(dst))
            .map(|e| e.hop)
    };
    let (a, b) = (
        subnet_ix(&snap, &lab, "SubnetA"),
        subnet_ix(&snap, &lab, "SubnetB"),
    );
    assert_eq!(hop(a, [8, 8, 8, 8]), Some(Hop::InternetGateway));
    assert_eq!(hop(a, [10, 1, 2, 9]), Some(Hop::Local));
    // SubnetB has the main table: the local route only.
    assert_eq!(hop(b, [10, 1, 1, 9]), Some(Hop::Local));
    assert_eq!(hop(b, [8, 8, 8, 8]), None);
}

#[test]
fn a_rebuilt_snapshot_keeps_its_port_ids() {
    let mut lab = lab();
    let first = Snapshot::build(&lab, None).unwrap();
    let gone = lab.instances.remove(0).eni;
    lab.network_interfaces.retain(|e| e.id != gone);
    let second = Snapshot::build(&lab, Some(&first)).unwrap();
    assert_eq!(second.ports.len(), first.ports.len(), "nothing renumbered");
    for (i, (a, b)) in first.ports.iter().zip(&second.ports).enumerate() {
        assert_eq!(a.kind, b.kind, "port {i}");
        assert_eq!(b.active, a.kind != PortKind::Eni(gone.clone()), "port {i}");
    }
    let p = first.port_of(&PortKind::Eni(gone.clone())).unwrap();
    assert_eq!(second.role(p), Role::Inactive);
    assert_eq!(second.port_of(&PortKind::Eni(gone)), None);
}

#[test]
fn explain_names_the_aws_resources() {
    let lab = lab();
    let snap = Snapshot::build(&lab, None).unwrap();
    let rt = snap.subnets[1].route_table;
    let text = snap.explain(&DropReason::NoRoute(rt));
    assert!(
        text.contains(snap.route_tables[rt.ix()].id.as_str()),
        "{text}"
    );
    let e = EniIx(0);
    let text = snap.explain(&DropReason::SgEgressDenied(e));
    assert!(text.contains(snap.enis[0].id.as_str()), "{text}");
}
