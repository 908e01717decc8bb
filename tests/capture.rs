//! Root test: `vpclab capture` on the seed-2 lab with real `ping`, `curl`, `iperf3` and
//! `tcpdump`: a ping's echo request and reply in a pcapng file `tcpdump -r` reads, each with
//! the router's verdict as its comment; `--filter 'tcp port 80'` keeps only those packets
//! while a ping runs too; a connection the security group refuses is captured, marked
//! dropped with the reason; `-w - | tcpdump -nr -` works; a reader that stops reading does
//! not slow the lab, and the capture says how many packets the daemon dropped; an unknown
//! target is exit 2 with what is capturable. Run it through `netns-scripts/test.sh`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::lab::{private_ip, DropKind, Lab};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};

const SEED2: &str = "templates/seed2-gateway-endpoint.yaml";
const PUBLIC: &str = "CloudNetaPublicEC2";
const PRIVATE: &str = "CloudNetaPrivateEC2";
/// How long a capture may take to attach, or to end once its packets have passed.
const DEADLINE: Duration = Duration::from_secs(30);

/// A running `vpclab capture` (or a shell pipeline around one), killed if still running
/// when dropped.
struct Capture {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Capture {
    /// Starts `cmd` (stderr piped) and waits, with a deadline, for `capturing on`.
    fn start(mut cmd: Command) -> Capture {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn capture");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let all = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                all.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let c = Capture {
            child,
            lines,
            stderr,
        };
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match c.lines.recv_timeout(left) {
                Ok(l) if l.contains("vpclab: capturing on ") => return c,
                Ok(_) => continue,
                Err(_) => panic!(
                    "the capture did not attach within {DEADLINE:?}:\n{}",
                    c.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Waits, with a deadline, for the capture to end; its status and whole stderr.
    fn wait(mut self) -> (ExitStatus, String) {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread ends with the pipe; give it its last lines.
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if self.lines.recv_timeout(Duration::from_millis(100)).is_err()
                        && !self.stderr.lock().unwrap().is_empty()
                    {
                        break;
                    }
                }
                return (status, self.stderr.lock().unwrap().clone());
            }
            assert!(
                Instant::now() < until,
                "the capture did not end within {DEADLINE:?}:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn vpclab_capture(lab: &Lab, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpclab"));
    cmd.args(["capture", "--name", &lab.name])
        .args(args)
        .current_dir(common::root())
        .stdin(Stdio::null());
    cmd
}

/// `tcpdump -nr FILE`: its lines.
fn tcpdump(file: &Path) -> Vec<String> {
    let out = Command::new("tcpdump")
        .args(["-nr"])
        .arg(file)
        .output()
        .expect("run tcpdump (netns-scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "tcpdump -r {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The pcapng read back: interface names, and per packet its interface, comment and flags.
fn blocks(file: &Path) -> (Vec<String>, Vec<(u32, String, u32)>) {
    let mut r = PcapNgReader::new(std::fs::File::open(file).unwrap()).unwrap();
    let (mut names, mut packets) = (Vec::new(), Vec::new());
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(i) => {
                for o in &i.options {
                    if let InterfaceDescriptionOption::IfName(n) = o {
                        names.push(n.to_string());
                    }
                }
            }
            Block::EnhancedPacket(e) => {
                let mut comment = String::new();
                let mut flags = 0;
                for o in &e.options {
                    match o {
                        EnhancedPacketOption::Comment(c) => comment = c.to_string(),
                        EnhancedPacketOption::Flags(f) => flags = *f,
                        _ => {}
                    }
                }
                packets.push((e.interface_id, comment, flags));
            }
            _ => {}
        }
    }
    (names, packets)
}

/// The captures running in the lab's router, as `status` counts them.
fn captures(lab: &Lab) -> u64 {
    let (code, out) = lab.vpclab(&["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["captures"].as_u64().unwrap()
}

/// A folder for the capture files, removed when dropped.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn capture_writes_pcapng_that_tcpdump_reads_with_the_routers_verdicts() {
    let lab = Lab::up(SEED2);
    let dir = Dir(std::env::temp_dir().join(format!("vpclab-capture-{}", lab.name)));
    std::fs::create_dir_all(&dir.0).unwrap();
    let public_ip = private_ip(SEED2, PUBLIC);
    let private_ip = private_ip(SEED2, PRIVATE);

    // 1. A ping: its echo requests and replies, on the private instance's port.
    let f1 = dir.0.join("ping.pcapng");
    let cap = Capture::start(vpclab_capture(
        &lab,
        &[
            PRIVATE,
            "-w",
            f1.to_str().unwrap(),
            "--filter",
            "icmp",
            "--count",
            "4",
        ],
    ));
    assert_eq!(captures(&lab), 1, "status counts the capture");
    lab.ok(
        PUBLIC,
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", &private_ip],
    );
    let (status, err) = cap.wait();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("4 packets captured (the count was reached)"),
        "{err}"
    );
    let lines = tcpdump(&f1);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let request = format!("IP {public_ip} > {private_ip}: ICMP echo request");
    let reply = format!("IP {private_ip} > {public_ip}: ICMP echo reply");
    assert_eq!(
        lines.iter().filter(|l| l.contains(&request)).count(),
        2,
        "{lines:#?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(&reply)).count(),
        2,
        "{lines:#?}"
    );
    let (names, packets) = blocks(&f1);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("eni-") && names[0].ends_with(&format!("({PRIVATE})")),
        "{names:?}"
    );
    let local = " route 10.0.0.0/16 local";
    for (iface, comment, flags) in &packets {
        assert_eq!(*iface, 0);
        let out = format!("out to {}: forwarded from eni-", names[0]);
        let inn = format!("in from {}: forwarded to eni-", names[0]);
        match flags {
            2 => assert!(
                comment.starts_with(&out) && comment.contains(local),
                "{comment}"
            ),
            1 => assert!(
                comment.starts_with(&inn) && comment.contains(local),
                "{comment}"
            ),
            other => panic!("direction flags {other}: {comment}"),
        }
        assert!(
            comment.contains(&format!("({PUBLIC}) by rtb-")),
            "{comment}"
        );
    }

    // 2. --filter 'tcp port 80' while a ping and a connection to port 80 (refused by the
    // instance: SYN, then RST) both run: only the two TCP packets.
    let f2 = dir.0.join("http.pcapng");
    let cap = Capture::start(vpclab_capture(
        &lab,
        &[
            PRIVATE,
            "-w",
            f2.to_str().unwrap(),
            "--filter",
            "tcp port 80",
            "--count",
            "2",
        ],
    ));
    let mut ping = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["exec", "--name", &lab.name, PUBLIC, "--"])
        .args(["ping", "-c", "5", "-i", "0.2", "-W", "2", &private_ip])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = lab.exec(
        PUBLIC,
        &["curl", "-sS", "-m", "3", &format!("http://{private_ip}/")],
    );
    let (status, err) = cap.wait();
    let _ = ping.wait();
    assert!(status.success(), "{err}");
    let lines = tcpdump(&f2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(": Flags [") && (l.contains(&format!("{private_ip}.80")))),
        "only TCP port 80: {lines:#?}"
    );
    assert!(
        lines[0].contains(&format!("> {private_ip}.80: Flags [S]")),
        "{lines:#?}"
    );
    assert!(lines[1].contains("Flags [R"), "{lines:#?}");

    // 3. A connection the security group refuses (8080): captured where it came in, marked
    // dropped with the reason.
    let f3 = dir.0.join("dropped.pcapng");
    let cap = Capture::start(vpclab_capture(
        &lab,
        &[
            PUBLIC,
            "-w",
            f3.to_str().unwrap(),
            "--filter",
            "tcp dst port 8080",
            "--count",
            "1",
        ],
    ));
    lab.curl_times_out(
        PUBLIC,
        &format!("http://{private_ip}:8080/"),
        2,
        DropKind::SgIngressDenied,
    );
    let (status, err) = cap.wait();
    assert!(status.success(), "{err}");
    let lines = tcpdump(&f3);
    assert!(
        lines.len() == 1 && lines[0].contains(".8080: Flags [S]"),
        "{lines:#?}"
    );
    let (_, packets) = blocks(&f3);
    let (_, comment, flags) = &packets[0];
    assert_eq!(*flags, 1, "in from the public instance");
    assert!(
        comment.contains(&format!(
            "({PUBLIC}): dropped: SgIngressDenied (no inbound rule of eni-"
        )) && comment.contains(&format!("({private_ip}; security groups sg-")),
        "{comment}"
    );

    // 4. -w - | tcpdump -nr -
    let vpclab = env!("CARGO_BIN_EXE_vpclab");
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!(
            "'{vpclab}' capture --name {} {PRIVATE} -w - --filter icmp --count 2 | tcpdump -nr -",
            lab.name
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut cap = Capture::start(sh);
    let stdout = cap.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    lab.ok(PUBLIC, &["ping", "-c", "1", "-W", "2", &private_ip]);
    let (status, err) = cap.wait();
    let printed = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(
        printed.contains(&request) && printed.contains(&reply),
        "{printed}\n{err}"
    );
    assert!(err.contains("2 packets captured"), "{err}");

    // 5. A reader that stops reading: the lab does not wait for it (iperf3 runs its course),
    // the capture's queue drops, and the capture says how many once its output is closed.
    lab.ok(PRIVATE, &["iperf3", "-s", "-p", "80", "-D", "-1"]);
    let mut cmd = vpclab_capture(&lab, &[PRIVATE, "-w", "-"]);
    cmd.stdout(Stdio::piped());
    let mut cap = Capture::start(cmd);
    let stuck: ChildStdout = cap.child.stdout.take().unwrap();
    let out = lab.ok(
        PUBLIC,
        &["iperf3", "-c", &private_ip, "-p", "80", "-t", "2"],
    );
    assert!(out.contains("receiver"), "{out}");
    drop(stuck);
    let (status, err) = cap.wait();
    assert!(status.success(), "{err}");
    assert!(err.contains("(the output was closed)"), "{err}");
    let dropped: u64 = err
        .split("); ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no drop count in:\n{err}"));
    assert!(
        dropped > 0,
        "a reader that read nothing of 2 s of iperf3 lost packets:\n{err}"
    );
    lab.ping_ok(PUBLIC, &private_ip);
    // Every capture has ended: the daemon noticed and took them out of the router.
    let until = Instant::now() + DEADLINE;
    while captures(&lab) != 0 {
        assert!(Instant::now() < until, "captures still in the router");
        std::thread::sleep(Duration::from_millis(100));
    }

    // 6. An unknown target: exit 2, naming it and what is capturable.
    let (code, out) = lab.vpclab(&["capture", "web9", "-w", "/dev/null"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("no instance 'web9'") && out.contains("Capturable: "),
        "{out}"
    );
}
