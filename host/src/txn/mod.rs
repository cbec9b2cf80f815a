//! The transaction owner: a point's handlers each run in a transaction of
//! their own, journaled in the state dir (`caps::journal`), kept open until
//! the point ends, then committed or rolled back together, newest first.
//! Begin (lock, recover what was interrupted), record, commit, roll back
//! and recover-all are here and nowhere else; whether a failure rolls back
//! is `Error::rolls_back`, decided once beside `exit_code`.
//!
//! It acts on the node only through the `Host` the caller makes for the
//! hook whose changes are undone (`Undoer`): undoing is checked against
//! that hook's grants and audited like any call.

use std::fs::File;
use std::path::Path;

use nix::fcntl::Flock;

use crate::caps::journal::{Journal, Txn, TxnState};
use crate::caps::{Host, Recording};
use crate::error::Error;
use crate::point::HookPoint;
use crate::spec::OnFailure;

pub mod error;
pub use error::TxnError;

/// Makes the `Host` that undoes what `hook` journaled at `point`, under the
/// grants that hook has now.
pub type Undoer<'a> = &'a dyn Fn(&str, HookPoint) -> Host;

/// The journal of a state dir, locked for this run: nethook invocations
/// never interleave.
pub struct Transactions {
    journal: Journal,
    _lock: Flock<File>,
}

/// One handler's transaction, open until the point ends.
pub struct Transaction {
    recording: Recording,
}

impl Transactions {
    /// Open and lock the journal.
    pub fn open(state_dir: &Path) -> Result<Transactions, TxnError> {
        let journal = Journal::open(state_dir)?;
        let lock = journal.lock()?;
        Ok(Transactions {
            journal,
            _lock: lock,
        })
    }

    /// Open, lock, and roll back what interrupted runs left: what any run
    /// does before anything else. Returns what recovery did.
    pub fn begin_run(
        state_dir: &Path,
        undoer: Undoer<'_>,
    ) -> Result<(Transactions, Vec<String>), TxnError> {
        let t = Transactions::open(state_dir)?;
        let report = t.recover(undoer)?;
        Ok((t, report))
    }

    /// A transaction for `hook`'s changes at `point`.
    pub fn begin(&self, point: HookPoint, hook: &str) -> Result<Transaction, TxnError> {
        let txn = self.journal.begin(point.name(), hook)?;
        Ok(Transaction {
            recording: Recording::new(txn),
        })
    }

    /// Roll back every transaction a killed nethook left open, newest first
    /// (a chain's later handler may have changed what an earlier one did),
    /// exactly once: each undone change is marked durably, so a recovery
    /// that is itself killed resumes where it stopped.
    pub fn recover(&self, undoer: Undoer<'_>) -> Result<Vec<String>, TxnError> {
        let mut report = Vec::new();
        for log in self.journal.newest_first()? {
            let log = log?;
            if log.state != TxnState::Open {
                continue;
            }
            let mut done =
                undoer(&log.hook, log.point).undo_logged(&self.journal, &log, |_| true)?;
            done.txn.rolled_back(done.left.clone())?;
            self.journal.forget(&log.path)?;
            report.push(format!(
                "recovered: {} at {} (pid {}) was interrupted; {} of its changes rolled back{}",
                log.hook,
                log.point,
                log.pid,
                done.count,
                if done.left.is_empty() {
                    String::new()
                } else {
                    format!("; left: {}", done.left.join("; "))
                }
            ));
        }
        Ok(report)
    }

    /// End a point: commit its handlers' transactions (each handler's state
    /// written first, its journal records before that), or, when `result`
    /// is a failure that rolls back and the point's `on_failure` says so,
    /// roll them back newest first. Returns the point's result: the
    /// failure, with what the rollback could not undo.
    pub fn settle(
        &self,
        txns: Vec<Transaction>,
        state_dir: &Path,
        point: HookPoint,
        result: Result<(), Error>,
        on_failure: OnFailure,
        undoer: Undoer<'_>,
    ) -> Result<(), Error> {
        if !rolls_back(&result, on_failure) {
            for t in &txns {
                t.commit(state_dir)?;
            }
            if result.is_ok() {
                let undo_point = matches!(point, HookPoint::Dataplane(p) if p.is_undo());
                self.journal.trim(undo_point).map_err(TxnError)?;
            }
            return result;
        }
        let cause = result.expect_err("rolling back a failure");
        let (count, left) = self.roll_back(txns, point, undoer)?;
        if left.is_empty() {
            if count > 0 {
                tracing::warn!(%point, changes = count, "rolled back");
            }
            Err(cause)
        } else {
            Err(Error::RollbackIncomplete {
                cause: Box::new(cause),
                left,
            })
        }
    }

    /// Undo `txns`, newest first, each through the grants of its hook;
    /// how many changes were undone and what was left.
    fn roll_back(
        &self,
        txns: Vec<Transaction>,
        point: HookPoint,
        undoer: Undoer<'_>,
    ) -> Result<(usize, Vec<String>), TxnError> {
        let (mut count, mut left) = (0, Vec::new());
        for t in txns.into_iter().rev() {
            let mut txn = t.lock();
            let Some(path) = txn.path().map(Path::to_path_buf) else {
                // It changed nothing: nothing to roll back.
                txn.rolled_back(Vec::new())?;
                continue;
            };
            let Some(log) = self.journal.log(&path)? else {
                // Not readable as a transaction: quarantined, with a warning.
                left.push(unreadable(&path));
                continue;
            };
            let done = undoer(&log.hook, point).undo_logged(&self.journal, &log, |_| true)?;
            // Closed through the run's own handle: a straggling guest
            // thread can journal nothing more.
            txn.rolled_back(done.left.clone())?;
            self.journal.forget(&path)?;
            count += done.count;
            left.extend(done.left);
        }
        Ok((count, left))
    }

    /// Roll back one transaction at once (an optional handler of a chain
    /// that failed), leaving the others open.
    pub fn roll_back_one(
        &self,
        t: Transaction,
        point: HookPoint,
        undoer: Undoer<'_>,
    ) -> Result<Vec<String>, TxnError> {
        self.roll_back(vec![t], point, undoer).map(|(_, left)| left)
    }
}

fn unreadable(path: &Path) -> String {
    format!(
        "the changes journaled in {} (unreadable, moved aside)",
        path.display()
    )
}

/// Whether a point that ended with `result` is rolled back: a failure of
/// its hooks or its verification, unless the point keeps what it did.
pub fn rolls_back(result: &Result<(), Error>, on_failure: OnFailure) -> bool {
    match result {
        Ok(()) => false,
        Err(e) => e.rolls_back() && on_failure == OnFailure::Rollback,
    }
}

impl Transaction {
    /// Where the handler's changes are recorded: given to its `Session`.
    pub fn recording(&self) -> Recording {
        self.recording.clone()
    }

    /// The journal file, poisoned or not: a guest given up on while
    /// blocked in a host call may have held the lock when it was abandoned.
    fn lock(&self) -> std::sync::MutexGuard<'_, Txn> {
        self.recording.txn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its journal records made durable, its state written, then its commit
    /// record: a power loss between two of them leaves what recovery undoes.
    fn commit(&self, state_dir: &Path) -> Result<(), TxnError> {
        let mut txn = self.lock();
        txn.sync()?;
        crate::caps::state::flush(&self.recording.state, state_dir)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::exec::{ExecMode, Node};
    use crate::caps::{Audit, Caller, Grants, Mode, Session};
    use crate::point::DataplanePoint;
    use std::time::Duration;

    fn host(dir: &Path, hook: &str, txn: Option<Recording>) -> Host {
        let session = Session {
            state_dir: dir.to_path_buf(),
            node: Node {
                root: dir.to_path_buf(),
                exec: ExecMode::Chroot,
                command_timeout: Duration::from_secs(1),
            },
            mode: Mode::Apply,
            audit: Audit::default(),
            effects: Default::default(),
            txn,
        };
        let caller = Caller {
            hook: hook.into(),
            point: DataplanePoint::VppRunning.into(),
        };
        Host::new(caller, Grants::default(), session)
    }

    const POINT: HookPoint = HookPoint::Dataplane(DataplanePoint::VppRunning);

    #[test]
    fn which_failures_roll_back() {
        let hook = |message: &str| Error::HookFailed {
            hook: "h".into(),
            point: POINT,
            message: message.into(),
        };
        assert!(!rolls_back(&Ok(()), OnFailure::Rollback));
        assert!(rolls_back(&Err(hook("x")), OnFailure::Rollback));
        assert!(!rolls_back(&Err(hook("x")), OnFailure::Keep));
        let verify = Error::VerifyFailed {
            point: POINT,
            why: "x".into(),
        };
        assert!(rolls_back(&Err(verify), OnFailure::Rollback));
        // What never ran a handler has nothing to roll back.
        for e in [
            Error::Setting("x".into()),
            Error::component("/x.wasm", "x"),
            Error::NotPlannable(DataplanePoint::VppRunning),
            Error::Other("x".into()),
        ] {
            assert!(!rolls_back(&Err(e), OnFailure::Rollback));
        }
    }

    /// Two handlers set one key in turn; the point fails: the value is
    /// the one from before the point, which only newest-first undoing gives.
    #[test]
    fn a_failed_point_is_undone_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        host(d, "a", None).state().set("k", "admin").unwrap();
        let txns = Transactions::open(d).unwrap();
        let mut open = Vec::new();
        for (hook, value) in [("a", "first"), ("a", "second")] {
            let t = txns.begin(POINT, hook).unwrap();
            host(d, hook, Some(t.recording()))
                .state()
                .set("k", value)
                .unwrap();
            open.push(t);
        }
        let undoer = |hook: &str, _: HookPoint| host(d, hook, None);
        let failed = Err(Error::HookFailed {
            hook: "a".into(),
            point: POINT,
            message: "no".into(),
        });
        let r = txns.settle(open, d, POINT, failed, OnFailure::Rollback, &undoer);
        assert!(matches!(r, Err(Error::HookFailed { .. })), "{r:?}");
        assert_eq!(
            host(d, "a", None).state().get("k").unwrap().as_deref(),
            Some("admin")
        );

        // Committed, the last value stays; recovery finds nothing open.
        let t = txns.begin(POINT, "a").unwrap();
        host(d, "a", Some(t.recording()))
            .state()
            .set("k", "kept")
            .unwrap();
        txns.settle(vec![t], d, POINT, Ok(()), OnFailure::Rollback, &undoer)
            .unwrap();
        assert_eq!(
            host(d, "a", None).state().get("k").unwrap().as_deref(),
            Some("kept")
        );
        assert!(txns.recover(&undoer).unwrap().is_empty());
    }

    /// A transaction left open (its process killed) is undone by the next
    /// run before anything else.
    #[test]
    fn an_interrupted_transaction_is_recovered_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        host(d, "a", None).state().set("k", "admin").unwrap();
        {
            let txns = Transactions::open(d).unwrap();
            let t = txns.begin(POINT, "a").unwrap();
            host(d, "a", Some(t.recording()))
                .state()
                .set("k", "half")
                .unwrap();
            // Its state reached the disk, its commit never did.
            t.lock().sync().unwrap();
            crate::caps::state::flush(&t.recording.state, d).unwrap();
        }
        assert_eq!(
            host(d, "a", None).state().get("k").unwrap().as_deref(),
            Some("half")
        );
        let undoer = |hook: &str, _: HookPoint| host(d, hook, None);
        let (_, report) = Transactions::begin_run(d, &undoer).unwrap();
        assert_eq!(report.len(), 1, "{report:?}");
        assert!(
            report[0].starts_with("recovered: a at vpp-running (pid "),
            "{report:?}"
        );
        assert_eq!(
            host(d, "a", None).state().get("k").unwrap().as_deref(),
            Some("admin")
        );
    }
}
