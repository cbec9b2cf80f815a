//! Capture: a link's layer-3 configuration from the kernel's messages, as
//! a value, with CNI host-device's filters and what nethook carries beyond
//! them. Pure functions of the dumps, so the filters are tested alone.

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressProtocol};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::AddressFamily;

use super::super::netlink::mac;
use crate::bindings::nethook::hooks::l3::{L3Address, L3Route, Neighbour};
use crate::bindings::nethook::hooks::netlink::{Family, Rule};

pub const IFA_F_TEMPORARY: u32 = 0x01;
pub const IFA_F_PERMANENT: u32 = 0x80;
/// Flags an address add takes from userspace (others the kernel sets).
pub const SETTABLE_FLAGS: u32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400;
/// The kernel's "forever" lifetime.
const INFINITY: u32 = u32::MAX;
const RTPROT_KERNEL: u8 = 2;
const RTPROT_RA: u8 = 9;
const RT_TABLE_LOCAL: u32 = 255;
pub const NUD_PERMANENT: u16 = 0x80;

/// The sysctls carried with a link: reverse-path filtering (AWS multi-ENI
/// needs loose mode), forwarding, and whether IPv6 takes router adverts.
pub const SETTINGS: [(Family, &str); 4] = [
    (Family::Ipv4, "rp_filter"),
    (Family::Ipv4, "forwarding"),
    (Family::Ipv6, "accept_ra"),
    (Family::Ipv6, "forwarding"),
];

/// A captured item or why it was left out.
pub enum Kept<T> {
    Yes(T),
    /// Left out, said in the config's `left-out`.
    No(String),
    /// Left out without a word: the kernel's own bookkeeping.
    Silently,
}

impl<T> Kept<T> {
    /// The item, or none with the reason (if any) added to `left_out`.
    pub fn take(self, left_out: &mut Vec<String>) -> Option<T> {
        match self {
            Kept::Yes(v) => Some(v),
            Kept::No(why) => {
                left_out.push(why);
                None
            }
            Kept::Silently => None,
        }
    }
}

fn family(f: AddressFamily) -> Option<Family> {
    match f {
        AddressFamily::Inet => Some(Family::Ipv4),
        AddressFamily::Inet6 => Some(Family::Ipv6),
        _ => None,
    }
}

pub fn address(m: &AddressMessage) -> Kept<L3Address> {
    let Some(fam) = family(m.header.family) else {
        return Kept::Silently;
    };
    let (mut local, mut peer, mut brd, mut flags, mut proto) = (None, None, None, None, None);
    let (mut valid, mut preferred) = (INFINITY, INFINITY);
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => peer = Some(*ip),
            AddressAttribute::Broadcast(ip) => brd = Some(ip.to_string()),
            AddressAttribute::Flags(f) => flags = Some(f.bits()),
            AddressAttribute::Protocol(p) => proto = Some(*p),
            AddressAttribute::CacheInfo(c) => {
                valid = c.ifa_valid;
                preferred = c.ifa_preferred;
            }
            _ => {}
        }
    }
    // IFA_LOCAL is the address; IFA_ADDRESS is the peer's when they differ.
    let Some(ip) = local.or(peer) else {
        return Kept::Silently;
    };
    let peer = peer.filter(|p| *p != ip).map(|p| p.to_string());
    let flags = flags.unwrap_or(u32::from(m.header.flags.bits()));
    let scope = u8::from(m.header.scope);
    let shown = format!("address {ip}/{}", m.header.prefix_len);
    if scope != 0 {
        return Kept::No(format!("{shown}: scope {scope}, the kernel makes it"));
    }
    if fam == Family::Ipv6 && flags & IFA_F_TEMPORARY != 0 {
        return Kept::No(format!(
            "{shown}: a privacy address, the kernel makes new ones"
        ));
    }
    if fam == Family::Ipv6 && proto == Some(AddressProtocol::RouterAnnouncement) {
        return Kept::No(format!(
            "{shown}: autoconfigured from a router advertisement, the kernel makes it again from the next one"
        ));
    }
    let lft = |v: u32| (v != INFINITY).then_some(v);
    Kept::Yes(L3Address {
        family: fam,
        address: ip.to_string(),
        prefix_len: m.header.prefix_len,
        peer,
        broadcast: brd,
        scope,
        flags,
        valid_lft: lft(valid),
        preferred_lft: lft(preferred),
    })
}

fn route_ip(a: &netlink_packet_route::route::RouteAddress) -> Option<IpAddr> {
    use netlink_packet_route::route::RouteAddress;
    match a {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

/// A route of the link at `index`, named `link`; other links' routes are
/// no concern of the capture.
pub fn route(m: &RouteMessage, index: u32, link: &str) -> Kept<L3Route> {
    let Some(fam) = family(m.header.address_family) else {
        return Kept::Silently;
    };
    let mut r = L3Route {
        family: fam,
        destination: None,
        prefix_len: m.header.destination_prefix_length,
        gateway: None,
        output_link: None,
        source: None,
        table: u32::from(m.header.table),
        metric: None,
        protocol: u8::from(m.header.protocol),
        scope: u8::from(m.header.scope),
        kind: u8::from(m.header.kind),
        onlink: m.header.flags.contains(RouteFlags::Onlink),
    };
    let (mut oif, mut multipath) = (None, false);
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => r.table = *t,
            RouteAttribute::Destination(d) => r.destination = route_ip(d).map(|i| i.to_string()),
            RouteAttribute::Gateway(g) => r.gateway = route_ip(g).map(|i| i.to_string()),
            RouteAttribute::PrefSource(s) => r.source = route_ip(s).map(|i| i.to_string()),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => r.metric = Some(*p),
            RouteAttribute::MultiPath(_) => multipath = true,
            _ => {}
        }
    }
    if oif != Some(index) || r.table == RT_TABLE_LOCAL {
        return Kept::Silently;
    }
    r.output_link = Some(link.to_string());
    let shown = format!(
        "route {}/{} table {}",
        r.destination.as_deref().unwrap_or("default"),
        r.prefix_len,
        r.table
    );
    if multipath {
        return Kept::No(format!("{shown}: a multipath route, not carried"));
    }
    if r.protocol == RTPROT_KERNEL {
        return Kept::No(format!("{shown}: proto kernel, made with its address"));
    }
    if r.protocol == RTPROT_RA {
        return Kept::No(format!(
            "{shown}: proto ra, the next router advertisement installs it"
        ));
    }
    let link_local = r
        .destination
        .as_deref()
        .and_then(|d| d.parse::<std::net::Ipv6Addr>().ok())
        .is_some_and(|d| d.segments()[0] & 0xffc0 == 0xfe80);
    if link_local {
        return Kept::No(format!("{shown}: IPv6 link-local, the kernel's"));
    }
    Kept::Yes(r)
}

/// Rules that belong with the captured addresses and routes: a source
/// covering a captured address, looking up a table a captured route is in.
pub fn rule_kept(rule: &Rule, addresses: &[L3Address], routes: &[L3Route]) -> bool {
    let Some(src) = rule
        .source
        .as_deref()
        .and_then(|s| s.parse::<IpAddr>().ok())
    else {
        return false;
    };
    let covers = addresses.iter().any(|a| {
        a.address
            .parse::<IpAddr>()
            .is_ok_and(|ip| contains(src, rule.source_len, ip))
    });
    covers
        && routes
            .iter()
            .any(|r| r.table == rule.table && r.family == rule.family)
}

/// Whether `net/len` holds `ip`.
pub fn contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Any neighbour entry of the link as a record (for `list-neighbours`).
pub fn neighbour(m: &NeighbourMessage, link: &str) -> Option<Neighbour> {
    let fam = family(m.header.family)?;
    let mut n = Neighbour {
        family: fam,
        link: link.to_string(),
        address: String::new(),
        mac: None,
        state: u16::from(m.header.state),
    };
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                n.address = ip.to_string()
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                n.address = ip.to_string()
            }
            NeighbourAttribute::LinkLayerAddress(b) if !b.is_empty() => n.mac = Some(mac(b)),
            _ => {}
        }
    }
    (!n.address.is_empty()).then_some(n)
}

/// Captured are permanent entries only: the rest ARP and NDP learn again.
pub fn neighbour_kept(m: &NeighbourMessage) -> bool {
    m.header.state == NeighbourState::Permanent
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::CacheInfo;

    fn v6(proto: Option<AddressProtocol>, flags: u32, valid: u32) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = 64;
        m.attributes
            .push(AddressAttribute::Address("fd00::5".parse().unwrap()));
        m.attributes.push(AddressAttribute::Flags(
            netlink_packet_route::address::AddressFlags::from_bits_retain(flags),
        ));
        let mut c = CacheInfo::default();
        c.ifa_valid = valid;
        c.ifa_preferred = valid;
        m.attributes.push(AddressAttribute::CacheInfo(c));
        if let Some(p) = proto {
            m.attributes.push(AddressAttribute::Protocol(p));
        }
        m
    }

    #[test]
    fn ipv6_addresses_the_kernel_makes_are_left_out_and_leases_keep_their_lifetimes() {
        let why = |m| match address(&m) {
            Kept::No(w) => w,
            _ => String::from("kept"),
        };
        assert_eq!(
            why(v6(Some(AddressProtocol::RouterAnnouncement), 0, 3600)),
            "address fd00::5/64: autoconfigured from a router advertisement, the kernel makes it again from the next one"
        );
        assert_eq!(
            why(v6(None, IFA_F_TEMPORARY, 3600)),
            "address fd00::5/64: a privacy address, the kernel makes new ones"
        );
        // Not permanent, not the kernel's: a DHCPv6 lease, carried (CNI
        // drops it) with what is left of its lifetime.
        match address(&v6(None, 0, 3600)) {
            Kept::Yes(a) => assert_eq!((a.valid_lft, a.preferred_lft), (Some(3600), Some(3600))),
            _ => panic!("a lease is carried"),
        }
        match address(&v6(None, IFA_F_PERMANENT, u32::MAX)) {
            Kept::Yes(a) => assert_eq!((a.valid_lft, a.flags), (None, IFA_F_PERMANENT)),
            _ => panic!("a static address is carried"),
        }
    }

    #[test]
    fn prefixes_contain_what_they_cover() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(contains(ip("10.0.1.0"), 24, ip("10.0.1.9")));
        assert!(!contains(ip("10.0.1.0"), 24, ip("10.0.2.9")));
        assert!(contains(ip("0.0.0.0"), 0, ip("10.0.2.9")));
        assert!(contains(ip("10.0.1.9"), 32, ip("10.0.1.9")));
        assert!(contains(ip("fd00:1::"), 64, ip("fd00:1::5")));
        assert!(!contains(ip("fd00:1::"), 64, ip("10.0.1.9")));
    }
}
