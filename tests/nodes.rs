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
use sha2::Digest;

/// Booting several nodes at once on two cores only makes each slower.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Node {
    nspawn: Child,
    leader: u32,
    name: String,
    /// The host's end of the uplink's veth.
    hostif: String,
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
            hostif,
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
        .arg(config)
        .env("NETHOOK_LOG", AUDITED);
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

    /// `unit` was restarted since its InvocationID was `before`, and is active.
    fn assert_restarted(&self, unit: &str, before: &str) {
        assert_ne!(
            self.unit(unit, "InvocationID"),
            before,
            "{unit} was not restarted"
        );
        assert_eq!(self.unit(unit, "ActiveState"), "active", "{unit}");
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
        r.hook_messages("builtin").iter().any(|m| m.starts_with("detected systemd=yes udev=no network_manager_installed=yes network_service=NetworkManager version=1.")
            && m.ends_with(" lease=\"kept: NetworkManager's DHCP client on the tap, with the NIC's identity (an in-memory tun profile)\"")),
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

    // The uplink here is no tap (nothing took it over): NetworkManager
    // keeps managing it, and nothing is restarted.
    let before = node.unit(nm, "InvocationID");
    let r = node.run("vpp-running", &config);
    assert_eq!(
        node.unit(nm, "InvocationID"),
        before,
        "NetworkManager was restarted"
    );
    assert!(
        r.hook_messages("builtin").contains(
            &"lease: the uplink is not a tap; NetworkManager keeps managing it uplink=ens5"
                .to_string()
        ),
        "{r:?}"
    );
    assert_eq!(node.unit(nm, "ActiveState"), "active");
    assert!(
        node.exists(DROP_IN) && node.exists(RULES),
        "the dataplane is running"
    );

    let r = node.run("vpp-done-ok", &config);
    assert!(!node.exists(DROP_IN) && !node.exists(RULES));
    assert_eq!(node.unit(nm, "InvocationID"), before, "{r:?}");
    assert_eq!(node.unit(nm, "ActiveState"), "active");
    // dns=none was taken back by a reload of the configuration alone.
    assert_eq!(
        changes(&r),
        [
            "host-fs.restore",
            "network-manager.reload-conf",
            "host-fs.restore"
        ],
        "{r:?}"
    );
    assert!(!node
        .sh(&["NetworkManager", "--print-config"])
        .contains("dns=none"));
}

/// The operations that changed the node (not state, not reads), in order.
fn changes(r: &Run) -> Vec<String> {
    const CHANGES: [&str; 17] = [
        "write",
        "remove",
        "restore",
        "restart",
        "start",
        "stop",
        "reload",
        "reload-conf",
        "load",
        "activate",
        "deactivate",
        "networkd-reload",
        "networkd-reconfigure",
        "reload-rules",
        "trigger",
        "trigger-device",
        "rename",
    ];
    r.json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::audit" && v["fields"]["outcome"] == "ok")
        .filter(|v| v["fields"]["capability"] != "state")
        .filter(|v| CHANGES.contains(&v["fields"]["operation"].as_str().unwrap_or("")))
        .map(|v| {
            format!(
                "{}.{}",
                v["fields"]["capability"].as_str().unwrap(),
                v["fields"]["operation"].as_str().unwrap()
            )
        })
        .collect()
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
    assert_eq!(
        node.unit(networkd, "InvocationID"),
        before,
        "systemd-networkd was restarted: {r:?}"
    );
    assert_eq!(node.unit(networkd, "ActiveState"), "active");
    // No tap took the uplink over: nothing to change.
    assert_eq!(changes(&r), Vec::<String>::new(), "{r:?}");

    let r = node.run("vpp-errored", &config);
    assert!(!node.exists(RULES));
    assert_eq!(changes(&r), ["host-fs.restore"], "{r:?}");
    assert_eq!(
        node.unit(networkd, "InvocationID"),
        before,
        "systemd-networkd was restarted by the clean-up"
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

/// What the openshift hook sets: the uplink connection's DHCP timeout.
fn dhcp_timeout(node: &Node) -> String {
    node.sh(&[
        "nmcli",
        "-g",
        "ipv4.dhcp-timeout",
        "connection",
        "show",
        "ens5",
    ])
}

#[test]
fn openshift_hook_on_a_networkmanager_node() {
    // The Rust hook, then its Python twin (guest-hooks/openshift-py): the
    // same effects, byte for byte, and the same node afterwards.
    let mut plans = Vec::new();
    for hook in ["openshift", "openshift-py"] {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let node = Node::boot("nm-node");
        let scratch = Scratch::new();
        let config = shipped(&node, &scratch, hook);
        let get = || dhcp_timeout(&node);
        assert_eq!(get(), "0");
        let before = node.unit("NetworkManager.service", "InvocationID");

        // Planning against the live node changes nothing on it.
        let r = node.nethook(&["plan", "vpp-running", "--json"], &config);
        assert_eq!(r.code, EXIT_OK, "{hook}: {r:?}");
        assert_eq!(node.unit("NetworkManager.service", "InvocationID"), before);
        assert_eq!(get(), "0");
        let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        plans.push((hook, plan["effects"].clone()));

        node.run("vpp-running", &config);
        assert_eq!(get(), "2147483647", "{hook}");
        assert_ne!(node.unit("NetworkManager.service", "InvocationID"), before);
        assert_eq!(node.unit("NetworkManager.service", "ActiveState"), "active");
    }
    assert!(
        plans[0].1.as_array().is_some_and(|e| e.len() == 3),
        "{plans:?}"
    );
    assert_eq!(
        plans[0].1, plans[1].1,
        "the Rust and Python hooks plan differently"
    );
}

#[test]
fn a_chain_runs_the_builtin_module_then_a_vendor_hook_on_a_networkmanager_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("nm-node");
    node.seed_udev();
    let scratch = Scratch::new();
    let config = node.config(
        &scratch,
        &format!(
            "[[points.vpp-running.handlers]]\nhandler = \"builtin\"\n\
             [[points.vpp-running.handlers]]\nhandler = \"wasm\"\nhook = \"openshift\"\n\
             [hooks.openshift]\ncomponent = {:?}\n[hooks.openshift.config]\nwait_ms = 30000\n\
             [hooks.openshift.grants]\nunits = [\"NetworkManager.service\"]\nconnections = [\"ens5\"]\n",
            guest("openshift")
        ),
    );
    let nm = "NetworkManager.service";
    // Both may restart NetworkManager: check says so from their grants.
    let r = node.nethook(&["check"], &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.stdout.contains("1. builtin: ok")
            && r.stdout.contains("2. wasm openshift")
            && r.stdout.contains(
                "WARNING: conflict: handlers 1 (builtin) and 2 (openshift) may both change units NetworkManager.service"
            ),
        "{r:?}"
    );
    node.run("before-if-read", &config);
    node.run("before-vpp-run", &config);
    let before = node.unit(nm, "InvocationID");
    let r = node.run("vpp-running", &config);
    // The built-in module's part (which restarts nothing), then the
    // vendor's, in that order.
    assert_eq!(dhcp_timeout(&node), "2147483647");
    assert_ne!(node.unit(nm, "InvocationID"), before);
    assert_eq!(node.unit(nm, "ActiveState"), "active");
    assert!(node.exists(DROP_IN) && node.exists(RULES));
    let restarts: Vec<String> = r
        .json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::audit" && v["fields"]["operation"] == "restart")
        .map(|v| v["fields"]["hook"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(restarts, ["openshift"], "{r:?}");
}

#[test]
fn eks_hook_on_a_networkd_node() {
    // The Rust hook, then its JavaScript twin (guest-hooks/eks-js): the same
    // file, the same effects byte for byte, the same node afterwards.
    let mut plans = Vec::new();
    for hook in ["eks", "eks-js"] {
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
        let config = shipped(&node, &scratch, hook);
        let ours = "/etc/systemd/network/ens5.network";

        let before = node.unit("systemd-networkd.service", "InvocationID");
        let plan = node.nethook(&["plan", "vpp-running", "--json"], &config);
        assert_eq!(plan.code, EXIT_OK, "{hook}: {plan:?}");
        let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        plans.push(plan["effects"].clone());
        node.run("vpp-running", &config);
        let written =
            std::fs::read_to_string(node.root().join(ours.trim_start_matches('/'))).unwrap();
        assert_eq!(written, "[Match]\nName=ens5\n\n[Network]\nDHCP=yes\n");
        node.assert_restarted("systemd-networkd.service", &before);
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
    assert!(
        plans[0].as_array().is_some_and(|e| e.len() == 3),
        "{plans:?}"
    );
    assert_eq!(
        plans[0], plans[1],
        "the Rust and JavaScript hooks plan differently"
    );
}

/// The eks hook's undo is nethook's journal: an admin's own file at the
/// path it writes comes back byte for byte, mode included.
#[test]
fn eks_undo_puts_an_admins_network_file_back_byte_for_byte() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    std::fs::write(
        node.root().join("usr/lib/systemd/network/80-ec2.network"),
        "[Match]\nDriver=ena ixgbevf vif\n\n[Network]\nDHCP=yes\n",
    )
    .unwrap();
    let ours = node.root().join("etc/systemd/network/ens5.network");
    let admins = "# the admin's own\n[Match]\nName=ens5\n\n[Network]\nAddress=10.98.0.2/24\n";
    std::fs::write(&ours, admins).unwrap();
    std::fs::set_permissions(&ours, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let scratch = Scratch::new();
    let config = shipped(&node, &scratch, "eks");

    node.run("vpp-running", &config);
    assert_eq!(
        std::fs::read_to_string(&ours).unwrap(),
        "[Match]\nName=ens5\n\n[Network]\nDHCP=yes\n"
    );
    let before = node.unit("systemd-networkd.service", "InvocationID");
    let r = node.run("vpp-done-ok", &config);
    assert!(
        r.hook_messages("eks")
            .contains(&"undone changes=3".to_string()),
        "{r:?}"
    );
    assert_eq!(std::fs::read_to_string(&ours).unwrap(), admins);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&ours).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    // networkd was told.
    node.assert_restarted("systemd-networkd.service", &before);
    // Undone once: the next undo point has nothing to undo.
    let r = node.run("vpp-errored", &config);
    assert!(
        r.hook_messages("eks")
            .iter()
            .any(|m| m.starts_with("nothing to undo")),
        "{r:?}"
    );
    assert_eq!(std::fs::read_to_string(&ours).unwrap(), admins);
}

/// A unit that will not start fails the point's verification, and the
/// point is rolled back: the rule file it wrote is gone again.
#[test]
fn a_unit_that_will_not_start_fails_verification_and_rolls_the_point_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    node.seed_udev();
    std::fs::write(
        node.root().join("etc/systemd/system/broken.service"),
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/false\n",
    )
    .unwrap();
    node.sh(&["systemctl", "daemon-reload"]);
    node.sh(&["systemctl", "start", "broken.service"]);
    assert_eq!(node.unit("broken.service", "ActiveState"), "failed");
    let scratch = Scratch::new();
    let config = node.config(
        &scratch,
        "[points.before-vpp-run]\nhandler = \"builtin\"\n[points.before-vpp-run.verify]\n\
         units_active = [\"broken.service\"]\ntimeout = \"2s\"\n",
    );
    node.run("before-if-read", &config);
    let r = node.nethook(&["run", "before-vpp-run"], &config);
    assert_eq!(r.code, EXIT_VERIFY_FAILED, "{r:?}");
    assert!(
        r.stderr.contains(
            "before-vpp-run: verification failed: unit broken.service is active: not so after 2s"
        ),
        "{r:?}"
    );
    assert!(!node.exists(RULES), "the rule file was not rolled back");
}

/// `verify = "auto"` at every point of a lifecycle on a NetworkManager
/// node whose uplink is up: what holds before each point (carrier, the
/// uplink's address, a name the node resolves) holds after, and the
/// lifecycle passes as it did without it.
#[test]
fn verify_auto_keeps_a_passing_lifecycle_passing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("nm-node");
    node.seed_udev();
    sh(&["ip", "link", "set", &node.hostif, "up"]);
    let started = Instant::now();
    while !node
        .sh(&["ip", "-4", "addr", "show", "ens5"])
        .contains("10.99.0.2/24")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "NetworkManager never configured ens5"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let scratch = Scratch::new();
    let mut body = String::new();
    for p in [
        "before-if-read",
        "before-vpp-run",
        "vpp-running",
        "vpp-done-ok",
    ] {
        body += &format!("[points.{p}]\nhandler = \"builtin\"\nverify = \"auto\"\n");
    }
    let config = node.config(&scratch, &body);
    for p in [
        "before-if-read",
        "before-vpp-run",
        "vpp-running",
        "vpp-done-ok",
    ] {
        let r = node.run(p, &config);
        let picked = r
            .json_lines()
            .into_iter()
            .find(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("verify = auto"))
            })
            .map(|v| {
                v["fields"]["checks"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_else(|| panic!("{p}: {r:?}"));
        assert!(
            picked.contains("link ens5 has carrier; ens5 has 10.99.0.2/24"),
            "{p}: {picked}"
        );
    }
    assert_eq!(node.unit("NetworkManager.service", "ActiveState"), "active");
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

// ---------------------------------------------------------------------------
// Driven exactly as the dataplane drives it (README "Using nethook with
// Calico VPP"): vpp-manager runs `/bin/bash -c VALUE POINT UPLINK0` with its
// whole environment, every CALICOVPP_HOOK_<POINT> set to the same VALUE.

const INTERFACES: &str =
    r#"{"uplinkInterfaces":[{"interfaceName":"ens5","vppDriver":"af_packet"}]}"#;

impl Node {
    /// A config as a platform engineer writes it for this node: no uplinks
    /// (they come from CALICOVPP_INTERFACES) and, unless given, no state
    /// dir (the default, on the node under the host root).
    fn dataplane_config(&self, scratch: &Scratch, state_dir: Option<&Path>) -> PathBuf {
        let state = state_dir.map_or(String::new(), |d| format!("state_dir = {d:?}\n"));
        scratch.write(
            "dataplane.toml",
            &format!(
                "{state}cache_dir = {:?}\nhost_root = {:?}\nhost_exec = \"nsenter\"\nhost_pid = {}\n",
                scratch.path("cache"),
                self.root(),
                self.leader
            ),
        )
    }

    /// What vpp-manager does at `point`, in the node's network namespace.
    fn dataplane_command(&self, point: &str, config: &Path) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.leader.to_string(), "-n", "--"])
            .args(["/bin/bash", "-c", HOOK_VALUE, point, "ens5"]);
        dataplane_env(&mut cmd, HOOK_VALUE, INTERFACES, config);
        cmd.env("NODENAME", &self.name);
        cmd
    }

    fn dataplane(&self, point: &str, config: &Path) -> Run {
        let r = run_within(
            self.dataplane_command(point, config),
            Duration::from_secs(120),
        );
        assert_eq!(r.code, EXIT_OK, "{point} on {}: {r:?}", self.name);
        // The handler ran exactly once: one nethook chose one handler.
        let running: Vec<_> = r
            .json_lines()
            .into_iter()
            .filter(|v| v["target"] == "nethook::run" && v["fields"]["message"] == "running")
            .collect();
        assert_eq!(running.len(), 1, "{point}: {r:?}");
        assert_eq!(running[0]["fields"]["handler"], "builtin", "{r:?}");
        assert_eq!(
            running[0]["fields"]["uplinks"],
            "ens5 (from environment CALICOVPP_INTERFACES)"
        );
        let detected = r
            .hook_messages("builtin")
            .iter()
            .filter(|m| m.starts_with("detected "))
            .count();
        assert_eq!(detected, 1, "{point}: {r:?}");
        r
    }

    /// Bytes of every file under these node directories.
    fn files(&self, dirs: &[&str]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for dir in dirs {
            let mut stack = vec![self.root().join(dir.trim_start_matches('/'))];
            while let Some(p) = stack.pop() {
                if p.is_dir() {
                    stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                } else if let Ok(bytes) = std::fs::read(&p) {
                    out.push((p.display().to_string(), bytes));
                }
            }
        }
        out.sort();
        out
    }
}

/// Successful restart/start calls on `unit` in a run's audit.
fn starts(r: &Run, unit: &str) -> usize {
    r.json_lines()
        .iter()
        .filter(|v| {
            v["target"] == "nethook::audit"
                && v["fields"]["outcome"] == "ok"
                && v["fields"]["capability"] == "systemd"
                && matches!(v["fields"]["operation"].as_str(), Some("restart" | "start"))
                && v["fields"]["args"] == unit
        })
        .count()
}

fn dataplane_lifecycle(kind: &str, unit: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot(kind);
    node.seed_udev();
    let scratch = Scratch::new();
    let config = node.dataplane_config(&scratch, None);
    let watched = [
        "/etc/NetworkManager",
        "/etc/udev/rules.d",
        "/etc/systemd/network",
    ];
    let initial = node.files(&watched);

    node.dataplane("BEFORE_IF_READ", &config);
    // The records live on the node, where they outlive the container.
    assert!(node.exists("/var/lib/nethook/state.json"));
    node.dataplane("BEFORE_VPP_RUN", &config);
    assert!(node.exists(RULES));
    assert_eq!(node.exists(DROP_IN), kind == "nm-node");
    let before = node.unit(unit, "InvocationID");
    let r = node.dataplane("VPP_RUNNING", &config);
    assert_eq!(starts(&r, unit), 0, "{r:?}");
    assert_eq!(node.unit(unit, "InvocationID"), before);
    let r = node.dataplane("VPP_ERRORED", &config);
    // Not restarted at the undo either: what was changed is taken back by
    // the lightest operation (a reload of NetworkManager's configuration).
    assert_eq!(starts(&r, unit), 0, "{r:?}");
    assert_eq!(node.unit(unit, "InvocationID"), before);
    assert_eq!(
        node.files(&watched),
        initial,
        "the node was not restored exactly"
    );
    // Nor any record: the undone lifecycle's state and journal are gone.
    assert!(!node.exists("/var/lib/nethook/state.json"));
    assert_eq!(
        node.sh(&["sh", "-c", "ls /var/lib/nethook/journal"]).trim(),
        "lock"
    );
    assert_eq!(node.unit(unit, "ActiveState"), "active");
    // VPP_ERRORED with no earlier point, or a second time: nothing to undo,
    // nothing restarted.
    let r = node.dataplane("VPP_ERRORED", &config);
    assert!(
        r.hook_messages("builtin")
            .iter()
            .any(|m| m == "nothing to undo"),
        "{r:?}"
    );
    assert_eq!(starts(&r, unit), 0, "{r:?}");
    assert_eq!(node.unit(unit, "InvocationID"), before);
    assert_eq!(node.files(&watched), initial);
    assert_eq!(node.unit(unit, "ActiveState"), "active");
}

#[test]
fn the_dataplane_drives_the_lifecycle_on_a_networkmanager_node() {
    dataplane_lifecycle("nm-node", "NetworkManager.service");
}

#[test]
fn the_dataplane_drives_the_lifecycle_on_a_networkd_node() {
    dataplane_lifecycle("networkd-node", "systemd-networkd.service");
}

/// The dataplane crash-looping: the lifecycle five times as fast as it
/// runs. By default nothing restarts the network service. With
/// `restart_network = "always"` (the dataplane's own hook's way), twice a
/// lifecycle trips systemd's default start limit (5 starts in 10 s); the
/// service must end active either way.
fn crash_loop(kind: &str, unit: &str, always: bool) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot(kind);
    node.seed_udev();
    let scratch = Scratch::new();
    let mut config = node.dataplane_config(&scratch, None);
    if always {
        let text = std::fs::read_to_string(&config).unwrap();
        config = scratch.write(
            "always.toml",
            &format!("{text}[builtin]\nrestart_network = \"always\"\n"),
        );
    }
    let mut limit_hits = 0;
    let started = Instant::now();
    for round in 1..=5 {
        let mut changes = 0;
        let mut restarts = 0;
        let mut id = node.unit(unit, "InvocationID");
        for point in [
            "BEFORE_IF_READ",
            "BEFORE_VPP_RUN",
            "VPP_RUNNING",
            "VPP_ERRORED",
        ] {
            let r = node.dataplane(point, &config);
            restarts += starts(&r, unit);
            limit_hits += r
                .hook_messages("builtin")
                .iter()
                .filter(|m| m.contains("hit its start rate limit"))
                .count();
            let now = node.unit(unit, "InvocationID");
            changes += usize::from(now != id);
            id = now;
        }
        let most = if always { 2 } else { 0 };
        assert!(
            changes <= most && restarts <= most,
            "round {round}: {changes} InvocationID changes, {restarts} restarts"
        );
        assert_eq!(node.unit(unit, "ActiveState"), "active", "round {round}");
    }
    eprintln!(
        "{kind}: 5 lifecycles in {:?}; start limit hit and handled {limit_hits} times",
        started.elapsed()
    );
    assert_eq!(node.unit(unit, "ActiveState"), "active");
    assert_eq!(node.unit(unit, "Result"), "success");
    assert!(!node.exists(RULES) && !node.exists(DROP_IN));
}

#[test]
fn a_crash_loop_leaves_networkmanager_active() {
    crash_loop("nm-node", "NetworkManager.service", false);
}

#[test]
fn a_crash_loop_leaves_networkd_active() {
    crash_loop("networkd-node", "systemd-networkd.service", false);
}

#[test]
fn a_crash_loop_with_restarts_handles_the_start_limit() {
    crash_loop("nm-node", "NetworkManager.service", true);
}

#[test]
fn the_node_is_restored_when_nethook_is_killed_and_its_records_are_lost() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("nm-node");
    node.seed_udev();
    let scratch = Scratch::new();
    let nm = "NetworkManager.service";
    let watched = ["/etc/NetworkManager", "/etc/udev/rules.d"];
    let initial = node.files(&watched);

    // Default state dir (on the node): killed in the middle of vpp-running,
    // a new container's nethook, with nothing of the old one's, restores.
    let config = node.dataplane_config(&scratch, None);
    node.dataplane("BEFORE_IF_READ", &config);
    node.dataplane("BEFORE_VPP_RUN", &config);
    let mut child = node
        .dataplane_command("VPP_RUNNING", &config)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(scratch.path("cache")).ok();
    node.dataplane("VPP_DONE_OK", &config);
    assert_eq!(node.files(&watched), initial, "not restored after a kill");
    assert_eq!(node.unit(nm, "ActiveState"), "active");

    // A state dir inside the container, lost with it between points:
    // nethook still recognises and removes its own files.
    let container = scratch.path("container-state");
    let config = node.dataplane_config(&scratch, Some(&container));
    node.dataplane("BEFORE_IF_READ", &config);
    node.dataplane("BEFORE_VPP_RUN", &config);
    node.dataplane("VPP_RUNNING", &config);
    assert!(node.exists(DROP_IN) && node.exists(RULES));
    std::fs::remove_dir_all(&container).unwrap();
    let r = node.dataplane("VPP_DONE_OK", &config);
    assert!(
        r.hook_messages("builtin").contains(&format!(
            "{DROP_IN} is nethook's but no record of writing it was found (state lost?); removing it"
        )),
        "{r:?}"
    );
    assert_eq!(
        node.files(&watched),
        initial,
        "not restored after the records were lost"
    );
    assert_eq!(node.unit(nm, "ActiveState"), "active");
    // `check` says where such a state dir is, and why that is a problem.
    let mut cmd = nethook();
    cmd.args(["check", "--config"]).arg(&config);
    let r = run(cmd);
    assert!(r.stdout.contains("state: WARNING: "), "{r:?}");
}

/// Where the lease cannot be kept (here: a tap no `.network` of networkd
/// matches), the run says so and the address the dataplane copied onto the
/// tap does not expire: made permanent by default, only warned of with
/// `expiring_address = "warn"`. Taken back by nothing: the tap goes with
/// the dataplane.
#[test]
fn where_the_lease_cannot_be_kept_the_copied_address_does_not_expire_silently() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    let scratch = Scratch::new();
    // The dataplane's tap, with an address copied with what its lease had left.
    node.sh(&["ip", "tuntap", "add", "dev", "ens6", "mode", "tap"]);
    node.sh(&["ip", "link", "set", "ens6", "up"]);
    let lifetime = |want: &str| {
        let addrs: serde_json::Value =
            serde_json::from_str(&node.sh(&["ip", "-j", "addr", "show", "dev", "ens6"])).unwrap();
        addrs[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["local"] == want)
            .map(|a| a["valid_life_time"].as_u64().unwrap())
    };
    for (setting, address) in [
        ("", "10.99.0.5"),
        ("[builtin]\nexpiring_address = \"warn\"\n", "10.99.0.6"),
    ] {
        node.sh(&[
            "ip",
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "ens6",
            "valid_lft",
            "300",
            "preferred_lft",
            "300",
        ]);
        let config = node.config(&scratch, setting);
        let point = |p: &str| {
            let r = node.nethook(&["run", p, "--uplink", "ens6"], &config);
            assert_eq!(r.code, EXIT_OK, "{p}: {r:?}");
            r
        };
        point("before-if-read");
        let r = point("vpp-running");
        let warned = r.hook_messages("builtin").into_iter().find(|m| {
            m.starts_with("lease: cannot be kept on ens6: systemd-networkd leaves the tap ens6 unmanaged: no .network matches it; ")
        });
        let warned = warned.unwrap_or_else(|| panic!("no warning: {r:?}"));
        assert!(warned.contains(&format!("{address}/24 in ")), "{warned}");
        let left = lifetime(address).unwrap();
        if setting.is_empty() {
            assert!(warned.contains("made permanent"), "{warned}");
            assert_eq!(left, u64::from(u32::MAX), "not made permanent");
        } else {
            assert!(warned.contains("expire"), "{warned}");
            assert!(left <= 300, "{left}");
        }
        node.sh(&["ip", "addr", "del", &format!("{address}/24"), "dev", "ens6"]);
        point("vpp-done-ok");
    }
}

/// An SMBIOS structure table whose BIOS vendor is "Amazon EC2", as the
/// kernel exposes it at /sys/firmware/dmi/tables/DMI.
fn ec2_smbios() -> Vec<u8> {
    let mut t = vec![0u8, 24, 0, 0, 1];
    t.resize(24, 0);
    t.extend_from_slice(b"Amazon EC2\0\0");
    t.extend_from_slice(&[127, 4, 1, 0, 0, 0]);
    t
}

#[test]
fn on_ec2_a_mac_matched_network_file_follows_the_tap_and_comes_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    // DMI says EC2. The node's /sys is nspawn's read-only tmpfs holding
    // sysfs' parts; the table is added to it as the kernel would show it.
    std::fs::write(node.root().join("run/dmi.bin"), ec2_smbios()).unwrap();
    let out = Command::new("timeout")
        .arg("60")
        .args(node.enter())
        .args([
            "sh",
            "-c",
            "mount -o remount,rw /sys && mkdir -p /sys/firmware/dmi/tables \
             && cp /run/dmi.bin /sys/firmware/dmi/tables/DMI && mount -o remount,ro /sys",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read(node.root().join("sys/firmware/dmi/tables/DMI")).unwrap(),
        ec2_smbios()
    );

    // Carrier on the uplink, so networkd configures it fully.
    sh(&["ip", "link", "set", &node.hostif, "up"]);
    let link: serde_json::Value =
        serde_json::from_str(&node.sh(&["ip", "-j", "link", "show", "ens5"])).unwrap();
    let mac = link[0]["address"].as_str().unwrap().to_string();
    let index = link[0]["ifindex"].as_u64().unwrap();
    let admins = format!(
        "# The admin's own file: matches the NIC by MAC.\n[Match]\nMACAddress={mac}\n\n[Network]\nAddress=10.98.0.2/24\n"
    );
    let ours = "/etc/systemd/network/ens5.network";
    let path = node.root().join(ours.trim_start_matches('/'));
    std::fs::remove_file(node.root().join("etc/systemd/network/10-ens5.network")).unwrap();
    std::fs::write(&path, &admins).unwrap();
    node.sh(&["systemctl", "restart", "systemd-networkd"]);
    let state = |want: &str| {
        let file = node.root().join(format!("run/systemd/netif/links/{index}"));
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.contains(&format!("ADMIN_STATE={want}\n"))
                || started.elapsed() > Duration::from_secs(20)
            {
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(state("configured").contains(&format!("NETWORK_FILE={ours}\n")));

    let scratch = Scratch::new();
    let config = node.dataplane_config(&scratch, None);
    node.dataplane("BEFORE_IF_READ", &config);
    let r = node.dataplane("BEFORE_VPP_RUN", &config);
    assert!(
        r.hook_messages("builtin").contains(&format!(
            "EC2: saved the uplink's .network uplink=ens5 file={ours}"
        )),
        "{r:?}"
    );
    // The dataplane's tap: same name, not the NIC's MAC.
    node.sh(&["ip", "link", "set", "ens5", "address", "02:00:5e:00:53:01"]);
    let r = node.dataplane("VPP_RUNNING", &config);
    assert_eq!(
        starts(&r, "systemd-networkd.service"),
        0,
        "a restart: {r:?}"
    );
    assert_eq!(
        changes(&r),
        ["host-fs.write", "systemd.networkd-reload"],
        "{r:?}"
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        format!("{}\n[Match]\nName=ens5\n\n# The admin's own file: matches the NIC by MAC.\n[Network]\nAddress=10.98.0.2/24\n", nethook::builtin::ec2::HEADER)
    );
    // networkd manages the tap through the file matched by name.
    let s = state("configured");
    assert!(
        s.contains("ADMIN_STATE=configured\n") && s.contains(&format!("NETWORK_FILE={ours}\n")),
        "{s}"
    );
    assert!(node
        .sh(&["ip", "-4", "addr", "show", "ens5"])
        .contains("10.98.0.2/24"));

    // The dataplane stops and gives the NIC back.
    node.sh(&["ip", "link", "set", "ens5", "address", &mac]);
    node.dataplane("VPP_DONE_OK", &config);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        admins,
        "not restored byte for byte"
    );
    assert_eq!(
        node.unit("systemd-networkd.service", "ActiveState"),
        "active"
    );
    assert!(state("configured").contains(&format!("NETWORK_FILE={ours}\n")));
}

/// deploy/systemd/nethook-watch.service on a systemd node: started by
/// systemd, a new link fires the event hook, `systemctl reload` rereads the
/// config, `systemctl stop` ends it cleanly.
#[test]
fn the_watch_unit_runs_under_systemd_and_answers_reload_and_stop() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("networkd-node");
    let root = node.root();
    let put = |path: &str, bytes: &[u8]| {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let bin = put(
        "/usr/local/bin/nethook",
        &std::fs::read(nethook_bin()).unwrap(),
    );
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    put(
        "/etc/nethook/evlog.wasm",
        &std::fs::read(guest("evlog")).unwrap(),
    );
    let config = "host_root = \"/\"\n[watch]\ndebounce = \"100ms\"\nudev_wait = \"1s\"\n\
        [points.link-added]\nhandler = \"wasm\"\nhook = \"ev\"\nlinks = [\"hp*\"]\n\
        [hooks.ev]\ncomponent = \"/etc/nethook/evlog.wasm\"\n[hooks.ev.grants]\nnetlink = \"read\"\n";
    put("/etc/nethook/nethook.toml", config.as_bytes());
    put(
        "/etc/systemd/system/nethook-watch.service",
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/nethook-watch.service"),
        )
        .unwrap(),
    );
    node.sh(&["systemctl", "daemon-reload"]);
    node.sh(&["systemctl", "start", "nethook-watch.service"]);
    let unit = "nethook-watch.service";
    let journal = || node.sh(&["journalctl", "-u", unit, "--no-pager", "-o", "cat"]);
    let wait = |what: &str| {
        let until = Instant::now() + Duration::from_secs(60);
        while !journal().contains(what) {
            assert!(
                Instant::now() < until,
                "no {what:?} from {unit}: {}; {}",
                node.unit(unit, "ActiveState"),
                journal()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait("watching");
    assert_eq!(node.unit(unit, "ActiveState"), "active");
    node.sh(&[
        "ip", "link", "add", "hp0", "type", "veth", "peer", "name", "hq0",
    ]);
    wait("event event=link-added link=hp0");
    node.sh(&["systemctl", "reload", unit]);
    wait("SIGHUP: configuration reloaded");
    node.sh(&["systemctl", "stop", unit]);
    assert_eq!(node.unit(unit, "ActiveState"), "inactive", "{}", journal());
    assert_eq!(node.unit(unit, "Result"), "success", "{}", journal());
    assert!(journal().contains("watch stopped"), "{}", journal());
}

/// `nethook status --json` on a NetworkManager node, at each point of a
/// lifecycle and after a kill: what is captured, each point's last run,
/// the files nethook's changes left with their hashes, an edit by someone
/// else, an interrupted run and what recovery would do.
#[test]
fn status_tells_what_nethook_holds_at_each_point_and_after_a_kill() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let node = Node::boot("nm-node");
    node.seed_udev();
    let scratch = Scratch::new();
    let config = node.config(&scratch, "");
    let status = || -> serde_json::Value {
        let r = node.nethook(&["status", "--json"], &config);
        assert_eq!(r.code, EXIT_OK, "{r:?}");
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
    };
    let ran = |s: &serde_json::Value, point: &str| -> serde_json::Value {
        s["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["point"] == point)
            .cloned()
            .unwrap()
    };
    let paths = |s: &serde_json::Value| -> Vec<String> {
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let s = status();
    assert_eq!(ran(&s, "before-if-read").get("last"), None, "{s:#}");
    assert_eq!(s["uplinks"], serde_json::json!([]));
    // The suite keeps its records in a scratch dir off the node's root:
    // status says they would not outlive a container, as `check` does.
    assert_eq!(s["durable"]["ok"], false, "{s:#}");
    assert_eq!(s["warnings"][0], s["durable"]["detail"], "{s:#}");

    node.run("before-if-read", &config);
    let s = status();
    let ens5 = &s["uplinks"][0];
    assert_eq!(ens5["name"], "ens5", "{s:#}");
    assert_eq!(ens5["captured"]["ID_NET_NAME_PATH"], "enp0s5");
    assert_eq!(ens5["captured"]["ID_NET_NAME_SLOT"], "ens5");
    let p = ran(&s, "before-if-read");
    assert_eq!(
        (p["last"]["outcome"].as_str(), p["runs"].as_u64()),
        (Some("ok"), Some(1))
    );

    node.run("before-vpp-run", &config);
    let s = status();
    assert_eq!(paths(&s), [DROP_IN, RULES], "{s:#}");
    for f in s["files"].as_array().unwrap() {
        let bytes = std::fs::read(
            node.root()
                .join(f["path"].as_str().unwrap().trim_start_matches('/')),
        )
        .unwrap();
        let sha = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        assert_eq!(
            (
                f["state"].as_str(),
                f["sha256"].as_str(),
                f["on_disk"].as_str()
            ),
            (Some("as written"), Some(sha.as_str()), Some(sha.as_str()))
        );
        assert_eq!(
            (f["hook"].as_str(), f["point"].as_str()),
            (Some("builtin"), Some("before-vpp-run"))
        );
    }
    // Someone edits the drop-in: status says so.
    let drop_in = node.root().join(DROP_IN.trim_start_matches('/'));
    let ours = std::fs::read(&drop_in).unwrap();
    std::fs::write(&drop_in, b"[main]\ndns=default\n").unwrap();
    let s = status();
    assert_eq!(s["files"][0]["state"], "edited since", "{s:#}");
    assert!(
        s["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(&format!(
                "{DROP_IN}, written by builtin at before-vpp-run, is edited since"
            ))),
        "{s:#}"
    );
    std::fs::write(&drop_in, &ours).unwrap();

    node.run("vpp-running", &config);
    node.run("vpp-done-ok", &config);
    let s = status();
    assert_eq!(paths(&s), Vec::<String>::new(), "{s:#}");
    assert_eq!(s["uplinks"], serde_json::json!([]));
    assert_eq!(s["transactions"]["committed"], 0);
    for point in [
        "before-if-read",
        "before-vpp-run",
        "vpp-running",
        "vpp-done-ok",
    ] {
        assert_eq!(ran(&s, point)["last"]["exit_code"], 0, "{point}: {s:#}");
    }
    assert_eq!(ran(&s, "vpp-errored").get("last"), None);

    // Killed in before-vpp-run once the drop-in is written (the second
    // boundary: the file journaled, then written).
    node.run("before-if-read", &config);
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", &node.leader.to_string(), "-n", "--", nethook_bin()])
        .args(["--log-format", "json", "run", "before-vpp-run", "--config"])
        .arg(&config)
        .env("NETHOOK_FAULT_KILL_AT", "2");
    let r = run_within(cmd, Duration::from_secs(60));
    assert_eq!(r.code, -1, "killed: {r:?}");
    assert!(node.exists(DROP_IN));
    let s = status();
    let open = s["transactions"]["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{s:#}");
    assert_eq!(
        (
            open[0]["point"].as_str(),
            open[0]["hook"].as_str(),
            open[0]["this_boot"].as_bool()
        ),
        (Some("before-vpp-run"), Some("builtin"), Some(true))
    );
    let recovery: Vec<&str> = open[0]["recovery"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        recovery.first().is_some_and(|r| r.contains(DROP_IN)),
        "{recovery:?}"
    );
    assert!(
        s["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("an interrupted run of builtin at before-vpp-run (pid ")),
        "{s:#}"
    );
    // The text form says the same, in a few lines.
    let text = node.nethook(&["status"], &config);
    assert!(text.stdout.contains("transactions: "), "{text:?}");
    assert!(text.stdout.contains("recovery would: "), "{text:?}");
    // Recovery does it, and status sees the node clean again.
    let r = node.nethook(&["recover"], &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let s = status();
    assert_eq!(s["transactions"]["open"], serde_json::json!([]), "{s:#}");
    assert!(!node.exists(DROP_IN));
    assert_eq!(paths(&s), Vec::<String>::new(), "{s:#}");
}
