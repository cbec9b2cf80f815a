//! The node's DHCP lease on a systemd-networkd node while the dataplane
//! holds its NIC.
//!
//! networkd configures a new link by itself once udev has initialized it,
//! so the dataplane's tap (the NIC's name and MAC) gets the uplink's
//! `.network` and a DHCP client with no restart. What the server sees of
//! that client is derived from udev's `ID_NET_NAME_*` of the link (the
//! DHCPv4 client identifier's and the DHCPv6 IAID's hash,
//! dhcp-identifier.c) and from the machine (the DUID): with the NIC's
//! names on the tap, which the module's udev rule gives it, it is the
//! NIC's client and renews the NIC's lease. The rule is loaded before the
//! tap appears; at vpp-running the module checks that the tap has the
//! names (else the rules run again for it, `udevadm trigger` on the one
//! device) and that networkd's client on it has the NIC's identity (else
//! `networkctl reconfigure` on the one link). No restart.

use serde::{Deserialize, Serialize};

use super::{info, read_opt, warn};
use crate::caps::{CapError, Host};

const KEY_NIC: &str = "lease.networkd.";
/// networkd's state of a link (`networkctl status` reads the same).
const LINK_STATE_DIR: &str = "/run/systemd/netif/links";
const LEASE_DIR: &str = "/run/systemd/netif/leases/";

/// What networkd said of the NIC at before-if-read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub network_file: Option<String>,
    pub client_id: Option<String>,
    pub iaid6: Option<String>,
    pub duid: Option<String>,
}

/// networkd's state file of a link, `KEY=VALUE` lines; None when there is
/// no such link or networkd has no state of it.
pub fn link_state(
    host: &mut Host,
    ifname: &str,
) -> Result<Option<Vec<(String, String)>>, CapError> {
    let index = match host.netlink().get_link(ifname) {
        Ok(link) => link.index,
        Err(CapError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(
        read_opt(host, &format!("{LINK_STATE_DIR}/{index}"))?.map(|text| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
    )
}

impl Nic {
    /// The first of the DHCP identities both know that `now` has otherwise
    /// than `self` ("DHCPv6 IAID is X, the NIC's was Y"); None when all
    /// known to both agree. networkd derives them from the link's udev
    /// names (else its MAC) when its client starts: a client that derived
    /// them otherwise is another client to the server, which leases it
    /// another address.
    pub fn differs(&self, now: &Nic) -> Option<String> {
        [
            ("DHCPv4 client identifier", &self.client_id, &now.client_id),
            ("DHCPv6 IAID", &self.iaid6, &now.iaid6),
            ("DHCPv6 DUID", &self.duid, &now.duid),
        ]
        .into_iter()
        .find_map(|(what, was, is)| match (was, is) {
            (Some(was), Some(is)) if was != is => {
                Some(format!("{what} is {is}, the NIC's was {was}"))
            }
            _ => None,
        })
    }
}

fn value(state: &[(String, String)], key: &str) -> Option<String> {
    state
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// What networkd's state says of a link's DHCP clients: the DHCPv6 IAID
/// and DUID from the link's state, the DHCPv4 client identifier from its
/// lease (`DHCP_LEASE=`, a file under /run/systemd/netif/leases).
fn nic_of(host: &mut Host, state: &[(String, String)]) -> Result<Nic, CapError> {
    let lease = match value(state, "DHCP_LEASE").filter(|p| p.starts_with(LEASE_DIR)) {
        Some(path) => read_opt(host, &path)?.unwrap_or_default(),
        None => String::new(),
    };
    let client_id = lease
        .lines()
        .find_map(|l| l.strip_prefix("CLIENTID="))
        .map(str::to_string);
    Ok(Nic {
        network_file: value(state, "NETWORK_FILE"),
        client_id,
        iaid6: value(state, "DHCP6_CLIENT_IAID"),
        duid: value(state, "DHCP6_CLIENT_DUID"),
    })
}

/// before-if-read: which `.network` configures the NIC and the identity
/// of its DHCP clients. A NIC networkd does not configure (in a crash
/// loop, not back yet) keeps the earlier capture.
pub fn capture(host: &mut Host, uplink: &str) -> Result<(), CapError> {
    let key = format!("{KEY_NIC}{uplink}");
    let state = link_state(host, uplink)?.unwrap_or_default();
    let admin = value(&state, "ADMIN_STATE").unwrap_or_default();
    if !matches!(admin.as_str(), "configured" | "configuring") {
        if host.state().get(&key)?.is_none() {
            warn(host, &format!("lease: systemd-networkd does not configure {uplink} ({admin:?}); no DHCP identity to compare the tap's with"));
        }
        return Ok(());
    }
    let nic = nic_of(host, &state)?;
    let json = super::keep(host, &key, &nic)?;
    info(
        host,
        "lease: captured the NIC's network file and DHCP identity",
        &[("uplink", uplink), ("values", &json)],
    );
    Ok(())
}

fn nic(host: &mut Host, uplink: &str) -> Result<Option<Nic>, CapError> {
    super::recall(host, &format!("{KEY_NIC}{uplink}"))
}

/// networkd's admin state of a link once it has decided (not pending,
/// initialized or configuring), polled for up to `steps` quarter seconds.
fn settled(host: &mut Host, uplink: &str, steps: usize) -> Result<Vec<(String, String)>, CapError> {
    let mut state = Vec::new();
    for _ in 0..steps {
        state = link_state(host, uplink)?.unwrap_or_default();
        let admin = value(&state, "ADMIN_STATE").unwrap_or_default();
        if !matches!(
            admin.as_str(),
            "" | "pending" | "initialized" | "configuring"
        ) {
            break;
        }
        host.sleep(std::time::Duration::from_millis(250));
    }
    Ok(state)
}

/// vpp-running on one uplink: the tap's names and networkd's client on it.
pub fn take_over(
    host: &mut Host,
    uplink: &str,
    names: &super::rules::Capture,
) -> Result<super::lease::TakeOver, CapError> {
    use super::lease::TakeOver;
    let dev = match host.udev().device(uplink) {
        Ok(d) => d,
        Err(CapError::NotFound(why)) => return Ok(TakeOver::NotKept(why)),
        Err(e) => return Err(e),
    };
    if dev.tun.is_none() {
        info(
            host,
            "lease: the uplink is not a tap; systemd-networkd keeps managing it",
            &[("uplink", uplink)],
        );
        return Ok(TakeOver::NotATap);
    }
    let wanted: Vec<(&String, &String)> = names
        .iter()
        .filter(|(k, _)| super::rules::PROPERTIES.contains(&k.as_str()))
        .collect();
    let has_names = |host: &mut Host| -> Result<bool, CapError> {
        let props = match host.udev().properties(uplink) {
            Ok(p) => p,
            Err(CapError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(wanted
            .iter()
            .all(|(k, v)| props.iter().any(|(pk, pv)| pk == *k && pv == *v)))
    };
    let mut reconfigure = None;
    if !wanted.is_empty() && !has_names(host)? {
        // The rule matches the MAC, which the dataplane sets after it
        // created the tap: udev may have handled the tap's "add" before.
        info(
            host,
            "lease: the tap lacks the NIC's udev names; running the rules for it again",
            &[("uplink", uplink)],
        );
        host.udev().trigger_device(uplink, "change")?;
        if !has_names(host)? {
            return Ok(TakeOver::NotKept(format!(
                "udev did not give the tap {uplink} the NIC's names: networkd's DHCP client on it is another client"
            )));
        }
        reconfigure = Some("its DHCP client started before the tap had the NIC's names");
    }
    let state = settled(host, uplink, 40)?;
    let admin = value(&state, "ADMIN_STATE").unwrap_or_default();
    if admin == "unmanaged" {
        return Ok(TakeOver::NotKept(format!(
            "systemd-networkd leaves the tap {uplink} unmanaged: no .network matches it"
        )));
    }
    let tap = nic_of(host, &state)?;
    if let Some(nic) = nic(host, uplink)? {
        if let Some(differs) = nic.differs(&tap) {
            if reconfigure.is_none() {
                info(
                    host,
                    &format!("lease: the tap's {differs}"),
                    &[("uplink", uplink)],
                );
                reconfigure = Some("its DHCP client identifies itself otherwise than the NIC's");
            }
        }
    }
    if !matches!(admin.as_str(), "configured" | "configuring") && reconfigure.is_none() {
        reconfigure = Some("systemd-networkd has not configured it");
    }
    if let Some(why) = reconfigure {
        info(
            host,
            "lease: reconfiguring the tap",
            &[("uplink", uplink), ("why", why), ("state", &admin)],
        );
        host.systemd().networkd_reconfigure(uplink)?;
    }
    let state = settled(host, uplink, 40)?;
    let tap = nic_of(host, &state)?;
    info(
        host,
        "lease: the node's DHCP client runs on the tap",
        &[
            ("uplink", uplink),
            ("state", &value(&state, "ADMIN_STATE").unwrap_or_default()),
            ("client_id", tap.client_id.as_deref().unwrap_or("none")),
            ("iaid6", tap.iaid6.as_deref().unwrap_or("none")),
        ],
    );
    Ok(TakeOver::Kept)
}

/// Undo points: the returned NIC configured by networkd as the NIC's own
/// DHCP client (it picks a returned link up by itself; a reconfigure where
/// it did not, or where its client is not the NIC's). Some(why) when it is
/// not. "configuring" is networkd's client at work on the link (a DHCP
/// exchange takes a few seconds, or longer with no server): it is the
/// NIC's own configuration, not something nethook must fix.
///
/// The identity is compared because networkd configures a NIC the
/// dataplane hands back at once (after a crash, the moment the rename back
/// makes it match its `.network`; after a failed start, under its own
/// name), racing udev's handling of the link: a client that identifies
/// itself otherwise than the NIC's gets another address from the server
/// (seen: IAID f84b97aa for the NIC's b55e67ff, 10.97.0.118 for .117), and
/// the node's address is lost. A reconfigure starts the NIC's own client.
pub fn give_back(host: &mut Host, uplink: &str) -> Result<Option<String>, CapError> {
    const OWN: [&str; 2] = ["configured", "configuring"];
    let state = settled(host, uplink, 20)?;
    let admin = value(&state, "ADMIN_STATE").unwrap_or_default();
    let why = if OWN.contains(&admin.as_str()) {
        let now = nic_of(host, &state)?;
        match nic(host, uplink)?.and_then(|was| was.differs(&now)) {
            None => return Ok(None),
            Some(differs) => format!("its {differs}"),
        }
    } else {
        if link_state(host, uplink)?.is_none() && host.netlink().get_link(uplink).is_err() {
            return Ok(Some(format!("{uplink} is not back")));
        }
        "systemd-networkd has not configured it".to_string()
    };
    info(
        host,
        "lease: reconfiguring the returned NIC",
        &[("uplink", uplink), ("state", &admin), ("why", &why)],
    );
    host.systemd().networkd_reconfigure(uplink)?;
    let state = settled(host, uplink, 20)?;
    let admin = value(&state, "ADMIN_STATE").unwrap_or_default();
    if !OWN.contains(&admin.as_str()) {
        return Ok(Some(format!(
            "systemd-networkd has {uplink} {admin:?} after a reconfigure"
        )));
    }
    let now = nic_of(host, &state)?;
    Ok(nic(host, uplink)?
        .and_then(|was| was.differs(&now))
        .map(|differs| format!("after a reconfigure its {differs}")))
}

#[cfg(test)]
mod tests {
    use super::Nic;

    fn nic(client_id: Option<&str>, iaid6: Option<&str>) -> Nic {
        Nic {
            network_file: Some("/etc/systemd/network/10-uplink.network".into()),
            client_id: client_id.map(Into::into),
            iaid6: iaid6.map(Into::into),
            duid: Some("0002000ab11d1fb7b1d8759b99a".into()),
        }
    }

    #[test]
    fn a_client_is_the_nics_unless_an_identity_both_know_differs() {
        let was = nic(Some("ffb55e67ff0002"), Some("0xb55e67ff"));
        assert_eq!(was.differs(&was.clone()), None);
        // Not known yet (no lease, no DHCPv6 client): nothing to compare.
        assert_eq!(was.differs(&nic(None, None)), None);
        assert_eq!(nic(None, None).differs(&was), None);
        assert_eq!(
            was.differs(&nic(Some("ff0c9a11e20002"), None)).as_deref(),
            Some("DHCPv4 client identifier is ff0c9a11e20002, the NIC's was ffb55e67ff0002")
        );
        assert_eq!(
            was.differs(&nic(None, Some("0x0c9a11e2"))).as_deref(),
            Some("DHCPv6 IAID is 0x0c9a11e2, the NIC's was 0xb55e67ff")
        );
    }
}
