//! The capability layer: the one place through which hooks reach the node.
//!
//! Each module maps 1:1 to a WIT interface and is reached through a view on
//! [`Host`] (`host.systemd().restart(..)`), so the built-in module and WASM
//! hooks (through `wasm::glue`) call the same code. Every call passes
//! [`Host::call`]: argument validation, the grant check, plan mode (writes
//! recorded, not performed) and one audit record.

pub mod audit;
pub mod exec;
pub mod grants;
pub mod host_fs;
pub mod log;
pub mod netlink;
pub mod network_manager;
pub mod state;
pub mod systemd;
pub mod time;
pub mod udev;
pub mod validate;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::point::HookPoint;
pub use audit::Audit;
pub use exec::Node;
pub use grants::Grants;

/// Why a capability call failed; mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// Who is calling: every effect and log line is attributed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub hook: String,
    pub point: HookPoint,
}

/// Whether effects happen or are only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

/// How a change relates to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Observes only; performed in plan mode too.
    Read,
    /// Changes the node; recorded instead of performed in plan mode.
    Write,
    /// Waits for the node to reach a state an earlier write brings about;
    /// recorded in plan mode, since that write did not happen.
    Wait,
}

/// What a change would do, decided in plan mode without doing it.
pub enum Planned<T> {
    /// It would change the node; the value is what the call returns.
    Change(T),
    /// It would find nothing to change (e.g. removing an absent file).
    NoChange(T),
}

/// One change a hook made, or would make in plan mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub capability: &'static str,
    pub operation: &'static str,
    pub args: String,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} {}", self.capability, self.operation, self.args)
    }
}

/// The ordered effects of a run, shared with whoever started it.
pub type Effects = Arc<Mutex<Vec<Effect>>>;

/// What every hook of one `nethook` invocation shares.
#[derive(Clone)]
pub struct Session {
    pub state_dir: PathBuf,
    pub node: Node,
    pub mode: Mode,
    pub audit: Audit,
    pub effects: Effects,
}

/// The capabilities of one hook run, bound to its caller and grants.
pub struct Host {
    pub caller: Caller,
    grants: Grants,
    session: Session,
    deadline: Option<Instant>,
    logger: log::Log,
    store: state::State,
    netlink: netlink::Netlink,
    fs: Option<host_fs::RootFs>,
}

impl Host {
    pub fn new(caller: Caller, grants: Grants, session: Session) -> Host {
        Host {
            logger: log::Log::new(caller.clone()),
            store: state::State::new(caller.hook.clone(), &session.state_dir),
            caller,
            grants,
            session,
            deadline: None,
            netlink: netlink::Netlink::default(),
            fs: None,
        }
    }

    /// Calls that wait (sleep, wait-active, commands) end by this instant.
    pub fn set_deadline(&mut self, timeout: Duration) {
        self.deadline = Instant::now().checked_add(timeout);
    }

    pub fn mode(&self) -> Mode {
        self.session.mode
    }

    /// Time left before the deadline, capped at `limit`.
    fn remaining(&self, limit: Duration) -> Duration {
        match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(limit),
            None => limit,
        }
    }

    /// The choke point for a call that only observes: validated and
    /// granted by `check`, performed by `act` (in plan mode too), audited.
    fn read<T>(
        &mut self,
        capability: &'static str,
        operation: &'static str,
        args: String,
        check: Result<(), CapError>,
        act: impl FnOnce(&mut Host) -> Result<T, CapError>,
    ) -> Result<T, CapError> {
        let started = Instant::now();
        let outcome = check.and_then(|()| act(self));
        let shown = outcome
            .as_ref()
            .map(|_| "ok".to_string())
            .map_err(ToString::to_string);
        self.audit(capability, operation, &args, shown, started);
        outcome
    }

    /// The choke point for a call that changes the node (or waits for a
    /// change). In plan mode `planned` says what the call would do and
    /// nothing is performed; otherwise `act` performs it. Either way a
    /// change is appended to the run's effects and audited.
    #[allow(clippy::too_many_arguments)]
    fn change<T>(
        &mut self,
        capability: &'static str,
        operation: &'static str,
        args: String,
        access: Access,
        check: Result<(), CapError>,
        act: impl FnOnce(&mut Host) -> Result<T, CapError>,
        planned: impl FnOnce(&mut Host) -> Planned<T>,
    ) -> Result<T, CapError> {
        debug_assert!(access != Access::Read);
        let started = Instant::now();
        let (outcome, shown) = match check {
            Err(e) => (Err(e.clone()), Err(e.to_string())),
            Ok(()) if self.session.mode == Mode::Plan => match planned(self) {
                Planned::Change(v) => {
                    self.record(capability, operation, &args);
                    (Ok(v), Ok("planned".to_string()))
                }
                Planned::NoChange(v) => (Ok(v), Ok("planned: no change".to_string())),
            },
            Ok(()) => {
                let r = act(self);
                if r.is_ok() {
                    self.record(capability, operation, &args);
                }
                let shown = r
                    .as_ref()
                    .map(|_| "ok".to_string())
                    .map_err(ToString::to_string);
                (r, shown)
            }
        };
        self.audit(capability, operation, &args, shown, started);
        outcome
    }

    /// A plain change: performed, or in plan mode recorded as one.
    fn perform(
        &mut self,
        capability: &'static str,
        operation: &'static str,
        args: String,
        check: Result<(), CapError>,
        act: impl FnOnce(&mut Host) -> Result<(), CapError>,
    ) -> Result<(), CapError> {
        self.change(
            capability,
            operation,
            args,
            Access::Write,
            check,
            act,
            |_| Planned::Change(()),
        )
    }

    fn audit(
        &self,
        capability: &'static str,
        operation: &'static str,
        args: &str,
        outcome: Result<String, String>,
        started: Instant,
    ) {
        self.session.audit.record(audit::Record {
            hook: &self.caller.hook,
            point: self.caller.point.name(),
            capability,
            operation,
            args,
            outcome: outcome.unwrap_or_else(|e| e),
            elapsed: started.elapsed(),
        });
    }

    fn record(&self, capability: &'static str, operation: &'static str, args: &str) {
        self.session
            .effects
            .lock()
            .expect("effects lock")
            .push(Effect {
                capability,
                operation,
                args: args.to_string(),
            });
    }
}
