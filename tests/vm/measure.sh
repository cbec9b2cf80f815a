#!/bin/bash
# measure.sh LABEL POINT: what the node has at this point of a lifecycle,
# into out/LABEL/POINT.env in the share (KEY=VALUE lines). At the points
# where the network service has something to redo, it is given time first:
# up to SETTLE seconds until it is done with the uplink, the gateway answers
# and a name resolves (settle_ms says how long it took, settled=no that it
# never did).
set -u
label=$1 point=$2
share=/mnt/nethook
uplink=$NETHOOK_VM_UPLINK
case $point in
    start | before-if-read | before-vpp-run) settle=0 ;;
    vpp-running) settle=20 ;;
    *) settle=45 ;;
esac
ok() { "$@" >/dev/null 2>&1 && echo yes || echo no; }
gw() { ok ping -c1 -W1 10.97.0.1; }
dns() { ok timeout 2 getent hosts gw.nethook.test; }
# The network service is still working on the uplink (networkd:
# configuring or pending; NetworkManager: preparing .. secondaries,
# deactivating): what it ends with is the outcome, not what it has now.
busy() {
    if systemctl -q is-enabled NetworkManager.service 2>/dev/null; then
        local s
        s=$(nmcli -g GENERAL.STATE device show "$uplink" 2>/dev/null | cut -d' ' -f1)
        [ -n "$s" ] && { [ "$s" -ge 40 ] && [ "$s" -le 90 ] || [ "$s" = 110 ]; }
    else
        networkctl list "$uplink" --no-legend 2>/dev/null | grep -Eq ' (configuring|pending)'
    fi
}
start=$(date +%s%N)
settled=no
while :; do
    ! busy && [ "$(gw)" = yes ] && [ "$(dns)" = yes ] && { settled=yes; break; }
    [ $(( ($(date +%s%N) - start) / 1000000000 )) -ge $settle ] && break
    sleep 0.2
done
settle_ms=$(( ($(date +%s%N) - start) / 1000000 ))
udevadm settle -t 5 >/dev/null 2>&1
dev=absent
if [ -e "/sys/class/net/$uplink/tun_flags" ]; then dev=tap
elif [ -e "/sys/class/net/$uplink/device" ]; then dev=nic
fi
connection=
if systemctl -q is-enabled NetworkManager.service 2>/dev/null; then
    managed=$(nmcli -g GENERAL.STATE device show "$uplink" 2>/dev/null | tr ' ' '_')
    connection=$(nmcli -g GENERAL.CONNECTION device show "$uplink" 2>/dev/null)
    nm_dns=$(NetworkManager --print-config 2>/dev/null | awk -F= '/^dns=/{print $2}')
    unit=NetworkManager.service
else
    unit=systemd-networkd.service
    managed=$(networkctl list "$uplink" --no-legend 2>/dev/null | awk '{print $4 "/" $5}')
    nm_dns=
fi
out=$share/out/$label
mkdir -p "$out"
{
    echo "point=$point"
    echo "settled=$settled"
    echo "settle_ms=$settle_ms"
    echo "gw=$(gw)"
    echo "dns=$(dns)"
    echo "dev=$dev"
    echo "names=$(udevadm info -q property -p "/sys/class/net/$uplink" 2>/dev/null | grep '^ID_NET_NAME_' | sort | tr '\n' ' ')"
    echo "managed=$managed"
    echo "addr4=$(ip -4 -o addr show dev "$uplink" scope global 2>/dev/null | awk '{print $4}' | tr '\n' ' ')"
    echo "addr6=$(ip -6 -o addr show dev "$uplink" scope global 2>/dev/null | awk '{print $4}' | tr '\n' ' ')"
    echo "dynamic4=$(ip -4 -o addr show dev "$uplink" scope global dynamic 2>/dev/null | wc -l)"
    echo "default4=$(ip -4 route show default 2>/dev/null | head -n 1)"
    echo "resolv=$(stat -L -c '%i %Y' /etc/resolv.conf) $(sha256sum </etc/resolv.conf | cut -c1-16)"
    echo "nm_dns=$nm_dns"
    echo "service=$(systemctl show -p ActiveState --value "$unit")/$(systemctl show -p Result --value "$unit")"
    # Changes when the service is restarted.
    echo "invocation=$(systemctl show -p InvocationID --value "$unit")"
    # systemd's own restarts after the service died (Restart=), counted
    # apart: a restart nobody asked for is not one of nethook's.
    echo "nrestarts=$(systemctl show -p NRestarts --value "$unit")"
    echo "connection=$connection"
    echo "links=$(ip -br link 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')"
    # nethook's files and records (its two empty lock files are not records).
    echo "leftovers=$(ls -d /etc/udev/rules.d/99-vpp-restore-id_net_name.rules \
        /etc/NetworkManager/conf.d/99-nethook-dns-none.conf /var/lib/nethook/state.json \
        /run/NetworkManager/system-connections/nethook-*.nmconnection /run/NetworkManager/internal-*-"$uplink".lease \
        /var/lib/nethook/journal/*.jsonl 2>/dev/null | tr '\n' ' ')"
} >"$out/$point.env"
echo "NHVM measured $label $point settled=$settled settle_ms=$settle_ms dev=$dev"
