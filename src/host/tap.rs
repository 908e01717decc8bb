//! TAP devices with a virtio-net header and segmentation offloads, by direct ioctls.
//!
//! Contract:
//! - [`Tap::create`] opens `/dev/net/tun` and creates (in the calling thread's network
//!   namespace) a non-persistent TAP with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, sets the
//!   virtio-net header to [`VNET_HDR_LEN`] = 10 bytes (`TUNSETVNETHDRSZ`; no `num_buffers`),
//!   and enables `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6` plus `TUN_F_USO4 | TUN_F_USO6` when
//!   the kernel accepts them (kernels before 6.2 answer `EINVAL`; then the TAP is set up
//!   without USO). [`Tap::offloads`] says which flags were accepted.
//! - Every frame read or written is a 10-byte `virtio_net_hdr` followed by an Ethernet frame
//!   (see `crate::dataplane::vnet`). With TSO the namespace's kernel hands over GSO
//!   super-frames of up to 64 KiB: a read buffer must hold at least [`MIN_READ_BUF`] =
//!   65535 + 10 + 14 bytes, because the kernel truncates a frame to a short buffer *silently*.
//!   [`Tap::read`] refuses shorter buffers with `InvalidInput` rather than truncate.
//! - The device lives as long as the `Tap` (the fd; a fork in another thread holds a copy of
//!   the close-on-exec fd until its exec); it keeps working after it is moved into another
//!   namespace and renamed (see `host::link`), and disappears with that namespace.
//! - Reads and writes are one syscall each, no allocation; blocking unless
//!   [`Tap::set_nonblocking`] was called (then `WouldBlock` when there is nothing to read).
//! - [`Tap::create_queues`] with `n > 1` makes an `IFF_MULTI_QUEUE` device and opens `n`
//!   queues on it (one fd each, all opened before the device leaves this namespace, since a
//!   queue is attached by name). The kernel picks the queue a frame from the instance is read
//!   on by a symmetric hash of its flow, and remembers for a few seconds the queue each flow
//!   was last *written* on, so a flow's frames come back on the queue its replies went out
//!   on: a flow stays on one queue, in order.
//!
//! Why direct ioctls and not a crate: `docs/decisions/0006-tap-ioctls.md`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc;
use thiserror::Error;

/// Length of the virtio-net header in front of every frame (no `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
/// The smallest read buffer [`Tap::read`] accepts: the largest GSO frame (65535) plus the
/// virtio-net header plus an Ethernet header.
pub const MIN_READ_BUF: usize = 65535 + VNET_HDR_LEN + 14;
/// Longest interface name (IFNAMSIZ − 1).
pub const MAX_IFNAME: usize = 15;

/// `TUNSETOFFLOAD` flags (linux/if_tun.h).
pub mod offload {
    /// The kernel may hand over frames with a partial L4 checksum (`NEEDS_CSUM`).
    pub const CSUM: u32 = 0x01;
    /// TCP segmentation offload over IPv4.
    pub const TSO4: u32 = 0x02;
    /// TCP segmentation offload over IPv6.
    pub const TSO6: u32 = 0x04;
    /// TSO with ECN.
    pub const TSO_ECN: u32 = 0x08;
    /// UDP fragmentation offload (legacy).
    pub const UFO: u32 = 0x10;
    /// UDP segmentation offload over IPv4 (Linux 6.2+).
    pub const USO4: u32 = 0x20;
    /// UDP segmentation offload over IPv6 (Linux 6.2+).
    pub const USO6: u32 = 0x40;
    /// What [`super::Tap::create`] asks for first.
    pub const WANTED: u32 = CSUM | TSO4 | TSO6 | USO4 | USO6;
    /// What it falls back to when the kernel has no USO.
    pub const WITHOUT_USO: u32 = CSUM | TSO4 | TSO6;
}

const IFF_TAP: libc::c_short = 0x0002;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;

/// `struct ifreq` as TUNSETIFF reads and writes it: the name, then the flags (a `short`)
/// at the start of the 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

// TUNSETIFF is declared _IOW('T', 202, int) but takes a `struct ifreq *`: hence `_bad`. The
// kernel writes the chosen name back into the struct, so it takes a `*mut` (readwrite): a
// write through a pointer made from a shared reference would be undefined behaviour.
nix::ioctl_readwrite_bad!(
    /// `TUNSETIFF`: attaches the `/dev/net/tun` file `fd` to the interface named in `data`
    /// (created if missing) with `data`'s flags; the kernel writes the chosen name back.
    ///
    /// # Safety
    ///
    /// `fd` is open on `/dev/net/tun` and `data` points to an initialised, exclusively
    /// borrowed `IfReq` that outlives the call.
    tun_set_iff,
    nix::request_code_write!(b'T', 202, std::mem::size_of::<libc::c_int>()),
    IfReq
);
nix::ioctl_write_ptr_bad!(
    /// `TUNSETVNETHDRSZ`: sets the size of the virtio-net header in front of every frame.
    ///
    /// # Safety
    ///
    /// `fd` is a TAP's file and `data` points to an initialised `c_int`.
    tun_set_vnet_hdr_sz,
    nix::request_code_write!(b'T', 216, std::mem::size_of::<libc::c_int>()),
    libc::c_int
);
/// TUNSETOFFLOAD = _IOW('T', 208, unsigned int); its argument is passed by value.
const TUNSETOFFLOAD: libc::c_ulong =
    nix::request_code_write!(b'T', 208, std::mem::size_of::<libc::c_uint>()) as libc::c_ulong;

/// Errors of this module.
#[derive(Debug, Error)]
pub enum TapError {
    /// The requested name is empty, too long or contains a `/`, NUL or whitespace.
    #[error("TAP name {0:?} is invalid (1-15 bytes, no '/', NUL or whitespace)")]
    InvalidName(String),
    /// `/dev/net/tun` could not be opened.
    #[error("cannot open /dev/net/tun: {0} (is the tun module loaded, and are you root?)")]
    Open(io::Error),
    /// TUNSETIFF failed (EBUSY: a device of that name exists and is in use; EPERM: not root).
    #[error("TUNSETIFF {name}: {source}")]
    SetIff {
        /// The requested name.
        name: String,
        /// The errno.
        source: Errno,
    },
    /// TUNSETVNETHDRSZ failed.
    #[error("TUNSETVNETHDRSZ {VNET_HDR_LEN} on {name}: {source}")]
    VnetHdrSize {
        /// The device.
        name: String,
        /// The errno.
        source: Errno,
    },
    /// TUNSETOFFLOAD failed even without USO.
    #[error("TUNSETOFFLOAD {flags:#x} on {name}: {source}")]
    Offload {
        /// The device.
        name: String,
        /// The flags refused.
        flags: u32,
        /// The errno.
        source: Errno,
    },
    /// fcntl(O_NONBLOCK) failed.
    #[error("setting O_NONBLOCK on {name}: {source}")]
    NonBlocking {
        /// The device.
        name: String,
        /// The errno.
        source: Errno,
    },
}

/// An open TAP device (its queue's file descriptor).
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    offloads: u32,
}

impl Tap {
    /// Creates the TAP `name` (a `%d` in it lets the kernel pick a number) with the virtio-net
    /// header and offloads described in the module docs. Blocking until
    /// [`Tap::set_nonblocking`].
    pub fn create(name: &str) -> Result<Tap, TapError> {
        let mut queues = Tap::create_queues(name, 1)?;
        Ok(queues.remove(0))
    }

    /// Creates the TAP `name` with `n` queues (at least one; `IFF_MULTI_QUEUE` when `n > 1`),
    /// one `Tap` per queue, first queue first. See the module docs.
    pub fn create_queues(name: &str, n: usize) -> Result<Vec<Tap>, TapError> {
        let n = n.max(1);
        let flags = if n > 1 {
            IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
        } else {
            IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
        };
        let first = Tap::open_queue(name, flags, None)?;
        let mut queues = Vec::with_capacity(n);
        let name = first.name.clone();
        let offloads = first.offloads;
        queues.push(first);
        for _ in 1..n {
            queues.push(Tap::open_queue(&name, flags, Some(offloads))?);
        }
        Ok(queues)
    }

    /// Opens one queue of `name` (creating the device when it does not exist). `known`: the
    /// offloads already set on the device by its first queue (device-wide settings are not
    /// repeated).
    fn open_queue(name: &str, flags: libc::c_short, known: Option<u32>) -> Result<Tap, TapError> {
        if name.is_empty()
            || name.len() > MAX_IFNAME
            || name
                .bytes()
                .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace())
        {
            return Err(TapError::InvalidName(name.to_string()));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(TapError::Open)?;
        let mut req = IfReq {
            name: [0; 16],
            flags,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: the fd is open on /dev/net/tun and `req` is a properly sized, initialised
        // `struct ifreq` that outlives the call; the kernel writes the chosen name back into it.
        unsafe { tun_set_iff(file.as_raw_fd(), &mut req) }.map_err(|source| TapError::SetIff {
            name: name.to_string(),
            source,
        })?;
        let end = req.name.iter().position(|&b| b == 0).unwrap_or(16);
        let name = String::from_utf8_lossy(&req.name[..end]).into_owned();
        if let Some(offloads) = known {
            return Ok(Tap {
                file,
                name,
                offloads,
            });
        }

        let size: libc::c_int = VNET_HDR_LEN as libc::c_int;
        // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer, which points to `size`.
        unsafe { tun_set_vnet_hdr_sz(file.as_raw_fd(), &size) }.map_err(|source| {
            TapError::VnetHdrSize {
                name: name.clone(),
                source,
            }
        })?;

        let offloads = match set_offload(&file, offload::WANTED) {
            Ok(()) => offload::WANTED,
            Err(Errno::EINVAL) => match set_offload(&file, offload::WITHOUT_USO) {
                Ok(()) => offload::WITHOUT_USO,
                Err(source) => {
                    return Err(TapError::Offload {
                        name,
                        flags: offload::WITHOUT_USO,
                        source,
                    })
                }
            },
            Err(source) => {
                return Err(TapError::Offload {
                    name,
                    flags: offload::WANTED,
                    source,
                })
            }
        };
        Ok(Tap {
            file,
            name,
            offloads,
        })
    }

    /// The interface name in the namespace where it was created (it may be renamed later).
    pub fn ifname(&self) -> &str {
        &self.name
    }

    /// The `TUNSETOFFLOAD` flags the kernel accepted ([`offload`]).
    pub fn offloads(&self) -> u32 {
        self.offloads
    }

    /// Whether the kernel accepted UDP segmentation offload (USO4 and USO6).
    pub fn has_uso(&self) -> bool {
        self.offloads & (offload::USO4 | offload::USO6) == offload::USO4 | offload::USO6
    }

    /// Switches `O_NONBLOCK` on or off.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), TapError> {
        let err = |source| TapError::NonBlocking {
            name: self.name.clone(),
            source,
        };
        let flags = fcntl(&self.file, FcntlArg::F_GETFL).map_err(err)?;
        let mut flags = OFlag::from_bits_retain(flags);
        flags.set(OFlag::O_NONBLOCK, on);
        fcntl(&self.file, FcntlArg::F_SETFL(flags)).map_err(err)?;
        Ok(())
    }

    /// Reads one frame (virtio-net header + Ethernet frame) into `buf`, which must be at least
    /// [`MIN_READ_BUF`] bytes long (else `InvalidInput`, without reading).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.len() < MIN_READ_BUF {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TAP read buffer shorter than MIN_READ_BUF would truncate GSO frames silently",
            ));
        }
        (&self.file).read(buf)
    }

    /// Writes one frame (virtio-net header + Ethernet frame).
    pub fn write(&self, frame: &[u8]) -> io::Result<usize> {
        (&self.file).write(frame)
    }

    /// Writes one frame given in parts (the virtio-net header, then the Ethernet frame) with
    /// one `writev`, so a forwarded frame is never copied to put a header in front of it.
    pub fn write_parts(&self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&self.file).write_vectored(parts)
    }
}

fn set_offload(file: &File, flags: u32) -> Result<(), Errno> {
    // SAFETY: TUNSETOFFLOAD takes its flags by value as an `unsigned long`; no memory is
    // passed, and the fd is an open TUN/TAP queue.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETOFFLOAD as _, flags as libc::c_ulong) };
    Errno::result(r).map(drop)
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(
            std::mem::size_of::<IfReq>(),
            std::mem::size_of::<libc::ifreq>()
        );
    }

    #[test]
    fn ioctl_numbers() {
        assert_eq!(TUNSETOFFLOAD, 0x4004_54d0);
        assert_eq!(
            nix::request_code_write!(b'T', 202, std::mem::size_of::<libc::c_int>()),
            0x4004_54ca
        );
    }

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        for n in ["", "a/b", "0123456789abcdef", "a b"] {
            assert!(
                matches!(Tap::create(n), Err(TapError::InvalidName(_))),
                "{n:?}"
            );
        }
    }
}
