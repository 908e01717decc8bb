//! Measures the host layer on this machine (needs root); prints figures, asserts nothing.
//!
//! - `Tap::create` (open + TUNSETIFF + TUNSETVNETHDRSZ + TUNSETOFFLOAD) and drop;
//! - `link::attach` (sysctl thread + two `ip` processes);
//! - `Instance::create` and `instance::teardown`;
//! - ping RTT and iperf3 TCP throughput between two namespaces whose TAPs are joined by a
//!   two-thread userspace forwarder (blocking read → write, virtio-net header passed through).
//!
//! Run: `sudo cargo run --release --example tap_pair` (or as root). Everything is created
//! under the lab name `m<pid>` and removed with `cleanup::down` at the end.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vpclab::host::cleanup;
use vpclab::host::instance::{self, Instance, InstanceSpec};
use vpclab::host::link::{self, EthConfig};
use vpclab::host::state::LabState;
use vpclab::host::tap::Tap;
use vpclab::host::{names, netns};

struct Down(String);
impl Drop for Down {
    fn drop(&mut self) {
        match cleanup::down(&self.0) {
            Ok(_) => eprintln!("lab {} removed", self.0),
            Err(e) => eprintln!("down {}: {e}", self.0),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn in_ns(ns: &str, cmd: &[&str]) -> std::process::Output {
    let (prog, args) = cmd.split_first().unwrap();
    netns::run_in(ns, || Command::new(prog).args(args).output())
        .unwrap()
        .unwrap()
}

fn main() {
    assert!(
        vpclab::host::is_root(),
        "run as root: sudo cargo run --release --example tap_pair"
    );
    let lab = format!("m{}", std::process::id());
    let _down = Down(lab.clone());
    let mut state = LabState::create(&lab).unwrap();
    println!(
        "kernel {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );

    // 1. TAP creation.
    let name = names::tap(&lab, "probe");
    let mut t = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        let tap = Tap::create(&name).unwrap();
        t.push(s.elapsed().as_secs_f64() * 1e6);
        drop(tap);
    }
    println!("Tap::create (+drop): median {:.0} us over 200", median(t));

    // 2. Two namespaces joined by the forwarder.
    let (na, nb) = (names::netns(&lab, "a"), names::netns(&lab, "b"));
    netns::create(&na).unwrap();
    netns::create(&nb).unwrap();
    let (ta, tb) = (names::tap(&lab, "a"), names::tap(&lab, "b"));
    let tap_a = Arc::new(Tap::create(&ta).unwrap());
    let tap_b = Arc::new(Tap::create(&tb).unwrap());
    println!(
        "offloads accepted: {:#x} (USO: {})",
        tap_a.offloads(),
        tap_a.has_uso()
    );
    let (ip_a, ip_b) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2));
    let (mac_a, mac_b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut t = Vec::new();
    for (tap, ns, mac, ip) in [(&ta, &na, mac_a, ip_a), (&tb, &nb, mac_b, ip_b)] {
        let s = Instant::now();
        link::attach(tap, ns, &EthConfig::new(mac, ip, 24)).unwrap();
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    println!("link::attach: {:.1} ms and {:.1} ms", t[0], t[1]);
    for (ns, ip, mac) in [(&na, ip_b, mac_b), (&nb, ip_a, mac_a)] {
        link::ip(
            &[
                "-n",
                ns,
                "neigh",
                "add",
                &ip.to_string(),
                "lladdr",
                &link::mac_string(&mac),
                "dev",
                "eth0",
                "nud",
                "permanent",
            ],
            None,
        )
        .unwrap();
    }
    let frames = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    for (from, to) in [
        (tap_a.clone(), tap_b.clone()),
        (tap_b.clone(), tap_a.clone()),
    ] {
        let (frames, bytes) = (frames.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 128 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                frames.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                let _ = to.write(&buf[..n]);
            }
        });
    }
    let ping = in_ns(&na, &["ping", "-c", "50", "-i", "0.02", "-q", "10.9.0.2"]);
    let text = String::from_utf8_lossy(&ping.stdout);
    println!("ping a->b: {}", text.lines().last().unwrap_or(""));

    if Command::new("iperf3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok()
    {
        let mut server = netns::run_in(&nb, || {
            Command::new("iperf3")
                .args(["-s", "-B", "10.9.0.2"])
                .stdout(Stdio::null())
                .spawn()
        })
        .unwrap()
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for run in 1..=3 {
            frames.store(0, Ordering::Relaxed);
            bytes.store(0, Ordering::Relaxed);
            let out = in_ns(&na, &["iperf3", "-c", "10.9.0.2", "-t", "5", "-J"]);
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let bps = json["end"]["sum_received"]["bits_per_second"]
                .as_f64()
                .unwrap_or(0.0);
            let f = frames.load(Ordering::Relaxed);
            let b = bytes.load(Ordering::Relaxed);
            println!(
                "iperf3 TCP a->b run {run}: {:.2} Gbit/s; forwarder {} frames, {:.0} frames/s, average {} bytes",
                bps / 1e9,
                f,
                f as f64 / 5.0,
                b.checked_div(f).unwrap_or(0)
            );
        }
        let _ = server.kill();
        let _ = server.wait();
    }
    drop(tap_a);
    drop(tap_b);

    // 3. Instances.
    let mut t_create = Vec::new();
    let mut t_down = Vec::new();
    for i in 0..5u8 {
        let ip = Ipv4Addr::new(10, 0, 1, 10 + i);
        let spec = InstanceSpec {
            hostname: InstanceSpec::ec2_hostname(ip),
            domain: "ap-northeast-2.compute.internal".into(),
            dns: Ipv4Addr::new(10, 0, 0, 2),
            private_ip: ip,
        };
        let name = format!("i{i}");
        let s = Instant::now();
        Instance::create(&mut state, &name, &spec).unwrap();
        t_create.push(s.elapsed().as_secs_f64() * 1e3);
        let s = Instant::now();
        instance::teardown(&lab, &name, Some(&mut state)).unwrap();
        t_down.push(s.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "Instance::create: median {:.0} ms (min {:.0}, max {:.0}) over 5; teardown median {:.0} ms",
        median(t_create.clone()),
        t_create.iter().cloned().fold(f64::MAX, f64::min),
        t_create.iter().cloned().fold(0.0, f64::max),
        median(t_down)
    );
}
