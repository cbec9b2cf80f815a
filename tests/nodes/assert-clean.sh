#!/usr/bin/env bash
# The suite's last step: nothing of the test bed may outlive it: no
# systemd-nspawn process, no mount of a node root, no network namespace or
# veth a test created, no qemu, test dnsmasq or VM overlay.
set -euo pipefail

nodes=${NETHOOK_NODE_ROOTS:-${NETHOOK_CACHE:-$HOME/.cache/nethook}/nodes}
problems=()
pgrep -x systemd-nspawn >/dev/null && problems+=("systemd-nspawn still running: $(pgrep -x systemd-nspawn | tr '\n' ' ')")
grep -F "$nodes" /proc/self/mountinfo >/dev/null && problems+=("node roots still mounted: $(grep -cF "$nodes" /proc/self/mountinfo)")
ip netns list | grep -q '^nhtest-' && problems+=("test namespaces left: $(ip netns list | grep '^nhtest-' | tr '\n' ' ')")
ip -o link show | grep -Eq ': nh(nm|ne)[0-9]+' && problems+=("node veths left")
# VM nodes (tests/vm.rs): qemu, the test network's dnsmasq, the overlays.
pgrep -f 'qemu-system-x86_64.*nethook' >/dev/null && problems+=("qemu still running: $(pgrep -f 'qemu-system-x86_64.*nethook' | tr '\n' ' ')")
pgrep -f 'dnsmasq.*nhvtap' >/dev/null && problems+=("test dnsmasq still running: $(pgrep -f 'dnsmasq.*nhvtap' | tr '\n' ' ')")
repo=$(cd "$(dirname "$0")/../.." && pwd)
overlays=$(find "$repo/target/tmp/vm" -name '*.qcow2' 2>/dev/null | wc -l)
[ "$overlays" -gt 0 ] && problems+=("VM overlays left: $overlays under target/tmp/vm")
if [ ${#problems[@]} -gt 0 ]; then
    printf 'test bed not clean: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "test bed clean: no nspawn process, node mount, test namespace, qemu, dnsmasq or overlay left"
