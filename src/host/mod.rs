//! The host layer: everything that touches the kernel on behalf of a lab.
//!
//! This is the only module of the crate allowed to use `unsafe` (ioctls, `pre_exec`); every
//! `unsafe` block carries a `// SAFETY:` comment. It uses `nix` and std only — no tokio: the
//! runtime wraps these blocking, synchronous calls as it sees fit.
//!
//! Pieces, bottom up:
//! - [`names`]: lab and instance names, and what is derived from them (namespace names
//!   `vl-<lab>-<instance>`, TAP names `vl<hash>`, the lab's directories).
//! - [`tap`]: TAP devices opened with a virtio-net header and TSO/USO offloads.
//! - [`netns`]: named network namespaces compatible with `ip netns` (`/run/netns/<name>`).
//! - [`link`]: move a TAP into a namespace and make it the instance's `eth0` (iproute2).
//! - [`instance`]: an instance's namespaces (UTS, IPC, cgroup, PID with its own init, mount
//!   with a copy-on-write root), commands run inside it, the Amazon Linux personality,
//!   user-data.
//! - [`seal`]: what a process in an instance cannot do (capabilities, seccomp), and the fork
//!   into an instance's PID namespace.
//! - [`keys`]: the lab key pair of a template's `KeyName` (`/var/lib/vpclab/<lab>/<key>.pem`).
//! - [`state`]: the lab state file `/run/vpclab/<lab>/state.json`, written before anything is
//!   created.
//! - [`cleanup`]: `down`, from the state file or from the name prefix alone.
//! - [`process`]: process-wide attributes for the runtime (child subreaper).
//!
//! Contract shared by all pieces: nothing here adds routes or addresses to the root network
//! namespace, writes to the host's `/etc`, or changes the namespaces of the calling thread;
//! namespace work happens on short-lived dedicated threads or in forked children.

pub mod cleanup;
pub mod instance;
pub mod keys;
pub mod link;
mod mounts;
pub mod names;
pub mod netns;
pub mod process;
pub mod seal;
pub mod signals;
pub mod state;
pub mod tap;

/// Where labs keep their run-time state (state file, namespace files): `/run/vpclab/<lab>/`.
pub const RUN_DIR: &str = "/run/vpclab";
/// Where labs keep instance files (overlay layers, keys): `/var/lib/vpclab/<lab>/`.
pub const DATA_DIR: &str = "/var/lib/vpclab";

/// True when the effective user is root (what namespaces, TAPs and mounts need).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when `tool` is a file in `$PATH` or the usual system directories: the instances run
/// the host's programs, so a tool missing here is missing in every instance.
pub fn on_path(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
        .any(|d| std::path::Path::new(d).join(tool).is_file());
    found
}
