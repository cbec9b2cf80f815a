//! Grants: what one hook may touch. Deny by default; a denied call returns
//! `denied` and never reaches the node.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::CapError;

/// A shell-style pattern (`*`, `?`, `[...]`); in paths `*` stays within one
/// component and `**` crosses them.
#[derive(Clone)]
pub struct Glob(glob::Pattern);

impl Glob {
    pub fn new(p: &str) -> Result<Glob, String> {
        glob::Pattern::new(p)
            .map(Glob)
            .map_err(|e| format!("bad pattern {p:?}: {e}"))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn matches(&self, s: &str) -> bool {
        self.0.matches_with(
            s,
            glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            },
        )
    }
}

impl Glob {
    /// Whether some name may match both: each matches the other's text
    /// (exact for literals; for two wildcards, a cover of the common case
    /// that one pattern contains the other).
    pub fn overlaps(&self, other: &Glob) -> bool {
        self.matches(other.as_str()) || other.matches(self.as_str())
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

impl Serialize for Glob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Glob, D::Error> {
        Glob::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetlinkAccess {
    #[default]
    None,
    Read,
    Write,
}

/// `[hooks.<name>.grants]` in the config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Read the node's links, addresses, routes and rules; or also change them.
    #[serde(default)]
    pub netlink: NetlinkAccess,
    /// Interfaces the hook may change (netlink) or query (udev, NetworkManager).
    #[serde(default)]
    pub links: Vec<Glob>,
    /// Routing tables whose routes and rules the hook may change; the main
    /// (254) and local (255) tables only when listed.
    #[serde(default)]
    pub tables: Vec<u32>,
    /// Host paths the hook may read, test and list.
    #[serde(default)]
    pub read_paths: Vec<Glob>,
    /// Host paths the hook may write and remove (and read).
    #[serde(default)]
    pub write_paths: Vec<Glob>,
    /// systemd units the hook may start, stop, restart, reload and query.
    #[serde(default)]
    pub units: Vec<Glob>,
    #[serde(default)]
    pub daemon_reload: bool,
    /// NetworkManager connection ids the hook may modify, bring up or down and read.
    #[serde(default)]
    pub connections: Vec<Glob>,
    #[serde(default)]
    pub nm_reload: bool,
    /// udev reload-rules, trigger and settle.
    #[serde(default)]
    pub udev: bool,
    /// Network namespaces other than the hook's own, by name under
    /// /run/netns, that the hook may read, change and move links into.
    #[serde(default)]
    pub netns: Vec<Glob>,
    /// The same for any process's network namespace, by pid.
    #[serde(default)]
    pub netns_by_pid: bool,
    /// Per-interface sysctls the hook may read and write, as dotted keys:
    /// `net.ipv4.conf.*.rp_filter`.
    #[serde(default)]
    pub sysctls: Vec<Glob>,
    /// Every routing table: the built-in module's restore of an uplink's
    /// layer-3 configuration, whose tables are whatever the node used.
    #[serde(skip)]
    pub any_table: bool,
}

impl Grants {
    /// What both may change, by kind: what two handlers of one chain
    /// holding these grants could both write.
    pub fn overlaps(&self, other: &Grants) -> Vec<String> {
        let mut found = Vec::new();
        let mut pairs = |what: &str, a: &[Glob], b: &[Glob]| {
            for x in a {
                for y in b.iter().filter(|y| x.overlaps(y)) {
                    found.push(match x == y {
                        true => format!("{what} {}", x.as_str()),
                        false => format!("{what} {} / {}", x.as_str(), y.as_str()),
                    });
                }
            }
        };
        pairs("files", &self.write_paths, &other.write_paths);
        pairs("units", &self.units, &other.units);
        pairs("connections", &self.connections, &other.connections);
        pairs("sysctls", &self.sysctls, &other.sysctls);
        if self.netlink == NetlinkAccess::Write && other.netlink == NetlinkAccess::Write {
            pairs("links", &self.links, &other.links);
        }
        found
    }
}

fn listed(globs: &[Glob], value: &str, what: &str, key: &str) -> Result<(), CapError> {
    if globs.iter().any(|g| g.matches(value)) {
        Ok(())
    } else {
        Err(CapError::Denied(format!(
            "{what} {value:?} is not granted (grants.{key})"
        )))
    }
}

/// `setting` is the grant line that would allow it, e.g. `udev = true`.
fn flag(on: bool, what: &str, setting: &str) -> Result<(), CapError> {
    if on {
        Ok(())
    } else {
        Err(CapError::Denied(format!(
            "{what} is not granted (grants.{setting})"
        )))
    }
}

impl Grants {
    pub fn netlink_read(&self) -> Result<(), CapError> {
        flag(
            self.netlink >= NetlinkAccess::Read,
            "reading netlink state",
            "netlink = \"read\"",
        )
    }

    pub fn netlink_write(&self) -> Result<(), CapError> {
        flag(
            self.netlink == NetlinkAccess::Write,
            "changing netlink state",
            "netlink = \"write\"",
        )
    }

    pub fn link(&self, name: &str) -> Result<(), CapError> {
        listed(&self.links, name, "link", "links")
    }

    /// Changing `link` over netlink: `netlink = "write"` and the link.
    pub fn write_link(&self, link: &str) -> Result<(), CapError> {
        self.netlink_write().and_then(|_| self.link(link))
    }

    pub fn table(&self, table: u32) -> Result<(), CapError> {
        if self.any_table || self.tables.contains(&table) {
            Ok(())
        } else {
            Err(CapError::Denied(format!(
                "routing table {table} is not granted (grants.tables)"
            )))
        }
    }

    /// A rule for every link may lead only into a table of the hook's
    /// own: the kernel's tables hold every link's routes.
    pub fn table_of_every_link(&self, table: u32) -> Result<(), CapError> {
        match table {
            253..=255 => Err(CapError::Denied(format!(
                "a rule without an input link may not lead to table {} (the kernel's {} table, with routes through every link): name a granted input link, or use a table of the hook's own",
                table,
                match table {
                    253 => "default",
                    254 => "main",
                    _ => "local",
                }
            ))),
            _ => Ok(()),
        }
    }

    pub fn read_path(&self, path: &str) -> Result<(), CapError> {
        listed(&self.read_paths, path, "reading path", "read_paths")
            .or_else(|_| listed(&self.write_paths, path, "reading path", "read_paths"))
    }

    pub fn write_path(&self, path: &str) -> Result<(), CapError> {
        listed(&self.write_paths, path, "writing path", "write_paths")
    }

    pub fn unit(&self, unit: &str) -> Result<(), CapError> {
        listed(&self.units, unit, "unit", "units")
    }

    pub fn daemon_reload(&self) -> Result<(), CapError> {
        flag(
            self.daemon_reload,
            "systemd daemon-reload",
            "daemon_reload = true",
        )
    }

    pub fn connection(&self, id: &str) -> Result<(), CapError> {
        listed(&self.connections, id, "connection", "connections")
    }

    pub fn nm_reload(&self) -> Result<(), CapError> {
        flag(self.nm_reload, "NetworkManager reload", "nm_reload = true")
    }

    pub fn udev(&self) -> Result<(), CapError> {
        flag(self.udev, "udev control", "udev = true")
    }

    /// Reaching a network namespace other than the hook's own.
    pub fn netns(&self, target: &super::change::NetnsTarget) -> Result<(), CapError> {
        use super::change::NetnsTarget;
        match target {
            NetnsTarget::Named(name) => listed(&self.netns, name, "network namespace", "netns"),
            NetnsTarget::Pid(pid) => flag(
                self.netns_by_pid,
                &format!("the network namespace of pid {pid}"),
                "netns_by_pid = true",
            ),
        }
    }

    pub fn sysctl(&self, key: &str) -> Result<(), CapError> {
        listed(&self.sysctls, key, "sysctl", "sysctls")
    }

    /// What verification reads: netlink state and any unit's state.
    pub fn verifier() -> Grants {
        let all = || vec![Glob::new("*").expect("valid literal")];
        Grants {
            netlink: NetlinkAccess::Read,
            links: all(),
            units: all(),
            ..Grants::default()
        }
    }

    /// The built-in NetworkManager/udev module's grants (docs/capabilities.md documents them).
    pub fn builtin() -> Grants {
        let globs = |v: &[&str]| {
            v.iter()
                .map(|p| Glob::new(p).expect("valid literal"))
                .collect()
        };
        Grants {
            // Write: the NIC renamed back when it returns under another
            // name (builtin::uplink). No table, so no route or rule.
            netlink: NetlinkAccess::Write,
            links: globs(&["*"]),
            tables: Vec::new(),
            read_paths: globs(&[
                "/etc/NetworkManager",
                "/etc/NetworkManager/**",
                "/etc/udev/rules.d/*",
                "/run/systemd/system",
                "/run/udev/control",
                // EC2 detection and networkd's files (builtin::ec2).
                "/sys/devices/virtual/dmi/id/bios_vendor",
                "/sys/devices/virtual/dmi/id/sys_vendor",
                "/sys/firmware/dmi/tables/DMI",
                "/run/systemd/netif/links/*",
                "/run/systemd/netif/leases/*",
                // The lease: profiles NetworkManager loads from /run and
                // /usr/lib besides /etc (builtin::nm_lease).
                "/run/NetworkManager/system-connections/*",
                "/usr/lib/NetworkManager/system-connections/*",
                "/etc/systemd/network/*.network",
                "/run/systemd/network/*.network",
                "/usr/lib/systemd/network/*.network",
                "/lib/systemd/network/*.network",
                "/usr/local/lib/systemd/network/*.network",
            ]),
            write_paths: globs(&[
                "/etc/NetworkManager/NetworkManager.conf",
                "/etc/NetworkManager/conf.d/*",
                "/etc/udev/rules.d/99-vpp-restore-id_net_name.rules",
                "/etc/systemd/network/*.network",
                "/run/NetworkManager/system-connections/nethook-*.nmconnection",
                "/run/NetworkManager/internal-*.lease",
            ]),
            units: globs(&[
                "NetworkManager.service",
                "systemd-networkd.service",
                "systemd-udev-trigger.service",
                "networking.service",
                "network.service",
            ]),
            daemon_reload: false,
            // The admin's profile (activated on the returned NIC) and the
            // tap's, by UUID.
            connections: globs(&["*"]),
            nm_reload: true,
            udev: true,
            netns: Vec::new(),
            netns_by_pid: false,
            sysctls: Vec::new(),
            any_table: false,
        }
    }

    /// The built-in module's grants with `restore_l3` on: it also changes
    /// any link's addresses, routes, rules, neighbours and carried sysctls.
    pub fn builtin_restoring_l3() -> Grants {
        let globs = |v: &[&str]| {
            v.iter()
                .map(|p| Glob::new(p).expect("valid literal"))
                .collect()
        };
        Grants {
            netlink: NetlinkAccess::Write,
            any_table: true,
            sysctls: globs(&[
                "net.ipv4.conf.*.rp_filter",
                "net.ipv4.conf.*.forwarding",
                "net.ipv6.conf.*.accept_ra",
                "net.ipv6.conf.*.forwarding",
            ]),
            ..Grants::builtin()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_globs_stay_within_a_component_unless_doubled() {
        let g = Grants {
            write_paths: vec![Glob::new("/etc/systemd/network/*.network").unwrap()],
            read_paths: vec![Glob::new("/usr/lib/**").unwrap()],
            ..Grants::default()
        };
        assert!(g.write_path("/etc/systemd/network/eth0.network").is_ok());
        assert!(g
            .write_path("/etc/systemd/network/sub/eth0.network")
            .is_err());
        assert!(g.read_path("/etc/systemd/network/eth0.network").is_ok());
        assert!(g
            .read_path("/usr/lib/systemd/network/80-ec2.network")
            .is_ok());
        assert!(g.write_path("/usr/lib/x").is_err());
        assert_eq!(
            Grants::default().unit("NetworkManager.service"),
            Err(CapError::Denied(
                "unit \"NetworkManager.service\" is not granted (grants.units)".into()
            ))
        );
    }
}
