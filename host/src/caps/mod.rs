//! The capability layer: the one place through which hooks reach the node.
//! Each module maps 1:1 to a WIT interface; the built-in module and WASM
//! hooks (through `wasm::glue`) call the same methods.

pub mod log;
pub mod netlink;
pub mod state;

use crate::point::HookPoint;

/// Why a capability call failed; mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// Who is calling: every effect and log line is attributed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub hook: String,
    pub point: HookPoint,
}

/// The capabilities one hook run has, bound to its caller.
pub struct Host {
    pub caller: Caller,
    pub log: log::Log,
    pub state: state::State,
    pub netlink: netlink::Netlink,
}

impl Host {
    pub fn new(caller: Caller, state_dir: &std::path::Path) -> Host {
        Host {
            log: log::Log::new(caller.clone()),
            state: state::State::new(caller.hook.clone(), state_dir),
            netlink: netlink::Netlink::new(),
            caller,
        }
    }
}
