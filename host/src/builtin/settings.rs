//! `[builtin]`: the built-in module's options, owned by the module; the
//! config reads them (this file imports nothing of the module's own).

use std::time::Duration;

use serde::Deserialize;

/// How long the network service has, after the undo's restart, to restore
/// the uplink's addresses and routes before nethook fills in.
pub const DEFAULT_L3_WAIT: Duration = Duration::from_secs(20);

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

/// When the undo points restart the network service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UndoRestart {
    /// Always, as the dataplane does: it is what brings DHCP and DNS back
    /// on the NIC the dataplane returns, even when nothing was undone.
    #[default]
    Always,
    /// Only when something was undone.
    IfChanged,
}

/// `[builtin]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "yes")]
    pub udev_net_name_rules: bool,
    #[serde(default)]
    pub dns_fix: DnsFix,
    #[serde(default = "yes")]
    pub restart_network: bool,
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
    #[serde(default = "l3_wait", deserialize_with = "crate::units::duration_value")]
    pub restore_l3_wait: Duration,
}

fn l3_wait() -> Duration {
    DEFAULT_L3_WAIT
}

fn yes() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            udev_net_name_rules: true,
            dns_fix: DnsFix::ConfD,
            restart_network: true,
            undo_restart: UndoRestart::Always,
            ec2_networkd: true,
            restore_l3: false,
            restore_l3_wait: DEFAULT_L3_WAIT,
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
    }
}
