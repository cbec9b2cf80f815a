//! The sandbox: deadlines, memory caps, and no ambient authority.

mod common;

use std::time::Duration;

use common::*;

fn run_hook(scratch: &Scratch, guest_name: &str, extra: &str) -> Run {
    let config = scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"{guest_name}\"\n{}",
        hook_table(guest_name, guest_name, extra)
    ));
    let mut cmd = nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(&config);
    run_within(cmd, Duration::from_secs(60))
}

#[test]
fn a_guest_that_loops_forever_is_stopped_at_its_deadline() {
    let scratch = Scratch::new();
    let r = run_hook(&scratch, "looper", "timeout = \"1s\"");
    assert_eq!(r.code, EXIT_TIMED_OUT, "{r:?}");
    assert!(
        r.stderr
            .contains("nethook: error: looper at vpp-running: hook timed out after 1s"),
        "{r:?}"
    );
    // It did start: the deadline stopped a running guest, not a slow load.
    assert!(
        r.hook_messages("looper")
            .contains(&"looping forever".to_string()),
        "{r:?}"
    );
}

#[test]
fn a_guest_that_grows_memory_past_its_cap_traps() {
    let scratch = Scratch::new();
    let r = run_hook(&scratch, "memhog", "memory = \"8MiB\"");
    assert_eq!(r.code, EXIT_TRAPPED, "{r:?}");
    assert!(
        r.stderr.contains(
            "nethook: error: memhog at vpp-running: hook trapped: memory cap of 8.0 MiB exceeded"
        ),
        "{r:?}"
    );
}

#[test]
fn the_default_memory_cap_is_64_mib() {
    let scratch = Scratch::new();
    let r = run_hook(&scratch, "memhog", "");
    assert_eq!(r.code, EXIT_TRAPPED, "{r:?}");
    assert!(
        r.stderr.contains("memory cap of 64.0 MiB exceeded"),
        "{r:?}"
    );
}

#[test]
fn a_hook_error_has_its_own_exit_code_and_stderr_is_logged() {
    let scratch = Scratch::new();
    let r = run_hook(&scratch, "failing", "");
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr
            .contains("hook returned an error: uplink <none> () is not ready"),
        "{r:?}"
    );
    let lines = r.json_lines();
    let stderr_line = lines
        .iter()
        .find(|v| v["fields"]["stream"] == "stderr")
        .unwrap_or_else(|| panic!("no stderr line in {r:?}"));
    assert_eq!(
        stderr_line["fields"]["message"],
        "failing on purpose at vpp-running"
    );
    assert_eq!(stderr_line["fields"]["hook"], "failing");
}

#[test]
fn a_guest_has_no_files_environment_arguments_or_sockets() {
    let scratch = Scratch::new();
    let r = {
        let config = scratch.config(&format!(
            "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"prober\"\n{}",
            hook_table("prober", "prober", "")
        ));
        let mut cmd = nethook();
        cmd.env("SECRET_TOKEN", "hunter2")
            .current_dir(scratch.dir.path())
            .args(["--log-format", "json", "run", "vpp-running", "--config"])
            .arg(&config);
        run(cmd)
    };
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        r.hook_messages("prober"),
        vec!["probe read_dir_root=refused read_passwd=refused read_relative=refused create_file=refused env_vars=0 args=0 tcp_connect=refused"]
    );
    assert!(!std::path::Path::new("/tmp/nethook-prober").exists());
}

#[test]
fn a_guest_blocked_in_a_host_call_is_given_up_on_after_its_deadline() {
    let scratch = Scratch::new();
    let r = run_hook(&scratch, "sleeper", "timeout = \"1s\"");
    assert_eq!(r.code, EXIT_TIMED_OUT, "{r:?}");
    assert!(
        r.stderr
            .contains("nethook: error: sleeper at vpp-running: hook timed out after 1s"),
        "{r:?}"
    );
    assert!(r.elapsed < Duration::from_secs(10), "{r:?}");
}

#[test]
fn output_past_the_cap_is_dropped_not_fatal() {
    let scratch = Scratch::new();
    let r = run_hook(&scratch, "chatty", "");
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let lines: Vec<String> = r
        .json_lines()
        .iter()
        .filter(|v| v["fields"]["stream"] == "stdout")
        .map(|v| v["fields"]["message"].as_str().unwrap().to_string())
        .collect();
    // 1 MiB kept: 1024 whole lines of 1030 bytes with their newline, then part of one.
    assert_eq!(lines.len(), 1019, "{}", lines.len());
    assert!(lines[0].starts_with("00000 x"));
}

#[test]
fn a_guest_cannot_log_without_bound() {
    let scratch = Scratch::new();
    let r = run_hook(
        &scratch,
        "benchguest",
        "[hooks.benchguest.config]\nop = \"log\"\nn = 12000",
    );
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let msgs = r.hook_messages("benchguest");
    assert_eq!(msgs.iter().filter(|m| *m == "trivial").count(), 10_000);
    assert_eq!(
        msgs.last().unwrap(),
        "log budget of 10000 lines spent; further lines dropped"
    );
}
