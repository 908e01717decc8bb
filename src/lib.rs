//! vpclab: a userspace, packet-level AWS VPC emulator on Linux.
//!
//! Layers, bottom up (see `docs/ARCHITECTURE.md`):
//! - [`model`]: the VPC model (typed ids, CIDRs, resources, the region service catalog).
//! - [`template`]: CloudFormation YAML/JSON → model.
//! - [`dataplane`]: the pure, sans-IO packet engine (checksums, GSO, LPM, conntrack).
#![deny(unsafe_code)]

pub mod dataplane;
