//! Undoing the calling hook's file changes from the journal, file by
//! file, at its undo points: what the built-in module does in place of
//! keeping records of its own (a component has `undo.lifecycle`, which
//! undoes all of its changes at once).

use super::super::journal::{Journal, TxnLog, TxnState};
use super::super::{CapError, Change, Host, Inverse, Mode};
use super::{normalize, Expect, FileImage, HostFsChange};

impl Host {
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
        let path = normalize(path)?;
        let found = self.file_changes(&path)?;
        if found.is_empty() {
            return Ok(None);
        }
        if self.mode() == Mode::Plan {
            for (log, seqs) in &found {
                self.plan_undo(log.changes.iter().rev().filter(|c| seqs.contains(&c.seq)));
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
        let path = normalize(path)?;
        let found = self.file_changes(&path)?;
        let oldest = found
            .iter()
            .rev()
            .flat_map(|(log, seqs)| log.changes.iter().filter(|c| seqs.contains(&c.seq)));
        for j in oldest {
            if let Inverse::Changes { changes } = &j.inverse {
                if let Some(Change::HostFs(HostFsChange::FileRestore { previous, .. })) =
                    changes.first()
                {
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
        let path = normalize(path)?;
        let now = self.root_fs()?.image(&path)?;
        if to.as_deref() == now.as_ref().map(|i| i.bytes.as_slice()) {
            // Already as it should be: nothing to put back, nothing to plan.
            self.file_put_back(&path, how)?;
            return Ok(false);
        }
        let mode = now.as_ref().map_or(0o644, |img| img.mode);
        let step = Change::from(HostFsChange::FileRestore {
            path: path.clone(),
            previous: to.map(|bytes| FileImage { bytes, mode }),
            expect: Expect::of(&now),
        });
        if self.mode() == Mode::Plan {
            self.record(&step, Inverse::Nothing);
            return Ok(true);
        }
        self.apply_undo(&step)?;
        self.file_put_back(&path, how)?;
        Ok(self.root_fs()?.image(&path)? != now)
    }

    /// Mark the calling hook's changes to `path` undone: the caller put
    /// the file back its own way (`how`), so neither a later undo nor a
    /// rollback puts it back again.
    pub fn file_put_back(&mut self, path: &str, how: &str) -> Result<(), CapError> {
        if self.mode() == Mode::Plan {
            return Ok(());
        }
        let path = normalize(path)?;
        let journal = Journal::open(&self.session.state_dir)?;
        for (log, seqs) in self.file_changes(&path)? {
            let mut txn = journal.reopen(&log)?;
            for seq in seqs {
                txn.undone(seq, how)?;
            }
        }
        Ok(())
    }
}
