//! The services as the event loop sees them: [`crate::services::Services`] keyed by
//! router ports.
//!
//! Contract: [`LabServices`] implements [`ServiceSide`]: the event loop hands it packets by
//! [`ServicePort`] (one vocabulary with the data plane's `PortKind::Service`) and maps its
//! answers back to router ports through the router's snapshot, so the services hold no
//! snapshot of their own. A new lab comes with each new snapshot, and the services follow it
//! (new gateway endpoints, changed instances). This is not the fast path: packets for
//! services are copied.

use std::time::Duration;

use super::eventloop::ServiceSide;
use crate::dataplane::time::Instant;
use crate::model::Lab;
use crate::services::health::TargetHealth;
use crate::services::{ServicePort, Services};

/// The lab's services behind the router's service ports.
pub struct LabServices {
    services: Services,
}

impl LabServices {
    /// The lab's services.
    pub fn new(services: Services) -> Self {
        LabServices { services }
    }
}

impl ServiceSide for LabServices {
    fn receive(&mut self, now: Instant, port: &ServicePort, packet: &[u8]) {
        self.services.receive(now, port, packet);
    }

    fn poll(&mut self, now: Instant, out: &mut dyn FnMut(&ServicePort, &[u8])) {
        self.services.poll(now, |sp, packet| out(sp, packet));
    }

    fn poll_delay(&self, now: Instant) -> Option<Duration> {
        let at = self.services.next_wake(now)?;
        Some(Duration::from_millis(
            at.total_millis().saturating_sub(now.total_millis()),
        ))
    }

    fn install(&mut self, lab: &Lab) {
        self.services.update(lab);
    }

    fn health_generation(&self) -> u64 {
        self.services.health_generation()
    }

    fn target_health(&self) -> Vec<TargetHealth> {
        self.services.target_health()
    }

    fn summary(&self) -> Vec<String> {
        self.services.counters().summary()
    }
}
