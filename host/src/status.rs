//! `nethook status`: what nethook holds on a node now and what it last
//! did, read from its own records and changing nothing: each uplink's
//! capture (the built-in module's state), each point's last run (`runs`),
//! the transactions in the journal (open ones: what recovery would undo),
//! the files nethook's changes leave on the node with their hashes, and
//! warnings. `--json` prints [`Status`], a stable document
//! (docs/reports.md).

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::caps::change::{Change, HostFsChange, SystemdChange};
use crate::caps::grants::Glob;
use crate::caps::journal::{Journal, TxnState};
use crate::caps::{Grants, Inverse, Mode};
use crate::options::Options;
use crate::point::{DataplanePoint, HookPoint};
use crate::runs::{PointRuns, Runs};

/// Everything `status` says.
#[derive(Debug, Serialize)]
pub struct Status {
    pub nethook: &'static str,
    pub config: String,
    pub state_dir: String,
    /// Whether the records outlive the container, and where they are.
    pub durable: Durable,
    /// Each uplink the built-in module captured, with what it captured.
    pub uplinks: Vec<Uplink>,
    /// The five points, in the dataplane's order: each one's last run and
    /// counts (`null` before its first).
    pub points: Vec<PointStatus>,
    pub transactions: Transactions,
    /// Files nethook's changes leave on the node now.
    pub files: Vec<OwnedFile>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Durable {
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Uplink {
    pub name: String,
    /// MAC and udev names (`ID_NET_NAME_*`) as captured at before-if-read.
    pub captured: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct PointStatus {
    pub point: &'static str,
    #[serde(flatten)]
    pub runs: Option<PointRuns>,
}

#[derive(Debug, Serialize)]
pub struct Transactions {
    /// Committed and kept for an undo point, by hook.
    pub committed: usize,
    /// Left by a run that was killed: the next run (or `nethook recover`)
    /// undoes them first.
    pub open: Vec<OpenTxn>,
}

#[derive(Debug, Serialize)]
pub struct OpenTxn {
    pub file: String,
    pub point: &'static str,
    pub hook: String,
    pub pid: u32,
    pub began: String,
    /// Made during this boot (kernel and unit changes of an earlier boot
    /// are gone already, and only persistent ones are undone).
    pub this_boot: bool,
    /// Its changes not yet undone, in order.
    pub changes: Vec<String>,
    /// What recovery would do, newest first.
    pub recovery: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct OwnedFile {
    pub path: String,
    pub hook: String,
    pub point: &'static str,
    /// sha256 of what nethook wrote.
    pub sha256: String,
    /// sha256 of what is there now; null when it is gone.
    pub on_disk: Option<String>,
    /// `as written`, `edited since` or `gone`.
    pub state: &'static str,
}

/// Read everything `status` says; nothing on the node or in the records
/// is changed.
pub fn read(opts: &Options) -> Status {
    let config = &opts.config;
    let mut warnings = Vec::new();
    let durable = match crate::durable::check(&config.state_dir, &config.node.root) {
        Ok(detail) => Durable { ok: true, detail },
        Err(detail) => {
            warnings.push(detail.clone());
            Durable { ok: false, detail }
        }
    };
    let uplinks = uplinks(opts, &mut warnings);
    let runs = Runs::read_only(&config.state_dir);
    let points = DataplanePoint::ALL
        .into_iter()
        .map(|p| PointStatus {
            point: p.name(),
            runs: runs.points.get(p.name()).cloned(),
        })
        .collect();
    for (name, p) in &runs.points {
        if p.last.exit_code != 0 {
            warnings.push(format!(
                "{name}'s last run failed (exit {}): {}",
                p.last.exit_code, p.last.outcome
            ));
        }
    }
    let (transactions, written, units) = journal(opts, &mut warnings);
    let files = owned_files(opts, written, &mut warnings);
    units_failed(opts, units, &mut warnings);
    Status {
        nethook: env!("CARGO_PKG_VERSION"),
        config: config.source(),
        state_dir: config.state_dir.display().to_string(),
        durable,
        uplinks,
        points,
        transactions,
        files,
        warnings,
    }
}

/// The built-in module's captures, from its state.
fn uplinks(opts: &Options, warnings: &mut Vec<String>) -> Vec<Uplink> {
    let mut host = opts.host(
        &opts.session(Mode::Plan),
        crate::names::BUILTIN_HOOK,
        DataplanePoint::BeforeIfRead.into(),
        Grants::default(),
        crate::hook::DEFAULT_TIMEOUT,
    );
    let names: Vec<String> = match host.state().get("uplinks") {
        Ok(Some(list)) => serde_json::from_str(&list).unwrap_or_default(),
        Ok(None) => Vec::new(),
        Err(e) => {
            warnings.push(format!("the built-in module's state: {e}"));
            Vec::new()
        }
    };
    names
        .into_iter()
        .map(|name| {
            let captured = host
                .state()
                .get(&format!("capture.{name}"))
                .ok()
                .flatten()
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default();
            Uplink { name, captured }
        })
        .collect()
}

/// A file written by a change not undone since: (hook, point, sha256).
type Written = BTreeMap<String, (String, HookPoint, String)>;

/// The journal's transactions; the files their changes wrote and the units
/// they touched.
fn journal(opts: &Options, warnings: &mut Vec<String>) -> (Transactions, Written, Vec<String>) {
    let mut t = Transactions {
        committed: 0,
        open: Vec::new(),
    };
    let mut written = Written::new();
    let mut units = Vec::new();
    let journal = match Journal::existing(&opts.config.state_dir) {
        Ok(Some(j)) => j,
        Ok(None) => return (t, written, units),
        Err(e) => {
            warnings.push(e.to_string());
            return (t, written, units);
        }
    };
    if journal.quarantined() > 0 {
        warnings.push(format!(
            "{} file(s) moved aside from the journal (journal/quarantine): not transactions nethook could read",
            journal.quarantined()
        ));
    }
    let logs = match journal.inspect() {
        Ok(l) => l,
        Err(e) => {
            warnings.push(e.to_string());
            return (t, written, units);
        }
    };
    for log in logs {
        let log = match log {
            Ok(l) => l,
            Err((path, why)) => {
                warnings.push(format!(
                    "{}: {why}; the next run moves it aside",
                    path.display()
                ));
                continue;
            }
        };
        let pending: Vec<_> = log
            .changes
            .iter()
            .filter(|c| !log.undone.contains(&c.seq))
            .collect();
        for c in &pending {
            match &c.change {
                Change::HostFs(HostFsChange::FileWrite { path, sha256, .. }) => {
                    written.insert(path.clone(), (c.hook.clone(), log.point, sha256.clone()));
                }
                Change::HostFs(
                    HostFsChange::FileRemove { path } | HostFsChange::FileRestore { path, .. },
                ) => {
                    written.remove(path);
                }
                Change::Systemd(
                    SystemdChange::UnitStart { unit }
                    | SystemdChange::UnitRestart { unit }
                    | SystemdChange::UnitReload { unit },
                ) if !units.contains(unit) => {
                    units.push(unit.clone());
                }
                _ => {}
            }
        }
        match log.state {
            TxnState::Committed => t.committed += 1,
            TxnState::RolledBack => {}
            TxnState::Open => {
                let recovery = pending
                    .iter()
                    .rev()
                    .flat_map(|c| match &c.inverse {
                        Inverse::Changes { changes } => {
                            changes.iter().map(ToString::to_string).collect()
                        }
                        Inverse::Nothing => Vec::new(),
                        Inverse::Irreversible { why } => {
                            vec![format!("cannot undo {}: {why}", c.change)]
                        }
                    })
                    .collect();
                warnings.push(format!(
                    "an interrupted run of {} at {} (pid {}) left {} change(s): the next run, or `nethook recover`, undoes them",
                    log.hook,
                    log.point,
                    log.pid,
                    pending.len()
                ));
                t.open.push(OpenTxn {
                    file: log.path.display().to_string(),
                    point: log.point.name(),
                    hook: log.hook.clone(),
                    pid: log.pid,
                    began: log.time.clone(),
                    this_boot: log.this_boot(),
                    changes: pending.iter().map(|c| c.change.to_string()).collect(),
                    recovery,
                });
            }
        }
    }
    (t, written, units)
}

/// Each file still nethook's, with what is on the node now.
fn owned_files(opts: &Options, written: Written, warnings: &mut Vec<String>) -> Vec<OwnedFile> {
    let globs = written
        .keys()
        .filter_map(|p| Glob::new(&glob::Pattern::escape(p)).ok())
        .collect();
    let grants = Grants {
        read_paths: globs,
        ..Grants::default()
    };
    let mut host = opts.host(
        &opts.session(Mode::Plan),
        "nethook",
        DataplanePoint::BeforeIfRead.into(),
        grants,
        crate::hook::DEFAULT_TIMEOUT,
    );
    written
        .into_iter()
        .map(|(path, (hook, point, sha256))| {
            let on_disk = host
                .host_fs()
                .read(&path)
                .ok()
                .map(|b| hex::encode(Sha256::digest(b)));
            let state = match &on_disk {
                None => "gone",
                Some(h) if *h == sha256 => "as written",
                Some(_) => "edited since",
            };
            if state != "as written" {
                warnings.push(format!(
                    "{path}, written by {hook} at {point}, is {state}: an undo leaves it as it is"
                ));
            }
            OwnedFile {
                path,
                hook,
                point: point.name(),
                sha256,
                on_disk,
                state,
            }
        })
        .collect()
}

/// Units nethook started or restarted that are failed now.
fn units_failed(opts: &Options, mut units: Vec<String>, warnings: &mut Vec<String>) {
    if let Ok(d) = crate::check::detect(opts) {
        if let Some(s) = d.service {
            let unit = s.unit().to_string();
            if !units.contains(&unit) {
                units.push(unit);
            }
        }
    }
    let mut host = opts.own(DataplanePoint::BeforeIfRead.into());
    for unit in units {
        if let Ok(state) = host.systemd().is_active(&unit) {
            if state == "failed" {
                warnings.push(format!("{unit} is failed"));
            }
        }
    }
}
