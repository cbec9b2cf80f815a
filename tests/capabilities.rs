//! The capability layer through a real guest: every capability refused
//! without its grant and let through with it, names that could inject
//! arguments rejected before anything runs, host-fs escapes refused, and
//! one audit line per call.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;

/// A node root for commands: empty but for a few files, so a command that
/// gets through is attempted (and fails in a way that shows its argv).
fn node(scratch: &Scratch) -> std::path::PathBuf {
    let root = scratch.path("host");
    std::fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(root.join("etc/conf.d/old.conf"), "old\n").unwrap();
    root
}

fn capcaller(scratch: &Scratch, root: &Path, calls: &[&str], grants: &str) -> std::path::PathBuf {
    let mut body = format!(
        "host_root = {root:?}\n[points.vpp-running]\nhandler = \"wasm\"\nhook = \"capcaller\"\n{}[hooks.capcaller.config]\n",
        hook_table("capcaller", "capcaller", "timeout = \"20s\"")
    );
    for (i, c) in calls.iter().enumerate() {
        body += &format!("c{i:03} = {c:?}\n");
    }
    body += &format!("[hooks.capcaller.grants]\n{grants}\n");
    scratch.config(&body)
}

/// The outcome the guest logged for each call, in order.
fn outcomes(r: &Run) -> Vec<String> {
    r.hook_messages("capcaller")
        .iter()
        .filter_map(|m| m.strip_prefix("call "))
        .map(|m| {
            let (_, outcome) = m.split_once(" outcome=").expect("outcome field");
            // Values with spaces are quoted by the log renderer.
            serde_json::from_str::<String>(outcome).unwrap_or_else(|_| outcome.to_string())
        })
        .collect()
}

fn run_calls(ns: Option<&Netns>, config: &Path, extra: &[&str]) -> Run {
    let mut cmd = match ns {
        Some(ns) => ns.nethook(),
        None => nethook(),
    };
    cmd.args(extra)
        .args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    r
}

/// (call, what grants it, the denial without it)
const CALLS: &[(&str, &str, &str)] = &[
    (
        "systemd.start|foo.service",
        "units",
        "unit \"foo.service\" is not granted (grants.units)",
    ),
    (
        "systemd.stop|foo.service",
        "units",
        "unit \"foo.service\" is not granted (grants.units)",
    ),
    (
        "systemd.restart|foo",
        "units",
        "unit \"foo.service\" is not granted (grants.units)",
    ),
    (
        "systemd.reload|foo.service",
        "units",
        "unit \"foo.service\" is not granted (grants.units)",
    ),
    (
        "systemd.is-active|foo.service",
        "units",
        "unit \"foo.service\" is not granted (grants.units)",
    ),
    (
        "systemd.wait-active|foo.service|200",
        "units",
        "unit \"foo.service\" is not granted (grants.units)",
    ),
    (
        "systemd.daemon-reload",
        "daemon_reload",
        "systemd daemon-reload is not granted (grants.daemon_reload = true)",
    ),
    (
        "nm.modify|ens5|ipv4.dhcp-timeout|infinity",
        "connections",
        "connection \"ens5\" is not granted (grants.connections)",
    ),
    (
        "nm.up|ens5",
        "connections",
        "connection \"ens5\" is not granted (grants.connections)",
    ),
    (
        "nm.down|ens5",
        "connections",
        "connection \"ens5\" is not granted (grants.connections)",
    ),
    (
        "nm.get|ens5|ipv4.method",
        "connections",
        "connection \"ens5\" is not granted (grants.connections)",
    ),
    (
        "nm.reload",
        "nm_reload",
        "NetworkManager reload is not granted (grants.nm_reload = true)",
    ),
    (
        "nm.device|ens5",
        "links",
        "link \"ens5\" is not granted (grants.links)",
    ),
    (
        "udev.properties|ens5",
        "links",
        "link \"ens5\" is not granted (grants.links)",
    ),
    (
        "udev.reload",
        "udev",
        "udev control is not granted (grants.udev = true)",
    ),
    (
        "udev.trigger|net|change",
        "udev",
        "udev control is not granted (grants.udev = true)",
    ),
    (
        "udev.settle|1000",
        "udev",
        "udev control is not granted (grants.udev = true)",
    ),
    (
        "fs.read|/etc/hosts",
        "read_paths",
        "reading path \"/etc/hosts\" is not granted (grants.read_paths)",
    ),
    (
        "fs.exists|/etc/hosts",
        "read_paths",
        "reading path \"/etc/hosts\" is not granted (grants.read_paths)",
    ),
    (
        "fs.list|/etc/conf.d",
        "read_paths",
        "reading path \"/etc/conf.d\" is not granted (grants.read_paths)",
    ),
    (
        "fs.write|/etc/conf.d/new.conf|hello",
        "write_paths",
        "writing path \"/etc/conf.d/new.conf\" is not granted (grants.write_paths)",
    ),
    (
        "fs.remove|/etc/conf.d/old.conf",
        "write_paths",
        "writing path \"/etc/conf.d/old.conf\" is not granted (grants.write_paths)",
    ),
    (
        "netlink.links",
        "netlink",
        "reading netlink state is not granted (grants.netlink = \"read\")",
    ),
    (
        "netlink.mtu|lo|65000",
        "netlink",
        "changing netlink state is not granted (grants.netlink = \"write\")",
    ),
];

const ALL_GRANTS: &str = "netlink = \"write\"\nlinks = [\"ens5\", \"lo\"]\nread_paths = [\"/etc/hosts\", \"/etc/conf.d\"]\n\
    write_paths = [\"/etc/conf.d/*\"]\nunits = [\"foo.service\"]\ndaemon_reload = true\nconnections = [\"ens5\"]\nnm_reload = true\nudev = true";

#[test]
fn every_capability_is_refused_without_its_grant_and_allowed_with_it() {
    let ns = Netns::new();
    let scratch = Scratch::new();
    let root = node(&scratch);
    let calls: Vec<&str> = CALLS.iter().map(|c| c.0).collect();

    let denied = run_calls(Some(&ns), &capcaller(&scratch, &root, &calls, ""), &[]);
    let want: Vec<String> = CALLS.iter().map(|c| format!("denied: {}", c.2)).collect();
    assert_eq!(outcomes(&denied), want);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/conf.d/old.conf")).unwrap(),
        "old\n"
    );
    assert!(!root.join("etc/conf.d/new.conf").exists());

    let allowed = run_calls(
        Some(&ns),
        &capcaller(&scratch, &root, &calls, ALL_GRANTS),
        &[],
    );
    let got = outcomes(&allowed);
    let chroot = format!("`chroot {}", root.display());
    let want_allowed: Vec<String> = vec![
        format!("failed: {chroot} systemctl start -- foo.service` exited with status 127"),
        format!("failed: {chroot} systemctl stop -- foo.service` exited with status 127"),
        format!("failed: {chroot} systemctl restart -- foo.service` exited with status 127"),
        format!("failed: {chroot} systemctl reload -- foo.service` exited with status 127"),
        format!("failed: {chroot} systemctl show --property=ActiveState --value -- foo.service` exited with status 127"),
        format!("failed: {chroot} systemctl show --property=ActiveState --value -- foo.service` exited with status 127"),
        format!("failed: {chroot} systemctl daemon-reload` exited with status 127"),
        format!("failed: {chroot} nmcli connection modify id ens5 ipv4.dhcp-timeout infinity` exited with status 127"),
        format!("failed: {chroot} nmcli connection up id ens5` exited with status 127"),
        format!("failed: {chroot} nmcli connection down id ens5` exited with status 127"),
        format!("failed: {chroot} nmcli --get-values ipv4.method connection show id ens5` exited with status 127"),
        format!("failed: {chroot} nmcli general reload` exited with status 127"),
        format!("failed: {chroot} nmcli --get-values GENERAL.CONNECTION device show ens5` exited with status 127"),
        "not found: no link named \"ens5\"".to_string(),
        format!("failed: {chroot} udevadm control --reload-rules` exited with status 127"),
        format!("failed: {chroot} udevadm trigger --subsystem-match=net --action=change` exited with status 127"),
        format!("failed: {chroot} udevadm settle --timeout=1` exited with status 127"),
        "ok 127.0.0.1 localhost\n".to_string(),
        "ok true".to_string(),
        "ok [\"old.conf\"]".to_string(),
        "ok ()".to_string(),
        "ok true".to_string(),
        "ok 1".to_string(),
        "ok ()".to_string(),
    ];
    assert_eq!(got.len(), want_allowed.len(), "{allowed:?}");
    for (g, w) in got.iter().zip(&want_allowed) {
        assert!(
            g.starts_with(w.as_str()),
            "got {g:?}, want it to start with {w:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.join("etc/conf.d/new.conf")).unwrap(),
        "hello"
    );
    assert!(!root.join("etc/conf.d/old.conf").exists());
    let lo: serde_json::Value =
        serde_json::from_str(&ns.exec(&["ip", "-j", "link", "show", "lo"])).unwrap();
    assert_eq!(lo[0]["mtu"], 65000);
}

#[test]
fn names_that_could_inject_arguments_are_rejected_before_anything_runs() {
    let scratch = Scratch::new();
    let root = node(&scratch);
    let calls = [
        "systemd.restart|foo.service; reboot",
        "systemd.restart|foo bar.service",
        "systemd.restart|foo\n.service",
        "systemd.restart|-foo.service",
        "systemd.stop|--force",
        "systemd.start|../../etc/x.service",
        "nm.modify|-ens5|ipv4.method|auto",
        "nm.modify|ens5\nx|ipv4.method|auto",
        "nm.modify|ens5|ipv4.method; reboot|auto",
        "nm.modify|ens5|ipv4.method|--help",
        "nm.modify|ens5|connection.id|other",
        "nm.modify|ens5|connection.interface-name|eth9",
        "nm.get|ens5|../x",
        "udev.properties|eth 0",
        "udev.properties|../../etc",
        "udev.properties|-eth0",
        "udev.trigger|net; reboot|change",
        "udev.trigger|net|reboot",
        "nm.device|eth0\n",
    ];
    let grants = "links = [\"*\"]\nunits = [\"*\"]\nconnections = [\"*\"]\nudev = true";
    let audit = scratch.path("audit.jsonl");
    let r = run_calls(
        None,
        &capcaller(&scratch, &root, &calls, grants),
        &["--audit", audit.to_str().unwrap()],
    );
    let got = outcomes(&r);
    assert_eq!(got.len(), calls.len(), "{r:?}");
    for (call, outcome) in calls.iter().zip(&got) {
        assert!(
            outcome.starts_with("invalid: "),
            "{call:?} gave {outcome:?}"
        );
    }
    // No command was attempted: every capability call's audit outcome is the rejection.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["capability"] != "log")
        .collect();
    assert_eq!(lines.len(), calls.len());
    assert!(
        lines
            .iter()
            .all(|l| l["outcome"].as_str().unwrap().starts_with("invalid: ")),
        "{lines:?}"
    );
}

#[test]
fn host_fs_escapes_are_refused_through_the_whole_stack() {
    let scratch = Scratch::new();
    let root = node(&scratch);
    let outside = scratch.path("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "secret\n").unwrap();
    symlink(outside.join("secret"), root.join("etc/abs-link")).unwrap();
    symlink("../../outside/secret", root.join("etc/rel-link")).unwrap();
    symlink("hop2", root.join("etc/hop1")).unwrap();
    symlink("../../outside", root.join("etc/hop2")).unwrap();
    symlink(&outside, root.join("etc/outdir")).unwrap();
    symlink("/proc/self/root/etc/passwd", root.join("etc/magic")).unwrap();
    let calls = [
        "fs.read|/etc/../../outside/secret",
        "fs.read|/etc/abs-link",
        "fs.read|/etc/rel-link",
        "fs.read|/etc/hop1/secret",
        "fs.read|/etc/magic",
        "fs.write|/etc/abs-link|pwned",
        "fs.write|/etc/rel-link|pwned",
        "fs.write|/etc/outdir/new|pwned",
        "fs.write|/etc/hop1/secret|pwned",
        "fs.remove|/etc/outdir/secret",
        "fs.exists|/etc/outdir/secret",
        "fs.list|/etc/outdir",
    ];
    let before = std::fs::read(outside.join("secret")).unwrap();
    let r = run_calls(
        None,
        &capcaller(
            &scratch,
            &root,
            &calls,
            "read_paths = [\"/**\"]\nwrite_paths = [\"/**\"]",
        ),
        &[],
    );
    let got = outcomes(&r);
    assert_eq!(got.len(), calls.len(), "{r:?}");
    for (call, outcome) in calls.iter().zip(&got) {
        assert!(outcome.starts_with("denied: "), "{call:?} gave {outcome:?}");
    }
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), before);
    let names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"]);
}

#[test]
fn the_audit_file_has_one_json_line_per_capability_call() {
    let scratch = Scratch::new();
    let root = node(&scratch);
    let audit = scratch.path("audit.jsonl");
    let calls = [
        "fs.read|/etc/hosts",
        "systemd.restart|foo.service",
        "time.sleep|1",
    ];
    let r = run_calls(
        None,
        &capcaller(&scratch, &root, &calls, "read_paths = [\"/etc/hosts\"]"),
        &["--audit", audit.to_str().unwrap()],
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Each call, then the guest's log line reporting it.
    let seen: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_string();
            (
                s("capability"),
                s("operation"),
                s("outcome").split(':').next().unwrap().to_string(),
            )
        })
        .collect();
    let t = |c: &str, o: &str, out: &str| (c.to_string(), o.to_string(), out.to_string());
    assert_eq!(
        seen,
        [
            t("host-fs", "read", "ok"),
            t("log", "log", "ok"),
            t("systemd", "restart", "denied"),
            t("log", "log", "ok"),
            t("time", "sleep", "ok"),
            t("log", "log", "ok"),
        ],
        "{r:?}"
    );
    for l in &lines {
        assert_eq!(l["hook"], "capcaller");
        assert_eq!(l["point"], "vpp-running");
        assert!(l["duration_us"].is_u64() && l["time"].is_string(), "{l}");
    }
    assert_eq!(lines[0]["args"], "/etc/hosts");
    assert_eq!(lines[2]["args"], "foo.service");
}

#[test]
fn nsenter_mode_runs_commands_in_the_target_process_namespaces() {
    let scratch = Scratch::new();
    let root = node(&scratch);
    let config = capcaller(
        &scratch,
        &root,
        &["systemd.restart|foo.service"],
        "units = [\"foo.service\"]",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("host_exec = \"nsenter\"\nhost_pid = 1\n{text}"),
    )
    .unwrap();
    let r = run_calls(None, &config, &[]);
    let got = outcomes(&r);
    // systemctl ran in PID 1's namespaces (where no foo.service exists).
    assert!(
        got[0].starts_with("failed: `nsenter -t 1 -m -u -i -n -p -- systemctl restart -- foo.service` exited with status "),
        "{got:?}"
    );
}
