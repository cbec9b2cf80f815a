//! The journal: each hook point run is a transaction, one JSON-lines file
//! under `<state_dir>/journal/`. Before a change is made its record and
//! inverse are appended and made durable (fdatasync); its outcome follows.
//! A file that ends without `commit` or `rolled-back` belongs to a run that
//! was killed, and is rolled back by the next nethook before anything else.
//! Committed transactions stay until an undo point has run, so a hook can
//! have "everything it did since before-if-read" undone from them.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::change::{Change, Inverse};
use super::CapError;
use crate::point::HookPoint;

const DIR: &str = "journal";
const LOCK: &str = "lock";
/// Where files that are not transactions nethook can read are moved.
const QUARANTINE: &str = "quarantine";
/// Quarantined files kept, newest first.
const KEEP_QUARANTINED: usize = 32;
/// Committed transactions kept at most: a crash loop that never reaches an
/// undo point must not grow the journal without bound.
const KEEP_COMMITTED: usize = 256;
/// Bytes one transaction file may hold: a change whose record would pass
/// it is refused before anything is journaled or done.
pub const MAX_TXN_BYTES: u64 = 64 << 20;
/// Bytes the committed transactions kept may hold together; past it the
/// oldest are forgotten first.
pub const MAX_KEPT_BYTES: u64 = 256 << 20;

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
        crate::trust::trusted_dir(&dir).map_err(|e| CapError::Failed(format!("journal: {e}")))?;
        Ok(Journal { dir })
    }

    /// The journal of a state dir, if it has one; creates nothing.
    pub fn existing(state_dir: &Path) -> Result<Option<Journal>, CapError> {
        let dir = state_dir.join(DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        crate::trust::trusted_dir(&dir).map_err(|e| CapError::Failed(format!("journal: {e}")))?;
        Ok(Some(Journal { dir }))
    }

    /// Held for a whole run: nethook invocations never interleave.
    pub fn lock(&self) -> Result<Flock<File>, CapError> {
        let path = self.dir.join(LOCK);
        let f = match crate::trust::open_own_file(&path) {
            Ok(f) => f,
            // Something else took the lock's name: moved aside, made anew.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.quarantine(&path, &e.to_string())?;
                crate::trust::open_own_file(&path).map_err(|e| io("cannot open", &path, e))?
            }
            Err(e) => return Err(io("cannot open", &path, e)),
        };
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| CapError::Failed(format!("journal: cannot lock: {e}")))
    }

    /// Move `path` out of the way, with a warning: a file nethook did not
    /// write, or cannot read, is neither followed, nor read as a
    /// transaction, nor fatal to the runs after it.
    fn quarantine(&self, path: &Path, why: &str) -> Result<(), CapError> {
        let to = crate::trust::quarantine(path, &self.dir.join(QUARANTINE), KEEP_QUARANTINED)
            .map_err(|e| io("cannot move aside", path, e))?;
        tracing::warn!(
            file = %path.display(),
            moved_to = %to.display(),
            "journal: {why}; moved aside, not read"
        );
        Ok(())
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
            bytes: 0,
            closed: false,
            dir_synced: false,
        })
    }

    /// Every transaction file's path, oldest first. What only looks like
    /// one (a directory, a link, a FIFO, another user's file, one larger
    /// than a transaction can be) is quarantined on the way.
    pub fn paths(&self) -> Result<Vec<PathBuf>, CapError> {
        let mut paths = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| io("cannot list", &self.dir, e))? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "jsonl") {
                continue;
            }
            match crate::trust::own_regular_file(&path, MAX_TXN_BYTES) {
                Ok(()) => paths.push(path),
                Err(why) => self.quarantine(&path, &why)?,
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// Every transaction file, oldest first, read without changing
    /// anything: what is not a transaction nethook can read is named with
    /// the reason (the next run moves it aside).
    pub fn inspect(&self) -> Result<Vec<Inspected>, CapError> {
        let mut paths: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| io("cannot list", &self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|p| {
                crate::trust::own_regular_file(&p, MAX_TXN_BYTES)
                    .and_then(|()| match TxnLog::read(&p) {
                        Ok(log) => Ok(log),
                        Err(Unreadable::Io(e)) => Err(e.to_string()),
                        Err(Unreadable::Malformed(why)) => Err(why),
                    })
                    .map_err(|why| (p, why))
            })
            .collect())
    }

    /// Files moved aside so far.
    pub fn quarantined(&self) -> usize {
        fs::read_dir(self.dir.join(QUARANTINE)).map_or(0, |d| d.count())
    }

    /// One transaction file; none (quarantined, with a warning) when it is
    /// not one nethook can read.
    pub fn log(&self, path: &Path) -> Result<Option<TxnLog>, CapError> {
        match TxnLog::read(path) {
            Ok(log) => Ok(Some(log)),
            Err(Unreadable::Io(e)) => Err(io("cannot read", path, e)),
            Err(Unreadable::Malformed(why)) => {
                self.quarantine(path, &why)?;
                Ok(None)
            }
        }
    }

    /// Every transaction nethook can read, newest first, one at a time
    /// (never all of them in memory at once).
    pub fn newest_first(
        &self,
    ) -> Result<impl Iterator<Item = Result<TxnLog, CapError>> + '_, CapError> {
        let paths = self.paths()?;
        Ok(paths
            .into_iter()
            .rev()
            .filter_map(move |p| self.log(&p).transpose()))
    }

    /// Reopen a transaction to append to it (a rollback, an undo).
    pub fn reopen(&self, log: &TxnLog) -> Result<Txn, CapError> {
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(crate::trust::NOFOLLOW_NONBLOCK)
            .open(&log.path)
            .map_err(|e| io("cannot open", &log.path, e))?;
        Ok(Txn {
            file: Some(file),
            begin: None,
            dir: self.dir.clone(),
            path: log.path.clone(),
            seq: log.changes.last().map_or(0, |c| c.seq),
            bytes: log.bytes,
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
    /// otherwise the newest are kept, at most `KEEP_COMMITTED` of them and
    /// `MAX_KEPT_BYTES` together, and past those, older ones whose changes
    /// to files or profiles an undo point has yet to put back (as long as
    /// the bytes allow): those records are the only ones of what was
    /// there before. Only the files past the count are read.
    pub fn trim(&self, all: bool) -> Result<(), CapError> {
        let paths = self.paths()?;
        let mut keep = match all {
            true => 0,
            false => paths.len().min(KEEP_COMMITTED),
        };
        let mut bytes = 0;
        for (i, path) in paths.iter().rev().take(keep).enumerate() {
            let size = fs::symlink_metadata(path).map_or(0, |m| m.len());
            if bytes + size > MAX_KEPT_BYTES {
                keep = i;
                break;
            }
            bytes += size;
        }
        for path in paths[..paths.len() - keep].iter().rev() {
            if !all && self.to_put_back(path)? {
                let size = fs::symlink_metadata(path).map_or(0, |m| m.len());
                if bytes + size <= MAX_KEPT_BYTES {
                    bytes += size;
                    continue;
                }
            }
            self.forget(path)?;
        }
        Ok(())
    }

    /// Whether a committed transaction holds a lasting change to the node
    /// (not nethook's own state) that no undo has undone yet.
    fn to_put_back(&self, path: &Path) -> Result<bool, CapError> {
        let Some(log) = self.log(path)? else {
            return Ok(false);
        };
        Ok(log.state == TxnState::Committed
            && log.changes.iter().any(|c| {
                c.change.persistent()
                    && !matches!(c.change, Change::State(_))
                    && !log.undone.contains(&c.seq)
            }))
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
    /// Bytes in the file so far.
    bytes: u64,
    /// Committed or rolled back: no further change may be journaled (a
    /// guest given up on at its deadline may still be calling).
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
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        self.append_line(&line, durable)
    }

    fn append_line(&mut self, line: &str, durable: bool) -> Result<(), CapError> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .mode(0o600)
                .custom_flags(crate::trust::NOFOLLOW_NONBLOCK)
                .open(&self.path)
                .map_err(|e| io("cannot create", &self.path, e))?;
            self.file = Some(file);
            if let Some(begin) = self.begin.take() {
                self.append(&begin, false)?;
            }
        }
        self.bytes += line.len() as u64;
        let file = self.file.as_mut().expect("created above");
        file.write_all(line.as_bytes())
            .map_err(|e| io("cannot append to", &self.path, e))?;
        match durable {
            true => self.sync(),
            false => Ok(()),
        }
    }

    /// Record a change and its inverse, durably, before it is made. A
    /// closed transaction (its run is over) and one whose file would pass
    /// `MAX_TXN_BYTES` refuse it: nothing is written, nothing is done.
    pub fn change(
        &mut self,
        hook: &str,
        change: &Change,
        inverse: &Inverse,
    ) -> Result<u32, CapError> {
        if self.closed {
            return Err(CapError::Denied(
                "this run's transaction is closed: a hook's calls after its run ended change nothing".into(),
            ));
        }
        let record = Record::Change {
            seq: self.seq + 1,
            hook: hook.to_string(),
            change: change.clone(),
            inverse: inverse.clone(),
        };
        let mut line = serde_json::to_string(&record).expect("records serialise");
        line.push('\n');
        // Room is kept for the outcome records that follow.
        if self.bytes + line.len() as u64 + 4096 > MAX_TXN_BYTES {
            return Err(CapError::Invalid(format!(
                "this change would take the run's journal past {} MiB (it holds {} bytes; the change needs {}): make fewer or smaller changes in one run",
                MAX_TXN_BYTES >> 20,
                self.bytes,
                line.len()
            )));
        }
        self.seq += 1;
        // State is written to disk only when the point commits, after
        // `sync`: its records need not be durable one by one.
        let state = matches!(change, Change::State(_));
        self.append_line(&line, change.persistent() && !state)?;
        Ok(self.seq)
    }

    /// Make everything appended so far durable (before the run's state is
    /// written: a power loss after it must find the records to undo it).
    pub fn sync(&mut self) -> Result<(), CapError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        file.sync_data()
            .map_err(|e| io("cannot sync", &self.path, e))?;
        if !self.dir_synced {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("cannot sync", &self.dir, e))?;
            self.dir_synced = true;
        }
        Ok(())
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

/// A transaction file as `inspect` finds it: read, or its path and why not.
pub type Inspected = Result<TxnLog, (PathBuf, String)>;

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
    pub point: HookPoint,
    pub hook: String,
    pub boot_id: String,
    pub pid: u32,
    /// When it began, RFC 3339.
    pub time: String,
    pub changes: Vec<Journaled>,
    pub undone: BTreeSet<u32>,
    pub state: TxnState,
    /// The file's size.
    pub bytes: u64,
}

/// Why a transaction file was not read.
enum Unreadable {
    Io(std::io::Error),
    /// Not a transaction nethook wrote: to be quarantined.
    Malformed(String),
}

impl TxnLog {
    fn read(path: &Path) -> Result<TxnLog, Unreadable> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(crate::trust::NOFOLLOW_NONBLOCK)
            .open(path)
            .map_err(Unreadable::Io)?;
        let mut bytes = Vec::new();
        file.take(MAX_TXN_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(Unreadable::Io)?;
        if bytes.len() as u64 > MAX_TXN_BYTES {
            return Err(Unreadable::Malformed(format!(
                "larger than a transaction can be ({MAX_TXN_BYTES} bytes)"
            )));
        }
        Self::parse(path, &bytes).map_err(Unreadable::Malformed)
    }

    /// A transaction file's bytes: a begin record first, then records; a
    /// line that does not parse (torn by a kill mid-write) ends it.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<TxnLog, String> {
        let mut log = TxnLog {
            path: path.to_path_buf(),
            point: HookPoint::Dataplane(crate::point::DataplanePoint::BeforeIfRead),
            hook: String::new(),
            boot_id: String::new(),
            pid: 0,
            time: String::new(),
            changes: Vec::new(),
            undone: BTreeSet::new(),
            state: TxnState::Open,
            bytes: bytes.len() as u64,
        };
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let Ok(record) = serde_json::from_slice::<Record>(line) else {
                if i == 0 {
                    return Err("its first line is not a transaction's begin record".into());
                }
                break;
            };
            match (i, &record) {
                (0, Record::Begin { .. }) => {}
                (0, _) => return Err("its first line is not a transaction's begin record".into()),
                (_, Record::Begin { .. }) => return Err("it begins twice".into()),
                _ => {}
            }
            match record {
                Record::Begin {
                    point,
                    hook,
                    boot_id,
                    pid,
                    time,
                } => {
                    log.time = time;
                    // Only a point this nethook knows can be undone as its.
                    log.point = point
                        .parse()
                        .map_err(|_| format!("it names no hook point nethook knows ({point:?})"))?;
                    (log.hook, log.boot_id, log.pid) = (hook, boot_id, pid);
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
    use crate::caps::state::StateChange;
    use crate::caps::systemd::SystemdChange;

    impl Journal {
        /// Every readable transaction, oldest first.
        fn logs(&self) -> Result<Vec<TxnLog>, CapError> {
            let mut v: Vec<TxnLog> = self.newest_first()?.collect::<Result<_, _>>()?;
            v.reverse();
            Ok(v)
        }
    }

    fn quarantined(j: &Journal) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(j.dir.join(QUARANTINE))
            .map(|d| {
                d.map(|e| {
                    let n = e.unwrap().file_name().to_string_lossy().into_owned();
                    // Without the time prefix.
                    n.split_once('-').unwrap().1.to_string()
                })
                .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn junk_named_like_a_transaction_is_moved_aside_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut t = j.begin("vpp-running", "eks").unwrap();
        let c = Change::from(SystemdChange::UnitStart {
            unit: "x.service".into(),
        });
        t.change("eks", &c, &Inverse::Nothing).unwrap();
        t.commit().unwrap();
        // A torn UTF-8 byte, a file that is not a transaction, a directory,
        // a FIFO and a link (to a file that must not be read or written).
        fs::write(j.dir.join("1-torn.jsonl"), b"{\"record\":\"begin\xff\n").unwrap();
        fs::write(j.dir.join("2-other.jsonl"), b"{\"record\":\"commit\"}\n").unwrap();
        fs::create_dir(j.dir.join("3-dir.jsonl")).unwrap();
        nix::unistd::mkfifo(&j.dir.join("4-fifo.jsonl"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "secret\n").unwrap();
        std::os::unix::fs::symlink(&target, j.dir.join("5-link.jsonl")).unwrap();
        let logs = j.logs().unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].state, TxnState::Committed);
        assert_eq!(
            quarantined(&j),
            [
                "1-torn.jsonl",
                "2-other.jsonl",
                "3-dir.jsonl",
                "4-fifo.jsonl",
                "5-link.jsonl"
            ]
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "secret\n");
        // A lock file replaced by a FIFO: moved aside, the lock still taken.
        fs::remove_file(j.dir.join(LOCK)).ok();
        nix::unistd::mkfifo(&j.dir.join(LOCK), nix::sys::stat::Mode::S_IRWXU).unwrap();
        drop(j.lock().unwrap());
        assert!(quarantined(&j).contains(&LOCK.to_string()));
        // The trim forgets only transactions.
        j.trim(true).unwrap();
        assert_eq!(j.logs().unwrap().len(), 0);
    }

    #[test]
    fn a_closed_or_full_transaction_refuses_a_change_before_writing_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut t = j.begin("vpp-running", "eks").unwrap();
        let big = Change::from(StateChange::StateSet {
            key: "k".into(),
            value: "x".repeat(65 << 20),
        });
        let e = t.change("eks", &big, &Inverse::Nothing).unwrap_err();
        assert!(
            matches!(&e, CapError::Invalid(m) if m.contains("past 64 MiB")),
            "{e}"
        );
        assert!(t.path().is_none(), "nothing was written");
        let small = Change::from(SystemdChange::UnitStart {
            unit: "x.service".into(),
        });
        t.change("eks", &small, &Inverse::Nothing).unwrap();
        t.commit().unwrap();
        let size = fs::metadata(t.path().unwrap()).unwrap().len();
        let e = t.change("eks", &small, &Inverse::Nothing).unwrap_err();
        assert!(
            matches!(&e, CapError::Denied(m) if m.contains("closed")),
            "{e}"
        );
        assert_eq!(fs::metadata(t.path().unwrap()).unwrap().len(), size);
    }

    #[test]
    fn a_transaction_reads_back_as_written_and_a_torn_line_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut t = j.begin("vpp-running", "eks").unwrap();
        let c = Change::from(SystemdChange::UnitStart {
            unit: "x.service".into(),
        });
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
        assert_eq!(
            j.log(&logs[1].path).unwrap().unwrap().state,
            TxnState::Committed
        );
        j.trim(false).unwrap();
        assert_eq!(j.logs().unwrap().len(), 1);
        j.trim(true).unwrap();
        assert_eq!(j.logs().unwrap().len(), 0);
    }

    #[test]
    fn past_the_count_a_file_change_not_undone_is_kept_until_undone() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        use crate::caps::change::{Expect, HostFsChange, StateChange};
        let write = Change::from(HostFsChange::FileWrite {
            path: "/etc/x".into(),
            size: 1,
            mode: None,
            sha256: "00".into(),
        });
        let restore = Inverse::of(vec![HostFsChange::FileRestore {
            path: "/etc/x".into(),
            previous: None,
            expect: Expect::Sha256("00".into()),
        }]);
        let mut t = j.begin("before-vpp-run", "builtin").unwrap();
        t.change("builtin", &write, &restore).unwrap();
        t.commit().unwrap();
        let state = Change::from(StateChange::StateSet {
            key: "k".into(),
            value: "v".into(),
        });
        for _ in 0..KEEP_COMMITTED {
            let mut t = j.begin("vpp-running", "builtin").unwrap();
            t.change("builtin", &state, &Inverse::Nothing).unwrap();
            t.commit().unwrap();
        }
        j.trim(false).unwrap();
        let logs = j.logs().unwrap();
        assert_eq!(logs.len(), KEEP_COMMITTED + 1);
        // Undone, it is one more old transaction.
        j.reopen(&logs[0]).unwrap().undone(1, "ok").unwrap();
        j.trim(false).unwrap();
        let logs = j.logs().unwrap();
        assert_eq!(logs.len(), KEEP_COMMITTED);
        assert!(logs.iter().all(|l| l.changes[0].change == state));
    }
}
