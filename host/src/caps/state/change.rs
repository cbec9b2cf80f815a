//! The changes the `state` capability makes (the hook's own keys set or
//! deleted), how each is shown, and how one is made again as an undo step.

use serde::{Deserialize, Serialize};

use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::{CapError, Host};

/// One change a `state` call makes, journaled flat under its `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum StateChange {
    StateSet { key: String, value: String },
    StateDelete { key: String },
}

impl CapabilityChange for StateChange {
    const CAPABILITY: &'static str = "state";

    const TAGS: &'static [&'static str] = &["state-set", "state-delete"];

    /// The hook's own: bounded by the store's limits, not granted.
    fn grant(&self, _: &Grants) -> Result<(), CapError> {
        Ok(())
    }

    /// Not the node's: the hook's own.
    fn object(&self) -> Option<String> {
        None
    }

    fn operation(&self) -> &'static str {
        match self {
            StateChange::StateSet { .. } => "set",
            StateChange::StateDelete { .. } => "delete",
        }
    }

    fn args(&self) -> String {
        match self {
            StateChange::StateSet { key, value } => format!("{key} ({} bytes)", value.len()),
            StateChange::StateDelete { key } => key.clone(),
        }
    }

    /// nethook's state survives a reboot.
    fn persistent(&self) -> bool {
        true
    }

    /// Nothing takes it up again.
    fn reapplies(&self) -> bool {
        false
    }

    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        match self {
            StateChange::StateSet { key, value } => h.state().set(key, value),
            StateChange::StateDelete { key } => h.state().delete(key).map(drop),
        }
    }
}

shown_as_a_call!(StateChange);
