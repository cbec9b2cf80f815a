//! `netlink`: the node's links, addresses, routes and rules, through
//! rtnetlink in the network namespace nethook runs in. Never `ip`.

mod change;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope,
};
use netlink_packet_route::rule::{RuleAttribute, RuleMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, IpVersion, LinkUnspec, RouteMessageBuilder};

pub use change::NetlinkChange;

use super::netns::NetnsTarget;
use super::{validate, CapError, Host, Inverse, Planned};
use crate::bindings::nethook::hooks::netlink::{
    Address, Family, Link, Netns, Route, RouteSpec, Rule,
};

/// A lazily opened rtnetlink connection: hooks that never touch netlink
/// never open a socket.
#[derive(Default)]
pub struct Netlink {
    conn: Option<(tokio::runtime::Runtime, Handle)>,
    /// The namespace its socket is opened in; none: nethook's own.
    ns: Option<NetnsTarget>,
    /// Interface name -> ifindex, for the routes and addresses of a run (a
    /// bulk route load would otherwise ask the kernel once per route).
    /// Emptied by every link change this run makes, and whenever the
    /// kernel reports a link added, changed or removed by anyone
    /// (`links_changed`): a name looked up earlier may be another link's by
    /// now.
    indexes: std::collections::HashMap<String, u32>,
    /// Subscribed to the namespace's link notifications while `indexes`
    /// holds anything.
    link_events: Option<std::os::fd::OwnedFd>,
}

impl Netlink {
    /// A connection to open in `ns` when first used.
    pub(super) fn in_ns(ns: Option<NetnsTarget>) -> Netlink {
        Netlink {
            conn: None,
            ns,
            indexes: Default::default(),
            link_events: None,
        }
    }

    /// Drive one request to completion. Host calls are synchronous, so a
    /// private current-thread runtime runs the connection.
    pub(super) fn call<T: Send, F, Fut>(&mut self, f: F) -> Result<T, CapError>
    where
        F: FnOnce(Handle) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, rtnetlink::Error>>,
    {
        if self.conn.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| CapError::Failed(format!("netlink runtime: {e}")))?;
            let handle = match &self.ns {
                None => off_runtime(|| {
                    rt.block_on(async {
                        let (conn, handle, _) = rtnetlink::new_connection()?;
                        tokio::spawn(conn);
                        Ok::<_, std::io::Error>(handle)
                    })
                })
                .map_err(|e| CapError::Failed(format!("netlink socket: {e}")))?,
                Some(ns) => {
                    use std::os::fd::IntoRawFd;
                    let fd = super::netns::route_socket(Some(ns))?;
                    off_runtime(|| {
                        rt.block_on(async {
                            // SAFETY: the descriptor is a fresh NETLINK_ROUTE
                            // socket that nothing else owns.
                            let socket = unsafe {
                                <netlink_sys::TokioSocket as std::os::fd::FromRawFd>::from_raw_fd(
                                    fd.into_raw_fd(),
                                )
                            };
                            let (conn, handle, _) = rtnetlink::from_socket(socket);
                            tokio::spawn(conn);
                            handle
                        })
                    })
                }
            };
            self.conn = Some((rt, handle));
        }
        let (rt, handle) = self.conn.as_ref().expect("connected above");
        let handle = handle.clone();
        off_runtime(|| rt.block_on(f(handle))).map_err(netlink_error)
    }

    pub(super) fn link_message(&mut self, name: &str) -> Result<LinkMessage, CapError> {
        let owned = name.to_string();
        let msgs: Vec<LinkMessage> = self
            .call(|h| h.link().get().match_name(owned).execute().try_collect())
            .map_err(|e| match e {
                CapError::NotFound(_) => CapError::NotFound(format!("no link named {name:?}")),
                other => other,
            })?;
        msgs.into_iter()
            .next()
            .ok_or_else(|| CapError::NotFound(format!("no link named {name:?}")))
    }

    pub(super) fn index(&mut self, name: &str) -> Result<u32, CapError> {
        if self.links_changed() {
            self.indexes.clear();
        }
        if let Some(i) = self.indexes.get(name) {
            return Ok(*i);
        }
        // Subscribed before the lookup: a change after it is seen.
        if self.link_events.is_none() {
            self.link_events = Some(link_events(self.ns.as_ref())?);
        }
        let index = self.link_message(name)?.header.index;
        self.indexes.insert(name.to_string(), index);
        Ok(index)
    }

    /// Whether any link notification arrived since the last look (all of
    /// them are read, without waiting). A socket that overflowed counts
    /// as a change.
    fn links_changed(&mut self) -> bool {
        let Some(fd) = &self.link_events else {
            return false;
        };
        let mut buf = [0u8; 8192];
        let mut changed = false;
        loop {
            match nix::sys::socket::recv(
                fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(0) => return changed,
                Ok(_) => changed = true,
                Err(nix::errno::Errno::EAGAIN) => return changed,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return true,
            }
        }
    }

    pub(super) fn set_link(
        &mut self,
        name: &str,
        build: impl FnOnce(u32) -> LinkMessage,
    ) -> Result<(), CapError> {
        let msg = build(self.index(name)?);
        self.indexes.clear();
        self.call(|h| h.link().set(msg).execute())
    }
}

impl Drop for Netlink {
    /// Without waiting for the connection's task: a runtime dropped the
    /// usual way inside an async context (an embedder's) panics.
    fn drop(&mut self) {
        if let Some((rt, _)) = self.conn.take() {
            rt.shutdown_background();
        }
    }
}

/// Run `work` here, or on a thread of its own when this thread is inside
/// an async runtime (an embedder's), where tokio's block_on would panic.
fn off_runtime<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    match tokio::runtime::Handle::try_current() {
        Err(_) => work(),
        Ok(_) => std::thread::scope(|s| match s.spawn(work).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// The hook's view of netlink, through the choke point.
pub struct NetlinkView<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn netlink(&mut self) -> NetlinkView<'_> {
        NetlinkView { host: self }
    }
}

impl NetlinkView<'_> {
    pub fn list_links(&mut self) -> Result<Vec<Link>, CapError> {
        let check = self.host.grants.netlink_read();
        self.host
            .read("netlink", "list-links", String::new(), check, |h| {
                let msgs: Vec<LinkMessage> =
                    h.netlink.call(|c| c.link().get().execute().try_collect())?;
                Ok(msgs.iter().map(link_from).collect())
            })
    }

    pub fn get_link(&mut self, name: &str) -> Result<Link, CapError> {
        let check = self
            .host
            .grants
            .netlink_read()
            .and_then(|_| validate::ifname(name));
        self.host
            .read("netlink", "get-link", name.to_string(), check, |h| {
                Ok(link_from(&h.netlink.link_message(name)?))
            })
    }

    pub fn list_addresses(&mut self) -> Result<Vec<Address>, CapError> {
        let check = self.host.grants.netlink_read();
        self.host
            .read("netlink", "list-addresses", String::new(), check, |h| {
                let msgs: Vec<AddressMessage> = h
                    .netlink
                    .call(|c| c.address().get().execute().try_collect())?;
                Ok(msgs.iter().filter_map(address_from).collect())
            })
    }

    pub fn list_routes(&mut self, family: Family) -> Result<Vec<Route>, CapError> {
        let check = self.host.grants.netlink_read();
        self.host.read(
            "netlink",
            "list-routes",
            family_name(family).into(),
            check,
            |h| {
                let msgs: Vec<RouteMessage> = h.netlink.call(|c| {
                    let req = match family {
                        Family::Ipv4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
                        Family::Ipv6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
                    };
                    c.route().get(req).execute().try_collect()
                })?;
                Ok(msgs.iter().map(|m| route_from(family, m)).collect())
            },
        )
    }

    pub fn list_rules(&mut self, family: Family) -> Result<Vec<Rule>, CapError> {
        let check = self.host.grants.netlink_read();
        self.host.read(
            "netlink",
            "list-rules",
            family_name(family).into(),
            check,
            |h| {
                let version = match family {
                    Family::Ipv4 => IpVersion::V4,
                    Family::Ipv6 => IpVersion::V6,
                };
                let msgs: Vec<RuleMessage> = h
                    .netlink
                    .call(|c| c.rule().get(version).execute().try_collect())?;
                Ok(msgs.iter().map(|m| rule_from(family, m)).collect())
            },
        )
    }

    pub fn set_up(&mut self, name: &str) -> Result<(), CapError> {
        self.set_admin(name, true)
    }

    pub fn set_down(&mut self, name: &str) -> Result<(), CapError> {
        self.set_admin(name, false)
    }

    fn set_admin(&mut self, name: &str, up: bool) -> Result<(), CapError> {
        let check = self.write_link(name);
        let link = name.to_string();
        self.set_attribute(
            name,
            check,
            NetlinkChange::LinkSetUp { link, up },
            (up, |l| l.up),
            |link, up| NetlinkChange::LinkSetUp { link, up },
            move |i| match up {
                true => LinkUnspec::new_with_index(i).up().build(),
                false => LinkUnspec::new_with_index(i).down().build(),
            },
        )
    }

    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<(), CapError> {
        let check = self.write_link(name).and_then(|_| {
            if (68..=65535).contains(&mtu) {
                Ok(())
            } else {
                Err(CapError::Invalid(format!("mtu {mtu} is outside 68-65535")))
            }
        });
        let link = name.to_string();
        self.set_attribute(
            name,
            check,
            NetlinkChange::LinkSetMtu { link, mtu },
            (mtu, |l| l.mtu),
            |link, mtu| NetlinkChange::LinkSetMtu { link, mtu },
            move |i| LinkUnspec::new_with_index(i).mtu(mtu).build(),
        )
    }

    /// Set one attribute of a link to `want.0`, undone by setting it back
    /// to what `want.1` reads from the link before.
    #[allow(clippy::too_many_arguments)]
    fn set_attribute<T: PartialEq + Copy>(
        &mut self,
        name: &str,
        check: Result<(), CapError>,
        change: NetlinkChange,
        want: (T, fn(&Link) -> T),
        back: impl FnOnce(String, T) -> NetlinkChange,
        build: impl FnOnce(u32) -> LinkMessage,
    ) -> Result<(), CapError> {
        self.host.mutate(
            change,
            check,
            |h| {
                let was = (want.1)(&link_from(&h.netlink.link_message(name)?));
                Ok(match was == want.0 {
                    true => Inverse::Nothing,
                    false => Inverse::of(vec![back(name.to_string(), was)]),
                })
            },
            |h| h.netlink.set_link(name, build),
            |_| Planned::Change(()),
        )
    }

    pub fn rename(&mut self, name: &str, new_name: &str) -> Result<(), CapError> {
        let check = self
            .write_link(name)
            .and_then(|_| self.write_link(new_name));
        let (link, to) = (name.to_string(), new_name.to_string());
        let back = NetlinkChange::LinkRename {
            link: to.clone(),
            to: link.clone(),
        };
        self.host.mutate(
            NetlinkChange::LinkRename { link, to },
            check,
            |_| Ok(Inverse::of(vec![back])),
            |h| {
                h.netlink.set_link(name, |i| {
                    LinkUnspec::new_with_index(i)
                        .name(new_name.to_string())
                        .build()
                })
            },
            |_| Planned::Change(()),
        )
    }

    pub fn move_to_netns(&mut self, name: &str, target: &Netns) -> Result<(), CapError> {
        let (moved, check) = match target {
            Netns::Named(ns) => (NetnsTarget::Named(ns.clone()), validate::netns_name(ns)),
            Netns::Pid(pid) => (NetnsTarget::Pid(*pid), Ok(())),
        };
        let granted = self.host.grants.netns(&moved);
        let check = self.write_link(name).and(check).and(granted);
        let change = NetlinkChange::LinkMoveNetns {
            link: name.to_string(),
            target: moved,
        };
        let undo = |_: &mut Host| {
            Ok(Inverse::Irreversible {
                why: format!("{name} left this network namespace"),
            })
        };
        self.host.mutate(
            change,
            check,
            undo,
            |h| match target {
                Netns::Named(ns) => {
                    let path = format!("{}/{ns}", rtnetlink::NETNS_PATH.trim_end_matches('/'));
                    let file = std::fs::File::open(&path).map_err(|e| {
                        CapError::NotFound(format!("network namespace {path}: {e}"))
                    })?;
                    let fd = file.as_raw_fd();
                    h.netlink.set_link(name, |i| {
                        LinkUnspec::new_with_index(i).setns_by_fd(fd).build()
                    })
                }
                Netns::Pid(pid) => {
                    let pid = *pid;
                    h.netlink.set_link(name, |i| {
                        LinkUnspec::new_with_index(i).setns_by_pid(pid).build()
                    })
                }
            },
            |_| Planned::Change(()),
        )
    }

    pub fn add_address(
        &mut self,
        link: &str,
        address: &str,
        prefix_len: u8,
    ) -> Result<(), CapError> {
        let (ip, check) = self.address_args(link, address, prefix_len);
        let change = NetlinkChange::AddressAdd {
            link: link.to_string(),
            address: address.to_string(),
            prefix_len,
        };
        let back = NetlinkChange::AddressDel {
            link: link.to_string(),
            address: ip.to_string(),
            prefix_len,
        };
        self.host.mutate(
            change,
            check,
            |h| {
                Ok(match find_address(h, link, ip, prefix_len)? {
                    Some(_) => Inverse::Nothing,
                    None => Inverse::of(vec![back]),
                })
            },
            |h| {
                let index = h.netlink.index(link)?;
                h.netlink
                    .call(|c| c.address().add(index, ip, prefix_len).execute())
            },
            |_| Planned::Change(()),
        )
    }

    pub fn del_address(
        &mut self,
        link: &str,
        address: &str,
        prefix_len: u8,
    ) -> Result<(), CapError> {
        let (ip, check) = self.address_args(link, address, prefix_len);
        let change = NetlinkChange::AddressDel {
            link: link.to_string(),
            address: address.to_string(),
            prefix_len,
        };
        let back = NetlinkChange::AddressAdd {
            link: link.to_string(),
            address: ip.to_string(),
            prefix_len,
        };
        self.host.mutate(
            change,
            check,
            |h| {
                Ok(match find_address(h, link, ip, prefix_len)? {
                    Some(_) => Inverse::of(vec![back]),
                    None => Inverse::Nothing,
                })
            },
            |h| {
                let msg = find_address(h, link, ip, prefix_len)?.ok_or_else(|| {
                    CapError::NotFound(format!("{link} has no address {address}/{prefix_len}"))
                })?;
                h.netlink.call(|c| c.address().del(msg).execute())
            },
            |_| Planned::Change(()),
        )
    }

    pub fn add_route(&mut self, route: &RouteSpec) -> Result<(), CapError> {
        let (route, check) = self.pinned(route);
        let route = &route;
        let back = NetlinkChange::RouteDel {
            route: route.clone(),
        };
        self.host.mutate(
            NetlinkChange::RouteAdd {
                route: route.clone(),
            },
            check,
            // The kernel refuses to add a route that exists: undo is a delete.
            |_| Ok(Inverse::of(vec![back])),
            |h| {
                let msg = route_message(h, route)?;
                h.netlink.call(|c| c.route().add(msg).execute())
            },
            |_| Planned::Change(()),
        )
    }

    pub fn del_route(&mut self, route: &RouteSpec) -> Result<(), CapError> {
        // Removing a route changes where its link's traffic goes: the link
        // the kernel's route has must be granted, named or not.
        let check = self.route_check(route).and_then(|()| {
            if route.output_link.is_some() {
                return Ok(());
            }
            match find_route(self.host, route)? {
                Some(found) => match &found.output_link {
                    Some(link) => self.write_link(link),
                    None => Ok(()),
                },
                None => Ok(()),
            }
        });
        self.host.mutate(
            NetlinkChange::RouteDel {
                route: route.clone(),
            },
            check,
            // The whole route as the kernel has it (metric, protocol, scope
            // the caller may have left out), so the undo puts back the same.
            |h| {
                Ok(match find_route(h, route)? {
                    Some(found) => Inverse::of(vec![NetlinkChange::RouteAdd { route: found }]),
                    None => Inverse::Nothing,
                })
            },
            |h| {
                let msg = route_message(h, route)?;
                h.netlink.call(|c| c.route().del(msg).execute())
            },
            |_| Planned::Change(()),
        )
    }

    pub fn add_rule(&mut self, rule: &Rule) -> Result<(), CapError> {
        let check = self.rule_check(rule);
        let back = NetlinkChange::RuleDel { rule: rule.clone() };
        self.host.mutate(
            NetlinkChange::RuleAdd { rule: rule.clone() },
            check,
            |_| Ok(Inverse::of(vec![back])),
            |h| {
                let msg = rule_message(rule)?;
                h.netlink.call(|c| {
                    let mut req = c.rule().add();
                    *req.message_mut() = msg;
                    req.execute()
                })
            },
            |_| Planned::Change(()),
        )
    }

    pub fn del_rule(&mut self, rule: &Rule) -> Result<(), CapError> {
        let check = self.rule_check(rule);
        let back = NetlinkChange::RuleAdd { rule: rule.clone() };
        self.host.mutate(
            NetlinkChange::RuleDel { rule: rule.clone() },
            check,
            |_| Ok(Inverse::of(vec![back])),
            |h| {
                let msg = rule_message(rule)?;
                h.netlink.call(|c| c.rule().del(msg).execute())
            },
            |_| Planned::Change(()),
        )
    }

    /// The route as the kernel would make it, its output link named: a
    /// route given by gateway alone is resolved as the kernel resolves the
    /// gateway, then pinned to that link, so the grant is judged on where
    /// the traffic will go and the kernel cannot send it elsewhere.
    fn pinned(&mut self, route: &RouteSpec) -> (RouteSpec, Result<(), CapError>) {
        let mut pinned = route.clone();
        let check = self.route_check(route).and_then(|()| {
            if route.output_link.is_some() {
                return Ok(());
            }
            let Some(gw) = route.gateway.as_deref() else {
                return Err(CapError::Invalid(
                    "a route needs an output link or a gateway".into(),
                ));
            };
            let link = link_towards(self.host, parse_ip(gw)?)?;
            self.write_link(&link).map_err(|e| match e {
                CapError::Denied(m) => {
                    CapError::Denied(format!("the gateway {gw} is reached through {link:?}: {m}"))
                }
                other => other,
            })?;
            pinned.output_link = Some(link);
            Ok(())
        });
        (pinned, check)
    }

    /// Netlink writes are granted before their names are judged (a hook
    /// without write access hears `denied`, whatever it asks): this keeps
    /// that order. The change's own grant ([`Change::grant`]) is judged
    /// again at the choke point.
    fn write_link(&self, name: &str) -> Result<(), CapError> {
        self.host.grants.netlink_write()?;
        validate::ifname(name)?;
        self.host.grants.link(name)
    }

    fn address_args(
        &self,
        link: &str,
        address: &str,
        prefix_len: u8,
    ) -> (IpAddr, Result<(), CapError>) {
        let ip = parse_ip(address);
        let check = self.write_link(link).and_then(|_| {
            let ip = ip.clone()?;
            check_prefix(ip, prefix_len)
        });
        (ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), check)
    }

    fn route_check(&self, r: &RouteSpec) -> Result<(), CapError> {
        self.host.grants.netlink_write()?;
        self.host.grants.table(r.table)?;
        if let Some(link) = &r.output_link {
            self.write_link(link)?;
        }
        let dst = r.destination.as_deref().map(parse_ip).transpose()?;
        let gw = r.gateway.as_deref().map(parse_ip).transpose()?;
        for ip in dst.iter().chain(gw.iter()) {
            if family_of(*ip) != r.family {
                return Err(CapError::Invalid(format!(
                    "{ip} is not {}",
                    family_name(r.family)
                )));
            }
        }
        match dst {
            Some(ip) => check_prefix(ip, r.prefix_len),
            None if r.prefix_len == 0 => Ok(()),
            None => Err(CapError::Invalid(
                "a default route has prefix length 0".into(),
            )),
        }
    }

    fn rule_check(&self, r: &Rule) -> Result<(), CapError> {
        self.host.grants.netlink_write()?;
        self.host.grants.table(r.table)?;
        match &r.input_link {
            Some(link) => self.write_link(link)?,
            None => self.host.grants.table_of_every_link(r.table)?,
        }
        for (addr, len) in [
            (&r.source, r.source_len),
            (&r.destination, r.destination_len),
        ] {
            if let Some(a) = addr {
                let ip = parse_ip(a)?;
                if family_of(ip) != r.family {
                    return Err(CapError::Invalid(format!(
                        "{ip} is not {}",
                        family_name(r.family)
                    )));
                }
                check_prefix(ip, len)?;
            }
        }
        Ok(())
    }
}

pub(super) fn parse_ip(s: &str) -> Result<IpAddr, CapError> {
    s.parse()
        .map_err(|_| CapError::Invalid(format!("{s:?} is not an IP address")))
}

fn check_prefix(ip: IpAddr, len: u8) -> Result<(), CapError> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(CapError::Invalid(format!(
            "prefix length {len} is longer than {max}"
        )));
    }
    Ok(())
}

pub(super) fn family_of(ip: IpAddr) -> Family {
    if ip.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    }
}

pub(super) fn family_name(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// The address message of `ip/prefix_len` on `link`, if it has it.
pub(super) fn find_address(
    h: &mut Host,
    link: &str,
    ip: IpAddr,
    prefix_len: u8,
) -> Result<Option<AddressMessage>, CapError> {
    let index = h.netlink.index(link)?;
    let msgs: Vec<AddressMessage> = h.netlink.call(|c| {
        c.address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
    })?;
    Ok(msgs.into_iter().find(|m| {
        m.header.index == index
            && m.header.prefix_len == prefix_len
            && address_from(m).is_some_and(|a| a.address == ip.to_string())
    }))
}

/// The kernel's route that a delete of `want` would remove: same table,
/// destination and prefix, and gateway, device and metric where given.
fn find_route(h: &mut Host, want: &RouteSpec) -> Result<Option<RouteSpec>, CapError> {
    let family = want.family;
    let msgs: Vec<RouteMessage> = h.netlink.call(|c| {
        let req = match family {
            Family::Ipv4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
            Family::Ipv6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
        };
        c.route().get(req).execute().try_collect()
    })?;
    let want_oif = match &want.output_link {
        Some(l) => Some(h.netlink.index(l)?),
        None => None,
    };
    let Some(r) = msgs.iter().map(|m| route_from(family, m)).find(|r| {
        r.table == want.table
            && r.prefix_len == want.prefix_len
            && norm_ip(&r.destination) == norm_ip(&want.destination)
            && (want.gateway.is_none() || norm_ip(&r.gateway) == norm_ip(&want.gateway))
            && (want_oif.is_none() || r.output_link == want_oif)
            && (want.metric.is_none() || r.metric == want.metric)
    }) else {
        return Ok(None);
    };
    let output_link = match r.output_link {
        Some(i) => h
            .netlink
            .call(|c| {
                c.link()
                    .get()
                    .match_index(i)
                    .execute()
                    .try_collect::<Vec<_>>()
            })?
            .first()
            .map(|m| link_from(m).name),
        None => None,
    };
    Ok(Some(RouteSpec {
        family,
        destination: r.destination,
        prefix_len: r.prefix_len,
        gateway: r.gateway,
        output_link,
        table: r.table,
        metric: r.metric,
        protocol: r.protocol,
        scope: r.scope,
    }))
}

/// A socket in `ns` subscribed to its link notifications (RTNLGRP_LINK),
/// read without blocking.
fn link_events(ns: Option<&NetnsTarget>) -> Result<std::os::fd::OwnedFd, CapError> {
    use nix::sys::socket::{bind, NetlinkAddr};
    const RTMGRP_LINK: u32 = 1;
    let fd = super::netns::route_socket(ns)?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, RTMGRP_LINK))
        .map_err(|e| CapError::Failed(format!("netlink link notifications: {e}")))?;
    Ok(fd)
}

/// The link the kernel sends packets for `ip` out of (`ip route get`).
fn link_towards(h: &mut Host, ip: IpAddr) -> Result<String, CapError> {
    let msg = match ip {
        IpAddr::V4(a) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(a, 32)
            .build(),
        IpAddr::V6(a) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(a, 128)
            .build(),
    };
    let found: Vec<RouteMessage> = h
        .netlink
        .call(|c| c.route().get(msg).execute().try_collect())
        .map_err(|e| CapError::Failed(format!("no route to the gateway {ip}: {}", e.message())))?;
    let index = found
        .iter()
        .flat_map(|m| m.attributes.iter())
        .find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        })
        .ok_or_else(|| CapError::Failed(format!("the kernel names no link towards {ip}")))?;
    let links: Vec<LinkMessage> = h
        .netlink
        .call(|c| c.link().get().match_index(index).execute().try_collect())?;
    links
        .first()
        .map(link_from)
        .map(|l| l.name)
        .ok_or_else(|| CapError::NotFound(format!("link {index} (towards {ip})")))
}

pub(super) fn norm_ip(a: &Option<String>) -> Option<IpAddr> {
    a.as_deref().and_then(|s| s.parse().ok())
}

fn route_message(h: &mut Host, r: &RouteSpec) -> Result<RouteMessage, CapError> {
    let oif = r
        .output_link
        .as_deref()
        .map(|l| h.netlink.index(l))
        .transpose()?;
    let dst = r.destination.as_deref().map(parse_ip).transpose()?;
    let gw = r.gateway.as_deref().map(parse_ip).transpose()?;
    let mut msg = match r.family {
        Family::Ipv4 => {
            let mut b = RouteMessageBuilder::<Ipv4Addr>::new();
            if let Some(IpAddr::V4(d)) = dst {
                b = b.destination_prefix(d, r.prefix_len);
            }
            if let Some(IpAddr::V4(g)) = gw {
                b = b.gateway(g);
            }
            b.build()
        }
        Family::Ipv6 => {
            let mut b = RouteMessageBuilder::<Ipv6Addr>::new();
            if let Some(IpAddr::V6(d)) = dst {
                b = b.destination_prefix(d, r.prefix_len);
            }
            if let Some(IpAddr::V6(g)) = gw {
                b = b.gateway(g);
            }
            b.build()
        }
    };
    msg.header.protocol = RouteProtocol::from(r.protocol);
    msg.header.scope = RouteScope::from(r.scope);
    // Tables above 255 only fit the attribute; the header keeps the low byte.
    msg.header.table = if r.table > 255 { 252 } else { r.table as u8 };
    msg.attributes.push(RouteAttribute::Table(r.table));
    if let Some(i) = oif {
        msg.attributes.push(RouteAttribute::Oif(i));
    }
    if let Some(m) = r.metric {
        msg.attributes.push(RouteAttribute::Priority(m));
    }
    Ok(msg)
}

pub(super) fn rule_message(r: &Rule) -> Result<RuleMessage, CapError> {
    let mut msg = RuleMessage::default();
    msg.header.family = match r.family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    };
    msg.header.table = if r.table > 255 { 252 } else { r.table as u8 };
    msg.header.action = netlink_packet_route::rule::RuleAction::ToTable;
    msg.attributes.push(RuleAttribute::Table(r.table));
    if let Some(p) = r.priority {
        msg.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(a) = &r.source {
        msg.header.src_len = r.source_len;
        msg.attributes.push(RuleAttribute::Source(parse_ip(a)?));
    }
    if let Some(a) = &r.destination {
        msg.header.dst_len = r.destination_len;
        msg.attributes
            .push(RuleAttribute::Destination(parse_ip(a)?));
    }
    if let Some(l) = &r.input_link {
        msg.attributes.push(RuleAttribute::Iifname(l.clone()));
    }
    if let Some(m) = r.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(m));
    }
    Ok(msg)
}

/// Classified by the kernel's errno, which the text keeps too.
fn netlink_error(e: rtnetlink::Error) -> CapError {
    match &e {
        rtnetlink::Error::NetlinkError(msg) => {
            let code = msg.code.map_or(0, |c| c.get());
            let text = format!("{} (code {code})", msg.to_io());
            match nix::errno::Errno::from_raw(-code) {
                nix::errno::Errno::EEXIST => CapError::Exists(text),
                // No such file, process (route), device (link), address.
                nix::errno::Errno::ENOENT
                | nix::errno::Errno::ESRCH
                | nix::errno::Errno::ENODEV
                | nix::errno::Errno::EADDRNOTAVAIL => CapError::NotFound(text),
                _ => CapError::Failed(text),
            }
        }
        _ => CapError::Failed(e.to_string()),
    }
}

pub(super) fn mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn link_from(m: &LinkMessage) -> Link {
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        mac: None,
        mtu: 0,
        up: m.header.flags.contains(LinkFlags::Up),
        master: None,
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Address(a) if !a.is_empty() => link.mac = Some(mac(a)),
            LinkAttribute::Mtu(v) => link.mtu = *v,
            LinkAttribute::Controller(i) => link.master = Some(*i),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(k) = info {
                        link.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

pub(crate) fn address_from(m: &AddressMessage) -> Option<Address> {
    let family = match m.header.family {
        AddressFamily::Inet => Family::Ipv4,
        AddressFamily::Inet6 => Family::Ipv6,
        _ => return None,
    };
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
    // point-to-point links, and the same as IFA_LOCAL elsewhere.
    let pick = |want_local: bool| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) if want_local => Some(*ip),
            AddressAttribute::Address(ip) if !want_local => Some(*ip),
            _ => None,
        })
    };
    let ip: IpAddr = pick(true).or_else(|| pick(false))?;
    Some(Address {
        link_index: m.header.index,
        family,
        address: ip.to_string(),
        prefix_len: m.header.prefix_len,
    })
}

fn route_address(a: &RouteAddress) -> Option<String> {
    match a {
        RouteAddress::Inet(ip) => Some(ip.to_string()),
        RouteAddress::Inet6(ip) => Some(ip.to_string()),
        _ => None,
    }
}

fn route_from(family: Family, m: &RouteMessage) -> Route {
    let mut route = Route {
        family,
        table: u32::from(m.header.table),
        destination: None,
        prefix_len: m.header.destination_prefix_length,
        gateway: None,
        output_link: None,
        metric: None,
        protocol: u8::from(m.header.protocol),
        scope: u8::from(m.header.scope),
    };
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Table(t) => route.table = *t,
            RouteAttribute::Destination(d) => route.destination = route_address(d),
            RouteAttribute::Gateway(g) => route.gateway = route_address(g),
            RouteAttribute::Oif(i) => route.output_link = Some(*i),
            RouteAttribute::Priority(p) => route.metric = Some(*p),
            _ => {}
        }
    }
    route
}

pub(super) fn rule_from(family: Family, m: &RuleMessage) -> Rule {
    let mut rule = Rule {
        family,
        priority: None,
        table: u32::from(m.header.table),
        source: None,
        source_len: m.header.src_len,
        destination: None,
        destination_len: m.header.dst_len,
        input_link: None,
        fwmark: None,
    };
    for attr in &m.attributes {
        match attr {
            RuleAttribute::Table(t) => rule.table = *t,
            RuleAttribute::Priority(p) => rule.priority = Some(*p),
            RuleAttribute::Source(ip) => rule.source = Some(ip.to_string()),
            RuleAttribute::Destination(ip) => rule.destination = Some(ip.to_string()),
            RuleAttribute::Iifname(n) => rule.input_link = Some(n.clone()),
            RuleAttribute::FwMark(v) => rule.fwmark = Some(*v),
            _ => {}
        }
    }
    rule
}
