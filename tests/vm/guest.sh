#!/bin/bash
# Runs inside a VM node (started by the image's nethook-vm.service from the
# test's 9p share, /mnt/nethook). Waits for the node's own network, then runs
# each lifecycle listed in the share's `scenarios` with the stand-in
# dataplane, and powers the node off. Everything it says goes to the host on
# the virtio-serial port nethook.ctl; lines for the test start with "NHVM ".
# Each line of `scenarios`: LABEL HOOKS END HOLD REPEAT
#   HOOKS  nethook: every CALICOVPP_HOOK_<POINT> calls nethook, as the README
#          says; none: no hook at all
#   END    stop | kill | fail (see tests/vm/standin)
#   REPEAT lifecycles in a row (a crash loop); measured at each point only
#          when 1, else once at the end
set -u
share=/mnt/nethook
exec >/dev/virtio-ports/nethook.ctl 2>&1
say() { echo "NHVM $*"; }
# nethook and the suite's test binary (the stand-in dataplane) run from the
# node's own disk, not paged in over 9p.
bin=/usr/local/lib/nethook-vm
mkdir -p $bin
if ! cp "$share"/bin/* $bin/; then
    say failed "cannot copy the binaries into the node"
    systemctl poweroff; exit 1
fi
export PATH=$bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export NETHOOK_VM_UPLINK=ens3
export NETHOOK_VM_STANDIN=$bin/vm
uplink=$NETHOOK_VM_UPLINK

kind=networkd
systemctl -q is-enabled NetworkManager.service 2>/dev/null && kind=nm
# The node as it booted: an address from DHCP, the gateway, a name.
addr=
for _ in $(seq 180); do
    addr=$(ip -4 -o addr show dev "$uplink" scope global | awk '{print $4}' | cut -d/ -f1 | head -n 1)
    [ -n "$addr" ] && ping -c1 -W1 10.97.0.1 >/dev/null 2>&1 && timeout 2 getent hosts gw.nethook.test >/dev/null && break
    addr=
    sleep 0.5
done
if [ -z "$addr" ]; then
    say failed "the node's own network never came up on $uplink"
    ip addr; ip route; cat /etc/resolv.conf; journalctl -b --no-pager | tail -n 80
    systemctl poweroff; exit 1
fi
"$share/measure.sh" boot boot
say ready kind=$kind address=$addr

mkdir -p /etc/nethook
# nethook on the node itself (not in a container): the node's root is /.
printf 'host_root = "/"\n' >/etc/nethook/nethook.toml
export CALICOVPP_INTERFACES='{"uplinkInterfaces":[{"interfaceName":"ens3"}]}'
points="BEFORE_IF_READ BEFORE_VPP_RUN VPP_RUNNING VPP_DONE_OK VPP_ERRORED"
while read -r label hooks end hold repeat; do
    [ -z "$label" ] && continue
    for p in $points; do
        if [ "$hooks" = nethook ]; then
            export "CALICOVPP_HOOK_$p=exec nethook hook \"\$0\" \"\$1\""
        else
            unset "CALICOVPP_HOOK_$p"
        fi
    done
    measure=(--measure "$share/measure.sh")
    [ "$repeat" -gt 1 ] && measure=()
    say scenario "$label" begin
    for i in $(seq "$repeat"); do
        "$NETHOOK_VM_STANDIN" standin run --uplink "$uplink" --label "$label" --end "$end" \
            --hold "$hold" "${measure[@]}" || say failed "$label: the stand-in dataplane failed (run $i)"
    done
    "$share/measure.sh" "$label" after
    say scenario "$label" end
done <"$share/scenarios"
journalctl -b --no-pager >"$share/out/journal.txt" 2>&1
say done
sync
systemctl poweroff
