//! The Internet checksum: full computation (RFC 1071), incremental update
//! (RFC 1624 eqn. 3), and the partial (pseudo-header) checksum that Linux
//! hands out for `NEEDS_CSUM` frames.
//!
//! Contract:
//! - A *sum* ([`ones_sum`], [`pseudo_v4`], …) is the folded one's-complement
//!   sum, not complemented. A *checksum* is its complement, as stored in a
//!   header. A buffer whose checksum is right sums to `0xffff`.
//! - [`update16`]/[`update32`] patch a stored checksum for a field change
//!   without touching the rest of the data: `HC' = ~(~HC + ~m + m')`.
//! - For a `NEEDS_CSUM` frame the L4 checksum field holds the pseudo-header
//!   *sum* (non-complemented). An address or port change there must use
//!   [`update_partial16`]/[`update_partial32`] (Linux
//!   `inet_proto_csum_replace4(.., pseudohdr = true)` on a `CHECKSUM_PARTIAL`
//!   skb); [`complete_partial`] then does what the kernel's
//!   `skb_checksum_help` does.
//! - UDP: a computed checksum of 0 is sent as `0xffff`, and a stored 0 over
//!   IPv4 means "no checksum" and stays 0 through updates.
//! - Functions that write into a packet check all bounds first: on error the
//!   packet is unchanged. Nothing here allocates or panics on malformed input.

use core::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

use super::wire::{l4_checksum_at, proto, Ipv4};

/// Errors of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ChecksumError {
    /// Not a well-formed IPv4 header (version, IHL, or too short).
    #[error("not a well-formed IPv4 header")]
    BadIpv4Header,
    /// The packet ends before the field to patch.
    #[error("packet truncated before the checksum field")]
    Truncated,
    /// TTL is 0 or 1: the packet must not be forwarded.
    #[error("TTL {0} expired in transit")]
    TtlExpired(u8),
    /// Not TCP or UDP: no L4 checksum with a pseudo-header to fill.
    #[error("IP protocol {0} has no pseudo-header checksum")]
    UnsupportedProtocol(u8),
    /// `csum_start + csum_offset + 2` is beyond the frame.
    #[error("checksum position {start}+{offset} outside a {len}-byte frame")]
    OutOfRange {
        /// `csum_start`.
        start: usize,
        /// `csum_offset`.
        offset: usize,
        /// Frame length.
        len: usize,
    },
}

/// Folds a 64-bit accumulator of 16-bit words into 16 bits (end-around carry).
const fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// One's-complement addition of two sums.
pub const fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// The folded one's-complement sum of `data` as big-endian 16-bit words, an
/// odd last byte padded with zero (RFC 1071). Not complemented.
///
/// Sums native-endian 32-bit words into a 64-bit accumulator and swaps once
/// at the end (the sum is byte-order independent, RFC 1071 §2(B)).
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        if let &[a, b, c, d] = w {
            acc += u64::from(u32::from_ne_bytes([a, b, c, d]));
        }
    }
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    if let Some(dst) = tail.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    acc += u64::from(u32::from_ne_bytes(tail));
    u16::from_be(fold(acc))
}

/// The Internet checksum of `data`: the complement of [`ones_sum`].
pub fn checksum(data: &[u8]) -> u16 {
    !ones_sum(data)
}

/// The pseudo-header sum for TCP/UDP over IPv4 (not complemented).
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    let acc = u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff)
        + u64::from(protocol)
        + u64::from(l4_len);
    fold(acc)
}

/// The pseudo-header sum for an upper layer over IPv6 (not complemented).
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4_len: u32) -> u16 {
    let mut acc: u64 =
        u64::from(next_header) + u64::from(l4_len >> 16) + u64::from(l4_len & 0xffff);
    for seg in src.segments().iter().chain(dst.segments().iter()) {
        acc += u64::from(*seg);
    }
    fold(acc)
}

/// RFC 1624 eqn. 3: the checksum `check` after a 16-bit field changed from
/// `old` to `new`.
pub const fn update16(check: u16, old: u16, new: u16) -> u16 {
    !add(add(!check, !old), new)
}

/// [`update16`] for a 32-bit field (an IPv4 address).
pub const fn update32(check: u16, old: u32, new: u32) -> u16 {
    let c = update16(check, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// Updates a *partial* checksum field (pseudo-header sum, non-complemented)
/// for a 16-bit change: `P' = P + ~m + m'`.
pub const fn update_partial16(partial: u16, old: u16, new: u16) -> u16 {
    add(add(partial, !old), new)
}

/// [`update_partial16`] for a 32-bit field.
pub const fn update_partial32(partial: u16, old: u32, new: u32) -> u16 {
    let p = update_partial16(partial, (old >> 16) as u16, (new >> 16) as u16);
    update_partial16(p, old as u16, new as u16)
}

/// A computed UDP checksum as sent: 0 becomes `0xffff` (0 means "none").
pub const fn udp_wire(computed: u16) -> u16 {
    if computed == 0 {
        0xffff
    } else {
        computed
    }
}

/// What the L4 checksum field of a packet holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Csum {
    /// A complete checksum (or UDP 0 = none).
    Full,
    /// A `NEEDS_CSUM` partial sum: the pseudo-header sum, non-complemented.
    Partial,
}

/// Which IPv4 address to rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrField {
    /// The source address (SNAT).
    Src,
    /// The destination address (DNAT).
    Dst,
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    match buf.get(at..at.checked_add(2)?) {
        Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

fn put16(buf: &mut [u8], at: usize, v: u16) -> Result<(), ChecksumError> {
    let end = at.checked_add(2).ok_or(ChecksumError::Truncated)?;
    buf.get_mut(at..end)
        .ok_or(ChecksumError::Truncated)?
        .copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Computes and stores the header checksum of the IPv4 header at the front
/// of `ip` (length from its IHL). Returns the checksum.
pub fn fill_ipv4_header_checksum(ip: &mut [u8]) -> Result<u16, ChecksumError> {
    let mut h = Ipv4::new_checked(ip).ok_or(ChecksumError::BadIpv4Header)?;
    h.set_checksum(0);
    let c = checksum(h.header());
    h.set_checksum(c);
    Ok(c)
}

/// Whether the IPv4 header at the front of `ip` has a correct checksum.
pub fn ipv4_header_checksum_ok(ip: &[u8]) -> bool {
    Ipv4::new_checked(ip).is_some_and(|h| ones_sum(h.header()) == 0xffff)
}

/// Decrements the TTL of the IPv4 header at the front of `ip` and patches its
/// checksum incrementally. Returns the new TTL. A TTL of 0 or 1 is an error
/// ([`ChecksumError::TtlExpired`]) and leaves the packet unchanged.
pub fn ipv4_decrement_ttl(ip: &mut [u8]) -> Result<u8, ChecksumError> {
    let mut h = Ipv4::new_checked(ip).ok_or(ChecksumError::BadIpv4Header)?;
    let (ttl, protocol) = (h.ttl(), h.protocol());
    if ttl <= 1 {
        return Err(ChecksumError::TtlExpired(ttl));
    }
    // TTL and protocol are one 16-bit word of the header.
    let old = u16::from_be_bytes([ttl, protocol]);
    let new = u16::from_be_bytes([ttl - 1, protocol]);
    h.set_checksum(update16(h.checksum(), old, new));
    h.set_ttl(ttl - 1);
    Ok(ttl - 1)
}

/// Rewrites the source or destination address of the IPv4 packet at the
/// front of `ip`, patching the header checksum and — for TCP and UDP in a
/// first (or unfragmented) fragment — the L4 checksum, whose pseudo-header
/// covers the address. `mode` says what that L4 field holds. Returns the old
/// address. On error the packet is unchanged.
pub fn ipv4_rewrite_addr(
    ip: &mut [u8],
    which: AddrField,
    new: Ipv4Addr,
    mode: L4Csum,
) -> Result<Ipv4Addr, ChecksumError> {
    let mut h = Ipv4::new_checked(ip).ok_or(ChecksumError::BadIpv4Header)?;
    let first_fragment = h.frag_offset() == 0;
    let old = match which {
        AddrField::Src => h.src(),
        AddrField::Dst => h.dst(),
    };
    let protocol = h.protocol();
    let udp = protocol == proto::UDP;
    let l4_at = l4_checksum_at(protocol).filter(|_| first_fragment);
    let l4_check = match l4_at {
        Some(at) => Some((at, be16(h.payload(), at).ok_or(ChecksumError::Truncated)?)),
        None => None,
    };
    let (o, n) = (u32::from(old), u32::from(new));
    // All reads done and bounds known: from here on, only writes.
    h.set_checksum(update32(h.checksum(), o, n));
    if let Some((at, c)) = l4_check {
        put16(h.payload_mut(), at, update_l4(c, o, n, udp, mode))?;
    }
    match which {
        AddrField::Src => h.set_src(new),
        AddrField::Dst => h.set_dst(new),
    }
    Ok(old)
}

/// The new L4 checksum field for a 32-bit pseudo-header change.
const fn update_l4(c: u16, old: u32, new: u32, udp: bool, mode: L4Csum) -> u16 {
    match (mode, udp) {
        (L4Csum::Partial, false) => update_partial32(c, old, new),
        (L4Csum::Partial, true) => udp_wire(update_partial32(c, old, new)),
        (L4Csum::Full, false) => update32(c, old, new),
        (L4Csum::Full, true) if c == 0 => 0,
        (L4Csum::Full, true) => udp_wire(update32(c, old, new)),
    }
}

/// Finishes a partial checksum as the kernel does: sums `frame` from
/// `csum_start` to its end (the checksum field holds the pseudo-header sum,
/// so it is included), complements, and stores the result at
/// `csum_start + csum_offset` (0 is stored as `0xffff`, like
/// `skb_checksum_help`). `frame` must end where the L4 data ends (no
/// Ethernet padding). Returns the stored checksum.
pub fn complete_partial(
    frame: &mut [u8],
    csum_start: usize,
    csum_offset: usize,
) -> Result<u16, ChecksumError> {
    let len = frame.len();
    let at = csum_start
        .checked_add(csum_offset)
        .filter(|at| at.checked_add(2).is_some_and(|end| end <= len));
    let Some(at) = at else {
        return Err(ChecksumError::OutOfRange {
            start: csum_start,
            offset: csum_offset,
            len,
        });
    };
    let data = frame.get(csum_start..).ok_or(ChecksumError::Truncated)?;
    let c = udp_wire(checksum(data));
    put16(frame, at, c)?;
    Ok(c)
}

/// Computes and stores the full TCP or UDP checksum of `l4` (header and
/// payload, exactly the L4 length) from the pseudo-header sum `pseudo`.
/// Returns the stored checksum (UDP 0 sent as `0xffff`).
pub fn fill_l4_checksum(l4: &mut [u8], protocol: u8, pseudo: u16) -> Result<u16, ChecksumError> {
    let at = l4_checksum_at(protocol).ok_or(ChecksumError::UnsupportedProtocol(protocol))?;
    put16(l4, at, 0)?;
    let mut c = !add(pseudo, ones_sum(l4));
    if protocol == proto::UDP {
        c = udp_wire(c);
    }
    put16(l4, at, c)?;
    Ok(c)
}

/// Whether `l4` (checksum field included) sums with `pseudo` to `0xffff`.
pub fn l4_checksum_ok(l4: &[u8], pseudo: u16) -> bool {
    add(pseudo, ones_sum(l4)) == 0xffff
}

#[cfg(test)]
mod tests;
