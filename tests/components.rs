//! Files that are not usable hooks are refused with a clear error before
//! anything runs; the compiled cache is used but never trusted blindly.

mod common;

use std::path::Path;

use common::*;
use sha2::{Digest, Sha256};

/// `check` and `run` on a config whose vpp-running hook is `component`.
fn refused(component: &Path, extra: &str) -> (Run, Run) {
    let scratch = Scratch::new();
    let config = scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"h\"\n[hooks.h]\ncomponent = {component:?}\n{extra}\n[hooks.h.grants]\nnetlink = \"read\"\n"
    ));
    let mut check = nethook();
    check.args(["check", "--config"]).arg(&config);
    let check = run(check);
    let mut r = nethook();
    r.args(["run", "vpp-running", "--config"]).arg(&config);
    let r = run(r);
    if r.code != EXIT_OK {
        assert!(
            !scratch.path("state").exists(),
            "a refused hook touched state"
        );
    }
    (check, r)
}

fn assert_refused(component: &Path, extra: &str, reason: &str) {
    let (check, r) = refused(component, extra);
    let want = format!("component {}: {reason}", component.display());
    assert_eq!(check.code, EXIT_COMPONENT, "{check:?}");
    assert!(
        check.stdout.contains(&format!("status: ERROR: {want}")),
        "want {want:?} in {check:?}"
    );
    assert_eq!(r.code, EXIT_COMPONENT, "{r:?}");
    assert!(
        r.stderr.contains(&format!("nethook: error: {want}")),
        "want {want:?} in {r:?}"
    );
}

#[test]
fn a_truncated_component_is_refused() {
    let scratch = Scratch::new();
    let bytes = std::fs::read(guest("inventory")).unwrap();
    let path = scratch.path("truncated.wasm");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(
        &path,
        "",
        "invalid component: failed to parse WebAssembly module",
    );
}

#[test]
fn a_random_file_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.path("random.wasm");
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, noise).unwrap();
    assert_refused(&path, "", "not a WebAssembly file (no \\0asm header)");
}

#[test]
fn a_core_module_is_refused_with_a_hint() {
    assert_refused(
        &guest_core("inventory"),
        "",
        "is a core WebAssembly module, not a component; wrap it with `nethook componentize`",
    );
}

#[test]
fn a_component_of_another_world_is_refused() {
    assert_refused(
        &guest("foreign-world"),
        "",
        "is not a nethook hook: it exports [greet] but a hook exports nethook:hooks/guest@0.1.1 (world nethook:hooks/hook@0.1.1) or nethook:hooks/event-guest@0.1.1 (world nethook:hooks/event-hook@0.1.1)",
    );
}

#[test]
fn a_component_of_an_incompatible_package_version_names_both_versions() {
    assert_refused(
        &guest("future-abi"),
        "",
        "was built against nethook:hooks@0.2.0 (nethook:hooks/guest@0.2.0), but this nethook provides nethook:hooks@0.1.1; rebuild the hook with a matching nethook-sdk",
    );
}

#[test]
fn a_hook_built_against_0_1_0_still_loads_and_runs() {
    let scratch = Scratch::new();
    let config = scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"old\"\n[hooks.old]\ncomponent = {:?}\n",
        guest("v010")
    ));
    let mut check = nethook();
    check.args(["check", "--config"]).arg(&config);
    let check = run(check);
    assert_eq!(check.code, EXIT_OK, "{check:?}");
    assert!(
        check
            .stdout
            .contains("status: ok: component targets nethook:hooks@0.1.0, sha256 "),
        "{check:?}"
    );
    let mut r = nethook();
    r.args(["run", "vpp-running", "--config"]).arg(&config);
    let r = run(r);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.stderr
            .contains("built against 0.1.0 hook=old hook=\"old\" point=\"vpp-running\""),
        "{r:?}"
    );
}

#[test]
fn an_event_hook_is_refused_at_a_dataplane_point_and_a_hook_at_an_event_point() {
    assert_refused(
        &guest("evlog"),
        "",
        "exports no nethook:hooks/guest: it is an event hook, for `nethook watch`'s event points only",
    );
    let scratch = Scratch::new();
    let inventory = guest("inventory");
    let config = scratch.config(&format!(
        "[points.link-added]\nhandler = \"wasm\"\nhook = \"inv\"\n[hooks.inv]\ncomponent = {inventory:?}\n"
    ));
    let mut check = nethook();
    check.args(["check", "--config"]).arg(&config);
    let check = run(check);
    assert_eq!(check.code, EXIT_COMPONENT, "{check:?}");
    let want = format!(
        "status: ERROR: component {}: exports no nethook:hooks/event-guest: it runs only at the dataplane's points; build it with nethook_sdk::export_event_hook!",
        inventory.display()
    );
    assert!(check.stdout.contains(&want), "want {want:?} in {check:?}");
    let mut w = nethook();
    w.args(["watch", "--config"]).arg(&config);
    let w = run(w);
    assert_eq!(w.code, EXIT_COMPONENT, "{w:?}");
    assert!(
        w.stderr.contains(
            "[points.link-added] selects hook \"inv\", which exports no nethook:hooks/event-guest"
        ),
        "{w:?}"
    );
}

#[test]
fn a_sha256_mismatch_refuses_to_run() {
    let path = guest("failing");
    let actual = hex(&Sha256::digest(std::fs::read(&path).unwrap()));
    let pin = "00".repeat(32);
    assert_refused(
        &path,
        &format!("sha256 = \"{pin}\""),
        &format!("sha256 is {actual} but [hooks.h] pins {pin}; refusing to run it"),
    );
}

#[test]
fn a_matching_sha256_pin_runs() {
    let path = guest("inventory");
    let actual = hex(&Sha256::digest(std::fs::read(&path).unwrap()));
    let (check, r) = refused(&path, &format!("sha256 = \"{actual}\""));
    assert_eq!(check.code, EXIT_OK, "{check:?}");
    assert!(
        check
            .stdout
            .contains(&format!("sha256 {actual} (matches pin)")),
        "{check:?}"
    );
    assert_eq!(r.code, EXIT_OK, "{r:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cache_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

/// The compiled store of a scratch config (`<cache_dir>/compiled`).
fn compiled(scratch: &Scratch) -> std::path::PathBuf {
    scratch.path("cache/compiled")
}

/// The inventory hook at vpp-running, with the grant it needs.
fn inventory_config(scratch: &Scratch) -> std::path::PathBuf {
    scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"inventory\"\n{}",
        hook_table(
            "inventory",
            "inventory",
            "[hooks.inventory.grants]\nnetlink = \"read\""
        )
    ))
}

fn run_inventory(config: &Path) -> Run {
    let mut cmd = nethook();
    cmd.args(["--log-format", "json", "run", "vpp-running", "--config"])
        .arg(config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    r
}

/// What a run said of the compiled store: hit, miss, and each refusal.
fn store_says(r: &Run) -> (bool, bool, Vec<String>) {
    let msgs = r.messages();
    (
        msgs.contains(&"compiled cache hit".to_string()),
        msgs.contains(&"compiled component (cache miss)".to_string()),
        msgs.iter()
            .filter_map(|m| m.strip_prefix("ignoring compiled cache entry: "))
            .map(str::to_string)
            .collect(),
    )
}

/// Inventory ran its own code: it logged what only it logs.
fn ran_inventory(r: &Run) {
    assert!(
        r.hook_messages("inventory")
            .iter()
            .any(|m| m.starts_with("inventory: ")),
        "{r:?}"
    );
}

const CHANGED: &str = "it is not the file that was stored (copied, moved or written since)";

#[test]
fn a_corrupt_or_truncated_cache_entry_is_refused_and_rebuilt() {
    let scratch = Scratch::new();
    let config = inventory_config(&scratch);
    run_inventory(&config);
    let entries = cache_entries(&compiled(&scratch));
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&entries[0], &bytes).unwrap();

    let r = run_inventory(&config);
    assert_eq!(
        store_says(&r),
        (false, true, vec![CHANGED.to_string()]),
        "{r:?}"
    );
    ran_inventory(&r);
    // Rebuilt: the next run hits again.
    let r = run_inventory(&config);
    assert_eq!(store_says(&r), (true, false, vec![]), "{r:?}");

    // Cut short, in place: refused the same way, never mapped.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&entries[0])
        .unwrap();
    f.set_len(4096).unwrap();
    drop(f);
    let r = run_inventory(&config);
    assert_eq!(
        store_says(&r),
        (false, true, vec![CHANGED.to_string()]),
        "{r:?}"
    );
    ran_inventory(&r);
}

/// Two hooks' compiled code swapped: each runs its own code, compiled
/// again; never the other's.
#[test]
fn swapped_cache_entries_never_run_the_other_hooks_code() {
    let scratch = Scratch::new();
    let config = inventory_config(&scratch);
    let other = scratch.write(
        "other.toml",
        &format!(
            "cache_dir = {:?}\nstate_dir = {:?}\n[points.vpp-running]\nhandler = \"wasm\"\nhook = \"capcaller\"\n{}",
            scratch.path("cache"),
            scratch.path("state"),
            hook_table("capcaller", "capcaller", "")
        ),
    );
    run_inventory(&config);
    run_inventory(&other);
    let entries = cache_entries(&compiled(&scratch));
    assert_eq!(entries.len(), 2, "{entries:?}");
    let swap = |a: &Path, b: &Path| {
        let tmp = a.with_extension("swap");
        std::fs::rename(a, &tmp).unwrap();
        std::fs::rename(b, a).unwrap();
        std::fs::rename(&tmp, b).unwrap();
    };
    // The artifacts alone: each binding names another file.
    swap(&entries[0], &entries[1]);
    for c in [&config, &other] {
        let r = run_inventory(c);
        assert_eq!(
            store_says(&r),
            (false, true, vec![CHANGED.to_string()]),
            "{r:?}"
        );
    }
    ran_inventory(&run_inventory(&config));
    assert!(
        !run_inventory(&other)
            .messages()
            .iter()
            .any(|m| m.starts_with("inventory: ")),
        "capcaller ran inventory's code"
    );
    // Artifacts and bindings together: each binding names the other
    // component.
    let binds: Vec<_> = entries.iter().map(|e| e.with_extension("bind")).collect();
    swap(&entries[0], &entries[1]);
    swap(&binds[0], &binds[1]);
    let r = run_inventory(&config);
    let (hit, miss, why) = store_says(&r);
    assert!(!hit && miss, "{r:?}");
    assert_eq!(why.len(), 1, "{r:?}");
    assert!(
        why[0].starts_with("it was compiled from component sha256 "),
        "{r:?}"
    );
    ran_inventory(&r);
}

#[test]
fn a_cache_entry_written_by_another_user_is_refused() {
    let scratch = Scratch::new();
    let config = inventory_config(&scratch);
    run_inventory(&config);
    let entry = cache_entries(&compiled(&scratch)).remove(0);
    nix::unistd::chown(&entry, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let r = run_inventory(&config);
    let (hit, miss, why) = store_says(&r);
    assert!(!hit && miss, "{r:?}");
    assert_eq!(
        why,
        ["it belongs to uid 65534, not to the user nethook runs as"],
        "{r:?}"
    );
    ran_inventory(&r);
}

#[test]
fn a_cache_entry_from_another_engine_is_ignored_and_rebuilt() {
    let scratch = Scratch::new();
    let config = inventory_config(&scratch);
    run_inventory(&config);
    let entry = cache_entries(&compiled(&scratch)).remove(0);
    // Code compiled by a differently configured engine under our key, with
    // a binding remade for it (what only someone able to write the store
    // could do): wasmtime's own check is the last line.
    let mut other = wasmtime::Config::new();
    other.epoch_interruption(false);
    let engine = wasmtime::Engine::new(&other).unwrap();
    let payload = wasmtime::component::Component::from_file(&engine, guest("inventory"))
        .unwrap()
        .serialize()
        .unwrap();
    std::fs::write(&entry, payload).unwrap();
    let bind = entry.with_extension("bind");
    let mut binding: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bind).unwrap()).unwrap();
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&entry).unwrap();
    let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
    binding["artifact"] = serde_json::json!({
        "dev": m.dev(), "ino": m.ino(), "size": m.size(),
        "mtime_ns": ns(m.mtime(), m.mtime_nsec()), "ctime_ns": ns(m.ctime(), m.ctime_nsec()),
    });
    std::fs::write(&bind, serde_json::to_vec(&binding).unwrap()).unwrap();

    let r = run_inventory(&config);
    let (hit, miss, why) = store_says(&r);
    assert!(!hit && miss, "{r:?}");
    assert_eq!(why.len(), 1, "{r:?}");
    assert_eq!(
        why,
        ["Module was compiled without epoch interruption but it is enabled for the host"],
        "{r:?}"
    );
}

#[test]
fn a_cache_directory_others_can_write_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let config = inventory_config(&scratch);
    run_inventory(&config);
    std::fs::set_permissions(compiled(&scratch), std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = run_inventory(&config);
    let (hit, miss, _) = store_says(&r);
    assert!(!hit && miss, "{r:?}");
    assert!(
        r.messages().iter().any(
            |m| m.starts_with("compiled cache not used: others may write ")
                && m.contains("(mode 777)")
        ),
        "{r:?}"
    );
}
