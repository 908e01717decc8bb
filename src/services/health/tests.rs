//! Health checks through the `Services` API with fake targets and a fake clock.

use std::collections::HashMap;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::*;
use crate::services::dns::tests::default_lab;
use crate::services::{Config, ServicePort, Services};

const T0: Instant = Instant::from_secs(1_000);

fn secs(n: u64) -> Instant {
    T0 + Duration::from_secs(n)
}

/// The default lab with web-tg's checks set as given.
fn lab_with(protocol: &str, interval: u32, healthy: u32, unhealthy: u32) -> Lab {
    let mut lab = default_lab();
    let tg = &mut lab.target_groups[0];
    tg.health_check_protocol = protocol.into();
    // AWS's default timeout for the protocol (what the model gives a new group).
    tg.health_check_timeout_seconds = if protocol == "HTTP" { 6 } else { 10 };
    tg.health_check_interval_seconds = interval;
    tg.healthy_threshold_count = healthy;
    tg.unhealthy_threshold_count = unhealthy;
    lab
}

fn instance_ip(lab: &Lab, name: &str) -> Ipv4Addr {
    lab.instances
        .iter()
        .find(|i| i.tags.name() == Some(name))
        .unwrap()
        .private_ip
}

fn instance_id(lab: &Lab, name: &str) -> String {
    lab.instances
        .iter()
        .find(|i| i.tags.name() == Some(name))
        .unwrap()
        .id
        .to_string()
}

/// One TCP segment the checker sent.
#[derive(Debug, Clone)]
struct Seg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    rst: bool,
    payload: Vec<u8>,
}

fn parse(p: &[u8]) -> Seg {
    let s = SlicedPacket::from_ip(p).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        panic!("IPv4")
    };
    let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
    let Some(TransportSlice::Tcp(t)) = &s.transport else {
        panic!("TCP")
    };
    let want = t
        .to_header()
        .calc_checksum_ipv4_raw(src.octets(), dst.octets(), t.payload())
        .unwrap();
    assert_eq!(t.checksum(), want, "TCP checksum");
    Seg {
        src,
        dst,
        sport: t.source_port(),
        dport: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.ack().then(|| t.acknowledgment_number()),
        syn: t.syn(),
        rst: t.rst(),
        payload: t.payload().to_vec(),
    }
}

/// A target's answer to `to`.
fn answer(to: &Seg, seq: u32, ack: u32, syn: bool, rst: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(to.dst.octets(), to.src.octets(), 64)
        .tcp(to.dport, to.sport, seq, 64240)
        .ack(ack);
    if syn {
        b = b.syn();
    }
    if rst {
        b = b.rst();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// How a fake target answers one segment of the checker.
type Target = Box<dyn FnMut(&Seg) -> Option<Vec<u8>>>;

/// Answers SYN with SYN-ACK.
fn listening() -> Target {
    Box::new(|s: &Seg| {
        s.syn
            .then(|| answer(s, 5000, s.seq.wrapping_add(1), true, false, b""))
    })
}

/// Answers SYN with RST.
fn refusing() -> Target {
    Box::new(|s: &Seg| {
        s.syn
            .then(|| answer(s, 0, s.seq.wrapping_add(1), false, true, b""))
    })
}

/// Answers nothing.
fn silent() -> Target {
    Box::new(|_: &Seg| None)
}

/// An HTTP server answering every request with `status`; records the requests.
fn http_server(status: u16, requests: std::rc::Rc<std::cell::RefCell<Vec<String>>>) -> Target {
    Box::new(move |s: &Seg| {
        if s.syn {
            return Some(answer(s, 5000, s.seq.wrapping_add(1), true, false, b""));
        }
        if s.payload.is_empty() || s.rst {
            return None;
        }
        requests
            .borrow_mut()
            .push(String::from_utf8_lossy(&s.payload).into_owned());
        let body = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
        let ack = s.seq.wrapping_add(s.payload.len() as u32);
        Some(answer(s, 5001, ack, false, false, body.as_bytes()))
    })
}

/// A lab run: services, fake targets by IP, the log of state changes.
struct Run {
    s: Services,
    arn: String,
    now: Instant,
    targets: HashMap<Ipv4Addr, Target>,
    /// `(time, target id, state, reason)` at each change.
    log: Vec<(Instant, String, HealthState, Option<&'static str>)>,
    /// Every segment the checker sent, with the time.
    sent: Vec<(Instant, Seg)>,
}

impl Run {
    fn new(lab: &Lab) -> Run {
        let s = Services::new(lab, Config::default()).unwrap();
        let mut r = Run {
            s,
            arn: lab.load_balancers[0].arn.clone(),
            now: T0,
            targets: HashMap::new(),
            log: Vec::new(),
            sent: Vec::new(),
        };
        r.record();
        r
    }

    fn record(&mut self) {
        for t in self.s.target_health() {
            let last = self.log.iter().rev().find(|(_, id, ..)| *id == t.id);
            if last.is_none_or(|l| (l.2, l.3) != (t.state, t.reason)) {
                self.log.push((self.now, t.id.clone(), t.state, t.reason));
            }
        }
    }

    /// Polls at `now`, lets the targets answer, until nothing moves at this instant.
    fn step(&mut self) {
        let port = ServicePort::LoadBalancer {
            arn: self.arn.clone(),
        };
        for _ in 0..20 {
            let mut out = Vec::new();
            self.s.poll(self.now, |p, b| {
                assert_eq!(p, &port, "probes leave on their load balancer's port");
                out.push(b.to_vec());
            });
            if out.is_empty() {
                break;
            }
            for b in out {
                let seg = parse(&b);
                self.sent.push((self.now, seg.clone()));
                let reply = self.targets.get_mut(&seg.dst).and_then(|t| t(&seg));
                if let Some(r) = reply {
                    self.s.receive(self.now, &port, &r);
                }
            }
            self.record();
        }
        self.record();
    }

    /// Steps through every wake-up up to `until`.
    fn run_until(&mut self, until: Instant) {
        self.step();
        while let Some(t) = self.s.next_wake(self.now) {
            if t > until {
                break;
            }
            assert!(t >= self.now, "time goes forward");
            self.now = t;
            self.step();
        }
        self.now = until;
    }

    fn changes(&self, id: &str) -> Vec<(u64, HealthState, Option<&'static str>)> {
        self.log
            .iter()
            .filter(|(_, i, ..)| i == id)
            .map(|(t, _, s, r)| ((t.total_millis() - T0.total_millis()) / 1000, *s, *r))
            .collect()
    }

    fn health(&self, id: &str) -> TargetHealth {
        self.s
            .target_health()
            .into_iter()
            .find(|t| t.id == id)
            .unwrap()
    }

    fn syns_to(&self, ip: Ipv4Addr) -> Vec<(u64, Seg)> {
        self.sent
            .iter()
            .filter(|(_, s)| s.dst == ip && s.syn)
            .map(|(t, s)| (t.total_millis() - T0.total_millis(), s.clone()))
            .collect()
    }
}

#[test]
fn tcp_checks_decide_at_the_thresholds() {
    let lab = lab_with("TCP", 5, 2, 2);
    let (web1, web2) = (instance_ip(&lab, "WEB1"), instance_ip(&lab, "WEB2"));
    let (id1, id2) = (instance_id(&lab, "WEB1"), instance_id(&lab, "WEB2"));
    let mut r = Run::new(&lab);
    let h = r.health(&id1);
    assert_eq!(
        (h.state, h.reason, h.port, h.ip),
        (
            HealthState::Initial,
            Some("Elb.InitialHealthChecking"),
            80,
            web1
        )
    );
    assert_eq!(r.s.next_wake(T0), Some(T0), "first probes at once");
    let g0 = r.s.health_generation();
    r.targets.insert(web1, listening());
    r.targets.insert(web2, refusing());
    r.run_until(secs(12));
    assert_eq!(
        r.changes(&id1),
        vec![
            (0, HealthState::Initial, Some("Elb.InitialHealthChecking")),
            (5, HealthState::Healthy, None)
        ]
    );
    assert_eq!(
        r.changes(&id2),
        vec![
            (0, HealthState::Initial, Some("Elb.InitialHealthChecking")),
            (5, HealthState::Unhealthy, Some("Target.FailedHealthChecks"))
        ]
    );
    assert_eq!(
        r.health(&id2).description.as_deref(),
        Some("Health checks failed")
    );
    assert!(r.s.health_generation() > g0);

    // Probes: one per interval, from the node in the target's AZ, to the traffic port, from
    // the probe port range; a passed TCP check is reset at once.
    let lb = &lab.load_balancers[0];
    let az1 = &lab
        .instances
        .iter()
        .find(|i| i.private_ip == web1)
        .unwrap()
        .availability_zone;
    let node1 = lb
        .nodes
        .iter()
        .find(|n| &n.availability_zone == az1)
        .unwrap()
        .private_ip;
    let syns = r.syns_to(web1);
    assert_eq!(
        syns.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![0, 5000, 10000]
    );
    for (_, s) in &syns {
        assert_eq!((s.src, s.dport), (node1, 80));
        assert!(PROBE_PORTS.contains(&s.sport));
    }
    let (_, first) = &syns[0];
    let rst = r
        .sent
        .iter()
        .find(|(_, s)| s.rst && s.dst == web1 && s.sport == first.sport)
        .expect("RST after the SYN-ACK");
    assert_eq!(rst.1.seq, first.seq.wrapping_add(1));

    // WEB1 goes silent after the probe at 10 s: its SYNs are retransmitted, each probe
    // times out after 10 s, and the second timeout (the probe at 20 s) makes it unhealthy.
    r.targets.insert(web1, silent());
    r.run_until(secs(40));
    let c = r.changes(&id1);
    assert_eq!(
        c.last(),
        Some(&(30, HealthState::Unhealthy, Some("Target.Timeout")))
    );
    let h = r.health(&id1);
    assert_eq!(h.description.as_deref(), Some("Request timed out"));
    let syns = r.syns_to(web1);
    let probe15 = syns.iter().find(|(t, _)| *t == 15000).unwrap().1.clone();
    let resent: Vec<u64> = syns
        .iter()
        .filter(|(_, s)| s.sport == probe15.sport && s.seq == probe15.seq)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        resent,
        vec![15000, 16000, 18000, 22000],
        "1 s, then doubling"
    );
    assert!(
        r.s.counters().health.probes >= 14,
        "{:?}",
        r.s.counters().health
    );

    // Back: healthy again after two passes.
    r.targets.insert(web1, listening());
    let back = r.now;
    r.run_until(secs(60));
    let (t, st, _) = *r.changes(&id1).last().unwrap();
    assert_eq!(st, HealthState::Healthy);
    assert!(
        t * 1000 <= back.total_millis() - T0.total_millis() + 10_000,
        "{t}"
    );
    let summary = r.s.counters().summary();
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("load balancer health checks:")),
        "{summary:?}"
    );
}

#[test]
fn http_checks_send_the_path_and_match_the_status() {
    let lab = lab_with("HTTP", 5, 2, 2);
    let (web1, web2) = (instance_ip(&lab, "WEB1"), instance_ip(&lab, "WEB2"));
    let (id1, id2) = (instance_id(&lab, "WEB1"), instance_id(&lab, "WEB2"));
    let mut r = Run::new(&lab);
    let seen1 = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen2 = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    r.targets.insert(web1, http_server(200, seen1.clone()));
    r.targets.insert(web2, http_server(404, seen2.clone()));
    r.run_until(secs(7));
    assert_eq!(
        r.changes(&id1),
        vec![
            (0, HealthState::Initial, Some("Elb.InitialHealthChecking")),
            (5, HealthState::Healthy, None)
        ]
    );
    assert_eq!(
        r.changes(&id2).last(),
        Some(&(
            5,
            HealthState::Unhealthy,
            Some("Target.ResponseCodeMismatch")
        ))
    );
    assert_eq!(
        r.health(&id2).description.as_deref(),
        Some("Health checks failed with these codes: [404]")
    );
    let req = seen1.borrow()[0].clone();
    assert!(
        req.starts_with(&format!("GET / HTTP/1.1\r\nHost: {web1}:80\r\n")),
        "{req}"
    );
    assert!(req.ends_with("\r\n\r\n"));
    // After the status line the checker resets the connection.
    assert!(r
        .sent
        .iter()
        .any(|(_, s)| s.dst == web1 && s.rst && s.ack.is_some()));

    // A server that accepts but never answers: HTTP checks time out after 6 s.
    let lab2 = lab_with("HTTP", 30, 2, 2);
    let mut r = Run::new(&lab2);
    r.targets.insert(web1, listening());
    r.targets.insert(web2, listening());
    r.run_until(secs(40));
    assert_eq!(
        r.changes(&id1),
        vec![
            (0, HealthState::Initial, Some("Elb.InitialHealthChecking")),
            (36, HealthState::Unhealthy, Some("Target.Timeout"))
        ]
    );
}

#[test]
fn deregistered_targets_drain_and_unused_groups_are_not_probed() {
    let mut lab = lab_with("TCP", 5, 2, 2);
    let (web1, web2) = (instance_ip(&lab, "WEB1"), instance_ip(&lab, "WEB2"));
    let (id1, id2) = (instance_id(&lab, "WEB1"), instance_id(&lab, "WEB2"));
    let mut r = Run::new(&lab);
    r.targets.insert(web1, listening());
    r.targets.insert(web2, listening());
    r.run_until(secs(6));
    assert_eq!(r.health(&id2).state, HealthState::Healthy);

    // deregister-targets WEB2: draining for 300 s, no probes, then gone.
    let g = r.s.health_generation();
    lab.target_groups[0].targets.retain(|t| t.id != id2);
    r.s.update(&lab);
    let h = r.health(&id2);
    assert_eq!(
        (h.state, h.reason, h.description.as_deref()),
        (
            HealthState::Draining,
            Some("Target.DeregistrationInProgress"),
            Some("Target deregistration is in progress")
        )
    );
    assert!(r.s.health_generation() > g);
    let probes_before = r.syns_to(web2).len();
    r.run_until(secs(305));
    assert_eq!(
        r.syns_to(web2).len(),
        probes_before,
        "draining targets are not probed"
    );
    assert!(r.s.target_health().iter().any(|t| t.id == id2));
    r.run_until(secs(307));
    assert!(
        !r.s.target_health().iter().any(|t| t.id == id2),
        "gone after the delay"
    );

    // No listener forwards to the group: unused, not probed.
    let listeners = lab.listeners.clone();
    lab.listeners.clear();
    r.s.update(&lab);
    let h = r.health(&id1);
    assert_eq!(
        (h.state, h.reason),
        (HealthState::Unused, Some("Target.NotInUse"))
    );
    let n = r.syns_to(web1).len();
    r.run_until(secs(330));
    assert_eq!(r.syns_to(web1).len(), n);

    // Back: initial again, probed at once.
    lab.listeners = listeners;
    r.s.update(&lab);
    assert_eq!(r.health(&id1).state, HealthState::Initial);
    assert_eq!(r.s.next_wake(r.now), Some(r.now));

    // Cross-zone off and no node in WEB1's AZ: unused.
    let az1 = lab
        .instances
        .iter()
        .find(|i| i.private_ip == web1)
        .unwrap()
        .availability_zone
        .clone();
    lab.load_balancers[0].cross_zone = false;
    lab.load_balancers[0]
        .nodes
        .retain(|n| n.availability_zone != az1);
    r.s.update(&lab);
    let h = r.health(&id1);
    assert_eq!(
        (h.state, h.reason),
        (HealthState::Unused, Some("Target.NotInUse"))
    );
    assert!(h.description.unwrap().contains("Availability Zone"));
}

#[test]
fn stray_packets_are_reset_and_probe_ports_avoid_listeners() {
    let mut lab = lab_with("TCP", 5, 2, 2);
    let web1 = instance_ip(&lab, "WEB1");
    lab.listeners[0].port = *PROBE_PORTS.start();
    let mut r = Run::new(&lab);
    r.targets.insert(web1, silent());
    r.step();
    let syns = r.syns_to(web1);
    assert!(syns.iter().all(|(_, s)| s.sport != *PROBE_PORTS.start()));

    // A SYN-ACK for a port no probe uses: RST, counted as not served.
    let port = ServicePort::LoadBalancer { arn: r.arn.clone() };
    let mut fake = syns[0].1.clone();
    fake.sport = 61999;
    let before = r.s.counters().not_served;
    r.s.receive(
        r.now,
        &port,
        &answer(&fake, 77, fake.seq.wrapping_add(1), true, false, b""),
    );
    let mut out = Vec::new();
    r.s.poll(r.now, |_, b| out.push(parse(b)));
    assert_eq!(r.s.counters().not_served, before + 1);
    assert!(out
        .iter()
        .any(|s| s.rst && s.sport == 61999 && s.seq == fake.seq.wrapping_add(1)));

    // Unknown load balancer, garbage.
    let other = ServicePort::LoadBalancer {
        arn: "arn:nope".into(),
    };
    r.s.receive(r.now, &other, &answer(&fake, 1, 1, true, false, b""));
    assert_eq!(r.s.counters().unknown_port, 1);
    r.s.receive(r.now, &port, b"\x45garbage");
    assert_eq!(r.s.counters().malformed, 1);
}

#[test]
fn matchers_read_codes_ranges_and_lists() {
    assert!(matcher_accepts("200", 200));
    assert!(!matcher_accepts("200", 201));
    assert!(matcher_accepts("200-399", 302));
    assert!(!matcher_accepts("200-399", 404));
    assert!(matcher_accepts("200,202", 202));
    assert!(!matcher_accepts("200,202", 201));
    assert!(matcher_accepts("200, 300-302", 301));
    assert!(!matcher_accepts("abc", 200));
    assert_eq!(status_code(b"HTTP/1.1 404 Not Found"), Some(404));
    assert_eq!(status_code(b"HTTP/1.0 200"), Some(200));
    assert_eq!(status_code(b"SSH-2.0-OpenSSH"), None);
    assert_eq!(status_code(b"HTTP/1.1 20 OK"), None);
}

#[test]
fn garbage_from_targets_never_panics() {
    let lab = lab_with("HTTP", 5, 2, 2);
    let mut h = Health::new(1);
    h.update(&lab);
    h.poll(T0);
    let mut probes = Vec::new();
    h.drain(|_, p| probes.push(parse(p)));
    let arn = lab.load_balancers[0].arn.clone();
    for (i, p) in probes.iter().enumerate() {
        let synack = answer(p, 9, p.seq.wrapping_add(1), true, false, b"");
        assert!(h.receive(T0, &arn, &synack));
        for junk in [&b"\r\n"[..], b"HTTP/1.1 abc\r\n", &[0xff; 2000][..]] {
            let d = answer(p, 10 + i as u32, p.seq.wrapping_add(1), false, false, junk);
            let _ = h.receive(T0, &arn, &d);
        }
    }
    for n in 0..200u8 {
        let _ = h.receive(T0, &arn, &[n; 60]);
    }
    h.poll(secs(100));
}
