//! Packet capture at the router (`vpclab capture`): the event loop's side and the daemon's
//! stream to the client.
//!
//! Contract:
//! - A capture is a [`CaptureTap`] held by the event loop and a [`CaptureStream`] held by
//!   the client's thread, joined by a bounded queue: at most [`QUEUE_FRAMES`] frames and
//!   [`QUEUE_BYTES`] bytes waiting. The loop never waits on it: a frame that finds the queue
//!   full is dropped and counted ([`CaptureTap::offer`]), and the stream reports the count.
//! - The loop holds its captures in an `Option<Box<Capturing>>`: with no capture the packet
//!   path pays one branch on that `None` and nothing else. With one, the ingress frame of a
//!   watched port is copied before the router sees it (it may be rewritten in place), frames
//!   sent to a watched port are copied as the router sends them (`Tapping`, a [`Sink`]
//!   around the loop's own), and each copy is queued with the router's [`Verdict`] for the
//!   ingress frame and the route that carried it (from the router's trace hook).
//! - A capture may also watch addresses: those of network interfaces without a device (an
//!   endpoint's, a load balancer node's), whose packets the router meets on other ports.
//!   Then the IPv4 addresses of each frame are read, and a frame from or to one of them is
//!   captured as that interface's.
//! - A service port's bare IPv4 packet is given an Ethernet header (the router's MAC and
//!   [`SERVICE_MAC`]), so every captured frame is Ethernet.
//! - [`serve`] runs on the client's thread: it names each frame's verdict ([`comment`]),
//!   writes records to the client, an idle record every [`IDLE`] without frames (so a closed
//!   client is noticed), and ends when the client is gone or the loop is; then it asks the
//!   loop to drop the tap.

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::control::capture::{comment, route_text, Packet, Record, VNET_LEN};
use crate::dataplane::router::{Router, Sink, Step};
use crate::dataplane::time::Instant;
use crate::dataplane::topology::{Framing, PortId, Snapshot};
use crate::dataplane::verdict::Verdict;
use crate::dataplane::vnet::{HdrSize, VnetHdr};
use crate::dataplane::wire::ethernet;
use crate::dataplane::wire::Ipv4;

/// An Ethernet header's length.
const ETH_HDR_LEN: usize = ethernet::field::HEADER_LEN;

/// Frames a capture's queue holds.
pub const QUEUE_FRAMES: usize = 4096;
/// Bytes a capture's queue holds (frames' bytes).
pub const QUEUE_BYTES: usize = 16 << 20;
/// How long the stream waits for a frame before it writes an idle record.
pub const IDLE: Duration = Duration::from_millis(500);
/// The MAC given to the service side of a service port's packets in a capture.
pub const SERVICE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];

/// A frame the loop captured, with what the router did with the frame that caused it.
#[derive(Debug)]
pub struct Captured {
    /// The capture's interface it belongs to (a watched port, or the port of a watched
    /// address's network interface).
    pub iface: PortId,
    /// The port the router met it on.
    pub port: PortId,
    /// Sent to the port (else received from it).
    pub out: bool,
    /// The port the frame that caused it came in from.
    pub ingress: PortId,
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
    /// The virtio-net header (legacy layout; zero for service ports).
    pub vnet: [u8; VNET_LEN],
    /// The Ethernet frame.
    pub frame: Vec<u8>,
    /// The router's verdict on the ingress frame.
    pub verdict: Verdict,
    /// The route that carried it (a [`Step::Route`]), if one did.
    pub route: Option<Step>,
    /// The snapshot the router judged it with (to name what the verdict names).
    pub snap: Arc<Snapshot>,
}

/// The loop's end of a capture.
#[derive(Debug)]
pub struct CaptureTap {
    /// The capture's id (to end it).
    pub id: u64,
    /// Watched ports, by port index.
    watched: Vec<bool>,
    /// Watched addresses, each with the port of the interface it belongs to.
    addrs: Vec<(Ipv4Addr, PortId)>,
    queue: SyncSender<Captured>,
    /// Frame bytes queued and not yet taken by the stream.
    queued_bytes: Arc<AtomicUsize>,
    /// At most this many bytes queued.
    budget: usize,
    dropped: Arc<AtomicU64>,
}

/// The client's end of a capture.
#[derive(Debug)]
pub struct CaptureStream {
    /// The capture's id.
    pub id: u64,
    queue: Receiver<Captured>,
    queued_bytes: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

/// What [`CaptureTap::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Queued,
    /// The queue was full: dropped and counted.
    Dropped,
    /// The stream is gone: the tap is to be removed.
    Closed,
}

/// A capture of `ports` and of the packets from or to `addrs` (id `id`), its queue holding at
/// most `frames` frames and `bytes` bytes. An address is a network interface without a device
/// of its own (an endpoint's, a load balancer node's): its packets cross other ports, and are
/// captured as its interface's (the port paired with it).
pub fn channel(
    id: u64,
    ports: &[PortId],
    addrs: &[(Ipv4Addr, PortId)],
    frames: usize,
    bytes: usize,
) -> (CaptureTap, CaptureStream) {
    let (tx, rx) = mpsc::sync_channel(frames);
    let len = ports.iter().map(|p| p.ix() + 1).max().unwrap_or(0);
    let mut watched = vec![false; len];
    for p in ports {
        if let Some(w) = watched.get_mut(p.ix()) {
            *w = true;
        }
    }
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let tap = CaptureTap {
        id,
        watched,
        addrs: addrs.to_vec(),
        queue: tx,
        queued_bytes: Arc::clone(&queued_bytes),
        budget: bytes,
        dropped: Arc::clone(&dropped),
    };
    let stream = CaptureStream {
        id,
        queue: rx,
        queued_bytes,
        dropped,
    };
    (tap, stream)
}

impl CaptureTap {
    /// Whether the capture watches `port`.
    #[inline]
    pub fn watches(&self, port: PortId) -> bool {
        self.watched.get(port.ix()).copied().unwrap_or(false)
    }

    /// The interface a packet from `src` to `dst` belongs to, if it is a watched address's.
    #[inline]
    fn iface_of(&self, addrs: Option<(Ipv4Addr, Ipv4Addr)>) -> Option<PortId> {
        let (src, dst) = addrs?;
        self.addrs
            .iter()
            .find(|(a, _)| *a == src || *a == dst)
            .map(|(_, p)| *p)
    }

    /// The interface a frame met on `port` belongs to, if this capture takes it.
    fn takes(&self, port: PortId, addrs: Option<(Ipv4Addr, Ipv4Addr)>) -> Option<PortId> {
        if self.watches(port) {
            Some(port)
        } else {
            self.iface_of(addrs)
        }
    }

    /// Queues `c` without waiting: a full queue (frames or bytes) drops it and counts it.
    pub fn offer(&self, c: Captured) -> Offer {
        let len = c.frame.len();
        if self.queued_bytes.load(Ordering::Acquire) + len > self.budget {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Offer::Dropped;
        }
        self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        match self.queue.try_send(c) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Offer::Dropped
            }
            Err(TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                Offer::Closed
            }
        }
    }
}

impl CaptureStream {
    /// The next captured frame, waiting at most `wait`.
    pub fn recv(&self, wait: Duration) -> Result<Captured, RecvTimeoutError> {
        let c = self.queue.recv_timeout(wait)?;
        self.queued_bytes.fetch_sub(c.frame.len(), Ordering::AcqRel);
        Ok(c)
    }

    /// Frames dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The event loop's captures (see the module docs), and what one frame produced.
#[derive(Debug, Default)]
pub struct Capturing {
    taps: Vec<CaptureTap>,
    /// The ingress frame as it came (Ethernet) and its virtio-net header.
    ingress: Vec<u8>,
    ingress_vnet: [u8; VNET_LEN],
    /// Frames sent during the current frame that a capture takes.
    sent: Vec<Met>,
    /// The first route the current frame took.
    route: Option<Step>,
    /// The router's MAC (the router's side of a service port's packets).
    router_mac: [u8; 6],
    /// A capture watches addresses: frames' addresses are read.
    by_address: bool,
}

impl Capturing {
    /// Adds a capture.
    pub fn add(&mut self, tap: CaptureTap) {
        self.taps.push(tap);
    }

    /// Ends capture `id` (nothing if it is gone already).
    pub fn remove(&mut self, id: u64) {
        self.taps.retain(|t| t.id != id);
    }

    /// Captures in place.
    pub fn len(&self) -> usize {
        self.taps.len()
    }

    /// No capture left.
    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    /// Whether a capture takes a frame met on `port` with these addresses.
    fn wants(&self, port: PortId, addrs: Option<(Ipv4Addr, Ipv4Addr)>) -> bool {
        self.taps.iter().any(|t| t.takes(port, addrs).is_some())
    }

    /// Whether a capture watches addresses (then frames' addresses are read).
    fn by_address(&self) -> bool {
        self.taps.iter().any(|t| !t.addrs.is_empty())
    }

    /// Runs one frame through `router` into `sink`, as [`Router::process`] does, and queues
    /// copies of what a capture watches. `hdr` is the TAP ports' virtio-net header size.
    pub fn process<S: Sink>(
        &mut self,
        router: &mut Router,
        now: Instant,
        port: PortId,
        buf: &mut [u8],
        sink: &mut S,
        hdr: HdrSize,
    ) -> Verdict {
        self.ingress.clear();
        self.sent.clear();
        self.route = None;
        self.router_mac = router.snapshot().router_mac;
        self.by_address = self.by_address();
        let framing = router.snapshot().port(port).map(|p| p.framing);
        let vnet_len = match framing {
            Some(Framing::Ip) => 0,
            _ => hdr.bytes().min(buf.len()),
        };
        let in_addrs = match framing {
            Some(Framing::Ip) => self.addresses(buf),
            _ => self.addresses_eth(&buf[vnet_len..]),
        };
        let watched_in = self.wants(port, in_addrs);
        if watched_in {
            if framing == Some(Framing::Ip) {
                self.ingress_vnet = [0; VNET_LEN];
                wrap_ip(&mut self.ingress, SERVICE_MAC, self.router_mac, buf);
            } else {
                self.ingress_vnet = legacy_vnet(&buf[..vnet_len], hdr);
                self.ingress.extend_from_slice(&buf[vnet_len..]);
            }
        }
        let verdict = {
            let mut tapping = Tapping {
                inner: sink,
                cap: self,
            };
            router.process(now, port, buf, &mut tapping)
        };
        if !watched_in && self.sent.is_empty() {
            return verdict;
        }
        let snap = router.snapshot();
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let route = self.route;
        let mut closed = Vec::new();
        let ingress = std::mem::take(&mut self.ingress);
        let mut frames: Vec<Met> = Vec::new();
        if watched_in {
            frames.push(Met {
                port,
                out: false,
                addrs: in_addrs,
                vnet: self.ingress_vnet,
                frame: ingress,
            });
        }
        frames.append(&mut self.sent);
        for m in frames {
            for tap in &self.taps {
                let Some(iface) = tap.takes(m.port, m.addrs) else {
                    continue;
                };
                let c = Captured {
                    iface,
                    port: m.port,
                    out: m.out,
                    ingress: port,
                    unix_nanos,
                    vnet: m.vnet,
                    frame: m.frame.clone(),
                    verdict,
                    route,
                    snap: Arc::clone(snap),
                };
                if tap.offer(c) == Offer::Closed {
                    closed.push(tap.id);
                }
            }
        }
        if !closed.is_empty() {
            self.taps.retain(|t| !closed.contains(&t.id));
        }
        verdict
    }

    /// The source and destination of an IPv4 packet at the front of `ip`, when a capture
    /// watches addresses.
    fn addresses(&self, ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
        if !self.by_address {
            return None;
        }
        let h = Ipv4::new(ip)?;
        Some((h.src(), h.dst()))
    }

    /// [`Capturing::addresses`] of an Ethernet frame (none unless it carries IPv4).
    fn addresses_eth(&self, frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
        if !self.by_address || ethernet::ether_type_of(frame)? != ethernet::ether_type::IPV4 {
            return None;
        }
        self.addresses(frame.get(ETH_HDR_LEN..)?)
    }
}

/// A frame the router met on a port during one frame's trip: the ingress frame, or one it
/// sent.
#[derive(Debug)]
struct Met {
    port: PortId,
    /// Sent to the port (else the ingress frame).
    out: bool,
    /// Its IPv4 source and destination, when a capture watches addresses.
    addrs: Option<(Ipv4Addr, Ipv4Addr)>,
    vnet: [u8; VNET_LEN],
    /// The Ethernet frame.
    frame: Vec<u8>,
}

/// The legacy (10-byte) layout of the virtio-net header at the front of `bytes`.
fn legacy_vnet(bytes: &[u8], hdr: HdrSize) -> [u8; VNET_LEN] {
    let mut out = [0u8; VNET_LEN];
    if let Ok(v) = VnetHdr::parse(bytes, hdr) {
        let _ = v.emit(&mut out, HdrSize::Legacy);
    }
    out
}

/// `packet` (bare IPv4) behind an Ethernet header from `src` to `dst`, into `out`.
fn wrap_ip(out: &mut Vec<u8>, src: [u8; 6], dst: [u8; 6], packet: &[u8]) {
    out.clear();
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    out.extend_from_slice(&ethernet::ether_type::IPV4.to_be_bytes());
    out.extend_from_slice(packet);
}

/// The loop's sink, with copies of what is sent to a watched port kept aside, and the
/// route the frame took.
struct Tapping<'a, S> {
    inner: &'a mut S,
    cap: &'a mut Capturing,
}

impl<S: Sink> Sink for Tapping<'_, S> {
    fn to_tap(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        let addrs = self.cap.addresses_eth(frame);
        if self.cap.wants(port, addrs) {
            let mut hdr = [0u8; VNET_LEN];
            let _ = vnet.emit(&mut hdr, HdrSize::Legacy);
            self.cap.sent.push(Met {
                port,
                out: true,
                addrs,
                vnet: hdr,
                frame: frame.to_vec(),
            });
        }
        self.inner.to_tap(port, vnet, frame);
    }

    fn to_service(&mut self, port: PortId, packet: &[u8]) {
        let addrs = self.cap.addresses(packet);
        if self.cap.wants(port, addrs) {
            let mut frame = Vec::with_capacity(packet.len() + ETH_HDR_LEN);
            wrap_ip(&mut frame, self.cap.router_mac, SERVICE_MAC, packet);
            self.cap.sent.push(Met {
                port,
                out: true,
                addrs,
                vnet: [0; VNET_LEN],
                frame,
            });
        }
        self.inner.to_service(port, packet);
    }

    fn trace(&mut self, step: Step) {
        if self.cap.route.is_none() && matches!(step, Step::Route { .. }) {
            self.cap.route = Some(step);
        }
    }
}

/// Writes capture `stream` to `conn` until the client is gone (a write fails) or the loop
/// is (the queue is closed): each frame as a record with its comment, an idle record after
/// [`IDLE`] without one. `ifaces` are the announced ports, in order (a record names its
/// port by index there); `name` names any port for the comments. Returns the records
/// written.
pub fn serve(
    conn: &mut dyn Write,
    stream: &CaptureStream,
    ifaces: &[PortId],
    name: &dyn Fn(PortId) -> String,
) -> u64 {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut written = 0;
    loop {
        let record = match stream.recv(IDLE) {
            Ok(c) => {
                let Some(iface) = ifaces.iter().position(|p| *p == c.iface) else {
                    continue;
                };
                let route = match c.route {
                    Some(Step::Route { rt, entry }) => route_text(&c.snap, rt, &entry),
                    _ => None,
                };
                let text = comment(
                    &c.snap,
                    name,
                    c.port,
                    c.out,
                    c.ingress,
                    &c.verdict,
                    route.as_deref(),
                );
                Record::Packet(Packet {
                    iface: u16::try_from(iface).unwrap_or(u16::MAX),
                    out: c.out,
                    unix_nanos: c.unix_nanos,
                    vnet: c.vnet,
                    comment: text,
                    frame: c.frame,
                    dropped: stream.dropped(),
                })
            }
            Err(RecvTimeoutError::Timeout) => Record::Idle {
                dropped: stream.dropped(),
            },
            Err(RecvTimeoutError::Disconnected) => {
                buf.clear();
                Record::Idle {
                    dropped: stream.dropped(),
                }
                .encode(&mut buf);
                let _ = conn.write_all(&buf);
                return written;
            }
        };
        buf.clear();
        record.encode(&mut buf);
        if conn.write_all(&buf).is_err() {
            return written;
        }
        written += 1;
    }
}

#[cfg(test)]
mod tests;
