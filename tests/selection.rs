//! Which handler runs at a point: command line > environment > config file >
//! default built-in, each level tested through the binary, plus the legacy
//! script handler the environment selects.

mod common;

use std::time::Duration;

use common::*;

/// The two lines `check` prints for a point: handler and reason.
fn check_lines(r: &Run, point: &str) -> (String, String) {
    let lines: Vec<&str> = r.stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with(&format!("{point:<15} ")))
        .unwrap_or_else(|| panic!("no line for {point} in {r:?}"));
    (lines[i][16..].to_string(), lines[i + 1].trim().to_string())
}

fn check(config: Option<&std::path::Path>, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = nethook();
    cmd.arg("check");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    r
}

const BUILTIN: &str = "builtin: built-in NetworkManager/udev module";

#[test]
fn check_lists_all_five_points_with_handler_and_reason() {
    let scratch = Scratch::new();
    let config = scratch.config(&format!(
        "[points.before-vpp-run]\nhandler = \"none\"\n\
         [points.vpp-running]\nhandler = \"wasm\"\nhook = \"inventory\"\n\
         [points.vpp-done-ok]\nhandler = \"script\"\nscript = \"true\"\ntimeout = \"5s\"\n{}",
        hook_table("inventory", "inventory", "")
    ));
    let r = check(Some(&config), &[], &[]);
    let src = format!("config: {}", config.display());
    assert_eq!(
        check_lines(&r, "before-if-read"),
        (BUILTIN.into(), "why: default: built-in profile".into())
    );
    assert_eq!(
        check_lines(&r, "before-vpp-run"),
        ("none".into(), format!("why: {src}"))
    );
    assert_eq!(
        check_lines(&r, "vpp-running"),
        (
            format!("wasm inventory ({})", guest("inventory").display()),
            format!("why: {src}")
        )
    );
    assert_eq!(
        check_lines(&r, "vpp-done-ok"),
        ("script \"true\"".into(), format!("why: {src}"))
    );
    assert_eq!(
        check_lines(&r, "vpp-errored"),
        (BUILTIN.into(), "why: default: built-in profile".into())
    );
    assert!(
        r.stdout
            .contains("status: ok: legacy script, not sandboxed, timeout 5s"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("status: ok: component targets nethook:hooks@0.1.1, sha256 "),
        "{r:?}"
    );
}

#[test]
fn default_is_the_builtin_module() {
    let r = check(None, &[], &[]);
    assert!(
        r.stdout.starts_with("config: the embedded default\n"),
        "{r:?}"
    );
    for point in [
        "before-if-read",
        "before-vpp-run",
        "vpp-running",
        "vpp-done-ok",
        "vpp-errored",
    ] {
        assert_eq!(
            check_lines(&r, point),
            (BUILTIN.into(), "why: default: built-in profile".into())
        );
    }
    // The built-in module runs on the configured host root.
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("host")).unwrap();
    let config = scratch.config(&format!("host_root = {:?}\n", scratch.path("host")));
    let mut cmd = nethook();
    cmd.args([
        "--log-format",
        "json",
        "run",
        "vpp-running",
        "--uplink",
        "eth9",
        "--config",
    ])
    .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        r.hook_messages("builtin"),
        // Nothing restarts by default, and with no network service and no
        // tap there is no lease to take over: the detection alone.
        vec!["detected systemd=no udev=no network_manager_installed=no network_service=none"]
    );
}

/// A script that records how it was called.
fn recorder(scratch: &Scratch) -> (String, std::path::PathBuf) {
    let out = scratch.path("script-ran");
    (
        format!(
            "echo \"$0 $1\" > {}; echo hello from the script; echo oops >&2",
            out.display()
        ),
        out,
    )
}

#[test]
fn the_environment_script_beats_the_config_file() {
    let scratch = Scratch::new();
    let config = scratch.config("[points.vpp-running]\nhandler = \"none\"\n");
    let (script, out) = recorder(&scratch);
    let env = [("CALICOVPP_HOOK_VPP_RUNNING", script.as_str())];
    let r = check(Some(&config), &env, &[]);
    assert_eq!(
        check_lines(&r, "vpp-running"),
        (
            format!("script {script:?}"),
            "why: env: CALICOVPP_HOOK_VPP_RUNNING is set to a script".into()
        )
    );
    // Other points keep their own selection.
    assert_eq!(
        check_lines(&r, "vpp-done-ok").1,
        "why: default: built-in profile"
    );

    let mut cmd = nethook();
    cmd.env("CALICOVPP_HOOK_VPP_RUNNING", &script)
        .args([
            "--log-format",
            "json",
            "run",
            "vpp-running",
            "--uplink",
            "ens5",
            "--uplink",
            "ens6",
            "--config",
        ])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    // Called as the dataplane does: $0 is the point, $1 the first uplink.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "VPP_RUNNING ens5\n");
    let lines = r.json_lines();
    let output: Vec<(String, String)> = lines
        .iter()
        .filter(|v| v["fields"]["hook"] == "script")
        .map(|v| {
            (
                v["fields"]["stream"].as_str().unwrap_or("").to_string(),
                v["fields"]["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        output,
        vec![
            ("stdout".to_string(), "hello from the script".to_string()),
            ("stderr".to_string(), "oops".to_string())
        ]
    );
}

#[test]
fn the_environment_selects_the_builtin_modules_compatible_mode() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("host")).unwrap();
    let config = scratch.config(&format!(
        "host_root = {:?}\n[points.vpp-running]\nhandler = \"builtin\"\n[points.vpp-done-ok]\nhandler = \"wasm\"\nhook = \"inventory\"\n{}",
        scratch.path("host"),
        hook_table("inventory", "inventory", "")
    ));
    let env = [("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "false")];
    let r = check(Some(&config), &env, &[]);
    let compat = "status: ok: CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false: the built-in module runs in its dataplane-compatible mode (as the dataplane's default_hook.sh): dns=none edited into NetworkManager.conf, the network service restarted at every undo";
    assert_eq!(check_lines(&r, "vpp-running").0, BUILTIN);
    assert_eq!(check_status(&r, "vpp-running"), compat);
    assert_eq!(check_status(&r, "before-if-read"), compat);
    // A WASM hook is not the built-in module: it runs as configured.
    assert!(
        check_lines(&r, "vpp-done-ok")
            .0
            .starts_with("wasm inventory"),
        "{r:?}"
    );

    let mut cmd = nethook();
    cmd.env("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "false")
        .args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.messages().iter().any(|m| m.ends_with(
            compat.trim_start_matches("status: ok: CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false: ")
        )),
        "{r:?}"
    );
}

/// The `status:` line `check` prints for a point.
fn check_status(r: &Run, point: &str) -> String {
    let lines: Vec<&str> = r.stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with(&format!("{point:<15} ")))
        .unwrap_or_else(|| panic!("no line for {point} in {r:?}"));
    lines[i + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("status: "))
        .unwrap()
        .to_string()
}

#[test]
fn the_command_line_beats_the_environment() {
    let scratch = Scratch::new();
    let (script, out) = recorder(&scratch);
    let env = [
        ("CALICOVPP_HOOK_VPP_RUNNING", script.as_str()),
        ("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "false"),
    ];
    let r = check(
        None,
        &env,
        &[
            "--handler",
            "vpp-running=none",
            "--handler",
            "vpp-done-ok=builtin",
        ],
    );
    assert_eq!(
        check_lines(&r, "vpp-running"),
        ("none".into(), "why: cli: --handler vpp-running=none".into())
    );
    assert_eq!(
        check_lines(&r, "vpp-done-ok"),
        (
            BUILTIN.into(),
            "why: cli: --handler vpp-done-ok=builtin".into()
        )
    );

    let mut cmd = nethook();
    cmd.env("CALICOVPP_HOOK_VPP_RUNNING", &script).args([
        "run",
        "vpp-running",
        "--handler",
        "vpp-running=none",
    ]);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        !out.exists(),
        "the environment's script ran despite the flag"
    );
}

#[test]
fn bad_settings_outside_the_file_are_named() {
    let mut cmd = nethook();
    cmd.env("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "maybe")
        .arg("check");
    let r = run(cmd);
    assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
    assert!(
        r.stderr.contains(
            "environment CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=\"maybe\" is not a boolean"
        ),
        "{r:?}"
    );
    let mut cmd = nethook();
    cmd.args(["check", "--handler", "vpp-running=wasm:nothere"]);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
    assert!(
        r.stderr
            .contains("--handler vpp-running=wasm:nothere: no hook named \"nothere\""),
        "{r:?}"
    );
    let mut cmd = nethook();
    cmd.args(["run", "vpp-started"]);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
    assert!(
        r.stderr.contains("unknown hook point \"vpp-started\""),
        "{r:?}"
    );
}

#[test]
fn a_failing_script_and_a_hanging_script_have_their_exit_codes() {
    let mut cmd = nethook();
    cmd.args([
        "run",
        "vpp-errored",
        "--handler",
        "vpp-errored=script:exit 3",
    ]);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr
            .contains("script at vpp-errored: hook returned an error: script exited with status 3"),
        "{r:?}"
    );

    let scratch = Scratch::new();
    let config = scratch.config(
        "[points.vpp-done-ok]\nhandler = \"script\"\nscript = \"sleep 60 & sleep 60; echo late\"\ntimeout = \"1s\"\n",
    );
    let mut cmd = nethook();
    cmd.args(["run", "vpp-done-ok", "--config"]).arg(&config);
    let r = run_within(cmd, Duration::from_secs(20));
    assert_eq!(r.code, EXIT_TIMED_OUT, "{r:?}");
    assert!(
        r.stderr
            .contains("script at vpp-done-ok: hook timed out after 1s"),
        "{r:?}"
    );
    assert!(r.elapsed < Duration::from_secs(10), "{r:?}");
}

#[test]
fn a_script_leaving_a_process_behind_does_not_hang_nethook() {
    let scratch = Scratch::new();
    let config = scratch.config(
        "[points.vpp-running]\nhandler = \"script\"\nscript = \"sleep 60 & echo started\"\ntimeout = \"2s\"\n",
    );
    let mut cmd = nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(&config);
    let r = run_within(cmd, Duration::from_secs(20));
    // The script itself succeeded; what it left behind is killed at the deadline.
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(r.stderr.contains("started"), "{r:?}");
}
