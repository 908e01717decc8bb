//! The NLB's flow table, target choice and header rewrites, without a router.

use core::net::Ipv4Addr;
use core::time::Duration;

use super::*;
use crate::dataplane::checksum::{self, L4Csum};
use crate::dataplane::testkit::{self, Addrs, Flags};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 50);
const NODE: Ipv4Addr = Ipv4Addr::new(20, 0, 1, 7);
const T1: Ipv4Addr = Ipv4Addr::new(20, 0, 1, 10);

fn session(sport: u16, now: Instant) -> Session {
    Session {
        outer: FlowKey::new(proto::TCP, A, sport, VIP, 80).in_zone(0),
        inner: FlowKey::new(proto::TCP, NODE, sport, T1, 80).in_zone(1),
        client: Client::Vpc,
        nlb: 0,
        endpoint: 0,
        idle: Duration::from_secs(350),
        last: now,
        proxy: Proxy::Off,
        fins: 0,
    }
}

#[test]
fn a_session_is_found_from_both_sides_and_ends_on_rst() {
    let mut t = Sessions::new(8, 1);
    let now = Instant::from_secs(1);
    t.insert(session(40000, now)).unwrap();
    let outer = FlowKey::new(proto::TCP, A, 40000, VIP, 80).in_zone(0);
    let reply = FlowKey::new(proto::TCP, T1, 80, NODE, 40000).in_zone(1);
    assert_eq!(t.from_client(now, &outer, 0).unwrap().inner.dst, T1);
    assert_eq!(t.from_target(now, &reply, 0).unwrap().outer.src, A);
    // The same tuple in another zone is another flow.
    assert!(t.from_client(now, &outer.in_zone(5), 0).is_none());
    assert!(t.reply_taken(&reply));
    assert!(t.from_target(now, &reply, 0x04).is_some());
    assert!(t.from_client(now, &outer, 0).is_none());
    assert!(t.is_empty());
}

#[test]
fn sessions_expire_when_idle_and_the_table_is_bounded() {
    let mut t = Sessions::new(2, 1);
    let now = Instant::from_secs(1);
    t.insert(session(1, now)).unwrap();
    t.insert(session(2, now)).unwrap();
    assert_eq!(t.insert(session(3, now)), Err(SessionsFull(2)));
    let later = now + Duration::from_secs(351);
    assert_eq!(t.expire(later, 10), 2);
    assert!(t.is_empty());
    t.insert(session(3, later)).unwrap();
    let outer = FlowKey::new(proto::TCP, A, 3, VIP, 80).in_zone(0);
    // Traffic keeps it alive; silence past the timeout ends it on the next lookup.
    assert!(t
        .from_client(later + Duration::from_secs(300), &outer, 0)
        .is_some());
    assert!(t
        .from_client(later + Duration::from_secs(600), &outer, 0)
        .is_some());
    assert!(t
        .from_client(later + Duration::from_secs(951), &outer, 0)
        .is_none());
}

#[test]
fn ending_a_target_ends_its_sessions_only() {
    let mut t = Sessions::new(8, 1);
    let now = Instant::ZERO;
    t.insert(session(1, now)).unwrap();
    let mut other = session(2, now);
    other.inner.dst = Ipv4Addr::new(20, 0, 2, 10);
    t.insert(other).unwrap();
    assert_eq!(t.end_target(1, T1), 1);
    assert_eq!(t.len(), 1);
}

#[test]
fn ten_thousand_flows_spread_within_ten_percent_of_even() {
    for n in [2usize, 3, 4] {
        let targets: Vec<usize> = (0..n).collect();
        let mut hits = vec![0u32; n];
        for i in 0..10_000u32 {
            let key = FlowKey::new(
                proto::TCP,
                Ipv4Addr::from(0x0a00_0000 + (i % 200)),
                30_000 + (i / 200) as u16,
                VIP,
                80,
            );
            let h = flow_hash(7, &key, Some(i.wrapping_mul(2_654_435_761)));
            hits[pick(h, &targets, |_| true).unwrap()] += 1;
        }
        let even = 10_000.0 / n as f64;
        for (t, &c) in hits.iter().enumerate() {
            let off = (f64::from(c) - even).abs() / even;
            assert!(off < 0.10, "{n} targets: target {t} got {c} of 10000");
        }
    }
}

#[test]
fn unhealthy_targets_are_skipped_and_all_unhealthy_fails_open() {
    let targets = [0usize, 1, 2];
    for h in 0..100u64 {
        assert_eq!(pick(h, &targets, |t| t == 2), Some(2));
    }
    let mut seen = [false; 3];
    for h in 0..100u64 {
        seen[pick(h, &targets, |_| false).unwrap()] = true;
    }
    assert_eq!(seen, [true; 3], "fail open sends to every target");
    assert_eq!(pick::<usize>(5, &[], |_| true), None);
}

#[test]
fn the_syn_sequence_number_changes_the_hash() {
    let key = FlowKey::new(proto::TCP, A, 40000, VIP, 80);
    let hashes: std::collections::HashSet<u64> =
        (0..64u32).map(|s| flow_hash(3, &key, Some(s))).collect();
    assert!(hashes.len() > 60);
    assert_eq!(flow_hash(3, &key, None), flow_hash(3, &key, None));
}

fn l4_ok(ip: &[u8]) -> bool {
    let info = crate::dataplane::packet::parse_ipv4(ip).unwrap();
    let l4 = &ip[info.ihl..info.total_len];
    let pseudo = checksum::pseudo_v4(info.src, info.dst, info.protocol, l4.len() as u16);
    checksum::l4_checksum_ok(l4, pseudo)
}

#[test]
fn port_rewrites_keep_full_checksums_right() {
    let a = Addrs::new([2; 6], [4; 6], A, VIP);
    for frame in [
        testkit::tcp(&a, 40000, 80, Flags::SYN, b""),
        testkit::tcp(&a, 40000, 80, Flags::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        testkit::udp(&a, 5353, 53, b"hello"),
    ] {
        let mut f = frame.clone();
        let ip = &mut f[14..];
        assert_eq!(
            rewrite_port(ip, PortField::Dst, 8080, L4Csum::Full),
            Ok(if ip[9] == 6 { 80 } else { 53 })
        );
        rewrite_port(ip, PortField::Src, 1234, L4Csum::Full).unwrap();
        checksum::ipv4_rewrite_addr(ip, checksum::AddrField::Src, NODE, L4Csum::Full).unwrap();
        assert!(l4_ok(ip));
        let info = crate::dataplane::packet::parse_ipv4(ip).unwrap();
        assert_eq!(info.l4.ports(), Some((1234, 8080)));
    }
}

#[test]
fn a_partial_checksum_is_left_alone_by_a_port_rewrite() {
    let a = Addrs::new([2; 6], [4; 6], A, VIP);
    let mut f = testkit::tcp(&a, 40000, 80, Flags::ACK, b"x");
    let ip = &mut f[14..];
    let before = [ip[36], ip[37]];
    rewrite_port(ip, PortField::Dst, 81, L4Csum::Partial).unwrap();
    assert_eq!([ip[36], ip[37]], before);
}

/// A SYN with options `opts` (padded to 4 bytes by the caller).
fn syn_with_options(opts: &[u8]) -> Vec<u8> {
    let doff = (20 + opts.len()) / 4;
    let mut ip = vec![0u8; 20 + 20 + opts.len()];
    ip[0] = 0x45;
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&A.octets());
    ip[16..20].copy_from_slice(&VIP.octets());
    checksum::fill_ipv4_header_checksum(&mut ip).unwrap();
    let l4 = &mut ip[20..];
    l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
    l4[2..4].copy_from_slice(&80u16.to_be_bytes());
    l4[4..8].copy_from_slice(&7u32.to_be_bytes());
    l4[12] = (doff as u8) << 4;
    l4[13] = 0x02;
    l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
    l4[20..].copy_from_slice(opts);
    let pseudo = checksum::pseudo_v4(A, VIP, 6, l4.len() as u16);
    checksum::fill_l4_checksum(l4, 6, pseudo).unwrap();
    ip
}

fn mss_of(ip: &[u8]) -> Option<u16> {
    let opts = &ip[40..];
    let at = opts.windows(2).position(|w| w == [2, 4])?;
    Some(u16::from_be_bytes([opts[at + 2], opts[at + 3]]))
}

#[test]
fn the_mss_of_a_syn_is_clamped_with_its_checksum_patched() {
    // MSS first (aligned), then after one NOP (misaligned).
    for opts in [
        vec![2, 4, 0x23, 0x01, 1, 1, 4, 2],
        vec![1, 2, 4, 0x23, 0x01, 1, 1, 0],
    ] {
        let mut ip = syn_with_options(&opts);
        assert!(clamp_mss(&mut ip, 8460, L4Csum::Full));
        assert_eq!(mss_of(&ip), Some(8460));
        assert!(l4_ok(&ip), "checksum after clamping {opts:?}");
        assert!(
            !clamp_mss(&mut ip, 8460, L4Csum::Full),
            "already small enough"
        );
    }
    // Small MSS: unchanged.
    let mut ip = syn_with_options(&[2, 4, 0x05, 0xb4]);
    assert!(!clamp_mss(&mut ip, 8460, L4Csum::Full));
    assert_eq!(mss_of(&ip), Some(1460));
    // Not a SYN: unchanged; garbage options: no panic.
    let mut ip = syn_with_options(&[2, 4, 0x23, 0x01]);
    ip[33] = 0x10;
    assert!(!clamp_mss(&mut ip, 8460, L4Csum::Full));
    let mut ip = syn_with_options(&[2, 9, 0x23, 0x01]);
    assert!(!clamp_mss(&mut ip, 8460, L4Csum::Full));
    assert!(!clamp_mss(&mut [], 8460, L4Csum::Full));
}

#[test]
fn the_syn_sequence_number_is_read() {
    let ip = syn_with_options(&[1, 1, 1, 1]);
    assert_eq!(tcp_seq(&ip), Some(7));
    assert_eq!(tcp_seq(&[0x45]), None);
}

#[test]
fn the_proxy_protocol_header_carries_the_addresses_and_the_endpoint_id() {
    let mut buf = [0u8; PROXY_V2_MAX];
    let n = proxy_v2_header(
        &mut buf,
        (A, 40000),
        (VIP, 80),
        Some("vpce-0123456789abcdef0"),
    )
    .unwrap();
    let h = &buf[..n];
    assert_eq!(&h[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(h[12], 0x21);
    assert_eq!(h[13], 0x11);
    assert_eq!(usize::from(u16::from_be_bytes([h[14], h[15]])), n - 16);
    assert_eq!(&h[16..20], &A.octets());
    assert_eq!(&h[20..24], &VIP.octets());
    assert_eq!(u16::from_be_bytes([h[24], h[25]]), 40000);
    assert_eq!(u16::from_be_bytes([h[26], h[27]]), 80);
    assert_eq!(h[28], 0xEA);
    assert_eq!(u16::from_be_bytes([h[29], h[30]]), 23);
    assert_eq!(h[31], 0x01);
    assert_eq!(&h[32..], b"vpce-0123456789abcdef0");
    // Without an endpoint: addresses only.
    assert_eq!(proxy_v2_header(&mut buf, (A, 1), (VIP, 2), None), Some(28));
    assert_eq!(
        proxy_v2_header(&mut [0u8; 10], (A, 1), (VIP, 2), None),
        None
    );
}

#[test]
fn shifting_sequence_numbers_keeps_the_checksum_right() {
    let a = Addrs::new([2; 6], [4; 6], A, VIP);
    let mut f = testkit::tcp(&a, 40000, 80, Flags::ACK, b"hello");
    let ip = &mut f[14..];
    assert!(shift_seq(ip, SeqField::Seq, 54, L4Csum::Full));
    assert!(shift_seq(
        ip,
        SeqField::Ack,
        54u32.wrapping_neg(),
        L4Csum::Full
    ));
    assert_eq!(tcp_seq(ip), Some(1054));
    assert!(l4_ok(ip));
    // A SYN has no acknowledgement to shift.
    let mut f = testkit::tcp(&a, 40000, 80, Flags::SYN, b"");
    assert!(!shift_seq(&mut f[14..], SeqField::Ack, 1, L4Csum::Full));
}

#[test]
fn a_flow_closed_both_ways_frees_its_entry_within_seconds() {
    let mut t = Sessions::new(4, 1);
    let now = Instant::from_secs(1);
    t.insert(session(7, now)).unwrap();
    let outer = FlowKey::new(proto::TCP, A, 7, VIP, 80).in_zone(0);
    let reply = FlowKey::new(proto::TCP, T1, 80, NODE, 7).in_zone(1);
    t.from_client(now, &outer, 0x11).unwrap();
    // One FIN: still the full idle timeout.
    assert_eq!(t.expire(now + Duration::from_secs(60), 4), 0);
    t.from_target(now + Duration::from_secs(60), &reply, 0x11)
        .unwrap();
    assert_eq!(t.expire(now + Duration::from_secs(64), 4), 0);
    assert_eq!(t.expire(now + Duration::from_secs(66), 4), 1);
}
