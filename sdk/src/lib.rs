//! Write nethook hooks in Rust.
//!
//! A hook is a type implementing [`Hook`], exported with [`export_hook!`] and
//! built as a `cdylib` for `wasm32-wasip1`; `nethook componentize` turns the
//! result into the component nethook loads.
//!
//! ```no_run
//! use nethook_sdk::{info, Context, Hook, HookError};
//!
//! struct Hello;
//!
//! impl Hook for Hello {
//!     fn run(ctx: Context) -> Result<(), HookError> {
//!         info!("hello at {}", ctx.point_name());
//!         Ok(())
//!     }
//! }
//!
//! nethook_sdk::export_hook!(Hello);
//! ```

// The generated bindings name paths through `nethook_sdk::` so that they
// also resolve from the hook crates that expand `export_hook!`.
extern crate self as nethook_sdk;

/// Bindings generated from `wit/` for the `hook` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "nethook:hooks/hook",
        pub_export_macro: true,
        export_macro_name: "__export_hook_world",
        default_bindings_module: "nethook_sdk::bindings",
        runtime_path: "nethook_sdk::__rt",
    });
}

/// Bindings for the `event-hook` world (since 0.1.1): only its export is
/// generated here, its imports are the `hook` world's above.
pub mod event_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "nethook:hooks/event-hook",
        pub_export_macro: true,
        export_macro_name: "__export_event_hook_world",
        default_bindings_module: "nethook_sdk::event_bindings",
        runtime_path: "nethook_sdk::__rt",
        with: {
            "nethook:hooks/types@0.1.1": crate::bindings::nethook::hooks::types,
            "nethook:hooks/log@0.1.1": crate::bindings::nethook::hooks::log,
            "nethook:hooks/state@0.1.1": crate::bindings::nethook::hooks::state,
            "nethook:hooks/netlink@0.1.1": crate::bindings::nethook::hooks::netlink,
            "nethook:hooks/host-fs@0.1.1": crate::bindings::nethook::hooks::host_fs,
            "nethook:hooks/systemd@0.1.1": crate::bindings::nethook::hooks::systemd,
            "nethook:hooks/network-manager@0.1.1": crate::bindings::nethook::hooks::network_manager,
            "nethook:hooks/udev@0.1.1": crate::bindings::nethook::hooks::udev,
            "nethook:hooks/time@0.1.1": crate::bindings::nethook::hooks::time,
            "nethook:hooks/undo@0.1.1": crate::bindings::nethook::hooks::undo,
            "nethook:hooks/l3@0.1.1": crate::bindings::nethook::hooks::l3,
        },
    });
}

mod context;
pub mod log;

pub use bindings::nethook::hooks::types::{
    Error, EventContext, EventPoint, HookError, HookPoint, LinkEvent, Uplink,
};
pub use bindings::nethook::hooks::{
    host_fs, l3, netlink, network_manager, state, systemd, time, udev, undo,
};
pub use context::Context;

#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

/// A hook: the code nethook runs at the hook points it is selected for.
pub trait Hook {
    fn run(ctx: Context) -> Result<(), HookError>;
}

/// An event hook: the code `nethook watch` runs at the event points it is
/// selected for (link-added, link-removed, link-down, link-up,
/// address-lost), once per event.
pub trait EventHook {
    fn on_event(ctx: EventContext) -> Result<(), HookError>;
}

impl EventContext {
    /// A value from the hook's config table.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl core::fmt::Display for EventPoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EventPoint::LinkAdded => "link-added",
            EventPoint::LinkRemoved => "link-removed",
            EventPoint::LinkDown => "link-down",
            EventPoint::LinkUp => "link-up",
            EventPoint::AddressLost => "address-lost",
        })
    }
}

impl core::fmt::Display for HookPoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(context::point_name(*self))
    }
}

/// A capability error is a hook failure unless the hook handles it.
impl From<Error> for HookError {
    fn from(e: Error) -> Self {
        HookError::Failed(match e {
            Error::Denied(m) => format!("denied: {m}"),
            Error::Invalid(m) => format!("invalid: {m}"),
            Error::NotFound(m) => format!("not found: {m}"),
            Error::Failed(m) => format!("failed: {m}"),
        })
    }
}

/// Export `$hook` (a type implementing [`Hook`]) as the component's entry point.
#[macro_export]
macro_rules! export_hook {
    ($hook:ty) => {
        const _: () = {
            struct __NethookExport;

            impl $crate::bindings::exports::nethook::hooks::guest::Guest for __NethookExport {
                fn run(
                    ctx: $crate::bindings::nethook::hooks::types::Context,
                ) -> ::core::result::Result<(), $crate::HookError> {
                    <$hook as $crate::Hook>::run($crate::Context::from(ctx))
                }
            }

    $crate::bindings::__export_hook_world!(__NethookExport with_types_in $crate::bindings);
        };
    };
}

/// Export `$hook` (a type implementing [`EventHook`]) as the component's
/// entry point for the event points (world `event-hook`).
#[macro_export]
macro_rules! export_event_hook {
    ($hook:ty) => {
        const _: () = {
            struct __NethookEventExport;

            impl $crate::event_bindings::exports::nethook::hooks::event_guest::Guest
                for __NethookEventExport
            {
                fn on_event(
                    ctx: $crate::EventContext,
                ) -> ::core::result::Result<(), $crate::HookError> {
                    <$hook as $crate::EventHook>::on_event(ctx)
                }
            }

    $crate::event_bindings::__export_event_hook_world!(__NethookEventExport with_types_in $crate::event_bindings);
        };
    };
}
