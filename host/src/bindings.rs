//! Host-side bindings for the `nethook:hooks` world, generated in one place.
//! Capability modules use these types directly: they are the contract.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "nethook:hooks/hook",
    // The journal keeps route specs and rules as the capability took them.
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
});

pub use self::nethook::hooks::types::{
    Context, Error as WitError, HookError, HookPoint as WitPoint, Uplink,
};

/// The package version this build implements.
pub const PACKAGE: &str = "nethook:hooks";
pub const PACKAGE_VERSION: &str = "0.1.0";
