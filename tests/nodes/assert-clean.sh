#!/usr/bin/env bash
# The suite's last step: nothing of the test bed may outlive it: no
# systemd-nspawn process, no mount of a node root, no network namespace or
# veth a test created.
set -euo pipefail

nodes=${NETHOOK_NODE_ROOTS:-${NETHOOK_CACHE:-$HOME/.cache/nethook}/nodes}
problems=()
pgrep -x systemd-nspawn >/dev/null && problems+=("systemd-nspawn still running: $(pgrep -x systemd-nspawn | tr '\n' ' ')")
grep -F "$nodes" /proc/self/mountinfo >/dev/null && problems+=("node roots still mounted: $(grep -cF "$nodes" /proc/self/mountinfo)")
ip netns list | grep -q '^nhtest-' && problems+=("test namespaces left: $(ip netns list | grep '^nhtest-' | tr '\n' ' ')")
ip -o link show | grep -Eq ': nh(nm|ne)[0-9]+' && problems+=("node veths left")
if [ ${#problems[@]} -gt 0 ]; then
    printf 'test bed not clean: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "test bed clean: no nspawn process, node mount or test namespace left"
