//! The set-up itself: scripts/setup.sh finds every command the suites call
//! and names the one that is missing; scripts/requirements.txt lists every
//! command the suites and scripts run; scripts/tree-state.sh catches a run
//! that changes the repository's files.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The commands of scripts/requirements.txt, with their packages.
fn requirements() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("scripts/requirements.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 3, "requirements.txt: {l:?}");
            (cols[0].to_string(), cols[1].to_string())
        })
        .collect()
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

/// A PATH holding every required command but `without` (and what the
/// script itself runs), as symlinks in a directory of its own.
fn path_without(dir: &Path, without: &str) -> String {
    let own = [
        "bash", "awk", "sed", "grep", "wc", "sort", "cat", "env", "dirname", "python3", "pip",
    ];
    let mut names: BTreeSet<String> = requirements().into_iter().map(|(c, _)| c).collect();
    names.extend(own.iter().map(|s| s.to_string()));
    for name in names.iter().filter(|n| *n != without) {
        let found = which(name).unwrap_or_else(|| panic!("{name} is not installed here"));
        symlink(found, dir.join(name)).unwrap();
    }
    dir.display().to_string()
}

fn setup_check(path: &str, groups: &[&str]) -> (i32, String) {
    let out = Command::new("/bin/bash")
        .arg(repo().join("scripts/setup.sh"))
        .arg("--check")
        .args(groups)
        .env("PATH", path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_required_command_is_found_here() {
    let (code, stderr) = setup_check(&std::env::var("PATH").unwrap(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let n = requirements().len();
    assert!(
        stderr.contains(&format!("all {n} commands found")),
        "{stderr}"
    );
}

#[test]
fn a_missing_command_is_named_with_its_package() {
    // What broke CI on a new machine: qemu-utils removed by apt when
    // qemu-system-x86 was installed, so qemu-img was gone.
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(dir.path(), "qemu-img");
    let (code, stderr) = setup_check(&path, &["vm"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.trim(),
        "setup: command not found: qemu-img (Debian package qemu-utils)"
    );
    // A group that does not need it does not fail for it.
    let (code, stderr) = setup_check(&path, &["nodes"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_missing_command_from_pypi_is_named_with_its_pinned_package() {
    let (_, pkg) = requirements()
        .into_iter()
        .find(|(c, _)| c == "kubernetes-validate")
        .unwrap();
    // Pinned to one exact version.
    let version = pkg
        .strip_prefix("pip:kubernetes-validate==")
        .unwrap_or_else(|| panic!("not an exact pin: {pkg}"));
    assert_eq!(version.split('.').count(), 3, "{pkg}");
    assert!(
        version.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{pkg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = path_without(dir.path(), "kubernetes-validate");
    let (code, stderr) = setup_check(&path, &["deploy"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!("setup: command not found: kubernetes-validate (PyPI package kubernetes-validate=={version})")
    );
}

#[test]
fn an_unknown_group_is_an_error() {
    let (code, stderr) = setup_check(&std::env::var("PATH").unwrap(), &["nosuch"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no requirement"), "{stderr}");
}

/// Each program the suites and scripts start by name is in the list, so a
/// new one cannot be added without its package.
#[test]
fn the_list_names_every_command_the_suites_run() {
    let listed: BTreeSet<String> = requirements().into_iter().map(|(c, _)| c).collect();
    // Started by the test process or inside a namespace (`ip netns exec X`).
    let builtins_or_node_side = [
        // Run inside the node roots and VMs, not on the host.
        "systemctl",
        "journalctl",
        "networkctl",
        "nmcli",
        "udevadm",
        "busctl",
        // Shells and the test binaries themselves.
        "bash",
        "/bin/bash",
        "sh",
        "cp",
        "true",
    ];
    let mut used = BTreeSet::new();
    let mut sources = vec![];
    for dir in ["tests", "tests/vm", "tests/vm/standin", "tests/common"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            // Not this file: its patterns would match themselves.
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("setup.rs") {
                sources.push(path);
            }
        }
    }
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        for (i, _) in text.match_indices("Command::new(\"") {
            let rest = &text[i + "Command::new(\"".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            used.insert(name.to_string());
        }
        // The VM bed's `sh(&["qemu-img", ...])` (not a node's `node.sh`).
        for (i, _) in text.match_indices("sh(&[") {
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c == '.' || c == '_' || c.is_alphanumeric()) {
                continue;
            }
            let rest = text[i + "sh(&[".len()..].trim_start();
            if let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                used.insert(name.to_string());
            }
        }
        for (i, _) in text.match_indices("\"netns\", \"exec\", ") {
            let rest = &text[i + "\"netns\", \"exec\", ".len()..];
            // The namespace, then the program.
            if let Some(prog) = rest.split(", ").nth(1) {
                if let Some(name) = prog.strip_prefix('"').and_then(|p| p.split('"').next()) {
                    used.insert(name.to_string());
                }
            }
        }
    }
    for seen in [
        "qemu-img",
        "strip",
        "dnsmasq",
        "ping",
        "ip",
        "systemd-nspawn",
    ] {
        assert!(
            used.contains(seen),
            "{seen} not found in the sources: {used:?}"
        );
    }
    let unlisted: Vec<&String> = used
        .iter()
        .filter(|c| !listed.contains(*c) && !builtins_or_node_side.contains(&c.as_str()))
        .filter(|c| !c.starts_with('/'))
        .collect();
    assert!(
        unlisted.is_empty(),
        "commands the suites run that scripts/requirements.txt does not list: {unlisted:?}"
    );
}

fn tree_state(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(repo().join("scripts/tree-state.sh"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn tree_state_fails_naming_a_tracked_file_the_run_changed() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(dir.join("a.txt"), "one\n").unwrap();
    std::fs::write(dir.join("b.txt"), "two\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "init"]);
    // An edit made before the run is the developer's, not the run's.
    std::fs::write(dir.join("b.txt"), "two, edited\n").unwrap();
    std::fs::create_dir(dir.join("target")).unwrap();
    let saved = dir.join("target/state");
    let saved = saved.to_str().unwrap();
    assert_eq!(tree_state(dir, &["save", saved]).0, 0);

    // A run that writes only ignored files passes.
    std::fs::write(dir.join("target/out"), "x").unwrap();
    let (code, stderr) = tree_state(dir, &["compare", saved]);
    assert_eq!((code, stderr.as_str()), (0, ""));

    // A run that changes a tracked file fails, naming it.
    std::fs::write(dir.join("a.txt"), "changed\n").unwrap();
    let (code, stderr) = tree_state(dir, &["compare", saved]);
    assert_eq!(code, 1);
    assert!(stderr.contains(" M a.txt"), "{stderr}");
    std::fs::write(dir.join("a.txt"), "one\n").unwrap();

    // ...or a file that was already edited...
    std::fs::write(dir.join("b.txt"), "two, edited again\n").unwrap();
    let (code, stderr) = tree_state(dir, &["compare", saved]);
    assert_eq!(code, 1);
    assert!(stderr.contains("b.txt"), "{stderr}");
    std::fs::write(dir.join("b.txt"), "two, edited\n").unwrap();

    // ...or leaves a file git would pick up.
    std::fs::write(dir.join("new.pyc"), "x").unwrap();
    let (code, stderr) = tree_state(dir, &["compare", saved]);
    assert_eq!(code, 1);
    assert!(stderr.contains("?? new.pyc"), "{stderr}");
    std::fs::remove_file(dir.join("new.pyc")).unwrap();

    assert_eq!(tree_state(dir, &["compare", saved]).0, 0);
}
