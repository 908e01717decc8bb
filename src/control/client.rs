//! The client side of a lab's control socket: where it is, and one request answered.
//!
//! Contract: [`request`] connects to `/run/vpclab/<lab>/control.sock`, writes one JSON line
//! (a [`Request`]) and reads one JSON line back (a [`Response`]) within 30 s. A lab that is not
//! running, or a socket only root may open, is an error that says what to do. The daemon's
//! side (`runtime::lab`) reads at most `MAX_REQUEST` bytes per line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::host::names;

use super::protocol::{Request, Response};

/// The control socket of lab `lab`.
pub fn control_socket(lab: &str) -> PathBuf {
    names::run_dir(lab).join("control.sock")
}

/// Sends one request to lab `lab`'s daemon and reads the answer.
pub fn request(lab: &str, req: &Request) -> Result<Response, String> {
    let sock = control_socket(lab);
    let conn = UnixStream::connect(&sock).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(
                "lab '{lab}' is running, but its control socket {} is root's: run the command with sudo",
                sock.display()
            )
        } else {
            format!(
                "lab '{lab}' is not running (no answer on {}: {e}); bring it up with `sudo vpclab up --name {lab}`",
                sock.display()
            )
        }
    })?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    text.push('\n');
    (&conn)
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&conn)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("bad answer from the daemon: {e}"))
}
