//! Vendors first: `nethook new` makes a project outside this repository
//! that builds with its own build script, passes `nethook check`, and runs
//! under `nethook test` on a throwaway node with the report a vendor reads.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

#[test]
fn a_new_rust_project_builds_checks_and_runs_on_a_throwaway_node() {
    // The project's own build script; cargo able to target wasm32 is the
    // toolchain our guests build with (CARGO overrides it, as documented).
    let tools = tempfile::Builder::new().prefix("cargo.").tempdir().unwrap();
    let cargo = tools.path().join("cargo-wasm");
    std::fs::write(
        &cargo,
        format!(
            "#!/usr/bin/env bash\nsource {}/scripts/wasm-toolchain.sh\nguest_cargo \"$PWD\" \"$@\"\n",
            repo().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (tmp, project) = made_and_built(
        "rust",
        "hello",
        &[
            ("CARGO", cargo.display().to_string()),
            ("NETHOOK", nethook_bin().to_string()),
        ],
    );
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "build.sh",
        "nethook.toml",
        "README.md",
        "wit/hook.wit",
        "nethook-sdk/src/lib.rs",
    ] {
        assert!(project.join(f).exists(), "{f} missing");
    }
    let mut check = nethook();
    check
        .args(["check", "--config"])
        .arg(project.join("nethook.toml"));
    // The first compile of a Python or JavaScript component (its
    // interpreter) takes minutes on a loaded two-core machine.
    let c = run_within(check, std::time::Duration::from_secs(900));
    assert!(
        c.stdout
            .contains("status: ok: component targets nethook:hooks@0.1.1"),
        "{c:?}"
    );
    assert_template_runs(&project, "hello");

    // A second project of the same name is refused, and changes nothing.
    let mut again = nethook();
    again.args(["new", "hello", "--dir"]).arg(tmp.path());
    let a = run(again);
    assert_eq!(a.code, EXIT_CONFIG, "{a:?}");
    assert!(
        a.stderr.contains(&format!(
            "nethook new: {} exists already",
            project.display()
        )),
        "{a:?}"
    );
    let mut bad = nethook();
    bad.args(["new", "Hello World", "--dir"]).arg(tmp.path());
    let bad = run(bad);
    assert_eq!(bad.code, EXIT_CONFIG, "{bad:?}");
    assert!(
        bad.stderr
            .contains("hook name \"Hello World\" must be 1-64 characters of a-z, 0-9"),
        "{bad:?}"
    );
}

#[test]
fn nethook_test_reports_the_inventory_hooks_exact_effects_and_a_denial() {
    let scratch = Scratch::new();
    let config = scratch.write(
        "inventory.toml",
        &format!(
            "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"inventory\"\n[hooks.inventory]\ncomponent = {:?}\n[hooks.inventory.grants]\nnetlink = \"read\"\n",
            guest("inventory")
        ),
    );
    let mut t = nethook();
    t.arg("test").arg(&config).arg("--json");
    let t = run(t);
    assert_eq!(t.code, EXIT_OK, "{t:?}");
    let doc = json(&t);
    assert_eq!(
        doc["effects"],
        serde_json::json!([{
            "capability": "state",
            "operation": "set",
            "args": "runs (1 bytes)",
            "undo": "state.delete runs",
        }]),
        "{t:?}"
    );
    assert_eq!(doc["files"], serde_json::json!([]));
    assert_eq!(doc["netns"], serde_json::json!([]));

    // The bare component has no grants: the report says what was denied.
    let mut bare = nethook();
    bare.arg("test").arg(guest("inventory"));
    let b = run(bare);
    assert_eq!(b.code, EXIT_HOOK_FAILED, "{b:?}");
    assert!(
        b.stdout.contains("result: error: inventory at vpp-running: hook returned an error: denied: reading netlink state is not granted (grants.netlink = \"read\")"),
        "{b:?}"
    );
    assert!(b.stdout.contains("host root:\n  (unchanged)"), "{b:?}");
}

#[test]
fn nethook_test_removes_its_throwaway_node_unless_kept() {
    let scratch = Scratch::new();
    let tmp = scratch.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let left = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut t = nethook();
    t.env("TMPDIR", &tmp).arg("test").arg(guest("inventory"));
    let t = run(t);
    assert_eq!(t.code, EXIT_HOOK_FAILED, "{t:?}");
    assert!(
        t.stdout
            .contains(", removed when the test ends; --keep keeps it)"),
        "{t:?}"
    );
    assert_eq!(left(), Vec::<String>::new(), "{t:?}");

    let mut k = nethook();
    k.env("TMPDIR", &tmp)
        .arg("test")
        .arg(guest("inventory"))
        .args(["--keep", "--json"]);
    let k = run(k);
    assert_eq!(k.code, EXIT_HOOK_FAILED, "{k:?}");
    let doc = json(&k);
    assert_eq!(doc["kept"], true);
    let host_root = Path::new(doc["host_root"].as_str().unwrap());
    assert!(host_root.join("etc").is_dir(), "{k:?}");
    let names = left();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("nethook-test."), "{names:?}");
    assert_eq!(host_root.parent().unwrap(), tmp.join(&names[0]));
}

/// `nethook new NAME --lang LANG` in a fresh directory outside the
/// repository, built by its own build.sh with `env`; the project dir.
fn made_and_built(
    lang: &str,
    name: &str,
    env: &[(&str, String)],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("vendor.")
        .tempdir()
        .unwrap();
    let mut new = nethook();
    new.args(["new", name, "--lang", lang, "--dir"])
        .arg(tmp.path());
    let r = run(new);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let project = tmp.path().join(name);
    let mut build = Command::new(project.join("build.sh"));
    build.current_dir(&project);
    for (k, v) in env {
        build.env(k, v);
    }
    let b = run_within(build, std::time::Duration::from_secs(900));
    assert_eq!(b.code, EXIT_OK, "{b:?}");
    assert!(project.join(format!("{name}.wasm")).exists(), "{b:?}");
    (tmp, project)
}

/// The template's run at vpp-running: its write planned and made, the
/// file's diff; then, without its netlink grant, a hook error naming the
/// denial (exit 5), not a trap.
fn assert_template_runs(project: &Path, name: &str) {
    let mut check = nethook();
    check
        .args(["check", "--config"])
        .arg(project.join("nethook.toml"));
    // The first compile of a Python or JavaScript component (its
    // interpreter) takes minutes on a loaded two-core machine.
    let c = run_within(check, std::time::Duration::from_secs(900));
    assert_eq!(c.code, EXIT_OK, "{c:?}");
    let mut test = nethook();
    test.arg("test").arg(project).arg("--json");
    let t = run(test);
    assert_eq!(t.code, EXIT_OK, "{t:?}");
    let doc = json(&t);
    let line = format!("hello from {name} at vpp-running");
    let write = serde_json::json!([{
        "capability": "host-fs",
        "operation": "write",
        "args": format!("/etc/nethook-{name}.last ({} bytes, mode 0644)", line.len() + 1),
        "undo": format!("host-fs.restore /etc/nethook-{name}.last (absent)"),
    }]);
    assert_eq!(doc["plan"], write, "{t:?}");
    assert_eq!(doc["effects"], write, "{t:?}");
    assert_eq!(doc["error"], serde_json::Value::Null, "{t:?}");
    assert_eq!(doc["netns"], serde_json::json!([]), "{t:?}");
    assert_eq!(
        doc["files"],
        serde_json::json!([{
            "path": format!("/etc/nethook-{name}.last"),
            "change": "added",
            "removed": [],
            "added": [line],
        }]),
        "{t:?}"
    );
    let text = std::fs::read_to_string(project.join("nethook.toml")).unwrap();
    let without = project.join("no-netlink.toml");
    std::fs::write(&without, text.replace("netlink = \"read\"", "")).unwrap();
    let mut denied = nethook();
    denied.arg("test").arg(&without);
    let d = run(denied);
    assert_eq!(d.code, EXIT_HOOK_FAILED, "{d:?}");
    assert!(
        d.stdout.contains(&format!("result: error: {name} at vpp-running: hook returned an error: denied: reading netlink state is not granted (grants.netlink = \"read\")")),
        "{d:?}"
    );
    assert!(!d.stdout.contains("trapped"), "{d:?}");
}

#[test]
fn a_new_python_project_builds_and_an_uncaught_denial_is_a_hook_error() {
    let (_tmp, project) = made_and_built("python", "pyhook", &[]);
    assert_template_runs(&project, "pyhook");
}

#[test]
fn a_new_javascript_project_builds_and_an_uncaught_denial_is_a_hook_error() {
    let componentize_js = std::env::var("COMPONENTIZE_JS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/nethook/componentize-js/node_modules/.bin/componentize-js",
            std::env::var("HOME").unwrap()
        )
    });
    assert!(
        Path::new(&componentize_js).exists(),
        "{componentize_js} missing: scripts/test.sh installs componentize-js 0.23.0"
    );
    let (_tmp, project) = made_and_built("js", "jshook", &[("COMPONENTIZE_JS", componentize_js)]);
    assert_template_runs(&project, "jshook");
}

#[test]
fn nethook_test_diffs_a_fixture_root_and_the_namespace() {
    let scratch = Scratch::new();
    let fixture = scratch.path("fixture");
    std::fs::create_dir_all(fixture.join("etc/nethook-test")).unwrap();
    std::fs::write(fixture.join("etc/nethook-test/admin.conf"), "admin\n").unwrap();
    std::fs::write(fixture.join("etc/nethook-test/old.conf"), "old\n").unwrap();
    let config = scratch.write(
        "txn.toml",
        &format!(
            "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"txn\"\n[hooks.txn]\ncomponent = {:?}\n\
             [hooks.txn.config]\nlink = \"uplink0\"\nnew_name = \"upl1\"\n\
             [hooks.txn.grants]\nnetlink = \"write\"\nlinks = [\"uplink0\", \"upl1\"]\ntables = [100]\n\
             write_paths = [\"/etc/nethook-test/*\"]\n",
            guest("txnguest")
        ),
    );
    let mut t = nethook();
    t.arg("test")
        .arg(&config)
        .arg("--fixture")
        .arg(&fixture)
        .arg("--json");
    let t = run(t);
    assert_eq!(t.code, EXIT_OK, "{t:?}");
    let doc = json(&t);
    assert_eq!(
        doc["files"],
        serde_json::json!([
            {"path": "/etc/nethook-test/admin.conf", "change": "changed", "removed": ["admin"], "added": ["replaced"]},
            {"path": "/etc/nethook-test/new.conf", "change": "added", "removed": [], "added": ["created"]},
            {"path": "/etc/nethook-test/old.conf", "change": "removed", "removed": ["old"], "added": []},
        ]),
        "{t:?}"
    );
    // The fixture itself is a copy: untouched.
    assert_eq!(
        std::fs::read_to_string(fixture.join("etc/nethook-test/admin.conf")).unwrap(),
        "admin\n"
    );
    let views: Vec<&str> = doc["netns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["view"].as_str().unwrap())
        .collect();
    assert_eq!(views, ["link", "address", "route", "rule"], "{t:?}");
    let added = |view: usize| doc["netns"][view]["added"].to_string();
    assert!(
        added(0).contains("upl1") && added(0).contains("1400"),
        "{t:?}"
    );
    assert!(
        added(1).contains("10.66.0.1") && added(1).contains("fd66::1"),
        "{t:?}"
    );
    assert!(added(2).contains("10.67.0.0"), "{t:?}");
    assert!(added(3).contains("1100"), "{t:?}");
}
