//! The journal: each hook point run is a transaction, one JSON-lines file
//! under `<state_dir>/journal/`. Before a change is made its record and
//! inverse are appended and made durable (fdatasync); its outcome follows.
//! A file that ends without `commit` or `rolled-back` belongs to a run that
//! was killed, and is rolled back by the next nethook before anything else.
//! Committed transactions stay until an undo point has run, so a hook can
//! have "everything it did since before-if-read" undone from them.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::change::{Change, Inverse};
use super::CapError;

const DIR: &str = "journal";
const LOCK: &str = "lock";
/// Committed transactions kept at most: a crash loop that never reaches an
/// undo point must not grow the journal without bound.
const KEEP_COMMITTED: usize = 256;

/// One line of a transaction file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    Begin {
        point: String,
        hook: String,
        boot_id: String,
        pid: u32,
        time: String,
    },
    Change {
        seq: u32,
        hook: String,
        change: Change,
        inverse: Inverse,
    },
    Done {
        seq: u32,
        outcome: String,
    },
    /// The inverse of change `seq` was applied (by a rollback or an undo).
    Undone {
        seq: u32,
        outcome: String,
    },
    Commit,
    RolledBack {
        /// What could not be undone, change by change.
        left: Vec<String>,
    },
}

/// This boot of the node's kernel (the same kernel nethook runs on).
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn io(what: &str, path: &Path, e: std::io::Error) -> CapError {
    CapError::Failed(format!("journal: {what} {}: {e}", path.display()))
}

/// The journal directory of a state dir.
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn open(state_dir: &Path) -> Result<Journal, CapError> {
        let dir = state_dir.join(DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io("cannot create", &dir, e))?;
        Ok(Journal { dir })
    }

    /// The journal of a state dir, if it has one; creates nothing.
    pub fn existing(state_dir: &Path) -> Option<Journal> {
        let dir = state_dir.join(DIR);
        dir.is_dir().then_some(Journal { dir })
    }

    /// Held for a whole run: nethook invocations never interleave.
    pub fn lock(&self) -> Result<Flock<File>, CapError> {
        let path = self.dir.join(LOCK);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("cannot open", &path, e))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| CapError::Failed(format!("journal: cannot lock: {e}")))
    }

    /// Start the transaction of one point run. Its file is created with
    /// its first change: a point that changes nothing writes nothing.
    pub fn begin(&self, point: &str, hook: &str) -> Result<Txn, CapError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let pid = std::process::id();
        let path = self.dir.join(format!("{nanos:020}-{point}-{pid}.jsonl"));
        let begin = Record::Begin {
            point: point.to_string(),
            hook: hook.to_string(),
            boot_id: boot_id(),
            pid,
            time: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        };
        Ok(Txn {
            file: None,
            begin: Some(begin),
            dir: self.dir.clone(),
            path,
            seq: 0,
            closed: false,
            dir_synced: false,
        })
    }

    /// Every transaction file's path, oldest first.
    fn paths(&self) -> Result<Vec<PathBuf>, CapError> {
        let mut paths: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| io("cannot list", &self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Every transaction file, oldest first.
    pub fn logs(&self) -> Result<Vec<TxnLog>, CapError> {
        self.paths()?.iter().map(|p| TxnLog::read(p)).collect()
    }

    /// One transaction file.
    pub fn log(&self, path: &Path) -> Result<TxnLog, CapError> {
        TxnLog::read(path)
    }

    /// Reopen a transaction to append to it (a rollback, an undo).
    pub fn reopen(&self, log: &TxnLog) -> Result<Txn, CapError> {
        let file = OpenOptions::new()
            .append(true)
            .open(&log.path)
            .map_err(|e| io("cannot open", &log.path, e))?;
        Ok(Txn {
            file: Some(file),
            begin: None,
            dir: self.dir.clone(),
            path: log.path.clone(),
            seq: log.changes.last().map_or(0, |c| c.seq),
            closed: false,
            dir_synced: true,
        })
    }

    /// Forget a rolled-back transaction: nothing of it is left to undo.
    pub fn forget(&self, path: &Path) -> Result<(), CapError> {
        fs::remove_file(path).map_err(|e| io("cannot remove", path, e))
    }

    /// Bound what is kept. Under the run lock, once interrupted runs are
    /// recovered (and forgotten), every file here is a committed
    /// transaction: after an undo point (`all`) none is needed any more,
    /// otherwise the newest `KEEP_COMMITTED` are kept. By name, nothing read.
    pub fn trim(&self, all: bool) -> Result<(), CapError> {
        let paths = self.paths()?;
        let excess = match all {
            true => paths.len(),
            false => paths.len().saturating_sub(KEEP_COMMITTED),
        };
        for path in &paths[..excess] {
            self.forget(path)?;
        }
        Ok(())
    }
}

/// An open transaction file.
///
/// What must be durable: a record of a persistent change (a file, a
/// NetworkManager setting, state) before the change, since a power loss
/// keeps the change and must keep its undo. A kernel or unit change is
/// undone by a reboot itself, and a killed process leaves what it wrote in
/// the page cache: its record is written, not synced. So is the begin
/// record, synced (with the directory) by the first durable record.
pub struct Txn {
    file: Option<File>,
    /// Written with the first change.
    begin: Option<Record>,
    dir: PathBuf,
    path: PathBuf,
    seq: u32,
    /// Committed or rolled back: no further change may be journaled.
    closed: bool,
    /// The file's directory entry is durable.
    dir_synced: bool,
}

impl Txn {
    /// The file, if a change created it.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|_| self.path.as_path())
    }

    fn append(&mut self, record: &Record, durable: bool) -> Result<(), CapError> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(|e| io("cannot create", &self.path, e))?;
            self.file = Some(file);
            if let Some(begin) = self.begin.take() {
                self.append(&begin, false)?;
            }
        }
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        let file = self.file.as_mut().expect("created above");
        file.write_all(line.as_bytes())
            .map_err(|e| io("cannot append to", &self.path, e))?;
        if durable {
            file.sync_data()
                .map_err(|e| io("cannot sync", &self.path, e))?;
            if !self.dir_synced {
                File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io("cannot sync", &self.dir, e))?;
                self.dir_synced = true;
            }
        }
        Ok(())
    }

    /// Record a change and its inverse, durably, before it is made.
    pub fn change(
        &mut self,
        hook: &str,
        change: &Change,
        inverse: &Inverse,
    ) -> Result<u32, CapError> {
        self.seq += 1;
        let record = Record::Change {
            seq: self.seq,
            hook: hook.to_string(),
            change: change.clone(),
            inverse: inverse.clone(),
        };
        self.append(&record, change.persistent())?;
        Ok(self.seq)
    }

    /// What became of it. Not synced: recovery undoes a journaled change
    /// whether or not it happened, and every inverse is safe either way.
    pub fn done(&mut self, seq: u32, outcome: &str) -> Result<(), CapError> {
        let outcome = outcome.to_string();
        self.append(&Record::Done { seq, outcome }, false)
    }

    /// Durable, so a recovery killed half-way does not undo it twice.
    pub fn undone(&mut self, seq: u32, outcome: &str) -> Result<(), CapError> {
        let outcome = outcome.to_string();
        self.append(&Record::Undone { seq, outcome }, true)
    }

    /// Nothing to write for a transaction that changed nothing.
    pub fn commit(&mut self) -> Result<(), CapError> {
        self.closed = true;
        match self.file {
            Some(_) => self.append(&Record::Commit, true),
            None => Ok(()),
        }
    }

    pub fn rolled_back(&mut self, left: Vec<String>) -> Result<(), CapError> {
        self.closed = true;
        match self.file {
            Some(_) => self.append(&Record::RolledBack { left }, true),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// Killed (or still running): to be rolled back.
    Open,
    Committed,
    RolledBack,
}

/// A journaled change as read back.
#[derive(Debug, Clone)]
pub struct Journaled {
    pub seq: u32,
    pub hook: String,
    pub change: Change,
    pub inverse: Inverse,
    /// Its outcome, if recorded: "ok" or the error.
    pub outcome: Option<String>,
}

/// A transaction file as read back.
#[derive(Debug, Clone)]
pub struct TxnLog {
    pub path: PathBuf,
    pub point: String,
    pub hook: String,
    pub boot_id: String,
    pub pid: u32,
    pub changes: Vec<Journaled>,
    pub undone: BTreeSet<u32>,
    pub state: TxnState,
}

impl TxnLog {
    fn read(path: &Path) -> Result<TxnLog, CapError> {
        let file = File::open(path).map_err(|e| io("cannot open", path, e))?;
        let mut log = TxnLog {
            path: path.to_path_buf(),
            point: String::new(),
            hook: String::new(),
            boot_id: String::new(),
            pid: 0,
            changes: Vec::new(),
            undone: BTreeSet::new(),
            state: TxnState::Open,
        };
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| io("cannot read", path, e))?;
            // A line torn by a kill mid-write ends the file.
            let Ok(record) = serde_json::from_str::<Record>(&line) else {
                break;
            };
            match record {
                Record::Begin {
                    point,
                    hook,
                    boot_id,
                    pid,
                    ..
                } => {
                    (log.point, log.hook, log.boot_id, log.pid) = (point, hook, boot_id, pid);
                }
                Record::Change {
                    seq,
                    hook,
                    change,
                    inverse,
                } => log.changes.push(Journaled {
                    seq,
                    hook,
                    change,
                    inverse,
                    outcome: None,
                }),
                Record::Done { seq, outcome } => {
                    if let Some(c) = log.changes.iter_mut().find(|c| c.seq == seq) {
                        c.outcome = Some(outcome);
                    }
                }
                Record::Undone { seq, .. } => {
                    log.undone.insert(seq);
                }
                Record::Commit => log.state = TxnState::Committed,
                Record::RolledBack { .. } => log.state = TxnState::RolledBack,
            }
        }
        Ok(log)
    }

    /// Whether it was made during this boot of the node.
    pub fn this_boot(&self) -> bool {
        self.boot_id == boot_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_reads_back_as_written_and_a_torn_line_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut t = j.begin("vpp-running", "eks").unwrap();
        let c = Change::UnitStart {
            unit: "x.service".into(),
        };
        let seq = t.change("eks", &c, &Inverse::Nothing).unwrap();
        t.done(seq, "ok").unwrap();
        let logs = j.logs().unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].state, TxnState::Open);
        assert_eq!(logs[0].changes[0].change, c);
        assert_eq!(logs[0].changes[0].outcome.as_deref(), Some("ok"));
        assert!(logs[0].this_boot());
        let mut f = OpenOptions::new().append(true).open(&logs[0].path).unwrap();
        f.write_all(b"{\"record\":\"comm").unwrap();
        assert_eq!(j.logs().unwrap()[0].state, TxnState::Open);

        // A transaction without changes leaves no file.
        let mut t = j.begin("vpp-done-ok", "eks").unwrap();
        t.commit().unwrap();
        assert_eq!(j.logs().unwrap().len(), 1);
        let mut t = j.begin("vpp-done-ok", "eks").unwrap();
        t.change("eks", &c, &Inverse::Nothing).unwrap();
        t.commit().unwrap();
        let logs = j.logs().unwrap();
        let states: Vec<_> = logs.iter().map(|l| l.state).collect();
        assert_eq!(states, [TxnState::Open, TxnState::Committed]);
        j.forget(&logs[0].path).unwrap();
        assert_eq!(j.log(&logs[1].path).unwrap().state, TxnState::Committed);
        j.trim(false).unwrap();
        assert_eq!(j.logs().unwrap().len(), 1);
        j.trim(true).unwrap();
        assert_eq!(j.logs().unwrap().len(), 0);
    }
}
