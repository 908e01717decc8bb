//! What the CLI and the router daemon exchange: requests, responses, the AWS-shaped views of
//! a lab that `describe` prints, and the client side of the control socket.
//!
//! Contract: `protocol` and `describe` are plain data (serde) computed from a
//! [`Lab`](crate::model::Lab) and touch nothing on the host, so the CLI can describe a
//! template offline and the daemon a running lab with the same code; `client` is the one
//! place the CLI talks to a daemon (a Unix socket), so the CLI never imports the daemon.

pub mod capture;
pub mod client;
pub mod describe;
pub mod diagram;
pub mod expect;
pub mod explain;
pub mod flowlogs;
pub mod protocol;
pub mod shapes;
