//! What NetworkManager accepts, checked before nmcli runs: connection
//! ids and UUIDs, setting names and values, keyfile paths. Nothing a hook
//! passes can be read as an option, or move a connection's effect to a
//! device outside its grants.

use crate::caps::CapError;

/// A NetworkManager connection id (`ConnectionId`'s grammar).
pub fn connection_id(id: &str) -> Result<(), CapError> {
    crate::names::ConnectionId::parse(id)
        .map(drop)
        .map_err(|e| CapError::Invalid(e.0))
}

/// A setting name like `ipv4.dhcp-timeout` (`+`/`-` prefixes of nmcli are
/// not accepted: use the full value).
pub fn nm_setting(name: &str) -> Result<(), CapError> {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !p.starts_with('-')
    };
    match name.split_once('.') {
        Some((a, b)) if part(a) && part(b) => Ok(()),
        _ => Err(CapError::Invalid(format!(
            "setting name {name:?} is not of the form <setting>.<property>"
        ))),
    }
}

/// Properties that say which connection it is or which device it lands
/// on (by name, MAC, parent, controller or match), per setting and its
/// nmcli alias; `*`: every property of the setting. A grant names a
/// connection: changing one of these would put its effect elsewhere.
const NM_BINDING: [(&[&str], &[&str]); 6] = [
    (
        &["connection"],
        &[
            "id",
            "uuid",
            "type",
            "interface-name",
            "controller",
            "master",
            "port-type",
            "slave-type",
        ],
    ),
    (&["match"], &["*"]),
    (
        &["802-3-ethernet", "ethernet"],
        &[
            "mac-address",
            "mac-address-blacklist",
            "mac-address-denylist",
            "s390-subchannels",
        ],
    ),
    (
        &["802-11-wireless", "wifi"],
        &[
            "mac-address",
            "mac-address-blacklist",
            "mac-address-denylist",
        ],
    ),
    (&["infiniband"], &["mac-address", "parent"]),
    (
        &[
            "vlan",
            "macvlan",
            "vxlan",
            "ip-tunnel",
            "macsec",
            "veth",
            "6lowpan",
        ],
        &["parent", "peer"],
    ),
];

/// A setting a hook may modify: not one that binds the connection to a
/// device or names it. nmcli takes any unique prefix of a setting or
/// property name (`con.interface` is `connection.interface-name`), so a
/// name that is a prefix of a binding one is refused too.
pub fn nm_setting_changeable(name: &str) -> Result<(), CapError> {
    nm_setting(name)?;
    let (setting, property) = name.split_once('.').expect("checked by nm_setting");
    let binding = NM_BINDING.iter().any(|(settings, props)| {
        settings.iter().any(|s| s.starts_with(setting))
            && props.iter().any(|p| *p == "*" || p.starts_with(property))
    });
    if binding {
        return Err(CapError::Invalid(format!(
            "{name} cannot be modified by a hook: it names the connection or the device it applies to, which would move its effect outside its grants"
        )));
    }
    Ok(())
}

/// A value passed as one argv element: no control characters besides tab.
pub fn nm_value(setting: &str, value: &str) -> Result<(), CapError> {
    if value.chars().any(|c| c.is_control() && c != '\t')
        || value.starts_with('-')
            && value.len() > 1
            && !value[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(CapError::Invalid(format!(
            "value {value:?} for {setting} has control characters or looks like an option"
        )));
    }
    Ok(())
}

/// A NetworkManager connection UUID: 8-4-4-4-12 hexadecimal digits.
pub fn nm_uuid(uuid: &str) -> Result<(), CapError> {
    let groups: Vec<&str> = uuid.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(CapError::Invalid(format!(
            "{uuid:?} is not a connection UUID"
        )))
    }
}

/// A keyfile NetworkManager loads profiles from: a normalised path to a
/// `.nmconnection` file directly in /etc or /run
/// `NetworkManager/system-connections`.
pub fn nm_keyfile_path(path: &str) -> Result<(), CapError> {
    let name = ["/etc", "/run"]
        .iter()
        .find_map(|d| path.strip_prefix(&format!("{d}/NetworkManager/system-connections/")));
    let ok = name.is_some_and(|n| {
        n.len() > ".nmconnection".len()
            && n.ends_with(".nmconnection")
            && !n.starts_with('.')
            && !n.contains('/')
            && !n.chars().any(char::is_control)
    });
    if ok {
        Ok(())
    } else {
        Err(CapError::Invalid(format!(
            "{path:?} is not a keyfile under /etc or /run NetworkManager/system-connections"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_uuids_and_keyfile_paths_follow_networkmanager() {
        assert!(nm_uuid("1d0b9236-0fb9-3ddd-b5d8-81a26b2af642").is_ok());
        for bad in [
            "",
            "uplink",
            "1d0b9236-0fb9-3ddd-b5d8-81a26b2af64",
            "1d0b9236-0fb9-3ddd-b5d8-81a26b2af642-",
            "--1d0b9236-0fb9-3ddd-b5d8-81a26b2af6",
            "1d0b9236_0fb9_3ddd_b5d8_81a26b2af642",
            "1d0b923g-0fb9-3ddd-b5d8-81a26b2af642",
        ] {
            assert!(nm_uuid(bad).is_err(), "{bad:?}");
        }
        assert!(nm_keyfile_path(
            "/run/NetworkManager/system-connections/nethook-ens3.nmconnection"
        )
        .is_ok());
        assert!(
            nm_keyfile_path("/etc/NetworkManager/system-connections/uplink.nmconnection").is_ok()
        );
        for bad in [
            "/run/NetworkManager/system-connections/.nmconnection",
            "/run/NetworkManager/system-connections/x.conf",
            "/run/NetworkManager/system-connections/sub/x.nmconnection",
            "/run/NetworkManager/x.nmconnection",
            "/tmp/x.nmconnection",
            "run/NetworkManager/system-connections/x.nmconnection",
            "/run/NetworkManager/system-connections/a\nb.nmconnection",
        ] {
            assert!(nm_keyfile_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_ids_and_values_are_checked() {
        assert!(connection_id("Wired connection 1").is_ok());
        for bad in ["", "-x", "a\nb", "--help"] {
            assert!(connection_id(bad).is_err(), "{bad:?}");
        }
        assert!(nm_setting("ipv4.dhcp-timeout").is_ok());
        assert!(nm_setting("802-3-ethernet.mtu").is_ok());
        for bad in [
            "ipv4",
            "ipv4.dhcp timeout",
            "+ipv4.dns",
            "-ipv4.dns",
            "ipv4.dns;x",
            "a.b.c",
        ] {
            assert!(nm_setting(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "ipv4.dhcp-timeout",
            "802-3-ethernet.mtu",
            "connection.autoconnect",
            "ipv6.addr-gen-mode",
        ] {
            assert!(nm_setting_changeable(ok).is_ok(), "{ok}");
        }
        for binding in [
            "802-3-ethernet.mac-address",
            "ethernet.mac-address",
            "802-3-ethernet.mac",
            "match.interface-name",
            "match.path",
            "connection.controller",
            "connection.master",
            "connection.interface-name",
            "connection.interface",
            "con.interface-name",
            "conn.id",
            "vlan.parent",
            "wifi.mac-address",
        ] {
            let e = nm_setting_changeable(binding).unwrap_err();
            assert!(
                e.to_string().contains("names the connection or the device"),
                "{binding}: {e}"
            );
        }
        assert!(nm_value("ipv4.dhcp-timeout", "infinity").is_ok());
        assert!(nm_value("ipv4.route-metric", "-1").is_ok());
        assert!(nm_value("x.y", "--help").is_err());
        assert!(nm_value("x.y", "a\nb").is_err());
    }
}
