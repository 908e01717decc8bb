//! An instance's init: the process that is pid 1 of its PID namespace.
//!
//! Contract: [`start`] runs on the thread that made the instance's mount namespace and built
//! its root at `root` (not yet entered). It forks a helper that `unshare`s a new PID namespace
//! and forks the init, then exits (so the init is nobody's child on this side and the host's
//! init reaps it). The init waits for the thread to open its PID namespace, then, inside the
//! instance's mount namespace:
//! - `pivot_root`s into `root` and detaches the host's tree (nothing of the host's mounts is
//!   left in the namespace, so nothing of them can be remounted or reached by path);
//! - mounts the instance's own `/proc` (only its processes; a process in an instance cannot
//!   name a host pid), with `/proc/sys` read-only except `/proc/sys/net` (its network
//!   namespace's sysctls), `sysrq-trigger`, `irq`, `bus`, `fs` read-only and `kcore`, `keys`,
//!   `timer_list`, `sched_debug`, `acpi`, `scsi` masked, as Docker does;
//! - reports success or the failed step and errno on a pipe, then reaps every child until it
//!   is killed (the kernel kills the namespace's processes with it).
//!
//! The forked processes make only async-signal-safe system calls on memory prepared before the
//! fork (this runs in a multi-threaded process). [`start`] returns the PID namespace's file;
//! on any failure the init is killed and nothing of it is left.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, fork, pipe2, pivot_root, read, setsid, write, ForkResult, Pid};

use super::InstanceError;

/// The steps of the init, as reported on failure (index = step number − 1).
const STEPS: [&str; 8] = [
    "unshare(CLONE_NEWPID) or fork of the init",
    "enter the instance root (chdir, pivot_root)",
    "detach the host's tree (umount2 of the old root)",
    "mount /proc",
    "make /proc/sys read-only except /proc/sys/net",
    "make /proc's host-wide files read-only",
    "mask /proc's kernel files",
    "read the go-ahead",
];

/// `/proc` entries made read-only (bind onto themselves, remounted read-only).
const PROC_READ_ONLY: [&CStr; 4] = [
    c"/proc/sysrq-trigger",
    c"/proc/irq",
    c"/proc/bus",
    c"/proc/fs",
];
/// `/proc` files covered by `/dev/null`.
const PROC_MASK_FILES: [&CStr; 4] = [
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/timer_list",
    c"/proc/sched_debug",
];
/// `/proc` directories covered by an empty read-only tmpfs.
const PROC_MASK_DIRS: [&CStr; 2] = [c"/proc/acpi", c"/proc/scsi"];

/// Starts the init of the instance whose root is built at `root` (see the module docs).
pub fn start(root: &Path) -> Result<File, InstanceError> {
    let sys = |what: &str| {
        let what = what.to_string();
        move |source: Errno| InstanceError::Sys { what, source }
    };
    let root_c = CString::new(root.as_os_str().as_bytes()).map_err(|_| InstanceError::Sys {
        what: format!("instance root {} has a NUL byte", root.display()),
        source: Errno::EINVAL,
    })?;
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2"))?;
    let (st_r, st_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2"))?;
    // SAFETY: the child makes only async-signal-safe system calls (unshare, fork, write,
    // mount, pivot_root, waitpid, sigwait, _exit) on memory prepared before the fork.
    let helper = match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => helper(&go_r, &st_w, &root_c),
        ForkResult::Parent { child } => child,
    };
    drop(go_r);
    drop(st_w);
    let mut pid_bytes = [0u8; 4];
    let got = read_full(&st_r, &mut pid_bytes);
    let _ = waitpid(helper, None);
    let pid = i32::from_le_bytes(pid_bytes);
    if got != 4 || pid <= 0 {
        return Err(InstanceError::Sys {
            what: STEPS[0].into(),
            source: if got == 4 {
                Errno::from_raw(-pid)
            } else {
                Errno::EIO
            },
        });
    }
    let init = Pid::from_raw(pid);
    let fail = |e: InstanceError| {
        let _ = kill(init, Signal::SIGKILL);
        e
    };
    let ns = File::open(format!("/proc/{pid}/ns/pid"))
        .map_err(|source| InstanceError::Io {
            what: "open",
            path: format!("/proc/{pid}/ns/pid").into(),
            source,
        })
        .map_err(fail)?;
    write(&go_w, b"g")
        .map_err(sys("write to the init"))
        .map_err(fail)?;
    let mut status = [0u8; 5];
    let got = read_full(&st_r, &mut status);
    if got != 5 || status[0] != 0 {
        let step = (status[0] as usize).clamp(1, STEPS.len());
        let errno = i32::from_le_bytes([status[1], status[2], status[3], status[4]]);
        return Err(fail(InstanceError::Sys {
            what: format!("instance init: {}", STEPS[step - 1]),
            source: if got == 5 {
                Errno::from_raw(errno)
            } else {
                Errno::EIO
            },
        }));
    }
    Ok(ns)
}

/// Reads until `buf` is full or end of file; returns how much was read.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match read(fd.as_fd(), &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    n
}

/// The helper: a new PID namespace, the init forked into it, its pid reported; then exits.
fn helper(go_r: &OwnedFd, st_w: &OwnedFd, root: &CStr) -> ! {
    let report = |v: i32| {
        let _ = write(st_w, &v.to_le_bytes());
    };
    if let Err(e) = unshare(CloneFlags::CLONE_NEWPID) {
        report(-(e as i32));
        exit(1);
    }
    // SAFETY: as in `start`: only async-signal-safe calls follow in both processes.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => init(go_r, st_w, root),
        Ok(ForkResult::Parent { child }) => {
            report(child.as_raw());
            exit(0)
        }
        Err(e) => {
            report(-(e as i32));
            exit(1)
        }
    }
}

/// `_exit`: no destructors, no atexit handlers (this is a copy of the spawning process).
fn exit(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(code) }
}

/// Pid 1 of the instance (see the module docs).
fn init(go_r: &OwnedFd, st_w: &OwnedFd, root: &CStr) -> ! {
    let fail = |step: u8, e: Errno| -> ! {
        let mut msg = [step, 0, 0, 0, 0];
        msg[1..].copy_from_slice(&(e as i32).to_le_bytes());
        let _ = write(st_w, &msg);
        exit(1)
    };
    let mut go = [0u8; 1];
    match read(go_r.as_fd(), &mut go) {
        Ok(1) => {}
        Ok(_) => exit(1),
        Err(e) => fail(8, e),
    }
    if let Err(e) = chdir(root).and_then(|()| pivot_root(c".", c".")) {
        fail(2, e);
    }
    // The old root is now stacked under the new one at "/": detach it.
    if let Err(e) = umount2(c".", MntFlags::MNT_DETACH).and_then(|()| chdir(c"/")) {
        fail(3, e);
    }
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(e) = mount(
        Some(c"proc"),
        c"/proc",
        Some(c"proc"),
        proc_flags,
        None::<&CStr>,
    ) {
        fail(4, e);
    }
    let bind = |p: &CStr| mount(Some(p), p, None::<&CStr>, MsFlags::MS_BIND, None::<&CStr>);
    let read_only = |p: &CStr| {
        mount(
            None::<&CStr>,
            p,
            None::<&CStr>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | proc_flags,
            None::<&CStr>,
        )
    };
    // /proc/sys/net keeps its own (writable) mount inside the read-only /proc/sys copy.
    let sys = c"/proc/sys";
    if let Err(e) = bind(c"/proc/sys/net")
        .and_then(|()| {
            mount(
                Some(sys),
                sys,
                None::<&CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&CStr>,
            )
        })
        .and_then(|()| read_only(sys))
    {
        fail(5, e);
    }
    for p in PROC_READ_ONLY {
        match bind(p).and_then(|()| read_only(p)) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => fail(6, e),
        }
    }
    for p in PROC_MASK_FILES {
        match mount(
            Some(c"/dev/null"),
            p,
            None::<&CStr>,
            MsFlags::MS_BIND,
            None::<&CStr>,
        ) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => fail(7, e),
        }
    }
    for p in PROC_MASK_DIRS {
        match mount(
            Some(c"tmpfs"),
            p,
            Some(c"tmpfs"),
            MsFlags::MS_RDONLY | proc_flags,
            Some(c"size=0"),
        ) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => fail(7, e),
        }
    }
    let _ = write(st_w, &[0u8; 5]);
    reap()
}

/// The init's life after start-up: its own session, no descriptors, default signal
/// dispositions (as pid 1 of a namespace it gets only the signals it handles, and it handles
/// none: only SIGKILL from the host ends it), and every exited child reaped.
fn reap() -> ! {
    let _ = setsid();
    // SAFETY: prctl with integer arguments only: the init's memory (a copy of the spawner's)
    // cannot be read through /proc or ptrace by an unprivileged process, nor dumped.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // `ps -e` inside names pid 1 `init` (its command line stays that of the process it was
    // forked from, which `ps -f` shows).
    // SAFETY: PR_SET_NAME copies at most 16 bytes of a static NUL-terminated string.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"init".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    for sig in Signal::iterator() {
        if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            // SAFETY: the default disposition installs no handler code.
            let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
        }
    }
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    let _ = chld.thread_set_mask();
    crate::host::seal::close_from(0);
    loop {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        let _ = chld.wait();
    }
}
