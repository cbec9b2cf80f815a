//! Chains of handlers at one point: run in order, a required handler's
//! failure rolls back the ones before it (newest first), an optional one's
//! does not stop the chain, and two handlers changing one object are
//! reported by `check`, `plan` and the run itself.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A host root with an admin's file, and a config whose vpp-running point
/// is the chain `steps` (TOML of `[[points.vpp-running.handlers]]` entries)
/// over `hooks` (TOML of `[hooks.*]` tables).
struct Bed {
    scratch: Scratch,
    root: PathBuf,
    config: PathBuf,
}

const ADMIN: &str = "etc/chain/admin.conf";

impl Bed {
    fn new(steps: &str, hooks: &str) -> Bed {
        let scratch = Scratch::new();
        let root = scratch.path("host");
        std::fs::create_dir_all(root.join("etc/chain")).unwrap();
        std::fs::write(root.join(ADMIN), "the admin's\n").unwrap();
        let config = scratch.config(&format!("host_root = {root:?}\n{steps}\n{hooks}"));
        Bed {
            scratch,
            root,
            config,
        }
    }

    fn nethook(&self, args: &[&str]) -> Run {
        let mut cmd = nethook();
        cmd.args(["--log-format", "json"])
            .args(args)
            .arg("--config")
            .arg(&self.config);
        run(cmd)
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel)).ok()
    }

    /// Journal files left: none once a point committed or rolled back
    /// every change (committed ones stay until an undo point).
    fn journal(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.scratch.path("state/journal")) {
            Ok(d) => d
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A capcaller hook that writes `text` to each of `files` (host paths),
/// granted exactly those files.
fn writer(name: &str, files: &[&str], text: &str) -> String {
    let calls: String = files
        .iter()
        .enumerate()
        .map(|(i, f)| format!("c{:02} = \"fs.write|{f}|{text}\"\n", i + 1))
        .collect();
    let grants: Vec<String> = files.iter().map(|f| format!("{f:?}")).collect();
    hook_table(
        name,
        "capcaller",
        &format!(
            "[hooks.{name}.config]\n{calls}[hooks.{name}.grants]\nwrite_paths = [{}]\n",
            grants.join(", ")
        ),
    )
}

fn step(hook: &str, extra: &str) -> String {
    format!("[[points.vpp-running.handlers]]\nhandler = \"wasm\"\nhook = \"{hook}\"\n{extra}\n")
}

#[test]
fn a_required_handler_that_fails_rolls_back_the_handlers_before_it() {
    let bed = Bed::new(
        &[
            step("first", ""),
            step("second", ""),
            step("broken", ""),
            step("never", ""),
        ]
        .concat(),
        &[
            writer(
                "first",
                &["/etc/chain/admin.conf", "/etc/chain/a.conf"],
                "first",
            ),
            writer("second", &["/etc/chain/b.conf"], "second"),
            hook_table("broken", "failing", ""),
            writer("never", &["/etc/chain/c.conf"], "never"),
        ]
        .concat(),
    );
    let r = bed.nethook(&["run", "vpp-running"]);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(r.stderr.contains("uplink <none> () is not ready"), "{r:?}");
    // Both earlier handlers' writes are undone: the admin's file is back
    // byte for byte, the new files are gone; the handler after the failed
    // one never ran.
    assert_eq!(bed.read(ADMIN).as_deref(), Some("the admin's\n"));
    for f in ["etc/chain/a.conf", "etc/chain/b.conf", "etc/chain/c.conf"] {
        assert_eq!(bed.read(f), None, "{f}: {r:?}");
    }
    assert!(bed.journal().is_empty(), "{:?}", bed.journal());
    // Newest first: second's file is restored before first's.
    let undone: Vec<String> = r
        .json_lines()
        .iter()
        .filter(|v| v["target"] == "nethook::audit" && v["fields"]["capability"] == "host-fs")
        .filter_map(|v| v["fields"]["args"].as_str().map(str::to_string))
        .collect();
    let pos = |f: &str| {
        undone
            .iter()
            .rposition(|a| a.contains(f))
            .unwrap_or_else(|| panic!("no audit of {f}: {undone:?}"))
    };
    assert!(pos("b.conf") < pos("a.conf"), "{undone:?}");
    assert!(
        r.hook_messages("never").is_empty() && !undone.iter().any(|a| a.contains("c.conf")),
        "{r:?}"
    );
}

#[test]
fn an_optional_handler_that_fails_does_not_stop_the_chain() {
    let bed = Bed::new(
        &[
            step("first", ""),
            step("broken", "required = false"),
            step("last", ""),
        ]
        .concat(),
        &[
            writer("first", &["/etc/chain/a.conf"], "first"),
            hook_table("broken", "failing", ""),
            writer("last", &["/etc/chain/c.conf"], "last"),
        ]
        .concat(),
    );
    let r = bed.nethook(&["run", "vpp-running"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(bed.read("etc/chain/a.conf").as_deref(), Some("first"));
    assert_eq!(bed.read("etc/chain/c.conf").as_deref(), Some("last"));
    assert!(
        r.messages().iter().any(|m| m
            .starts_with("optional handler failed, the chain goes on: broken at vpp-running: hook returned an error")),
        "{r:?}"
    );
    // Committed, one transaction per handler that changed something.
    assert_eq!(bed.journal().len(), 2, "{:?}", bed.journal());
}

#[test]
fn a_failed_verification_rolls_back_the_whole_chain() {
    let bed = Bed::new(
        &[
            step("first", ""),
            step("second", ""),
            "[points.vpp-running.verify]\nlinks_up = [\"nosuchlink0\"]\ntimeout = \"200ms\"\n"
                .to_string(),
        ]
        .concat(),
        &[
            writer("first", &["/etc/chain/a.conf"], "first"),
            writer("second", &["/etc/chain/b.conf"], "second"),
        ]
        .concat(),
    );
    let r = bed.nethook(&["run", "vpp-running"]);
    assert_eq!(r.code, EXIT_VERIFY_FAILED, "{r:?}");
    assert_eq!(bed.read("etc/chain/a.conf"), None);
    assert_eq!(bed.read("etc/chain/b.conf"), None);
    assert!(bed.journal().is_empty());
}

#[test]
fn two_handlers_writing_one_file_are_reported_by_check_plan_and_the_run() {
    let bed = Bed::new(
        &[step("one", ""), step("two", "")].concat(),
        &[
            writer("one", &["/etc/chain/same.conf"], "one"),
            writer(
                "two",
                &["/etc/chain/same.conf", "/etc/chain/two.conf"],
                "two",
            ),
        ]
        .concat(),
    );
    let expected = "handlers 1 (one) and 2 (two) may both change files /etc/chain/same.conf";
    let r = bed.nethook(&["check"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.stdout.contains(&format!("WARNING: conflict: {expected}")),
        "{r:?}"
    );
    let r = bed.nethook(&["check", "--json"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let point = doc["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point"] == "vpp-running")
        .unwrap();
    assert_eq!(point["conflicts"], serde_json::json!([expected]));

    let seen = "two changes file /etc/chain/same.conf, which one changed before it in this chain";
    let r = bed.nethook(&["plan", "vpp-running", "--json"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["conflicts"], serde_json::json!([seen]));
    let hooks: Vec<&str> = plan["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["hook"].as_str().unwrap())
        .collect();
    assert_eq!(hooks, ["one", "two"]);
    assert_eq!(plan["chain"][1]["effects"].as_array().unwrap().len(), 2);

    let r = bed.nethook(&["run", "vpp-running"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(r.messages().contains(&format!("conflict: {seen}")), "{r:?}");
    // In order: the second handler's write is the one that stays.
    assert_eq!(bed.read("etc/chain/same.conf").as_deref(), Some("two"));
}

#[test]
fn check_json_describes_each_point_s_chain_for_a_fleet() {
    let bed = Bed::new(
        &[
            "[[points.vpp-running.handlers]]\nhandler = \"builtin\"\ntimeout = \"45s\"\n".to_string(),
            step("vendor", "required = false\ntimeout = \"3s\""),
            "[[points.vpp-running.handlers]]\nhandler = \"script\"\nscript = \"true\"\ntimeout = \"5s\"\n".to_string(),
        ]
        .concat(),
        &writer("vendor", &["/etc/chain/v.conf"], "v"),
    );
    let r = bed.nethook(&["check", "--json"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let points = doc["points"].as_array().unwrap();
    let names: Vec<&str> = points
        .iter()
        .map(|p| p["point"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "before-if-read",
            "before-vpp-run",
            "vpp-running",
            "vpp-done-ok",
            "vpp-errored"
        ]
    );
    let chain = points[2]["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3);
    assert_eq!(chain[0]["handler"], "builtin");
    assert_eq!(chain[0]["timeout_ms"], 45000);
    assert!(chain[0]["grants"]["write_paths"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("/etc/NetworkManager/conf.d/*")));
    assert_eq!(chain[1]["hook"], "vendor");
    assert_eq!(chain[1]["required"], false);
    assert_eq!(chain[1]["timeout_ms"], 3000);
    let sha = sha256_hex(&guest("capcaller"));
    assert_eq!(chain[1]["component"]["sha256"], sha.as_str());
    assert_eq!(chain[1]["component"]["pinned"], false);
    assert_eq!(
        chain[1]["grants"]["write_paths"],
        serde_json::json!(["/etc/chain/v.conf"])
    );
    assert_eq!(chain[1]["check"]["ok"], true);
    assert_eq!(chain[2]["handler"], "script");
    assert_eq!(chain[2]["sandboxed"], false);
    // A point without a chain is a chain of one.
    assert_eq!(points[0]["chain"][0]["handler"], "builtin");
    // The same config on the same node: the same document, byte for byte.
    let again = bed.nethook(&["check", "--json"]);
    assert_eq!(again.stdout, r.stdout);
}

#[test]
fn a_chain_that_cannot_load_runs_nothing() {
    let bed = Bed::new(
        &[step("first", ""), step("missing", "required = false")].concat(),
        &[
            writer("first", &["/etc/chain/a.conf"], "first"),
            "[hooks.missing]\ncomponent = \"/nonexistent/missing.wasm\"\n".to_string(),
        ]
        .concat(),
    );
    let r = bed.nethook(&["check"]);
    assert_eq!(r.code, EXIT_COMPONENT, "{r:?}");
    assert!(
        r.stdout.contains("handler 2 of the chain cannot run"),
        "{r:?}"
    );
    let r = bed.nethook(&["run", "vpp-running"]);
    assert_eq!(r.code, EXIT_COMPONENT, "{r:?}");
    assert!(r.stderr.contains("/nonexistent/missing.wasm"), "{r:?}");
    assert_eq!(bed.read("etc/chain/a.conf"), None);
}

#[test]
fn a_chain_killed_half_way_is_recovered_newest_first() {
    let mut second = writer("second", &["/etc/chain/admin.conf"], "second");
    second = second.replace(
        "[hooks.second.grants]",
        "c02 = \"time.sleep|60000\"\n[hooks.second.grants]",
    );
    let bed = Bed::new(
        &[step("first", ""), step("second", "timeout = \"120s\"")].concat(),
        &[writer("first", &["/etc/chain/admin.conf"], "first"), second].concat(),
    );
    let mut cmd = nethook();
    cmd.args(["run", "vpp-running", "--config"])
        .arg(&bed.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    while bed.read(ADMIN).as_deref() != Some("second") {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(bed.journal().len(), 2);
    // Oldest first would find the file no longer holding what the first
    // handler wrote, and leave the second's bytes.
    let r = bed.nethook(&["recover"]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(bed.read(ADMIN).as_deref(), Some("the admin's\n"), "{r:?}");
    assert!(bed.journal().is_empty());
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}
