//! Names checked against their real grammars before any command runs, so
//! nothing a hook passes can be read as an option or reach a shell: the
//! grammars more than one capability uses. A capability's own (a
//! NetworkManager setting, a udev action) live with it.

use super::CapError;

/// A unit name per systemd.unit(5), canonical (`UnitName`'s grammar).
pub fn unit(name: &str) -> Result<String, CapError> {
    crate::names::UnitName::parse(name)
        .map(|u| u.to_string())
        .map_err(|e| CapError::Invalid(e.0))
}

/// An interface name as the kernel accepts it: `IfName`'s grammar, the
/// one the config and command line use too.
pub fn ifname(name: &str) -> Result<(), CapError> {
    crate::names::IfName::parse(name)
        .map(drop)
        .map_err(|e| CapError::Invalid(e.0))
}

/// A host name to resolve: RFC 1123 labels (letters, digits, '-', '_'
/// as DNS-SD names use it), dot-separated, at most 253 bytes.
pub fn hostname(name: &str) -> Result<(), CapError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(CapError::Invalid(format!("{name:?} is not a host name")))
    }
}

/// A network namespace name under /run/netns.
pub fn netns_name(name: &str) -> Result<(), CapError> {
    if name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(CapError::Invalid(format!(
            "network namespace name {name:?} is not a name under /run/netns"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_follow_systemd_unit_5() {
        assert_eq!(unit("NetworkManager").unwrap(), "NetworkManager.service");
        assert_eq!(
            unit("systemd-networkd.service").unwrap(),
            "systemd-networkd.service"
        );
        assert_eq!(unit("getty@tty1.service").unwrap(), "getty@tty1.service");
        assert_eq!(unit("dev-sda1.device").unwrap(), "dev-sda1.device");
        for bad in [
            "foo.service; reboot",
            "foo bar.service",
            "foo\n.service",
            "-foo.service",
            "--now",
            "../x.service",
            "",
            ".service",
        ] {
            assert!(matches!(unit(bad), Err(CapError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn other_names_are_checked() {
        assert!(ifname("eth0").is_ok());
        for bad in ["eth 0", "-eth0", "../x", "a\nb", "toolongname12345"] {
            assert!(ifname(bad).is_err(), "{bad:?}");
        }
        assert!(netns_name("blue").is_ok() && netns_name("../x").is_err());
    }
}
