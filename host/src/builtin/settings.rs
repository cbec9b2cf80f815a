//! `[builtin]`: the built-in module's options, owned by the module; the
//! config reads them (this file imports nothing of the module's but the
//! names of the network services).

use std::time::Duration;

use serde::Deserialize;

use super::detect::NetworkService;

/// How long the network service has, after the undo, to restore the
/// uplink's addresses and routes before nethook fills in.
pub const DEFAULT_L3_WAIT: Duration = Duration::from_secs(20);

/// What to do with an address the dataplane copied onto its tap with a
/// lifetime, when no DHCP client can renew it there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpiringAddress {
    /// Made permanent for as long as the dataplane runs (and warned of).
    #[default]
    Keep,
    /// Warned of only: it expires when its lifetime runs out.
    Warn,
}

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
    pub expiring_address: ExpiringAddress,
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
            restart_network: RestartPolicy::default(),
            keep_lease: true,
            expiring_address: ExpiringAddress::Keep,
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
        self.restart_network = RestartPolicy::all(Restart::Always);
    }
}
