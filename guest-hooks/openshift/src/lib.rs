//! OpenShift: after the dataplane takes the uplink, NetworkManager must be
//! restarted and must never give up DHCP on the uplink's connection. At
//! vpp-running, restart NetworkManager, wait (bounded) until it is active
//! instead of a blind `sleep 5`, then set `ipv4.dhcp-timeout infinity`.
//! Replaces the OpenShift root shell script.
//!
//! Config: `connection` (default: the uplink's name, as OpenShift names
//! it), `wait_ms` (default 30000).

use nethook_sdk::{info, network_manager, systemd, Context, Hook, HookError, HookPoint};

const NETWORK_MANAGER: &str = "NetworkManager.service";

struct OpenShift;

impl Hook for OpenShift {
    fn run(ctx: Context) -> Result<(), HookError> {
        if ctx.point != HookPoint::VppRunning {
            return Ok(());
        }
        let connection = match ctx.config("connection") {
            Some(c) => c.to_string(),
            None => ctx
                .first_uplink()
                .ok_or_else(|| {
                    HookError::InvalidConfig("no uplink and no `connection` configured".into())
                })?
                .name
                .clone(),
        };
        let wait_ms: u32 = ctx
            .config("wait_ms")
            .map(str::parse)
            .transpose()
            .map_err(|_| {
                HookError::InvalidConfig("wait_ms must be a number of milliseconds".into())
            })?
            .unwrap_or(30_000);

        systemd::restart(NETWORK_MANAGER)?;
        systemd::wait_active(NETWORK_MANAGER, wait_ms)?;
        network_manager::connection_modify(
            &connection,
            &[("ipv4.dhcp-timeout".to_string(), "infinity".to_string())],
        )?;
        info!("DHCP on the uplink never times out"; "connection" => connection);
        Ok(())
    }
}

nethook_sdk::export_hook!(OpenShift);
