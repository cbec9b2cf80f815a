//! A link's alternative names (IFLA_ALT_IFNAME, Linux 5.5): udev gives a
//! NIC its `ID_NET_NAME_*` as alternative names when it cannot rename it,
//! so a NIC the kernel gave back as `dev2` while the dataplane's tap still
//! held `ens3` may carry `ens3` as an alternative name, which a rename to
//! `ens3` must take back first (names and alternative names share one
//! namespace). Each removal is undone by adding the name back.

use super::netlink::NetlinkChange;
use super::{validate, CapError, Host, Inverse, Planned};

impl Host {
    /// Remove `name` from `link`'s alternative names. Needs `netlink =
    /// "write"` and both names granted as links.
    pub fn del_alt_name(&mut self, link: &str, name: &str) -> Result<(), CapError> {
        self.alt_name(link, name, false)
    }

    /// Give `link` the alternative name `name`.
    pub fn add_alt_name(&mut self, link: &str, name: &str) -> Result<(), CapError> {
        self.alt_name(link, name, true)
    }

    fn alt_name(&mut self, link: &str, name: &str, add: bool) -> Result<(), CapError> {
        let check = validate::ifname(link).and_then(|_| validate::ifname(name));
        let (l, n) = (link.to_string(), name.to_string());
        let (change, back) = match add {
            true => (
                NetlinkChange::LinkAltNameAdd {
                    link: l.clone(),
                    name: n.clone(),
                },
                NetlinkChange::LinkAltNameDel { link: l, name: n },
            ),
            false => (
                NetlinkChange::LinkAltNameDel {
                    link: l.clone(),
                    name: n.clone(),
                },
                NetlinkChange::LinkAltNameAdd { link: l, name: n },
            ),
        };
        self.mutate(
            change,
            check,
            |_| Ok(Inverse::of(vec![back])),
            |h| {
                let index = h.netlink.index(link)?;
                let name = name.to_string();
                h.netlink.call(move |c| async move {
                    match add {
                        true => {
                            c.link()
                                .property_add(index)
                                .alt_ifname(&[&name])
                                .execute()
                                .await
                        }
                        false => {
                            c.link()
                                .property_del(index)
                                .alt_ifname(&[&name])
                                .execute()
                                .await
                        }
                    }
                })
            },
            |_| Planned::Change(()),
        )
    }
}
