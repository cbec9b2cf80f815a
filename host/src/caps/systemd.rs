//! `systemd`: units on the node, through systemctl.

mod change;

use std::time::{Duration, Instant};

pub use change::SystemdChange;

use super::{validate, CapError, Host, Inverse, Planned};

/// What `systemctl OP -- UNIT` does to one unit: each op is one kind of
/// [`Change`], undone from whether the unit was active before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitOp {
    Start,
    Stop,
    Restart,
    Reload,
    ResetFailed,
}

impl UnitOp {
    pub const ALL: [UnitOp; 5] = [
        UnitOp::Start,
        UnitOp::Stop,
        UnitOp::Restart,
        UnitOp::Reload,
        UnitOp::ResetFailed,
    ];

    /// systemctl's verb for it.
    pub fn verb(self) -> &'static str {
        match self {
            UnitOp::Start => "start",
            UnitOp::Stop => "stop",
            UnitOp::Restart => "restart",
            UnitOp::Reload => "reload",
            UnitOp::ResetFailed => "reset-failed",
        }
    }

    /// The change it makes to `unit`.
    pub fn change(self, unit: String) -> SystemdChange {
        match self {
            UnitOp::Start => SystemdChange::UnitStart { unit },
            UnitOp::Stop => SystemdChange::UnitStop { unit },
            UnitOp::Restart => SystemdChange::UnitRestart { unit },
            UnitOp::Reload => SystemdChange::UnitReload { unit },
            UnitOp::ResetFailed => SystemdChange::UnitResetFailed { unit },
        }
    }

    /// What undoes it on `unit`, given whether the unit was active (or
    /// reloading, or activating) before.
    pub fn inverse(self, unit: &str, was_active: bool) -> Vec<SystemdChange> {
        let unit = unit.to_string();
        match (self, was_active) {
            (UnitOp::Start, false) => vec![SystemdChange::UnitStop { unit }],
            (UnitOp::Start, true) => Vec::new(),
            (UnitOp::Stop, true) => vec![SystemdChange::UnitStart { unit }],
            (UnitOp::Stop, false) => Vec::new(),
            (UnitOp::Restart, true) => vec![SystemdChange::UnitRestart { unit }],
            (UnitOp::Restart, false) => vec![SystemdChange::UnitStop { unit }],
            (UnitOp::Reload, _) => vec![SystemdChange::UnitReload { unit }],
            (UnitOp::ResetFailed, _) => Vec::new(),
        }
    }
}

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
        self.change(UnitOp::Start, unit, None)
    }

    pub fn stop(&mut self, unit: &str) -> Result<(), CapError> {
        self.change(UnitOp::Stop, unit, None)
    }

    /// Restart `unit`. When systemd refuses because the unit hit its start
    /// rate limit (`Result=start-limit-hit`, e.g. a dataplane crash loop
    /// restarting the network service every few seconds), the limit is
    /// reset once (`reset-failed`) and the unit started: these restarts are
    /// asked for deliberately, and a node left with its network service
    /// `failed` is the outcome the limit cannot be allowed to cause. A unit
    /// that fails on its own still ends failed, with its own result.
    pub fn restart(&mut self, unit: &str) -> Result<(), CapError> {
        let refused = match self.change(UnitOp::Restart, unit, None) {
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
        self.change(UnitOp::ResetFailed, &name, None)?;
        // Part of the restart: undone as a restart is, never by a stop.
        let unit = name.clone();
        self.change(
            UnitOp::Start,
            &name,
            Some(Inverse::of(vec![SystemdChange::UnitRestart { unit }])),
        )
    }

    pub fn reload(&mut self, unit: &str) -> Result<(), CapError> {
        self.change(UnitOp::Reload, unit, None)
    }

    pub(super) fn reset_failed(&mut self, unit: &str) -> Result<(), CapError> {
        self.change(UnitOp::ResetFailed, unit, None)
    }

    /// `op` on `unit`, as a hook asks for it (a restart resets a start
    /// rate limit): the one entry undo steps take.
    pub(super) fn unit_op(&mut self, op: UnitOp, unit: &str) -> Result<(), CapError> {
        match op {
            UnitOp::Start => self.start(unit),
            UnitOp::Stop => self.stop(unit),
            UnitOp::Restart => self.restart(unit),
            UnitOp::Reload => self.reload(unit),
            UnitOp::ResetFailed => self.reset_failed(unit),
        }
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
        self.host.mutate(
            SystemdChange::DaemonReload,
            Ok(()),
            |_| Ok(Inverse::of(vec![SystemdChange::DaemonReload])),
            |h| h.systemctl(&["daemon-reload"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// Poll until active; a unit that failed stops the wait at once.
    pub fn wait_active(&mut self, unit: &str, timeout: Duration) -> Result<(), CapError> {
        let (name, check) = named(unit);
        let change = SystemdChange::UnitWaitActive {
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
    fn change(&mut self, op: UnitOp, unit: &str, inverse: Option<Inverse>) -> Result<(), CapError> {
        let (name, check) = named(unit);
        let change = op.change(name.clone());
        let undo = |h: &mut Host| match inverse {
            Some(i) => Ok(i),
            None => undo_unit(h, op, &name),
        };
        self.host.mutate(
            change,
            check,
            undo,
            |h| h.systemctl(&[op.verb(), "--", &name]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// The canonical unit name, and whether it is valid and granted.
    fn checked(&self, unit: &str) -> (String, Result<(), CapError>) {
        let (name, check) = named(unit);
        let check = check.and_then(|()| self.host.grants.unit(&name));
        (name, check)
    }
}

/// The canonical unit name, and whether it is valid (a change's grant is
/// its own: [`Change::grant`]).
fn named(unit: &str) -> (String, Result<(), CapError>) {
    match validate::unit(unit) {
        Ok(name) => (name, Ok(())),
        Err(e) => (unit.to_string(), Err(e)),
    }
}

/// The unit networkctl talks to: granting it grants networkctl's calls.
pub(super) const NETWORKD: &str = "systemd-networkd.service";

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
        self.host.mutate(
            SystemdChange::NetworkdReload,
            Ok(()),
            |_| Ok(Inverse::of(vec![SystemdChange::NetworkdReload])),
            |h| h.networkctl(&["reload"]).map(drop),
            |_| Planned::Change(()),
        )
    }

    /// `networkctl reconfigure LINK`: networkd drops what it set on the
    /// link and configures it again from its files (systemd 244), e.g.
    /// with the udev properties a DHCP client identifies itself from.
    pub fn networkd_reconfigure(&mut self, link: &str) -> Result<(), CapError> {
        let check = validate::ifname(link);
        let change = SystemdChange::NetworkdReconfigure {
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
fn undo_unit(h: &mut Host, op: UnitOp, unit: &str) -> Result<Inverse, CapError> {
    let was_active = matches!(
        active_state(h, unit)?.as_str(),
        "active" | "reloading" | "activating"
    );
    Ok(Inverse::of(op.inverse(unit, was_active)))
}

fn active_state(h: &Host, unit: &str) -> Result<String, CapError> {
    h.systemctl(&["show", "--property=ActiveState", "--value", "--", unit])
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::change::CapabilityChange;
    use crate::caps::Change;

    #[test]
    fn every_unit_op_is_its_own_change_and_undone_by_its_inverse() {
        let u = "x.service";
        let unit = || u.to_string();
        for op in UnitOp::ALL {
            let change = op.change(unit());
            let kind = match &change {
                SystemdChange::UnitStart { unit } => (UnitOp::Start, unit),
                SystemdChange::UnitStop { unit } => (UnitOp::Stop, unit),
                SystemdChange::UnitRestart { unit } => (UnitOp::Restart, unit),
                SystemdChange::UnitReload { unit } => (UnitOp::Reload, unit),
                SystemdChange::UnitResetFailed { unit } => (UnitOp::ResetFailed, unit),
                other => panic!("{op:?} made {other}"),
            };
            assert_eq!(kind, (op, &unit()));
            assert_eq!(Change::from(change.clone()).capability(), "systemd");
            assert_eq!(change.operation(), op.verb());
            assert_eq!(change.args(), u);
            let (stopped, running) = (op.inverse(u, false), op.inverse(u, true));
            let want: (Vec<SystemdChange>, Vec<SystemdChange>) = match op {
                UnitOp::Start => (vec![SystemdChange::UnitStop { unit: unit() }], vec![]),
                UnitOp::Stop => (vec![], vec![SystemdChange::UnitStart { unit: unit() }]),
                UnitOp::Restart => (
                    vec![SystemdChange::UnitStop { unit: unit() }],
                    vec![SystemdChange::UnitRestart { unit: unit() }],
                ),
                UnitOp::Reload => (
                    vec![SystemdChange::UnitReload { unit: unit() }],
                    vec![SystemdChange::UnitReload { unit: unit() }],
                ),
                UnitOp::ResetFailed => (vec![], vec![]),
            };
            assert_eq!((stopped, running), want, "{op:?}");
        }
    }
}
