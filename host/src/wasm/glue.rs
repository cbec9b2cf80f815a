//! The WIT imports, delegated to the capability layer. No logic here.

use super::ctx::Ctx;
use crate::bindings::nethook::hooks::{log, netlink, state, types};
use crate::caps::CapError;

impl From<CapError> for types::Error {
    fn from(e: CapError) -> Self {
        match e {
            CapError::Denied(m) => types::Error::Denied(m),
            CapError::Invalid(m) => types::Error::Invalid(m),
            CapError::NotFound(m) => types::Error::NotFound(m),
            CapError::Failed(m) => types::Error::Failed(m),
        }
    }
}

type Result<T> = std::result::Result<T, types::Error>;

impl types::Host for Ctx {}

impl log::Host for Ctx {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        self.host.log.log(level, &message, &fields);
    }
}

impl state::Host for Ctx {
    fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.host.state.get(&key)?)
    }

    fn set(&mut self, key: String, value: String) -> Result<()> {
        Ok(self.host.state.set(&key, &value)?)
    }

    fn delete(&mut self, key: String) -> Result<bool> {
        Ok(self.host.state.delete(&key)?)
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.host.state.keys()?)
    }
}

impl netlink::Host for Ctx {
    fn list_links(&mut self) -> Result<Vec<netlink::Link>> {
        Ok(self.host.netlink.list_links()?)
    }

    fn get_link(&mut self, name: String) -> Result<netlink::Link> {
        Ok(self.host.netlink.get_link(&name)?)
    }

    fn list_addresses(&mut self) -> Result<Vec<netlink::Address>> {
        Ok(self.host.netlink.list_addresses()?)
    }

    fn list_routes(&mut self, family: netlink::Family) -> Result<Vec<netlink::Route>> {
        Ok(self.host.netlink.list_routes(family)?)
    }
}
