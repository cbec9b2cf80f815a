//! Hostile hooks, hostile names, hostile files: a guest written to attack
//! the host (tests/guests/hostile), link names and files the node's users
//! control, and registries that lie or stall. Each test asserts the exact
//! refusal or bound, and that the node is as it was.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// A config running the hostile guest at vpp-running with `config` (its
/// `[hooks.hostile.config]` lines) and `grants`.
fn hostile(scratch: &Scratch, config: &str, grants: &str, extra: &str) -> std::path::PathBuf {
    scratch.config(&format!(
        "{extra}\n[points.vpp-running]\nhandler = \"wasm\"\nhook = \"hostile\"\n{}\n[hooks.hostile.grants]\n{grants}\n[hooks.hostile.config]\n{config}\n",
        hook_table("hostile", "hostile", "")
    ))
}

fn run_json(config: &Path, extra: &[&str]) -> Run {
    let mut cmd = nethook();
    cmd.args(["--log-format", "json"])
        .args(extra)
        .args(["run", "vpp-running", "--config"])
        .arg(config);
    run(cmd)
}

/// (what, error) of each refusal the hostile guest logged.
fn refusals(r: &Run) -> Vec<(String, String)> {
    r.json_lines()
        .iter()
        .filter(|v| v["fields"]["hook"] == "hostile" && v["target"] != "nethook::audit")
        .filter_map(|v| {
            let m = v["fields"]["message"].as_str()?;
            let what = m.strip_prefix("refused what=")?;
            // `refused what=X error="..."` (quoted when not a plain word).
            let (what, error) = what.split_once(" error=")?;
            let error: String = serde_json::from_str(error).unwrap_or_else(|_| error.to_string());
            Some((what.trim_matches('"').to_string(), error))
        })
        .collect()
}

/// Bytes in the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() {
                bytes_under(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}

#[test]
fn a_hook_with_no_grants_cannot_grow_state_past_its_limit() {
    let scratch = Scratch::new();
    let config = hostile(&scratch, "attack = \"state-flood\"", "", "");
    let r = run_json(&config, &[]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let refused = refusals(&r);
    let big: Vec<_> = refused
        .iter()
        .filter(|(w, _)| w.starts_with("big "))
        .collect();
    assert_eq!(big.len(), 12, "{refused:?}");
    for (_, e) in &big {
        assert_eq!(
            e,
            "invalid: value for \"big\" is 8388608 bytes; at most 65536"
        );
    }
    // Keys of 6 bytes with 1 KiB values: the 1019th would pass 1 MiB.
    assert_eq!(
        refused.last().unwrap(),
        &(
            "key 1018".to_string(),
            "invalid: hook state would hold 1049570 bytes; at most 1048576".to_string()
        )
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path("state/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["hooks"]["hostile"].as_object().unwrap().len(), 1018);
    assert!(state["hooks"]["hostile"].get("big").is_none());
    // The state it may keep, its journal, nothing of the refused 96 MiB.
    let on_disk = bytes_under(&scratch.path("state"));
    println!("state flood: {on_disk} bytes under the state dir");
    assert!(on_disk < 3 << 20, "{on_disk} bytes under the state dir");
}

#[test]
fn a_hook_rewriting_its_state_in_a_loop_is_bounded_per_run() {
    let scratch = Scratch::new();
    let config = hostile(&scratch, "attack = \"state-churn\"", "", "");
    let r = run_json(&config, &[]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let refused = refusals(&r);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].1.starts_with("invalid: this run has journaled "),
        "{refused:?}"
    );
    assert!(
        refused[0]
            .1
            .ends_with(" more would pass 4194304: change state less often in one run"),
        "{refused:?}"
    );
    let on_disk = bytes_under(&scratch.path("state"));
    println!("state churn: {on_disk} bytes under the state dir");
    assert!(on_disk < 10 << 20, "{on_disk} bytes under the state dir");
}

#[test]
fn nothing_a_hook_logs_or_returns_forges_a_line_of_nethooks() {
    let scratch = Scratch::new();
    let config = hostile(&scratch, "attack = \"log-forge\"", "", "");
    let mut cmd = nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    // Every line is one of nethook's: a log line or its final error.
    for line in r.stderr.lines() {
        assert!(
            !line.contains("FORGED") || !line.trim_start().starts_with("FORGED"),
            "{line:?}"
        );
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "{line:?}");
    }
    assert!(
        r.stderr
            .contains(r"ok\nFORGED nethook: level=ERROR hook=builtin"),
        "{r:?}"
    );
    assert!(r.stderr.contains(r#""k\nFORGED level=ERROR"=v"#), "{r:?}");
    assert!(r.stderr.contains(r#"v="a\nFORGED level=ERROR""#), "{r:?}");
    assert!(r.stderr.contains(r"out\rFORGED\u{1b}[31m red"), "{r:?}");
    assert!(
        r.stderr.lines().any(|l| l
            == r"nethook: error: hostile at vpp-running: hook returned an error: boom\nFORGED nethook: level=ERROR"),
        "{r:?}"
    );
    // JSON: one object per line, whatever the hook wrote.
    let j = run_json(&config, &[]);
    for line in j
        .stderr
        .lines()
        .filter(|l| !l.starts_with("nethook: error:"))
    {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("{line:?} is not one JSON object: {e}"));
    }
}

#[test]
fn a_denied_call_in_a_loop_is_audited_a_bounded_number_of_times() {
    let scratch = Scratch::new();
    let config = hostile(&scratch, "attack = \"denied-loop\"", "", "");
    // The hook's own timeout, 5 s.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[hooks.hostile]\n", "[hooks.hostile]\ntimeout = \"5s\"\n");
    std::fs::write(&config, text).unwrap();
    let audit = scratch.path("audit.jsonl");
    let mut cmd = nethook();
    cmd.arg("--audit")
        .arg(&audit)
        .args(["run", "vpp-running", "--config"])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_TIMED_OUT, "{r:?}");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let denied = records
        .iter()
        .filter(|v| v["operation"] == "restart" && v["hook"] == "hostile")
        .count();
    assert_eq!(denied, 1000, "one record each up to the budget");
    let said = |op: &str| -> Vec<String> {
        records
            .iter()
            .filter(|v| v["operation"] == op && v["capability"] == "audit")
            .map(|v| v["args"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        said("budget"),
        ["1000 records spent: further calls are counted, and summarised when the run ends"]
    );
    // The count comes when the run ends; a run given up on while its guest
    // is still in a host call (on a loaded machine) ends without it.
    let summary = said("suppressed");
    assert!(summary.len() <= 1, "{summary:?}");
    let more: u64 = match summary.first() {
        Some(args) => {
            assert!(
                args.ends_with(
                    " more systemd.restart call(s), denied, past the audit budget of 1000"
                ),
                "{args}"
            );
            args.split(' ').next().unwrap().parse().unwrap()
        }
        None => 0,
    };
    assert!(records.len() <= 1002, "{} audit records", records.len());
    let lines = r.stderr.lines().count();
    println!(
        "denied-call loop for 5 s: {} calls, {} audit records, {lines} log lines",
        1000 + more,
        records.len()
    );
    assert!(lines < 1100, "{lines} log lines");
}

#[test]
fn a_flood_on_stdout_is_cut_at_the_log_budget() {
    let scratch = Scratch::new();
    let config = hostile(&scratch, "attack = \"stdout-flood\"", "", "");
    let r = run_json(&config, &[]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let from_hook = r
        .json_lines()
        .iter()
        .filter(|v| v["fields"]["hook"] == "hostile" && v["fields"]["stream"] == "stdout")
        .count();
    assert_eq!(from_hook, 10_000);
    assert_eq!(
        r.messages()
            .iter()
            .filter(|m| *m == "log budget of 10000 lines spent; further lines dropped")
            .count(),
        1
    );
}

/// A namespace with two links: `ga` (granted) and `gb` (not), each with a
/// peer network where a gateway could answer.
fn two_links() -> Netns {
    let ns = Netns::new();
    for (link, peer, net) in [("ga", "pa", "10.8.0"), ("gb", "pb", "10.9.0")] {
        ns.exec(&[
            "ip", "link", "add", link, "type", "veth", "peer", "name", peer,
        ]);
        ns.exec(&["ip", "addr", "add", &format!("{net}.2/24"), "dev", link]);
        ns.exec(&["ip", "link", "set", link, "up"]);
        ns.exec(&["ip", "link", "set", peer, "up"]);
    }
    // Carrier comes up on its own time: the routes settle first.
    let until = Instant::now() + Duration::from_secs(10);
    while routes(&ns).contains("linkdown") {
        assert!(
            Instant::now() < until,
            "veths without carrier: {}",
            routes(&ns)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ns
}

fn routes(ns: &Netns) -> String {
    ns.exec(&["ip", "-4", "route", "show", "table", "main"])
}

#[test]
fn a_route_by_gateway_alone_is_judged_on_the_link_the_kernel_would_use() {
    let ns = two_links();
    let scratch = Scratch::new();
    let grants = "netlink = \"write\"\nlinks = [\"ga\"]\ntables = [254]";
    let before = routes(&ns);
    let config = hostile(
        &scratch,
        "attack = \"route-via\"\ngw = \"10.9.0.1\"",
        grants,
        "",
    );
    let mut cmd = ns.nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        refusals(&r),
        [(
            "route".to_string(),
            "denied: the gateway 10.9.0.1 is reached through \"gb\": link \"gb\" is not granted (grants.links)".to_string()
        )]
    );
    assert_eq!(routes(&ns), before, "the node's routes changed");

    // Through the granted link: made, and pinned to it.
    let config = hostile(
        &scratch,
        "attack = \"route-via\"\ngw = \"10.8.0.1\"",
        grants,
        "",
    );
    let mut cmd = ns.nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(refusals(&r), []);
    assert!(
        routes(&ns).contains("default via 10.8.0.1 dev ga proto static metric 1"),
        "{}",
        routes(&ns)
    );
}

#[test]
fn a_rule_for_every_link_into_the_main_table_is_refused() {
    let ns = two_links();
    let scratch = Scratch::new();
    let before = ns.exec(&["ip", "-4", "rule", "show"]);
    let config = hostile(
        &scratch,
        "attack = \"rule-main\"",
        "netlink = \"write\"\nlinks = [\"ga\"]\ntables = [254]",
        "",
    );
    let mut cmd = ns.nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        refusals(&r),
        [(
            "rule".to_string(),
            "denied: a rule without an input link may not lead to table 254 (the kernel's main table, with routes through every link): name a granted input link, or use a table of the hook's own".to_string()
        )]
    );
    assert_eq!(ns.exec(&["ip", "-4", "rule", "show"]), before);
}

#[test]
fn settings_that_move_a_granted_connection_elsewhere_are_refused() {
    let scratch = Scratch::new();
    let settings = "802-3-ethernet.mac-address,ethernet.mac-address,match.interface-name,connection.controller,connection.master,connection.interface-name,con.interface,802-3-ethernet.mac";
    let config = hostile(
        &scratch,
        &format!("attack = \"nm-rebind\"\nid = \"uplink\"\nvalue = \"52:54:00:00:00:01\"\nsettings = {settings:?}"),
        "connections = [\"uplink\"]",
        "",
    );
    let r = run_json(&config, &[]);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let refused = refusals(&r);
    let names: Vec<&str> = refused.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(names, settings.split(',').collect::<Vec<_>>());
    for (setting, e) in &refused {
        assert_eq!(
            e,
            &format!("invalid: {setting} cannot be modified by a hook: it names the connection or the device it applies to, which would move its effect outside its grants")
        );
    }
    // Refused before anything ran: nothing journaled, no effect.
    assert!(
        !scratch.path("state/journal").exists()
            || std::fs::read_dir(scratch.path("state/journal"))
                .unwrap()
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().ends_with(".jsonl"))
    );
}

#[test]
fn a_hook_cannot_take_a_name_nethook_acts_under() {
    for reserved in ["builtin", "script", "verify", "nethook"] {
        let scratch = Scratch::new();
        let config = scratch.config(&format!(
            "[hooks.{reserved}]\ncomponent = {:?}\n",
            guest("hostile")
        ));
        let mut cmd = nethook();
        cmd.args(["check", "--config"]).arg(&config);
        let r = run(cmd);
        assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
        let first = r.stderr.lines().next().unwrap();
        assert!(
            first.ends_with(&format!(
                ": hook name {reserved:?} is reserved: the built-in module, legacy scripts, verification and nethook itself act under the names builtin, script, verify, nethook"
            )),
            "{first}"
        );
    }
}

/// Junk in the journal directory: moved aside with a warning, never
/// followed or read as a transaction, never fatal to the run.
#[test]
fn junk_in_the_journal_and_state_files_never_stops_a_run() {
    let scratch = Scratch::new();
    let config = scratch.config("[points.vpp-running]\nhandler = \"none\"\n");
    let journal = scratch.path("state/journal");
    std::fs::create_dir_all(&journal).unwrap();
    let target = scratch.path("target.txt");
    std::fs::write(&target, "not nethook's\n").unwrap();
    std::fs::write(journal.join("1-torn.jsonl"), b"{\"record\":\"begin\xff\n").unwrap();
    std::fs::create_dir(journal.join("2-dir.jsonl")).unwrap();
    nix::unistd::mkfifo(&journal.join("3-fifo.jsonl"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink(&target, journal.join("4-link.jsonl")).unwrap();
    std::os::unix::fs::symlink(&target, scratch.path("state/state.json")).unwrap();
    for _ in 0..2 {
        let r = run_within(
            {
                let mut c = nethook();
                c.args(["--log-format", "json", "run", "vpp-running", "--config"])
                    .arg(&config);
                c
            },
            Duration::from_secs(30),
        );
        assert_eq!(r.code, EXIT_OK, "{r:?}");
    }
    let mut aside: Vec<String> = std::fs::read_dir(journal.join("quarantine"))
        .unwrap()
        .map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.split_once('-').unwrap().1.to_string()
        })
        .collect();
    aside.sort();
    assert_eq!(
        aside,
        [
            "1-torn.jsonl",
            "2-dir.jsonl",
            "3-fifo.jsonl",
            "4-link.jsonl"
        ]
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "not nethook's\n");
}

/// In `nethook watch`, a script handler's link name is data: a name that
/// is shell code reaches a script as `$1` and `$NETHOOK_LINK`, and is
/// never put into its text (where bash would run it).
#[test]
fn a_link_named_like_shell_code_is_never_run_as_shell() {
    let ns = Netns::new();
    let scratch = Scratch::new();
    let out = scratch.path("names.out");
    let config = scratch.config(&format!(
        "host_root = {:?}\n[watch]\ndebounce = \"0s\"\nretry = []\n\
         [points.link-added]\nhandler = \"script\"\nlinks = [\"*\"]\n\
         script = \"printf '%s|%s' \\\"$1\\\" \\\"$NETHOOK_LINK\\\" >> {out}\"\n\
         [points.link-removed]\nhandler = \"script\"\nlinks = [\"*\"]\n\
         script = \"echo __VPP_DATAPLANE_IF__ >> {out}\"\n",
        scratch.path("root"),
        out = out.display()
    ));
    std::fs::create_dir_all(scratch.path("root")).unwrap();
    let log = scratch.path("watch.log");
    let mut cmd = ns.nethook();
    cmd.args(["watch", "--config"])
        .arg(&config)
        .current_dir(scratch.path(""))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut watch = cmd.spawn().unwrap();
    let wait_for = |text: &str| {
        let until = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(text)
        {
            assert!(Instant::now() < until, "no {text:?} in the log");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("watching");
    ns.exec(&[
        "ip", "link", "add", "a;id>pwn", "type", "veth", "peer", "name", "p0",
    ]);
    wait_for("event handled");
    ns.exec(&["ip", "link", "del", "a;id>pwn"]);
    wait_for("giving up on this event");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    watch.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !scratch.path("pwn").exists(),
        "the link's name ran as shell"
    );
    assert!(
        text.contains(
            r#"the link name "a;id>pwn" is not put into the script's text for __VPP_DATAPLANE_IF__"#
        ),
        "{text}"
    );
    // As data, byte for byte (p0, its peer, came and went too).
    let names = std::fs::read_to_string(&out).unwrap();
    assert!(names.contains("a;id>pwn|a;id>pwn"), "{names:?}");
    assert!(!names.contains("__VPP_DATAPLANE_IF__"), "{names:?}");
}

/// A registry that answers one byte at a time: the point is held at most
/// `[registries] timeout`, then refused with exit 10.
#[test]
fn a_registry_that_trickles_holds_a_point_only_until_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
                let _ = s.write_all(head.as_bytes());
                loop {
                    if s.write_all(b" ").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    let scratch = Scratch::new();
    let digest = "0".repeat(64);
    let config = scratch.config(&format!(
        "[registries]\ntimeout = \"2s\"\n[points.vpp-running]\nhandler = \"wasm\"\nhook = \"slow\"\n[hooks.slow]\ncomponent = \"oci://127.0.0.1:{port}/slow/hook@sha256:{digest}\"\n"
    ));
    let mut cmd = nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(&config);
    let started = Instant::now();
    let r = run_within(cmd, Duration::from_secs(60));
    let held = started.elapsed();
    assert_eq!(r.code, 10, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "cannot reach registry 127.0.0.1:{port}: no complete answer within 2s ([registries] timeout)"
        )),
        "{r:?}"
    );
    println!("a trickling registry held the point {held:?} (timeout 2 s)");
}

/// A registry whose manifest declares a component larger than any hook:
/// refused before a byte of it is downloaded.
#[test]
fn a_component_larger_than_any_hook_is_refused_from_its_descriptor() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": format!("sha256:{}", "1".repeat(64)), "size": 2},
        "layers": [{"mediaType": "application/wasm", "digest": format!("sha256:{}", "2".repeat(64)), "size": 1u64 << 30}]
    })
    .to_string();
    let digest = {
        use sha2::Digest;
        hex_of(&sha2::Sha256::digest(manifest.as_bytes()))
    };
    let served = manifest.clone();
    let served_digest = digest.clone();
    let blob_asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = blob_asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, ctype, body) = if path.contains("/manifests/") {
                (
                    "200 OK",
                    "application/vnd.oci.image.manifest.v1+json",
                    served.clone(),
                )
            } else if path.contains("/blobs/") {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                ("404 Not Found", "text/plain", String::new())
            } else {
                ("200 OK", "application/json", "{}".to_string())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nDocker-Content-Digest: sha256:{served_digest}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let scratch = Scratch::new();
    let config = scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"big\"\n[hooks.big]\ncomponent = \"oci://127.0.0.1:{port}/big/hook@sha256:{digest}\"\n"
    ));
    let mut cmd = nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(&config);
    let r = run_within(cmd, Duration::from_secs(60));
    assert_eq!(r.code, 10, "{r:?}");
    assert!(
        r.stderr.contains(
            "the component's layer declares 1073741824 bytes; at most 268435456 are accepted"
        ),
        "{r:?}"
    );
    assert!(!blob_asked.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        !scratch.path("cache/oci/blobs").exists()
            || bytes_under(&scratch.path("cache/oci/blobs")) == 0
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A link name a hook used earlier is looked up again once any link was
/// renamed: the second call acts on the link that has the name now, not on
/// the one that had it at the first call.
#[test]
fn a_link_renamed_between_two_calls_is_not_acted_on_by_its_old_name() {
    use nethook::caps::exec::{ExecMode, Node};
    use nethook::caps::grants::{Glob, NetlinkAccess};
    use nethook::caps::{Audit, Caller, Grants, Host, Mode, Session};
    let ns = Netns::new();
    ns.exec(&[
        "ip", "link", "add", "x1", "type", "veth", "peer", "name", "x2",
    ]);
    let scratch = Scratch::new();
    let path = format!("/run/netns/{}", ns.name);
    let root = scratch.path("");
    std::thread::scope(|s| {
        s.spawn(|| {
            let target = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&target, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let session = Session {
                state_dir: root.join("state"),
                node: Node {
                    root: root.clone(),
                    exec: ExecMode::Chroot,
                    command_timeout: Duration::from_secs(10),
                },
                mode: Mode::Apply,
                audit: Audit::default(),
                effects: Default::default(),
                txn: None,
            };
            let grants = Grants {
                netlink: NetlinkAccess::Write,
                links: vec![Glob::new("x1").unwrap()],
                ..Grants::default()
            };
            let caller = Caller {
                hook: "h".into(),
                point: nethook::DataplanePoint::VppRunning.into(),
            };
            let mut host = Host::new(caller, grants, session);
            host.netlink().add_address("x1", "10.1.0.1", 24).unwrap();
            // Someone else swaps the names.
            sh(&["ip", "link", "set", "x1", "name", "x9"]);
            sh(&["ip", "link", "set", "x2", "name", "x1"]);
            host.netlink().add_address("x1", "10.1.0.2", 24).unwrap();
        })
        .join()
        .unwrap()
    });
    let on = |link: &str| ns.exec(&["ip", "-4", "-o", "addr", "show", "dev", link]);
    assert!(on("x1").contains("10.1.0.2/24"), "{}", on("x1"));
    assert!(!on("x9").contains("10.1.0.2/24"), "{}", on("x9"));
    assert!(on("x9").contains("10.1.0.1/24"), "{}", on("x9"));
}
