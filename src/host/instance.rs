//! An instance: its hostname, its private files, and the commands that run inside it.
//!
//! Contract:
//! - [`Instance::create`] gives an instance, and [`Instance::create_many`] several at once
//!   (the slow parts — `ssh-keygen`, namespaces, mounts — on up to N threads), everything
//!   recorded in the lab's state file *before* any of it is made (one write per batch):
//!   - its network namespace `vl-<lab>-<instance>` (empty: `host::link::attach` adds `eth0`);
//!   - a UTS namespace with its hostname (`ip-10-0-1-109`);
//!   - UTS, IPC and cgroup namespaces, and a mount namespace whose root is the instance's own:
//!     an overlayfs of the host's root filesystem (lower = `/`, upper and work =
//!     `/var/lib/vpclab/<lab>/<instance>/upper` and `work`), so every directory is writable
//!     like an EC2 instance's (`/srv/www`, `/opt/app`, `/usr/local/bin/tool`) and every write
//!     lands in the upper layer, never on the host. Host mounts of `/usr`, `/var`, `/home`,
//!     `/opt` or `/srv` on their own filesystems get an overlay each (upper under
//!     `mounts/<dir>/`). On top: `/run`, `/tmp` and `/dev/shm` private tmpfs; `/dev` a tmpfs
//!     with only `null zero full random urandom tty`, a new `devpts` instance and `ptmx`;
//!     `/sys` a read-only sysfs of the instance's network namespace; `/usr/local/sbin` the
//!     instance's personality directory (read-only); `/var/lib/vpclab` an empty read-only
//!     tmpfs (other labs' and instances' files are not visible). Nothing is propagated to
//!     the host.
//!   - a PID namespace whose pid 1 is the instance's init (`instance/init.rs`): it enters the
//!     root above with `pivot_root` (the host's tree is detached from the namespace), mounts
//!     the instance's own `/proc` (`/proc/sys` read-only but for `net`, host-wide files
//!     read-only or masked) and reaps orphans. Killing it ends every process of the instance.
//!   - The namespaces are bind-mounted on `/run/vpclab/<lab>/ns/<instance>.{uts,mnt,ipc,
//!     cgroup,pid}`, in a directory that is first made a private bind mount of itself (what
//!     `unshare --mount=<file>` does).
//!   - The calling thread never changes namespace: the namespaces are made on a dedicated
//!     thread that `setns()` into the network namespace (for the sysfs) and `unshare()`s the
//!     rest, and in the init it forks; the caller then bind-mounts their namespace files.
//! - The instance's `/etc` gets `hostname`, `hosts`, `resolv.conf` (nameserver = the VPC's DNS,
//!   search = the region's domain) and an Amazon Linux 2 `ssh/sshd_config` with its own host
//!   keys (made with `ssh-keygen` when the host has it); `/root/.bashrc` gives the Amazon Linux
//!   prompt `[root@ip-10-0-1-109 ~]#`. All are written in the upper layers: the host's files
//!   never change, whatever runs inside.
//! - The Amazon Linux personality: `/var/lib/vpclab/<lab>/<instance>/bin`, bind-mounted on the
//!   instance's `/usr/local/sbin` (first on root's PATH on Debian/Ubuntu, in login shells and
//!   for sshd sessions alike, and first on the PATH this module sets), holds small shell
//!   scripts: `passwd` (with `--stdin`, through `chpasswd`), `service` and `systemctl`
//!   (start/stop/restart/status/enable of `sshd` and `httpd`), `yum`/`dnf` and
//!   `amazon-linux-extras` (no-ops that succeed; `yum install httpd` makes `/var/www/html`),
//!   and `httpd`, which serves `/var/www/html` on port 80 with the host's `python3 -m
//!   http.server` (this machine has python3 and no busybox). sshd is the host's
//!   `/usr/sbin/sshd` run with the instance's `/etc/ssh/sshd_config`.
//! - [`Instance::command`] returns a `std::process::Command` whose child enters all of the
//!   instance's namespaces (`setns` in a `pre_exec` hook, on namespace fds opened beforehand:
//!   a forked child is single-threaded, which `setns(CLONE_NEWNS)` requires), forks once more
//!   to be inside the PID namespace ([`seal::enter_pid_ns_and_fork`]: what the caller holds
//!   is a waiter that exits as the command does), seals itself ([`seal::Seal`]: Docker-like
//!   capabilities and seccomp filter), and starts in `/root` with a clean environment
//!   (`HOME=/root`, the PATH above). [`Instance::spawn`], [`Instance::exec`] and
//!   [`Instance::output`] build on it. Every process in an instance is such a process or a
//!   descendant of one: what runs there as root cannot reach the host (see
//!   `docs/decisions/0012-sealed-instances.md`).
//! - [`Instance::run_user_data`] runs a user-data script once, as root, inside the instance,
//!   output appended to the instance's `/var/log/cloud-init-output.log`; a failing or
//!   hanging script is an outcome, not an error.
//! - [`teardown`] kills the instance's processes, detaches its namespace files, deletes its
//!   network namespace and removes its directory; it is idempotent.
//!
//! Size: an instance's whole life on the host — namespaces, copy-on-write root, the Amazon
//! Linux personality, commands, user data, teardown — is one ordered sequence of steps sharing
//! private helpers that no other module should call (about 1,360 lines); sealing is in
//! [`super::seal`], mounts in `mounts.rs`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{chown, DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{chdir, sethostname, Pid};
use thiserror::Error;

use super::cleanup::{self, CleanupError};
use super::mounts::{self, MountsError};
use super::names::{self, NameError};
use super::netns::{self, NetnsError};
use super::seal::{self, Seal, SealError};
use super::state::{LabState, Resource, StateError};

mod init;

/// The instance's namespaces that are bind-mounted on files (`<instance>.<kind>`), in the
/// order a process entering the instance joins them (`mnt` last of the path-based ones,
/// `pid` before the fork into it).
pub const NS_KINDS: [(&str, CloneFlags); 5] = [
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Host mount points that get an overlay of their own when they are separate filesystems
/// (an overlay of `/` shows only the root filesystem's empty directory under a mount).
const SEPARATE_FS: [&str; 5] = ["usr", "var", "home", "opt", "srv"];

/// The PATH of commands run in an instance (the personality scripts come first).
pub const INSTANCE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the instance sees its personality scripts.
pub const PERSONALITY_MOUNT: &str = "/usr/local/sbin";

/// The personality scripts: (file name, content). `dnf` is the same script as `yum`.
const SCRIPTS: [(&str, &str); 8] = [
    (
        "vpclab-service",
        include_str!("instance/files/vpclab-service"),
    ),
    ("service", include_str!("instance/files/service")),
    ("systemctl", include_str!("instance/files/systemctl")),
    ("passwd", include_str!("instance/files/passwd")),
    ("yum", include_str!("instance/files/yum")),
    ("dnf", include_str!("instance/files/yum")),
    (
        "amazon-linux-extras",
        include_str!("instance/files/amazon-linux-extras"),
    ),
    ("httpd", include_str!("instance/files/httpd")),
];

/// Amazon Linux 2's sshd_config (adapted where the host's sshd needs it; see the file).
pub const SSHD_CONFIG: &str = include_str!("instance/files/sshd_config");
const ROOT_BASHRC: &str = include_str!("instance/files/bashrc");

/// The host keys each instance gets, as sshd_config names them.
const HOST_KEY_TYPES: [&str; 3] = ["rsa", "ecdsa", "ed25519"];

/// Errors of this module.
#[derive(Debug, Error)]
pub enum InstanceError {
    /// A lab or instance name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The instance exists already (its namespace or directory).
    #[error("instance {instance} of lab {lab} already exists ({what}); run `vpclab down --name {lab}` first")]
    Exists {
        /// The lab.
        lab: String,
        /// The instance.
        instance: String,
        /// What was found.
        what: String,
    },
    /// The instance's namespace files are missing.
    #[error("instance {instance} of lab {lab} is not running (no {path})")]
    NotRunning {
        /// The lab.
        lab: String,
        /// The instance.
        instance: String,
        /// The missing file.
        path: PathBuf,
    },
    /// A file operation on the host failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A namespace or mount syscall failed.
    #[error("{what}: {source}")]
    Sys {
        /// The call and its arguments.
        what: String,
        /// The errno.
        source: Errno,
    },
    /// What the instances of a [`Instance::create_many`] batch share could not be made or
    /// recorded.
    #[error("cannot prepare the lab for its instances: {reason}")]
    Batch {
        /// The first error, as text (each instance of the batch gets a copy).
        reason: String,
    },
    /// A key pair's name is invalid.
    #[error(transparent)]
    Keys(#[from] super::keys::KeysError),
    /// The seal of the instances' processes could not be built.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A helper command failed (ssh-keygen, the user-data writer, `service sshd start`).
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// How it ended.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// Spawning a process in the instance failed.
    #[error("cannot run {cmd} in instance {instance}: {source}")]
    Spawn {
        /// The instance.
        instance: String,
        /// The program.
        cmd: String,
        /// Why.
        source: io::Error,
    },
    /// The helper thread could not be started.
    #[error("cannot start a thread for instance {instance}: {source}")]
    Thread {
        /// The instance.
        instance: String,
        /// Why.
        source: io::Error,
    },
    /// The state file could not be updated.
    #[error(transparent)]
    State(#[from] StateError),
    /// The network namespace could not be made or removed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Reading or changing mounts failed.
    #[error(transparent)]
    Mounts(#[from] MountsError),
    /// Removing the instance's processes or files failed.
    #[error(transparent)]
    Cleanup(#[from] CleanupError),
}

/// What an instance is told about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Its hostname, as EC2 names it from the private IP (`ip-10-0-1-109`).
    pub hostname: String,
    /// The resolv.conf search domain (`ap-northeast-2.compute.internal`, or `ec2.internal`).
    pub domain: String,
    /// The VPC's DNS server (VPC base + 2).
    pub dns: Ipv4Addr,
    /// Its private IP (for `/etc/hosts`).
    pub private_ip: Ipv4Addr,
}

impl InstanceSpec {
    /// The EC2 hostname of a private IP: `10.0.1.109` → `ip-10-0-1-109`.
    pub fn ec2_hostname(ip: Ipv4Addr) -> String {
        let o = ip.octets();
        format!("ip-{}-{}-{}-{}", o[0], o[1], o[2], o[3])
    }
}

/// A running instance of a lab (its namespaces exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    lab: String,
    name: String,
    netns: String,
    dir: PathBuf,
}

/// How a user-data run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDataOutcome {
    /// Exit status 0.
    Succeeded,
    /// A non-zero exit, or killed by a signal.
    Failed {
        /// The exit code, if it exited.
        code: Option<i32>,
        /// The signal, if one killed it.
        signal: Option<i32>,
    },
    /// Still running at the timeout: its process group was killed.
    TimedOut,
    /// Not something this emulation runs (e.g. `#cloud-config`); nothing ran.
    Unsupported(String),
    /// It had run before (user-data runs once per instance); nothing ran.
    AlreadyRan,
}

/// The result of [`Instance::run_user_data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDataReport {
    /// How it ended.
    pub outcome: UserDataOutcome,
    /// The host path of the instance's `/var/log/cloud-init-output.log`.
    pub log: PathBuf,
    /// How long it ran.
    pub elapsed: Duration,
}

impl UserDataReport {
    /// True for [`UserDataOutcome::Succeeded`] and [`UserDataOutcome::AlreadyRan`].
    pub fn ok(&self) -> bool {
        matches!(
            self.outcome,
            UserDataOutcome::Succeeded | UserDataOutcome::AlreadyRan
        )
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InstanceError {
    let path = path.to_path_buf();
    move |source| InstanceError::Io { what, path, source }
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(Errno) -> InstanceError {
    let what = what.into();
    move |source| InstanceError::Sys { what, source }
}

/// `/run/vpclab/<lab>/ns/<instance>.uts`.
pub fn uts_file(lab: &str, instance: &str) -> PathBuf {
    names::ns_dir(lab).join(format!("{instance}.uts"))
}

/// `/run/vpclab/<lab>/ns/<instance>.mnt`.
pub fn mnt_file(lab: &str, instance: &str) -> PathBuf {
    ns_file(lab, instance, "mnt")
}

/// `/run/vpclab/<lab>/ns/<instance>.<kind>` (`kind` one of [`NS_KINDS`]).
pub fn ns_file(lab: &str, instance: &str, kind: &str) -> PathBuf {
    names::ns_dir(lab).join(format!("{instance}.{kind}"))
}

/// Every namespace file of an instance, in [`NS_KINDS`] order.
pub fn ns_files(lab: &str, instance: &str) -> Vec<PathBuf> {
    NS_KINDS
        .iter()
        .map(|(k, _)| ns_file(lab, instance, k))
        .collect()
}

impl Instance {
    /// Makes the instance `name` of the lab whose state file is `state` (see the module docs).
    /// On failure, what was made of it is removed again (and the state file says what was
    /// attempted, for `down`). [`Instance::create_many`] makes many at once.
    pub fn create(
        state: &mut LabState,
        name: &str,
        spec: &InstanceSpec,
    ) -> Result<Instance, InstanceError> {
        Instance::create_many(state, &[(name, spec)], 1)
            .pop()
            .expect("one result per instance")
    }

    /// Makes several instances of the lab whose state file is `state`, up to `threads` (at
    /// least 1) at a time, and returns one result per entry of `instances`, in order.
    ///
    /// First, on the calling thread, every name is checked (a name already on the host, or
    /// given twice, is [`InstanceError::Exists`] and nothing of it is touched) and everything
    /// the valid ones will create is recorded in the state file in one write. Then the slow
    /// parts — files, host keys (`ssh-keygen`), the network namespace, the UTS and mount
    /// namespaces — run on the worker threads, none of which touches the state file. An
    /// instance that fails is torn down again and forgotten in `state` (as by
    /// [`Instance::create`]); the others are unaffected.
    pub fn create_many<N: AsRef<str> + Sync>(
        state: &mut LabState,
        instances: &[(N, &InstanceSpec)],
        threads: usize,
    ) -> Vec<Result<Instance, InstanceError>> {
        let lab = state.lab().to_string();
        let mut results: Vec<Option<Result<Instance, InstanceError>>> =
            (0..instances.len()).map(|_| None).collect();
        let mut seen = std::collections::HashSet::new();
        let mut todo = Vec::new();
        for (i, (name, _)) in instances.iter().enumerate() {
            let name = name.as_ref();
            match Instance::claim(&lab, name, &mut seen) {
                Ok(inst) => todo.push((i, inst)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        if todo.is_empty() {
            return results.into_iter().map(Option::unwrap).collect();
        }
        if let Err(e) = Instance::record_all(state, &todo).and_then(|()| prepare_lab(&lab)) {
            // Nothing of these instances exists yet; what was recorded, `down` finds missing.
            for (i, inst) in todo {
                let _ = teardown(&inst.lab, &inst.name, Some(state));
                results[i] = Some(Err(clone_err(&e)));
            }
            return results.into_iter().map(Option::unwrap).collect();
        }

        let next = std::sync::atomic::AtomicUsize::new(0);
        let made: Vec<(usize, Result<(), InstanceError>)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads.clamp(1, todo.len().max(1)))
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((i, inst)) = todo.get(k) else { break };
                            done.push((*i, inst.make(instances[*i].1)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut insts: Vec<Option<Instance>> = (0..instances.len()).map(|_| None).collect();
        for (i, inst) in todo {
            insts[i] = Some(inst);
        }
        for (i, r) in made {
            let inst = insts[i].take().expect("each instance made once");
            results[i] = Some(match r {
                Ok(()) => Ok(inst),
                Err(e) => {
                    let _ = teardown(&inst.lab, &inst.name, Some(state));
                    Err(e)
                }
            });
        }
        results.into_iter().map(Option::unwrap).collect()
    }

    /// Checks a new instance's name against the host and the batch (`seen`).
    fn claim(
        lab: &str,
        name: &str,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<Instance, InstanceError> {
        names::check_lab(lab)?;
        names::check_instance(name)?;
        let inst = Instance {
            netns: names::netns(lab, name),
            dir: names::instance_dir(lab, name),
            lab: lab.to_string(),
            name: name.to_string(),
        };
        let exists = |what: String| InstanceError::Exists {
            lab: lab.to_string(),
            instance: name.to_string(),
            what,
        };
        if !seen.insert(name.to_string()) {
            return Err(exists("it is given twice".into()));
        }
        if netns::exists(&inst.netns) {
            return Err(exists(format!("network namespace {}", inst.netns)));
        }
        if inst.dir.exists() {
            return Err(exists(format!("directory {}", inst.dir.display())));
        }
        Ok(inst)
    }

    /// Records, in one write of the state file, everything `make` will create for `insts`.
    fn record_all(state: &mut LabState, insts: &[(usize, Instance)]) -> Result<(), InstanceError> {
        let Some((_, first)) = insts.first() else {
            return Ok(());
        };
        let mut all = vec![
            Resource::Dir {
                path: names::data_dir(&first.lab),
            },
            Resource::Mount {
                path: names::ns_dir(&first.lab),
            },
        ];
        for (_, inst) in insts {
            all.extend([
                Resource::Instance {
                    name: inst.name.clone(),
                },
                Resource::Dir {
                    path: inst.dir.clone(),
                },
                Resource::Netns {
                    name: inst.netns.clone(),
                },
            ]);
            all.extend(
                ns_files(&inst.lab, &inst.name)
                    .into_iter()
                    .map(|path| Resource::NsFile { path }),
            );
        }
        state.record_resources(all)?;
        Ok(())
    }

    /// Creates what `record_all` recorded for this instance. Touches neither the state file
    /// nor anything of other instances, so several run at once.
    fn make(&self, spec: &InstanceSpec) -> Result<(), InstanceError> {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.dir)
            .map_err(io_err("create directory", &self.dir))?;
        self.make_layers()?;
        self.write_files(spec)?;
        netns::create(&self.netns)?;

        let files = ns_files(&self.lab, &self.name);
        for f in &files {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o000)
                .open(f)
                .map_err(io_err("create", f))?;
        }
        let namespaces = self.make_namespaces(&spec.hostname)?;
        for (ns, file) in namespaces.iter().zip(&files) {
            let src = format!("/proc/self/fd/{}", ns.as_raw_fd());
            mount(
                Some(src.as_str()),
                file,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(sys_err(format!(
                "bind mount of a namespace on {}",
                file.display()
            )))?;
        }
        Ok(())
    }

    /// Opens a running instance (its namespace files exist), e.g. from `vpclab exec`.
    pub fn open(lab: &str, name: &str) -> Result<Instance, InstanceError> {
        names::check_lab(lab)?;
        names::check_instance(name)?;
        let inst = Instance {
            lab: lab.to_string(),
            name: name.to_string(),
            netns: names::netns(lab, name),
            dir: names::instance_dir(lab, name),
        };
        for p in std::iter::once(netns::path(&inst.netns)).chain(ns_files(lab, name)) {
            if !p.exists() {
                return Err(InstanceError::NotRunning {
                    lab: lab.to_string(),
                    instance: name.to_string(),
                    path: p,
                });
            }
        }
        Ok(inst)
    }

    /// The lab name.
    pub fn lab(&self) -> &str {
        &self.lab
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its network namespace (`vl-<lab>-<instance>`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Its directory on the host (`/var/lib/vpclab/<lab>/<instance>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host path of what the instance wrote under its directory `/<dir>` (`"etc"` →
    /// `/var/lib/vpclab/<lab>/<instance>/upper/etc`; for a host directory on a filesystem of
    /// its own, see `SEPARATE_FS`, `mounts/<dir>/upper`).
    pub fn upper(&self, dir: &str) -> PathBuf {
        let own = self.dir.join("mounts").join(dir).join("upper");
        if own.is_dir() {
            own
        } else {
            self.dir.join("upper").join(dir)
        }
    }

    /// The host directory of the personality scripts.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// The root's upper and work directories and its mount point, the upper directories of
    /// the host directories written before the first mount (`/`, `/etc`, `/etc/ssh`, `/root`,
    /// with the mode and owner of the host directory they cover: the merged directory takes
    /// its attributes from the upper one), layers for separate host filesystems, and the
    /// personality directory.
    fn make_layers(&self) -> Result<(), InstanceError> {
        let mkdir = |p: &Path, mode: u32| {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(p)
                .map_err(io_err("create directory", p))
        };
        for d in ["work", "root"] {
            mkdir(&self.dir.join(d), 0o700)?;
        }
        // An upper directory that covers host directory `host`, with its mode and owner.
        let covering = |host: &Path, up: &Path| -> Result<(), InstanceError> {
            mkdir(up, 0o755)?;
            if let Ok(m) = fs::metadata(host) {
                fs::set_permissions(up, fs::Permissions::from_mode(m.mode() & 0o7777))
                    .map_err(io_err("chmod", up))?;
                chown(up, Some(m.uid()), Some(m.gid())).map_err(io_err("chown", up))?;
            }
            Ok(())
        };
        let upper = self.dir.join("upper");
        for d in ["", "etc", "etc/ssh", "root"] {
            covering(&Path::new("/").join(d), &upper.join(d))?;
        }
        for d in separate_filesystems()? {
            let layer = self.dir.join("mounts").join(d);
            mkdir(&layer.join("work"), 0o755)?;
            covering(&Path::new("/").join(d), &layer.join("upper"))?;
        }
        mkdir(&self.bin_dir(), 0o755)?;
        Ok(())
    }

    /// The files the instance starts with, written in its upper layers before any mount.
    fn write_files(&self, spec: &InstanceSpec) -> Result<(), InstanceError> {
        let etc = self.upper("etc");
        let fqdn = format!("{}.{}", spec.hostname, spec.domain);
        write_file(
            &etc.join("hostname"),
            &format!("{}\n", spec.hostname),
            0o644,
        )?;
        write_file(
            &etc.join("hosts"),
            &format!(
                "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n\
                 ::1         localhost6 localhost6.localdomain6\n\
                 {}  {fqdn} {}\n",
                spec.private_ip, spec.hostname
            ),
            0o644,
        )?;
        write_file(
            &etc.join("resolv.conf"),
            &format!(
                "; generated by vpclab (as dhclient-script does on EC2)\n\
                 search {}\n\
                 options timeout:2 attempts:5\n\
                 nameserver {}\n",
                spec.domain, spec.dns
            ),
            0o644,
        )?;
        let ssh = etc.join("ssh");
        // sshd's PAM stack: pam_loginuid needs CAP_AUDIT_CONTROL, which an instance lacks (as
        // a container does); a required module that fails would refuse every login.
        if let Ok(pam) = fs::read_to_string("/etc/pam.d/sshd") {
            let pam_dir = etc.join("pam.d");
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&pam_dir)
                .map_err(io_err("create directory", &pam_dir))?;
            write_file(&pam_dir.join("sshd"), &pam_without_loginuid(&pam), 0o644)?;
        }
        write_file(&ssh.join("sshd_config"), SSHD_CONFIG, 0o600)?;
        generate_host_keys(&ssh, &spec.hostname)?;
        write_file(&self.upper("root").join(".bashrc"), ROOT_BASHRC, 0o644)?;
        for (name, text) in SCRIPTS {
            write_file(&self.bin_dir().join(name), text, 0o755)?;
        }
        Ok(())
    }

    /// Makes the instance's namespaces on a dedicated thread and returns fds of them, in
    /// [`NS_KINDS`] order.
    fn make_namespaces(&self, hostname: &str) -> Result<Vec<File>, InstanceError> {
        let net = netns::open(&self.netns)?;
        let dir = self.dir.clone();
        let hostname = hostname.to_string();
        let bin = self.bin_dir();
        std::thread::Builder::new()
            .name("vl-instance-ns".into())
            .spawn(move || setup_namespaces(net, &dir, &bin, &hostname))
            .map_err(|source| InstanceError::Thread {
                instance: self.name.clone(),
                source,
            })?
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// A command that runs `program` inside the instance (all its namespaces, sealed), in
    /// `/root`, with a clean environment: `PATH` = [`INSTANCE_PATH`], `HOME=/root`,
    /// `USER`/`LOGNAME=root`, `SHELL=/bin/bash`, `LANG=C.UTF-8`, and the caller's `TERM`.
    /// A program name without `/` is looked up on that PATH inside the instance. Callers may
    /// add arguments, environment and stdio as with any `Command`; the child the caller sees
    /// is the waiter of [`seal::enter_pid_ns_and_fork`], which exits as the program does.
    pub fn command<S: AsRef<OsStr>>(&self, program: S) -> Result<Command, InstanceError> {
        self.command_with(program, false)
    }

    /// [`Instance::command`] in a new session whose process group is the spawned child's
    /// pid, so that `killpg(child.id())` reaches the program and everything it started.
    pub fn command_in_new_session<S: AsRef<OsStr>>(
        &self,
        program: S,
    ) -> Result<Command, InstanceError> {
        self.command_with(program, true)
    }

    fn command_with<S: AsRef<OsStr>>(
        &self,
        program: S,
        new_session: bool,
    ) -> Result<Command, InstanceError> {
        let not_running = |p: PathBuf| InstanceError::NotRunning {
            lab: self.lab.clone(),
            instance: self.name.clone(),
            path: p,
        };
        let open = |p: PathBuf| File::open(&p).map_err(|_| not_running(p));
        let net = open(netns::path(&self.netns))?;
        let ns: Vec<(File, CloneFlags)> = NS_KINDS
            .iter()
            .map(|&(k, flag)| open(ns_file(&self.lab, &self.name, k)).map(|f| (f, flag)))
            .collect::<Result<_, _>>()?;
        let seal = Seal::get()?;
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", INSTANCE_PATH)
            .env("HOME", "/root")
            .env("USER", "root")
            .env("LOGNAME", "root")
            .env("SHELL", "/bin/bash")
            .env("LANG", "C.UTF-8");
        if let Some(term) = std::env::var_os("TERM") {
            cmd.env("TERM", term);
        }
        // SAFETY: the hook runs in the forked child before exec. It only makes raw syscalls
        // (setns, chdir on a static C string, fork, prctl, seccomp, capset) that are
        // async-signal-safe and allocate nothing; the fds and the seal it uses were made by
        // the parent and are owned by the closure (or static), which the Command keeps alive.
        unsafe {
            cmd.pre_exec(move || {
                setns(&net, CloneFlags::CLONE_NEWNET)?;
                for (f, flag) in &ns {
                    setns(f, *flag)?;
                }
                chdir(c"/root")?;
                seal::enter_pid_ns_and_fork(new_session)?;
                seal.apply()
            });
        }
        Ok(cmd)
    }

    /// Spawns `program args…` inside the instance with the given stdin, stdout, stderr.
    pub fn spawn<S, I, A>(
        &self,
        program: S,
        args: I,
        stdio: (Stdio, Stdio, Stdio),
    ) -> Result<Child, InstanceError>
    where
        S: AsRef<OsStr>,
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        let shown = program.as_ref().to_string_lossy().into_owned();
        let mut cmd = self.command(program)?;
        cmd.args(args)
            .stdin(stdio.0)
            .stdout(stdio.1)
            .stderr(stdio.2);
        cmd.spawn().map_err(|source| InstanceError::Spawn {
            instance: self.name.clone(),
            cmd: shown,
            source,
        })
    }

    /// Runs `program args…` inside the instance with the caller's stdin, stdout and stderr,
    /// and returns its exit status.
    pub fn exec<S, I, A>(&self, program: S, args: I) -> Result<ExitStatus, InstanceError>
    where
        S: AsRef<OsStr>,
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        let shown = program.as_ref().to_string_lossy().into_owned();
        let mut child = self.spawn(
            program,
            args,
            (Stdio::inherit(), Stdio::inherit(), Stdio::inherit()),
        )?;
        child.wait().map_err(|source| InstanceError::Spawn {
            instance: self.name.clone(),
            cmd: shown,
            source,
        })
    }

    /// Runs `program args…` inside the instance with stdin from /dev/null and collects its
    /// output.
    pub fn output<S, I, A>(&self, program: S, args: I) -> Result<Output, InstanceError>
    where
        S: AsRef<OsStr>,
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        let shown = program.as_ref().to_string_lossy().into_owned();
        let child = self.spawn(
            program,
            args,
            (Stdio::null(), Stdio::piped(), Stdio::piped()),
        )?;
        child
            .wait_with_output()
            .map_err(|source| InstanceError::Spawn {
                instance: self.name.clone(),
                cmd: shown,
                source,
            })
    }

    /// Runs `sh -c script sh args…` inside the instance with `input` on stdin (the
    /// arguments are `$1`… of the script, never code); an error unless it exits 0.
    fn sh_with_input(
        &self,
        script: &str,
        args: &[&str],
        input: &[u8],
    ) -> Result<(), InstanceError> {
        let mut child = self.spawn(
            "/bin/sh",
            ["-c", script, "sh"].iter().chain(args),
            (Stdio::piped(), Stdio::null(), Stdio::piped()),
        )?;
        if let Some(mut stdin) = child.stdin.take() {
            // A script that exits early closes the pipe: its status tells what went wrong.
            let _ = stdin.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|source| InstanceError::Spawn {
                instance: self.name.clone(),
                cmd: "/bin/sh".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(InstanceError::Command {
                cmd: format!("sh -c '{script}' (in instance {})", self.name),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Appends a public key line to the instance's `/root/.ssh/authorized_keys` (the
    /// template's `KeyName`).
    pub fn authorize_key(&self, public_key: &str) -> Result<(), InstanceError> {
        let mut line = public_key.trim_end().to_string();
        line.push('\n');
        self.sh_with_input(
            "umask 077 && mkdir -p /root/.ssh && cat >> /root/.ssh/authorized_keys",
            &[],
            line.as_bytes(),
        )
    }

    /// Writes a key pair's private key to `/root/<key_name>.pem` (mode 0600) inside the
    /// instance: the emulated internet holds the lab's keys as a user's laptop holds theirs,
    /// since no instance sees `/var/lib/vpclab`.
    pub fn install_private_key(&self, key_name: &str, pem: &[u8]) -> Result<(), InstanceError> {
        super::keys::check_key_name(key_name)?;
        self.sh_with_input("umask 077 && cat > \"/root/$1.pem\"", &[key_name], pem)
    }

    /// Starts the instance's sshd (`service sshd start` inside it). `Ok(false)` when the host
    /// has no `/usr/sbin/sshd`.
    pub fn start_sshd(&self) -> Result<bool, InstanceError> {
        if !Path::new("/usr/sbin/sshd").exists() {
            return Ok(false);
        }
        let out = self.output("service", ["sshd", "start"])?;
        if !out.status.success() {
            return Err(InstanceError::Command {
                cmd: format!("service sshd start (in instance {})", self.name),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(true)
    }

    /// The host path of the instance's `/var/log/cloud-init-output.log`.
    pub fn user_data_log(&self) -> PathBuf {
        self.upper("var").join("log/cloud-init-output.log")
    }

    /// Runs the user-data `script` once, as root, inside the instance, as cloud-init would:
    /// saved as `/var/lib/cloud/instance/user-data.txt` and `scripts/part-001`, run with its
    /// `#!` interpreter (a script without `#!` is run by `/bin/bash`; `#cloud-config` is not
    /// emulated), stdin from /dev/null, stdout and stderr appended to
    /// `/var/log/cloud-init-output.log`. A script still running after `timeout` has its
    /// process group killed. Only host-side failures are errors; how the script ended is the
    /// report's outcome. A second call reports [`UserDataOutcome::AlreadyRan`].
    pub fn run_user_data(
        &self,
        script: &[u8],
        timeout: Duration,
    ) -> Result<UserDataReport, InstanceError> {
        let start = Instant::now();
        let marker = self.dir.join("user-data.status");
        let report = |outcome| UserDataReport {
            outcome,
            log: self.user_data_log(),
            elapsed: start.elapsed(),
        };
        if marker.exists() {
            return Ok(report(UserDataOutcome::AlreadyRan));
        }
        if script.starts_with(b"#cloud-config") {
            return Ok(report(UserDataOutcome::Unsupported(
                "#cloud-config user-data is not emulated (only scripts)".into(),
            )));
        }
        self.sh_with_input(
            "umask 077 && mkdir -p /var/lib/cloud/instance/scripts && \
             cat > /var/lib/cloud/instance/user-data.txt && \
             cp /var/lib/cloud/instance/user-data.txt /var/lib/cloud/instance/scripts/part-001 && \
             chmod 700 /var/lib/cloud/instance/scripts/part-001",
            &[],
            script,
        )?;
        let run = if script.starts_with(b"#!") {
            "/var/lib/cloud/instance/scripts/part-001"
        } else {
            "/bin/bash /var/lib/cloud/instance/scripts/part-001"
        };
        let wrapper = format!(
            "exec >>/var/log/cloud-init-output.log 2>&1\n\
             echo \"Cloud-init v. vpclab running 'modules:final' at $(date -R). Up $(cut -d' ' -f1 /proc/uptime) seconds.\"\n\
             {run}\n\
             rc=$?\n\
             [ \"$rc\" -eq 0 ] || echo \"$(date -R) - cc_scripts_user.py[WARNING]: Failed to run module scripts-user (scripts in /var/lib/cloud/instance/scripts): exit status $rc\"\n\
             echo \"Cloud-init v. vpclab finished at $(date -R). Datasource DataSourceEc2Local. Up $(cut -d' ' -f1 /proc/uptime) seconds\"\n\
             exit $rc\n"
        );
        // A new session (and process group) lets a timeout kill the whole script.
        let mut cmd = self.command_in_new_session("/bin/sh")?;
        cmd.args(["-c", &wrapper])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|source| InstanceError::Spawn {
            instance: self.name.clone(),
            cmd: "user-data".into(),
            source,
        })?;
        let wait_err = |source| InstanceError::Spawn {
            instance: self.name.clone(),
            cmd: "user-data".into(),
            source,
        };
        let status = loop {
            if let Some(s) = child.try_wait().map_err(wait_err)? {
                break Some(s);
            }
            if start.elapsed() >= timeout {
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let outcome = match status {
            None => UserDataOutcome::TimedOut,
            Some(s) if s.success() => UserDataOutcome::Succeeded,
            Some(s) => UserDataOutcome::Failed {
                code: s.code(),
                signal: s.signal(),
            },
        };
        write_file(&marker, &format!("{outcome:?}\n"), 0o600)?;
        Ok(report(outcome))
    }
}

/// Writes a file (replacing it) with the given mode.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), InstanceError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io_err("create", path))?;
    f.write_all(text.as_bytes())
        .map_err(io_err("write", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", path))
}

/// Generates the instance's own host keys with the host's ssh-keygen (all three at once).
/// Without ssh-keygen there is nothing to do: the host has no sshd either.
fn generate_host_keys(dir: &Path, hostname: &str) -> Result<(), InstanceError> {
    let Some(keygen) = super::keys::ssh_keygen() else {
        return Ok(());
    };
    let mut children = Vec::new();
    for t in HOST_KEY_TYPES {
        let key = dir.join(format!("ssh_host_{t}_key"));
        let mut cmd = Command::new(keygen);
        if t == "rsa" {
            // What Amazon Linux 2's sshd-keygen makes (OpenSSH 7.4's default), and about a
            // third of the time of a 3072-bit key.
            cmd.args(["-b", "2048"]);
        }
        cmd.args(["-q", "-t", t, "-N", "", "-C"])
            .arg(format!("root@{hostname}"))
            .arg("-f")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let shown = format!("ssh-keygen -t {t} -f {}", key.display());
        let child = cmd.spawn().map_err(io_err("run ssh-keygen for", &key))?;
        children.push((shown, child));
    }
    let mut first_err = None;
    for (shown, child) in children {
        let out = child
            .wait_with_output()
            .map_err(io_err("wait for ssh-keygen", dir))?;
        if !out.status.success() && first_err.is_none() {
            first_err = Some(InstanceError::Command {
                cmd: shown,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// What every instance of `lab` shares, made once before any of them: the lab's data
/// directory, its namespace-file directory as a private mount, and `/run/netns`.
fn prepare_lab(lab: &str) -> Result<(), InstanceError> {
    let data = names::data_dir(lab);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data)
        .map_err(io_err("create directory", &data))?;
    private_bind_dir(&names::ns_dir(lab))?;
    netns::prepare()?;
    Ok(())
}

/// The same error for each instance of a batch whose shared preparation failed.
fn clone_err(e: &InstanceError) -> InstanceError {
    InstanceError::Batch {
        reason: e.to_string(),
    }
}

/// Makes `dir` exist and be a private mount (a bind mount of itself), so that namespace files
/// bind-mounted below it neither propagate into the mount namespaces they name (which the
/// kernel refuses) nor anywhere else.
fn private_bind_dir(dir: &Path) -> Result<(), InstanceError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create directory", dir))?;
    if !mounts::is_mount_point(dir)? {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(sys_err(format!("bind {} onto itself", dir.display())))?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys_err(format!("make {} private", dir.display())))
}

/// Runs on a dedicated thread: joins the instance's network namespace, makes new UTS, IPC,
/// cgroup and mount namespaces, sets the hostname, builds the instance's root (not entered:
/// the init does that), starts the init in a new PID namespace, and returns fds of the
/// namespaces in [`NS_KINDS`] order (which keep them alive until the caller bind-mounts them).
fn setup_namespaces(
    net: File,
    dir: &Path,
    bin: &Path,
    hostname: &str,
) -> Result<Vec<File>, InstanceError> {
    setns(&net, CloneFlags::CLONE_NEWNET).map_err(sys_err("setns(CLONE_NEWNET)"))?;
    drop(net);
    // CLONE_NEWNS implies CLONE_FS: this thread stops sharing root/cwd with the process.
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWCGROUP,
    )
    .map_err(sys_err(
        "unshare(CLONE_NEWNS | NEWUTS | NEWIPC | NEWCGROUP)",
    ))?;
    sethostname(hostname).map_err(sys_err(format!("sethostname({hostname})")))?;
    // Before anything else: nothing mounted from here on propagates to the host.
    mounts::make_private_recursively().map_err(sys_err("make / private (recursively)"))?;
    let root = dir.join("root");
    build_root(dir, bin, &root)?;
    let open = |p: &'static str| File::open(p).map_err(io_err("open", Path::new(p)));
    let uts = open("/proc/thread-self/ns/uts")?;
    let ipc = open("/proc/thread-self/ns/ipc")?;
    let cgroup = open("/proc/thread-self/ns/cgroup")?;
    let mnt = open("/proc/thread-self/ns/mnt")?;
    // Last: once the init has entered the root, so has this thread (same mount namespace).
    let pid = init::start(&root)?;
    Ok(vec![uts, ipc, cgroup, pid, mnt])
}

/// The host directories of [`SEPARATE_FS`] that are mount points of their own.
fn separate_filesystems() -> Result<Vec<&'static str>, InstanceError> {
    let points = mounts::mount_points("/proc/self/mountinfo")?;
    Ok(SEPARATE_FS
        .into_iter()
        .filter(|d| points.iter().any(|p| p == &Path::new("/").join(d)))
        .collect())
}

/// `/etc/pam.d/sshd` with `pam_loginuid` made optional (see `write_files`).
fn pam_without_loginuid(pam: &str) -> String {
    pam.lines()
        .map(|l| {
            let t = l.trim_start();
            if !t.starts_with('#') && t.contains("pam_loginuid.so") {
                format!(
                    "# vpclab: optional, an instance has no CAP_AUDIT_CONTROL\n{}",
                    l.replacen("required", "optional", 1)
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Mounts the instance's root at `root` in this thread's (private) mount namespace: the
/// overlay of the host's root filesystem and of separate host filesystems, and on top of it
/// `/run`, `/tmp`, `/dev`, `/sys`, the personality directory and the mask on
/// `/var/lib/vpclab` (see the module docs). `/proc` is the init's to mount.
fn build_root(dir: &Path, bin: &Path, root: &Path) -> Result<(), InstanceError> {
    let overlay = |lower: &Path, upper: &Path, work: &Path, target: &Path| {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(sys_err(format!(
            "mount overlay on {} ({opts})",
            target.display()
        )))
    };
    overlay(Path::new("/"), &dir.join("upper"), &dir.join("work"), root)?;
    for d in separate_filesystems()? {
        let layer = dir.join("mounts").join(d);
        overlay(
            &Path::new("/").join(d),
            &layer.join("upper"),
            &layer.join("work"),
            &root.join(d),
        )?;
    }
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let mkdir = |p: &Path, mode: u32| {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(p)
            .map_err(io_err("create directory", p))
    };
    let tmpfs = |target: &Path, flags: MsFlags, opts: &str| {
        mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(opts))
            .map_err(sys_err(format!("mount tmpfs on {}", target.display())))
    };
    let bind = |src: &Path, target: &Path| {
        mount(
            Some(src),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys_err(format!(
            "bind {} on {}",
            src.display(),
            target.display()
        )))
    };
    let read_only = |target: &Path, extra: MsFlags| {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | extra,
            None::<&str>,
        )
        .map_err(sys_err(format!("remount {} read-only", target.display())))
    };
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;

    let sbin = at(PERSONALITY_MOUNT);
    mkdir(&sbin, 0o755)?;
    bind(bin, &sbin)?;
    read_only(&sbin, MsFlags::empty())?;

    let run = at("/run");
    mkdir(&run, 0o755)?;
    tmpfs(&run, nosuid_nodev, "mode=755")?;
    mkdir(&run.join("lock"), 0o1777)?;
    fs::set_permissions(run.join("lock"), fs::Permissions::from_mode(0o1777))
        .map_err(io_err("chmod", &run.join("lock")))?;
    let tmp = at("/tmp");
    mkdir(&tmp, 0o1777)?;
    tmpfs(&tmp, nosuid_nodev, "mode=1777")?;

    // /dev: the usual devices only (bind mounts of the host's nodes: an instance cannot make
    // nodes), its own ptys and shared memory.
    let dev = at("/dev");
    mkdir(&dev, 0o755)?;
    tmpfs(
        &dev,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "mode=755,size=64k",
    )?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(node);
        File::create(&target).map_err(io_err("create", &target))?;
        bind(&Path::new("/dev").join(node), &target)?;
    }
    let pts = dev.join("pts");
    mkdir(&pts, 0o755)?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )
    .map_err(sys_err(format!("mount devpts on {}", pts.display())))?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(link))
            .map_err(io_err("symlink", &dev.join(link)))?;
    }
    let shm = dev.join("shm");
    mkdir(&shm, 0o1777)?;
    tmpfs(&shm, nosuid_nodev, "mode=1777")?;

    // A sysfs of the instance's network namespace, as `ip netns exec` mounts one, read-only as
    // containers have it: much of it (/sys/kernel, /sys/module, devices) is the host's.
    let sys = at("/sys");
    mkdir(&sys, 0o555)?;
    mount(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(sys_err(format!("mount sysfs on {}", sys.display())))?;
    mkdir(&at("/proc"), 0o555)?;

    // Other labs' and instances' files (this one's layers among them) stay out of sight.
    let data = at(super::DATA_DIR);
    if data.is_dir() {
        tmpfs(
            &data,
            nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
            "mode=755,size=4k",
        )?;
    }
    Ok(())
}

/// Removes an instance: kills the processes in its namespaces, detaches and unlinks its
/// namespace files, deletes its network namespace, removes its directory, and forgets them
/// in `state` when given. Idempotent: what is already gone is skipped.
pub fn teardown(lab: &str, name: &str, state: Option<&mut LabState>) -> Result<(), InstanceError> {
    names::check_lab(lab)?;
    names::check_instance(name)?;
    let netns_name = names::netns(lab, name);
    let ns_files = ns_files(lab, name);
    let mut ids = cleanup::NsIds::default();
    ids.add(&netns::path(&netns_name));
    for f in &ns_files {
        ids.add(f);
    }
    cleanup::kill_processes_in(&ids)?;
    for f in &ns_files {
        mounts::umount_lazy(f)?;
        match fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(InstanceError::Io {
                    what: "remove",
                    path: f.clone(),
                    source,
                })
            }
        }
    }
    netns::delete(&netns_name)?;
    let dir = names::instance_dir(lab, name);
    cleanup::remove_tree(&dir, &names::data_dir(lab))?;
    if let Some(state) = state {
        for f in ns_files {
            state.forget(&Resource::NsFile { path: f })?;
        }
        state.forget(&Resource::Netns { name: netns_name })?;
        state.forget(&Resource::Dir { path: dir })?;
        state.forget(&Resource::Instance {
            name: name.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_hostnames() {
        assert_eq!(
            InstanceSpec::ec2_hostname(Ipv4Addr::new(10, 0, 1, 109)),
            "ip-10-0-1-109"
        );
    }

    #[test]
    fn sshd_config_has_the_lines_amazon_linux_user_data_edits() {
        let lines: Vec<&str> = SSHD_CONFIG.lines().collect();
        assert!(lines.contains(&"PasswordAuthentication no"));
        assert!(lines.contains(&"#PermitRootLogin yes"));
        assert!(!lines.iter().any(|l| l.starts_with("PermitRootLogin")));
    }

    #[test]
    fn pam_loginuid_becomes_optional_and_nothing_else_changes() {
        let pam = "# comment pam_loginuid.so required\n\
                   session    required     pam_loginuid.so\n\
                   session    required     pam_limits.so\n";
        let out = pam_without_loginuid(pam);
        assert!(out.contains("session    optional     pam_loginuid.so"));
        assert!(out.contains("session    required     pam_limits.so"));
        assert!(out.contains("# comment pam_loginuid.so required"));
    }

    #[test]
    fn the_namespace_files_end_with_mnt() {
        // A process entering an instance joins its mount namespace last of the path-based
        // ones (the ns files are opened before) and its PID namespace before the fork.
        assert_eq!(NS_KINDS.last().map(|k| k.0), Some("mnt"));
        let f = ns_files("lab", "web");
        assert_eq!(f.len(), NS_KINDS.len());
        assert!(f[0].ends_with("web.uts"));
    }

    #[test]
    fn scripts_are_shell_scripts() {
        for (name, text) in SCRIPTS {
            assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        }
    }
}
