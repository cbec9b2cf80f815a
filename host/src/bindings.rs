//! Host-side bindings for the `nethook:hooks` world, generated in one place.
//! Capability modules use these types directly: they are the contract.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "nethook:hooks/hook",
});

pub use self::nethook::hooks::types::{
    Context, Error as WitError, HookError, HookPoint as WitPoint, Uplink,
};

/// The package version this build implements.
pub const PACKAGE: &str = "nethook:hooks";
pub const PACKAGE_VERSION: &str = "0.1.0";
