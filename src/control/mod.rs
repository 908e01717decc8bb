//! What the CLI and (later) the router daemon exchange: requests, responses, and the
//! AWS-shaped views of a lab that `describe` prints.
//!
//! Contract: everything here is plain data (serde) computed from a [`Lab`](crate::model::Lab);
//! nothing here touches the host, so the CLI can describe a template offline and the daemon
//! a running lab with the same code.

pub mod describe;
pub mod protocol;
