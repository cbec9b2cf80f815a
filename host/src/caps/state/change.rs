//! The changes the `state` capability makes (the hook's own keys set or
//! deleted), how each is shown, and how one is made again as an undo step.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::caps::grants::Grants;
use crate::caps::{CapError, Host};

/// One change a `state` call makes, journaled flat under its `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum StateChange {
    StateSet { key: String, value: String },
    StateDelete { key: String },
}

impl StateChange {
    /// The WIT interface, as audited.
    pub const CAPABILITY: &'static str = "state";

    /// Its `change` tags, as journaled: one per variant.
    pub const TAGS: &'static [&'static str] = &["state-set", "state-delete"];

    /// The hook's own: bounded by the store's limits, not granted.
    pub fn grant(&self, _: &Grants) -> Result<(), CapError> {
        Ok(())
    }

    /// Not the node's: the hook's own.
    pub fn object(&self) -> Option<String> {
        None
    }

    /// The operation, as audited.
    pub fn operation(&self) -> &'static str {
        match self {
            StateChange::StateSet { .. } => "set",
            StateChange::StateDelete { .. } => "delete",
        }
    }

    /// The arguments, as audited and planned.
    pub fn args(&self) -> String {
        match self {
            StateChange::StateSet { key, value } => format!("{key} ({} bytes)", value.len()),
            StateChange::StateDelete { key } => key.clone(),
        }
    }

    /// nethook's state survives a reboot.
    pub fn persistent(&self) -> bool {
        true
    }

    /// Nothing takes it up again.
    pub fn reapplies(&self) -> bool {
        false
    }

    /// Made again through the view, as an undo step.
    pub(in crate::caps) fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        match self {
            StateChange::StateSet { key, value } => h.state().set(key, value),
            StateChange::StateDelete { key } => h.state().delete(key).map(drop),
        }
    }
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} {}",
            Self::CAPABILITY,
            self.operation(),
            self.args()
        )
    }
}
