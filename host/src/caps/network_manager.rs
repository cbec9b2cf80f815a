//! `network-manager`: connections on the node, through nmcli.

mod change;
pub mod validate;

pub use change::NetworkManagerChange;

use super::{CapError, Host, Inverse, Planned};

/// What `device` reads of a device.
const DEVICE_FIELDS: &str = "GENERAL.TYPE,GENERAL.STATE,GENERAL.CON-UUID,GENERAL.CONNECTION";

pub struct NetworkManager<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn network_manager(&mut self) -> NetworkManager<'_> {
        NetworkManager { host: self }
    }

    fn nmcli(&self, args: &[&str]) -> Result<String, CapError> {
        let timeout = self.remaining(self.session.node.command_timeout);
        self.session.node.run("nmcli", args, timeout)
    }
}

impl NetworkManager<'_> {
    pub fn connection_modify(
        &mut self,
        id: &str,
        settings: &[(String, String)],
    ) -> Result<(), CapError> {
        let check = self.connection(id).and_then(|_| {
            if settings.is_empty() {
                return Err(CapError::Invalid("no settings to modify".into()));
            }
            settings.iter().try_for_each(|(k, v)| {
                validate::nm_setting_changeable(k).and_then(|_| validate::nm_value(k, v))
            })
        });
        let change = NetworkManagerChange::NmModify {
            id: id.to_string(),
            settings: settings.to_vec(),
        };
        self.host.mutate(
            change,
            check,
            // Each setting's value before, as nmcli prints it.
            |h| {
                let mut previous = Vec::new();
                for (k, _) in settings {
                    let v = h.nmcli(&["--get-values", k, "connection", "show", "id", id])?;
                    previous.push((k.clone(), v.trim_end().to_string()));
                }
                let id = id.to_string();
                Ok(Inverse::of(vec![NetworkManagerChange::NmModify {
                    id,
                    settings: previous,
                }]))
            },
            |h| {
                let mut argv = vec!["connection", "modify", "id", id];
                for (k, v) in settings {
                    argv.push(k);
                    argv.push(v);
                }
                h.nmcli(&argv).map(drop)
            },
            |_| Planned::Change(()),
        )
    }

    pub fn connection_up(&mut self, id: &str) -> Result<(), CapError> {
        self.up_down(id, true)
    }

    pub fn connection_down(&mut self, id: &str) -> Result<(), CapError> {
        self.up_down(id, false)
    }

    fn up_down(&mut self, id: &str, up: bool) -> Result<(), CapError> {
        let check = validate::connection_id(id);
        let (change, back) = match up {
            true => (
                NetworkManagerChange::NmUp { id: id.to_string() },
                NetworkManagerChange::NmDown { id: id.to_string() },
            ),
            false => (
                NetworkManagerChange::NmDown { id: id.to_string() },
                NetworkManagerChange::NmUp { id: id.to_string() },
            ),
        };
        let verb = if up { "up" } else { "down" };
        self.host.mutate(
            change,
            check,
            |h| {
                let state = h.nmcli(&[
                    "--get-values",
                    "GENERAL.STATE",
                    "connection",
                    "show",
                    "id",
                    id,
                ])?;
                let was_up = state.trim() == "activated";
                Ok(match was_up == up {
                    true => Inverse::Nothing,
                    false => Inverse::of(vec![back]),
                })
            },
            |h| h.nmcli(&["connection", verb, "id", id]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// Reload NetworkManager's configuration (NetworkManager.conf, conf.d, DNS).
    pub fn reload(&mut self) -> Result<(), CapError> {
        self.host.mutate(
            NetworkManagerChange::NmReload,
            Ok(()),
            |_| Ok(Inverse::of(vec![NetworkManagerChange::NmReload])),
            |h| h.nmcli(&["general", "reload"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    pub fn get_setting(&mut self, id: &str, setting: &str) -> Result<String, CapError> {
        let check = self
            .connection(id)
            .and_then(|_| validate::nm_setting(setting));
        self.host.read(
            "network-manager",
            "get-setting",
            format!("{id} {setting}"),
            check,
            |h| {
                h.nmcli(&["--get-values", setting, "connection", "show", "id", id])
                    .map(|s| s.trim_end().to_string())
            },
        )
    }

    pub fn device_connection(&mut self, ifname: &str) -> Result<Option<String>, CapError> {
        let check = super::validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
        self.host.read(
            "network-manager",
            "device-connection",
            ifname.to_string(),
            check,
            |h| {
                let out = h.nmcli(&[
                    "--get-values",
                    "GENERAL.CONNECTION",
                    "device",
                    "show",
                    ifname,
                ])?;
                let id = out.trim();
                Ok((!id.is_empty() && id != "--").then(|| id.to_string()))
            },
        )
    }

    fn connection(&self, id: &str) -> Result<(), CapError> {
        validate::connection_id(id)?;
        self.host.grants.connection(id)
    }
}

/// What NetworkManager says of one device (`nmcli device show`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NmDevice {
    /// `GENERAL.TYPE`: `ethernet`, `tun`, ...
    pub kind: String,
    /// `GENERAL.STATE`'s number: 100 is activated.
    pub state: u32,
    /// Its text: `connected`, `connected (externally)`, `disconnected`, ...
    pub state_text: String,
    /// The active connection's UUID and id, if any.
    pub connection: Option<String>,
    pub connection_id: Option<String>,
}

impl NmDevice {
    /// Activated with a connection NetworkManager generated from what it
    /// found on the device: it runs no DHCP client there.
    pub fn external(&self) -> bool {
        self.state_text.contains("externally")
    }

    /// Activated with `uuid`, managed (not external).
    pub fn active_with(&self, uuid: &str) -> bool {
        self.state == 100 && !self.external() && self.connection.as_deref() == Some(uuid)
    }
}

/// The options of a device's current DHCP leases (`nmcli device show`'s
/// `DHCP4.OPTION` and `DHCP6.OPTION`): NetworkManager 1.42 and later put
/// the identity it used among them (`dhcp_client_identifier`,
/// `dhcp6_client_id`; `iaid` since 1.44).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NmDhcp {
    pub v4: Vec<(String, String)>,
    pub v6: Vec<(String, String)>,
}

impl NmDhcp {
    pub fn v4(&self, key: &str) -> Option<&str> {
        self.v4
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn v6(&self, key: &str) -> Option<&str> {
        self.v6
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// How long `connection up` waits for an activation to complete.
pub const ACTIVATE_WAIT: std::time::Duration = std::time::Duration::from_secs(45);

impl NetworkManager<'_> {
    /// NetworkManager's version (`nmcli --version`'s last word), e.g. `1.52.1`.
    pub fn version(&mut self) -> Result<String, CapError> {
        let check = self.host.grants.nm_reload();
        self.host
            .read("network-manager", "version", String::new(), check, |h| {
                let out = h.nmcli(&["--version"])?;
                out.split_whitespace()
                    .last()
                    .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
                    .map(str::to_string)
                    .ok_or_else(|| CapError::Failed(format!("nmcli --version said {out:?}")))
            })
    }

    /// The device's type, state and active connection.
    pub fn device(&mut self, ifname: &str) -> Result<NmDevice, CapError> {
        self.device_show(ifname, "device", DEVICE_FIELDS, parse_device)
    }

    /// The options of the device's DHCPv4 and DHCPv6 leases.
    pub fn device_dhcp(&mut self, ifname: &str) -> Result<NmDhcp, CapError> {
        self.device_show(ifname, "device-dhcp", "DHCP4,DHCP6", parse_dhcp)
    }

    /// `device` and `device_dhcp` in one `nmcli` call.
    pub fn device_with_dhcp(&mut self, ifname: &str) -> Result<(NmDevice, NmDhcp), CapError> {
        let fields = format!("{DEVICE_FIELDS},DHCP4,DHCP6");
        self.device_show(ifname, "device-with-dhcp", &fields, |out| {
            (parse_device(out), parse_dhcp(out))
        })
    }

    /// `nmcli --terse --fields FIELDS device show IFNAME`, read by `parse`;
    /// audited as `operation`.
    fn device_show<T>(
        &mut self,
        ifname: &str,
        operation: &'static str,
        fields: &str,
        parse: impl FnOnce(&str) -> T,
    ) -> Result<T, CapError> {
        let check = super::validate::ifname(ifname).and_then(|_| self.host.grants.link(ifname));
        self.host.read(
            "network-manager",
            operation,
            ifname.to_string(),
            check,
            |h| {
                let out = h
                    .nmcli(&["--terse", "--fields", fields, "device", "show", ifname])
                    .map_err(|e| not_found_device(e, ifname))?;
                Ok(parse(&out))
            },
        )
    }

    /// Every profile's UUID and the file it was read from (empty for
    /// one that has none), `nmcli connection show`'s `UUID,FILENAME`.
    pub fn profile_files(&mut self) -> Result<Vec<(String, String)>, CapError> {
        let check = self.host.grants.nm_reload();
        self.host.read(
            "network-manager",
            "profile-files",
            String::new(),
            check,
            |h| {
                let out =
                    h.nmcli(&["--terse", "--fields", "UUID,FILENAME", "connection", "show"])?;
                Ok(out
                    .lines()
                    .filter_map(|l| {
                        let fields = split_terse(l);
                        match fields.as_slice() {
                            [uuid, file] => Some((uuid.clone(), file.clone())),
                            _ => None,
                        }
                    })
                    .collect())
            },
        )
    }

    /// `nmcli general reload conf`: NetworkManager.conf and conf.d read
    /// again, taking effect without a restart (NetworkManager 1.22).
    pub fn reload_conf(&mut self) -> Result<(), CapError> {
        self.host.mutate(
            NetworkManagerChange::NmReloadConf,
            Ok(()),
            |_| Ok(Inverse::of(vec![NetworkManagerChange::NmReloadConf])),
            |h| h.nmcli(&["general", "reload", "conf"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// `nmcli connection load FILE`: a keyfile read (again), or forgotten
    /// when it no longer exists (NetworkManager 1.20). Loading what one
    /// may write: the file's path must be granted for writing. Undone by
    /// loading it again once the file is put back.
    pub fn load(&mut self, path: &str) -> Result<(), CapError> {
        let check = super::host_fs::normalize(path).and_then(|p| validate::nm_keyfile_path(&p));
        let change = NetworkManagerChange::NmLoad {
            path: path.to_string(),
        };
        let again = change.clone();
        self.host.mutate(
            change,
            check,
            |_| Ok(Inverse::of(vec![again])),
            |h| h.nmcli(&["connection", "load", path]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// `nmcli --wait N connection up uuid UUID ifname IFNAME`: the profile
    /// activated on that device, taking it over from whatever had it
    /// (an external connection included). Undone by activating what the
    /// device had before when that was a profile of the node's, else by
    /// taking this one down.
    pub fn activate(&mut self, uuid: &str, ifname: &str) -> Result<(), CapError> {
        self.activate_over(uuid, ifname, None)
    }

    /// `activate`, told what the device had (read a moment before by the
    /// caller), so that the undo need not ask NetworkManager again.
    pub fn activate_over(
        &mut self,
        uuid: &str,
        ifname: &str,
        before: Option<&NmDevice>,
    ) -> Result<(), CapError> {
        let check = validate::nm_uuid(uuid).and_then(|_| super::validate::ifname(ifname));
        let change = NetworkManagerChange::NmActivate {
            uuid: uuid.to_string(),
            ifname: ifname.to_string(),
        };
        self.host.mutate(
            change,
            check,
            |h| {
                let before = match before {
                    Some(d) => Ok(d.clone()),
                    None => h.network_manager().device(ifname),
                };
                let back = match before {
                    Ok(d) if d.active_with(uuid) => return Ok(Inverse::Nothing),
                    Ok(NmDevice {
                        connection: Some(prev),
                        state: 100,
                        ref state_text,
                        ..
                    }) if !state_text.contains("externally") => NetworkManagerChange::NmActivate {
                        uuid: prev,
                        ifname: ifname.to_string(),
                    },
                    _ => NetworkManagerChange::NmDeactivate {
                        uuid: uuid.to_string(),
                    },
                };
                Ok(Inverse::of(vec![back]))
            },
            |h| {
                let t = h.remaining(h.session.node.command_timeout);
                let wait = t.as_secs().clamp(1, ACTIVATE_WAIT.as_secs()).to_string();
                h.nmcli(&[
                    "--wait",
                    &wait,
                    "connection",
                    "up",
                    "uuid",
                    uuid,
                    "ifname",
                    ifname,
                ])
                .map(drop)
            },
            |_| Planned::Change(()),
        )
    }

    /// `nmcli connection down uuid UUID`. Undone by activating it again
    /// on the device it was active on.
    pub fn deactivate(&mut self, uuid: &str) -> Result<(), CapError> {
        let check = validate::nm_uuid(uuid);
        let change = NetworkManagerChange::NmDeactivate {
            uuid: uuid.to_string(),
        };
        self.host.mutate(
            change,
            check,
            |h| {
                let devices = h.nmcli(&[
                    "--get-values",
                    "GENERAL.DEVICES",
                    "connection",
                    "show",
                    "uuid",
                    uuid,
                ]);
                Ok(match devices {
                    Ok(d) if !d.trim().is_empty() => {
                        Inverse::of(vec![NetworkManagerChange::NmActivate {
                            uuid: uuid.to_string(),
                            ifname: d.trim().split(',').next().unwrap_or_default().to_string(),
                        }])
                    }
                    _ => Inverse::Nothing,
                })
            },
            |h| h.nmcli(&["connection", "down", "uuid", uuid]).map(drop),
            |_| Planned::Change(()),
        )
    }
}

/// nmcli's "no such device" (exit status 10) as `not found`.
fn not_found_device(e: CapError, ifname: &str) -> CapError {
    match e {
        CapError::Failed(m) if m.contains("exited with status 10") => {
            CapError::NotFound(format!("NetworkManager has no device {ifname}"))
        }
        other => other,
    }
}

/// A `--terse` line split at its unescaped colons, `\:` and `\\` undone.
fn split_terse(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one at least").push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one at least").push(c),
        }
    }
    fields
}

/// `FIELD:VALUE` lines: the field and its value.
fn terse_pairs(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = split_terse(l);
            (f.len() >= 2).then(|| {
                let field = f.remove(0);
                (field, f.join(":"))
            })
        })
        .collect()
}

fn parse_device(out: &str) -> NmDevice {
    let mut d = NmDevice::default();
    let none = |v: &str| (!v.is_empty() && v != "--").then(|| v.to_string());
    for (field, value) in terse_pairs(out) {
        match field.as_str() {
            "GENERAL.TYPE" => d.kind = value,
            "GENERAL.STATE" => {
                let (n, text) = value.split_once(' ').unwrap_or((&value, ""));
                d.state = n.parse().unwrap_or(0);
                // One pair of parentheses: "(connected (externally))".
                let text = text.strip_prefix('(').unwrap_or(text);
                d.state_text = text.strip_suffix(')').unwrap_or(text).to_string();
            }
            "GENERAL.CON-UUID" => d.connection = none(&value),
            "GENERAL.CONNECTION" => d.connection_id = none(&value),
            _ => {}
        }
    }
    d
}

fn parse_dhcp(out: &str) -> NmDhcp {
    let mut dhcp = NmDhcp::default();
    for (field, value) in terse_pairs(out) {
        let Some((key, v)) = value.split_once(" = ") else {
            continue;
        };
        let pair = (key.trim().to_string(), v.trim().to_string());
        if field.starts_with("DHCP4.") {
            dhcp.v4.push(pair);
        } else if field.starts_with("DHCP6.") {
            dhcp.v6.push(pair);
        }
    }
    dhcp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_show_is_read_field_by_field() {
        let out = "GENERAL.TYPE:tun\nGENERAL.STATE:100 (connected (externally))\nGENERAL.CON-UUID:0a7e\\:1\nGENERAL.CONNECTION:ens3\n";
        let d = parse_device(out);
        assert_eq!(
            d,
            NmDevice {
                kind: "tun".into(),
                state: 100,
                state_text: "connected (externally)".into(),
                connection: Some("0a7e:1".into()),
                connection_id: Some("ens3".into()),
            }
        );
        assert!(d.external() && !d.active_with("0a7e:1"));
        let d = parse_device("GENERAL.TYPE:ethernet\nGENERAL.STATE:30 (disconnected)\nGENERAL.CON-UUID:\nGENERAL.CONNECTION:--\n");
        assert_eq!((d.state, d.connection, d.connection_id), (30, None, None));
    }

    #[test]
    fn dhcp_options_keep_their_colons() {
        let out = "DHCP4.OPTION[1]:dhcp_client_identifier = 01\\:52\\:54\\:00\\:97\\:00\\:10\nDHCP4.OPTION[2]:ip_address = 10.97.0.117\nDHCP6.OPTION[1]:dhcp6_client_id = 00\\:04\\:ab\nDHCP6.OPTION[2]:iaid = 5d\\:3c\\:1a\\:07\n";
        let d = parse_dhcp(out);
        assert_eq!(d.v4("dhcp_client_identifier"), Some("01:52:54:00:97:00:10"));
        assert_eq!(d.v4("ip_address"), Some("10.97.0.117"));
        assert_eq!(d.v6("dhcp6_client_id"), Some("00:04:ab"));
        assert_eq!(d.v6("iaid"), Some("5d:3c:1a:07"));
    }
}
