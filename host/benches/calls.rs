//! One guest→host capability call, by criterion: a guest repeats the call
//! `iters` times inside one run (`iter_custom`), so the instantiation each
//! run pays is spread over the iterations. The report bench (report.rs)
//! sets the same figures against the native call in one table.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use nethook::bindings::{Context, WitPoint};
use nethook::caps::{Audit, Caller, Grants, Host, Mode, Node, Session};
use nethook::hook::HookConfig;
use nethook::wasm::Runtime;
use nethook::HookPoint;

fn guest() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests/benchguest.wasm");
    assert!(
        p.exists(),
        "{} missing: run scripts/build-guests.sh",
        p.display()
    );
    p
}

fn calls(c: &mut Criterion) {
    let scratch = tempfile::tempdir().unwrap();
    let rt = Runtime::new(&scratch.path().join("cache")).unwrap();
    let grants = Grants {
        netlink: nethook::caps::grants::NetlinkAccess::Read,
        links: vec![nethook::caps::grants::Glob::new("lo").unwrap()],
        ..Grants::default()
    };
    for op in ["log", "state-get", "link-get"] {
        c.bench_function(&format!("guest call: {op}"), |b| {
            b.iter_custom(|iters| {
                let hook = HookConfig {
                    name: "bench".into(),
                    component: guest(),
                    source: nethook::hook::HookSource::File(guest()),
                    verify_key: None,
                    fetched: None,
                    sha256: None,
                    timeout: Duration::from_secs(600),
                    memory: 256 << 20,
                    config: vec![
                        ("op".into(), op.into()),
                        ("n".into(), iters.to_string()),
                        ("dev".into(), "lo".into()),
                    ],
                    grants: grants.clone(),
                    on_failure: None,
                };
                let loaded = rt.load(&hook).unwrap();
                let session = Session {
                    state_dir: scratch.path().join("state"),
                    node: Node {
                        root: scratch.path().to_path_buf(),
                        exec: nethook::caps::exec::ExecMode::Chroot,
                        command_timeout: Duration::from_secs(60),
                    },
                    mode: Mode::Apply,
                    audit: Audit::default(),
                    effects: Default::default(),
                    txn: None,
                };
                let mut host = Host::new(
                    Caller {
                        hook: "bench".into(),
                        point: HookPoint::Dataplane(nethook::DataplanePoint::VppRunning),
                    },
                    grants.clone(),
                    session,
                );
                host.set_log_budget(u64::MAX);
                let ctx = Context {
                    point: WitPoint::VppRunning,
                    hook: "bench".into(),
                    uplinks: vec![],
                    config: hook.config.clone(),
                };
                let started = Instant::now();
                rt.run(&hook, &loaded, host, ctx).unwrap();
                started.elapsed()
            })
        });
    }
}

criterion_group!(benches, calls);
criterion_main!(benches);
