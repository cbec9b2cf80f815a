//! `nethook test`: one hook, one point, on a throwaway node. The process
//! moves into a network namespace of its own with an uplink (as `demo`
//! does), the host root is a temporary copy of a fixture (or demo's
//! NetworkManager-looking root), the point runs in plan mode and then for
//! real, and the report is the plan, the effects made and what changed in
//! the host root and the namespace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::point::DataplanePoint;
use crate::run::{self, Outcome};

/// One file that differs between before and after.
#[derive(Debug, Serialize)]
pub struct FileChange {
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// Text lines removed and added (for text files).
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

/// One `ip -j` view of the namespace, before and after, when they differ.
#[derive(Debug, Serialize)]
pub struct NetChange {
    pub view: &'static str,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

pub struct Report {
    pub plan: Outcome,
    pub applied: Outcome,
    pub files: Vec<FileChange>,
    pub netns: Vec<NetChange>,
    /// The throwaway node's directory (host root and state) when the user
    /// asked to keep it; otherwise it is removed with the report.
    pub kept: Option<PathBuf>,
    pub host_root: PathBuf,
    _scratch: Option<tempfile::TempDir>,
}

const VIEWS: [(&str, &[&str]); 4] = [
    ("link", &["-j", "link", "show"]),
    ("address", &["-j", "address", "show"]),
    ("route", &["-j", "route", "show", "table", "all"]),
    ("rule", &["-j", "rule", "show"]),
];

/// Runs the test; with `keep`, the throwaway node's files outlive the
/// process (the report names them), otherwise they go with the report.
pub fn test(
    mut opts: Options,
    point: DataplanePoint,
    fixture: Option<&Path>,
    keep: bool,
) -> Result<Report> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::Other(format!(
            "nethook test needs root (CAP_SYS_ADMIN) for its throwaway network namespace: unshare: {e}"
        ))
    })?;
    // No duplicate address detection and no link-local addresses: the
    // namespace's before and after differ only by what the hook did.
    for (key, value) in [("accept_dad", "0"), ("addr_gen_mode", "1")] {
        for scope in ["all", "default"] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{scope}/{key}"), value);
        }
    }
    let index = crate::demo::build_uplink()
        .map_err(|e| Error::Other(format!("nethook test: creating the uplink: {e}")))?;
    let scratch = tempfile::Builder::new()
        .prefix("nethook-test.")
        .tempdir()
        .map_err(|e| Error::Other(format!("nethook test: temporary directory: {e}")))?;
    let root = scratch.path().join("host");
    opts.config.state_dir = scratch.path().join("state");
    // The config's compiled cache is kept: what `check` compiled, `test`
    // does not compile again (a Python component takes seconds).
    opts.config.node.root = root.clone();
    opts.config.node.exec = crate::caps::exec::ExecMode::Chroot;
    match fixture {
        Some(f) => copy_tree(f, &root).map_err(|e| {
            Error::Other(format!(
                "nethook test: copying the fixture {}: {e}",
                f.display()
            ))
        })?,
        None => crate::demo::seed_host_root(&root, index)
            .map_err(|e| Error::Other(format!("nethook test: host root: {e}")))?,
    }
    if opts.uplinks.is_empty() {
        opts.uplinks = vec![crate::names::IfName::parse(crate::demo::UPLINK).expect("valid")];
    }
    let files_before = snapshot(&root);
    let net_before = net_views();
    opts.mode = crate::caps::Mode::Plan;
    let plan = run::run_point(&opts, point)?;
    opts.mode = crate::caps::Mode::Apply;
    let applied = run::run_point(&opts, point)?;
    let files = diff_files(&files_before, &snapshot(&root));
    let after = net_views();
    let netns = VIEWS
        .iter()
        .zip(net_before.iter().zip(after.iter()))
        .filter_map(|((view, _), (b, a))| {
            let (removed, added) = diff_lines(b, a);
            (!removed.is_empty() || !added.is_empty()).then_some(NetChange {
                view,
                removed,
                added,
            })
        })
        .collect();
    let (kept, scratch) = if keep {
        (Some(scratch.keep()), None)
    } else {
        (None, Some(scratch))
    };
    Ok(Report {
        plan,
        applied,
        files,
        netns,
        kept,
        host_root: root,
        _scratch: scratch,
    })
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Every regular file under `root`, by path relative to it.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => {
                    let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                    out.insert(format!("/{rel}"), std::fs::read(&p).unwrap_or_default());
                }
                _ => {}
            }
        }
    }
    out
}

fn text_lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Lines only in `before` and only in `after`, each in its order.
fn diff_lines(before: &[String], after: &[String]) -> (Vec<String>, Vec<String>) {
    let removed = before
        .iter()
        .filter(|l| !after.contains(l))
        .cloned()
        .collect();
    let added = after
        .iter()
        .filter(|l| !before.contains(l))
        .cloned()
        .collect();
    (removed, added)
}

fn diff_files(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> Vec<FileChange> {
    let mut out = Vec::new();
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for path in paths {
        let (b, a) = (before.get(path), after.get(path));
        let (change, removed, added) = match (b, a) {
            (None, Some(a)) => ("added", Vec::new(), text_lines(a)),
            (Some(b), None) => ("removed", text_lines(b), Vec::new()),
            (Some(b), Some(a)) if a != b => {
                let (r, ad) = diff_lines(&text_lines(b), &text_lines(a));
                ("changed", r, ad)
            }
            _ => continue,
        };
        out.push(FileChange {
            path: path.clone(),
            change,
            removed,
            added,
        });
    }
    out
}

/// `ip -j` of each view, one JSON object a line (an empty list if ip fails).
fn net_views() -> Vec<Vec<String>> {
    VIEWS
        .iter()
        .map(|(_, args)| {
            let out = Command::new("ip").args(*args).output();
            let text = out
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                Ok(items) => items.iter().map(|v| v.to_string()).collect(),
                Err(_) => Vec::new(),
            }
        })
        .collect()
}
