//! Names of a lab's host objects, and the checks that keep them unambiguous.
//!
//! Contract:
//! - A lab name is 1–32 characters of `[A-Za-z0-9_]` (no `-`), so that the namespace prefix
//!   `vl-<lab>-` of one lab is never a prefix of another lab's namespaces: `down` by prefix
//!   removes only what that lab created.
//! - An instance name is 1–64 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
//! - The namespace of an instance is `vl-<lab>-<instance>`; its TAP is created in the root
//!   namespace as `vl` + 13 hex digits of SHA-256(`<lab>/<instance>`) (15 bytes, IFNAMSIZ − 1),
//!   and renamed `eth0` once inside the namespace.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::{DATA_DIR, RUN_DIR};

/// Prefix of everything vpclab names on the host.
pub const PREFIX: &str = "vl";
/// Longest lab name.
pub const MAX_LAB_LEN: usize = 32;
/// Longest instance name.
pub const MAX_INSTANCE_LEN: usize = 64;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// A lab name breaks the rules.
    #[error("lab name {name:?} is invalid: {why} (use 1-{MAX_LAB_LEN} letters, digits or _)")]
    Lab {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An instance name breaks the rules.
    #[error(
        "instance name {name:?} is invalid: {why} (use 1-{MAX_INSTANCE_LEN} letters, digits, _ . -)"
    )]
    Instance {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Checks a lab name.
pub fn check_lab(lab: &str) -> Result<(), NameError> {
    let bad = |why| {
        Err(NameError::Lab {
            name: lab.to_string(),
            why,
        })
    };
    if lab.is_empty() {
        return bad("empty");
    }
    if lab.len() > MAX_LAB_LEN {
        return bad("too long");
    }
    if !lab.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return bad("only letters, digits and _ are allowed");
    }
    Ok(())
}

/// Checks an instance name.
pub fn check_instance(instance: &str) -> Result<(), NameError> {
    let bad = |why| {
        Err(NameError::Instance {
            name: instance.to_string(),
            why,
        })
    };
    if instance.is_empty() {
        return bad("empty");
    }
    if instance.len() > MAX_INSTANCE_LEN {
        return bad("too long");
    }
    if instance.starts_with('.') || instance.starts_with('-') {
        return bad("starts with . or -");
    }
    if !instance
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return bad("only letters, digits, _ . - are allowed");
    }
    Ok(())
}

/// `vl-<lab>-`: the prefix of every network namespace of the lab.
pub fn netns_prefix(lab: &str) -> String {
    format!("{PREFIX}-{lab}-")
}

/// `vl-<lab>-<instance>`: the network namespace of an instance.
pub fn netns(lab: &str, instance: &str) -> String {
    format!("{}{instance}", netns_prefix(lab))
}

/// The instance name of a namespace of `lab`, if `netns` is one.
pub fn instance_of_netns<'a>(lab: &str, netns: &'a str) -> Option<&'a str> {
    let rest = netns.strip_prefix(&netns_prefix(lab))?;
    check_instance(rest).ok().map(|()| rest)
}

/// The root-namespace name of the TAP of an instance (15 bytes).
pub fn tap(lab: &str, instance: &str) -> String {
    let digest = Sha256::digest(format!("{lab}/{instance}").as_bytes());
    let mut s = String::from(PREFIX);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(15);
    s
}

/// `/run/vpclab/<lab>`: the lab's run-time directory.
pub fn run_dir(lab: &str) -> PathBuf {
    PathBuf::from(RUN_DIR).join(lab)
}

/// `/run/vpclab/<lab>/ns`: where the instances' UTS and mount namespaces are bind-mounted.
pub fn ns_dir(lab: &str) -> PathBuf {
    run_dir(lab).join("ns")
}

/// `/run/vpclab/<lab>/flow-logs`: where the lab's flow logs are delivered, a file each.
pub fn flow_logs_dir(lab: &str) -> PathBuf {
    run_dir(lab).join("flow-logs")
}

/// `/var/lib/vpclab/<lab>`: the lab's data directory.
pub fn data_dir(lab: &str) -> PathBuf {
    PathBuf::from(DATA_DIR).join(lab)
}

/// `/var/lib/vpclab/<lab>/<instance>`: an instance's files.
pub fn instance_dir(lab: &str, instance: &str) -> PathBuf {
    data_dir(lab).join(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names() {
        assert!(check_lab("vpclab").is_ok());
        assert!(check_lab("t123_4").is_ok());
        assert!(check_lab("").is_err());
        assert!(check_lab("a-b").is_err());
        assert!(check_lab("a/b").is_err());
        assert!(check_lab(&"x".repeat(33)).is_err());
    }

    #[test]
    fn instance_names() {
        assert!(check_instance("PublicEC2").is_ok());
        assert!(check_instance("web-1.a").is_ok());
        assert!(check_instance("-x").is_err());
        assert!(check_instance(".x").is_err());
        assert!(check_instance("a/b").is_err());
        assert!(check_instance("a b").is_err());
    }

    #[test]
    fn prefixes_do_not_overlap_between_labs() {
        let ns = netns("lab1", "web");
        assert_eq!(ns, "vl-lab1-web");
        assert_eq!(instance_of_netns("lab1", &ns), Some("web"));
        assert_eq!(instance_of_netns("lab", &ns), None);
        assert_eq!(instance_of_netns("lab1", "vl-lab1-"), None);
    }

    #[test]
    fn tap_names_fit_ifnamsiz() {
        let t = tap("vpclab", "PrivateEC2");
        assert_eq!(t.len(), 15);
        assert!(t.starts_with("vl"));
        assert_ne!(t, tap("vpclab", "PublicEC2"));
        assert_eq!(t, tap("vpclab", "PrivateEC2"));
    }
}
