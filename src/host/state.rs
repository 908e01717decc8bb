//! The lab state file, `/run/vpclab/<lab>/state.json`: what a lab has created on the host.
//!
//! Contract:
//! - [`LabState::create`] writes the file *before* anything else of the lab exists, and fails
//!   when the lab already has one (a running lab, or leftovers: run `vpclab down` first).
//! - Callers [`LabState::record`] each thing *before* creating it, so that after a crash at
//!   any point the file lists a superset of what exists; `down` treats a recorded thing that
//!   is missing as already removed.
//! - Every update rewrites the whole file atomically (write to a temporary file, fsync,
//!   rename), so a reader never sees half a file.
//! - The file is advisory for cleanup, never a licence: `host::cleanup` only removes paths
//!   under the lab's own directories and namespaces with the lab's prefix, whatever the file
//!   says.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::names::{self, NameError};

/// Version of the file format.
pub const FORMAT_VERSION: u32 = 1;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum StateError {
    /// The lab name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The lab already has a state file.
    #[error("lab {lab} already has a state file {path}: it is running or was not cleaned up; run `vpclab down --name {lab}` first")]
    Exists {
        /// The lab.
        lab: String,
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not valid JSON of this format.
    #[error("{path} is not a vpclab state file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// One thing a lab creates on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// A named network namespace (`/run/netns/<name>`).
    Netns {
        /// Its name, `vl-<lab>-<instance>`.
        name: String,
    },
    /// A TAP created in the root namespace (it is renamed `eth0` once moved).
    Tap {
        /// Its root-namespace name.
        ifname: String,
    },
    /// A namespace file bind-mounted under `/run/vpclab/<lab>/ns/`.
    NsFile {
        /// The file.
        path: PathBuf,
    },
    /// A mount in the host's mount namespace.
    Mount {
        /// The mount point.
        path: PathBuf,
    },
    /// A file the lab created (a lab key pair's `.pem`); `down` removes it when it is under
    /// the lab's own directories.
    File {
        /// The file.
        path: PathBuf,
    },
    /// A directory the lab created (removed recursively by `down`).
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// A process the lab started.
    Process {
        /// Its pid.
        pid: u32,
        /// Its start time (field 22 of `/proc/<pid>/stat`), to tell it from a reused pid.
        start_time: u64,
    },
    /// An instance (its namespaces, files and processes).
    Instance {
        /// The instance name.
        name: String,
    },
}

/// The content of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabRecord {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The lab name.
    pub lab: String,
    /// The process that created the lab.
    pub pid: u32,
    /// When the lab was created (seconds since the Unix epoch).
    pub created_unix: u64,
    /// What was created (or was about to be), in order.
    pub resources: Vec<Resource>,
}

/// The state file of one lab, held by the process that builds it.
#[derive(Debug)]
pub struct LabState {
    path: PathBuf,
    record: LabRecord,
}

/// `/run/vpclab/<lab>/state.json`.
pub fn path(lab: &str) -> PathBuf {
    names::run_dir(lab).join("state.json")
}

/// The start time of a process (field 22 of `/proc/<pid>/stat`, in clock ticks since boot).
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

impl LabState {
    /// Creates `/run/vpclab/<lab>/` (mode 0700) and writes the state file with no resources.
    pub fn create(lab: &str) -> Result<LabState, StateError> {
        names::check_lab(lab)?;
        let dir = names::run_dir(lab);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| StateError::Io {
                what: "create directory",
                path: dir.clone(),
                source,
            })?;
        let path = path(lab);
        // Claim the file: two `up`s of one lab must not both proceed.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists {
                    lab: lab.to_string(),
                    path,
                })
            }
            Err(source) => {
                return Err(StateError::Io {
                    what: "create",
                    path,
                    source,
                })
            }
        }
        let state = LabState {
            path,
            record: LabRecord {
                version: FORMAT_VERSION,
                lab: lab.to_string(),
                pid: std::process::id(),
                created_unix: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                resources: Vec::new(),
            },
        };
        state.save()?;
        Ok(state)
    }

    /// Reads the lab's state file; `Ok(None)` when there is none.
    pub fn load(lab: &str) -> Result<Option<LabState>, StateError> {
        names::check_lab(lab)?;
        let path = path(lab);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    what: "read",
                    path,
                    source,
                })
            }
        };
        let record: LabRecord =
            serde_json::from_str(&text).map_err(|source| StateError::Parse {
                path: path.clone(),
                source,
            })?;
        Ok(Some(LabState { path, record }))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lab name.
    pub fn lab(&self) -> &str {
        &self.record.lab
    }

    /// What the file says.
    pub fn record(&self) -> &LabRecord {
        &self.record
    }

    /// Adds `r` (unless already listed) and saves. Call it before creating the thing.
    pub fn record_resource(&mut self, r: Resource) -> Result<(), StateError> {
        if !self.record.resources.contains(&r) {
            self.record.resources.push(r);
            self.save()?;
        }
        Ok(())
    }

    /// Adds each of `rs` not already listed, and saves once (when anything was added). Call it
    /// before creating those things.
    pub fn record_resources(
        &mut self,
        rs: impl IntoIterator<Item = Resource>,
    ) -> Result<(), StateError> {
        let before = self.record.resources.len();
        for r in rs {
            if !self.record.resources.contains(&r) {
                self.record.resources.push(r);
            }
        }
        if self.record.resources.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Removes `r` (if listed) and saves. Call it after the thing is gone.
    pub fn forget(&mut self, r: &Resource) -> Result<(), StateError> {
        let before = self.record.resources.len();
        self.record.resources.retain(|x| x != r);
        if self.record.resources.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Writes the file atomically.
    pub fn save(&self) -> Result<(), StateError> {
        let tmp = self.path.with_extension("json.tmp");
        let io = |what, source| StateError::Io {
            what,
            path: tmp.clone(),
            source,
        };
        let text =
            serde_json::to_string_pretty(&self.record).map_err(|source| StateError::Parse {
                path: self.path.clone(),
                source,
            })?;
        let mut f: File = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("create", e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(|e| io("write", e))?;
        fs::rename(&tmp, &self.path).map_err(|source| StateError::Io {
            what: "rename into place",
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip_as_tagged_json() {
        let r = LabRecord {
            version: FORMAT_VERSION,
            lab: "t1".into(),
            pid: 42,
            created_unix: 1,
            resources: vec![
                Resource::Netns {
                    name: "vl-t1-a".into(),
                },
                Resource::Process {
                    pid: 7,
                    start_time: 99,
                },
            ],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains(r#"{"kind":"netns","name":"vl-t1-a"}"#),
            "{text}"
        );
        let back: LabRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn start_time_of_self() {
        assert!(process_start_time(std::process::id()).is_some());
    }
}
