//! Unit and model-based property tests for [`super`].

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);
const SYN: u8 = tcp::SYN;
const SYN_ACK: u8 = tcp::SYN | tcp::ACK;
const ACK: u8 = tcp::ACK;

fn t(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn table<V>(capacity: usize) -> Conntrack<V> {
    Conntrack::new(capacity, Timeouts::default(), 0x5eed)
}

fn tcp_key(sport: u16) -> FlowKey {
    FlowKey::new(proto::TCP, A, sport, B, 22)
}

#[test]
fn both_directions_hit_the_same_entry() {
    let mut ct = table(16);
    let k = tcp_key(40000);
    let hit = ct.insert(t(0), &k, SYN, 7u32).unwrap();
    assert_eq!(hit.direction, Direction::Original);
    *hit.value += 1;
    let back = ct.lookup(t(1), &k.reversed(), SYN_ACK).unwrap();
    assert_eq!(back.direction, Direction::Reply);
    assert_eq!(*back.value, 8);
    assert_eq!(
        ct.lookup(t(1), &k, ACK).unwrap().direction,
        Direction::Original
    );
    assert_eq!(ct.len(), 1);
}

#[test]
fn zones_keep_overlapping_address_spaces_apart() {
    let mut ct = table(16);
    let k = tcp_key(40000);
    ct.insert(t(0), &k.in_zone(1), SYN, 1u32).unwrap();
    assert!(ct.lookup(t(1), &k.in_zone(2).reversed(), SYN_ACK).is_none());
    assert!(
        ct.lookup(t(1), &k, SYN_ACK).is_none(),
        "zone 0 is another VPC"
    );
    let back = ct.lookup(t(1), &k.in_zone(1).reversed(), SYN_ACK).unwrap();
    assert_eq!(*back.value, 1);
    assert_eq!(k.in_zone(1).reversed().zone, 1, "reversing keeps the zone");
}

#[test]
fn direction_is_the_openers_even_when_it_is_the_high_end() {
    let mut ct = table(4);
    // B > A: the opener is the "hi" end of the canonical key.
    let k = FlowKey::new(proto::UDP, B, 53, A, 5353);
    ct.insert(t(0), &k, 0, ()).unwrap();
    assert_eq!(
        ct.lookup(t(0), &k, 0).unwrap().direction,
        Direction::Original
    );
    assert_eq!(
        ct.lookup(t(0), &k.reversed(), 0).unwrap().direction,
        Direction::Reply
    );
}

#[test]
fn icmp_echo_is_keyed_by_identifier() {
    let mut ct = table(4);
    ct.insert(t(0), &FlowKey::icmp_echo(A, B, 7), 0, ())
        .unwrap();
    let reply = ct.lookup(t(1), &FlowKey::icmp_echo(B, A, 7), 0).unwrap();
    assert_eq!(
        (reply.direction, reply.state),
        (Direction::Reply, FlowState::Icmp)
    );
    assert!(ct.lookup(t(1), &FlowKey::icmp_echo(B, A, 8), 0).is_none());
    assert!(ct.peek(t(29), &FlowKey::icmp_echo(A, B, 7)).is_some());
    assert!(ct.peek(t(31), &FlowKey::icmp_echo(A, B, 7)).is_none());
}

#[test]
fn tcp_handshake_establishes_and_fin_closes() {
    let mut ct = table(4);
    let k = tcp_key(40001);
    assert_eq!(
        ct.insert(t(0), &k, SYN, ()).unwrap().state,
        FlowState::TcpOpening
    );
    assert_eq!(
        ct.lookup(t(0), &k.reversed(), SYN_ACK).unwrap().state,
        FlowState::TcpOpening
    );
    assert_eq!(
        ct.lookup(t(0), &k, ACK).unwrap().state,
        FlowState::TcpEstablished
    );
    // Established survives a long idle period...
    assert_eq!(
        ct.lookup(t(100_000), &k, ACK).unwrap().state,
        FlowState::TcpEstablished
    );
    // ...FIN makes it transitory again, and it then dies after 120 s.
    assert_eq!(
        ct.lookup(t(100_000), &k.reversed(), tcp::FIN | ACK)
            .unwrap()
            .state,
        FlowState::TcpClosing
    );
    assert!(ct.peek(t(100_119), &k).is_some());
    assert!(ct.lookup(t(100_120), &k, ACK).is_none());
    assert!(ct.is_empty(), "lazily reclaimed");
}

#[test]
fn unanswered_syn_expires_after_transitory_timeout() {
    let mut ct = table(4);
    let k = tcp_key(40002);
    ct.insert(t(0), &k, SYN, ()).unwrap();
    assert!(ct.lookup(t(119), &k, SYN).is_some());
    assert!(ct.lookup(t(239), &k, SYN).is_none(), "119 s + 120 s idle");
}

#[test]
fn syn_after_close_reopens() {
    let mut ct = table(4);
    let k = tcp_key(40003);
    ct.insert(t(0), &k, tcp::RST, ()).unwrap();
    assert_eq!(ct.peek(t(0), &k).unwrap().1, FlowState::TcpClosing);
    assert_eq!(
        ct.lookup(t(1), &k, SYN).unwrap().state,
        FlowState::TcpOpening
    );
}

#[test]
fn udp_single_then_stream_timeouts() {
    let mut ct = table(4);
    let k = FlowKey::new(proto::UDP, A, 5000, B, 53);
    assert_eq!(
        ct.insert(t(0), &k, 0, ()).unwrap().state,
        FlowState::UdpSingle
    );
    assert!(ct.peek(t(30), &k).is_none(), "single exchange: 30 s");
    ct.insert(t(100), &k, 0, ()).unwrap();
    assert_eq!(
        ct.lookup(t(101), &k.reversed(), 0).unwrap().state,
        FlowState::UdpStream
    );
    assert!(ct.peek(t(280), &k).is_some());
    assert!(ct.peek(t(281), &k).is_none(), "stream: 180 s");
}

#[test]
fn other_protocols_get_600s() {
    let mut ct = table(4);
    let gre = FlowKey::new(47, A, 0, B, 0);
    assert_eq!(
        ct.insert(t(0), &gre, 0, ()).unwrap().state,
        FlowState::Other
    );
    assert!(ct.peek(t(599), &gre).is_some());
    assert!(ct.peek(t(600), &gre).is_none());
}

#[test]
fn full_table_refuses_new_flows_but_serves_existing_ones() {
    let mut ct = table(2);
    ct.insert(t(0), &tcp_key(1), SYN, 1).unwrap();
    ct.insert(t(0), &tcp_key(2), SYN, 2).unwrap();
    assert_eq!(
        ct.insert(t(1), &tcp_key(3), SYN, 3).map(|_| ()),
        Err(ConntrackFull { capacity: 2 })
    );
    assert_eq!(
        *ct.lookup(t(1), &tcp_key(1).reversed(), SYN_ACK)
            .unwrap()
            .value,
        1
    );
    assert_eq!(*ct.lookup(t(1), &tcp_key(2), ACK).unwrap().value, 2);
    assert!(ct.lookup(t(1), &tcp_key(3), ACK).is_none());
    // Re-inserting an existing flow replaces it, even when full.
    assert_eq!(*ct.insert(t(1), &tcp_key(2), SYN, 20).unwrap().value, 20);
    assert_eq!(ct.len(), 2);
    // Once the flows expire, insert reclaims them itself.
    assert!(ct.insert(t(500), &tcp_key(3), SYN, 3).is_ok());
    assert_eq!(ct.len(), 1);
}

#[test]
fn sweep_reclaims_within_its_budget() {
    let mut ct = table(100);
    for p in 0..100 {
        ct.insert(t(0), &FlowKey::new(proto::UDP, A, p, B, 53), 0, ())
            .unwrap();
    }
    let live = FlowKey::new(proto::UDP, A, 50, B, 53);
    ct.lookup(t(20), &live, 0).unwrap();
    assert_eq!(ct.expire(t(10), 100), 0, "nothing is due yet");
    assert_eq!(ct.expire(t(40), 30), 30, "budget bounds the work");
    let mut total = 30;
    for _ in 0..5 {
        total += ct.expire(t(40), 30);
    }
    assert_eq!(total, 99);
    assert_eq!(ct.len(), 1);
    assert!(ct.peek(t(40), &live).is_some());
    assert_eq!(ct.expire(t(40), 0), 0);
}

#[test]
fn remove_and_slot_reuse() {
    let mut ct = table(2);
    ct.insert(t(0), &tcp_key(1), SYN, 'a').unwrap();
    assert_eq!(ct.remove(&tcp_key(1).reversed()), Some('a'));
    assert_eq!(ct.remove(&tcp_key(1)), None);
    ct.insert(t(0), &tcp_key(2), SYN, 'b').unwrap();
    ct.insert(t(0), &tcp_key(3), SYN, 'c').unwrap();
    assert_eq!(ct.len(), 2);
    assert_eq!(ct.slots.len(), 2, "freed slot reused");
}

/// Heavy insert/remove churn on a nearly full index: backward-shift deletion
/// must keep every remaining key reachable (no tombstones to lean on).
#[test]
fn churn_keeps_every_key_reachable() {
    let mut ct = table(512);
    let key = |i: u32| FlowKey::new(proto::UDP, Ipv4Addr::from(i), 1, B, 2);
    let mut present = std::collections::BTreeSet::new();
    let mut x: u32 = 12345;
    for step in 0..20_000u32 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let i = (x >> 8) % 2048;
        if present.contains(&i) {
            assert_eq!(ct.remove(&key(i)), Some(i), "step {step}");
            present.remove(&i);
        } else if ct.insert(t(0), &key(i), 0, i).is_ok() {
            present.insert(i);
        } else {
            assert_eq!(present.len(), 512);
        }
    }
    assert_eq!(ct.len(), present.len());
    for i in 0..2048 {
        assert_eq!(
            ct.peek(t(1), &key(i)).map(|p| *p.2),
            present.contains(&i).then_some(i)
        );
    }
}

#[test]
fn zero_capacity_refuses_everything() {
    let mut ct: Conntrack<()> = table(0);
    assert!(ct.insert(t(0), &tcp_key(1), SYN, ()).is_err());
    assert!(ct.lookup(t(0), &tcp_key(1), SYN).is_none());
}

/// Memory at 1M entries (the brief's budget is ≤ 200 bytes per entry).
#[test]
fn memory_per_entry_at_one_million() {
    let ct: Conntrack<[u8; 16]> = table(1 << 20);
    let per_entry = ct.memory_bytes() / ct.capacity();
    assert!(per_entry <= 200, "{per_entry} bytes per entry");
    assert!(Conntrack::<()>::slot_size() <= 32, "slot grew");
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, bool),
    Lookup(u8, bool),
    Remove(u8),
    Advance(u16),
    Expire(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..24, any::<bool>()).prop_map(|(k, r)| Op::Insert(k, r)),
        (0u8..24, any::<bool>()).prop_map(|(k, r)| Op::Lookup(k, r)),
        (0u8..24).prop_map(Op::Remove),
        (0u16..400).prop_map(Op::Advance),
        (0u8..40).prop_map(Op::Expire),
    ]
}

proptest! {
    /// Against a plain HashMap model (protocol 47: one fixed 600 s timeout;
    /// capacity ≤ RECLAIM_ON_FULL, so a full insert reclaims every expired
    /// entry): lookups, directions, values and refusals agree.
    #[test]
    fn matches_a_simple_model(cap in 0usize..=16, ops in proptest::collection::vec(op(), 1..200)) {
        let mut ct: Conntrack<u32> = table(cap);
        // canonical flow id → (last_seen secs, opener is the "a" side, value)
        let mut model: HashMap<u8, (u64, bool, u32)> = HashMap::new();
        let key = |k: u8, rev: bool| {
            let f = FlowKey::new(47, Ipv4Addr::new(10, 0, 0, k), 0, Ipv4Addr::new(10, 0, 1, k), 0);
            if rev { f.reversed() } else { f }
        };
        let mut now = 0u64;
        fn live(m: &HashMap<u8, (u64, bool, u32)>, k: u8, now: u64) -> Option<(u64, bool, u32)> {
            m.get(&k).filter(|e| now - e.0 < 600).copied()
        }
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert(k, rev) => {
                    // The table frees k's old entry, reclaims expired ones if
                    // full, and accepts iff the other live flows leave room.
                    let others = model.iter().filter(|(j, e)| **j != k && now - e.0 < 600).count();
                    let r = ct.insert(Instant::from_secs(now), &key(k, rev), 0, n as u32).map(|h| *h.value);
                    if others < cap {
                        prop_assert_eq!(r, Ok(n as u32));
                        model.insert(k, (now, !rev, n as u32));
                    } else {
                        prop_assert!(r.is_err());
                        model.remove(&k);
                    }
                }
                Op::Lookup(k, rev) => {
                    let got = ct.lookup(Instant::from_secs(now), &key(k, rev), 0).map(|h| (h.direction, *h.value));
                    let want = live(&model, k, now).map(|e| {
                        let d = if e.1 != rev { Direction::Original } else { Direction::Reply };
                        (d, e.2)
                    });
                    prop_assert_eq!(got, want);
                    if want.is_some() {
                        if let Some(e) = model.get_mut(&k) { e.0 = now; }
                    } else {
                        model.remove(&k);
                    }
                }
                Op::Remove(k) => {
                    // An expired entry may or may not have been swept yet.
                    let got = ct.remove(&key(k, false));
                    if let Some(e) = live(&model, k, now) {
                        prop_assert_eq!(got, Some(e.2));
                    }
                    model.remove(&k);
                }
                Op::Advance(s) => now += u64::from(s),
                Op::Expire(b) => { ct.expire(Instant::from_secs(now), usize::from(b)); }
            }
            prop_assert!(ct.len() <= cap);
            for k in 0..24u8 {
                let peek = ct.peek(Instant::from_secs(now), &key(k, false)).map(|p| *p.2);
                prop_assert_eq!(peek, live(&model, k, now).map(|e| e.2));
            }
        }
    }
}
