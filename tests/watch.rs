//! `nethook watch` in network namespaces the tests create: real links, real
//! rtnetlink events, the event hook (tests/guests/evlog) or a script run
//! for them, counted from the audit file or the script's own output.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A running `nethook watch`, its stderr and audit in the scratch dir.
struct Watch {
    child: Option<Child>,
    log: PathBuf,
    audit: PathBuf,
}

impl Watch {
    fn start(ns: &Netns, scratch: &Scratch, config: &std::path::Path) -> Watch {
        let (log, audit) = (scratch.path("watch.log"), scratch.path("audit.jsonl"));
        let mut c = ns.nethook();
        c.arg("--audit")
            .arg(&audit)
            .args(["watch", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let w = Watch {
            child: Some(c.spawn().expect("spawn nethook watch")),
            log,
            audit,
        };
        w.wait_log("watching", 1);
        w
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// (point, link) of every netlink get-link the event hook made: one per
    /// run of the hook, in order.
    fn runs(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["hook"] == "ev" && v["operation"] == "get-link")
            .map(|v| {
                (
                    v["point"].as_str().unwrap().to_string(),
                    v["args"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn count(&self, point: &str, link: &str) -> usize {
        self.runs()
            .iter()
            .filter(|(p, l)| p == point && l == link)
            .count()
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut(&Watch) -> bool) {
        let until = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_log(&self, text: &str, n: usize) {
        self.wait_until(&format!("{n} x {text:?} in the log"), |w| {
            w.log().matches(text).count() >= n
        });
    }

    fn wait_runs(&self, n: usize) {
        // A substring count: cheaper than parsing a long audit file each poll.
        self.wait_until(&format!("{n} hook runs"), |w| {
            std::fs::read_to_string(&w.audit)
                .unwrap_or_default()
                .lines()
                .filter(|l| {
                    l.contains("\"operation\":\"get-link\"") && l.contains("\"hook\":\"ev\"")
                })
                .count()
                >= n
        });
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
    }

    /// SIGTERM, and the exit code.
    fn stop(&mut self) -> i32 {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let mut child = self.child.take().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < until, "watch ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A config whose event points run the evlog hook for `links`.
fn config(scratch: &Scratch, watch: &str, points: &[&str], links: &str, hook: &str) -> PathBuf {
    let mut body = format!("host_root = {:?}\n[watch]\n{watch}\n", scratch.path("root"));
    for p in points {
        body += &format!("[points.{p}]\nhandler = \"wasm\"\nhook = \"ev\"\nlinks = {links}\n");
    }
    body += &format!(
        "[hooks.ev]\ncomponent = {:?}\n[hooks.ev.grants]\nnetlink = \"read\"\n[hooks.ev.config]\n{hook}\n",
        guest("evlog")
    );
    std::fs::create_dir_all(scratch.path("root")).unwrap();
    scratch.config(&body)
}

fn batch(ns: &Netns, scratch: &Scratch, lines: &[String]) {
    let path = scratch.write("batch", &(lines.join("\n") + "\n"));
    sh(&["ip", "-n", &ns.name, "-batch", path.to_str().unwrap()]);
}

#[test]
fn a_burst_of_links_is_reported_once_each_added_then_removed() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    let cfg = config(
        &scratch,
        "debounce = \"100ms\"",
        &["link-added", "link-removed"],
        "[\"w*\"]",
        "",
    );
    let mut w = Watch::start(&ns, &scratch, &cfg);
    let names: Vec<String> = (0..20).map(|i| format!("w{i}")).collect();
    let add: Vec<String> = (0..20)
        .map(|i| format!("link add w{i} type veth peer name p{i}"))
        .collect();
    batch(&ns, &scratch, &add);
    w.wait_runs(20);
    let del: Vec<String> = (0..20).map(|i| format!("link del w{i}")).collect();
    batch(&ns, &scratch, &del);
    w.wait_runs(40);
    // A moment more: anything extra would show up now.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.stop(), 0, "{}", w.log());
    let runs = w.runs();
    assert_eq!(runs.len(), 40, "{runs:?}");
    for n in &names {
        assert_eq!(w.count("link-added", n), 1, "{n}: {runs:?}");
        assert_eq!(w.count("link-removed", n), 1, "{n}: {runs:?}");
        let at = |p: &str| runs.iter().position(|r| r.0 == p && r.1 == *n).unwrap();
        assert!(at("link-added") < at("link-removed"), "{n}: {runs:?}");
    }
    // The peers (p*) match no filter: never a run.
    assert!(runs.iter().all(|(_, l)| l.starts_with('w')), "{runs:?}");
}

#[test]
fn carrier_flaps_inside_the_window_report_only_the_net_change() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    ns.exec(&[
        "ip", "link", "add", "f0", "type", "veth", "peer", "name", "fp0",
    ]);
    ns.exec(&["ip", "link", "set", "f0", "up"]);
    ns.exec(&["ip", "link", "set", "fp0", "up"]);
    let out = scratch.path("script.out");
    let script = |what: &str| {
        format!(
            "handler = \"script\"\nscript = \"echo {what} $1 $NETHOOK_CHANGED >> {}\"\nlinks = [\"f0\"]\n",
            out.display()
        )
    };
    let cfg = scratch.config(&format!(
        "host_root = {:?}\n[watch]\ndebounce = \"400ms\"\n[points.link-down]\n{}[points.link-up]\n{}",
        scratch.path("root"),
        script("down"),
        script("up")
    ));
    std::fs::create_dir_all(scratch.path("root")).unwrap();
    let mut w = Watch::start(&ns, &scratch, &cfg);
    // 50 flaps of the peer (each takes f0's carrier down and back) in well
    // under a second, ending up: no net change.
    let flaps: Vec<String> = (0..50)
        .flat_map(|_| {
            [
                "link set fp0 down".to_string(),
                "link set fp0 up".to_string(),
            ]
        })
        .collect();
    let started = Instant::now();
    batch(&ns, &scratch, &flaps);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Then down for good, once the window has passed: exactly one link-down.
    std::thread::sleep(Duration::from_millis(1200));
    ns.exec(&["ip", "link", "set", "fp0", "down"]);
    w.wait_log("event handled point=link-down link=f0", 1);
    ns.exec(&["ip", "link", "set", "fp0", "up"]);
    w.wait_log("event handled point=link-up link=f0", 1);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(w.stop(), 0);
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        lines,
        "down f0 carrier down\nup f0 carrier up\n",
        "{}",
        w.log()
    );
}

#[test]
fn an_existing_link_is_reported_once_when_asked_and_never_otherwise() {
    for initial in [true, false] {
        let (ns, scratch) = (Netns::new(), Scratch::new());
        ns.exec(&[
            "ip", "link", "add", "i0", "type", "veth", "peer", "name", "ip0",
        ]);
        ns.exec(&["ip", "addr", "add", "10.9.0.1/24", "dev", "i0"]);
        let cfg = config(
            &scratch,
            &format!("debounce = \"100ms\"\ninitial = {initial}"),
            &["link-added", "address-lost"],
            "[\"i0\"]",
            "",
        );
        let mut w = Watch::start(&ns, &scratch, &cfg);
        if initial {
            // Reported from the first dump, with the address it had.
            w.wait_until("i0 added", |w| w.count("link-added", "i0") == 1);
        }
        // A change of i0 after the start: an address lost, not an addition.
        ns.exec(&["ip", "addr", "del", "10.9.0.1/24", "dev", "i0"]);
        w.wait_until("address-lost", |w| w.count("address-lost", "i0") == 1);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(w.stop(), 0);
        assert_eq!(
            w.count("link-added", "i0"),
            usize::from(initial),
            "initial = {initial}: {:?}",
            w.runs()
        );
        let log = w.log();
        assert!(
            log.contains("event=address-lost link=i0 index=")
                && log.contains("address=10.9.0.1/24 changed=\"address 10.9.0.1/24 removed\""),
            "{log}"
        );
    }
}

#[test]
fn an_overrun_socket_is_reconciled_and_every_link_left_is_reported_once() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    // The smallest receive buffer the kernel allows: 1 000 veth pairs
    // overflow it many times over.
    let cfg = config(
        &scratch,
        "debounce = \"100ms\"\nreceive_buffer = 1024",
        &["link-added"],
        "[\"o*\"]",
        "",
    );
    let mut w = Watch::start(&ns, &scratch, &cfg);
    let add: Vec<String> = (0..1000)
        .map(|i| format!("link add o{i} type veth peer name q{i}"))
        .collect();
    batch(&ns, &scratch, &add);
    // Some go again before they are reported: they must not be.
    let del: Vec<String> = (900..1000).map(|i| format!("link del o{i}")).collect();
    batch(&ns, &scratch, &del);
    w.wait_runs(900);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(w.stop(), 0);
    assert!(w.log().contains("rtnetlink overrun"), "{}", w.log());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, link) in w.runs() {
        *seen.entry(link).or_default() += 1;
    }
    for i in 0..900 {
        assert_eq!(seen.get(&format!("o{i}")), Some(&1), "o{i}");
    }
    // A link gone before its event fired may have been reported (if it was
    // seen in time) but never twice.
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
}

#[test]
fn a_full_queue_delays_events_but_loses_none() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    let cfg = config(
        &scratch,
        "debounce = \"50ms\"\nqueue = 1",
        &["link-added"],
        "[\"z*\"]",
        "sleep_ms = 100",
    );
    let mut w = Watch::start(&ns, &scratch, &cfg);
    let add: Vec<String> = (0..10)
        .map(|i| format!("link add z{i} type veth peer name y{i}"))
        .collect();
    batch(&ns, &scratch, &add);
    w.wait_runs(10);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(w.stop(), 0);
    for i in 0..10 {
        assert_eq!(w.count("link-added", &format!("z{i}")), 1, "{:?}", w.runs());
    }
}

#[test]
fn a_failing_hook_is_retried_on_the_schedule_until_it_succeeds() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    let tries = scratch.path("tries");
    let cfg = scratch.config(&format!(
        "host_root = {:?}\n[watch]\ndebounce = \"50ms\"\nretry = [\"200ms\", \"300ms\", \"10s\"]\n\
         [points.link-added]\nhandler = \"script\"\nlinks = [\"r0\"]\n\
         script = \"echo $1 >> {t}; test $(wc -l < {t}) -ge 3\"\n",
        scratch.path("root"),
        t = tries.display()
    ));
    std::fs::create_dir_all(scratch.path("root")).unwrap();
    let mut w = Watch::start(&ns, &scratch, &cfg);
    let started = Instant::now();
    ns.exec(&[
        "ip", "link", "add", "r0", "type", "veth", "peer", "name", "rp0",
    ]);
    w.wait_log("event handled point=link-added link=r0", 1);
    let took = started.elapsed();
    assert_eq!(w.stop(), 0);
    assert_eq!(std::fs::read_to_string(&tries).unwrap(), "r0\nr0\nr0\n");
    let log = w.log();
    assert!(log.contains("tries=3"), "{log}");
    assert!(
        log.contains("hook returned an error: script exited with status 1; trying again in 200ms"),
        "{log}"
    );
    assert!(log.contains("trying again in 300ms"), "{log}");
    // Two waits (200 ms + 300 ms), never the third.
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn sigterm_lets_the_running_hook_finish_then_exits_0() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    let cfg = config(
        &scratch,
        "debounce = \"50ms\"",
        &["link-added"],
        "[\"s0\"]",
        "sleep_ms = 1500",
    );
    let mut w = Watch::start(&ns, &scratch, &cfg);
    ns.exec(&[
        "ip", "link", "add", "s0", "type", "veth", "peer", "name", "sp0",
    ]);
    // The hook is asleep inside its run.
    w.wait_log("sleeping for 1500 ms", 1);
    let started = Instant::now();
    assert_eq!(w.stop(), 0, "{}", w.log());
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(w.count("link-added", "s0"), 1, "{}", w.log());
    let log = w.log();
    assert!(
        log.contains("event handled point=link-added link=s0"),
        "{log}"
    );
    assert!(log.contains("watch stopped"), "{log}");
}

#[test]
fn sighup_reloads_the_config_and_refuses_a_bad_one() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    let cfg = config(
        &scratch,
        "debounce = \"50ms\"",
        &["link-added"],
        "[\"a*\"]",
        "",
    );
    let mut w = Watch::start(&ns, &scratch, &cfg);
    ns.exec(&[
        "ip", "link", "add", "a0", "type", "veth", "peer", "name", "ap0",
    ]);
    w.wait_until("a0", |w| w.count("link-added", "a0") == 1);

    config(
        &scratch,
        "debounce = \"50ms\"",
        &["link-added"],
        "[\"b*\"]",
        "",
    );
    w.signal(nix::sys::signal::Signal::SIGHUP);
    w.wait_log("SIGHUP: configuration reloaded", 1);
    ns.exec(&[
        "ip", "link", "add", "a1", "type", "veth", "peer", "name", "ap1",
    ]);
    ns.exec(&[
        "ip", "link", "add", "b0", "type", "veth", "peer", "name", "bp0",
    ]);
    w.wait_until("b0", |w| w.count("link-added", "b0") == 1);

    std::fs::write(&cfg, "[points.link-added\nhandler = \"wasm\"\n").unwrap();
    w.signal(nix::sys::signal::Signal::SIGHUP);
    w.wait_log(
        "SIGHUP: the new configuration is refused, the old one stays",
        1,
    );
    ns.exec(&[
        "ip", "link", "add", "b1", "type", "veth", "peer", "name", "bp1",
    ]);
    w.wait_until("b1", |w| w.count("link-added", "b1") == 1);
    assert_eq!(w.stop(), 0);
    assert_eq!(w.count("link-added", "a1"), 0, "{:?}", w.runs());
    assert!(
        w.log().contains(&format!("{}:1:", cfg.display())),
        "the refusal names the file and line: {}",
        w.log()
    );
}

#[test]
fn event_point_settings_are_checked_with_the_file_and_key() {
    let scratch = Scratch::new();
    for (body, want) in [
        (
            "[points.link-added]\nhandler = \"builtin\"\n",
            ":4:11: [points.link-added]: the built-in module has no action at an event point; choose \"wasm\", \"script\" or \"none\"",
        ),
        (
            "[points.vpp-running]\nhandler = \"none\"\nlinks = [\"eth*\"]\n",
            ":5:9: [points.vpp-running]: key `links` is a filter of the event points (link-added, ...), not of a dataplane point",
        ),
        (
            "[watch]\nqueue = 0\n",
            ":4:9: queue must hold at least 1 link",
        ),
        (
            "[watch]\nretry = [\"1s\", \"soon\"]\n",
            "invalid duration \"soon\"",
        ),
    ] {
        let cfg = scratch.config(body);
        let mut c = nethook();
        c.args(["check", "--config"]).arg(&cfg);
        let r = run(c);
        assert_eq!(r.code, EXIT_CONFIG, "{body}: {r:?}");
        assert!(
            r.stderr.contains(&format!("{}", cfg.display())) && r.stderr.contains(want),
            "want {want:?}: {r:?}"
        );
    }
    let mut c = nethook();
    c.args(["run", "link-added"]);
    let r = run(c);
    assert_eq!(r.code, EXIT_CONFIG, "{r:?}");
    assert!(
        r.stderr
            .contains("link-added is an event point: `nethook watch` runs it"),
        "{r:?}"
    );
}

/// Netlink calls made from inside an async runtime (an embedder's) work
/// rather than panic in tokio's block_on.
#[test]
fn netlink_calls_work_inside_an_async_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let links = rt.block_on(async {
        let mut c = Command::new(nethook_bin());
        c.arg("--version");
        let _ = c.output();
        nethook::caps::Host::new(
            nethook::caps::Caller {
                hook: "t".into(),
                point: nethook::DataplanePoint::VppRunning.into(),
            },
            nethook::caps::Grants::verifier(),
            nethook::caps::Session {
                state_dir: std::env::temp_dir(),
                node: nethook::caps::Node {
                    root: "/".into(),
                    exec: nethook::caps::exec::ExecMode::Chroot,
                    command_timeout: Duration::from_secs(5),
                },
                mode: nethook::caps::Mode::Apply,
                audit: Default::default(),
                effects: Default::default(),
                txn: None,
            },
        )
        .netlink()
        .list_links()
    });
    let links = links.expect("list-links inside a runtime");
    assert!(links.iter().any(|l| l.name == "lo"), "{links:?}");
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[test]
fn ten_thousand_events_leave_rss_within_5_mb_of_the_first_hundred() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    let cfg = config(
        &scratch,
        "debounce = \"0s\"",
        &["link-added", "link-removed"],
        "[\"m*\"]",
        "",
    );
    let mut w = Watch::start(&ns, &scratch, &cfg);
    let pid = w.child.as_ref().unwrap().id();
    // Rounds of the same shape: 50 veth pairs added, then removed (100
    // events); the baseline is taken after the first round.
    let pairs = 50;
    let add: Vec<String> = (0..pairs)
        .map(|i| format!("link add m{i} type veth peer name n{i}"))
        .collect();
    let del: Vec<String> = (0..pairs).map(|i| format!("link del m{i}")).collect();
    let mut want = 0;
    let mut baseline = 0;
    while want < 10_000 {
        batch(&ns, &scratch, &add);
        want += pairs;
        w.wait_runs(want);
        batch(&ns, &scratch, &del);
        want += pairs;
        w.wait_runs(want);
        if want == 2 * pairs {
            baseline = rss_kib(pid);
        }
    }
    let after = rss_kib(pid);
    assert_eq!(w.stop(), 0);
    assert!(w.runs().len() >= 10_000);
    eprintln!("RSS after 100 events {baseline} KiB, after {want}: {after} KiB");
    assert!(
        after <= baseline + 5 * 1024,
        "RSS grew from {baseline} KiB to {after} KiB over {want} events"
    );
}

#[test]
fn each_try_of_a_failing_event_hook_is_rolled_back() {
    let (ns, scratch) = (Netns::new(), Scratch::new());
    std::fs::create_dir_all(scratch.path("root/etc")).unwrap();
    let body = format!(
        "host_root = {:?}\n[watch]\ndebounce = \"50ms\"\nretry = [\"100ms\"]\n\
         [points.link-added]\nhandler = \"wasm\"\nhook = \"ev\"\nlinks = [\"t0\"]\n\
         [hooks.ev]\ncomponent = {:?}\n[hooks.ev.grants]\nnetlink = \"read\"\nwrite_paths = [\"/etc/ev-*\"]\n\
         [hooks.ev.config]\ntouch = \"/etc/ev-t0\"\nfail = \"yes\"\n",
        scratch.path("root"),
        guest("evlog")
    );
    let cfg = scratch.config(&body);
    let mut w = Watch::start(&ns, &scratch, &cfg);
    ns.exec(&[
        "ip", "link", "add", "t0", "type", "veth", "peer", "name", "tp0",
    ]);
    w.wait_log("giving up on this event", 1);
    assert_eq!(w.stop(), 0);
    let log = w.log();
    // Two tries, each writing the file and failing, each rolled back.
    assert_eq!(
        log.matches("operation=\"write\" args=\"/etc/ev-t0").count(),
        2,
        "{log}"
    );
    assert_eq!(log.matches("rolled back").count(), 2, "{log}");
    assert!(
        log.contains("hook returned an error: told to fail at t0; trying again in 100ms"),
        "{log}"
    );
    assert!(log.contains("tries=2"), "{log}");
    assert!(
        !scratch.path("root/etc/ev-t0").exists(),
        "the failed tries left their file"
    );
}
