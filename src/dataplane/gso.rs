//! Software segmentation of GSO super-frames (TSO4, TSO6, USO) into frames
//! a peer without a vnet header can take.
//!
//! Contract:
//! - Input: an Ethernet frame (no vnet header) and its [`VnetHdr`]. Output:
//!   one complete Ethernet frame per segment, handed to `emit` from a
//!   caller-provided scratch buffer (no allocation per segment). A scratch
//!   buffer as long as the input frame is always enough.
//! - Every segment carries at most `gso_size` bytes of L4 payload (fewer with
//!   [`segment_to_mtu`] if the path MTU demands), a complete L4 checksum,
//!   and — for IPv4 — its own total length, identification (`id + i`) and
//!   header checksum. TCP: sequence numbers advance by the payload sent,
//!   FIN and PSH stay only on the last segment, CWR only on the first
//!   (Linux `tcp_gso_segment`). USO: each segment is a UDP datagram with its
//!   own length and checksum.
//! - A non-GSO frame is emitted once: as is, or with its partial checksum
//!   completed if it has `NEEDS_CSUM`.
//! - Malformed input (bad headers, lengths beyond the frame, a GSO type
//!   that does not match the packet, IP fragments, VLAN tags) is an error and
//!   nothing is emitted. UFO (`gso_type` UDP) is not supported.

use core::ops::Range;

use etherparse::{IpNumber, Ipv6ExtensionsSlice, Ipv6HeaderSlice};
use thiserror::Error;

use super::checksum::{self, ChecksumError};
use super::vnet::{Gso, VnetError, VnetHdr, ETH_HDR_LEN};
use super::wire::ethernet::ether_type;
use super::wire::{proto, tcp_flags, udp, Ethernet, Ipv4, Tcp, Udp};

/// IPv6 fixed header offsets (IPv6 is read with etherparse; the router
/// itself carries IPv4 only).
mod ipv6 {
    use core::ops::Range;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const HEADER_LEN: usize = 40;
}

/// Errors of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GsoError {
    /// The vnet header is invalid for this frame.
    #[error(transparent)]
    Vnet(#[from] VnetError),
    /// Not an untagged IPv4/IPv6 frame, or its headers are malformed.
    #[error("not a well-formed IPv4/IPv6 TCP or UDP frame")]
    Malformed,
    /// An IP fragment cannot be segmented.
    #[error("IP fragment in a GSO frame")]
    Fragment,
    /// The GSO type does not match the packet, or is UFO.
    #[error("GSO type {0:?} does not match the packet or is unsupported")]
    UnsupportedGso(Gso),
    /// The scratch buffer cannot hold one segment.
    #[error("scratch buffer of {got} bytes, a segment needs {need}")]
    ScratchTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// A non-GSO frame is larger than the MTU: fragment it or send ICMP.
    #[error("{len}-byte IP packet exceeds MTU {mtu}")]
    FrameTooBig {
        /// IP packet length.
        len: usize,
        /// The MTU.
        mtu: u16,
    },
    /// The MTU leaves no room for payload after the headers.
    #[error("MTU {mtu} leaves no room after {headers} bytes of headers")]
    MtuTooSmall {
        /// The MTU.
        mtu: u16,
        /// IP + L4 header bytes.
        headers: usize,
    },
    /// Completing a partial checksum failed.
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ip {
    V4,
    V6,
}

/// Where the headers of a GSO frame are.
#[derive(Clone, Copy, Debug)]
struct Layout {
    ip: Ip,
    l3: usize,
    l4: usize,
    /// First payload byte = length of all headers.
    payload: usize,
    /// End of the IP packet (excludes any trailing padding).
    end: usize,
    protocol: u8,
}

fn slice(frame: &[u8], r: Range<usize>) -> Result<&[u8], GsoError> {
    frame.get(r).ok_or(GsoError::Malformed)
}

fn parse(frame: &[u8]) -> Result<Layout, GsoError> {
    let eth = Ethernet::new(frame).ok_or(GsoError::Malformed)?;
    let l3 = ETH_HDR_LEN;
    let rest = eth.payload();
    let (ip, l4, end, protocol) = match eth.ether_type() {
        ether_type::IPV4 => parse_v4(rest, l3)?,
        ether_type::IPV6 => parse_v6(rest, l3)?,
        _ => return Err(GsoError::Malformed),
    };
    let l4_bytes = slice(frame, l4..end)?;
    let l4_len = match protocol {
        proto::TCP => Tcp::new_checked(l4_bytes)
            .ok_or(GsoError::Malformed)?
            .header_len(),
        proto::UDP if Udp::new(l4_bytes).is_some() => udp::field::HEADER_LEN,
        _ => return Err(GsoError::Malformed),
    };
    Ok(Layout {
        ip,
        l3,
        l4,
        payload: l4 + l4_len,
        end,
        protocol,
    })
}

fn parse_v4(ip: &[u8], l3: usize) -> Result<(Ip, usize, usize, u8), GsoError> {
    let h = Ipv4::new_checked(ip).ok_or(GsoError::Malformed)?;
    if h.more_fragments() || h.frag_offset() != 0 {
        return Err(GsoError::Fragment);
    }
    let total = usize::from(h.total_len());
    if total < h.header_len() || total > ip.len() {
        return Err(GsoError::Malformed);
    }
    Ok((Ip::V4, l3 + h.header_len(), l3 + total, h.protocol()))
}

fn parse_v6(ip: &[u8], l3: usize) -> Result<(Ip, usize, usize, u8), GsoError> {
    let h = Ipv6HeaderSlice::from_slice(ip).map_err(|_| GsoError::Malformed)?;
    let total = ipv6::HEADER_LEN + usize::from(h.payload_length());
    let body = ip.get(ipv6::HEADER_LEN..total).ok_or(GsoError::Malformed)?;
    let (exts, next, rest) =
        Ipv6ExtensionsSlice::from_slice(h.next_header(), body).map_err(|_| GsoError::Malformed)?;
    if exts.is_fragmenting_payload() || next == IpNumber::IPV6_FRAGMENTATION_HEADER {
        return Err(GsoError::Fragment);
    }
    let l4 = l3 + total - rest.len();
    Ok((Ip::V6, l4, l3 + total, next.0))
}

/// Segments `frame` into frames of at most `hdr.gso_size` bytes of L4
/// payload each, calling `emit` once per frame. Returns the number emitted.
pub fn segment<F: FnMut(&[u8])>(
    frame: &[u8],
    hdr: &VnetHdr,
    scratch: &mut [u8],
    emit: F,
) -> Result<usize, GsoError> {
    segment_inner(frame, hdr, None, scratch, emit)
}

/// Like [`segment`], but also keeps every IP packet within `mtu` bytes (a
/// smaller MTU on the path: IGW 1500, endpoints 8500). A non-GSO frame over
/// the MTU is [`GsoError::FrameTooBig`]: the caller fragments or sends ICMP.
pub fn segment_to_mtu<F: FnMut(&[u8])>(
    frame: &[u8],
    hdr: &VnetHdr,
    mtu: u16,
    scratch: &mut [u8],
    emit: F,
) -> Result<usize, GsoError> {
    segment_inner(frame, hdr, Some(mtu), scratch, emit)
}

fn segment_inner<F: FnMut(&[u8])>(
    frame: &[u8],
    hdr: &VnetHdr,
    mtu: Option<u16>,
    scratch: &mut [u8],
    emit: F,
) -> Result<usize, GsoError> {
    hdr.validate(frame.len())?;
    let gso = hdr.gso()?;
    if gso == Gso::None {
        return single(frame, hdr, mtu, scratch, emit);
    }
    let lay = parse(frame)?;
    let matches = matches!(
        (gso, lay.ip, lay.protocol),
        (Gso::TcpV4, Ip::V4, proto::TCP)
            | (Gso::TcpV6, Ip::V6, proto::TCP)
            | (Gso::UdpL4, _, proto::UDP)
    );
    if !matches {
        return Err(GsoError::UnsupportedGso(gso));
    }
    let mut mss = usize::from(hdr.gso_size);
    if let Some(mtu) = mtu {
        let headers = lay.payload - lay.l3;
        let room = usize::from(mtu)
            .checked_sub(headers)
            .filter(|&r| r > 0)
            .ok_or(GsoError::MtuTooSmall { mtu, headers })?;
        mss = mss.min(room);
    }
    cut(frame, &lay, mss, scratch, emit)
}

/// A non-GSO frame: checks the MTU, completes a partial checksum, emits once.
fn single<F: FnMut(&[u8])>(
    frame: &[u8],
    hdr: &VnetHdr,
    mtu: Option<u16>,
    scratch: &mut [u8],
    mut emit: F,
) -> Result<usize, GsoError> {
    let ip_len = frame.len().saturating_sub(ETH_HDR_LEN);
    if let Some(mtu) = mtu.filter(|&m| ip_len > usize::from(m)) {
        return Err(GsoError::FrameTooBig { len: ip_len, mtu });
    }
    if !hdr.needs_csum() {
        emit(frame);
        return Ok(1);
    }
    let got = scratch.len();
    let out = scratch
        .get_mut(..frame.len())
        .ok_or(GsoError::ScratchTooSmall {
            need: frame.len(),
            got,
        })?;
    out.copy_from_slice(frame);
    checksum::complete_partial(
        out,
        usize::from(hdr.csum_start),
        usize::from(hdr.csum_offset),
    )?;
    emit(out);
    Ok(1)
}

fn put(buf: &mut [u8], r: Range<usize>, bytes: &[u8]) -> Result<(), GsoError> {
    buf.get_mut(r)
        .filter(|d| d.len() == bytes.len())
        .ok_or(GsoError::Malformed)?
        .copy_from_slice(bytes);
    Ok(())
}

/// What stays the same for every segment of one frame.
struct Template {
    seq: u32,
    id: u16,
    flags: u8,
}

fn cut<F: FnMut(&[u8])>(
    frame: &[u8],
    lay: &Layout,
    mss: usize,
    scratch: &mut [u8],
    mut emit: F,
) -> Result<usize, GsoError> {
    let payload = slice(frame, lay.payload..lay.end)?;
    let headers = slice(frame, 0..lay.payload)?;
    let first_len = lay.payload + mss.min(payload.len());
    if scratch.len() < first_len {
        return Err(GsoError::ScratchTooSmall {
            need: first_len,
            got: scratch.len(),
        });
    }
    let tcp = lay.protocol == proto::TCP;
    let l4 = Tcp::new(slice(frame, lay.l4..lay.end)?).filter(|_| tcp);
    let tpl = Template {
        seq: l4.map_or(0, |t| t.seq()),
        id: if lay.ip == Ip::V4 {
            Ipv4::new(slice(frame, lay.l3..lay.end)?)
                .ok_or(GsoError::Malformed)?
                .ident()
        } else {
            0
        },
        flags: l4.map_or(0, |t| t.flags()),
    };
    // A GSO frame without payload still goes out once (e.g. a bare FIN).
    let count = payload.len().div_ceil(mss).max(1);
    for i in 0..count {
        let start = (i * mss).min(payload.len());
        let chunk = slice(payload, start..(start + mss).min(payload.len()))?;
        let len = lay.payload + chunk.len();
        let out = scratch.get_mut(..len).ok_or(GsoError::Malformed)?;
        put(out, 0..lay.payload, headers)?;
        put(out, lay.payload..len, chunk)?;
        let seg = Seg {
            index: i,
            last: i + 1 == count,
            offset: start,
        };
        fix_segment(out, lay, &tpl, &seg)?;
        emit(out);
    }
    Ok(count)
}

struct Seg {
    index: usize,
    last: bool,
    /// Payload offset of this segment in the super-frame.
    offset: usize,
}

/// Rewrites lengths, ids, sequence number, flags and checksums of one
/// segment already copied into `out`.
fn fix_segment(out: &mut [u8], lay: &Layout, tpl: &Template, seg: &Seg) -> Result<(), GsoError> {
    let l4_len = out.len() - lay.l4;
    let l4_len16 = u16::try_from(l4_len).map_err(|_| GsoError::Malformed)?;
    let l4 = out.get_mut(lay.l4..).ok_or(GsoError::Malformed)?;
    match lay.protocol {
        proto::TCP => fix_tcp(l4, tpl, seg)?,
        _ => Udp::new(l4).ok_or(GsoError::Malformed)?.set_len(l4_len16),
    }
    let pseudo = match lay.ip {
        Ip::V4 => fix_ipv4(out, lay, tpl, seg, l4_len16)?,
        Ip::V6 => fix_ipv6(out, lay, l4_len)?,
    };
    let l4 = out.get_mut(lay.l4..).ok_or(GsoError::Malformed)?;
    checksum::fill_l4_checksum(l4, lay.protocol, pseudo)?;
    Ok(())
}

fn fix_tcp(l4: &mut [u8], tpl: &Template, seg: &Seg) -> Result<(), GsoError> {
    let mut t = Tcp::new(l4).ok_or(GsoError::Malformed)?;
    t.set_seq(tpl.seq.wrapping_add(seg.offset as u32));
    let mut flags = tpl.flags;
    if !seg.last {
        flags &= !(tcp_flags::FIN | tcp_flags::PSH);
    }
    if seg.index != 0 {
        flags &= !tcp_flags::CWR;
    }
    t.set_flags(flags);
    Ok(())
}

/// Fixes total length, id and header checksum; returns the pseudo-header sum.
fn fix_ipv4(
    out: &mut [u8],
    lay: &Layout,
    tpl: &Template,
    seg: &Seg,
    l4_len: u16,
) -> Result<u16, GsoError> {
    let total = u16::try_from(out.len() - lay.l3).map_err(|_| GsoError::Malformed)?;
    let ip = out.get_mut(lay.l3..).ok_or(GsoError::Malformed)?;
    let mut h = Ipv4::new(&mut *ip).ok_or(GsoError::Malformed)?;
    h.set_total_len(total);
    h.set_ident(tpl.id.wrapping_add(seg.index as u16));
    let (src, dst) = (h.src(), h.dst());
    checksum::fill_ipv4_header_checksum(ip)?;
    Ok(checksum::pseudo_v4(src, dst, lay.protocol, l4_len))
}

/// Fixes the payload length; returns the pseudo-header sum.
fn fix_ipv6(out: &mut [u8], lay: &Layout, l4_len: usize) -> Result<u16, GsoError> {
    let payload_len = out.len() - lay.l3 - ipv6::HEADER_LEN;
    let payload_len = u16::try_from(payload_len).map_err(|_| GsoError::Malformed)?;
    let r = lay.l3 + ipv6::PAYLOAD_LEN.start..lay.l3 + ipv6::PAYLOAD_LEN.end;
    put(out, r, &payload_len.to_be_bytes())?;
    let ip = out.get(lay.l3..).ok_or(GsoError::Malformed)?;
    let h = Ipv6HeaderSlice::from_slice(ip).map_err(|_| GsoError::Malformed)?;
    let l4_len = u32::try_from(l4_len).map_err(|_| GsoError::Malformed)?;
    Ok(checksum::pseudo_v6(
        h.source_addr(),
        h.destination_addr(),
        lay.protocol,
        l4_len,
    ))
}

#[cfg(test)]
mod tests;
