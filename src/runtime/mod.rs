//! The daemon side of a running lab: the event loop that connects ports, router and
//! services, and (with `host/`) bringing a lab up and down.
//!
//! Contract: `runtime` is where I/O meets the sans-IO layers. It owns file descriptors and
//! threads; the packet decisions stay in [`crate::dataplane`], the AWS services in
//! `services`, and everything privileged in `host`.

pub mod capture;
pub mod eventloop;
pub mod lab;
pub mod services;
