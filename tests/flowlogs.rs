//! Root test: flow logs as AWS writes them, on the seed-2 lab with real `ping`, `curl` and
//! `dig` inside the instances: ACCEPT for an allowed flow and REJECT for one a security
//! group refuses, in the default format's exact field order, on both the sender's and the
//! receiver's ENI; nothing for Amazon DNS; a custom format with `pkt-srcaddr`. And flow logs
//! as resources: a template's `AWS::EC2::FlowLog` on the VPC delivers ACCEPT records to its
//! file, a live `create-flow-logs` on one ENI delivers its REJECTs in a custom format, and
//! `delete-flow-logs` stops it. Run it through `netns-scripts/test.sh`.

mod common;

use std::time::{Duration, Instant};

use common::lab::{private_ip, DropKind, Lab};

const SEED2: &str = "templates/seed2-gateway-endpoint.yaml";

/// Polls `f` every 300 ms until it gives `Ok`, or panics after `secs` with `what` and the
/// last thing `f` saw.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {secs} s; last:\n{last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// The records of `flow-logs` output (the header line left out), split into fields.
fn records(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn flow_logs_record_every_interface_as_aws_writes_them() {
    let lab = Lab::up(SEED2);
    let public = "CloudNetaPublicEC2";
    let private = "CloudNetaPrivateEC2";
    let public_ip = private_ip(SEED2, public);
    let private_ip = private_ip(SEED2, private);

    lab.ok(public, &["ping", "-c", "3", "-W", "2", &private_ip]);
    // The group admits 22, 80 and ICMP: 8080 is refused.
    lab.curl_times_out(
        public,
        &format!("http://{private_ip}:8080/"),
        3,
        DropKind::SgIngressDenied,
    );
    // Amazon DNS is never logged.
    let _ = lab.exec(
        public,
        &[
            "dig",
            "+short",
            "+time=2",
            "+tries=1",
            "s3.ap-northeast-2.amazonaws.com",
        ],
    );
    // Wait (with a deadline) until the router's tick has handed the records over: the
    // refused connection's REJECT and the three echo requests on one ENI.
    let out = wait_for(
        20,
        "the ping's and the refused connection's records",
        || {
            let (code, out) = lab.vpclab(&["flow-logs", "--interval", "2"]);
            assert_eq!(code, 0, "{out}");
            let recs = records(&out);
            let rejected = recs
                .iter()
                .any(|r| r.len() > 12 && r[6] == "8080" && r[12] == "REJECT");
            let echoes: u64 = recs
                .iter()
                .filter(|r| r.len() > 8 && r[3] == public_ip && r[4] == private_ip && r[7] == "1")
                .map(|r| r[8].parse::<u64>().unwrap_or(0))
                .sum();
            (rejected && echoes >= 6).then_some(out.clone()).ok_or(out)
        },
    );
    assert_eq!(
        out.lines().next(),
        Some(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
             bytes start end action log-status"
        )
    );
    let recs = records(&out);
    for r in &recs {
        assert_eq!(r.len(), 14, "the default format has 14 fields: {r:?}");
        assert_eq!(r[0], "2");
        assert!(r[2].starts_with("eni-"), "{r:?}");
        assert!(r[12] == "ACCEPT" || r[12] == "REJECT", "{r:?}");
        assert_eq!(r[13], "OK");
        let (start, end): (u64, u64) = (r[10].parse().unwrap(), r[11].parse().unwrap());
        assert!(
            start <= end && end - start < 2,
            "one 2-second window: {r:?}"
        );
    }
    // The ping: ACCEPT on the sender's ENI and on the receiver's, both ways.
    let pings: Vec<&Vec<String>> = recs
        .iter()
        .filter(|r| r[3] == public_ip && r[4] == private_ip && r[7] == "1")
        .collect();
    assert!(pings.iter().all(|r| r[12] == "ACCEPT"), "{out}");
    let enis: std::collections::BTreeSet<&str> = pings.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        enis.len(),
        2,
        "the request on the sender's and the receiver's ENI:\n{out}"
    );
    let packets: u64 = pings
        .iter()
        .filter(|r| r[2] == pings[0][2])
        .map(|r| r[8].parse::<u64>().unwrap())
        .sum();
    assert_eq!(packets, 3, "three echo requests, summed:\n{out}");
    assert!(
        recs.iter()
            .any(|r| r[3] == private_ip && r[4] == public_ip && r[7] == "1" && r[12] == "ACCEPT"),
        "the replies:\n{out}"
    );
    // The refused connection: ACCEPT leaving the sender, REJECT at the receiver.
    let refused: Vec<&Vec<String>> = recs
        .iter()
        .filter(|r| r[4] == private_ip && r[6] == "8080" && r[7] == "6")
        .collect();
    assert!(
        refused.iter().any(|r| r[12] == "REJECT"),
        "no REJECT for 8080:\n{out}"
    );
    assert!(
        refused.iter().any(|r| r[12] == "ACCEPT"),
        "the sender's side:\n{out}"
    );
    // No Amazon DNS.
    assert!(
        !recs.iter().any(|r| r[5] == "53" || r[6] == "53"),
        "Amazon DNS is not logged:\n{out}"
    );

    // --why says why; a custom format shows pkt-srcaddr.
    let (code, out) = lab.vpclab(&["flow-logs", "--interval", "2", "--why"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(" 8080 6 ") && l.contains("REJECT OK # no inbound rule of")),
        "{out}"
    );
    let (code, out) = lab.vpclab(&[
        "flow-logs",
        "--interval",
        "2",
        "--format",
        "${interface-id} ${pkt-srcaddr} ${pkt-dstaddr} ${flow-direction} ${action}",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().next(),
        Some("interface-id pkt-srcaddr pkt-dstaddr flow-direction action")
    );
    assert!(
        out.lines()
            .any(|l| l.ends_with(&format!(" {public_ip} {private_ip} ingress ACCEPT"))),
        "{out}"
    );
    let (code, out) = lab.vpclab(&["flow-logs", "--format", "${srcadr}"]);
    assert_ne!(code, 0);
    assert!(out.contains("unknown flow log field ${srcadr}"), "{out}");
}

/// `seed2` with a flow log on the whole VPC, ACCEPT only, delivered (as AWS would) to S3.
fn seed2_with_flow_log() -> String {
    let seed = std::fs::read_to_string(common::root().join(SEED2)).unwrap();
    format!(
        "{seed}\n  VpcFlowLog:\n    Type: AWS::EC2::FlowLog\n    Properties:\n      \
         ResourceType: VPC\n      ResourceId: !Ref CloudNetaVPC\n      TrafficType: ACCEPT\n      \
         LogDestinationType: s3\n      LogDestination: arn:aws:s3:::vpclab-flow-logs\n      \
         MaxAggregationInterval: 60\n"
    )
}

/// The lines of a flow log's delivery file (none while it does not exist).
fn delivered(lab: &Lab, id: &str) -> Vec<String> {
    let path = format!("/run/vpclab/{}/flow-logs/{id}.log", lab.name);
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `curl` to port 8080 of `ip` from `from`, which the group refuses.
fn refused_curl(lab: &Lab, from: &str, ip: &str) {
    lab.curl_times_out(
        from,
        &format!("http://{ip}:8080/"),
        2,
        DropKind::SgIngressDenied,
    );
}

#[test]
fn flow_log_resources_deliver_their_records_to_a_file_each() {
    let template = common::temp_template("flowlog-resource", &seed2_with_flow_log());
    // Two-second capture windows instead of the template's 60 s.
    let lab = Lab::up_env(
        common::s(template.path()),
        &[],
        &[("VPCLAB_FLOW_LOG_INTERVAL_S", "2")],
    );
    let public = "CloudNetaPublicEC2";
    let private = "CloudNetaPrivateEC2";
    let public_ip = private_ip(SEED2, public);
    let private_ip = private_ip(SEED2, private);

    let (code, out) = lab.vpclab(&["describe", "flow-logs"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let logs = v["FlowLogs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{out}");
    assert_eq!(logs[0]["TrafficType"], "ACCEPT", "{out}");
    let vpc_log = logs[0]["FlowLogId"].as_str().unwrap().to_string();
    assert!(vpc_log.starts_with("fl-"), "{out}");

    // The template's flow log: the ping's ACCEPT records, default format, on both ENIs.
    lab.ok(public, &["ping", "-c", "3", "-W", "2", &private_ip]);
    let lines = wait_for(20, "the ping's records in the VPC's flow log", || {
        let lines = delivered(&lab, &vpc_log);
        let enis: std::collections::BTreeSet<String> = lines
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() == 14 && f[3] == public_ip && f[4] == private_ip && f[7] == "1")
            .map(|f| f[2].to_string())
            .collect();
        (enis.len() == 2)
            .then_some(lines.clone())
            .ok_or(lines.join("\n"))
    });
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 14, "the default format: {l}");
        assert_eq!((f[0], f[12], f[13]), ("2", "ACCEPT", "OK"), "{l}");
    }

    // A live flow log on the private instance's ENI: REJECT only, a custom format.
    let (code, out) = lab.vpclab(&["describe", "instances", private]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let eni = v["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out) = lab.vpclab(&[
        "create-flow-logs",
        "--resource-type",
        "NetworkInterface",
        "--resource-ids",
        &eni,
        "--traffic-type",
        "REJECT",
        "--log-format",
        "${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${flow-direction} ${action}",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Unsuccessful"], serde_json::json!([]), "{out}");
    let eni_log = v["FlowLogIds"][0].as_str().unwrap().to_string();

    refused_curl(&lab, public, &private_ip);
    let want = format!("{eni} {public_ip} {private_ip} 8080 ingress REJECT");
    wait_for(20, "the refused connection in the ENI's flow log", || {
        let lines = delivered(&lab, &eni_log);
        lines
            .iter()
            .any(|l| l == &want)
            .then_some(())
            .ok_or(lines.join("\n"))
    });
    let lines = delivered(&lab, &eni_log);
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(" REJECT") && l.starts_with(&eni)),
        "REJECT records of {eni} only:\n{}",
        lines.join("\n")
    );
    // The sender's side of the same connection was accepted: in the VPC's ACCEPT log.
    let senders = |lab: &Lab| -> usize {
        delivered(lab, &vpc_log)
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() == 14 && f[4] == private_ip && f[6] == "8080")
            .map(|f| f[5].to_string())
            .collect::<std::collections::BTreeSet<String>>()
            .len()
    };
    wait_for(
        20,
        "the refused connection's sender side in the VPC's log",
        || {
            (senders(&lab) == 1)
                .then_some(())
                .ok_or(format!("{} flows", senders(&lab)))
        },
    );

    // Deleted, the ENI's log stops growing while the VPC's goes on.
    let (code, out) = lab.vpclab(&["delete-flow-logs", "--flow-log-ids", &eni_log]);
    assert_eq!(code, 0, "{out}");
    let before = delivered(&lab, &eni_log).len();
    refused_curl(&lab, public, &private_ip);
    wait_for(20, "the second refused connection in the VPC's log", || {
        (senders(&lab) == 2)
            .then_some(())
            .ok_or(format!("{} flows", senders(&lab)))
    });
    assert_eq!(
        delivered(&lab, &eni_log).len(),
        before,
        "a deleted flow log was still delivered to"
    );
}
