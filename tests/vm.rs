//! VM nodes: Debian trixie virtual machines with their own kernel, real
//! udevd, and NetworkManager or systemd-networkd owning a virtio-net uplink
//! that udev names from its PCI slot, on a test-owned network with DHCP and
//! DNS (tests/vm/bed.rs). Inside, a stand-in dataplane (tests/vm/standin)
//! plays vpp-manager's part of whole lifecycles, calling nethook exactly as
//! the dataplane does, and the node's network is measured at every point
//! (tests/vm/measure.sh) while the host pings it without pause.
//!
//! This binary has its own main: inside the VM it is the stand-in
//! (`vm standin ...`); on the host it runs the tests below, one VM at a
//! time, and writes the parity table to
//! $CARGO_TARGET_TMPDIR/vm/parity-<kind>.md.

#[path = "vm/bed.rs"]
mod bed;
mod common;
#[path = "vm/report.rs"]
mod report;
#[path = "vm/standin/mod.rs"]
mod standin;

use std::time::{Duration, Instant};

use bed::Bed;
use report::{field, Run};

/// LABEL HOOKS END HOLD REPEAT (tests/vm/guest.sh): the built-in profile
/// stopped cleanly, killed, failing before VPP came up, crash-looping five
/// times in a row; then the same clean lifecycle with no hook at all.
const SCENARIOS: &str = "\
builtin-stop nethook stop 5 1
builtin-kill nethook kill 5 1
builtin-fail nethook fail 0 1
crash-loop nethook kill 1 5
none-stop none stop 5 1
";

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
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let started = Instant::now();
        let ok = std::panic::catch_unwind(test).is_ok();
        println!(
            "test {name} ... {} ({:.0} s)",
            if ok { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        if !ok {
            failed.push(*name);
        }
    }
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

fn lifecycle(kind: &str) {
    let mut bed = Bed::new(kind, SCENARIOS);
    let ready = bed.boot(Duration::from_secs(300));
    let address = field(&ready.text, "address");
    bed.start_ping(&address);
    bed.expect("NHVM done", Duration::from_secs(900));
    let ping = bed.stop_ping();
    bed.wait_poweroff(Duration::from_secs(120));
    let run = Run::read(&bed, &ping);
    let table = parity(&run);
    let path = bed.logs.parent().unwrap().join(format!("parity-{kind}.md"));
    std::fs::write(&path, &table).unwrap();
    println!("{table}(written to {})", path.display());
    check(&run, &address);
}

/// The outcome users buy, asserted on what the node showed.
fn check(run: &Run, address: &str) {
    let kind = run.kind.as_str();
    let nm = kind == "nm-vm";
    let names = run.get("boot", "boot", "names");
    assert!(
        names.contains("ID_NET_NAME_PATH=enp0s3") && names.contains("ID_NET_NAME_SLOT=ens3"),
        "{kind}: udev did not name the NIC from its PCI path at boot: {names}"
    );
    let has_address = |label: &str, point: &str| {
        run.get(label, point, "addr4")
            .split_whitespace()
            .any(|a| a.split('/').next() == Some(address))
    };
    for label in ["builtin-stop", "builtin-kill"] {
        for point in POINTS {
            assert_eq!(
                run.point(label, point).hook,
                "0",
                "{kind}: {label}: nethook failed at {point}"
            );
        }
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
        assert!(has_address(label, "vpp-running"), "{kind}: {label}");
        if nm {
            assert_eq!(running("nm_dns"), "none", "{kind}: {label}");
            assert_eq!(
                running("resolv"),
                run.get(label, "before-vpp-run", "resolv"),
                "{kind}: {label}: /etc/resolv.conf rewritten while dns=none was in force"
            );
        }
        let done = |key| run.get(label, "vpp-done-ok", key);
        assert_eq!(done("dev"), "nic", "{kind}: {label}");
        assert_eq!(
            done("settled"),
            "yes",
            "{kind}: {label}: not reachable after the stop"
        );
        assert_eq!(done("names"), names, "{kind}: {label}");
        assert!(has_address(label, "vpp-done-ok"), "{kind}: {label}");
        assert_eq!(
            done("dynamic4"),
            "1",
            "{kind}: {label}: no DHCP lease after the stop"
        );
        assert_eq!(run.get(label, "after", "leftovers"), "", "{kind}: {label}");
        assert!(
            run.reachable_at_end(label, 5),
            "{kind}: {label}: the host lost the node"
        );
    }
    assert_eq!(run.point("builtin-fail", "vpp-errored").hook, "0", "{kind}");
    assert_eq!(
        run.get("builtin-fail", "vpp-errored", "settled"),
        "yes",
        "{kind}"
    );
    assert_eq!(run.get("builtin-fail", "after", "leftovers"), "", "{kind}");
    // Five crashes in a row: the service ends active, the node reachable.
    assert!(
        run.get("crash-loop", "after", "service")
            .starts_with("active/"),
        "{kind}: {}",
        run.get("crash-loop", "after", "service")
    );
    assert_eq!(run.get("crash-loop", "after", "settled"), "yes", "{kind}");
    assert_eq!(run.get("crash-loop", "after", "leftovers"), "", "{kind}");
    assert!(run.reachable_at_end("crash-loop", 5), "{kind}: crash loop");
    // The control: with no hook, the tap has none of the NIC's names.
    assert_eq!(run.get("none-stop", "vpp-running", "dev"), "tap", "{kind}");
    assert_eq!(run.get("none-stop", "vpp-running", "names"), "", "{kind}");
}

/// One row per profile: the same clean lifecycle with no hook and with
/// nethook's built-in module, plus the built-in through a crash.
fn parity(run: &Run) -> String {
    let mut t = format!(
        "| {} | names on tap | DNS kept | address kept | service on tap | reachable after stop | \
         lost pings: read / run-prep / running / done | wall ms: read / run-prep / running / done |\n\
         |---|---|---|---|---|---|---|---|\n",
        run.kind
    );
    let boot_names = run.get("boot", "boot", "names");
    for (label, title) in [
        ("none-stop", "no hooks"),
        ("builtin-stop", "nethook built-in"),
        ("builtin-kill", "nethook built-in, VPP killed"),
    ] {
        let yes = |b: bool| if b { "yes" } else { "**no**" };
        let running = run.at(label, "vpp-running");
        let done = run.at(label, "vpp-done-ok");
        let names = running["names"] == boot_names;
        let dns = running["dns"] == "yes" && done["dns"] == "yes";
        let boot_addr = run.get("boot", "boot", "addr4");
        let kept = running["addr4"] == boot_addr && done["addr4"] == boot_addr;
        // The node answers the host, and the gateway answers it.
        let reach = done["gw"] == "yes" && run.reachable_at_end(label, 5);
        let lost: Vec<String> = POINTS
            .iter()
            .map(|p| {
                let (sent, lost) = run.loss(label, p);
                format!("{lost}/{sent}")
            })
            .collect();
        let wall: Vec<String> = POINTS
            .iter()
            .map(|p| run.point(label, p).phase_ms.to_string())
            .collect();
        t += &format!(
            "| {title} | {} | {} | {} | {} | {} | {} | {} |\n",
            yes(names),
            yes(dns),
            yes(kept),
            running["managed"].replace('_', " "),
            yes(reach),
            lost.join(" / "),
            wall.join(" / ")
        );
    }
    t
}
