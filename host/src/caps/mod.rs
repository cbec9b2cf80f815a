//! The capability layer: the one place through which hooks reach the node.
//!
//! Each module maps 1:1 to a WIT interface and is reached through a view on
//! [`Host`] (`host.systemd().restart(..)`), so the built-in module and WASM
//! hooks (through `wasm::glue`) call the same code. Every call passes
//! `Host::read` or `Host::mutate`: argument validation, the grant check
//! (for a change, the grants its `Change` names), plan mode (writes
//! recorded, not performed) and one audit record.

pub mod address_lifetime;
pub mod audit;
pub mod change;
pub mod exec;
pub mod grants;
pub mod host_fs;
pub mod journal;
pub mod l3;
pub mod link_names;
pub mod log;
pub mod netlink;
pub mod netns;
pub mod network_manager;
pub mod probe;
pub mod state;
pub mod systemd;
pub mod time;
pub mod udev;
mod undo;
pub mod validate;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::point::HookPoint;
pub use audit::Audit;
pub use change::{Change, Effect, Inverse};
pub use exec::Node;
pub use grants::Grants;
use l3::L3Change;

/// Why a capability call failed; mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The kernel (EEXIST) or the node already has it; guests see `failed`.
    #[error("already exists: {0}")]
    Exists(String),
    #[error("failed: {0}")]
    Failed(String),
}

impl CapError {
    /// The text without the kind, to say inside another error.
    pub fn message(&self) -> &str {
        match self {
            CapError::Denied(m)
            | CapError::Invalid(m)
            | CapError::NotFound(m)
            | CapError::Exists(m)
            | CapError::Failed(m) => m,
        }
    }
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
    /// The handler's transaction, when its changes are journaled.
    pub txn: Option<Recording>,
}

/// Where one handler's run records what it does: every change journaled
/// first, and its state changes kept until the transaction commits. One
/// value, so there is never one without the other.
#[derive(Clone)]
pub struct Recording {
    pub txn: Arc<Mutex<journal::Txn>>,
    pub state: state::SharedPending,
}

impl Recording {
    pub fn new(txn: journal::Txn) -> Recording {
        Recording {
            txn: Arc::new(Mutex::new(txn)),
            state: Default::default(),
        }
    }
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
    /// The namespace netlink and sysctl calls go to (none: nethook's own),
    /// and the connections to the others, opened once each.
    netns: Option<netns::NetnsTarget>,
    other_netlinks: std::collections::HashMap<netns::NetnsTarget, netlink::Netlink>,
    fs: Option<host_fs::RootFs>,
    /// False while undoing: inverses are applied, not journaled again.
    journaling: bool,
    /// Calls audited one record each so far, and those past the budget,
    /// counted by what they were, for one summary when the run ends.
    audited: u64,
    suppressed: std::collections::BTreeMap<(&'static str, &'static str, &'static str), u64>,
}

/// Audit records one hook run writes one by one; past it, calls are
/// counted and summarised when the run ends. A hook calling a denied
/// capability in a loop until its deadline must not flood the log.
pub const AUDIT_BUDGET: u64 = 1000;

impl Drop for Host {
    fn drop(&mut self) {
        for ((capability, operation, outcome), count) in std::mem::take(&mut self.suppressed) {
            let args = format!("{count} more {capability}.{operation} call(s), {outcome}, past the audit budget of {AUDIT_BUDGET}");
            self.session.audit.record(audit::Record {
                hook: &self.caller.hook,
                point: self.caller.point.name(),
                capability: "audit",
                operation: "suppressed",
                args: &args,
                outcome: "summarised".into(),
                elapsed: Duration::ZERO,
            });
        }
    }
}

impl Host {
    pub fn new(caller: Caller, grants: Grants, session: Session) -> Host {
        Host {
            logger: log::Log::new(caller.clone()),
            store: state::State::new(
                caller.hook.clone(),
                &session.state_dir,
                session.txn.as_ref().map(|r| r.state.clone()),
            ),
            caller,
            grants,
            session,
            deadline: None,
            netlink: netlink::Netlink::default(),
            netns: None,
            other_netlinks: Default::default(),
            fs: None,
            journaling: true,
            audited: 0,
            suppressed: Default::default(),
        }
    }

    /// Run `f` with netlink and sysctl calls going to `ns` (none: where
    /// they go now); changes made in it are journaled as made there.
    pub(crate) fn in_netns<T>(
        &mut self,
        ns: Option<&netns::NetnsTarget>,
        f: impl FnOnce(&mut Host) -> T,
    ) -> T {
        let Some(ns) = ns else { return f(self) };
        if self.netns.as_ref() == Some(ns) {
            return f(self);
        }
        let conn = self
            .other_netlinks
            .remove(ns)
            .unwrap_or_else(|| netlink::Netlink::in_ns(Some(ns.clone())));
        let own_conn = std::mem::replace(&mut self.netlink, conn);
        let own_ns = self.netns.replace(ns.clone());
        let r = f(self);
        let conn = std::mem::replace(&mut self.netlink, own_conn);
        self.netns = own_ns;
        self.other_netlinks.insert(ns.clone(), conn);
        r
    }

    /// A change as journaled: inside the namespace calls go to now.
    fn scoped(&self, change: Change) -> Change {
        match (&self.netns, &change) {
            (None, _) => change,
            (
                _,
                Change::InNetns { .. }
                | Change::L3(L3Change::LinkMove { .. } | L3Change::L3Apply { .. }),
            ) => change,
            (Some(ns), c) if matches!(c.capability(), "netlink" | "l3") => Change::InNetns {
                netns: ns.clone(),
                inner: Box::new(change),
            },
            _ => change,
        }
    }

    fn scoped_inverse(&self, inverse: Inverse) -> Inverse {
        match inverse {
            Inverse::Changes { changes } => Inverse::Changes {
                changes: changes.into_iter().map(|c| self.scoped(c)).collect(),
            },
            other => other,
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

    /// The choke point for a call that changes the node. `check` is the
    /// view's decision on its arguments; the grants are the change's own
    /// ([`Change::grant`]), judged after it. `undo` reads from the node what
    /// undoes the change, before it is made; `act` makes it. In plan mode
    /// `planned` says what the call would do and nothing is performed.
    /// Otherwise the change and its inverse are journaled (durably) before
    /// `act`, and its outcome after. Either way it is one effect of the run
    /// and one audit record.
    fn mutate<T>(
        &mut self,
        change: impl Into<Change>,
        check: Result<(), CapError>,
        undo: impl FnOnce(&mut Host) -> Result<Inverse, CapError>,
        act: impl FnOnce(&mut Host) -> Result<T, CapError>,
        planned: impl FnOnce(&mut Host) -> Planned<T>,
    ) -> Result<T, CapError> {
        let started = Instant::now();
        let change = self.scoped(change.into());
        let check = check.and_then(|()| change.grant(&self.grants));
        let (outcome, shown) = match check {
            Err(e) => (Err(e.clone()), Err(e.to_string())),
            Ok(()) if self.session.mode == Mode::Plan => match planned(self) {
                Planned::Change(v) => {
                    let inverse = undo(self).unwrap_or_else(|e| Inverse::Irreversible {
                        why: format!("cannot read what it replaces: {e}"),
                    });
                    let inverse = self.scoped_inverse(inverse);
                    self.record(&change, inverse);
                    (Ok(v), Ok("planned".to_string()))
                }
                Planned::NoChange(v) => (Ok(v), Ok("planned: no change".to_string())),
            },
            Ok(()) => {
                let r = self.apply_journaled(&change, undo, act);
                let shown = r
                    .as_ref()
                    .map(|_| "ok".to_string())
                    .map_err(ToString::to_string);
                (r, shown)
            }
        };
        self.audit_change(&change, shown, started);
        outcome
    }

    fn apply_journaled<T>(
        &mut self,
        change: &Change,
        undo: impl FnOnce(&mut Host) -> Result<Inverse, CapError>,
        act: impl FnOnce(&mut Host) -> Result<T, CapError>,
    ) -> Result<T, CapError> {
        let txn = self
            .session
            .txn
            .as_ref()
            .map(|r| r.txn.clone())
            .filter(|_| self.journaling);
        // The inverse is read from the node only where it is kept: an
        // undo's own steps, and runs without a transaction, keep none.
        // Unreadable prior state does not stop the change (its own error,
        // if any, is the one to report); it makes the change irreversible,
        // which a rollback then reports as left.
        let inverse = match txn {
            Some(_) => undo(self).unwrap_or_else(|e| Inverse::Irreversible {
                why: format!("cannot read what it replaces: {e}"),
            }),
            None => Inverse::Nothing,
        };
        let inverse = self.scoped_inverse(inverse);
        let seq = match &txn {
            Some(t) => Some(t.lock().expect("txn lock").change(
                &self.caller.hook,
                change,
                &inverse,
            )?),
            None => None,
        };
        fault::boundary("journaled");
        let r = act(self);
        fault::boundary("performed");
        if let (Some(t), Some(seq)) = (&txn, seq) {
            let shown = match &r {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            };
            t.lock().expect("txn lock").done(seq, &shown)?;
        }
        let v = r?;
        self.record(change, inverse);
        Ok(v)
    }

    /// A call that waits for a state an earlier change brings about: not
    /// journaled (there is nothing to undo), recorded in plan mode.
    fn wait(
        &mut self,
        change: impl Into<Change>,
        check: Result<(), CapError>,
        act: impl FnOnce(&mut Host) -> Result<(), CapError>,
    ) -> Result<(), CapError> {
        let started = Instant::now();
        let change = change.into();
        let check = check.and_then(|()| change.grant(&self.grants));
        let r = match check {
            Err(e) => Err(e),
            Ok(()) if self.session.mode == Mode::Plan => {
                self.record(&change, Inverse::Nothing);
                Ok(())
            }
            Ok(()) => act(self),
        };
        let shown = match &r {
            Ok(()) if self.session.mode == Mode::Plan => Ok("planned".to_string()),
            Ok(()) => Ok("ok".to_string()),
            Err(e) => Err(e.to_string()),
        };
        self.audit_change(&change, shown, started);
        r
    }

    fn audit_change(&mut self, change: &Change, outcome: Result<String, String>, started: Instant) {
        let args = change.args();
        self.audit(
            change.capability(),
            change.operation(),
            &args,
            outcome,
            started,
        );
    }

    fn audit(
        &mut self,
        capability: &'static str,
        operation: &'static str,
        args: &str,
        outcome: Result<String, String>,
        started: Instant,
    ) {
        self.audited += 1;
        if self.audited == AUDIT_BUDGET + 1 {
            // Said at once: a run given up on at its deadline never ends
            // the usual way, and its summary may never be written.
            self.session.audit.record(audit::Record {
                hook: &self.caller.hook,
                point: self.caller.point.name(),
                capability: "audit",
                operation: "budget",
                args: &format!("{AUDIT_BUDGET} records spent: further calls are counted, and summarised when the run ends"),
                outcome: "summarising".into(),
                elapsed: Duration::ZERO,
            });
        }
        if self.audited > AUDIT_BUDGET {
            let kind = match &outcome {
                Ok(_) => "ok",
                Err(e) => e.split(':').next().map_or("failed", |k| match k {
                    "denied" => "denied",
                    "invalid" => "invalid",
                    "not found" => "not found",
                    "already exists" => "already exists",
                    _ => "failed",
                }),
            };
            *self
                .suppressed
                .entry((capability, operation, kind))
                .or_default() += 1;
            return;
        }
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

    fn record(&self, change: &Change, inverse: Inverse) {
        self.session
            .effects
            .lock()
            .expect("effects lock")
            .push(Effect {
                change: change.clone(),
                inverse,
            });
    }
}

/// Fault injection for the recovery tests, in debug builds only:
/// `NETHOOK_FAULT_KILL_AT=N` kills the process with SIGKILL at the N-th
/// boundary (1-based) between journaling and performing a change, and
/// `NETHOOK_FAULT_TRACE=1` logs every boundary so a test can count them.
pub(crate) mod fault {
    #[cfg(debug_assertions)]
    pub fn boundary(what: &str) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        if std::env::var_os("NETHOOK_FAULT_TRACE").is_some() {
            tracing::info!(target: "nethook::fault", boundary = n, what, "fault boundary");
        }
        let kill_at = std::env::var("NETHOOK_FAULT_KILL_AT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok());
        if kill_at == Some(n) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }

    #[cfg(not(debug_assertions))]
    pub fn boundary(_: &str) {}
}
