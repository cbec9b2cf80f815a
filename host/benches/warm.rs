//! What one more run of an already loaded hook costs, in process: the
//! per-event cost of `nethook watch`, which loads its hooks once (engine,
//! linker, compiled code) and makes a store, its WASI context and an
//! instance per event. Each hook at a point where it returns at once, so
//! the figure is the run's cost apart from its work. Run by
//! scripts/bench.sh; prints `name<TAB>median ns<TAB>p90 ns` per hook.
//!
//!   cargo bench -p nethook --bench warm -- GUESTS_DIR NAME...

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nethook::bindings::{Context, Uplink, WitPoint};
use nethook::caps::{Audit, Caller, Grants, Host, Mode, Node, Session};
use nethook::hook::HookConfig;
use nethook::wasm::Runtime;
use nethook::HookPoint;

const RUNS: usize = 30;
const WARMUP: usize = 3;

fn host(scratch: &Path) -> Host {
    let session = Session {
        state_dir: scratch.join("state"),
        node: Node {
            root: scratch.join("host"),
            exec: nethook::caps::exec::ExecMode::Chroot,
            command_timeout: Duration::from_secs(60),
        },
        mode: Mode::Apply,
        audit: Audit::default(),
        effects: Default::default(),
        txn: None,
    };
    let caller = Caller {
        hook: "h".into(),
        point: HookPoint::Dataplane(nethook::DataplanePoint::BeforeIfRead),
    };
    Host::new(caller, Grants::default(), session)
}

fn main() {
    // `cargo bench` passes --bench; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (dir, names) = args.split_first().expect("usage: warm GUESTS_DIR NAME...");
    let scratch = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(scratch.path().join("host")).unwrap();
    let rt = Runtime::new(&scratch.path().join("cache")).unwrap();
    for name in names {
        let component = PathBuf::from(dir).join(format!("{name}.wasm"));
        let hook = HookConfig {
            name: "h".into(),
            component: component.clone(),
            source: nethook::hook::HookSource::File(component),
            verify_key: None,
            fetched: None,
            sha256: None,
            timeout: Duration::from_secs(60),
            memory: 1 << 30,
            config: vec![],
            grants: Grants::default(),
            on_failure: None,
        };
        let loaded = rt.load(&hook).unwrap();
        let mut times = Vec::new();
        for i in 0..WARMUP + RUNS {
            let context = Context {
                point: WitPoint::BeforeIfRead,
                hook: "h".into(),
                uplinks: vec![Uplink {
                    name: "uplink0".into(),
                    mac: String::new(),
                }],
                config: vec![],
            };
            let started = Instant::now();
            rt.run(&hook, &loaded, host(scratch.path()), context)
                .unwrap();
            if i >= WARMUP {
                times.push(started.elapsed());
            }
        }
        times.sort();
        let (median, p90) = (times[times.len() / 2], times[times.len() * 9 / 10]);
        println!("{name}\t{}\t{}", median.as_nanos(), p90.as_nanos());
    }
}
