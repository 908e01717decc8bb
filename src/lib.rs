//! vpclab: a userspace, packet-level AWS VPC emulator on Linux.
//!
//! Layers, bottom up (see `docs/ARCHITECTURE.md`):
//! - [`model`]: the VPC model (typed ids, CIDRs, resources, the region service catalog).
//! - [`template`]: CloudFormation YAML/JSON → model.
//! - [`dataplane`]: the pure, sans-IO packet engine (checksums, GSO, LPM, conntrack).
//! - [`services`]: the AWS side on smoltcp, sans-IO: Amazon DNS, instance metadata, the
//!   public service addresses (ICMP echo).
//! - [`control`]: AWS-shaped views of a lab, shared by the CLI and the daemon.
//! - [`cli`]: the command line, one module per verb.
#![deny(unsafe_code)]

pub mod cli;
pub mod control;
pub mod dataplane;
pub mod model;
pub mod services;
pub mod template;
