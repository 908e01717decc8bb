//! Fixtures and property tests for [`super`]. Every emitted segment is
//! re-parsed with etherparse and its checksums recomputed by etherparse.

use super::*;
use crate::dataplane::checksum::{pseudo_v4, pseudo_v6};
use crate::dataplane::vnet::{flags, gso_type};
use core::net::{Ipv4Addr, Ipv6Addr};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice, UdpHeader};
use proptest::prelude::*;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const SRC4: [u8; 4] = [10, 0, 1, 10];
const DST4: [u8; 4] = [10, 0, 2, 20];
const SEQ: u32 = 0xffff_fff0; // wraps inside most frames

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
}

/// Builds a super-frame as the namespace stack hands it to the router:
/// correct headers, the L4 checksum field holding the partial pseudo sum,
/// and a vnet header with NEEDS_CSUM and the GSO type.
fn super_frame(kind: Kind, tcp_flags: u8, payload: &[u8], mss: u16) -> (Vec<u8>, VnetHdr) {
    let eth = PacketBuilder::ethernet2(MAC_A, MAC_B);
    let src6: Ipv6Addr = "2001:db8::a".parse().unwrap();
    let dst6: Ipv6Addr = "2001:db8::b".parse().unwrap();
    let mut out = Vec::new();
    let (ip_hdr, v6) = match kind {
        Kind::Tcp4 | Kind::Udp4 => (20, false),
        Kind::Tcp6 | Kind::Udp6 => (40, true),
    };
    let ip = if v6 {
        eth.ipv6(src6.octets(), dst6.octets(), 64)
    } else {
        eth.ipv4(SRC4, DST4, 64)
    };
    let tcp = matches!(kind, Kind::Tcp4 | Kind::Tcp6);
    if tcp {
        let mut b = ip.tcp(40000, 5201, SEQ, 502).ack(77);
        if tcp_flags & tcp_flags::FIN != 0 {
            b = b.fin();
        }
        if tcp_flags & tcp_flags::PSH != 0 {
            b = b.psh();
        }
        if tcp_flags & tcp_flags::CWR != 0 {
            b = b.cwr();
        }
        if tcp_flags & tcp_flags::ECE != 0 {
            b = b.ece();
        }
        b.write(&mut out, payload).unwrap();
    } else {
        ip.udp(40000, 4789).write(&mut out, payload).unwrap();
    }
    let l4 = 14 + ip_hdr;
    if !v6 {
        out[14 + 4..14 + 6].copy_from_slice(&0x4242u16.to_be_bytes()); // IP id
        out[24] = 0;
        out[25] = 0;
        let c = checksum::checksum(&out[14..34]);
        out[24..26].copy_from_slice(&c.to_be_bytes());
    }
    let l4_len = out.len() - l4;
    let (csum_offset, p) = (if tcp { 16 } else { 6 }, if tcp { 6 } else { 17 });
    let partial = if v6 {
        pseudo_v6(src6, dst6, p, l4_len as u32)
    } else {
        pseudo_v4(Ipv4Addr::from(SRC4), Ipv4Addr::from(DST4), p, l4_len as u16)
    };
    out[l4 + csum_offset..l4 + csum_offset + 2].copy_from_slice(&partial.to_be_bytes());
    let gso_type = match kind {
        Kind::Tcp4 => gso_type::TCPV4,
        Kind::Tcp6 => gso_type::TCPV6,
        Kind::Udp4 | Kind::Udp6 => gso_type::UDP_L4,
    };
    let hdr = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type,
        hdr_len: 0,
        gso_size: mss,
        csum_start: l4 as u16,
        csum_offset: csum_offset as u16,
        num_buffers: 0,
    };
    (out, hdr)
}

/// One emitted segment, decoded and checked.
#[derive(Debug)]
struct Decoded {
    ip_len: usize,
    id: Option<u16>,
    seq: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// Parses a segment strictly and checks every checksum with etherparse.
fn decode(seg: &[u8]) -> Decoded {
    let p = SlicedPacket::from_ethernet(seg).expect("segment parses");
    let (src, dst, ip_len, id) = match p.net.as_ref().unwrap() {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            assert_eq!(
                h.to_header().calc_header_checksum(),
                h.header_checksum(),
                "IPv4 header checksum"
            );
            assert_eq!(usize::from(h.total_len()), seg.len() - 14);
            (
                h.source().to_vec(),
                h.destination().to_vec(),
                usize::from(h.total_len()),
                Some(h.identification()),
            )
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header();
            assert_eq!(usize::from(h.payload_length()) + 40, seg.len() - 14);
            (
                h.source().to_vec(),
                h.destination().to_vec(),
                seg.len() - 14,
                None,
            )
        }
        NetSlice::Arp(_) => panic!("arp"),
    };
    match p.transport.unwrap() {
        TransportSlice::Tcp(t) => {
            let want = if src.len() == 4 {
                t.calc_checksum_ipv4(src.try_into().unwrap(), dst.try_into().unwrap())
                    .unwrap()
            } else {
                t.calc_checksum_ipv6(src.try_into().unwrap(), dst.try_into().unwrap())
                    .unwrap()
            };
            assert_eq!(t.checksum(), want, "TCP checksum");
            let flags = t.slice()[13];
            Decoded {
                ip_len,
                id,
                seq: t.sequence_number(),
                flags,
                payload: t.payload().to_vec(),
            }
        }
        TransportSlice::Udp(u) => {
            assert_eq!(usize::from(u.length()), u.slice().len());
            let h = UdpHeader::from_slice(u.slice()).unwrap().0;
            let want = if src.len() == 4 {
                h.calc_checksum_ipv4_raw(
                    src.try_into().unwrap(),
                    dst.try_into().unwrap(),
                    u.payload(),
                )
            } else {
                h.calc_checksum_ipv6_raw(
                    src.try_into().unwrap(),
                    dst.try_into().unwrap(),
                    u.payload(),
                )
            };
            assert_eq!(u.checksum(), want.unwrap(), "UDP checksum");
            Decoded {
                ip_len,
                id,
                seq: 0,
                flags: 0,
                payload: u.payload().to_vec(),
            }
        }
        other => panic!("unexpected transport {other:?}"),
    }
}

fn run(frame: &[u8], hdr: &VnetHdr, mtu: Option<u16>) -> Result<Vec<Vec<u8>>, GsoError> {
    let mut scratch = vec![0u8; frame.len()];
    let mut segs = Vec::new();
    let n = match mtu {
        None => segment(frame, hdr, &mut scratch, |s| segs.push(s.to_vec()))?,
        Some(m) => segment_to_mtu(frame, hdr, m, &mut scratch, |s| segs.push(s.to_vec()))?,
    };
    assert_eq!(n, segs.len());
    Ok(segs)
}

#[test]
fn tso4_fixture_ten_bytes_mss_four() {
    let all = tcp_flags::FIN | tcp_flags::PSH | tcp_flags::CWR;
    let (f, h) = super_frame(Kind::Tcp4, all, b"abcdefghij", 4);
    let segs: Vec<Decoded> = run(&f, &h, None)
        .unwrap()
        .iter()
        .map(|s| decode(s))
        .collect();
    assert_eq!(segs.len(), 3);
    let payloads: Vec<&[u8]> = segs.iter().map(|d| &d.payload[..]).collect();
    assert_eq!(payloads, [&b"abcd"[..], b"efgh", b"ij"]);
    assert_eq!(
        segs.iter().map(|d| d.seq).collect::<Vec<_>>(),
        [SEQ, SEQ.wrapping_add(4), SEQ.wrapping_add(8)]
    );
    assert_eq!(
        segs.iter().map(|d| d.id).collect::<Vec<_>>(),
        [Some(0x4242), Some(0x4243), Some(0x4244)]
    );
    assert_eq!(
        segs.iter().map(|d| d.ip_len).collect::<Vec<_>>(),
        [20 + 20 + 4, 44, 42]
    );
    let ack = tcp_flags::ACK;
    assert_eq!(segs[0].flags, ack | tcp_flags::CWR);
    assert_eq!(segs[1].flags, ack);
    assert_eq!(segs[2].flags, ack | tcp_flags::FIN | tcp_flags::PSH);
}

#[test]
fn uso_fixture_each_segment_is_a_datagram() {
    let (f, h) = super_frame(Kind::Udp4, 0, b"0123456789", 3);
    let segs: Vec<Decoded> = run(&f, &h, None)
        .unwrap()
        .iter()
        .map(|s| decode(s))
        .collect();
    let payloads: Vec<&[u8]> = segs.iter().map(|d| &d.payload[..]).collect();
    assert_eq!(payloads, [&b"012"[..], b"345", b"678", b"9"]);
    assert_eq!(segs[3].ip_len, 20 + 8 + 1);
}

#[test]
fn tso6_fixture() {
    let (f, h) = super_frame(Kind::Tcp6, tcp_flags::PSH, &[7u8; 3000], 1440);
    let segs: Vec<Decoded> = run(&f, &h, None)
        .unwrap()
        .iter()
        .map(|s| decode(s))
        .collect();
    assert_eq!(
        segs.iter().map(|d| d.payload.len()).collect::<Vec<_>>(),
        [1440, 1440, 120]
    );
    assert_eq!(segs[0].flags & tcp_flags::PSH, 0);
    assert_ne!(segs[2].flags & tcp_flags::PSH, 0);
}

#[test]
fn mtu_caps_segment_size() {
    let (f, h) = super_frame(Kind::Tcp4, 0, &[1u8; 4000], 1448);
    let segs = run(&f, &h, Some(576)).unwrap();
    assert!(segs.iter().all(|s| s.len() - 14 <= 576));
    let total: usize = segs.iter().map(|s| decode(s).payload.len()).sum();
    assert_eq!(total, 4000);
    assert_eq!(segs.len(), 4000usize.div_ceil(576 - 40));
    assert!(matches!(
        run(&f, &h, Some(40)),
        Err(GsoError::MtuTooSmall {
            mtu: 40,
            headers: 40
        })
    ));
}

#[test]
fn non_gso_frame_passes_or_gets_its_checksum_completed() {
    let (f, mut h) = super_frame(Kind::Tcp4, 0, b"hello", 1448);
    h.gso_type = gso_type::NONE;
    let segs = run(&f, &h, None).unwrap();
    assert_eq!(segs.len(), 1);
    decode(&segs[0]); // checksum now complete
    h.flags = 0;
    let segs = run(&f, &h, Some(1500)).unwrap();
    assert_eq!(segs[0], f, "no NEEDS_CSUM: emitted as is");
    assert_eq!(
        run(&f, &h, Some(44)),
        Err(GsoError::FrameTooBig { len: 45, mtu: 44 })
    );
}

#[test]
fn empty_payload_is_one_segment() {
    let (f, h) = super_frame(Kind::Tcp4, tcp_flags::FIN, b"", 1448);
    let segs = run(&f, &h, None).unwrap();
    assert_eq!(segs.len(), 1);
    assert_ne!(decode(&segs[0]).flags & tcp_flags::FIN, 0);
}

#[test]
fn mismatched_gso_type_is_rejected() {
    let (f, mut h) = super_frame(Kind::Tcp4, 0, &[0u8; 100], 10);
    h.gso_type = gso_type::TCPV6;
    assert_eq!(run(&f, &h, None), Err(GsoError::UnsupportedGso(Gso::TcpV6)));
    h.gso_type = gso_type::UDP;
    assert_eq!(run(&f, &h, None), Err(GsoError::UnsupportedGso(Gso::Udp)));
}

#[test]
fn small_scratch_is_an_error_before_any_emit() {
    let (f, h) = super_frame(Kind::Tcp4, 0, &[0u8; 100], 50);
    let mut scratch = [0u8; 60];
    let mut n = 0;
    let r = segment(&f, &h, &mut scratch, |_| n += 1);
    assert_eq!(r, Err(GsoError::ScratchTooSmall { need: 104, got: 60 }));
    assert_eq!(n, 0);
}

#[test]
fn fragments_and_truncation_are_rejected() {
    let (mut f, h) = super_frame(Kind::Tcp4, 0, &[0u8; 100], 50);
    assert!(
        run(&f[..f.len() - 1], &h, None).is_err(),
        "IP total length beyond frame"
    );
    f[14 + 6] = 0x20; // MF
    assert_eq!(run(&f, &h, None), Err(GsoError::Fragment));
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Tcp4),
        Just(Kind::Tcp6),
        Just(Kind::Udp4),
        Just(Kind::Udp6)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Segment, then reassemble by sequence number (or order for UDP): the
    /// payload comes back, every segment is within MSS (and MTU), every
    /// checksum recomputes, and the flags sit where Linux puts them.
    #[test]
    fn segment_reassembles(
        kind in kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..6000),
        mss in 1u16..1500,
        flags in any::<u8>(),
        mtu in prop::option::of(200u16..9001),
    ) {
        let flags = flags & (tcp_flags::FIN | tcp_flags::PSH | tcp_flags::CWR | tcp_flags::ECE);
        let mss = mss.max(payload.len() as u16 / 200 + 1); // keep segment counts sane
        let (f, h) = super_frame(kind, flags, &payload, mss);
        let segs = run(&f, &h, mtu).unwrap();
        let mut got = vec![None; payload.len()];
        let tcp = matches!(kind, Kind::Tcp4 | Kind::Tcp6);
        let mut next = 0usize;
        for (i, s) in segs.iter().enumerate() {
            let d = decode(s);
            prop_assert!(d.payload.len() <= usize::from(mss));
            if let Some(m) = mtu { prop_assert!(d.ip_len <= usize::from(m)); }
            if let Some(id) = d.id { prop_assert_eq!(id, 0x4242u16.wrapping_add(i as u16)); }
            let off = if tcp { d.seq.wrapping_sub(SEQ) as usize } else { next };
            next += d.payload.len();
            for (j, b) in d.payload.iter().enumerate() {
                prop_assert!(got[off + j].is_none(), "overlap");
                got[off + j] = Some(*b);
            }
            if tcp {
                let last = i + 1 == segs.len();
                let fin_psh = d.flags & (tcp_flags::FIN | tcp_flags::PSH);
                prop_assert_eq!(fin_psh, if last { flags & (tcp_flags::FIN | tcp_flags::PSH) } else { 0 });
                prop_assert_eq!(d.flags & tcp_flags::CWR, if i == 0 { flags & tcp_flags::CWR } else { 0 });
                prop_assert_eq!(d.flags & tcp_flags::ECE, flags & tcp_flags::ECE);
            }
        }
        let back: Vec<u8> = got.into_iter().map(|b| b.unwrap()).collect();
        prop_assert_eq!(back, payload);
    }

    /// Garbage frames with any vnet header: an error or segments, never a panic.
    #[test]
    fn no_panic_on_garbage(
        frame in proptest::collection::vec(any::<u8>(), 0..200),
        hdr in any::<[u8; 10]>(),
        mtu in any::<u16>(),
    ) {
        let h = VnetHdr::parse(&hdr, crate::dataplane::vnet::HdrSize::Legacy).unwrap();
        let mut scratch = [0u8; 256];
        let _ = segment(&frame, &h, &mut scratch, |_| {});
        let _ = segment_to_mtu(&frame, &h, mtu, &mut scratch, |_| {});
    }

    /// Structured frames with corrupted bytes: still no panic.
    #[test]
    fn no_panic_on_corrupted_frames(
        kind in kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        pokes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let (mut f, h) = super_frame(kind, 0, &payload, 64);
        for (i, v) in pokes { let i = i.index(f.len()); f[i] = v; }
        let end = cut.index(f.len() + 1);
        let mut scratch = vec![0u8; f.len()];
        let _ = segment(&f[..end], &h, &mut scratch, |_| {});
    }
}
