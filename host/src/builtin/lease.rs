//! Where the node's lease cannot be kept on the dataplane's tap (no DHCP
//! client the node can run there, a NetworkManager too old, a tap udev
//! cannot name): the run says so, naming each address the dataplane
//! copied onto the tap and when it would expire, and by default makes
//! those addresses permanent, so the node keeps answering on them for as
//! long as the dataplane runs. The server is not asked: once the lease
//! has run out it may give the address to another client, which the
//! warning says. `expiring_address = "warn"` leaves them to expire.

use super::{info, warn, ExpiringAddress, Settings};
use crate::caps::{CapError, Host};
use crate::names::IfName;

/// What vpp-running did about the lease on one uplink.
#[derive(Debug, PartialEq, Eq)]
pub enum TakeOver {
    /// The node's client runs on the tap with the NIC's identity.
    Kept,
    /// Nothing to take over: the uplink is not the dataplane's tap.
    NotATap,
    /// The lease cannot be kept, and why.
    NotKept(String),
}

pub fn not_kept(
    host: &mut Host,
    settings: &Settings,
    uplink: &IfName,
    why: &str,
) -> Result<(), CapError> {
    let config = match host.l3().capture(uplink, &None) {
        Ok(c) => c,
        Err(CapError::NotFound(_)) => {
            warn(host, &format!("lease: cannot be kept on {uplink}: {why}"));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let expiring: Vec<_> = config
        .addresses
        .iter()
        .filter(|a| a.scope == 0)
        .filter_map(|a| a.valid_lft.map(|v| (a, v)))
        .collect();
    if expiring.is_empty() {
        warn(
            host,
            &format!("lease: cannot be kept on {uplink}: {why}; no address on it expires"),
        );
        return Ok(());
    }
    let shown: Vec<String> = expiring
        .iter()
        .map(|(a, v)| format!("{}/{} in {v} s", a.address, a.prefix_len))
        .collect();
    match settings.expiring_address {
        ExpiringAddress::Warn => {
            warn(
                host,
                &format!(
                    "lease: cannot be kept on {uplink}: {why}; no DHCP client renews these addresses, which expire: {} (expiring_address = \"warn\")",
                    shown.join(", ")
                ),
            );
            Ok(())
        }
        ExpiringAddress::Keep => {
            warn(
                host,
                &format!(
                    "lease: cannot be kept on {uplink}: {why}; these addresses are made permanent while the dataplane runs, though the server's lease on them ends: {} (it may give them to another client then)",
                    shown.join(", ")
                ),
            );
            for (a, _) in expiring {
                host.set_address_lifetime(uplink, &a.address, a.prefix_len, None, None)?;
                info(
                    host,
                    "lease: address kept",
                    &[("uplink", uplink), ("address", &a.address)],
                );
            }
            Ok(())
        }
    }
}
