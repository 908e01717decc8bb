use super::*;
use crate::control::capture::{Decoder, Record};
use crate::dataplane::testkit::{self, Flags, Harness};
use crate::dataplane::verdict::DropReason;

fn seed2() -> crate::model::Lab {
    crate::template::load(
        include_str!("../../../templates/seed2-gateway-endpoint.yaml"),
        &crate::template::Options::default(),
    )
    .expect("seed-2 loads")
}

fn captured(port: u32, len: usize, snap: &Arc<Snapshot>) -> Captured {
    Captured {
        iface: PortId(port),
        port: PortId(port),
        out: false,
        ingress: PortId(port),
        unix_nanos: 0,
        vnet: [0; VNET_LEN],
        frame: vec![0; len],
        verdict: Verdict::Answered,
        route: None,
        snap: Arc::clone(snap),
    }
}

#[test]
fn a_full_queue_drops_and_counts_and_never_waits() {
    let snap = Arc::new(Snapshot::build(&seed2(), None).unwrap());
    let (tap, stream) = channel(1, &[PortId(2)], &[], 2, 1 << 20);
    assert!(tap.watches(PortId(2)) && !tap.watches(PortId(1)) && !tap.watches(PortId(99)));
    assert_eq!(tap.offer(captured(2, 100, &snap)), Offer::Queued);
    assert_eq!(tap.offer(captured(2, 100, &snap)), Offer::Queued);
    assert_eq!(tap.offer(captured(2, 100, &snap)), Offer::Dropped);
    assert_eq!(tap.offer(captured(2, 100, &snap)), Offer::Dropped);
    assert_eq!(stream.dropped(), 2);
    // Taking one makes room for one.
    assert!(stream.recv(Duration::ZERO).is_ok());
    assert_eq!(tap.offer(captured(2, 100, &snap)), Offer::Queued);
    assert_eq!(tap.offer(captured(2, 100, &snap)), Offer::Dropped);
    assert_eq!(stream.dropped(), 3);

    // The byte budget too: two 600-byte frames do not fit in 1000 bytes.
    let (tap, stream) = channel(2, &[PortId(0)], &[], 100, 1000);
    assert_eq!(tap.offer(captured(0, 600, &snap)), Offer::Queued);
    assert_eq!(tap.offer(captured(0, 600, &snap)), Offer::Dropped);
    assert_eq!(stream.dropped(), 1);
    assert!(stream.recv(Duration::ZERO).is_ok());
    assert_eq!(tap.offer(captured(0, 600, &snap)), Offer::Queued);

    // A stream that is gone closes the tap.
    drop(stream);
    assert_eq!(tap.offer(captured(0, 10, &snap)), Offer::Closed);
}

#[test]
fn the_loop_side_copies_both_directions_with_the_verdict_and_route() {
    let mut h = Harness::new(seed2());
    let a = h.host("CloudNetaPublicEC2");
    let b = h.host("CloudNetaPrivateEC2");
    let (tap, stream) = channel(7, &[b.port], &[], 16, 1 << 20);
    let mut cap = Capturing::default();
    cap.add(tap);
    let send = |h: &mut Harness, cap: &mut Capturing, port: PortId, frame: &[u8]| {
        let mut buf = testkit::with_vnet(HdrSize::Legacy, &VnetHdr::PLAIN, frame);
        let now = h.now;
        cap.process(
            &mut h.router,
            now,
            port,
            &mut buf,
            &mut h.sink,
            HdrSize::Legacy,
        )
    };
    // A ping A → B: captured going out to B; its reply, coming in from B.
    let ping = testkit::ping(&h.from(&a, b.ip), 1, 1);
    assert_eq!(
        send(&mut h, &mut cap, a.port, &ping),
        Verdict::Forwarded(b.port)
    );
    assert_eq!(h.sink.take().len(), 1, "the frame still goes out");
    let pong = testkit::pong(&h.from(&b, a.ip), 1, 1);
    assert_eq!(
        send(&mut h, &mut cap, b.port, &pong),
        Verdict::Forwarded(a.port)
    );
    h.sink.take();
    let out = stream.recv(Duration::ZERO).unwrap();
    assert!(out.out && out.port == b.port && out.ingress == a.port);
    assert_eq!(out.verdict, Verdict::Forwarded(b.port));
    assert!(matches!(out.route, Some(Step::Route { .. })));
    assert_eq!(&out.frame[14..], &ping[14..], "the IP packet as sent");
    let back = stream.recv(Duration::ZERO).unwrap();
    assert!(!back.out && back.port == b.port && back.ingress == b.port);
    assert_eq!(back.frame, pong, "the frame as it came, before any rewrite");
    assert!(stream.recv(Duration::ZERO).is_err(), "nothing else");

    // A refused connection from A is not B's: nothing captured on B; captured on A, marked.
    let syn = testkit::tcp(&h.from(&a, b.ip), 40000, 8080, Flags::SYN, b"");
    let v = send(&mut h, &mut cap, a.port, &syn);
    assert!(
        matches!(v, Verdict::Dropped(DropReason::SgIngressDenied(_))),
        "{v:?}"
    );
    assert!(stream.recv(Duration::ZERO).is_err());
    let (tap_a, stream_a) = channel(8, &[a.port], &[], 16, 1 << 20);
    cap.add(tap_a);
    send(&mut h, &mut cap, a.port, &syn);
    let dropped = stream_a.recv(Duration::ZERO).unwrap();
    assert!(!dropped.out && matches!(dropped.verdict, Verdict::Dropped(_)));

    // serve() names it all and ends when the loop's side is gone.
    let mut wire = Vec::new();
    send(&mut h, &mut cap, a.port, &ping);
    cap.remove(7);
    cap.remove(8);
    assert!(cap.is_empty());
    let name = |p: PortId| format!("port{}", p.0);
    let n = serve(&mut wire, &stream_a, &[a.port], &name);
    assert_eq!(n, 1);
    let mut d = Decoder::new();
    d.push(&wire);
    let Some(Record::Packet(p)) = d.next_record().unwrap() else {
        panic!("no packet")
    };
    assert_eq!(
        p.comment,
        format!(
            "in from port{}: forwarded to port{} by {} route 10.0.0.0/16 local",
            a.port.0,
            b.port.0,
            h.snap()
                .route_tables
                .iter()
                .map(|t| t.id.to_string())
                .find(|id| p.comment.contains(id.as_str()))
                .unwrap()
        )
    );
    assert_eq!(p.iface, 0);
    assert!(matches!(
        d.next_record().unwrap(),
        Some(Record::Idle { dropped: 0 })
    ));
}

#[test]
fn a_watched_address_takes_the_packets_that_cross_other_ports() {
    let mut h = Harness::new(seed2());
    let a = h.host("CloudNetaPublicEC2");
    let b = h.host("CloudNetaPrivateEC2");
    // Watch B's address as if it were a device-less interface, on a made-up interface port.
    let iface = PortId(77);
    let (tap, stream) = channel(9, &[], &[(b.ip, iface)], 16, 1 << 20);
    let mut cap = Capturing::default();
    cap.add(tap);
    let ping = testkit::ping(&h.from(&a, b.ip), 1, 1);
    let mut buf = testkit::with_vnet(HdrSize::Legacy, &VnetHdr::PLAIN, &ping);
    let now = h.now;
    let v = cap.process(
        &mut h.router,
        now,
        a.port,
        &mut buf,
        &mut h.sink,
        HdrSize::Legacy,
    );
    assert_eq!(v, Verdict::Forwarded(b.port));
    // Both the frame in from A and the one out to B carry B's address.
    let first = stream.recv(Duration::ZERO).unwrap();
    assert!(first.iface == iface && first.port == a.port && !first.out);
    let second = stream.recv(Duration::ZERO).unwrap();
    assert!(second.iface == iface && second.port == b.port && second.out);
    assert!(stream.recv(Duration::ZERO).is_err());
    // A frame of other addresses is not taken; nor is an ARP request.
    let other = testkit::ping(&h.from(&a, a.gateway), 2, 1);
    let mut buf = testkit::with_vnet(HdrSize::Legacy, &VnetHdr::PLAIN, &other);
    cap.process(
        &mut h.router,
        now,
        a.port,
        &mut buf,
        &mut h.sink,
        HdrSize::Legacy,
    );
    let arp = testkit::arp_request(a.mac, a.ip, a.gateway);
    let mut buf = testkit::with_vnet(HdrSize::Legacy, &VnetHdr::PLAIN, &arp);
    cap.process(
        &mut h.router,
        now,
        a.port,
        &mut buf,
        &mut h.sink,
        HdrSize::Legacy,
    );
    assert!(stream.recv(Duration::ZERO).is_err());
}
