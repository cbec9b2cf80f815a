//! The links nethook sees, as values: a table kept current from rtnetlink
//! messages, and the events between two states of one link.

use std::collections::{BTreeSet, HashMap};

use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use crate::caps::netlink::{address_from, link_from};
use crate::point::EventPoint;

/// What nethook knows of one link: enough to tell its events apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub name: String,
    pub mac: Option<String>,
    pub kind: Option<String>,
    /// IFF_LOWER_UP: up, with a carrier.
    pub carrier: bool,
    /// `ip/len`, IPv6 link-local addresses left out: the kernel adds and
    /// removes those with the carrier, they are never "lost".
    pub addresses: BTreeSet<String>,
}

/// Every link of the namespace, by ifindex.
pub type Table = HashMap<u32, LinkState>;

fn state_of(m: &LinkMessage, addresses: BTreeSet<String>) -> LinkState {
    let link = link_from(m);
    LinkState {
        index: link.index,
        name: link.name,
        mac: link.mac,
        kind: link.kind,
        carrier: m.header.flags.contains(LinkFlags::LowerUp),
        addresses,
    }
}

fn is_link_local(ip: &str) -> bool {
    ip.parse::<std::net::Ipv6Addr>()
        .is_ok_and(|a| (a.segments()[0] & 0xffc0) == 0xfe80)
}

/// Apply one rtnetlink message; the ifindex it touched, if any.
pub fn apply(table: &mut Table, msg: &RouteNetlinkMessage) -> Option<u32> {
    match msg {
        RouteNetlinkMessage::NewLink(m) => {
            let index = m.header.index;
            let addresses = table
                .remove(&index)
                .map(|l| l.addresses)
                .unwrap_or_default();
            table.insert(index, state_of(m, addresses));
            Some(index)
        }
        RouteNetlinkMessage::DelLink(m) => {
            table.remove(&m.header.index);
            Some(m.header.index)
        }
        RouteNetlinkMessage::NewAddress(m) | RouteNetlinkMessage::DelAddress(m) => {
            let a = address_from(m)?;
            if is_link_local(&a.address) {
                return None;
            }
            let link = table.get_mut(&a.link_index)?;
            let text = format!("{}/{}", a.address, a.prefix_len);
            match msg {
                RouteNetlinkMessage::NewAddress(_) => link.addresses.insert(text),
                _ => link.addresses.remove(&text),
            };
            Some(a.link_index)
        }
        _ => None,
    }
}

/// One event: a point, the link as it is (as it was, once removed), and
/// what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub point: EventPoint,
    pub link: LinkState,
    pub address: Option<String>,
    pub changed: Vec<String>,
}

/// The events that take a link from `before` to `after`, in the order a
/// hook would want them: down, then what it lost, then up.
pub fn events(before: Option<&LinkState>, after: Option<&LinkState>) -> Vec<Event> {
    let event = |point, link: &LinkState, changed: Vec<String>| Event {
        point,
        link: link.clone(),
        address: None,
        changed,
    };
    match (before, after) {
        (None, None) => Vec::new(),
        (None, Some(a)) => vec![event(EventPoint::LinkAdded, a, Vec::new())],
        (Some(b), None) => vec![event(EventPoint::LinkRemoved, b, Vec::new())],
        (Some(b), Some(a)) => {
            let mut renamed = Vec::new();
            if b.name != a.name {
                renamed.push(format!("name {} -> {}", b.name, a.name));
            }
            let mut out = Vec::new();
            if b.carrier && !a.carrier {
                let mut changed = vec!["carrier down".to_string()];
                changed.extend(renamed.iter().cloned());
                out.push(event(EventPoint::LinkDown, a, changed));
            }
            for lost in b.addresses.difference(&a.addresses) {
                let mut e = event(
                    EventPoint::AddressLost,
                    a,
                    vec![format!("address {lost} removed")],
                );
                e.address = Some(lost.clone());
                out.push(e);
            }
            if !b.carrier && a.carrier {
                let mut changed = vec!["carrier up".to_string()];
                changed.extend(renamed);
                out.push(event(EventPoint::LinkUp, a, changed));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(carrier: bool, addrs: &[&str]) -> LinkState {
        LinkState {
            index: 7,
            name: "eth1".into(),
            mac: None,
            kind: None,
            carrier,
            addresses: addrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn points(v: &[Event]) -> Vec<EventPoint> {
        v.iter().map(|e| e.point).collect()
    }

    #[test]
    fn the_net_change_is_what_is_reported() {
        let up = link(true, &["10.0.0.1/24", "fd00::1/64"]);
        assert_eq!(points(&events(None, Some(&up))), [EventPoint::LinkAdded]);
        assert_eq!(points(&events(Some(&up), None)), [EventPoint::LinkRemoved]);
        // Down and back within the window: nothing to report.
        assert!(events(Some(&up), Some(&up)).is_empty());
        let down = link(false, &["10.0.0.1/24"]);
        let e = events(Some(&up), Some(&down));
        assert_eq!(points(&e), [EventPoint::LinkDown, EventPoint::AddressLost]);
        assert_eq!(e[1].address.as_deref(), Some("fd00::1/64"));
        assert_eq!(
            points(&events(Some(&down), Some(&up))),
            [EventPoint::LinkUp]
        );
    }

    #[test]
    fn link_local_addresses_are_not_tracked() {
        assert!(is_link_local("fe80::1"));
        assert!(is_link_local("febf::1"));
        assert!(!is_link_local("fec0::1"));
        assert!(!is_link_local("10.0.0.1"));
    }
}
