//! `systemd`: units on the node, through systemctl.

use std::time::{Duration, Instant};

use super::{validate, CapError, Change, Host, Inverse, Planned};

pub struct Systemd<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn systemd(&mut self) -> Systemd<'_> {
        Systemd { host: self }
    }

    fn systemctl(&self, args: &[&str]) -> Result<String, CapError> {
        let timeout = self.remaining(self.session.node.command_timeout);
        self.session.node.run("systemctl", args, timeout)
    }
}

impl Systemd<'_> {
    pub fn start(&mut self, unit: &str) -> Result<(), CapError> {
        self.change("start", unit, None)
    }

    pub fn stop(&mut self, unit: &str) -> Result<(), CapError> {
        self.change("stop", unit, None)
    }

    /// Restart `unit`. When systemd refuses because the unit hit its start
    /// rate limit (`Result=start-limit-hit`, e.g. a dataplane crash loop
    /// restarting the network service every few seconds), the limit is
    /// reset once (`reset-failed`) and the unit started: these restarts are
    /// asked for deliberately, and a node left with its network service
    /// `failed` is the outcome the limit cannot be allowed to cause. A unit
    /// that fails on its own still ends failed, with its own result.
    pub fn restart(&mut self, unit: &str) -> Result<(), CapError> {
        let refused = match self.change("restart", unit, None) {
            Err(CapError::Failed(why)) if self.host.mode() == super::Mode::Apply => why,
            other => return other,
        };
        let (name, _) = self.checked(unit);
        // Whatever else went wrong (the unit failed, no systemctl), the
        // refusal is what the caller hears.
        if self.result(&name).ok().as_deref() != Some("start-limit-hit") {
            return Err(CapError::Failed(refused));
        }
        self.host.log(
            crate::bindings::nethook::hooks::log::Level::Warn,
            &format!("{name} hit its start rate limit; resetting it and starting it"),
            &[],
        );
        self.change("reset-failed", &name, None)?;
        // Part of the restart: undone as a restart is, never by a stop.
        let unit = name.clone();
        self.change(
            "start",
            &name,
            Some(Inverse::of(vec![Change::UnitRestart { unit }])),
        )
    }

    pub fn reload(&mut self, unit: &str) -> Result<(), CapError> {
        self.change("reload", unit, None)
    }

    pub(super) fn reset_failed(&mut self, unit: &str) -> Result<(), CapError> {
        self.change("reset-failed", unit, None)
    }

    pub fn is_active(&mut self, unit: &str) -> Result<String, CapError> {
        let (name, check) = self.checked(unit);
        self.host
            .read("systemd", "is-active", name.clone(), check, |h| {
                active_state(h, &name)
            })
    }

    /// The unit's `Result` property (`success`, `start-limit-hit`, ...).
    fn result(&mut self, unit: &str) -> Result<String, CapError> {
        let (name, check) = self.checked(unit);
        self.host
            .read("systemd", "result", name.clone(), check, |h| {
                h.systemctl(&["show", "--property=Result", "--value", "--", &name])
                    .map(|s| s.trim().to_string())
            })
    }

    pub fn daemon_reload(&mut self) -> Result<(), CapError> {
        let check = self.host.grants.daemon_reload();
        self.host.mutate(
            Change::DaemonReload,
            check,
            |_| Ok(Inverse::of(vec![Change::DaemonReload])),
            |h| h.systemctl(&["daemon-reload"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// Poll until active; a unit that failed stops the wait at once.
    pub fn wait_active(&mut self, unit: &str, timeout: Duration) -> Result<(), CapError> {
        let (name, check) = self.checked(unit);
        let change = Change::UnitWaitActive {
            unit: name.clone(),
            within: humantime::format_duration(timeout).to_string(),
        };
        self.host.wait(change, check, |h| {
            let until = Instant::now() + h.remaining(timeout);
            loop {
                let state = active_state(h, &name)?;
                match state.as_str() {
                    "active" => return Ok(()),
                    "failed" => return Err(CapError::Failed(format!("{name} failed"))),
                    _ if Instant::now() >= until => {
                        return Err(CapError::Failed(format!(
                            "{name} is {state}, not active, after {}",
                            humantime::format_duration(timeout)
                        )))
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })
    }

    /// `systemctl OP -- UNIT`, undone from the unit's state before it
    /// (or by `inverse` when the caller knows better).
    fn change(
        &mut self,
        op: &'static str,
        unit: &str,
        inverse: Option<Inverse>,
    ) -> Result<(), CapError> {
        let (name, check) = self.checked(unit);
        let unit = name.clone();
        let change = match op {
            "start" => Change::UnitStart { unit },
            "stop" => Change::UnitStop { unit },
            "restart" => Change::UnitRestart { unit },
            "reload" => Change::UnitReload { unit },
            _ => Change::UnitResetFailed { unit },
        };
        let undo = |h: &mut Host| match inverse {
            Some(i) => Ok(i),
            None => undo_unit(h, op, &name),
        };
        self.host.mutate(
            change,
            check,
            undo,
            |h| h.systemctl(&[op, "--", &name]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// The canonical unit name, and whether it is valid and granted.
    fn checked(&self, unit: &str) -> (String, Result<(), CapError>) {
        match validate::unit(unit) {
            Ok(name) => {
                let check = self.host.grants.unit(&name);
                (name, check)
            }
            Err(e) => (unit.to_string(), Err(e)),
        }
    }
}

/// The unit networkctl talks to: granting it grants networkctl's calls.
const NETWORKD: &str = "systemd-networkd.service";

impl Systemd<'_> {
    /// systemd's version on the node (`systemctl --version`: `systemd 257 (...)`).
    pub fn version(&mut self) -> Result<u32, CapError> {
        self.host
            .read("systemd", "version", String::new(), Ok(()), |h| {
                let out = h.systemctl(&["--version"])?;
                out.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| CapError::Failed(format!("systemctl --version said {out:?}")))
            })
    }

    /// `networkctl reload`: networkd reads its `.network`/`.netdev` files
    /// again and reconfigures the links whose files changed (systemd 244).
    pub fn networkd_reload(&mut self) -> Result<(), CapError> {
        let check = self.host.grants.unit(NETWORKD);
        self.host.mutate(
            Change::NetworkdReload,
            check,
            |_| Ok(Inverse::of(vec![Change::NetworkdReload])),
            |h| h.networkctl(&["reload"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// `networkctl reconfigure LINK`: networkd drops what it set on the
    /// link and configures it again from its files (systemd 244), e.g.
    /// with the udev properties a DHCP client identifies itself from.
    pub fn networkd_reconfigure(&mut self, link: &str) -> Result<(), CapError> {
        let check = validate::ifname(link)
            .and_then(|_| self.host.grants.unit(NETWORKD))
            .and_then(|_| self.host.grants.link(link));
        let change = Change::NetworkdReconfigure {
            link: link.to_string(),
        };
        let again = change.clone();
        self.host.mutate(
            change,
            check,
            |_| Ok(Inverse::of(vec![again])),
            |h| h.networkctl(&["reconfigure", link]).map(drop),
            |_| Planned::Change(()),
        )
    }
}

impl Host {
    fn networkctl(&self, args: &[&str]) -> Result<String, CapError> {
        let timeout = self.remaining(self.session.node.command_timeout);
        self.session.node.run("networkctl", args, timeout)
    }
}

/// What undoes `op` on `unit`, from its state now.
fn undo_unit(h: &mut Host, op: &str, unit: &str) -> Result<Inverse, CapError> {
    let was_active = matches!(
        active_state(h, unit)?.as_str(),
        "active" | "reloading" | "activating"
    );
    let unit = unit.to_string();
    Ok(Inverse::of(match (op, was_active) {
        ("start", false) => vec![Change::UnitStop { unit }],
        ("stop", true) => vec![Change::UnitStart { unit }],
        ("restart", true) => vec![Change::UnitRestart { unit }],
        ("restart", false) => vec![Change::UnitStop { unit }],
        ("reload", _) => vec![Change::UnitReload { unit }],
        _ => Vec::new(),
    }))
}

fn active_state(h: &Host, unit: &str) -> Result<String, CapError> {
    h.systemctl(&["show", "--property=ActiveState", "--value", "--", unit])
        .map(|s| s.trim().to_string())
}
