//! `udev`: device properties and rule control, through udevadm.

mod change;
mod validate;

use std::time::Duration;

pub use change::UdevChange;

use super::{CapError, Host, Inverse, Planned};

pub struct Udev<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn udev(&mut self) -> Udev<'_> {
        Udev { host: self }
    }

    fn udevadm(&self, args: &[&str]) -> Result<String, CapError> {
        let timeout = self.remaining(self.session.node.command_timeout);
        self.session.node.run("udevadm", args, timeout)
    }
}

impl Udev<'_> {
    /// From udev's database on the node (`/run/udev/data/n<ifindex>`, the
    /// `E:` lines `udevadm info` prints), so no command is needed.
    pub fn properties(&mut self, ifname: &str) -> Result<Vec<(String, String)>, CapError> {
        let check = super::validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
        self.host
            .read("udev", "properties", ifname.to_string(), check, |h| {
                let index = h.netlink.index(ifname)?;
                record(h, ifname, index)
            })
    }

    /// The properties of the link `ifname` had index `index` when an
    /// event named it (it may be gone or renamed since): `nethook watch`'s
    /// driver filter. Read through the confined root like any other call.
    pub fn properties_of_index(
        &mut self,
        ifname: &str,
        index: u32,
    ) -> Result<Vec<(String, String)>, CapError> {
        let check = self.host.grants.link(ifname);
        self.host.read(
            "udev",
            "properties",
            format!("{ifname} (index {index})"),
            check,
            |h| record(h, ifname, index),
        )
    }

    pub fn reload_rules(&mut self) -> Result<(), CapError> {
        self.host.mutate(
            UdevChange::UdevReloadRules,
            Ok(()),
            |_| Ok(Inverse::of(vec![UdevChange::UdevReloadRules])),
            |h| h.udevadm(&["control", "--reload-rules"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    pub fn trigger(&mut self, subsystem: &str, action: &str) -> Result<(), CapError> {
        let check = validate::subsystem(subsystem).and_then(|_| validate::uevent_action(action));
        let change = UdevChange::UdevTrigger {
            subsystem: subsystem.to_string(),
            action: action.to_string(),
        };
        let args = [
            format!("--subsystem-match={subsystem}"),
            format!("--action={action}"),
        ];
        self.trigger_with(change, check, &args)
    }

    /// `udevadm trigger ARGS`: undone by triggering the same again, once
    /// what the rules read is put back.
    fn trigger_with(
        &mut self,
        change: UdevChange,
        check: Result<(), CapError>,
        args: &[String],
    ) -> Result<(), CapError> {
        let again = change.clone();
        self.host.mutate(
            change,
            check,
            |_| Ok(Inverse::of(vec![again])),
            |h| {
                let mut argv = vec!["trigger"];
                argv.extend(args.iter().map(String::as_str));
                h.udevadm(&argv).map(drop)
            },
            |_| Planned::Change(()),
        )
    }

    pub fn settle(&mut self, timeout: Duration) -> Result<(), CapError> {
        let within = humantime::format_duration(timeout).to_string();
        self.host
            .wait(UdevChange::UdevSettle { within }, Ok(()), |h| {
                let t = h.remaining(timeout);
                h.udevadm(&["settle", &format!("--timeout={}", t.as_secs().max(1))])
                    .map(drop)
            })
    }
}

/// What the kernel says identifies a network device: what udev names it
/// from, and how to find it again when it comes back under another name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    pub index: u32,
    pub name: String,
    pub mac: Option<String>,
    /// IFLA_PERM_ADDRESS: the address the hardware came with (a NIC's;
    /// none for a tap, whose address was set by software).
    pub perm_mac: Option<String>,
    /// IFLA_INFO_KIND: none for a NIC, `tun` for a tap.
    pub kind: Option<String>,
    /// A tun/tap device's flags, as a NetworkManager `tun` profile must
    /// match them.
    pub tun: Option<Tun>,
}

/// IFLA_INFO_DATA of a tun device (IFLA_TUN_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tun {
    /// 1 tun, 2 tap.
    pub mode: u8,
    pub pi: bool,
    pub vnet_hdr: bool,
    pub multi_queue: bool,
    pub persist: bool,
    /// Present only when set (TUNSETOWNER / TUNSETGROUP).
    pub owner: Option<u32>,
    pub group: Option<u32>,
}

impl Udev<'_> {
    /// The device's identity as the kernel has it (netlink).
    pub fn device(&mut self, ifname: &str) -> Result<Device, CapError> {
        let check = super::validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
        self.host
            .read("udev", "device", ifname.to_string(), check, |h| {
                Ok(device_from(&h.netlink.link_message(ifname)?))
            })
    }

    /// The device the hardware gave this permanent address, whatever it
    /// is called now (a NIC back from the dataplane under another name).
    pub fn find_by_perm_mac(&mut self, mac: &str) -> Result<Option<Device>, CapError> {
        let check = self.host.grants.netlink_read();
        let want = mac.to_ascii_lowercase();
        self.host
            .read("udev", "find-by-perm-mac", want.clone(), check, |h| {
                use futures::TryStreamExt;
                let msgs: Vec<netlink_packet_route::link::LinkMessage> =
                    h.netlink.call(|c| c.link().get().execute().try_collect())?;
                Ok(msgs
                    .iter()
                    .map(device_from)
                    .find(|d| d.perm_mac.as_deref() == Some(want.as_str())))
            })
    }

    /// `udevadm trigger --action=ACTION --settle /sys/class/net/LINK`: the
    /// rules run again for this one device, waited for.
    pub fn trigger_device(&mut self, link: &str, action: &str) -> Result<(), CapError> {
        let check = super::validate::ifname(link).and_then(|_| validate::uevent_action(action));
        let change = UdevChange::UdevTriggerDevice {
            link: link.to_string(),
            action: action.to_string(),
        };
        let args = [
            format!("--action={action}"),
            "--settle".to_string(),
            format!("/sys/class/net/{link}"),
        ];
        self.trigger_with(change, check, &args)
    }
}

fn device_from(m: &netlink_packet_route::link::LinkMessage) -> Device {
    use netlink_packet_core::Nla;
    use netlink_packet_route::link::{InfoData, LinkAttribute, LinkInfo};
    let link = super::netlink::link_from(m);
    let mut d = Device {
        index: link.index,
        name: link.name,
        mac: link.mac,
        kind: link.kind,
        ..Device::default()
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::PermAddress(a) if a.iter().any(|b| *b != 0) => {
                d.perm_mac = Some(super::netlink::mac(a))
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    let LinkInfo::Data(InfoData::Tun(nlas)) = info else {
                        continue;
                    };
                    let mut tun = Tun::default();
                    for nla in nlas {
                        let mut v = vec![0u8; nla.value_len()];
                        nla.emit_value(&mut v);
                        let byte = v.first().copied().unwrap_or(0);
                        let word = v
                            .get(..4)
                            .map(|b| u32::from_ne_bytes(b.try_into().expect("four bytes")));
                        // IFLA_TUN_OWNER, _GROUP, _TYPE, _PI, _VNET_HDR,
                        // _PERSIST, _MULTI_QUEUE (linux/if_link.h).
                        match nla.kind() {
                            1 => tun.owner = word,
                            2 => tun.group = word,
                            3 => tun.mode = byte,
                            4 => tun.pi = byte != 0,
                            5 => tun.vnet_hdr = byte != 0,
                            6 => tun.persist = byte != 0,
                            7 => tun.multi_queue = byte != 0,
                            _ => {}
                        }
                    }
                    d.tun = Some(tun);
                }
            }
            _ => {}
        }
    }
    d
}

/// udev's database entry of the link with `index`, under the host root.
fn record(h: &mut Host, ifname: &str, index: u32) -> Result<Vec<(String, String)>, CapError> {
    let db = format!("/run/udev/data/n{index}");
    let bytes = h.root_fs()?.read(&db).map_err(|e| match e {
        CapError::NotFound(_) => {
            CapError::NotFound(format!("udev has no record of {ifname} ({db})"))
        }
        other => other,
    })?;
    Ok(parse_db(&String::from_utf8_lossy(&bytes)))
}

/// The `E:KEY=VALUE` lines of a udev database entry, sorted by key.
pub fn parse_db(text: &str) -> Vec<(String, String)> {
    let mut props: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    props.sort();
    props
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_entries_yield_their_properties() {
        let db = "I:1234\nE:ID_NET_NAME_PATH=enp0s3\nE:ID_NET_NAME_MAC=enx525400123456\nG:systemd\nE:ID_NET_DRIVER=virtio_net\n";
        assert_eq!(
            super::parse_db(db),
            [
                ("ID_NET_DRIVER".to_string(), "virtio_net".to_string()),
                ("ID_NET_NAME_MAC".to_string(), "enx525400123456".to_string()),
                ("ID_NET_NAME_PATH".to_string(), "enp0s3".to_string()),
            ]
        );
    }
}
