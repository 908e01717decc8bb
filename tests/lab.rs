//! Root tests: labs brought up on real namespaces with `vpclab up --detach`, probed with the
//! real `ping`, `ssh` and Python sockets from inside the instances, and always torn down (a
//! Drop guard runs `vpclab down`). Run them through `netns-scripts/test.sh`.

mod common;

use std::process::Command;

use common::lab::{private_ip, public_ip, DropKind, Lab};

const SEED2: &str = "templates/seed2-gateway-endpoint.yaml";
const ROUTER_LAB: &str = "tests/fixtures/router-lab.yaml";

fn sha256(path: &str) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Prints `listening` once it listens on `port`, then accepts one TCP connection (within
/// 60 s) and prints the peer's address. Started with [`Lab::serve`].
const ACCEPT_ONE: &str = "import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',int(sys.argv[1])));s.listen();s.settimeout(60)\nprint('listening',flush=True)\nc,a=s.accept();print(a[0])";
/// Connects to `host:port` within 3 s: exit 0 if it connected, 3 if it timed out (no answer),
/// 4 if refused; any other error is Python's exit 1 with its traceback.
const CONNECT: &str = "import socket,sys\ntry: socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=3)\nexcept socket.timeout: sys.exit(3)\nexcept ConnectionRefusedError: sys.exit(4)";
/// [`CONNECT`]'s exit when nothing answered.
const TIMED_OUT: i32 = 3;

#[test]
fn seed2_lab_pings_sshes_and_reaches_the_internet_as_aws_does() {
    let shadow = sha256("/etc/shadow");
    let sshd = sha256("/etc/ssh/sshd_config");
    let lab = Lab::up(SEED2);
    let public = "CloudNetaPublicEC2";
    let private = private_ip(SEED2, "CloudNetaPrivateEC2");
    let public_private = private_ip(SEED2, public);

    // Ping both ways, by logical id and by Name tag.
    lab.ping_ok(public, &private);
    lab.ping_ok("CloudNeta-Private-EC2", &public_private);
    assert_eq!(
        lab.ok(public, &["hostname"]).trim(),
        format!("ip-{}", public_private.replace('.', "-"))
    );

    // ssh root@private with the seed's password, from the public instance.
    let out = lab.ok(
        public,
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
            &format!("root@{private}"),
            "hostname",
        ],
    );
    assert!(
        out.contains(&format!("ip-{}", private.replace('.', "-"))),
        "{out}"
    );
    // The user data changed the instance's files, never the host's.
    assert_eq!(sha256("/etc/shadow"), shadow, "host /etc/shadow changed");
    assert_eq!(
        sha256("/etc/ssh/sshd_config"),
        sshd,
        "host sshd_config changed"
    );

    // The internet sees the public IP; the private instance has no way out.
    let server = lab.serve("internet", &["python3", "-c", ACCEPT_ONE, "9000"], 30);
    lab.ok(public, &["python3", "-c", CONNECT, "203.0.113.10", "9000"]);
    let (code, seen) = server.finish();
    assert_eq!(code, 0, "{seen}");
    assert_eq!(
        seen.trim(),
        public_ip(SEED2, public),
        "the internet sees the public IP"
    );
    lab.ping_fails("CloudNetaPrivateEC2", "203.0.113.10", DropKind::NoRoute);
    // And from the internet, the public instance answers on its public IP.
    lab.ping_ok("internet", &public_ip(SEED2, public));
    // `vpclab shell` is a login shell with EC2's prompt (on a pseudo-terminal, by `script`).
    let mut shell = Command::new("script")
        .args([
            "-qc",
            &format!(
                "{} shell --name {} CloudNeta-Private-EC2",
                env!("CARGO_BIN_EXE_vpclab"),
                lab.name
            ),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = shell.stdin.take().unwrap();
        stdin.write_all(b"hostname\nexit\n").unwrap();
    }
    let out = shell.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let host = format!("ip-{}", private.replace('.', "-"));
    assert!(
        text.contains(&format!("[root@{host} ~]#")) && text.contains(&host),
        "{text}"
    );

    // The template's KeyName is a lab key pair: its .pem logs in as root from outside. The
    // emulated internet holds it in /root, as a user's laptop would (no instance sees the
    // host's /var/lib/vpclab, where the lab keeps it).
    let pem = "/root/vpclab-key.pem";
    let out = lab.ok(
        "internet",
        &[
            "ssh",
            "-i",
            pem,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            &format!("root@{}", public_ip(SEED2, public)),
            "hostname",
        ],
    );
    assert!(
        out.contains(&format!("ip-{}", public_private.replace('.', "-"))),
        "{out}"
    );
}

#[test]
fn security_groups_acls_and_routes_act_on_a_running_lab() {
    let lab = Lab::up(SEED2);
    let public = "CloudNetaPublicEC2";
    let private = "CloudNetaPrivateEC2";
    let private_ip = private_ip(SEED2, private);

    // A server on 80 (allowed) and 8080 (not in the group).
    let serve = |port| lab.serve(private, &["python3", "-c", ACCEPT_ONE, port], 30);
    let (on80, on8080) = (serve("80"), serve("8080"));
    let public_private = common::lab::private_ip(SEED2, public);
    lab.ok(public, &["python3", "-c", CONNECT, &private_ip, "80"]);
    assert_eq!(on80.finish(), (0, format!("{public_private}\n")));
    lab.blocked(
        public,
        &["python3", "-c", CONNECT, &private_ip, "8080"],
        &[TIMED_OUT],
        DropKind::SgIngressDenied,
    );
    // The flow log shows the refused SYN, as VPC Flow Logs would, and says why.
    let (code, out) = lab.vpclab(&["flow-logs", "--rejected"]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(&format!(" {private_ip} ")) && l.contains(" 8080 6 1 "))
        .unwrap_or_else(|| panic!("no REJECT record for port 8080:\n{out}"));
    assert!(line.contains("REJECT OK # no inbound rule of"), "{line}");
    assert!(
        !out.contains(" 80 6 1 "),
        "the allowed connection is not a rejection:\n{out}"
    );

    // Opening 8080 takes effect at once.
    let (code, out) = lab.vpclab(&[
        "authorize-security-group-ingress",
        "--group-id",
        "CloudNetaSecurityGroup",
        "--protocol",
        "tcp",
        "--port",
        "8080",
        "--cidr",
        "10.0.0.0/16",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.ok(public, &["python3", "-c", CONNECT, &private_ip, "8080"]);
    assert_eq!(on8080.finish(), (0, format!("{public_private}\n")));

    // A network ACL deny entry blocks what the group allows (ICMP here).
    let acl = common::load_file(SEED2).vpcs[0]
        .default_network_acl
        .to_string();
    lab.ping_ok(public, &private_ip);
    let (code, out) = lab.vpclab(&[
        "create-network-acl-entry",
        "--network-acl-id",
        &acl,
        "--rule-number",
        "50",
        "--ingress",
        "--rule-action",
        "deny",
        "--protocol",
        "icmp",
        "--cidr-block",
        "0.0.0.0/0",
        "--icmp-type-code",
        "Type=-1,Code=-1",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.ping_fails(public, &private_ip, DropKind::NaclInDenied);
    let (code, out) = lab.vpclab(&[
        "delete-network-acl-entry",
        "--network-acl-id",
        &acl,
        "--rule-number",
        "50",
        "--ingress",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.ping_ok(public, &private_ip);

    // delete-route / create-route change reachability immediately.
    lab.ping_ok(public, "203.0.113.10");
    let (code, out) = lab.vpclab(&[
        "delete-route",
        "--route-table-id",
        "CloudNetaPublicRT",
        "--destination-cidr-block",
        "0.0.0.0/0",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.ping_fails(public, "203.0.113.10", DropKind::NoRoute);
    // describe --name reads the running lab, live changes included.
    let routes = |lab: &Lab| {
        let (code, out) = lab.vpclab(&["describe", "route-tables", "CloudNetaPublicRT"]);
        assert_eq!(code, 0, "{out}");
        out
    };
    assert!(
        !routes(&lab).contains("\"0.0.0.0/0\""),
        "route still described"
    );
    let (code, out) = lab.vpclab(&[
        "create-route",
        "--route-table-id",
        "CloudNetaPublicRT",
        "--destination-cidr-block",
        "0.0.0.0/0",
        "--gateway-id",
        "CloudNetaIGW",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.ping_ok(public, "203.0.113.10");
    assert!(
        routes(&lab).contains("\"0.0.0.0/0\""),
        "new route not described"
    );
    // AWS's errors come back as AWS words them.
    let (code, out) = lab.vpclab(&[
        "create-route",
        "--route-table-id",
        "CloudNetaPublicRT",
        "--destination-cidr-block",
        "0.0.0.0/0",
        "--gateway-id",
        "CloudNetaIGW",
    ]);
    assert_eq!(code, 2);
    assert!(out.contains("RouteAlreadyExists"), "{out}");

    // status shows per-reason drops.
    let (code, out) = lab.vpclab(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("NaclInDenied") && out.contains("NoRoute"),
        "{out}"
    );
}

/// The seed's steps on a running lab: no S3 from the private subnet without the endpoint,
/// then `create-vpc-endpoint` adds the `pl-` route and S3 answers at once; the policy and the
/// route tables change with `modify-vpc-endpoint`; AWS's errors come back as AWS words them.
#[test]
fn a_gateway_endpoint_created_live_takes_effect_at_once() {
    let lab = Lab::up(SEED2);
    let private = "CloudNetaPrivateEC2";
    let s3 = "52.219.60.10";
    lab.ping_ok(private, s3);

    let (code, out) = lab.vpclab(&["delete-vpc-endpoints", "--vpc-endpoint-ids", "Endpoint"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, serde_json::json!({"Unsuccessful": []}));
    lab.ping_fails(private, s3, DropKind::NoRoute);

    let (code, out) = lab.vpclab(&[
        "create-vpc-endpoint",
        "--vpc-id",
        "CloudNetaVPC",
        "--service-name",
        "com.amazonaws.ap-northeast-2.s3",
        "--route-table-ids",
        "CloudNetaPrivateRT",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let vpce = v["VpcEndpoint"]["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    lab.ping_ok(private, s3);
    let body = lab.ok(
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
            &format!("http://{s3}/"),
        ],
    );
    assert_eq!(body.trim(), "200");

    let (code, out) = lab.vpclab(&[
        "describe-route-tables",
        "--route-table-ids",
        "CloudNetaPrivateRT",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["RouteTables"][0]["Routes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["DestinationPrefixListId"] == "pl-78a54011" && r["GatewayId"] == vpce.as_str()));

    let (code, out) = lab.vpclab(&[
        "modify-vpc-endpoint",
        "--vpc-endpoint-id",
        &vpce,
        "--remove-route-table-ids",
        "CloudNetaPrivateRT",
        "--reset-policy",
    ]);
    assert_eq!(code, 0, "{out}");
    lab.ping_fails(private, s3, DropKind::NoRoute);

    let (code, out) = lab.vpclab(&[
        "create-vpc-endpoint",
        "--vpc-id",
        "CloudNetaVPC",
        "--service-name",
        "com.amazonaws.ap-northeast-2.s3",
        "--policy-document",
        r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*","Resource":"*"}]}"#,
    ]);
    assert_eq!(code, 2);
    assert!(
        out.contains("InvalidPolicyDocument") && out.contains("Statement 1: Effect"),
        "{out}"
    );
    let (code, out) = lab.vpclab(&["describe-vpc-endpoints", "--vpc-endpoint-ids", &vpce]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["VpcEndpoints"][0]["RouteTableIds"], serde_json::json!([]));
}

#[test]
fn two_labs_with_the_same_cidrs_run_side_by_side_and_a_second_topology_routes() {
    let a = Lab::up(SEED2);
    let b = Lab::up(SEED2);
    let private = private_ip(SEED2, "CloudNetaPrivateEC2");
    a.ping_ok("CloudNetaPublicEC2", &private);
    b.ping_ok("CloudNetaPublicEC2", &private);
    drop(a);
    b.ping_ok("CloudNetaPublicEC2", &private);

    let c = Lab::up(ROUTER_LAB);
    c.ping_ok("ClientA", &private_ip(ROUTER_LAB, "ServerB"));
    c.ping_ok("ClientA", &private_ip(ROUTER_LAB, "NoPublicA"));
}

#[test]
fn down_after_kill_9_leaves_nothing_and_invalid_templates_create_nothing() {
    let lab = Lab::up(SEED2);
    let state = vpclab::host::state::LabState::load(&lab.name)
        .unwrap()
        .unwrap();
    let pid = state.record().pid;
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    // Dead (gone, or a zombie until its parent reaps it) within 10 s.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|st| st.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "the router (pid {pid}) still runs 10 s after kill -9"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, out) = lab.vpclab(&["down"]);
    assert_eq!(code, 0, "{out}");
    assert!(vpclab::host::cleanup::leftovers(&lab.name)
        .unwrap()
        .is_empty());
    assert!(!std::path::Path::new(&format!("/run/vpclab/{}", lab.name)).exists());
    let (code, _) = lab.vpclab(&["down"]);
    assert_eq!(code, 0, "down is idempotent");

    let name = format!("bad{}", std::process::id());
    let (code, _, err) = common::vpclab(&[
        "up",
        "tests/fixtures/seed2-as-published.yaml",
        "--name",
        &name,
        "--detach",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 11"), "{err}");
    assert!(vpclab::host::cleanup::leftovers(&name).unwrap().is_empty());
    assert!(vpclab::host::state::LabState::load(&name)
        .unwrap()
        .is_none());
}

#[test]
fn the_control_socket_is_not_stalled_by_slow_clients_and_refuses_oversized_input() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    let lab = Lab::up(SEED2);
    let sock = vpclab::control::client::control_socket(&lab.name);
    // A client that sends one byte and then nothing, and one that sends a byte every 300 ms.
    let idle = UnixStream::connect(&sock).unwrap();
    (&idle).write_all(b"{").unwrap();
    let slow = UnixStream::connect(&sock).unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..10 {
            if (&slow).write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    // No wait for the daemon to take them: it accepts in order, so both are its clients
    // before the status request below is.
    let t = Instant::now();
    let (code, out) = lab.vpclab(&["status"]);
    let took = t.elapsed();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("forwarded"), "{out}");
    assert!(
        took < Duration::from_secs(1),
        "status took {took:?} while two clients were slow"
    );
    trickle.join().unwrap();
    drop(idle);

    // A request line over the limit is answered with a clear error, not read whole.
    let big = UnixStream::connect(&sock).unwrap();
    let writer = big.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..(vpclab::runtime::lab::MAX_REQUEST / chunk.len() + 4) {
            if (&writer).write_all(&chunk).is_err() {
                break;
            }
        }
    });
    big.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut line = String::new();
    BufReader::new(&big).read_line(&mut line).unwrap();
    assert!(line.contains("request line longer than"), "{line}");
    drop(big);
    let _ = flood.join();

    // A policy document over AWS's 20,480 characters is refused before it is read whole.
    let t = Instant::now();
    let (code, out) = lab.vpclab(&[
        "create-vpc-endpoint",
        "--vpc-id",
        "CloudNetaVPC",
        "--service-name",
        "com.amazonaws.ap-northeast-2.s3",
        "--route-table-ids",
        "CloudNetaPrivateRT",
        "--policy-document",
        "file:///dev/zero",
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("at most 20480"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // A user who is not root is told the lab runs and needs root.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_vpclab"))
        .args(["status", "--name", &lab.name])
        .output()
        .expect("setpriv (util-linux)");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("is running") && text.contains("sudo"),
        "{text}"
    );
    // The daemon still answers.
    let (code, out) = lab.vpclab(&["status"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn status_reports_the_frames_the_kernel_dropped_on_a_tap() {
    let lab = Lab::up(SEED2);
    let to = private_ip(SEED2, "CloudNetaPrivateEC2");
    // Four senders of 1400-byte datagrams for 2 s: more than the router reads, so the TAP's
    // queue overflows in the kernel.
    let flood = format!(
        "for i in 1 2 3 4; do python3 -c \"\nimport socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.setblocking(False)\nt=time.time()\nwhile time.time()-t<2:\n    try: s.sendto(b'x'*1400,('{to}',9))\n    except BlockingIOError: pass\n\" & done; wait"
    );
    lab.ok("CloudNetaPublicEC2", &["sh", "-c", &flood]);
    let (code, out) = lab.vpclab(&["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("status --json");
    let port = v["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("(CloudNetaPublicEC2)"))
        })
        .expect("the public instance's port");
    let reported = port["kernel_dropped"].as_u64().unwrap();
    // What the kernel itself says of the TAP (eth0 inside the instance).
    let ns = format!("vl-{}-CloudNetaPublicEC2", lab.name);
    let ip = Command::new("ip")
        .args(["-n", &ns, "-s", "-j", "link", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let link: serde_json::Value = serde_json::from_slice(&ip.stdout).unwrap();
    let stats = &link[0]["stats64"];
    let kernel =
        stats["tx"]["dropped"].as_u64().unwrap() + stats["rx"]["dropped"].as_u64().unwrap();
    assert!(reported > 0, "the flood lost nothing in the kernel? {port}");
    assert_eq!(reported, kernel, "{port}");
}

#[test]
fn a_bring_up_that_fails_after_namespaces_and_taps_exist_leaves_nothing() {
    common::lab::require_root();
    let name = format!("lf{}", std::process::id());
    let tap_of = |i: &str| vpclab::host::names::tap(&name, i);
    // A TAP of the private instance's name already held on the host: attaching that
    // instance fails after every namespace and the internet's TAP exist.
    let squat = vpclab::host::tap::Tap::create(&tap_of("CloudNetaPrivateEC2")).unwrap();
    let (code, out, err) = common::vpclab(&["up", SEED2, "--name", &name, "--detach"]);
    assert_ne!(code, 0, "up succeeded:\n{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("instance CloudNetaPrivateEC2: 10.0.1.237"),
        "up failed before making the instances, not part-way:\n{out}\n{err}"
    );
    assert!(
        all.contains("CloudNetaPrivateEC2: TUNSETIFF") && all.contains("nothing is left behind"),
        "{all}"
    );
    drop(squat);
    let left = vpclab::host::cleanup::leftovers(&name).unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&netns.stdout);
    assert!(!listed.contains(&format!("vl-{name}-")), "{listed}");
    for i in ["internet", "CloudNetaPublicEC2", "CloudNetaPrivateEC2"] {
        let shown = Command::new("ip")
            .args(["link", "show", "dev", &tap_of(i)])
            .output()
            .unwrap();
        assert!(!shown.status.success(), "TAP of {i} left on the host");
    }
    assert!(!std::path::Path::new(&format!("/run/vpclab/{name}")).exists());
    assert!(!std::path::Path::new(&format!("/var/lib/vpclab/{name}")).exists());
}

/// `iperf3 -c <to> -P <streams> -t 2 -J` from `from`, retried until the server listens (at
/// most 10 s); the bytes each stream delivered.
fn iperf_streams(lab: &Lab, from: &str, to: &str, streams: usize) -> Vec<u64> {
    let cmd = format!(
        "for i in $(seq 100); do iperf3 -c {to} -P {streams} -t 2 -J >/tmp/iperf.json 2>&1 && exec cat /tmp/iperf.json; sleep 0.1; done; cat /tmp/iperf.json; exit 1"
    );
    let out = lab.ok(from, &["sh", "-c", &cmd]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("iperf3 -J");
    v["end"]["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["receiver"]["bytes"].as_u64().unwrap_or(0))
        .collect()
}

fn status_json(lab: &Lab) -> serde_json::Value {
    let (code, out) = lab.vpclab(&["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).expect("status --json")
}

#[test]
fn two_workers_share_the_flows_on_multi_queue_taps_and_one_worker_keeps_one_queue() {
    const BENCH: &str = "benches/labs/privatelink.yaml";
    let two = Lab::up_with(BENCH, &["--workers", "2"]);
    let one = Lab::up_with(BENCH, &["--workers", "1"]);
    let server = private_ip(BENCH, "Server");
    let public = public_ip(BENCH, "Server");
    // Each instance's eth0 is a TAP with one queue per worker.
    let link = |lab: &Lab| lab.ok("Server", &["ip", "-d", "link", "show", "dev", "eth0"]);
    assert!(
        link(&two).contains("multi_queue numqueues 2"),
        "{}",
        link(&two)
    );
    assert!(!link(&one).contains("multi_queue"), "{}", link(&one));
    for lab in [&two, &one] {
        lab.ok("Server", &["iperf3", "-s", "-D", "-p", "5201"]);
        // Eight TCP streams within the VPC, then eight through the internet gateway's NAT:
        // every stream delivers (state kept for flows whichever worker sees their frames).
        for (from, to) in [("Client2", &server), ("internet", &public)] {
            let streams = iperf_streams(lab, from, to, 8);
            assert_eq!(streams.len(), 8, "{from} -> {to}");
            assert!(
                streams.iter().all(|&b| b > 1_000_000),
                "{from} -> {to}: a stream delivered (almost) nothing: {streams:?}"
            );
        }
    }
    let s = status_json(&two);
    assert_eq!(s["workers"], 2, "{s}");
    let frames: Vec<u64> = s["worker_frames"]
        .as_array()
        .expect("worker_frames")
        .iter()
        .filter_map(|n| n.as_u64())
        .collect();
    assert_eq!(frames.len(), 2, "{s}");
    assert!(
        frames.iter().all(|&n| n > 1000),
        "sixteen flows all on one worker: {frames:?}"
    );
    let s = status_json(&one);
    assert_eq!(s["workers"], 1, "{s}");
}
