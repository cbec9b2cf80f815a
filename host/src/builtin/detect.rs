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
    const ALL: [NetworkService; 4] = [
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

pub fn detect(host: &mut Host) -> Result<Detection, CapError> {
    let systemd = host.host_fs().exists("/run/systemd/system")?;
    let udev = host.host_fs().exists("/run/udev/control")?;
    let network_manager_installed = host.host_fs().exists("/etc/NetworkManager")?;
    let mut service = None;
    if systemd {
        for s in NetworkService::ALL {
            if host.systemd().is_active(s.unit())? == "active" {
                service = Some(s);
                break;
            }
        }
    }
    Ok(Detection {
        systemd,
        udev,
        network_manager_installed,
        service,
    })
}
