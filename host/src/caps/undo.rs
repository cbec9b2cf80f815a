//! Undoing: applying the inverses of journaled changes through the same
//! capability views (checked and audited like any call), without
//! journaling them again.

use sha2::{Digest, Sha256};

use super::change::{Change, Expect, FileImage, Inverse};
use super::journal::{Journal, Journaled, Txn, TxnLog, TxnState};
use super::systemd::UnitOp;
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
                let pending = log
                    .changes
                    .iter()
                    .filter(|c| ours(c) && !log.undone.contains(&c.seq));
                for j in pending {
                    undone += 1;
                    if let Inverse::Changes { changes } = &j.inverse {
                        for step in changes {
                            self.record(step, Inverse::Nothing);
                        }
                    }
                }
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

    /// The calling hook's changes to the file at `path` (normalized) in
    /// committed transactions that no undo has undone yet: each
    /// transaction with the sequence numbers of those changes, newest
    /// transaction first.
    fn file_changes(&self, path: &str) -> Result<Vec<(TxnLog, Vec<u32>)>, CapError> {
        let Some(journal) = Journal::existing(&self.session.state_dir)? else {
            return Ok(Vec::new());
        };
        let object = format!("file {path}");
        let mut found = Vec::new();
        for log in journal.newest_first()? {
            let log = log?;
            if log.state != TxnState::Committed {
                continue;
            }
            let seqs: Vec<u32> = log
                .changes
                .iter()
                .filter(|c| c.hook == self.caller.hook && !log.undone.contains(&c.seq))
                .filter(|c| c.change.object().as_deref() == Some(object.as_str()))
                .map(|c| c.seq)
                .collect();
            if !seqs.is_empty() {
                found.push((log, seqs));
            }
        }
        Ok(found)
    }

    /// Put the file at `path` back as it was before the calling hook's
    /// journaled changes to it (from earlier points of its lifecycle),
    /// newest first, each marked undone in its own transaction, as a
    /// rollback would; a file edited since is left as it is, with a
    /// warning. None when the journal holds no such change (nothing
    /// written, or the state directory lost); else whether the node changed.
    pub fn undo_file(&mut self, path: &str) -> Result<Option<bool>, CapError> {
        let path = super::host_fs::normalize(path)?;
        let found = self.file_changes(&path)?;
        if found.is_empty() {
            return Ok(None);
        }
        if self.mode() == super::Mode::Plan {
            for (log, seqs) in &found {
                for j in log.changes.iter().rev().filter(|c| seqs.contains(&c.seq)) {
                    if let Inverse::Changes { changes } = &j.inverse {
                        for step in changes {
                            self.record(step, Inverse::Nothing);
                        }
                    }
                }
            }
            return Ok(Some(true));
        }
        let journal = Journal::open(&self.session.state_dir)?;
        let before = self.root_fs()?.image(&path)?;
        for (log, seqs) in found {
            let done = self.undo_logged(&journal, &log, |c| seqs.contains(&c.seq))?;
            for l in done.left {
                self.log(crate::bindings::nethook::hooks::log::Level::Warn, &l, &[]);
            }
        }
        Ok(Some(self.root_fs()?.image(&path)? != before))
    }

    /// What the file at `path` held before the calling hook first changed
    /// it, by the journal (inner None: no file), for an undo that edits
    /// the file back instead of replacing it. None when the journal holds
    /// no change of it that is not undone yet.
    pub fn file_before(&mut self, path: &str) -> Result<Option<Option<FileImage>>, CapError> {
        let path = super::host_fs::normalize(path)?;
        let found = self.file_changes(&path)?;
        let oldest = found
            .iter()
            .rev()
            .flat_map(|(log, seqs)| log.changes.iter().filter(|c| seqs.contains(&c.seq)));
        for j in oldest {
            if let Inverse::Changes { changes } = &j.inverse {
                if let Some(Change::FileRestore { previous, .. }) = changes.first() {
                    return Ok(Some(previous.clone()));
                }
            }
        }
        Ok(None)
    }

    /// Undo the calling hook's changes to `path` with what the caller
    /// worked out the file should hold (`to`; None: no file), for an edit
    /// taken out of a file others changed too: one undo step, not
    /// journaled again, applied only while the file still holds what it
    /// holds now; then those changes are marked undone (`how`). True when
    /// the node changed.
    pub fn undo_file_to(
        &mut self,
        path: &str,
        to: Option<Vec<u8>>,
        how: &str,
    ) -> Result<bool, CapError> {
        let path = super::host_fs::normalize(path)?;
        let now = self.root_fs()?.image(&path)?;
        let expect = match &now {
            Some(img) => Expect::Sha256(hex::encode(Sha256::digest(&img.bytes))),
            None => Expect::Absent,
        };
        let mode = now.as_ref().map_or(0o644, |img| img.mode);
        let step = Change::FileRestore {
            path: path.clone(),
            previous: to.map(|bytes| FileImage { bytes, mode }),
            expect,
        };
        if self.mode() == super::Mode::Plan {
            let changes = step_changes(&step, &now);
            self.record(&step, Inverse::Nothing);
            return Ok(changes);
        }
        self.apply_undo(&step)?;
        self.file_put_back(&path, how)?;
        Ok(self.root_fs()?.image(&path)? != now)
    }

    /// Mark the calling hook's changes to `path` undone: the caller put
    /// the file back its own way (`how`), so neither a later undo nor a
    /// rollback puts it back again.
    pub fn file_put_back(&mut self, path: &str, how: &str) -> Result<(), CapError> {
        if self.mode() == super::Mode::Plan {
            return Ok(());
        }
        let path = super::host_fs::normalize(path)?;
        let journal = Journal::open(&self.session.state_dir)?;
        for (log, seqs) in self.file_changes(&path)? {
            let mut txn = journal.reopen(&log)?;
            for seq in seqs {
                txn.undone(seq, how)?;
            }
        }
        Ok(())
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

    fn apply_step(&mut self, step: &Change) -> Result<(), CapError> {
        use Change::*;
        match step {
            LinkSetUp { link, up: true } => self.netlink().set_up(link),
            LinkSetUp { link, up: false } => self.netlink().set_down(link),
            LinkSetMtu { link, mtu } => self.netlink().set_mtu(link, *mtu),
            LinkRename { link, to } => self.netlink().rename(link, to),
            LinkAltNameAdd { link, name } => self.add_alt_name(link, name),
            LinkAltNameDel { link, name } => self.del_alt_name(link, name),
            AddressAdd {
                link,
                address,
                prefix_len,
            } => self.netlink().add_address(link, address, *prefix_len),
            AddressDel {
                link,
                address,
                prefix_len,
            } => self.netlink().del_address(link, address, *prefix_len),
            AddressLifetime {
                link,
                address,
                prefix_len,
                valid,
                preferred,
            } => self.set_address_lifetime(link, address, *prefix_len, *valid, *preferred),
            RouteAdd { route } => self.netlink().add_route(route),
            RouteDel { route } => self.netlink().del_route(route),
            RuleAdd { rule } => self.netlink().add_rule(rule),
            RuleDel { rule } => self.netlink().del_rule(rule),
            FileRestore {
                path,
                previous,
                expect,
            } => self.host_fs().restore(path, previous, expect).map(drop),
            UnitStart { unit } => self.systemd().unit_op(UnitOp::Start, unit),
            UnitStop { unit } => self.systemd().unit_op(UnitOp::Stop, unit),
            UnitRestart { unit } => self.systemd().unit_op(UnitOp::Restart, unit),
            UnitReload { unit } => self.systemd().unit_op(UnitOp::Reload, unit),
            UnitResetFailed { unit } => self.systemd().unit_op(UnitOp::ResetFailed, unit),
            DaemonReload => self.systemd().daemon_reload(),
            NmModify { id, settings } => self.network_manager().connection_modify(id, settings),
            NmUp { id } => self.network_manager().connection_up(id),
            NmDown { id } => self.network_manager().connection_down(id),
            NmReload => self.network_manager().reload(),
            NmReloadConf => self.network_manager().reload_conf(),
            NmLoad { path } => self.network_manager().load(path),
            NmActivate { uuid, ifname } => self.network_manager().activate(uuid, ifname),
            NmDeactivate { uuid } => self.network_manager().deactivate(uuid),
            NetworkdReload => self.systemd().networkd_reload(),
            NetworkdReconfigure { link } => self.systemd().networkd_reconfigure(link),
            UdevTriggerDevice { link, action } => self.udev().trigger_device(link, action),
            UdevReloadRules => self.udev().reload_rules(),
            UdevTrigger { subsystem, action } => self.udev().trigger(subsystem, action),
            StateSet { key, value } => self.state().set(key, value),
            StateDelete { key } => self.state().delete(key).map(drop),
            // The namespace is judged like any other call's: an undo
            // acts through the grants the hook has now.
            InNetns { netns, inner } => {
                self.grants.netns(netns)?;
                self.in_netns(Some(netns), |h| h.apply_step(inner))
            }
            LinkMove { link, from, to } => {
                let to_wit = |t: &Option<super::netns::NetnsTarget>| {
                    t.as_ref().map(super::netns::NetnsTarget::to_wit)
                };
                self.l3().move_link(link, &to_wit(from), &to_wit(to))
            }
            L3Apply {
                link,
                netns,
                config,
            } => {
                let ns = netns.as_ref().map(super::netns::NetnsTarget::to_wit);
                self.l3().apply(link, config, &ns).map(drop)
            }
            NeighAdd { neighbour } => self.l3().add_neighbour(neighbour, &None),
            NeighDel { neighbour } => self.l3().del_neighbour(neighbour, &None),
            SysctlSet { key, value } => self.l3().sysctl_set(key, value, &None),
            FileWrite { .. }
            | FileRemove { .. }
            | LinkMoveNetns { .. }
            | UnitWaitActive { .. }
            | UdevSettle { .. } => Err(CapError::Invalid(format!("{step} is not an undo step"))),
        }
    }
}

/// Whether a file restore would change a file that holds `now`.
fn step_changes(step: &Change, now: &Option<FileImage>) -> bool {
    match step {
        Change::FileRestore { previous, .. } => {
            previous.as_ref().map(|i| &i.bytes) != now.as_ref().map(|i| &i.bytes)
        }
        _ => true,
    }
}
