#!/usr/bin/env bash
# The README test command: installs what the suites need, builds every guest
# component from source, checks formatting and lints, and runs every test.
# Run as root (network namespaces, the toolchain chroot).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# A run leaves the repository's files as it found them (checked last).
mkdir -p target
scripts/tree-state.sh save target/tree-state.before
# shellcheck source=wasm-toolchain.sh
source scripts/wasm-toolchain.sh

# Every command the suites call (scripts/requirements.txt), installed when
# missing and then checked by command: a missing one stops here, named.
scripts/setup.sh

scripts/build-guests.sh
# What Python and JavaScript hooks build with (guest-hooks/*-py, *-js and
# tests/vendor.rs): COMPONENTIZE_PY and COMPONENTIZE_JS.
hook_tools
# Real nodes (systemd-nspawn) for tests/nodes.rs; built once, cached.
NETHOOK_NODE_ROOTS=$(tests/nodes/build-roots.sh | tail -n 1)
export NETHOOK_NODE_ROOTS
# VM nodes (qemu, their own kernel and udevd) for tests/vm.rs; cached too.
NETHOOK_VM_IMAGES=$(tests/vm/build-images.sh | tail -n 1)
export NETHOOK_VM_IMAGES
# The trixie root also provides `udevadm verify` to the suites.
build_toolchain_root
export NETHOOK_TRIXIE_ROOT=$TOOLCHAIN_ROOT
cargo fmt --all -- --check
# The guest crates are outside the host workspace.
rustfmt --check --edition 2021 guest-hooks/*/src/*.rs tests/guests/*/src/*.rs
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
tests/nodes/assert-clean.sh
scripts/tree-state.sh compare target/tree-state.before
