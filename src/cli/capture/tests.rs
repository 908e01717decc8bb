use std::net::Ipv4Addr;

use pcap_file::pcapng::{Block, PcapNgReader};

use super::*;
use crate::dataplane::testkit::{self, Addrs, Flags};
use crate::dataplane::vnet::{flags, gso_type};

fn addrs() -> Addrs {
    Addrs::new(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        Ipv4Addr::new(10, 0, 0, 10),
        Ipv4Addr::new(10, 0, 1, 20),
    )
}

fn packet(frame: Vec<u8>, vnet: VnetHdr) -> Packet {
    let mut v = [0u8; 10];
    vnet.emit(&mut v, HdrSize::Legacy).unwrap();
    Packet {
        iface: 0,
        out: true,
        unix_nanos: 1_700_000_000_000_000_001,
        vnet: v,
        comment: "out to eni-b (B): forwarded from eni-a (A)".into(),
        frame,
        dropped: 0,
    }
}

/// A TSO super-frame of 3000 payload bytes, 1000 per segment, with its partial checksum.
fn tso() -> (Vec<u8>, VnetHdr) {
    let mut frame = testkit::tcp(&addrs(), 40000, 80, Flags::ACK, &[7u8; 3000]);
    // The kernel hands over the pseudo-header sum in the checksum field (NEEDS_CSUM).
    let l4_len = u16::try_from(frame.len() - 34).unwrap();
    let partial = crate::dataplane::checksum::pseudo_v4(
        Ipv4Addr::new(10, 0, 0, 10),
        Ipv4Addr::new(10, 0, 1, 20),
        6,
        l4_len,
    );
    frame[50..52].copy_from_slice(&partial.to_be_bytes());
    let hdr = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type: gso_type::TCPV4,
        hdr_len: 54,
        gso_size: 1000,
        csum_start: 34,
        csum_offset: 16,
        num_buffers: 0,
    };
    (frame, hdr)
}

#[test]
fn gso_frames_are_written_as_their_segments_unless_asked_not_to() {
    let (frame, hdr) = tso();
    let p = packet(frame.clone(), hdr);
    let segs = wire_frames(&p, true);
    assert_eq!(segs.len(), 3);
    for (i, (s, c)) in segs.iter().enumerate() {
        assert_eq!(s.len(), 54 + 1000);
        assert!(
            c.ends_with(&format!(
                "[segment {} of 3 of a {}-byte GSO frame]",
                i + 1,
                frame.len()
            )),
            "{c}"
        );
        // Each segment is a frame a wire would carry: checksums complete.
        let parsed = etherparse::SlicedPacket::from_ethernet(s).unwrap();
        let Some(etherparse::TransportSlice::Tcp(tcp)) = parsed.transport else {
            panic!("not TCP")
        };
        let Some(etherparse::NetSlice::Ipv4(ip)) = parsed.net else {
            panic!("not IPv4")
        };
        let want = tcp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), want, "segment {i}");
    }
    let whole = wire_frames(&p, false);
    assert_eq!(whole, vec![(frame, p.comment.clone())]);
    // A plain frame is written as it is.
    let ping = testkit::ping(&addrs(), 1, 1);
    let plain = packet(ping.clone(), VnetHdr::PLAIN);
    assert_eq!(
        wire_frames(&plain, true),
        vec![(ping, plain.comment.clone())]
    );
}

#[test]
fn the_filter_is_libpcaps_and_a_bad_one_is_invalid_input() {
    let f = compile_filter("tcp port 80").unwrap();
    assert!(f.filter(&testkit::tcp(&addrs(), 40000, 80, Flags::SYN, b"")));
    assert!(!f.filter(&testkit::tcp(&addrs(), 40000, 8080, Flags::SYN, b"")));
    assert!(!f.filter(&testkit::ping(&addrs(), 1, 1)));
    match compile_filter("tcp port") {
        Err(CaptureError::Invalid(m)) => assert!(m.contains("--filter 'tcp port'"), "{m}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("libpcap took 'tcp port'"),
    }
}

#[test]
fn the_pcapng_has_an_interface_per_port_and_a_comment_and_direction_per_packet() {
    let dir = std::env::temp_dir().join(format!("vpclab-capture-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.pcapng");
    let ports = vec![
        CapturePort {
            port: 4,
            name: "eni-a (A)".into(),
        },
        CapturePort {
            port: 9,
            name: "internet".into(),
        },
    ];
    {
        let out: Box<dyn Write> = Box::new(std::fs::File::create(&path).unwrap());
        let mut w = Pcapng::new(out, "lab1", &ports).unwrap();
        let mut p = packet(testkit::ping(&addrs(), 1, 1), VnetHdr::PLAIN);
        p.iface = 1;
        w.packet(&p, &p.frame, &p.comment).unwrap();
    }
    let file = std::fs::File::open(&path).unwrap();
    let mut r = PcapNgReader::new(file).unwrap();
    let mut names = Vec::new();
    let mut packets = Vec::new();
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(i) => {
                names.extend(i.options.iter().filter_map(|o| match o {
                    InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                    _ => None,
                }))
            }
            Block::EnhancedPacket(e) => packets.push(e.into_owned()),
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(names, ["eni-a (A)", "internet"]);
    assert_eq!(packets.len(), 1);
    let e = &packets[0];
    assert_eq!(e.interface_id, 1);
    assert_eq!(e.timestamp, Duration::from_nanos(1_700_000_000_000_000_001));
    assert!(e.options.contains(&EnhancedPacketOption::Comment(
        "out to eni-b (B): forwarded from eni-a (A)".into()
    )));
    assert!(e.options.contains(&EnhancedPacketOption::Flags(OUTBOUND)));
}
