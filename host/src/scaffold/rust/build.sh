#!/usr/bin/env bash
# Builds {{name}}.wasm, the component nethook loads: the crate for
# wasm32-wasip1 (rustup target add wasm32-wasip1), wrapped by
# `nethook componentize`. CARGO overrides the cargo command.
set -euo pipefail
cd "$(dirname "$0")"
"${CARGO:-cargo}" build --release --target wasm32-wasip1
"${NETHOOK:-nethook}" componentize target/wasm32-wasip1/release/{{crate}}.wasm --output {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
