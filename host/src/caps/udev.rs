//! `udev`: device properties and rule control, through udevadm.

use std::time::Duration;

use super::{validate, CapError, Change, Host, Inverse, Planned};

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
        let check = validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
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
        let check = self.host.grants.udev();
        self.host.mutate(
            Change::UdevReloadRules,
            check,
            |_| Ok(Inverse::of(vec![Change::UdevReloadRules])),
            |h| h.udevadm(&["control", "--reload-rules"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    pub fn trigger(&mut self, subsystem: &str, action: &str) -> Result<(), CapError> {
        let check = validate::subsystem(subsystem)
            .and_then(|_| validate::uevent_action(action))
            .and_then(|_| self.host.grants.udev());
        let change = Change::UdevTrigger {
            subsystem: subsystem.to_string(),
            action: action.to_string(),
        };
        let again = change.clone();
        self.host.mutate(
            change,
            check,
            |_| Ok(Inverse::of(vec![again])),
            |h| {
                let (s, a) = (
                    format!("--subsystem-match={subsystem}"),
                    format!("--action={action}"),
                );
                h.udevadm(&["trigger", &s, &a]).map(drop)
            },
            |_| Planned::Change(()),
        )
    }

    pub fn settle(&mut self, timeout: Duration) -> Result<(), CapError> {
        let check = self.host.grants.udev();
        let within = humantime::format_duration(timeout).to_string();
        self.host.wait(Change::UdevSettle { within }, check, |h| {
            let t = h.remaining(timeout);
            h.udevadm(&["settle", &format!("--timeout={}", t.as_secs().max(1))])
                .map(drop)
        })
    }
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
