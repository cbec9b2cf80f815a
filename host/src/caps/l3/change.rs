//! The changes the `l3` capability makes (a link's layer 3 applied or
//! moved between namespaces, neighbours, sysctls), what each needs
//! granted, how it is shown, and how one is made again as an undo step.

use serde::{Deserialize, Serialize};

use crate::bindings::nethook::hooks::l3::{L3Config, Neighbour};
use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::netns::{self, NetnsTarget};
use crate::caps::{CapError, Host};

/// One change an `l3` call makes, journaled flat under its `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum L3Change {
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

impl CapabilityChange for L3Change {
    const CAPABILITY: &'static str = "l3";

    const TAGS: &'static [&'static str] = &[
        "link-move",
        "l3-apply",
        "neigh-add",
        "neigh-del",
        "sysctl-set",
    ];

    fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use L3Change::*;
        match self {
            LinkMove { link, from, to } => {
                g.write_link(link)?;
                from.iter().chain(to.iter()).try_for_each(|ns| g.netns(ns))
            }
            L3Apply {
                link,
                netns,
                config,
            } => {
                g.write_link(link)?;
                netns.as_ref().map_or(Ok(()), |ns| g.netns(ns))?;
                super::granted(g, config)
            }
            NeighAdd { neighbour } | NeighDel { neighbour } => g.write_link(&neighbour.link),
            SysctlSet { key, .. } => {
                g.netlink_write()?;
                super::sysctl::granted(g, key)
            }
        }
    }

    /// The node object it changes.
    fn object(&self) -> Option<String> {
        use L3Change::*;
        Some(match self {
            LinkMove { link, .. } => format!("link {link} namespace"),
            NeighAdd { .. } | NeighDel { .. } => format!("neighbour {}", self.args()),
            L3Apply { link, .. } => format!("link {link} layer 3"),
            SysctlSet { key, .. } => format!("sysctl {key}"),
        })
    }

    fn operation(&self) -> &'static str {
        use L3Change::*;
        match self {
            LinkMove { .. } => "move-link",
            L3Apply { .. } => "apply",
            NeighAdd { .. } => "add-neighbour",
            NeighDel { .. } => "del-neighbour",
            SysctlSet { .. } => "sysctl-set",
        }
    }

    fn args(&self) -> String {
        use L3Change::*;
        match self {
            LinkMove { link, from, to } => format!(
                "{link} from {} to {}",
                netns::shown(from.as_ref()),
                netns::shown(to.as_ref())
            ),
            L3Apply {
                link,
                netns,
                config,
            } => format!(
                "{link} in {}: mtu {}, {} addresses, {} routes, {} rules, {} neighbours, {} settings",
                netns::shown(netns.as_ref()),
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

    /// Kernel state: gone after a reboot.
    fn persistent(&self) -> bool {
        false
    }

    /// None makes a service take up configuration again.
    fn reapplies(&self) -> bool {
        false
    }

    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        use L3Change::*;
        match self {
            LinkMove { link, from, to } => {
                let to_wit = |t: &Option<NetnsTarget>| t.as_ref().map(NetnsTarget::to_wit);
                h.l3().move_link(link, &to_wit(from), &to_wit(to))
            }
            L3Apply {
                link,
                netns,
                config,
            } => {
                let ns = netns.as_ref().map(NetnsTarget::to_wit);
                h.l3().apply(link, config, &ns).map(drop)
            }
            NeighAdd { neighbour } => h.l3().add_neighbour(neighbour, &None),
            NeighDel { neighbour } => h.l3().del_neighbour(neighbour, &None),
            SysctlSet { key, value } => h.l3().sysctl_set(key, value, &None),
        }
    }
}

shown_as_a_call!(L3Change);
