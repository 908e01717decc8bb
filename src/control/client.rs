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

/// The longest answer line [`open_stream`] reads.
pub const MAX_ANSWER_LINE: usize = 1 << 20;

/// Sends `req` (a request answered by a stream, as `Request::Capture`) to lab `lab`'s
/// daemon and reads its first answer line (at most [`MAX_ANSWER_LINE`] bytes, within 30 s);
/// the connection is left positioned after that line, for the stream.
pub fn open_stream(lab: &str, req: &Request) -> Result<(UnixStream, Response), String> {
    use std::io::Read;
    let conn = connect(lab)?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    text.push('\n');
    (&conn)
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    // Byte by byte, so that nothing after the line is read into a buffer and lost.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match (&conn).read(&mut byte) {
            Ok(0) => return Err("the daemon closed the connection without an answer".into()),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the daemon's answer: {e}")),
        }
        if line.len() > MAX_ANSWER_LINE {
            return Err(format!(
                "the daemon's answer is longer than {MAX_ANSWER_LINE} bytes"
            ));
        }
    }
    let response =
        serde_json::from_slice(&line).map_err(|e| format!("bad answer from the daemon: {e}"))?;
    Ok((conn, response))
}

/// Connects to lab `lab`'s control socket; the error says what to do.
fn connect(lab: &str) -> Result<UnixStream, String> {
    let sock = control_socket(lab);
    UnixStream::connect(&sock).map_err(|e| {
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
    })
}

/// Sends one request to lab `lab`'s daemon and reads the answer.
pub fn request(lab: &str, req: &Request) -> Result<Response, String> {
    let conn = connect(lab)?;
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
