//! Netlink changes through the capability layer, in namespaces the test
//! creates, verified through rtnetlink (the guest reads back) and through
//! iproute2's JSON output.

mod common;

use common::*;

fn ip_json(ns: &Netns, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["ip", "-j"];
    full.extend_from_slice(args);
    serde_json::from_str(&ns.exec(&full)).unwrap()
}

fn config(scratch: &Scratch, peer_ns: &Netns, undo: bool, grants: &str) -> std::path::PathBuf {
    scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"netops\"\n{}\
         [hooks.netops.config]\nlink = \"nl0\"\npeer = \"nl1\"\nnetns = \"{}\"\nnew_name = \"uplink7\"\ntable = 100\nundo = {undo}\n\
         [hooks.netops.grants]\n{grants}\n",
        hook_table("netops", "netops", ""),
        peer_ns.name
    ))
}

/// The namespace nethook runs in, with a veth pair nl0/nl1, and a second
/// one to move nl1 into.
fn namespaces() -> (Netns, Netns) {
    let ns = Netns::new();
    ns.exec(&[
        "ip", "link", "add", "nl0", "type", "veth", "peer", "name", "nl1",
    ]);
    (ns, Netns::new())
}

const GRANTS: &str =
    "netlink = \"write\"\nlinks = [\"nl*\", \"uplink7\"]\ntables = [100]\nnetns = [\"nhtest-*\"]";

#[test]
fn links_addresses_routes_and_rules_change_as_asked() {
    let (ns, other) = namespaces();
    let scratch = Scratch::new();

    let mut cmd = ns.nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(config(&scratch, &other, false, GRANTS));
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");

    // Read back through rtnetlink, by the guest.
    let msgs = r.hook_messages("netops");
    let want = [
        "link name=uplink7 mtu=1400 up=true",
        "route dst=10.88.0.0/16 gw=10.77.0.254 table=100 metric=50",
        "rule priority=1000 from=10.77.0.0/24",
        "route dst=fd88::/32 gw=\"\" table=100 metric=60",
        "rule priority=1000 from=fd77::/64",
    ];
    assert_eq!(msgs, want, "{r:?}");

    // And through iproute2.
    let link = &ip_json(&ns, &["link", "show", "uplink7"])[0];
    assert_eq!(link["mtu"], 1400);
    assert!(link["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert!(ip_json(&ns, &["link"])
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["ifname"] != "nl1"));
    assert_eq!(
        ip_json(&other, &["link", "show", "nl1"])[0]["ifname"],
        "nl1"
    );
    let addrs: Vec<String> = ip_json(&ns, &["addr", "show", "uplink7"])[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .filter(|a| !a.starts_with("fe80"))
        .collect();
    assert_eq!(addrs, ["10.77.0.1/24", "fd77::1/64"]);
    let v4 = ip_json(&ns, &["route", "show", "table", "100"]);
    assert_eq!(v4.as_array().unwrap().len(), 1, "{v4}");
    assert_eq!(v4[0]["dst"], "10.88.0.0/16");
    assert_eq!(v4[0]["gateway"], "10.77.0.254");
    assert_eq!(v4[0]["dev"], "uplink7");
    assert_eq!(v4[0]["metric"], 50);
    assert_eq!(v4[0]["protocol"], "static");
    let v6 = ip_json(&ns, &["-6", "route", "show", "table", "100"]);
    assert_eq!(v6[0]["dst"], "fd88::/32");
    assert_eq!(v6[0]["metric"], 60);
    let rule4 = ip_json(&ns, &["rule", "show", "table", "100"]);
    assert_eq!(rule4[0]["priority"], 1000);
    assert_eq!(rule4[0]["src"], "10.77.0.0");
    assert_eq!(rule4[0]["srclen"], 24);
    let rule6 = ip_json(&ns, &["-6", "rule", "show", "table", "100"]);
    assert_eq!(rule6[0]["src"], "fd77::");

    // The undo deletes what was added, and nothing else.
    let mut cmd = ns.nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(config(&scratch, &other, true, GRANTS));
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(
        ip_json(&ns, &["route", "show", "table", "100"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        ip_json(&ns, &["-6", "route", "show", "table", "100"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        ip_json(&ns, &["rule", "show", "table", "100"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        ip_json(&ns, &["-6", "rule", "show", "table", "100"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let left = &ip_json(&ns, &["addr", "show", "uplink7"])[0]["addr_info"];
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|a| a["local"].as_str().unwrap().starts_with("fe80")),
        "{left}"
    );
    assert_eq!(ip_json(&ns, &["link", "show", "uplink7"])[0]["mtu"], 1400);
}

#[test]
fn netlink_changes_need_the_write_grant_and_the_link() {
    let (ns, other) = namespaces();
    let scratch = Scratch::new();
    let before = ip_json(&ns, &["link"]);

    for (grants, want) in [
        (
            "netlink = \"read\"\nlinks = [\"*\"]",
            "changing netlink state is not granted (grants.netlink = \"write\")",
        ),
        (
            "netlink = \"write\"\nlinks = [\"nl0\", \"uplink7\"]",
            "link \"nl1\" is not granted (grants.links)",
        ),
    ] {
        let mut cmd = ns.nethook();
        cmd.args(["run", "vpp-running", "--config"])
            .arg(config(&scratch, &other, false, grants));
        let r = run(cmd);
        assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
        assert!(
            r.stderr
                .contains(&format!("hook returned an error: denied: {want}")),
            "want {want:?} in {r:?}"
        );
        assert_eq!(
            ip_json(&ns, &["link"]),
            before,
            "a denied call changed links"
        );
    }
}

#[test]
fn routes_and_rules_need_their_table_granted() {
    let (ns, other) = namespaces();
    let scratch = Scratch::new();
    let mut cmd = ns.nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(config(
        &scratch,
        &other,
        false,
        "netlink = \"write\"\nlinks = [\"nl*\", \"uplink7\"]\ntables = [254]\nnetns = [\"nhtest-*\"]",
    ));
    let r = run(cmd);
    // The failure rolls the point back; moving a link out of the namespace
    // cannot be undone from it, and the exit code and message say so.
    assert_eq!(r.code, EXIT_ROLLBACK_INCOMPLETE, "{r:?}");
    assert!(
        r.stderr.contains(
            "hook returned an error: denied: routing table 100 is not granted (grants.tables); \
             the rollback left 1 change(s) as they are: netlink.move-to-netns nl1 netns "
        ),
        "{r:?}"
    );
    // What could be undone was: the renamed link has its name, MTU and
    // (no) addresses back.
    let nl0 = ip_json(&ns, &["addr", "show", "nl0"]);
    assert_eq!(nl0[0]["mtu"], 1500, "{nl0}");
    assert_eq!(nl0[0]["addr_info"].as_array().unwrap().len(), 0, "{nl0}");
    let all = ip_json(&ns, &["route", "show", "table", "all"]);
    assert!(
        all.as_array().unwrap().iter().all(|r| r["table"] != "100"),
        "{all}"
    );
}
