//! EC2 nodes whose uplink systemd-networkd configures, as the dataplane's
//! own hook handles them: the uplink's `.network` often matches by MAC or
//! driver, which the dataplane's tap does not have, so networkd leaves the
//! tap unmanaged, its DHCP lease lapses and the node is lost. While the
//! dataplane runs, a copy of the file matching the uplink by name takes
//! over; when it stops, what was there before is put back byte for byte
//! (an admin's edit in between is kept, as for the DNS fix).
//!
//! Unlike the dataplane, no command output is parsed: networkd's own link
//! state files say which `.network` configures a link and whether it does.

use serde::{Deserialize, Serialize};

use super::{info, read_opt, write_file};
use crate::caps::{CapError, Host};
use crate::names::IfName;

/// DMI as sysfs exposes it (`dmidecode -s bios-vendor` reads the same);
/// the real path, since host-fs follows no symlink (/sys/class/dmi/id).
pub const DMI_FILES: [&str; 2] = [
    "/sys/devices/virtual/dmi/id/bios_vendor",
    "/sys/devices/virtual/dmi/id/sys_vendor",
];
/// The raw SMBIOS structure table, for kernels without the DMI id files.
pub const SMBIOS_TABLE: &str = "/sys/firmware/dmi/tables/DMI";
const VENDOR: &str = "Amazon EC2";
/// networkd's state of a link: `ADMIN_STATE=`, `NETWORK_FILE=`.
pub const LINK_STATE_DIR: &str = "/run/systemd/netif/links";
pub const NETWORK_DIR: &str = "/etc/systemd/network";
pub const HEADER: &str = "# Written by nethook while the dataplane runs: matches the uplink by name so that its tap is managed too; what was here before comes back when the dataplane stops.";
const SAVED: &str = "ec2.saved.";

/// DMI says this is an EC2 instance.
pub fn is_ec2(host: &mut Host) -> Result<bool, CapError> {
    for path in DMI_FILES {
        if let Some(text) = read_opt(host, path)? {
            if text.contains(VENDOR) {
                return Ok(true);
            }
        }
    }
    match host.host_fs().read(SMBIOS_TABLE) {
        Ok(table) => Ok(smbios_vendors(&table).iter().any(|v| v.contains(VENDOR))),
        Err(CapError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The BIOS vendor (type 0) and system manufacturer (type 1) strings of
/// an SMBIOS structure table.
pub fn smbios_vendors(table: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= table.len() {
        let (kind, len) = (table[at], table[at + 1] as usize);
        if len < 4 || at + len > table.len() {
            break;
        }
        // The strings follow the formatted area, ending with two NULs.
        let strings_at = at + len;
        let end = table[strings_at..]
            .windows(2)
            .position(|w| w == [0, 0])
            .map_or(table.len(), |p| strings_at + p + 2);
        let strings: Vec<&[u8]> = table[strings_at..end].split(|b| *b == 0).collect();
        if matches!(kind, 0 | 1) && len > 4 {
            let index = table[at + 4] as usize;
            if let Some(s) = index.checked_sub(1).and_then(|i| strings.get(i)) {
                out.push(String::from_utf8_lossy(s).into_owned());
            }
        }
        if kind == 127 {
            break;
        }
        at = end;
    }
    out
}

/// What networkd says of a link.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    pub admin: String,
    pub network_file: Option<String>,
}

pub(super) fn link_state(host: &mut Host, ifname: &str) -> Result<Option<LinkState>, CapError> {
    let index = match host.netlink().get_link(ifname) {
        Ok(link) => link.index,
        Err(CapError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(text) = read_opt(host, &format!("{LINK_STATE_DIR}/{index}"))? else {
        return Ok(None);
    };
    let mut state = LinkState::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("ADMIN_STATE", v)) => state.admin = v.to_string(),
            Some(("NETWORK_FILE", v)) if !v.is_empty() => state.network_file = Some(v.to_string()),
            _ => {}
        }
    }
    Ok(Some(state))
}

/// networkd's admin state of a link once it has decided what to do with
/// it: right after a restart a link may still be `pending` (waiting for
/// udev) or have no state file yet. Bounded by a few seconds.
pub(super) fn settled_state(host: &mut Host, ifname: &str) -> Result<String, CapError> {
    const SETTLE_STEPS: usize = 50;
    let mut admin = String::new();
    for _ in 0..SETTLE_STEPS {
        admin = link_state(host, ifname)?
            .map(|s| s.admin)
            .unwrap_or_default();
        if !matches!(admin.as_str(), "" | "pending" | "initialized") {
            break;
        }
        host.sleep(std::time::Duration::from_millis(100));
    }
    Ok(admin)
}

/// The `.network` that configured an uplink before the dataplane took it.
#[derive(Serialize, Deserialize)]
struct Saved {
    file: String,
    text: String,
}

/// before-vpp-run: for each uplink networkd has configured, the file it
/// used.
pub fn save(host: &mut Host, uplinks: &[IfName]) -> Result<(), CapError> {
    for uplink in uplinks {
        let Some(state) = link_state(host, uplink)? else {
            continue;
        };
        let managed = matches!(state.admin.as_str(), "configured" | "configuring");
        let (true, Some(file)) = (managed, state.network_file) else {
            info(
                host,
                "EC2: uplink not configured by systemd-networkd; its .network is left alone",
                &[("uplink", uplink), ("state", &state.admin)],
            );
            continue;
        };
        let Some(text) = read_opt(host, &file)? else {
            continue;
        };
        let saved = Saved {
            file: file.clone(),
            text,
        };
        super::keep(host, &format!("{SAVED}{uplink}"), &saved)?;
        info(
            host,
            "EC2: saved the uplink's .network",
            &[("uplink", uplink), ("file", &file)],
        );
    }
    Ok(())
}

/// vpp-running: each saved uplink that networkd now leaves unmanaged gets
/// the saved file matched by name. True when a file was written.
pub fn tweak(host: &mut Host, uplinks: &[IfName]) -> Result<bool, CapError> {
    let mut wrote = false;
    for uplink in uplinks {
        let Some(saved): Option<Saved> = super::recall(host, &format!("{SAVED}{uplink}"))? else {
            continue;
        };
        if settled_state(host, uplink)? != "unmanaged" {
            continue;
        }
        let path = format!("{NETWORK_DIR}/{uplink}.network");
        info(
            host,
            "EC2: the uplink is unmanaged while the dataplane runs; matching its .network by name",
            &[("uplink", uplink), ("from", &saved.file), ("file", &path)],
        );
        write_file(host, &path, &render(uplink, &saved.text), 0o644)?;
        wrote = true;
    }
    Ok(wrote)
}

/// The saved file with its `[Match]` sections replaced by `Name=<uplink>`.
pub fn render(uplink: &str, original: &str) -> String {
    let ours = format!("{HEADER}\n[Match]\nName={uplink}\n\n");
    // In a crash loop the file saved may be our own from the last run.
    let original = original.strip_prefix(&ours).unwrap_or(original);
    let mut out = ours;
    let mut in_match = false;
    for line in original.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_match = t == "[Match]";
        }
        if !in_match {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// vpp-done-ok / vpp-errored: put back what `tweak` replaced (from the
/// journal: with its records lost, what was there before is not known, so
/// the file is left), forget what `save` kept. True when the node changed.
pub fn undo(host: &mut Host, uplinks: &[String]) -> Result<bool, CapError> {
    let mut changed = false;
    for uplink in uplinks {
        let path = format!("{NETWORK_DIR}/{uplink}.network");
        changed |= host.undo_file(&path)?.unwrap_or(false);
    }
    for key in host.state().keys()? {
        if key.starts_with(SAVED) {
            host.state().delete(&key)?;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_match_section_is_replaced_by_the_name() {
        let admin = "# admin's\n[Match]\nMACAddress=02:00:00:00:00:01\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nUseMTU=true\n";
        let ours = render("ens5", admin);
        assert_eq!(
            ours,
            format!("{HEADER}\n[Match]\nName=ens5\n\n# admin's\n[Network]\nDHCP=yes\n\n[DHCPv4]\nUseMTU=true\n")
        );
        // Rendering our own file again gives the same file.
        assert_eq!(render("ens5", &ours), ours);
    }

    /// A table as the kernel exposes it: type 0 with vendor string 1,
    /// type 1 with manufacturer string 2, then the end-of-table marker.
    #[test]
    fn smbios_vendor_strings_are_read() {
        let mut t = vec![0u8, 24, 0, 0, 1];
        t.resize(24, 0);
        t.extend_from_slice(b"Amazon EC2\0\0");
        let mut sys = vec![1u8, 27, 1, 0, 2];
        sys.resize(27, 0);
        t.extend_from_slice(&sys);
        t.extend_from_slice(b"x\0Amazon EC2\0\0");
        t.extend_from_slice(&[127, 4, 2, 0, 0, 0]);
        assert_eq!(smbios_vendors(&t), ["Amazon EC2", "Amazon EC2"]);
        assert!(smbios_vendors(&[0, 2]).is_empty());
        assert!(smbios_vendors(&[0, 30, 0, 0, 1]).is_empty());
    }
}
