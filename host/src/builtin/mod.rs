//! The built-in NetworkManager/udev module: the default profile at every
//! hook point. It acts only through the capability layer (its own grants,
//! `Grants::builtin`), so audit and plan mode apply to it unchanged, and it
//! keeps what it captured and changed in `state`, because every hook point
//! is a separate process.
//!
//! Compared with the dataplane's own hook: the undo reverts only what this
//! module did (an admin's `dns=none` stays), rule lines follow uplink order,
//! and a record is written before each change, so an undo after a crash
//! still knows what may have been done.

mod detect;
mod dns;
pub mod ec2;
mod l3;
pub mod nmconf;
pub mod rules;
pub mod settings;

use std::time::Duration;

use crate::bindings::nethook::hooks::log::Level;
use crate::caps::{CapError, Host};
use crate::names::IfName;
use crate::point::DataplanePoint;
pub use detect::{detect, Detection, NetworkService};
pub use settings::{DnsFix, Settings, UndoRestart};

/// What `check` and `demo` say the module is.
pub const DESCRIPTION: &str = "built-in NetworkManager/udev module";
/// What `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` makes of it.
pub const COMPAT: &str = "the built-in module runs in its dataplane-compatible mode (as the dataplane's default_hook.sh): dns=none edited into NetworkManager.conf, the network service restarted at every undo";
pub const HOOK_NAME: &str = crate::names::BUILTIN_HOOK;
/// Bound of `udevadm settle` in the networkd restart sequence.
const SETTLE: Duration = Duration::from_secs(10);

const KEY_UPLINKS: &str = "uplinks";
const KEY_RULES: &str = "udev-rules";

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
        DataplanePoint::BeforeIfRead => {
            capture(host, uplinks).and_then(|()| match settings.restore_l3 {
                true => l3::capture(host, uplinks),
                false => Ok(()),
            })
        }
        DataplanePoint::BeforeVppRun => dns::apply(host, settings.dns_fix, &detection)
            .and_then(|()| write_rules(host, settings, &detection))
            .and_then(|()| {
                if ec2 {
                    ec2::save(host, uplinks)
                } else {
                    Ok(())
                }
            }),
        DataplanePoint::VppRunning => running(host, settings, &detection, ec2, uplinks),
        DataplanePoint::VppDoneOk | DataplanePoint::VppErrored => undo(host, settings, &detection),
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
        let json = serde_json::to_string(&cap).expect("a map of strings serialises");
        host.state().set(&format!("capture.{name}"), &json)?;
        info(host, "captured", &[("uplink", name), ("values", &json)]);
    }
    let list = serde_json::to_string(uplinks).expect("strings serialise");
    host.state().set(KEY_UPLINKS, &list)
}

/// What was captured, in uplink order.
fn captures(host: &mut Host) -> Result<Vec<(String, rules::Capture)>, CapError> {
    let Some(list) = host.state().get(KEY_UPLINKS)? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = serde_json::from_str(&list)
        .map_err(|e| CapError::Failed(format!("state {KEY_UPLINKS}: {e}")))?;
    let mut out = Vec::new();
    for name in names {
        if let Some(json) = host.state().get(&format!("capture.{name}"))? {
            let cap = serde_json::from_str(&json)
                .map_err(|e| CapError::Failed(format!("state capture.{name}: {e}")))?;
            out.push((name, cap));
        }
    }
    Ok(out)
}

/// A file this module wrote, and what was there before, for the undo.
#[derive(serde::Serialize, serde::Deserialize)]
struct Written {
    path: String,
    original: Option<String>,
    ours: String,
}

/// Write `text` to `path`, recording first what it replaces.
fn write_recorded(host: &mut Host, key: &str, path: &str, text: &str) -> Result<(), CapError> {
    let original = read_opt(host, path)?;
    if host.state().get(key)?.is_none() {
        if original.as_deref() == Some(text) {
            // Already as we want it, and not by us: nothing to do or undo.
            return Ok(());
        }
        let record = Written {
            path: path.to_string(),
            original,
            ours: text.to_string(),
        };
        host.state()
            .set(key, &serde_json::to_string(&record).expect("serialises"))?;
    }
    host.host_fs().write(path, text.as_bytes(), Some(0o644))
}

/// A host file's text; None when there is no such file.
fn read_opt(host: &mut Host, path: &str) -> Result<Option<String>, CapError> {
    match host.host_fs().read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(CapError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Put back what `write_recorded` replaced, if the file is still ours.
/// True when the node changed.
fn undo_recorded(host: &mut Host, key: &str) -> Result<bool, CapError> {
    let Some(json) = host.state().get(key)? else {
        return Ok(false);
    };
    let record: Written =
        serde_json::from_str(&json).map_err(|e| CapError::Failed(format!("state {key}: {e}")))?;
    let now = read_opt(host, &record.path)?;
    let changed = match (now.as_deref(), &record.original) {
        (Some(n), _) if n != record.ours => {
            warn(
                host,
                &format!(
                    "{} changed since nethook wrote it; left as it is",
                    record.path
                ),
            );
            false
        }
        (None, _) => false,
        (Some(_), Some(original)) => {
            host.host_fs()
                .write(&record.path, original.as_bytes(), None)?;
            true
        }
        (Some(_), None) => host.host_fs().remove(&record.path)?,
    };
    host.state().delete(key)?;
    Ok(changed)
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
    write_recorded(host, KEY_RULES, rules::PATH, &text)?;
    if det.udev {
        host.udev().reload_rules()?;
    }
    Ok(())
}

/// vpp-running (and after an undo): restart whatever owns the network.
fn restart_network(host: &mut Host, det: &Detection) -> Result<(), CapError> {
    match det.service {
        Some(NetworkService::Networkd) => {
            host.systemd().restart("systemd-udev-trigger.service")?;
            host.udev().settle(SETTLE)?;
            host.systemd().restart("systemd-networkd.service")
        }
        Some(s) => host.systemd().restart(s.unit()),
        None => {
            warn(host, "no active network service found; nothing restarted");
            Ok(())
        }
    }
}

/// vpp-running: restart the network service; on EC2 with networkd, then
/// make the uplink's `.network` match the dataplane's tap by name.
fn running(
    host: &mut Host,
    settings: &Settings,
    det: &Detection,
    ec2: bool,
    uplinks: &[IfName],
) -> Result<(), CapError> {
    if settings.restart_network {
        restart_network(host, det)?;
    }
    if ec2 && ec2::tweak(host, uplinks)? {
        // A reload, not a second restart: networkd picks up the new file
        // and configures the link it now matches. A networkd older than
        // v253 (Type=notify-reload) cannot reload through systemd.
        let unit = NetworkService::Networkd.unit();
        if let Err(e) = host.systemd().reload(unit) {
            warn(host, &format!("cannot reload {unit} ({e}); restarting it"));
            host.systemd().restart(unit)?;
        }
    }
    Ok(())
}

/// vpp-done-ok / vpp-errored: undo exactly what this module did, then
/// restart the network service (always, by default, as the dataplane does).
fn undo(host: &mut Host, settings: &Settings, det: &Detection) -> Result<(), CapError> {
    let dns = dns::undo(host, det)?;
    let rules = undo_recorded(host, KEY_RULES)?
        || remove_unrecorded(host, KEY_RULES, rules::PATH, |t| {
            t.lines().next() == Some(rules::HEADER)
        })?;
    if rules && det.udev {
        host.udev().reload_rules()?;
        host.udev().trigger("net", "change")?;
    }
    let networkd = ec2::undo(host)?;
    let changed = dns || rules || networkd;
    if !changed {
        info(host, "nothing to undo", &[]);
    }
    let restart = match settings.undo_restart {
        UndoRestart::Always => true,
        UndoRestart::IfChanged => changed,
    };
    if settings.restart_network && restart {
        restart_network(host, det)?;
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
        if key == KEY_UPLINKS || key.starts_with("capture.") {
            host.state().delete(&key)?;
        }
    }
    Ok(())
}

/// With no record under `key` (the state was lost: a container restart
/// with a state dir inside it), remove the file at `path` if its content
/// says nethook wrote it. True when removed.
fn remove_unrecorded(
    host: &mut Host,
    key: &str,
    path: &str,
    ours: impl Fn(&str) -> bool,
) -> Result<bool, CapError> {
    if host.state().get(key)?.is_some() {
        return Ok(false);
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
