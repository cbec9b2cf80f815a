#!/usr/bin/env bash
# Builds, once, the root filesystems of the test bed's nodes (Debian trixie,
# cached under $NETHOOK_CACHE/nodes) and installs what booting them needs:
#   nm-node        systemd, dbus, NetworkManager owning the uplink ens5
#   networkd-node  systemd, dbus, systemd-networkd owning the uplink ens5
# Nodes boot with `systemd-nspawn --volatile=overlay`, so the cached roots
# are never changed by a test.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/wasm-toolchain.sh
source "$repo/scripts/wasm-toolchain.sh"

NODES=$NETHOOK_CACHE/nodes
BASE_PKGS="systemd,systemd-sysv,dbus,udev,iproute2"
# Bump when the recipe below changes, so cached roots are rebuilt.
RECIPE=1

require demo nodes

build_root() {
    local name=$1 pkgs=$2 root=$NODES/$1
    [ "$(cat "$root/.nethook-node" 2>/dev/null)" = "$RECIPE $pkgs" ] && return 0
    log "building node root $name in $root (first run only)"
    rm -rf "$root"
    mkdir -p "$NODES"
    debootstrap --variant=minbase --include="$pkgs" trixie "$root" http://deb.debian.org/debian \
        >"$NODES/$name.log" 2>&1 || { tail -n 30 "$NODES/$name.log" >&2; return 1; }
    echo "$name" >"$root/etc/hostname"
    : >"$root/etc/machine-id"
    # Nothing on the console or the network that a test does not ask for.
    chroot "$root" systemctl mask getty@.service console-getty.service systemd-timesyncd.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
    "configure_$name" "$root"
    printf '%s' "$RECIPE $pkgs" >"$root/.nethook-node"
}

configure_nm-node() {
    local root=$1
    mkdir -p "$root/etc/NetworkManager/system-connections"
    cat >"$root/etc/NetworkManager/system-connections/ens5.nmconnection" <<'EOC'
[connection]
id=ens5
type=ethernet
interface-name=ens5

[ipv4]
method=manual
address1=10.99.0.2/24

[ipv6]
method=ignore
EOC
    chmod 600 "$root/etc/NetworkManager/system-connections/ens5.nmconnection"
}

configure_networkd-node() {
    local root=$1
    mkdir -p "$root/etc/systemd/network"
    printf '[Match]\nName=ens5\n\n[Network]\nAddress=10.98.0.2/24\n' >"$root/etc/systemd/network/10-ens5.network"
    chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
}

build_root nm-node "$BASE_PKGS,network-manager"
build_root networkd-node "$BASE_PKGS"
echo "$NODES"
