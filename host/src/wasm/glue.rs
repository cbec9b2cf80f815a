//! The WIT imports, delegated to the capability layer. No logic here.

use std::time::Duration;

use super::ctx::Ctx;
use crate::bindings::nethook::hooks::{
    host_fs, l3, log, netlink, network_manager, state, systemd, time, types, udev, undo,
};
use crate::caps::CapError;

impl From<CapError> for types::Error {
    fn from(e: CapError) -> Self {
        match e {
            CapError::Denied(m) => types::Error::Denied(m),
            CapError::Invalid(m) => types::Error::Invalid(m),
            CapError::NotFound(m) => types::Error::NotFound(m),
            CapError::Failed(m) => types::Error::Failed(m),
            // Not a case of the WIT error (that would break every guest
            // built against 0.1.0): said in the text.
            CapError::Exists(m) => types::Error::Failed(format!("already exists: {m}")),
        }
    }
}

type Result<T> = std::result::Result<T, types::Error>;

fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

impl types::Host for Ctx {}

impl log::Host for Ctx {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        self.host.log(level, &message, &fields);
    }
}

impl state::Host for Ctx {
    fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.host.state().get(&key)?)
    }

    fn set(&mut self, key: String, value: String) -> Result<()> {
        Ok(self.host.state().set(&key, &value)?)
    }

    fn delete(&mut self, key: String) -> Result<bool> {
        Ok(self.host.state().delete(&key)?)
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.host.state().keys()?)
    }
}

impl netlink::Host for Ctx {
    fn list_links(&mut self) -> Result<Vec<netlink::Link>> {
        Ok(self.host.netlink().list_links()?)
    }

    fn get_link(&mut self, name: String) -> Result<netlink::Link> {
        Ok(self.host.netlink().get_link(&name)?)
    }

    fn list_addresses(&mut self) -> Result<Vec<netlink::Address>> {
        Ok(self.host.netlink().list_addresses()?)
    }

    fn list_routes(&mut self, family: netlink::Family) -> Result<Vec<netlink::Route>> {
        Ok(self.host.netlink().list_routes(family)?)
    }

    fn list_rules(&mut self, family: netlink::Family) -> Result<Vec<netlink::Rule>> {
        Ok(self.host.netlink().list_rules(family)?)
    }

    fn set_up(&mut self, name: String) -> Result<()> {
        Ok(self.host.netlink().set_up(&name)?)
    }

    fn set_down(&mut self, name: String) -> Result<()> {
        Ok(self.host.netlink().set_down(&name)?)
    }

    fn set_mtu(&mut self, name: String, mtu: u32) -> Result<()> {
        Ok(self.host.netlink().set_mtu(&name, mtu)?)
    }

    fn rename(&mut self, name: String, new_name: String) -> Result<()> {
        Ok(self.host.netlink().rename(&name, &new_name)?)
    }

    fn move_to_netns(&mut self, name: String, target: netlink::Netns) -> Result<()> {
        Ok(self.host.netlink().move_to_netns(&name, &target)?)
    }

    fn add_address(&mut self, link: String, address: String, prefix_len: u8) -> Result<()> {
        Ok(self
            .host
            .netlink()
            .add_address(&link, &address, prefix_len)?)
    }

    fn del_address(&mut self, link: String, address: String, prefix_len: u8) -> Result<()> {
        Ok(self
            .host
            .netlink()
            .del_address(&link, &address, prefix_len)?)
    }

    fn add_route(&mut self, route: netlink::RouteSpec) -> Result<()> {
        Ok(self.host.netlink().add_route(&route)?)
    }

    fn del_route(&mut self, route: netlink::RouteSpec) -> Result<()> {
        Ok(self.host.netlink().del_route(&route)?)
    }

    fn add_rule(&mut self, rule: netlink::Rule) -> Result<()> {
        Ok(self.host.netlink().add_rule(&rule)?)
    }

    fn del_rule(&mut self, rule: netlink::Rule) -> Result<()> {
        Ok(self.host.netlink().del_rule(&rule)?)
    }
}

impl host_fs::Host for Ctx {
    fn read(&mut self, path: String) -> Result<Vec<u8>> {
        Ok(self.host.host_fs().read(&path)?)
    }

    fn write(&mut self, path: String, contents: Vec<u8>, mode: Option<u32>) -> Result<()> {
        Ok(self.host.host_fs().write(&path, &contents, mode)?)
    }

    fn remove(&mut self, path: String) -> Result<bool> {
        Ok(self.host.host_fs().remove(&path)?)
    }

    fn exists(&mut self, path: String) -> Result<bool> {
        Ok(self.host.host_fs().exists(&path)?)
    }

    fn list_dir(&mut self, path: String) -> Result<Vec<String>> {
        Ok(self.host.host_fs().list(&path)?)
    }
}

impl systemd::Host for Ctx {
    fn start(&mut self, unit: String) -> Result<()> {
        Ok(self.host.systemd().start(&unit)?)
    }

    fn stop(&mut self, unit: String) -> Result<()> {
        Ok(self.host.systemd().stop(&unit)?)
    }

    fn restart(&mut self, unit: String) -> Result<()> {
        Ok(self.host.systemd().restart(&unit)?)
    }

    fn reload(&mut self, unit: String) -> Result<()> {
        Ok(self.host.systemd().reload(&unit)?)
    }

    fn is_active(&mut self, unit: String) -> Result<String> {
        Ok(self.host.systemd().is_active(&unit)?)
    }

    fn daemon_reload(&mut self) -> Result<()> {
        Ok(self.host.systemd().daemon_reload()?)
    }

    fn wait_active(&mut self, unit: String, timeout_ms: u32) -> Result<()> {
        Ok(self.host.systemd().wait_active(&unit, ms(timeout_ms))?)
    }
}

impl network_manager::Host for Ctx {
    fn connection_modify(&mut self, id: String, settings: Vec<(String, String)>) -> Result<()> {
        Ok(self
            .host
            .network_manager()
            .connection_modify(&id, &settings)?)
    }

    fn connection_up(&mut self, id: String) -> Result<()> {
        Ok(self.host.network_manager().connection_up(&id)?)
    }

    fn connection_down(&mut self, id: String) -> Result<()> {
        Ok(self.host.network_manager().connection_down(&id)?)
    }

    fn reload(&mut self) -> Result<()> {
        Ok(self.host.network_manager().reload()?)
    }

    fn get_setting(&mut self, id: String, setting: String) -> Result<String> {
        Ok(self.host.network_manager().get_setting(&id, &setting)?)
    }

    fn device_connection(&mut self, ifname: String) -> Result<Option<String>> {
        Ok(self.host.network_manager().device_connection(&ifname)?)
    }
}

impl udev::Host for Ctx {
    fn properties(&mut self, ifname: String) -> Result<Vec<(String, String)>> {
        Ok(self.host.udev().properties(&ifname)?)
    }

    fn reload_rules(&mut self) -> Result<()> {
        Ok(self.host.udev().reload_rules()?)
    }

    fn trigger(&mut self, subsystem: String, action: String) -> Result<()> {
        Ok(self.host.udev().trigger(&subsystem, &action)?)
    }

    fn settle(&mut self, timeout_ms: u32) -> Result<()> {
        Ok(self.host.udev().settle(ms(timeout_ms))?)
    }
}

impl time::Host for Ctx {
    fn sleep(&mut self, ms_: u32) {
        self.host.sleep(ms(ms_));
    }

    fn now(&mut self) -> u64 {
        self.host.now()
    }
}

impl undo::Host for Ctx {
    fn lifecycle(&mut self) -> Result<u32> {
        Ok(self.host.undo_lifecycle()?)
    }
}

impl l3::Host for Ctx {
    fn capture(&mut self, link: String, netns: Option<l3::Netns>) -> Result<l3::L3Config> {
        Ok(self.host.l3().capture(&link, &netns)?)
    }

    fn apply(
        &mut self,
        link: String,
        config: l3::L3Config,
        netns: Option<l3::Netns>,
    ) -> Result<l3::Applied> {
        Ok(self.host.l3().apply(&link, &config, &netns)?)
    }

    fn move_link(
        &mut self,
        link: String,
        from: Option<l3::Netns>,
        to: Option<l3::Netns>,
    ) -> Result<()> {
        Ok(self.host.l3().move_link(&link, &from, &to)?)
    }

    fn list_neighbours(
        &mut self,
        link: String,
        netns: Option<l3::Netns>,
    ) -> Result<Vec<l3::Neighbour>> {
        Ok(self.host.l3().list_neighbours(&link, &netns)?)
    }

    fn add_neighbour(&mut self, neighbour: l3::Neighbour, netns: Option<l3::Netns>) -> Result<()> {
        Ok(self.host.l3().add_neighbour(&neighbour, &netns)?)
    }

    fn del_neighbour(&mut self, neighbour: l3::Neighbour, netns: Option<l3::Netns>) -> Result<()> {
        Ok(self.host.l3().del_neighbour(&neighbour, &netns)?)
    }

    fn sysctl_get(&mut self, key: String, netns: Option<l3::Netns>) -> Result<String> {
        Ok(self.host.l3().sysctl_get(&key, &netns)?)
    }

    fn sysctl_set(&mut self, key: String, value: String, netns: Option<l3::Netns>) -> Result<()> {
        Ok(self.host.l3().sysctl_set(&key, &value, &netns)?)
    }

    fn to_json(&mut self, config: l3::L3Config) -> String {
        crate::caps::l3::to_json(&config)
    }

    fn from_json(&mut self, json: String) -> Result<l3::L3Config> {
        Ok(crate::caps::l3::from_json(&json)?)
    }
}
