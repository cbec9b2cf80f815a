//! VM nodes: Debian trixie virtual machines with their own kernel, real
//! udevd, and NetworkManager or systemd-networkd owning a virtio-net uplink
//! that udev names from its PCI slot, on a test-owned network with DHCP and
//! DNS (tests/vm/bed.rs). Inside, a stand-in dataplane (tests/vm/standin)
//! plays vpp-manager's part of whole lifecycles, calling nethook exactly as
//! the dataplane does, and the node's network is measured at every point
//! (tests/vm/measure.sh) while the host pings it without pause.
//!
//! dnsmasq grants two-minute leases (the shortest it will), so a dataplane
//! held 2.5 lease times and a node watched 1.5 lease times after the stop
//! show whether the node keeps its lease without and with nethook.
//!
//! This binary has its own main: inside the VM it is the stand-in
//! (`vm standin ...`); on the host it runs the tests below, the two VM
//! kinds side by side, each with a second VM for its controls (one vCPU
//! each), and writes the parity tables to
//! $CARGO_TARGET_TMPDIR/vm/parity-<kind>.md.

#[path = "vm/bed.rs"]
mod bed;
mod common;
#[path = "vm/report.rs"]
mod report;
#[path = "vm/standin/mod.rs"]
mod standin;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bed::Bed;
use report::{field, Run};

/// dnsmasq's lease time, and it in seconds.
const LEASE: &str = "2m";
const LEASE_S: u64 = 120;
/// The long lifecycle: the dataplane runs 2.5 lease times, then the node
/// is watched for 1.5 lease times.
const HOLD_S: u64 = LEASE_S * 5 / 2;
const AFTER_S: u64 = LEASE_S * 3 / 2;

/// LABEL HOOKS END HOLD REPEAT AFTER (tests/vm/guest.sh). Two VMs of each
/// kind, side by side (the long lifecycles are mostly waiting). The first,
/// in one boot: the built-in profile through the long lifecycle; the same
/// as the module was before it kept the lease (restarting the network
/// service, for the before/after figures); killed; failing before VPP came
/// up; crash-looping five times in a row; killed so that the NIC comes back
/// under another name. The second: on NetworkManager the shipped OpenShift
/// hook for longer than a lease; then, as the control, the long lifecycle
/// with no hook at all.
fn scenarios(kind: &str) -> (String, String) {
    let lifecycle = format!(
        "long-builtin nethook stop {HOLD_S} 1 {AFTER_S}\n\
         restarts restarts stop 5 1 0\n\
         builtin-kill nethook kill 5 1 0\n\
         builtin-fail nethook fail 0 1 0\n\
         crash-loop nethook kill 1 5 0\n\
         crash-rename nethook kill-rename 5 1 0\n"
    );
    let mut control = String::new();
    if kind == "nm-vm" {
        control += &format!("openshift openshift stop {} 1 0\n", LEASE_S + 30);
    }
    control += &format!("long-none none stop {HOLD_S} 1 {AFTER_S}\n");
    (lifecycle, control)
}

const POINTS: [&str; 4] = [
    "before-if-read",
    "before-vpp-run",
    "vpp-running",
    "vpp-done-ok",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("standin") {
        standin::main(&args[2..]);
    }
    let tests: [(&str, fn()); 2] = [
        ("nm_vm_lifecycle", || lifecycle("nm-vm")),
        ("networkd_vm_lifecycle", || lifecycle("networkd-vm")),
    ];
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    // libtest's conventions that matter here: name filters, --exact,
    // --ignored (nothing here is ignored).
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let ignored = args.iter().any(|a| a == "--ignored");
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| {
            !ignored
                && (filters.is_empty()
                    || filters.iter().any(|f| {
                        if exact {
                            name == f
                        } else {
                            name.contains(f.as_str())
                        }
                    }))
        })
        .collect();
    println!("\nrunning {} tests", selected.len());
    // Side by side: one vCPU each, on a machine with two cores (the long
    // lifecycles are mostly waiting).
    let started = Instant::now();
    let running: Vec<_> = selected
        .iter()
        .map(|(name, test)| {
            let test = *test;
            let thread = std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    let started = Instant::now();
                    let ok = std::panic::catch_unwind(test).is_ok();
                    (ok, started.elapsed())
                })
                .unwrap();
            (*name, thread)
        })
        .collect();
    let mut failed = Vec::new();
    for (name, thread) in running {
        let (ok, took) = thread.join().unwrap_or((false, started.elapsed()));
        println!(
            "test {name} ... {} ({:.0} s)",
            if ok { "ok" } else { "FAILED" },
            took.as_secs_f64()
        );
        if !ok {
            failed.push(name);
        }
    }
    println!(
        "VM suite wall time: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

fn lifecycle(kind: &'static str) {
    let (lifecycle, control) = scenarios(kind);
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let first = std::thread::spawn(move || boot_and_run(kind, "lifecycle", &lifecycle, ready_tx));
    // The second boots once the first has (two emulated boots at once on
    // top of the other kind's would only slow all of them).
    let booted = ready.recv();
    let (tx, _) = std::sync::mpsc::channel();
    let second = std::thread::spawn(move || boot_and_run(kind, "control", &control, tx));
    let join = |t: std::thread::JoinHandle<(Run, String)>| {
        t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    };
    let (a, address) = join(first);
    booted.expect("the first VM booted");
    let (b, _) = join(second);
    let runs = Runs { a, b };
    let table = format!("{}\n{}", lease_table(&runs), parity(&runs));
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("vm")
        .join(format!("parity-{kind}.md"));
    std::fs::write(&path, &table).unwrap();
    println!("{table}(written to {})", path.display());
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&runs, &address)));
    if let Err(failed) = checked {
        eprintln!("{}{}", runs.a.story(), runs.b.story());
        std::panic::resume_unwind(failed);
    }
}

/// One VM: booted, its scenarios run while the host pings it and watches
/// the DHCP server, read back. Says on `ready` when it has booted.
fn boot_and_run(
    kind: &str,
    role: &str,
    scenarios: &str,
    ready: std::sync::mpsc::Sender<()>,
) -> (Run, String) {
    let mut bed = Bed::new(kind, role, scenarios, LEASE);
    let line = bed.boot(Duration::from_secs(420));
    let _ = ready.send(());
    let address = field(&line.text, "address");
    bed.start_ping(&address);
    // The scenarios' holds and watches, and fifteen minutes for the rest.
    let budget: u64 = scenarios
        .lines()
        .map(|l| {
            let w: Vec<u64> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            w.first().unwrap_or(&0) * w.get(1).unwrap_or(&1) + w.get(2).unwrap_or(&0)
        })
        .sum();
    bed.expect("NHVM done", Duration::from_secs(budget + 900));
    let ping = bed.stop_ping();
    let dhcp = bed.stop_dhcp_watch();
    bed.wait_poweroff(Duration::from_secs(120));
    (Run::read(&bed, &ping, dhcp), address)
}

/// The two VMs of a kind: a scenario's figures are in the one that ran it.
struct Runs {
    a: Run,
    b: Run,
}

impl std::ops::Index<&str> for Runs {
    type Output = Run;
    fn index(&self, label: &str) -> &Run {
        if self.b.begins.contains_key(label) {
            &self.b
        } else {
            &self.a
        }
    }
}

/// The outcome users buy, asserted on what the node showed.
fn check(runs: &Runs, address: &str) {
    let kind = runs.a.kind.as_str();
    let nm = kind == "nm-vm";
    let names = runs.a.get("boot", "boot", "names");
    assert!(
        names.contains("ID_NET_NAME_PATH=enp0s3") && names.contains("ID_NET_NAME_SLOT=ens3"),
        "{kind}: udev did not name the NIC from its PCI path at boot: {names}"
    );
    let has_address = |label: &str, point: &str| {
        runs[label]
            .get(label, point, "addr4")
            .split_whitespace()
            .any(|a| a.split('/').next() == Some(address))
    };
    // The NIC, after the stop, with its own profile: NetworkManager's
    // admin connection, not an external one; networkd: configured.
    let own_profile = |label: &str, point: &str| {
        let managed = runs[label].get(label, point, "managed");
        if nm {
            assert_eq!(
                (managed, runs[label].get(label, point, "connection")),
                ("100_(connected)", "uplink"),
                "{kind}: {label} at {point}: the NIC is not back with its profile"
            );
        } else {
            assert_eq!(
                managed, "routable/configured",
                "{kind}: {label} at {point}: networkd did not configure the NIC"
            );
        }
    };
    for label in ["long-builtin", "builtin-kill", "crash-rename"] {
        let run = &runs[label];
        for point in POINTS {
            assert_eq!(
                run.point(label, point).hook,
                "0",
                "{kind}: {label}: nethook failed at {point}"
            );
        }
        // Nothing restarted the network service.
        assert_eq!(
            run.restarts(label),
            0,
            "{kind}: {label}: the network service was restarted"
        );
        let running = |key| run.get(label, "vpp-running", key);
        assert_eq!(running("dev"), "tap", "{kind}: {label}");
        assert_eq!(
            running("names"),
            names,
            "{kind}: {label}: the dataplane's tap lacks the NIC's udev names"
        );
        assert_eq!(
            running("settled"),
            "yes",
            "{kind}: {label}: gateway or DNS lost while the dataplane ran"
        );
        assert!(
            has_address(label, "vpp-running"),
            "{kind}: {label}: the node's address {address} is not on the tap: {:?}",
            running("addr4")
        );
        if nm {
            assert_eq!(running("nm_dns"), "none", "{kind}: {label}");
            assert_eq!(
                running("resolv"),
                run.get(label, "before-vpp-run", "resolv"),
                "{kind}: {label}: /etc/resolv.conf rewritten while dns=none was in force"
            );
            // NetworkManager's DHCP client runs on the tap.
            assert_eq!(
                (running("managed"), running("connection")),
                ("100_(connected)", "nethook-ens3"),
                "{kind}: {label}: the tap's profile is not active"
            );
        } else {
            assert_eq!(running("managed"), "routable/configured", "{kind}: {label}");
        }
        let done = |key| run.get(label, "vpp-done-ok", key);
        assert_eq!(done("dev"), "nic", "{kind}: {label}");
        assert_eq!(
            done("settled"),
            "yes",
            "{kind}: {label}: not reachable after the stop"
        );
        assert_eq!(done("names"), names, "{kind}: {label}");
        assert!(
            has_address(label, "vpp-done-ok"),
            "{kind}: {label}: the node's address {address} is not back on the NIC: {:?}",
            done("addr4")
        );
        assert_eq!(
            done("dynamic4"),
            "1",
            "{kind}: {label}: no DHCP lease after the stop"
        );
        own_profile(label, "vpp-done-ok");
        assert_eq!(run.get(label, "after", "leftovers"), "", "{kind}: {label}");
        assert!(
            run.reachable_at_end(label, 5),
            "{kind}: {label}: the host lost the node"
        );
    }
    // The NIC came back under another name: its own again after the undo.
    let links = runs.a.get("crash-rename", "vpp-done-ok", "links");
    assert!(
        !links.contains("dev"),
        "{kind}: the NIC is still under the kernel's name: {links}"
    );
    // The long lifecycle: the address answered throughout but for the
    // takeover and give-back moments, one lease of each family at the
    // server at every sample, renewed while the dataplane ran and after.
    let run = &runs["long-builtin"];
    let (outside, _) = run.lapse("long-builtin");
    assert_eq!(
        outside, 0.0,
        "{kind}: the node's address lapsed {outside} s outside the takeover and give-back"
    );
    let (least, most) = run.leases("long-builtin");
    assert_eq!(
        (least, most),
        ((1, 1), (1, 1)),
        "{kind}: the server did not hold exactly one IPv4 and one IPv6 lease throughout"
    );
    let (during, after) = run.renewals("long-builtin");
    assert!(
        during.0 >= 2 && during.1 >= 2 && after.0 >= 1 && after.1 >= 1,
        "{kind}: renewals (IPv4, IPv6) during {during:?}, after {after:?}"
    );
    own_profile("long-builtin", "after");
    // The module as it was: the network service restarted at vpp-running
    // and at the undo, which is what the InvocationID counts.
    let run = &runs.a;
    assert_eq!(run.point("restarts", "vpp-done-ok").hook, "0", "{kind}");
    assert!(
        run.restarts("restarts") >= 2,
        "{kind}: restart_network = \"always\" restarted {} times",
        run.restarts("restarts")
    );
    assert_eq!(run.point("builtin-fail", "vpp-errored").hook, "0", "{kind}");
    assert_eq!(
        run.get("builtin-fail", "vpp-errored", "settled"),
        "yes",
        "{kind}"
    );
    assert_eq!(run.get("builtin-fail", "after", "leftovers"), "", "{kind}");
    assert_eq!(run.restarts("builtin-fail"), 0, "{kind}: builtin-fail");
    // The NIC back from a dataplane that failed: its own DHCP client, so
    // the node's address (networkd once started a client with another
    // identity there, which the server gave another address).
    assert!(
        has_address("builtin-fail", "vpp-errored"),
        "{kind}: builtin-fail: the node's address {address} is not back on the NIC: {:?}",
        run.get("builtin-fail", "vpp-errored", "addr4")
    );
    // Five crashes in a row: the service untouched and active, the NIC
    // with its profile, the node reachable.
    assert_eq!(run.restarts("crash-loop"), 0, "{kind}: crash loop");
    assert!(
        run.get("crash-loop", "after", "service")
            .starts_with("active/"),
        "{kind}: {}",
        run.get("crash-loop", "after", "service")
    );
    own_profile("crash-loop", "after");
    assert_eq!(run.get("crash-loop", "after", "settled"), "yes", "{kind}");
    assert_eq!(run.get("crash-loop", "after", "leftovers"), "", "{kind}");
    assert!(run.reachable_at_end("crash-loop", 5), "{kind}: crash loop");
    assert!(
        has_address("crash-loop", "after"),
        "{kind}: crash loop: the node's address {address} is not back on the NIC: {:?}",
        run.get("crash-loop", "after", "addr4")
    );
    // The control: with no hook, the tap has none of the NIC's names, and
    // the lease is not kept: on NetworkManager the copied address expires
    // (no DHCP client on the tap); on networkd a client that is not the
    // NIC's takes a second lease.
    let run = &runs["long-none"];
    assert_eq!(run.get("long-none", "vpp-running", "dev"), "tap", "{kind}");
    assert_eq!(run.get("long-none", "vpp-running", "names"), "", "{kind}");
    if nm {
        let (outside, _) = run.lapse("long-none");
        assert!(
            outside > 0.0,
            "{kind}: control: the address never lapsed without hooks"
        );
    } else {
        let (_, most) = run.leases("long-none");
        assert!(
            most.0 >= 2,
            "{kind}: control: no second lease without hooks ({most:?})"
        );
    }
}

/// The table: per lifecycle, whether the node kept its address and
/// lease while the dataplane ran 2.5 lease times and after.
fn lease_table(runs: &Runs) -> String {
    let kind = &runs.a.kind;
    let mut t = format!(
        "| {kind} (leases of {LEASE_S} s; dataplane {HOLD_S} s, then {AFTER_S} s) | address kept (s lapsed) | leases at the server, v4/v6 (most at once) | renewals v4/v6: during / after | service restarts per lifecycle | NIC after stop | lost pings: read / run-prep / running / done | wall ms: read / run-prep / running / done |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    let mut rows = vec![
        ("long-none", "no hooks"),
        ("long-builtin", "nethook built-in"),
    ];
    if kind == "nm-vm" {
        rows.push(("openshift", "shipped openshift hook (vpp-running only)"));
    }
    for (label, title) in rows {
        let run = &runs[label];
        let (outside, _) = run.lapse(label);
        let (_, most) = run.leases(label);
        let (during, after) = run.renewals(label);
        let kept = if outside == 0.0 {
            "kept (0)".to_string()
        } else {
            format!("**no** ({outside:.0})")
        };
        let nic = match run.get(label, "after", "connection") {
            "" => run.get(label, "after", "managed").to_string(),
            c => format!("{} {c}", run.get(label, "after", "managed")),
        };
        t += &format!(
            "| {title} | {kept} | {}/{} | {}/{} / {}/{} | {} | {} | {} | {} |\n",
            most.0,
            most.1,
            during.0,
            during.1,
            after.0,
            after.1,
            restarts_cell(run, label),
            nic.replace('_', " "),
            losses(run, label),
            walls(run, label)
        );
    }
    t
}

/// Restarts per lifecycle, and the service's own crashes (systemd's
/// restarts after it died), which are not counted as restarts.
fn restarts_cell(run: &Run, label: &str) -> String {
    match run.crashes(label) {
        0 => run.restarts(label).to_string(),
        n => format!(
            "{} ({n} crash{})",
            run.restarts(label),
            if n > 1 { "es" } else { "" }
        ),
    }
}

fn losses(run: &Run, label: &str) -> String {
    POINTS
        .iter()
        .map(|p| {
            let (sent, lost) = run.loss(label, p);
            format!("{lost}/{sent}")
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

fn walls(run: &Run, label: &str) -> String {
    POINTS
        .iter()
        .map(|p| run.point(label, p).phase_ms.to_string())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// One row per profile: the same clean lifecycle with no hook, with the
/// module as it was and as it is, plus the built-in through crashes.
fn parity(runs: &Runs) -> String {
    let mut t = format!(
        "| {} | names on tap | DNS kept | address kept | service on tap | reachable after stop | service restarts | \
         lost pings: read / run-prep / running / done | wall ms: read / run-prep / running / done |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        runs.a.kind
    );
    for (label, title) in [
        ("long-none", "no hooks"),
        (
            "restarts",
            "nethook built-in before #23 (restarts, no lease)",
        ),
        ("long-builtin", "nethook built-in"),
        ("builtin-kill", "nethook built-in, VPP killed"),
        (
            "crash-rename",
            "nethook built-in, VPP killed, NIC back as devN",
        ),
    ] {
        let run = &runs[label];
        let boot_names = run.get("boot", "boot", "names");
        let yes = |b: bool| if b { "yes" } else { "**no**" };
        let running = run.at(label, "vpp-running");
        let done = run.at(label, "vpp-done-ok");
        let names = running["names"] == boot_names;
        let dns = running["dns"] == "yes" && done["dns"] == "yes";
        let boot_addr = run.get("boot", "boot", "addr4");
        let kept = running["addr4"] == boot_addr && done["addr4"] == boot_addr;
        // The node answers the host, and the gateway answers it.
        let reach = done["gw"] == "yes" && run.reachable_at_end(label, 5);
        let service = match running["connection"].as_str() {
            "" => running["managed"].clone(),
            c => format!("{} {c}", running["managed"]),
        };
        t += &format!(
            "| {title} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            yes(names),
            yes(dns),
            yes(kept),
            service.replace('_', " "),
            yes(reach),
            restarts_cell(run, label),
            losses(run, label),
            walls(run, label)
        );
    }
    t
}
