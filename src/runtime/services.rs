//! The services as the event loop sees them: [`crate::services::Services`] keyed by
//! router ports.
//!
//! Contract: [`LabServices`] implements [`ServiceSide`]. A router port is a service port
//! when its kind is [`PortKind::Service`] (one vocabulary: the services' [`ServicePort`] is
//! the data plane's); the way back is the snapshot's index of service ports. Packets for any
//! other port are dropped and counted. A new snapshot comes with
//! its lab, and the services follow it (new gateway endpoints, changed instances). This is
//! not the fast path: packets for services are copied.

use std::sync::Arc;
use std::time::Duration;

use super::eventloop::ServiceSide;
use crate::dataplane::time::Instant;
use crate::dataplane::topology::{PortId, PortKind, Snapshot};
use crate::model::Lab;
use crate::services::health::TargetHealth;
use crate::services::{ServicePort, Services};

/// The lab's services behind the router's service ports.
pub struct LabServices {
    services: Services,
    snap: Arc<Snapshot>,
    /// Packets that arrived on a port that is not a service port, or that the services
    /// emitted on a port the snapshot no longer has.
    pub misdirected: u64,
}

impl LabServices {
    /// Services built for `snap`'s ports.
    pub fn new(services: Services, snap: Arc<Snapshot>) -> Self {
        LabServices {
            services,
            snap,
            misdirected: 0,
        }
    }
}

/// The service port behind a router port, if it is one.
pub fn service_port(snap: &Snapshot, port: PortId) -> Option<&ServicePort> {
    match &snap.port(port)?.kind {
        PortKind::Service(sp) => Some(sp),
        PortKind::Eni(_) | PortKind::Internet => None,
    }
}

/// The router port behind a service port, if the snapshot has it (a hash lookup).
pub fn router_port(snap: &Snapshot, port: &ServicePort) -> Option<PortId> {
    snap.service_port(port)
}

impl ServiceSide for LabServices {
    fn receive(&mut self, now: Instant, port: PortId, packet: &[u8]) {
        match service_port(&self.snap, port) {
            Some(sp) => self.services.receive(now, sp, packet),
            None => self.misdirected += 1,
        }
    }

    fn poll(&mut self, now: Instant, out: &mut dyn FnMut(PortId, &[u8])) {
        let snap = &self.snap;
        let misdirected = &mut self.misdirected;
        self.services
            .poll(now, |sp, packet| match router_port(snap, sp) {
                Some(p) => out(p, packet),
                None => *misdirected += 1,
            });
    }

    fn poll_delay(&self, now: Instant) -> Option<Duration> {
        let at = self.services.next_wake(now)?;
        Some(Duration::from_millis(
            at.total_millis().saturating_sub(now.total_millis()),
        ))
    }

    fn install(&mut self, snap: &Arc<Snapshot>, lab: &Lab) {
        self.services.update(lab);
        self.snap = Arc::clone(snap);
    }

    fn health_generation(&self) -> u64 {
        self.services.health_generation()
    }

    fn target_health(&self) -> Vec<TargetHealth> {
        self.services.target_health()
    }

    fn summary(&self) -> Vec<String> {
        let mut lines = self.services.counters().summary();
        if self.misdirected > 0 {
            lines.push(format!(
                "{} packets between the router and the services had no port (a bug: please report)",
                self.misdirected
            ));
        }
        lines
    }
}
