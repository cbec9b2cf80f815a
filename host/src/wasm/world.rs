//! Is this file a hook? Checks made before anything of it runs.

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::bindings::{PACKAGE, PACKAGE_VERSION};

const MAGIC: &[u8; 4] = b"\0asm";
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_LAYER: [u8; 2] = [1, 0];

/// Tell a component from a core module or some other file, so that each
/// gets an error a hook author can act on.
pub fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err("not a WebAssembly file (no \\0asm header)".into());
    }
    if bytes[4..8] == CORE_VERSION {
        return Err(
            "is a core WebAssembly module, not a component; wrap it with `nethook componentize`"
                .into(),
        );
    }
    if bytes[6..8] != COMPONENT_LAYER {
        return Err(format!(
            "unsupported WebAssembly encoding (version bytes {:02x?})",
            &bytes[4..8]
        ));
    }
    Ok(())
}

/// What a component is, for us.
pub struct World {
    /// Exports `guest`: a hook for the dataplane's points.
    pub hook: bool,
    /// Exports `event-guest`: a hook for the event points.
    pub event_hook: bool,
    /// The oldest version of our package among its imports and exports.
    pub version: String,
}

/// The component must export our `guest` or `event-guest` interface (or
/// both), built against a compatible version of our package.
pub fn check_world(engine: &Engine, component: &Component) -> Result<World, String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let ours = semver::Version::parse(PACKAGE_VERSION).expect("our version parses");

    let mut oldest: Option<semver::Version> = None;
    for name in exports.iter().chain(&imports) {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let found = rest
            .split_once('@')
            .map(|(_, v)| v)
            .unwrap_or("(unversioned)");
        let parsed = semver::Version::parse(found).ok().filter(|v| {
            v.major == ours.major && (ours.major != 0 || v.minor == ours.minor) && *v <= ours
        });
        let Some(v) = parsed else {
            return Err(format!(
                "was built against {PACKAGE}@{found} ({name}), but this nethook provides {PACKAGE}@{PACKAGE_VERSION}; rebuild the hook with a matching nethook-sdk"
            ));
        };
        if oldest.as_ref().is_none_or(|o| v < *o) {
            oldest = Some(v);
        }
    }
    let exports_iface = |iface: &str| {
        exports.iter().any(|e| {
            e.strip_prefix(PACKAGE)
                .is_some_and(|r| r.starts_with(&format!("/{iface}@")))
        })
    };
    let (hook, event_hook) = (exports_iface("guest"), exports_iface("event-guest"));
    if !hook && !event_hook {
        return Err(format!(
            "is not a nethook hook: it exports [{}] but a hook exports {PACKAGE}/guest@{PACKAGE_VERSION} (world {PACKAGE}/hook@{PACKAGE_VERSION}) or {PACKAGE}/event-guest@{PACKAGE_VERSION} (world {PACKAGE}/event-hook@{PACKAGE_VERSION})",
            exports.join(", ")
        ));
    }
    Ok(World {
        hook,
        event_hook,
        version: oldest.map_or_else(|| PACKAGE_VERSION.to_string(), |v| v.to_string()),
    })
}
