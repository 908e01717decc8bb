//! VPC Flow Logs (`AWS::EC2::FlowLog`).
//!
//! Contract: [`ROWS`] lists the types this family builds, the properties each accepts (read
//! or recorded) and the function that builds it; see [`super`] for what building means. A
//! flow log watches a VPC, a subnet or a network interface of the template, keeps ACCEPT,
//! REJECT or ALL records in its `LogFormat` (checked by the same parser that renders
//! records: an unknown `${field}` is named), aggregated over 60 or 600 seconds (600 by
//! default, as AWS). Where AWS would deliver (CloudWatch Logs or S3) is recorded; the
//! running lab writes the records to a file per flow log instead.

use super::*;
use crate::model::flowlog_format::Format;

/// The types this family builds.
pub(super) const ROWS: &[Row] = &[Row {
    ty: "AWS::EC2::FlowLog",
    properties: &[
        "ResourceId",
        "ResourceType",
        "TrafficType",
        "LogFormat",
        "MaxAggregationInterval",
        "LogDestinationType",
        "LogDestination",
        "LogGroupName",
        "DeliverLogsPermissionArn",
        "DeliverCrossAccountRole",
        "DestinationOptions",
        "Tags",
    ],
    build: flow_log,
}];

/// The `LogDestinationType`s a lab records (Firehose is not emulated).
const DESTINATIONS: &[&str] = &["cloud-watch-logs", "s3"];

fn flow_log(b: &mut Builder<'_>, p: &Props, logical: &str) -> R<Built> {
    let ty = b.req_str(p, "ResourceType")?;
    let resource = match ty.as_str() {
        "VPC" => FlowLogResource::Vpc(b.vpc_id(p, "ResourceId")?),
        "Subnet" => FlowLogResource::Subnet(b.subnet_id(p, "ResourceId")?),
        "NetworkInterface" => FlowLogResource::NetworkInterface(b.req_typed_id(
            p,
            "ResourceId",
            Kind::NetworkInterface,
            EniId::parse,
        )?),
        other => {
            b.report(
                "BadFlowLog",
                p.at("ResourceType"),
                format!("ResourceType '{other}' is not VPC, Subnet or NetworkInterface"),
                "a flow log in vpclab watches a VPC, a subnet or a network interface (transit gateways are not emulated)",
                "write VPC, Subnet or NetworkInterface",
            );
            return Err(Failed);
        }
    };
    let traffic = b.req_str(p, "TrafficType")?;
    let traffic_type = b.pick(
        p,
        "TrafficType",
        &traffic,
        &[
            ("ACCEPT", TrafficType::Accept),
            ("REJECT", TrafficType::Reject),
            ("ALL", TrafficType::All),
        ],
        |v| {
            Complaint::new(
                "BadFlowLog",
                format!("TrafficType '{v}' is not ACCEPT, REJECT or ALL"),
                "a flow log's TrafficType is ACCEPT, REJECT or ALL",
                "write ACCEPT, REJECT or ALL (in capitals)",
            )
        },
    )?;
    let log_format = b.opt_str(p, "LogFormat")?;
    if let Some(f) = &log_format {
        if let Err(e) = Format::parse(f) {
            b.report(
                "BadFlowLog",
                p.at("LogFormat"),
                format!("LogFormat: {e}"),
                "a LogFormat is ${field}s separated by spaces, from the fields flow logs have",
                "fix the field's spelling, or leave LogFormat out for the default format",
            );
            return Err(Failed);
        }
    }
    let max_aggregation_interval = match b.opt_int(p, "MaxAggregationInterval")? {
        None => 600,
        Some(n) => match u32::try_from(n)
            .ok()
            .filter(|n| FLOW_LOG_INTERVALS.contains(n))
        {
            Some(n) => n,
            None => {
                b.report(
                    "BadFlowLog",
                    p.at("MaxAggregationInterval"),
                    format!("MaxAggregationInterval {n} is not 60 or 600"),
                    "a flow log aggregates over 60 or 600 seconds",
                    "write 60 or 600 (or leave it out: 600)",
                );
                return Err(Failed);
            }
        },
    };
    let log_destination_type = b.one_of(
        p,
        "LogDestinationType",
        "cloud-watch-logs",
        DESTINATIONS,
        |v| {
            Complaint::new(
                "BadFlowLog",
                format!("LogDestinationType '{v}' is not cloud-watch-logs or s3"),
                "vpclab records flow logs to CloudWatch Logs or S3 (Firehose is not emulated)",
                "write cloud-watch-logs or s3",
            )
        },
    )?;
    let log_destination = b.opt_str(p, "LogDestination")?;
    let log_group_name = b.opt_str(p, "LogGroupName")?;
    let deliver_logs_permission_arn = b.opt_str(p, "DeliverLogsPermissionArn")?;
    let id = FlowLogId::generate(logical);
    let tags = b.cfn_tags(&p.origin, tags_of(p.get("Tags")));
    b.lab.flow_logs.push(FlowLog {
        id: id.clone(),
        resource,
        traffic_type,
        log_format,
        max_aggregation_interval,
        log_destination_type,
        log_destination,
        log_group_name,
        deliver_logs_permission_arn,
        tags,
        origin: p.origin.clone(),
    });
    Ok(Built::new(id.to_string()).att("Id", id.to_string(), p.origin.line))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{lab, problem};
    use crate::model::*;

    #[test]
    fn a_flow_log_on_a_vpc_builds_with_aws_defaults() {
        let l = lab("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: !Ref V\n      ResourceType: VPC\n      TrafficType: ALL\n      LogGroupName: lab\n");
        let [f] = l.flow_logs.as_slice() else {
            panic!("one flow log: {:?}", l.flow_logs)
        };
        assert!(f.id.as_str().starts_with("fl-0"), "{}", f.id);
        assert_eq!(f.id, FlowLogId::generate("F"));
        assert_eq!(f.resource, FlowLogResource::Vpc(l.vpcs[0].id.clone()));
        assert_eq!(f.traffic_type, TrafficType::All);
        assert_eq!(f.max_aggregation_interval, 600);
        assert_eq!(f.log_destination_type, "cloud-watch-logs");
        assert_eq!(f.log_group_name.as_deref(), Some("lab"));
        assert_eq!(f.log_format, None);
    }

    #[test]
    fn a_flow_log_on_a_subnet_takes_a_format_and_an_interval() {
        let l = lab("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: !Ref S\n      ResourceType: Subnet\n      TrafficType: REJECT\n      MaxAggregationInterval: 60\n      LogDestinationType: s3\n      LogDestination: arn:aws:s3:::logs\n      LogFormat: ${interface-id} ${action}\n");
        let f = &l.flow_logs[0];
        assert_eq!(f.resource, FlowLogResource::Subnet(l.subnets[0].id.clone()));
        assert_eq!(
            (f.max_aggregation_interval, f.log_destination_type.as_str()),
            (60, "s3")
        );
        assert_eq!(f.log_format.as_deref(), Some("${interface-id} ${action}"));
    }

    #[test]
    fn a_bad_traffic_type_is_reported_with_the_logical_id() {
        let p = problem("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: !Ref V\n      ResourceType: VPC\n      TrafficType: accept\n", "F");
        assert_eq!(p.code, "BadFlowLog");
        assert!(p.message.contains("TrafficType 'accept'"), "{}", p.message);
    }

    #[test]
    fn an_unknown_resource_is_reported() {
        let p = problem("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: vpc-0123456789abcdef0\n      ResourceType: VPC\n      TrafficType: ALL\n", "F");
        assert_eq!(p.code, "UnknownResourceId");
        let p = problem("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: !Ref V\n      ResourceType: TransitGateway\n      TrafficType: ALL\n", "F");
        assert!(p.message.contains("TransitGateway"), "{}", p.message);
    }

    #[test]
    fn a_bad_format_names_the_field_and_a_bad_interval_is_reported() {
        let p = problem("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: !Ref V\n      ResourceType: VPC\n      TrafficType: ALL\n      LogFormat: ${srcaddr} ${dstadr}\n", "F");
        assert!(p.message.contains("${dstadr}"), "{}", p.message);
        let p = problem("  F:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      ResourceId: !Ref V\n      ResourceType: VPC\n      TrafficType: ALL\n      MaxAggregationInterval: 300\n", "F");
        assert!(p.message.contains("300"), "{}", p.message);
    }
}
