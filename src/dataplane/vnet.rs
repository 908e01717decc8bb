//! The `virtio_net_hdr` that precedes every frame on a TAP opened with
//! `IFF_VNET_HDR`, and [`Frame`], a view of header + Ethernet frame in one
//! buffer as `read()` returns it.
//!
//! Contract:
//! - The header is 10 bytes, or 12 with `num_buffers` (`TUNSETVNETHDRSZ 12`);
//!   [`HdrSize`] says which. All fields are little-endian (what x86 hosts use;
//!   a big-endian host must open the TAP with `TUNSETVNETLE`).
//! - [`VnetHdr::parse`] accepts any flag/type bytes; [`VnetHdr::validate`] and
//!   [`Frame::new_checked`] reject what the dataplane cannot act on (unknown
//!   GSO type, a zero `gso_size` on a GSO frame, a checksum position outside
//!   the frame). Nothing here panics on untrusted bytes.
//! - `csum_start` counts from the first byte of the Ethernet header, not from
//!   the vnet header.

use thiserror::Error;

/// Byte offsets of the header fields.
mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const GSO_TYPE: usize = 1;
    pub const HDR_LEN: Range<usize> = 2..4;
    pub const GSO_SIZE: Range<usize> = 4..6;
    pub const CSUM_START: Range<usize> = 6..8;
    pub const CSUM_OFFSET: Range<usize> = 8..10;
    pub const NUM_BUFFERS: Range<usize> = 10..12;
}

/// `flags` bits.
pub mod flags {
    /// The L4 checksum is partial: finish it from `csum_start`, store it at
    /// `csum_start + csum_offset`.
    pub const NEEDS_CSUM: u8 = 1;
    /// The checksum was already verified.
    pub const DATA_VALID: u8 = 2;
}

/// `gso_type` values.
pub mod gso_type {
    /// Not a GSO frame.
    pub const NONE: u8 = 0;
    /// TCP over IPv4 (TSO4).
    pub const TCPV4: u8 = 1;
    /// UDP fragmentation offload (UFO, legacy).
    pub const UDP: u8 = 3;
    /// TCP over IPv6 (TSO6).
    pub const TCPV6: u8 = 4;
    /// UDP segmentation offload (USO), v4 or v6.
    pub const UDP_L4: u8 = 5;
    /// Bit or-ed into the type: the TCP stream uses ECN (CWR may be set).
    pub const ECN: u8 = 0x80;
}

/// Length of the legacy header.
pub const VNET_HDR_LEN: usize = 10;
/// Length of the header with `num_buffers`.
pub const VNET_HDR_MRG_LEN: usize = 12;
/// Length of an Ethernet II header.
pub const ETH_HDR_LEN: usize = 14;

/// Errors of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VnetError {
    /// The buffer is shorter than the header (+ Ethernet header for a frame).
    #[error("buffer of {got} bytes is shorter than the {need} bytes required")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// `gso_type` (without the ECN bit) is not one virtio defines.
    #[error("unknown virtio gso_type {0:#04x}")]
    UnknownGsoType(u8),
    /// A GSO frame with `gso_size` 0.
    #[error("GSO frame with gso_size 0")]
    ZeroGsoSize,
    /// `NEEDS_CSUM` with `csum_start + csum_offset + 2` beyond the frame.
    #[error("checksum at {start}+{offset} is outside a {len}-byte frame")]
    CsumOutOfRange {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// Ethernet frame length.
        len: usize,
    },
}

/// Which header size the TAP was configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HdrSize {
    /// 10 bytes, the default.
    #[default]
    Legacy,
    /// 12 bytes: with `num_buffers`.
    Mergeable,
}

impl HdrSize {
    /// The header length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            HdrSize::Legacy => VNET_HDR_LEN,
            HdrSize::Mergeable => VNET_HDR_MRG_LEN,
        }
    }

    /// The size for a header length, if it is 10 or 12.
    pub const fn from_len(len: usize) -> Option<HdrSize> {
        match len {
            VNET_HDR_LEN => Some(HdrSize::Legacy),
            VNET_HDR_MRG_LEN => Some(HdrSize::Mergeable),
            _ => None,
        }
    }
}

/// The decoded GSO type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gso {
    /// A single frame.
    None,
    /// TCP over IPv4 to cut into `gso_size` segments.
    TcpV4,
    /// TCP over IPv6 to cut into `gso_size` segments.
    TcpV6,
    /// UFO: one UDP datagram to fragment at the IP layer (legacy).
    Udp,
    /// USO: UDP payload to cut into `gso_size` datagrams.
    UdpL4,
}

/// A `virtio_net_hdr` (with `num_buffers`, zero when the header is 10 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// [`flags`] bits.
    pub flags: u8,
    /// [`gso_type`] value.
    pub gso_type: u8,
    /// Length of all headers (a hint; the kernel fixes it up).
    pub hdr_len: u16,
    /// MSS of a GSO frame.
    pub gso_size: u16,
    /// Start of the checksummed data, from the Ethernet header.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
    /// Only in the 12-byte header.
    pub num_buffers: u16,
}

fn le16(buf: &[u8], range: core::ops::Range<usize>) -> u16 {
    match buf.get(range) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => 0,
    }
}

impl VnetHdr {
    /// A header for a plain frame: no GSO, checksum complete.
    pub const PLAIN: VnetHdr = VnetHdr {
        flags: 0,
        gso_type: gso_type::NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
        num_buffers: 0,
    };

    /// Reads a header from the front of `buf`.
    pub fn parse(buf: &[u8], size: HdrSize) -> Result<VnetHdr, VnetError> {
        let need = size.bytes();
        let hdr = buf.get(..need).ok_or(VnetError::Truncated {
            need,
            got: buf.len(),
        })?;
        Ok(VnetHdr {
            flags: hdr.get(field::FLAGS).copied().unwrap_or(0),
            gso_type: hdr.get(field::GSO_TYPE).copied().unwrap_or(0),
            hdr_len: le16(hdr, field::HDR_LEN),
            gso_size: le16(hdr, field::GSO_SIZE),
            csum_start: le16(hdr, field::CSUM_START),
            csum_offset: le16(hdr, field::CSUM_OFFSET),
            num_buffers: le16(hdr, field::NUM_BUFFERS),
        })
    }

    /// Writes the header to the front of `buf` (`num_buffers` only if 12 bytes).
    pub fn emit(&self, buf: &mut [u8], size: HdrSize) -> Result<(), VnetError> {
        let need = size.bytes();
        let got = buf.len();
        let hdr = buf
            .get_mut(..need)
            .ok_or(VnetError::Truncated { need, got })?;
        hdr[field::FLAGS] = self.flags;
        hdr[field::GSO_TYPE] = self.gso_type;
        hdr[field::HDR_LEN].copy_from_slice(&self.hdr_len.to_le_bytes());
        hdr[field::GSO_SIZE].copy_from_slice(&self.gso_size.to_le_bytes());
        hdr[field::CSUM_START].copy_from_slice(&self.csum_start.to_le_bytes());
        hdr[field::CSUM_OFFSET].copy_from_slice(&self.csum_offset.to_le_bytes());
        if let Some(nb) = hdr.get_mut(field::NUM_BUFFERS) {
            nb.copy_from_slice(&self.num_buffers.to_le_bytes());
        }
        Ok(())
    }

    /// `NEEDS_CSUM` is set: the L4 checksum field holds a partial sum.
    pub const fn needs_csum(&self) -> bool {
        self.flags & flags::NEEDS_CSUM != 0
    }

    /// The ECN bit of `gso_type` is set.
    pub const fn ecn(&self) -> bool {
        self.gso_type & gso_type::ECN != 0
    }

    /// The GSO type without the ECN bit.
    pub fn gso(&self) -> Result<Gso, VnetError> {
        match self.gso_type & !gso_type::ECN {
            gso_type::NONE => Ok(Gso::None),
            gso_type::TCPV4 => Ok(Gso::TcpV4),
            gso_type::TCPV6 => Ok(Gso::TcpV6),
            gso_type::UDP => Ok(Gso::Udp),
            gso_type::UDP_L4 => Ok(Gso::UdpL4),
            other => Err(VnetError::UnknownGsoType(other)),
        }
    }

    /// Checks the header against an Ethernet frame of `eth_len` bytes.
    pub fn validate(&self, eth_len: usize) -> Result<(), VnetError> {
        if self.gso()? != Gso::None && self.gso_size == 0 {
            return Err(VnetError::ZeroGsoSize);
        }
        if self.needs_csum() {
            let end = usize::from(self.csum_start) + usize::from(self.csum_offset) + 2;
            if end > eth_len {
                return Err(VnetError::CsumOutOfRange {
                    start: self.csum_start,
                    offset: self.csum_offset,
                    len: eth_len,
                });
            }
        }
        Ok(())
    }
}

/// A vnet header and an Ethernet frame in one buffer, as read from a TAP.
///
/// Built with [`Frame::new_checked`], which parses and validates the header,
/// so accessors need no further checks.
#[derive(Debug)]
pub struct Frame<T> {
    buffer: T,
    size: HdrSize,
    hdr: VnetHdr,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Parses the header and checks it against the frame that follows it,
    /// which must hold at least an Ethernet header.
    pub fn new_checked(buffer: T, size: HdrSize) -> Result<Frame<T>, VnetError> {
        let buf = buffer.as_ref();
        let need = size.bytes() + ETH_HDR_LEN;
        if buf.len() < need {
            return Err(VnetError::Truncated {
                need,
                got: buf.len(),
            });
        }
        let hdr = VnetHdr::parse(buf, size)?;
        hdr.validate(buf.len() - size.bytes())?;
        Ok(Frame { buffer, size, hdr })
    }

    /// The parsed header.
    pub fn header(&self) -> &VnetHdr {
        &self.hdr
    }

    /// The header size the frame was read with.
    pub fn hdr_size(&self) -> HdrSize {
        self.size
    }

    /// The Ethernet frame after the header.
    pub fn ethernet(&self) -> &[u8] {
        self.buffer.as_ref().get(self.size.bytes()..).unwrap_or(&[])
    }

    /// The whole buffer: header and frame, ready to write to a TAP.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// The Ethernet frame, writable (for in-place rewrites).
    pub fn ethernet_mut(&mut self) -> &mut [u8] {
        let start = self.size.bytes();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }

    /// Replaces the header after checking it against the frame; on error
    /// nothing changes.
    pub fn set_header(&mut self, hdr: VnetHdr) -> Result<(), VnetError> {
        hdr.validate(self.ethernet().len())?;
        hdr.emit(self.buffer.as_mut(), self.size)?;
        self.hdr = hdr;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TSO4 header as tun hands it out: NEEDS_CSUM, TCPV4, hdr_len 66,
    /// gso_size 1448, csum_start 34, csum_offset 16.
    const TSO4_HDR: [u8; 10] = [0x01, 0x01, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];

    #[test]
    fn parse_tso4_header() {
        let h = VnetHdr::parse(&TSO4_HDR, HdrSize::Legacy).unwrap();
        assert!(h.needs_csum());
        assert!(!h.ecn());
        assert_eq!(h.gso(), Ok(Gso::TcpV4));
        assert_eq!(h.hdr_len, 66);
        assert_eq!(h.gso_size, 1448);
        assert_eq!(h.csum_start, 34);
        assert_eq!(h.csum_offset, 16);
        assert_eq!(h.num_buffers, 0);
    }

    #[test]
    fn emit_round_trips_both_sizes() {
        let h = VnetHdr {
            flags: flags::NEEDS_CSUM | flags::DATA_VALID,
            gso_type: gso_type::TCPV6 | gso_type::ECN,
            hdr_len: 0x1234,
            gso_size: 0x5678,
            csum_start: 54,
            csum_offset: 16,
            num_buffers: 3,
        };
        let mut buf = [0u8; 12];
        h.emit(&mut buf, HdrSize::Mergeable).unwrap();
        assert_eq!(buf[10..12], [3, 0]);
        assert_eq!(VnetHdr::parse(&buf, HdrSize::Mergeable), Ok(h));
        let mut short = [0xffu8; 12];
        h.emit(&mut short, HdrSize::Legacy).unwrap();
        assert_eq!(short[10..12], [0xff, 0xff], "10-byte emit stops at 10");
        let back = VnetHdr::parse(&short, HdrSize::Legacy).unwrap();
        assert_eq!(back.num_buffers, 0);
        assert_eq!(back.gso(), Ok(Gso::TcpV6));
        assert!(back.ecn());
    }

    #[test]
    fn truncated_header_is_an_error() {
        assert_eq!(
            VnetHdr::parse(&TSO4_HDR[..9], HdrSize::Legacy),
            Err(VnetError::Truncated { need: 10, got: 9 })
        );
        assert_eq!(
            VnetHdr::PLAIN.emit(&mut [0u8; 11], HdrSize::Mergeable),
            Err(VnetError::Truncated { need: 12, got: 11 })
        );
    }

    #[test]
    fn unknown_gso_type_and_zero_size_rejected() {
        let mut h = VnetHdr::PLAIN;
        h.gso_type = 2;
        assert_eq!(h.validate(100), Err(VnetError::UnknownGsoType(2)));
        h.gso_type = gso_type::UDP_L4;
        assert_eq!(h.validate(100), Err(VnetError::ZeroGsoSize));
        h.gso_size = 1400;
        assert_eq!(h.validate(100), Ok(()));
    }

    #[test]
    fn checksum_position_must_lie_inside_the_frame() {
        let mut h = VnetHdr::parse(&TSO4_HDR, HdrSize::Legacy).unwrap();
        assert_eq!(h.validate(52), Ok(()));
        assert!(matches!(
            h.validate(51),
            Err(VnetError::CsumOutOfRange { .. })
        ));
        h.csum_start = u16::MAX;
        h.csum_offset = u16::MAX;
        assert!(h.validate(usize::from(u16::MAX)).is_err());
    }

    #[test]
    fn frame_view_splits_header_and_ethernet() {
        let mut buf = [0u8; 12 + 60];
        buf[..10].copy_from_slice(&TSO4_HDR);
        buf[12] = 0xaa; // first destination MAC byte
        let mut f = Frame::new_checked(&mut buf[..], HdrSize::Mergeable).unwrap();
        assert_eq!(f.header().gso_size, 1448);
        assert_eq!(f.ethernet().len(), 60);
        assert_eq!(f.ethernet()[0], 0xaa);
        f.ethernet_mut()[0] = 0xbb;
        let mut h = *f.header();
        h.flags = 0;
        f.set_header(h).unwrap();
        assert_eq!(f.as_bytes()[0], 0);
        assert_eq!(f.as_bytes()[12], 0xbb);
    }

    #[test]
    fn frame_rejects_short_and_invalid_buffers() {
        assert!(matches!(
            Frame::new_checked(&[0u8; 23][..], HdrSize::Legacy),
            Err(VnetError::Truncated { need: 24, got: 23 })
        ));
        let mut buf = [0u8; 40];
        buf[..10].copy_from_slice(&TSO4_HDR);
        assert!(matches!(
            Frame::new_checked(&buf[..], HdrSize::Legacy),
            Err(VnetError::CsumOutOfRange { .. })
        ));
        let mut ok = [0u8; 10 + 60];
        ok[..10].copy_from_slice(&TSO4_HDR);
        let mut f = Frame::new_checked(&mut ok[..], HdrSize::Legacy).unwrap();
        let mut bad = *f.header();
        bad.csum_offset = 100;
        assert!(f.set_header(bad).is_err());
        assert_eq!(f.header().csum_offset, 16, "unchanged on error");
    }
}
