//! Turn a core wasm module built with the SDK into a component nethook loads.
//!
//! Guests built for `wasm32-wasip1` import WASI preview 1; the adapter
//! shipped with our wasmtime version maps it onto the preview 2 interfaces
//! nethook provides (with no preopens, environment or sockets).

use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
use wit_component::ComponentEncoder;

pub fn componentize(core: &[u8]) -> Result<Vec<u8>, String> {
    let err = |e: anyhow::Error| format!("{e:#}");
    let mut encoder = ComponentEncoder::default();
    encoder.validate(true).module(core).map_err(err)?;
    if imports_wasi_preview1(core) {
        encoder
            .adapter(
                "wasi_snapshot_preview1",
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
            .map_err(err)?;
    }
    encoder.encode().map_err(err)
}

fn imports_wasi_preview1(core: &[u8]) -> bool {
    // The import section names the module; a byte search is enough to decide
    // whether to offer the adapter (wit-component validates the rest).
    core.windows(b"wasi_snapshot_preview1".len())
        .any(|w| w == b"wasi_snapshot_preview1")
}
