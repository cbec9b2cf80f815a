//! Apply: what of a configuration the target link lacks (the plan, read
//! before anything is done), doing it in an order the kernel accepts,
//! verifying it, and undoing what was done if any step fails.
//!
//! The steps write to netlink and sysctl here, not through the netlink
//! view, on purpose: they are the act of one change, `L3Change::L3Apply`,
//! which `Host::mutate` has granted (the link, the namespace, every table
//! and sysctl of the configuration: `granted`) and journaled with its
//! inverse (the plan's, read before any step) before the first of them.
//! A hook asks for the configuration, not for its steps: it is granted
//! or refused whole before anything is done, planned and audited as one
//! line, and a step that fails undoes the steps before it here, so the
//! hook sees it applied or not at all. Steps journaled one by one would
//! be judged one by one and could stop half-way.

use std::net::IpAddr;

use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourState};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::LinkUnspec;

use super::super::change::Change;
use super::super::netlink::{family_of, norm_ip, parse_ip, rule_message, NetlinkChange};
use super::super::netns::{self, NetnsTarget};
use super::super::{grants::Grants, CapError, Host};
use super::capture::{self, Kept, SETTABLE_FLAGS};
use super::sysctl::{self, SysctlKey};
use super::L3Change;
use super::{address_messages, neighbour_messages, route_messages, rules, same_ip};
use crate::bindings::nethook::hooks::l3::{Applied, L3Address, L3Config, L3Route, Neighbour};
use crate::bindings::nethook::hooks::netlink::{Family, RouteSpec, Rule};

/// The configuration as it applies to `link`: references to the link it
/// was captured from now name the target.
pub fn retarget(config: &L3Config, link: &str) -> L3Config {
    let mut c = config.clone();
    let rename = |l: &mut Option<String>| {
        if l.as_deref() == Some(config.link.as_str()) {
            *l = Some(link.to_string());
        }
    };
    for r in &mut c.routes {
        rename(&mut r.output_link);
    }
    for r in &mut c.rules {
        rename(&mut r.input_link);
    }
    for n in &mut c.neighbours {
        n.link = link.to_string();
    }
    c.link = link.to_string();
    c
}

fn check_ip(s: &str, family: Family, what: &str) -> Result<IpAddr, CapError> {
    let ip = parse_ip(s)?;
    if family_of(ip) != family {
        return Err(CapError::Invalid(format!(
            "{what} {s} is not of the family it says"
        )));
    }
    Ok(ip)
}

fn check_len(len: u8, family: Family, what: &str) -> Result<(), CapError> {
    let max = if family == Family::Ipv4 { 32 } else { 128 };
    if len > max {
        return Err(CapError::Invalid(format!(
            "{what}: prefix length {len} is longer than {max}"
        )));
    }
    Ok(())
}

pub fn check_neighbour(n: &Neighbour) -> Result<(), CapError> {
    check_ip(&n.address, n.family, "neighbour")?;
    if let Some(m) = &n.mac {
        parse_mac(m)?;
    }
    Ok(())
}

fn parse_mac(s: &str) -> Result<Vec<u8>, CapError> {
    let bytes: Result<Vec<u8>, _> = s.split(':').map(|b| u8::from_str_radix(b, 16)).collect();
    match bytes {
        Ok(b) if !b.is_empty() && s.split(':').all(|p| p.len() == 2) => Ok(b),
        _ => Err(CapError::Invalid(format!(
            "{s:?} is not a link-layer address"
        ))),
    }
}

/// The grants a configuration needs: its routes' and rules' tables and
/// its settings' sysctls.
pub fn granted(g: &Grants, c: &L3Config) -> Result<(), CapError> {
    for t in c
        .routes
        .iter()
        .map(|r| r.table)
        .chain(c.rules.iter().map(|r| r.table))
    {
        g.table(t)?;
    }
    for s in &c.settings {
        let key = SysctlKey::parse(&setting_key(s.family, &c.link, &s.name))?;
        g.sysctl(&key.to_string())?;
    }
    Ok(())
}

/// Every value valid and every grant held, before anything is done.
pub fn check(g: &Grants, c: &L3Config) -> Result<(), CapError> {
    for a in &c.addresses {
        let what = format!("address {}", a.address);
        check_ip(&a.address, a.family, &what)?;
        check_len(a.prefix_len, a.family, &what)?;
        for other in a.peer.iter().chain(a.broadcast.iter()) {
            check_ip(other, a.family, &what)?;
        }
    }
    for r in &c.routes {
        g.table(r.table)?;
        let what = format!(
            "route {}/{}",
            r.destination.as_deref().unwrap_or("default"),
            r.prefix_len
        );
        for ip in [&r.destination, &r.gateway, &r.source]
            .into_iter()
            .flatten()
        {
            check_ip(ip, r.family, &what)?;
        }
        check_len(r.prefix_len, r.family, &what)?;
        if let Some(l) = &r.output_link {
            if *l != c.link {
                return Err(CapError::Invalid(format!(
                    "{what} leaves through {l}, not {}",
                    c.link
                )));
            }
        }
    }
    for r in &c.rules {
        g.table(r.table)?;
        for (ip, len) in [
            (&r.source, r.source_len),
            (&r.destination, r.destination_len),
        ] {
            if let Some(ip) = ip {
                check_ip(ip, r.family, "rule")?;
                check_len(len, r.family, "rule")?;
            }
        }
    }
    for n in &c.neighbours {
        check_neighbour(n)?;
    }
    for s in &c.settings {
        let key = SysctlKey::parse(&setting_key(s.family, &c.link, &s.name))?;
        g.sysctl(&key.to_string())?;
        sysctl::check_value(&s.value)?;
    }
    if !(68..=65535).contains(&c.mtu) {
        return Err(CapError::Invalid(format!(
            "mtu {} is outside 68-65535",
            c.mtu
        )));
    }
    Ok(())
}

fn setting_key(family: Family, link: &str, name: &str) -> String {
    SysctlKey::of(family, link, name).to_string()
}

/// What an apply will do to the target, read from it (or, for a
/// failed apply, what of that it did).
pub struct Plan {
    link: String,
    settings: Vec<(SysctlKey, String, String)>,
    mtu: Option<(u32, u32)>,
    up: bool,
    addresses: Vec<L3Address>,
    neighbours: Vec<Neighbour>,
    routes: Vec<L3Route>,
    rules: Vec<Rule>,
    present: u32,
    skipped: Vec<String>,
}

impl Plan {
    fn empty(link: &str) -> Plan {
        Plan {
            link: link.to_string(),
            settings: Vec::new(),
            mtu: None,
            up: false,
            addresses: Vec::new(),
            neighbours: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            present: 0,
            skipped: Vec::new(),
        }
    }

    fn changes(&self) -> u32 {
        (self.settings.len()
            + usize::from(self.mtu.is_some())
            + usize::from(self.up)
            + self.addresses.len()
            + self.neighbours.len()
            + self.routes.len()
            + self.rules.len()) as u32
    }

    /// What removes it again, in the order to run: newest first.
    pub fn inverse(&self, ns: Option<&NetnsTarget>) -> Vec<Change> {
        undo_steps(self)
            .into_iter()
            .map(|c| match ns {
                Some(t) => Change::InNetns {
                    netns: t.clone(),
                    inner: Box::new(c),
                },
                None => c,
            })
            .collect()
    }
}

/// What removes the items of `done` again, newest first.
fn undo_steps(done: &Plan) -> Vec<Change> {
    let link = done.link.clone();
    let mut out = Vec::new();
    for r in done.rules.iter().rev() {
        out.push(NetlinkChange::RuleDel { rule: r.clone() }.into());
    }
    for r in done.routes.iter().rev() {
        out.push(
            NetlinkChange::RouteDel {
                route: route_spec(r),
            }
            .into(),
        );
    }
    for n in done.neighbours.iter().rev() {
        out.push(
            L3Change::NeighDel {
                neighbour: n.clone(),
            }
            .into(),
        );
    }
    for a in done.addresses.iter().rev() {
        out.push(
            NetlinkChange::AddressDel {
                link: link.clone(),
                address: a.address.clone(),
                prefix_len: a.prefix_len,
            }
            .into(),
        );
    }
    if done.up {
        out.push(
            NetlinkChange::LinkSetUp {
                link: link.clone(),
                up: false,
            }
            .into(),
        );
    }
    if let Some((_, was)) = done.mtu {
        out.push(
            NetlinkChange::LinkSetMtu {
                link: link.clone(),
                mtu: was,
            }
            .into(),
        );
    }
    for (k, _, was) in done.settings.iter().rev() {
        out.push(
            L3Change::SysctlSet {
                key: k.to_string(),
                value: was.clone(),
            }
            .into(),
        );
    }
    out
}

pub fn route_spec(r: &L3Route) -> RouteSpec {
    RouteSpec {
        family: r.family,
        destination: r.destination.clone(),
        prefix_len: r.prefix_len,
        gateway: r.gateway.clone(),
        output_link: r.output_link.clone(),
        table: r.table,
        metric: r.metric,
        protocol: r.protocol,
        scope: r.scope,
    }
}

/// What makes two routes the same route to the kernel.
fn route_key(r: &L3Route) -> (u8, u32, Option<IpAddr>, u8, Option<IpAddr>, u32, u8) {
    let fam = if r.family == Family::Ipv4 { 4 } else { 6 };
    let metric = r
        .metric
        .unwrap_or(if r.family == Family::Ipv6 { 1024 } else { 0 });
    (
        fam,
        r.table,
        norm_ip(&r.destination),
        r.prefix_len,
        norm_ip(&r.gateway),
        metric,
        r.kind,
    )
}

fn same_rule(a: &Rule, b: &Rule) -> bool {
    a.family == b.family
        && a.priority == b.priority
        && a.table == b.table
        && norm_ip(&a.source) == norm_ip(&b.source)
        && a.source_len == b.source_len
        && norm_ip(&a.destination) == norm_ip(&b.destination)
        && a.destination_len == b.destination_len
        && a.input_link == b.input_link
        && a.fwmark == b.fwmark
}

/// Read the target (the namespace `h` is in) and decide what to do.
pub fn plan(h: &mut Host, link: &str, c: &L3Config) -> Result<Plan, CapError> {
    let msg = h.netlink.link_message(link)?;
    let now = super::super::netlink::link_from(&msg);
    let index = now.index;
    let mut p = Plan::empty(link);
    for s in &c.settings {
        let key = SysctlKey::of(s.family, link, &s.name);
        match sysctl::read(h.netns.as_ref(), &key) {
            Ok(v) if v == s.value => p.present += 1,
            Ok(v) => p.settings.push((key, s.value.clone(), v)),
            Err(CapError::NotFound(_)) => p
                .skipped
                .push(format!("{key}: the target has no such entry")),
            Err(e) => return Err(e),
        }
    }
    match now.mtu == c.mtu {
        true => p.present += 1,
        false => p.mtu = Some((c.mtu, now.mtu)),
    }
    p.up = c.up && !now.up;
    if c.up && now.up {
        p.present += 1;
    }
    let elapsed = super::now_secs().saturating_sub(c.captured_at);
    let have: Vec<L3Address> = address_messages(h, index)?
        .iter()
        .filter_map(|m| match capture::address(m) {
            Kept::Yes(a) => Some(a),
            _ => None,
        })
        .collect();
    // The kernel lists IPv6 addresses newest first and IPv4 oldest first;
    // adding in the order it lists them would reverse IPv6's, and the order
    // decides which address is primary.
    let ordered = c
        .addresses
        .iter()
        .filter(|a| a.family == Family::Ipv4)
        .chain(
            c.addresses
                .iter()
                .filter(|a| a.family == Family::Ipv6)
                .rev(),
        );
    for a in ordered {
        if have
            .iter()
            .any(|x| same_ip(&x.address, &a.address) && x.prefix_len == a.prefix_len)
        {
            p.present += 1;
            continue;
        }
        let mut a = a.clone();
        if let Some(v) = a.valid_lft {
            if u64::from(v) <= elapsed {
                p.skipped.push(format!(
                    "address {}/{}: its lifetime ran out {}s after capture",
                    a.address, a.prefix_len, v
                ));
                continue;
            }
            a.valid_lft = Some(v - elapsed as u32);
            a.preferred_lft = a.preferred_lft.map(|v| v.saturating_sub(elapsed as u32));
        }
        p.addresses.push(a);
    }
    let neigh = neighbour_messages(h, index)?;
    for n in &c.neighbours {
        let found = neigh
            .iter()
            .filter(|m| m.header.state == NeighbourState::Permanent)
            .filter_map(|m| capture::neighbour(m, link))
            .any(|x| same_ip(&x.address, &n.address) && x.mac == n.mac);
        match found {
            true => p.present += 1,
            false => p.neighbours.push(n.clone()),
        }
    }
    // A set: a verify of 10 000 routes against a Vec took longer than the adds.
    let existing: std::collections::HashSet<_> = route_messages(h)?
        .iter()
        .filter_map(|m| match capture::route(m, index, link) {
            Kept::Yes(r) => Some(route_key(&r)),
            _ => None,
        })
        .collect();
    let mut routes: Vec<L3Route> = Vec::new();
    for r in &c.routes {
        match existing.contains(&route_key(r)) {
            true => p.present += 1,
            false => routes.push(r.clone()),
        }
    }
    // Host, then link, then universe scope: a gateway route needs the
    // on-link route to its gateway first (CNI sorts the same way).
    routes.sort_by_key(|r| std::cmp::Reverse(r.scope));
    p.routes = routes;
    let have_rules = rules(h)?;
    for r in &c.rules {
        match have_rules.iter().any(|x| same_rule(x, r)) {
            true => p.present += 1,
            false => p.rules.push(r.clone()),
        }
    }
    Ok(p)
}

/// Do the plan; on a failure undo what of it was done and say what failed.
pub fn execute(h: &mut Host, link: &str, c: &L3Config, p: Plan) -> Result<Applied, CapError> {
    let mut done = Plan::empty(&p.link);
    let r = steps(h, link, &p, &mut done).and_then(|()| verify(h, link, c));
    match r {
        Ok(()) => Ok(Applied {
            changed: p.changes(),
            present: p.present,
            skipped: p.skipped,
        }),
        Err(e) => {
            let undo = undo_steps(&done);
            let mut left = Vec::new();
            for step in &undo {
                if let Err(u) = h.apply_undo(step) {
                    left.push(format!("{step}: {u}"));
                }
            }
            let ns = netns::shown(h.netns.as_ref());
            let tail = match left.is_empty() {
                true => format!("the {} change(s) it made are undone", undo.len()),
                false => format!("undoing what it made failed: {}", left.join("; ")),
            };
            Err(CapError::Failed(format!(
                "apply to {link} in {ns}: {}; {tail}",
                e.message()
            )))
        }
    }
}

fn steps(h: &mut Host, link: &str, p: &Plan, done: &mut Plan) -> Result<(), CapError> {
    for (k, want, was) in &p.settings {
        sysctl::write(h.netns.as_ref(), k, want)?;
        done.settings.push((k.clone(), want.clone(), was.clone()));
    }
    if let Some((mtu, was)) = p.mtu {
        h.netlink
            .set_link(link, |i| LinkUnspec::new_with_index(i).mtu(mtu).build())
            .map_err(|e| CapError::Failed(format!("mtu {mtu}: {}", e.message())))?;
        done.mtu = Some((mtu, was));
    }
    if p.up {
        h.netlink
            .set_link(link, |i| LinkUnspec::new_with_index(i).up().build())
            .map_err(|e| CapError::Failed(format!("set up: {}", e.message())))?;
        done.up = true;
    }
    let index = h.netlink.index(link)?;
    for a in &p.addresses {
        let msg = address_message(index, a)?;
        h.netlink
            .call(|c| {
                let mut req = c.address().add(index, IpAddr::from([0, 0, 0, 0]), 0);
                *req.message_mut() = msg;
                req.execute()
            })
            .map_err(|e| {
                CapError::Failed(format!(
                    "address {}/{}: {}",
                    a.address,
                    a.prefix_len,
                    e.message()
                ))
            })?;
        done.addresses.push(a.clone());
    }
    for n in &p.neighbours {
        add_neighbour(h, n)
            .map_err(|e| CapError::Failed(format!("neighbour {}: {}", n.address, e.message())))?;
        done.neighbours.push(n.clone());
    }
    for r in &p.routes {
        let msg = route_message(index, r)?;
        h.netlink
            .call(|c| c.route().add(msg).execute())
            .map_err(|e| CapError::Failed(format!("route {}: {}", route_spec(r), e.message())))?;
        done.routes.push(r.clone());
    }
    for r in &p.rules {
        let msg = rule_message(r)?;
        h.netlink
            .call(|c| {
                let mut req = c.rule().add();
                *req.message_mut() = msg;
                req.execute()
            })
            .map_err(|e| CapError::Failed(format!("rule {r}: {}", e.message())))?;
        done.rules.push(r.clone());
    }
    Ok(())
}

/// Read back: nothing of the configuration may be missing any more.
fn verify(h: &mut Host, link: &str, c: &L3Config) -> Result<(), CapError> {
    let missing = missing(h, link, c)?;
    match missing.is_empty() {
        true => Ok(()),
        false => Err(CapError::Failed(format!(
            "verification after apply: missing {}",
            missing.join(", ")
        ))),
    }
}

/// What of `c` the link lacks, one line each.
pub fn missing(h: &mut Host, link: &str, c: &L3Config) -> Result<Vec<String>, CapError> {
    let again = plan(h, link, c)?;
    let mut missing: Vec<String> = Vec::new();
    missing.extend(
        again
            .settings
            .iter()
            .map(|(k, want, was)| format!("{k} is {was}, not {want}")),
    );
    if let Some((want, was)) = again.mtu {
        missing.push(format!("mtu is {was}, not {want}"));
    }
    if again.up {
        missing.push("the link is down".into());
    }
    missing.extend(
        again
            .addresses
            .iter()
            .map(|a| format!("address {}/{}", a.address, a.prefix_len)),
    );
    missing.extend(
        again
            .neighbours
            .iter()
            .map(|n| format!("neighbour {}", n.address)),
    );
    missing.extend(
        again
            .routes
            .iter()
            .map(|r| format!("route {}", route_spec(r))),
    );
    missing.extend(again.rules.iter().map(|r| format!("rule {r}")));
    Ok(missing)
}

fn address_message(index: u32, a: &L3Address) -> Result<AddressMessage, CapError> {
    let ip = parse_ip(&a.address)?;
    let mut m = AddressMessage::default();
    m.header.family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.prefix_len = a.prefix_len;
    m.header.index = index;
    m.header.scope = AddressScope::from(a.scope);
    let flags = a.flags & SETTABLE_FLAGS;
    m.header.flags = AddressHeaderFlags::from_bits_retain(flags as u8);
    m.attributes.push(AddressAttribute::Local(ip));
    let peer = a.peer.as_deref().map(parse_ip).transpose()?.unwrap_or(ip);
    m.attributes.push(AddressAttribute::Address(peer));
    if let Some(b) = &a.broadcast {
        if let IpAddr::V4(b) = parse_ip(b)? {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
    }
    m.attributes
        .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
            flags,
        )));
    if a.valid_lft.is_some() || a.preferred_lft.is_some() {
        let mut info = CacheInfo::default();
        info.ifa_preferred = a.preferred_lft.unwrap_or(u32::MAX);
        info.ifa_valid = a.valid_lft.unwrap_or(u32::MAX);
        m.attributes.push(AddressAttribute::CacheInfo(info));
    }
    Ok(m)
}

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(v) => RouteAddress::Inet(v),
        IpAddr::V6(v) => RouteAddress::Inet6(v),
    }
}

fn route_message(index: u32, r: &L3Route) -> Result<RouteMessage, CapError> {
    let mut m = RouteMessage::default();
    m.header.address_family = match r.family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    };
    m.header.destination_prefix_length = r.prefix_len;
    m.header.protocol = RouteProtocol::from(r.protocol);
    m.header.scope = RouteScope::from(r.scope);
    m.header.kind = RouteType::from(r.kind);
    if r.onlink {
        m.header.flags = RouteFlags::Onlink;
    }
    // Tables above 255 only fit the attribute; the header keeps the low byte.
    m.header.table = if r.table > 255 { 252 } else { r.table as u8 };
    m.attributes.push(RouteAttribute::Table(r.table));
    if let Some(d) = &r.destination {
        m.attributes
            .push(RouteAttribute::Destination(route_address(parse_ip(d)?)));
    }
    if let Some(g) = &r.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(route_address(parse_ip(g)?)));
    }
    if let Some(s) = &r.source {
        m.attributes
            .push(RouteAttribute::PrefSource(route_address(parse_ip(s)?)));
    }
    m.attributes.push(RouteAttribute::Oif(index));
    if let Some(p) = r.metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    Ok(m)
}

pub fn add_neighbour(h: &mut Host, n: &Neighbour) -> Result<(), CapError> {
    let index = h.netlink.index(&n.link)?;
    let ip = parse_ip(&n.address)?;
    let mac = n.mac.as_deref().map(parse_mac).transpose()?;
    let state = NeighbourState::from(n.state);
    h.netlink.call(|c| {
        let mut req = c
            .neighbours()
            .add(index, ip)
            .state(state)
            .flags(NeighbourFlags::empty())
            .replace();
        if let Some(m) = &mac {
            req = req.link_layer_address(m);
        }
        req.execute()
    })
}
