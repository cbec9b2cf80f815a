//! `l3`: a link's layer-3 configuration as a value. Capture reads it,
//! apply gives a link what of it the link lacks (one journaled change whose
//! inverse removes exactly that), a move carries a link between namespaces
//! and is undone by moving it back and re-applying what it had.

mod apply;
pub mod capture;
mod change;
pub mod sysctl;

use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use rtnetlink::{IpVersion, LinkUnspec, RouteMessageBuilder};

use super::change::Inverse;
use super::netlink::{link_from, parse_ip, rule_from};
use super::netns::{self, NetnsTarget};
use super::{validate, CapError, Host, Planned};
use crate::bindings::nethook::hooks::l3::{Applied, ConfSetting, L3Config, Neighbour, Netns};
use crate::bindings::nethook::hooks::netlink::Family;
use sysctl::SysctlKey;

pub use apply::{granted, retarget};
pub use change::L3Change;

pub struct L3View<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn l3(&mut self) -> L3View<'_> {
        L3View { host: self }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl L3View<'_> {
    fn ns_check(&self, ns: &Option<Netns>) -> (Option<NetnsTarget>, Result<(), CapError>) {
        match NetnsTarget::parse_opt(ns) {
            Ok(Some(t)) => {
                let check = self.host.grants.netns(&t);
                (Some(t), check)
            }
            Ok(None) => (None, Ok(())),
            Err(e) => (None, Err(e)),
        }
    }

    fn write_link(&self, name: &str) -> Result<(), CapError> {
        self.host.grants.netlink_write()?;
        validate::ifname(name)?;
        self.host.grants.link(name)
    }

    pub fn capture(&mut self, link: &str, ns: &Option<Netns>) -> Result<L3Config, CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let check = self
            .host
            .grants
            .netlink_read()
            .and_then(|_| validate::ifname(link))
            .and(ns_ok);
        let args = format!("{link} in {}", netns::shown(target.as_ref()));
        self.host.read("l3", "capture", args, check, |h| {
            h.in_netns(target.as_ref(), |h| capture_here(h, link))
        })
    }

    pub fn apply(
        &mut self,
        link: &str,
        config: &L3Config,
        ns: &Option<Netns>,
    ) -> Result<Applied, CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let check = self.write_link(link).and(ns_ok).and_then(|_| {
            let config = retarget(config, link);
            apply::check(&self.host.grants, &config)
        });
        let config = retarget(config, link);
        self.host.apply_l3(link, target, config, check)
    }

    pub fn move_link(
        &mut self,
        link: &str,
        from: &Option<Netns>,
        to: &Option<Netns>,
    ) -> Result<(), CapError> {
        let (from, from_ok) = self.ns_check(from);
        let (to, to_ok) = self.ns_check(to);
        let check = self.write_link(link).and(from_ok).and(to_ok).and_then(|_| {
            if from == to {
                return Err(CapError::Invalid(format!(
                    "{link} is already in {}",
                    netns::shown(to.as_ref())
                )));
            }
            Ok(())
        });
        self.host.move_link(link, from, to, check)
    }

    pub fn list_neighbours(
        &mut self,
        link: &str,
        ns: &Option<Netns>,
    ) -> Result<Vec<Neighbour>, CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let check = self
            .host
            .grants
            .netlink_read()
            .and_then(|_| validate::ifname(link))
            .and(ns_ok);
        let args = format!("{link} in {}", netns::shown(target.as_ref()));
        self.host.read("l3", "list-neighbours", args, check, |h| {
            h.in_netns(target.as_ref(), |h| {
                let index = h.netlink.index(link)?;
                Ok(neighbour_messages(h, index)?
                    .iter()
                    .filter_map(|m| capture::neighbour(m, link))
                    .collect())
            })
        })
    }

    pub fn add_neighbour(&mut self, n: &Neighbour, ns: &Option<Netns>) -> Result<(), CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let check = self
            .write_link(&n.link)
            .and(ns_ok)
            .and_then(|_| apply::check_neighbour(n));
        let n = n.clone();
        self.host
            .in_netns(target.as_ref(), |h| h.neighbour_add(n, check))
    }

    pub fn del_neighbour(&mut self, n: &Neighbour, ns: &Option<Netns>) -> Result<(), CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let check = self
            .write_link(&n.link)
            .and(ns_ok)
            .and_then(|_| parse_ip(&n.address).map(drop));
        let n = n.clone();
        self.host
            .in_netns(target.as_ref(), |h| h.neighbour_del(n, check))
    }

    pub fn sysctl_get(&mut self, key: &str, ns: &Option<Netns>) -> Result<String, CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let parsed = SysctlKey::parse(key);
        let check = parsed
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|k| self.host.grants.sysctl(&k.to_string()))
            .and(ns_ok);
        let args = format!("{key} in {}", netns::shown(target.as_ref()));
        self.host.read("l3", "sysctl-get", args, check, |_| {
            sysctl::read(target.as_ref(), &parsed.expect("checked"))
        })
    }

    pub fn sysctl_set(
        &mut self,
        key: &str,
        value: &str,
        ns: &Option<Netns>,
    ) -> Result<(), CapError> {
        let (target, ns_ok) = self.ns_check(ns);
        let check = self
            .host
            .grants
            .netlink_write()
            .and_then(|_| SysctlKey::parse(key))
            .and_then(|k| self.host.grants.sysctl(&k.to_string()))
            .and_then(|_| sysctl::check_value(value))
            .and(ns_ok);
        let (key, value) = (key.to_string(), value.to_string());
        self.host
            .in_netns(target.as_ref(), |h| h.sysctl_set(key, value, check))
    }
}

/// The JSON form of a configuration (serde's, of the WIT record).
pub fn to_json(config: &L3Config) -> String {
    serde_json::to_string(config).expect("a record of strings and numbers serializes")
}

pub fn from_json(json: &str) -> Result<L3Config, CapError> {
    serde_json::from_str(json)
        .map_err(|e| CapError::Invalid(format!("not an l3-config in JSON: {e}")))
}

impl Host {
    /// The addresses and routes of `config` that `link` (here) lacks: what
    /// a network service restores, as opposed to sysctls and neighbours.
    /// A read, not audited: the built-in module polls it.
    pub fn l3_lacking(&mut self, link: &str, config: &L3Config) -> Result<Vec<String>, CapError> {
        let only = L3Config {
            settings: Vec::new(),
            neighbours: Vec::new(),
            rules: Vec::new(),
            up: false,
            ..config.clone()
        };
        let mtu = self.netlink.link_message(link).map(|m| link_from(&m).mtu)?;
        let only = L3Config {
            mtu,
            ..retarget(&only, link)
        };
        apply::missing(self, link, &only)
    }

    /// `apply` after its checks; also the undo step of a move.
    pub(super) fn apply_l3(
        &mut self,
        link: &str,
        target: Option<NetnsTarget>,
        config: L3Config,
        check: Result<(), CapError>,
    ) -> Result<Applied, CapError> {
        let change = L3Change::L3Apply {
            link: link.to_string(),
            netns: target.clone(),
            config: config.clone(),
        };
        // The plan is read once, before the change is journaled, so that
        // its inverse removes exactly what this apply adds.
        let plan = std::cell::RefCell::new(None);
        let (t1, t2) = (target.clone(), target.clone());
        self.mutate(
            change,
            check,
            |h| {
                let p = h.in_netns(t1.as_ref(), |h| apply::plan(h, link, &config))?;
                let inverse = p.inverse(t1.as_ref());
                *plan.borrow_mut() = Some(p);
                Ok(Inverse::of(inverse))
            },
            |h| {
                h.in_netns(t2.as_ref(), |h| {
                    let p = match plan.borrow_mut().take() {
                        Some(p) => p,
                        None => apply::plan(h, link, &config)?,
                    };
                    apply::execute(h, link, &config, p)
                })
            },
            |_| {
                Planned::Change(Applied {
                    changed: 0,
                    present: 0,
                    skipped: Vec::new(),
                })
            },
        )
    }

    fn move_link(
        &mut self,
        link: &str,
        from: Option<NetnsTarget>,
        to: Option<NetnsTarget>,
        check: Result<(), CapError>,
    ) -> Result<(), CapError> {
        let change = L3Change::LinkMove {
            link: link.to_string(),
            from: from.clone(),
            to: to.clone(),
        };
        self.mutate(
            change,
            check,
            // Back, and what it had before: the kernel flushes a moved
            // link's addresses and routes, and nothing else restores them.
            |h| {
                let had = h.in_netns(from.as_ref(), |h| capture_here(h, link))?;
                Ok(Inverse::of(vec![
                    L3Change::LinkMove {
                        link: link.to_string(),
                        from: to.clone(),
                        to: from.clone(),
                    },
                    L3Change::L3Apply {
                        link: link.to_string(),
                        netns: from.clone(),
                        config: had,
                    },
                ]))
            },
            |h| {
                let dest = match &to {
                    Some(t) => t.open()?,
                    None => netns::own()?,
                };
                h.in_netns(from.as_ref(), |h| {
                    use std::os::fd::AsRawFd;
                    let fd = dest.as_raw_fd();
                    // set_link forgets the cached indexes: the link left.
                    h.netlink.set_link(link, |i| {
                        LinkUnspec::new_with_index(i).setns_by_fd(fd).build()
                    })
                })
            },
            |_| Planned::Change(()),
        )
    }

    fn neighbour_add(&mut self, n: Neighbour, check: Result<(), CapError>) -> Result<(), CapError> {
        let change = L3Change::NeighAdd {
            neighbour: n.clone(),
        };
        self.mutate(
            change,
            check,
            |h| {
                Ok(match find_neighbour(h, &n)? {
                    Some(old) if old.state == capture::NUD_PERMANENT && old.mac == n.mac => {
                        Inverse::Nothing
                    }
                    Some(old) if old.state == capture::NUD_PERMANENT => {
                        Inverse::of(vec![L3Change::NeighAdd { neighbour: old }])
                    }
                    _ => Inverse::of(vec![L3Change::NeighDel {
                        neighbour: n.clone(),
                    }]),
                })
            },
            |h| apply::add_neighbour(h, &n),
            |_| Planned::Change(()),
        )
    }

    fn neighbour_del(&mut self, n: Neighbour, check: Result<(), CapError>) -> Result<(), CapError> {
        let change = L3Change::NeighDel {
            neighbour: n.clone(),
        };
        self.mutate(
            change,
            check,
            |h| {
                Ok(match find_neighbour(h, &n)? {
                    Some(old) if old.state == capture::NUD_PERMANENT => {
                        Inverse::of(vec![L3Change::NeighAdd { neighbour: old }])
                    }
                    _ => Inverse::Nothing,
                })
            },
            |h| {
                let index = h.netlink.index(&n.link)?;
                let msg = neighbour_messages(h, index)?
                    .into_iter()
                    .find(|m| {
                        capture::neighbour(m, &n.link)
                            .is_some_and(|f| same_ip(&f.address, &n.address))
                    })
                    .ok_or_else(|| {
                        CapError::NotFound(format!("{} has no neighbour {}", n.link, n.address))
                    })?;
                h.netlink.call(|c| c.neighbours().del(msg).execute())
            },
            |_| Planned::Change(()),
        )
    }

    fn sysctl_set(
        &mut self,
        key: String,
        value: String,
        check: Result<(), CapError>,
    ) -> Result<(), CapError> {
        let change = L3Change::SysctlSet {
            key: key.clone(),
            value: value.clone(),
        };
        let ns = self.netns.clone();
        self.mutate(
            change,
            check,
            |_| {
                let k = SysctlKey::parse(&key)?;
                let was = sysctl::read(ns.as_ref(), &k)?;
                Ok(match was == value {
                    true => Inverse::Nothing,
                    false => Inverse::of(vec![L3Change::SysctlSet {
                        key: key.clone(),
                        value: was,
                    }]),
                })
            },
            |_| sysctl::write(ns.as_ref(), &SysctlKey::parse(&key)?, &value),
            |_| Planned::Change(()),
        )
    }
}

pub(super) fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn find_neighbour(h: &mut Host, n: &Neighbour) -> Result<Option<Neighbour>, CapError> {
    let index = h.netlink.index(&n.link)?;
    Ok(neighbour_messages(h, index)?
        .iter()
        .filter_map(|m| capture::neighbour(m, &n.link))
        .find(|f| same_ip(&f.address, &n.address)))
}

pub(super) fn neighbour_messages(
    h: &mut Host,
    index: u32,
) -> Result<Vec<NeighbourMessage>, CapError> {
    let msgs: Vec<NeighbourMessage> = h
        .netlink
        .call(|c| c.neighbours().get().execute().try_collect())?;
    Ok(msgs
        .into_iter()
        .filter(|m| m.header.ifindex == index)
        .collect())
}

pub(super) fn address_messages(h: &mut Host, index: u32) -> Result<Vec<AddressMessage>, CapError> {
    h.netlink.call(|c| {
        c.address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
    })
}

pub(super) fn route_messages(h: &mut Host) -> Result<Vec<RouteMessage>, CapError> {
    let mut all: Vec<RouteMessage> = h.netlink.call(|c| {
        c.route()
            .get(RouteMessageBuilder::<std::net::Ipv4Addr>::new().build())
            .execute()
            .try_collect()
    })?;
    let v6: Vec<RouteMessage> = h.netlink.call(|c| {
        c.route()
            .get(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
            .execute()
            .try_collect()
    })?;
    all.extend(v6);
    Ok(all)
}

pub(super) fn rules(
    h: &mut Host,
) -> Result<Vec<crate::bindings::nethook::hooks::netlink::Rule>, CapError> {
    let mut out = Vec::new();
    for (v, fam) in [(IpVersion::V4, Family::Ipv4), (IpVersion::V6, Family::Ipv6)] {
        let msgs: Vec<RuleMessage> = h
            .netlink
            .call(|c| c.rule().get(v).execute().try_collect())?;
        out.extend(msgs.iter().map(|m| rule_from(fam, m)));
    }
    Ok(out)
}

/// The capture, in the namespace `h` is in.
pub(super) fn capture_here(h: &mut Host, link: &str) -> Result<L3Config, CapError> {
    let msg = h.netlink.link_message(link)?;
    let l = link_from(&msg);
    let index = l.index;
    let mut left_out = Vec::new();
    let addresses: Vec<_> = address_messages(h, index)?
        .iter()
        .filter_map(|m| capture::address(m).take(&mut left_out))
        .collect();
    let routes: Vec<_> = route_messages(h)?
        .iter()
        .filter_map(|m| capture::route(m, index, link).take(&mut left_out))
        .collect();
    let rules = rules(h)?
        .into_iter()
        .filter(|r| capture::rule_kept(r, &addresses, &routes))
        .collect();
    let neighbours = neighbour_messages(h, index)?
        .iter()
        .filter(|m| capture::neighbour_kept(m))
        .filter_map(|m| capture::neighbour(m, link))
        .collect();
    let mut settings = Vec::new();
    for (family, name) in capture::SETTINGS {
        match sysctl::read(h.netns.as_ref(), &SysctlKey::of(family, link, name)) {
            Ok(value) => settings.push(ConfSetting {
                family,
                name: name.to_string(),
                value,
            }),
            // No IPv6 on this link: nothing to carry.
            Err(CapError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(L3Config {
        link: link.to_string(),
        mtu: l.mtu,
        up: l.up,
        addresses,
        routes,
        rules,
        neighbours,
        settings,
        captured_at: now_secs(),
        left_out,
    })
}
