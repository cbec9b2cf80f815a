//! The dataplane's hook contract, without a node: vpp-manager runs
//! `/bin/bash -c VALUE POINT UPLINK0` with its whole environment. nethook
//! must run one handler per call, never call itself again, take the
//! uplinks from the dataplane's variables, and name what is wrong.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const INTERFACES: &str = r#"{"uplinkInterfaces":[{"interfaceName":"eth1","vppDriver":"af_packet"},{"interfaceName":"eth2"}]}"#;

/// A scratch dir with an empty host root and a config for it.
fn setup(extra: &str) -> (Scratch, PathBuf) {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("host")).unwrap();
    let config = scratch.config(&format!("host_root = {:?}\n{extra}", scratch.path("host")));
    (scratch, config)
}

/// `/bin/bash -c VALUE POINT UPLINK0` with the dataplane's environment.
fn dataplane(value: &str, point: &str, uplink0: &str, config: &Path) -> Command {
    let mut cmd = Command::new("/bin/bash");
    cmd.args(["-c", value, point, uplink0]);
    dataplane_env(&mut cmd, value, INTERFACES, config);
    cmd
}

/// The handlers nethook ran: one `running` line each.
fn handlers(r: &Run) -> Vec<String> {
    r.json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::run" && v["fields"]["message"] == "running")
        .map(|v| {
            format!(
                "{} {} [{}]",
                v["fields"]["point"].as_str().unwrap(),
                v["fields"]["handler"].as_str().unwrap(),
                v["fields"]["uplinks"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn called_as_the_dataplane_calls_it_one_handler_runs() {
    let (_scratch, config) = setup("");
    for (point, name) in [
        ("VPP_RUNNING", "vpp-running"),
        ("VPP_DONE_OK", "vpp-done-ok"),
        ("vpp-errored", "vpp-errored"),
    ] {
        let r = run(dataplane(HOOK_VALUE, point, "eth1", &config));
        assert_eq!(r.code, EXIT_OK, "{r:?}");
        assert_eq!(
            handlers(&r),
            [format!(
                "{name} builtin [eth1, eth2 (from environment CALICOVPP_INTERFACES)]"
            )],
            "{r:?}"
        );
    }
}

#[test]
fn the_uplinks_come_from_the_config_then_the_environment_then_dollar_one() {
    let (_scratch, config) = setup("");
    let r = run(dataplane(HOOK_VALUE, "VPP_RUNNING", "eth1", &config));
    assert_eq!(
        handlers(&r),
        ["vpp-running builtin [eth1, eth2 (from environment CALICOVPP_INTERFACES)]"]
    );

    let mut cmd = dataplane(HOOK_VALUE, "VPP_RUNNING", "eth0", &config);
    cmd.env("CALICOVPP_INTERFACE", "eth0");
    let r = run(cmd);
    assert_eq!(
        handlers(&r),
        ["vpp-running builtin [eth0, eth1, eth2 (from environment CALICOVPP_INTERFACE then CALICOVPP_INTERFACES)]"]
    );

    let mut cmd = dataplane(HOOK_VALUE, "VPP_RUNNING", "eth7", &config);
    cmd.env_remove("CALICOVPP_INTERFACES");
    let r = run(cmd);
    assert_eq!(
        handlers(&r),
        ["vpp-running builtin [eth7 (from the dataplane's $1)]"]
    );

    let (_scratch, config) = setup("uplinks = [\"ens9\"]\n");
    let r = run(dataplane(HOOK_VALUE, "VPP_RUNNING", "eth1", &config));
    assert_eq!(
        handlers(&r),
        [format!(
            "vpp-running builtin [ens9 (from config {})]",
            config.display()
        )]
    );
    assert!(
        r.messages().contains(&format!(
            "the dataplane's $1 is \"eth1\" but the first uplink is \"ens9\" (from config {})",
            config.display()
        )),
        "{r:?}"
    );

    // None at all: said at before-if-read, never silent.
    let (_scratch, config) = setup("");
    let mut cmd = dataplane(HOOK_VALUE, "BEFORE_IF_READ", "", &config);
    cmd.env_remove("CALICOVPP_INTERFACES");
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.messages()
            .iter()
            .any(|m| m.starts_with("no uplinks: nothing is captured at before-if-read")),
        "{r:?}"
    );
}

#[test]
fn a_nested_nethook_never_re_enters() {
    // A script handler that calls nethook: the inner one refuses.
    let (_scratch, config) = setup(&format!(
        "[points.vpp-running]\nhandler = \"script\"\nscript = {HOOK_VALUE:?}\n"
    ));
    let r = run(dataplane(HOOK_VALUE, "VPP_RUNNING", "eth1", &config));
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr
            .contains("script at vpp-running: hook returned an error: script exited with status 3"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(
            "refusing to run a handler: this nethook was started by a script that nethook (pid "
        ),
        "{r:?}"
    );
    assert_eq!(handlers(&r).len(), 1, "{r:?}");

    // A wrapper script in the dataplane's variable that calls nethook: the
    // variable is a script, nethook runs it, the nethook it starts refuses.
    let (scratch, config) = setup("");
    let wrapper = scratch.write(
        "wrapper.sh",
        "#!/bin/bash\nexec nethook hook \"$1\" \"$2\"\n",
    );
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&wrapper).unwrap().permissions(),
        0o755,
    );
    let value = format!("bash {} \"$0\" \"$1\"", wrapper.display());
    let r = run_within(
        dataplane(&value, "VPP_RUNNING", "eth1", &config),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert_eq!(
        handlers(&r),
        [format!(
            "vpp-running script \"bash {} \\\"$0\\\" \\\"$1\\\"\" [eth1, eth2 (from environment CALICOVPP_INTERFACES)]",
            wrapper.display()
        )]
    );
    assert!(r.stderr.contains("refusing to run a handler"), "{r:?}");
}

#[test]
fn bad_calls_get_exact_errors_and_change_nothing() {
    let (scratch, config) = setup("");
    let before = scratch.snapshot();
    // (VALUE, $0, $1, CALICOVPP_INTERFACES, exit code, stderr)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, i32, &'a str);
    let cases: [Case; 5] = [
        (HOOK_VALUE, "vpp_running", "eth1", None, EXIT_CONFIG,
         "nethook: error: unknown hook point \"vpp_running\"; expected one of before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored (or the dataplane's BEFORE_IF_READ, BEFORE_VPP_RUN, VPP_RUNNING, VPP_DONE_OK, VPP_ERRORED)\n"),
        (HOOK_VALUE, "VPP_RUNNING", "eth1", Some(r#"{"uplinkInterfaces":[{"interfaceName":"eth1"}"#), EXIT_CONFIG,
         "nethook: error: environment CALICOVPP_INTERFACES: invalid JSON: EOF while parsing a list at line 1 column 45\n"),
        (HOOK_VALUE, "VPP_RUNNING", "eth1", Some(r#"{"uplinkInterfaces":[{"interfaceName":"-x/y"}]}"#), EXIT_CONFIG,
         "nethook: error: environment CALICOVPP_INTERFACES: uplinkInterfaces[0].interfaceName: \"-x/y\" is not a valid interface name (1-15 bytes, no '/', ':' or whitespace, not starting with '-')\n"),
        (HOOK_VALUE, "VPP_RUNNING", "a b", None, EXIT_CONFIG,
         "nethook: error: the dataplane's $1 (UPLINK0): \"a b\" is not a valid interface name (1-15 bytes, no '/', ':' or whitespace, not starting with '-')\n"),
        (r#"exec nethook hook "$0" "$1" extra"#, "VPP_RUNNING", "eth1", None, 2,
         "error: unexpected argument 'extra' found\n\nUsage: nethook hook [OPTIONS] <POINT> [UPLINK0]\n\nFor more information, try '--help'.\n"),
    ];
    for (value, point, uplink0, interfaces, code, stderr) in cases {
        let mut cmd = dataplane(value, point, uplink0, &config);
        if let Some(json) = interfaces {
            cmd.env("CALICOVPP_INTERFACES", json);
        }
        let r = run(cmd);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (code, stderr),
            "{value} {point}"
        );
    }
    assert_eq!(
        scratch.snapshot(),
        before,
        "a refused call changed something"
    );
}

#[test]
fn legacy_scripts_run_as_the_dataplane_runs_them() {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    // Bash, not sh ([[ ]]); $0 upper-snake; $1 the first uplink; the
    // dataplane's templating; stdin from /dev/null; the guard variable set.
    let script = format!(
        "[[ -n $NETHOOK_PARENT ]] && echo \"$0 $1 __VPP_DATAPLANE_IF__ __VPP_DATAPLANE_IF_1__ $(cat)\" > {}",
        out.display()
    );
    let config = scratch.config(&format!(
        "[points.vpp-done-ok]\nhandler = \"script\"\nscript = {script:?}\n"
    ));
    let r = run(dataplane(HOOK_VALUE, "VPP_DONE_OK", "eth1", &config));
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "VPP_DONE_OK eth1 eth1 eth2 \n"
    );
    let mut cmd = nethook();
    cmd.args(["check", "--config"]).arg(&config);
    let r = run(cmd);
    assert!(
        r.stdout
            .contains("status: ok: legacy script, not sandboxed, timeout 5m"),
        "{r:?}"
    );
}

#[test]
fn check_says_how_the_dataplane_reaches_each_point_and_where_state_lives() {
    let (scratch, _) = setup("");
    // No state_dir: the default, under the host root.
    let config = scratch.write(
        "default.toml",
        &format!(
            "host_root = {:?}\ncache_dir = {:?}\n",
            scratch.path("host"),
            scratch.path("cache")
        ),
    );
    let mut cmd = dataplane(HOOK_VALUE, "", "", &config);
    cmd.args(["-c", "exec nethook check"]);
    let mut cmd2 = Command::new("/bin/bash");
    cmd2.args(["-c", "exec nethook check"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => cmd2.env(k, v),
            None => cmd2.env_remove(k),
        };
    }
    cmd2.env_remove("CALICOVPP_HOOK_VPP_DONE_OK");
    cmd2.env("CALICOVPP_HOOK_BEFORE_VPP_RUN", "/usr/local/bin/mine.sh");
    let r = run(cmd2);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"uplinks: eth1, eth2 (from environment CALICOVPP_INTERFACES)"),
        "{r:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "state: {}/var/lib/nethook (",
            scratch.path("host").display()
        ))),
        "{r:?}"
    );
    assert!(lines.contains(&"dataplane: CALICOVPP_HOOK_VPP_RUNNING calls nethook (\"exec nethook hook \\\"$0\\\" \\\"$1\\\"\"); not a handler choice"), "{r:?}");
    assert!(lines.contains(&"dataplane: CALICOVPP_HOOK_BEFORE_VPP_RUN is a script: the dataplane runs it itself; nethook runs it only if called here some other way"), "{r:?}");
    assert!(lines.contains(&"dataplane: CALICOVPP_HOOK_VPP_DONE_OK is empty: the dataplane runs its own native hook here, not nethook"), "{r:?}");

    // No uplinks anywhere, and a state dir that a reboot wipes.
    let shm = tempfile::Builder::new()
        .prefix("nethook-test.")
        .tempdir_in("/dev/shm")
        .unwrap();
    let config = scratch.write(
        "shm.toml",
        &format!(
            "state_dir = {:?}\nhost_root = {:?}\n",
            shm.path(),
            scratch.path("host")
        ),
    );
    let mut cmd = nethook();
    cmd.args(["check", "--config"]).arg(&config);
    let r = run(cmd);
    assert!(
        r.stdout.contains(
            "\nuplinks: none\nWARNING: no uplinks: nothing is captured at before-if-read"
        ),
        "{r:?}"
    );
    assert!(
        r.stdout.contains(&format!("state: WARNING: {} is on a tmpfs (/dev/shm): records of what nethook changed are lost at the next reboot", shm.path().display())),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("dataplane: no CALICOVPP_HOOK_* in the environment"),
        "{r:?}"
    );
}

#[test]
fn the_readme_and_the_deploy_overlay_give_the_values_the_tests_use() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |p: &str| std::fs::read_to_string(repo.join(p)).unwrap();
    let readme = read("README.md");
    let overlay = read("deploy/calico-vpp/hooks.yaml");
    for p in POINTS {
        let line = format!("CALICOVPP_HOOK_{p}: '{HOOK_VALUE}'\n");
        assert!(readme.contains(&line), "README lacks {line}");
        assert!(
            overlay.contains(&format!("  {line}")),
            "hooks.yaml lacks {line}"
        );
    }
    // The shipped config is valid and puts the records on the hostPath
    // the overlay mounts.
    let config = repo.join("deploy/calico-vpp/nethook.toml");
    let mut cmd = nethook();
    cmd.args(["check", "--config"]).arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    // (Outside the container the hostPath is not a mount of its own, so
    // `check` may warn here; which dir is what this asserts.)
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("state: ") && l.contains("/var/lib/nethook")),
        "{r:?}"
    );
    let daemonset = read("deploy/calico-vpp/daemonset.yaml");
    assert!(daemonset.contains("mountPath: /var/lib/nethook\n"));
    // Registry hooks are fetched and every component checked (and
    // compiled) before the dataplane starts, into a cache all share.
    for init in ["pull", "check"] {
        assert!(
            daemonset.contains(&format!(
                "command: [\"/usr/local/bin/nethook\", \"{init}\", \"--config\", \"/etc/nethook/nethook.toml\"]"
            )),
            "no init container runs nethook {init}"
        );
    }
    assert_eq!(
        daemonset.matches("mountPath: /var/cache/nethook").count(),
        4
    );
}

/// The DaemonSet follows the trust model of docs/threat-model.md: the
/// registry-facing, unprivileged `nethook-pull` writes the blob store and
/// nothing else of nethook's; only privileged containers, which may run
/// hooks, mount the compiled store (native code) and the state dir, and
/// the config points the compiled store there.
#[test]
fn the_daemonsets_containers_follow_the_trust_model() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(repo.join("deploy/calico-vpp/daemonset.yaml")).unwrap();
    // Each container: (name, privileged, [(volume, read-only)]).
    type Container = (String, bool, Vec<(String, bool)>);
    let mut containers: Vec<Container> = Vec::new();
    let mut in_mounts = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("- name: ") {
            if line.starts_with("        - name: ") {
                containers.push((name.to_string(), false, Vec::new()));
                in_mounts = false;
                continue;
            }
            if in_mounts {
                if let Some(c) = containers.last_mut() {
                    c.2.push((name.to_string(), false));
                }
            }
        }
        if t == "volumeMounts:" {
            in_mounts = true;
        }
        if t == "volumes:" {
            break;
        }
        if t == "readOnly: true" {
            if let Some(m) = containers.last_mut().and_then(|c| c.2.last_mut()) {
                m.1 = true;
            }
        }
        if t == "privileged: true" {
            if let Some(c) = containers.last_mut() {
                c.1 = true;
            }
        }
    }
    let writes = |c: &Container, v: &str| c.2.iter().any(|(name, ro)| name == v && !ro);
    let mounts = |c: &Container, v: &str| c.2.iter().any(|(n, _)| n == v);
    let pull = containers
        .iter()
        .find(|c| c.0 == "nethook-pull")
        .expect("nethook-pull");
    assert!(!pull.1, "nethook-pull is not privileged");
    assert!(writes(pull, "nethook-blobs"), "{pull:?}");
    for store in ["nethook-compiled", "nethook-state", "nethook-host-root"] {
        assert!(
            !mounts(pull, store),
            "nethook-pull mounts {store}: {pull:?}"
        );
    }
    let compilers: Vec<&String> = containers
        .iter()
        .filter(|c| writes(c, "nethook-compiled"))
        .map(|c| &c.0)
        .collect();
    assert_eq!(compilers, ["nethook-check", "vpp", "nethook-watch"]);
    for c in containers.iter().filter(|c| c.0 != "nethook-pull") {
        assert!(!writes(c, "nethook-blobs"), "{} writes the blob store", c.0);
    }
    // The vpp container is the dataplane's own (privileged in its manifest);
    // the others nethook adds are privileged here.
    for name in ["nethook-check", "nethook-watch"] {
        assert!(
            containers.iter().any(|c| c.0 == name && c.1),
            "{name} not privileged"
        );
    }
    let config = std::fs::read_to_string(repo.join("deploy/calico-vpp/nethook.toml")).unwrap();
    assert!(
        config.contains("\ncompiled_dir = \"/var/lib/nethook-compiled\"\n"),
        "{config}"
    );
}
