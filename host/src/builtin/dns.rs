//! Keep NetworkManager from rewriting resolv.conf while the dataplane runs:
//! `dns=none`, through a conf.d drop-in (default) or NetworkManager.conf
//! edited in place, and only when it is not already in effect.

use super::nmconf;
use super::{info, put_back, read_opt, write_file, Detection, DnsFix, NetworkService, Settings};
use crate::caps::{CapError, Host};

pub const MAIN_CONF: &str = "/etc/NetworkManager/NetworkManager.conf";
pub const CONF_D: &str = "/etc/NetworkManager/conf.d";
pub const DROP_IN: &str = "/etc/NetworkManager/conf.d/99-nethook-dns-none.conf";
pub const DROP_IN_TEXT: &str =
    "# Written by nethook while the dataplane runs; removed when it stops.\n[main]\ndns=none\n";

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
        DnsFix::ConfD => write_file(host, DROP_IN, DROP_IN_TEXT, 0o644)?,
        DnsFix::MainConf => {
            let before = read_opt(host, MAIN_CONF)?;
            let (text, _) = nmconf::set_dns_none(before.as_deref());
            // The journal keeps the file as it was: the undo works out the
            // edit again from it.
            host.host_fs().write(MAIN_CONF, text.as_bytes(), None)?;
        }
        DnsFix::Off => unreachable!("returned above"),
    }
    reload_if_running(host, settings, det)
}

/// True when the node changed.
pub fn undo(host: &mut Host, settings: &Settings, det: &Detection) -> Result<bool, CapError> {
    let mut changed = put_back(host, DROP_IN, |t| t == DROP_IN_TEXT)?;
    if let Some(before) = host.file_before(MAIN_CONF)? {
        // Our edit taken out of the file as it is now, keeping whatever
        // else changed in it meanwhile: the edit is the one made to what
        // the file held before.
        let before = before.map(|i| String::from_utf8_lossy(&i.bytes).into_owned());
        let (_, edit) = nmconf::set_dns_none(before.as_deref());
        let how = "dns=none taken out";
        match read_opt(host, MAIN_CONF)?.map(|text| nmconf::undo(&text, &edit)) {
            Some(Ok(restored)) => {
                changed |= host.undo_file_to(MAIN_CONF, restored.map(String::into_bytes), how)?
            }
            Some(Err(why)) => {
                super::warn(host, &format!("{MAIN_CONF}: {why}; left as it is"));
                host.file_put_back(MAIN_CONF, "left as it is")?;
            }
            None => host.file_put_back(MAIN_CONF, "gone")?,
        }
    }
    if changed {
        reload_if_running(host, settings, det)?;
    }
    Ok(changed)
}
