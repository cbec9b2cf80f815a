//! The uplink's Linux config as vpp-manager's LoadInterfaceConfigFromLinux
//! reads it, and its re-application (configureLinuxTap on the tap,
//! restoreLinuxIfConf on the returned uplink). Through `ip -j`, which the
//! node has.

use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub struct IfConfig {
    pub mac: String,
    pub mtu: u64,
    pub up: bool,
    pub promisc: bool,
    /// `ip addr add` arguments, one address each.
    addrs: Vec<Vec<String>>,
    /// `ip route add` arguments, one route each (family flag first).
    routes: Vec<Vec<String>>,
}

fn ip_json(args: &[&str]) -> Result<Value> {
    let out = Command::new("ip").arg("-j").args(args).output()?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Runs `ip ARGS`; EEXIST ("File exists", "Address already assigned") is
/// success, as vpp-manager tolerates it.
pub fn ip(args: &[String]) -> Result<()> {
    let out = Command::new("ip").args(args).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success()
        || err.contains("File exists")
        || err.to_lowercase().contains("already assigned")
    {
        return Ok(());
    }
    bail!("ip {}: {}", args.join(" "), err.trim())
}

pub fn ip_str(args: &[&str]) -> Result<()> {
    ip(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
}

/// The name of the link with this MAC that is not a tap (a NIC), if any.
pub fn nic_by_mac(mac: &str) -> Result<Option<String>> {
    let links = ip_json(&["link", "show"])?;
    Ok(links
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["address"].as_str() == Some(mac))
        .filter_map(|l| l["ifname"].as_str())
        .find(|n| !std::path::Path::new(&format!("/sys/class/net/{n}/tun_flags")).exists())
        .map(str::to_string))
}

pub fn capture(uplink: &str) -> Result<IfConfig> {
    let link = ip_json(&["-d", "link", "show", "dev", uplink])?;
    let link = &link[0];
    let flags: Vec<&str> = link["flags"]
        .as_array()
        .context("link flags")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let up = flags.contains(&"UP");
    let mut config = IfConfig {
        mac: link["address"]
            .as_str()
            .context("link address")?
            .to_string(),
        mtu: link["mtu"].as_u64().context("link mtu")?,
        up,
        promisc: flags.contains(&"PROMISC"),
        addrs: Vec::new(),
        routes: Vec::new(),
    };
    // vpp-manager reads addresses and routes only from an uplink that is up.
    if !up {
        return Ok(config);
    }
    let addrs = ip_json(&["addr", "show", "dev", uplink])?;
    for a in addrs[0]["addr_info"].as_array().into_iter().flatten() {
        if a["scope"] != "global" {
            continue;
        }
        let mut args = vec![format!(
            "{}/{}",
            a["local"].as_str().context("address")?,
            a["prefixlen"]
        )];
        // netlink's AddrAdd sends the remaining lifetimes it read.
        if let (Some(v), Some(p)) = (
            a["valid_life_time"].as_u64(),
            a["preferred_life_time"].as_u64(),
        ) {
            if v != u32::MAX as u64 {
                args.extend([
                    "valid_lft".into(),
                    v.to_string(),
                    "preferred_lft".into(),
                    p.to_string(),
                ]);
            }
        }
        config.addrs.push(args);
    }
    for family in ["-4", "-6"] {
        let routes = ip_json(&[family, "route", "show", "dev", uplink])?;
        for r in routes.as_array().into_iter().flatten() {
            let dst = r["dst"].as_str().context("route dst")?;
            if dst.starts_with("fe80:") || dst.starts_with("ff") {
                continue;
            }
            let mut args = vec![family.to_string(), dst.to_string()];
            for (key, word) in [
                ("gateway", "via"),
                ("protocol", "proto"),
                ("metric", "metric"),
                ("scope", "scope"),
                ("prefsrc", "src"),
            ] {
                match &r[key] {
                    Value::String(s) => args.extend([word.to_string(), s.clone()]),
                    Value::Number(n) => args.extend([word.to_string(), n.to_string()]),
                    _ => {}
                }
            }
            config.routes.push(args);
        }
    }
    Ok(config)
}

impl IfConfig {
    /// Addresses, then routes, on `dev` (the tap, or the returned uplink).
    /// A failure is logged and the rest goes on, as vpp-manager does (the
    /// network service may have changed the link under it).
    pub fn apply(&self, dev: &str) {
        for a in &self.addrs {
            let mut args = vec!["addr".to_string(), "add".into()];
            args.extend(a.iter().cloned());
            args.extend(["dev".into(), dev.into()]);
            if let Err(e) = ip(&args) {
                eprintln!("stand-in dataplane: error adding an address (logged, as vpp-manager does): {e}");
            }
        }
        for r in &self.routes {
            let mut args = vec![r[0].clone(), "route".into(), "add".into()];
            args.extend(r[1..].iter().cloned());
            args.extend(["dev".into(), dev.into()]);
            if let Err(e) = ip(&args) {
                eprintln!(
                    "stand-in dataplane: cannot add a route (logged, as vpp-manager does): {e}"
                );
            }
        }
    }
}
