//! The inventory guest against a network namespace the test builds: it must
//! log exactly the namespace's links and addresses, and its state counter
//! must carry over between separate `nethook run` processes.

mod common;

use std::collections::BTreeSet;

use common::*;

/// Two veth pairs with IPv4 and IPv6 addresses on one end of each.
fn topology() -> Netns {
    let ns = Netns::new();
    ns.exec(&[
        "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0-peer",
    ]);
    ns.exec(&[
        "ip", "link", "add", "up1", "type", "veth", "peer", "name", "up1-peer",
    ]);
    for (dev, v4, v6) in [
        ("up0", "10.10.0.1/24", "fd10::1/64"),
        ("up1", "10.20.0.1/24", "fd20::1/64"),
    ] {
        ns.exec(&["ip", "addr", "add", v4, "dev", dev]);
        ns.exec(&["ip", "addr", "add", v6, "dev", dev, "nodad"]);
    }
    for dev in ["up0", "up0-peer", "up1", "up1-peer"] {
        ns.exec(&["ip", "link", "set", dev, "up"]);
    }
    ns
}

/// The log lines inventory must print for the namespace, built from
/// iproute2's own view of it.
fn expected_lines(ns: &Netns) -> (BTreeSet<String>, BTreeSet<String>) {
    let links: serde_json::Value =
        serde_json::from_str(&ns.exec(&["ip", "-j", "link", "show"])).unwrap();
    let mut link_lines = BTreeSet::new();
    let mut names = std::collections::BTreeMap::new();
    for l in links.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap().to_string();
        names.insert(l["ifindex"].as_u64().unwrap(), name.clone());
        let up = l["flags"].as_array().unwrap().iter().any(|f| f == "UP");
        link_lines.insert(format!(
            "link name={name} index={} mac={} mtu={} up={up}",
            l["ifindex"],
            l["address"].as_str().unwrap(),
            l["mtu"]
        ));
    }
    let addrs: serde_json::Value =
        serde_json::from_str(&ns.exec(&["ip", "-j", "addr", "show"])).unwrap();
    let mut addr_lines = BTreeSet::new();
    for l in addrs.as_array().unwrap() {
        for a in l["addr_info"].as_array().unwrap() {
            addr_lines.insert(format!(
                "address link={} address={}/{}",
                l["ifname"].as_str().unwrap(),
                a["local"].as_str().unwrap(),
                a["prefixlen"]
            ));
        }
    }
    (link_lines, addr_lines)
}

#[test]
fn inventory_logs_exactly_the_namespaces_links_and_addresses_and_counts_across_processes() {
    let ns = topology();
    let scratch = Scratch::new();
    let config = scratch.config(&format!(
        "[points.before-if-read]\nhandler = \"wasm\"\nhook = \"inventory\"\n\
         [points.before-vpp-run]\nhandler = \"wasm\"\nhook = \"inventory\"\n\
         {}[hooks.inventory.config]\nlabel = \"from the test\"\n\
         [hooks.inventory.grants]\nnetlink = \"read\"\n",
        hook_table("inventory", "inventory", "")
    ));

    let mut first = ns.nethook();
    first
        .args([
            "--log-format",
            "json",
            "run",
            "before-if-read",
            "--uplink",
            "up0",
            "--config",
        ])
        .arg(&config);
    let first = run(first);
    assert_eq!(first.code, EXIT_OK, "{first:?}");

    let (want_links, want_addrs) = expected_lines(&ns);
    // The set must be the one the test built, not whatever the host has.
    assert_eq!(want_links.len(), 5, "{want_links:?}");
    assert!(
        want_addrs.contains("address link=up0 address=fd10::1/64"),
        "{want_addrs:?}"
    );
    assert!(
        !want_addrs.iter().any(|a| a.contains("fe80")),
        "{want_addrs:?}"
    );
    let msgs = first.hook_messages("inventory");
    let got_links: BTreeSet<String> = msgs
        .iter()
        .filter(|m| m.starts_with("link "))
        .cloned()
        .collect();
    let got_addrs: BTreeSet<String> = msgs
        .iter()
        .filter(|m| m.starts_with("address "))
        .cloned()
        .collect();
    assert_eq!(got_links, want_links);
    assert_eq!(got_addrs, want_addrs);
    assert!(
        msgs.contains(
            &"runs previous=0 now=1 point=before-if-read label=\"from the test\"".to_string()
        ),
        "{msgs:?}"
    );
    // Guest stdout reaches the log, attributed to the hook.
    assert!(
        msgs.contains(&"inventory: 5 links, 6 addresses".to_string()),
        "{msgs:?}"
    );
    assert!(
        first
            .messages()
            .iter()
            .any(|m| m == "compiled component (cache miss)"),
        "{first:?}"
    );

    let mut second = ns.nethook();
    second
        .args(["--log-format", "json", "run", "before-vpp-run", "--config"])
        .arg(&config);
    let second = run(second);
    assert_eq!(second.code, EXIT_OK, "{second:?}");
    let msgs = second.hook_messages("inventory");
    assert!(
        msgs.contains(
            &"runs previous=1 now=2 point=before-vpp-run label=\"from the test\"".to_string()
        ),
        "{msgs:?}"
    );
    // The second process found the compiled component in the cache.
    let all = second.messages();
    assert!(all.iter().any(|m| m == "compiled cache hit"), "{second:?}");
    assert!(
        !all.iter().any(|m| m == "compiled component (cache miss)"),
        "{second:?}"
    );

    let state = std::fs::read_to_string(scratch.path("state/state.json")).unwrap();
    assert_eq!(
        state,
        "{\n  \"version\": 1,\n  \"hooks\": {\n    \"inventory\": {\n      \"runs\": \"2\"\n    }\n  }\n}\n"
    );
}

#[test]
fn uplinks_reach_the_guest_with_their_mac() {
    let ns = topology();
    let scratch = Scratch::new();
    let config = scratch.config(&hook_table("failing", "failing", ""));
    let mut cmd = ns.nethook();
    cmd.args([
        "--log-format",
        "json",
        "run",
        "vpp-running",
        "--uplink",
        "up1",
        "--handler",
        "vpp-running=wasm:failing",
        "--config",
    ])
    .arg(&config);
    let r = run(cmd);
    // The failing guest reports the first uplink it was given.
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    let link: serde_json::Value =
        serde_json::from_str(&ns.exec(&["ip", "-j", "link", "show", "up1"])).unwrap();
    let mac = link[0]["address"].as_str().unwrap();
    let want =
        format!("failing at vpp-running: hook returned an error: uplink up1 ({mac}) is not ready");
    assert!(r.stderr.contains(&want), "want {want:?} in {r:?}");
    assert!(
        r.hook_messages("failing")
            .contains(&"failing on purpose at vpp-running".to_string()),
        "{r:?}"
    );
}
