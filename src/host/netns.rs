//! Named network namespaces, laid out as `ip netns` lays them out.
//!
//! Contract:
//! - A namespace named `n` is the file `/run/netns/n` with the namespace bind-mounted on it,
//!   so `ip netns list`, `ip netns exec n …` and `ip -n n …` work on ours and
//!   [`delete`] works on theirs. `/run/netns` is made a shared mount first, exactly as
//!   iproute2 does (bind-mounted onto itself when it is not a mount point yet).
//! - [`create`] makes the namespace on a dedicated, short-lived thread (`unshare(CLONE_NEWNET)`
//!   there, then the bind mount of `/proc/thread-self/ns/net`); [`run_in`] runs a closure on
//!   a short-lived thread that `setns()` into the namespace. The caller's thread never changes
//!   namespace.
//! - [`delete`] is idempotent: it detaches the bind mount (lazily) and unlinks the file, and
//!   succeeds when neither exists. Unlinking also detaches copies of the mount that other
//!   mount namespaces may hold, so the namespace is freed once no process is left in it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use thiserror::Error;

use super::mounts::{self, MountsError};

/// Where iproute2 keeps named network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Errors of this module.
#[derive(Debug, Error)]
pub enum NetnsError {
    /// Empty, `.`/`..`, or containing `/` or NUL.
    #[error("network namespace name {0:?} is invalid")]
    InvalidName(String),
    /// `create` found the name taken.
    #[error("network namespace {0} already exists (`ip netns list`)")]
    Exists(String),
    /// The namespace file is missing.
    #[error("network namespace {0} does not exist")]
    NotFound(String),
    /// A file operation failed.
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
    #[error("{what} for network namespace {name}: {source}")]
    Sys {
        /// The syscall and its arguments.
        what: &'static str,
        /// The namespace.
        name: String,
        /// The errno.
        source: Errno,
    },
    /// Reading or changing mounts failed.
    #[error(transparent)]
    Mounts(#[from] MountsError),
    /// The helper thread could not be started.
    #[error("cannot start a thread for network namespace {name}: {source}")]
    Thread {
        /// The namespace.
        name: String,
        /// Why.
        source: io::Error,
    },
}

/// `/run/netns/<name>`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

fn check(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(NetnsError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Makes `/run/netns` exist and be a shared mount (iproute2's `netns_add` does the same).
/// [`create`] does it too; call it once before creating namespaces from several threads, so
/// that they do not each bind `/run/netns` onto itself.
pub fn prepare() -> Result<(), NetnsError> {
    prepare_run_dir()
}

fn prepare_run_dir() -> Result<(), NetnsError> {
    let dir = Path::new(NETNS_RUN_DIR);
    fs::create_dir_all(dir).map_err(|source| NetnsError::Io {
        what: "create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let sys = |what, source| NetnsError::Sys {
        what,
        name: NETNS_RUN_DIR.to_string(),
        source,
    };
    let make_shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match make_shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then share it.
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| sys("bind /run/netns onto itself", e))?;
            make_shared().map_err(|e| sys("make /run/netns shared", e))
        }
        Err(e) => Err(sys("make /run/netns shared", e)),
    }
}

/// Creates the named network namespace (its `lo` is down, as in any new namespace).
pub fn create(name: &str) -> Result<(), NetnsError> {
    check(name)?;
    prepare_run_dir()?;
    let file = path(name);
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&file)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(NetnsError::Exists(name.to_string()))
        }
        Err(source) => {
            return Err(NetnsError::Io {
                what: "create",
                path: file,
                source,
            })
        }
    }
    let target = file.clone();
    let owned = name.to_string();
    let result = std::thread::Builder::new()
        .name("vl-netns-new".into())
        .spawn(move || -> Result<(), NetnsError> {
            let sys = |what, source| NetnsError::Sys {
                what,
                name: owned.clone(),
                source,
            };
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| sys("unshare(CLONE_NEWNET)", e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| sys("bind mount of the new namespace", e))
        })
        .map_err(|source| NetnsError::Thread {
            name: name.to_string(),
            source,
        })
        .and_then(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
    if result.is_err() {
        let _ = fs::remove_file(&file);
    }
    result
}

/// Deletes the named namespace: detaches the bind mount and unlinks the file. Idempotent;
/// returns whether anything was there. Processes still inside keep the namespace alive
/// (unnamed) until they exit: kill them first (see `host::cleanup`).
pub fn delete(name: &str) -> Result<bool, NetnsError> {
    check(name)?;
    let file = path(name);
    let unmounted = mounts::umount_lazy(&file)?;
    let removed = match fs::remove_file(&file) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(source) => {
            return Err(NetnsError::Io {
                what: "remove",
                path: file,
                source,
            })
        }
    };
    Ok(unmounted || removed)
}

/// Whether `/run/netns/<name>` exists.
pub fn exists(name: &str) -> bool {
    check(name).is_ok() && path(name).exists()
}

/// Names in `/run/netns` that start with `prefix`, sorted.
pub fn list_with_prefix(prefix: &str) -> Result<Vec<String>, NetnsError> {
    let dir = Path::new(NETNS_RUN_DIR);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(NetnsError::Io {
                what: "list",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    Ok(names)
}

/// Opens the namespace file (for `setns`), close-on-exec.
pub fn open(name: &str) -> Result<File, NetnsError> {
    check(name)?;
    let file = path(name);
    File::open(&file).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            NetnsError::NotFound(name.to_string())
        } else {
            NetnsError::Io {
                what: "open",
                path: file,
                source,
            }
        }
    })
}

/// Runs `f` on a short-lived thread that has joined the namespace, and returns its result.
/// The calling thread's namespace is untouched. Processes spawned from `f` start in the
/// namespace. A panic in `f` is resumed on the caller.
pub fn run_in<F, T>(name: &str, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let ns = open(name)?;
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("vl-netns-run".into())
            .spawn_scoped(s, move || -> Result<T, NetnsError> {
                setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Sys {
                    what: "setns(CLONE_NEWNET)",
                    name: name.to_string(),
                    source,
                })?;
                drop(ns);
                Ok(f())
            })
            .map_err(|source| NetnsError::Thread {
                name: name.to_string(),
                source,
            })?;
        handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for n in ["", ".", "..", "a/b", "a\0b"] {
            assert!(matches!(check(n), Err(NetnsError::InvalidName(_))));
        }
        assert!(check("vl-lab-web").is_ok());
        assert_eq!(path("x"), PathBuf::from("/run/netns/x"));
    }
}
