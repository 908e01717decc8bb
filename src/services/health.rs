//! Network Load Balancer health checks (sans-IO).
//!
//! Contract: [`Health::update`] takes the lab and keeps one entry per registered target of
//! every target group: an instance target is probed at the instance's private IP, an `ip`
//! target at its address, on the group's health-check port, from the private IP of the load
//! balancer node in the target's AZ (else the first node). [`Health::poll`] starts the
//! probes that are due (one per interval, at most [`MAX_IN_FLIGHT`] in flight per target),
//! retransmits and times them out; the packets it makes wait in an outbox that the caller
//! drains ([`Health::drain`]) onto `ServicePort::LoadBalancer { arn }` as bare IPv4.
//! [`Health::receive`] takes the targets' replies that the router hands back on that port
//! (packets to a node IP that belong to no client flow); a segment that belongs to no probe
//! is answered with RST, as a host with no such connection would.
//!
//! A TCP check passes on SYN → SYN-ACK (then RST, leaving nothing open on the target) and
//! fails on RST or on no answer within the group's timeout. An HTTP check connects, sends
//! `GET <path> HTTP/1.1` with `Host`, reads the status line and matches it against the
//! group's matcher (`200`, `200-399`, `200,202`), then resets the connection.
//!
//! The TCP client is written by hand rather than run on a smoltcp interface per load
//! balancer: a probe is a handful of segments whose timing must follow the target group
//! (the group's timeout, not TCP's retransmission schedule; no TIME_WAIT, no socket kept
//! after the verdict; source ports from [`PROBE_PORTS`], never a listener's), and a hand
//! written exchange does exactly that with a few dozen bytes of state per probe, while a
//! smoltcp socket would bring buffers, its own timers and a listener-free bind per probe.
//!
//! States follow `describe-target-health`: `initial` (`Elb.InitialHealthChecking`) until
//! `healthy_threshold_count` consecutive passes make it `healthy` or
//! `unhealthy_threshold_count` consecutive failures `unhealthy` (`Target.FailedHealthChecks`,
//! `Target.Timeout` or `Target.ResponseCodeMismatch`, the last failure's); `draining`
//! (`Target.DeregistrationInProgress`) for the deregistration delay after a target leaves
//! its group, then gone; `unused` (`Target.NotInUse`) when no listener forwards to the group,
//! or when the target's AZ has no node and cross-zone load balancing is off; `unavailable`
//! (`Target.HealthCheckDisabled`) when the group's checks are off. Unused, unavailable and
//! draining targets are not probed. Every change of a state, reason or description, and
//! every target added or removed, bumps [`Health::generation`].
//!
//! Bounded: at most [`MAX_TARGETS`] targets, [`MAX_IN_FLIGHT`] probes each, an outbox of
//! [`MAX_OUTBOX`] packets, [`MAX_STATUS_LINE`] bytes of response kept per probe. Nothing
//! here panics on any input.
//!
//! Size: the health checker's per-target state machine with its TCP and HTTP probes, which
//! share one bounded outbox (about 1,070 lines).

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::time::Duration;

use etherparse::{PacketBuilder, TcpOptionElement};
use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

use crate::dataplane::time::Instant;
use crate::model::{Lab, Target, TargetGroup};

/// The source ports of probes: above Linux's ephemeral range (32768–60999), so a client
/// port the router keeps through a node never meets a probe's. Listener ports are skipped.
pub const PROBE_PORTS: RangeInclusive<u16> = 61000..=65535;

/// The most targets checked (over every group); more are ignored.
pub const MAX_TARGETS: usize = 4096;

/// The most probes in flight per target (a timeout longer than the interval overlaps them).
pub const MAX_IN_FLIGHT: usize = 3;

/// The most packets waiting to be emitted.
pub const MAX_OUTBOX: usize = 4096;

/// The most response bytes an HTTP check keeps while looking for the status line.
pub const MAX_STATUS_LINE: usize = 1024;

/// The first retransmission of an unanswered SYN or request (then doubled).
const FIRST_RTO: Duration = Duration::from_secs(1);

/// The window probes announce.
const WINDOW: u16 = 64240;

/// The MSS probes announce (the VPC's jumbo MTU less 40).
const MSS: u16 = 8961;

/// A target's health as `describe-target-health` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// Registered, not yet through its first `healthy_threshold_count` passes or
    /// `unhealthy_threshold_count` failures (`Elb.InitialHealthChecking`).
    Initial,
    /// Passing its health checks; receives new flows.
    Healthy,
    /// Failing its health checks (`Target.FailedHealthChecks`, `Target.Timeout` or
    /// `Target.ResponseCodeMismatch`).
    Unhealthy,
    /// Not probed: no listener forwards to its group, or its AZ has no node and cross-zone is off
    /// (`Target.NotInUse`).
    Unused,
    /// Deregistered, within the deregistration delay (`Target.DeregistrationInProgress`).
    Draining,
    /// Not probed: the group's health checks are disabled (`Target.HealthCheckDisabled`).
    Unavailable,
}

impl HealthState {
    /// AWS's spelling: `initial`, `healthy`, …
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Unused => "unused",
            HealthState::Draining => "draining",
            HealthState::Unavailable => "unavailable",
        }
    }
}

/// One target's health, as `describe-target-health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    /// The target group's ARN.
    pub target_group_arn: String,
    /// The instance id or IP address registered.
    pub id: String,
    /// The address probed (and that traffic goes to).
    pub ip: Ipv4Addr,
    /// The registered (traffic) port.
    pub port: u16,
    /// The target's AZ (`all` for an IP outside the VPC's subnets).
    pub az: String,
    /// AWS's state.
    pub state: HealthState,
    /// AWS's reason code (`Elb.InitialHealthChecking`, `Target.Timeout`, …); `None` when healthy.
    pub reason: Option<&'static str>,
    /// AWS's description of the reason (`Health checks failed`, `Request timed out`, …).
    pub description: Option<String>,
}

/// What the health checker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCounters {
    /// Probes started.
    pub probes: u64,
    /// Probes that passed.
    pub passed: u64,
    /// Probes that failed (refused, timed out, or the wrong HTTP status).
    pub failed: u64,
    /// Segments from a target that belonged to no probe (answered with RST).
    pub unmatched: u64,
    /// Packets not emitted because the outbox was full.
    pub outbox_full: u64,
}

/// How a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Refused or closed (RST, FIN before a status line, garbage).
    Failed,
    /// No answer within the timeout.
    Timeout,
    /// An HTTP status the matcher does not accept.
    Mismatch(u16),
}

/// What a target group's checks look like.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Check {
    /// `Some((path, matcher))` for HTTP, `None` for TCP.
    http: Option<(String, String)>,
    port: u16,
    interval: Duration,
    timeout: Duration,
    healthy: u32,
    unhealthy: u32,
    enabled: bool,
    proxy_v2: bool,
    drain: Duration,
}

// The target group's health-check settings, with AWS's defaults applied by the model.
fn hc_path(tg: &TargetGroup) -> &str {
    &tg.health_check_path
}
fn hc_matcher(tg: &TargetGroup) -> &str {
    &tg.health_check_matcher
}
fn hc_timeout_seconds(tg: &TargetGroup) -> u32 {
    tg.health_check_timeout_seconds
}
fn hc_enabled(tg: &TargetGroup) -> bool {
    tg.health_check_enabled
}
fn hc_port_for(tg: &TargetGroup, t: &Target) -> u16 {
    tg.health_check_port_for(t)
}
fn deregistration_delay_seconds(tg: &TargetGroup) -> u32 {
    tg.deregistration_delay_seconds()
}
fn proxy_protocol_v2(tg: &TargetGroup) -> bool {
    tg.proxy_protocol_v2()
}

impl Check {
    fn of(tg: &TargetGroup, t: &Target) -> Check {
        let http = matches!(
            tg.health_check_protocol.to_ascii_uppercase().as_str(),
            "HTTP" | "HTTPS"
        );
        let interval = Duration::from_secs(u64::from(tg.health_check_interval_seconds.max(1)));
        let timeout = Duration::from_secs(u64::from(hc_timeout_seconds(tg).max(1)));
        Check {
            http: http.then(|| (hc_path(tg).to_string(), hc_matcher(tg).to_string())),
            port: hc_port_for(tg, t),
            interval,
            // Never more than MAX_IN_FLIGHT probes of one target at once.
            timeout: timeout.min(interval * MAX_IN_FLIGHT as u32),
            healthy: tg.healthy_threshold_count.max(1),
            unhealthy: tg.unhealthy_threshold_count.max(1),
            enabled: hc_enabled(tg),
            proxy_v2: proxy_protocol_v2(tg),
            drain: Duration::from_secs(u64::from(deregistration_delay_seconds(tg))),
        }
    }
}

/// Whether `code` is accepted by `matcher` (`200`, `200-399`, `200,202`, mixed).
pub fn matcher_accepts(matcher: &str, code: u16) -> bool {
    matcher
        .split(',')
        .map(str::trim)
        .any(|part| match part.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&code),
                _ => false,
            },
            None => part.parse::<u16>() == Ok(code),
        })
}

/// The status code of an HTTP status line (`HTTP/1.1 200 OK`).
fn status_code(line: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(line).ok()?;
    let mut it = s.split(' ');
    if !it.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = it.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

/// The proxy protocol v2 header of a LOCAL connection (what health checks carry).
const PROXY_V2_LOCAL: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    SynSent,
    /// HTTP: the request is sent; reading the status line.
    Requested {
        snd_nxt: u32,
        acked: bool,
        rcv_nxt: u32,
        buf: Vec<u8>,
        request: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
struct Probe {
    sport: u16,
    iss: u32,
    deadline: Instant,
    rto: Duration,
    rto_at: Instant,
    phase: Phase,
}

#[derive(Debug, Clone)]
struct Entry {
    tg: String,
    /// The load balancer whose listener forwards to the group (empty: none).
    lb: String,
    id: String,
    ip: Ipv4Addr,
    port: u16,
    az: String,
    /// The node IP probes leave from.
    node: Option<Ipv4Addr>,
    listener_ports: Vec<u16>,
    check: Check,
    state: HealthState,
    reason: Option<&'static str>,
    description: Option<String>,
    ok_run: u32,
    fail_run: u32,
    /// When the next probe is due (`None`: at once).
    next_due: Option<Instant>,
    /// Draining: gone at this time (`None`: set at the next poll).
    drain_until: Option<Instant>,
    probes: Vec<Probe>,
}

impl Entry {
    fn probed(&self) -> bool {
        matches!(
            self.state,
            HealthState::Initial | HealthState::Healthy | HealthState::Unhealthy
        )
    }
}

/// Flags of a segment the checker sends.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: Option<u32>,
    rst: bool,
    psh: bool,
}

/// The health checks of every load balancer of a lab.
#[derive(Debug, Clone)]
pub struct Health {
    entries: Vec<Entry>,
    generation: u64,
    next_port: u16,
    seed: u64,
    counter: u64,
    outbox: VecDeque<(String, Vec<u8>)>,
    /// The load balancers of the lab (their ports are served).
    lbs: HashSet<String>,
    /// What the checker has done.
    pub counters: HealthCounters,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const INITIAL: (&str, &str) = (
    "Elb.InitialHealthChecking",
    "Initial health checks in progress",
);
const DRAINING: (&str, &str) = (
    "Target.DeregistrationInProgress",
    "Target deregistration is in progress",
);
const NOT_IN_USE: (&str, &str) = (
    "Target.NotInUse",
    "Target group is not configured to receive traffic from the load balancer",
);
const AZ_NOT_ENABLED: (&str, &str) = (
    "Target.NotInUse",
    "Target is in an Availability Zone that is not enabled for the load balancer",
);
const DISABLED: (&str, &str) = ("Target.HealthCheckDisabled", "Health checks are disabled");

impl Health {
    /// No targets yet; `seed` makes initial sequence numbers.
    pub fn new(seed: u64) -> Self {
        Health {
            entries: Vec::new(),
            generation: 0,
            next_port: *PROBE_PORTS.start(),
            seed,
            counter: 0,
            outbox: VecDeque::new(),
            lbs: HashSet::new(),
            counters: HealthCounters::default(),
        }
    }

    /// Increases whenever a target's state, reason or description changes, or a target
    /// comes or goes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the lab has this load balancer.
    pub fn has_load_balancer(&self, arn: &str) -> bool {
        self.lbs.contains(arn)
    }

    /// Every target's health: by group, in registration order.
    pub fn target_health(&self) -> Vec<TargetHealth> {
        self.entries
            .iter()
            .map(|e| TargetHealth {
                target_group_arn: e.tg.clone(),
                id: e.id.clone(),
                ip: e.ip,
                port: e.port,
                az: e.az.clone(),
                state: e.state,
                reason: e.reason,
                description: e.description.clone(),
            })
            .collect()
    }

    fn set(&mut self, i: usize, state: HealthState, why: Option<(&'static str, String)>) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        let (reason, description) = match why {
            Some((r, d)) => (Some(r), Some(d)),
            None => (None, None),
        };
        if e.state != state || e.reason != reason || e.description != description {
            e.state = state;
            e.reason = reason;
            e.description = description;
            self.generation += 1;
        }
    }

    /// Follows a changed lab: new targets start `initial`, deregistered ones drain, groups
    /// without a listener's traffic are `unused`.
    pub fn update(&mut self, lab: &Lab) {
        self.lbs = lab.load_balancers.iter().map(|l| l.arn.clone()).collect();
        let mut seen = vec![false; self.entries.len()];
        for tg in &lab.target_groups {
            let lb = lab
                .listeners
                .iter()
                .filter(|l| l.target_group.as_deref() == Some(tg.arn.as_str()))
                .find_map(|l| lab.load_balancer(&l.load_balancer));
            let listener_ports: Vec<u16> = lb
                .map(|lb| {
                    lab.listeners
                        .iter()
                        .filter(|l| l.load_balancer == lb.arn)
                        .map(|l| l.port)
                        .collect()
                })
                .unwrap_or_default();
            for t in &tg.targets {
                let Some((ip, az)) = resolve(lab, tg, t) else {
                    continue; // an instance that is gone: its entry drains below
                };
                let check = Check::of(tg, t);
                let node = lb.and_then(|lb| {
                    lb.nodes
                        .iter()
                        .find(|n| n.availability_zone == az)
                        .or(lb.nodes.first())
                        .map(|n| n.private_ip)
                });
                let not_probed = match lb {
                    None => Some((HealthState::Unused, NOT_IN_USE)),
                    Some(lb)
                        if lb.nodes.is_empty()
                            || (!lb.cross_zone
                                && az != "all"
                                && !lb.nodes.iter().any(|n| n.availability_zone == az)) =>
                    {
                        Some((HealthState::Unused, AZ_NOT_ENABLED))
                    }
                    Some(_) if !check.enabled => Some((HealthState::Unavailable, DISABLED)),
                    Some(_) => None,
                };
                let lb_arn = lb.map(|l| l.arn.clone()).unwrap_or_default();
                let found = self
                    .entries
                    .iter()
                    .position(|e| e.tg == tg.arn && e.id == t.id && e.port == t.port);
                let i = match found {
                    Some(i) => {
                        if let Some(s) = seen.get_mut(i) {
                            *s = true;
                        }
                        let e = &mut self.entries[i];
                        if e.ip != ip || e.node != node || e.check != check || e.lb != lb_arn {
                            e.probes.clear();
                        }
                        e.ip = ip;
                        e.az = az;
                        e.node = node;
                        e.check = check;
                        e.lb = lb_arn;
                        e.listener_ports = listener_ports.clone();
                        e.drain_until = None;
                        i
                    }
                    None => {
                        if self.entries.len() >= MAX_TARGETS {
                            continue;
                        }
                        self.entries.push(Entry {
                            tg: tg.arn.clone(),
                            lb: lb_arn,
                            id: t.id.clone(),
                            ip,
                            port: t.port,
                            az,
                            node,
                            listener_ports: listener_ports.clone(),
                            check,
                            // Set below (counted as a change).
                            state: HealthState::Unused,
                            reason: None,
                            description: None,
                            ok_run: 0,
                            fail_run: 0,
                            next_due: None,
                            drain_until: None,
                            probes: Vec::new(),
                        });
                        self.generation += 1;
                        let i = self.entries.len() - 1;
                        self.restart(i);
                        i
                    }
                };
                match not_probed {
                    Some((state, (r, d))) => {
                        self.entries[i].probes.clear();
                        self.set(i, state, Some((r, d.to_string())));
                    }
                    None if !self.entries[i].probed() => self.restart(i),
                    None => {}
                }
            }
        }
        // Targets no longer registered drain; those of a group that is gone, or that were
        // unused, go at once.
        let groups: HashSet<&str> = lab.target_groups.iter().map(|t| t.arn.as_str()).collect();
        let mut i = seen.len();
        while i > 0 {
            i -= 1;
            if seen[i] {
                continue;
            }
            let e = &self.entries[i];
            let gone = !groups.contains(e.tg.as_str())
                || matches!(e.state, HealthState::Unused | HealthState::Unavailable);
            if gone {
                self.entries.remove(i);
                self.generation += 1;
            } else if e.state != HealthState::Draining {
                self.entries[i].probes.clear();
                self.entries[i].drain_until = None;
                self.set(
                    i,
                    HealthState::Draining,
                    Some((DRAINING.0, DRAINING.1.into())),
                );
            }
        }
    }

    /// Back to `initial`, first probe at once.
    fn restart(&mut self, i: usize) {
        if let Some(e) = self.entries.get_mut(i) {
            e.ok_run = 0;
            e.fail_run = 0;
            e.next_due = None;
            e.probes.clear();
        }
        self.set(i, HealthState::Initial, Some((INITIAL.0, INITIAL.1.into())));
    }

    /// Runs the timers: drains that end, probe timeouts and retransmissions, probes due.
    pub fn poll(&mut self, now: Instant) {
        let mut i = self.entries.len();
        while i > 0 {
            i -= 1;
            if self.entries[i].state == HealthState::Draining {
                let e = &mut self.entries[i];
                let until = *e.drain_until.get_or_insert(now + e.check.drain);
                if now >= until {
                    self.entries.remove(i);
                    self.generation += 1;
                }
                continue;
            }
            if !self.entries[i].probed() {
                continue;
            }
            // Timeouts, oldest first.
            while let Some(p) = self.entries[i].probes.first() {
                if now < p.deadline {
                    break;
                }
                let p = self.entries[i].probes.remove(0);
                if let Phase::Requested { snd_nxt, .. } = p.phase {
                    self.send_to_target(
                        i,
                        p.sport,
                        snd_nxt,
                        None,
                        Flags {
                            rst: true,
                            ..Flags::default()
                        },
                        &[],
                    );
                }
                self.verdict(i, Err(Failure::Timeout));
            }
            // Retransmissions.
            for k in 0..self.entries[i].probes.len() {
                let p = &mut self.entries[i].probes[k];
                if now < p.rto_at {
                    continue;
                }
                p.rto = p.rto.saturating_mul(2);
                p.rto_at = now + p.rto;
                let (sport, iss) = (p.sport, p.iss);
                match p.phase.clone() {
                    Phase::SynSent => self.send_syn(i, sport, iss),
                    Phase::Requested {
                        acked: false,
                        rcv_nxt,
                        request,
                        ..
                    } => self.send_to_target(
                        i,
                        sport,
                        iss.wrapping_add(1),
                        Some(rcv_nxt),
                        Flags {
                            psh: true,
                            ..Flags::default()
                        },
                        &request,
                    ),
                    Phase::Requested { .. } => {}
                }
            }
            // A new probe when due.
            let e = &self.entries[i];
            let due = e.next_due.is_none_or(|d| now >= d);
            if due && e.node.is_some() && e.probes.len() < MAX_IN_FLIGHT {
                self.start_probe(i, now);
            }
        }
    }

    fn start_probe(&mut self, i: usize, now: Instant) {
        let Some(sport) = self.alloc_port(i) else {
            return;
        };
        self.counter = self.counter.wrapping_add(1);
        let iss = splitmix(self.seed ^ self.counter) as u32;
        let e = &mut self.entries[i];
        let deadline = now + e.check.timeout;
        e.next_due = Some(now + e.check.interval);
        e.probes.push(Probe {
            sport,
            iss,
            deadline,
            rto: FIRST_RTO,
            rto_at: now + FIRST_RTO,
            phase: Phase::SynSent,
        });
        self.counters.probes += 1;
        self.send_syn(i, sport, iss);
    }

    /// A source port for a probe of entry `i`: from [`PROBE_PORTS`], not a listener port,
    /// not in use by another probe from the same node.
    fn alloc_port(&mut self, i: usize) -> Option<u16> {
        let e = self.entries.get(i)?;
        let (start, end) = (*PROBE_PORTS.start(), *PROBE_PORTS.end());
        for _ in 0..=usize::from(end - start) {
            let p = self.next_port;
            self.next_port = if p >= end { start } else { p + 1 };
            if e.listener_ports.contains(&p) {
                continue;
            }
            let busy = self
                .entries
                .iter()
                .filter(|o| o.node == e.node)
                .any(|o| o.probes.iter().any(|q| q.sport == p));
            if !busy {
                return Some(p);
            }
        }
        None
    }

    fn send_syn(&mut self, i: usize, sport: u16, iss: u32) {
        self.send_to_target(
            i,
            sport,
            iss,
            None,
            Flags {
                syn: true,
                ..Flags::default()
            },
            &[],
        );
    }

    fn send_to_target(
        &mut self,
        i: usize,
        sport: u16,
        seq: u32,
        ack: Option<u32>,
        flags: Flags,
        payload: &[u8],
    ) {
        let Some(e) = self.entries.get(i) else {
            return;
        };
        let Some(node) = e.node else {
            return;
        };
        let (lb, dst, dport) = (e.lb.clone(), e.ip, e.check.port);
        let flags = Flags { ack, ..flags };
        if let Some(p) = segment(node, dst, sport, dport, seq, flags, payload) {
            self.queue(lb, p);
        }
    }

    fn queue(&mut self, lb: String, packet: Vec<u8>) {
        if self.outbox.len() >= MAX_OUTBOX {
            self.counters.outbox_full += 1;
        } else {
            self.outbox.push_back((lb, packet));
        }
    }

    /// Whether packets wait in the outbox.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Hands every waiting packet to `emit` with its load balancer's ARN; returns how many.
    pub fn drain(&mut self, mut emit: impl FnMut(&str, &[u8])) -> u64 {
        let mut n = 0;
        while let Some((lb, p)) = self.outbox.pop_front() {
            emit(&lb, &p);
            n += 1;
        }
        n
    }

    /// When [`Health::poll`] must next run (`now` when a probe is due at once).
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        if !self.outbox.is_empty() {
            return Some(now);
        }
        let mut at: Option<Instant> = None;
        let mut min = |t: Instant| at = Some(at.map_or(t, |a| a.min(t)));
        for e in &self.entries {
            if e.state == HealthState::Draining {
                min(e.drain_until.unwrap_or(now));
                continue;
            }
            if !e.probed() {
                continue;
            }
            for p in &e.probes {
                min(p.deadline);
                if matches!(
                    p.phase,
                    Phase::SynSent | Phase::Requested { acked: false, .. }
                ) {
                    min(p.rto_at);
                }
            }
            if e.node.is_some() && e.probes.len() < MAX_IN_FLIGHT {
                min(e.next_due.unwrap_or(now));
            }
        }
        at
    }

    /// Takes one packet a target sent to a node of load balancer `lb` (checked IPv4).
    /// Returns whether it belonged to a probe; one that did not is answered with RST.
    pub fn receive(&mut self, now: Instant, lb: &str, packet: &[u8]) -> bool {
        let _ = now;
        let Ok(ip) = Ipv4Packet::new_checked(packet) else {
            return false;
        };
        if ip.next_header() != IpProtocol::Tcp {
            return false;
        }
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
            return false;
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let (sport, dport) = (tcp.src_port(), tcp.dst_port());
        let found = self.entries.iter().enumerate().find_map(|(i, e)| {
            if e.lb != lb || e.ip != src || e.node != Some(dst) || e.check.port != sport {
                return None;
            }
            let k = e.probes.iter().position(|p| p.sport == dport)?;
            Some((i, k))
        });
        let Some((i, k)) = found else {
            self.counters.unmatched += 1;
            if !tcp.rst() {
                self.reset_unknown(lb, src, dst, &tcp);
            }
            return false;
        };
        self.step(i, k, &tcp);
        true
    }

    /// RST for a segment of no connection (RFC 9293 §3.10.7.1).
    fn reset_unknown(&mut self, lb: &str, src: Ipv4Addr, dst: Ipv4Addr, tcp: &TcpPacket<&[u8]>) {
        let seg_len = tcp.payload().len() as u32 + u32::from(tcp.syn()) + u32::from(tcp.fin());
        let (seq, flags) = if tcp.ack() {
            (
                tcp.ack_number().0 as u32,
                Flags {
                    rst: true,
                    ..Flags::default()
                },
            )
        } else {
            (
                0,
                Flags {
                    rst: true,
                    ack: Some((tcp.seq_number().0 as u32).wrapping_add(seg_len)),
                    ..Flags::default()
                },
            )
        };
        if let Some(p) = segment(dst, src, tcp.dst_port(), tcp.src_port(), seq, flags, &[]) {
            self.queue(lb.to_string(), p);
        }
    }

    /// One segment of probe `k` of entry `i`.
    fn step(&mut self, i: usize, k: usize, tcp: &TcpPacket<&[u8]>) {
        let Some(p) = self.entries.get(i).and_then(|e| e.probes.get(k)) else {
            return;
        };
        let (sport, iss) = (p.sport, p.iss);
        let seq = tcp.seq_number().0 as u32;
        let ack = tcp.ack_number().0 as u32;
        match p.phase.clone() {
            Phase::SynSent => {
                let acks_syn = tcp.ack() && ack == iss.wrapping_add(1);
                if tcp.rst() {
                    if acks_syn {
                        self.finish(i, k, Err(Failure::Failed));
                    }
                    return;
                }
                if !(tcp.syn() && acks_syn) {
                    return;
                }
                let rcv_nxt = seq.wrapping_add(1);
                let e = &self.entries[i];
                let Some((path, _)) = e.check.http.clone() else {
                    // TCP check: connected is healthy; reset, leaving nothing open.
                    self.send_to_target(
                        i,
                        sport,
                        iss.wrapping_add(1),
                        None,
                        Flags {
                            rst: true,
                            ..Flags::default()
                        },
                        &[],
                    );
                    self.finish(i, k, Ok(()));
                    return;
                };
                let mut request = Vec::new();
                if e.check.proxy_v2 {
                    request.extend_from_slice(PROXY_V2_LOCAL);
                }
                request.extend_from_slice(
                    format!(
                        "GET {path} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\
                         Accept: */*\r\nConnection: close\r\n\r\n",
                        e.ip, e.check.port
                    )
                    .as_bytes(),
                );
                let snd_nxt = iss.wrapping_add(1).wrapping_add(request.len() as u32);
                self.send_to_target(
                    i,
                    sport,
                    iss.wrapping_add(1),
                    Some(rcv_nxt),
                    Flags {
                        psh: true,
                        ..Flags::default()
                    },
                    &request,
                );
                if let Some(p) = self.entries[i].probes.get_mut(k) {
                    p.rto = FIRST_RTO;
                    p.phase = Phase::Requested {
                        snd_nxt,
                        acked: false,
                        rcv_nxt,
                        buf: Vec::new(),
                        request,
                    };
                }
            }
            Phase::Requested {
                snd_nxt,
                mut acked,
                mut rcv_nxt,
                mut buf,
                request,
            } => {
                if tcp.rst() {
                    self.finish(i, k, Err(Failure::Failed));
                    return;
                }
                if tcp.ack() && ack == snd_nxt {
                    acked = true;
                }
                let payload = tcp.payload();
                let in_order = seq == rcv_nxt;
                if in_order {
                    let room = MAX_STATUS_LINE.saturating_sub(buf.len());
                    buf.extend_from_slice(payload.get(..room.min(payload.len())).unwrap_or(&[]));
                    rcv_nxt = rcv_nxt.wrapping_add(payload.len() as u32);
                }
                let fin = in_order && tcp.fin();
                if fin {
                    rcv_nxt = rcv_nxt.wrapping_add(1);
                }
                let verdict = match buf.windows(2).position(|w| w == b"\r\n") {
                    Some(n) => Some(match status_code(&buf[..n]) {
                        Some(code) => {
                            let matcher =
                                self.entries[i].check.http.as_ref().map(|(_, m)| m.as_str());
                            if matcher.is_some_and(|m| matcher_accepts(m, code)) {
                                Ok(())
                            } else {
                                Err(Failure::Mismatch(code))
                            }
                        }
                        None => Err(Failure::Failed),
                    }),
                    None if fin || buf.len() >= MAX_STATUS_LINE => Some(Err(Failure::Failed)),
                    None => None,
                };
                match verdict {
                    Some(v) => {
                        self.send_to_target(
                            i,
                            sport,
                            snd_nxt,
                            Some(rcv_nxt),
                            Flags {
                                rst: true,
                                ..Flags::default()
                            },
                            &[],
                        );
                        self.finish(i, k, v);
                    }
                    None => {
                        if !payload.is_empty() || tcp.fin() {
                            self.send_to_target(
                                i,
                                sport,
                                snd_nxt,
                                Some(rcv_nxt),
                                Flags::default(),
                                &[],
                            );
                        }
                        if let Some(p) = self.entries[i].probes.get_mut(k) {
                            p.phase = Phase::Requested {
                                snd_nxt,
                                acked,
                                rcv_nxt,
                                buf,
                                request,
                            };
                        }
                    }
                }
            }
        }
    }

    /// Ends probe `k` of entry `i` with a verdict.
    fn finish(&mut self, i: usize, k: usize, v: Result<(), Failure>) {
        if let Some(e) = self.entries.get_mut(i) {
            if k < e.probes.len() {
                e.probes.remove(k);
            }
        }
        self.verdict(i, v);
    }

    /// Counts one check's result against the thresholds.
    fn verdict(&mut self, i: usize, v: Result<(), Failure>) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        if !e.probed() {
            return;
        }
        let next = match v {
            Ok(()) => {
                e.ok_run = e.ok_run.saturating_add(1);
                e.fail_run = 0;
                (e.state != HealthState::Healthy && e.ok_run >= e.check.healthy)
                    .then_some((HealthState::Healthy, None))
            }
            Err(f) => {
                e.fail_run = e.fail_run.saturating_add(1);
                e.ok_run = 0;
                let why = match f {
                    Failure::Failed => ("Target.FailedHealthChecks", "Health checks failed".into()),
                    Failure::Timeout => ("Target.Timeout", "Request timed out".into()),
                    Failure::Mismatch(code) => (
                        "Target.ResponseCodeMismatch",
                        format!("Health checks failed with these codes: [{code}]"),
                    ),
                };
                (e.state == HealthState::Unhealthy || e.fail_run >= e.check.unhealthy)
                    .then_some((HealthState::Unhealthy, Some(why)))
            }
        };
        if v.is_ok() {
            self.counters.passed += 1;
        } else {
            self.counters.failed += 1;
        }
        if let Some((state, why)) = next {
            self.set(i, state, why);
        }
    }
}

/// The address and AZ of a target: an instance's private IP and AZ; an IP's subnet's AZ in
/// the group's VPC, or `all` outside it.
fn resolve(lab: &Lab, tg: &TargetGroup, t: &Target) -> Option<(Ipv4Addr, String)> {
    if tg.target_type == "ip" {
        let ip: Ipv4Addr = t.id.parse().ok()?;
        let az = lab
            .subnets
            .iter()
            .find(|s| s.vpc == tg.vpc && s.cidr.contains(&ip))
            .map_or_else(|| "all".to_string(), |s| s.availability_zone.clone());
        return Some((ip, az));
    }
    let inst = lab.instances.iter().find(|i| i.id.as_str() == t.id)?;
    Some((inst.private_ip, inst.availability_zone.clone()))
}

/// One TCP segment as a bare IPv4 packet.
fn segment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    flags: Flags,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut b = PacketBuilder::ipv4(src.octets(), dst.octets(), 64).tcp(sport, dport, seq, WINDOW);
    if flags.syn {
        b = b
            .syn()
            .options(&[TcpOptionElement::MaximumSegmentSize(MSS)])
            .ok()?;
    }
    if let Some(a) = flags.ack {
        b = b.ack(a);
    }
    if flags.rst {
        b = b.rst();
    }
    if flags.psh {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests;
