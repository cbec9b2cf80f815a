//! The changes the `udev` capability makes (rules reloaded, devices
//! triggered) and its wait, what each needs granted, how it is shown, and
//! how one is made again as an undo step.

use serde::{Deserialize, Serialize};

use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::{CapError, Host};

/// One change a `udev` call makes, journaled flat under its `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum UdevChange {
    UdevReloadRules,
    UdevTrigger {
        subsystem: String,
        action: String,
    },
    /// `udevadm trigger --settle` for one network device.
    UdevTriggerDevice {
        link: String,
        action: String,
    },
    /// A wait: nothing to undo, shown in plans.
    UdevSettle {
        within: String,
    },
}

impl CapabilityChange for UdevChange {
    const CAPABILITY: &'static str = "udev";

    const TAGS: &'static [&'static str] = &[
        "udev-reload-rules",
        "udev-trigger",
        "udev-trigger-device",
        "udev-settle",
    ];

    fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use UdevChange::*;
        match self {
            UdevReloadRules | UdevTrigger { .. } | UdevSettle { .. } => g.udev(),
            UdevTriggerDevice { link, .. } => g.udev().and_then(|_| g.link(link)),
        }
    }

    /// No lasting node object: reloads, triggers and waits.
    fn object(&self) -> Option<String> {
        None
    }

    fn operation(&self) -> &'static str {
        use UdevChange::*;
        match self {
            UdevReloadRules => "reload-rules",
            UdevTrigger { .. } => "trigger",
            UdevTriggerDevice { .. } => "trigger-device",
            UdevSettle { .. } => "settle",
        }
    }

    fn args(&self) -> String {
        use UdevChange::*;
        match self {
            UdevReloadRules => String::new(),
            UdevTrigger { subsystem, action } => format!("subsystem={subsystem} action={action}"),
            UdevTriggerDevice { link, action } => format!("{link} action={action}"),
            UdevSettle { within } => within.clone(),
        }
    }

    /// Nothing of udev's survives a reboot.
    fn persistent(&self) -> bool {
        false
    }

    /// Reloads and triggers make udev take up what an undo put back.
    fn reapplies(&self) -> bool {
        use UdevChange::*;
        matches!(
            self,
            UdevReloadRules | UdevTrigger { .. } | UdevTriggerDevice { .. }
        )
    }

    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        use UdevChange::*;
        match self {
            UdevTriggerDevice { link, action } => h.udev().trigger_device(link, action),
            UdevReloadRules => h.udev().reload_rules(),
            UdevTrigger { subsystem, action } => h.udev().trigger(subsystem, action),
            UdevSettle { .. } => Err(CapError::Invalid(format!("{self} is not an undo step"))),
        }
    }
}

shown_as_a_call!(UdevChange);
