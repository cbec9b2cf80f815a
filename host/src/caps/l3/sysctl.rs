//! Per-interface sysctls (`net.ipv4.conf.<if>.<name>`,
//! `net.ipv6.conf.<if>.<name>`), read and written under /proc/sys of the
//! namespace they belong to. No other key is reachable.

use std::fmt;
use std::path::PathBuf;

use super::super::netlink::family_name;
use super::super::netns::{self, NetnsTarget};
use super::super::CapError;
use crate::bindings::nethook::hooks::netlink::Family;
use crate::names::IfName;

/// A parsed key: which family's `conf` table, whose, and which entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlKey {
    pub family: Family,
    /// A link name, or `all` / `default`.
    pub link: String,
    pub name: String,
}

impl SysctlKey {
    pub fn parse(key: &str) -> Result<SysctlKey, CapError> {
        let bad = |why: &str| {
            CapError::Invalid(format!(
                "sysctl {key:?} {why}; only net.ipv4.conf.<link>.<name> and net.ipv6.conf.<link>.<name> are reachable"
            ))
        };
        let (family, rest) = if let Some(r) = key.strip_prefix("net.ipv4.conf.") {
            (Family::Ipv4, r)
        } else if let Some(r) = key.strip_prefix("net.ipv6.conf.") {
            (Family::Ipv6, r)
        } else {
            return Err(bad("is not a per-interface key"));
        };
        // A link name may itself hold dots (`eth0.100`); the entry never does.
        let (link, name) = rest.rsplit_once('.').ok_or_else(|| bad("names no entry"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad("has a malformed entry name"));
        }
        if link != "all" && link != "default" {
            IfName::parse(link).map_err(|e| bad(&format!("names a bad link: {}", e.0)))?;
        }
        Ok(SysctlKey {
            family,
            link: link.to_string(),
            name: name.to_string(),
        })
    }

    pub fn of(family: Family, link: &str, name: &str) -> SysctlKey {
        SysctlKey {
            family,
            link: link.to_string(),
            name: name.to_string(),
        }
    }

    fn path(&self) -> PathBuf {
        let fam = family_name(self.family);
        PathBuf::from(format!(
            "/proc/sys/net/{fam}/conf/{}/{}",
            self.link, self.name
        ))
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = family_name(self.family);
        write!(f, "net.{fam}.conf.{}.{}", self.link, self.name)
    }
}

/// The value, without its trailing newline; `not-found` if the link or
/// entry does not exist in `ns` (a link without IPv6 has no ipv6 table).
pub fn read(ns: Option<&NetnsTarget>, key: &SysctlKey) -> Result<String, CapError> {
    let path = key.path();
    netns::within(ns, || {
        std::fs::read_to_string(&path)
            .map(|v| v.trim_end().to_string())
            .map_err(|e| io_error(key, ns, e))
    })
}

pub fn write(ns: Option<&NetnsTarget>, key: &SysctlKey, value: &str) -> Result<(), CapError> {
    let path = key.path();
    let value = format!("{value}\n");
    netns::within(ns, || {
        std::fs::write(&path, value.as_bytes()).map_err(|e| io_error(key, ns, e))
    })
}

fn io_error(key: &SysctlKey, ns: Option<&NetnsTarget>, e: std::io::Error) -> CapError {
    let text = format!("{key} in {}: {e}", netns::shown(ns));
    match e.kind() {
        std::io::ErrorKind::NotFound => CapError::NotFound(text),
        std::io::ErrorKind::InvalidInput => CapError::Invalid(text),
        _ => CapError::Failed(text),
    }
}

/// Whether `key` (as a hook gives it) is granted, judged on its
/// canonical form.
pub fn granted(g: &super::super::Grants, key: &str) -> Result<(), CapError> {
    g.sysctl(&SysctlKey::parse(key)?.to_string())
}

/// A value to write: one line of printable ASCII, as /proc/sys takes.
pub fn check_value(value: &str) -> Result<(), CapError> {
    if value.is_empty() || value.len() > 256 || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(CapError::Invalid(format!(
            "sysctl value {value:?} is not one line of printable text"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_dotted_link_names_and_nothing_else() {
        let k = SysctlKey::parse("net.ipv4.conf.eth0.100.rp_filter").unwrap();
        assert_eq!(
            (k.link.as_str(), k.name.as_str()),
            ("eth0.100", "rp_filter")
        );
        assert_eq!(
            k.path(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(k.to_string(), "net.ipv4.conf.eth0.100.rp_filter");
        assert!(SysctlKey::parse("net.ipv6.conf.all.forwarding").is_ok());
        for bad in [
            "net.ipv4.ip_forward",
            "kernel.core_pattern",
            "net.ipv4.conf.eth0",
            "net.ipv4.conf.../rp_filter",
            "net.ipv4.conf.eth0.RP",
            "net.ipv4.conf.a/b.rp_filter",
        ] {
            assert!(
                matches!(SysctlKey::parse(bad), Err(CapError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
