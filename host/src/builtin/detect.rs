//! What the node runs: systemd, udev, and which network service is active.

use std::fmt;

use crate::caps::{CapError, Host};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkService {
    Networkd,
    NetworkManager,
    Networking,
    Network,
}

impl NetworkService {
    /// In the order they are looked for.
    pub const ALL: [NetworkService; 4] = [
        NetworkService::Networkd,
        NetworkService::NetworkManager,
        NetworkService::Networking,
        NetworkService::Network,
    ];

    pub fn unit(self) -> &'static str {
        match self {
            NetworkService::Networkd => "systemd-networkd.service",
            NetworkService::NetworkManager => "NetworkManager.service",
            NetworkService::Networking => "networking.service",
            NetworkService::Network => "network.service",
        }
    }
}

impl fmt::Display for NetworkService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.unit().trim_end_matches(".service"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub systemd: bool,
    pub udev: bool,
    /// /etc/NetworkManager exists on the node.
    pub network_manager_installed: bool,
    pub service: Option<NetworkService>,
    /// The network service's version (NetworkManager's, or systemd's for
    /// networkd), when one is active.
    pub version: Option<String>,
    /// Whether the node's DHCP lease can be kept on the dataplane's tap,
    /// and how (a node without systemd: not judged).
    pub lease: Option<String>,
}

impl Detection {
    pub fn fields(&self) -> Vec<(String, String)> {
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        vec![
            ("systemd".into(), yn(self.systemd)),
            ("udev".into(), yn(self.udev)),
            (
                "network_manager_installed".into(),
                yn(self.network_manager_installed),
            ),
            (
                "network_service".into(),
                self.service.map_or("none".into(), |s| s.to_string()),
            ),
        ]
        .into_iter()
        .chain(self.version.clone().map(|v| ("version".into(), v)))
        .chain(self.lease.clone().map(|l| ("lease".into(), l)))
        .collect()
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .fields()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// How long detection waits for a network service systemd is starting.
const STARTING: std::time::Duration = std::time::Duration::from_secs(30);

pub fn detect(host: &mut Host) -> Result<Detection, CapError> {
    let systemd = host.host_fs().exists("/run/systemd/system")?;
    let udev = host.host_fs().exists("/run/udev/control")?;
    let network_manager_installed = host.host_fs().exists("/etc/NetworkManager")?;
    let mut service = None;
    if systemd {
        let mut starting = None;
        for s in NetworkService::ALL {
            match host.systemd().is_active(s.unit())?.as_str() {
                "active" => {
                    service = Some(s);
                    break;
                }
                "activating" | "reloading" if starting.is_none() => starting = Some(s),
                _ => {}
            }
        }
        // A service systemd is starting again (NetworkManager restarted
        // after it aborted, say, while the dataplane's tap went away under
        // it) is the node's: waited for, not taken for none.
        if let (None, Some(s)) = (service, starting) {
            if host.systemd().wait_active(s.unit(), STARTING).is_ok() {
                service = Some(s);
            }
        }
    }
    let version = match service {
        Some(NetworkService::NetworkManager) => host.network_manager().version().ok(),
        Some(NetworkService::Networkd) => host.systemd().version().ok().map(|v| v.to_string()),
        _ => None,
    };
    let lease = systemd.then(|| lease(service, version.as_deref()));
    Ok(Detection {
        systemd,
        udev,
        network_manager_installed,
        service,
        version,
        lease,
    })
}

/// Whether, and how, the node's lease can be kept while the dataplane
/// holds its NIC.
pub fn lease(service: Option<NetworkService>, version: Option<&str>) -> String {
    let at_least = |want| version.is_some_and(|v| super::nm_lease::version_at_least(v, want));
    match service {
        Some(NetworkService::NetworkManager) if at_least((1, 22)) => {
            "kept: NetworkManager's DHCP client on the tap, with the NIC's identity (an in-memory tun profile)".into()
        }
        Some(NetworkService::NetworkManager) => format!(
            "cannot be kept: NetworkManager {} is older than 1.22",
            version.unwrap_or("of unknown version")
        ),
        Some(NetworkService::Networkd) if at_least((244, 0)) => {
            "kept: systemd-networkd's DHCP client on the tap, with the NIC's udev names".into()
        }
        Some(NetworkService::Networkd) => format!(
            "cannot be kept: systemd {} is older than 244 (networkctl reload and reconfigure)",
            version.unwrap_or("of unknown version")
        ),
        Some(s) => format!("cannot be kept: {s} runs no DHCP client on the dataplane's tap"),
        None => "cannot be kept: no network service runs a DHCP client".into(),
    }
}
