//! Byte fixtures and property tests for [`super`]; etherparse's own checksum
//! code is the independent oracle for full recomputes.

use super::*;
use etherparse::{Ipv4Header, PacketBuilder, TcpHeader, UdpHeader};
use proptest::prelude::*;

/// RFC 1071 §3's worked example.
const RFC1071: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

/// An IPv4 header (UDP, 192.168.0.1 → 192.168.0.199, TTL 64) with checksum b861.
const IPV4_HDR: [u8; 20] = [
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
    0xc0, 0xa8, 0x00, 0xc7,
];

/// Sums 16-bit big-endian words one at a time: the textbook definition.
fn naive_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for pair in data.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |&b| u32::from(b));
        acc += hi | lo;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Recomputes the IPv4 header and TCP/UDP checksums of `ip` with etherparse.
fn recompute(ip: &[u8]) -> Vec<u8> {
    let (hdr, rest) = Ipv4Header::from_slice(ip).unwrap();
    let mut out = ip.to_vec();
    let c = hdr.calc_header_checksum();
    out[10..12].copy_from_slice(&c.to_be_bytes());
    let ihl = hdr.header_len();
    let l4_len = usize::from(hdr.total_len) - ihl;
    let l4 = &rest[..l4_len];
    match hdr.protocol.0 {
        proto::TCP => {
            let (tcp, payload) = TcpHeader::from_slice(l4).unwrap();
            let c = tcp.calc_checksum_ipv4(&hdr, payload).unwrap();
            out[ihl + 16..ihl + 18].copy_from_slice(&c.to_be_bytes());
        }
        proto::UDP => {
            let (udp, payload) = UdpHeader::from_slice(l4).unwrap();
            let c = udp.calc_checksum_ipv4(&hdr, payload).unwrap();
            out[ihl + 6..ihl + 8].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
    out
}

/// Builds IPv4 + TCP (flags from `flags`) or UDP with correct checksums.
fn build(
    tcp: bool,
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    ports: (u16, u16),
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src, dst, ttl);
    let mut out = Vec::new();
    if tcp {
        b.tcp(ports.0, ports.1, 0x1234_5678, 64240)
            .ack(0x0102_0304)
            .psh()
            .write(&mut out, payload)
            .unwrap();
    } else {
        b.udp(ports.0, ports.1).write(&mut out, payload).unwrap();
    }
    out
}

/// Puts the kernel's partial sum (pseudo-header, non-complemented) into the
/// TCP checksum field, as `tcp_v4_send_check` does for CHECKSUM_PARTIAL.
fn make_partial(ip: &mut [u8]) {
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let l4_len = (ip.len() - 20) as u16;
    let p = pseudo_v4(src, dst, ip[9], l4_len);
    let at = 20 + if ip[9] == proto::TCP { 16 } else { 6 };
    ip[at..at + 2].copy_from_slice(&p.to_be_bytes());
}

#[test]
fn rfc1071_example() {
    assert_eq!(ones_sum(&RFC1071), 0xddf2);
    assert_eq!(checksum(&RFC1071), 0x220d);
}

#[test]
fn odd_lengths_pad_the_last_byte() {
    assert_eq!(ones_sum(&[]), 0);
    assert_eq!(ones_sum(&[0xab]), 0xab00);
    assert_eq!(ones_sum(&[1, 2, 3]), 0x0402);
    assert_eq!(
        ones_sum(&[1, 2, 3, 4, 5, 6, 7]),
        0x0102 + 0x0304 + 0x0506 + 0x0700
    );
}

#[test]
fn ipv4_header_fixture() {
    let mut h = IPV4_HDR;
    assert!(ipv4_header_checksum_ok(&h));
    h[10] = 0;
    h[11] = 0;
    assert_eq!(fill_ipv4_header_checksum(&mut h), Ok(0xb861));
    assert_eq!(h, IPV4_HDR);
    assert_eq!(
        fill_ipv4_header_checksum(&mut h[..19]),
        Err(ChecksumError::BadIpv4Header)
    );
}

#[test]
fn ttl_decrement_fixture() {
    let mut h = IPV4_HDR;
    assert_eq!(ipv4_decrement_ttl(&mut h), Ok(63));
    assert_eq!(h[8], 63);
    // 0xb861 + 0x0100 (TTL is the high byte of its word).
    assert_eq!(h[10..12], [0xb9, 0x61]);
    let mut full = h;
    fill_ipv4_header_checksum(&mut full).unwrap();
    assert_eq!(h, full);
}

#[test]
fn ttl_one_or_zero_is_expired_and_unchanged() {
    for ttl in [0u8, 1] {
        let mut h = IPV4_HDR;
        h[8] = ttl;
        let before = h;
        assert_eq!(
            ipv4_decrement_ttl(&mut h),
            Err(ChecksumError::TtlExpired(ttl))
        );
        assert_eq!(h, before);
    }
    assert_eq!(
        ipv4_decrement_ttl(&mut [0x60u8; 20]),
        Err(ChecksumError::BadIpv4Header)
    );
}

#[test]
fn update_fixture_rfc1624_example() {
    // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 → m' = 0x3285 gives HC' = 0x0000.
    assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
}

#[test]
fn snat_tcp_full_checksum_fixture() {
    let mut p = build(
        true,
        [10, 0, 1, 10],
        [52, 95, 1, 1],
        64,
        (40000, 443),
        b"hello",
    );
    let old = ipv4_rewrite_addr(
        &mut p,
        AddrField::Src,
        Ipv4Addr::new(3, 80, 1, 2),
        L4Csum::Full,
    );
    assert_eq!(old, Ok(Ipv4Addr::new(10, 0, 1, 10)));
    assert_eq!(p[12..16], [3, 80, 1, 2]);
    assert_eq!(p, recompute(&p));
}

#[test]
fn udp_zero_checksum_stays_zero_through_rewrite() {
    let mut p = build(false, [10, 0, 1, 10], [10, 0, 2, 20], 64, (5000, 53), b"q");
    p[26] = 0;
    p[27] = 0;
    ipv4_rewrite_addr(
        &mut p,
        AddrField::Dst,
        Ipv4Addr::new(10, 0, 2, 99),
        L4Csum::Full,
    )
    .unwrap();
    assert_eq!(p[26..28], [0, 0]);
    assert!(ipv4_header_checksum_ok(&p));
}

/// A UDP datagram whose checksum computes to 0 must carry 0xffff.
#[test]
fn udp_computed_zero_is_sent_as_ffff() {
    let src = Ipv4Addr::new(10, 0, 0, 1);
    let dst = Ipv4Addr::new(10, 0, 0, 2);
    let mut udp = [
        0x13, 0x88, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0xde, 0xad, 0x00, 0x00,
    ];
    let pseudo = pseudo_v4(src, dst, proto::UDP, 12);
    // Choose the last payload word so the whole sum is 0xffff → checksum 0.
    let fill = !add(pseudo, ones_sum(&udp));
    udp[10..12].copy_from_slice(&fill.to_be_bytes());
    assert_eq!(!add(pseudo, ones_sum(&udp)), 0, "sum is negative zero");
    assert_eq!(fill_l4_checksum(&mut udp, proto::UDP, pseudo), Ok(0xffff));
    assert_eq!(udp[6..8], [0xff, 0xff]);
    assert!(l4_checksum_ok(&udp, pseudo));
    // etherparse agrees.
    let c = UdpHeader::calc_checksum_ipv4_raw(
        &UdpHeader::from_slice(&udp).unwrap().0,
        src.octets(),
        dst.octets(),
        &udp[8..],
    );
    assert_eq!(c.unwrap(), 0xffff);
}

#[test]
fn non_first_fragment_leaves_l4_untouched() {
    let mut p = build(true, [10, 0, 1, 10], [10, 0, 2, 20], 64, (1, 2), b"abcdef");
    p[6] = 0x00;
    p[7] = 0x10; // fragment offset 16 × 8 bytes
    fill_ipv4_header_checksum(&mut p).unwrap();
    let l4_before = p[20..].to_vec();
    ipv4_rewrite_addr(
        &mut p,
        AddrField::Dst,
        Ipv4Addr::new(9, 9, 9, 9),
        L4Csum::Full,
    )
    .unwrap();
    assert_eq!(p[20..], l4_before[..]);
    assert!(ipv4_header_checksum_ok(&p));
}

#[test]
fn truncated_l4_is_an_error_and_unchanged() {
    let p = build(true, [10, 0, 1, 10], [10, 0, 2, 20], 64, (1, 2), b"");
    let mut short = p[..20 + 17].to_vec();
    let before = short.clone();
    let r = ipv4_rewrite_addr(
        &mut short,
        AddrField::Src,
        Ipv4Addr::new(1, 1, 1, 1),
        L4Csum::Full,
    );
    assert_eq!(r, Err(ChecksumError::Truncated));
    assert_eq!(short, before);
}

#[test]
fn partial_fixture_then_complete() {
    let mut p = build(
        true,
        [10, 0, 1, 10],
        [10, 0, 2, 20],
        64,
        (40000, 22),
        b"SSH-2.0",
    );
    let full = p.clone();
    make_partial(&mut p);
    assert_eq!(
        complete_partial(&mut p, 20, 16),
        Ok(u16::from_be_bytes([full[36], full[37]]))
    );
    assert_eq!(p, full);
}

#[test]
fn complete_partial_rejects_out_of_range() {
    let mut f = [0u8; 40];
    assert_eq!(
        complete_partial(&mut f, 34, 5),
        Err(ChecksumError::OutOfRange {
            start: 34,
            offset: 5,
            len: 40
        })
    );
    assert!(complete_partial(&mut f, usize::MAX, 2).is_err());
    assert!(complete_partial(&mut f, 2, usize::MAX).is_err());
    assert_eq!(complete_partial(&mut f, 34, 4).map(|_| ()), Ok(()));
}

#[test]
fn fill_l4_rejects_other_protocols() {
    assert_eq!(
        fill_l4_checksum(&mut [0u8; 8], proto::ICMP, 0),
        Err(ChecksumError::UnsupportedProtocol(1))
    );
}

#[test]
fn pseudo_v6_matches_etherparse() {
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let dst: Ipv6Addr = "fd00::abcd:2".parse().unwrap();
    let mut out = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), 64)
        .udp(1234, 53)
        .write(&mut out, b"xyz")
        .unwrap();
    let udp = &out[40..];
    assert!(l4_checksum_ok(
        udp,
        pseudo_v6(src, dst, proto::UDP, udp.len() as u32)
    ));
}

fn header_strategy() -> impl Strategy<Value = [u8; 20]> {
    (any::<[u8; 20]>(), 2u8..=255).prop_map(|(mut h, ttl)| {
        h[0] = 0x45;
        h[8] = ttl;
        h[10] = 0;
        h[11] = 0;
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    })
}

proptest! {
    #[test]
    fn sum_equals_textbook(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(ones_sum(&data), naive_sum(&data));
    }

    #[test]
    fn update16_equals_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 2..64),
        pos in any::<prop::sample::Index>(),
        new in any::<u16>(),
    ) {
        if data.len() % 2 == 1 { data.pop(); }
        let check = checksum(&data);
        let i = pos.index(data.len() / 2) * 2;
        let old = u16::from_be_bytes([data[i], data[i + 1]]);
        data[i..i + 2].copy_from_slice(&new.to_be_bytes());
        let inc = update16(check, old, new);
        // ±0: the two forms of zero are the same checksum.
        prop_assert!(inc == checksum(&data) || (inc ^ checksum(&data)) == 0xffff && inc & checksum(&data) == 0,
            "inc {:#x} full {:#x}", inc, checksum(&data));
        prop_assert_eq!(add(ones_sum(&data), inc), 0xffff);
    }

    #[test]
    fn ttl_decrement_equals_recompute(h in header_strategy()) {
        let mut inc = h;
        let ttl = ipv4_decrement_ttl(&mut inc).unwrap();
        prop_assert_eq!(ttl, h[8] - 1);
        let mut full = inc;
        fill_ipv4_header_checksum(&mut full).unwrap();
        prop_assert_eq!(inc, full);
    }

    #[test]
    fn rewrite_full_equals_recompute(
        tcp in any::<bool>(),
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), new in any::<[u8; 4]>(),
        ports in any::<(u16, u16)>(), ttl in any::<u8>(), dnat in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut p = build(tcp, src, dst, ttl, ports, &payload);
        let which = if dnat { AddrField::Dst } else { AddrField::Src };
        ipv4_rewrite_addr(&mut p, which, Ipv4Addr::from(new), L4Csum::Full).unwrap();
        let at = if dnat { 16 } else { 12 };
        prop_assert_eq!(&p[at..at + 4], &new[..]);
        prop_assert_eq!(&p, &recompute(&p));
    }

    /// The kernel fills the partial sum, the router NATs with the partial
    /// update, the receiving side completes the checksum: it must equal a
    /// full recompute over the rewritten packet.
    #[test]
    fn rewrite_partial_then_complete_equals_recompute(
        tcp in any::<bool>(),
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), new in any::<[u8; 4]>(),
        ports in any::<(u16, u16)>(), dnat in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut p = build(tcp, src, dst, 64, ports, &payload);
        make_partial(&mut p);
        let which = if dnat { AddrField::Dst } else { AddrField::Src };
        ipv4_rewrite_addr(&mut p, which, Ipv4Addr::from(new), L4Csum::Partial).unwrap();
        let off = if tcp { 16 } else { 6 };
        complete_partial(&mut p, 20, off).unwrap();
        let expect = recompute(&p);
        // Both are correct; they may differ only in the form of zero.
        if p != expect {
            let (a, b) = (&p[20 + off..22 + off], &expect[20 + off..22 + off]);
            prop_assert!(a == [0xff, 0xff] && b == [0, 0], "{:?} vs {:?}", a, b);
            prop_assert_eq!(&p[..20 + off], &expect[..20 + off]);
        }
    }

    /// Garbage in, error or Ok out: never a panic.
    #[test]
    fn no_panic_on_garbage(mut data in proptest::collection::vec(any::<u8>(), 0..80), a in any::<[u8; 4]>()) {
        let _ = ipv4_decrement_ttl(&mut data.clone());
        let _ = ipv4_rewrite_addr(&mut data.clone(), AddrField::Src, Ipv4Addr::from(a), L4Csum::Partial);
        let _ = fill_ipv4_header_checksum(&mut data.clone());
        let _ = complete_partial(&mut data, 14, 16);
    }
}
