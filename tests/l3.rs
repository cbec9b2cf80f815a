//! An uplink's layer-3 configuration as a value (`l3`): captured, moved
//! into another namespace with it, brought back with it; CNI host-device's
//! shapes (AWS multi-ENI: a second table with a source rule; GCP: a /32
//! with an on-link gateway and a permanent neighbour) in namespaces the
//! tests create, compared through iproute2's JSON.

mod common;

use common::*;

/// Addresses (lifetimes shown as dynamic or not: their values tick),
/// routes of every table but local, rules, neighbours and the carried
/// sysctls of `link` in `ns`, one line each.
fn view(ns: &Netns, link: &str) -> Vec<String> {
    let json = |args: &[&str]| -> serde_json::Value {
        let mut full = vec!["ip", "-j"];
        full.extend_from_slice(args);
        serde_json::from_str(&ns.exec(&full)).unwrap()
    };
    let s = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let mut out = Vec::new();
    let l = &json(&["link", "show", link])[0];
    out.push(format!(
        "link mtu {} {}",
        l["mtu"],
        if l["flags"].as_array().unwrap().iter().any(|f| f == "UP") {
            "up"
        } else {
            "down"
        }
    ));
    for a in json(&["addr", "show", link])[0]["addr_info"]
        .as_array()
        .unwrap()
    {
        let mut line = format!(
            "addr {}/{} scope {}",
            s(&a["local"]),
            a["prefixlen"],
            s(&a["scope"])
        );
        if !a["broadcast"].is_null() {
            line += &format!(" brd {}", s(&a["broadcast"]));
        }
        if a["dynamic"] == true {
            line += " dynamic";
        }
        out.push(line);
    }
    for fam in ["-4", "-6"] {
        for r in json(&[fam, "route", "show", "table", "all", "dev", link])
            .as_array()
            .unwrap()
        {
            if r["table"] == "local" {
                continue;
            }
            let mut line = format!(
                "route table {} {}",
                s(&r["table"]).replace("null", "main"),
                s(&r["dst"])
            );
            if !r["gateway"].is_null() {
                line += &format!(" via {}", s(&r["gateway"]));
            }
            let scope = r["scope"].as_str().unwrap_or("global");
            line += &format!(" proto {} scope {scope}", s(&r["protocol"]));
            if !r["metric"].is_null() {
                line += &format!(" metric {}", r["metric"]);
            }
            out.push(line);
        }
        for r in json(&[fam, "rule", "show"]).as_array().unwrap() {
            out.push(format!(
                "rule {} from {}/{} table {}",
                r["priority"],
                s(&r["src"]),
                // iproute2 leaves out a host source's length.
                match (r["src"].as_str(), r["srclen"].as_u64()) {
                    (Some("all"), _) | (None, _) => "-".to_string(),
                    (Some(ip), None) => if ip.contains(':') { "128" } else { "32" }.to_string(),
                    (_, Some(v)) => v.to_string(),
                },
                s(&r["table"])
            ));
        }
    }
    for n in json(&["neigh", "show", "dev", link]).as_array().unwrap() {
        out.push(format!(
            "neigh {} lladdr {} {}",
            s(&n["dst"]),
            s(&n["lladdr"]),
            n["state"]
        ));
    }
    for key in [
        "ipv4/conf/LINK/rp_filter",
        "ipv4/conf/LINK/forwarding",
        "ipv6/conf/LINK/accept_ra",
        "ipv6/conf/LINK/forwarding",
    ] {
        let path = format!("/proc/sys/net/{}", key.replace("LINK", link));
        out.push(format!("{key} = {}", ns.exec(&["cat", &path]).trim()));
    }
    out
}

/// No DAD (addresses are never tentative) in the namespace and on the
/// links later made or moved into it.
fn no_dad(ns: &Netns) {
    for k in ["all", "default"] {
        ns.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{k}.accept_dad=0")]);
    }
}

/// The node: `up0` with every shape the issue names; its peer stays here.
fn node() -> Netns {
    let ns = Netns::new();
    no_dad(&ns);
    let x = |cmd: &str| {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        ns.exec(&args);
    };
    x("ip link add up0 type veth peer name peer0");
    x("ip link set up0 mtu 1460 up");
    x("ip link set peer0 up");
    // A DHCPv4 lease, and GCP's /32.
    x("ip addr add 10.10.0.5/24 brd 10.10.0.255 dev up0 valid_lft 3600 preferred_lft 3000");
    x("ip addr add 10.20.0.5/32 dev up0");
    // Static IPv6, and one that is not permanent (a DHCPv6 lease, or SLAAC
    // as iproute2 6.1 can make it: the kernel's own RA-made addresses carry
    // IFA_PROTO kernel_ra, which capture leaves out; see capture.rs's tests).
    x("ip -6 addr add fd00:10::5/64 dev up0");
    x("ip -6 addr add fd00:11::5/64 dev up0 valid_lft 7200 preferred_lft 3600");
    // GCP: the gateway is on-link through a host route of its own.
    x("ip route add 10.20.0.1 dev up0 scope link proto dhcp");
    x("ip route add default via 10.20.0.1 dev up0 proto dhcp metric 100");
    x("ip route add 192.168.50.0/24 via 10.10.0.1 dev up0 proto static");
    // AWS multi-ENI: a table of the ENI's own, chosen by a source rule.
    x("ip route add 172.16.0.0/16 via 10.10.0.1 dev up0 proto static table 100");
    x("ip route add default via 10.10.0.1 dev up0 proto static table 100");
    x("ip rule add from 10.10.0.5/32 table 100 priority 100");
    x("ip rule add from 10.30.0.0/16 table 100 priority 101");
    x("ip -6 route add fd00:99::/64 via fd00:10::1 dev up0 proto ra");
    x("ip -6 route add default via fd00:10::1 dev up0 proto static metric 512");
    x("ip neigh add 10.20.0.1 lladdr 42:01:0a:14:00:01 dev up0 nud permanent");
    x("ip neigh add 10.10.0.9 lladdr 02:00:00:00:00:09 dev up0 nud stale");
    x("sysctl -qw net.ipv4.conf.up0.rp_filter=2");
    x("sysctl -qw net.ipv4.conf.up0.forwarding=1");
    x("sysctl -qw net.ipv6.conf.up0.accept_ra=0");
    ns
}

fn target() -> Netns {
    let ns = Netns::new();
    no_dad(&ns);
    ns
}

const SYSCTLS: &str = r#"sysctls = ["net.ipv4.conf.up*.*", "net.ipv6.conf.up*.*"]"#;

fn hostdev_config(scratch: &Scratch, to: &Netns, grants: &str) -> std::path::PathBuf {
    scratch.config(&format!(
        "[points.before-vpp-run]\nhandler = \"wasm\"\nhook = \"hostdev\"\n\
         [points.vpp-done-ok]\nhandler = \"wasm\"\nhook = \"hostdev\"\n{}\
         [hooks.hostdev.config]\nnetns = \"{}\"\nlink = \"up0\"\n\
         [hooks.hostdev.grants]\nnetlink = \"write\"\nlinks = [\"up0\"]\ntables = [100, 254]\n{grants}\n",
        hook_table("hostdev", "hostdev", ""),
        to.name
    ))
}

fn run_point(ns: &Netns, point: &str, config: &std::path::Path) -> Run {
    let mut cmd = ns.nethook();
    cmd.args(["--log-format", "json", "run", point, "--config"])
        .arg(config);
    run(cmd)
}

/// What the target holds after the move: the captured configuration, and
/// what the kernel makes from it (its `proto kernel` subnet routes).
const MOVED: &[&str] = &[
    "link mtu 1460 up",
    "addr 10.10.0.5/24 scope global brd 10.10.0.255 dynamic",
    "addr 10.20.0.5/32 scope global",
    "addr fd00:11::5/64 scope global dynamic",
    "addr fd00:10::5/64 scope global",
    "route table 100 default via 10.10.0.1 proto static scope global",
    "route table 100 172.16.0.0/16 via 10.10.0.1 proto static scope global",
    "route table main default via 10.20.0.1 proto dhcp scope global metric 100",
    "route table main 10.10.0.0/24 proto kernel scope link",
    "route table main 10.20.0.1 proto dhcp scope link",
    "route table main 192.168.50.0/24 via 10.10.0.1 proto static scope global",
    "rule 0 from all/- table local",
    "rule 100 from 10.10.0.5/32 table 100",
    "rule 32766 from all/- table main",
    "rule 32767 from all/- table default",
    "route table main fd00:10::/64 proto kernel scope global metric 256",
    "route table main fd00:11::/64 proto kernel scope global metric 256",
    "route table main default via fd00:10::1 proto static scope global metric 512",
    "rule 0 from all/- table local",
    "rule 32766 from all/- table main",
    "neigh 10.20.0.1 lladdr 42:01:0a:14:00:01 [\"PERMANENT\"]",
    "ipv4/conf/LINK/rp_filter = 2",
    "ipv4/conf/LINK/forwarding = 1",
    "ipv6/conf/LINK/accept_ra = 0",
    "ipv6/conf/LINK/forwarding = 0",
];

/// Left out by design (docs/capabilities.md): the `proto ra` route (the next router
/// advertisement makes it) and the learned neighbour (ARP learns it again).
fn carried(before: &[String]) -> Vec<String> {
    before
        .iter()
        .filter(|l| !l.contains("fd00:99::") && !l.contains("10.10.0.9"))
        .cloned()
        .collect()
}

#[test]
fn an_uplink_moves_into_a_namespace_with_its_configuration_and_comes_back_with_it() {
    let (node, to) = (node(), target());
    let scratch = Scratch::new();
    let config = hostdev_config(
        &scratch,
        &to,
        &format!("netns = [\"{}\"]\n{SYSCTLS}", to.name),
    );
    let before = view(&node, "up0");

    let r = run_point(&node, "before-vpp-run", &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let moved = view(&to, "up0");
    assert_eq!(moved, MOVED, "{r:?}");
    assert!(
        !node.exec(&["ip", "-o", "link"]).contains("up0"),
        "up0 left the node"
    );
    // The rule that covers no captured address never left the node.
    assert!(node
        .exec(&["ip", "rule"])
        .contains("from 10.30.0.0/16 lookup 100"));
    let left_out = r.hook_messages("hostdev");
    for want in [
        "route fd00:99::/64 table 254: proto ra, the next router advertisement installs it",
        "route 10.10.0.0/24 table 254: proto kernel, made with its address",
    ] {
        let want = format!("left out what={want:?}");
        assert!(left_out.contains(&want), "{want:?} not in {left_out:#?}");
    }

    let r = run_point(&node, "vpp-done-ok", &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(view(&node, "up0"), carried(&before), "{r:?}");
    assert!(!to.exec(&["ip", "-o", "link"]).contains("up0"));
}

fn l3ops_config(scratch: &Scratch, to: &Netns, extra: &str, grants: &str) -> std::path::PathBuf {
    scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"l3ops\"\n{}\
         [hooks.l3ops.config]\nlink = \"up0\"\ntarget = \"up1\"\nnetns = \"{}\"\n{extra}\n\
         [hooks.l3ops.grants]\nnetlink = \"write\"\nlinks = [\"up*\"]\ntables = [100, 254]\nnetns = [\"{}\"]\n{grants}\n",
        hook_table("l3ops", "l3ops", ""),
        to.name,
        to.name
    ))
}

fn target_with_up1() -> Netns {
    let to = target();
    to.exec(&[
        "ip", "link", "add", "up1", "type", "veth", "peer", "name", "peer1",
    ]);
    to
}

#[test]
fn a_failure_half_way_through_an_apply_undoes_it_and_leaves_the_source_alone() {
    let (node, to) = (node(), target_with_up1());
    let scratch = Scratch::new();
    let config = l3ops_config(&scratch, &to, "bad_route = \"true\"", SYSCTLS);
    let (node_before, to_before) = (view(&node, "up0"), view(&to, "up1"));

    let r = run_point(&node, "vpp-running", &config);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "hook returned an error: failed: apply to up1 in netns {}: route ipv4 198.51.100.0/24 via 203.0.113.1 dev up1 table 254 proto 4 scope 0: Network is unreachable (os error 101) (code -101); the 16 change(s) it made are undone",
            to.name
        )),
        "{r:?}"
    );
    assert_eq!(view(&to, "up1"), to_before);
    assert_eq!(view(&node, "up0"), node_before);
}

#[test]
fn the_same_copy_without_the_bad_route_lands_and_a_second_finds_it_all_present() {
    let (node, to) = (node(), target_with_up1());
    let scratch = Scratch::new();
    let config = l3ops_config(&scratch, &to, "", SYSCTLS);
    let r = run_point(&node, "vpp-running", &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(view(&to, "up1"), MOVED, "{r:?}");
    // Everything changed but the MTU, which both veths have.
    assert_eq!(r.hook_messages("l3ops"), ["applied changed=17 present=1"]);
    let r = run_point(&node, "vpp-running", &config);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(r.hook_messages("l3ops"), ["applied changed=0 present=18"]);
}

#[test]
fn another_namespace_and_sysctls_need_their_grants_and_nothing_runs_without_them() {
    let (node, to) = (node(), target_with_up1());
    let scratch = Scratch::new();
    let (node_before, to_before) = (view(&node, "up0"), view(&to, "up1"));

    // No netns grant: the move is refused, the node keeps its uplink.
    let config = hostdev_config(&scratch, &to, SYSCTLS);
    let r = run_point(&node, "before-vpp-run", &config);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "denied: network namespace \\\"{}\\\" is not granted (grants.netns)",
            to.name
        )),
        "{r:?}"
    );
    assert_eq!(view(&node, "up0"), node_before);

    // Sysctls granted but rp_filter: the apply is refused before it starts.
    let config = l3ops_config(
        &scratch,
        &to,
        "",
        r#"sysctls = ["net.ipv4.conf.up1.rp_filter"]"#,
    );
    let r = run_point(&node, "vpp-running", &config);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(
        r.stderr.contains(
            "denied: sysctl \\\"net.ipv4.conf.up1.forwarding\\\" is not granted (grants.sysctls)"
        ),
        "{r:?}"
    );
    assert_eq!(view(&to, "up1"), to_before);

    // A key that is not per-interface is never reachable, granted or not.
    let config = l3ops_config(
        &scratch,
        &to,
        "sysctl = \"net.ipv4.ip_forward\"",
        r#"sysctls = ["*"]"#,
    );
    let r = run_point(&node, "vpp-running", &config);
    assert_eq!(r.code, EXIT_HOOK_FAILED, "{r:?}");
    assert!(r.stderr.contains("is not a per-interface key"), "{r:?}");
    assert_eq!(
        to.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]).trim(),
        "0"
    );
}

#[test]
fn the_builtin_module_gives_a_returned_uplink_what_no_network_service_restored() {
    let node = node();
    let scratch = Scratch::new();
    let root = scratch.path("root");
    std::fs::create_dir_all(&root).unwrap();
    let config = scratch.config(&format!(
        "host_root = {root:?}\n[builtin]\nrestore_l3 = true\nrestore_l3_wait = \"1s\"\n"
    ));
    let builtin = |point: &str| {
        let mut cmd = node.nethook();
        cmd.args([
            "--log-format",
            "json",
            "run",
            point,
            "--uplink",
            "up0",
            "--config",
        ])
        .arg(&config);
        let r = run(cmd);
        assert_eq!(r.code, EXIT_OK, "{point}: {r:?}");
        r
    };
    let before = view(&node, "up0");
    builtin("before-if-read");
    // The dataplane takes the uplink into its namespace; it comes back
    // bare: down, no address, no route, its sysctls the namespace's defaults.
    let vpp = target();
    node.exec(&["ip", "link", "set", "up0", "netns", &vpp.name]);
    vpp.exec(&["ip", "link", "set", "up0", "netns", &node.name]);
    assert!(!view(&node, "up0").iter().any(|l| l.starts_with("addr")));

    let r = builtin("vpp-done-ok");
    assert_eq!(view(&node, "up0"), carried(&before), "{r:?}");
    let done: Vec<String> = r
        .hook_messages("builtin")
        .into_iter()
        .filter(|m| m.starts_with("restore_l3"))
        .collect();
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(
        done[0].starts_with("restore_l3: done uplink=up0 by=\"the network service did not restore address 10.10.0.5/24"),
        "{done:?}"
    );
    assert!(
        done[0].ends_with("within 1s\" applied=\"changed=15 present=3 skipped=\""),
        "{done:?}"
    );
}
