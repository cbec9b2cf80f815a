#!/usr/bin/env bash
# Builds every guest crate (guest-hooks/*, tests/guests/*) into a WebAssembly
# component under target/guests/NAME.wasm; the core modules they were made
# from stay under target/guests/core/. Components are always built from
# source: no prebuilt .wasm is committed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=wasm-toolchain.sh
source "$repo/scripts/wasm-toolchain.sh"

out=${NETHOOK_GUEST_DIR:-$repo/target/guests}
build_dir=$repo/target/guest-build
mkdir -p "$out/core" "$build_dir"

# In CI the committed lock file must be complete; locally cargo may update it
# (e.g. after a guest crate was added).
locked=()
[ -n "${CI:-}" ] && locked=(--locked)

echo "[build-guests] building guest crates for wasm32-wasip1" >&2
guest_cargo "$repo/guest-hooks" build --release --target wasm32-wasip1 \
    --target-dir "$build_dir" --workspace "${locked[@]}"

# The host binary wraps each core module into a component (wit-component
# plus the WASI preview1 adapter matching our wasmtime).
cargo build --quiet -p nethook --manifest-path "$repo/Cargo.toml"
nethook=${CARGO_TARGET_DIR:-$repo/target}/debug/nethook

for core in "$build_dir"/wasm32-wasip1/release/*.wasm; do
    name=$(basename "$core" .wasm)
    name=${name//_/-}
    cp "$core" "$out/core/$name.wasm"
    "$nethook" componentize "$core" --output "$out/$name.wasm"
    echo "[build-guests] built $out/$name.wasm ($(stat -c %s "$out/$name.wasm") bytes)" >&2
done

# Hooks in Python (guest-hooks/*-py: app.py) and JavaScript
# (guest-hooks/*-js: hook.js), from their sources with the pinned tools.
hook_tools
for dir in "$repo"/guest-hooks/*-py; do
    name=$(basename "$dir")
    # nethook_shim.py is the one `nethook new` puts in a Python project.
    (cd "$dir" && "$COMPONENTIZE_PY" -d "$repo/wit" -w hook componentize app \
        -p . -p "$repo/host/src/scaffold/python" -o "$out/$name.wasm" >/dev/null)
    echo "[build-guests] built $out/$name.wasm ($(stat -c %s "$out/$name.wasm") bytes)" >&2
done
for dir in "$repo"/guest-hooks/*-js; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    # Beside the scaffold's nethook-shim.js (the one `nethook new` puts in a
    # JavaScript project): componentize-js bundles modules of one directory.
    js_build=$build_dir/js/$name
    rm -rf "$js_build" && mkdir -p "$js_build"
    cp "$dir"/*.js "$repo/host/src/scaffold/js/nethook-shim.js" "$js_build/"
    (cd "$js_build" && "$COMPONENTIZE_JS" --wit "$repo/wit" -n hook -o "$out/$name.wasm" hook.js -d http -d fetch-event >/dev/null)
    echo "[build-guests] built $out/$name.wasm ($(stat -c %s "$out/$name.wasm") bytes)" >&2
done
