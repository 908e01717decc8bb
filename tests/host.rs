//! Root tests of `vpclab::host` on real namespaces, real `ip`, `ping`, `sshd`, `curl`.
//!
//! Each test uses its own lab name (`t<pid>_<n>`) and a [`LabGuard`] that runs `down` on
//! every path, panics included; a test that ends normally also checks that no namespace,
//! mount, directory, link or process of its lab is left. Without root every test fails and
//! says to run `netns-scripts/test.sh`.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use vpclab::host::cleanup::{self, NsIds};
use vpclab::host::instance::{self, Instance, InstanceSpec, UserDataOutcome};
use vpclab::host::link::{self, EthConfig};
use vpclab::host::state::{self, LabState, Resource};
use vpclab::host::tap::{self, Tap};
use vpclab::host::{keys, names, netns};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn require_root() {
    assert!(
        vpclab::host::is_root(),
        "the host tests need root (network namespaces, TAPs, mounts): run netns-scripts/test.sh, \
         which re-runs itself through sudo"
    );
}

/// A unique lab name for one test, torn down on drop.
struct LabGuard {
    name: String,
    /// Namespaces of the lab seen during the test: no process may be left in them.
    ids: NsIds,
    /// TAP names created in the root namespace.
    taps: Vec<String>,
    finished: bool,
}

impl LabGuard {
    fn new() -> LabGuard {
        require_root();
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        LabGuard {
            name,
            ids: NsIds::default(),
            taps: Vec::new(),
            finished: false,
        }
    }

    /// Remembers an instance's namespaces, to check later that no process is left in them.
    fn track(&mut self, instance: &str) {
        self.ids
            .add(&netns::path(&names::netns(&self.name, instance)));
        for f in instance::ns_files(&self.name, instance) {
            self.ids.add(&f);
        }
    }

    /// `down`, then checks that nothing of the lab is left.
    fn finish(mut self) {
        self.finished = true;
        // Namespace inode numbers are reused once a namespace is freed: look for processes
        // while the lab's namespaces still exist, then check those pids after `down`.
        let inside = cleanup::processes_in(&self.ids);
        let report = cleanup::down(&self.name).unwrap_or_else(|e| panic!("down: {e}"));
        assert!(report.errors.is_empty(), "{report}");
        assert_no_leftovers(&self.name, &self.taps);
        assert_gone(&inside);
        // Idempotent: a second down finds nothing and succeeds.
        let again = cleanup::down(&self.name).expect("second down");
        assert!(
            again.removed.is_empty(),
            "second down removed {:?}",
            again.removed
        );
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = cleanup::down(&self.name) {
                eprintln!("cleanup of lab {} after a failure: {e}", self.name);
            }
        }
    }
}

/// Fails if any of `pids` is still running (a zombie has released its namespaces).
fn assert_gone(pids: &[u32]) {
    let alive: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
                .is_some_and(|zombie| !zombie)
        })
        .collect();
    assert!(
        alive.is_empty(),
        "processes of the lab still running: {alive:?}"
    );
}

fn assert_no_leftovers(lab: &str, taps: &[String]) {
    let left = cleanup::leftovers(lab).expect("leftovers");
    assert!(left.is_empty(), "lab {lab} left: {left:?}");
    let prefix = names::netns_prefix(lab);
    let ns = netns::list_with_prefix(&prefix).unwrap();
    assert!(ns.is_empty(), "namespaces left: {ns:?}");
    let ip_list = Command::new(link::ip_binary().unwrap())
        .args(["netns", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ip_list.stdout);
    assert!(
        !text.contains(&prefix),
        "ip netns list still shows {prefix}*: {text}"
    );
    for t in taps {
        assert!(
            !Path::new("/sys/class/net").join(t).exists(),
            "link {t} left"
        );
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for root in [names::run_dir(lab), names::data_dir(lab)] {
        let r = root.to_string_lossy().into_owned();
        assert!(
            !mounts.lines().any(|l| l
                .split(' ')
                .nth(4)
                .is_some_and(|p| p == r || p.starts_with(&format!("{r}/")))),
            "mounts left under {r}"
        );
        assert!(!root.exists(), "{r} left");
    }
}

fn spec(ip: Ipv4Addr) -> InstanceSpec {
    InstanceSpec {
        hostname: InstanceSpec::ec2_hostname(ip),
        domain: "ap-northeast-2.compute.internal".into(),
        dns: Ipv4Addr::new(10, 0, 0, 2),
        private_ip: ip,
    }
}

fn sh(inst: &Instance, script: &str) -> (bool, String, String) {
    let out = inst
        .output("/bin/sh", ["-c", script])
        .expect("run in instance");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn thread_netns() -> PathBuf {
    fs::read_link("/proc/thread-self/ns/net").unwrap()
}

#[test]
fn tap_has_vnet_header_and_offloads_and_refuses_short_buffers() {
    let lab = LabGuard::new();
    let name = names::tap(&lab.name, "tap");
    let t = Tap::create(&name).expect("create TAP");
    assert_eq!(t.ifname(), name);
    let want = tap::offload::CSUM | tap::offload::TSO4 | tap::offload::TSO6;
    assert_eq!(t.offloads() & want, want, "offloads {:#x}", t.offloads());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    eprintln!(
        "kernel {} accepted offloads {:#x}",
        kernel.trim(),
        t.offloads()
    );
    assert!(Path::new("/sys/class/net").join(&name).exists());
    let k = Command::new("ethtool")
        .args(["-k", &name])
        .output()
        .expect("ethtool is not installed: netns-scripts/install-deps.sh installs it (apt-get install ethtool)");
    let text = String::from_utf8_lossy(&k.stdout);
    assert!(k.status.success(), "ethtool -k {name}: {text}");
    assert!(text.contains("tcp-segmentation-offload: on"), "{text}");
    let mut small = [0u8; 2048];
    assert_eq!(
        t.read(&mut small).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    t.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; tap::MIN_READ_BUF];
    assert_eq!(t.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    drop(t);
    // Another test's fork may hold a copy of the (close-on-exec) fd until its exec.
    let dev = Path::new("/sys/class/net").join(&name);
    for _ in 0..200 {
        if !dev.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!dev.exists(), "TAP outlived its fd");
    lab.finish();
}

#[test]
fn netns_lifecycle_is_ip_netns_compatible_and_never_moves_the_caller() {
    let lab = LabGuard::new();
    let before = thread_netns();
    let a = names::netns(&lab.name, "a");
    netns::create(&a).expect("create");
    assert!(matches!(
        netns::create(&a),
        Err(netns::NetnsError::Exists(_))
    ));
    assert!(netns::exists(&a));
    assert_eq!(
        netns::list_with_prefix(&names::netns_prefix(&lab.name)).unwrap(),
        vec![a.clone()]
    );
    let listed = Command::new(link::ip_binary().unwrap())
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&a));

    // run_in sees the namespace (only lo, down), the caller stays where it was.
    let inside = netns::run_in(&a, thread_netns).unwrap();
    assert_ne!(inside, before);
    assert_eq!(thread_netns(), before);
    let links = netns::run_in(&a, || fs::read_dir("/sys/class/net").map(|d| d.count())).unwrap();
    // /sys of this process is the host's; ask iproute2 instead, which uses netlink.
    drop(links);
    let out = link::ip(&["-n", &a, "-o", "link", "show"], None).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(": lo:"), "{out}");
    // A panic in the closure comes back to the caller.
    let caught = std::panic::catch_unwind(|| netns::run_in(&a, || panic!("boom")));
    assert!(caught.is_err());
    assert_eq!(thread_netns(), before);

    assert!(netns::delete(&a).unwrap());
    assert!(!netns::delete(&a).unwrap(), "delete is idempotent");
    assert!(!netns::exists(&a));
    assert!(matches!(
        netns::run_in(&a, || ()),
        Err(netns::NetnsError::NotFound(_))
    ));
    lab.finish();
}

/// Copies frames (vnet header included) between two TAPs until `stop`; returns the longest.
fn forwarder(a: Arc<Tap>, b: Arc<Tap>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 128 * 1024];
        let mut longest = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut fds = [
                PollFd::new(a.as_fd(), PollFlags::POLLIN),
                PollFd::new(b.as_fd(), PollFlags::POLLIN),
            ];
            if poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) == 0 {
                continue;
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect();
            for (i, (from, to)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
                if !ready[i] {
                    continue;
                }
                loop {
                    match from.read(&mut buf) {
                        Ok(n) => {
                            assert!(n < buf.len(), "frame filled the whole buffer");
                            longest = longest.max(n);
                            let _ = to.write(&buf[..n]);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
            }
        }
        longest
    })
}

#[test]
fn two_namespaces_ping_and_pass_tso_super_frames_through_a_userspace_forwarder() {
    let mut lab = LabGuard::new();
    let (na, nb) = (names::netns(&lab.name, "a"), names::netns(&lab.name, "b"));
    let (ta, tb) = (names::tap(&lab.name, "a"), names::tap(&lab.name, "b"));
    lab.taps = vec![ta.clone(), tb.clone()];
    let mut st = LabState::create(&lab.name).unwrap();
    for (ns, t) in [(&na, &ta), (&nb, &tb)] {
        st.record_resource(Resource::Netns { name: ns.clone() })
            .unwrap();
        st.record_resource(Resource::Tap { ifname: t.clone() })
            .unwrap();
    }
    netns::create(&na).unwrap();
    netns::create(&nb).unwrap();
    lab.track("a");
    lab.track("b");
    let tap_a = Arc::new(Tap::create(&ta).unwrap());
    let tap_b = Arc::new(Tap::create(&tb).unwrap());
    let (ip_a, ip_b) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2));
    let (mac_a, mac_b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    link::attach(&ta, &na, &EthConfig::new(mac_a, ip_a, 24)).expect("attach a");
    link::attach(&tb, &nb, &EthConfig::new(mac_b, ip_b, 24)).expect("attach b");
    // No router answers ARP here: static neighbours.
    link::ip(
        &[
            "-n",
            &na,
            "neigh",
            "add",
            &ip_b.to_string(),
            "lladdr",
            &link::mac_string(&mac_b),
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
        None,
    )
    .unwrap();
    link::ip(
        &[
            "-n",
            &nb,
            "neigh",
            "add",
            &ip_a.to_string(),
            "lladdr",
            &link::mac_string(&mac_a),
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
        None,
    )
    .unwrap();

    let shown = link::ip(&["-n", &na, "-o", "addr", "show", "dev", "eth0"], None).unwrap();
    assert!(shown.contains("10.9.0.1/24"), "{shown}");
    let l = link::ip(&["-n", &na, "-o", "link", "show", "dev", "eth0"], None).unwrap();
    assert!(
        l.contains("mtu 9001") && l.contains("02:00:00:00:00:01") && l.contains("UP"),
        "{l}"
    );
    assert!(
        !link::exists(None, &ta),
        "the TAP is no longer in the root namespace"
    );
    let v6 = netns::run_in(&na, || {
        fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/disable_ipv6")
    });
    assert_eq!(
        v6.unwrap()
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "1".into()),
        "1"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let fwd = forwarder(tap_a.clone(), tap_b.clone(), stop.clone());

    let ping = netns::run_in(&na, || {
        Command::new("ping")
            .args(["-c", "3", "-i", "0.2", "-W", "2", "10.9.0.2"])
            .output()
    })
    .unwrap()
    .expect("run ping");
    assert!(
        ping.status.success(),
        "ping: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // 16 MiB over TCP: with TSO the namespace hands over frames longer than the MTU.
    const BYTES: usize = 16 << 20;
    let server = netns::run_in(&nb, || {
        Command::new("/usr/bin/python3")
            .args(["-c", "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('10.9.0.2',5001))\ns.listen(1)\nprint('ready',flush=True)\nc,_=s.accept()\nn=0\nwhile True:\n d=c.recv(1<<20)\n if not d: break\n n+=len(d)\nprint(n)"])
            .stdout(Stdio::piped())
            .spawn()
    })
    .unwrap()
    .expect("server");
    let mut server = server;
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(server.stdout.as_mut().unwrap());
        r.read_line(&mut line).unwrap();
    }
    assert_eq!(line.trim(), "ready");
    let client = netns::run_in(&na, || {
        Command::new("/usr/bin/python3")
            .args(["-c", &format!("import socket\nc=socket.create_connection(('10.9.0.2',5001),timeout=20)\nc.sendall(b'x'*{BYTES})\nc.close()")])
            .status()
    })
    .unwrap()
    .expect("client");
    assert!(client.success());
    let out = server.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        BYTES.to_string()
    );

    stop.store(true, Ordering::Relaxed);
    let longest = fwd.join().unwrap();
    eprintln!("longest frame through the forwarder: {longest} bytes");
    assert!(
        longest > 9001 + 14 + tap::VNET_HDR_LEN,
        "no GSO super-frame seen (longest {longest})"
    );
    drop(tap_a);
    drop(tap_b);
    drop(st);
    lab.finish();
}

#[test]
fn instance_has_its_own_hostname_files_tmp_and_sysfs() {
    let mut lab = LabGuard::new();
    let mut st = LabState::create(&lab.name).unwrap();
    let before = thread_netns();
    let ip = Ipv4Addr::new(10, 0, 1, 109);
    let inst = Instance::create(&mut st, "web", &spec(ip)).expect("create instance");
    lab.track("web");
    assert_eq!(
        thread_netns(),
        before,
        "the caller's thread stayed in its namespace"
    );
    let host_hostname = nix::unistd::gethostname().unwrap();

    let (ok, out, err) = sh(
        &inst,
        "hostname; pwd; echo $HOME; cat /etc/hostname; cat /etc/resolv.conf",
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..4],
        ["ip-10-0-1-109", "/root", "/root", "ip-10-0-1-109"]
    );
    assert!(
        out.contains("search ap-northeast-2.compute.internal"),
        "{out}"
    );
    assert!(out.contains("nameserver 10.0.0.2"), "{out}");
    assert_eq!(nix::unistd::gethostname().unwrap(), host_hostname);

    // Writes land in the instance's upper layer, never on the host.
    let marker = format!("vpclab-test-{}", lab.name);
    let (ok, _, err) = sh(&inst, &format!("echo hi > /etc/{marker} && echo t > /tmp/{marker} && mkdir -p /root/{marker} && echo v > /var/tmp/{marker}"));
    assert!(ok, "{err}");
    for p in [
        format!("/etc/{marker}"),
        format!("/tmp/{marker}"),
        format!("/root/{marker}"),
        format!("/var/tmp/{marker}"),
    ] {
        assert!(!Path::new(&p).exists(), "{p} leaked to the host");
    }
    assert_eq!(
        fs::read_to_string(inst.upper("etc").join(&marker)).unwrap(),
        "hi\n"
    );
    assert!(inst.upper("root").join(&marker).is_dir());
    // Host files show through; /tmp and /run are empty tmpfs.
    let (ok, out, _) = sh(&inst, "test -f /etc/passwd && ls -A /tmp | grep -v vpclab-test | wc -l; ls /run/netns 2>/dev/null | wc -l");
    assert!(ok);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0"],
        "{out}"
    );
    // Its own sysfs and network: only lo (no eth0 yet).
    let (ok, out, _) = sh(&inst, "ls /sys/class/net");
    assert!(ok);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    // The personality is first on PATH.
    let (ok, out, _) = sh(&inst, "command -v passwd service systemctl yum dnf httpd");
    assert!(ok);
    assert!(
        out.lines().all(|l| l.starts_with("/usr/local/sbin/")),
        "{out}"
    );
    // Exit status and stdin pass through.
    let mut child = inst
        .spawn(
            "/bin/sh",
            ["-c", "read x; echo got $x; exit 7"],
            (Stdio::piped(), Stdio::piped(), Stdio::null()),
        )
        .unwrap();
    child.stdin.take().unwrap().write_all(b"42\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got 42\n");
    // Another handle from the names alone (what `vpclab exec` does).
    let again = Instance::open(&lab.name, "web").unwrap();
    assert_eq!(
        again.output("hostname", [] as [&str; 0]).unwrap().stdout,
        b"ip-10-0-1-109\n"
    );

    // The state file lists what was made.
    let rec = LabState::load(&lab.name).unwrap().unwrap();
    let res = &rec.record().resources;
    assert!(res.contains(&Resource::Netns {
        name: names::netns(&lab.name, "web")
    }));
    assert!(res.contains(&Resource::NsFile {
        path: instance::mnt_file(&lab.name, "web")
    }));
    assert!(res.contains(&Resource::Dir {
        path: names::instance_dir(&lab.name, "web")
    }));

    // teardown removes the instance and forgets it.
    let inside = cleanup::processes_in(&lab.ids);
    instance::teardown(&lab.name, "web", Some(&mut st)).unwrap();
    assert_gone(&inside);
    assert!(!netns::exists(&names::netns(&lab.name, "web")));
    assert!(!names::instance_dir(&lab.name, "web").exists());
    assert!(!st
        .record()
        .resources
        .iter()
        .any(|r| matches!(r, Resource::Netns { .. } | Resource::NsFile { .. })));
    instance::teardown(&lab.name, "web", Some(&mut st)).expect("teardown is idempotent");
    lab.finish();
}

const SEED2_USER_DATA: &str = "#!/bin/bash
(
echo \"qwe123\"
echo \"qwe123\"
) | passwd --stdin root
sed -i \"s/^PasswordAuthentication no/PasswordAuthentication yes/g\" /etc/ssh/sshd_config
sed -i \"s/^#PermitRootLogin yes/PermitRootLogin yes/g\" /etc/ssh/sshd_config
service sshd restart
echo 'root:qwe123' | chpasswd
";

#[test]
fn seed2_user_data_changes_only_the_instance_and_sshd_takes_the_password() {
    let mut lab = LabGuard::new();
    let host_shadow = fs::read("/etc/shadow").unwrap();
    let host_sshd = fs::read("/etc/ssh/sshd_config").ok();
    let host_passwd = fs::read("/etc/passwd").unwrap();
    let mut st = LabState::create(&lab.name).unwrap();
    let ip = Ipv4Addr::new(10, 0, 1, 109);
    let inst = Instance::create(&mut st, "PrivateEC2", &spec(ip)).unwrap();
    lab.track("PrivateEC2");
    link::loopback_up(inst.netns()).unwrap();

    let report = inst
        .run_user_data(SEED2_USER_DATA.as_bytes(), Duration::from_secs(60))
        .unwrap();
    let log = fs::read_to_string(&report.log).unwrap_or_default();
    assert_eq!(report.outcome, UserDataOutcome::Succeeded, "log:\n{log}");
    assert!(log.contains("Changing password for user root."), "{log}");
    assert!(
        log.contains("passwd: all authentication tokens updated successfully."),
        "{log}"
    );

    // The instance's files changed…
    let (ok, out, _) = sh(&inst, "grep -E '^(PasswordAuthentication|PermitRootLogin)' /etc/ssh/sshd_config; grep '^root:' /etc/shadow");
    assert!(ok);
    assert!(
        out.lines().any(|l| l == "PasswordAuthentication yes")
            && out.lines().any(|l| l == "PermitRootLogin yes"),
        "{out}"
    );
    let inst_root = out
        .lines()
        .find(|l| l.starts_with("root:"))
        .unwrap()
        .to_string();
    let host_root = String::from_utf8_lossy(&host_shadow)
        .lines()
        .find(|l| l.starts_with("root:"))
        .unwrap()
        .to_string();
    assert_ne!(
        inst_root, host_root,
        "the instance's root password did not change"
    );
    // …the host's did not, byte for byte.
    assert_eq!(
        fs::read("/etc/shadow").unwrap(),
        host_shadow,
        "host /etc/shadow changed"
    );
    assert_eq!(
        fs::read("/etc/ssh/sshd_config").ok(),
        host_sshd,
        "host sshd_config changed"
    );
    assert_eq!(
        fs::read("/etc/passwd").unwrap(),
        host_passwd,
        "host /etc/passwd changed"
    );

    // User-data runs once.
    let again = inst
        .run_user_data(b"#!/bin/sh\nexit 1\n", Duration::from_secs(10))
        .unwrap();
    assert_eq!(again.outcome, UserDataOutcome::AlreadyRan);

    // sshd (restarted by the user-data) takes root's new password; its host key is the
    // instance's own.
    for (tool, package) in [
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/sshpass", "sshpass"),
    ] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is not installed: netns-scripts/install-deps.sh installs it (apt-get install {package})"
        );
    }
    {
        let (ok, out, err) = sh(&inst, "sshpass -p qwe123 ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR root@10.0.1.109 hostname 2>&1 || sshpass -p qwe123 ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 'hostname; pwd'");
        assert!(ok, "ssh failed: {out} {err}");
        assert!(out.contains("ip-10-0-1-109"), "{out}");
        let (ok, inst_fp, err) = sh(&inst, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
        assert!(
            ok && inst_fp.contains("(ED25519)"),
            "the instance's host key: {inst_fp} {err}"
        );
        // The host's own key, where it has one (an instance could only share an existing one).
        if Path::new("/etc/ssh/ssh_host_ed25519_key.pub").exists() {
            let host_fp = Command::new("ssh-keygen")
                .args(["-lf", "/etc/ssh/ssh_host_ed25519_key.pub"])
                .output()
                .expect("ssh-keygen (openssh-client)");
            assert!(host_fp.status.success(), "{host_fp:?}");
            assert_ne!(
                inst_fp.as_bytes(),
                &host_fp.stdout[..],
                "the instance uses the host's key"
            );
        }
        let (ok, out, _) = sh(&inst, "service sshd status; systemctl is-active sshd");
        assert!(ok, "{out}");
        assert!(out.contains("active (running)"), "{out}");
    }
    drop(st);
    lab.finish();
    assert_eq!(fs::read("/etc/shadow").unwrap(), host_shadow);
    assert_eq!(fs::read("/etc/ssh/sshd_config").ok(), host_sshd);
}

#[test]
fn classic_httpd_user_data_serves_a_page_and_failures_are_outcomes() {
    let mut lab = LabGuard::new();
    let mut st = LabState::create(&lab.name).unwrap();
    let web = Instance::create(&mut st, "web", &spec(Ipv4Addr::new(10, 0, 0, 10))).unwrap();
    lab.track("web");
    link::loopback_up(web.netns()).unwrap();
    let script = "#!/bin/bash\nyum update -y\nyum install -y httpd\nsystemctl start httpd\nsystemctl enable httpd\necho \"<h1>Hello from $(hostname -f)</h1>\" > /var/www/html/index.html\n";
    let r = web
        .run_user_data(script.as_bytes(), Duration::from_secs(60))
        .unwrap();
    let log = fs::read_to_string(&r.log).unwrap_or_default();
    assert_eq!(r.outcome, UserDataOutcome::Succeeded, "{log}");
    let (ok, out, err) = sh(&web, "curl -s --max-time 5 http://127.0.0.1/");
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "<h1>Hello from ip-10-0-0-10.ap-northeast-2.compute.internal</h1>"
    );
    assert!(
        !Path::new("/var/www/html/index.html").exists()
            || fs::read_to_string("/var/www/html/index.html")
                .map(|s| !s.contains("ip-10-0-0-10"))
                .unwrap_or(true)
    );
    let (ok, _, _) = sh(
        &web,
        "systemctl stop httpd && ! curl -s --max-time 2 http://127.0.0.1/",
    );
    assert!(ok, "httpd did not stop");

    let bad = Instance::create(&mut st, "bad", &spec(Ipv4Addr::new(10, 0, 0, 11))).unwrap();
    lab.track("bad");
    let r = bad
        .run_user_data(
            b"#!/bin/sh\necho failing on purpose\nexit 3\n",
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(
        r.outcome,
        UserDataOutcome::Failed {
            code: Some(3),
            signal: None
        }
    );
    let log = fs::read_to_string(&r.log).unwrap();
    assert!(
        log.contains("failing on purpose") && log.contains("Failed to run module scripts-user"),
        "{log}"
    );

    let hang = Instance::create(&mut st, "hang", &spec(Ipv4Addr::new(10, 0, 0, 12))).unwrap();
    lab.track("hang");
    let r = hang
        .run_user_data(b"#!/bin/sh\nsleep 600\n", Duration::from_millis(500))
        .unwrap();
    assert_eq!(r.outcome, UserDataOutcome::TimedOut);
    let r = hang
        .run_user_data(b"#cloud-config\n", Duration::from_secs(1))
        .unwrap();
    assert_eq!(r.outcome, UserDataOutcome::AlreadyRan);
    drop(st);
    lab.finish();
}

#[test]
fn down_works_from_the_name_prefix_alone_and_spares_other_labs() {
    let mut lab = LabGuard::new();
    let mut other = LabGuard::new();
    // A lab whose name extends this one's: its namespaces must survive.
    other.name = format!("{}x", lab.name);
    let mut st = LabState::create(&lab.name).unwrap();
    let inst = Instance::create(&mut st, "app", &spec(Ipv4Addr::new(10, 1, 0, 5))).unwrap();
    lab.track("app");
    let tap_name = names::tap(&lab.name, "app");
    lab.taps.push(tap_name.clone());
    st.record_resource(Resource::Tap {
        ifname: tap_name.clone(),
    })
    .unwrap();
    let tap = Tap::create(&tap_name).unwrap();
    link::attach(
        &tap_name,
        inst.netns(),
        &EthConfig::new([2, 1, 0, 0, 0, 5], Ipv4Addr::new(10, 1, 0, 5), 24)
            .with_gateway(Ipv4Addr::new(10, 1, 0, 1)),
    )
    .unwrap();
    let route = link::ip(&["-n", inst.netns(), "route", "show", "default"], None).unwrap();
    assert!(route.contains("via 10.1.0.1 dev eth0"), "{route}");
    // Processes inside: one of ours (a child), one daemonized by the instance.
    let mut child = inst
        .spawn(
            "sleep",
            ["1000"],
            (Stdio::null(), Stdio::null(), Stdio::null()),
        )
        .unwrap();
    let (ok, _, err) = sh(&inst, "setsid sleep 1001 </dev/null >/dev/null 2>&1 &");
    assert!(ok, "{err}");

    let other_ns = names::netns(&other.name, "app");
    netns::create(&other_ns).unwrap();
    other.track("app");

    // The router dies (its TAP fd with it), and the state file is lost.
    drop(tap);
    drop(st);
    fs::remove_file(state::path(&lab.name)).unwrap();
    let report = cleanup::down(&lab.name).expect("down without a state file");
    assert!(
        report.notes.iter().any(|n| n.contains("no state file")),
        "{report}"
    );
    assert!(
        report.removed.iter().any(|r| r.starts_with("process")),
        "{report}"
    );
    let status = child.wait().unwrap();
    assert!(
        status.code().is_none(),
        "the instance process was not killed"
    );
    assert!(
        netns::exists(&other_ns),
        "down removed another lab's namespace"
    );
    // This lab's namespaces are gone: their inode numbers may already name other tests'
    // namespaces, so `finish` must not look for processes by them (`down` above did).
    lab.ids = NsIds::default();
    lab.finish();
    other.finish();
}

#[test]
fn state_file_is_written_first_and_claims_the_lab() {
    let lab = LabGuard::new();
    let st = LabState::create(&lab.name).unwrap();
    assert!(state::path(&lab.name).exists());
    let rec = st.record();
    assert_eq!(rec.lab, lab.name);
    assert_eq!(rec.pid, std::process::id());
    assert!(rec.resources.is_empty());
    assert!(matches!(
        LabState::create(&lab.name),
        Err(state::StateError::Exists { .. })
    ));
    assert!(cleanup::labs().contains(&lab.name));
    // A recorded TAP that never left the root namespace goes with `down`, even while its
    // owner (a live router) still holds the fd.
    let mut st = st;
    let tap_name = names::tap(&lab.name, "stray");
    st.record_resource(Resource::Tap {
        ifname: tap_name.clone(),
    })
    .unwrap();
    let held = Tap::create(&tap_name).unwrap();
    let mut lab = lab;
    lab.taps.push(tap_name.clone());
    drop(st);
    let name = lab.name.clone();
    lab.finish();
    assert!(!Path::new("/sys/class/net").join(&tap_name).exists());
    drop(held);
    assert!(!cleanup::labs().contains(&name));
}

#[test]
fn instance_names_that_collide_are_refused_and_leave_nothing_half_made() {
    let mut lab = LabGuard::new();
    let mut st = LabState::create(&lab.name).unwrap();
    let _a = Instance::create(&mut st, "a", &spec(Ipv4Addr::new(10, 2, 0, 5))).unwrap();
    lab.track("a");
    assert!(matches!(
        Instance::create(&mut st, "a", &spec(Ipv4Addr::new(10, 2, 0, 6))),
        Err(instance::InstanceError::Exists { .. })
    ));
    assert!(Instance::create(&mut st, "bad/name", &spec(Ipv4Addr::new(10, 2, 0, 7))).is_err());
    // The first instance is intact.
    let a = Instance::open(&lab.name, "a").unwrap();
    assert_eq!(
        a.output("hostname", [] as [&str; 0]).unwrap().stdout,
        b"ip-10-2-0-5\n"
    );
    let set: BTreeSet<String> = netns::list_with_prefix(&names::netns_prefix(&lab.name))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(set.len(), 1);
    drop(st);
    lab.finish();
}

/// sha256 of a host file, or of `find <dir>`'s sorted listing with sizes.
fn host_digest(path: &str) -> String {
    let out = if Path::new(path).is_dir() {
        Command::new("sh")
            .args([
                "-c",
                &format!("find {path} -xdev -printf '%p %s\\n' 2>/dev/null | sort | sha256sum"),
            ])
            .output()
            .unwrap()
    } else {
        Command::new("sha256sum").arg(path).output().unwrap()
    };
    assert!(out.status.success(), "sha256sum {path}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hostile_user_data_cannot_reach_the_host_and_writes_land_in_the_instance() {
    let mut lab = LabGuard::new();
    let mut st = LabState::create(&lab.name).unwrap();
    let inst = Instance::create(&mut st, "hostile", &spec(Ipv4Addr::new(10, 0, 3, 7))).unwrap();
    lab.track("hostile");
    let marker = format!("vpclab-escape-{}", lab.name);
    let watched = [
        "/usr",
        "/etc/shadow",
        "/etc/ssh/sshd_config",
        "/opt",
        "/srv",
    ];
    let before: Vec<String> = watched.iter().map(|p| host_digest(p)).collect();
    let swappiness = fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    // A host process standing in for the router: this test's own pid.
    let host_pid = std::process::id();
    let script = format!(
        r#"#!/bin/bash
try() {{ name=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "ESCAPED $name"; else echo "blocked $name"; fi; }}
mkdir -p /mnt/p /mnt/t
try remount mount -o remount,rw /
try mount-proc mount -t proc proc /mnt/p
try mount-tmpfs mount -t tmpfs t /mnt/t
try nsenter-net nsenter -t {host_pid} -n true
try nsenter-mnt nsenter -t {host_pid} -m true
try nsenter-init nsenter -t 1 -m -n true
try unshare unshare -m -n true
try shadow cat /proc/{host_pid}/root/etc/shadow
try kill kill -0 {host_pid}
try mknod mknod /tmp/blk b 8 0
try sysctl sh -c 'echo {swappiness} > /proc/sys/vm/swappiness'
try insmod sh -c 'grep -q . /proc/modules && modprobe -n dummy && false'
if [ -z "$(ls -A /var/lib/vpclab)" ]; then echo "blocked list-vpclab"; else echo "ESCAPED list-vpclab $(ls /var/lib/vpclab)"; fi
echo "processes $(ps -e --no-headers | wc -l)"
grep CapEff /proc/self/status
mkdir -p /srv/www /opt/app /usr/local/bin
echo page > /srv/www/{marker} && echo app > /opt/app/{marker} && echo tool > /usr/local/bin/{marker} && echo x > /usr/{marker} && echo "wrote all"
"#
    );
    let report = inst
        .run_user_data(script.as_bytes(), Duration::from_secs(60))
        .unwrap();
    assert_eq!(report.outcome, UserDataOutcome::Succeeded);
    let log = fs::read_to_string(&report.log).unwrap();
    for name in [
        "remount",
        "mount-proc",
        "mount-tmpfs",
        "nsenter-net",
        "nsenter-mnt",
        "nsenter-init",
        "unshare",
        "shadow",
        "kill",
        "mknod",
        "sysctl",
        "insmod",
        "list-vpclab",
    ] {
        assert!(
            log.lines().any(|l| l == format!("blocked {name}")),
            "{name} was not blocked:\n{log}"
        );
    }
    assert!(!log.contains("ESCAPED"), "{log}");
    // ps sees the instance's processes only: init, the script's shell, ps, wc (and sshd if
    // started; not here).
    let procs: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("processes "))
        .and_then(|n| n.trim().parse().ok())
        .expect("process count in the log");
    assert!(procs <= 8, "ps inside lists {procs} processes:\n{log}");
    // Docker's default capabilities without MKNOD, plus NET_ADMIN.
    assert!(log.contains("CapEff:\t00000000a00435fb"), "{log}");
    assert!(log.contains("wrote all"), "{log}");
    // The writes are the instance's: in its upper layer, not on the host.
    for (dir, text) in [
        ("srv/www", "page\n"),
        ("opt/app", "app\n"),
        ("usr/local/bin", "tool\n"),
        ("usr", "x\n"),
    ] {
        let host = Path::new("/").join(dir).join(&marker);
        assert!(!host.exists(), "{} appeared on the host", host.display());
        let top = dir.split('/').next().unwrap();
        let rest = dir.split_once('/').map_or("", |(_, r)| r);
        let upper = inst.upper(top).join(rest).join(&marker);
        assert_eq!(
            fs::read_to_string(&upper).unwrap_or_default(),
            text,
            "{}",
            upper.display()
        );
    }
    let after: Vec<String> = watched.iter().map(|p| host_digest(p)).collect();
    assert_eq!(before, after, "host files changed: {watched:?}");
    assert_eq!(
        fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        swappiness
    );

    // What still works: /dev/null, urandom, ptys, the instance's own net sysctls (not the
    // host's), the personality, tcpdump's capabilities.
    let host_forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let (ok, out, err) = sh(
        &inst,
        "echo x > /dev/null && head -c 4 /dev/urandom | wc -c && \
         python3 -c 'import os,pty; m,s=pty.openpty(); print(os.ttyname(s).startswith(\"/dev/pts/\"))' && \
         echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward",
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["4", "True", "1"]
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward,
        "the instance's sysctl reached the host"
    );
    let (ok, out, err) = sh(
        &inst,
        "yum install -y httpd && test -d /var/www/html && echo ok",
    );
    assert!(ok && out.ends_with("ok\n"), "{out} {err}");
    // tcpdump captures (NET_RAW, NET_ADMIN kept): pings until it has captured one (it
    // exits after one packet), at most its 10 s.
    let (ok, out, err) = sh(
        &inst,
        "ip link set lo up && { timeout 10 tcpdump -n -c 1 -i lo icmp 2>/dev/null & t=$!; \
         while kill -0 $t 2>/dev/null; do ping -c 1 -W 1 127.0.0.1 >/dev/null; done; wait $t; }",
    );
    assert!(
        ok && out.contains("ICMP echo"),
        "tcpdump inside: {out} {err}"
    );
    // Read-only where containers have it so, and the devices are the usual ones only.
    for f in ["/proc/sys/kernel/threads-max", "/sys/class/net/lo/mtu"] {
        let (ok, _, err) = sh(&inst, &format!(": >> {f}"));
        assert!(
            !ok && err.contains("Read-only file system"),
            "{f}: ok={ok} {err}"
        );
    }
    let (_, out, _) = sh(&inst, "ls /dev | tr '\\n' ' '");
    assert_eq!(
        out.trim(),
        "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero"
    );
    drop(st);
    lab.finish();
}

#[test]
fn lab_key_pair_is_made_once_recorded_and_opens_the_instances_sshd() {
    let mut lab = LabGuard::new();
    let mut st = LabState::create(&lab.name).unwrap();
    assert!(matches!(
        keys::ensure(&mut st, "../escape"),
        Err(keys::KeysError::KeyName { .. })
    ));
    let kp = keys::ensure(&mut st, "CloudNeta").expect("key pair");
    let pem = keys::key_file(&lab.name, "CloudNeta");
    assert_eq!(kp.private_key, pem);
    assert!(keys::is_private(&pem), "the .pem is not mode 0600");
    let bytes = fs::read(&pem).unwrap();
    assert!(
        bytes.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"),
        "not a PEM RSA key"
    );
    assert!(
        kp.public_key.starts_with("ssh-rsa ") && kp.public_key.ends_with(" CloudNeta"),
        "{}",
        kp.public_key
    );
    // Idempotent: the same key, the file untouched.
    let again = keys::ensure(&mut st, "CloudNeta").unwrap();
    assert_eq!(again, kp);
    assert_eq!(fs::read(&pem).unwrap(), bytes);
    assert!(st
        .record()
        .resources
        .contains(&Resource::File { path: pem.clone() }));
    let leftovers: Vec<_> = fs::read_dir(names::data_dir(&lab.name))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["CloudNeta.pem"], "temporary files left");

    let ip = Ipv4Addr::new(10, 0, 4, 20);
    let inst = Instance::create(&mut st, "keyed", &spec(ip)).unwrap();
    lab.track("keyed");
    link::loopback_up(inst.netns()).unwrap();
    inst.authorize_key(&kp.public_key).unwrap();
    assert!(
        inst.start_sshd().unwrap(),
        "no /usr/sbin/sshd on this host: run netns-scripts/install-deps.sh"
    );
    let ssh = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
               -o ConnectTimeout=10 -o LogLevel=ERROR";
    // The lab's files are not visible inside an instance (its /var/lib/vpclab is empty)...
    let (ok, _, _) = sh(&inst, &format!("test -e {}", pem.display()));
    assert!(!ok, "{} is visible inside the instance", pem.display());
    // ...so the key goes in as a user would bring it: on stdin of a command inside.
    let mut child = inst
        .spawn(
            "/bin/sh",
            [
                "-c",
                &format!(
                    "umask 077 && cat > /root/k.pem && {ssh} -i /root/k.pem root@127.0.0.1 hostname"
                ),
            ],
            (Stdio::piped(), Stdio::piped(), Stdio::piped()),
        )
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let (ok, out, err) = (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(ok, "ssh -i (the .pem, inside) failed: {out} {err}");
    assert_eq!(out.trim(), "ip-10-0-4-20");
    // The same from the host's files, in the instance's network namespace only.
    let host_side = netns::run_in(inst.netns(), || {
        Command::new("ssh")
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
                "-i",
            ])
            .arg(&pem)
            .args(["root@127.0.0.1", "cat /etc/hostname"])
            .stdin(Stdio::null())
            .output()
    })
    .unwrap()
    .expect("run ssh");
    assert!(
        host_side.status.success(),
        "{}",
        String::from_utf8_lossy(&host_side.stderr)
    );
    assert_eq!(host_side.stdout, b"ip-10-0-4-20\n");
    // Without the key (and no password), root is refused.
    let (ok, _, err) = sh(
        &inst,
        &format!("{ssh} -o IdentitiesOnly=yes -i /dev/null root@127.0.0.1 true"),
    );
    assert!(!ok, "ssh without the key got in");
    assert!(err.contains("Permission denied"), "{err}");
    drop(st);
    lab.finish();
    assert!(!pem.exists(), "down left the key pair");
}

/// CPU time of this process and its waited-for children (user + system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    // Fields 14-17 (utime stime cutime cstime) are 11-14 after the state field.
    let ticks: u64 = rest
        .split(' ')
        .skip(11)
        .take(4)
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    ticks as f64 / hz as f64
}

/// Twenty instances made by `create_many` on up to four threads (or `VPCLAB_CREATE_THREADS`,
/// to compare); prints the time (no timing is asserted: that belongs in benchmarks).
#[test]
fn many_instances_are_made_concurrently_and_each_is_whole() {
    const N: usize = 20;
    let threads = std::env::var("VPCLAB_CREATE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut lab = LabGuard::new();
    let mut st = LabState::create(&lab.name).unwrap();
    let first = Instance::create(&mut st, "m0", &spec(Ipv4Addr::new(10, 5, 0, 10))).unwrap();
    lab.track("m0");
    let specs: Vec<(String, InstanceSpec)> = (1..=N)
        .map(|i| (format!("m{i}"), spec(Ipv4Addr::new(10, 5, 0, 10 + i as u8))))
        .collect();
    let mut batch: Vec<(&str, &InstanceSpec)> =
        specs.iter().map(|(n, s)| (n.as_str(), s)).collect();
    // Refused without touching anything: a name already running, one given twice, a bad one.
    batch.push(("m0", &specs[0].1));
    batch.push(("m1", &specs[0].1));
    batch.push(("bad/name", &specs[0].1));

    for (n, _) in &batch {
        if names::check_instance(n).is_ok() {
            lab.track(n);
        }
    }
    let cpu_before = cpu_seconds();
    let start = std::time::Instant::now();
    let results = Instance::create_many(&mut st, &batch, threads);
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    eprintln!(
        "create_many: {N} instances on {threads} thread(s) in {:.2} s ({:.0} ms each); \
         CPU {cpu:.2} s ({:.0} ms each, ssh-keygen included); {} CPUs, load average {}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / N as f64,
        cpu * 1000.0 / N as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(results.len(), N + 3);
    for r in &results[N..N + 2] {
        assert!(
            matches!(r, Err(instance::InstanceError::Exists { .. })),
            "{r:?}"
        );
    }
    assert!(matches!(
        results[N + 2],
        Err(instance::InstanceError::Name(_))
    ));
    // One that fails half-way (its UTS namespace file is taken) is torn down and forgotten;
    // the other of its batch is kept.
    fs::write(instance::uts_file(&lab.name, "broken"), b"in the way").unwrap();
    lab.track("extra");
    let extra_spec = spec(Ipv4Addr::new(10, 5, 1, 1));
    let mut second = Instance::create_many(
        &mut st,
        &[("broken", &extra_spec), ("extra", &extra_spec)],
        2,
    );
    let extra = second
        .pop()
        .unwrap()
        .expect("the good instance of the batch");
    assert!(
        matches!(second[0], Err(instance::InstanceError::Io { .. })),
        "{:?}",
        second[0]
    );
    assert_eq!(
        extra.output("hostname", [] as [&str; 0]).unwrap().stdout,
        b"ip-10-5-1-1\n"
    );
    assert!(!netns::exists(&names::netns(&lab.name, "broken")));
    assert!(!names::instance_dir(&lab.name, "broken").exists());
    assert!(!st.record().resources.contains(&Resource::Instance {
        name: "broken".into()
    }));
    let insts: Vec<Instance> = results
        .into_iter()
        .take(N)
        .map(|r| r.expect("instance"))
        .collect();
    // The instance that was there already is intact.
    assert_eq!(
        first.output("hostname", [] as [&str; 0]).unwrap().stdout,
        b"ip-10-5-0-10\n"
    );
    let rec = st.record().resources.clone();
    for (i, inst) in insts.iter().enumerate() {
        let want = format!("ip-10-5-0-{}", 11 + i);
        let (ok, out, err) = sh(
            inst,
            "hostname; cat /etc/hostname; test -s /etc/ssh/ssh_host_rsa_key && echo key; \
             touch /usr/vpclab-x && echo wrote",
        );
        assert!(ok, "{}: {err}", inst.name());
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [want.as_str(), want.as_str(), "key", "wrote"],
            "{}",
            inst.name()
        );
        assert!(rec.contains(&Resource::Netns {
            name: inst.netns().to_string()
        }));
        assert!(rec.contains(&Resource::NsFile {
            path: instance::mnt_file(&lab.name, inst.name())
        }));
    }
    // Each has its own host key.
    let keys: BTreeSet<Vec<u8>> = insts
        .iter()
        .map(|i| fs::read(i.upper("etc").join("ssh/ssh_host_ed25519_key.pub")).unwrap())
        .collect();
    assert_eq!(keys.len(), N);
    assert_eq!(
        netns::list_with_prefix(&names::netns_prefix(&lab.name))
            .unwrap()
            .len(),
        N + 2
    );
    drop(st);
    lab.finish();
}
