#!/usr/bin/env bash
# Builds, once, the disk images of the VM nodes (Debian trixie with its own
# kernel, real udevd and a virtio-net uplink), cached under $NETHOOK_CACHE/vm:
#   nm-vm        NetworkManager owning the uplink ens3 (DHCPv4, DHCPv6/RA)
#   networkd-vm  systemd-networkd + systemd-resolved owning ens3 (same)
# For each kind: <kind>/root (the debootstrap tree), <kind>.img (ext4 made
# from it with mkfs.ext4 -d, no loop mount), <kind>.vmlinuz and
# <kind>.initrd (the node's own linux-image-amd64). Tests boot a qcow2
# overlay of the image, so the cached image never changes.
# Prints the cache directory on its last line.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/wasm-toolchain.sh
source "$repo/scripts/wasm-toolchain.sh"

VMS=$NETHOOK_CACHE/vm
BASE_PKGS="systemd,systemd-sysv,dbus,udev,iproute2,iputils-ping,kmod,linux-image-amd64"
# Bump when the recipe below changes, so cached images are rebuilt.
RECIPE=2

# qemu, qemu-img for the per-test overlays, dnsmasq (the test network's DHCP
# and DNS server), mkfs.ext4, strip and ping: scripts/requirements.txt.
require demo vm

build_image() {
    local name=$1 pkgs=$2 dir=$VMS/$1
    local root=$dir/root
    [ "$(cat "$dir/.nethook-vm" 2>/dev/null)" = "$RECIPE $pkgs" ] && return 0
    log "building VM image $name in $dir (first run only)"
    rm -rf "$dir"
    mkdir -p "$dir"
    debootstrap --variant=minbase --include="$pkgs" trixie "$root" http://deb.debian.org/debian \
        >"$dir/debootstrap.log" 2>&1 || { tail -n 30 "$dir/debootstrap.log" >&2; return 1; }
    echo "$name" >"$root/etc/hostname"
    : >"$root/etc/machine-id"
    # Nothing on the console or the network that a test does not ask for.
    chroot "$root" systemctl mask getty@.service serial-getty@.service console-getty.service \
        systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
        fstrim.timer >/dev/null 2>&1 || true
    # The test driver: mounts the test's share (9p) and runs its guest.sh;
    # with no share (a plain boot) it does nothing.
    cat >"$root/usr/local/sbin/nethook-vm-start" <<'EOS'
#!/bin/bash
mkdir -p /mnt/nethook
# The mount can race the virtio device ("9pnet_virtio: no channels available
# for device nethook", about one boot in six under TCG): wait for udev, then
# try again for up to 30 s before calling it "no share".
udevadm settle --timeout=30 || true
for try in $(seq 60); do
    if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 nethook /mnt/nethook 2>/dev/null; then
        [ "$try" -gt 1 ] && echo "nethook-vm: share mounted at try $try" >/dev/ttyS0
        exec /bin/bash /mnt/nethook/guest.sh
    fi
    sleep 0.5
done
echo "nethook-vm: no share" >/dev/ttyS0
EOS
    chmod 755 "$root/usr/local/sbin/nethook-vm-start"
    cat >"$root/etc/systemd/system/nethook-vm.service" <<'EOU'
[Unit]
Description=nethook VM test driver
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nethook-vm-start
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=default.target
EOU
    chroot "$root" systemctl enable nethook-vm.service >/dev/null 2>&1
    "configure_$name" "$root"
    cp "$root"/boot/vmlinuz-* "$dir/vmlinuz"
    cp "$root"/boot/initrd.img-* "$dir/initrd"
    # Room for the journal, the leases and what the tests write.
    local size=$(($(du -sm "$root" | cut -f1) + 512))
    mkfs.ext4 -q -F -L nethook-root -d "$root" "$dir/root.img" "${size}M"
    printf '%s' "$RECIPE $pkgs" >"$dir/.nethook-vm"
}

configure_nm-vm() {
    local root=$1
    mkdir -p "$root/etc/NetworkManager/system-connections"
    cat >"$root/etc/NetworkManager/system-connections/uplink.nmconnection" <<'EOC'
[connection]
id=uplink
type=ethernet
interface-name=ens3

[ipv4]
method=auto

[ipv6]
method=auto
EOC
    chmod 600 "$root/etc/NetworkManager/system-connections/uplink.nmconnection"
}

configure_networkd-vm() {
    local root=$1
    mkdir -p "$root/etc/systemd/network"
    printf '[Match]\nName=ens3\n\n[Network]\nDHCP=yes\n' >"$root/etc/systemd/network/10-uplink.network"
    chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
    ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
}

build_image nm-vm "$BASE_PKGS,network-manager"
build_image networkd-vm "$BASE_PKGS,systemd-resolved"
echo "$VMS"
