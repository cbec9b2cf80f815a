#!/usr/bin/env bash
# Provides a wasm32 Rust toolchain for building guest hooks.
#
# Sourced by build-guests.sh. Defines `guest_cargo ARGS...`, which runs cargo
# able to target wasm32-wasip1:
#   * the host's rustup toolchain when its wasm32-wasip1 target is installed;
#   * otherwise Debian trixie's packaged toolchain in a cached chroot, because
#     rustup cannot download wasm32 targets on our build machines.
# The chroot lives under $NETHOOK_CACHE (default ~/.cache/nethook) and is
# built once; later runs reuse it.
set -euo pipefail

NETHOOK_CACHE=${NETHOOK_CACHE:-$HOME/.cache/nethook}
NETHOOK_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLCHAIN_ROOT=$NETHOOK_CACHE/trixie-toolchain
# udev: the test suite checks generated rules with its `udevadm verify`
# (systemd >= 254; bookworm's udevadm lacks it).
TOOLCHAIN_PKGS="libc6-dev rustc cargo libstd-rust-dev-wasm32 lld ca-certificates udev"

log() { printf '[wasm-toolchain] %s\n' "$*" >&2; }

host_has_wasm_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1
}

# require GROUP...: the commands scripts/requirements.txt lists for these
# groups, installed when missing and checked by command (scripts/setup.sh).
require() {
    "$NETHOOK_SCRIPTS/setup.sh" "$@"
}

# Install $TOOLCHAIN_PKGS in the root and stamp it with the list.
install_in_root() {
    cp /etc/resolv.conf "$TOOLCHAIN_ROOT/etc/resolv.conf"
    chroot "$TOOLCHAIN_ROOT" /bin/sh -c \
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $TOOLCHAIN_PKGS" \
        >"$NETHOOK_CACHE/apt-toolchain.log" 2>&1 ||
        { tail -n 30 "$NETHOOK_CACHE/apt-toolchain.log" >&2; return 1; }
    # apt's ca-certificates may have rewritten the bundle; keep the host's.
    cp /etc/ssl/certs/ca-certificates.crt "$TOOLCHAIN_ROOT/etc/ssl/certs/ca-certificates.crt"
    printf '%s' "$TOOLCHAIN_PKGS" >"$TOOLCHAIN_ROOT/.nethook-ready"
}

build_toolchain_root() {
    # A stamp marks a finished root, so an interrupted build is redone; it
    # lists the packages, so a root from an older list gets the new ones.
    if [ -f "$TOOLCHAIN_ROOT/.nethook-ready" ]; then
        [ "$(cat "$TOOLCHAIN_ROOT/.nethook-ready")" = "$TOOLCHAIN_PKGS" ] && return 0
        log "adding packages to $TOOLCHAIN_ROOT"
        install_in_root
        return 0
    fi
    require demo
    log "building trixie toolchain root in $TOOLCHAIN_ROOT (first run only)"
    rm -rf "$TOOLCHAIN_ROOT"
    mkdir -p "$NETHOOK_CACHE"
    debootstrap --variant=minbase trixie "$TOOLCHAIN_ROOT" http://deb.debian.org/debian >"$NETHOOK_CACHE/debootstrap-toolchain.log" 2>&1 ||
        { tail -n 30 "$NETHOOK_CACHE/debootstrap-toolchain.log" >&2; return 1; }
    cp /etc/ssl/certs/ca-certificates.crt "$TOOLCHAIN_ROOT/etc/ssl/certs/ca-certificates.crt" 2>/dev/null ||
        { mkdir -p "$TOOLCHAIN_ROOT/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$TOOLCHAIN_ROOT/etc/ssl/certs/"; }
    install_in_root
}

# guest_cargo DIR ARGS...: run cargo in DIR (an absolute path inside the repo).
guest_cargo() {
    local dir=$1
    shift
    if host_has_wasm_target; then
        (cd "$dir" && cargo "$@")
        return
    fi
    build_toolchain_root
    local repo
    repo=$(git -C "$dir" rev-parse --show-toplevel 2>/dev/null || (cd "$dir/.." && pwd))
    cp /etc/resolv.conf "$TOOLCHAIN_ROOT/etc/resolv.conf"
    # A private mount namespace: the bind mount of the repo (at the same path,
    # so paths in cargo's output mean the same on both sides) disappears with
    # the command, whatever happens to it.
    local q=()
    for a in "$@"; do q+=("$(printf '%q' "$a")"); done
    unshare --mount --propagation private /bin/sh -c "
        set -e
        mkdir -p '$TOOLCHAIN_ROOT$repo'
        mount --bind '$repo' '$TOOLCHAIN_ROOT$repo'
        mount -t proc proc '$TOOLCHAIN_ROOT/proc'
        exec chroot '$TOOLCHAIN_ROOT' /usr/bin/env \
            PATH=/usr/bin:/bin HOME=/root \
            CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld \
            CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
            /bin/sh -c 'cd \"\$0\" && exec cargo \"\$@\"' '$dir' ${q[*]}
    "
}

# hook_tools: what Python and JavaScript hooks are built with, pinned:
# componentize-py from PyPI, componentize-js from npm (into the cache).
# Exports COMPONENTIZE_PY and COMPONENTIZE_JS, the commands.
hook_tools() {
    local shown
    shown=$(python3 -m pip show componentize-py 2>/dev/null || true)
    if ! grep -qx 'Version: 0.25.1' <<<"$shown"; then
        log "installing componentize-py 0.25.1"
        python3 -m pip install -q --disable-pip-version-check componentize-py==0.25.1
    fi
    # pyenv (when Python comes from it) puts the new command on PATH.
    if command -v pyenv >/dev/null; then pyenv rehash; fi
    COMPONENTIZE_PY=$(command -v componentize-py)
    COMPONENTIZE_JS=$NETHOOK_CACHE/componentize-js/node_modules/.bin/componentize-js
    if [ ! -x "$COMPONENTIZE_JS" ]; then
        log "installing componentize-js 0.23.0"
        mkdir -p "$NETHOOK_CACHE/componentize-js"
        (cd "$NETHOOK_CACHE/componentize-js" &&
            npm install --no-audit --no-fund --silent @bytecodealliance/componentize-js@0.23.0)
    fi
    export COMPONENTIZE_PY COMPONENTIZE_JS
}
