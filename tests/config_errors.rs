//! A bad config is reported with its file, line and column, and nothing runs.

mod common;

use common::*;

/// A config whose points would leave marks if anything ran.
fn marked(scratch: &Scratch, broken: &str) -> std::path::PathBuf {
    let marker = scratch.path("ran");
    scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"script\"\nscript = \"touch {}\"\n{broken}",
        marker.display()
    ))
}

fn assert_refused(broken: &str, want: &str) {
    let scratch = Scratch::new();
    let config = marked(&scratch, broken);
    let before = scratch.snapshot();
    for sub in ["run", "check"] {
        let mut cmd = nethook();
        cmd.arg(sub);
        if sub == "run" {
            cmd.arg("vpp-running");
        }
        cmd.arg("--config").arg(&config);
        let r = run(cmd);
        assert_eq!(r.code, EXIT_CONFIG, "{sub}: {r:?}");
        let first = r
            .stderr
            .lines()
            .find(|l| l.starts_with("nethook: error:"))
            .unwrap_or_default();
        assert_eq!(
            first,
            format!("nethook: error: {}:{want}", config.display()),
            "{sub}: {r:?}"
        );
        assert!(r.stdout.is_empty(), "{sub}: {r:?}");
    }
    assert_eq!(scratch.snapshot(), before, "a refused config changed files");
    assert!(!scratch.path("ran").exists());
    assert!(!scratch.path("state").exists());
}

// The first three lines of every config here are state_dir, cache_dir and
// `[points.vpp-running]` with handler and script, so the broken part starts
// on line 6.

#[test]
fn an_unknown_key_is_named_with_its_location() {
    assert_refused(
        "[points.vpp-done-ok]\nhandler = \"none\"\nrun_as = \"root\"\n",
        "8:1: unknown field `run_as`, expected one of `handler`, `handlers`, `hook`, `script`, `timeout`, `on_failure`, `verify`, `links`, `kinds`, `drivers`",
    );
}

#[test]
fn a_bad_value_is_named_with_its_location() {
    assert_refused(
        "[points.vpp-done-ok]\nhandler = \"wasmtime\"\n",
        "7:11: unknown variant `wasmtime`, expected one of `builtin`, `wasm`, `script`, `none`",
    );
}

#[test]
fn a_bad_duration_is_named_with_its_location() {
    assert_refused(
        "[defaults]\ntimeout = \"soon\"\n",
        "7:11: invalid duration \"soon\": expected number at 0 (write e.g. \"30s\", \"500ms\" or an integer number of seconds)",
    );
}

#[test]
fn a_toml_syntax_error_is_located() {
    assert_refused(
        "[points.vpp-done-ok\nhandler = \"none\"\n",
        "6:20: unclosed table, expected `]`",
    );
}

#[test]
fn an_unknown_hook_point_is_named() {
    assert_refused(
        "[points.vpp-finished]\nhandler = \"none\"\n",
        "6:9: unknown field `vpp-finished`, expected one of `before-if-read`, `before-vpp-run`, `vpp-running`, `vpp-done-ok`, `vpp-errored`, `link-added`, `link-removed`, `link-down`, `link-up`, `address-lost`",
    );
}

#[test]
fn a_point_naming_a_missing_hook_is_refused() {
    assert_refused(
        "[points.vpp-done-ok]\nhandler = \"wasm\"\nhook = \"cleanup\"\n",
        "8:8: [points.vpp-done-ok]: no hook named \"cleanup\" (defined: none)",
    );
}

#[test]
fn the_offending_line_is_shown_under_the_message() {
    let scratch = Scratch::new();
    let config = marked(
        &scratch,
        "[hooks.x]\ncomponent = \"x.wasm\"\nmemory = \"lots\"\n",
    );
    let mut cmd = nethook();
    cmd.args(["check", "--config"]).arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
    assert!(r.stderr.contains("\n     8 | memory = \"lots\"\n"), "{r:?}");
}

#[test]
fn a_missing_config_file_is_a_config_error() {
    let mut cmd = nethook();
    cmd.args(["check", "--config", "/nonexistent/nethook.toml"]);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
    assert!(
        r.stderr.contains(
            "nethook: error: /nonexistent/nethook.toml: cannot read: No such file or directory"
        ),
        "{r:?}"
    );
}

#[test]
fn a_point_with_both_a_handler_and_a_chain_is_refused() {
    assert_refused(
        "[points.vpp-done-ok]\nhandler = \"none\"\n[[points.vpp-done-ok.handlers]]\nhandler = \"builtin\"\n",
        "8:1: [points.vpp-done-ok]: give either `handler` or [[points.vpp-done-ok.handlers]], not both",
    );
}

#[test]
fn an_oci_tag_without_a_pin_is_refused_naming_the_hook_and_key() {
    assert_refused(
        "[hooks.vendor]\ncomponent = \"oci://127.0.0.1:5000/vendor/v010:1.0\"\n",
        "7:13: [hooks.vendor] component: oci://127.0.0.1:5000/vendor/v010:1.0 names a tag, and a tag moves: pin it by digest (@sha256:…) or give sha256",
    );
}

#[test]
fn a_chain_entry_is_checked_like_a_handler_and_named_by_its_place() {
    assert_refused(
        "[[points.vpp-done-ok.handlers]]\nhandler = \"builtin\"\n[[points.vpp-done-ok.handlers]]\nhandler = \"wasm\"\nhook = \"nope\"\n",
        "10:8: [[points.vpp-done-ok.handlers]] #2: no hook named \"nope\" (defined: none)",
    );
    assert_refused(
        "[[points.vpp-done-ok.handlers]]\nhandler = \"none\"\nrequired = \"yes\"\n",
        "8:12: invalid type: string \"yes\", expected a boolean",
    );
}

#[test]
fn a_malformed_oci_reference_is_refused() {
    assert_refused(
        "[hooks.vendor]\ncomponent = \"oci://127.0.0.1:5000/Vendor:1.0\"\n",
        "7:13: [hooks.vendor] component: \"oci://127.0.0.1:5000/Vendor:1.0\" is not an OCI reference: repository \"Vendor\" must be lowercase letters, digits and . _ - between / (write oci://REGISTRY[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST])",
    );
}

#[test]
fn a_chain_at_an_event_point_is_refused() {
    assert_refused(
        "[[points.link-added.handlers]]\nhandler = \"none\"\n",
        "6:1: [points.link-added]: a chain of handlers runs at the dataplane's points only; an event point has one handler",
    );
}

#[test]
fn a_signature_key_on_a_file_component_is_refused() {
    assert_refused(
        "[hooks.vendor]\ncomponent = \"v.wasm\"\n[hooks.vendor.verify]\nkey = \"cosign.pub\"\n",
        "8:1: [hooks.vendor.verify]: signatures are checked on oci:// components; a file is pinned with sha256",
    );
}
