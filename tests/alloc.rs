//! Nothing on the forwarding path allocates: [`Router::process`] forwards the
//! frames of established flows without touching the heap.
//!
//! This test binary's global allocator counts the allocations, reallocations
//! and frees made on the calling thread while a measurement is armed (tests
//! run on several threads; each counts only its own), and each test asserts
//! zero over `N` calls to `Router::process` into a sink that does not allocate
//! ([`Count`]). Frames are built before arming and copied into a buffer made
//! before arming, since the router rewrites them in place.
//!
//! Covered: new UDP flows (each frame the first of its flow, so tracked
//! anew), an established TCP flow across subnets (64-byte frames both ways,
//! the reply through the tracked side only), a 64 KiB GSO super-frame
//! forwarded whole, the internet gateway's NAT both ways (SNAT out, DNAT in),
//! and what the gateway's 1500-byte MTU does to bigger packets: a GSO frame
//! with DF set answered with Fragmentation Needed, one with DF clear
//! segmented in software, a 9001-byte packet with DF clear fragmented.
//!
//! To find where an allocation comes from: `VPCLAB_ALLOC_BACKTRACE=1 cargo
//! test --test alloc` prints the backtraces of the first heap calls counted
//! in each measurement.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use vpclab::dataplane::checksum;
use vpclab::dataplane::router::Router;
use vpclab::dataplane::testkit::{self, Addrs, Count, Flags};
use vpclab::dataplane::testkit::{Harness, Host};
use vpclab::dataplane::time::Instant;
use vpclab::dataplane::topology::PortId;
use vpclab::dataplane::verdict::{DropReason, Verdict};
use vpclab::dataplane::vnet::{flags, gso_type, HdrSize, VnetHdr};
use vpclab::model::catalog;

/// Frames per measurement.
const N: usize = 1000;

// ---- the counting allocator --------------------------------------------------------

struct Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Print a backtrace for the first [`BACKTRACES`] heap calls of a
/// measurement (`VPCLAB_ALLOC_BACKTRACE`).
static BACKTRACE: AtomicBool = AtomicBool::new(false);
const BACKTRACES: u64 = 3;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static HEAP: Cell<Heap> = const { Cell::new(Heap::NONE) };
}

/// Heap calls made on one thread while armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Heap {
    allocs: u64,
    reallocs: u64,
    frees: u64,
}

impl Heap {
    const NONE: Heap = Heap {
        allocs: 0,
        reallocs: 0,
        frees: 0,
    };
}

fn note(what: fn(&mut Heap)) {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    if ARMED.try_with(Cell::get) != Ok(true) {
        return;
    }
    let seen = HEAP.try_with(|h| {
        let mut v = h.get();
        what(&mut v);
        h.set(v);
        v.allocs + v.reallocs + v.frees
    });
    if BACKTRACE.load(Ordering::Relaxed) && seen.is_ok_and(|n| n <= BACKTRACES) {
        // Capturing and printing allocate: not counted.
        ARMED.set(false);
        eprintln!(
            "heap call on the forwarding path:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        ARMED.set(true);
    }
}

// SAFETY: every call is passed on unchanged to the system allocator; `note`
// only touches thread-local cells (const-initialised, no destructor) and
// disarms itself around anything that allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(|h| h.allocs += 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(|h| h.allocs += 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(|h| h.reallocs += 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(|h| h.frees += 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The heap calls `f` makes on this thread.
fn heap_calls_of(f: impl FnOnce()) -> Heap {
    BACKTRACE.store(
        std::env::var_os("VPCLAB_ALLOC_BACKTRACE").is_some(),
        Ordering::Relaxed,
    );
    HEAP.set(Heap::NONE);
    ARMED.set(true);
    f();
    ARMED.set(false);
    HEAP.get()
}

// ---- the router ----------------------------------------------------------------

fn lab() -> Harness {
    Harness::new(common::load_file("tests/fixtures/router-lab.yaml"))
}

/// Sends `frame` (an Ethernet frame) once, outside any measurement: a flow's
/// first packet, which may start tracking it.
fn open(h: &mut Harness, port: PortId, vnet: &VnetHdr, frame: &[u8]) -> Verdict {
    let (v, _) = h.send_vnet(port, vnet, frame);
    v
}

/// One case: `frame` from `port`, `N` times; every call must say `expect`.
struct Case {
    port: PortId,
    /// The whole buffer (vnet header and frame) as the TAP hands it over.
    frame: Vec<u8>,
    expect: Verdict,
}

impl Case {
    fn new(port: PortId, vnet: &VnetHdr, frame: &[u8], expect: Verdict) -> Case {
        Case {
            port,
            frame: testkit::with_vnet(HdrSize::Legacy, vnet, frame),
            expect,
        }
    }
}

/// Runs every case `N` times (interleaved, as a flow's two directions are)
/// with the heap watched; returns the heap calls and the frames sent.
fn forward(router: &mut Router, now: Instant, cases: &[Case]) -> (Heap, Count) {
    forward_rounds(router, now, cases, N)
}

/// [`forward`], `rounds` times.
fn forward_rounds(
    router: &mut Router,
    now: Instant,
    cases: &[Case],
    rounds: usize,
) -> (Heap, Count) {
    let mut sink = Count::default();
    let longest = cases.iter().map(|c| c.frame.len()).max().unwrap_or(0);
    let mut buf = vec![0u8; longest];
    let mut wrong: Option<(usize, Verdict)> = None;
    let heap = heap_calls_of(|| {
        for _ in 0..rounds {
            for (i, c) in cases.iter().enumerate() {
                let b = &mut buf[..c.frame.len()];
                b.copy_from_slice(&c.frame);
                let v = router.process(now, c.port, b, &mut sink);
                if v != c.expect && wrong.is_none() {
                    wrong = Some((i, v));
                }
            }
        }
    });
    if let Some((i, v)) = wrong {
        panic!("case {i}: {v:?}, expected {:?}", cases[i].expect);
    }
    (heap, sink)
}

fn assert_no_heap(heap: Heap, what: &str) {
    assert_eq!(
        heap,
        Heap::NONE,
        "{what}: Router::process used the heap ({} allocations, {} reallocations, {} frees); \
         rerun with VPCLAB_ALLOC_BACKTRACE=1 to see where",
        heap.allocs,
        heap.reallocs,
        heap.frees
    );
}

/// A TSO super-frame as a TAP hands it over: `NEEDS_CSUM`, the TCP checksum
/// field holding the pseudo-header sum, `gso_size` the MSS; 64 KiB of IP.
fn tso_64k(a: &Addrs, sport: u16, dport: u16, mss: u16) -> (VnetHdr, Vec<u8>) {
    let payload = 65_535 - 20 - 20;
    let mut frame = testkit::tcp(a, sport, dport, Flags::ACK, &vec![0xa5; payload]);
    let pseudo = checksum::pseudo_v4(a.src, a.dst, 6, (payload + 20) as u16);
    frame[50..52].copy_from_slice(&pseudo.to_be_bytes());
    let vnet = VnetHdr {
        flags: flags::NEEDS_CSUM,
        gso_type: gso_type::TCPV4,
        hdr_len: 54,
        gso_size: mss,
        csum_start: 34,
        csum_offset: 16,
        num_buffers: 0,
    };
    (vnet, frame)
}

/// ClientA and ServerB of the router lab with a TCP flow (ClientA:40000 →
/// ServerB:22) opened: SYN, SYN+ACK. ServerB's group lets nothing out on its
/// own, so its replies pass only as a tracked flow's.
fn established(h: &mut Harness) -> (Host, Host) {
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let a = h.from(&client, server.ip);
    let r = h.from(&server, client.ip);
    let syn = testkit::tcp(&a, 40000, 22, Flags::SYN, b"");
    let syn_ack = testkit::tcp(&r, 22, 40000, Flags::SYN_ACK, b"");
    let v = open(h, client.port, &VnetHdr::PLAIN, &syn);
    assert_eq!(v, Verdict::Forwarded(server.port));
    let v = open(h, server.port, &VnetHdr::PLAIN, &syn_ack);
    assert_eq!(v, Verdict::Forwarded(client.port));
    (client, server)
}

#[test]
fn an_established_flow_across_subnets_is_forwarded_without_allocating() {
    let mut h = lab();
    let (client, server) = established(&mut h);
    let a = h.from(&client, server.ip);
    let r = h.from(&server, client.ip);
    let cases = [
        // 64-byte frames: 14 + 20 + 20 + 10.
        Case::new(
            client.port,
            &VnetHdr::PLAIN,
            &testkit::tcp(&a, 40000, 22, Flags::ACK, &[0; 10]),
            Verdict::Forwarded(server.port),
        ),
        Case::new(
            server.port,
            &VnetHdr::PLAIN,
            &testkit::tcp(&r, 22, 40000, Flags::ACK, &[0; 10]),
            Verdict::Forwarded(client.port),
        ),
    ];
    let flows = h.router.tracked_flows();
    let now = h.now;
    let (heap, sent) = forward(&mut h.router, now, &cases);
    assert_eq!(sent.frames, 2 * N as u64, "every frame forwarded once");
    assert_eq!(h.router.tracked_flows(), flows, "no new flow");
    assert_no_heap(heap, "an established TCP flow, both ways");
}

#[test]
fn a_64k_gso_frame_is_forwarded_whole_without_allocating() {
    let mut h = lab();
    let (client, server) = established(&mut h);
    let (vnet, frame) = tso_64k(&h.from(&client, server.ip), 40000, 22, 8948);
    let cases = [Case::new(
        client.port,
        &vnet,
        &frame,
        Verdict::Forwarded(server.port),
    )];
    let now = h.now;
    let (heap, sent) = forward(&mut h.router, now, &cases);
    assert_eq!(sent.frames, N as u64, "forwarded whole: one frame each");
    assert_no_heap(heap, "a 64 KiB GSO frame across subnets");
}

#[test]
fn nat_at_the_internet_gateway_both_ways_does_not_allocate() {
    let mut h = lab();
    let client = h.host("ClientA");
    let public = client.public.expect("ClientA has a public IP");
    let internet = h.internet();
    let a = h.from(&client, catalog::INTERNET_HOST);
    let r = h.inbound_addrs(public);
    let v = open(
        &mut h,
        client.port,
        &VnetHdr::PLAIN,
        &testkit::tcp(&a, 40000, 80, Flags::SYN, b""),
    );
    assert_eq!(v, Verdict::Forwarded(internet));
    let v = open(
        &mut h,
        internet,
        &VnetHdr::PLAIN,
        &testkit::tcp(&r, 80, 40000, Flags::SYN_ACK, b""),
    );
    assert_eq!(v, Verdict::Forwarded(client.port));
    let cases = [
        // Out: SNAT to the public IP, TTL − 1.
        Case::new(
            client.port,
            &VnetHdr::PLAIN,
            &testkit::tcp(&a, 40000, 80, Flags::ACK, &[0; 10]),
            Verdict::Forwarded(internet),
        ),
        // In: DNAT to the private IP.
        Case::new(
            internet,
            &VnetHdr::PLAIN,
            &testkit::tcp(&r, 80, 40000, Flags::ACK, &[0; 10]),
            Verdict::Forwarded(client.port),
        ),
    ];
    let now = h.now;
    let (heap, sent) = forward(&mut h.router, now, &cases);
    assert_eq!(sent.frames, 2 * N as u64);
    assert_no_heap(heap, "the internet gateway's NAT, both ways");
}

/// ClientA with a TCP flow to the internet host (ClientA:`sport` → port 80)
/// opened; the addresses of its frames.
fn to_the_internet(h: &mut Harness, sport: u16) -> (Host, Addrs) {
    let client = h.host("ClientA");
    let a = h.from(&client, catalog::INTERNET_HOST);
    let syn = testkit::tcp(&a, sport, 80, Flags::SYN, b"");
    let v = open(h, client.port, &VnetHdr::PLAIN, &syn);
    assert_eq!(v, Verdict::Forwarded(h.internet()));
    (client, a)
}

/// `frame` (Ethernet, IPv4 without options) with Don't Fragment cleared.
fn without_df(mut frame: Vec<u8>) -> Vec<u8> {
    frame[14 + 6] &= !0x40;
    checksum::fill_ipv4_header_checksum(&mut frame[14..]).expect("IPv4 header");
    frame
}

#[test]
fn a_gso_frame_too_big_for_the_internet_gateway_gets_frag_needed_without_allocating() {
    let mut h = lab();
    let (client, a) = to_the_internet(&mut h, 40001);
    // Segments of 8948 bytes do not fit the gateway's 1500, and DF is set:
    // Fragmentation Needed, written in the router's own buffer, back to ClientA.
    let (vnet, frame) = tso_64k(&a, 40001, 80, 8948);
    let cases = [Case::new(
        client.port,
        &vnet,
        &frame,
        Verdict::Dropped(DropReason::MtuExceeded),
    )];
    let now = h.now;
    let (heap, sent) = forward(&mut h.router, now, &cases);
    assert_eq!(sent.frames, N as u64, "one ICMP error each");
    assert_no_heap(heap, "Fragmentation Needed at the internet gateway");
}

#[test]
fn a_gso_frame_segmented_for_the_internet_gateway_does_not_allocate() {
    let mut h = lab();
    let (_, a) = to_the_internet(&mut h, 40002);
    // DF clear: segmented in software to 1460-byte segments.
    let (vnet, frame) = tso_64k(&a, 40002, 80, 8948);
    let cases = [Case::new(
        h.host("ClientA").port,
        &vnet,
        &without_df(frame),
        Verdict::Forwarded(h.internet()),
    )];
    let now = h.now;
    let (heap, sent) = forward(&mut h.router, now, &cases);
    let segments = (65_535 - 40usize).div_ceil(1460) as u64;
    assert_eq!(sent.frames, segments * N as u64, "segmented to the MTU");
    assert_no_heap(heap, "a 64 KiB GSO frame segmented at the internet gateway");
}

#[test]
fn a_jumbo_packet_fragmented_for_the_internet_gateway_does_not_allocate() {
    let mut h = lab();
    let (_, a) = to_the_internet(&mut h, 40003);
    // 9001 bytes of IP (the VPC's MTU), DF clear: fragments of 1480 bytes of payload.
    let frame = testkit::tcp(&a, 40003, 80, Flags::ACK, &vec![0x5a; 9001 - 40]);
    let cases = [Case::new(
        h.host("ClientA").port,
        &VnetHdr::PLAIN,
        &without_df(frame),
        Verdict::Forwarded(h.internet()),
    )];
    let now = h.now;
    let (heap, sent) = forward(&mut h.router, now, &cases);
    let fragments = (9001 - 20usize).div_ceil(1480) as u64;
    assert_eq!(sent.frames, fragments * N as u64, "fragmented to the MTU");
    assert_no_heap(
        heap,
        "a 9001-byte packet fragmented at the internet gateway",
    );
}

#[test]
fn new_flows_are_tracked_without_allocating() {
    let mut h = lab();
    let client = h.host("ClientA");
    let server = h.host("ServerB");
    let a = h.from(&client, server.ip);
    // `N` UDP flows to ServerB's port 53, each frame the first of its flow:
    // judged by the groups, the ACLs and the route table, then inserted into
    // connection tracking (allocated up front) and recorded in the flow log.
    let cases: Vec<Case> = (0..N as u16)
        .map(|i| {
            Case::new(
                client.port,
                &VnetHdr::PLAIN,
                &testkit::udp(&a, 10_000 + i, 53, &[0; 18]),
                Verdict::Forwarded(server.port),
            )
        })
        .collect();
    let flows = h.router.tracked_flows();
    let now = h.now;
    let (heap, sent) = forward_rounds(&mut h.router, now, &cases, 1);
    assert_eq!(sent.frames, N as u64);
    assert_eq!(h.router.tracked_flows(), flows + N, "one new flow each");
    assert_no_heap(heap, "new flows");
}

/// The check itself: an allocation inside a measurement is counted.
#[test]
fn the_counter_sees_an_allocation() {
    let heap = heap_calls_of(|| {
        std::hint::black_box(vec![0u8; 64]);
    });
    assert_eq!(
        heap,
        Heap {
            allocs: 1,
            reallocs: 0,
            frees: 1
        }
    );
}
