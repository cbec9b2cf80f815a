//! The built-in NetworkManager/udev module on host roots the tests build:
//! the exact bytes of every file after each point and after the undo.
//! Live daemons are the node suite's; these roots have no systemd, so no
//! service is restarted and only files and state change.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const DROP_IN: &str = "etc/NetworkManager/conf.d/99-nethook-dns-none.conf";
const DROP_IN_TEXT: &str =
    "# Written by nethook while the dataplane runs; removed when it stops.\n[main]\ndns=none\n";
const RULES: &str = "etc/udev/rules.d/99-vpp-restore-id_net_name.rules";
const RULES_HEADER: &str = "# Written by nethook: restores the udev names the uplinks had before the dataplane took them over.";
const NM_CONF: &str = "etc/NetworkManager/NetworkManager.conf";

/// A node: two uplinks in a namespace, and a host root whose udev database
/// knows their names.
struct Node {
    ns: Netns,
    scratch: Scratch,
    root: PathBuf,
    macs: [String; 2],
}

impl Node {
    fn new(files: &[(&str, &str)], udev_path: [&str; 2]) -> Node {
        let ns = Netns::new();
        ns.exec(&[
            "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p",
        ]);
        ns.exec(&[
            "ip", "link", "add", "up1", "type", "veth", "peer", "name", "up1p",
        ]);
        let scratch = Scratch::new();
        let root = scratch.path("host");
        std::fs::create_dir_all(root.join("etc/udev/rules.d")).unwrap();
        std::fs::create_dir_all(root.join("run/udev/data")).unwrap();
        for (path, text) in files {
            let p = root.join(path);
            if let Some(text) = text.strip_prefix("DIR") {
                assert!(text.is_empty());
                std::fs::create_dir_all(&p).unwrap();
            } else {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, text).unwrap();
            }
        }
        let mut macs = [String::new(), String::new()];
        for (i, dev) in ["up0", "up1"].iter().enumerate() {
            let link: serde_json::Value =
                serde_json::from_str(&ns.exec(&["ip", "-j", "link", "show", dev])).unwrap();
            macs[i] = link[0]["address"].as_str().unwrap().to_string();
            let db = format!(
                "I:123\nE:ID_NET_NAME_MAC=enx{}\nE:ID_NET_NAME_PATH={}\nE:ID_NET_DRIVER=veth\nG:systemd\n",
                macs[i].replace(':', ""),
                udev_path[i]
            );
            std::fs::write(
                root.join(format!("run/udev/data/n{}", link[0]["ifindex"])),
                db,
            )
            .unwrap();
        }
        Node {
            ns,
            scratch,
            root,
            macs,
        }
    }

    fn config(&self, builtin: &str) -> PathBuf {
        self.scratch.config(&format!(
            "host_root = {:?}\n[builtin]\n{builtin}\n",
            self.root
        ))
    }

    fn run(&self, config: &Path, point: &str) -> Run {
        let mut cmd = self.ns.nethook();
        cmd.args([
            "--log-format",
            "json",
            "run",
            point,
            "--uplink",
            "up0",
            "--uplink",
            "up1",
            "--config",
        ])
        .arg(config);
        let r = run(cmd);
        assert_eq!(r.code, EXIT_OK, "{point}: {r:?}");
        r
    }

    /// Every file under the host root, with its bytes.
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.scratch
            .snapshot()
            .into_iter()
            .filter(|(p, _)| p.starts_with(&self.root))
            .map(|(p, b)| (p.strip_prefix(&self.root).unwrap().display().to_string(), b))
            .collect()
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn expected_rules(&self) -> String {
        format!(
            "{RULES_HEADER}\n\
             SUBSYSTEM==\"net\", ATTR{{address}}==\"{}\", ENV{{ID_NET_NAME_PATH}}=\"enp0s5\", ENV{{ID_NET_NAME_MAC}}=\"enx{}\"\n\
             SUBSYSTEM==\"net\", ATTR{{address}}==\"{}\", ENV{{ID_NET_NAME_PATH}}=\"enp0s6\", ENV{{ID_NET_NAME_MAC}}=\"enx{}\"\n",
            self.macs[0],
            self.macs[0].replace(':', ""),
            self.macs[1],
            self.macs[1].replace(':', "")
        )
    }
}

const NM_WITH_MAIN: &str = "[main]\nplugins=ifupdown,keyfile\n\n[ifupdown]\nmanaged=false\n";
const NM_WITHOUT_MAIN: &str = "[ifupdown]\nmanaged=false\n";

/// The whole lifecycle on one root: files after each point, and the root
/// byte-identical after the undo; a second undo changes nothing.
fn lifecycle(
    files: &[(&str, &str)],
    builtin: &str,
    after_run: impl Fn(&Node),
    undo_point: &str,
) -> Node {
    let node = Node::new(files, ["enp0s5", "enp0s6"]);
    let config = node.config(builtin);
    let initial = node.files();

    node.run(&config, "before-if-read");
    assert_eq!(node.files(), initial, "before-if-read changed the node");
    node.run(&config, "before-vpp-run");
    after_run(&node);
    let running = node.files();
    node.run(&config, "vpp-running");
    assert_eq!(node.files(), running, "vpp-running changed files");
    node.run(&config, undo_point);
    assert_eq!(
        node.files(),
        initial,
        "the undo did not restore the node exactly"
    );
    let r = node.run(&config, undo_point);
    assert!(
        r.hook_messages("builtin")
            .iter()
            .any(|m| m == "nothing to undo"),
        "{r:?}"
    );
    assert_eq!(node.files(), initial);
    node
}

#[test]
fn networkmanager_with_main_section_gets_a_drop_in_and_the_rule_file() {
    lifecycle(
        &[
            (NM_CONF, NM_WITH_MAIN),
            ("etc/NetworkManager/conf.d", "DIR"),
        ],
        "",
        |node| {
            assert_eq!(node.read(DROP_IN), DROP_IN_TEXT);
            assert_eq!(node.read(NM_CONF), NM_WITH_MAIN);
            assert_eq!(node.read(RULES), node.expected_rules());
        },
        "vpp-done-ok",
    );
}

#[test]
fn main_conf_mode_edits_networkmanager_conf_in_place_and_back() {
    lifecycle(
        &[(NM_CONF, NM_WITH_MAIN)],
        "dns_fix = \"main-conf\"",
        |node| {
            assert_eq!(
                node.read(NM_CONF),
                "[main]\ndns=none\nplugins=ifupdown,keyfile\n\n[ifupdown]\nmanaged=false\n"
            );
            assert!(!node.root.join(DROP_IN).exists());
        },
        "vpp-errored",
    );
    lifecycle(
        &[(NM_CONF, NM_WITHOUT_MAIN)],
        "dns_fix = \"main-conf\"",
        |node| {
            assert_eq!(
                node.read(NM_CONF),
                "[ifupdown]\nmanaged=false\n[main]\ndns=none\n"
            )
        },
        "vpp-done-ok",
    );
    lifecycle(
        &[(NM_CONF, "[main]\ndns=default\n")],
        "dns_fix = \"main-conf\"",
        |node| assert_eq!(node.read(NM_CONF), "[main]\ndns=none\n"),
        "vpp-done-ok",
    );
}

/// The journal keeps NetworkManager.conf as it was; the undo works out
/// the edit from it and takes only that out of the file as it is now.
#[test]
fn main_conf_mode_keeps_what_the_admin_changed_meanwhile() {
    let node = Node::new(&[(NM_CONF, NM_WITH_MAIN)], ["enp0s5", "enp0s6"]);
    let config = node.config("dns_fix = \"main-conf\"");
    for p in ["before-if-read", "before-vpp-run", "vpp-running"] {
        node.run(&config, p);
    }
    let mut text = node.read(NM_CONF);
    text.push_str("\n[logging]\nlevel=DEBUG\n");
    std::fs::write(node.root.join(NM_CONF), &text).unwrap();
    node.run(&config, "vpp-done-ok");
    assert_eq!(
        node.read(NM_CONF),
        format!("{NM_WITH_MAIN}\n[logging]\nlevel=DEBUG\n")
    );
    // Undone once: a second undo point finds nothing of it.
    let r = node.run(&config, "vpp-errored");
    assert!(
        r.hook_messages("builtin")
            .iter()
            .any(|m| m == "nothing to undo"),
        "{r:?}"
    );
    assert_eq!(
        node.read(NM_CONF),
        format!("{NM_WITH_MAIN}\n[logging]\nlevel=DEBUG\n")
    );
}

#[test]
fn an_admins_dns_none_is_left_alone_and_survives_the_undo() {
    for (path, text) in [
        (NM_CONF, "[main]\ndns=none\n"),
        (
            "etc/NetworkManager/conf.d/50-admin.conf",
            "[main]\ndns=none\n",
        ),
    ] {
        for mode in ["conf.d", "main-conf"] {
            lifecycle(
                &[(path, text)],
                &format!("dns_fix = \"{mode}\""),
                |node| {
                    assert!(!node.root.join(DROP_IN).exists());
                    assert_eq!(node.read(path), text);
                },
                "vpp-done-ok",
            );
        }
    }
}

#[test]
fn a_conf_d_directory_with_other_files_keeps_them() {
    lifecycle(
        &[
            (NM_CONF, NM_WITHOUT_MAIN),
            (
                "etc/NetworkManager/conf.d/10-admin.conf",
                "[main]\ndns=default\n",
            ),
        ],
        "",
        |node| {
            assert_eq!(node.read(DROP_IN), DROP_IN_TEXT);
            assert_eq!(
                node.read("etc/NetworkManager/conf.d/10-admin.conf"),
                "[main]\ndns=default\n"
            );
        },
        "vpp-done-ok",
    );
}

#[test]
fn without_networkmanager_only_the_rule_file_is_written() {
    for files in [
        vec![],
        vec![("etc/systemd/network/10-up0.network", "[Match]\nName=up0\n")],
    ] {
        lifecycle(
            &files,
            "",
            |node| {
                assert!(!node.root.join("etc/NetworkManager").exists());
                assert_eq!(node.read(RULES), node.expected_rules());
            },
            "vpp-done-ok",
        );
    }
}

#[test]
fn without_a_conf_d_directory_the_main_conf_is_edited_instead() {
    lifecycle(
        &[(NM_CONF, NM_WITH_MAIN)],
        "",
        |node| {
            assert!(!node.root.join(DROP_IN).exists());
            assert_eq!(
                node.read(NM_CONF),
                "[main]\ndns=none\nplugins=ifupdown,keyfile\n\n[ifupdown]\nmanaged=false\n"
            );
        },
        "vpp-done-ok",
    );
}

#[test]
fn options_turn_parts_off() {
    lifecycle(
        &[(NM_CONF, NM_WITH_MAIN)],
        "udev_net_name_rules = false\ndns_fix = \"off\"",
        |node| {
            assert!(!node.root.join(RULES).exists());
            assert!(!node.root.join(DROP_IN).exists());
        },
        "vpp-done-ok",
    );
}

#[test]
fn the_dataplane_debug_knob_turns_the_rule_file_off() {
    let node = Node::new(&[], ["enp0s5", "enp0s6"]);
    let config = node.config("");
    for point in ["before-if-read", "before-vpp-run"] {
        let mut cmd = node.ns.nethook();
        cmd.env("CALICOVPP_DEBUG", "{\"enableUdevNetNameRules\": false}")
            .args(["run", point, "--uplink", "up0", "--config"])
            .arg(&config);
        let r = run(cmd);
        assert_eq!(r.code, EXIT_OK, "{r:?}");
    }
    assert!(!node.root.join(RULES).exists());
}

#[test]
fn a_file_we_replaced_is_put_back_and_one_changed_since_is_left() {
    let node = Node::new(
        &[(RULES, "# the admin's own rules\n")],
        ["enp0s5", "enp0s6"],
    );
    let config = node.config("");
    for p in ["before-if-read", "before-vpp-run"] {
        node.run(&config, p);
    }
    assert_eq!(node.read(RULES), node.expected_rules());
    node.run(&config, "vpp-done-ok");
    assert_eq!(node.read(RULES), "# the admin's own rules\n");

    for p in ["before-if-read", "before-vpp-run"] {
        node.run(&config, p);
    }
    std::fs::write(node.root.join(RULES), "# edited by the admin meanwhile\n").unwrap();
    let r = node.run(&config, "vpp-done-ok");
    assert_eq!(node.read(RULES), "# edited by the admin meanwhile\n");
    assert!(
        r.stderr.contains(&format!(
            "/{RULES} was changed since nethook changed it; left as it is"
        )),
        "{r:?}"
    );
}

#[test]
fn captured_values_cannot_inject_rule_syntax() {
    let node = Node::new(&[], ["enp0s5\", RUN+=\"/bin/sh -c reboot", "enp0s6"]);
    let config = node.config("");
    node.run(&config, "before-if-read");
    let r = node.run(&config, "before-vpp-run");
    let rules = node.read(RULES);
    assert!(!rules.contains("RUN"), "{rules}");
    assert_eq!(rules.lines().count(), 3, "{rules}");
    assert!(rules.lines().nth(1).unwrap().ends_with(&format!(
        "ENV{{ID_NET_NAME_MAC}}=\"enx{}\"",
        node.macs[0].replace(':', "")
    )));
    assert!(
        r.stderr
            .contains("has characters outside udev's safe set; skipped"),
        "{r:?}"
    );
}

#[test]
fn captures_survive_in_the_state_file_and_a_crash_between_points() {
    let node = Node::new(&[], ["enp0s5", "enp0s6"]);
    let config = node.config("");
    node.run(&config, "before-if-read");
    let state = std::fs::read_to_string(node.scratch.path("state/state.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    let cap0: serde_json::Value =
        serde_json::from_str(doc["hooks"]["builtin"]["capture.up0"].as_str().unwrap()).unwrap();
    assert_eq!(
        cap0,
        serde_json::json!({
            "ID_NET_NAME_MAC": format!("enx{}", node.macs[0].replace(':', "")),
            "ID_NET_NAME_PATH": "enp0s5",
            "MAC": node.macs[0],
        })
    );
    assert_eq!(doc["hooks"]["builtin"]["uplinks"], "[\"up0\",\"up1\"]");

    // A crash in the middle of a later write leaves a temp file beside the
    // state; the next process neither trips on it nor loses the captures.
    std::fs::write(
        node.scratch.path("state/.state.crashed"),
        "{\"version\":1,\"hoo",
    )
    .unwrap();
    node.run(&config, "before-vpp-run");
    assert_eq!(node.read(RULES), node.expected_rules());
}

#[test]
fn the_rule_file_passes_udevadm_verify() {
    let node = Node::new(&[], ["enp0s5", "enp0s6"]);
    let config = node.config("");
    node.run(&config, "before-if-read");
    node.run(&config, "before-vpp-run");
    let trixie = PathBuf::from(std::env::var("NETHOOK_TRIXIE_ROOT").unwrap_or_else(|_| {
        format!(
            "{}/.cache/nethook/trixie-toolchain",
            std::env::var("HOME").unwrap()
        )
    }));
    assert!(
        trixie.join("usr/bin/udevadm").exists(),
        "{} has no udevadm: run scripts/test.sh, which installs it",
        trixie.display()
    );
    let inside = format!("tmp/nethook-verify-{}.rules", std::process::id());
    std::fs::copy(node.root.join(RULES), trixie.join(&inside)).unwrap();
    let out = std::process::Command::new("chroot")
        .arg(&trixie)
        .args([
            "udevadm",
            "verify",
            "--resolve-names=never",
            &format!("/{inside}"),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(trixie.join(&inside));
    assert!(
        out.status.success(),
        "udevadm verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_point_can_be_planned_on_a_networkmanager_root() {
    let node = Node::new(
        &[
            (NM_CONF, NM_WITH_MAIN),
            ("etc/NetworkManager/conf.d", "DIR"),
        ],
        ["enp0s5", "enp0s6"],
    );
    let config = node.config("");
    let plan = |point: &str| {
        let mut cmd = node.ns.nethook();
        cmd.args([
            "plan", point, "--json", "--uplink", "up0", "--uplink", "up1", "--config",
        ])
        .arg(&config);
        let r = run(cmd);
        assert_eq!(r.code, EXIT_OK, "{r:?}");
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            doc["detail"],
            "detected systemd=no udev=no network_manager_installed=yes network_service=none"
        );
        doc["effects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}.{} {}",
                    e["capability"].as_str().unwrap(),
                    e["operation"].as_str().unwrap(),
                    e["args"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let initial = node.files();
    assert_eq!(
        plan("before-if-read").len(),
        3,
        "two captures and the uplink list, all state"
    );
    assert!(plan("before-if-read")
        .iter()
        .all(|e| e.starts_with("state.set ")));
    node.run(&config, "before-if-read");
    let p = plan("before-vpp-run");
    // The journal keeps what each write replaces: no record of its own.
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0], format!("host-fs.write /etc/NetworkManager/conf.d/99-nethook-dns-none.conf ({} bytes, mode 0644)", DROP_IN_TEXT.len()));
    assert_eq!(p[1], format!("host-fs.write /etc/udev/rules.d/99-vpp-restore-id_net_name.rules ({} bytes, mode 0644)", node.expected_rules().len()));
    assert_eq!(plan("vpp-running"), Vec::<String>::new());
    node.run(&config, "before-vpp-run");
    let p = plan("vpp-done-ok");
    assert_eq!(
        p,
        [
            // Each write's inverse, from the journal: the files did not
            // exist before.
            "host-fs.restore /etc/NetworkManager/conf.d/99-nethook-dns-none.conf (absent)",
            "host-fs.restore /etc/udev/rules.d/99-vpp-restore-id_net_name.rules (absent)",
            // The lifecycle's captures, once undone: no record is left.
            "state.delete capture.up0",
            "state.delete capture.up1",
            "state.delete uplinks",
        ]
    );
    assert_eq!(plan("vpp-errored"), p);
    // Planning changed nothing: the node is as before-vpp-run left it.
    node.run(&config, "vpp-done-ok");
    assert_eq!(node.files(), initial);
}
