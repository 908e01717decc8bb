//! VPC Flow Logs' log formats: the fields a record can have and AWS's `LogFormat` text.
//!
//! Contract: pure. [`Format::parse`] reads a log format (`default` or empty for the
//! default format, else `${field}`s separated by spaces) and gives its fields in order; an
//! unknown field is a [`FormatError`] that names it and lists the known ones. It lives in
//! the model so that a template's `AWS::EC2::FlowLog` and a live `create-flow-logs` are
//! checked by the same parser that `control::flowlogs` renders records with.

/// A log format's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `version`: the record's format version (2 with only the default fields, else 5).
    Version,
    /// `account-id`: the account that owns the interface (vpclab: `unknown` for interfaces that are
    /// not an instance's).
    AccountId,
    /// `interface-id`: the network interface the traffic was recorded at (`eni-…`).
    InterfaceId,
    /// `srcaddr`: the source address as the interface sees it.
    SrcAddr,
    /// `dstaddr`: the destination address as the interface sees it.
    DstAddr,
    /// `srcport`: the source port (0 when the protocol has none).
    SrcPort,
    /// `dstport`: the destination port (0 when the protocol has none).
    DstPort,
    /// `protocol`: the IANA protocol number (6 TCP, 17 UDP, 1 ICMP).
    Protocol,
    /// `packets`: packets in the window.
    Packets,
    /// `bytes`: bytes in the window.
    Bytes,
    /// `start`: the first packet's time, Unix seconds.
    Start,
    /// `end`: the last packet's time, Unix seconds.
    End,
    /// `action`: `ACCEPT` or `REJECT` (by security groups or network ACLs).
    Action,
    /// `log-status`: `OK` (vpclab never skips or loses data).
    LogStatus,
    /// `vpc-id`: the interface's VPC.
    VpcId,
    /// `subnet-id`: the interface's subnet.
    SubnetId,
    /// `instance-id`: the instance the interface is attached to (`-` when none).
    InstanceId,
    /// `tcp-flags`: the TCP flags seen in the window, OR-ed (FIN 1, SYN 2, RST 4, SYN-ACK 18).
    TcpFlags,
    /// `type`: the traffic's type (`IPv4`; vpclab carries no IPv6).
    Type,
    /// `pkt-srcaddr`: the packet-level source address (vpclab writes the same as `srcaddr`).
    PktSrcAddr,
    /// `pkt-dstaddr`: the packet-level destination address (vpclab writes the same as `dstaddr`).
    PktDstAddr,
    /// `region`: the interface's region.
    Region,
    /// `az-id`: the Availability Zone of the interface's subnet.
    AzId,
    /// `flow-direction`: `ingress` or `egress`, relative to the interface.
    FlowDirection,
    /// `traffic-path`: for egress, the way the traffic left (1 within the VPC, 7 a gateway
    /// endpoint, 8 an internet gateway); `-` otherwise.
    TrafficPath,
}

/// Every field, with its name, in AWS's order.
pub const FIELDS: [(&str, Field); 25] = [
    ("version", Field::Version),
    ("account-id", Field::AccountId),
    ("interface-id", Field::InterfaceId),
    ("srcaddr", Field::SrcAddr),
    ("dstaddr", Field::DstAddr),
    ("srcport", Field::SrcPort),
    ("dstport", Field::DstPort),
    ("protocol", Field::Protocol),
    ("packets", Field::Packets),
    ("bytes", Field::Bytes),
    ("start", Field::Start),
    ("end", Field::End),
    ("action", Field::Action),
    ("log-status", Field::LogStatus),
    ("vpc-id", Field::VpcId),
    ("subnet-id", Field::SubnetId),
    ("instance-id", Field::InstanceId),
    ("tcp-flags", Field::TcpFlags),
    ("type", Field::Type),
    ("pkt-srcaddr", Field::PktSrcAddr),
    ("pkt-dstaddr", Field::PktDstAddr),
    ("region", Field::Region),
    ("az-id", Field::AzId),
    ("flow-direction", Field::FlowDirection),
    ("traffic-path", Field::TrafficPath),
];

/// The default format (version 2): its first 14 fields.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} \
${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} \
${log-status}";

/// A log format that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A `${field}` flow logs do not have.
    #[error("unknown flow log field ${{{field}}}: known fields are {known}")]
    UnknownField {
        /// The field as written.
        field: String,
        /// The known fields, space separated.
        known: String,
    },
    /// Something other than `${field}`s separated by spaces.
    #[error("a log format is ${{field}}s separated by spaces, not {0:?}")]
    NotAField(String),
    /// No field at all.
    #[error("a log format needs at least one ${{field}}")]
    Empty,
}

/// A parsed log format: its fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    fields: Vec<Field>,
}

impl Format {
    /// Reads `text`: `default` (or empty) for the default format, else `${field}`s
    /// separated by spaces, as AWS's `LogFormat` takes them.
    pub fn parse(text: &str) -> Result<Format, FormatError> {
        let text = text.trim();
        let text = if text.is_empty() || text == "default" {
            DEFAULT_FORMAT
        } else {
            text
        };
        let mut fields = Vec::new();
        for word in text.split_whitespace() {
            let name = word
                .strip_prefix("${")
                .and_then(|w| w.strip_suffix('}'))
                .ok_or_else(|| FormatError::NotAField(word.to_string()))?;
            let field = FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .ok_or_else(|| FormatError::UnknownField {
                    field: name.to_string(),
                    known: FIELDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" "),
                })?;
            fields.push(field);
        }
        if fields.is_empty() {
            return Err(FormatError::Empty);
        }
        Ok(Format { fields })
    }

    /// The header line: the fields' names.
    pub fn header(&self) -> String {
        self.fields
            .iter()
            .map(|f| FIELDS.iter().find(|(_, x)| x == f).map_or("?", |(n, _)| *n))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The version a record in this format says: 2 with only version-2 fields, else 5.
    pub fn version(&self) -> u8 {
        let v2 = FIELDS.iter().take(14).map(|(_, f)| *f).collect::<Vec<_>>();
        if self.fields.iter().all(|f| v2.contains(f)) {
            2
        } else {
            5
        }
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
}
