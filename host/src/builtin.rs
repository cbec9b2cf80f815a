//! The built-in NetworkManager/udev module.
//!
//! Its real behaviour (DNS fix, udev name restore, network restart) arrives
//! with the capability layer's write operations; this version only reports
//! that it ran, through the same capability layer WASM hooks use.

use crate::bindings::nethook::hooks::log::Level;
use crate::caps::Host;
use crate::error::Result;

/// What `check` and `demo` say the module does at a point.
pub const DESCRIPTION: &str =
    "built-in NetworkManager/udev module (this version only logs that it ran)";

pub fn run(host: &mut Host, uplinks: &[String]) -> Result<()> {
    host.log(
        Level::Info,
        "built-in module ran; it makes no changes in this version",
        &[("uplinks".to_string(), uplinks.join(","))],
    );
    Ok(())
}
