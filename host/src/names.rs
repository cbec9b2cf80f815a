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

impl HookName {
    pub fn parse(name: &str) -> Result<HookName, NameError> {
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
    fn hook_names_are_lowercase_words() {
        assert!(HookName::parse("eks").is_ok() && HookName::parse("a_b-1").is_ok());
        for bad in ["", "Eks", "-a", "a b", &"x".repeat(65)] {
            assert!(HookName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
