//! Lab key pairs: what a template's `KeyName` gives the user, as EC2's `create-key-pair` does.
//!
//! Contract:
//! - [`ensure`] makes the key pair `<keyname>` of a lab once: an RSA-2048 key in PEM form (the
//!   `-----BEGIN RSA PRIVATE KEY-----` file EC2 hands out), written by the host's `ssh-keygen`
//!   to `/var/lib/vpclab/<lab>/<keyname>.pem`, mode 0600, owner root. The file is recorded in
//!   the lab's state file (with the lab's data directory) *before* it is created, so `down`
//!   removes it. It returns the public key line `ssh-rsa AAAA… <keyname>` (EC2 puts the key
//!   name as the comment), for `Instance::authorize_key`.
//! - Idempotent within a lab: when the `.pem` exists, nothing is generated and the public key
//!   is derived from it (`ssh-keygen -y`), so every instance gets the same key. The file
//!   appears atomically (generated in a private temporary directory, then hard-linked into
//!   place), so a concurrent `ensure` of the same key never sees half a key and never
//!   replaces one that another caller already returned.
//! - Key names are those EC2 accepts that are also one safe file name: 1–251 printable ASCII
//!   characters (so `<keyname>.pem` fits in 255 bytes), no `/`, not starting with `.`, no
//!   leading or trailing space.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use thiserror::Error;

use super::names::{self, NameError};
use super::state::{LabState, Resource, StateError};

/// Longest key name (`<keyname>.pem` must fit in one 255-byte file name).
pub const MAX_KEY_NAME_LEN: usize = 251;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum KeysError {
    /// The lab name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The key name cannot be a file name.
    #[error("key pair name {name:?} is invalid: {why} (use 1-{MAX_KEY_NAME_LEN} printable ASCII characters, no /)")]
    KeyName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The host has no `ssh-keygen`.
    #[error("ssh-keygen is not installed (openssh-client): it makes the lab's key pair {name}; run netns-scripts/install-deps.sh")]
    NoKeygen {
        /// The key pair.
        name: String,
    },
    /// Something other than a key file is in the way.
    #[error("{path} exists and is not a regular file: remove it or run `vpclab down` first")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
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
    /// `ssh-keygen` failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// How it ended.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The state file could not be updated.
    #[error(transparent)]
    State(#[from] StateError),
}

/// A lab key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The key name (the template's `KeyName`).
    pub name: String,
    /// The private key file, `/var/lib/vpclab/<lab>/<keyname>.pem`.
    pub private_key: PathBuf,
    /// The public key line, `ssh-rsa AAAA… <keyname>`.
    pub public_key: String,
}

/// Checks a key pair name (see the module docs).
pub fn check_key_name(name: &str) -> Result<(), KeysError> {
    let bad = |why| {
        Err(KeysError::KeyName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_KEY_NAME_LEN {
        return bad("too long");
    }
    if !name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return bad("only printable ASCII is allowed");
    }
    if name.contains('/') {
        return bad("contains /");
    }
    if name.starts_with('.') {
        return bad("starts with .");
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return bad("leading or trailing space");
    }
    Ok(())
}

/// `/var/lib/vpclab/<lab>/<keyname>.pem`.
pub fn key_file(lab: &str, key_name: &str) -> PathBuf {
    names::data_dir(lab).join(format!("{key_name}.pem"))
}

/// The host's `ssh-keygen`, if it has one.
pub fn ssh_keygen() -> Option<&'static Path> {
    ["/usr/bin/ssh-keygen", "/bin/ssh-keygen"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KeysError {
    let path = path.to_path_buf();
    move |source| KeysError::Io { what, path, source }
}

/// Runs `ssh-keygen args…`; its stdout on success.
fn keygen(keygen: &Path, args: &[&std::ffi::OsStr]) -> Result<String, KeysError> {
    let shown = format!(
        "ssh-keygen {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new(keygen)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("run", keygen))?;
    if !out.status.success() {
        return Err(KeysError::Command {
            cmd: shown,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `<type> <base64> <keyname>` from an OpenSSH public key line (whatever its comment).
fn public_line(text: &str, key_name: &str) -> Option<String> {
    let mut f = text.split_whitespace();
    let (kind, blob) = (f.next()?, f.next()?);
    Some(format!("{kind} {blob} {key_name}"))
}

/// The public key of an existing private key file.
fn public_of(keygen_bin: &Path, pem: &Path, key_name: &str) -> Result<String, KeysError> {
    let out = keygen(keygen_bin, &["-y".as_ref(), "-f".as_ref(), pem.as_os_str()])?;
    public_line(&out, key_name).ok_or_else(|| KeysError::Command {
        cmd: format!("ssh-keygen -y -f {}", pem.display()),
        status: "exit status: 0".into(),
        stderr: format!("no public key in its output {out:?}"),
    })
}

/// Makes (once) and returns the lab key pair `key_name` of the lab whose state file is
/// `state` (see the module docs).
pub fn ensure(state: &mut LabState, key_name: &str) -> Result<KeyPair, KeysError> {
    check_key_name(key_name)?;
    let lab = state.lab().to_string();
    names::check_lab(&lab)?;
    let keygen_bin = ssh_keygen().ok_or_else(|| KeysError::NoKeygen {
        name: key_name.to_string(),
    })?;
    let data = names::data_dir(&lab);
    let pem = key_file(&lab, key_name);
    state.record_resource(Resource::Dir { path: data.clone() })?;
    state.record_resource(Resource::File { path: pem.clone() })?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data)
        .map_err(io_err("create directory", &data))?;
    let pair = |public_key| KeyPair {
        name: key_name.to_string(),
        private_key: pem.clone(),
        public_key,
    };
    match fs::symlink_metadata(&pem) {
        Ok(m) if m.file_type().is_file() => {
            return Ok(pair(public_of(keygen_bin, &pem, key_name)?));
        }
        Ok(_) => return Err(KeysError::NotAFile { path: pem }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(KeysError::Io {
                what: "stat",
                path: pem,
                source,
            })
        }
    }

    // Generate in a private directory of the lab, then link into place: the .pem appears
    // whole, and only if no other caller's appeared first.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let tmp = data.join(format!(
        ".keygen-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(io_err("create directory", &tmp))?;
    let result = generate_into(keygen_bin, &tmp, &pem, key_name);
    let _ = fs::remove_dir_all(&tmp);
    Ok(pair(result?))
}

/// Generates the key in `tmp`, links it to `pem` and returns its public key line (or the
/// public key of the `.pem` another caller linked first).
fn generate_into(
    keygen_bin: &Path,
    tmp: &Path,
    pem: &Path,
    key_name: &str,
) -> Result<String, KeysError> {
    let key = tmp.join("key");
    keygen(
        keygen_bin,
        &[
            "-q".as_ref(),
            "-t".as_ref(),
            "rsa".as_ref(),
            "-b".as_ref(),
            "2048".as_ref(),
            "-m".as_ref(),
            "PEM".as_ref(),
            "-N".as_ref(),
            "".as_ref(),
            "-C".as_ref(),
            key_name.as_ref(),
            "-f".as_ref(),
            key.as_os_str(),
        ],
    )?;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).map_err(io_err("chmod", &key))?;
    match fs::hard_link(&key, pem) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return public_of(keygen_bin, pem, key_name);
        }
        Err(source) => {
            return Err(KeysError::Io {
                what: "link into place",
                path: pem.to_path_buf(),
                source,
            })
        }
    }
    let public = key.with_extension("pub");
    let text = fs::read_to_string(&public).map_err(io_err("read", &public))?;
    match public_line(&text, key_name) {
        Some(line) => Ok(line),
        None => public_of(keygen_bin, pem, key_name),
    }
}

/// Whether `path` is a private key only its owner can read (mode 0600 or stricter).
pub fn is_private(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o077 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_checked() {
        for ok in ["CloudNeta", "my key", "lab-key_1.x", "a"] {
            assert!(check_key_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", ".hidden", " x", "x ", "tab\tname", "é", ".."] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_key_name(&"k".repeat(MAX_KEY_NAME_LEN)).is_ok());
        assert!(check_key_name(&"k".repeat(MAX_KEY_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn public_lines_carry_the_key_name() {
        assert_eq!(
            public_line("ssh-rsa AAAAB3Nza root@host\n", "lab key").as_deref(),
            Some("ssh-rsa AAAAB3Nza lab key")
        );
        assert_eq!(
            public_line("ssh-rsa AAAAB3Nza\n", "k").as_deref(),
            Some("ssh-rsa AAAAB3Nza k")
        );
        assert_eq!(public_line("", "k"), None);
    }

    #[test]
    fn key_files_live_in_the_lab_data_dir() {
        assert_eq!(
            key_file("lab1", "CloudNeta"),
            PathBuf::from("/var/lib/vpclab/lab1/CloudNeta.pem")
        );
    }
}
