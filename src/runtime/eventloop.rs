//! The router's event loop: TAPs and service ports in, [`Router::process`], frames out.
//!
//! Contract:
//! - One worker thread per queue of the TAPs ([`EventLoop::with_workers`]; one by default).
//!   Each `poll(2)`s its own queue of every TAP, a wake-up pipe and a timeout; for each
//!   readable queue it drains up to [`BURST`] frames (non-blocking reads into one
//!   preallocated 64 KiB buffer), hands each to the router, and writes what the router sends:
//!   to a TAP as one `writev` (virtio-net header + frame, no copy), to a service port into the
//!   [`ServiceSide`]. Nothing on this path allocates or logs per frame, except packets for the
//!   emulated services (not the fast path). The poll sets are built once.
//! - The workers share the router, the services and the counters behind one lock, held only
//!   while a frame goes through [`Router::process`]; the reads and writes run outside it (with
//!   one worker, writes happen inside, as there is no one to wait). A frame forwarded in place
//!   is written from the read buffer; only generated frames and segments are copied.
//! - With more than one worker, `Spread` picks the queue each TCP/UDP flow is written on
//!   (round-robin per new flow); the kernel then sends the instance's frames of that flow on
//!   the same queue, so a flow stays on one worker, in order, and flows spread evenly.
//! - Worker 0 also handles commands, the services' timers and the conntrack sweep.
//! - With [`EventLoop::with_busy_poll`] a worker does not sleep until that long has passed
//!   without a frame: lower latency for a core's worth of CPU while traffic flows (measured in
//!   `docs/performance.md`); off by default.
//! - Commands arrive on a channel (and a byte on the wake pipe): install a new snapshot
//!   between two frames, report counters, stop.
//! - A TAP whose write fails (its queue full, `EAGAIN`) loses the frame, counted in
//!   [`LoopStats::tx_errors`], as a congested link would.
//! - Packet captures ([`Command::Capture`], `runtime::capture`) are one `Option` in the
//!   shared state: with none, a frame pays that one branch; with one, the frames of watched
//!   ports are copied into the capture's bounded queue, never waited on.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::capture::{CaptureTap, Capturing};

use crate::dataplane::flowlog::FlowEntry;
use crate::dataplane::packet::parse_ipv4;
use crate::dataplane::router::{Router, Sink};
use crate::dataplane::time::Instant;
use crate::dataplane::topology::{PortId, PortKind, ServicePort, Snapshot};
use crate::dataplane::verdict::{Counters, FlowRecord};
use crate::dataplane::vnet::{HdrSize, VnetHdr};
use crate::dataplane::wire::ethernet::{
    self as eth, ether_type::IPV4 as ETHERTYPE_IPV4, ether_type_of as ether_type,
};
use crate::model::Lab;
use crate::services::health::{HealthState, TargetHealth};

/// Frames read from one TAP before looking at the others.
pub const BURST: usize = 64;
/// The read buffer: the largest GSO frame, its Ethernet header and the vnet header.
pub const READ_BUF: usize = 65_535 + 14 + 12;
/// How often the loop wakes with nothing to do (conntrack sweep, stop checks).
pub const TICK: Duration = Duration::from_millis(100);
/// Conntrack slots examined per tick.
pub const EXPIRE_BUDGET: usize = 4096;

/// A frame device: a TAP queue, in production. `Sync`: with more than one worker, a worker
/// may write on another worker's queue (see `Spread`).
pub trait FrameIo: Send + Sync {
    /// The fd to poll.
    fn fd(&self) -> BorrowedFd<'_>;
    /// Reads one frame (non-blocking: `WouldBlock` when empty).
    fn read_frame(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes one frame from its parts (one `writev`).
    fn write_frame(&self, parts: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// The emulated AWS services behind the service ports.
pub trait ServiceSide: Send {
    /// A packet for a service port.
    fn receive(&mut self, now: Instant, port: &ServicePort, packet: &[u8]);
    /// Lets the services run; they hand back packets to send into the router.
    fn poll(&mut self, now: Instant, out: &mut dyn FnMut(&ServicePort, &[u8]));
    /// When the services next need [`ServiceSide::poll`], if sooner than a tick.
    fn poll_delay(&self, now: Instant) -> Option<Duration>;
    /// A new snapshot of `lab` was installed (new gateway endpoints, changed lab).
    fn install(&mut self, lab: &Lab);
    /// What the services did, a line each (for `status`).
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }
    /// Moves whenever a load balancer target's health changes.
    fn health_generation(&self) -> u64 {
        0
    }
    /// Every load balancer target's health, as the checks see it.
    fn target_health(&self) -> Vec<TargetHealth> {
        Vec::new()
    }
}

/// No services: packets for service ports are dropped (and counted by the caller).
#[derive(Debug, Default)]
pub struct NoServices {
    /// Packets that arrived for a service port.
    pub dropped: u64,
}

impl ServiceSide for NoServices {
    fn receive(&mut self, _now: Instant, _port: &ServicePort, _packet: &[u8]) {
        self.dropped += 1;
    }
    fn poll(&mut self, _now: Instant, _out: &mut dyn FnMut(&ServicePort, &[u8])) {}
    fn poll_delay(&self, _now: Instant) -> Option<Duration> {
        None
    }
    fn install(&mut self, _lab: &Lab) {}
}

/// What [`Command::Counters`] sends back.
#[derive(Debug, Clone)]
pub struct Report {
    /// The router's counters.
    pub counters: Counters,
    /// Tracked flows.
    pub tracked: usize,
    /// The loop's own counts.
    pub stats: LoopStats,
    /// [`ServiceSide::summary`].
    pub services: Vec<String>,
    /// Frames each worker read (one entry per worker).
    pub worker_frames: Vec<u64>,
    /// Captures in the loop.
    pub captures: usize,
}

/// What the loop is asked to do.
pub enum Command {
    /// Swap in a new snapshot, compiled from this lab.
    Install(Arc<Snapshot>, Arc<Lab>),
    /// Send the counters back.
    Counters(Sender<Report>),
    /// Send the flow records back, oldest first.
    FlowLog(Sender<Vec<FlowRecord>>),
    /// Send the flow-log entries counted since the start (at most the newest 65,536) back,
    /// oldest first, with the packets the aggregation table could not keep.
    FlowEntries(Sender<(Vec<FlowEntry>, u64)>),
    /// Send every load balancer target's health back.
    TargetHealth(Sender<Vec<TargetHealth>>),
    /// Send the router's current snapshot back (the one holder of it; the daemon borrows it
    /// to name ports and to build the next one on it).
    Snapshot(Sender<Arc<Snapshot>>),
    /// Start a capture (`vpclab capture`); the loop says when it is in place.
    Capture(CaptureTap, Sender<()>),
    /// End capture `id` (its client is gone).
    EndCapture(u64),
    /// Return from [`EventLoop::run`].
    Stop,
}

/// The loop's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Frames read from TAPs.
    pub rx_frames: u64,
    /// Writes to a TAP that failed (frame lost).
    pub tx_errors: u64,
    /// Reads that failed other than `WouldBlock`.
    pub rx_errors: u64,
    /// Packets for service ports.
    pub to_services: u64,
    /// Packets between the router and the services whose port the snapshot does not have
    /// (a bug).
    pub misdirected: u64,
}

/// The event loop; see the module docs.
pub struct EventLoop<S: ServiceSide> {
    core: Core<S>,
    /// Worker 0's TAP queues by port id (`None` for service ports and ports without a device).
    taps: Vec<Option<Box<dyn FrameIo>>>,
    /// The other workers' queues, by worker then port id.
    extra: Vec<Vec<Option<Box<dyn FrameIo>>>>,
    commands: Receiver<Command>,
    wake: OwnedFd,
    stop: Box<dyn Fn() -> bool + Send>,
    /// See [`EventLoop::with_busy_poll`].
    busy_poll: Duration,
}

/// What the workers share, behind one lock: the router and everything it touches.
struct Core<S> {
    /// The router, which holds the current snapshot (the one holder of it in the loop).
    router: Router,
    services: S,
    clock: std::time::Instant,
    stats: LoopStats,
    /// Frames each worker read.
    worker_frames: Vec<u64>,
    /// The queue each flow is written on (more than one worker).
    spread: Spread,
    /// The services' health generation last pushed to the router.
    health_seen: Option<u64>,
    /// Flow-log entries drained from the router on each tick, oldest first, at most
    /// [`FLOW_HISTORY`].
    flow_history: VecDeque<FlowEntry>,
    /// Packet captures; `None` (the packet path's one branch) when no one captures.
    capture: Option<Box<Capturing>>,
}

/// Flow-log entries kept for `flow-logs` and the lab's flow logs (the oldest go first).
const FLOW_HISTORY: usize = 1 << 16;

/// Frames a worker writes after it let go of the lock (only with more than one worker).
#[derive(Default)]
struct Deferred {
    /// Port, queue, virtio-net header, and where the frame's bytes are.
    frames: Vec<(PortId, usize, [u8; 10], Span)>,
    /// Copies of frames that were not the input frame (segments, generated frames).
    arena: Vec<u8>,
    /// The input frame's address and length while it is processed.
    input: (usize, usize),
}

/// Where a deferred frame's bytes are.
#[derive(Clone, Copy)]
enum Span {
    /// In the frame being processed (forwarded in place): offset, length.
    Input(usize, usize),
    /// In [`Deferred::arena`]: offset, length.
    Arena(usize, usize),
}

impl Deferred {
    fn push(&mut self, port: PortId, queue: usize, hdr: [u8; 10], frame: &[u8]) {
        let (base, len) = self.input;
        let at = frame.as_ptr() as usize;
        let span = if at >= base && at + frame.len() <= base + len {
            Span::Input(at - base, frame.len())
        } else {
            let off = self.arena.len();
            self.arena.extend_from_slice(frame);
            Span::Arena(off, frame.len())
        };
        self.frames.push((port, queue, hdr, span));
    }

    /// Writes every deferred frame on the queue chosen for it; returns the writes that failed.
    fn flush(&mut self, queues: &[Queues], input: &[u8]) -> u64 {
        let mut failed = 0;
        for (port, queue, hdr, span) in self.frames.drain(..) {
            let Some(Some(tap)) = queues.get(queue).and_then(|q| q.get(port.ix())) else {
                continue;
            };
            let frame = match span {
                Span::Input(off, len) => input.get(off..off + len),
                Span::Arena(off, len) => self.arena.get(off..off + len),
            };
            let Some(frame) = frame else { continue };
            if tap
                .write_frame(&[IoSlice::new(&hdr), IoSlice::new(frame)])
                .is_err()
            {
                failed += 1;
            }
        }
        self.arena.clear();
        self.input = (0, 0);
        failed
    }
}

/// A worker's queue of each port, by port id (`None` for service ports and ports without a
/// device).
type Queues = Vec<Option<Box<dyn FrameIo>>>;

/// With more than one worker, the queue each flow is written on: round-robin at the flow's
/// first frame written, then the same for as long as the flow's slot holds it. The kernel sends
/// an instance's frames of a flow on the queue the flow was last written on, so this spreads
/// flows over the workers evenly, where the kernel's own hash may put every one of a few flows
/// on one worker (measured in docs/performance.md). Flows are keyed without direction (both
/// directions share a queue); a flow that is not TCP or UDP over IPv4 is written on the
/// writer's own queue.
struct Spread {
    /// Direct-mapped: the flow's key (never 0) and its queue.
    slots: Vec<(u64, u8)>,
    next: u8,
    queues: u8,
}

/// Slots of [`Spread`]: 1 MiB; two live flows that share a slot move between queues.
const SPREAD_SLOTS: usize = 65_536;

impl Spread {
    fn new(queues: usize) -> Spread {
        let queues = u8::try_from(queues).unwrap_or(u8::MAX).max(1);
        let slots = if queues > 1 {
            vec![(0, 0); SPREAD_SLOTS]
        } else {
            Vec::new()
        };
        Spread {
            slots,
            next: 0,
            queues,
        }
    }

    /// The queue to write `frame` (an Ethernet frame) on, if it is a TCP or UDP flow.
    fn queue(&mut self, frame: &[u8]) -> Option<usize> {
        if self.slots.is_empty() || ether_type(frame)? != ETHERTYPE_IPV4 {
            return None;
        }
        let info = parse_ipv4(eth::payload_of(frame))?;
        let (sp, dp) = info.l4.ports()?;
        let a = (u32::from(info.src), sp);
        let b = (u32::from(info.dst), dp);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mix = |a: u64, b: u64| {
            let m = u128::from(a ^ b).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (m as u64) ^ ((m >> 64) as u64)
        };
        let addrs = u64::from(lo.0) << 32 | u64::from(hi.0);
        let ports = u64::from(lo.1) << 32 | u64::from(hi.1) << 16 | u64::from(info.protocol);
        let key = mix(mix(addrs, 0x5851_F42D_4C95_7F2D), ports) | 1;
        let len = self.slots.len();
        let slot = self.slots.get_mut((key as usize) % len)?;
        if slot.0 != key {
            *slot = (key, self.next);
            self.next = (self.next + 1) % self.queues;
        }
        Some(usize::from(slot.1))
    }
}

/// The sink the router writes into during one frame.
struct Out<'a> {
    taps: &'a [Option<Box<dyn FrameIo>>],
    to_services: &'a mut Vec<(PortId, Vec<u8>)>,
    tx_errors: &'a mut u64,
    /// With more than one worker, frames are written after the lock is released, on the
    /// queue [`Spread`] picks (else the writer's own, `own`).
    defer: Option<(&'a mut Deferred, &'a mut Spread, usize)>,
}

impl Sink for Out<'_> {
    fn to_tap(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        let mut hdr = [0u8; 10];
        let _ = vnet.emit(&mut hdr, HdrSize::Legacy);
        if let Some((d, spread, own)) = self.defer.as_mut() {
            let queue = spread.queue(frame).unwrap_or(*own);
            d.push(port, queue, hdr, frame);
            return;
        }
        let Some(Some(tap)) = self.taps.get(port.ix()) else {
            return;
        };
        if tap
            .write_frame(&[IoSlice::new(&hdr), IoSlice::new(frame)])
            .is_err()
        {
            *self.tx_errors += 1;
        }
    }

    fn to_service(&mut self, port: PortId, packet: &[u8]) {
        self.to_services.push((port, packet.to_vec()));
    }
}

impl<S: ServiceSide> EventLoop<S> {
    /// A loop over `taps` (indexed by port id). `stop()` is checked every tick (a signal
    /// flag); `wake` is the read end of the pipe that command senders write a byte to.
    pub fn new(
        router: Router,
        taps: Vec<Option<Box<dyn FrameIo>>>,
        services: S,
        commands: Receiver<Command>,
        wake: OwnedFd,
        stop: Box<dyn Fn() -> bool + Send>,
    ) -> Self {
        EventLoop {
            core: Core {
                router,
                services,
                clock: std::time::Instant::now(),
                stats: LoopStats::default(),
                worker_frames: vec![0],
                spread: Spread::new(1),
                health_seen: None,
                flow_history: VecDeque::new(),
                capture: None,
            },
            taps,
            extra: Vec::new(),
            commands,
            wake,
            stop,
            busy_poll: Duration::ZERO,
        }
    }

    /// Spins for up to `d` after a wake-up that had work: `poll` does not sleep until `d`
    /// has passed without a frame (zero, the default: always sleep). Trades CPU for latency:
    /// a frame that arrives while spinning is read without a sleep and a wake-up.
    pub fn with_busy_poll(mut self, d: Duration) -> Self {
        self.busy_poll = d;
        self
    }

    /// More workers, one per further queue of the multi-queue TAPs: `extra[k]` holds worker
    /// `k + 1`'s queue of each port (indexed like the taps given to [`EventLoop::new`]). Each
    /// worker is a thread that reads and writes its own queues; they share the router behind
    /// one lock, held only while a frame goes through [`Router::process`] (the reads and
    /// writes, most of the loop's time, run in parallel).
    pub fn with_workers(mut self, extra: Vec<Vec<Option<Box<dyn FrameIo>>>>) -> Self {
        self.core.worker_frames = vec![0; 1 + extra.len()];
        self.core.spread = Spread::new(1 + extra.len());
        self.extra = extra;
        self
    }

    /// Runs until [`Command::Stop`], a closed command channel, or `stop()`.
    pub fn run(self) -> io::Result<()> {
        let EventLoop {
            core,
            taps,
            extra,
            commands,
            wake,
            stop,
            busy_poll,
        } = self;
        let workers = 1 + extra.len();
        let core = Mutex::new(core);
        let halt = AtomicBool::new(false);
        // Each worker's own wake-up pipe: to stop it, and (worker 0's) to have the services'
        // timers looked at again when another worker gave them work.
        let mut pipes = Vec::with_capacity(workers);
        for _ in 0..workers {
            pipes.push(nix::unistd::pipe().map_err(io::Error::from)?);
        }
        let (reads, writes): (Vec<OwnedFd>, Vec<OwnedFd>) = pipes.into_iter().unzip();
        let mut reads = reads.into_iter();
        let own0 = reads.next().ok_or_else(|| io::Error::other("no worker"))?;
        let queues: Vec<Queues> = std::iter::once(taps).chain(extra).collect();
        let shared = Shared {
            core: &core,
            queues: &queues,
            halt: &halt,
            pokes: &writes,
            busy_poll,
            defer: workers > 1,
        };
        std::thread::scope(|scope| -> io::Result<()> {
            let mut handles = Vec::new();
            for (k, own) in reads.enumerate() {
                let shared = &shared;
                let handle = std::thread::Builder::new()
                    .name(format!("vpclab-worker{}", k + 1))
                    .spawn_scoped(scope, move || {
                        shared.work(&Worker {
                            ix: k + 1,
                            main: None,
                            own,
                        })
                    })?;
                handles.push(handle);
            }
            let result = shared.work(&Worker {
                ix: 0,
                main: Some(Main {
                    commands: &commands,
                    wake: &wake,
                    stop: &*stop,
                }),
                own: own0,
            });
            shared.halt_all();
            for h in handles {
                match h.join() {
                    Ok(r) => r?,
                    Err(_) => return Err(io::Error::other("a router worker panicked")),
                }
            }
            result
        })
    }
}

/// What every worker reads.
struct Shared<'a, S> {
    core: &'a Mutex<Core<S>>,
    /// Every worker's queues, by worker.
    queues: &'a [Queues],
    /// Set when the loop is to end.
    halt: &'a AtomicBool,
    /// The write ends of the workers' wake-up pipes.
    pokes: &'a [OwnedFd],
    busy_poll: Duration,
    /// More than one worker: frames are written after the lock is let go.
    defer: bool,
}

/// What worker 0 alone does: commands, the stop flag.
struct Main<'a> {
    commands: &'a Receiver<Command>,
    wake: &'a OwnedFd,
    stop: &'a (dyn Fn() -> bool + Send),
}

/// One worker: its index (its queue of each TAP), its wake-up pipe, and (worker 0) the main
/// duties.
struct Worker<'a> {
    /// Its index (0: the main one).
    ix: usize,
    main: Option<Main<'a>>,
    own: OwnedFd,
}

impl<S: ServiceSide> Shared<'_, S> {
    fn lock(&self) -> MutexGuard<'_, Core<S>> {
        // A worker that panicked holding the lock ends the loop (its join reports it); the
        // state it left is still the router's, so the others may finish their frames.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn halt_all(&self) {
        self.halt.store(true, Ordering::SeqCst);
        for w in self.pokes {
            let _ = nix::unistd::write(w, &[1]);
        }
    }

    /// One worker's loop.
    fn work(&self, w: &Worker<'_>) -> io::Result<()> {
        let mut buf = vec![0u8; READ_BUF];
        let mut pending: Vec<(PortId, Vec<u8>)> = Vec::new();
        let mut deferred = Deferred::default();
        let mut tx_errors = 0u64;
        let taps: &[Option<Box<dyn FrameIo>>] = self.queues.get(w.ix).map_or(&[], |q| q);
        let ports: Vec<usize> = (0..taps.len()).filter(|&i| taps[i].is_some()).collect();
        let mut fds: Vec<PollFd<'_>> = ports
            .iter()
            .filter_map(|&i| taps[i].as_ref())
            .map(|t| PollFd::new(t.fd(), PollFlags::POLLIN))
            .collect();
        let first_pipe = fds.len();
        fds.push(PollFd::new(w.own.as_fd(), PollFlags::POLLIN));
        if let Some(m) = &w.main {
            fds.push(PollFd::new(m.wake.as_fd(), PollFlags::POLLIN));
        }
        let mut last_work = std::time::Instant::now();
        let mut last_tick = self.lock().now();
        loop {
            let mut timeout = TICK;
            if w.main.is_some() {
                let core = self.lock();
                if let Some(d) = core.services.poll_delay(core.now()) {
                    timeout = timeout.min(d);
                }
            }
            if !self.busy_poll.is_zero() && last_work.elapsed() < self.busy_poll {
                timeout = Duration::ZERO;
            }
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
            let readable = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            let mut byte = [0u8; 64];
            if fds.get(first_pipe).is_some_and(readable) {
                let _ = nix::unistd::read(&w.own, &mut byte);
            }
            if let Some(m) = &w.main {
                if fds.get(first_pipe + 1).is_some_and(readable) {
                    let _ = nix::unistd::read(m.wake, &mut byte);
                }
                if !self.lock().commands(m.commands) || (m.stop)() {
                    return Ok(());
                }
            } else if self.halt.load(Ordering::SeqCst) {
                return Ok(());
            }
            let mut worked = false;
            for (f, &i) in fds.iter().zip(&ports) {
                if !readable(f) {
                    continue;
                }
                let Some(Some(tap)) = taps.get(i) else {
                    continue;
                };
                let port = PortId(u32::try_from(i).unwrap_or(u32::MAX));
                for _ in 0..BURST {
                    let n = match tap.read_frame(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            self.lock().stats.rx_errors += 1;
                            break;
                        }
                    };
                    worked = true;
                    let frame = &mut buf[..n];
                    {
                        let mut core = self.lock();
                        core.stats.rx_frames += 1;
                        if let Some(n) = core.worker_frames.get_mut(w.ix) {
                            *n += 1;
                        }
                        core.stats.tx_errors += std::mem::take(&mut tx_errors);
                        let now = core.now();
                        if self.defer {
                            deferred.input = (frame.as_ptr() as usize, frame.len());
                        }
                        let defer = self.defer.then_some((&mut deferred, w.ix));
                        core.process(taps, now, port, frame, &mut pending, defer);
                    }
                    tx_errors += deferred.flush(self.queues, frame);
                }
            }
            if worked {
                last_work = std::time::Instant::now();
            }
            let now = {
                let mut core = self.lock();
                let now = core.now();
                let defer = self.defer.then_some((&mut deferred, w.ix));
                if w.main.is_some() || !pending.is_empty() {
                    core.serve(taps, now, &mut pending, defer);
                }
                // Another worker gave the services work with a timer sooner than worker 0's
                // sleep: have worker 0 look again.
                if w.main.is_none() && core.services.poll_delay(now).is_some_and(|d| d < TICK) {
                    if let Some(p) = self.pokes.first() {
                        let _ = nix::unistd::write(p, &[1]);
                    }
                }
                now
            };
            tx_errors += deferred.flush(self.queues, &[]);
            if w.main.is_some()
                && now.total_millis().saturating_sub(last_tick.total_millis()) >= 1000
            {
                let mut core = self.lock();
                core.router.expire(now, EXPIRE_BUDGET);
                core.drain_flows();
                last_tick = now;
            }
        }
    }
}

impl<S: ServiceSide> Core<S> {
    fn now(&self) -> Instant {
        Instant::from_millis(self.clock.elapsed().as_millis() as u64)
    }

    fn process(
        &mut self,
        taps: &[Option<Box<dyn FrameIo>>],
        now: Instant,
        port: PortId,
        frame: &mut [u8],
        pending: &mut Vec<(PortId, Vec<u8>)>,
        defer: Option<(&mut Deferred, usize)>,
    ) {
        let mut out = Out {
            taps,
            to_services: pending,
            tx_errors: &mut self.stats.tx_errors,
            defer: defer.map(|(d, own)| (d, &mut self.spread, own)),
        };
        match self.capture.as_deref_mut() {
            None => {
                self.router.process(now, port, frame, &mut out);
            }
            Some(cap) => {
                let hdr = self.router.hdr_size();
                cap.process(&mut self.router, now, port, frame, &mut out, hdr);
                if cap.is_empty() {
                    self.capture = None;
                }
            }
        }
    }

    /// Hands queued packets to the services and their answers to the router, until quiet.
    fn serve(
        &mut self,
        taps: &[Option<Box<dyn FrameIo>>],
        now: Instant,
        pending: &mut Vec<(PortId, Vec<u8>)>,
        mut defer: Option<(&mut Deferred, usize)>,
    ) {
        // Nothing for the services and no timer of theirs due: leave them be (most wakes
        // are frames between instances).
        let due = self.services.poll_delay(now).is_some_and(|d| d.is_zero());
        if pending.is_empty() && !due {
            return;
        }
        for _round in 0..16 {
            for (port, packet) in pending.drain(..) {
                self.stats.to_services += 1;
                match self.router.snapshot().port(port).map(|p| &p.kind) {
                    Some(PortKind::Service(sp)) => self.services.receive(now, sp, &packet),
                    _ => self.stats.misdirected += 1,
                }
            }
            let mut answers: Vec<(PortId, Vec<u8>)> = Vec::new();
            let snap = self.router.snapshot();
            let misdirected = &mut self.stats.misdirected;
            self.services
                .poll(now, &mut |sp, packet| match snap.service_port(sp) {
                    Some(port) => answers.push((port, packet.to_vec())),
                    None => *misdirected += 1,
                });
            self.push_health();
            if answers.is_empty() {
                return;
            }
            for (port, mut packet) in answers {
                let defer = defer.as_mut().map(|(d, own)| (&mut **d, *own));
                self.process(taps, now, port, &mut packet, pending, defer);
            }
        }
    }

    /// Hands the load balancers' target health to the router when the checks changed it
    /// (a target is healthy only in state `healthy`; fail open covers the rest).
    fn push_health(&mut self) {
        let generation = self.services.health_generation();
        if self.health_seen == Some(generation) {
            return;
        }
        self.health_seen = Some(generation);
        for t in self.services.target_health() {
            let healthy = t.state == HealthState::Healthy;
            self.router
                .set_target_health(&t.target_group_arn, t.ip, t.port, healthy);
        }
    }

    /// Moves the router's flow-log entries into the history.
    fn drain_flows(&mut self) {
        let Core {
            router,
            flow_history,
            ..
        } = self;
        router.flow_table().drain(|e| {
            if flow_history.len() >= FLOW_HISTORY {
                flow_history.pop_front();
            }
            flow_history.push_back(e);
        });
    }

    /// Handles queued commands; false to stop.
    fn commands(&mut self, commands: &Receiver<Command>) -> bool {
        loop {
            match commands.try_recv() {
                Ok(Command::Install(snap, lab)) => {
                    self.services.install(&lab);
                    self.router.install(snap);
                    self.health_seen = None;
                    self.push_health();
                }
                Ok(Command::Counters(reply)) => {
                    let _ = reply.send(Report {
                        counters: self.router.counters().clone(),
                        tracked: self.router.tracked_flows(),
                        stats: self.stats,
                        services: self.services.summary(),
                        worker_frames: self.worker_frames.clone(),
                        captures: self.capture.as_deref().map_or(0, Capturing::len),
                    });
                }
                Ok(Command::TargetHealth(reply)) => {
                    let _ = reply.send(self.services.target_health());
                }
                Ok(Command::Snapshot(reply)) => {
                    let _ = reply.send(Arc::clone(self.router.snapshot()));
                }
                Ok(Command::FlowLog(reply)) => {
                    let _ = reply.send(self.router.flow_log().records().copied().collect());
                }
                Ok(Command::FlowEntries(reply)) => {
                    self.drain_flows();
                    let evicted = self.router.flow_table().evicted();
                    let _ = reply.send((self.flow_history.iter().copied().collect(), evicted));
                }
                Ok(Command::Capture(tap, ready)) => {
                    self.capture.get_or_insert_with(Box::default).add(tap);
                    let _ = ready.send(());
                }
                Ok(Command::EndCapture(id)) => {
                    if let Some(cap) = self.capture.as_deref_mut() {
                        cap.remove(id);
                        if cap.is_empty() {
                            self.capture = None;
                        }
                    }
                }
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src, dst, 64)
            .udp(sport, dport);
        let mut f = Vec::new();
        b.write(&mut f, b"x").unwrap();
        f
    }

    #[test]
    fn spread_gives_flows_queues_in_turn_and_a_flow_one_queue_both_ways() {
        let mut s = Spread::new(2);
        let a = udp([10, 0, 0, 1], 4000, [10, 0, 1, 1], 5201);
        let a_back = udp([10, 0, 1, 1], 5201, [10, 0, 0, 1], 4000);
        let b = udp([10, 0, 0, 1], 4001, [10, 0, 1, 1], 5201);
        let c = udp([10, 0, 0, 1], 4002, [10, 0, 1, 1], 5201);
        let qa = s.queue(&a).unwrap();
        let qb = s.queue(&b).unwrap();
        let qc = s.queue(&c).unwrap();
        assert_ne!(qa, qb, "two new flows on one queue");
        assert_eq!(qa, qc, "the third flow should take the first queue again");
        for _ in 0..3 {
            assert_eq!(s.queue(&a_back), Some(qa), "the reply direction moved");
            assert_eq!(s.queue(&a), Some(qa));
            assert_eq!(s.queue(&b), Some(qb));
        }
    }

    #[test]
    fn spread_leaves_other_frames_and_single_queues_alone() {
        let mut one = Spread::new(1);
        assert_eq!(one.queue(&udp([10, 0, 0, 1], 1, [10, 0, 0, 2], 2)), None);
        let mut s = Spread::new(2);
        let mut arp = udp([10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(s.queue(&arp), None);
        assert_eq!(s.queue(&[0u8; 10]), None, "a runt frame");
        let mut icmp = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut icmp, b"ping")
            .unwrap();
        assert_eq!(s.queue(&icmp), None);
    }
}
