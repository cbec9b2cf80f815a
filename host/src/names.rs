//! One type per name grammar, parsed once where a name enters nethook (the
//! config, the command line, the dataplane's variables, a hook's call) and
//! carried as that type down to the syscall or command that uses it.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;

/// Why a name was refused, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $name::parse(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type!(
    /// An interface name as the kernel accepts it (dev_valid_name), and
    /// never one that a command could take for an option.
    IfName
);
name_type!(
    /// A hook's name: it keys the state store, the journal and log lines.
    HookName
);
name_type!(
    /// A systemd unit name per systemd.unit(5), with its suffix (a bare
    /// name means `<name>.service`).
    UnitName
);
name_type!(
    /// A NetworkManager connection id: any text NetworkManager accepts as
    /// an id, except what could be taken for an nmcli option or break a line.
    ConnectionId
);

const UNIT_SUFFIXES: [&str; 11] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

impl UnitName {
    pub fn parse(name: &str) -> Result<UnitName, NameError> {
        let bad = |why: &str| Err(NameError(format!("unit name {name:?} {why}")));
        if name.is_empty() || name.len() > 255 {
            return bad("must be 1-255 characters");
        }
        if name.starts_with('-') || name.starts_with('.') {
            return bad("must not start with '-' or '.'");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@'))
        {
            return bad("may contain only ASCII letters, digits and : - _ . \\ @");
        }
        match name.rsplit_once('.') {
            Some((stem, suffix)) if UNIT_SUFFIXES.contains(&suffix) => {
                if stem.is_empty() || stem.matches('@').count() > 1 {
                    return bad("has an empty or malformed name before its suffix");
                }
                Ok(UnitName(name.to_string()))
            }
            _ => UnitName::parse(&format!("{name}.service")),
        }
    }
}

impl ConnectionId {
    pub fn parse(id: &str) -> Result<ConnectionId, NameError> {
        if id.is_empty()
            || id.len() > 255
            || id.starts_with('-')
            || id.chars().any(char::is_control)
        {
            return Err(NameError(format!(
                "connection id {id:?} must be 1-255 characters, not start with '-', and have no control characters"
            )));
        }
        Ok(ConnectionId(id.to_string()))
    }
}

impl IfName {
    pub fn parse(name: &str) -> Result<IfName, NameError> {
        let ok = !name.is_empty()
            && name.len() < 16
            && name != "."
            && name != ".."
            && !name.starts_with('-')
            && !name
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
        match ok {
            true => Ok(IfName(name.to_string())),
            false => Err(NameError(format!(
                "{name:?} is not a valid interface name (1-15 bytes, no '/', ':' or whitespace, not starting with '-')"
            ))),
        }
    }
}

/// Names nethook's own actors carry in the state store, the journal, the
/// audit and the log: a hook called so would share the built-in module's
/// state and its recovery grants, or pass for nethook itself.
pub const RESERVED_HOOK_NAMES: [&str; 4] = [BUILTIN_HOOK, SCRIPT_HOOK, "verify", "nethook"];
/// What the built-in module's calls, state and journal go under.
pub const BUILTIN_HOOK: &str = "builtin";
/// What a legacy script's log lines and journal go under.
pub const SCRIPT_HOOK: &str = "script";

impl HookName {
    pub fn parse(name: &str) -> Result<HookName, NameError> {
        if RESERVED_HOOK_NAMES.contains(&name) {
            return Err(NameError(format!(
                "hook name {name:?} is reserved: the built-in module, legacy scripts, verification and nethook itself act under the names {}",
                RESERVED_HOOK_NAMES.join(", ")
            )));
        }
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        match ok {
            true => Ok(HookName(name.to_string())),
            false => Err(NameError(format!(
                "hook name {name:?} must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernels_rules_and_never_look_like_options() {
        for ok in ["eth0", "ens5", "enp0s31f6", "a-b_c.d", "x23456789012345"] {
            assert_eq!(IfName::parse(ok).unwrap(), ok);
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "x234567890123456",
            "a\nb",
            "-x",
        ] {
            assert!(IfName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            IfName::parse("-x").unwrap_err().to_string(),
            "\"-x\" is not a valid interface name (1-15 bytes, no '/', ':' or whitespace, not starting with '-')"
        );
    }

    #[test]
    fn unit_names_are_canonical_and_connection_ids_never_options() {
        assert_eq!(
            UnitName::parse("NetworkManager").unwrap(),
            "NetworkManager.service"
        );
        assert_eq!(UnitName::parse("a@b.socket").unwrap(), "a@b.socket");
        for bad in ["", "-x", ".x", "a b", "a;b"] {
            assert!(UnitName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ConnectionId::parse("Wired connection 1").is_ok());
        assert!(ConnectionId::parse("--help").is_err() && ConnectionId::parse("a\nb").is_err());
    }

    #[test]
    fn hook_names_are_lowercase_words() {
        assert!(HookName::parse("eks").is_ok() && HookName::parse("a_b-1").is_ok());
        for reserved in RESERVED_HOOK_NAMES {
            assert!(HookName::parse(reserved)
                .unwrap_err()
                .0
                .contains("is reserved"));
        }
        for bad in ["", "Eks", "-a", "a b", &"x".repeat(65)] {
            assert!(HookName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
