#!/usr/bin/env bash
# Regenerates README.md's Performance table: builds the guests and a release
# nethook, then runs the report bench (benches/report.rs), which prints the
# table and writes target/bench-report.md. Run as root (the bench creates a
# network namespace). `--criterion` also runs the per-call criterion bench.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=wasm-toolchain.sh
source scripts/wasm-toolchain.sh
require demo

scripts/build-guests.sh
cargo bench -p nethook --bench report
if [ "${1:-}" = "--criterion" ]; then
    cargo bench -p nethook --bench calls
fi
