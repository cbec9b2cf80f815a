//! Undoing: applying the inverses of journaled changes through the same
//! capability views (checked and audited like any call), without
//! journaling them again.

use super::change::{CapabilityChange, Change, Inverse};
use super::journal::{Journal, Journaled, Txn, TxnLog, TxnState};
use super::{CapError, Host};

/// What an undo of a journaled transaction did.
pub struct Undone {
    /// What could not be undone, change by change.
    pub left: Vec<String>,
    /// How many changes were undone (or tried).
    pub count: usize,
    /// The transaction's file, reopened to append to.
    pub txn: Txn,
}

impl Host {
    /// Undo the changes of a journaled transaction that no undo has marked
    /// yet and that `of` selects, each marked undone durably in its file
    /// as it completes (so an undo killed half-way resumes, never repeats).
    /// Kernel and unit changes of another boot are skipped: the reboot
    /// undid them.
    pub fn undo_logged(
        &mut self,
        journal: &Journal,
        log: &TxnLog,
        of: impl Fn(&Journaled) -> bool,
    ) -> Result<Undone, CapError> {
        let pending: Vec<Journaled> = log
            .changes
            .iter()
            .filter(|c| !log.undone.contains(&c.seq) && of(c))
            .cloned()
            .collect();
        let mut txn = journal.reopen(log)?;
        let left = self.undo_changes(&pending, !log.this_boot(), |seq, outcome| {
            txn.undone(seq, outcome)
        })?;
        Ok(Undone {
            left,
            count: pending.len(),
            txn,
        })
    }

    /// `undo.lifecycle`: undo every committed change of the calling hook
    /// that no undo point has undone yet, newest transaction first, each
    /// marked undone in its own journal file.
    pub fn undo_lifecycle(&mut self) -> Result<u32, CapError> {
        let started = std::time::Instant::now();
        let r = self.undo_lifecycle_inner();
        let shown = match &r {
            Ok(n) => Ok(format!("ok: {n} changes")),
            Err(e) => Err(e.to_string()),
        };
        self.audit("undo", "lifecycle", "", shown, started);
        r
    }

    fn undo_lifecycle_inner(&mut self) -> Result<u32, CapError> {
        let Some(journal) = Journal::existing(&self.session.state_dir)? else {
            return Ok(0);
        };
        let hook = self.caller.hook.clone();
        let mut undone = 0;
        let ours = |c: &Journaled| c.hook == hook;
        for log in journal.newest_first()? {
            let log = log?;
            if log.state != TxnState::Committed {
                continue;
            }
            if self.mode() == super::Mode::Plan {
                let pending: Vec<&Journaled> = log
                    .changes
                    .iter()
                    .filter(|c| ours(c) && !log.undone.contains(&c.seq))
                    .collect();
                undone += pending.len() as u32;
                self.plan_undo(pending);
                continue;
            }
            let done = self.undo_logged(&journal, &log, ours)?;
            undone += done.count as u32;
            for l in done.left {
                self.log(crate::bindings::nethook::hooks::log::Level::Warn, &l, &[]);
            }
        }
        Ok(undone)
    }

    /// Plan mode: what undoing `changes` would do, recorded as the run's
    /// effects, in the order given.
    pub(super) fn plan_undo<'a>(&self, changes: impl IntoIterator<Item = &'a Journaled>) {
        for j in changes {
            if let Inverse::Changes { changes } = &j.inverse {
                for step in changes {
                    self.record(step, Inverse::Nothing);
                }
            }
        }
    }

    /// Undo `changes` (in the order made) in reverse. Changes that make a
    /// service take up configuration again (restarts, reloads) run last,
    /// once each, in the order first made, after everything they read was
    /// put back. `skip_volatile`: the node rebooted since, so kernel and
    /// unit state is already gone and only persistent changes are undone.
    /// `done(seq, outcome)` is told of each step as it completes.
    pub fn undo_changes(
        &mut self,
        changes: &[Journaled],
        skip_volatile: bool,
        mut done: impl FnMut(u32, &str) -> Result<(), CapError>,
    ) -> Result<Vec<String>, CapError> {
        let mut left = Vec::new();
        let mut reapply: Vec<(u32, Change)> = Vec::new();
        for j in changes.iter().rev() {
            if skip_volatile && !j.change.persistent() {
                done(j.seq, "skipped: the node rebooted since")?;
                continue;
            }
            let failed = j.outcome.as_deref().is_some_and(|o| o != "ok");
            match &j.inverse {
                // A restart or reload that failed took up nothing.
                Inverse::Changes { changes } if failed && changes.iter().all(Change::reapplies) => {
                    done(j.seq, "nothing to undo: it failed")?
                }
                Inverse::Nothing => done(j.seq, "nothing to undo")?,
                Inverse::Irreversible { why } => {
                    left.push(format!("{}: cannot be undone: {why}", j.change));
                    done(j.seq, "irreversible")?;
                }
                Inverse::Changes { changes } => {
                    let mut failed = None;
                    for step in changes {
                        if step.reapplies() {
                            if !reapply.iter().any(|(_, c)| c == step) {
                                reapply.push((j.seq, step.clone()));
                            }
                            continue;
                        }
                        if let Err(e) = self.apply_undo(step) {
                            failed = Some(format!("{}: undo {step} failed: {e}", j.change));
                        }
                    }
                    match failed {
                        Some(why) => {
                            done(j.seq, &why)?;
                            left.push(why);
                        }
                        None => done(j.seq, "ok")?,
                    }
                }
            }
        }
        reapply.sort_by_key(|(seq, _)| *seq);
        for (_, step) in reapply {
            // Everything is back as it was; only telling a service so failed.
            if let Err(e) = self.apply_undo(&step) {
                self.log(
                    crate::bindings::nethook::hooks::log::Level::Warn,
                    &format!("{step}, to take up what was put back, failed: {e}"),
                    &[],
                );
            }
        }
        Ok(left)
    }

    /// One undo step. The node already being as the step wants it (a
    /// change that was journaled but never made) counts as done.
    pub(super) fn apply_undo(&mut self, step: &Change) -> Result<(), CapError> {
        let was = std::mem::replace(&mut self.journaling, false);
        let r = self.apply_step(step);
        self.journaling = was;
        match r {
            Err(CapError::NotFound(_) | CapError::Exists(_)) => Ok(()),
            other => other,
        }
    }

    /// One step through the view of the capability that owns it.
    fn apply_step(&mut self, step: &Change) -> Result<(), CapError> {
        match step {
            Change::Netlink(c) => c.apply(self),
            Change::HostFs(c) => c.apply(self),
            Change::Systemd(c) => c.apply(self),
            Change::NetworkManager(c) => c.apply(self),
            Change::Udev(c) => c.apply(self),
            Change::State(c) => c.apply(self),
            Change::L3(c) => c.apply(self),
            // The namespace is judged like any other call's: an undo
            // acts through the grants the hook has now.
            Change::InNetns { netns, inner } => {
                self.grants.netns(netns)?;
                self.in_netns(Some(netns), |h| h.apply_step(inner))
            }
        }
    }
}
