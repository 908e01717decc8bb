//! An instance's `eth0`: move a TAP into the instance's network namespace and configure it.
//!
//! Contract:
//! - [`attach`] takes a TAP by its root-namespace name and, in this order: turns IPv6 off in
//!   the namespace when asked (`disable_ipv6` on `all` and `default`, written from a thread
//!   inside the namespace, before the device arrives, so it never sends router solicitations),
//!   moves the TAP into the namespace, renames it `eth0`, sets its MAC and MTU (9001 by
//!   default), adds the IPv4 address/prefix, brings `lo` and `eth0` up, and adds the default
//!   route via the gateway when one is given. Nothing is added to the root namespace.
//! - Configuration goes through iproute2 (`ip`, a required dependency of vpclab): one
//!   `ip link set … netns …` in the root namespace, then one `ip -n <ns> -batch -` for the
//!   rest. Why not netlink from Rust: this is set-up, not the packet path (two process spawns
//!   per instance, a few milliseconds), `ip` is needed anyway for users and tests, and its
//!   error messages are the ones users know. The netlink crates would add a tokio runtime
//!   (rtnetlink) or hundreds of lines of message building for no measurable gain.
//! - Every failure names the command line and carries `ip`'s stderr.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use thiserror::Error;

use super::netns::{self, NetnsError};

/// The MTU of an instance's `eth0` (what EC2 uses inside a VPC).
pub const DEFAULT_MTU: u32 = 9001;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum LinkError {
    /// `ip` is not installed.
    #[error("iproute2's `ip` was not found on PATH or in /usr/sbin, /sbin, /usr/bin, /bin (install iproute2: netns-scripts/install-deps.sh)")]
    NoIp,
    /// `ip` could not be started.
    #[error("`{cmd}` could not be run: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// Why.
        source: io::Error,
    },
    /// `ip` exited with an error.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line (and, for a batch, its input).
        cmd: String,
        /// How it exited.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The interface's drop counters could not be opened inside the namespace.
    #[error("opening the drop counters in network namespace {netns}: {what}: {source}")]
    Counters {
        /// The namespace.
        netns: String,
        /// The step (a call or a sysfs path).
        what: String,
        /// Why.
        source: io::Error,
    },
    /// A sysctl could not be written inside the namespace.
    #[error("writing {path} in network namespace {netns}: {source}")]
    Sysctl {
        /// The namespace.
        netns: String,
        /// The /proc/sys file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The prefix length is over 32.
    #[error("prefix length /{0} is not an IPv4 prefix length")]
    PrefixLen(u8),
    /// Entering the namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

/// How to configure an instance's `eth0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthConfig {
    /// The ENI's MAC (locally administered, `02:…`).
    pub mac: [u8; 6],
    /// The private IPv4 address.
    pub addr: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The default gateway (the subnet router, `.1`); no default route when `None`.
    pub gateway: Option<Ipv4Addr>,
    /// MTU of `eth0`.
    pub mtu: u32,
    /// Turn IPv6 off in the namespace (the default: templates without IPv6).
    pub disable_ipv6: bool,
}

impl EthConfig {
    /// `eth0` with this MAC and address, MTU 9001, IPv6 off, no gateway yet.
    pub fn new(mac: [u8; 6], addr: Ipv4Addr, prefix_len: u8) -> EthConfig {
        EthConfig {
            mac,
            addr,
            prefix_len,
            gateway: None,
            mtu: DEFAULT_MTU,
            disable_ipv6: true,
        }
    }

    /// The same with a default route via `gw`.
    pub fn with_gateway(mut self, gw: Ipv4Addr) -> EthConfig {
        self.gateway = Some(gw);
        self
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The path of iproute2's `ip`.
pub fn ip_binary() -> Result<PathBuf, LinkError> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let fixed = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from);
    from_path
        .into_iter()
        .chain(fixed)
        .map(|d| d.join("ip"))
        .find(|p| p.is_file())
        .ok_or(LinkError::NoIp)
}

/// Runs `ip <args…>` (with `input` on stdin, e.g. for `-batch -`); returns its stdout.
pub fn ip(args: &[&str], input: Option<&str>) -> Result<String, LinkError> {
    let bin = ip_binary()?;
    let mut cmd_line = format!("ip {}", args.join(" "));
    if let Some(i) = input {
        cmd_line.push_str(" <<EOF\n");
        cmd_line.push_str(i);
        cmd_line.push_str("EOF");
    }
    let mut child = Command::new(bin)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LinkError::Spawn {
            cmd: cmd_line.clone(),
            source,
        })?;
    if let (Some(i), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(i.as_bytes())
            .map_err(|source| LinkError::Spawn {
                cmd: cmd_line.clone(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| LinkError::Spawn {
            cmd: cmd_line.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LinkError::Command {
            cmd: cmd_line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `ip -batch` lines that configure `eth0` once `tap` is inside the namespace.
pub fn batch(tap: &str, cfg: &EthConfig) -> Result<String, LinkError> {
    if cfg.prefix_len > 32 {
        return Err(LinkError::PrefixLen(cfg.prefix_len));
    }
    let mut b = String::new();
    let _ = writeln!(b, "link set dev {tap} name eth0");
    let _ = writeln!(
        b,
        "link set dev eth0 address {} mtu {}",
        mac_string(&cfg.mac),
        cfg.mtu
    );
    let _ = writeln!(b, "addr add {}/{} dev eth0", cfg.addr, cfg.prefix_len);
    let _ = writeln!(b, "link set dev lo up");
    let _ = writeln!(b, "link set dev eth0 up");
    if let Some(gw) = cfg.gateway {
        let _ = writeln!(b, "route add default via {gw} dev eth0");
    }
    Ok(b)
}

/// Moves the TAP named `tap` (in the root namespace) into the named namespace and configures
/// it as `eth0` (see the module docs).
pub fn attach(tap: &str, netns: &str, cfg: &EthConfig) -> Result<(), LinkError> {
    let lines = batch(tap, cfg)?;
    if cfg.disable_ipv6 {
        disable_ipv6(netns)?;
    }
    ip(&["link", "set", "dev", tap, "netns", netns], None)?;
    ip(&["-n", netns, "-batch", "-"], Some(&lines))?;
    Ok(())
}

/// Brings `lo` up in the namespace (for namespaces without an `eth0`).
pub fn loopback_up(netns: &str) -> Result<(), LinkError> {
    ip(&["-n", netns, "link", "set", "dev", "lo", "up"], None).map(drop)
}

/// Writes `1` to `net.ipv6.conf.{all,default}.disable_ipv6` inside the namespace. A kernel
/// without IPv6 has no such files: that is success.
pub fn disable_ipv6(netns: &str) -> Result<(), LinkError> {
    netns::run_in(netns, || -> Result<(), LinkError> {
        for which in ["all", "default"] {
            let path = format!("/proc/sys/net/ipv6/conf/{which}/disable_ipv6");
            match std::fs::write(&path, b"1\n") {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LinkError::Sysctl {
                        netns: netns.to_string(),
                        path,
                        source,
                    })
                }
            }
        }
        Ok(())
    })?
}

/// The kernel's drop counters of one interface inside a network namespace, kept open so that
/// reading them costs two `pread`s and no namespace switch: the frames the kernel could not
/// queue on a TAP because the router did not read them in time (`tx_dropped`, what an
/// instance sent that never reached the router) and those it dropped on receive.
#[derive(Debug)]
pub struct LinkDrops {
    tx: std::fs::File,
    rx: std::fs::File,
}

impl LinkDrops {
    /// The two counters' sum now (0 if a read fails).
    pub fn read(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let one = |f: &std::fs::File| {
            let mut buf = [0u8; 32];
            // A sysfs attribute is produced again on each read at offset 0.
            f.read_at(&mut buf, 0)
                .ok()
                .and_then(|n| {
                    std::str::from_utf8(&buf[..n])
                        .ok()?
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
        };
        one(&self.tx) + one(&self.rx)
    }
}

/// Opens `ifname`'s drop counters in `netns` (see [`LinkDrops`]): on a thread inside the
/// namespace, in a mount namespace of its own, a sysfs of that network namespace is mounted
/// on `/sys` and the two statistics files opened; the files stay valid after the thread and
/// its mount namespace are gone.
pub fn open_drop_counters(netns: &str, ifname: &str) -> Result<LinkDrops, LinkError> {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    let sys = |what: &str, source: io::Error| LinkError::Counters {
        netns: netns.to_string(),
        what: what.to_string(),
        source,
    };
    netns::run_in(netns, || -> Result<LinkDrops, LinkError> {
        unshare(CloneFlags::CLONE_NEWNS).map_err(|e| sys("unshare(CLONE_NEWNS)", e.into()))?;
        super::mounts::make_private_recursively().map_err(|e| sys("make / private", e.into()))?;
        mount(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| sys("mount sysfs on /sys", e.into()))?;
        let open = |name: &str| {
            let path = format!("/sys/class/net/{ifname}/statistics/{name}");
            std::fs::File::open(&path).map_err(|e| sys(&path, e))
        };
        Ok(LinkDrops {
            tx: open("tx_dropped")?,
            rx: open("rx_dropped")?,
        })
    })?
}

/// Whether a link of that name exists in the root namespace (`None`) or a named one.
pub fn exists(netns: Option<&str>, ifname: &str) -> bool {
    let mut args = Vec::new();
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "show", "dev", ifname]);
    ip(&args, None).is_ok()
}

/// Deletes a link of the root namespace if it exists; returns whether it did.
pub fn delete_root_link(ifname: &str) -> Result<bool, LinkError> {
    if !exists(None, ifname) {
        return Ok(false);
    }
    match ip(&["link", "del", "dev", ifname], None) {
        Ok(_) => Ok(true),
        // Gone in between (a TAP disappears when its owner closes it).
        Err(LinkError::Command { .. }) if !exists(None, ifname) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_formatted() {
        assert_eq!(
            mac_string(&[0x02, 0, 0x0a, 0xff, 0x10, 1]),
            "02:00:0a:ff:10:01"
        );
    }

    #[test]
    fn batch_lines() {
        let cfg = EthConfig::new([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 1, 109), 24)
            .with_gateway(Ipv4Addr::new(10, 0, 1, 1));
        let b = batch("vlabc", &cfg).unwrap();
        assert_eq!(
            b,
            "link set dev vlabc name eth0\n\
             link set dev eth0 address 02:00:00:00:00:01 mtu 9001\n\
             addr add 10.0.1.109/24 dev eth0\n\
             link set dev lo up\n\
             link set dev eth0 up\n\
             route add default via 10.0.1.1 dev eth0\n"
        );
        let mut bad = cfg.clone();
        bad.prefix_len = 33;
        assert!(matches!(batch("x", &bad), Err(LinkError::PrefixLen(33))));
    }
}
