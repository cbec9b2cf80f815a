//! Plan mode: reads happen, changes are recorded instead of made, and the
//! ordered effects are printed. The node is left exactly as it was.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const EC2_NETWORK: &str = "[Match]\nDriver=ena ixgbevf vif\n\n[Link]\nMTUBytes=9001\n\n[Network]\nDHCP=yes\nIPv6DHCPConfig=no\n";

/// A shipped example config, pointed at this test's scratch dirs, host root
/// and the freshly built component.
fn example(scratch: &Scratch, hook: &str, root: &Path) -> PathBuf {
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../guest-hooks/{hook}/nethook.toml"));
    let text = std::fs::read_to_string(shipped).unwrap();
    let text = text
        .replace(
            &format!("\"../../target/guests/{hook}.wasm\""),
            &format!("{:?}", guest(hook)),
        )
        .replace("host_root = \"/host\"", &format!("host_root = {root:?}"));
    assert!(text.contains(&format!("{:?}", guest(hook))) && text.contains(&format!("{root:?}")));
    scratch.config(&text)
}

fn host_root(scratch: &Scratch) -> PathBuf {
    let root = scratch.path("host");
    std::fs::create_dir_all(root.join("usr/lib/systemd/network")).unwrap();
    std::fs::create_dir_all(root.join("etc/systemd/network")).unwrap();
    std::fs::write(
        root.join("usr/lib/systemd/network/80-ec2.network"),
        EC2_NETWORK,
    )
    .unwrap();
    root
}

fn plan(config: &Path, point: &str, json: bool) -> Run {
    let mut cmd = nethook();
    cmd.args(["plan", point, "--config"]).arg(config);
    if json {
        cmd.arg("--json");
    }
    run(cmd)
}

fn effects(r: &Run) -> Vec<(String, String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    doc["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("capability"), s("operation"), s("args"))
        })
        .collect()
}

fn e(c: &str, o: &str, a: &str) -> (String, String, String) {
    (c.to_string(), o.to_string(), a.to_string())
}

#[test]
fn the_eks_plan_is_exactly_its_three_effects_and_changes_nothing() {
    let scratch = Scratch::new();
    let root = host_root(&scratch);
    let config = example(&scratch, "eks", &root);
    let before = scratch.snapshot();

    let r = plan(&config, "vpp-running", true);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let written = EC2_NETWORK
        .replace("Driver=ena ixgbevf vif", "Name=ens5")
        .len();
    assert_eq!(
        effects(&r),
        [
            e(
                "host-fs",
                "write",
                &format!("/etc/systemd/network/ens5.network ({written} bytes, mode 0644)")
            ),
            e("systemd", "daemon-reload", ""),
            e("systemd", "restart", "systemd-networkd.service"),
        ]
    );
    let r = plan(&config, "vpp-running", false);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.stdout
            .contains(" 1  host-fs          write              /etc/systemd/network/ens5.network"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains(" 3  systemd          restart            systemd-networkd.service"),
        "{r:?}"
    );

    // Undo with nothing to undo plans nothing; with the file there, its removal.
    let r = plan(&config, "vpp-done-ok", true);
    assert_eq!(effects(&r), []);
    // Only the compile cache was written: the node and the state are untouched.
    let after: Vec<_> = scratch
        .snapshot()
        .into_iter()
        .filter(|(p, _)| !p.starts_with(scratch.path("cache")))
        .collect();
    assert_eq!(after, before);

    // An admin's own file at that path is theirs: nothing to undo.
    std::fs::write(
        root.join("etc/systemd/network/ens5.network"),
        "[Match]\nName=ens5\n",
    )
    .unwrap();
    assert_eq!(effects(&plan(&config, "vpp-done-ok", true)), []);
    // Its own file with no journal of it (the state was lost): removed.
    std::fs::write(
        root.join("etc/systemd/network/ens5.network"),
        EC2_NETWORK.replace("Driver=ena ixgbevf vif", "Name=ens5"),
    )
    .unwrap();
    let before = scratch.snapshot();
    for point in ["vpp-done-ok", "vpp-errored"] {
        let r = plan(&config, point, true);
        assert_eq!(
            effects(&r),
            [
                e("host-fs", "remove", "/etc/systemd/network/ens5.network"),
                e("systemd", "daemon-reload", ""),
                e("systemd", "restart", "systemd-networkd.service"),
            ],
            "{point}"
        );
    }
    assert_eq!(scratch.snapshot(), before);
}

#[test]
fn the_openshift_plan_is_restart_wait_and_modify() {
    let scratch = Scratch::new();
    let root = host_root(&scratch);
    let config = example(&scratch, "openshift", &root);
    let r = plan(&config, "vpp-running", true);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        effects(&r),
        [
            e("systemd", "restart", "NetworkManager.service"),
            e(
                "systemd",
                "wait-active",
                "NetworkManager.service within 30s"
            ),
            e(
                "network-manager",
                "connection-modify",
                "ens5 ipv4.dhcp-timeout=infinity"
            ),
        ]
    );
    // Other points: nothing.
    assert_eq!(effects(&plan(&config, "vpp-done-ok", true)), []);
}

#[test]
fn applying_eks_writes_the_rewritten_file_and_a_failure_after_it_rolls_it_back() {
    // No systemd in this root: the write happens, the daemon-reload fails
    // and says exactly what it ran, and the point is rolled back: the file
    // is gone again. Live daemons are the node suite's.
    let scratch = Scratch::new();
    let root = host_root(&scratch);
    let config = example(&scratch, "eks", &root);
    let mut cmd = nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr.contains(&format!("hook returned an error: failed: `chroot {} systemctl daemon-reload` exited with status 127", root.display())),
        "{r:?}"
    );
    let calls: Vec<String> = r
        .json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::audit" && v["fields"]["hook"] == "eks")
        // Its reads and its log lines are not effects.
        .filter(|v| v["fields"]["operation"] != "read" && v["fields"]["capability"] != "log")
        .map(|v| {
            let f = &v["fields"];
            let outcome = f["outcome"].as_str().unwrap();
            let outcome = if outcome == "ok" { "ok" } else { "failed" };
            format!(
                "{}.{} {} {outcome}",
                f["capability"].as_str().unwrap(),
                f["operation"].as_str().unwrap(),
                f["args"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            "host-fs.write /etc/systemd/network/ens5.network (78 bytes, mode 0644) ok",
            "systemd.daemon-reload  failed",
            "host-fs.restore /etc/systemd/network/ens5.network (absent) ok",
        ],
        "{r:?}"
    );
    assert!(!root.join("etc/systemd/network/ens5.network").exists());
}

#[test]
fn planning_netlink_changes_leaves_the_namespaces_as_they_were() {
    let ns = Netns::new();
    let other = Netns::new();
    ns.exec(&[
        "ip", "link", "add", "nl0", "type", "veth", "peer", "name", "nl1",
    ]);
    let scratch = Scratch::new();
    let config = scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"netops\"\n{}\
         [hooks.netops.config]\nlink = \"nl0\"\npeer = \"nl1\"\nnetns = \"{}\"\nnew_name = \"nl0\"\ntable = 100\n\
         [hooks.netops.grants]\nnetlink = \"write\"\nlinks = [\"nl*\"]\ntables = [100]\nnetns = [\"nhtest-*\"]\n",
        hook_table("netops", "netops", ""),
        other.name
    ));
    let state = |n: &Netns| {
        [
            "link",
            "addr",
            "route show table all",
            "-6 route show table all",
            "rule",
            "-6 rule",
        ]
        .map(|what| n.exec(&[&["ip", "-j"][..], &what.split(' ').collect::<Vec<_>>()].concat()))
    };
    let (before, before_other) = (state(&ns), state(&other));
    let mut cmd = ns.nethook();
    cmd.args(["plan", "vpp-running", "--json", "--config"])
        .arg(&config);
    let r = run(cmd);
    // new_name is the link's own name, so the guest's read-back after the
    // (only planned) rename still finds it.
    let planned: Vec<String> = effects(&r)
        .into_iter()
        .map(|(_, o, a)| format!("{o} {a}"))
        .collect();
    assert_eq!(
        planned,
        [
            format!("move-to-netns nl1 netns {}", other.name),
            "set-down nl0".into(),
            "rename nl0 nl0".into(),
            "set-mtu nl0 1400".into(),
            "set-up nl0".into(),
            "add-address nl0 10.77.0.1/24".into(),
            "add-address nl0 fd77::1/64".into(),
            "add-route ipv4 10.88.0.0/16 via 10.77.0.254 dev nl0 table 100 metric 50 proto 4 scope 0".into(),
            "add-route ipv6 fd88::/32 dev nl0 table 100 metric 60 proto 4 scope 0".into(),
            "add-rule ipv4 priority 1000 from 10.77.0.0/24 table 100".into(),
            "add-rule ipv6 priority 1000 from fd77::/64 table 100".into(),
        ],
        "{r:?}"
    );
    assert_eq!(state(&ns), before);
    assert_eq!(state(&other), before_other);
}

#[test]
fn a_legacy_script_cannot_be_planned_and_builtin_plans_nothing() {
    let scratch = Scratch::new();
    let marker = scratch.path("ran");
    let mut cmd = nethook();
    cmd.args(["plan", "vpp-running", "--handler"])
        .arg(format!("vpp-running=script:touch {}", marker.display()));
    let r = run(cmd);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("vpp-running: a legacy script cannot be planned"),
        "{r:?}"
    );
    assert!(!marker.exists());

    let mut cmd = nethook();
    std::fs::create_dir(scratch.path("host")).unwrap();
    let config = scratch.config(&format!("host_root = {:?}\n", scratch.path("host")));
    cmd.args(["plan", "vpp-errored", "--config"]).arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let want = "plan for vpp-errored: builtin  [default: built-in profile]\n  \
                detected systemd=no udev=no network_manager_installed=no network_service=none\n  (no effects)\n";
    assert!(r.stdout.ends_with(want), "{r:?}");
}
