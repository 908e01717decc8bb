//! A lab brought up with `vpclab up --detach` for a root test, and always brought down
//! (a Drop guard runs `vpclab down` and checks nothing is left).

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use vpclab::dataplane::verdict::DropKind;

use super as common;

pub fn require_root() {
    assert!(
        vpclab::host::is_root(),
        "these tests create network namespaces: run them as root through netns-scripts/test.sh"
    );
}

/// A lab that is brought down when dropped, whatever happened.
pub struct Lab {
    pub name: String,
}

impl Lab {
    pub fn up(template: &str) -> Lab {
        Lab::up_with(template, &[])
    }

    /// [`Lab::up`] with more arguments for `up` (`--parameter K=V`, …).
    pub fn up_with(template: &str, extra: &[&str]) -> Lab {
        Lab::up_env(template, extra, &[])
    }

    /// [`Lab::up_with`] with environment variables for the daemon.
    pub fn up_env(template: &str, extra: &[&str], env: &[(&str, &str)]) -> Lab {
        require_root();
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "l{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab { name };
        let mut args = vec!["up", template, "--name", &lab.name, "--detach"];
        args.extend_from_slice(extra);
        let (code, out, err) = common::vpclab_env(&args, env);
        assert_eq!(code, 0, "up failed:\n{out}\n{err}");
        lab
    }

    /// Runs a command in an instance; (exit code, stdout+stderr).
    pub fn exec(&self, instance: &str, cmd: &[&str]) -> (i32, String) {
        let mut args = vec!["exec", "--name", &self.name, instance, "--"];
        args.extend_from_slice(cmd);
        let (code, out, err) = common::vpclab(&args);
        (code, format!("{out}{err}"))
    }

    /// Starts `cmd` in `instance` with `vpclab exec` and waits, at most `secs`, for the first
    /// line it prints, which a server prints once it listens: it is ready when this returns.
    /// The line is [`Server::ready`]; [`Server::finish`] waits for the server to end.
    pub fn serve(&self, instance: &str, cmd: &[&str], secs: u64) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
            .args(["exec", "--name", &self.name, instance, "--"])
            .args(cmd)
            .current_dir(common::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run vpclab exec");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let _ = tx.send(());
            (out, line)
        });
        let in_time = rx.recv_timeout(Duration::from_secs(secs)).is_ok();
        if !in_time {
            // The reader then sees the end of the pipe.
            let _ = child.kill();
        }
        let (out, ready) = reader.join().unwrap();
        let server = Server { child, out, ready };
        if !in_time || server.ready.is_empty() {
            let (code, rest) = server.finish();
            panic!(
                "{instance}: {cmd:?} was not ready within {secs} s (it printed nothing; exit \
                 {code}):\n{rest}"
            );
        }
        server
    }

    pub fn ok(&self, instance: &str, cmd: &[&str]) -> String {
        let (code, out) = self.exec(instance, cmd);
        assert_eq!(code, 0, "{instance}: {cmd:?} failed:\n{out}");
        out
    }

    /// How many packets the router dropped for `reason` so far (`vpclab status --json`).
    pub fn drops(&self, reason: DropKind) -> u64 {
        let (code, out) = self.vpclab(&["status", "--json"]);
        assert_eq!(code, 0, "{out}");
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json ({e}):\n{out}"));
        v["drops"]
            .as_array()
            .unwrap_or_else(|| panic!("no drops in status --json:\n{out}"))
            .iter()
            .filter(|d| d[0] == reason.name())
            .filter_map(|d| d[1].as_u64())
            .sum()
    }

    /// Runs `cmd` in `instance` and asserts that the network stopped it, and nothing else
    /// did: the tool exited with one of `codes`, its own words for "no answer" (ping's 1,
    /// curl's 28 timed out or 7 refused, …, never the code of an error running it or
    /// resolving a name), and the router counted more `reason` drops than before. Returns
    /// the tool's output.
    pub fn blocked(&self, instance: &str, cmd: &[&str], codes: &[i32], reason: DropKind) -> String {
        let before = self.drops(reason);
        let (code, out) = self.exec(instance, cmd);
        assert!(
            codes.contains(&code),
            "{instance}: {cmd:?} should get no answer (exit {codes:?}), got exit {code}:\n{out}"
        );
        let after = self.drops(reason);
        assert!(
            after > before,
            "{instance}: {cmd:?} got no answer (exit {code}), but the router counted no {} drop \
             (still {before}):\n{out}\n{}",
            reason.name(),
            self.vpclab(&["status"]).1
        );
        out
    }

    pub fn vpclab(&self, args: &[&str]) -> (i32, String) {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--name", &self.name]);
        let (code, out, err) = common::vpclab(&all);
        (code, format!("{out}{err}"))
    }

    /// `create-vpc-endpoint` for `com.amazonaws.ap-northeast-2.<service>` in the seed's VPC
    /// on `route_tables`; the new `vpce-…` id.
    pub fn create_gateway_endpoint(&self, service: &str, route_tables: &[&str]) -> String {
        let name = format!("com.amazonaws.ap-northeast-2.{service}");
        let mut args = vec![
            "create-vpc-endpoint",
            "--vpc-id",
            "CloudNetaVPC",
            "--service-name",
            &name,
            "--route-table-ids",
        ];
        args.extend_from_slice(route_tables);
        let (code, out) = self.vpclab(&args);
        assert_eq!(code, 0, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["VpcEndpoint"]["VpcEndpointId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn ping_ok(&self, from: &str, to: &str) {
        self.ok(from, &["ping", "-c", "2", "-i", "0.2", "-W", "2", to]);
    }

    /// `ping` gets no reply (its exit 1; 2 would be an error, such as a name that does not
    /// resolve) because the router dropped the echo requests (or replies) for `reason`.
    pub fn ping_fails(&self, from: &str, to: &str, reason: DropKind) {
        self.blocked(
            from,
            &["ping", "-c", "2", "-i", "0.2", "-W", "1", to],
            &[1],
            reason,
        );
    }

    /// `curl -sS -m SECS URL` times out (curl's 28: no SYN-ACK came back; 6, a name that
    /// does not resolve, or 7, refused, are not this) because the router dropped for
    /// `reason`.
    pub fn curl_times_out(&self, from: &str, url: &str, secs: u32, reason: DropKind) -> String {
        let secs = secs.to_string();
        self.blocked(from, &["curl", "-sS", "-m", &secs, url], &[28], reason)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let (_, out, _) = common::vpclab(&["down", "--name", &self.name]);
        let left = vpclab::host::cleanup::leftovers(&self.name).unwrap_or_default();
        if !std::thread::panicking() {
            assert!(left.is_empty(), "lab {} left {left:?}", self.name);
            // A running daemon tears its own lab down; `down` removing things itself means
            // the daemon died or hung on the way.
            assert!(
                !out.contains("removed"),
                "lab {}: the daemon did not tear its lab down itself:\n{out}",
                self.name
            );
        }
    }
}

/// A server started by [`Lab::serve`]; killed if dropped before [`Server::finish`].
pub struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    /// The first line it printed (when it was ready).
    pub ready: String,
}

impl Server {
    /// Waits for the server to end: its exit code and what it printed after its first line
    /// (stdout, then stderr).
    pub fn finish(mut self) -> (i32, String) {
        let mut text = String::new();
        let _ = self.out.read_to_string(&mut text);
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        let code = self.child.wait().map_or(-1, |s| s.code().unwrap_or(-1));
        (code, text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn private_ip(template: &str, logical: &str) -> String {
    let lab = common::load_file(template);
    lab.instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some(logical))
        .map(|i| i.private_ip.to_string())
        .unwrap()
}

pub fn public_ip(template: &str, logical: &str) -> String {
    let lab = common::load_file(template);
    lab.instances
        .iter()
        .find(|i| i.origin.logical_id.as_deref() == Some(logical))
        .and_then(|i| i.public_ip)
        .map(|p| p.to_string())
        .unwrap()
}
