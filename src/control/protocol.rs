//! The control socket's protocol: one JSON request per line, one JSON response per line.
//!
//! Contract: the daemon of a running lab listens on `/run/vpclab/<lab>/control.sock` (root
//! only); the CLI connects, writes a [`Request`] as one line of JSON, reads one
//! [`Response`] line, and closes. Everything is plain serde data, so both sides (and a
//! test) speak it without sharing anything else.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::describe::What;
use crate::model::change::{Change, ChangeError};

/// What the CLI asks of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Is the lab up, and how are its ports and counters?
    Status,
    /// `describe <what> [names]` of the running lab.
    Describe {
        /// What to describe.
        what: What,
        /// Names to keep (ids, logical ids, Name tags); empty for all.
        filter: Vec<String>,
    },
    /// A live change.
    Change(Change),
    /// How to rebuild the running lab's model: its template and the changes since.
    Recipe,
    /// The router's recent flow records, as VPC Flow Logs print them.
    FlowLogs {
        /// Only rejected packets.
        #[serde(default)]
        rejected: bool,
    },
    /// The flow-log records counted since the lab started (one per flow, interface and
    /// direction per tick of the router), in AWS's terms.
    FlowSamples {
        /// With the reason of each REJECT.
        #[serde(default)]
        why: bool,
    },
    /// `describe-target-health`: the load balancers' target health, as the health checks
    /// see it (one target group by ARN, name, logical id or Name tag; all when `None`).
    TargetHealth {
        /// The target group.
        #[serde(default)]
        target_group: Option<String>,
    },
    /// Capture the packets the router sees on the ports `target` names (`vpclab capture`).
    /// Answered with [`Response::CaptureStarted`] once the capture is in place, then the
    /// connection carries the capture's records (`control::capture`) until the client
    /// closes it.
    Capture {
        /// An instance, `eni-…`, `vpce-…`, `nlb` or a load balancer's name, `igw`,
        /// `internet`.
        target: String,
    },
    /// Stop the router and tear the lab down.
    Down,
}

/// A running lab's model, as something the CLI can rebuild: load `template` with
/// `region`, the lab's name and `parameters`, then apply `changes` in order. The model is
/// deterministic, so the rebuilt lab has the daemon's ids and addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipe {
    /// The template's text, as it was read at `up`.
    pub template: String,
    /// Where it was read from (`(embedded default lab)` for the default).
    pub file: String,
    /// The region.
    pub region: String,
    /// Template parameters, as Key=Value pairs.
    pub parameters: Vec<(String, String)>,
    /// The live changes applied since, oldest first.
    pub changes: Vec<Change>,
}

/// One port's counters as `status` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    /// What is behind the port (`eni-… (CloudNetaPublicEC2)`, `internet`, …).
    pub name: String,
    /// Frames received from it.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent to it.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames from it that were dropped.
    pub dropped: u64,
    /// Frames the kernel dropped on its TAP (`tx_dropped` + `rx_dropped`): what the instance
    /// sent while the router could not keep up. Zero for ports without a TAP.
    #[serde(default)]
    pub kernel_dropped: u64,
}

/// The daemon's view of a running lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The lab's name.
    pub lab: String,
    /// The region it emulates.
    pub region: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since the router started.
    pub uptime_secs: u64,
    /// Frames forwarded, delivered to services, answered by the router.
    pub forwarded: u64,
    /// Frames delivered to emulated services.
    pub delivered: u64,
    /// Frames answered by the router (ARP, ping).
    pub answered: u64,
    /// Drops by reason (`SgIngressDenied`, …), only reasons that occurred.
    pub drops: Vec<(String, u64)>,
    /// Per port.
    pub ports: Vec<PortStatus>,
    /// Tracked flows.
    pub tracked_flows: usize,
    /// Instances whose user data failed, with the log path.
    pub user_data_failures: Vec<(String, String)>,
    /// What the AWS services did, a line per service that saw traffic.
    #[serde(default)]
    pub services: Vec<String>,
    /// Router worker threads (each with its own queue of every TAP).
    #[serde(default)]
    pub workers: usize,
    /// Frames each worker has read from its queues.
    #[serde(default)]
    pub worker_frames: Vec<u64>,
    /// Packet captures running in the router (`vpclab capture`).
    #[serde(default)]
    pub captures: usize,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    /// The lab's status.
    Status(Status),
    /// JSON as the AWS CLI prints it (describe, or a change's result).
    Json {
        /// The document.
        value: Value,
    },
    /// A change was refused (AWS's error code and message).
    ChangeFailed(ChangeError),
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
    /// The running lab's recipe.
    Recipe(Recipe),
    /// Lines of text (flow log records).
    Lines {
        /// The lines, oldest first.
        lines: Vec<String>,
    },
    /// Flow-log records, oldest first.
    FlowSamples {
        /// The records.
        samples: Vec<crate::control::flowlogs::FlowSample>,
        /// The daemon's clock, unix seconds: windows that ended before it are closed.
        now: u64,
        /// Packets not counted for want of room in the router's table (`SKIPDATA`).
        skipped: u64,
    },
    /// Down was accepted; the daemon is tearing the lab down.
    Stopping,
    /// A capture is in place on these ports (in this order: a record names its port by
    /// index); the capture's records follow on the connection.
    CaptureStarted {
        /// The ports.
        ports: Vec<crate::control::capture::CapturePort>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip_as_one_line() {
        let reqs = [
            Request::Status,
            Request::Describe {
                what: What::RouteTables,
                filter: vec!["CloudNetaPrivateRT".into()],
            },
            Request::Recipe,
            Request::FlowLogs { rejected: true },
            Request::FlowSamples { why: true },
            Request::Capture {
                target: "CloudNetaPrivateEC2".into(),
            },
            Request::Down,
        ];
        for r in reqs {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r);
        }
        let resp = Response::Error {
            message: "x".into(),
        };
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), resp);
    }
}
