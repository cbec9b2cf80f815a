"""The OpenShift hook in Python: guest-hooks/openshift (Rust) line for
line, built with componentize-py. At vpp-running it restarts
NetworkManager, waits until it is active again, and makes DHCP on the
uplink's connection never time out (ipv4.dhcp-timeout=infinity), so the
node keeps its lease while the dataplane holds the NIC.

nethook_shim is the module `nethook new --lang python` writes into a
project (host/src/scaffold/python/nethook_shim.py); scripts/build-guests.sh
puts that file on the build's Python path.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, network_manager, systemd
from wit_world.imports.types import Context, HookError_InvalidConfig, HookPoint

from nethook_shim import hook

NETWORK_MANAGER = "NetworkManager.service"


class Guest(exports.Guest):
    @hook
    def run(self, ctx: Context) -> None:
        if ctx.point != HookPoint.VPP_RUNNING:
            return
        config = dict(ctx.config)
        connection = config.get("connection")
        if connection is None:
            if not ctx.uplinks:
                raise Err(HookError_InvalidConfig("no uplink and no `connection` configured"))
            connection = ctx.uplinks[0].name
        try:
            wait_ms = int(config.get("wait_ms", "30000"))
        except ValueError:
            raise Err(HookError_InvalidConfig("wait_ms must be a number of milliseconds"))

        systemd.restart(NETWORK_MANAGER)
        systemd.wait_active(NETWORK_MANAGER, wait_ms)
        network_manager.connection_modify(connection, [("ipv4.dhcp-timeout", "infinity")])
        log.log(
            log.Level.INFO,
            "DHCP on the uplink never times out",
            [("connection", connection)],
        )
