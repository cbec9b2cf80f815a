//! The changes the `network-manager` capability makes (profiles modified,
//! brought up or down, loaded, activated; NetworkManager reloaded), what
//! each needs granted, how it is shown, and how one is made again as an
//! undo step.

use serde::{Deserialize, Serialize};

use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::host_fs::normalize;
use crate::caps::{CapError, Host};

/// One change a `network-manager` call makes, journaled flat under its
/// `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum NetworkManagerChange {
    NmModify {
        id: String,
        settings: Vec<(String, String)>,
    },
    NmUp {
        id: String,
    },
    NmDown {
        id: String,
    },
    NmReload,
    /// `nmcli general reload conf`: NetworkManager.conf and conf.d again.
    NmReloadConf,
    /// `nmcli connection load PATH`: a keyfile (re)read, or forgotten
    /// when the file is gone.
    NmLoad {
        path: String,
    },
    /// A profile activated on a device (`connection up uuid U ifname D`).
    NmActivate {
        uuid: String,
        ifname: String,
    },
    NmDeactivate {
        uuid: String,
    },
}

impl CapabilityChange for NetworkManagerChange {
    const CAPABILITY: &'static str = "network-manager";

    const TAGS: &'static [&'static str] = &[
        "nm-modify",
        "nm-up",
        "nm-down",
        "nm-reload",
        "nm-reload-conf",
        "nm-load",
        "nm-activate",
        "nm-deactivate",
    ];

    fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use NetworkManagerChange::*;
        match self {
            NmModify { id, .. } | NmUp { id } | NmDown { id } | NmDeactivate { uuid: id } => {
                g.connection(id)
            }
            NmActivate { uuid, ifname } => g.connection(uuid).and_then(|_| g.link(ifname)),
            NmReload | NmReloadConf => g.nm_reload(),
            NmLoad { path } => normalize(path).and_then(|p| g.write_path(&p)),
        }
    }

    /// The node object it changes: none for a reload or a load.
    fn object(&self) -> Option<String> {
        use NetworkManagerChange::*;
        match self {
            NmModify { id, .. } | NmUp { id } | NmDown { id } => Some(format!("connection {id}")),
            NmActivate { uuid, .. } | NmDeactivate { uuid } => Some(format!("connection {uuid}")),
            NmReload | NmReloadConf | NmLoad { .. } => None,
        }
    }

    fn operation(&self) -> &'static str {
        use NetworkManagerChange::*;
        match self {
            NmModify { .. } => "connection-modify",
            NmUp { .. } => "connection-up",
            NmDown { .. } => "connection-down",
            NmReload => "reload",
            NmReloadConf => "reload-conf",
            NmLoad { .. } => "load",
            NmActivate { .. } => "activate",
            NmDeactivate { .. } => "deactivate",
        }
    }

    fn args(&self) -> String {
        use NetworkManagerChange::*;
        match self {
            NmModify { id, settings } => {
                let shown: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{id} {}", shown.join(" "))
            }
            NmUp { id } | NmDown { id } => id.clone(),
            NmReload | NmReloadConf => String::new(),
            NmLoad { path } => path.clone(),
            NmActivate { uuid, ifname } => format!("{uuid} on {ifname}"),
            NmDeactivate { uuid } => uuid.clone(),
        }
    }

    /// A profile's settings survive a reboot; activations do not.
    fn persistent(&self) -> bool {
        matches!(self, NetworkManagerChange::NmModify { .. })
    }

    /// Reloads and loads make NetworkManager take up what an undo put back.
    fn reapplies(&self) -> bool {
        use NetworkManagerChange::*;
        matches!(self, NmReload | NmReloadConf | NmLoad { .. })
    }

    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        use NetworkManagerChange::*;
        match self {
            NmModify { id, settings } => h.network_manager().connection_modify(id, settings),
            NmUp { id } => h.network_manager().connection_up(id),
            NmDown { id } => h.network_manager().connection_down(id),
            NmReload => h.network_manager().reload(),
            NmReloadConf => h.network_manager().reload_conf(),
            NmLoad { path } => h.network_manager().load(path),
            NmActivate { uuid, ifname } => h.network_manager().activate(uuid, ifname),
            NmDeactivate { uuid } => h.network_manager().deactivate(uuid),
        }
    }
}

shown_as_a_call!(NetworkManagerChange);
