//! Keep NetworkManager from rewriting resolv.conf while the dataplane runs:
//! `dns=none`, through a conf.d drop-in (default) or NetworkManager.conf
//! edited in place, and only when it is not already in effect.

use super::nmconf::{self, Edit};
use super::{
    info, read_opt, undo_recorded, write_recorded, Detection, DnsFix, NetworkService, Settings,
};
use crate::caps::{CapError, Host};

pub const MAIN_CONF: &str = "/etc/NetworkManager/NetworkManager.conf";
pub const CONF_D: &str = "/etc/NetworkManager/conf.d";
pub const DROP_IN: &str = "/etc/NetworkManager/conf.d/99-nethook-dns-none.conf";
pub const DROP_IN_TEXT: &str =
    "# Written by nethook while the dataplane runs; removed when it stops.\n[main]\ndns=none\n";
const KEY_DROP_IN: &str = "dns-drop-in";
const KEY_MAIN_CONF: &str = "dns-main-conf";

/// The `dns=` NetworkManager will use: NetworkManager.conf, then conf.d in
/// name order, the last setting winning.
fn effective_dns(host: &mut Host) -> Result<Option<String>, CapError> {
    let mut dns = read_opt(host, MAIN_CONF)?.and_then(|t| nmconf::main_dns(&t));
    let names = match host.host_fs().list(CONF_D) {
        Ok(n) => n,
        Err(CapError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    for name in names.iter().filter(|n| n.ends_with(".conf")) {
        if let Some(text) = read_opt(host, &format!("{CONF_D}/{name}"))? {
            dns = nmconf::main_dns(&text).or(dns);
        }
    }
    Ok(dns)
}

/// NetworkManager takes up `dns=` without a restart: `nmcli general
/// reload conf` (1.22), else `systemctl reload` (SIGHUP, which re-reads
/// the configuration too); a restart only where both are refused.
fn reload_if_running(
    host: &mut Host,
    settings: &Settings,
    det: &Detection,
) -> Result<(), CapError> {
    if det.service != Some(NetworkService::NetworkManager) {
        return Ok(());
    }
    let conf = match host.network_manager().reload_conf() {
        Err(CapError::Failed(e)) => e,
        other => return other,
    };
    let unit = NetworkService::NetworkManager.unit();
    match host.systemd().reload(unit) {
        Err(CapError::Failed(e)) => super::fallback(
            host,
            settings,
            NetworkService::NetworkManager,
            &format!("NetworkManager refused to reload its configuration ({conf}; {e})"),
        ),
        other => other,
    }
}

pub fn apply(host: &mut Host, settings: &Settings, det: &Detection) -> Result<(), CapError> {
    let mode = settings.dns_fix;
    if mode == DnsFix::Off {
        return Ok(());
    }
    if !det.network_manager_installed {
        info(host, "NetworkManager is not installed; no DNS fix", &[]);
        return Ok(());
    }
    if effective_dns(host)?.as_deref() == Some("none") {
        info(
            host,
            "dns=none is already in effect; leaving NetworkManager's configuration alone",
            &[],
        );
        return Ok(());
    }
    let mode = if mode == DnsFix::ConfD && !host.host_fs().exists(CONF_D)? {
        info(
            host,
            "no conf.d directory; setting dns=none in NetworkManager.conf instead",
            &[],
        );
        DnsFix::MainConf
    } else {
        mode
    };
    match mode {
        DnsFix::ConfD => write_recorded(host, KEY_DROP_IN, DROP_IN, DROP_IN_TEXT)?,
        DnsFix::MainConf => {
            let before = read_opt(host, MAIN_CONF)?;
            let (text, edit) = nmconf::set_dns_none(before.as_deref());
            // The record goes first: an undo after a crash here still knows.
            let record = serde_json::to_string(&edit).expect("serialises");
            host.state().set(KEY_MAIN_CONF, &record)?;
            host.host_fs().write(MAIN_CONF, text.as_bytes(), None)?;
        }
        DnsFix::Off => unreachable!("returned above"),
    }
    reload_if_running(host, settings, det)
}

/// True when the node changed.
pub fn undo(host: &mut Host, settings: &Settings, det: &Detection) -> Result<bool, CapError> {
    let mut changed = undo_recorded(host, KEY_DROP_IN)?
        || super::remove_unrecorded(host, KEY_DROP_IN, DROP_IN, |t| t == DROP_IN_TEXT)?;
    if let Some(json) = host.state().get(KEY_MAIN_CONF)? {
        let edit: Edit = serde_json::from_str(&json)
            .map_err(|e| CapError::Failed(format!("state {KEY_MAIN_CONF}: {e}")))?;
        if let Some(text) = read_opt(host, MAIN_CONF)? {
            match nmconf::undo(&text, &edit) {
                Ok(Some(restored)) if restored != text => {
                    host.host_fs().write(MAIN_CONF, restored.as_bytes(), None)?;
                    changed = true;
                }
                Ok(Some(_)) => {}
                Ok(None) => changed |= host.host_fs().remove(MAIN_CONF)?,
                Err(why) => super::warn(host, &format!("{MAIN_CONF}: {why}; left as it is")),
            }
        }
        host.state().delete(KEY_MAIN_CONF)?;
    }
    if changed {
        reload_if_running(host, settings, det)?;
    }
    Ok(changed)
}
