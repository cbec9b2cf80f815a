//! `network-manager`: connections on the node, through nmcli.

use super::{validate, CapError, Change, Host, Inverse, Planned};

pub struct NetworkManager<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn network_manager(&mut self) -> NetworkManager<'_> {
        NetworkManager { host: self }
    }

    fn nmcli(&self, args: &[&str]) -> Result<String, CapError> {
        let timeout = self.remaining(self.session.node.command_timeout);
        self.session.node.run("nmcli", args, timeout)
    }
}

impl NetworkManager<'_> {
    pub fn connection_modify(
        &mut self,
        id: &str,
        settings: &[(String, String)],
    ) -> Result<(), CapError> {
        let check = self.connection(id).and_then(|_| {
            if settings.is_empty() {
                return Err(CapError::Invalid("no settings to modify".into()));
            }
            settings.iter().try_for_each(|(k, v)| {
                validate::nm_setting_changeable(k).and_then(|_| validate::nm_value(k, v))
            })
        });
        let change = Change::NmModify {
            id: id.to_string(),
            settings: settings.to_vec(),
        };
        self.host.mutate(
            change,
            check,
            // Each setting's value before, as nmcli prints it.
            |h| {
                let mut previous = Vec::new();
                for (k, _) in settings {
                    let v = h.nmcli(&["--get-values", k, "connection", "show", "id", id])?;
                    previous.push((k.clone(), v.trim_end().to_string()));
                }
                let id = id.to_string();
                Ok(Inverse::of(vec![Change::NmModify {
                    id,
                    settings: previous,
                }]))
            },
            |h| {
                let mut argv = vec!["connection", "modify", "id", id];
                for (k, v) in settings {
                    argv.push(k);
                    argv.push(v);
                }
                h.nmcli(&argv).map(drop)
            },
            |_| Planned::Change(()),
        )
    }

    pub fn connection_up(&mut self, id: &str) -> Result<(), CapError> {
        self.up_down(id, true)
    }

    pub fn connection_down(&mut self, id: &str) -> Result<(), CapError> {
        self.up_down(id, false)
    }

    fn up_down(&mut self, id: &str, up: bool) -> Result<(), CapError> {
        let check = self.connection(id);
        let (change, back) = match up {
            true => (
                Change::NmUp { id: id.to_string() },
                Change::NmDown { id: id.to_string() },
            ),
            false => (
                Change::NmDown { id: id.to_string() },
                Change::NmUp { id: id.to_string() },
            ),
        };
        let verb = if up { "up" } else { "down" };
        self.host.mutate(
            change,
            check,
            |h| {
                let state = h.nmcli(&[
                    "--get-values",
                    "GENERAL.STATE",
                    "connection",
                    "show",
                    "id",
                    id,
                ])?;
                let was_up = state.trim() == "activated";
                Ok(match was_up == up {
                    true => Inverse::Nothing,
                    false => Inverse::of(vec![back]),
                })
            },
            |h| h.nmcli(&["connection", verb, "id", id]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// Reload NetworkManager's configuration (NetworkManager.conf, conf.d, DNS).
    pub fn reload(&mut self) -> Result<(), CapError> {
        let check = self.host.grants.nm_reload();
        self.host.mutate(
            Change::NmReload,
            check,
            |_| Ok(Inverse::of(vec![Change::NmReload])),
            |h| h.nmcli(&["general", "reload"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    pub fn get_setting(&mut self, id: &str, setting: &str) -> Result<String, CapError> {
        let check = self
            .connection(id)
            .and_then(|_| validate::nm_setting(setting));
        self.host.read(
            "network-manager",
            "get-setting",
            format!("{id} {setting}"),
            check,
            |h| {
                h.nmcli(&["--get-values", setting, "connection", "show", "id", id])
                    .map(|s| s.trim_end().to_string())
            },
        )
    }

    pub fn device_connection(&mut self, ifname: &str) -> Result<Option<String>, CapError> {
        let check = validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
        self.host.read(
            "network-manager",
            "device-connection",
            ifname.to_string(),
            check,
            |h| {
                let out = h.nmcli(&[
                    "--get-values",
                    "GENERAL.CONNECTION",
                    "device",
                    "show",
                    ifname,
                ])?;
                let id = out.trim();
                Ok((!id.is_empty() && id != "--").then(|| id.to_string()))
            },
        )
    }

    fn connection(&self, id: &str) -> Result<(), CapError> {
        validate::connection_id(id)?;
        self.host.grants.connection(id)
    }
}
