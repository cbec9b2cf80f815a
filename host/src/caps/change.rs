//! Changes as values: every mutating capability call is one [`Change`],
//! and what undoes it is more changes, captured from the node *before* the
//! call is made. Plan output, audit records and the journal are all
//! rendered from these values.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::netlink::family_name;
use super::{CapError, Grants};
use crate::bindings::nethook::hooks::l3::{L3Config, Neighbour};
use crate::bindings::nethook::hooks::netlink::{RouteSpec, Rule};

/// A file's bytes and mode, as found before a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileImage {
    #[serde(with = "hex_bytes")]
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// What a file must hold for an undo to touch it: what the change left.
/// Anything else means someone edited it since, and their edit is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Absent,
    /// sha256 of the bytes, hex.
    Sha256(String),
}

pub use super::netns::NetnsTarget;

/// One change to the node (or to nethook's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    LinkSetUp {
        link: String,
        up: bool,
    },
    LinkSetMtu {
        link: String,
        mtu: u32,
    },
    LinkRename {
        link: String,
        to: String,
    },
    /// One of a link's alternative names added or removed.
    LinkAltNameAdd {
        link: String,
        name: String,
    },
    LinkAltNameDel {
        link: String,
        name: String,
    },
    LinkMoveNetns {
        link: String,
        target: NetnsTarget,
    },
    AddressAdd {
        link: String,
        address: String,
        prefix_len: u8,
    },
    AddressDel {
        link: String,
        address: String,
        prefix_len: u8,
    },
    /// An address's lifetimes, in seconds (None: forever), changed in place.
    AddressLifetime {
        link: String,
        address: String,
        prefix_len: u8,
        valid: Option<u32>,
        preferred: Option<u32>,
    },
    RouteAdd {
        route: RouteSpec,
    },
    RouteDel {
        route: RouteSpec,
    },
    RuleAdd {
        rule: Rule,
    },
    RuleDel {
        rule: Rule,
    },
    /// Write `bytes` (None: shown by size only) with `mode`.
    FileWrite {
        path: String,
        size: usize,
        mode: Option<u32>,
        sha256: String,
    },
    FileRemove {
        path: String,
    },
    /// Put a file back as it was (None: remove it), unless it no longer
    /// holds what `expect` says: an undo, never asked for by a hook.
    FileRestore {
        path: String,
        previous: Option<FileImage>,
        expect: Expect,
    },
    UnitStart {
        unit: String,
    },
    UnitStop {
        unit: String,
    },
    UnitRestart {
        unit: String,
    },
    UnitReload {
        unit: String,
    },
    UnitResetFailed {
        unit: String,
    },
    DaemonReload,
    NmModify {
        id: String,
        settings: Vec<(String, String)>,
    },
    NmUp {
        id: String,
    },
    NmDown {
        id: String,
    },
    NmReload,
    /// `nmcli general reload conf`: NetworkManager.conf and conf.d again.
    NmReloadConf,
    /// `nmcli connection load PATH`: a keyfile (re)read, or forgotten
    /// when the file is gone.
    NmLoad {
        path: String,
    },
    /// A profile activated on a device (`connection up uuid U ifname D`).
    NmActivate {
        uuid: String,
        ifname: String,
    },
    NmDeactivate {
        uuid: String,
    },
    /// `networkctl reload`: networkd's files read again.
    NetworkdReload,
    /// `networkctl reconfigure LINK`.
    NetworkdReconfigure {
        link: String,
    },
    UdevReloadRules,
    UdevTrigger {
        subsystem: String,
        action: String,
    },
    /// `udevadm trigger --settle` for one network device.
    UdevTriggerDevice {
        link: String,
        action: String,
    },
    /// Waits: nothing to undo, shown in plans.
    UnitWaitActive {
        unit: String,
        within: String,
    },
    UdevSettle {
        within: String,
    },
    StateSet {
        key: String,
        value: String,
    },
    StateDelete {
        key: String,
    },
    /// A netlink or sysctl change made inside another network namespace
    /// than the hook's own.
    InNetns {
        netns: NetnsTarget,
        inner: Box<Change>,
    },
    /// A link moved between namespaces (none: the hook's own).
    LinkMove {
        link: String,
        from: Option<NetnsTarget>,
        to: Option<NetnsTarget>,
    },
    /// What of a layer-3 configuration the link lacked, given to it.
    L3Apply {
        link: String,
        netns: Option<NetnsTarget>,
        config: L3Config,
    },
    NeighAdd {
        neighbour: Neighbour,
    },
    NeighDel {
        neighbour: Neighbour,
    },
    SysctlSet {
        key: String,
        value: String,
    },
}

impl Change {
    /// The grants it needs, derived from the change itself: what
    /// [`Host::mutate`](super::Host) checks of every change it records,
    /// whatever the view that made it checked before. A view checks its
    /// arguments (and, in its own order, the same grants); a change can
    /// never be made without the grants it names.
    pub fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use Change::*;
        let write_link = |link: &str| g.netlink_write().and_then(|_| g.link(link));
        match self {
            LinkSetUp { link, .. }
            | LinkSetMtu { link, .. }
            | AddressAdd { link, .. }
            | AddressDel { link, .. }
            | AddressLifetime { link, .. } => write_link(link),
            LinkRename { link, to: name }
            | LinkAltNameAdd { link, name }
            | LinkAltNameDel { link, name } => write_link(link).and_then(|_| g.link(name)),
            LinkMoveNetns { link, target } => write_link(link).and_then(|_| g.netns(target)),
            RouteAdd { route } | RouteDel { route } => {
                g.netlink_write()?;
                g.table(route.table)?;
                route.output_link.as_deref().map_or(Ok(()), write_link)
            }
            RuleAdd { rule } | RuleDel { rule } => {
                g.netlink_write()?;
                g.table(rule.table)?;
                match &rule.input_link {
                    Some(link) => write_link(link),
                    None => g.table_of_every_link(rule.table),
                }
            }
            FileWrite { path, .. } | FileRemove { path } | FileRestore { path, .. } => {
                g.write_path(path)
            }
            UnitStart { unit }
            | UnitStop { unit }
            | UnitRestart { unit }
            | UnitReload { unit }
            | UnitResetFailed { unit }
            | UnitWaitActive { unit, .. } => g.unit(unit),
            DaemonReload => g.daemon_reload(),
            NetworkdReload => g.unit(super::systemd::NETWORKD),
            NetworkdReconfigure { link } => {
                g.unit(super::systemd::NETWORKD).and_then(|_| g.link(link))
            }
            NmModify { id, .. } | NmUp { id } | NmDown { id } | NmDeactivate { uuid: id } => {
                g.connection(id)
            }
            NmActivate { uuid, ifname } => g.connection(uuid).and_then(|_| g.link(ifname)),
            NmReload | NmReloadConf => g.nm_reload(),
            NmLoad { path } => super::host_fs::normalize(path).and_then(|p| g.write_path(&p)),
            UdevReloadRules | UdevTrigger { .. } | UdevSettle { .. } => g.udev(),
            UdevTriggerDevice { link, .. } => g.udev().and_then(|_| g.link(link)),
            // The hook's own: bounded by the store's limits, not granted.
            StateSet { .. } | StateDelete { .. } => Ok(()),
            InNetns { netns, inner } => g.netns(netns).and_then(|_| inner.grant(g)),
            LinkMove { link, from, to } => {
                write_link(link)?;
                from.iter().chain(to.iter()).try_for_each(|ns| g.netns(ns))
            }
            L3Apply {
                link,
                netns,
                config,
            } => {
                write_link(link)?;
                netns.as_ref().map_or(Ok(()), |ns| g.netns(ns))?;
                super::l3::granted(g, config)
            }
            NeighAdd { neighbour } | NeighDel { neighbour } => write_link(&neighbour.link),
            SysctlSet { key, .. } => {
                g.netlink_write()?;
                super::l3::sysctl::granted(g, key)
            }
        }
    }

    /// The node object it changes: what two handlers of one chain must not
    /// both change. None for what has no lasting object (a reload, a
    /// trigger, a wait) or is the hook's own (its state).
    pub fn object(&self) -> Option<String> {
        use Change::*;
        Some(match self {
            LinkSetUp { link, .. } => format!("link {link} up/down"),
            LinkSetMtu { link, .. } => format!("link {link} mtu"),
            LinkRename { link, .. } => format!("link {link} name"),
            LinkAltNameAdd { name, .. } | LinkAltNameDel { name, .. } => {
                format!("link name {name}")
            }
            LinkMoveNetns { link, .. } | LinkMove { link, .. } => format!("link {link} namespace"),
            AddressAdd { .. } | AddressDel { .. } => format!("address {}", self.args()),
            AddressLifetime {
                link,
                address,
                prefix_len,
                ..
            } => format!("address {link} {address}/{prefix_len}"),
            RouteAdd { .. } | RouteDel { .. } | RuleAdd { .. } | RuleDel { .. } => {
                format!("{} {}", self.capability(), self.args())
            }
            NeighAdd { .. } | NeighDel { .. } => format!("neighbour {}", self.args()),
            L3Apply { link, .. } => format!("link {link} layer 3"),
            FileWrite { path, .. } | FileRemove { path } | FileRestore { path, .. } => {
                format!("file {path}")
            }
            UnitStart { unit }
            | UnitStop { unit }
            | UnitRestart { unit }
            | UnitReload { unit }
            | UnitResetFailed { unit } => format!("unit {unit}"),
            NmModify { id, .. } | NmUp { id } | NmDown { id } => format!("connection {id}"),
            NmActivate { uuid, .. } | NmDeactivate { uuid } => format!("connection {uuid}"),
            SysctlSet { key, .. } => format!("sysctl {key}"),
            InNetns { netns, inner } => format!("{} in netns {netns}", inner.object()?),
            DaemonReload | NmReload | UdevReloadRules | UdevTrigger { .. } => return None,
            NmReloadConf | NmLoad { .. } | NetworkdReload | NetworkdReconfigure { .. } => {
                return None
            }
            UdevTriggerDevice { .. } => return None,
            UnitWaitActive { .. } | UdevSettle { .. } | StateSet { .. } | StateDelete { .. } => {
                return None
            }
        })
    }

    /// The WIT interface it belongs to, as audited.
    pub fn capability(&self) -> &'static str {
        use Change::*;
        match self {
            LinkSetUp { .. } | LinkSetMtu { .. } | LinkRename { .. } | LinkMoveNetns { .. } => {
                "netlink"
            }
            LinkAltNameAdd { .. } | LinkAltNameDel { .. } => "netlink",
            AddressAdd { .. } | AddressDel { .. } | RouteAdd { .. } | RouteDel { .. } => "netlink",
            AddressLifetime { .. } => "netlink",
            RuleAdd { .. } | RuleDel { .. } => "netlink",
            FileWrite { .. } | FileRemove { .. } | FileRestore { .. } => "host-fs",
            UnitStart { .. } | UnitStop { .. } | UnitRestart { .. } | UnitReload { .. } => {
                "systemd"
            }
            UnitResetFailed { .. } | DaemonReload | UnitWaitActive { .. } => "systemd",
            NetworkdReload | NetworkdReconfigure { .. } => "systemd",
            NmModify { .. } | NmUp { .. } | NmDown { .. } | NmReload => "network-manager",
            NmReloadConf | NmLoad { .. } | NmActivate { .. } | NmDeactivate { .. } => {
                "network-manager"
            }
            UdevReloadRules | UdevTrigger { .. } | UdevSettle { .. } => "udev",
            UdevTriggerDevice { .. } => "udev",
            StateSet { .. } | StateDelete { .. } => "state",
            InNetns { inner, .. } => inner.capability(),
            LinkMove { .. } | L3Apply { .. } | NeighAdd { .. } | NeighDel { .. } => "l3",
            SysctlSet { .. } => "l3",
        }
    }

    /// The operation, as audited.
    pub fn operation(&self) -> &'static str {
        use Change::*;
        match self {
            LinkSetUp { up: true, .. } => "set-up",
            LinkSetUp { up: false, .. } => "set-down",
            LinkSetMtu { .. } => "set-mtu",
            LinkRename { .. } => "rename",
            LinkAltNameAdd { .. } => "add-alt-name",
            LinkAltNameDel { .. } => "del-alt-name",
            LinkMoveNetns { .. } => "move-to-netns",
            AddressAdd { .. } => "add-address",
            AddressDel { .. } => "del-address",
            AddressLifetime { .. } => "set-address-lifetime",
            RouteAdd { .. } => "add-route",
            RouteDel { .. } => "del-route",
            RuleAdd { .. } => "add-rule",
            RuleDel { .. } => "del-rule",
            FileWrite { .. } => "write",
            FileRemove { .. } => "remove",
            FileRestore { .. } => "restore",
            UnitStart { .. } => "start",
            UnitStop { .. } => "stop",
            UnitRestart { .. } => "restart",
            UnitReload { .. } => "reload",
            UnitResetFailed { .. } => "reset-failed",
            DaemonReload => "daemon-reload",
            NmModify { .. } => "connection-modify",
            NmUp { .. } => "connection-up",
            NmDown { .. } => "connection-down",
            NmReload => "reload",
            NmReloadConf => "reload-conf",
            NmLoad { .. } => "load",
            NmActivate { .. } => "activate",
            NmDeactivate { .. } => "deactivate",
            NetworkdReload => "networkd-reload",
            NetworkdReconfigure { .. } => "networkd-reconfigure",
            UdevReloadRules => "reload-rules",
            UdevTrigger { .. } => "trigger",
            UdevTriggerDevice { .. } => "trigger-device",
            UnitWaitActive { .. } => "wait-active",
            UdevSettle { .. } => "settle",
            StateSet { .. } => "set",
            StateDelete { .. } => "delete",
            InNetns { inner, .. } => inner.operation(),
            LinkMove { .. } => "move-link",
            L3Apply { .. } => "apply",
            NeighAdd { .. } => "add-neighbour",
            NeighDel { .. } => "del-neighbour",
            SysctlSet { .. } => "sysctl-set",
        }
    }

    /// The arguments, as audited and planned.
    pub fn args(&self) -> String {
        use Change::*;
        match self {
            LinkSetUp { link, .. } | UnitStart { unit: link } | UnitStop { unit: link } => {
                link.clone()
            }
            UnitRestart { unit } | UnitReload { unit } | UnitResetFailed { unit } => unit.clone(),
            LinkSetMtu { link, mtu } => format!("{link} {mtu}"),
            LinkRename { link, to } => format!("{link} {to}"),
            LinkAltNameAdd { link, name } | LinkAltNameDel { link, name } => {
                format!("{link} {name}")
            }
            LinkMoveNetns {
                link,
                target: NetnsTarget::Named(ns),
            } => format!("{link} netns {ns}"),
            LinkMoveNetns {
                link,
                target: NetnsTarget::Pid(pid),
            } => {
                format!("{link} netns-of-pid {pid}")
            }
            AddressAdd {
                link,
                address,
                prefix_len,
            }
            | AddressDel {
                link,
                address,
                prefix_len,
            } => {
                format!("{link} {address}/{prefix_len}")
            }
            AddressLifetime {
                link,
                address,
                prefix_len,
                valid,
                preferred,
            } => {
                let s = |v: &Option<u32>| v.map_or("forever".to_string(), |v| format!("{v}s"));
                format!(
                    "{link} {address}/{prefix_len} valid {} preferred {}",
                    s(valid),
                    s(preferred)
                )
            }
            RouteAdd { route } | RouteDel { route } => route.to_string(),
            RuleAdd { rule } | RuleDel { rule } => rule.to_string(),
            FileWrite {
                path,
                size,
                mode: Some(m),
                ..
            } => {
                format!("{path} ({size} bytes, mode {m:04o})")
            }
            FileWrite {
                path,
                size,
                mode: None,
                ..
            } => format!("{path} ({size} bytes)"),
            FileRemove { path } => path.clone(),
            FileRestore {
                path,
                previous: Some(p),
                ..
            } => {
                format!("{path} ({} bytes, mode {:04o})", p.bytes.len(), p.mode)
            }
            FileRestore {
                path,
                previous: None,
                ..
            } => format!("{path} (absent)"),
            DaemonReload | NmReload | NmReloadConf | NetworkdReload | UdevReloadRules => {
                String::new()
            }
            NmLoad { path } => path.clone(),
            NmActivate { uuid, ifname } => format!("{uuid} on {ifname}"),
            NmDeactivate { uuid } => uuid.clone(),
            NetworkdReconfigure { link } => link.clone(),
            UdevTriggerDevice { link, action } => format!("{link} action={action}"),
            NmModify { id, settings } => {
                let shown: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{id} {}", shown.join(" "))
            }
            NmUp { id } | NmDown { id } => id.clone(),
            UdevTrigger { subsystem, action } => format!("subsystem={subsystem} action={action}"),
            UnitWaitActive { unit, within } => format!("{unit} within {within}"),
            UdevSettle { within } => within.clone(),
            StateSet { key, value } => format!("{key} ({} bytes)", value.len()),
            StateDelete { key } => key.clone(),
            InNetns { netns, inner } => format!("{} in {netns}", inner.args()),
            LinkMove { link, from, to } => format!(
                "{link} from {} to {}",
                super::netns::shown(from.as_ref()),
                super::netns::shown(to.as_ref())
            ),
            L3Apply {
                link,
                netns,
                config,
            } => format!(
                "{link} in {}: mtu {}, {} addresses, {} routes, {} rules, {} neighbours, {} settings",
                super::netns::shown(netns.as_ref()),
                config.mtu,
                config.addresses.len(),
                config.routes.len(),
                config.rules.len(),
                config.neighbours.len(),
                config.settings.len()
            ),
            NeighAdd { neighbour: n } | NeighDel { neighbour: n } => format!(
                "{} {} lladdr {} state {:#x}",
                n.link,
                n.address,
                n.mac.as_deref().unwrap_or("none"),
                n.state
            ),
            SysctlSet { key, value } => format!("{key}={value}"),
        }
    }

    /// Survives a reboot: files, NetworkManager profiles, nethook's state.
    /// Kernel and unit state does not, so after a reboot it is not undone.
    pub fn persistent(&self) -> bool {
        use Change::*;
        matches!(
            self,
            FileWrite { .. }
                | FileRemove { .. }
                | FileRestore { .. }
                | NmModify { .. }
                | StateSet { .. }
                | StateDelete { .. }
        )
    }

    /// Changes that make a service take up configuration put back by an
    /// undo: at a rollback they run once each, after everything else.
    pub fn reapplies(&self) -> bool {
        use Change::*;
        matches!(
            self,
            UnitRestart { .. }
                | UnitReload { .. }
                | DaemonReload
                | NmReload
                | NmReloadConf
                | NmLoad { .. }
                | NetworkdReload
                | NetworkdReconfigure { .. }
                | UdevReloadRules
                | UdevTrigger { .. }
                | UdevTriggerDevice { .. }
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} {}",
            self.capability(),
            self.operation(),
            self.args()
        )
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            family_name(self.family),
            self.destination.as_deref().unwrap_or("default"),
            self.prefix_len
        )?;
        if let Some(g) = &self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(l) = &self.output_link {
            write!(f, " dev {l}")?;
        }
        write!(f, " table {}", self.table)?;
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        write!(f, " proto {} scope {}", self.protocol, self.scope)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(family_name(self.family))?;
        if let Some(p) = self.priority {
            write!(f, " priority {p}")?;
        }
        if let Some(a) = &self.source {
            write!(f, " from {a}/{}", self.source_len)?;
        }
        if let Some(a) = &self.destination {
            write!(f, " to {a}/{}", self.destination_len)?;
        }
        if let Some(l) = &self.input_link {
            write!(f, " iif {l}")?;
        }
        if let Some(m) = self.fwmark {
            write!(f, " fwmark {m}")?;
        }
        write!(f, " table {}", self.table)
    }
}

/// How a change is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "kebab-case")]
pub enum Inverse {
    /// These changes, in order.
    Changes { changes: Vec<Change> },
    /// Nothing: the change found the node already so (or only waited).
    Nothing,
    /// It cannot be undone from here; rollback reports it as left.
    Irreversible { why: String },
}

impl Inverse {
    pub fn of(changes: Vec<Change>) -> Inverse {
        if changes.is_empty() {
            Inverse::Nothing
        } else {
            Inverse::Changes { changes }
        }
    }
}

impl fmt::Display for Inverse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inverse::Changes { changes } => {
                let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
                f.write_str(&shown.join("; "))
            }
            Inverse::Nothing => f.write_str("(nothing to undo)"),
            Inverse::Irreversible { why } => write!(f, "(irreversible: {why})"),
        }
    }
}

/// One change a hook made (or would make, in plan mode), with its undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub change: Change,
    pub inverse: Inverse,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.change.fmt(f)
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::nethook::hooks::netlink::Family;

    #[test]
    fn changes_round_trip_through_json_and_render_as_audited() {
        let c = Change::FileRestore {
            path: "/etc/x".into(),
            previous: Some(FileImage {
                bytes: b"a\n".to_vec(),
                mode: 0o644,
            }),
            expect: Expect::Sha256("ab".into()),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"change":"file-restore","path":"/etc/x","previous":{"bytes":"610a","mode":420},"expect":{"sha256":"ab"}}"#
        );
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), c);
        assert_eq!(c.to_string(), "host-fs.restore /etc/x (2 bytes, mode 0644)");
        let r = Change::RouteAdd {
            route: RouteSpec {
                family: Family::Ipv4,
                destination: Some("10.0.0.0".into()),
                prefix_len: 8,
                gateway: Some("10.1.0.1".into()),
                output_link: Some("eth0".into()),
                table: 254,
                metric: Some(5),
                protocol: 4,
                scope: 0,
            },
        };
        assert_eq!(
            r.to_string(),
            "netlink.add-route ipv4 10.0.0.0/8 via 10.1.0.1 dev eth0 table 254 metric 5 proto 4 scope 0"
        );
        assert!(!r.persistent() && c.persistent());
    }

    #[test]
    fn the_lease_changes_render_and_reapply_as_they_should() {
        let load = Change::NmLoad {
            path: "/run/NetworkManager/system-connections/nethook-ens3.nmconnection".into(),
        };
        assert_eq!(
            load.to_string(),
            "network-manager.load /run/NetworkManager/system-connections/nethook-ens3.nmconnection"
        );
        let up = Change::NmActivate {
            uuid: "5b5a80c5-8599-8e26-92a5-43d32bea4db6".into(),
            ifname: "ens3".into(),
        };
        assert_eq!(
            up.to_string(),
            "network-manager.activate 5b5a80c5-8599-8e26-92a5-43d32bea4db6 on ens3"
        );
        assert_eq!(
            up.object().as_deref(),
            Some("connection 5b5a80c5-8599-8e26-92a5-43d32bea4db6")
        );
        let keep = Change::AddressLifetime {
            link: "ens3".into(),
            address: "10.97.0.117".into(),
            prefix_len: 24,
            valid: None,
            preferred: Some(30),
        };
        assert_eq!(
            keep.to_string(),
            "netlink.set-address-lifetime ens3 10.97.0.117/24 valid forever preferred 30s"
        );
        // Reloads, reconfigures and triggers make a service take up what an
        // undo put back: run last; activations and lifetimes are undone.
        for c in [
            load,
            Change::NmReloadConf,
            Change::NetworkdReload,
            Change::NetworkdReconfigure {
                link: "ens3".into(),
            },
            Change::UdevTriggerDevice {
                link: "ens3".into(),
                action: "change".into(),
            },
        ] {
            assert!(c.reapplies() && !c.persistent(), "{c}");
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), c);
        }
        assert!(!up.reapplies() && !keep.reapplies());
    }

    /// One of every change, as journaled: the journal's format, which
    /// files already on disk are read back in.
    fn one_of_every_change() -> Vec<Change> {
        use crate::bindings::nethook::hooks::l3::{ConfSetting, L3Config, Neighbour};
        let route = RouteSpec {
            family: Family::Ipv6,
            destination: None,
            prefix_len: 0,
            gateway: Some("fe80::1".into()),
            output_link: None,
            table: 100,
            metric: None,
            protocol: 3,
            scope: 0,
        };
        let rule = Rule {
            family: Family::Ipv4,
            priority: Some(100),
            table: 100,
            source: Some("10.0.0.0".into()),
            source_len: 8,
            destination: None,
            destination_len: 0,
            input_link: Some("eth1".into()),
            fwmark: None,
        };
        let neighbour = Neighbour {
            family: Family::Ipv4,
            link: "eth0".into(),
            address: "10.0.0.2".into(),
            mac: Some("aa:bb:cc:dd:ee:ff".into()),
            state: 0x80,
        };
        let config = L3Config {
            link: "eth0".into(),
            mtu: 9000,
            up: true,
            addresses: Vec::new(),
            routes: Vec::new(),
            rules: vec![rule.clone()],
            neighbours: vec![neighbour.clone()],
            settings: vec![ConfSetting {
                family: Family::Ipv6,
                name: "accept_ra".into(),
                value: "2".into(),
            }],
            captured_at: 1_700_000_000,
            left_out: vec!["a route of table 7".into()],
        };
        let ns = NetnsTarget::Named("blue".into());
        let (l, u) = (|| "eth0".to_string(), || "x.service".to_string());
        use Change::*;
        vec![
            LinkSetUp {
                link: l(),
                up: true,
            },
            LinkSetUp {
                link: l(),
                up: false,
            },
            LinkSetMtu {
                link: l(),
                mtu: 1500,
            },
            LinkRename {
                link: l(),
                to: "wan".into(),
            },
            LinkAltNameAdd {
                link: l(),
                name: "uplink".into(),
            },
            LinkAltNameDel {
                link: l(),
                name: "uplink".into(),
            },
            LinkMoveNetns {
                link: l(),
                target: ns.clone(),
            },
            LinkMoveNetns {
                link: l(),
                target: NetnsTarget::Pid(42),
            },
            AddressAdd {
                link: l(),
                address: "10.0.0.1".into(),
                prefix_len: 24,
            },
            AddressDel {
                link: l(),
                address: "fe80::1".into(),
                prefix_len: 64,
            },
            AddressLifetime {
                link: l(),
                address: "10.0.0.1".into(),
                prefix_len: 24,
                valid: None,
                preferred: Some(30),
            },
            RouteAdd {
                route: route.clone(),
            },
            RouteDel { route },
            RuleAdd { rule: rule.clone() },
            RuleDel { rule },
            FileWrite {
                path: "/etc/x".into(),
                size: 3,
                mode: Some(0o600),
                sha256: "ab".into(),
            },
            FileWrite {
                path: "/etc/x".into(),
                size: 3,
                mode: None,
                sha256: "ab".into(),
            },
            FileRemove {
                path: "/etc/x".into(),
            },
            FileRestore {
                path: "/etc/x".into(),
                previous: Some(FileImage {
                    bytes: b"a\n".to_vec(),
                    mode: 0o644,
                }),
                expect: Expect::Sha256("ab".into()),
            },
            FileRestore {
                path: "/etc/x".into(),
                previous: None,
                expect: Expect::Absent,
            },
            UnitStart { unit: u() },
            UnitStop { unit: u() },
            UnitRestart { unit: u() },
            UnitReload { unit: u() },
            UnitResetFailed { unit: u() },
            DaemonReload,
            NmModify {
                id: "Wired 1".into(),
                settings: vec![("ipv4.method".into(), "manual".into())],
            },
            NmUp {
                id: "Wired 1".into(),
            },
            NmDown {
                id: "Wired 1".into(),
            },
            NmReload,
            NmReloadConf,
            NmLoad {
                path: "/run/NetworkManager/system-connections/nethook-eth0.nmconnection".into(),
            },
            NmActivate {
                uuid: "5b5a80c5-8599-8e26-92a5-43d32bea4db6".into(),
                ifname: l(),
            },
            NmDeactivate {
                uuid: "5b5a80c5-8599-8e26-92a5-43d32bea4db6".into(),
            },
            NetworkdReload,
            NetworkdReconfigure { link: l() },
            UdevReloadRules,
            UdevTrigger {
                subsystem: "net".into(),
                action: "add".into(),
            },
            UdevTriggerDevice {
                link: l(),
                action: "change".into(),
            },
            UnitWaitActive {
                unit: u(),
                within: "5s".into(),
            },
            UdevSettle {
                within: "10s".into(),
            },
            StateSet {
                key: "k".into(),
                value: "v".into(),
            },
            StateDelete { key: "k".into() },
            InNetns {
                netns: NetnsTarget::Pid(7),
                inner: Box::new(InNetns {
                    netns: ns.clone(),
                    inner: Box::new(SysctlSet {
                        key: "net.ipv4.conf.eth0.forwarding".into(),
                        value: "1".into(),
                    }),
                }),
            },
            LinkMove {
                link: l(),
                from: None,
                to: Some(ns.clone()),
            },
            L3Apply {
                link: l(),
                netns: Some(ns),
                config,
            },
            NeighAdd {
                neighbour: neighbour.clone(),
            },
            NeighDel { neighbour },
            SysctlSet {
                key: "net.ipv4.conf.eth0.rp_filter".into(),
                value: "2".into(),
            },
        ]
    }

    /// Every variant is in [`one_of_every_change`]: a new one fails to
    /// compile here until it is.
    fn variant(c: &Change) -> &'static str {
        use Change::*;
        match c {
            LinkSetUp { .. } => "LinkSetUp",
            LinkSetMtu { .. } => "LinkSetMtu",
            LinkRename { .. } => "LinkRename",
            LinkAltNameAdd { .. } => "LinkAltNameAdd",
            LinkAltNameDel { .. } => "LinkAltNameDel",
            LinkMoveNetns { .. } => "LinkMoveNetns",
            AddressAdd { .. } => "AddressAdd",
            AddressDel { .. } => "AddressDel",
            AddressLifetime { .. } => "AddressLifetime",
            RouteAdd { .. } => "RouteAdd",
            RouteDel { .. } => "RouteDel",
            RuleAdd { .. } => "RuleAdd",
            RuleDel { .. } => "RuleDel",
            FileWrite { .. } => "FileWrite",
            FileRemove { .. } => "FileRemove",
            FileRestore { .. } => "FileRestore",
            UnitStart { .. } => "UnitStart",
            UnitStop { .. } => "UnitStop",
            UnitRestart { .. } => "UnitRestart",
            UnitReload { .. } => "UnitReload",
            UnitResetFailed { .. } => "UnitResetFailed",
            DaemonReload => "DaemonReload",
            NmModify { .. } => "NmModify",
            NmUp { .. } => "NmUp",
            NmDown { .. } => "NmDown",
            NmReload => "NmReload",
            NmReloadConf => "NmReloadConf",
            NmLoad { .. } => "NmLoad",
            NmActivate { .. } => "NmActivate",
            NmDeactivate { .. } => "NmDeactivate",
            NetworkdReload => "NetworkdReload",
            NetworkdReconfigure { .. } => "NetworkdReconfigure",
            UdevReloadRules => "UdevReloadRules",
            UdevTrigger { .. } => "UdevTrigger",
            UdevTriggerDevice { .. } => "UdevTriggerDevice",
            UnitWaitActive { .. } => "UnitWaitActive",
            UdevSettle { .. } => "UdevSettle",
            StateSet { .. } => "StateSet",
            StateDelete { .. } => "StateDelete",
            InNetns { .. } => "InNetns",
            LinkMove { .. } => "LinkMove",
            L3Apply { .. } => "L3Apply",
            NeighAdd { .. } => "NeighAdd",
            NeighDel { .. } => "NeighDel",
            SysctlSet { .. } => "SysctlSet",
        }
    }

    #[test]
    fn every_change_journals_as_it_always_has() {
        let all = one_of_every_change();
        let kinds: std::collections::BTreeSet<_> = all.iter().map(variant).collect();
        assert_eq!(kinds.len(), 45, "one of every variant");
        let json: Vec<String> = all
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        let want: Vec<&str> = EVERY_CHANGE_JSON.lines().collect();
        assert_eq!(json, want);
        for (c, j) in all.iter().zip(&json) {
            assert_eq!(&serde_json::from_str::<Change>(j).unwrap(), c);
        }
        let shown: Vec<String> = all
            .iter()
            .map(|c| format!("{c} | {:?}", c.object()))
            .collect();
        let want: Vec<&str> = EVERY_CHANGE_SHOWN.lines().collect();
        assert_eq!(shown, want);
    }

    #[test]
    fn every_change_names_the_grants_it_needs() {
        use super::super::grants::{Glob, NetlinkAccess};
        let globs = |v: &[&str]| v.iter().map(|p| Glob::new(p).unwrap()).collect::<Vec<_>>();
        let wide = Grants {
            netlink: NetlinkAccess::Write,
            links: globs(&["*"]),
            tables: vec![100],
            write_paths: globs(&["/**"]),
            units: globs(&["*"]),
            daemon_reload: true,
            connections: globs(&["*"]),
            nm_reload: true,
            udev: true,
            netns: globs(&["*"]),
            netns_by_pid: true,
            sysctls: globs(&["*"]),
            ..Grants::default()
        };
        for c in one_of_every_change() {
            let own = matches!(c, Change::StateSet { .. } | Change::StateDelete { .. });
            assert_eq!(c.grant(&Grants::default()).is_ok(), own, "{c}");
            assert_eq!(c.grant(&wide), Ok(()), "{c}");
        }
        let every_link = Change::RuleAdd {
            rule: Rule {
                family: Family::Ipv4,
                priority: None,
                table: 254,
                source: None,
                source_len: 0,
                destination: None,
                destination_len: 0,
                input_link: None,
                fwmark: None,
            },
        };
        let main = Grants {
            tables: vec![254],
            ..wide
        };
        assert!(matches!(every_link.grant(&main), Err(CapError::Denied(_))));
    }

    /// Captured before the change enum was split by capability.
    const EVERY_CHANGE_JSON: &str = r#"{"change":"link-set-up","link":"eth0","up":true}
{"change":"link-set-up","link":"eth0","up":false}
{"change":"link-set-mtu","link":"eth0","mtu":1500}
{"change":"link-rename","link":"eth0","to":"wan"}
{"change":"link-alt-name-add","link":"eth0","name":"uplink"}
{"change":"link-alt-name-del","link":"eth0","name":"uplink"}
{"change":"link-move-netns","link":"eth0","target":{"named":"blue"}}
{"change":"link-move-netns","link":"eth0","target":{"pid":42}}
{"change":"address-add","link":"eth0","address":"10.0.0.1","prefix_len":24}
{"change":"address-del","link":"eth0","address":"fe80::1","prefix_len":64}
{"change":"address-lifetime","link":"eth0","address":"10.0.0.1","prefix_len":24,"valid":null,"preferred":30}
{"change":"route-add","route":{"family":"Ipv6","destination":null,"prefix_len":0,"gateway":"fe80::1","output_link":null,"table":100,"metric":null,"protocol":3,"scope":0}}
{"change":"route-del","route":{"family":"Ipv6","destination":null,"prefix_len":0,"gateway":"fe80::1","output_link":null,"table":100,"metric":null,"protocol":3,"scope":0}}
{"change":"rule-add","rule":{"family":"Ipv4","priority":100,"table":100,"source":"10.0.0.0","source_len":8,"destination":null,"destination_len":0,"input_link":"eth1","fwmark":null}}
{"change":"rule-del","rule":{"family":"Ipv4","priority":100,"table":100,"source":"10.0.0.0","source_len":8,"destination":null,"destination_len":0,"input_link":"eth1","fwmark":null}}
{"change":"file-write","path":"/etc/x","size":3,"mode":384,"sha256":"ab"}
{"change":"file-write","path":"/etc/x","size":3,"mode":null,"sha256":"ab"}
{"change":"file-remove","path":"/etc/x"}
{"change":"file-restore","path":"/etc/x","previous":{"bytes":"610a","mode":420},"expect":{"sha256":"ab"}}
{"change":"file-restore","path":"/etc/x","previous":null,"expect":"absent"}
{"change":"unit-start","unit":"x.service"}
{"change":"unit-stop","unit":"x.service"}
{"change":"unit-restart","unit":"x.service"}
{"change":"unit-reload","unit":"x.service"}
{"change":"unit-reset-failed","unit":"x.service"}
{"change":"daemon-reload"}
{"change":"nm-modify","id":"Wired 1","settings":[["ipv4.method","manual"]]}
{"change":"nm-up","id":"Wired 1"}
{"change":"nm-down","id":"Wired 1"}
{"change":"nm-reload"}
{"change":"nm-reload-conf"}
{"change":"nm-load","path":"/run/NetworkManager/system-connections/nethook-eth0.nmconnection"}
{"change":"nm-activate","uuid":"5b5a80c5-8599-8e26-92a5-43d32bea4db6","ifname":"eth0"}
{"change":"nm-deactivate","uuid":"5b5a80c5-8599-8e26-92a5-43d32bea4db6"}
{"change":"networkd-reload"}
{"change":"networkd-reconfigure","link":"eth0"}
{"change":"udev-reload-rules"}
{"change":"udev-trigger","subsystem":"net","action":"add"}
{"change":"udev-trigger-device","link":"eth0","action":"change"}
{"change":"unit-wait-active","unit":"x.service","within":"5s"}
{"change":"udev-settle","within":"10s"}
{"change":"state-set","key":"k","value":"v"}
{"change":"state-delete","key":"k"}
{"change":"in-netns","netns":{"pid":7},"inner":{"change":"in-netns","netns":{"named":"blue"},"inner":{"change":"sysctl-set","key":"net.ipv4.conf.eth0.forwarding","value":"1"}}}
{"change":"link-move","link":"eth0","from":null,"to":{"named":"blue"}}
{"change":"l3-apply","link":"eth0","netns":{"named":"blue"},"config":{"link":"eth0","mtu":9000,"up":true,"addresses":[],"routes":[],"rules":[{"family":"Ipv4","priority":100,"table":100,"source":"10.0.0.0","source_len":8,"destination":null,"destination_len":0,"input_link":"eth1","fwmark":null}],"neighbours":[{"family":"Ipv4","link":"eth0","address":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","state":128}],"settings":[{"family":"Ipv6","name":"accept_ra","value":"2"}],"captured_at":1700000000,"left_out":["a route of table 7"]}}
{"change":"neigh-add","neighbour":{"family":"Ipv4","link":"eth0","address":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","state":128}}
{"change":"neigh-del","neighbour":{"family":"Ipv4","link":"eth0","address":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","state":128}}
{"change":"sysctl-set","key":"net.ipv4.conf.eth0.rp_filter","value":"2"}"#;
    const EVERY_CHANGE_SHOWN: &str = r#"netlink.set-up eth0 | Some("link eth0 up/down")
netlink.set-down eth0 | Some("link eth0 up/down")
netlink.set-mtu eth0 1500 | Some("link eth0 mtu")
netlink.rename eth0 wan | Some("link eth0 name")
netlink.add-alt-name eth0 uplink | Some("link name uplink")
netlink.del-alt-name eth0 uplink | Some("link name uplink")
netlink.move-to-netns eth0 netns blue | Some("link eth0 namespace")
netlink.move-to-netns eth0 netns-of-pid 42 | Some("link eth0 namespace")
netlink.add-address eth0 10.0.0.1/24 | Some("address eth0 10.0.0.1/24")
netlink.del-address eth0 fe80::1/64 | Some("address eth0 fe80::1/64")
netlink.set-address-lifetime eth0 10.0.0.1/24 valid forever preferred 30s | Some("address eth0 10.0.0.1/24")
netlink.add-route ipv6 default/0 via fe80::1 table 100 proto 3 scope 0 | Some("netlink ipv6 default/0 via fe80::1 table 100 proto 3 scope 0")
netlink.del-route ipv6 default/0 via fe80::1 table 100 proto 3 scope 0 | Some("netlink ipv6 default/0 via fe80::1 table 100 proto 3 scope 0")
netlink.add-rule ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100 | Some("netlink ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100")
netlink.del-rule ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100 | Some("netlink ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100")
host-fs.write /etc/x (3 bytes, mode 0600) | Some("file /etc/x")
host-fs.write /etc/x (3 bytes) | Some("file /etc/x")
host-fs.remove /etc/x | Some("file /etc/x")
host-fs.restore /etc/x (2 bytes, mode 0644) | Some("file /etc/x")
host-fs.restore /etc/x (absent) | Some("file /etc/x")
systemd.start x.service | Some("unit x.service")
systemd.stop x.service | Some("unit x.service")
systemd.restart x.service | Some("unit x.service")
systemd.reload x.service | Some("unit x.service")
systemd.reset-failed x.service | Some("unit x.service")
systemd.daemon-reload  | None
network-manager.connection-modify Wired 1 ipv4.method=manual | Some("connection Wired 1")
network-manager.connection-up Wired 1 | Some("connection Wired 1")
network-manager.connection-down Wired 1 | Some("connection Wired 1")
network-manager.reload  | None
network-manager.reload-conf  | None
network-manager.load /run/NetworkManager/system-connections/nethook-eth0.nmconnection | None
network-manager.activate 5b5a80c5-8599-8e26-92a5-43d32bea4db6 on eth0 | Some("connection 5b5a80c5-8599-8e26-92a5-43d32bea4db6")
network-manager.deactivate 5b5a80c5-8599-8e26-92a5-43d32bea4db6 | Some("connection 5b5a80c5-8599-8e26-92a5-43d32bea4db6")
systemd.networkd-reload  | None
systemd.networkd-reconfigure eth0 | None
udev.reload-rules  | None
udev.trigger subsystem=net action=add | None
udev.trigger-device eth0 action=change | None
systemd.wait-active x.service within 5s | None
udev.settle 10s | None
state.set k (1 bytes) | None
state.delete k | None
l3.sysctl-set net.ipv4.conf.eth0.forwarding=1 in netns blue in netns-of-pid 7 | Some("sysctl net.ipv4.conf.eth0.forwarding in netns netns blue in netns netns-of-pid 7")
l3.move-link eth0 from own netns to netns blue | Some("link eth0 namespace")
l3.apply eth0 in netns blue: mtu 9000, 0 addresses, 0 routes, 1 rules, 1 neighbours, 1 settings | Some("link eth0 layer 3")
l3.add-neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80 | Some("neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80")
l3.del-neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80 | Some("neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80")
l3.sysctl-set net.ipv4.conf.eth0.rp_filter=2 | Some("sysctl net.ipv4.conf.eth0.rp_filter")"#;
}
