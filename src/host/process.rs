//! Process-wide attributes for the process that runs a lab (the runtime calls these once).
//!
//! Contract:
//! - [`become_subreaper`] makes the calling process a child subreaper
//!   (`prctl(PR_SET_CHILD_SUBREAPER, 1)`): a process that daemonizes inside an instance —
//!   sshd, the personality's httpd, a user-data `cmd &` — is reparented to this process
//!   instead of to pid 1 when its parent exits, so the lab's processes stay its descendants
//!   (visible with `ps --ppid`, and signalled by their parent's death only if they ask).
//!   It applies to the whole process (every thread), is not inherited by children, and is
//!   idempotent. It needs no privilege.
//! - Being a subreaper makes reaping the caller's job: an adopted process that exits stays a
//!   zombie until this process waits for it. Do not reap with `waitpid(-1, …)`: it also takes
//!   the exit status of children that a `std::process::Child` is about to wait for (its
//!   `wait` then fails with `ECHILD`) — including the short-lived ones `host::instance` runs
//!   and waits for itself. [`zombie_children`] lists the zombies whose parent is this
//!   process, so a reaper can `waitpid` only pids it does not own otherwise.
//! - `host::cleanup::down` needs none of this: it finds processes by namespace.

use std::fs;

use nix::errno::Errno;
use thiserror::Error;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// `prctl` failed.
    #[error("{what}: {source}")]
    Prctl {
        /// The call.
        what: &'static str,
        /// The errno.
        source: Errno,
    },
}

/// Makes this process a child subreaper (see the module docs).
pub fn become_subreaper() -> Result<(), ProcessError> {
    // nix wraps prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) safely: the call passes integers
    // only and changes no memory, so there is no `unsafe` here. It is process-wide: every
    // thread of the process, including threads other modules started, shares the attribute.
    nix::sys::prctl::set_child_subreaper(true).map_err(|source| ProcessError::Prctl {
        what: "prctl(PR_SET_CHILD_SUBREAPER, 1)",
        source,
    })
}

/// Whether this process is a child subreaper.
pub fn is_subreaper() -> Result<bool, ProcessError> {
    nix::sys::prctl::get_child_subreaper().map_err(|source| ProcessError::Prctl {
        what: "prctl(PR_GET_CHILD_SUBREAPER)",
        source,
    })
}

/// Pids of this process's children that are zombies (exited, not yet waited for), sorted.
pub fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    // Fields after the command name: state, ppid, …
                    let rest = &s[s.rfind(')')? + 2..];
                    let mut f = rest.split(' ');
                    let state = f.next()?;
                    let ppid: u32 = f.next()?.parse().ok()?;
                    Some(state == "Z" && ppid == me)
                })
                .unwrap_or(false)
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;

    /// The parent pid of `pid` (field 4 of `/proc/<pid>/stat`).
    fn ppid(pid: u32) -> Option<u32> {
        let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        s[s.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
    }

    #[test]
    fn an_orphaned_grandchild_is_adopted_and_can_be_reaped() {
        // Changes this test process only; the unit tests of the crate start no daemons.
        become_subreaper().unwrap();
        become_subreaper().expect("idempotent");
        assert!(is_subreaper().unwrap());
        // sh starts a background `sleep`, prints its pid and exits: the sleep is orphaned.
        let out = Command::new("/bin/sh")
            .args(["-c", "sleep 0.3 </dev/null >/dev/null 2>&1 & echo $!"])
            .output()
            .unwrap();
        let orphan: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(ppid(orphan), Some(std::process::id()), "not adopted");
        // It exits on its own and waits as a zombie of ours until reaped.
        let start = Instant::now();
        while !zombie_children().contains(&orphan) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no zombie {orphan}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = waitpid(Pid::from_raw(orphan as i32), Some(WaitPidFlag::WNOHANG)).unwrap();
        assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
        assert!(!zombie_children().contains(&orphan));
    }
}
