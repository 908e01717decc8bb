//! The packet engine: pure, sans-IO building blocks of the virtual router.
//!
//! Nothing in this module opens a file descriptor, reads a clock, spawns a
//! thread or uses `unsafe`. Time is passed in as a [`time::Instant`]; frames
//! are byte slices owned by the caller. That is what lets every piece be unit
//! tested, property tested, fuzzed and benchmarked without root.
//!
//! Parsing untrusted input never panics: a malformed frame yields an error (or
//! `None`), and every module that can fail has one error type.
//!
//! Layers, bottom up:
//! - [`time`]: the caller's clock as a value.
//! - [`wire`]: typed views over packet bytes (Ethernet, ARP, IPv4, TCP, UDP,
//!   ICMP); the one place that knows where a field is.
//! - [`vnet`]: the `virtio_net_hdr` in front of every frame read from a TAP.
//! - [`checksum`]: Internet checksum, full and incremental (RFC 1071, RFC 1624),
//!   including the partial (pseudo-header) checksum of `NEEDS_CSUM` frames.
//! - [`gso`]: software segmentation of GSO super-frames.
//! - [`lpm`]: longest-prefix-match table for route lookups.
//! - [`conntrack`]: bounded, lazily expiring connection tracking.
//! - [`packet`]: what the rules look at in a frame.
//! - [`secgroup`], [`nacl`], [`route`]: security groups, network ACLs and
//!   route tables compiled for matching.
//! - `index`: the typed indices ([`topology::PortId`], [`topology::VpcIx`], …)
//!   a snapshot's tables are read by.
//! - [`topology`]: the lab compiled into a [`topology::Snapshot`]: ports,
//!   ENIs, subnets, VPCs, by index.
//! - [`verdict`]: what happened to a frame and why; counters, flow records.
//! - [`router`]: the virtual router, [`router::Router::process`].
//! - [`testkit`]: frame builders and a collecting sink for tests, benches and
//!   fuzzing.

pub mod checksum;
pub mod conntrack;
pub mod flowlog;
pub mod gso;
pub mod lpm;
pub mod nacl;
pub mod nlb;
pub mod packet;
pub mod route;
pub mod router;
pub mod secgroup;
pub mod testkit;
pub mod topology;
pub mod verdict;
pub mod wire;

mod hash;
mod index;
pub mod time;
pub mod vnet;
