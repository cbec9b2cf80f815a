//! The NIC back under its name. When the dataplane's namespace goes while
//! its tap still holds the uplink's name (a VPP crash: the kernel frees a
//! namespace from a work queue, the tap goes when VPP's files close), the
//! kernel gives the NIC back under a free name of its own (`dev2`), and
//! nothing configures a `dev2`. The undo points find it by the permanent
//! address the hardware gave it (captured at before-if-read) and rename it
//! back before anything else. udev may have given it the uplink's name as
//! an alternative name meanwhile (its `ID_NET_NAME_SLOT`, say): the kernel
//! finds a link by that too, but it is not the link's name (no
//! /sys/class/net entry, nothing configures it by it), and it must be
//! taken off before the rename.

use super::{captures, info, warn, PERM_MAC};
use crate::caps::{CapError, Host};

/// Each captured uplink that is not found by name but whose permanent
/// address a link has: renamed back (down for the rename, up again if it
/// was). True when a link was renamed.
pub fn rename_back(host: &mut Host) -> Result<bool, CapError> {
    let mut renamed = false;
    for (name, cap) in captures(host)? {
        let Some(perm) = cap.get(PERM_MAC) else {
            continue;
        };
        let alt = match host.netlink().get_link(&name) {
            Ok(l) if l.name == name => continue,
            // `name` is an alternative name of this link.
            Ok(l) => Some(l.name),
            Err(CapError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let found = match alt.clone() {
            Some(holder) => {
                let d = host.udev().device(&holder)?;
                if d.perm_mac.as_deref() != Some(perm.as_str()) {
                    warn(
                        host,
                        &format!("{name} is an alternative name of {holder}, which is not the NIC; left as it is"),
                    );
                    continue;
                }
                Some(d)
            }
            None => host.udev().find_by_perm_mac(perm)?,
        };
        let Some(found) = found else {
            info(
                host,
                "the uplink is not back: no link has its permanent address",
                &[("uplink", &name), ("perm_mac", perm)],
            );
            continue;
        };
        if found.tun.is_some() {
            continue;
        }
        warn(
            host,
            &format!(
                "the NIC {name} came back as {}; renaming it back",
                found.name
            ),
        );
        let up = host.netlink().get_link(&found.name)?.up;
        if up {
            host.netlink().set_down(&found.name)?;
        }
        if alt.is_some() {
            host.del_alt_name(&found.name, &name)?;
        }
        host.netlink().rename(&found.name, &name)?;
        if up {
            host.netlink().set_up(&name)?;
        }
        renamed = true;
    }
    Ok(renamed)
}
