//! `network-manager`: connections on the node, through nmcli.

use super::{validate, CapError, Host};

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
        let shown: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let args = format!("{id} {}", shown.join(" "));
        self.host
            .perform("network-manager", "connection-modify", args, check, |h| {
                let mut argv = vec!["connection", "modify", "id", id];
                for (k, v) in settings {
                    argv.push(k);
                    argv.push(v);
                }
                h.nmcli(&argv).map(drop)
            })
    }

    pub fn connection_up(&mut self, id: &str) -> Result<(), CapError> {
        let check = self.connection(id);
        self.host.perform(
            "network-manager",
            "connection-up",
            id.to_string(),
            check,
            |h| h.nmcli(&["connection", "up", "id", id]).map(drop),
        )
    }

    pub fn connection_down(&mut self, id: &str) -> Result<(), CapError> {
        let check = self.connection(id);
        self.host.perform(
            "network-manager",
            "connection-down",
            id.to_string(),
            check,
            |h| h.nmcli(&["connection", "down", "id", id]).map(drop),
        )
    }

    /// Reload NetworkManager's configuration (NetworkManager.conf, conf.d, DNS).
    pub fn reload(&mut self) -> Result<(), CapError> {
        let check = self.host.grants.nm_reload();
        self.host
            .perform("network-manager", "reload", String::new(), check, |h| {
                h.nmcli(&["general", "reload"]).map(drop)
            })
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
