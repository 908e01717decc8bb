//! VPC Flow Logs records as AWS writes them: the record a daemon hands out, aggregation
//! into capture windows, and the log formats (default and custom `${field}` formats).
//!
//! Contract: pure. A [`FlowSample`] is what the router counted for one flow on one
//! interface in one direction over a short span (the runtime's tick), already named in
//! AWS's terms; [`aggregate`] sums samples into one record per flow, interface, direction,
//! action and capture window (`interval` seconds, windows aligned on multiples of it),
//! with `start`/`end` the window's first and last packet; [`Format::parse`] reads a log
//! format and [`Format::render`] writes a record in it. An unknown field is an error that
//! names it and lists the known ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One flow on one interface, one direction, over a short span, in AWS's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSample {
    /// `account-id`.
    pub account_id: String,
    /// `interface-id`.
    pub interface_id: String,
    /// `vpc-id`.
    pub vpc_id: String,
    /// `subnet-id`.
    pub subnet_id: String,
    /// `instance-id` (`-` when the interface is not an instance's).
    pub instance_id: String,
    /// `region`.
    pub region: String,
    /// `az-id`.
    pub az_id: String,
    /// `ingress` or `egress`.
    pub flow_direction: String,
    /// Source address as the interface sees it.
    pub srcaddr: String,
    /// Destination address as the interface sees it.
    pub dstaddr: String,
    /// Source port (0 for ICMP).
    pub srcport: u16,
    /// Destination port (0 for ICMP).
    pub dstport: u16,
    /// IANA protocol number.
    pub protocol: u8,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// First packet, unix seconds.
    pub start: u64,
    /// Last packet, unix seconds.
    pub end: u64,
    /// Accepted (else rejected).
    pub accept: bool,
    /// TCP flags, OR-ed.
    pub tcp_flags: u8,
    /// `traffic-path` of egress traffic (1 within the VPC, 8 through an internet
    /// gateway, 7 through a gateway endpoint); `None` prints `-`.
    pub traffic_path: Option<u8>,
    /// Why a REJECT was rejected (vpclab's own, never in an AWS log).
    #[serde(default)]
    pub why: Option<String>,
}

/// What identifies one record of a window.
type GroupKey = (u64, String, String, String, String, u16, u16, u8, bool);

/// Sums `samples` into one record per flow, interface, direction, action and capture
/// window of `interval` seconds (at least 1), ordered by window, then interface.
pub fn aggregate(samples: &[FlowSample], interval: u64) -> Vec<FlowSample> {
    let interval = interval.max(1);
    let mut groups: BTreeMap<GroupKey, FlowSample> = BTreeMap::new();
    for s in samples {
        let window = s.start - s.start % interval;
        let key = (
            window,
            s.interface_id.clone(),
            s.flow_direction.clone(),
            s.srcaddr.clone(),
            s.dstaddr.clone(),
            s.srcport,
            s.dstport,
            s.protocol,
            s.accept,
        );
        match groups.get_mut(&key) {
            Some(r) => {
                r.packets += s.packets;
                r.bytes += s.bytes;
                r.start = r.start.min(s.start);
                r.end = r.end.max(s.end);
                r.tcp_flags |= s.tcp_flags;
                if r.why.is_none() {
                    r.why.clone_from(&s.why);
                }
            }
            None => {
                groups.insert(key, s.clone());
            }
        }
    }
    let mut out: Vec<FlowSample> = groups.into_values().collect();
    out.sort_by(|a, b| {
        (a.start - a.start % interval)
            .cmp(&(b.start - b.start % interval))
            .then(a.start.cmp(&b.start))
            .then(a.interface_id.cmp(&b.interface_id))
    });
    out
}

/// The window (its first second) a record of `interval` seconds belongs to.
pub fn window_of(r: &FlowSample, interval: u64) -> u64 {
    let interval = interval.max(1);
    r.start - r.start % interval
}

pub use crate::model::flowlog_format::{Field, Format, FormatError, DEFAULT_FORMAT, FIELDS};

impl Format {
    /// `r` in this format, one line.
    pub fn render(&self, r: &FlowSample) -> String {
        let mut line = String::new();
        for (i, f) in self.fields().iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let _ = match f {
                Field::Version => write!(line, "{}", self.version()),
                Field::AccountId => write!(line, "{}", r.account_id),
                Field::InterfaceId => write!(line, "{}", r.interface_id),
                Field::SrcAddr | Field::PktSrcAddr => write!(line, "{}", r.srcaddr),
                Field::DstAddr | Field::PktDstAddr => write!(line, "{}", r.dstaddr),
                Field::SrcPort => write!(line, "{}", r.srcport),
                Field::DstPort => write!(line, "{}", r.dstport),
                Field::Protocol => write!(line, "{}", r.protocol),
                Field::Packets => write!(line, "{}", r.packets),
                Field::Bytes => write!(line, "{}", r.bytes),
                Field::Start => write!(line, "{}", r.start),
                Field::End => write!(line, "{}", r.end),
                Field::Action => write!(line, "{}", if r.accept { "ACCEPT" } else { "REJECT" }),
                Field::LogStatus => write!(line, "OK"),
                Field::VpcId => write!(line, "{}", r.vpc_id),
                Field::SubnetId => write!(line, "{}", r.subnet_id),
                Field::InstanceId => write!(line, "{}", r.instance_id),
                Field::TcpFlags => write!(line, "{}", r.tcp_flags),
                Field::Type => write!(line, "IPv4"),
                Field::Region => write!(line, "{}", r.region),
                Field::AzId => write!(line, "{}", r.az_id),
                Field::FlowDirection => write!(line, "{}", r.flow_direction),
                Field::TrafficPath => match r.traffic_path {
                    Some(p) if r.flow_direction == "egress" => write!(line, "{p}"),
                    _ => write!(line, "-"),
                },
            };
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start: u64, packets: u64, bytes: u64, accept: bool) -> FlowSample {
        FlowSample {
            account_id: "123456789012".into(),
            interface_id: "eni-0a1b2c3d4e5f60718".into(),
            vpc_id: "vpc-0123456789abcdef0".into(),
            subnet_id: "subnet-0123456789abcdef0".into(),
            instance_id: "i-0123456789abcdef0".into(),
            region: "ap-northeast-2".into(),
            az_id: "apne2-az1".into(),
            flow_direction: "egress".into(),
            srcaddr: "10.0.1.10".into(),
            dstaddr: "10.0.2.20".into(),
            srcport: 40000,
            dstport: 80,
            protocol: 6,
            packets,
            bytes,
            start,
            end: start,
            accept,
            tcp_flags: 2,
            traffic_path: Some(1),
            why: None,
        }
    }

    #[test]
    fn the_default_format_is_aws_version_2_in_order() {
        let f = Format::parse("default").unwrap();
        assert_eq!(
            f.header(),
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
             packets bytes start end action log-status"
        );
        assert_eq!(
            f.render(&sample(1_700_000_000, 5, 400, true)),
            "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.10 10.0.2.20 40000 80 6 5 400 \
             1700000000 1700000000 ACCEPT OK"
        );
        assert_eq!(Format::parse("").unwrap(), f);
    }

    #[test]
    fn custom_formats_take_the_v3_to_v5_fields() {
        let f = Format::parse(
            "${version} ${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} \
             ${pkt-srcaddr} ${pkt-dstaddr} ${region} ${az-id} ${flow-direction} \
             ${traffic-path} ${action}",
        )
        .unwrap();
        assert_eq!(
            f.render(&sample(1, 1, 60, false)),
            "5 vpc-0123456789abcdef0 subnet-0123456789abcdef0 i-0123456789abcdef0 2 IPv4 \
             10.0.1.10 10.0.2.20 ap-northeast-2 apne2-az1 egress 1 REJECT"
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_the_known_ones() {
        let e = Format::parse("${version} ${srcadr}").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("unknown flow log field ${srcadr}: known fields are version "),
            "{msg}"
        );
        assert!(
            msg.contains("pkt-srcaddr") && msg.contains("traffic-path"),
            "{msg}"
        );
        assert!(matches!(
            Format::parse("srcaddr"),
            Err(FormatError::NotAField(_))
        ));
    }

    #[test]
    fn aggregation_sums_a_flow_into_one_record_per_window() {
        let samples = [
            sample(100, 1, 60, true),
            sample(101, 2, 120, true),
            sample(104, 1, 60, true),
            // The next 5-second window.
            sample(105, 1, 60, true),
            // Another action is another record.
            sample(102, 1, 60, false),
        ];
        let out = aggregate(&samples, 5);
        assert_eq!(out.len(), 3, "{out:#?}");
        let first = out.iter().find(|r| r.accept && r.start == 100).unwrap();
        assert_eq!((first.packets, first.bytes, first.end), (4, 240, 104));
        assert!(out.iter().any(|r| !r.accept && r.packets == 1));
        assert_eq!(window_of(out.last().unwrap(), 5), 105);
        // One 60-second window holds them all (per action).
        assert_eq!(aggregate(&samples, 60).len(), 2);
    }
}
