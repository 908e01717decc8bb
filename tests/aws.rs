//! Root tests of the AWS side (issue 5): Amazon DNS, instance metadata and the regional
//! services as instances see them, with the real `dig`, `curl` and `ping`, on labs brought
//! up with `vpclab up --detach` and always torn down. Run them through
//! `netns-scripts/test.sh`.

mod common;

use common::lab::{private_ip, DropKind, Lab};
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

/// Sends raw bytes to `host:port` (UDP or TCP) and prints what comes back within 3 s: the
/// bytes (hex for UDP, text for TCP), `closed` when a TCP peer closed without a word, or
/// `no answer`.
const RAW: &str = "import socket,sys\nproto,host,port,data=sys.argv[1],sys.argv[2],int(sys.argv[3]),bytes.fromhex(sys.argv[4])\nif proto=='udp':\n  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3);s.sendto(data,(host,port))\n  try: print(s.recv(4096).hex())\n  except socket.timeout: print('no answer')\nelse:\n  s=socket.create_connection((host,port),timeout=3);s.sendall(data)\n  try: r=s.recv(4096);print(r.decode('latin1') if r else 'closed')\n  except socket.timeout: print('no answer')";

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
    let answers = dig(&lab, web1, &["dynamodb.ap-northeast-2.amazonaws.com"]);
    assert!(!answers.is_empty(), "no answer for DynamoDB");
    for a in &answers {
        assert!(
            in_cidrs(a, ddb.cidrs),
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

    // Garbage to the resolver gets no crash: a query whose header cannot be read is
    // dropped, one whose header reads but whose body does not is answered FORMERR, and the
    // next real query is answered.
    let dns = "20.0.0.2";
    let raw = |proto: &str, hex: &str| lab.ok(web1, &["python3", "-c", RAW, proto, dns, "53", hex]);
    assert_eq!(
        raw("udp", "00ff").trim(),
        "no answer",
        "two bytes: no header"
    );
    // Id abcd, a query with recursion desired, 65535 questions and the start of one name:
    // FORMERR (rcode 1) with the same id, RD and RA set (8181), no records.
    assert_eq!(
        raw("udp", "abcd0100ffff0000000000000377777700").trim(),
        "abcd81810000000000000000",
        "a header and a broken question"
    );
    // Over TCP, a 5-byte message is no header: dropped, the connection left open.
    assert_eq!(raw("tcp", "0005ffffffffff").trim(), "no answer");
    let (code, out) = lab.vpclab(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 1 FORMERR"), "one FORMERR answered:\n{out}");
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
    lab.ping_fails(private, "s3.us-east-1.amazonaws.com", DropKind::NoRoute);
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

const SEED2: &str = "templates/seed2-gateway-endpoint.yaml";

/// The host's `aws`, by full path (an instance's PATH is the standard one).
fn aws_cli() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v aws"])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "the aws CLI is missing: netns-scripts/install-deps.sh installs it"
    );
    path
}

/// The command line of `aws --endpoint-url http://<service>.ap-northeast-2.amazonaws.com
/// <args>`, to run in an instance.
fn aws_cmd(service: &str, args: &[&str]) -> Vec<String> {
    let mut cmd: Vec<String> = [
        "env",
        "AWS_ACCESS_KEY_ID=lab",
        "AWS_SECRET_ACCESS_KEY=lab",
        "AWS_DEFAULT_REGION=ap-northeast-2",
        // One attempt: a lab answers at once or not at all.
        "AWS_RETRY_MODE=standard",
        "AWS_MAX_ATTEMPTS=1",
        "AWS_PAGER=",
    ]
    .map(String::from)
    .to_vec();
    cmd.push(aws_cli());
    cmd.push("--endpoint-url".into());
    cmd.push(format!("http://{service}.ap-northeast-2.amazonaws.com"));
    cmd.extend(args.iter().map(|a| a.to_string()));
    cmd
}

/// `aws --endpoint-url http://<service>.ap-northeast-2.amazonaws.com <args>` in `instance`.
fn aws(lab: &Lab, instance: &str, service: &str, args: &[&str]) -> (i32, String) {
    let cmd = aws_cmd(service, args);
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    lab.exec(instance, &cmd)
}

fn http_code(lab: &Lab, instance: &str, curl: &[&str]) -> String {
    let mut cmd = vec![
        "curl",
        "-s",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ];
    cmd.extend_from_slice(curl);
    lab.ok(instance, &cmd)
}

#[test]
fn the_seed_walkthrough_s3_through_a_live_endpoint_with_a_policy_and_100_mib() {
    let lab = Lab::up_with(SEED2, &["--parameter", "S3Endpoint=no"]);
    let private = "CloudNetaPrivateEC2";
    let s3 = "s3.ap-northeast-2.amazonaws.com";

    // Before the endpoint: loss from the private subnet; the public one goes by the IGW.
    lab.ping_fails(private, s3, DropKind::NoRoute);
    lab.ping_ok("CloudNetaPublicEC2", s3);

    let vpce = lab.create_gateway_endpoint("s3", &["CloudNetaPublicRT", "CloudNetaPrivateRT"]);
    let (code, out) = lab.vpclab(&["describe", "route-tables", "CloudNetaPrivateRT"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("\"GatewayId\": \"{vpce}\"")), "{out}");
    // After: replies, from the private instance reached by ssh as in the seed.
    let private_ip = private_ip(SEED2, private);
    lab.ok(
        "CloudNetaPublicEC2",
        &[
            "sshpass",
            "-p",
            "qwe123",
            "ssh",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            &format!("root@{private_ip}"),
            "ping",
            "-c",
            "2",
            "-W",
            "2",
            s3,
        ],
    );

    // 100 MiB up and down through the endpoint: the same SHA-256.
    lab.ok(
        private,
        &[
            "curl",
            "-sf",
            "-m",
            "10",
            "-X",
            "PUT",
            &format!("http://{s3}/walk"),
        ],
    );
    lab.ok(
        private,
        &[
            "dd",
            "if=/dev/urandom",
            "of=/tmp/big",
            "bs=1M",
            "count=100",
            "status=none",
        ],
    );
    lab.ok(
        private,
        &[
            "curl",
            "-sf",
            "-m",
            "120",
            "-T",
            "/tmp/big",
            &format!("http://{s3}/walk/big"),
        ],
    );
    lab.ok(
        private,
        &[
            "curl",
            "-sf",
            "-m",
            "120",
            "-o",
            "/tmp/back",
            &format!("http://{s3}/walk/big"),
        ],
    );
    let sums = lab.ok(private, &["sha256sum", "/tmp/big", "/tmp/back"]);
    let sums: Vec<&str> = sums.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(sums.len(), 2);
    assert_eq!(sums[0], sums[1], "the object came back different");

    // The aws CLI lists and copies.
    let (code, out) = aws(
        &lab,
        private,
        "s3",
        &["s3", "cp", "/etc/hostname", "s3://walk/host"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = aws(&lab, private, "s3", &["s3", "ls", "s3://walk"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("host") && out.contains("104857600"), "{out}");

    // An endpoint policy that denies PutObject: 403 for PUT, 200 for GET; reset: 200.
    let deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::walk/*"}]}"#;
    let (code, out) = lab.vpclab(&[
        "modify-vpc-endpoint",
        "--vpc-endpoint-id",
        &vpce,
        "--policy-document",
        deny,
    ]);
    assert_eq!(code, 0, "{out}");
    let put = ["-X", "PUT", "--data-binary", "x"];
    let url = format!("http://{s3}/walk/x");
    let mut args = put.to_vec();
    args.push(&url);
    assert_eq!(http_code(&lab, private, &args), "403");
    assert_eq!(
        http_code(&lab, private, &[&format!("http://{s3}/walk/host")]),
        "200"
    );
    // The public instance's table has the same endpoint: the policy holds there too.
    assert_eq!(http_code(&lab, "CloudNetaPublicEC2", &args), "403");
    let (code, out) = lab.vpclab(&[
        "modify-vpc-endpoint",
        "--vpc-endpoint-id",
        &vpce,
        "--reset-policy",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(http_code(&lab, private, &args), "200");
    // status says what S3 saw: two PUTs refused by the policy, all through the endpoint.
    let (code, out) = lab.vpclab(&["status"]);
    assert_eq!(code, 0, "{out}");
    let s3_line = out.lines().find(|l| l.contains("S3: ")).unwrap_or_default();
    assert!(
        s3_line.contains("2 denied by a policy") && s3_line.contains(", 0 through the internet"),
        "{out}"
    );
}

#[test]
fn dynamodb_through_its_endpoint_only_where_the_route_table_has_it_and_imds_tokens_required() {
    let lab = Lab::up_with(SEED2, &["--parameter", "S3Endpoint=no"]);
    let private = "CloudNetaPrivateEC2";
    let public = "CloudNetaPublicEC2";
    // The public subnet loses its way out, so only an endpoint could reach DynamoDB.
    let (code, out) = lab.vpclab(&[
        "delete-route",
        "--route-table-id",
        "CloudNetaPublicRT",
        "--destination-cidr-block",
        "0.0.0.0/0",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.create_gateway_endpoint("dynamodb", &["CloudNetaPrivateRT"]);

    let ddb = |args: &[&str]| {
        let mut all = vec!["dynamodb"];
        all.extend_from_slice(args);
        let (code, out) = aws(&lab, private, "dynamodb", &all);
        assert_eq!(code, 0, "aws dynamodb {args:?}: {out}");
        out
    };
    ddb(&[
        "create-table",
        "--table-name",
        "Students",
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    ddb(&[
        "put-item",
        "--table-name",
        "Students",
        "--item",
        r#"{"id":{"S":"s1"},"name":{"S":"Kim"}}"#,
    ]);
    let out = ddb(&[
        "get-item",
        "--table-name",
        "Students",
        "--key",
        r#"{"id":{"S":"s1"}}"#,
    ]);
    assert!(out.contains("\"Kim\""), "{out}");
    // The public subnet's table has no DynamoDB endpoint (and no IGW route now): the CLI's
    // connection times out (its exit 255, and its words), as the router drops the SYNs.
    let cmd = aws_cmd(
        "dynamodb",
        &[
            "--cli-connect-timeout",
            "3",
            "--cli-read-timeout",
            "3",
            "dynamodb",
            "list-tables",
        ],
    );
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = lab.blocked(public, &cmd, &[255], DropKind::NoRoute);
    assert!(
        out.contains(
            "Connect timeout on endpoint URL: \"http://dynamodb.ap-northeast-2.amazonaws.com/\""
        ),
        "{out}"
    );

    // IMDSv2 required, live: no token is 401; the token flow still works.
    let md = "http://169.254.169.254/latest/meta-data/instance-id";
    assert_eq!(http_code(&lab, private, &[md]), "200");
    let (code, out) = lab.vpclab(&[
        "modify-instance-metadata-options",
        "--instance-id",
        private,
        "--http-tokens",
        "required",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"HttpTokens\": \"required\""), "{out}");
    assert_eq!(http_code(&lab, private, &[md]), "401");
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
            "X-aws-ec2-metadata-token-ttl-seconds: 30",
            "http://169.254.169.254/latest/api/token",
        ],
    );
    let header = format!("X-aws-ec2-metadata-token: {token}");
    assert_eq!(http_code(&lab, private, &["-H", &header, md]), "200");
}
