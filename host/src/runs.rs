//! What each dataplane point did last, and how often: `<state_dir>/runs.json`,
//! written when a point ends (under the journal's lock, so runs never
//! interleave), read by `nethook status` and rendered as the
//! node_exporter textfile (`metrics`). A record of nethook's own, trusted
//! like the state file: a regular file of ours, replaced atomically; one
//! that is not is moved aside and counting starts again.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

const FILE: &str = "runs.json";
const QUARANTINE: &str = "quarantine";
/// Far more than five points' records take.
const MAX_BYTES: u64 = 1 << 20;

/// The last run of one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it started, RFC 3339.
    pub started: String,
    /// Its handlers (`builtin`, `wasm NAME (PATH)`, `chain: ...`).
    pub handler: String,
    pub elapsed_ms: f64,
    /// `ok`, or the error.
    pub outcome: String,
    /// nethook's exit code for it (0: ok).
    pub exit_code: u8,
    /// Changes it made (counted before any rollback).
    pub changes: usize,
    /// Its changes were rolled back.
    pub rolled_back: bool,
}

/// A point's last run and its counts since records began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRuns {
    pub last: LastRun,
    pub runs: u64,
    pub failures: u64,
    pub rollbacks: u64,
}

/// Every point that ever ran, by name.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runs {
    pub version: u32,
    pub points: BTreeMap<String, PointRuns>,
}

impl Runs {
    /// The records of `state_dir`, or why they cannot be read; none yet
    /// is empty.
    fn load(state_dir: &Path) -> Result<Runs, String> {
        let path = state_dir.join(FILE);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(Runs::default());
        }
        crate::trust::own_regular_file(&path, MAX_BYTES)?;
        let mut bytes = Vec::new();
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(crate::trust::NOFOLLOW_NONBLOCK)
            .open(&path)
            .and_then(|f| f.take(MAX_BYTES).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read it: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("it is not a runs file ({e})"))
    }

    /// The records, changing nothing: unreadable ones read as none.
    pub fn read_only(state_dir: &Path) -> Runs {
        Runs::load(state_dir).unwrap_or_default()
    }

    /// The records of `state_dir`; none yet is empty. A file nethook did
    /// not write is moved aside with a warning.
    pub fn read(state_dir: &Path) -> Runs {
        Runs::load(state_dir).unwrap_or_else(|why| {
            let path = state_dir.join(FILE);
            match crate::trust::quarantine(&path, &state_dir.join(QUARANTINE), 8) {
                Ok(to) => tracing::warn!(file = %path.display(), moved_to = %to.display(), "runs: {why}; moved aside, counting starts again"),
                Err(e) => tracing::warn!(file = %path.display(), "runs: {why}; cannot move it aside: {e}"),
            }
            Runs::default()
        })
    }

    /// Add `last` as `point`'s run and write the records; what they are now.
    pub fn record(state_dir: &Path, point: &str, last: LastRun) -> std::io::Result<Runs> {
        let mut runs = Runs::read(state_dir);
        runs.version = 1;
        let failed = last.exit_code != 0;
        let rolled_back = last.rolled_back;
        let entry = runs
            .points
            .entry(point.to_string())
            .or_insert_with(|| PointRuns {
                last: last.clone(),
                runs: 0,
                failures: 0,
                rollbacks: 0,
            });
        entry.last = last;
        entry.runs += 1;
        entry.failures += u64::from(failed);
        entry.rollbacks += u64::from(rolled_back);
        let mut bytes = serde_json::to_vec_pretty(&runs).expect("runs serialise");
        bytes.push(b'\n');
        let mut tmp = tempfile::Builder::new()
            .prefix(".runs.")
            .tempfile_in(state_dir)?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(state_dir.join(FILE)).map_err(|e| e.error)?;
        Ok(runs)
    }
}

/// Now, as records give times.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: u8, rolled_back: bool) -> LastRun {
        LastRun {
            started: "2026-12-03T00:00:00.000Z".into(),
            handler: "builtin".into(),
            elapsed_ms: 1.5,
            outcome: if code == 0 {
                "ok".into()
            } else {
                "boom".into()
            },
            exit_code: code,
            changes: 2,
            rolled_back,
        }
    }

    #[test]
    fn runs_are_counted_per_point_and_junk_starts_them_again() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        Runs::record(d, "vpp-running", run(0, false)).unwrap();
        Runs::record(d, "vpp-running", run(5, true)).unwrap();
        let r = Runs::record(d, "vpp-done-ok", run(0, false)).unwrap();
        let p = &r.points["vpp-running"];
        assert_eq!((p.runs, p.failures, p.rollbacks), (2, 1, 1));
        assert_eq!(p.last.outcome, "boom");
        assert_eq!(Runs::read(d), r);
        std::fs::write(d.join(FILE), "{not json").unwrap();
        assert_eq!(Runs::read(d), Runs::default());
        assert!(d.join(QUARANTINE).read_dir().unwrap().count() == 1);
    }
}
