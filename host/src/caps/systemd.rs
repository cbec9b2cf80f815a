//! `systemd`: units on the node, through systemctl.

use std::time::{Duration, Instant};

use super::{validate, Access, CapError, Host, Planned};

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
        self.change("start", unit)
    }

    pub fn stop(&mut self, unit: &str) -> Result<(), CapError> {
        self.change("stop", unit)
    }

    /// Restart `unit`. When systemd refuses because the unit hit its start
    /// rate limit (`Result=start-limit-hit`, e.g. a dataplane crash loop
    /// restarting the network service every few seconds), the limit is
    /// reset once (`reset-failed`) and the unit started: these restarts are
    /// asked for deliberately, and a node left with its network service
    /// `failed` is the outcome the limit cannot be allowed to cause. A unit
    /// that fails on its own still ends failed, with its own result.
    pub fn restart(&mut self, unit: &str) -> Result<(), CapError> {
        let refused = match self.change("restart", unit) {
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
        self.change("reset-failed", &name)?;
        self.change("start", &name)
    }

    pub fn reload(&mut self, unit: &str) -> Result<(), CapError> {
        self.change("reload", unit)
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
        self.host
            .perform("systemd", "daemon-reload", String::new(), check, |h| {
                h.systemctl(&["daemon-reload"]).map(drop)
            })
    }

    /// Poll until active; a unit that failed stops the wait at once.
    pub fn wait_active(&mut self, unit: &str, timeout: Duration) -> Result<(), CapError> {
        let (name, check) = self.checked(unit);
        let args = format!("{name} within {}", humantime::format_duration(timeout));
        self.host.change(
            "systemd",
            "wait-active",
            args,
            Access::Wait,
            check,
            |h| {
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
            },
            |_| Planned::Change(()),
        )
    }

    fn change(&mut self, op: &'static str, unit: &str) -> Result<(), CapError> {
        let (name, check) = self.checked(unit);
        self.host.perform("systemd", op, name.clone(), check, |h| {
            h.systemctl(&[op, "--", &name]).map(drop)
        })
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

fn active_state(h: &Host, unit: &str) -> Result<String, CapError> {
    h.systemctl(&["show", "--property=ActiveState", "--value", "--", unit])
        .map(|s| s.trim().to_string())
}
