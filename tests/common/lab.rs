//! A lab brought up with `vpclab up --detach` for a root test, and always brought down
//! (a Drop guard runs `vpclab down` and checks nothing is left).

use std::sync::atomic::{AtomicU32, Ordering};

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

    pub fn ok(&self, instance: &str, cmd: &[&str]) -> String {
        let (code, out) = self.exec(instance, cmd);
        assert_eq!(code, 0, "{instance}: {cmd:?} failed:\n{out}");
        out
    }

    pub fn fails(&self, instance: &str, cmd: &[&str]) {
        let (code, out) = self.exec(instance, cmd);
        assert_ne!(code, 0, "{instance}: {cmd:?} should fail:\n{out}");
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

    pub fn ping_fails(&self, from: &str, to: &str) {
        self.fails(from, &["ping", "-c", "2", "-i", "0.2", "-W", "1", to]);
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
