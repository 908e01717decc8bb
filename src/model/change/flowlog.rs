//! VPC Flow Logs, live: `create-flow-logs` and `delete-flow-logs` (what the AWS CLI prints
//! for them: `control::shapes`).
//!
//! Contract: `create-flow-logs` makes one flow log per resource it can find (a VPC, subnet or
//! network interface: id, logical id or `Name` tag), with AWS's defaults (the default format,
//! 600 seconds, `cloud-watch-logs`); a resource it cannot find is listed in `Unsuccessful`
//! with AWS's `Invalid…ID.NotFound` code, while a bad `--traffic-type`, `--log-format`,
//! `--max-aggregation-interval` or `--resource-type` refuses the whole call, as AWS does.
//! Ids are deterministic (the same recipe replays to the same ids). `delete-flow-logs`
//! removes the flow logs it finds and lists the others in `Unsuccessful`
//! (`InvalidFlowLogId.NotFound`).

use super::{origin_live, Applied, ChangeError, Ctx, FlowLogSpec, Unsuccessful};
use crate::model::flowlog_format::Format;
use crate::model::ids::hex_digits;
use crate::model::lookup::Kind;
use crate::model::*;

/// `create-flow-logs`.
pub(super) fn create(lab: &mut Lab, cx: &Ctx, c: &FlowLogSpec) -> Result<Applied, ChangeError> {
    let (kind, not_found) = match c.resource_type.as_str() {
        "VPC" => (Kind::Vpc, "InvalidVpcID.NotFound"),
        "Subnet" => (Kind::Subnet, "InvalidSubnetID.NotFound"),
        "NetworkInterface" => (Kind::NetworkInterface, "InvalidNetworkInterfaceID.NotFound"),
        other => {
            return Err(cx.err(
                "InvalidParameterValue",
                format!("--resource-type '{other}' is not VPC, Subnet or NetworkInterface"),
            ))
        }
    };
    if c.resource_ids.is_empty() {
        return Err(cx.err(
            "MissingParameter",
            "give the resources to watch: --resource-ids",
        ));
    }
    let traffic_type = TrafficType::parse(&c.traffic_type).ok_or_else(|| {
        cx.err(
            "InvalidParameterValue",
            format!(
                "--traffic-type '{}' is not ACCEPT, REJECT or ALL",
                c.traffic_type
            ),
        )
    })?;
    if let Some(f) = &c.log_format {
        Format::parse(f).map_err(|e| cx.err("InvalidParameter", format!("--log-format: {e}")))?;
    }
    let max_aggregation_interval = match c.max_aggregation_interval {
        None => 600,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| FLOW_LOG_INTERVALS.contains(n))
            .ok_or_else(|| {
                cx.err(
                    "InvalidParameterValue",
                    format!("--max-aggregation-interval {n} is not 60 or 600"),
                )
            })?,
    };
    let log_destination_type = c
        .log_destination_type
        .as_deref()
        .unwrap_or("cloud-watch-logs");
    if !["cloud-watch-logs", "s3"].contains(&log_destination_type) {
        return Err(cx.err(
            "InvalidParameterValue",
            format!(
                "--log-destination-type '{log_destination_type}' is not cloud-watch-logs or s3 \
                 (Firehose is not emulated)"
            ),
        ));
    }
    let mut ids = vec![];
    let mut unsuccessful = vec![];
    for q in &c.resource_ids {
        let Ok(found) = cx.find(kind, q, not_found) else {
            unsuccessful.push(Unsuccessful {
                resource: q.clone(),
                code: not_found.into(),
                message: format!("The {} Id '{q}' does not exist", c.resource_type),
            });
            continue;
        };
        let resource = match kind {
            Kind::Vpc => VpcId::parse(&found).map(FlowLogResource::Vpc),
            Kind::Subnet => SubnetId::parse(&found).map(FlowLogResource::Subnet),
            _ => EniId::parse(&found).map(FlowLogResource::NetworkInterface),
        }
        .ok_or_else(|| cx.err(not_found, found.clone()))?;
        let mut n = lab.flow_logs.len();
        let id = loop {
            let id = FlowLogId::generate(&format!("{}/live/{found}/{n}", lab.region));
            if !lab.flow_logs.iter().any(|f| f.id == id) {
                break id;
            }
            n += 1;
        };
        ids.push(id.to_string());
        lab.flow_logs.push(FlowLog {
            id,
            resource,
            traffic_type,
            log_format: c.log_format.clone(),
            max_aggregation_interval,
            log_destination_type: log_destination_type.to_string(),
            log_destination: c.log_destination.clone(),
            log_group_name: c.log_group_name.clone(),
            deliver_logs_permission_arn: c.deliver_logs_permission_arn.clone(),
            tags: Tags::default(),
            origin: origin_live("flow log"),
        });
    }
    let client_token = match &c.client_token {
        Some(t) => t.clone(),
        None => {
            let h = hex_digits(
                &format!("client-token/{}/{}", lab.region, ids.join(",")),
                32,
            );
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
    };
    Ok(Applied::FlowLogs {
        client_token,
        ids,
        unsuccessful,
    })
}

/// `delete-flow-logs`: what it cannot delete is listed, as the API does, not an error.
pub(super) fn delete(lab: &mut Lab, ids: &[String]) -> Applied {
    let mut unsuccessful = vec![];
    for q in ids {
        let Some(pos) = lab.flow_logs.iter().position(|f| f.id.as_str() == q) else {
            unsuccessful.push(Unsuccessful {
                resource: q.clone(),
                code: "InvalidFlowLogId.NotFound".into(),
                message: format!("These flow log ids in the input list are not found: [{q}]"),
            });
            continue;
        };
        lab.flow_logs.remove(pos);
    }
    Applied::Unsuccessful(unsuccessful)
}

#[cfg(test)]
mod tests {
    use super::super::{ApplyJson, Change, FlowLogSpec};
    use crate::model::*;
    use crate::template::{load, Options};

    fn lab() -> Lab {
        load(
            include_str!("../../../templates/seed2-gateway-endpoint.yaml"),
            &Options::default(),
        )
        .expect("seed-2 loads")
    }

    /// The first instance's network interface.
    fn eni(l: &Lab) -> String {
        l.instances[0].eni.to_string()
    }

    fn create(ty: &str, ids: &[&str], traffic: &str, format: Option<&str>) -> Change {
        Change::CreateFlowLogs(Box::new(FlowLogSpec {
            resource_type: ty.into(),
            resource_ids: ids.iter().map(|s| s.to_string()).collect(),
            traffic_type: traffic.into(),
            log_format: format.map(str::to_string),
            max_aggregation_interval: None,
            log_destination_type: None,
            log_destination: None,
            log_group_name: Some("lab".into()),
            deliver_logs_permission_arn: None,
            client_token: None,
        }))
    }

    #[test]
    fn create_then_delete() {
        let mut l = lab();
        let e = eni(&l);
        let v = l
            .apply_json(&create(
                "NetworkInterface",
                &[&e],
                "REJECT",
                Some("${interface-id} ${action}"),
            ))
            .unwrap();
        let ids = v["FlowLogIds"].as_array().unwrap();
        assert_eq!(ids.len(), 1, "{v}");
        assert_eq!(v["Unsuccessful"], serde_json::json!([]));
        assert!(
            v["ClientToken"].as_str().is_some_and(|t| t.len() == 36),
            "{v}"
        );
        let id = ids[0].as_str().unwrap().to_string();
        assert!(id.starts_with("fl-0"));
        let f = &l.flow_logs[0];
        assert_eq!(
            f.resource,
            FlowLogResource::NetworkInterface(l.instances[0].eni.clone())
        );
        assert_eq!(
            (f.traffic_type, f.max_aggregation_interval),
            (TrafficType::Reject, 600)
        );
        // The same resource again: another id.
        let v2 = l
            .apply_json(&create("NetworkInterface", &[&e], "ALL", None))
            .unwrap();
        assert_ne!(v2["FlowLogIds"][0].as_str(), Some(id.as_str()));
        let v = l
            .apply_json(&Change::DeleteFlowLogs {
                ids: vec![id.clone()],
            })
            .unwrap();
        assert_eq!(v, serde_json::json!({"Unsuccessful": []}));
        assert_eq!(l.flow_logs.len(), 1);
        assert!(l.flow_logs.iter().all(|f| f.id.as_str() != id));
    }

    #[test]
    fn unknown_ids_are_unsuccessful() {
        let mut l = lab();
        let v = l
            .apply_json(&Change::DeleteFlowLogs {
                ids: vec!["fl-0123456789abcdef0".into()],
            })
            .unwrap();
        assert_eq!(
            v["Unsuccessful"][0]["Error"]["Code"],
            "InvalidFlowLogId.NotFound"
        );
        assert_eq!(v["Unsuccessful"][0]["ResourceId"], "fl-0123456789abcdef0");
        let v = l
            .apply_json(&create(
                "VPC",
                &[&l.vpcs[0].id.to_string(), "vpc-0123456789abcdef0"],
                "ALL",
                None,
            ))
            .unwrap();
        assert_eq!(v["FlowLogIds"].as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(
            v["Unsuccessful"][0]["Error"]["Code"],
            "InvalidVpcID.NotFound"
        );
    }

    #[test]
    fn bad_parameters_refuse_the_call() {
        let mut l = lab();
        let e = l
            .apply(&create("VPC", &[&l.vpcs[0].id.to_string()], "SOME", None))
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        let e = l
            .apply(&create(
                "VPC",
                &[&l.vpcs[0].id.to_string()],
                "ALL",
                Some("${srcaddr} ${dstadr}"),
            ))
            .unwrap_err();
        assert!(e.message.contains("${dstadr}"), "{e}");
        assert!(l.flow_logs.is_empty());
    }
}
