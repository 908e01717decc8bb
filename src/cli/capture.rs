//! `vpclab capture`: the packets a running lab's router sees on a port, as pcapng.
//!
//! Contract:
//! - `vpclab capture [--name LAB] TARGET [-w FILE|-] [--filter EXPR] [--count N]
//!   [--segment|--no-segment]`. TARGET is an instance (name, logical id, `i-…`), `eni-…`,
//!   `vpce-…`, `nlb` or a load balancer's name, `igw` or `internet`; the capture is taken at
//!   the router on that target's port(s), both directions, while the lab runs; a network
//!   interface without a device (an endpoint's, a load balancer node's) is every packet to or
//!   from its address, wherever the router met it.
//! - The output is pcapng (Wireshark and `tcpdump -r` read it): one interface block per port,
//!   named after it (`eni-… (CloudNetaPrivateEC2)`), and per packet an enhanced packet block
//!   with the direction flag (inbound: the port sent it to the router; outbound: the router
//!   sent it to the port) and a comment with the router's verdict and rule
//!   (`control::capture::comment`). Frames are written as captured; a dropped frame is
//!   written on the port it came in from, its comment `dropped: <reason> (…)`.
//! - GSO super-frames are written as the segments a wire would carry (each with a complete
//!   checksum, `dataplane::gso`), or whole with `--no-segment`.
//! - `--filter` is the pcap filter language, compiled by libpcap (`pcap` crate) and applied
//!   to each frame as written; `--count N` ends after N packets written (after the filter).
//! - `-w -` (or no `-w`, when stdout is not a terminal) streams to stdout, flushed per packet,
//!   so `vpclab capture web1 -w - | tcpdump -nr -` shows packets as they pass.
//! - Once the capture is in place it says `capturing on …` on stderr; it ends on Ctrl-C,
//!   SIGTERM, a closed output (the reader went away), `--count`, or the lab stopping, and
//!   then says on stderr how many packets it wrote and how many the daemon dropped because
//!   this reader was too slow (the lab never waits for a capture).
//! - Exit codes: 0 ended as above; 2 invalid input (an unknown target, a filter libpcap
//!   refuses, a terminal as output, a lab that is not running); 1 the stream broke.

use std::borrow::Cow;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};
use thiserror::Error;

use super::{Failure, DEFAULT_LAB};
use crate::control::capture::{CapturePort, Decoder, Packet, Record, StreamError};
use crate::control::client;
use crate::control::protocol::{Request, Response};
use crate::dataplane::gso;
use crate::dataplane::vnet::{HdrSize, VnetHdr};
use crate::host::signals;

/// `vpclab capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The running lab.
    #[arg(long, default_value = DEFAULT_LAB, value_name = "LAB")]
    pub name: String,
    /// What to capture on: an instance (name, logical id or i-… id), eni-…, vpce-…, nlb or a
    /// load balancer's name, igw, internet.
    pub target: String,
    /// Write pcapng to FILE, or to stdout with `-` (the default when stdout is not a
    /// terminal).
    #[arg(short = 'w', value_name = "FILE|-")]
    pub write: Option<PathBuf>,
    /// Keep only packets that match this pcap filter (`tcp port 80`, `icmp`, `host 10.0.1.5`).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Stop after writing N packets (after the filter).
    #[arg(long, short = 'c', value_name = "N")]
    pub count: Option<u64>,
    /// Write GSO super-frames as the segments a wire would carry (the default).
    #[arg(long, overrides_with = "no_segment")]
    pub segment: bool,
    /// Write GSO super-frames whole, as the router forwards them (up to 64 KiB).
    #[arg(long = "no-segment", overrides_with = "segment")]
    pub no_segment: bool,
}

/// Why a capture failed.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// The user's input or the lab is not right (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The capture's output could not be written.
    #[error("cannot write the capture: {0}")]
    Write(String),
    /// The daemon's stream broke.
    #[error("the capture stream broke: {0}")]
    Stream(String),
}

impl From<StreamError> for CaptureError {
    fn from(e: StreamError) -> Self {
        CaptureError::Stream(e.to_string())
    }
}

/// Why a capture ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Count,
    Signal,
    ReaderGone,
    LabStopped,
}

/// Runs `capture`; returns the exit code.
pub fn run(a: CaptureArgs) -> Result<u8, Failure> {
    match capture(&a) {
        Ok(()) => Ok(0),
        Err(CaptureError::Invalid(m)) => Err(Failure::Invalid(m)),
        Err(e) => {
            eprintln!("vpclab: {e}");
            Ok(1)
        }
    }
}

/// The pcap filter compiled by libpcap for Ethernet frames.
fn compile_filter(expr: &str) -> Result<pcap::BpfProgram, CaptureError> {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET)
        .map_err(|e| CaptureError::Invalid(format!("libpcap: {e}")))?;
    dead.compile(expr, true).map_err(|e| {
        CaptureError::Invalid(format!(
            "--filter '{expr}' is not a pcap filter libpcap accepts: {e} (see `man pcap-filter`)"
        ))
    })
}

fn capture(a: &CaptureArgs) -> Result<(), CaptureError> {
    let filter = a.filter.as_deref().map(compile_filter).transpose()?;
    let to_stdout = a.write.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(CaptureError::Invalid(
            "pcapng is binary: give -w FILE, or pipe it (`vpclab capture … -w - | tcpdump -nr -`)"
                .into(),
        ));
    }
    let req = Request::Capture {
        target: a.target.clone(),
    };
    let (mut conn, response) = client::open_stream(&a.name, &req).map_err(CaptureError::Invalid)?;
    let ports = match response {
        Response::CaptureStarted { ports } => ports,
        Response::Error { message } => return Err(CaptureError::Invalid(message)),
        other => {
            return Err(CaptureError::Stream(format!(
                "unexpected answer: {other:?}"
            )))
        }
    };
    let out: Box<dyn Write> = match &a.write {
        Some(p) if p.as_os_str() != "-" => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| CaptureError::Invalid(format!("cannot write {}: {e}", p.display())))?,
        )),
        _ => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    // Ctrl-C, SIGTERM and SIGHUP end the capture in order (the summary is still printed).
    signals::install().map_err(|e| CaptureError::Stream(e.to_string()))?;
    let mut pcap = Pcapng::new(out, &a.name, &ports)?;
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    eprintln!(
        "vpclab: capturing on {} in lab {}{}; Ctrl-C to stop",
        names.join(", "),
        a.name,
        a.filter
            .as_deref()
            .map_or_else(String::new, |f| format!(" (filter: {f})"))
    );
    let segment = !a.no_segment;
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let mut decoder = Decoder::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    let mut dropped = 0u64;
    let end = 'read: loop {
        if signals::stop_requested() {
            break End::Signal;
        }
        let n = match conn.read(&mut chunk) {
            Ok(0) => break End::LabStopped,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(CaptureError::Stream(e.to_string())),
        };
        decoder.push(&chunk[..n]);
        while let Some(record) = decoder.next_record()? {
            let p = match record {
                Record::Idle { dropped: d } => {
                    dropped = d;
                    continue;
                }
                Record::Packet(p) => p,
            };
            dropped = p.dropped;
            for (frame, comment) in wire_frames(&p, segment) {
                if filter.as_ref().is_some_and(|f| !f.filter(&frame)) {
                    continue;
                }
                match pcap.packet(&p, &frame, &comment) {
                    Ok(()) => {}
                    Err(e) if is_reader_gone(&e) => break 'read End::ReaderGone,
                    Err(e) => return Err(CaptureError::Write(e.to_string())),
                }
                written += 1;
                if a.count.is_some_and(|c| written >= c) {
                    break 'read End::Count;
                }
            }
        }
    };
    if end != End::LabStopped {
        dropped = dropped.max(drops_so_far(&mut conn, &mut decoder, &mut chunk));
    }
    let why = match end {
        End::Count => "the count was reached",
        End::Signal => "stopped",
        End::ReaderGone => "the output was closed",
        End::LabStopped => "the lab stopped",
    };
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    eprintln!(
        "vpclab: {} captured ({why}); {} by the lab's daemon because the reader was too slow",
        plural(written, "packet", "packets"),
        plural(dropped, "packet dropped", "packets dropped"),
    );
    Ok(())
}

/// The daemon's drop count as of now: the records still on their way are read (and not
/// written) until an idle record says the daemon's queue is empty, for at most
/// [`DRAIN`]; what the last one read says.
fn drops_so_far(conn: &mut UnixStream, decoder: &mut Decoder, chunk: &mut [u8]) -> u64 {
    let deadline = Instant::now() + DRAIN;
    let mut dropped = 0;
    while Instant::now() < deadline {
        loop {
            match decoder.next_record() {
                Ok(Some(Record::Idle { dropped: d })) => return d,
                Ok(Some(Record::Packet(p))) => dropped = p.dropped,
                Ok(None) => break,
                Err(_) => return dropped,
            }
        }
        match conn.read(chunk) {
            Ok(0) => return dropped,
            Ok(n) => decoder.push(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return dropped,
        }
    }
    dropped
}

/// How long [`drops_so_far`] reads at most.
const DRAIN: Duration = Duration::from_secs(2);

fn is_reader_gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
    )
}

/// The frames of a captured packet as they go in the file, each with its comment: a GSO
/// super-frame as its segments (unless `segment` is false), any other frame as it is with
/// a partial checksum completed.
fn wire_frames(p: &Packet, segment: bool) -> Vec<(Vec<u8>, String)> {
    let whole = || vec![(p.frame.clone(), p.comment.clone())];
    if !segment {
        return whole();
    }
    let Ok(hdr) = VnetHdr::parse(&p.vnet, HdrSize::Legacy) else {
        return whole();
    };
    if hdr.gso_type == 0 && hdr.flags == 0 {
        return whole();
    }
    let mut scratch = vec![0u8; p.frame.len().max(128)];
    let mut segments: Vec<Vec<u8>> = Vec::new();
    match gso::segment(&p.frame, &hdr, &mut scratch, |s| segments.push(s.to_vec())) {
        Ok(_) if segments.len() > 1 => {
            let n = segments.len();
            let len = p.frame.len();
            segments
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let c = format!(
                        "{} [segment {} of {n} of a {len}-byte GSO frame]",
                        p.comment,
                        i + 1
                    );
                    (s, c)
                })
                .collect()
        }
        Ok(_) if segments.len() == 1 => {
            vec![(segments.remove(0), p.comment.clone())]
        }
        _ => whole(),
    }
}

/// The pcapng output: a section header, an interface block per port, then packets, each
/// flushed.
struct Pcapng {
    w: PcapNgWriter<Box<dyn Write>>,
}

/// The pcapng `epb_flags` direction bits.
const INBOUND: u32 = 0b01;
const OUTBOUND: u32 = 0b10;

impl Pcapng {
    fn new(out: Box<dyn Write>, lab: &str, ports: &[CapturePort]) -> Result<Pcapng, CaptureError> {
        let shb = SectionHeaderBlock {
            endianness: Endianness::Little,
            major_version: 1,
            minor_version: 0,
            section_length: -1,
            options: vec![
                SectionHeaderOption::UserApplication(Cow::Owned(format!(
                    "vpclab {} capture",
                    env!("CARGO_PKG_VERSION")
                ))),
                SectionHeaderOption::Comment(Cow::Owned(format!(
                    "lab {lab}, captured at the router"
                ))),
            ],
        };
        let write = |e: pcap_file::PcapError| CaptureError::Write(e.to_string());
        let mut w = PcapNgWriter::with_section_header(out, shb).map_err(write)?;
        for p in ports {
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: 0,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(p.name.clone())),
                    // Timestamps are in nanoseconds.
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            };
            w.write_pcapng_block(idb).map_err(write)?;
        }
        w.get_mut()
            .flush()
            .map_err(|e| CaptureError::Write(e.to_string()))?;
        Ok(Pcapng { w })
    }

    /// Writes one frame of `p` and flushes.
    fn packet(&mut self, p: &Packet, frame: &[u8], comment: &str) -> std::io::Result<()> {
        let epb = EnhancedPacketBlock {
            interface_id: u32::from(p.iface),
            timestamp: Duration::from_nanos(p.unix_nanos),
            original_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(frame),
            options: vec![
                EnhancedPacketOption::Comment(Cow::Borrowed(comment)),
                EnhancedPacketOption::Flags(if p.out { OUTBOUND } else { INBOUND }),
            ],
        };
        self.w.write_pcapng_block(epb).map_err(|e| match e {
            pcap_file::PcapError::IoError(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
        self.w.get_mut().flush()
    }
}

#[cfg(test)]
mod tests;
