//! `down`: remove everything a lab created on the host, from its state file or its name alone.
//!
//! Contract:
//! - [`down`] is idempotent and works after a crash, after the router was killed with `-9`,
//!   and without the state file: it finds the lab's things by name too — network namespaces
//!   `vl-<lab>-*`, namespace files under `/run/vpclab/<lab>/ns/`, mounts under
//!   `/run/vpclab/<lab>` and `/var/lib/vpclab/<lab>`, processes whose network, mount or UTS
//!   namespace is one of the lab's, TAPs named after the lab's instances.
//! - It removes only what that lab created: lab names contain no `-`, so `vl-<lab>-` is no
//!   other lab's prefix; paths are removed only under the lab's own two directories, whatever
//!   the state file says; a process is killed only if it is inside one of the lab's
//!   namespaces (never one shared with this process or with pid 1), or is a recorded process
//!   whose start time still matches.
//! - Order: processes (SIGKILL, waited for), namespace files, network namespaces, TAPs left in
//!   the root namespace, mounts, directories, and the state file last. Failures of one step
//!   are collected and the rest still runs; the result is an error when anything is left.
//! - [`remove_tree`] never follows a mount: it detaches mounts below the directory first and
//!   refuses when some remain.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use thiserror::Error;

use super::link;
use super::mounts::{self, MountsError};
use super::names::{self, NameError};
use super::netns::{self, NetnsError};
use super::state::{self, LabState, Resource};
use super::{DATA_DIR, RUN_DIR};

/// How long `down` waits for killed processes to disappear.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of this module.
#[derive(Debug, Error)]
pub enum CleanupError {
    /// The lab name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Processes survived SIGKILL (stuck in the kernel, e.g. on a hung mount).
    #[error("processes still inside the lab's namespaces after SIGKILL: {0:?}")]
    ProcessesLeft(Vec<u32>),
    /// A path outside the lab's directories was asked to be removed.
    #[error("refusing to remove {path}: it is not under {root}")]
    OutsideLab {
        /// The path.
        path: PathBuf,
        /// The lab directory it should be under.
        root: PathBuf,
    },
    /// Mounts below a directory could not be detached, so it is not removed.
    #[error("refusing to remove {path}: mounts remain below it: {mounts:?}")]
    MountsBelow {
        /// The directory.
        path: PathBuf,
        /// What is still mounted.
        mounts: Vec<PathBuf>,
    },
    /// Removing a file or directory failed.
    #[error("remove {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Mount handling failed.
    #[error(transparent)]
    Mounts(#[from] MountsError),
    /// Deleting a network namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// `down` finished with things left over.
    #[error("lab {lab} is not completely removed; left: {}; errors: {}", .left.join(", "), .report.errors.join("; "))]
    Incomplete {
        /// The lab.
        lab: String,
        /// What is left ([`leftovers`]).
        left: Vec<String>,
        /// What `down` did and which steps failed.
        report: DownReport,
    },
}

/// What [`down`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// One line per thing removed ("netns vl-lab-web", "process 1234", …).
    pub removed: Vec<String>,
    /// Steps that failed (`down` went on with the rest).
    pub errors: Vec<String>,
    /// Notes (e.g. "no state file: cleaned up by name").
    pub notes: Vec<String>,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        for r in &self.removed {
            writeln!(f, "removed {r}")?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}

/// Identities (device, inode) of namespaces, as `stat` reports them for an `nsfs` file.
///
/// Valid only while those namespaces exist: the kernel reuses a freed namespace's inode
/// number for the next namespace it makes. Collect, use and drop them in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsIds(HashSet<(u64, u64)>);

impl NsIds {
    /// Adds the namespace bind-mounted on (or linked from) `path`, if it is one. A plain file
    /// (a namespace file whose bind mount is gone) adds nothing, and neither do the
    /// namespaces of this process or of pid 1: those are the host's.
    pub fn add(&mut self, path: &Path) {
        let Some(id) = ns_id(path) else { return };
        if !is_nsfs(path) {
            return;
        }
        for kind in ["net", "mnt", "uts"] {
            for pid in ["self", "1"] {
                if ns_id(Path::new(&format!("/proc/{pid}/ns/{kind}"))) == Some(id) {
                    return;
                }
            }
        }
        self.0.insert(id);
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, id: (u64, u64)) -> bool {
        self.0.contains(&id)
    }
}

fn ns_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `path` is a namespace (its device is the one of `/proc/self/ns/net`'s `nsfs`).
fn is_nsfs(path: &Path) -> bool {
    match (ns_id(path), ns_id(Path::new("/proc/self/ns/net"))) {
        (Some((dev, _)), Some((nsfs, _))) => dev == nsfs,
        _ => false,
    }
}

/// Pids (other than this process) whose network, mount or UTS namespace is in `ids`.
pub fn processes_in(ids: &NsIds) -> Vec<u32> {
    if ids.is_empty() {
        return Vec::new();
    }
    let me = std::process::id();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            ["net", "mnt", "uts"].iter().any(|k| {
                ns_id(Path::new(&format!("/proc/{pid}/ns/{k}"))).is_some_and(|id| ids.contains(id))
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// SIGKILLs every process in the namespaces `ids` until none is left, then waits until each
/// one killed has finished exiting (zombies count as finished). A dying process leaves the
/// namespace listing early in its exit, before it is a zombie; and when an instance's init is
/// killed, the kernel kills the rest of its PID namespace on its own schedule. Returns the
/// pids killed.
pub fn kill_processes_in(ids: &NsIds) -> Result<Vec<u32>, CleanupError> {
    let start = Instant::now();
    let mut killed = BTreeSet::new();
    loop {
        let left = processes_in(ids);
        if left.is_empty() {
            let dying: Vec<u32> = killed
                .iter()
                .copied()
                .filter(|&p| still_running(p))
                .collect();
            if dying.is_empty() {
                return Ok(killed.into_iter().collect());
            }
            if start.elapsed() > KILL_TIMEOUT {
                return Err(CleanupError::ProcessesLeft(dying));
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if start.elapsed() > KILL_TIMEOUT {
            return Err(CleanupError::ProcessesLeft(left));
        }
        for pid in left {
            if kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok() {
                killed.insert(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` exists and is not a zombie (`/proc/<pid>/stat`'s state after the name).
fn still_running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s.get(i + 2..i + 3))
                .map(|st| st != "Z")
        })
        .unwrap_or(false)
}

/// Removes the directory tree `path`, which must be under `root`. Mounts below it are
/// detached first; if any remain, nothing is removed. A missing `path` is success.
pub fn remove_tree(path: &Path, root: &Path) -> Result<bool, CleanupError> {
    let allowed = [Path::new(DATA_DIR), Path::new(RUN_DIR)];
    if !path.starts_with(root)
        || !allowed.iter().any(|a| root.starts_with(a) && root != *a)
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(CleanupError::OutsideLab {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        });
    }
    if !path.exists() {
        return Ok(false);
    }
    mounts::umount_all_under(path)?;
    let left = mounts::under(&mounts::mount_points("/proc/self/mountinfo")?, path);
    if !left.is_empty() {
        return Err(CleanupError::MountsBelow {
            path: path.to_path_buf(),
            mounts: left,
        });
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CleanupError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Names of the lab's namespace files under `/run/vpclab/<lab>/ns/`.
fn ns_files(lab: &str) -> Vec<PathBuf> {
    let dir = names::ns_dir(lab);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    v.sort();
    v
}

/// What of the lab is still on the host: its network namespaces, mounts under its two
/// directories, the directories themselves, TAPs named after its instances in the root
/// namespace, and processes inside its namespaces. Empty after a complete `down`.
pub fn leftovers(lab: &str) -> Result<Vec<String>, CleanupError> {
    names::check_lab(lab)?;
    let mut left = Vec::new();
    let nss = netns::list_with_prefix(&names::netns_prefix(lab))?;
    let mut ids = NsIds::default();
    for n in &nss {
        ids.add(&netns::path(n));
        left.push(format!("netns {n}"));
    }
    for f in ns_files(lab) {
        ids.add(&f);
    }
    for pid in processes_in(&ids) {
        left.push(format!("process {pid}"));
    }
    let points = mounts::mount_points("/proc/self/mountinfo")?;
    for root in [names::run_dir(lab), names::data_dir(lab)] {
        for m in mounts::under(&points, &root) {
            left.push(format!("mount {}", m.display()));
        }
        if root.exists() {
            left.push(format!("directory {}", root.display()));
        }
    }
    for n in &nss {
        if let Some(inst) = names::instance_of_netns(lab, n) {
            let tap = names::tap(lab, inst);
            if Path::new("/sys/class/net").join(&tap).exists() {
                left.push(format!("link {tap}"));
            }
        }
    }
    Ok(left)
}

/// Every lab with something on the host: directories under `/run/vpclab` and
/// `/var/lib/vpclab`, and network namespaces `vl-<lab>-*`.
pub fn labs() -> Vec<String> {
    let mut set = BTreeSet::new();
    for dir in [RUN_DIR, DATA_DIR] {
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.filter_map(|e| e.ok()) {
                if let Some(n) = e.file_name().to_str() {
                    if names::check_lab(n).is_ok() {
                        set.insert(n.to_string());
                    }
                }
            }
        }
    }
    let prefix = format!("{}-", names::PREFIX);
    for ns in netns::list_with_prefix(&prefix).unwrap_or_default() {
        if let Some((lab, _)) = ns[prefix.len()..].split_once('-') {
            if names::check_lab(lab).is_ok() {
                set.insert(lab.to_string());
            }
        }
    }
    set.into_iter().collect()
}

/// Removes everything lab `lab` created (see the module docs). `Ok` only when nothing is left.
pub fn down(lab: &str) -> Result<DownReport, CleanupError> {
    names::check_lab(lab)?;
    let mut report = DownReport::default();
    let recorded: Vec<Resource> = match LabState::load(lab) {
        Ok(Some(s)) => s.record().resources.clone(),
        Ok(None) => {
            report.notes.push(format!(
                "no state file {}: cleaning up by name",
                state::path(lab).display()
            ));
            Vec::new()
        }
        Err(e) => {
            report
                .notes
                .push(format!("state file unusable ({e}): cleaning up by name"));
            Vec::new()
        }
    };
    let run_root = names::run_dir(lab);
    let data_root = names::data_dir(lab);

    // What to look at: by name, plus what the state file lists (within the lab's names).
    let mut netns_names: BTreeSet<String> = netns::list_with_prefix(&names::netns_prefix(lab))
        .unwrap_or_else(|e| {
            report.errors.push(e.to_string());
            Vec::new()
        })
        .into_iter()
        .collect();
    let mut files: BTreeSet<PathBuf> = ns_files(lab).into_iter().collect();
    let mut instances = BTreeSet::new();
    let mut taps = BTreeSet::new();
    let mut procs = Vec::new();
    let mut plain_files = BTreeSet::new();
    for r in &recorded {
        match r {
            Resource::Netns { name } if names::instance_of_netns(lab, name).is_some() => {
                netns_names.insert(name.clone());
            }
            Resource::NsFile { path } if path.starts_with(names::ns_dir(lab)) => {
                files.insert(path.clone());
            }
            Resource::Instance { name } if names::check_instance(name).is_ok() => {
                instances.insert(name.clone());
            }
            Resource::Tap { ifname } if ifname.starts_with(names::PREFIX) => {
                taps.insert(ifname.clone());
            }
            Resource::Process { pid, start_time } => procs.push((*pid, *start_time)),
            Resource::File { path }
                if (path.starts_with(&data_root) || path.starts_with(&run_root))
                    && !path
                        .components()
                        .any(|c| c == std::path::Component::ParentDir) =>
            {
                plain_files.insert(path.clone());
            }
            _ => {}
        }
    }
    for n in &netns_names {
        if let Some(i) = names::instance_of_netns(lab, n) {
            instances.insert(i.to_string());
        }
    }
    for i in &instances {
        taps.insert(names::tap(lab, i));
    }

    // 1. Processes: the recorded ones (if still the same process), then everything inside
    // the lab's namespaces.
    let me = std::process::id();
    for (pid, start) in procs {
        if pid != me
            && state::process_start_time(pid) == Some(start)
            && kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok()
        {
            report.removed.push(format!("process {pid} (recorded)"));
        }
    }
    let mut ids = NsIds::default();
    for n in &netns_names {
        ids.add(&netns::path(n));
    }
    for f in &files {
        ids.add(f);
    }
    match kill_processes_in(&ids) {
        Ok(pids) => report
            .removed
            .extend(pids.into_iter().map(|p| format!("process {p}"))),
        Err(e) => report.errors.push(e.to_string()),
    }

    // 2. Namespace files (UTS and mount namespaces of instances).
    for f in &files {
        match mounts::umount_lazy(f) {
            Ok(true) => report.removed.push(format!("mount {}", f.display())),
            Ok(false) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
        match fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(format!("remove {}: {e}", f.display())),
        }
    }

    // 3. Network namespaces (their TAPs go with them).
    for n in &netns_names {
        match netns::delete(n) {
            Ok(true) => report.removed.push(format!("netns {n}")),
            Ok(false) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }

    // 4. TAPs still in the root namespace (never moved; gone anyway when their owner died,
    // unless made persistent).
    for t in &taps {
        match link::delete_root_link(t) {
            Ok(true) => report.removed.push(format!("link {t}")),
            Ok(false) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }

    // 5. Files the lab recorded (key pairs), then mounts and directories; the run directory
    // (with the state file) last.
    for f in &plain_files {
        match fs::remove_file(f) {
            Ok(()) => report.removed.push(format!("file {}", f.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(format!("remove {}: {e}", f.display())),
        }
    }
    for root in [&data_root, &run_root] {
        match mounts::umount_all_under(root) {
            Ok(done) => report
                .removed
                .extend(done.into_iter().map(|m| format!("mount {}", m.display()))),
            Err(e) => report.errors.push(e.to_string()),
        }
        match remove_tree(root, root) {
            Ok(true) => report.removed.push(format!("directory {}", root.display())),
            Ok(false) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }

    let left = leftovers(lab)?;
    if left.is_empty() {
        Ok(report)
    } else {
        Err(CleanupError::Incomplete {
            lab: lab.to_string(),
            left,
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_tree_refuses_paths_outside_the_lab() {
        let root = names::data_dir("tlab");
        for p in ["/etc", "/var/lib/vpclab/other", "/var/lib/vpclab/tlab/../x"] {
            assert!(matches!(
                remove_tree(Path::new(p), &root),
                Err(CleanupError::OutsideLab { .. })
            ));
        }
        // The lab root itself must be below DATA_DIR or RUN_DIR, not one of them.
        assert!(matches!(
            remove_tree(Path::new(DATA_DIR), Path::new(DATA_DIR)),
            Err(CleanupError::OutsideLab { .. })
        ));
    }

    #[test]
    fn host_namespaces_are_never_targets() {
        let mut ids = NsIds::default();
        ids.add(Path::new("/proc/self/ns/net"));
        ids.add(Path::new("/proc/1/ns/mnt"));
        ids.add(Path::new("/etc/hostname"));
        assert!(ids.is_empty());
        assert!(processes_in(&ids).is_empty());
    }
}
