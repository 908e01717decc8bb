use super::*;
use crate::dataplane::testkit::{self, Harness};
use crate::dataplane::verdict::DropReason;
use crate::model::RouteTarget;

fn seed2() -> Lab {
    crate::template::load(
        include_str!("../../../templates/seed2-gateway-endpoint.yaml"),
        &crate::template::Options::default(),
    )
    .expect("seed-2 loads")
}

fn packet(comment: &str, frame: Vec<u8>) -> Packet {
    Packet {
        iface: 1,
        out: true,
        unix_nanos: 1_700_000_000_123_456_789,
        vnet: [1, 1, 0, 54, 0x05, 0xb4, 0, 34, 0, 16],
        comment: comment.into(),
        frame,
        dropped: 7,
    }
}

#[test]
fn records_round_trip_through_a_decoder_fed_in_pieces() {
    let records = [
        Record::Packet(packet(
            "in from eni-1 (A): answered by the router",
            vec![9; 1500],
        )),
        Record::Idle { dropped: 3 },
        Record::Packet(packet("", Vec::new())),
    ];
    let mut bytes = Vec::new();
    for r in &records {
        r.encode(&mut bytes);
    }
    // Fed 7 bytes at a time, as a socket read with a timeout may cut it anywhere.
    let mut d = Decoder::new();
    let mut got = Vec::new();
    for piece in bytes.chunks(7) {
        d.push(piece);
        while let Some(r) = d.next_record().unwrap() {
            got.push(r);
        }
    }
    assert_eq!(got, records);
    assert_eq!(d.next_record(), Ok(None));
}

#[test]
fn a_record_longer_than_the_limit_is_refused_and_a_long_comment_cut() {
    let mut d = Decoder::new();
    d.push(&((MAX_RECORD + 1) as u32).to_le_bytes());
    assert_eq!(d.next_record(), Err(StreamError::TooLong(MAX_RECORD + 1)));

    let mut d = Decoder::new();
    d.push(&[3, 0, 0, 0, 9, 9, 9]);
    assert!(matches!(
        d.next_record(),
        Err(StreamError::Malformed { kind: 9, len: 3 })
    ));

    // A comment over the limit is cut at a character boundary; the whole stays decodable.
    let long = "é".repeat(MAX_COMMENT);
    let mut bytes = Vec::new();
    Record::Packet(packet(&long, vec![1; 65_535 + 14])).encode(&mut bytes);
    assert!(bytes.len() <= MAX_RECORD + 4);
    let mut d = Decoder::new();
    d.push(&bytes);
    let Some(Record::Packet(p)) = d.next_record().unwrap() else {
        panic!("no packet")
    };
    assert!(p.comment.len() <= MAX_COMMENT && p.comment.chars().all(|c| c == 'é'));
    assert_eq!(p.frame.len(), 65_535 + 14);
}

#[test]
fn targets_name_their_ports_and_an_unknown_one_says_what_is_capturable() {
    let lab = seed2();
    let snap = Snapshot::build(&lab, None).unwrap();
    let private = lab
        .instances
        .iter()
        .find(|i| i.name() == "CloudNetaPrivateEC2")
        .unwrap();
    for name in [
        "CloudNetaPrivateEC2",
        "CloudNeta-Private-EC2",
        private.id.as_str(),
    ] {
        let t = resolve_target(&lab, &snap, name).unwrap();
        assert!(t.addrs.is_empty(), "an instance is its port: {t:?}");
        let ports = t.ports;
        assert_eq!(ports.len(), 1, "{name}");
        assert_eq!(ports[0].1, format!("{} (CloudNetaPrivateEC2)", private.eni));
        assert_eq!(
            snap.port(ports[0].0).map(|p| &p.kind),
            Some(&PortKind::Eni(private.eni.clone()))
        );
    }
    let by_eni = resolve_target(&lab, &snap, private.eni.as_str()).unwrap();
    assert_eq!(
        by_eni.ports[0].0,
        resolve_target(&lab, &snap, "CloudNetaPrivateEC2")
            .unwrap()
            .ports[0]
            .0
    );

    let internet = resolve_target(&lab, &snap, "internet").unwrap().ports;
    assert_eq!(internet, vec![(snap.internet_port, "internet".to_string())]);
    let igw = resolve_target(&lab, &snap, "igw").unwrap().ports;
    assert_eq!(igw.len(), 2, "{igw:?}");
    let igw_id = lab.internet_gateways[0].id.to_string();
    assert_eq!(resolve_target(&lab, &snap, &igw_id).unwrap().ports, igw);

    let vpce = lab.vpc_endpoints[0].id.to_string();
    let t = resolve_target(&lab, &snap, &vpce).unwrap();
    assert!(t.addrs.is_empty(), "a gateway endpoint is a port: {t:?}");
    let ports = t.ports;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].1, format!("{vpce} (gateway endpoint)"));

    let e = resolve_target(&lab, &snap, "web9").unwrap_err();
    assert!(e.contains("no instance 'web9'"), "{e}");
    assert!(
        e.contains("Capturable: CloudNetaPublicEC2, CloudNetaPrivateEC2"),
        "{e}"
    );
    assert!(e.contains("igw, internet"), "{e}");
    let e = resolve_target(&lab, &snap, "eni-0123").unwrap_err();
    assert!(e.contains("no network interface 'eni-0123'"), "{e}");
    let e = resolve_target(&lab, &snap, "nlb").unwrap_err();
    assert!(e.contains("no load balancer"), "{e}");
}

#[test]
fn comments_say_the_verdict_and_the_route_in_the_routers_words() {
    let mut h = Harness::new(seed2());
    let a = h.host("CloudNetaPublicEC2");
    let b = h.host("CloudNetaPrivateEC2");
    let lab = h.lab.clone();
    let names: Vec<String> = h
        .snap()
        .ports
        .iter()
        .map(|p| port_name(&lab, &p.kind))
        .collect();
    let name = |p: PortId| names[p.ix()].clone();
    let snap = h.snap();
    let rtb = &snap.route_tables;
    let local = rtb
        .iter()
        .enumerate()
        .find_map(|(i, t)| {
            t.routes
                .iter()
                .position(|(_, target)| *target == RouteTarget::Local)
                .map(|r| (RtIx(u32::try_from(i).unwrap()), r))
        })
        .unwrap();
    let entry = Entry {
        hop: crate::dataplane::route::Hop::Local,
        route: u16::try_from(local.1).unwrap(),
        prefix_list: false,
    };
    let route = route_text(snap, local.0, &entry).unwrap();
    assert_eq!(
        route,
        format!("{} route 10.0.0.0/16 local", rtb[local.0.ix()].id)
    );
    let fwd = Verdict::Forwarded(b.port);
    assert_eq!(
        comment(snap, &name, a.port, false, a.port, &fwd, Some(&route)),
        format!(
            "in from {}: forwarded to {} by {route}",
            name(a.port),
            name(b.port)
        )
    );
    assert_eq!(
        comment(snap, &name, b.port, true, a.port, &fwd, Some(&route)),
        format!(
            "out to {}: forwarded from {} by {route}",
            name(b.port),
            name(a.port)
        )
    );
    assert!(name(b.port).ends_with("(CloudNetaPrivateEC2)"));
    assert_eq!(
        comment(snap, &name, a.port, true, a.port, &Verdict::Answered, None),
        format!("out to {}: answered by the router", name(a.port))
    );
    let crate::dataplane::topology::Role::Eni(eni) = snap.role(b.port) else {
        panic!("not an ENI port")
    };
    let denied = Verdict::Dropped(DropReason::SgIngressDenied(eni));
    let c = comment(snap, &name, a.port, false, a.port, &denied, None);
    let private_eni = lab
        .instances
        .iter()
        .find(|i| i.name() == "CloudNetaPrivateEC2")
        .unwrap()
        .eni
        .clone();
    assert!(
        c.starts_with(&format!(
            "in from {}: dropped: SgIngressDenied (no inbound rule of {private_eni} (10.0.1.",
            name(a.port),
        )) && c.ends_with(") allows it)"),
        "{c}"
    );
    // A frame the router sent to another port than the verdict's (an ICMP error): said so.
    let ttl = Verdict::Dropped(DropReason::TtlExceeded);
    let c = comment(snap, &name, a.port, true, b.port, &ttl, None);
    assert_eq!(
        c,
        format!(
            "out to {}: sent by the router for a frame in from {} that was dropped: TtlExceeded (TTL exceeded at the internet gateway)",
            name(a.port),
            name(b.port)
        )
    );
    // The harness's own router agrees on what a ping between them is.
    let (v, _) = h.send(a.port, &testkit::ping(&h.from(&a, b.ip), 1, 1));
    assert_eq!(v, Verdict::Forwarded(b.port));
}

#[test]
fn an_interface_without_a_device_is_captured_by_its_addresses() {
    let lab = crate::template::load(
        include_str!("../../../templates/interface-endpoint.yaml"),
        &crate::template::Options::default(),
    )
    .expect("lab 3 loads");
    let snap = Snapshot::build(&lab, None).unwrap();
    let vpce = &lab.vpc_endpoints[0];
    let t = resolve_target(&lab, &snap, vpce.id.as_str()).unwrap();
    let enis: Vec<_> = lab
        .network_interfaces
        .iter()
        .filter(|e| matches!(&e.owner, EniOwner::InterfaceEndpoint(v) if *v == vpce.id))
        .collect();
    assert_eq!(enis.len(), 2, "one network interface per subnet");
    for e in enis {
        let port = snap.port_of(&PortKind::Eni(e.id.clone())).unwrap();
        assert!(
            t.ports.contains(&(port, format!("{} ({})", e.id, vpce.id))),
            "{t:?}"
        );
        assert!(t.addrs.contains(&(e.private_ip, port)), "{t:?}");
    }
}
