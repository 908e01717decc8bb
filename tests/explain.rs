//! Root test: `vpclab explain` agrees with real packets. On each seed lab, for every case the
//! test asks `explain --name LAB … --output json` and runs the real tool inside the source
//! instance (`ping`, `nc -z`, `curl -f`), and asserts both: the analysis's outcome and
//! explanation code are the expected ones, and the real tool succeeds exactly when the
//! analysis says reachable. Seventeen cases: reachable paths, an SG rule removed, a NACL
//! denying the request (inbound) and the reply (outbound), no route, no public IP, a gateway
//! endpoint policy, a pending and a rejected endpoint connection, unhealthy targets, two VPCs
//! with no path, and private DNS off then on. Run it through `netns-scripts/test.sh`.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::lab::{private_ip, Lab};
use vpclab::model::catalog::INTERNET_HOST;

const SEED2: &str = "templates/seed2-gateway-endpoint.yaml";
const LAB3: &str = "templates/interface-endpoint.yaml";
const LAB4: &str = "templates/endpoint-service.yaml";
const S3: &str = "s3.ap-northeast-2.amazonaws.com";
const CFN: &str = "cloudformation.ap-northeast-2.amazonaws.com";

/// What a case expects of `explain`: reachable, or blocked with this explanation code (and,
/// for a reply refused on the way back, direction `egress-return`).
#[derive(Clone, Copy, Debug)]
enum Want {
    Reachable,
    Blocked(&'static str),
    BlockedOnReturn(&'static str),
}

/// The real tool a case runs inside the source instance.
enum Tool<'a> {
    /// `ping` an address.
    Ping(&'a str),
    /// `nc -z` a TCP port.
    Nc(&'a str, u16),
    /// `curl -f` a URL (an HTTP error status fails too, as AccessDenied does).
    Curl(&'a str),
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Runs a verb on the lab and asserts it worked; its output.
fn verb(lab: &Lab, args: &[&str]) -> String {
    let (code, out) = lab.vpclab(args);
    assert_eq!(code, 0, "vpclab {args:?} failed:\n{out}");
    out
}

/// One case: asks `explain`, runs the real tool, and asserts both give `want`.
fn case(lab: &Lab, from: &str, to: &str, proto: &str, port: u16, tool: Tool<'_>, want: Want) {
    let port_s = port.to_string();
    let (code, out) = lab.vpclab(&[
        "explain",
        from,
        to,
        "--protocol",
        proto,
        "--port",
        &port_s,
        "--output",
        "json",
    ]);
    let what = format!("explain {from} → {to} {proto}/{port}");
    assert!(code == 0 || code == 1, "{what}: exit {code}:\n{out}");
    let a = &json(&out)["NetworkInsightsAnalyses"][0];
    let found = a["NetworkPathFound"].as_bool().unwrap();
    assert_eq!(
        found,
        code == 0,
        "{what}: exit code and NetworkPathFound:\n{out}"
    );
    let explanation = &a["Explanations"][0];
    match want {
        Want::Reachable => assert!(found, "{what}: not reachable:\n{out}"),
        Want::Blocked(c) | Want::BlockedOnReturn(c) => {
            assert!(!found, "{what}: reachable, expected {c}:\n{out}");
            assert_eq!(explanation["ExplanationCode"], c, "{what}:\n{out}");
            let dir = if matches!(want, Want::BlockedOnReturn(_)) {
                "egress-return"
            } else {
                "forward"
            };
            assert_eq!(explanation["Direction"], dir, "{what}:\n{out}");
            assert!(
                !explanation["Fix"].as_str().unwrap_or("").is_empty(),
                "{what}: no fix:\n{out}"
            );
        }
    }

    // What the tool says when the network gave no answer or said no: ping's and `nc -z`'s
    // 1, curl's 28 (timed out), 7 (refused) or 22 (an HTTP error, as AccessDenied is); never
    // the code of an error running it or resolving a name (ping's 2, curl's 6, exec's 2).
    let no: &[i32] = match &tool {
        Tool::Ping(_) | Tool::Nc(..) => &[1],
        Tool::Curl(_) => &[7, 22, 28],
    };
    let cmd: Vec<String> = match tool {
        Tool::Ping(ip) => ["ping", "-c", "2", "-i", "0.2", "-W", "1", ip]
            .map(String::from)
            .to_vec(),
        Tool::Nc(ip, p) => vec![
            "nc".into(),
            "-z".into(),
            "-w".into(),
            "2".into(),
            ip.into(),
            p.to_string(),
        ],
        Tool::Curl(url) => ["curl", "-sS", "-f", "-o", "/dev/null", "-m", "3", url]
            .map(String::from)
            .to_vec(),
    };
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (rc, tool_out) = lab.exec(from, &args);
    assert_eq!(
        rc == 0,
        found,
        "{what}: explain says {} but the real `{}` in {from} {} (exit {rc}):\n{tool_out}\nexplain:\n{out}",
        if found { "reachable" } else { "unreachable" },
        cmd.join(" "),
        if rc == 0 { "got through" } else { "did not" },
    );
    assert!(
        found || no.contains(&rc),
        "{what}: the real `{}` in {from} failed with exit {rc}, not the network's no {no:?}:\n{tool_out}",
        cmd.join(" "),
    );
}

/// Polls `f` every 300 ms until true, or panics after `secs` naming `what`.
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn explain_agrees_with_real_packets_on_the_gateway_endpoint_lab() {
    let lab = Lab::up(SEED2);
    let (public, private) = ("CloudNetaPublicEC2", "CloudNetaPrivateEC2");
    let private_addr = private_ip(SEED2, private);
    let internet = INTERNET_HOST.to_string();
    let s3_url = format!("http://{S3}/");

    // 1–2. Reachable: ICMP and SSH between the subnets.
    case(
        &lab,
        public,
        private,
        "icmp",
        0,
        Tool::Ping(&private_addr),
        Want::Reachable,
    );
    case(
        &lab,
        public,
        private,
        "tcp",
        22,
        Tool::Nc(&private_addr, 22),
        Want::Reachable,
    );

    // 3. The group's SSH rule removed: the receiver's group refuses.
    let sg = [
        "--group-id",
        "CloudNetaSecurityGroup",
        "--protocol",
        "tcp",
        "--port",
        "22",
        "--cidr",
        "0.0.0.0/0",
    ];
    verb(
        &lab,
        &[&["revoke-security-group-ingress"][..], &sg].concat(),
    );
    case(
        &lab,
        public,
        private,
        "tcp",
        22,
        Tool::Nc(&private_addr, 22),
        Want::Blocked("ENI_SG_RULES_MISMATCH"),
    );
    verb(
        &lab,
        &[&["authorize-security-group-ingress"][..], &sg].concat(),
    );

    // 4. A NACL entry denying ICMP in from the public subnet: the request is refused. Both
    // subnets have the VPC's default ACL.
    let acls = json(&verb(&lab, &["describe", "network-acls"]));
    let acl_id = acls["NetworkAcls"][0]["NetworkAclId"]
        .as_str()
        .unwrap()
        .to_string();
    let acl = |verb_name: &str, way: &str, action: Option<&str>| {
        let mut args = vec![
            verb_name,
            "--network-acl-id",
            &acl_id,
            "--rule-number",
            "50",
            way,
        ];
        if let Some(action) = action {
            args.extend_from_slice(&[
                "--rule-action",
                action,
                "--protocol",
                "icmp",
                "--cidr-block",
                "10.0.0.0/24",
                "--icmp-type-code",
                "Type=-1,Code=-1",
            ]);
        }
        args.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        verb(&lab, &a);
    };
    run(acl("create-network-acl-entry", "--ingress", Some("deny")));
    case(
        &lab,
        public,
        private,
        "icmp",
        0,
        Tool::Ping(&private_addr),
        Want::Blocked("SUBNET_ACL_RESTRICTION"),
    );
    run(acl("delete-network-acl-entry", "--ingress", None));

    // 5. A NACL entry denying ICMP out to the public subnet: the request passes, the reply
    // is refused on its way back (AWS's stateless example).
    run(acl("create-network-acl-entry", "--egress", Some("deny")));
    case(
        &lab,
        public,
        private,
        "icmp",
        0,
        Tool::Ping(&private_addr),
        Want::BlockedOnReturn("SUBNET_ACL_RESTRICTION"),
    );
    run(acl("delete-network-acl-entry", "--egress", None));
    case(
        &lab,
        public,
        private,
        "icmp",
        0,
        Tool::Ping(&private_addr),
        Want::Reachable,
    );

    // 6–8. The internet: the public instance reaches it; the private subnet has no route;
    // given one, its instance has no public IP.
    case(
        &lab,
        public,
        "internet",
        "icmp",
        0,
        Tool::Ping(&internet),
        Want::Reachable,
    );
    case(
        &lab,
        private,
        "internet",
        "icmp",
        0,
        Tool::Ping(&internet),
        Want::Blocked("NO_ROUTE_TO_DESTINATION"),
    );
    let route = [
        "--route-table-id",
        "CloudNetaPrivateRT",
        "--destination-cidr-block",
        "0.0.0.0/0",
    ];
    verb(
        &lab,
        &[
            &["create-route"][..],
            &route,
            &["--gateway-id", "CloudNetaIGW"],
        ]
        .concat(),
    );
    case(
        &lab,
        private,
        "internet",
        "icmp",
        0,
        Tool::Ping(&internet),
        Want::Blocked("IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"),
    );
    verb(&lab, &[&["delete-route"][..], &route].concat());

    // 9–10. S3 through the gateway endpoint; then a policy that denies everything.
    case(
        &lab,
        private,
        "s3",
        "tcp",
        80,
        Tool::Curl(&s3_url),
        Want::Reachable,
    );
    let v = json(&verb(&lab, &["describe-vpc-endpoints"]));
    let vpce = v["VpcEndpoints"][0]["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
    verb(
        &lab,
        &[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &vpce,
            "--policy-document",
            deny,
        ],
    );
    case(
        &lab,
        private,
        "s3",
        "tcp",
        80,
        Tool::Curl(&s3_url),
        Want::Blocked("VPCE_POLICY_RESTRICTION"),
    );
}

#[test]
fn explain_agrees_with_real_packets_on_the_endpoint_service_lab() {
    let lab = Lab::up(LAB4);
    let web1 = private_ip(LAB4, "WEB1");
    let ep = json(&verb(
        &lab,
        &[
            "describe-vpc-endpoints",
            "--vpc-endpoint-ids",
            "ServiceEndpoint",
        ],
    ));
    let ep = &ep["VpcEndpoints"][0];
    let vpce = ep["VpcEndpointId"].as_str().unwrap().to_string();
    let service_name = ep["ServiceName"].as_str().unwrap().to_string();
    let service_id = service_name.rsplit('.').next().unwrap().to_string();
    let dns = |ep: &Value| ep["DnsEntries"][0]["DnsName"].as_str().unwrap().to_string();
    let name = dns(ep);
    let url = format!("http://{name}/");
    // The web servers install and start at boot: wait until they answer through the endpoint.
    wait_until(60, "the web servers through the endpoint", || {
        lab.exec("MyEC2", &["curl", "-sf", "-m", "2", &url]).0 == 0
    });

    // 11–12. Through PrivateLink; not to the other VPC's private address.
    case(
        &lab,
        "MyEC2",
        &name,
        "tcp",
        80,
        Tool::Curl(&url),
        Want::Reachable,
    );
    case(
        &lab,
        "MyEC2",
        "WEB1",
        "icmp",
        0,
        Tool::Ping(&web1),
        Want::Blocked("DISCONNECTED_VPCS"),
    );

    // 13. The provider rejects the connection.
    let conn = ["--service-id", &service_id, "--vpc-endpoint-ids", &vpce];
    verb(
        &lab,
        &[&["reject-vpc-endpoint-connections"][..], &conn].concat(),
    );
    case(
        &lab,
        "MyEC2",
        &name,
        "tcp",
        80,
        Tool::Curl(&url),
        Want::Blocked("BAD_STATE"),
    );
    verb(
        &lab,
        &[&["accept-vpc-endpoint-connections"][..], &conn].concat(),
    );

    // 14. A second endpoint, once acceptance is required, waits in pendingAcceptance.
    verb(
        &lab,
        &[
            "modify-vpc-endpoint-service-configuration",
            "--service-id",
            &service_id,
            "--acceptance-required",
        ],
    );
    let created = json(&verb(
        &lab,
        &[
            "create-vpc-endpoint",
            "--vpc-endpoint-type",
            "Interface",
            "--vpc-id",
            "MyVPC",
            "--service-name",
            &service_name,
            "--subnet-ids",
            "MyPublicSN1",
            "--security-group-ids",
            "MySG",
        ],
    ));
    let pending = &created["VpcEndpoint"];
    assert_eq!(pending["State"], "pendingAcceptance", "{created}");
    let pending_name = dns(pending);
    let pending_url = format!("http://{pending_name}/");
    case(
        &lab,
        "MyEC2",
        &pending_name,
        "tcp",
        80,
        Tool::Curl(&pending_url),
        Want::Blocked("BAD_STATE"),
    );

    // 15. Both web servers stopped: once the health checks say so, the NLB fails open to a
    // target that refuses.
    case(
        &lab,
        "MyEC2",
        &name,
        "tcp",
        80,
        Tool::Curl(&url),
        Want::Reachable,
    );
    for web in ["WEB1", "WEB2"] {
        lab.ok(web, &["systemctl", "stop", "httpd"]);
    }
    wait_until(60, "both targets unhealthy", || {
        let (_, out) = lab.vpclab(&["describe-target-health"]);
        out.matches("\"unhealthy\"").count() >= 2
    });
    case(
        &lab,
        "MyEC2",
        &name,
        "tcp",
        80,
        Tool::Curl(&url),
        Want::Blocked("ELBV2_NO_TARGETS_IN_AZ"),
    );
}

#[test]
fn explain_agrees_with_real_packets_on_the_interface_endpoint_lab() {
    let lab = Lab::up(LAB3);
    let url = format!("http://{CFN}/");

    // 16. Private DNS off: CloudFormation's name answers its public address, and the private
    // subnet has no route there.
    case(
        &lab,
        "PrivateEC2",
        CFN,
        "tcp",
        80,
        Tool::Curl(&url),
        Want::Blocked("NO_ROUTE_TO_DESTINATION"),
    );
    // 17. Private DNS on: the same name answers the endpoint's addresses.
    verb(
        &lab,
        &[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            "CloudFormationEndpoint",
            "--private-dns-enabled",
        ],
    );
    case(
        &lab,
        "PrivateEC2",
        CFN,
        "tcp",
        80,
        Tool::Curl(&url),
        Want::Reachable,
    );
}
