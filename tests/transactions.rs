//! A hook point is a transaction: what a failed point changed is undone,
//! and what a killed point left is undone by the next nethook. Checked on
//! real namespaces and a host root, against dumps taken before the point.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A namespace with a veth pair, a host root with three files, and a
/// config running the `txnguest` guest at vpp-running.
struct Bed {
    ns: Netns,
    scratch: Scratch,
    root: PathBuf,
    config: PathBuf,
}

impl Bed {
    fn new(cache: &Path, fail: &str) -> Bed {
        let ns = Netns::new();
        // Duplicate address detection over 3 s, so verification surely
        // sees an IPv6 address tentative before it is usable.
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.dad_transmits=3"]);
        ns.exec(&[
            "ip", "link", "add", "tx0", "type", "veth", "peer", "name", "tx1",
        ]);
        // A link's first carrier gives it its default qdisc, which no
        // "down" takes away: done here, so the dumps compare what hooks change.
        ns.exec(&["ip", "link", "set", "tx1", "up"]);
        ns.exec(&["ip", "link", "set", "tx0", "up"]);
        ns.exec(&["ip", "link", "set", "tx0", "down"]);
        // The kernel adds tx1's IPv6 multicast route after "up" returns:
        // waited for, so no dump is taken before it.
        let started = std::time::Instant::now();
        while !ns
            .exec(&["ip", "-6", "route", "show", "table", "local", "dev", "tx1"])
            .contains("ff00::/8")
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no ff00::/8 on tx1"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let scratch = Scratch::new();
        let root = scratch.path("host");
        let etc = root.join("etc/nethook-test");
        std::fs::create_dir_all(&etc).unwrap();
        for (name, text, mode) in [
            ("admin.conf", "admin's\n", 0o644),
            ("old.conf", "old\n", 0o600),
        ] {
            std::fs::write(etc.join(name), text).unwrap();
            std::fs::set_permissions(etc.join(name), std::fs::Permissions::from_mode(mode))
                .unwrap();
        }
        let config = scratch.write(
            "nethook.toml",
            &format!(
                "state_dir = {:?}\ncache_dir = {cache:?}\nhost_root = {root:?}\n\
                 [points.vpp-running]\nhandler = \"wasm\"\nhook = \"txn\"\n\
                 [hooks.txn]\ncomponent = {:?}\ntimeout = \"2s\"\nmemory = \"8MiB\"\n\
                 [hooks.txn.config]\nlink = \"tx0\"\nnew_name = \"uplink9\"\nfail = \"{fail}\"\n\
                 [hooks.txn.grants]\nnetlink = \"write\"\nlinks = [\"tx0\", \"uplink9\"]\ntables = [100]\n\
                 write_paths = [\"/etc/nethook-test/*\"]\n",
                scratch.path("state"),
                guest("txnguest")
            ),
        );
        Bed {
            ns,
            scratch,
            root,
            config,
        }
    }

    /// The namespace (links, addresses, routes and rules of every table,
    /// both families) and every file under the host root with its mode.
    fn snapshot(&self) -> String {
        let mut out = String::new();
        for args in [
            &["ip", "-j", "link", "show"][..],
            &["ip", "-j", "addr", "show"],
            &["ip", "-j", "-4", "route", "show", "table", "all"],
            &["ip", "-j", "-6", "route", "show", "table", "all"],
            &["ip", "-j", "-4", "rule", "show"],
            &["ip", "-j", "-6", "rule", "show"],
        ] {
            out += &self.ns.exec(args);
            out.push('\n');
        }
        for (path, bytes) in self.scratch.snapshot() {
            if let Ok(rel) = path.strip_prefix(&self.root) {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                out += &format!(
                    "{} {mode:o} {:?}\n",
                    rel.display(),
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
        out
    }

    fn nethook(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.ns.nethook();
        cmd.args(["--log-format", "json"])
            .args(args)
            .arg("--config")
            .arg(&self.config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_within(cmd, Duration::from_secs(60))
    }

    fn run(&self, env: &[(&str, &str)]) -> Run {
        self.nethook(&["run", "vpp-running"], env)
    }

    fn recover(&self, env: &[(&str, &str)]) -> Run {
        self.nethook(&["recover"], env)
    }
}

fn boundaries(r: &Run) -> usize {
    r.json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::fault")
        .count()
}

/// A compile cache the tests share, so each run does not compile again.
fn cache() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nethook-cache.")
        .tempdir()
        .unwrap()
}

#[test]
fn a_failing_hook_is_rolled_back_whatever_way_it_fails() {
    let cache = cache();
    for (fail, code, says) in [
        (
            "error",
            EXIT_HOOK_FAILED,
            "hook returned an error: failing after its changes",
        ),
        ("trap", EXIT_TRAPPED, "hook trapped"),
        ("loop", EXIT_TIMED_OUT, "hook timed out after 2s"),
        ("memory", EXIT_TRAPPED, "hook trapped"),
    ] {
        let bed = Bed::new(cache.path(), fail);
        let before = bed.snapshot();
        let r = bed.run(&[]);
        assert_eq!(r.code, code, "{fail}: {r:?}");
        assert!(r.stderr.contains(says), "{fail}: {r:?}");
        assert!(
            r.messages().iter().any(|m| m == "rolled back"),
            "{fail}: {r:?}"
        );
        assert_eq!(bed.snapshot(), before, "{fail}: not restored");
    }
    // The same hook succeeding changes the node, and keeps it changed.
    let bed = Bed::new(cache.path(), "none");
    let before = bed.snapshot();
    let r = bed.run(&[]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_ne!(bed.snapshot(), before);
    assert!(bed
        .ns
        .exec(&["ip", "-j", "addr", "show", "uplink9"])
        .contains("10.66.0.1"));
}

#[test]
fn on_failure_keep_leaves_what_a_failed_hook_did() {
    let cache = cache();
    let bed = Bed::new(cache.path(), "error");
    let text = std::fs::read_to_string(&bed.config).unwrap();
    let text = text.replace("[hooks.txn]\n", "[hooks.txn]\non_failure = \"keep\"\n");
    std::fs::write(&bed.config, text).unwrap();
    let r = bed.run(&[]);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(bed.root.join("etc/nethook-test/admin.conf")).unwrap(),
        "replaced\n"
    );
    // Nothing left open: the next run has nothing to recover.
    let r = bed.recover(&[]);
    assert_eq!(r.stdout, "nothing to recover\n", "{r:?}");
}

/// SIGKILL at every boundary of the point (after each change is journaled,
/// and after it is made), then recovery: the node is as before, every time.
#[test]
fn a_point_killed_at_any_boundary_is_restored_by_recovery() {
    let cache = cache();
    let bed = Bed::new(cache.path(), "none");
    let r = bed.run(&[("NETHOOK_FAULT_TRACE", "1")]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let n = boundaries(&r);
    // 3 file, 2 state and 7 netlink changes, two boundaries each.
    assert_eq!(n, 24, "{r:?}");
    let mut restored = 0;
    for k in 1..=n {
        let bed = Bed::new(cache.path(), "none");
        let before = bed.snapshot();
        let r = bed.run(&[("NETHOOK_FAULT_KILL_AT", &k.to_string())]);
        assert_eq!(r.code, -1, "kill point {k}: not killed: {r:?}");
        let rec = bed.recover(&[]);
        assert_eq!(rec.code, EXIT_OK, "kill point {k}: {rec:?}");
        assert!(
            rec.stdout
                .starts_with("recovered: txn at vpp-running (pid "),
            "{rec:?}"
        );
        assert_eq!(bed.snapshot(), before, "kill point {k}: not restored");
        restored += 1;
        // Exactly once: nothing is left for another recovery.
        assert_eq!(bed.recover(&[]).stdout, "nothing to recover\n");
    }
    eprintln!("{restored} of {n} kill points restored");
    assert_eq!(restored, n);
}

/// The next point's run recovers first, before it runs its own handler.
#[test]
fn the_next_run_recovers_before_anything_else() {
    let cache = cache();
    let bed = Bed::new(cache.path(), "none");
    let before = bed.snapshot();
    let r = bed.run(&[("NETHOOK_FAULT_KILL_AT", "20")]);
    assert_eq!(r.code, -1, "{r:?}");
    let r = bed.nethook(&["run", "vpp-done-ok"], &[]);
    let messages = r.messages();
    let recovered = messages
        .iter()
        .position(|m| m.starts_with("recovered: txn at vpp-running"));
    let running = messages.iter().position(|m| m == "running").unwrap();
    assert!(recovered.is_some_and(|i| i > running), "{r:?}");
    assert_eq!(bed.snapshot(), before);
}

/// Recovery itself killed at each of its boundaries, then recovery again:
/// restored, and no change undone twice.
#[test]
fn a_recovery_killed_half_way_resumes() {
    let cache = cache();
    let bed = Bed::new(cache.path(), "none");
    let r = bed.run(&[("NETHOOK_FAULT_KILL_AT", "24")]);
    assert_eq!(r.code, -1, "{r:?}");
    let full = bed.recover(&[
        ("NETHOOK_FAULT_TRACE", "1"),
        ("NETHOOK_FAULT_KILL_AT", "1000"),
    ]);
    let m = boundaries(&full);
    assert!(m >= 10, "{full:?}");
    for j in (1..m).step_by(3) {
        let bed = Bed::new(cache.path(), "none");
        let before = bed.snapshot();
        assert_eq!(bed.run(&[("NETHOOK_FAULT_KILL_AT", "24")]).code, -1);
        let killed = bed.recover(&[("NETHOOK_FAULT_KILL_AT", &j.to_string())]);
        assert_eq!(killed.code, -1, "recovery kill point {j}: {killed:?}");
        let again = bed.recover(&[("NETHOOK_FAULT_TRACE", "1")]);
        assert_eq!(again.code, EXIT_OK, "{again:?}");
        assert_eq!(
            bed.snapshot(),
            before,
            "recovery kill point {j}: not restored"
        );
        // What the killed recovery finished (every undo step before the
        // one it was killed in; two boundaries each) is not done again.
        let finished = (j - 1) / 2;
        assert_eq!(
            boundaries(&again),
            m - 2 * finished,
            "recovery kill point {j}: {again:?}"
        );
    }
}

impl Bed {
    /// Add a `[points.vpp-running.verify]` table.
    fn verify(&self, table: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let text = text.replace(
            "[hooks.txn]\n",
            &format!("[points.vpp-running.verify]\n{table}\n[hooks.txn]\n"),
        );
        std::fs::write(&self.config, text).unwrap();
    }
}

#[test]
fn verification_waits_for_what_was_asked_and_a_failed_check_rolls_back() {
    let cache = cache();
    let bed = Bed::new(cache.path(), "none");
    bed.verify(
        "links_up = [\"uplink9\"]\nlinks_carrier = [\"uplink9\"]\n\
         addresses = [\"uplink9 10.66.0.1/24\", \"uplink9 fd66::1/64\"]\n\
         routes = [\"10.67.0.0/16 table 100\"]\ntimeout = \"10s\"",
    );
    let r = bed.run(&[]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    // The IPv6 address was tentative (duplicate address detection) when
    // first asked about, and verification waited it out.
    let probes = r
        .json_lines()
        .iter()
        .filter(|v| {
            v["fields"]["operation"] == "address" && v["fields"]["args"] == "uplink9 fd66::1/64"
        })
        .count();
    assert!(probes >= 2, "{r:?}");

    let bed = Bed::new(cache.path(), "none");
    let before = bed.snapshot();
    bed.verify("routes = [\"10.99.0.0/16\"]\ntimeout = \"1s\"");
    let r = bed.run(&[]);
    assert_eq!(r.code, EXIT_VERIFY_FAILED, "{r:?}");
    assert!(
        r.stderr.contains("nethook: error: vpp-running: verification failed: a route to 10.99.0.0/16 in table 254: not so after 1s"),
        "{r:?}"
    );
    assert_eq!(bed.snapshot(), before, "not rolled back");
}

#[test]
fn a_duplicate_address_fails_verification_at_once() {
    let cache = cache();
    let bed = Bed::new(cache.path(), "none");
    // The peer already has the address the hook adds: DAD fails.
    bed.ns
        .exec(&["ip", "addr", "add", "fd66::1/64", "dev", "tx1", "nodad"]);
    let before = bed.snapshot();
    bed.verify("addresses = [\"uplink9 fd66::1/64\"]\ntimeout = \"20s\"");
    let r = bed.run(&[]);
    assert_eq!(r.code, EXIT_VERIFY_FAILED, "{r:?}");
    assert!(
        r.stderr.contains(
            "verification failed: uplink9 has fd66::1/64: duplicate address detection failed"
        ),
        "{r:?}"
    );
    assert!(r.elapsed < Duration::from_secs(15), "{r:?}");
    assert_eq!(bed.snapshot(), before);
}

#[test]
fn the_gateway_must_answer() {
    let (a, b) = (Netns::new(), Netns::new());
    a.exec(&[
        "ip", "link", "add", "ga", "type", "veth", "peer", "name", "gb",
    ]);
    a.exec(&["ip", "link", "set", "gb", "netns", &b.name]);
    a.exec(&["ip", "addr", "add", "10.55.0.2/24", "dev", "ga"]);
    a.exec(&["ip", "link", "set", "ga", "up"]);
    a.exec(&["ip", "route", "add", "default", "via", "10.55.0.1"]);
    b.exec(&["ip", "addr", "add", "10.55.0.1/24", "dev", "gb"]);
    b.exec(&["ip", "link", "set", "gb", "up"]);
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("host")).unwrap();
    let config = scratch.config(&format!(
        "host_root = {:?}\n[points.vpp-done-ok]\nhandler = \"none\"\n\
         [points.vpp-done-ok.verify]\ngateway = true\ntimeout = \"2s\"\n",
        scratch.path("host")
    ));
    let run = || {
        let mut cmd = a.nethook();
        cmd.args(["run", "vpp-done-ok", "--config"]).arg(&config);
        run_within(cmd, Duration::from_secs(30))
    };
    let r = run();
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    b.exec(&["ip", "addr", "del", "10.55.0.1/24", "dev", "gb"]);
    let r = run();
    assert_eq!(r.code, EXIT_VERIFY_FAILED, "{r:?}");
    assert!(
        r.stderr
            .contains("verification failed: the default gateway answers: not so after 2s"),
        "{r:?}"
    );
}
