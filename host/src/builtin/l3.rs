//! `restore_l3`: the uplink's layer-3 configuration, captured at
//! before-if-read, given back to the returned uplink at the undo points
//! where the network service did not restore it (a cloud agent's or a
//! hand-made configuration has no service to re-apply it).

use std::time::{Duration, Instant};

use super::{info, warn};
use crate::caps::{l3, CapError, Host};
use crate::names::IfName;

const KEY: &str = "l3.";
const POLL: Duration = Duration::from_millis(250);

/// Keep each uplink's configuration. A capture with no address does not
/// replace one with addresses: in a crash loop the uplink may not be back
/// yet, and the earlier capture is the node's real configuration.
pub fn capture(host: &mut Host, uplinks: &[IfName]) -> Result<(), CapError> {
    for name in uplinks {
        let config = host.l3().capture(name, &None)?;
        let key = format!("{KEY}{name}");
        if config.addresses.is_empty() {
            if let Some(kept) = host.state().get(&key)? {
                if l3::from_json(&kept).is_ok_and(|k| !k.addresses.is_empty()) {
                    warn(host, &format!("restore_l3: {name} has no address now; the configuration captured before is kept"));
                    continue;
                }
            }
        }
        let shown = format!(
            "{} addresses, {} routes, {} rules, {} neighbours",
            config.addresses.len(),
            config.routes.len(),
            config.rules.len(),
            config.neighbours.len()
        );
        host.state().set(&key, &l3::to_json(&config))?;
        info(
            host,
            "restore_l3: captured",
            &[("uplink", name), ("config", &shown)],
        );
    }
    Ok(())
}

/// Give each captured uplink what it lacks once the network service had
/// `wait` to restore its addresses and routes; forget what was restored.
pub fn restore(host: &mut Host, wait: Duration) -> Result<(), CapError> {
    let started = Instant::now();
    for key in host.state().keys()? {
        let Some(name) = key.strip_prefix(KEY) else {
            continue;
        };
        let Some(json) = host.state().get(&key)? else {
            continue;
        };
        let config = l3::from_json(&json)?;
        let lacking = loop {
            let lacking = match host.l3_lacking(name, &config) {
                Ok(l) => Some(l),
                Err(CapError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            if lacking.as_ref().is_some_and(Vec::is_empty) || started.elapsed() >= wait {
                break lacking;
            }
            std::thread::sleep(POLL);
        };
        let Some(lacking) = lacking else {
            warn(host, &format!("restore_l3: {name} is not back within {wait:?}; its configuration is kept for the next undo point"));
            continue;
        };
        let by = match lacking.is_empty() {
            true => "the network service restored its addresses and routes".to_string(),
            false => format!(
                "the network service did not restore {} within {wait:?}",
                lacking.join(", ")
            ),
        };
        let applied = host.l3().apply(name, &config, &None)?;
        let shown = format!(
            "changed={} present={} skipped={}",
            applied.changed,
            applied.present,
            applied.skipped.join("; ")
        );
        info(
            host,
            "restore_l3: done",
            &[("uplink", name), ("by", &by), ("applied", &shown)],
        );
        host.state().delete(&key)?;
    }
    Ok(())
}
