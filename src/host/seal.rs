//! The seal of an instance: what a process running inside one cannot do, even as root.
//!
//! Contract:
//! - [`Seal::get`] builds, once per process, everything a forked child needs to seal itself
//!   (the seccomp programs, the capabilities to drop), so that [`Seal::apply`], which runs in a
//!   forked child before `exec`, makes only async-signal-safe system calls and allocates
//!   nothing.
//! - [`Seal::apply`] leaves the process with the capabilities of [`KEEP_CAPS`] (Docker's
//!   default set without `MKNOD`, plus `NET_ADMIN` for `ip`, `tcpdump`, `sysctl net.*`) in its
//!   bounding, permitted and effective sets, none inheritable or ambient, and with two seccomp
//!   filters: the system calls of [`DENIED`] (and `clone` with a namespace flag) fail with
//!   `EPERM`, `clone3` with `ENOSYS` (its flags are in memory a filter cannot read; libc then
//!   falls back to `clone`). The filters are loaded while the process still has
//!   `CAP_SYS_ADMIN`, so `no_new_privs` is not set: `su`, `sudo` and setuid programs inside
//!   an instance work as on EC2, within the bounding set.
//! - [`enter_pid_ns_and_fork`] is the step after `setns(CLONE_NEWPID)`: `setns` moves only a
//!   process's future children, so the process forks; the parent stays behind as a small
//!   waiter that mirrors the child's exit, and the child goes on (to seal and `exec`).
//! - Which threat each measure closes is written in `docs/decisions/0012-sealed-instances.md`.

use std::io;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setsid, ForkResult};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use thiserror::Error;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum SealError {
    /// The seccomp program could not be built.
    #[error("cannot build the instances' seccomp filter: {0}")]
    Filter(String),
}

/// Capability numbers (`linux/capability.h`).
mod cap {
    pub const CHOWN: u32 = 0;
    pub const DAC_OVERRIDE: u32 = 1;
    pub const FOWNER: u32 = 3;
    pub const FSETID: u32 = 4;
    pub const KILL: u32 = 5;
    pub const SETGID: u32 = 6;
    pub const SETUID: u32 = 7;
    pub const SETPCAP: u32 = 8;
    pub const NET_BIND_SERVICE: u32 = 10;
    pub const NET_ADMIN: u32 = 12;
    pub const NET_RAW: u32 = 13;
    pub const SYS_CHROOT: u32 = 18;
    pub const AUDIT_WRITE: u32 = 29;
    pub const SETFCAP: u32 = 31;
}

/// The capabilities a process in an instance keeps: Docker's default set without `MKNOD`,
/// plus `NET_ADMIN`. Everything else (`SYS_ADMIN`, `SYS_PTRACE`, `SYS_MODULE`, `SYS_RAWIO`,
/// `MKNOD`, `SYS_BOOT`, `SYS_TIME`, `DAC_READ_SEARCH`, `AUDIT_CONTROL`, `BPF`, …) is dropped.
pub const KEEP_CAPS: [u32; 14] = [
    cap::CHOWN,
    cap::DAC_OVERRIDE,
    cap::FOWNER,
    cap::FSETID,
    cap::KILL,
    cap::SETGID,
    cap::SETUID,
    cap::SETPCAP,
    cap::NET_BIND_SERVICE,
    cap::NET_ADMIN,
    cap::NET_RAW,
    cap::SYS_CHROOT,
    cap::AUDIT_WRITE,
    cap::SETFCAP,
];

/// System calls that fail with `EPERM` inside an instance (modelled on Docker's default
/// profile: those it allows only with a capability an instance lacks, and those it never
/// allows). `(name, number)`; the name is for tests and the decision record.
pub const DENIED: &[(&str, libc::c_long)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("setns", libc::SYS_setns),
    ("unshare", libc::SYS_unshare),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("bpf", libc::SYS_bpf),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("syslog", libc::SYS_syslog),
    ("quotactl", libc::SYS_quotactl),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("fanotify_init", libc::SYS_fanotify_init),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
];

/// The namespace flags `clone` may not be given inside an instance.
const CLONE_NS_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// What a forked child needs to seal itself (see the module docs).
pub struct Seal {
    /// `EPERM` for [`DENIED`] and namespace-creating `clone`.
    deny: BpfProgram,
    /// `ENOSYS` for `clone3`.
    no_clone3: BpfProgram,
    /// Capabilities to drop from the bounding set (`0..=cap_last_cap` minus [`KEEP_CAPS`]).
    drop: Vec<u32>,
    /// The capability mask [`KEEP_CAPS`] as the two 32-bit words of `capset`.
    keep: [u32; 2],
}

impl Seal {
    /// The process's seal, built on first use.
    pub fn get() -> Result<&'static Seal, SealError> {
        static SEAL: OnceLock<Result<Seal, String>> = OnceLock::new();
        SEAL.get_or_init(|| Seal::build().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| SealError::Filter(e.clone()))
    }

    fn build() -> Result<Seal, SealError> {
        let err = |e: seccompiler::BackendError| SealError::Filter(e.to_string());
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
        let mut rules: std::collections::BTreeMap<i64, Vec<SeccompRule>> =
            DENIED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
        let clone_rules = CLONE_NS_FLAGS
            .iter()
            .map(|&f| {
                let f = f as u64;
                SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(f), f)
                    .and_then(|c| SeccompRule::new(vec![c]))
                    .map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(libc::SYS_clone, clone_rules);
        let program = |rules, errno: Errno| -> Result<BpfProgram, SealError> {
            let filter = SeccompFilter::new(
                rules,
                SeccompAction::Allow,
                SeccompAction::Errno(errno as u32),
                arch,
            )
            .map_err(err)?;
            BpfProgram::try_from(filter).map_err(err)
        };
        let deny = program(rules, Errno::EPERM)?;
        let no_clone3 = program(
            [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
            Errno::ENOSYS,
        )?;
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(63);
        let drop = (0..=last).filter(|c| !KEEP_CAPS.contains(c)).collect();
        let mut keep = [0u32; 2];
        for c in KEEP_CAPS {
            keep[(c / 32) as usize] |= 1 << (c % 32);
        }
        Ok(Seal {
            deny,
            no_clone3,
            drop,
            keep,
        })
    }

    /// Seals the calling process (run in a forked child before `exec`; see the module docs).
    /// Only raw system calls on memory prepared by [`Seal::get`].
    pub fn apply(&self) -> io::Result<()> {
        for &c in &self.drop {
            // SAFETY: prctl with integer arguments only.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
            // EINVAL: a capability this kernel does not know.
            if rc != 0 && Errno::last() != Errno::EINVAL {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if rc != 0 && Errno::last() != Errno::EINVAL {
            return Err(io::Error::last_os_error());
        }
        for prog in [&self.no_clone3, &self.deny] {
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: the kernel copies the program from `fprog`, which points into `prog`
            // (alive for the process's lifetime); no flags. Without no_new_privs this needs
            // CAP_SYS_ADMIN, which the process still has here.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0 as libc::c_ulong,
                    &fprog as *const libc::sock_fprog,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        capset(self.keep)
    }
}

/// `capset(2)` with version 3 of its header: effective = permitted = `keep`, inheritable
/// empty.
fn capset(keep: [u32; 2]) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: keep[0],
            permitted: keep[0],
            inheritable: 0,
        },
        Data {
            effective: keep[1],
            permitted: keep[1],
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads a version-3 header and two data structs, both alive on the stack.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// After `setns(CLONE_NEWPID)` in a forked child: forks again so that the process that goes
/// on (to seal and `exec`) is in the PID namespace. Returns in that child only; the parent
/// becomes a waiter that ignores the terminal's SIGINT and SIGQUIT (the command inside gets
/// them), closes every descriptor (so the command's pipes and the spawner's exec-error pipe
/// are held by the command alone), waits, and exits as the child did. The child dies with its
/// waiter (`PR_SET_PDEATHSIG`), so killing what the spawner sees kills the command.
/// `new_session`: the waiter calls `setsid` first, so the waiter's pid is the process group
/// of both (what a caller's `killpg` needs).
///
/// Only async-signal-safe system calls: this runs between `fork` and `exec`.
pub fn enter_pid_ns_and_fork(new_session: bool) -> io::Result<()> {
    if new_session {
        setsid()?;
    }
    // SAFETY: called in a single-threaded forked child; both sides make only
    // async-signal-safe system calls until exec or _exit.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
            Ok(())
        }
        ForkResult::Parent { child } => {
            // SAFETY: setting dispositions to SIG_IGN/SIG_DFL installs no handler code.
            unsafe {
                let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
                let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
                let _ = signal(Signal::SIGTSTP, SigHandler::SigIgn);
            }
            close_from(0);
            let code = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, c)) => break c,
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        // SAFETY: restoring the default disposition, then dying of the same
                        // signal, so the spawner sees what the command died of.
                        unsafe {
                            let _ = signal(sig, SigHandler::SigDfl);
                        }
                        let _ = nix::sys::signal::raise(sig);
                        break 128 + sig as i32;
                    }
                    Ok(_) | Err(Errno::EINTR) => continue,
                    Err(_) => break 127,
                }
            };
            // SAFETY: _exit ends the waiter without running the parent's atexit handlers or
            // destructors (it is a copy of the spawner).
            unsafe { libc::_exit(code) }
        }
    }
}

/// Closes every descriptor from `first` up (`close_range`, Linux 5.9; one by one up to 4096
/// before that).
pub fn close_from(first: u32) {
    // SAFETY: close_range with integer arguments only.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if rc != 0 {
        for fd in first..4096 {
            // SAFETY: closing a descriptor number; unknown ones fail with EBADF.
            unsafe { libc::close(fd as libc::c_int) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_builds_and_keeps_the_named_capabilities() {
        let s = Seal::get().unwrap();
        assert!(!s.deny.is_empty() && !s.no_clone3.is_empty());
        // SYS_ADMIN (21), SYS_PTRACE (19), MKNOD (27) dropped; NET_ADMIN, NET_RAW kept.
        for c in [21, 19, 27, 16, 17, 2, 25] {
            assert!(s.drop.contains(&c), "{c} not dropped");
        }
        for c in [cap::NET_ADMIN, cap::NET_RAW, cap::SETUID, cap::SYS_CHROOT] {
            assert!(!s.drop.contains(&c) && s.keep[0] & (1 << c) != 0);
        }
    }
}
