//! `state`: a small key/value store per hook that outlives the process.
//!
//! Every hook point is a separate `nethook run`, so whatever one point
//! learns for the next must be on disk. All hooks share one file,
//! `<state_dir>/state.json`, replaced atomically (temp file, fsync, rename,
//! fsync of the directory) under an exclusive lock: a crash leaves either the
//! old or the new file, never a torn one.

mod change;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use change::StateChange;

use super::{CapError, Host, Inverse, Planned};

pub const MAX_KEY_LEN: usize = 256;
pub const MAX_VALUE_LEN: usize = 64 << 10;
pub const MAX_KEYS: usize = 1024;
/// Of one hook's keys and values together.
pub const MAX_HOOK_BYTES: usize = 1 << 20;
const FILE: &str = "state.json";
const LOCK: &str = "state.lock";
/// Where a state file nethook cannot read is moved, and how many are kept.
const QUARANTINE: &str = "quarantine";
const KEEP_QUARANTINED: usize = 8;
/// A state file larger than this was not written by nethook: every hook's
/// bytes are bounded (MAX_HOOK_BYTES), and JSON escapes at most sextuple them.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The file's format.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StateFile {
    pub version: u32,
    /// hook name -> key -> value
    pub hooks: BTreeMap<String, BTreeMap<String, String>>,
}

/// The calling hook's view of the store, through the choke point.
pub struct StateView<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn state(&mut self) -> StateView<'_> {
        StateView { host: self }
    }
}

impl StateView<'_> {
    pub fn get(&mut self, key: &str) -> Result<Option<String>, CapError> {
        self.host
            .read("state", "get", key.to_string(), check_key(key), |h| {
                h.store.get(key)
            })
    }

    pub fn set(&mut self, key: &str, value: &str) -> Result<(), CapError> {
        // Every limit is judged before the change is journaled: a refused
        // value costs the node no byte on disk.
        let check = self.host.store.admits(key, value);
        let change = StateChange::StateSet {
            key: key.to_string(),
            value: value.to_string(),
        };
        self.host.mutate(
            change,
            check,
            |h| undo_key(h, key),
            |h| h.store.set(key, value),
            |_| Planned::Change(()),
        )
    }

    pub fn delete(&mut self, key: &str) -> Result<bool, CapError> {
        let check = self.host.store.admits_delete(key);
        self.host.mutate(
            StateChange::StateDelete {
                key: key.to_string(),
            },
            check,
            |h| undo_key(h, key),
            |h| h.store.delete(key),
            |h| match h.store.get(key) {
                Ok(Some(_)) => Planned::Change(true),
                _ => Planned::NoChange(false),
            },
        )
    }

    pub fn keys(&mut self) -> Result<Vec<String>, CapError> {
        self.host
            .read("state", "keys", String::new(), Ok(()), |h| h.store.keys())
    }
}

/// What puts `key` back as it is now.
fn undo_key(h: &mut Host, key: &str) -> Result<Inverse, CapError> {
    let key = key.to_string();
    Ok(Inverse::of(vec![match h.store.get(&key)? {
        Some(value) => StateChange::StateSet { key, value },
        None => StateChange::StateDelete { key },
    }]))
}

/// The state changes of a transactional run, kept in memory and written
/// once, durably, when the point commits: the journal already holds each
/// change and what it replaced durably, so a crash before the write loses
/// nothing that recovery needs (it puts back the values of before the
/// point, which the file still has). One durable write a point, not one a
/// `set`.
#[derive(Default)]
pub struct Pending {
    file: Option<StateFile>,
    dirty: bool,
    /// Bytes of state this run has journaled (keys, values and what they
    /// replaced): bounded by `MAX_RUN_JOURNAL`.
    journaled: usize,
}

/// State bytes one transactional run may journal: a hook rewriting or
/// deleting keys in a loop costs the node at most this much disk.
pub const MAX_RUN_JOURNAL: usize = 4 * MAX_HOOK_BYTES;

pub type SharedPending = Arc<Mutex<Pending>>;

/// Write what a run changed, if anything.
pub fn flush(pending: &SharedPending, dir: &Path) -> Result<(), CapError> {
    let mut p = pending.lock().expect("state lock");
    if let (true, Some(file)) = (p.dirty, &p.file) {
        let store = State::new(String::new(), dir, None);
        let _lock = store.lock()?;
        store.write(file)?;
        p.dirty = false;
    }
    Ok(())
}

/// One hook's slice of the state file.
pub(super) struct State {
    hook: String,
    dir: PathBuf,
    pending: Option<SharedPending>,
}

impl State {
    pub fn new(hook: String, dir: &Path, pending: Option<SharedPending>) -> State {
        State {
            hook,
            dir: dir.to_path_buf(),
            pending,
        }
    }

    /// Run `f` on the state file: the run's pending copy when there is one
    /// (loaded once), else the file itself under its lock, written back
    /// durably when `f` says it changed it.
    fn with_file<R>(
        &self,
        f: impl FnOnce(&mut StateFile) -> Result<(R, bool), CapError>,
    ) -> Result<R, CapError> {
        if let Some(pending) = &self.pending {
            let mut p = pending.lock().expect("state lock");
            if p.file.is_none() {
                p.file = Some(if self.path().exists() {
                    let _lock = self.lock()?;
                    self.read()?
                } else {
                    StateFile {
                        version: 1,
                        ..Default::default()
                    }
                });
            }
            let (r, changed) = f(p.file.as_mut().expect("loaded above"))?;
            p.dirty |= changed;
            return Ok(r);
        }
        let _lock = self.lock()?;
        let mut file = self.read()?;
        let (r, changed) = f(&mut file)?;
        if changed {
            self.write(&file)?;
        }
        Ok(r)
    }

    pub fn get(&self, key: &str) -> Result<Option<String>, CapError> {
        check_key(key)?;
        // Reading creates nothing (plan mode reads too): no file, no value.
        if self.pending.is_none() && !self.path().exists() {
            return Ok(None);
        }
        let hook = &self.hook;
        self.with_file(|f| {
            let v = f.hooks.get(hook).and_then(|kv| kv.get(key)).cloned();
            Ok((v, false))
        })
    }

    /// Whether `key` may be set to `value`: the key's grammar, the
    /// value's size, and the hook's key count and bytes once it is set.
    pub fn admits(&self, key: &str, value: &str) -> Result<(), CapError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(CapError::Invalid(format!(
                "value for {key:?} is {} bytes; at most {MAX_VALUE_LEN}",
                value.len()
            )));
        }
        if self.pending.is_none() && !self.path().exists() {
            return Ok(());
        }
        let hook = &self.hook;
        // The pending copy's lock is held inside `with_file`: the journal
        // budget, under the same lock, is judged after.
        let old = self.with_file(|file| {
            let kv = file.hooks.get(hook);
            let old = kv.and_then(|kv| kv.get(key)).map_or(0, String::len);
            Ok((fits(kv, key, value).map(|()| old), false))
        })??;
        self.journal_room(key.len() + value.len() + old)
    }

    /// Whether this run may journal `cost` more bytes of state.
    fn journal_room(&self, cost: usize) -> Result<(), CapError> {
        let Some(pending) = &self.pending else {
            return Ok(());
        };
        let done = pending.lock().expect("state lock").journaled;
        if done + cost > MAX_RUN_JOURNAL {
            return Err(CapError::Invalid(format!(
                "this run has journaled {done} bytes of state changes; {cost} more would pass {MAX_RUN_JOURNAL}: change state less often in one run"
            )));
        }
        Ok(())
    }

    /// Count `cost` bytes as journaled by this run.
    fn journaled(&self, cost: usize) {
        if let Some(pending) = &self.pending {
            pending.lock().expect("state lock").journaled += cost;
        }
    }

    /// Whether `key` may be deleted: the bytes it would journal.
    pub fn admits_delete(&self, key: &str) -> Result<(), CapError> {
        check_key(key)?;
        if self.pending.is_none() {
            return Ok(());
        }
        let hook = &self.hook;
        let old = self.with_file(|file| {
            let v = file.hooks.get(hook).and_then(|kv| kv.get(key));
            Ok((v.map_or(0, String::len), false))
        })?;
        self.journal_room(key.len() + old)
    }

    pub fn set(&self, key: &str, value: &str) -> Result<(), CapError> {
        self.admits(key, value)?;
        let hook = self.hook.clone();
        let old = self.with_file(|file| {
            fits(file.hooks.get(&hook), key, value)?;
            let kv = file.hooks.entry(hook).or_default();
            if kv.get(key).map(String::as_str) == Some(value) {
                return Ok((0, false));
            }
            let old = kv.insert(key.to_string(), value.to_string());
            Ok((old.map_or(0, |o| o.len()), true))
        })?;
        self.journaled(key.len() + value.len() + old);
        Ok(())
    }

    pub fn delete(&self, key: &str) -> Result<bool, CapError> {
        check_key(key)?;
        let hook = self.hook.clone();
        let removed = self.with_file(|file| {
            let Some(kv) = file.hooks.get_mut(&hook) else {
                return Ok((None, false));
            };
            let Some(old) = kv.remove(key) else {
                return Ok((None, false));
            };
            if kv.is_empty() {
                file.hooks.remove(&hook);
            }
            Ok((Some(old.len()), true))
        })?;
        if let Some(old) = removed {
            self.journaled(key.len() + old);
        }
        Ok(removed.is_some())
    }

    pub fn keys(&self) -> Result<Vec<String>, CapError> {
        if self.pending.is_none() && !self.path().exists() {
            return Ok(Vec::new());
        }
        let hook = &self.hook;
        self.with_file(|f| {
            let keys = f
                .hooks
                .get(hook)
                .map(|kv| kv.keys().cloned().collect())
                .unwrap_or_default();
            Ok((keys, false))
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn lock(&self) -> Result<Flock<File>, CapError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| failed(&self.dir, "create state directory", e))?;
        crate::trust::trusted_dir(&self.dir)
            .map_err(|e| CapError::Failed(format!("state: {e}")))?;
        let path = self.dir.join(LOCK);
        let file = match crate::trust::open_own_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                crate::trust::quarantine(&path, &self.dir.join(QUARANTINE), KEEP_QUARANTINED)
                    .map_err(|e| failed(&path, "move aside", e))?;
                tracing::warn!(file = %path.display(), "state: {e}; moved aside");
                crate::trust::open_own_file(&path)
            }
            r => r,
        }
        .map_err(|e| failed(&path, "open", e))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| failed(&path, "lock", e.into()))
    }

    /// The file, or an empty store when there is none. A file that is not
    /// a state file nethook wrote (a link, a FIFO, another user's, too
    /// large, not JSON) is moved aside with a warning, never overwritten
    /// (it may be all that is left of what an earlier point captured) and
    /// never fatal: later runs start from an empty store.
    fn read(&self) -> Result<StateFile, CapError> {
        let path = self.path();
        let empty = || StateFile {
            version: 1,
            ..Default::default()
        };
        let why = match crate::trust::own_regular_file(&path, MAX_FILE_BYTES) {
            Err(_) if fs::symlink_metadata(&path).is_err() => return Ok(empty()),
            Err(why) => why,
            Ok(()) => {
                let bytes = OpenOptions::new()
                    .read(true)
                    .custom_flags(crate::trust::NOFOLLOW_NONBLOCK)
                    .open(&path)
                    .and_then(|f| {
                        let mut b = Vec::new();
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(f, MAX_FILE_BYTES),
                            &mut b,
                        )
                        .map(|_| b)
                    })
                    .map_err(|e| failed(&path, "read", e))?;
                match serde_json::from_slice(&bytes) {
                    Ok(file) => return Ok(file),
                    Err(e) => format!("it is not a state file ({e})"),
                }
            }
        };
        let to = crate::trust::quarantine(&path, &self.dir.join(QUARANTINE), KEEP_QUARANTINED)
            .map_err(|e| failed(&path, "move aside", e))?;
        tracing::warn!(
            file = %path.display(),
            moved_to = %to.display(),
            "state: {why}; moved aside, the hooks' state starts empty"
        );
        Ok(empty())
    }

    fn write(&self, file: &StateFile) -> Result<(), CapError> {
        let path = self.path();
        // No key left (a lifecycle undone): no file, nothing of it on the node.
        if file.hooks.values().all(BTreeMap::is_empty) {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(failed(&path, "remove", e))
                }
                _ => File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| failed(&self.dir, "sync", e)),
            };
        }
        let mut bytes = serde_json::to_vec_pretty(file).expect("state serialises");
        bytes.push(b'\n');
        let mut tmp = tempfile::Builder::new()
            .prefix(".state.")
            .tempfile_in(&self.dir)
            .map_err(|e| failed(&self.dir, "create temp file in", e))?;
        tmp.write_all(&bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| failed(tmp.path(), "write", e))?;
        tmp.persist(&path)
            .map_err(|e| failed(&path, "replace", e.error))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed(&self.dir, "sync", e))
    }
}

/// Whether a hook's keys `kv` leave room for `key` = `value`.
fn fits(kv: Option<&BTreeMap<String, String>>, key: &str, value: &str) -> Result<(), CapError> {
    let Some(kv) = kv else { return Ok(()) };
    let old = kv.get(key);
    if old.is_none() && kv.len() >= MAX_KEYS {
        return Err(CapError::Invalid(format!(
            "hook already has {MAX_KEYS} keys"
        )));
    }
    let now: usize = kv.iter().map(|(k, v)| k.len() + v.len()).sum();
    let total = match old {
        Some(o) => now - o.len() + value.len(),
        None => now + key.len() + value.len(),
    };
    if total > MAX_HOOK_BYTES {
        return Err(CapError::Invalid(format!(
            "hook state would hold {total} bytes; at most {MAX_HOOK_BYTES}"
        )));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), CapError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(CapError::Invalid(format!(
            "state key {key:?} must be 1-{MAX_KEY_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

fn failed(path: &Path, what: &str, e: std::io::Error) -> CapError {
    CapError::Failed(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_persist_per_hook_and_the_file_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let a = State::new("a".into(), dir.path(), None);
        let b = State::new("b".into(), dir.path(), None);
        a.set("k", "1").unwrap();
        b.set("k", "2").unwrap();
        assert_eq!(
            State::new("a".into(), dir.path(), None)
                .get("k")
                .unwrap()
                .as_deref(),
            Some("1")
        );
        assert!(b.delete("k").unwrap());
        assert!(!b.delete("k").unwrap());
        assert_eq!(b.keys().unwrap(), Vec::<String>::new());
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, "{\n  \"version\": 1,\n  \"hooks\": {\n    \"a\": {\n      \"k\": \"1\"\n    }\n  }\n}\n");
        // no temp files left behind
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_whole_and_the_store_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"{\"version\":1,\"ho").unwrap();
        let s = State::new("a".into(), dir.path(), None);
        s.set("k", "v").unwrap();
        assert_eq!(s.get("k").unwrap().as_deref(), Some("v"));
        let aside: Vec<_> = fs::read_dir(dir.path().join(QUARANTINE))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(fs::read(&aside[0]).unwrap(), b"{\"version\":1,\"ho");
        // A link in its place is moved aside, not followed.
        let target = dir.path().join("target");
        fs::write(&target, b"{}").unwrap();
        fs::remove_file(dir.path().join(FILE)).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(FILE)).unwrap();
        assert_eq!(s.get("k").unwrap(), None);
        s.set("k", "w").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"{}");
        assert!(fs::symlink_metadata(dir.path().join(FILE))
            .unwrap()
            .is_file());
    }

    #[test]
    fn bad_keys_and_values_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::new("a".into(), dir.path(), None);
        assert!(matches!(s.set("", "v"), Err(CapError::Invalid(_))));
        assert!(matches!(s.set("a\nb", "v"), Err(CapError::Invalid(_))));
        assert!(matches!(
            s.set("k", &"x".repeat(MAX_VALUE_LEN + 1)),
            Err(CapError::Invalid(_))
        ));
        assert!(!dir.path().join(FILE).exists());
    }
}
