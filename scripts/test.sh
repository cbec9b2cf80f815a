#!/usr/bin/env bash
# The README test command: installs what the suites need, builds every guest
# component from source, checks formatting and lints, and runs every test.
# Run as root (network namespaces, the toolchain chroot).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=wasm-toolchain.sh
source scripts/wasm-toolchain.sh

# ip (netns, veth) and sysctl for the suites' namespaces; the registry that
# tests/registry.rs pushes to and pulls from.
apt_install_host iproute2 procps docker-registry

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
