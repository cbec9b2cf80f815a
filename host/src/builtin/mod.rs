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
pub mod keyfile;
mod l3;
pub mod lease;
pub mod networkd_lease;
pub mod nm_lease;
pub mod nmconf;
pub mod rules;
mod uplink;

use std::time::Duration;

use serde::Deserialize;

use crate::bindings::nethook::hooks::log::Level;
use crate::caps::{CapError, Host};
use crate::error::{Error, Result};
use crate::names::IfName;
use crate::point::HookPoint;
pub use detect::{detect, Detection, NetworkService};

/// What `check` and `demo` say the module is.
pub const DESCRIPTION: &str = "built-in NetworkManager/udev module";
/// What `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` makes of it.
pub const COMPAT: &str = "the built-in module runs in its dataplane-compatible mode (as the dataplane's default_hook.sh): dns=none edited into NetworkManager.conf, the network service restarted at every undo";
pub const HOOK_NAME: &str = "builtin";
/// Bound of `udevadm settle` in the networkd restart sequence.
const SETTLE: Duration = Duration::from_secs(10);

const KEY_UPLINKS: &str = "uplinks";
/// In a capture: the permanent address the hardware gave the NIC.
const PERM_MAC: &str = "PERM_MAC";
const KEY_RULES: &str = "udev-rules";

/// How the DNS fix is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DnsFix {
    /// A drop-in under /etc/NetworkManager/conf.d.
    #[default]
    #[serde(rename = "conf.d")]
    ConfD,
    /// NetworkManager.conf edited in place, as the dataplane does.
    #[serde(rename = "main-conf")]
    MainConf,
    #[serde(rename = "off")]
    Off,
}

/// With `restart_network = "always"`: when the undo points restart the
/// network service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UndoRestart {
    /// Always, as the dataplane does, even when nothing was undone.
    #[default]
    Always,
    /// Only when something was undone.
    IfChanged,
}

/// Whether the module restarts a network service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never: where the lighter operation did not take effect, the run
    /// says so and goes on.
    Never,
    /// Only where the lighter operation (a reload of configuration, an
    /// activation, a reconfigure) did not take effect.
    #[default]
    Fallback,
    /// At vpp-running and at the undo points, as the dataplane's own hook
    /// does, besides the lighter operations.
    Always,
}

impl Restart {
    pub fn name(self) -> &'static str {
        match self {
            Restart::Never => "never",
            Restart::Fallback => "fallback",
            Restart::Always => "always",
        }
    }
}

/// `restart_network`: one value for every service, or one per service
/// (`[builtin.restart_network] NetworkManager = "always"`, the others
/// keeping the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartPolicy {
    all: Restart,
    services: Vec<(NetworkService, Restart)>,
}

impl RestartPolicy {
    pub fn of(&self, service: NetworkService) -> Restart {
        self.services
            .iter()
            .find(|(s, _)| *s == service)
            .map_or(self.all, |(_, r)| *r)
    }

    pub fn all(restart: Restart) -> RestartPolicy {
        RestartPolicy {
            all: restart,
            services: Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RestartPolicy;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"never\", \"fallback\" or \"always\" (true: \"always\", false: \"never\"), or a table of those by service (NetworkManager, systemd-networkd, networking, network)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RestartPolicy, E> {
                Ok(RestartPolicy::all(if v {
                    Restart::Always
                } else {
                    Restart::Never
                }))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RestartPolicy, E> {
                Restart::deserialize(serde::de::value::StrDeserializer::<E>::new(v))
                    .map(RestartPolicy::all)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RestartPolicy, A::Error> {
                let mut p = RestartPolicy::default();
                while let Some(key) = map.next_key::<String>()? {
                    let service = NetworkService::ALL
                        .into_iter()
                        .find(|s| s.to_string() == key)
                        .ok_or_else(|| {
                            serde::de::Error::custom(format!(
                                "unknown network service {key:?}: one of NetworkManager, systemd-networkd, networking, network"
                            ))
                        })?;
                    let r: Restart = map.next_value()?;
                    p.services.retain(|(s, _)| *s != service);
                    p.services.push((service, r));
                }
                Ok(p)
            }
        }
        d.deserialize_any(V)
    }
}

/// `[builtin]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "yes")]
    pub udev_net_name_rules: bool,
    #[serde(default)]
    pub dns_fix: DnsFix,
    /// When a network service may be restarted (default: only where
    /// nothing lighter took effect).
    #[serde(default)]
    pub restart_network: RestartPolicy,
    /// Keep the node's DHCP lease renewing on the dataplane's tap.
    #[serde(default = "yes")]
    pub keep_lease: bool,
    /// Where the lease cannot be kept: the addresses copied onto the tap
    /// made permanent (`keep`) or only warned of (`warn`).
    #[serde(default)]
    pub expiring_address: lease::ExpiringAddress,
    #[serde(default)]
    pub undo_restart: UndoRestart,
    /// On EC2 (per DMI) with systemd-networkd: match the uplink's
    /// `.network` by name while the dataplane runs, as the dataplane does.
    #[serde(default = "yes")]
    pub ec2_networkd: bool,
    /// Capture each uplink's layer-3 configuration at before-if-read and
    /// give the returned uplink what of it it lacks at the undo points.
    #[serde(default)]
    pub restore_l3: bool,
    /// How long the network service has, after the undo's restart, to
    /// restore the uplink's addresses and routes before nethook fills in.
    #[serde(
        default = "l3_wait",
        deserialize_with = "crate::config::duration_value"
    )]
    pub restore_l3_wait: Duration,
}

fn l3_wait() -> Duration {
    l3::DEFAULT_WAIT
}

fn yes() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            udev_net_name_rules: true,
            dns_fix: DnsFix::ConfD,
            restart_network: RestartPolicy::default(),
            keep_lease: true,
            expiring_address: lease::ExpiringAddress::Keep,
            undo_restart: UndoRestart::Always,
            ec2_networkd: true,
            restore_l3: false,
            restore_l3_wait: l3::DEFAULT_WAIT,
        }
    }
}

impl Settings {
    /// What the dataplane runs when its native hook is off (default_hook.sh).
    pub fn dataplane_compatible(&mut self) {
        if self.dns_fix != DnsFix::Off {
            self.dns_fix = DnsFix::MainConf;
        }
        self.undo_restart = UndoRestart::Always;
        self.restart_network = RestartPolicy::all(Restart::Always);
    }
}

/// Run the module at `point`; returns the detection, for reports.
pub fn run(
    host: &mut Host,
    point: HookPoint,
    uplinks: &[IfName],
    settings: &Settings,
) -> Result<Detection> {
    let fail = |e: CapError| Error::HookFailed {
        hook: HOOK_NAME.into(),
        point,
        message: e.to_string(),
    };
    let detection = detect::detect(host).map_err(fail)?;
    host.log(Level::Info, "detected", &detection.fields());
    let ec2 = settings.ec2_networkd
        && detection.service == Some(NetworkService::Networkd)
        && ec2::is_ec2(host).map_err(fail)?;
    match point {
        HookPoint::BeforeIfRead => capture(host, uplinks)
            .and_then(|()| match settings.keep_lease {
                true => lease_capture(host, &detection, uplinks),
                false => Ok(()),
            })
            .and_then(|()| match settings.restore_l3 {
                true => l3::capture(host, uplinks),
                false => Ok(()),
            }),
        HookPoint::BeforeVppRun => dns::apply(host, settings, &detection)
            .and_then(|()| write_rules(host, settings, &detection))
            .and_then(|()| {
                if ec2 {
                    ec2::save(host, uplinks)
                } else {
                    Ok(())
                }
            }),
        HookPoint::VppRunning => running(host, settings, &detection, ec2, uplinks),
        HookPoint::VppDoneOk | HookPoint::VppErrored => undo(host, settings, &detection, uplinks),
        // The config refuses `builtin` at an event point.
        event => Err(CapError::Invalid(format!(
            "the built-in module has no action at {event}"
        ))),
    }
    .map_err(fail)?;
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
    write_recorded_mode(host, key, path, text, 0o644)
}

/// `write_recorded` with the file's mode.
fn write_recorded_mode(
    host: &mut Host,
    key: &str,
    path: &str,
    text: &str,
    mode: u32,
) -> Result<(), CapError> {
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
        || host
            .state()
            .keys()?
            .iter()
            .any(|k| k.starts_with("lease.nm-profile."))
    {
        for uplink in &uplinks {
            profiles |= nm_lease::give_back(host, uplink)?;
        }
    }
    let dns = dns::undo(host, settings, det)?;
    let rules = undo_recorded(host, KEY_RULES)?
        || remove_unrecorded(host, KEY_RULES, rules::PATH, |t| {
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
    let networkd = ec2::undo(host)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
