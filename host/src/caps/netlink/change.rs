//! The changes the `netlink` capability makes (links, their names,
//! addresses, routes, rules), what each needs granted, how it is shown,
//! and how one is made again as an undo step.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::family_name;
use crate::bindings::nethook::hooks::netlink::{RouteSpec, Rule};
use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::netns::NetnsTarget;
use crate::caps::{CapError, Host};

/// One change a `netlink` call makes, journaled flat under its `change`
/// tag (`{"change":"link-set-up","link":"eth0","up":true}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum NetlinkChange {
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
}

impl CapabilityChange for NetlinkChange {
    const CAPABILITY: &'static str = "netlink";

    const TAGS: &'static [&'static str] = &[
        "link-set-up",
        "link-set-mtu",
        "link-rename",
        "link-alt-name-add",
        "link-alt-name-del",
        "link-move-netns",
        "address-add",
        "address-del",
        "address-lifetime",
        "route-add",
        "route-del",
        "rule-add",
        "rule-del",
    ];

    fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use NetlinkChange::*;
        match self {
            LinkSetUp { link, .. }
            | LinkSetMtu { link, .. }
            | AddressAdd { link, .. }
            | AddressDel { link, .. }
            | AddressLifetime { link, .. } => g.write_link(link),
            LinkRename { link, to: name }
            | LinkAltNameAdd { link, name }
            | LinkAltNameDel { link, name } => g.write_link(link).and_then(|_| g.link(name)),
            LinkMoveNetns { link, target } => g.write_link(link).and_then(|_| g.netns(target)),
            RouteAdd { route } | RouteDel { route } => {
                g.netlink_write()?;
                g.table(route.table)?;
                route
                    .output_link
                    .as_deref()
                    .map_or(Ok(()), |l| g.write_link(l))
            }
            RuleAdd { rule } | RuleDel { rule } => {
                g.netlink_write()?;
                g.table(rule.table)?;
                match &rule.input_link {
                    Some(link) => g.write_link(link),
                    None => g.table_of_every_link(rule.table),
                }
            }
        }
    }

    /// The node object it changes.
    fn object(&self) -> Option<String> {
        use NetlinkChange::*;
        Some(match self {
            LinkSetUp { link, .. } => format!("link {link} up/down"),
            LinkSetMtu { link, .. } => format!("link {link} mtu"),
            LinkRename { link, .. } => format!("link {link} name"),
            LinkAltNameAdd { name, .. } | LinkAltNameDel { name, .. } => {
                format!("link name {name}")
            }
            LinkMoveNetns { link, .. } => format!("link {link} namespace"),
            AddressAdd { .. } | AddressDel { .. } => format!("address {}", self.args()),
            AddressLifetime {
                link,
                address,
                prefix_len,
                ..
            } => format!("address {link} {address}/{prefix_len}"),
            RouteAdd { .. } | RouteDel { .. } | RuleAdd { .. } | RuleDel { .. } => {
                format!("{} {}", Self::CAPABILITY, self.args())
            }
        })
    }

    fn operation(&self) -> &'static str {
        use NetlinkChange::*;
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
        }
    }

    fn args(&self) -> String {
        use NetlinkChange::*;
        match self {
            LinkSetUp { link, .. } => link.clone(),
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
        }
    }

    /// Kernel state: gone after a reboot.
    fn persistent(&self) -> bool {
        false
    }

    /// None makes a service take up configuration again.
    fn reapplies(&self) -> bool {
        false
    }

    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        use NetlinkChange::*;
        match self {
            LinkSetUp { link, up: true } => h.netlink().set_up(link),
            LinkSetUp { link, up: false } => h.netlink().set_down(link),
            LinkSetMtu { link, mtu } => h.netlink().set_mtu(link, *mtu),
            LinkRename { link, to } => h.netlink().rename(link, to),
            LinkAltNameAdd { link, name } => h.add_alt_name(link, name),
            LinkAltNameDel { link, name } => h.del_alt_name(link, name),
            AddressAdd {
                link,
                address,
                prefix_len,
            } => h.netlink().add_address(link, address, *prefix_len),
            AddressDel {
                link,
                address,
                prefix_len,
            } => h.netlink().del_address(link, address, *prefix_len),
            AddressLifetime {
                link,
                address,
                prefix_len,
                valid,
                preferred,
            } => h.set_address_lifetime(link, address, *prefix_len, *valid, *preferred),
            RouteAdd { route } => h.netlink().add_route(route),
            RouteDel { route } => h.netlink().del_route(route),
            RuleAdd { rule } => h.netlink().add_rule(rule),
            RuleDel { rule } => h.netlink().del_rule(rule),
            LinkMoveNetns { .. } => Err(CapError::Invalid(format!("{self} is not an undo step"))),
        }
    }
}

shown_as_a_call!(NetlinkChange);

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
