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

/// The component must export our `guest` interface, built against a
/// compatible version of our package.
pub fn check_world(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let ours = semver::Version::parse(PACKAGE_VERSION).expect("our version parses");

    for name in exports.iter().chain(&imports) {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let found = rest
            .split_once('@')
            .map(|(_, v)| v)
            .unwrap_or("(unversioned)");
        let compatible = semver::Version::parse(found).is_ok_and(|v| {
            v.major == ours.major && (ours.major != 0 || v.minor == ours.minor) && v <= ours
        });
        if !compatible {
            return Err(format!(
                "was built against {PACKAGE}@{found} ({name}), but this nethook provides {PACKAGE}@{PACKAGE_VERSION}; rebuild the hook with a matching nethook-sdk"
            ));
        }
    }
    let want = format!("{PACKAGE}/guest@{PACKAGE_VERSION}");
    let is_hook = exports.iter().any(|e| {
        e.strip_prefix(PACKAGE)
            .is_some_and(|r| r.starts_with("/guest@"))
    });
    if !is_hook {
        return Err(format!(
            "is not a nethook hook: it exports [{}] but a hook exports {want} (world {PACKAGE}/hook@{PACKAGE_VERSION})",
            exports.join(", ")
        ));
    }
    Ok(())
}
