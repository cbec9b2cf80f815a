//! What udevadm accepts, checked before it runs.

use crate::caps::CapError;

/// A udev subsystem name (`net`, `block`, ...).
pub fn subsystem(name: &str) -> Result<(), CapError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        || name.starts_with('-')
    {
        return Err(CapError::Invalid(format!(
            "subsystem {name:?} is not a udev subsystem name"
        )));
    }
    Ok(())
}

/// A uevent action udevadm trigger accepts.
pub fn uevent_action(action: &str) -> Result<(), CapError> {
    const ACTIONS: [&str; 8] = [
        "add", "remove", "change", "move", "online", "offline", "bind", "unbind",
    ];
    if ACTIONS.contains(&action) {
        Ok(())
    } else {
        Err(CapError::Invalid(format!(
            "action {action:?} is not one of {}",
            ACTIONS.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsystems_and_actions_are_checked() {
        assert!(subsystem("net").is_ok() && subsystem("-net").is_err());
        assert!(uevent_action("change").is_ok() && uevent_action("reboot").is_err());
    }
}
