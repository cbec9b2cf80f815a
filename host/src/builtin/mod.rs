//! The built-in NetworkManager/udev module: the default profile at every
//! hook point. It acts only through the capability layer (its own grants,
//! `Grants::builtin`), so audit, plan mode and the journal apply to it
//! unchanged. Every hook point is a separate process: what it captured is
//! kept in `state`, what it changed in the journal, where the undo points
//! find it (as `undo.lifecycle` does for a component).
//!
//! Compared with the dataplane's own hook: the undo reverts only what this
//! module did (an admin's `dns=none` stays), rule lines follow uplink order,
//! and every change is journaled before it is made, so an undo after a
//! crash still knows what may have been done.

mod detect;
mod dns;
pub mod ec2;
pub mod keyfile;
mod l3;
pub mod lease;
pub mod networkd_lease;
pub mod nm_lease;
pub mod nmconf;
pub mod rules;
pub mod settings;
mod uplink;

use std::time::Duration;

use crate::bindings::nethook::hooks::log::Level;
use crate::caps::{CapError, Host};
use crate::names::IfName;
use crate::point::DataplanePoint;
pub use detect::{detect, Detection, NetworkService};
pub use settings::{DnsFix, ExpiringAddress, Restart, RestartPolicy, Settings, UndoRestart};

/// What `check` and `demo` say the module is.
pub const DESCRIPTION: &str = "built-in NetworkManager/udev module";
/// What `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` makes of it.
pub const COMPAT: &str = "the built-in module runs in its dataplane-compatible mode (as the dataplane's default_hook.sh): dns=none edited into NetworkManager.conf, the network service restarted at every undo";
pub const HOOK_NAME: &str = crate::names::BUILTIN_HOOK;
/// Bound of `udevadm settle` in the networkd restart sequence.
const SETTLE: Duration = Duration::from_secs(10);

const KEY_UPLINKS: &str = "uplinks";
/// In a capture: the permanent address the hardware gave the NIC.
const PERM_MAC: &str = "PERM_MAC";

/// Run the module at `point`; returns the detection, for reports. The
/// run makes a failure the module's hook error.
pub fn run(
    host: &mut Host,
    point: DataplanePoint,
    uplinks: &[IfName],
    settings: &Settings,
) -> Result<Detection, CapError> {
    let detection = detect::detect(host)?;
    host.log(Level::Info, "detected", &detection.fields());
    let ec2 = settings.ec2_networkd
        && detection.service == Some(NetworkService::Networkd)
        && ec2::is_ec2(host)?;
    match point {
        DataplanePoint::BeforeIfRead => capture(host, uplinks)
            .and_then(|()| match settings.keep_lease {
                true => lease_capture(host, &detection, uplinks),
                false => Ok(()),
            })
            .and_then(|()| match settings.restore_l3 {
                true => l3::capture(host, uplinks),
                false => Ok(()),
            }),
        DataplanePoint::BeforeVppRun => dns::apply(host, settings, &detection)
            .and_then(|()| write_rules(host, settings, &detection))
            .and_then(|()| {
                if ec2 {
                    ec2::save(host, uplinks)
                } else {
                    Ok(())
                }
            }),
        DataplanePoint::VppRunning => running(host, settings, &detection, ec2, uplinks),
        DataplanePoint::VppDoneOk | DataplanePoint::VppErrored => {
            undo(host, settings, &detection, uplinks)
        }
    }?;
    Ok(detection)
}

fn info(host: &mut Host, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    host.log(Level::Info, message, &fields);
}

fn warn(host: &mut Host, message: &str) {
    host.log(Level::Warn, message, &[]);
}

/// before-if-read: each uplink's MAC and `ID_NET_NAME_*`, kept in state.
fn capture(host: &mut Host, uplinks: &[IfName]) -> Result<(), CapError> {
    for name in uplinks {
        let link = host.netlink().get_link(name)?;
        let mut cap = rules::Capture::new();
        if let Some(mac) = link.mac {
            cap.insert(rules::MAC.to_string(), mac);
        }
        // What finds the NIC again if it comes back under another name.
        if let Some(perm) = host.udev().device(name)?.perm_mac {
            cap.insert(PERM_MAC.to_string(), perm);
        }
        match host.udev().properties(name) {
            Ok(props) => {
                for (k, v) in props {
                    if rules::PROPERTIES.contains(&k.as_str()) {
                        cap.insert(k, v);
                    }
                }
            }
            Err(CapError::NotFound(why)) => warn(host, &format!("no udev names for {name}: {why}")),
            Err(e) => return Err(e),
        }
        let json = keep(host, &format!("capture.{name}"), &cap)?;
        info(host, "captured", &[("uplink", name), ("values", &json)]);
    }
    keep(host, KEY_UPLINKS, &uplinks).map(drop)
}

/// What was captured, in uplink order.
fn captures(host: &mut Host) -> Result<Vec<(String, rules::Capture)>, CapError> {
    let names: Vec<String> = recall(host, KEY_UPLINKS)?.unwrap_or_default();
    let mut out = Vec::new();
    for name in names {
        if let Some(cap) = recall(host, &format!("capture.{name}"))? {
            out.push((name, cap));
        }
    }
    Ok(out)
}

/// Keep `value` in this module's state under `key`, as JSON (returned,
/// for the log): what a later point, a separate process, reads back.
fn keep<T: serde::Serialize>(host: &mut Host, key: &str, value: &T) -> Result<String, CapError> {
    let json = serde_json::to_string(value).expect("plain values serialise");
    host.state().set(key, &json)?;
    Ok(json)
}

/// What an earlier point kept under `key`; None when nothing is.
fn recall<T: serde::de::DeserializeOwned>(
    host: &mut Host,
    key: &str,
) -> Result<Option<T>, CapError> {
    host.state()
        .get(key)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| CapError::Failed(format!("state {key}: {e}")))
        })
        .transpose()
}

/// Write `text` to `path` unless it holds it already. The journal keeps
/// what the write replaced, as for any change: an undo point puts it back
/// from there ([`put_back`]), and a point that fails rolls it back.
fn write_file(host: &mut Host, path: &str, text: &str, mode: u32) -> Result<(), CapError> {
    if read_opt(host, path)?.as_deref() == Some(text) {
        return Ok(());
    }
    host.host_fs().write(path, text.as_bytes(), Some(mode))
}

/// A host file's text; None when there is no such file.
fn read_opt(host: &mut Host, path: &str) -> Result<Option<String>, CapError> {
    match host.host_fs().read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(CapError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Undo points: the file at `path` as it was before this module's writes
/// to it in the lifecycle, from the journal (an edit since is kept, with
/// a warning). With no record of them (the state directory was lost: a
/// container restart with it inside), the file is removed if `ours` says
/// its content is nethook's. True when the node changed.
fn put_back(host: &mut Host, path: &str, ours: impl Fn(&str) -> bool) -> Result<bool, CapError> {
    if let Some(changed) = host.undo_file(path)? {
        return Ok(changed);
    }
    match read_opt(host, path)? {
        Some(text) if ours(&text) => {
            warn(
                host,
                &format!("{path} is nethook's but no record of writing it was found (state lost?); removing it"),
            );
            host.host_fs().remove(path)
        }
        _ => Ok(false),
    }
}

/// before-vpp-run: the udev rule file, then a rules reload.
fn write_rules(host: &mut Host, settings: &Settings, det: &Detection) -> Result<(), CapError> {
    if !settings.udev_net_name_rules {
        return Ok(());
    }
    let caps = captures(host)?;
    let (text, refused) = rules::render(&caps);
    for r in refused {
        warn(host, &format!("udev rule value refused: {r}"));
    }
    let Some(text) = text else {
        info(host, "no udev names to restore", &[]);
        return Ok(());
    };
    write_file(host, rules::PATH, &text, 0o644)?;
    if det.udev {
        host.udev().reload_rules()?;
    }
    Ok(())
}

/// Restart the network service (networkd: with udev's trigger and settle
/// first, as the dataplane does), saying why.
fn restart_service(host: &mut Host, service: NetworkService, why: &str) -> Result<(), CapError> {
    warn(host, &format!("restarting {}: {why}", service.unit()));
    if service == NetworkService::Networkd {
        host.systemd().restart("systemd-udev-trigger.service")?;
        host.udev().settle(SETTLE)?;
    }
    host.systemd().restart(service.unit())
}

/// Where the lighter operation did not take effect: a restart, if the
/// policy allows one for `service`; else a warning saying so.
fn fallback(
    host: &mut Host,
    settings: &Settings,
    service: NetworkService,
    why: &str,
) -> Result<(), CapError> {
    match settings.restart_network.of(service) {
        Restart::Never => {
            warn(
                host,
                &format!(
                    "{why}; not restarting {} (restart_network = \"never\")",
                    service.unit()
                ),
            );
            Ok(())
        }
        _ => restart_service(host, service, why),
    }
}

/// `networkctl reload`, the lightest way networkd takes up a changed
/// `.network` (systemd 244); a restart where it is refused.
fn networkd_reload(host: &mut Host, settings: &Settings) -> Result<(), CapError> {
    match host.systemd().networkd_reload() {
        Ok(()) => Ok(()),
        Err(CapError::Failed(e)) => fallback(
            host,
            settings,
            NetworkService::Networkd,
            &format!("networkctl reload failed ({e})"),
        ),
        Err(e) => Err(e),
    }
}

/// before-if-read: what keeps the lease, per the network service.
fn lease_capture(host: &mut Host, det: &Detection, uplinks: &[IfName]) -> Result<(), CapError> {
    for uplink in uplinks {
        match det.service {
            Some(NetworkService::NetworkManager) => nm_lease::capture(host, uplink)?,
            Some(NetworkService::Networkd) => networkd_lease::capture(host, uplink)?,
            _ => {}
        }
    }
    Ok(())
}

/// vpp-running: by default nothing is restarted. On EC2 with networkd,
/// the uplink's `.network` is matched by name and networkd reloaded; then
/// the node's DHCP client moves to the dataplane's tap with the NIC's
/// identity.
fn running(
    host: &mut Host,
    settings: &Settings,
    det: &Detection,
    ec2: bool,
    uplinks: &[IfName],
) -> Result<(), CapError> {
    if let Some(s) = det.service {
        if settings.restart_network.of(s) == Restart::Always {
            restart_service(host, s, "restart_network = \"always\"")?;
        }
    }
    // First: the `.network` networkd needs to manage the tap at all.
    if ec2 && ec2::tweak(host, uplinks)? {
        // networkd picks up the new file and configures the link it now
        // matches: a reload, not a restart.
        networkd_reload(host, settings)?;
    }
    if settings.keep_lease {
        let caps = captures(host)?;
        for uplink in uplinks {
            let outcome = match det.service {
                Some(NetworkService::NetworkManager) => {
                    let version = det.version.clone().unwrap_or_default();
                    nm_lease::take_over(host, uplink, &version)?
                }
                Some(NetworkService::Networkd) => {
                    let names = caps
                        .iter()
                        .find(|(n, _)| n == uplink.as_ref())
                        .map(|(_, c)| c.clone())
                        .unwrap_or_default();
                    networkd_lease::take_over(host, uplink, &names)?
                }
                // No service that could take the tap: only a tap has
                // addresses the dataplane copied, with their lifetimes.
                _ => match host.udev().device(uplink) {
                    Ok(d) if d.tun.is_some() => lease::TakeOver::NotKept(
                        det.lease
                            .clone()
                            .unwrap_or_else(|| "no network service runs a DHCP client here".into()),
                    ),
                    Ok(_) | Err(CapError::NotFound(_)) => lease::TakeOver::NotATap,
                    Err(e) => return Err(e),
                },
            };
            if let lease::TakeOver::NotKept(why) = outcome {
                lease::not_kept(host, settings, uplink, &why)?;
            }
        }
    }
    Ok(())
}

/// vpp-done-ok / vpp-errored: undo exactly what this module did; the NIC
/// back under its name and with its own profile. A network service is
/// restarted only where nothing lighter took effect, unless the policy
/// says always.
fn undo(
    host: &mut Host,
    settings: &Settings,
    det: &Detection,
    run_uplinks: &[IfName],
) -> Result<(), CapError> {
    // Before anything else: what follows looks for the NIC by its name.
    let renamed = uplink::rename_back(host)?;
    // This run's uplinks, and any other this lifecycle captured (with its
    // records lost, the run's are what names nethook's files).
    let mut uplinks: Vec<String> = run_uplinks.iter().map(|u| u.to_string()).collect();
    for (name, _) in captures(host)? {
        if !uplinks.contains(&name) {
            uplinks.push(name);
        }
    }
    let mut profiles = false;
    if det.service == Some(NetworkService::NetworkManager)
        || nm_lease::profiles_written(host, &uplinks)?
    {
        for uplink in &uplinks {
            profiles |= nm_lease::give_back(host, uplink)?;
        }
    }
    let dns = dns::undo(host, settings, det)?;
    let rules = put_back(host, rules::PATH, |t| {
        t.lines().next() == Some(rules::HEADER)
    })?;
    if rules && det.udev {
        host.udev().reload_rules()?;
        for uplink in &uplinks {
            // The rule's names are gone from whatever it matched: the
            // rules run again for the uplink alone. Best effort: an uplink
            // that is not back (or not under its name) has nothing to lose.
            match host.udev().trigger_device(uplink, "change") {
                Err(CapError::Failed(e)) => {
                    warn(host, &format!("udev rules not run again for {uplink}: {e}"))
                }
                other => other?,
            }
        }
    }
    let networkd = ec2::undo(host, &uplinks)?;
    if networkd {
        networkd_reload(host, settings)?;
    }
    let changed = renamed || profiles || dns || rules || networkd;
    if !changed {
        info(host, "nothing to undo", &[]);
    }
    if let Some(s) = det.service {
        let restart = match settings.undo_restart {
            UndoRestart::Always => true,
            UndoRestart::IfChanged => changed,
        };
        if settings.restart_network.of(s) == Restart::Always && restart {
            restart_service(host, s, "restart_network = \"always\"")?;
        }
        if settings.keep_lease {
            for uplink in &uplinks {
                let missing = match s {
                    NetworkService::NetworkManager => nm_lease::reactivate(host, uplink)?,
                    NetworkService::Networkd => networkd_lease::give_back(host, uplink)?,
                    _ => None,
                };
                if let Some(why) = missing {
                    fallback(
                        host,
                        settings,
                        s,
                        &format!("the NIC {uplink} did not get its own configuration back ({why})"),
                    )?;
                }
            }
        }
    }
    if settings.restore_l3 {
        l3::restore(host, settings.restore_l3_wait)?;
    }
    forget_captures(host)
}

/// After a complete undo the lifecycle's captures have served: the next
/// before-if-read captures again, and a node between lifecycles keeps no
/// record of nethook's.
fn forget_captures(host: &mut Host) -> Result<(), CapError> {
    for key in host.state().keys()? {
        if key == KEY_UPLINKS || key.starts_with("capture.") || key.starts_with("lease.") {
            host.state().delete(&key)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn policy(toml_text: &str) -> Result<RestartPolicy, String> {
        #[derive(Deserialize)]
        struct T {
            restart_network: RestartPolicy,
        }
        toml::from_str::<T>(toml_text)
            .map(|t| t.restart_network)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn restart_policy_is_one_value_or_one_per_service() {
        let p = policy("restart_network = \"never\"").unwrap();
        assert_eq!(p.of(NetworkService::NetworkManager), Restart::Never);
        assert_eq!(
            policy("restart_network = true").unwrap(),
            RestartPolicy::all(Restart::Always)
        );
        assert_eq!(
            policy("restart_network = false").unwrap(),
            RestartPolicy::all(Restart::Never)
        );
        let p = policy("[restart_network]\nNetworkManager = \"always\"\n").unwrap();
        assert_eq!(p.of(NetworkService::NetworkManager), Restart::Always);
        assert_eq!(p.of(NetworkService::Networkd), Restart::Fallback);
        let p = policy("[restart_network]\nsystemd-networkd = \"never\"\n").unwrap();
        assert_eq!(p.of(NetworkService::Networkd), Restart::Never);
        assert_eq!(
            Settings::default()
                .restart_network
                .of(NetworkService::Networkd),
            Restart::Fallback
        );
        assert!(policy("restart_network = \"sometimes\"").is_err());
        let e = policy("[restart_network]\nnetworkmanager = \"always\"\n").unwrap_err();
        assert!(
            e.contains("unknown network service \"networkmanager\""),
            "{e}"
        );
    }

    #[test]
    fn the_dataplane_compatible_mode_restarts_always() {
        let mut s = Settings::default();
        s.dataplane_compatible();
        assert_eq!(s.restart_network, RestartPolicy::all(Restart::Always));
        assert_eq!(s.dns_fix, DnsFix::MainConf);
    }
}
