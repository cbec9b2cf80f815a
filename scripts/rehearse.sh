#!/usr/bin/env bash
# Rehearse CI on a fresh machine: a clean clone of HEAD, empty caches
# (NETHOOK_CACHE: the toolchain chroot, node roots, VM images, the
# JavaScript tool; CARGO_HOME: crates), then `CI=true bash .ci/run`, the
# README test command, as CI runs it. Prints the wall time. Root.
#
#   scripts/rehearse.sh [DIR]   work in DIR (default: a new one under /tmp);
#                               it is kept, with the log, for a look after
#
# What it cannot empty: the machine's apt packages and pip/npm installs
# (scripts/setup.sh installs and checks those by command either way) and
# the rustup toolchain itself, which every machine of this kind has.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d /tmp/nethook-rehearsal.XXXXXX)}
mkdir -p "$dir"
git clone -q "$repo" "$dir/clone"
mkdir -p "$dir/cache" "$dir/cargo"
# rustup's toolchains stay where they are; crates come again from crates.io.
cp -r "${CARGO_HOME:-$HOME/.cargo}/bin" "$dir/cargo/bin"
echo "rehearsal in $dir (log: $dir/log)" >&2
started=$(date +%s)
set +e
(
    cd "$dir/clone" &&
        env CI=true NETHOOK_CACHE="$dir/cache" CARGO_HOME="$dir/cargo" \
            RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" bash .ci/run
) >"$dir/log" 2>&1
code=$?
set -e
elapsed=$(($(date +%s) - started))
printf 'rehearsal: exit %d after %dm%02ds (log: %s)\n' "$code" $((elapsed / 60)) $((elapsed % 60)) "$dir/log" >&2
exit "$code"
