//! The router's event loop: TAPs and service ports in, [`Router::process`], frames out.
//!
//! Contract:
//! - One thread runs [`EventLoop::run`]. It `poll(2)`s every TAP, a wake-up pipe and a
//!   timeout; for each readable TAP it drains up to [`BURST`] frames (non-blocking reads into
//!   one preallocated 64 KiB buffer), hands each to the router, and writes what the router
//!   sends: to a TAP as one `writev` (virtio-net header + frame, no copy), to a service port
//!   into the [`ServiceSide`]. Nothing on this path allocates or logs per frame, except
//!   packets for the emulated services (not the fast path). The poll set is built once.
//! - With [`EventLoop::with_busy_poll`] the loop does not sleep until that long has passed
//!   without a frame: lower latency for a core's worth of CPU while traffic flows (measured in
//!   `docs/performance.md`); off by default.
//! - Commands arrive on a channel (and a byte on the wake pipe): install a new snapshot
//!   between two frames, report counters, stop.
//! - A TAP whose write fails (its queue full, `EAGAIN`) loses the frame, counted in
//!   [`LoopStats::tx_errors`], as a congested link would.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::dataplane::router::{Router, Sink};
use crate::dataplane::time::Instant;
use crate::dataplane::topology::{Framing, PortId, Snapshot};
use crate::dataplane::verdict::{Counters, FlowRecord};
use crate::dataplane::vnet::{HdrSize, VnetHdr};
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

/// A frame device: a TAP, in production.
pub trait FrameIo: Send {
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
    fn receive(&mut self, now: Instant, port: PortId, packet: &[u8]);
    /// Lets the services run; they hand back packets to send into the router.
    fn poll(&mut self, now: Instant, out: &mut dyn FnMut(PortId, &[u8]));
    /// When the services next need [`ServiceSide::poll`], if sooner than a tick.
    fn poll_delay(&self, now: Instant) -> Option<Duration>;
    /// A new snapshot of `lab` was installed (new gateway endpoints, changed lab).
    fn install(&mut self, snap: &Arc<Snapshot>, lab: &Lab);
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
    fn receive(&mut self, _now: Instant, _port: PortId, _packet: &[u8]) {
        self.dropped += 1;
    }
    fn poll(&mut self, _now: Instant, _out: &mut dyn FnMut(PortId, &[u8])) {}
    fn poll_delay(&self, _now: Instant) -> Option<Duration> {
        None
    }
    fn install(&mut self, _snap: &Arc<Snapshot>, _lab: &Lab) {}
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
}

/// What the loop is asked to do.
pub enum Command {
    /// Swap in a new snapshot, compiled from this lab.
    Install(Arc<Snapshot>, Arc<Lab>),
    /// Send the counters back.
    Counters(Sender<Report>),
    /// Send the flow records back, oldest first.
    FlowLog(Sender<Vec<FlowRecord>>),
    /// Send every load balancer target's health back.
    TargetHealth(Sender<Vec<TargetHealth>>),
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
}

/// The event loop; see the module docs.
pub struct EventLoop<S: ServiceSide> {
    router: Router,
    /// The router's current snapshot, kept here too so that a frame's sink can read it
    /// while the router is borrowed mutably (no reference counting per frame).
    snap: Arc<Snapshot>,
    /// TAPs by port id (`None` for service ports and ports without a device).
    taps: Vec<Option<Box<dyn FrameIo>>>,
    services: S,
    commands: Receiver<Command>,
    wake: OwnedFd,
    stop: Box<dyn Fn() -> bool + Send>,
    clock: std::time::Instant,
    stats: LoopStats,
    /// The services' health generation last pushed to the router.
    health_seen: Option<u64>,
    /// See [`EventLoop::with_busy_poll`].
    busy_poll: Duration,
}

/// The sink the router writes into during one frame.
struct Out<'a> {
    taps: &'a [Option<Box<dyn FrameIo>>],
    snap: &'a Snapshot,
    to_services: &'a mut Vec<(PortId, Vec<u8>)>,
    tx_errors: &'a mut u64,
}

impl Sink for Out<'_> {
    fn send(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) {
        match self.snap.port(port).map(|p| p.framing) {
            Some(Framing::Tap) => {
                let Some(Some(tap)) = self.taps.get(port.ix()) else {
                    return;
                };
                let mut hdr = [0u8; 10];
                let _ = vnet.emit(&mut hdr, HdrSize::Legacy);
                if tap
                    .write_frame(&[IoSlice::new(&hdr), IoSlice::new(frame)])
                    .is_err()
                {
                    *self.tx_errors += 1;
                }
            }
            Some(Framing::Ip) => self.to_services.push((port, frame.to_vec())),
            None => {}
        }
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
            snap: Arc::clone(router.snapshot()),
            router,
            taps,
            services,
            commands,
            wake,
            stop,
            clock: std::time::Instant::now(),
            stats: LoopStats::default(),
            health_seen: None,
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

    fn now(&self) -> Instant {
        Instant::from_millis(self.clock.elapsed().as_millis() as u64)
    }

    /// Runs until [`Command::Stop`], a closed command channel, or `stop()`.
    pub fn run(mut self) -> io::Result<()> {
        let mut buf = vec![0u8; READ_BUF];
        let mut pending: Vec<(PortId, Vec<u8>)> = Vec::new();
        // The devices leave `self` for the loop's duration so that the poll set, built once,
        // can borrow them while the router (in `self`) is borrowed mutably per frame.
        let taps = std::mem::take(&mut self.taps);
        let ports: Vec<usize> = (0..taps.len()).filter(|&i| taps[i].is_some()).collect();
        let wake = self.wake.try_clone()?;
        let mut fds: Vec<PollFd<'_>> = ports
            .iter()
            .filter_map(|&i| taps[i].as_ref())
            .map(|t| PollFd::new(t.fd(), PollFlags::POLLIN))
            .chain(std::iter::once(PollFd::new(
                wake.as_fd(),
                PollFlags::POLLIN,
            )))
            .collect();
        let mut last_work = std::time::Instant::now();
        let mut last_tick = self.now();
        loop {
            let now = self.now();
            let mut timeout = TICK;
            if let Some(d) = self.services.poll_delay(now) {
                timeout = timeout.min(d);
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
            if fds.last().is_some_and(readable) {
                let mut byte = [0u8; 64];
                let _ = nix::unistd::read(&wake, &mut byte);
            }
            if !self.commands()? {
                return Ok(());
            }
            if (self.stop)() {
                return Ok(());
            }
            let now = self.now();
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
                            self.stats.rx_errors += 1;
                            break;
                        }
                    };
                    worked = true;
                    self.stats.rx_frames += 1;
                    self.process(&taps, now, port, &mut buf[..n], &mut pending);
                }
            }
            if worked {
                last_work = std::time::Instant::now();
            }
            self.serve(&taps, now, &mut pending);
            if now.total_millis().saturating_sub(last_tick.total_millis()) >= 1000 {
                self.router.expire(now, EXPIRE_BUDGET);
                last_tick = now;
            }
        }
    }

    fn process(
        &mut self,
        taps: &[Option<Box<dyn FrameIo>>],
        now: Instant,
        port: PortId,
        frame: &mut [u8],
        pending: &mut Vec<(PortId, Vec<u8>)>,
    ) {
        let mut out = Out {
            taps,
            snap: &self.snap,
            to_services: pending,
            tx_errors: &mut self.stats.tx_errors,
        };
        self.router.process(now, port, frame, &mut out);
    }

    /// Hands queued packets to the services and their answers to the router, until quiet.
    fn serve(
        &mut self,
        taps: &[Option<Box<dyn FrameIo>>],
        now: Instant,
        pending: &mut Vec<(PortId, Vec<u8>)>,
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
                self.services.receive(now, port, &packet);
            }
            let mut answers: Vec<(PortId, Vec<u8>)> = Vec::new();
            self.services.poll(now, &mut |port, packet| {
                answers.push((port, packet.to_vec()))
            });
            self.push_health();
            if answers.is_empty() {
                return;
            }
            for (port, mut packet) in answers {
                self.process(taps, now, port, &mut packet, pending);
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

    /// Handles queued commands; false to stop.
    fn commands(&mut self) -> io::Result<bool> {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Install(snap, lab)) => {
                    self.services.install(&snap, &lab);
                    self.router.install(Arc::clone(&snap));
                    self.snap = snap;
                    self.health_seen = None;
                    self.push_health();
                }
                Ok(Command::Counters(reply)) => {
                    let _ = reply.send(Report {
                        counters: self.router.counters().clone(),
                        tracked: self.router.tracked_flows(),
                        stats: self.stats,
                        services: self.services.summary(),
                    });
                }
                Ok(Command::TargetHealth(reply)) => {
                    let _ = reply.send(self.services.target_health());
                }
                Ok(Command::FlowLog(reply)) => {
                    let _ = reply.send(self.router.flow_log().records().copied().collect());
                }
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return Ok(false),
                Err(TryRecvError::Empty) => return Ok(true),
            }
        }
    }
}
