//! nethook: runs a node dataplane's network hooks — the built-in
//! NetworkManager/udev module, sandboxed WASM components, or legacy
//! scripts — per hook point, chosen by a TOML config.

pub mod bindings;
pub mod builtin;
pub mod caps;
pub mod check;
pub mod componentize;
pub mod config;
pub mod dataplane;
pub mod demo;
pub mod durable;
pub mod error;
pub mod hook;
pub mod metrics;
pub mod names;
pub mod oci;
pub mod options;
pub mod point;
pub mod proc;
pub mod reports;
pub mod run;
pub mod runs;
pub mod scaffold;
pub mod script;
pub mod select;
pub mod sources;
pub mod spec;
pub mod status;
pub mod testbed;
pub mod text;
pub mod trust;
pub mod txn;
pub mod units;
pub mod verify;
pub mod wasm;
pub mod watch;
pub mod witdoc;

pub use error::{Error, Result};
pub use point::{DataplanePoint, EventPoint, HookPoint};
