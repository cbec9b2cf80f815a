//! Real nodes: Debian trixie roots booted with systemd-nspawn, where
//! systemd, D-Bus, NetworkManager or systemd-networkd are live daemons.
//! nethook runs as in production: the node's root as the host root,
//! commands in the node's namespaces (`host_exec = "nsenter"`), netlink in
//! the node's network namespace. Roots are built by tests/nodes/build-roots.sh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

/// Booting several nodes at once on two cores only makes each slower.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Node {
    nspawn: Child,
    leader: u32,
    name: String,
}

impl Node {
    fn boot(kind: &str) -> Node {
        let roots = std::env::var("NETHOOK_NODE_ROOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(format!(
                    "{}/.cache/nethook/nodes",
                    std::env::var("HOME").unwrap()
                ))
            });
        let root = roots.join(kind);
        assert!(
            root.join(".nethook-node").exists(),
            "{} is missing: run tests/nodes/build-roots.sh (scripts/test.sh does)",
            root.display()
        );
        let name = format!("{kind}-{}", std::process::id());
        let hostif = format!("nh{}{}", &kind[..2], std::process::id() % 100_000);
        let nspawn = Command::new("systemd-nspawn")
            .args([
                "--quiet",
                "--boot",
                "--volatile=overlay",
                "--register=no",
                "--keep-unit",
                "--console=passive",
            ])
            .arg(format!("--machine={name}"))
            .arg(format!("--network-veth-extra={hostif}:ens5"))
            .arg("-D")
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("systemd-nspawn");
        let mut node = Node {
            leader: 0,
            nspawn,
            name,
        };
        node.leader = node.find_leader();
        node.wait_running();
        node
    }

    /// The container's PID 1: the descendant of nspawn running systemd.
    fn find_leader(&mut self) -> u32 {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.nspawn.try_wait().unwrap() {
                panic!("systemd-nspawn for {} exited early: {status}", self.name);
            }
            let mut stack = vec![self.nspawn.id()];
            while let Some(pid) = stack.pop() {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return pid;
                }
                for task in std::fs::read_dir(format!("/proc/{pid}/task"))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let children =
                        std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                    stack.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no systemd inside {} after 30s", self.name);
    }

    /// Until systemd reports the boot finished (bounded). Right after the
    /// container starts, systemctl cannot reach systemd yet: retried.
    fn wait_running(&self) {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < Duration::from_secs(120) {
            let out = Command::new("timeout")
                .arg("120")
                .args(self.enter())
                .args(["systemctl", "is-system-running", "--wait"])
                .output()
                .unwrap();
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                return;
            }
            last = format!("{state:?} {}", String::from_utf8_lossy(&out.stderr).trim());
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{} did not come up within 120s: {last}; failed units: {}",
            self.name,
            self.sh(&["systemctl", "--failed", "--no-legend"])
        );
    }

    fn enter(&self) -> Vec<String> {
        [
            "nsenter",
            "-t",
            &self.leader.to_string(),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
        ]
        .map(String::from)
        .to_vec()
    }

    /// Run in the node; stdout, whatever the exit status.
    fn sh(&self, args: &[&str]) -> String {
        let out = Command::new("timeout")
            .arg("60")
            .args(self.enter())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn unit(&self, unit: &str, property: &str) -> String {
        self.sh(&["systemctl", "show", "--value", "-p", property, unit])
    }

    /// The node's root as its own mount namespace sees it (with /run).
    fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.leader))
    }

    /// A config that reaches this node the way nethook does in production.
    fn config(&self, scratch: &Scratch, body: &str) -> PathBuf {
        scratch.config(&format!(
            "host_root = {:?}\nhost_exec = \"nsenter\"\nhost_pid = {}\nuplinks = [\"ens5\"]\n{body}",
            self.root(),
            self.leader
        ))
    }

    /// nethook in the node's network namespace, with the host's filesystem.
    fn nethook(&self, args: &[&str], config: &Path) -> Run {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.leader.to_string(),
            "-n",
            "--",
            nethook_bin(),
            "--log-format",
            "json",
        ])
        .args(args)
        .arg("--config")
        .arg(config);
        run_within(cmd, Duration::from_secs(120))
    }

    fn run(&self, point: &str, config: &Path) -> Run {
        let r = self.nethook(&["run", point], config);
        assert_eq!(r.code, EXIT_OK, "{point} on {}: {r:?}", self.name);
        r
    }

    /// udevd does not run in a container; write the record the node's udevd
    /// would have made for the uplink.
    fn seed_udev(&self) {
        let link: serde_json::Value =
            serde_json::from_str(&self.sh(&["ip", "-j", "link", "show", "ens5"])).unwrap();
        let dir = self.root().join("run/udev/data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("n{}", link[0]["ifindex"])),
            "E:ID_NET_NAME_PATH=enp0s5\nE:ID_NET_NAME_SLOT=ens5\n",
        )
        .unwrap();
    }

    fn exists(&self, path: &str) -> bool {
        self.root().join(path.trim_start_matches('/')).exists()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM asks nspawn to shut the container down cleanly.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.nspawn.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

const DROP_IN: &str = "/etc/NetworkManager/conf.d/99-nethook-dns-none.conf";
const RULES: &str = "/etc/udev/rules.d/99-vpp-restore-id_net_name.rules";

#[test]
fn builtin_profile_on_a_networkmanager_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("nm-node");
    node.seed_udev();
    let scratch = Scratch::new();
    let config = node.config(&scratch, "");
    let nm = "NetworkManager.service";
    assert_eq!(node.unit(nm, "ActiveState"), "active");

    let r = node.run("before-if-read", &config);
    assert!(
        r.hook_messages("builtin").contains(&"detected systemd=yes udev=no network_manager_installed=yes network_service=NetworkManager".to_string()),
        "{r:?}"
    );
    node.run("before-vpp-run", &config);
    assert!(node.exists(DROP_IN) && node.exists(RULES));
    assert!(
        std::fs::read_to_string(node.root().join(RULES.trim_start_matches('/')))
            .unwrap()
            .contains("ENV{ID_NET_NAME_PATH}=\"enp0s5\"")
    );
    // NetworkManager took the drop-in: its running config says dns=none.
    assert!(node
        .sh(&["NetworkManager", "--print-config"])
        .contains("dns=none"));

    let before = node.unit(nm, "InvocationID");
    node.run("vpp-running", &config);
    assert_ne!(
        node.unit(nm, "InvocationID"),
        before,
        "NetworkManager was not restarted"
    );
    assert_eq!(node.unit(nm, "ActiveState"), "active");
    assert!(
        node.exists(DROP_IN) && node.exists(RULES),
        "the dataplane is running"
    );

    node.run("vpp-done-ok", &config);
    assert!(!node.exists(DROP_IN) && !node.exists(RULES));
    assert_eq!(node.unit(nm, "ActiveState"), "active");
}

#[test]
fn builtin_profile_on_a_networkd_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    node.seed_udev();
    let scratch = Scratch::new();
    let config = node.config(&scratch, "");
    let networkd = "systemd-networkd.service";
    assert_eq!(node.unit(networkd, "ActiveState"), "active");

    node.run("before-if-read", &config);
    node.run("before-vpp-run", &config);
    assert!(node.exists(RULES) && !node.exists("/etc/NetworkManager"));
    let before = node.unit(networkd, "InvocationID");
    let r = node.run("vpp-running", &config);
    assert_ne!(
        node.unit(networkd, "InvocationID"),
        before,
        "systemd-networkd was not restarted: {r:?}"
    );
    assert_eq!(node.unit(networkd, "ActiveState"), "active");
    let restarts: Vec<String> = r
        .json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::audit" && v["fields"]["outcome"] == "ok")
        .map(|v| {
            format!(
                "{}.{} {}",
                v["fields"]["capability"].as_str().unwrap(),
                v["fields"]["operation"].as_str().unwrap(),
                v["fields"]["args"].as_str().unwrap()
            )
        })
        .filter(|c| {
            !c.starts_with("host-fs.")
                && !c.starts_with("log.")
                && !c.starts_with("systemd.is-active")
        })
        .collect();
    assert_eq!(
        restarts,
        [
            "systemd.restart systemd-udev-trigger.service",
            "udev.settle 10s",
            "systemd.restart systemd-networkd.service"
        ]
    );

    let before = node.unit(networkd, "InvocationID");
    node.run("vpp-errored", &config);
    assert!(!node.exists(RULES));
    assert_ne!(
        node.unit(networkd, "InvocationID"),
        before,
        "no restart after the clean-up"
    );
    assert_eq!(node.unit(networkd, "ActiveState"), "active");
}

/// A shipped example config, aimed at this node and the built component.
fn shipped(node: &Node, scratch: &Scratch, hook: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../guest-hooks/{hook}/nethook.toml")),
    )
    .unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("host_root") && !l.starts_with("uplinks"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            &format!("\"../../target/guests/{hook}.wasm\""),
            &format!("{:?}", guest(hook)),
        );
    node.config(scratch, &body)
}

#[test]
fn openshift_hook_on_a_networkmanager_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("nm-node");
    let scratch = Scratch::new();
    let config = shipped(&node, &scratch, "openshift");
    let get = || {
        node.sh(&[
            "nmcli",
            "-g",
            "ipv4.dhcp-timeout",
            "connection",
            "show",
            "ens5",
        ])
    };
    assert_eq!(get(), "0");
    let before = node.unit("NetworkManager.service", "InvocationID");

    // Planning against the live node changes nothing on it.
    let r = node.nethook(&["plan", "vpp-running", "--json"], &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(node.unit("NetworkManager.service", "InvocationID"), before);
    assert_eq!(get(), "0");

    node.run("vpp-running", &config);
    assert_eq!(get(), "2147483647");
    assert_ne!(node.unit("NetworkManager.service", "InvocationID"), before);
    assert_eq!(node.unit("NetworkManager.service", "ActiveState"), "active");
}

#[test]
fn eks_hook_on_a_networkd_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    // The EKS AMI's stock file; the node's root is an overlay, discarded at shutdown.
    // An EKS node has no file of its own for the uplink, only the stock one.
    let stock = node.root().join("usr/lib/systemd/network/80-ec2.network");
    std::fs::write(
        &stock,
        "[Match]\nDriver=ena ixgbevf vif\n\n[Network]\nDHCP=yes\n",
    )
    .unwrap();
    std::fs::remove_file(node.root().join("etc/systemd/network/10-ens5.network")).unwrap();
    let scratch = Scratch::new();
    let config = shipped(&node, &scratch, "eks");
    let ours = "/etc/systemd/network/ens5.network";

    let before = node.unit("systemd-networkd.service", "InvocationID");
    node.run("vpp-running", &config);
    let written = std::fs::read_to_string(node.root().join(ours.trim_start_matches('/'))).unwrap();
    assert_eq!(written, "[Match]\nName=ens5\n\n[Network]\nDHCP=yes\n");
    assert_ne!(
        node.unit("systemd-networkd.service", "InvocationID"),
        before
    );
    assert_eq!(
        node.unit("systemd-networkd.service", "ActiveState"),
        "active"
    );
    // networkd itself reads the file it was told about.
    assert!(
        node.sh(&["networkctl", "status", "ens5"]).contains(ours),
        "{}",
        node.sh(&["networkctl", "status", "ens5"])
    );

    node.run("vpp-done-ok", &config);
    assert!(!node.exists(ours));
    assert_eq!(
        node.unit("systemd-networkd.service", "ActiveState"),
        "active"
    );
}

#[test]
fn a_hook_cannot_restart_a_unit_it_was_not_granted() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    let scratch = Scratch::new();
    let config = node.config(
        &scratch,
        &format!(
            "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"capcaller\"\n{}[hooks.capcaller.config]\nc1 = \"systemd.restart|systemd-networkd.service\"\n\
             [hooks.capcaller.grants]\nunits = [\"NetworkManager.service\"]\n",
            hook_table("capcaller", "capcaller", "")
        ),
    );
    let before = node.unit("systemd-networkd.service", "InvocationID");
    let r = node.run("vpp-running", &config);
    assert!(
        r.hook_messages("capcaller")
            .iter()
            .any(|m| m.contains("denied: unit \\\"systemd-networkd.service\\\" is not granted")),
        "{r:?}"
    );
    assert_eq!(
        node.unit("systemd-networkd.service", "InvocationID"),
        before
    );
}
