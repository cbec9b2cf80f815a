#!/bin/bash
# Runs inside a VM node (started by the image's nethook-vm.service from the
# test's 9p share, /mnt/nethook). Waits for the node's own network, then runs
# each lifecycle listed in the share's `scenarios` with the stand-in
# dataplane, and powers the node off. Everything it says goes to the host on
# the virtio-serial port nethook.ctl; lines for the test start with "NHVM ".
# Each line of `scenarios`: LABEL HOOKS END HOLD REPEAT AFTER
#   HOOKS  nethook: every CALICOVPP_HOOK_<POINT> calls nethook, as the README
#          says; none: no hook at all; openshift: as nethook, with the
#          shipped OpenShift hook's config (guest-hooks/openshift);
#          restarts: as nethook, the built-in module as it was before it
#          kept the lease (restart_network = "always", keep_lease = false)
#   END    stop | kill | fail | kill-rename (see tests/vm/standin)
#   HOLD   seconds the dataplane runs
#   REPEAT lifecycles in a row (a crash loop); measured at each point only
#          when 1, else once at the end
#   AFTER  seconds the node is watched after the last stop, then measured
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
printf 'host_root = "/"\n[builtin]\nrestart_network = "always"\nkeep_lease = false\n' \
    >/etc/nethook/restarts.toml
# The shipped OpenShift hook's config (guest-hooks/openshift/nethook.toml)
# for this node: its uplink's connection is "uplink".
if [ -e "$bin/openshift.wasm" ]; then
    cat >/etc/nethook/openshift.toml <<EOC
host_root = "/"
[points.vpp-running]
handler = "wasm"
hook = "openshift"
[hooks.openshift]
component = "$bin/openshift.wasm"
[hooks.openshift.config]
wait_ms = 30000
connection = "uplink"
[hooks.openshift.grants]
units = ["NetworkManager.service"]
connections = ["uplink"]
EOC
fi
export CALICOVPP_INTERFACES='{"uplinkInterfaces":[{"interfaceName":"ens3"}]}'
points="BEFORE_IF_READ BEFORE_VPP_RUN VPP_RUNNING VPP_DONE_OK VPP_ERRORED"
while read -r label hooks end hold repeat after; do
    [ -z "$label" ] && continue
    for p in $points; do
        if [ "$hooks" = none ]; then
            unset "CALICOVPP_HOOK_$p"
        else
            export "CALICOVPP_HOOK_$p=exec nethook hook \"\$0\" \"\$1\""
        fi
    done
    case $hooks in
        openshift | restarts) export NETHOOK_CONFIG=/etc/nethook/$hooks.toml ;;
        *) unset NETHOOK_CONFIG ;;
    esac
    measure=(--measure "$share/measure.sh")
    [ "$repeat" -gt 1 ] && measure=()
    # The OpenShift hook changes the admin's profile for good (it has no
    # undo); the test bed puts it back after the scenario.
    timeout_was=
    [ "$hooks" = openshift ] && timeout_was=$(nmcli -g ipv4.dhcp-timeout connection show uplink)
    say scenario "$label" begin
    "$share/measure.sh" "$label" start
    for i in $(seq "$repeat"); do
        "$NETHOOK_VM_STANDIN" standin run --uplink "$uplink" --label "$label" --end "$end" \
            --hold "$hold" "${measure[@]}" || say failed "$label: the stand-in dataplane failed (run $i)"
    done
    if [ "${after:-0}" -gt 0 ]; then
        say "$label" watch "$after"
        sleep "$after"
    fi
    "$share/measure.sh" "$label" after
    [ -n "$timeout_was" ] && nmcli connection modify uplink ipv4.dhcp-timeout "$timeout_was"
    say scenario "$label" end
done <"$share/scenarios"
journalctl -b --no-pager >"$share/out/journal.txt" 2>&1
say done
sync
systemctl poweroff
