//! vpclab: a userspace, packet-level AWS VPC emulator on Linux.
//!
//! Layers, bottom up (see `docs/ARCHITECTURE.md`):
//! - [`model`]: the VPC model (typed ids, CIDRs, resources, the region service catalog).
//! - [`template`]: CloudFormation YAML/JSON → model.
//! - [`dataplane`]: the pure, sans-IO packet engine (checksums, GSO, LPM, conntrack).
//! - [`services`]: the AWS side on smoltcp, sans-IO: Amazon DNS, instance metadata, the
//!   public service addresses (ICMP echo, S3, DynamoDB, interface endpoint services).
//! - [`control`]: AWS-shaped views of a lab, shared by the CLI and the daemon.
//! - [`host`]: namespaces, TAPs, instances and cleanup on the Linux host (the only `unsafe`).
//! - [`cli`]: the command line, one module per verb.
#![deny(unsafe_code)]

pub mod cli;
pub mod control;
pub mod dataplane;
#[allow(unsafe_code)]
pub mod host;
pub mod model;
pub mod runtime;
pub mod services;
pub mod template;
