//! Reading `/proc/.../mountinfo` and lazy unmounts (crate-private helpers of `host`).
//!
//! Contract: [`mount_points`] lists the mount points of one mount namespace (`/proc/self` is
//! the process's, `/proc/thread-self` the calling thread's), unescaped; [`entries`] gives the
//! same lines with the mount id and per-mount options; [`under`]
//! keeps mount points at or below a directory (path-component-wise, so `/run/vpclab/a` does not
//! match `/run/vpclab/ab`); [`make_private_recursively`] cuts a new mount namespace off from
//! propagation; [`umount_lazy`] detaches a mount and treats "not mounted" and "no
//! such file" as success, so callers can be idempotent.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};
use thiserror::Error;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum MountsError {
    /// The mountinfo file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// umount2 failed for another reason than "not mounted".
    #[error("umount {path}: {source}")]
    Umount {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: Errno,
    },
}

/// Mount points listed in `mountinfo` (`/proc/self/mountinfo` or `/proc/thread-self/mountinfo`).
pub fn mount_points(mountinfo: &str) -> Result<Vec<PathBuf>, MountsError> {
    Ok(entries(mountinfo)?.into_iter().map(|e| e.point).collect())
}

/// One line of a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount id (field 1), as [`mount_id_of`] reports it.
    pub id: u64,
    /// The mount point (field 5), unescaped.
    pub point: PathBuf,
    /// The per-mount options (field 6: `rw`/`ro`, `nosuid`, `nodev`, `noexec`, atime flags).
    pub options: Vec<String>,
}

/// The lines of `mountinfo`, in the kernel's order (a mount stacked on a path comes after the
/// one it covers).
pub fn entries(mountinfo: &str) -> Result<Vec<MountEntry>, MountsError> {
    let text = std::fs::read_to_string(mountinfo).map_err(|source| MountsError::Read {
        path: mountinfo.to_string(),
        source,
    })?;
    Ok(parse(&text))
}

/// The entries of mountinfo text (lines too short to be mountinfo are skipped).
fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some(MountEntry {
                id: f.first()?.parse().ok()?,
                point: PathBuf::from(unescape(f.get(4)?)),
                options: f.get(5)?.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points at or below `dir`, deepest first (the order to unmount them in).
pub fn under(points: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = points
        .iter()
        .filter(|p| p.starts_with(dir))
        .cloned()
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

/// Whether `path` is a mount point in the process's mount namespace.
pub fn is_mount_point(path: &Path) -> Result<bool, MountsError> {
    Ok(mount_points("/proc/self/mountinfo")?
        .iter()
        .any(|p| p == path))
}

/// Makes every mount of the calling thread's mount namespace private, recursively: nothing
/// mounted afterwards propagates to (or from) the namespace it was copied from. Call it right
/// after `unshare(CLONE_NEWNS)`.
pub fn make_private_recursively() -> Result<(), Errno> {
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// Detaches the mount at `path` (MNT_DETACH); "not mounted" or "no such file" is success.
/// Returns whether something was unmounted.
pub fn umount_lazy(path: &Path) -> Result<bool, MountsError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) => Ok(true),
        Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(false),
        Err(source) => Err(MountsError::Umount {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Detaches every mount at or below `dir` in the process's mount namespace (deepest first,
/// each as often as it is stacked). Returns the mount points detached.
pub fn umount_all_under(dir: &Path) -> Result<Vec<PathBuf>, MountsError> {
    umount_all_under_in("/proc/self/mountinfo", dir)
}

/// [`umount_all_under`] for the mount namespace whose `mountinfo` is given (use
/// `/proc/thread-self/mountinfo` on a thread that has its own mount namespace).
pub fn umount_all_under_in(mountinfo: &str, dir: &Path) -> Result<Vec<PathBuf>, MountsError> {
    let mut done = Vec::new();
    // Stacked mounts show up once per layer; a few rounds take them all.
    for _ in 0..8 {
        let left = under(&mount_points(mountinfo)?, dir);
        if left.is_empty() {
            break;
        }
        for p in left {
            if umount_lazy(&p)? {
                done.push(p);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let text = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /run/vpclab/x/ns rw - tmpfs tmpfs rw\n";
        let p = parse(text);
        assert_eq!(p[0].point, PathBuf::from("/mnt/a b"));
        assert_eq!(p[0].id, 36);
        assert_eq!(p[0].options, ["rw", "noatime"]);
        assert_eq!(p[1].point, PathBuf::from("/run/vpclab/x/ns"));
    }

    #[test]
    fn under_is_component_wise_and_deepest_first() {
        let points: Vec<PathBuf> = [
            "/run/vpclab/a",
            "/run/vpclab/a/ns/i.mnt",
            "/run/vpclab/ab",
            "/",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let u = under(&points, Path::new("/run/vpclab/a"));
        assert_eq!(
            u,
            vec![
                PathBuf::from("/run/vpclab/a/ns/i.mnt"),
                PathBuf::from("/run/vpclab/a")
            ]
        );
    }
}
