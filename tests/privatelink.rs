//! Root tests of PrivateLink as a user checks it (seed 1, labs 3 and 4): interface endpoints,
//! endpoint services behind a Network Load Balancer, with the real `dig`, `curl`, `ping` and
//! `sha256sum` inside the instances and the `vpclab` verbs a user runs, on labs brought up with
//! `vpclab up --detach` and always torn down. Run them through `netns-scripts/test.sh`, or
//! `cargo test --test privatelink -- --test-threads 2` as root.
//!
//! Waits are polls with deadlines, never fixed sleeps.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::lab::{DropKind, Lab};
use serde_json::Value;

const IFACE: &str = "templates/interface-endpoint.yaml";
const SERVICE: &str = "templates/endpoint-service.yaml";
const OVERLAP: &str = "tests/fixtures/privatelink-overlap.yaml";
const REGION: &str = "ap-northeast-2";
const CFN: &str = "cloudformation.ap-northeast-2.amazonaws.com";
/// What the write-up's `dig +short cloudformation.ap-northeast-2.amazonaws.com` answers.
const CFN_PUBLIC: &str = "52.95.193.132";
const ACCOUNT: &str = "arn:aws:iam::123456789012:root";

/// Fails with what to install when a tool the tests run inside the instances is missing
/// (instances see the host's programs).
fn need_tools() {
    for (tool, package) in [
        ("dig", "dnsutils"),
        ("curl", "curl"),
        ("ping", "iputils-ping"),
        ("python3", "python3"),
        ("sha256sum", "coreutils"),
    ] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "`{tool}` is not installed: apt-get install {package} (or run netns-scripts/install-deps.sh)"
        );
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Runs a vpclab verb on the lab; its JSON output, or a panic with its output.
fn verb(lab: &Lab, args: &[&str]) -> Value {
    let (code, out) = lab.vpclab(args);
    assert_eq!(code, 0, "vpclab {args:?} failed:\n{out}");
    json(&out)
}

/// `dig +short` answers, sorted.
fn dig(lab: &Lab, from: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> = lab
        .ok(from, &["dig", "+short", "+time=2", "+tries=2", name])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// `curl -sS -m 5 URL` inside `from`: (exit code, body or error).
fn curl(lab: &Lab, from: &str, url: &str) -> (i32, String) {
    lab.exec(from, &["curl", "-sS", "-m", "5", url])
}

/// Polls `f` every 300 ms until it gives `Some`, or panics after `secs` with `what` and the
/// last thing `f` saw.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {secs} s; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// The instance's `InstanceId`, `PrivateIpAddress` and `PublicIpAddress` (or "").
fn instance(lab: &Lab, name: &str) -> (String, String, String) {
    let v = verb(lab, &["describe", "instances", name]);
    let i = &v["Reservations"][0]["Instances"][0];
    (
        i["InstanceId"].as_str().unwrap().to_string(),
        i["PrivateIpAddress"].as_str().unwrap().to_string(),
        i["PublicIpAddress"].as_str().unwrap_or("").to_string(),
    )
}

/// The first load balancer: (ARN, DNS name, node public IPs, node private IPs), sorted.
fn load_balancer(lab: &Lab) -> (String, String, Vec<String>, Vec<String>) {
    let v = verb(lab, &["describe", "load-balancers"]);
    let lb = &v["LoadBalancers"][0];
    let mut public = Vec::new();
    let mut private = Vec::new();
    for z in lb["AvailabilityZones"].as_array().unwrap() {
        for a in z["LoadBalancerAddresses"].as_array().unwrap() {
            if let Some(p) = a["IpAddress"].as_str() {
                public.push(p.to_string());
            }
            private.push(a["PrivateIPv4Address"].as_str().unwrap().to_string());
        }
    }
    public.sort();
    private.sort();
    (
        lb["LoadBalancerArn"].as_str().unwrap().to_string(),
        lb["DNSName"].as_str().unwrap().to_string(),
        public,
        private,
    )
}

/// An endpoint's description (`describe vpc-endpoints NAME`).
fn endpoint(lab: &Lab, name: &str) -> Value {
    verb(lab, &["describe", "vpc-endpoints", name])["VpcEndpoints"][0].clone()
}

fn dns_names(ep: &Value) -> Vec<String> {
    ep["DnsEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["DnsName"].as_str().unwrap().to_string())
        .collect()
}

/// `n` curls of `url` from one shell in `from` (one line each: the body, or `ERR <code>`).
fn curls(lab: &Lab, from: &str, url: &str, n: usize) -> Vec<String> {
    let script = format!(
        "for i in $(seq {n}); do curl -sS -m 5 '{url}' 2>/dev/null || echo \"ERR $?\"; done"
    );
    lab.ok(from, &["sh", "-c", &script])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn count(answers: &[String], web: &str) -> usize {
    answers
        .iter()
        .filter(|a| a.contains(&format!("<h1>{web}</h1>")))
        .count()
}

/// Each target's health state, by instance id (`describe-target-health`).
fn health(lab: &Lab) -> Vec<(String, String)> {
    let v = verb(lab, &["describe-target-health"]);
    v["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["Target"]["Id"].as_str().unwrap().to_string(),
                d["TargetHealth"]["State"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until every target in `want` (instance id → state) is in that state.
fn wait_health(lab: &Lab, want: &[(&str, &str)], secs: u64) {
    wait_for(secs, &format!("target health {want:?}"), || {
        let now = health(lab);
        let ok = want.iter().all(|(id, st)| {
            now.iter()
                .any(|(i, s)| i.as_str() == *id && s.as_str() == *st)
        });
        if ok {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
}

/// The web servers answer (their user data starts them after `up`).
fn wait_web(lab: &Lab, from: &str, url: &str) {
    wait_for(20, &format!("{from}: curl {url}"), || {
        let (code, out) = curl(lab, from, url);
        if code == 0 && out.contains("<h1>WEB") {
            Ok(())
        } else {
            Err(format!("exit {code}: {out}"))
        }
    });
}

/// The lines a target's httpd logged in its access log for `GET /`, as Apache writes them
/// (`<client> - - [date] "GET / HTTP/1.1" 200 …`).
fn get_log(lab: &Lab, web: &str) -> Vec<String> {
    lab.ok(web, &["cat", "/var/log/httpd/access_log"])
        .lines()
        .filter(|l| l.contains("\"GET / "))
        .map(str::to_string)
        .collect()
}

// ---- seed 1, lab 3: the interface endpoint ----------------------------------------------

#[test]
fn interface_endpoint_walkthrough_private_dns_toggle_security_group_mtu_and_region() {
    need_tools();
    let lab = Lab::up(IFACE);
    let (_, public_ip, _) = instance(&lab, "PublicEC2");
    let (_, private_ip, _) = instance(&lab, "PrivateEC2");
    let ep = endpoint(&lab, "CloudFormationEndpoint");
    let vpce = ep["VpcEndpointId"].as_str().unwrap().to_string();
    assert_eq!(
        ep["PrivateDnsEnabled"], false,
        "the write-up turns private DNS off"
    );
    let names = dns_names(&ep);
    let regional = names[0].clone();
    assert!(
        regional.starts_with(&format!("{vpce}-"))
            && regional.ends_with(&format!(".cloudformation.{REGION}.vpce.amazonaws.com")),
        "{regional}"
    );

    // Private DNS off: the default name is the public address, from both subnets.
    for inst in ["PublicEC2", "PrivateEC2"] {
        assert_eq!(dig(&lab, inst, CFN), vec![CFN_PUBLIC], "{inst}");
    }
    // The endpoint's name: exactly its two private IPs, one in each subnet, from both.
    let ips = dig(&lab, "PublicEC2", &regional);
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert!(
        ips[0].starts_with("10.0.0.") && ips[1].starts_with("10.0.1."),
        "not one address per subnet: {ips:?}"
    );
    assert_eq!(dig(&lab, "PrivateEC2", &regional), ips);
    // The zonal names: one each (the public subnet is in zone a, the private one in c).
    assert_eq!(names.len(), 3, "{names:?}");
    for zonal in &names[1..] {
        let want = if zonal.contains(&format!("-{REGION}a.")) {
            &ips[0]
        } else {
            assert!(zonal.contains(&format!("-{REGION}c.")), "{zonal}");
            &ips[1]
        };
        assert_eq!(
            &dig(&lab, "PrivateEC2", zonal),
            &vec![want.clone()],
            "{zonal}"
        );
    }

    // curl through the endpoint: the service sees the private IP and the endpoint.
    for (inst, ip) in [("PublicEC2", &public_ip), ("PrivateEC2", &private_ip)] {
        let (code, out) = curl(&lab, inst, &format!("http://{regional}/"));
        assert_eq!(code, 0, "{inst}: {out}");
        let v = json(&out);
        assert_eq!(v["path"], "interface-endpoint", "{inst}: {out}");
        assert_eq!(v["endpoint"], vpce.as_str(), "{inst}: {out}");
        assert_eq!(v["source"], ip.as_str(), "{inst}: {out}");
    }
    // The default name goes over the internet from the public instance, nowhere from the
    // private one (no internet route).
    let (code, out) = curl(&lab, "PublicEC2", &format!("http://{CFN}/"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["path"], "internet", "{out}");
    lab.curl_times_out(
        "PrivateEC2",
        &format!("http://{CFN}/"),
        3,
        DropKind::NoRoute,
    );

    // Private DNS on: the default name is the two private IPs, and works from the private
    // instance; off again: back to the public address.
    verb(
        &lab,
        &[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &vpce,
            "--private-dns-enabled",
        ],
    );
    assert_eq!(endpoint(&lab, &vpce)["PrivateDnsEnabled"], true);
    for inst in ["PublicEC2", "PrivateEC2"] {
        assert_eq!(dig(&lab, inst, CFN), ips, "{inst} with private DNS on");
    }
    let (code, out) = curl(&lab, "PrivateEC2", &format!("http://{CFN}/"));
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["path"], "interface-endpoint", "{out}");
    assert_eq!(v["source"], private_ip.as_str(), "{out}");
    verb(
        &lab,
        &[
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &vpce,
            "--no-private-dns-enabled",
        ],
    );
    for inst in ["PublicEC2", "PrivateEC2"] {
        assert_eq!(
            dig(&lab, inst, CFN),
            vec![CFN_PUBLIC],
            "{inst} with private DNS off again"
        );
    }

    // The endpoint's security group without an inbound rule for the client: refused, and
    // the flow log says which group.
    let sg = ep["Groups"][0]["GroupId"].as_str().unwrap().to_string();
    verb(
        &lab,
        &[
            "revoke-security-group-ingress",
            "--group-id",
            &sg,
            "--protocol",
            "tcp",
            "--port",
            "80",
            "--cidr",
            "10.0.0.0/16",
        ],
    );
    lab.curl_times_out(
        "PrivateEC2",
        &format!("http://{regional}/"),
        3,
        DropKind::SgIngressDenied,
    );
    let (code, logs) = lab.vpclab(&["flow-logs", "--rejected"]);
    assert_eq!(code, 0, "{logs}");
    // version account-id interface-id srcaddr dstaddr srcport dstport protocol … action … # why
    let why = logs
        .lines()
        .find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 7 && f[3] == private_ip && ips.iter().any(|ip| ip == f[4]) && f[6] == "80"
        })
        .unwrap_or_else(|| panic!("no REJECT of {private_ip} → port 80:\n{logs}"));
    assert!(
        why.contains("no inbound rule of eni-") && why.contains(&sg),
        "the reason does not name the endpoint's interface and group {sg}: {why}"
    );
    verb(
        &lab,
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &sg,
            "--protocol",
            "tcp",
            "--port",
            "80",
            "--cidr",
            "10.0.0.0/16",
        ],
    );
    let (code, out) = curl(&lab, "PrivateEC2", &format!("http://{regional}/"));
    assert_eq!(code, 0, "the rule is back, yet: {out}");

    // PrivateLink's MTU is 8500: a larger packet toward an endpoint is dropped (no ICMP),
    // a smaller one passes. The endpoint answers ping once its group allows ICMP.
    verb(
        &lab,
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &sg,
            "--protocol",
            "icmp",
            "--port",
            "-1",
            "--cidr",
            "10.0.0.0/16",
        ],
    );
    let before = lab.drops(DropKind::EndpointMtuExceeded);
    lab.ok(
        "PrivateEC2",
        &[
            "ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8000", &ips[1],
        ],
    );
    lab.blocked(
        "PrivateEC2",
        &[
            "ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "8600", &ips[1],
        ],
        &[1],
        DropKind::EndpointMtuExceeded,
    );
    assert!(
        lab.drops(DropKind::EndpointMtuExceeded) >= before + 2,
        "status does not count the two 8600-byte pings as EndpointMtuExceeded"
    );

    // Only services of the lab's region: another region's is refused as AWS refuses it.
    let (code, out) = lab.vpclab(&[
        "create-vpc-endpoint",
        "--vpc-endpoint-type",
        "Interface",
        "--vpc-id",
        "LabVPC",
        "--service-name",
        "com.amazonaws.us-east-1.cloudformation",
        "--subnet-ids",
        "PublicSN",
    ]);
    assert_ne!(code, 0, "another region's service was accepted: {out}");
    assert!(out.contains("InvalidServiceName"), "{out}");
}

// ---- seed 1, lab 4: the endpoint service --------------------------------------------------

#[test]
fn endpoint_service_walkthrough_live_acceptance_balance_logs_health_and_1_gib() {
    need_tools();
    // The 1 GiB file first: the instances see the host's /var/tmp through their /var overlay,
    // and files added under an overlay's lower layer after mounting are not guaranteed to show.
    let big = Big::new();
    let lab = Lab::up_with(SERVICE, &["--parameter", "PrivateLink=no"]);
    let (_, my_ip, my_public) = instance(&lab, "MyEC2");
    let (web1_id, _, web1_public) = instance(&lab, "WEB1");
    let (web2_id, _, _) = instance(&lab, "WEB2");
    let (nlb_arn, nlb_dns, node_public, node_private) = load_balancer(&lab);
    assert!(
        node_private.iter().all(|p| p.starts_with("20.0.")),
        "{node_private:?}"
    );

    // An instance reaches another VPC's public IP through both internet gateways.
    lab.ping_ok("MyEC2", &web1_public);
    wait_web(&lab, "MyEC2", &format!("http://{web1_public}/"));
    let (code, out) = curl(&lab, "MyEC2", &format!("http://{web1_public}/"));
    assert_eq!((code, out.trim()), (0, "<h1>WEB1</h1>"));
    assert!(
        get_log(&lab, "WEB1")
            .iter()
            .any(|l| l.starts_with(&format!("{my_public} "))),
        "WEB1 did not see MyEC2's public IP {my_public}"
    );

    // The NLB's DNS name: the nodes' public addresses; curl load-balances.
    assert_eq!(dig(&lab, "MyEC2", &nlb_dns), node_public);
    wait_web(&lab, "MyEC2", &format!("http://{nlb_dns}/"));
    let answers = curls(&lab, "MyEC2", &format!("http://{nlb_dns}/"), 20);
    assert!(
        count(&answers, "WEB1") > 0 && count(&answers, "WEB2") > 0,
        "the NLB did not balance: {answers:?}"
    );

    // The endpoint service, acceptance required.
    let svc = verb(
        &lab,
        &[
            "create-vpc-endpoint-service-configuration",
            "--network-load-balancer-arns",
            &nlb_arn,
            "--acceptance-required",
        ],
    );
    let service_id = svc["ServiceConfiguration"]["ServiceId"]
        .as_str()
        .unwrap()
        .to_string();
    let service_name = svc["ServiceConfiguration"]["ServiceName"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        service_name,
        format!("com.amazonaws.vpce.{REGION}.{service_id}")
    );
    let create = [
        "create-vpc-endpoint",
        "--vpc-endpoint-type",
        "Interface",
        "--vpc-id",
        "MyVPC",
        "--service-name",
        &service_name,
        "--subnet-ids",
        "MyPublicSN1",
        "MyPublicSN2",
        "--security-group-ids",
        "MySG",
    ];
    // A principal the service does not allow cannot create the endpoint: AWS's text.
    let (code, out) = lab.vpclab(&create);
    assert_ne!(code, 0, "created without being allowed: {out}");
    assert!(
        out.contains(
            "An error occurred (InvalidServiceName) when calling the CreateVpcEndpoint operation"
        ) && out.contains(&format!(
            "The Vpc Endpoint Service '{service_name}' does not exist"
        )),
        "{out}"
    );
    verb(
        &lab,
        &[
            "modify-vpc-endpoint-service-permissions",
            "--service-id",
            &service_id,
            "--add-allowed-principals",
            ACCOUNT,
        ],
    );
    let ep = verb(&lab, &create)["VpcEndpoint"].clone();
    let vpce = ep["VpcEndpointId"].as_str().unwrap().to_string();
    assert_eq!(ep["State"], "pendingAcceptance");
    let url = format!("http://{}/", dns_names(&ep)[0]);
    let ips = dig(&lab, "MyEC2", &dns_names(&ep)[0]);
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert!(
        ips.iter().all(|ip| ip.starts_with("10.0.")),
        "not private: {ips:?}"
    );

    // pendingAcceptance passes nothing; accepted passes; rejected passes nothing.
    // (curl times out: the router drops the SYNs of a pendingAcceptance or rejected endpoint.)
    let refused = || lab.curl_times_out("MyEC2", &url, 2, DropKind::EndpointNotAccepted);
    refused();
    let state = |lab: &Lab| endpoint(lab, &vpce)["State"].as_str().unwrap().to_string();
    let accept = verb(
        &lab,
        &[
            "accept-vpc-endpoint-connections",
            "--service-id",
            &service_id,
            "--vpc-endpoint-ids",
            &vpce,
        ],
    );
    assert_eq!(accept["Unsuccessful"], serde_json::json!([]));
    assert_eq!(state(&lab), "available");
    wait_web(&lab, "MyEC2", &url);
    verb(
        &lab,
        &[
            "reject-vpc-endpoint-connections",
            "--service-id",
            &service_id,
            "--vpc-endpoint-ids",
            &vpce,
        ],
    );
    assert_eq!(state(&lab), "rejected");
    refused();
    verb(
        &lab,
        &[
            "accept-vpc-endpoint-connections",
            "--service-id",
            &service_id,
            "--vpc-endpoint-ids",
            &vpce,
        ],
    );
    assert_eq!(state(&lab), "available");

    // Balanced once both targets are healthy: 40 curls reach each at least 10 times.
    wait_health(&lab, &[(&web1_id, "healthy"), (&web2_id, "healthy")], 60);
    let answers = curls(&lab, "MyEC2", &url, 40);
    let (n1, n2) = (count(&answers, "WEB1"), count(&answers, "WEB2"));
    assert_eq!(n1 + n2, 40, "{answers:?}");
    assert!(n1 >= 10 && n2 >= 10, "WEB1 {n1}, WEB2 {n2} of 40");

    // The targets saw the NLB nodes' private addresses (20.0.x.x), not the consumer's.
    for web in ["WEB1", "WEB2"] {
        let log = get_log(&lab, web);
        let last: Vec<&String> = log.iter().rev().take(5).collect();
        assert!(!last.is_empty(), "{web} logged no GET");
        for l in &last {
            let src = l.split_whitespace().next().unwrap();
            assert!(
                node_private.iter().any(|n| n == src),
                "{web} saw {src}, not one of the NLB's {node_private:?} (the consumer is {my_ip}): {l}"
            );
        }
    }

    // WEB2's server stops: after the unhealthy threshold every new connection goes to WEB1;
    // started again, WEB2 turns healthy and answers again.
    lab.ok("WEB2", &["systemctl", "stop", "httpd"]);
    wait_health(&lab, &[(&web2_id, "unhealthy")], 60);
    let answers = curls(&lab, "MyEC2", &url, 20);
    assert_eq!(
        count(&answers, "WEB1"),
        20,
        "with WEB2 unhealthy: {answers:?}"
    );
    lab.ok("WEB2", &["systemctl", "start", "httpd"]);
    wait_health(&lab, &[(&web2_id, "healthy")], 60);
    let answers = curls(&lab, "MyEC2", &url, 20);
    assert!(
        count(&answers, "WEB2") > 0,
        "WEB2 healthy again but not seen: {answers:?}"
    );

    // Both down: fail open, so connections reach a target whose port is closed and are
    // refused (curl's exit 7), not left to time out.
    lab.ok("WEB1", &["systemctl", "stop", "httpd"]);
    lab.ok("WEB2", &["systemctl", "stop", "httpd"]);
    wait_health(
        &lab,
        &[(&web1_id, "unhealthy"), (&web2_id, "unhealthy")],
        60,
    );
    let started = Instant::now();
    let (code, out) = lab.exec("MyEC2", &["curl", "-v", "-sS", "-m", "5", &url]);
    assert_eq!(code, 7, "with every target down, not refused: {out}");
    assert!(out.contains("Connection refused"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused only after {:?}",
        started.elapsed()
    );
    lab.ok("WEB1", &["systemctl", "start", "httpd"]);
    lab.ok("WEB2", &["systemctl", "start", "httpd"]);

    // 1 GiB through PrivateLink, byte-exact: the same file on both targets (the host's /var
    // is the lower layer of the instances' /var, so a host file there is visible to both).
    for web in ["WEB1", "WEB2"] {
        lab.ok(web, &["ln", "-sf", big.path(), "/var/www/html/big.bin"]);
    }
    wait_web(&lab, "MyEC2", &url);
    let got = lab.ok(
        "MyEC2",
        &[
            "bash",
            "-c",
            &format!("set -o pipefail; curl -sS -m 900 '{url}big.bin' | sha256sum"),
        ],
    );
    assert_eq!(
        got.split_whitespace().next(),
        Some(big.sha256.as_str()),
        "1 GiB through the endpoint"
    );

    // Apache's access log is where a user reads who connected (`tail /var/log/httpd/access_log`).
    let (_, access) = lab.exec("WEB1", &["cat", "/var/log/httpd/access_log"]);
    assert!(
        access.contains("\"GET / "),
        "WEB1's /var/log/httpd/access_log has no request"
    );
}

/// A 1 GiB file of random bytes under the host's /var/tmp, removed when dropped.
struct Big {
    path: String,
    sha256: String,
}

impl Big {
    fn new() -> Big {
        let path = format!("/var/tmp/vpclab-privatelink-{}.bin", std::process::id());
        let mut big = Big {
            path,
            sha256: String::new(),
        };
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "head -c 1G /dev/urandom > '{0}' && sha256sum '{0}'",
                    big.path
                ),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        big.sha256 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        big
    }

    fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for Big {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn privatelink_works_between_vpcs_with_the_same_cidr() {
    need_tools();
    let lab = Lab::up(OVERLAP);
    let (_, client_ip, _) = instance(&lab, "Client");
    let (_, _, _, node_private) = load_balancer(&lab);
    let ep = endpoint(&lab, "Endpoint");
    let name = dns_names(&ep)[0].clone();
    let ips = dig(&lab, "Client", &name);
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert!(
        ips[0].starts_with("10.0.1.") && ips[1].starts_with("10.0.2."),
        "not the consumer's subnets: {ips:?}"
    );
    let url = format!("http://{name}/");
    wait_web(&lab, "Client", &url);
    let answers = curls(&lab, "Client", &url, 20);
    assert!(
        count(&answers, "WEB1") > 0 && count(&answers, "WEB2") > 0,
        "did not reach both targets: {answers:?}"
    );
    for web in ["WEB1", "WEB2"] {
        let log = get_log(&lab, web);
        let src = log
            .last()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert!(
            node_private.contains(&src),
            "{web} saw {src}, not the NLB ({node_private:?}); client {client_ip}"
        );
    }
}

#[test]
fn the_internet_reaches_an_internet_facing_nlb_by_its_dns_name() {
    need_tools();
    let lab = Lab::up(SERVICE);
    let (_, nlb_dns, node_public, _) = load_balancer(&lab);
    // By address: the emulated internet reaches the nodes, which balance.
    wait_web(&lab, "internet", &format!("http://{}/", node_public[0]));
    let mut seen = BTreeSet::new();
    for ip in &node_public {
        for a in curls(&lab, "internet", &format!("http://{ip}/"), 10) {
            seen.insert(a);
        }
    }
    assert!(
        seen.contains("<h1>WEB1</h1>") && seen.contains("<h1>WEB2</h1>"),
        "{seen:?}"
    );
    // By name, as anyone on the internet uses an internet-facing NLB.
    let (code, out) = lab.exec(
        "internet",
        &["dig", "+short", "+time=2", "+tries=1", &nlb_dns],
    );
    let mut got: Vec<String> = out
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    got.sort();
    assert!(
        code == 0 && got == node_public,
        "the internet cannot resolve {nlb_dns}: exit {code}: {out}"
    );
    let (code, out) = curl(&lab, "internet", &format!("http://{nlb_dns}/"));
    assert!(code == 0 && out.contains("<h1>WEB"), "exit {code}: {out}");
}
