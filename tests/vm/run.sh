#!/usr/bin/env bash
# The VM suite alone: builds (once) the VM images, then boots both VM node
# kinds side by side and runs the dataplane lifecycles in them
# (tests/vm.rs). Root.
# Logs, measurements and the parity tables: target/tmp/vm/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
NETHOOK_VM_IMAGES=$(tests/vm/build-images.sh | tail -n 1)
export NETHOOK_VM_IMAGES
# The NetworkManager node runs the shipped OpenShift hook too.
[ -e "${NETHOOK_GUEST_DIR:-target/guests}/openshift.wasm" ] || scripts/build-guests.sh
cargo test -p nethook --locked --test vm -- "$@"
tests/nodes/assert-clean.sh
