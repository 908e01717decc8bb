//! Root test: flow logs as AWS writes them, on the seed-2 lab with real `ping`, `curl` and
//! `dig` inside the instances: ACCEPT for an allowed flow and REJECT for one a security
//! group refuses, in the default format's exact field order, on both the sender's and the
//! receiver's ENI; nothing for Amazon DNS; a custom format with `pkt-srcaddr`. Run it
//! through `netns-scripts/test.sh`.

mod common;

use common::lab::{private_ip, Lab};

const SEED2: &str = "templates/seed2-gateway-endpoint.yaml";

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
    lab.fails(
        public,
        &[
            "curl",
            "-sS",
            "-m",
            "3",
            &format!("http://{private_ip}:8080/"),
        ],
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
    // Let the router's tick hand the records over and the 2-second windows close.
    std::thread::sleep(std::time::Duration::from_secs(3));

    let (code, out) = lab.vpclab(&["flow-logs", "--interval", "2"]);
    assert_eq!(code, 0, "{out}");
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
