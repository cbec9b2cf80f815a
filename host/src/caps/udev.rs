//! `udev`: device properties and rule control, through udevadm.

use std::time::Duration;

use super::{validate, Access, CapError, Host, Planned};

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
    pub fn properties(&mut self, ifname: &str) -> Result<Vec<(String, String)>, CapError> {
        let check = validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
        self.host
            .read("udev", "properties", ifname.to_string(), check, |h| {
                let path = format!("/sys/class/net/{ifname}");
                let out = h.udevadm(&["info", "--query=property", "--path", &path])?;
                let mut props: Vec<(String, String)> = out
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                props.sort();
                Ok(props)
            })
    }

    pub fn reload_rules(&mut self) -> Result<(), CapError> {
        let check = self.host.grants.udev();
        self.host.change(
            "udev",
            "reload-rules",
            String::new(),
            Access::Write,
            check,
            |h| h.udevadm(&["control", "--reload-rules"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    pub fn trigger(&mut self, subsystem: &str, action: &str) -> Result<(), CapError> {
        let check = validate::subsystem(subsystem)
            .and_then(|_| validate::uevent_action(action))
            .and_then(|_| self.host.grants.udev());
        self.host.change(
            "udev",
            "trigger",
            format!("subsystem={subsystem} action={action}"),
            Access::Write,
            check,
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
        let shown = humantime::format_duration(timeout).to_string();
        self.host.change(
            "udev",
            "settle",
            shown,
            Access::Wait,
            check,
            |h| {
                let t = h.remaining(timeout);
                h.udevadm(&["settle", &format!("--timeout={}", t.as_secs().max(1))])
                    .map(drop)
            },
            |_| Planned::Change(()),
        )
    }
}
