//! An address's valid and preferred lifetimes changed in place
//! (RTM_NEWADDR with NLM_F_REPLACE, the address's flags, metric and
//! protocol as the kernel has them): what the built-in module does to an
//! address the dataplane copied onto its tap when no DHCP client can
//! renew it there, so it does not expire under the node. Undone by the
//! lifetimes it had left.

use netlink_packet_route::address::{AddressAttribute, AddressMessage, CacheInfo};

use super::netlink::NetlinkChange;
use super::{validate, CapError, Host, Inverse, Planned};

/// The kernel's "forever".
const INFINITY: u32 = u32::MAX;

impl Host {
    /// Set `address/prefix_len` on `link` to `valid` and `preferred`
    /// seconds (None: forever). Needs `netlink = "write"` and the link.
    pub fn set_address_lifetime(
        &mut self,
        link: &str,
        address: &str,
        prefix_len: u8,
        valid: Option<u32>,
        preferred: Option<u32>,
    ) -> Result<(), CapError> {
        let parsed = super::netlink::parse_ip(address);
        let check = validate::ifname(link)
            .and_then(|_| self.grants.netlink_write())
            .and_then(|_| self.grants.link(link))
            .and_then(|_| parsed.as_ref().map(drop).map_err(Clone::clone));
        let change = NetlinkChange::AddressLifetime {
            link: link.to_string(),
            address: address.to_string(),
            prefix_len,
            valid,
            preferred,
        };
        let ip = parsed.ok();
        self.mutate(
            change,
            check,
            |h| {
                let ip = ip.expect("checked");
                let msg =
                    super::netlink::find_address(h, link, ip, prefix_len)?.ok_or_else(|| {
                        CapError::NotFound(format!("{link} has no address {address}/{prefix_len}"))
                    })?;
                let (valid, preferred) = lifetimes(&msg);
                Ok(Inverse::of(vec![NetlinkChange::AddressLifetime {
                    link: link.to_string(),
                    address: ip.to_string(),
                    prefix_len,
                    valid,
                    preferred,
                }]))
            },
            |h| {
                let ip = ip.expect("checked");
                let mut msg =
                    super::netlink::find_address(h, link, ip, prefix_len)?.ok_or_else(|| {
                        CapError::NotFound(format!("{link} has no address {address}/{prefix_len}"))
                    })?;
                let mut info = CacheInfo::default();
                info.ifa_preferred = preferred.unwrap_or(INFINITY);
                info.ifa_valid = valid.unwrap_or(INFINITY);
                msg.attributes
                    .retain(|a| !matches!(a, AddressAttribute::CacheInfo(_)));
                msg.attributes.push(AddressAttribute::CacheInfo(info));
                let index = msg.header.index;
                h.netlink.call(|c| {
                    let mut req = c.address().add(index, ip, prefix_len).replace();
                    *req.message_mut() = msg;
                    req.execute()
                })
            },
            |_| Planned::Change(()),
        )
    }
}

/// Seconds left of (valid, preferred); None: forever.
pub fn lifetimes(m: &AddressMessage) -> (Option<u32>, Option<u32>) {
    let finite = |v: u32| (v != INFINITY).then_some(v);
    m.attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::CacheInfo(c) => Some((finite(c.ifa_valid), finite(c.ifa_preferred))),
            _ => None,
        })
        .unwrap_or((None, None))
}
