//! Host-side bindings for the `nethook:hooks` world, generated in one place.
//! Capability modules use these types directly: they are the contract.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "nethook:hooks/hook",
    // The journal keeps route specs and rules as the capability took them.
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
});

pub use self::nethook::hooks::types::{
    Context, Error as WitError, EventContext, EventPoint as WitEventPoint, HookError,
    HookPoint as WitPoint, LinkEvent, Uplink,
};

/// The `event-hook` world (since 0.1.1): its imports are the `hook` world's,
/// so only its export is generated here; the linker has the imports already.
pub mod events {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "nethook:hooks/event-hook",
        with: {
            "nethook:hooks/types": super::nethook::hooks::types,
            "nethook:hooks/log": super::nethook::hooks::log,
            "nethook:hooks/state": super::nethook::hooks::state,
            "nethook:hooks/netlink": super::nethook::hooks::netlink,
            "nethook:hooks/host-fs": super::nethook::hooks::host_fs,
            "nethook:hooks/systemd": super::nethook::hooks::systemd,
            "nethook:hooks/network-manager": super::nethook::hooks::network_manager,
            "nethook:hooks/udev": super::nethook::hooks::udev,
            "nethook:hooks/time": super::nethook::hooks::time,
            "nethook:hooks/undo": super::nethook::hooks::undo,
            "nethook:hooks/l3": super::nethook::hooks::l3,
        },
    });
}

/// The package version this build implements.
pub const PACKAGE: &str = "nethook:hooks";
pub const PACKAGE_VERSION: &str = "0.1.1";
