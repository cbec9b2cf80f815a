//! The changes the `systemd` capability makes (unit operations,
//! daemon-reload, networkd's reloads) and its waits, what each needs
//! granted, how it is shown, and how one is made again as an undo step.

use serde::{Deserialize, Serialize};

use super::{UnitOp, NETWORKD};
use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::{CapError, Host};

/// One change a `systemd` call makes, journaled flat under its `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum SystemdChange {
    UnitStart {
        unit: String,
    },
    UnitStop {
        unit: String,
    },
    UnitRestart {
        unit: String,
    },
    UnitReload {
        unit: String,
    },
    UnitResetFailed {
        unit: String,
    },
    DaemonReload,
    /// `networkctl reload`: networkd's files read again.
    NetworkdReload,
    /// `networkctl reconfigure LINK`.
    NetworkdReconfigure {
        link: String,
    },
    /// A wait: nothing to undo, shown in plans.
    UnitWaitActive {
        unit: String,
        within: String,
    },
}

impl CapabilityChange for SystemdChange {
    const CAPABILITY: &'static str = "systemd";

    const TAGS: &'static [&'static str] = &[
        "unit-start",
        "unit-stop",
        "unit-restart",
        "unit-reload",
        "unit-reset-failed",
        "daemon-reload",
        "networkd-reload",
        "networkd-reconfigure",
        "unit-wait-active",
    ];

    fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use SystemdChange::*;
        match self {
            UnitStart { unit }
            | UnitStop { unit }
            | UnitRestart { unit }
            | UnitReload { unit }
            | UnitResetFailed { unit }
            | UnitWaitActive { unit, .. } => g.unit(unit),
            DaemonReload => g.daemon_reload(),
            NetworkdReload => g.unit(NETWORKD),
            NetworkdReconfigure { link } => g.unit(NETWORKD).and_then(|_| g.link(link)),
        }
    }

    /// The node object it changes: none for a reload or a wait.
    fn object(&self) -> Option<String> {
        use SystemdChange::*;
        match self {
            UnitStart { unit }
            | UnitStop { unit }
            | UnitRestart { unit }
            | UnitReload { unit }
            | UnitResetFailed { unit } => Some(format!("unit {unit}")),
            DaemonReload | NetworkdReload | NetworkdReconfigure { .. } | UnitWaitActive { .. } => {
                None
            }
        }
    }

    fn operation(&self) -> &'static str {
        use SystemdChange::*;
        match self {
            UnitStart { .. } => "start",
            UnitStop { .. } => "stop",
            UnitRestart { .. } => "restart",
            UnitReload { .. } => "reload",
            UnitResetFailed { .. } => "reset-failed",
            DaemonReload => "daemon-reload",
            NetworkdReload => "networkd-reload",
            NetworkdReconfigure { .. } => "networkd-reconfigure",
            UnitWaitActive { .. } => "wait-active",
        }
    }

    fn args(&self) -> String {
        use SystemdChange::*;
        match self {
            UnitStart { unit }
            | UnitStop { unit }
            | UnitRestart { unit }
            | UnitReload { unit }
            | UnitResetFailed { unit } => unit.clone(),
            DaemonReload | NetworkdReload => String::new(),
            NetworkdReconfigure { link } => link.clone(),
            UnitWaitActive { unit, within } => format!("{unit} within {within}"),
        }
    }

    /// Unit state does not survive a reboot.
    fn persistent(&self) -> bool {
        false
    }

    /// Restarts, reloads and reconfigures make a service take up what an
    /// undo put back.
    fn reapplies(&self) -> bool {
        use SystemdChange::*;
        matches!(
            self,
            UnitRestart { .. }
                | UnitReload { .. }
                | DaemonReload
                | NetworkdReload
                | NetworkdReconfigure { .. }
        )
    }

    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        use SystemdChange::*;
        match self {
            UnitStart { unit } => h.systemd().unit_op(UnitOp::Start, unit),
            UnitStop { unit } => h.systemd().unit_op(UnitOp::Stop, unit),
            UnitRestart { unit } => h.systemd().unit_op(UnitOp::Restart, unit),
            UnitReload { unit } => h.systemd().unit_op(UnitOp::Reload, unit),
            UnitResetFailed { unit } => h.systemd().unit_op(UnitOp::ResetFailed, unit),
            DaemonReload => h.systemd().daemon_reload(),
            NetworkdReload => h.systemd().networkd_reload(),
            NetworkdReconfigure { link } => h.systemd().networkd_reconfigure(link),
            UnitWaitActive { .. } => Err(CapError::Invalid(format!("{self} is not an undo step"))),
        }
    }
}

shown_as_a_call!(SystemdChange);
