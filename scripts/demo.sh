#!/usr/bin/env bash
# The README demo command: builds nethook and the inventory guest, then runs
# all five hook points on a throwaway network namespace and state directory
# with the embedded default profile, the inventory hook at vpp-running.
# Run as root.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/setup.sh demo
scripts/build-guests.sh
exec target/debug/nethook demo --config examples/demo.toml "$@"
