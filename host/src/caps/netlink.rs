//! `netlink`: the node's links, addresses and routes, read with rtnetlink
//! in the network namespace nethook runs in.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use super::CapError;
use crate::bindings::nethook::hooks::netlink::{Address, Family, Link, Route};

/// A lazily opened rtnetlink connection. Hooks that never touch netlink
/// never open a socket.
pub struct Netlink {
    conn: Option<(tokio::runtime::Runtime, Handle)>,
}

impl Default for Netlink {
    fn default() -> Self {
        Netlink::new()
    }
}

impl Netlink {
    pub fn new() -> Netlink {
        Netlink { conn: None }
    }

    /// Run `f` against the connection. Host calls are synchronous, so each
    /// request is driven to completion on a private current-thread runtime.
    fn call<T, F, Fut>(&mut self, f: F) -> Result<T, CapError>
    where
        F: FnOnce(Handle) -> Fut,
        Fut: std::future::Future<Output = Result<T, rtnetlink::Error>>,
    {
        if self.conn.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| CapError::Failed(format!("netlink runtime: {e}")))?;
            let handle = rt.block_on(async {
                let (conn, handle, _) = rtnetlink::new_connection()?;
                tokio::spawn(conn);
                Ok::<_, std::io::Error>(handle)
            });
            let handle = handle.map_err(|e| CapError::Failed(format!("netlink socket: {e}")))?;
            self.conn = Some((rt, handle));
        }
        let (rt, handle) = self.conn.as_ref().expect("connected above");
        rt.block_on(f(handle.clone())).map_err(netlink_error)
    }

    pub fn list_links(&mut self) -> Result<Vec<Link>, CapError> {
        let msgs: Vec<LinkMessage> = self.call(|h| h.link().get().execute().try_collect())?;
        Ok(msgs.iter().map(link_from).collect())
    }

    pub fn get_link(&mut self, name: &str) -> Result<Link, CapError> {
        crate::config::check_ifname(name).map_err(CapError::Invalid)?;
        let name_owned = name.to_string();
        let msgs: Vec<LinkMessage> = self
            .call(|h| {
                h.link()
                    .get()
                    .match_name(name_owned)
                    .execute()
                    .try_collect()
            })
            .map_err(|e| match e {
                CapError::Failed(m) if m.contains("(code -19)") => {
                    CapError::NotFound(format!("no link named {name:?}"))
                }
                other => other,
            })?;
        msgs.first()
            .map(link_from)
            .ok_or_else(|| CapError::NotFound(format!("no link named {name:?}")))
    }

    pub fn list_addresses(&mut self) -> Result<Vec<Address>, CapError> {
        let msgs: Vec<AddressMessage> = self.call(|h| h.address().get().execute().try_collect())?;
        Ok(msgs.iter().filter_map(address_from).collect())
    }

    pub fn list_routes(&mut self, family: Family) -> Result<Vec<Route>, CapError> {
        let msgs: Vec<RouteMessage> = self.call(|h| {
            let req = match family {
                Family::Ipv4 => RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
                Family::Ipv6 => RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
            };
            h.route().get(req).execute().try_collect()
        })?;
        Ok(msgs.iter().map(|m| route_from(family, m)).collect())
    }
}

/// Errors carry the kernel's code, as rtnetlink reports them.
fn netlink_error(e: rtnetlink::Error) -> CapError {
    match &e {
        rtnetlink::Error::NetlinkError(msg) => {
            let code = msg.code.map_or(0, |c| c.get());
            CapError::Failed(format!("{} (code {code})", msg.to_io()))
        }
        _ => CapError::Failed(e.to_string()),
    }
}

fn mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn link_from(m: &LinkMessage) -> Link {
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

fn address_from(m: &AddressMessage) -> Option<Address> {
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
