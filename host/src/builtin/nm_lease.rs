//! The node's DHCP lease on a NetworkManager node while the dataplane
//! holds its NIC.
//!
//! NetworkManager takes the dataplane's tap as a device it did not create
//! and finds configured: "connected (externally)", a connection generated
//! from what is on it, no DHCP client. The addresses the dataplane copied
//! onto the tap keep the lifetimes they had left and expire. The tap is a
//! `tun` device, and NetworkManager activates only a `tun` profile on it
//! (never the admin's `ethernet` one), and only one whose mode, pi,
//! vnet-hdr and multi-queue equal the tap's (nm-device-tun.c).
//!
//! So at vpp-running the module writes an in-memory `tun` profile
//! (/run/NetworkManager/system-connections, gone at a reboot) that matches
//! the tap's flags as the kernel reports them, carries the admin profile's
//! `[ipv4]` and `[ipv6]` (copied from its keyfile) and pins the DHCP
//! identity NetworkManager used on the NIC (its DHCPv4 client identifier,
//! DHCPv6 DUID and IAID, read from the NIC's lease at before-if-read), and
//! activates it on the tap: the server sees the same client and renews
//! the same lease (a lease file naming the address makes the first request
//! an INIT-REBOOT for it). At the undo points the profile is unloaded and
//! the admin's own profile activated on the returned NIC, which
//! NetworkManager would otherwise keep as "connected (externally)" when
//! the dataplane put the addresses back before it looked.

use serde::{Deserialize, Serialize};

use super::keyfile::Keyfile;
use super::lease::TakeOver;
use super::{info, read_opt, warn};
use crate::bindings::nethook::hooks::netlink::Family;
use crate::caps::network_manager::NmDevice;
use crate::caps::{CapError, Host};

pub const PROFILE_DIR: &str = "/run/NetworkManager/system-connections";
/// What NetworkManager's first line says of every profile file nethook writes.
pub const HEADER: &str = "Written by nethook: the node's own DHCP client on the dataplane's tap, while the dataplane runs; removed when it stops.";
const KEY_NIC: &str = "lease.nm.";
/// `ipv4.dhcp-timeout` and `ipv6.dhcp-timeout`: try for ever (G_MAXINT32).
const FOREVER: &str = "2147483647";
/// NetworkManager's default route metric for an ethernet device; a tun's
/// is 450, which would put the node's default route behind others.
const ETHERNET_METRIC: u32 = 100;

/// What before-if-read found of the NIC NetworkManager manages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// The admin's profile active on it, and the keyfile it came from.
    pub profile: String,
    pub profile_id: String,
    pub file: Option<String>,
    /// The identity NetworkManager's DHCP clients used (1.42 and later).
    pub client_id: Option<String>,
    pub duid: Option<String>,
    /// DHCPv6 IAID as NetworkManager prints it (hex bytes, 1.44 and later).
    pub iaid: Option<String>,
    pub address4: Option<String>,
    /// The metric of its default routes, as the kernel had them.
    pub metric4: Option<u32>,
    pub metric6: Option<u32>,
}

/// The profile's UUID for an uplink: the same every time, so a run that
/// lost its records still knows its profile and lease file.
pub fn profile_uuid(uplink: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("nethook tap profile {uplink}").as_bytes());
    let mut b: [u8; 16] = d[..16].try_into().expect("16 bytes");
    // A name-based UUID (RFC 9562 version 8, variant 10).
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn profile_path(uplink: &str) -> String {
    format!("{PROFILE_DIR}/nethook-{uplink}.nmconnection")
}

/// NetworkManager's internal DHCP client's lease file for a profile on a
/// device: the one in /run is used when it exists (nm-dhcp-utils.c).
pub fn lease_path(uuid: &str, uplink: &str) -> String {
    format!("/run/NetworkManager/internal-{uuid}-{uplink}.lease")
}

/// before-if-read: the NIC's profile and DHCP identity. A NIC that is not
/// managed with a profile of the node's (in a crash loop it may still be
/// external, or not back) keeps the earlier capture.
pub fn capture(host: &mut Host, uplink: &str) -> Result<(), CapError> {
    let key = format!("{KEY_NIC}{uplink}");
    let (device, dhcp) = match host.network_manager().device_with_dhcp(uplink) {
        Ok(d) => d,
        Err(CapError::NotFound(why)) => {
            return keep_earlier(host, &key, uplink, &why);
        }
        Err(e) => return Err(e),
    };
    let Some(profile) = device
        .connection
        .clone()
        .filter(|_| device.state == 100 && !device.external() && device.kind != "tun")
    else {
        let why = format!(
            "NetworkManager has it {} ({})",
            device.state, device.state_text
        );
        return keep_earlier(host, &key, uplink, &why);
    };
    let file = host
        .network_manager()
        .profile_files()?
        .into_iter()
        .find(|(u, _)| *u == profile)
        .map(|(_, f)| f)
        .filter(|f| !f.is_empty());
    let index = host.netlink().get_link(uplink)?.index;
    let metric = |host: &mut Host, family| -> Result<Option<u32>, CapError> {
        Ok(host
            .netlink()
            .list_routes(family)?
            .into_iter()
            .find(|r| r.destination.is_none() && r.output_link == Some(index) && r.table == 254)
            .and_then(|r| r.metric))
    };
    let nic = Nic {
        profile,
        profile_id: device.connection_id.clone().unwrap_or_default(),
        file,
        client_id: dhcp.v4("dhcp_client_identifier").map(str::to_string),
        duid: dhcp.v6("dhcp6_client_id").map(str::to_string),
        iaid: dhcp.v6("iaid").map(str::to_string),
        address4: dhcp.v4("ip_address").map(str::to_string),
        metric4: metric(host, Family::Ipv4)?,
        metric6: metric(host, Family::Ipv6)?,
    };
    let json = super::keep(host, &key, &nic)?;
    info(
        host,
        "lease: captured the NIC's profile and DHCP identity",
        &[("uplink", uplink), ("values", &json)],
    );
    Ok(())
}

fn keep_earlier(host: &mut Host, key: &str, uplink: &str, why: &str) -> Result<(), CapError> {
    let kept = host.state().get(key)?.is_some();
    warn(
        host,
        &format!(
            "lease: {uplink} is not managed with a profile of the node's ({why}); {}",
            if kept {
                "the identity captured before is kept"
            } else {
                "no DHCP identity to keep"
            }
        ),
    );
    Ok(())
}

pub fn nic(host: &mut Host, uplink: &str) -> Result<Option<Nic>, CapError> {
    super::recall(host, &format!("{KEY_NIC}{uplink}"))
}

/// vpp-running: the node's DHCP client on the tap, with the NIC's identity.
pub fn take_over(host: &mut Host, uplink: &str, version: &str) -> Result<TakeOver, CapError> {
    let dev = match host.udev().device(uplink) {
        Ok(d) => d,
        Err(CapError::NotFound(why)) => return Ok(TakeOver::NotKept(why)),
        Err(e) => return Err(e),
    };
    let Some(tun) = dev.tun else {
        info(
            host,
            "lease: the uplink is not a tap; NetworkManager keeps managing it",
            &[("uplink", uplink)],
        );
        return Ok(TakeOver::NotATap);
    };
    if tun.mode != 2 {
        return Ok(TakeOver::NotKept(format!(
            "{uplink} is a tun (layer 3) device, not a tap: no DHCP on it"
        )));
    }
    if !version_at_least(version, (1, 22)) {
        return Ok(TakeOver::NotKept(format!(
            "NetworkManager {version} is older than 1.22, which in-memory profiles, pinned IAIDs and reloads without a restart need"
        )));
    }
    let Some(nic) = nic(host, uplink)? else {
        return Ok(TakeOver::NotKept(format!(
            "no DHCP identity of {uplink} was captured at before-if-read"
        )));
    };
    let uuid = profile_uuid(uplink);
    // A tap the dataplane created a moment ago: NetworkManager may not
    // have seen it yet.
    let device = wait_device(host, uplink, |d| d.kind == "tun")?;
    if device.as_ref().is_some_and(|d| d.active_with(&uuid)) {
        info(
            host,
            "lease: the tap's profile is already active",
            &[("uplink", uplink)],
        );
        return Ok(TakeOver::Kept);
    }
    let text = render(host, uplink, &uuid, &nic, &tun, version)?;
    let path = profile_path(uplink);
    super::write_file(host, &path, &text, 0o600)?;
    host.network_manager().load(&path)?;
    if let Some(addr) = &nic.address4 {
        let lease = lease_path(&uuid, uplink);
        super::write_file(host, &lease, &format!("ADDRESS={addr}\n"), 0o644)?;
    }
    if let Err(e) = host
        .network_manager()
        .activate_over(&uuid, uplink, device.as_ref())
    {
        let CapError::Failed(why) = e else {
            return Err(e);
        };
        // Nothing of ours is left loaded; what the tap has is what the
        // fallback works with.
        give_back(host, uplink)?;
        return Ok(TakeOver::NotKept(format!(
            "NetworkManager did not activate the tap's profile ({why})"
        )));
    }
    let now = host.network_manager().device_dhcp(uplink)?;
    let same = [
        (
            "DHCPv4 client identifier",
            nic.client_id.as_deref(),
            now.v4("dhcp_client_identifier"),
        ),
        (
            "DHCPv6 DUID",
            nic.duid.as_deref(),
            now.v6("dhcp6_client_id"),
        ),
        ("DHCPv6 IAID", nic.iaid.as_deref(), now.v6("iaid")),
    ];
    for (what, was, is) in same {
        if let (Some(was), Some(is)) = (was, is) {
            if was != is {
                warn(
                    host,
                    &format!("lease: the tap's {what} is {is}, the NIC's was {was}: the server sees another client"),
                );
            }
        }
    }
    info(
        host,
        "lease: the node's DHCP client runs on the tap",
        &[
            ("uplink", uplink),
            ("profile", &uuid),
            ("address", now.v4("ip_address").unwrap_or("none")),
            (
                "client_id",
                now.v4("dhcp_client_identifier").unwrap_or("default"),
            ),
            ("iaid6", now.v6("iaid").unwrap_or("default")),
        ],
    );
    Ok(TakeOver::Kept)
}

/// The device once `ready` says so, polled for up to ten seconds; None
/// when NetworkManager never showed it.
fn wait_device(
    host: &mut Host,
    uplink: &str,
    ready: impl Fn(&NmDevice) -> bool,
) -> Result<Option<NmDevice>, CapError> {
    let mut last = None;
    for _ in 0..40 {
        match host.network_manager().device(uplink) {
            Ok(d) if ready(&d) => return Ok(Some(d)),
            Ok(d) => last = Some(d),
            Err(CapError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        host.sleep(std::time::Duration::from_millis(250));
    }
    Ok(last)
}

/// `1.52.1` at least `(major, minor)`.
pub fn version_at_least(version: &str, want: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v >= want
}

/// The tap's profile.
fn render(
    host: &mut Host,
    uplink: &str,
    uuid: &str,
    nic: &Nic,
    tun: &crate::caps::udev::Tun,
    version: &str,
) -> Result<String, CapError> {
    let admin = match nic.file.as_deref().filter(|f| f.ends_with(".nmconnection")) {
        Some(file) => match read_opt(host, file)? {
            Some(text) => Keyfile::parse(&text),
            None => {
                warn(
                    host,
                    &format!(
                        "lease: cannot read {file}; the tap's profile gets DHCP defaults only"
                    ),
                );
                Keyfile::default()
            }
        },
        None => {
            warn(
                host,
                &format!(
                    "lease: the profile {} is not a keyfile ({}); the tap's profile gets DHCP defaults only",
                    nic.profile,
                    nic.file.as_deref().unwrap_or("no file")
                ),
            );
            Keyfile::default()
        }
    };
    let mut k = Keyfile::default();
    k.set("connection", "id", &format!("nethook-{uplink}"));
    k.set("connection", "uuid", uuid);
    k.set("connection", "type", "tun");
    k.set("connection", "interface-name", uplink);
    k.set("connection", "autoconnect", "false");
    // Identities derived from a stable-id (stable-privacy addresses, the
    // `stable` client-id modes) follow the admin's when it set one.
    if let Some(id) = admin.get("connection", "stable-id") {
        k.set("connection", "stable-id", id);
    }
    let yn = |b: bool| if b { "true" } else { "false" };
    k.set("tun", "mode", &tun.mode.to_string());
    k.set("tun", "pi", yn(tun.pi));
    k.set("tun", "vnet-hdr", yn(tun.vnet_hdr));
    k.set("tun", "multi-queue", yn(tun.multi_queue));
    if let Some(o) = tun.owner {
        k.set("tun", "owner", &o.to_string());
    }
    if let Some(g) = tun.group {
        k.set("tun", "group", &g.to_string());
    }
    // The tap's MAC is the NIC's, which the dataplane set: kept.
    k.set("ethernet", "cloned-mac-address", "preserve");
    k.copy_group(&admin, "ipv4");
    k.copy_group(&admin, "ipv6");
    for family in ["ipv4", "ipv6"] {
        if k.get(family, "method").is_none() {
            k.set(family, "method", "auto");
        }
        k.set(family, "dhcp-timeout", FOREVER);
    }
    if let Some(id) = &nic.client_id {
        k.set("ipv4", "dhcp-client-id", id);
    }
    if let Some(duid) = &nic.duid {
        k.set("ipv6", "dhcp-duid", duid);
    }
    if let Some(iaid) = nic.iaid.as_deref().and_then(iaid_decimal) {
        k.set("ipv6", "dhcp-iaid", &iaid);
    }
    for (family, metric) in [("ipv4", nic.metric4), ("ipv6", nic.metric6)] {
        if k.get(family, "route-metric").is_none() {
            let m = metric.unwrap_or(ETHERNET_METRIC);
            k.set(family, "route-metric", &m.to_string());
        }
    }
    if nic.client_id.is_none() && !version_at_least(version, (1, 42)) {
        info(
            host,
            "lease: NetworkManager older than 1.42 does not say which DHCP identity it used; the tap's profile uses the admin's settings (a `stable` identity would differ)",
            &[("uplink", uplink)],
        );
    }
    if k.get("ipv6", "addr-gen-mode") == Some("stable-privacy") {
        warn(host, "lease: the admin's profile uses ipv6.addr-gen-mode=stable-privacy: the tap's link-local address differs from the NIC's unless connection.stable-id is set");
    }
    Ok(k.render(&format!(
        "{HEADER}\nUplink {uplink}, from profile {}.",
        nic.profile
    )))
}

/// NetworkManager prints an IAID as hex bytes (`5d:3c:1a:07`) and accepts
/// it in decimal on every version (`_nm_utils_iaid_verify`).
pub fn iaid_decimal(hex: &str) -> Option<String> {
    let bytes: Vec<u8> = hex
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let b: [u8; 4] = bytes.try_into().ok()?;
    Some(u32::from_be_bytes(b).to_string())
}

/// Whether this module's journal holds a tap profile it wrote for one of
/// `uplinks` and has not taken back: the undo points give it back even
/// where NetworkManager is no longer the network service.
pub fn profiles_written(host: &mut Host, uplinks: &[String]) -> Result<bool, CapError> {
    for uplink in uplinks {
        if host.file_before(&profile_path(uplink))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Undo points: the tap's profile unloaded and its lease file removed.
/// True when the node changed.
pub fn give_back(host: &mut Host, uplink: &str) -> Result<bool, CapError> {
    let path = profile_path(uplink);
    let header = format!("# {HEADER}");
    let removed = super::put_back(host, &path, |t| t.lines().next() == Some(&header))?;
    if removed {
        // Loading a file that is gone unloads its profile.
        host.network_manager().load(&path)?;
    }
    // The lease file is NetworkManager's once the profile ran (it writes
    // each renewal there): ours by its name, removed whatever it says; its
    // journaled write is marked undone so no later undo brings it back.
    let lease_file = lease_path(&profile_uuid(uplink), uplink);
    let lease = host.host_fs().exists(&lease_file)? && host.host_fs().remove(&lease_file)?;
    host.file_put_back(&lease_file, "removed")?;
    Ok(removed || lease)
}

/// Undo points: the admin's profile active on the returned NIC, unless it
/// already is. Err with why when it cannot be.
pub fn reactivate(host: &mut Host, uplink: &str) -> Result<Option<String>, CapError> {
    let Some(nic) = nic(host, uplink)? else {
        // Nothing captured (no lifecycle, no profile active on the NIC at
        // before-if-read, or its records lost): nethook took nothing over
        // and has no profile to give back; what NetworkManager makes of
        // the NIC is its own (a restart would not change it), said here.
        if let Ok(d) = host.network_manager().device(uplink) {
            if d.state != 100 || d.external() {
                info(
                    host,
                    "lease: no profile of the NIC was captured; NetworkManager keeps it as it is",
                    &[
                        ("uplink", uplink),
                        ("state", &format!("{} ({})", d.state, d.state_text)),
                    ],
                );
            }
        }
        return Ok(None);
    };
    let device = wait_device(host, uplink, |d| d.kind != "tun" && !d.kind.is_empty())?;
    let Some(device) = device.filter(|d| d.kind != "tun") else {
        return Ok(Some(format!(
            "NetworkManager does not show the NIC {uplink} back"
        )));
    };
    if device.active_with(&nic.profile) {
        info(
            host,
            "lease: the NIC's profile is active",
            &[("uplink", uplink), ("profile", &nic.profile_id)],
        );
        return Ok(None);
    }
    info(
        host,
        "lease: activating the NIC's profile",
        &[
            ("uplink", uplink),
            ("profile", &nic.profile_id),
            ("was", &format!("{} ({})", device.state, device.state_text)),
        ],
    );
    match host
        .network_manager()
        .activate_over(&nic.profile, uplink, Some(&device))
    {
        Ok(()) => Ok(None),
        Err(CapError::Failed(why)) => Ok(Some(why)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_uuid_is_a_uuid_and_the_same_for_an_uplink() {
        let u = profile_uuid("ens3");
        assert_eq!(u, profile_uuid("ens3"));
        assert_ne!(u, profile_uuid("ens4"));
        assert!(
            crate::caps::network_manager::validate::nm_uuid(&u).is_ok(),
            "{u}"
        );
        assert_eq!(&u[14..15], "8");
    }

    #[test]
    fn iaids_are_written_in_decimal() {
        assert_eq!(iaid_decimal("00:00:01:02").as_deref(), Some("258"));
        assert_eq!(iaid_decimal("ff:ff:ff:ff").as_deref(), Some("4294967295"));
        assert_eq!(iaid_decimal("01:02"), None);
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert!(version_at_least("1.52.1", (1, 22)));
        assert!(version_at_least("1.22.0", (1, 22)));
        assert!(!version_at_least("1.20.10", (1, 22)));
        assert!(version_at_least("2.0", (1, 42)));
    }
}
