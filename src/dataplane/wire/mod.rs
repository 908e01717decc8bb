//! The data plane's one wire layer: typed views over packet bytes.
//!
//! Contract:
//! - Each header kind has one file with one `mod field` of its byte offsets
//!   and one view in smoltcp's style, `View<T: AsRef<[u8]>>(T)`: getters
//!   for any buffer, setters when `T: AsMut<[u8]>`. Nothing else in the data
//!   plane indexes frame bytes: stages read and write through these views.
//! - A view is built with `new`, which checks once that the buffer holds the
//!   fixed part of the header, and returns `None` otherwise; every getter and
//!   setter of a fixed field then compiles to a plain index with no further
//!   check, and nothing here panics on untrusted bytes. Whatever depends on a
//!   length read from the packet (options, payload) is bounds-checked and
//!   comes back empty or `None` when the packet lies.
//! - Views neither allocate nor copy: they are the caller's bytes with names.
//!   Checksums are the caller's business ([`super::checksum`]).
//! - [`proto`] and [`tcp_flags`] are the only IP protocol numbers and TCP
//!   flag bits of the data plane.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use self::arp::Arp;
pub use self::ethernet::Ethernet;
pub use self::icmp::Icmp;
pub use self::ipv4::Ipv4;
pub use self::tcp::Tcp;
pub use self::udp::Udp;

/// IP protocol numbers.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// TCP flag bits (byte 13 of the header).
pub mod tcp_flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement number is valid.
    pub const ACK: u8 = 0x10;
    /// The urgent pointer is valid.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

/// A big-endian `u16` at `at` of a buffer known to hold it.
#[inline]
fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A big-endian `u32` at `at` of a buffer known to hold it.
#[inline]
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Six bytes known to be there, as a MAC.
#[inline]
fn mac(b: &[u8], at: usize) -> [u8; 6] {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

/// Four bytes known to be there, as an IPv4 address.
#[inline]
fn addr(b: &[u8], at: usize) -> core::net::Ipv4Addr {
    core::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// Where the checksum of a TCP or UDP header is, from the header's start;
/// `None` for other protocols.
#[inline]
pub fn l4_checksum_at(protocol: u8) -> Option<usize> {
    match protocol {
        proto::TCP => Some(tcp::field::CHECKSUM.start),
        proto::UDP => Some(udp::field::CHECKSUM.start),
        _ => None,
    }
}
