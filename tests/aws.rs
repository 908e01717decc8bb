//! Root tests of the AWS side (issue 5): Amazon DNS, instance metadata and the regional
//! services as instances see them, with the real `dig`, `curl` and `ping`, on labs brought
//! up with `vpclab up --detach` and always torn down. Run them through
//! `netns-scripts/test.sh`.

mod common;

use common::lab::{private_ip, Lab};
use vpclab::model::catalog;

const DEFAULT: &str = "templates/default.yaml";

/// The gateway service `short` (s3, dynamodb) of `region` in the catalog.
fn service(region: &str, short: &str) -> &'static catalog::GatewayService {
    catalog::region(region)
        .unwrap()
        .gateway_services
        .iter()
        .find(|s| s.short == short)
        .unwrap()
}

fn in_cidrs(ip: &str, cidrs: &[&str]) -> bool {
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    cidrs
        .iter()
        .any(|c| c.parse::<ipnet::Ipv4Net>().unwrap().contains(&ip))
}

/// `dig +short` answers, one per line.
fn dig(lab: &Lab, from: &str, args: &[&str]) -> Vec<String> {
    let mut cmd = vec!["dig", "+short", "+time=2", "+tries=2"];
    cmd.extend_from_slice(args);
    lab.ok(from, &cmd)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Sends raw bytes to `host:port` (UDP or TCP) and prints what comes back, if anything.
const RAW: &str = "import socket,sys\nproto,host,port,data=sys.argv[1],sys.argv[2],int(sys.argv[3]),bytes.fromhex(sys.argv[4])\nif proto=='udp':\n  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(1);s.sendto(data,(host,port))\n  try: print(s.recv(4096).hex())\n  except socket.timeout: print('no answer')\nelse:\n  s=socket.create_connection((host,port),timeout=3);s.sendall(data)\n  try: print(s.recv(4096).decode('latin1'))\n  except socket.timeout: print('no answer')";

#[test]
fn amazon_dns_answers_names_as_the_vpc_resolver_does_and_survives_garbage() {
    let lab = Lab::up(DEFAULT);
    let web1 = "WEB1";
    let web2_ip = private_ip(DEFAULT, "WEB2");
    let model = common::load_file(DEFAULT);
    let web2 = model
        .instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some("WEB2"))
        .unwrap();

    // Regional service names resolve to the catalog's public addresses.
    let s3 = service("ap-northeast-2", "s3");
    let answers = dig(&lab, web1, &["s3.ap-northeast-2.amazonaws.com"]);
    assert!(!answers.is_empty(), "no answer for S3");
    for a in &answers {
        assert!(in_cidrs(a, s3.cidrs), "{a} is not in S3's prefix list");
    }
    let ddb = service("ap-northeast-2", "dynamodb");
    for a in dig(&lab, web1, &["dynamodb.ap-northeast-2.amazonaws.com"]) {
        assert!(
            in_cidrs(&a, ddb.cidrs),
            "{a} is not in DynamoDB's prefix list"
        );
    }
    // Another region's S3 name gives that region's public addresses.
    let east = service("us-east-1", "s3");
    let answers = dig(&lab, web1, &["s3.us-east-1.amazonaws.com"]);
    assert!(!answers.is_empty() && answers.iter().all(|a| in_cidrs(a, east.cidrs)));

    // Private and public names of an instance resolve to its private IP inside the VPC,
    // and the address back to the private name.
    assert_eq!(
        dig(&lab, web1, &[&web2.private_dns_name]),
        vec![web2_ip.clone()]
    );
    assert!(!web2.public_dns_name.is_empty());
    assert_eq!(
        dig(&lab, web1, &[&web2.public_dns_name]),
        vec![web2_ip.clone()]
    );
    assert_eq!(
        dig(&lab, web1, &["-x", &web2_ip]),
        vec![format!("{}.", web2.private_dns_name)]
    );
    // The link-local resolver answers the same.
    assert_eq!(
        dig(&lab, web1, &["@169.254.169.253", &web2.private_dns_name]),
        vec![web2_ip.clone()]
    );
    // There is no internet: anything else is NXDOMAIN.
    let out = lab.ok(web1, &["dig", "+time=2", "+tries=2", "www.example.com"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    // Over TCP too.
    assert_eq!(
        dig(&lab, web1, &["+tcp", &web2.private_dns_name]),
        vec![web2_ip.clone()]
    );

    // Garbage to the resolver gets no crash: a malformed query is answered FORMERR or
    // dropped, and the next real query is answered.
    let dns = "20.0.0.2";
    lab.ok(web1, &["python3", "-c", RAW, "udp", dns, "53", "00ff"]);
    lab.ok(
        web1,
        &[
            "python3",
            "-c",
            RAW,
            "udp",
            dns,
            "53",
            "abcd0100ffff0000000000000377777700",
        ],
    );
    lab.ok(
        web1,
        &["python3", "-c", RAW, "tcp", dns, "53", "0005ffffffffff"],
    );
    assert_eq!(dig(&lab, web1, &[&web2.private_dns_name]), vec![web2_ip]);
}

#[test]
fn instance_metadata_v1_and_v2_and_the_regional_services_through_the_endpoint() {
    let lab = Lab::up(DEFAULT);
    let private = "CloudNetaPrivateEC2";
    let ip = private_ip(DEFAULT, private);
    let model = common::load_file(DEFAULT);
    let inst = model
        .instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some(private))
        .unwrap();
    let md = "http://169.254.169.254/latest/meta-data/";

    // IMDSv1.
    let got = lab.ok(
        private,
        &["curl", "-s", "-m", "3", &format!("{md}local-ipv4")],
    );
    assert_eq!(got, ip);
    let got = lab.ok(
        private,
        &[
            "curl",
            "-s",
            "-m",
            "3",
            &format!("{md}placement/availability-zone"),
        ],
    );
    assert_eq!(got, inst.availability_zone);
    // IMDSv2: a token from PUT, then GET with it; a wrong token is 401.
    let token = lab.ok(
        private,
        &[
            "curl",
            "-s",
            "-m",
            "3",
            "-X",
            "PUT",
            "-H",
            "X-aws-ec2-metadata-token-ttl-seconds: 60",
            "http://169.254.169.254/latest/api/token",
        ],
    );
    assert!(token.len() >= 20, "token {token:?}");
    let got = lab.ok(
        private,
        &[
            "curl",
            "-s",
            "-m",
            "3",
            "-H",
            &format!("X-aws-ec2-metadata-token: {token}"),
            &format!("{md}instance-id"),
        ],
    );
    assert_eq!(got, inst.id.to_string());
    let code = lab.ok(
        private,
        &[
            "curl",
            "-s",
            "-m",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "X-aws-ec2-metadata-token: not-a-token",
            &format!("{md}instance-id"),
        ],
    );
    assert_eq!(code, "401");
    // A malformed request gets 400, and IMDS goes on answering.
    let out = lab.ok(
        private,
        &[
            "python3",
            "-c",
            RAW,
            "tcp",
            "169.254.169.254",
            "80",
            "474152424147450d0a0d0a",
        ],
    );
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let got = lab.ok(
        private,
        &["curl", "-s", "-m", "3", &format!("{md}local-ipv4")],
    );
    assert_eq!(got, ip);

    // The private subnet's route table has the S3 endpoint: S3 answers ping and HTTP,
    // but another region's S3 is not behind this region's endpoint.
    lab.ping_ok(private, "s3.ap-northeast-2.amazonaws.com");
    lab.ping_fails(private, "s3.us-east-1.amazonaws.com");
    let s3 = "http://s3.ap-northeast-2.amazonaws.com";
    lab.ok(
        private,
        &[
            "curl",
            "-sf",
            "-m",
            "5",
            "-X",
            "PUT",
            &format!("{s3}/lab-bucket"),
        ],
    );
    lab.ok(
        private,
        &[
            "curl",
            "-sf",
            "-m",
            "5",
            "-X",
            "PUT",
            "--data-binary",
            "hello from the private subnet",
            &format!("{s3}/lab-bucket/hello.txt"),
        ],
    );
    // Virtual-hosted style, from the public subnet (also behind the endpoint).
    let got = lab.ok(
        "CloudNetaPublicEC2",
        &[
            "curl",
            "-sf",
            "-m",
            "5",
            "http://lab-bucket.s3.ap-northeast-2.amazonaws.com/hello.txt",
        ],
    );
    assert_eq!(got, "hello from the private subnet");
    let code = lab.ok(
        private,
        &[
            "curl",
            "-s",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{s3}/lab-bucket/nope.txt"),
        ],
    );
    assert_eq!(code, "404");
}
